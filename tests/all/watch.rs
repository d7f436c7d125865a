//! A running tree following its plugin directory: `PluginDir::sync` and
//! `DirWatch`.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasm_link::dir::{DirChange, DirOptions, DirPlugin, DirWatch, PluginDir};
use wasm_link::{Engine, LoadError, PluginTreeHead, Socket, SwapError, Val};

use crate::dir::demo_copy;

type DirHead = PluginTreeHead<DirPlugin>;

fn load(dir: &Path) -> DirHead {
    let plugin_dir = PluginDir::open(dir, &DirOptions::default()).unwrap();
    assert!(plugin_dir.errors.is_empty(), "{:?}", plugin_dir.errors);
    let (tree, errors) = plugin_dir.into_tree();
    assert!(errors.is_empty(), "{errors:?}");
    let engine = Engine::default();
    let (head, errors) = tree.load(&engine, &PluginDir::linker(&engine).unwrap()).unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    head
}

fn run(head: &DirHead) -> Result<String, String> {
    match head.dispatch("demo:app/app@0.1.0", "run", true, &[Val::String("# T\n\nhello   world.".into())]) {
        Socket::ExactlyOne(Ok(Val::String(report))) => Ok(report),
        other => Err(format!("{other:?}")),
    }
}

fn sync(dir: &Path, head: &DirHead) -> Vec<DirChange> {
    PluginDir::sync(dir, &DirOptions::default(), head).unwrap()
}

/// Puts `transform`'s component (another plugin's code) in place of
/// `capitalize`'s: same plug, same sockets, different output.
fn give_capitalize_the_code_of(dir: &Path, transform: &str) {
    let code = std::fs::read(dir.join(format!("plugins/{transform}/{transform}.wasm"))).unwrap();
    std::fs::write(dir.join("plugins/capitalize/capitalize.wasm"), code).unwrap();
}

#[test]
fn a_changed_component_is_swapped_in_and_an_unchanged_directory_changes_nothing() {
    let dir = demo_copy();
    let head = load(dir.path());
    let before = run(&head).unwrap();
    assert!(before.contains("Hello world."), "{before}");
    assert!(sync(dir.path(), &head).is_empty(), "nothing changed yet");

    give_capitalize_the_code_of(dir.path(), "trim-whitespace");
    let changes = sync(dir.path(), &head);
    assert!(
        matches!(changes.as_slice(), [DirChange::Replaced { plugin, .. }] if plugin == "capitalize"),
        "{changes:?}"
    );
    let after = run(&head).unwrap();
    assert!(after.contains("hello world.") && !after.contains("Hello world."), "{after}");
    assert!(sync(dir.path(), &head).is_empty(), "the new version is the directory's");
}

#[test]
fn new_plugin_folders_are_added_and_removed_ones_removed_unless_needed() {
    let dir = demo_copy();
    let head = load(dir.path());
    let copy = dir.path().join("plugins/word-count-2");
    wasm_link_guests::copy_dir(&dir.path().join("plugins/word-count"), &copy);
    let manifest = std::fs::read_to_string(copy.join("plugin.toml")).unwrap();
    std::fs::write(copy.join("plugin.toml"), manifest.replace("\"word-count\"", "\"word-count-2\"")).unwrap();
    let changes = sync(dir.path(), &head);
    assert!(matches!(changes.as_slice(), [DirChange::Added { plugin, .. }] if plugin == "word-count-2"), "{changes:?}");
    assert!(run(&head).unwrap().contains("word-count-2"));

    std::fs::remove_dir_all(&copy).unwrap();
    let changes = sync(dir.path(), &head);
    assert!(matches!(changes.as_slice(), [DirChange::Removed { plugin }] if plugin == "word-count-2"), "{changes:?}");

    // The parser is the pipeline's `ExactlyOne` socket: it stays.
    std::fs::remove_dir_all(dir.path().join("plugins/markdown-parser")).unwrap();
    let changes = sync(dir.path(), &head);
    assert!(
        matches!(changes.as_slice(), [DirChange::Refused { plugin, error: SwapError::Needed { .. } }] if plugin == "markdown-parser"),
        "{changes:?}"
    );
    assert!(run(&head).is_ok());
}

#[test]
fn a_half_written_component_is_refused_and_the_old_version_keeps_serving() {
    let dir = demo_copy();
    let head = load(dir.path());
    let path = dir.path().join("plugins/capitalize/capitalize.wasm");
    let whole = std::fs::read(&path).unwrap();
    std::fs::write(&path, &whole[..whole.len() / 2]).unwrap();
    let changes = sync(dir.path(), &head);
    assert!(
        matches!(changes.as_slice(), [DirChange::Refused { plugin, error: SwapError::Load(LoadError::Component { .. }) }] if plugin == "capitalize"),
        "{changes:?}"
    );
    assert!(run(&head).unwrap().contains("Hello world."));
    // Written whole, it is the same code as before: the same version.
    std::fs::write(&path, &whole).unwrap();
    assert!(sync(dir.path(), &head).is_empty());
}

#[test]
fn a_watched_directory_follows_a_new_guest_while_a_thread_dispatches() {
    let dir = demo_copy();
    let head = Arc::new(load(dir.path()));
    let (sender, changes) = std::sync::mpsc::channel();
    let watch = DirWatch::start(dir.path(), DirOptions::default(), head.clone(), move |batch| {
        let _ = sender.send(batch);
    })
    .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let worker = {
        let (head, stop) = (head.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut reports = std::collections::BTreeSet::new();
            while !stop.load(Ordering::Relaxed) {
                reports.insert(run(&head).expect("no call fails while the directory changes"));
            }
            reports
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    give_capitalize_the_code_of(dir.path(), "trim-whitespace");
    let batch = changes.recv_timeout(Duration::from_secs(30)).expect("the watch saw the change");
    assert!(
        batch.iter().any(|c| matches!(c, DirChange::Replaced { plugin, .. } if plugin == "capitalize")),
        "{batch:?}"
    );
    std::thread::sleep(Duration::from_millis(50));
    stop.store(true, Ordering::Relaxed);
    let reports = worker.join().unwrap();
    assert!(reports.iter().any(|r| r.contains("Hello world.")), "the old version served first");
    assert!(reports.iter().any(|r| r.contains("hello world.")), "then the new one: {reports:?}");
    drop(watch);
    assert!(run(&head).unwrap().contains("hello world."));
}

#[test]
fn a_watch_acts_only_on_the_plugin_folders_that_changed_since_it_started() {
    let dir = demo_copy();
    // `readability` is broken before the load: it fails, the rest runs.
    std::fs::write(dir.path().join("plugins/readability/readability.wasm"), b"not a component").unwrap();
    let plugin_dir = PluginDir::open(dir.path(), &DirOptions::default()).unwrap();
    let (tree, _) = plugin_dir.into_tree();
    let engine = Engine::default();
    let (head, errors) = tree.load(&engine, &PluginDir::linker(&engine).unwrap()).unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let head = Arc::new(head);
    let (sender, changes) = std::sync::mpsc::channel();
    let _watch = DirWatch::start(dir.path(), DirOptions::default(), head.clone(), move |batch| {
        let _ = sender.send(batch);
    })
    .unwrap();
    give_capitalize_the_code_of(dir.path(), "trim-whitespace");
    let batch = changes.recv_timeout(Duration::from_secs(30)).expect("the watch saw the change");
    // The still-broken `readability` is not tried again: its files did not change.
    assert!(matches!(batch.as_slice(), [DirChange::Replaced { plugin, .. }] if plugin == "capitalize"), "{batch:?}");
}
