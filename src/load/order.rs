//! The order in which plugins load: dependencies first.

use crate::graph::{InterfaceNode, PluginNode};
use crate::{InterfaceData, PluginData};

/// The plugins reachable from `root`, each after every plugin it depends on.
pub(super) fn dependency_order<I: InterfaceData, P: PluginData<InterfaceId = I::Id>>(
    interfaces: &[InterfaceNode<I>],
    plugins: &[PluginNode<P>],
    root: usize,
) -> Vec<usize> {
    // Iterative post-order DFS. The load does not go past a plugin with a
    // defect (it fails without its dependencies), so every plugin on a cycle
    // is left as soon as it is reached and the rest is acyclic: each plugin
    // comes after all it depends on. `state` guards against revisits.
    let mut state = vec![0u8; plugins.len()]; // 0 new, 1 open, 2 done
    let mut order = Vec::new();
    let mut stack: Vec<(usize, usize)> = interfaces[root].implementers.iter().rev().map(|&p| (p, 0)).collect();
    while let Some((plugin, next)) = stack.pop() {
        if next == 0 {
            if state[plugin] != 0 {
                continue;
            }
            state[plugin] = 1;
        }
        let deps: Vec<usize> = if plugins[plugin].defect.is_some() {
            Vec::new()
        } else {
            plugins[plugin].sockets.iter().flat_map(|&s| interfaces[s].implementers.iter().copied()).collect()
        };
        if let Some(&dep) = deps.get(next) {
            stack.push((plugin, next + 1));
            if state[dep] == 0 {
                stack.push((dep, 0));
            }
        } else {
            state[plugin] = 2;
            order.push(plugin);
        }
    }
    order
}
