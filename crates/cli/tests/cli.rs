//! The `wasm-link` command line, end to end, on the demo directory and on
//! broken copies of it.

#![allow(missing_docs, reason = "a test binary")]

use std::path::PathBuf;

use assert_cmd::Command;
use predicates::prelude::*;
use tempfile::TempDir;

fn demo() -> PathBuf {
    PathBuf::from(wasm_link_guests::DEMO_DIR)
}

fn wasm_link() -> Command {
    Command::cargo_bin("wasm-link").expect("the binary is built")
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
        .assert()
        .success()
        .stdout(predicate::str::contains("ok      markdown-parser"))
        .stdout(predicate::str::contains("ok      table-formatter"))
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

#[test]
fn check_reports_a_dependency_cycle() {
    let dir = demo_copy();
    let manifest = dir.path().join("plugins/capitalize/plugin.toml");
    let text = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("sockets = [\"parser\"]", "sockets = [\"parser\", \"app\"]");
    std::fs::write(&manifest, text).unwrap();
    wasm_link().arg("check").arg(dir.path()).assert().code(1).stdout(predicate::str::contains("(cycle)"));
}

#[test]
fn call_runs_the_pipeline_and_removing_the_formatter_changes_the_output() {
    let source = "\"# Title\\n\\nsome   text.\"";
    wasm_link()
        .args(["call"])
        .arg(demo())
        .args(["app", "run", source])
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
        .args(["app", "run", "42"])
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
        .stdout(predicate::str::contains("\"interface:analyser\" [shape=box, label=\"analyser\\n(at least one)\""))
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
