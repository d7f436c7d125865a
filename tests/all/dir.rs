//! Plugin directories: manifests, the files they name, and the compile cache.

use std::path::{Path, PathBuf};

use tempfile::TempDir;
use wasm_link::dir::{CacheOutcome, CompileCache, DirError, DirOptions, PluginDir};
use wasm_link::{Engine, Socket, Val};

fn demo_copy() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    wasm_link_guests::copy_demo(dir.path());
    dir
}

fn run(dir: &Path) -> String {
    let plugin_dir = PluginDir::open(dir, &DirOptions::default()).unwrap();
    assert!(plugin_dir.errors.is_empty(), "{:?}", plugin_dir.errors);
    let (tree, errors) = plugin_dir.into_tree();
    assert!(errors.is_empty(), "{errors:?}");
    let engine = Engine::default();
    let (head, errors) = tree.load(&engine, &PluginDir::linker(&engine).unwrap()).unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    match head.dispatch("demo:app/app@0.1.0", "run", true, &[Val::String("# T\n\nhello   world.".into())]) {
        Socket::ExactlyOne(Ok(Val::String(report))) => report,
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_demo_directory_loads_and_runs_its_rust_plugins() {
    let report = run(Path::new(wasm_link_guests::DEMO_DIR));
    assert!(report.contains("Hello world."), "{report}");
    assert!(report.contains("word-count: words"), "{report}");
}

#[test]
fn a_duplicate_plugin_id_is_reported_with_both_manifests() {
    let dir = demo_copy();
    wasm_link_guests::copy_dir(&dir.path().join("plugins/capitalize"), &dir.path().join("plugins/zz-copy"));
    let plugin_dir = PluginDir::open(dir.path(), &DirOptions::default()).unwrap();
    match &plugin_dir.errors[..] {
        [DirError::DuplicatePlugin { id, path, first }] => {
            assert_eq!(id, "capitalize");
            assert!(path.ends_with("zz-copy/plugin.toml") && first.ends_with("capitalize/plugin.toml"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(plugin_dir.plugins.len(), 7);
}

#[test]
fn a_missing_component_file_and_an_unknown_plug_name_the_manifest() {
    let dir = demo_copy();
    std::fs::remove_file(dir.path().join("plugins/capitalize/capitalize.wasm")).unwrap();
    let manifest = dir.path().join("plugins/readability/plugin.toml");
    let text = std::fs::read_to_string(&manifest).unwrap().replace("plug = \"analyser\"", "plug = \"analyzer\"");
    std::fs::write(&manifest, text).unwrap();
    let plugin_dir = PluginDir::open(dir.path(), &DirOptions::default()).unwrap();
    assert!(plugin_dir.errors.iter().any(|e| matches!(e,
        DirError::MissingComponent { component, .. } if component.ends_with("capitalize.wasm"))));
    assert!(plugin_dir.errors.iter().any(|e| matches!(e,
        DirError::UnknownInterface { path, interface } if path.ends_with("readability/plugin.toml") && interface == "analyzer")));
    assert_eq!(plugin_dir.plugins.len(), 5);
}

#[test]
fn a_directory_without_its_manifest_cannot_be_opened() {
    let dir = tempfile::tempdir().unwrap();
    let error = PluginDir::open(dir.path(), &DirOptions::default()).err().unwrap();
    assert!(matches!(error, DirError::Io { path, .. } if path.ends_with("wasm-link.toml")));
}

#[test]
fn the_compile_cache_is_used_the_second_time_and_a_corrupt_entry_is_recompiled() {
    let cache_dir = tempfile::tempdir().unwrap();
    // SAFETY: a private directory `tempfile` just created for this test (mode
    // 0700, unguessable name); only this test writes into it.
    #[allow(unsafe_code, reason = "a compile cache in a private test directory")]
    let cache = unsafe { CompileCache::new(cache_dir.path()) };
    let engine = Engine::default();
    let bytes = std::fs::read(wasm_link_guests::component("word-count").unwrap()).unwrap();
    assert_eq!(cache.component(&engine, &bytes).unwrap().1, CacheOutcome::Miss);
    assert_eq!(cache.component(&engine, &bytes).unwrap().1, CacheOutcome::Hit);
    let entries: Vec<PathBuf> = std::fs::read_dir(cache_dir.path()).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(entries.len(), 1);
    let mut corrupt = std::fs::read(&entries[0]).unwrap();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    std::fs::write(&entries[0], corrupt).unwrap();
    assert_eq!(cache.component(&engine, &bytes).unwrap().1, CacheOutcome::Replaced);
    assert_eq!(cache.component(&engine, &bytes).unwrap().1, CacheOutcome::Hit);
    // Cut short, as by a full disk.
    let whole = std::fs::read(&entries[0]).unwrap();
    std::fs::write(&entries[0], &whole[..whole.len() / 2]).unwrap();
    assert_eq!(cache.component(&engine, &bytes).unwrap().1, CacheOutcome::Replaced);
    // Cut to less than its header.
    std::fs::write(&entries[0], &whole[..3]).unwrap();
    assert_eq!(cache.component(&engine, &bytes).unwrap().1, CacheOutcome::Replaced);
    assert_eq!(cache.component(&engine, &bytes).unwrap().1, CacheOutcome::Hit);
}

#[test]
fn a_directory_loaded_through_the_cache_runs_the_same() {
    let cache_dir = tempfile::tempdir().unwrap();
    // SAFETY: a private directory `tempfile` just created for this test (mode
    // 0700, unguessable name); only this test writes into it.
    #[allow(unsafe_code, reason = "a compile cache in a private test directory")]
    let cache = unsafe { CompileCache::new(cache_dir.path()) };
    let options = DirOptions { cache: Some(cache) };
    let dir = Path::new(wasm_link_guests::DEMO_DIR);
    for _ in 0..2 {
        let plugin_dir = PluginDir::open(dir, &options).unwrap();
        let (tree, _) = plugin_dir.into_tree();
        let engine = Engine::default();
        let (head, errors) = tree.load(&engine, &PluginDir::linker(&engine).unwrap()).unwrap();
        assert!(errors.is_empty());
        assert_eq!(head.loaded_plugin_ids().len(), 7);
    }
    assert_eq!(std::fs::read_dir(cache_dir.path()).unwrap().count(), 7);
}

/// Adds the `clock-peek` transform, which imports `wasi:clocks`, with `grants`.
fn with_clock_peek(dir: &Path, grants: &str) {
    let plugin = dir.join("plugins/clock-peek");
    std::fs::create_dir_all(&plugin).unwrap();
    std::fs::copy(wasm_link_guests::component("clock-peek").unwrap(), plugin.join("clock-peek.wasm")).unwrap();
    std::fs::write(
        plugin.join("plugin.toml"),
        format!("id = \"clock-peek\"\nplug = \"transform\"\nsockets = [\"parser\"]\ncomponent = \"clock-peek.wasm\"\n{grants}"),
    )
    .unwrap();
}

fn load_errors(dir: &Path) -> Vec<wasm_link::LoadError<String, String>> {
    let plugin_dir = PluginDir::open(dir, &DirOptions::default()).unwrap();
    let (tree, _) = plugin_dir.into_tree();
    let engine = Engine::default();
    let (_, errors) = tree.load(&engine, &PluginDir::linker(&engine).unwrap()).unwrap();
    errors
}

#[test]
fn an_import_that_was_not_granted_fails_the_load_naming_it() {
    let dir = demo_copy();
    with_clock_peek(dir.path(), "");
    let errors = load_errors(dir.path());
    let [error] = &errors[..] else { panic!("{errors:?}") };
    assert_eq!(error.plugin().map(String::as_str), Some("clock-peek"));
    let message = std::error::Error::source(error).unwrap().to_string();
    assert!(message.contains("imports `wasi:clocks/"), "{message}");
}

#[test]
fn a_granted_import_loads() {
    let dir = demo_copy();
    with_clock_peek(dir.path(), "grants = [\"wasi:clocks\"]\n");
    assert!(load_errors(dir.path()).is_empty());
}

#[test]
fn manifest_limits_and_recovery_are_read() {
    let dir = demo_copy();
    let manifest = dir.path().join("plugins/capitalize/plugin.toml");
    let mut text = std::fs::read_to_string(&manifest).unwrap();
    text.push_str("[limits]\ndeadline-ms = 250\nmemory-mib = 8\n[recovery]\nquarantine-after = 2\nwindow-ms = 1000\ncooldown-ms = 500\n");
    std::fs::write(&manifest, text).unwrap();
    let plugin_dir = PluginDir::open(dir.path(), &DirOptions::default()).unwrap();
    let capitalize = plugin_dir.plugins.iter().find(|p| p.plugin_id() == "capitalize").unwrap();
    let limits = wasm_link::PluginData::limits(capitalize);
    assert_eq!(limits.deadline, std::time::Duration::from_millis(250));
    assert_eq!(limits.memory, 8 << 20);
    assert_eq!(limits.handles, wasm_link::Limits::default().handles);
    let quarantine = wasm_link::PluginData::recovery(capitalize).quarantine.unwrap();
    assert_eq!(quarantine.failures, 2);
}
