//! The root side of shapes: the plugins behind the root socket, in the
//! shape of its cardinality, and the [`Socket`] each dispatch returns.

use std::collections::HashMap;
use std::sync::Arc;

use crate::instance::PluginSlot;
use crate::{InterfaceCardinality, PluginData, Socket};

/// The plugins behind the root socket as one call read them, in the shape
/// of its cardinality. (Live swaps keep their number within it.)
pub(crate) struct RootPlugins<'a, P: PluginData> {
    pub(crate) cardinality: InterfaceCardinality,
    /// Sorted by plugin id.
    pub(crate) slots: &'a [Arc<PluginSlot<P>>],
}

impl<P: PluginData> RootPlugins<'_, P> {
    /// `f` of every plugin, in the root's shape.
    pub(crate) fn each<T>(&self, mut f: impl FnMut(&Arc<PluginSlot<P>>) -> T) -> Socket<T, P::Id> {
        match self.cardinality {
            InterfaceCardinality::ExactlyOne if self.slots.len() == 1 => Socket::ExactlyOne(f(&self.slots[0])),
            InterfaceCardinality::AtMostOne => Socket::AtMostOne(self.slots.first().map(f)),
            _ => self.many(self.slots.iter().map(|slot| (slot.id.clone(), f(slot))).collect()),
        }
    }

    /// `f` of every plugin, in the root's shape, the plugins of a
    /// multi-plugin root awaited concurrently (in one task: no threads).
    pub(crate) async fn each_async<T, F: std::future::Future<Output = T>>(
        &self,
        f: impl Fn(Arc<PluginSlot<P>>) -> F,
    ) -> Socket<T, P::Id> {
        match self.cardinality {
            InterfaceCardinality::ExactlyOne if self.slots.len() == 1 => {
                Socket::ExactlyOne(f(self.slots[0].clone()).await)
            }
            InterfaceCardinality::AtMostOne => match self.slots.first() {
                None => Socket::AtMostOne(None),
                Some(slot) => Socket::AtMostOne(Some(f(slot.clone()).await)),
            },
            _ => {
                let values = futures_util::future::join_all(self.slots.iter().cloned().map(&f)).await;
                self.many(self.slots.iter().map(|slot| slot.id.clone()).zip(values).collect())
            }
        }
    }

    /// One plugin's value (the owner of a resource a method was called on),
    /// in the root's shape.
    pub(crate) fn only<T>(&self, plugin: &Arc<PluginSlot<P>>, value: T) -> Socket<T, P::Id> {
        match self.cardinality {
            InterfaceCardinality::ExactlyOne => Socket::ExactlyOne(value),
            InterfaceCardinality::AtMostOne => Socket::AtMostOne(Some(value)),
            _ => self.many(HashMap::from([(plugin.id.clone(), value)])),
        }
    }

    /// Values by plugin id, in the shape of a multi-plugin root. (An
    /// `ExactlyOne` root without its plugin, which swaps never leave, gets
    /// the empty `Any`.)
    pub(crate) fn many<T>(&self, values: HashMap<P::Id, T>) -> Socket<T, P::Id> {
        match self.cardinality {
            InterfaceCardinality::AtLeastOne => Socket::AtLeastOne(values),
            _ => Socket::Any(values),
        }
    }
}
