//! The demo built with feature `otel`: its run is one trace, drawn as a
//! picture with `--trace-svg` and exported over OTLP/HTTP, with the edge
//! statistics as metrics, to a receiver on loopback that decodes it with
//! the protocol's own messages. (`cargo test -p wasm-link-demo --features
//! otel`; CI runs it.)
#![cfg(feature = "otel")]

use std::process::Command;
use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use prost::Message as _;

/// The plugins the demo loaded, from its `loaded:` line.
fn loaded(stdout: &str) -> Vec<String> {
    let line = stdout.lines().find_map(|line| line.trim().strip_prefix("loaded: ")).expect("a `loaded:` line");
    line.split(", ").map(str::to_owned).collect()
}

fn demo() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wasm-link-demo"));
    command.env_remove("OTEL_EXPORTER_OTLP_ENDPOINT").env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    command
}

#[test]
fn the_run_is_drawn_as_one_trace_naming_every_plugin_it_crossed() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let svg = dir.path().join("trace.svg");
    let output = demo().arg("--trace-svg").arg(&svg).output().expect("the demo runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let picture = std::fs::read_to_string(&svg).expect("the picture is written");
    assert!(picture.starts_with("<svg ") && picture.trim_end().ends_with("</svg>"), "{picture}");
    let plugins = loaded(&stdout);
    assert_eq!(plugins.len(), 9, "{plugins:?}");
    // Each plugin of the run names rows of the picture, in bold.
    for plugin in &plugins {
        assert!(picture.contains(&format!(r#"<tspan font-weight="bold">{plugin}</tspan>"#)), "no row of `{plugin}`");
    }
    // Nested as the calls were: the parser's methods sit deeper than the
    // transforms that call them, which sit deeper than the pipeline.
    let indent = |label: &str| -> f64 {
        let at = picture.find(label).unwrap_or_else(|| panic!("no `{label}` in the picture"));
        let text = picture[..at].rfind("<text x=\"").expect("its text element");
        let x = &picture[text + 9..];
        x[..x.find('"').expect("a quote")].parse().expect("a number")
    };
    let pipeline = indent(">pipeline</tspan>  app#run");
    let transform = indent(">capitalize</tspan>  transform#apply");
    let method = indent(">markdown-parser</tspan>  parser#[method]document.set-paragraphs");
    assert!(pipeline < transform && transform < method, "{pipeline} {transform} {method}");
    assert!(stdout.contains(&format!("spans across {} plugins", plugins.len())), "{stdout}");
}

/// What an OTLP/HTTP receiver on loopback was sent, by path.
type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

fn receiver(runtime: &tokio::runtime::Runtime) -> (String, Received) {
    let received = Received::default();
    let kept = received.clone();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri, body: axum::body::Bytes| {
        let kept = kept.clone();
        async move {
            kept.lock().expect("not poisoned").push((uri.path().to_owned(), body.to_vec()));
            // An empty export response: every item accepted.
            ([(axum::http::header::CONTENT_TYPE, "application/x-protobuf")], Vec::<u8>::new())
        }
    });
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("a loopback port");
    let address = listener.local_addr().expect("its address");
    runtime.spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}"), received)
}

fn string(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
        any_value::Value::StringValue(value) => Some(value.clone()),
        _ => None,
    })
}

#[test]
fn the_run_and_its_metrics_are_exported_over_otlp_http() {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("a runtime");
    let (endpoint, received) = receiver(&runtime);
    let output = demo().env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint).output().expect("the demo runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let plugins = loaded(&stdout);
    let received = received.lock().expect("not poisoned").clone();

    // The spans: one trace, a span for every plugin, from the demo's service.
    let mut spans = Vec::new();
    for (_, body) in received.iter().filter(|(path, _)| path == "/v1/traces") {
        let request = ExportTraceServiceRequest::decode(body.as_slice()).expect("an OTLP trace export");
        for resource in request.resource_spans {
            let attributes = resource.resource.map(|r| r.attributes).unwrap_or_default();
            assert_eq!(string(&attributes, "service.name").as_deref(), Some("wasm-link-demo"));
            spans.extend(resource.scope_spans.into_iter().flat_map(|scope| scope.spans));
        }
    }
    let run = spans.iter().find(|span| span.name == "demo: run").expect("the run's span");
    for plugin in &plugins {
        let of_plugin: Vec<_> =
            spans.iter().filter(|span| string(&span.attributes, "plugin").as_deref() == Some(plugin)).collect();
        assert!(!of_plugin.is_empty(), "no span of `{plugin}` among {} spans", spans.len());
        for span in of_plugin {
            assert_eq!(span.trace_id, run.trace_id, "{plugin}: {}", span.name);
            assert!(spans.iter().any(|parent| parent.span_id == span.parent_span_id), "{}: no parent", span.name);
        }
    }

    // The metrics: the root edge's calls, and a count per plugin.
    let mut metrics = Vec::new();
    for (_, body) in received.iter().filter(|(path, _)| path == "/v1/metrics") {
        let request = ExportMetricsServiceRequest::decode(body.as_slice()).expect("an OTLP metrics export");
        for resource in request.resource_metrics {
            metrics.extend(resource.scope_metrics.into_iter().flat_map(|scope| scope.metrics));
        }
    }
    let names: Vec<&str> = metrics.iter().map(|metric| metric.name.as_str()).collect();
    for name in
        ["wasm_link.edge.calls", "wasm_link.edge.call.duration.sum", "wasm_link.plugin.calls", "wasm_link.plugin.up"]
    {
        assert!(names.contains(&name), "no `{name}` in {names:?}");
    }
    runtime.shutdown_background();
}
