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
    if let Err(error) = ensure_target() {
        // The toolchain may have the target without rustup: let cargo say.
        eprintln!("warning: {error}");
    }
    let target_dir = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| dir.join("target"), PathBuf::from);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // Every chosen crate is built; failures are reported together.
    let mut failures: Vec<String> = Vec::new();
    let mut installed: Vec<&Crate> = Vec::new();
    for plugin in &chosen {
        eprintln!("building `{}`", plugin.id);
        match build_one(&cargo, plugin, &target_dir) {
            Ok(()) => installed.push(plugin),
            Err(error) => failures.push(format!("FAILED  {}: {error}", plugin.id)),
        }
    }
    // Each component checked as a load checks it: its imports, its plug.
    let plugin_dir = PluginDir::open(dir, &DirOptions::default())
        .map_err(|e| format!("cannot open `{}`: {}", dir.display(), with_causes(&e)))?;
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

/// Builds one crate with cargo for wasm32-wasip2 (cargo's messages go to
/// the terminal as cargo prints them) and installs its component where the
/// manifest says, inside the plugin folder, replacing the old one whole.
fn build_one(cargo: &std::ffi::OsStr, plugin: &Crate, target_dir: &Path) -> Result<(), String> {
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
    let component = &plugin.component;
    let inside = component.parent().is_some_and(|parent| parent == plugin.folder);
    if !inside {
        return Err(format!(
            "its manifest puts the component at `{}`, not directly in its folder",
            component.display()
        ));
    }
    let staging = component.with_extension("wasm.new");
    std::fs::copy(&built, &staging)
        .and_then(|_| std::fs::rename(&staging, component))
        .map_err(|e| format!("cannot install `{}` as `{}`: {e}", built.display(), component.display()))
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
        let parsed = std::fs::read_to_string(&manifest)
            .map_err(|e| e.to_string())
            .and_then(|text| toml::from_str::<PluginManifest>(&text).map_err(|e| e.to_string()));
        match parsed {
            Ok(parsed) => crates.push(Crate { id: parsed.id, component: folder.join(&parsed.component), folder }),
            // A folder nobody asked for must not stop the others.
            Err(error) => eprintln!("skipped `{}`: {error}", manifest.display()),
        }
    }
    crates.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(crates)
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
