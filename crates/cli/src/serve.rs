//! `wasm-link serve`: a directory's interface served over wRPC (framed
//! TCP), for remote plugins of other hosts.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use wasm_link::LoadOptions;
use wasm_link::dir::{DirOptions, PluginDir};

use crate::with_causes;

/// `wasm-link serve DIR --listen ADDR [--interface ID]`: loads the tree
/// rooted at `interface` (the directory's root by default) for async calls
/// and serves it until interrupted.
pub fn run(
    dir: &Path,
    listen: &str,
    interface: Option<&str>,
    cache: Option<std::path::PathBuf>,
) -> Result<ExitCode, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    runtime.block_on(serve(dir, listen, interface, cache))
}

async fn serve(
    dir: &Path,
    listen: &str,
    interface: Option<&str>,
    cache: Option<std::path::PathBuf>,
) -> Result<ExitCode, String> {
    let options = DirOptions { cache: cache.map(crate::load::compile_cache) };
    let mut plugin_dir = crate::load::open_dir(dir, &options)?;
    if let Some(interface) = interface {
        interface.clone_into(&mut plugin_dir.root);
    }
    for error in &plugin_dir.errors {
        eprintln!("skipped: {}", with_causes(error));
    }
    let engine = wasm_link::default_engine().map_err(|e| e.to_string())?;
    let root = plugin_dir.root.clone();
    let (tree, build_errors) = plugin_dir.into_tree();
    for error in &build_errors {
        eprintln!("graph: {}", with_causes(error));
    }
    let linker = PluginDir::linker_async(&engine).map_err(|e| e.to_string())?;
    let (head, errors) = tree
        .load_async_with(&engine, &linker, &LoadOptions::new())
        .await
        .map_err(|(error, _)| format!("`{root}` cannot be served: {}", with_causes(&error)))?;
    for error in &errors {
        eprintln!("not loaded: {}", with_causes(error));
    }
    let listener =
        tokio::net::TcpListener::bind(listen).await.map_err(|e| format!("cannot listen on `{listen}`: {e}"))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    wasm_link::remote::serve(Arc::new(head), listener, |served| {
        println!("serving `{}` ({}) on tcp://{address}", served.instance, served.functions.join(", "));
        for function in &served.skipped {
            println!("not served: `{function}` (a resource cannot cross the wire)");
        }
    })
    .await
    .map_err(|e| with_causes(&e))?;
    Ok(ExitCode::SUCCESS)
}
