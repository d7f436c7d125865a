//! `wasm-link graph`: the plugin graph as Graphviz DOT, Mermaid, or an SVG
//! picture drawn in process.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use wasm_link::InterfaceData;
use wasm_link::dir::{DirOptions, PluginDir};

use crate::GraphFormat;
use crate::with_causes;

/// `wasm-link graph`.
pub fn run(dir: &Path, format: GraphFormat, freeze: bool) -> Result<ExitCode, String> {
    // Frozen edges are known only by loading: (consumer, interface).
    let frozen: Vec<(String, String)> = if freeze {
        let loaded = crate::load::open_and_load(dir, None, None, true)?;
        let head = loaded.head.map_err(|e| format!("the root cannot be served: {e}"))?;
        let report = head.freeze_report();
        report.groups.iter().flat_map(|g| g.edges.iter().map(|(c, i, _)| (c.clone(), i.clone()))).collect()
    } else {
        Vec::new()
    };
    let is_frozen = |plugin: &str, socket: &str| frozen.iter().any(|(c, i)| c == plugin && i == socket);
    let plugin_dir = PluginDir::open(dir, &DirOptions::default())
        .map_err(|e| format!("cannot open `{}`: {}", dir.display(), with_causes(&e)))?;
    for error in &plugin_dir.errors {
        eprintln!("skipped: {}", with_causes(error));
    }
    let interfaces: Vec<(String, String)> = plugin_dir
        .interfaces
        .iter()
        .filter_map(|i| Some((i.id().ok()?.clone(), i.cardinality().ok()?.to_string())))
        .collect();
    let text = match format {
        GraphFormat::Dot => dot(&plugin_dir, &interfaces, &is_frozen),
        GraphFormat::Mermaid => mermaid(&plugin_dir, &interfaces, &is_frozen),
        GraphFormat::Svg => svg(&dot(&plugin_dir, &interfaces, &is_frozen))?,
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// The graph in Graphviz's DOT.
fn dot(plugin_dir: &PluginDir, interfaces: &[(String, String)], is_frozen: &dyn Fn(&str, &str) -> bool) -> String {
    let mut out = String::from("digraph plugins {\n  rankdir=LR;\n");
    for (id, cardinality) in interfaces {
        let root = if *id == plugin_dir.root { ", style=bold" } else { "" };
        let _ = writeln!(out, "  \"interface:{id}\" [shape=box, label=\"{id}\\n({cardinality})\"{root}];");
    }
    for plugin in &plugin_dir.plugins {
        let id = plugin.plugin_id();
        let _ = writeln!(out, "  \"plugin:{id}\" [shape=ellipse, label=\"{id}\"];");
        let _ = writeln!(out, "  \"plugin:{id}\" -> \"interface:{}\" [label=\"plug\"];", plugin.plug_id());
        for socket in plugin.socket_ids() {
            if is_frozen(id, socket) {
                let _ = writeln!(
                    out,
                    "  \"interface:{socket}\" -> \"plugin:{id}\" [style=bold, color=blue, label=\"frozen\"];"
                );
            } else {
                let _ = writeln!(out, "  \"interface:{socket}\" -> \"plugin:{id}\" [style=dashed, label=\"socket\"];");
            }
        }
    }
    out.push_str("}\n");
    out
}

/// The graph as a Mermaid flowchart.
fn mermaid(plugin_dir: &PluginDir, interfaces: &[(String, String)], is_frozen: &dyn Fn(&str, &str) -> bool) -> String {
    let node = |s: &str| s.replace(|c: char| !c.is_ascii_alphanumeric(), "_");
    let mut out = String::from("flowchart LR\n");
    for (id, cardinality) in interfaces {
        let _ = writeln!(out, "  i_{}[[\"{id} ({cardinality})\"]]", node(id));
    }
    for plugin in &plugin_dir.plugins {
        let id = plugin.plugin_id();
        let _ = writeln!(out, "  p_{}([\"{id}\"])", node(id));
        let _ = writeln!(out, "  p_{} -->|plug| i_{}", node(id), node(plugin.plug_id()));
        for socket in plugin.socket_ids() {
            let arrow = if is_frozen(id, socket) { "==>|frozen|" } else { "-.->|socket|" };
            let _ = writeln!(out, "  i_{} {arrow} p_{}", node(socket), node(id));
        }
    }
    out
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
