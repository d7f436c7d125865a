//! Async dispatch beside `call_async`, and fairness between slow and fast calls.

#[allow(clippy::wildcard_imports, reason = "the bench's shared helpers and fixtures")]
use super::*;

/// Calls per timed batch of the async figures: one executor entry per batch.
pub(super) const ASYNC_BATCH: usize = 200;

/// `dispatch_async` against wasmtime's `call_async` on the same component,
/// both driven by one current-thread tokio runtime.
pub(super) fn async_calls(c: &mut Criterion, engine: &Engine, label: &str, ratios: &mut Ratios) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let empty = wasmtime::component::Linker::<()>::new(engine);
    let (mut store, func) = instance_export(engine, CALLEE, &empty, "bench:b/callee", "get");
    let (mut typed_store, typed_func) = instance_export(engine, CALLEE, &empty, "bench:b/callee", "get");
    let typed: GetFunc = typed_func.typed(&typed_store).expect("typed");
    let head = runtime.block_on(tree_async(engine, "callee"));
    let sync_tree = tree(engine, "callee");
    let typed_get = head.typed::<(u32,), (u32,)>("get").expect("`get` is a root function");
    let mut results = [Val::U32(0)];
    let mut raw_call_async = || {
        runtime.block_on(async {
            for _ in 0..ASYNC_BATCH {
                func.call_async(&mut store, &[Val::U32(black_box(1))], &mut results).await.expect("call");
                black_box(&results);
            }
        });
    };
    let mut raw_typed_async = || {
        runtime.block_on(async {
            for _ in 0..ASYNC_BATCH {
                black_box(typed.call_async(&mut typed_store, (black_box(1),)).await.expect("call"));
            }
        });
    };
    let dispatch_async = |head: &Head| {
        runtime.block_on(async {
            for _ in 0..ASYNC_BATCH {
                black_box(only(head.dispatch_async("bench:b/callee", "get", true, &[Val::U32(black_box(1))]).await));
            }
        });
    };
    let typed_async = || {
        runtime.block_on(async {
            for _ in 0..ASYNC_BATCH {
                black_box(only(typed_get.call_async((black_box(1),)).await));
            }
        });
    };
    ratios.push((
        format!("{label}/async/dispatch-async-vs-func-call-async"),
        paired(ROUNDS, 1, &mut raw_call_async, || dispatch_async(&head)),
    ));
    ratios.push((
        format!("{label}/async/typed-async-vs-typedfunc-call-async"),
        paired(ROUNDS, 1, &mut raw_typed_async, typed_async),
    ));
    ratios.push((
        format!("{label}/async/dispatch-async-on-blocking-tree-vs-func-call-async"),
        paired(ROUNDS, 1, &mut raw_call_async, || dispatch_async(&sync_tree)),
    ));
    // A socket call under `dispatch_async`: awaited (a fiber per hop) in a
    // tree loaded with `load_async`, against the same calls in a tree loaded
    // for blocking calls (a plain call per hop).
    let awaited = runtime.block_on(tree_async(engine, "caller"));
    let blocking = tree(engine, "caller");
    let run = |head: &Head| {
        runtime.block_on(async {
            black_box(only(
                head.dispatch_async("bench:b/caller", "run", true, &[Val::U32(black_box(SOCKET_CALLS))]).await,
            ));
        });
    };
    ratios.push((
        format!("{label}/async/socket-awaited-vs-socket-blocking"),
        paired(ROUNDS, 4, || run(&blocking), || run(&awaited)),
    ));
    c.bench_function(&format!("{label}/async/raw-func-call-async"), |b| {
        b.iter(|| runtime.block_on(async { func.call_async(&mut store, &[Val::U32(1)], &mut results).await }));
    });
    c.bench_function(&format!("{label}/async/dispatch-async"), |b| {
        b.iter(|| runtime.block_on(head.dispatch_async("bench:b/callee", "get", true, &[Val::U32(1)])));
    });
    c.bench_function(&format!("{label}/async/socket-awaited"), |b| b.iter(|| run(&awaited)));
    c.bench_function(&format!("{label}/async/socket-blocking"), |b| b.iter(|| run(&blocking)));
}

/// `bench:b/callee` whose `get` never returns: it spins until its deadline.
pub(super) const SPINNER: &str = r#"(component
    (core module $m (func (export "get") (param i32) (result i32) (loop $l (br $l)) unreachable))
    (core instance $i (instantiate $m))
    (func $get (param "x" u32) (result u32) (canon lift (core func $i "get")))
    (instance $callee (export "get" (func $get)))
    (export "bench:b/callee" (instance $callee)))"#;

/// Fairness on a two-worker runtime: 1 000 `dispatch_async` requests to a
/// fast plugin (arriving 200 us apart, each a task of its own), alone,
/// and beside one or two plugins spinning until their 5 s deadline, in trees
/// loaded with `load_async` (they yield at every epoch tick) or with `load`
/// (blocking calls: each holds its worker thread until the deadline).
/// Returns the p50 and p99 latency in microseconds of each run, by name.
pub(super) fn fairness(engine: &Engine) -> Vec<(&'static str, (f64, f64))> {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
    let fast = Arc::new(runtime.block_on(tree_async(engine, "callee")));
    let spinner_tree = || {
        let (tree, errors) = PluginTree::new(
            "callee",
            vec![Iface("callee", "bench:b/callee", vec![Func("get")], InterfaceCardinality::ExactlyOne, vec![])],
            vec![Plugin("spinner".into(), "callee", vec![], Source::Wat(SPINNER), ResourceTable::new())],
        );
        assert!(errors.is_empty());
        tree
    };
    let yielding = || {
        Arc::new(
            runtime.block_on(spinner_tree().load_async(engine, &Linker::new(engine))).expect("the spinner loads").0,
        )
    };
    let blocking = || Arc::new(spinner_tree().load(engine, &Linker::new(engine)).expect("the spinner loads").0);
    let (yielding, blocking) = ([yielding(), yielding()], [blocking(), blocking()]);
    // Requests arrive from a thread of their own, one every 200 us, each a
    // task spawned onto the runtime: a request's latency runs from its
    // arrival to its answer, waiting for a free worker included.
    let run = |spinners: &[Arc<Head>]| -> (f64, f64) {
        let spinning: Vec<_> = spinners
            .iter()
            .map(|spinner| {
                let spinner = spinner.clone();
                // One spin each: it lasts until the 5 s deadline, longer than
                // the requests need when nothing holds them up.
                runtime.spawn(async move {
                    black_box(spinner.dispatch_async("bench:b/callee", "get", true, &[Val::U32(0)]).await);
                })
            })
            .collect();
        // Let the spinners take their workers first.
        std::thread::sleep(Duration::from_millis(20));
        let (answered, answers) = std::sync::mpsc::channel();
        for _ in 0..1000 {
            let (fast, answered, arrived) = (fast.clone(), answered.clone(), std::time::Instant::now());
            runtime.spawn(async move {
                black_box(only(fast.dispatch_async("bench:b/callee", "get", true, &[Val::U32(1)]).await));
                let _ = answered.send(arrived.elapsed().as_secs_f64() * 1e6);
            });
            std::thread::sleep(Duration::from_micros(200));
        }
        drop(answered);
        let mut latencies: Vec<f64> = answers.iter().collect();
        runtime.block_on(async {
            for spinning in spinning {
                // Dropping a yielding spinner's future abandons its call (the
                // plugin is re-instantiated before its next one); a blocking
                // one cannot be interrupted: wait for its deadline, so the
                // next run starts on free workers.
                spinning.abort();
                let _ = spinning.await;
            }
        });
        latencies.sort_by(f64::total_cmp);
        let at = |percent: usize| latencies[(latencies.len() - 1) * percent / 100];
        (at(50), at(99))
    };
    run(&[]);
    vec![
        ("alone", run(&[])),
        ("beside-1-yielding-spinner", run(&yielding[..1])),
        ("beside-1-blocking-spinner", run(&blocking[..1])),
        ("beside-2-yielding-spinners", run(&yielding)),
        ("beside-2-blocking-spinners", run(&blocking)),
    ]
}
