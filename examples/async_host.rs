//! An async host: a plugin awaits a host function that does real async I/O.
//! Run with `cargo run --example async_host`.
//!
//! The plugin `file-stats` (a Rust guest, `guests/file-stats`) imports
//! `example:files/host#read`, which the host defines with `func_wrap_async`
//! and implements with tokio's file I/O, confined to this workspace. A
//! plugin that imports an async host function is entered asynchronously, so
//! the tree is loaded with `load_async` and called with `dispatch_async`:
//! while the host reads a file, the plugin's call is suspended and the
//! executor's thread is free for other tasks.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use wasm_link::dir::{DirOptions, PluginDir};
use wasm_link::{Socket, Val};

/// The guest's WIT: both the host's interface and the plugin's plug.
const WIT: &str = include_str!("../guests/file-stats/wit/world.wit");

#[tokio::main]
async fn main() -> ExitCode {
    // Boxed: a plugin directory's load holds each plugin's WASI context.
    match Box::pin(run()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    // A plugin directory as a deployment would ship it.
    let dir = tempfile::tempdir().map_err(|e| format!("cannot make a temporary directory: {e}"))?;
    write_plugin_dir(dir.path()).map_err(|e| format!("cannot write the plugin directory: {e}"))?;
    let plugin_dir = PluginDir::open(dir.path(), &DirOptions::default()).map_err(|e| wasm_link::error_chain(&e))?;
    let (tree, build_errors) = plugin_dir.into_tree();
    if let Some(error) = build_errors.first() {
        return Err(wasm_link::error_chain(error));
    }

    let engine = wasm_link::default_engine().map_err(|e| e.to_string())?;
    // WASI as async host functions, plus the host's own `read`.
    let mut linker = PluginDir::linker_async(&engine).map_err(|e| e.to_string())?;
    let allowed = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    linker
        .instance("example:files/host@0.1.0")
        .and_then(|mut host| {
            host.func_wrap_async("read", move |_store, (path,): (String,)| {
                let allowed = allowed.clone();
                Box::new(async move { Ok((read_within(&allowed, &path).await,)) })
            })
        })
        .map_err(|e| format!("cannot define the host function: {e}"))?;

    let (head, load_errors) =
        tree.load_async(&engine, &linker).await.map_err(|(error, _)| wasm_link::error_chain(&error))?;
    if let Some(error) = load_errors.first() {
        return Err(wasm_link::error_chain(error));
    }

    // Several calls at once; each awaits its own file read.
    let paths = ["README.md", "demo/sample.md", "Cargo.toml", "missing.txt", "../../etc/passwd"];
    let calls = paths.iter().map(|path| {
        let args = [Val::String((*path).to_owned())];
        let head = &head;
        async move { head.dispatch_async(head.interface_path(), "describe", true, &args).await }
    });
    for result in futures_util::future::join_all(calls).await {
        match result {
            Socket::ExactlyOne(Ok(Val::String(line))) => println!("{line}"),
            Socket::ExactlyOne(Err(error)) => println!("failed: {}", wasm_link::error_chain(&error)),
            other => println!("unexpected: {other:?}"),
        }
    }
    Ok(())
}

/// Reads a text file below `allowed`, never outside it: the plugin names
/// the path, the host decides.
async fn read_within(allowed: &Path, path: &str) -> Result<String, String> {
    let full = tokio::fs::canonicalize(allowed.join(path)).await.map_err(|e| e.to_string())?;
    if !full.starts_with(allowed) {
        return Err("outside the directory the host allows".to_owned());
    }
    tokio::fs::read_to_string(&full).await.map_err(|e| e.to_string())
}

/// `wasm-link.toml`, the `stats` interface and the `file-stats` plugin, with
/// the grant for the host's interface.
fn write_plugin_dir(dir: &Path) -> std::io::Result<()> {
    let interface = dir.join("interfaces/stats");
    let plugin = dir.join("plugins/file-stats");
    std::fs::create_dir_all(&interface)?;
    std::fs::create_dir_all(&plugin)?;
    std::fs::write(dir.join("wasm-link.toml"), "root = \"stats\"\n")?;
    std::fs::write(
        interface.join("interface.toml"),
        "cardinality = \"exactly-one\"\ninterface = \"example:files/stats@0.1.0\"\n",
    )?;
    std::fs::write(interface.join("files.wit"), WIT)?;
    std::fs::write(
        plugin.join("plugin.toml"),
        "id = \"file-stats\"\nplug = \"stats\"\ncomponent = \"file-stats.wasm\"\ngrants = [\"example:files/host\"]\n",
    )?;
    let built = wasm_link_guests::component("file-stats")
        .ok_or_else(|| std::io::Error::other("the file-stats guest was not built"))?;
    std::fs::copy(built, plugin.join("file-stats.wasm"))?;
    Ok(())
}
