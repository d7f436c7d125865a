//! The grants policy: which imports a plugin may have besides its sockets.
//!
//! One rule, whoever states the grants: [`PluginData::grants`] at load, and a
//! plugin directory's manifest (on top of the baseline every directory plugin
//! gets) when its component is read.

use wasmtime::Engine;
use wasmtime::component::types::{self, ComponentItem};

use super::{Env, LoadError, PluginLoadError};
use crate::PluginData;

/// The package every plugin may import: the runtime's own WIT.
const RUNTIME: &str = "wasm-link:runtime";

/// What a plugin may import: its sockets, instances that only carry types,
/// `wasm-link:runtime/*`, and what it is granted.
pub(crate) struct ImportPolicy<'a> {
    /// The sockets' instance names: a socket is imported under its
    /// interface's name, or another version of it on the same track
    /// ([`version`](crate::spec::version)).
    sockets: Vec<&'a str>,
    /// Interface names or prefixes: `wasi:clocks` grants `wasi:clocks/*`.
    grants: Vec<&'a str>,
}

impl<'a> ImportPolicy<'a> {
    pub(crate) fn new(sockets: impl IntoIterator<Item = &'a str>, grants: impl IntoIterator<Item = &'a str>) -> Self {
        Self { sockets: sockets.into_iter().collect(), grants: grants.into_iter().collect() }
    }

    /// The first import of `component` the plugin may not have, as the
    /// component names it.
    pub(crate) fn refused(&self, engine: &Engine, component: &types::Component) -> Option<String> {
        component
            .imports(engine)
            .find(|(import, item)| !self.allows(engine, import, &item.ty))
            .map(|(i, _)| i.to_owned())
    }

    /// Whether the plugin may import `import`, an item of type `item`.
    pub(crate) fn allows(&self, engine: &Engine, import: &str, item: &ComponentItem) -> bool {
        // An instance that only carries types (a WIT `use` of another
        // interface's records) grants nothing.
        let types_only = types_only(engine, item);
        self.sockets.iter().any(|socket| crate::spec::version::same_track(socket, import))
            || types_only
            || covers(RUNTIME, import)
            || self.grants.iter().any(|grant| covers(grant, import))
    }
}

/// Whether `item` is an instance that carries only types: importing it
/// grants nothing (a WIT `use` of another interface's records).
pub(crate) fn types_only(engine: &Engine, item: &ComponentItem) -> bool {
    match item {
        ComponentItem::ComponentInstance(instance) => {
            instance.exports(engine).all(|(_, export)| matches!(export.ty, ComponentItem::Type(_)))
        }
        _ => false,
    }
}

/// Whether `grant` covers `import`: the same name or one under it
/// (`wasi:clocks` covers `wasi:clocks/wall-clock`), versions ignored.
fn covers(grant: &str, import: &str) -> bool {
    let unversioned = import.split('@').next().unwrap_or(import);
    unversioned == grant || unversioned.strip_prefix(grant).is_some_and(|rest| rest.starts_with('/'))
}

impl<P> Env<P>
where
    P: PluginData,
{
    /// Refuses a component that imports anything but its sockets, instances
    /// that only carry types, and what `granted` names.
    pub(super) fn check_grants(
        &self,
        id: &P::Id,
        sockets: &[crate::graph::InterfaceIndex],
        granted: &[String],
        component_type: &types::Component,
    ) -> Result<(), PluginLoadError<P>> {
        let sockets = sockets.iter().map(|&s| self.interfaces[s].name.instance.as_str());
        let policy = ImportPolicy::new(sockets, granted.iter().map(String::as_str));
        match policy.refused(&self.engine, component_type) {
            Some(import) => Err(LoadError::NotGranted { plugin: id.clone(), import }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::covers;

    #[test]
    fn a_grant_covers_its_interfaces_in_any_version() {
        assert!(covers("wasi:clocks", "wasi:clocks/wall-clock@0.2.3"));
        assert!(covers("wasi:clocks/wall-clock", "wasi:clocks/wall-clock@0.2.3"));
    }

    #[test]
    fn a_grant_does_not_cover_a_package_it_prefixes() {
        assert!(!covers("wasi:clock", "wasi:clocks/wall-clock"));
    }
}
