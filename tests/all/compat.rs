//! Code written for wasm-link 0.1.0 keeps compiling and meaning the same:
//! the conversions into `Val`, `ReturnKind`'s default and text,
//! `InterfaceCardinality`'s text, `PluginTree::from_socket_map`, and generic
//! code bounded only by 0.1.0's `PluginData` (which implied `Send`).

use std::collections::HashMap;
use std::sync::Arc;

use wasm_link::{
    DispatchError, Engine, InterfaceCardinality, Linker, LoadError, PluginData, PluginTree, ReturnKind, Socket, Val,
};

use crate::fixtures::{Interface, Plugin};
use crate::plugins::{number, number_interface};

#[test]
fn return_kind_defaults_to_void_and_reads_as_in_0_1_0() {
    #[derive(Default)]
    struct Declared {
        kind: ReturnKind,
    }
    assert_eq!(Declared::default().kind, ReturnKind::Void);
    assert_eq!(ReturnKind::MayContainResources.to_string(), "Return type may contain resources");
    assert_eq!(ReturnKind::AssumeNoResources.to_string(), "Function is assumed to not return any resources");
    assert_eq!(ReturnKind::Void.to_string(), "Function returns no data");
}

#[test]
fn cardinality_displays_its_name_and_words_its_prose() {
    assert_eq!(format!("{}", InterfaceCardinality::ExactlyOne), "ExactlyOne");
    assert_eq!(InterfaceCardinality::Any.in_words(), "any number of");
}

#[test]
fn a_socket_of_values_converts_into_one_value_by_its_shape() {
    assert_eq!(Val::from(Socket::<Val, String>::ExactlyOne(Val::U32(1))), Val::U32(1));
    assert_eq!(Val::from(Socket::<Val, String>::AtMostOne(None)), Val::Option(None));
    let many = Socket::Any(HashMap::from([("a".to_owned(), Val::U32(1)), ("b".to_owned(), Val::U32(1))]));
    assert_eq!(Val::from(many), Val::List(vec![Val::U32(1), Val::U32(1)]));
}

#[test]
fn a_dispatch_error_converts_into_the_guests_dispatch_error_value() {
    let error = DispatchError::InvalidFunction {
        plugin: "p".to_owned(),
        interface: Arc::from("test:fixtures/number"),
        function: "nope".to_owned(),
    };
    let message = error.to_string();
    let Val::Variant(case, Some(failure)) = Val::from(error) else { panic!("a variant with its failure") };
    assert_eq!(case, "other");
    let Val::Record(fields) = *failure else { panic!("a failure record") };
    let field = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    assert_eq!(field("plugin"), Some(Val::String("p".to_owned())));
    assert_eq!(field("function"), Some(Val::String("nope".to_owned())));
    assert_eq!(field("message"), Some(Val::String(message)));
}

/// Generic over any plugin type with 0.1.0's bounds only: `PluginData`
/// implies `Send`, as it did.
fn load_any<P: PluginData<InterfaceId = String> + 'static>(tree: PluginTree<Interface, P>) -> usize {
    let engine = Engine::default();
    match tree.load(&engine, &Linker::new(&engine)) {
        Ok((head, errors)) => {
            assert!(errors.is_empty(), "{errors:?}");
            head.dispatch("test:fixtures/number", "value", true, &[]).len()
        }
        Err((error, _)) => panic!("{error}"),
    }
}

#[test]
fn a_tree_built_from_a_socket_map_loads_like_one_built_with_new() {
    let map = HashMap::from([(
        "number".to_owned(),
        (
            number_interface(InterfaceCardinality::Any),
            vec![
                Plugin::new("one", "number", &[], number(1, false)),
                Plugin::new("two", "number", &[], number(2, false)),
            ],
        ),
    )]);
    let tree = PluginTree::from_socket_map("number".to_owned(), map);
    assert_eq!(load_any(tree), 2);
}

#[test]
fn a_socket_map_without_its_root_is_a_load_error_not_a_panic() {
    let map: HashMap<String, (Interface, Vec<Plugin>)> =
        HashMap::from([("number".to_owned(), (number_interface(InterfaceCardinality::Any), Vec::new()))]);
    let tree = PluginTree::from_socket_map("missing".to_owned(), map);
    let engine = Engine::default();
    let Err((error, _)) = tree.load(&engine, &Linker::new(&engine)) else { panic!("no root, no head") };
    assert!(matches!(error, LoadError::MissingRootInterface { ref interface } if interface == "missing"), "{error}");
}
