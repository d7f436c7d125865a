//! `WasmError`: a wasmtime error that can sit in a `std::error::Error` chain.

use std::fmt;
use std::sync::Arc;

/// An error reported by wasmtime (a trap, a failed instantiation, a type
/// mismatch), shared so that the errors carrying it can be cloned.
///
/// wasmtime's own error type does not implement [`std::error::Error`]; this
/// wrapper does, so it can be the `#[source]` of this crate's errors. Its
/// `Display` shows wasmtime's whole context chain.
#[derive(Clone)]
pub struct WasmError(Arc<Inner>);

/// Behind one pointer: a `DispatchError` (and every call's `Result`) stays
/// as small as before the note.
struct Inner {
    error: wasmtime::Error,
    /// What the plugin wrote as it failed ([`PluginData::trap_note`](crate::PluginData::trap_note)).
    note: Option<String>,
}

impl WasmError {
    pub(crate) fn new(error: wasmtime::Error) -> Self {
        Self(Arc::new(Inner { error, note: None }))
    }

    /// `error`, with what the plugin wrote as it failed.
    pub(crate) fn with_note(error: wasmtime::Error, note: Option<String>) -> Self {
        Self(Arc::new(Inner { error, note }))
    }

    /// The wasmtime error, to `downcast_ref` it (for example to a
    /// [`wasmtime::Trap`]).
    #[must_use]
    pub fn inner(&self) -> &wasmtime::Error {
        &self.0.error
    }

    /// The trap code, when the error is a wasm trap.
    #[must_use]
    pub fn trap(&self) -> Option<wasmtime::Trap> {
        self.0.error.downcast_ref::<wasmtime::Trap>().copied()
    }

    /// What the plugin wrote as it failed, when it trapped: for a directory
    /// plugin, the end of its standard error (a Python traceback, a
    /// JavaScript exception, a Rust panic message); see
    /// [`PluginData::trap_note`](crate::PluginData::trap_note). Shown first
    /// by `Display`, for the host; left out of what other plugins are told
    /// of the failure through a socket.
    #[must_use]
    pub fn note(&self) -> Option<&str> {
        self.0.note.as_deref()
    }

    /// wasmtime's chain, outermost first: wasmtime puts the useful part (the
    /// trap code, the missing import) in the context layers.
    fn fmt_chain(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for cause in self.0.error.chain() {
            if !first {
                f.write_str(": ")?;
            }
            first = false;
            write!(f, "{cause}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for WasmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(note) = &self.0.note {
            write!(f, "{note:?}: ")?;
        }
        fmt::Debug::fmt(&self.0.error, f)
    }
}

impl fmt::Display for WasmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(note) = &self.0.note {
            write!(f, "{note}: ")?;
        }
        self.fmt_chain(f)
    }
}

/// An error's chain as [`error_chain`] writes it, without what plugins wrote
/// as they failed ([`WasmError::note`]): the text another plugin is given
/// of a failure behind its socket. A plugin's output may hold what it
/// printed while serving other callers.
pub(crate) fn guest_chain(error: &dyn std::error::Error) -> String {
    struct WithoutNote<'a>(&'a WasmError);
    impl fmt::Display for WithoutNote<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.0.fmt_chain(f)
        }
    }
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        line.push_str(": ");
        match cause.downcast_ref::<WasmError>() {
            Some(wasm) => line.push_str(&WithoutNote(wasm).to_string()),
            None => line.push_str(&cause.to_string()),
        }
        source = cause.source();
    }
    line
}

impl std::error::Error for WasmError {}

impl From<wasmtime::Error> for WasmError {
    fn from(error: wasmtime::Error) -> Self {
        Self::new(error)
    }
}

/// An error followed by its sources, on one line: `outer: cause: root cause`.
///
/// ```
/// let error = std::io::Error::other("disk on fire");
/// assert_eq!(wasm_link::error_chain(&error), "disk on fire");
/// ```
#[must_use]
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::{WasmError, guest_chain};
    use crate::DispatchError;

    #[test]
    fn a_plugins_note_is_the_hosts_and_not_other_plugins() {
        let trap = wasmtime::Error::msg("wasm trap: unreachable");
        let source = WasmError::with_note(trap, Some("Traceback: ValueError: secret of another caller".to_owned()));
        let error: DispatchError<String> = DispatchError::Trap {
            plugin: "py".to_owned(),
            interface: "ns:pkg/iface".into(),
            function: "f".into(),
            reinstantiated: true,
            source,
        };
        let host = crate::error_chain(&error);
        assert!(host.contains("ValueError: secret") && host.contains("unreachable"), "{host}");
        let guest = guest_chain(&error);
        assert!(!guest.contains("secret") && guest.contains("unreachable"), "{guest}");
    }
}
