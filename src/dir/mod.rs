//! Plugins from a directory (feature `dir`).
//!
//! ```text
//! wasm-link.toml                     # root = "<interface id>"
//! interfaces/<name>/interface.toml   # cardinality, which WIT interface
//! interfaces/<name>/*.wit
//! plugins/<name>/plugin.toml         # id, plug, sockets, component file
//! plugins/<name>/<file>.wasm
//! ```
//!
//! [`PluginDir::open`] reads it all; every problem (a TOML typo, a missing
//! file, a plug naming no interface, a duplicate id) is a [`DirError`] naming
//! the file, and the rest still loads. [`PluginDir::into_tree`] then gives the
//! [`PluginTree`] to load with [`PluginDir::linker`]'s linker. Interface
//! metadata comes from the WIT ([`WitInterface`]); each plugin's exports are
//! checked against its plug's WIT when it loads.
//!
//! Plugins may be written in any language that compiles to a component:
//! whatever their runtime imports beyond their sockets (`CPython`'s,
//! `SpiderMonkey`'s, Rust's standard library's WASI) links to a baseline that
//! grants nothing (no environment, no files, sockets
//! refused, a virtual clock, output to `tracing`), and a trap's error
//! carries the end of the plugin's standard error ([`PluginData::trap_note`]).
//!
//! A plugin stays inside its folder: its component path must lead to a file
//! in `plugins/<name>/`, checked on the canonical paths, so neither `..`, an
//! absolute path elsewhere, nor a symbolic link pointing out of the folder
//! reaches another file ([`DirError::ComponentOutsideFolder`]). Plugin
//! folders are not followed through symbolic links: a link in `plugins/` to
//! a folder (or to nothing) is skipped and reported
//! ([`DirError::SymlinkedPluginFolder`]). When two folders give the same id,
//! the first by name keeps it ([`DirError::DuplicatePlugin`]).
#![doc = include_str!("../../docs/directories.md")]

mod baseline;
mod cache;
mod capabilities;
mod http;
mod manifest;
mod watch;

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::{Component as PathPart, Path, PathBuf};
use std::sync::Arc;

use thiserror::Error;
use wasmtime::Engine;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime_wasi::{WasiCtxView, WasiView};

use baseline::BASELINE;
pub use baseline::{Sandbox, SandboxView};
use wit_parser::{Resolve, SourceMap, UnresolvedPackageGroup};

pub use cache::{CacheOutcome, CompileCache};
pub use capabilities::{Access, Approval, Capabilities, DirApproval, Policy, Preopen, Requests, allow};
pub use http::{DEFAULT_HTTP_RESPONSE_BYTES, MAX_HTTP_IN_FLIGHT};
pub use manifest::{Cardinality, DirManifest, InterfaceManifest, LimitsManifest, PluginManifest, RecoveryManifest};
pub use watch::{DirChange, DirWatch};

use crate::load::grants::ImportPolicy;
use crate::spec::wit::{SignatureMismatch, WitInterface, find_interface, runtime_resolve};
use crate::wasm_error::WasmError;
use crate::{PluginCtx, PluginCtxView, PluginData, PluginTree, PluginTreeError};

/// A problem with one file of a plugin directory.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DirError {
    /// A file or directory could not be read.
    #[error("cannot read `{}`", .path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A manifest is not valid TOML or has an unknown, missing or mistyped
    /// field.
    #[error("`{}`{}: {message}", .path.display(), .line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Manifest {
        /// The manifest.
        path: PathBuf,
        /// The line, when the parser gives one.
        line: Option<usize>,
        /// The parser's message.
        message: String,
    },
    /// WIT that does not parse or resolve, or lacks the interface a manifest
    /// names.
    #[error("`{}`: {message}", .path.display())]
    Wit {
        /// The WIT file, or the manifest naming the interface.
        path: PathBuf,
        /// What is wrong, with wit-parser's location.
        message: String,
    },
    /// A plugin's plug or socket names no interface of the directory.
    #[error("`{}`: `{interface}` is not an interface of this directory", .path.display())]
    UnknownInterface {
        /// The plugin manifest.
        path: PathBuf,
        /// The unknown id.
        interface: String,
    },
    /// Two plugin folders' manifests share an id. The first folder, by name,
    /// claims the id (even when it then fails to load for another reason) and
    /// the later one is dropped, so [`PluginTree::new`] never sees the id
    /// twice.
    #[error("`{}`: plugin id `{id}` is already used by `{}`", .path.display(), .first.display())]
    DuplicatePlugin {
        /// The id.
        id: String,
        /// The dropped plugin's manifest, in its folder.
        path: PathBuf,
        /// The manifest that uses it first, in the folder that keeps the id.
        first: PathBuf,
    },
    /// The directory cannot be watched for changes ([`DirWatch`]).
    #[error("cannot watch `{}`: {message}", .path.display())]
    Watch {
        /// The directory.
        path: PathBuf,
        /// The watcher's words.
        message: String,
    },
    /// A plugin requests what the host's policy does not approve (see
    /// [`Requests`]). The plugin is dropped; the rest of the tree loads.
    #[error("`{}`: plugin `{plugin}` requests what the host's policy does not approve: {}", .path.display(), .refused.join("; "))]
    NotApproved {
        /// The plugin.
        plugin: String,
        /// Its manifest.
        path: PathBuf,
        /// Each refused request, with why (`env SECRET: not in the policy`).
        refused: Vec<String>,
    },
    /// A plugin's component path leads out of its plugin folder: through
    /// `..`, as an absolute path elsewhere, or through a symbolic link
    /// pointing out of the folder. The plugin is dropped (or, when the file
    /// changed into such a link after [`PluginDir::open`], fails to load).
    #[error("`{}`: component file `{}` is outside the plugin folder", .path.display(), .component.display())]
    ComponentOutsideFolder {
        /// The plugin manifest.
        path: PathBuf,
        /// The component path, as the manifest writes it.
        component: PathBuf,
    },
    /// An entry of `plugins/` is a symbolic link to a folder (or to
    /// nothing). Plugin folders are not followed through links, so it is
    /// skipped.
    #[error("`{}`: plugin folder is a symbolic link, which is not followed", .path.display())]
    SymlinkedPluginFolder {
        /// The link.
        path: PathBuf,
    },
    /// A remote plugin's manifest is not usable: it also names a component,
    /// the library was built without feature `remote`, or its interface
    /// cannot cross the wire.
    #[error("`{}`: remote plugin: {reason}", .path.display())]
    Remote {
        /// The plugin manifest.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A plugin's component file does not exist.
    #[error("`{}`: component file `{}` does not exist", .path.display(), .component.display())]
    MissingComponent {
        /// The plugin manifest.
        path: PathBuf,
        /// The component path it names.
        component: PathBuf,
    },
    /// The component does not compile.
    #[error("plugin `{plugin}`: `{}` is not a valid component", .path.display())]
    Compile {
        /// The plugin.
        plugin: String,
        /// The component file.
        path: PathBuf,
        /// wasmtime's error.
        #[source]
        source: WasmError,
    },
    /// The component imports something that is neither one of its sockets
    /// nor granted to it.
    #[error("plugin `{plugin}` imports `{import}`, which is not one of its sockets and not granted in `{}`", .path.display())]
    NotGranted {
        /// The plugin.
        plugin: String,
        /// The import.
        import: String,
        /// The manifest that would grant it.
        path: PathBuf,
    },
    /// The component's exports do not match its plug's WIT.
    #[error("plugin `{plugin}` (`{}`) does not match its plug", .path.display())]
    Signature {
        /// The plugin.
        plugin: String,
        /// The component file.
        path: PathBuf,
        /// The function, expected and found types, as WIT.
        #[source]
        source: Box<SignatureMismatch>,
    },
}

/// Options for [`PluginDir::open`].
#[derive(Debug, Clone, Default)]
pub struct DirOptions {
    /// Where compiled components are cached; `None` compiles every time.
    pub cache: Option<CompileCache>,
}

/// A plugin read from a directory. It runs with the WASI baseline, which
/// grants nothing: no files, no network, no environment, a virtual clock
/// (the host's with the `wasi:clocks` grant), and standard output and error
/// logged through `tracing` (the host's with `stdio`); and with what its
/// manifest [`requests`](Self::requests) and the host's [`Policy`] approves
/// ([`capabilities`](Self::capabilities)): directories, environment
/// variables, configuration keys and HTTP authorities.
pub struct DirPlugin {
    id: String,
    plug: String,
    sockets: Vec<String>,
    manifest: PathBuf,
    /// The plugin folder.
    folder: PathBuf,
    /// The component path as the manifest writes it.
    written: PathBuf,
    /// The folder joined with `written`.
    component: PathBuf,
    plug_wit: Arc<WitInterface>,
    /// The instance names of its sockets: the imports it may have.
    socket_paths: Vec<String>,
    grants: Vec<String>,
    limits: crate::Limits,
    recovery: crate::Recovery,
    cache: Option<CompileCache>,
    /// A hash of its manifest and component files.
    version: String,
    /// How many instances may serve its calls at once.
    instances: usize,
    /// Its servers, when it is remote.
    #[cfg(feature = "remote")]
    remote: Option<crate::Remote>,
    /// Its WASI context, clocks, output and gates: made afresh per instance
    /// (boxed: a tree's load moves its plugins, and futures hold them).
    cx: Box<Sandbox>,
    /// What it requested and what the policy gave it (shared by its
    /// replicas; boxed, as most plugins ask for nothing).
    requests: Arc<Requests>,
    capabilities: Arc<Capabilities>,
}

impl DirPlugin {
    /// The manifest this plugin was read from.
    #[must_use]
    pub fn manifest_path(&self) -> &Path {
        &self.manifest
    }

    /// The component file.
    #[must_use]
    pub fn component_path(&self) -> &Path {
        &self.component
    }

    /// The plugin's id.
    #[must_use]
    pub fn plugin_id(&self) -> &str {
        &self.id
    }

    /// The id of the interface it implements.
    #[must_use]
    pub fn plug_id(&self) -> &str {
        &self.plug
    }

    /// The ids of the interfaces it depends on.
    #[must_use]
    pub fn socket_ids(&self) -> &[String] {
        &self.sockets
    }

    /// What its manifest requests beyond the baseline (`[requests]`).
    #[must_use]
    pub fn requests(&self) -> &Requests {
        &self.requests
    }

    /// What it got: its requests, as the host's policy approved them.
    #[must_use]
    pub fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }
}

/// The instances of a remote plugin's proxy when its manifest sets none.
const REMOTE_INSTANCES: usize = 16;

impl PluginCtxView for DirPlugin {
    fn resource_table(&mut self) -> &mut ResourceTable {
        self.cx.resource_table()
    }
}

impl SandboxView for DirPlugin {
    fn sandbox(&self) -> &Sandbox {
        &self.cx
    }
    fn sandbox_mut(&mut self) -> &mut Sandbox {
        &mut self.cx
    }
}

impl WasiView for DirPlugin {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        self.cx.wasi_view()
    }
}

impl PluginData for DirPlugin {
    type Id = String;
    type InterfaceId = String;
    type Error = DirError;
    type SocketIter<'a> = std::slice::Iter<'a, String>;

    fn id(&self) -> Result<&String, DirError> {
        Ok(&self.id)
    }
    fn plug(&self) -> Result<&String, DirError> {
        Ok(&self.plug)
    }
    fn sockets(&self) -> Result<Self::SocketIter<'_>, DirError> {
        Ok(self.sockets.iter())
    }

    fn limits(&self) -> crate::Limits {
        self.limits.clone()
    }

    fn recovery(&self) -> crate::Recovery {
        self.recovery.clone()
    }

    /// `instances` of the manifest (1 when unset).
    fn instances(&self) -> usize {
        self.instances
    }

    /// The same plugin, with a resource table and WASI context of its own.
    fn replica(&self) -> Option<Self> {
        Some(self.fresh())
    }

    /// A hash of the manifest and component files, as read by
    /// [`PluginDir::open`]: what [`PluginDir::sync`] compares.
    fn version(&self) -> Option<String> {
        Some(self.version.clone())
    }

    /// What the plugin may import besides its sockets: the WASI baseline
    /// every directory plugin gets (with nothing behind it unless granted)
    /// and its manifest's `grants`. The same policy `component` checks; said
    /// here too so that plugins with other grants (and so another WASI
    /// context) are never frozen into one store. For the same reason a
    /// plugin given capabilities adds an entry naming them by a hash (it
    /// covers no import): a frozen group shares one WASI context, so a
    /// plugin must not share its directories or values with another.
    fn grants(&self) -> Option<Vec<String>> {
        #[cfg(feature = "remote")]
        if self.remote.is_some() {
            // The proxy component is the runtime's own.
            return None;
        }
        let approved = (!self.capabilities.is_empty()).then(|| {
            use sha2::{Digest, Sha256};
            let digest = Sha256::digest(format!("{:?}", self.capabilities).as_bytes());
            format!("approved capabilities #{}", short_hex(&digest))
        });
        Some(BASELINE.iter().map(|&g| g.to_owned()).chain(self.grants.iter().cloned()).chain(approved).collect())
    }

    /// The end of what the plugin wrote to its standard error (its last
    /// 2 KiB, emptied at each failure): a Python traceback, a JavaScript
    /// exception, a Rust panic message. Lines of earlier calls come with it
    /// when the failing call wrote less; it is the host's to read, never
    /// shown to other plugins. `None` with the `stdio` grant (the host's
    /// own standard error has it).
    fn trap_note(&mut self) -> Option<String> {
        let tail = self.cx.take_stderr_tail()?;
        Some(format!("its standard error ended with:\n{tail}"))
    }

    /// The manifest's `remote` servers, if any.
    #[cfg(feature = "remote")]
    fn remote(&self) -> Option<crate::Remote> {
        self.remote.clone()
    }

    /// The component file's bytes, for freezing. The path is checked again
    /// to be inside the plugin folder first. Freezing compares what these
    /// bytes import with what [`component`](PluginData::component) compiled
    /// and checked, so a file rewritten in between cannot bring in more.
    fn component_bytes(&self) -> Result<Option<Vec<u8>>, DirError> {
        #[cfg(feature = "remote")]
        if self.remote.is_some() {
            return Ok(None);
        }
        let file = component_in_folder(&self.folder, &self.manifest, &self.written)?;
        let bytes = read_bounded(&file, MAX_COMPONENT_FILE)
            .map_err(|source| DirError::Io { path: self.component.clone(), source })?;
        Ok(Some(bytes))
    }

    /// Reads and compiles (or takes from the cache) the component, checks
    /// that it imports only its sockets and what it was granted, then checks
    /// its exports against the plug's WIT. The component path is checked
    /// again to be inside the plugin folder first, in case the file changed
    /// into a symbolic link since [`PluginDir::open`].
    fn component(&self, engine: &Engine) -> Result<Component, DirError> {
        #[cfg(feature = "remote")]
        if let Some(remote) = &self.remote {
            return remote
                .component(engine, &self.plug_wit)
                .map_err(|e| DirError::Remote { path: self.manifest.clone(), reason: crate::error_chain(&e) });
        }
        let file = component_in_folder(&self.folder, &self.manifest, &self.written)?;
        let bytes = read_bounded(&file, MAX_COMPONENT_FILE)
            .map_err(|source| DirError::Io { path: self.component.clone(), source })?;
        let compiled = match &self.cache {
            Some(cache) => cache.component(engine, &bytes).map(|(component, _)| component),
            None => Component::new(engine, &bytes),
        };
        let component = compiled.map_err(|e| DirError::Compile {
            plugin: self.id.clone(),
            path: self.component.clone(),
            source: WasmError::new(e),
        })?;
        let sockets = self.socket_paths.iter().map(String::as_str);
        let grants = BASELINE.iter().copied().chain(self.grants.iter().map(String::as_str));
        if let Some(import) = ImportPolicy::new(sockets, grants).refused(engine, &component.component_type()) {
            return Err(DirError::NotGranted { plugin: self.id.clone(), import, path: self.manifest.clone() });
        }
        self.plug_wit.check_exports(engine, &component).map_err(|source| DirError::Signature {
            plugin: self.id.clone(),
            path: self.component.clone(),
            source: Box::new(source),
        })?;
        Ok(component)
    }
}

/// The contents of a plugin directory.
pub struct PluginDir {
    /// The directory.
    pub path: PathBuf,
    /// The root interface's id.
    pub root: String,
    /// The interfaces that were read, sorted by id.
    pub interfaces: Vec<WitInterface>,
    /// The plugins that were read, sorted by directory name.
    pub plugins: Vec<DirPlugin>,
    /// Everything that could not be read.
    pub errors: Vec<DirError>,
}

impl PluginDir {
    /// Reads a plugin directory.
    ///
    /// # Errors
    /// Only when `wasm-link.toml` cannot be read; every other problem is in
    /// [`errors`](Self::errors) and drops just what it concerns.
    pub fn open(path: impl AsRef<Path>, options: &DirOptions) -> Result<Self, DirError> {
        Self::read(path.as_ref(), options, None)
    }

    /// Reads a plugin directory under `policy`, the host's approvals of the
    /// plugins' requests, instead of the `[policy]` of its `wasm-link.toml`
    /// (which may come with the plugins).
    ///
    /// # Errors
    /// Only when `wasm-link.toml` cannot be read, as for [`open`](Self::open).
    pub fn open_with_policy(path: impl AsRef<Path>, options: &DirOptions, policy: &Policy) -> Result<Self, DirError> {
        Self::read(path.as_ref(), options, Some(policy))
    }

    /// The `[policy]` of a directory's `wasm-link.toml`: what
    /// [`open`](Self::open) approves, for a host that adds to it (see
    /// [`allow`]) before [`open_with_policy`](Self::open_with_policy).
    ///
    /// # Errors
    /// When `wasm-link.toml` cannot be read.
    pub fn own_policy(path: impl AsRef<Path>) -> Result<Policy, DirError> {
        let manifest: DirManifest = read_toml(&path.as_ref().join("wasm-link.toml"))?;
        Ok(manifest.policy)
    }

    fn read(path: &Path, options: &DirOptions, policy: Option<&Policy>) -> Result<Self, DirError> {
        let path = path.to_path_buf();
        let manifest: DirManifest = read_toml(&path.join("wasm-link.toml"))?;
        let policy = policy.unwrap_or(&manifest.policy);
        let mut errors = Vec::new();
        let interfaces = read_interfaces(&path.join("interfaces"), &mut errors);
        let plugins = read_plugins(&path, &interfaces, options, policy, &mut errors);
        Ok(Self { path, root: manifest.root, interfaces, plugins, errors })
    }

    /// The plugin tree of the directory, and the build errors.
    #[must_use]
    pub fn into_tree(self) -> (PluginTree<WitInterface, DirPlugin>, Vec<PluginTreeError<String, String>>) {
        PluginTree::new(self.root, self.interfaces, self.plugins)
    }

    /// A linker offering WASI to plugins: the baseline every directory
    /// plugin links, granting nothing (no environment, files or sockets;
    /// virtual clocks whose sleeps return at once; output to `tracing`),
    /// and the host's clocks or standard streams where a manifest grants
    /// `wasi:clocks` or `stdio`.
    ///
    /// # Errors
    /// When wasmtime cannot define WASI in the linker.
    pub fn linker(engine: &Engine) -> Result<Linker<PluginCtx<DirPlugin>>, WasmError> {
        Sandbox::linker(engine)
    }

    /// [`linker`](Self::linker) for trees loaded with
    /// [`PluginTree::load_async`](crate::PluginTree::load_async): WASI's
    /// functions are async host functions, run on the executor of the
    /// `dispatch_async` that reaches them. (The synchronous WASI of
    /// [`linker`](Self::linker) runs a tokio runtime of its own for each
    /// call, which tokio forbids inside another runtime's task.)
    ///
    /// # Errors
    /// When wasmtime cannot define WASI in the linker.
    pub fn linker_async(engine: &Engine) -> Result<Linker<PluginCtx<DirPlugin>>, WasmError> {
        Sandbox::linker_async(engine)
    }
}

/// The largest manifest or WIT file read, in bytes.
const MAX_TEXT_FILE: u64 = 1 << 20;
/// The largest component file read, in bytes.
const MAX_COMPONENT_FILE: u64 = 256 << 20;

/// Reads a regular file of at most `max` bytes. A FIFO, a device (a link to
/// `/dev/zero`) or a file larger than `max` is an error, not a read that
/// never ends or fills the memory: the directory may come from whoever
/// wrote its plugins.
pub(crate) fn read_bounded(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    // Looked at before opening: opening a FIFO waits for a writer.
    if !std::fs::metadata(path)?.is_file() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"));
    }
    let file = std::fs::File::open(path)?;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"));
    }
    if metadata.len() > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            format!("{} bytes, more than the {max} read", metadata.len()),
        ));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
    file.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > max {
        return Err(std::io::Error::new(std::io::ErrorKind::FileTooLarge, format!("more than the {max} bytes read")));
    }
    Ok(bytes)
}

/// [`read_bounded`] of a UTF-8 text file.
fn read_text(path: &Path) -> std::io::Result<String> {
    String::from_utf8(read_bounded(path, MAX_TEXT_FILE)?)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, DirError> {
    let text = read_text(path).map_err(|source| DirError::Io { path: path.to_path_buf(), source })?;
    toml::from_str(&text).map_err(|e| DirError::Manifest {
        path: path.to_path_buf(),
        line: e.span().and_then(|span| text.get(..span.start)).map(|before| before.matches('\n').count() + 1),
        message: e.message().to_owned(),
    })
}

/// Whether `path`, relative, climbs out of the folder it is relative to
/// (more `..` than folders before them), or is not relative after all (a
/// Windows drive or root).
fn climbs_out(path: &Path) -> bool {
    let mut depth = 0_usize;
    for part in path.components() {
        match part {
            PathPart::Prefix(_) | PathPart::RootDir => return true,
            PathPart::CurDir => {}
            PathPart::ParentDir => match depth.checked_sub(1) {
                Some(up) => depth = up,
                None => return true,
            },
            PathPart::Normal(_) => depth += 1,
        }
    }
    false
}

/// The canonical path of the component file `written` (as a manifest writes
/// it) of the plugin in `folder`, when it is a file inside the folder.
///
/// A path leaving the folder as written (`..` out of it, an absolute path
/// elsewhere) is refused before the file system is asked anything about it;
/// then both paths are canonicalized, so a symbolic link (the file or a
/// folder on the way) pointing out of the folder is refused too.
fn component_in_folder(folder: &Path, manifest: &Path, written: &Path) -> Result<PathBuf, DirError> {
    let outside =
        || DirError::ComponentOutsideFolder { path: manifest.to_path_buf(), component: written.to_path_buf() };
    let canonical_folder =
        std::fs::canonicalize(folder).map_err(|source| DirError::Io { path: folder.to_path_buf(), source })?;
    let relative = if written.is_absolute() {
        match written.strip_prefix(&canonical_folder).or_else(|_| written.strip_prefix(folder)) {
            Ok(relative) => relative,
            Err(_) => return Err(outside()),
        }
    } else {
        written
    };
    if climbs_out(relative) {
        return Err(outside());
    }
    let joined = folder.join(written);
    let missing = || DirError::MissingComponent { path: manifest.to_path_buf(), component: joined.clone() };
    let canonical = match std::fs::canonicalize(&joined) {
        Ok(canonical) => canonical,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(missing()),
        Err(source) => return Err(DirError::Io { path: joined, source }),
    };
    if !canonical.starts_with(&canonical_folder) {
        return Err(outside());
    }
    if !canonical.is_file() {
        return Err(missing());
    }
    Ok(canonical)
}

/// The entries of `plugins/` that may be plugin folders, sorted, each with
/// whether it is a symbolic link (to a folder, or to nothing: those are
/// skipped and reported); none when it does not exist. Files, and links to
/// files, are not plugin folders.
fn plugin_folders(path: &Path, errors: &mut Vec<DirError>) -> Vec<(PathBuf, bool)> {
    let Some(entries) = read_dir(path, errors) else { return Vec::new() };
    let mut folders = Vec::new();
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(source) => {
                errors.push(DirError::Io { path: path.to_path_buf(), source });
                continue;
            }
        };
        let folder = entry.path();
        match entry.file_type() {
            Ok(kind) if kind.is_dir() => folders.push((folder, false)),
            Ok(kind) if kind.is_symlink() => {
                if std::fs::metadata(&folder).map_or(true, |target| target.is_dir()) {
                    folders.push((folder, true));
                }
            }
            Ok(_) => {}
            Err(source) => errors.push(DirError::Io { path: folder, source }),
        }
    }
    folders.sort();
    folders
}

/// The entries of the folder `path`; none when it does not exist, or
/// (reported) cannot be read.
fn read_dir(path: &Path, errors: &mut Vec<DirError>) -> Option<std::fs::ReadDir> {
    match std::fs::read_dir(path) {
        Ok(entries) => Some(entries),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => {
            errors.push(DirError::Io { path: path.to_path_buf(), source });
            None
        }
    }
}

/// The subdirectories of `path`, sorted; none when it does not exist.
fn subdirectories(path: &Path, errors: &mut Vec<DirError>) -> Vec<PathBuf> {
    let Some(entries) = read_dir(path, errors) else { return Vec::new() };
    let mut dirs: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    dirs
}

fn dir_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

fn read_interfaces(path: &Path, errors: &mut Vec<DirError>) -> Vec<WitInterface> {
    // Parse every interface's manifest and WIT files on their own first, so a
    // broken file drops only its interface.
    let mut candidates = Vec::new();
    let mut sources: Vec<(PathBuf, String, String)> = Vec::new(); // path, package, text
    for dir in subdirectories(path, errors) {
        let manifest: InterfaceManifest = match read_toml(&dir.join("interface.toml")) {
            Ok(manifest) => manifest,
            Err(error) => {
                errors.push(error);
                continue;
            }
        };
        let mut files = Vec::new();
        let mut broken = false;
        let mut entries: Vec<PathBuf> = match std::fs::read_dir(&dir) {
            Ok(entries) => entries.filter_map(Result::ok).map(|e| e.path()).collect(),
            Err(source) => {
                errors.push(DirError::Io { path: dir.clone(), source });
                continue;
            }
        };
        entries.sort();
        for file in entries.into_iter().filter(|p| p.extension().is_some_and(|e| e == "wit")) {
            let text = match read_text(&file) {
                Ok(text) => text,
                Err(source) => {
                    errors.push(DirError::Io { path: file, source });
                    broken = true;
                    break;
                }
            };
            match UnresolvedPackageGroup::parse(&file, &text) {
                Ok(group) => files.push((file, group.main.name.to_string(), text)),
                Err((map, error)) => {
                    errors.push(DirError::Wit { path: file, message: error.render(&map) });
                    broken = true;
                    break;
                }
            }
        }
        if !broken {
            sources.extend(files);
            candidates.push((dir, manifest));
        }
    }
    let resolve = match resolve_all(&sources) {
        Ok(resolve) => Arc::new(resolve),
        Err(message) => {
            let path = sources.first().map_or_else(|| path.to_path_buf(), |(p, _, _)| p.clone());
            errors.push(DirError::Wit { path, message });
            return Vec::new();
        }
    };
    let mut interfaces = Vec::new();
    for (dir, manifest) in candidates {
        let found = find_interface(&resolve, &manifest.interface)
            .and_then(|id| WitInterface::new(dir_name(&dir), manifest.cardinality.into(), resolve.clone(), id));
        match found {
            Ok(interface) => interfaces.push(interface),
            Err(error) => errors.push(DirError::Wit { path: dir.join("interface.toml"), message: error.to_string() }),
        }
    }
    interfaces
}

/// Resolves all WIT files together (an interface may `use` another's types),
/// one package per group of files declaring it, on top of `wasm-link:runtime`.
fn resolve_all(sources: &[(PathBuf, String, String)]) -> Result<Resolve, String> {
    let mut packages: Vec<(&str, SourceMap)> = Vec::new();
    for (path, package, text) in sources {
        let index = if let Some(index) = packages.iter().position(|(p, _)| p == package) {
            index
        } else {
            packages.push((package, SourceMap::default()));
            packages.len() - 1
        };
        packages[index].1.push(path, text.as_str());
    }
    let mut groups = Vec::new();
    for (_, map) in packages {
        groups.push(map.parse().map_err(|(map, error)| error.render(&map))?);
    }
    let mut resolve = runtime_resolve();
    if groups.is_empty() {
        return Ok(resolve);
    }
    let main = groups.remove(0);
    resolve.push_groups(main, groups).map_err(|e| e.to_string())?;
    Ok(resolve)
}

/// Why a manifest naming `remote` servers cannot be a remote plugin here.
fn remote_problem(manifest: &PluginManifest) -> Option<&'static str> {
    let remote = !manifest.remote.is_empty();
    if remote && !manifest.component.as_os_str().is_empty() {
        Some("it names both `remote` servers and a `component`; a plugin is one or the other")
    } else if remote && cfg!(not(feature = "remote")) {
        Some("this build of wasm-link has no feature `remote`")
    } else {
        None
    }
}

fn read_plugins(
    top: &Path,
    interfaces: &[WitInterface],
    options: &DirOptions,
    policy: &Policy,
    errors: &mut Vec<DirError>,
) -> Vec<DirPlugin> {
    let mut plugins: Vec<DirPlugin> = Vec::new();
    // Each id, with the manifest that claimed it first.
    let mut claimed: HashMap<String, PathBuf> = HashMap::new();
    for (dir, linked) in plugin_folders(&top.join("plugins"), errors) {
        if linked {
            errors.push(DirError::SymlinkedPluginFolder { path: dir });
            continue;
        }
        let manifest_path = dir.join("plugin.toml");
        let manifest: PluginManifest = match read_toml(&manifest_path) {
            Ok(manifest) => manifest,
            Err(error) => {
                errors.push(error);
                continue;
            }
        };
        match claimed.entry(manifest.id.clone()) {
            Entry::Occupied(first) => {
                errors.push(DirError::DuplicatePlugin {
                    id: manifest.id,
                    path: manifest_path,
                    first: first.get().clone(),
                });
                continue;
            }
            Entry::Vacant(slot) => {
                slot.insert(manifest_path.clone());
            }
        }
        let find = |id: &str| interfaces.iter().find(|i| crate::InterfaceData::id(*i).is_ok_and(|i| i == id));
        let Some(plug) = find(&manifest.plug) else {
            errors.push(DirError::UnknownInterface { path: manifest_path, interface: manifest.plug });
            continue;
        };
        if let Some(unknown) = manifest.sockets.iter().find(|s| find(s).is_none()) {
            errors.push(DirError::UnknownInterface { path: manifest_path, interface: unknown.clone() });
            continue;
        }
        let remote = !manifest.remote.is_empty();
        if let Some(reason) = remote_problem(&manifest) {
            errors.push(DirError::Remote { path: manifest_path, reason: reason.to_owned() });
            continue;
        }
        if !remote && let Err(error) = component_in_folder(&dir, &manifest_path, &manifest.component) {
            errors.push(error);
            continue;
        }
        let component = dir.join(&manifest.component);
        let socket_paths = manifest
            .sockets
            .iter()
            .filter_map(|socket| find(socket))
            .filter_map(|i| crate::InterfaceData::package_name(i).ok())
            .map(|p| crate::spec::interface::InterfaceName::parse(p).map_or_else(|| p.to_owned(), |name| name.instance))
            .collect();
        let files =
            if remote { vec![manifest_path.as_path()] } else { vec![manifest_path.as_path(), component.as_path()] };
        let version = match content_version(&files) {
            Ok(version) => version,
            Err(error) => {
                errors.push(error);
                continue;
            }
        };
        let host_env = |name: &str| std::env::var(name).ok();
        let capabilities = match capabilities::resolve(&manifest.requests, policy.get(&manifest.id), top, host_env) {
            Ok(capabilities) => capabilities,
            Err(refused) => {
                errors.push(DirError::NotApproved { plugin: manifest.id, path: manifest_path, refused });
                continue;
            }
        };
        let limits = manifest.limits.limits();
        let cx = Box::new(Sandbox::with_grants(&manifest.id, &manifest.grants, &capabilities));
        plugins.push(DirPlugin {
            version,
            // A remote plugin's proxy keeps no state: by default it makes as
            // many calls at once as its callers do, up to 16.
            instances: manifest.instances.unwrap_or(if remote { REMOTE_INSTANCES } else { 1 }).max(1),
            #[cfg(feature = "remote")]
            remote: remote.then(|| crate::Remote::new(manifest.remote.clone()).stateless(manifest.stateless)),
            socket_paths,
            limits,
            recovery: manifest.recovery.as_ref().map(RecoveryManifest::recovery).unwrap_or_default(),
            grants: manifest.grants.clone(),
            id: manifest.id,
            plug: manifest.plug,
            sockets: manifest.sockets,
            manifest: manifest_path,
            written: manifest.component,
            folder: dir,
            component,
            plug_wit: Arc::new(plug.clone()),
            cache: options.cache.clone(),
            cx,
            requests: Arc::new(manifest.requests),
            capabilities: Arc::new(capabilities),
        });
    }
    plugins
}

/// A plugin's version: the first 16 hex digits of the SHA-256 of its
/// manifest and component files.
fn content_version(files: &[&Path]) -> Result<String, DirError> {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for &path in files {
        let bytes = read_bounded(path, MAX_COMPONENT_FILE)
            .map_err(|source| DirError::Io { path: path.to_path_buf(), source })?;
        hasher.update(u64::try_from(bytes.len()).unwrap_or(u64::MAX).to_le_bytes());
        hasher.update(&bytes);
    }
    Ok(short_hex(&hasher.finalize()))
}

/// The first 16 hex digits of a digest.
fn short_hex(digest: &[u8]) -> String {
    digest.iter().take(8).fold(String::with_capacity(16), |mut hex, byte| {
        use std::fmt::Write;
        let _ = write!(hex, "{byte:02x}");
        hex
    })
}

impl DirPlugin {
    /// A new value of the same plugin, with a fresh resource table and WASI
    /// context (for another try at loading it).
    pub(crate) fn fresh(&self) -> Self {
        Self {
            cx: Box::new(Sandbox::with_grants(&self.id, &self.grants, &self.capabilities)),
            id: self.id.clone(),
            plug: self.plug.clone(),
            sockets: self.sockets.clone(),
            manifest: self.manifest.clone(),
            component: self.component.clone(),
            folder: self.folder.clone(),
            written: self.written.clone(),
            plug_wit: self.plug_wit.clone(),
            socket_paths: self.socket_paths.clone(),
            grants: self.grants.clone(),
            limits: self.limits.clone(),
            recovery: self.recovery.clone(),
            cache: self.cache.clone(),
            version: self.version.clone(),
            instances: self.instances,
            #[cfg(feature = "remote")]
            remote: self.remote.clone(),
            requests: self.requests.clone(),
            capabilities: self.capabilities.clone(),
        }
    }
}
