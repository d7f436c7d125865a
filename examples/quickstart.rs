//! A small modular application: a `calc` root served by every plugin that
//! implements it, one of which depends on a `number` plugin through a socket,
//! and one of which is broken. Run with `cargo run --example quickstart`.

use wasm_link::{
    Component, Engine, FunctionData, InterfaceCardinality, InterfaceData, Linker, PluginCtxView, PluginData,
    PluginTree, ResourceTable, ReturnKind, Socket, Val,
};

struct Func(&'static str);
impl FunctionData for Func {
    fn name(&self) -> &str {
        self.0
    }
    fn return_kind(&self) -> ReturnKind {
        ReturnKind::AssumeNoResources
    }
    fn is_method(&self) -> bool {
        false
    }
}

struct Interface {
    id: &'static str,
    path: &'static str,
    cardinality: InterfaceCardinality,
    functions: Vec<Func>,
}
impl InterfaceData for Interface {
    type Id = &'static str;
    type Error = std::convert::Infallible;
    type Function = Func;
    type FunctionIter<'a> = std::slice::Iter<'a, Func>;
    type ResourceIter<'a> = std::iter::Empty<&'a String>;
    fn id(&self) -> Result<&&'static str, Self::Error> {
        Ok(&self.id)
    }
    fn cardinality(&self) -> Result<&InterfaceCardinality, Self::Error> {
        Ok(&self.cardinality)
    }
    fn package_name(&self) -> Result<&str, Self::Error> {
        Ok(self.path)
    }
    fn functions(&self) -> Result<Self::FunctionIter<'_>, Self::Error> {
        Ok(self.functions.iter())
    }
    fn resources(&self) -> Result<Self::ResourceIter<'_>, Self::Error> {
        Ok(std::iter::empty())
    }
}

struct Plugin {
    id: &'static str,
    plug: &'static str,
    sockets: Vec<&'static str>,
    wat: &'static str,
    table: ResourceTable,
}
impl PluginCtxView for Plugin {
    fn resource_table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }
}
impl PluginData for Plugin {
    type Id = &'static str;
    type InterfaceId = &'static str;
    type Error = wasm_link::WasmError;
    type SocketIter<'a> = std::slice::Iter<'a, &'static str>;
    fn id(&self) -> Result<&&'static str, Self::Error> {
        Ok(&self.id)
    }
    fn plug(&self) -> Result<&&'static str, Self::Error> {
        Ok(&self.plug)
    }
    fn sockets(&self) -> Result<Self::SocketIter<'_>, Self::Error> {
        Ok(self.sockets.iter())
    }
    fn component(&self, engine: &Engine) -> Result<Component, Self::Error> {
        Component::new(engine, self.wat).map_err(wasm_link::WasmError::from)
    }
}

/// Exports `example:calc/number` whose `value` is 7.
const SEVEN: &str = r#"(component
    (core module $m (func (export "value") (result i32) i32.const 7))
    (core instance $i (instantiate $m))
    (func $value (result u32) (canon lift (core func $i "value")))
    (instance $number (export "value" (func $value)))
    (export "example:calc/number" (instance $number)))"#;

/// Exports `example:calc/calc` whose `answer` is the socket's number plus 35.
const ADDER: &str = r#"(component
    (import "example:calc/number" (instance $number (export "value" (func (result u32)))))
    (core func $value (canon lower (func $number "value")))
    (core module $m
        (import "number" "value" (func $value (result i32)))
        (func (export "answer") (result i32) (i32.add (call $value) (i32.const 35))))
    (core instance $i (instantiate $m (with "number" (instance (export "value" (func $value))))))
    (func $answer (result u32) (canon lift (core func $i "answer")))
    (instance $calc (export "answer" (func $answer)))
    (export "example:calc/calc" (instance $calc)))"#;

/// Exports `example:calc/calc` whose `answer` is always 1.
const ONE: &str = r#"(component
    (core module $m (func (export "answer") (result i32) i32.const 1))
    (core instance $i (instantiate $m))
    (func $answer (result u32) (canon lift (core func $i "answer")))
    (instance $calc (export "answer" (func $answer)))
    (export "example:calc/calc" (instance $calc)))"#;

fn main() {
    let interfaces = [
        Interface {
            id: "calc",
            path: "example:calc/calc",
            cardinality: InterfaceCardinality::Any,
            functions: vec![Func("answer")],
        },
        Interface {
            id: "number",
            path: "example:calc/number",
            cardinality: InterfaceCardinality::ExactlyOne,
            functions: vec![Func("value")],
        },
    ];
    let plugin = |id, plug, sockets: &[&'static str], wat| Plugin {
        id,
        plug,
        sockets: sockets.to_vec(),
        wat,
        table: ResourceTable::new(),
    };
    let plugins = [
        plugin("adder", "calc", &["number"], ADDER),
        plugin("one", "calc", &[], ONE),
        plugin("broken", "calc", &[], "(component this is not valid)"),
        plugin("seven", "number", &[], SEVEN),
    ];

    let (tree, build_errors) = PluginTree::new("calc", interfaces, plugins);
    for error in &build_errors {
        println!("not in the tree: {}", wasm_link::error_chain(error));
    }
    let engine = Engine::default();
    let linker = Linker::new(&engine);
    let (head, load_errors) = match tree.load(&engine, &linker) {
        Ok(loaded) => loaded,
        Err((error, _)) => {
            eprintln!("the root cannot be served: {error}");
            std::process::exit(1);
        }
    };
    println!("loaded behind `{}`: {:?}", head.interface_path(), head.plugin_ids());
    for error in &load_errors {
        println!("not loaded: {}", wasm_link::error_chain(error));
    }
    let Socket::Any(answers) = head.dispatch("example:calc/calc", "answer", true, &[]) else {
        unreachable!("`calc` is an Any interface");
    };
    let mut answers: Vec<_> = answers.into_iter().collect();
    answers.sort_by_key(|(id, _)| *id);
    for (id, answer) in answers {
        match answer {
            Ok(Val::U32(n)) => println!("{id}: {n}"),
            Ok(other) => println!("{id}: {other:?}"),
            Err(error) => println!("{id}: failed: {}", wasm_link::error_chain(&error)),
        }
    }
}
