//! `PluginTree::load`: compile, link and instantiate plugins bottom-up.

mod compile;
mod error;
mod exports;
pub(crate) mod grants;
mod link;
mod order;

use std::sync::{Arc, OnceLock};

use wasmtime::Engine;
use wasmtime::component::Linker;
use wasmtime::component::types::ComponentFunc;

pub(crate) use self::error::TreeLoadError;
pub use self::error::{LoadError, NestedLoadError};
use crate::graph::{Defect, InterfaceNode, PluginNode};
use crate::head::PluginTreeHead;
use crate::instance::ctx::{Mode, PluginCtx};
use crate::instance::{PluginSlot, Teardown, drive};
use crate::shape::root::RootPlugins;
use crate::socket::resources::ResourceKinds;
use crate::types::ResourceNames;
use crate::wasm_error::WasmError;
use crate::{InterfaceData, PartialResult, PluginData, PluginTree};

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
    /// How the plugins are instantiated and how their sockets call.
    mode: Mode,
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
        let root_id = self.root_id.clone();
        // A synchronous load completes in its first poll: every step blocks.
        drive::now(self.load_in(Mode::Sync, engine, linker))
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
        drive::in_chain(self.load_in(Mode::Async, engine, linker)).await
    }

    async fn load_in(
        self,
        mode: Mode,
        engine: &Engine,
        linker: &Linker<PluginCtx<P>>,
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
            mode,
        };
        let mut nodes: Vec<Option<PluginNode<P>>> = plugins.into_iter().map(Some).collect();
        // A plugin that cannot load whatever its component holds is not compiled.
        let sound: Vec<usize> =
            order.iter().copied().filter(|&index| nodes[index].as_ref().is_some_and(|n| n.defect.is_none())).collect();
        let mut compiled = compile::compile_all(engine, &sound, &mut nodes);
        let mut load_order = Vec::new();
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
                match loader.load_plugin(node, component).await {
                    Ok(plugin) => {
                        loader.loaded[index] = Some(plugin);
                        load_order.push(index);
                    }
                    Err(error) => {
                        tracing::warn!(%error, "plugin not loaded");
                        loader.errors.push(error);
                    }
                }
            }
        }
        let teardown =
            Teardown(load_order.iter().filter_map(|&i| loader.loaded[i].as_ref().map(|l| l.slot.clone())).collect());
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
                    let errors = std::mem::take(&mut loader.errors);
                    // The loader's holds go first, then the plugins, consumers first.
                    drop(loader);
                    drop(teardown);
                    return Err((error, errors));
                };
                let mut all: Vec<_> = loader.loaded.iter().flatten().map(|l| l.slot.clone()).collect();
                all.sort_by(|a, b| a.id.cmp(&b.id));
                let head = PluginTreeHead::new(
                    node,
                    plugins,
                    all,
                    teardown,
                    loader.kinds.clone(),
                    ticker,
                    mode == Mode::Async,
                );
                Ok((head, loader.errors))
            }
            Err(primary) => {
                let primary = Arc::try_unwrap(primary).unwrap_or_else(|shared| (*shared).clone());
                let errors = std::mem::take(&mut loader.errors);
                drop(loader);
                drop(teardown);
                Err((primary, errors))
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

    async fn load_plugin(
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
        let slot = PluginSlot::instantiate(self.mode, id.clone(), self.engine, pre, exports, data, clock)
            .await
            .map_err(|source| {
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
        Ok(Loaded { slot, plug_types, names })
    }
}

/// Every resource type the interfaces declare.
fn resource_kinds<I: InterfaceData>(interfaces: &[InterfaceNode<I>]) -> ResourceKinds {
    let mut kinds = ResourceKinds::default();
    for (interface, node) in interfaces.iter().enumerate() {
        for resource in 0..node.resources.len() {
            kinds.add(interface, resource);
        }
    }
    kinds
}
