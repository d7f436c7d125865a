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
//! carries the end of the plugin's standard error ([`PluginData::trap_note`](crate::PluginData::trap_note)).
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
mod error;
mod files;
mod http;
mod manifest;
mod plugin;
mod scan;
mod watch;

use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Linker;

pub use baseline::{Sandbox, SandboxView};

pub use cache::{CacheOutcome, CompileCache};
pub use capabilities::{Access, Approval, Capabilities, DirApproval, Policy, Preopen, Requests, allow};
pub use error::DirError;
use files::read_toml;
pub use http::{DEFAULT_HTTP_RESPONSE_BYTES, MAX_HTTP_IN_FLIGHT};
pub use manifest::{Cardinality, DirManifest, InterfaceManifest, LimitsManifest, PluginManifest, RecoveryManifest};
pub use plugin::DirPlugin;
use scan::{read_interfaces, read_plugins};
pub use watch::{DirChange, DirWatch};

use crate::spec::wit::WitInterface;
use crate::wasm_error::WasmError;
use crate::{PluginCtx, PluginTree, PluginTreeError};

/// Options for [`PluginDir::open`].
#[derive(Debug, Clone, Default)]
pub struct DirOptions {
    /// Where compiled components are cached; `None` compiles every time.
    pub cache: Option<CompileCache>,
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
