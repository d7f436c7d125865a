//! The edge statistics and plugin health as Prometheus text (the exposition
//! format 0.0.4, which `OpenMetrics` scrapers also read): what a host serves
//! at `GET /metrics` (the HTTP server example does).
//!
//! Names follow Prometheus's conventions (`_total` counters, base units:
//! seconds) under one `wasm_link_` prefix. OpenTelemetry has no semantic
//! convention for plugin calls; its RPC conventions' duration histogram
//! (`rpc.server.call.duration`, seconds) is the model for the latency.

use std::fmt::{Display, Write as _};
use std::time::Duration;

use crate::{EdgeStats, PluginHealth, PluginState};

/// The `le` bounds of the latency histograms, in seconds: a decade each
/// from a microsecond (an in-process call) to ten seconds (a deadline).
const BOUNDS: [(f64, Duration); 8] = [
    (0.000_001, Duration::from_micros(1)),
    (0.000_01, Duration::from_micros(10)),
    (0.000_1, Duration::from_micros(100)),
    (0.001, Duration::from_millis(1)),
    (0.01, Duration::from_millis(10)),
    (0.1, Duration::from_millis(100)),
    (1.0, Duration::from_secs(1)),
    (10.0, Duration::from_secs(10)),
];

/// `edges` (from [`PluginTreeHead::stats`](crate::PluginTreeHead::stats))
/// and `plugins` (from [`PluginTreeHead::health`](crate::PluginTreeHead::health))
/// as Prometheus text:
///
/// - per edge, labelled `consumer` (empty for the host), `interface`,
///   `function` and `provider`: `wasm_link_edge_calls_total`,
///   `wasm_link_edge_failures_total`, and the histogram
///   `wasm_link_edge_call_duration_seconds` (of the calls timed: the
///   statistics time a sample of the calls, so its `_count` may be below
///   the calls);
/// - per plugin, labelled `plugin`: `wasm_link_plugin_calls_total`,
///   `wasm_link_plugin_failures_total`,
///   `wasm_link_plugin_reinstantiations_total`,
///   `wasm_link_plugin_cancelled_total`, and the gauge `wasm_link_plugin_up`
///   (1 while it serves calls, 0 while quarantined or unavailable).
///
/// Label values are escaped as the format asks, so an id holding quotes,
/// backslashes or line breaks cannot forge a line.
///
/// ```
/// # use wasm_link::PluginHealth;
/// let text = wasm_link::prometheus_text::<String, String>(&[], &[]);
/// assert!(text.contains("# TYPE wasm_link_edge_calls_total counter"));
/// ```
#[must_use]
pub fn prometheus_text<Id: Display, InterfaceId: Display>(
    edges: &[EdgeStats<Id, InterfaceId>],
    plugins: &[PluginHealth<Id>],
) -> String {
    let mut out = String::new();
    let edge_labels = |edge: &EdgeStats<Id, InterfaceId>| {
        let consumer = edge.consumer.as_ref().map(ToString::to_string).unwrap_or_default();
        format!(
            "consumer=\"{}\",interface=\"{}\",function=\"{}\",provider=\"{}\"",
            escape(&consumer),
            escape(&edge.interface.to_string()),
            escape(&edge.function),
            escape(&edge.provider.to_string())
        )
    };
    let labels: Vec<String> = edges.iter().map(edge_labels).collect();
    family(&mut out, "wasm_link_edge_calls_total", "counter", "Calls made along an edge, refused ones included.");
    for (edge, labels) in edges.iter().zip(&labels) {
        let _ = writeln!(out, "wasm_link_edge_calls_total{{{labels}}} {}", edge.calls);
    }
    family(&mut out, "wasm_link_edge_failures_total", "counter", "Calls along an edge that ended in an error.");
    for (edge, labels) in edges.iter().zip(&labels) {
        let _ = writeln!(out, "wasm_link_edge_failures_total{{{labels}}} {}", edge.failures);
    }
    let name = "wasm_link_edge_call_duration_seconds";
    family(&mut out, name, "histogram", "Duration of the timed calls along an edge.");
    for (edge, labels) in edges.iter().zip(&labels) {
        for (le, bound) in BOUNDS {
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {}", edge.latency.at_most(bound));
        }
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", edge.latency.samples());
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", edge.latency.sum().as_secs_f64());
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", edge.latency.samples());
    }
    let per_plugin: [PluginFamily<Id>; 5] = [
        ("wasm_link_plugin_calls_total", "counter", "Calls a plugin served or refused.", |h| h.calls),
        ("wasm_link_plugin_failures_total", "counter", "Calls a plugin failed.", |h| h.failures),
        ("wasm_link_plugin_reinstantiations_total", "counter", "Times a plugin was re-instantiated.", |h| {
            h.reinstantiations
        }),
        ("wasm_link_plugin_cancelled_total", "counter", "Calls abandoned inside a plugin by their caller.", |h| {
            h.cancelled
        }),
        ("wasm_link_plugin_up", "gauge", "1 while a plugin serves calls, 0 while quarantined or unavailable.", |h| {
            u64::from(matches!(h.state, PluginState::Running))
        }),
    ];
    for (name, kind, help, value) in per_plugin {
        family(&mut out, name, kind, help);
        for plugin in plugins {
            let _ = writeln!(out, "{name}{{plugin=\"{}\"}} {}", escape(&plugin.plugin.to_string()), value(plugin));
        }
    }
    out
}

/// A per-plugin family: name, type, help, and its value for one plugin.
type PluginFamily<Id> = (&'static str, &'static str, &'static str, fn(&PluginHealth<Id>) -> u64);

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A label value as the format writes it: `\`, `"` and line feeds escaped.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn label_values_cannot_break_out_of_their_quotes_or_line() {
        assert_eq!(escape("plain-id"), "plain-id");
        assert_eq!(escape("a\"} 1\nforged 2"), "a\\\"} 1\\nforged 2");
        assert_eq!(escape("back\\slash"), "back\\\\slash");
    }
}
