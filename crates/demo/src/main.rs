//! The demo application: a document pipeline assembled from the plugin
//! directory `demo/` (or the directory given as first argument), run on the
//! sample document embedded in the binary.
//!
//! `demo/plugins/` holds a parser (`ExactlyOne`, returning a `document`
//! resource), transforms (`Any`, each lent the document), analysers
//! (`AtLeastOne`) and an optional formatter (`AtMostOne`). Remove a plugin
//! folder and the output changes: without `table-formatter` the pipeline uses
//! its built-in plain format.
//!
//! With `--watch` the demo keeps running after its report: it follows
//! `plugins/` and, after each batch of changes (a component rebuilt, a folder
//! added or removed), prints what changed and runs the pipeline again. It
//! stops on Ctrl-C, or after `--watch-for SECONDS` (which implies `--watch`).
//!
//! With `--freeze` the plugins joined by plain `ExactlyOne` edges are
//! composed into one component each (`LoadOptions::freeze`); the demo prints
//! what froze and which `ExactlyOne` edges stayed dynamic, and why, then the
//! same report.
//!
//! Built with feature `otel`, the run is one trace: exported over OTLP/HTTP
//! when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (with the edge statistics as
//! metrics), and drawn as an SVG waterfall with `--trace-svg FILE`.

#[cfg(feature = "otel")]
mod telemetry;
#[cfg(feature = "otel")]
mod trace_svg;

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasm_link::dir::{CompileCache, DirChange, DirOptions, DirPlugin, DirWatch, PluginDir};
use wasm_link::{LoadOptions, PluginTreeHead, Socket, Val};

const SAMPLE: &str = include_str!("../../../demo/sample.md");

const USAGE: &str = "usage: wasm-link-demo [DIR] [--freeze] [--watch] [--watch-for SECONDS] [--trace-svg FILE]";

/// The name of the span of one run of the pipeline: the root of its trace.
#[cfg(feature = "otel")]
const RUN_SPAN: &str = "demo: run";

/// The command line: `[DIR] [--freeze] [--watch] [--watch-for SECONDS] [--trace-svg FILE]`.
struct Args {
    dir: PathBuf,
    /// Load with `LoadOptions::freeze`.
    freeze: bool,
    /// Follow the directory after the first report.
    watch: bool,
    /// Stop following after this long (`None`: until interrupted).
    watch_for: Option<Duration>,
    /// Draw the first run's trace into this file (feature `otel`).
    #[cfg_attr(not(feature = "otel"), allow(dead_code, reason = "refused without feature otel"))]
    trace_svg: Option<PathBuf>,
}

/// The command line, or `None` for `--help`.
fn parse_args(mut args: impl Iterator<Item = OsString>) -> Result<Option<Args>, String> {
    let mut dir = None;
    let mut watch = false;
    let mut freeze = false;
    let mut watch_for = None;
    let mut trace_svg = None;
    let mut options_done = false;
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--") if !options_done => options_done = true,
            Some("--watch") if !options_done => watch = true,
            Some("--freeze") if !options_done => freeze = true,
            Some("--watch-for") if !options_done => {
                let seconds = args.next().ok_or("`--watch-for` needs a number of seconds")?;
                let seconds = seconds
                    .to_str()
                    .and_then(|s| s.parse::<f64>().ok())
                    .and_then(|s| Duration::try_from_secs_f64(s).ok())
                    .ok_or_else(|| format!("`--watch-for` takes seconds, not `{}`", seconds.display()))?;
                watch = true;
                watch_for = Some(seconds);
            }
            Some("--trace-svg") if !options_done => {
                let file = args.next().ok_or("`--trace-svg` needs a file to draw the trace into")?;
                if cfg!(not(feature = "otel")) {
                    return Err("`--trace-svg` needs the demo built with feature `otel`: \
                                cargo run -p wasm-link-demo --features otel -- --trace-svg FILE"
                        .to_owned());
                }
                trace_svg = Some(PathBuf::from(file));
            }
            Some("-h" | "--help") if !options_done => return Ok(None),
            Some(option) if !options_done && option.starts_with('-') && option.len() > 1 => {
                return Err(format!("unknown option `{option}`"));
            }
            _ if dir.is_none() => dir = Some(PathBuf::from(arg)),
            _ => return Err(format!("unexpected argument `{}`", arg.display())),
        }
    }
    let dir = dir.unwrap_or_else(|| PathBuf::from(wasm_link_guests::DEMO_DIR));
    Ok(Some(Args { dir, freeze, watch, watch_for, trace_svg }))
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args_os().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("{message}\n{USAGE}");
            return ExitCode::FAILURE;
        }
    };
    let dir = args.dir;
    #[cfg(feature = "otel")]
    let telemetry = match telemetry::Telemetry::start(args.trace_svg.is_some()) {
        Ok(telemetry) => telemetry,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    // SAFETY: the cache lives in this workspace's own `target/` directory,
    // written only by the user who builds and runs the demo (as trusted as
    // the demo binary built into the same directory).
    #[allow(unsafe_code, reason = "a compile cache in the workspace's own build directory")]
    let cache = unsafe { CompileCache::new(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/demo-cache")) };
    let load_options = LoadOptions::new().freeze(args.freeze).compile_cache(cache.clone());
    let options = DirOptions { cache: Some(cache) };
    let plugin_dir = match PluginDir::open(&dir, &options) {
        Ok(plugin_dir) => plugin_dir,
        Err(error) => {
            eprintln!("cannot open {}: {}", dir.display(), wasm_link::error_chain(&error));
            return ExitCode::FAILURE;
        }
    };
    println!("plugin directory: {}", dir.display());
    for error in &plugin_dir.errors {
        println!("  skipped: {}", wasm_link::error_chain(error));
    }
    let (tree, build_errors) = plugin_dir.into_tree();
    for error in &build_errors {
        println!("  not in the graph: {}", wasm_link::error_chain(error));
    }
    let engine = match wasm_link::default_engine() {
        Ok(engine) => engine,
        Err(error) => {
            eprintln!("cannot create the engine: {error}");
            return ExitCode::FAILURE;
        }
    };
    let linker = match PluginDir::linker(&engine) {
        Ok(linker) => linker,
        Err(error) => {
            eprintln!("cannot set up the linker: {error}");
            return ExitCode::FAILURE;
        }
    };
    let (head, load_errors) = match tree.load_with(&engine, &linker, &load_options) {
        Ok(loaded) => loaded,
        Err((error, others)) => {
            for other in &others {
                println!("  not loaded: {}", wasm_link::error_chain(other));
            }
            eprintln!("the application cannot run: {}", wasm_link::error_chain(&error));
            return ExitCode::FAILURE;
        }
    };
    for error in &load_errors {
        println!("  not loaded: {}", wasm_link::error_chain(error));
    }
    let head = Arc::new(head);
    let loaded: Vec<&str> = head.loaded_plugin_ids().into_iter().map(String::as_str).collect();
    println!("  loaded: {}", loaded.join(", "));
    #[cfg(feature = "otel")]
    if let Some(telemetry) = &telemetry {
        telemetry.observe(&head);
    }
    if args.freeze {
        print_frozen(&head);
    }
    let succeeded = match run_pipeline(&head, &mut std::io::stdout().lock()) {
        Ok(succeeded) => succeeded,
        Err(error) => {
            eprintln!("cannot print the report: {error}");
            return ExitCode::FAILURE;
        }
    };
    let code = if args.watch { watch(&dir, options, head, succeeded, args.watch_for) } else { exit_code(succeeded) };
    #[cfg(feature = "otel")]
    if let Some(telemetry) = telemetry
        && let Err(message) = telemetry.finish(args.trace_svg.as_deref())
    {
        eprintln!("{message}");
        return ExitCode::FAILURE;
    }
    code
}

/// `--freeze`: what froze, and the `ExactlyOne` edges left dynamic.
fn print_frozen(head: &PluginTreeHead<DirPlugin>) {
    let report = head.freeze_report();
    if report.groups.is_empty() {
        println!("  frozen: no group");
    }
    for group in &report.groups {
        println!("  frozen into one component as `{}`: {}", group.plugin, group.members.join(" + "));
    }
    for edge in &report.dynamic {
        println!("  left dynamic: `{}` -> {}: {}", edge.consumer, edge.interface, edge.reason);
    }
}

/// Runs the pipeline on the sample and prints its report to `out` (or why
/// it failed, on standard error). Returns whether it succeeded.
///
/// # Errors
/// When `out` cannot be written (a closed pipe).
fn run_pipeline(head: &PluginTreeHead<DirPlugin>, out: &mut impl Write) -> std::io::Result<bool> {
    writeln!(out, "running `{}` on the sample document\n", head.interface_path())?;
    // One span for the run: every call into a plugin nests under it.
    #[cfg(feature = "otel")]
    let _run = tracing::info_span!("demo: run", root = %head.interface_path()).entered();
    match head.dispatch(head.interface_path(), "run", true, &[Val::String(SAMPLE.to_owned())]) {
        Socket::ExactlyOne(Ok(Val::String(report))) => {
            writeln!(out, "{report}")?;
            out.flush()?;
            Ok(true)
        }
        Socket::ExactlyOne(Err(error)) => {
            out.flush()?;
            eprintln!("the pipeline failed: {}", wasm_link::error_chain(&error));
            Ok(false)
        }
        other => {
            out.flush()?;
            eprintln!("unexpected result: {other:?}");
            Ok(false)
        }
    }
}

/// `--watch`: follows the plugin directory, printing each batch of changes
/// and the pipeline's new report, until interrupted or `watch_for` is over.
/// The exit code is the last run's.
fn watch(
    dir: &Path,
    options: DirOptions,
    head: Arc<PluginTreeHead<DirPlugin>>,
    succeeded: bool,
    watch_for: Option<Duration>,
) -> ExitCode {
    let last_ok = Arc::new(AtomicBool::new(succeeded));
    let on_change = {
        let (head, last_ok) = (head.clone(), last_ok.clone());
        move |changes: Vec<DirChange>| {
            let mut out = std::io::stdout().lock();
            match print_changes(&changes, &mut out).and_then(|()| run_pipeline(&head, &mut out)) {
                Ok(succeeded) => last_ok.store(succeeded, Ordering::Relaxed),
                Err(error) => {
                    // Nobody reads the reports any more: stop.
                    eprintln!("cannot print the report: {error}");
                    std::process::exit(1);
                }
            }
        }
    };
    let watch = match DirWatch::start(dir, options, head, on_change) {
        Ok(watch) => watch,
        Err(error) => {
            eprintln!("cannot follow {}: {}", dir.display(), wasm_link::error_chain(&error));
            return ExitCode::FAILURE;
        }
    };
    let plugins = dir.join("plugins");
    if let Some(duration) = watch_for {
        println!("\nfollowing {} for {duration:?}", plugins.display());
        std::thread::sleep(duration);
    } else {
        println!("\nfollowing {} (Ctrl-C to stop)", plugins.display());
        loop {
            std::thread::park();
        }
    }
    // Waits for a pass under way to finish printing.
    drop(watch);
    exit_code(last_ok.load(Ordering::Relaxed))
}

/// Prints a batch of changes, a line each.
fn print_changes(changes: &[DirChange], out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "\nplugin directory changed:")?;
    for change in changes {
        // An error may span several lines: they go under its first.
        let change = change.to_string();
        let mut lines = change.lines();
        writeln!(out, "  {}", lines.next().unwrap_or_default())?;
        for line in lines {
            writeln!(out, "    {line}")?;
        }
    }
    writeln!(out)
}

/// Success or failure.
fn exit_code(succeeded: bool) -> ExitCode {
    if succeeded { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
