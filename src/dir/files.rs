//! Reading a directory that may come from anyone: bounded reads of regular
//! files only, and component paths confined to their plugin's folder.

use std::path::{Component as PathPart, Path, PathBuf};

use super::DirError;

/// The largest manifest or WIT file read, in bytes.
pub(super) const MAX_TEXT_FILE: u64 = 1 << 20;
/// The largest component file read, in bytes.
pub(super) const MAX_COMPONENT_FILE: u64 = 256 << 20;

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
pub(super) fn read_text(path: &Path) -> std::io::Result<String> {
    String::from_utf8(read_bounded(path, MAX_TEXT_FILE)?)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

pub(super) fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, DirError> {
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
pub(super) fn climbs_out(path: &Path) -> bool {
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
pub(super) fn component_in_folder(folder: &Path, manifest: &Path, written: &Path) -> Result<PathBuf, DirError> {
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
