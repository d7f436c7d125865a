//! Defining a consumer's socket imports in its linker: the shape each
//! imported function takes, and the adapter that serves it.

use std::sync::{Arc, OnceLock};

use wasmtime::component::Linker;
use wasmtime::component::types::ComponentFunc;

use super::{Env, Import, LoadError, Loaded, PluginLoadError, Provider};
use crate::PluginData;
use crate::graph::InterfaceSpec;
use crate::instance::ctx::PluginCtx;
use crate::instance::{PluginSlot, Site};
use crate::shape::{self, Shape};
use crate::socket::{self, Adapter};
use crate::types::{self, ResourceNames};
use crate::wasm_error::WasmError;

impl<P> Env<P>
where
    P: PluginData + Send + 'static,
{
    /// The one shape in which the consumer's import fits every plugin behind
    /// the socket.
    #[allow(clippy::too_many_arguments, reason = "the consumer's load context")]
    pub(crate) fn socket_shape(
        id: &P::Id,
        interface: &InterfaceSpec<P::InterfaceId>,
        name: &str,
        function: usize,
        declared: &ComponentFunc,
        names: &ResourceNames,
        targets: &[&Loaded<P>],
        single: bool,
    ) -> Result<Shape, PluginLoadError<P>> {
        let mut shape = None;
        for target in targets {
            let found = shape::check_import(
                declared,
                names,
                &target.plug_types[function],
                &target.names,
                interface.cardinality,
                single,
            )
            .map_err(|reason| LoadError::SocketSignature {
                plugin: id.clone(),
                interface: interface.id.clone(),
                function: name.to_owned(),
                provider: target.slot.id.clone(),
                reason,
            })?;
            // Every plugin behind the socket must fit the same shape: one
            // adapter serves them all.
            if shape.is_some_and(|shape| shape != found) {
                return Err(LoadError::SocketSignature {
                    plugin: id.clone(),
                    interface: interface.id.clone(),
                    function: name.to_owned(),
                    provider: target.slot.id.clone(),
                    reason: "its result type differs from that of the other plugins behind the socket".to_owned(),
                });
            }
            shape = Some(found);
        }
        if let Some(shape) = shape {
            return Ok(shape);
        }
        // No handle of the socket's resources can exist without a plugin
        // behind it, so a method can never be called.
        if single {
            return Ok(Shape::Plain);
        }
        shape::shape_without_plugins(declared, interface.cardinality).ok_or_else(|| LoadError::SocketSignature {
            plugin: id.clone(),
            interface: interface.id.clone(),
            function: name.to_owned(),
            provider: id.clone(),
            reason: format!("no plugin is behind the socket and {} cannot be empty", describe_decl(declared, names)),
        })
    }

    /// Defines one socket's imports in the consumer's linker.
    #[allow(clippy::too_many_arguments, reason = "the consumer's whole load context")]
    pub(super) fn link_socket(
        &self,
        linker: &mut Linker<PluginCtx<P>>,
        id: &P::Id,
        socket: usize,
        provider: &Provider<'_, P>,
        component_type: &wasmtime::component::types::Component,
        names: &ResourceNames,
        consumer: &Arc<OnceLock<std::sync::Weak<PluginSlot<P>>>>,
        record: &mut Vec<Import>,
    ) -> Result<(), PluginLoadError<P>> {
        let interface = &self.interfaces[socket];
        let Some(import) = component_type.get_import(&self.engine, &interface.name.instance) else {
            // Declared but not imported: nothing to link.
            return Ok(());
        };
        let imports = socket::socket_imports(
            &self.engine,
            &interface.name.instance,
            &import.ty,
            &interface.functions,
            &interface.resources,
            names,
        )
        .map_err(|reason| LoadError::SocketImport {
            plugin: id.clone(),
            interface: interface.id.clone(),
            reason,
        })?;
        let link_error = |e: wasmtime::Error| LoadError::Link {
            plugin: id.clone(),
            interface: interface.id.clone(),
            source: WasmError::new(e),
        };
        let targets = &provider.targets;
        let mut instance = linker.instance(&interface.name.instance).map_err(link_error)?;
        for (name, resource) in &imports.resources {
            let Some(kind) = self.kinds.find(socket, *resource) else {
                continue;
            };
            Adapter::define_resource(&mut instance, name, kind.ty).map_err(link_error)?;
        }
        for (name, function, declared) in imports.functions {
            let meta = &interface.functions[function];
            let single = meta.is_method;
            let shape = Self::socket_shape(id, interface, &name, function, &declared, names, targets, single)?;
            let adapter = Arc::new(Adapter {
                consumer_id: id.clone(),
                site: Site { interface: interface.name.instance.as_str().into(), function: name.as_str().into() },
                consumer: consumer.clone(),
                members: provider.members.clone(),
                interface: socket,
                cardinality: interface.cardinality,
                function,
                shape,
                method: meta.is_method,
                convert_params: declared.params().any(|(_, t)| types::has_resources(&t)),
                convert_result: declared.results().any(|t| types::has_resources(&t)),
                kinds: self.kinds.clone(),
                mode: self.mode,
            });
            if !crate::socket::typed::define(&mut instance, &name, &declared, &adapter).map_err(link_error)? {
                adapter.define(&mut instance, &name).map_err(link_error)?;
            }
            record.push(Import { interface: socket, function, name, declared, single, shape });
        }
        Ok(())
    }
}

fn describe_decl(declared: &ComponentFunc, names: &ResourceNames) -> String {
    format!("`{}`", types::describe_opt(declared.results().next().as_ref(), names))
}
