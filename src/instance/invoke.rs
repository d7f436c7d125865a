//! The one way into a plugin: [`PluginSlot::invoke`] enters it for one call,
//! and [`Live::call_vals`] / [`Live::call_typed`] are the only two places
//! that call a plugin function. Every entry point (the host's `dispatch`, the
//! typed fast path, the dynamic and typed socket adapters, resource drops)
//! goes through them, so a failure is classified once, by one rule, and
//! recorded against the plugin whose wasm or budget failed.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures_util::future::Either;
use std::time::{Duration, Instant};

use wasmtime::component::{TypedFunc, Val};

use super::ctx::{Caller, Mode, PluginCtx};
use super::{Busy, Live, NotEntered, PluginSlot, SlotState, drive};
use crate::PluginData;
use crate::dispatch_error::{DispatchError, NestedDispatchError, SocketTrap};
use crate::graph::FunctionIndex;
use crate::limits::{Budget, Clock, TICK, YIELD_EVERY};
use crate::stats::Edge;
use crate::wasm_error::WasmError;

/// The interface and function a call is for, as named in errors, and the
/// edge its calls are counted on (none when the tree counts none, and for
/// resource drops).
pub(crate) struct CallSite<P: PluginData> {
    pub(crate) interface: Arc<str>,
    pub(crate) function: Arc<str>,
    pub(crate) edge: Option<Arc<Edge<P>>>,
}

impl<P: PluginData> CallSite<P> {
    /// A site whose calls are not counted.
    pub(crate) fn uncounted(interface: Arc<str>, function: Arc<str>) -> Self {
        Self { interface, function, edge: None }
    }
}

/// How a call body failed.
pub(crate) enum Fail<Id> {
    /// The call was refused before the plugin ran (a foreign handle, a
    /// wrong argument count, a budget of the caller's): the error is
    /// complete, and counts against the plugin it names only. Boxed: an
    /// outcome is moved through every layer of a call, and this is its
    /// rare and largest case.
    Refused(Box<DispatchError<Id>>),
    /// wasmtime rejected the arguments before the plugin ran.
    InvalidArguments(wasmtime::Error),
    /// The plugin ran and failed: it trapped, a host function it called
    /// failed, it returned a value wasmtime could not lift, or it exceeded a
    /// budget. Its instance is in an unknown state.
    Ran(wasmtime::Error),
}

impl<Id: std::fmt::Debug + std::fmt::Display + 'static> Fail<Id> {
    /// [`Fail::Refused`], boxed.
    #[cold]
    pub(crate) fn refused(error: DispatchError<Id>) -> Self {
        Self::Refused(Box::new(error))
    }
}

/// Whom a failed call counts against: its plugin's health records only its
/// own failures, so one plugin's misdeed never gets another blamed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Blame {
    /// The plugin called: it trapped, or ran out of a budget of its own.
    Plugin,
    /// Someone else: the caller (bad arguments, a foreign handle), a callee
    /// further down, or nobody (a wait for a busy plugin).
    Elsewhere,
}

impl Blame {
    fn plugin_if(own: bool) -> Self {
        if own { Self::Plugin } else { Self::Elsewhere }
    }
}

/// How a call is let in, once its plugin is locked for it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Admission {
    /// The live instance takes the call.
    Ready,
    /// The instance is dead or was left in an unknown state: a new one is
    /// started first.
    Revive,
}

/// One call inside a plugin, from [`PluginSlot::enter_call`] to
/// [`Entered::finish`]: the slot held for the call, with the call's frame
/// set in its store.
///
/// Dropped without `finish` (a `dispatch_async` future dropped mid-call, a
/// panic in a host function unwinding through the call), the call was
/// abandoned inside wasm: the instance is marked for replacement before the
/// next call, the handles it holds of other plugins are released now, and
/// the plugin's health counts it.
pub(crate) struct Entered<'a, P: PluginData> {
    slot: &'a PluginSlot<P>,
    busy: Busy<'a, P>,
    site: &'a CallSite<P>,
    mode: Mode,
    fuel: Option<u64>,
    finished: bool,
    /// The call's recorder in the instance's [`Inbound`](crate::stats::Inbound),
    /// and when the call started, if it is timed.
    counted: Option<(usize, Option<Instant>)>,
}

impl<P: PluginData> PluginSlot<P> {
    /// Enters the plugin for one call of `caller`, in `mode`: locks it (an
    /// error on re-entry), refuses a quarantined plugin or a call too deep,
    /// revives a dead or tainted instance, and sets the call's budgets in
    /// the store. The caller runs the call on [`Entered::live`] and hands
    /// its outcome to [`Entered::finish`].
    ///
    /// Hot synchronous paths call [`enter_blocking`](Self::enter_blocking) directly:
    /// an `.await` of a future that is ready at once still costs its
    /// construction and poll, on every call.
    ///
    /// Not an `async fn`: a future of its own around the two would add a
    /// layer that every poll crosses and every `.await` copies.
    #[inline]
    pub(crate) fn enter_call<'a>(
        &'a self,
        mode: Mode,
        caller: &Caller,
        site: &'a CallSite<P>,
    ) -> impl Future<Output = Result<Entered<'a, P>, DispatchError<P::Id>>> {
        match mode {
            Mode::Sync => Either::Left(std::future::ready(self.enter_blocking(caller, site))),
            Mode::Async => Either::Right(self.enter_async(caller, site)),
        }
    }

    /// [`enter_call`](Self::enter_call), synchronously: blocks for the lock.
    #[allow(clippy::inline_always, reason = "measured: see `admit`")]
    #[inline(always)]
    pub(crate) fn enter_blocking<'a>(
        &'a self,
        caller: &Caller,
        site: &'a CallSite<P>,
    ) -> Result<Entered<'a, P>, DispatchError<P::Id>> {
        let mut busy = self.hold_blocking(caller).map_err(|refused| self.not_entered(site, refused))?;
        if self.admit(&busy, caller, site)? == Admission::Revive {
            drive::now(self.reinstantiate(Mode::Sync, &mut busy.state));
        }
        self.frame(busy, caller, site, Mode::Sync)
    }

    /// Counts a call on `site` refused before it entered the instance.
    #[cold]
    fn count_refused(&self, site: &CallSite<P>) {
        if let Some(edge) = &site.edge {
            edge.recorder(&self.id, self.revision, self.replica).refused();
        }
    }

    /// [`enter_call`](Self::enter_call), asynchronously: awaits the lock.
    async fn enter_async<'a>(
        &'a self,
        caller: &Caller,
        site: &'a CallSite<P>,
    ) -> Result<Entered<'a, P>, DispatchError<P::Id>> {
        let mut busy = self.hold_async(caller).await.map_err(|refused| self.not_entered(site, refused))?;
        if self.admit(&busy, caller, site)? == Admission::Revive {
            // Boxed, as every cold step of the call path: a future holds
            // room for its largest step.
            Box::pin(self.reinstantiate(Mode::Async, &mut busy.state)).await;
        }
        self.frame(busy, caller, site, Mode::Async)
    }

    #[cold]
    fn not_entered(&self, site: &CallSite<P>, refused: NotEntered) -> DispatchError<P::Id> {
        self.count_refused(site);
        match refused {
            NotEntered::Reentered => self.refusal(site, Refusal::Reentrant),
            NotEntered::TimedOut(limit) => self.refusal(site, Refusal::Waited(limit)),
        }
    }

    /// Refuses a quarantined plugin or a call too deep; admits the others,
    /// saying whether the instance must be revived first.
    // Always inlined, as `finish_blocking`: the synchronous call path is a
    // few small steps, and once the crate grew (the NATS transport, no
    // line of it on this path) the compiler stopped inlining them: +87
    // instructions a host dispatch, +129 a typed call, in the instruction
    // bench.
    #[allow(clippy::inline_always, reason = "measured: see above")]
    #[inline(always)]
    fn admit(
        &self,
        busy: &Busy<'_, P>,
        caller: &Caller,
        site: &CallSite<P>,
    ) -> Result<Admission, DispatchError<P::Id>> {
        if let Some(remaining) = self.quarantine_remaining() {
            self.count_refused(site);
            return Err(self.refusal(site, Refusal::Quarantined(remaining)));
        }
        if caller.depth as usize >= self.limits.depth {
            self.count_refused(site);
            return Err(self.refusal(site, Refusal::Depth));
        }
        Ok(match &*busy.state {
            SlotState::Live(live) if !live.tainted => Admission::Ready,
            _ => Admission::Revive,
        })
    }

    /// The call's frame on the live instance, or why there is none.
    #[allow(clippy::inline_always, reason = "measured: see `admit`")]
    #[inline(always)]
    fn frame<'a>(
        &'a self,
        mut busy: Busy<'a, P>,
        caller: &Caller,
        site: &'a CallSite<P>,
        mode: Mode,
    ) -> Result<Entered<'a, P>, DispatchError<P::Id>> {
        let (fuel, counted) = match &mut *busy.state {
            SlotState::Live(live) => {
                let counted = site.edge.as_deref().map(|edge| self.count_call(live, edge));
                let fuel = self.begin_frame(live, caller, mode);
                #[cfg(feature = "otel")]
                {
                    let call = &mut live.store.data_mut().call;
                    call.span = crate::trace::call(
                        caller.span,
                        &self.id,
                        &site.interface,
                        &site.function,
                        call.depth,
                        call.deadline,
                        fuel,
                    );
                }
                (fuel, counted)
            }
            SlotState::Dead { error, .. } => {
                let source = error.clone();
                self.count_refused(site);
                return Err(self.refusal(site, Refusal::Unavailable(source)));
            }
        };
        Ok(Entered { slot: self, busy, site, mode, fuel, finished: false, counted })
    }

    /// Counts a call entering `live` from `edge`: its recorder's index, and
    /// the time it starts when it is timed. Always inlined: see `admit`.
    #[allow(clippy::inline_always, reason = "measured: see `admit`")]
    #[inline(always)]
    fn count_call(&self, live: &mut Live<P>, edge: &Edge<P>) -> (usize, Option<Instant>) {
        let index = live.inbound.find(edge, &self.id, self.revision, self.replica);
        let timed = live.inbound.get(index).is_some_and(crate::stats::Recorder::enter);
        (index, timed.then(Instant::now))
    }

    /// Starts a call's frame in the store: its chain and depth, its end
    /// (its own deadline or its caller's, whichever comes first), a clean
    /// budget record, the epoch deadline and the fuel. Returns the fuel
    /// given, when the engine consumes fuel.
    #[inline]
    pub(crate) fn begin_frame(&self, live: &mut Live<P>, caller: &Caller, mode: Mode) -> Option<u64> {
        let now = self.clock.as_deref().map_or(0, Clock::now);
        let own_end = now.saturating_add(self.deadline_ticks);
        let call = &mut live.store.data_mut().call;
        call.chain = caller.chain;
        call.depth = caller.depth.saturating_add(1);
        call.started = now;
        call.hit = None;
        call.entered = false;
        call.yields = mode == Mode::Async;
        (call.ends, call.deadline, call.inherited) = if caller.ends < own_end {
            (caller.ends, caller.deadline, true)
        } else {
            (own_end, self.limits.deadline, false)
        };
        if self.epochs {
            // One tick more: the current tick is partly gone already. A call
            // on a fiber wakes earlier, to yield (see `on_epoch`).
            let ticks = call.ends.saturating_sub(now).saturating_add(1);
            let ticks = if mode == Mode::Async { ticks.min(YIELD_EVERY) } else { ticks };
            live.store.set_epoch_deadline(ticks);
        }
        let fuel = self.fuel.then(|| self.limits.fuel.unwrap_or(u64::MAX));
        if let Some(fuel) = fuel {
            // Cannot fail: the engine consumes fuel.
            let _ = live.store.set_fuel(fuel);
        }
        fuel
    }

    /// Turns a call body's failure into the call's error, replacing the
    /// instance after a failure inside wasm, and records it when it is this
    /// plugin's own. Out of line: the successful path stays small.
    ///
    /// A failure is the plugin's own when its wasm failed (a trap, a failure
    /// behind its own socket that trapped it) or it exceeded a budget of its
    /// own. The caller's mistakes (arguments, foreign handles), a deadline
    /// inherited from the caller, and errors naming another plugin (a
    /// consumer's handle budget hit while it called this one) are not.
    #[cold]
    async fn conclude(
        &self,
        mode: Mode,
        site: &CallSite<P>,
        failure: Fail<P::Id>,
        fuel: Option<u64>,
        state: &mut SlotState<P>,
    ) -> DispatchError<P::Id> {
        let (error, blame) = match failure {
            Fail::Refused(error) => {
                let error = *error;
                let own = matches!(&error, DispatchError::BudgetExceeded { budget, .. } if !matches!(budget, Budget::Depth { .. }))
                    && error.plugin() == &self.id;
                (error, Blame::plugin_if(own))
            }
            Fail::InvalidArguments(error) => {
                let error = DispatchError::InvalidArguments {
                    plugin: self.id.clone(),
                    interface: site.interface.clone(),
                    function: site.function.clone(),
                    source: WasmError::new(error),
                };
                // Nothing ran. But on an engine with wasmtime's concurrency
                // support the call's task was begun, and its failure leaves
                // the instance one wasmtime will not enter again ("cannot
                // enter component instance"): the next call gets a new one,
                // and the plugin is not blamed for the caller's mistake.
                if self.recipe.engine.get_concurrency_support()
                    && let SlotState::Live(live) = state
                {
                    live.tainted = true;
                }
                (error, Blame::Elsewhere)
            }
            Fail::Ran(error) => self.ran(mode, site, error, fuel, state).await,
        };
        if blame == Blame::Plugin {
            self.record_failure(&error);
        }
        error
    }

    /// The error of a call whose wasm ran and failed, and whom it counts
    /// against; replaces the instance.
    async fn ran(
        &self,
        mode: Mode,
        site: &CallSite<P>,
        error: wasmtime::Error,
        fuel: Option<u64>,
        state: &mut SlotState<P>,
    ) -> (DispatchError<P::Id>, Blame) {
        let (call_hit, deadline, inherited, started, ends, note) = match state {
            SlotState::Live(live) => {
                let data = live.store.data_mut();
                let note = data.plugin_mut().trap_note();
                let call = &mut data.call;
                (call.hit.take(), call.deadline, call.inherited, call.started, call.ends, note)
            }
            SlotState::Dead { .. } => (None, self.limits.deadline, false, 0, u64::MAX, None),
        };
        // Whether this call's own end has come (its deadline ran out, not
        // a callee's shorter one).
        let out_of_time = !inherited && self.clock.as_deref().is_some_and(|clock| clock.now() > ends);
        let (exceeded, own) = match error.downcast_ref::<wasmtime::Trap>() {
            Some(wasmtime::Trap::Interrupt) => {
                (Some(Budget::Deadline { limit: deadline, elapsed: self.elapsed(started) }), !inherited)
            }
            Some(wasmtime::Trap::OutOfFuel) => (Some(Budget::Fuel { limit: fuel.unwrap_or_default() }), true),
            _ => (call_hit, true),
        };
        #[cfg(feature = "remote")]
        let remote = error
            .chain()
            .find_map(|cause| cause.downcast_ref::<crate::remote::RemoteFailure>())
            .map(|remote| (remote.address.clone(), remote.reason.clone(), remote.timed_out));
        #[cfg(feature = "remote")]
        if let Some((address, reason, timed_out)) = remote {
            // Out of time on a deadline inherited from the caller: the
            // budget that ran out is the caller's, not this plugin's.
            let own = own && !(timed_out && inherited);
            // The server failed, not the proxy; the failure counts against
            // the remote plugin all the same (quarantine applies). The proxy
            // saw its import fail, which leaves a component instance unusable:
            // it is replaced, at the cost of instantiating a component with
            // no code.
            let (plugin, interface, function) = (self.id.clone(), site.interface.clone(), site.function.clone());
            self.reinstantiate(mode, state).await;
            return (DispatchError::Remote { plugin, interface, function, address, reason }, Blame::plugin_if(own));
        }
        let socket = error
            .chain()
            .find_map(|cause| cause.downcast_ref::<SocketTrap<P::Id>>())
            .map(|trap| NestedDispatchError(trap.0.clone()));
        // A failure behind a plain socket traps its consumer (the shape
        // has no room for the error). When the callee failed (it trapped,
        // exceeded a budget of its own, is unavailable), that is counted
        // there, not here. The consumer's own are its mistakes (a bad or
        // foreign handle, re-entry, a call too deep: refusals naming the
        // callee) and its own budgets: its handle budget hit while a callee
        // handed it a resource, its deadline run out while the callee ran
        // for it (a deadline it inherited belongs further up the chain). A
        // callee that could not even be entered before this call's end
        // (another chain held it: a deadline error of a callee that never
        // ran, so was not re-instantiated) is a wait, nobody's misdeed.
        let own = own
            && socket.as_ref().is_none_or(|nested| match nested.root_cause() {
                DispatchError::BudgetExceeded { budget: Budget::Deadline { .. }, reinstantiated, .. } => {
                    *reinstantiated && out_of_time
                }
                DispatchError::BudgetExceeded { budget: Budget::Depth { .. }, .. } => true,
                cause @ DispatchError::BudgetExceeded { .. } => cause.plugin() == &self.id,
                DispatchError::Trap { .. }
                | DispatchError::Unavailable { .. }
                | DispatchError::Quarantined { .. }
                | DispatchError::Remote { .. } => false,
                _ => true,
            });
        let reinstantiated = self.reinstantiate(mode, state).await;
        let (plugin, interface, function) = (self.id.clone(), site.interface.clone(), site.function.clone());
        if let Some(budget) = exceeded {
            tracing::warn!(plugin = %self.label, %budget, "plugin exceeded its budget");
            return (
                DispatchError::BudgetExceeded { plugin, interface, function, budget, reinstantiated },
                Blame::plugin_if(own),
            );
        }
        let error = if let Some(source) = socket {
            DispatchError::Socket { plugin, interface, function, reinstantiated, source }
        } else {
            // What the plugin said last: it names the cause (a Python
            // traceback) where the trap names only the symptom.
            let source = WasmError::with_note(error, note);
            DispatchError::Trap { plugin, interface, function, reinstantiated, source }
        };
        (error, Blame::plugin_if(own))
    }

    /// How long a call started at tick `started` ran, to the tick.
    fn elapsed(&self, started: u64) -> Duration {
        let now = self.clock.as_deref().map_or(started, Clock::now);
        TICK.saturating_mul(u32::try_from(now.saturating_sub(started)).unwrap_or(u32::MAX))
    }

    #[cold]
    fn refusal(&self, site: &CallSite<P>, refusal: Refusal) -> DispatchError<P::Id> {
        let (plugin, interface, function) = (self.id.clone(), site.interface.clone(), site.function.clone());
        match refusal {
            Refusal::Reentrant => DispatchError::Reentrant { plugin, interface, function },
            Refusal::Quarantined(remaining) => DispatchError::Quarantined { plugin, interface, function, remaining },
            Refusal::Depth => DispatchError::BudgetExceeded {
                plugin,
                interface,
                function,
                budget: Budget::Depth { limit: self.limits.depth },
                reinstantiated: false,
            },
            Refusal::Unavailable(source) => DispatchError::Unavailable { plugin, interface, function, source },
            // The call never started: the time it waited is its deadline.
            Refusal::Waited(limit) => DispatchError::BudgetExceeded {
                plugin,
                interface,
                function,
                budget: Budget::Deadline { limit, elapsed: limit },
                reinstantiated: false,
            },
        }
    }

    /// How long the plugin stays quarantined, if it is.
    #[inline]
    pub(crate) fn quarantine_remaining(&self) -> Option<Duration> {
        // The common case, without taking the health lock on every call.
        if !self.shared.quarantined.load(Ordering::Acquire) {
            return None;
        }
        self.quarantine_left()
    }

    #[cold]
    fn quarantine_left(&self) -> Option<Duration> {
        let mut health = self.shared.health.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let until = health.quarantined_until?;
        let remaining = until.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            health.quarantined_until = None;
            health.recent.clear();
            self.shared.quarantined.store(false, Ordering::Release);
            tracing::info!(plugin = %self.label, "plugin leaves quarantine");
            return None;
        }
        Some(remaining)
    }

    /// Counts a failure of the plugin's own, quarantining the plugin when
    /// its recovery policy says so.
    fn record_failure(&self, error: &DispatchError<P::Id>) {
        let mut health = self.shared.health.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        health.failures += 1;
        health.last_error = Some(error.to_string());
        let Some(policy) = &self.recovery.quarantine else { return };
        let now = Instant::now();
        health.recent.push_back(now);
        while health.recent.front().is_some_and(|t| now.duration_since(*t) > policy.window) {
            health.recent.pop_front();
        }
        if health.recent.len() >= usize::try_from(policy.failures).unwrap_or(usize::MAX) {
            // A cooldown too long to represent quarantines for good.
            health.quarantined_until = Some(now.checked_add(policy.cooldown).unwrap_or(now + FOREVER));
            self.shared.quarantined.store(true, Ordering::Release);
            tracing::warn!(plugin = %self.label, cooldown = ?policy.cooldown, "plugin quarantined after repeated failures");
        }
    }
}

impl<P: PluginData> PluginSlot<P> {
    /// Counts a call abandoned inside the plugin. Not a failure of the
    /// plugin's own: the caller let go of it.
    #[cold]
    fn record_cancelled(&self, site: &CallSite<P>) {
        self.shared.health.lock().unwrap_or_else(std::sync::PoisonError::into_inner).cancelled += 1;
        tracing::info!(plugin = %self.label, interface = %site.interface, function = %site.function, "call abandoned mid-call; the instance will be replaced");
    }
}

/// How far off a quarantine that cannot end is put (about 31 years).
const FOREVER: Duration = Duration::from_secs(1 << 30);

/// Whether an error from a call into a plugin means its wasm ran and failed:
/// a trap, or a socket failure that trapped it.
pub(crate) fn wasm_failed<Id: crate::Key>(error: &wasmtime::Error) -> bool {
    error.downcast_ref::<wasmtime::Trap>().is_some()
        || error.chain().any(|cause| cause.downcast_ref::<SocketTrap<Id>>().is_some())
}

/// Why a call was refused before it reached the instance.
enum Refusal {
    Reentrant,
    Quarantined(Duration),
    Depth,
    Unavailable(WasmError),
    /// Waited for the plugin (held by another call) until the deadline.
    Waited(Duration),
}

impl<'a, P: PluginData> Entered<'a, P> {
    /// The live instance the call runs on.
    #[inline]
    pub(crate) fn live(&mut self) -> Result<&mut Live<P>, Fail<P::Id>> {
        match &mut *self.busy.state {
            SlotState::Live(live) => Ok(live),
            // `enter_call` hands out only live instances; kept an error
            // rather than a panic all the same.
            SlotState::Dead { error, .. } => {
                Err(Fail::Refused(Box::new(self.slot.refusal(self.site, Refusal::Unavailable(error.clone())))))
            }
        }
    }

    /// Ends the call: counts it, turns a failure into the call's error
    /// (replacing the instance after a failure inside wasm, recording it
    /// when it is the plugin's own), and drops the handles released while
    /// it ran. [`finish_blocking`](Self::finish_blocking) is the synchronous form.
    /// (Not an `async fn`, for the reason [`PluginSlot::enter_call`] is not.)
    #[inline]
    pub(crate) fn finish<R>(
        self,
        outcome: Result<R, Fail<P::Id>>,
    ) -> impl Future<Output = Result<R, DispatchError<P::Id>>> + 'a
    where
        R: 'a,
    {
        match self.mode {
            Mode::Sync => Either::Left(std::future::ready(self.finish_blocking(outcome))),
            Mode::Async => Either::Right(self.finish_async(outcome)),
        }
    }

    /// [`finish`](Self::finish) of a synchronous call. Always inlined: every
    /// synchronous call ends here, and left to itself the compiler keeps it
    /// out of line once it has several callers (about 30 instructions a call
    /// in the instruction bench).
    #[allow(clippy::inline_always, reason = "measured: see above")]
    #[inline(always)]
    pub(crate) fn finish_blocking<R>(mut self, outcome: Result<R, Fail<P::Id>>) -> Result<R, DispatchError<P::Id>> {
        #[cfg(feature = "otel")]
        let span = self.take_span();
        let slot = self.count(outcome.is_err());
        let result = match outcome {
            Ok(value) => Ok(value),
            Err(failure) => Err(self.conclude_blocking(failure)),
        };
        #[cfg(feature = "otel")]
        crate::trace::ended(&span, result.as_ref().err().map(|e| e as &dyn std::fmt::Display));
        // Handles released while this call ran (by the plugins it called).
        slot.drain_deferred_blocking(&mut self.busy.state);
        drop(self);
        // And one released between that look and the unlock.
        if !slot.asynchronous
            && slot.has_deferred.load(Ordering::Acquire)
            && let Some(mut state) = slot.try_state()
        {
            slot.drain_deferred_blocking(&mut state);
        }
        result
    }

    async fn finish_async<R>(mut self, outcome: Result<R, Fail<P::Id>>) -> Result<R, DispatchError<P::Id>> {
        #[cfg(feature = "otel")]
        let span = self.take_span();
        let slot = self.count(outcome.is_err());
        let result = match outcome {
            Ok(value) => Ok(value),
            Err(failure) => {
                Err(Box::pin(slot.conclude(Mode::Async, self.site, failure, self.fuel, &mut self.busy.state)).await)
            }
        };
        #[cfg(feature = "otel")]
        crate::trace::ended(&span, result.as_ref().err().map(|e| e as &dyn std::fmt::Display));
        if slot.takes_deferred() {
            Box::pin(slot.drop_deferred(Mode::Async, &mut self.busy.state)).await;
        }
        result
    }

    /// The call's span, taken from the store: it ends when the caller
    /// drops it, not at the instance's next call.
    #[cfg(feature = "otel")]
    fn take_span(&mut self) -> tracing::Span {
        match &mut *self.busy.state {
            SlotState::Live(live) => {
                let span = std::mem::replace(&mut live.store.data_mut().call.span, tracing::Span::none());
                // The fuel the call burned, in its own plugin: a socket
                // call's burns in its provider's store.
                if let Some(given) = self.fuel
                    && !span.is_disabled()
                    && let Ok(left) = live.store.get_fuel()
                {
                    span.record("fuel_used", given.saturating_sub(left));
                }
                span
            }
            SlotState::Dead { .. } => tracing::Span::none(),
        }
    }

    /// Marks the call finished and counts it, on the plugin and on its edge
    /// (before a failure replaces the instance, and its recorders with it).
    #[allow(clippy::inline_always, reason = "measured: see `admit`")]
    #[inline(always)]
    fn count(&mut self, failed: bool) -> &'a PluginSlot<P> {
        self.finished = true;
        let slot = self.slot;
        // Only the lock holder writes the count: no atomic read-modify-write.
        slot.calls.store(slot.calls.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
        if let Some((index, started)) = self.counted
            && let SlotState::Live(live) = &*self.busy.state
            && let Some(recorder) = live.inbound.get(index)
        {
            if let Some(started) = started {
                recorder.time(started.elapsed());
            }
            if failed {
                recorder.failed();
            }
        }
        slot
    }

    #[cold]
    fn conclude_blocking(&mut self, failure: Fail<P::Id>) -> DispatchError<P::Id> {
        let (slot, site, fuel) = (self.slot, self.site, self.fuel);
        let concluded = drive::now(slot.conclude(Mode::Sync, site, failure, fuel, &mut self.busy.state));
        concluded.unwrap_or_else(|| {
            slot.refusal(
                site,
                Refusal::Unavailable(WasmError::new(wasmtime::format_err!("a synchronous call suspended"))),
            )
        })
    }
}

impl<P: PluginData> Drop for Entered<'_, P> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        if let SlotState::Live(live) = &mut *self.busy.state {
            live.tainted = true;
            // The proxies the plugin holds release their owners' handles
            // now, rather than when the instance is replaced.
            drop(std::mem::take(live.store.data_mut().plugin_mut().resource_table()));
        }
        self.slot.record_cancelled(self.site);
    }
}

impl<P: 'static> Live<P> {
    /// Calls function `index` with `Val`s: the one dynamic call into a
    /// plugin. `out` holds one slot per result. `checked` says the arguments
    /// are well typed by construction (a socket adapter lifted them from a
    /// signature checked at load); otherwise they are checked, on failure
    /// only, to tell the caller's mistake from the plugin's.
    #[inline]
    pub(crate) async fn call_vals_async<Id: crate::Key>(
        &mut self,
        index: FunctionIndex,
        args: &[Val],
        out: &mut [Val],
        checked: bool,
    ) -> Result<(), Fail<Id>>
    where
        P: Send,
    {
        let until = until(self.clock.as_deref(), &self.store);
        let called = within(until, self.funcs[index].call_async(&mut self.store, args, out)).await;
        called.map_err(|error| self.vals_failed(error, index, args, checked))
    }

    /// [`call_vals_async`](Self::call_vals_async) of a synchronous call.
    #[inline]
    pub(crate) fn call_vals_blocking<Id: crate::Key>(
        &mut self,
        index: FunctionIndex,
        args: &[Val],
        out: &mut [Val],
        checked: bool,
    ) -> Result<(), Fail<Id>> {
        self.funcs[index]
            .call(&mut self.store, args, out)
            .map_err(|error| self.vals_failed(error, index, args, checked))
    }

    #[cold]
    fn vals_failed<Id: crate::Key>(
        &self,
        error: wasmtime::Error,
        index: FunctionIndex,
        args: &[Val],
        checked: bool,
    ) -> Fail<Id> {
        let well_typed = checked
            || self.func_types[index].params().zip(args).all(|((_, ty), arg)| crate::types::val_matches(arg, &ty));
        classify(error, well_typed, self.param_resources[index], self.store.data().call.entered)
    }

    /// Calls function `index` with Rust values: the one typed call into a
    /// plugin, asynchronously. The `TypedFunc` is type-checked once per
    /// instance and cached.
    #[inline]
    pub(crate) async fn call_typed_async<Id, Params, Results>(
        &mut self,
        index: FunctionIndex,
        params: Params,
    ) -> Result<Results, Fail<Id>>
    where
        P: Send,
        Id: crate::Key,
        Params: crate::TypedParams,
        Results: crate::TypedResults,
    {
        let func = self.typed_func::<Params, Results>(index).map_err(Fail::InvalidArguments)?;
        let until = until(self.clock.as_deref(), &self.store);
        let called = within(until, func.call_async(&mut self.store, params)).await;
        called.map_err(|error| classify(error, true, self.param_resources[index], self.store.data().call.entered))
    }

    /// [`call_typed_async`](Self::call_typed_async) of a synchronous call.
    #[inline]
    pub(crate) fn call_typed_blocking<Id, Params, Results>(
        &mut self,
        index: FunctionIndex,
        params: Params,
    ) -> Result<Results, Fail<Id>>
    where
        Id: crate::Key,
        Params: crate::TypedParams,
        Results: crate::TypedResults,
    {
        let func = self.typed_func::<Params, Results>(index).map_err(Fail::InvalidArguments)?;
        func.call(&mut self.store, params)
            .map_err(|error| classify(error, true, self.param_resources[index], self.store.data().call.entered))
    }

    #[inline]
    fn typed_func<Params, Results>(&mut self, index: FunctionIndex) -> wasmtime::Result<TypedFunc<Params, Results>>
    where
        Params: crate::TypedParams,
        Results: crate::TypedResults,
    {
        if let Some(Some(cached)) = self.typed.get(index.0)
            && let Some(func) = cached.downcast_ref::<TypedFunc<Params, Results>>()
        {
            return Ok(*func);
        }
        self.check_typed_func(index)
    }

    /// The first typed call of function `index` on this instance with these
    /// types: type-checks it and caches the result.
    #[cold]
    fn check_typed_func<Params, Results>(
        &mut self,
        index: FunctionIndex,
    ) -> wasmtime::Result<TypedFunc<Params, Results>>
    where
        Params: crate::TypedParams,
        Results: crate::TypedResults,
    {
        let func = self
            .funcs
            .get(index.0)
            .ok_or_else(|| wasmtime::format_err!("no function at index {}", index.0))?
            .typed::<Params, Results>(&self.store)?;
        if let Some(slot) = self.typed.get_mut(index.0) {
            *slot = Some(Box::new(func) as Box<dyn std::any::Any + Send + Sync>);
        }
        Ok(func)
    }
}

/// When the call in `store` must end, as a future (none without a ticking
/// clock): the tick after its last.
#[inline]
fn until<'a, T>(clock: Option<&'a Clock>, store: &wasmtime::Store<PluginCtx<T>>) -> Option<crate::limits::Until<'a>> {
    clock.map(|clock| clock.until(store.data().call.ends.saturating_add(1)))
}

/// An asynchronous call into wasm, stopped at its end even while the
/// plugin awaits a host future (epoch interruption only stops running wasm):
/// the call's future is dropped, which unwinds the plugin, and the call
/// fails as if interrupted. A future of its own rather than an `async fn`
/// over `select`: the call's future (wasmtime's, large) is moved in once,
/// not moved again to be pinned.
fn within<T, F: Future<Output = wasmtime::Result<T>>>(
    until: Option<crate::limits::Until<'_>>,
    call: F,
) -> Within<'_, F> {
    Within { call, until }
}

pin_project_lite::pin_project! {
    /// [`within`]'s future.
    pub(crate) struct Within<'a, F> {
        #[pin]
        call: F,
        until: Option<crate::limits::Until<'a>>,
    }
}

impl<T, F: Future<Output = wasmtime::Result<T>>> Future for Within<'_, F> {
    type Output = wasmtime::Result<T>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        let this = self.project();
        if let std::task::Poll::Ready(result) = this.call.poll(cx) {
            return std::task::Poll::Ready(result);
        }
        if let Some(until) = this.until.as_mut()
            && std::pin::Pin::new(until).poll(cx).is_ready()
        {
            return std::task::Poll::Ready(Err(wasmtime::Error::new(wasmtime::Trap::Interrupt)));
        }
        std::task::Poll::Pending
    }
}

/// The one rule for what a failed call into wasm was.
///
/// A trap (or a socket failure that trapped the plugin) means its wasm ran.
/// Otherwise wasmtime failed either before entering wasm, lowering the
/// arguments (a type mismatch, or a resource handle already dropped or given
/// away: handles pass any type check), or after it, lifting a result the
/// plugin wrote, or in a host function the plugin called. The first is the
/// caller's mistake, the rest the plugin's. wasmtime 48 has no public way to
/// type-check `Val`s without lowering them, so ill-typed arguments are found
/// by [`val_matches`](crate::types::val_matches), on this cold path only.
/// Handles pass any type check, so for a function taking resources the
/// store records whether wasm was entered (a call hook, `entered`): a
/// failure of well-typed arguments before it is a bad handle, one after it
/// the plugin's. (wasmtime enters the callee's `cabi_realloc` while it
/// lowers strings and lists: a bad handle after such an argument still
/// reads as entered. Handles through sockets are checked before the call,
/// so this concerns the host's own stale handles only.)
#[cold]
fn classify<Id: crate::Key>(
    error: wasmtime::Error,
    well_typed: bool,
    handles_in_args: bool,
    entered: bool,
) -> Fail<Id> {
    if wasm_failed::<Id>(&error) || (well_typed && (!handles_in_args || entered)) {
        Fail::Ran(error)
    } else {
        Fail::InvalidArguments(error)
    }
}
