//! What the runtime needs to know about a plugin.

use crate::Key;
use std::hash::Hash;

use wasmtime::Engine;
use wasmtime::component::{Component, ResourceTable};

/// Access to the [`ResourceTable`] carried by a plugin's store data.
///
/// Each plugin runs in its own wasmtime `Store` whose data is the plugin value
/// itself. The runtime keeps the handles of resources that other plugins lent or
/// gave to this plugin in this table, so the table must live as long as the
/// plugin does and must not be shared between plugins.
pub trait PluginCtxView {
    /// The resource table of this plugin's store.
    fn resource_table(&mut self) -> &mut ResourceTable;
}

/// Metadata and code of one plugin, from a user-defined source.
///
/// A plugin implements exactly one interface, its *plug*, and may depend on
/// other interfaces, its *sockets*. The value becomes the data of the plugin's
/// wasmtime `Store` once loaded, which is why it also implements
/// [`PluginCtxView`].
///
/// Every accessor is fallible: metadata may come from files or manifests that
/// can be broken. Errors are reported by [`PluginTree::new`](crate::PluginTree::new)
/// and [`PluginTree::load`](crate::PluginTree::load), naming the plugin where its
/// id is known, and never unwrapped.
///
/// A plugin value lives in a wasmtime `Store`, which needs it `Send` and
/// `'static`: both are supertraits, so `P: PluginData` says all a generic
/// host needs.
pub trait PluginData: Sized + Send + 'static + PluginCtxView {
    /// Identifies the plugin. Shown in errors and used as the key of
    /// multi-plugin [`Socket`](crate::Socket)s; guests see it as a string
    /// through its `Display` form.
    type Id: Key + Clone + Eq + Hash + Ord;
    /// Identifies interfaces; must be the same type as
    /// [`InterfaceData::Id`](crate::InterfaceData::Id).
    type InterfaceId: Key + Clone + Eq + Hash;
    /// The error type of the fallible accessors.
    type Error: std::error::Error + Send + Sync + 'static;
    /// Iterator over the ids of the interfaces this plugin depends on.
    type SocketIter<'a>: IntoIterator<Item = &'a Self::InterfaceId>
    where
        Self: 'a;

    /// The plugin's unique id.
    ///
    /// # Errors
    /// Whatever the metadata source fails with.
    fn id(&self) -> Result<&Self::Id, Self::Error>;

    /// The interface this plugin implements and exports.
    ///
    /// # Errors
    /// Whatever the metadata source fails with.
    fn plug(&self) -> Result<&Self::InterfaceId, Self::Error>;

    /// The interfaces this plugin imports, served by other plugins.
    ///
    /// # Errors
    /// Whatever the metadata source fails with.
    fn sockets(&self) -> Result<Self::SocketIter<'_>, Self::Error>;

    /// What the plugin may consume: deadline, fuel, memory, tables, handles.
    /// Read once, at load. The default is [`Limits::default`](crate::Limits).
    fn limits(&self) -> crate::Limits {
        crate::Limits::default()
    }

    /// What happens when the plugin keeps failing. Read once, at load. The
    /// default re-instantiates after every failure and never quarantines.
    fn recovery(&self) -> crate::Recovery {
        crate::Recovery::default()
    }

    /// What the plugin may import besides its sockets, as interface names or
    /// prefixes (`wasi:clocks` grants `wasi:clocks/*`, any version), checked
    /// at load: a component importing anything else is refused with
    /// [`LoadError::NotGranted`](crate::LoadError::NotGranted). `None`, the
    /// default, lets it import anything the linker defines.
    fn grants(&self) -> Option<Vec<String>> {
        None
    }

    /// How many instances of the plugin may serve calls at once. More than
    /// one declares that the plugin keeps no state between calls: the
    /// runtime then instantiates it that many times, each instance from a
    /// value of [`replica`](Self::replica), and runs calls on whichever
    /// instance is free. A resource the plugin returns stays with the
    /// instance that made it: method calls on it, and calls given it as an
    /// argument (from the host or a consumer), are routed there.
    /// [`limits`](Self::limits)
    /// apply to each instance (memory, fuel, handles held); recovery and
    /// quarantine are the plugin's, and [`health`](crate::PluginTreeHead::health)
    /// sums the instances. The default is 1; at most 64 are made.
    fn instances(&self) -> usize {
        1
    }

    /// Another value of this plugin, for one more instance of a pooled
    /// plugin ([`instances`](Self::instances)). `None`, the default, stops
    /// the pool at the instances made so far.
    fn replica(&self) -> Option<Self>
    where
        Self: Sized,
    {
        None
    }

    /// A name for the plugin's code, for [`PluginHealth::version`](crate::PluginHealth::version)
    /// and the events of live swaps: a content hash, a release number.
    /// Read after [`component`](Self::component). `None`, the default, lets
    /// the runtime name it by a hash of the compiled component.
    fn version(&self) -> Option<String> {
        None
    }

    /// The plugin's component as bytes (a binary component), for the loads
    /// that compose components instead of compiling each alone
    /// ([`LoadOptions::freeze`](crate::LoadOptions::freeze)). The default,
    /// `Ok(None)`, keeps the plugin out of any frozen group; directory
    /// plugins hand over their `.wasm` file.
    ///
    /// [`component`](Self::component) is still called, and must describe the
    /// same component: each plugin is checked alone before it is composed.
    ///
    /// # Errors
    ///
    /// The bytes could not be read; the plugin is then not frozen.
    fn component_bytes(&self) -> Result<Option<Vec<u8>>, Self::Error> {
        Ok(None)
    }

    /// Whether the plugin's plug is served by other processes (feature
    /// `remote`): its [`component`](Self::component) is then the proxy
    /// [`Remote::component`](crate::Remote::component) builds, and the
    /// runtime forwards its calls to the addresses given. `None`, the
    /// default, for a plugin that runs here.
    #[cfg(feature = "remote")]
    fn remote(&self) -> Option<crate::Remote> {
        None
    }

    /// What the plugin said before its wasm failed, for the host: called
    /// once after each failed call that ran the plugin's wasm (before its
    /// instance is replaced), and kept as the [`WasmError::note`](crate::WasmError::note)
    /// of a [`DispatchError::Trap`](crate::DispatchError::Trap). Other
    /// plugins told of the failure through a socket never see it.
    /// Directory plugins give the end of their standard error (a Python
    /// traceback, a JavaScript exception, a Rust panic message). `None`, the
    /// default, adds nothing.
    fn trap_note(&mut self) -> Option<String> {
        None
    }

    /// Compiles (or deserializes) the plugin's component for `engine`.
    ///
    /// Called once, at load time, and only for plugins reachable from the
    /// root (and once for every plugin a live swap brings in).
    ///
    /// # Errors
    /// Whatever compiling the component fails with (bad bytes, a missing file).
    fn component(&self, engine: &Engine) -> Result<Component, Self::Error>;
}
