//! Builds the guest plugins in `guests/` for `wasm32-wasip2` and copies each
//! component next to its manifest in `demo/plugins/<name>/`.
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
    for watched in ["guests", "demo/interfaces", "wit"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

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
        let plugin_dir = root.join("demo").join("plugins").join(&name);
        if plugin_dir.is_dir() {
            let installed = plugin_dir.join(format!("{name}.wasm"));
            copy_if_changed(&wasm, &installed);
        }
        let _ = writeln!(listing, "    ({name:?}, {:?}),", wasm.display().to_string());
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let generated = format!(
        "/// The demo plugin directory, with every guest component installed.\n\
         pub const DEMO_DIR: &str = {:?};\n\
         /// Every guest plugin: (crate name, path of its built component).\n\
         pub const COMPONENTS: &[(&str, &str)] = &[\n{listing}];\n",
        root.join("demo").display().to_string()
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

fn copy_if_changed(from: &Path, to: &Path) {
    let new = std::fs::read(from).unwrap_or_else(|e| panic!("cannot read {}: {e}", from.display()));
    if std::fs::read(to).is_ok_and(|old| old == new) {
        return;
    }
    std::fs::write(to, new).unwrap_or_else(|e| panic!("cannot write {}: {e}", to.display()));
}
