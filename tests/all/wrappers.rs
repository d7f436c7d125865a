//! The error-less wrappers of components built for wasm-link 0.1.0:
//! `result<T>`, `option<result<T>>` and `list<result<T>>` (no error type).
//! A failure behind the socket reaches the consumer as a bare `err`; a
//! provider that itself returns `result<T>` is passed through unchanged.

use wasm_link::{DispatchError, InterfaceCardinality, ReturnKind, Socket, Val};

use crate::fixtures::{ALLOCATOR, Interface, Plugin, component, func, method, with_resources};
use crate::plugins::{ImportShape, NUMBER_WIT, OPTION_RESULT, consumer, number, number_interface, sum_interface};
use crate::sockets::{call, total};
use crate::{Head, health_of, load_clean};

/// `result<u32>`: ok -> the value, err -> 1000 (the consumer's sentinel for
/// "the call failed").
const RESULT_NONE: ImportShape = ImportShape {
    wit: "result<u32>",
    defs: "",
    decode: r"(if (result i32) (i32.load8_u (local.get $r))
        (then (i32.const 1000))
        (else (i32.load (i32.add (local.get $r) (i32.const 4)))))",
};

/// `option<result<u32>>`: none -> 0, some(ok v) -> 1 + v, some(err) -> 1000.
/// The same layout as `option<result<u32, string>>` up to the error payload,
/// which the decoder never reads.
const OPTION_RESULT_NONE: ImportShape =
    ImportShape { wit: "option<result<u32>>", defs: "", decode: OPTION_RESULT.decode };

/// `list<result<u32>>`: a digit per plugin, 9 for an error (8-byte items).
const LIST_RESULT_NONE: ImportShape = ImportShape {
    wit: "list<result<u32>>",
    defs: "",
    decode: r"(local $acc i32) (local $i i32) (local $e i32)
        (block $done (loop $next
            (br_if $done (i32.ge_u (local.get $i) (i32.load (i32.add (local.get $r) (i32.const 4)))))
            (local.set $e (i32.add (i32.load (local.get $r)) (i32.mul (local.get $i) (i32.const 8))))
            (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 10))
                (if (result i32) (i32.load8_u (local.get $e))
                    (then (i32.const 9))
                    (else (i32.load (i32.add (local.get $e) (i32.const 4)))))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $next)))
        (local.get $acc)",
};

/// `list<tuple<string, result<u32>>>`: two digits per plugin: the id's letter
/// (a = 1) and the value (9 for an error); 16-byte items, the result at 8.
const LIST_TAGGED_NONE: ImportShape = ImportShape {
    wit: "list<tuple<string, result<u32>>>",
    defs: "",
    decode: r"(local $acc i32) (local $i i32) (local $e i32)
        (block $done (loop $next
            (br_if $done (i32.ge_u (local.get $i) (i32.load (i32.add (local.get $r) (i32.const 4)))))
            (local.set $e (i32.add (i32.load (local.get $r)) (i32.mul (local.get $i) (i32.const 16))))
            (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 100))
                (i32.add
                    (i32.mul (i32.const 10) (i32.sub (i32.load8_u (i32.load (local.get $e))) (i32.const 96)))
                    (if (result i32) (i32.load8_u (i32.add (local.get $e) (i32.const 8)))
                        (then (i32.const 9))
                        (else (i32.load (i32.add (local.get $e) (i32.const 12))))))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $next)))
        (local.get $acc)",
};

/// A `number` provider whose `value` traps.
fn trapping_number() -> Vec<u8> {
    component(
        NUMBER_WIT,
        "number-plugin",
        r#"(module
            (func (export "test:fixtures/number#value") (result i32) unreachable)
            (func (export "test:fixtures/number#fail") (result i32) unreachable)
            (func (export "test:fixtures/number#signal"))
        )"#,
    )
}

/// A `sum` consumer importing `number` as `shape` over `(id, provider)`s.
fn tree(cardinality: InterfaceCardinality, shape: &ImportShape, providers: Vec<(&str, Vec<u8>)>) -> Head {
    let mut plugins = vec![Plugin::new("sum", "sum", &["number"], consumer(shape))];
    for (id, wasm) in providers {
        plugins.push(Plugin::new(id, "number", &[], wasm));
    }
    load_clean("sum", vec![sum_interface(), number_interface(cardinality)], plugins)
}

// ---------------------------------------------------------------------------
// `ExactlyOne` as `result<T>`
// ---------------------------------------------------------------------------

#[test]
fn exactly_one_socket_as_error_less_result_gives_ok_of_the_value() {
    let head = tree(InterfaceCardinality::ExactlyOne, &RESULT_NONE, vec![("a", number(7, false))]);
    assert_eq!(total(&head, "total"), 7);
}

#[test]
fn exactly_one_socket_as_error_less_result_turns_a_trap_into_err_and_reinstantiates_the_provider() {
    let head = tree(InterfaceCardinality::ExactlyOne, &RESULT_NONE, vec![("a", number(7, false))]);
    // The consumer does not trap: it sees `err` and reports its sentinel.
    let seen = total(&head, "failing");
    let provider = health_of(&head, "a");
    assert_eq!((seen, provider.failures, provider.reinstantiations), (1000, 1, 1));
}

// ---------------------------------------------------------------------------
// `AtMostOne` as `option<result<T>>`
// ---------------------------------------------------------------------------

#[test]
fn at_most_one_socket_as_option_of_error_less_result_is_none_without_a_plugin() {
    let head = tree(InterfaceCardinality::AtMostOne, &OPTION_RESULT_NONE, vec![]);
    assert_eq!(total(&head, "total"), 0);
}

#[test]
fn at_most_one_socket_as_option_of_error_less_result_gives_some_ok() {
    let head = tree(InterfaceCardinality::AtMostOne, &OPTION_RESULT_NONE, vec![("a", number(7, false))]);
    assert_eq!(total(&head, "total"), 8);
}

#[test]
fn at_most_one_socket_as_option_of_error_less_result_gives_some_err_when_the_provider_traps() {
    let head = tree(InterfaceCardinality::AtMostOne, &OPTION_RESULT_NONE, vec![("a", number(7, false))]);
    assert_eq!(total(&head, "failing"), 1000);
}

// ---------------------------------------------------------------------------
// `Any` as `list<result<T>>`
// ---------------------------------------------------------------------------

#[test]
fn any_socket_as_list_of_error_less_results_gives_ok_and_err_in_plugin_id_order() {
    // Listed `b` first: the order the consumer sees is the ids' order.
    let head =
        tree(InterfaceCardinality::Any, &LIST_RESULT_NONE, vec![("b", number(2, false)), ("a", trapping_number())]);
    // `a` failed (9), `b` gave 2.
    assert_eq!(total(&head, "total"), 92);
}

#[test]
fn any_socket_as_tagged_list_of_error_less_results_carries_plugin_ids() {
    let head =
        tree(InterfaceCardinality::Any, &LIST_TAGGED_NONE, vec![("b", number(2, false)), ("a", trapping_number())]);
    // `a` failed (1, 9), `b` gave 2 (2, 2).
    assert_eq!(total(&head, "total"), 1922);
}

// ---------------------------------------------------------------------------
// A resource constructor as `func() -> result<own<counter>>`
// ---------------------------------------------------------------------------

/// The `counters` interface as the provider declares it: the constructor
/// returns the plain handle.
const COUNTERS_WIT: &str = r"
package test:fixtures;
interface counters {
    resource counter {
        constructor();
        increment: func() -> u32;
    }
    live: func() -> u32;
}
world counters-plugin { export counters; }
";

/// `counters`: each `counter` counts its `increment`s; `live` counts the
/// counters not yet destroyed. With `constructor_traps`, the constructor traps.
fn counters(constructor_traps: bool) -> Vec<u8> {
    let construct = if constructor_traps { "unreachable" } else { "(call $new (call $alloc))" };
    component(
        COUNTERS_WIT,
        "counters-plugin",
        &format!(
            r#"(module
                (import "[export]test:fixtures/counters" "[resource-new]counter" (func $new (param i32) (result i32)))
                (memory 1)
                (global $next (mut i32) (i32.const 0))
                (global $live (mut i32) (i32.const 0))
                (func $alloc (result i32)
                    (local $rep i32)
                    (global.set $next (i32.add (global.get $next) (i32.const 1)))
                    (local.set $rep (i32.add (i32.and (global.get $next) (i32.const 8191)) (i32.const 1)))
                    (i32.store (i32.mul (local.get $rep) (i32.const 4)) (i32.const 0))
                    (global.set $live (i32.add (global.get $live) (i32.const 1)))
                    (local.get $rep))
                (func (export "test:fixtures/counters#[constructor]counter") (result i32) {construct})
                (func (export "test:fixtures/counters#[method]counter.increment") (param $rep i32) (result i32)
                    (local $at i32)
                    (local.set $at (i32.mul (local.get $rep) (i32.const 4)))
                    (i32.store (local.get $at) (i32.add (i32.load (local.get $at)) (i32.const 1)))
                    (i32.load (local.get $at)))
                (func (export "test:fixtures/counters#live") (result i32) (global.get $live))
                (func (export "test:fixtures/counters#[dtor]counter") (param i32)
                    (global.set $live (i32.sub (global.get $live) (i32.const 1))))
            )"#
        ),
    )
}

fn counters_interface() -> Interface {
    Interface::new(
        "counters",
        InterfaceCardinality::ExactlyOne,
        "test:fixtures/counters",
        vec![
            with_resources("[constructor]counter"),
            method("[method]counter.increment", ReturnKind::AssumeNoResources),
            func("live"),
        ],
    )
    .with_resources(&["counter"])
}

/// `counter-user`: imports the constructor as `-> result<counter>` (the core
/// import `func() -> result<own<counter>>`). `roundtrip` constructs a counter,
/// increments it twice (10 * first + second, so 12) and drops it; 1000 when
/// the constructor gave `err`. `provider-live` is the provider's `live`.
fn counter_user() -> Vec<u8> {
    component(
        r"
        package test:fixtures;
        interface counters {
            resource counter {
                constructor() -> result<counter>;
                increment: func() -> u32;
            }
            live: func() -> u32;
        }
        interface user {
            roundtrip: func() -> u32;
            provider-live: func() -> u32;
        }
        world counter-user { import counters; export user; }
        ",
        "counter-user",
        &format!(
            r#"(module
                (import "test:fixtures/counters" "[constructor]counter" (func $ctor (param i32)))
                (import "test:fixtures/counters" "[method]counter.increment" (func $inc (param i32) (result i32)))
                (import "test:fixtures/counters" "[resource-drop]counter" (func $drop (param i32)))
                (import "test:fixtures/counters" "live" (func $live (result i32)))
                {ALLOCATOR}
                (func (export "test:fixtures/user#roundtrip") (result i32)
                    (local $h i32) (local $r i32)
                    (call $reset)
                    (call $ctor (i32.const 16))
                    (if (i32.load8_u (i32.const 16)) (then (return (i32.const 1000))))
                    (local.set $h (i32.load (i32.const 20)))
                    (local.set $r (i32.mul (call $inc (local.get $h)) (i32.const 10)))
                    (local.set $r (i32.add (local.get $r) (call $inc (local.get $h))))
                    (call $drop (local.get $h))
                    (local.get $r))
                (func (export "test:fixtures/user#provider-live") (result i32) (call $live))
            )"#
        ),
    )
}

fn counter_tree(constructor_traps: bool) -> Head {
    let user = Interface::new(
        "user",
        InterfaceCardinality::ExactlyOne,
        "test:fixtures/user",
        vec![func("roundtrip"), func("provider-live")],
    );
    load_clean(
        "user",
        vec![user, counters_interface()],
        vec![
            Plugin::new("user", "user", &["counters"], counter_user()),
            Plugin::new("counters", "counters", &[], counters(constructor_traps)),
        ],
    )
}

fn call_user(head: &Head, function: &str) -> u32 {
    match head.dispatch("test:fixtures/user", function, true, &[]) {
        Socket::ExactlyOne(Ok(Val::U32(n))) => n,
        other => panic!("expected a u32, got {other:?}"),
    }
}

#[test]
fn a_constructor_imported_as_error_less_result_gives_a_working_handle_that_does_not_leak() {
    let head = counter_tree(false);
    let used = call_user(&head, "roundtrip");
    assert_eq!((used, call_user(&head, "provider-live")), (12, 0));
}

#[test]
fn a_constructor_imported_as_error_less_result_gives_err_when_the_provider_traps() {
    let head = counter_tree(true);
    assert_eq!(call_user(&head, "roundtrip"), 1000);
}

// ---------------------------------------------------------------------------
// A provider that itself returns `result<T>`: plain, passed through
// ---------------------------------------------------------------------------

/// A `number` provider whose functions return `result<u32>` themselves:
/// `value` is ok(5); `fail` returns err without trapping, or traps with
/// `fail_traps`.
fn result_number(fail_traps: bool) -> Vec<u8> {
    let fail = if fail_traps { "unreachable" } else { "(i32.store8 (i32.const 8) (i32.const 1)) (i32.const 8)" };
    component(
        r"
        package test:fixtures;
        interface number {
            value: func() -> result<u32>;
            fail: func() -> result<u32>;
            signal: func();
        }
        world number-plugin { export number; }
        ",
        "number-plugin",
        &format!(
            r#"(module
                (memory (export "memory") 1)
                (func (export "test:fixtures/number#value") (result i32)
                    (i32.store8 (i32.const 8) (i32.const 0))
                    (i32.store (i32.const 12) (i32.const 5))
                    (i32.const 8))
                (func (export "test:fixtures/number#fail") (result i32) {fail})
                (func (export "test:fixtures/number#signal"))
            )"#
        ),
    )
}

#[test]
fn a_provider_returning_the_same_result_passes_its_own_err_through() {
    let head = tree(InterfaceCardinality::ExactlyOne, &RESULT_NONE, vec![("a", result_number(false))]);
    let seen = total(&head, "failing");
    // The err is the provider's answer, not a failure the runtime wrapped.
    assert_eq!((seen, health_of(&head, "a").failures), (1000, 0));
}

#[test]
fn a_provider_returning_the_same_result_passes_its_own_ok_through() {
    let head = tree(InterfaceCardinality::ExactlyOne, &RESULT_NONE, vec![("a", result_number(false))]);
    assert_eq!(total(&head, "total"), 5);
}

#[test]
fn a_provider_returning_the_same_result_is_plain_so_its_trap_traps_the_consumer() {
    let head = tree(InterfaceCardinality::ExactlyOne, &RESULT_NONE, vec![("a", result_number(true))]);
    // Not double-wrapped into an `err` the consumer would read as 1000.
    match call(&head, "failing") {
        Err(error @ DispatchError::Socket { .. }) => assert_eq!(error.root_cause().plugin(), "a"),
        other => panic!("expected the consumer to trap, got {other:?}"),
    }
}
