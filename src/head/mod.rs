//! `PluginTreeHead`: the loaded tree, seen from the root socket: dispatch
//! (dynamic and typed), fan-out over the plugins behind the root, health.

mod call;
mod parallel;
mod swap;
pub(crate) mod typed;

use std::collections::HashMap;
use std::sync::Arc;

use wasmtime::component::{ResourceAny, Val};

use arc_swap::ArcSwap;

use call::{DispatchResult, RootCall, call_blocking, call_on, suspended};

use crate::dispatch_error::DispatchError;
use crate::graph::FunctionIndex;
use crate::instance::ctx::{Caller, Chain, Mode};
use crate::instance::lock::SlotLock;
use crate::instance::members::{Members, Snapshot};
use crate::instance::{CallSite, Fail, PluginSlot, drive};
use crate::load::swap::LoadedTree;
use crate::shape::root::RootPlugins;
use crate::spec::interface::InterfaceName;
use crate::{InterfaceCardinality, PluginData, Socket};

struct RootFunction<P: PluginData> {
    /// The measured cost of one plugin's call, in nanoseconds (a moving
    /// average): fan-outs of costly calls run in parallel.
    cost: std::sync::atomic::AtomicU64,
    name: Arc<str>,
    is_method: bool,
    /// Built once: errors name the interface and function without a copy.
    site: CallSite<P>,
}

/// The root node of a loaded plugin tree: the host's way into the plugins.
///
/// `PluginTreeHead` is `Send + Sync`: share it (for example in an `Arc`) and
/// call [`dispatch`](Self::dispatch) from any number of threads. Each plugin
/// serves one call at a time; calls to different plugins run in parallel.
pub struct PluginTreeHead<P: PluginData> {
    name: InterfaceName,
    instance: Arc<str>,
    cardinality: InterfaceCardinality,
    functions: Vec<RootFunction<P>>,
    by_name: HashMap<String, FunctionIndex>,
    /// The plugins behind the root, as each call reads them.
    root: Arc<Members<P>>,
    /// Every loaded plugin, sorted by id, replaced at every swap.
    all: ArcSwap<Vec<Arc<PluginSlot<P>>>>,
    /// Every plugin id the tree ever loaded, kept so that the accessors can
    /// lend ids while plugins come and go; and each id's place in it.
    ids: boxcar::Vec<P::Id>,
    id_index: parking_lot::Mutex<HashMap<P::Id, usize>>,
    /// The engine, to compile swapped-in plugins before locking the tree.
    engine: wasmtime::Engine,
    /// The plugins and what linking them needs, locked by swaps.
    tree: SlotLock<LoadedTree<P>>,
    /// Loaded with [`PluginTree::load_async`](crate::PluginTree::load_async):
    /// every store is entered asynchronously, and `dispatch` blocks on the
    /// asynchronous path.
    asynchronous: bool,
    /// What the load froze (`LoadOptions::freeze`).
    frozen: crate::FreezeReport<P::Id, P::InterfaceId>,
    /// The tree's edges, for [`stats`](Self::stats).
    stats: Arc<crate::stats::Registry<P>>,
}

/// Above this measured cost per plugin call (a moving average of the time
/// spent in the calls), a multi-plugin `dispatch` runs its calls in parallel:
/// on the calling thread and on a pool of one thread fewer than the cores
/// (`wasm-link-fan-out-N`), which claim the plugins one by one. Below it, and
/// always from inside a plugin call, the calls run in turn.
pub(crate) const PARALLEL_ABOVE: std::time::Duration = std::time::Duration::from_micros(4);

impl<P> PluginTreeHead<P>
where
    P: PluginData,
{
    pub(crate) fn new(tree: LoadedTree<P>) -> Self {
        let node = &tree.env.interfaces[tree.root];
        let instance: Arc<str> = node.name.instance.as_str().into();
        let functions: Vec<RootFunction<P>> = node
            .functions
            .iter()
            .map(|f| {
                let name: Arc<str> = f.name.as_str().into();
                RootFunction {
                    cost: std::sync::atomic::AtomicU64::new(0),
                    site: CallSite {
                        interface: instance.clone(),
                        function: name.clone(),
                        edge: tree.env.stats.edge(None, node.id.clone(), name.clone()),
                    },
                    name,
                    is_method: f.is_method,
                }
            })
            .collect();
        let by_name = functions.iter().enumerate().map(|(i, f)| (f.name.to_string(), FunctionIndex(i))).collect();
        Self {
            instance,
            name: node.name.clone(),
            cardinality: node.cardinality,
            functions,
            by_name,
            root: tree.members[tree.root].clone(),
            all: ArcSwap::from_pointee(tree.slots()),
            ids: boxcar::Vec::new(),
            id_index: parking_lot::Mutex::new(HashMap::new()),
            asynchronous: tree.env.mode == Mode::Async,
            engine: tree.env.engine.clone(),
            frozen: tree.freeze_report().clone(),
            stats: tree.env.stats.clone(),
            tree: SlotLock::new(tree),
        }
    }

    /// The plugins of a read of the root, in the root's shape.
    #[inline]
    pub(crate) fn plugins_of<'a>(&self, snapshot: &'a Snapshot<P>) -> RootPlugins<'a, P> {
        RootPlugins { cardinality: self.cardinality, slots: snapshot.as_slice() }
    }

    /// `id`, lent for as long as the head lives.
    fn lend(&self, id: &P::Id) -> &P::Id {
        let mut index = self.id_index.lock();
        let at = *index.entry(id.clone()).or_insert_with(|| self.ids.push(id.clone()));
        drop(index);
        &self.ids[at]
    }

    /// Whether the tree was loaded for asynchronous calls
    /// ([`PluginTree::load_async`](crate::PluginTree::load_async)).
    #[must_use]
    pub fn is_async(&self) -> bool {
        self.asynchronous
    }

    /// The root interface's instance name (see the crate docs' naming rule).
    #[must_use]
    pub fn interface_path(&self) -> &str {
        &self.instance
    }

    /// The root interface's cardinality.
    #[must_use]
    pub fn cardinality(&self) -> InterfaceCardinality {
        self.cardinality
    }

    /// The ids of the plugins behind the root socket, sorted.
    #[must_use]
    pub fn plugin_ids(&self) -> Vec<&P::Id> {
        self.root.load().iter().map(|slot| self.lend(&slot.id)).collect()
    }

    /// Calls, failures, re-instantiations and state of every loaded plugin,
    /// sorted by id.
    #[must_use]
    pub fn health(&self) -> Vec<crate::PluginHealth<P::Id>> {
        self.all.load().iter().map(|slot| slot.health()).collect()
    }

    /// Calls, failures and latency of every edge that was called: each root
    /// function to each plugin that served it (`consumer: None`), and each
    /// socket function of each consumer to each plugin behind it. Root
    /// functions come first, then by consumer, function and provider.
    ///
    /// Counting is on unless the tree was loaded with
    /// [`LoadOptions::stats(false)`](crate::LoadOptions::stats); it costs a
    /// few nanoseconds a call (the runtime bench's `stats` section). Calls
    /// inside a frozen group never leave wasm and are not counted.
    ///
    /// ```no_run
    /// # fn show<P: wasm_link::PluginData>(head: &wasm_link::PluginTreeHead<P>) {
    /// for edge in head.stats() {
    ///     let from = edge.consumer.as_ref().map_or("host".to_string(), ToString::to_string);
    ///     let median = edge.latency.quantile(0.5).unwrap_or_default();
    ///     println!("{from} -> {}: {} calls, {} failed, median {median:?}", edge.provider, edge.calls, edge.failures);
    /// }
    /// # }
    /// ```
    #[must_use]
    pub fn stats(&self) -> Vec<crate::EdgeStats<P::Id, P::InterfaceId>> {
        self.stats.snapshot()
    }

    /// The ids of every loaded plugin, behind the root or deeper, sorted;
    /// the members of frozen groups included.
    #[must_use]
    pub fn loaded_plugin_ids(&self) -> Vec<&P::Id> {
        let all = self.all.load();
        let mut ids: Vec<&P::Id> = all
            .iter()
            .flat_map(|slot| {
                let frozen = slot.frozen.iter().map(|(id, _)| id);
                (slot.frozen.is_empty().then_some(&slot.id)).into_iter().chain(frozen)
            })
            .map(|id| self.lend(id))
            .collect();
        ids.sort();
        ids
    }

    /// Every loaded plugin's id and version, the members of frozen groups
    /// each with its own: what a plugin directory compares its files with.
    #[cfg(feature = "dir")]
    pub(crate) fn member_versions(&self) -> Vec<(P::Id, String)> {
        let all = self.all.load();
        let mut versions = Vec::with_capacity(all.len());
        for slot in all.iter() {
            if slot.frozen.is_empty() {
                versions.push((slot.id.clone(), slot.version().to_owned()));
            } else {
                versions.extend(slot.frozen.iter().cloned());
            }
        }
        versions
    }

    /// What a load with [`LoadOptions::freeze`](crate::LoadOptions::freeze)
    /// froze: the groups composed into one component each (named by their
    /// top member, which is how calls, errors and
    /// [`health`](Self::health) name them), and the `ExactlyOne` edges left
    /// dynamic, each with its reason. Empty for any other load.
    #[must_use]
    pub fn freeze_report(&self) -> &crate::FreezeReport<P::Id, P::InterfaceId> {
        &self.frozen
    }

    /// The index of a root function: a scan of a few names beats hashing.
    fn function_index(&self, name: &str) -> Option<FunctionIndex> {
        if self.functions.len() <= 16 {
            self.functions.iter().position(|f| &*f.name == name).map(FunctionIndex)
        } else {
            self.by_name.get(name).copied()
        }
    }

    /// The names of the root interface's functions, as `dispatch` takes them.
    pub fn function_names(&self) -> impl Iterator<Item = &str> {
        self.functions.iter().map(|f| &*f.name)
    }

    /// The component type of a root function, as the first plugin behind the
    /// root exports it: its parameter and result types, for building or
    /// parsing values (for example with wasm-wave). `None` when the function
    /// is unknown or no plugin is behind the root.
    #[must_use]
    pub fn function_type(&self, function: &str) -> Option<wasmtime::component::types::ComponentFunc> {
        let index = self.function_index(function)?;
        self.root.load().first()?.function_type(index)
    }

    /// Calls `function` of the root interface on every plugin behind the root
    /// socket and returns one result per plugin, in the shape of the root's
    /// cardinality.
    ///
    /// `path` is the root interface's path in either spelling (see the naming
    /// rule in the crate docs). `has_return` says whether the function returns
    /// a value: when it is `false`, each `Ok` holds `Val::Tuple(vec![])`, a
    /// placeholder (as in wasm-link 0.1.0; later versions of it use `Val::Option(None)`).
    ///
    /// Resource methods ([`FunctionData::is_method`](crate::FunctionData::is_method))
    /// go to the plugin that owns the resource given as first argument only, so
    /// the result holds that one plugin. Resources a plugin returns stay owned
    /// by it; give them back to it as arguments, and release them with
    /// [`drop_resource`](Self::drop_resource).
    ///
    /// Failures never panic: each plugin's entry is a [`DispatchError`] naming
    /// the plugin, interface and function. After any error the plugin keeps
    /// serving later calls; a plugin whose wasm failed mid-call is
    /// re-instantiated first (the error says so), which resets its state.
    ///
    /// The calling thread blocks until every plugin answered (each within
    /// its deadline). From async code use [`dispatch_async`](Self::dispatch_async).
    /// On a tree loaded with [`PluginTree::load_async`](crate::PluginTree::load_async)
    /// this drives the asynchronous path to completion on the calling
    /// thread: it works, at the cost of a fiber per plugin call, and must
    /// not be called from inside an async task (it would block the
    /// executor's thread while another task may hold a plugin it needs).
    #[must_use]
    pub fn dispatch(
        &self,
        path: &str,
        function: &str,
        has_return: bool,
        args: &[Val],
    ) -> Socket<DispatchResult<P>, P::Id> {
        if self.asynchronous {
            return drive::block_on(drive::in_chain(self.dispatch_in(Mode::Async, path, function, has_return, args)));
        }
        let index = match self.resolve(path, function) {
            Ok(index) => index,
            Err(refused) => return refused,
        };
        let call = RootCall { site: &self.functions[index].site, index, has_return, args };
        if self.functions[index].is_method {
            return drive::on_stack(self.dispatch_method(Mode::Sync, call))
                .unwrap_or_else(|| self.each(|slot| Err(suspended(slot))));
        }
        let snapshot = self.root.load();
        let plugins = self.plugins_of(&snapshot);
        match self.cardinality {
            InterfaceCardinality::AtLeastOne | InterfaceCardinality::Any if plugins.slots.len() > 1 => {
                self.fan_out(&plugins, index, |slot| call_blocking(slot, call))
            }
            _ => plugins.each(|slot| call_blocking(slot, call)),
        }
    }

    /// The index of root function `function` of interface `path`, or the
    /// error for every plugin when there is none.
    #[inline]
    fn resolve(&self, path: &str, function: &str) -> Result<FunctionIndex, Socket<DispatchResult<P>, P::Id>> {
        if !self.name.matches(path) {
            return Err(self.each(|slot| {
                Err(DispatchError::InvalidInterface {
                    plugin: slot.id.clone(),
                    interface: path.to_owned(),
                    root: self.instance.clone(),
                })
            }));
        }
        self.function_index(function).ok_or_else(|| {
            self.each(|slot| {
                Err(DispatchError::InvalidFunction {
                    plugin: slot.id.clone(),
                    interface: self.instance.clone(),
                    function: function.to_owned(),
                })
            })
        })
    }

    /// [`dispatch`](Self::dispatch) for async hosts: the same arguments,
    /// the same results, as a `Send` future for any executor (tokio's
    /// multi-threaded runtime included).
    ///
    /// The plugins run on fibers (wasmtime's `call_async`): a plugin that
    /// runs long yields to the executor at every epoch tick (5 ms) and is
    /// still stopped at its deadline with
    /// [`BudgetExceeded`](DispatchError::BudgetExceeded), so one spinning
    /// plugin does not starve other tasks. The plugins of a multi-plugin
    /// root run concurrently as futures of this one task.
    ///
    /// This holds on a tree loaded with [`PluginTree::load_async`](crate::PluginTree::load_async),
    /// which is asynchronous all the way down: socket calls await the plugins
    /// behind them, and plugins may await async host functions of the
    /// linker. A tree loaded with [`PluginTree::load`](crate::PluginTree::load)
    /// is linked for blocking calls: there this is [`dispatch`](Self::dispatch),
    /// run to completion on the executor's thread (each plugin within its
    /// deadline, none yielding).
    ///
    /// Dropping the future mid-call abandons the call: every plugin it was
    /// inside is re-instantiated before its next call, the handles those
    /// plugins held are released, and [`PluginHealth::cancelled`](crate::PluginHealth::cancelled)
    /// counts it. Plugins the call had not reached are untouched.
    ///
    /// (A function returning the future rather than an `async fn`: on a tree
    /// loaded with `load_async` the future is the call chain's own, without
    /// a layer around it that every poll crosses.)
    pub fn dispatch_async<'a>(
        &'a self,
        path: &'a str,
        function: &'a str,
        has_return: bool,
        args: &'a [Val],
    ) -> impl Future<Output = Socket<DispatchResult<P>, P::Id>> + Send + 'a {
        if self.asynchronous {
            futures_util::future::Either::Left(drive::in_chain(self.dispatch_in(
                Mode::Async,
                path,
                function,
                has_return,
                args,
            )))
        } else {
            // Lazily, as an `async fn`: nothing runs before the first poll.
            futures_util::future::Either::Right(async move { self.dispatch(path, function, has_return, args) })
        }
    }

    /// The asynchronous dispatch: checks the name, routes methods to their
    /// owner, and calls the root's plugins concurrently. (The blocking one,
    /// [`dispatch`](Self::dispatch), makes the same steps without futures.)
    async fn dispatch_in(
        &self,
        mode: Mode,
        path: &str,
        function: &str,
        has_return: bool,
        args: &[Val],
    ) -> Socket<DispatchResult<P>, P::Id> {
        let index = match self.resolve(path, function) {
            Ok(index) => index,
            Err(refused) => return refused,
        };
        let call = RootCall { site: &self.functions[index].site, index, has_return, args };
        if self.functions[index].is_method {
            return self.dispatch_method(mode, call).await;
        }
        let snapshot = self.root.load_full();
        // The common case, borrowing its one plugin rather than a clone.
        if self.cardinality == InterfaceCardinality::ExactlyOne
            && let [slot] = snapshot.as_slice()
        {
            return Socket::ExactlyOne(call::call(mode, slot, call).await);
        }
        RootPlugins { cardinality: self.cardinality, slots: &snapshot }
            .each_async(|slot| async move { call::call(mode, &slot, call).await })
            .await
    }

    /// Calls every plugin of a multi-plugin root, in parallel when that pays.
    ///
    /// When a call has been measured to cost more than [`PARALLEL_ABOVE`],
    /// the calling thread and helper threads share the plugins (see
    /// `head::parallel`); trivial calls run in turn, since spreading them
    /// over threads costs more than it saves.
    fn fan_out(
        &self,
        plugins: &RootPlugins<'_, P>,
        index: FunctionIndex,
        f: impl Fn(&Arc<PluginSlot<P>>) -> DispatchResult<P> + Sync,
    ) -> Socket<DispatchResult<P>, P::Id> {
        use std::sync::atomic::Ordering;
        let slots = plugins.slots;
        let cost = &self.functions[index].cost;
        let nanos = |started: std::time::Instant| u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let expensive = u128::from(cost.load(Ordering::Relaxed)) > PARALLEL_ABOVE.as_nanos();
        // From a host function inside a plugin call everything stays on
        // this thread: a helper would wait for a plugin that this thread
        // holds further up its stack, while this thread waits for it.
        let (map, work): (HashMap<P::Id, DispatchResult<P>>, u64) =
            if expensive && !self.all.load().iter().any(|slot| slot.holds(Chain::this_thread())) {
                // The cost is the time spent in the calls themselves: the wall
                // time of a parallel run would count the hand-over as work.
                let timed = parallel::claim_all(slots, |slot| {
                    let started = std::time::Instant::now();
                    let result = f(slot);
                    (slot.id.clone(), result, nanos(started))
                });
                let work = timed.iter().fold(0u64, |sum, (_, _, spent)| sum.saturating_add(*spent));
                (timed.into_iter().map(|(id, result, _)| (id, result)).collect(), work)
            } else {
                let started = std::time::Instant::now();
                let map = slots.iter().map(|slot| (slot.id.clone(), f(slot))).collect();
                (map, nanos(started))
            };
        let calls = u64::try_from(slots.len()).unwrap_or(1).max(1);
        let measured = work / calls;
        let previous = cost.load(Ordering::Relaxed);
        cost.store(if previous == 0 { measured } else { previous - previous / 4 + measured / 4 }, Ordering::Relaxed);
        plugins.many(map)
    }

    /// Routes a method call to the plugin that owns its first argument.
    async fn dispatch_method(&self, mode: Mode, call: RootCall<'_, P>) -> Socket<DispatchResult<P>, P::Id> {
        let RootCall { site, args, .. } = call;
        let snapshot = self.root.load_full();
        let plugins = RootPlugins { cardinality: self.cardinality, slots: &snapshot };
        let owner = match args.first() {
            Some(Val::Resource(handle)) => snapshot.iter().find_map(|slot| slot.owner_of(handle)),
            _ => None,
        };
        let Some(owner) = owner else {
            return plugins.each(|slot| {
                Err(DispatchError::InvalidResource {
                    plugin: slot.id.clone(),
                    interface: site.interface.clone(),
                    function: site.function.clone(),
                    reason: "the first argument is not a live resource owned by a plugin behind the root socket"
                        .to_owned(),
                })
            });
        };
        // The owner itself, not any instance of its plugin: the resource
        // lives in its store.
        let result = call_on(mode, owner, call).await;
        plugins.only(owner, result)
    }

    /// A root function with Rust types for its parameters and results,
    /// checked against every plugin behind the root on first use: see
    /// [`TypedDispatch`](crate::TypedDispatch).
    ///
    /// # Errors
    /// [`DispatchError::InvalidFunction`] when the root has no such function
    /// (named after the first plugin; `None` when no plugin is behind the root).
    #[allow(clippy::type_complexity, reason = "the handle's full type, spelled once")]
    pub fn typed<Params, Results>(
        &self,
        function: &str,
    ) -> Result<crate::TypedDispatch<'_, P, Params, Results>, Option<DispatchError<P::Id>>>
    where
        Params: typed::TypedParams + Clone,
        Results: typed::TypedResults,
    {
        match self.function_index(function) {
            Some(index) => Ok(crate::TypedDispatch::new(self, index)),
            None => Err(self.root.load().first().map(|slot| DispatchError::InvalidFunction {
                plugin: slot.id.clone(),
                interface: self.instance.clone(),
                function: function.to_owned(),
            })),
        }
    }

    /// The plugins behind the root now.
    #[inline]
    pub(crate) fn root_plugins(&self) -> Snapshot<P> {
        self.root.load()
    }

    /// The plugins behind the root now, for a caller that keeps them across
    /// an `.await`.
    pub(crate) fn root_plugins_full(&self) -> Arc<Vec<Arc<PluginSlot<P>>>> {
        self.root.load_full()
    }

    pub(crate) fn site(&self, index: FunctionIndex) -> &CallSite<P> {
        &self.functions[index].site
    }

    /// Awaits `f` of every plugin behind the root socket, in its shape.
    pub(crate) async fn each_async<T, F: std::future::Future<Output = T>>(
        &self,
        f: impl Fn(Arc<PluginSlot<P>>) -> F,
    ) -> Socket<T, P::Id> {
        let snapshot = self.root.load_full();
        RootPlugins { cardinality: self.cardinality, slots: &snapshot }.each_async(f).await
    }

    /// Applies `f` to every plugin behind the root socket, in its shape.
    pub(crate) fn each<T>(&self, f: impl FnMut(&Arc<PluginSlot<P>>) -> T) -> Socket<T, P::Id> {
        let snapshot = self.root.load();
        self.plugins_of(&snapshot).each(f)
    }

    /// Releases a resource handle that a dispatch returned to the host, in the
    /// plugin that owns it (running the resource's destructor there).
    ///
    /// Returns `Ok(false)` when the handle is not live: no plugin behind the
    /// root socket owns it, it was already dropped or given away, or its plugin
    /// was re-instantiated since. Nothing happens then.
    ///
    /// # Errors
    ///
    /// A [`DispatchError::Trap`] naming the owner when the destructor trapped.
    pub fn drop_resource(&self, handle: ResourceAny) -> Result<bool, DispatchError<P::Id>> {
        if self.asynchronous {
            return drive::block_on(drive::in_chain(self.drop_resource_in(Mode::Async, handle)));
        }
        drive::now(self.drop_resource_in(Mode::Sync, handle)).unwrap_or(Ok(false))
    }

    /// [`drop_resource`](Self::drop_resource) for async hosts.
    ///
    /// # Errors
    ///
    /// A [`DispatchError::Trap`] naming the owner when the destructor trapped.
    pub async fn drop_resource_async(&self, handle: ResourceAny) -> Result<bool, DispatchError<P::Id>> {
        if !self.asynchronous {
            return self.drop_resource(handle);
        }
        drive::in_chain(self.drop_resource_in(Mode::Async, handle)).await
    }

    async fn drop_resource_in(&self, mode: Mode, handle: ResourceAny) -> Result<bool, DispatchError<P::Id>> {
        let snapshot = self.root.load_full();
        let Some(owner) = snapshot.iter().find_map(|slot| slot.owner_of(&handle)) else {
            return Ok(false);
        };
        let site = CallSite::uncounted(self.instance.clone(), "[resource-drop]".into());
        let mut entered = owner.enter_call(mode, &Caller::host_in(mode), &site).await?;
        let outcome = async {
            let live = entered.live()?;
            // Checked again under the lock: the owner may have been replaced
            // since, and an old handle must never reach a new store.
            if !live.resource_types.iter().flatten().any(|t| *t == handle.ty()) {
                return Ok(false);
            }
            match crate::instance::drop_in(mode, handle, &mut live.store).await {
                Ok(()) => Ok(true),
                Err(error) if crate::instance::invoke::wasm_failed::<P::Id>(&error) => Err(Fail::Ran(error)),
                // wasmtime refuses handles that are no longer in the table.
                Err(_) => Ok(false),
            }
        }
        .await;
        entered.finish(outcome).await
    }
}

impl<P: PluginData> Drop for PluginTreeHead<P> {
    fn drop(&mut self) {
        // Let go of every hold but the tree's, which then releases the
        // plugins without one freeing another (see `LoadedTree`'s drop).
        self.all.store(Arc::new(Vec::new()));
    }
}

/// `dispatch_async` and the typed `call_async` are `Send` futures, usable
/// from a multi-threaded executor.
#[allow(dead_code, reason = "a compile-time check")]
fn futures_are_send<P: PluginData>(head: &PluginTreeHead<P>, handle: ResourceAny) {
    fn send<T: Send>(_: T) {}
    send(head.dispatch_async("", "", false, &[]));
    send(head.drop_resource_async(handle));
    if let Ok(typed) = head.typed::<(u32,), (u32,)>("") {
        send(typed.call_async((1,)));
    }
}
