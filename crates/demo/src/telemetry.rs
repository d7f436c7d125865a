//! Traces and metrics of the demo's run (feature `otel`).
//!
//! Every call into a plugin is a span (the library's `wasm_link.call`,
//! nested as the calls nest) under one span for the run, so a run is one
//! trace. It is exported over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT`
//! (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, with the edge
//! statistics as metrics (`wasm_link::otel_metrics`); and with
//! `--trace-svg FILE` it is kept in memory and drawn as a picture
//! ([`crate::trace_svg`]).

use std::path::Path;
use std::sync::Arc;

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use wasm_link::PluginTreeHead;
use wasm_link::dir::DirPlugin;

/// The demo's telemetry while it runs.
pub struct Telemetry {
    traces: SdkTracerProvider,
    metrics: Option<SdkMeterProvider>,
    /// The spans kept for `--trace-svg`.
    memory: Option<InMemorySpanExporter>,
}

/// Whether OTLP export was asked for, by the environment variables the
/// OpenTelemetry exporters read.
fn otlp_endpoint() -> Option<String> {
    ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"]
        .into_iter()
        .find_map(|name| std::env::var(name).ok().filter(|value| !value.is_empty()))
}

impl Telemetry {
    /// Starts recording when OTLP export or a picture (`keep`) is asked
    /// for; `None` otherwise (no subscriber: the spans cost their callsite
    /// check only).
    ///
    /// # Errors
    /// When an OTLP exporter cannot be built (a malformed endpoint), or
    /// another subscriber was set.
    pub fn start(keep: bool) -> Result<Option<Self>, String> {
        let endpoint = otlp_endpoint();
        if endpoint.is_none() && !keep {
            return Ok(None);
        }
        let resource = Resource::builder().with_service_name("wasm-link-demo").build();
        let mut traces = SdkTracerProvider::builder().with_resource(resource.clone());
        let mut metrics = None;
        if let Some(endpoint) = &endpoint {
            let spans = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .build()
                .map_err(|e| format!("cannot export traces to {endpoint}: {e}"))?;
            traces = traces.with_batch_exporter(spans);
            let exporter = opentelemetry_otlp::MetricExporter::builder()
                .with_http()
                .build()
                .map_err(|e| format!("cannot export metrics to {endpoint}: {e}"))?;
            metrics = Some(
                SdkMeterProvider::builder()
                    .with_resource(resource)
                    .with_reader(PeriodicReader::builder(exporter).build())
                    .build(),
            );
        }
        let memory = keep.then(InMemorySpanExporter::default);
        if let Some(memory) = &memory {
            traces = traces.with_simple_exporter(memory.clone());
        }
        let traces = traces.build();
        let layer = tracing_opentelemetry::layer().with_tracer(traces.tracer("wasm-link-demo"));
        // INFO and above: the runtime's spans, not wasmtime-wasi's TRACE
        // span per WASI call. Global: with `--watch`, runs happen on the
        // watcher's thread.
        let subscriber = tracing_subscriber::registry().with(layer).with(LevelFilter::INFO);
        tracing::subscriber::set_global_default(subscriber).map_err(|e| format!("cannot record traces: {e}"))?;
        if let Some(endpoint) = &endpoint {
            println!("  exporting traces and metrics over OTLP to {endpoint}");
        }
        Ok(Some(Self { traces, metrics, memory }))
    }

    /// Reports `head`'s statistics as metrics, when they are exported.
    pub fn observe(&self, head: &Arc<PluginTreeHead<DirPlugin>>) {
        if let Some(metrics) = &self.metrics {
            wasm_link::otel_metrics(&metrics.meter("wasm-link-demo"), head);
        }
    }

    /// Sends what is left, draws the picture into `svg` (when asked) and
    /// shuts the exporters down.
    ///
    /// # Errors
    /// When the picture cannot be written, or the spans were not kept.
    pub fn finish(self, svg: Option<&Path>) -> Result<(), String> {
        let _ = self.traces.force_flush();
        let drawn = match (svg, &self.memory) {
            (Some(path), Some(memory)) => {
                let spans = memory.get_finished_spans().map_err(|e| format!("cannot read the spans: {e}"))?;
                let picture = crate::trace_svg::draw(&spans, crate::RUN_SPAN)
                    .ok_or_else(|| "the run left no trace to draw".to_owned())?;
                std::fs::write(path, picture.svg).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                println!(
                    "trace {} of the run: {} spans across {} plugins, drawn in {}",
                    picture.trace_id,
                    picture.spans,
                    picture.plugins,
                    path.display()
                );
                Ok(())
            }
            _ => Ok(()),
        };
        if let Some(metrics) = self.metrics {
            let _ = metrics.force_flush();
            let _ = metrics.shutdown();
        }
        let _ = self.traces.shutdown();
        drawn
    }
}
