//! Composing a group's component bytes with `wac-graph`, and compiling the
//! composite.

use wac_graph::types::Package;
use wac_graph::{CompositionGraph, EncodeOptions};
use wasmtime::Engine;
use wasmtime::component::Component;

use super::plan::Plan;
use crate::graph::InterfaceIndex;
use crate::load::LoadOptions;

/// Composes a planned group from its members' component bytes, each
/// beside its component compiled alone (`parts`, in the plan's member
/// order): each member instantiated, each frozen edge's provider export
/// given to its consumer, the top member's plug exported, every import left
/// over (dynamic sockets, WASI, host functions) imported by the composite.
/// `name` gives an interface's instance name.
///
/// A member's bytes may import only what its compiled component imports:
/// that one passed the checks (grants, sockets), and bytes that say
/// otherwise (another member's socket, a grant only another member has)
/// must not slip past them.
fn compose<M: Copy + Eq + std::hash::Hash + std::fmt::Debug>(
    engine: &Engine,
    name: &dyn Fn(InterfaceIndex) -> String,
    plan: &Plan<M>,
    plug: InterfaceIndex,
    parts: &[(&[u8], &Component)],
) -> Result<Vec<u8>, String> {
    let mut graph = CompositionGraph::new();
    let mut instances = std::collections::HashMap::new();
    for (position, (&member, &(bytes, checked))) in plan.members.iter().zip(parts).enumerate() {
        let package = Package::from_bytes(&format!("wasm-link:member{position}"), None, bytes, graph.types_mut())
            .map_err(|e| format!("{e:#}"))?;
        let checked = checked.component_type();
        for import in graph.types()[package.ty()].imports.keys() {
            if checked.get_import(engine, import).is_none() {
                return Err(format!(
                    "member {position}'s bytes import `{import}`, which its checked component does not"
                ));
            }
        }
        let package = graph.register_package(package).map_err(|e| e.to_string())?;
        instances.insert(member, graph.instantiate(package));
    }
    let instance = |member: M| instances.get(&member).copied().ok_or_else(|| format!("member {member:?} has no bytes"));
    for &(consumer, interface, provider) in &plan.edges {
        let name = name(interface);
        let export = graph.alias_instance_export(instance(provider)?, &name).map_err(|e| crate::error_chain(&e))?;
        graph.set_instantiation_argument(instance(consumer)?, &name, export).map_err(|e| crate::error_chain(&e))?;
    }
    let name = name(plug);
    let export = graph.alias_instance_export(instance(plan.top)?, &name).map_err(|e| crate::error_chain(&e))?;
    graph.export(export, &name).map_err(|e| crate::error_chain(&e))?;
    // Not validated here: wasmtime validates what it compiles, and a cache
    // hit is keyed by these very bytes, compiled (and so validated) before.
    let options = EncodeOptions { validate: false, ..EncodeOptions::default() };
    graph.encode(options).map_err(|e| crate::error_chain(&e))
}

/// Compiles a composite, through the options' compile cache when they
/// have one.
fn compile(engine: &Engine, options: &LoadOptions, bytes: &[u8]) -> Result<Component, String> {
    #[cfg(feature = "dir")]
    if let Some(cache) = &options.cache {
        return cache.component(engine, bytes).map(|(component, _)| component).map_err(|e| format!("{e:#}"));
    }
    let _ = options;
    Component::new(engine, bytes).map_err(|e| format!("{e:#}"))
}

/// Composes and compiles a group: the composite, or why not.
pub(super) fn composite<M: Copy + Eq + std::hash::Hash + std::fmt::Debug>(
    engine: &Engine,
    options: &LoadOptions,
    name: &dyn Fn(InterfaceIndex) -> String,
    plan: &Plan<M>,
    plug: InterfaceIndex,
    parts: &[(&[u8], &Component)],
) -> Result<Component, String> {
    let bytes = compose(engine, name, plan, plug, parts)?;
    compile(engine, options, &bytes)
}
