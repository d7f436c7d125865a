//! Live swaps and re-instantiation under load.

#[allow(clippy::wildcard_imports, reason = "the bench's shared helpers and fixtures")]
use super::*;

/// Swapping a plugin of the demo while a thread runs the demo's pipeline:
/// the swap's latency (the new version from the compile cache) and the
/// longest call the dispatching thread saw during swaps, beside its longest
/// without them.
pub(super) fn swaps(ratios: &mut Ratios) -> Vec<(String, f64)> {
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
pub(super) const TRAPPER: &str = r#"(component
    (core module $m (memory (export "m") 1) (func (export "get") (param i32) (result i32) unreachable))
    (core instance $i (instantiate $m))
    (func $get (param "x" u32) (result u32) (canon lift (core func $i "get")))
    (instance $callee (export "get" (func $get)))
    (export "bench:b/callee" (instance $callee)))"#;

/// A trapping call (a trap, then re-instantiation) on an engine with the
/// pooling allocator beside one allocating on demand.
pub(super) fn reinstantiation(ratios: &mut Ratios) -> Vec<(String, f64)> {
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
