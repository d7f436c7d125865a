//! What can go wrong in `PluginTree::load`: [`LoadError`] and the
//! [`NestedLoadError`] that links one failure to the next.

use std::fmt::{Debug, Display};
use std::sync::Arc;

use thiserror::Error;

use crate::graph::fmt_list;
use crate::wasm_error::WasmError;
use crate::{InterfaceCardinality, InterfaceData, PluginData};

/// Why a plugin (or the root interface) could not be loaded.
///
/// Each names the plugin and the interface involved. A plugin that fails is
/// dropped; the rest of the tree loads without it.
#[derive(Debug, Clone, Error)]
#[non_exhaustive]
pub enum LoadError<PluginId, InterfaceId> {
    /// The root interface was not among the interfaces given to
    /// [`PluginTree::new`](crate::PluginTree::new).
    #[error("the root interface `{interface}` is not defined")]
    MissingRootInterface {
        /// The root interface id.
        interface: InterfaceId,
    },
    /// [`PluginData::component`] failed: unreadable or invalid component bytes.
    #[error("plugin `{plugin}`: cannot get its component")]
    Component {
        /// The plugin.
        plugin: PluginId,
        /// The user's error.
        #[source]
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
    /// The component does not export its plug interface, or a function of it.
    #[error("plugin `{plugin}` does not export `{export}` of its plug `{interface}`")]
    MissingExport {
        /// The plugin.
        plugin: PluginId,
        /// The plug interface.
        interface: InterfaceId,
        /// The missing instance or function name.
        export: String,
    },
    /// An exported function does not match what the interface declares (for
    /// example a result where the interface says `ReturnKind::Void`).
    #[error("plugin `{plugin}`: `{function}` of `{interface}` does not match the interface: {reason}")]
    SignatureMismatch {
        /// The plugin.
        plugin: PluginId,
        /// The plug interface.
        interface: InterfaceId,
        /// The function.
        function: String,
        /// What differs.
        reason: String,
    },
    /// The plugin imports something from a socket interface that the interface
    /// does not declare, or imports the interface as something else than an
    /// instance.
    #[error("plugin `{plugin}`: invalid import of socket `{interface}`: {reason}")]
    SocketImport {
        /// The consumer.
        plugin: PluginId,
        /// The socket interface.
        interface: InterfaceId,
        /// What is wrong.
        reason: String,
    },
    /// The shape in which the plugin imports a socket function fits none of
    /// those its cardinality allows, or does not match the function of the
    /// plugin behind the socket.
    #[error("plugin `{plugin}`: socket `{interface}` function `{function}` does not fit plugin `{provider}`: {reason}")]
    SocketSignature {
        /// The consumer.
        plugin: PluginId,
        /// The socket interface.
        interface: InterfaceId,
        /// The function.
        function: String,
        /// The plugin behind the socket whose export was compared.
        provider: PluginId,
        /// The declared and the provided types, in WIT syntax.
        reason: String,
    },
    /// The plugin exports its plug at a version that does not serve the
    /// interface's: an older release on the interface's track (say
    /// `@1.3.0` for an interface declared at `@1.4.0`). A release on another
    /// track (`@2.0.0`, or `@0.2.0` beside `@0.1.0`) is another interface:
    /// [`MissingExport`](Self::MissingExport).
    #[error(
        "plugin `{plugin}` exports `{exported}`, which does not serve its plug `{interface}` (`{declared}`): it is older"
    )]
    PlugVersion {
        /// The plugin.
        plugin: PluginId,
        /// The plug interface.
        interface: InterfaceId,
        /// The interface's instance name, with its version.
        declared: String,
        /// The name under which the plugin exports it.
        exported: String,
    },
    /// A plugin behind a socket exports an older release of the interface
    /// than the consumer imports (both on one track): the consumer may rely
    /// on what that release lacks. Older consumers are served by newer
    /// plugins, not the reverse.
    #[error(
        "plugin `{plugin}` imports `{imported}` from socket `{interface}`, but plugin `{provider}` behind it exports the older `{exported}`"
    )]
    SocketVersion {
        /// The consumer.
        plugin: PluginId,
        /// The socket interface.
        interface: InterfaceId,
        /// The name under which the consumer imports it.
        imported: String,
        /// The plugin behind the socket.
        provider: PluginId,
        /// The name under which that plugin exports it.
        exported: String,
    },
    /// Defining the socket's imports in the linker failed (for example because
    /// the user's linker already defines them).
    #[error("plugin `{plugin}`: cannot link socket `{interface}`")]
    Link {
        /// The consumer.
        plugin: PluginId,
        /// The socket interface.
        interface: InterfaceId,
        /// wasmtime's error.
        #[source]
        source: WasmError,
    },
    /// Instantiation failed: an import nobody provides, an import of the wrong
    /// type, or a trap in the component's start.
    #[error("plugin `{plugin}` cannot be instantiated")]
    Instantiate {
        /// The plugin.
        plugin: PluginId,
        /// wasmtime's error, naming the import when one is missing.
        #[source]
        source: WasmError,
    },
    /// The plugin exports a function of its plug as a component-model
    /// `async func`, which only an awaited call can run: load the tree with
    /// [`PluginTree::load_async`](crate::PluginTree::load_async), on an
    /// engine that allows async functions (`async_func_engine_config`,
    /// feature `component-model-async`).
    #[error(
        "plugin `{plugin}` exports `{function}` of `{interface}` as an `async func`: load the tree with `load_async`"
    )]
    AsyncExport {
        /// The plugin.
        plugin: PluginId,
        /// The plug interface.
        interface: InterfaceId,
        /// The async function.
        function: String,
    },
    /// The component imports an async host function of the linker
    /// (`func_wrap_async`, `func_new_async`), so its store can only be
    /// entered asynchronously, but the tree was loaded with
    /// [`PluginTree::load`](crate::PluginTree::load): load it with
    /// [`PluginTree::load_async`](crate::PluginTree::load_async).
    #[error("plugin `{plugin}` imports async host functions: load the tree with `load_async`")]
    RequiresAsync {
        /// The plugin.
        plugin: PluginId,
        /// wasmtime's refusal.
        #[source]
        source: WasmError,
    },
    /// The component imports something that is neither one of its sockets
    /// nor among the plugin's [`PluginData::grants`].
    #[error("plugin `{plugin}` imports `{import}`, which is neither one of its sockets nor granted to it")]
    NotGranted {
        /// The plugin.
        plugin: PluginId,
        /// The import, as the component names it.
        import: String,
    },
    /// One of the plugin's sockets names an interface that was not among the
    /// interfaces given to [`PluginTree::new`](crate::PluginTree::new). The plugin is not compiled.
    #[error("plugin `{plugin}` has a socket for interface `{interface}`, which is not defined")]
    UnknownSocket {
        /// The consumer.
        plugin: PluginId,
        /// The undefined interface.
        interface: InterfaceId,
    },
    /// The plugin depends on itself, directly (a socket for its own plug) or
    /// through other plugins. The plugin is not compiled.
    #[error("plugin `{plugin}` depends on itself through interface `{interface}` (cycle: {})", fmt_list(.cycle))]
    DependencyCycle {
        /// A plugin on the cycle.
        plugin: PluginId,
        /// The socket of `plugin` through which the cycle goes.
        interface: InterfaceId,
        /// The plugins on the cycle, starting at `plugin`.
        cycle: Vec<PluginId>,
    },
    /// One of the plugin's sockets cannot be served: the number of plugins
    /// behind it that loaded does not satisfy its cardinality (too few
    /// because some failed or none exists, or too many). `source` says why.
    #[error("plugin `{plugin}`: its socket `{interface}` cannot be served")]
    SocketUnavailable {
        /// The consumer, dropped.
        plugin: PluginId,
        /// The socket interface.
        interface: InterfaceId,
        /// The interface's failure.
        #[source]
        source: NestedLoadError<PluginId, InterfaceId>,
    },
    /// The number of an interface's plugins that loaded does not satisfy its
    /// cardinality: too few (none implements it, or some failed), or more
    /// than it takes (two that loaded for an `ExactlyOne` interface).
    /// Cardinality is judged over the plugins that loaded, only for the
    /// interfaces the load reaches.
    #[error(
        "interface `{interface}` needs {} plugin(s) but {}",
        .cardinality.in_words(),
        if .loaded.is_empty() && .failed.is_empty() {
            "none implements it".to_owned()
        } else {
            format!(
                "{} loaded{}{}",
                .loaded.len(),
                if .loaded.is_empty() { String::new() } else { format!(": {}", fmt_list(.loaded)) },
                if .failed.is_empty() { String::new() } else { format!(" (failed: {})", fmt_list(.failed)) },
            )
        }
    )]
    CardinalityNotMet {
        /// The interface.
        interface: InterfaceId,
        /// Its cardinality.
        cardinality: InterfaceCardinality,
        /// The plugins that loaded.
        loaded: Vec<PluginId>,
        /// The implementers that failed to load.
        failed: Vec<PluginId>,
    },
}

/// The [`LoadError`] behind another: the source of
/// [`LoadError::SocketUnavailable`]. Dereferences to the inner error.
#[derive(Debug, Clone)]
pub struct NestedLoadError<PluginId, InterfaceId>(pub(crate) Arc<LoadError<PluginId, InterfaceId>>);

impl<PluginId: Debug + Display + 'static, InterfaceId: Debug + Display + 'static> std::ops::Deref
    for NestedLoadError<PluginId, InterfaceId>
{
    type Target = LoadError<PluginId, InterfaceId>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<PluginId: Debug + Display + 'static, InterfaceId: Debug + Display + 'static> Display
    for NestedLoadError<PluginId, InterfaceId>
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Display::fmt(&*self.0, f)
    }
}

// Written by hand: a derived impl would need `NestedLoadError: Error` to prove
// `LoadError: Error`, a cycle the trait solver cannot close.
impl<PluginId, InterfaceId> std::error::Error for NestedLoadError<PluginId, InterfaceId>
where
    PluginId: Debug + Display + 'static,
    InterfaceId: Debug + Display + 'static,
{
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &*self.0 {
            LoadError::Component { source, .. } => Some(&**source),
            LoadError::Link { source, .. }
            | LoadError::Instantiate { source, .. }
            | LoadError::RequiresAsync { source, .. } => Some(source),
            LoadError::SocketUnavailable { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl<PluginId: Debug + Display + 'static, InterfaceId: Debug + Display + 'static> LoadError<PluginId, InterfaceId> {
    /// The plugin the error concerns; `None` for errors about an interface.
    pub fn plugin(&self) -> Option<&PluginId> {
        match self {
            Self::Component { plugin, .. }
            | Self::MissingExport { plugin, .. }
            | Self::SignatureMismatch { plugin, .. }
            | Self::SocketImport { plugin, .. }
            | Self::SocketSignature { plugin, .. }
            | Self::PlugVersion { plugin, .. }
            | Self::SocketVersion { plugin, .. }
            | Self::Link { plugin, .. }
            | Self::Instantiate { plugin, .. }
            | Self::RequiresAsync { plugin, .. }
            | Self::AsyncExport { plugin, .. }
            | Self::NotGranted { plugin, .. }
            | Self::UnknownSocket { plugin, .. }
            | Self::DependencyCycle { plugin, .. }
            | Self::SocketUnavailable { plugin, .. } => Some(plugin),
            Self::MissingRootInterface { .. } | Self::CardinalityNotMet { .. } => None,
        }
    }
}

/// The error type of [`PluginTree::load`](crate::PluginTree::load) for given metadata types.
pub(crate) type TreeLoadError<I, P> = LoadError<<P as PluginData>::Id, <I as InterfaceData>::Id>;

/// Why a plugin could not be replaced, added or removed while the tree runs
/// ([`PluginTreeHead::replace_plugin`](crate::PluginTreeHead::replace_plugin),
/// [`add_plugin`](crate::PluginTreeHead::add_plugin),
/// [`remove_plugin`](crate::PluginTreeHead::remove_plugin)).
///
/// Nothing changed: the tree serves as before. Each names the plugin.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SwapError<PluginId, InterfaceId> {
    /// A [`PluginData`] accessor of the new plugin failed.
    #[error("plugin {}: cannot read its {accessor}", crate::graph::fmt_opt(.plugin.as_ref()))]
    Metadata {
        /// The plugin id, when it could be read.
        plugin: Option<PluginId>,
        /// The accessor that failed (`id`, `plug`, `sockets`).
        accessor: &'static str,
        /// The user's error.
        #[source]
        source: crate::BoxError,
    },
    /// The change would take a member out of a frozen group, or add a
    /// plugin that plugs into or sockets an interface composed inside one
    /// ([`LoadOptions::freeze`](crate::LoadOptions::freeze)): a group's
    /// shape is set at load, so changing it means loading again. (Replacing
    /// a member composes its group again: see [`SwapError::Recompose`].)
    #[error("plugin `{plugin}`: the group frozen as `{group}` cannot change shape while it runs; load the tree again")]
    Frozen {
        /// The plugin.
        plugin: PluginId,
        /// The group's top member.
        group: PluginId,
    },
    /// A member of a frozen group was replaced, and its group could not be
    /// composed again with the new version (its shape or settings changed,
    /// it gives no bytes, the composition failed); nothing changed.
    #[error("plugin `{plugin}`: its frozen group `{group}` cannot be composed again: {reason}")]
    Recompose {
        /// The plugin.
        plugin: PluginId,
        /// The group's top member.
        group: PluginId,
        /// Why.
        reason: String,
    },
    /// No plugin with this id is loaded (to replace or remove).
    #[error("plugin `{plugin}` is not loaded")]
    NotLoaded {
        /// The plugin.
        plugin: PluginId,
    },
    /// A plugin with this id is loaded already (to add).
    #[error("plugin `{plugin}` is loaded already")]
    AlreadyLoaded {
        /// The plugin.
        plugin: PluginId,
    },
    /// The plugin's plug names an interface the tree does not define.
    #[error("plugin `{plugin}` plugs into interface `{interface}`, which is not defined")]
    UnknownPlug {
        /// The plugin.
        plugin: PluginId,
        /// The unknown interface.
        interface: InterfaceId,
    },
    /// The new version plugs into another interface than the loaded one: a
    /// replacement serves the same interface (remove and add instead).
    #[error("plugin `{plugin}` plugs into `{to}`, but the loaded version plugs into `{from}`")]
    PlugChanged {
        /// The plugin.
        plugin: PluginId,
        /// The loaded version's plug.
        from: InterfaceId,
        /// The new version's plug.
        to: InterfaceId,
    },
    /// Removing the plugin would leave its interface with fewer plugins than
    /// its cardinality takes, and someone needs it: the root, or consumers.
    #[error(
        "plugin `{plugin}` cannot be removed: interface `{interface}` needs {} plugin(s) and is used by {}",
        .cardinality.in_words(),
        needed_by(*.root, .consumers)
    )]
    Needed {
        /// The plugin.
        plugin: PluginId,
        /// Its interface.
        interface: InterfaceId,
        /// The interface's cardinality.
        cardinality: InterfaceCardinality,
        /// The loaded plugins that socket the interface.
        consumers: Vec<PluginId>,
        /// Whether the interface is the root: the host needs it.
        root: bool,
    },
    /// The change was asked from inside a call of the tree (a host function
    /// that a plugin called): it could wait for a plugin that waits for it.
    /// Change plugins from outside the tree's calls.
    #[error("plugin {}: a tree cannot be changed from inside one of its own calls", crate::graph::fmt_opt(.plugin.as_ref()))]
    InsideCall {
        /// The plugin, when its id could be read.
        plugin: Option<PluginId>,
    },
    /// The new plugin failed a step of loading: its component, exports,
    /// grants, sockets, a consumer's import shape
    /// ([`LoadError::SocketSignature`] naming the consumer, with the new
    /// plugin as `provider`), the cardinality of its interface, a cycle, or
    /// its instantiation.
    #[error(transparent)]
    Load(#[from] LoadError<PluginId, InterfaceId>),
}

fn needed_by<PluginId: Display>(root: bool, consumers: &[PluginId]) -> String {
    match (root, consumers.is_empty()) {
        (true, true) => "the host (it is the root)".to_owned(),
        (true, false) => format!("the host (it is the root) and {}", fmt_list(consumers)),
        (false, _) => fmt_list(consumers),
    }
}

impl<PluginId: Debug + Display + 'static, InterfaceId: Debug + Display + 'static> SwapError<PluginId, InterfaceId> {
    /// The plugin the error concerns: the one being swapped, or for a
    /// consumer that would break, that consumer.
    pub fn plugin(&self) -> Option<&PluginId> {
        match self {
            Self::Metadata { plugin, .. } | Self::InsideCall { plugin } => plugin.as_ref(),
            Self::NotLoaded { plugin }
            | Self::AlreadyLoaded { plugin }
            | Self::UnknownPlug { plugin, .. }
            | Self::PlugChanged { plugin, .. }
            | Self::Needed { plugin, .. }
            | Self::Frozen { plugin, .. }
            | Self::Recompose { plugin, .. } => Some(plugin),
            Self::Load(error) => error.plugin(),
        }
    }
}
