//! Loading trees (compile, cache, instantiate) and fanning calls out over the plugins behind a root.

#[allow(clippy::wildcard_imports, reason = "the bench's shared helpers and fixtures")]
use super::*;

/// `n` callee plugins behind an `Any` root, from `source`.
pub(super) fn wide(engine: &Engine, n: usize, source: impl Fn() -> Source) -> Head {
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
pub(super) fn fan_out(
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
pub(super) const LOAD_ROUNDS: usize = 21;

pub(super) fn fan_outs(c: &mut Criterion, engine: &Engine, ratios: &mut Ratios) {
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
pub(super) fn helper_wake_up() -> (f64, f64) {
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

pub(super) fn loads(c: &mut Criterion, engine: &Engine, ratios: &mut Ratios) {
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
pub(super) fn deserialize(engine: &Engine, bytes: &[u8]) -> Component {
    // SAFETY: `bytes` is `Component::serialize` output of this very engine.
    unsafe { Component::deserialize(engine, bytes) }.expect("deserializes")
}
