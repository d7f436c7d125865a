//! Linking sockets: each cardinality's accepted import shapes, in plugin-id
//! order, and how failures behind a socket reach the consumer and the host.

use wasm_link::{DispatchError, InterfaceCardinality, Socket, Val};

use crate::fixtures::Plugin;
use crate::plugins::{
    ImportShape, LIST, LIST_RESULT, LIST_TAGGED, OPTION, OPTION_RESULT, PLAIN,
    RESULT_DISPATCH_ERROR, RESULT_STRING, consumer, number, number_interface, sum_interface,
};
use crate::{Head, load_clean};

/// A `sum` consumer over `number` providers `(id, value)`.
fn tree(cardinality: InterfaceCardinality, shape: &ImportShape, providers: &[(&str, u32)]) -> Head {
    let mut plugins = vec![Plugin::new("sum", "sum", &["number"], consumer(shape))];
    for &(id, value) in providers {
        plugins.push(Plugin::new(id, "number", &[], number(value, false)));
    }
    load_clean(
        "sum",
        vec![sum_interface(), number_interface(cardinality)],
        plugins,
    )
}

fn call(head: &Head, function: &str) -> Result<Val, DispatchError<String>> {
    match head.dispatch("test:fixtures/sum", function, true, &[]) {
        Socket::ExactlyOne(result) => result,
        other => panic!("expected ExactlyOne, got {other:?}"),
    }
}

fn total(head: &Head, function: &str) -> u32 {
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
    let head = tree(
        InterfaceCardinality::ExactlyOne,
        &RESULT_STRING,
        &[("a", 7)],
    );
    assert_eq!(total(&head, "total"), 7);
    let failed = total(&head, "failing");
    assert!(
        failed > 1000,
        "the consumer received an error message: {failed}"
    );
}

#[test]
fn exactly_one_socket_as_result_with_dispatch_error() {
    let head = tree(
        InterfaceCardinality::ExactlyOne,
        &RESULT_DISPATCH_ERROR,
        &[("abc", 7)],
    );
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
    let head = tree(
        InterfaceCardinality::Any,
        &LIST,
        &[("c", 3), ("a", 1), ("b", 2)],
    );
    assert_eq!(total(&head, "total"), 123);
}

#[test]
fn any_socket_with_no_plugin_is_an_empty_list() {
    let head = tree(InterfaceCardinality::Any, &LIST, &[]);
    assert_eq!(total(&head, "total"), 0);
}

#[test]
fn at_least_one_socket_as_list_of_results() {
    let head = tree(
        InterfaceCardinality::AtLeastOne,
        &LIST_RESULT,
        &[("b", 2), ("a", 1)],
    );
    assert_eq!(total(&head, "total"), 12);
    assert_eq!(total(&head, "failing"), 99);
}

#[test]
fn any_socket_as_tagged_list_carries_plugin_ids() {
    let head = tree(
        InterfaceCardinality::Any,
        &LIST_TAGGED,
        &[("b", 2), ("a", 1)],
    );
    assert_eq!(total(&head, "total"), 1122);
    assert_eq!(total(&head, "failing"), 1929);
}

#[test]
fn list_socket_failure_traps_the_consumer() {
    let head = tree(InterfaceCardinality::Any, &LIST, &[("a", 1)]);
    let error = call(&head, "failing").unwrap_err();
    assert_eq!(error.root_cause().plugin(), "a");
}
