//! A plugin read from a directory: its manifest, component and WIT, and
//! what it runs with (the WASI baseline and its approved capabilities).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use wasmtime::Engine;
use wasmtime::component::{Component, ResourceTable};
use wasmtime_wasi::{WasiCtxView, WasiView};

use super::baseline::{BASELINE, Sandbox, SandboxView};
use super::files::{MAX_COMPONENT_FILE, component_in_folder, read_bounded};
use super::scan::short_hex;
use super::{Capabilities, CompileCache, DirError, Requests};
use crate::load::grants::ImportPolicy;
use crate::spec::wit::WitInterface;
use crate::wasm_error::WasmError;
use crate::{PluginCtxView, PluginData};

/// A plugin read from a directory. It runs with the WASI baseline, which
/// grants nothing: no files, no network, no environment, a virtual clock
/// (the host's with the `wasi:clocks` grant), and standard output and error
/// logged through `tracing` (the host's with `stdio`); and with what its
/// manifest [`requests`](Self::requests) and the host's [`Policy`](super::Policy) approves
/// ([`capabilities`](Self::capabilities)): directories, environment
/// variables, configuration keys and HTTP authorities.
pub struct DirPlugin {
    pub(super) id: String,
    pub(super) plug: String,
    pub(super) sockets: Vec<String>,
    pub(super) manifest: PathBuf,
    /// The plugin folder.
    pub(super) folder: PathBuf,
    /// The component path as the manifest writes it.
    pub(super) written: PathBuf,
    /// The folder joined with `written`.
    pub(super) component: PathBuf,
    pub(super) plug_wit: Arc<WitInterface>,
    /// The instance names of its sockets: the imports it may have.
    pub(super) socket_paths: Vec<String>,
    pub(super) grants: Vec<String>,
    pub(super) limits: crate::Limits,
    pub(super) recovery: crate::Recovery,
    pub(super) cache: Option<CompileCache>,
    /// A hash of its manifest and component files.
    pub(super) version: String,
    /// How many instances may serve its calls at once.
    pub(super) instances: usize,
    /// Its servers, when it is remote.
    #[cfg(feature = "remote")]
    pub(super) remote: Option<crate::Remote>,
    /// Its WASI context, clocks, output and gates: made afresh per instance
    /// (boxed: a tree's load moves its plugins, and futures hold them).
    pub(super) cx: Box<Sandbox>,
    /// What it requested and what the policy gave it (shared by its
    /// replicas; boxed, as most plugins ask for nothing).
    pub(super) requests: Arc<Requests>,
    pub(super) capabilities: Arc<Capabilities>,
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
pub(super) const REMOTE_INSTANCES: usize = 16;

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
    /// [`PluginDir::open`](super::PluginDir::open): what [`PluginDir::sync`](super::PluginDir::sync) compares.
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
    /// into a symbolic link since [`PluginDir::open`](super::PluginDir::open).
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
