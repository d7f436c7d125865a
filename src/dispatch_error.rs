//! `DispatchError`: why a call to one plugin did not produce a value.

use std::fmt::{Debug, Display};
use std::sync::Arc;

use thiserror::Error;

use crate::wasm_error::WasmError;

/// Why a call to one plugin failed.
///
/// Returned per plugin inside the [`Socket`](crate::Socket) that
/// [`PluginTreeHead::dispatch`](crate::PluginTreeHead::dispatch) returns. Every
/// variant names the plugin, the interface (its instance name) and the
/// function. After any of them the plugin keeps serving later calls.
#[derive(Debug, Clone, Error)]
#[non_exhaustive]
pub enum DispatchError<PluginId> {
    /// The interface path is not the root interface; only the root is
    /// callable from the host.
    #[error("plugin `{plugin}`: interface `{interface}` is not the root interface `{root}`")]
    InvalidInterface {
        /// The plugin the call was meant for.
        plugin: PluginId,
        /// The path given.
        interface: String,
        /// The root interface's instance name.
        root: Arc<str>,
    },
    /// The root interface declares no function of that name.
    #[error("plugin `{plugin}`: interface `{interface}` has no function `{function}`")]
    InvalidFunction {
        /// The plugin the call was meant for.
        plugin: PluginId,
        /// The interface.
        interface: Arc<str>,
        /// The name given.
        function: String,
    },
    /// `has_return` disagrees with the function's signature.
    #[error(
        "plugin `{plugin}`: `{interface}#{function}` {} a value but the call {} one",
        if *.returns { "returns" } else { "does not return" },
        if *.returns { "expects none" } else { "expects" }
    )]
    ReturnMismatch {
        /// The plugin.
        plugin: PluginId,
        /// The interface.
        interface: Arc<str>,
        /// The function.
        function: Arc<str>,
        /// Whether the function returns a value.
        returns: bool,
    },
    /// The wrong number of arguments was given.
    #[error("plugin `{plugin}`: `{interface}#{function}` takes {expected} argument(s), {found} given")]
    ArgumentCount {
        /// The plugin.
        plugin: PluginId,
        /// The interface.
        interface: Arc<str>,
        /// The function.
        function: Arc<str>,
        /// Parameters the function takes.
        expected: usize,
        /// Arguments given.
        found: usize,
    },
    /// An argument does not have the parameter's type. Nothing ran.
    #[error("plugin `{plugin}`: invalid arguments for `{interface}#{function}`")]
    InvalidArguments {
        /// The plugin.
        plugin: PluginId,
        /// The interface.
        interface: Arc<str>,
        /// The function.
        function: Arc<str>,
        /// wasmtime's description of the mismatch.
        #[source]
        source: WasmError,
    },
    /// The plugin trapped (or failed inside wasm in another way). Its instance
    /// was replaced by a fresh one when `reinstantiated` is true.
    #[error("plugin `{plugin}` trapped in `{interface}#{function}`{}", if *.reinstantiated { " (re-instantiated)" } else { "" })]
    Trap {
        /// The plugin.
        plugin: PluginId,
        /// The interface.
        interface: Arc<str>,
        /// The function.
        function: Arc<str>,
        /// Whether a fresh instance now serves the plugin.
        reinstantiated: bool,
        /// The trap.
        #[source]
        source: WasmError,
    },
    /// A call the plugin made through one of its sockets failed and the
    /// plugin's import shape could not carry the error, so the plugin trapped.
    /// `source` names the plugin and function that failed behind the socket.
    #[error("plugin `{plugin}` failed in `{interface}#{function}` because a call through its socket failed{}", if *.reinstantiated { " (re-instantiated)" } else { "" })]
    Socket {
        /// The plugin that made the socket call.
        plugin: PluginId,
        /// The interface.
        interface: Arc<str>,
        /// The function.
        function: Arc<str>,
        /// Whether a fresh instance now serves the plugin.
        reinstantiated: bool,
        /// The failure behind the socket.
        #[source]
        source: NestedDispatchError<PluginId>,
    },
    /// A resource handle was given to a plugin that does not own it (and does
    /// not import its type), or the owner no longer exists.
    #[error("plugin `{plugin}`: `{interface}#{function}` was given a resource handle it cannot use: {reason}")]
    InvalidResource {
        /// The plugin.
        plugin: PluginId,
        /// The interface.
        interface: Arc<str>,
        /// The function.
        function: Arc<str>,
        /// What was wrong with the handle.
        reason: String,
    },
    /// The call would re-enter a plugin that is already busy on the same call
    /// chain, which would otherwise deadlock.
    #[error("plugin `{plugin}` is already busy on this call chain; `{interface}#{function}` would re-enter it")]
    Reentrant {
        /// The plugin.
        plugin: PluginId,
        /// The interface.
        interface: Arc<str>,
        /// The function.
        function: Arc<str>,
    },
    /// The call exceeded one of the plugin's budgets ([`Limits`](crate::Limits)):
    /// its deadline, fuel, memory, tables or held handles. `budget` has the
    /// figure it hit.
    #[error("plugin `{plugin}` exceeded its {budget} in `{interface}#{function}`{}", if *.reinstantiated { " (re-instantiated)" } else { "" })]
    BudgetExceeded {
        /// The plugin.
        plugin: PluginId,
        /// The interface.
        interface: Arc<str>,
        /// The function.
        function: Arc<str>,
        /// The budget and the figure it hit.
        budget: crate::Budget,
        /// Whether a fresh instance now serves the plugin.
        reinstantiated: bool,
    },
    /// The plugin failed too often and is left alone for a while (see
    /// [`Recovery`](crate::Recovery)). Nothing ran.
    #[error("plugin `{plugin}` is quarantined for another {remaining:?}; `{interface}#{function}` not called")]
    Quarantined {
        /// The plugin.
        plugin: PluginId,
        /// The interface.
        interface: Arc<str>,
        /// The function.
        function: Arc<str>,
        /// How long the quarantine lasts still.
        remaining: std::time::Duration,
    },
    /// The plugin's instance failed earlier and could not be re-instantiated.
    #[error("plugin `{plugin}` is unavailable for `{interface}#{function}`")]
    Unavailable {
        /// The plugin.
        plugin: PluginId,
        /// The interface.
        interface: Arc<str>,
        /// The function.
        function: Arc<str>,
        /// Why re-instantiation failed.
        #[source]
        source: WasmError,
    },
    /// A remote plugin's server did not answer the call: it refused the
    /// connection, closed it mid-call, stayed silent past the deadline, or
    /// answered with what does not decode as the function's results
    /// (feature `remote`). The plugin's proxy instance is replaced (it holds
    /// no state: the cost is an instantiation of a component without code);
    /// the next call connects again.
    #[error("remote plugin `{plugin}` failed `{interface}#{function}` at `{address}`: {reason}")]
    Remote {
        /// The remote plugin.
        plugin: PluginId,
        /// The interface.
        interface: Arc<str>,
        /// The function.
        function: Arc<str>,
        /// The server's address, as configured (empty when no server could
        /// be tried).
        address: String,
        /// What went wrong.
        reason: String,
    },
}

impl<PluginId: Debug + Display + 'static> DispatchError<PluginId> {
    /// The plugin the error concerns.
    pub fn plugin(&self) -> &PluginId {
        match self {
            Self::InvalidInterface { plugin, .. }
            | Self::InvalidFunction { plugin, .. }
            | Self::ReturnMismatch { plugin, .. }
            | Self::ArgumentCount { plugin, .. }
            | Self::InvalidArguments { plugin, .. }
            | Self::Trap { plugin, .. }
            | Self::Socket { plugin, .. }
            | Self::InvalidResource { plugin, .. }
            | Self::Reentrant { plugin, .. }
            | Self::BudgetExceeded { plugin, .. }
            | Self::Quarantined { plugin, .. }
            | Self::Unavailable { plugin, .. }
            | Self::Remote { plugin, .. } => plugin,
        }
    }

    /// The innermost error of a chain of socket failures: the plugin where
    /// things actually went wrong.
    #[must_use]
    pub fn root_cause(&self) -> &Self {
        match self {
            Self::Socket { source, .. } => source.0.root_cause(),
            other => other,
        }
    }

    /// The case of the `dispatch-error` variant in `wit/runtime.wit` that
    /// carries this error to a guest.
    pub(crate) fn wit_case(&self) -> &'static str {
        match self {
            Self::Trap { .. } | Self::BudgetExceeded { .. } => "trap",
            Self::Socket { .. } => "socket",
            Self::InvalidResource { .. } => "invalid-resource",
            Self::Reentrant { .. } => "reentrant",
            Self::Unavailable { .. } | Self::Quarantined { .. } | Self::Remote { .. } => "unavailable",
            _ => "other",
        }
    }

    /// The function named by the error, when there is one.
    pub(crate) fn function_name(&self) -> &str {
        match self {
            Self::InvalidInterface { .. } => "",
            Self::InvalidFunction { function, .. } => function,
            Self::ReturnMismatch { function, .. }
            | Self::ArgumentCount { function, .. }
            | Self::InvalidArguments { function, .. }
            | Self::Trap { function, .. }
            | Self::Socket { function, .. }
            | Self::InvalidResource { function, .. }
            | Self::Reentrant { function, .. }
            | Self::BudgetExceeded { function, .. }
            | Self::Quarantined { function, .. }
            | Self::Unavailable { function, .. }
            | Self::Remote { function, .. } => function,
        }
    }

    /// The interface named by the error.
    pub(crate) fn interface_name(&self) -> &str {
        match self {
            Self::InvalidInterface { interface, .. } => interface,
            Self::InvalidFunction { interface, .. }
            | Self::ReturnMismatch { interface, .. }
            | Self::ArgumentCount { interface, .. }
            | Self::InvalidArguments { interface, .. }
            | Self::Trap { interface, .. }
            | Self::Socket { interface, .. }
            | Self::InvalidResource { interface, .. }
            | Self::Reentrant { interface, .. }
            | Self::BudgetExceeded { interface, .. }
            | Self::Quarantined { interface, .. }
            | Self::Unavailable { interface, .. }
            | Self::Remote { interface, .. } => interface,
        }
    }
}

/// Carries a socket failure out of a consumer's import as the error that traps
/// the consumer, so the caller above can report it.
#[derive(Debug, Error)]
#[error("{0}")]
pub(crate) struct SocketTrap<PluginId>(pub(crate) Arc<DispatchError<PluginId>>);

/// A [`DispatchError`] further down a chain of socket calls: the source of
/// [`DispatchError::Socket`]. Dereferences to the inner error.
#[derive(Debug, Clone)]
pub struct NestedDispatchError<PluginId>(pub(crate) Arc<DispatchError<PluginId>>);

impl<PluginId: Debug + Display + 'static> std::ops::Deref for NestedDispatchError<PluginId> {
    type Target = DispatchError<PluginId>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<PluginId: Debug + Display + 'static> Display for NestedDispatchError<PluginId> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Display::fmt(&*self.0, f)
    }
}

// Written by hand: a derived impl would require `NestedDispatchError: Error`
// to prove `DispatchError: Error`, a cycle the trait solver cannot close.
impl<PluginId: Debug + Display + 'static> std::error::Error for NestedDispatchError<PluginId> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source_dyn()
    }
}

impl<PluginId: Debug + Display + 'static> DispatchError<PluginId> {
    fn source_dyn(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InvalidArguments { source, .. } | Self::Trap { source, .. } | Self::Unavailable { source, .. } => {
                Some(source)
            }
            Self::Socket { source, .. } => Some(source),
            _ => None,
        }
    }
}
