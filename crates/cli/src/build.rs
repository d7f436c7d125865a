//! `wasm-link build`: the Rust guest crates of a plugin directory built for
//! `wasm32-wasip2`, each component installed beside its manifest and checked
//! against its plug.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use wasm_link::PluginData;
use wasm_link::dir::{DirOptions, PluginDir, PluginManifest};

use crate::with_causes;

const TARGET: &str = "wasm32-wasip2";

/// A plugin folder with a crate to build.
struct Crate {
    id: String,
    folder: PathBuf,
    /// Where its manifest says the component goes.
    component: PathBuf,
}

/// `wasm-link build`: the given plugins (all with a `Cargo.toml` when none
/// is given). Cargo's own output (compiler errors) goes to the terminal as
/// cargo prints it.
pub fn run(dir: &Path, ids: &[String]) -> Result<ExitCode, String> {
    let crates = crates(dir)?;
    let chosen: Vec<&Crate> = if ids.is_empty() {
        crates.iter().collect()
    } else {
        ids.iter()
            .map(|id| {
                crates.iter().find(|c| c.id == *id).ok_or_else(|| {
                    format!(
                        "`{}` has no plugin `{id}` with a Rust crate (a `Cargo.toml` beside its `plugin.toml`)",
                        dir.display()
                    )
                })
            })
            .collect::<Result<_, _>>()?
    };
    if chosen.is_empty() {
        return Err(format!("`{}` has no plugin with a Rust crate to build", dir.display()));
    }
    ensure_target()?;
    let target_dir = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| dir.join("target"), PathBuf::from);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    for plugin in &chosen {
        eprintln!("building `{}`", plugin.id);
        let status = Command::new(&cargo)
            .args(["build", "--release", "--target", TARGET, "--manifest-path"])
            .arg(plugin.folder.join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&target_dir)
            .status()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        if !status.success() {
            return Err(format!("`{}` did not build (cargo's messages above)", plugin.id));
        }
        let built = target_dir.join(TARGET).join("release").join(format!("{}.wasm", crate_name(&plugin.folder)?));
        std::fs::copy(&built, &plugin.component)
            .map_err(|e| format!("cannot install `{}` as `{}`: {e}", built.display(), plugin.component.display()))?;
    }
    // Each component checked as a load checks it: its imports, its plug.
    let plugin_dir = PluginDir::open(dir, &DirOptions::default())
        .map_err(|e| format!("cannot open `{}`: {}", dir.display(), with_causes(&e)))?;
    let engine = wasm_link::default_engine().map_err(|e| e.to_string())?;
    let mut failed = false;
    for plugin in &chosen {
        let Some(found) = plugin_dir.plugins.iter().find(|p| p.plugin_id() == plugin.id) else {
            failed = true;
            let why = plugin_dir.errors.iter().map(|e| with_causes(e)).collect::<Vec<_>>().join("; ");
            println!("FAILED  {}: not read from the directory: {why}", plugin.id);
            continue;
        };
        match found.component(&engine) {
            Ok(_) => println!("built   {} -> {}", plugin.id, plugin.component.display()),
            Err(error) => {
                failed = true;
                println!("FAILED  {}: {}", plugin.id, with_causes(&error));
            }
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// The plugin folders of `dir` with a `Cargo.toml` beside their manifest.
fn crates(dir: &Path) -> Result<Vec<Crate>, String> {
    let plugins = dir.join("plugins");
    let entries = std::fs::read_dir(&plugins).map_err(|e| format!("cannot read `{}`: {e}", plugins.display()))?;
    let mut crates = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let folder = entry.path();
        if !folder.join("Cargo.toml").is_file() {
            continue;
        }
        let manifest = folder.join("plugin.toml");
        let text =
            std::fs::read_to_string(&manifest).map_err(|e| format!("cannot read `{}`: {e}", manifest.display()))?;
        let parsed: PluginManifest = toml::from_str(&text).map_err(|e| format!("`{}`: {e}", manifest.display()))?;
        crates.push(Crate { id: parsed.id, component: folder.join(&parsed.component), folder });
    }
    crates.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(crates)
}

/// The crate's name, as its artifact spells it (dashes as underscores).
fn crate_name(folder: &Path) -> Result<String, String> {
    let path = folder.join("Cargo.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    let manifest: toml::Table = toml::from_str(&text).map_err(|e| format!("`{}`: {e}", path.display()))?;
    manifest
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(toml::Value::as_str)
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
