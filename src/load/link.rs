//! Defining a consumer's socket imports in its linker: the shape each
//! imported function takes, and the adapter that serves it.

use std::sync::{Arc, OnceLock};

use wasmtime::component::Linker;
use wasmtime::component::types::ComponentFunc;

use super::{Env, Import, LoadError, Loaded, PluginLoadError, Provider};
use crate::PluginData;
use crate::graph::{FunctionIndex, InterfaceIndex, InterfaceSpec};
use crate::instance::ctx::PluginCtx;
use crate::instance::{CallSite, PluginSlot};
use crate::shape::{self, Shape};
use crate::socket::{self, Adapter};
use crate::spec::version;
use crate::types::{self, ResourceNames};
use crate::wasm_error::WasmError;

impl<P> Env<P>
where
    P: PluginData,
{
    /// The one shape in which the consumer's import fits every plugin behind
    /// the socket.
    fn socket_shape(site: &ImportSite<'_, P>, targets: &[&Loaded<P>]) -> Result<Shape, PluginLoadError<P>> {
        let mut shape = None;
        for target in targets {
            shape = Some(site.fit(&target.slot.id, &target.exported, &target.plug_types, &target.names, shape)?);
        }
        if let Some(shape) = shape {
            return Ok(shape);
        }
        // No handle of the socket's resources can exist without a plugin
        // behind it, so a method can never be called.
        if site.single {
            return Ok(Shape::Plain);
        }
        shape::shape_without_plugins(site.declared, site.interface.cardinality).ok_or_else(|| {
            LoadError::SocketSignature {
                plugin: site.consumer.clone(),
                interface: site.interface.id.clone(),
                function: site.name.to_owned(),
                provider: site.consumer.clone(),
                reason: format!(
                    "no plugin is behind the socket and {} cannot be empty",
                    describe_decl(site.declared, site.names)
                ),
            }
        })
    }

    /// Defines one socket's imports in the consumer's linker.
    #[allow(clippy::too_many_arguments, reason = "the consumer's whole load context")]
    pub(super) fn link_socket(
        &self,
        linker: &mut Linker<PluginCtx<P>>,
        id: &P::Id,
        socket: InterfaceIndex,
        provider: &Provider<'_, P>,
        component_type: &wasmtime::component::types::Component,
        names: &ResourceNames,
        consumer: &Arc<OnceLock<std::sync::Weak<PluginSlot<P>>>>,
        record: &mut Vec<Import>,
    ) -> Result<(), PluginLoadError<P>> {
        let interface = &self.interfaces[socket];
        // Imported under the interface's name or another version of it on
        // its track: linked under the name the consumer gave.
        let imports = || component_type.imports(&self.engine).map(|(name, _)| name);
        let found = version::find(imports(), &interface.name.instance)
            .and_then(|name| Some((name, component_type.get_import(&self.engine, name)?)));
        let Some((imported, import)) = found else {
            if let Some(other) = version::other_release(imports(), &interface.name.instance) {
                return Err(LoadError::SocketImport {
                    plugin: id.clone(),
                    interface: interface.id.clone(),
                    reason: format!(
                        "it imports `{other}`, a release the socket's `{}` does not serve (another major version, or minor below 1.0)",
                        interface.name.instance
                    ),
                });
            }
            // Declared but not imported: nothing to link.
            return Ok(());
        };
        let imports = socket::socket_imports(
            &self.engine,
            imported,
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
        let mut instance = linker.instance(imported).map_err(link_error)?;
        for (name, resource) in &imports.resources {
            let Some(kind) = self.kinds.find(socket, *resource) else {
                continue;
            };
            Adapter::define_resource(&mut instance, name, kind.ty).map_err(link_error)?;
        }
        // The proxied kind of one of the socket's own resources, as the
        // consumer's declared signatures name it.
        let proxied = |ty: &wasmtime::component::ResourceType| {
            let (instance, resource) = names.name(ty)?;
            let index = interface.resources.iter().position(|r| r == resource)?;
            (instance == imported).then_some(())?;
            self.kinds.find(socket, index).map(|kind| kind.payload)
        };
        for (name, function, declared) in imports.functions {
            let function = FunctionIndex(function);
            let meta = &interface.functions[function];
            let single = meta.is_method;
            let site = ImportSite {
                consumer: id,
                interface,
                imported,
                name: &name,
                function,
                declared: &declared,
                names,
                single,
            };
            let shape = Self::socket_shape(&site, targets)?;
            let adapter = Arc::new(Adapter {
                consumer_id: id.clone(),
                site: CallSite {
                    interface: interface.name.instance.as_str().into(),
                    function: name.as_str().into(),
                    edge: self.stats.edge(Some(id.clone()), interface.id.clone(), name.as_str().into()),
                },
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
            if !crate::socket::typed::define(&mut instance, &name, &declared, &adapter, &proxied).map_err(link_error)? {
                adapter.define(&mut instance, &name).map_err(link_error)?;
            }
            record.push(Import {
                interface: socket,
                imported: imported.to_owned(),
                function,
                name,
                declared,
                single,
                shape,
            });
        }
        Ok(())
    }
}

fn describe_decl(declared: &ComponentFunc, names: &ResourceNames) -> String {
    format!("`{}`", types::describe_opt(declared.results().next().as_ref(), names))
}

/// One socket function as a consumer imports it: what every plugin behind
/// the socket is checked against, at load and at every swap.
pub(crate) struct ImportSite<'a, P: PluginData> {
    pub(crate) consumer: &'a P::Id,
    pub(crate) interface: &'a InterfaceSpec<P::InterfaceId>,
    /// The interface's name as the consumer imports it, with its version.
    pub(crate) imported: &'a str,
    pub(crate) name: &'a str,
    pub(crate) function: FunctionIndex,
    pub(crate) declared: &'a ComponentFunc,
    pub(crate) names: &'a ResourceNames,
    pub(crate) single: bool,
}

impl<P: PluginData> ImportSite<'_, P> {
    /// The shape in which the import fits a provider's plug function. It
    /// must be `expected` when one is given: one adapter serves every plugin
    /// behind a socket, and a linked adapter keeps its shape.
    pub(crate) fn fit(
        &self,
        provider: &P::Id,
        exported: &str,
        plug_types: &[ComponentFunc],
        provider_names: &ResourceNames,
        expected: Option<Shape>,
    ) -> Result<Shape, LoadError<P::Id, P::InterfaceId>> {
        if !version::serves(exported, self.imported) {
            return Err(LoadError::SocketVersion {
                plugin: self.consumer.clone(),
                interface: self.interface.id.clone(),
                imported: self.imported.to_owned(),
                provider: provider.clone(),
                exported: exported.to_owned(),
            });
        }
        let signature = |reason| LoadError::SocketSignature {
            plugin: self.consumer.clone(),
            interface: self.interface.id.clone(),
            function: self.name.to_owned(),
            provider: provider.clone(),
            reason,
        };
        let found = shape::check_import(
            self.declared,
            self.names,
            &plug_types[self.function],
            provider_names,
            self.interface.cardinality,
            self.single,
        )
        .map_err(signature)?;
        match expected {
            Some(shape) if shape != found => Err(signature(
                "its result type gives the socket another shape than the consumer's other plugins behind it".to_owned(),
            )),
            _ => Ok(found),
        }
    }
}
