//! The demo application: a document pipeline assembled from the plugin
//! directory `demo/` (or the directory given as first argument), run on the
//! sample document embedded in the binary.
//!
//! `demo/plugins/` holds a parser (`ExactlyOne`, returning a `document`
//! resource), transforms (`Any`, each lent the document), analysers
//! (`AtLeastOne`) and an optional formatter (`AtMostOne`). Remove a plugin
//! folder and the output changes: without `table-formatter` the pipeline uses
//! its built-in plain format.

use std::path::PathBuf;
use std::process::ExitCode;

use wasm_link::dir::{CompileCache, DirOptions, PluginDir};
use wasm_link::{Socket, Val};

const SAMPLE: &str = include_str!("../../../demo/sample.md");

fn main() -> ExitCode {
    let dir = std::env::args_os().nth(1).map_or_else(|| PathBuf::from(wasm_link_guests::DEMO_DIR), PathBuf::from);
    // SAFETY: the cache lives in this workspace's own `target/` directory,
    // written only by the user who builds and runs the demo (as trusted as
    // the demo binary built into the same directory).
    #[allow(unsafe_code, reason = "a compile cache in the workspace's own build directory")]
    let cache = unsafe { CompileCache::new(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/demo-cache")) };
    let plugin_dir = match PluginDir::open(&dir, &DirOptions { cache: Some(cache) }) {
        Ok(plugin_dir) => plugin_dir,
        Err(error) => {
            eprintln!("cannot open {}: {}", dir.display(), wasm_link::error_chain(&error));
            return ExitCode::FAILURE;
        }
    };
    println!("plugin directory: {}", dir.display());
    for error in &plugin_dir.errors {
        println!("  skipped: {}", wasm_link::error_chain(error));
    }
    let (tree, build_errors) = plugin_dir.into_tree();
    for error in &build_errors {
        println!("  not in the graph: {}", wasm_link::error_chain(error));
    }
    let engine = match wasm_link::default_engine() {
        Ok(engine) => engine,
        Err(error) => {
            eprintln!("cannot create the engine: {error}");
            return ExitCode::FAILURE;
        }
    };
    let linker = match PluginDir::linker(&engine) {
        Ok(linker) => linker,
        Err(error) => {
            eprintln!("cannot set up the linker: {error}");
            return ExitCode::FAILURE;
        }
    };
    let (head, load_errors) = match tree.load(&engine, &linker) {
        Ok(loaded) => loaded,
        Err((error, others)) => {
            for other in &others {
                println!("  not loaded: {}", wasm_link::error_chain(other));
            }
            eprintln!("the application cannot run: {}", wasm_link::error_chain(&error));
            return ExitCode::FAILURE;
        }
    };
    for error in &load_errors {
        println!("  not loaded: {}", wasm_link::error_chain(error));
    }
    let loaded: Vec<&str> = head.loaded_plugin_ids().into_iter().map(String::as_str).collect();
    println!("  loaded: {}", loaded.join(", "));
    println!("running `{}` on the sample document\n", head.interface_path());
    match head.dispatch(head.interface_path(), "run", true, &[Val::String(SAMPLE.to_owned())]) {
        Socket::ExactlyOne(Ok(Val::String(report))) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Socket::ExactlyOne(Err(error)) => {
            eprintln!("the pipeline failed: {}", wasm_link::error_chain(&error));
            ExitCode::FAILURE
        }
        other => {
            eprintln!("unexpected result: {other:?}");
            ExitCode::FAILURE
        }
    }
}
