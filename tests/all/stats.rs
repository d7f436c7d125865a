//! Per-edge statistics (`PluginTreeHead::stats`): every root function and
//! every socket function counts its calls, failures and latency per plugin
//! that served it, whichever entry point made the call.

use std::time::Duration;

use wasm_link::{
    DispatchError, EdgeStats, Engine, InterfaceCardinality, Linker, LoadOptions, PluginTree, Quarantine, Recovery,
    Socket, Val,
};

use crate::fixtures::Plugin;
use crate::plugins::{LIST, PLAIN, consumer, number, number_interface, sum_interface};
use crate::sockets::{call, total};
use crate::{Head, load_clean};

type Stats = EdgeStats<String, String>;

/// A `sum` consumer over `number` providers `(id, value)`.
fn tree(cardinality: InterfaceCardinality, shape: &crate::plugins::ImportShape, providers: &[(&str, u32)]) -> Head {
    let mut plugins = vec![Plugin::new("sum", "sum", &["number"], consumer(shape))];
    for &(id, value) in providers {
        plugins.push(Plugin::new(id, "number", &[], number(value, false)));
    }
    load_clean("sum", vec![sum_interface(), number_interface(cardinality)], plugins)
}

/// The edge from `consumer` (`None`: the host) through `function` to `provider`.
fn edge<'a>(stats: &'a [Stats], consumer: Option<&str>, function: &str, provider: &str) -> &'a Stats {
    stats
        .iter()
        .find(|s| s.consumer.as_deref() == consumer && s.function == function && s.provider == provider)
        .unwrap_or_else(|| panic!("no edge {consumer:?} -{function}-> {provider} in {stats:#?}"))
}

#[test]
fn every_edge_counts_its_calls_and_failures() {
    let head = tree(InterfaceCardinality::ExactlyOne, &PLAIN, &[("a", 7)]);
    for _ in 0..3 {
        assert_eq!(total(&head, "total"), 7);
    }
    assert!(call(&head, "failing").is_err());
    let stats = head.stats();
    let root_total = edge(&stats, None, "total", "sum");
    assert_eq!((root_total.calls, root_total.failures), (3, 0));
    assert_eq!(root_total.interface, "sum");
    let root_failing = edge(&stats, None, "failing", "sum");
    assert_eq!((root_failing.calls, root_failing.failures), (1, 1));
    let value = edge(&stats, Some("sum"), "value", "a");
    assert_eq!((value.calls, value.failures), (3, 0));
    assert_eq!(value.interface, "number");
    let fail = edge(&stats, Some("sum"), "fail", "a");
    assert_eq!((fail.calls, fail.failures), (1, 1));
    // Never called: no edge.
    assert!(stats.iter().all(|s| s.function != "signal"), "{stats:#?}");
    // Root functions first.
    assert!(stats[0].consumer.is_none() && stats[1].consumer.is_none(), "{stats:#?}");
    assert_eq!(stats.len(), 4, "{stats:#?}");
}

#[test]
fn latency_is_timed_and_a_callers_time_holds_its_callees() {
    let head = tree(InterfaceCardinality::ExactlyOne, &PLAIN, &[("a", 7)]);
    for _ in 0..10 {
        total(&head, "total");
    }
    let stats = head.stats();
    let root = &edge(&stats, None, "total", "sum").latency;
    let socket = &edge(&stats, Some("sum"), "value", "a").latency;
    // The first sixteen calls of an edge are all timed.
    assert_eq!((root.samples(), socket.samples()), (10, 10));
    for latency in [root, socket] {
        let (median, p99, max) = (latency.quantile(0.5), latency.quantile(0.99), latency.max());
        assert!(median.is_some_and(|m| m > Duration::ZERO), "{latency:?}");
        assert!(median <= p99 && p99 <= max, "{median:?} {p99:?} {max:?}");
    }
    // The root call includes the socket call it made.
    assert!(root.mean() >= socket.mean(), "{root:?} vs {socket:?}");
}

#[test]
fn each_plugin_behind_a_socket_is_its_own_edge() {
    let head = tree(InterfaceCardinality::Any, &LIST, &[("a", 1), ("b", 2)]);
    // The list's digits, in plugin-id order.
    assert_eq!(total(&head, "total"), 12);
    assert_eq!(total(&head, "total"), 12);
    let stats = head.stats();
    for provider in ["a", "b"] {
        let value = edge(&stats, Some("sum"), "value", provider);
        assert_eq!((value.calls, value.failures), (2, 0), "{provider}");
    }
}

#[test]
fn typed_and_async_calls_count_on_the_same_edge() {
    let head = tree(InterfaceCardinality::ExactlyOne, &PLAIN, &[("a", 7)]);
    let typed = head.typed::<(), (u32,)>("total").expect("`total` exists");
    assert!(matches!(typed.call(()), Socket::ExactlyOne(Ok((7,)))));
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
    let result = runtime.block_on(head.dispatch_async("test:fixtures/sum", "total", true, &[]));
    assert!(matches!(result, Socket::ExactlyOne(Ok(Val::U32(7)))), "{result:?}");
    total(&head, "total");
    let stats = head.stats();
    assert_eq!(edge(&stats, None, "total", "sum").calls, 3);
    assert_eq!(edge(&stats, Some("sum"), "value", "a").calls, 3);
}

#[test]
fn a_refused_call_counts_as_a_failed_call() {
    let recovery = Recovery {
        quarantine: Some(Quarantine { failures: 1, window: Duration::from_secs(10), cooldown: Duration::from_mins(1) }),
    };
    let plugins = vec![
        Plugin::new("sum", "sum", &["number"], consumer(&PLAIN)),
        Plugin::new("a", "number", &[], number(7, false)).recovery(recovery),
    ];
    let head = load_clean("sum", vec![sum_interface(), number_interface(InterfaceCardinality::ExactlyOne)], plugins);
    // `a` traps once and is quarantined: the next call is refused before it
    // enters `a`.
    assert!(call(&head, "failing").is_err());
    match call(&head, "total") {
        Err(error @ DispatchError::Socket { .. }) => {
            assert!(matches!(error.root_cause(), DispatchError::Quarantined { .. }), "{error:?}");
        }
        other => panic!("expected a refusal behind the socket, got {other:?}"),
    }
    let stats = head.stats();
    let value = edge(&stats, Some("sum"), "value", "a");
    assert_eq!((value.calls, value.failures), (1, 1));
    assert_eq!(value.latency.samples(), 0, "a refused call is not timed");
}

#[test]
fn a_tree_loaded_without_stats_counts_none() {
    let engine = Engine::default();
    let plugins = vec![
        Plugin::new("sum", "sum", &["number"], consumer(&PLAIN)),
        Plugin::new("a", "number", &[], number(7, false)),
    ];
    let (tree, _) = PluginTree::new(
        "sum".to_owned(),
        vec![sum_interface(), number_interface(InterfaceCardinality::ExactlyOne)],
        plugins,
    );
    let options = LoadOptions::new().stats(false);
    let (head, errors) = tree.load_with(&engine, &Linker::new(&engine), &options).expect("the root loads");
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(total(&head, "total"), 7);
    assert!(head.stats().is_empty());
    // Health counts all the same.
    assert_eq!(crate::health_of(&head, "a").calls, 1);
}
