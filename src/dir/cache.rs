//! A compile cache: components compiled once, stored by content hash.

use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Compiled components stored in a directory the user controls, keyed by the
/// SHA-256 of the component bytes and the engine's compilation settings.
///
/// An entry is a tag, the CRC-32 of its payload, and the payload
/// (`Component::serialize` output). Before an entry is deserialized its
/// checksum is checked, and wasmtime checks that it was made by a compatible
/// engine; an entry that fails either (truncated, damaged, from another
/// version) is compiled again and overwritten. The checksum guards against
/// accidents, not attacks: whoever can write the directory can write a
/// matching checksum, so the directory must be as trusted as the program
/// itself (deserialized code runs natively). The key is a SHA-256 of the
/// component, so different components never share an entry.
///
/// That trust is stated where a cache is made: [`CompileCache::new`] is
/// `unsafe`.
///
/// ```no_run
/// use wasm_link::dir::{CompileCache, DirOptions};
///
/// // SAFETY: the directory is inside this program's own build output, which
/// // only the user running it can write.
/// let cache = unsafe { CompileCache::new("target/wasm-link-cache") };
/// let options = DirOptions { cache: Some(cache) };
/// # let _ = options;
/// ```
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
}

/// How a component was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Deserialized from a valid cache entry.
    Hit,
    /// Compiled; the entry was missing.
    Miss,
    /// Compiled; the entry was corrupt or stale and was replaced.
    Replaced,
}

impl CompileCache {
    /// A cache in `dir` (created on first store).
    ///
    /// # Safety
    ///
    /// Entries read from `dir` are deserialized into native code and run
    /// (see [`Component::deserialize`]). Their checksum catches accidental
    /// damage, not tampering: anyone who can write `dir`, or replace it or
    /// any directory above it, can make the program run code of their
    /// choosing. The caller must make sure that `dir` is trusted like the
    /// program itself for as long as the cache (or a clone of it) is used:
    /// writable only by the user running the program or by someone that
    /// user trusts. Never point it at a world-writable or shared directory,
    /// or at one taken from an untrusted source.
    #[allow(unsafe_code, reason = "the constructor carries the trust `Component::deserialize` requires; see # Safety")]
    pub unsafe fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The cache directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn entry(&self, engine: &Engine, bytes: &[u8]) -> PathBuf {
        let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut engine_hash);
        let digest = Sha256::digest(bytes);
        let name = digest.iter().fold(String::with_capacity(64), |mut name, b| {
            let _ = write!(name, "{b:02x}");
            name
        });
        self.dir.join(format!("{name}-{:016x}.cwasm", engine_hash.finish()))
    }

    /// The component for `bytes`, from the cache when a valid entry exists,
    /// else compiled and stored. Failing to store is not an error (the
    /// component is still returned).
    ///
    /// # Errors
    /// wasmtime's error when `bytes` do not compile.
    pub fn component(&self, engine: &Engine, bytes: &[u8]) -> wasmtime::Result<(Component, CacheOutcome)> {
        let path = self.entry(engine, bytes);
        let mut outcome = CacheOutcome::Miss;
        if let Ok(entry) = std::fs::read(&path) {
            outcome = CacheOutcome::Replaced;
            if let Some(component) = deserialize_checked(engine, &entry) {
                return Ok((component, CacheOutcome::Hit));
            }
            tracing::warn!(path = %path.display(), "corrupt or stale compile cache entry; recompiling");
        }
        let component = Component::new(engine, bytes)?;
        if let Err(error) = self.store(&path, &component) {
            tracing::warn!(path = %path.display(), %error, "cannot write the compile cache");
        }
        Ok((component, outcome))
    }

    fn store(&self, path: &Path, component: &Component) -> std::io::Result<()> {
        let payload = component.serialize().map_err(|e| std::io::Error::other(e.to_string()))?;
        let mut entry = Vec::with_capacity(HEADER + payload.len());
        entry.extend_from_slice(TAG);
        entry.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        entry.extend_from_slice(&payload);
        std::fs::create_dir_all(&self.dir)?;
        // Write then rename: a reader never sees half an entry.
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, &entry)?;
        std::fs::rename(&tmp, path)
    }
}

/// What an entry starts with: the format, in case it ever changes.
const TAG: &[u8; 4] = b"wlc1";
/// The tag and the checksum.
const HEADER: usize = 8;

/// Deserializes an entry whose checksum matches its payload.
#[allow(unsafe_code, reason = "deserializing compiled code is unsafe by nature; see SAFETY")]
fn deserialize_checked(engine: &Engine, entry: &[u8]) -> Option<Component> {
    let (header, payload) = entry.split_at_checked(HEADER)?;
    let (tag, checksum) = header.split_at(TAG.len());
    if tag != TAG || crc32fast::hash(payload).to_le_bytes() != checksum {
        return None;
    }
    // SAFETY: the payload is byte-for-byte what `Component::serialize` wrote
    // into this cache (its CRC-32 matches the one stored beside it), and
    // wasmtime rejects artifacts from an incompatible engine or version. The
    // cache directory is trusted like the program itself: the caller of the
    // `unsafe` `CompileCache::new` vouched for it.
    unsafe { Component::deserialize(engine, payload) }.ok()
}
