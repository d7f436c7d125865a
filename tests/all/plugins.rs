//! The fixture plugins: WIT worlds and core modules, shared by the tests.

use wasm_link::InterfaceCardinality;

use crate::fixtures::{Interface, component, func, void};

pub const COUNTER_WIT: &str = r"
package test:fixtures;
interface counter {
    get: func() -> u32;
    add: func(a: u32, b: u32) -> u32;
    bump: func() -> u32;
    boom: func() -> u32;
    nothing: func();
}
world counter-plugin { export counter; }
";

/// `counter`: `get` is 42, `bump` counts calls (state that a re-instantiation
/// resets), `boom` traps.
pub fn counter() -> Vec<u8> {
    counter_from(0)
}

/// `counter` whose `bump` counts on from `start`.
pub fn counter_from(start: u32) -> Vec<u8> {
    component(
        COUNTER_WIT,
        "counter-plugin",
        &format!(
            r#"(module
            (global $n (mut i32) (i32.const {start}))
            (func (export "test:fixtures/counter#get") (result i32) i32.const 42)
            (func (export "test:fixtures/counter#add") (param i32 i32) (result i32)
                (i32.add (local.get 0) (local.get 1)))
            (func (export "test:fixtures/counter#bump") (result i32)
                (global.set $n (i32.add (global.get $n) (i32.const 1)))
                (global.get $n))
            (func (export "test:fixtures/counter#boom") (result i32) unreachable)
            (func (export "test:fixtures/counter#nothing"))
        )"#
        ),
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

pub const NUMBER_WIT: &str = r"
package test:fixtures;
interface number {
    value: func() -> u32;
    fail: func() -> u32;
    signal: func();
}
world number-plugin { export number; }
";

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
    decode: r"(if (result i32) (i32.load8_u (local.get $r))
        (then (i32.add (i32.const 1000) (i32.load (i32.add (local.get $r) (i32.const 8)))))
        (else (i32.load (i32.add (local.get $r) (i32.const 4)))))",
};

/// `result<u32, dispatch-error>`: err -> 1000 + 100 * case + plugin id length.
pub const RESULT_DISPATCH_ERROR: ImportShape = ImportShape {
    wit: "result<u32, dispatch-error>",
    defs: "use wasm-link:runtime/types@0.1.0.{dispatch-error};",
    decode: r"(if (result i32) (i32.load8_u (local.get $r))
        (then (i32.add (i32.add (i32.const 1000)
                (i32.mul (i32.const 100) (i32.load8_u (i32.add (local.get $r) (i32.const 4)))))
            (i32.load (i32.add (local.get $r) (i32.const 12)))))
        (else (i32.load (i32.add (local.get $r) (i32.const 4)))))",
};

/// `option<u32>`: none -> 0, some(v) -> 1 + v.
pub const OPTION: ImportShape = ImportShape {
    wit: "option<u32>",
    defs: "",
    decode: r"(if (result i32) (i32.load8_u (local.get $r))
        (then (i32.add (i32.const 1) (i32.load (i32.add (local.get $r) (i32.const 4)))))
        (else (i32.const 0)))",
};

/// `option<result<u32, string>>`: none -> 0, some(ok v) -> 1 + v,
/// some(err) -> 1000.
pub const OPTION_RESULT: ImportShape = ImportShape {
    wit: "option<result<u32, string>>",
    defs: "",
    decode: r"(if (result i32) (i32.load8_u (local.get $r))
        (then (if (result i32) (i32.load8_u (i32.add (local.get $r) (i32.const 4)))
            (then (i32.const 1000))
            (else (i32.add (i32.const 1) (i32.load (i32.add (local.get $r) (i32.const 8)))))))
        (else (i32.const 0)))",
};

/// `list<u32>`: the values as decimal digits, in list order.
pub const LIST: ImportShape = ImportShape {
    wit: "list<u32>",
    defs: "",
    decode: r"(local $acc i32) (local $i i32) (local $p i32)
        (local.set $p (i32.load (local.get $r)))
        (block $done (loop $next
            (br_if $done (i32.ge_u (local.get $i) (i32.load (i32.add (local.get $r) (i32.const 4)))))
            (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 10))
                (i32.load (i32.add (local.get $p) (i32.mul (local.get $i) (i32.const 4))))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $next)))
        (local.get $acc)",
};

/// `list<result<u32, string>>`: a digit per plugin, 9 for an error.
pub const LIST_RESULT: ImportShape = ImportShape {
    wit: "list<result<u32, string>>",
    defs: "",
    decode: r"(local $acc i32) (local $i i32) (local $e i32)
        (block $done (loop $next
            (br_if $done (i32.ge_u (local.get $i) (i32.load (i32.add (local.get $r) (i32.const 4)))))
            (local.set $e (i32.add (i32.load (local.get $r)) (i32.mul (local.get $i) (i32.const 12))))
            (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 10))
                (if (result i32) (i32.load8_u (local.get $e))
                    (then (i32.const 9))
                    (else (i32.load (i32.add (local.get $e) (i32.const 4)))))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $next)))
        (local.get $acc)",
};

/// `list<tuple<string, result<u32, string>>>`: two digits per plugin: the
/// id's letter (a = 1) and the value (9 for an error).
pub const LIST_TAGGED: ImportShape = ImportShape {
    wit: "list<tuple<string, result<u32, string>>>",
    defs: "",
    decode: r"(local $acc i32) (local $i i32) (local $e i32)
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
        (local.get $acc)",
};

/// A `sum` plugin that imports `number` in `shape`: `total` calls `value`,
/// `failing` calls `fail`, each decoded into one `u32`.
pub fn consumer(shape: &ImportShape) -> Vec<u8> {
    consumer_on_runtime(shape, crate::fixtures::RUNTIME_WIT)
}

/// [`consumer`], built against `runtime` as the text of the runtime's WIT
/// package (an older release of it, say).
pub fn consumer_on_runtime(shape: &ImportShape, runtime: &str) -> Vec<u8> {
    let ImportShape { wit, defs, decode } = shape;
    let wit = format!(
        r"
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
        "
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
        crate::fixtures::component_on_runtime(runtime, &wit, "consumer", &core)
    }
}

pub const DOCS_ITEMS: &str = r"
    resource doc {
        constructor(v: u32);
        get: func() -> u32;
        set: func(v: u32);
    }
    make: func(v: u32) -> doc;
    read: func(d: borrow<doc>) -> u32;
    consume: func(d: doc) -> u32;
    live: func() -> u32;
";

/// `docs`: a `doc` resource holding a number. `live` counts docs not yet
/// destroyed, so a test can see that every handle reached the destructor.
pub fn docs() -> Vec<u8> {
    component(
        &format!("package test:fixtures;\ninterface docs {{ {DOCS_ITEMS} }}\nworld docs-plugin {{ export docs; }}"),
        "docs-plugin",
        r#"(module
            (import "[export]test:fixtures/docs" "[resource-new]doc" (func $new (param i32) (result i32)))
            (import "[export]test:fixtures/docs" "[resource-rep]doc" (func $rep (param i32) (result i32)))
            (import "[export]test:fixtures/docs" "[resource-drop]doc" (func $drop (param i32)))
            (memory 1)
            (global $next (mut i32) (i32.const 0))
            (global $live (mut i32) (i32.const 0))
            ;; reps cycle through 8192 cells: plenty for the few docs alive at once
            (func $alloc (param $v i32) (result i32)
                (local $rep i32)
                (global.set $next (i32.add (global.get $next) (i32.const 1)))
                (local.set $rep (i32.add (i32.and (global.get $next) (i32.const 8191)) (i32.const 1)))
                (i32.store (i32.mul (local.get $rep) (i32.const 4)) (local.get $v))
                (global.set $live (i32.add (global.get $live) (i32.const 1)))
                (local.get $rep))
            (func (export "test:fixtures/docs#[constructor]doc") (param i32) (result i32)
                (call $new (call $alloc (local.get 0))))
            (func (export "test:fixtures/docs#[method]doc.get") (param i32) (result i32)
                (i32.load (i32.mul (local.get 0) (i32.const 4))))
            (func (export "test:fixtures/docs#[method]doc.set") (param i32 i32)
                (i32.store (i32.mul (local.get 0) (i32.const 4)) (local.get 1)))
            (func (export "test:fixtures/docs#make") (param i32) (result i32)
                (call $new (call $alloc (local.get 0))))
            (func (export "test:fixtures/docs#read") (param i32) (result i32)
                (i32.load (i32.mul (local.get 0) (i32.const 4))))
            (func (export "test:fixtures/docs#consume") (param $h i32) (result i32)
                (local $v i32)
                (local.set $v (i32.load (i32.mul (call $rep (local.get $h)) (i32.const 4))))
                (call $drop (local.get $h))
                (local.get $v))
            (func (export "test:fixtures/docs#live") (result i32) (global.get $live))
            (func (export "test:fixtures/docs#[dtor]doc") (param i32)
                (global.set $live (i32.sub (global.get $live) (i32.const 1))))
        )"#,
    )
}

pub fn docs_interface(cardinality: InterfaceCardinality) -> Interface {
    use crate::fixtures::{method, with_resources};
    use wasm_link::ReturnKind;
    Interface::new(
        "docs",
        cardinality,
        "test:fixtures/docs",
        vec![
            with_resources("[constructor]doc"),
            method("[method]doc.get", ReturnKind::AssumeNoResources),
            method("[method]doc.set", ReturnKind::Void),
            with_resources("make"),
            func("read"),
            func("consume"),
            func("live"),
        ],
    )
    .with_resources(&["doc"])
}

/// `user`: a consumer of `docs` that creates, uses, hands over and keeps docs
/// through its socket.
pub fn user() -> Vec<u8> {
    component(
        &format!(
            r"package test:fixtures;
            interface docs {{ {DOCS_ITEMS} }}
            interface user {{
                roundtrip: func(v: u32) -> u32;
                hand-over: func(v: u32) -> u32;
                keep: func(v: u32) -> u32;
                provider-live: func() -> u32;
                boom: func() -> u32;
            }}
            world user-plugin {{ import docs; export user; }}"
        ),
        "user-plugin",
        r#"(module
            (import "test:fixtures/docs" "[constructor]doc" (func $ctor (param i32) (result i32)))
            (import "test:fixtures/docs" "[method]doc.get" (func $get (param i32) (result i32)))
            (import "test:fixtures/docs" "[method]doc.set" (func $set (param i32 i32)))
            (import "test:fixtures/docs" "make" (func $make (param i32) (result i32)))
            (import "test:fixtures/docs" "read" (func $read (param i32) (result i32)))
            (import "test:fixtures/docs" "consume" (func $consume (param i32) (result i32)))
            (import "test:fixtures/docs" "live" (func $live (result i32)))
            (import "test:fixtures/docs" "[resource-drop]doc" (func $drop (param i32)))
            (global $kept (mut i32) (i32.const 0))
            ;; make(v); set(v + 1); get + 1000 * read(borrow); drop;
            ;; then the constructor: + 1000000 * get
            (func (export "test:fixtures/user#roundtrip") (param $v i32) (result i32)
                (local $h i32) (local $r i32) (local $c i32)
                (local.set $h (call $make (local.get $v)))
                (call $set (local.get $h) (i32.add (local.get $v) (i32.const 1)))
                (local.set $r (i32.add (call $get (local.get $h))
                    (i32.mul (i32.const 1000) (call $read (local.get $h)))))
                (call $drop (local.get $h))
                (local.set $c (call $ctor (local.get $v)))
                (local.set $r (i32.add (local.get $r) (i32.mul (i32.const 1000000) (call $get (local.get $c)))))
                (call $drop (local.get $c))
                (local.get $r))
            (func (export "test:fixtures/user#hand-over") (param $v i32) (result i32)
                (call $consume (call $make (local.get $v))))
            (func (export "test:fixtures/user#keep") (param $v i32) (result i32)
                (if (global.get $kept) (then (call $drop (global.get $kept))))
                (global.set $kept (call $make (local.get $v)))
                (call $get (global.get $kept)))
            (func (export "test:fixtures/user#provider-live") (result i32) (call $live))
            (func (export "test:fixtures/user#boom") (result i32) unreachable)
        )"#,
    )
}

pub fn user_interface() -> Interface {
    Interface::new(
        "user",
        InterfaceCardinality::ExactlyOne,
        "test:fixtures/user",
        vec![func("roundtrip"), func("hand-over"), func("keep"), func("provider-live"), func("boom")],
    )
}

/// `user` over an `Any` docs socket: `make` returns a list of docs, one per
/// plugin. `roundtrip` sets the i-th doc to i + 1 through its method, then
/// reads them all back as digits: routing each method to the doc's owner is
/// what keeps the digits apart (both owners use the same reps).
pub fn collector() -> Vec<u8> {
    component(
        r"package test:fixtures;
            interface docs {
                resource doc { get: func() -> u32; set: func(v: u32); }
                make: func(v: u32) -> list<doc>;
            }
            interface user { roundtrip: func(v: u32) -> u32; }
            world collector { import docs; export user; }",
        "collector",
        &format!(
            r#"(module
                (import "test:fixtures/docs" "[method]doc.get" (func $get (param i32) (result i32)))
                (import "test:fixtures/docs" "[method]doc.set" (func $set (param i32 i32)))
                (import "test:fixtures/docs" "make" (func $make (param i32 i32)))
                (import "test:fixtures/docs" "[resource-drop]doc" (func $drop (param i32)))
                {allocator}
                (func (export "test:fixtures/user#roundtrip") (param $v i32) (result i32)
                    (local $i i32) (local $n i32) (local $p i32) (local $acc i32)
                    (call $reset)
                    (call $make (local.get $v) (i32.const 16))
                    (local.set $p (i32.load (i32.const 16)))
                    (local.set $n (i32.load (i32.const 20)))
                    (block $done (loop $next
                        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
                        (call $set (i32.load (i32.add (local.get $p) (i32.mul (local.get $i) (i32.const 4))))
                            (i32.add (local.get $i) (i32.const 1)))
                        (local.set $i (i32.add (local.get $i) (i32.const 1)))
                        (br $next)))
                    (local.set $i (i32.const 0))
                    (block $done (loop $next
                        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
                        (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 10))
                            (call $get (i32.load (i32.add (local.get $p) (i32.mul (local.get $i) (i32.const 4)))))))
                        (call $drop (i32.load (i32.add (local.get $p) (i32.mul (local.get $i) (i32.const 4)))))
                        (local.set $i (i32.add (local.get $i) (i32.const 1)))
                        (br $next)))
                    (local.get $acc))
            )"#,
            allocator = crate::fixtures::ALLOCATOR
        ),
    )
}

const INSPECT_WIT: &str = r"
    package test:fixtures;
    interface docs { resource doc { constructor(v: u32); get: func() -> u32; } }
    interface inspect { use docs.{doc}; inspect: func(d: borrow<doc>) -> u32; }
    interface user { roundtrip: func(v: u32) -> u32; }
    world inspector { import docs; export inspect; }
    world pipeline { import docs; import inspect; export user; }
";

/// `inspect` over borrowed docs it does not own: twice the doc's value, read
/// through its own `docs` socket.
pub fn inspector() -> Vec<u8> {
    component(
        INSPECT_WIT,
        "inspector",
        r#"(module
            (import "test:fixtures/docs" "[method]doc.get" (func $get (param i32) (result i32)))
            (import "test:fixtures/docs" "[resource-drop]doc" (func $drop (param i32)))
            (func (export "test:fixtures/inspect#inspect") (param $d i32) (result i32)
                (local $v i32)
                (local.set $v (i32.mul (call $get (local.get $d)) (i32.const 2)))
                ;; a borrow received by an export must be released before returning
                (call $drop (local.get $d))
                (local.get $v))
        )"#,
    )
}

/// `user` that makes a doc with `docs` and lends it to `inspect`.
pub fn pipeline() -> Vec<u8> {
    component(
        INSPECT_WIT,
        "pipeline",
        r#"(module
            (import "test:fixtures/docs" "[constructor]doc" (func $ctor (param i32) (result i32)))
            (import "test:fixtures/docs" "[resource-drop]doc" (func $drop (param i32)))
            (import "test:fixtures/inspect" "inspect" (func $inspect (param i32) (result i32)))
            (func (export "test:fixtures/user#roundtrip") (param $v i32) (result i32)
                (local $d i32) (local $r i32)
                (local.set $d (call $ctor (local.get $v)))
                (local.set $r (call $inspect (local.get $d)))
                (call $drop (local.get $d))
                (local.get $r))
        )"#,
    )
}

/// A plugin that forwards `bump` from its `counter` socket under the plug
/// interface `test:fixtures/{name}`.
pub fn forwarder(name: &str) -> Vec<u8> {
    component(
        &format!(
            r"package test:fixtures;
            interface counter {{ bump: func() -> u32; }}
            interface {name} {{ bump: func() -> u32; }}
            world forwarder {{ import counter; export {name}; }}"
        ),
        "forwarder",
        &format!(
            r#"(module
                (import "test:fixtures/counter" "bump" (func $bump (result i32)))
                (func (export "test:fixtures/{name}#bump") (result i32) (call $bump))
            )"#
        ),
    )
}

/// `top#total`: `left.bump()` * 10 + `right.bump()`.
pub fn top() -> Vec<u8> {
    component(
        r"package test:fixtures;
        interface left { bump: func() -> u32; }
        interface right { bump: func() -> u32; }
        interface top { total: func() -> u32; }
        world top-plugin { import left; import right; export top; }",
        "top-plugin",
        r#"(module
            (import "test:fixtures/left" "bump" (func $left (result i32)))
            (import "test:fixtures/right" "bump" (func $right (result i32)))
            (func (export "test:fixtures/top#total") (result i32)
                (i32.add (i32.mul (call $left) (i32.const 10)) (call $right)))
        )"#,
    )
}

/// `caller#run`: returns what the host's `test:fixtures/host#callback` returns.
pub fn caller() -> Vec<u8> {
    component(
        r"package test:fixtures;
        interface host { callback: func() -> u32; }
        interface caller { run: func() -> u32; }
        world caller-plugin { import host; export caller; }",
        "caller-plugin",
        r#"(module
            (import "test:fixtures/host" "callback" (func $callback (result i32)))
            (func (export "test:fixtures/caller#run") (result i32) (call $callback))
        )"#,
    )
}

/// A `counter` whose `bump` traps.
pub fn trapping_counter() -> Vec<u8> {
    component(
        "package test:fixtures; interface counter { bump: func() -> u32; } world w { export counter; }",
        "w",
        r#"(module (func (export "test:fixtures/counter#bump") (result i32) unreachable))"#,
    )
}

/// A `counter` whose instantiation asks the host's `test:fixtures/gate#open`
/// and traps when the answer is no; `bump` traps too, forcing a
/// re-instantiation.
pub fn gated_counter() -> Vec<u8> {
    component(
        r"package test:fixtures;
        interface gate { open: func() -> bool; }
        interface counter { bump: func() -> u32; }
        world w { import gate; export counter; }",
        "w",
        r#"(module
            (import "test:fixtures/gate" "open" (func $open (result i32)))
            (func $start (if (i32.eqz (call $open)) (then unreachable)))
            (start $start)
            (func (export "test:fixtures/counter#bump") (result i32) unreachable))"#,
    )
}

/// A `sum` plugin whose `total` calls `number#signal` (a function without
/// result) imported as `signal: func() -> {result}` (`None`: no result).
/// `decode` turns what it received at retptr `$r` into a `u32`; without a
/// result, `total` returns 1 once the call returned.
pub fn signal_consumer(result: Option<&str>, decode: &str) -> Vec<u8> {
    let declared = result.map(|r| format!(" -> {r}")).unwrap_or_default();
    let wit = format!(
        r"package test:fixtures;
        interface number {{ signal: func(){declared}; }}
        interface sum {{ total: func() -> u32; failing: func() -> u32; }}
        world consumer {{ import number; export sum; }}"
    );
    let core = if result.is_none() {
        r#"(module
            (import "test:fixtures/number" "signal" (func $signal))
            (func (export "test:fixtures/sum#total") (result i32) (call $signal) (i32.const 1))
            (func (export "test:fixtures/sum#failing") (result i32) unreachable))"#
            .to_owned()
    } else {
        format!(
            r#"(module
                (import "test:fixtures/number" "signal" (func $signal (param i32)))
                {allocator}
                (func $decode (param $r i32) (result i32) {decode})
                (func (export "test:fixtures/sum#total") (result i32)
                    (call $reset) (call $signal (i32.const 16)) (call $decode (i32.const 16)))
                (func (export "test:fixtures/sum#failing") (result i32) unreachable))"#,
            allocator = crate::fixtures::ALLOCATOR
        )
    };
    component(&wit, "consumer", &core)
}

/// `pipeline` over an `Any` inspect socket: lends one doc to every inspector
/// and sums their answers.
pub fn multi_pipeline() -> Vec<u8> {
    component(
        r"
        package test:fixtures;
        interface docs { resource doc { constructor(v: u32); get: func() -> u32; } }
        interface inspect { use docs.{doc}; inspect: func(d: borrow<doc>) -> list<u32>; }
        interface user { roundtrip: func(v: u32) -> u32; }
        world pipeline { import docs; import inspect; export user; }",
        "pipeline",
        &format!(
            r#"(module
                (import "test:fixtures/docs" "[constructor]doc" (func $ctor (param i32) (result i32)))
                (import "test:fixtures/docs" "[resource-drop]doc" (func $drop (param i32)))
                (import "test:fixtures/inspect" "inspect" (func $inspect (param i32 i32)))
                {allocator}
                (func (export "test:fixtures/user#roundtrip") (param $v i32) (result i32)
                    (local $d i32) (local $i i32) (local $sum i32)
                    (call $reset)
                    (local.set $d (call $ctor (local.get $v)))
                    (call $inspect (local.get $d) (i32.const 16))
                    (block $done (loop $next
                        (br_if $done (i32.ge_u (local.get $i) (i32.load (i32.const 20))))
                        (local.set $sum (i32.add (local.get $sum)
                            (i32.load (i32.add (i32.load (i32.const 16)) (i32.mul (local.get $i) (i32.const 4))))))
                        (local.set $i (i32.add (local.get $i) (i32.const 1)))
                        (br $next)))
                    (call $drop (local.get $d))
                    (local.get $sum))
            )"#,
            allocator = crate::fixtures::ALLOCATOR
        ),
    )
}

pub const VICTIM_WIT: &str = r"
package test:hostile;
interface victim {
    spin: func() -> u32;
    bomb: func() -> u32;
    recurse: func() -> u32;
    boom: func() -> u32;
    ok: func() -> u32;
    huge: func() -> string;
}
world victim-world { export victim; }
";

/// A hostile plugin: `spin` loops forever, `bomb` grows memory until refused
/// and then traps, `recurse` overflows the stack, `boom` traps, `huge` tries
/// to return a 100 MB string; `ok` returns 7.
pub fn hostile() -> Vec<u8> {
    component(
        VICTIM_WIT,
        "victim-world",
        r#"(module
            (memory (export "memory") 1)
            (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) i32.const 0)
            (func (export "test:hostile/victim#spin") (result i32) (loop $l (br $l)) unreachable)
            (func (export "test:hostile/victim#bomb") (result i32)
                (loop $l (br_if $l (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
                unreachable)
            (func $recurse (export "test:hostile/victim#recurse") (result i32)
                (i32.add (call $recurse) (i32.const 1)))
            (func (export "test:hostile/victim#boom") (result i32) unreachable)
            (func (export "test:hostile/victim#ok") (result i32) i32.const 7)
            ;; 100 MB: 1526 pages; refused under the default limits, and then
            ;; the string points past the end of memory.
            (func (export "test:hostile/victim#huge") (result i32)
                (drop (memory.grow (i32.const 1526)))
                (i32.store (i32.const 8) (i32.const 0))
                (i32.store (i32.const 12) (i32.const 100000000))
                (i32.const 8))
        )"#,
    )
}

/// The same interface, well behaved: every function returns 7 (`huge` an
/// empty string).
pub fn well_behaved() -> Vec<u8> {
    component(
        VICTIM_WIT,
        "victim-world",
        r#"(module
            (memory (export "memory") 1)
            (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) i32.const 0)
            (func (export "test:hostile/victim#spin") (result i32) i32.const 7)
            (func (export "test:hostile/victim#bomb") (result i32) i32.const 7)
            (func (export "test:hostile/victim#recurse") (result i32) i32.const 7)
            (func (export "test:hostile/victim#boom") (result i32) i32.const 7)
            (func (export "test:hostile/victim#ok") (result i32) i32.const 7)
            (func (export "test:hostile/victim#huge") (result i32)
                (i32.store (i32.const 8) (i32.const 0))
                (i32.store (i32.const 12) (i32.const 0))
                (i32.const 8))
        )"#,
    )
}

pub fn victim_interface(cardinality: InterfaceCardinality) -> Interface {
    Interface::new(
        "victim",
        cardinality,
        "test:hostile/victim",
        vec![func("spin"), func("bomb"), func("recurse"), func("boom"), func("ok"), func("huge")],
    )
}

/// A `user` that drops the doc it made twice.
pub fn double_dropper() -> Vec<u8> {
    component(
        r"package test:fixtures;
        interface docs { resource doc { get: func() -> u32; } make: func(v: u32) -> doc; live: func() -> u32; }
        interface user { roundtrip: func(v: u32) -> u32; provider-live: func() -> u32; }
        world w { import docs; export user; }",
        "w",
        r#"(module
            (import "test:fixtures/docs" "make" (func $make (param i32) (result i32)))
            (import "test:fixtures/docs" "live" (func $live (result i32)))
            (import "test:fixtures/docs" "[resource-drop]doc" (func $drop (param i32)))
            (func (export "test:fixtures/user#roundtrip") (param i32) (result i32)
                (local $h i32)
                (local.set $h (call $make (local.get 0)))
                (call $drop (local.get $h))
                (call $drop (local.get $h))
                (i32.const 0))
            (func (export "test:fixtures/user#provider-live") (result i32) (call $live)))"#,
    )
}

/// A `docs` whose `make` returns a handle it never created.
pub fn handle_forger() -> Vec<u8> {
    component(
        r"package test:fixtures;
        interface docs { resource doc { get: func() -> u32; } make: func(v: u32) -> doc; live: func() -> u32; }
        world w { export docs; }",
        "w",
        r#"(module
            (func (export "test:fixtures/docs#[method]doc.get") (param i32) (result i32) i32.const 0)
            (func (export "test:fixtures/docs#make") (param i32) (result i32) i32.const 9999)
            (func (export "test:fixtures/docs#live") (result i32) i32.const 0))"#,
    )
}

/// `slow`: `value` spins long enough (tens of microseconds) that a dispatch
/// over several of them runs in parallel, then returns `value`; `fail` traps
/// after the same work.
pub fn slow(value: u32) -> Vec<u8> {
    component(
        NUMBER_WIT,
        "number-plugin",
        &format!(
            r#"(module
                (func $spin (local $n i32) (local $acc i32)
                    (local.set $n (i32.const 50000))
                    (block $done (loop $next
                        (br_if $done (i32.eqz (local.get $n)))
                        (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 31)) (local.get $n)))
                        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
                        (br $next)))
                    (if (i32.eq (local.get $acc) (i32.const 7)) (then unreachable)))
                (func (export "test:fixtures/number#value") (result i32) (call $spin) i32.const {value})
                (func (export "test:fixtures/number#fail") (result i32) (call $spin) unreachable)
                (func (export "test:fixtures/number#signal") (call $spin))
            )"#
        ),
    )
}
