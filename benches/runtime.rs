//! What wasm-link adds on top of wasmtime: every figure beside a raw-wasmtime
//! baseline measured in the same run, reported as a ratio of medians in
//! `target/bench-ratios.txt` (`name ratio` lines).
//!
//! Run with `cargo bench --bench runtime` (about two minutes).

#![allow(missing_docs, reason = "a benchmark binary")]

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::hint::black_box;

use criterion::Criterion;
use wasm_link::{
    Component, Engine, FunctionData, InterfaceCardinality, InterfaceData, Linker, PluginCtxView, PluginData,
    PluginTree, PluginTreeHead, ResourceTable, ReturnKind, Socket, Val,
};
use wasmtime::Store;
use wasmtime::component::TypedFunc;

/// `bench:b/callee`: `get(x) = x + 1`.
const CALLEE: &str = r#"(component
    (core module $m (func (export "get") (param i32) (result i32) (i32.add (local.get 0) (i32.const 1))))
    (core instance $i (instantiate $m))
    (func $get (param "x" u32) (result u32) (canon lift (core func $i "get")))
    (instance $callee (export "get" (func $get)))
    (export "bench:b/callee" (instance $callee)))"#;

/// `bench:b/caller`: `run(n)` calls `get` through its socket `n` times.
const CALLER: &str = r#"(component
    (import "bench:b/callee" (instance $callee (export "get" (func (param "x" u32) (result u32)))))
    (core func $get (canon lower (func $callee "get")))
    (core module $m
        (import "callee" "get" (func $get (param i32) (result i32)))
        (func (export "run") (param $n i32) (result i32)
            (local $acc i32)
            (block $done (loop $next
                (br_if $done (i32.eqz (local.get $n)))
                (local.set $acc (call $get (local.get $acc)))
                (local.set $n (i32.sub (local.get $n) (i32.const 1)))
                (br $next)))
            (local.get $acc)))
    (core instance $i (instantiate $m (with "callee" (instance (export "get" (func $get))))))
    (func $run (param "n" u32) (result u32) (canon lift (core func $i "run")))
    (instance $caller (export "run" (func $run)))
    (export "bench:b/caller" (instance $caller)))"#;

/// `bench:b/callee` whose `get(x)` spins `x` rounds: a call with real work.
const WORKER: &str = r#"(component
    (core module $m (func (export "get") (param $n i32) (result i32)
        (local $acc i32)
        (block $done (loop $next
            (br_if $done (i32.eqz (local.get $n)))
            (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 31)) (local.get $n)))
            (local.set $n (i32.sub (local.get $n) (i32.const 1)))
            (br $next)))
        (local.get $acc)))
    (core instance $i (instantiate $m))
    (func $get (param "x" u32) (result u32) (canon lift (core func $i "get")))
    (instance $callee (export "get" (func $get)))
    (export "bench:b/callee" (instance $callee)))"#;

/// Rounds of `WORKER` for about 10 us per call on the reference VM.
const WORK: u32 = 12_000;

/// Socket calls per `run`: enough that the host-to-caller call is noise.
const SOCKET_CALLS: u32 = 1000;

struct Func(&'static str);
impl FunctionData for Func {
    fn name(&self) -> &str {
        self.0
    }
    fn return_kind(&self) -> ReturnKind {
        ReturnKind::AssumeNoResources
    }
    fn is_method(&self) -> bool {
        false
    }
}

struct Iface(&'static str, &'static str, Vec<Func>, InterfaceCardinality);
impl InterfaceData for Iface {
    type Id = &'static str;
    type Error = std::convert::Infallible;
    type Function = Func;
    type FunctionIter<'a> = std::slice::Iter<'a, Func>;
    type ResourceIter<'a> = std::iter::Empty<&'a String>;
    fn id(&self) -> Result<&&'static str, Self::Error> {
        Ok(&self.0)
    }
    fn cardinality(&self) -> Result<&InterfaceCardinality, Self::Error> {
        Ok(&self.3)
    }
    fn package_name(&self) -> Result<&str, Self::Error> {
        Ok(self.1)
    }
    fn functions(&self) -> Result<Self::FunctionIter<'_>, Self::Error> {
        Ok(self.2.iter())
    }
    fn resources(&self) -> Result<Self::ResourceIter<'_>, Self::Error> {
        Ok(std::iter::empty())
    }
}

/// Where a bench plugin's component comes from.
enum Source {
    /// Compiled at load.
    Wat(&'static str),
    /// Compiled beforehand: loading only instantiates.
    Compiled(Component),
    /// From a compile cache that already holds it: loading deserializes.
    Cached(Arc<(wasm_link::dir::CompileCache, Vec<u8>)>),
}

struct Plugin(String, &'static str, Vec<&'static str>, Source, ResourceTable);
impl PluginCtxView for Plugin {
    fn resource_table(&mut self) -> &mut ResourceTable {
        &mut self.4
    }
}
impl PluginData for Plugin {
    type Id = String;
    type InterfaceId = &'static str;
    type Error = wasm_link::WasmError;
    type SocketIter<'a> = std::slice::Iter<'a, &'static str>;
    fn id(&self) -> Result<&String, Self::Error> {
        Ok(&self.0)
    }
    fn plug(&self) -> Result<&&'static str, Self::Error> {
        Ok(&self.1)
    }
    fn sockets(&self) -> Result<Self::SocketIter<'_>, Self::Error> {
        Ok(self.2.iter())
    }
    fn component(&self, engine: &Engine) -> Result<Component, Self::Error> {
        match &self.3 {
            Source::Wat(wat) => Ok(Component::new(engine, wat)?),
            Source::Compiled(component) => Ok(component.clone()),
            Source::Cached(cached) => Ok(cached.0.component(engine, &cached.1)?.0),
        }
    }
}

type Head = PluginTreeHead<Iface, Plugin>;

/// `get`, typed.
type GetFunc = TypedFunc<(u32,), (u32,)>;

fn tree(engine: &Engine, root: &'static str) -> Head {
    let interfaces = vec![
        Iface("callee", "bench:b/callee", vec![Func("get")], InterfaceCardinality::ExactlyOne),
        Iface("caller", "bench:b/caller", vec![Func("run")], InterfaceCardinality::ExactlyOne),
    ];
    let plugins = vec![
        Plugin("callee".into(), "callee", vec![], Source::Wat(CALLEE), ResourceTable::new()),
        Plugin("caller".into(), "caller", vec!["callee"], Source::Wat(CALLER), ResourceTable::new()),
    ];
    let (tree, errors) = PluginTree::new(root, interfaces, plugins);
    assert!(errors.is_empty());
    let (head, errors) = tree.load(engine, &Linker::new(engine)).expect("the bench tree loads");
    assert!(errors.is_empty());
    head
}

fn instance_export(
    engine: &Engine,
    wat: &str,
    linker: &wasmtime::component::Linker<()>,
    path: &str,
    name: &str,
) -> (Store<()>, wasmtime::component::Func) {
    let component = Component::new(engine, wat).expect("valid");
    let mut store = Store::new(engine, ());
    // On an epoch-interrupting engine the baseline pays for epoch checks too,
    // with a deadline it never reaches.
    store.set_epoch_deadline(1 << 40);
    let instance = linker.instantiate(&mut store, &component).expect("instantiates");
    let interface = instance.get_export_index(&mut store, None, path).expect("interface");
    let func = instance.get_export_index(&mut store, Some(&interface), name).expect("function");
    let func = instance.get_func(&mut store, func).expect("a function");
    (store, func)
}

fn benches(c: &mut Criterion, engine: &Engine, label: &str) {
    let empty = wasmtime::component::Linker::<()>::new(engine);

    // Host to guest.
    let (mut store, func) = instance_export(engine, CALLEE, &empty, "bench:b/callee", "get");
    let typed: TypedFunc<(u32,), (u32,)> = func.typed(&store).expect("typed");
    c.bench_function(&format!("{label}/host/raw-typedfunc"), |b| {
        b.iter(|| typed.call(&mut store, (black_box(1),)).expect("call"));
    });
    let (mut store, func) = instance_export(engine, CALLEE, &empty, "bench:b/callee", "get");
    let mut results = [Val::U32(0)];
    c.bench_function(&format!("{label}/host/raw-func-call"), |b| {
        b.iter(|| func.call(&mut store, &[Val::U32(black_box(1))], &mut results).expect("call"));
    });
    let head = tree(engine, "callee");
    c.bench_function(&format!("{label}/host/dispatch"), |b| {
        b.iter(|| match head.dispatch("bench:b/callee", "get", true, &[Val::U32(black_box(1))]) {
            Socket::ExactlyOne(Ok(value)) => value,
            other => panic!("{other:?}"),
        });
    });

    let typed_get = head.typed::<(u32,), (u32,)>("get").expect("`get` is a root function");
    c.bench_function(&format!("{label}/host/typed"), |b| {
        b.iter(|| match typed_get.call((black_box(1),)) {
            Socket::ExactlyOne(Ok(value)) => value,
            other => panic!("{other:?}"),
        });
    });

    // Plugin to plugin: `run` makes SOCKET_CALLS calls through its socket.
    let (callee_store, callee) = instance_export(engine, CALLEE, &empty, "bench:b/callee", "get");
    let callee_typed: TypedFunc<(u32,), (u32,)> = callee.typed(&callee_store).expect("typed");
    let callee_store = Arc::new(Mutex::new(callee_store));
    let mut trampoline = wasmtime::component::Linker::<()>::new(engine);
    trampoline
        .instance("bench:b/callee")
        .expect("instance")
        .func_wrap("get", move |_, (x,): (u32,)| {
            let mut store = callee_store.lock().expect("not poisoned");
            callee_typed.call(&mut *store, (x,))
        })
        .expect("defined");
    let (mut store, run) = instance_export(engine, CALLER, &trampoline, "bench:b/caller", "run");
    let run: TypedFunc<(u32,), (u32,)> = run.typed(&store).expect("typed");
    c.bench_function(&format!("{label}/socket/raw-func-wrap-trampoline"), |b| {
        b.iter(|| run.call(&mut store, (black_box(SOCKET_CALLS),)).expect("call"));
    });
    let head = tree(engine, "caller");
    c.bench_function(&format!("{label}/socket/wasm-link"), |b| {
        b.iter(|| match head.dispatch("bench:b/caller", "run", true, &[Val::U32(black_box(SOCKET_CALLS))]) {
            Socket::ExactlyOne(Ok(value)) => value,
            other => panic!("{other:?}"),
        });
    });
}

/// `n` callee plugins behind an `Any` root, from `source`.
fn wide(engine: &Engine, n: usize, source: impl Fn() -> Source) -> Head {
    let interfaces = vec![Iface("callee", "bench:b/callee", vec![Func("get")], InterfaceCardinality::Any)];
    let plugins = (0..n).map(|i| Plugin(format!("p{i:03}"), "callee", vec![], source(), ResourceTable::new()));
    let (tree, errors) = PluginTree::new("callee", interfaces, plugins);
    assert!(errors.is_empty());
    let (head, errors) = tree.load(engine, &Linker::new(engine)).expect("loads");
    assert!(errors.is_empty());
    head
}

/// `dispatch` over `n` plugins of `wat` beside a loop of raw `TypedFunc`
/// calls into `n` instances, for each `n` of `sizes`.
fn fan_out(
    c: &mut Criterion,
    engine: &Engine,
    empty: &wasmtime::component::Linker<()>,
    label: &str,
    wat: &'static str,
    arg: u32,
    sizes: &[usize],
) {
    for &n in sizes {
        let head = wide(engine, n, || Source::Wat(wat));
        c.bench_function(&format!("{label}/{n}/dispatch"), |b| {
            b.iter(|| head.dispatch("bench:b/callee", "get", true, &[Val::U32(black_box(arg))]));
        });
        let mut raw: Vec<(Store<()>, GetFunc)> = (0..n)
            .map(|_| {
                let (store, func) = instance_export(engine, wat, empty, "bench:b/callee", "get");
                let typed = func.typed(&store).expect("typed");
                (store, typed)
            })
            .collect();
        c.bench_function(&format!("{label}/{n}/raw-typedfunc-loop"), |b| {
            b.iter(|| {
                for (store, func) in &mut raw {
                    black_box(func.call(&mut *store, (black_box(arg),)).expect("call"));
                }
            });
        });
    }
}

fn fan_out_and_load(c: &mut Criterion, engine: &Engine) {
    let empty = wasmtime::component::Linker::<()>::new(engine);
    fan_out(c, engine, &empty, "fan-out", CALLEE, 1, &[1, 8, 32]);
    fan_out(c, engine, &empty, "fan-out-work", WORKER, WORK, &[2, 8]);
    let mut group = c.benchmark_group("load");
    group.sample_size(10).measurement_time(Duration::from_secs(4));
    group.bench_function("100/compile-and-instantiate", |b| b.iter(|| wide(engine, 100, || Source::Wat(CALLEE))));
    group.bench_function("100/raw-compile-and-instantiate", |b| {
        b.iter(|| {
            for _ in 0..100 {
                black_box(instance_export(engine, CALLEE, &empty, "bench:b/callee", "get"));
            }
        });
    });
    let cache_dir = std::env::temp_dir().join(format!("wasm-link-bench-cache-{}", std::process::id()));
    let cached = Arc::new((wasm_link::dir::CompileCache::new(&cache_dir), wat::parse_str(CALLEE).expect("valid")));
    let _ = cached.0.component(engine, &cached.1).expect("compiles into the cache");
    group.bench_function("100/from-cache", |b| b.iter(|| wide(engine, 100, || Source::Cached(cached.clone()))));
    let serialized = Component::new(engine, CALLEE).expect("valid").serialize().expect("serializes");
    group.bench_function("100/raw-deserialize-and-instantiate", |b| {
        b.iter(|| {
            for _ in 0..100 {
                let component = deserialize(engine, &serialized);
                let mut store = Store::new(engine, ());
                black_box(empty.instantiate(&mut store, &component).expect("instantiates"));
            }
        });
    });
    let compiled = Component::new(engine, CALLEE).expect("valid");
    group.bench_function("100/instantiate", |b| b.iter(|| wide(engine, 100, || Source::Compiled(compiled.clone()))));
    group.bench_function("100/raw-instantiate", |b| {
        b.iter(|| {
            for _ in 0..100 {
                let mut store = Store::new(engine, ());
                black_box(empty.instantiate(&mut store, &compiled).expect("instantiates"));
            }
        });
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&cache_dir);
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

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm.split_whitespace().nth(1).and_then(|pages| pages.parse::<u64>().ok()).unwrap_or(0) * 4096
}

/// Resident bytes per idle loaded plugin, and per bare store + instance.
fn memory_per_plugin(engine: &Engine) -> (f64, f64) {
    const N: u32 = 200;
    let compiled = Component::new(engine, CALLEE).expect("valid");
    let empty = wasmtime::component::Linker::<()>::new(engine);
    let before = resident_bytes();
    let raw: Vec<_> = (0..N)
        .map(|_| {
            let mut store = Store::new(engine, ());
            let instance = empty.instantiate(&mut store, &compiled).expect("instantiates");
            (store, instance)
        })
        .collect();
    let raw_bytes = resident_bytes().saturating_sub(before);
    let before = resident_bytes();
    let head = wide(engine, N as usize, || Source::Compiled(compiled.clone()));
    let linked_bytes = resident_bytes().saturating_sub(before);
    black_box((&raw, &head));
    let per = |bytes: u64| f64::from(u32::try_from(bytes).unwrap_or(u32::MAX)) / f64::from(N);
    (per(linked_bytes), per(raw_bytes))
}

fn main() {
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
        .configure_from_args();
    let plain = Engine::default();
    let epochs = wasm_link::default_engine().expect("engine");
    benches(&mut criterion, &plain, "default-engine");
    benches(&mut criterion, &epochs, "epoch-engine");
    fan_out_and_load(&mut criterion, &plain);
    criterion.final_summary();

    let mut table = String::new();
    for label in ["default-engine", "epoch-engine"] {
        let ratio = |name: &str, baseline: &str| {
            Some(median(&format!("{label}/{name}"))? / median(&format!("{label}/{baseline}"))?)
        };
        let rows = [
            ("host/dispatch-vs-func-call", ratio("host/dispatch", "host/raw-func-call")),
            ("host/dispatch-vs-typedfunc", ratio("host/dispatch", "host/raw-typedfunc")),
            ("host/typed-vs-typedfunc", ratio("host/typed", "host/raw-typedfunc")),
            ("socket/wasm-link-vs-func-wrap-trampoline", ratio("socket/wasm-link", "socket/raw-func-wrap-trampoline")),
        ];
        for (name, value) in rows {
            if let Some(value) = value {
                let _ = writeln!(table, "{label}/{name} {value:.2}");
            }
        }
        for name in ["host/raw-typedfunc", "host/raw-func-call", "host/dispatch", "host/typed"] {
            if let Some(ns) = median(&format!("{label}/{name}")) {
                let _ = writeln!(table, "{label}/{name}-ns {ns:.0}");
            }
        }
        for name in ["socket/raw-func-wrap-trampoline", "socket/wasm-link"] {
            if let Some(ns) = median(&format!("{label}/{name}")) {
                let _ = writeln!(table, "{label}/{name}-ns-per-call {:.0}", ns / f64::from(SOCKET_CALLS));
            }
        }
    }
    let ratio = |name: &str, baseline: &str| Some(median(name)? / median(baseline)?);
    for n in [1, 8, 32] {
        if let Some(value) = ratio(&format!("fan-out/{n}/dispatch"), &format!("fan-out/{n}/raw-typedfunc-loop")) {
            let _ = writeln!(table, "fan-out/{n}/dispatch-vs-raw-typedfunc-loop {value:.2}");
        }
    }
    for n in [2u32, 8] {
        let name = format!("fan-out-work/{n}/dispatch");
        if let Some(value) = ratio(&name, &format!("fan-out-work/{n}/raw-typedfunc-loop")) {
            let _ = writeln!(table, "fan-out-work/{n}/dispatch-vs-raw-typedfunc-loop {value:.2}");
        }
        if let Some(ns) = median(&format!("fan-out-work/{n}/raw-typedfunc-loop")) {
            let _ = writeln!(table, "fan-out-work/{n}/raw-ns-per-call {:.0}", ns / f64::from(n));
        }
    }
    for (name, baseline) in [
        ("load/100/compile-and-instantiate", "load/100/raw-compile-and-instantiate"),
        ("load/100/instantiate", "load/100/raw-instantiate"),
        ("load/100/from-cache", "load/100/raw-deserialize-and-instantiate"),
    ] {
        if let Some(value) = ratio(name, baseline) {
            let _ = writeln!(table, "{name}-vs-raw {value:.2}");
        }
    }
    let (linked, raw) = memory_per_plugin(&plain);
    let _ = writeln!(table, "memory/idle-plugin-bytes {linked:.0}");
    let _ = writeln!(table, "memory/raw-store-and-instance-bytes {raw:.0}");
    if raw > 0.0 {
        let _ = writeln!(table, "memory/idle-plugin-vs-raw {:.2}", linked / raw);
    }
    print!("\n{table}");
    let _ = std::fs::create_dir_all("target");
    let _ = std::fs::write("target/bench-ratios.txt", table);
}
