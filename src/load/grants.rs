//! The grants policy: which imports a plugin may have besides its sockets.

use wasmtime::component::types::ComponentItem;

use super::{LoadError, Loader, TreeLoadError};
use crate::{InterfaceData, PluginData};

impl<I, P> Loader<'_, I, P>
where
    I: InterfaceData,
    P: PluginData<InterfaceId = I::Id> + Send + 'static,
{
    /// Refuses a component that imports anything but its sockets, instances
    /// that only carry types, and what `granted` names.
    pub(super) fn check_grants(
        &self,
        id: &P::Id,
        sockets: &[usize],
        granted: &[String],
        component_type: &wasmtime::component::types::Component,
    ) -> Result<(), TreeLoadError<I, P>> {
        for (import, item) in component_type.imports(self.engine) {
            let is_socket = sockets.iter().any(|&s| self.interfaces[s].name.instance == import);
            let types_only = match &item.ty {
                ComponentItem::ComponentInstance(instance) => {
                    instance.exports(self.engine).all(|(_, export)| matches!(export.ty, ComponentItem::Type(_)))
                }
                _ => false,
            };
            let unversioned = import.split('@').next().unwrap_or(import);
            let is_granted = granted.iter().any(|grant| {
                unversioned == grant
                    || unversioned.strip_prefix(grant.as_str()).is_some_and(|rest| rest.starts_with('/'))
            });
            if !is_socket && !types_only && !is_granted && !unversioned.starts_with("wasm-link:runtime/") {
                return Err(LoadError::NotGranted { plugin: id.clone(), import: import.to_owned() });
            }
        }
        Ok(())
    }
}
