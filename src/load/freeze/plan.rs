//! Which plugins freeze together: the groups and the reasons for the rest.

use super::{DynamicEdge, FreezeReport, NotFrozen};
use crate::graph::{InterfaceIndex, InterfaceSpec, PluginIndex, PluginNode};
use crate::{InterfaceCardinality, PluginData};

/// A group to compose: its members (top first), its frozen edges, and the
/// sockets left dynamic. Its members are `M`s: the load's plugins, or a
/// kept group's members by position when one of them is replaced.
pub(crate) struct Plan<M = PluginIndex> {
    pub(crate) top: M,
    pub(crate) members: Vec<M>,
    /// (consumer, interface, provider).
    pub(crate) edges: Vec<(M, InterfaceIndex, M)>,
    pub(crate) sockets: Vec<InterfaceIndex>,
}

/// Whether a plugin loads alone and hands over its bytes (see [`plan`]).
pub(super) type Ready<'a, P> =
    dyn FnMut(PluginIndex, &PluginNode<P>) -> Result<(), NotFrozen<<P as PluginData>::Id>> + 'a;

/// Finds the groups to freeze among the plugins in `order` (dependencies
/// first), and records the `ExactlyOne` edges left dynamic with their
/// reasons. `ready(p, node)` tells whether plugin `p` loads alone (compiled and
/// checked) and hands over its component bytes; it is asked only about
/// plugins the graph would freeze, last.
pub(super) fn plan<P: PluginData>(
    interfaces: &[InterfaceSpec<P::InterfaceId>],
    implementers: &[Vec<PluginIndex>],
    nodes: &[Option<PluginNode<P>>],
    order: &[PluginIndex],
    root: InterfaceIndex,
    ready: &mut Ready<'_, P>,
    report: &mut FreezeReport<P::Id, P::InterfaceId>,
) -> Vec<Plan> {
    // Plugins with a defect load without their sockets: never frozen.
    let node = |p: PluginIndex| nodes[p].as_ref().filter(|n| n.defect.is_none());
    // The consumers of each interface, among the plugins this load reaches.
    let mut consumers: Vec<Vec<PluginIndex>> = vec![Vec::new(); interfaces.len()];
    for &plugin in order {
        if let Some(node) = node(plugin) {
            for &socket in &node.sockets {
                consumers[socket].push(plugin);
            }
        }
    }
    // Consumers before providers: a provider joins the group its consumers
    // share, decided before it.
    // Per plugin, the top member of its group (itself until it joins one).
    let mut group: Vec<PluginIndex> = (0..nodes.len()).map(PluginIndex).collect();
    let mut frozen: Vec<(PluginIndex, InterfaceIndex, PluginIndex)> = Vec::new();
    for &provider in order.iter().rev() {
        let Some(provider_node) = node(provider) else { continue };
        let plug = provider_node.plug;
        let users = &consumers[plug];
        if interfaces[plug].cardinality != InterfaceCardinality::ExactlyOne || users.is_empty() {
            continue;
        }
        let id = |p: PluginIndex| nodes[p].as_ref().map(|n| n.id.clone());
        // What the graph decides first; what needs the components last.
        let refusal = (|| {
            let count = implementers[plug].len();
            if count > 1 {
                return Some(NotFrozen::SeveralPlugins { count });
            }
            let provider_id = id(provider)?;
            if plug == root {
                return Some(NotFrozen::Root { provider: provider_id });
            }
            let others: Vec<P::Id> =
                users.iter().filter(|&&c| group[c] != group[users[0]]).filter_map(|&c| id(c)).collect();
            if !others.is_empty() {
                return Some(NotFrozen::Shared { provider: provider_id, others });
            }
            for &plugin in std::iter::once(&provider).chain(users) {
                let data = &node(plugin)?.data;
                if data.instances() > 1 {
                    return Some(NotFrozen::Pooled { plugin: id(plugin)? });
                }
                if super::group::Settings::of(data) != super::group::Settings::of(&provider_node.data) {
                    return Some(NotFrozen::Settings { consumer: id(plugin)?, provider: provider_id });
                }
            }
            std::iter::once(&provider).chain(users).find_map(|&plugin| ready(plugin, node(plugin)?).err())
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
        let edges: Vec<(PluginIndex, InterfaceIndex, PluginIndex)> =
            frozen.iter().copied().filter(|&(c, _, _)| group[c] == top).collect();
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
