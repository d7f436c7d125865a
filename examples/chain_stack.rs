//! How much native stack one socket hop costs the host, and how deep a chain
//! runs on a 2 MiB thread.
//!
//! Builds a chain of `ExactlyOne` plugins, each calling a host function that
//! records the address of one of its locals before it calls the next plugin,
//! and reports the bytes between consecutive hops. Then it runs a chain of
//! 999 hops, the deepest the default depth limit allows, on a thread with a
//! 2 MiB stack.
//!
//! ```sh
//! cargo run --example chain_stack              # debug build
//! cargo run --example chain_stack --release
//! ```

use std::sync::Mutex;

use wasm_link::{
    Component, Engine, FunctionData, InterfaceCardinality, InterfaceData, Linker, PluginCtx, PluginCtxView, PluginData,
    PluginTree, ResourceTable, ReturnKind, Socket, Val,
};
use wit_component::{ComponentEncoder, StringEncoding};
use wit_parser::Resolve;

struct Func;
impl FunctionData for Func {
    fn name(&self) -> &'static str {
        "next"
    }
    fn return_kind(&self) -> ReturnKind {
        ReturnKind::AssumeNoResources
    }
    fn is_method(&self) -> bool {
        false
    }
}

struct Interface {
    id: String,
    path: String,
    functions: [Func; 1],
}
impl InterfaceData for Interface {
    type Id = String;
    type Error = std::convert::Infallible;
    type Function = Func;
    type FunctionIter<'a> = std::slice::Iter<'a, Func>;
    type ResourceIter<'a> = std::iter::Empty<&'a String>;
    fn id(&self) -> Result<&String, Self::Error> {
        Ok(&self.id)
    }
    fn cardinality(&self) -> Result<&InterfaceCardinality, Self::Error> {
        Ok(&InterfaceCardinality::ExactlyOne)
    }
    fn package_name(&self) -> Result<&str, Self::Error> {
        Ok(&self.path)
    }
    fn functions(&self) -> Result<Self::FunctionIter<'_>, Self::Error> {
        Ok(self.functions.iter())
    }
    fn resources(&self) -> Result<Self::ResourceIter<'_>, Self::Error> {
        Ok(std::iter::empty())
    }
}

struct Plugin {
    id: String,
    plug: String,
    sockets: Vec<String>,
    wasm: Vec<u8>,
    table: ResourceTable,
}
impl PluginCtxView for Plugin {
    fn resource_table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }
}
impl PluginData for Plugin {
    type Id = String;
    type InterfaceId = String;
    type Error = wasm_link::WasmError;
    type SocketIter<'a> = std::slice::Iter<'a, String>;
    fn id(&self) -> Result<&String, Self::Error> {
        Ok(&self.id)
    }
    fn plug(&self) -> Result<&String, Self::Error> {
        Ok(&self.plug)
    }
    fn sockets(&self) -> Result<Self::SocketIter<'_>, Self::Error> {
        Ok(self.sockets.iter())
    }
    fn component(&self, engine: &Engine) -> Result<Component, Self::Error> {
        Component::new(engine, &self.wasm).map_err(wasm_link::WasmError::from)
    }
}

/// Plugin `i` marks the stack, then calls `l{i+1}` and adds one; the last
/// returns 0.
fn link(i: u32, depth: u32) -> Result<Vec<u8>, BoxError> {
    let (wit, wat) = if i == depth {
        (
            format!(
                "package test:chain; interface probe {{ mark: func(); }} interface l{i} {{ next: func() -> u32; }}
                 world w {{ import probe; export l{i}; }}"
            ),
            format!(
                r#"(module (import "test:chain/probe" "mark" (func $mark))
                    (func (export "test:chain/l{i}#next") (result i32) (call $mark) i32.const 0))"#
            ),
        )
    } else {
        let j = i + 1;
        (
            format!(
                "package test:chain; interface probe {{ mark: func(); }}
                 interface l{i} {{ next: func() -> u32; }} interface l{j} {{ next: func() -> u32; }}
                 world w {{ import probe; import l{j}; export l{i}; }}"
            ),
            format!(
                r#"(module (import "test:chain/probe" "mark" (func $mark))
                    (import "test:chain/l{j}" "next" (func $next (result i32)))
                    (func (export "test:chain/l{i}#next") (result i32) (call $mark) (i32.add (call $next) (i32.const 1))))"#
            ),
        )
    };
    let mut resolve = Resolve::new();
    let package = resolve.push_source("chain.wit", &wit)?;
    let world = resolve.select_world(&[package], Some("w"))?;
    let mut module = wat::parse_str(&wat)?;
    wit_component::embed_component_metadata(&mut module, &resolve, world, StringEncoding::UTF8)?;
    Ok(ComponentEncoder::default().module(&module)?.validate(true).encode()?)
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Stack addresses the host function saw, one per hop.
static MARKS: Mutex<Vec<usize>> = Mutex::new(Vec::new());

/// Loads a chain of `depth` hops below its root and calls it on a thread
/// with a 2 MiB stack.
fn run(depth: u32) -> Result<Result<Val, String>, BoxError> {
    let mut interfaces = Vec::new();
    let mut plugins = Vec::new();
    for i in 0..=depth {
        let id = format!("l{i}");
        interfaces.push(Interface { path: format!("test:chain/{id}"), id: id.clone(), functions: [Func] });
        let sockets = if i < depth { vec![format!("l{}", i + 1)] } else { Vec::new() };
        plugins.push(Plugin {
            id: format!("c{i}"),
            plug: id,
            sockets,
            wasm: link(i, depth)?,
            table: ResourceTable::new(),
        });
    }
    let (tree, build_errors) = PluginTree::new("l0".to_owned(), interfaces, plugins);
    assert!(build_errors.is_empty(), "{build_errors:?}");
    let engine = wasm_link::default_engine().map_err(|e| e.to_string())?;
    let mut linker: Linker<PluginCtx<Plugin>> = Linker::new(&engine);
    linker
        .instance("test:chain/probe")
        .and_then(|mut probe| {
            probe.func_wrap("mark", |_store, (): ()| {
                let local = 0u8;
                MARKS.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(std::ptr::from_ref(&local).addr());
                Ok(())
            })
        })
        .map_err(|e| e.to_string())?;
    let (head, errors) = tree.load(&engine, &linker).map_err(|(e, _)| e.to_string())?;
    assert!(errors.is_empty(), "{errors:?}");
    MARKS.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
    let outcome = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || match head.dispatch("test:chain/l0", "next", true, &[]) {
            Socket::ExactlyOne(result) => result.map_err(|e| wasm_link::error_chain(&e)),
            _ => Err("not an ExactlyOne root".to_owned()),
        })?
        .join()
        .map_err(|_| "the dispatching thread panicked")?;
    Ok(outcome)
}

fn main() -> Result<(), BoxError> {
    let build = if cfg!(debug_assertions) { "debug" } else { "release" };
    // Short enough to stay on the thread's own stack: consecutive marks are
    // one hop apart.
    let short = 30;
    run(short)??;
    let marks = MARKS.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
    let mut hops: Vec<usize> = marks.windows(2).map(|pair| pair[0].abs_diff(pair[1])).collect();
    hops.sort_unstable();
    let median = hops.get(hops.len() / 2).copied().unwrap_or_default();
    println!("{build}: host stack per socket hop: {median} bytes (median of {} hops)", hops.len());
    // The deepest chain the default depth limit (1000 calls) allows.
    let deep = 999;
    let started = std::time::Instant::now();
    let outcome = run(deep)?;
    println!("{build}: a chain of {deep} hops on a 2 MiB thread: {outcome:?} in {:?}", started.elapsed());
    Ok(())
}
