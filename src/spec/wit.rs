//! Interface metadata from WIT, parsed by `wit-parser` (feature `wit`).
//!
//! [`WitInterface`] implements [`InterfaceData`] from a WIT interface: its
//! functions under their component export names, a [`ReturnKind`] derived
//! from each result type, `is_method` from the function kind, and its
//! resources. It also checks that a component exports the interface exactly
//! as the WIT declares it ([`WitInterface::check_exports`]).

use std::sync::Arc;

use thiserror::Error;
use wasmtime::Engine;
use wasmtime::component::Component;
use wasmtime::component::types::{self as wt, ComponentItem};
use wit_parser::{Function, FunctionKind, Handle, InterfaceId, Resolve, Type, TypeDefKind, TypeId};

use crate::types::{self, ResourceNames};
use crate::{FunctionData, InterfaceCardinality, InterfaceData, ReturnKind};

/// Why a WIT interface could not be turned into metadata.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum WitError {
    /// The WIT text does not parse or resolve.
    #[error("invalid WIT in `{source_name}`: {message}")]
    Parse {
        /// The file or source name given.
        source_name: String,
        /// wit-parser's message, with its location.
        message: String,
    },
    /// The resolved WIT has no interface of that name.
    #[error("the WIT defines no interface `{interface}`")]
    UnknownInterface {
        /// The name looked for, `ns:pkg/iface[@version]`.
        interface: String,
    },
    /// The interface uses something wasm-link cannot dispatch (an async
    /// function, without the `component-model-async` feature).
    #[error("interface `{interface}` function `{function}` is not supported: {reason}")]
    Unsupported {
        /// The interface.
        interface: String,
        /// The function.
        function: String,
        /// Why.
        reason: &'static str,
    },
}

/// A function of a [`WitInterface`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WitFunction {
    name: String,
    return_kind: ReturnKind,
    is_method: bool,
}

impl FunctionData for WitFunction {
    fn name(&self) -> &str {
        &self.name
    }
    fn return_kind(&self) -> ReturnKind {
        self.return_kind
    }
    fn is_method(&self) -> bool {
        self.is_method
    }
}

/// An interface described by WIT.
///
/// ```
/// use wasm_link::{InterfaceCardinality, InterfaceData, FunctionData, ReturnKind, WitInterface};
///
/// let wit = r#"
///     package demo:shapes;
///     interface shapes {
///         resource shape { area: func() -> f64; }
///         make: func(size: f64) -> shape;
///         count: func() -> u32;
///     }
/// "#;
/// let shapes = WitInterface::from_source("shapes", InterfaceCardinality::Any, wit, "demo:shapes/shapes").unwrap();
/// assert_eq!(shapes.package_name().unwrap(), "demo:shapes/shapes");
/// let make = shapes.functions().unwrap().find(|f| f.name() == "make").unwrap();
/// assert_eq!(make.return_kind(), ReturnKind::MayContainResources);
/// let area = shapes.functions().unwrap().find(|f| f.name() == "[method]shape.area").unwrap();
/// assert!(area.is_method());
/// ```
#[derive(Clone)]
pub struct WitInterface {
    id: String,
    cardinality: InterfaceCardinality,
    package_name: String,
    functions: Vec<WitFunction>,
    resources: Vec<String>,
    resolve: Arc<Resolve>,
    interface: InterfaceId,
}

impl std::fmt::Debug for WitInterface {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WitInterface")
            .field("id", &self.id)
            .field("cardinality", &self.cardinality)
            .field("package_name", &self.package_name)
            .field("functions", &self.functions)
            .field("resources", &self.resources)
            .finish_non_exhaustive()
    }
}

impl WitInterface {
    /// Metadata for `interface` of `resolve`, known to plugins as `id`.
    ///
    /// # Errors
    /// [`WitError::Unsupported`] for async functions, without the
    /// `component-model-async` feature.
    pub fn new(
        id: impl Into<String>,
        cardinality: InterfaceCardinality,
        resolve: Arc<Resolve>,
        interface: InterfaceId,
    ) -> Result<Self, WitError> {
        let package_name = resolve.id_of(interface).unwrap_or_default();
        let iface = &resolve.interfaces[interface];
        let mut functions = Vec::with_capacity(iface.functions.len());
        for function in iface.functions.values() {
            let is_method = match function.kind {
                FunctionKind::Method(_) => true,
                FunctionKind::Freestanding | FunctionKind::Static(_) | FunctionKind::Constructor(_) => false,
                #[cfg(feature = "component-model-async")]
                FunctionKind::AsyncMethod(_) => true,
                #[cfg(feature = "component-model-async")]
                FunctionKind::AsyncFreestanding | FunctionKind::AsyncStatic(_) => false,
                #[cfg(not(feature = "component-model-async"))]
                _ => {
                    return Err(WitError::Unsupported {
                        interface: package_name,
                        function: function.name.clone(),
                        reason: "an `async func` is dispatched only with wasm-link's `component-model-async` feature",
                    });
                }
            };
            let return_kind = match &function.result {
                None => ReturnKind::Void,
                Some(ty) if contains_resources(&resolve, ty) => ReturnKind::MayContainResources,
                Some(_) => ReturnKind::AssumeNoResources,
            };
            functions.push(WitFunction { name: function.name.clone(), return_kind, is_method });
        }
        let resources = iface
            .types
            .iter()
            .filter(|&(_, &ty)| matches!(resolve.types[ty].kind, TypeDefKind::Resource))
            .map(|(name, _)| name.clone())
            .collect();
        Ok(Self { id: id.into(), cardinality, package_name, functions, resources, resolve, interface })
    }

    /// Parses `wit` (one WIT package, which may `use wasm-link:runtime`
    /// types) and takes its interface `path` (`ns:pkg/iface[@version]`).
    ///
    /// # Errors
    /// [`WitError::Parse`] when the WIT is invalid, [`WitError::UnknownInterface`]
    /// when it has no such interface.
    pub fn from_source(
        id: impl Into<String>,
        cardinality: InterfaceCardinality,
        wit: &str,
        path: &str,
    ) -> Result<Self, WitError> {
        let mut resolve = runtime_resolve();
        let mut map = wit_parser::SourceMap::default();
        map.push_str("<source>", wit);
        let parse_error = |message| WitError::Parse { source_name: "<source>".to_owned(), message };
        // Rendered with the source map, the message carries file:line:column.
        let group = map.parse().map_err(|(map, e)| parse_error(e.render(&map)))?;
        resolve.push_group(group).map_err(|e| parse_error(e.to_string()))?;
        let resolve = Arc::new(resolve);
        let interface = find_interface(&resolve, path)?;
        Self::new(id, cardinality, resolve, interface)
    }

    /// The resolved WIT this interface comes from.
    #[must_use]
    pub fn resolve(&self) -> &Resolve {
        &self.resolve
    }

    /// The interface's id in [`resolve`](Self::resolve).
    #[must_use]
    pub fn interface_id(&self) -> InterfaceId {
        self.interface
    }

    /// The version of the interface's package, as its WIT declares it
    /// (`package demo:parser@0.1.0;` gives `0.1.0`); `None` for a package
    /// without one. Plugins built against another release on its track are
    /// linked to it by semver (see the crate docs' naming rule).
    ///
    /// ```
    /// # use wasm_link::{InterfaceCardinality, WitInterface};
    /// let wit = "package demo:parser@0.1.1; interface parser { parse: func(s: string) -> u32; }";
    /// let parser = WitInterface::from_source("parser", InterfaceCardinality::ExactlyOne, wit, "demo:parser/parser@0.1.1")?;
    /// assert_eq!(parser.version(), Some("0.1.1"));
    /// # Ok::<(), wasm_link::WitError>(())
    /// ```
    #[must_use]
    pub fn version(&self) -> Option<&str> {
        crate::spec::version::version_of(&self.package_name)
    }

    /// Checks that `component` exports this interface exactly as the WIT
    /// declares it: every function, with the same parameter and result types.
    ///
    /// # Errors
    /// A [`SignatureMismatch`] naming the function with the expected and the
    /// found type, in WIT syntax.
    pub fn check_exports(&self, engine: &Engine, component: &Component) -> Result<(), SignatureMismatch> {
        let component_type = component.component_type();
        let mismatch = |function: &str, expected: String, found: String| SignatureMismatch {
            interface: self.package_name.clone(),
            function: function.to_owned(),
            expected,
            found,
        };
        // Exported under the interface's name or a release on its track.
        let exported =
            crate::spec::version::find(component_type.exports(engine).map(|(name, _)| name), &self.package_name)
                .filter(|exported| crate::spec::version::serves(exported, &self.package_name));
        let Some(ComponentItem::ComponentInstance(instance)) =
            exported.and_then(|exported| component_type.get_export(engine, exported)).map(|e| e.ty)
        else {
            return Err(mismatch("", format!("an export of instance `{}`", self.package_name), "none".to_owned()));
        };
        let names = ResourceNames::of(engine, &component_type);
        for function in self.resolve.interfaces[self.interface].functions.values() {
            let expected = self.describe_function(function);
            let Some(ComponentItem::ComponentFunc(found)) = instance.get_export(engine, &function.name).map(|e| e.ty)
            else {
                return Err(mismatch(&function.name, expected, "no such function".to_owned()));
            };
            let params_match = found.params().len() == function.params.len()
                && function
                    .params
                    .iter()
                    .zip(found.params())
                    .all(|(param, (_, ty))| self.matches(&param.ty, &ty, &names));
            let result_match = match (&function.result, found.results().next()) {
                (None, None) => true,
                (Some(expected), Some(found)) => self.matches(expected, &found, &names),
                _ => false,
            };
            if !params_match || !result_match {
                let params: Vec<String> =
                    found.params().map(|(name, ty)| format!("{name}: {}", types::describe(&ty, &names))).collect();
                let result = found.results().next().map(|t| format!(" -> {}", types::describe(&t, &names)));
                let found = format!("func({}){}", params.join(", "), result.unwrap_or_default());
                return Err(mismatch(&function.name, expected, found));
            }
        }
        Ok(())
    }

    fn describe_function(&self, function: &Function) -> String {
        let params: Vec<String> =
            function.params.iter().map(|p| format!("{}: {}", p.name, describe_wit(&self.resolve, &p.ty))).collect();
        let result = function.result.as_ref().map(|t| format!(" -> {}", describe_wit(&self.resolve, t)));
        format!("func({}){}", params.join(", "), result.unwrap_or_default())
    }

    /// Whether the component type `found` is the WIT type `expected`.
    fn matches(&self, expected: &Type, found: &wt::Type, names: &ResourceNames) -> bool {
        wit_matches(&self.resolve, expected, found, names)
    }
}

/// Where a component's export differs from its interface's WIT.
#[derive(Debug, Clone, Error)]
#[error("`{interface}` function `{function}`: expected `{expected}`, found `{found}`")]
pub struct SignatureMismatch {
    /// The interface's instance name.
    pub interface: String,
    /// The function (empty when the whole interface is missing).
    pub function: String,
    /// The WIT signature.
    pub expected: String,
    /// What the component exports.
    pub found: String,
}

impl InterfaceData for WitInterface {
    type Id = String;
    type Error = std::convert::Infallible;
    type Function = WitFunction;
    type FunctionIter<'a> = std::slice::Iter<'a, WitFunction>;
    type ResourceIter<'a> = std::slice::Iter<'a, String>;

    fn id(&self) -> Result<&String, Self::Error> {
        Ok(&self.id)
    }
    fn cardinality(&self) -> Result<&InterfaceCardinality, Self::Error> {
        Ok(&self.cardinality)
    }
    fn package_name(&self) -> Result<&str, Self::Error> {
        Ok(&self.package_name)
    }
    fn functions(&self) -> Result<Self::FunctionIter<'_>, Self::Error> {
        Ok(self.functions.iter())
    }
    fn resources(&self) -> Result<Self::ResourceIter<'_>, Self::Error> {
        Ok(self.resources.iter())
    }
}

/// A `Resolve` holding the crate's `wit/runtime.wit`, so interfaces can `use`
/// `wasm-link:runtime/types@0.1.0.{dispatch-error}`, and the same package
/// without its version, as WIT written before it had one says
/// `wasm-link:runtime/types.{dispatch-error}`.
///
/// ```
/// let resolve = wasm_link::runtime_resolve();
/// let names: Vec<String> = resolve.packages.iter().map(|(_, p)| p.name.to_string()).collect();
/// assert!(names.contains(&format!("wasm-link:runtime@{}", wasm_link::RUNTIME_WIT_VERSION)));
/// assert!(names.contains(&"wasm-link:runtime".to_owned()));
/// ```
#[must_use]
pub fn runtime_resolve() -> Resolve {
    let mut resolve = Resolve::new();
    let unversioned =
        RUNTIME_WIT.replace(&format!("package wasm-link:runtime@{RUNTIME_WIT_VERSION};"), "package wasm-link:runtime;");
    // The file ships with the crate and is tested to parse; an error here is a
    // packaging bug, and the resolve is still usable without it.
    for (name, text) in [("wit/runtime.wit", RUNTIME_WIT), ("wit/runtime.wit (unversioned)", unversioned.as_str())] {
        if let Err(error) = resolve.push_source(name, text) {
            tracing::error!(%error, "{name} does not parse");
        }
    }
    resolve
}

/// The text of `wit/runtime.wit`: package `wasm-link:runtime@`[`RUNTIME_WIT_VERSION`],
/// whose `types` interface defines the `dispatch-error` variant plugins
/// receive.
pub const RUNTIME_WIT: &str = include_str!("../../wit/runtime.wit");

/// The version of the runtime's WIT package, `wasm-link:runtime`: the
/// crate's. Plugins import its `types` under this version, another, or none
/// (built before it had one); each links.
pub const RUNTIME_WIT_VERSION: &str = "0.1.0";

/// Finds interface `path` (`ns:pkg/iface[@version]`) in `resolve`.
///
/// # Errors
/// [`WitError::UnknownInterface`].
pub fn find_interface(resolve: &Resolve, path: &str) -> Result<InterfaceId, WitError> {
    resolve
        .interfaces
        .iter()
        .find(|(id, _)| resolve.id_of(*id).as_deref() == Some(path))
        .map(|(id, _)| id)
        .ok_or_else(|| WitError::UnknownInterface { interface: path.to_owned() })
}

/// Follows type aliases to the definition.
fn deref(resolve: &Resolve, mut id: TypeId) -> TypeId {
    while let TypeDefKind::Type(Type::Id(next)) = resolve.types[id].kind {
        id = next;
    }
    id
}

/// Whether a value of WIT type `ty` may hold a resource handle, at any depth.
fn contains_resources(resolve: &Resolve, ty: &Type) -> bool {
    let Type::Id(id) = ty else { return false };
    let opt = |t: &Option<Type>| t.as_ref().is_some_and(|t| contains_resources(resolve, t));
    match &resolve.types[*id].kind {
        TypeDefKind::Handle(_) | TypeDefKind::Resource => true,
        TypeDefKind::Record(r) => r.fields.iter().any(|f| contains_resources(resolve, &f.ty)),
        TypeDefKind::Tuple(t) => t.types.iter().any(|t| contains_resources(resolve, t)),
        TypeDefKind::Variant(v) => v.cases.iter().any(|c| opt(&c.ty)),
        TypeDefKind::Option(t) | TypeDefKind::List(t) | TypeDefKind::FixedLengthList(t, _) | TypeDefKind::Type(t) => {
            contains_resources(resolve, t)
        }
        TypeDefKind::Result(r) => opt(&r.ok) || opt(&r.err),
        TypeDefKind::Map(k, v) => contains_resources(resolve, k) || contains_resources(resolve, v),
        TypeDefKind::Future(t) | TypeDefKind::Stream(t) => opt(t),
        TypeDefKind::Flags(_) | TypeDefKind::Enum(_) | TypeDefKind::Unknown => false,
    }
}

/// The instance and name of the resource a handle refers to.
fn resource_name(resolve: &Resolve, id: TypeId) -> Option<(String, String)> {
    let def = &resolve.types[deref(resolve, id)];
    let wit_parser::TypeOwner::Interface(owner) = def.owner else {
        return None;
    };
    Some((resolve.id_of(owner)?, def.name.clone()?))
}

/// Whether the component type `found` is the WIT type `expected`.
fn wit_matches(resolve: &Resolve, expected: &Type, found: &wt::Type, names: &ResourceNames) -> bool {
    let id = match expected {
        Type::Bool => return matches!(found, wt::Type::Bool),
        Type::U8 => return matches!(found, wt::Type::U8),
        Type::U16 => return matches!(found, wt::Type::U16),
        Type::U32 => return matches!(found, wt::Type::U32),
        Type::U64 => return matches!(found, wt::Type::U64),
        Type::S8 => return matches!(found, wt::Type::S8),
        Type::S16 => return matches!(found, wt::Type::S16),
        Type::S32 => return matches!(found, wt::Type::S32),
        Type::S64 => return matches!(found, wt::Type::S64),
        Type::F32 => return matches!(found, wt::Type::Float32),
        Type::F64 => return matches!(found, wt::Type::Float64),
        Type::Char => return matches!(found, wt::Type::Char),
        Type::String => return matches!(found, wt::Type::String),
        Type::ErrorContext => return matches!(found, wt::Type::ErrorContext),
        Type::Id(id) => deref(resolve, *id),
    };
    let same = |e: &Type, f: &wt::Type| wit_matches(resolve, e, f, names);
    let same_opt = |e: &Option<Type>, f: Option<wt::Type>| match (e, f) {
        (None, None) => true,
        (Some(e), Some(f)) => same(e, &f),
        _ => false,
    };
    match (&resolve.types[id].kind, found) {
        (TypeDefKind::Record(r), wt::Type::Record(f)) => {
            r.fields.len() == f.fields().len()
                && r.fields.iter().zip(f.fields()).all(|(e, f)| e.name == f.name && same(&e.ty, &f.ty))
        }
        (TypeDefKind::Tuple(t), wt::Type::Tuple(f)) => {
            t.types.len() == f.types().len() && t.types.iter().zip(f.types()).all(|(e, f)| same(e, &f))
        }
        (TypeDefKind::Variant(v), wt::Type::Variant(f)) => {
            v.cases.len() == f.cases().len()
                && v.cases.iter().zip(f.cases()).all(|(e, f)| e.name == f.name && same_opt(&e.ty, f.ty))
        }
        (TypeDefKind::Enum(e), wt::Type::Enum(f)) => e.cases.iter().map(|c| c.name.as_str()).eq(f.names()),
        (TypeDefKind::Flags(e), wt::Type::Flags(f)) => e.flags.iter().map(|c| c.name.as_str()).eq(f.names()),
        (TypeDefKind::Option(e), wt::Type::Option(f)) => same(e, &f.ty()),
        (TypeDefKind::List(e), wt::Type::List(f)) => same(e, &f.ty()),
        (TypeDefKind::Result(e), wt::Type::Result(f)) => same_opt(&e.ok, f.ok()) && same_opt(&e.err, f.err()),
        (TypeDefKind::Handle(Handle::Own(e)), wt::Type::Own(f))
        | (TypeDefKind::Handle(Handle::Borrow(e)), wt::Type::Borrow(f)) => {
            match (resource_name(resolve, *e), names.name(f)) {
                (Some((instance, name)), Some((found_instance, found_name))) => {
                    crate::spec::version::same_track(&instance, found_instance) && name == found_name
                }
                _ => false,
            }
        }
        _ => false,
    }
}

/// A WIT type in WIT syntax.
fn describe_wit(resolve: &Resolve, ty: &Type) -> String {
    let id = match ty {
        Type::Id(id) => *id,
        Type::F32 => return "f32".to_owned(),
        Type::F64 => return "f64".to_owned(),
        Type::ErrorContext => return "error-context".to_owned(),
        other => return format!("{other:?}").to_lowercase(),
    };
    let def = &resolve.types[id];
    let d = |t: &Type| describe_wit(resolve, t);
    let d_opt = |t: &Option<Type>| t.as_ref().map_or_else(|| "_".to_owned(), |t| describe_wit(resolve, t));
    match &def.kind {
        TypeDefKind::Handle(Handle::Own(r)) => {
            format!("own<{}>", resolve.types[*r].name.as_deref().unwrap_or("?"))
        }
        TypeDefKind::Handle(Handle::Borrow(r)) => {
            format!("borrow<{}>", resolve.types[*r].name.as_deref().unwrap_or("?"))
        }
        TypeDefKind::Option(t) => format!("option<{}>", d(t)),
        TypeDefKind::List(t) => format!("list<{}>", d(t)),
        TypeDefKind::Result(r) => format!("result<{}, {}>", d_opt(&r.ok), d_opt(&r.err)),
        TypeDefKind::Tuple(t) => format!("tuple<{}>", t.types.iter().map(d).collect::<Vec<_>>().join(", ")),
        _ => def.name.clone().unwrap_or_else(|| "?".to_owned()),
    }
}
