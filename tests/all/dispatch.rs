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
