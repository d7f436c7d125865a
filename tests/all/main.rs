//! Integration tests: one binary (wasmtime links once), a module per behaviour.
#![allow(missing_docs, dead_code, reason = "a test binary: helpers are shared across modules")]
#![allow(clippy::missing_panics_doc, clippy::result_large_err, reason = "test helpers panic by design")]

mod fixtures;
mod freeze;
mod hostile;
mod http_fixture;
mod nats_server;
mod plugins;
mod polyglot;
mod pools;

#[cfg(feature = "component-model-async")]
mod async_funcs;
mod asynchronous;
mod callpath;
mod capabilities;
mod cardinality;
mod compat;
mod dir;
mod dispatch;
mod fuzz;
mod guest_logs;
mod later_releases;
mod lattice;
mod live;
mod loading;
mod remote;
mod resources;
mod server;
mod soak;
mod sockets;
mod stats;
mod threads;
#[cfg(feature = "otel")]
mod trace;
mod tree;
mod versions;
mod watch;
mod wit;
mod wrappers;

use wasm_link::{Engine, Linker, LoadError, PluginTree, PluginTreeHead};

use fixtures::{Interface, Plugin};

pub type Head = PluginTreeHead<Plugin>;
pub type Load = LoadError<String, String>;

/// Builds and loads a tree, asserting the build found nothing wrong.
#[must_use]
pub fn load(root: &str, interfaces: Vec<Interface>, plugins: Vec<Plugin>) -> (Head, Vec<Load>) {
    load_on(&Engine::default(), root, interfaces, plugins)
}

/// Like [`load`], on a given engine.
#[must_use]
pub fn load_on(engine: &Engine, root: &str, interfaces: Vec<Interface>, plugins: Vec<Plugin>) -> (Head, Vec<Load>) {
    let (tree, build_errors) = PluginTree::new(root.to_owned(), interfaces, plugins);
    assert!(build_errors.is_empty(), "unexpected build errors: {build_errors:#?}");
    let linker = Linker::new(engine);
    match tree.load(engine, &linker) {
        Ok(loaded) => loaded,
        Err((primary, others)) => panic!("root cannot be served: {primary}; others: {others:#?}"),
    }
}

/// Like [`load_on`], with [`PluginTree::load_async`] and a given linker.
pub async fn load_async_with(
    engine: &Engine,
    linker: &Linker<wasm_link::PluginCtx<Plugin>>,
    root: &str,
    interfaces: Vec<Interface>,
    plugins: Vec<Plugin>,
) -> (Head, Vec<Load>) {
    let (tree, build_errors) = PluginTree::new(root.to_owned(), interfaces, plugins);
    assert!(build_errors.is_empty(), "unexpected build errors: {build_errors:#?}");
    match tree.load_async(engine, linker).await {
        Ok(loaded) => loaded,
        Err((primary, others)) => panic!("root cannot be served: {primary}; others: {others:#?}"),
    }
}

/// Loads a tree that must load without any error.
#[must_use]
pub fn load_clean(root: &str, interfaces: Vec<Interface>, plugins: Vec<Plugin>) -> Head {
    let (head, errors) = load(root, interfaces, plugins);
    assert!(errors.is_empty(), "unexpected load errors: {errors:#?}");
    head
}

/// The health of one loaded plugin.
#[must_use]
pub fn health_of(head: &Head, plugin: &str) -> wasm_link::PluginHealth<String> {
    head.health().into_iter().find(|h| h.plugin == plugin).unwrap_or_else(|| panic!("no plugin `{plugin}`"))
}

/// The public errors are `std::error::Error`s, usable as `dyn Error` with
/// their whole source chain.
#[test]
fn public_errors_are_std_errors() {
    fn is_error<E: std::error::Error + Send + Sync + 'static>() {}
    is_error::<wasm_link::PluginTreeError<String, String>>();
    is_error::<LoadError<String, String>>();
    is_error::<wasm_link::DispatchError<String>>();
    is_error::<wasm_link::NestedLoadError<String, String>>();
    is_error::<wasm_link::NestedDispatchError<String>>();
}
