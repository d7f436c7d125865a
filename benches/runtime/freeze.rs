//! Frozen groups beside dynamic links and composed components.

#[allow(clippy::wildcard_imports, reason = "the bench's shared helpers and fixtures")]
use super::*;

/// The freezing figures and per-call times, as table lines.
pub(super) fn freeze_table(table: &mut String, figures: &[(String, f64)]) {
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
pub(super) const CHAIN_CALLS: u32 = 100;

/// A component importing `bench:b/{from}` and exporting `bench:b/{to}`:
/// `get(x) = from.get(x + 1)`.
pub(super) fn relay(from: &str, to: &str) -> String {
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
pub(super) fn chain5(engine: &Engine, freeze: bool, cache: Option<&wasm_link::dir::CompileCache>) -> Head {
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
pub(super) fn pair(engine: &Engine, freeze: bool) -> Head {
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
pub(super) fn freezing(c: &mut Criterion, engine: &Engine, ratios: &mut Ratios) -> String {
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
pub(super) fn freeze_loads(engine: &Engine, ratios: &mut Ratios) -> Vec<(String, f64)> {
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
