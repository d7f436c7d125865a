//! What wasm-link adds on top of wasmtime: every figure beside a raw-wasmtime
//! baseline measured in the same run, reported as a ratio of medians in
//! `target/bench-ratios.txt` (`name ratio` lines).
//!
//! Run with `cargo bench --bench runtime` (about two minutes), one part with
//! `BENCH_SECTIONS=<section> cargo bench --bench runtime`.

#![allow(missing_docs, reason = "a benchmark binary")]

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::hint::black_box;

use criterion::Criterion;

mod fixtures;
#[allow(clippy::wildcard_imports, reason = "the shared fixtures, by name")]
use fixtures::*;
use wasm_link::{
    Component, Engine, InterfaceCardinality, Linker, PluginCtxView, PluginData, PluginTree, PluginTreeHead,
    ResourceTable, Socket, Val,
};
use wasmtime::Store;

/// Rounds of a paired measurement; the median round is reported.
const ROUNDS: usize = 151;

/// The ratio of `subject` to `baseline`, measured in pairs: each round times
/// `batch` baseline calls and `batch` subject calls back to back (in turns
/// first), and the median of the per-round ratios is returned. Drift on a
/// noisy machine (another tenant, frequency scaling) hits both halves of a
/// round alike, so the ratio is steadier than one of two separate medians.
///
/// With `BENCH_PROFILE` set nothing is measured (NaN): for profiling the
/// criterion benchmarks alone (`--profile-time`).
fn paired(rounds: usize, batch: u32, mut baseline: impl FnMut(), mut subject: impl FnMut()) -> f64 {
    if std::env::var_os("BENCH_PROFILE").is_some() {
        return f64::NAN;
    }
    let time = |f: &mut dyn FnMut()| {
        let started = std::time::Instant::now();
        for _ in 0..batch {
            f();
        }
        started.elapsed().as_secs_f64()
    };
    // Warm both up.
    time(&mut baseline);
    time(&mut subject);
    let mut ratios: Vec<f64> = (0..rounds)
        .map(|round| {
            let (base, sub) = if round % 2 == 0 {
                let base = time(&mut baseline);
                (base, time(&mut subject))
            } else {
                let sub = time(&mut subject);
                (time(&mut baseline), sub)
            };
            sub / base
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios[rounds / 2]
}

/// Paired ratios, `name ratio`, for the table.
type Ratios = Vec<(String, f64)>;

fn host_calls(c: &mut Criterion, engine: &Engine, label: &str, ratios: &mut Ratios) {
    let empty = wasmtime::component::Linker::<()>::new(engine);
    let (mut typed_store, func) = instance_export(engine, CALLEE, &empty, "bench:b/callee", "get");
    let typed: GetFunc = func.typed(&typed_store).expect("typed");
    let (mut store, func) = instance_export(engine, CALLEE, &empty, "bench:b/callee", "get");
    let mut results = [Val::U32(0)];
    let head = tree(engine, "callee");
    let typed_get = head.typed::<(u32,), (u32,)>("get").expect("`get` is a root function");

    let mut raw_typed = || {
        black_box(typed.call(&mut typed_store, (black_box(1),)).expect("call"));
    };
    let mut raw_call = || {
        func.call(&mut store, &[Val::U32(black_box(1))], &mut results).expect("call");
        black_box(&results);
    };
    let dispatch = || {
        black_box(only(head.dispatch("bench:b/callee", "get", true, &[Val::U32(black_box(1))])));
    };
    let typed_call = || {
        black_box(only(typed_get.call((black_box(1),))));
    };
    ratios.push((format!("{label}/host/dispatch-vs-func-call"), paired(ROUNDS, 2000, &mut raw_call, dispatch)));
    ratios.push((format!("{label}/host/dispatch-vs-typedfunc"), paired(ROUNDS, 2000, &mut raw_typed, dispatch)));
    ratios.push((format!("{label}/host/typed-vs-typedfunc"), paired(ROUNDS, 2000, &mut raw_typed, typed_call)));

    // What the per-call bookkeeping is made of: one uncontended lock and
    // unlock, as a plugin's mutex costs on every call.
    let lock = Mutex::new(0u64);
    c.bench_function(&format!("{label}/host/floor-mutex-lock-unlock"), |b| {
        b.iter(|| *black_box(&lock).lock().expect("not poisoned") += 1);
    });
    c.bench_function(&format!("{label}/host/raw-typedfunc"), |b| b.iter(&mut raw_typed));
    c.bench_function(&format!("{label}/host/raw-func-call"), |b| b.iter(&mut raw_call));
    c.bench_function(&format!("{label}/host/dispatch"), |b| b.iter(dispatch));
    c.bench_function(&format!("{label}/host/typed"), |b| b.iter(typed_call));
}

fn socket_calls(c: &mut Criterion, engine: &Engine, label: &str, ratios: &mut Ratios) {
    let empty = wasmtime::component::Linker::<()>::new(engine);
    // The best separate-store design by hand: a `func_wrap` trampoline into
    // the callee's `TypedFunc`.
    let (mut store, run) = socket_trampoline(engine);
    let mut raw_trampoline = || {
        black_box(run.call(&mut store, (black_box(SOCKET_CALLS),)).expect("call"));
    };
    // The limit: both components composed into one, a fused adapter per call.
    let (mut composed_store, composed_run) = instance_export(engine, composed(), &empty, "bench:b/caller", "run");
    let composed_run: GetFunc = composed_run.typed(&composed_store).expect("typed");
    let mut raw_composed = || {
        black_box(composed_run.call(&mut composed_store, (black_box(SOCKET_CALLS),)).expect("call"));
    };
    let head = tree(engine, "caller");
    let linked = head.typed::<(u32,), (u32,)>("run").expect("`run` is a root function");
    let wasm_link = || {
        black_box(only(linked.call((black_box(SOCKET_CALLS),))));
    };
    ratios.push((
        format!("{label}/socket/wasm-link-vs-func-wrap-trampoline"),
        paired(ROUNDS, 4, &mut raw_trampoline, wasm_link),
    ));
    ratios.push((format!("{label}/socket/wasm-link-vs-composed"), paired(ROUNDS, 4, &mut raw_composed, wasm_link)));
    ratios.push((
        format!("{label}/socket/func-wrap-trampoline-vs-composed"),
        paired(ROUNDS, 4, &mut raw_composed, &mut raw_trampoline),
    ));
    c.bench_function(&format!("{label}/socket/raw-func-wrap-trampoline"), |b| b.iter(&mut raw_trampoline));
    c.bench_function(&format!("{label}/socket/raw-composed"), |b| b.iter(&mut raw_composed));
    c.bench_function(&format!("{label}/socket/wasm-link"), |b| b.iter(wasm_link));
}

/// What counting each edge's calls costs (`LoadOptions::stats`): the same
/// calls on a tree that counts and on one that does not.
fn stats_cost(engine: &Engine, ratios: &mut Ratios) {
    let load = |root: &'static str, on: bool| {
        let (tree, errors) = bench_tree(root);
        assert!(errors.is_empty());
        let options = wasm_link::LoadOptions::new().stats(on);
        let (head, errors) = tree.load_with(engine, &Linker::new(engine), &options).expect("the bench tree loads");
        assert!(errors.is_empty());
        head
    };
    let (counted, uncounted) = (load("callee", true), load("callee", false));
    let (typed_on, typed_off) = (
        counted.typed::<(u32,), (u32,)>("get").expect("`get`"),
        uncounted.typed::<(u32,), (u32,)>("get").expect("`get`"),
    );
    let mut typed_off_call = || {
        black_box(only(typed_off.call((black_box(1),))));
    };
    let typed_on_call = || {
        black_box(only(typed_on.call((black_box(1),))));
    };
    ratios.push(("stats/host-typed-on-vs-off".to_owned(), paired(ROUNDS, 2000, &mut typed_off_call, typed_on_call)));
    let dispatch = |head: &Head| {
        black_box(only(head.dispatch("bench:b/callee", "get", true, &[Val::U32(black_box(1))])));
    };
    ratios.push((
        "stats/host-dispatch-on-vs-off".to_owned(),
        paired(ROUNDS, 2000, || dispatch(&uncounted), || dispatch(&counted)),
    ));
    let (counted, uncounted) = (load("caller", true), load("caller", false));
    let (run_on, run_off) = (
        counted.typed::<(u32,), (u32,)>("run").expect("`run`"),
        uncounted.typed::<(u32,), (u32,)>("run").expect("`run`"),
    );
    ratios.push((
        "stats/socket-on-vs-off".to_owned(),
        paired(
            ROUNDS,
            4,
            || {
                black_box(only(run_off.call((black_box(SOCKET_CALLS),))));
            },
            || {
                black_box(only(run_on.call((black_box(SOCKET_CALLS),))));
            },
        ),
    ));
}

/// `bench:b/callee` as WIT, for the remote proxy.
const CALLEE_WIT: &str = "package bench:b; interface callee { get: func(x: u32) -> u32; }";

/// Remote calls on loopback (feature `remote`): wasm-link's remote plugin
/// against a raw wRPC round trip of the same payload (wrpc-transport's own
/// client and server, `u32 -> u32`), and against the same call in process;
/// then throughput with 1 and 16 callers.
fn remote_calls(ratios: &mut Ratios) -> Vec<(String, f64)> {
    type Raw = wrpc_transport::Server<
        (),
        tokio::io::BufReader<tokio::net::tcp::OwnedReadHalf>,
        tokio::net::tcp::OwnedWriteHalf,
    >;
    use futures_util::StreamExt as _;
    use wrpc_transport::{InvokeExt as _, ServeExt as _};
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let engine = wasm_link::default_engine().expect("engine");
    // wasm-link's server: the callee tree, served.
    let served = runtime.block_on(tree_async(&engine, "callee"));
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("port");
    let address = format!("tcp://{}", listener.local_addr().expect("bound"));
    runtime.spawn(wasm_link::remote::serve(Arc::new(served), listener, |_| {}));
    // The raw baseline: wrpc-transport serving `get` itself.
    let raw = Arc::new(Raw::default());
    let invocations = runtime
        .block_on(raw.serve_values::<(u32,), (u32,)>("bench:b/callee", "get", Arc::from(Vec::new())))
        .expect("served");
    runtime.spawn(invocations.for_each_concurrent(None, |invocation| async move {
        if let Ok(((), (x,), _, answer)) = invocation {
            let _ = answer((x + 1,)).await;
        }
    }));
    let raw_listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("port");
    let raw_address = raw_listener.local_addr().expect("bound");
    {
        let raw = raw.clone();
        runtime.spawn(async move {
            while let Ok((stream, _)) = raw_listener.accept().await {
                let _ = stream.set_nodelay(true);
                let raw = raw.clone();
                tokio::spawn(async move {
                    let (rx, tx) = stream.into_split();
                    let _ = raw.accept((), tx, tokio::io::BufReader::new(rx)).await;
                });
            }
        });
    }
    let client = wrpc_transport::tcp::Client::from(raw_address);
    let paths: &[&[Option<usize>]] = &[];
    let raw_call = || {
        let (y,): (u32,) = runtime
            .block_on(client.invoke_values_blocking((), "bench:b/callee", "get", (black_box(1u32),), paths))
            .expect("a raw round trip");
        black_box(y);
    };
    // wasm-link's client: a tree whose callee is remote.
    let wit = Arc::new(
        wasm_link::WitInterface::from_source("callee", InterfaceCardinality::ExactlyOne, CALLEE_WIT, "bench:b/callee")
            .expect("WIT"),
    );
    let remote = wasm_link::Remote::new([address]);
    let (far, errors) = PluginTree::new(
        "callee",
        vec![Iface("callee", "bench:b/callee", vec![Func("get")], InterfaceCardinality::ExactlyOne, vec![])],
        vec![Plugin("far".into(), "callee", vec![], Source::Remote(remote, wit), ResourceTable::new())],
    );
    assert!(errors.is_empty());
    let (head, errors) = far.load(&engine, &Linker::new(&engine)).expect("the remote tree loads");
    assert!(errors.is_empty(), "{errors:?}");
    let head = Arc::new(head);
    let get = head.typed::<(u32,), (u32,)>("get").expect("`get`");
    let remote_call = || {
        black_box(only(get.call((black_box(1),))));
    };
    let local = tree(&engine, "callee");
    let local_get = local.typed::<(u32,), (u32,)>("get").expect("`get`");
    let mut local_call = || {
        black_box(only(local_get.call((black_box(1),))));
    };
    let mut raw_call = raw_call;
    ratios.push(("remote/wasm-link-vs-raw-wrpc-round-trip".to_owned(), paired(51, 20, &mut raw_call, remote_call)));
    ratios.push(("remote/remote-vs-in-process-call".to_owned(), paired(51, 20, &mut local_call, remote_call)));
    let mut figures = Vec::new();
    for callers in [1usize, 16] {
        let remote_rate = rate(callers, || (), |()| remote_call());
        figures.push((format!("remote/wasm-link-calls-per-s-{callers}-callers"), remote_rate));
        let raw_rate = rate(callers, || (), |()| raw_call());
        figures.push((format!("remote/raw-wrpc-calls-per-s-{callers}-callers"), raw_rate));
    }
    drop(runtime);
    figures
}

fn resource_calls(c: &mut Criterion, engine: &Engine, label: &str, ratios: &mut Ratios) {
    let (mut user_store, run) = resource_trampoline(engine);
    let mut raw_trampoline = || {
        black_box(run.call(&mut user_store, (black_box(RESOURCE_CALLS),)).expect("call"));
    };

    let head = tree(engine, "user");
    let linked = head.typed::<(u32,), (u32,)>("run").expect("`run` is a root function");
    let wasm_link = || {
        black_box(only(linked.call((black_box(RESOURCE_CALLS),))));
    };
    ratios.push((
        format!("{label}/resource/wasm-link-vs-func-wrap-trampoline"),
        paired(ROUNDS, 4, &mut raw_trampoline, wasm_link),
    ));
    c.bench_function(&format!("{label}/resource/raw-func-wrap-trampoline"), |b| b.iter(&mut raw_trampoline));
    c.bench_function(&format!("{label}/resource/wasm-link"), |b| b.iter(wasm_link));
}

/// `n` callee plugins behind an `Any` root, from `source`.
fn wide(engine: &Engine, n: usize, source: impl Fn() -> Source) -> Head {
    let interfaces = vec![Iface("callee", "bench:b/callee", vec![Func("get")], InterfaceCardinality::Any, vec![])];
    let plugins = (0..n).map(|i| Plugin(format!("p{i:03}"), "callee", vec![], source(), ResourceTable::new()));
    let (tree, errors) = PluginTree::new("callee", interfaces, plugins);
    assert!(errors.is_empty());
    let (head, errors) = tree.load(engine, &Linker::new(engine)).expect("loads");
    assert!(errors.is_empty());
    head
}

/// `dispatch` over `n` plugins of `wat` beside a loop of raw `TypedFunc`
/// calls into `n` instances, for each `n` of `sizes`.
#[allow(clippy::too_many_arguments, reason = "one bench, spelled out")]
fn fan_out(
    c: &mut Criterion,
    engine: &Engine,
    empty: &wasmtime::component::Linker<()>,
    label: &str,
    wat: &'static str,
    arg: u32,
    sizes: &[usize],
    ratios: &mut Ratios,
) {
    for &n in sizes {
        let head = wide(engine, n, || Source::Wat(wat));
        let dispatch = || {
            black_box(head.dispatch("bench:b/callee", "get", true, &[Val::U32(black_box(arg))]));
        };
        let mut raw: Vec<(Store<()>, GetFunc)> = (0..n)
            .map(|_| {
                let (store, func) = instance_export(engine, wat, empty, "bench:b/callee", "get");
                let typed = func.typed(&store).expect("typed");
                (store, typed)
            })
            .collect();
        let mut raw_loop = || {
            for (store, func) in &mut raw {
                black_box(func.call(&mut *store, (black_box(arg),)).expect("call"));
            }
        };
        // Let the dispatch learn what a call costs before it is measured.
        for _ in 0..20 {
            dispatch();
        }
        let batch = if arg > 1 { 4 } else { 500 };
        ratios.push((
            format!("{label}/{n}/dispatch-vs-raw-typedfunc-loop"),
            paired(ROUNDS, batch, &mut raw_loop, dispatch),
        ));
        c.bench_function(&format!("{label}/{n}/dispatch"), |b| b.iter(dispatch));
        c.bench_function(&format!("{label}/{n}/raw-typedfunc-loop"), |b| b.iter(&mut raw_loop));
    }
}

/// Rounds of the paired load measurements: a round loads 100 plugins twice.
const LOAD_ROUNDS: usize = 21;

fn fan_outs(c: &mut Criterion, engine: &Engine, ratios: &mut Ratios) {
    let empty = wasmtime::component::Linker::<()>::new(engine);
    fan_out(c, engine, &empty, "fan-out", CALLEE, 1, &[1, 2, 8, 32], ratios);
    fan_out(c, engine, &empty, "fan-out-work", WORKER, WORK, &[1, 2, 8, 32], ratios);
    let (median, p90) = helper_wake_up();
    ratios.push(("fan-out/helper-wake-up-us-median".to_owned(), median));
    ratios.push(("fan-out/helper-wake-up-us-p90".to_owned(), p90));
}

/// How long a sleeping rayon thread takes to start a job handed to it while
/// the caller works (microseconds, median and 90th percentile): the floor
/// under any parallel fan-out of short calls.
fn helper_wake_up() -> (f64, f64) {
    let spin = |d: Duration| {
        let started = std::time::Instant::now();
        while started.elapsed() < d {}
    };
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("a pool");
    let mut waits: Vec<f64> = (0..1000)
        .map(|_| {
            // Idle long enough for the helper to fall asleep, as between
            // dispatches.
            spin(Duration::from_micros(200));
            let handed = std::time::Instant::now();
            let started = Mutex::new(None);
            pool.in_place_scope(|scope| {
                scope.spawn(|_| *started.lock().expect("not poisoned") = Some(handed.elapsed()));
                spin(Duration::from_micros(50));
            });
            started.into_inner().expect("not poisoned").map_or(f64::NAN, |wait| wait.as_secs_f64() * 1e6)
        })
        .collect();
    waits.sort_by(f64::total_cmp);
    (waits[waits.len() / 2], waits[waits.len() * 9 / 10])
}

fn loads(c: &mut Criterion, engine: &Engine, ratios: &mut Ratios) {
    let empty = wasmtime::component::Linker::<()>::new(engine);

    let compile = || {
        black_box(wide(engine, 100, || Source::Wat(CALLEE)));
    };
    let raw_compile = || {
        for _ in 0..100 {
            black_box(instance_export(engine, CALLEE, &empty, "bench:b/callee", "get"));
        }
    };
    // A fresh private directory (mode 0700, unguessable name): a fixed name in
    // the shared temporary directory could be planted by another user.
    let cache_dir = tempfile::tempdir().expect("a temporary directory");
    // SAFETY: `cache_dir` was just created empty by `tempfile`, readable and
    // writable by this user only, and only this bench writes entries into it.
    #[allow(unsafe_code, reason = "a compile cache in a private directory this bench created")]
    let cache = unsafe { wasm_link::dir::CompileCache::new(cache_dir.path()) };
    let cached = Arc::new((cache, wat::parse_str(CALLEE).expect("valid")));
    let _ = cached.0.component(engine, &cached.1).expect("compiles into the cache");
    let from_cache = || {
        black_box(wide(engine, 100, || Source::Cached(cached.clone())));
    };
    let serialized = Component::new(engine, CALLEE).expect("valid").serialize().expect("serializes");
    let raw_deserialize = || {
        for _ in 0..100 {
            let component = deserialize(engine, &serialized);
            let mut store = Store::new(engine, ());
            black_box(empty.instantiate(&mut store, &component).expect("instantiates"));
        }
    };
    let compiled = Component::new(engine, CALLEE).expect("valid");
    let instantiate = || {
        black_box(wide(engine, 100, || Source::Compiled(compiled.clone())));
    };
    let raw_instantiate = || {
        for _ in 0..100 {
            let mut store = Store::new(engine, ());
            black_box(empty.instantiate(&mut store, &compiled).expect("instantiates"));
        }
    };
    ratios.push(("load/100/compile-and-instantiate-vs-raw".to_owned(), paired(LOAD_ROUNDS, 1, raw_compile, compile)));
    ratios.push(("load/100/from-cache-vs-raw".to_owned(), paired(LOAD_ROUNDS, 1, raw_deserialize, from_cache)));
    ratios.push(("load/100/instantiate-vs-raw".to_owned(), paired(LOAD_ROUNDS, 1, raw_instantiate, instantiate)));

    let mut group = c.benchmark_group("load");
    group.sample_size(10).measurement_time(Duration::from_secs(4));
    group.bench_function("100/compile-and-instantiate", |b| b.iter(compile));
    group.bench_function("100/raw-compile-and-instantiate", |b| b.iter(raw_compile));
    group.bench_function("100/from-cache", |b| b.iter(from_cache));
    group.bench_function("100/raw-deserialize-and-instantiate", |b| b.iter(raw_deserialize));
    group.bench_function("100/instantiate", |b| b.iter(instantiate));
    group.bench_function("100/raw-instantiate", |b| b.iter(raw_instantiate));
    group.finish();
    drop(cache_dir);
}

/// The raw baseline of a cache hit.
#[allow(unsafe_code, reason = "the bytes were serialized by this engine just before")]
fn deserialize(engine: &Engine, bytes: &[u8]) -> Component {
    // SAFETY: `bytes` is `Component::serialize` output of this very engine.
    unsafe { Component::deserialize(engine, bytes) }.expect("deserializes")
}

/// The median of a criterion benchmark, in nanoseconds.
fn median(name: &str) -> Option<f64> {
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".to_owned());
    // Criterion stores `a/b/c` as `a_b_c`, and `c` of group `g` as `g/c`.
    let dir = match name.strip_prefix("load/") {
        Some(rest) => format!("load/{}", rest.replace('/', "_")),
        None => name.replace('/', "_"),
    };
    let path = format!("{target}/criterion/{dir}/new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["median"]["point_estimate"].as_f64()
}

/// The system allocator, counting the bytes live on the heap while
/// `COUNTING` is set (a relaxed load otherwise: the timings do not pay).
struct Counting;

static COUNTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static LIVE: std::sync::atomic::AtomicIsize = std::sync::atomic::AtomicIsize::new(0);

#[allow(unsafe_code, reason = "a global allocator forwarding to the system's")]
// SAFETY: every call forwards to `System` with the same arguments; the
// counters are plain atomics.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        use std::sync::atomic::Ordering::Relaxed;
        if COUNTING.load(Relaxed) {
            LIVE.fetch_add(layout.size().cast_signed(), Relaxed);
        }
        // SAFETY: forwarded as is.
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        use std::sync::atomic::Ordering::Relaxed;
        if COUNTING.load(Relaxed) {
            LIVE.fetch_sub(layout.size().cast_signed(), Relaxed);
        }
        // SAFETY: forwarded as is.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Bytes on the heap that `make` leaves live.
fn heap_bytes<T>(make: impl FnOnce() -> T) -> (T, isize) {
    use std::sync::atomic::Ordering::Relaxed;
    LIVE.store(0, Relaxed);
    COUNTING.store(true, Relaxed);
    let value = make();
    COUNTING.store(false, Relaxed);
    (value, LIVE.load(Relaxed))
}

/// Heap bytes per idle loaded plugin, and per bare store + instance. (The
/// resident set is too coarse: freed memory of earlier benchmarks is reused.)
fn memory_per_plugin(engine: &Engine) -> (f64, f64) {
    const N: u32 = 200;
    let compiled = Component::new(engine, CALLEE).expect("valid");
    let empty = wasmtime::component::Linker::<()>::new(engine);
    let (raw, raw_bytes) = heap_bytes(|| {
        (0..N)
            .map(|_| {
                let mut store = Store::new(engine, ());
                let instance = empty.instantiate(&mut store, &compiled).expect("instantiates");
                (store, instance)
            })
            .collect::<Vec<_>>()
    });
    let (head, linked_bytes) = heap_bytes(|| wide(engine, N as usize, || Source::Compiled(compiled.clone())));
    black_box((&raw, &head));
    let per = |bytes: isize| f64::from(i32::try_from(bytes).unwrap_or(i32::MAX)) / f64::from(N);
    (per(linked_bytes), per(raw_bytes))
}

/// A raw wasmtime store for a probe plugin: wasmtime-wasi with its defaults
/// (nothing granted) and a limiter adding up the linear memory it is given.
struct Raw {
    wasi: wasmtime_wasi::WasiCtx,
    table: wasmtime::component::ResourceTable,
    linear_memory: usize,
}

impl Raw {
    fn new() -> Self {
        Self { wasi: wasmtime_wasi::WasiCtx::builder().build(), table: ResourceTable::new(), linear_memory: 0 }
    }
}

impl wasmtime_wasi::WasiView for Raw {
    fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        wasmtime_wasi::WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl wasmtime::ResourceLimiter for Raw {
    fn memory_growing(&mut self, current: usize, desired: usize, _: Option<usize>) -> wasmtime::Result<bool> {
        self.linear_memory += desired.saturating_sub(current);
        Ok(true)
    }
    fn table_growing(&mut self, _: usize, _: usize, _: Option<usize>) -> wasmtime::Result<bool> {
        Ok(true)
    }
}

/// Plugins in Rust, Python and JavaScript (`tests/polyglot/`'s `rs-probe`,
/// `py-probe`, `js-probe`) on the same trivial function, `probe.add(2, 3)`:
/// compile time, instantiation (raw wasmtime, and wasm-link loading a tree
/// of the probe and its parser from a warm compile cache), linear memory
/// and host heap of an idle instance, and calls (each language beside
/// Rust, and wasm-link beside a raw `TypedFunc` of the same component).
#[allow(
    clippy::too_many_lines,
    clippy::cast_precision_loss,
    reason = "one measurement per figure, in order; sizes far below 2^52"
)]
fn languages(engine: &Engine, ratios: &mut Ratios) -> Vec<(String, f64)> {
    const PROBE: &str = "test:probe/probe@0.1.0";
    const PROBES: [(&str, &str); 3] = [("rust", "rs-probe"), ("python", "py-probe"), ("javascript", "js-probe")];
    let mut figures = Vec::new();
    let cache_dir = tempfile::tempdir().expect("a temporary directory");
    // SAFETY: a private directory `tempfile` just created (mode 0700,
    // unguessable name); only this benchmark writes into it.
    #[allow(unsafe_code, reason = "a compile cache in a private temporary directory")]
    let cache = unsafe { wasm_link::dir::CompileCache::new(cache_dir.path()) };
    let mut heads = Vec::new();
    for (language, probe) in PROBES {
        let source = std::path::Path::new(wasm_link_guests::POLYGLOT_DIR);
        let bytes = std::fs::read(source.join("plugins").join(probe).join(format!("{probe}.wasm"))).expect("built");
        let started = std::time::Instant::now();
        let component = Component::new(engine, &bytes).expect("compiles");
        figures.push((format!("languages/{language}/compile-ms"), started.elapsed().as_secs_f64() * 1e3));
        figures.push((format!("languages/{language}/component-kib"), bytes.len() as f64 / 1024.0));

        let mut linker = wasmtime::component::Linker::<Raw>::new(engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).expect("WASI links");
        // The parser socket, as traps (`add` never calls it). Not
        // `define_unknown_imports_as_traps`: it would shadow the WASI the
        // runtime imports at another 0.2 version than wasmtime-wasi's.
        let mut parser = linker.instance("demo:parser/parser@0.1.0").expect("a fresh instance name");
        parser
            .resource("document", wasmtime::component::ResourceType::host::<()>(), |_, _| Ok(()))
            .expect("a resource type");
        for function in
            ["parse", "[method]document.title", "[method]document.paragraphs", "[method]document.set-paragraphs"]
        {
            parser
                .func_new(function, |_, _, _, _| Err(wasmtime::Error::msg("no parser in this benchmark")))
                .expect("a function");
        }
        let rounds = if language == "rust" { 50 } else { 10 };
        let instantiate = || {
            let mut store = Store::new(engine, Raw::new());
            store.limiter(|raw| raw);
            store.set_epoch_deadline(1 << 40);
            let instance = linker.instantiate(&mut store, &component).expect("instantiates");
            (store, instance)
        };
        let instantiate_s = median_seconds(rounds, || drop(black_box(instantiate())));
        figures.push((format!("languages/{language}/raw-instantiate-ms"), instantiate_s * 1e3));
        let ((mut store, instance), heap_used) = heap_bytes(instantiate);
        figures
            .push((format!("languages/{language}/idle-linear-memory-kib"), store.data().linear_memory as f64 / 1024.0));
        figures.push((format!("languages/{language}/idle-host-heap-kib"), heap_used as f64 / 1024.0));
        let interface = instance.get_export_index(&mut store, None, PROBE).expect("the probe");
        let add = instance.get_export_index(&mut store, Some(&interface), "add").expect("add");
        let add: wasmtime::component::TypedFunc<(u32, u32), (u32,)> =
            instance.get_typed_func(&mut store, add).expect("typed");
        // What calls add to the idle figure: 10 000 of them.
        let idle = store.data().linear_memory;
        for _ in 0..10_000 {
            black_box(add.call(&mut store, (2, 3)).expect("call"));
        }
        let grown = store.data().linear_memory - idle;
        figures.push((format!("languages/{language}/linear-memory-growth-kib-per-10k-calls"), grown as f64 / 1024.0));

        let dir = tempfile::tempdir().expect("a temporary directory");
        wasm_link_guests::copy_dir(source, dir.path());
        for (_, other) in PROBES.iter().filter(|(_, p)| *p != probe) {
            std::fs::remove_dir_all(dir.path().join("plugins").join(other)).expect("removable");
        }
        let load = || {
            let options = wasm_link::dir::DirOptions { cache: Some(cache.clone()) };
            let plugin_dir = wasm_link::dir::PluginDir::open(dir.path(), &options).expect("opens");
            let (tree, _) = plugin_dir.into_tree();
            let linker = wasm_link::dir::PluginDir::linker(engine).expect("linker");
            let (head, errors) = tree.load(engine, &linker).expect("loads");
            assert!(errors.is_empty(), "{errors:?}");
            head
        };
        black_box(load());
        let load_s = median_seconds(rounds, || drop(black_box(load())));
        figures.push((format!("languages/{language}/load-tree-ms"), load_s * 1e3));
        let head = load();
        let mut raw = || {
            black_box(add.call(&mut store, (black_box(2), 3)).expect("call"));
        };
        let dispatch = || match head.dispatch(PROBE, "add", true, &[Val::U32(black_box(2)), Val::U32(3)]) {
            Socket::Any(results) => {
                black_box(results);
            }
            other => panic!("{other:?}"),
        };
        ratios.push((format!("languages/{language}/dispatch-vs-typedfunc"), paired(51, 200, &mut raw, dispatch)));
        heads.push((language, head));
    }
    let call = |head: &PluginTreeHead<wasm_link::dir::DirPlugin>| match head.dispatch(
        PROBE,
        "add",
        true,
        &[Val::U32(black_box(2)), Val::U32(3)],
    ) {
        Socket::Any(results) => {
            black_box(results);
        }
        other => panic!("{other:?}"),
    };
    let (_, rust) = &heads[0];
    for (language, head) in &heads[1..] {
        let ratio = paired(51, 200, || call(rust), || call(head));
        ratios.push((format!("languages/{language}/dispatch-vs-rust"), ratio));
    }
    for (language, head) in &heads {
        let batch_s = median_seconds(51, || (0..200).for_each(|_| call(head)));
        figures.push((format!("languages/{language}/dispatch-ns"), batch_s * 1e9 / 200.0));
    }
    figures
}

/// What capabilities cost: the Rust probe given directories, environment
/// variables, configuration and an HTTP authority beside the same probe
/// given nothing (a call that uses none of them, and a load), and a GET to
/// a loopback server through the runtime's HTTP gate beside the same GET
/// made directly with hyper (a new connection each, as wasmtime-wasi-http
/// makes them).
fn capabilities(engine: &Engine, ratios: &mut Ratios) -> Vec<(String, f64)> {
    const PROBE: &str = "test:probe/probe@0.1.0";
    let mut figures = Vec::new();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("tokio");
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("a loopback port");
    let port = listener.local_addr().expect("bound").port();
    let routes = axum::Router::new().route("/hello", axum::routing::get(|| async { "hello over http" }));
    runtime.spawn(async move { axum::serve(listener, routes).await });

    let cache_dir = tempfile::tempdir().expect("a temporary directory");
    // SAFETY: a private directory `tempfile` just created (mode 0700,
    // unguessable name); only this benchmark writes into it.
    #[allow(unsafe_code, reason = "a compile cache in a private temporary directory")]
    let cache = unsafe { wasm_link::dir::CompileCache::new(cache_dir.path()) };
    let probe_dir = |requests: &str, policy: &str| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        wasm_link_guests::copy_dir(std::path::Path::new(wasm_link_guests::POLYGLOT_DIR), dir.path());
        for other in ["py-probe", "js-probe"] {
            std::fs::remove_dir_all(dir.path().join("plugins").join(other)).expect("removable");
        }
        let manifest = dir.path().join("plugins/rs-probe/plugin.toml");
        let text = std::fs::read_to_string(&manifest).expect("the manifest");
        std::fs::write(&manifest, format!("{text}[requests]\n{requests}\n")).expect("written");
        let top = dir.path().join("wasm-link.toml");
        let text = std::fs::read_to_string(&top).expect("the manifest");
        std::fs::write(&top, format!("{text}[policy.rs-probe]\n{policy}\n")).expect("written");
        std::fs::create_dir(dir.path().join("data")).expect("a directory");
        dir
    };
    let bare = probe_dir("", "");
    let given = probe_dir(
        &format!(
            "files = {{ \"/data\" = \"read\" }}\nenv = [\"STYLE\"]\nconfig = [\"rule\"]\nhttp = [\"127.0.0.1:{port}\"]"
        ),
        &format!(
            "files = {{ \"/data\" = {{ path = \"data\", access = \"read\" }} }}\nenv = {{ STYLE = \"x\" }}\n\
             config = {{ rule = \"~\" }}\nhttp = [\"127.0.0.1:{port}\"]"
        ),
    );
    let load = |dir: &std::path::Path| {
        let options = wasm_link::dir::DirOptions { cache: Some(cache.clone()) };
        let plugin_dir = wasm_link::dir::PluginDir::open(dir, &options).expect("opens");
        assert!(plugin_dir.errors.is_empty(), "{:?}", plugin_dir.errors);
        let (tree, _) = plugin_dir.into_tree();
        let linker = wasm_link::dir::PluginDir::linker(engine).expect("linker");
        let (head, errors) = tree.load(engine, &linker).expect("loads");
        assert!(errors.is_empty(), "{errors:?}");
        head
    };
    black_box(load(bare.path()));
    let (bare_head, given_head) = (load(bare.path()), load(given.path()));
    let add = |head: &PluginTreeHead<wasm_link::dir::DirPlugin>| {
        black_box(head.dispatch(PROBE, "add", true, &[Val::U32(black_box(2)), Val::U32(3)]));
    };
    ratios.push((
        "capabilities/dispatch-given-vs-none".to_owned(),
        paired(51, 200, || add(&bare_head), || add(&given_head)),
    ));
    let mut load_ms = Vec::new();
    for (name, dir) in [("none", bare.path()), ("given", given.path())] {
        let ms = median_seconds(21, || drop(black_box(load(dir)))) * 1e3;
        figures.push((format!("capabilities/load-tree-ms-{name}"), ms));
        load_ms.push(ms);
    }
    ratios.push(("capabilities/load-given-vs-none".to_owned(), load_ms[1] / load_ms[0]));

    let url = format!("http://127.0.0.1:{port}/hello");
    let through = || match given_head.dispatch(PROBE, "http-get", true, &[Val::String(url.clone())]) {
        Socket::Any(results) => {
            let answer = results.into_values().next();
            assert!(matches!(&answer, Some(Ok(Val::String(text))) if text == "200 hello over http"), "{answer:?}");
        }
        other => panic!("{other:?}"),
    };
    let direct = || {
        runtime.block_on(async {
            use http_body_util::BodyExt as _;
            let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connects");
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.expect("handshake");
            tokio::spawn(connection);
            let request = hyper::Request::get("/hello")
                .header(hyper::header::HOST, format!("127.0.0.1:{port}"))
                .body(http_body_util::Empty::<bytes::Bytes>::new())
                .expect("a request");
            let response = sender.send_request(request).await.expect("a response");
            let body = response.into_body().collect().await.expect("a body").to_bytes();
            assert_eq!(&body[..], b"hello over http");
        });
    };
    through();
    direct();
    let through_s = median_seconds(201, through);
    let direct_s = median_seconds(201, direct);
    figures.push(("capabilities/http-get-through-runtime-us".to_owned(), through_s * 1e6));
    figures.push(("capabilities/http-get-direct-hyper-us".to_owned(), direct_s * 1e6));
    ratios.push(("capabilities/http-get-through-runtime-vs-direct-hyper".to_owned(), paired(51, 5, direct, through)));
    figures
}

/// The median wall time of `rounds` runs of `f`, in seconds.
fn median_seconds(rounds: usize, mut f: impl FnMut()) -> f64 {
    let mut samples: Vec<f64> = (0..rounds)
        .map(|_| {
            let started = std::time::Instant::now();
            f();
            started.elapsed().as_secs_f64()
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[rounds / 2]
}

/// The HTTP server example, driven in process for its throughput.
#[path = "../examples/server.rs"]
#[allow(dead_code, unreachable_pub, reason = "only the routes and the loader are used here")]
mod server;

/// Requests per second through the server example on the demo pipeline
/// (`POST /render` of `demo/sample.md`) with `clients` concurrent clients
/// (an HTTP/1 connection each), beside the same `dispatch_async` calls made
/// in process by as many tasks. Two seconds each.
fn server_throughput(levels: &[usize]) -> Vec<(usize, f64, f64)> {
    const SPAN: Duration = Duration::from_secs(2);
    let server_runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    let head = Arc::new(
        server_runtime
            .block_on(server::load_dir(std::path::Path::new(wasm_link_guests::DEMO_DIR)))
            .expect("the demo loads"),
    );
    let listener = server_runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("a loopback port");
    let address = listener.local_addr().expect("a bound address");
    server_runtime.spawn(async move { axum::serve(listener, server::app(head)).await });
    let sample = std::fs::read_to_string(std::path::Path::new(wasm_link_guests::DEMO_DIR).join("sample.md"))
        .expect("the sample document");
    // The clients on a runtime of their own: one thread, as a load generator.
    let clients = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let in_process = Arc::new(
        server_runtime
            .block_on(server::load_dir(std::path::Path::new(wasm_link_guests::DEMO_DIR)))
            .expect("the demo loads"),
    );
    levels
        .iter()
        .map(|&n| {
            let url = format!("http://{address}/render");
            let http = clients.block_on(async {
                let started = std::time::Instant::now();
                let tasks: Vec<_> = (0..n)
                    .map(|_| {
                        let (url, sample) = (url.clone(), sample.clone());
                        tokio::spawn(async move {
                            let client = reqwest::Client::builder().no_proxy().build().expect("a client");
                            let mut done = 0u32;
                            while started.elapsed() < SPAN {
                                let reply = client.post(&url).body(sample.clone()).send().await.expect("a reply");
                                assert!(reply.status().is_success());
                                black_box(reply.bytes().await.expect("a body"));
                                done += 1;
                            }
                            done
                        })
                    })
                    .collect();
                let mut total = 0u32;
                for task in tasks {
                    total += task.await.expect("a client");
                }
                f64::from(total) / started.elapsed().as_secs_f64()
            });
            let direct = server_runtime.block_on(async {
                let started = std::time::Instant::now();
                let tasks: Vec<_> = (0..n)
                    .map(|_| {
                        let (head, sample) = (in_process.clone(), sample.clone());
                        tokio::spawn(async move {
                            let mut done = 0u32;
                            while started.elapsed() < SPAN {
                                let args = [Val::String(sample.clone())];
                                black_box(only(head.dispatch_async(head.interface_path(), "run", true, &args).await));
                                done += 1;
                            }
                            done
                        })
                    })
                    .collect();
                let mut total = 0u32;
                for task in tasks {
                    total += task.await.expect("a task");
                }
                f64::from(total) / started.elapsed().as_secs_f64()
            });
            (n, http, direct)
        })
        .collect()
}

/// Calls per timed batch of the async figures: one executor entry per batch.
const ASYNC_BATCH: usize = 200;

/// `dispatch_async` against wasmtime's `call_async` on the same component,
/// both driven by one current-thread tokio runtime.
fn async_calls(c: &mut Criterion, engine: &Engine, label: &str, ratios: &mut Ratios) {
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
const SPINNER: &str = r#"(component
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
fn fairness(engine: &Engine) -> Vec<(&'static str, (f64, f64))> {
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

/// Criterion's medians of the per-engine benchmarks, as table lines.
fn engine_figures(table: &mut String) {
    for label in ["default-engine", "epoch-engine"] {
        for name in
            ["host/raw-typedfunc", "host/raw-func-call", "host/dispatch", "host/typed", "host/floor-mutex-lock-unlock"]
        {
            if let Some(ns) = median(&format!("{label}/{name}")) {
                let _ = writeln!(table, "{label}/{name}-ns {ns:.0}");
            }
        }
        for name in ["socket/raw-composed", "socket/raw-func-wrap-trampoline", "socket/wasm-link"] {
            if let Some(ns) = median(&format!("{label}/{name}")) {
                let _ = writeln!(table, "{label}/{name}-ns-per-call {:.1}", ns / f64::from(SOCKET_CALLS));
            }
        }
        for name in ["async/raw-func-call-async", "async/dispatch-async"] {
            if let Some(ns) = median(&format!("{label}/{name}")) {
                let _ = writeln!(table, "{label}/{name}-ns {ns:.0}");
            }
        }
        for name in ["async/socket-awaited", "async/socket-blocking"] {
            if let Some(ns) = median(&format!("{label}/{name}")) {
                let _ = writeln!(table, "{label}/{name}-ns-per-call {:.1}", ns / f64::from(SOCKET_CALLS));
            }
        }
        for name in ["resource/raw-func-wrap-trampoline", "resource/wasm-link"] {
            if let Some(ns) = median(&format!("{label}/{name}")) {
                let _ = writeln!(table, "{label}/{name}-ns-per-round-trip {:.0}", ns / f64::from(RESOURCE_CALLS));
            }
        }
    }
}

fn main() {
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
        .configure_from_args();
    let plain = Engine::default();
    let epochs = wasm_link::default_engine().expect("engine");
    // `BENCH_SECTIONS=host,socket` runs only those sections (and leaves
    // `target/bench-ratios.txt` alone): for quick comparisons while working.
    let only = std::env::var("BENCH_SECTIONS").ok();
    let run = |section: &str| only.as_deref().is_none_or(|only| only.split(',').any(|s| s.trim() == section));
    let mut ratios = Ratios::new();
    for (engine, label) in [(&plain, "default-engine"), (&epochs, "epoch-engine")] {
        if run("host") {
            host_calls(&mut criterion, engine, label, &mut ratios);
        }
        if run("socket") {
            socket_calls(&mut criterion, engine, label, &mut ratios);
        }
        if run("resource") {
            resource_calls(&mut criterion, engine, label, &mut ratios);
        }
        if run("async") {
            async_calls(&mut criterion, engine, label, &mut ratios);
        }
    }
    if run("stats") {
        stats_cost(&epochs, &mut ratios);
    }
    let fairness = run("fairness").then(|| fairness(&epochs));
    let pool_rates = run("pool").then(|| pools(&epochs, &mut ratios));
    let remote_rates = run("remote").then(|| remote_calls(&mut ratios));
    let swap_figures = run("swap").then(|| swaps(&mut ratios));
    let reinstantiations = run("reinstantiate").then(|| reinstantiation(&mut ratios));
    let mut table = if run("freeze") { freezing(&mut criterion, &epochs, &mut ratios) } else { String::new() };
    let throughput = run("server").then(|| server_throughput(&[1, 2, 8, 64]));
    let language_figures = run("languages").then(|| languages(&epochs, &mut ratios));
    let capability_figures = run("capabilities").then(|| capabilities(&epochs, &mut ratios));
    if run("fan-out") {
        fan_outs(&mut criterion, &plain, &mut ratios);
    }
    if run("load") {
        loads(&mut criterion, &plain, &mut ratios);
    }
    criterion.final_summary();

    for (name, value) in &ratios {
        let _ = writeln!(table, "{name} {value:.2}");
    }
    engine_figures(&mut table);
    for n in [2u32, 8] {
        if let Some(ns) = median(&format!("fan-out-work/{n}/raw-typedfunc-loop")) {
            let _ = writeln!(table, "fan-out-work/{n}/raw-ns-per-call {:.0}", ns / f64::from(n));
        }
    }
    for (name, (p50, p99)) in fairness.iter().flatten() {
        let _ = writeln!(table, "fairness/fast-p50-us-{name} {p50:.1}");
        let _ = writeln!(table, "fairness/fast-p99-us-{name} {p99:.1}");
    }
    for (name, value) in
        pool_rates.iter().chain(swap_figures.iter()).chain(reinstantiations.iter()).chain(remote_rates.iter()).flatten()
    {
        let _ = writeln!(table, "{name} {value:.0}");
    }
    for (name, value) in language_figures.iter().chain(capability_figures.iter()).flatten() {
        let _ = writeln!(table, "{name} {value:.1}");
    }
    for (clients, http, direct) in throughput.iter().flatten() {
        let _ = writeln!(table, "server/render-requests-per-s-{clients}-clients {http:.0}");
        let _ = writeln!(table, "server/dispatch-async-runs-per-s-{clients}-tasks {direct:.0}");
    }
    if run("memory") {
        let (linked, raw) = memory_per_plugin(&plain);
        let _ = writeln!(table, "memory/idle-plugin-heap-bytes {linked:.0}");
        let _ = writeln!(table, "memory/raw-store-and-instance-heap-bytes {raw:.0}");
        if raw > 0.0 {
            let _ = writeln!(table, "memory/idle-plugin-vs-raw {:.2}", linked / raw);
        }
    }
    print!("\n{table}");
    if only.is_none() {
        let _ = std::fs::create_dir_all("target");
        let _ = std::fs::write("target/bench-ratios.txt", table);
    }
}

/// A stateless `bench:b/callee` plugin (the `WORKER`) of `instances`
/// instances.
struct Pooled {
    id: String,
    instances: usize,
    table: ResourceTable,
}
impl PluginCtxView for Pooled {
    fn resource_table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }
}
impl PluginData for Pooled {
    type Id = String;
    type InterfaceId = &'static str;
    type Error = wasm_link::WasmError;
    type SocketIter<'a> = std::slice::Iter<'a, &'static str>;
    fn id(&self) -> Result<&String, Self::Error> {
        Ok(&self.id)
    }
    fn plug(&self) -> Result<&&'static str, Self::Error> {
        Ok(&"callee")
    }
    fn sockets(&self) -> Result<Self::SocketIter<'_>, Self::Error> {
        Ok([].iter())
    }
    fn instances(&self) -> usize {
        self.instances
    }
    fn replica(&self) -> Option<Self> {
        Some(Self { id: self.id.clone(), instances: self.instances, table: ResourceTable::new() })
    }
    fn component(&self, engine: &Engine) -> Result<Component, Self::Error> {
        Ok(Component::new(engine, WORKER)?)
    }
}

fn pooled_head(engine: &Engine, instances: usize) -> PluginTreeHead<Pooled> {
    let interfaces =
        vec![Iface("callee", "bench:b/callee", vec![Func("get")], InterfaceCardinality::ExactlyOne, vec![])];
    let plugin = Pooled { id: "worker".to_owned(), instances, table: ResourceTable::new() };
    let (tree, errors) = PluginTree::new("callee", interfaces, [plugin]);
    assert!(errors.is_empty());
    let (head, errors) = tree.load(engine, &Linker::new(engine)).expect("loads");
    assert!(errors.is_empty());
    head
}

/// Calls per second of `threads` threads, each running `call` on the state
/// `setup` made for it, for a moment.
fn rate<S>(threads: usize, setup: impl Fn() -> S + Sync, call: impl Fn(&mut S) + Sync) -> f64 {
    const SPAN: Duration = Duration::from_millis(400);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let calls = std::sync::atomic::AtomicU64::new(0);
    let ready = std::sync::Barrier::new(threads + 1);
    let elapsed = std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut state = setup();
                ready.wait();
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    call(&mut state);
                    n += 1;
                }
                calls.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
            });
        }
        ready.wait();
        let started = std::time::Instant::now();
        std::thread::sleep(SPAN);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        started.elapsed()
    });
    #[allow(clippy::cast_precision_loss, reason = "a rate")]
    let per_second = calls.into_inner() as f64 / elapsed.as_secs_f64();
    per_second
}

/// Throughput of 1, 2, 4 and 8 threads calling one stateless plugin with
/// about 10 us of work: pooled (8 instances), one instance, and raw wasmtime
/// with a store per thread; medians of interleaved rounds.
fn pools(engine: &Engine, ratios: &mut Ratios) -> Vec<(String, f64)> {
    const ROUNDS: usize = 5;
    let empty = wasmtime::component::Linker::<()>::new(engine);
    let pooled = pooled_head(engine, 8);
    let single = pooled_head(engine, 1);
    let call = |head: &PluginTreeHead<Pooled>| {
        black_box(head.dispatch("bench:b/callee", "get", true, &[Val::U32(black_box(WORK))]));
    };
    let median_of = |mut rates: Vec<f64>| {
        rates.sort_by(f64::total_cmp);
        rates[rates.len() / 2]
    };
    let mut rates = Vec::new();
    let mut pooled_one_thread = 0.0;
    for threads in [1, 2, 4, 8] {
        let (mut p, mut s, mut r) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            p.push(rate(threads, || (), |()| call(&pooled)));
            s.push(rate(threads, || (), |()| call(&single)));
            r.push(rate(
                threads,
                || {
                    let (store, func) = instance_export(engine, WORKER, &empty, "bench:b/callee", "get");
                    let typed: GetFunc = func.typed(&store).expect("typed");
                    (store, typed)
                },
                |(store, func)| {
                    black_box(func.call(&mut *store, (black_box(WORK),)).expect("call"));
                },
            ));
        }
        let (p, s, r) = (median_of(p), median_of(s), median_of(r));
        if threads == 1 {
            pooled_one_thread = p;
        }
        rates.push((format!("pool/{threads}-threads/pooled-calls-per-s"), p));
        rates.push((format!("pool/{threads}-threads/one-instance-calls-per-s"), s));
        rates.push((format!("pool/{threads}-threads/raw-store-per-thread-calls-per-s"), r));
        ratios.push((format!("pool/{threads}-threads/pooled-vs-raw-store-per-thread"), p / r));
        ratios.push((format!("pool/{threads}-threads/one-instance-vs-raw-store-per-thread"), s / r));
        ratios.push((format!("pool/{threads}-threads/pooled-vs-pooled-1-thread"), p / pooled_one_thread));
    }
    rates
}

/// Swapping a plugin of the demo while a thread runs the demo's pipeline:
/// the swap's latency (the new version from the compile cache) and the
/// longest call the dispatching thread saw during swaps, beside its longest
/// without them.
fn swaps(ratios: &mut Ratios) -> Vec<(String, f64)> {
    use wasm_link::dir::{DirOptions, PluginDir};
    const SWAPS: usize = 21;
    let cache_dir = tempfile::tempdir().expect("a temporary directory");
    // SAFETY: `cache_dir` was just created empty by `tempfile`, readable and
    // writable by this user only, and only this bench writes entries into it.
    #[allow(unsafe_code, reason = "a compile cache in a private directory this bench created")]
    let cache = unsafe { wasm_link::dir::CompileCache::new(cache_dir.path()) };
    let options = DirOptions { cache: Some(cache) };
    let demo = std::path::Path::new(wasm_link_guests::DEMO_DIR);
    let engine = wasm_link::default_engine().expect("engine");
    let dir = PluginDir::open(demo, &options).expect("the demo opens");
    let (tree, _) = dir.into_tree();
    let (head, _) = tree.load(&engine, &PluginDir::linker(&engine).expect("linker")).expect("the demo loads");
    let sample = std::fs::read_to_string(demo.join("sample.md")).expect("the sample");
    let run = || {
        let started = std::time::Instant::now();
        black_box(head.dispatch("demo:app/app@0.1.0", "run", true, &[Val::String(sample.clone())]));
        started.elapsed()
    };
    let fresh = || {
        let dir = PluginDir::open(demo, &options).expect("the demo opens");
        dir.plugins.into_iter().find(|p| p.plugin_id() == "word-count").expect("word-count")
    };
    // Longest call with and without swaps, each over the same span.
    let longest = |swapping: bool| {
        let stop = std::sync::atomic::AtomicBool::new(false);
        let mut latencies = Vec::new();
        let worst = std::thread::scope(|scope| {
            let worker = scope.spawn(|| {
                let mut worst = Duration::ZERO;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    worst = worst.max(run());
                }
                worst
            });
            for _ in 0..SWAPS {
                let plugin = fresh();
                std::thread::sleep(Duration::from_millis(5));
                if swapping {
                    let started = std::time::Instant::now();
                    head.replace_plugin(plugin).expect("the swap succeeds");
                    latencies.push(started.elapsed());
                }
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            worker.join().expect("the worker")
        });
        latencies.sort();
        (worst, latencies.get(latencies.len() / 2).copied())
    };
    let (quiet, _) = longest(false);
    let (busy, swap) = longest(true);
    let swap = swap.unwrap_or_default();
    let micros = |d: Duration| d.as_secs_f64() * 1e6;
    ratios.push(("swap/longest-call-during-swaps-vs-without".to_owned(), micros(busy) / micros(quiet).max(1.0)));
    vec![
        ("swap/replace-from-cache-us-median".to_owned(), micros(swap)),
        ("swap/longest-call-during-swaps-us".to_owned(), micros(busy)),
        ("swap/longest-call-without-swaps-us".to_owned(), micros(quiet)),
    ]
}

/// `bench:b/callee` whose `get` traps: every call re-instantiates.
const TRAPPER: &str = r#"(component
    (core module $m (memory (export "m") 1) (func (export "get") (param i32) (result i32) unreachable))
    (core instance $i (instantiate $m))
    (func $get (param "x" u32) (result u32) (canon lift (core func $i "get")))
    (instance $callee (export "get" (func $get)))
    (export "bench:b/callee" (instance $callee)))"#;

/// A trapping call (a trap, then re-instantiation) on an engine with the
/// pooling allocator beside one allocating on demand.
fn reinstantiation(ratios: &mut Ratios) -> Vec<(String, f64)> {
    let on_demand = wasm_link::default_engine().expect("engine");
    let pooling = Engine::new(&wasm_link::pooling_engine_config()).expect("a pooling engine");
    let head = |engine: &Engine| {
        let interfaces =
            vec![Iface("callee", "bench:b/callee", vec![Func("get")], InterfaceCardinality::ExactlyOne, vec![])];
        let plugins = [Plugin("t".into(), "callee", vec![], Source::Wat(TRAPPER), ResourceTable::new())];
        let (tree, _) = PluginTree::new("callee", interfaces, plugins);
        tree.load(engine, &Linker::new(engine)).expect("loads").0
    };
    let (on_demand_head, pooling_head) = (head(&on_demand), head(&pooling));
    let trap = |head: &Head| {
        black_box(head.dispatch("bench:b/callee", "get", true, &[Val::U32(1)]));
    };
    let ratio = paired(ROUNDS, 50, || trap(&on_demand_head), || trap(&pooling_head));
    ratios.push(("reinstantiate/pooling-vs-on-demand".to_owned(), ratio));
    let time = |head: &Head| {
        let started = std::time::Instant::now();
        for _ in 0..200 {
            trap(head);
        }
        started.elapsed().as_secs_f64() * 1e6 / 200.0
    };
    vec![
        ("reinstantiate/on-demand-us-per-trap".to_owned(), time(&on_demand_head)),
        ("reinstantiate/pooling-us-per-trap".to_owned(), time(&pooling_head)),
    ]
}

/// The freezing figures and per-call times, as table lines.
fn freeze_table(table: &mut String, figures: &[(String, f64)]) {
    for (name, value) in figures {
        let _ = writeln!(table, "{name} {value:.1}");
    }
    for name in ["freeze/edge/raw-composed", "freeze/edge/frozen", "freeze/edge/dynamic"] {
        if let Some(ns) = median(name) {
            let _ = writeln!(table, "{name}-ns-per-call {:.1}", ns / f64::from(SOCKET_CALLS));
        }
    }
    for name in ["freeze/chain5/frozen", "freeze/chain5/dynamic"] {
        if let Some(ns) = median(name) {
            let _ = writeln!(table, "{name}-ns-per-call {:.1}", ns / f64::from(CHAIN_CALLS));
        }
    }
}

/// End-to-end calls down the chain of five per `run`.
const CHAIN_CALLS: u32 = 100;

/// A component importing `bench:b/{from}` and exporting `bench:b/{to}`:
/// `get(x) = from.get(x + 1)`.
fn relay(from: &str, to: &str) -> String {
    format!(
        r#"(component
            (import "bench:b/{from}" (instance $from (export "get" (func (param "x" u32) (result u32)))))
            (core func $get (canon lower (func $from "get")))
            (core module $m
                (import "from" "get" (func $get (param i32) (result i32)))
                (func (export "get") (param i32) (result i32) (call $get (i32.add (local.get 0) (i32.const 1)))))
            (core instance $i (instantiate $m (with "from" (instance (export "get" (func $get))))))
            (func $out (param "x" u32) (result u32) (canon lift (core func $i "get")))
            (instance $to (export "get" (func $out)))
            (export "bench:b/{to}" (instance $to)))"#
    )
}

/// The `caller` over a chain: `caller` → `callee` (a relay) → `r1` → `r2`
/// → `r3` (the end): five plugins, four `ExactlyOne` edges.
fn chain5(engine: &Engine, freeze: bool, cache: Option<&wasm_link::dir::CompileCache>) -> Head {
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let end = leak(CALLEE.replace("\"bench:b/callee\"", "\"bench:b/r3\""));
    let source = |wat: &'static str| match cache {
        Some(cache) => Source::Cached(Arc::new((cache.clone(), wat::parse_str(wat).expect("valid")))),
        None => Source::Wat(wat),
    };
    let get = |id: &'static str| {
        Iface(id, leak(format!("bench:b/{id}")), vec![Func("get")], InterfaceCardinality::ExactlyOne, vec![])
    };
    let interfaces = vec![
        Iface("caller", "bench:b/caller", vec![Func("run")], InterfaceCardinality::ExactlyOne, vec![]),
        get("callee"),
        get("r1"),
        get("r2"),
        get("r3"),
    ];
    let plugins = vec![
        Plugin("caller".into(), "caller", vec!["callee"], source(CALLER), ResourceTable::new()),
        Plugin("relay0".into(), "callee", vec!["r1"], source(leak(relay("r1", "callee"))), ResourceTable::new()),
        Plugin("relay1".into(), "r1", vec!["r2"], source(leak(relay("r2", "r1"))), ResourceTable::new()),
        Plugin("relay2".into(), "r2", vec!["r3"], source(leak(relay("r3", "r2"))), ResourceTable::new()),
        Plugin("end".into(), "r3", vec![], source(end), ResourceTable::new()),
    ];
    let (tree, errors) = PluginTree::new("caller", interfaces, plugins);
    assert!(errors.is_empty());
    let mut options = wasm_link::LoadOptions::new().freeze(freeze);
    if let Some(cache) = cache {
        options = options.compile_cache(cache.clone());
    }
    let (head, errors) = tree.load_with(engine, &Linker::new(engine), &options).expect("the chain loads");
    assert!(errors.is_empty());
    assert_eq!(head.freeze_report().groups.len(), usize::from(freeze), "{:?}", head.freeze_report());
    head
}

/// The two-plugin `caller` → `callee` tree, frozen or not.
fn pair(engine: &Engine, freeze: bool) -> Head {
    let (tree, errors) = bench_tree("caller");
    assert!(errors.is_empty());
    let options = wasm_link::LoadOptions::new().freeze(freeze);
    let (head, errors) = tree.load_with(engine, &Linker::new(engine), &options).expect("the bench tree loads");
    assert!(errors.is_empty());
    assert_eq!(head.freeze_report().groups.len(), usize::from(freeze), "{:?}", head.freeze_report());
    head
}

/// Freezing: a frozen edge beside the composed limit and a dynamic socket;
/// a chain of five frozen vs dynamic; loading frozen vs dynamic (cold and
/// from the compile cache), for the chain and the demo; the demo's `run`.
fn freezing(c: &mut Criterion, engine: &Engine, ratios: &mut Ratios) -> String {
    let empty = wasmtime::component::Linker::<()>::new(engine);
    let (mut composed_store, composed_run) = instance_export(engine, composed(), &empty, "bench:b/caller", "run");
    let composed_run: GetFunc = composed_run.typed(&composed_store).expect("typed");
    let mut raw_composed = || {
        black_box(composed_run.call(&mut composed_store, (black_box(SOCKET_CALLS),)).expect("call"));
    };
    let frozen_head = pair(engine, true);
    let frozen_run = frozen_head.typed::<(u32,), (u32,)>("run").expect("`run`");
    let mut frozen = || {
        black_box(only(frozen_run.call((black_box(SOCKET_CALLS),))));
    };
    let dynamic_head = pair(engine, false);
    let dynamic_run = dynamic_head.typed::<(u32,), (u32,)>("run").expect("`run`");
    let mut dynamic = || {
        black_box(only(dynamic_run.call((black_box(SOCKET_CALLS),))));
    };
    ratios.push(("freeze/edge/frozen-vs-composed".to_owned(), paired(ROUNDS, 4, &mut raw_composed, &mut frozen)));
    ratios.push(("freeze/edge/dynamic-vs-frozen".to_owned(), paired(ROUNDS, 4, &mut frozen, &mut dynamic)));
    c.bench_function("freeze/edge/raw-composed", |b| b.iter(&mut raw_composed));
    c.bench_function("freeze/edge/frozen", |b| b.iter(&mut frozen));
    c.bench_function("freeze/edge/dynamic", |b| b.iter(&mut dynamic));

    let frozen_chain = chain5(engine, true, None);
    let frozen_chain_run = frozen_chain.typed::<(u32,), (u32,)>("run").expect("`run`");
    let mut chain_frozen = || {
        black_box(only(frozen_chain_run.call((black_box(CHAIN_CALLS),))));
    };
    let dynamic_chain = chain5(engine, false, None);
    let dynamic_chain_run = dynamic_chain.typed::<(u32,), (u32,)>("run").expect("`run`");
    let mut chain_dynamic = || {
        black_box(only(dynamic_chain_run.call((black_box(CHAIN_CALLS),))));
    };
    ratios
        .push(("freeze/chain5/dynamic-vs-frozen".to_owned(), paired(ROUNDS, 4, &mut chain_frozen, &mut chain_dynamic)));
    c.bench_function("freeze/chain5/frozen", |b| b.iter(&mut chain_frozen));
    c.bench_function("freeze/chain5/dynamic", |b| b.iter(&mut chain_dynamic));

    let figures = freeze_loads(engine, ratios);
    let mut table = String::new();
    freeze_table(&mut table, &figures);
    table
}

/// Loading frozen vs dynamic, cold and from the cache (the chain, the
/// demo), and the demo's `run`.
fn freeze_loads(engine: &Engine, ratios: &mut Ratios) -> Vec<(String, f64)> {
    use wasm_link::dir::{CompileCache, DirOptions, PluginDir};
    // A fresh private directory for the compile cache (see `loads`).
    let cache_dir = tempfile::tempdir().expect("a temporary directory");
    // SAFETY: `cache_dir` was just created empty by `tempfile`, readable and
    // writable by this user only, and only this bench writes entries into it.
    #[allow(unsafe_code, reason = "a compile cache in a private directory this bench created")]
    let cache = unsafe { CompileCache::new(cache_dir.path()) };
    let mut figures = Vec::new();
    let timed = |rounds: usize, load: &dyn Fn()| -> f64 {
        let mut times: Vec<f64> = (0..rounds)
            .map(|_| {
                let started = std::time::Instant::now();
                load();
                started.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        times.sort_by(f64::total_cmp);
        times[rounds / 2]
    };
    drop(chain5(engine, true, Some(&cache)));
    ratios.push((
        "freeze/load-chain5/cold/frozen-vs-dynamic".to_owned(),
        paired(LOAD_ROUNDS, 1, || drop(chain5(engine, false, None)), || drop(chain5(engine, true, None))),
    ));
    ratios.push((
        "freeze/load-chain5/cached/frozen-vs-dynamic".to_owned(),
        paired(
            LOAD_ROUNDS,
            1,
            || drop(chain5(engine, false, Some(&cache))),
            || drop(chain5(engine, true, Some(&cache))),
        ),
    ));

    let demo = std::path::Path::new(wasm_link_guests::DEMO_DIR);
    let load_demo = |freeze: bool, cache: Option<&CompileCache>| {
        let options = DirOptions { cache: cache.cloned() };
        let dir = PluginDir::open(demo, &options).expect("the demo opens");
        let (tree, _) = dir.into_tree();
        let mut load_options = wasm_link::LoadOptions::new().freeze(freeze);
        if let Some(cache) = cache {
            load_options = load_options.compile_cache(cache.clone());
        }
        let (head, _) =
            tree.load_with(engine, &PluginDir::linker(engine).expect("linker"), &load_options).expect("the demo loads");
        head
    };
    drop(load_demo(true, Some(&cache)));
    figures.push(("freeze/load-demo/cold-dynamic-ms".to_owned(), timed(5, &|| drop(load_demo(false, None)))));
    figures.push(("freeze/load-demo/cold-frozen-ms".to_owned(), timed(5, &|| drop(load_demo(true, None)))));
    ratios.push((
        "freeze/load-demo/cached/frozen-vs-dynamic".to_owned(),
        paired(LOAD_ROUNDS, 1, || drop(load_demo(false, Some(&cache))), || drop(load_demo(true, Some(&cache)))),
    ));
    let sample = std::fs::read_to_string(demo.join("sample.md")).expect("the sample");
    let run_on = |head: &PluginTreeHead<wasm_link::dir::DirPlugin>| {
        black_box(head.dispatch("demo:app/app@0.1.0", "run", true, &[Val::String(sample.clone())]));
    };
    let (dynamic_demo, frozen_demo) = (load_demo(false, Some(&cache)), load_demo(true, Some(&cache)));
    ratios.push((
        "freeze/demo-run/frozen-vs-dynamic".to_owned(),
        paired(ROUNDS, 4, || run_on(&dynamic_demo), || run_on(&frozen_demo)),
    ));
    figures.push((
        "freeze/demo-frozen-groups".to_owned(),
        f64::from(u32::try_from(frozen_demo.freeze_report().groups.len()).unwrap_or(u32::MAX)),
    ));
    drop(cache_dir);
    figures
}
