//! Component-model `async func` exports (feature `component-model-async`):
//! awaited on async trees, from the host and through sockets; refused by a
//! synchronous load with the function named; and what a deadline does to
//! one that never finishes.
//!
//! The provider is WebAssembly text: the async ABI's callback form, which
//! the fixtures' WIT-plus-core-module encoding does not produce.

use std::time::Duration;

use wasm_link::{DispatchError, Engine, InterfaceCardinality, Limits, LoadError, PluginTree, Socket, Val};

use crate::fixtures::Plugin;
use crate::plugins::{PLAIN, consumer, number_interface, sum_interface};

/// `test:fixtures/number` with each function an `async func`: `value`
/// yields to the host once, then returns `value`; `fail` traps after its
/// yield; `signal` returns at once; `hang` (when `hangs`) yields forever.
fn async_number(value: u32) -> Vec<u8> {
    format!(
        r#"(component
  (core module $m
    (import "" "return-u32" (func $return-u32 (param i32)))
    (import "" "return-none" (func $return-none))
    ;; value: yield (code 1), then return from the callback and exit (0)
    (func (export "value") (result i32) i32.const 1)
    (func (export "value-cb") (param i32 i32 i32) (result i32)
      (call $return-u32 (i32.const {value}))
      i32.const 0)
    (func (export "fail") (result i32) i32.const 1)
    (func (export "fail-cb") (param i32 i32 i32) (result i32) unreachable)
    (func (export "signal") (result i32) (call $return-none) i32.const 0)
    (func (export "never-cb") (param i32 i32 i32) (result i32) unreachable))
  (core func $return-u32 (canon task.return (result u32)))
  (core func $return-none (canon task.return))
  (core instance $i (instantiate $m
    (with "" (instance
      (export "return-u32" (func $return-u32))
      (export "return-none" (func $return-none))))))
  (type $u32-fn (func async (result u32)))
  (type $void-fn (func async))
  (func $value (type $u32-fn) (canon lift (core func $i "value") async (callback (core func $i "value-cb"))))
  (func $fail (type $u32-fn) (canon lift (core func $i "fail") async (callback (core func $i "fail-cb"))))
  (func $signal (type $void-fn) (canon lift (core func $i "signal") async (callback (core func $i "never-cb"))))
  (instance $number
    (export "value" (func $value))
    (export "fail" (func $fail))
    (export "signal" (func $signal)))
  (export "test:fixtures/number" (instance $number)))"#
    )
    .into_bytes()
}

fn engine() -> Engine {
    Engine::new(&wasm_link::async_func_engine_config()).unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn load_async(root: &str, interfaces: Vec<crate::fixtures::Interface>, plugins: Vec<Plugin>) -> crate::Head {
    let engine = engine();
    let linker = wasm_link::Linker::new(&engine);
    let (head, errors) = runtime().block_on(crate::load_async_with(&engine, &linker, root, interfaces, plugins));
    assert!(errors.is_empty(), "{errors:#?}");
    head
}

#[test]
fn an_async_func_export_is_awaited_from_the_host() {
    let head = load_async(
        "number",
        vec![number_interface(InterfaceCardinality::ExactlyOne)],
        vec![Plugin::new("n", "number", &[], async_number(7))],
    );
    let rt = runtime();
    let value = rt.block_on(head.dispatch_async("test:fixtures/number", "value", true, &[]));
    assert!(matches!(value, Socket::ExactlyOne(Ok(Val::U32(7)))), "{value:?}");
    // The blocking call on the async tree runs the same awaited path.
    assert!(matches!(head.dispatch("test:fixtures/number", "value", true, &[]), Socket::ExactlyOne(Ok(Val::U32(7)))));
    let signal = rt.block_on(head.dispatch_async("test:fixtures/number", "signal", false, &[]));
    assert!(matches!(signal, Socket::ExactlyOne(Ok(_))), "{signal:?}");
    // A trap after the yield is the plugin's, and it serves on.
    match rt.block_on(head.dispatch_async("test:fixtures/number", "fail", true, &[])) {
        Socket::ExactlyOne(Err(DispatchError::Trap { plugin, function, .. })) => {
            assert_eq!((plugin.as_str(), &*function), ("n", "fail"));
        }
        other => panic!("{other:?}"),
    }
    let typed = head.typed::<(), (u32,)>("value").unwrap();
    assert!(matches!(rt.block_on(typed.call_async(())), Socket::ExactlyOne(Ok((7,)))));
}

#[test]
fn a_consumer_awaits_an_async_func_behind_its_socket() {
    let head = load_async(
        "sum",
        vec![sum_interface(), number_interface(InterfaceCardinality::ExactlyOne)],
        vec![
            Plugin::new("sum", "sum", &["number"], consumer(&PLAIN)),
            Plugin::new("n", "number", &[], async_number(9)),
        ],
    );
    let total = runtime().block_on(head.dispatch_async("test:fixtures/sum", "total", true, &[]));
    assert!(matches!(total, Socket::ExactlyOne(Ok(Val::U32(9)))), "{total:?}");
}

#[test]
fn a_synchronous_load_refuses_an_async_func_export_naming_it() {
    let engine = engine();
    let (tree, _) = PluginTree::new(
        "number".to_owned(),
        vec![number_interface(InterfaceCardinality::ExactlyOne)],
        vec![Plugin::new("n", "number", &[], async_number(7))],
    );
    let Err((_, errors)) = tree.load(&engine, &wasm_link::Linker::new(&engine)) else { panic!("loaded") };
    match errors.first() {
        Some(LoadError::AsyncExport { plugin, function, .. }) => {
            assert_eq!((plugin.as_str(), function.as_str()), ("n", "value"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn without_concurrency_an_async_component_does_not_compile_and_says_why() {
    // `engine_config` keeps wasmtime's concurrency off, feature or not.
    let engine = wasm_link::default_engine().unwrap();
    let Err(error) = wasm_link::Component::new(&engine, async_number(7)) else { panic!("compiled") };
    assert!(format!("{error:#}").contains("async"), "{error:#}");
}

#[test]
fn an_async_func_that_never_finishes_is_cut_off_at_its_deadline_and_its_instance_replaced() {
    // `value` of a plugin whose callback waits forever: yields again each time.
    let wat = String::from_utf8(async_number(7)).unwrap().replace(
        r#"(func (export "value-cb") (param i32 i32 i32) (result i32)
      (call $return-u32 (i32.const 7))
      i32.const 0)"#,
        r#"(func (export "value-cb") (param i32 i32 i32) (result i32) i32.const 1)"#,
    );
    let limits = Limits { deadline: Duration::from_millis(200), ..Limits::default() };
    let head = load_async(
        "number",
        vec![number_interface(InterfaceCardinality::ExactlyOne)],
        vec![Plugin::new("n", "number", &[], wat.into_bytes()).limits(limits)],
    );
    let rt = runtime();
    let started = std::time::Instant::now();
    match rt.block_on(head.dispatch_async("test:fixtures/number", "value", true, &[])) {
        Socket::ExactlyOne(Err(DispatchError::BudgetExceeded { reinstantiated, .. })) => assert!(reinstantiated),
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    // The new instance serves.
    let signal = rt.block_on(head.dispatch_async("test:fixtures/number", "signal", false, &[]));
    assert!(matches!(signal, Socket::ExactlyOne(Ok(_))), "{signal:?}");
}

#[test]
fn on_a_concurrent_engine_ill_typed_arguments_are_the_callers_mistake_and_the_next_call_is_served() {
    // wasmtime leaves an instance it failed to lower arguments into
    // unenterable when its concurrency support is on; the runtime replaces
    // it without blaming the plugin.
    let head = load_async(
        "counter",
        vec![crate::plugins::counter_interface(InterfaceCardinality::ExactlyOne)],
        vec![Plugin::new("c", "counter", &[], crate::plugins::counter())],
    );
    let rt = runtime();
    let add = |args: Vec<Val>| rt.block_on(head.dispatch_async("test:fixtures/counter", "add", true, &args));
    assert!(matches!(
        add(vec![Val::String("x".into()), Val::U32(1)]),
        Socket::ExactlyOne(Err(DispatchError::InvalidArguments { .. }))
    ));
    assert!(matches!(add(vec![Val::U32(2), Val::U32(3)]), Socket::ExactlyOne(Ok(Val::U32(5)))));
    let health = crate::health_of(&head, "c");
    assert_eq!(health.failures, 0, "{health:?}");
}
