//! What can be wrong with a file of a plugin directory.

use std::path::PathBuf;

use thiserror::Error;

use crate::spec::wit::SignatureMismatch;
use crate::wasm_error::WasmError;

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
    /// the later one is dropped, so [`PluginTree::new`](crate::PluginTree::new) never sees the id
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
    /// The directory cannot be watched for changes ([`DirWatch`](super::DirWatch)).
    #[error("cannot watch `{}`: {message}", .path.display())]
    Watch {
        /// The directory.
        path: PathBuf,
        /// The watcher's words.
        message: String,
    },
    /// A plugin requests what the host's policy does not approve (see
    /// [`Requests`](super::Requests)). The plugin is dropped; the rest of the tree loads.
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
    /// changed into such a link after [`PluginDir::open`](super::PluginDir::open), fails to load).
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
