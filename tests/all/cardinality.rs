//! Cardinality is judged at load, over the plugins that loaded: a plugin that
//! fails to load does not count, and the build reports none of it.

use wasm_link::{Engine, InterfaceCardinality, Linker, LoadError, PluginTree, Socket, Val};

use crate::fixtures::{Interface, Plugin};
use crate::plugins::{PLAIN, consumer, counter, counter_interface, number, number_interface, sum_interface};
use crate::{Head, Load};

use InterfaceCardinality::{AtMostOne, ExactlyOne};

/// Builds, asserting the build found nothing wrong, and loads.
fn build_and_load(
    root: &str,
    interfaces: Vec<Interface>,
    plugins: Vec<Plugin>,
) -> Result<(Head, Vec<Load>), (Load, Vec<Load>)> {
    let (tree, build_errors) = PluginTree::new(root.to_owned(), interfaces, plugins);
    assert!(build_errors.is_empty(), "unexpected build errors: {build_errors:?}");
    let engine = Engine::default();
    tree.load(&engine, &Linker::new(&engine))
}

fn corrupt(id: &str, plug: &str) -> Plugin {
    Plugin::new(id, plug, &[], b"not a component".to_vec())
}

fn is_component_error_of(error: &Load, id: &str) -> bool {
    matches!(error, LoadError::Component { plugin, .. } if plugin == id)
}

#[test]
fn an_exactly_one_root_with_a_corrupt_second_plugin_is_served_by_the_other() {
    let result = build_and_load(
        "counter",
        vec![counter_interface(ExactlyOne)],
        vec![corrupt("bad", "counter"), Plugin::new("good", "counter", &[], counter())],
    );
    let Ok((head, errors)) = result else { panic!("the root is served: {:?}", result.err()) };
    assert!(matches!(&errors[..], [e] if is_component_error_of(e, "bad")), "{errors:?}");
    assert_eq!(head.plugin_ids(), ["good"]);
    let Socket::ExactlyOne(result) = head.dispatch("test:fixtures/counter", "get", true, &[]) else {
        panic!("ExactlyOne")
    };
    assert_eq!(result.unwrap(), Val::U32(42));
}

#[test]
fn an_at_most_one_root_with_a_corrupt_second_plugin_is_served_by_the_other() {
    let result = build_and_load(
        "counter",
        vec![counter_interface(AtMostOne)],
        vec![Plugin::new("good", "counter", &[], counter()), corrupt("bad", "counter")],
    );
    let Ok((head, errors)) = result else { panic!("the root is served: {:?}", result.err()) };
    assert!(matches!(&errors[..], [e] if is_component_error_of(e, "bad")), "{errors:?}");
    let Socket::AtMostOne(Some(result)) = head.dispatch("test:fixtures/counter", "get", true, &[]) else {
        panic!("one plugin behind the root")
    };
    assert_eq!(result.unwrap(), Val::U32(42));
}

#[test]
fn an_exactly_one_socket_with_a_corrupt_second_provider_serves_its_consumer() {
    let result = build_and_load(
        "sum",
        vec![sum_interface(), number_interface(ExactlyOne)],
        vec![
            Plugin::new("sum", "sum", &["number"], consumer(&PLAIN)),
            corrupt("bad", "number"),
            Plugin::new("n", "number", &[], number(7, false)),
        ],
    );
    let Ok((head, errors)) = result else { panic!("the root is served: {:?}", result.err()) };
    assert!(matches!(&errors[..], [e] if is_component_error_of(e, "bad")), "{errors:?}");
    assert_eq!(head.loaded_plugin_ids(), ["n", "sum"]);
    let Socket::ExactlyOne(total) = head.dispatch("test:fixtures/sum", "total", true, &[]) else {
        panic!("ExactlyOne")
    };
    assert_eq!(total.unwrap(), Val::U32(7));
}

#[test]
fn a_provider_that_fails_for_its_own_socket_does_not_count_as_one_too_many() {
    // `number` has two providers, but `n1` needs `missing`, which nobody
    // implements: `n1` fails, `n2` alone serves `sum`.
    let missing = Interface::new("missing", ExactlyOne, "test:fixtures/missing", vec![]);
    let result = build_and_load(
        "sum",
        vec![sum_interface(), number_interface(ExactlyOne), missing],
        vec![
            Plugin::new("sum", "sum", &["number"], consumer(&PLAIN)),
            Plugin::new("n1", "number", &["missing"], number(1, false)),
            Plugin::new("n2", "number", &[], number(2, false)),
        ],
    );
    let Ok((head, errors)) = result else { panic!("the root is served: {:?}", result.err()) };
    assert!(
        errors.iter().any(|e| matches!(e, LoadError::SocketUnavailable { plugin, interface, .. } if plugin == "n1" && interface == "missing")),
        "{errors:?}"
    );
    assert!(!errors.iter().any(|e| e.plugin().is_some_and(|p| p == "sum" || p == "n2")), "{errors:?}");
    let Socket::ExactlyOne(total) = head.dispatch("test:fixtures/sum", "total", true, &[]) else {
        panic!("ExactlyOne")
    };
    assert_eq!(total.unwrap(), Val::U32(2));
}

#[test]
fn an_empty_exactly_one_socket_builds_cleanly_and_fails_its_consumer_at_load() {
    let result = build_and_load(
        "sum",
        vec![sum_interface(), number_interface(ExactlyOne)],
        vec![Plugin::new("sum", "sum", &["number"], consumer(&PLAIN))],
    );
    let Err((primary, others)) = result else { panic!("the root cannot be served") };
    assert!(
        matches!(&primary, LoadError::CardinalityNotMet { interface, loaded, failed, .. } if interface == "sum" && loaded.is_empty() && failed == &["sum"]),
        "{primary}"
    );
    let source = others
        .iter()
        .find_map(|e| match e {
            LoadError::SocketUnavailable { plugin, interface, source } if plugin == "sum" && interface == "number" => {
                Some(source)
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("{others:?}"));
    assert!(
        matches!(&**source, LoadError::CardinalityNotMet { interface, cardinality: ExactlyOne, loaded, failed } if interface == "number" && loaded.is_empty() && failed.is_empty()),
        "{source}"
    );
    assert_eq!(source.to_string(), "interface `number` needs exactly one plugin(s) but none implements it");
}

#[test]
fn an_unknown_socket_builds_cleanly_and_fails_its_plugin_at_load_without_compiling_it() {
    // `lost` has corrupt bytes: a component error would mean it was compiled.
    let lost = Plugin::new("lost", "counter", &["ghost"], b"not a component".to_vec());
    let result = build_and_load(
        "counter",
        vec![counter_interface(InterfaceCardinality::Any)],
        vec![lost, Plugin::new("good", "counter", &[], counter())],
    );
    let Ok((head, errors)) = result else { panic!("the root is served: {:?}", result.err()) };
    assert!(
        matches!(&errors[..], [LoadError::UnknownSocket { plugin, interface }] if plugin == "lost" && interface == "ghost"),
        "{errors:?}"
    );
    assert_eq!(head.plugin_ids(), ["good"]);
}

#[test]
fn a_cycle_builds_cleanly_and_fails_its_plugin_at_load_without_compiling_it() {
    // `loop` sockets the interface it plugs: it depends on itself.
    let looping = Plugin::new("loop", "counter", &["counter"], b"not a component".to_vec());
    let result = build_and_load(
        "counter",
        vec![counter_interface(InterfaceCardinality::Any)],
        vec![Plugin::new("good", "counter", &[], counter()), looping],
    );
    let Ok((head, errors)) = result else { panic!("the root is served: {:?}", result.err()) };
    assert!(
        matches!(&errors[..], [LoadError::DependencyCycle { plugin, interface, cycle }] if plugin == "loop" && interface == "counter" && cycle == &["loop"]),
        "{errors:?}"
    );
    assert_eq!(errors[0].plugin().map(String::as_str), Some("loop"));
    assert_eq!(head.plugin_ids(), ["good"]);
}

#[test]
fn two_loadable_plugins_on_an_exactly_one_root_leave_it_unserved() {
    let result = build_and_load(
        "counter",
        vec![counter_interface(ExactlyOne)],
        vec![Plugin::new("a", "counter", &[], counter()), Plugin::new("b", "counter", &[], counter())],
    );
    let Err((primary, others)) = result else { panic!("two plugins cannot serve an ExactlyOne root") };
    assert!(
        matches!(&primary, LoadError::CardinalityNotMet { interface, cardinality: ExactlyOne, loaded, failed } if interface == "counter" && loaded == &["a", "b"] && failed.is_empty()),
        "{primary}"
    );
    assert_eq!(primary.to_string(), "interface `counter` needs exactly one plugin(s) but 2 loaded: `a`, `b`");
    assert!(others.is_empty(), "{others:?}");
}

#[test]
fn two_loadable_plugins_on_an_at_most_one_root_leave_it_unserved() {
    let result = build_and_load(
        "counter",
        vec![counter_interface(AtMostOne)],
        vec![Plugin::new("a", "counter", &[], counter()), Plugin::new("b", "counter", &[], counter())],
    );
    let Err((primary, _)) = result else { panic!("two plugins cannot serve an AtMostOne root") };
    assert!(
        matches!(&primary, LoadError::CardinalityNotMet { cardinality: AtMostOne, loaded, .. } if loaded.len() == 2),
        "{primary}"
    );
}

#[test]
fn two_loadable_providers_on_an_exactly_one_socket_fail_its_consumer() {
    let result = build_and_load(
        "sum",
        vec![sum_interface(), number_interface(ExactlyOne)],
        vec![
            Plugin::new("sum", "sum", &["number"], consumer(&PLAIN)),
            Plugin::new("n1", "number", &[], number(1, false)),
            Plugin::new("n2", "number", &[], number(2, false)),
        ],
    );
    let Err((primary, others)) = result else { panic!("the consumer cannot be linked") };
    assert!(matches!(&primary, LoadError::CardinalityNotMet { interface, .. } if interface == "sum"), "{primary}");
    assert!(
        others.iter().any(|e| matches!(e, LoadError::CardinalityNotMet { interface, loaded, .. } if interface == "number" && loaded == &["n1", "n2"])),
        "{others:?}"
    );
    assert!(
        others.iter().any(|e| matches!(e, LoadError::SocketUnavailable { plugin, interface, .. } if plugin == "sum" && interface == "number")),
        "{others:?}"
    );
}
