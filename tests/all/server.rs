//! The HTTP server example (`examples/server.rs`) end to end: the compiled
//! example runs as a child process on a free port, driven by a real HTTP
//! client. Plain `cargo test` builds the example; `cargo test --test all`
//! alone does not (`cargo build --example server` first).

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Barrier, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::Value;
use tempfile::TempDir;
use wasm_link::dir::{CompileCache, DirOptions, DirPlugin, PluginDir};
use wasm_link::{PluginTreeHead, Socket, Val};

/// Long enough for a first start that compiles every plugin in a debug build.
const STARTUP: Duration = Duration::from_mins(2);
/// The input that makes `trapping-formatter` trap (its `MARKER`).
const MARKER: &str = "TRAP-NOW";
const DEMO_PLUGINS: [&str; 9] = [
    "capitalize",
    "code-spans",
    "markdown-parser",
    "pipeline",
    "readability",
    "table-formatter",
    "trim-whitespace",
    "vocabulary",
    "word-count",
];

/// A running server; killed when dropped, so a failing test leaves no process.
struct Server {
    child: Child,
    url: String,
    client: Client,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How a start that did not reach `listening on` ended.
#[derive(Debug)]
struct StartFailure {
    status: Option<ExitStatus>,
    stderr: String,
}

/// The example binary next to this test binary: `target/<profile>/deps/all-*`
/// runs beside `target/<profile>/examples/server`.
fn server_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("the test binary is in target/<profile>/deps");
    let binary = profile_dir.join("examples").join(format!("server{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.is_file(),
        "{} is missing: build it with `cargo build --example server` (plain `cargo test` builds it too)",
        binary.display()
    );
    binary
}

/// Starts the server on `dir` and waits for its `listening on` line.
fn try_start(dir: &Path) -> Result<Server, StartFailure> {
    let mut child = Command::new(server_binary())
        .args(["--listen", "127.0.0.1:0", "--dir"])
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the server starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    // Both pipes are drained by threads, so the server never blocks on a
    // full pipe; its standard error ends up in failure messages.
    let stderr: JoinHandle<String> =
        std::thread::spawn(move || BufReader::new(stderr).lines().map_while(Result::ok).collect::<Vec<_>>().join("\n"));
    let (lines, first_line) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let client = Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a client without TLS or proxies builds");
    let mut server = Server { child, url: String::new(), client };
    let started = Instant::now();
    loop {
        match first_line.recv_timeout(STARTUP.saturating_sub(started.elapsed())) {
            Ok(line) => {
                if let Some(url) = line.strip_prefix("listening on ") {
                    url.clone_into(&mut server.url);
                    return Ok(server);
                }
            }
            // Standard output closed: the server exited (or is exiting).
            Err(RecvTimeoutError::Disconnected) => {
                let status = server.child.wait().ok();
                return Err(StartFailure { status, stderr: stderr.join().unwrap_or_default() });
            }
            Err(RecvTimeoutError::Timeout) => {
                drop(server);
                panic!("no `listening on` line within {STARTUP:?}; stderr: {}", stderr.join().unwrap_or_default());
            }
        }
    }
}

fn start(dir: &Path) -> Server {
    try_start(dir).unwrap_or_else(|failure| panic!("the server did not start: {failure:?}"))
}

impl Server {
    fn render(&self, body: impl Into<reqwest::blocking::Body>) -> (StatusCode, String) {
        let response = self.client.post(format!("{}/render", self.url)).body(body).send().expect("POST /render");
        let status = response.status();
        (status, response.text().expect("a text body"))
    }

    fn health(&self) -> Vec<Value> {
        let response = self.client.get(format!("{}/health", self.url)).send().expect("GET /health");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[reqwest::header::CONTENT_TYPE], "application/json");
        match response.json_value() {
            Value::Array(plugins) => plugins,
            other => panic!("health is not an array: {other}"),
        }
    }

    fn health_of(&self, plugin: &str) -> Value {
        self.health().into_iter().find(|h| h["plugin"] == plugin).unwrap_or_else(|| panic!("no plugin `{plugin}`"))
    }
}

/// `serde_json` on a blocking response, without reqwest's `json` feature.
trait JsonValue {
    fn json_value(self) -> Value;
}

impl JsonValue for reqwest::blocking::Response {
    fn json_value(self) -> Value {
        serde_json::from_str(&self.text().expect("a text body")).expect("a JSON body")
    }
}

fn demo_dir() -> &'static Path {
    Path::new(wasm_link_guests::DEMO_DIR)
}

/// The demo with `table-formatter` replaced by `trapping-formatter` (same
/// plugin id), plus `manifest_extra` appended to its manifest.
fn hostile_demo(manifest_extra: &str) -> TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    wasm_link_guests::copy_demo(dir.path());
    let plugin = dir.path().join("plugins/table-formatter");
    let hostile = wasm_link_guests::component("trapping-formatter").expect("the trapping-formatter guest is built");
    std::fs::copy(hostile, plugin.join("table-formatter.wasm")).expect("the hostile component replaces the formatter");
    let manifest = plugin.join("plugin.toml");
    let text = std::fs::read_to_string(&manifest).expect("the formatter's manifest");
    std::fs::write(&manifest, format!("{text}{manifest_extra}")).expect("the manifest is writable");
    dir
}

/// The demo loaded in this process: what the server should answer.
fn reference_run(source: &str) -> String {
    static HEAD: OnceLock<PluginTreeHead<DirPlugin>> = OnceLock::new();
    let head = HEAD.get_or_init(|| {
        // SAFETY: the demo's and the server's cache, in this workspace's own
        // `target/` directory, as trusted as this test binary built beside
        // it. With the server's engine settings the entries are shared, so
        // the reference costs no compilation (seconds in a debug build).
        #[allow(unsafe_code, reason = "a compile cache in the workspace's own build directory")]
        let cache = unsafe { CompileCache::new(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/demo-cache")) };
        let plugin_dir =
            PluginDir::open(demo_dir(), &DirOptions { cache: Some(cache) }).expect("the demo directory opens");
        let (tree, errors) = plugin_dir.into_tree();
        assert!(errors.is_empty(), "{errors:?}");
        let engine = wasm_link::default_engine().expect("the engine");
        let linker = PluginDir::linker(&engine).expect("the WASI linker");
        let (head, errors) = tree.load(&engine, &linker).expect("the demo loads");
        assert!(errors.is_empty(), "{errors:?}");
        head
    });
    match head.dispatch(head.interface_path(), "run", true, &[Val::String(source.to_owned())]) {
        Socket::ExactlyOne(Ok(Val::String(report))) => report,
        other => panic!("the in-process run failed: {other:?}"),
    }
}

#[test]
fn render_answers_the_pipelines_report() {
    let server = start(demo_dir());
    let sample = std::fs::read_to_string(demo_dir().join("sample.md")).expect("demo/sample.md");
    let response = server.client.post(format!("{}/render", server.url)).body(sample.clone()).send().expect("POST");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[reqwest::header::CONTENT_TYPE], "text/plain; charset=utf-8");
    let report = response.text().expect("a text body");
    assert_eq!(report, reference_run(&sample));
    // What `cargo run -p wasm-link-demo` prints for the sample, so the test
    // fails when both sides break the same way.
    assert!(report.contains("| A Modular Application |"), "{report}");
    assert!(report.contains("  `wasm-link` builds applications out of small plugins."), "{report}");
    assert!(report.contains("capitalized sentences in 3 paragraph(s)"), "{report}");
    // The JavaScript transform and the Python analyser, on the async path.
    assert!(report.contains("marked 1 program name(s) as code"), "{report}");
    assert!(report.contains("vocabulary: distinct words     |       41 |"), "{report}");
    assert!(report.contains("word-count: words              |       55 |"), "{report}");
}

#[test]
fn concurrent_requests_each_get_their_own_report() {
    const REQUESTS: usize = 16;
    let inputs: Vec<String> = (0..REQUESTS)
        .map(|i| format!("# Document {i}\n\nthis   is request {i}.{}\n\nthe end.", " more words".repeat(i)))
        .collect();
    let expected: Vec<String> = inputs.iter().map(|input| reference_run(input)).collect();
    assert_eq!(expected.iter().collect::<HashSet<_>>().len(), REQUESTS, "the inputs must give distinct reports");

    let server = start(demo_dir());
    let barrier = Barrier::new(REQUESTS);
    let answers: Vec<(StatusCode, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = inputs
            .iter()
            .map(|input| {
                let (server, barrier) = (&server, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    server.render(input.clone())
                })
            })
            .collect();
        handles.into_iter().map(|handle| handle.join().expect("a request thread")).collect()
    });
    for (i, ((status, body), expected)) in answers.iter().zip(&expected).enumerate() {
        assert_eq!(*status, StatusCode::OK, "request {i}: {body}");
        assert_eq!(body, expected, "request {i}");
    }
    assert_eq!(server.health_of("pipeline")["calls"], REQUESTS);
}

#[test]
fn a_trapping_plugin_fails_only_its_own_request() {
    let dir = hostile_demo("");
    let server = start(dir.path());
    let normal = "# Normal\n\nall is well.";

    let (status, first) = server.render(normal);
    assert_eq!(status, StatusCode::OK, "{first}");
    // The hostile formatter's own format: it is the one serving.
    assert!(first.starts_with("[Normal]\n"), "{first}");

    let (status, body) = server.render(format!("# Hostile\n\nplease {MARKER} here."));
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert!(body.contains("plugin `pipeline` failed"), "{body}");
    assert!(body.contains("plugin `table-formatter` trapped"), "{body}");

    let (status, again) = server.render(normal);
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again, first);

    let formatter = server.health_of("table-formatter");
    assert_eq!(formatter["calls"], 3, "{formatter}");
    assert_eq!(formatter["failures"], 1, "{formatter}");
    assert_eq!(formatter["state"], "running", "{formatter}");
    assert!(formatter["last_error"].as_str().is_some_and(|e| !e.is_empty()), "{formatter}");
    for plugin in ["capitalize", "markdown-parser", "readability", "trim-whitespace", "word-count"] {
        let health = server.health_of(plugin);
        assert_eq!(health["failures"], 0, "{health}");
    }
}

#[test]
fn a_quarantined_plugin_answers_503() {
    let dir = hostile_demo("\n[recovery]\nquarantine-after = 1\nwindow-ms = 60000\ncooldown-ms = 60000\n");
    let server = start(dir.path());

    let (status, body) = server.render(format!("# Hostile\n\n{MARKER}"));
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    // The formatter is left alone now: the pipeline cannot render anything.
    let (status, body) = server.render("# Normal\n\nall is well.");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body.contains("plugin `table-formatter` is quarantined"), "{body}");

    let formatter = server.health_of("table-formatter");
    assert_eq!(formatter["state"], "quarantined", "{formatter}");
    assert!(formatter["quarantined_for_ms"].as_u64().is_some_and(|ms| ms > 0), "{formatter}");
}

#[test]
fn health_lists_every_demo_plugin() {
    let server = start(demo_dir());
    let health = server.health();
    let plugins: Vec<&str> = health.iter().map(|h| h["plugin"].as_str().expect("a plugin id")).collect();
    assert_eq!(plugins, DEMO_PLUGINS);
    for plugin in &health {
        assert_eq!(plugin["calls"], 0, "{plugin}");
        assert_eq!(plugin["failures"], 0, "{plugin}");
        assert_eq!(plugin["reinstantiations"], 0, "{plugin}");
        assert_eq!(plugin["cancelled"], 0, "{plugin}");
        assert_eq!(plugin["held_handles"], 0, "{plugin}");
        assert_eq!(plugin["state"], "running", "{plugin}");
        assert!(plugin["last_error"].is_null(), "{plugin}");
    }
    // Live figures, not a snapshot from startup.
    let (status, body) = server.render("# T\n\nhello.");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(server.health_of("pipeline")["calls"], 1);
}

#[test]
fn metrics_are_prometheus_text_matching_health() {
    let server = start(demo_dir());
    for _ in 0..3 {
        let (status, body) = server.render("# T\n\nhello.");
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let response = server.client.get(format!("{}/metrics", server.url)).send().expect("GET /metrics");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/plain; version=0.0.4"),
        "{:?}",
        response.headers()
    );
    let samples = crate::stats::parse_prometheus(&response.text().expect("a text body"));
    let health = server.health();
    for plugin in &health {
        let id = plugin["plugin"].as_str().expect("a plugin id");
        let calls = crate::stats::sample(&samples, "wasm_link_plugin_calls_total", &[("plugin", id)]);
        assert_eq!(Some(calls), plugin["calls"].as_u64(), "{id}");
        assert_eq!(crate::stats::sample(&samples, "wasm_link_plugin_up", &[("plugin", id)]), 1, "{id}");
    }
    // The host's three calls of the root, on its edge to the pipeline.
    let root = [("consumer", ""), ("function", "run"), ("provider", "pipeline")];
    assert_eq!(crate::stats::sample(&samples, "wasm_link_edge_calls_total", &root), 3);
    // The pipeline's calls to the parser, one edge per socket function.
    assert!(samples.iter().any(|(name, labels, value)| name == "wasm_link_edge_calls_total"
        && labels["consumer"] == "pipeline"
        && labels["provider"] == "markdown-parser"
        && value.parse::<u64>().is_ok_and(|calls| calls >= 3)));
}

#[test]
fn bad_requests_are_refused_before_any_plugin_runs() {
    let server = start(demo_dir());
    let (status, body) = server.render(vec![b'#', b' ', 0xff, 0xfe]);
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("not UTF-8"), "{body}");

    let (status, body) = server.render("a".repeat((1 << 20) + 1));
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    // Exactly the limit is accepted.
    let (status, body) = server.render("a".repeat(1 << 20));
    assert_eq!(status, StatusCode::OK, "{body}");

    let response = server.client.get(format!("{}/render", server.url)).send().expect("GET /render");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(server.health_of("pipeline")["calls"], 1, "only the request within the limit ran");
}

#[test]
fn a_directory_that_cannot_be_opened_fails_at_startup() {
    let empty = tempfile::tempdir().expect("a temporary directory");
    let failure = match try_start(empty.path()) {
        Ok(server) => panic!("the server started on an empty directory at {}", server.url),
        Err(failure) => failure,
    };
    assert!(failure.status.is_some_and(|status| !status.success()), "{failure:?}");
    assert!(failure.stderr.contains("cannot open"), "{failure:?}");
    assert!(failure.stderr.contains("wasm-link.toml"), "{failure:?}");
    assert!(!failure.stderr.contains("panicked"), "{failure:?}");
}
