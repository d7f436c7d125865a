//! What the runtime needs to know about an interface, and how an interface is
//! named inside a component.

use std::fmt::{self, Debug, Display};
use std::hash::Hash;

use crate::Key;

/// How many plugins may or must implement an interface.
///
/// The cardinality decides the shape of every call's result: see
/// [`Socket`](crate::Socket). It is judged by
/// [`PluginTree::load`](crate::PluginTree::load) over the plugins that
/// loaded, not over those declared: an implementer that fails to load does
/// not count.
///
/// The variants keep wasm-link 0.1.0's order and `Display` text (the
/// variant's name); [`in_words`](Self::in_words) reads as prose.
///
/// With the `dir` feature it is read from a manifest as `exactly-one`,
/// `at-most-one`, `at-least-one` or `any`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "dir", derive(serde::Deserialize), serde(rename_all = "kebab-case"))]
pub enum InterfaceCardinality {
    /// Zero or one plugin; the interface cannot be served with more.
    AtMostOne,
    /// Exactly one plugin; the interface cannot be served with none or more.
    ExactlyOne,
    /// One plugin or more; loading fails without any.
    AtLeastOne,
    /// Any number of plugins, including none.
    Any,
}

impl InterfaceCardinality {
    /// Whether `count` implementers satisfy this cardinality.
    #[must_use]
    pub fn accepts(self, count: usize) -> bool {
        match self {
            Self::ExactlyOne => count == 1,
            Self::AtMostOne => count <= 1,
            Self::AtLeastOne => count >= 1,
            Self::Any => true,
        }
    }

    /// Whether more than one plugin may implement the interface.
    #[must_use]
    pub fn is_multiple(self) -> bool {
        matches!(self, Self::AtLeastOne | Self::Any)
    }
}

impl InterfaceCardinality {
    /// The cardinality as error messages word it: `exactly one`, `at most
    /// one`, `at least one`, `any number of` (as in "needs exactly one
    /// plugin(s)").
    ///
    /// ```
    /// # use wasm_link::InterfaceCardinality;
    /// assert_eq!(InterfaceCardinality::AtLeastOne.to_string(), "AtLeastOne");
    /// assert_eq!(InterfaceCardinality::AtLeastOne.in_words(), "at least one");
    /// ```
    #[must_use]
    pub fn in_words(self) -> &'static str {
        match self {
            Self::ExactlyOne => "exactly one",
            Self::AtMostOne => "at most one",
            Self::AtLeastOne => "at least one",
            Self::Any => "any number of",
        }
    }
}

impl Display for InterfaceCardinality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Debug::fmt(self, f)
    }
}

/// What a function returns, as far as dispatch is concerned.
///
/// Results that may hold resource handles must be translated when they cross
/// from one plugin's store to another's; results known to hold none are moved
/// as they are, which is cheaper.
///
/// The variants keep wasm-link 0.1.0's order, default (`Void`) and `Display`
/// text, so code written for it ports unchanged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ReturnKind {
    /// The function returns nothing.
    #[default]
    Void,
    /// The function returns a value that may contain resource handles
    /// (`own` or `borrow`) at any depth.
    MayContainResources,
    /// The function returns a value that contains no resource handle.
    AssumeNoResources,
}

impl std::fmt::Display for ReturnKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Void => "Function returns no data",
            Self::MayContainResources => "Return type may contain resources",
            Self::AssumeNoResources => "Function is assumed to not return any resources",
        })
    }
}

/// Metadata about a function declared by an interface.
pub trait FunctionData {
    /// The function's name as exported by the component: `get-value`, or for
    /// resource functions `[constructor]doc`, `[method]doc.text`,
    /// `[static]doc.open`.
    fn name(&self) -> &str;
    /// What the function returns.
    fn return_kind(&self) -> ReturnKind;
    /// Whether the function is a resource method, whose first argument is the
    /// resource it is called on. Method calls are routed to the plugin that owns
    /// that resource only. A constructor is not a method.
    fn is_method(&self) -> bool;
}

/// Metadata about an interface, from a user-defined source.
///
/// Every accessor is fallible; errors are reported by
/// [`PluginTree::new`](crate::PluginTree::new), never unwrapped.
pub trait InterfaceData {
    /// Identifies the interface; plugins refer to it by this id in
    /// [`PluginData::plug`](crate::PluginData::plug) and
    /// [`PluginData::sockets`](crate::PluginData::sockets).
    type Id: Key + Clone + Eq + Hash;
    /// The error type of the fallible accessors.
    type Error: std::error::Error + Send + Sync + 'static;
    /// The function metadata type.
    type Function: FunctionData;
    /// Iterator over the interface's functions.
    type FunctionIter<'a>: IntoIterator<Item = &'a Self::Function>
    where
        Self: 'a;
    /// Iterator over the names of the interface's resources.
    type ResourceIter<'a>: IntoIterator<Item = &'a String>
    where
        Self: 'a;

    /// The interface's unique id.
    ///
    /// # Errors
    /// Whatever the metadata source fails with.
    fn id(&self) -> Result<&Self::Id, Self::Error>;

    /// How many plugins may implement the interface.
    ///
    /// # Errors
    /// Whatever the metadata source fails with.
    fn cardinality(&self) -> Result<&InterfaceCardinality, Self::Error>;

    /// The WIT path of the interface: `ns:pkg/iface`, optionally with
    /// `@version`, or a bare package `ns:pkg` (see the crate docs' naming rule).
    ///
    /// # Errors
    /// Whatever the metadata source fails with.
    fn package_name(&self) -> Result<&str, Self::Error>;

    /// The functions every implementer exports.
    ///
    /// # Errors
    /// Whatever the metadata source fails with.
    fn functions(&self) -> Result<Self::FunctionIter<'_>, Self::Error>;

    /// The names of the resources the interface defines.
    ///
    /// # Errors
    /// Whatever the metadata source fails with.
    fn resources(&self) -> Result<Self::ResourceIter<'_>, Self::Error>;
}

/// The component-level name of an interface.
///
/// An interface travels between plugins as one component instance. A
/// `package_name` that names an interface (`ns:pkg/iface[@ver]`) is that
/// instance's name; a bare package (`ns:pkg[@ver]`) means the instance
/// `ns:pkg/root[@ver]`, the convention of components built for wasm-link 0.1.0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct InterfaceName {
    /// The instance name components import and export.
    pub(crate) instance: String,
    /// The spelling the user gave, when it differs from `instance`.
    pub(crate) alias: Option<String>,
}

impl InterfaceName {
    /// Parses a `package_name`; `None` when it is not of the form
    /// `ns:pkg[/iface][@version]`.
    pub(crate) fn parse(package_name: &str) -> Option<Self> {
        let (path, version) = match package_name.split_once('@') {
            Some((path, version)) if !version.is_empty() => (path, Some(version)),
            Some(_) => return None,
            None => (package_name, None),
        };
        let (namespace, rest) = path.split_once(':')?;
        let (package, interface) = match rest.split_once('/') {
            Some((package, interface)) => (package, Some(interface)),
            None => (rest, None),
        };
        let valid =
            |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '%');
        if !valid(namespace) || !valid(package) || interface.is_some_and(|i| !valid(i)) {
            return None;
        }
        let version = version.map(|v| format!("@{v}")).unwrap_or_default();
        Some(match interface {
            Some(_) => Self { instance: package_name.to_owned(), alias: None },
            None => {
                Self { instance: format!("{namespace}:{package}/root{version}"), alias: Some(package_name.to_owned()) }
            }
        })
    }

    /// Whether `path` names this interface, in either spelling, at its own
    /// version or an older one on its track (the interface serves callers
    /// built against those: [`version`](super::version)).
    #[inline]
    pub(crate) fn matches(&self, path: &str) -> bool {
        self.instance == path || self.alias.as_deref() == Some(path) || self.serves(path)
    }

    #[cold]
    fn serves(&self, path: &str) -> bool {
        super::version::serves(&self.instance, path)
            || self.alias.as_deref().is_some_and(|alias| super::version::serves(alias, path))
    }
}

#[cfg(test)]
mod tests {
    use super::InterfaceName;

    #[test]
    fn interface_path_is_the_instance_name() {
        let name = InterfaceName::parse("my:package/example@1.2.0").unwrap();
        assert_eq!(name.instance, "my:package/example@1.2.0");
        assert!(name.matches("my:package/example@1.2.0"));
    }

    #[test]
    fn bare_package_means_its_root_instance() {
        let name = InterfaceName::parse("my:pkg@0.1.0").unwrap();
        assert_eq!(name.instance, "my:pkg/root@0.1.0");
        assert!(name.matches("my:pkg@0.1.0"));
        assert!(name.matches("my:pkg/root@0.1.0"));
    }

    #[test]
    fn a_path_at_an_older_version_on_the_track_names_the_interface() {
        let name = InterfaceName::parse("my:pkg/iface@1.4.2").unwrap();
        assert!(name.matches("my:pkg/iface@1.0.0"));
        assert!(!name.matches("my:pkg/iface@1.5.0"));
        assert!(!name.matches("my:pkg/iface@2.0.0"));
        let bare = InterfaceName::parse("my:pkg@0.1.1").unwrap();
        assert!(bare.matches("my:pkg@0.1.0"));
        assert!(bare.matches("my:pkg/root@0.1.0"));
        assert!(!bare.matches("my:pkg@0.2.0"));
    }

    #[test]
    fn malformed_names_are_rejected() {
        for bad in ["", "nopackage", "a:", ":b", "a:b/", "a:b@", "a b:c"] {
            assert!(InterfaceName::parse(bad).is_none(), "{bad}");
        }
    }
}
