//! The call path's contract, pinned as behaviour: what a panicking host
//! function, a trap, a handle budget and a deep chain of sockets leave behind.
//!
//! Written ahead of the call path's redesign: several of these failed on the
//! code before it (b745483), as each test's comment says.

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use wasm_link::{
    Budget, DispatchError, Engine, InterfaceCardinality, Limits, Linker, PluginCtx, PluginTree, Socket, Val,
    error_chain,
};

use crate::fixtures::{Interface, Plugin, component, func};
use crate::plugins::{PLAIN, RESULT_DISPATCH_ERROR, RESULT_STRING, caller, consumer, number, number_interface};
use crate::{Head, health_of};

type Outcome = Result<Val, DispatchError<String>>;

fn engine() -> Engine {
    wasm_link::default_engine().expect("the default engine builds")
}

/// Builds and loads a tree with `linker`, asserting nothing went wrong.
fn load_with(
    engine: &Engine,
    linker: &Linker<PluginCtx<Plugin>>,
    root: &str,
    interfaces: Vec<Interface>,
    plugins: Vec<Plugin>,
) -> Head {
    let (tree, build_errors) = PluginTree::new(root.to_owned(), interfaces, plugins);
    assert!(build_errors.is_empty(), "unexpected build errors: {build_errors:#?}");
    match tree.load(engine, linker) {
        Ok((head, errors)) => {
            assert!(errors.is_empty(), "unexpected load errors: {errors:#?}");
            head
        }
        Err((primary, others)) => panic!("root cannot be served: {primary}; others: {others:#?}"),
    }
}

fn one(head: &Head, path: &str, function: &str, args: &[Val]) -> Outcome {
    match head.dispatch(path, function, true, args) {
        Socket::ExactlyOne(result) => result,
        other => panic!("expected ExactlyOne, got {other:?}"),
    }
}

/// Runs `f` on a fresh thread and returns what it returns: what a panic
/// leaves in a thread's state dies with that thread, not with the test's.
fn on_fresh_thread<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    std::thread::spawn(f).join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

// ---------------------------------------------------------------------------
// 1. A panicking host function
// ---------------------------------------------------------------------------

/// The host side of the panic tests: `test:fixtures/host#callback` panics
/// once when armed (and returns 5 otherwise), `test:callpath/clock#now-ms`
/// tells the time, `test:callpath/probe#here` records the calling thread and
/// takes a millisecond.
struct Host {
    engine: Engine,
    linker: Linker<PluginCtx<Plugin>>,
    armed: Arc<AtomicBool>,
    seen: Arc<Mutex<HashSet<ThreadId>>>,
}

/// `wait#wait(ms)` spins in wasm for `ms` wall-clock milliseconds (by the
/// host's `clock#now-ms`) and returns `ms`.
fn waiter() -> Vec<u8> {
    component(
        r"package test:callpath;
        interface clock { now-ms: func() -> u32; }
        interface wait { wait: func(ms: u32) -> u32; }
        world w { import clock; export wait; }",
        "w",
        r#"(module
            (import "test:callpath/clock" "now-ms" (func $now (result i32)))
            (func (export "test:callpath/wait#wait") (param $ms i32) (result i32)
                (local $start i32)
                (local.set $start (call $now))
                (block $done (loop $spin
                    (br_if $done (i32.ge_u (i32.sub (call $now) (local.get $start)) (local.get $ms)))
                    (br $spin)))
                (local.get $ms)))"#,
    )
}

fn process_start() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

impl Host {
    fn new() -> Self {
        let engine = engine();
        let mut linker = Linker::new(&engine);
        let armed = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(HashSet::new()));
        let trigger = armed.clone();
        linker
            .instance("test:fixtures/host")
            .unwrap()
            .func_wrap("callback", move |_store, (): ()| -> wasmtime::Result<(u32,)> {
                assert!(!trigger.swap(false, Ordering::SeqCst), "the host function panics");
                Ok((5,))
            })
            .unwrap();
        linker
            .instance("test:callpath/clock")
            .unwrap()
            .func_wrap("now-ms", |_store, (): ()| -> wasmtime::Result<(u32,)> {
                Ok((u32::try_from(process_start().elapsed().as_millis()).unwrap_or(u32::MAX),))
            })
            .unwrap();
        let record = seen.clone();
        linker
            .instance("test:callpath/probe")
            .unwrap()
            .func_wrap("here", move |_store, (): ()| -> wasmtime::Result<()> {
                record.lock().unwrap_or_else(PoisonError::into_inner).insert(std::thread::current().id());
                std::thread::sleep(Duration::from_millis(1));
                Ok(())
            })
            .unwrap();
        Self { engine, linker, armed, seen }
    }

    /// A tree whose root `caller#run` returns what the host's callback
    /// returns, with the given deadline.
    fn caller_tree(&self, deadline: Duration) -> Head {
        let interface =
            Interface::new("caller", InterfaceCardinality::ExactlyOne, "test:fixtures/caller", vec![func("run")]);
        let plugin = Plugin::new("caller", "caller", &[], caller()).limits(Limits { deadline, ..Limits::default() });
        load_with(&self.engine, &self.linker, "caller", vec![interface], vec![plugin])
    }

    /// A tree whose root `wait#wait(ms)` spins in wasm for `ms` wall-clock
    /// milliseconds and returns `ms`, with the given deadline.
    fn waiter_tree(&self, deadline: Duration) -> Head {
        let wasm = waiter();
        let interface =
            Interface::new("wait", InterfaceCardinality::ExactlyOne, "test:callpath/wait", vec![func("wait")]);
        let plugin = Plugin::new("waiter", "wait", &[], wasm).limits(Limits { deadline, ..Limits::default() });
        load_with(&self.engine, &self.linker, "wait", vec![interface], vec![plugin])
    }

    /// An `Any` root of eight plugins whose `value` calls the probe (a
    /// millisecond each) and returns the plugin's number.
    fn probed_tree(&self) -> Head {
        let plugins = (0..8u32)
            .map(|i| {
                let wasm = component(
                    r"package test:callpath;
                    interface probe { here: func(); }
                    interface probed { value: func() -> u32; }
                    world w { import probe; export probed; }",
                    "w",
                    &format!(
                        r#"(module
                            (import "test:callpath/probe" "here" (func $here))
                            (func (export "test:callpath/probed#value") (result i32) (call $here) i32.const {i}))"#
                    ),
                );
                Plugin::new(&format!("p{i}"), "probed", &[], wasm)
            })
            .collect();
        let interface =
            Interface::new("probed", InterfaceCardinality::Any, "test:callpath/probed", vec![func("value")]);
        load_with(&self.engine, &self.linker, "probed", vec![interface], plugins)
    }

    /// Calls `caller#run` with the callback armed, and checks that the panic
    /// reached the host.
    fn panic_in(&self, head: &Head) {
        self.armed.store(true, Ordering::SeqCst);
        let outcome = catch_unwind(AssertUnwindSafe(|| head.dispatch("test:fixtures/caller", "run", true, &[])));
        assert!(outcome.is_err(), "the host function's panic reaches the host: {outcome:?}");
    }
}

/// Pins a bug of the call path before its redesign (b745483): the panicking
/// call's frame stays on the thread's budget stack (`limits::CALLS`), so every
/// later call on the thread is capped by that call's long-gone 50 ms deadline
/// and interrupted at once.
#[test]
fn after_a_host_function_panicked_a_later_call_gets_its_whole_deadline() {
    let outcome = on_fresh_thread(|| {
        let host = Host::new();
        let panicking = host.caller_tree(Duration::from_millis(50));
        let waiter = host.waiter_tree(Duration::from_secs(5));
        host.panic_in(&panicking);
        one(&waiter, "test:callpath/wait", "wait", &[Val::U32(300)])
    });
    assert!(matches!(outcome, Ok(Val::U32(300))), "300 ms of work under a 5 s deadline: {outcome:?}");
}

/// Pins a bug of the call path before its redesign (b745483): the 200 ms call
/// is stopped at once, reporting the stale 50 ms deadline of the call that
/// panicked.
#[test]
fn after_a_host_function_panicked_a_later_call_is_cut_off_at_its_own_deadline() {
    let deadline = Duration::from_millis(200);
    let outcome = on_fresh_thread(move || {
        let host = Host::new();
        let panicking = host.caller_tree(Duration::from_millis(50));
        let waiter = host.waiter_tree(deadline);
        host.panic_in(&panicking);
        one(&waiter, "test:callpath/wait", "wait", &[Val::U32(10_000)])
    });
    assert!(
        matches!(&outcome, Err(DispatchError::BudgetExceeded { budget: Budget::Deadline { limit, elapsed }, .. })
            if *limit == deadline && *elapsed >= deadline),
        "stopped at its own 200 ms deadline: {outcome:?}"
    );
}

/// Pins a bug of the call path before its redesign (b745483): the stale frame
/// makes `limits::depth() != 0`, which the fan-out reads as "inside a plugin
/// call" and so runs every call on this thread. The panicking call's deadline
/// is long here, so only the fan-out is tested.
#[test]
fn after_a_host_function_panicked_slow_calls_still_fan_out_over_threads() {
    let Some(threads) = threads_of_slow_fan_outs(true) else { return };
    assert!(threads > 1, "the calls ran on {threads} thread(s): they never left the dispatching thread");
}

/// The control for the test above: without a panic the same calls do leave
/// the dispatching thread, so the fan-out is observable here.
#[test]
fn slow_calls_fan_out_over_threads_when_nothing_panicked() {
    let Some(threads) = threads_of_slow_fan_outs(false) else { return };
    assert!(threads > 1, "the calls ran on {threads} thread(s)");
}

/// On a fresh thread (after a host function panicked on it, if `panic`),
/// dispatches slow calls to several plugins a few times and returns how many
/// threads ran them; `None` on one core, where there is nothing to observe.
fn threads_of_slow_fan_outs(panic: bool) -> Option<usize> {
    if std::thread::available_parallelism().map_or(1, std::num::NonZero::get) < 2 {
        eprintln!("one core: no helper threads to fan out to; nothing to observe");
        return None;
    }
    Some(on_fresh_thread(move || {
        let host = Host::new();
        if panic {
            let panicking = host.caller_tree(Duration::from_mins(1));
            host.panic_in(&panicking);
        }
        let probed = host.probed_tree();
        // The first dispatch measures the cost (a millisecond per call, far
        // above the fan-out threshold); the next ones fan out.
        for _ in 0..5 {
            let Socket::Any(values) = probed.dispatch("test:callpath/probed", "value", true, &[]) else {
                panic!("expected Any")
            };
            assert!(values.values().all(Result::is_ok), "{values:?}");
        }
        host.seen.lock().unwrap_or_else(PoisonError::into_inner).len()
    }))
}

/// The plugin whose host function panicked serves the next call, on the same
/// thread.
#[test]
fn after_a_host_function_panicked_its_plugin_serves_the_next_call() {
    let outcome = on_fresh_thread(|| {
        let host = Host::new();
        let head = host.caller_tree(Duration::from_mins(1));
        host.panic_in(&head);
        one(&head, "test:fixtures/caller", "run", &[])
    });
    assert!(matches!(outcome, Ok(Val::U32(5))), "{outcome:?}");
}

// ---------------------------------------------------------------------------
// 2. A trap is a `Trap` and replaces the instance, whatever the entry point
// ---------------------------------------------------------------------------

const FIXED_WIT: &str = r"package test:callpath;
interface fixed { boom: func(xs: list<u32, 4>) -> u32; }
world provider { export fixed; }
";

/// An engine that accepts fixed-length lists (`list<T, N>`), with epoch
/// interruption as `default_engine`.
fn fixed_engine() -> Engine {
    let mut config = wasm_link::engine_config();
    config.wasm_component_model_fixed_length_lists(true);
    Engine::new(&config).expect("an engine with fixed-length lists")
}

/// A plugin whose `fixed#boom(list<u32, 4>)` traps.
fn fixed_tree() -> Head {
    let wasm = component(
        FIXED_WIT,
        "provider",
        r#"(module
            (func (export "test:callpath/fixed#boom") (param i32 i32 i32 i32) (result i32) unreachable))"#,
    );
    let interface =
        Interface::new("fixed", InterfaceCardinality::ExactlyOne, "test:callpath/fixed", vec![func("boom")]);
    let engine = fixed_engine();
    load_with(&engine, &Linker::new(&engine), "fixed", vec![interface], vec![Plugin::new("p", "fixed", &[], wasm)])
}

fn is_trap_of(outcome: &Result<impl std::fmt::Debug, DispatchError<String>>, plugin: &str) -> bool {
    matches!(outcome, Err(DispatchError::Trap { plugin: p, reinstantiated: true, .. }) if p == plugin)
}

fn replaced_once(head: &Head, plugin: &str) -> (u64, u64) {
    let health = health_of(head, plugin);
    (health.failures, health.reinstantiations)
}

/// Pins a bug of the call path before its redesign (b745483):
/// `types::val_matches` does not know fixed-length lists, so the trap is taken
/// for ill-typed arguments (`InvalidArguments`) and the trapped instance is
/// kept.
#[test]
fn a_trap_with_a_fixed_length_list_argument_is_a_trap_through_dispatch() {
    let head = fixed_tree();
    let list = Val::FixedLengthList(vec![Val::U32(1), Val::U32(2), Val::U32(3), Val::U32(4)]);
    let outcome = one(&head, "test:callpath/fixed", "boom", &[list]);
    assert!(is_trap_of(&outcome, "p"), "{outcome:?}");
}

#[test]
fn a_trap_with_a_fixed_length_list_argument_replaces_the_instance_through_dispatch() {
    let head = fixed_tree();
    let list = Val::FixedLengthList(vec![Val::U32(1), Val::U32(2), Val::U32(3), Val::U32(4)]);
    let _ = one(&head, "test:callpath/fixed", "boom", &[list]);
    assert_eq!(replaced_once(&head, "p"), (1, 1), "(failures, reinstantiations)");
}

#[test]
fn a_trap_with_a_fixed_length_list_argument_is_a_trap_through_typed_dispatch() {
    let head = fixed_tree();
    let boom = head.typed::<([u32; 4],), (u32,)>("boom").expect("`boom` exists");
    let Socket::ExactlyOne(outcome) = boom.call(([1, 2, 3, 4],)) else { panic!("expected ExactlyOne") };
    assert!(is_trap_of(&outcome, "p"), "{outcome:?}");
    assert_eq!(replaced_once(&head, "p"), (1, 1), "(failures, reinstantiations)");
}

/// A consumer of `number` (imported as `shape`) over a provider `a` whose
/// `fail` traps; returns the host's outcome of `sum#failing` and the head.
fn socket_trap(shape: &crate::plugins::ImportShape) -> (Outcome, Head) {
    let engine = engine();
    let head = load_with(
        &engine,
        &Linker::new(&engine),
        "sum",
        vec![crate::plugins::sum_interface(), number_interface(InterfaceCardinality::ExactlyOne)],
        vec![
            Plugin::new("sum", "sum", &["number"], consumer(shape)),
            Plugin::new("a", "number", &[], number(7, false)),
        ],
    );
    (one(&head, "test:fixtures/sum", "failing", &[]), head)
}

#[test]
fn a_trap_behind_a_plain_socket_reaches_the_host_as_the_providers_trap() {
    let (outcome, _) = socket_trap(&PLAIN);
    let Err(error @ DispatchError::Socket { .. }) = &outcome else { panic!("expected a socket failure: {outcome:?}") };
    let cause = error.root_cause();
    assert!(matches!(cause, DispatchError::Trap { plugin, reinstantiated: true, .. } if plugin == "a"), "{cause:?}");
}

#[test]
fn a_trap_behind_a_plain_socket_replaces_the_provider_once() {
    let (_, head) = socket_trap(&PLAIN);
    assert_eq!(replaced_once(&head, "a"), (1, 1), "(failures, reinstantiations)");
}

#[test]
fn a_trap_behind_a_result_string_socket_reaches_the_consumer_and_replaces_the_provider_once() {
    let (outcome, head) = socket_trap(&RESULT_STRING);
    assert!(matches!(outcome, Ok(Val::U32(n)) if n > 1000), "the consumer got the error text: {outcome:?}");
    assert_eq!(replaced_once(&head, "a"), (1, 1), "(failures, reinstantiations)");
}

#[test]
fn a_trap_behind_a_result_dispatch_error_socket_reaches_the_consumer_and_replaces_the_provider_once() {
    let (outcome, head) = socket_trap(&RESULT_DISPATCH_ERROR);
    // case 0 (`trap`), plugin id `a` (1 byte)
    assert!(matches!(outcome, Ok(Val::U32(1001))), "{outcome:?}");
    assert_eq!(replaced_once(&head, "a"), (1, 1), "(failures, reinstantiations)");
}

/// A consumer passing a fixed-length list through its socket to a provider
/// that traps on it.
///
/// Pins a bug of the call path before its redesign (b745483): it did not get as
/// far as the trap: `types::same_type` does not know fixed-length lists either,
/// so the load refuses the consumer's import (`SocketSignature`) although it
/// matches the provider's export.
#[test]
fn a_trap_behind_a_socket_with_a_fixed_length_list_argument_replaces_the_provider_once() {
    let engine = fixed_engine();
    let provider = component(
        FIXED_WIT,
        "provider",
        r#"(module
            (func (export "test:callpath/fixed#boom") (param i32 i32 i32 i32) (result i32) unreachable))"#,
    );
    let user = component(
        r"package test:callpath;
        interface fixed { boom: func(xs: list<u32, 4>) -> result<u32, string>; }
        interface user { run: func() -> u32; }
        world consumer { import fixed; export user; }",
        "consumer",
        &format!(
            r#"(module
                (import "test:callpath/fixed" "boom" (func $boom (param i32 i32 i32 i32 i32)))
                {allocator}
                (func (export "test:callpath/user#run") (result i32)
                    (call $reset)
                    (call $boom (i32.const 1) (i32.const 2) (i32.const 3) (i32.const 4) (i32.const 16))
                    (if (result i32) (i32.load8_u (i32.const 16))
                        (then (i32.const 1000))
                        (else (i32.load (i32.const 20))))))"#,
            allocator = crate::fixtures::ALLOCATOR
        ),
    );
    let interfaces = vec![
        Interface::new("user", InterfaceCardinality::ExactlyOne, "test:callpath/user", vec![func("run")]),
        Interface::new("fixed", InterfaceCardinality::ExactlyOne, "test:callpath/fixed", vec![func("boom")]),
    ];
    let plugins = vec![Plugin::new("user", "user", &["fixed"], user), Plugin::new("p", "fixed", &[], provider)];
    let head = load_with(&engine, &Linker::new(&engine), "user", interfaces, plugins);
    let outcome = one(&head, "test:callpath/user", "run", &[]);
    assert!(matches!(outcome, Ok(Val::U32(1000))), "the consumer got the error: {outcome:?}");
    assert_eq!(replaced_once(&head, "p"), (1, 1), "(failures, reinstantiations)");
}

/// A tree whose root `caller#run` calls a host function that fails with an
/// error (not a trap, not a panic).
fn failing_host_tree() -> Head {
    let engine = engine();
    let mut linker = Linker::new(&engine);
    linker
        .instance("test:fixtures/host")
        .unwrap()
        .func_wrap("callback", |_store, (): ()| -> wasmtime::Result<(u32,)> {
            Err(wasmtime::format_err!("the host refuses"))
        })
        .unwrap();
    let interface =
        Interface::new("caller", InterfaceCardinality::ExactlyOne, "test:fixtures/caller", vec![func("run")]);
    load_with(&engine, &linker, "caller", vec![interface], vec![Plugin::new("caller", "caller", &[], caller())])
}

/// Pins a bug of the call path before its redesign (b745483): `typed.rs` counts
/// only a `wasmtime::Trap` or a socket trap as "wasm ran", so a host function's
/// error comes back as `InvalidArguments` and the instance is kept.
#[test]
fn a_host_function_error_under_typed_dispatch_is_a_trap_and_replaces_the_instance() {
    let head = failing_host_tree();
    let run = head.typed::<(), (u32,)>("run").expect("`run` exists");
    let Socket::ExactlyOne(outcome) = run.call(()) else { panic!("expected ExactlyOne") };
    assert!(is_trap_of(&outcome, "caller"), "{outcome:?}");
    assert_eq!(replaced_once(&head, "caller"), (1, 1), "(failures, reinstantiations)");
}

#[test]
fn a_host_function_error_under_dispatch_is_a_trap_and_replaces_the_instance() {
    let head = failing_host_tree();
    let outcome = one(&head, "test:fixtures/caller", "run", &[]);
    assert!(is_trap_of(&outcome, "caller"), "{outcome:?}");
    assert_eq!(replaced_once(&head, "caller"), (1, 1), "(failures, reinstantiations)");
}

// ---------------------------------------------------------------------------
// 3. The handle budget is the consumer's
// ---------------------------------------------------------------------------

/// `user#hoard(n)` constructs `n` docs through its socket and keeps them all;
/// `user#provider-live` asks the owner how many docs are alive.
fn hoarder() -> Vec<u8> {
    component(
        &format!(
            "package test:fixtures;
            interface docs {{ {} }}
            interface user {{ hoard: func(n: u32) -> u32; provider-live: func() -> u32; }}
            world w {{ import docs; export user; }}",
            crate::plugins::DOCS_ITEMS
        ),
        "w",
        r#"(module
            (import "test:fixtures/docs" "[constructor]doc" (func $ctor (param i32) (result i32)))
            (import "test:fixtures/docs" "live" (func $live (result i32)))
            (func (export "test:fixtures/user#hoard") (param $n i32) (result i32)
                (local $i i32)
                (block $done (loop $next
                    (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
                    (drop (call $ctor (local.get $i)))
                    (local.set $i (i32.add (local.get $i) (i32.const 1)))
                    (br $next)))
                (local.get $n))
            (func (export "test:fixtures/user#provider-live") (result i32) (call $live)))"#,
    )
}

/// `user` may hold two handles and hoards three docs of `docs`.
fn over_the_handle_budget() -> (Outcome, Head) {
    let user = Interface::new(
        "user",
        InterfaceCardinality::ExactlyOne,
        "test:fixtures/user",
        vec![func("hoard"), func("provider-live")],
    );
    let engine = engine();
    let head = load_with(
        &engine,
        &Linker::new(&engine),
        "user",
        vec![user, crate::plugins::docs_interface(InterfaceCardinality::ExactlyOne)],
        vec![
            Plugin::new("user", "user", &["docs"], hoarder()).limits(Limits { handles: 2, ..Limits::default() }),
            Plugin::new("docs", "docs", &[], crate::plugins::docs()),
        ],
    );
    (one(&head, "test:fixtures/user", "hoard", &[Val::U32(3)]), head)
}

/// `user` whose start function constructs `n` docs through its socket and
/// keeps them (before its slot exists: the handles must count all the same).
fn start_hoarder(n: u32) -> Vec<u8> {
    component(
        &format!(
            "package test:fixtures;
            interface docs {{ {} }}
            interface user {{ provider-live: func() -> u32; }}
            world w {{ import docs; export user; }}",
            crate::plugins::DOCS_ITEMS
        ),
        "w",
        &format!(
            r#"(module
                (import "test:fixtures/docs" "[constructor]doc" (func $ctor (param i32) (result i32)))
                (import "test:fixtures/docs" "live" (func $live (result i32)))
                (func $start (local $i i32)
                    (block $done (loop $next
                        (br_if $done (i32.ge_u (local.get $i) (i32.const {n})))
                        (drop (call $ctor (local.get $i)))
                        (local.set $i (i32.add (local.get $i) (i32.const 1)))
                        (br $next))))
                (start $start)
                (func (export "test:fixtures/user#provider-live") (result i32) (call $live)))"#
        ),
    )
}

/// A start function receiving more handles than its plugin may hold is
/// stopped at the budget, and the plugin fails to load charged with it: the
/// owner, whose memory the handles would fill, is not blamed.
#[test]
fn a_start_function_is_held_to_its_plugins_handle_budget() {
    let engine = engine();
    let plugins = |n| {
        vec![
            Plugin::new("user", "user", &["docs"], start_hoarder(n)).limits(Limits { handles: 2, ..Limits::default() }),
            Plugin::new("docs", "docs", &[], crate::plugins::docs()),
        ]
    };
    let interfaces = || {
        let user =
            Interface::new("user", InterfaceCardinality::ExactlyOne, "test:fixtures/user", vec![func("provider-live")]);
        vec![user, crate::plugins::docs_interface(InterfaceCardinality::ExactlyOne)]
    };
    // Within the budget, it loads holding its two handles.
    let head = load_with(&engine, &Linker::new(&engine), "user", interfaces(), plugins(2));
    assert_eq!(health_of(&head, "user").held_handles, 2);
    // Over it, the load of `user` fails, naming `user` and its budget.
    let (tree, build_errors) = PluginTree::new("user".to_owned(), interfaces(), plugins(3));
    assert!(build_errors.is_empty(), "{build_errors:#?}");
    let Err((_, failed)) = tree.load(&engine, &Linker::new(&engine)) else {
        panic!("three handles under a budget of two loaded");
    };
    let [failed] = failed.as_slice() else { panic!("one plugin fails to load: {failed:#?}") };
    let described = format!("{failed:?}");
    assert!(
        described.contains("plugin: \"user\"")
            && described.contains("plugin `user` exceeded its limit of 2 held resource handles"),
        "the consumer, over its own budget: {described}"
    );
}

/// Pins a bug of the call path before its redesign (b745483): the budget error
/// names the owner (`docs`), which only did as asked.
#[test]
fn a_consumer_over_its_handle_budget_is_named_in_the_error() {
    let (outcome, _) = over_the_handle_budget();
    let Err(error) = &outcome else { panic!("three handles under a budget of two: {outcome:?}") };
    assert!(
        matches!(error.root_cause(), DispatchError::BudgetExceeded { plugin, budget: Budget::Handles { limit: 2 }, .. }
            if plugin == "user"),
        "{error:?}"
    );
}

/// Pins a bug of the call path before its redesign (b745483): the owner's
/// health counts the failure.
#[test]
fn a_consumer_over_its_handle_budget_leaves_the_owner_without_failures() {
    let (_, head) = over_the_handle_budget();
    let (owner, consumer) = (health_of(&head, "docs"), health_of(&head, "user"));
    assert_eq!((owner.failures, consumer.failures), (0, 1), "(owner, consumer) failures");
}

#[test]
fn a_handle_that_could_not_be_delivered_is_dropped_in_its_owner() {
    let (_, head) = over_the_handle_budget();
    assert!(matches!(one(&head, "test:fixtures/user", "provider-live", &[]), Ok(Val::U32(0))));
    assert_eq!(health_of(&head, "user").held_handles, 0);
}

// ---------------------------------------------------------------------------
// 4. A deep chain of sockets
// ---------------------------------------------------------------------------

/// Plugin `c{i}` serves `test:chain/l{i}#next`: for `i < depth` it calls
/// `l{i + 1}#next` and adds one; `c{depth}` returns 0.
fn chain_link(i: u32, depth: u32) -> Vec<u8> {
    if i == depth {
        return component(
            &format!("package test:chain; interface l{i} {{ next: func() -> u32; }} world w {{ export l{i}; }}"),
            "w",
            &format!(r#"(module (func (export "test:chain/l{i}#next") (result i32) i32.const 0))"#),
        );
    }
    let j = i + 1;
    component(
        &format!(
            "package test:chain;
            interface l{i} {{ next: func() -> u32; }}
            interface l{j} {{ next: func() -> u32; }}
            world w {{ import l{j}; export l{i}; }}"
        ),
        "w",
        &format!(
            r#"(module
                (import "test:chain/l{j}" "next" (func $next (result i32)))
                (func (export "test:chain/l{i}#next") (result i32) (i32.add (call $next) (i32.const 1))))"#
        ),
    )
}

/// A chain of `depth` socket hops below the root plugin, every plugin
/// under `limits`, dispatched once on a thread with a 2 MiB stack (Rust's
/// default for spawned threads). The thread must return: an abort would
/// take the whole test binary down.
fn dispatch_deep_chain(depth: u32, limits: &Limits) -> Outcome {
    let head = deep_chain(depth, limits, |i| format!("c{i}"));
    let head = Arc::new(head);
    let outcome = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || one(&head, "test:chain/l0", "next", &[]))
        .expect("a thread starts")
        .join();
    let Ok(outcome) = outcome else { panic!("the dispatching thread panicked") };
    outcome
}

/// Loads a chain of `depth` socket hops below the root plugin, every plugin
/// under `limits`, plugin `i` (hop `i`) named `id(i)`.
fn deep_chain(depth: u32, limits: &Limits, name: impl Fn(u32) -> String) -> Head {
    let started = Instant::now();
    let (interfaces, plugins) = deep_chain_parts(depth, limits, name);
    let engine = engine();
    let head = load_with(&engine, &Linker::new(&engine), "l0", interfaces, plugins);
    eprintln!("chain of {depth} built and loaded in {:?}", started.elapsed());
    head
}

/// The interfaces and plugins of [`deep_chain`]; `l0` is the root.
pub fn deep_chain_parts(depth: u32, limits: &Limits, name: impl Fn(u32) -> String) -> (Vec<Interface>, Vec<Plugin>) {
    let mut interfaces = Vec::new();
    let mut plugins = Vec::new();
    for i in 0..=depth {
        let id = format!("l{i}");
        interfaces.push(Interface::new(
            &id,
            InterfaceCardinality::ExactlyOne,
            &format!("test:chain/l{i}"),
            vec![func("next")],
        ));
        let sockets: Vec<String> = if i < depth { vec![format!("l{}", i + 1)] } else { Vec::new() };
        let sockets: Vec<&str> = sockets.iter().map(String::as_str).collect();
        plugins.push(Plugin::new(&name(i), &id, &sockets, chain_link(i, depth)).limits(limits.clone()));
    }
    (interfaces, plugins)
}

/// Dropping a tree frees every plugin without recursing down the chain:
/// here the leaf's id sorts first and the root's last, and the head is
/// dropped on a thread with 256 KiB of stack.
#[test]
fn dropping_a_deep_chain_does_not_recurse_down_it() {
    let head = deep_chain(300, &Limits::default(), |i| format!("p{:04}", 300 - i));
    let dropped = std::thread::Builder::new().stack_size(256 << 10).spawn(move || drop(head)).expect("a thread starts");
    assert!(dropped.join().is_ok());
}

/// Each hop costs the host 13-20 KiB of native stack in a debug build: 300
/// hops are more than a 2 MiB thread holds, so the chain continues on
/// fresh stack segments and completes.
#[test]
fn a_three_hundred_deep_chain_completes_on_a_two_mib_thread() {
    assert_eq!(dispatch_deep_chain(300, &Limits::default()).map_err(|e| error_chain(&e)), Ok(Val::U32(300)));
}

/// Past a plugin's depth limit the call is refused with a typed error that
/// travels up the chain; nothing aborts and nobody is charged a failure.
#[test]
fn a_chain_deeper_than_the_depth_limit_ends_in_a_typed_error() {
    let limits = Limits { depth: 10, ..Limits::default() };
    let Err(error) = dispatch_deep_chain(30, &limits) else { panic!("a 30-deep chain ran past a depth limit of 10") };
    let mut innermost = &error;
    while let DispatchError::Socket { source, .. } = innermost {
        innermost = source;
    }
    match innermost {
        DispatchError::BudgetExceeded { plugin, budget: Budget::Depth { limit: 10 }, .. } => assert_eq!(plugin, "c10"),
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------
// 5. `Socket` without bounds
// ---------------------------------------------------------------------------

/// Code written against wasm-link 0.1.0's `Socket<T, Id>` names the enum
/// without bounds.
mod socket_without_bounds {
    use wasm_link::Socket;

    /// Generic over any id, with no bounds on it.
    fn count<T, Id>(socket: &Socket<T, Id>) -> usize {
        match socket {
            Socket::ExactlyOne(_) => 1,
            Socket::AtMostOne(value) => usize::from(value.is_some()),
            Socket::AtLeastOne(map) | Socket::Any(map) => map.len(),
        }
    }

    #[test]
    fn a_socket_is_usable_generically_without_bounds_on_its_id() {
        assert_eq!(count(&Socket::<u32, String>::ExactlyOne(1)), 1);
    }
}

// ---------------------------------------------------------------------------
// 6. Re-entry through the host, and budgets from instantiation on
// ---------------------------------------------------------------------------

/// A host function that dispatches back into the plugin calling it runs on
/// that plugin's own call chain: the nested call is `Reentrant` (waiting for
/// the plugin would deadlock the thread), and the outer call completes.
#[test]
fn a_host_function_dispatching_back_into_its_busy_plugin_is_reentrant() {
    let engine = engine();
    let head_slot: Arc<OnceLock<Arc<Head>>> = Arc::new(OnceLock::new());
    let nested: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let mut linker = Linker::new(&engine);
    let (slot, seen) = (head_slot.clone(), nested.clone());
    linker
        .instance("test:fixtures/host")
        .unwrap()
        .func_wrap("callback", move |_store, (): ()| -> wasmtime::Result<(u32,)> {
            let head = slot.get().expect("the head is set before the first call");
            let outcome = one(head, "test:fixtures/caller", "run", &[]);
            *seen.lock().unwrap_or_else(PoisonError::into_inner) = Some(format!("{outcome:?}"));
            Ok((7,))
        })
        .unwrap();
    let interface =
        Interface::new("caller", InterfaceCardinality::ExactlyOne, "test:fixtures/caller", vec![func("run")]);
    let head = Arc::new(load_with(
        &engine,
        &linker,
        "caller",
        vec![interface],
        vec![Plugin::new("caller", "caller", &[], caller())],
    ));
    assert!(head_slot.set(head.clone()).is_ok());
    assert_eq!(one(&head, "test:fixtures/caller", "run", &[]).map_err(|e| e.to_string()), Ok(Val::U32(7)));
    let nested = nested.lock().unwrap_or_else(PoisonError::into_inner).take().unwrap_or_default();
    assert!(nested.starts_with("Err(Reentrant"), "{nested}");
}

/// The memory budget holds from the first instruction: a component that
/// declares 1.25 GiB of initial memory is refused at instantiation, naming
/// the plugin and the budget, and its sibling loads.
#[test]
fn a_component_declaring_more_initial_memory_than_its_budget_is_refused_at_load() {
    let huge = component(
        "package test:fixtures; interface number { value: func() -> u32; } world w { export number; }",
        "w",
        r#"(module (memory (export "memory") 20000) (func (export "test:fixtures/number#value") (result i32) i32.const 1))"#,
    );
    let fine = component(
        "package test:fixtures; interface number { value: func() -> u32; } world w { export number; }",
        "w",
        r#"(module (func (export "test:fixtures/number#value") (result i32) i32.const 2))"#,
    );
    let interface = Interface::new("number", InterfaceCardinality::Any, "test:fixtures/number", vec![func("value")]);
    let (tree, build_errors) = PluginTree::new(
        "number".to_owned(),
        vec![interface],
        vec![Plugin::new("huge", "number", &[], huge), Plugin::new("fine", "number", &[], fine)],
    );
    assert!(build_errors.is_empty(), "{build_errors:?}");
    let engine = engine();
    let Ok((head, errors)) = tree.load(&engine, &Linker::new(&engine)) else { panic!("the root is served") };
    assert_eq!(head.plugin_ids(), vec!["fine"]);
    let [error] = errors.as_slice() else { panic!("{errors:?}") };
    let text = error_chain(error);
    assert!(text.contains("`huge`") && text.contains("memory limit of 67108864 bytes"), "{text}");
}

/// `health()` from a host function, while the plugin calling it is busy on
/// the same thread, reports it running instead of waiting for it.
#[test]
fn health_asked_from_inside_a_plugin_call_does_not_wait_for_that_plugin() {
    let engine = engine();
    let head_slot: Arc<OnceLock<Arc<Head>>> = Arc::new(OnceLock::new());
    let mut linker = Linker::new(&engine);
    let slot = head_slot.clone();
    linker
        .instance("test:fixtures/host")
        .unwrap()
        .func_wrap("callback", move |_store, (): ()| -> wasmtime::Result<(u32,)> {
            let head = slot.get().expect("the head is set before the first call");
            let running = head.health().iter().filter(|h| h.state == wasm_link::PluginState::Running).count();
            Ok((u32::try_from(running).unwrap_or(u32::MAX),))
        })
        .unwrap();
    let interface =
        Interface::new("caller", InterfaceCardinality::ExactlyOne, "test:fixtures/caller", vec![func("run")]);
    let head = Arc::new(load_with(
        &engine,
        &linker,
        "caller",
        vec![interface],
        vec![Plugin::new("caller", "caller", &[], caller())],
    ));
    assert!(head_slot.set(head.clone()).is_ok());
    let outcome = on_fresh_thread(move || one(&head, "test:fixtures/caller", "run", &[]));
    assert_eq!(outcome.map_err(|e| e.to_string()), Ok(Val::U32(1)));
}

/// A blocking call waiting for a plugin that another chain holds waits only
/// within its own deadline: `short` (100 ms) asks for `waiter` while `long`
/// holds it for 1.5 s, and gives up after about 100 ms instead of queueing
/// for the whole 1.5 s. Nobody is charged for the wait: not `short`, whose
/// socket call could not start, nor `waiter`, which never ran it.
#[test]
fn a_blocking_call_waits_for_a_busy_plugin_only_within_its_own_deadline() {
    let host = Host::new();
    // `long` waits 1500 ms in `waiter`, `short` 1 ms; each answers 0 to the
    // other's function.
    let consumer = |long_ms: u32, short_ms: u32| {
        component(
            r"package test:callpath;
            interface wait { wait: func(ms: u32) -> u32; }
            interface runner { long: func() -> u32; short: func() -> u32; }
            world w { import wait; export runner; }",
            "w",
            &format!(
                r#"(module
                    (import "test:callpath/wait" "wait" (func $wait (param i32) (result i32)))
                    (func (export "test:callpath/runner#long") (result i32)
                        (if (result i32) (i32.eqz (i32.const {long_ms})) (then (i32.const 0)) (else (call $wait (i32.const {long_ms})))))
                    (func (export "test:callpath/runner#short") (result i32)
                        (if (result i32) (i32.eqz (i32.const {short_ms})) (then (i32.const 0)) (else (call $wait (i32.const {short_ms}))))))"#
            ),
        )
    };
    let deadline = |ms| Limits { deadline: Duration::from_millis(ms), ..Limits::default() };
    let head = Arc::new(load_with(
        &host.engine,
        &host.linker,
        "runner",
        vec![
            Interface::new(
                "runner",
                InterfaceCardinality::Any,
                "test:callpath/runner",
                vec![func("long"), func("short")],
            ),
            Interface::new("wait", InterfaceCardinality::ExactlyOne, "test:callpath/wait", vec![func("wait")]),
        ],
        vec![
            // Two instances: one holds `waiter`, the other answers `short`.
            Plugin::new("long", "runner", &["wait"], consumer(1500, 0)).limits(deadline(10_000)).pooled(2),
            Plugin::new("short", "runner", &["wait"], consumer(0, 1)).limits(deadline(100)),
            Plugin::new("waiter", "wait", &[], waiter()).limits(deadline(10_000)),
        ],
    ));
    let holder = std::thread::spawn({
        let head = head.clone();
        move || head.dispatch("test:callpath/runner", "long", true, &[])
    });
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let Socket::Any(results) = head.dispatch("test:callpath/runner", "short", true, &[]) else { panic!("an Any root") };
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_millis(800), "waited {elapsed:?} for a plugin held 1.5 s");
    let error = results["short"].as_ref().expect_err("the wait ran out");
    assert!(
        matches!(error.root_cause(), DispatchError::BudgetExceeded { plugin, budget: Budget::Deadline { .. }, .. } if plugin == "waiter"),
        "{error:?}"
    );
    let Socket::Any(long) = holder.join().expect("the holder") else { panic!("an Any root") };
    assert!(matches!(long["long"], Ok(Val::U32(1500))), "{:?}", long["long"]);
    assert_eq!(health_of(&head, "short").failures, 0, "the wait is not `short`'s failure");
    assert_eq!(health_of(&head, "waiter").failures, 0, "nor `waiter`'s");
}
