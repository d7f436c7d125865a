//! Finding the plug's exports in a component and checking them against the
//! interface.

use wasmtime::component::types::{ComponentFunc, ComponentItem};

use super::{Env, LoadError, PluginLoadError};
use crate::instance::PlugExports;
use crate::spec::version;
use crate::types::{self, ResourceNames};
use crate::{PluginData, ReturnKind};

/// A plugin's plug as its component exports it.
pub(super) struct Plug {
    pub(super) exports: PlugExports,
    /// The type of each interface function, in interface order.
    pub(super) types: Vec<ComponentFunc>,
    /// The name it is exported under, with its version.
    pub(super) exported: String,
}

impl<P> Env<P>
where
    P: PluginData,
{
    /// Finds the plug's exports and checks them against the interface.
    pub(super) fn plug_exports(
        &self,
        id: &P::Id,
        plug: crate::graph::InterfaceIndex,
        component: &wasmtime::component::Component,
        component_type: &wasmtime::component::types::Component,
        names: &ResourceNames,
    ) -> Result<Plug, PluginLoadError<P>> {
        let interface = &self.interfaces[plug];
        let missing = |export: &str| LoadError::MissingExport {
            plugin: id.clone(),
            interface: interface.id.clone(),
            export: export.to_owned(),
        };
        // The plug under the interface's name or another version of it on
        // its track, which must be at least the interface's own.
        let exports = || component_type.exports(&self.engine).map(|(name, _)| name);
        // Not on the track: the release it exports instead, if any, to say
        // which versions met.
        let exported = version::find(exports(), &interface.name.instance)
            .or_else(|| version::other_release(exports(), &interface.name.instance))
            .ok_or_else(|| missing(&interface.name.instance))?;
        if !version::serves(exported, &interface.name.instance) {
            return Err(LoadError::PlugVersion {
                plugin: id.clone(),
                interface: interface.id.clone(),
                declared: interface.name.instance.clone(),
                exported: exported.to_owned(),
            });
        }
        let instance_name = exported;
        let instance = component.get_export_index(None, instance_name).ok_or_else(|| missing(instance_name))?;
        let Some(ComponentItem::ComponentInstance(instance_type)) =
            component_type.get_export(&self.engine, instance_name).map(|e| e.ty)
        else {
            return Err(missing(instance_name));
        };
        let mut functions = Vec::with_capacity(interface.functions.len());
        let mut plug_types = Vec::with_capacity(interface.functions.len());
        for function in &interface.functions {
            let index =
                component.get_export_index(Some(&instance), &function.name).ok_or_else(|| missing(&function.name))?;
            let Some(ComponentItem::ComponentFunc(ty)) =
                instance_type.get_export(&self.engine, &function.name).map(|e| e.ty)
            else {
                return Err(missing(&function.name));
            };
            // An async function runs only under `call_async`: a blocking
            // call would fail on every call.
            if ty.async_() && self.mode == crate::instance::ctx::Mode::Sync {
                return Err(LoadError::AsyncExport {
                    plugin: id.clone(),
                    interface: interface.id.clone(),
                    function: function.name.clone(),
                });
            }
            let result = ty.results().next();
            let mismatch = match (function.return_kind, &result) {
                (ReturnKind::Void, Some(result)) => Some(format!(
                    "the interface declares no result but the plugin returns `{}`",
                    types::describe(result, names)
                )),
                (ReturnKind::AssumeNoResources, None) => {
                    Some("the interface declares a result but the plugin returns none".to_owned())
                }
                (ReturnKind::AssumeNoResources, Some(result)) if types::has_resources(result) => Some(format!(
                    "the interface declares a result without resources but the plugin returns `{}`",
                    types::describe(result, names)
                )),
                _ => None,
            };
            if let Some(reason) = mismatch {
                return Err(LoadError::SignatureMismatch {
                    plugin: id.clone(),
                    interface: interface.id.clone(),
                    function: function.name.clone(),
                    reason,
                });
            }
            functions.push(index);
            plug_types.push(ty);
        }
        let resources =
            interface.resources.iter().map(|name| component.get_export_index(Some(&instance), name)).collect();
        Ok(Plug { exports: PlugExports { functions, resources }, types: plug_types, exported: exported.to_owned() })
    }
}
