//! Builds the guest plugins in `guests/` for `wasm32-wasip2` and copies each
//! component next to its manifest in `demo/plugins/<name>/`; then builds the
//! plugins written in Python and JavaScript (`app.py`, `app.js` in their
//! plugin folders in `demo/plugins/` and `tests/polyglot/plugins/`) with the
//! pinned componentizers of `wasm-link-toolchain`, installed on first use in
//! `target/toolchains`.
//!
//! The target is installed with rustup when it is missing, so a fresh clone
//! needs nothing by hand. The guests have their own workspace and target
//! directory (`target/guests`): a nested cargo on the outer target directory
//! would wait on the outer build's lock. Cargo rebuilds them incrementally.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest_dir.join("../..").canonicalize().expect("the workspace root exists");
    let guests = root.join("guests");
    for watched in ["guests", "demo/interfaces", "wit", "tests/polyglot/interfaces", "tests/logging"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    let polyglot = polyglot_plugins(&root);

    ensure_target();
    let target_dir = root.join("target").join("guests");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--target", TARGET, "--manifest-path"])
        .arg(guests.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        // The outer build's flags are for the host, not for wasm.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the guest plugins failed");

    let built = target_dir.join(TARGET).join("release");
    let mut listing = String::new();
    for name in members(&guests) {
        let wasm = built.join(format!("{}.wasm", name.replace('-', "_")));
        // Into the demo's folder of that name, and the Python and
        // JavaScript tests' (`markdown-parser` serves their `parser`).
        for plugins in ["demo/plugins", "tests/polyglot/plugins", "tests/logging/plugins"] {
            let plugin_dir = root.join(plugins).join(&name);
            if plugin_dir.is_dir() {
                copy_if_changed(&wasm, &plugin_dir.join(format!("{name}.wasm")));
            }
        }
        let _ = writeln!(listing, "    ({name:?}, {:?}),", wasm.display().to_string());
    }
    let toolchains = wasm_link_toolchain::Toolchains::new(root.join("target").join("toolchains"));
    for plugin in &polyglot {
        plugin.build(&toolchains);
    }

    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let generated = format!(
        "/// The demo plugin directory, with every guest component installed.\n\
         pub const DEMO_DIR: &str = {:?};\n\
         /// The plugin directory of the Python and JavaScript test plugins.\n\
         pub const POLYGLOT_DIR: &str = {:?};\n\
         /// The plugin directory of the `wasi:logging` test plugin.\n\
         pub const LOGGING_DIR: &str = {:?};\n\
         /// Where the guest toolchains (componentize-py, componentize-js) are installed.\n\
         pub const TOOLCHAINS_DIR: &str = {:?};\n\
         /// Every guest plugin: (crate name, path of its built component).\n\
         pub const COMPONENTS: &[(&str, &str)] = &[\n{listing}];\n",
        root.join("demo").display().to_string(),
        root.join("tests").join("polyglot").display().to_string(),
        root.join("tests").join("logging").display().to_string(),
        toolchains.root().display().to_string(),
    );
    std::fs::write(out.join("guests.rs"), generated).expect("OUT_DIR is writable");
}

/// Installs the wasm target with rustup when the toolchain lacks it.
fn ensure_target() {
    let installed = Command::new("rustup").args(["target", "list", "--installed"]).output();
    match installed {
        Ok(output) if String::from_utf8_lossy(&output.stdout).lines().any(|l| l.trim() == TARGET) => {}
        Ok(_) => {
            let status = Command::new("rustup").args(["target", "add", TARGET]).status().expect("rustup runs");
            assert!(status.success(), "`rustup target add {TARGET}` failed");
        }
        Err(error) => panic!("rustup is needed to install the {TARGET} target: {error}"),
    }
}

/// The guest crates: the directories of `guests/` with a Cargo.toml.
fn members(guests: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(guests)
        .expect("guests/ exists")
        .filter_map(Result::ok)
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A plugin written in Python or JavaScript: its folder, manifest id
/// (which names its world in `wit/world.wit`, as `wasm-link new` writes it)
/// and component file.
struct Polyglot {
    folder: PathBuf,
    language: wasm_link_toolchain::Language,
    id: String,
    component: PathBuf,
}

/// The Python and JavaScript plugin folders of the demo and of the tests,
/// each of their files watched by cargo.
fn polyglot_plugins(root: &Path) -> Vec<Polyglot> {
    let mut found = Vec::new();
    for plugins in [root.join("demo/plugins"), root.join("tests/polyglot/plugins")] {
        let Ok(entries) = std::fs::read_dir(&plugins) else { continue };
        let mut folders: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        folders.sort();
        for folder in folders {
            let Some(language) = wasm_link_toolchain::Language::of(&folder) else { continue };
            if language == wasm_link_toolchain::Language::Rust {
                continue;
            }
            for source in sources(&folder) {
                println!("cargo:rerun-if-changed={}", source.display());
            }
            // As for a plugin that does not build: a warning, not a failed
            // workspace build.
            let manifest = folder.join("plugin.toml");
            let read = std::fs::read_to_string(&manifest).map_err(|e| e.to_string()).and_then(|text| {
                let table: toml::Table = toml::from_str(&text).map_err(|e| e.to_string())?;
                let field = |name: &str| {
                    table.get(name).and_then(toml::Value::as_str).map(str::to_owned).ok_or(format!("no `{name}`"))
                };
                Ok((field("id")?, field("component")?))
            });
            match read {
                Ok((id, component)) => found.push(Polyglot { component: folder.join(component), id, folder, language }),
                Err(error) => println!("cargo:warning=skipped `{}`: {error}", manifest.display()),
            }
        }
    }
    found
}

/// The files a polyglot plugin is built from: everything in its folder but
/// components and build output.
fn sources(folder: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![folder.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            let name = entry.file_name();
            let skipped = ["target", "node_modules", "__pycache__"].iter().any(|s| name == *s)
                || path.extension().is_some_and(|e| e == "wasm" || e == "new");
            if skipped {
                continue;
            }
            if path.is_dir() { stack.push(path) } else { files.push(path) }
        }
    }
    files
}

impl Polyglot {
    /// Componentizes the plugin unless its component is newer than every
    /// file it is built from.
    fn build(&self, toolchains: &wasm_link_toolchain::Toolchains) {
        let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
        let built = modified(&self.component);
        let fresh =
            built.is_some_and(|built| sources(&self.folder).iter().all(|s| modified(s).is_some_and(|m| m <= built)));
        if fresh {
            return;
        }
        // A warning, not a failed build: a plugin someone added to the demo
        // with `wasm-link new` and left half-written must not stop the
        // workspace from building. The demo then reports it missing, and the
        // tests that need the demo's own fail naming it.
        if let Err(error) = toolchains.componentize(self.language, &self.folder, &self.id, &self.component) {
            for line in format!("building the {} plugin `{}` failed: {error}", self.language, self.id).lines() {
                println!("cargo:warning={line}");
            }
        }
    }
}

fn copy_if_changed(from: &Path, to: &Path) {
    let new = std::fs::read(from).unwrap_or_else(|e| panic!("cannot read {}: {e}", from.display()));
    if std::fs::read(to).is_ok_and(|old| old == new) {
        return;
    }
    std::fs::write(to, new).unwrap_or_else(|e| panic!("cannot write {}: {e}", to.display()));
}
