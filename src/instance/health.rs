//! What the head reports about each plugin's calls and failures.

use std::time::Duration;

/// The state of one loaded plugin, from
/// [`PluginTreeHead::health`](crate::PluginTreeHead::health).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PluginHealth<Id> {
    /// The plugin.
    pub plugin: Id,
    /// Calls made to it (from the host or through sockets).
    pub calls: u64,
    /// Calls that failed inside it: traps, exceeded budgets, failures behind
    /// its own sockets that trapped it.
    pub failures: u64,
    /// Times its instance was replaced after a failure.
    pub reinstantiations: u64,
    /// Calls abandoned while inside it: a `dispatch_async` future dropped
    /// mid-call, or a panic in a host function unwinding through it. Its
    /// instance is replaced before the next call.
    pub cancelled: u64,
    /// The last failure, as text.
    pub last_error: Option<String>,
    /// Whether it serves calls now.
    pub state: PluginState,
    /// Resource handles of other plugins it holds now.
    pub held_handles: usize,
    /// How many instances serve its calls: more than one for a pooled
    /// plugin ([`PluginData::instances`](crate::PluginData::instances)); the
    /// counters above are their sums.
    pub instances: usize,
    /// The name it exports its plug under, with the version it serves
    /// (`demo:parser/parser@0.1.1`): its interface's own name, or a newer
    /// release on the interface's track (see the crate docs' naming rule).
    pub plug: String,
    /// Which code it runs: [`PluginData::version`](crate::PluginData::version)
    /// when the plugin names one, otherwise a hash of its compiled component.
    pub version: String,
    /// How many times it was replaced while the tree ran
    /// ([`PluginTreeHead::replace_plugin`](crate::PluginTreeHead::replace_plugin));
    /// 0 for the version loaded with the tree.
    pub revision: u64,
    /// When this version began to serve: at load, or at the swap that
    /// brought it. The counters above count from then.
    pub since: std::time::SystemTime,
    /// The servers of a remote plugin (feature `remote`), each with its
    /// calls and state; empty for a plugin that runs here.
    pub addresses: Vec<AddressHealth>,
    /// The plugins frozen into this entry's component, `plugin` first
    /// ([`LoadOptions::freeze`](crate::LoadOptions::freeze)): they share its
    /// store, so its calls, failures and state are theirs. Empty for a
    /// plugin that was not frozen.
    pub members: Vec<Id>,
}

/// Whether a plugin serves calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PluginState {
    /// It serves calls.
    Running,
    /// It failed too often; calls fail fast until the quarantine ends.
    Quarantined {
        /// How long it lasts still.
        remaining: Duration,
    },
    /// Its instance failed and could not be replaced yet; the next call tries
    /// again.
    Unavailable,
}

/// How one server of a remote plugin is doing, from
/// [`PluginHealth::addresses`](PluginHealth::addresses).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AddressHealth {
    /// The address, as given.
    pub address: String,
    /// Calls sent to it.
    pub calls: u64,
    /// Calls it failed (refused, closed, silent, garbage).
    pub failures: u64,
    /// Whether its last call succeeded (or none was made yet).
    pub healthy: bool,
    /// Its last failure, as text.
    pub last_error: Option<String>,
}

/// Reads a remote plugin's servers' health, for [`PluginHealth::addresses`].
pub(crate) type AddressProbe = std::sync::Arc<dyn Fn() -> Vec<AddressHealth> + Send + Sync>;
