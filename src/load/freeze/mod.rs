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
use wasmtime::component::Component;

pub(crate) use self::group::Kept;
use crate::PluginData;
#[cfg(feature = "freeze")]
use crate::graph::PluginNode;
use crate::graph::{InterfaceIndex, PluginIndex};

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
    #[error("`{consumer}` and `{provider}` have other limits, recovery or grants")]
    Settings {
        /// The consumer whose settings differ from the provider's.
        consumer: PluginId,
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
    /// ([`PluginData::component_bytes`] gives `None`).
    #[error("`{plugin}` has no component bytes to compose")]
    NoBytes {
        /// The plugin.
        plugin: PluginId,
    },
    /// One of them does not load alone: it did not compile, its imports or
    /// exports fail the checks every plugin passes (grants, plug, sockets),
    /// or its bytes could not be read. It fails the load as it would
    /// without freezing.
    #[error("`{plugin}` does not load alone: {reason}")]
    Alone {
        /// The plugin.
        plugin: PluginId,
        /// Why.
        reason: String,
    },
    /// The group composed, but its composite did not load (say, an engine
    /// that allows one memory per component): its plugins loaded as they are.
    #[error("the group of `{group}` composed but did not load: {reason}")]
    NotLoaded {
        /// The group's top member.
        group: PluginId,
        /// The load's words.
        reason: String,
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
    /// What composing each group again needs, with its members' plugin
    /// indices (top first).
    pub(crate) groups: Vec<(Kept<P>, Vec<PluginIndex>)>,
}

impl<P: PluginData> Frozen<P> {
    /// The group whose top member is plugin `index`.
    pub(crate) fn group_of_top(&self, index: PluginIndex) -> Option<usize> {
        self.groups.iter().position(|(_, indices)| indices.first() == Some(&index))
    }

    /// Whether plugin `index` runs inside a group headed by another.
    pub(crate) fn is_inside(&self, index: PluginIndex) -> bool {
        self.groups.iter().any(|(_, indices)| indices[1..].contains(&index))
    }
}

/// What [`freeze`] makes of the load when the options ask for freezing;
/// nothing otherwise.
pub(super) fn when_asked<P: PluginData>(
    env: &super::Env<P>,
    options: &super::LoadOptions,
    implementers: &[Vec<PluginIndex>],
    nodes: &mut [Option<crate::graph::PluginNode<P>>],
    compiled: &mut [Option<Result<wasmtime::component::Component, P::Error>>],
    order: &[PluginIndex],
    root: InterfaceIndex,
) -> Frozen<P> {
    #[cfg_attr(not(feature = "freeze"), allow(unused_mut, reason = "filled only with `freeze`"))]
    let mut frozen =
        Frozen { members: vec![Vec::new(); nodes.len()], report: FreezeReport::default(), groups: Vec::new() };
    #[cfg(feature = "freeze")]
    if options.freeze {
        freeze(env, options, implementers, nodes, compiled, order, root, &mut frozen);
    }
    #[cfg(not(feature = "freeze"))]
    let _ = (env, options, implementers, compiled, order, root);
    frozen
}

/// Freezes what can be frozen among the plugins in `order`, compiled alone
/// in `compiled`: each group composed and compiled is handed to the load as
/// its top member (its component and its remaining sockets) and the other
/// members are taken out of the load (`compiled[member]` emptied; the load
/// keeps them until the composite loads, and loads them as they are if it
/// does not). What does not freeze is left as it was.
#[cfg(feature = "freeze")]
#[allow(clippy::too_many_arguments, reason = "the load's state, lent for one step")]
fn freeze<P: PluginData>(
    env: &super::Env<P>,
    options: &super::LoadOptions,
    implementers: &[Vec<PluginIndex>],
    nodes: &mut [Option<PluginNode<P>>],
    compiled: &mut [Option<Result<Component, P::Error>>],
    order: &[PluginIndex],
    root: InterfaceIndex,
    frozen: &mut Frozen<P>,
) {
    // A member is composed only once it loads alone: compiled by its own
    // `component`, through the checks every plugin passes, and with its
    // bytes at hand. Asked lazily: only of plugins the graph would freeze.
    let mut bytes: Vec<Option<Vec<u8>>> = (0..nodes.len()).map(|_| None).collect();
    let mut verdicts: Vec<Option<Result<(), NotFrozen<P::Id>>>> = (0..nodes.len()).map(|_| None).collect();
    let plans = {
        let mut ready = |plugin: PluginIndex, node: &PluginNode<P>| -> Result<(), NotFrozen<P::Id>> {
            if let Some(verdict) = &verdicts[plugin] {
                return verdict.clone();
            }
            let verdict = alone(env, node, compiled[plugin].as_ref()).map(|b| bytes[plugin] = Some(b));
            verdicts[plugin] = Some(verdict.clone());
            verdict
        };
        plan::plan(&env.interfaces, implementers, nodes, order, root, &mut ready, &mut frozen.report)
    };
    let name = |interface: InterfaceIndex| env.interfaces[interface].name.instance.clone();
    for plan in plans {
        let Some(top_node) = nodes[plan.top].as_ref() else { continue };
        let top = top_node.id.clone();
        let parts: Option<Vec<(&[u8], &Component)>> =
            plan.members.iter().map(|&m| Some((bytes[m].as_deref()?, compiled[m].as_ref()?.as_ref().ok()?))).collect();
        let composite = parts
            .ok_or_else(|| "a member's bytes or component went missing".to_owned())
            .and_then(|parts| compose::composite(&env.engine, options, &name, &plan, top_node.plug, &parts));
        match composite.and_then(|component| Ok((component, keep(options, &plan, nodes, compiled, &mut bytes)?))) {
            Ok((component, group)) => install(&env.interfaces, &plan, nodes, compiled, component, group, frozen),
            Err(reason) => {
                tracing::warn!(group = %top, %reason, "group not frozen: its plugins load as they are");
                let reason = NotFrozen::Compose { group: top, reason };
                for &(consumer, interface, _) in &plan.edges {
                    if let Some(consumer) = nodes[consumer].as_ref().map(|n| n.id.clone()) {
                        let interface = env.interfaces[interface].id.clone();
                        frozen.report.dynamic.push(DynamicEdge { consumer, interface, reason: reason.clone() });
                    }
                }
            }
        }
    }
}

/// Whether a plugin loads alone, and its bytes if so.
#[cfg(feature = "freeze")]
fn alone<P: PluginData>(
    env: &super::Env<P>,
    node: &PluginNode<P>,
    compiled: Option<&Result<Component, P::Error>>,
) -> Result<Vec<u8>, NotFrozen<P::Id>> {
    let refuse = |reason: String| NotFrozen::Alone { plugin: node.id.clone(), reason };
    let component = match compiled {
        Some(Ok(component)) => component,
        Some(Err(error)) => return Err(refuse(crate::error_chain(error))),
        None => return Err(refuse("it was not compiled".to_owned())),
    };
    env.check_alone(&node.id, node.plug, &node.sockets, &node.data, component)
        .map_err(|error| refuse(crate::error_chain(&error)))?;
    match node.data.component_bytes() {
        Ok(Some(bytes)) => Ok(bytes),
        Ok(None) => Err(NotFrozen::NoBytes { plugin: node.id.clone() }),
        Err(error) => Err(refuse(format!("its component bytes cannot be read: {}", crate::error_chain(&error)))),
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
) -> Result<Kept<P>, String> {
    let position = |plugin: PluginIndex| plan.members.iter().position(|&m| m == plugin);
    let members = plan
        .members
        .iter()
        .map(|&m| {
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
        .collect::<Option<Vec<_>>>();
    let edges = plan.edges.iter().map(|&(c, i, p)| Some((position(c)?, i, position(p)?))).collect::<Option<Vec<_>>>();
    let top = nodes[plan.top].as_ref().map(|n| &n.data);
    match (members, edges, top) {
        (Some(members), Some(edges), Some(top)) => Ok(Kept {
            members,
            edges,
            settings: group::Settings::of(top),
            spare: top.replica(),
            options: options.clone(),
        }),
        _ => Err("a member's bytes or component went missing".to_owned()),
    }
}

/// Hands a composed group to the load as its top member and records it.
#[cfg(feature = "freeze")]
fn install<P: PluginData>(
    interfaces: &[crate::graph::InterfaceSpec<P::InterfaceId>],
    plan: &plan::Plan,
    nodes: &mut [Option<PluginNode<P>>],
    compiled: &mut [Option<Result<Component, P::Error>>],
    component: Component,
    group: Kept<P>,
    frozen: &mut Frozen<P>,
) {
    let id = |p: PluginIndex| nodes[p].as_ref().map(|n| n.id.clone());
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
    frozen.members[plan.top] = group::versions(&group.members);
    frozen.groups.push((group, plan.members.clone()));
    frozen.report.groups.push(FrozenGroup { plugin: top, members, edges });
}
