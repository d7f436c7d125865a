//! The one list of bounds every id meets.

use std::fmt::{Debug, Display};

/// What every id is, a plugin's ([`PluginData::Id`](crate::PluginData::Id))
/// or an interface's ([`InterfaceData::Id`](crate::InterfaceData::Id)):
/// printable for people (`Display`, also what guests see) and for
/// debugging, and safe to keep in errors that cross threads. Implemented for
/// every such type: name it in a bound instead of spelling the list out.
///
/// ```
/// fn describe<Id: wasm_link::Key>(id: &Id) -> String {
///     format!("plugin `{id}`")
/// }
/// assert_eq!(describe(&"parser"), "plugin `parser`");
/// ```
pub trait Key: Debug + Display + Send + Sync + 'static {}

impl<T: Debug + Display + Send + Sync + 'static> Key for T {}
