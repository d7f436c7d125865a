//! `PluginTree::load`: compile, link and instantiate plugins bottom-up.

use std::fmt::{Debug, Display};
use std::sync::{Arc, OnceLock};

use thiserror::Error;
use wasmtime::Engine;
use wasmtime::component::types::{ComponentFunc, ComponentItem};
use wasmtime::component::{Linker, Val};

use crate::graph::{Defect, InterfaceNode, PluginNode, fmt_list};
use crate::head::PluginTreeHead;
use crate::instance::ctx::PluginCtx;
use crate::instance::{PlugExports, PluginSlot, Site};
use crate::shape::root::RootPlugins;
use crate::shape::{self, Shape};
use crate::socket::resources::ResourceKinds;
use crate::socket::{self, Adapter};
use crate::types::{self, ResourceNames};
use crate::wasm_error::WasmError;
use crate::{InterfaceCardinality, InterfaceData, PartialResult, PluginData, PluginTree, ReturnKind};

/// Why a plugin (or the root interface) could not be loaded.
///
/// Each names the plugin and the interface involved. A plugin that fails is
/// dropped; the rest of the tree loads without it.
#[derive(Debug, Clone, Error)]
#[non_exhaustive]
pub enum LoadError<PluginId: Debug + Display + 'static, InterfaceId: Debug + Display + 'static> {
    /// The root interface was not among the interfaces given to
    /// [`PluginTree::new`].
    #[error("the root interface `{interface}` is not defined")]
    MissingRootInterface {
        /// The root interface id.
        interface: InterfaceId,
    },
    /// [`PluginData::component`] failed: unreadable or invalid component bytes.
    #[error("plugin `{plugin}`: cannot get its component")]
    Component {
        /// The plugin.
        plugin: PluginId,
        /// The user's error.
        #[source]
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
    /// The component does not export its plug interface, or a function of it.
    #[error("plugin `{plugin}` does not export `{export}` of its plug `{interface}`")]
    MissingExport {
        /// The plugin.
        plugin: PluginId,
        /// The plug interface.
        interface: InterfaceId,
        /// The missing instance or function name.
        export: String,
    },
    /// An exported function does not match what the interface declares (for
    /// example a result where the interface says `ReturnKind::Void`).
    #[error("plugin `{plugin}`: `{function}` of `{interface}` does not match the interface: {reason}")]
    SignatureMismatch {
        /// The plugin.
        plugin: PluginId,
        /// The plug interface.
        interface: InterfaceId,
        /// The function.
        function: String,
        /// What differs.
        reason: String,
    },
    /// The plugin imports something from a socket interface that the interface
    /// does not declare, or imports the interface as something else than an
    /// instance.
    #[error("plugin `{plugin}`: invalid import of socket `{interface}`: {reason}")]
    SocketImport {
        /// The consumer.
        plugin: PluginId,
        /// The socket interface.
        interface: InterfaceId,
        /// What is wrong.
        reason: String,
    },
    /// The shape in which the plugin imports a socket function fits none of
    /// those its cardinality allows, or does not match the function of the
    /// plugin behind the socket.
    #[error("plugin `{plugin}`: socket `{interface}` function `{function}` does not fit plugin `{provider}`: {reason}")]
    SocketSignature {
        /// The consumer.
        plugin: PluginId,
        /// The socket interface.
        interface: InterfaceId,
        /// The function.
        function: String,
        /// The plugin behind the socket whose export was compared.
        provider: PluginId,
        /// The declared and the provided types, in WIT syntax.
        reason: String,
    },
    /// Defining the socket's imports in the linker failed (for example because
    /// the user's linker already defines them).
    #[error("plugin `{plugin}`: cannot link socket `{interface}`")]
    Link {
        /// The consumer.
        plugin: PluginId,
        /// The socket interface.
        interface: InterfaceId,
        /// wasmtime's error.
        #[source]
        source: WasmError,
    },
    /// Instantiation failed: an import nobody provides, an import of the wrong
    /// type, or a trap in the component's start.
    #[error("plugin `{plugin}` cannot be instantiated")]
    Instantiate {
        /// The plugin.
        plugin: PluginId,
        /// wasmtime's error, naming the import when one is missing.
        #[source]
        source: WasmError,
    },
    /// The component imports something that is neither one of its sockets
    /// nor among the plugin's [`PluginData::grants`].
    #[error("plugin `{plugin}` imports `{import}`, which is neither one of its sockets nor granted to it")]
    NotGranted {
        /// The plugin.
        plugin: PluginId,
        /// The import, as the component names it.
        import: String,
    },
    /// One of the plugin's sockets names an interface that was not among the
    /// interfaces given to [`PluginTree::new`]. The plugin is not compiled.
    #[error("plugin `{plugin}` has a socket for interface `{interface}`, which is not defined")]
    UnknownSocket {
        /// The consumer.
        plugin: PluginId,
        /// The undefined interface.
        interface: InterfaceId,
    },
    /// The plugin depends on itself, directly (a socket for its own plug) or
    /// through other plugins. The plugin is not compiled.
    #[error("plugin `{plugin}` depends on itself through interface `{interface}` (cycle: {})", fmt_list(.cycle))]
    DependencyCycle {
        /// A plugin on the cycle.
        plugin: PluginId,
        /// The socket of `plugin` through which the cycle goes.
        interface: InterfaceId,
        /// The plugins on the cycle, starting at `plugin`.
        cycle: Vec<PluginId>,
    },
    /// One of the plugin's sockets cannot be served: the number of plugins
    /// behind it that loaded does not satisfy its cardinality (too few
    /// because some failed or none exists, or too many). `source` says why.
    #[error("plugin `{plugin}`: its socket `{interface}` cannot be served")]
    SocketUnavailable {
        /// The consumer, dropped.
        plugin: PluginId,
        /// The socket interface.
        interface: InterfaceId,
        /// The interface's failure.
        #[source]
        source: NestedLoadError<PluginId, InterfaceId>,
    },
    /// The number of an interface's plugins that loaded does not satisfy its
    /// cardinality: too few (none implements it, or some failed), or more
    /// than it takes (two that loaded for an `ExactlyOne` interface).
    /// Cardinality is judged over the plugins that loaded, only for the
    /// interfaces the load reaches.
    #[error(
        "interface `{interface}` needs {cardinality} plugin(s) but {}",
        if .loaded.is_empty() && .failed.is_empty() {
            "none implements it".to_owned()
        } else {
            format!(
                "{} loaded{}{}",
                .loaded.len(),
                if .loaded.is_empty() { String::new() } else { format!(": {}", fmt_list(.loaded)) },
                if .failed.is_empty() { String::new() } else { format!(" (failed: {})", fmt_list(.failed)) },
            )
        }
    )]
    CardinalityNotMet {
        /// The interface.
        interface: InterfaceId,
        /// Its cardinality.
        cardinality: InterfaceCardinality,
        /// The plugins that loaded.
        loaded: Vec<PluginId>,
        /// The implementers that failed to load.
        failed: Vec<PluginId>,
    },
}

/// The [`LoadError`] behind another: the source of
/// [`LoadError::SocketUnavailable`]. Dereferences to the inner error.
#[derive(Debug, Clone)]
pub struct NestedLoadError<PluginId: Debug + Display + 'static, InterfaceId: Debug + Display + 'static>(
    pub(crate) Arc<LoadError<PluginId, InterfaceId>>,
);

impl<PluginId: Debug + Display + 'static, InterfaceId: Debug + Display + 'static> std::ops::Deref
    for NestedLoadError<PluginId, InterfaceId>
{
    type Target = LoadError<PluginId, InterfaceId>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<PluginId: Debug + Display + 'static, InterfaceId: Debug + Display + 'static> Display
    for NestedLoadError<PluginId, InterfaceId>
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Display::fmt(&*self.0, f)
    }
}

// Written by hand: a derived impl would need `NestedLoadError: Error` to prove
// `LoadError: Error`, a cycle the trait solver cannot close.
impl<PluginId, InterfaceId> std::error::Error for NestedLoadError<PluginId, InterfaceId>
where
    PluginId: Debug + Display + 'static,
    InterfaceId: Debug + Display + 'static,
{
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &*self.0 {
            LoadError::Component { source, .. } => Some(&**source),
            LoadError::Link { source, .. } | LoadError::Instantiate { source, .. } => Some(source),
            LoadError::SocketUnavailable { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl<PluginId: Debug + Display + 'static, InterfaceId: Debug + Display + 'static> LoadError<PluginId, InterfaceId> {
    /// The plugin the error concerns; `None` for errors about an interface.
    pub fn plugin(&self) -> Option<&PluginId> {
        match self {
            Self::Component { plugin, .. }
            | Self::MissingExport { plugin, .. }
            | Self::SignatureMismatch { plugin, .. }
            | Self::SocketImport { plugin, .. }
            | Self::SocketSignature { plugin, .. }
            | Self::Link { plugin, .. }
            | Self::Instantiate { plugin, .. }
            | Self::NotGranted { plugin, .. }
            | Self::UnknownSocket { plugin, .. }
            | Self::DependencyCycle { plugin, .. }
            | Self::SocketUnavailable { plugin, .. } => Some(plugin),
            Self::MissingRootInterface { .. } | Self::CardinalityNotMet { .. } => None,
        }
    }
}

/// The error type of [`PluginTree::load`] for given metadata types.
pub(crate) type TreeLoadError<I, P> = LoadError<<P as PluginData>::Id, <I as InterfaceData>::Id>;

/// A plugin that loaded, with what consumers need to link against it.
struct Loaded<P: PluginData + Send + 'static> {
    slot: Arc<PluginSlot<P>>,
    /// The exported plug function types, per interface function.
    plug_types: Vec<ComponentFunc>,
    names: ResourceNames,
}

/// An interface's loaded implementers, or why it cannot be served.
type Resolved<I, P> = Result<Vec<usize>, Arc<TreeLoadError<I, P>>>;

struct Loader<'a, I: InterfaceData, P: PluginData<InterfaceId = I::Id> + Send + 'static> {
    engine: &'a Engine,
    linker: &'a Linker<PluginCtx<P>>,
    interfaces: &'a [InterfaceNode<I>],
    plugin_ids: Vec<P::Id>,
    kinds: Arc<ResourceKinds>,
    loaded: Vec<Option<Loaded<P>>>,
    resolved: Vec<Option<Resolved<I, P>>>,
    errors: Vec<TreeLoadError<I, P>>,
    root: usize,
    ticker: Option<Arc<crate::limits::Ticker>>,
}

impl<I, P> PluginTree<I, P>
where
    I: InterfaceData,
    P: PluginData<InterfaceId = I::Id> + Send + 'static,
{
    /// Compiles, links and instantiates the plugins reachable from the root,
    /// dependencies first.
    ///
    /// Every plugin gets its own `Store` (its data is the plugin value) and is
    /// instantiated with a copy of `linker`, to which the runtime adds the
    /// plugin's sockets; put WASI or host functions in `linker` to offer them to
    /// plugins. A plugin reached by several paths is instantiated once.
    ///
    /// A plugin that fails is dropped with a [`LoadError`]; the rest loads
    /// without it. A plugin with a socket naming an undefined interface
    /// ([`LoadError::UnknownSocket`]) or on a dependency cycle
    /// ([`LoadError::DependencyCycle`]) fails without being compiled, and
    /// what only it depends on is not reached. Since some plugins may fail to
    /// load, cardinality is judged here, over the plugins that managed to
    /// load ([`LoadError::CardinalityNotMet`], for too few as for too many);
    /// consumers of a socket that cannot be served fail in turn
    /// ([`LoadError::SocketUnavailable`]). Plugins not reachable from the
    /// root are neither compiled nor judged.
    ///
    /// # Errors
    ///
    /// `Err((primary, others))` only when the root interface cannot be served:
    /// it is not defined, or the number of its plugins that loaded does not
    /// satisfy its cardinality. `others` are the failures that led there.
    pub fn load(
        self,
        engine: &Engine,
        linker: &Linker<PluginCtx<P>>,
    ) -> PartialResult<PluginTreeHead<P>, TreeLoadError<I, P>, TreeLoadError<I, P>> {
        let Self { root_id, root, interfaces, plugins } = self;
        let Some(root) = root else {
            return Err((LoadError::MissingRootInterface { interface: root_id }, Vec::new()));
        };
        let mut kinds = ResourceKinds::default();
        for (interface, node) in interfaces.iter().enumerate() {
            for resource in 0..node.resources.len() {
                kinds.add(interface, resource);
            }
        }
        // Ticking from the start: start functions run under deadlines too.
        let ticker = crate::limits::Ticker::for_engine(engine);
        if ticker.is_none() {
            tracing::warn!(
                "the engine has no epoch interruption: plugin deadlines are not enforced (see wasm_link::default_engine)"
            );
        }
        let order = dependency_order(&interfaces, &plugins, root);
        let mut loader = Loader {
            engine,
            linker,
            interfaces: &interfaces,
            plugin_ids: plugins.iter().map(|p| p.id.clone()).collect(),
            kinds: Arc::new(kinds),
            loaded: (0..plugins.len()).map(|_| None).collect(),
            resolved: (0..interfaces.len()).map(|_| None).collect(),
            errors: Vec::new(),
            root,
            ticker: ticker.clone(),
        };
        let mut nodes: Vec<Option<PluginNode<P>>> = plugins.into_iter().map(Some).collect();
        // A plugin that cannot load whatever its component holds is not compiled.
        let sound: Vec<usize> =
            order.iter().copied().filter(|&index| nodes[index].as_ref().is_some_and(|n| n.defect.is_none())).collect();
        let mut compiled = compile_all(engine, &sound, &mut nodes);
        for index in order {
            if let Some(defect) = nodes[index].as_mut().and_then(|node| node.defect.take()) {
                let plugin = loader.plugin_ids[index].clone();
                let error = match defect {
                    Defect::UnknownSocket(interface) => LoadError::UnknownSocket { plugin, interface },
                    Defect::Cycle { interface, cycle } => {
                        LoadError::DependencyCycle { plugin, interface: interfaces[interface].id.clone(), cycle }
                    }
                };
                tracing::warn!(%error, "plugin not loaded");
                loader.errors.push(error);
                continue;
            }
            if let (Some(node), Some(component)) = (nodes[index].take(), compiled[index].take()) {
                match loader.load_plugin(node, component) {
                    Ok(plugin) => loader.loaded[index] = Some(plugin),
                    Err(error) => {
                        tracing::warn!(%error, "plugin not loaded");
                        loader.errors.push(error);
                    }
                }
            }
        }
        match loader.resolve(root) {
            Ok(members) => {
                let slots: Vec<_> =
                    members.iter().filter_map(|&m| loader.loaded[m].as_ref().map(|l| l.slot.clone())).collect();
                let node = &interfaces[root];
                let plugins = RootPlugins::new(node.cardinality, slots);
                let Some(plugins) = plugins else {
                    let error = LoadError::CardinalityNotMet {
                        interface: node.id.clone(),
                        cardinality: node.cardinality,
                        loaded: members.iter().map(|&m| loader.plugin_ids[m].clone()).collect(),
                        failed: Vec::new(),
                    };
                    return Err((error, loader.errors));
                };
                let mut all: Vec<_> = loader.loaded.iter().flatten().map(|l| l.slot.clone()).collect();
                all.sort_by(|a, b| a.id.cmp(&b.id));
                let head = PluginTreeHead::new(node, plugins, all, loader.kinds.clone(), ticker);
                Ok((head, loader.errors))
            }
            Err(primary) => {
                let primary = Arc::try_unwrap(primary).unwrap_or_else(|shared| (*shared).clone());
                Err((primary, loader.errors))
            }
        }
    }
}

impl<I, P> Loader<'_, I, P>
where
    I: InterfaceData,
    P: PluginData<InterfaceId = I::Id> + Send + 'static,
{
    /// The loaded implementers of an interface, or why it cannot be served.
    /// Called only once all its implementers were attempted.
    fn resolve(&mut self, interface: usize) -> Result<Vec<usize>, Arc<TreeLoadError<I, P>>> {
        if let Some(resolved) = &self.resolved[interface] {
            return resolved.clone();
        }
        let node = &self.interfaces[interface];
        let (loaded, failed): (Vec<usize>, Vec<usize>) =
            node.implementers.iter().partition(|&&p| self.loaded[p].is_some());
        let result = if node.cardinality.accepts(loaded.len()) {
            Ok(loaded)
        } else {
            let error = LoadError::CardinalityNotMet {
                interface: node.id.clone(),
                cardinality: node.cardinality,
                loaded: loaded.iter().map(|&p| self.plugin_ids[p].clone()).collect(),
                failed: failed.iter().map(|&p| self.plugin_ids[p].clone()).collect(),
            };
            if interface != self.root {
                self.errors.push(error.clone());
            }
            Err(Arc::new(error))
        };
        self.resolved[interface] = Some(result.clone());
        result
    }

    fn load_plugin(
        &mut self,
        node: PluginNode<P>,
        component: Result<wasmtime::component::Component, P::Error>,
    ) -> Result<Loaded<P>, TreeLoadError<I, P>> {
        let PluginNode { id, plug, sockets, data, .. } = node;
        let mut providers = Vec::with_capacity(sockets.len());
        for &socket in &sockets {
            match self.resolve(socket) {
                Ok(members) => providers.push(members),
                Err(source) => {
                    return Err(LoadError::SocketUnavailable {
                        plugin: id,
                        interface: self.interfaces[socket].id.clone(),
                        source: NestedLoadError(source),
                    });
                }
            }
        }
        let component = component.map_err(|e| LoadError::Component { plugin: id.clone(), source: Arc::new(e) })?;
        let component_type = component.component_type();
        if let Some(granted) = data.grants() {
            self.check_grants(&id, &sockets, &granted, &component_type)?;
        }
        let names = ResourceNames::of(self.engine, &component_type);
        let (exports, plug_types) = self.plug_exports(&id, plug, &component, &component_type, &names)?;

        let consumer = Arc::new(OnceLock::new());
        // Components that `use` the runtime's WIT types import an instance that
        // holds only types; give it one so instantiation finds it.
        let uses_runtime = component_type.get_import(self.engine, "wasm-link:runtime/types").is_some();
        // A plugin without sockets links against the user's linker as it is:
        // no copy of it per plugin.
        let own_linker = if sockets.is_empty() && !uses_runtime {
            None
        } else {
            let mut linker = self.linker.clone();
            for (&socket, members) in sockets.iter().zip(&providers) {
                self.link_socket(&mut linker, &id, socket, members, &component_type, &names, &consumer)?;
            }
            if uses_runtime {
                let _ = linker.instance("wasm-link:runtime/types");
            }
            Some(linker)
        };
        let pre = own_linker
            .as_ref()
            .unwrap_or(self.linker)
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Instantiate { plugin: id.clone(), source: WasmError::new(e) })?;
        let clock = self.ticker.as_ref().map(|ticker| ticker.clock.clone());
        let slot = PluginSlot::instantiate(id.clone(), self.engine, pre, exports, data, clock)
            .map_err(|source| LoadError::Instantiate { plugin: id.clone(), source })?;
        let _ = consumer.set(Arc::downgrade(&slot));
        tracing::debug!(plugin = %id, "plugin loaded");
        Ok(Loaded { slot, plug_types, names })
    }

    /// Refuses a component that imports anything but its sockets, instances
    /// that only carry types, and what `granted` names.
    fn check_grants(
        &self,
        id: &P::Id,
        sockets: &[usize],
        granted: &[String],
        component_type: &wasmtime::component::types::Component,
    ) -> Result<(), TreeLoadError<I, P>> {
        for (import, item) in component_type.imports(self.engine) {
            let is_socket = sockets.iter().any(|&s| self.interfaces[s].name.instance == import);
            let types_only = match &item.ty {
                ComponentItem::ComponentInstance(instance) => {
                    instance.exports(self.engine).all(|(_, export)| matches!(export.ty, ComponentItem::Type(_)))
                }
                _ => false,
            };
            let unversioned = import.split('@').next().unwrap_or(import);
            let is_granted = granted.iter().any(|grant| {
                unversioned == grant
                    || unversioned.strip_prefix(grant.as_str()).is_some_and(|rest| rest.starts_with('/'))
            });
            if !is_socket && !types_only && !is_granted && !unversioned.starts_with("wasm-link:runtime/") {
                return Err(LoadError::NotGranted { plugin: id.clone(), import: import.to_owned() });
            }
        }
        Ok(())
    }

    /// Finds the plug's exports and checks them against the interface.
    fn plug_exports(
        &self,
        id: &P::Id,
        plug: usize,
        component: &wasmtime::component::Component,
        component_type: &wasmtime::component::types::Component,
        names: &ResourceNames,
    ) -> Result<(PlugExports, Vec<ComponentFunc>), TreeLoadError<I, P>> {
        let interface = &self.interfaces[plug];
        let instance_name = &interface.name.instance;
        let missing = |export: &str| LoadError::MissingExport {
            plugin: id.clone(),
            interface: interface.id.clone(),
            export: export.to_owned(),
        };
        let instance = component.get_export_index(None, instance_name).ok_or_else(|| missing(instance_name))?;
        let Some(ComponentItem::ComponentInstance(instance_type)) =
            component_type.get_export(self.engine, instance_name).map(|e| e.ty)
        else {
            return Err(missing(instance_name));
        };
        let mut functions = Vec::with_capacity(interface.functions.len());
        let mut plug_types = Vec::with_capacity(interface.functions.len());
        for function in &interface.functions {
            let index =
                component.get_export_index(Some(&instance), &function.name).ok_or_else(|| missing(&function.name))?;
            let Some(ComponentItem::ComponentFunc(ty)) =
                instance_type.get_export(self.engine, &function.name).map(|e| e.ty)
            else {
                return Err(missing(&function.name));
            };
            let result = ty.results().next();
            let mismatch = match (function.return_kind, &result) {
                (ReturnKind::Void, Some(result)) => Some(format!(
                    "the interface declares no result but the plugin returns `{}`",
                    types::describe(result, names)
                )),
                (ReturnKind::AssumeNoResources, None) => {
                    Some("the interface declares a result but the plugin returns none".to_owned())
                }
                (ReturnKind::AssumeNoResources, Some(result)) if types::has_resources(result) => Some(format!(
                    "the interface declares a result without resources but the plugin returns `{}`",
                    types::describe(result, names)
                )),
                _ => None,
            };
            if let Some(reason) = mismatch {
                return Err(LoadError::SignatureMismatch {
                    plugin: id.clone(),
                    interface: interface.id.clone(),
                    function: function.name.clone(),
                    reason,
                });
            }
            functions.push(index);
            plug_types.push(ty);
        }
        let resources =
            interface.resources.iter().map(|name| component.get_export_index(Some(&instance), name)).collect();
        Ok((PlugExports { functions, resources }, plug_types))
    }

    /// The one shape in which the consumer's import fits every plugin behind
    /// the socket.
    #[allow(clippy::too_many_arguments, reason = "the consumer's load context")]
    fn socket_shape(
        id: &P::Id,
        interface: &InterfaceNode<I>,
        name: &str,
        declared: &ComponentFunc,
        names: &ResourceNames,
        targets: &[&Loaded<P>],
        single: bool,
    ) -> Result<Shape, TreeLoadError<I, P>> {
        let function = interface.functions.iter().position(|f| f.name == name).unwrap_or_default();
        let mut shape = None;
        for target in targets {
            let found = shape::check_import(
                declared,
                names,
                &target.plug_types[function],
                &target.names,
                interface.cardinality,
                single,
            )
            .map_err(|reason| LoadError::SocketSignature {
                plugin: id.clone(),
                interface: interface.id.clone(),
                function: name.to_owned(),
                provider: target.slot.id.clone(),
                reason,
            })?;
            // Every plugin behind the socket must fit the same shape: one
            // adapter serves them all.
            if shape.is_some_and(|shape| shape != found) {
                return Err(LoadError::SocketSignature {
                    plugin: id.clone(),
                    interface: interface.id.clone(),
                    function: name.to_owned(),
                    provider: target.slot.id.clone(),
                    reason: "its result type differs from that of the other plugins behind the socket".to_owned(),
                });
            }
            shape = Some(found);
        }
        if let Some(shape) = shape {
            return Ok(shape);
        }
        // No handle of the socket's resources can exist without a plugin
        // behind it, so a method can never be called.
        if single {
            return Ok(Shape::Plain);
        }
        shape::shape_without_plugins(declared, interface.cardinality).ok_or_else(|| LoadError::SocketSignature {
            plugin: id.clone(),
            interface: interface.id.clone(),
            function: name.to_owned(),
            provider: id.clone(),
            reason: format!("no plugin is behind the socket and {} cannot be empty", describe_decl(declared, names)),
        })
    }

    /// Defines one socket's imports in the consumer's linker.
    #[allow(clippy::too_many_arguments, reason = "the consumer's whole load context")]
    fn link_socket(
        &self,
        linker: &mut Linker<PluginCtx<P>>,
        id: &P::Id,
        socket: usize,
        members: &[usize],
        component_type: &wasmtime::component::types::Component,
        names: &ResourceNames,
        consumer: &Arc<OnceLock<std::sync::Weak<PluginSlot<P>>>>,
    ) -> Result<(), TreeLoadError<I, P>> {
        let interface = &self.interfaces[socket];
        let Some(import) = component_type.get_import(self.engine, &interface.name.instance) else {
            // Declared but not imported: nothing to link.
            return Ok(());
        };
        let imports = socket::socket_imports(
            self.engine,
            &interface.name.instance,
            &import.ty,
            &interface.functions,
            &interface.resources,
            names,
        )
        .map_err(|reason| LoadError::SocketImport {
            plugin: id.clone(),
            interface: interface.id.clone(),
            reason,
        })?;
        let link_error = |e: wasmtime::Error| LoadError::Link {
            plugin: id.clone(),
            interface: interface.id.clone(),
            source: WasmError::new(e),
        };
        let targets: Vec<&Loaded<P>> = members.iter().filter_map(|&m| self.loaded[m].as_ref()).collect();
        let mut instance = linker.instance(&interface.name.instance).map_err(link_error)?;
        for (name, resource) in &imports.resources {
            let Some(kind) = self.kinds.find(socket, *resource) else {
                continue;
            };
            Adapter::define_resource(&mut instance, name, kind.ty).map_err(link_error)?;
        }
        for (name, function, declared) in imports.functions {
            let meta = &interface.functions[function];
            let single = meta.is_method;
            let shape = Self::socket_shape(id, interface, &name, &declared, names, &targets, single)?;
            let adapter = Arc::new(Adapter {
                consumer_id: id.clone(),
                site: Site { interface: interface.name.instance.as_str().into(), function: name.as_str().into() },
                consumer: consumer.clone(),
                targets: targets.iter().map(|t| t.slot.clone()).collect(),
                function,
                shape,
                method: meta.is_method,
                convert_params: declared.params().any(|(_, t)| types::has_resources(&t)),
                convert_result: declared.results().any(|t| types::has_resources(&t)),
                kinds: self.kinds.clone(),
            });
            if !crate::socket::typed::define(&mut instance, &name, &declared, &adapter).map_err(link_error)? {
                instance
                    .func_new(&name, move |store, ty, params: &[Val], results: &mut [Val]| {
                        adapter.call(store, &ty, params, results)
                    })
                    .map_err(link_error)?;
            }
        }
        Ok(())
    }
}

fn describe_decl(declared: &ComponentFunc, names: &ResourceNames) -> String {
    format!("`{}`", types::describe_opt(declared.results().next().as_ref(), names))
}

/// Getting components that takes longer than this each means they are being
/// compiled (a cache hit of a small plugin takes tens of microseconds).
const COMPILING: std::time::Duration = std::time::Duration::from_micros(300);

/// Gets the components of the plugins in `order`, compiling on all cores
/// (rayon's pool, shared with wasmtime's own parallel compilation) when that
/// takes a while. The plugins are `Send`, not `Sync`: each task takes one
/// and gives it back with its component. A panic in the user's `component`
/// is theirs and goes through.
fn compile_all<P: PluginData + Send>(
    engine: &Engine,
    order: &[usize],
    nodes: &mut [Option<PluginNode<P>>],
) -> Vec<Option<Result<wasmtime::component::Component, P::Error>>> {
    use rayon::prelude::*;
    let mut taken: Vec<(usize, PluginNode<P>)> =
        order.iter().filter_map(|&index| nodes[index].take().map(|node| (index, node))).collect();
    // In turn while components come quickly (compiled already, or from a
    // cache), on all cores once they are being compiled. Handing cheap work
    // to other threads costs more than the work, and deserializing in
    // parallel is slower than in turn: each component's code is mapped and
    // `mprotect`ed, and with the process running on several cores every such
    // change interrupts them all to flush their TLBs.
    let started = std::time::Instant::now();
    let mut done = Vec::with_capacity(taken.len());
    while let Some((index, node)) = taken.pop() {
        let component = node.data.component(engine);
        done.push((index, node, component));
        let count = u32::try_from(done.len()).unwrap_or(u32::MAX);
        if started.elapsed() > COMPILING.saturating_mul(count) {
            break;
        }
    }
    done.par_extend(taken.into_par_iter().map(|(index, node)| {
        let component = node.data.component(engine);
        (index, node, component)
    }));
    let mut compiled: Vec<Option<Result<_, _>>> = (0..nodes.len()).map(|_| None).collect();
    for (index, node, component) in done {
        nodes[index] = Some(node);
        compiled[index] = Some(component);
    }
    compiled
}

/// The plugins reachable from `root`, each after every plugin it depends on.
fn dependency_order<I: InterfaceData, P: PluginData<InterfaceId = I::Id>>(
    interfaces: &[InterfaceNode<I>],
    plugins: &[PluginNode<P>],
    root: usize,
) -> Vec<usize> {
    // Iterative post-order DFS. The load does not go past a plugin with a
    // defect (it fails without its dependencies), so every plugin on a cycle
    // is left as soon as it is reached and the rest is acyclic: each plugin
    // comes after all it depends on. `state` guards against revisits.
    let mut state = vec![0u8; plugins.len()]; // 0 new, 1 open, 2 done
    let mut order = Vec::new();
    let mut stack: Vec<(usize, usize)> = interfaces[root].implementers.iter().rev().map(|&p| (p, 0)).collect();
    while let Some((plugin, next)) = stack.pop() {
        if next == 0 {
            if state[plugin] != 0 {
                continue;
            }
            state[plugin] = 1;
        }
        let deps: Vec<usize> = if plugins[plugin].defect.is_some() {
            Vec::new()
        } else {
            plugins[plugin].sockets.iter().flat_map(|&s| interfaces[s].implementers.iter().copied()).collect()
        };
        if let Some(&dep) = deps.get(next) {
            stack.push((plugin, next + 1));
            if state[dep] == 0 {
                stack.push((dep, 0));
            }
        } else {
            state[plugin] = 2;
            order.push(plugin);
        }
    }
    order
}
