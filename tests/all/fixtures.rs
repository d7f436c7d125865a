//! Test fixtures: metadata types implementing the crate's traits, and
//! components built from core WAT plus WIT by `wit-component`.
//!
//! Writing the core module by hand keeps each ABI detail visible in the test
//! (retptr layouts, handles, reps); `wit-component` wraps it into a real
//! component so the canonical-ABI glue is not hand-written.

use std::fmt;

use wasm_link::{
    Component, Engine, FunctionData, InterfaceCardinality, InterfaceData, Limits, PluginCtxView, PluginData, Recovery,
    ResourceTable, ReturnKind,
};
use wit_component::{ComponentEncoder, StringEncoding};
use wit_parser::Resolve;

/// The error of the fixture accessors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixtureError(pub String);

impl fmt::Display for FixtureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FixtureError {}

#[derive(Clone, Debug)]
pub struct Func {
    pub name: String,
    pub return_kind: ReturnKind,
    pub method: bool,
}

impl FunctionData for Func {
    fn name(&self) -> &str {
        &self.name
    }
    fn return_kind(&self) -> ReturnKind {
        self.return_kind
    }
    fn is_method(&self) -> bool {
        self.method
    }
}

/// A function returning a value without resources.
pub fn func(name: &str) -> Func {
    Func { name: name.to_owned(), return_kind: ReturnKind::AssumeNoResources, method: false }
}

/// A function returning nothing.
pub fn void(name: &str) -> Func {
    Func { name: name.to_owned(), return_kind: ReturnKind::Void, method: false }
}

/// A function whose result may hold resources.
pub fn with_resources(name: &str) -> Func {
    Func { name: name.to_owned(), return_kind: ReturnKind::MayContainResources, method: false }
}

/// A resource method.
pub fn method(name: &str, return_kind: ReturnKind) -> Func {
    Func { name: name.to_owned(), return_kind, method: true }
}

pub struct Interface {
    pub id: String,
    pub cardinality: InterfaceCardinality,
    pub path: String,
    pub functions: Vec<Func>,
    pub resources: Vec<String>,
    /// The accessor that fails, to test error reporting.
    pub broken: Option<&'static str>,
}

impl Interface {
    pub fn new(id: &str, cardinality: InterfaceCardinality, path: &str, functions: Vec<Func>) -> Self {
        Self { id: id.to_owned(), cardinality, path: path.to_owned(), functions, resources: Vec::new(), broken: None }
    }

    pub fn with_resources(mut self, resources: &[&str]) -> Self {
        self.resources = resources.iter().map(|&r| r.to_owned()).collect();
        self
    }

    pub fn broken(mut self, accessor: &'static str) -> Self {
        self.broken = Some(accessor);
        self
    }

    fn check(&self, accessor: &str) -> Result<(), FixtureError> {
        match self.broken {
            Some(broken) if broken == accessor => Err(FixtureError(format!("cannot read {accessor}"))),
            _ => Ok(()),
        }
    }
}

impl InterfaceData for Interface {
    type Id = String;
    type Error = FixtureError;
    type Function = Func;
    type FunctionIter<'a> = std::slice::Iter<'a, Func>;
    type ResourceIter<'a> = std::slice::Iter<'a, String>;

    fn id(&self) -> Result<&String, FixtureError> {
        self.check("id")?;
        Ok(&self.id)
    }
    fn cardinality(&self) -> Result<&InterfaceCardinality, FixtureError> {
        self.check("cardinality")?;
        Ok(&self.cardinality)
    }
    fn package_name(&self) -> Result<&str, FixtureError> {
        self.check("package_name")?;
        Ok(&self.path)
    }
    fn functions(&self) -> Result<Self::FunctionIter<'_>, FixtureError> {
        self.check("functions")?;
        Ok(self.functions.iter())
    }
    fn resources(&self) -> Result<Self::ResourceIter<'_>, FixtureError> {
        self.check("resources")?;
        Ok(self.resources.iter())
    }
}

pub struct Plugin {
    pub id: String,
    pub plug: String,
    pub sockets: Vec<String>,
    pub wasm: Result<Vec<u8>, FixtureError>,
    pub broken: Option<&'static str>,
    pub table: ResourceTable,
    pub limits: Limits,
    pub recovery: Recovery,
    pub grants: Option<Vec<String>>,
    /// Counts the plugin value's drop: a test sees when the runtime let go
    /// of a version.
    pub witness: Option<DropWitness>,
    /// Instances that may serve calls at once (see `PluginData::instances`).
    pub instances: usize,
    /// `component_bytes` gives nothing: the plugin cannot be frozen.
    pub bytes_hidden: bool,
    /// `component_bytes` gives these instead of what `component` compiles.
    pub lying_bytes: Option<Vec<u8>>,
    /// `replica` gives nothing.
    pub no_replica: bool,
    /// Served elsewhere: its servers and its plug's WIT.
    pub remote: Option<(wasm_link::Remote, std::sync::Arc<wasm_link::WitInterface>)>,
}

/// Adds one to its counter when dropped.
pub struct DropWitness(pub std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Drop for DropWitness {
    fn drop(&mut self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Plugin {
    pub fn new(id: &str, plug: &str, sockets: &[&str], wasm: Vec<u8>) -> Self {
        Self {
            id: id.to_owned(),
            plug: plug.to_owned(),
            sockets: sockets.iter().map(|&s| s.to_owned()).collect(),
            wasm: Ok(wasm),
            broken: None,
            table: ResourceTable::new(),
            limits: Limits::default(),
            recovery: Recovery::default(),
            grants: None,
            witness: None,
            instances: 1,
            bytes_hidden: false,
            lying_bytes: None,
            no_replica: false,
            remote: None,
        }
    }

    /// A plugin served by `remote`, plugging into `wit`.
    pub fn remote(id: &str, plug: &str, remote: wasm_link::Remote, wit: &wasm_link::WitInterface) -> Self {
        let mut plugin = Self::new(id, plug, &[], Vec::new());
        plugin.remote = Some((remote, std::sync::Arc::new(wit.clone())));
        plugin
    }

    /// A pooled plugin of `count` instances.
    pub fn pooled(mut self, count: usize) -> Self {
        self.instances = count;
        self
    }

    /// Counts this value's drop in `dropped`.
    pub fn witnessed(mut self, dropped: &std::sync::Arc<std::sync::atomic::AtomicUsize>) -> Self {
        self.witness = Some(DropWitness(dropped.clone()));
        self
    }

    pub fn grants(mut self, grants: &[&str]) -> Self {
        self.grants = Some(grants.iter().map(|&g| g.to_owned()).collect());
        self
    }

    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    pub fn recovery(mut self, recovery: Recovery) -> Self {
        self.recovery = recovery;
        self
    }

    /// A plugin without code, for tree-shape tests that never load.
    pub fn meta(id: &str, plug: &str, sockets: &[&str]) -> Self {
        Self::new(id, plug, sockets, Vec::new())
    }

    pub fn broken(mut self, accessor: &'static str) -> Self {
        self.broken = Some(accessor);
        self
    }

    fn check(&self, accessor: &str) -> Result<(), FixtureError> {
        match self.broken {
            Some(broken) if broken == accessor => Err(FixtureError(format!("cannot read {accessor}"))),
            _ => Ok(()),
        }
    }
}

impl PluginCtxView for Plugin {
    fn resource_table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }
}

impl PluginData for Plugin {
    type Id = String;
    type InterfaceId = String;
    type Error = FixtureError;
    type SocketIter<'a> = std::slice::Iter<'a, String>;

    fn id(&self) -> Result<&String, FixtureError> {
        self.check("id")?;
        Ok(&self.id)
    }
    fn plug(&self) -> Result<&String, FixtureError> {
        self.check("plug")?;
        Ok(&self.plug)
    }
    fn sockets(&self) -> Result<Self::SocketIter<'_>, FixtureError> {
        self.check("sockets")?;
        Ok(self.sockets.iter())
    }
    fn limits(&self) -> Limits {
        self.limits.clone()
    }
    fn recovery(&self) -> Recovery {
        self.recovery.clone()
    }
    fn grants(&self) -> Option<Vec<String>> {
        self.grants.clone()
    }
    fn instances(&self) -> usize {
        self.instances
    }
    fn replica(&self) -> Option<Self> {
        if self.no_replica {
            return None;
        }
        let wasm = self.wasm.as_ref().ok()?.clone();
        let sockets: Vec<&str> = self.sockets.iter().map(String::as_str).collect();
        let mut replica = Self::new(&self.id, &self.plug, &sockets, wasm);
        replica.limits = self.limits.clone();
        replica.recovery = self.recovery.clone();
        replica.grants.clone_from(&self.grants);
        replica.instances = self.instances;
        Some(replica)
    }
    fn component_bytes(&self) -> Result<Option<Vec<u8>>, FixtureError> {
        if self.bytes_hidden {
            return Ok(None);
        }
        if let Some(bytes) = &self.lying_bytes {
            return Ok(Some(bytes.clone()));
        }
        self.wasm.clone().map(Some)
    }
    fn remote(&self) -> Option<wasm_link::Remote> {
        self.remote.as_ref().map(|(remote, _)| remote.clone())
    }
    fn component(&self, engine: &Engine) -> Result<Component, FixtureError> {
        if let Some((remote, wit)) = &self.remote {
            return remote.component(engine, wit).map_err(|e| FixtureError(wasm_link::error_chain(&e)));
        }
        let wasm = self.wasm.as_ref().map_err(Clone::clone)?;
        Component::new(engine, wasm).map_err(|e| FixtureError(format!("invalid component: {e}")))
    }
}

/// Builds a component from a core module in WAT and the WIT world it targets.
pub fn component(wit: &str, world: &str, core_wat: &str) -> Vec<u8> {
    let mut resolve = Resolve::new();
    let package = resolve.push_source("fixture.wit", wit).expect("fixture WIT parses");
    let world = resolve.select_world(&[package], Some(world)).expect("fixture world exists");
    let mut module = wat::parse_str(core_wat).expect("fixture WAT parses");
    wit_component::embed_component_metadata(&mut module, &resolve, world, StringEncoding::UTF8)
        .expect("fixture metadata embeds");
    ComponentEncoder::default()
        .module(&module)
        .expect("fixture module is accepted")
        .validate(true)
        .encode()
        .expect("fixture component encodes")
}

/// Memory and a bump allocator for modules that receive strings or lists.
/// `$reset` rewinds the heap; exports call it on entry since fixtures keep
/// nothing allocated across calls.
pub const ALLOCATOR: &str = r#"
    (memory (export "memory") 2)
    (global $heap (mut i32) (i32.const 4096))
    (func $reset (global.set $heap (i32.const 4096)))
    (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
        (local $p i32)
        (local.set $p (i32.and
            (i32.add (global.get $heap) (i32.sub (local.get 2) (i32.const 1)))
            (i32.xor (i32.sub (local.get 2) (i32.const 1)) (i32.const -1))))
        (global.set $heap (i32.add (local.get $p) (local.get 3)))
        (local.get $p))
"#;

/// The crate's `wit/runtime.wit`, for fixtures that `use` its types.
pub const RUNTIME_WIT: &str = include_str!("../../wit/runtime.wit");

/// Like [`component`], with `wit/runtime.wit` available to `use`.
pub fn component_using_runtime(wit: &str, world: &str, core_wat: &str) -> Vec<u8> {
    component_on_runtime(RUNTIME_WIT, wit, world, core_wat)
}

/// [`component_using_runtime`] against `runtime` as the runtime's WIT.
pub fn component_on_runtime(runtime: &str, wit: &str, world: &str, core_wat: &str) -> Vec<u8> {
    let mut resolve = Resolve::new();
    resolve.push_source("runtime.wit", runtime).expect("runtime WIT parses");
    let package = resolve.push_source("fixture.wit", wit).expect("fixture WIT parses");
    let world = resolve.select_world(&[package], Some(world)).expect("fixture world exists");
    let mut module = wat::parse_str(core_wat).expect("fixture WAT parses");
    wit_component::embed_component_metadata(&mut module, &resolve, world, StringEncoding::UTF8)
        .expect("fixture metadata embeds");
    ComponentEncoder::default()
        .module(&module)
        .expect("fixture module is accepted")
        .validate(true)
        .encode()
        .expect("fixture component encodes")
}
