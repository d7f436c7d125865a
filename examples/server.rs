//! An HTTP front end for a plugin directory: the demo document pipeline as a
//! web service, with the runtime's per-plugin health next to it.
//!
//! ```text
//! cargo run --example server [-- --listen 127.0.0.1:8080 --dir demo]
//! curl --data-binary @demo/sample.md http://127.0.0.1:8080/render
//! curl http://127.0.0.1:8080/health
//! curl http://127.0.0.1:8080/metrics
//! ```
//!
//! - `POST /render`: the body (UTF-8 text, at most 1 MiB) goes to the root
//!   interface's `run(source: string) -> string`; the answer is its result.
//!   A failed call answers 500 with the error chain, or 503 when the failure
//!   is a quarantined or unavailable plugin.
//! - `GET /health`: every loaded plugin's calls, failures and state, as JSON.
//! - `GET /metrics`: the per-edge statistics and the plugins' health as
//!   Prometheus text (`wasm_link::prometheus_text`), for a scraper.
//!
//! The tree is loaded with `load_async` and each request is one
//! `dispatch_async`: plugins run on the executor's threads as futures, a
//! plugin that runs long yields to other requests at every epoch tick, and a
//! client that hangs up mid-call abandons its call without harm to the
//! plugins.
//!
//! Once the listener is bound and the plugins are loaded, the server prints
//! `listening on http://ADDR` (the bound address, so `--listen 127.0.0.1:0`
//! shows the chosen port) on standard output; everything else goes to
//! standard error. Ctrl-C stops it after the requests in flight.

use std::ffi::OsString;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use wasm_link::dir::{CompileCache, DirOptions, DirPlugin, PluginDir, Policy};
use wasm_link::{DispatchError, InterfaceCardinality, PluginHealth, PluginState, PluginTreeHead, Socket, Val};

/// The root function the server calls, `run(source: string) -> string`.
const RUN: &str = "run";
/// The largest request body accepted; a larger one is refused with 413.
const MAX_BODY: usize = 1 << 20;
const USAGE: &str = "usage: server [--listen ADDR] [--dir DIR] [--policy FILE] [--allow PLUGIN.KEY=VALUE]...\n\
    \x20 --listen ADDR  address to listen on (default 127.0.0.1:8080; port 0 picks a free port)\n\
    \x20 --dir DIR      plugin directory to load (default: the demo directory)\n\
    \x20 --policy FILE  the host's policy, in place of the directory's `[policy]`\n\
    \x20 --allow RULE   one more approval, `PLUGIN.KEY=VALUE` (`summariser.http=api.example.com`)";

/// The loaded demo tree.
pub type Head = PluginTreeHead<DirPlugin>;

/// The command line.
struct Options {
    listen: String,
    dir: PathBuf,
    /// `--policy`, and the `--allow` rules to add to it.
    policy: Option<PathBuf>,
    allow: Vec<String>,
}

/// What the command line asks for.
enum Command {
    Serve(Options),
    Help,
}

fn main() -> ExitCode {
    let options = match parse_args(std::env::args_os().skip(1)) {
        Ok(Command::Serve(options)) => options,
        Ok(Command::Help) => {
            // Nothing to do if standard output is gone.
            let _ = writeln!(std::io::stdout().lock(), "{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            report(&format!("server: {message}\n{USAGE}"));
            return ExitCode::from(2);
        }
    };
    // Built by hand rather than with `#[tokio::main]`, which panics when the
    // runtime cannot start.
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            report(&format!("server: cannot start the async runtime: {error}"));
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            report(&format!("server: {message}"));
            ExitCode::FAILURE
        }
    }
}

/// Writes a line to standard error. A failed write is dropped: there is
/// nowhere left to report it, and `eprintln!` would panic instead.
fn report(message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{message}");
}

fn parse_args(mut args: impl Iterator<Item = OsString>) -> Result<Command, String> {
    let mut options = Options {
        listen: "127.0.0.1:8080".to_owned(),
        dir: PathBuf::from(wasm_link_guests::DEMO_DIR),
        policy: None,
        allow: Vec::new(),
    };
    while let Some(arg) = args.next() {
        let arg = arg.into_string().map_err(|arg| format!("argument {} is not UTF-8", arg.display()))?;
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag.to_owned(), Some(OsString::from(value))),
            _ => (arg, None),
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--listen" | "--dir" | "--policy" | "--allow" => {
                let value = inline.or_else(|| args.next()).ok_or_else(|| format!("{flag} needs a value"))?;
                match flag.as_str() {
                    "--dir" => options.dir = PathBuf::from(value),
                    "--policy" => options.policy = Some(PathBuf::from(value)),
                    "--allow" => options.allow.push(value.into_string().map_err(|_| "--allow needs UTF-8".to_owned())?),
                    _ => {
                        options.listen =
                            value.into_string().map_err(|_| "--listen needs a UTF-8 address".to_owned())?;
                    }
                }
            }
            _ => return Err(format!("unknown argument `{flag}`")),
        }
    }
    Ok(Command::Serve(options))
}

/// Loads the plugin directory, binds the listener and serves until Ctrl-C.
async fn serve(options: Options) -> Result<(), String> {
    // Bound before the slow load, so a bad address fails at once; requests
    // that arrive during the load wait in the backlog.
    let listener = tokio::net::TcpListener::bind(&options.listen)
        .await
        .map_err(|error| format!("cannot listen on {}: {error}", options.listen))?;
    // Boxed: a plugin directory's load holds each plugin's WASI context.
    let policy = host_policy(&options)?;
    let head = Arc::new(Box::pin(load_dir_with(&options.dir, policy.as_ref())).await?);
    let address = listener.local_addr().map_err(|error| format!("cannot read the bound address: {error}"))?;
    // Scripts wait for this exact line, so it must leave the buffer now.
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on http://{address}")
        .and_then(|()| stdout.flush())
        .map_err(|error| format!("cannot write to standard output: {error}"))?;
    drop(stdout);

    axum::serve(listener, app(head))
        .with_graceful_shutdown(async {
            // Without a Ctrl-C handler there is nothing to wait for: serve
            // until the process is killed.
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        })
        .await
        .map_err(|error| format!("the server stopped: {error}"))
}

/// The routes, over a loaded tree (also driven by `cargo bench`'s server
/// throughput figures).
pub fn app(head: Arc<Head>) -> Router {
    Router::new()
        .route("/render", post(render))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(head)
}

/// Opens `dir`, loads its tree and checks that the root can serve `run`.
/// Problems that leave the root servable are reported and skipped.
///
/// # Errors
/// When the directory cannot be opened, the root cannot be served, or it
/// cannot serve `run`: the message says why.
pub async fn load_dir(dir: &std::path::Path) -> Result<Head, String> {
    load_dir_with(dir, None).await
}

/// The host's policy from `--policy` (else the directory's own) with the
/// `--allow` rules added; `None` when the command line gave neither.
fn host_policy(options: &Options) -> Result<Option<Policy>, String> {
    if options.policy.is_none() && options.allow.is_empty() {
        return Ok(None);
    }
    let mut policy = match &options.policy {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
            toml::from_str(&text).map_err(|e| format!("`{}`: {e}", path.display()))?
        }
        None => PluginDir::own_policy(&options.dir).map_err(|e| wasm_link::error_chain(&e))?,
    };
    for rule in &options.allow {
        wasm_link::dir::allow(&mut policy, rule)?;
    }
    Ok(Some(policy))
}

/// [`load_dir`] under the host's `policy` (`None`: the directory's own).
///
/// # Errors
/// As [`load_dir`].
pub async fn load_dir_with(dir: &std::path::Path, policy: Option<&Policy>) -> Result<Head, String> {
    // SAFETY: the cache lives in this workspace's own `target/` directory,
    // written only by the user who builds and runs the example (as trusted
    // as the example binary built into the same directory). It is the
    // demo's cache, so the two share compiled plugins.
    #[allow(unsafe_code, reason = "a compile cache in the workspace's own build directory")]
    let cache = unsafe { CompileCache::new(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/demo-cache")) };
    let options = DirOptions { cache: Some(cache) };
    let opened = match policy {
        Some(policy) => PluginDir::open_with_policy(dir, &options, policy),
        None => PluginDir::open(dir, &options),
    };
    let plugin_dir =
        opened.map_err(|error| format!("cannot open {}: {}", dir.display(), wasm_link::error_chain(&error)))?;
    for error in &plugin_dir.errors {
        report(&format!("skipped: {}", wasm_link::error_chain(error)));
    }
    let (tree, build_errors) = plugin_dir.into_tree();
    for error in &build_errors {
        report(&format!("not in the graph: {}", wasm_link::error_chain(error)));
    }
    let engine = wasm_link::default_engine().map_err(|error| format!("cannot create the engine: {error}"))?;
    // WASI as async host functions: every plugin runs on the executor, and
    // each request's call is asynchronous all the way down.
    let linker = PluginDir::linker_async(&engine).map_err(|error| format!("cannot set up the linker: {error}"))?;
    let (head, load_errors) = match tree.load_async(&engine, &linker).await {
        Ok(loaded) => loaded,
        Err((error, others)) => {
            for other in &others {
                report(&format!("not loaded: {}", wasm_link::error_chain(other)));
            }
            return Err(format!("the root cannot be served: {}", wasm_link::error_chain(&error)));
        }
    };
    for error in &load_errors {
        report(&format!("not loaded: {}", wasm_link::error_chain(error)));
    }
    if !head.function_names().any(|name| name == RUN) {
        return Err(format!("the root interface `{}` has no function `{RUN}`", head.interface_path()));
    }
    // `render` answers with one report: a root that could be served by
    // several plugins would need a way to merge theirs.
    if !matches!(head.cardinality(), InterfaceCardinality::ExactlyOne | InterfaceCardinality::AtMostOne) {
        return Err(format!(
            "the root interface `{}` is {:?}; the server needs exactly one or at most one plugin behind it",
            head.interface_path(),
            head.cardinality()
        ));
    }
    Ok(head)
}

/// `POST /render`.
async fn render(State(head): State<Arc<Head>>, body: Bytes) -> Response {
    let source = match std::str::from_utf8(&body) {
        Ok(source) => source.to_owned(),
        Err(error) => return failure(StatusCode::BAD_REQUEST, format!("the request body is not UTF-8: {error}")),
    };
    // Each request is one `dispatch_async`: a plugin that runs long yields
    // to the other requests at every epoch tick, and a client that hangs up
    // drops the future, which abandons the call cleanly.
    match head.dispatch_async(head.interface_path(), RUN, true, &[Val::String(source)]).await {
        Socket::ExactlyOne(Ok(Val::String(report))) | Socket::AtMostOne(Some(Ok(Val::String(report)))) => {
            text(StatusCode::OK, report)
        }
        Socket::ExactlyOne(Err(error)) | Socket::AtMostOne(Some(Err(error))) => {
            failure(status_of(&error), wasm_link::error_chain(&error))
        }
        Socket::AtMostOne(None) => failure(StatusCode::SERVICE_UNAVAILABLE, "no plugin serves the root".to_owned()),
        other => failure(StatusCode::INTERNAL_SERVER_ERROR, format!("unexpected result: {other:?}")),
    }
}

/// 503 when the call failed because a plugin on its path is quarantined or
/// unavailable (waiting may help), 500 for every other failure.
fn status_of(error: &DispatchError<String>) -> StatusCode {
    let mut error = error;
    loop {
        match error {
            DispatchError::Quarantined { .. } | DispatchError::Unavailable { .. } => {
                return StatusCode::SERVICE_UNAVAILABLE;
            }
            // The caller trapped because of a failure behind its socket:
            // that failure decides.
            DispatchError::Socket { source, .. } => error = &**source,
            _ => return StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// A plain-text answer, the report exactly as the plugin returned it.
fn text(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

/// A plain-text error, one line as a terminal (curl) shows best.
fn failure(status: StatusCode, mut message: String) -> Response {
    message.push('\n');
    text(status, message)
}

/// `GET /health`. `health` never waits for a busy plugin, so it runs here.
async fn health(State(head): State<Arc<Head>>) -> Response {
    let plugins: Vec<serde_json::Value> = head.health().iter().map(health_json).collect();
    let body = serde_json::Value::Array(plugins).to_string();
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// `GET /metrics`: what `stats()` and `health()` read now, as Prometheus text.
async fn metrics(State(head): State<Arc<Head>>) -> Response {
    let body = wasm_link::prometheus_text(&head.stats(), &head.health());
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response()
}

/// One plugin's health. Written by hand: `PluginHealth` is not `Serialize`
/// and, being `#[non_exhaustive]`, may grow fields this server does not know.
fn health_json(health: &PluginHealth<String>) -> serde_json::Value {
    let (state, quarantined_for_ms) = match health.state {
        PluginState::Running => ("running".to_owned(), None),
        PluginState::Quarantined { remaining } => {
            ("quarantined".to_owned(), Some(u64::try_from(remaining.as_millis()).unwrap_or(u64::MAX)))
        }
        PluginState::Unavailable => ("unavailable".to_owned(), None),
        other => (format!("{other:?}").to_lowercase(), None),
    };
    serde_json::json!({
        "plugin": health.plugin,
        "calls": health.calls,
        "failures": health.failures,
        "reinstantiations": health.reinstantiations,
        "cancelled": health.cancelled,
        "last_error": health.last_error,
        "state": state,
        "quarantined_for_ms": quarantined_for_ms,
        "held_handles": health.held_handles,
    })
}
