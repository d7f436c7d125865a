//! Dependency cycles: every node of a directed graph that lies on a cycle,
//! with a cycle through it to show. A pure function of the graph, so that
//! the plugin tree's cycle check is tested here on plain graphs, hostile
//! shapes included (a graph may be any size: nothing here recurses or
//! grows quadratically).

/// An edge of the graph: its target node and its label (for the plugin
/// graph, the interface the edge goes through).
pub(super) type Edge = (usize, usize);

/// A node that lies on a cycle.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct OnCycle {
    pub(super) node: usize,
    /// The label of the node's first edge on the cycle.
    pub(super) label: usize,
    /// The cycle's nodes, starting at `node` (the shortest cycle in a small
    /// component; one through the component's first node, at most
    /// [`CYCLE_SHOWN`] long, in a large one).
    pub(super) cycle: Vec<usize>,
}

/// Finds every node on a cycle of the directed graph `edges` (per node, its
/// edges).
pub(super) fn find(edges: &[Vec<Edge>]) -> Vec<OnCycle> {
    // Tarjan's strongly connected components, iterative so that a hostile,
    // deep graph cannot overflow the stack.
    let n = edges.len();
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut component = vec![usize::MAX; n];
    let mut components = 0;
    let mut counter = 0;
    for start in 0..n {
        if index[start] != usize::MAX {
            continue;
        }
        let mut work = vec![(start, 0usize)];
        while let Some(&mut (node, ref mut next)) = work.last_mut() {
            if *next == 0 && index[node] == usize::MAX {
                index[node] = counter;
                low[node] = counter;
                counter += 1;
                stack.push(node);
                on_stack[node] = true;
            }
            if let Some(&(target, _)) = edges[node].get(*next) {
                *next += 1;
                if index[target] == usize::MAX {
                    work.push((target, 0));
                } else if on_stack[target] {
                    low[node] = low[node].min(index[target]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[node]);
            }
            if low[node] == index[node] {
                while let Some(member) = stack.pop() {
                    on_stack[member] = false;
                    component[member] = components;
                    if member == node {
                        break;
                    }
                }
                components += 1;
            }
        }
    }
    let mut size = vec![0usize; components];
    for &c in &component {
        if c != usize::MAX {
            size[c] += 1;
        }
    }
    let large = Large::new(edges, &component, &size);
    let mut result = Vec::new();
    // One buffer for every search, reset where a search wrote.
    let mut previous = vec![usize::MAX; n];
    let mut touched = Vec::new();
    for node in 0..n {
        let same = |t: usize| component[t] == component[node];
        let Some(&(_, label)) = edges[node].iter().find(|&&(t, _)| same(t)) else {
            continue;
        };
        if size[component[node]] > SMALL_COMPONENT {
            result.push(OnCycle { node, label, cycle: large.cycle_through(node) });
            continue;
        }
        for &t in &touched {
            previous[t] = usize::MAX;
        }
        touched.clear();
        // The shortest way back to `node` inside its component, for the message.
        let mut queue = std::collections::VecDeque::from([node]);
        'search: while let Some(current) = queue.pop_front() {
            for &(next, _) in &edges[current] {
                if !same(next) {
                    continue;
                }
                if next == node {
                    previous[node] = current;
                    touched.push(node);
                    break 'search;
                }
                if previous[next] == usize::MAX {
                    previous[next] = current;
                    touched.push(next);
                    queue.push_back(next);
                }
            }
        }
        let mut cycle = Vec::new();
        let mut current = previous[node];
        while current != node && current != usize::MAX && cycle.len() < n {
            cycle.push(current);
            current = previous[current];
        }
        cycle.push(node);
        cycle.reverse();
        result.push(OnCycle { node, label, cycle });
    }
    result
}

/// Components of at most this many nodes report each node's shortest cycle
/// (a search per node); larger ones, a cycle through one node of theirs.
const SMALL_COMPONENT: usize = 64;

/// The most nodes a cycle of a large component lists.
const CYCLE_SHOWN: usize = 64;

/// Cycles in the large strongly connected components, found with two
/// searches per component (from one node of it, forwards and backwards)
/// instead of one per node: a hostile tree of thousands of plugins on one
/// cycle takes linear time and memory, not quadratic.
struct Large {
    /// Per node of a large component: the node before it on the way from
    /// its component's first node (`from`), the node after it on the way
    /// back to that node (`to`), and its distance from it.
    from: Vec<usize>,
    to: Vec<usize>,
    depth: Vec<usize>,
    root: Vec<usize>,
}

impl Large {
    fn new(edges: &[Vec<Edge>], component: &[usize], size: &[usize]) -> Self {
        let n = edges.len();
        let mut large = Self { from: Vec::new(), to: Vec::new(), depth: Vec::new(), root: Vec::new() };
        if !size.iter().any(|&s| s > SMALL_COMPONENT) {
            return large;
        }
        large.from = vec![usize::MAX; n];
        large.to = vec![usize::MAX; n];
        large.depth = vec![0; n];
        large.root = vec![usize::MAX; n];
        let mut reverse: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (node, out) in edges.iter().enumerate() {
            for &(target, _) in out {
                if component[target] == component[node] {
                    reverse[target].push(node);
                }
            }
        }
        let mut rooted = vec![usize::MAX; size.len()];
        for node in 0..n {
            let c = component[node];
            if c == usize::MAX || size[c] <= SMALL_COMPONENT || rooted[c] != usize::MAX {
                continue;
            }
            rooted[c] = node;
            large.root[node] = node;
            let mut queue = std::collections::VecDeque::from([node]);
            while let Some(current) = queue.pop_front() {
                for &(next, _) in &edges[current] {
                    if component[next] == c && large.root[next] == usize::MAX {
                        large.root[next] = node;
                        large.from[next] = current;
                        large.depth[next] = large.depth[current] + 1;
                        queue.push_back(next);
                    }
                }
            }
            let mut queue = std::collections::VecDeque::from([node]);
            large.to[node] = node;
            while let Some(current) = queue.pop_front() {
                for &previous in &reverse[current] {
                    if large.to[previous] == usize::MAX {
                        large.to[previous] = current;
                        queue.push_back(previous);
                    }
                }
            }
            // The root's own way back: through any node leading to it.
            large.to[node] = reverse[node].first().copied().unwrap_or(node);
        }
        large
    }

    /// A closed walk from `node` through its component's root and back,
    /// at most [`CYCLE_SHOWN`] nodes of it.
    fn cycle_through(&self, node: usize) -> Vec<usize> {
        let root = self.root[node];
        let mut cycle = vec![node];
        // To the root (for the root itself: to a node leading to it, then on).
        let mut current = node;
        if node == root {
            let last = self.to[node];
            // The way from the root to `last`, then back to the root.
            // Once per component: however long the way is.
            let mut way = self.way_from_root(last, usize::MAX);
            way.remove(0);
            cycle.extend(way);
            cycle.truncate(CYCLE_SHOWN);
            return cycle;
        }
        while current != root && cycle.len() < CYCLE_SHOWN {
            current = self.to[current];
            if current == usize::MAX {
                break;
            }
            cycle.push(current);
        }
        if current == root && cycle.len() < CYCLE_SHOWN {
            // And from the root back to just before `node`.
            let mut way = self.way_from_root(node, 4 * CYCLE_SHOWN);
            way.remove(0);
            way.pop();
            cycle.extend(way);
        }
        cycle.truncate(CYCLE_SHOWN);
        cycle
    }

    /// The nodes from the root to `node` (both included), when `node` is
    /// at most `within` steps from it; only the root otherwise.
    fn way_from_root(&self, node: usize, within: usize) -> Vec<usize> {
        if self.depth[node] > within {
            return vec![self.root[node]];
        }
        let mut way = vec![node];
        let mut current = node;
        while current != self.root[node] && current != usize::MAX {
            current = self.from[current];
            way.push(current);
        }
        way.reverse();
        way
    }
}

#[cfg(test)]
mod tests {
    use super::{CYCLE_SHOWN, Edge, OnCycle, find};

    fn graph(n: usize, edges: &[(usize, usize)]) -> Vec<Vec<Edge>> {
        let mut graph = vec![Vec::new(); n];
        for (label, &(from, to)) in edges.iter().enumerate() {
            graph[from].push((to, label));
        }
        graph
    }

    #[test]
    fn a_graph_without_cycles_has_no_node_on_one() {
        assert_eq!(find(&graph(4, &[(0, 1), (1, 2), (0, 2), (2, 3)])), vec![]);
    }

    #[test]
    fn a_self_loop_is_a_cycle_of_one() {
        assert_eq!(find(&graph(2, &[(0, 1), (1, 1)])), vec![OnCycle { node: 1, label: 1, cycle: vec![1] }]);
    }

    #[test]
    fn each_node_of_a_small_cycle_reports_the_shortest_cycle_from_itself() {
        // 0 -> 1 -> 2 -> 0, and a longer way 1 -> 3 -> 2; 4 hangs off the cycle.
        let found = find(&graph(5, &[(0, 1), (1, 2), (2, 0), (1, 3), (3, 2), (2, 4)]));
        let cycle_of = |node| found.iter().find(|c| c.node == node).map(|c| c.cycle.clone());
        assert_eq!(cycle_of(0), Some(vec![0, 1, 2]));
        assert_eq!(cycle_of(1), Some(vec![1, 2, 0]));
        assert_eq!(cycle_of(3), Some(vec![3, 2, 0, 1]));
        assert_eq!(cycle_of(4), None, "a node reached from a cycle is not on it");
        assert_eq!(found.iter().find(|c| c.node == 0).map(|c| c.label), Some(0));
    }

    #[test]
    fn a_large_cycle_is_found_in_linear_work_and_shown_cut_short() {
        let n = 100_000;
        let edges: Vec<(usize, usize)> = (0..n).map(|i| (i, (i + 1) % n)).collect();
        let found = find(&graph(n, &edges));
        assert_eq!(found.len(), n, "every node of the ring is on the cycle");
        for on in found.iter().step_by(9_973) {
            assert_eq!(on.cycle.first(), Some(&on.node));
            assert!(on.cycle.len() <= CYCLE_SHOWN);
            // Each step of the shown cycle is an edge of the ring.
            assert!(on.cycle.windows(2).all(|w| w[1] == (w[0] + 1) % n), "{:?}", on.cycle);
        }
    }

    #[test]
    fn two_cycles_joined_one_way_are_two_components() {
        // 0 <-> 1, 2 <-> 3, and 1 -> 2: no cycle crosses from one to the other.
        let found = find(&graph(4, &[(0, 1), (1, 0), (2, 3), (3, 2), (1, 2)]));
        assert_eq!(found.len(), 4);
        assert!(found.iter().all(|on| on.cycle.len() == 2), "{found:?}");
    }
}
