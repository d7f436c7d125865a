//! `Socket`: a value per plugin behind an interface, shaped by its cardinality.

use std::collections::HashMap;
use std::collections::hash_map;
use std::hash::Hash;

use crate::InterfaceCardinality;

/// Container for per-plugin values behind one interface, shaped by the
/// interface's [`InterfaceCardinality`].
///
/// [`PluginTreeHead::dispatch`](crate::PluginTreeHead::dispatch) returns one of
/// these holding a `Result` per plugin. Single-plugin shapes carry no id since
/// there is nothing to tell apart; multi-plugin shapes are keyed by plugin id.
///
/// The type itself has no bounds, so code generic over any `Socket` needs
/// none either; only the methods that look ids up or build maps ask for
/// `Id: Eq + Hash`:
///
/// ```
/// use wasm_link::Socket;
///
/// fn count<T, Id>(s: &Socket<T, Id>) -> usize {
///     s.len()
/// }
///
/// assert_eq!(count(&Socket::<u8, ()>::AtMostOne(None)), 0);
/// ```
// `PartialEq` and `Eq` are written out below: derived, they would demand only
// `Id: PartialEq`, while comparing the maps needs `Id: Eq + Hash`.
#[derive(Debug, Clone)]
pub enum Socket<T, Id> {
    /// The value of the one plugin behind an `ExactlyOne` interface.
    ExactlyOne(T),
    /// The value of the plugin behind an `AtMostOne` interface, if there is one.
    AtMostOne(Option<T>),
    /// The values of the (one or more) plugins behind an `AtLeastOne` interface.
    AtLeastOne(HashMap<Id, T>),
    /// The values of the plugins behind an `Any` interface.
    Any(HashMap<Id, T>),
}

impl<T, Id> Socket<T, Id> {
    /// The cardinality this shape belongs to.
    #[must_use]
    pub fn cardinality(&self) -> InterfaceCardinality {
        match self {
            Self::ExactlyOne(_) => InterfaceCardinality::ExactlyOne,
            Self::AtMostOne(_) => InterfaceCardinality::AtMostOne,
            Self::AtLeastOne(_) => InterfaceCardinality::AtLeastOne,
            Self::Any(_) => InterfaceCardinality::Any,
        }
    }

    /// The number of values held.
    #[must_use]
    pub fn len(&self) -> usize {
        match self {
            Self::ExactlyOne(_) => 1,
            Self::AtMostOne(value) => usize::from(value.is_some()),
            Self::AtLeastOne(map) | Self::Any(map) => map.len(),
        }
    }

    /// Whether no value is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Applies `f` to every value, keeping the shape and the ids.
    ///
    /// ```
    /// use wasm_link::Socket;
    /// let doubled = Socket::<u32, &str>::ExactlyOne(21).map(|n| n * 2);
    /// assert_eq!(doubled, Socket::ExactlyOne(42));
    /// ```
    pub fn map<U>(self, mut f: impl FnMut(T) -> U) -> Socket<U, Id>
    where
        Id: Eq + Hash,
    {
        match self {
            Self::ExactlyOne(value) => Socket::ExactlyOne(f(value)),
            Self::AtMostOne(value) => Socket::AtMostOne(value.map(f)),
            Self::AtLeastOne(map) => Socket::AtLeastOne(map.into_iter().map(|(k, v)| (k, f(v))).collect()),
            Self::Any(map) => Socket::Any(map.into_iter().map(|(k, v)| (k, f(v))).collect()),
        }
    }

    /// Borrows every value, keeping the shape and cloning the ids.
    #[must_use]
    pub fn as_ref(&self) -> Socket<&T, Id>
    where
        Id: Clone + Eq + Hash,
    {
        match self {
            Self::ExactlyOne(value) => Socket::ExactlyOne(value),
            Self::AtMostOne(value) => Socket::AtMostOne(value.as_ref()),
            Self::AtLeastOne(map) => Socket::AtLeastOne(map.iter().map(|(k, v)| (k.clone(), v)).collect()),
            Self::Any(map) => Socket::Any(map.iter().map(|(k, v)| (k.clone(), v)).collect()),
        }
    }

    /// Iterates over the values with their plugin id (`None` for the
    /// single-plugin shapes). Multi-plugin shapes iterate in map order; sort by
    /// id when order matters.
    pub fn iter(&self) -> Iter<'_, T, Id> {
        Iter(match self {
            Self::ExactlyOne(value) => IterInner::One(Some(value)),
            Self::AtMostOne(value) => IterInner::One(value.as_ref()),
            Self::AtLeastOne(map) | Self::Any(map) => IterInner::Many(map.iter()),
        })
    }

    /// Iterates over the values alone.
    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.iter().map(|(_, value)| value)
    }

    /// Consumes the socket into its values (multi-plugin shapes in map order).
    #[must_use]
    pub fn into_values(self) -> Vec<T> {
        match self {
            Self::ExactlyOne(value) => vec![value],
            Self::AtMostOne(value) => value.into_iter().collect(),
            Self::AtLeastOne(map) | Self::Any(map) => map.into_values().collect(),
        }
    }

    /// The value of the plugin `id` in a multi-plugin shape; for single-plugin
    /// shapes, the value whatever the id.
    pub fn get(&self, id: &Id) -> Option<&T>
    where
        Id: Eq + Hash,
    {
        match self {
            Self::ExactlyOne(value) => Some(value),
            Self::AtMostOne(value) => value.as_ref(),
            Self::AtLeastOne(map) | Self::Any(map) => map.get(id),
        }
    }
}

/// Equal when the shapes are the same and hold equal values under equal ids.
impl<T: PartialEq, Id: Eq + Hash> PartialEq for Socket<T, Id> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::ExactlyOne(a), Self::ExactlyOne(b)) => a == b,
            (Self::AtMostOne(a), Self::AtMostOne(b)) => a == b,
            (Self::AtLeastOne(a), Self::AtLeastOne(b)) | (Self::Any(a), Self::Any(b)) => a == b,
            _ => false,
        }
    }
}

impl<T: Eq, Id: Eq + Hash> Eq for Socket<T, Id> {}

/// Iterator over a [`Socket`]'s values and ids, from [`Socket::iter`].
pub struct Iter<'a, T, Id>(IterInner<'a, T, Id>);

enum IterInner<'a, T, Id> {
    One(Option<&'a T>),
    Many(hash_map::Iter<'a, Id, T>),
}

impl<'a, T, Id> Iterator for Iter<'a, T, Id> {
    type Item = (Option<&'a Id>, &'a T);

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            IterInner::One(value) => value.take().map(|value| (None, value)),
            IterInner::Many(iter) => iter.next().map(|(id, value)| (Some(id), value)),
        }
    }
}

impl<'a, T, Id> IntoIterator for &'a Socket<T, Id> {
    type Item = (Option<&'a Id>, &'a T);
    type IntoIter = Iter<'a, T, Id>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// A socket of values as one value, as wasm-link 0.1.0 converts it: the
/// value itself for `ExactlyOne`, an `option` for `AtMostOne`, a `list` (in
/// the map's order) for `AtLeastOne` and `Any`.
///
/// ```
/// use wasm_link::{Socket, Val};
///
/// let one: Socket<Val, &str> = Socket::AtMostOne(Some(Val::U32(7)));
/// assert_eq!(Val::from(one), Val::Option(Some(Box::new(Val::U32(7)))));
/// ```
impl<Id> From<Socket<wasmtime::component::Val, Id>> for wasmtime::component::Val {
    fn from(socket: Socket<wasmtime::component::Val, Id>) -> Self {
        use wasmtime::component::Val;
        match socket {
            Socket::ExactlyOne(value) => value,
            Socket::AtMostOne(value) => Val::Option(value.map(Box::new)),
            Socket::AtLeastOne(values) | Socket::Any(values) => Val::List(values.into_values().collect()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::Socket;
    use crate::InterfaceCardinality;

    #[test]
    fn len_counts_the_values_of_every_shape() {
        assert_eq!(Socket::<u8, &str>::ExactlyOne(1).len(), 1);
        assert!(Socket::<u8, &str>::AtMostOne(None).is_empty());
        let many = Socket::Any(HashMap::from([("a", 1), ("b", 2)]));
        assert_eq!(many.len(), 2);
        assert_eq!(many.cardinality(), InterfaceCardinality::Any);
    }

    #[test]
    fn map_keeps_ids_and_shape() {
        let mapped = Socket::AtLeastOne(HashMap::from([("a", 1), ("b", 2)])).map(|v| v * 10);
        assert_eq!(mapped, Socket::AtLeastOne(HashMap::from([("a", 10), ("b", 20)])));
        assert_eq!(Socket::<u8, &str>::AtMostOne(Some(2)).map(|v| v + 1), Socket::AtMostOne(Some(3)));
    }

    /// Written against 0.1.0's unbounded `Socket<T, Id>`: a helper over any
    /// socket, with no bounds on its parameters, compiles.
    #[test]
    fn helpers_need_no_bounds_on_the_type() {
        struct NotHashable;
        fn count<T, Id>(s: &Socket<T, Id>) -> usize {
            s.len()
        }
        fn shape<T, Id>(s: &Socket<T, Id>) -> InterfaceCardinality {
            s.cardinality()
        }
        let socket = Socket::<u8, NotHashable>::ExactlyOne(1);
        assert_eq!(count(&socket), 1);
        assert_eq!(shape(&socket), InterfaceCardinality::ExactlyOne);
        assert_eq!(socket.values().count(), 1);
        assert_eq!(socket.into_values(), [1]);
    }

    #[test]
    fn equality_needs_the_same_shape() {
        let a = Socket::AtLeastOne(HashMap::from([("a", 1)]));
        let b = Socket::Any(HashMap::from([("a", 1)]));
        assert_ne!(a, b);
        assert_eq!(a.clone(), a);
        assert_ne!(Socket::<u8, &str>::ExactlyOne(1), Socket::AtMostOne(Some(1)));
    }

    #[test]
    fn iteration_yields_ids_for_multi_plugin_shapes_only() {
        let one = Socket::<u8, &str>::ExactlyOne(7);
        assert_eq!(one.iter().collect::<Vec<_>>(), [(None, &7)]);
        let many = Socket::Any(HashMap::from([("a", 1)]));
        assert_eq!(many.iter().collect::<Vec<_>>(), [(Some(&"a"), &1)]);
        assert_eq!(many.get(&"a"), Some(&1));
        assert_eq!(many.into_values(), [1]);
    }
}
