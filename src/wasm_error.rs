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
pub struct WasmError(Arc<wasmtime::Error>);

impl WasmError {
    pub(crate) fn new(error: wasmtime::Error) -> Self {
        Self(Arc::new(error))
    }

    /// The wasmtime error, to `downcast_ref` it (for example to a
    /// [`wasmtime::Trap`]).
    #[must_use]
    pub fn inner(&self) -> &wasmtime::Error {
        &self.0
    }

    /// The trap code, when the error is a wasm trap.
    #[must_use]
    pub fn trap(&self) -> Option<wasmtime::Trap> {
        self.0.downcast_ref::<wasmtime::Trap>().copied()
    }
}

impl fmt::Debug for WasmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for WasmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The chain, outermost first: wasmtime puts the useful part (the trap
        // code, the missing import) in the context layers.
        let mut first = true;
        for cause in self.0.chain() {
            if !first {
                f.write_str(": ")?;
            }
            first = false;
            write!(f, "{cause}")?;
        }
        Ok(())
    }
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
