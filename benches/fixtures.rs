//! The plugins, trees and raw-wasmtime baselines the benchmarks share
//! (`runtime`, timed; `instructions`, counted).

#![allow(dead_code, unreachable_pub, reason = "each bench binary uses a part")]
#![allow(
    clippy::must_use_candidate,
    clippy::missing_panics_doc,
    missing_docs,
    reason = "bench fixtures: they panic on a broken fixture, by design"
)]

use std::sync::{Arc, Mutex};

use wasm_link::{
    Component, Engine, FunctionData, InterfaceCardinality, InterfaceData, Linker, PluginCtxView, PluginData,
    PluginTree, PluginTreeHead, ResourceTable, ReturnKind, Socket,
};
use wasmtime::Store;
use wasmtime::component::TypedFunc;

/// `bench:b/callee`: `get(x) = x + 1`.
pub const CALLEE: &str = r#"(component
    (core module $m (func (export "get") (param i32) (result i32) (i32.add (local.get 0) (i32.const 1))))
    (core instance $i (instantiate $m))
    (func $get (param "x" u32) (result u32) (canon lift (core func $i "get")))
    (instance $callee (export "get" (func $get)))
    (export "bench:b/callee" (instance $callee)))"#;

/// `bench:b/caller`: `run(n)` calls `get` through its socket `n` times.
pub const CALLER: &str = r#"(component
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
pub const WORKER: &str = r#"(component
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

/// `bench:b/caller` over `bench:b/callee`, composed statically: two nested
/// components linked inside one, so each call is a fused adapter in one store
/// (the limit a separate-store design is measured against).
pub fn composed() -> String {
    let inner = |wat: &str, name: &str| wat.replacen("(component", &format!("(component ${name}"), 1);
    format!(
        r#"(component
            {callee}
            {caller}
            (instance $callee_i (instantiate $callee))
            (alias export $callee_i "bench:b/callee" (instance $callee_exports))
            (instance $caller_i (instantiate $caller (with "bench:b/callee" (instance $callee_exports))))
            (alias export $caller_i "bench:b/caller" (instance $caller_exports))
            (export "bench:b/caller" (instance $caller_exports)))"#,
        callee = inner(CALLEE, "callee"),
        caller = inner(CALLER, "caller"),
    )
}

/// WIT of the resource benchmark: `counters` owns a resource, `user` makes,
/// reads and drops one `run(n)` times through its socket.
pub const COUNTERS_WIT: &str = r"package bench:b;
interface counters { resource counter { constructor(v: u32); get: func() -> u32; } }
interface user { run: func(n: u32) -> u32; }
world counters-plugin { export counters; }
world user-plugin { import counters; export user; }";

pub const COUNTERS_CORE: &str = r#"(module
    (import "[export]bench:b/counters" "[resource-new]counter" (func $new (param i32) (result i32)))
    (memory 1)
    (global $next (mut i32) (i32.const 0))
    (func (export "bench:b/counters#[constructor]counter") (param $v i32) (result i32)
        (local $rep i32)
        (global.set $next (i32.add (global.get $next) (i32.const 1)))
        (local.set $rep (i32.add (i32.and (global.get $next) (i32.const 8191)) (i32.const 1)))
        (i32.store (i32.mul (local.get $rep) (i32.const 4)) (local.get $v))
        (call $new (local.get $rep)))
    (func (export "bench:b/counters#[method]counter.get") (param $rep i32) (result i32)
        (i32.load (i32.mul (local.get $rep) (i32.const 4))))
    (func (export "bench:b/counters#[dtor]counter") (param i32)))"#;

pub const USER_CORE: &str = r#"(module
    (import "bench:b/counters" "[constructor]counter" (func $ctor (param i32) (result i32)))
    (import "bench:b/counters" "[method]counter.get" (func $get (param i32) (result i32)))
    (import "bench:b/counters" "[resource-drop]counter" (func $drop (param i32)))
    (func (export "bench:b/user#run") (param $n i32) (result i32)
        (local $acc i32) (local $h i32)
        (block $done (loop $next
            (br_if $done (i32.eqz (local.get $n)))
            (local.set $h (call $ctor (local.get $n)))
            (local.set $acc (i32.add (local.get $acc) (call $get (local.get $h))))
            (call $drop (local.get $h))
            (local.set $n (i32.sub (local.get $n) (i32.const 1)))
            (br $next)))
        (local.get $acc)))"#;

/// A component from a core module and the WIT world it targets.
pub fn from_core(world: &str, core: &str) -> Vec<u8> {
    let mut resolve = wit_parser::Resolve::new();
    let package = resolve.push_source("bench.wit", COUNTERS_WIT).expect("bench WIT parses");
    let world = resolve.select_world(&[package], Some(world)).expect("world exists");
    let mut module = wat::parse_str(core).expect("bench WAT parses");
    wit_component::embed_component_metadata(&mut module, &resolve, world, wit_component::StringEncoding::UTF8)
        .expect("metadata embeds");
    wit_component::ComponentEncoder::default()
        .module(&module)
        .expect("module accepted")
        .validate(true)
        .encode()
        .expect("component encodes")
}

/// Resource round trips (create, method, drop) per `run`.
pub const RESOURCE_CALLS: u32 = 300;

/// Rounds of `WORKER` for about 10 us per call on the reference VM.
pub const WORK: u32 = 12_000;

/// Socket calls per `run`: enough that the host-to-caller call is noise.
pub const SOCKET_CALLS: u32 = 1000;

pub struct Func(pub &'static str);
impl FunctionData for Func {
    fn name(&self) -> &str {
        self.0
    }
    fn return_kind(&self) -> ReturnKind {
        if self.0.starts_with("[constructor]") {
            ReturnKind::MayContainResources
        } else {
            ReturnKind::AssumeNoResources
        }
    }
    fn is_method(&self) -> bool {
        self.0.starts_with("[method]")
    }
}

pub struct Iface(pub &'static str, pub &'static str, pub Vec<Func>, pub InterfaceCardinality, pub Vec<String>);
impl InterfaceData for Iface {
    type Id = &'static str;
    type Error = std::convert::Infallible;
    type Function = Func;
    type FunctionIter<'a> = std::slice::Iter<'a, Func>;
    type ResourceIter<'a> = std::slice::Iter<'a, String>;
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
        Ok(self.4.iter())
    }
}

/// Where a bench plugin's component comes from.
pub enum Source {
    /// Compiled at load.
    Wat(&'static str),
    /// Component binary, compiled at load.
    Bytes(Arc<Vec<u8>>),
    /// Compiled beforehand: loading only instantiates.
    Compiled(Component),
    /// From a compile cache that already holds it: loading deserializes.
    Cached(Arc<(wasm_link::dir::CompileCache, Vec<u8>)>),
    /// Served by another tree over wRPC.
    Remote(wasm_link::Remote, Arc<wasm_link::WitInterface>),
}

pub struct Plugin(pub String, pub &'static str, pub Vec<&'static str>, pub Source, pub ResourceTable);
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
    fn component_bytes(&self) -> Result<Option<Vec<u8>>, Self::Error> {
        Ok(match &self.3 {
            Source::Wat(wat) => wat::parse_str(wat).ok(),
            Source::Bytes(bytes) => Some(bytes.to_vec()),
            Source::Cached(cached) => Some(cached.1.clone()),
            Source::Compiled(_) | Source::Remote(..) => None,
        })
    }
    fn remote(&self) -> Option<wasm_link::Remote> {
        match &self.3 {
            Source::Remote(remote, _) => Some(remote.clone()),
            _ => None,
        }
    }
    fn instances(&self) -> usize {
        // A remote plugin's proxy holds no state: as many calls at once as
        // the callers make.
        if matches!(self.3, Source::Remote(..)) { 16 } else { 1 }
    }
    fn replica(&self) -> Option<Self> {
        match &self.3 {
            Source::Remote(remote, wit) => Some(Plugin(
                self.0.clone(),
                self.1,
                self.2.clone(),
                Source::Remote(remote.clone(), wit.clone()),
                ResourceTable::new(),
            )),
            _ => None,
        }
    }
    fn component(&self, engine: &Engine) -> Result<Component, Self::Error> {
        match &self.3 {
            Source::Wat(wat) => Ok(Component::new(engine, wat)?),
            Source::Bytes(bytes) => Ok(Component::new(engine, &**bytes)?),
            Source::Compiled(component) => Ok(component.clone()),
            Source::Cached(cached) => Ok(cached.0.component(engine, &cached.1)?.0),
            Source::Remote(remote, wit) => remote.component(engine, wit).map_err(|e| wasmtime::Error::new(e).into()),
        }
    }
}

pub type Head = PluginTreeHead<Plugin>;

/// `get`, typed.
pub type GetFunc = TypedFunc<(u32,), (u32,)>;

pub fn tree(engine: &Engine, root: &'static str) -> Head {
    let (tree, errors) = bench_tree(root);
    assert!(errors.is_empty());
    let (head, errors) = tree.load(engine, &Linker::new(engine)).expect("the bench tree loads");
    assert!(errors.is_empty());
    head
}

/// [`tree`], loaded with `load_async`: asynchronous all the way down.
pub async fn tree_async(engine: &Engine, root: &'static str) -> Head {
    let (tree, errors) = bench_tree(root);
    assert!(errors.is_empty());
    let (head, errors) = tree.load_async(engine, &Linker::new(engine)).await.expect("the bench tree loads");
    assert!(errors.is_empty());
    head
}

#[allow(clippy::type_complexity, reason = "the tree and its build errors")]
pub fn bench_tree(
    root: &'static str,
) -> (PluginTree<Iface, Plugin>, Vec<wasm_link::PluginTreeError<String, &'static str>>) {
    let interfaces = vec![
        Iface("callee", "bench:b/callee", vec![Func("get")], InterfaceCardinality::ExactlyOne, vec![]),
        Iface("caller", "bench:b/caller", vec![Func("run")], InterfaceCardinality::ExactlyOne, vec![]),
        Iface(
            "counters",
            "bench:b/counters",
            vec![Func("[constructor]counter"), Func("[method]counter.get")],
            InterfaceCardinality::ExactlyOne,
            vec!["counter".to_owned()],
        ),
        Iface("user", "bench:b/user", vec![Func("run")], InterfaceCardinality::ExactlyOne, vec![]),
    ];
    let plugins = vec![
        Plugin("callee".into(), "callee", vec![], Source::Wat(CALLEE), ResourceTable::new()),
        Plugin("caller".into(), "caller", vec!["callee"], Source::Wat(CALLER), ResourceTable::new()),
        Plugin(
            "counters".into(),
            "counters",
            vec![],
            Source::Bytes(Arc::new(from_core("counters-plugin", COUNTERS_CORE))),
            ResourceTable::new(),
        ),
        Plugin(
            "user".into(),
            "user",
            vec!["counters"],
            Source::Bytes(Arc::new(from_core("user-plugin", USER_CORE))),
            ResourceTable::new(),
        ),
    ];
    PluginTree::new(root, interfaces, plugins)
}

/// A raw instance of `wasm` (text or binary) in a store of its own.
pub fn instantiate(
    engine: &Engine,
    wasm: impl AsRef<[u8]>,
    linker: &wasmtime::component::Linker<()>,
) -> (Store<()>, wasmtime::component::Instance) {
    let component = Component::new(engine, wasm).expect("valid");
    let mut store = Store::new(engine, ());
    // On an epoch-interrupting engine the baseline pays for epoch checks too,
    // with a deadline it never reaches.
    store.set_epoch_deadline(1 << 40);
    let instance = linker.instantiate(&mut store, &component).expect("instantiates");
    (store, instance)
}

/// Function `name` of the exported interface `path`.
pub fn export(
    store: &mut Store<()>,
    instance: &wasmtime::component::Instance,
    path: &str,
    name: &str,
) -> wasmtime::component::Func {
    let interface = instance.get_export_index(&mut *store, None, path).expect("interface");
    let func = instance.get_export_index(&mut *store, Some(&interface), name).expect("function");
    instance.get_func(&mut *store, func).expect("a function")
}

pub fn instance_export(
    engine: &Engine,
    wasm: impl AsRef<[u8]>,
    linker: &wasmtime::component::Linker<()>,
    path: &str,
    name: &str,
) -> (Store<()>, wasmtime::component::Func) {
    let (mut store, instance) = instantiate(engine, wasm, linker);
    let func = export(&mut store, &instance, path, name);
    (store, func)
}

/// The value of the one plugin behind an `ExactlyOne` root.
pub fn only<T: std::fmt::Debug, E: std::fmt::Debug>(result: Socket<Result<T, E>, String>) -> T {
    match result {
        Socket::ExactlyOne(Ok(value)) => value,
        other => panic!("{other:?}"),
    }
}

/// The best separate-store design by hand for a socket hop: `bench:b/caller`
/// linked to a `func_wrap` trampoline into the callee's `TypedFunc`, and
/// its `run`.
pub fn socket_trampoline(engine: &Engine) -> (Store<()>, GetFunc) {
    let empty = wasmtime::component::Linker::<()>::new(engine);
    let (callee_store, callee) = instance_export(engine, CALLEE, &empty, "bench:b/callee", "get");
    let callee_typed: GetFunc = callee.typed(&callee_store).expect("typed");
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
    let (store, run) = instance_export(engine, CALLER, &trampoline, "bench:b/caller", "run");
    let run: GetFunc = run.typed(&store).expect("typed");
    (store, run)
}

/// A host resource standing for a counter in the owner's store: the
/// hand-written trampoline keeps the owner's handles in a table by rep.
struct CounterRef;

/// The trampoline's state: the owner's store, its functions and the handles
/// the consumer holds (by rep).
struct Owner {
    store: Store<()>,
    ctor: TypedFunc<(u32,), (wasmtime::component::ResourceAny,)>,
    get: TypedFunc<(wasmtime::component::ResourceAny,), (u32,)>,
    handles: Vec<Option<wasmtime::component::ResourceAny>>,
    free: Vec<u32>,
}

/// The best separate-store design by hand for resources: the `user` plugin
/// linked to trampolines that keep the owner's handles by rep, and its
/// `run`.
pub fn resource_trampoline(engine: &Engine) -> (Store<()>, GetFunc) {
    use wasmtime::component::{Resource, ResourceAny, ResourceType};
    let empty = wasmtime::component::Linker::<()>::new(engine);
    let (mut owner_store, owner) = instantiate(engine, from_core("counters-plugin", COUNTERS_CORE), &empty);
    let ctor = export(&mut owner_store, &owner, "bench:b/counters", "[constructor]counter");
    let ctor = ctor.typed(&owner_store).expect("typed");
    let get = export(&mut owner_store, &owner, "bench:b/counters", "[method]counter.get");
    let get = get.typed(&owner_store).expect("typed");
    let owner = Arc::new(Mutex::new(Owner { store: owner_store, ctor, get, handles: Vec::new(), free: Vec::new() }));

    let mut trampoline = wasmtime::component::Linker::<()>::new(engine);
    let mut counters_instance = trampoline.instance("bench:b/counters").expect("instance");
    let dtor_owner = owner.clone();
    counters_instance
        .resource("counter", ResourceType::host::<CounterRef>(), move |_, rep| {
            let mut owner = dtor_owner.lock().expect("not poisoned");
            let handle: Option<ResourceAny> = owner.handles.get_mut(rep as usize).and_then(Option::take);
            owner.free.push(rep);
            match handle {
                Some(handle) => handle.resource_drop(&mut owner.store),
                None => Ok(()),
            }
        })
        .expect("resource");
    let ctor_owner = owner.clone();
    counters_instance
        .func_wrap("[constructor]counter", move |_, (v,): (u32,)| {
            let mut owner = ctor_owner.lock().expect("not poisoned");
            let owner = &mut *owner;
            let (handle,) = owner.ctor.call(&mut owner.store, (v,))?;
            let rep = if let Some(rep) = owner.free.pop() {
                owner.handles[rep as usize] = Some(handle);
                rep
            } else {
                owner.handles.push(Some(handle));
                u32::try_from(owner.handles.len() - 1).expect("few handles")
            };
            Ok((Resource::<CounterRef>::new_own(rep),))
        })
        .expect("constructor");
    let get_owner = owner;
    counters_instance
        .func_wrap("[method]counter.get", move |_, (this,): (Resource<CounterRef>,)| {
            let mut owner = get_owner.lock().expect("not poisoned");
            let owner = &mut *owner;
            let handle = owner.handles[this.rep() as usize].expect("live handle");
            owner.get.call(&mut owner.store, (handle,))
        })
        .expect("method");
    let (user_store, run) =
        instance_export(engine, from_core("user-plugin", USER_CORE), &trampoline, "bench:b/user", "run");
    let run: GetFunc = run.typed(&user_store).expect("typed");
    (user_store, run)
}
