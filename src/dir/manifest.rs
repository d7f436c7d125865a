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
}

/// `interfaces/<name>/interface.toml`. The interface's id is `<name>`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct InterfaceManifest {
    /// How many plugins may implement it.
    pub cardinality: Cardinality,
    /// The WIT interface, `ns:pkg/iface[@version]`, defined by the `*.wit`
    /// files of the directory.
    pub interface: String,
}

/// The cardinality as written in a manifest: `exactly-one`, `at-most-one`,
/// `at-least-one` or `any`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cardinality {
    /// [`InterfaceCardinality::ExactlyOne`].
    ExactlyOne,
    /// [`InterfaceCardinality::AtMostOne`].
    AtMostOne,
    /// [`InterfaceCardinality::AtLeastOne`].
    AtLeastOne,
    /// [`InterfaceCardinality::Any`].
    Any,
}

impl From<Cardinality> for InterfaceCardinality {
    fn from(cardinality: Cardinality) -> Self {
        match cardinality {
            Cardinality::ExactlyOne => Self::ExactlyOne,
            Cardinality::AtMostOne => Self::AtMostOne,
            Cardinality::AtLeastOne => Self::AtLeastOne,
            Cardinality::Any => Self::Any,
        }
    }
}

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
    /// The component file, relative to the manifest.
    pub component: PathBuf,
}
