//! Finding the plug's exports in a component and checking them against the
//! interface.

use wasmtime::component::types::{ComponentFunc, ComponentItem};

use super::{Env, LoadError, PluginLoadError};
use crate::instance::PlugExports;
use crate::types::{self, ResourceNames};
use crate::{PluginData, ReturnKind};

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
    ) -> Result<(PlugExports, Vec<ComponentFunc>), PluginLoadError<P>> {
        let interface = &self.interfaces[plug];
        let instance_name = &interface.name.instance;
        let missing = |export: &str| LoadError::MissingExport {
            plugin: id.clone(),
            interface: interface.id.clone(),
            export: export.to_owned(),
        };
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
        Ok((PlugExports { functions, resources }, plug_types))
    }
}
