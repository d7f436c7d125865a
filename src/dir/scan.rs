//! Scanning a plugin directory: its plugin folders, its interfaces (WIT
//! resolved together) and its plugins' manifests, with every problem kept
//! beside what could be read.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use wit_parser::{Resolve, SourceMap, UnresolvedPackageGroup};

use super::baseline::Sandbox;
use super::files::{MAX_COMPONENT_FILE, component_in_folder, read_bounded, read_text, read_toml};
use super::plugin::REMOTE_INSTANCES;
use super::{
    DirError, DirOptions, DirPlugin, InterfaceManifest, PluginManifest, Policy, RecoveryManifest, capabilities,
};
use crate::spec::wit::{WitInterface, find_interface, runtime_resolve};

/// The entries of `plugins/` that may be plugin folders, sorted, each with
/// whether it is a symbolic link (to a folder, or to nothing: those are
/// skipped and reported); none when it does not exist. Files, and links to
/// files, are not plugin folders.
pub(super) fn plugin_folders(path: &Path, errors: &mut Vec<DirError>) -> Vec<(PathBuf, bool)> {
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
pub(super) fn read_dir(path: &Path, errors: &mut Vec<DirError>) -> Option<std::fs::ReadDir> {
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
pub(super) fn subdirectories(path: &Path, errors: &mut Vec<DirError>) -> Vec<PathBuf> {
    let Some(entries) = read_dir(path, errors) else { return Vec::new() };
    let mut dirs: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    dirs
}

pub(super) fn dir_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

pub(super) fn read_interfaces(path: &Path, errors: &mut Vec<DirError>) -> Vec<WitInterface> {
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
            .and_then(|id| WitInterface::new(dir_name(&dir), manifest.cardinality, resolve.clone(), id));
        match found {
            Ok(interface) => interfaces.push(interface),
            Err(error) => errors.push(DirError::Wit { path: dir.join("interface.toml"), message: error.to_string() }),
        }
    }
    interfaces
}

/// Resolves all WIT files together (an interface may `use` another's types),
/// one package per group of files declaring it, on top of `wasm-link:runtime`.
pub(super) fn resolve_all(sources: &[(PathBuf, String, String)]) -> Result<Resolve, String> {
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
pub(super) fn remote_problem(manifest: &PluginManifest) -> Option<&'static str> {
    let remote = !manifest.remote.is_empty();
    if remote && !manifest.component.as_os_str().is_empty() {
        Some("it names both `remote` servers and a `component`; a plugin is one or the other")
    } else if remote && cfg!(not(feature = "remote")) {
        Some("this build of wasm-link has no feature `remote`")
    } else {
        None
    }
}

/// The servers a remote plugin's manifest names, as the library takes them.
#[cfg(feature = "remote")]
fn remote_of(manifest: &PluginManifest) -> crate::Remote {
    crate::Remote::new(manifest.remote.clone()).stateless(manifest.stateless).prefix(manifest.prefix.clone())
}

pub(super) fn read_plugins(
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
            remote: remote.then(|| remote_of(&manifest)),
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
pub(super) fn content_version(files: &[&Path]) -> Result<String, DirError> {
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
pub(super) fn short_hex(digest: &[u8]) -> String {
    digest.iter().take(8).fold(String::with_capacity(16), |mut hex, byte| {
        use std::fmt::Write;
        let _ = write!(hex, "{byte:02x}");
        hex
    })
}
