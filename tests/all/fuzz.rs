//! Property tests: random plugin graphs, random bytes as components, random
//! arguments. Nothing panics, and every plugin is accounted for.

use proptest::prelude::*;
use wasm_link::{Engine, InterfaceCardinality, Linker, PluginTree, Socket, Val};

use crate::fixtures::{Interface, Plugin, func};
use crate::plugins::{counter, counter_interface};

fn cardinality() -> impl Strategy<Value = InterfaceCardinality> {
    prop_oneof![
        Just(InterfaceCardinality::ExactlyOne),
        Just(InterfaceCardinality::AtMostOne),
        Just(InterfaceCardinality::AtLeastOne),
        Just(InterfaceCardinality::Any),
    ]
}

/// Interfaces `i0..iN` and plugins with ids from a small range (so some
/// repeat), plugs and sockets among `i0..=iN` (`iN` is undefined).
/// A plugin as (id, plug, sockets), by number.
type PluginSpec = (u8, u8, Vec<u8>);

fn graph() -> impl Strategy<Value = (Vec<InterfaceCardinality>, Vec<PluginSpec>)> {
    (1usize..6).prop_flat_map(|n| {
        let n8 = u8::try_from(n).unwrap_or(u8::MAX);
        (
            proptest::collection::vec(cardinality(), n),
            proptest::collection::vec((0u8..12, 0..=n8, proptest::collection::vec(0..=n8, 0..3)), 0..10),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn building_and_loading_any_graph_never_panics_and_accounts_for_every_plugin(
        (cardinalities, plugins) in graph(),
        root in 0u8..6,
    ) {
        let interfaces: Vec<Interface> = cardinalities
            .iter()
            .enumerate()
            .map(|(i, &c)| Interface::new(&format!("i{i}"), c, &format!("test:graph/i{i}"), vec![func("f")]))
            .collect();
        let fixtures: Vec<Plugin> = plugins
            .iter()
            .map(|(id, plug, sockets)| {
                let sockets: Vec<String> = sockets.iter().map(|s| format!("i{s}")).collect();
                let sockets: Vec<&str> = sockets.iter().map(String::as_str).collect();
                Plugin::meta(&format!("p{id}"), &format!("i{plug}"), &sockets)
            })
            .collect();
        let ids: std::collections::BTreeSet<String> = plugins.iter().map(|(id, _, _)| format!("p{id}")).collect();
        let (tree, errors) = PluginTree::new(format!("i{root}"), interfaces, fixtures);
        let kept: Vec<String> = tree.plugin_ids().cloned().collect();
        for id in &ids {
            let named = errors.iter().any(|e| e.plugin() == Some(id));
            prop_assert!(kept.contains(id) || named, "plugin {} vanished: {:?}", id, errors);
        }
        let engine = Engine::default();
        // Fixture plugins without code fail to compile: the load must say so
        // for every plugin it reached, and never panic.
        match tree.load(&engine, &Linker::new(&engine)) {
            Ok((head, load_errors)) => {
                for loaded in head.loaded_plugin_ids() {
                    prop_assert!(!load_errors.iter().any(|e| e.plugin() == Some(loaded)));
                }
            }
            Err((_primary, _others)) => {}
        }
    }

    #[test]
    fn arbitrary_bytes_as_a_component_are_a_load_error(bytes in proptest::collection::vec(any::<u8>(), 0..256), header in any::<bool>()) {
        let mut wasm = if header { b"\0asm\x0d\0\x01\0".to_vec() } else { Vec::new() };
        wasm.extend(bytes);
        let (tree, _) = PluginTree::new(
            "counter".to_owned(),
            vec![counter_interface(InterfaceCardinality::Any)],
            vec![Plugin::new("random", "counter", &[], wasm), Plugin::new("good", "counter", &[], counter())],
        );
        let engine = Engine::default();
        let (head, errors) = tree.load(&engine, &Linker::new(&engine)).unwrap();
        prop_assert!(errors.iter().any(|e| e.plugin().map(String::as_str) == Some("random")));
        prop_assert_eq!(head.plugin_ids(), vec!["good"]);
    }
}

fn val() -> impl Strategy<Value = Val> {
    let leaf = prop_oneof![
        any::<u32>().prop_map(Val::U32),
        any::<i64>().prop_map(Val::S64),
        any::<bool>().prop_map(Val::Bool),
        ".{0,8}".prop_map(Val::String),
        any::<f64>().prop_map(Val::Float64),
        Just(Val::Option(None)),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Val::List),
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Val::Tuple),
            inner.clone().prop_map(|v| Val::Option(Some(Box::new(v)))),
            ("[a-z]{1,4}", inner).prop_map(|(name, v)| Val::Record(vec![(name, v)])),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_arguments_never_panic_and_the_plugin_keeps_serving(args in proptest::collection::vec(val(), 0..4)) {
        let head = crate::load_clean(
            "counter",
            vec![counter_interface(InterfaceCardinality::ExactlyOne)],
            vec![Plugin::new("c", "counter", &[], counter())],
        );
        let Socket::ExactlyOne(result) = head.dispatch("test:fixtures/counter", "add", true, &args) else {
            panic!("ExactlyOne")
        };
        match (&args[..], result) {
            ([Val::U32(a), Val::U32(b)], Ok(Val::U32(sum))) => prop_assert_eq!(sum, a.wrapping_add(*b)),
            (_, Ok(value)) => prop_assert!(false, "{:?} accepted, gave {:?}", args, value),
            (_, Err(_)) => {}
        }
        let Socket::ExactlyOne(after) = head.dispatch("test:fixtures/counter", "get", true, &[]) else { panic!() };
        prop_assert_eq!(after.unwrap(), Val::U32(42));
    }
}
