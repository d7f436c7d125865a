//! The plugins behind one interface, as every socket of it and the head see
//! them.
//!
//! Replacing, adding or removing a plugin swaps the whole list at once
//! ([`PluginTreeHead::replace_plugin`](crate::PluginTreeHead::replace_plugin)
//! and its siblings); a call reads the list as it is when it starts and
//! finishes on the plugins it read, so calls already running finish on an
//! old instance while new ones go to the new one. A read takes no lock and
//! writes no shared memory.

use std::sync::Arc;

use arc_swap::{ArcSwap, Guard};

use super::PluginSlot;
use crate::PluginData;

/// The loaded plugins of one interface, sorted by id.
pub(crate) struct Members<P: PluginData>(ArcSwap<Vec<Arc<PluginSlot<P>>>>);

/// One read of [`Members`]: the plugins as they were when read.
pub(crate) type Snapshot<P> = Guard<Arc<Vec<Arc<PluginSlot<P>>>>>;

impl<P: PluginData> Members<P> {
    pub(crate) fn new(mut slots: Vec<Arc<PluginSlot<P>>>) -> Self {
        slots.sort_by(|a, b| a.id.cmp(&b.id));
        Self(ArcSwap::from_pointee(slots))
    }

    /// The plugins now.
    #[inline]
    pub(crate) fn load(&self) -> Snapshot<P> {
        self.0.load()
    }

    /// The plugins now, as an owned list (for a caller that keeps it across
    /// long waits).
    pub(crate) fn load_full(&self) -> Arc<Vec<Arc<PluginSlot<P>>>> {
        self.0.load_full()
    }

    /// Makes `slots` the plugins of the interface, for every call that starts
    /// from now on.
    pub(crate) fn store(&self, mut slots: Vec<Arc<PluginSlot<P>>>) {
        slots.sort_by(|a, b| a.id.cmp(&b.id));
        self.0.store(Arc::new(slots));
    }
}
