//! Interface metadata derived from WIT, and exports checked against it.

use wasm_link::{
    Component, Engine, FunctionData, InterfaceCardinality, InterfaceData, ReturnKind, WitError, WitInterface,
};

const SHAPES: &str = r"
    package test:shapes;
    interface shapes {
        resource shape {
            constructor(size: f64);
            area: func() -> f64;
            unit: static func() -> shape;
        }
        record sized { size: f64, shape: shape }
        record plain { size: f64 }
        variant maybe { some(shape), none }
        type alias = list<shape>;
        type count = u32;

        nothing: func();
        number: func() -> count;
        structure: func() -> plain;
        handle: func() -> shape;
        in-record: func() -> sized;
        in-variant: func() -> maybe;
        in-alias: func() -> alias;
        in-option: func() -> option<shape>;
        in-result: func() -> result<u32, shape>;
        borrowing: func(s: borrow<shape>) -> u32;
    }
";

fn shapes() -> WitInterface {
    WitInterface::from_source("shapes", InterfaceCardinality::Any, SHAPES, "test:shapes/shapes").unwrap()
}

fn kind(interface: &WitInterface, name: &str) -> ReturnKind {
    interface.functions().unwrap().find(|f| f.name() == name).unwrap().return_kind()
}

#[test]
fn return_kind_comes_from_the_result_type() {
    let shapes = shapes();
    assert_eq!(kind(&shapes, "nothing"), ReturnKind::Void);
    assert_eq!(kind(&shapes, "number"), ReturnKind::AssumeNoResources);
    assert_eq!(kind(&shapes, "structure"), ReturnKind::AssumeNoResources);
    assert_eq!(kind(&shapes, "borrowing"), ReturnKind::AssumeNoResources);
}

#[test]
fn a_handle_at_any_depth_may_contain_resources() {
    let shapes = shapes();
    for name in ["handle", "in-record", "in-variant", "in-alias", "in-option", "in-result", "[static]shape.unit"] {
        assert_eq!(kind(&shapes, name), ReturnKind::MayContainResources, "{name}");
    }
}

#[test]
fn methods_resources_and_names_follow_the_component_conventions() {
    let shapes = shapes();
    let method = shapes.functions().unwrap().find(|f| f.name() == "[method]shape.area").unwrap();
    assert!(method.is_method());
    let constructor = shapes.functions().unwrap().find(|f| f.name() == "[constructor]shape").unwrap();
    assert!(!constructor.is_method());
    assert_eq!(shapes.resources().unwrap().collect::<Vec<_>>(), ["shape"]);
    assert_eq!(shapes.package_name().unwrap(), "test:shapes/shapes");
}

#[test]
fn bad_wit_and_unknown_interfaces_are_errors() {
    let bad = WitInterface::from_source("x", InterfaceCardinality::Any, "package a:b; interface x {", "a:b/x");
    assert!(matches!(bad, Err(WitError::Parse { .. })));
    let missing = WitInterface::from_source("x", InterfaceCardinality::Any, SHAPES, "test:shapes/other");
    assert!(matches!(missing, Err(WitError::UnknownInterface { interface }) if interface == "test:shapes/other"));
}

#[test]
fn exports_are_checked_against_the_wit_with_both_types_in_the_message() {
    let engine = Engine::default();
    let component = Component::new(&engine, crate::plugins::counter()).unwrap();
    let matching = WitInterface::from_source(
        "counter",
        InterfaceCardinality::Any,
        crate::plugins::COUNTER_WIT,
        "test:fixtures/counter",
    )
    .unwrap();
    matching.check_exports(&engine, &component).unwrap();
    let wrong = WitInterface::from_source(
        "counter",
        InterfaceCardinality::Any,
        "package test:fixtures; interface counter { get: func() -> string; }",
        "test:fixtures/counter",
    )
    .unwrap();
    let mismatch = wrong.check_exports(&engine, &component).unwrap_err();
    assert_eq!(mismatch.function, "get");
    assert_eq!(mismatch.expected, "func() -> string");
    assert_eq!(mismatch.found, "func() -> u32");
}

#[test]
fn a_wit_syntax_error_names_its_line() {
    let Err(WitError::Parse { message, .. }) = WitInterface::from_source(
        "x",
        InterfaceCardinality::Any,
        "package a:b;\ninterface x {\n  f: func(;\n}",
        "a:b/x",
    ) else {
        panic!("the WIT is invalid")
    };
    assert!(message.contains("<source>:3:"), "{message}");
}
