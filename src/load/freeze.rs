//! Freezing: plugins joined by `ExactlyOne` edges composed into one
//! component at load ([`LoadOptions::freeze`](super::LoadOptions::freeze)).
//!
//! A call across a dynamic socket leaves the consumer's store, goes through
//! the runtime's adapter and enters the provider's store; between two
//! components composed into one it is a direct call inside one instance
//! (~50x cheaper). Freezing finds the groups of plugins where that trade is
//! safe, composes each group's component bytes with `wac-graph`, compiles
//! the composite and hands it to the load as one plugin: the group's top
//! member, whose plug it exports, with the sockets of every member that
//! were left dynamic.
//!
//! An edge from a consumer to the provider behind one of its sockets is
//! frozen when:
//! - the interface is `ExactlyOne` and the provider is its only plugin;
//! - the provider serves no plugin outside the consumer's group (one
//!   instance behind the interface, as a dynamic tree has);
//! - both share limits, recovery and grants, and neither is pooled (one
//!   store means one budget and one re-instantiation for all);
//! - both hand over their bytes ([`PluginData::component_bytes`]) and
//!   compiled on their own (each member is checked alone first: its
//!   grants, its plug);
//! - the consumer imports the interface plainly (`T`, not
//!   `result<T, dispatch-error>`): composition type-checks this, and a
//!   group that does not compose stays dynamic.
//!
//! Nothing here is fatal: whatever does not freeze loads as it would
//! without the option, and [`FreezeReport`] says why.

#[cfg(feature = "freeze")]
use wac_graph::types::Package;
#[cfg(feature = "freeze")]
use wac_graph::{CompositionGraph, EncodeOptions};
#[cfg(feature = "freeze")]
use wasmtime::Engine;
#[cfg(feature = "freeze")]
use wasmtime::component::Component;

#[cfg(feature = "freeze")]
use crate::graph::{InterfaceNode, PluginNode};
#[cfg(feature = "freeze")]
use crate::{InterfaceCardinality, InterfaceData, PluginData};

/// What a load with [`LoadOptions::freeze`](super::LoadOptions::freeze)
/// froze, and which `ExactlyOne` edges it left dynamic and why
/// ([`PluginTreeHead::freeze_report`](crate::PluginTreeHead::freeze_report)).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FreezeReport<PluginId, InterfaceId> {
    /// The groups composed into one component each.
    pub groups: Vec<FrozenGroup<PluginId, InterfaceId>>,
    /// The `ExactlyOne` edges between loadable plugins left dynamic.
    pub dynamic: Vec<DynamicEdge<PluginId, InterfaceId>>,
}

impl<PluginId, InterfaceId> Default for FreezeReport<PluginId, InterfaceId> {
    fn default() -> Self {
        Self { groups: Vec::new(), dynamic: Vec::new() }
    }
}

/// Plugins composed into one component, loaded as one plugin.
///
/// The group runs in one store: one budget ([`Limits`](crate::Limits)), one
/// re-instantiation and one quarantine ([`Recovery`](crate::Recovery)) for
/// all its members. It is named by its top member (`plugin`) wherever the
/// tree names plugins (dispatch errors, [`PluginTreeHead::health`](crate::PluginTreeHead::health),
/// whose entry lists the members), and its store holds the top member's
/// plugin value: host functions called by any member see that one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FrozenGroup<PluginId, InterfaceId> {
    /// The top member: its plug is the group's plug.
    pub plugin: PluginId,
    /// Every member, the top one first, each after its consumers.
    pub members: Vec<PluginId>,
    /// The edges composed: consumer, interface, provider.
    pub edges: Vec<(PluginId, InterfaceId, PluginId)>,
}

/// An `ExactlyOne` edge left dynamic by a freezing load.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DynamicEdge<PluginId, InterfaceId> {
    /// The plugin whose socket it is.
    pub consumer: PluginId,
    /// The socket's interface.
    pub interface: InterfaceId,
    /// Why it was not frozen.
    pub reason: NotFrozen<PluginId>,
}

/// Why an `ExactlyOne` edge was left dynamic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotFrozen<PluginId> {
    /// More than one plugin implements the interface (one of them may fail
    /// to load, which only the load tells).
    #[error("the interface has {count} plugins")]
    SeveralPlugins {
        /// How many.
        count: usize,
    },
    /// The provider also serves plugins outside the consumer's group: they
    /// must reach the same instance.
    #[error("`{provider}` also serves {}", crate::graph::fmt_list(.others))]
    Shared {
        /// The provider.
        provider: PluginId,
        /// Its consumers outside the group.
        others: Vec<PluginId>,
    },
    /// Consumer and provider differ in limits, recovery or grants: one store
    /// would give them one budget.
    #[error("`{provider}` has other limits, recovery or grants")]
    Settings {
        /// The provider.
        provider: PluginId,
    },
    /// The provider's plug is the root interface: it serves the host too.
    #[error("`{provider}` also serves the host")]
    Root {
        /// The provider.
        provider: PluginId,
    },
    /// One of them is pooled ([`PluginData::instances`] above one).
    #[error("`{plugin}` is pooled")]
    Pooled {
        /// The pooled plugin.
        plugin: PluginId,
    },
    /// One of them does not hand over its component bytes
    /// ([`PluginData::component_bytes`]) or could not be compiled alone.
    #[error("`{plugin}` has no component bytes to compose")]
    NoBytes {
        /// The plugin.
        plugin: PluginId,
    },
    /// `wac-graph` could not compose the group (for example the consumer
    /// imports `result<T, dispatch-error>`, or a resource type of a member
    /// is used outside the group), or the composite did not compile.
    #[error("the group of `{group}` did not compose: {reason}")]
    Compose {
        /// The group's top member.
        group: PluginId,
        /// wac-graph's or wasmtime's words.
        reason: String,
    },
}

/// A group to compose: its members (top first), its frozen edges, and the
/// sockets left dynamic.
#[cfg(feature = "freeze")]
pub(super) struct Plan {
    pub(super) top: usize,
    pub(super) members: Vec<usize>,
    /// (consumer, interface, provider) by index.
    pub(super) edges: Vec<(usize, usize, usize)>,
    pub(super) sockets: Vec<usize>,
}

/// Finds the groups to freeze among the plugins in `order` (dependencies
/// first), and records the `ExactlyOne` edges left dynamic with their
/// reasons. `ready[p]` tells whether plugin `p` compiled alone and handed
/// over its component bytes.
#[cfg(feature = "freeze")]
pub(super) fn plan<I, P>(
    interfaces: &[InterfaceNode<I>],
    nodes: &[Option<PluginNode<P>>],
    order: &[usize],
    root: usize,
    ready: &[bool],
    report: &mut FreezeReport<P::Id, P::InterfaceId>,
) -> Vec<Plan>
where
    I: InterfaceData,
    P: PluginData<InterfaceId = I::Id>,
{
    // Plugins with a defect load without their sockets: never frozen.
    let node = |p: usize| nodes[p].as_ref().filter(|n| n.defect.is_none());
    // The consumers of each interface, among the plugins this load reaches.
    let mut consumers: Vec<Vec<usize>> = vec![Vec::new(); interfaces.len()];
    for &plugin in order {
        if let Some(node) = node(plugin) {
            for &socket in &node.sockets {
                consumers[socket].push(plugin);
            }
        }
    }
    // Consumers before providers: a provider joins the group its consumers
    // share, decided before it.
    let mut group: Vec<usize> = (0..nodes.len()).collect();
    let mut frozen: Vec<(usize, usize, usize)> = Vec::new();
    for &provider in order.iter().rev() {
        let Some(provider_node) = node(provider) else { continue };
        let plug = provider_node.plug;
        let users = &consumers[plug];
        if interfaces[plug].cardinality != InterfaceCardinality::ExactlyOne || users.is_empty() {
            continue;
        }
        let id = |p: usize| nodes[p].as_ref().map(|n| n.id.clone());
        let refusal = (|| {
            let count = interfaces[plug].implementers.len();
            if count > 1 {
                return Some(NotFrozen::SeveralPlugins { count });
            }
            let provider_id = id(provider)?;
            if plug == root {
                return Some(NotFrozen::Root { provider: provider_id });
            }
            let settings = |data: &P| (data.limits(), data.recovery(), data.grants());
            for &plugin in std::iter::once(&provider).chain(users) {
                let data = &node(plugin)?.data;
                if !ready[plugin] {
                    return Some(NotFrozen::NoBytes { plugin: id(plugin)? });
                }
                if data.instances() > 1 {
                    return Some(NotFrozen::Pooled { plugin: id(plugin)? });
                }
                if settings(data) != settings(&provider_node.data) {
                    return Some(NotFrozen::Settings { provider: provider_id });
                }
            }
            let others: Vec<P::Id> =
                users.iter().filter(|&&c| group[c] != group[users[0]]).filter_map(|&c| id(c)).collect();
            if !others.is_empty() {
                return Some(NotFrozen::Shared { provider: provider_id, others });
            }
            None
        })();
        match refusal {
            None => {
                group[provider] = group[users[0]];
                frozen.extend(users.iter().map(|&consumer| (consumer, plug, provider)));
            }
            Some(reason) => {
                for &consumer in users {
                    // Each consumer is told of the others outside its group.
                    let reason = match &reason {
                        NotFrozen::Shared { provider, .. } => NotFrozen::Shared {
                            provider: provider.clone(),
                            others: users
                                .iter()
                                .filter(|&&c| group[c] != group[consumer])
                                .filter_map(|&c| id(c))
                                .collect(),
                        },
                        other => other.clone(),
                    };
                    if let Some(consumer) = id(consumer) {
                        let interface = interfaces[plug].id.clone();
                        report.dynamic.push(DynamicEdge { consumer, interface, reason });
                    }
                }
            }
        }
    }
    let mut plans = Vec::new();
    for &top in order.iter().rev() {
        if group[top] != top || node(top).is_none() {
            continue;
        }
        let mut members = vec![top];
        members.extend(order.iter().rev().copied().filter(|&p| p != top && group[p] == top));
        if members.len() < 2 {
            continue;
        }
        let edges: Vec<(usize, usize, usize)> = frozen.iter().copied().filter(|&(c, _, _)| group[c] == top).collect();
        let mut sockets = Vec::new();
        for &member in &members {
            for &socket in node(member).map(|n| n.sockets.as_slice()).unwrap_or_default() {
                let composed = edges.iter().any(|&(c, i, _)| c == member && i == socket);
                if !composed && !sockets.contains(&socket) {
                    sockets.push(socket);
                }
            }
        }
        plans.push(Plan { top, members, edges, sockets });
    }
    plans
}

/// Composes a planned group from its members' component bytes (by plugin
/// index): each member instantiated, each frozen edge's provider export
/// given to its consumer, the top member's plug exported, every import left
/// over (dynamic sockets, WASI, host functions) imported by the composite.
#[cfg(feature = "freeze")]
pub(super) fn compose<I: InterfaceData>(
    interfaces: &[InterfaceNode<I>],
    plan: &Plan,
    plug: usize,
    bytes: &[(usize, Vec<u8>)],
) -> Result<Vec<u8>, String> {
    let mut graph = CompositionGraph::new();
    let mut instances = std::collections::HashMap::new();
    for (position, (plugin, bytes)) in bytes.iter().enumerate() {
        let name = format!("wasm-link:member{position}");
        let package =
            Package::from_bytes(&name, None, bytes.clone(), graph.types_mut()).map_err(|e| format!("{e:#}"))?;
        let package = graph.register_package(package).map_err(|e| e.to_string())?;
        instances.insert(*plugin, graph.instantiate(package));
    }
    let instance =
        |plugin: usize| instances.get(&plugin).copied().ok_or_else(|| format!("member {plugin} has no bytes"));
    for &(consumer, interface, provider) in &plan.edges {
        let name = &interfaces[interface].name.instance;
        let export = graph.alias_instance_export(instance(provider)?, name).map_err(|e| crate::error_chain(&e))?;
        graph.set_instantiation_argument(instance(consumer)?, name, export).map_err(|e| crate::error_chain(&e))?;
    }
    let name = &interfaces[plug].name.instance;
    let export = graph.alias_instance_export(instance(plan.top)?, name).map_err(|e| crate::error_chain(&e))?;
    graph.export(export, name).map_err(|e| crate::error_chain(&e))?;
    graph.encode(EncodeOptions::default()).map_err(|e| crate::error_chain(&e))
}

/// Refuses a composite importing anything none of its members imports as
/// compiled alone: the members were checked (grants, plug) on what
/// `component` gave, and bytes that say otherwise must not slip past.
#[cfg(feature = "freeze")]
fn imports_checked<E>(
    engine: &Engine,
    composite: &Component,
    members: &[usize],
    compiled: &[Option<Result<Component, E>>],
) -> Result<(), String> {
    let checked: Vec<wasmtime::component::types::Component> = members
        .iter()
        .filter_map(|&m| compiled[m].as_ref().and_then(|c| c.as_ref().ok()))
        .map(Component::component_type)
        .collect();
    for (name, _) in composite.component_type().imports(engine) {
        if !checked.iter().any(|member| member.get_import(engine, name).is_some()) {
            return Err(format!("the composite imports `{name}`, which no member imports as compiled alone"));
        }
    }
    Ok(())
}

/// Compiles a composite, through the options' compile cache when they
/// have one.
#[cfg(feature = "freeze")]
pub(super) fn compile(engine: &Engine, options: &super::LoadOptions, bytes: &[u8]) -> Result<Component, String> {
    #[cfg(feature = "dir")]
    if let Some(cache) = &options.cache {
        return cache.component(engine, bytes).map(|(component, _)| component).map_err(|e| format!("{e:#}"));
    }
    let _ = options;
    Component::new(engine, bytes).map_err(|e| format!("{e:#}"))
}

/// Per plugin, the other plugins frozen into it, and the report: what
/// [`freeze`] finds when the options ask for freezing, nothing otherwise.
#[allow(clippy::type_complexity, reason = "the two results of one step")]
pub(super) fn when_asked<I, P>(
    engine: &wasmtime::Engine,
    options: &super::LoadOptions,
    interfaces: &[crate::graph::InterfaceNode<I>],
    nodes: &mut [Option<crate::graph::PluginNode<P>>],
    compiled: &mut [Option<Result<wasmtime::component::Component, P::Error>>],
    order: &[usize],
    root: usize,
) -> (Vec<Vec<P::Id>>, FreezeReport<P::Id, P::InterfaceId>)
where
    I: crate::InterfaceData,
    P: crate::PluginData<InterfaceId = I::Id>,
{
    let mut frozen = vec![Vec::new(); nodes.len()];
    let mut report = FreezeReport::default();
    #[cfg(feature = "freeze")]
    if options.freeze {
        freeze(engine, options, interfaces, nodes, compiled, order, root, &mut frozen, &mut report);
    }
    #[cfg(not(feature = "freeze"))]
    let _ = (engine, options, interfaces, compiled, order, root);
    (frozen, report)
}

/// Freezes what can be frozen among the plugins in `order`, compiled alone
/// in `compiled`: each group composed and compiled is handed to the load as
/// its top member (its component and its remaining sockets) and the other
/// members are taken out of the load (`compiled[member]` emptied);
/// `frozen[top]` names them. What does not freeze is left as it was.
#[cfg(feature = "freeze")]
#[allow(clippy::too_many_arguments, reason = "the load's state, lent for one step")]
pub(super) fn freeze<I, P>(
    engine: &Engine,
    options: &super::LoadOptions,
    interfaces: &[InterfaceNode<I>],
    nodes: &mut [Option<PluginNode<P>>],
    compiled: &mut [Option<Result<Component, P::Error>>],
    order: &[usize],
    root: usize,
    frozen: &mut [Vec<P::Id>],
    report: &mut FreezeReport<P::Id, P::InterfaceId>,
) where
    I: InterfaceData,
    P: PluginData<InterfaceId = I::Id>,
{
    // Only what compiled alone is composed: each member passed its own
    // checks (grants, plug) first.
    let mut bytes: Vec<Option<Vec<u8>>> = (0..nodes.len()).map(|_| None).collect();
    for &plugin in order {
        if let (Some(node), Some(Ok(_))) = (&nodes[plugin], &compiled[plugin]) {
            bytes[plugin] = node.data.component_bytes().ok().flatten();
        }
    }
    let ready: Vec<bool> = bytes.iter().map(Option::is_some).collect();
    for plan in plan(interfaces, nodes, order, root, &ready, report) {
        let id = |p: usize| nodes[p].as_ref().map(|n| n.id.clone());
        let Some(top_node) = nodes[plan.top].as_ref() else { continue };
        let parts: Vec<(usize, Vec<u8>)> =
            plan.members.iter().filter_map(|&m| bytes[m].take().map(|b| (m, b))).collect();
        let composite = compose(interfaces, &plan, top_node.plug, &parts)
            .and_then(|b| compile(engine, options, &b))
            .and_then(|composite| imports_checked(engine, &composite, &plan.members, compiled).map(|()| composite));
        let top = top_node.id.clone();
        match composite {
            Ok(component) => {
                let members: Vec<P::Id> = plan.members.iter().filter_map(|&m| id(m)).collect();
                let edges = plan
                    .edges
                    .iter()
                    .filter_map(|&(c, i, p)| Some((id(c)?, interfaces[i].id.clone(), id(p)?)))
                    .collect();
                tracing::info!(group = %top, members = %crate::graph::fmt_list(&members), "plugins frozen into one component");
                for &member in &plan.members[1..] {
                    compiled[member] = None;
                }
                compiled[plan.top] = Some(Ok(component));
                if let Some(node) = nodes[plan.top].as_mut() {
                    node.sockets.clone_from(&plan.sockets);
                }
                frozen[plan.top] = members[1..].to_vec();
                report.groups.push(FrozenGroup { plugin: top, members, edges });
            }
            Err(reason) => {
                tracing::warn!(group = %top, %reason, "group not frozen: its plugins load as they are");
                let reason = NotFrozen::Compose { group: top, reason };
                for &(consumer, interface, _) in &plan.edges {
                    if let Some(consumer) = id(consumer) {
                        let interface = interfaces[interface].id.clone();
                        report.dynamic.push(DynamicEdge { consumer, interface, reason: reason.clone() });
                    }
                }
            }
        }
    }
}
