//! The order in which plugins load: dependencies first.

use crate::graph::{InterfaceIndex, InterfaceNode, PluginIndex, PluginNode};
use crate::{InterfaceData, PluginData};

/// The plugins reachable from `root`, each after every plugin it depends on.
pub(super) fn dependency_order<I: InterfaceData, P: PluginData<InterfaceId = I::Id>>(
    interfaces: &[InterfaceNode<I>],
    plugins: &[PluginNode<P>],
    root: InterfaceIndex,
) -> Vec<PluginIndex> {
    // Iterative post-order DFS. The load does not go past a plugin with a
    // defect (it fails without its dependencies), so every plugin on a cycle
    // is left as soon as it is reached and the rest is acyclic: each plugin
    // comes after all it depends on. `state` guards against revisits. Each
    // frame walks its plugin's dependencies in place (socket, implementer):
    // a plugin with many providers is never copied per step.
    let mut state = vec![0u8; plugins.len()]; // 0 new, 1 open, 2 done
    let mut order = Vec::new();
    // (plugin, its socket's position, the implementer's position in it)
    let mut stack: Vec<(PluginIndex, usize, usize)> =
        interfaces[root].implementers.iter().rev().map(|&p| (p, 0, 0)).collect();
    while let Some((plugin, socket, next)) = stack.pop() {
        if socket == 0 && next == 0 {
            if state[plugin] != 0 {
                continue;
            }
            state[plugin] = 1;
        }
        let node = &plugins[plugin];
        let sockets: &[InterfaceIndex] = if node.defect.is_some() { &[] } else { &node.sockets };
        // The next dependency at or after (socket, next).
        let (mut socket, mut next) = (socket, next);
        let dep = loop {
            let Some(&interface) = sockets.get(socket) else { break None };
            if let Some(&dep) = interfaces[interface].implementers.get(next) {
                break Some(dep);
            }
            (socket, next) = (socket + 1, 0);
        };
        if let Some(dep) = dep {
            stack.push((plugin, socket, next + 1));
            if state[dep] == 0 {
                stack.push((dep, 0, 0));
            }
        } else {
            state[plugin] = 2;
            order.push(plugin);
        }
    }
    order
}
