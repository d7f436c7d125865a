//! What the user describes: interfaces (their functions, resources and
//! cardinality), plugins (their plug, sockets, budgets and component), and,
//! with the `wit` feature, interface metadata read from WIT.
//!
//! Nothing here touches a store: these are the inputs of
//! [`PluginTree::new`](crate::PluginTree::new).

pub(crate) mod interface;
pub(crate) mod key;
pub(crate) mod plugin;
pub(crate) mod version;
#[cfg(feature = "wit")]
pub(crate) mod wit;
