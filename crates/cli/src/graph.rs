//! `wasm-link graph`: the plugin graph as Graphviz DOT, Mermaid, or an SVG
//! picture laid out and drawn here; with `--stats`, after a call of the
//! root, each edge labelled with its calls, p50 and p99 latency and failures.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

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
    /// Whether a call was made and measured (`--stats`): an edge without
    /// figures then is one the call never crossed.
    measured: bool,
    stats: Vec<EdgeStats<String, String>>,
}

impl Observed {
    fn is_frozen(&self, plugin: &str, socket: &str) -> bool {
        self.frozen.iter().any(|(c, i)| c == plugin && i == socket)
    }

    /// The figures of the calls made `from` through `interface` to
    /// `provider` (`None`: to any); `None` before any call.
    fn figures(&self, from: From<'_>, interface: &str, provider: Option<&str>) -> Option<Figures> {
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
        (calls > 0).then(|| Figures { calls, failures, p50: latency.quantile(0.5), p99: latency.quantile(0.99) })
    }

    /// [`Observed::figures`] as one line, its parts joined by `separator`.
    fn label(&self, from: From<'_>, interface: &str, provider: Option<&str>, separator: &str) -> Option<String> {
        self.figures(from, interface, provider).map(|figures| figures.text(separator))
    }
}

/// Whose calls an edge label counts.
#[derive(Clone, Copy)]
enum From<'a> {
    Anyone,
    Host,
    Plugin(&'a str),
}

/// The calls one edge carried.
struct Figures {
    calls: u64,
    failures: u64,
    p50: Option<Duration>,
    p99: Option<Duration>,
}

impl Figures {
    /// `12 calls, p50 40 µs, p99 90 µs, 3 failed` with `separator` `, `.
    fn text(&self, separator: &str) -> String {
        let calls = self.calls;
        let mut parts = vec![format!("{calls} call{}", if calls == 1 { "" } else { "s" })];
        parts.extend(self.p50.map(|p50| format!("p50 {}", readable(p50))));
        parts.extend(self.p99.map(|p99| format!("p99 {}", readable(p99))));
        if self.failures > 0 {
            parts.push(format!("{} failed", self.failures));
        }
        parts.join(separator)
    }
}

/// A duration in the unit that reads best: `6.3 µs`, `180 µs`, `7.50 ms`,
/// `1.20 s`.
fn readable(duration: Duration) -> String {
    let us = duration.as_secs_f64() * 1e6;
    if us < 10.0 {
        format!("{us:.1} µs")
    } else if us < 1000.0 {
        format!("{us:.0} µs")
    } else if us < 1e6 {
        format!("{:.2} ms", us / 1e3)
    } else {
        format!("{:.2} s", us / 1e6)
    }
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
        Observed { frozen, measured: stats.is_some(), stats: head.stats() }
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
        GraphFormat::Svg => svg(&Graph::new(&plugin_dir, &interfaces, &observed)),
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// An edge's label: its kind, then its figures when it has some.
fn labelled(kind: &str, figures: Option<String>, separator: &str) -> String {
    figures.map_or_else(|| kind.to_owned(), |figures| format!("{kind}{separator}{figures}"))
}

/// `text` inside a DOT string: its quotes and backslashes escaped.
fn dot_quoted(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The graph in Graphviz's DOT.
fn dot(plugin_dir: &PluginDir, interfaces: &[(String, String)], observed: &Observed) -> String {
    let mut out = String::from("digraph plugins {\n  rankdir=LR;\n");
    for (id, cardinality) in interfaces {
        let root = if *id == plugin_dir.root { ", style=bold" } else { "" };
        let (id, cardinality) = (dot_quoted(id), dot_quoted(cardinality));
        let _ = writeln!(out, "  \"interface:{id}\" [shape=box, label=\"{id}\\n({cardinality})\"{root}];");
    }
    if let Some(figures) = observed.label(From::Host, &plugin_dir.root, None, ", ") {
        let root = dot_quoted(&plugin_dir.root);
        let _ = writeln!(out, "  \"host\" [shape=plaintext, label=\"host\"];");
        let _ = writeln!(
            out,
            "  \"interface:{root}\" -> \"host\" [style=dashed, label=\"{}\"];",
            labelled("root", Some(figures), ": ")
        );
    }
    for plugin in &plugin_dir.plugins {
        let (id, plug) = (plugin.plugin_id(), plugin.plug_id());
        let label = labelled("plug", observed.label(From::Anyone, plug, Some(id), ", "), ": ");
        let (id_q, plug_q) = (dot_quoted(id), dot_quoted(plug));
        let _ = writeln!(out, "  \"plugin:{id_q}\" [shape=ellipse, label=\"{id_q}\"];");
        let _ = writeln!(out, "  \"plugin:{id_q}\" -> \"interface:{plug_q}\" [label=\"{label}\"];");
        for socket in plugin.socket_ids() {
            let socket_q = dot_quoted(socket);
            if observed.is_frozen(id, socket) {
                let _ = writeln!(
                    out,
                    "  \"interface:{socket_q}\" -> \"plugin:{id_q}\" [style=bold, color=blue, label=\"frozen\"];"
                );
            } else {
                let label = labelled("socket", observed.label(From::Plugin(id), socket, None, ", "), ": ");
                let _ =
                    writeln!(out, "  \"interface:{socket_q}\" -> \"plugin:{id_q}\" [style=dashed, label=\"{label}\"];");
            }
        }
    }
    out.push_str("}\n");
    out
}

/// The graph as a Mermaid flowchart.
fn mermaid(plugin_dir: &PluginDir, interfaces: &[(String, String)], observed: &Observed) -> String {
    let node = |s: &str| s.replace(|c: char| !c.is_ascii_alphanumeric(), "_");
    // Mermaid's own escape for a quote inside a quoted label.
    let text = |s: &str| s.replace('"', "#quot;");
    let mut out = String::from("flowchart LR\n");
    for (id, cardinality) in interfaces {
        let _ = writeln!(out, "  i_{}[[\"{} ({})\"]]", node(id), text(id), text(cardinality));
    }
    if let Some(figures) = observed.label(From::Host, &plugin_dir.root, None, ", ") {
        let _ = writeln!(out, "  host((host))");
        let _ = writeln!(out, "  i_{} -.->|\"root: {figures}\"| host", node(&plugin_dir.root));
    }
    for plugin in &plugin_dir.plugins {
        let id = plugin.plugin_id();
        let plug = plugin.plug_id();
        let _ = writeln!(out, "  p_{}([\"{}\"])", node(id), text(id));
        let label = mermaid_label("plug", observed.label(From::Anyone, plug, Some(id), ", "));
        let _ = writeln!(out, "  p_{} -->|{label}| i_{}", node(id), node(plug));
        for socket in plugin.socket_ids() {
            let arrow = if observed.is_frozen(id, socket) {
                "==>|frozen|".to_owned()
            } else {
                format!("-.->|{}|", mermaid_label("socket", observed.label(From::Plugin(id), socket, None, ", ")))
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

// ---------------------------------------------------------------------------
// The SVG picture: a layered drawing of our own. The graph is a small DAG
// (plugins plug into interfaces, interfaces feed the plugins that socket
// them), so a Sugiyama-style layout is short and exact:
//
// 1. rank every node by its longest path from a source (a cycle, which a
//    broken directory may have, is broken first), then pull nodes whose
//    edges mostly leave them towards their successors;
// 2. put every edge label, and every point where an edge crosses a rank it
//    does not stop at, into the layout as an element of its own, in the
//    columns between the nodes' columns: labels then never overlap and sit
//    on their edges by construction;
// 3. order each column by barycenter sweeps, keeping the order with the
//    fewest crossings;
// 4. place each column's elements vertically where their neighbours pull
//    them, as close as their sizes allow (an isotonic regression, exact);
// 5. size each column by its widest element and each gap by the steepest
//    curve crossing it; the canvas is the content plus a margin.
//
// Edges run straight through every column and bend only in the gaps
// between columns, where nothing else is drawn.
// ---------------------------------------------------------------------------

/// Font sizes, in px.
const NAME_SIZE: f64 = 13.0;
const SMALL_SIZE: f64 = 11.0;
/// The canvas's margin around the content.
const MARGIN: f64 = 16.0;
/// The vertical space between two nodes of a column, and between anything
/// else (labels, edges passing through).
const NODE_GAP: f64 = 18.0;
const EDGE_GAP: f64 = 8.0;
/// The narrowest gap between two columns, and the widest.
const MIN_COLUMN_GAP: f64 = 26.0;
const MAX_COLUMN_GAP: f64 = 110.0;

const INK: &str = "#222222";
const EDGE_INK: &str = "#555555";
const UNUSED_INK: &str = "#b5b5b5";
const FAILED_INK: &str = "#c62828";
const FROZEN_INK: &str = "#1f5fbf";

/// The shape a node is drawn as.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Interface { root: bool },
    Plugin,
    Host,
}

/// A node: its key (`interface:ID`, `plugin:ID`, `host`), its shape, and
/// its lines of text (the first its name).
struct Node {
    key: String,
    shape: Shape,
    lines: Vec<String>,
}

impl Node {
    /// The drawn box's width and height.
    fn size(&self) -> (f64, f64) {
        let bold = matches!(self.shape, Shape::Interface { root: true });
        let mut width = 0.0_f64;
        for (index, line) in self.lines.iter().enumerate() {
            let (size, bold) = if index == 0 { (NAME_SIZE, bold) } else { (SMALL_SIZE, false) };
            width = width.max(text_width(line, size, bold));
        }
        match self.shape {
            Shape::Interface { .. } => (width + 22.0, 12.0 + self.line_heights().iter().sum::<f64>()),
            // Round ends: the text keeps clear of them.
            Shape::Plugin => (width + 30.0, 30.0),
            Shape::Host => (width + 24.0, 30.0),
        }
    }

    fn line_heights(&self) -> Vec<f64> {
        (0..self.lines.len()).map(|i| if i == 0 { 17.0 } else { 14.0 }).collect()
    }
}

/// What an edge stands for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum EdgeKind {
    /// A plugin → the interface it plugs into.
    Plug,
    /// An interface → a plugin that takes it through a socket.
    Socket,
    /// A socket composed into its consumer (`--freeze`).
    Frozen,
    /// The root interface → the host that calls it (`--stats`).
    Root,
}

impl EdgeKind {
    fn word(self) -> &'static str {
        match self {
            Self::Plug => "plug",
            Self::Socket => "socket",
            Self::Frozen => "frozen",
            Self::Root => "root",
        }
    }
}

struct Edge {
    from: usize,
    to: usize,
    kind: EdgeKind,
    figures: Option<Figures>,
}

impl Edge {
    /// The label's lines: the edge's kind, with its calls and failures when
    /// it has figures, then its latency.
    fn lines(&self) -> Vec<String> {
        let kind = self.kind.word();
        let Some(figures) = &self.figures else { return vec![kind.to_owned()] };
        let calls = figures.calls;
        let mut first = format!("{kind} · {calls} call{}", if calls == 1 { "" } else { "s" });
        if figures.failures > 0 {
            let _ = write!(first, " · {} failed", figures.failures);
        }
        let latency: Vec<String> = [("p50", figures.p50), ("p99", figures.p99)]
            .into_iter()
            .filter_map(|(name, value)| Some(format!("{name} {}", readable(value?))))
            .collect();
        let mut lines = vec![first];
        if !latency.is_empty() {
            lines.push(latency.join(" · "));
        }
        lines
    }

    fn label_size(&self) -> (f64, f64) {
        let lines = self.lines();
        let width = lines.iter().map(|l| text_width(l, SMALL_SIZE, false)).fold(0.0, f64::max);
        (width + 10.0, 14.0 * count(lines.len()) + 4.0)
    }
}

/// The drawing's nodes and edges.
struct Graph {
    nodes: Vec<Node>,
    edges: Vec<Edge>,
    measured: bool,
}

impl Graph {
    fn new(plugin_dir: &PluginDir, interfaces: &[(String, String)], observed: &Observed) -> Self {
        let mut graph = Self { nodes: Vec::new(), edges: Vec::new(), measured: observed.measured };
        let mut index = HashMap::new();
        let mut node = |graph: &mut Self, key: String, shape: Shape, lines: Vec<String>| -> usize {
            *index.entry(key.clone()).or_insert_with(|| {
                graph.nodes.push(Node { key, shape, lines });
                graph.nodes.len() - 1
            })
        };
        let interface = |id: &str| Shape::Interface { root: id == plugin_dir.root };
        for (id, about) in interfaces {
            node(&mut graph, format!("interface:{id}"), interface(id), vec![id.clone(), format!("({about})")]);
        }
        if let Some(figures) = observed.figures(From::Host, &plugin_dir.root, None) {
            let root = &plugin_dir.root;
            let from = node(&mut graph, format!("interface:{root}"), interface(root), vec![root.clone()]);
            let to = node(&mut graph, "host".to_owned(), Shape::Host, vec!["host".to_owned()]);
            graph.edges.push(Edge { from, to, kind: EdgeKind::Root, figures: Some(figures) });
        }
        for plugin in &plugin_dir.plugins {
            let (id, plug) = (plugin.plugin_id(), plugin.plug_id());
            let this = node(&mut graph, format!("plugin:{id}"), Shape::Plugin, vec![id.to_owned()]);
            // An interface no folder defines is still drawn, by its name.
            let to = node(&mut graph, format!("interface:{plug}"), interface(plug), vec![plug.to_owned()]);
            let figures = observed.figures(From::Anyone, plug, Some(id));
            graph.edges.push(Edge { from: this, to, kind: EdgeKind::Plug, figures });
            for socket in plugin.socket_ids() {
                let from = node(&mut graph, format!("interface:{socket}"), interface(socket), vec![socket.clone()]);
                let (kind, figures) = if observed.is_frozen(id, socket) {
                    (EdgeKind::Frozen, None)
                } else {
                    (EdgeKind::Socket, observed.figures(From::Plugin(id), socket, None))
                };
                graph.edges.push(Edge { from, to: this, kind, figures });
            }
        }
        graph
    }
}

/// `n` as a coordinate.
fn count(n: usize) -> f64 {
    f64::from(u32::try_from(n).unwrap_or(u32::MAX))
}

/// The width of `text` in a sans-serif font of `size` px, estimated from its
/// characters: the widths of `DejaVu Sans` (the widest of the usual sans
/// faces) in a few classes, so a box fits Helvetica and Arial as well.
fn text_width(text: &str, size: f64, bold: bool) -> f64 {
    let em: f64 = text
        .chars()
        .map(|c| match c {
            'i' | 'j' | 'l' | 'I' | 'J' | '\'' | '.' | ',' | ':' | ';' | '|' | '!' | ' ' | '·' | '/' => 0.34,
            'f' | 'r' | 't' | '(' | ')' | '[' | ']' | '{' | '}' | '-' => 0.41,
            'm' | 'w' | 'M' | 'W' | '@' | '%' => 1.0,
            'A'..='Z' => 0.78,
            'µ' => 0.64,
            c if c.is_ascii() => 0.64,
            _ => 1.0,
        })
        .sum();
    em * size * if bold { 1.1 } else { 1.0 }
}

/// `text` as XML character data or attribute value: markup escaped, and the
/// characters XML cannot hold at all (most controls) replaced.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(' '),
            c if c < ' ' || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// A coordinate as written: one decimal, never `-0.0`.
fn num(value: f64) -> String {
    let rounded = (value * 10.0).round() / 10.0;
    if rounded == 0.0 { "0".to_owned() } else { format!("{rounded}") }
}

/// Each node's rank (its column, left to right) and, for each edge, whether
/// the layout takes it backwards (it closes a cycle).
fn ranks(nodes: usize, edges: &[(usize, usize)]) -> (Vec<usize>, Vec<bool>) {
    // Kahn's order; when only a cycle is left, its first node goes next.
    let mut waiting = vec![0_usize; nodes];
    let mut out = vec![Vec::new(); nodes];
    for &(from, to) in edges {
        waiting[to] += 1;
        out[from].push(to);
    }
    let mut ready: BTreeSet<usize> = (0..nodes).filter(|&n| waiting[n] == 0).collect();
    let mut placed = vec![false; nodes];
    let mut position = vec![0; nodes];
    let mut next_unplaced = 0;
    for step in 0..nodes {
        let node = if let Some(node) = ready.pop_first() {
            node
        } else {
            while next_unplaced < nodes && placed[next_unplaced] {
                next_unplaced += 1;
            }
            if next_unplaced == nodes {
                break;
            }
            next_unplaced
        };
        placed[node] = true;
        position[node] = step;
        for &to in &out[node] {
            if !placed[to] {
                waiting[to] = waiting[to].saturating_sub(1);
                if waiting[to] == 0 {
                    ready.insert(to);
                }
            }
        }
    }
    let reversed: Vec<bool> = edges.iter().map(|&(from, to)| position[from] > position[to]).collect();
    // The edges as laid out: each from an earlier node in that order.
    let mut preds = vec![Vec::new(); nodes];
    let mut succs = vec![Vec::new(); nodes];
    for (&(from, to), &back) in edges.iter().zip(&reversed) {
        let (from, to) = if back { (to, from) } else { (from, to) };
        preds[to].push(from);
        succs[from].push(to);
    }
    let mut order: Vec<usize> = (0..nodes).collect();
    order.sort_by_key(|&n| position[n]);
    // Longest path from a source.
    let mut rank = vec![0_usize; nodes];
    for &node in &order {
        rank[node] = preds[node].iter().map(|&p| rank[p] + 1).max().unwrap_or(0);
    }
    // A node with no more edges in than out moves up to just before its
    // nearest successor: its edges get no longer in total, and a plugin
    // that takes nothing sits beside the interface it serves instead of at
    // the far left.
    for &node in order.iter().rev() {
        if let Some(nearest) = succs[node].iter().map(|&s| rank[s]).min()
            && preds[node].len() <= succs[node].len()
        {
            rank[node] = rank[node].max(nearest.saturating_sub(1));
        }
    }
    (rank, reversed)
}

/// One thing placed in a column: a node, an edge's label, or the point
/// where an edge crosses a column.
struct Element {
    column: usize,
    width: f64,
    height: f64,
    is_node: bool,
    /// Whether its left and right ends are round (a plugin's).
    round: bool,
    /// Its centre, once placed.
    x: f64,
    y: f64,
}

/// The laid-out drawing: elements by column, and each edge's elements from
/// its first column to its last.
struct Layout {
    elements: Vec<Element>,
    columns: Vec<Vec<usize>>,
    /// Per edge: its elements left to right, both end nodes included;
    /// `None` for an edge left out (a node's edge to itself).
    chains: Vec<Option<Vec<usize>>>,
    /// Per edge: its label's element.
    labels: Vec<Option<usize>>,
    /// Per edge: how far below the centre of its left and of its right end
    /// node it leaves and arrives, so that a node's edges fan out from its
    /// side instead of one point.
    ports: Vec<(f64, f64)>,
    reversed: Vec<bool>,
    /// Each column's left and right side.
    sides: Vec<(f64, f64)>,
    width: f64,
    height: f64,
}

impl Layout {
    fn new(graph: &Graph) -> Self {
        let kept: Vec<(usize, usize)> = graph.edges.iter().filter(|e| e.from != e.to).map(|e| (e.from, e.to)).collect();
        let (rank, kept_reversed) = ranks(graph.nodes.len(), &kept);
        let mut elements: Vec<Element> = graph
            .nodes
            .iter()
            .zip(&rank)
            .map(|(node, &rank)| {
                let (width, height) = node.size();
                let round = node.shape == Shape::Plugin;
                Element { column: 2 * rank, width, height, is_node: true, round, x: 0.0, y: 0.0 }
            })
            .collect();
        let mut chains = Vec::with_capacity(graph.edges.len());
        let mut labels = Vec::with_capacity(graph.edges.len());
        let mut reversed = Vec::with_capacity(graph.edges.len());
        // A node's edge to itself (none can be drawn now) is left out.
        let mut kept_reversed = kept_reversed.into_iter();
        for edge in &graph.edges {
            if edge.from == edge.to {
                chains.push(None);
                labels.push(None);
                reversed.push(false);
                continue;
            }
            let back = kept_reversed.next().unwrap_or(false);
            let (left, right) = if back { (edge.to, edge.from) } else { (edge.from, edge.to) };
            // Ranks strictly increase along a laid-out edge, so the columns
            // between its ends are never empty; the middle one holds its label.
            let (first, last) = (elements[left].column + 1, elements[right].column);
            let middle = first + (last.saturating_sub(first + 1)) / 2;
            let mut chain = vec![left];
            let mut label = None;
            for column in first..last {
                let (width, height) = if column == middle { edge.label_size() } else { (0.0, 0.0) };
                elements.push(Element { column, width, height, is_node: false, round: false, x: 0.0, y: 0.0 });
                chain.push(elements.len() - 1);
                if column == middle {
                    label = Some(elements.len() - 1);
                }
            }
            chain.push(right);
            chains.push(Some(chain));
            labels.push(label);
            reversed.push(back);
        }
        let width = elements.iter().map(|e| e.column + 1).max().unwrap_or(0);
        let mut columns = vec![Vec::new(); width];
        for (index, element) in elements.iter().enumerate() {
            columns[element.column].push(index);
        }
        let mut layout = Self {
            elements,
            columns,
            chains,
            labels,
            ports: Vec::new(),
            reversed,
            sides: Vec::new(),
            width: 2.0 * MARGIN,
            height: 2.0 * MARGIN,
        };
        let (left, right) = layout.neighbours();
        layout.order(&left, &right);
        layout.place_vertically(&left, &right);
        layout.place_horizontally(&right);
        layout.spread_ports();
        layout.fit();
        layout
    }

    /// Each element's neighbours in the column before it and after it.
    fn neighbours(&self) -> (Vec<Vec<usize>>, Vec<Vec<usize>>) {
        let mut left = vec![Vec::new(); self.elements.len()];
        let mut right = vec![Vec::new(); self.elements.len()];
        for chain in self.chains.iter().flatten() {
            for pair in chain.windows(2) {
                right[pair[0]].push(pair[1]);
                left[pair[1]].push(pair[0]);
            }
        }
        (left, right)
    }

    /// Orders each column: barycenter sweeps, right then left, keeping the
    /// order with the fewest crossings.
    fn order(&mut self, left: &[Vec<usize>], right: &[Vec<usize>]) {
        let mut position = vec![0.0; self.elements.len()];
        let index = |columns: &[Vec<usize>], position: &mut [f64]| {
            for column in columns {
                for (i, &e) in column.iter().enumerate() {
                    position[e] = count(i);
                }
            }
        };
        index(&self.columns, &mut position);
        let mut best = (crossings(&self.columns, right, &position), self.columns.clone());
        for sweep in 0..8 {
            let forward = sweep % 2 == 0;
            let columns: Vec<usize> = if forward {
                (1..self.columns.len()).collect()
            } else {
                (0..self.columns.len()).rev().skip(1).collect()
            };
            for c in columns {
                let by = if forward { left } else { right };
                let mut keyed: Vec<(f64, usize)> = self.columns[c]
                    .iter()
                    .map(|&e| {
                        let pulls = &by[e];
                        let key = if pulls.is_empty() {
                            position[e]
                        } else {
                            pulls.iter().map(|&n| position[n]).sum::<f64>() / count(pulls.len())
                        };
                        (key, e)
                    })
                    .collect();
                keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
                self.columns[c] = keyed.into_iter().map(|(_, e)| e).collect();
                for (i, &e) in self.columns[c].iter().enumerate() {
                    position[e] = count(i);
                }
            }
            let now = crossings(&self.columns, right, &position);
            if now < best.0 {
                best = (now, self.columns.clone());
            }
        }
        self.columns = best.1;
    }

    /// The least distance between the centres of two elements one above
    /// the other.
    fn separation(&self, above: usize, below: usize) -> f64 {
        let (a, b) = (&self.elements[above], &self.elements[below]);
        let gap = if a.is_node && b.is_node { NODE_GAP } else { EDGE_GAP };
        f64::midpoint(a.height, b.height) + gap
    }

    /// Places each column's elements vertically, in their order: pulled
    /// towards the mean of their neighbours, alternately those on the left,
    /// on the right and on both sides.
    fn place_vertically(&mut self, left: &[Vec<usize>], right: &[Vec<usize>]) {
        for c in 0..self.columns.len() {
            let mut y = 0.0;
            for i in 0..self.columns[c].len() {
                if i > 0 {
                    y += self.separation(self.columns[c][i - 1], self.columns[c][i]);
                }
                self.elements[self.columns[c][i]].y = y;
            }
        }
        let both: Vec<Vec<usize>> = left.iter().zip(right).map(|(l, r)| l.iter().chain(r).copied().collect()).collect();
        for round in 0..30 {
            let (pulls, forward) = match round % 3 {
                0 => (left, true),
                1 => (right, false),
                _ => (both.as_slice(), true),
            };
            let columns: Vec<usize> =
                if forward { (0..self.columns.len()).collect() } else { (0..self.columns.len()).rev().collect() };
            for c in columns {
                let column = &self.columns[c];
                let wanted: Vec<f64> = column
                    .iter()
                    .map(|&e| {
                        let pulls = &pulls[e];
                        if pulls.is_empty() {
                            self.elements[e].y
                        } else {
                            pulls.iter().map(|&n| self.elements[n].y).sum::<f64>() / count(pulls.len())
                        }
                    })
                    .collect();
                let separations: Vec<f64> = column.windows(2).map(|p| self.separation(p[0], p[1])).collect();
                let placed = closest_spaced(&wanted, &separations);
                for (&e, y) in self.columns[c].iter().zip(placed) {
                    self.elements[e].y = y;
                }
            }
        }
    }

    /// Sizes the columns by their widest element and the gaps between them
    /// by the steepest edge crossing them, and centres each element in its
    /// column.
    fn place_horizontally(&mut self, right: &[Vec<usize>]) {
        let mut x = 0.0;
        self.sides.clear();
        for c in 0..self.columns.len() {
            let width = self.columns[c].iter().map(|&e| self.elements[e].width).fold(0.0, f64::max);
            self.sides.push((x, x + width));
            for &e in &self.columns[c] {
                self.elements[e].x = x + width / 2.0;
            }
            let rise = self.columns[c]
                .iter()
                .flat_map(|&e| right[e].iter().map(move |&n| (e, n)))
                .map(|(e, n)| (self.elements[e].y - self.elements[n].y).abs())
                .fold(0.0, f64::max);
            x += width + (rise * 0.5).clamp(MIN_COLUMN_GAP, MAX_COLUMN_GAP);
        }
    }

    /// Spreads each node's edges along its side, in the order of the
    /// elements they come from or go to, a few px apart.
    fn spread_ports(&mut self) {
        self.ports = vec![(0.0, 0.0); self.chains.len()];
        // Per node: (the neighbour's height, edge, leaving) of each edge at
        // its right side, then at its left side.
        let mut sides: Vec<[Vec<(f64, usize)>; 2]> =
            (0..self.elements.len()).map(|_| [Vec::new(), Vec::new()]).collect();
        for (edge, chain) in self.chains.iter().enumerate() {
            let Some(chain) = chain else { continue };
            if let [first, second, ..] = chain[..] {
                sides[first][0].push((self.elements[second].y, edge));
            }
            if let [.., before, last] = chain[..] {
                sides[last][1].push((self.elements[before].y, edge));
            }
        }
        for (node, [right, left]) in sides.iter_mut().enumerate() {
            let room = self.elements[node].height * 0.7;
            for (side, edges) in [right, left].into_iter().enumerate() {
                edges.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                let step = if edges.len() > 1 { (room / count(edges.len() - 1)).min(8.0) } else { 0.0 };
                let middle = count(edges.len().saturating_sub(1)) / 2.0;
                for (i, &(_, edge)) in edges.iter().enumerate() {
                    let offset = (count(i) - middle) * step;
                    if side == 0 {
                        self.ports[edge].0 = offset;
                    } else {
                        self.ports[edge].1 = offset;
                    }
                }
            }
        }
    }

    /// How far in from its box's side an element's border is `offset` from
    /// its middle: round ends curve in.
    fn inset(&self, element: usize, offset: f64) -> f64 {
        let e = &self.elements[element];
        if !e.round {
            return 0.0;
        }
        let r = e.height / 2.0;
        let offset = offset.abs().min(r);
        r - (r * r - offset * offset).sqrt()
    }

    /// Moves the content to the margin and sizes the canvas to fit it.
    fn fit(&mut self) {
        let mut low = (f64::INFINITY, f64::INFINITY);
        let mut high = (f64::NEG_INFINITY, f64::NEG_INFINITY);
        for e in &self.elements {
            low = (low.0.min(e.x - e.width / 2.0), low.1.min(e.y - e.height / 2.0));
            high = (high.0.max(e.x + e.width / 2.0), high.1.max(e.y + e.height / 2.0));
        }
        if self.elements.is_empty() {
            return;
        }
        let shift = (MARGIN - low.0, MARGIN - low.1);
        for e in &mut self.elements {
            e.x += shift.0;
            e.y += shift.1;
        }
        for side in &mut self.sides {
            *side = (side.0 + shift.0, side.1 + shift.0);
        }
        self.width = (high.0 - low.0 + 2.0 * MARGIN).ceil();
        self.height = (high.1 - low.1 + 2.0 * MARGIN).ceil();
    }

    /// An edge's path, from its source to its target: straight through each
    /// column, a curve across each gap.
    fn path(&self, edge: usize) -> Option<String> {
        let chain = self.chains.get(edge)?.as_ref()?;
        let (leave, arrive) = self.ports.get(edge).copied().unwrap_or((0.0, 0.0));
        // Left to right: from the source's right side to its column's,
        // across each column between, from the target's column's left side
        // to its own.
        let mut runs: Vec<(f64, f64)> = Vec::with_capacity(2 * chain.len());
        for (i, &e) in chain.iter().enumerate() {
            let element = &self.elements[e];
            let (left, right) = self.sides.get(element.column).copied().unwrap_or((element.x, element.x));
            let (near, far) = (element.x - element.width / 2.0, element.x + element.width / 2.0);
            if i == 0 {
                let y = element.y + leave;
                runs.extend([(far - self.inset(e, leave), y), (right, y)]);
            } else if i + 1 == chain.len() {
                let y = element.y + arrive;
                runs.extend([(left, y), (near + self.inset(e, arrive), y)]);
            } else {
                runs.extend([(left, element.y), (right, element.y)]);
            }
        }
        runs.dedup_by(|b, a| (a.0 - b.0).abs() < 0.05 && (a.1 - b.1).abs() < 0.05);
        if self.reversed.get(edge).copied().unwrap_or(false) {
            runs.reverse();
        }
        let mut d = String::new();
        for (i, pair) in runs.windows(2).enumerate() {
            let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
            if i == 0 {
                let _ = write!(d, "M{},{}", num(x0), num(y0));
            }
            if (y0 - y1).abs() < 0.05 {
                let _ = write!(d, " L{},{}", num(x1), num(y1));
            } else {
                let middle = f64::midpoint(x0, x1);
                let _ = write!(d, " C{},{} {},{} {},{}", num(middle), num(y0), num(middle), num(y1), num(x1), num(y1));
            }
        }
        Some(d)
    }
}

/// The positions closest (least squares) to `wanted` that keep each one at
/// least `separations[i]` below the one before: with each position less
/// the separations above it, an isotonic regression (pool adjacent
/// violators).
fn closest_spaced(wanted: &[f64], separations: &[f64]) -> Vec<f64> {
    let mut offsets = Vec::with_capacity(wanted.len());
    let mut offset = 0.0;
    for i in 0..wanted.len() {
        if i > 0 {
            offset += separations.get(i - 1).copied().unwrap_or(0.0);
        }
        offsets.push(offset);
    }
    // Blocks of (sum, count), each block's mean no less than the last's.
    let mut blocks: Vec<(f64, usize)> = Vec::new();
    for (w, o) in wanted.iter().zip(&offsets) {
        let mut block = (w - o, 1);
        while let Some(&(sum, n)) = blocks.last() {
            if sum / count(n) > block.0 / count(block.1) {
                blocks.pop();
                block = (block.0 + sum, block.1 + n);
            } else {
                break;
            }
        }
        blocks.push(block);
    }
    let mut placed = Vec::with_capacity(wanted.len());
    for (sum, n) in blocks {
        placed.extend(std::iter::repeat_n(sum / count(n), n));
    }
    placed.iter().zip(&offsets).map(|(p, o)| p + o).collect()
}

/// How many pairs of links between neighbouring columns cross.
fn crossings(columns: &[Vec<usize>], right: &[Vec<usize>], position: &[f64]) -> usize {
    let mut total = 0;
    for column in columns {
        let links: Vec<(f64, f64)> =
            column.iter().flat_map(|&e| right[e].iter().map(move |&n| (position[e], position[n]))).collect();
        for (i, a) in links.iter().enumerate() {
            total += links[i + 1..].iter().filter(|b| (a.0 - b.0) * (a.1 - b.1) < 0.0).count();
        }
    }
    total
}

/// How an edge is stroked and its label coloured.
struct Stroke {
    colour: &'static str,
    width: f64,
    dashed: bool,
    marker: &'static str,
}

fn stroke(edge: &Edge, measured: bool) -> Stroke {
    let failed = edge.figures.as_ref().is_some_and(|f| f.failures > 0);
    let called = edge.figures.is_some();
    let (colour, marker) = if failed {
        (FAILED_INK, "arrow-failed")
    } else if edge.kind == EdgeKind::Frozen {
        (FROZEN_INK, "arrow-frozen")
    } else if measured && !called {
        (UNUSED_INK, "arrow-unused")
    } else {
        (EDGE_INK, "arrow")
    };
    let width = match (edge.kind, called) {
        (EdgeKind::Frozen, _) => 2.5,
        (_, true) => 2.0,
        (_, false) if measured => 1.0,
        _ => 1.3,
    };
    Stroke { colour, width, dashed: matches!(edge.kind, EdgeKind::Socket | EdgeKind::Root), marker }
}

/// The graph drawn as SVG.
fn svg(graph: &Graph) -> String {
    let layout = Layout::new(graph);
    let (width, height) = (num(layout.width), num(layout.height));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" font-family=\"Helvetica, Arial, sans-serif\">"
    );
    out.push_str("<defs>\n");
    for (id, colour) in
        [("arrow", EDGE_INK), ("arrow-unused", UNUSED_INK), ("arrow-failed", FAILED_INK), ("arrow-frozen", FROZEN_INK)]
    {
        let _ = writeln!(
            out,
            "<marker id=\"{id}\" viewBox=\"0 0 9 6\" refX=\"9\" refY=\"3\" markerWidth=\"9\" markerHeight=\"6\" \
             markerUnits=\"userSpaceOnUse\" orient=\"auto\"><path d=\"M0,0 L9,3 L0,6 z\" fill=\"{colour}\"/></marker>"
        );
    }
    out.push_str("</defs>\n");
    let _ = writeln!(out, "<rect width=\"{width}\" height=\"{height}\" fill=\"#ffffff\"/>");
    // Nodes first: the edges' arrowheads end on their borders.
    for (index, node) in graph.nodes.iter().enumerate() {
        draw_node(&mut out, node, &layout.elements[index]);
    }
    for (index, edge) in graph.edges.iter().enumerate() {
        let Some(path) = layout.path(index) else { continue };
        let stroke = stroke(edge, graph.measured);
        let (from, to) = (&graph.nodes[edge.from], &graph.nodes[edge.to]);
        let _ = writeln!(out, "<g class=\"edge {}\">", edge.kind.word());
        let _ =
            writeln!(out, "<title>{} → {}: {}</title>", xml(name(from)), xml(name(to)), xml(&edge.lines().join(" · ")));
        let dash = if stroke.dashed { " stroke-dasharray=\"6 4\"" } else { "" };
        let _ = writeln!(
            out,
            "<path d=\"{path}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{}\"{dash} marker-end=\"url(#{})\"/>",
            stroke.colour,
            num(stroke.width),
            stroke.marker
        );
        if let Some(label) = layout.labels[index] {
            draw_label(&mut out, edge, &layout.elements[label], &stroke);
        }
        out.push_str("</g>\n");
    }
    out.push_str("</svg>\n");
    out
}

/// A node's name: its first line.
fn name(node: &Node) -> &str {
    node.lines.first().map_or(node.key.as_str(), String::as_str)
}

fn draw_node(out: &mut String, node: &Node, at: &Element) {
    let (x, y) = (at.x - at.width / 2.0, at.y - at.height / 2.0);
    let (fill, border, radius, stroke_width) = match node.shape {
        Shape::Interface { root } => ("#e8f0fb", "#3d5a80", 3.0, if root { 2.5 } else { 1.2 }),
        Shape::Plugin => ("#fff4e0", "#b07a2a", at.height / 2.0, 1.2),
        Shape::Host => ("#eeeeee", "#666666", 3.0, 1.2),
    };
    let class = match node.shape {
        Shape::Interface { .. } => "interface",
        Shape::Plugin => "plugin",
        Shape::Host => "host",
    };
    let _ = writeln!(out, "<g class=\"node {class}\">");
    let _ = writeln!(
        out,
        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"{}\" fill=\"{fill}\" stroke=\"{border}\" \
         stroke-width=\"{}\"/>",
        num(x),
        num(y),
        num(at.width),
        num(at.height),
        num(radius),
        num(stroke_width)
    );
    let heights = node.line_heights();
    let mut top = at.y - heights.iter().sum::<f64>() / 2.0;
    for (index, (line, height)) in node.lines.iter().zip(heights).enumerate() {
        let size = if index == 0 { NAME_SIZE } else { SMALL_SIZE };
        let weight =
            if index == 0 && node.shape == (Shape::Interface { root: true }) { " font-weight=\"bold\"" } else { "" };
        let colour = if index == 0 { INK } else { "#555555" };
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" font-size=\"{}\" text-anchor=\"middle\" fill=\"{colour}\"{weight}>{}</text>",
            num(at.x),
            num(top + height / 2.0 + 0.35 * size),
            num(size),
            xml(line)
        );
        top += height;
    }
    out.push_str("</g>\n");
}

/// An edge's label: its lines on a white box over the edge, centred on it.
fn draw_label(out: &mut String, edge: &Edge, at: &Element, stroke: &Stroke) {
    let _ = writeln!(
        out,
        "<rect class=\"label\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"4\" fill=\"#ffffff\" \
         stroke=\"{}\" stroke-width=\"0.6\"/>",
        num(at.x - at.width / 2.0),
        num(at.y - at.height / 2.0),
        num(at.width),
        num(at.height),
        stroke.colour
    );
    let lines = edge.lines();
    let mut top = at.y - 14.0 * count(lines.len()) / 2.0;
    for (index, line) in lines.iter().enumerate() {
        // The kind in the edge's colour; the figures darker, to be read.
        let colour = if stroke.colour == EDGE_INK && index > 0 { INK } else { stroke.colour };
        let style = if index == 0 { " font-style=\"italic\"" } else { "" };
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" font-size=\"{}\" text-anchor=\"middle\" fill=\"{colour}\"{style}>{}</text>",
            num(at.x),
            num(top + 7.0 + 0.35 * SMALL_SIZE),
            num(SMALL_SIZE),
            xml(line)
        );
        top += 14.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ranks strictly increase along every edge as laid out.
    fn assert_layered(nodes: usize, edges: &[(usize, usize)]) {
        let (rank, reversed) = ranks(nodes, edges);
        for (&(from, to), &back) in edges.iter().zip(&reversed) {
            let (from, to) = if back { (to, from) } else { (from, to) };
            assert!(rank[from] < rank[to], "{edges:?}: {rank:?} {reversed:?}");
        }
    }

    #[test]
    fn cycles_are_broken_and_every_edge_still_goes_forward() {
        assert_layered(3, &[(0, 1), (1, 2), (2, 0)]);
        assert_layered(4, &[(0, 1), (1, 0), (1, 0), (2, 3), (3, 2), (1, 2)]);
        assert_layered(0, &[]);
        let (rank, reversed) = ranks(3, &[(0, 1), (1, 2)]);
        assert_eq!((rank, reversed), (vec![0, 1, 2], vec![false, false]));
        // A source pulled up beside the node it feeds.
        let (rank, _) = ranks(4, &[(0, 1), (1, 2), (3, 2)]);
        assert_eq!(rank, vec![0, 1, 2, 1]);
    }

    #[test]
    fn spacing_keeps_the_order_and_stays_closest_to_what_is_wanted() {
        assert_eq!(closest_spaced(&[0.0, 0.0], &[10.0]), vec![-5.0, 5.0]);
        assert_eq!(closest_spaced(&[0.0, 30.0, 31.0], &[10.0, 10.0]), vec![0.0, 25.5, 35.5]);
        assert!(closest_spaced(&[], &[]).is_empty());
    }

    #[test]
    fn any_graph_is_drawn_without_a_panic_and_with_every_edge() {
        // A small linear congruential generator: the same graphs each run.
        let mut seed: u64 = 7;
        let mut next = |below: usize| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            usize::try_from(seed >> 33).unwrap_or(0) % below.max(1)
        };
        for round in 0..200 {
            let nodes = next(12);
            let mut graph = Graph { nodes: Vec::new(), edges: Vec::new(), measured: round % 2 == 0 };
            for i in 0..nodes {
                let shape = [Shape::Plugin, Shape::Interface { root: i == 0 }, Shape::Host][next(3)];
                graph.nodes.push(Node { key: format!("n{i}"), shape, lines: vec![format!("<n&{i}>"); 1 + next(2)] });
            }
            let edges = if nodes == 0 { 0 } else { next(3 * nodes) };
            for _ in 0..edges {
                let kind = [EdgeKind::Plug, EdgeKind::Socket, EdgeKind::Frozen, EdgeKind::Root][next(4)];
                let figures = (next(2) == 0).then(|| Figures {
                    calls: 1 + next(20) as u64,
                    failures: next(3) as u64,
                    p50: Some(Duration::from_micros(next(5000) as u64)),
                    p99: None,
                });
                graph.edges.push(Edge { from: next(nodes), to: next(nodes), kind, figures });
            }
            let drawn = svg(&graph);
            let loops = graph.edges.iter().filter(|e| e.from == e.to).count();
            assert_eq!(drawn.matches("<g class=\"edge").count(), graph.edges.len() - loops, "{drawn}");
            assert!(!drawn.contains("NaN") && !drawn.contains("inf"), "{drawn}");
            assert!(!drawn.contains("<n&"), "{drawn}");
        }
    }
}
