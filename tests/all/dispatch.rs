//! Host dispatch on the root socket: results, shapes and every error.

use wasm_link::{DispatchError, InterfaceCardinality, Socket, Val};

use crate::fixtures::Plugin;
use crate::plugins::{counter, counter_interface};
use crate::{Head, load_clean};

fn counter_head() -> Head {
    load_clean(
        "counter",
        vec![counter_interface(InterfaceCardinality::ExactlyOne)],
        vec![Plugin::new("c", "counter", &[], counter())],
    )
}

fn one(socket: Socket<Result<Val, DispatchError<String>>, String>) -> Result<Val, DispatchError<String>> {
    match socket {
        Socket::ExactlyOne(result) => result,
        other => panic!("expected ExactlyOne, got {other:?}"),
    }
}

#[test]
fn dispatch_returns_the_plugins_value() {
    let head = counter_head();
    let result = one(head.dispatch("test:fixtures/counter", "add", true, &[Val::U32(2), Val::U32(3)]));
    assert_eq!(result.unwrap(), Val::U32(5));
}

#[test]
fn a_trap_is_an_error_and_the_plugin_is_reinstantiated_for_the_next_call() {
    let head = counter_head();
    assert_eq!(one(head.dispatch("test:fixtures/counter", "bump", true, &[])).unwrap(), Val::U32(1));
    assert_eq!(one(head.dispatch("test:fixtures/counter", "bump", true, &[])).unwrap(), Val::U32(2));
    match one(head.dispatch("test:fixtures/counter", "boom", true, &[])) {
        Err(DispatchError::Trap { plugin, function, reinstantiated, source, .. }) => {
            assert_eq!(plugin, "c");
            assert_eq!(&*function, "boom");
            assert!(reinstantiated);
            assert_eq!(source.trap(), Some(wasm_link::Trap::UnreachableCodeReached));
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    // A fresh instance: the count starts over.
    assert_eq!(one(head.dispatch("test:fixtures/counter", "bump", true, &[])).unwrap(), Val::U32(1));
}

#[test]
fn an_unknown_interface_is_an_error_naming_the_plugin() {
    let head = counter_head();
    match one(head.dispatch("test:fixtures/other", "get", true, &[])) {
        Err(DispatchError::InvalidInterface { plugin, interface, .. }) => {
            assert_eq!((plugin.as_str(), interface.as_str()), ("c", "test:fixtures/other"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_unknown_function_is_an_error() {
    let head = counter_head();
    assert!(matches!(
        one(head.dispatch("test:fixtures/counter", "nope", true, &[])),
        Err(DispatchError::InvalidFunction { function, .. }) if function == "nope"
    ));
}

#[test]
fn a_wrong_argument_count_is_an_error() {
    let head = counter_head();
    assert!(matches!(
        one(head.dispatch("test:fixtures/counter", "add", true, &[Val::U32(1)])),
        Err(DispatchError::ArgumentCount { expected: 2, found: 1, .. })
    ));
}

#[test]
fn ill_typed_arguments_are_an_error_and_leave_the_plugin_untouched() {
    let head = counter_head();
    assert_eq!(one(head.dispatch("test:fixtures/counter", "bump", true, &[])).unwrap(), Val::U32(1));
    let error = one(head.dispatch("test:fixtures/counter", "add", true, &[Val::String("x".into()), Val::U32(1)]));
    assert!(matches!(error, Err(DispatchError::InvalidArguments { .. })), "{error:?}");
    // Nothing ran, nothing was reset: the count goes on.
    assert_eq!(one(head.dispatch("test:fixtures/counter", "bump", true, &[])).unwrap(), Val::U32(2));
}

#[test]
fn has_return_must_match_the_function() {
    let head = counter_head();
    assert!(matches!(
        one(head.dispatch("test:fixtures/counter", "get", false, &[])),
        Err(DispatchError::ReturnMismatch { returns: true, .. })
    ));
    assert!(matches!(
        one(head.dispatch("test:fixtures/counter", "nothing", true, &[])),
        Err(DispatchError::ReturnMismatch { returns: false, .. })
    ));
}

#[test]
fn a_function_without_result_returns_the_empty_tuple_of_0_1_0() {
    let head = counter_head();
    assert_eq!(one(head.dispatch("test:fixtures/counter", "nothing", false, &[])).unwrap(), Val::Tuple(Vec::new()));
}

#[test]
fn a_bare_package_name_means_its_root_instance_and_both_spellings_dispatch() {
    let wasm = crate::fixtures::component(
        "package test:bare; interface root { get: func() -> u32; } world w { export root; }",
        "w",
        r#"(module (func (export "test:bare/root#get") (result i32) i32.const 5))"#,
    );
    let interface = crate::fixtures::Interface::new(
        "bare",
        InterfaceCardinality::ExactlyOne,
        "test:bare",
        vec![crate::fixtures::func("get")],
    );
    let head = load_clean("bare", vec![interface], vec![Plugin::new("b", "bare", &[], wasm)]);
    assert_eq!(head.interface_path(), "test:bare/root");
    assert_eq!(one(head.dispatch("test:bare", "get", true, &[])).unwrap(), Val::U32(5));
    assert_eq!(one(head.dispatch("test:bare/root", "get", true, &[])).unwrap(), Val::U32(5));
}

#[test]
fn an_at_least_one_root_returns_a_result_per_plugin_keyed_by_id() {
    let head = load_clean(
        "counter",
        vec![counter_interface(InterfaceCardinality::AtLeastOne)],
        vec![Plugin::new("x", "counter", &[], counter()), Plugin::new("y", "counter", &[], counter())],
    );
    let Socket::AtLeastOne(results) = head.dispatch("test:fixtures/counter", "boom", true, &[]) else { panic!() };
    assert_eq!(results.len(), 2);
    for (id, result) in &results {
        assert!(matches!(result, Err(DispatchError::Trap { plugin, .. }) if plugin == id));
    }
    assert_eq!(head.plugin_ids(), ["x", "y"]);
}

#[test]
fn dispatch_errors_read_well() {
    let head = counter_head();
    let error = one(head.dispatch("test:fixtures/counter", "boom", true, &[])).unwrap_err();
    let message = error.to_string();
    assert_eq!(message, "plugin `c` trapped in `test:fixtures/counter#boom` (re-instantiated)");
    let source = std::error::Error::source(&error).expect("the trap is the source").to_string();
    assert!(source.contains("unreachable"), "{source}");
}

#[test]
fn the_typed_fast_path_calls_with_rust_values() {
    let head = counter_head();
    let add = head.typed::<(u32, u32), (u32,)>("add").unwrap();
    for i in 0..10 {
        assert!(matches!(add.call((i, 1)), Socket::ExactlyOne(Ok((n,))) if n == i + 1));
    }
}

#[test]
fn the_typed_fast_path_reports_wrong_types_traps_and_unknown_functions() {
    let head = counter_head();
    let wrong = head.typed::<(String,), (u32,)>("add").unwrap();
    assert!(matches!(wrong.call(("x".to_owned(),)), Socket::ExactlyOne(Err(DispatchError::InvalidArguments { .. }))));
    let boom = head.typed::<(), (u32,)>("boom").unwrap();
    assert!(matches!(boom.call(()), Socket::ExactlyOne(Err(DispatchError::Trap { reinstantiated: true, .. }))));
    let get = head.typed::<(), (u32,)>("get").unwrap();
    assert!(matches!(get.call(()), Socket::ExactlyOne(Ok((42,)))));
    assert!(matches!(head.typed::<(), ()>("nope"), Err(Some(DispatchError::InvalidFunction { .. }))));
}
