//! Comparing and describing component value types across components.
//!
//! Two plugins are compiled separately, so the same WIT type reaches the runtime
//! as two different `Type` values, and a resource as two unrelated
//! `ResourceType`s. Resources are therefore compared by the interface instance
//! and name under which each component imports or exports them.

use std::fmt::Write as _;

use wasmtime::Engine;
use wasmtime::component::ResourceType;
use wasmtime::component::types::{self, ComponentItem, Type};

/// The resources a component imports or exports, by instance and name.
#[derive(Default)]
pub(crate) struct ResourceNames(Vec<(ResourceType, String, String)>);

impl ResourceNames {
    pub(crate) fn of(engine: &Engine, component: &types::Component) -> Self {
        let mut names = Vec::new();
        let items = component.imports(engine).chain(component.exports(engine));
        for (instance, item) in items {
            if let ComponentItem::ComponentInstance(ty) = item.ty {
                for (name, export) in ty.exports(engine) {
                    if let ComponentItem::Resource(resource) = export.ty {
                        names.push((resource, instance.to_owned(), name.to_owned()));
                    }
                }
            }
        }
        Self(names)
    }

    pub(crate) fn name(&self, ty: &ResourceType) -> Option<(&str, &str)> {
        self.0.iter().find(|(t, _, _)| t == ty).map(|(_, i, n)| (i.as_str(), n.as_str()))
    }
}

/// Whether `a` (from the component described by `ra`) and `b` (from `rb`) are
/// the same WIT type.
#[allow(clippy::many_single_char_names, reason = "a and b are the two sides throughout")]
pub(crate) fn same_type(a: &Type, b: &Type, ra: &ResourceNames, rb: &ResourceNames) -> bool {
    match (a, b) {
        (Type::List(x), Type::List(y)) => same_type(&x.ty(), &y.ty(), ra, rb),
        (Type::Option(x), Type::Option(y)) => same_type(&x.ty(), &y.ty(), ra, rb),
        (Type::Result(x), Type::Result(y)) => {
            same_opt(x.ok().as_ref(), y.ok().as_ref(), ra, rb) && same_opt(x.err().as_ref(), y.err().as_ref(), ra, rb)
        }
        (Type::Tuple(x), Type::Tuple(y)) => {
            x.types().len() == y.types().len() && x.types().zip(y.types()).all(|(a, b)| same_type(&a, &b, ra, rb))
        }
        (Type::Record(x), Type::Record(y)) => {
            x.fields().len() == y.fields().len()
                && x.fields().zip(y.fields()).all(|(a, b)| a.name == b.name && same_type(&a.ty, &b.ty, ra, rb))
        }
        (Type::Variant(x), Type::Variant(y)) => {
            x.cases().len() == y.cases().len()
                && x.cases()
                    .zip(y.cases())
                    .all(|(a, b)| a.name == b.name && same_opt(a.ty.as_ref(), b.ty.as_ref(), ra, rb))
        }
        (Type::Enum(x), Type::Enum(y)) => x.names().eq(y.names()),
        (Type::Flags(x), Type::Flags(y)) => x.names().eq(y.names()),
        (Type::Own(x), Type::Own(y)) | (Type::Borrow(x), Type::Borrow(y)) => {
            // The same resource of the same interface, whichever version on
            // its track each side was built against.
            matches!((ra.name(x), rb.name(y)), (Some((pi, pn)), Some((qi, qn)))
                if pn == qn && crate::spec::version::same_track(pi, qi))
        }
        (Type::FixedLengthList(x), Type::FixedLengthList(y)) => {
            x.len() == y.len() && same_type(&x.ty(), &y.ty(), ra, rb)
        }
        (Type::Map(x), Type::Map(y)) => {
            same_type(&x.key(), &y.key(), ra, rb) && same_type(&x.value(), &y.value(), ra, rb)
        }
        // Async values never cross a socket: the runtime does not enable
        // the component-model-async feature.
        (Type::Map(_) | Type::FixedLengthList(_) | Type::Future(_) | Type::Stream(_) | Type::ErrorContext, _) => false,
        _ => a == b,
    }
}

pub(crate) fn same_opt(a: Option<&Type>, b: Option<&Type>, ra: &ResourceNames, rb: &ResourceNames) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => same_type(a, b, ra, rb),
        _ => false,
    }
}

/// Whether a value of type `ty` may hold a resource handle.
pub(crate) fn has_resources(ty: &Type) -> bool {
    match ty {
        Type::Own(_) | Type::Borrow(_) => true,
        Type::List(l) => has_resources(&l.ty()),
        Type::Option(o) => has_resources(&o.ty()),
        Type::Result(r) => r.ok().is_some_and(|t| has_resources(&t)) || r.err().is_some_and(|t| has_resources(&t)),
        Type::Tuple(t) => t.types().any(|t| has_resources(&t)),
        Type::Record(r) => r.fields().any(|f| has_resources(&f.ty)),
        Type::Variant(v) => v.cases().any(|c| c.ty.as_ref().is_some_and(has_resources)),
        Type::Map(m) => has_resources(&m.key()) || has_resources(&m.value()),
        Type::FixedLengthList(l) => has_resources(&l.ty()),
        _ => false,
    }
}

/// The type in WIT syntax, for error messages.
pub(crate) fn describe(ty: &Type, names: &ResourceNames) -> String {
    let mut out = String::new();
    write_type(&mut out, ty, names);
    out
}

/// An optional result type in WIT syntax (`_` for none).
pub(crate) fn describe_opt(ty: Option<&Type>, names: &ResourceNames) -> String {
    ty.map_or_else(|| "_".to_owned(), |t| describe(t, names))
}

fn write_type(out: &mut String, ty: &Type, names: &ResourceNames) {
    if let Some(name) = primitive_name(ty) {
        out.push_str(name);
        return;
    }
    let list = |out: &mut String, open: &str, items: Vec<Type>| {
        out.push_str(open);
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            write_type(out, item, names);
        }
        out.push('>');
    };
    match ty {
        Type::List(l) => list(out, "list<", vec![l.ty()]),
        Type::FixedLengthList(l) => {
            out.push_str("list<");
            write_type(out, &l.ty(), names);
            let _ = write!(out, ", {}>", l.len());
        }
        Type::Map(m) => list(out, "map<", vec![m.key(), m.value()]),
        Type::Option(o) => list(out, "option<", vec![o.ty()]),
        Type::Tuple(t) => list(out, "tuple<", t.types().collect()),
        Type::Result(r) => {
            out.push_str("result<");
            out.push_str(&describe_opt(r.ok().as_ref(), names));
            out.push_str(", ");
            out.push_str(&describe_opt(r.err().as_ref(), names));
            out.push('>');
        }
        Type::Record(r) => {
            out.push_str("record { ");
            for (i, field) in r.fields().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let _ = write!(out, "{}: ", field.name);
                write_type(out, &field.ty, names);
            }
            out.push_str(" }");
        }
        Type::Variant(v) => {
            out.push_str("variant { ");
            for (i, case) in v.cases().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(case.name);
                if let Some(ty) = &case.ty {
                    out.push('(');
                    write_type(out, ty, names);
                    out.push(')');
                }
            }
            out.push_str(" }");
        }
        Type::Enum(e) => {
            let _ = write!(out, "enum {{ {} }}", e.names().collect::<Vec<_>>().join(", "));
        }
        Type::Flags(f) => {
            let _ = write!(out, "flags {{ {} }}", f.names().collect::<Vec<_>>().join(", "));
        }
        Type::Own(r) | Type::Borrow(r) => {
            let kind = if matches!(ty, Type::Own(_)) { "own" } else { "borrow" };
            match names.name(r) {
                Some((instance, name)) => {
                    let _ = write!(out, "{kind}<{name}> (from `{instance}`)");
                }
                None => {
                    let _ = write!(out, "{kind}<?>");
                }
            }
        }
        Type::Future(_) => out.push_str("future"),
        Type::Stream(_) => out.push_str("stream"),
        _ => out.push('?'),
    }
}

/// Whether `val` is a value of type `ty`, as far as wasmtime's lowering checks
/// it. Used after a failed call to tell ill-typed arguments (nothing ran) from
/// a failure inside wasm.
#[allow(clippy::match_same_arms, reason = "one arm per value kind reads as a table")]
pub(crate) fn val_matches(val: &wasmtime::component::Val, ty: &Type) -> bool {
    use wasmtime::component::Val;
    // Every `Val` variant is listed, without a catch-all: a variant added by
    // a later wasmtime fails to compile here instead of being taken for a
    // mismatch that blames the caller.
    match val {
        Val::Bool(_) => *ty == Type::Bool,
        Val::S8(_) => *ty == Type::S8,
        Val::U8(_) => *ty == Type::U8,
        Val::S16(_) => *ty == Type::S16,
        Val::U16(_) => *ty == Type::U16,
        Val::S32(_) => *ty == Type::S32,
        Val::U32(_) => *ty == Type::U32,
        Val::S64(_) => *ty == Type::S64,
        Val::U64(_) => *ty == Type::U64,
        Val::Float32(_) => *ty == Type::Float32,
        Val::Float64(_) => *ty == Type::Float64,
        Val::Char(_) => *ty == Type::Char,
        Val::String(_) => *ty == Type::String,
        Val::List(items) => match ty {
            Type::List(list) => {
                let item = list.ty();
                items.iter().all(|v| val_matches(v, &item))
            }
            _ => false,
        },
        Val::FixedLengthList(items) => match ty {
            Type::FixedLengthList(list) => {
                let item = list.ty();
                usize::try_from(list.len()).is_ok_and(|len| len == items.len())
                    && items.iter().all(|v| val_matches(v, &item))
            }
            _ => false,
        },
        Val::Map(entries) => match ty {
            Type::Map(map) => {
                let (key, value) = (map.key(), map.value());
                entries.iter().all(|(k, v)| val_matches(k, &key) && val_matches(v, &value))
            }
            _ => false,
        },
        Val::Option(value) => match (value, ty) {
            (None, Type::Option(_)) => true,
            (Some(v), Type::Option(o)) => val_matches(v, &o.ty()),
            _ => false,
        },
        Val::Result(result) => match ty {
            Type::Result(r) => {
                let (value, ty) = match result {
                    Ok(v) => (v, r.ok()),
                    Err(v) => (v, r.err()),
                };
                match (value, ty) {
                    (None, None) => true,
                    (Some(v), Some(t)) => val_matches(v, &t),
                    _ => false,
                }
            }
            _ => false,
        },
        Val::Tuple(items) => match ty {
            Type::Tuple(t) => {
                items.len() == t.types().len() && items.iter().zip(t.types()).all(|(v, t)| val_matches(v, &t))
            }
            _ => false,
        },
        Val::Record(fields) => match ty {
            Type::Record(r) => {
                fields.len() == r.fields().len()
                    && fields.iter().zip(r.fields()).all(|((name, v), f)| name == f.name && val_matches(v, &f.ty))
            }
            _ => false,
        },
        Val::Variant(case, payload) => match ty {
            Type::Variant(v) => v.cases().any(|c| {
                c.name == case
                    && match (payload, &c.ty) {
                        (None, None) => true,
                        (Some(p), Some(t)) => val_matches(p, t),
                        _ => false,
                    }
            }),
            _ => false,
        },
        Val::Enum(case) => matches!(ty, Type::Enum(e) if e.names().any(|n| n == case)),
        Val::Flags(flags) => matches!(ty, Type::Flags(f) if flags.iter().all(|flag| f.names().any(|n| n == flag))),
        Val::Resource(r) => matches!(ty, Type::Own(t) | Type::Borrow(t) if r.ty() == *t),
        Val::Future(_) => matches!(ty, Type::Future(_)),
        Val::Stream(_) => matches!(ty, Type::Stream(_)),
        Val::ErrorContext(_) => *ty == Type::ErrorContext,
    }
}

/// The WIT name of a primitive type.
pub(crate) fn primitive_name(ty: &Type) -> Option<&'static str> {
    Some(match ty {
        Type::Bool => "bool",
        Type::S8 => "s8",
        Type::U8 => "u8",
        Type::S16 => "s16",
        Type::U16 => "u16",
        Type::S32 => "s32",
        Type::U32 => "u32",
        Type::S64 => "s64",
        Type::U64 => "u64",
        Type::Float32 => "f32",
        Type::Float64 => "f64",
        Type::Char => "char",
        Type::String => "string",
        Type::ErrorContext => "error-context",
        _ => return None,
    })
}
