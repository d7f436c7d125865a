//! `wasm-link build`: the plugins of a directory built from their sources,
//! each component installed beside its manifest and checked against its
//! plug.
//!
//! A plugin folder's language is told by its files
//! ([`Language::of`]): a Rust crate (`Cargo.toml`) is built with cargo for
//! `wasm32-wasip2`, an `app.py` with componentize-py and an `app.js` with
//! componentize-js (both pinned, installed on first use under the
//! toolchains directory, see [`toolchains`]).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use wasm_link::PluginData;
use wasm_link::dir::{DirOptions, PluginManifest};
use wasm_link_toolchain::{Language, Toolchains};

use crate::with_causes;

const TARGET: &str = "wasm32-wasip2";

/// A plugin folder with sources to build.
struct Sources {
    id: String,
    folder: PathBuf,
    language: Language,
    /// Where its manifest says the component goes.
    component: PathBuf,
}

/// The target directory of a plugin directory's builds: `CARGO_TARGET_DIR`,
/// else `DIR/target`.
fn target_dir(dir: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| dir.join("target"), PathBuf::from)
}

/// Where the Python and JavaScript toolchains of a plugin directory are
/// installed: `WASM_LINK_TOOLCHAINS`, else `toolchains` in its target
/// directory ([`target_dir`]). Made absolute: the componentizers run in
/// the plugin's folder.
pub fn toolchains(dir: &Path) -> Toolchains {
    let root = std::env::var_os("WASM_LINK_TOOLCHAINS")
        .filter(|root| !root.is_empty())
        .map_or_else(|| target_dir(dir).join("toolchains"), PathBuf::from);
    Toolchains::new(std::path::absolute(&root).unwrap_or(root))
}

/// `wasm-link build`: the given plugins (all with sources when none is
/// given). Cargo's own output (compiler errors) goes to the terminal as
/// cargo prints it; a componentizer's is part of the plugin's failure. The
/// check after building compiles each component, into `cache` when given.
pub fn run(dir: &Path, ids: &[String], cache: Option<PathBuf>) -> Result<ExitCode, String> {
    let found = sources(dir)?;
    let chosen: Vec<&Sources> = if ids.is_empty() {
        found.iter().collect()
    } else {
        ids.iter()
            .map(|id| {
                found.iter().find(|c| c.id == *id).ok_or_else(|| {
                    format!(
                        "`{}` has no plugin `{id}` with sources (a `Cargo.toml`, `app.py` or `app.js` beside its \
                         `plugin.toml`)",
                        dir.display()
                    )
                })
            })
            .collect::<Result<_, _>>()?
    };
    if chosen.is_empty() {
        return Err(format!("`{}` has no plugin with sources to build", dir.display()));
    }
    if chosen.iter().any(|p| p.language == Language::Rust)
        && let Err(error) = ensure_target()
    {
        // The toolchain may have the target without rustup: let cargo say.
        eprintln!("warning: {error}");
    }
    let target_dir = target_dir(dir);
    let toolchains = toolchains(dir);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // Every chosen plugin is built; failures are reported together.
    let mut failures: Vec<String> = Vec::new();
    let mut installed: Vec<&Sources> = Vec::new();
    for plugin in &chosen {
        eprintln!("building `{}` ({})", plugin.id, plugin.language);
        let built = match plugin.language {
            Language::Rust => build_one(&cargo, plugin, &target_dir),
            language => inside_folder(plugin).and_then(|()| componentize(&toolchains, language, plugin)),
        };
        match built {
            Ok(()) => installed.push(plugin),
            Err(error) => failures.push(format!("FAILED  {}: {error}", plugin.id)),
        }
    }
    // Each component checked as a load checks it: its imports, its plug.
    let options = DirOptions { cache: cache.map(crate::load::compile_cache) };
    let plugin_dir = crate::load::open_dir(dir, &options)?;
    let engine = wasm_link::default_engine().map_err(|e| e.to_string())?;
    for plugin in installed {
        let Some(found) = plugin_dir.plugins.iter().find(|p| p.plugin_id() == plugin.id) else {
            let why = plugin_dir.errors.iter().map(|e| with_causes(e)).collect::<Vec<_>>().join("; ");
            failures.push(format!("FAILED  {}: not read from the directory: {why}", plugin.id));
            continue;
        };
        match found.component(&engine) {
            Ok(_) => println!("built   {} -> {}", plugin.id, plugin.component.display()),
            Err(error) => failures.push(format!("FAILED  {}: {}", plugin.id, with_causes(&error))),
        }
    }
    for failure in &failures {
        println!("{failure}");
    }
    Ok(if failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Builds a Python or JavaScript plugin with its componentizer, which
/// writes the component aside and renames it into place.
fn componentize(toolchains: &Toolchains, language: Language, plugin: &Sources) -> Result<(), String> {
    // The componentizer runs in the plugin folder: its paths must not be
    // relative to ours.
    let absolute =
        |path: &Path| std::path::absolute(path).map_err(|e| format!("cannot resolve `{}`: {e}", path.display()));
    let folder = absolute(&plugin.folder)?;
    let component = absolute(&plugin.component)?;
    let world = crate::wit::world_name(&plugin.id);
    toolchains.componentize(language, &folder, &world, &component).map_err(|e| e.to_string())
}

/// Whether the manifest puts the component directly in the plugin folder,
/// where a build installs it.
fn inside_folder(plugin: &Sources) -> Result<(), String> {
    let component = &plugin.component;
    if component.parent().is_some_and(|parent| parent == plugin.folder) {
        Ok(())
    } else {
        Err(format!("its manifest puts the component at `{}`, not directly in its folder", component.display()))
    }
}

/// Builds one crate with cargo for wasm32-wasip2 (cargo's messages go to
/// the terminal as cargo prints them) and installs its component where the
/// manifest says, inside the plugin folder, replacing the old one whole.
fn build_one(cargo: &std::ffi::OsStr, plugin: &Sources, target_dir: &Path) -> Result<(), String> {
    let status = Command::new(cargo)
        .args(["build", "--release", "--target", TARGET, "--manifest-path"])
        .arg(plugin.folder.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir)
        // The host's own flags are not the guest's (as the demo's guests build).
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("it did not build (cargo's messages above)".to_owned());
    }
    let built = target_dir.join(TARGET).join("release").join(format!("{}.wasm", artifact_name(&plugin.folder)?));
    inside_folder(plugin)?;
    let component = &plugin.component;
    let staging = component.with_extension("wasm.new");
    std::fs::copy(&built, &staging)
        .and_then(|_| std::fs::rename(&staging, component))
        .map_err(|e| format!("cannot install `{}` as `{}`: {e}", built.display(), component.display()))
}

/// The plugin folders of `dir` with sources in a language
/// ([`Language::of`]) beside their manifest, sorted by id.
fn sources(dir: &Path) -> Result<Vec<Sources>, String> {
    let plugins = dir.join("plugins");
    let entries = std::fs::read_dir(&plugins).map_err(|e| format!("cannot read `{}`: {e}", plugins.display()))?;
    let mut found = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        // Hidden folders are `new`'s staging, not plugins.
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let folder = entry.path();
        let Some(language) = Language::of(&folder) else { continue };
        let manifest = folder.join("plugin.toml");
        let parsed = std::fs::read_to_string(&manifest)
            .map_err(|e| e.to_string())
            .and_then(|text| toml::from_str::<PluginManifest>(&text).map_err(|e| e.to_string()));
        match parsed {
            Ok(parsed) => {
                found.push(Sources { id: parsed.id, component: folder.join(&parsed.component), folder, language });
            }
            // A folder nobody asked for must not stop the others.
            Err(error) => eprintln!("skipped `{}`: {error}", manifest.display()),
        }
    }
    found.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(found)
}

/// The library's name, as its artifact spells it (`[lib] name`, else the
/// package's, dashes as underscores).
fn artifact_name(folder: &Path) -> Result<String, String> {
    let path = folder.join("Cargo.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    let manifest: toml::Table = toml::from_str(&text).map_err(|e| format!("`{}`: {e}", path.display()))?;
    let name = |table: &str| manifest.get(table).and_then(|t| t.get("name")).and_then(toml::Value::as_str);
    name("lib")
        .or_else(|| name("package"))
        .map(|name| name.replace('-', "_"))
        .ok_or_else(|| format!("`{}` has no `package.name`", path.display()))
}

/// Installs the wasm target with rustup when the toolchain lacks it, as the
/// demo's guests' build does.
fn ensure_target() -> Result<(), String> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map_err(|e| format!("rustup is needed to install the {TARGET} target: {e}"))?;
    if String::from_utf8_lossy(&installed.stdout).lines().any(|l| l.trim() == TARGET) {
        return Ok(());
    }
    let status = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()
        .map_err(|e| format!("cannot run rustup: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("`rustup target add {TARGET}` failed")) }
}
