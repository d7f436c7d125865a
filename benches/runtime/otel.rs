//! Traces (feature `otel`): what a call's span costs, with no subscriber
//! and with `tracing-opentelemetry` recording it into the SDK (spans built
//! and ended; no exporter, whose cost is its own).
//! `BENCH_SECTIONS=otel cargo bench --bench runtime --features otel`.

#[allow(clippy::wildcard_imports, reason = "the bench's shared helpers and fixtures")]
use super::*;

pub(super) fn otel(engine: &Engine, ratios: &mut Ratios) {
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt as _;

    let empty = wasmtime::component::Linker::<()>::new(engine);
    let (mut store, func) = instance_export(engine, CALLEE, &empty, "bench:b/callee", "get");
    let mut results = [Val::U32(0)];
    let head = tree(engine, "callee");
    let mut raw_call = || {
        func.call(&mut store, &[Val::U32(black_box(1))], &mut results).expect("call");
        black_box(&results);
    };
    let dispatch = || {
        black_box(only(head.dispatch("bench:b/callee", "get", true, &[Val::U32(black_box(1))])));
    };
    ratios.push(("otel/dispatch-no-subscriber-vs-func-call".to_owned(), paired(ROUNDS, 2000, &mut raw_call, dispatch)));

    // INFO and above, as a host would filter: wasmtime's own TRACE spans
    // and events stay out of both halves.
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"));
    let subscriber = tracing_subscriber::registry().with(layer).with(tracing_subscriber::filter::LevelFilter::INFO);
    let recorded = tracing::subscriber::with_default(subscriber, || {
        let _request = tracing::info_span!("request").entered();
        paired(ROUNDS, 2000, &mut raw_call, dispatch)
    });
    ratios.push(("otel/dispatch-recorded-vs-func-call".to_owned(), recorded));
}
