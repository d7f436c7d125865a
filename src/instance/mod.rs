//! One loaded plugin: its store, its instance and its cached exports, behind
//! a lock; the one way into it ([`invoke`]); its recovery and health.
//!
//! - [`ctx`]: the store's data, [`PluginCtx`](ctx::PluginCtx): the user's
//!   plugin value and the state of the call in progress (budgets, chain,
//!   depth).
//! - [`invoke`]: entering the plugin for one call, the one place that calls
//!   a plugin function and decides what a failure was and whose it was.

pub(crate) mod ctx;
pub(crate) mod drive;
pub(crate) mod health;
pub(crate) mod invoke;
pub(crate) mod lock;
pub(crate) mod members;
mod pool;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use wasmtime::component::types::ComponentFunc;
use wasmtime::component::{
    ComponentExportIndex, Func, Instance, InstancePre, ResourceAny, ResourceTable, ResourceType,
};
use wasmtime::{Engine, Store};

use crate::PluginData;
use crate::graph::{FunctionIndex, InterfaceIndex};
use crate::limits::{self, Clock, Limits, Recovery};
use crate::wasm_error::WasmError;
use ctx::{CallState, Caller, Chain, Mode, PluginCtx};
use lock::{SlotGuard, SlotLock};

/// The least time, in ticks, a destructor run for a dropping call gets,
/// whatever that call has left.
const DESTRUCTOR_TICKS: u64 = 2;

pub(crate) use invoke::{CallSite, Fail};

/// How to make an instance of a plugin: what its first start, each of its
/// pool's instances and each re-instantiation are given.
pub(crate) struct Recipe<P: 'static> {
    pub(crate) mode: Mode,
    pub(crate) engine: Engine,
    pub(crate) pre: InstancePre<PluginCtx<P>>,
    pub(crate) exports: PlugExports,
}

// By hand: a derive would ask `P: Clone` of the plugin type.
impl<P> Clone for Recipe<P> {
    fn clone(&self) -> Self {
        Self { mode: self.mode, engine: self.engine.clone(), pre: self.pre.clone(), exports: self.exports.clone() }
    }
}

/// The plug interface as the runtime resolved it for one plugin.
#[derive(Clone)]
pub(crate) struct PlugExports {
    /// Per interface function, in interface order.
    pub(crate) functions: Vec<ComponentExportIndex>,
    /// Per interface resource, in interface order; `None` when the plugin does
    /// not export a resource the interface declares (it then cannot own any).
    pub(crate) resources: Vec<Option<ComponentExportIndex>>,
}

/// A running instance of a plugin.
pub(crate) struct Live<P: 'static> {
    pub(crate) store: Store<PluginCtx<P>>,
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
    /// A call unwound (a panic in a host function) while inside the
    /// instance: its state is unknown, it is replaced before the next call.
    pub(crate) tainted: bool,
    /// The engine's ticker clock: an asynchronous call races its end.
    pub(crate) clock: Option<Arc<Clock>>,
    /// The recorders of the edges that call this instance.
    pub(crate) inbound: crate::stats::Inbound,
}

#[allow(clippy::large_enum_variant, reason = "`Live` is the state nearly every call finds: no box to chase")]
pub(crate) enum SlotState<P: 'static> {
    Live(Live<P>),
    /// The instance is gone and could not be replaced; the data is kept to try
    /// again on the next call.
    Dead {
        /// The plugin's data, for the next try; `None` once a try consumed
        /// it without giving it back.
        data: Option<P>,
        /// Why the last try failed, as every call refused meanwhile reports.
        error: WasmError,
        /// The generation the failed try would have been.
        generation: u64,
    },
}

/// A loaded plugin, shared by every consumer that sockets it and by the head.
pub(crate) struct PluginSlot<P: PluginData> {
    /// The chain of the call holding `state` ([`Chain`]), 0 when none does.
    /// Only the holder writes it, so a call reading its own chain here knows
    /// the plugin is busy further up that very chain: waiting would deadlock.
    busy: AtomicU64,
    pub(crate) id: P::Id,
    /// The members of the frozen group this instance runs, itself first,
    /// each with its own version (`load::freeze`); empty when not frozen.
    pub(crate) frozen: Box<[(P::Id, String)]>,
    /// `id` as the string guests see.
    pub(crate) label: Arc<str>,
    /// The interface it plugs into.
    pub(crate) plug: InterfaceIndex,
    /// The name it exports its plug under, with the version it serves.
    pub(crate) exported: Box<str>,
    /// Its code's name, given or hashed on first use (see
    /// [`PluginHealth::version`](crate::PluginHealth::version)).
    version: std::sync::OnceLock<String>,
    /// Swaps of this id that preceded this version.
    pub(crate) revision: u64,
    /// When this version began to serve.
    since: std::time::SystemTime,
    /// How its instances are made (again after a failure).
    recipe: Recipe<P>,
    /// Whether the plugin was loaded for asynchronous calls
    /// ([`PluginTree::load_async`](crate::PluginTree::load_async)): its store
    /// is then entered with `*_async` calls only.
    pub(crate) asynchronous: bool,
    /// The plug's function types, the same for every instance.
    func_types: Vec<ComponentFunc>,
    /// Waited for by blocking in a synchronous call and by awaiting in an
    /// asynchronous one; its guard may be held across an `.await`.
    state: SlotLock<SlotState<P>>,
    /// Owned handles released while the slot was busy.
    deferred: Mutex<Vec<(u64, ResourceAny)>>,
    /// Whether `deferred` may hold handles: read on every entry, locked rarely.
    has_deferred: AtomicBool,
    /// Copies of the live instance's generation and resource types, readable
    /// while the instance is busy (a consumer inside a call cannot lock itself).
    generation: AtomicU64,
    resource_types: RwLock<Vec<Option<ResourceType>>>,
    pub(crate) limits: Limits,
    /// `limits.deadline` in ticks, computed once.
    deadline_ticks: u64,
    recovery: Recovery,
    /// Handles of other plugins this plugin holds now (its proxies).
    pub(crate) handles: Arc<AtomicUsize>,
    /// Health and quarantine, shared by the instances of a pooled plugin:
    /// budgets, recovery and health are the plugin's, not an instance's.
    shared: Arc<Shared<P>>,
    calls: AtomicU64,
    /// The other instances of a pooled plugin ([`PluginData::instances`]),
    /// on the first one; empty otherwise.
    replicas: Box<[Arc<PluginSlot<P>>]>,
    /// Which instance this is (0 for the first).
    replica: u32,
    /// Where the search for a free instance starts next.
    next: AtomicUsize,
    /// What the engine enforces, read once.
    epochs: bool,
    /// The engine's ticker clock, when it interrupts.
    clock: Option<Arc<Clock>>,
    fuel: bool,
    /// A remote plugin's servers' health.
    addresses: Option<health::AddressProbe>,
}

/// The most instances one plugin may have
/// ([`PluginData::instances`](crate::PluginData::instances) is capped here):
/// a manifest asking for a million must not take the host's memory.
pub(crate) const MAX_INSTANCES: usize = 64;

/// What the instances of one plugin share.
struct Shared<P: PluginData> {
    health: Mutex<Health>,
    quarantined: AtomicBool,
    /// The first instance, which holds the others: a call routed to one
    /// instance asks it whether its chain is in another.
    first: std::sync::OnceLock<std::sync::Weak<PluginSlot<P>>>,
}

impl<P: PluginData> Default for Shared<P> {
    fn default() -> Self {
        Self { health: Mutex::default(), quarantined: AtomicBool::new(false), first: std::sync::OnceLock::new() }
    }
}

/// Calls and failures of one plugin, for recovery and for
/// [`PluginTreeHead::health`](crate::PluginTreeHead::health).
#[derive(Default)]
struct Health {
    failures: u64,
    reinstantiations: u64,
    last_error: Option<String>,
    /// Calls abandoned mid-call (their future dropped, or unwound by a
    /// panic in a host function).
    cancelled: u64,
    /// When recent failures happened, for the quarantine window.
    recent: std::collections::VecDeque<Instant>,
    quarantined_until: Option<Instant>,
}

/// Why a call could not take the slot.
#[derive(Clone, Copy)]
pub(crate) enum NotEntered {
    /// The slot is already busy on the caller's own chain.
    Reentered,
    /// An asynchronous call waited for the slot until its deadline (the
    /// holder is a call whose future stopped being polled, or a queue longer
    /// than the deadline): the deadline that applied.
    TimedOut(std::time::Duration),
}

/// Exclusive access to a slot's state for one call. Dropped, it stops
/// naming the chain as the holder.
pub(crate) struct Busy<'a, P: 'static> {
    pub(crate) state: SlotGuard<'a, SlotState<P>>,
    busy: &'a AtomicU64,
}

impl<P> Drop for Busy<'_, P> {
    fn drop(&mut self) {
        self.busy.store(Chain::NONE.0, Ordering::Relaxed);
    }
}

impl<P: PluginData> PluginSlot<P> {
    /// Instantiates a plugin for the first time, in `mode`: an
    /// asynchronous plugin is instantiated (and later re-instantiated) with
    /// `instantiate_async` and called with `*_async` calls only.
    pub(crate) async fn instantiate(
        recipe: Recipe<P>,
        who: Identity<P::Id>,
        data: P,
        clock: Option<Arc<Clock>>,
    ) -> Result<Arc<Self>, WasmError> {
        // A pooled plugin's other instances first, each from a value of its
        // own; they share the first one's health.
        let shared = Arc::new(Shared::default());
        let wanted = data.instances().clamp(1, MAX_INSTANCES);
        let mut replicas = Vec::with_capacity(wanted - 1);
        for replica in 1..wanted {
            let Some(value) = data.replica() else { break };
            let place = Place {
                shared: shared.clone(),
                replica: u32::try_from(replica).unwrap_or(u32::MAX),
                replicas: Box::new([]),
            };
            replicas.push(Box::pin(Self::build(recipe.clone(), who.clone(), value, clock.clone(), place)).await?);
        }
        let place = Place { shared: shared.clone(), replica: 0, replicas: replicas.into_boxed_slice() };
        // Replicas of a remote plugin share its servers' health; only the
        // first reports it.
        let first = Self::build(recipe, who, data, clock, place).await?;
        let _ = shared.first.set(Arc::downgrade(&first));
        Ok(first)
    }

    /// One instance of a plugin, at its place in the plugin's pool.
    async fn build(
        recipe: Recipe<P>,
        who: Identity<P::Id>,
        data: P,
        clock: Option<Arc<Clock>>,
        place: Place<P>,
    ) -> Result<Arc<Self>, WasmError> {
        let Identity { id, frozen, plug, exported, version, revision, addresses } = who;
        let Place { shared, replica, replicas } = place;
        let mut limits = data.limits();
        if frozen.len() > 1 {
            // A frozen group's memories and tables add up in one store: each
            // member keeps the budget it would have alone.
            let members = frozen.len();
            limits.memory = limits.memory.saturating_mul(members);
            limits.table_elements = limits.table_elements.saturating_mul(members);
        }
        let recovery = data.recovery();
        let (epochs, fuel) = (recipe.engine.get_epoch_interruption(), recipe.engine.get_consume_fuel());
        // Counted from the start function on: handles it receives through
        // its sockets are held like any other.
        let handles = Arc::new(AtomicUsize::new(0));
        let mut live =
            start(&recipe, recipe.mode, data, 0, &limits, clock.as_ref(), &handles).await.map_err(|(_, e)| e)?;
        live.store.data_mut().replica = replica;
        let resource_types = RwLock::new(live.resource_types.clone());
        Ok(Arc::new(Self {
            asynchronous: recipe.mode == Mode::Async,
            func_types: live.func_types.clone(),
            generation: AtomicU64::new(0),
            resource_types,
            busy: AtomicU64::new(Chain::NONE.0),
            label: id.to_string().into(),
            id,
            frozen,
            plug,
            exported: exported.into_boxed_str(),
            version: version.map(std::sync::OnceLock::from).unwrap_or_default(),
            revision,
            since: std::time::SystemTime::now(),
            recipe,
            state: SlotLock::new(SlotState::Live(live)),
            deferred: Mutex::new(Vec::new()),
            has_deferred: AtomicBool::new(false),
            deadline_ticks: limits::ticks(limits.deadline),
            limits,
            recovery,
            handles,
            shared,
            calls: AtomicU64::new(0),
            replicas,
            replica,
            next: AtomicUsize::new(0),
            epochs,
            clock,
            fuel,
            addresses,
        }))
    }

    /// Whether a call of `chain` holds the slot now.
    #[inline]
    pub(crate) fn is_busy_on(&self, chain: Chain) -> bool {
        chain != Chain::NONE && self.busy.load(Ordering::Relaxed) == chain.0
    }

    /// Locks the slot for a call of `chain`, blocking for the lock.
    ///
    /// Fails instead of waiting when the chain already holds it further up,
    /// which would otherwise deadlock. Handles released while the slot was
    /// busy are dropped here, in the owner's store. Always inlined: see
    /// `PluginSlot::admit`.
    #[allow(clippy::inline_always, reason = "measured: see `PluginSlot::admit`")]
    #[inline(always)]
    pub(crate) fn hold_blocking(&self, caller: &Caller) -> Result<Busy<'_, P>, NotEntered> {
        let chain = caller.chain;
        if self.is_busy_on(chain) || self.pool_holds(chain) {
            return Err(NotEntered::Reentered);
        }
        let state = match self.state.try_lock() {
            Some(state) => state,
            None => match self.spin_for_lock() {
                Some(state) => state,
                None => self.wait_blocking(caller)?,
            },
        };
        self.busy.store(chain.0, Ordering::Relaxed);
        let mut busy = Busy { state, busy: &self.busy };
        self.drain_deferred_blocking(&mut busy.state);
        Ok(busy)
    }

    /// [`hold_blocking`](Self::hold_blocking) for an asynchronous call:
    /// awaits the lock, at most until the call's end.
    pub(crate) async fn hold_async(&self, caller: &Caller) -> Result<Busy<'_, P>, NotEntered> {
        let chain = caller.chain;
        if self.is_busy_on(chain) || self.pool_holds(chain) {
            return Err(NotEntered::Reentered);
        }
        let state = match self.state.try_lock() {
            Some(state) => state,
            None => Box::pin(self.wait(caller)).await?,
        };
        self.busy.store(chain.0, Ordering::Relaxed);
        let mut busy = Busy { state, busy: &self.busy };
        if self.takes_deferred() {
            Box::pin(self.drop_deferred(Mode::Async, &mut busy.state)).await;
        }
        Ok(busy)
    }

    /// A short spin for a slot another thread holds, before waiting in
    /// `parking_lot` (whose own wait yields the CPU between tries: under
    /// contention, 8 threads on 2 cores, that was a storm of `sched_yield`
    /// and futex wakes, ~40 % of the soak's time by `perf`). Calls are
    /// microseconds: the holder is often done within the spin.
    #[cold]
    fn spin_for_lock(&self) -> Option<SlotGuard<'_, SlotState<P>>> {
        for _ in 0..200 {
            std::hint::spin_loop();
            if let Some(state) = self.state.try_lock() {
                return Some(state);
            }
        }
        None
    }

    /// Waits for the slot, blocking, at most until the call's end (its own
    /// deadline from now, or its caller's end): callers queued behind a
    /// plugin each wait within their own deadline, not for every call
    /// ahead of them in turn.
    #[cold]
    fn wait_blocking(&self, caller: &Caller) -> Result<SlotGuard<'_, SlotState<P>>, NotEntered> {
        let Some(clock) = self.clock.as_deref() else { return Ok(self.state.lock_blocking()) };
        let (ends, limit) = self.wait_until(clock, caller);
        let ticks = ends.saturating_add(1).saturating_sub(clock.now());
        let left = crate::limits::TICK.saturating_mul(u32::try_from(ticks).unwrap_or(u32::MAX));
        self.state.try_lock_for(left).ok_or(NotEntered::TimedOut(limit))
    }

    /// The tick a wait for the slot ends at, and the deadline that sets it.
    fn wait_until(&self, clock: &Clock, caller: &Caller) -> (u64, Duration) {
        let own_end = clock.now().saturating_add(self.deadline_ticks);
        if caller.ends < own_end { (caller.ends, caller.deadline) } else { (own_end, self.limits.deadline) }
    }

    /// Waits for the slot asynchronously, at most until the call's end (its
    /// own deadline from now, or its caller's end): a holder whose future is
    /// never polled again must not hold every later call forever. (A
    /// blocking holder always finishes: its deadline stops it.)
    #[cold]
    async fn wait(&self, caller: &Caller) -> Result<SlotGuard<'_, SlotState<P>>, NotEntered> {
        let Some(clock) = self.clock.as_deref() else { return Ok(self.state.lock().await) };
        let (ends, limit) = self.wait_until(clock, caller);
        let lock = std::pin::pin!(self.state.lock());
        match futures_util::future::select(lock, clock.until(ends.saturating_add(1))).await {
            futures_util::future::Either::Left((state, _)) => Ok(state),
            futures_util::future::Either::Right(((), _)) => Err(NotEntered::TimedOut(limit)),
        }
    }

    /// Whether handles released while the slot was busy wait to be
    /// dropped; true once, for the caller that then drops them
    /// ([`drop_deferred`](Self::drop_deferred)).
    #[inline]
    pub(crate) fn takes_deferred(&self) -> bool {
        // A load first: the swap is a write on every call otherwise.
        self.has_deferred.load(Ordering::Acquire) && self.has_deferred.swap(false, Ordering::AcqRel)
    }

    /// Drops the handles released while a synchronous slot was busy, now.
    #[inline]
    pub(crate) fn drain_deferred_blocking(&self, state: &mut SlotState<P>) {
        if self.takes_deferred() {
            drive::now(self.drop_deferred(Mode::Sync, state));
        }
    }

    /// Drops the handles released while the slot was busy.
    #[cold]
    pub(crate) async fn drop_deferred(&self, mode: Mode, state: &mut SlotState<P>) {
        let pending = std::mem::take(&mut *self.deferred.lock().unwrap_or_else(PoisonError::into_inner));
        if let SlotState::Live(live) = state {
            // Destructors run as a call of their own, not on whatever the
            // last call left in the store.
            self.begin_frame(live, &Caller::host_in(mode), mode);
            for (generation, handle) in pending {
                if generation == live.generation {
                    drop_handle(mode, &self.label, live, handle).await;
                }
            }
        }
    }

    /// Releases an owned handle of one of this plugin's resources that a
    /// consumer (or the host) dropped.
    ///
    /// Never waits: when the plugin is busy (on any chain, this one
    /// included) the handle is queued, and dropped when the call holding the
    /// plugin ends or the next one starts. An asynchronous plugin's
    /// destructors run only inside its calls (a destructor may need to
    /// await), so its handles always wait for its next call.
    pub(crate) fn release(&self, generation: u64, handle: ResourceAny) {
        self.release_for(generation, handle, &Caller::host());
    }

    /// [`release`](Self::release) by a plugin's call: the destructor runs
    /// on that call's chain and within what is left of its deadline, so an
    /// owner whose destructor spins holds the dropping call no longer than
    /// the call may take; but for at least two ticks (10 ms), so that a
    /// caller out of time cannot cut an owner's quick destructor short (an
    /// owner cut off mid-destructor starts over, and its state with it).
    pub(crate) fn release_for(&self, generation: u64, handle: ResourceAny, caller: &Caller) {
        if !self.asynchronous
            && let Some(mut state) = self.state.try_lock()
        {
            if let SlotState::Live(live) = &mut *state
                && live.generation == generation
            {
                let floor = self.clock.as_deref().map_or(0, |clock| clock.now().saturating_add(DESTRUCTOR_TICKS));
                let caller = Caller { ends: caller.ends.max(floor), ..*caller };
                self.begin_frame(live, &caller, Mode::Sync);
                drive::now(drop_handle(Mode::Sync, &self.label, live, handle));
            }
            return;
        }
        self.deferred.lock().unwrap_or_else(PoisonError::into_inner).push((generation, handle));
        self.has_deferred.store(true, Ordering::Release);
        // The holder may have finished between the two looks: drop it now
        // rather than at the plugin's next call.
        if !self.asynchronous
            && let Some(mut state) = self.state.try_lock()
        {
            self.drain_deferred_blocking(&mut state);
        }
    }

    /// The slot's state if no call holds it.
    pub(crate) fn try_state(&self) -> Option<SlotGuard<'_, SlotState<P>>> {
        self.state.try_lock()
    }

    /// Replaces the instance after a failure left it in an unknown state.
    ///
    /// The plugin's resource table is replaced too: the handles other plugins
    /// lent it belong to the old instance, and dropping the old table returns
    /// them to their owners. Returns whether a new instance is running.
    pub(crate) async fn reinstantiate(&self, mode: Mode, state: &mut SlotState<P>) -> bool {
        let (data, generation) =
            match std::mem::replace(state, SlotState::Dead { data: None, error: dead_placeholder(), generation: 0 }) {
                SlotState::Live(live) => (Some(live.store.into_data().into_plugin()), live.generation + 1),
                SlotState::Dead { data, generation, .. } => (data, generation + 1),
            };
        let Some(mut data) = data else { return false };
        // Dropping the old table drops the proxies in it, which releases the
        // handles they hold in their owners.
        drop(std::mem::replace(data.resource_table(), ResourceTable::new()));
        let started =
            start(&self.recipe, mode, data, generation, &self.limits, self.clock.as_ref(), &self.handles).await;
        match started {
            Ok(mut live) => {
                live.store.data_mut().replica = self.replica;
                self.shared.health.lock().unwrap_or_else(PoisonError::into_inner).reinstantiations += 1;
                tracing::info!(plugin = %self.label, generation, "plugin re-instantiated after a failure");
                self.resource_types.write().unwrap_or_else(PoisonError::into_inner).clone_from(&live.resource_types);
                self.generation.store(generation, Ordering::Release);
                *state = SlotState::Live(live);
                true
            }
            Err((data, error)) => {
                tracing::warn!(plugin = %self.label, %error, "plugin could not be re-instantiated");
                *state = SlotState::Dead { data, error, generation };
                false
            }
        }
    }

    /// The generation of the current instance.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The resource types the current instance defines.
    pub(crate) fn resource_types(&self) -> std::sync::RwLockReadGuard<'_, Vec<Option<ResourceType>>> {
        self.resource_types.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The type of plug function `index`.
    pub(crate) fn function_type(&self, index: FunctionIndex) -> Option<ComponentFunc> {
        self.func_types.get(index.0).cloned()
    }

    /// Whether the current instance defines the type of `handle`.
    pub(crate) fn defines(&self, handle: &ResourceAny) -> bool {
        self.resource_types().iter().flatten().any(|t| *t == handle.ty())
    }

    /// The plugin's health, for the head.
    pub(crate) fn health(&self) -> crate::PluginHealth<P::Id> {
        let remaining = self.quarantine_remaining();
        // A slot busy in a call (perhaps further up this very thread, when a
        // host function asks) is live: never wait for it.
        let dead = std::iter::once(self)
            .chain(self.replicas.iter().map(|slot| &**slot))
            .all(|slot| slot.state.try_lock().is_some_and(|state| matches!(&*state, SlotState::Dead { .. })));
        let health = self.shared.health.lock().unwrap_or_else(PoisonError::into_inner);
        let instances = || std::iter::once(self).chain(self.replicas.iter().map(|slot| &**slot));
        crate::PluginHealth {
            plugin: self.id.clone(),
            calls: instances().map(|slot| slot.calls.load(Ordering::Relaxed)).sum(),
            failures: health.failures,
            reinstantiations: health.reinstantiations,
            cancelled: health.cancelled,
            last_error: health.last_error.clone(),
            state: match (remaining, dead) {
                (Some(remaining), _) => crate::PluginState::Quarantined { remaining },
                (None, true) => crate::PluginState::Unavailable,
                (None, false) => crate::PluginState::Running,
            },
            held_handles: instances().map(|slot| slot.handles.load(Ordering::Relaxed)).sum(),
            instances: instances().count(),
            plug: self.exported.to_string(),
            version: self.version().to_owned(),
            revision: self.revision,
            since: self.since,
            members: self.frozen.iter().map(|(id, _)| id.clone()).collect(),
            addresses: self.addresses.as_ref().map(|probe| probe()).unwrap_or_default(),
        }
    }

    /// The name of this version's code: the one the plugin gave, or a hash
    /// of its compiled component, computed once, when first asked.
    pub(crate) fn version(&self) -> &str {
        self.version.get_or_init(|| {
            use std::hash::{Hash, Hasher};
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            match self.recipe.pre.component().serialize() {
                Ok(bytes) => bytes.hash(&mut hasher),
                Err(_) => self.label.hash(&mut hasher),
            }
            format!("{:016x}", hasher.finish())
        })
    }
}

/// Where an instance stands in its plugin's pool.
struct Place<P: PluginData> {
    shared: Arc<Shared<P>>,
    replica: u32,
    replicas: Box<[Arc<PluginSlot<P>>]>,
}

/// Who a slot is: its id, its plug, its code's name when given, and the
/// swaps of its id before it.
#[derive(Clone)]
pub(crate) struct Identity<Id> {
    pub(crate) id: Id,
    /// The members of the frozen group it runs, itself first, with their
    /// versions (`load::freeze`).
    pub(crate) frozen: Box<[(Id, String)]>,
    pub(crate) plug: InterfaceIndex,
    pub(crate) exported: String,
    pub(crate) version: Option<String>,
    pub(crate) revision: u64,
    /// A remote plugin's servers' health.
    pub(crate) addresses: Option<health::AddressProbe>,
}

fn dead_placeholder() -> WasmError {
    WasmError::new(wasmtime::format_err!("instance is being replaced"))
}

/// Drops one of the plugin's own handles in its store (running the
/// resource's destructor there). A destructor that trapped leaves the
/// instance to be replaced before the next call.
async fn drop_handle<P: PluginData>(mode: Mode, label: &str, live: &mut Live<P>, handle: ResourceAny) {
    if let Err(error) = drop_in(mode, handle, &mut live.store).await {
        live.tainted |= invoke::wasm_failed::<P::Id>(&error);
        tracing::warn!(plugin = %label, error = %WasmError::new(error), "dropping a resource failed");
    }
}

/// Drops a handle in `store`, in `mode`: wasmtime refuses synchronous
/// drops in a store that is entered asynchronously.
pub(crate) async fn drop_in<T: Send + 'static>(
    mode: Mode,
    handle: ResourceAny,
    store: impl wasmtime::AsContextMut<Data = T>,
) -> wasmtime::Result<()> {
    match mode {
        Mode::Sync => handle.resource_drop(store),
        Mode::Async => handle.resource_drop_async(store).await,
    }
}

/// What the store does when its epoch deadline arrives: stop the call at
/// its end; before it, a call on a fiber yields to the executor (a time
/// slice of [`limits::YIELD_EVERY`] ticks) and a synchronous one goes on.
fn on_epoch(call: &CallState, now: u64) -> wasmtime::UpdateDeadline {
    // The deadline was armed one tick past `ends` (see `begin_frame`).
    if now > call.ends {
        return wasmtime::UpdateDeadline::Interrupt;
    }
    let left = call.ends.saturating_sub(now).saturating_add(1);
    if !call.yields {
        return wasmtime::UpdateDeadline::Continue(left);
    }
    let slice = left.min(limits::YIELD_EVERY);
    // On a tokio runtime, tokio's yield: the worker then polls its I/O
    // driver and its queue of new tasks before it resumes the plugin.
    #[cfg(feature = "tokio")]
    if tokio::runtime::Handle::try_current().is_ok() {
        return wasmtime::UpdateDeadline::YieldCustom(slice, Box::pin(tokio::task::yield_now()));
    }
    wasmtime::UpdateDeadline::Yield(slice)
}

/// Creates a store for `data` and instantiates the plugin in it by
/// `recipe`, in `mode` (that of the call that needs the instance),
/// resolving its plug's exports. On failure the data is handed back.
///
/// The budgets hold from the first instruction: the limiter is the store's
/// own call state, so a component declaring more initial memory than its
/// limit is refused here.
async fn start<P: Send + 'static>(
    recipe: &Recipe<P>,
    mode: Mode,
    data: P,
    generation: u64,
    limits: &Limits,
    clock: Option<&Arc<Clock>>,
    held: &Arc<AtomicUsize>,
) -> Result<Live<P>, (Option<P>, WasmError)> {
    let Recipe { engine, pre, exports, .. } = recipe;
    let mut store = Store::new(engine, PluginCtx::new(data, limits, held.clone()));
    store.limiter(|ctx| &mut ctx.call);
    store.data_mut().clock = clock.filter(|_| engine.get_epoch_interruption()).cloned();
    // A start function may call the plugin's sockets: instantiation is a
    // call of its own chain.
    store.data_mut().call.chain = Caller::host_in(mode).chain;
    store.data_mut().call.yields = mode == Mode::Async;
    if engine.get_epoch_interruption() {
        let now = clock.map_or(0, |clock| clock.now());
        let ticks = limits::ticks(limits.deadline).saturating_add(1);
        let call = &mut store.data_mut().call;
        call.started = now;
        call.ends = now.saturating_add(ticks);
        let clock = clock.cloned();
        store.epoch_deadline_callback(move |ctx| {
            let now = clock.as_deref().map_or(0, Clock::now);
            Ok(on_epoch(&ctx.data().call, now))
        });
        store.set_epoch_deadline(if mode == Mode::Async { ticks.min(limits::YIELD_EVERY) } else { ticks });
    }
    if engine.get_consume_fuel() {
        let _ = store.set_fuel(limits.fuel.unwrap_or(u64::MAX));
    }
    let instantiated = match mode {
        Mode::Sync => pre.instantiate(&mut store),
        Mode::Async => pre.instantiate_async(&mut store).await,
    };
    let hit = store.data_mut().call.hit.take();
    let instance: Instance = match instantiated {
        Ok(instance) => instance,
        Err(error) => {
            let error = match hit {
                Some(budget) => error.context(format!("instantiation exceeded its budget: {budget}")),
                None => error,
            };
            return Err((Some(store.into_data().into_plugin()), WasmError::new(error)));
        }
    };
    let mut funcs = Vec::with_capacity(exports.functions.len());
    for index in &exports.functions {
        if let Some(func) = instance.get_func(&mut store, index) {
            funcs.push(func);
        } else {
            let error = wasmtime::format_err!("an export checked at load time is missing");
            return Err((Some(store.into_data().into_plugin()), WasmError::new(error)));
        }
    }
    let func_types: Vec<ComponentFunc> = funcs.iter().map(|f| f.ty(&store)).collect();
    let resource_types = exports
        .resources
        .iter()
        .map(|index| index.as_ref().and_then(|index| instance.get_resource(&mut store, index)))
        .collect();
    let param_resources: Vec<bool> =
        func_types.iter().map(|t| t.params().any(|(_, ty)| crate::types::has_resources(&ty))).collect();
    if param_resources.contains(&true) {
        // A handle passes any type check until wasmtime lowers it: whether
        // a failed call got as far as the plugin's wasm tells a bad handle
        // (the caller's) from a result the plugin wrote wrong (its own).
        store.call_hook(|mut ctx, hook| {
            if matches!(hook, wasmtime::CallHook::CallingWasm) {
                ctx.data_mut().call.entered = true;
            }
            Ok(())
        });
    }
    Ok(Live {
        param_counts: func_types.iter().map(|t| t.params().len()).collect(),
        result_counts: func_types.iter().map(|t| t.results().len()).collect(),
        typed: (0..func_types.len()).map(|_| None).collect(),
        param_resources,
        store,
        funcs,
        func_types,
        resource_types,
        generation,
        tainted: false,
        clock: clock.cloned(),
        inbound: crate::stats::Inbound::default(),
    })
}

/// The first resource handle in `args`, at any depth.
fn first_handle(args: &[wasmtime::component::Val]) -> Option<&ResourceAny> {
    use wasmtime::component::Val;
    args.iter().find_map(|arg| match arg {
        Val::Resource(handle) => Some(handle),
        Val::List(items) | Val::Tuple(items) | Val::FixedLengthList(items) => first_handle(items),
        Val::Record(fields) => fields.iter().find_map(|(_, v)| first_handle(std::slice::from_ref(v))),
        Val::Variant(_, Some(v)) | Val::Option(Some(v)) | Val::Result(Ok(Some(v)) | Err(Some(v))) => {
            first_handle(std::slice::from_ref(&**v))
        }
        Val::Map(entries) => entries
            .iter()
            .find_map(|(k, v)| first_handle(std::slice::from_ref(k)).or_else(|| first_handle(std::slice::from_ref(v)))),
        _ => None,
    })
}
