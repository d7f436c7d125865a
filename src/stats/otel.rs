//! The edge statistics and plugin health as OpenTelemetry metrics (feature
//! `otel`): observable instruments on the host's `Meter`, read from
//! [`PluginTreeHead::stats`] and [`PluginTreeHead::health`] when the
//! host's metric reader collects, so the call path does no more work.
//!
//! OpenTelemetry has no semantic convention for plugin calls; the names
//! follow its naming rules (a `wasm_link.` namespace, dotted, units in UCUM
//! such as `s` and `{call}`), and the latency its RPC conventions' unit
//! (seconds). The API has no observable histogram, and recording each call
//! into a synchronous one would put attribute sets and a second clock on
//! the call path; so the latency is exported as its sum and count (rates
//! give the mean) and as p50/p99 gauges. The full histogram, with buckets,
//! is in [`prometheus_text`](crate::prometheus_text).

use std::sync::{Arc, Weak};

use opentelemetry::KeyValue;
use opentelemetry::metrics::{AsyncInstrument, Meter};

use crate::{EdgeStats, PluginData, PluginHealth, PluginState, PluginTreeHead};

/// Registers the statistics of `head` as OpenTelemetry instruments on
/// `meter`. The instruments hold the head weakly, so they do not keep it
/// alive: once it is dropped they observe nothing (what the SDK then
/// exports of earlier observations is its own choice). They live as long
/// as the meter's provider.
///
/// Per edge, with attributes `wasm_link.consumer` (absent for the host),
/// `wasm_link.interface`, `wasm_link.function` and `wasm_link.provider`:
///
/// | instrument | kind | unit |
/// |---|---|---|
/// | `wasm_link.edge.calls` | counter | `{call}` |
/// | `wasm_link.edge.failures` | counter | `{call}` |
/// | `wasm_link.edge.call.duration.sum` | counter (of the timed calls) | `s` |
/// | `wasm_link.edge.call.duration.count` | counter: the timed calls, a sample of all | `{call}` |
/// | `wasm_link.edge.call.duration.p50`, `.p99` | gauge | `s` |
///
/// Per plugin, with attribute `wasm_link.plugin`: the counters
/// `wasm_link.plugin.calls`, `.failures`, `.reinstantiations` and
/// `.cancelled`, and the gauge `wasm_link.plugin.up` (1 while it serves
/// calls, 0 while quarantined or unavailable).
///
/// ```
/// # fn host(head: std::sync::Arc<wasm_link::PluginTreeHead<wasm_link::dir::DirPlugin>>) {
/// use wasm_link::opentelemetry::metrics::MeterProvider as _;
/// # let provider = wasm_link::opentelemetry::global::meter_provider();
/// // `provider`: the host's meter provider (an OTLP or Prometheus exporter's).
/// wasm_link::otel_metrics(&provider.meter("wasm-link"), &head);
/// # }
/// ```
pub fn otel_metrics<P: PluginData>(meter: &Meter, head: &Arc<PluginTreeHead<P>>) {
    let edges = |head: &Weak<PluginTreeHead<P>>| head.upgrade().map(|head| head.stats()).unwrap_or_default();
    let plugins = |head: &Weak<PluginTreeHead<P>>| head.upgrade().map(|head| head.health()).unwrap_or_default();

    let edge_counters: [Counter<EdgeStats<P::Id, P::InterfaceId>>; 3] = [
        ("wasm_link.edge.calls", "Calls made along an edge, refused ones included.", "{call}", |e| e.calls),
        ("wasm_link.edge.failures", "Calls along an edge that ended in an error.", "{call}", |e| e.failures),
        (
            "wasm_link.edge.call.duration.count",
            "The timed calls along an edge (a sample of its calls).",
            "{call}",
            |e| e.latency.samples(),
        ),
    ];
    counters(meter, head, edge_counters, PluginTreeHead::stats, edge_attributes);
    let weak = Arc::downgrade(head);
    meter
        .f64_observable_counter("wasm_link.edge.call.duration.sum")
        .with_description("The total duration of the timed calls along an edge.")
        .with_unit("s")
        .with_callback(move |observer| {
            for edge in edges(&weak) {
                observer.observe(edge.latency.sum().as_secs_f64(), &edge_attributes(&edge));
            }
        })
        .build();
    for (name, quantile) in [("wasm_link.edge.call.duration.p50", 0.5), ("wasm_link.edge.call.duration.p99", 0.99)] {
        let weak = Arc::downgrade(head);
        meter
            .f64_observable_gauge(name)
            .with_description("A quantile of the timed calls' durations along an edge.")
            .with_unit("s")
            .with_callback(move |observer| {
                for edge in edges(&weak) {
                    if let Some(at) = edge.latency.quantile(quantile) {
                        observer.observe(at.as_secs_f64(), &edge_attributes(&edge));
                    }
                }
            })
            .build();
    }

    let plugin_counters: [Counter<PluginHealth<P::Id>>; 4] = [
        ("wasm_link.plugin.calls", "Calls a plugin served or refused.", "{call}", |h| h.calls),
        ("wasm_link.plugin.failures", "Calls a plugin failed.", "{call}", |h| h.failures),
        ("wasm_link.plugin.reinstantiations", "Times a plugin was re-instantiated.", "{reinstantiation}", |h| {
            h.reinstantiations
        }),
        ("wasm_link.plugin.cancelled", "Calls abandoned inside a plugin by their caller.", "{call}", |h| h.cancelled),
    ];
    counters(meter, head, plugin_counters, PluginTreeHead::health, |plugin| {
        vec![KeyValue::new("wasm_link.plugin", plugin.plugin.to_string())]
    });
    let weak = Arc::downgrade(head);
    meter
        .u64_observable_gauge("wasm_link.plugin.up")
        .with_description("1 while a plugin serves calls, 0 while quarantined or unavailable.")
        .with_callback(move |observer| {
            for plugin in plugins(&weak) {
                let up = u64::from(matches!(plugin.state, PluginState::Running));
                observer.observe(up, &[KeyValue::new("wasm_link.plugin", plugin.plugin.to_string())]);
            }
        })
        .build();
}

/// A counter: name, description, unit, and its value for one item (an
/// edge, a plugin).
type Counter<T> = (&'static str, &'static str, &'static str, fn(&T) -> u64);

/// Registers `list`'s counters, each observing every item `read` gives of
/// the head, while it lives, with the item's `attributes`.
fn counters<P: PluginData, T: 'static, const N: usize>(
    meter: &Meter,
    head: &Arc<PluginTreeHead<P>>,
    list: [Counter<T>; N],
    read: fn(&PluginTreeHead<P>) -> Vec<T>,
    attributes: fn(&T) -> Vec<KeyValue>,
) {
    for (name, description, unit, value) in list {
        let head = Arc::downgrade(head);
        meter
            .u64_observable_counter(name)
            .with_description(description)
            .with_unit(unit)
            .with_callback(move |observer: &dyn AsyncInstrument<u64>| {
                for item in head.upgrade().map(|head| read(&head)).unwrap_or_default() {
                    observer.observe(value(&item), &attributes(&item));
                }
            })
            .build();
    }
}

/// An edge's attributes; the host's calls have no consumer.
fn edge_attributes<Id: std::fmt::Display, InterfaceId: std::fmt::Display>(
    edge: &EdgeStats<Id, InterfaceId>,
) -> Vec<KeyValue> {
    let mut attributes = Vec::with_capacity(4);
    if let Some(consumer) = &edge.consumer {
        attributes.push(KeyValue::new("wasm_link.consumer", consumer.to_string()));
    }
    attributes.push(KeyValue::new("wasm_link.interface", edge.interface.to_string()));
    attributes.push(KeyValue::new("wasm_link.function", edge.function.clone()));
    attributes.push(KeyValue::new("wasm_link.provider", edge.provider.to_string()));
    attributes
}
