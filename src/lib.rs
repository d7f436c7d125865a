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
//! # Guide
//!
//! The sections below are the pages in the repository's `docs/` folder,
//! the same text its README links to: naming and shapes, budgets and the
//! threat model, host functions, async hosts, live plugins, statistics,
//! freezing and engines. Plugin directories and the `wasm-link` command
//! are in the `dir` module (feature `dir`), remote plugins in `remote`
//! (feature `remote`).
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
#![doc = include_str!("../docs/naming-and-shapes.md")]
#![doc = include_str!("../docs/budgets-and-threat-model.md")]
#![doc = include_str!("../docs/host-functions.md")]
#![doc = include_str!("../docs/async.md")]
#![doc = include_str!("../docs/live-plugins.md")]
#![doc = include_str!("../docs/statistics.md")]
#![doc = include_str!("../docs/freezing.md")]
#![doc = include_str!("../docs/engines.md")]
#![doc = include_str!("../docs/writing-plugins.md")]
// On docs.rs, each feature-gated item says which feature it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

// The layers, in the order data flows through them (see ARCHITECTURE.md,
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
#[cfg(feature = "otel")]
mod trace;

mod dispatch_error;
mod limits;
mod partial;
mod types;
mod wasm_error;

pub use dispatch_error::{DispatchError, NestedDispatchError};
pub use graph::{BoxError, PluginTree, PluginTreeError};
pub use head::PluginTreeHead;
pub use head::typed::{TypedDispatch, TypedParams, TypedResult, TypedResults};
pub use instance::ctx::PluginCtx;
pub use instance::health::{AddressHealth, PluginHealth, PluginState};
#[cfg(feature = "component-model-async")]
pub use limits::async_func_engine_config;
#[cfg(feature = "pooling")]
pub use limits::pooling_engine_config;
pub use limits::{Budget, Limits, Quarantine, Recovery, default_engine, engine_config};
pub use load::{DynamicEdge, FreezeReport, FrozenGroup, LoadError, LoadOptions, NestedLoadError, NotFrozen, SwapError};
/// The OpenTelemetry API this crate's spans and metrics are made with
/// (feature `otel`): a host's `Meter` for [`otel_metrics`] comes from it.
#[cfg(feature = "otel")]
pub use opentelemetry;
pub use partial::{PartialResult, PartialSuccess};
#[cfg(feature = "remote")]
pub use remote::{Remote, RemoteError};
pub use shape::socket::{Iter as SocketIter, Socket};
pub use spec::interface::{FunctionData, InterfaceCardinality, InterfaceData, ReturnKind};
pub use spec::key::Key;
pub use spec::plugin::{PluginCtxView, PluginData};
#[cfg(feature = "wit")]
pub use spec::wit::{
    RUNTIME_WIT, RUNTIME_WIT_VERSION, SignatureMismatch, WitError, WitFunction, WitInterface, find_interface,
    runtime_resolve,
};
#[cfg(feature = "otel")]
pub use stats::otel_metrics;
pub use stats::{EdgeStats, Latency, prometheus_text};
pub use wasm_error::{WasmError, error_chain};

pub use wasmtime::component::{Component, Linker, ResourceAny, ResourceTable, Val};
pub use wasmtime::{Engine, Trap};
