//! The component a remote plugin runs as: it imports an instance of its
//! plug's type, which the runtime defines with host functions that forward
//! each call over wRPC ([`define`]), and exports that same instance as its
//! plug. To the tree it is a component like any other, so cardinality,
//! shapes, budgets, health, quarantine and swaps apply unchanged.
//!
//! The instance type is written from the interface's WIT: each record,
//! variant, enum and flags type it uses (its own or `use`d from another
//! interface) defined and exported by name, each function typed with them.
//! Resources cannot cross the wire (a handle names state in the serving
//! process): an interface whose functions take or return one is refused,
//! naming the function.

use std::fmt::Write as _;

use wit_parser::{Handle, Resolve, Type, TypeDefKind, TypeId};

/// The name the proxy imports its forwarders under.
pub(crate) const FORWARD: &str = "wasm-link-remote";

/// Why an interface cannot be served remotely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refused {
    /// The function whose signature cannot cross.
    pub(crate) function: String,
    /// What in it cannot.
    pub(crate) reason: String,
}

/// The proxy component's text for `interface` of `resolve`, exported as
/// `export_name` (the interface's instance name).
///
/// wasmtime does not re-export an imported function as is, so each
/// function is lowered into a small core module and lifted back out of it:
/// the core function passes its arguments through (in registers, or behind
/// the one pointer both sides agree on for large ones), and where the
/// results do not fit in one register hands the import a return area it
/// takes from a bump allocator, which the lift reads and the post-return
/// resets. Signatures and sizes come from wit-parser's canonical ABI.
pub(crate) fn component_wat(
    resolve: &Resolve,
    interface: wit_parser::InterfaceId,
    export_name: &str,
) -> Result<String, Refused> {
    let mut writer = Writer { resolve, defs: String::new(), named: Vec::new(), used_names: Vec::new() };
    let iface = &resolve.interfaces[interface];
    let mut func_types = String::new();
    let mut funcs = Vec::new();
    for (index, function) in iface.functions.values().enumerate() {
        let refuse = |reason: String| Refused { function: function.name.clone(), reason };
        let mut ty = String::from("(func");
        for param in &function.params {
            let valtype = writer.valtype(&param.ty).map_err(refuse)?;
            let _ = write!(ty, " (param {} {valtype})", quote(&param.name));
        }
        if let Some(result) = &function.result {
            let valtype = writer.valtype(result).map_err(refuse)?;
            let _ = write!(ty, " (result {valtype})");
        }
        ty.push(')');
        let _ = writeln!(func_types, "  (type $f{index} {ty})");
        funcs.push((index, function));
    }
    let mut out = String::from("(component\n");
    // The forwarders, with every type they use.
    let _ = writeln!(out, "  (import {} (instance $remote", quote(FORWARD));
    out.push_str(&writer.defs);
    for (index, function) in &funcs {
        let _ = writeln!(out, "  {}", func_types.lines().nth(*index).unwrap_or_default().trim_start());
        let _ = writeln!(out, "    (export {} (func (type $f{index})))", quote(&function.name));
    }
    out.push_str("  ))\n");
    // The same types, out here, named by the import's exports.
    for (_, index, name) in &writer.named {
        let _ = writeln!(out, "  (alias export $remote {} (type $e{index}))", quote(name));
    }
    out.push_str(&func_types);
    for (index, function) in &funcs {
        let _ = writeln!(out, "  (alias export $remote {} (func $i{index}))", quote(&function.name));
    }
    out.push_str(MEMORY_MODULE);
    out.push_str("  (core instance $m (instantiate $mem))\n");
    out.push_str("  (alias core export $m \"memory\" (core memory $memory))\n");
    out.push_str("  (alias core export $m \"realloc\" (core func $realloc))\n");
    let options = "(memory $memory) (realloc $realloc) string-encoding=utf8";
    for (index, _) in &funcs {
        let _ = writeln!(out, "  (core func $l{index} (canon lower (func $i{index}) {options}))");
    }
    let (shim, lifts) = shim(resolve, &funcs, options);
    out.push_str(&shim);
    out.push_str("  (core instance $f");
    for (index, _) in &funcs {
        let _ = write!(out, " (export \"{index}\" (func $l{index}))");
    }
    out.push_str(")\n");
    out.push_str("  (core instance $s (instantiate $shim (with \"m\" (instance $m)) (with \"f\" (instance $f))))\n");
    out.push_str(&lifts);
    out.push_str("  (instance $out");
    for (_, index, name) in &writer.named {
        let _ = write!(out, " (export {} (type $e{index}))", quote(name));
    }
    for (index, function) in &funcs {
        let _ = write!(out, " (export {} (func $x{index}))", quote(&function.name));
    }
    out.push_str(")\n");
    let _ = writeln!(out, "  (export {} (instance $out))", quote(export_name));
    out.push_str(")\n");
    Ok(out)
}

/// The pass-through core module, and the lifts of its functions.
fn shim(resolve: &Resolve, funcs: &[(usize, &wit_parser::Function)], options: &str) -> (String, String) {
    let mut sizes = wit_parser::SizeAlign::default();
    sizes.fill(resolve);
    let mut module = String::new();
    module.push_str("  (core module $shim\n");
    module.push_str("    (import \"m\" \"realloc\" (func $realloc (param i32 i32 i32 i32) (result i32)))\n");
    module.push_str("    (import \"m\" \"reset\" (func $reset))\n");
    let mut lifts = String::new();
    // Imports come first in a core module.
    let mut bodies = String::new();
    for (index, function) in funcs {
        let import = resolve.wasm_signature(wit_parser::abi::AbiVariant::GuestImport, function);
        let export = resolve.wasm_signature(wit_parser::abi::AbiVariant::GuestExport, function);
        let _ = writeln!(
            module,
            "    (import \"f\" \"{index}\" (func $i{index} {} {}))",
            core_list("param", &import.params),
            core_list("result", &import.results)
        );
        let mut body = String::new();
        for param in 0..export.params.len() {
            let _ = write!(body, " local.get {param}");
        }
        let returns_pointer = import.retptr;
        if returns_pointer {
            let ty = function.result.as_ref().map(|ty| (sizes.size(ty).size_wasm32(), sizes.align(ty).align_wasm32()));
            let (size, align) = ty.unwrap_or((0, 1));
            let _ = write!(
                body,
                " i32.const 0 i32.const 0 i32.const {align} i32.const {size} call $realloc local.tee $ret"
            );
        }
        let _ = write!(body, " call $i{index}");
        if returns_pointer {
            body.push_str(" local.get $ret");
        } else {
            // Nothing the lift reads stays in memory: free it now.
            body.push_str(" call $reset");
        }
        let _ = writeln!(
            bodies,
            "    (func (export \"{index}\") {} {} (local $ret i32){body})",
            core_list("param", &export.params),
            core_list("result", &export.results)
        );
        let post = if returns_pointer {
            let _ = writeln!(bodies, "    (func (export \"post{index}\") (param i32) call $reset)");
            format!(" (post-return (core func $s \"post{index}\"))")
        } else {
            String::new()
        };
        let _ = writeln!(
            lifts,
            "  (func $x{index} (type $f{index}) (canon lift (core func $s \"{index}\") {options}{post}))"
        );
    }
    module.push_str(&bodies);
    module.push_str("  )\n");
    (module, lifts)
}

/// The proxy's memory, with a bump allocator: `realloc` hands out fresh
/// room (growing the memory as needed), `reset` takes it all back between
/// calls.
const MEMORY_MODULE: &str = r#"  (core module $mem
    (memory (export "memory") 1)
    (global $bump (mut i32) (i32.const 16))
    (func (export "realloc") (param $old i32) (param $old_size i32) (param $align i32) (param $size i32) (result i32)
      (local $ptr i32) (local $end i32) (local $have i32)
      global.get $bump local.get $align i32.add i32.const 1 i32.sub
      i32.const 0 local.get $align i32.sub i32.and local.set $ptr
      local.get $ptr local.get $size i32.add local.set $end
      local.get $end local.get $ptr i32.lt_u
      if unreachable end
      memory.size i32.const 16 i32.shl local.set $have
      local.get $end local.get $have i32.gt_u
      if
        local.get $end local.get $have i32.sub i32.const 65535 i32.add i32.const 16 i32.shr_u
        memory.grow i32.const -1 i32.eq
        if unreachable end
      end
      local.get $old
      if local.get $ptr local.get $old local.get $old_size memory.copy end
      local.get $end global.set $bump
      local.get $ptr)
    (func (export "reset") i32.const 16 global.set $bump)
  )
"#;

/// A core `(param ...)` or `(result ...)` list.
fn core_list(kind: &str, types: &[wit_parser::abi::WasmType]) -> String {
    use wit_parser::abi::WasmType;
    if types.is_empty() {
        return String::new();
    }
    let names: Vec<&str> = types
        .iter()
        .map(|ty| match ty {
            WasmType::I32 | WasmType::Pointer | WasmType::Length => "i32",
            WasmType::I64 | WasmType::PointerOrI64 => "i64",
            WasmType::F32 => "f32",
            WasmType::F64 => "f64",
        })
        .collect();
    format!("({kind} {})", names.join(" "))
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
}

struct Writer<'a> {
    resolve: &'a Resolve,
    /// Type definitions and exports, in dependency order.
    defs: String,
    /// Named types defined so far, with the index and name of their export.
    named: Vec<(TypeId, usize, String)>,
    /// Export names taken (two interfaces may each name a type `item`).
    used_names: Vec<String>,
}

impl Writer<'_> {
    /// The WAT value type of `ty`, defining the named types it uses first.
    fn valtype(&mut self, ty: &Type) -> Result<String, String> {
        Ok(match ty {
            Type::Bool => "bool".into(),
            Type::U8 => "u8".into(),
            Type::U16 => "u16".into(),
            Type::U32 => "u32".into(),
            Type::U64 => "u64".into(),
            Type::S8 => "s8".into(),
            Type::S16 => "s16".into(),
            Type::S32 => "s32".into(),
            Type::S64 => "s64".into(),
            Type::F32 => "f32".into(),
            Type::F64 => "f64".into(),
            Type::Char => "char".into(),
            Type::String => "string".into(),
            Type::ErrorContext => return Err("an `error-context` cannot cross the wire".into()),
            Type::Id(id) => self.id(*id)?,
        })
    }

    fn id(&mut self, id: TypeId) -> Result<String, String> {
        if let Some((_, index, _)) = self.named.iter().find(|(named, _, _)| *named == id) {
            return Ok(format!("$e{index}"));
        }
        let def = &self.resolve.types[id];
        let name = def.name.clone().unwrap_or_default();
        let body = match &def.kind {
            TypeDefKind::Type(inner) => return self.valtype(inner),
            TypeDefKind::List(item) => return Ok(format!("(list {})", self.valtype(item)?)),
            TypeDefKind::Option(item) => return Ok(format!("(option {})", self.valtype(item)?)),
            TypeDefKind::Tuple(tuple) => {
                let mut out = String::from("(tuple");
                for ty in &tuple.types {
                    let _ = write!(out, " {}", self.valtype(ty)?);
                }
                out.push(')');
                return Ok(out);
            }
            TypeDefKind::Result(result) => {
                let mut out = String::from("(result");
                if let Some(ok) = &result.ok {
                    let _ = write!(out, " {}", self.valtype(ok)?);
                }
                if let Some(err) = &result.err {
                    let _ = write!(out, " (error {})", self.valtype(err)?);
                }
                out.push(')');
                return Ok(out);
            }
            TypeDefKind::Record(record) => {
                let mut out = String::from("(record");
                for field in &record.fields {
                    let _ = write!(out, " (field {} {})", quote(&field.name), self.valtype(&field.ty)?);
                }
                out + ")"
            }
            TypeDefKind::Variant(variant) => {
                let mut out = String::from("(variant");
                for case in &variant.cases {
                    match &case.ty {
                        Some(ty) => {
                            let _ = write!(out, " (case {} {})", quote(&case.name), self.valtype(ty)?);
                        }
                        None => {
                            let _ = write!(out, " (case {})", quote(&case.name));
                        }
                    }
                }
                out + ")"
            }
            TypeDefKind::Enum(cases) => {
                let names: Vec<String> = cases.cases.iter().map(|c| quote(&c.name)).collect();
                format!("(enum {})", names.join(" "))
            }
            TypeDefKind::Flags(flags) => {
                let names: Vec<String> = flags.flags.iter().map(|f| quote(&f.name)).collect();
                format!("(flags {})", names.join(" "))
            }
            TypeDefKind::Resource | TypeDefKind::Handle(Handle::Own(_) | Handle::Borrow(_)) => {
                return Err(format!(
                    "resource `{}` cannot cross the wire (its handles name state in the serving process)",
                    resource_name(self.resolve, id)
                ));
            }
            TypeDefKind::Future(_) | TypeDefKind::Stream(_) => {
                return Err("futures and streams cannot cross the wire".into());
            }
            other => return Err(format!("values of kind `{}` cannot cross the wire", other.as_str())),
        };
        let index = self.named.len();
        let mut export = if name.is_empty() { format!("type-{index}") } else { name };
        while self.used_names.contains(&export) {
            export.push_str("-x");
        }
        self.used_names.push(export.clone());
        let _ = writeln!(self.defs, "    (type $t{index} {body})");
        let _ = writeln!(self.defs, "    (export {} (type $e{index} (eq $t{index})))", quote(&export));
        self.named.push((id, index, export));
        Ok(format!("$e{index}"))
    }
}

fn resource_name(resolve: &Resolve, id: TypeId) -> String {
    let mut id = id;
    loop {
        match &resolve.types[id].kind {
            TypeDefKind::Handle(Handle::Own(inner) | Handle::Borrow(inner)) | TypeDefKind::Type(Type::Id(inner)) => {
                id = *inner;
            }
            _ => return resolve.types[id].name.clone().unwrap_or_default(),
        }
    }
}
