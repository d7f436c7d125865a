//! Opening a directory and loading its tree with a progress bar; `call`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressStyle};
use wasm_link::dir::{CompileCache, DirError, DirOptions, PluginDir};
use wasm_link::{Engine, PluginTreeError, Socket, Val};

use crate::with_causes;

/// A loaded directory: the head, or why the root cannot be served, and every
/// problem met on the way.
pub struct Loaded {
    /// Plugin ids with their plug, as read from the directory.
    pub plugins: Vec<(String, String)>,
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
}

/// Opens `dir` and loads it, `root` replacing the manifest's root when given.
pub fn open_and_load(dir: &Path, root: Option<&str>, cache: Option<PathBuf>) -> Result<Loaded, String> {
    // SAFETY: the user named this directory with `--cache`, whose help (and
    // the README) says it is trusted like the program: it must be writable
    // only by the user and those they trust. Choosing it is their statement of
    // that trust, as choosing which binary to run is.
    #[allow(unsafe_code, reason = "the user vouches for the `--cache` directory; see its help")]
    let cache = cache.map(|dir| unsafe { CompileCache::new(dir) });
    let mut plugin_dir = PluginDir::open(dir, &DirOptions { cache: cache.clone() })
        .map_err(|e| format!("cannot open `{}`: {}", dir.display(), with_causes(&e)))?;
    if let Some(root) = root {
        root.clone_into(&mut plugin_dir.root);
    }
    let engine = wasm_link::default_engine().map_err(|e| e.to_string())?;
    precompile(&engine, &plugin_dir, cache.as_ref());
    let plugins = plugin_dir.plugins.iter().map(|p| (p.plugin_id().to_owned(), p.plug_id().to_owned())).collect();
    let root = plugin_dir.root.clone();
    let dir_errors = std::mem::take(&mut plugin_dir.errors);
    let (tree, build_errors) = plugin_dir.into_tree();
    let linker = PluginDir::linker(&engine).map_err(|e| e.to_string())?;
    let (head, load_errors) = match tree.load(&engine, &linker) {
        Ok((head, errors)) => (Ok(head), errors),
        Err((error, errors)) => (Err(with_causes(&error)), errors),
    };
    Ok(Loaded { plugins, root, dir_errors, build_errors, head, load_errors })
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

/// `wasm-link call`.
pub fn call(
    dir: &Path,
    interface: &str,
    function: &str,
    args: &[String],
    cache: Option<PathBuf>,
) -> Result<ExitCode, String> {
    let loaded = open_and_load(dir, Some(interface), cache)?;
    let head = loaded.head.map_err(|e| format!("`{interface}` cannot be served: {e}"))?;
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
    let returns = ty.results().len() == 1;
    let mut failed = false;
    let mut line = |id: Option<&String>, result: &Result<Val, wasm_link::DispatchError<String>>| {
        let text = match result {
            Ok(value) if returns => show(value),
            Ok(_) => "ok".to_owned(),
            Err(error) => {
                failed = true;
                format!("error: {}", with_causes(error))
            }
        };
        match id {
            Some(id) => println!("{id}: {text}"),
            None => println!("{text}"),
        }
    };
    match head.dispatch(head.interface_path(), function, returns, &values) {
        Socket::ExactlyOne(result) | Socket::AtMostOne(Some(result)) => line(None, &result),
        Socket::AtMostOne(None) => println!("(no plugin implements `{interface}`)"),
        Socket::AtLeastOne(results) | Socket::Any(results) => {
            let mut results: Vec<_> = results.into_iter().collect();
            results.sort_by(|a, b| a.0.cmp(&b.0));
            if results.is_empty() {
                println!("(no plugin implements `{interface}`)");
            }
            for (id, result) in &results {
                line(Some(id), result);
            }
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// A value in WAVE; resources, which WAVE cannot spell, as `<resource>`.
fn show(value: &Val) -> String {
    wasm_wave::to_string(value).unwrap_or_else(|_| "<resource>".to_owned())
}
