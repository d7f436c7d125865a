//! `dispatch_async`: the same results as `dispatch`, asynchronous all the way
//! down in trees loaded with `load_async`, cooperative deadlines, async host
//! functions, and calls abandoned by dropping their future.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasm_link::{
    Budget, DispatchError, Engine, InterfaceCardinality, Limits, Linker, LoadError, PluginCtx, PluginTree, Socket, Val,
};

use crate::fixtures::{Interface, Plugin, component, func};
use crate::plugins::{
    DOCS_ITEMS, caller, counter, counter_interface, docs, docs_interface, forwarder, hostile, number, number_interface,
    user, user_interface, victim_interface, well_behaved,
};
use crate::{Head, health_of, load_async_with, load_on};

fn engine() -> Engine {
    wasm_link::default_engine().expect("the default engine")
}

async fn load_async(root: &str, interfaces: Vec<Interface>, plugins: Vec<Plugin>) -> Head {
    let engine = engine();
    let (head, errors) = load_async_with(&engine, &Linker::new(&engine), root, interfaces, plugins).await;
    assert!(errors.is_empty(), "{errors:?}");
    head
}

fn one(result: Socket<Result<Val, DispatchError<String>>, String>) -> Result<Val, DispatchError<String>> {
    match result {
        Socket::ExactlyOne(result) => result,
        other => panic!("expected one result, got {other:?}"),
    }
}

async fn counter_head() -> Head {
    load_async(
        "counter",
        vec![counter_interface(InterfaceCardinality::ExactlyOne)],
        vec![Plugin::new("counter", "counter", &[], counter())],
    )
    .await
}

const COUNTER: &str = "test:fixtures/counter";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_async_returns_what_dispatch_returns_on_either_kind_of_tree() {
    let sync_tree = load_on(
        &engine(),
        "counter",
        vec![counter_interface(InterfaceCardinality::ExactlyOne)],
        vec![Plugin::new("counter", "counter", &[], counter())],
    )
    .0;
    let async_tree = counter_head().await;
    assert!(!sync_tree.is_async() && async_tree.is_async());
    for head in [&sync_tree, &async_tree] {
        let args = [Val::U32(2), Val::U32(3)];
        assert_eq!(one(head.dispatch_async(COUNTER, "add", true, &args).await).ok(), Some(Val::U32(5)));
        assert_eq!(one(head.dispatch(COUNTER, "add", true, &args)).ok(), Some(Val::U32(5)));
        // State is shared by both ways in: one instance.
        assert_eq!(one(head.dispatch_async(COUNTER, "bump", true, &[]).await).ok(), Some(Val::U32(1)));
        assert_eq!(one(head.dispatch(COUNTER, "bump", true, &[])).ok(), Some(Val::U32(2)));
        let error = one(head.dispatch_async(COUNTER, "boom", true, &[]).await).expect_err("boom traps");
        assert!(
            matches!(&error, DispatchError::Trap { plugin, function, reinstantiated: true, .. }
                if plugin == "counter" && &**function == "boom"),
            "{error:?}"
        );
        // Re-instantiated: the state starts over.
        assert_eq!(one(head.dispatch_async(COUNTER, "bump", true, &[]).await).ok(), Some(Val::U32(1)));
        let error = one(head.dispatch_async(COUNTER, "nope", true, &[]).await).expect_err("unknown function");
        assert!(matches!(error, DispatchError::InvalidFunction { .. }), "{error:?}");
        let error = one(head.dispatch_async(COUNTER, "add", true, &[Val::U32(1)]).await).expect_err("one argument");
        assert!(matches!(error, DispatchError::ArgumentCount { expected: 2, found: 1, .. }), "{error:?}");
        let health = health_of(head, "counter");
        assert_eq!((health.failures, health.reinstantiations, health.cancelled), (1, 1, 0));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typed_path_has_an_async_form() {
    let head = counter_head().await;
    let add = head.typed::<(u32, u32), (u32,)>("add").expect("add exists");
    assert!(matches!(add.call_async((20, 22)).await, Socket::ExactlyOne(Ok((42,)))));
    assert!(matches!(add.call((1, 2)), Socket::ExactlyOne(Ok((3,)))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_plugin_root_answers_from_every_plugin() {
    let head = load_async(
        "number",
        vec![number_interface(InterfaceCardinality::AtLeastOne)],
        vec![Plugin::new("one", "number", &[], number(1, false)), Plugin::new("two", "number", &[], number(2, false))],
    )
    .await;
    let Socket::AtLeastOne(values) = head.dispatch_async("test:fixtures/number", "value", true, &[]).await else {
        panic!("an AtLeastOne root")
    };
    assert_eq!(values.len(), 2);
    assert_eq!(values["one"].as_ref().ok(), Some(&Val::U32(1)));
    assert_eq!(values["two"].as_ref().ok(), Some(&Val::U32(2)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_calls_and_resources_work_asynchronously() {
    // A chain: the forwarder's socket call is awaited.
    let head = load_async(
        "relay",
        vec![
            Interface::new("relay", InterfaceCardinality::ExactlyOne, "test:fixtures/relay", vec![func("bump")]),
            counter_interface(InterfaceCardinality::ExactlyOne),
        ],
        vec![
            Plugin::new("relay", "relay", &["counter"], forwarder("relay")),
            Plugin::new("counter", "counter", &[], counter()),
        ],
    )
    .await;
    for expected in 1..=3 {
        assert_eq!(
            one(head.dispatch_async("test:fixtures/relay", "bump", true, &[]).await).ok(),
            Some(Val::U32(expected))
        );
    }
    // Resources made, lent, handed over and dropped across a socket.
    let head = load_async(
        "user",
        vec![user_interface(), docs_interface(InterfaceCardinality::ExactlyOne)],
        vec![Plugin::new("user", "user", &["docs"], user()), Plugin::new("docs", "docs", &[], docs())],
    )
    .await;
    let user = "test:fixtures/user";
    assert_eq!(one(head.dispatch_async(user, "roundtrip", true, &[Val::U32(5)]).await).ok(), Some(Val::U32(5_006_006)));
    assert_eq!(one(head.dispatch_async(user, "hand-over", true, &[Val::U32(9)]).await).ok(), Some(Val::U32(9)));
    assert_eq!(one(head.dispatch_async(user, "keep", true, &[Val::U32(4)]).await).ok(), Some(Val::U32(4)));
    assert_eq!(health_of(&head, "user").held_handles, 1);
    // Every doc but the kept one reached its destructor.
    assert_eq!(one(head.dispatch_async(user, "provider-live", true, &[]).await).ok(), Some(Val::U32(1)));
    // And the blocking call blocks on the same path.
    assert_eq!(one(head.dispatch(user, "roundtrip", true, &[Val::U32(1)])).ok(), Some(Val::U32(1_002_002)));
}

/// A host function of the user's linker, `test:fixtures/host#callback`,
/// answering after a real timer.
fn sleepy_linker(engine: &Engine, sleep: Duration) -> Linker<PluginCtx<Plugin>> {
    let mut linker = Linker::new(engine);
    linker
        .instance("test:fixtures/host")
        .expect("a host instance")
        .func_wrap_async("callback", move |_store, (): ()| {
            Box::new(async move {
                tokio::time::sleep(sleep).await;
                Ok((7u32,))
            })
        })
        .expect("an async host function");
    linker
}

fn caller_tree() -> (Vec<Interface>, Vec<Plugin>) {
    (
        vec![Interface::new("caller", InterfaceCardinality::ExactlyOne, "test:fixtures/caller", vec![func("run")])],
        vec![Plugin::new("caller", "caller", &[], caller())],
    )
}

#[tokio::test(flavor = "current_thread")]
async fn a_plugin_awaits_an_async_host_function_without_blocking_its_thread() {
    let engine = engine();
    let linker = sleepy_linker(&engine, Duration::from_millis(200));
    let (interfaces, plugins) = caller_tree();
    let (head, errors) = load_async_with(&engine, &linker, "caller", interfaces, plugins).await;
    assert!(errors.is_empty(), "{errors:?}");
    let head = Arc::new(head);
    let started = Instant::now();
    let call = tokio::spawn({
        let head = head.clone();
        async move { one(head.dispatch_async("test:fixtures/caller", "run", true, &[]).await) }
    });
    // On this one thread, other tasks run while the plugin awaits the timer.
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!call.is_finished(), "the call is still waiting for its host function");
    assert!(started.elapsed() < Duration::from_millis(150), "{:?}", started.elapsed());
    assert_eq!(call.await.expect("the task").ok(), Some(Val::U32(7)));
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[test]
fn a_tree_with_async_host_functions_loaded_for_blocking_calls_names_the_plugin() {
    let engine = engine();
    let linker = sleepy_linker(&engine, Duration::ZERO);
    let (interfaces, plugins) = caller_tree();
    let (tree, _) = PluginTree::new("caller".to_owned(), interfaces, plugins);
    let Err((primary, others)) = tree.load(&engine, &linker) else { panic!("the root cannot be served") };
    assert!(matches!(primary, LoadError::CardinalityNotMet { .. }), "{primary:?}");
    assert!(matches!(&others[..], [LoadError::RequiresAsync { plugin, .. }] if plugin == "caller"), "{others:?}");
    assert!(others[0].to_string().contains("load_async"), "{}", others[0]);
}

#[test]
fn blocking_dispatch_on_a_tree_loaded_async_awaits_host_functions_too() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let engine = engine();
    let linker = sleepy_linker(&engine, Duration::from_millis(10));
    let (interfaces, plugins) = caller_tree();
    let (head, errors) = runtime.block_on(load_async_with(&engine, &linker, "caller", interfaces, plugins));
    assert!(errors.is_empty(), "{errors:?}");
    // Outside any task: the timer is driven by the runtime's own thread.
    let _context = runtime.enter();
    assert_eq!(one(head.dispatch("test:fixtures/caller", "run", true, &[])).ok(), Some(Val::U32(7)));
}

async fn spinner_head(limits: Limits) -> Head {
    load_async(
        "victim",
        vec![victim_interface(InterfaceCardinality::ExactlyOne)],
        vec![Plugin::new("spinner", "victim", &[], hostile()).limits(limits)],
    )
    .await
}

/// `chain#run` calls `victim#spin` through its socket; `chain#ok` calls
/// `victim#ok`.
fn chain_tree(limits: Limits) -> (Vec<Interface>, Vec<Plugin>) {
    let wasm = component(
        r"package test:hostile;
        interface victim { spin: func() -> u32; ok: func() -> u32; }
        interface chain { run: func() -> u32; ok: func() -> u32; }
        world w { import victim; export chain; }",
        "w",
        r#"(module
            (import "test:hostile/victim" "spin" (func $spin (result i32)))
            (import "test:hostile/victim" "ok" (func $ok (result i32)))
            (func (export "test:hostile/chain#run") (result i32) (call $spin))
            (func (export "test:hostile/chain#ok") (result i32) (call $ok)))"#,
    );
    (
        vec![
            Interface::new(
                "chain",
                InterfaceCardinality::ExactlyOne,
                "test:hostile/chain",
                vec![func("run"), func("ok")],
            ),
            victim_interface(InterfaceCardinality::ExactlyOne),
        ],
        vec![
            Plugin::new("caller", "chain", &["victim"], wasm).limits(limits.clone()),
            Plugin::new("spinner", "victim", &[], hostile()).limits(limits),
        ],
    )
}

/// While `spinning` runs on this one thread, twenty calls to another tree
/// complete; the spinning call is then cut off at its deadline.
async fn spinning_does_not_starve(
    spinning: impl Future<Output = Result<Val, DispatchError<String>>> + Send + 'static,
    deadline: Duration,
) {
    // Loaded first: compiling blocks this thread, which would eat into the
    // spinner's deadline while it cannot run.
    let fast = counter_head().await;
    let started = Instant::now();
    let spinning = tokio::spawn(spinning);
    tokio::time::sleep(Duration::from_millis(30)).await;
    let fast_started = Instant::now();
    for _ in 0..20 {
        assert_eq!(one(fast.dispatch_async(COUNTER, "get", true, &[]).await).ok(), Some(Val::U32(42)));
    }
    let fast_took = fast_started.elapsed();
    assert!(!spinning.is_finished(), "the spinner was cut off early ({:?})", started.elapsed());
    assert!(fast_took < deadline / 2, "fast calls waited for the spinner: {fast_took:?}");
    let error = spinning.await.expect("the task").expect_err("the spinner is stopped");
    assert!(
        matches!(error.root_cause(), DispatchError::BudgetExceeded { plugin, budget: Budget::Deadline { limit, .. }, .. }
            if plugin == "spinner" && *limit == deadline),
        "{error:?}"
    );
    assert!(started.elapsed() >= deadline, "{:?}", started.elapsed());
    assert!(started.elapsed() < deadline * 3, "{:?}", started.elapsed());
}

#[tokio::test(flavor = "current_thread")]
async fn a_spinning_plugin_yields_to_other_tasks_and_is_cut_off_at_its_deadline() {
    let deadline = Duration::from_secs(1);
    let head = Arc::new(spinner_head(Limits { deadline, ..Limits::default() }).await);
    let spinning = {
        let head = head.clone();
        async move { one(head.dispatch_async("test:hostile/victim", "spin", true, &[]).await) }
    };
    Box::pin(spinning_does_not_starve(spinning, deadline)).await;
    // Stopped, re-instantiated, serving.
    assert_eq!(one(head.dispatch_async("test:hostile/victim", "ok", true, &[]).await).ok(), Some(Val::U32(7)));
    let health = health_of(&head, "spinner");
    assert_eq!((health.failures, health.reinstantiations, health.cancelled), (1, 1, 0));
}

#[tokio::test(flavor = "current_thread")]
async fn a_plugin_spinning_behind_a_socket_yields_too() {
    let deadline = Duration::from_secs(1);
    let (interfaces, plugins) = chain_tree(Limits { deadline, ..Limits::default() });
    let head = Arc::new(load_async("chain", interfaces, plugins).await);
    let spinning = {
        let head = head.clone();
        async move { one(head.dispatch_async("test:hostile/chain", "run", true, &[]).await) }
    };
    Box::pin(spinning_does_not_starve(spinning, deadline)).await;
    assert_eq!(one(head.dispatch_async("test:hostile/chain", "ok", true, &[]).await).ok(), Some(Val::U32(7)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuel_and_memory_budgets_hold_under_dispatch_async() {
    let mut config = wasm_link::engine_config();
    config.consume_fuel(true);
    let engine = Engine::new(&config).expect("an engine with fuel");
    let limits = Limits { fuel: Some(1_000_000), memory: 1 << 20, ..Limits::default() };
    let (head, errors) = load_async_with(
        &engine,
        &Linker::new(&engine),
        "victim",
        vec![victim_interface(InterfaceCardinality::ExactlyOne)],
        vec![Plugin::new("spinner", "victim", &[], hostile()).limits(limits)],
    )
    .await;
    assert!(errors.is_empty(), "{errors:?}");
    let error = one(head.dispatch_async("test:hostile/victim", "spin", true, &[]).await).expect_err("out of fuel");
    assert!(
        matches!(error, DispatchError::BudgetExceeded { budget: Budget::Fuel { limit: 1_000_000 }, .. }),
        "{error:?}"
    );
    let error = one(head.dispatch_async("test:hostile/victim", "bomb", true, &[]).await).expect_err("out of memory");
    assert!(matches!(error, DispatchError::BudgetExceeded { budget: Budget::Memory { .. }, .. }), "{error:?}");
    assert_eq!(one(head.dispatch_async("test:hostile/victim", "ok", true, &[]).await).ok(), Some(Val::U32(7)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_share_one_plugin() {
    let head = Arc::new(counter_head().await);
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let head = head.clone();
            tokio::spawn(async move { one(head.dispatch_async(COUNTER, "bump", true, &[]).await) })
        })
        .collect();
    let mut seen = Vec::new();
    for task in tasks {
        let Ok(Val::U32(n)) = task.await.expect("the task") else { panic!("bump fails") };
        seen.push(n);
    }
    seen.sort_unstable();
    // One call at a time: every count from 1 to 64 exactly once.
    assert_eq!(seen, (1..=64).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_future_dropped_while_its_plugin_spins_leaves_the_plugin_usable() {
    let head = spinner_head(Limits::default()).await;
    let abandoned =
        tokio::time::timeout(Duration::from_millis(50), head.dispatch_async("test:hostile/victim", "spin", true, &[]))
            .await;
    assert!(abandoned.is_err(), "the spin never ends by itself");
    let health = health_of(&head, "spinner");
    assert_eq!((health.cancelled, health.failures), (1, 0), "{health:?}");
    assert_eq!(one(head.dispatch_async("test:hostile/victim", "ok", true, &[]).await).ok(), Some(Val::U32(7)));
    assert_eq!(health_of(&head, "spinner").reinstantiations, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_future_dropped_during_a_socket_call_leaves_the_whole_chain_usable() {
    let (interfaces, plugins) = chain_tree(Limits::default());
    let head = load_async("chain", interfaces, plugins).await;
    let abandoned =
        tokio::time::timeout(Duration::from_millis(50), head.dispatch_async("test:hostile/chain", "run", true, &[]))
            .await;
    assert!(abandoned.is_err());
    for plugin in ["caller", "spinner"] {
        let health = health_of(&head, plugin);
        assert_eq!((health.cancelled, health.failures), (1, 0), "{health:?}");
    }
    assert_eq!(one(head.dispatch_async("test:hostile/chain", "ok", true, &[]).await).ok(), Some(Val::U32(7)));
    for plugin in ["caller", "spinner"] {
        assert_eq!(health_of(&head, plugin).reinstantiations, 1, "{plugin}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_future_dropped_mid_call_releases_the_handles_the_call_held() {
    // `keeper#hold` makes a doc through its socket, then waits on a host
    // function that takes 30 s; the call is dropped while it waits.
    let keeper = component(
        &format!(
            r"package test:fixtures;
            interface docs {{ {DOCS_ITEMS} }}
            interface host {{ callback: func() -> u32; }}
            interface keeper {{ hold: func(v: u32) -> u32; provider-live: func() -> u32; }}
            world keeper-plugin {{ import docs; import host; export keeper; }}"
        ),
        "keeper-plugin",
        r#"(module
            (import "test:fixtures/docs" "make" (func $make (param i32) (result i32)))
            (import "test:fixtures/docs" "live" (func $live (result i32)))
            (import "test:fixtures/docs" "[resource-drop]doc" (func $drop (param i32)))
            (import "test:fixtures/host" "callback" (func $wait (result i32)))
            (func (export "test:fixtures/keeper#hold") (param $v i32) (result i32)
                (local $h i32)
                (local.set $h (call $make (local.get $v)))
                (drop (call $wait))
                (call $drop (local.get $h))
                (local.get $v))
            (func (export "test:fixtures/keeper#provider-live") (result i32) (call $live)))"#,
    );
    let engine = engine();
    let linker = sleepy_linker(&engine, Duration::from_secs(30));
    let (head, errors) = load_async_with(
        &engine,
        &linker,
        "keeper",
        vec![
            Interface::new(
                "keeper",
                InterfaceCardinality::ExactlyOne,
                "test:fixtures/keeper",
                vec![func("hold"), func("provider-live")],
            ),
            docs_interface(InterfaceCardinality::ExactlyOne),
        ],
        vec![Plugin::new("keeper", "keeper", &["docs"], keeper), Plugin::new("docs", "docs", &[], docs())],
    )
    .await;
    assert!(errors.is_empty(), "{errors:?}");
    let keeper = "test:fixtures/keeper";
    let abandoned =
        tokio::time::timeout(Duration::from_millis(50), head.dispatch_async(keeper, "hold", true, &[Val::U32(3)]))
            .await;
    assert!(abandoned.is_err());
    // The doc the keeper held is released at once...
    let health = health_of(&head, "keeper");
    assert_eq!((health.cancelled, health.held_handles), (1, 0), "{health:?}");
    // ...and destroyed in its owner by the owner's next call.
    assert_eq!(one(head.dispatch_async(keeper, "provider-live", true, &[]).await).ok(), Some(Val::U32(0)));
    assert_eq!(health_of(&head, "docs").cancelled, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_async_on_a_tree_loaded_for_blocking_calls_runs_sockets_synchronously() {
    let (interfaces, plugins) = chain_tree(Limits::default());
    let (head, errors) = load_on(&engine(), "chain", interfaces, plugins);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(one(head.dispatch_async("test:hostile/chain", "ok", true, &[]).await).ok(), Some(Val::U32(7)));
    assert_eq!(one(head.dispatch("test:hostile/chain", "ok", true, &[])).ok(), Some(Val::U32(7)));
    // The well-behaved victim serves both ways too.
    let (head, _) = load_on(
        &engine(),
        "victim",
        vec![victim_interface(InterfaceCardinality::ExactlyOne)],
        vec![Plugin::new("good", "victim", &[], well_behaved())],
    );
    assert_eq!(one(head.dispatch_async("test:hostile/victim", "spin", true, &[]).await).ok(), Some(Val::U32(7)));
}

/// A chain of 300 socket hops under `dispatch_async` on a tokio worker
/// (2 MiB of stack), on a tree loaded either way: below an asynchronous
/// root the synchronous hops continue on fresh stack segments, never on
/// the root's fiber stack.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_hundred_deep_chain_completes_under_dispatch_async() {
    let (interfaces, plugins) = crate::callpath::deep_chain_parts(300, &Limits::default(), |i| format!("c{i}"));
    let (sync_tree, errors) = load_on(&engine(), "l0", interfaces, plugins);
    assert!(errors.is_empty(), "{errors:?}");
    let result = one(sync_tree.dispatch_async("test:chain/l0", "next", true, &[]).await);
    assert_eq!(result.map_err(|e| wasm_link::error_chain(&e)), Ok(Val::U32(300)));
    let (interfaces, plugins) = crate::callpath::deep_chain_parts(300, &Limits::default(), |i| format!("c{i}"));
    let async_tree = load_async("l0", interfaces, plugins).await;
    let result = one(async_tree.dispatch_async("test:chain/l0", "next", true, &[]).await);
    assert_eq!(result.map_err(|e| wasm_link::error_chain(&e)), Ok(Val::U32(300)));
}

/// A host function that, inside an async call of `caller`, dispatches back
/// into `caller` (awaiting, or blocking when `blocking`): it gets
/// `Reentrant` (answering 1) instead of waiting forever for the plugin its
/// own call holds.
async fn reentry_answer(blocking: bool) -> Option<Val> {
    let engine = engine();
    let head_slot: Arc<std::sync::OnceLock<std::sync::Weak<Head>>> = Arc::default();
    let mut linker = Linker::new(&engine);
    let slot = head_slot.clone();
    linker
        .instance("test:fixtures/host")
        .expect("a host instance")
        .func_wrap_async("callback", move |_store, (): ()| {
            let head = slot.get().and_then(std::sync::Weak::upgrade);
            Box::new(async move {
                let Some(head) = head else { return Ok((0u32,)) };
                let result = if blocking {
                    one(head.dispatch("test:fixtures/caller", "run", true, &[]))
                } else {
                    one(head.dispatch_async("test:fixtures/caller", "run", true, &[]).await)
                };
                Ok((match result {
                    Err(DispatchError::Reentrant { plugin, .. }) if plugin == "caller" => 1u32,
                    _ => 2,
                },))
            })
        })
        .expect("an async host function");
    let (interfaces, plugins) = caller_tree();
    let (head, errors) = load_async_with(&engine, &linker, "caller", interfaces, plugins).await;
    assert!(errors.is_empty(), "{errors:?}");
    let head = Arc::new(head);
    let _ = head_slot.set(Arc::downgrade(&head));
    let answer =
        tokio::time::timeout(Duration::from_secs(10), head.dispatch_async("test:fixtures/caller", "run", true, &[]))
            .await
            .expect("re-entry must not wait forever");
    one(answer).ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_function_dispatching_back_into_its_own_plugin_gets_reentrant() {
    assert_eq!(reentry_answer(false).await, Some(Val::U32(1)));
    assert_eq!(reentry_answer(true).await, Some(Val::U32(1)));
}

/// `caller` under `deadline`, whose host function takes 30 s.
async fn slow_host_caller(deadline: Duration) -> Head {
    let engine = engine();
    let linker = sleepy_linker(&engine, Duration::from_secs(30));
    let plugins = vec![Plugin::new("caller", "caller", &[], caller()).limits(Limits { deadline, ..Limits::default() })];
    let (head, errors) = load_async_with(&engine, &linker, "caller", caller_tree().0, plugins).await;
    assert!(errors.is_empty(), "{errors:?}");
    head
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_stops_a_plugin_awaiting_a_host_future() {
    let deadline = Duration::from_millis(200);
    let head = slow_host_caller(deadline).await;
    let started = Instant::now();
    let error = one(head.dispatch_async("test:fixtures/caller", "run", true, &[]).await).expect_err("cut off");
    assert!(started.elapsed() < deadline * 3, "{:?}", started.elapsed());
    assert!(
        matches!(&error, DispatchError::BudgetExceeded { plugin, function, budget: Budget::Deadline { limit, .. }, reinstantiated: true, .. }
            if plugin == "caller" && &**function == "run" && *limit == deadline),
        "{error:?}"
    );
    assert_eq!(health_of(&head, "caller").failures, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_async_host_function_is_a_trap_naming_the_plugin() {
    let engine = engine();
    let mut linker = Linker::new(&engine);
    linker
        .instance("test:fixtures/host")
        .expect("a host instance")
        .func_wrap_async("callback", |_store, (): ()| {
            Box::new(async {
                tokio::time::sleep(Duration::from_millis(1)).await;
                Err::<(u32,), _>(wasmtime::format_err!("the disk is on fire"))
            })
        })
        .expect("an async host function");
    let (interfaces, plugins) = caller_tree();
    let (head, errors) = load_async_with(&engine, &linker, "caller", interfaces, plugins).await;
    assert!(errors.is_empty(), "{errors:?}");
    let error = one(head.dispatch_async("test:fixtures/caller", "run", true, &[]).await).expect_err("the host failed");
    assert!(
        matches!(&error, DispatchError::Trap { plugin, interface, function, .. }
            if plugin == "caller" && &**interface == "test:fixtures/caller" && &**function == "run"),
        "{error:?}"
    );
    assert!(wasm_link::error_chain(&error).contains("the disk is on fire"), "{}", wasm_link::error_chain(&error));
}

/// A call whose future stopped being polled while inside a plugin (here:
/// awaiting a 30 s host function) holds the plugin; a later call waits for
/// it only until its own deadline, then fails with a typed error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_waiting_behind_a_stalled_future_gives_up_at_its_deadline() {
    let deadline = Duration::from_millis(200);
    let head = slow_host_caller(deadline).await;
    let mut stalled = Box::pin(head.dispatch_async("test:fixtures/caller", "run", true, &[]));
    assert!(tokio::time::timeout(Duration::from_millis(20), &mut stalled).await.is_err(), "it waits on its host");
    let started = Instant::now();
    let error = one(head.dispatch_async("test:fixtures/caller", "run", true, &[]).await).expect_err("never entered");
    assert!(started.elapsed() < deadline * 4, "{:?}", started.elapsed());
    assert!(
        matches!(&error, DispatchError::BudgetExceeded { plugin, budget: Budget::Deadline { limit, .. }, reinstantiated: false, .. }
            if plugin == "caller" && *limit == deadline),
        "{error:?}"
    );
    drop(stalled);
    let health = health_of(&head, "caller");
    assert_eq!((health.cancelled, health.failures), (1, 0), "{health:?}");
}
