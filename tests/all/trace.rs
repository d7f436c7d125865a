//! Traces (feature `otel`): spans exported to memory by
//! `tracing-opentelemetry`. A call is one trace whose spans nest as the
//! calls nested: the host's span, the root plugin's call, each socket hop;
//! a remote call's server spans join the caller's trace over NATS.
//! (`cargo test --features otel --test all trace`; CI runs it.)

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::{SpanId, Status, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing_subscriber::layer::SubscriberExt as _;
use wasm_link::{InterfaceCardinality, Limits, Linker, PluginTree, Remote, Val};

use crate::fixtures::Plugin;
use crate::nats_server::NatsServer;
use crate::plugins::{PLAIN, consumer, number, number_interface, sum_interface};

/// A subscriber exporting to memory, and the exporter to read.
fn exporting() -> (tracing::Dispatch, InMemorySpanExporter, SdkTracerProvider) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("wasm-link-tests"));
    (tracing::Dispatch::new(tracing_subscriber::registry().with(layer)), exporter, provider)
}

/// A span's string attribute.
fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| kv.value.to_string())
}

/// The calls into plugins among `spans`, by plugin id.
fn calls(spans: &[SpanData]) -> HashMap<String, &SpanData> {
    spans
        .iter()
        .filter(|span| attribute(span, "function").is_some() && attribute(span, "plugin").is_some())
        .map(|span| (attribute(span, "plugin").unwrap_or_default(), span))
        .collect()
}

/// `sum` over one `number` plugin, `a`, worth 7.
fn sum_over_a() -> crate::Head {
    crate::load_clean(
        "sum",
        vec![sum_interface(), number_interface(InterfaceCardinality::ExactlyOne)],
        vec![
            Plugin::new("sum", "sum", &["number"], consumer(&PLAIN)),
            Plugin::new("a", "number", &[], number(7, false)),
        ],
    )
}

fn span_named<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    spans.iter().find(|span| span.name == name).unwrap_or_else(|| panic!("no span `{name}` in {spans:#?}"))
}

#[test]
fn a_call_is_one_trace_whose_spans_nest_as_the_calls_did() {
    let (dispatch, exporter, provider) = exporting();
    let head = sum_over_a();
    tracing::dispatcher::with_default(&dispatch, || {
        let request = tracing::info_span!("request");
        let _entered = request.enter();
        assert_eq!(crate::sockets::total(&head, "total"), 7);
    });
    let _ = provider.force_flush();
    let spans = exporter.get_finished_spans().expect("spans");
    let request = span_named(&spans, "request");
    let by_plugin = calls(&spans);
    let (sum, a) = (by_plugin["sum"], by_plugin["a"]);
    // Host → root plugin → the plugin behind its socket, one trace.
    assert_eq!(sum.parent_span_id, request.span_context.span_id());
    assert_eq!(a.parent_span_id, sum.span_context.span_id());
    for span in [sum, a] {
        assert_eq!(span.span_context.trace_id(), request.span_context.trace_id());
        assert_eq!(attribute(span, "outcome").as_deref(), Some("ok"), "{span:#?}");
    }
    // Named after the call: the interface's instance name and the function.
    assert!(sum.name.ends_with("/sum#total"), "{}", sum.name);
    assert!(attribute(a, "interface").is_some_and(|i| i.ends_with("/number")), "{a:#?}");
    assert_eq!(attribute(a, "function").as_deref(), Some("value"));
    assert_eq!(attribute(a, "depth").as_deref(), Some("2"));
    assert!(attribute(a, "deadline_ms").is_some());
}

#[test]
fn a_failing_plugins_span_carries_the_error() {
    let (dispatch, exporter, provider) = exporting();
    let head = sum_over_a();
    tracing::dispatcher::with_default(&dispatch, || {
        assert!(crate::sockets::call(&head, "failing").is_err());
    });
    let _ = provider.force_flush();
    let spans = exporter.get_finished_spans().expect("spans");
    let by_plugin = calls(&spans);
    let failed = by_plugin["a"];
    assert_eq!(attribute(failed, "outcome").as_deref(), Some("error"));
    assert!(attribute(failed, "error").is_some_and(|e| e.contains('a')), "{failed:#?}");
    assert!(matches!(failed.status, Status::Error { .. }), "{:?}", failed.status);
    // The root span has no parent here: the host made the call outside any span.
    assert_eq!(by_plugin["sum"].parent_span_id, SpanId::INVALID);
}

#[test]
fn the_demo_run_is_one_trace_across_all_its_plugins() {
    use wasm_link::dir::{DirOptions, PluginDir};
    let (dispatch, exporter, provider) = exporting();
    let dir = PluginDir::open(wasm_link_guests::DEMO_DIR, &DirOptions::default()).expect("the demo opens");
    let engine = wasm_link::default_engine().expect("an engine");
    let linker = PluginDir::linker(&engine).expect("a linker");
    let (tree, _) = dir.into_tree();
    let (head, errors) = tree.load(&engine, &linker).expect("the demo loads");
    assert!(errors.is_empty(), "{errors:?}");
    tracing::dispatcher::with_default(&dispatch, || {
        let source = Val::String("# Title\n\nsome   text. more text here".into());
        let _run = tracing::info_span!("demo").entered();
        match head.dispatch(head.interface_path(), "run", true, &[source]) {
            wasm_link::Socket::ExactlyOne(result) => assert!(result.is_ok(), "{result:?}"),
            other => panic!("{other:?}"),
        }
    });
    let _ = provider.force_flush();
    // Every plugin the run crossed (those of the demo not on its path are not).
    let plugins: Vec<String> =
        head.health().into_iter().filter(|health| health.calls > 0).map(|health| health.plugin).collect();
    assert!(plugins.len() >= 5, "{plugins:?}");
    let spans = exporter.get_finished_spans().expect("spans");
    let demo = span_named(&spans, "demo");
    let by_plugin = calls(&spans);
    for plugin in &plugins {
        let span = by_plugin.get(plugin.as_str()).unwrap_or_else(|| panic!("no span of `{plugin}`"));
        assert_eq!(span.span_context.trace_id(), demo.span_context.trace_id(), "{plugin}");
    }
    // Every call span's parent is a span of the same run.
    let ids: Vec<SpanId> = spans.iter().map(|span| span.span_context.span_id()).collect();
    for span in by_plugin.values() {
        assert!(ids.contains(&span.parent_span_id), "{} has a parent outside the run", span.name);
    }
}

/// A runtime whose threads record into `dispatch`: a serving host's.
fn recording_runtime(dispatch: &tracing::Dispatch) -> tokio::runtime::Runtime {
    let dispatch = dispatch.clone();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(move || std::mem::forget(tracing::dispatcher::set_default(&dispatch)))
        .build()
        .expect("a runtime")
}

/// Serves `head` on `nats`'s lattice from `runtime`, once it is subscribed.
fn serve_on<P: wasm_link::PluginData>(
    runtime: &tokio::runtime::Runtime,
    head: Arc<wasm_link::PluginTreeHead<P>>,
    nats: &NatsServer,
) {
    let client = runtime.block_on(wasm_link::remote::async_nats::connect(nats.url())).expect("connects");
    let (ready, ready_rx) = std::sync::mpsc::channel();
    runtime.spawn(wasm_link::remote::serve_nats(head, client, "", move |_| {
        let _ = ready.send(());
    }));
    ready_rx.recv_timeout(Duration::from_secs(10)).expect("the server subscribes");
}

#[test]
fn a_remote_calls_server_spans_join_the_callers_trace() {
    let Some(nats) = NatsServer::start("traces over NATS") else { return };
    let (dispatch, exporter, provider) = exporting();
    // The server: its runtime's threads record into the same exporter.
    let runtime = recording_runtime(&dispatch);
    let engine = wasm_link::default_engine().expect("an engine");
    let head = runtime.block_on(async {
        let (tree, errors) = PluginTree::new(
            "counter".to_owned(),
            vec![crate::lattice::counter_interface()],
            vec![Plugin::new("served", "counter", &[], crate::lattice::counter())],
        );
        assert!(errors.is_empty(), "{errors:?}");
        let (head, errors) = tree.load_async(&engine, &Linker::new(&engine)).await.expect("the tree loads");
        assert!(errors.is_empty(), "{errors:?}");
        Arc::new(head)
    });
    serve_on(&runtime, head, &nats);
    let far = crate::lattice::client(Remote::new([nats.url()]), Limits::default());
    tracing::dispatcher::with_default(&dispatch, || {
        let _request = tracing::info_span!("request").entered();
        assert_eq!(crate::lattice::call(&far, "count", &[]).expect("served"), Val::U32(0));
    });
    let _ = provider.force_flush();
    let spans = exporter.get_finished_spans().expect("spans");
    let request = span_named(&spans, "request");
    let by_plugin = calls(&spans);
    let (proxy, served) = (by_plugin["far"], by_plugin["served"]);
    let serve = span_named(&spans, "wasm_link.serve");
    // One trace: the client's proxy call → the server's span → its plugin.
    for span in [proxy, serve, served] {
        assert_eq!(span.span_context.trace_id(), request.span_context.trace_id(), "{}", span.name);
    }
    assert_eq!(serve.parent_span_id, proxy.span_context.span_id());
    assert_eq!(served.parent_span_id, serve.span_context.span_id());
    assert_eq!(attribute(serve, "caller").as_deref(), Some("far"));
    runtime.shutdown_timeout(Duration::from_secs(1));
}

#[test]
fn each_swap_is_a_span_with_its_plugin_and_outcome() {
    let (dispatch, exporter, provider) = exporting();
    let head = sum_over_a();
    tracing::dispatcher::with_default(&dispatch, || {
        let _request = tracing::info_span!("request").entered();
        head.replace_plugin(Plugin::new("a", "number", &[], number(9, false))).expect("replaced");
        assert_eq!(crate::sockets::total(&head, "total"), 9);
        // `a` is loaded: adding it again is refused, and its span says why.
        assert!(head.add_plugin(Plugin::new("a", "number", &[], number(1, false))).is_err());
    });
    let _ = provider.force_flush();
    let spans = exporter.get_finished_spans().expect("spans");
    let request = span_named(&spans, "request");
    let replace = span_named(&spans, "swap: replace");
    let add = span_named(&spans, "swap: add");
    for span in [replace, add] {
        assert_eq!(span.parent_span_id, request.span_context.span_id(), "{}", span.name);
        assert_eq!(attribute(span, "plugin").as_deref(), Some("a"), "{span:#?}");
    }
    assert_eq!(attribute(replace, "outcome").as_deref(), Some("ok"));
    assert_eq!(attribute(add, "outcome").as_deref(), Some("error"));
    assert!(attribute(add, "error").is_some_and(|e| e.contains("already")), "{add:#?}");
    assert!(matches!(add.status, Status::Error { .. }), "{:?}", add.status);
}

/// One metric's data point: name, sorted attributes, value.
type Point = (String, Vec<(String, String)>, f64);

/// The data points of the last export, every value as `f64`.
#[allow(clippy::cast_precision_loss, reason = "a test's counts are small")]
fn collected(exporter: &opentelemetry_sdk::metrics::InMemoryMetricExporter) -> Vec<Point> {
    use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
    let mut points = Vec::new();
    let attributes = |kvs: &mut dyn Iterator<Item = &opentelemetry::KeyValue>| {
        let mut kvs: Vec<(String, String)> = kvs.map(|kv| (kv.key.to_string(), kv.value.to_string())).collect();
        kvs.sort();
        kvs
    };
    // The last export holds the latest values of every instrument.
    let exports = exporter.get_finished_metrics().expect("metrics");
    let last = exports.last().expect("one export");
    for metric in last.scope_metrics().flat_map(opentelemetry_sdk::metrics::data::ScopeMetrics::metrics) {
        let name = metric.name().to_owned();
        match metric.data() {
            AggregatedMetrics::U64(MetricData::Sum(sum)) => {
                for p in sum.data_points() {
                    points.push((name.clone(), attributes(&mut p.attributes()), p.value() as f64));
                }
            }
            AggregatedMetrics::U64(MetricData::Gauge(gauge)) => {
                for p in gauge.data_points() {
                    points.push((name.clone(), attributes(&mut p.attributes()), p.value() as f64));
                }
            }
            AggregatedMetrics::F64(MetricData::Sum(sum)) => {
                for p in sum.data_points() {
                    points.push((name.clone(), attributes(&mut p.attributes()), p.value()));
                }
            }
            AggregatedMetrics::F64(MetricData::Gauge(gauge)) => {
                for p in gauge.data_points() {
                    points.push((name.clone(), attributes(&mut p.attributes()), p.value()));
                }
            }
            other => panic!("{name}: unexpected {other:?}"),
        }
    }
    points
}

#[test]
#[allow(clippy::cast_precision_loss, clippy::float_cmp, reason = "a test's counts are small, exact in f64")]
fn the_statistics_as_opentelemetry_metrics_match_stats_and_health() {
    use opentelemetry::metrics::MeterProvider as _;
    use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder().with_reader(PeriodicReader::builder(exporter.clone()).build()).build();
    let head = Arc::new(sum_over_a());
    wasm_link::otel_metrics(&provider.meter("wasm-link-tests"), &head);
    for _ in 0..3 {
        assert_eq!(crate::sockets::total(&head, "total"), 7);
    }
    assert!(crate::sockets::call(&head, "failing").is_err());
    provider.force_flush().expect("collected");
    let points = collected(&exporter);
    let value = |name: &str, attributes: &[(&str, &str)]| {
        let mut wanted: Vec<(String, String)> =
            attributes.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        wanted.sort();
        let found: Vec<f64> =
            points.iter().filter(|(n, a, _)| n == name && *a == wanted).map(|(_, _, value)| *value).collect();
        assert_eq!(found.len(), 1, "{name} {wanted:?} in {points:#?}");
        found[0]
    };
    // Every edge's counters equal `stats()`, the host's edges without a consumer.
    let stats = head.stats();
    assert!(stats.len() >= 3, "{stats:?}");
    for edge in &stats {
        let mut attributes = vec![
            ("wasm_link.interface", edge.interface.as_str()),
            ("wasm_link.function", edge.function.as_str()),
            ("wasm_link.provider", edge.provider.as_str()),
        ];
        if let Some(consumer) = &edge.consumer {
            attributes.push(("wasm_link.consumer", consumer.as_str()));
        }
        assert_eq!(value("wasm_link.edge.calls", &attributes), edge.calls as f64, "{edge:?}");
        assert_eq!(value("wasm_link.edge.failures", &attributes), edge.failures as f64, "{edge:?}");
        assert_eq!(value("wasm_link.edge.call.duration.count", &attributes), edge.latency.samples() as f64);
        let sum = value("wasm_link.edge.call.duration.sum", &attributes);
        assert!((sum - edge.latency.sum().as_secs_f64()).abs() < 1e-9, "{sum} {edge:?}");
        if let Some(p99) = edge.latency.quantile(0.99) {
            assert!((value("wasm_link.edge.call.duration.p99", &attributes) - p99.as_secs_f64()).abs() < 1e-9);
        }
    }
    let total = stats.iter().find(|e| e.consumer.is_none() && e.function == "total").expect("the root edge");
    assert_eq!(total.calls, 3);
    let failing =
        stats.iter().find(|e| e.consumer.as_deref() == Some("sum") && e.function == "fail").expect("a's edge");
    assert_eq!(failing.failures, 1);
    // Every plugin's counters equal `health()`.
    for health in head.health() {
        let plugin = [("wasm_link.plugin", health.plugin.as_str())];
        assert_eq!(value("wasm_link.plugin.calls", &plugin), health.calls as f64);
        assert_eq!(value("wasm_link.plugin.failures", &plugin), health.failures as f64);
        assert_eq!(value("wasm_link.plugin.reinstantiations", &plugin), health.reinstantiations as f64);
        assert_eq!(value("wasm_link.plugin.cancelled", &plugin), health.cancelled as f64);
        assert_eq!(value("wasm_link.plugin.up", &plugin), 1.0);
    }
    // The instruments hold the head weakly: they do not keep it alive.
    let weak = Arc::downgrade(&head);
    drop(head);
    assert!(weak.upgrade().is_none(), "the meter keeps the head alive");
    provider.force_flush().expect("collected after the head is gone");
}

#[test]
fn the_demo_served_by_a_remote_host_is_one_trace_across_both_hosts() {
    use wasm_link::dir::{DirOptions, PluginDir};
    let Some(nats) = NatsServer::start("the demo's trace over NATS") else { return };
    let (dispatch, exporter, provider) = exporting();
    // The serving host: the whole demo, its runtime's threads recording
    // into the same exporter (as a second process's collector would).
    let runtime = recording_runtime(&dispatch);
    let engine = wasm_link::default_engine().expect("an engine");
    let served = runtime.block_on(async {
        let dir = PluginDir::open(wasm_link_guests::DEMO_DIR, &DirOptions { cache: Some(crate::polyglot::cache()) })
            .expect("the demo opens");
        let (tree, _) = dir.into_tree();
        let linker = PluginDir::linker_async(&engine).expect("a linker");
        let (head, errors) = tree.load_async(&engine, &linker).await.expect("the demo loads");
        assert!(errors.is_empty(), "{errors:?}");
        Arc::new(head)
    });
    serve_on(&runtime, served.clone(), &nats);

    // The calling host: `demo-lattice/`, its `app` a remote plugin on the lattice.
    let dir = tempfile::tempdir().expect("a directory");
    wasm_link_guests::copy_dir(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("demo-lattice"), dir.path());
    let manifest = dir.path().join("plugins/far-app/plugin.toml");
    let text = std::fs::read_to_string(&manifest).expect("the manifest");
    std::fs::write(&manifest, text.replace("nats://127.0.0.1:4222", &nats.url())).expect("written");
    let far = crate::polyglot::load_opened(PluginDir::open(dir.path(), &DirOptions::default()).expect("opens"));
    tracing::dispatcher::with_default(&dispatch, || {
        let _run = tracing::info_span!("demo").entered();
        let source = Val::String("# Title\n\nsome   text. more text here".into());
        match far.dispatch(far.interface_path(), "run", true, &[source]) {
            wasm_link::Socket::ExactlyOne(result) => assert!(result.is_ok(), "{result:?}"),
            other => panic!("{other:?}"),
        }
    });
    let _ = provider.force_flush();
    let spans = exporter.get_finished_spans().expect("spans");
    let demo = span_named(&spans, "demo");
    let by_plugin = calls(&spans);
    // One trace: the caller's proxy → the server's serve span → the demo's
    // root plugin, and every plugin the served run crossed.
    let proxy = by_plugin["far-app"];
    let serve = span_named(&spans, "wasm_link.serve");
    assert_eq!(proxy.parent_span_id, demo.span_context.span_id());
    assert_eq!(serve.parent_span_id, proxy.span_context.span_id());
    assert_eq!(by_plugin["pipeline"].parent_span_id, serve.span_context.span_id());
    let crossed: Vec<String> =
        served.health().into_iter().filter(|health| health.calls > 0).map(|health| health.plugin).collect();
    assert!(crossed.len() >= 5, "{crossed:?}");
    for plugin in crossed.iter().map(String::as_str).chain(["far-app"]) {
        let span = by_plugin.get(plugin).unwrap_or_else(|| panic!("no span of `{plugin}`"));
        assert_eq!(span.span_context.trace_id(), demo.span_context.trace_id(), "{plugin}");
    }
    runtime.shutdown_timeout(Duration::from_secs(1));
}

#[test]
fn on_an_engine_that_consumes_fuel_a_calls_span_gives_its_fuel_limit_and_use() {
    let (dispatch, exporter, provider) = exporting();
    let mut config = wasm_link::engine_config();
    config.consume_fuel(true);
    let engine = wasmtime::Engine::new(&config).expect("an engine");
    let limits = Limits { fuel: Some(1_000_000), ..Limits::default() };
    let (head, errors) = crate::load_on(
        &engine,
        "sum",
        vec![sum_interface(), number_interface(InterfaceCardinality::ExactlyOne)],
        vec![
            Plugin::new("sum", "sum", &["number"], consumer(&PLAIN)).limits(limits.clone()),
            Plugin::new("a", "number", &[], number(7, false)),
        ],
    );
    assert!(errors.is_empty(), "{errors:?}");
    tracing::dispatcher::with_default(&dispatch, || assert_eq!(crate::sockets::total(&head, "total"), 7));
    let _ = provider.force_flush();
    let spans = exporter.get_finished_spans().expect("spans");
    let by_plugin = calls(&spans);
    let (sum, a) = (by_plugin["sum"], by_plugin["a"]);
    assert_eq!(attribute(sum, "fuel_limit").as_deref(), Some("1000000"));
    let used: u64 = attribute(sum, "fuel_used").and_then(|u| u.parse().ok()).expect("fuel used");
    assert!(used > 0 && used < 1_000_000, "{used}");
    // `a` has no limit: its fuel is counted, not bounded.
    assert_eq!(attribute(a, "fuel_limit"), None);
    assert!(attribute(a, "fuel_used").and_then(|u| u.parse::<u64>().ok()).is_some_and(|u| u > 0), "{a:#?}");
}
