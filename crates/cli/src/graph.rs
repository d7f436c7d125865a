//! `wasm-link graph`: the plugin graph as Graphviz DOT, Mermaid, or an SVG
//! picture drawn in process; with `--stats`, after a call of the root, each
//! edge labelled with its calls, failures and median latency.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use wasm_link::dir::{DirOptions, PluginDir};
use wasm_link::{EdgeStats, InterfaceData, Latency};

use crate::GraphFormat;
use crate::with_causes;

/// What the loaded tree adds to the drawing: its frozen edges and, after a
/// call, its edges' figures.
#[derive(Default)]
struct Observed {
    /// (consumer, interface) of every frozen edge.
    frozen: Vec<(String, String)>,
    stats: Vec<EdgeStats<String, String>>,
}

impl Observed {
    fn is_frozen(&self, plugin: &str, socket: &str) -> bool {
        self.frozen.iter().any(|(c, i)| c == plugin && i == socket)
    }

    /// The figures of the calls made `from` through `interface` to
    /// `provider` (`None`: to any), as a label; `None` before any call.
    fn label(&self, from: From<'_>, interface: &str, provider: Option<&str>) -> Option<String> {
        let mut calls = 0;
        let mut failures = 0;
        let mut latency = Latency::default();
        for edge in &self.stats {
            let by = match from {
                From::Anyone => true,
                From::Host => edge.consumer.is_none(),
                From::Plugin(plugin) => edge.consumer.as_deref() == Some(plugin),
            };
            let to = provider.is_none_or(|p| edge.provider == p);
            if by && to && edge.interface == interface {
                calls += edge.calls;
                failures += edge.failures;
                latency.merge(&edge.latency);
            }
        }
        if calls == 0 {
            return None;
        }
        let mut label = format!("{calls} call{}", if calls == 1 { "" } else { "s" });
        if failures > 0 {
            let _ = write!(label, ", {failures} failed");
        }
        if let Some(median) = latency.quantile(0.5) {
            let _ = write!(label, ", p50 {}", micros(median));
        }
        Some(label)
    }
}

/// Whose calls an edge label counts.
#[derive(Clone, Copy)]
enum From<'a> {
    Anyone,
    Host,
    Plugin(&'a str),
}

/// A duration in microseconds, to two significant places at most.
fn micros(duration: std::time::Duration) -> String {
    let us = duration.as_secs_f64() * 1e6;
    if us < 10.0 { format!("{us:.1} µs") } else { format!("{us:.0} µs") }
}

/// `wasm-link graph`; `stats` is the root function to call first, with its
/// arguments in WAVE.
pub fn run(
    dir: &Path,
    format: GraphFormat,
    freeze: bool,
    stats: Option<(&str, &[String])>,
    cache: Option<std::path::PathBuf>,
) -> Result<ExitCode, String> {
    // Frozen edges and figures are known only by loading.
    let observed = if freeze || stats.is_some() {
        let loaded = crate::load::open_and_load(dir, None, cache, freeze)?;
        let root = loaded.root.clone();
        let head = loaded.head.map_err(|e| format!("the root cannot be served: {e}"))?;
        let report = head.freeze_report();
        let frozen =
            report.groups.iter().flat_map(|g| g.edges.iter().map(|(c, i, _)| (c.clone(), i.clone()))).collect();
        if let Some((function, args)) = stats {
            let (values, returns) = crate::call::arguments(&head, &root, function, args)?;
            // The figures are what is wanted, a failed call's included.
            drop(head.dispatch(head.interface_path(), function, returns, &values));
        }
        Observed { frozen, stats: head.stats() }
    } else {
        Observed::default()
    };
    let plugin_dir = crate::load::open_dir(dir, &DirOptions::default())?;
    for error in &plugin_dir.errors {
        eprintln!("skipped: {}", with_causes(error));
    }
    // Each interface with its cardinality and, when its WIT has one, its
    // version: `parser@0.1` and `parser@0.2` may stand side by side.
    let interfaces: Vec<(String, String)> = plugin_dir
        .interfaces
        .iter()
        .filter_map(|i| {
            let about = match i.version() {
                Some(version) => format!("{}, @{version}", i.cardinality().ok()?.in_words()),
                None => i.cardinality().ok()?.in_words().to_owned(),
            };
            Some((i.id().ok()?.clone(), about))
        })
        .collect();
    let text = match format {
        GraphFormat::Dot => dot(&plugin_dir, &interfaces, &observed),
        GraphFormat::Mermaid => mermaid(&plugin_dir, &interfaces, &observed),
        GraphFormat::Svg => svg(&dot(&plugin_dir, &interfaces, &observed))?,
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// An edge's label: its kind, then its figures when it has some.
fn labelled(kind: &str, figures: Option<String>, separator: &str) -> String {
    figures.map_or_else(|| kind.to_owned(), |figures| format!("{kind}{separator}{figures}"))
}

/// The graph in Graphviz's DOT.
fn dot(plugin_dir: &PluginDir, interfaces: &[(String, String)], observed: &Observed) -> String {
    let mut out = String::from("digraph plugins {\n  rankdir=LR;\n");
    for (id, cardinality) in interfaces {
        let root = if *id == plugin_dir.root { ", style=bold" } else { "" };
        let _ = writeln!(out, "  \"interface:{id}\" [shape=box, label=\"{id}\\n({cardinality})\"{root}];");
    }
    if let Some(figures) = observed.label(From::Host, &plugin_dir.root, None) {
        let root = &plugin_dir.root;
        let _ = writeln!(out, "  \"host\" [shape=plaintext, label=\"host\"];");
        let _ = writeln!(
            out,
            "  \"interface:{root}\" -> \"host\" [style=dashed, label=\"{}\"];",
            labelled("root", Some(figures), ": ")
        );
    }
    for plugin in &plugin_dir.plugins {
        let id = plugin.plugin_id();
        let plug = plugin.plug_id();
        let _ = writeln!(out, "  \"plugin:{id}\" [shape=ellipse, label=\"{id}\"];");
        let label = labelled("plug", observed.label(From::Anyone, plug, Some(id)), ": ");
        let _ = writeln!(out, "  \"plugin:{id}\" -> \"interface:{plug}\" [label=\"{label}\"];");
        for socket in plugin.socket_ids() {
            if observed.is_frozen(id, socket) {
                let _ = writeln!(
                    out,
                    "  \"interface:{socket}\" -> \"plugin:{id}\" [style=bold, color=blue, label=\"frozen\"];"
                );
            } else {
                let label = labelled("socket", observed.label(From::Plugin(id), socket, None), ": ");
                let _ = writeln!(out, "  \"interface:{socket}\" -> \"plugin:{id}\" [style=dashed, label=\"{label}\"];");
            }
        }
    }
    out.push_str("}\n");
    out
}

/// The graph as a Mermaid flowchart.
fn mermaid(plugin_dir: &PluginDir, interfaces: &[(String, String)], observed: &Observed) -> String {
    let node = |s: &str| s.replace(|c: char| !c.is_ascii_alphanumeric(), "_");
    let mut out = String::from("flowchart LR\n");
    for (id, cardinality) in interfaces {
        let _ = writeln!(out, "  i_{}[[\"{id} ({cardinality})\"]]", node(id));
    }
    if let Some(figures) = observed.label(From::Host, &plugin_dir.root, None) {
        let _ = writeln!(out, "  host((host))");
        let _ = writeln!(out, "  i_{} -.->|\"root: {figures}\"| host", node(&plugin_dir.root));
    }
    for plugin in &plugin_dir.plugins {
        let id = plugin.plugin_id();
        let plug = plugin.plug_id();
        let _ = writeln!(out, "  p_{}([\"{id}\"])", node(id));
        let label = mermaid_label("plug", observed.label(From::Anyone, plug, Some(id)));
        let _ = writeln!(out, "  p_{} -->|{label}| i_{}", node(id), node(plug));
        for socket in plugin.socket_ids() {
            let arrow = if observed.is_frozen(id, socket) {
                "==>|frozen|".to_owned()
            } else {
                format!("-.->|{}|", mermaid_label("socket", observed.label(From::Plugin(id), socket, None)))
            };
            let _ = writeln!(out, "  i_{} {arrow} p_{}", node(socket), node(id));
        }
    }
    out
}

/// A Mermaid edge label: quoted when it carries figures.
fn mermaid_label(kind: &str, figures: Option<String>) -> String {
    figures.map_or_else(|| kind.to_owned(), |figures| format!("\"{kind}: {figures}\""))
}

/// The DOT graph laid out and drawn as SVG by `layout-rs`, in this process:
/// no Graphviz needed.
fn svg(dot: &str) -> Result<String, String> {
    use layout::backends::svg::SVGWriter;
    use layout::gv::{DotParser, GraphBuilder};
    let graph = DotParser::new(dot).process().map_err(|e| format!("the graph does not parse as DOT: {e}"))?;
    // The layout crate asserts its own invariants with panics: one must not
    // take the command down.
    std::panic::catch_unwind(|| {
        let mut builder = GraphBuilder::new();
        builder.visit_graph(&graph);
        let mut visual = builder.get();
        let mut writer = SVGWriter::new();
        visual.do_it(false, false, false, &mut writer);
        writer.finalize()
    })
    .map_err(|_| "the graph could not be laid out".to_owned())
}
