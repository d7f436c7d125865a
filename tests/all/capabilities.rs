//! Capabilities the host approves: a plugin's manifest requests files and
//! environment variables (`[requests]`), the host's policy approves them
//! (`[policy.<id>]` in `wasm-link.toml`, or `PluginDir::open_with_policy`).
//! The probes of `tests/polyglot/` try each from Rust, Python and
//! JavaScript (files and environment through WASI's own imports there:
//! `StarlingMonkey` has no API for either; HTTP to servers on 127.0.0.1).

use std::path::Path;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use wasm_link::dir::{Capabilities, DirError, DirOptions, DirPlugin, PluginDir, Policy, Sandbox, SandboxView};
use wasm_link::{Budget, DispatchError, PluginTreeHead, Socket, Val};

use crate::http_fixture::Server;

const PROBE: &str = "test:probe/probe@0.1.0";
const PROBES: [&str; 3] = ALL;
const ALL: [&str; 3] = ["rs-probe", "py-probe", "js-probe"];

/// [`dir_with_probes`] with the probes of all three languages.
fn dir_with(requests: &str, policy: &str) -> TempDir {
    dir_with_probes(&PROBES, requests, policy)
}

/// A copy of `tests/polyglot/` with `probes`, each requesting `requests`
/// (a `[requests]` table body), under the directory policy `policy`
/// (`[policy.<id>]` tables); a `data/` directory with `hello.txt`, a
/// `secret.txt` beside it, and `data/out` a link to it.
fn dir_with_probes(probes: &[&str], requests: &str, policy: &str) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    wasm_link_guests::copy_dir(Path::new(wasm_link_guests::POLYGLOT_DIR), dir.path());
    for probe in ALL.iter().filter(|p| !probes.contains(p)) {
        std::fs::remove_dir_all(dir.path().join("plugins").join(probe)).unwrap();
    }
    for probe in probes {
        let manifest = dir.path().join("plugins").join(probe).join("plugin.toml");
        let text = std::fs::read_to_string(&manifest).unwrap();
        std::fs::write(&manifest, format!("{text}[requests]\n{requests}\n")).unwrap();
    }
    let top = dir.path().join("wasm-link.toml");
    let text = std::fs::read_to_string(&top).unwrap();
    let policies = probes.iter().fold(String::new(), |mut out, probe| {
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
    assert_eq!(refused.len(), PROBES.len(), "{refused:?}");
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
    // The Python and JavaScript probes are approved nothing by the host's policy.
    let refused: Vec<&str> = plugin_dir
        .errors
        .iter()
        .map(|error| match error {
            DirError::NotApproved { plugin, .. } => plugin.as_str(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(refused, ["js-probe", "py-probe"]);
    let rust = plugin_dir.plugins.iter().find(|p| p.plugin_id() == "rs-probe").unwrap();
    assert_eq!(rust.capabilities().env, [("STYLE".to_owned(), "from the host".to_owned())]);
    assert_eq!(rust.requests().env, ["STYLE"]);
}

#[test]
fn a_sync_under_the_hosts_policy_keeps_it_for_the_plugins_it_reloads() {
    let dir = dir_with("env = [\"STYLE\"]", "env = { STYLE = \"from the directory\" }");
    let host: Policy = toml::from_str(
        "[rs-probe]\nenv = { STYLE = \"from the host\" }\n[py-probe]\nenv = { STYLE = \"from the host\" }\n\
         [js-probe]\nenv = { STYLE = \"from the host\" }",
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
    assert_eq!(changes.len(), PROBES.len(), "{changes:?}");
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

/// Each probe's answer to `http-get(url)`.
fn get(head: &PluginTreeHead<DirPlugin>, url: &str) -> Vec<(String, String)> {
    let got = answers(head, "http-get", &[Val::String(url.into())]);
    assert_eq!(got.len(), ALL.len(), "{got:?}");
    got
}

/// Requests for `127.0.0.1:<port>` from every probe, approved as `approved`.
fn http_dir(port: u16, approved: &str, extra_policy: &str) -> TempDir {
    dir_with_probes(&ALL, &format!("http = [\"127.0.0.1:{port}\"]"), &format!("http = [{approved}]\n{extra_policy}"))
}

#[test]
fn http_goes_to_approved_authorities_only_from_every_language() {
    let server = Server::start();
    let other = Server::start();
    let dir = http_dir(server.port, "\"127.0.0.1:*\"", "");
    let head = open(dir.path());
    for (plugin, text) in get(&head, &server.url("/hello")) {
        assert_eq!(text, "200 hello over http", "{plugin}");
    }
    assert_eq!(server.requests(), ALL.len());
    // Another port of the same host, and the same port by another name:
    // approved by the policy's `127.0.0.1:*`, but never requested.
    for url in [other.url("/hello"), format!("http://localhost:{}/hello", server.port)] {
        for (plugin, text) in get(&head, &url) {
            assert!(text.starts_with("refused"), "{plugin} to {url}: {text}");
        }
    }
    assert_eq!(other.connections(), 0, "no connection was made to an unapproved authority");
    assert_eq!(server.requests(), ALL.len());
}

#[test]
fn without_an_approval_every_request_is_refused_before_a_connection() {
    let server = Server::start();
    let dir = dir_with_probes(&ALL, "", "");
    let head = open(dir.path());
    for (plugin, text) in get(&head, &server.url("/hello")) {
        assert!(text.starts_with("refused"), "{plugin}: {text}");
        if plugin != "js-probe" {
            // Rust and Python name wasi:http's error code; JavaScript's
            // `fetch` turns every one into a `TypeError`.
            assert!(text.contains("HttpRequestDenied"), "{plugin}: {text}");
        }
    }
    assert_eq!(server.connections(), 0);
}

#[test]
fn a_redirect_is_not_followed_by_the_host_and_its_target_passes_the_gate() {
    let server = Server::start();
    let elsewhere = Server::start();
    server.redirect_to(&elsewhere.url("/hello"));
    let dir = http_dir(server.port, &format!("\"127.0.0.1:{}\"", server.port), "");
    let head = open(dir.path());
    for (plugin, text) in get(&head, &server.url("/redirect")) {
        // The plugin sees the `302` (Rust, Python, JavaScript asking for
        // `redirect: "manual"`), or its client follows it and is refused.
        let shown = text == format!("302 -> {}", elsewhere.url("/hello"));
        assert!(shown || text.starts_with("refused"), "{plugin}: {text}");
    }
    assert_eq!(elsewhere.connections(), 0, "the redirect's target was never reached");
}

#[test]
fn a_server_that_never_answers_is_cut_at_the_calling_plugins_deadline() {
    let server = Server::start();
    let dir = dir_with_probes(
        &ALL,
        &format!("http = [\"127.0.0.1:{}\"]", server.port),
        &format!("http = [\"127.0.0.1:{}\"]", server.port),
    );
    for probe in ALL {
        let manifest = dir.path().join("plugins").join(probe).join("plugin.toml");
        let text = std::fs::read_to_string(&manifest).unwrap();
        std::fs::write(&manifest, text.replace("[requests]", "[limits]\ndeadline-ms = 1000\n[requests]")).unwrap();
    }
    let head = open(dir.path());
    let Socket::Any(results) = head.dispatch(PROBE, "http-get", true, &[Val::String(server.url("/silent"))]) else {
        panic!()
    };
    for (plugin, result) in results {
        match result {
            // The request timed out at the call's end; the plugin's next
            // instruction ran past its deadline.
            Err(DispatchError::BudgetExceeded { budget: Budget::Deadline { .. }, .. }) => {}
            // Or it returned before the next tick.
            Ok(Val::String(text)) if text.starts_with("refused") => {}
            other => panic!("{plugin}: {other:?}"),
        }
    }
    let started = Instant::now();
    let Socket::Any(results) = head.dispatch(PROBE, "http-get", true, &[Val::String(server.url("/silent"))]) else {
        panic!()
    };
    assert_eq!(results.len(), ALL.len());
    // Three plugins, one after another, each cut at its 1 s deadline.
    assert!(started.elapsed() < Duration::from_secs(3 * 3), "{:?}", started.elapsed());
}

#[test]
fn a_response_larger_than_the_budget_is_cut_at_the_budget() {
    let server = Server::start();
    let dir = http_dir(server.port, &format!("\"127.0.0.1:{}\"", server.port), "http-response-bytes = 1048576");
    let head = open(dir.path());
    // 1 GiB, streamed without a length.
    for (plugin, text) in get(&head, &server.url("/huge")) {
        assert!(text.starts_with("refused"), "{plugin}: {text}");
        if plugin != "js-probe" {
            // wasmtime-wasi-http 48 gives a failed body no `error-code`:
            // its debug string says it, `HTTP response body size exceeds limit`.
            assert!(text.contains("body size"), "{plugin}: {text}");
            let read: u64 = text.split(" after ").nth(1).and_then(|t| t.split(' ').next()?.parse().ok()).unwrap();
            assert!(read <= 1 << 20, "{plugin} read {read} bytes");
        }
    }
    assert!(server.sent() < 256 << 20, "the server stopped early: {} bytes sent", server.sent());
    // 1 GiB announced: refused before the body.
    for (plugin, text) in get(&head, &server.url("/huge-declared")) {
        assert!(text.starts_with("refused"), "{plugin}: {text}");
    }
    // A small answer still passes.
    for (plugin, text) in get(&head, &server.url("/hello")) {
        assert_eq!(text, "200 hello over http", "{plugin}");
    }
}

#[test]
fn configuration_keys_come_from_the_policy_and_only_those_requested() {
    let dir = dir_with_probes(&ALL, "config = [\"title-rule\"]", "config = { title-rule = \"~\", secret = \"x\" }");
    let head = open(dir.path());
    let config = |key: &str| answers(&head, "config", &[Val::String(key.into())]);
    let got = config("title-rule");
    assert_eq!(got.len(), ALL.len());
    for (plugin, text) in got {
        assert_eq!(text, "~", "{plugin}");
    }
    for key in ["secret", "nothing"] {
        for (plugin, text) in config(key) {
            assert_eq!(text, "unset", "{plugin}: {key}");
        }
    }
    let without = dir_with_probes(&ALL, "", "config = { title-rule = \"~\" }");
    let head = open(without.path());
    for (plugin, text) in answers(&head, "config", &[Val::String("title-rule".into())]) {
        assert_eq!(text, "unset", "{plugin}: approved but never requested");
    }
}

/// A library user's own plugin type: capabilities without a directory, in
/// a [`Sandbox`] it keeps.
struct Mine {
    id: String,
    plug: String,
    sockets: Vec<String>,
    component: std::path::PathBuf,
    sandbox: Sandbox,
}

impl wasm_link::PluginCtxView for Mine {
    fn resource_table(&mut self) -> &mut wasm_link::ResourceTable {
        self.sandbox.resource_table()
    }
}

impl wasmtime_wasi::WasiView for Mine {
    fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        self.sandbox.wasi_view()
    }
}

impl SandboxView for Mine {
    fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }
    fn sandbox_mut(&mut self) -> &mut Sandbox {
        &mut self.sandbox
    }
}

impl wasm_link::PluginData for Mine {
    type Id = String;
    type InterfaceId = String;
    type Error = std::io::Error;
    type SocketIter<'a> = std::slice::Iter<'a, String>;

    fn id(&self) -> Result<&String, Self::Error> {
        Ok(&self.id)
    }
    fn plug(&self) -> Result<&String, Self::Error> {
        Ok(&self.plug)
    }
    fn sockets(&self) -> Result<Self::SocketIter<'_>, Self::Error> {
        Ok(self.sockets.iter())
    }
    fn component(&self, engine: &wasm_link::Engine) -> Result<wasm_link::Component, Self::Error> {
        let bytes = std::fs::read(&self.component)?;
        wasm_link::Component::new(engine, bytes).map_err(std::io::Error::other)
    }
}

#[test]
fn a_library_users_plugin_type_gets_the_same_capabilities_from_a_sandbox() {
    let server = Server::start();
    let polyglot = Path::new(wasm_link_guests::POLYGLOT_DIR);
    let interfaces = PluginDir::open(polyglot, &DirOptions::default()).unwrap().interfaces;
    let plugin = |id: &str, plug: &str, sockets: &[&str], capabilities: &Capabilities| Mine {
        id: id.to_owned(),
        plug: plug.to_owned(),
        sockets: sockets.iter().map(|&s| s.to_owned()).collect(),
        component: polyglot.join("plugins").join(id).join(format!("{id}.wasm")),
        sandbox: Sandbox::new(id, capabilities),
    };
    let given = Capabilities {
        env: vec![("STYLE".to_owned(), "rounded".to_owned())],
        config: vec![("rule".to_owned(), "~".to_owned())],
        http: vec![format!("127.0.0.1:{}", server.port)],
        ..Capabilities::default()
    };
    let load = |capabilities: &Capabilities| {
        let plugins = vec![
            plugin("rs-probe", "probe", &["parser"], capabilities),
            plugin("markdown-parser", "parser", &[], &Capabilities::default()),
        ];
        let (tree, errors) = wasm_link::PluginTree::new("probe".to_owned(), interfaces.clone(), plugins);
        assert!(errors.is_empty(), "{errors:?}");
        let engine = wasm_link::default_engine().unwrap();
        let (head, errors) = tree.load(&engine, &Sandbox::linker(&engine).unwrap()).unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        head
    };
    let ask = |head: &PluginTreeHead<Mine>, function: &str, arg: String| match head.dispatch(
        PROBE,
        function,
        true,
        &[Val::String(arg)],
    ) {
        Socket::Any(mut results) => match results.remove("rs-probe") {
            Some(Ok(Val::String(text))) => text,
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    };
    let head = load(&given);
    assert_eq!(ask(&head, "read-env", "STYLE".into()), "rounded");
    assert_eq!(ask(&head, "config", "rule".into()), "~");
    assert_eq!(ask(&head, "http-get", server.url("/hello")), "200 hello over http");
    // The default is nothing.
    let head = load(&Capabilities::default());
    assert_eq!(ask(&head, "read-env", "STYLE".into()), "unset");
    assert_eq!(ask(&head, "config", "rule".into()), "unset");
    assert!(ask(&head, "http-get", server.url("/hello")).contains("HttpRequestDenied"));
    assert_eq!(server.requests(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_on_an_async_tree_is_served_and_cut_at_the_deadline() {
    let server = Server::start();
    let dir = dir_with_probes(
        &["rs-probe"],
        &format!("http = [\"127.0.0.1:{}\"]", server.port),
        &format!("http = [\"127.0.0.1:{}\"]", server.port),
    );
    let manifest = dir.path().join("plugins/rs-probe/plugin.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("[requests]", "[limits]\ndeadline-ms = 500\n[requests]")).unwrap();
    let plugin_dir = PluginDir::open(dir.path(), &DirOptions { cache: Some(crate::polyglot::cache()) }).unwrap();
    let (tree, _) = plugin_dir.into_tree();
    let engine = wasm_link::default_engine().unwrap();
    let (head, errors) = tree.load_async(&engine, &PluginDir::linker_async(&engine).unwrap()).await.unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    let get = |path: &str| {
        let url = server.url(path);
        let head = &head;
        async move {
            match head.dispatch_async(PROBE, "http-get", true, &[Val::String(url)]).await {
                Socket::Any(mut results) => results.remove("rs-probe").unwrap(),
                other => panic!("{other:?}"),
            }
        }
    };
    assert!(matches!(get("/hello").await, Ok(Val::String(text)) if text == "200 hello over http"));
    let started = Instant::now();
    let silent = get("/silent").await;
    assert!(
        matches!(&silent, Err(DispatchError::BudgetExceeded { budget: Budget::Deadline { .. }, .. }))
            || matches!(&silent, Ok(Val::String(text)) if text.starts_with("refused")),
        "{silent:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
}
