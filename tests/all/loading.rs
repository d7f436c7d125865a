//! `PluginTree::load`: partial success, the failures that drop a plugin, and
//! a plugin reached twice instantiated once.

use wasm_link::{Engine, InterfaceCardinality, Linker, LoadError, PluginTree, ReturnKind, Socket, Val};

use crate::fixtures::{Func, Interface, Plugin, component, func};
use crate::plugins::{
    PLAIN, consumer, counter, counter_interface, forwarder, number, number_interface, sum_interface, top,
};
use crate::{Load, load};

fn try_load(
    root: &str,
    interfaces: Vec<Interface>,
    plugins: Vec<Plugin>,
) -> Result<(crate::Head, Vec<Load>), (Load, Vec<Load>)> {
    let (tree, errors) = PluginTree::new(root.to_owned(), interfaces, plugins);
    assert!(errors.is_empty(), "{errors:?}");
    let engine = Engine::default();
    tree.load(&engine, &Linker::new(&engine))
}

#[test]
fn a_plugin_with_bad_bytes_is_dropped_and_its_siblings_load() {
    let bad = Plugin::new("bad", "counter", &[], b"not wasm".to_vec());
    let (head, errors) = load(
        "counter",
        vec![counter_interface(InterfaceCardinality::Any)],
        vec![Plugin::new("good", "counter", &[], counter()), bad],
    );
    assert!(matches!(&errors[..], [LoadError::Component { plugin, .. }] if plugin == "bad"), "{errors:?}");
    let Socket::Any(results) = head.dispatch("test:fixtures/counter", "get", true, &[]) else { panic!() };
    assert_eq!(results.len(), 1);
    assert_eq!(results["good"].as_ref().unwrap(), &Val::U32(42));
}

#[test]
fn an_import_nobody_provides_fails_instantiation_naming_it() {
    let needy = component(
        r"package test:fixtures;
        interface missing { f: func(); }
        interface counter { get: func() -> u32; }
        world needy { import missing; export counter; }",
        "needy",
        r#"(module
            (import "test:fixtures/missing" "f" (func))
            (func (export "test:fixtures/counter#get") (result i32) i32.const 1))"#,
    );
    let interface = Interface::new("counter", InterfaceCardinality::Any, "test:fixtures/counter", vec![func("get")]);
    let (_, errors) = load("counter", vec![interface], vec![Plugin::new("needy", "counter", &[], needy)]);
    match &errors[..] {
        [LoadError::Instantiate { plugin, source }] => {
            assert_eq!(plugin, "needy");
            assert!(source.to_string().contains("test:fixtures/missing"), "{source}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_missing_plug_function_is_a_load_error() {
    let mut interface = counter_interface(InterfaceCardinality::Any);
    interface.functions.push(func("absent"));
    let (_, errors) = load("counter", vec![interface], vec![Plugin::new("c", "counter", &[], counter())]);
    assert!(
        matches!(&errors[..], [LoadError::MissingExport { plugin, export, .. }] if plugin == "c" && export == "absent"),
        "{errors:?}"
    );
}

#[test]
fn a_plugin_that_does_not_export_its_plug_is_a_load_error() {
    let interface = Interface::new("counter", InterfaceCardinality::Any, "test:fixtures/elsewhere", vec![func("get")]);
    let (_, errors) = load("counter", vec![interface], vec![Plugin::new("c", "counter", &[], counter())]);
    assert!(
        matches!(&errors[..], [LoadError::MissingExport { export, .. }] if export == "test:fixtures/elsewhere"),
        "{errors:?}"
    );
}

#[test]
fn a_result_where_the_interface_declares_none_is_a_signature_mismatch() {
    let mut interface = counter_interface(InterfaceCardinality::Any);
    interface.functions[0] = Func { name: "get".into(), return_kind: ReturnKind::Void, method: false };
    let (_, errors) = load("counter", vec![interface], vec![Plugin::new("c", "counter", &[], counter())]);
    match &errors[..] {
        [LoadError::SignatureMismatch { plugin, function, reason, .. }] => {
            assert_eq!((plugin.as_str(), function.as_str()), ("c", "get"));
            assert!(reason.contains("u32"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn when_the_root_cannot_be_served_load_fails_with_the_chain_of_causes() {
    let result = try_load(
        "sum",
        vec![sum_interface(), number_interface(InterfaceCardinality::ExactlyOne)],
        vec![
            Plugin::new("sum", "sum", &["number"], consumer(&PLAIN)),
            Plugin::new("broken", "number", &[], b"garbage".to_vec()),
        ],
    );
    let Err((primary, others)) = result else { panic!("the root cannot be served") };
    assert!(matches!(&primary, LoadError::CardinalityNotMet { interface, .. } if interface == "sum"), "{primary}");
    assert!(others.iter().any(|e| matches!(e, LoadError::Component { plugin, .. } if plugin == "broken")));
    let socket = others
        .iter()
        .find_map(|e| match e {
            LoadError::SocketUnavailable { plugin, interface, source } if plugin == "sum" => Some((interface, source)),
            _ => None,
        })
        .expect("the consumer fails because of its socket");
    assert_eq!(socket.0, "number");
    assert!(socket.1.to_string().contains("`broken`"), "{}", socket.1);
}

#[test]
fn a_socket_import_that_fits_no_shape_names_consumer_function_and_types() {
    let wrong = crate::plugins::ImportShape { wit: "string", defs: "", decode: "(i32.const 0)" };
    let (_, errors) = load(
        "counter",
        vec![
            counter_interface(InterfaceCardinality::Any),
            sum_interface(),
            number_interface(InterfaceCardinality::ExactlyOne),
        ],
        vec![
            Plugin::new("c", "counter", &[], counter()),
            Plugin::new("sum", "sum", &["number"], consumer(&wrong)),
            Plugin::new("n", "number", &[], number(1, false)),
        ],
    );
    // `sum` is not reachable from the root `counter`: nothing of it loads.
    assert!(errors.is_empty(), "{errors:?}");
    let result = try_load(
        "sum",
        vec![sum_interface(), number_interface(InterfaceCardinality::ExactlyOne)],
        vec![
            Plugin::new("sum", "sum", &["number"], consumer(&wrong)),
            Plugin::new("n", "number", &[], number(1, false)),
        ],
    );
    let Err((_, others)) = result else { panic!("the consumer cannot load") };
    match &others[..] {
        [LoadError::SocketSignature { plugin, interface, function, provider, reason }] => {
            assert_eq!((plugin.as_str(), interface.as_str(), provider.as_str()), ("sum", "number", "n"));
            assert_eq!(function, "value");
            assert!(reason.contains("string") && reason.contains("u32"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn importing_a_function_the_interface_does_not_declare_is_a_load_error() {
    let mut interface = number_interface(InterfaceCardinality::ExactlyOne);
    interface.functions.retain(|f| f.name != "fail");
    let result = try_load(
        "sum",
        vec![sum_interface(), interface],
        vec![
            Plugin::new("sum", "sum", &["number"], consumer(&PLAIN)),
            Plugin::new("n", "number", &[], number(1, false)),
        ],
    );
    let Err((_, others)) = result else { panic!("the consumer cannot load") };
    assert!(
        matches!(&others[..], [LoadError::SocketImport { plugin, reason, .. }] if plugin == "sum" && reason.contains("`fail`")),
        "{others:?}"
    );
}

#[test]
fn a_socket_the_users_linker_already_defines_is_a_link_error() {
    let engine = Engine::default();
    let mut linker = Linker::new(&engine);
    linker
        .instance("test:fixtures/number")
        .unwrap()
        .func_new("value", |_, _, _, results| {
            results[0] = Val::U32(0);
            Ok(())
        })
        .unwrap();
    let (tree, _) = PluginTree::new(
        "sum".to_owned(),
        vec![sum_interface(), number_interface(InterfaceCardinality::ExactlyOne)],
        vec![
            Plugin::new("sum", "sum", &["number"], consumer(&PLAIN)),
            Plugin::new("n", "number", &[], number(1, false)),
        ],
    );
    let Err((_, others)) = tree.load(&engine, &linker) else { panic!("the consumer cannot load") };
    assert!(
        matches!(&others[..], [LoadError::Link { plugin, interface, .. }] if plugin == "sum" && interface == "number"),
        "{others:?}"
    );
}

#[test]
fn a_plugin_reached_by_two_paths_is_instantiated_once() {
    let head = diamond(counter());
    // One shared counter: left sees 1, right sees 2.
    let Socket::ExactlyOne(result) = head.dispatch("test:fixtures/top", "total", true, &[]) else { panic!() };
    assert_eq!(result.unwrap(), Val::U32(12));
}

#[test]
fn a_missing_root_interface_fails_the_load() {
    let (tree, _) = PluginTree::<Interface, Plugin>::new(
        "nowhere".to_owned(),
        vec![counter_interface(InterfaceCardinality::Any)],
        vec![],
    );
    let engine = Engine::default();
    let Err((primary, _)) = tree.load(&engine, &Linker::new(&engine)) else { panic!("no root") };
    assert!(matches!(primary, LoadError::MissingRootInterface { interface } if interface == "nowhere"));
}

#[test]
fn an_optional_root_with_no_plugin_loads_and_dispatches_to_nobody() {
    let (head, errors) = load("counter", vec![counter_interface(InterfaceCardinality::AtMostOne)], vec![]);
    assert!(errors.is_empty());
    assert!(matches!(head.dispatch("test:fixtures/counter", "get", true, &[]), Socket::AtMostOne(None)));
}

#[test]
fn a_failure_deep_in_the_graph_reaches_the_host_with_the_whole_chain() {
    let head = diamond(crate::plugins::trapping_counter());
    let Socket::ExactlyOne(Err(error)) = head.dispatch("test:fixtures/top", "total", true, &[]) else {
        panic!("the call fails")
    };
    let mut chain = vec![error.plugin().clone()];
    let mut current = &error;
    while let wasm_link::DispatchError::Socket { source, .. } = current {
        chain.push(source.plugin().clone());
        current = source;
    }
    assert_eq!(chain, ["top", "left", "counter"]);
    assert!(matches!(error.root_cause(), wasm_link::DispatchError::Trap { function, .. } if &**function == "bump"));
}

#[test]
fn a_plugin_that_cannot_be_reinstantiated_is_unavailable_until_it_can() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let engine = Engine::default();
    let mut linker = Linker::new(&engine);
    let open = Arc::new(AtomicBool::new(true));
    let gate = open.clone();
    linker
        .instance("test:fixtures/gate")
        .unwrap()
        .func_new("open", move |_, _, _, results| {
            results[0] = Val::Bool(gate.load(Ordering::SeqCst));
            Ok(())
        })
        .unwrap();
    let interface =
        Interface::new("counter", InterfaceCardinality::ExactlyOne, "test:fixtures/counter", vec![func("bump")]);
    let (tree, _) = PluginTree::new(
        "counter".to_owned(),
        vec![interface],
        vec![Plugin::new("gated", "counter", &[], crate::plugins::gated_counter())],
    );
    let (head, errors) = tree.load(&engine, &linker).unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    open.store(false, Ordering::SeqCst);
    let bump = || match head.dispatch("test:fixtures/counter", "bump", true, &[]) {
        Socket::ExactlyOne(result) => result,
        other => panic!("{other:?}"),
    };
    assert!(matches!(bump(), Err(wasm_link::DispatchError::Trap { reinstantiated: false, .. })));
    assert!(matches!(bump(), Err(wasm_link::DispatchError::Unavailable { .. })));
    open.store(true, Ordering::SeqCst);
    // Instantiable again: the next call gets a fresh instance (whose `bump` traps).
    assert!(matches!(bump(), Err(wasm_link::DispatchError::Trap { reinstantiated: true, .. })));
}

/// `top` over `left` and `right`, both forwarding `bump` to one `counter`
/// plugin built from `counter`.
fn diamond(counter: Vec<u8>) -> crate::Head {
    let interface = |id: &str| {
        Interface::new(id, InterfaceCardinality::ExactlyOne, &format!("test:fixtures/{id}"), vec![func("bump")])
    };
    let top_interface =
        Interface::new("top", InterfaceCardinality::ExactlyOne, "test:fixtures/top", vec![func("total")]);
    crate::load_clean(
        "top",
        vec![top_interface, interface("left"), interface("right"), interface("counter")],
        vec![
            Plugin::new("top", "top", &["left", "right"], top()),
            Plugin::new("left", "left", &["counter"], forwarder("left")),
            Plugin::new("right", "right", &["counter"], forwarder("right")),
            Plugin::new("counter", "counter", &[], counter),
        ],
    )
}
