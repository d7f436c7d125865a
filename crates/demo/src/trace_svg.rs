//! One trace drawn as an SVG waterfall (feature `otel`): a row per span,
//! indented as the calls nested, a bar from its start to its end on the
//! run's time axis, a colour per plugin and red for a call that failed.
//! Drawn from the spans as the OpenTelemetry SDK exported them, so the
//! picture is the trace a collector receives.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{SpanId, Status};
use opentelemetry_sdk::trace::SpanData;

/// A drawn trace.
pub struct Picture {
    pub svg: String,
    /// The trace's id, in hex.
    pub trace_id: String,
    /// The spans drawn.
    pub spans: usize,
    /// The plugins with a span.
    pub plugins: usize,
}

const MARGIN: f64 = 16.0;
const HEADER: f64 = 52.0;
const ROW: f64 = 20.0;
const INDENT: f64 = 12.0;
const CHAR: f64 = 6.8;
const TIMELINE: f64 = 720.0;
/// The plugins' colours, in the order they first appear.
const PALETTE: [&str; 10] =
    ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#ff9da7", "#bab0ac", "#86bcb6"];
const FAILED: &str = "#d62728";

/// The trace of the first span named `root`, drawn; `None` when there is
/// no such span.
pub fn draw(spans: &[SpanData], root: &str) -> Option<Picture> {
    let root = spans.iter().find(|span| span.name == root)?;
    let trace = root.span_context.trace_id();
    let in_trace: Vec<&SpanData> = spans.iter().filter(|span| span.span_context.trace_id() == trace).collect();
    let rows = rows(&in_trace, root);
    let start = root.start_time;
    let end = in_trace.iter().map(|span| span.end_time).max().unwrap_or(root.end_time);
    let total = end.duration_since(start).unwrap_or_default().max(Duration::from_micros(1));

    let mut colours: HashMap<String, &str> = HashMap::new();
    for (_, span) in &rows {
        if let Some(plugin) = attribute(span, "plugin") {
            let next = PALETTE[colours.len() % PALETTE.len()];
            colours.entry(plugin).or_insert(next);
        }
    }
    let labels: Vec<(usize, String, Option<String>)> =
        rows.iter().map(|(depth, span)| (*depth, label(span), attribute(span, "plugin"))).collect();
    let label_width =
        labels.iter().map(|(depth, text, _)| depth_f64(*depth) * INDENT + chars(text) * CHAR).fold(160.0_f64, f64::max)
            + 24.0;
    let duration_width = 80.0;
    let width = MARGIN * 2.0 + label_width + TIMELINE + duration_width;
    let height = MARGIN * 2.0 + HEADER + depth_f64(rows.len()) * ROW + 28.0;
    let x0 = MARGIN + label_width;
    let x_of = |at: SystemTime| {
        x0 + at.duration_since(start).unwrap_or_default().as_secs_f64() / total.as_secs_f64() * TIMELINE
    };

    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="Helvetica, Arial, sans-serif" font-size="12">
<rect width="100%" height="100%" fill="#ffffff"/>
<text x="{MARGIN}" y="{:.1}" font-size="14" font-weight="bold">{}</text>
<text x="{MARGIN}" y="{:.1}" fill="#555555">trace {trace} · {} spans · {} plugins · {}</text>
"##,
        MARGIN + 14.0,
        escape(&root.name),
        MARGIN + 32.0,
        rows.len(),
        colours.len(),
        duration(total),
    );
    // The time axis: five ticks, and a faint line down from each.
    let top = MARGIN + HEADER;
    let bottom = top + depth_f64(rows.len()) * ROW;
    for tick in 0..=4_u32 {
        let x = x0 + TIMELINE * f64::from(tick) / 4.0;
        let at = total.mul_f64(f64::from(tick) / 4.0);
        let _ = writeln!(
            svg,
            r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{bottom:.1}" stroke="#e4e4e4"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" fill="#777777" font-size="10">{}</text>"##,
            top - 6.0,
            top - 9.0,
            duration(at)
        );
    }
    for (row, ((depth, span), (_, text, plugin))) in rows.iter().zip(&labels).enumerate() {
        let y = top + depth_f64(row) * ROW;
        let failed = matches!(span.status, Status::Error { .. });
        let colour =
            if failed { FAILED } else { plugin.as_ref().and_then(|p| colours.get(p).copied()).unwrap_or("#9e9e9e") };
        if row % 2 == 1 {
            let _ = writeln!(
                svg,
                r##"<rect x="{MARGIN}" y="{y:.1}" width="{:.1}" height="{ROW}" fill="#f7f7f7"/>"##,
                width - 2.0 * MARGIN
            );
        }
        let x = x_of(span.start_time);
        let bar = (x_of(span.end_time) - x).max(1.5);
        let took = span.end_time.duration_since(span.start_time).unwrap_or_default();
        let title = match attribute(span, "error") {
            Some(error) => format!("{text}: {} (failed: {error})", duration(took)),
            None => format!("{text}: {}", duration(took)),
        };
        let _ = writeln!(
            svg,
            r#"<g><title>{}</title><text x="{:.1}" y="{:.1}"{}>{}</text><rect x="{x:.1}" y="{:.1}" width="{bar:.1}" height="{:.1}" rx="2" fill="{colour}"/><text x="{:.1}" y="{:.1}" fill="{}" font-size="10">{}</text></g>"#,
            escape(&title),
            MARGIN + depth_f64(*depth) * INDENT,
            y + 14.0,
            if failed { format!(r#" fill="{FAILED}""#) } else { String::new() },
            match plugin.as_deref().and_then(|p| Some((p, text.strip_prefix(p)?))) {
                Some((plugin, rest)) =>
                    format!(r#"<tspan font-weight="bold">{}</tspan>{}"#, escape(plugin), escape(rest)),
                None => escape(text),
            },
            y + 4.0,
            ROW - 8.0,
            x + bar + 4.0,
            y + 14.0,
            if failed { FAILED } else { "#555555" },
            duration(took),
        );
    }
    let _ = writeln!(
        svg,
        r##"<text x="{MARGIN}" y="{:.1}" fill="#777777" font-size="11">A row per span, indented as the calls nested; a colour per plugin, red where a call failed. Hover a row for its figures.</text>
</svg>"##,
        bottom + 20.0
    );
    Some(Picture { svg, trace_id: trace.to_string(), spans: rows.len(), plugins: colours.len() })
}

/// The spans in drawing order: depth first from `root`, children by start
/// time; spans of the trace not under it (a remote host's, whose parent
/// was not exported here) after, at the left.
fn rows<'a>(spans: &[&'a SpanData], root: &'a SpanData) -> Vec<(usize, &'a SpanData)> {
    let mut children: HashMap<SpanId, Vec<&SpanData>> = HashMap::new();
    for span in spans {
        children.entry(span.parent_span_id).or_default().push(span);
    }
    for list in children.values_mut() {
        list.sort_by_key(|span| span.start_time);
    }
    let mut rows = Vec::with_capacity(spans.len());
    let mut stack = vec![(0, root)];
    while let Some((depth, span)) = stack.pop() {
        // A span is drawn once, whatever its parent ids claim.
        if rows
            .iter()
            .any(|(_, drawn): &(usize, &SpanData)| drawn.span_context.span_id() == span.span_context.span_id())
        {
            continue;
        }
        rows.push((depth, span));
        if let Some(list) = children.get(&span.span_context.span_id()) {
            stack.extend(list.iter().rev().map(|child| (depth + 1, *child)));
        }
    }
    let drawn: Vec<SpanId> = rows.iter().map(|(_, span)| span.span_context.span_id()).collect();
    let mut rest: Vec<&SpanData> =
        spans.iter().copied().filter(|span| !drawn.contains(&span.span_context.span_id())).collect();
    rest.sort_by_key(|span| span.start_time);
    rows.extend(rest.into_iter().map(|span| (0, span)));
    rows
}

/// A row's label: `plugin  interface#function` for a call into a plugin
/// (the interface without its package and version), the span's name
/// otherwise.
fn label(span: &SpanData) -> String {
    match (attribute(span, "plugin"), attribute(span, "interface"), attribute(span, "function")) {
        (Some(plugin), Some(interface), Some(function)) => {
            let short = interface.rsplit('/').next().unwrap_or(&interface);
            let short = short.split('@').next().unwrap_or(short);
            format!("{plugin}  {short}#{function}")
        }
        _ => span.name.to_string(),
    }
}

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| kv.value.to_string())
}

/// A duration to three significant places, in the unit that suits it.
fn duration(duration: Duration) -> String {
    let us = duration.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.0} µs")
    } else if us < 1e6 {
        format!("{:.2} ms", us / 1e3)
    } else {
        format!("{:.2} s", us / 1e6)
    }
}

#[allow(clippy::cast_precision_loss, reason = "rows and characters, far below 2^52")]
fn depth_f64(n: usize) -> f64 {
    n as f64
}

fn chars(text: &str) -> f64 {
    depth_f64(text.chars().count())
}

/// Text as XML character data or an attribute value.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}
