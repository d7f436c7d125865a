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

/// One sample of Prometheus text: its name, labels and value (as written;
/// checked to be a number).
pub(crate) type Sample = (String, std::collections::BTreeMap<String, String>, String);

/// Parses Prometheus text (exposition format 0.0.4) strictly: every sample
/// line `name{label="value",…} number` with the format's escapes, and its
/// family declared by a `# TYPE` line before it (a histogram's `_bucket`,
/// `_sum` and `_count` belong to the histogram). Panics naming the line.
pub(crate) fn parse_prometheus(text: &str) -> Vec<Sample> {
    let mut types = std::collections::HashMap::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or_else(|| panic!("bad TYPE line: {line}"));
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            types.insert(name.to_owned(), kind.to_owned());
            continue;
        }
        if line.starts_with("# HELP ") || line.is_empty() {
            continue;
        }
        let name_end = line.find(['{', ' ']).unwrap_or_else(|| panic!("no value: {line}"));
        let name = &line[..name_end];
        assert!(
            name.chars().enumerate().all(|(i, c)| c.is_ascii_alphabetic() || c == '_' || (i > 0 && c.is_ascii_digit())),
            "bad metric name in {line}"
        );
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| {
                name.strip_suffix(suffix).filter(|base| types.get(*base).is_some_and(|k| k == "histogram"))
            })
            .unwrap_or(name);
        assert!(types.contains_key(family), "sample before its TYPE: {line}");
        let mut labels = std::collections::BTreeMap::new();
        let mut chars = line[name_end..].chars().peekable();
        if chars.next_if_eq(&'{').is_some() {
            while chars.next_if_eq(&'}').is_none() {
                chars.next_if_eq(&',');
                let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=')).collect();
                assert!(chars.next() == Some('=') && chars.next() == Some('"'), "bad label: {line}");
                let mut value = String::new();
                loop {
                    match chars.next().unwrap_or_else(|| panic!("unterminated value: {line}")) {
                        '\\' => match chars.next() {
                            Some('\\') => value.push('\\'),
                            Some('"') => value.push('"'),
                            Some('n') => value.push('\n'),
                            other => panic!("bad escape {other:?}: {line}"),
                        },
                        '"' => break,
                        c => value.push(c),
                    }
                }
                labels.insert(key, value);
            }
        }
        let rest: String = chars.collect();
        let value = rest.trim();
        assert!(value.parse::<f64>().is_ok(), "bad value: {line}");
        samples.push((name.to_owned(), labels, value.to_owned()));
    }
    samples
}

/// The count of the sample `name` whose labels include `labels`.
pub(crate) fn sample(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> u64 {
    let value = &samples
        .iter()
        .find(|(n, l, _)| n == name && labels.iter().all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v)))
        .unwrap_or_else(|| panic!("no {name} {labels:?}"))
        .2;
    value.parse().unwrap_or_else(|_| panic!("{name} {labels:?} is not a count: {value}"))
}

#[test]
fn the_statistics_as_prometheus_text_parse_and_match_stats_and_health() {
    let head = tree(InterfaceCardinality::ExactlyOne, &PLAIN, &[("a", 7)]);
    for _ in 0..3 {
        assert_eq!(total(&head, "total"), 7);
    }
    assert!(call(&head, "failing").is_err());
    let (stats, health) = (head.stats(), head.health());
    let samples = parse_prometheus(&wasm_link::prometheus_text(&stats, &health));
    for edge in &stats {
        let consumer = edge.consumer.clone().unwrap_or_default();
        let labels = [
            ("consumer", consumer.as_str()),
            ("interface", edge.interface.as_str()),
            ("function", edge.function.as_str()),
            ("provider", edge.provider.as_str()),
        ];
        assert_eq!(sample(&samples, "wasm_link_edge_calls_total", &labels), edge.calls);
        assert_eq!(sample(&samples, "wasm_link_edge_failures_total", &labels), edge.failures);
        let count = sample(&samples, "wasm_link_edge_call_duration_seconds_count", &labels);
        assert_eq!(count, edge.latency.samples());
        // Cumulative buckets, ending at the count.
        let buckets: Vec<u64> = samples
            .iter()
            .filter(|(n, l, _)| {
                n == "wasm_link_edge_call_duration_seconds_bucket"
                    && labels.iter().all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, _, v)| v.parse().expect("a bucket is a count"))
            .collect();
        assert_eq!(buckets.len(), 9);
        assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
        assert_eq!(buckets.last().copied(), Some(count));
    }
    for plugin in &health {
        let labels = [("plugin", plugin.plugin.as_str())];
        assert_eq!(sample(&samples, "wasm_link_plugin_calls_total", &labels), plugin.calls);
        assert_eq!(sample(&samples, "wasm_link_plugin_failures_total", &labels), plugin.failures);
        assert_eq!(sample(&samples, "wasm_link_plugin_up", &labels), 1);
    }
    assert_eq!(sample(&samples, "wasm_link_edge_calls_total", &[("consumer", ""), ("function", "total")]), 3);
}
