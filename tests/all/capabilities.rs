//! Capabilities the host approves: a plugin's manifest requests files and
//! environment variables (`[requests]`), the host's policy approves them
//! (`[policy.<id>]` in `wasm-link.toml`, or `PluginDir::open_with_policy`).
//! The probes of `tests/polyglot/` try them from Rust and Python
//! (JavaScript's runtime has no file or environment API).

use std::path::Path;

use tempfile::TempDir;
use wasm_link::dir::{DirError, DirOptions, DirPlugin, PluginDir, Policy};
use wasm_link::{PluginTreeHead, Socket, Val};

const PROBE: &str = "test:probe/probe@0.1.0";
const PROBES: [&str; 2] = ["rs-probe", "py-probe"];

/// A copy of `tests/polyglot/` with the Rust and Python probes, each
/// requesting `requests` (a `[requests]` table body), under the directory
/// policy `policy` (`[policy.<id>]` tables); a `data/` directory with
/// `hello.txt`, a `secret.txt` beside it, and `data/out` a link to it.
fn dir_with(requests: &str, policy: &str) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    wasm_link_guests::copy_dir(Path::new(wasm_link_guests::POLYGLOT_DIR), dir.path());
    std::fs::remove_dir_all(dir.path().join("plugins/js-probe")).unwrap();
    for probe in PROBES {
        let manifest = dir.path().join("plugins").join(probe).join("plugin.toml");
        let text = std::fs::read_to_string(&manifest).unwrap();
        std::fs::write(&manifest, format!("{text}[requests]\n{requests}\n")).unwrap();
    }
    let top = dir.path().join("wasm-link.toml");
    let text = std::fs::read_to_string(&top).unwrap();
    let policies = PROBES.iter().fold(String::new(), |mut out, probe| {
        use std::fmt::Write as _;
        let _ = write!(out, "[policy.{probe}]\n{policy}\n");
        out
    });
    std::fs::write(&top, format!("{text}{policies}")).unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/hello.txt"), "hello from the host").unwrap();
    std::fs::write(dir.path().join("secret.txt"), "the host's secret").unwrap();
    std::os::unix::fs::symlink(dir.path().join("secret.txt"), dir.path().join("data/out")).unwrap();
    dir
}

fn open(dir: &Path) -> PluginTreeHead<DirPlugin> {
    crate::polyglot::load_opened(PluginDir::open(dir, &DirOptions { cache: Some(crate::polyglot::cache()) }).unwrap())
}

/// Each probe's answer to `function(args)`, which must be a string.
fn answers(head: &PluginTreeHead<DirPlugin>, function: &str, args: &[Val]) -> Vec<(String, String)> {
    let Socket::Any(results) = head.dispatch(PROBE, function, true, args) else { panic!("an `any` root") };
    let mut answers: Vec<(String, String)> = results
        .into_iter()
        .map(|(plugin, result)| match result {
            Ok(Val::String(text)) => (plugin, text),
            other => panic!("{plugin}: {other:?}"),
        })
        .collect();
    answers.sort();
    assert_eq!(answers.len(), PROBES.len());
    answers
}

fn read(head: &PluginTreeHead<DirPlugin>, path: &str) -> Vec<(String, String)> {
    answers(head, "read-file", &[Val::String(path.into())])
}

#[test]
fn a_request_the_policy_does_not_approve_drops_that_plugin_naming_what_was_refused() {
    let dir = dir_with(
        "env = [\"SECRET\"]\nfiles = { \"/data\" = \"read-write\" }",
        "files = { \"/data\" = { path = \"data\", access = \"read\" } }",
    );
    let plugin_dir = PluginDir::open(dir.path(), &DirOptions::default()).unwrap();
    let refused: Vec<(&str, &[String])> = plugin_dir
        .errors
        .iter()
        .map(|error| match error {
            DirError::NotApproved { plugin, refused, path } => {
                assert!(path.ends_with(format!("{plugin}/plugin.toml")), "{path:?}");
                (plugin.as_str(), refused.as_slice())
            }
            other => panic!("{other:?}"),
        })
        .collect();
    let expected = ["files /data (read-write): the policy approves read only", "env SECRET: not in the policy"];
    assert_eq!(refused.len(), 2, "{refused:?}");
    for (_, reasons) in &refused {
        assert_eq!(reasons.iter().map(String::as_str).collect::<Vec<_>>(), expected);
    }
    let message = wasm_link::error_chain(&plugin_dir.errors[0]);
    assert!(message.contains("requests what the host's policy does not approve"), "{message}");
    // The rest of the tree is read.
    assert_eq!(plugin_dir.plugins.iter().map(DirPlugin::plugin_id).collect::<Vec<_>>(), ["markdown-parser"]);
}

#[test]
fn an_approved_directory_is_read_and_nothing_outside_it() {
    let dir =
        dir_with("files = { \"/data\" = \"read\" }", "files = { \"/data\" = { path = \"data\", access = \"read\" } }");
    let head = open(dir.path());
    for (plugin, text) in read(&head, "/data/hello.txt") {
        assert_eq!(text, "hello from the host", "{plugin}");
    }
    // Climbing out, an absolute path elsewhere, a link pointing out.
    let secret = dir.path().join("secret.txt").display().to_string();
    for path in ["/data/../secret.txt", "/secret.txt", secret.as_str(), "/data/out"] {
        for (plugin, text) in read(&head, path) {
            assert!(
                text.starts_with("refused:") && !text.contains("the host's secret"),
                "{plugin} reading {path}: {text}"
            );
        }
    }
}

#[test]
fn a_file_swapped_for_a_link_out_after_the_load_is_still_refused() {
    let dir =
        dir_with("files = { \"/data\" = \"read\" }", "files = { \"/data\" = { path = \"data\", access = \"read\" } }");
    let head = open(dir.path());
    std::fs::remove_file(dir.path().join("data/hello.txt")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("secret.txt"), dir.path().join("data/hello.txt")).unwrap();
    for (plugin, text) in read(&head, "/data/hello.txt") {
        assert!(text.starts_with("refused:"), "{plugin}: {text}");
    }
}

#[test]
fn a_read_grant_refuses_writes_and_a_read_write_grant_allows_them() {
    let write = |head: &PluginTreeHead<DirPlugin>, name: &str| {
        answers(head, "write-file", &[Val::String(format!("/data/{name}")), Val::String("written by a plugin".into())])
    };
    let dir = dir_with(
        "files = { \"/data\" = \"read\" }",
        "files = { \"/data\" = { path = \"data\", access = \"read-write\" } }",
    );
    let head = open(dir.path());
    for (plugin, text) in write(&head, "new.txt") {
        assert!(text.starts_with("refused:"), "{plugin}: {text}");
    }
    assert!(!dir.path().join("data/new.txt").exists());

    let dir = dir_with(
        "files = { \"/data\" = \"read-write\" }",
        "files = { \"/data\" = { path = \"data\", access = \"read-write\" } }",
    );
    let head = open(dir.path());
    for (plugin, text) in write(&head, "new.txt") {
        assert_eq!(text, "written", "{plugin}");
    }
    assert_eq!(std::fs::read_to_string(dir.path().join("data/new.txt")).unwrap(), "written by a plugin");
}

#[test]
fn approved_environment_variables_and_no_others() {
    let dir = dir_with("env = [\"STYLE\", \"PATH\"]", "env = { STYLE = \"rounded\" }\nenv-from-host = [\"PATH\"]");
    let head = open(dir.path());
    let env = |name: &str| answers(&head, "read-env", &[Val::String(name.into())]);
    for (plugin, text) in env("STYLE") {
        assert_eq!(text, "rounded", "{plugin}");
    }
    let path = std::env::var("PATH").unwrap();
    for (plugin, text) in env("PATH") {
        assert_eq!(text, path, "{plugin}");
    }
    for (plugin, text) in env("HOME") {
        assert_eq!(text, "unset", "{plugin}: approved for nobody, requested by nobody");
    }
}

#[test]
fn the_hosts_policy_replaces_the_one_that_came_with_the_directory() {
    let dir = dir_with("env = [\"STYLE\"]", "env = { STYLE = \"from the directory\" }");
    let host: Policy = toml::from_str("[rs-probe]\nenv = { STYLE = \"from the host\" }").unwrap();
    let plugin_dir = PluginDir::open_with_policy(dir.path(), &DirOptions::default(), &host).unwrap();
    // The Python probe is approved nothing by the host's policy.
    let [DirError::NotApproved { plugin, .. }] = &plugin_dir.errors[..] else { panic!("{:?}", plugin_dir.errors) };
    assert_eq!(plugin, "py-probe");
    let rust = plugin_dir.plugins.iter().find(|p| p.plugin_id() == "rs-probe").unwrap();
    assert_eq!(rust.capabilities().env, [("STYLE".to_owned(), "from the host".to_owned())]);
    assert_eq!(rust.requests().env, ["STYLE"]);
}

#[test]
fn a_sync_under_the_hosts_policy_keeps_it_for_the_plugins_it_reloads() {
    let dir = dir_with("env = [\"STYLE\"]", "env = { STYLE = \"from the directory\" }");
    let host: Policy = toml::from_str(
        "[rs-probe]\nenv = { STYLE = \"from the host\" }\n[py-probe]\nenv = { STYLE = \"from the host\" }",
    )
    .unwrap();
    let options = DirOptions { cache: Some(crate::polyglot::cache()) };
    let head = crate::polyglot::load_opened(PluginDir::open_with_policy(dir.path(), &options, &host).unwrap());
    let style = |head: &PluginTreeHead<DirPlugin>| answers(head, "read-env", &[Val::String("STYLE".into())]);
    assert!(style(&head).iter().all(|(_, text)| text == "from the host"));
    // Both manifests change: both plugins are read again, still under the
    // host's policy.
    for probe in PROBES {
        let manifest = dir.path().join("plugins").join(probe).join("plugin.toml");
        let text = std::fs::read_to_string(&manifest).unwrap();
        std::fs::write(&manifest, format!("{text}# touched\n")).unwrap();
    }
    let changes = PluginDir::sync_with_policy(dir.path(), &options, &host, &head).unwrap();
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert!(style(&head).iter().all(|(_, text)| text == "from the host"), "{:?}", style(&head));
}

#[test]
fn plugins_given_other_capabilities_never_share_a_frozen_store() {
    // A frozen group runs in one store with one WASI context: the
    // settings freezing compares must tell the plugins apart.
    let dir = dir_with("env = [\"STYLE\"]", "env = { STYLE = \"rounded\" }");
    let plugin_dir = PluginDir::open(dir.path(), &DirOptions::default()).unwrap();
    let grants = |id: &str| {
        let plugin = plugin_dir.plugins.iter().find(|p| p.plugin_id() == id).unwrap();
        wasm_link::PluginData::grants(plugin).unwrap()
    };
    assert_ne!(grants("rs-probe"), grants("markdown-parser"));
    assert_eq!(grants("rs-probe"), grants("py-probe"), "the same capabilities, the same settings");
    let host: Policy =
        toml::from_str("[rs-probe]\nenv = { STYLE = \"a\" }\n[py-probe]\nenv = { STYLE = \"b\" }").unwrap();
    let plugin_dir = PluginDir::open_with_policy(dir.path(), &DirOptions::default(), &host).unwrap();
    let grants = |id: &str| {
        let plugin = plugin_dir.plugins.iter().find(|p| p.plugin_id() == id).unwrap();
        wasm_link::PluginData::grants(plugin).unwrap()
    };
    assert_ne!(grants("rs-probe"), grants("py-probe"), "other values, other settings");
    assert!(!grants("rs-probe").iter().any(|g| g.contains('a') && g.contains("STYLE")), "no value shown");
}
