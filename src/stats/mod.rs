//! Per-edge call statistics: how often each edge of the tree was called,
//! how often it failed, and how long its calls took.
//!
//! An edge is where calls come from (a root function called by the host, or
//! one function of one consumer's socket: an [`Edge`], made once at load)
//! and the plugin they go to. Each plugin instance keeps, in its live state,
//! a recorder per edge that calls it, found by the edge's serial; the call
//! holding the instance is its one writer, so counting costs a load and a
//! store, and timing two clock reads on the calls it samples (see
//! [`Latency`]). [`PluginTreeHead::stats`](crate::PluginTreeHead::stats)
//! sums an edge's recorders over the instances of each plugin.
//!
//! Calls inside a frozen group (`LoadOptions::freeze`) never leave wasm:
//! they have no edge to count on.

mod histogram;
#[cfg(feature = "otel")]
mod otel;
mod prometheus;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

pub use histogram::Latency;
pub(crate) use histogram::Recorder;
#[cfg(feature = "otel")]
pub use otel::otel_metrics;
pub use prometheus::prometheus_text;

use crate::PluginData;

/// The calls of one edge: from a root function or a consumer's socket
/// function, to one plugin.
///
/// [`consumer`](Self::consumer) is `None` for a root function, called by
/// the host. Counts run from when the edge was linked: a consumer replaced
/// while the tree runs starts its edges afresh, as its
/// [`PluginHealth`](crate::PluginHealth) does.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EdgeStats<Id, InterfaceId> {
    /// The plugin whose socket made the calls; `None` for the host, calling
    /// the root interface.
    pub consumer: Option<Id>,
    /// The interface the calls went through.
    pub interface: InterfaceId,
    /// The function called (for a resource method, its WIT name, such as
    /// `[method]counter.get`).
    pub function: String,
    /// The plugin that served them.
    pub provider: Id,
    /// Calls made, refused ones included.
    pub calls: u64,
    /// Calls that ended in an error: the provider failed, refused the call
    /// (quarantined, unavailable, busy past the deadline) or was given
    /// arguments it could not take.
    pub failures: u64,
    /// How long the calls took.
    pub latency: Latency,
}

/// Where calls come from, made at load: the head's root functions and each
/// socket function a consumer imports.
pub(crate) struct Edge<P: PluginData> {
    /// Unique in the process: the key instances find their recorder by.
    pub(crate) serial: u64,
    consumer: Option<P::Id>,
    interface: P::InterfaceId,
    function: Arc<str>,
    /// Per provider instance that served a call from here.
    rows: Mutex<Vec<Row<P::Id>>>,
}

struct Row<Id> {
    provider: Id,
    /// Which version of the provider (its swaps so far) and which of its
    /// instances: each writes a recorder of its own, so a call still running
    /// on a replaced version never shares one with the version after it.
    revision: u64,
    replica: u32,
    recorder: Arc<Recorder>,
}

static SERIALS: AtomicU64 = AtomicU64::new(0);

impl<P: PluginData> Edge<P> {
    /// The recorder of `provider`'s instance `replica` for this edge; made
    /// on the first call. Off the call path: an instance asks once, and keeps
    /// the answer while it lives.
    #[cold]
    pub(crate) fn recorder(&self, provider: &P::Id, revision: u64, replica: u32) -> Arc<Recorder> {
        let mut rows = self.rows.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(row) =
            rows.iter().find(|row| row.replica == replica && row.revision == revision && &row.provider == provider)
        {
            return row.recorder.clone();
        }
        let recorder = Arc::new(Recorder::new());
        rows.push(Row { provider: provider.clone(), revision, replica, recorder: recorder.clone() });
        recorder
    }
}

/// Every edge of a tree, for [`PluginTreeHead::stats`](crate::PluginTreeHead::stats).
pub(crate) struct Registry<P: PluginData> {
    /// Whether edges are counted at all (`LoadOptions::stats`).
    enabled: bool,
    /// Weak: an edge lives as long as the adapter or head that calls
    /// through it.
    edges: Mutex<Vec<Weak<Edge<P>>>>,
}

impl<P: PluginData> Registry<P> {
    pub(crate) fn new(enabled: bool) -> Self {
        Self { enabled, edges: Mutex::new(Vec::new()) }
    }

    /// A new edge to count calls on, or `None` when the tree counts none.
    pub(crate) fn edge(
        &self,
        consumer: Option<P::Id>,
        interface: P::InterfaceId,
        function: Arc<str>,
    ) -> Option<Arc<Edge<P>>> {
        if !self.enabled {
            return None;
        }
        let serial = SERIALS.fetch_add(1, Ordering::Relaxed);
        let edge = Arc::new(Edge { serial, consumer, interface, function, rows: Mutex::new(Vec::new()) });
        let mut edges = self.edges.lock().unwrap_or_else(PoisonError::into_inner);
        // Edges of replaced consumers are gone: forget them when the list is
        // full, not at every edge (a load makes thousands in a wide tree).
        if edges.len() == edges.capacity() {
            edges.retain(|edge| edge.strong_count() > 0);
        }
        edges.push(Arc::downgrade(&edge));
        Some(edge)
    }

    /// The counts of every edge that has a call, summed per provider over
    /// its instances; root functions first, then by consumer, function and
    /// provider.
    pub(crate) fn snapshot(&self) -> Vec<EdgeStats<P::Id, P::InterfaceId>> {
        let edges: Vec<Arc<Edge<P>>> =
            self.edges.lock().unwrap_or_else(PoisonError::into_inner).iter().filter_map(Weak::upgrade).collect();
        let mut stats = Vec::new();
        for edge in &edges {
            let rows = edge.rows.lock().unwrap_or_else(PoisonError::into_inner);
            let mut providers: Vec<&P::Id> = rows.iter().map(|row| &row.provider).collect();
            providers.sort();
            providers.dedup();
            for provider in providers {
                let mut counts = histogram::Counts::default();
                for row in rows.iter().filter(|row| &row.provider == provider) {
                    row.recorder.add_to(&mut counts);
                }
                stats.push(EdgeStats {
                    consumer: edge.consumer.clone(),
                    interface: edge.interface.clone(),
                    function: edge.function.to_string(),
                    provider: provider.clone(),
                    calls: counts.calls,
                    failures: counts.failures,
                    latency: counts.latency,
                });
            }
        }
        stats.sort_by(|a, b| {
            (a.consumer.as_ref(), &a.function, &a.provider).cmp(&(b.consumer.as_ref(), &b.function, &b.provider))
        });
        stats
    }
}

/// An instance's recorders, by edge serial: kept in its live state, where
/// only the call holding the instance reads and writes them.
#[derive(Default)]
pub(crate) struct Inbound(Vec<(u64, Arc<Recorder>)>);

impl Inbound {
    /// The index of `edge`'s recorder, made on its first call.
    #[inline]
    pub(crate) fn find<P: PluginData>(
        &mut self,
        edge: &Edge<P>,
        provider: &P::Id,
        revision: u64,
        replica: u32,
    ) -> usize {
        match self.0.binary_search_by_key(&edge.serial, |(serial, _)| *serial) {
            Ok(index) => index,
            Err(index) => {
                self.0.insert(index, (edge.serial, edge.recorder(provider, revision, replica)));
                index
            }
        }
    }

    /// The recorder at `index`, as [`find`](Self::find) gave it.
    #[inline]
    pub(crate) fn get(&self, index: usize) -> Option<&Recorder> {
        self.0.get(index).map(|(_, recorder)| &**recorder)
    }
}
