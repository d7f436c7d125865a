//! One loaded plugin: its store, its instance and its cached exports, behind a
//! lock, which names its holding thread so that re-entry is an error instead
//! of a deadlock.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

use wasmtime::component::types::ComponentFunc;
use wasmtime::component::{
    ComponentExportIndex, Func, Instance, InstancePre, ResourceAny, ResourceTable, ResourceType,
};
use wasmtime::{Engine, Store};

use crate::PluginData;
use crate::dispatch_error::{DispatchError, SocketTrap};
use crate::limits::{self, Budget, Limiter, Limits, Recovery};
use crate::wasm_error::WasmError;

/// The plug interface as the runtime resolved it for one plugin.
pub(crate) struct PlugExports {
    /// Per interface function, in interface order.
    pub(crate) functions: Vec<ComponentExportIndex>,
    /// Per interface resource, in interface order; `None` when the plugin does
    /// not export a resource the interface declares (it then cannot own any).
    pub(crate) resources: Vec<Option<ComponentExportIndex>>,
}

/// A running instance of a plugin.
pub(crate) struct Live<P: 'static> {
    pub(crate) store: Store<P>,
    pub(crate) funcs: Vec<Func>,
    pub(crate) func_types: Vec<ComponentFunc>,
    pub(crate) param_counts: Vec<usize>,
    pub(crate) result_counts: Vec<usize>,
    /// Per function, whether any parameter may hold a resource handle.
    pub(crate) param_resources: Vec<bool>,
    /// Per function, the `TypedFunc` the typed fast path last used, by type.
    pub(crate) typed: Vec<Option<Box<dyn std::any::Any + Send + Sync>>>,
    /// The guest resource types this instance defines for its plug's resources.
    pub(crate) resource_types: Vec<Option<ResourceType>>,
    /// Bumped at every instantiation: handles from an older instance are stale.
    pub(crate) generation: u64,
}

pub(crate) enum SlotState<P: 'static> {
    Live(Live<P>),
    /// The instance is gone and could not be replaced; the data is kept to try
    /// again on the next call.
    Dead(Option<P>, WasmError, u64),
}

/// A loaded plugin, shared by every consumer that sockets it and by the head.
pub(crate) struct PluginSlot<P: PluginData + 'static> {
    /// The thread holding `state` ([`this_thread`]), 0 when none does. Only
    /// the holder writes it, so a thread reading its own number here knows it
    /// holds the lock further up its stack: locking again would deadlock.
    holder: AtomicUsize,
    pub(crate) id: P::Id,
    /// `id` as the string guests see.
    pub(crate) label: Arc<str>,
    pub(crate) engine: Engine,
    pre: InstancePre<P>,
    exports: PlugExports,
    state: Mutex<SlotState<P>>,
    /// Owned handles released while the slot was busy on the releasing thread.
    deferred: Mutex<Vec<(u64, ResourceAny)>>,
    /// Whether `deferred` may hold handles: read on every entry, locked rarely.
    has_deferred: AtomicBool,
    /// Copies of the live instance's generation and resource types, readable
    /// while the instance is busy (a consumer inside a call cannot lock itself).
    generation: AtomicU64,
    resource_types: RwLock<Vec<Option<ResourceType>>>,
    pub(crate) limits: Limits,
    recovery: Recovery,
    /// Handles of other plugins this plugin holds now (its proxies).
    pub(crate) handles: Arc<AtomicUsize>,
    health: Mutex<Health>,
    calls: AtomicU64,
    quarantined: AtomicBool,
    /// What the engine enforces, read once.
    epochs: bool,
    /// The engine's ticker clock, when it interrupts.
    clock: Option<Arc<AtomicU64>>,
    fuel: bool,
}

/// Calls and failures of one plugin, for recovery and for
/// [`PluginTreeHead::health`](crate::PluginTreeHead::health).
#[derive(Default)]
struct Health {
    failures: u64,
    reinstantiations: u64,
    last_error: Option<String>,
    /// When recent failures happened, for the quarantine window.
    recent: std::collections::VecDeque<Instant>,
    quarantined_until: Option<Instant>,
}

thread_local! {
    /// Its address identifies the current thread: cheaper than a `ThreadId`
    /// (no destructor, no lazy initialisation), and never 0.
    static THREAD_MARK: u8 = const { 0 };
}

/// A number unique to the current thread among the running threads.
fn this_thread() -> usize {
    THREAD_MARK.with(|mark| std::ptr::from_ref(mark).addr())
}

/// Whether the current thread is outside every plugin call: only then may a
/// dispatch fan out to other threads, which would not see that this thread
/// holds the plugins on its call chain.
pub(crate) fn outside_plugins() -> bool {
    limits::depth() == 0
}

/// The slot is already busy on this thread's call chain.
pub(crate) struct Reentered;

/// Exclusive access to a slot's state for one call; the slot stops naming
/// this thread as its holder when dropped, just before the lock is released.
pub(crate) struct Busy<'a, P: 'static> {
    pub(crate) state: MutexGuard<'a, SlotState<P>>,
    holder: &'a AtomicUsize,
}

impl<P> Drop for Busy<'_, P> {
    fn drop(&mut self) {
        self.holder.store(0, Ordering::Relaxed);
    }
}

impl<P: PluginData + Send + 'static> PluginSlot<P> {
    /// Instantiates a plugin for the first time.
    pub(crate) fn instantiate(
        id: P::Id,
        engine: &Engine,
        pre: InstancePre<P>,
        exports: PlugExports,
        data: P,
        clock: Option<Arc<AtomicU64>>,
    ) -> Result<Arc<Self>, WasmError> {
        let limits = data.limits();
        let recovery = data.recovery();
        let live = start(engine, &pre, &exports, data, 0, &limits, clock.as_deref()).map_err(|(_, e)| e)?;
        let resource_types = RwLock::new(live.resource_types.clone());
        Ok(Arc::new(Self {
            generation: AtomicU64::new(0),
            resource_types,
            holder: AtomicUsize::new(0),
            label: id.to_string().into(),
            id,
            engine: engine.clone(),
            pre,
            exports,
            state: Mutex::new(SlotState::Live(live)),
            deferred: Mutex::new(Vec::new()),
            has_deferred: AtomicBool::new(false),
            limits,
            recovery,
            handles: Arc::new(AtomicUsize::new(0)),
            health: Mutex::new(Health::default()),
            calls: AtomicU64::new(0),
            quarantined: AtomicBool::new(false),
            epochs: engine.get_epoch_interruption(),
            clock,
            fuel: engine.get_consume_fuel(),
        }))
    }

    /// Locks the slot for the current thread.
    ///
    /// Fails instead of blocking when this thread already holds it further up
    /// its call chain, which would otherwise deadlock. Handles released while the slot was busy are
    /// dropped here, in the owner's store.
    pub(crate) fn enter(&self) -> Result<Busy<'_, P>, Reentered> {
        let me = this_thread();
        if self.holder.load(Ordering::Relaxed) == me {
            return Err(Reentered);
        }
        // A panic while the lock was held (in user host code) leaves the state
        // as consistent as after a trap; keep serving.
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        self.holder.store(me, Ordering::Relaxed);
        let mut busy = Busy { state, holder: &self.holder };
        // A load first: the swap is a write on every call otherwise.
        let pending = if self.has_deferred.load(Ordering::Acquire) && self.has_deferred.swap(false, Ordering::AcqRel) {
            std::mem::take(&mut *self.deferred.lock().unwrap_or_else(PoisonError::into_inner))
        } else {
            Vec::new()
        };
        if !pending.is_empty()
            && let SlotState::Live(live) = &mut *busy.state
        {
            for (generation, handle) in pending {
                if generation == live.generation {
                    drop_handle(&self.label, live, handle);
                }
            }
        }
        Ok(busy)
    }

    /// Releases an owned handle of one of this plugin's resources that a
    /// consumer (or the host) dropped.
    pub(crate) fn release(&self, generation: u64, handle: ResourceAny) {
        if self.holder.load(Ordering::Relaxed) == this_thread() {
            // The owner is busy further up this very thread: dropping now would
            // deadlock. Its next entry drops it.
            self.deferred.lock().unwrap_or_else(PoisonError::into_inner).push((generation, handle));
            self.has_deferred.store(true, Ordering::Release);
            return;
        }
        let Ok(mut busy) = self.enter() else { return };
        if let SlotState::Live(live) = &mut *busy.state
            && live.generation == generation
        {
            drop_handle(&self.label, live, handle);
        }
    }

    /// Replaces the instance after a failure left it in an unknown state.
    ///
    /// The plugin's resource table is replaced too: the handles other plugins
    /// lent it belong to the old instance, and dropping the old table returns
    /// them to their owners. Returns whether a new instance is running.
    pub(crate) fn reinstantiate(&self, state: &mut SlotState<P>) -> bool {
        let (data, generation) = match std::mem::replace(state, SlotState::Dead(None, dead_placeholder(), 0)) {
            SlotState::Live(live) => (Some(live.store.into_data()), live.generation + 1),
            SlotState::Dead(data, _, generation) => (data, generation + 1),
        };
        let Some(mut data) = data else { return false };
        // Dropping the old table drops the proxies in it, which releases the
        // handles they hold in their owners.
        drop(std::mem::replace(data.resource_table(), ResourceTable::new()));
        match start(&self.engine, &self.pre, &self.exports, data, generation, &self.limits, self.clock.as_deref()) {
            Ok(live) => {
                self.health.lock().unwrap_or_else(PoisonError::into_inner).reinstantiations += 1;
                tracing::info!(plugin = %self.label, generation, "plugin re-instantiated after a failure");
                self.resource_types.write().unwrap_or_else(PoisonError::into_inner).clone_from(&live.resource_types);
                self.generation.store(generation, Ordering::Release);
                *state = SlotState::Live(live);
                true
            }
            Err((data, error)) => {
                tracing::warn!(plugin = %self.label, %error, "plugin could not be re-instantiated");
                *state = SlotState::Dead(data, error, generation);
                false
            }
        }
    }
}

impl<P: PluginData + Send + 'static> PluginSlot<P> {
    /// The generation of the current instance.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The resource types the current instance defines.
    pub(crate) fn resource_types(&self) -> std::sync::RwLockReadGuard<'_, Vec<Option<ResourceType>>> {
        self.resource_types.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The type of plug function `index` in the current instance.
    pub(crate) fn function_type(&self, index: usize) -> Option<ComponentFunc> {
        let busy = self.enter().ok()?;
        match &*busy.state {
            SlotState::Live(live) => live.func_types.get(index).cloned(),
            SlotState::Dead(..) => None,
        }
    }

    /// Whether the current instance defines the type of `handle`.
    pub(crate) fn defines(&self, handle: &ResourceAny) -> bool {
        self.resource_types().iter().flatten().any(|t| *t == handle.ty())
    }

    /// Runs one call on the plugin: enters it (an error on re-entry), revives
    /// a dead instance, runs `body` on the live one, and after a failure inside
    /// wasm replaces the instance so the next call finds a sound one.
    pub(crate) fn call<R>(
        &self,
        site: &Site,
        body: impl FnOnce(&mut Live<P>) -> Result<R, CallFailure<P::Id>>,
    ) -> Result<R, DispatchError<P::Id>> {
        let Ok(mut busy) = self.enter() else {
            return Err(DispatchError::Reentrant {
                plugin: self.id.clone(),
                interface: site.interface.clone(),
                function: site.function.clone(),
            });
        };
        if let Some(remaining) = self.quarantine_remaining() {
            return Err(DispatchError::Quarantined {
                plugin: self.id.clone(),
                interface: site.interface.clone(),
                function: site.function.clone(),
                remaining,
            });
        }
        if let SlotState::Dead(..) = &*busy.state {
            self.reinstantiate(&mut busy.state);
        }
        let live = match &mut *busy.state {
            SlotState::Live(live) => live,
            SlotState::Dead(_, error, _) => {
                return Err(DispatchError::Unavailable {
                    plugin: self.id.clone(),
                    interface: site.interface.clone(),
                    function: site.function.clone(),
                    source: error.clone(),
                });
            }
        };
        let ticks = limits::enter(&self.limits, self.clock.as_deref());
        if self.epochs {
            live.store.set_epoch_deadline(ticks);
        }
        let fuel = self.fuel.then(|| self.limits.fuel.unwrap_or(u64::MAX));
        if let Some(fuel) = fuel {
            // Cannot fail: the engine consumes fuel.
            let _ = live.store.set_fuel(fuel);
        }
        let outcome = body(live);
        let budget = limits::leave();
        // Only the lock holder writes the count: no atomic read-modify-write.
        self.calls.store(self.calls.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
        match outcome {
            Ok(value) => Ok(value),
            Err(failure) => {
                let error = self.conclude(site, failure, budget, fuel, &mut busy.state);
                self.record_failure(&error);
                Err(error)
            }
        }
    }

    /// Turns a call body's failure into the call's error, replacing the
    /// instance after a failure inside wasm. Out of line: the successful
    /// path stays small and returns its value in registers.
    #[cold]
    fn conclude(
        &self,
        site: &Site,
        failure: CallFailure<P::Id>,
        budget: Option<limits::CallBudget>,
        fuel: Option<u64>,
        state: &mut SlotState<P>,
    ) -> DispatchError<P::Id> {
        match failure {
            CallFailure::Dispatch(error) => error,
            CallFailure::InvalidArguments(error) => DispatchError::InvalidArguments {
                plugin: self.id.clone(),
                interface: site.interface.clone(),
                function: site.function.clone(),
                source: WasmError::new(error),
            },
            CallFailure::Ran(error) => {
                let socket = error
                    .chain()
                    .find_map(|cause| cause.downcast_ref::<SocketTrap<P::Id>>())
                    .map(|trap| crate::dispatch_error::NestedDispatchError(trap.0.clone()));
                let exceeded = match (error.downcast_ref::<wasmtime::Trap>(), &budget) {
                    (Some(wasmtime::Trap::Interrupt), Some(call)) => {
                        Some(Budget::Deadline { limit: call.deadline, elapsed: call.elapsed(self.clock.as_deref()) })
                    }
                    (Some(wasmtime::Trap::OutOfFuel), _) => Some(Budget::Fuel { limit: fuel.unwrap_or_default() }),
                    _ => budget.and_then(|call| call.hit),
                };
                let reinstantiated = self.reinstantiate(state);
                if let Some(budget) = exceeded {
                    tracing::warn!(plugin = %self.label, %budget, "plugin exceeded its budget");
                    return DispatchError::BudgetExceeded {
                        plugin: self.id.clone(),
                        interface: site.interface.clone(),
                        function: site.function.clone(),
                        budget,
                        reinstantiated,
                    };
                }
                match socket {
                    Some(source) => DispatchError::Socket {
                        plugin: self.id.clone(),
                        interface: site.interface.clone(),
                        function: site.function.clone(),
                        reinstantiated,
                        source,
                    },
                    None => DispatchError::Trap {
                        plugin: self.id.clone(),
                        interface: site.interface.clone(),
                        function: site.function.clone(),
                        reinstantiated,
                        source: WasmError::new(error),
                    },
                }
            }
        }
    }
}

impl<P: PluginData + Send + 'static> PluginSlot<P> {
    /// How long the plugin stays quarantined, if it is.
    #[inline]
    fn quarantine_remaining(&self) -> Option<Duration> {
        // The common case, without taking the health lock on every call.
        if !self.quarantined.load(Ordering::Acquire) {
            return None;
        }
        self.quarantine_left()
    }

    #[cold]
    fn quarantine_left(&self) -> Option<Duration> {
        let mut health = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        let until = health.quarantined_until?;
        let remaining = until.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            health.quarantined_until = None;
            health.recent.clear();
            self.quarantined.store(false, Ordering::Release);
            tracing::info!(plugin = %self.label, "plugin leaves quarantine");
            return None;
        }
        Some(remaining)
    }

    /// Counts a call, and a failure, quarantining the plugin when its
    /// recovery policy says so.
    fn record_failure(&self, error: &DispatchError<P::Id>) {
        // Errors in the caller's use of the plugin are not the plugin's fault.
        if !matches!(
            error,
            DispatchError::Trap { .. }
                | DispatchError::Socket { .. }
                | DispatchError::BudgetExceeded { .. }
                | DispatchError::Unavailable { .. }
        ) {
            return;
        }
        let mut health = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        health.failures += 1;
        health.last_error = Some(error.to_string());
        let Some(policy) = &self.recovery.quarantine else { return };
        let now = Instant::now();
        health.recent.push_back(now);
        while health.recent.front().is_some_and(|t| now.duration_since(*t) > policy.window) {
            health.recent.pop_front();
        }
        if health.recent.len() >= usize::try_from(policy.failures).unwrap_or(usize::MAX) {
            health.quarantined_until = Some(now + policy.cooldown);
            self.quarantined.store(true, Ordering::Release);
            tracing::warn!(plugin = %self.label, cooldown = ?policy.cooldown, "plugin quarantined after repeated failures");
        }
    }

    /// The plugin's health, for the head.
    pub(crate) fn health(&self) -> crate::PluginHealth<P::Id> {
        let remaining = self.quarantine_remaining();
        let dead = matches!(&*self.state.lock().unwrap_or_else(PoisonError::into_inner), SlotState::Dead(..));
        let health = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        crate::PluginHealth {
            plugin: self.id.clone(),
            calls: self.calls.load(Ordering::Relaxed),
            failures: health.failures,
            reinstantiations: health.reinstantiations,
            last_error: health.last_error.clone(),
            state: match (remaining, dead) {
                (Some(remaining), _) => crate::PluginState::Quarantined { remaining },
                (None, true) => crate::PluginState::Unavailable,
                (None, false) => crate::PluginState::Running,
            },
            held_handles: self.handles.load(Ordering::Relaxed),
        }
    }
}

/// The interface and function a call is for, as named in errors.
#[derive(Clone)]
pub(crate) struct Site {
    pub(crate) interface: Arc<str>,
    pub(crate) function: Arc<str>,
}

/// How a call body failed.
pub(crate) enum CallFailure<Id: std::fmt::Debug + std::fmt::Display + 'static> {
    /// Nothing ran: the error is complete as it is.
    Dispatch(DispatchError<Id>),
    /// wasmtime rejected the arguments before entering wasm.
    InvalidArguments(wasmtime::Error),
    /// wasm ran and failed: the instance is in an unknown state.
    Ran(wasmtime::Error),
}

fn dead_placeholder() -> WasmError {
    WasmError::new(wasmtime::format_err!("instance is being replaced"))
}

fn drop_handle<P>(label: &str, live: &mut Live<P>, handle: ResourceAny) {
    if let Err(error) = handle.resource_drop(&mut live.store) {
        tracing::warn!(plugin = %label, error = %WasmError::new(error), "dropping a resource failed");
    }
}

/// Creates a store for `data` and instantiates the plugin in it, resolving its
/// plug's exports. On failure the data is handed back.
fn start<P: 'static>(
    engine: &Engine,
    pre: &InstancePre<P>,
    exports: &PlugExports,
    data: P,
    generation: u64,
    limits: &Limits,
    clock: Option<&AtomicU64>,
) -> Result<Live<P>, (Option<P>, WasmError)> {
    let mut store = Store::new(engine, data);
    // `Limiter` is zero-sized: leaking a box of it allocates nothing.
    store.limiter(|_| Box::leak(Box::new(Limiter)));
    let ticks = limits::enter(limits, clock);
    if engine.get_epoch_interruption() {
        store.epoch_deadline_trap();
        store.set_epoch_deadline(ticks);
    }
    if engine.get_consume_fuel() {
        let _ = store.set_fuel(limits.fuel.unwrap_or(u64::MAX));
    }
    let instantiated = pre.instantiate(&mut store);
    let budget = limits::leave();
    let instance: Instance = match instantiated {
        Ok(instance) => instance,
        Err(error) => {
            let error = match budget.and_then(|b| b.hit) {
                Some(budget) => error.context(format!("instantiation exceeded its budget: {budget}")),
                None => error,
            };
            return Err((Some(store.into_data()), WasmError::new(error)));
        }
    };
    let mut funcs = Vec::with_capacity(exports.functions.len());
    for index in &exports.functions {
        if let Some(func) = instance.get_func(&mut store, index) {
            funcs.push(func);
        } else {
            let error = wasmtime::format_err!("an export checked at load time is missing");
            return Err((Some(store.into_data()), WasmError::new(error)));
        }
    }
    let func_types: Vec<ComponentFunc> = funcs.iter().map(|f| f.ty(&store)).collect();
    let resource_types = exports
        .resources
        .iter()
        .map(|index| index.as_ref().and_then(|index| instance.get_resource(&mut store, index)))
        .collect();
    Ok(Live {
        param_counts: func_types.iter().map(|t| t.params().len()).collect(),
        result_counts: func_types.iter().map(|t| t.results().len()).collect(),
        typed: (0..func_types.len()).map(|_| None).collect(),
        param_resources: func_types
            .iter()
            .map(|t| t.params().any(|(_, ty)| crate::types::has_resources(&ty)))
            .collect(),
        store,
        funcs,
        func_types,
        resource_types,
        generation,
    })
}
