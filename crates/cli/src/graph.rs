//! `wasm-link graph`: the plugin graph as Graphviz or Mermaid.

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
    match format {
        GraphFormat::Dot => {
            println!("digraph plugins {{");
            println!("  rankdir=LR;");
            for (id, cardinality) in &interfaces {
                let root = if *id == plugin_dir.root { ", style=bold" } else { "" };
                println!("  \"interface:{id}\" [shape=box, label=\"{id}\\n({cardinality})\"{root}];");
            }
            for plugin in &plugin_dir.plugins {
                let id = plugin.plugin_id();
                println!("  \"plugin:{id}\" [shape=ellipse, label=\"{id}\"];");
                println!("  \"plugin:{id}\" -> \"interface:{}\" [label=\"plug\"];", plugin.plug_id());
                for socket in plugin.socket_ids() {
                    if is_frozen(id, socket) {
                        println!(
                            "  \"interface:{socket}\" -> \"plugin:{id}\" [style=bold, color=blue, label=\"frozen\"];"
                        );
                    } else {
                        println!("  \"interface:{socket}\" -> \"plugin:{id}\" [style=dashed, label=\"socket\"];");
                    }
                }
            }
            println!("}}");
        }
        GraphFormat::Mermaid => {
            let node = |s: &str| s.replace(|c: char| !c.is_ascii_alphanumeric(), "_");
            println!("flowchart LR");
            for (id, cardinality) in &interfaces {
                println!("  i_{}[[\"{id} ({cardinality})\"]]", node(id));
            }
            for plugin in &plugin_dir.plugins {
                let id = plugin.plugin_id();
                println!("  p_{}([\"{id}\"])", node(id));
                println!("  p_{} -->|plug| i_{}", node(id), node(plugin.plug_id()));
                for socket in plugin.socket_ids() {
                    if is_frozen(id, socket) {
                        println!("  i_{} ==>|frozen| p_{}", node(socket), node(id));
                    } else {
                        println!("  i_{} -.->|socket| p_{}", node(socket), node(id));
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
