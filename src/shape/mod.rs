//! The only code that turns a cardinality into a shape.
//!
//! - Socket side: the shape in which a consumer declared a socket import
//!   ([`Shape`], chosen at load by [`check_import`], or
//!   [`shape_without_plugins`] for an empty socket), the `T` inside it
//!   ([`inner_type`]) and the guest-side value of a failure
//!   ([`wrap_result`], `dispatch-error` read from `wit/runtime.wit`).
//! - Root side: the plugins behind the root ([`root::RootPlugins`]) and the
//!   [`Socket`](socket::Socket) a dispatch returns.

pub(crate) mod root;
pub(crate) mod socket;

use wasmtime::component::Val;
use wasmtime::component::types::{ComponentFunc, Type};

use crate::InterfaceCardinality;
use crate::dispatch_error::DispatchError;
use crate::types::{self, ResourceNames};

/// How a consumer receives the results of the plugins behind a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// `T` (or, for a multi-plugin socket of a function without a result,
    /// nothing): a failure traps the consumer.
    Plain,
    /// `result<T, E>`.
    Result(ErrorKind),
    /// `option<T>`: none when no plugin is behind the socket.
    Option,
    /// `option<result<T, E>>`.
    OptionResult(ErrorKind),
    /// `list<T>`, by plugin id; a failure traps the consumer.
    List,
    /// `list<result<T, E>>`, by plugin id.
    ListResult(ErrorKind),
    /// `list<tuple<string, result<T, E>>>`: plugin id first.
    ListTagged(ErrorKind),
    /// `tuple<string, result<T, E>>` of an `ExactlyOne` socket: plugin id
    /// first, as wasm-link 0.3 and 0.4 give it.
    Tagged(ErrorKind),
    /// `option<tuple<string, result<T, E>>>` of an `AtMostOne` socket, as
    /// wasm-link 0.3 and 0.4 give it.
    OptionTagged(ErrorKind),
    /// `map<string, result<T, E>>` of an `AtLeastOne` or `Any` socket, by
    /// plugin id, as wasm-link 0.3 and 0.4 give it (the component model's
    /// `map`, which the engine must enable: [`engine_config`](crate::engine_config) does).
    MapTagged(ErrorKind),
}

/// The error type `E` of a shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    /// `string`: the error's message.
    String,
    /// `dispatch-error` from `wit/runtime.wit`.
    DispatchError,
    /// No error type (`result<T>`, as components built for wasm-link 0.1.0
    /// import): the consumer learns that the call failed, not why.
    None,
    /// The `dispatch-error` of wasm-link 0.3 and 0.4
    /// (`wasm-link:runtime/errors@0.4.0`): cases without a failure record,
    /// some carrying a string ([`UPSTREAM_CASES`]).
    Upstream,
}

/// The cases of wasm-link 0.4's `dispatch-error`, with whether each carries
/// a string; 0.3's are the same without `executor-unavailable`. A consumer
/// built for those releases declares them (in any order).
const UPSTREAM_CASES: [(&str, bool); 11] = [
    ("lock-rejected", false),
    ("invalid-interface-path", true),
    ("invalid-function", true),
    ("missing-response", false),
    ("runtime-exception", true),
    ("invalid-argument-list", false),
    ("unsupported-type", true),
    ("executor-unavailable", false),
    ("resource-table-full", false),
    ("resource-handle-conversion-failed", false),
    ("invalid-resource-handle", false),
];

/// Whether `variant` is wasm-link 0.3's or 0.4's `dispatch-error`.
fn is_upstream_error(variant: &wasmtime::component::types::Variant) -> bool {
    let mut count = 0;
    let all_known = variant.cases().all(|case| {
        count += 1;
        UPSTREAM_CASES.iter().any(|&(name, carries)| {
            name == case.name && if carries { case.ty == Some(Type::String) } else { case.ty.is_none() }
        })
    });
    // 0.4 has every case; 0.3 every case but `executor-unavailable`.
    all_known
        && (count == UPSTREAM_CASES.len()
            || (count == UPSTREAM_CASES.len() - 1 && !variant.cases().any(|c| c.name == "executor-unavailable")))
}

// `DISPATCH_ERROR_CASES` and `FAILURE_FIELDS`: the cases of `dispatch-error`
// and the fields of `failure` in `wit/runtime.wit`, in order, read from the
// WIT by build.rs.
include!(concat!(env!("OUT_DIR"), "/runtime_wit.rs"));

fn error_kind(ty: Option<&Type>) -> Option<ErrorKind> {
    let Some(ty) = ty else { return Some(ErrorKind::None) };
    match ty {
        Type::String => Some(ErrorKind::String),
        Type::Variant(variant) => {
            let cases_match = variant.cases().map(|c| c.name).eq(DISPATCH_ERROR_CASES);
            let payloads_match = variant.cases().all(|c| match &c.ty {
                Some(Type::Record(record)) => {
                    record.fields().map(|f| f.name).eq(FAILURE_FIELDS) && record.fields().all(|f| f.ty == Type::String)
                }
                _ => false,
            });
            if cases_match && payloads_match {
                Some(ErrorKind::DispatchError)
            } else {
                is_upstream_error(variant).then_some(ErrorKind::Upstream)
            }
        }
        _ => None,
    }
}

/// Picks the shape in which a consumer declared an import, given the provider's
/// result type `provided`. `is_same` compares a consumer type with it.
pub(crate) fn detect_shape(
    declared: Option<&Type>,
    provided_is_none: bool,
    is_same: &dyn Fn(Option<&Type>) -> bool,
    cardinality: InterfaceCardinality,
    single: bool,
) -> Option<Shape> {
    let as_result = |ty: Option<&Type>| match ty {
        Some(Type::Result(result)) if is_same(result.ok().as_ref()) => error_kind(result.err().as_ref()),
        _ => None,
    };
    // `tuple<string, result<T, E>>`: a plugin id and its outcome.
    let tagged = |ty: Option<&Type>| match ty {
        Some(Type::Tuple(tuple)) if tuple.types().len() == 2 => {
            let mut parts = tuple.types();
            match (parts.next(), parts.next()) {
                (Some(Type::String), Some(result)) => as_result(Some(&result)),
                _ => None,
            }
        }
        _ => None,
    };
    if single {
        if is_same(declared) {
            return Some(Shape::Plain);
        }
        return as_result(declared).map(Shape::Result);
    }
    if cardinality == InterfaceCardinality::ExactlyOne {
        if is_same(declared) {
            return Some(Shape::Plain);
        }
        return as_result(declared).map(Shape::Result).or_else(|| tagged(declared).map(Shape::Tagged));
    }
    if provided_is_none && declared.is_none() {
        return Some(Shape::Plain);
    }
    match (cardinality, declared) {
        (InterfaceCardinality::AtMostOne, Some(Type::Option(option))) => {
            let inner = option.ty();
            if !provided_is_none && is_same(Some(&inner)) {
                Some(Shape::Option)
            } else {
                as_result(Some(&inner))
                    .map(Shape::OptionResult)
                    .or_else(|| tagged(Some(&inner)).map(Shape::OptionTagged))
            }
        }
        (InterfaceCardinality::AtLeastOne | InterfaceCardinality::Any, Some(Type::Map(map))) => {
            (map.key() == Type::String).then(|| as_result(Some(&map.value())).map(Shape::MapTagged)).flatten()
        }
        (InterfaceCardinality::AtLeastOne | InterfaceCardinality::Any, Some(Type::List(list))) => {
            let item = list.ty();
            if !provided_is_none && is_same(Some(&item)) {
                return Some(Shape::List);
            }
            if let Some(kind) = as_result(Some(&item)) {
                return Some(Shape::ListResult(kind));
            }
            match &item {
                Type::Tuple(tuple) if tuple.types().len() == 2 => {
                    let mut parts = tuple.types();
                    let (Some(tag), Some(result)) = (parts.next(), parts.next()) else {
                        return None;
                    };
                    (tag == Type::String).then(|| as_result(Some(&result)).map(Shape::ListTagged)).flatten()
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// The type `T` inside a consumer's declared result of the given shape.
pub(crate) fn inner_type(declared: Option<Type>, shape: Shape) -> Option<Type> {
    let ok_of = |ty: Type| match ty {
        Type::Result(result) => result.ok(),
        _ => None,
    };
    let declared = declared?;
    match shape {
        Shape::Plain => Some(declared),
        Shape::Result(_) => ok_of(declared),
        Shape::Option => match declared {
            Type::Option(o) => Some(o.ty()),
            _ => None,
        },
        Shape::OptionResult(_) => match declared {
            Type::Option(o) => ok_of(o.ty()),
            _ => None,
        },
        Shape::List => match declared {
            Type::List(l) => Some(l.ty()),
            _ => None,
        },
        Shape::ListResult(_) => match declared {
            Type::List(l) => ok_of(l.ty()),
            _ => None,
        },
        Shape::ListTagged(_) => match declared {
            Type::List(l) => tagged_ok(l.ty()),
            _ => None,
        },
        Shape::Tagged(_) => tagged_ok(declared),
        Shape::OptionTagged(_) => match declared {
            Type::Option(o) => tagged_ok(o.ty()),
            _ => None,
        },
        Shape::MapTagged(_) => match declared {
            Type::Map(m) => ok_of(m.value()),
            _ => None,
        },
    }
}

/// The `T` of `tuple<string, result<T, E>>`.
fn tagged_ok(ty: Type) -> Option<Type> {
    match ty {
        Type::Tuple(t) => match t.types().nth(1) {
            Some(Type::Result(result)) => result.ok(),
            _ => None,
        },
        _ => None,
    }
}

/// `tuple<string, result<T, E>>` for one plugin's outcome: its id first.
pub(crate) fn wrap_tagged<Id: std::fmt::Debug + std::fmt::Display + 'static>(
    plugin: &str,
    outcome: Result<Option<Val>, DispatchError<Id>>,
    kind: ErrorKind,
) -> Val {
    Val::Tuple(vec![Val::String(plugin.to_owned()), wrap_result(outcome, kind)])
}

/// `result<T, E>` for one plugin's outcome.
pub(crate) fn wrap_result<Id: std::fmt::Debug + std::fmt::Display + 'static>(
    outcome: Result<Option<Val>, DispatchError<Id>>,
    kind: ErrorKind,
) -> Val {
    Val::Result(match outcome {
        Ok(value) => Ok(value.map(Box::new)),
        Err(error) => Err(error_value(&error, kind).map(Box::new)),
    })
}

/// A dispatch error as the value a guest receives for it: a case of
/// `wasm-link:runtime/types.dispatch-error` (`wit/runtime.wit`) carrying
/// the plugin, interface, function and message (as wasm-link 0.1.0, the
/// error converts into a `Val`).
///
/// ```
/// use std::sync::Arc;
/// use wasm_link::{DispatchError, Val};
///
/// let error = DispatchError::InvalidFunction {
///     plugin: "foo",
///     interface: Arc::from("my:package/example"),
///     function: "nope".to_owned(),
/// };
/// let Val::Variant(case, Some(_failure)) = Val::from(error) else { panic!("a dispatch-error case") };
/// assert_eq!(case, "other");
/// ```
impl<Id: std::fmt::Debug + std::fmt::Display + 'static> From<DispatchError<Id>> for Val {
    fn from(error: DispatchError<Id>) -> Self {
        error_value(&error, ErrorKind::DispatchError)
            .unwrap_or_else(|| Val::String(crate::wasm_error::guest_chain(&error)))
    }
}

/// The guest-side value of a dispatch error; `None` for a `result<T>`.
fn error_value<Id: std::fmt::Debug + std::fmt::Display + 'static>(
    error: &DispatchError<Id>,
    kind: ErrorKind,
) -> Option<Val> {
    match kind {
        ErrorKind::None => None,
        ErrorKind::String => Some(Val::String(crate::wasm_error::guest_chain(error))),
        ErrorKind::Upstream => Some(upstream_error(error)),
        ErrorKind::DispatchError => {
            let values = [
                error.plugin().to_string(),
                error.interface_name().to_owned(),
                error.function_name().to_owned(),
                crate::wasm_error::guest_chain(error),
            ];
            let failure =
                Val::Record(FAILURE_FIELDS.iter().map(|f| (*f).to_owned()).zip(values.map(Val::String)).collect());
            Some(Val::Variant(error.wit_case().to_owned(), Some(Box::new(failure))))
        }
    }
}

/// The case of wasm-link 0.3 / 0.4's `dispatch-error` nearest to `error`:
/// the refusals it has a case for keep it, everything else is a
/// `runtime-exception` carrying the whole chain (plugin, function, cause).
fn upstream_error<Id: std::fmt::Debug + std::fmt::Display + 'static>(error: &DispatchError<Id>) -> Val {
    let case = |name: &str, text: Option<String>| Val::Variant(name.to_owned(), text.map(|t| Box::new(Val::String(t))));
    match error {
        DispatchError::Reentrant { .. } => case("lock-rejected", None),
        DispatchError::InvalidInterface { interface, .. } => case("invalid-interface-path", Some(interface.clone())),
        DispatchError::InvalidFunction { function, .. } => case("invalid-function", Some(function.clone())),
        DispatchError::ArgumentCount { .. } | DispatchError::InvalidArguments { .. } => {
            case("invalid-argument-list", None)
        }
        DispatchError::InvalidResource { .. } => case("invalid-resource-handle", None),
        DispatchError::BudgetExceeded { budget: crate::Budget::Handles { .. }, .. } => {
            case("resource-table-full", None)
        }
        _ => case("runtime-exception", Some(crate::wasm_error::guest_chain(error))),
    }
}

/// Checks a consumer's declared import against one provider's export: same
/// parameters, and a result in one of the shapes the cardinality allows.
pub(crate) fn check_import(
    declared: &ComponentFunc,
    consumer_names: &ResourceNames,
    provided: &ComponentFunc,
    provider_names: &ResourceNames,
    cardinality: InterfaceCardinality,
    single: bool,
) -> Result<Shape, String> {
    let params_match = declared.params().len() == provided.params().len()
        && declared
            .params()
            .zip(provided.params())
            .all(|((_, a), (_, b))| types::same_type(&a, &b, consumer_names, provider_names));
    let provided_result = provided.results().next();
    let declared_result = declared.results().next();
    let is_same = |ty: Option<&Type>| types::same_opt(ty, provided_result.as_ref(), consumer_names, provider_names);
    let shape = if params_match {
        detect_shape(declared_result.as_ref(), provided_result.is_none(), &is_same, cardinality, single)
    } else {
        None
    };
    shape.ok_or_else(|| {
        let params = |f: &ComponentFunc, names: &ResourceNames| {
            f.params().map(|(n, t)| format!("{n}: {}", types::describe(&t, names))).collect::<Vec<_>>().join(", ")
        };
        format!(
            "declared `func({}) -> {}`, but the plugin behind it provides `func({}) -> {}` and {} plugin(s) accept{}",
            params(declared, consumer_names),
            types::describe_opt(declared_result.as_ref(), consumer_names),
            params(provided, provider_names),
            types::describe_opt(provided_result.as_ref(), provider_names),
            cardinality,
            match (single, cardinality) {
                (true, _) => " `T`, `result<T>` or `result<T, E>`",
                (_, InterfaceCardinality::ExactlyOne) =>
                    " `T`, `result<T>`, `result<T, E>` or `tuple<string, result<T, E>>`",
                (_, InterfaceCardinality::AtMostOne) => {
                    " `option<T>`, `option<result<T>>`, `option<result<T, E>>` or \
                     `option<tuple<string, result<T, E>>>`"
                }
                _ => {
                    " `list<T>`, `list<result<T>>`, `list<result<T, E>>`, `list<tuple<string, result<T>>>`, \
                     `list<tuple<string, result<T, E>>>` or `map<string, result<T, E>>`"
                }
            }
        )
    })
}

/// The shape of an import on a socket that has no plugin behind it: any shape
/// that can be empty.
pub(crate) fn shape_without_plugins(declared: &ComponentFunc, cardinality: InterfaceCardinality) -> Option<Shape> {
    match (cardinality, declared.results().next()) {
        (InterfaceCardinality::ExactlyOne, _) => None,
        (_, None) => Some(Shape::Plain),
        (InterfaceCardinality::AtMostOne, Some(Type::Option(_))) => Some(Shape::Option),
        (InterfaceCardinality::AtLeastOne | InterfaceCardinality::Any, Some(Type::List(_))) => Some(Shape::List),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{DISPATCH_ERROR_CASES, FAILURE_FIELDS};
    use crate::dispatch_error::DispatchError;

    /// Every error maps to a case `wit/runtime.wit` declares.
    #[test]
    fn every_dispatch_error_has_a_case_of_the_wit_variant() {
        let site = || (String::from("p"), std::sync::Arc::<str>::from("i"), std::sync::Arc::<str>::from("f"));
        let (plugin, interface, function) = site();
        let errors: Vec<DispatchError<String>> = vec![
            DispatchError::Reentrant {
                plugin: plugin.clone(),
                interface: interface.clone(),
                function: function.clone(),
            },
            DispatchError::ArgumentCount { plugin, interface, function, expected: 1, found: 0 },
        ];
        for error in &errors {
            assert!(DISPATCH_ERROR_CASES.contains(&error.wit_case()), "{}", error.wit_case());
        }
        assert_eq!(FAILURE_FIELDS, ["plugin", "interface", "function", "message"]);
    }
}
