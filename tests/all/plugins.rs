//! The fixture plugins: WIT worlds and core modules, shared by the tests.

use wasm_link::InterfaceCardinality;

use crate::fixtures::{Interface, component, func, void};

pub const COUNTER_WIT: &str = r#"
package test:fixtures;
interface counter {
    get: func() -> u32;
    add: func(a: u32, b: u32) -> u32;
    bump: func() -> u32;
    boom: func() -> u32;
    nothing: func();
}
world counter-plugin { export counter; }
"#;

/// `counter`: `get` is 42, `bump` counts calls (state that a re-instantiation
/// resets), `boom` traps.
pub fn counter() -> Vec<u8> {
    component(
        COUNTER_WIT,
        "counter-plugin",
        r#"(module
            (global $n (mut i32) (i32.const 0))
            (func (export "test:fixtures/counter#get") (result i32) i32.const 42)
            (func (export "test:fixtures/counter#add") (param i32 i32) (result i32)
                (i32.add (local.get 0) (local.get 1)))
            (func (export "test:fixtures/counter#bump") (result i32)
                (global.set $n (i32.add (global.get $n) (i32.const 1)))
                (global.get $n))
            (func (export "test:fixtures/counter#boom") (result i32) unreachable)
            (func (export "test:fixtures/counter#nothing"))
        )"#,
    )
}

pub fn counter_interface(cardinality: InterfaceCardinality) -> Interface {
    Interface::new(
        "counter",
        cardinality,
        "test:fixtures/counter",
        vec![func("get"), func("add"), func("bump"), func("boom"), void("nothing")],
    )
}

pub const NUMBER_WIT: &str = r#"
package test:fixtures;
interface number {
    value: func() -> u32;
    fail: func() -> u32;
    signal: func();
}
world number-plugin { export number; }
"#;

/// A `number` provider: `value` returns `value`, `fail` traps, `signal`
/// traps when `signal_traps`.
pub fn number(value: u32, signal_traps: bool) -> Vec<u8> {
    let signal = if signal_traps { "unreachable" } else { "nop" };
    component(
        NUMBER_WIT,
        "number-plugin",
        &format!(
            r#"(module
                (func (export "test:fixtures/number#value") (result i32) i32.const {value})
                (func (export "test:fixtures/number#fail") (result i32) unreachable)
                (func (export "test:fixtures/number#signal") {signal})
            )"#
        ),
    )
}

pub fn number_interface(cardinality: InterfaceCardinality) -> Interface {
    Interface::new("number", cardinality, "test:fixtures/number", vec![func("value"), func("fail"), void("signal")])
}

pub fn sum_interface() -> Interface {
    Interface::new("sum", InterfaceCardinality::ExactlyOne, "test:fixtures/sum", vec![func("total"), func("failing")])
}

/// How a consumer imports `number`: the WIT result type of `value` and
/// `fail`, and the core code that turns what it receives into one `u32`.
pub struct ImportShape {
    /// The WIT result type, as the consumer declares it.
    pub wit: &'static str,
    /// Extra WIT items (type definitions) inside the consumer's `number`.
    pub defs: &'static str,
    /// `$decode (param $r i32) (result i32)`: reads the result at retptr `$r`.
    /// Empty for the plain shape, whose core import returns the `u32` itself.
    pub decode: &'static str,
}

/// `T` itself.
pub const PLAIN: ImportShape = ImportShape { wit: "u32", defs: "", decode: "" };

/// `result<u32, string>`: ok -> the value, err -> 1000 + message length
/// (at least 1000 and so told apart from the fixtures' values).
pub const RESULT_STRING: ImportShape = ImportShape {
    wit: "result<u32, string>",
    defs: "",
    decode: r#"(if (result i32) (i32.load8_u (local.get $r))
        (then (i32.add (i32.const 1000) (i32.load (i32.add (local.get $r) (i32.const 8)))))
        (else (i32.load (i32.add (local.get $r) (i32.const 4)))))"#,
};

/// `result<u32, dispatch-error>`: err -> 1000 + 100 * case + plugin id length.
pub const RESULT_DISPATCH_ERROR: ImportShape = ImportShape {
    wit: "result<u32, dispatch-error>",
    defs: "use wasm-link:runtime/types.{dispatch-error};",
    decode: r#"(if (result i32) (i32.load8_u (local.get $r))
        (then (i32.add (i32.add (i32.const 1000)
                (i32.mul (i32.const 100) (i32.load8_u (i32.add (local.get $r) (i32.const 4)))))
            (i32.load (i32.add (local.get $r) (i32.const 12)))))
        (else (i32.load (i32.add (local.get $r) (i32.const 4)))))"#,
};

/// `option<u32>`: none -> 0, some(v) -> 1 + v.
pub const OPTION: ImportShape = ImportShape {
    wit: "option<u32>",
    defs: "",
    decode: r#"(if (result i32) (i32.load8_u (local.get $r))
        (then (i32.add (i32.const 1) (i32.load (i32.add (local.get $r) (i32.const 4)))))
        (else (i32.const 0)))"#,
};

/// `option<result<u32, string>>`: none -> 0, some(ok v) -> 1 + v,
/// some(err) -> 1000.
pub const OPTION_RESULT: ImportShape = ImportShape {
    wit: "option<result<u32, string>>",
    defs: "",
    decode: r#"(if (result i32) (i32.load8_u (local.get $r))
        (then (if (result i32) (i32.load8_u (i32.add (local.get $r) (i32.const 4)))
            (then (i32.const 1000))
            (else (i32.add (i32.const 1) (i32.load (i32.add (local.get $r) (i32.const 8)))))))
        (else (i32.const 0)))"#,
};

/// `list<u32>`: the values as decimal digits, in list order.
pub const LIST: ImportShape = ImportShape {
    wit: "list<u32>",
    defs: "",
    decode: r#"(local $acc i32) (local $i i32) (local $p i32)
        (local.set $p (i32.load (local.get $r)))
        (block $done (loop $next
            (br_if $done (i32.ge_u (local.get $i) (i32.load (i32.add (local.get $r) (i32.const 4)))))
            (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 10))
                (i32.load (i32.add (local.get $p) (i32.mul (local.get $i) (i32.const 4))))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $next)))
        (local.get $acc)"#,
};

/// `list<result<u32, string>>`: a digit per plugin, 9 for an error.
pub const LIST_RESULT: ImportShape = ImportShape {
    wit: "list<result<u32, string>>",
    defs: "",
    decode: r#"(local $acc i32) (local $i i32) (local $e i32)
        (block $done (loop $next
            (br_if $done (i32.ge_u (local.get $i) (i32.load (i32.add (local.get $r) (i32.const 4)))))
            (local.set $e (i32.add (i32.load (local.get $r)) (i32.mul (local.get $i) (i32.const 12))))
            (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 10))
                (if (result i32) (i32.load8_u (local.get $e))
                    (then (i32.const 9))
                    (else (i32.load (i32.add (local.get $e) (i32.const 4)))))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $next)))
        (local.get $acc)"#,
};

/// `list<tuple<string, result<u32, string>>>`: two digits per plugin: the
/// id's letter (a = 1) and the value (9 for an error).
pub const LIST_TAGGED: ImportShape = ImportShape {
    wit: "list<tuple<string, result<u32, string>>>",
    defs: "",
    decode: r#"(local $acc i32) (local $i i32) (local $e i32)
        (block $done (loop $next
            (br_if $done (i32.ge_u (local.get $i) (i32.load (i32.add (local.get $r) (i32.const 4)))))
            (local.set $e (i32.add (i32.load (local.get $r)) (i32.mul (local.get $i) (i32.const 20))))
            (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 100))
                (i32.add
                    (i32.mul (i32.const 10) (i32.sub (i32.load8_u (i32.load (local.get $e))) (i32.const 96)))
                    (if (result i32) (i32.load8_u (i32.add (local.get $e) (i32.const 8)))
                        (then (i32.const 9))
                        (else (i32.load (i32.add (local.get $e) (i32.const 12))))))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $next)))
        (local.get $acc)"#,
};

/// A `sum` plugin that imports `number` in `shape`: `total` calls `value`,
/// `failing` calls `fail`, each decoded into one `u32`.
pub fn consumer(shape: &ImportShape) -> Vec<u8> {
    let ImportShape { wit, defs, decode } = shape;
    let wit = format!(
        r#"
        package test:fixtures;
        interface number {{
            {defs}
            value: func() -> {wit};
            fail: func() -> {wit};
        }}
        interface sum {{
            total: func() -> u32;
            failing: func() -> u32;
        }}
        world consumer {{ import number; export sum; }}
        "#
    );
    let core = if decode.is_empty() {
        r#"(module
            (import "test:fixtures/number" "value" (func $value (result i32)))
            (import "test:fixtures/number" "fail" (func $fail (result i32)))
            (func (export "test:fixtures/sum#total") (result i32) (call $value))
            (func (export "test:fixtures/sum#failing") (result i32) (call $fail))
        )"#
        .to_owned()
    } else {
        format!(
            r#"(module
                (import "test:fixtures/number" "value" (func $value (param i32)))
                (import "test:fixtures/number" "fail" (func $fail (param i32)))
                {allocator}
                (func $decode (param $r i32) (result i32) {decode})
                (func (export "test:fixtures/sum#total") (result i32)
                    (call $reset) (call $value (i32.const 16)) (call $decode (i32.const 16)))
                (func (export "test:fixtures/sum#failing") (result i32)
                    (call $reset) (call $fail (i32.const 16)) (call $decode (i32.const 16)))
            )"#,
            allocator = crate::fixtures::ALLOCATOR
        )
    };
    if defs.is_empty() {
        component(&wit, "consumer", &core)
    } else {
        crate::fixtures::component_using_runtime(&wit, "consumer", &core)
    }
}
