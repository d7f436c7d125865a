//! Paths of the guest plugins built from `guests/` (see `build.rs`).
//!
//! Depending on this crate builds the guests first, so tests and the demo can
//! rely on [`DEMO_DIR`] holding every component.

include!(concat!(env!("OUT_DIR"), "/guests.rs"));

/// The built component of the guest crate `name`.
#[must_use]
pub fn component(name: &str) -> Option<&'static str> {
    COMPONENTS.iter().find(|(n, _)| *n == name).map(|(_, path)| *path)
}

/// Copies the demo directory (with its components) into `to`, for tests that
/// break a copy: its Rust plugins only. The Python and JavaScript plugins
/// are 12 to 18 MB components (a language runtime inside) that take seconds
/// each to compile in a debug build; [`copy_demo_all`] copies them too.
///
/// # Panics
/// When the copy fails: this is a test helper.
pub fn copy_demo(to: &std::path::Path) {
    copy_dir(std::path::Path::new(DEMO_DIR), to);
    let plugins = to.join("plugins");
    for entry in std::fs::read_dir(&plugins).expect("the copy has plugins").flatten() {
        let language = wasm_link_toolchain::Language::of(&entry.path());
        if language.is_some_and(|l| l != wasm_link_toolchain::Language::Rust) {
            std::fs::remove_dir_all(entry.path()).expect("the copy is writable");
        }
    }
}

/// Copies the whole demo directory, its Python and JavaScript plugins too.
///
/// # Panics
/// When the copy fails: this is a test helper.
pub fn copy_demo_all(to: &std::path::Path) {
    copy_dir(std::path::Path::new(DEMO_DIR), to);
}

/// Copies a directory tree, without build output (`target/`: a plugin
/// directory's Rust builds and guest toolchains).
///
/// # Panics
/// When the copy fails: this is a test helper.
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("the target directory can be created");
    for entry in std::fs::read_dir(from).expect("the source directory is readable") {
        let entry = entry.expect("a directory entry");
        let target = to.join(entry.file_name());
        if entry.file_name() == "target" {
            continue;
        }
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("the file copies");
        }
    }
}
