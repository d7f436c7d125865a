//! The `wasm-link` command line, end to end, on the demo directory and on
//! broken copies of it.

#![allow(missing_docs, reason = "a test binary")]

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, Sender};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use predicates::prelude::*;
use tempfile::TempDir;

fn demo() -> PathBuf {
    PathBuf::from(wasm_link_guests::DEMO_DIR)
}

fn wasm_link() -> Command {
    Command::cargo_bin("wasm-link").expect("the binary is built")
}

/// The compile cache of the commands that load the demo itself: its
/// Python and JavaScript plugins (12 to 18 MB components, a language
/// runtime inside) compile once for all tests instead of once per load.
/// Inside this workspace's own build output.
fn demo_cache() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/cli-tests-cache")
}

/// A copy of the demo directory to break.
fn demo_copy() -> TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    wasm_link_guests::copy_demo(dir.path());
    dir
}

#[test]
fn check_reports_every_plugin_of_the_demo_as_loaded() {
    wasm_link()
        .args(["check"])
        .arg(demo())
        .arg("--cache")
        .arg(demo_cache())
        .assert()
        .success()
        .stdout(predicate::str::contains("ok      markdown-parser"))
        .stdout(predicate::str::contains("ok      table-formatter"))
        // The interface release each plugin serves, version included.
        // Only the parser plugin serves `parser`.
        .stdout(predicate::str::contains("\n          exports demo:parser/parser@0.1.0\n"))
        .stdout(predicate::str::contains("the root `app` can be served"));
}

#[test]
fn check_explains_a_corrupt_component_and_keeps_its_siblings() {
    let dir = demo_copy();
    std::fs::write(dir.path().join("plugins/word-count/word-count.wasm"), b"\0asm garbage").unwrap();
    wasm_link()
        .arg("check")
        .arg(dir.path())
        .assert()
        .success()
        .stdout(predicate::str::contains("FAILED  word-count"))
        .stdout(predicate::str::contains("word-count.wasm` is not a valid component"))
        .stdout(predicate::str::contains("(compile error)"))
        .stdout(predicate::str::contains("ok      readability"));
}

#[test]
fn check_names_the_file_and_line_of_a_manifest_typo() {
    let dir = demo_copy();
    let manifest = dir.path().join("plugins/capitalize/plugin.toml");
    let text = std::fs::read_to_string(&manifest).unwrap().replace("sockets", "sokets");
    std::fs::write(&manifest, text).unwrap();
    wasm_link()
        .arg("check")
        .arg(dir.path())
        .assert()
        .success()
        .stdout(predicate::str::contains("capitalize/plugin.toml` line 3"))
        .stdout(predicate::str::contains("unknown field `sokets`"));
}

#[test]
fn check_fails_when_the_exactly_one_parser_is_missing() {
    let dir = demo_copy();
    std::fs::remove_dir_all(dir.path().join("plugins/markdown-parser")).unwrap();
    wasm_link()
        .arg("check")
        .arg(dir.path())
        .assert()
        .code(1)
        .stdout(predicate::str::contains("interface `parser` needs exactly one plugin(s) but none implements it"))
        .stdout(predicate::str::contains("FAILED  pipeline"))
        .stdout(predicate::str::contains("(missing socket)"))
        .stdout(predicate::str::contains("cannot be served"));
}

#[test]
fn check_reports_a_plugin_whose_exports_do_not_match_its_plug_in_wit() {
    let dir = demo_copy();
    // A transform's component installed as an analyser.
    std::fs::copy(
        dir.path().join("plugins/capitalize/capitalize.wasm"),
        dir.path().join("plugins/word-count/word-count.wasm"),
    )
    .unwrap();
    wasm_link()
        .arg("check")
        .arg(dir.path())
        .assert()
        .success()
        .stdout(predicate::str::contains("FAILED  word-count"))
        .stdout(predicate::str::contains("(type mismatch)"))
        .stdout(predicate::str::contains("demo:analyser/analyser@0.1.0"));
}

/// A copy of the demo where `capitalize` also takes `app`, which the
/// pipeline serves from the transforms: a dependency cycle.
fn demo_with_a_cycle() -> TempDir {
    let dir = demo_copy();
    let manifest = dir.path().join("plugins/capitalize/plugin.toml");
    let text = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("sockets = [\"parser\"]", "sockets = [\"parser\", \"app\"]");
    std::fs::write(&manifest, text).unwrap();
    dir
}

#[test]
fn check_reports_a_dependency_cycle() {
    let dir = demo_with_a_cycle();
    wasm_link().arg("check").arg(dir.path()).assert().code(1).stdout(predicate::str::contains("(cycle)"));
}

#[test]
fn call_runs_the_pipeline_and_removing_the_formatter_changes_the_output() {
    let source = "\"# Title\\n\\nsome   text.\"";
    wasm_link()
        .args(["call"])
        .arg(demo())
        .args(["app", "run", source, "--cache"])
        .arg(demo_cache())
        .assert()
        .success()
        .stdout(predicate::str::contains("| Title |"));
    let dir = demo_copy();
    std::fs::remove_dir_all(dir.path().join("plugins/table-formatter")).unwrap();
    wasm_link()
        .arg("call")
        .arg(dir.path())
        .args(["app", "run", source])
        .assert()
        .success()
        .stdout(predicate::str::contains("| Title |").not())
        .stdout(predicate::str::contains("word-count.words = 2"));
}

#[test]
fn call_rejects_arguments_that_are_not_wave_of_the_right_type() {
    wasm_link()
        .arg("call")
        .arg(demo())
        .args(["app", "run", "42", "--cache"])
        .arg(demo_cache())
        .assert()
        .failure()
        .stderr(predicate::str::contains("argument `source`"));
}

#[test]
fn graph_draws_plugs_and_sockets_with_cardinalities() {
    wasm_link()
        .arg("graph")
        .arg(demo())
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "\"interface:analyser\" [shape=box, label=\"analyser\\n(at least one, @0.1.0)\"",
        ))
        .stdout(predicate::str::contains("\"plugin:pipeline\" -> \"interface:app\""))
        .stdout(predicate::str::contains("\"interface:parser\" -> \"plugin:trim-whitespace\""));
    wasm_link()
        .arg("graph")
        .arg(demo())
        .args(["--format", "mermaid"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("flowchart LR"));
}

#[test]
fn wit_prints_a_world_that_parses_with_sockets_in_their_cardinality_shape() {
    let output = wasm_link().arg("wit").arg(demo()).arg("pipeline").output().unwrap();
    assert!(output.status.success());
    let wit = String::from_utf8(output.stdout).unwrap();
    assert!(wit.contains("analyse: func(doc: borrow<document>) -> list<list<metric>>;"), "{wit}");
    assert!(wit.contains("render: func(report: report) -> option<string>;"), "{wit}");
    let mut resolve = wit_parser::Resolve::new();
    resolve.push_source("scaffold.wit", &wit).expect("the generated WIT parses");
}

#[test]
fn wit_prints_the_world_of_a_plugin_not_built_yet_with_only_the_packages_it_needs() {
    let dir = demo_copy();
    let folder = dir.path().join("plugins/expand");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(
        folder.join("plugin.toml"),
        "id = \"expand\"\nplug = \"transform\"\nsockets = [\"parser\"]\ncomponent = \"expand.wasm\"\n",
    )
    .unwrap();
    let output = wasm_link().arg("wit").arg(dir.path()).arg("expand").output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let wit = String::from_utf8(output.stdout).unwrap();
    assert!(wit.contains("import demo:parser/parser@0.1.0;"), "{wit}");
    assert!(wit.contains("export demo:transform/transform@0.1.0;"), "{wit}");
    assert!(wit.contains("an older release\n// on an interface's track is served too"), "{wit}");
    for unused in ["demo:analyser", "demo:app", "demo:formatter"] {
        assert!(!wit.contains(unused), "`{unused}` is not used by `expand`: {wit}");
    }
    let mut resolve = wit_parser::Resolve::new();
    resolve.push_source("expand.wit", &wit).expect("the generated WIT parses");
    // A plugin the directory does not have at all is still an error.
    wasm_link()
        .arg("wit")
        .arg(dir.path())
        .arg("nowhere")
        .assert()
        .failure()
        .stderr(predicate::str::contains("has no plugin `nowhere`"));
}

#[test]
fn call_prints_a_string_as_its_text_in_wave_or_as_json() {
    let call = |output: &str| {
        let out = wasm_link()
            .arg("call")
            .arg(demo())
            .args(["app", "run", "\"# Title\\n\\nsome text.\"", "--output", output, "--cache"])
            .arg(demo_cache())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let text = call("text");
    assert!(text.lines().any(|line| line == "| Title |"), "the report's own lines: {text}");
    let wave = call("wave");
    assert!(wave.starts_with('"') && wave.contains("| Title |\\n"), "one WAVE string: {wave}");
    let json: serde_json::Value = serde_json::from_str(&call("json")).expect("one JSON document");
    assert!(json["value"].as_str().is_some_and(|report| report.contains("| Title |\n")), "{json}");
}

/// A child process killed when dropped, so that a failed assertion does not
/// leave it following a deleted directory.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sends every line `from` gives to `to`, on a thread of its own.
fn forward_lines(from: impl Read + Send + 'static, to: Sender<String>) {
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { break };
            if to.send(line).is_err() {
                break;
            }
        }
    });
}

/// The lines up to and including the first one containing `needle`;
/// panics, showing what came, when none does within `timeout`.
fn lines_until(lines: &Receiver<String>, needle: &str, timeout: Duration) -> Vec<String> {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                let found = line.contains(needle);
                seen.push(line);
                if found {
                    return seen;
                }
            }
            Err(error) => panic!("no line with `{needle}` within {timeout:?} ({error}); got:\n{}", seen.join("\n")),
        }
    }
}

#[test]
fn call_watch_calls_again_after_a_swap_and_keeps_serving_through_a_broken_change() {
    let dir = demo_copy();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_wasm-link"))
        .arg("call")
        .arg(dir.path())
        .args(["app", "run", "\"# T\\n\\nhello   world.\"", "--watch"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wasm-link starts");
    let mut child = KillOnDrop(child);
    let (sender, lines) = std::sync::mpsc::channel();
    forward_lines(child.0.stdout.take().expect("piped stdout"), sender.clone());
    forward_lines(child.0.stderr.take().expect("piped stderr"), sender);
    let timeout = Duration::from_secs(30);

    // `following` (on standard error) is printed once the directory is
    // followed, after the first result (on standard output); the two
    // streams' lines may come in either order.
    let mut first = lines_until(&lines, "following", timeout);
    if !first.iter().any(|l| l.contains("Hello world.")) {
        first.extend(lines_until(&lines, "Hello world.", timeout));
    }
    assert!(!first.iter().any(|l| l.starts_with("watch:")), "{first:?}");

    // `capitalize` gets the code of `trim-whitespace`: the output loses its
    // capital.
    let plugins = dir.path().join("plugins");
    let code = std::fs::read(plugins.join("trim-whitespace/trim-whitespace.wasm")).unwrap();
    std::fs::write(plugins.join("capitalize/capitalize.wasm"), code).unwrap();
    let after = lines_until(&lines, "hello world.", timeout);
    assert!(after.iter().any(|l| l.starts_with("watch: replaced `capitalize`")), "{after:?}");
    assert!(!after.iter().any(|l| l.contains("Hello world.")), "{after:?}");

    // A broken component is refused, and the version before it keeps serving.
    std::fs::write(plugins.join("capitalize/capitalize.wasm"), b"\0asm garbage").unwrap();
    let refused = lines_until(&lines, "watch: kept `capitalize` as it was", timeout);
    assert!(refused.iter().any(|l| l.contains("not a valid component")), "{refused:?}");
    let still = lines_until(&lines, "world.", timeout);
    assert!(still.last().is_some_and(|l| l.contains("hello world.")), "{still:?}");

    assert!(child.0.try_wait().unwrap().is_none(), "still following");
}

#[test]
fn check_and_graph_show_a_frozen_group_of_rust_plugins() {
    // Rooted at `transform` with one transform left, the demo's
    // `capitalize` is the parser's only consumer: the two compose.
    let dir = demo_copy();
    std::fs::remove_dir_all(dir.path().join("plugins/trim-whitespace")).unwrap();
    let manifest = dir.path().join("wasm-link.toml");
    let text = std::fs::read_to_string(&manifest).unwrap().replace("root = \"app\"", "root = \"transform\"");
    std::fs::write(&manifest, text).unwrap();
    wasm_link()
        .args(["check", "--freeze"])
        .arg(dir.path())
        .assert()
        .success()
        .stdout(predicate::str::contains("ok      markdown-parser (plug `parser`), frozen into `capitalize`"))
        .stdout(predicate::str::contains("`capitalize`: capitalize + markdown-parser"))
        .stdout(predicate::str::contains("capitalize -> parser -> markdown-parser"));
    wasm_link()
        .args(["graph", "--freeze", "--format", "mermaid"])
        .arg(dir.path())
        .assert()
        .success()
        .stdout(predicate::str::contains("i_parser ==>|frozen| p_capitalize"))
        .stdout(predicate::str::contains("i_parser -.->|socket| p_pipeline"));
}

#[test]
fn check_freeze_on_the_demo_says_why_each_edge_stays_dynamic() {
    wasm_link()
        .args(["check", "--freeze"])
        .arg(demo())
        .arg("--cache")
        .arg(demo_cache())
        .assert()
        .success()
        .stdout(predicate::str::contains("  no group"))
        .stdout(predicate::str::contains(
            "pipeline -> parser: `markdown-parser` also serves `capitalize`, `code-spans`, `trim-whitespace`, \
             `readability`, `vocabulary`, `word-count`",
        ));
}

/// The guests' target directory: a generated crate built there reuses their
/// compiled wit-bindgen (same version, features and profile).
fn guests_target() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/guests")
}

#[test]
fn new_then_build_then_check_then_call_shows_the_new_plugin() {
    let dir = demo_copy();
    wasm_link()
        .args(["new"])
        .arg(dir.path())
        .args(["expand", "--plug", "transform", "--socket", "parser"])
        .assert()
        .success()
        .stdout(predicate::str::contains("wasm-link build"));
    let folder = dir.path().join("plugins/expand");
    for file in ["plugin.toml", "Cargo.toml", "wit/world.wit", "src/lib.rs"] {
        assert!(folder.join(file).is_file(), "`{file}` written");
    }
    // Before it is built, `check` says what is missing and `wit` still works.
    wasm_link().arg("check").arg(dir.path()).assert().stdout(predicate::str::contains("expand.wasm` does not exist"));
    wasm_link().arg("wit").arg(dir.path()).arg("expand").assert().success();
    // The stub compiles as written; give it a body with an effect.
    let lib = folder.join("src/lib.rs");
    let source = std::fs::read_to_string(&lib).unwrap();
    assert!(source.contains("fn apply(") && source.contains("todo!()"), "{source}");
    let source = source.replace(
        "todo!()",
        "doc.set_paragraphs(&[String::from(\"Expanded.\")]);\n        String::from(\"expanded the document\")",
    );
    std::fs::write(&lib, source).unwrap();
    wasm_link()
        .arg("build")
        .arg(dir.path())
        .arg("expand")
        .env("CARGO_TARGET_DIR", guests_target())
        .assert()
        .success()
        .stdout(predicate::str::contains("built   expand"));
    wasm_link()
        .arg("check")
        .arg(dir.path())
        .assert()
        .success()
        .stdout(predicate::str::contains("ok      expand (plug `transform`)"));
    wasm_link()
        .arg("call")
        .arg(dir.path())
        .args(["app", "run", "\"# Title\\n\\nsome text.\""])
        .assert()
        .success()
        .stdout(predicate::str::contains("* expanded the document"))
        .stdout(predicate::str::contains("Expanded."));
}

#[test]
fn new_refuses_a_bad_id_a_taken_id_and_an_unknown_interface() {
    let dir = demo_copy();
    let new = |args: &[&str]| wasm_link().arg("new").arg(dir.path()).args(args).assert().failure();
    new(&["Bad_Id", "--plug", "transform"]).stderr(predicate::str::contains("`Bad_Id` is not a plugin id"));
    new(&["list", "--plug", "transform"]).stderr(predicate::str::contains("`list` is not a plugin id"));
    new(&["capitalize", "--plug", "transform"]).stderr(predicate::str::contains("already has a plugin `capitalize`"));
    new(&["fresh", "--plug", "transfrom"])
        .stderr(predicate::str::contains("has no interface `transfrom`"))
        .stderr(predicate::str::contains("transform"));
    new(&["fresh", "--plug", "transform", "--socket", "nope"]).stderr(predicate::str::contains("no interface `nope`"));
    assert!(!dir.path().join("plugins/fresh").exists(), "nothing written");
}

#[test]
fn graph_draws_an_svg_picture_naming_every_plugin_and_interface() {
    let output = wasm_link().args(["graph", "--format", "svg"]).arg(demo()).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let svg = String::from_utf8(output.stdout).unwrap();
    let document = roxmltree::Document::parse(&svg).expect("well-formed SVG");
    assert_eq!(document.root_element().tag_name().name(), "svg");
    // What is written on the picture (not its tooltips).
    let texts: Vec<&str> =
        document.descendants().filter(|n| n.has_tag_name("text")).filter_map(|n| n.text()).map(str::trim).collect();
    let words: Vec<&str> = texts.iter().flat_map(|t| t.split_whitespace()).collect();
    for name in [
        "pipeline",
        "markdown-parser",
        "capitalize",
        "trim-whitespace",
        "word-count",
        "readability",
        "table-formatter",
        "app",
        "parser",
        "transform",
        "analyser",
        "formatter",
    ] {
        assert!(words.contains(&name), "`{name}` is drawn: {texts:?}");
    }
}

#[test]
fn graph_with_stats_labels_every_edge_the_call_crossed() {
    let output = wasm_link()
        .arg("graph")
        .arg(demo())
        .args(["--stats", "run", "--arg", "\"# Title\\n\\nsome text.\"", "--cache"])
        .arg(demo_cache())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let dot = String::from_utf8(output.stdout).unwrap();
    let line = |needle: &str| {
        dot.lines().find(|l| l.contains(needle)).unwrap_or_else(|| panic!("no line with {needle} in\n{dot}")).to_owned()
    };
    assert!(line(r#""interface:app" -> "host""#).contains("root: 1 call, p50 "), "{dot}");
    let root = line(r#""interface:app" -> "host""#);
    assert!(root.contains(" µs, p99 ") || root.contains(" ms, p99 "), "{dot}");
    assert!(line(r#""plugin:pipeline" -> "interface:app""#).contains("plug: 1 call, p50 "), "{dot}");
    // Every plugin of the demo serves the one call.
    for plugin in [
        "markdown-parser",
        "capitalize",
        "code-spans",
        "trim-whitespace",
        "vocabulary",
        "word-count",
        "readability",
        "table-formatter",
    ] {
        let plug = line(&format!(r#""plugin:{plugin}" -> "interface:"#));
        assert!(plug.contains("call") && (plug.contains(" µs") || plug.contains(" ms")), "{plug}");
    }
    // The pipeline calls its three transforms through one socket.
    assert!(line(r#""interface:transform" -> "plugin:pipeline""#).contains("socket: 3 calls"), "{dot}");
    assert!(!dot.contains("failed"), "{dot}");

    // A call the root cannot take is refused before anything is drawn.
    wasm_link()
        .arg("graph")
        .arg(demo())
        .args(["--stats", "run", "--cache"])
        .arg(demo_cache())
        .assert()
        .failure()
        .stderr(predicate::str::contains("takes 1 argument(s)"));
}

/// What a test reads back from `graph --format svg`.
struct Picture {
    width: f64,
    height: f64,
    /// Every node's box.
    nodes: Vec<Area>,
    edges: Vec<DrawnEdge>,
}

#[derive(Clone, Copy, Debug)]
struct Area {
    x: f64,
    y: f64,
    width: f64,
    height: f64,
}

impl Area {
    fn centre(self) -> (f64, f64) {
        (self.x + self.width / 2.0, self.y + self.height / 2.0)
    }

    fn overlaps(self, other: Self) -> bool {
        self.x < other.x + other.width
            && other.x < self.x + self.width
            && self.y < other.y + other.height
            && other.y < self.y + self.height
    }
}

#[derive(Debug)]
struct DrawnEdge {
    /// `FROM → TO: LABEL`.
    title: String,
    stroke: String,
    /// The path, as a polyline of many points.
    points: Vec<(f64, f64)>,
    label: Area,
    /// The label's lines and the colour each is written in.
    label_lines: Vec<(String, String)>,
}

fn number(attribute: Option<&str>) -> f64 {
    attribute.and_then(|a| a.parse().ok()).unwrap_or_else(|| panic!("a number: {attribute:?}"))
}

fn area(node: roxmltree::Node<'_, '_>) -> Area {
    Area {
        x: number(node.attribute("x")),
        y: number(node.attribute("y")),
        width: number(node.attribute("width")),
        height: number(node.attribute("height")),
    }
}

/// The points of an SVG path of `M`, `L` and `C` commands (what `graph`
/// draws), each curve sampled.
fn path_points(d: &str) -> Vec<(f64, f64)> {
    let mut points: Vec<(f64, f64)> = Vec::new();
    let mut command = ' ';
    let mut numbers: Vec<f64> = Vec::new();
    let flush = |command: char, numbers: &mut Vec<f64>, points: &mut Vec<(f64, f64)>| {
        match command {
            'M' | 'L' => points.extend(numbers.chunks(2).map(|p| (p[0], p[1]))),
            'C' => {
                for c in numbers.chunks(6) {
                    let p0 = *points.last().expect("a curve starts somewhere");
                    for step in 1..=40 {
                        let t = f64::from(step) / 40.0;
                        let u = 1.0 - t;
                        let at = |a: f64, b: f64, c: f64, d: f64| {
                            u * u * u * a + 3.0 * u * u * t * b + 3.0 * u * t * t * c + t * t * t * d
                        };
                        points.push((at(p0.0, c[0], c[2], c[4]), at(p0.1, c[1], c[3], c[5])));
                    }
                }
            }
            ' ' => {}
            other => panic!("an unexpected path command {other} in {d}"),
        }
        numbers.clear();
    };
    for token in d.replace(',', " ").split_whitespace() {
        let (head, rest) = token.split_at(usize::from(token.starts_with(char::is_alphabetic)));
        if let Some(c) = head.chars().next() {
            flush(command, &mut numbers, &mut points);
            command = c;
        }
        if !rest.is_empty() {
            numbers.push(rest.parse().unwrap_or_else(|_| panic!("a number: {rest} in {d}")));
        }
    }
    flush(command, &mut numbers, &mut points);
    points
}

/// How far `point` is from the polyline, and how far along it (0 to 1) its
/// nearest point lies.
fn distance_along(points: &[(f64, f64)], point: (f64, f64)) -> (f64, f64) {
    let lengths: Vec<f64> = points.windows(2).map(|s| (s[1].0 - s[0].0).hypot(s[1].1 - s[0].1)).collect();
    let total: f64 = lengths.iter().sum();
    let (mut best, mut at, mut walked) = (f64::INFINITY, 0.0, 0.0);
    for (segment, length) in points.windows(2).zip(&lengths) {
        let ((x0, y0), (x1, y1)) = (segment[0], segment[1]);
        let t = if *length == 0.0 {
            0.0
        } else {
            (((point.0 - x0) * (x1 - x0) + (point.1 - y0) * (y1 - y0)) / (length * length)).clamp(0.0, 1.0)
        };
        let distance = (x0 + t * (x1 - x0) - point.0).hypot(y0 + t * (y1 - y0) - point.1);
        if distance < best {
            best = distance;
            at = (walked + t * length) / total;
        }
        walked += length;
    }
    (best, at)
}

fn picture(svg: &str) -> Picture {
    let document = roxmltree::Document::parse(svg).expect("well-formed SVG");
    let root = document.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    let class = |n: &roxmltree::Node<'_, '_>, name: &str| {
        n.attribute("class").is_some_and(|c| c.split_whitespace().any(|c| c == name))
    };
    let nodes = document
        .descendants()
        .filter(|n| n.has_tag_name("g") && class(n, "node"))
        .map(|g| area(g.children().find(|c| c.has_tag_name("rect")).expect("a node's box")))
        .collect();
    let edges = document
        .descendants()
        .filter(|n| n.has_tag_name("g") && class(n, "edge"))
        .map(|g| {
            let child =
                |tag: &str| g.children().find(|c| c.has_tag_name(tag)).unwrap_or_else(|| panic!("an edge's {tag}"));
            let path = child("path");
            DrawnEdge {
                title: child("title").text().unwrap_or_default().to_owned(),
                stroke: path.attribute("stroke").unwrap_or_default().to_owned(),
                points: path_points(path.attribute("d").expect("a path")),
                label: area(child("rect")),
                label_lines: g
                    .children()
                    .filter(|c| c.has_tag_name("text"))
                    .map(|t| {
                        (t.text().unwrap_or_default().to_owned(), t.attribute("fill").unwrap_or_default().to_owned())
                    })
                    .collect(),
            }
        })
        .collect();
    Picture { width: number(root.attribute("width")), height: number(root.attribute("height")), nodes, edges }
}

fn svg_of(command: &mut Command) -> String {
    let output = command.output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// The checks every drawing passes: each label on its edge, halfway along,
/// nothing overlapping, and the canvas the content plus its margin.
fn assert_well_laid_out(svg: &str) -> Picture {
    let picture = picture(svg);
    assert!(!picture.edges.is_empty(), "{svg}");
    for edge in &picture.edges {
        let (distance, along) = distance_along(&edge.points, edge.label.centre());
        assert!(distance < 1.0, "the label of {} is {distance:.1} px off its edge", edge.title);
        assert!((0.25..=0.75).contains(&along), "the label of {} is at {along:.2} of its edge", edge.title);
    }
    let labels: Vec<Area> = picture.edges.iter().map(|e| e.label).collect();
    let boxes: Vec<Area> = picture.nodes.iter().chain(&labels).copied().collect();
    for (i, a) in boxes.iter().enumerate() {
        for b in &boxes[i + 1..] {
            assert!(!a.overlaps(*b), "{a:?} overlaps {b:?}");
        }
    }
    // The content's bounding box, its edges included, against the canvas.
    let points = boxes
        .iter()
        .flat_map(|a| [(a.x, a.y), (a.x + a.width, a.y + a.height)])
        .chain(picture.edges.iter().flat_map(|e| e.points.iter().copied()));
    let (mut low, mut high) = ((f64::INFINITY, f64::INFINITY), (f64::NEG_INFINITY, f64::NEG_INFINITY));
    for (x, y) in points {
        low = (low.0.min(x), low.1.min(y));
        high = (high.0.max(x), high.1.max(y));
    }
    for (side, space) in
        [("left", low.0), ("top", low.1), ("right", picture.width - high.0), ("bottom", picture.height - high.1)]
    {
        assert!(
            (8.0..=24.0).contains(&space),
            "{space:.1} px empty at the {side} of a {}x{} canvas",
            picture.width,
            picture.height
        );
    }
    picture
}

#[test]
fn graph_svg_puts_each_label_on_its_edge_and_fits_the_canvas_to_the_drawing() {
    let svg = svg_of(wasm_link().args(["graph", "--format", "svg"]).arg(demo()));
    let picture = assert_well_laid_out(&svg);
    // One edge per plug and per socket of the demo's nine plugins.
    assert_eq!(picture.edges.len(), 9 + 10, "{svg}");
    let parser_to_pipeline = picture.edges.iter().find(|e| e.title.starts_with("parser → pipeline")).expect("drawn");
    assert_eq!(parser_to_pipeline.label_lines[0].0, "socket");
    // The same directory draws the same bytes: the picture in the docs is
    // this one (`cargo run -p wasm-link-cli -- graph demo --format svg >
    // docs/demo-graph.svg` after a change to the drawing or the demo).
    assert_eq!(svg, svg_of(wasm_link().args(["graph", "--format", "svg"]).arg(demo())));
    let docs = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/demo-graph.svg"))
        .expect("docs/demo-graph.svg");
    assert!(docs == svg, "docs/demo-graph.svg is not the demo's picture any more: regenerate it");
}

#[test]
fn graph_svg_with_stats_gives_each_edge_its_calls_p50_and_p99() {
    let svg = svg_of(
        wasm_link()
            .arg("graph")
            .arg(demo())
            .args(["--format", "svg", "--stats", "run", "--arg", "\"# Title\\n\\nsome text.\"", "--cache"])
            .arg(demo_cache()),
    );
    let picture = assert_well_laid_out(&svg);
    // The host's call of the root, and every edge of the demo: one call
    // crosses them all.
    assert_eq!(picture.edges.len(), 1 + 9 + 10, "{svg}");
    for edge in &picture.edges {
        let text: Vec<&str> = edge.label_lines.iter().map(|(line, _)| line.as_str()).collect();
        let text = text.join(" / ");
        assert!(text.contains(" call"), "{text}");
        assert!(
            text.contains("p50 ") && text.contains("p99 ") && (text.contains(" µs") || text.contains(" ms")),
            "{text}"
        );
        assert!(!text.contains("failed") && edge.stroke != "#c62828", "{text}");
    }
    let root = picture.edges.iter().find(|e| e.title.starts_with("app → host")).expect("the host's call");
    assert!(root.label_lines[0].0.starts_with("root · 1 call"), "{:?}", root.label_lines);
    let transforms = picture.edges.iter().find(|e| e.title.starts_with("transform → pipeline")).expect("drawn");
    assert!(transforms.label_lines[0].0.starts_with("socket · 3 calls"), "{:?}", transforms.label_lines);
}

#[test]
fn graph_svg_draws_the_edges_of_a_failed_call_red() {
    // The demo with a formatter that traps on `TRAP-NOW`: the call fails
    // there, and so do the calls that led to it.
    let dir = demo_copy();
    let plugin = dir.path().join("plugins/table-formatter");
    let trapping = wasm_link_guests::component("trapping-formatter").expect("the trapping-formatter guest is built");
    std::fs::copy(trapping, plugin.join("table-formatter.wasm")).unwrap();
    let svg = svg_of(
        wasm_link()
            .arg("graph")
            .arg(dir.path())
            .args(["--format", "svg", "--stats", "run", "--arg", "\"# TRAP-NOW\\n\\ntext\"", "--cache"])
            .arg(demo_cache()),
    );
    let picture = assert_well_laid_out(&svg);
    let red = "#c62828";
    let edge = |title: &str| {
        picture.edges.iter().find(|e| e.title.starts_with(title)).unwrap_or_else(|| panic!("no edge {title} in {svg}"))
    };
    for failed in ["table-formatter → formatter", "formatter → pipeline", "app → host"] {
        let edge = edge(failed);
        assert_eq!(edge.stroke, red, "{failed}");
        let (first, colour) = &edge.label_lines[0];
        assert!(first.contains("1 call · 1 failed"), "{failed}: {first}");
        assert_eq!(colour, red, "{failed}");
    }
    for fine in ["parser → capitalize", "markdown-parser → parser"] {
        let edge = edge(fine);
        assert_ne!(edge.stroke, red, "{fine}");
        assert!(edge.label_lines.iter().all(|(line, colour)| !line.contains("failed") && colour != red), "{fine}");
    }
}

#[test]
fn graph_svg_draws_a_dependency_cycle_and_names_with_markup() {
    // `capitalize` takes `app`, which the pipeline serves from the
    // transforms: a cycle, still drawn, every edge with its label.
    let dir = demo_with_a_cycle();
    // A plugin whose name is markup: drawn as text.
    let odd = "w<&\"c'>";
    let plugins = dir.path().join("plugins");
    std::fs::rename(plugins.join("word-count"), plugins.join(odd)).unwrap();
    let manifest = plugins.join(odd).join("plugin.toml");
    let text = std::fs::read_to_string(&manifest).unwrap().replace("id = \"word-count\"", "id = \"w<&\\\"c'>\"");
    std::fs::write(&manifest, text).unwrap();
    let svg = svg_of(wasm_link().args(["graph", "--format", "svg"]).arg(dir.path()));
    let picture = assert_well_laid_out(&svg);
    assert!(picture.edges.iter().any(|e| e.title.starts_with("app → capitalize")), "{svg}");
    assert!(picture.edges.iter().any(|e| e.title.starts_with("pipeline → app")), "{svg}");
    assert!(picture.edges.iter().any(|e| e.title.starts_with("w<&\"c'> → analyser")), "{svg}");
    assert!(svg.contains(">w&lt;&amp;&quot;c&apos;&gt;</text>"), "{svg}");
}

#[test]
fn new_stubs_a_plug_that_exports_a_resource_and_the_stub_builds() {
    let dir = demo_copy();
    wasm_link().arg("new").arg(dir.path()).args(["parser2", "--plug", "parser"]).assert().success();
    let source = std::fs::read_to_string(dir.path().join("plugins/parser2/src/lib.rs")).unwrap();
    assert!(source.contains("GuestDocument for Plugin") && source.contains("type Document = Plugin;"), "{source}");
    wasm_link()
        .arg("build")
        .arg(dir.path())
        .env("CARGO_TARGET_DIR", guests_target())
        .assert()
        .success()
        .stdout(predicate::str::contains("built   parser2"));
    // Two plugins of an `ExactlyOne` interface: `check` says so.
    wasm_link().arg("check").arg(dir.path()).assert().stdout(predicate::str::contains("parser2"));
}

/// `wasm-link serve DIR ARGS…`, started and waited for: the process and
/// its `serving` line.
fn serve_process(dir: &std::path::Path, args: &[&str]) -> (KillOnDrop, String) {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_wasm-link"))
        .arg("serve")
        .arg(dir)
        .args(args)
        .arg("--cache")
        .arg(demo_cache())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wasm-link serve starts");
    let mut child = KillOnDrop(child);
    let (sender, lines) = std::sync::mpsc::channel();
    forward_lines(child.0.stdout.take().expect("piped stdout"), sender.clone());
    forward_lines(child.0.stderr.take().expect("piped stderr"), sender);
    let ready = lines_until(&lines, "serving", Duration::from_mins(2));
    (child, ready.last().cloned().unwrap_or_default())
}

/// `wasm-link serve DIR --listen 127.0.0.1:PORT`, started and waited for:
/// the process and the address it serves at.
fn serve(dir: &std::path::Path, port: u16) -> (KillOnDrop, String) {
    let (child, line) = serve_process(dir, &["--listen", &format!("127.0.0.1:{port}")]);
    let address = line.rsplit(' ').next().unwrap_or_default().to_owned();
    assert!(address.starts_with("tcp://127.0.0.1:"), "{line}");
    (child, address)
}

/// `wasm-link serve DEMO --nats URL`: one more server of the demo's `app`
/// in the lattice's queue group.
fn serve_on_lattice(url: &str) -> KillOnDrop {
    let (child, line) = serve_process(&demo(), &["--nats", url]);
    assert!(line.contains(url) && line.contains("queue group"), "{line}");
    child
}

/// A directory whose `app` plugin is served at `addresses`.
fn remote_app(addresses: &[&str]) -> TempDir {
    remote_app_with(addresses, "")
}

/// [`remote_app`] with more lines in the plugin's manifest.
fn remote_app_with(addresses: &[&str], manifest: &str) -> TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("wasm-link.toml"), "root = \"app\"\n").unwrap();
    let interface = dir.path().join("interfaces/app");
    std::fs::create_dir_all(&interface).unwrap();
    for file in ["app.wit", "interface.toml"] {
        std::fs::copy(demo().join("interfaces/app").join(file), interface.join(file)).unwrap();
    }
    let plugin = dir.path().join("plugins/far-app");
    std::fs::create_dir_all(&plugin).unwrap();
    let list: Vec<String> = addresses.iter().map(|a| format!("\"{a}\"")).collect();
    std::fs::write(
        plugin.join("plugin.toml"),
        format!("id = \"far-app\"\nplug = \"app\"\nremote = [{}]\n{manifest}", list.join(", ")),
    )
    .unwrap();
    dir
}

#[test]
fn the_demo_served_by_another_process_gives_the_same_report() {
    let (_server, address) = serve(&demo(), 0);
    let remote = remote_app(&[&address]);
    let source = "\"# Title\\n\\nsome   text. more text here\"";
    let local =
        wasm_link().arg("call").arg(demo()).args(["app", "run", source, "--cache"]).arg(demo_cache()).output().unwrap();
    let far = wasm_link().arg("call").arg(remote.path()).args(["app", "run", source]).output().unwrap();
    assert!(far.status.success(), "{}", String::from_utf8_lossy(&far.stderr));
    assert_eq!(String::from_utf8_lossy(&far.stdout), String::from_utf8_lossy(&local.stdout));
    assert!(String::from_utf8_lossy(&far.stdout).contains("| Title |"));
    // `check` shows the remote plugin loaded.
    wasm_link().arg("check").arg(remote.path()).assert().success().stdout(predicate::str::contains("far-app"));
}

#[test]
fn calls_across_a_server_restart_are_each_served_or_a_typed_error() {
    use wasm_link::dir::{DirOptions, PluginDir};
    let (server, address) = serve(&demo(), 0);
    let port: u16 = address.rsplit(':').next().and_then(|p| p.parse().ok()).expect("a port");
    let remote = remote_app(&[&address]);
    let dir = PluginDir::open(remote.path(), &DirOptions::default()).expect("the remote directory opens");
    let engine = wasm_link::default_engine().expect("an engine");
    let linker = PluginDir::linker(&engine).expect("a linker");
    let (tree, _) = dir.into_tree();
    let (head, errors) = tree.load(&engine, &linker).expect("the remote app loads");
    assert!(errors.is_empty(), "{errors:?}");
    let source = wasm_link::Val::String("# Loop\n\nsome text.".into());
    let call = || match head.dispatch("demo:app/app@0.1.0", "run", true, std::slice::from_ref(&source)) {
        wasm_link::Socket::ExactlyOne(result) => result,
        other => panic!("{other:?}"),
    };
    let expected = call().expect("the first call is served");
    let (mut answered, mut failed) = (0, 0);
    let mut server = Some(server);
    for round in 0..60 {
        if round == 20 {
            // Stop the server between calls, then start it again.
            drop(server.take());
        }
        if round == 30 {
            server = Some(serve(&demo(), port).0);
        }
        match call() {
            Ok(report) => {
                assert_eq!(report, expected, "round {round}");
                answered += 1;
            }
            Err(wasm_link::DispatchError::Remote { plugin, address: at, .. }) => {
                assert_eq!((plugin.as_str(), at.as_str()), ("far-app", address.as_str()));
                failed += 1;
            }
            Err(other) => panic!("round {round}: not a remote failure: {other}"),
        }
    }
    assert_eq!(answered + failed, 60, "no call lost");
    assert_eq!(failed, 10, "the ten calls while the server was down failed, no others");
    drop(server);
}

/// `wasm-link` with the guest toolchains where the guests' build installed
/// them: nothing is installed twice.
fn wasm_link_with_toolchains() -> Command {
    let mut command = wasm_link();
    command.env("WASM_LINK_TOOLCHAINS", wasm_link_guests::TOOLCHAINS_DIR);
    command
}

/// `new DIR ID --lang LANG --plug transform --socket parser`, then the
/// generated source checked with `generated`, replaced by `source`, built
/// (with `cache`, which `check` and `call` reuse: the component compiles
/// once), checked and called through the demo's pipeline.
fn new_transform_in(language: &str, id: &str, generated: &[&str], source: &str, effect: &[&str]) {
    let dir = demo_copy();
    let cache = tempfile::tempdir().unwrap();
    let file = if language == "python" { "app.py" } else { "app.js" };
    wasm_link_with_toolchains()
        .arg("new")
        .arg(dir.path())
        .args([id, "--plug", "transform", "--socket", "parser", "--lang", language])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "implement its exports in {}",
            dir.path().join("plugins").join(id).join(file).display()
        )))
        .stdout(predicate::str::contains(format!("wasm-link build {} {id}", dir.path().display())));
    let folder = dir.path().join("plugins").join(id);
    for written in ["plugin.toml", "wit/world.wit", file] {
        assert!(folder.join(written).is_file(), "`{written}` written");
    }
    assert!(!folder.join("Cargo.toml").exists(), "no Rust crate");
    let manifest = std::fs::read_to_string(folder.join("plugin.toml")).unwrap();
    assert!(manifest.contains(&format!("component = \"{id}.wasm\"")), "{manifest}");
    let stub = std::fs::read_to_string(folder.join(file)).unwrap();
    for expected in generated {
        assert!(stub.contains(expected), "`{expected}` in the generated {file}:\n{stub}");
    }
    std::fs::write(folder.join(file), source).unwrap();
    wasm_link_with_toolchains()
        .arg("build")
        .arg(dir.path())
        .arg(id)
        .arg("--cache")
        .arg(cache.path())
        .assert()
        .success()
        .stdout(predicate::str::contains(format!("built   {id}")));
    let check = wasm_link().arg("check").arg(dir.path()).arg("--cache").arg(cache.path()).output().unwrap();
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{report}");
    let line = format!("  ok      {id} (plug `transform`)");
    let mut lines = report.lines().skip_while(|l| *l != line);
    assert_eq!(lines.next(), Some(line.as_str()), "{report}");
    // What its language runtime imports, and that none of it is granted.
    let wasi = lines.next().unwrap_or_default();
    assert!(wasi.starts_with("          imports wasi: cli, clocks,"), "{report}");
    let given = lines.next().unwrap_or_default();
    assert!(given.contains("nothing granted:") && given.contains("virtual clocks"), "{report}");
    let call = wasm_link()
        .arg("call")
        .arg(dir.path())
        .args(["app", "run", "\"# T\\n\\nsome text\"", "--cache"])
        .arg(cache.path())
        .output()
        .unwrap();
    let output = String::from_utf8_lossy(&call.stdout);
    assert!(call.status.success(), "{output}{}", String::from_utf8_lossy(&call.stderr));
    for expected in effect {
        assert!(output.contains(expected), "`{expected}` in:\n{output}");
    }
}

#[test]
fn new_python_then_build_then_check_then_call_shows_the_new_plugin() {
    new_transform_in(
        "python",
        "expand-py",
        &[
            "class Transform(exports.Transform):",
            "    def apply(self, doc: parser.Document) -> str:",
            "raise NotImplementedError(\"not yet implemented: Transform.apply\")",
            "from wit_world.imports import parser",
        ],
        "from wit_world import exports\n\
         from wit_world.imports import parser\n\n\n\
         class Transform(exports.Transform):\n    \
             def apply(self, doc: parser.Document) -> str:\n        \
                 doc.set_paragraphs(doc.paragraphs() + [\"Added in Python.\"])\n        \
                 return \"added a paragraph in Python\"\n",
        &["Added in Python.", "* added a paragraph in Python", "Some text"],
    );
}

#[test]
fn new_js_then_build_then_check_then_call_shows_the_new_plugin() {
    new_transform_in(
        "js",
        "expand-js",
        &[
            "export const transform = {",
            "   * WIT: `apply: func(doc: borrow<document>) -> string`",
            "  apply(doc) {\n    throw new Error(\"todo: transform.apply\");",
            "//   import { parse } from \"demo:parser/parser@0.1.0\";",
        ],
        "export const transform = {\n  \
           apply(doc) {\n    \
             doc.setParagraphs([...doc.paragraphs(), \"Added in JavaScript.\"]);\n    \
             return \"added a paragraph in JavaScript\";\n  \
           },\n\
         };\n",
        &["Added in JavaScript.", "* added a paragraph in JavaScript", "Some text"],
    );
}

/// `new DIR parser2 --plug parser --lang LANG`: the plug exports the
/// `document` resource; the stubs build as written (they only throw when
/// called).
fn new_parser_in(language: &str, files: &[(&str, &[&str])]) {
    let dir = demo_copy();
    let cache = tempfile::tempdir().unwrap();
    wasm_link_with_toolchains()
        .arg("new")
        .arg(dir.path())
        .args(["parser2", "--plug", "parser", "--lang", language])
        .assert()
        .success();
    let folder = dir.path().join("plugins/parser2");
    for (file, expected) in files {
        let source = std::fs::read_to_string(folder.join(file)).unwrap_or_else(|e| panic!("`{file}`: {e}"));
        for expected in *expected {
            assert!(source.contains(expected), "`{expected}` in the generated {file}:\n{source}");
        }
    }
    wasm_link_with_toolchains()
        .arg("build")
        .arg(dir.path())
        .arg("--cache")
        .arg(cache.path())
        .assert()
        .success()
        .stdout(predicate::str::contains("built   parser2"));
}

#[test]
fn new_python_stubs_a_plug_that_exports_a_resource_and_the_stub_builds() {
    new_parser_in(
        "python",
        &[
            ("app.py", &["class Parser(exports.Parser):", "def parse(self, source: str) -> parser.Document:"]),
            // componentize-py takes the resource's class from a module
            // named after the interface.
            (
                "parser.py",
                &[
                    "from wit_world.exports import parser",
                    "class Document(parser.Document):",
                    "def set_paragraphs(self, paragraphs: List[str]) -> None:",
                    "raise NotImplementedError(\"not yet implemented: Document.title\")",
                ],
            ),
        ],
    );
}

#[test]
fn new_js_stubs_a_plug_that_exports_a_resource_and_the_stub_builds() {
    new_parser_in(
        "js",
        &[(
            "app.js",
            &[
                "export const parser = {",
                "  Document: class {",
                "    setParagraphs(paragraphs) {",
                "   * WIT: `parse: func(source: string) -> document`",
                "  parse(source) {",
            ],
        )],
    );
}

#[test]
fn build_without_python_or_node_says_what_to_install() {
    let dir = tempfile::tempdir().unwrap();
    wasm_link_guests::copy_demo_all(dir.path());
    wasm_link()
        .arg("build")
        .arg(dir.path())
        .args(["vocabulary", "code-spans"])
        .env("WASM_LINK_PYTHON", "/nonexistent/python3")
        // No `node` on the way either.
        .env("PATH", "/nonexistent")
        .env("WASM_LINK_TOOLCHAINS", dir.path().join("toolchains"))
        .assert()
        .failure()
        .stdout(predicate::str::contains("FAILED  vocabulary: building Python plugins needs `python3`"))
        .stdout(predicate::str::contains("install Python 3.9 or later with pip"))
        .stdout(predicate::str::contains("FAILED  code-spans: building JavaScript plugins needs `node`"))
        .stdout(predicate::str::contains("install Node.js 18 or later with npm"));
    assert!(!dir.path().join("toolchains").exists(), "nothing installed");
}

#[test]
fn check_shows_the_wasi_each_plugin_imports_and_what_its_grants_give() {
    let dir = demo_copy();
    let manifest = dir.path().join("plugins/capitalize/plugin.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, format!("{text}grants = [\"stdio\"]\n")).unwrap();
    let output = wasm_link().arg("check").arg(dir.path()).output().unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{report}");
    let after = |id: &str| {
        let mut lines = report.lines().skip_while(|l| !l.starts_with(&format!("  ok      {id} "))).skip(1);
        (lines.next().unwrap_or_default().to_owned(), lines.next().unwrap_or_default().to_owned())
    };
    // The Rust guests' standard library imports `wasi:cli` and `wasi:io`.
    let (imports, given) = after("word-count");
    assert_eq!(imports, "          imports wasi: cli, io", "{report}");
    assert_eq!(given, "          nothing granted: no env, stdout and stderr to the log", "{report}");
    let (_, given) = after("capitalize");
    assert_eq!(given, "          granted stdio: no env, the host's stdout and stderr", "{report}");
}

#[test]
fn new_in_python_or_js_asks_for_the_interfaces_the_plugs_types_bring_in_as_sockets() {
    // `formatter` uses `analyser`'s `metric`, which uses `parser`'s
    // `document`: a componentizer imports both interfaces whole, which a
    // plugin may only do for its sockets.
    let dir = demo_copy();
    for language in ["python", "js"] {
        wasm_link()
            .arg("new")
            .arg(dir.path())
            .args(["fancy", "--plug", "formatter", "--lang", language])
            .assert()
            .failure()
            .stderr(predicate::str::contains("uses types of `parser`, `analyser`"))
            .stderr(predicate::str::contains("--socket parser --socket analyser"));
        assert!(!dir.path().join("plugins/fancy").exists(), "nothing written");
    }
    wasm_link()
        .arg("new")
        .arg(dir.path())
        .args(["fancy", "--plug", "formatter", "--lang", "ruby"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("`ruby` is not a plugin language"));
}

#[test]
fn check_shows_what_each_plugin_was_approved_and_a_policy_file_replaces_the_directorys() {
    let dir = demo_copy();
    let check = wasm_link().arg("check").arg(dir.path()).output().unwrap();
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{report}");
    let mut lines = report.lines().skip_while(|l| !l.starts_with("  ok      table-formatter"));
    assert!(lines.next().is_some(), "{report}");
    assert!(lines.any(|l| l.trim() == "approved: files /style (read)"), "{report}");

    // The host's own policy, approving nothing: the formatter is refused,
    // naming what it asked for, and the rest still serves the root.
    let policy = dir.path().join("host-policy.toml");
    std::fs::write(&policy, "[word-count]\nenv = { UNUSED = \"1\" }\n").unwrap();
    let check = wasm_link().arg("check").arg(dir.path()).arg("--policy").arg(&policy).output().unwrap();
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{report}");
    assert!(
        report.contains("plugin `table-formatter` requests what the host's policy does not approve: files /style (read): not in the policy"),
        "{report}"
    );
    assert!(!report.contains("ok      table-formatter"), "{report}");

    // `--allow` adds to it: the formatter is approved again.
    let check = wasm_link()
        .arg("check")
        .arg(dir.path())
        .arg("--policy")
        .arg(&policy)
        .args(["--allow", r#"table-formatter.files={ "/style" = { path = "style", access = "read" } }"#])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(report.contains("ok      table-formatter"), "{report}");
    // A rule that names no field of a policy is the command's error.
    wasm_link()
        .arg("check")
        .arg(dir.path())
        .args(["--allow", "table-formatter.sockets=all"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("unknown field `sockets`"));

    // A policy file that does not parse is the command's error.
    std::fs::write(&policy, "[word-count]\nenv = 3\n").unwrap();
    wasm_link()
        .arg("check")
        .arg(dir.path())
        .arg("--policy")
        .arg(&policy)
        .assert()
        .failure()
        .stderr(predicate::str::contains("host-policy.toml"));
}

#[path = "../../../tests/all/nats_server.rs"]
mod nats_server;

/// The demo's `app` through a directory whose `far-app` names only a NATS
/// server: no address of a serving host in any manifest.
fn lattice_app(url: &str) -> TempDir {
    let dir = remote_app_with(&[url], "[limits]\ndeadline-ms = 3000\n");
    let manifest = std::fs::read_to_string(dir.path().join("plugins/far-app/plugin.toml")).unwrap();
    assert!(!manifest.contains("tcp://"), "{manifest}");
    dir
}

/// A blocking head of `dir`'s tree, loaded in this process.
fn load_head(dir: &std::path::Path) -> wasm_link::PluginTreeHead<wasm_link::dir::DirPlugin> {
    use wasm_link::dir::{DirOptions, PluginDir};
    let plugin_dir = PluginDir::open(dir, &DirOptions::default()).expect("the directory opens");
    let engine = wasm_link::default_engine().expect("an engine");
    let linker = PluginDir::linker(&engine).expect("a linker");
    let (tree, _) = plugin_dir.into_tree();
    let (head, errors) = tree.load(&engine, &linker).expect("the app loads");
    assert!(errors.is_empty(), "{errors:?}");
    head
}

/// One `run` of the demo's app: its report, or the error.
fn run_app(
    head: &wasm_link::PluginTreeHead<wasm_link::dir::DirPlugin>,
    source: &str,
) -> Result<wasm_link::Val, wasm_link::DispatchError<String>> {
    let source = wasm_link::Val::String(source.into());
    match head.dispatch("demo:app/app@0.1.0", "run", true, std::slice::from_ref(&source)) {
        wasm_link::Socket::ExactlyOne(result) => result,
        other => panic!("{other:?}"),
    }
}

/// `POST /render` to the HTTP server example at `address`: status line and body.
fn post_render(address: &str, body: &str) -> (String, String) {
    use std::io::Write as _;
    let mut stream = std::net::TcpStream::connect(address).expect("the HTTP server example accepts");
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        stream,
        "POST /render HTTP/1.1\r\nHost: {address}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("a whole response");
    let (head, body) = response.split_once("\r\n\r\n").expect("headers, then a body");
    (head.lines().next().unwrap_or_default().to_owned(), body.to_owned())
}

/// The HTTP server example (`examples/server.rs` of the library, which
/// plain `cargo test` builds) on `dir`: the process and its address.
fn http_server_example(dir: &std::path::Path) -> (KillOnDrop, String) {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile = exe.parent().and_then(std::path::Path::parent).expect("target/<profile>/deps");
    let binary = profile.join("examples").join(format!("server{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.is_file(),
        "{} is missing: `cargo build --example server` (plain `cargo test` builds it)",
        binary.display()
    );
    let child = std::process::Command::new(binary)
        .args(["--listen", "127.0.0.1:0", "--dir"])
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the HTTP server example starts");
    let mut child = KillOnDrop(child);
    let (sender, lines) = std::sync::mpsc::channel();
    forward_lines(child.0.stdout.take().expect("piped stdout"), sender.clone());
    forward_lines(child.0.stderr.take().expect("piped stderr"), sender);
    let ready = lines_until(&lines, "listening on", Duration::from_mins(2));
    let line = ready.last().cloned().unwrap_or_default();
    let address =
        line.trim_start_matches("listening on ").trim_start_matches("http://").trim_end_matches('/').to_owned();
    (child, address)
}

#[test]
fn the_demo_served_by_two_processes_on_a_lattice_renders_through_the_http_server_example() {
    let Some(nats) = nats_server::NatsServer::start("lattice demo") else { return };
    let _servers = [serve_on_lattice(&nats.url()), serve_on_lattice(&nats.url())];
    let far = lattice_app(&nats.url());
    let source = "# Title\n\nsome   text. more text here";
    let local = wasm_link()
        .arg("call")
        .arg(demo())
        .args(["app", "run", &format!("{source:?}"), "--cache"])
        .arg(demo_cache())
        .output()
        .unwrap();
    let (_http, address) = http_server_example(far.path());
    let (status, body) = post_render(&address, source);
    assert!(status.contains("200"), "{status}: {body}");
    assert_eq!(body.trim_end(), String::from_utf8_lossy(&local.stdout).trim_end());
    assert!(body.contains("| Title |"), "{body}");
}

#[test]
fn three_servers_in_a_queue_group_two_killed_under_a_thousand_calls() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let Some(nats) = nats_server::NatsServer::start("queue group kills") else { return };
    let mut servers: Vec<Option<KillOnDrop>> = (0..3).map(|_| Some(serve_on_lattice(&nats.url()))).collect();
    let far = lattice_app(&nats.url());
    let head = load_head(far.path());
    let source = "# Lattice\n\nsome text.";
    let expected = run_app(&head, source).expect("the first call is served");
    let (done, answered, failed) = (AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0));
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..250 {
                    match run_app(&head, source) {
                        Ok(report) => {
                            assert_eq!(report, expected);
                            answered.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(wasm_link::DispatchError::Remote { plugin, .. }) => {
                            assert_eq!(plugin, "far-app");
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(other) => panic!("not a remote failure: {other}"),
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        // Two of the three servers killed mid-stream, calls in flight.
        for (at, server) in [(250, 0), (500, 1)] {
            while done.load(Ordering::Relaxed) < at {
                std::thread::sleep(Duration::from_millis(1));
            }
            drop(servers[server].take());
        }
    });
    let (answered, failed) = (answered.into_inner(), failed.into_inner());
    assert_eq!(answered + failed, 1000, "every call answered or a typed error");
    // Only the calls the killed servers had taken can fail (4 callers, 2 kills).
    assert!(failed <= 8, "{failed} calls failed");
    // The survivor takes the rest.
    for n in 0..50 {
        run_app(&head, source).unwrap_or_else(|e| panic!("call {n} on the survivor: {e}"));
    }
    drop(servers);
}

#[test]
fn a_server_added_mid_run_takes_the_calls() {
    let Some(nats) = nats_server::NatsServer::start("added server") else { return };
    let first = serve_on_lattice(&nats.url());
    let far = lattice_app(&nats.url());
    let head = load_head(far.path());
    let source = "# Added\n\ntext.";
    for _ in 0..20 {
        run_app(&head, source).expect("the first server serves");
    }
    let _second = serve_on_lattice(&nats.url());
    drop(first);
    // NATS drops the killed server's subscription when its connection
    // closes; from then on, only the added server can answer.
    std::thread::sleep(Duration::from_millis(200));
    for n in 0..100 {
        run_app(&head, source).unwrap_or_else(|e| panic!("call {n} after the first server left: {e}"));
    }
}
