//! The TOML manifests of a plugin directory.

use std::path::PathBuf;

use serde::Deserialize;

use crate::InterfaceCardinality;

/// `wasm-link.toml` at the top of a plugin directory.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DirManifest {
    /// The id (directory name) of the interface the host calls.
    pub root: String,
    /// `[policy.<plugin id>]`: what the host approves for each plugin (see
    /// [`Requests`](super::Requests)).
    #[serde(default)]
    pub policy: super::Policy,
}

/// `interfaces/<name>/interface.toml`. The interface's id is `<name>`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct InterfaceManifest {
    /// How many plugins may implement it.
    pub cardinality: InterfaceCardinality,
    /// The WIT interface, `ns:pkg/iface[@version]`, defined by the `*.wit`
    /// files of the directory.
    pub interface: String,
}

/// The cardinality as a manifest writes it (`exactly-one`, `at-most-one`,
/// `at-least-one` or `any`): [`InterfaceCardinality`] itself, which reads
/// those words. (A name kept for code written against earlier releases.)
pub type Cardinality = InterfaceCardinality;

/// `plugins/<name>/plugin.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PluginManifest {
    /// The plugin's unique id.
    pub id: String,
    /// The id of the interface it implements.
    pub plug: String,
    /// The ids of the interfaces it depends on.
    #[serde(default)]
    pub sockets: Vec<String>,
    /// The component file, relative to the manifest. It must be a file inside
    /// the plugin folder: a path out of it (through `..`, as an absolute path
    /// elsewhere, or through a symbolic link) is refused. Required unless the
    /// plugin is `remote`.
    #[serde(default)]
    pub component: PathBuf,
    /// The addresses of servers of this plugin (`tcp://host:port`, served by
    /// `wasm-link serve --listen`), or of NATS servers of a lattice where
    /// `wasm-link serve --nats` processes serve it (`nats://host:port`): the
    /// plugin is then remote, with no component of its own (feature
    /// `remote`; see [`Remote`](crate::Remote)).
    #[serde(default)]
    pub remote: Vec<String>,
    /// With `nats://` servers in `remote`: the lattice's subject prefix (see
    /// [`Remote::prefix`](crate::Remote::prefix)). None by default.
    #[serde(default)]
    pub prefix: String,
    /// With `remote`: the servers keep no state between calls, so calls are
    /// spread round-robin over them.
    #[serde(default)]
    pub stateless: bool,
    /// What the plugin may import beyond its sockets and the WASI baseline
    /// every directory plugin links (`wasi:cli`, `wasi:clocks`,
    /// `wasi:random`, `wasi:io`, `wasi:filesystem/{types,preopens}`,
    /// `wasi:sockets`, all granting nothing): interface names or prefixes
    /// such as `wasi:http`. Two grants change what the baseline gives:
    /// `wasi:clocks`, the host's clocks instead of virtual ones, and
    /// `stdio`, the host's standard output and error. Nothing by default.
    #[serde(default)]
    pub grants: Vec<String>,
    /// `[requests]`: what the plugin asks for beyond the baseline (files,
    /// environment variables), given only as the host's policy approves.
    #[serde(default)]
    pub requests: super::Requests,
    /// Budgets; unset fields keep the defaults of [`Limits`](crate::Limits).
    #[serde(default)]
    pub limits: LimitsManifest,
    /// Recovery policy; unset means re-instantiate and never quarantine.
    #[serde(default)]
    pub recovery: Option<RecoveryManifest>,
    /// `instances = N` declares that the plugin keeps no state between
    /// calls: up to N instances of it serve calls at once (see
    /// [`PluginData::instances`](crate::PluginData::instances)). 1 when unset;
    /// 16 for a `remote` plugin, whose local proxy keeps no state.
    #[serde(default)]
    pub instances: Option<usize>,
}

/// `[limits]` of a plugin manifest.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LimitsManifest {
    /// Deadline per call, in milliseconds.
    pub deadline_ms: Option<u64>,
    /// Fuel per call (needs an engine that consumes fuel).
    pub fuel: Option<u64>,
    /// Linear memory per instance, all its memories together, in MiB.
    pub memory_mib: Option<usize>,
    /// Table elements per instance, all its tables together.
    pub table_elements: Option<usize>,
    /// Resource handles of other plugins held at once.
    pub handles: Option<usize>,
    /// How deep in a call chain the plugin may be called.
    pub depth: Option<usize>,
}

/// The most a manifest may grant a plugin: a manifest comes with the plugin,
/// so what it asks for is bounded by the host. Within these, budgets stay
/// finite and a plugin cannot hold the host for ever.
pub(crate) mod ceiling {
    /// Deadline per call: one hour.
    pub(crate) const DEADLINE_MS: u64 = 60 * 60 * 1000;
    /// Linear memory: 4 GiB (all a 32-bit memory can address).
    pub(crate) const MEMORY_MIB: usize = 4 << 10;
    /// Table elements: ten million.
    pub(crate) const TABLE_ELEMENTS: usize = 10_000_000;
    /// Resource handles of other plugins: one million.
    pub(crate) const HANDLES: usize = 1_000_000;
    /// Call depth: one hundred thousand.
    pub(crate) const DEPTH: usize = 100_000;
    /// Failures counted for a quarantine: ten thousand.
    pub(crate) const QUARANTINE_AFTER: u32 = 10_000;
}

impl LimitsManifest {
    /// The limits, defaults filled in. Each is capped, whatever the manifest
    /// asks: a deadline of one hour, 4 GiB of memory, ten million table
    /// elements, a million handles, a depth of 100 000 (and a quarantine
    /// counts at most 10 000 failures).
    #[must_use]
    pub fn limits(&self) -> crate::Limits {
        let defaults = crate::Limits::default();
        crate::Limits {
            deadline: self
                .deadline_ms
                .map_or(defaults.deadline, |ms| std::time::Duration::from_millis(ms.min(ceiling::DEADLINE_MS))),
            fuel: self.fuel.or(defaults.fuel),
            memory: self.memory_mib.map_or(defaults.memory, |mib| mib.min(ceiling::MEMORY_MIB).saturating_mul(1 << 20)),
            table_elements: self.table_elements.map_or(defaults.table_elements, |n| n.min(ceiling::TABLE_ELEMENTS)),
            handles: self.handles.map_or(defaults.handles, |n| n.min(ceiling::HANDLES)),
            depth: self.depth.map_or(defaults.depth, |n| n.min(ceiling::DEPTH)),
        }
    }
}

/// `[recovery]` of a plugin manifest: quarantine after `quarantine-after`
/// failures within `window-ms`, for `cooldown-ms`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RecoveryManifest {
    /// Failures that trigger the quarantine.
    pub quarantine_after: u32,
    /// The window they must fall in, in milliseconds.
    pub window_ms: u64,
    /// How long the quarantine lasts, in milliseconds.
    pub cooldown_ms: u64,
}

impl RecoveryManifest {
    /// The policy.
    #[must_use]
    pub fn recovery(&self) -> crate::Recovery {
        crate::Recovery {
            quarantine: Some(crate::Quarantine {
                failures: self.quarantine_after.min(ceiling::QUARANTINE_AFTER),
                window: std::time::Duration::from_millis(self.window_ms),
                cooldown: std::time::Duration::from_millis(self.cooldown_ms),
            }),
        }
    }
}
