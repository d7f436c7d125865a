//! `PluginTree`: the plugin dependency graph, built before loading.

use std::collections::HashMap;
use std::fmt::{Debug, Display};

use thiserror::Error;

mod cycles;
mod index;

pub(crate) use self::index::{FunctionIndex, InterfaceIndex, PluginIndex};

use crate::spec::interface::InterfaceName;
use crate::{FunctionData, InterfaceCardinality, InterfaceData, PluginData, ReturnKind};

/// A boxed error from a user's metadata accessor.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error found while building a [`PluginTree`]: something wrong whatever
/// loads.
///
/// Each names the plugin or interface involved. The plugin it concerns is left
/// out of the tree; everything else is kept. Problems that depend on what
/// loads (cardinality, and with it sockets that cannot be served) and those
/// found only for plugins the load reaches (a socket to an undefined
/// interface, a dependency cycle) are [`LoadError`](crate::LoadError)s of
/// [`PluginTree::load`].
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PluginTreeError<PluginId, InterfaceId> {
    /// An [`InterfaceData`] accessor failed. `interface` is `None` when the id
    /// itself could not be read; `position` is the interface's index in the
    /// input.
    #[error("interface {} (input #{position}): cannot read its {accessor}", fmt_opt(.interface.as_ref()))]
    InterfaceMetadata {
        /// The interface id, when it could be read.
        interface: Option<InterfaceId>,
        /// The interface's position in the input.
        position: usize,
        /// The accessor that failed (`id`, `cardinality`, ...).
        accessor: &'static str,
        /// The user's error.
        #[source]
        source: BoxError,
    },
    /// A [`PluginData`] accessor failed. The plugin is dropped.
    #[error("plugin {} (input #{position}): cannot read its {accessor}", fmt_opt(.plugin.as_ref()))]
    PluginMetadata {
        /// The plugin id, when it could be read.
        plugin: Option<PluginId>,
        /// The plugin's position in the input.
        position: usize,
        /// The accessor that failed (`id`, `plug`, `sockets`).
        accessor: &'static str,
        /// The user's error.
        #[source]
        source: BoxError,
    },
    /// An interface's `package_name` is not `ns:pkg[/iface][@version]`.
    #[error("interface `{interface}` has an invalid package name `{package_name}`")]
    InvalidPackageName {
        /// The interface.
        interface: InterfaceId,
        /// The name given.
        package_name: String,
    },
    /// Two interfaces share an id; the later one is dropped.
    #[error("interface `{interface}` is defined twice")]
    DuplicateInterface {
        /// The repeated id.
        interface: InterfaceId,
    },
    /// Two plugins share an id; the later one is dropped.
    #[error("plugin `{plugin}` is defined twice")]
    DuplicatePlugin {
        /// The repeated id.
        plugin: PluginId,
    },
    /// The root interface given to [`PluginTree::new`] is not among the
    /// interfaces.
    #[error("the root interface `{interface}` is not defined")]
    MissingRootInterface {
        /// The root interface id.
        interface: InterfaceId,
    },
    /// A plugin's plug names an interface that is not defined.
    #[error("plugin `{plugin}` plugs into interface `{interface}`, which is not defined")]
    UnknownPlug {
        /// The plugin, dropped.
        plugin: PluginId,
        /// The unknown interface.
        interface: InterfaceId,
    },
}

impl<PluginId: Debug + Display, InterfaceId: Debug + Display> PluginTreeError<PluginId, InterfaceId> {
    /// The plugin the error concerns (and that was left out of the tree);
    /// `None` for errors about an interface.
    pub fn plugin(&self) -> Option<&PluginId> {
        match self {
            Self::PluginMetadata { plugin, .. } => plugin.as_ref(),
            Self::DuplicatePlugin { plugin } | Self::UnknownPlug { plugin, .. } => Some(plugin),
            Self::InterfaceMetadata { .. }
            | Self::InvalidPackageName { .. }
            | Self::DuplicateInterface { .. }
            | Self::MissingRootInterface { .. } => None,
        }
    }
}

pub(crate) fn fmt_opt<T: Display>(value: Option<&T>) -> String {
    value.map_or_else(|| "<unknown id>".to_owned(), |v| format!("`{v}`"))
}

pub(crate) fn fmt_list<T: Display>(items: &[T]) -> String {
    items.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ")
}

/// Metadata of one function, read once at build time.
#[derive(Clone, Debug)]
pub(crate) struct FunctionMeta {
    pub(crate) name: String,
    pub(crate) return_kind: ReturnKind,
    pub(crate) is_method: bool,
}

/// What the runtime keeps of an interface's metadata once read: all a
/// loaded tree needs to link and judge plugins, without the user's type.
pub(crate) struct InterfaceSpec<Id> {
    pub(crate) id: Id,
    pub(crate) cardinality: InterfaceCardinality,
    pub(crate) name: InterfaceName,
    pub(crate) functions: Vec<FunctionMeta>,
    pub(crate) resources: Vec<String>,
}

pub(crate) struct InterfaceNode<I: InterfaceData> {
    pub(crate) spec: InterfaceSpec<I::Id>,
    /// Indices into `PluginTree::plugins`, sorted by plugin id.
    pub(crate) implementers: Vec<PluginIndex>,
    #[allow(dead_code, reason = "kept so the user's metadata lives as long as the tree")]
    pub(crate) data: I,
}

impl<I: InterfaceData> std::ops::Deref for InterfaceNode<I> {
    type Target = InterfaceSpec<I::Id>;
    fn deref(&self) -> &Self::Target {
        &self.spec
    }
}

/// Why a plugin cannot load whatever its component holds. Found while
/// building the tree, reported by [`PluginTree::load`] when the load reaches
/// the plugin.
pub(crate) enum Defect<P: PluginData> {
    /// The first of its sockets that names an undefined interface.
    UnknownSocket(P::InterfaceId),
    /// The plugin depends on itself: through its socket `interface`, along
    /// `cycle`, which starts at the plugin.
    Cycle { interface: InterfaceIndex, cycle: Vec<P::Id> },
}

pub(crate) struct PluginNode<P: PluginData> {
    pub(crate) id: P::Id,
    pub(crate) plug: InterfaceIndex,
    /// Its sockets that name defined interfaces, without repeats.
    pub(crate) sockets: Vec<InterfaceIndex>,
    /// Set when the plugin cannot load; its load fails without compiling it.
    pub(crate) defect: Option<Defect<P>>,
    pub(crate) data: P,
}

/// An unloaded plugin dependency tree.
///
/// Built by [`PluginTree::new`] from interface and plugin metadata, then
/// turned into running plugins by [`PluginTree::load`]. Building rejects only
/// what is wrong whatever loads (unreadable metadata, duplicate ids, a plug
/// into an undefined interface); sockets to undefined interfaces, dependency
/// cycles and cardinality are judged by `load`, over the plugins that loaded.
pub struct PluginTree<I: InterfaceData, P: PluginData<InterfaceId = I::Id>> {
    pub(crate) root_id: I::Id,
    pub(crate) root: Option<InterfaceIndex>,
    pub(crate) interfaces: Vec<InterfaceNode<I>>,
    pub(crate) plugins: Vec<PluginNode<P>>,
}

/// The error type of [`PluginTree::new`] for given metadata types.
pub(crate) type TreeError<I, P> = PluginTreeError<<P as PluginData>::Id, <I as InterfaceData>::Id>;

impl<I, P> PluginTree<I, P>
where
    I: InterfaceData,
    P: PluginData<InterfaceId = I::Id>,
{
    /// Builds the dependency tree rooted at the interface `root`.
    ///
    /// Reads every metadata accessor, once, and groups plugins by plug. What
    /// is wrong whatever loads is returned as a [`PluginTreeError`]: a
    /// failing accessor, an invalid package name, a duplicate id, a plug into
    /// an undefined interface, an undefined root. The plugin it concerns is
    /// left out; the rest is kept.
    ///
    /// Nothing else is an error here. Since some plugins may fail to load,
    /// cardinality is judged by [`load`](Self::load) over the plugins that
    /// managed to load; a socket naming an undefined interface and a
    /// dependency cycle are also reported by `load`
    /// ([`LoadError::UnknownSocket`](crate::LoadError::UnknownSocket),
    /// [`LoadError::DependencyCycle`](crate::LoadError::DependencyCycle)),
    /// for the plugins the load reaches. Such plugins stay in the tree.
    pub fn new(
        root: I::Id,
        interfaces: impl IntoIterator<Item = I>,
        plugins: impl IntoIterator<Item = P>,
    ) -> crate::PartialSuccess<Self, TreeError<I, P>> {
        let mut errors = Vec::new();
        let interfaces = collect_interfaces(interfaces, &mut errors);
        let by_id: HashMap<I::Id, InterfaceIndex> =
            interfaces.iter().enumerate().map(|(index, node)| (node.id.clone(), InterfaceIndex(index))).collect();
        let plugins = collect_plugins::<I, P>(plugins, &by_id, &mut errors);
        let root_index = by_id.get(&root).copied();
        if root_index.is_none() {
            errors.push(PluginTreeError::MissingRootInterface { interface: root.clone() });
        }
        let mut tree = Self { root_id: root, root: root_index, interfaces, plugins };
        tree.mark_cycles();
        tree.record_implementers();
        (tree, errors)
    }

    /// Builds the tree from interfaces already paired with their plugins
    /// (wasm-link 0.1.0's constructor of this name), keyed by interface id.
    ///
    /// The same as [`new`](Self::new) over the map's interfaces and plugins:
    /// a plugin joins the interface its [`plug`](PluginData::plug) names,
    /// whichever entry it came in. What `new` would return as errors is
    /// logged instead (a `tracing` warning each) and the plugins concerned
    /// are left out; a root missing from the map is
    /// [`LoadError::MissingRootInterface`](crate::LoadError::MissingRootInterface)
    /// from [`load`](Self::load). Use `new` to handle the errors.
    pub fn from_socket_map(root: I::Id, socket_map: HashMap<I::Id, (I, Vec<P>)>) -> Self {
        let (interfaces, plugins): (Vec<I>, Vec<Vec<P>>) = socket_map.into_values().unzip();
        let (tree, errors) = Self::new(root, interfaces, plugins.into_iter().flatten());
        for error in &errors {
            tracing::warn!(error = %crate::error_chain(error), "plugin tree built from a socket map");
        }
        tree
    }

    /// The id of the root interface.
    pub fn root_interface(&self) -> &I::Id {
        &self.root_id
    }

    /// The ids of the plugins in the tree (all but those a [`PluginTreeError`]
    /// left out), in input order.
    pub fn plugin_ids(&self) -> impl Iterator<Item = &P::Id> {
        self.plugins.iter().map(|plugin| &plugin.id)
    }

    /// Marks every plugin that lies on a dependency cycle (and has no other
    /// defect), for `load` to report.
    fn mark_cycles(&mut self) {
        // A graph of plugins and interfaces: a plugin leads to the interfaces
        // it sockets, an interface to the plugins that plug into it. Its size
        // is the number of sockets and plugins, however many plugins share
        // an interface (plugin to plugin edges would be their product).
        let count = self.plugins.len();
        let mut edges: Vec<Vec<cycles::Edge>> = self
            .plugins
            .iter()
            .map(|plugin| plugin.sockets.iter().map(|&socket| (count + socket.0, socket.0)).collect())
            .collect();
        edges.resize_with(count + self.interfaces.len(), Vec::new);
        for (index, plugin) in self.plugins.iter().enumerate() {
            edges[count + plugin.plug.0].push((index, plugin.plug.0));
        }
        for cycles::OnCycle { node: plugin, label: interface, cycle } in cycles::find(&edges) {
            if plugin >= count {
                continue;
            }
            let cycle = cycle.iter().filter(|&&p| p < count).map(|&p| self.plugins[p].id.clone()).collect();
            let node = &mut self.plugins[plugin];
            if node.defect.is_none() {
                node.defect = Some(Defect::Cycle { interface: InterfaceIndex(interface), cycle });
            }
        }
    }

    /// Records each interface's implementers, sorted by plugin id.
    fn record_implementers(&mut self) {
        for (index, plugin) in self.plugins.iter().enumerate() {
            self.interfaces[plugin.plug].implementers.push(PluginIndex(index));
        }
        let plugins = &self.plugins;
        for interface in &mut self.interfaces {
            interface.implementers.sort_by(|&a, &b| plugins[a].id.cmp(&plugins[b].id));
        }
    }
}

fn collect_interfaces<I: InterfaceData, PId: Debug + Display>(
    interfaces: impl IntoIterator<Item = I>,
    errors: &mut Vec<PluginTreeError<PId, I::Id>>,
) -> Vec<InterfaceNode<I>> {
    let mut nodes: Vec<InterfaceNode<I>> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (position, data) in interfaces.into_iter().enumerate() {
        let fail = |interface: Option<&I::Id>, accessor, source: I::Error| PluginTreeError::InterfaceMetadata {
            interface: interface.cloned(),
            position,
            accessor,
            source: Box::new(source),
        };
        let id = match data.id() {
            Ok(id) => id.clone(),
            Err(e) => {
                errors.push(fail(None, "id", e));
                continue;
            }
        };
        if seen.contains(&id) {
            errors.push(PluginTreeError::DuplicateInterface { interface: id });
            continue;
        }
        let read = || -> Result<_, PluginTreeError<PId, I::Id>> {
            let cardinality = *data.cardinality().map_err(|e| fail(Some(&id), "cardinality", e))?;
            let package_name = data.package_name().map_err(|e| fail(Some(&id), "package name", e))?;
            let name = InterfaceName::parse(package_name).ok_or_else(|| PluginTreeError::InvalidPackageName {
                interface: id.clone(),
                package_name: package_name.to_owned(),
            })?;
            let functions = data
                .functions()
                .map_err(|e| fail(Some(&id), "functions", e))?
                .into_iter()
                .map(|f| FunctionMeta {
                    name: f.name().to_owned(),
                    return_kind: f.return_kind(),
                    is_method: f.is_method(),
                })
                .collect();
            let resources =
                data.resources().map_err(|e| fail(Some(&id), "resources", e))?.into_iter().cloned().collect();
            Ok((cardinality, name, functions, resources))
        };
        match read() {
            Ok((cardinality, name, functions, resources)) => {
                seen.insert(id.clone());
                nodes.push(InterfaceNode {
                    spec: InterfaceSpec { id, cardinality, name, functions, resources },
                    implementers: Vec::new(),
                    data,
                });
            }
            Err(error) => errors.push(error),
        }
    }
    nodes
}

fn collect_plugins<I, P>(
    plugins: impl IntoIterator<Item = P>,
    interfaces: &HashMap<I::Id, InterfaceIndex>,
    errors: &mut Vec<TreeError<I, P>>,
) -> Vec<PluginNode<P>>
where
    I: InterfaceData,
    P: PluginData<InterfaceId = I::Id>,
{
    let mut nodes: Vec<PluginNode<P>> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (position, data) in plugins.into_iter().enumerate() {
        let fail = |plugin: Option<&P::Id>, accessor, source: P::Error| PluginTreeError::PluginMetadata {
            plugin: plugin.cloned(),
            position,
            accessor,
            source: Box::new(source),
        };
        let id = match data.id() {
            Ok(id) => id.clone(),
            Err(e) => {
                errors.push(fail(None, "id", e));
                continue;
            }
        };
        if seen.contains(&id) {
            errors.push(PluginTreeError::DuplicatePlugin { plugin: id });
            continue;
        }
        let plug = match data.plug() {
            Ok(plug) => plug.clone(),
            Err(e) => {
                errors.push(fail(Some(&id), "plug", e));
                continue;
            }
        };
        let Some(&plug_index) = interfaces.get(&plug) else {
            errors.push(PluginTreeError::UnknownPlug { plugin: id, interface: plug });
            continue;
        };
        let socket_ids: Vec<I::Id> = match data.sockets() {
            Ok(sockets) => sockets.into_iter().cloned().collect(),
            Err(e) => {
                errors.push(fail(Some(&id), "sockets", e));
                continue;
            }
        };
        let mut sockets = Vec::with_capacity(socket_ids.len());
        let mut defect = None;
        for socket in socket_ids {
            match interfaces.get(&socket) {
                Some(&index) if !sockets.contains(&index) => sockets.push(index),
                Some(_) => {}
                None => {
                    // Not an error here: the plugin may never be reached.
                    defect.get_or_insert(Defect::UnknownSocket(socket));
                }
            }
        }
        seen.insert(id.clone());
        nodes.push(PluginNode { id, plug: plug_index, sockets, defect, data });
    }
    nodes
}
