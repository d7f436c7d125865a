//! `wasm-link serve`: a directory's interface served over wRPC (framed
//! TCP, a NATS lattice, or both), for remote plugins of other hosts.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use wasm_link::LoadOptions;
use wasm_link::dir::{DirOptions, PluginDir};

use crate::with_causes;

/// Where `serve` takes calls from: a TCP address, a NATS server, or both.
pub struct Endpoints<'a> {
    pub listen: Option<&'a str>,
    pub nats: Option<&'a str>,
    pub prefix: &'a str,
}

/// `wasm-link serve DIR (--listen ADDR | --nats URL [--prefix P])
/// [--interface ID]`: loads the tree rooted at `interface` (the directory's
/// root by default) for async calls and serves it until interrupted.
pub fn run(
    dir: &Path,
    endpoints: &Endpoints<'_>,
    interface: Option<&str>,
    cache: Option<std::path::PathBuf>,
) -> Result<ExitCode, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    runtime.block_on(serve(dir, endpoints, interface, cache))
}

async fn serve(
    dir: &Path,
    endpoints: &Endpoints<'_>,
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
    let head = Arc::new(head);
    let tcp = async {
        let Some(listen) = endpoints.listen else { return std::future::pending().await };
        let listener =
            tokio::net::TcpListener::bind(listen).await.map_err(|e| format!("cannot listen on `{listen}`: {e}"))?;
        let address = listener.local_addr().map_err(|e| e.to_string())?;
        wasm_link::remote::serve(head.clone(), listener, |served| {
            println!("serving `{}` ({}) on tcp://{address}", served.instance, served.functions.join(", "));
            for function in &served.skipped {
                println!("not served: `{function}` (a resource cannot cross the wire)");
            }
        })
        .await
        .map_err(|e| with_causes(&e))
    };
    let nats = async {
        let Some(url) = endpoints.nats else { return std::future::pending().await };
        let client = wasm_link::remote::async_nats::ConnectOptions::new()
            .name("wasm-link serve")
            .connect(url)
            .await
            .map_err(|e| format!("cannot connect to NATS at `{url}`: {e}"))?;
        let prefix = endpoints.prefix;
        wasm_link::remote::serve_nats(head.clone(), client, prefix, |served| {
            let lattice = if prefix.is_empty() { String::new() } else { format!(", prefix `{prefix}`") };
            println!(
                "serving `{}` ({}) on {url}{lattice}, queue group `wasm-link`",
                served.instance,
                served.functions.join(", ")
            );
            for function in &served.skipped {
                println!("not served: `{function}` (a resource cannot cross the wire)");
            }
        })
        .await
        .map_err(|e| with_causes(&e))
    };
    // Until one of them stops (an error); each runs until interrupted.
    tokio::select! {
        outcome = tcp => outcome?,
        outcome = nats => outcome?,
    }
    Ok(ExitCode::SUCCESS)
}
