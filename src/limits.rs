//! What a plugin may consume: budgets per call and per instance, how they are
//! enforced, and what happens to a plugin that keeps failing.
//!
//! - **Deadline** per call, by epoch interruption: the runtime starts one
//!   ticker thread per engine that advances the epoch every [`TICK`] and stops
//!   it when the last tree on that engine is dropped. The engine must be built
//!   with [`Config::epoch_interruption`](wasmtime::Config::epoch_interruption)
//!   (see [`default_engine`]); without it deadlines are not enforced.
//!   A socket call made by a plugin spends from its caller's remaining
//!   deadline, so a chain can never outlive the root call's deadline.
//! - **Fuel** per call, when the engine consumes fuel.
//! - **Memory** and **table** sizes per instance, by a resource limiter.
//! - **Handles**: resources of other plugins a plugin may hold at once.
//!
//! The defaults are finite and sized for a plugin, not a whole program, so a
//! stranger's plugin loaded with no configuration is already contained.

use std::collections::BTreeMap;
use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use wasmtime::{Config, Engine, EngineWeak};

/// How often the epoch advances: the granularity of deadlines.
pub(crate) const TICK: Duration = Duration::from_millis(5);

/// How many ticks a plugin called with `dispatch_async` runs before it
/// yields to the executor: other tasks on its thread wait at most this long.
pub(crate) const YIELD_EVERY: u64 = 1;

/// What one plugin may consume. Set per plugin with
/// [`PluginData::limits`](crate::PluginData::limits).
///
/// ```
/// use std::time::Duration;
/// use wasm_link::Limits;
///
/// let strict = Limits { deadline: Duration::from_millis(100), memory: 16 << 20, ..Limits::default() };
/// assert_eq!(strict.handles, Limits::default().handles);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time one call may take, including the socket calls it
    /// makes. Default 5 s. Needs an engine with epoch interruption.
    pub deadline: Duration,
    /// Fuel one call may burn, when the engine consumes fuel
    /// ([`Config::consume_fuel`]); `None` for no limit. Default `None`.
    pub fuel: Option<u64>,
    /// Bytes of linear memory an instance may hold, all its memories
    /// together (a component may instantiate many core modules, each with
    /// its own). Default 64 MiB.
    pub memory: usize,
    /// Table elements an instance may hold, all its tables together.
    /// Default 100 000.
    pub table_elements: usize,
    /// Resource handles of other plugins the plugin may hold at once. Default
    /// 10 000.
    pub handles: usize,
    /// How deep in a call chain the plugin may be called: 1 from the host, 2
    /// through one socket, and so on. Default 1 000. Past it the call is
    /// refused with [`Budget::Depth`] and nothing runs; the chain's native
    /// stack grows as it deepens, so a chain within the limit completes.
    pub depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            deadline: Duration::from_secs(5),
            fuel: None,
            memory: 64 << 20,
            table_elements: 100_000,
            handles: 10_000,
            depth: 1_000,
        }
    }
}

/// What to do with a plugin whose calls fail. Set per plugin with
/// [`PluginData::recovery`](crate::PluginData::recovery).
///
/// After any failure inside wasm the plugin is re-instantiated for the next
/// call. With a [`Quarantine`], a plugin that failed too often is not called
/// at all (calls fail fast with [`DispatchError::Quarantined`](crate::DispatchError::Quarantined))
/// until a cooldown passes. The default never quarantines.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// When to stop calling a failing plugin for a while.
    pub quarantine: Option<Quarantine>,
}

/// Quarantine a plugin after `failures` failures within `window`, for
/// `cooldown`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quarantine {
    /// Failures that trigger the quarantine.
    pub failures: u32,
    /// The window they must fall in.
    pub window: Duration,
    /// How long the plugin is left alone.
    pub cooldown: Duration,
}

/// The budget a call exceeded, with the figure it hit.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Budget {
    /// The call ran past its deadline (or its caller's).
    Deadline {
        /// The deadline that applied.
        limit: Duration,
        /// How long the call had run when it was stopped.
        elapsed: Duration,
    },
    /// The call burnt all its fuel.
    Fuel {
        /// The fuel it had.
        limit: u64,
    },
    /// The instance tried to grow its memory past the limit.
    Memory {
        /// The limit, in bytes.
        limit: usize,
        /// The size asked for, in bytes: all the instance's memories
        /// together, had the growth been granted.
        requested: usize,
    },
    /// The instance tried to grow a table past the limit.
    TableElements {
        /// The limit.
        limit: usize,
        /// The size asked for.
        requested: usize,
    },
    /// The plugin would hold more handles of other plugins than allowed.
    Handles {
        /// The limit.
        limit: usize,
    },
    /// The call chain reached the plugin deeper than it may be called.
    Depth {
        /// The limit.
        limit: usize,
    },
}

impl fmt::Display for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Deadline { limit, elapsed } => {
                write!(f, "deadline of {limit:?} exceeded (stopped after {elapsed:?})")
            }
            Self::Fuel { limit } => write!(f, "fuel of {limit} exhausted"),
            Self::Memory { limit, requested } => {
                write!(f, "memory limit of {limit} bytes (asked for {requested})")
            }
            Self::TableElements { limit, requested } => {
                write!(f, "table limit of {limit} elements (asked for {requested})")
            }
            Self::Handles { limit } => write!(f, "limit of {limit} held resource handles"),
            Self::Depth { limit } => write!(f, "call depth limit of {limit}"),
        }
    }
}

/// A `Config` with what wasm-link needs to contain plugins: epoch
/// interruption (deadlines), and the component model's `map` type (the
/// socket shape of components built for wasm-link 0.3 and 0.4). Add fuel
/// with `consume_fuel(true)`.
#[must_use]
pub fn engine_config() -> Config {
    let mut config = Config::new();
    config.epoch_interruption(true);
    // `map<string, result<T, E>>`, the multi-plugin socket shape of
    // components built for wasm-link 0.3 and 0.4: a type the validator
    // accepts only when asked. Nothing else changes.
    config.wasm_component_model_map(true);
    // Off even when wasmtime's `component-model-async` feature is compiled
    // in (by this crate's feature of that name, or by any other crate of
    // the build asking wasmtime for its defaults): on, every call on the
    // engine costs 3.5x to 5x as much. `async_func_engine_config` turns it on.
    config.concurrency_support(false);
    config
}

/// [`engine_config`] for plugins that export component-model `async func`s
/// (feature `component-model-async`): wasmtime's concurrency support on.
///
/// Load such trees with [`PluginTree::load_async`](crate::PluginTree::load_async)
/// (a synchronous load refuses them with
/// [`LoadError::RequiresAsync`](crate::LoadError::RequiresAsync)); their
/// async functions are awaited like any other. Every call on such an engine
/// costs more, async or not: 3.5x for a blocking call into wasm and 5x for
/// an awaited one on wasmtime 48 (BENCHMARKS.md, "Component-model async"),
/// so keep plugins that need it on an engine of their own. A call cut off
/// at its deadline replaces its instance (as every call cut off does):
/// wasmtime 48 cannot cancel one async task alone (wasmtime issue 11833).
///
/// ```
/// let engine = wasm_link::Engine::new(&wasm_link::async_func_engine_config())?;
/// # Ok::<(), wasmtime::Error>(())
/// ```
#[cfg(feature = "component-model-async")]
#[must_use]
pub fn async_func_engine_config() -> Config {
    let mut config = engine_config();
    config.concurrency_support(true);
    config.wasm_component_model_async(true);
    config
}

/// [`engine_config`] with wasmtime's pooling allocator (feature `pooling`):
/// instances take pre-reserved slots instead of allocating their memories
/// and tables, so instantiating again is cheaper: a trap and the
/// re-instantiation after it take 19 us instead of 31 us in `cargo bench`
/// (`reinstantiate/`), and live swaps and the extra instances of pooled
/// plugins gain alike.
///
/// The pool is wasmtime's default: up to 1000 component instances (and
/// 1000 linear memories, each of at most 4 GiB, reserved as address space
/// up front) on the engine at once, across all its trees; past that an
/// instantiation fails (a [`LoadError::Instantiate`](crate::LoadError::Instantiate)
/// at load). Keep [`engine_config`] for trees larger than that.
///
/// ```
/// let engine = wasm_link::Engine::new(&wasm_link::pooling_engine_config())?;
/// # Ok::<(), wasmtime::Error>(())
/// ```
#[cfg(feature = "pooling")]
#[must_use]
pub fn pooling_engine_config() -> Config {
    let mut config = engine_config();
    config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(
        wasmtime::PoolingAllocationConfig::default(),
    ));
    config
}

/// An engine built from [`engine_config`].
///
/// # Errors
/// When wasmtime rejects the configuration (it does not on supported hosts).
pub fn default_engine() -> wasmtime::Result<Engine> {
    Engine::new(&engine_config())
}

/// Advances an engine's epoch every [`TICK`] while any tree on it is loaded.
pub(crate) struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Ticks since the ticker started, advanced with the engine's epoch: a
    /// clock that costs one atomic load to read on the call path.
    pub(crate) clock: Arc<Clock>,
}

/// The ticker's clock, and the asynchronous calls waiting for a tick.
#[derive(Default)]
pub(crate) struct Clock {
    ticks: AtomicU64,
    /// Wakers of calls waiting for their end (see [`Until`]), by the tick
    /// they wait for and a number of their own.
    sleepers: Mutex<BTreeMap<(u64, u64), Waker>>,
    /// Whether `sleepers` may hold any: read on every tick, locked rarely.
    has_sleepers: AtomicBool,
    next_sleeper: AtomicU64,
}

impl Clock {
    /// The ticks so far.
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        self.ticks.load(Ordering::Relaxed)
    }

    /// Advances the clock, waking the calls whose end came.
    fn tick(&self) {
        let now = self.ticks.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        if !self.has_sleepers.load(Ordering::Acquire) {
            return;
        }
        let mut sleepers = self.sleepers.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(entry) = sleepers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            entry.remove().wake();
        }
        self.has_sleepers.store(!sleepers.is_empty(), Ordering::Release);
    }

    /// A future that completes at tick `at`.
    pub(crate) fn until(&self, at: u64) -> Until<'_> {
        Until { clock: self, at, key: None }
    }
}

/// Completes when the clock reaches a tick: the end of an asynchronous
/// call, raced against the call (see `Live::call_vals`), so a plugin
/// awaiting a host future past its deadline is stopped even though no wasm
/// runs to notice the epoch. Registers its waker only when it waits.
pub(crate) struct Until<'a> {
    clock: &'a Clock,
    at: u64,
    key: Option<(u64, u64)>,
}

impl Future for Until<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.clock.now() >= self.at {
            return Poll::Ready(());
        }
        let key = if let Some(key) = self.key {
            key
        } else {
            let key = (self.at, self.clock.next_sleeper.fetch_add(1, Ordering::Relaxed));
            self.key = Some(key);
            key
        };
        let mut sleepers = self.clock.sleepers.lock().unwrap_or_else(PoisonError::into_inner);
        sleepers.insert(key, cx.waker().clone());
        self.clock.has_sleepers.store(true, Ordering::Release);
        drop(sleepers);
        // The tick may have come between the look and the registration.
        if self.clock.now() >= self.at { Poll::Ready(()) } else { Poll::Pending }
    }
}

impl Drop for Until<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            self.clock.sleepers.lock().unwrap_or_else(PoisonError::into_inner).remove(&key);
        }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The live tickers, one per engine.
static TICKERS: Mutex<Vec<(EngineWeak, Weak<Ticker>)>> = Mutex::new(Vec::new());

impl Ticker {
    /// The engine's ticker, started if it is not running. `None` when the
    /// engine has no epoch interruption (nothing to tick).
    pub(crate) fn for_engine(engine: &Engine) -> Option<Arc<Self>> {
        if !engine.get_epoch_interruption() {
            return None;
        }
        let mut tickers = TICKERS.lock().unwrap_or_else(PoisonError::into_inner);
        tickers.retain(|(engine, ticker)| engine.upgrade().is_some() && ticker.strong_count() > 0);
        let existing = tickers.iter().find_map(|(weak, ticker)| {
            let running = weak.upgrade().is_some_and(|e| Engine::same(&e, engine));
            running.then(|| ticker.upgrade()).flatten()
        });
        if let Some(ticker) = existing {
            return Some(ticker);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let clock = Arc::new(Clock::default());
        let weak = engine.weak();
        let thread_stop = stop.clone();
        let thread_clock = clock.clone();
        let thread = std::thread::Builder::new()
            .name("wasm-link-epoch".to_owned())
            .spawn(move || {
                while !thread_stop.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    match weak.upgrade() {
                        Some(engine) => {
                            // The clock first: a call reading it never
                            // expects less time than the epoch gives it.
                            thread_clock.tick();
                            engine.increment_epoch();
                        }
                        None => return,
                    }
                }
            })
            .ok()?;
        let ticker = Arc::new(Self { stop, thread: Some(thread), clock });
        tickers.push((engine.weak(), Arc::downgrade(&ticker)));
        Some(ticker)
    }
}

/// A deadline in ticks, rounded up.
pub(crate) fn ticks(deadline: Duration) -> u64 {
    // In u64 with a constant divisor: a u128 division is a library call.
    let whole_seconds = deadline.as_secs().saturating_mul(1_000_000_000 / TICK_NANOS);
    let ticks = whole_seconds.saturating_add(u64::from(deadline.subsec_nanos()).div_ceil(TICK_NANOS));
    // wasmtime adds the current epoch to a deadline: `Duration::MAX` would
    // overflow it. 2^48 ticks is some 44 000 years.
    ticks.min(MAX_TICKS)
}

/// The longest deadline, in ticks.
const MAX_TICKS: u64 = 1 << 48;

/// [`TICK`] in nanoseconds; it divides a second.
const TICK_NANOS: u64 = 5_000_000;
const _: () = assert!(TICK.as_nanos() == TICK_NANOS as u128 && 1_000_000_000 % TICK_NANOS == 0);
