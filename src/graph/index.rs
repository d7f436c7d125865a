//! Positions in a tree's lists, each typed after the list it indexes: an
//! interface's position cannot index the plugins, nor a plugin's the
//! interfaces. Plain `usize`s inside, so they cost nothing at run time.

macro_rules! index {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub(crate) struct $name(pub(crate) usize);

        impl<T> std::ops::Index<$name> for [T] {
            type Output = T;
            #[inline]
            fn index(&self, index: $name) -> &T {
                &self[index.0]
            }
        }

        impl<T> std::ops::IndexMut<$name> for [T] {
            #[inline]
            fn index_mut(&mut self, index: $name) -> &mut T {
                &mut self[index.0]
            }
        }

        impl<T> std::ops::Index<$name> for Vec<T> {
            type Output = T;
            #[inline]
            fn index(&self, index: $name) -> &T {
                &self[index.0]
            }
        }

        impl<T> std::ops::IndexMut<$name> for Vec<T> {
            #[inline]
            fn index_mut(&mut self, index: $name) -> &mut T {
                &mut self[index.0]
            }
        }
    };
}

index! {
    /// An interface's position in its tree's interface list (the tree's
    /// `interfaces`, the loaded tree's member lists).
    InterfaceIndex
}

index! {
    /// A plugin's position in its tree's plugin list.
    PluginIndex
}

index! {
    /// A function's position in its interface's function list, which is
    /// also its position in a plugin's plug exports.
    FunctionIndex
}
