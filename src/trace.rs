//! Traces (feature `otel`): every call into a plugin is a `tracing` span,
//! made in one place (when the call's frame begins, `instance::invoke`),
//! its parent the caller's span: the host's current span for a root call,
//! the consumer's call for a socket hop. So a call crossing five plugins is
//! one tree of spans, and `tracing-opentelemetry` exports it as one trace.
//! Each swap of a running tree (replace, add, remove) is a span too.
//!
//! A span's parent travels through the call path as a bare span id (the
//! `Caller` is `Copy`, and the call path does not clone `Span`s); the span
//! itself lives in the callee's store while the call runs.

use std::fmt::Display;
use std::num::NonZeroU64;
use std::time::Duration;

use tracing::Span;
use tracing::field::Empty;
use tracing::span::Id;

/// The current span's id, as a caller's parent.
#[inline]
pub(crate) fn current() -> Option<NonZeroU64> {
    Span::current().id().map(|id| id.into_non_zero_u64())
}

/// A span's id, as a caller's parent.
#[inline]
pub(crate) fn id_of(span: &Span) -> Option<NonZeroU64> {
    span.id().map(|id| id.into_non_zero_u64())
}

/// The span of one call into `plugin`, child of `parent`; `fuel` is what
/// it was given when the engine consumes fuel (`u64::MAX`: no limit).
pub(crate) fn call(
    parent: Option<NonZeroU64>,
    plugin: &dyn Display,
    interface: &str,
    function: &str,
    depth: u32,
    deadline: Duration,
    fuel: Option<u64>,
) -> Span {
    tracing::info_span!(
        target: "wasm_link",
        parent: parent.map(Id::from_non_zero_u64),
        "wasm_link.call",
        otel.name = %format_args!("{interface}#{function}"),
        plugin = %plugin,
        interface,
        function,
        depth,
        deadline_ms = u64::try_from(deadline.as_millis()).unwrap_or(u64::MAX),
        fuel_limit = fuel.filter(|&fuel| fuel != u64::MAX),
        fuel_used = Empty,
        outcome = Empty,
        error = Empty,
        otel.status_code = Empty,
    )
}

/// The span of one swap of the running tree (`change`: replace, add,
/// remove) of `plugin` (`None`: its id could not be read), a child of the
/// current span.
pub(crate) fn swap(change: &'static str, plugin: Option<&dyn Display>) -> Span {
    tracing::info_span!(
        target: "wasm_link",
        "wasm_link.swap",
        otel.name = %format_args!("swap: {change}"),
        change,
        plugin = plugin.map(tracing::field::display),
        outcome = Empty,
        error = Empty,
        otel.status_code = Empty,
    )
}

/// Records how the call of `span` ended.
pub(crate) fn ended(span: &Span, error: Option<&dyn Display>) {
    match error {
        None => {
            span.record("outcome", "ok");
        }
        Some(error) => {
            span.record("outcome", "error");
            span.record("error", tracing::field::display(error));
            span.record("otel.status_code", "ERROR");
        }
    }
}

/// The W3C `traceparent` of `span` (`00-{trace id}-{span id}-{flags}`), for
/// a remote call's headers: `None` when the span is not recorded by an
/// OpenTelemetry layer.
#[cfg(feature = "remote")]
pub(crate) fn traceparent(span: &Span) -> Option<String> {
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context.is_valid().then(|| {
        format!("00-{}-{}-{:02x}", span_context.trace_id(), span_context.span_id(), span_context.trace_flags().to_u8())
    })
}

/// A served call's span: a child of the `traceparent` its caller sent (W3C
/// format, version 00; anything else is ignored and the span starts a trace
/// of its own).
#[cfg(feature = "remote")]
pub(crate) fn served(function: &str, caller: &str, traceparent: Option<&str>) -> Span {
    use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState};
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let span = tracing::info_span!(target: "wasm_link", parent: None, "wasm_link.serve", function, caller);
    let remote = traceparent.and_then(|value| {
        let mut parts = value.trim().split('-');
        let (version, trace, parent, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if version != "00" || parts.next().is_some() || trace.len() != 32 || parent.len() != 16 || flags.len() != 2 {
            return None;
        }
        let trace = TraceId::from_hex(trace).ok()?;
        let parent = SpanId::from_hex(parent).ok()?;
        let flags = TraceFlags::new(u8::from_str_radix(flags, 16).ok()?);
        let context = SpanContext::new(trace, parent, flags, true, TraceState::default());
        context.is_valid().then_some(context)
    });
    if let Some(remote) = remote {
        let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote));
    }
    span
}
