//! A WebAssembly plugin runtime for building modular applications.
//!
//! Plugins are small, single-purpose WASM components that connect through
//! abstract interfaces. Each plugin declares a *plug* (the interface it
//! implements) and zero or more *sockets* (interfaces it depends on).
//! `wasm_link` links these into a dependency tree and handles cross-plugin
//! dispatch.
//!
//! # Core Concepts
//!
//! - **Interface**: a contract declaring what an implementer exports and what a
//!   consumer may import. Defined via [`InterfaceData`].
//! - **Plug**: a plugin's declaration that it implements an interface (exports
//!   its functions).
//! - **Socket**: a plugin's declaration that it depends on an interface
//!   (expects to call into implementations provided by other plugins).
//! - **Cardinality**: each interface specifies how many plugins may implement
//!   it via [`InterfaceCardinality`]. This affects how dispatch results are
//!   returned.
//! - **Root Socket**: the entry point interface that the host application calls
//!   into. Other interfaces are internal - only accessible to plugins, not the
//!   host.
//!
//! # Example
//!
//! ```
//! use wasm_link::{
//!     InterfaceData, InterfaceCardinality, FunctionData, ReturnKind,
//!     PluginCtxView, PluginData, PluginTree, Socket,
//!     Engine, Component, Linker, ResourceTable, Val,
//! };
//!
//! // Declare your fixture sources
//! #[derive( Clone )]
//! struct Func { name: String, return_kind: ReturnKind }
//! impl FunctionData for Func {
//!     fn name( &self ) -> &str { self.name.as_str() }
//!     fn return_kind( &self ) -> ReturnKind { self.return_kind.clone() }
//!     // Determine whether a function is a resource method
//!     // a constructor is not considered to be a method
//!     fn is_method( &self ) -> bool { false }
//! }
//!
//! struct Interface { id: &'static str, funcs: Vec<Func> }
//! impl InterfaceData for Interface {
//!     type Id = &'static str ;
//!     type Error = std::convert::Infallible ;
//!     type Function = Func ;
//!     type FunctionIter<'a> = std::slice::Iter<'a, Func> ;
//!     type ResourceIter<'a> = std::iter::Empty<&'a String> ;
//!     fn id( &self ) -> Result<&Self::Id, Self::Error> { Ok( &self.id ) }
//!     fn cardinality( &self ) -> Result<&InterfaceCardinality, Self::Error> { Ok( &InterfaceCardinality::ExactlyOne ) }
//!     fn package_name( &self ) -> Result<&str, Self::Error> { Ok( "my:package/example" ) }
//!     fn functions( &self ) -> Result<Self::FunctionIter<'_>, Self::Error> { Ok( self.funcs.iter()) }
//!     fn resources( &self ) -> Result<Self::ResourceIter<'_>, Self::Error> { Ok( std::iter::empty()) }
//! }
//!
//! struct Plugin { id: &'static str, plug: &'static str, resource_table: ResourceTable }
//! impl PluginCtxView for Plugin {
//!     fn resource_table( &mut self ) -> &mut ResourceTable { &mut self.resource_table }
//! }
//! impl PluginData for Plugin {
//!     type Id = &'static str ;
//!     type InterfaceId = &'static str ;
//!     type Error = std::convert::Infallible ;
//!     type SocketIter<'a> = std::iter::Empty<&'a Self::InterfaceId> ;
//!     fn id( &self ) -> Result<&Self::Id, Self::Error> { Ok( &self.id ) }
//!     fn plug( &self ) -> Result<&Self::InterfaceId, Self::Error> { Ok( &self.plug ) }
//!     fn sockets( &self ) -> Result<Self::SocketIter<'_>, Self::Error> { Ok( std::iter::empty()) }
//!     fn component( &self, engine: &Engine ) -> Result<Component, Self::Error> {
//!         // A component exporting `my:package/example` whose `get-value`
//!         // returns 42 (in WIT the package is written `my:%package`).
//!         Ok( Component::new( engine, r#"
//!             (component
//!                 (core module $m (func (export "get-value") (result i32) i32.const 42))
//!                 (core instance $i (instantiate $m))
//!                 (func $get-value (result u32) (canon lift (core func $i "get-value")))
//!                 (instance $example (export "get-value" (func $get-value)))
//!                 (export "my:package/example" (instance $example))
//!             )
//!         "# ).expect( "the example component is valid" ))
//!     }
//! }
//!
//! // Now construct some plugins and related data
//! let root_interface_id = "root" ;
//! let plugins = [ Plugin { id: "foo", plug: root_interface_id, resource_table: ResourceTable::new() }];
//! let interfaces = [ Interface { id: root_interface_id, funcs: vec![
//!     Func { name: "get-value".to_string(), return_kind: ReturnKind::MayContainResources }
//! ]}];
//!
//! // First you need to tell wasm_link about your plugins, interfaces and where you want
//! // the execution to begin. wasm_link will try it's best to load in all the plugins,
//! // upon encountering an error, it will try to salvage as much of the remaining data
//! // as possible returning a list of failures alongside the `PluginTree`.
//! let ( tree, build_errors ) = PluginTree::new( root_interface_id, interfaces, plugins );
//! assert!( build_errors.is_empty() );
//!
//! // Once you've got your `PluginTree` constructed, you can link the plugins together
//! // Since some plugins may fail to load, it is only at this point that the cardinality
//! // requirements are satisfied by the plugins that managed to get loaded, otherwise it
//! // tries to salvage as much of the tree as can be loaded returning a list of failures
//! // alongside the loaded `PluginTreeHead` - the root node of the `PluginTree`.
//! let engine = Engine::default();
//! let linker = Linker::new( &engine );
//! let ( tree_head, load_errors ) = tree.load( &engine, &linker ).unwrap();
//! assert!( load_errors.is_empty() );
//!
//! // Now you can dispatch any function on the root interface.
//! // This will dispatch the function for all plugins plugged in to the root socket returning
//! // a Result for each in the shape determined by the interface cardinality.
//! let result = tree_head.dispatch( "my:package/example", "get-value", true, &[] );
//! match result {
//!     Socket::ExactlyOne( Ok( Val::U32( n ))) => assert_eq!( n, 42 ),
//!     Socket::ExactlyOne( Err( e )) => panic!( "dispatch error: {e}" ),
//!     _ => panic!( "unexpected cardinality" ),
//! }
//! ```
//!
//! # Async hosts
//!
//! [`PluginTreeHead::dispatch_async`] is `dispatch` as a `Send` future.
//! Load the tree with [`PluginTree::load_async`] and it is asynchronous all
//! the way down: plugins run on fibers, socket calls await the plugins
//! behind them, plugins may import async host functions of the linker
//! (`func_wrap_async`), a plugin that runs long yields to the executor at
//! every epoch tick and is still stopped at its deadline, and dropping the
//! future abandons the call cleanly (the plugins it was inside are
//! re-instantiated, [`PluginHealth::cancelled`] counts it). Blocking
//! [`dispatch`](PluginTreeHead::dispatch) works on such a tree too, and
//! `dispatch_async` on a tree loaded with [`PluginTree::load`] is the
//! blocking call.
//!
//! ```
//! # use wasm_link::{PluginData, PluginTreeHead, Socket, Val};
//! async fn answer<P: PluginData + Send + 'static>(head: &PluginTreeHead<P>) -> Option<u32> {
//!     match head.dispatch_async("my:package/example", "get-value", true, &[]).await {
//!         Socket::ExactlyOne(Ok(Val::U32(n))) => Some(n),
//!         _ => None,
//!     }
//! }
//! ```
//!
//! # Naming rule
//!
//! An interface travels between plugins as one component instance:
//!
//! - a [`package_name`](InterfaceData::package_name) that names an interface,
//!   `ns:pkg/iface` (optionally `@version`), is that instance's name: plugins
//!   export their plug and import their sockets under exactly that name;
//! - a bare package, `ns:pkg` (optionally `@version`), means the instance
//!   `ns:pkg/root` (`ns:pkg/root@version`), the convention of components
//!   built for wasm-link 0.1.0.
//!
//! [`PluginTreeHead::dispatch`] accepts either spelling of the root interface.
//! Function names are the component's export names: `get-value`, and for
//! resources `[constructor]doc`, `[method]doc.text`, `[static]doc.open`.
//!
//! # Sockets: what a consumer receives
//!
//! A consumer imports a socket interface's functions in a shape of its
//! choosing; the runtime picks it from the declared import type at load time:
//!
//! | cardinality | accepted import results |
//! |---|---|
//! | `ExactlyOne` | `T`, `result<T>`, `result<T, E>` |
//! | `AtMostOne` | `option<T>`, `option<result<T>>`, `option<result<T, E>>` |
//! | `AtLeastOne`, `Any` | `list<T>`, `list<result<T>>`, `list<result<T, E>>`, `list<tuple<string, result<T>>>`, `list<tuple<string, result<T, E>>>` |
//!
//! `T` is the provider's result, `E` is `string` or the `dispatch-error`
//! variant of `wit/runtime.wit` (package `wasm-link:runtime`). The error-less
//! forms (`result<T>`, `option<result<T>>`, `list<result<T>>`), which
//! components built for wasm-link 0.1.0 import, tell the consumer that a call
//! failed but not why; a resource constructor can be imported that way too
//! (`constructor() -> result<counter>`). When the provider itself returns the
//! declared type (say `result<T>`), the import is plain `T`: the provider's
//! own `err` passes through unchanged. Lists are in
//! plugin-id order; the tagged form carries the plugin id first. With plain
//! `T`, `option<T>` or `list<T>`, a failure behind the socket traps the
//! consumer, and the host receives a [`DispatchError::Socket`] whose source
//! names the plugin and function that failed. Functions without a result follow
//! the same rules with `T` = nothing. Resource methods always take the
//! single-plugin shapes: they run in the plugin that owns the resource.
//!
//! # Parallel dispatch
//!
//! A dispatch to a multi-plugin root runs its plugins' calls in parallel once
//! they have been measured to cost more than a few microseconds each (a moving
//! average per function): on the calling thread and on a pool of one thread
//! fewer than the cores (`wasm-link-fan-out-N`). Cheaper calls, and every call
//! made from inside a plugin, run in turn, since spreading them over threads
//! costs more than it saves.
//!
//! # Budgets and recovery
//!
//! Every plugin runs under finite [`Limits`]: a deadline per call (5 s), linear
//! memory (64 MiB), table elements, held resource handles and, when the engine
//! consumes fuel, fuel. A call that exceeds one fails with
//! [`DispatchError::BudgetExceeded`] naming the [`Budget`] and the figure it
//! hit; the plugin is re-instantiated for the next call, and a [`Recovery`]
//! policy can quarantine a plugin that keeps failing.
//! [`PluginTreeHead::health`] reports every plugin's calls and failures.
//! Deadlines have a granularity of 5 ms: the runtime advances the engine's
//! epoch every 5 ms and rounds a deadline up to whole ticks. They need an
//! engine with epoch interruption:
//!
//! ```
//! let engine = wasm_link::default_engine().expect("a supported host");
//! assert!(engine.get_epoch_interruption());
//! ```
//!
//! With `Engine::default()`, as in the example above, everything works but
//! deadlines are not enforced. [`PluginData::grants`] restricts what a plugin
//! may import besides its sockets.
//!
//! # Host functions and the store data
//!
//! Every plugin runs in a store of its own whose data is a [`PluginCtx`]:
//! the plugin value, plus the runtime's state of the call the store serves
//! (budgets, call chain, depth). The linker given to
//! [`PluginTree::load`] is a `Linker<PluginCtx<P>>`; a host function reaches
//! its plugin's value by dereferencing the store data (see [`PluginCtx`]).
//! Budgets live with the store, not with the thread, so nothing of a call
//! outlives it: a panic unwinding out of a host function leaves the thread
//! clean and gets the plugin it unwound through re-instantiated.
//!
//! A socket hop costs the host 1.7 KiB of native stack in a release build
//! (9.4 KiB in debug). A plugin is always entered with at least 1 MiB of
//! native stack left, a deep chain continuing on fresh stack segments, so a
//! chain as deep as [`Limits::depth`] allows completes on any thread.
//!
//! # Freezing
//!
//! With the cargo feature `freeze`, [`PluginTree::load_with`] and
//! [`LoadOptions::freeze`] compose each group of plugins joined by plain
//! `ExactlyOne` edges (same limits, recovery and grants, not pooled, bytes
//! given by [`PluginData::component_bytes`]) into one component with
//! `wac-graph`: calls inside the group cost what calls inside one component
//! cost, and the group runs in one store (one budget, one re-instantiation,
//! one quarantine, named by its top member). Everything else stays
//! dynamic; [`PluginTreeHead::freeze_report`] says what froze and why the
//! other `ExactlyOne` edges did not ([`NotFrozen`]).
//!
//! # Engine configuration
//!
//! The user owns the [`Engine`]. This crate depends on wasmtime with
//! `default-features = false`: wasmtime's default `component-model-async`
//! feature makes every host-to-guest call about four times slower. Cargo
//! unifies features, so any crate in your build that depends on wasmtime with
//! default features switches that slow path back on; check with
//! `cargo tree -e features -i wasmtime`.

// The layers, in the order data flows through them (see README
// "Architecture"): what the user describes, the graph built from it, the
// load that turns it into running plugins, and the head the host calls.
#[cfg(feature = "dir")]
pub mod dir;
mod graph;
mod head;
mod instance;
mod load;
#[cfg(feature = "remote")]
pub mod remote;
mod shape;
mod socket;
mod spec;
mod stats;

mod dispatch_error;
mod limits;
mod partial;
mod types;
mod wasm_error;

pub use dispatch_error::{DispatchError, NestedDispatchError};
pub use graph::{BoxError, PluginTree, PluginTreeError};
pub use head::PluginTreeHead;
pub use head::typed::{TypedDispatch, TypedResult};
pub use instance::ctx::PluginCtx;
pub use instance::health::{PluginHealth, PluginState};
#[cfg(feature = "pooling")]
pub use limits::pooling_engine_config;
pub use limits::{Budget, Limits, Quarantine, Recovery, default_engine, engine_config};
pub use load::{DynamicEdge, FreezeReport, FrozenGroup, LoadError, LoadOptions, NestedLoadError, NotFrozen, SwapError};
pub use partial::{PartialResult, PartialSuccess};
#[cfg(feature = "remote")]
pub use remote::{AddressHealth, Remote, RemoteError};
pub use shape::socket::{Iter as SocketIter, Socket};
pub use spec::interface::{FunctionData, InterfaceCardinality, InterfaceData, ReturnKind};
pub use spec::plugin::{PluginCtxView, PluginData};
#[cfg(feature = "wit")]
pub use spec::wit::{
    RUNTIME_WIT, SignatureMismatch, WitError, WitFunction, WitInterface, find_interface, runtime_resolve,
};
pub use stats::{EdgeStats, Latency};
pub use wasm_error::{WasmError, error_chain};

pub use wasmtime::component::{Component, Linker, ResourceAny, ResourceTable, Val};
pub use wasmtime::{Engine, Trap};
