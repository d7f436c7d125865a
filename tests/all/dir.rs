//! Plugin directories: manifests, the files they name, and the compile cache.

use std::path::{Path, PathBuf};

use tempfile::TempDir;
use wasm_link::dir::{CacheOutcome, CompileCache, DirError, DirOptions, PluginDir};
use wasm_link::{Engine, Socket, Val};

pub(crate) fn demo_copy() -> TempDir {
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
fn the_demo_directory_loads_and_runs_its_plugins_in_rust_python_and_javascript() {
    let report = run(Path::new(wasm_link_guests::DEMO_DIR));
    assert!(report.contains("Hello world."), "{report}");
    assert!(report.contains("word-count: words"), "{report}");
    // `vocabulary` (Python) measured the document `code-spans` (JavaScript)
    // was lent and looked through.
    assert!(report.contains("vocabulary: distinct words"), "{report}");
    assert!(report.contains("program name(s) as code"), "{report}");
    // The table formatter read its title rule from `demo/style/`, the
    // directory the demo's policy lends it read-only.
    assert!(report.lines().any(|l| l.len() > 4 && l.chars().all(|c| c == '~')), "{report}");
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
    let dir = demo_copy();
    for _ in 0..2 {
        let plugin_dir = PluginDir::open(dir.path(), &options).unwrap();
        let (tree, _) = plugin_dir.into_tree();
        let engine = Engine::default();
        let (head, errors) = tree.load(&engine, &PluginDir::linker(&engine).unwrap()).unwrap();
        assert!(errors.is_empty());
        assert_eq!(head.loaded_plugin_ids().len(), 7);
    }
    assert_eq!(std::fs::read_dir(cache_dir.path()).unwrap().count(), 7);
}

/// Adds the `clock-peek` transform, which reads the wall clock, with `grants`.
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

/// A directory whose root `stats` is served by `file-stats`, which imports
/// the host's `example:files/host`: outside the WASI baseline.
fn file_stats_dir(grants: &str) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    std::fs::write(path.join("wasm-link.toml"), "root = \"stats\"\n").unwrap();
    std::fs::create_dir_all(path.join("interfaces/stats")).unwrap();
    std::fs::write(
        path.join("interfaces/stats/interface.toml"),
        "cardinality = \"exactly-one\"\ninterface = \"example:files/stats@0.1.0\"\n",
    )
    .unwrap();
    let wit = Path::new(env!("CARGO_MANIFEST_DIR")).join("guests/file-stats/wit/world.wit");
    std::fs::copy(wit, path.join("interfaces/stats/files.wit")).unwrap();
    let plugin = path.join("plugins/file-stats");
    std::fs::create_dir_all(&plugin).unwrap();
    std::fs::copy(wasm_link_guests::component("file-stats").unwrap(), plugin.join("file-stats.wasm")).unwrap();
    std::fs::write(
        plugin.join("plugin.toml"),
        format!("id = \"file-stats\"\nplug = \"stats\"\ncomponent = \"file-stats.wasm\"\n{grants}"),
    )
    .unwrap();
    dir
}

#[test]
fn an_import_outside_the_baseline_that_was_not_granted_fails_the_load_naming_it() {
    let dir = file_stats_dir("");
    let plugin_dir = PluginDir::open(dir.path(), &DirOptions::default()).unwrap();
    assert!(plugin_dir.errors.is_empty(), "{:?}", plugin_dir.errors);
    let (tree, _) = plugin_dir.into_tree();
    let engine = Engine::default();
    let Err((_, errors)) = tree.load(&engine, &PluginDir::linker(&engine).unwrap()) else { panic!("the root loaded") };
    let [error] = &errors[..] else { panic!("{errors:?}") };
    assert_eq!(error.plugin().map(String::as_str), Some("file-stats"));
    let message = wasm_link::error_chain(error);
    assert!(message.contains("imports `example:files/host"), "{message}");
}

#[test]
fn without_a_grant_the_clocks_are_virtual() {
    let dir = demo_copy();
    with_clock_peek(dir.path(), "");
    // The Unix epoch: the plugin has not slept.
    let report = run(dir.path());
    assert!(report.contains("read the clock: 0\n"), "{report}");
}

#[test]
fn a_granted_clock_is_the_hosts() {
    let dir = demo_copy();
    with_clock_peek(dir.path(), "grants = [\"wasi:clocks\"]\n");
    let report = run(dir.path());
    let host = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let read: u64 = report.split("read the clock: ").nth(1).and_then(|r| r.lines().next()).unwrap().parse().unwrap();
    assert!(read.abs_diff(host) < 60, "{read} vs {host}");
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

/// A manifest grants its plugin no more than the host's ceilings, however
/// much it asks for.
#[test]
fn manifest_limits_are_capped() {
    let dir = demo_copy();
    let manifest = dir.path().join("plugins/capitalize/plugin.toml");
    let mut text = std::fs::read_to_string(&manifest).unwrap();
    text.push_str(
        "[limits]\ndeadline-ms = 18446744073709551615\nmemory-mib = 1000000000\ntable-elements = 18446744073709551615\n\
         handles = 18446744073709551615\ndepth = 18446744073709551615\n\
         [recovery]\nquarantine-after = 4294967295\nwindow-ms = 18446744073709551615\ncooldown-ms = 1\n",
    );
    std::fs::write(&manifest, text).unwrap();
    let plugin_dir = PluginDir::open(dir.path(), &DirOptions::default()).unwrap();
    let capitalize = plugin_dir.plugins.iter().find(|p| p.plugin_id() == "capitalize").unwrap();
    let limits = wasm_link::PluginData::limits(capitalize);
    assert_eq!(limits.deadline, std::time::Duration::from_hours(1));
    assert_eq!(limits.memory, 4 << 30);
    assert_eq!((limits.table_elements, limits.handles, limits.depth), (10_000_000, 1_000_000, 100_000));
    assert_eq!(wasm_link::PluginData::recovery(capitalize).quarantine.unwrap().failures, 10_000);
}

/// A manifest that is a FIFO (a read that never ends) or larger than any
/// manifest should be is reported naming the file; the other plugins load.
#[cfg(unix)]
#[test]
fn a_manifest_that_is_not_a_small_regular_file_is_refused() {
    let dir = demo_copy();
    let fifo = dir.path().join("plugins/capitalize/plugin.toml");
    std::fs::remove_file(&fifo).unwrap();
    let status = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(status.success());
    let huge = dir.path().join("plugins/word-count/plugin.toml");
    let mut text = std::fs::read_to_string(&huge).unwrap();
    text.push_str("\n# ");
    text.push_str(&"x".repeat(2 << 20));
    std::fs::write(&huge, text).unwrap();
    let plugin_dir = PluginDir::open(dir.path(), &DirOptions::default()).unwrap();
    let failed: Vec<_> = plugin_dir
        .errors
        .iter()
        .filter_map(|e| match e {
            DirError::Io { path, .. } => Some(path.clone()),
            _ => None,
        })
        .collect();
    assert!(failed.contains(&fifo) && failed.contains(&huge), "{:?}", plugin_dir.errors);
    assert!(plugin_dir.plugins.iter().any(|p| p.plugin_id() == "markdown-parser"));
}

/// Opens `dir`, then builds and loads what it read, asserting that neither
/// step finds anything more wrong (nothing is reported twice) and that the
/// loaded tree still runs; returns the directory's errors and the loaded ids.
fn open_and_load(dir: &Path) -> (Vec<DirError>, Vec<String>) {
    let mut plugin_dir = PluginDir::open(dir, &DirOptions::default()).unwrap();
    let dir_errors = std::mem::take(&mut plugin_dir.errors);
    let (tree, errors) = plugin_dir.into_tree();
    assert!(errors.is_empty(), "{errors:?}");
    let engine = Engine::default();
    let (head, errors) = tree.load(&engine, &PluginDir::linker(&engine).unwrap()).unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    match head.dispatch("demo:app/app@0.1.0", "run", true, &[Val::String("# T\n\nhello   world.".into())]) {
        Socket::ExactlyOne(Ok(Val::String(report))) => assert!(report.contains("word-count: words"), "{report}"),
        other => panic!("{other:?}"),
    }
    let mut ids: Vec<String> = head.loaded_plugin_ids().into_iter().cloned().collect();
    ids.sort();
    (dir_errors, ids)
}

/// Points the `capitalize` plugin's manifest at `component`, written as a
/// TOML string.
fn set_capitalize_component(dir: &Path, component: &str) {
    let manifest = dir.join("plugins/capitalize/plugin.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let text = text.replace("component = \"capitalize.wasm\"", &format!("component = {}", toml_string(component)));
    std::fs::write(&manifest, text).unwrap();
}

/// `text` as a TOML literal string.
fn toml_string(text: &str) -> String {
    assert!(!text.contains('\''), "{text}");
    format!("'{text}'")
}

/// The demo's plugin ids without `capitalize`.
fn demo_ids_but_capitalize() -> Vec<String> {
    ["markdown-parser", "pipeline", "readability", "table-formatter", "trim-whitespace", "word-count"]
        .map(String::from)
        .to_vec()
}

/// Asserts that `errors` is one [`DirError::ComponentOutsideFolder`] for the
/// `capitalize` manifest naming `component`, with both in its message.
fn assert_capitalize_outside(errors: &[DirError], component: &Path) {
    let [error @ DirError::ComponentOutsideFolder { path, component: written }] = errors else { panic!("{errors:?}") };
    assert!(path.ends_with("plugins/capitalize/plugin.toml"), "{}", path.display());
    assert_eq!(written, component);
    let message = error.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains(&component.display().to_string()), "{message}");
    assert!(message.contains("outside"), "{message}");
}

#[test]
fn a_component_path_climbing_out_of_its_plugin_folder_is_refused() {
    let dir = demo_copy();
    // A valid component at the top of the directory, and one two levels up
    // from the plugin folder (inside `plugins/`, outside the folder).
    let component = wasm_link_guests::component("capitalize").unwrap();
    std::fs::copy(component, dir.path().join("outside.wasm")).unwrap();
    std::fs::copy(component, dir.path().join("plugins/outside.wasm")).unwrap();
    for written in ["../../outside.wasm", "../outside.wasm", "./../capitalize/../../outside.wasm"] {
        set_capitalize_component(dir.path(), written);
        let (errors, ids) = open_and_load(dir.path());
        assert_capitalize_outside(&errors, Path::new(written));
        assert_eq!(ids, demo_ids_but_capitalize());
        // Back to the original line for the next path.
        let manifest = dir.path().join("plugins/capitalize/plugin.toml");
        let text = std::fs::read_to_string(&manifest).unwrap().replace(&toml_string(written), "\"capitalize.wasm\"");
        std::fs::write(&manifest, text).unwrap();
    }
}

#[test]
fn a_component_path_leaving_its_folder_is_refused_even_when_the_file_is_missing() {
    let dir = demo_copy();
    set_capitalize_component(dir.path(), "../../no-such-file.wasm");
    let (errors, ids) = open_and_load(dir.path());
    assert_capitalize_outside(&errors, Path::new("../../no-such-file.wasm"));
    assert_eq!(ids, demo_ids_but_capitalize());
}

#[test]
fn an_absolute_component_path_outside_the_plugin_folder_is_refused() {
    let dir = demo_copy();
    let outside = tempfile::tempdir().unwrap();
    let component = outside.path().join("capitalize.wasm");
    std::fs::copy(wasm_link_guests::component("capitalize").unwrap(), &component).unwrap();
    let written = component.to_str().unwrap();
    set_capitalize_component(dir.path(), written);
    let (errors, ids) = open_and_load(dir.path());
    assert_capitalize_outside(&errors, &component);
    assert_eq!(ids, demo_ids_but_capitalize());
}

#[test]
fn an_absolute_component_path_inside_the_plugin_folder_loads() {
    let dir = demo_copy();
    let component = dir.path().join("plugins/capitalize/capitalize.wasm");
    set_capitalize_component(dir.path(), component.to_str().unwrap());
    let (errors, ids) = open_and_load(dir.path());
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(ids.len(), 7);
}

#[cfg(unix)]
#[test]
fn a_component_that_is_a_symlink_out_of_its_plugin_folder_is_refused() {
    use std::os::unix::fs::symlink;
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("capitalize.wasm");
    std::fs::copy(wasm_link_guests::component("capitalize").unwrap(), &target).unwrap();
    // (component as written, link in the plugin folder, its target): to a
    // file outside the whole directory, absolute; to a sibling plugin's file,
    // relative; through a symlinked subfolder.
    let cases = [
        ("capitalize.wasm", "capitalize.wasm", target),
        ("capitalize.wasm", "capitalize.wasm", PathBuf::from("../trim-whitespace/trim-whitespace.wasm")),
        ("sub/capitalize.wasm", "sub", outside.path().to_path_buf()),
    ];
    for (written, link, target) in cases {
        let dir = demo_copy();
        let plugin = dir.path().join("plugins/capitalize");
        std::fs::remove_file(plugin.join("capitalize.wasm")).unwrap();
        symlink(target, plugin.join(link)).unwrap();
        set_capitalize_component(dir.path(), written);
        let (errors, ids) = open_and_load(dir.path());
        assert_capitalize_outside(&errors, Path::new(written));
        assert_eq!(ids, demo_ids_but_capitalize());
    }
}

#[cfg(unix)]
#[test]
fn a_component_that_is_a_symlink_within_its_plugin_folder_loads() {
    let dir = demo_copy();
    let plugin = dir.path().join("plugins/capitalize");
    std::fs::create_dir(plugin.join("build")).unwrap();
    std::fs::rename(plugin.join("capitalize.wasm"), plugin.join("build/capitalize.wasm")).unwrap();
    std::os::unix::fs::symlink("build/capitalize.wasm", plugin.join("capitalize.wasm")).unwrap();
    let (errors, ids) = open_and_load(dir.path());
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(ids.len(), 7);
}

#[cfg(unix)]
#[test]
fn a_component_swapped_for_a_symlink_out_after_open_is_refused_at_load() {
    let dir = demo_copy();
    let plugin_dir = PluginDir::open(dir.path(), &DirOptions::default()).unwrap();
    assert!(plugin_dir.errors.is_empty(), "{:?}", plugin_dir.errors);
    let component = dir.path().join("plugins/capitalize/capitalize.wasm");
    std::fs::remove_file(&component).unwrap();
    std::os::unix::fs::symlink(wasm_link_guests::component("capitalize").unwrap(), &component).unwrap();
    let (tree, _) = plugin_dir.into_tree();
    let engine = Engine::default();
    let (head, errors) = tree.load(&engine, &PluginDir::linker(&engine).unwrap()).unwrap();
    let [wasm_link::LoadError::Component { plugin, source }] = &errors[..] else { panic!("{errors:?}") };
    assert_eq!(plugin, "capitalize");
    assert!(
        matches!(source.downcast_ref::<DirError>(), Some(DirError::ComponentOutsideFolder { path, component })
            if path.ends_with("capitalize/plugin.toml") && component == Path::new("capitalize.wasm")),
        "{source:?}"
    );
    assert_eq!(head.loaded_plugin_ids().len(), 6);
}

#[cfg(unix)]
#[test]
fn a_symlinked_plugin_folder_is_skipped_and_reported() {
    let dir = demo_copy();
    let plugins = dir.path().join("plugins");
    // Sorting before and after the folder it points to, and one to a folder
    // outside the directory with an id of its own.
    std::os::unix::fs::symlink("capitalize", plugins.join("aa-link")).unwrap();
    std::os::unix::fs::symlink(plugins.join("capitalize"), plugins.join("zz-link")).unwrap();
    let outside = tempfile::tempdir().unwrap();
    wasm_link_guests::copy_dir(&plugins.join("trim-whitespace"), &outside.path().join("trim"));
    let manifest = outside.path().join("trim/plugin.toml");
    let text = std::fs::read_to_string(&manifest).unwrap().replace("id = \"trim-whitespace\"", "id = \"elsewhere\"");
    std::fs::write(&manifest, text).unwrap();
    std::os::unix::fs::symlink(outside.path().join("trim"), plugins.join("mm-elsewhere")).unwrap();
    // A dangling link is reported too; a link to a file is not a folder.
    std::os::unix::fs::symlink("no-such-folder", plugins.join("nn-dangling")).unwrap();
    std::os::unix::fs::symlink("../wasm-link.toml", plugins.join("notes.toml")).unwrap();

    let (errors, ids) = open_and_load(dir.path());
    let folders: Vec<&Path> = errors
        .iter()
        .map(|error| match error {
            DirError::SymlinkedPluginFolder { path } => {
                let message = error.to_string();
                assert!(
                    message.contains(&path.display().to_string()) && message.contains("symbolic link"),
                    "{message}"
                );
                path.as_path()
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(folders, ["aa-link", "mm-elsewhere", "nn-dangling", "zz-link"].map(|name| plugins.join(name)));
    assert_eq!(ids.len(), 7);
    assert!(!ids.iter().any(|id| id == "elsewhere"), "{ids:?}");
    let plugin_dir = PluginDir::open(dir.path(), &DirOptions::default()).unwrap();
    let capitalize = plugin_dir.plugins.iter().find(|p| p.plugin_id() == "capitalize").unwrap();
    assert_eq!(capitalize.manifest_path(), plugins.join("capitalize/plugin.toml"));
}

#[test]
fn a_duplicate_id_in_a_second_folder_is_reported_once_naming_both_folders() {
    let dir = demo_copy();
    let plugins = dir.path().join("plugins");
    wasm_link_guests::copy_dir(&plugins.join("word-count"), &plugins.join("zz-word-count"));
    let (errors, ids) = open_and_load(dir.path());
    let [error @ DirError::DuplicatePlugin { id, path, first }] = &errors[..] else { panic!("{errors:?}") };
    assert_eq!(id, "word-count");
    assert_eq!(path, &plugins.join("zz-word-count/plugin.toml"));
    assert_eq!(first, &plugins.join("word-count/plugin.toml"));
    let message = error.to_string();
    assert!(message.contains("zz-word-count") && message.contains(&first.display().to_string()), "{message}");
    assert_eq!(ids.len(), 7);
}

#[test]
fn a_duplicate_id_is_reported_even_when_the_first_folder_fails_to_load() {
    let dir = demo_copy();
    let plugins = dir.path().join("plugins");
    wasm_link_guests::copy_dir(&plugins.join("capitalize"), &plugins.join("zz-copy"));
    std::fs::remove_file(plugins.join("capitalize/capitalize.wasm")).unwrap();
    let (errors, ids) = open_and_load(dir.path());
    assert!(
        matches!(&errors[..], [DirError::MissingComponent { path, .. }, DirError::DuplicatePlugin { path: dropped, first, .. }]
            if path.ends_with("capitalize/plugin.toml") && dropped.ends_with("zz-copy/plugin.toml") && first == path),
        "{errors:?}"
    );
    assert_eq!(ids, demo_ids_but_capitalize());
}
