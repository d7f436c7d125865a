//! Opening a directory and loading its tree with a progress bar; `call`
//! (and `call --watch`).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};
use wasm_link::dir::{CompileCache, DirChange, DirError, DirOptions, DirPlugin, DirWatch, PluginDir};
use wasm_link::{Engine, LoadOptions, PluginTreeError, PluginTreeHead, Socket, Val};

use crate::output::{self, Output};
use crate::with_causes;

/// A loaded directory: the head, or why the root cannot be served, and every
/// problem met on the way.
pub struct Loaded {
    /// Plugin ids with their plug, as read from the directory.
    pub plugins: Vec<(String, String)>,
    /// Each plugin's manifest and component files, by id.
    pub files: std::collections::BTreeMap<String, (PathBuf, PathBuf)>,
    /// What each plugin that requested capabilities got (`files /data (read)`).
    pub capabilities: std::collections::BTreeMap<String, wasm_link::dir::Capabilities>,
    /// The root interface's id.
    pub root: String,
    /// Problems reading the directory.
    pub dir_errors: Vec<DirError>,
    /// Problems building the graph.
    pub build_errors: Vec<PluginTreeError<String, String>>,
    /// The head, or the reason the root cannot be served.
    pub head: Result<wasm_link::PluginTreeHead<wasm_link::dir::DirPlugin>, String>,
    /// Problems loading plugins.
    pub load_errors: Vec<wasm_link::LoadError<String, String>>,
    /// The options the directory was read with (its compile cache), to
    /// read it again with.
    pub options: DirOptions,
}

/// The host's policy as the command line gives it: the `--policy` file
/// (else the directory's own `[policy]`), with the `--allow` rules added.
struct HostPolicy {
    file: Option<wasm_link::dir::Policy>,
    allow: Vec<String>,
}

static POLICY: std::sync::OnceLock<HostPolicy> = std::sync::OnceLock::new();

/// Reads the `--policy` file, if any, and checks the `--allow` rules.
pub fn set_policy(path: Option<&Path>, allow: Vec<String>) -> Result<(), String> {
    let file = match path {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
            Some(toml::from_str(&text).map_err(|e| format!("`{}`: {e}", path.display()))?)
        }
        None => None,
    };
    let mut check = wasm_link::dir::Policy::new();
    for rule in &allow {
        wasm_link::dir::allow(&mut check, rule)?;
    }
    if file.is_some() || !allow.is_empty() {
        let _ = POLICY.set(HostPolicy { file, allow });
    }
    Ok(())
}

/// The policy `dir` is opened under, when the command line gave one.
fn host_policy(dir: &Path) -> Result<Option<wasm_link::dir::Policy>, String> {
    let Some(host) = POLICY.get() else { return Ok(None) };
    let mut policy = match &host.file {
        Some(policy) => policy.clone(),
        None => {
            PluginDir::own_policy(dir).map_err(|e| format!("cannot open `{}`: {}", dir.display(), with_causes(&e)))?
        }
    };
    for rule in &host.allow {
        wasm_link::dir::allow(&mut policy, rule)?;
    }
    Ok(Some(policy))
}

/// Opens `dir` under the `--policy` file when one was given, else under
/// the directory's own `[policy]`, with the `--allow` rules added.
pub fn open_dir(dir: &Path, options: &DirOptions) -> Result<PluginDir, String> {
    let opened = match host_policy(dir)? {
        Some(policy) => PluginDir::open_with_policy(dir, options, &policy),
        None => PluginDir::open(dir, options),
    };
    opened.map_err(|e| format!("cannot open `{}`: {}", dir.display(), with_causes(&e)))
}

/// The compile cache in the directory the user named with `--cache`.
pub fn compile_cache(dir: PathBuf) -> CompileCache {
    // SAFETY: the user named this directory with `--cache`, whose help (and
    // docs/directories.md) says it is trusted like the program: it must be writable
    // only by the user and those they trust. Choosing it is their statement of
    // that trust, as choosing which binary to run is.
    #[allow(unsafe_code, reason = "the user vouches for the `--cache` directory; see its help")]
    unsafe {
        CompileCache::new(dir)
    }
}

/// Opens `dir` and loads it, `root` replacing the manifest's root when given,
/// frozen when `freeze` says so.
pub fn open_and_load(dir: &Path, root: Option<&str>, cache: Option<PathBuf>, freeze: bool) -> Result<Loaded, String> {
    let cache = cache.map(compile_cache);
    let options = DirOptions { cache: cache.clone() };
    let mut plugin_dir = open_dir(dir, &options)?;
    if let Some(root) = root {
        root.clone_into(&mut plugin_dir.root);
    }
    let engine = wasm_link::default_engine().map_err(|e| e.to_string())?;
    precompile(&engine, &plugin_dir, cache.as_ref());
    let plugins = plugin_dir.plugins.iter().map(|p| (p.plugin_id().to_owned(), p.plug_id().to_owned())).collect();
    let files = plugin_dir
        .plugins
        .iter()
        .map(|p| (p.plugin_id().to_owned(), (p.manifest_path().to_owned(), p.component_path().to_owned())))
        .collect();
    let capabilities = plugin_dir
        .plugins
        .iter()
        .filter(|p| !p.requests().is_empty())
        .map(|p| (p.plugin_id().to_owned(), p.capabilities().clone()))
        .collect();
    let root = plugin_dir.root.clone();
    let dir_errors = std::mem::take(&mut plugin_dir.errors);
    let (tree, build_errors) = plugin_dir.into_tree();
    let linker = PluginDir::linker(&engine).map_err(|e| e.to_string())?;
    let mut load_options = LoadOptions::new().freeze(freeze);
    if let Some(cache) = cache {
        load_options = load_options.compile_cache(cache);
    }
    let (head, load_errors) = match tree.load_with(&engine, &linker, &load_options) {
        Ok((head, errors)) => (Ok(head), errors),
        Err((error, errors)) => (Err(with_causes(&error)), errors),
    };
    Ok(Loaded { plugins, files, capabilities, root, dir_errors, build_errors, head, load_errors, options })
}

/// Compiles every component into the cache first, with a progress bar when
/// standard error is a terminal, so that loading finds them compiled.
fn precompile(engine: &Engine, dir: &PluginDir, cache: Option<&CompileCache>) {
    let Some(cache) = cache else { return };
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(dir.plugins.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    if let Ok(style) = ProgressStyle::with_template("{spinner} compiling {pos}/{len} {wide_msg}") {
        bar.set_style(style);
    }
    for plugin in &dir.plugins {
        bar.set_message(plugin.plugin_id().to_owned());
        // Failures are reported by the load that follows.
        if let Ok(bytes) = std::fs::read(plugin.component_path()) {
            let _ = cache.component(engine, &bytes);
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
}

/// `wasm-link call`; with `watch`, the same call again after each change
/// of the directory, until the process is interrupted.
pub fn call(
    dir: &Path,
    interface: &str,
    function: &str,
    args: &[String],
    options: CallOptions,
) -> Result<ExitCode, String> {
    let CallOptions { cache, output, watch, freeze } = options;
    let loaded = open_and_load(dir, Some(interface), cache, freeze)?;
    let head = loaded.head.map_err(|e| format!("`{interface}` cannot be served: {e}"))?;
    let (values, returns) = arguments(&head, interface, function, args)?;
    let call = Call { interface: interface.to_owned(), function: function.to_owned(), returns, values, output };
    let succeeded = call.run(&head, &mut std::io::stdout().lock()).map_err(|e| format!("cannot print: {e}"))?;
    if watch {
        follow(dir, loaded.options, head, call)
    } else {
        Ok(if succeeded { ExitCode::SUCCESS } else { ExitCode::FAILURE })
    }
}

/// `args` (in WAVE) as the arguments of the root's `function`, and whether
/// it returns a value.
pub fn arguments(
    head: &PluginTreeHead<DirPlugin>,
    interface: &str,
    function: &str,
    args: &[String],
) -> Result<(Vec<Val>, bool), String> {
    let ty = head.function_type(function).ok_or_else(|| {
        let known: Vec<&str> = head.function_names().collect();
        format!("`{interface}` has no function `{function}` (it has: {})", known.join(", "))
    })?;
    let params: Vec<_> = ty.params().collect();
    if params.len() != args.len() {
        let expected: Vec<String> = params.iter().map(|(name, _)| (*name).to_owned()).collect();
        return Err(format!(
            "`{function}` takes {} argument(s) ({}), {} given",
            params.len(),
            expected.join(", "),
            args.len()
        ));
    }
    let mut values = Vec::with_capacity(args.len());
    for ((name, ty), arg) in params.iter().zip(args) {
        let value: Val = wasm_wave::from_str(ty, arg).map_err(|e| format!("argument `{name}`: {e}"))?;
        values.push(value);
    }
    Ok((values, ty.results().len() == 1))
}

/// `call`'s options besides what to call.
pub struct CallOptions {
    /// The compile cache directory.
    pub cache: Option<PathBuf>,
    /// How results print.
    pub output: Output,
    /// Call again at each change of the directory.
    pub watch: bool,
    /// Load frozen.
    pub freeze: bool,
}

/// A call, with its arguments parsed, to make again.
struct Call {
    interface: String,
    function: String,
    /// Whether the function returns a value.
    returns: bool,
    values: Vec<Val>,
    output: Output,
}

impl Call {
    /// Calls and prints the result to `out`, one line per plugin for
    /// multi-plugin interfaces. Returns whether every plugin succeeded.
    ///
    /// # Errors
    /// When `out` cannot be written.
    fn run(&self, head: &PluginTreeHead<DirPlugin>, out: &mut impl Write) -> std::io::Result<bool> {
        let Self { interface, function, returns, values, output } = self;
        let result = head.dispatch(head.interface_path(), function, *returns, values);
        let succeeded = match &result {
            Socket::ExactlyOne(result) | Socket::AtMostOne(Some(result)) => result.is_ok(),
            Socket::AtMostOne(None) => true,
            Socket::AtLeastOne(results) | Socket::Any(results) => results.iter().all(|(_, r)| r.is_ok()),
        };
        if *output == Output::Json {
            writeln!(out, "{}", as_json(result, *returns))?;
        } else {
            let text = |result: &Result<Val, wasm_link::DispatchError<String>>| match result {
                Ok(value) if *returns => output::text(value, *output),
                Ok(_) => "ok".to_owned(),
                Err(error) => format!("error: {}", with_causes(error)),
            };
            match result {
                Socket::ExactlyOne(result) | Socket::AtMostOne(Some(result)) => writeln!(out, "{}", text(&result))?,
                Socket::AtMostOne(None) => writeln!(out, "(no plugin implements `{interface}`)")?,
                Socket::AtLeastOne(results) | Socket::Any(results) => {
                    let mut results: Vec<_> = results.into_iter().collect();
                    results.sort_by(|a, b| a.0.cmp(&b.0));
                    if results.is_empty() {
                        writeln!(out, "(no plugin implements `{interface}`)")?;
                    }
                    for (id, result) in &results {
                        writeln!(out, "{id}: {}", text(result))?;
                    }
                }
            }
        }
        out.flush()?;
        Ok(succeeded)
    }
}

/// A call's results as one JSON document: `{"value": ..}` or `{"error":
/// ".."}` (`{"value": null}` for a function without a result), `null` when
/// no plugin implements an `AtMostOne` interface, and for a multi-plugin
/// interface a list of those, each with its `"plugin"`, in plugin-id order.
fn as_json(result: Socket<Result<Val, wasm_link::DispatchError<String>>, String>, returns: bool) -> serde_json::Value {
    let entry = |result: &Result<Val, wasm_link::DispatchError<String>>| match result {
        Ok(value) if returns => serde_json::json!({ "value": output::json(value) }),
        Ok(_) => serde_json::json!({ "value": null }),
        Err(error) => serde_json::json!({ "error": with_causes(error) }),
    };
    match result {
        Socket::ExactlyOne(result) | Socket::AtMostOne(Some(result)) => entry(&result),
        Socket::AtMostOne(None) => serde_json::Value::Null,
        Socket::AtLeastOne(results) | Socket::Any(results) => {
            let mut results: Vec<_> = results.into_iter().collect();
            results.sort_by(|a, b| a.0.cmp(&b.0));
            results
                .iter()
                .map(|(id, result)| {
                    let mut entry = entry(result);
                    if let Some(object) = entry.as_object_mut() {
                        object.insert("plugin".to_owned(), serde_json::json!(id));
                    }
                    entry
                })
                .collect()
        }
    }
}

/// `call --watch`: follows `dir` with `head`, printing each batch of
/// changes (`watch: ...`, a line each) and the call's new result. Returns
/// only when the directory cannot be followed.
fn follow(dir: &Path, options: DirOptions, head: PluginTreeHead<DirPlugin>, call: Call) -> Result<ExitCode, String> {
    let head = Arc::new(head);
    let on_change = {
        let head = head.clone();
        move |changes: Vec<DirChange>| {
            let mut out = std::io::stdout().lock();
            // With JSON results, the changes go to standard error: standard
            // output stays one JSON document per call.
            let printed = if call.output == Output::Json {
                print_changes(&changes, &mut std::io::stderr().lock())
            } else {
                print_changes(&changes, &mut out)
            }
            .and_then(|()| call.run(&head, &mut out));
            if let Err(error) = printed {
                // Nobody reads the results any more: stop.
                eprintln!("error: cannot print: {error}");
                std::process::exit(1);
            }
        }
    };
    // Under the command line's policy, as the directory was first read.
    let watched = match host_policy(dir)? {
        Some(policy) => DirWatch::start_with_policy(dir, options, policy, head, on_change),
        None => DirWatch::start(dir, options, head, on_change),
    };
    let _watch = watched.map_err(|e| format!("cannot follow `{}`: {}", dir.display(), with_causes(&e)))?;
    eprintln!("following `{}` (Ctrl-C to stop)", dir.join("plugins").display());
    loop {
        std::thread::park();
    }
}

/// Prints a batch of changes, every line (an error may span several)
/// starting with `watch: ` so that the results stand out.
fn print_changes(changes: &[DirChange], out: &mut impl Write) -> std::io::Result<()> {
    for change in changes {
        for line in change.to_string().lines() {
            writeln!(out, "watch: {line}")?;
        }
    }
    Ok(())
}
