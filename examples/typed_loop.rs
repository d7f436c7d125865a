//! A loop of typed calls, raw wasmtime or through wasm-link, for counting
//! what one call costs with `valgrind --tool=callgrind` (instruction counts
//! are repeatable where wall-clock time on a small VM is not):
//!
//! ```sh
//! cargo build --release --example typed_loop
//! for mode in raw typed; do for n in 1 20001; do
//!     valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.$mode.$n \
//!         target/release/examples/typed_loop $mode $n 2>&1 | grep Collected
//! done; done
//! ```
//!
//! Instructions per call = (count at 20001 - count at 1) / 20000.

use wasm_link::{
    Component, Engine, FunctionData, InterfaceCardinality, InterfaceData, Linker, PluginCtxView, PluginData,
    PluginTree, ResourceTable, ReturnKind, Socket, WasmError,
};

/// `bench:b/callee`: `get(x) = x + 1`, as in the benchmarks.
const CALLEE: &str = r#"(component
    (core module $m (func (export "get") (param i32) (result i32) (i32.add (local.get 0) (i32.const 1))))
    (core instance $i (instantiate $m))
    (func $get (param "x" u32) (result u32) (canon lift (core func $i "get")))
    (instance $callee (export "get" (func $get)))
    (export "bench:b/callee" (instance $callee)))"#;

struct Get;
impl FunctionData for Get {
    fn name(&self) -> &'static str {
        "get"
    }
    fn return_kind(&self) -> ReturnKind {
        ReturnKind::AssumeNoResources
    }
    fn is_method(&self) -> bool {
        false
    }
}

struct Callee([Get; 1]);
impl InterfaceData for Callee {
    type Id = &'static str;
    type Error = std::convert::Infallible;
    type Function = Get;
    type FunctionIter<'a> = std::slice::Iter<'a, Get>;
    type ResourceIter<'a> = std::iter::Empty<&'a String>;
    fn id(&self) -> Result<&&'static str, Self::Error> {
        Ok(&"callee")
    }
    fn cardinality(&self) -> Result<&InterfaceCardinality, Self::Error> {
        Ok(&InterfaceCardinality::ExactlyOne)
    }
    fn package_name(&self) -> Result<&'static str, Self::Error> {
        Ok("bench:b/callee")
    }
    fn functions(&self) -> Result<Self::FunctionIter<'_>, Self::Error> {
        Ok(self.0.iter())
    }
    fn resources(&self) -> Result<Self::ResourceIter<'_>, Self::Error> {
        Ok(std::iter::empty())
    }
}

struct Plugin(ResourceTable);
impl PluginCtxView for Plugin {
    fn resource_table(&mut self) -> &mut ResourceTable {
        &mut self.0
    }
}
impl PluginData for Plugin {
    type Id = &'static str;
    type InterfaceId = &'static str;
    type Error = WasmError;
    type SocketIter<'a> = std::iter::Empty<&'a &'static str>;
    fn id(&self) -> Result<&&'static str, Self::Error> {
        Ok(&"plugin")
    }
    fn plug(&self) -> Result<&&'static str, Self::Error> {
        Ok(&"callee")
    }
    fn sockets(&self) -> Result<Self::SocketIter<'_>, Self::Error> {
        Ok(std::iter::empty())
    }
    fn component(&self, engine: &Engine) -> Result<Component, Self::Error> {
        Ok(Component::new(engine, CALLEE)?)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "typed".to_owned());
    let calls: u32 = std::env::args().nth(2).and_then(|n| n.parse().ok()).unwrap_or(1_000_000);
    let engine = Engine::default();

    let (tree, _) = PluginTree::new("callee", [Callee([Get])], [Plugin(ResourceTable::new())]);
    let (head, _) = tree.load(&engine, &Linker::new(&engine)).map_err(|(error, _)| error.to_string())?;
    let typed = head.typed::<(u32,), (u32,)>("get").map_err(|_| "no `get`")?;

    let mut store = wasmtime::Store::new(&engine, ());
    let component = Component::new(&engine, CALLEE).map_err(|e| e.to_string())?;
    let instance =
        wasmtime::component::Linker::new(&engine).instantiate(&mut store, &component).map_err(|e| e.to_string())?;
    let interface = instance.get_export_index(&mut store, None, "bench:b/callee").ok_or("no interface")?;
    let get = instance.get_export_index(&mut store, Some(&interface), "get").ok_or("no `get`")?;
    let raw = instance
        .get_func(&mut store, get)
        .ok_or("no function")?
        .typed::<(u32,), (u32,)>(&store)
        .map_err(|e| e.to_string())?;

    let started = std::time::Instant::now();
    let mut sum = 0u32;
    for i in 0..calls {
        let value = if mode == "raw" {
            raw.call(&mut store, (i,)).map_err(|e| e.to_string())?.0
        } else {
            match typed.call((i,)) {
                Socket::ExactlyOne(Ok((value,))) => value,
                other => return Err(format!("{other:?}").into()),
            }
        };
        sum = sum.wrapping_add(value);
    }
    println!("{mode}: {:?} per call ({calls} calls, checksum {sum})", started.elapsed() / calls.max(1));
    Ok(())
}
