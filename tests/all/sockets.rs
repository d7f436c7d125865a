//! Linking sockets: each cardinality's accepted import shapes, in plugin-id
//! order, and how failures behind a socket reach the consumer and the host.

use wasm_link::{DispatchError, InterfaceCardinality, Socket, Val};

use crate::fixtures::Plugin;
use crate::plugins::signal_consumer;
use crate::plugins::{
    ImportShape, LIST, LIST_RESULT, LIST_TAGGED, OPTION, OPTION_RESULT, PLAIN, RESULT_DISPATCH_ERROR, RESULT_STRING,
    consumer, number, number_interface, sum_interface,
};
use crate::{Head, load_clean};

/// A `sum` consumer over `number` providers `(id, value)`.
fn tree(cardinality: InterfaceCardinality, shape: &ImportShape, providers: &[(&str, u32)]) -> Head {
    let mut plugins = vec![Plugin::new("sum", "sum", &["number"], consumer(shape))];
    for &(id, value) in providers {
        plugins.push(Plugin::new(id, "number", &[], number(value, false)));
    }
    load_clean("sum", vec![sum_interface(), number_interface(cardinality)], plugins)
}

/// `sum#function` on the one `sum` plugin behind the root.
pub fn call(head: &Head, function: &str) -> Result<Val, DispatchError<String>> {
    match head.dispatch("test:fixtures/sum", function, true, &[]) {
        Socket::ExactlyOne(result) => result,
        other => panic!("expected ExactlyOne, got {other:?}"),
    }
}

/// `sum#function`'s value, which must be a `u32`.
pub fn total(head: &Head, function: &str) -> u32 {
    match call(head, function) {
        Ok(Val::U32(n)) => n,
        other => panic!("expected a u32, got {other:?}"),
    }
}

#[test]
fn exactly_one_socket_as_plain_value() {
    let head = tree(InterfaceCardinality::ExactlyOne, &PLAIN, &[("a", 7)]);
    assert_eq!(total(&head, "total"), 7);
}

#[test]
fn exactly_one_socket_failure_traps_the_consumer_and_names_the_failing_plugin() {
    let head = tree(InterfaceCardinality::ExactlyOne, &PLAIN, &[("a", 7)]);
    match call(&head, "failing") {
        Err(error @ DispatchError::Socket { .. }) => {
            assert_eq!(error.plugin(), "sum");
            let cause = error.root_cause();
            assert!(matches!(cause, DispatchError::Trap { .. }), "{cause:?}");
            assert_eq!(cause.plugin(), "a");
            assert!(cause.to_string().contains("fail"), "{cause}");
        }
        other => panic!("expected a socket failure, got {other:?}"),
    }
    // Both the consumer and the provider keep serving.
    assert_eq!(total(&head, "total"), 7);
}

#[test]
fn exactly_one_socket_as_result_with_string_error() {
    let head = tree(InterfaceCardinality::ExactlyOne, &RESULT_STRING, &[("a", 7)]);
    assert_eq!(total(&head, "total"), 7);
    let failed = total(&head, "failing");
    assert!(failed > 1000, "the consumer received an error message: {failed}");
}

#[test]
fn exactly_one_socket_as_result_with_dispatch_error() {
    let head = tree(InterfaceCardinality::ExactlyOne, &RESULT_DISPATCH_ERROR, &[("abc", 7)]);
    assert_eq!(total(&head, "total"), 7);
    // case 0 (`trap`), plugin id `abc` (3 bytes)
    assert_eq!(total(&head, "failing"), 1003);
}

#[test]
fn at_most_one_socket_with_a_plugin_returns_some() {
    let head = tree(InterfaceCardinality::AtMostOne, &OPTION, &[("a", 7)]);
    assert_eq!(total(&head, "total"), 8);
}

#[test]
fn at_most_one_socket_with_no_plugin_returns_none() {
    let head = tree(InterfaceCardinality::AtMostOne, &OPTION, &[]);
    assert_eq!(total(&head, "total"), 0);
}

#[test]
fn at_most_one_socket_as_option_of_result_carries_the_error() {
    let head = tree(InterfaceCardinality::AtMostOne, &OPTION_RESULT, &[("a", 7)]);
    assert_eq!(total(&head, "total"), 8);
    assert_eq!(total(&head, "failing"), 1000);
    let empty = tree(InterfaceCardinality::AtMostOne, &OPTION_RESULT, &[]);
    assert_eq!(total(&empty, "total"), 0);
}

#[test]
fn any_socket_as_list_is_in_plugin_id_order() {
    let head = tree(InterfaceCardinality::Any, &LIST, &[("c", 3), ("a", 1), ("b", 2)]);
    assert_eq!(total(&head, "total"), 123);
}

#[test]
fn any_socket_with_no_plugin_is_an_empty_list() {
    let head = tree(InterfaceCardinality::Any, &LIST, &[]);
    assert_eq!(total(&head, "total"), 0);
}

#[test]
fn at_least_one_socket_as_list_of_results() {
    let head = tree(InterfaceCardinality::AtLeastOne, &LIST_RESULT, &[("b", 2), ("a", 1)]);
    assert_eq!(total(&head, "total"), 12);
    assert_eq!(total(&head, "failing"), 99);
}

#[test]
fn any_socket_as_tagged_list_carries_plugin_ids() {
    let head = tree(InterfaceCardinality::Any, &LIST_TAGGED, &[("b", 2), ("a", 1)]);
    assert_eq!(total(&head, "total"), 1122);
    assert_eq!(total(&head, "failing"), 1929);
}

#[test]
fn list_socket_failure_traps_the_consumer() {
    let head = tree(InterfaceCardinality::Any, &LIST, &[("a", 1)]);
    let error = call(&head, "failing").unwrap_err();
    assert_eq!(error.root_cause().plugin(), "a");
}

/// A `sum` consumer of `signal` over `number` providers `(id, signal traps)`.
fn signal_tree(cardinality: InterfaceCardinality, wasm: Vec<u8>, providers: &[(&str, bool)]) -> Head {
    let mut plugins = vec![Plugin::new("sum", "sum", &["number"], wasm)];
    for &(id, traps) in providers {
        plugins.push(Plugin::new(id, "number", &[], number(0, traps)));
    }
    load_clean("sum", vec![sum_interface(), number_interface(cardinality)], plugins)
}

#[test]
fn a_function_without_result_is_plain_on_an_exactly_one_socket() {
    let ok = signal_tree(InterfaceCardinality::ExactlyOne, signal_consumer(None, ""), &[("a", false)]);
    assert_eq!(total(&ok, "total"), 1);
    let failing = signal_tree(InterfaceCardinality::ExactlyOne, signal_consumer(None, ""), &[("a", true)]);
    assert_eq!(call(&failing, "total").unwrap_err().root_cause().plugin(), "a");
}

#[test]
fn a_function_without_result_as_result_of_nothing() {
    let decode = "(if (result i32) (i32.load8_u (local.get $r)) (then (i32.const 9)) (else (i32.const 1)))";
    let wasm = || signal_consumer(Some("result<_, string>"), decode);
    assert_eq!(total(&signal_tree(InterfaceCardinality::ExactlyOne, wasm(), &[("a", false)]), "total"), 1);
    assert_eq!(total(&signal_tree(InterfaceCardinality::ExactlyOne, wasm(), &[("a", true)]), "total"), 9);
}

#[test]
fn a_function_without_result_reaches_every_plugin_of_a_multi_plugin_socket() {
    let decode = r"(local $acc i32) (local $i i32)
        (block $done (loop $next
            (br_if $done (i32.ge_u (local.get $i) (i32.load (i32.add (local.get $r) (i32.const 4)))))
            (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 10))
                (if (result i32) (i32.load8_u (i32.add (i32.load (local.get $r)) (i32.mul (local.get $i) (i32.const 12))))
                    (then (i32.const 9)) (else (i32.const 1)))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $next)))
        (local.get $acc)";
    let wasm = signal_consumer(Some("list<result<_, string>>"), decode);
    let head = signal_tree(InterfaceCardinality::Any, wasm, &[("b", true), ("a", false), ("c", false)]);
    assert_eq!(total(&head, "total"), 191);
    // Plain: every plugin is called; a failure traps the consumer.
    let plain = signal_tree(InterfaceCardinality::AtLeastOne, signal_consumer(None, ""), &[("a", false), ("b", false)]);
    assert_eq!(total(&plain, "total"), 1);
    let plain = signal_tree(InterfaceCardinality::AtLeastOne, signal_consumer(None, ""), &[("a", false), ("b", true)]);
    assert_eq!(call(&plain, "total").unwrap_err().root_cause().plugin(), "b");
}
