//! A running tree that follows its plugin directory: [`PluginDir::sync`]
//! brings a head in line with the directory once, [`DirWatch`] does it at
//! every change of the directory's files.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

use super::{DirError, DirOptions, DirPlugin, PluginDir, Policy};
use crate::{PluginTreeHead, SwapError};

/// What following the directory did to one plugin.
#[derive(Debug)]
#[non_exhaustive]
pub enum DirChange {
    /// A new plugin folder: the plugin was added to the tree.
    Added {
        /// The plugin.
        plugin: String,
        /// Its version (a hash of its manifest and component).
        version: String,
    },
    /// A changed manifest or component: the plugin was replaced.
    Replaced {
        /// The plugin.
        plugin: String,
        /// The new version.
        version: String,
    },
    /// A removed plugin folder: the plugin was removed from the tree.
    Removed {
        /// The plugin.
        plugin: String,
    },
    /// The tree refused the change (a component that does not compile or
    /// does not fit, a plugin others need): what ran before keeps serving.
    Refused {
        /// The plugin.
        plugin: String,
        /// Why.
        error: SwapError<String, String>,
    },
    /// A file of the directory could not be read (a half-written manifest,
    /// say): the plugins it concerns are left as they are, and no plugin is
    /// removed on this pass.
    Skipped(DirError),
}

impl std::fmt::Display for DirChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Added { plugin, version } => write!(f, "added `{plugin}` ({version})"),
            Self::Replaced { plugin, version } => write!(f, "replaced `{plugin}` (now {version})"),
            Self::Removed { plugin } => write!(f, "removed `{plugin}`"),
            Self::Refused { plugin, error } => {
                write!(f, "kept `{plugin}` as it was: {}", crate::error_chain(error))
            }
            Self::Skipped(error) => write!(f, "skipped: {}", crate::error_chain(error)),
        }
    }
}

impl PluginDir {
    /// Reads the plugin directory at `path` again and brings `head` (loaded
    /// from it) in line with it: a plugin whose manifest or component
    /// changed is replaced, a new plugin folder is added, a removed one is
    /// removed (see [`PluginTreeHead::replace_plugin`] and its siblings for
    /// what each guarantees). Returns what it did, one entry per plugin it
    /// touched or could not.
    ///
    /// A plugin is compared by its [version](crate::PluginHealth::version),
    /// a hash of its manifest and component files: an unchanged plugin is
    /// not touched. Nothing is removed on a pass where a plugin folder
    /// could not be read, since its plugin may be the one seemingly gone.
    /// Interfaces are read for the plugins' signatures; a changed interface
    /// does not change the running tree's (load again for that).
    ///
    /// # Errors
    /// Only when `wasm-link.toml` cannot be read.
    pub fn sync(
        path: &Path,
        options: &DirOptions,
        head: &PluginTreeHead<DirPlugin>,
    ) -> Result<Vec<DirChange>, DirError> {
        sync_since(path, options, None, head, None)
    }

    /// [`sync`](Self::sync) under the host's `policy`, as
    /// [`open_with_policy`](Self::open_with_policy) reads a directory: the
    /// directory's own `[policy]` is not read.
    ///
    /// # Errors
    /// Only when `wasm-link.toml` cannot be read.
    pub fn sync_with_policy(
        path: &Path,
        options: &DirOptions,
        policy: &Policy,
        head: &PluginTreeHead<DirPlugin>,
    ) -> Result<Vec<DirChange>, DirError> {
        sync_since(path, options, Some(policy), head, None)
    }
}

/// The plugin folders of a directory as last seen: each plugin's version.
type Seen = std::collections::HashMap<String, String>;

/// [`PluginDir::sync`]; with `seen`, only the plugins whose files changed
/// since it was taken (and the folders that came or went) are acted on, and
/// `seen` is brought up to date: a plugin that failed to load, or one the
/// tree never reached, is left alone until its files change.
fn sync_since(
    path: &Path,
    options: &DirOptions,
    policy: Option<&Policy>,
    head: &PluginTreeHead<DirPlugin>,
    seen: Option<&mut Seen>,
) -> Result<Vec<DirChange>, DirError> {
    let dir = PluginDir::read(path, options, policy)?;
    // An error that may hide a plugin folder (an unreadable manifest, a
    // component path it cannot use) holds back every removal of this
    // pass. A symlinked folder is never loaded and a duplicate id is
    // served from its first folder: neither hides one.
    let unreadable = dir.errors.iter().any(|e| {
        !matches!(e, DirError::Wit { .. } | DirError::SymlinkedPluginFolder { .. } | DirError::DuplicatePlugin { .. })
    });
    let mut changes: Vec<DirChange> = dir.errors.into_iter().map(DirChange::Skipped).collect();
    // Members of frozen groups each with their own version.
    let running: Vec<(String, String)> = head.member_versions();
    let on_disk: Vec<String> = dir.plugins.iter().map(|p| p.id.clone()).collect();
    let mut additions = Vec::new();
    let unchanged = |plugin: &DirPlugin| {
        seen.as_deref().is_some_and(|seen| seen.get(&plugin.id).is_some_and(|v| *v == plugin.version))
    };
    let now: Seen = dir.plugins.iter().map(|p| (p.id.clone(), p.version.clone())).collect();
    for plugin in dir.plugins.into_iter().filter(|p| !unchanged(p)) {
        match running.iter().find(|(id, _)| *id == plugin.id) {
            Some((_, version)) if *version == plugin.version => {}
            Some(_) => {
                let (id, version) = (plugin.id.clone(), plugin.version.clone());
                changes.push(match head.replace_plugin(plugin) {
                    Ok(()) => DirChange::Replaced { plugin: id, version },
                    Err(error) => DirChange::Refused { plugin: id, error },
                });
            }
            None => additions.push(plugin),
        }
    }
    // A new plugin may socket another new one: add what can be added
    // until a pass adds none.
    loop {
        let mut failed = Vec::new();
        let mut added = false;
        for plugin in additions {
            let (id, version, retry) = (plugin.id.clone(), plugin.version.clone(), plugin.fresh());
            match head.add_plugin(plugin) {
                Ok(()) => {
                    added = true;
                    changes.push(DirChange::Added { plugin: id, version });
                }
                Err(error) => failed.push((retry, error)),
            }
        }
        if !added || failed.is_empty() {
            let refused = failed.into_iter().map(|(plugin, error)| DirChange::Refused { plugin: plugin.id, error });
            changes.extend(refused);
            break;
        }
        additions = failed.into_iter().map(|(plugin, _)| plugin).collect();
    }
    if !unreadable {
        // Consumers go before the plugins they need: remove what can be
        // removed until a pass removes none.
        let mut gone: Vec<String> = running.into_iter().map(|(id, _)| id).filter(|id| !on_disk.contains(id)).collect();
        loop {
            let before = gone.len();
            let mut last = Vec::new();
            gone.retain(|id| match head.remove_plugin(id) {
                Ok(()) => {
                    changes.push(DirChange::Removed { plugin: id.clone() });
                    false
                }
                Err(error) => {
                    last.push((id.clone(), error));
                    true
                }
            });
            if gone.is_empty() || gone.len() == before {
                changes.extend(last.into_iter().map(|(plugin, error)| DirChange::Refused { plugin, error }));
                break;
            }
        }
    }
    if let Some(seen) = seen {
        *seen = now;
    }
    Ok(changes)
}

/// A plugin directory followed by a running tree: at every change of its
/// plugins' files the tree is brought in line with it ([`PluginDir::sync`]),
/// on a thread of its own, and what changed is handed to a callback.
///
/// Changes are gathered until the files have been quiet for a moment (so a
/// component being written is read once, whole). A broken change is
/// reported and the version before it keeps serving. Dropping the
/// `DirWatch` stops following.
pub struct DirWatch {
    stop: Sender<Event>,
    thread: Option<std::thread::JoinHandle<()>>,
    _watcher: notify::RecommendedWatcher,
}

enum Event {
    Changed,
    Stop,
}

/// How long the files must be quiet before a change is applied.
const QUIET: Duration = Duration::from_millis(150);

impl DirWatch {
    /// Follows the plugin directory at `path` with `head` (loaded from it):
    /// `on_change` gets the changes of each pass that made any.
    ///
    /// # Errors
    /// [`DirError::Watch`] when the directory cannot be watched.
    pub fn start(
        path: impl AsRef<Path>,
        options: DirOptions,
        head: Arc<PluginTreeHead<DirPlugin>>,
        on_change: impl FnMut(Vec<DirChange>) + Send + 'static,
    ) -> Result<Self, DirError> {
        Self::follow_under(path.as_ref(), options, None, head, on_change)
    }

    /// [`start`](Self::start) under the host's `policy`, as
    /// [`PluginDir::open_with_policy`] reads a directory: each pass reads
    /// the plugins' requests against it, never against the directory's own
    /// `[policy]`.
    ///
    /// # Errors
    /// [`DirError::Watch`] when the directory cannot be watched.
    pub fn start_with_policy(
        path: impl AsRef<Path>,
        options: DirOptions,
        policy: Policy,
        head: Arc<PluginTreeHead<DirPlugin>>,
        on_change: impl FnMut(Vec<DirChange>) + Send + 'static,
    ) -> Result<Self, DirError> {
        Self::follow_under(path.as_ref(), options, Some(policy), head, on_change)
    }

    fn follow_under(
        path: &Path,
        options: DirOptions,
        policy: Option<Policy>,
        head: Arc<PluginTreeHead<DirPlugin>>,
        mut on_change: impl FnMut(Vec<DirChange>) + Send + 'static,
    ) -> Result<Self, DirError> {
        use notify::Watcher;
        let path = path.to_path_buf();
        let (events, received) = std::sync::mpsc::channel();
        let sender = events.clone();
        let watch_error = |error: notify::Error| DirError::Watch { path: path.clone(), message: error.to_string() };
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if event.is_ok_and(|event| !event.kind.is_access()) {
                let _ = sender.send(Event::Changed);
            }
        })
        .map_err(watch_error)?;
        watcher.watch(&path.join("plugins"), notify::RecursiveMode::Recursive).map_err(watch_error)?;
        // What is there when following starts is what the tree was loaded
        // from: a plugin that failed then, or was never reached, waits for
        // its files to change.
        let seen: Seen = PluginDir::read(&path, &options, policy.as_ref())?
            .plugins
            .iter()
            .map(|p| (p.id.clone(), p.version.clone()))
            .collect();
        let thread = std::thread::Builder::new()
            .name("wasm-link-dir-watch".to_owned())
            .spawn(move || follow(&path, &options, policy.as_ref(), &head, &received, &mut on_change, seen))
            .map_err(|source| DirError::Io { path: PathBuf::from("(a watch thread)"), source })?;
        Ok(Self { stop: events, thread: Some(thread), _watcher: watcher })
    }
}

fn follow(
    path: &Path,
    options: &DirOptions,
    policy: Option<&Policy>,
    head: &PluginTreeHead<DirPlugin>,
    events: &Receiver<Event>,
    on_change: &mut impl FnMut(Vec<DirChange>),
    mut seen: Seen,
) {
    while let Ok(Event::Changed) = events.recv() {
        // Quiet for a moment: one pass for a burst of writes.
        loop {
            match events.recv_timeout(QUIET) {
                Ok(Event::Changed) => {}
                Ok(Event::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => break,
            }
        }
        let changes = match sync_since(path, options, policy, head, Some(&mut seen)) {
            Ok(changes) => changes,
            Err(error) => vec![DirChange::Skipped(error)],
        };
        tracing::info!(changes = changes.len(), "plugin directory followed");
        if !changes.is_empty() {
            on_change(changes);
        }
    }
}

impl Drop for DirWatch {
    fn drop(&mut self) {
        let _ = self.stop.send(Event::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
