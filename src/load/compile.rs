//! Getting the plugins' components: in turn while that is cheap, on all
//! cores once they are being compiled.

use wasmtime::Engine;

use crate::PluginData;
use crate::graph::{PluginIndex, PluginNode};

/// Getting components that takes longer than this each means they are being
/// compiled (a cache hit of a small plugin takes tens of microseconds).
const COMPILING: std::time::Duration = std::time::Duration::from_micros(300);

/// Gets the components of the plugins in `order`, compiling on all cores
/// (rayon's pool, shared with wasmtime's own parallel compilation) when that
/// takes a while. The plugins are `Send`, not `Sync`: each task takes one
/// and gives it back with its component. A panic in the user's `component`
/// is theirs and goes through.
pub(super) fn compile_all<P: PluginData>(
    engine: &Engine,
    order: &[PluginIndex],
    nodes: &mut [Option<PluginNode<P>>],
) -> Vec<Option<Result<wasmtime::component::Component, P::Error>>> {
    use rayon::prelude::*;
    let mut taken: Vec<(PluginIndex, PluginNode<P>)> =
        order.iter().filter_map(|&index| nodes[index].take().map(|node| (index, node))).collect();
    // In turn while components come quickly (compiled already, or from a
    // cache), on all cores once they are being compiled. Handing cheap work
    // to other threads costs more than the work, and deserializing in
    // parallel is slower than in turn: each component's code is mapped and
    // `mprotect`ed, and with the process running on several cores every such
    // change interrupts them all to flush their TLBs.
    let started = std::time::Instant::now();
    let mut done = Vec::with_capacity(taken.len());
    while let Some((index, node)) = taken.pop() {
        let component = node.data.component(engine);
        done.push((index, node, component));
        let count = u32::try_from(done.len()).unwrap_or(u32::MAX);
        if started.elapsed() > COMPILING.saturating_mul(count) {
            break;
        }
    }
    done.par_extend(taken.into_par_iter().map(|(index, node)| {
        let component = node.data.component(engine);
        (index, node, component)
    }));
    let mut compiled: Vec<Option<Result<_, _>>> = (0..nodes.len()).map(|_| None).collect();
    for (index, node, component) in done {
        nodes[index] = Some(node);
        compiled[index] = Some(component);
    }
    compiled
}
