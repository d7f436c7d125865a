//! The data of a plugin's store: the user's plugin value, and the state of
//! the call the store is serving.
//!
//! Budgets live here, with the store, rather than with the thread: a store
//! serves one call at a time, so its call state is one frame that every
//! entry overwrites whole. Nothing survives a call that unwound (a panic in a
//! host function, a dropped future), and the memory limiter, the socket
//! adapters and the deadline cap read the frame of the store they run in,
//! whichever thread that is on.

use std::ops::{Deref, DerefMut};
use std::time::Duration;

use wasmtime::ResourceLimiter;

use crate::limits::{Budget, Limits};

/// The data of every plugin's wasmtime `Store`: the plugin value given to
/// [`PluginTree::new`](crate::PluginTree::new), and the runtime's state of the
/// call in progress.
///
/// A [`Linker`](crate::Linker) passed to [`PluginTree::load`](crate::PluginTree::load)
/// is a `Linker<PluginCtx<P>>`; its type is usually inferred
/// (`Linker::new(&engine)`). Host functions reach their plugin's value
/// through [`plugin`](Self::plugin) / [`plugin_mut`](Self::plugin_mut) or by
/// dereferencing:
///
/// ```
/// use wasm_link::{Engine, Linker, PluginCtx};
/// # struct MyPlugin { calls: u32 }
///
/// let engine = Engine::default();
/// let mut linker: Linker<PluginCtx<MyPlugin>> = Linker::new(&engine);
/// linker.root().func_wrap("count", |mut store: wasmtime::StoreContextMut<'_, PluginCtx<MyPlugin>>, (): ()| {
///     let plugin: &mut MyPlugin = store.data_mut();
///     plugin.calls += 1;
///     Ok((plugin.calls,))
/// })?;
/// # Ok::<(), wasmtime::Error>(())
/// ```
pub struct PluginCtx<P> {
    plugin: P,
    pub(crate) call: CallState,
    /// Which instance of a pooled plugin this store is (0 for the first).
    pub(crate) replica: u32,
    /// The engine's ticker clock, when its calls have deadlines: what
    /// [`time_left`](Self::time_left) reads (set once, with the store).
    pub(crate) clock: Option<std::sync::Arc<crate::limits::Clock>>,
    /// The count of other plugins' handles this instance holds (its slot's,
    /// shared with every instance of the slot over time) and its limit: in
    /// the store, so that handles given to a start function, before the slot
    /// exists, count too.
    pub(crate) held: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    pub(crate) held_limit: usize,
}

impl<P> PluginCtx<P> {
    pub(crate) fn new(plugin: P, limits: &Limits, held: std::sync::Arc<std::sync::atomic::AtomicUsize>) -> Self {
        Self { plugin, call: CallState::new(limits), replica: 0, clock: None, held, held_limit: limits.handles }
    }

    /// How long the call in progress may still run: its deadline (or its
    /// caller's, when that ends first) less the time it has used, to the
    /// engine's tick. A host function that waits on something outside the
    /// plugin (a request, a timer) waits at most this long: a plugin
    /// blocked in the host runs no wasm, so the epoch cannot stop it. The
    /// whole deadline on an engine without epoch interruption.
    #[must_use]
    pub fn time_left(&self) -> Duration {
        match &self.clock {
            Some(clock) => {
                let left = self.call.ends.saturating_sub(clock.now());
                crate::limits::TICK.saturating_mul(u32::try_from(left).unwrap_or(u32::MAX))
            }
            None => self.call.deadline,
        }
    }

    /// The plugin value.
    pub fn plugin(&self) -> &P {
        &self.plugin
    }

    /// The plugin value, mutably.
    pub fn plugin_mut(&mut self) -> &mut P {
        &mut self.plugin
    }

    pub(crate) fn into_plugin(self) -> P {
        self.plugin
    }
}

impl<P> Deref for PluginCtx<P> {
    type Target = P;

    fn deref(&self) -> &P {
        &self.plugin
    }
}

impl<P> DerefMut for PluginCtx<P> {
    fn deref_mut(&mut self) -> &mut P {
        &mut self.plugin
    }
}

/// WASI for plugins whose value provides it: `wasmtime_wasi::p2::add_to_linker_sync`
/// takes a `Linker<PluginCtx<P>>` for any `P: WasiView`.
#[cfg(feature = "dir")]
impl<P: wasmtime_wasi::WasiView> wasmtime_wasi::WasiView for PluginCtx<P> {
    fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        self.plugin.ctx()
    }
}

/// Which call chain a call belongs to.
///
/// A synchronous chain is the stack of the thread it runs on, so its id is
/// that thread's (a nested `dispatch` from a host function on the same stack
/// is re-entry, not a new chain). The id travels with the call through the
/// stores it enters, never read back from the thread: a socket call takes
/// its caller's chain from the caller's store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Chain(pub(crate) u64);

thread_local! {
    /// Its address identifies the current thread: cheaper than a `ThreadId`
    /// (no destructor, no lazy initialisation), and never 0.
    static THREAD_MARK: u8 = const { 0 };
    /// The asynchronous chain whose future this thread is polling, 0 when
    /// none (see [`Chain::polled`]).
    static POLLED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Restores the chain polled before, when a poll ends (or unwinds).
pub(crate) struct PollingGuard(u64);

impl Drop for PollingGuard {
    fn drop(&mut self) {
        POLLED.set(self.0);
    }
}

/// The last chain id handed to an asynchronous call. Ids carry the top bit,
/// which no thread mark (an address in user space) has.
static ASYNC_CHAINS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl Chain {
    /// No chain: a store that has served no call yet. No slot is ever busy
    /// on it.
    pub(crate) const NONE: Self = Self(0);

    /// A chain of its own for an asynchronous call: a future may move
    /// between threads and several run on one thread, so the thread names
    /// none of them.
    pub(crate) fn fresh() -> Self {
        let id = ASYNC_CHAINS.fetch_add(1, std::sync::atomic::Ordering::Relaxed).wrapping_add(1);
        Self(id | (1 << 63))
    }

    /// The asynchronous chain being polled on this thread, if any: a
    /// dispatch made from inside it (by a host function a plugin called) is
    /// part of it, and re-entering a plugin it holds is refused, not a
    /// future that waits forever.
    #[inline]
    pub(crate) fn polled() -> Option<Self> {
        let chain = POLLED.get();
        (chain != Self::NONE.0).then_some(Self(chain))
    }

    /// Makes `self` the chain polled on this thread until the guard drops.
    pub(crate) fn polling(self) -> PollingGuard {
        PollingGuard(POLLED.replace(self.0))
    }

    /// The chain of a synchronous call started on this thread.
    #[inline]
    pub(crate) fn this_thread() -> Self {
        Self(THREAD_MARK.with(|mark| std::ptr::from_ref(mark).addr() as u64))
    }
}

/// How a call enters wasm.
///
/// One call path serves both: it is written as `async` code, and a
/// synchronous call polls it once on the caller's stack, where every step
/// completes at once (blocking lock, `Func::call`). An asynchronous call
/// awaits the lock and enters with `call_async` on a fiber, where the plugin
/// can yield at epoch ticks and await async host functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Sync,
    Async,
}

/// Who makes a call: the host, or a plugin through a socket. A callee's
/// deadline is capped by its caller's and its depth is one more.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Caller {
    pub(crate) chain: Chain,
    pub(crate) depth: u32,
    /// The caller's end, in ticks, and the deadline that set it.
    pub(crate) ends: u64,
    pub(crate) deadline: Duration,
    /// The caller's span (feature `otel`): the host's current one, or the
    /// consumer's call.
    #[cfg(feature = "otel")]
    pub(crate) span: Option<std::num::NonZeroU64>,
}

impl Caller {
    /// The host, calling on this thread: the thread's chain, or the
    /// asynchronous chain this thread is polling (a blocking `dispatch`
    /// from a host function inside an async call).
    #[inline]
    pub(crate) fn host() -> Self {
        Self::host_on(Chain::polled().unwrap_or_else(Chain::this_thread))
    }

    /// The host, calling asynchronously: the chain being polled (set by
    /// [`drive::in_chain`](super::drive::in_chain)), or a new one.
    pub(crate) fn host_async() -> Self {
        Self::host_on(Chain::polled().unwrap_or_else(Chain::fresh))
    }

    /// The host on `chain`: no deadline but the callee's own, depth 0.
    #[inline]
    fn host_on(chain: Chain) -> Self {
        Self {
            chain,
            depth: 0,
            ends: u64::MAX,
            deadline: Duration::MAX,
            #[cfg(feature = "otel")]
            span: crate::trace::current(),
        }
    }

    /// The host, calling in `mode`.
    #[inline]
    pub(crate) fn host_in(mode: Mode) -> Self {
        match mode {
            Mode::Sync => Self::host(),
            Mode::Async => Self::host_async(),
        }
    }
}

/// The state of the call a store serves, and the budgets the limiter
/// enforces on it.
pub(crate) struct CallState {
    pub(crate) chain: Chain,
    /// Calls between the host and this one, this one included.
    pub(crate) depth: u32,
    /// The clock (in ticks) when the call started, and when it must end: its
    /// own deadline or its caller's, whichever comes first.
    pub(crate) started: u64,
    pub(crate) ends: u64,
    /// The deadline that decided `ends`, and whether it was the caller's.
    pub(crate) deadline: Duration,
    pub(crate) inherited: bool,
    /// Whether the call runs on a fiber (`call_async`) and so may yield to
    /// the executor at epoch ticks before its end.
    pub(crate) yields: bool,
    /// The budget the call ran into, if any: memory and tables from the
    /// limiter, handles from a socket adapter.
    pub(crate) hit: Option<Budget>,
    /// Whether the call entered wasm, for a plugin with functions taking
    /// resources (set by a call hook, see `instance::start`): an error
    /// before it is the caller's (a bad handle), after it the plugin's.
    pub(crate) entered: bool,
    memory: usize,
    table_elements: usize,
    /// Bytes of linear memory and table elements the store's instances hold
    /// now, all memories and tables together: a component of many core
    /// instances gets one budget, not one per memory.
    memory_used: Tally,
    table_elements_used: Tally,
    /// The call's span (feature `otel`), while it runs.
    #[cfg(feature = "otel")]
    pub(crate) span: tracing::Span,
}

/// What the store's memories (or tables) hold together, and the last growth
/// granted, taken back if the memory or table could not grow after all.
#[derive(Default)]
struct Tally {
    total: usize,
    last: usize,
}

impl Tally {
    /// Grants growing one memory (or table) from `current` to `desired`
    /// within `limit`; `Err` with the total it would have made.
    fn grow(&mut self, current: usize, desired: usize, limit: usize) -> Result<(), usize> {
        // A new memory grows from 0 to its initial size.
        let total = self.total.saturating_add(desired.saturating_sub(current));
        if total > limit {
            return Err(total);
        }
        self.last = total - self.total;
        self.total = total;
        Ok(())
    }

    /// Takes back the last growth granted: refused after all (past the
    /// memory's or table's own maximum, or by the system).
    fn undo(&mut self) {
        self.total = self.total.saturating_sub(self.last);
        self.last = 0;
    }
}

/// The most linear memories, tables and core instances one plugin's store
/// may hold (wasmtime's defaults are 10 000 each; a memory reserves its
/// address space even empty). Components built by the usual toolchains
/// hold a handful of each.
const MAX_MEMORIES: usize = 100;
const MAX_TABLES: usize = 1_000;
const MAX_INSTANCES: usize = 1_000;

impl CallState {
    fn new(limits: &Limits) -> Self {
        Self {
            chain: Chain::NONE,
            depth: 0,
            started: 0,
            ends: u64::MAX,
            deadline: limits.deadline,
            inherited: false,
            yields: false,
            hit: None,
            entered: false,
            memory: limits.memory,
            table_elements: limits.table_elements,
            memory_used: Tally::default(),
            table_elements_used: Tally::default(),
            #[cfg(feature = "otel")]
            span: tracing::Span::none(),
        }
    }

    /// This call as the caller of a socket call it makes.
    #[inline]
    pub(crate) fn as_caller(&self) -> Caller {
        Caller {
            chain: self.chain,
            depth: self.depth,
            ends: self.ends,
            deadline: self.deadline,
            #[cfg(feature = "otel")]
            span: crate::trace::id_of(&self.span),
        }
    }
}

impl ResourceLimiter for CallState {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let granted = self.memory_used.grow(current, desired, self.memory);
        if let Err(requested) = granted {
            self.hit = Some(Budget::Memory { limit: self.memory, requested });
        }
        Ok(granted.is_ok())
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.memory_used.undo();
        Ok(())
    }

    fn table_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let granted = self.table_elements_used.grow(current, desired, self.table_elements);
        if let Err(requested) = granted {
            self.hit = Some(Budget::TableElements { limit: self.table_elements, requested });
        }
        Ok(granted.is_ok())
    }

    fn table_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.table_elements_used.undo();
        Ok(())
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}
