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
mod compose;
pub(crate) mod group;
#[cfg(feature = "freeze")]
mod plan;

#[cfg(feature = "freeze")]
use wasmtime::Engine;
#[cfg(feature = "freeze")]
use wasmtime::component::Component;

pub(crate) use self::group::Kept;
#[cfg(feature = "freeze")]
use crate::graph::{InterfaceNode, PluginNode};
#[cfg(feature = "freeze")]
use crate::{InterfaceData, PluginData};

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

/// What freezing made of a load.
pub(crate) struct Frozen<P: PluginData> {
    /// Per plugin, the members of the group it runs as top member (itself
    /// first, each with its own version); empty for the others.
    pub(crate) members: Vec<Vec<(P::Id, String)>>,
    pub(crate) report: FreezeReport<P::Id, P::InterfaceId>,
    /// What composing each group again needs.
    pub(crate) groups: Vec<Kept<P>>,
}

/// What [`freeze`] makes of the load when the options ask for freezing;
/// nothing otherwise.
pub(super) fn when_asked<I, P>(
    engine: &wasmtime::Engine,
    options: &super::LoadOptions,
    interfaces: &[crate::graph::InterfaceNode<I>],
    nodes: &mut [Option<crate::graph::PluginNode<P>>],
    compiled: &mut [Option<Result<wasmtime::component::Component, P::Error>>],
    order: &[usize],
    root: usize,
) -> Frozen<P>
where
    I: crate::InterfaceData,
    P: crate::PluginData<InterfaceId = I::Id>,
{
    let mut frozen =
        Frozen { members: vec![Vec::new(); nodes.len()], report: FreezeReport::default(), groups: Vec::new() };
    #[cfg(feature = "freeze")]
    if options.freeze {
        freeze(engine, options, interfaces, nodes, compiled, order, root, &mut frozen);
    }
    #[cfg(not(feature = "freeze"))]
    let _ = (engine, options, interfaces, compiled, order, root);
    frozen
}

/// Freezes what can be frozen among the plugins in `order`, compiled alone
/// in `compiled`: each group composed and compiled is handed to the load as
/// its top member (its component and its remaining sockets) and the other
/// members are taken out of the load (`compiled[member]` emptied). What does
/// not freeze is left as it was.
#[cfg(feature = "freeze")]
#[allow(clippy::too_many_arguments, reason = "the load's state, lent for one step")]
fn freeze<I, P>(
    engine: &Engine,
    options: &super::LoadOptions,
    interfaces: &[InterfaceNode<I>],
    nodes: &mut [Option<PluginNode<P>>],
    compiled: &mut [Option<Result<Component, P::Error>>],
    order: &[usize],
    root: usize,
    frozen: &mut Frozen<P>,
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
    let name = |interface: usize| interfaces[interface].name.instance.clone();
    for plan in plan::plan(interfaces, nodes, order, root, &ready, &mut frozen.report) {
        let Some(top_node) = nodes[plan.top].as_ref() else { continue };
        let top = top_node.id.clone();
        let parts: Vec<(usize, &[u8])> =
            plan.members.iter().filter_map(|&m| bytes[m].as_deref().map(|b| (m, b))).collect();
        let components: Vec<&Component> =
            plan.members.iter().filter_map(|&m| compiled[m].as_ref().and_then(|c| c.as_ref().ok())).collect();
        match compose::composite(engine, options, &name, &plan, top_node.plug, &parts, &components) {
            Ok(component) => {
                let group = keep(options, &plan, nodes, compiled, &mut bytes);
                install(interfaces, &plan, nodes, compiled, component, group, frozen);
            }
            Err(reason) => {
                tracing::warn!(group = %top, %reason, "group not frozen: its plugins load as they are");
                let reason = NotFrozen::Compose { group: top, reason };
                for &(consumer, interface, _) in &plan.edges {
                    if let Some(consumer) = nodes[consumer].as_ref().map(|n| n.id.clone()) {
                        let interface = interfaces[interface].id.clone();
                        frozen.report.dynamic.push(DynamicEdge { consumer, interface, reason: reason.clone() });
                    }
                }
            }
        }
    }
}

/// What the tree keeps of a group that composed, for composing it again.
#[cfg(feature = "freeze")]
fn keep<P: PluginData>(
    options: &super::LoadOptions,
    plan: &plan::Plan,
    nodes: &[Option<PluginNode<P>>],
    compiled: &[Option<Result<Component, P::Error>>],
    bytes: &mut [Option<Vec<u8>>],
) -> Kept<P> {
    let position = |plugin: usize| plan.members.iter().position(|&m| m == plugin).unwrap_or_default();
    let members = plan
        .members
        .iter()
        .filter_map(|&m| {
            let node = nodes[m].as_ref()?;
            let component = compiled[m].as_ref()?.as_ref().ok()?.clone();
            let bytes = bytes[m].take()?;
            Some(group::Member {
                id: node.id.clone(),
                plug: node.plug,
                sockets: node.sockets.clone(),
                version: group::version_of(&node.data, &bytes),
                bytes,
                component,
            })
        })
        .collect();
    let top = nodes[plan.top].as_ref().map(|n| &n.data);
    Kept {
        members,
        edges: plan.edges.iter().map(|&(c, i, p)| (position(c), i, position(p))).collect(),
        settings: top.map(|d| (d.limits(), d.recovery(), d.grants())).unwrap_or_default(),
        spare: top.and_then(PluginData::replica),
        options: options.clone(),
    }
}

/// Hands a composed group to the load as its top member and records it.
#[cfg(feature = "freeze")]
fn install<I, P>(
    interfaces: &[InterfaceNode<I>],
    plan: &plan::Plan,
    nodes: &mut [Option<PluginNode<P>>],
    compiled: &mut [Option<Result<Component, P::Error>>],
    component: Component,
    group: Kept<P>,
    frozen: &mut Frozen<P>,
) where
    I: InterfaceData,
    P: PluginData<InterfaceId = I::Id>,
{
    let id = |p: usize| nodes[p].as_ref().map(|n| n.id.clone());
    let members: Vec<P::Id> = plan.members.iter().filter_map(|&m| id(m)).collect();
    let edges = plan.edges.iter().filter_map(|&(c, i, p)| Some((id(c)?, interfaces[i].id.clone(), id(p)?))).collect();
    let Some(top) = id(plan.top) else { return };
    tracing::info!(group = %top, members = %crate::graph::fmt_list(&members), "plugins frozen into one component");
    for &member in &plan.members[1..] {
        compiled[member] = None;
    }
    compiled[plan.top] = Some(Ok(component));
    if let Some(node) = nodes[plan.top].as_mut() {
        node.sockets.clone_from(&plan.sockets);
    }
    frozen.members[plan.top] = crate::load::freeze::group::versions(&group.members);
    frozen.groups.push(group);
    frozen.report.groups.push(FrozenGroup { plugin: top, members, edges });
}
