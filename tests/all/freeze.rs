//! Freezing: groups of plugins joined by plain `ExactlyOne` edges loaded as
//! one composed component (`LoadOptions::freeze`). Every scenario runs both
//! ways, dynamic and frozen, and must give the same results; then what
//! freezing changes (blame, health, swaps) is pinned down.

use wasm_link::{Engine, InterfaceCardinality, Linker, LoadOptions, NotFrozen, PluginTree, Socket, Val};

use crate::fixtures::{Interface, Plugin};
use crate::plugins::{PLAIN, RESULT_DISPATCH_ERROR, consumer, number, number_interface, sum_interface};
use crate::{Head, Load};

/// Loads a tree built by `build`, frozen or not.
fn load(freeze: bool, root: &str, build: &dyn Fn() -> (Vec<Interface>, Vec<Plugin>)) -> (Head, Vec<Load>) {
    let engine = Engine::default();
    let (interfaces, plugins) = build();
    let (tree, build_errors) = PluginTree::new(root.to_owned(), interfaces, plugins);
    assert!(build_errors.is_empty(), "unexpected build errors: {build_errors:#?}");
    let linker = Linker::new(&engine);
    match tree.load_with(&engine, &linker, &LoadOptions::new().freeze(freeze)) {
        Ok(loaded) => loaded,
        Err((primary, others)) => panic!("root cannot be served: {primary}; others: {others:#?}"),
    }
}

/// One call of the root: its function and arguments.
type Call<'a> = (&'a str, Vec<Val>);

/// The differential check: the tree built by `build` loaded dynamically and
/// frozen gives the same result for each call, in turn (state included).
/// Returns the frozen head, and how many groups froze.
fn both_ways(root: &str, build: &dyn Fn() -> (Vec<Interface>, Vec<Plugin>), calls: &[Call<'_>]) -> (Head, usize) {
    let (dynamic, dynamic_errors) = load(false, root, build);
    let (frozen, frozen_errors) = load(true, root, build);
    assert_eq!(format!("{dynamic_errors:?}"), format!("{frozen_errors:?}"), "load errors differ");
    let instance = frozen_instance(build, root);
    for (function, args) in calls {
        let expected = dynamic.dispatch(&instance, function, true, args);
        let got = frozen.dispatch(&instance, function, true, args);
        assert_eq!(format!("{got:?}"), format!("{expected:?}"), "`{function}{args:?}` differs when frozen");
    }
    let groups = frozen.freeze_report().groups.len();
    (frozen, groups)
}

/// The root interface's instance name.
fn frozen_instance(build: &dyn Fn() -> (Vec<Interface>, Vec<Plugin>), root: &str) -> String {
    let (interfaces, _) = build();
    interfaces.into_iter().find(|i| i.id == root).map(|i| i.path).unwrap_or_default()
}

fn sum_over(shape: &'static crate::plugins::ImportShape) -> impl Fn() -> (Vec<Interface>, Vec<Plugin>) {
    move || {
        (
            vec![sum_interface(), number_interface(InterfaceCardinality::ExactlyOne)],
            vec![
                Plugin::new("sum", "sum", &["number"], consumer(shape)),
                Plugin::new("a", "number", &[], number(7, false)),
            ],
        )
    }
}

#[test]
fn a_plain_exactly_one_edge_freezes_and_answers_the_same() {
    let (head, groups) = both_ways("sum", &sum_over(&PLAIN), &[("total", vec![]), ("total", vec![])]);
    assert_eq!(groups, 1);
    let group = &head.freeze_report().groups[0];
    assert_eq!(group.plugin, "sum");
    assert_eq!(group.members, ["sum", "a"]);
    assert_eq!(group.edges, [("sum".to_owned(), "number".to_owned(), "a".to_owned())]);
    assert_eq!(head.loaded_plugin_ids(), ["a", "sum"]);
    let health = head.health();
    assert_eq!(health.len(), 1, "one store for the group: {health:#?}");
    assert_eq!(health[0].members, ["sum", "a"]);
    match head.dispatch("test:fixtures/sum", "total", true, &[]) {
        Socket::ExactlyOne(Ok(Val::U32(7))) => {}
        other => panic!("expected 7, got {other:?}"),
    }
}

#[test]
fn a_socket_imported_as_result_stays_dynamic_and_says_why() {
    let (head, groups) = both_ways("sum", &sum_over(&RESULT_DISPATCH_ERROR), &[("total", vec![])]);
    assert_eq!(groups, 0);
    let dynamic = &head.freeze_report().dynamic;
    assert_eq!(dynamic.len(), 1, "{dynamic:#?}");
    assert!(matches!(&dynamic[0].reason, NotFrozen::Compose { group, .. } if group == "sum"), "{dynamic:#?}");
}
