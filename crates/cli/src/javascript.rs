//! `wasm-link new --lang js`: an `app.js` ES module as componentize-js
//! expects it, every export stubbed with a body that throws.
//!
//! componentize-js takes each exported interface from the module's export
//! of the interface's name in `lowerCamelCase` (`transform`), an object whose
//! methods are the interface's functions in `lowerCamelCase` (`setParagraphs`)
//! and whose `UpperCamelCase` members are the classes of its resources
//! (`Document`, with `constructor`, methods and `static` functions). Imports
//! come from the interface's full name (`demo:parser/parser@0.1.0`). Each
//! stub has a `JSDoc` comment with the function's documentation and its WIT
//! signature.

use std::fmt::Write as _;

use wit_parser::{Docs, Function, FunctionKind, Handle, Resolve, Type, TypeDefKind, TypeId, WorldItem};

/// `app.js` of a new plugin `id` targeting the world in `world_text`.
pub fn app(world_text: &str, id: &str) -> Result<String, String> {
    let mut resolve = Resolve::new();
    let package = resolve.push_str("world.wit", world_text).map_err(|e| format!("the world does not parse: {e:#}"))?;
    let world = resolve.select_world(&[package], Some(&crate::wit::world_name(id))).map_err(|e| format!("{e:#}"))?;
    let world = &resolve.worlds[world];
    let mut out = format!(
        "// Plugin `{id}`, in JavaScript.\n//\n\
         // Its world is `wit/world.wit` (from `wasm-link wit`); build it with\n\
         // `wasm-link build DIR {id}`.\n"
    );
    let mut hints = String::new();
    for item in world.imports.values() {
        let WorldItem::Interface { id: interface, .. } = item else { continue };
        let functions: Vec<String> = resolve.interfaces[*interface]
            .functions
            .values()
            .filter(|f| matches!(f.kind, FunctionKind::Freestanding | FunctionKind::AsyncFreestanding))
            .map(|f| lower_camel(&f.name))
            .collect();
        if let (false, Some(name)) = (functions.is_empty(), resolve.id_of(*interface)) {
            let _ = writeln!(hints, "//   import {{ {} }} from \"{name}\";", functions.join(", "));
        }
    }
    if !hints.is_empty() {
        out.push_str("//\n// Its sockets' functions are imported by the interface's name:\n");
        out.push_str(&hints);
    }
    for item in world.exports.values() {
        let WorldItem::Interface { id: interface, .. } = item else { continue };
        let iface = &resolve.interfaces[*interface];
        let Some(name) = &iface.name else { continue };
        let object = lower_camel(name);
        out.push('\n');
        docs_comment(&mut out, "", &iface.docs, &format!("interface {name}"));
        let _ = writeln!(out, "export const {object} = {{");
        let mut first = true;
        for (type_name, &ty) in &iface.types {
            if !matches!(resolve.types[ty].kind, TypeDefKind::Resource) {
                continue;
            }
            if !first {
                out.push('\n');
            }
            first = false;
            resource(&mut out, &resolve, type_name, ty, iface.functions.values());
        }
        for function in iface.functions.values() {
            if function.kind.resource().is_some() {
                continue;
            }
            if !first {
                out.push('\n');
            }
            first = false;
            let signature = wit_signature(&resolve, function);
            docs_comment(&mut out, "  ", &function.docs, &signature);
            let what = format!("{object}.{}", lower_camel(&function.name));
            let _ = writeln!(out, "  {}({}) {{", lower_camel(&function.name), params(function).join(", "));
            let _ = writeln!(out, "    throw new Error(\"todo: {what}\");");
            out.push_str("  },\n");
        }
        out.push_str("};\n");
    }
    Ok(out)
}

/// A resource's class, a member of its interface's object.
fn resource<'a>(
    out: &mut String,
    resolve: &Resolve,
    name: &str,
    ty: TypeId,
    functions: impl Iterator<Item = &'a Function>,
) {
    let class = upper_camel(name);
    docs_comment(out, "  ", &resolve.types[ty].docs, &format!("resource {name}"));
    // Anonymous: a class named after the resource (`Error` for `error`)
    // would shadow the global its stubs throw.
    let _ = writeln!(out, "  {class}: class {{");
    let mut first = true;
    for function in functions.filter(|f| f.kind.resource() == Some(ty)) {
        if !first {
            out.push('\n');
        }
        first = false;
        let signature = wit_signature(resolve, function);
        docs_comment(out, "    ", &function.docs, &signature);
        let method = lower_camel(function.item_name());
        let (head, what) = match function.kind {
            FunctionKind::Constructor(_) => ("constructor".to_owned(), format!("new {class}")),
            FunctionKind::Static(_) | FunctionKind::AsyncStatic(_) => {
                (format!("static {method}"), format!("{class}.{method}"))
            }
            _ => (method.clone(), format!("{class}.{method}")),
        };
        let _ = writeln!(out, "    {head}({}) {{", params(function).join(", "));
        let _ = writeln!(out, "      throw new Error(\"todo: {what}\");");
        out.push_str("    }\n");
    }
    out.push_str("  },\n");
}

/// A `JSDoc` comment: the WIT documentation, then the WIT signature.
fn docs_comment(out: &mut String, indent: &str, docs: &Docs, signature: &str) {
    let _ = writeln!(out, "{indent}/**");
    if let Some(text) = &docs.contents {
        for line in text.trim_end().lines() {
            let line = line.trim_end().replace("*/", "*\\/");
            if line.is_empty() {
                let _ = writeln!(out, "{indent} *");
            } else {
                let _ = writeln!(out, "{indent} * {line}");
            }
        }
        let _ = writeln!(out, "{indent} *");
    }
    let _ = writeln!(out, "{indent} * WIT: `{signature}`");
    let _ = writeln!(out, "{indent} */");
}

/// The parameter names of `function` in JavaScript (a method's `self` is
/// `this`).
fn params(function: &Function) -> Vec<String> {
    let skip = usize::from(matches!(function.kind, FunctionKind::Method(_) | FunctionKind::AsyncMethod(_)));
    function
        .params
        .iter()
        .skip(skip)
        .map(|param| {
            let name = lower_camel(&param.name);
            if RESERVED.contains(&name.as_str()) { format!("{name}_") } else { name }
        })
        .collect()
}

/// Words JavaScript keeps: not parameter names.
const RESERVED: &[&str] = &[
    "await",
    "break",
    "case",
    "catch",
    "class",
    "const",
    "continue",
    "debugger",
    "default",
    "delete",
    "do",
    "else",
    "enum",
    "export",
    "extends",
    "false",
    "finally",
    "for",
    "function",
    "if",
    "implements",
    "import",
    "in",
    "instanceof",
    "interface",
    "let",
    "new",
    "null",
    "package",
    "private",
    "protected",
    "public",
    "return",
    "static",
    "super",
    "switch",
    "this",
    "throw",
    "true",
    "try",
    "typeof",
    "var",
    "void",
    "while",
    "with",
    "yield",
];

/// `function` as WIT declares it: `name: func(a: t) -> r`,
/// `name: static func(..)`, `constructor(..)`.
fn wit_signature(resolve: &Resolve, function: &Function) -> String {
    let skip = usize::from(matches!(function.kind, FunctionKind::Method(_) | FunctionKind::AsyncMethod(_)));
    let params: Vec<String> = function
        .params
        .iter()
        .skip(skip)
        .map(|param| format!("{}: {}", param.name, wit_type(resolve, &param.ty)))
        .collect();
    let params = params.join(", ");
    if let FunctionKind::Constructor(_) = function.kind {
        return format!("constructor({params})");
    }
    let prefix = match function.kind {
        FunctionKind::Static(_) => "static ",
        FunctionKind::AsyncStatic(_) => "static async ",
        FunctionKind::AsyncFreestanding | FunctionKind::AsyncMethod(_) => "async ",
        _ => "",
    };
    let result = function.result.map(|ty| format!(" -> {}", wit_type(resolve, &ty))).unwrap_or_default();
    format!("{}: {prefix}func({params}){result}", function.item_name())
}

/// A type as WIT spells it.
fn wit_type(resolve: &Resolve, ty: &Type) -> String {
    let simple = match ty {
        Type::Bool => "bool",
        Type::U8 => "u8",
        Type::U16 => "u16",
        Type::U32 => "u32",
        Type::U64 => "u64",
        Type::S8 => "s8",
        Type::S16 => "s16",
        Type::S32 => "s32",
        Type::S64 => "s64",
        Type::F32 => "f32",
        Type::F64 => "f64",
        Type::Char => "char",
        Type::String => "string",
        Type::ErrorContext => "error-context",
        Type::Id(id) => return wit_type_id(resolve, *id),
    };
    simple.to_owned()
}

fn wit_type_id(resolve: &Resolve, id: TypeId) -> String {
    let def = &resolve.types[id];
    if let Some(name) = &def.name {
        return name.clone();
    }
    let inner = |ty: &Type| wit_type(resolve, ty);
    let optional = |ty: &Option<Type>| ty.as_ref().map_or_else(|| "_".to_owned(), inner);
    match &def.kind {
        TypeDefKind::List(ty) => format!("list<{}>", inner(ty)),
        TypeDefKind::FixedLengthList(ty, n) => format!("list<{}, {n}>", inner(ty)),
        TypeDefKind::Map(k, v) => format!("map<{}, {}>", inner(k), inner(v)),
        TypeDefKind::Option(ty) => format!("option<{}>", inner(ty)),
        TypeDefKind::Result(r) => match (&r.ok, &r.err) {
            (None, None) => "result".to_owned(),
            (ok, None) => format!("result<{}>", optional(ok)),
            (ok, err) => format!("result<{}, {}>", optional(ok), optional(err)),
        },
        TypeDefKind::Tuple(t) => format!("tuple<{}>", t.types.iter().map(inner).collect::<Vec<_>>().join(", ")),
        TypeDefKind::Handle(Handle::Own(r)) => wit_type_id(resolve, *r),
        TypeDefKind::Handle(Handle::Borrow(r)) => format!("borrow<{}>", wit_type_id(resolve, *r)),
        TypeDefKind::Future(ty) => ty.as_ref().map_or_else(|| "future".to_owned(), |t| format!("future<{}>", inner(t))),
        TypeDefKind::Stream(ty) => ty.as_ref().map_or_else(|| "stream".to_owned(), |t| format!("stream<{}>", inner(t))),
        TypeDefKind::Type(ty) => inner(ty),
        other => other.as_str().to_owned(),
    }
}

/// `set-paragraphs` as `setParagraphs` (as componentize-js names it).
fn lower_camel(name: &str) -> String {
    let upper = upper_camel(name);
    let mut chars = upper.chars();
    match chars.next() {
        Some(first) if name.starts_with(|c: char| c.is_ascii_lowercase()) => {
            first.to_ascii_lowercase().to_string() + chars.as_str()
        }
        _ => upper,
    }
}

/// `text-document` as `TextDocument`.
fn upper_camel(name: &str) -> String {
    name.split('-')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORLD: &str = r"
package wasm-link:scaffold;

world rich {
    import demo:other/other@0.1.0;
    export demo:rich/shapes@0.1.0;
}

package demo:other@0.1.0 {
  interface other {
    record point { x: s32, y: s32 }
    get-point: func() -> point;
  }
}

package demo:rich@0.1.0 {
  /// Shapes.
  interface shapes {
    use demo:other/other@0.1.0.{point};
    /// A canvas.
    resource canvas {
      /// Makes one.
      constructor(width: u32, height: u32);
      draw-line: func(start: point, end: option<point>) -> result<u32, string>;
      make: static func(p: point) -> canvas;
    }
    /// A new canvas.
    ///
    /// Wide.
    new-canvas: func(w: u32, default: borrow<canvas>) -> tuple<canvas, list<u8>>;
    nothing: func();
  }
}
";

    #[test]
    fn the_app_exports_the_interface_object_with_resource_classes() {
        let app = app(WORLD, "rich").unwrap();
        assert!(app.contains("//   import { getPoint } from \"demo:other/other@0.1.0\";\n"), "{app}");
        assert!(app.contains("export const shapes = {\n"), "{app}");
        assert!(app.contains("  Canvas: class {\n"), "{app}");
        assert!(
            app.contains("    constructor(width, height) {\n      throw new Error(\"todo: new Canvas\");"),
            "{app}"
        );
        assert!(app.contains("     * WIT: `constructor(width: u32, height: u32)`\n"), "{app}");
        assert!(app.contains("    drawLine(start, end) {\n"), "{app}");
        assert!(app.contains("`draw-line: func(start: point, end: option<point>) -> result<u32, string>`"), "{app}");
        assert!(app.contains("    static make(p) {\n"), "{app}");
        assert!(app.contains("`make: static func(p: point) -> canvas`"), "{app}");
        assert!(app.contains("  /**\n   * A new canvas.\n   *\n   * Wide.\n   *\n   * WIT: `new-canvas: func(w: u32, default: borrow<canvas>) -> tuple<canvas, list<u8>>`\n   */\n  newCanvas(w, default_) {\n    throw new Error(\"todo: shapes.newCanvas\");\n  },\n"), "{app}");
        assert!(app.contains("  nothing() {\n"), "{app}");
    }

    #[test]
    fn names_in_camel_case() {
        assert_eq!(lower_camel("set-paragraphs"), "setParagraphs");
        assert_eq!(upper_camel("text-document"), "TextDocument");
        assert_eq!(lower_camel("parse"), "parse");
    }
}
