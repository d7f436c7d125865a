//! The root side of shapes: the plugins behind the root socket, in the
//! shape of its cardinality, and the [`Socket`] each dispatch returns.

use std::collections::HashMap;
use std::sync::Arc;

use crate::instance::PluginSlot;
use crate::{InterfaceCardinality, PluginData, Socket};

/// The plugins behind the root socket, in the shape of its cardinality.
pub(crate) enum RootPlugins<P: PluginData + Send + 'static> {
    One(Arc<PluginSlot<P>>),
    Optional(Option<Arc<PluginSlot<P>>>),
    /// Sorted by plugin id; `at_least_one` tells `AtLeastOne` from `Any`.
    Many {
        slots: Vec<Arc<PluginSlot<P>>>,
        at_least_one: bool,
    },
}

impl<P: PluginData + Send + 'static> RootPlugins<P> {
    /// The plugins that loaded behind a root of `cardinality`, sorted by id;
    /// `None` when their number does not satisfy it.
    pub(crate) fn new(cardinality: InterfaceCardinality, slots: Vec<Arc<PluginSlot<P>>>) -> Option<Self> {
        match (cardinality, slots.len()) {
            (InterfaceCardinality::ExactlyOne, 1) => slots.into_iter().next().map(Self::One),
            (InterfaceCardinality::AtMostOne, 0 | 1) => Some(Self::Optional(slots.into_iter().next())),
            (InterfaceCardinality::AtLeastOne, 1..) => Some(Self::Many { slots, at_least_one: true }),
            (InterfaceCardinality::Any, _) => Some(Self::Many { slots, at_least_one: false }),
            _ => None,
        }
    }

    /// Every plugin, sorted by id.
    pub(crate) fn slots(&self) -> &[Arc<PluginSlot<P>>] {
        match self {
            Self::One(slot) => std::slice::from_ref(slot),
            Self::Optional(slot) => slot.as_slice(),
            Self::Many { slots, .. } => slots,
        }
    }

    /// `f` of every plugin, in the root's shape.
    pub(crate) fn each<T>(&self, mut f: impl FnMut(&Arc<PluginSlot<P>>) -> T) -> Socket<T, P::Id> {
        match self {
            Self::One(slot) => Socket::ExactlyOne(f(slot)),
            Self::Optional(slot) => Socket::AtMostOne(slot.as_ref().map(f)),
            Self::Many { slots, .. } => self.many(slots.iter().map(|slot| (slot.id.clone(), f(slot))).collect()),
        }
    }

    /// `f` of every plugin, in the root's shape, the plugins of a
    /// multi-plugin root awaited concurrently (in one task: no threads).
    pub(crate) async fn each_async<'s, T, F: std::future::Future<Output = T>>(
        &'s self,
        f: impl Fn(&'s Arc<PluginSlot<P>>) -> F,
    ) -> Socket<T, P::Id> {
        match self {
            Self::One(slot) => Socket::ExactlyOne(f(slot).await),
            Self::Optional(None) => Socket::AtMostOne(None),
            Self::Optional(Some(slot)) => Socket::AtMostOne(Some(f(slot).await)),
            Self::Many { slots, .. } => {
                let values = futures_util::future::join_all(slots.iter().map(&f)).await;
                self.many(slots.iter().map(|slot| slot.id.clone()).zip(values).collect())
            }
        }
    }

    /// One plugin's value (the owner of a resource a method was called on),
    /// in the root's shape.
    pub(crate) fn only<T>(&self, plugin: &Arc<PluginSlot<P>>, value: T) -> Socket<T, P::Id> {
        match self {
            Self::One(_) => Socket::ExactlyOne(value),
            Self::Optional(_) => Socket::AtMostOne(Some(value)),
            Self::Many { .. } => self.many(HashMap::from([(plugin.id.clone(), value)])),
        }
    }

    /// Values by plugin id, in the shape of a multi-plugin root.
    pub(crate) fn many<T>(&self, values: HashMap<P::Id, T>) -> Socket<T, P::Id> {
        match self {
            Self::Many { at_least_one: true, .. } => Socket::AtLeastOne(values),
            _ => Socket::Any(values),
        }
    }
}
