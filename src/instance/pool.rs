//! Pools: which instance of a plugin a call enters. A plugin of one
//! instance is always itself; a pooled plugin's call goes to the instance
//! its chain already holds, to the one that made a handle it is given, or
//! to the first free one.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use wasmtime::component::ResourceAny;

use super::ctx::Chain;
use super::{PluginSlot, first_handle};
use crate::PluginData;

impl<P: PluginData> PluginSlot<P> {
    /// The instance a call of `chain` should enter: this one, or for a
    /// pooled plugin the first free one (or, when the chain is inside one
    /// already, that one: entering it is refused as re-entry, as for a
    /// plugin of one instance).
    #[inline]
    pub(crate) fn pick(self: &Arc<Self>, chain: Chain) -> &Arc<Self> {
        if self.replicas.is_empty() {
            return self;
        }
        self.pick_in_pool(chain)
    }

    #[cold]
    pub(super) fn pick_in_pool(self: &Arc<Self>, chain: Chain) -> &Arc<Self> {
        let count = self.replicas.len() + 1;
        let instance = |i: usize| if i == 0 { self } else { &self.replicas[i - 1] };
        if let Some(held) = (0..count).map(instance).find(|slot| slot.is_busy_on(chain)) {
            return held;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..count)
            .map(|i| instance((start + i) % count))
            .find(|slot| slot.busy.load(Ordering::Relaxed) == Chain::NONE.0)
            .unwrap_or_else(|| instance(start % count))
    }

    /// [`pick`](Self::pick) for a call with `args`: a pooled plugin given
    /// one of its own resource handles runs the call on the instance that
    /// made it (the only one that can take it).
    #[inline]
    pub(crate) fn route<'a>(self: &'a Arc<Self>, chain: Chain, args: &[wasmtime::component::Val]) -> &'a Arc<Self> {
        if self.replicas.is_empty() {
            return self;
        }
        match first_handle(args).and_then(|handle| self.owner_of(handle)) {
            Some(owner) => owner,
            None => self.pick_in_pool(chain),
        }
    }

    /// Whether the plugin has more than one instance.
    pub(crate) fn is_pooled(&self) -> bool {
        self.replica > 0 || !self.replicas.is_empty()
    }

    /// Instance `replica` of this plugin (the one a store of it names).
    pub(crate) fn instance(self: &Arc<Self>, replica: u32) -> &Arc<Self> {
        match replica.checked_sub(1) {
            Some(index) => self.replicas.get(index as usize).unwrap_or(self),
            None => self,
        }
    }

    /// The instance of this plugin that defines `handle`'s type, if any.
    pub(crate) fn owner_of(self: &Arc<Self>, handle: &ResourceAny) -> Option<&Arc<Self>> {
        std::iter::once(self).chain(self.replicas.iter()).find(|slot| slot.defines(handle))
    }

    /// Whether `chain` holds another instance of this plugin's pool: a
    /// call routed to this instance (a method on a handle it made) would
    /// re-enter the plugin, and might wait for a call that waits for it.
    #[inline]
    pub(super) fn pool_holds(&self, chain: Chain) -> bool {
        if !self.is_pooled() || chain == Chain::NONE {
            return false;
        }
        self.shared.first.get().and_then(std::sync::Weak::upgrade).is_some_and(|first| first.holds(chain))
    }

    /// Whether a call of `chain` holds this plugin (any of its instances).
    pub(crate) fn holds(&self, chain: Chain) -> bool {
        self.is_busy_on(chain) || self.replicas.iter().any(|slot| slot.is_busy_on(chain))
    }
}
