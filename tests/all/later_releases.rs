//! Consumers built for wasm-link 0.3 and 0.4 load here: their socket
//! shapes (`tuple<string, result<T, E>>` for `ExactlyOne`, its `option` for
//! `AtMostOne`, `map<string, result<T, E>>` for the rest) and their
//! `dispatch-error` (the cases of `wasm-link:runtime/errors@0.4.0`, declared
//! inline as upstream's own fixtures declare it), each read back by the
//! consumer's own code.

use wasm_link::{InterfaceCardinality, LoadError};

use crate::fixtures::Plugin;
use crate::plugins::{ImportShape, consumer, number, number_interface, sum_interface};
use crate::sockets::total;
use crate::{Head, load_on};

/// wasm-link 0.4's `dispatch-error`, as its consumers declare it.
const UPSTREAM_ERROR: &str = "variant dispatch-error {
    lock-rejected, invalid-interface-path(string), invalid-function(string), missing-response,
    runtime-exception(string), invalid-argument-list, unsupported-type(string), executor-unavailable,
    resource-table-full, resource-handle-conversion-failed, invalid-resource-handle,
}";

/// 0.3's: the same without `executor-unavailable`.
const UPSTREAM_0_3_ERROR: &str = "variant dispatch-error {
    lock-rejected, invalid-interface-path(string), invalid-function(string), missing-response,
    runtime-exception(string), invalid-argument-list, unsupported-type(string),
    resource-table-full, resource-handle-conversion-failed, invalid-resource-handle,
}";

/// `tuple<string, result<u32>>` (upstream's `dependant_plugins_expect_primitive`):
/// ok -> 100 * the id's length + v, err -> 999.
const TAGGED: ImportShape = ImportShape {
    wit: "tuple<string, result<u32>>",
    defs: "",
    decode: r"(if (result i32) (i32.load8_u (i32.add (local.get $r) (i32.const 8)))
        (then (i32.const 999))
        (else (i32.add (i32.mul (i32.const 100) (i32.load (i32.add (local.get $r) (i32.const 4))))
            (i32.load (i32.add (local.get $r) (i32.const 12))))))",
};

/// `tuple<string, result<u32, dispatch-error>>` with 0.4's variant: ok -> v,
/// err -> 1000 + 100 * case + the id's length.
const TAGGED_UPSTREAM_ERROR: ImportShape = ImportShape {
    wit: "tuple<string, result<u32, dispatch-error>>",
    defs: UPSTREAM_ERROR,
    decode: r"(if (result i32) (i32.load8_u (i32.add (local.get $r) (i32.const 8)))
        (then (i32.add (i32.add (i32.const 1000)
                (i32.mul (i32.const 100) (i32.load8_u (i32.add (local.get $r) (i32.const 12)))))
            (i32.load (i32.add (local.get $r) (i32.const 4)))))
        (else (i32.load (i32.add (local.get $r) (i32.const 12)))))",
};

/// The same with 0.3's variant.
const TAGGED_UPSTREAM_0_3_ERROR: ImportShape =
    ImportShape { wit: TAGGED_UPSTREAM_ERROR.wit, defs: UPSTREAM_0_3_ERROR, decode: TAGGED_UPSTREAM_ERROR.decode };

/// `option<tuple<string, result<u32>>>`: none -> 0, some -> 1 + the id's
/// length * 100 + v, some(err) -> 999.
const OPTION_TAGGED: ImportShape = ImportShape {
    wit: "option<tuple<string, result<u32>>>",
    defs: "",
    decode: r"(if (result i32) (i32.load8_u (local.get $r))
        (then (if (result i32) (i32.load8_u (i32.add (local.get $r) (i32.const 12)))
            (then (i32.const 999))
            (else (i32.add (i32.add (i32.const 1) (i32.mul (i32.const 100) (i32.load (i32.add (local.get $r) (i32.const 8)))))
                (i32.load (i32.add (local.get $r) (i32.const 16)))))))
        (else (i32.const 0)))",
};

/// `map<string, result<u32, string>>`: two digits per plugin, in map order:
/// the id's letter (a = 1) and the value (9 for an error).
const MAP_TAGGED: ImportShape =
    ImportShape { wit: "map<string, result<u32, string>>", defs: "", decode: crate::plugins::LIST_TAGGED.decode };

fn tree(cardinality: InterfaceCardinality, shape: &ImportShape, providers: &[(&str, u32)]) -> Head {
    let mut plugins = vec![Plugin::new("sum", "sum", &["number"], consumer(shape))];
    for &(id, value) in providers {
        plugins.push(Plugin::new(id, "number", &[], number(value, false)));
    }
    // The engine wasm-link gives: it validates the component model's `map`.
    let engine = wasm_link::default_engine().unwrap();
    let (head, errors) = load_on(&engine, "sum", vec![sum_interface(), number_interface(cardinality)], plugins);
    assert!(errors.is_empty(), "{errors:#?}");
    head
}

#[test]
fn an_exactly_one_socket_as_0_3s_tagged_result_gets_the_plugin_id_and_its_outcome() {
    let head = tree(InterfaceCardinality::ExactlyOne, &TAGGED, &[("abc", 7)]);
    assert_eq!(total(&head, "total"), 307);
    assert_eq!(total(&head, "failing"), 999);
}

#[test]
fn a_failure_reaches_a_0_4_consumer_as_a_case_of_its_own_dispatch_error() {
    for shape in [&TAGGED_UPSTREAM_ERROR, &TAGGED_UPSTREAM_0_3_ERROR] {
        let head = tree(InterfaceCardinality::ExactlyOne, shape, &[("abc", 7)]);
        assert_eq!(total(&head, "total"), 7);
        // A trap is a `runtime-exception` (case 4) of plugin `abc`.
        assert_eq!(total(&head, "failing"), 1403);
    }
}

#[test]
fn an_at_most_one_socket_as_an_optional_tagged_result() {
    let head = tree(InterfaceCardinality::AtMostOne, &OPTION_TAGGED, &[("ab", 5)]);
    assert_eq!(total(&head, "total"), 206);
    assert_eq!(total(&head, "failing"), 999);
    let empty = tree(InterfaceCardinality::AtMostOne, &OPTION_TAGGED, &[]);
    assert_eq!(total(&empty, "total"), 0);
}

#[test]
fn a_multi_plugin_socket_as_0_3s_map_by_plugin_id() {
    let head = tree(InterfaceCardinality::Any, &MAP_TAGGED, &[("a", 1), ("b", 2)]);
    assert_eq!(total(&head, "total"), 1122);
    assert_eq!(total(&head, "failing"), 1929);
}

#[test]
fn a_shape_no_release_gives_is_refused_at_load_listing_the_accepted_ones() {
    // `tuple<u32, result<u32>>`: a tag that is not a plugin id.
    let shape = ImportShape { wit: "tuple<u32, result<u32>>", defs: "", decode: "(i32.const 0)" };
    let (tree, _) = wasm_link::PluginTree::new(
        "sum".to_owned(),
        vec![sum_interface(), number_interface(InterfaceCardinality::ExactlyOne)],
        vec![
            Plugin::new("sum", "sum", &["number"], consumer(&shape)),
            Plugin::new("a", "number", &[], number(1, false)),
        ],
    );
    let engine = wasm_link::default_engine().unwrap();
    let Err((_, errors)) = tree.load(&engine, &wasm_link::Linker::new(&engine)) else { panic!("loaded") };
    let text = errors
        .iter()
        .find(|e| matches!(e, LoadError::SocketSignature { .. }))
        .unwrap_or_else(|| panic!("{errors:#?}"))
        .to_string();
    assert!(text.contains("tuple<string, result<T, E>>"), "{text}");
}

/// A consumer in 0.3's resource shape (upstream's `resource/dependant_plugins`):
/// a factory returning `tuple<string, result<doc>>`, and methods returning a
/// bare `result<T>`. `roundtrip(v)` makes a doc of `v`, sets it to `v + 1`
/// and returns 100 * the id's length + its value, or 999 on any error.
fn tagged_user() -> Vec<u8> {
    crate::fixtures::component(
        r"package test:fixtures;
        interface docs {
            resource doc { get: func() -> result<u32>; set: func(v: u32) -> result; }
            make: func(v: u32) -> tuple<string, result<doc>>;
        }
        interface user { roundtrip: func(v: u32) -> u32; }
        world tagged-user { import docs; export user; }",
        "tagged-user",
        &format!(
            r#"(module
                (import "test:fixtures/docs" "make" (func $make (param i32 i32)))
                (import "test:fixtures/docs" "[method]doc.get" (func $get (param i32 i32)))
                (import "test:fixtures/docs" "[method]doc.set" (func $set (param i32 i32) (result i32)))
                (import "test:fixtures/docs" "[resource-drop]doc" (func $drop (param i32)))
                {allocator}
                (func (export "test:fixtures/user#roundtrip") (param $v i32) (result i32)
                    (local $h i32) (local $r i32)
                    (call $reset)
                    ;; tuple<string, result<own<doc>>> at 16: id (ptr, len), result tag at 24, handle at 28
                    (call $make (local.get $v) (i32.const 16))
                    (if (i32.load8_u (i32.const 24)) (then (return (i32.const 999))))
                    (local.set $h (i32.load (i32.const 28)))
                    (if (call $set (local.get $h) (i32.add (local.get $v) (i32.const 1))) (then (return (i32.const 999))))
                    ;; result<u32> at 64: tag, value at 68
                    (call $get (local.get $h) (i32.const 64))
                    (if (i32.load8_u (i32.const 64)) (then (return (i32.const 999))))
                    (local.set $r (i32.add (i32.mul (i32.const 100) (i32.load (i32.const 20))) (i32.load (i32.const 68))))
                    (call $drop (local.get $h))
                    (local.get $r)))"#,
            allocator = crate::fixtures::ALLOCATOR
        ),
    )
}

#[test]
fn a_0_3_consumer_of_resources_gets_tagged_handles_and_result_wrapped_methods() {
    let user = wasm_link::PluginTree::new(
        "user".to_owned(),
        vec![
            crate::fixtures::Interface::new(
                "user",
                InterfaceCardinality::ExactlyOne,
                "test:fixtures/user",
                vec![crate::fixtures::func("roundtrip")],
            ),
            crate::plugins::docs_interface(InterfaceCardinality::ExactlyOne),
        ],
        vec![
            Plugin::new("user", "user", &["docs"], tagged_user()),
            Plugin::new("docs", "docs", &[], crate::plugins::docs()),
        ],
    );
    let engine = wasm_link::default_engine().unwrap();
    let (head, errors) = user.0.load(&engine, &wasm_link::Linker::new(&engine)).unwrap();
    assert!(errors.is_empty(), "{errors:#?}");
    match head.dispatch("test:fixtures/user", "roundtrip", true, &[wasm_link::Val::U32(5)]) {
        wasm_link::Socket::ExactlyOne(Ok(wasm_link::Val::U32(n))) => assert_eq!(n, 406),
        other => panic!("{other:?}"),
    }
}

/// `result<u32, dispatch-error>` with the runtime's `dispatch-error` used
/// from the package at `version` (`None`: the package before it had one).
fn runtime_consumer(version: Option<&str>) -> Vec<u8> {
    let runtime = wasm_link::RUNTIME_WIT.replace(
        &format!("package wasm-link:runtime@{};", wasm_link::RUNTIME_WIT_VERSION),
        &match version {
            Some(version) => format!("package wasm-link:runtime@{version};"),
            None => "package wasm-link:runtime;".to_owned(),
        },
    );
    let uses = match version {
        Some(version) => format!("use wasm-link:runtime/types@{version}.{{dispatch-error}};"),
        None => "use wasm-link:runtime/types.{dispatch-error};".to_owned(),
    };
    let shape = ImportShape { defs: Box::leak(uses.into_boxed_str()), ..crate::plugins::RESULT_DISPATCH_ERROR };
    crate::plugins::consumer_on_runtime(&shape, &runtime)
}

#[test]
fn consumers_of_the_runtime_types_at_any_release_or_none_link_and_receive_its_errors() {
    for version in [None, Some(wasm_link::RUNTIME_WIT_VERSION), Some("0.0.7")] {
        let plugins = vec![
            Plugin::new("sum", "sum", &["number"], runtime_consumer(version)),
            Plugin::new("abc", "number", &[], number(7, false)),
        ];
        let engine = wasm_link::default_engine().unwrap();
        let (head, errors) =
            load_on(&engine, "sum", vec![sum_interface(), number_interface(InterfaceCardinality::ExactlyOne)], plugins);
        assert!(errors.is_empty(), "{version:?}: {errors:#?}");
        assert_eq!(total(&head, "total"), 7);
        // case 0 (`trap`), plugin id `abc` (3 bytes)
        assert_eq!(total(&head, "failing"), 1003, "{version:?}");
    }
}

#[test]
fn a_0_4_consumer_importing_its_runtimes_errors_package_links() {
    // As upstream's `wit_contract` validator: `dispatch-error` used from
    // `wasm-link:runtime/errors@0.4.0`, an instance of types only.
    let upstream = format!("package wasm-link:runtime@0.4.0;\ninterface errors {{ {UPSTREAM_ERROR} }}");
    let shape = ImportShape { defs: "use wasm-link:runtime/errors@0.4.0.{dispatch-error};", ..TAGGED_UPSTREAM_ERROR };
    let plugins = vec![
        Plugin::new("sum", "sum", &["number"], crate::plugins::consumer_on_runtime(&shape, &upstream)),
        Plugin::new("abc", "number", &[], number(7, false)),
    ];
    let engine = wasm_link::default_engine().unwrap();
    let (head, errors) =
        load_on(&engine, "sum", vec![sum_interface(), number_interface(InterfaceCardinality::ExactlyOne)], plugins);
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(total(&head, "total"), 7);
    assert_eq!(total(&head, "failing"), 1403);
}
