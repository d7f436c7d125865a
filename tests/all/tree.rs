//! `PluginTree::new`: every build error names what it concerns, and the rest
//! of the tree is kept.

use wasm_link::{InterfaceCardinality, PluginTree, PluginTreeError};

use crate::fixtures::{Interface, Plugin, func};

type Error = PluginTreeError<String, String>;

fn iface(id: &str, cardinality: InterfaceCardinality) -> Interface {
    Interface::new(id, cardinality, &format!("test:tree/{id}"), vec![func("f")])
}

fn build(root: &str, interfaces: Vec<Interface>, plugins: Vec<Plugin>) -> (Vec<String>, Vec<Error>) {
    let (tree, errors) = PluginTree::new(root.to_owned(), interfaces, plugins);
    (tree.plugin_ids().cloned().collect(), errors)
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
fn an_unknown_plug_or_socket_drops_the_plugin() {
    let (plugins, errors) = build(
        "root",
        vec![iface("root", Any)],
        vec![Plugin::meta("a", "ghost", &[]), Plugin::meta("b", "root", &["ghost"]), Plugin::meta("c", "root", &[])],
    );
    assert!(
        errors
            .iter()
            .any(|e| matches!(e, Error::UnknownPlug { plugin, interface } if plugin == "a" && interface == "ghost"))
    );
    assert!(
        errors
            .iter()
            .any(|e| matches!(e, Error::UnknownSocket { plugin, interface } if plugin == "b" && interface == "ghost"))
    );
    assert_eq!(plugins, ["c"]);
}

#[test]
fn a_plugin_socketing_its_own_plug_is_a_cycle() {
    let (plugins, errors) = build("root", vec![iface("root", Any)], vec![Plugin::meta("a", "root", &["root"])]);
    assert!(
        matches!(&errors[..], [Error::DependencyCycle { plugin, interface, cycle }] if plugin == "a" && interface == "root" && cycle == &["a"]),
        "{errors:?}"
    );
    assert!(plugins.is_empty());
}

#[test]
fn a_cycle_through_several_plugins_drops_every_plugin_on_it() {
    let (plugins, errors) = build(
        "root",
        vec![iface("root", Any), iface("x", Any), iface("y", Any)],
        vec![Plugin::meta("r", "root", &[]), Plugin::meta("px", "x", &["y"]), Plugin::meta("py", "y", &["x"])],
    );
    let cyclic: Vec<&str> = errors
        .iter()
        .filter_map(|e| match e {
            Error::DependencyCycle { plugin, cycle, .. } => {
                assert_eq!(cycle.len(), 2, "{e}");
                Some(plugin.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(cyclic, ["px", "py"]);
    assert_eq!(plugins, ["r"]);
}

#[test]
fn too_many_plugins_make_the_interface_unusable_and_its_consumers_fail() {
    let (plugins, errors) = build(
        "root",
        vec![iface("root", Any), iface("one", ExactlyOne)],
        vec![Plugin::meta("r", "root", &["one"]), Plugin::meta("o1", "one", &[]), Plugin::meta("o2", "one", &[])],
    );
    assert!(errors.iter().any(|e| matches!(e, Error::TooManyPlugins { interface, plugins, .. } if interface == "one" && plugins.len() == 2)), "{errors:?}");
    assert!(
        errors.iter().any(
            |e| matches!(e, Error::UnsatisfiedSocket { plugin, interface } if plugin == "r" && interface == "one")
        )
    );
    assert!(!plugins.contains(&"r".to_owned()));
}

#[test]
fn at_most_one_also_rejects_two_plugins() {
    let (_, errors) = build(
        "root",
        vec![iface("root", AtMostOne)],
        vec![Plugin::meta("a", "root", &[]), Plugin::meta("b", "root", &[])],
    );
    assert!(matches!(&errors[..], [Error::TooManyPlugins { cardinality: AtMostOne, .. }]), "{errors:?}");
}

#[test]
fn an_interface_that_needs_a_plugin_and_has_none_is_an_error() {
    let (_, errors) =
        build("root", vec![iface("root", Any), iface("dep", AtLeastOne)], vec![Plugin::meta("r", "root", &["dep"])]);
    assert!(errors.iter().any(|e| matches!(e, Error::NoPlugins { interface, .. } if interface == "dep")), "{errors:?}");
    assert!(errors.iter().any(|e| matches!(e, Error::UnsatisfiedSocket { plugin, .. } if plugin == "r")));
}

#[test]
fn build_errors_read_well() {
    let (_, errors) = build("root", vec![iface("root", Any)], vec![Plugin::meta("a", "root", &["root"])]);
    assert_eq!(errors[0].to_string(), "plugin `a` depends on itself through interface `root` (cycle: `a`)");
}

#[test]
fn an_implementer_dropped_for_its_own_socket_does_not_count_as_one_too_many() {
    // `one` has two implementers, but `o1` needs `missing`, which nobody
    // implements: once `o1` is gone, `one` has exactly one and `r` keeps it.
    let (plugins, errors) = build(
        "root",
        vec![iface("root", Any), iface("one", ExactlyOne), iface("missing", ExactlyOne)],
        vec![
            Plugin::meta("r", "root", &["one"]),
            Plugin::meta("o1", "one", &["missing"]),
            Plugin::meta("o2", "one", &[]),
        ],
    );
    assert!(errors.iter().all(|e| !matches!(e, Error::TooManyPlugins { .. })), "{errors:?}");
    assert_eq!(plugins, ["r", "o2"]);
}

#[test]
fn a_cycle_is_reported_as_a_real_path() {
    // a -> b, b -> {c, a}, c -> b
    let (_, errors) = build(
        "root",
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
            Error::DependencyCycle { plugin, cycle, .. } if plugin == "a" => Some(cycle.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(a, ["a", "b"]);
}
