//! Opening a directory and loading its tree with a progress bar.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use wasm_link::dir::{CompileCache, DirError, DirOptions, PluginDir};
use wasm_link::{Engine, LoadOptions, PluginTreeError};

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
pub fn host_policy(dir: &Path) -> Result<Option<wasm_link::dir::Policy>, String> {
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
