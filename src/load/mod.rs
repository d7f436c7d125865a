//! `PluginTree::load`: compile, link and instantiate plugins bottom-up; and
//! the same steps for one plugin at a time while the tree runs ([`swap`]).
//!
//! - [`Env`]: what linking a plugin needs of its tree (engine, the user's
//!   linker, the interfaces, the resource kinds), kept by the loaded tree
//!   for later swaps: a plugin is prepared ([`Env::prepare`]: exports,
//!   grants, socket shapes) and instantiated ([`Env::instantiate`]) the same
//!   way at load and in a swap.
//! - [`swap`]: the loaded tree's registry of plugins, and replacing, adding
//!   and removing one.

mod compile;
mod error;
mod exports;
pub(crate) mod freeze;
pub(crate) mod grants;
mod link;
mod options;
mod order;
pub(crate) mod swap;

use std::sync::{Arc, OnceLock, Weak};

use wasmtime::Engine;
use wasmtime::component::types::ComponentFunc;
use wasmtime::component::{InstancePre, Linker};

pub(crate) use self::error::TreeLoadError;
pub use self::error::{LoadError, NestedLoadError, SwapError};
pub use self::freeze::{DynamicEdge, FreezeReport, FrozenGroup, NotFrozen};
pub use self::options::LoadOptions;
use crate::graph::{Defect, FunctionIndex, InterfaceIndex, InterfaceNode, InterfaceSpec, PluginIndex, PluginNode};
use crate::head::PluginTreeHead;
use crate::instance::ctx::{Mode, PluginCtx};
use crate::instance::members::Members;
use crate::instance::{Identity, PlugExports, PluginSlot, Recipe, drive};
use crate::shape::Shape;
use crate::socket::resources::ResourceKinds;
use crate::types::ResourceNames;
use crate::wasm_error::WasmError;
use crate::{InterfaceData, PartialResult, PluginData, PluginTree};

/// A load error of a plugin of type `P`.
pub(crate) type PluginLoadError<P> = LoadError<<P as PluginData>::Id, <P as PluginData>::InterfaceId>;

/// A plugin that loaded, with what consumers need to link against it and
/// what a later swap re-checks.
pub(crate) struct Loaded<P: PluginData> {
    pub(crate) slot: Arc<PluginSlot<P>>,
    /// The interfaces it sockets, without repeats.
    pub(crate) sockets: Vec<InterfaceIndex>,
    /// The exported plug function types, per interface function.
    pub(crate) plug_types: Vec<ComponentFunc>,
    /// The name it exports its plug under, with the version it serves.
    pub(crate) exported: String,
    pub(crate) names: ResourceNames,
    /// Its socket imports as linked: the shape each was given.
    pub(crate) imports: Vec<Import>,
}

/// One socket function a consumer imports, as it was linked.
pub(crate) struct Import {
    pub(crate) interface: InterfaceIndex,
    /// The interface's name as the consumer imports it, with its version.
    pub(crate) imported: String,
    pub(crate) function: FunctionIndex,
    pub(crate) name: String,
    pub(crate) declared: ComponentFunc,
    pub(crate) single: bool,
    pub(crate) shape: Shape,
}

/// The plugins behind one of a plugin's sockets, as it is linked.
pub(crate) struct Provider<'a, P: PluginData> {
    pub(crate) members: Arc<Members<P>>,
    pub(crate) targets: Vec<&'a Loaded<P>>,
}

/// What linking a plugin needs of its tree, at load and at every swap.
pub(crate) struct Env<P: PluginData> {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<PluginCtx<P>>,
    pub(crate) interfaces: Vec<InterfaceSpec<P::InterfaceId>>,
    pub(crate) kinds: Arc<ResourceKinds>,
    pub(crate) ticker: Option<Arc<crate::limits::Ticker>>,
    /// How the plugins are instantiated and how their sockets call.
    pub(crate) mode: Mode,
    /// The tree's edges, counted on (`LoadOptions::stats`).
    pub(crate) stats: Arc<crate::stats::Registry<P>>,
}

/// A plugin checked and linked, not yet instantiated.
pub(crate) struct Prepared<P: PluginData> {
    id: P::Id,
    plug: InterfaceIndex,
    sockets: Vec<InterfaceIndex>,
    data: P,
    pre: InstancePre<PluginCtx<P>>,
    exports: PlugExports,
    pub(crate) plug_types: Vec<ComponentFunc>,
    exported: String,
    pub(crate) names: ResourceNames,
    imports: Vec<Import>,
    consumer: Arc<OnceLock<Weak<PluginSlot<P>>>>,
    pub(crate) version: Option<String>,
    /// The members of the group it runs, itself first (`freeze`).
    pub(crate) frozen: Vec<(P::Id, String)>,
    /// A remote plugin's servers' health.
    addresses: Option<crate::instance::health::AddressProbe>,
}

/// An interface's loaded implementers, or why it cannot be served.
type Resolved<P> = Result<Vec<PluginIndex>, Arc<PluginLoadError<P>>>;

/// The state of one `load`: which plugins loaded and which interfaces
/// were judged.
struct Loader<'a, P: PluginData> {
    env: &'a Env<P>,
    implementers: Vec<Vec<PluginIndex>>,
    plugin_ids: Vec<P::Id>,
    loaded: Vec<Option<Loaded<P>>>,
    resolved: Vec<Option<Resolved<P>>>,
    members: Vec<Arc<Members<P>>>,
    errors: Vec<PluginLoadError<P>>,
    root: InterfaceIndex,
    /// Per plugin, the members of the group it runs, itself first.
    frozen: Vec<Vec<(P::Id, String)>>,
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
    ///
    /// The plugins are linked for blocking calls: [`PluginTreeHead::dispatch`]
    /// at full speed ([`PluginTreeHead::dispatch_async`] is the same call,
    /// run to completion on the executor's thread). A
    /// plugin that imports an async host function of `linker`
    /// (`func_wrap_async`, `func_new_async`) cannot be called synchronously
    /// and fails with [`LoadError::RequiresAsync`]: load such trees with
    /// [`load_async`](Self::load_async).
    pub fn load(
        self,
        engine: &Engine,
        linker: &Linker<PluginCtx<P>>,
    ) -> PartialResult<PluginTreeHead<P>, TreeLoadError<I, P>, TreeLoadError<I, P>> {
        self.load_with(engine, linker, &LoadOptions::default())
    }

    /// [`load`](Self::load) with [`LoadOptions`]: for example freezing
    /// groups of plugins into one component each
    /// ([`LoadOptions::freeze`]).
    ///
    /// # Errors
    ///
    /// As [`load`](Self::load).
    pub fn load_with(
        self,
        engine: &Engine,
        linker: &Linker<PluginCtx<P>>,
        options: &LoadOptions,
    ) -> PartialResult<PluginTreeHead<P>, TreeLoadError<I, P>, TreeLoadError<I, P>> {
        let root_id = self.root_id.clone();
        // A synchronous load completes in its first poll: every step blocks.
        drive::now(self.load_in(Mode::Sync, engine, linker, options))
            .unwrap_or_else(|| Err((LoadError::MissingRootInterface { interface: root_id }, Vec::new())))
    }

    /// [`load`](Self::load) for async hosts: the plugins are instantiated
    /// with `instantiate_async` and linked for asynchronous calls, all the
    /// way down.
    ///
    /// Under [`PluginTreeHead::dispatch_async`] every plugin runs on a fiber:
    /// socket calls await the plugins behind them, plugins may import async
    /// host functions of `linker` (`func_wrap_async`, `func_new_async`), and
    /// a long-running plugin at any depth yields to the executor at epoch
    /// ticks. [`PluginTreeHead::dispatch`] still works on such a tree, by
    /// blocking the calling thread on the asynchronous path.
    ///
    /// Compilation runs before the first `.await` and blocks the task
    /// meanwhile (components are compiled in parallel on all cores); put a
    /// [`CompileCache`](crate::dir::CompileCache) in front of it, or load
    /// before serving.
    ///
    /// # Errors
    ///
    /// As [`load`](Self::load).
    pub async fn load_async(
        self,
        engine: &Engine,
        linker: &Linker<PluginCtx<P>>,
    ) -> PartialResult<PluginTreeHead<P>, TreeLoadError<I, P>, TreeLoadError<I, P>> {
        self.load_async_with(engine, linker, &LoadOptions::default()).await
    }

    /// [`load_async`](Self::load_async) with [`LoadOptions`].
    ///
    /// # Errors
    ///
    /// As [`load`](Self::load).
    pub async fn load_async_with(
        self,
        engine: &Engine,
        linker: &Linker<PluginCtx<P>>,
        options: &LoadOptions,
    ) -> PartialResult<PluginTreeHead<P>, TreeLoadError<I, P>, TreeLoadError<I, P>> {
        drive::in_chain(self.load_in(Mode::Async, engine, linker, options)).await
    }

    async fn load_in(
        self,
        mode: Mode,
        engine: &Engine,
        linker: &Linker<PluginCtx<P>>,
        options: &LoadOptions,
    ) -> PartialResult<PluginTreeHead<P>, TreeLoadError<I, P>, TreeLoadError<I, P>> {
        let Self { root_id, root, interfaces, plugins } = self;
        let Some(root) = root else {
            return Err((LoadError::MissingRootInterface { interface: root_id }, Vec::new()));
        };
        let kinds = resource_kinds(&interfaces);
        // Ticking from the start: start functions run under deadlines too.
        let ticker = crate::limits::Ticker::for_engine(engine);
        if ticker.is_none() {
            tracing::warn!(
                "the engine has no epoch interruption: plugin deadlines are not enforced (see wasm_link::default_engine)"
            );
        }
        let order = order::dependency_order(&interfaces, &plugins, root);
        let mut nodes: Vec<Option<PluginNode<P>>> = plugins.into_iter().map(Some).collect();
        // A plugin that cannot load whatever its component holds is not compiled.
        let sound: Vec<PluginIndex> =
            order.iter().copied().filter(|&index| nodes[index].as_ref().is_some_and(|n| n.defect.is_none())).collect();
        let mut compiled = compile::compile_all(engine, &sound, &mut nodes);
        // Every node is still there: none was taken yet.
        let plugin_ids: Vec<P::Id> = nodes.iter().flatten().map(|n| n.id.clone()).collect();
        let mut implementers = Vec::with_capacity(interfaces.len());
        let mut specs = Vec::with_capacity(interfaces.len());
        for node in interfaces {
            implementers.push(node.implementers);
            specs.push(node.spec);
        }
        let env = Env {
            engine: engine.clone(),
            linker: linker.clone(),
            interfaces: specs,
            kinds: Arc::new(kinds),
            ticker,
            mode,
            stats: Arc::new(crate::stats::Registry::new(!options.stats_off)),
        };
        let mut frozen = freeze::when_asked(&env, options, &implementers, &mut nodes, &mut compiled, &order, root);
        let mut loader = Loader {
            env: &env,
            members: (0..implementers.len()).map(|_| Arc::new(Members::new(Vec::new()))).collect(),
            resolved: (0..implementers.len()).map(|_| None).collect(),
            implementers,
            plugin_ids,
            loaded: (0..nodes.len()).map(|_| None).collect(),
            errors: Vec::new(),
            root,
            frozen: std::mem::take(&mut frozen.members),
        };
        let load_order = loader.load_all(&order, &mut nodes, &mut compiled, &mut frozen).await;
        // The root's cardinality, judged over its plugins that loaded.
        let outcome = loader
            .resolve(root)
            .map(drop)
            .map_err(|primary| Arc::try_unwrap(primary).unwrap_or_else(|shared| (*shared).clone()));
        let errors = std::mem::take(&mut loader.errors);
        let members = std::mem::take(&mut loader.members);
        let plugins: Vec<Loaded<P>> = load_order.iter().filter_map(|&i| loader.loaded[i].take()).collect();
        drop(loader);
        // From here the tree owns the plugins: dropped, it releases them
        // without one plugin's drop freeing another (see `swap::LoadedTree`).
        let groups = frozen.groups.into_iter().map(|(group, _)| group).collect();
        let tree = swap::LoadedTree::new(env, members, plugins, root, frozen.report, groups);
        match outcome {
            Ok(()) => Ok((PluginTreeHead::new(tree), errors)),
            Err(primary) => {
                drop(tree);
                Err((primary, errors))
            }
        }
    }
}

impl<P> Loader<'_, P>
where
    P: PluginData,
{
    /// Loads the plugins in `order`, dependencies first; returns the
    /// indices of those that loaded, in the order they did.
    async fn load_all(
        &mut self,
        order: &[PluginIndex],
        nodes: &mut [Option<PluginNode<P>>],
        compiled: &mut [Option<Result<wasmtime::component::Component, P::Error>>],
        frozen: &mut freeze::Frozen<P>,
    ) -> Vec<PluginIndex> {
        let mut load_order = Vec::new();
        // Members frozen into a group headed by another, until it loads.
        let mut inside: Vec<Option<PluginNode<P>>> = (0..nodes.len()).map(|_| None).collect();
        for &index in order {
            if let Some(defect) = nodes[index].as_mut().and_then(|node| node.defect.take()) {
                let plugin = self.plugin_ids[index].clone();
                let error = match defect {
                    Defect::UnknownSocket(interface) => LoadError::UnknownSocket { plugin, interface },
                    Defect::Cycle { interface, cycle } => LoadError::DependencyCycle {
                        plugin,
                        interface: self.env.interfaces[interface].id.clone(),
                        cycle,
                    },
                };
                tracing::warn!(%error, "plugin not loaded");
                self.errors.push(error);
                continue;
            }
            let Some(node) = nodes[index].take() else { continue };
            let Some(component) = compiled[index].take() else {
                if frozen.is_inside(index) {
                    inside[index] = Some(node);
                }
                continue;
            };
            match self.load_plugin(index, node, component).await {
                Ok(plugin) => {
                    self.loaded[index] = Some(plugin);
                    load_order.push(index);
                }
                Err(error) => {
                    if let Some(group) = frozen.group_of_top(index) {
                        // Freezing is never fatal: the group's plugins load as they are.
                        let (kept, indices) = frozen.groups.remove(group);
                        self.thaw(kept, &indices, &mut inside, &error, &mut frozen.report, &mut load_order).await;
                    } else {
                        tracing::warn!(%error, "plugin not loaded");
                        self.errors.push(error);
                    }
                }
            }
        }
        load_order
    }

    /// Loads the members of a group whose composite did not load, each as it
    /// is (providers first, the top member last, from its spare value), and
    /// reports its edges dynamic.
    async fn thaw(
        &mut self,
        mut kept: freeze::Kept<P>,
        indices: &[PluginIndex],
        inside: &mut [Option<PluginNode<P>>],
        error: &PluginLoadError<P>,
        report: &mut FreezeReport<P::Id, P::InterfaceId>,
        load_order: &mut Vec<PluginIndex>,
    ) {
        let top = kept.members[0].id.clone();
        tracing::warn!(group = %top, %error, "frozen group did not load: its plugins load as they are");
        let reason = freeze::NotFrozen::NotLoaded { group: top.clone(), reason: crate::error_chain(error) };
        if let Some(position) = report.groups.iter().position(|g| g.plugin == top) {
            let group = report.groups.remove(position);
            for (consumer, interface, _) in group.edges {
                report.dynamic.push(freeze::DynamicEdge { consumer, interface, reason: reason.clone() });
            }
        }
        // Without a fresh value of the top member it cannot load alone: its
        // members would serve nobody, and the composite's error is its own.
        if kept.spare.is_none() {
            self.errors.push(error.clone());
            return;
        }
        let nodes = indices.iter().enumerate().rev().map(|(position, &index)| {
            let node = if position == 0 {
                kept.spare.take().map(|data| PluginNode {
                    id: top.clone(),
                    plug: kept.members[0].plug,
                    sockets: kept.members[0].sockets.clone(),
                    defect: None,
                    data,
                })
            } else {
                inside[index].take()
            };
            (index, node, kept.members[position].component.clone())
        });
        for (index, node, component) in nodes.collect::<Vec<_>>() {
            let Some(node) = node else {
                // No fresh value of the top member to load it alone with.
                self.errors.push(error.clone());
                continue;
            };
            match self.load_plugin(index, node, Ok(component)).await {
                Ok(plugin) => {
                    self.loaded[index] = Some(plugin);
                    load_order.push(index);
                }
                Err(error) => {
                    tracing::warn!(%error, "plugin not loaded");
                    self.errors.push(error);
                }
            }
        }
    }

    /// The loaded implementers of an interface, or why it cannot be served.
    /// Called only once all its implementers were attempted.
    fn resolve(&mut self, interface: InterfaceIndex) -> Resolved<P> {
        if let Some(resolved) = &self.resolved[interface] {
            return resolved.clone();
        }
        let node = &self.env.interfaces[interface];
        let (loaded, failed): (Vec<PluginIndex>, Vec<PluginIndex>) =
            self.implementers[interface].iter().partition(|&&p| self.loaded[p].is_some());
        let result = if node.cardinality.accepts(loaded.len()) {
            let slots = loaded.iter().filter_map(|&p| self.loaded[p].as_ref().map(|l| l.slot.clone())).collect();
            self.members[interface].store(slots);
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

    async fn load_plugin(
        &mut self,
        index: PluginIndex,
        node: PluginNode<P>,
        component: Result<wasmtime::component::Component, P::Error>,
    ) -> Result<Loaded<P>, PluginLoadError<P>> {
        let PluginNode { id, plug, sockets, data, .. } = node;
        let frozen = std::mem::take(&mut self.frozen[index]);
        let mut resolved = Vec::with_capacity(sockets.len());
        for &socket in &sockets {
            match self.resolve(socket) {
                Ok(members) => resolved.push(members),
                Err(source) => {
                    return Err(LoadError::SocketUnavailable {
                        plugin: id,
                        interface: self.env.interfaces[socket].id.clone(),
                        source: NestedLoadError(source),
                    });
                }
            }
        }
        let providers: Vec<Provider<'_, P>> = sockets
            .iter()
            .zip(&resolved)
            .map(|(&socket, members)| Provider {
                members: self.members[socket].clone(),
                targets: members.iter().filter_map(|&m| self.loaded[m].as_ref()).collect(),
            })
            .collect();
        let mut prepared = self.env.prepare(id, plug, sockets, data, component, &providers)?;
        if !frozen.is_empty() {
            // A group's version is its members': one member's would not
            // change with another's.
            prepared.version = Some(freeze::group::group_version(&frozen));
        }
        prepared.frozen = frozen;
        drop(providers);
        self.env.instantiate(prepared, 0).await
    }
}

impl<P: PluginData> Env<P> {
    /// Checks a plugin's component against its plug and grants, and links
    /// its sockets to `providers` (one per socket, in order): everything but
    /// running it.
    pub(crate) fn prepare(
        &self,
        id: P::Id,
        plug: InterfaceIndex,
        sockets: Vec<InterfaceIndex>,
        data: P,
        component: Result<wasmtime::component::Component, P::Error>,
        providers: &[Provider<'_, P>],
    ) -> Result<Prepared<P>, PluginLoadError<P>> {
        let component = component.map_err(|e| LoadError::Component { plugin: id.clone(), source: Arc::new(e) })?;
        let component_type = component.component_type();
        if let Some(granted) = data.grants() {
            self.check_grants(&id, &sockets, &granted, &component_type)?;
        }
        let names = ResourceNames::of(&self.engine, &component_type);
        let exports::Plug { exports, types: plug_types, exported } =
            self.plug_exports(&id, plug, &component, &component_type, &names)?;

        let consumer = Arc::new(OnceLock::new());
        let mut imports = Vec::new();
        // Components that `use` the runtime's WIT types import an instance that
        // holds only types (`wasm-link:runtime/types` at this crate's version,
        // another, or none; `wasm-link:runtime/errors@0.4.0` of components
        // built for wasm-link 0.4); give each one so instantiation finds it.
        let runtime: Vec<&str> = component_type
            .imports(&self.engine)
            .filter(|(name, item)| name.starts_with("wasm-link:runtime/") && grants::types_only(&self.engine, &item.ty))
            .map(|(name, _)| name)
            .collect();
        let uses_runtime = !runtime.is_empty();
        // A plugin without sockets links against the user's linker as it is:
        // no copy of it per plugin.
        // A remote plugin's proxy imports its forwarders (`remote::proxy`).
        #[cfg(feature = "remote")]
        let remote = match data.remote() {
            None => None,
            Some(remote) => Some(crate::remote::Client::new(&remote).map_err(|e| LoadError::Instantiate {
                plugin: id.clone(),
                source: WasmError::new(wasmtime::Error::new(e)),
            })?),
        };
        #[cfg(not(feature = "remote"))]
        let remote: Option<()> = None;
        let own_linker = if sockets.is_empty() && !uses_runtime && remote.is_none() {
            None
        } else {
            let mut linker = self.linker.clone();
            #[cfg(feature = "remote")]
            if let Some(client) = &remote {
                let interface = &self.interfaces[plug];
                let forwarder = Arc::new(crate::remote::Forwarder {
                    client: client.clone(),
                    instance: interface.name.instance.as_str().into(),
                    clock: self.ticker.as_ref().map(|ticker| ticker.clock.clone()),
                    mode: self.mode,
                    caller: id.to_string().into(),
                });
                let functions: Vec<String> = interface.functions.iter().map(|f| f.name.clone()).collect();
                forwarder.define(&mut linker, &functions).map_err(|e| LoadError::Link {
                    plugin: id.clone(),
                    interface: interface.id.clone(),
                    source: WasmError::new(e),
                })?;
            }
            for (&socket, provider) in sockets.iter().zip(providers) {
                self.link_socket(&mut linker, &id, socket, provider, &component_type, &names, &consumer, &mut imports)?;
            }
            for name in runtime {
                // Defined already (by the user's linker): that one serves.
                let _ = linker.instance(name);
            }
            Some(linker)
        };
        let pre = own_linker
            .as_ref()
            .unwrap_or(&self.linker)
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Instantiate { plugin: id.clone(), source: WasmError::new(e) })?;
        let version = data.version();
        Ok(Prepared {
            id,
            plug,
            sockets,
            data,
            pre,
            exports,
            plug_types,
            exported,
            names,
            imports,
            consumer,
            version,
            frozen: Vec::new(),
            #[cfg(feature = "remote")]
            addresses: remote.map(|client| {
                let probe: crate::instance::health::AddressProbe = Arc::new(move || client.health());
                probe
            }),
            #[cfg(not(feature = "remote"))]
            addresses: None,
        })
    }

    /// The checks a plugin's component passes on its own, before anything
    /// is linked: its grants, its imports of the tree's interfaces (only its
    /// own sockets), its plug's exports. Freezing checks each member so
    /// before composing it: a composite links what any member imports.
    #[cfg(feature = "freeze")]
    pub(crate) fn check_alone(
        &self,
        id: &P::Id,
        plug: InterfaceIndex,
        sockets: &[InterfaceIndex],
        data: &P,
        component: &wasmtime::component::Component,
    ) -> Result<(), PluginLoadError<P>> {
        let component_type = component.component_type();
        if let Some(granted) = data.grants() {
            self.check_grants(id, sockets, &granted, &component_type)?;
        }
        for (name, _) in component_type.imports(&self.engine) {
            let interface = self
                .interfaces
                .iter()
                .position(|i| crate::spec::version::same_track(&i.name.instance, name))
                .map(InterfaceIndex);
            if let Some(interface) = interface.filter(|i| !sockets.contains(i)) {
                return Err(LoadError::SocketImport {
                    plugin: id.clone(),
                    interface: self.interfaces[interface].id.clone(),
                    reason: "imported, but not one of its sockets".to_owned(),
                });
            }
        }
        let names = ResourceNames::of(&self.engine, &component_type);
        self.plug_exports(id, plug, component, &component_type, &names).map(drop)
    }

    /// Runs a prepared plugin: its first instance, in the tree's mode.
    pub(crate) async fn instantiate(
        &self,
        prepared: Prepared<P>,
        revision: u64,
    ) -> Result<Loaded<P>, PluginLoadError<P>> {
        let Prepared {
            id,
            plug,
            sockets,
            data,
            pre,
            exports,
            plug_types,
            exported,
            names,
            imports,
            consumer,
            version,
            frozen,
            addresses,
        } = prepared;
        let clock = self.ticker.as_ref().map(|ticker| ticker.clock.clone());
        let who = Identity {
            id: id.clone(),
            frozen: frozen.into_boxed_slice(),
            plug,
            exported,
            version,
            revision,
            addresses,
        };
        let recipe = Recipe { mode: self.mode, engine: self.engine.clone(), pre, exports };
        let slot = PluginSlot::instantiate(recipe, who, data, clock).await.map_err(|source| {
            // wasmtime's words for a store that must be entered with
            // `*_async` calls: the component imports an async host function.
            if self.mode == Mode::Sync && source.to_string().contains("`*_async` functions") {
                LoadError::RequiresAsync { plugin: id.clone(), source }
            } else {
                LoadError::Instantiate { plugin: id.clone(), source }
            }
        })?;
        let _ = consumer.set(Arc::downgrade(&slot));
        tracing::debug!(plugin = %id, "plugin loaded");
        let exported = slot.exported.to_string();
        Ok(Loaded { slot, sockets, plug_types, exported, names, imports })
    }
}

/// Every resource type the interfaces declare.
fn resource_kinds<I: InterfaceData>(interfaces: &[InterfaceNode<I>]) -> ResourceKinds {
    let mut kinds = ResourceKinds::default();
    for (interface, node) in interfaces.iter().enumerate() {
        for resource in 0..node.resources.len() {
            kinds.add(InterfaceIndex(interface), resource);
        }
    }
    kinds
}
