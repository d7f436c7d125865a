//! `PluginTree::new`: every build error names what it concerns, and the rest
//! of the tree is kept. Unknown sockets, cycles and cardinality are not build
//! errors: `load` reports them for the plugins it reaches.

use wasm_link::{Engine, InterfaceCardinality, Linker, LoadError, PluginTree, PluginTreeError};

use crate::Load;
use crate::fixtures::{Interface, Plugin, func};

type Error = PluginTreeError<String, String>;

fn iface(id: &str, cardinality: InterfaceCardinality) -> Interface {
    Interface::new(id, cardinality, &format!("test:tree/{id}"), vec![func("f")])
}

fn build(root: &str, interfaces: Vec<Interface>, plugins: Vec<Plugin>) -> (Vec<String>, Vec<Error>) {
    let (tree, errors) = PluginTree::new(root.to_owned(), interfaces, plugins);
    (tree.plugin_ids().cloned().collect(), errors)
}

/// Builds (asserting the build found nothing wrong) and loads a tree; every
/// load error, the primary one first when the root cannot be served.
fn build_and_load(root: &str, interfaces: Vec<Interface>, plugins: Vec<Plugin>) -> Vec<Load> {
    let (tree, build_errors) = PluginTree::new(root.to_owned(), interfaces, plugins);
    assert!(build_errors.is_empty(), "{build_errors:?}");
    let engine = Engine::default();
    match tree.load(&engine, &Linker::new(&engine)) {
        Ok((_, errors)) => errors,
        Err((primary, others)) => std::iter::once(primary).chain(others).collect(),
    }
}

use InterfaceCardinality::{Any, AtLeastOne, AtMostOne, ExactlyOne};

#[test]
fn a_valid_tree_builds_without_errors() {
    let (plugins, errors) = build(
        "root",
        vec![iface("root", ExactlyOne), iface("dep", Any)],
        vec![Plugin::meta("r", "root", &["dep"]), Plugin::meta("d1", "dep", &[]), Plugin::meta("d2", "dep", &[])],
    );
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(plugins, ["r", "d1", "d2"]);
}

#[test]
fn an_interface_accessor_error_is_reported_with_the_interface() {
    let (_, errors) = build("root", vec![iface("root", Any), iface("dep", Any).broken("cardinality")], vec![]);
    assert!(
        matches!(&errors[..], [Error::InterfaceMetadata { interface: Some(id), accessor: "cardinality", .. }] if id == "dep"),
        "{errors:?}"
    );
    let (_, errors) = build("root", vec![iface("root", Any), iface("dep", Any).broken("id")], vec![]);
    assert!(matches!(&errors[..], [Error::InterfaceMetadata { interface: None, position: 1, .. }]), "{errors:?}");
}

#[test]
fn a_plugin_accessor_error_drops_that_plugin_only() {
    let (plugins, errors) = build(
        "root",
        vec![iface("root", Any)],
        vec![Plugin::meta("a", "root", &[]).broken("sockets"), Plugin::meta("b", "root", &[])],
    );
    assert!(
        matches!(&errors[..], [Error::PluginMetadata { plugin: Some(id), accessor: "sockets", .. }] if id == "a"),
        "{errors:?}"
    );
    assert_eq!(plugins, ["b"]);
}

#[test]
fn an_invalid_package_name_is_an_error() {
    let bad = Interface::new("root", Any, "not-a-package", vec![]);
    let (_, errors) = build("root", vec![bad], vec![]);
    assert!(matches!(&errors[0], Error::InvalidPackageName { interface, .. } if interface == "root"), "{errors:?}");
}

#[test]
fn duplicate_ids_keep_the_first() {
    let (plugins, errors) = build(
        "root",
        vec![iface("root", Any), iface("root", ExactlyOne)],
        vec![Plugin::meta("a", "root", &[]), Plugin::meta("a", "root", &[])],
    );
    assert!(errors.iter().any(|e| matches!(e, Error::DuplicateInterface { interface } if interface == "root")));
    assert!(errors.iter().any(|e| matches!(e, Error::DuplicatePlugin { plugin } if plugin == "a")));
    assert_eq!(plugins, ["a"]);
}

#[test]
fn a_missing_root_interface_is_an_error() {
    let (_, errors) = build("nowhere", vec![iface("root", Any)], vec![]);
    assert!(matches!(&errors[..], [Error::MissingRootInterface { interface }] if interface == "nowhere"));
}

#[test]
fn an_unknown_plug_drops_the_plugin() {
    let (plugins, errors) =
        build("root", vec![iface("root", Any)], vec![Plugin::meta("a", "ghost", &[]), Plugin::meta("c", "root", &[])]);
    assert!(
        matches!(&errors[..], [Error::UnknownPlug { plugin, interface }] if plugin == "a" && interface == "ghost"),
        "{errors:?}"
    );
    assert_eq!(plugins, ["c"]);
}

#[test]
fn an_unknown_socket_is_no_build_error_and_fails_the_plugin_at_load() {
    let (plugins, errors) = build(
        "root",
        vec![iface("root", Any)],
        vec![Plugin::meta("b", "root", &["ghost"]), Plugin::meta("c", "root", &[])],
    );
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(plugins, ["b", "c"]);
    let errors = build_and_load("root", vec![iface("root", Any)], vec![Plugin::meta("b", "root", &["ghost"])]);
    assert!(
        matches!(&errors[..], [LoadError::UnknownSocket { plugin, interface }] if plugin == "b" && interface == "ghost"),
        "{errors:?}"
    );
}

#[test]
fn a_plugin_socketing_its_own_plug_is_a_cycle_reported_at_load() {
    let errors = build_and_load("root", vec![iface("root", Any)], vec![Plugin::meta("a", "root", &["root"])]);
    assert!(
        matches!(&errors[..], [LoadError::DependencyCycle { plugin, interface, cycle }] if plugin == "a" && interface == "root" && cycle == &["a"]),
        "{errors:?}"
    );
}

#[test]
fn a_cycle_through_several_plugins_keeps_them_in_the_tree_and_fails_them_at_load() {
    let interfaces = || vec![iface("root", Any), iface("x", ExactlyOne), iface("y", Any)];
    let plugins =
        || vec![Plugin::meta("r", "root", &["x"]), Plugin::meta("px", "x", &["y"]), Plugin::meta("py", "y", &["x"])];
    let (kept, errors) = build("root", interfaces(), plugins());
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(kept, ["r", "px", "py"]);
    let errors = build_and_load("root", interfaces(), plugins());
    // `px` is the cycle member the load reaches; it fails without compiling,
    // and `r` fails for want of it.
    assert!(
        errors.iter().any(|e| matches!(e, LoadError::DependencyCycle { plugin, interface, cycle } if plugin == "px" && interface == "y" && cycle == &["px", "py"])),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(
            |e| matches!(e, LoadError::SocketUnavailable { plugin, interface, .. } if plugin == "r" && interface == "x")
        ),
        "{errors:?}"
    );
    // Nothing was compiled (the fixtures have no code): no component error.
    assert!(!errors.iter().any(|e| matches!(e, LoadError::Component { .. })), "{errors:?}");
}

#[test]
fn cardinality_is_no_build_error() {
    // Too many for `ExactlyOne` and `AtMostOne`, none for `AtLeastOne`: all
    // judged at load, over the plugins that load.
    let (plugins, errors) = build(
        "root",
        vec![iface("root", AtMostOne), iface("one", ExactlyOne), iface("dep", AtLeastOne)],
        vec![
            Plugin::meta("a", "root", &["one", "dep"]),
            Plugin::meta("b", "root", &[]),
            Plugin::meta("o1", "one", &[]),
            Plugin::meta("o2", "one", &[]),
        ],
    );
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(plugins, ["a", "b", "o1", "o2"]);
}

#[test]
fn an_interface_that_needs_a_plugin_and_has_none_fails_its_consumer_at_load() {
    let errors = build_and_load(
        "root",
        vec![iface("root", Any), iface("dep", AtLeastOne)],
        vec![Plugin::meta("r", "root", &["dep"])],
    );
    let unmet = errors
        .iter()
        .find(|e| matches!(e, LoadError::CardinalityNotMet { interface, loaded, failed, .. } if interface == "dep" && loaded.is_empty() && failed.is_empty()))
        .unwrap_or_else(|| panic!("{errors:?}"));
    assert_eq!(unmet.to_string(), "interface `dep` needs at least one plugin(s) but none implements it");
    assert!(
        errors.iter().any(|e| matches!(e, LoadError::SocketUnavailable { plugin, interface, .. } if plugin == "r" && interface == "dep")),
        "{errors:?}"
    );
}

#[test]
fn build_and_load_errors_read_well() {
    let (_, errors) = build("root", vec![iface("root", Any)], vec![Plugin::meta("a", "ghost", &[])]);
    assert_eq!(errors[0].to_string(), "plugin `a` plugs into interface `ghost`, which is not defined");
    let errors = build_and_load("root", vec![iface("root", Any)], vec![Plugin::meta("a", "root", &["root"])]);
    assert_eq!(errors[0].to_string(), "plugin `a` depends on itself through interface `root` (cycle: `a`)");
    let errors = build_and_load("root", vec![iface("root", Any)], vec![Plugin::meta("a", "root", &["ghost"])]);
    assert_eq!(errors[0].to_string(), "plugin `a` has a socket for interface `ghost`, which is not defined");
}

#[test]
fn a_cycle_is_reported_as_a_real_path() {
    // a -> b, b -> {c, a}, c -> b
    let errors = build_and_load(
        "ia",
        vec![iface("root", Any), iface("ia", Any), iface("ib", Any), iface("ic", Any)],
        vec![
            Plugin::meta("a", "ia", &["ib"]),
            Plugin::meta("b", "ib", &["ic", "ia"]),
            Plugin::meta("c", "ic", &["ib"]),
        ],
    );
    let a = errors
        .iter()
        .find_map(|e| match e {
            LoadError::DependencyCycle { plugin, cycle, .. } if plugin == "a" => Some(cycle.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{errors:?}"));
    assert_eq!(a, ["a", "b"]);
}

#[test]
fn plugins_the_load_does_not_reach_are_not_judged() {
    // An unknown socket, a cycle and a cardinality violation, none reachable
    // from the root: nothing to report.
    let errors = build_and_load(
        "root",
        vec![iface("root", Any), iface("x", Any), iface("one", ExactlyOne)],
        vec![
            Plugin::meta("lost", "x", &["ghost"]),
            Plugin::meta("loop", "x", &["x"]),
            Plugin::meta("o1", "one", &[]),
            Plugin::meta("o2", "one", &[]),
        ],
    );
    assert!(errors.is_empty(), "{errors:?}");
}

/// Tree shapes a hostile directory could hand over, at sizes where anything
/// quadratic would show: thousands of plugins on one cycle, and thousands on
/// one interface that each socket it. Each is built and judged in well
/// under a second here (debug build); a plugin-to-plugin graph of the
/// second would hold millions of edges.
#[test]
fn a_ring_of_thousands_of_plugins_is_reported_as_cycles_in_linear_time() {
    const N: usize = 3000;
    let interfaces: Vec<Interface> =
        (0..N).map(|i| iface(&format!("i{i}"), ExactlyOne)).chain([iface("root", Any)]).collect();
    let plugins: Vec<Plugin> =
        (0..N).map(|i| Plugin::meta(&format!("p{i}"), &format!("i{i}"), &[&format!("i{}", (i + 1) % N)])).collect();
    let started = std::time::Instant::now();
    let errors = build_and_load("i0", interfaces, plugins);
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "took {:?}", started.elapsed());
    let cycle = errors
        .iter()
        .find_map(|e| match e {
            LoadError::DependencyCycle { plugin, cycle, .. } if plugin == "p0" => Some(cycle.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{errors:?}"));
    // A long cycle is shown by its start: the plugins that follow `p0`.
    assert_eq!(cycle[..3], ["p0", "p1", "p2"]);
    assert!(cycle.len() <= 64, "{} plugins listed", cycle.len());
}

#[test]
fn thousands_of_plugins_socketing_their_own_interface_are_each_a_cycle() {
    const N: usize = 5000;
    let plugins: Vec<Plugin> = (0..N).map(|i| Plugin::meta(&format!("p{i:04}"), "root", &["root"])).collect();
    let started = std::time::Instant::now();
    let errors = build_and_load("root", vec![iface("root", Any)], plugins);
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "took {:?}", started.elapsed());
    let cycles = errors.iter().filter(|e| matches!(e, LoadError::DependencyCycle { .. })).count();
    assert_eq!(cycles, N, "{:?}", &errors[..3]);
}
