//! Hostile plugins under the default budgets: each failure is a typed error
//! within its budget, the host and the siblings are unaffected, and the next
//! call is served.

use std::time::{Duration, Instant};

use wasm_link::{
    Budget, DispatchError, Engine, InterfaceCardinality, Limits, Linker, PluginState, PluginTree, Quarantine, Recovery,
    ReturnKind, Socket, Val, error_chain,
};

use crate::fixtures::{Interface, Plugin, func, method};
use crate::plugins::{docs, docs_interface, double_dropper, handle_forger, hostile, victim_interface, well_behaved};
use crate::{Head, load_on};

fn engine() -> Engine {
    wasm_link::default_engine().unwrap()
}

/// `a` is hostile (with `limits`), `b` well behaved, behind an `Any` root.
fn pair(limits: Limits) -> Head {
    let (head, errors) = load_on(
        &engine(),
        "victim",
        vec![victim_interface(InterfaceCardinality::Any)],
        vec![
            Plugin::new("a", "victim", &[], hostile()).limits(limits),
            Plugin::new("b", "victim", &[], well_behaved()),
        ],
    );
    assert!(errors.is_empty(), "{errors:?}");
    head
}

fn call(head: &Head, function: &str) -> (Result<Val, DispatchError<String>>, Result<Val, DispatchError<String>>) {
    let Socket::Any(mut results) = head.dispatch("test:hostile/victim", function, true, &[]) else { panic!() };
    (results.remove("a").unwrap(), results.remove("b").unwrap())
}

fn served_afterwards(head: &Head) {
    let (a, b) = call(head, "ok");
    assert_eq!(a.unwrap(), Val::U32(7));
    assert_eq!(b.unwrap(), Val::U32(7));
}

#[test]
fn an_infinite_loop_is_stopped_at_its_deadline() {
    let deadline = Duration::from_millis(200);
    let head = pair(Limits { deadline, ..Limits::default() });
    let started = Instant::now();
    let (a, b) = call(&head, "spin");
    let took = started.elapsed();
    match a {
        Err(DispatchError::BudgetExceeded { budget: Budget::Deadline { limit, elapsed }, reinstantiated, .. }) => {
            assert_eq!(limit, deadline);
            assert!(elapsed >= deadline && elapsed < 2 * deadline, "{elapsed:?}");
            assert!(reinstantiated);
        }
        other => panic!("{other:?}"),
    }
    assert!(took < 2 * deadline + Duration::from_millis(100), "{took:?}");
    assert_eq!(b.unwrap(), Val::U32(7));
    served_afterwards(&head);
}

#[test]
fn an_unbounded_memory_grow_hits_the_memory_budget() {
    let head = pair(Limits::default());
    let (a, b) = call(&head, "bomb");
    match a {
        Err(DispatchError::BudgetExceeded { budget: Budget::Memory { limit, requested }, .. }) => {
            assert_eq!(limit, Limits::default().memory);
            assert!(requested > limit);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(b.unwrap(), Val::U32(7));
    served_afterwards(&head);
}

#[test]
fn recursion_until_stack_overflow_is_a_trap() {
    let head = pair(Limits::default());
    let (a, _) = call(&head, "recurse");
    match a {
        Err(DispatchError::Trap { source, .. }) => assert_eq!(source.trap(), Some(wasm_link::Trap::StackOverflow)),
        other => panic!("{other:?}"),
    }
    served_afterwards(&head);
}

#[test]
fn a_hundred_megabyte_string_is_refused_within_the_memory_budget() {
    let head = pair(Limits::default());
    let (a, b) = call(&head, "huge");
    assert!(matches!(a, Err(DispatchError::BudgetExceeded { budget: Budget::Memory { .. }, .. })), "{a:?}");
    assert_eq!(b.unwrap(), Val::String(String::new()));
    served_afterwards(&head);
}

#[test]
fn a_trap_storm_leaves_the_plugin_serving_and_is_counted() {
    let head = pair(Limits::default());
    for _ in 0..200 {
        let (a, b) = call(&head, "boom");
        assert!(matches!(a, Err(DispatchError::Trap { reinstantiated: true, .. })));
        assert_eq!(b.unwrap(), Val::U32(7));
    }
    served_afterwards(&head);
    let health = head.health();
    let a = health.iter().find(|h| h.plugin == "a").unwrap();
    assert_eq!((a.calls, a.failures, a.reinstantiations), (201, 200, 200));
    assert_eq!(a.state, PluginState::Running);
    assert!(a.last_error.as_deref().unwrap().contains("trapped"));
    let b = health.iter().find(|h| h.plugin == "b").unwrap();
    assert_eq!(b.failures, 0);
}

#[test]
fn a_plugin_failing_too_often_is_quarantined_until_the_cooldown_passes() {
    let recovery = Recovery {
        quarantine: Some(Quarantine {
            failures: 3,
            window: Duration::from_secs(10),
            cooldown: Duration::from_millis(300),
        }),
    };
    let (head, _) = load_on(
        &engine(),
        "victim",
        vec![victim_interface(InterfaceCardinality::ExactlyOne)],
        vec![Plugin::new("a", "victim", &[], hostile()).recovery(recovery)],
    );
    let one = |function: &str| match head.dispatch("test:hostile/victim", function, true, &[]) {
        Socket::ExactlyOne(result) => result,
        other => panic!("{other:?}"),
    };
    for _ in 0..3 {
        assert!(matches!(one("boom"), Err(DispatchError::Trap { .. })));
    }
    assert!(matches!(one("ok"), Err(DispatchError::Quarantined { .. })));
    assert!(matches!(head.health()[0].state, PluginState::Quarantined { .. }));
    std::thread::sleep(Duration::from_millis(350));
    assert_eq!(one("ok").unwrap(), Val::U32(7));
}

/// `chain#run` calls `victim#spin` through its socket.
fn spin_caller() -> Vec<u8> {
    crate::fixtures::component(
        r"package test:hostile;
        interface victim { spin: func() -> u32; }
        interface chain { run: func() -> u32; }
        world w { import victim; export chain; }",
        "w",
        r#"(module
            (import "test:hostile/victim" "spin" (func $spin (result i32)))
            (func (export "test:hostile/chain#run") (result i32) (call $spin)))"#,
    )
}

#[test]
fn a_socket_call_spends_from_its_callers_deadline() {
    // `caller` may run 300 ms; the spinning plugin behind its socket may run
    // 10 s, but not past its caller's deadline.
    let wasm = spin_caller();
    let chain = Interface::new("chain", InterfaceCardinality::ExactlyOne, "test:hostile/chain", vec![func("run")]);
    let deadline = Duration::from_millis(300);
    let (head, errors) = load_on(
        &engine(),
        "chain",
        vec![chain, victim_interface(InterfaceCardinality::ExactlyOne)],
        vec![
            Plugin::new("caller", "chain", &["victim"], wasm).limits(Limits { deadline, ..Limits::default() }),
            Plugin::new("spinner", "victim", &[], hostile())
                .limits(Limits { deadline: Duration::from_secs(10), ..Limits::default() }),
        ],
    );
    assert!(errors.is_empty(), "{errors:?}");
    let started = Instant::now();
    let Socket::ExactlyOne(Err(error)) = head.dispatch("test:hostile/chain", "run", true, &[]) else { panic!() };
    assert!(started.elapsed() < 2 * deadline, "{:?}", started.elapsed());
    assert!(
        matches!(error.root_cause(), DispatchError::BudgetExceeded { plugin, budget: Budget::Deadline { limit, .. }, .. }
            if plugin == "spinner" && limit == &deadline),
        "{error:?}"
    );
    // The spinner was stopped by its caller's deadline, not its own: it is
    // re-instantiated (it was cut off mid-call) but not charged a failure;
    // the caller, whose budget ran out, is.
    let health = |id: &str| head.health().into_iter().find(|h| h.plugin == id).expect("loaded");
    assert_eq!((health("spinner").failures, health("spinner").reinstantiations), (0, 1));
    assert_eq!(health("caller").failures, 1);
}

#[test]
fn a_plugin_over_its_handle_budget_gets_a_typed_error() {
    let user = Interface::new(
        "user",
        InterfaceCardinality::ExactlyOne,
        "test:fixtures/user",
        vec![func("roundtrip"), func("hand-over"), func("keep"), func("provider-live"), func("boom")],
    );
    let (head, _) = load_on(
        &engine(),
        "user",
        vec![user, docs_interface(InterfaceCardinality::ExactlyOne)],
        vec![
            Plugin::new("user", "user", &["docs"], crate::plugins::user())
                .limits(Limits { handles: 0, ..Limits::default() }),
            Plugin::new("docs", "docs", &[], docs()),
        ],
    );
    let Socket::ExactlyOne(Err(error)) = head.dispatch("test:fixtures/user", "roundtrip", true, &[Val::U32(1)]) else {
        panic!()
    };
    assert!(
        matches!(error.root_cause(), DispatchError::BudgetExceeded { budget: Budget::Handles { limit: 0 }, .. }),
        "{error:?}"
    );
    // Nothing leaked in the owner.
    let Socket::ExactlyOne(live) = head.dispatch("test:fixtures/user", "provider-live", true, &[]) else { panic!() };
    assert_eq!(live.unwrap(), Val::U32(0));
}

#[test]
fn dropping_a_handle_twice_traps_the_dropper_only() {
    let user = Interface::new(
        "user",
        InterfaceCardinality::ExactlyOne,
        "test:fixtures/user",
        vec![func("roundtrip"), func("provider-live")],
    );
    let docs_interface = small_docs_interface();
    let (head, errors) = load_on(
        &engine(),
        "user",
        vec![user, docs_interface],
        vec![Plugin::new("user", "user", &["docs"], double_dropper()), Plugin::new("docs", "docs", &[], docs())],
    );
    assert!(errors.is_empty(), "{errors:?}");
    let Socket::ExactlyOne(result) = head.dispatch("test:fixtures/user", "roundtrip", true, &[Val::U32(1)]) else {
        panic!()
    };
    assert!(matches!(&result, Err(DispatchError::Trap { plugin, .. }) if plugin == "user"), "{result:?}");
    let Socket::ExactlyOne(live) = head.dispatch("test:fixtures/user", "provider-live", true, &[]) else { panic!() };
    assert_eq!(live.unwrap(), Val::U32(0));
}

#[test]
fn returning_a_handle_it_does_not_own_is_an_error_and_the_next_call_is_served() {
    let docs_interface = small_docs_interface();
    let (head, _) =
        load_on(&engine(), "docs", vec![docs_interface], vec![Plugin::new("forger", "docs", &[], handle_forger())]);
    let one = |function: &str, args: &[Val]| match head.dispatch("test:fixtures/docs", function, true, args) {
        Socket::ExactlyOne(result) => result,
        other => panic!("{other:?}"),
    };
    assert!(matches!(one("make", &[Val::U32(1)]), Err(DispatchError::Trap { .. })));
    assert_eq!(one("live", &[]).unwrap(), Val::U32(0));
}

#[test]
fn a_start_function_that_loops_forever_fails_the_load_within_its_deadline() {
    let wasm = crate::fixtures::component(
        "package test:hostile; interface victim { ok: func() -> u32; } world w { export victim; }",
        "w",
        r#"(module
            (func $start (loop $l (br $l)))
            (start $start)
            (func (export "test:hostile/victim#ok") (result i32) i32.const 7))"#,
    );
    let interface = Interface::new("victim", InterfaceCardinality::Any, "test:hostile/victim", vec![func("ok")]);
    let started = Instant::now();
    let (head, errors) = load_on(
        &engine(),
        "victim",
        vec![interface],
        vec![
            Plugin::new("looper", "victim", &[], wasm)
                .limits(Limits { deadline: Duration::from_millis(200), ..Limits::default() }),
        ],
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        matches!(&errors[..], [wasm_link::LoadError::Instantiate { plugin, .. }] if plugin == "looper"),
        "{errors:?}"
    );
    assert!(head.plugin_ids().is_empty());
}

#[test]
fn an_import_that_was_not_granted_is_refused_at_load_naming_it() {
    let engine = Engine::default();
    let mut linker = wasm_link::Linker::new(&engine);
    linker
        .instance("test:fixtures/host")
        .unwrap()
        .func_new("callback", |_, _, _, results| {
            results[0] = Val::U32(1);
            Ok(())
        })
        .unwrap();
    let caller = || Interface::new("caller", InterfaceCardinality::Any, "test:fixtures/caller", vec![func("run")]);
    let load = |plugin: Plugin| {
        let (tree, _) = wasm_link::PluginTree::new("caller".to_owned(), vec![caller()], vec![plugin]);
        tree.load(&engine, &linker).unwrap()
    };
    let (_, errors) = load(Plugin::new("strict", "caller", &[], crate::plugins::caller()).grants(&[]));
    assert!(
        matches!(&errors[..], [wasm_link::LoadError::NotGranted { plugin, import }]
            if plugin == "strict" && import == "test:fixtures/host"),
        "{errors:?}"
    );
    let (head, errors) =
        load(Plugin::new("granted", "caller", &[], crate::plugins::caller()).grants(&["test:fixtures/host"]));
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(head.plugin_ids(), ["granted"]);
}

#[test]
fn an_engine_that_consumes_fuel_stops_a_loop_at_its_fuel() {
    let mut config = wasm_link::engine_config();
    config.consume_fuel(true);
    let engine = Engine::new(&config).unwrap();
    let (head, _) = load_on(
        &engine,
        "victim",
        vec![victim_interface(InterfaceCardinality::ExactlyOne)],
        vec![Plugin::new("a", "victim", &[], hostile()).limits(Limits { fuel: Some(100_000), ..Limits::default() })],
    );
    let Socket::ExactlyOne(result) = head.dispatch("test:hostile/victim", "spin", true, &[]) else { panic!() };
    assert!(
        matches!(result, Err(DispatchError::BudgetExceeded { budget: Budget::Fuel { limit: 100_000 }, .. })),
        "{result:?}"
    );
    let Socket::ExactlyOne(after) = head.dispatch("test:hostile/victim", "ok", true, &[]) else { panic!() };
    assert_eq!(after.unwrap(), Val::U32(7));
}

/// `docs` with only `doc.get`, `make` and `live`: what the double dropper and
/// the handle forger implement or import.
fn small_docs_interface() -> Interface {
    Interface::new(
        "docs",
        InterfaceCardinality::ExactlyOne,
        "test:fixtures/docs",
        vec![
            method("[method]doc.get", ReturnKind::AssumeNoResources),
            crate::fixtures::with_resources("make"),
            func("live"),
        ],
    )
    .with_resources(&["doc"])
}

/// A `number` component of two core instances, each with its own memory of
/// `initial` pages that `value` grows by `grow` pages.
fn two_memories(initial: u32, grow: u32) -> Vec<u8> {
    format!(
        r#"(component
            (core module $m (memory {initial}) (func (export "grow") (result i32) (memory.grow (i32.const {grow}))))
            (core instance $a (instantiate $m))
            (core instance $b (instantiate $m))
            (core module $f
                (import "a" "grow" (func $ga (result i32)))
                (import "b" "grow" (func $gb (result i32)))
                (func (export "value") (result i32)
                    (if (i32.lt_s (call $ga) (i32.const 0)) (then unreachable))
                    (if (i32.lt_s (call $gb) (i32.const 0)) (then unreachable))
                    i32.const 1))
            (core instance $fi (instantiate $f (with "a" (instance $a)) (with "b" (instance $b))))
            (func $value (result u32) (canon lift (core func $fi "value")))
            (instance $number (export "value" (func $value)))
            (export "test:fixtures/number" (instance $number)))"#
    )
    .into_bytes()
}

/// The memory budget is the instance's, all its memories together: a
/// component of many core instances cannot multiply it by holding one
/// memory in each (each just under the limit would add up to many times it).
#[test]
fn memories_of_several_core_instances_share_one_budget() {
    let limits = Limits { memory: 64 << 20, ..Limits::default() };
    let interface = Interface::new("number", InterfaceCardinality::Any, "test:fixtures/number", vec![func("value")]);
    // 40 MiB each at instantiation: 80 MiB together, refused at load.
    let big = Plugin::new("big", "number", &[], two_memories(640, 0)).limits(limits.clone());
    // 1 page each, then 40 MiB each in a call: the second growth is refused.
    let growing = Plugin::new("growing", "number", &[], two_memories(1, 640)).limits(limits.clone());
    let small = Plugin::new("small", "number", &[], two_memories(1, 16)).limits(limits);
    let (tree, build_errors) = PluginTree::new("number".to_owned(), vec![interface], vec![big, growing, small]);
    assert!(build_errors.is_empty(), "{build_errors:?}");
    let engine = Engine::default();
    let Ok((head, errors)) = tree.load(&engine, &Linker::new(&engine)) else { panic!("the root is served") };
    let [error] = errors.as_slice() else { panic!("{errors:?}") };
    let text = error_chain(error);
    assert!(text.contains("`big`") && text.contains("memory limit of 67108864 bytes"), "{text}");
    let Socket::Any(results) = head.dispatch("test:fixtures/number", "value", true, &[]) else { panic!("an Any root") };
    assert!(matches!(results["small"], Ok(Val::U32(1))), "{:?}", results["small"]);
    assert!(
        matches!(
            &results["growing"],
            Err(DispatchError::BudgetExceeded { plugin, budget: Budget::Memory { limit, requested }, .. })
                if plugin == "growing" && *limit == 64 << 20 && *requested > 64 << 20
        ),
        "{:?}",
        results["growing"]
    );
}

/// `liar`: a `doc` resource whose `name` method returns a string pointing
/// outside the plugin's memory (wasmtime cannot lift it), and `hello`, a
/// plain function that answers.
fn liar() -> (Interface, Vec<u8>) {
    let wasm = crate::fixtures::component(
        r"package test:liar;
        interface docs {
            resource doc { constructor(v: u32); name: func() -> string; }
            hello: func() -> u32;
            greet: func(name: string, n: u32) -> u32;
        }
        world w { export docs; }",
        "w",
        r#"(module
            (import "[export]test:liar/docs" "[resource-new]doc" (func $new (param i32) (result i32)))
            (memory (export "memory") 1)
            (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) i32.const 0)
            (func (export "test:liar/docs#[constructor]doc") (param i32) (result i32)
                (call $new (i32.const 1)))
            (func (export "test:liar/docs#[method]doc.name") (param i32) (result i32)
                (i32.store (i32.const 16) (i32.const 0x7ffffff0))
                (i32.store (i32.const 20) (i32.const 64))
                (i32.const 16))
            (func (export "test:liar/docs#hello") (result i32) (i32.const 7))
            (func (export "test:liar/docs#greet") (param i32 i32 i32) (result i32) (local.get 2))
            (func (export "test:liar/docs#[dtor]doc") (param i32)))"#,
    );
    let interface = Interface::new(
        "docs",
        InterfaceCardinality::ExactlyOne,
        "test:liar/docs",
        vec![
            crate::fixtures::with_resources("[constructor]doc"),
            method("[method]doc.name", ReturnKind::AssumeNoResources),
            func("hello"),
            func("greet"),
        ],
    )
    .with_resources(&["doc"]);
    (interface, wasm)
}

/// A method whose result wasmtime cannot lift failed in the plugin that
/// wrote it, though the method takes a handle: the failure is the plugin's
/// (counted, its instance replaced), not the caller's invalid arguments,
/// and it keeps serving.
#[test]
fn a_result_that_cannot_be_lifted_is_the_plugins_failure_even_on_a_method() {
    let (interface, wasm) = liar();
    let head = load_on(&Engine::default(), "docs", vec![interface], vec![Plugin::new("liar", "docs", &[], wasm)]).0;
    let Socket::ExactlyOne(Ok(Val::Resource(doc))) =
        head.dispatch("test:liar/docs", "[constructor]doc", true, &[Val::U32(1)])
    else {
        panic!("a doc")
    };
    let Socket::ExactlyOne(result) = head.dispatch("test:liar/docs", "[method]doc.name", true, &[Val::Resource(doc)])
    else {
        panic!("ExactlyOne")
    };
    let error = result.expect_err("a string outside the memory does not lift");
    assert!(
        matches!(&error, DispatchError::Trap { plugin, reinstantiated: true, .. } if plugin == "liar"),
        "{error:?}"
    );
    assert_eq!(crate::health_of(&head, "liar").failures, 1);
    assert!(matches!(head.dispatch("test:liar/docs", "hello", true, &[]), Socket::ExactlyOne(Ok(Val::U32(7)))));
}

/// `sum` importing `number` in the plain shape, `number` with `limits`.
fn plain_sum(limits: Limits) -> Head {
    use crate::plugins::{PLAIN, consumer, number, number_interface, sum_interface};
    let (head, errors) = load_on(
        &engine(),
        "sum",
        vec![sum_interface(), number_interface(InterfaceCardinality::ExactlyOne)],
        vec![
            Plugin::new("sum", "sum", &["number"], consumer(&PLAIN)),
            Plugin::new("number", "number", &[], number(1, false)).limits(limits),
        ],
    );
    assert!(errors.is_empty(), "{errors:?}");
    head
}

/// A consumer importing the plain shape traps when its provider does (it
/// has no room for the error) and is re-instantiated, but the failure is
/// the provider's: a hostile provider cannot get its consumers quarantined.
#[test]
fn a_consumer_trapped_by_its_providers_trap_is_not_charged_for_it() {
    let head = plain_sum(Limits::default());
    let Socket::ExactlyOne(Err(error)) = head.dispatch("test:fixtures/sum", "failing", true, &[]) else { panic!() };
    assert!(matches!(error.root_cause(), DispatchError::Trap { plugin, .. } if plugin == "number"), "{error:?}");
    let health = |id: &str| crate::health_of(&head, id);
    assert_eq!((health("number").failures, health("number").reinstantiations), (1, 1));
    assert_eq!((health("sum").failures, health("sum").reinstantiations), (0, 1));
}

/// A deadline of `Duration::MAX` is "no deadline in practice", not an
/// overflow in wasmtime's epoch arithmetic.
#[test]
fn the_longest_deadline_is_accepted() {
    use crate::plugins::{number, number_interface};
    let limits = Limits { deadline: Duration::MAX, ..Limits::default() };
    let (head, errors) = load_on(
        &engine(),
        "number",
        vec![number_interface(InterfaceCardinality::ExactlyOne)],
        vec![Plugin::new("n", "number", &[], number(4, false)).limits(limits)],
    );
    assert!(errors.is_empty(), "{errors:?}");
    assert!(matches!(head.dispatch("test:fixtures/number", "value", true, &[]), Socket::ExactlyOne(Ok(Val::U32(4)))));
}

/// An owner whose destructor spins holds a consumer dropping its handle no
/// longer than the consumer's own deadline: the destructor runs within what
/// is left of the dropping call's, not a fresh deadline of the owner's.
#[test]
fn a_spinning_destructor_is_bounded_by_the_dropping_calls_deadline() {
    let owner = crate::fixtures::component(
        r"package test:dtor;
        interface docs { resource doc { constructor(v: u32); } }
        world w { export docs; }",
        "w",
        r#"(module
            (import "[export]test:dtor/docs" "[resource-new]doc" (func $new (param i32) (result i32)))
            (func (export "test:dtor/docs#[constructor]doc") (param i32) (result i32) (call $new (i32.const 1)))
            (func (export "test:dtor/docs#[dtor]doc") (param i32) (loop $l (br $l))))"#,
    );
    let consumer = crate::fixtures::component(
        r"package test:dtor;
        interface docs { resource doc { constructor(v: u32); } }
        interface user { run: func() -> u32; }
        world w { import docs; export user; }",
        "w",
        r#"(module
            (import "test:dtor/docs" "[constructor]doc" (func $ctor (param i32) (result i32)))
            (import "test:dtor/docs" "[resource-drop]doc" (func $drop (param i32)))
            (func (export "test:dtor/user#run") (result i32)
                (call $drop (call $ctor (i32.const 1)))
                (i32.const 1)))"#,
    );
    let docs = Interface::new(
        "docs",
        InterfaceCardinality::ExactlyOne,
        "test:dtor/docs",
        vec![crate::fixtures::with_resources("[constructor]doc")],
    )
    .with_resources(&["doc"]);
    let user = Interface::new("user", InterfaceCardinality::ExactlyOne, "test:dtor/user", vec![func("run")]);
    let deadline = |ms| Limits { deadline: Duration::from_millis(ms), ..Limits::default() };
    let (head, errors) = load_on(
        &engine(),
        "user",
        vec![user, docs],
        vec![
            Plugin::new("user", "user", &["docs"], consumer).limits(deadline(200)),
            Plugin::new("owner", "docs", &[], owner).limits(deadline(10_000)),
        ],
    );
    assert!(errors.is_empty(), "{errors:?}");
    let started = Instant::now();
    let _ = head.dispatch("test:dtor/user", "run", true, &[]);
    assert!(started.elapsed() < Duration::from_secs(2), "the drop took {:?}", started.elapsed());
    // The owner was cut off mid-destructor: it starts over before serving again.
    assert!(matches!(head.dispatch("test:dtor/user", "run", true, &[]), Socket::ExactlyOne(_)));
}

/// The call hook that tells a plugin's failure from a bad handle does not
/// turn the host's ill-typed arguments into the plugin's failure, though
/// wasmtime enters the plugin (its `cabi_realloc`) to copy a string first.
#[test]
fn ill_typed_arguments_after_a_string_are_the_callers_mistake() {
    let (interface, wasm) = liar();
    let head = load_on(&Engine::default(), "docs", vec![interface], vec![Plugin::new("liar", "docs", &[], wasm)]).0;
    let args = [Val::String("x".into()), Val::String("not a u32".into())];
    let Socket::ExactlyOne(result) = head.dispatch("test:liar/docs", "greet", true, &args) else { panic!() };
    assert!(matches!(result, Err(DispatchError::InvalidArguments { .. })), "{result:?}");
    assert_eq!(crate::health_of(&head, "liar").failures, 0);
    let args = [Val::String("x".into()), Val::U32(3)];
    assert!(matches!(head.dispatch("test:liar/docs", "greet", true, &args), Socket::ExactlyOne(Ok(Val::U32(3)))));
}

/// A provider stopped by its own deadline, shorter than its consumer's, is
/// charged; the consumer it trapped (a plain socket) is not: its own
/// deadline had not run out.
#[test]
fn a_provider_out_of_its_own_time_does_not_get_its_consumer_charged() {
    let wasm = spin_caller();
    let chain = Interface::new("chain", InterfaceCardinality::ExactlyOne, "test:hostile/chain", vec![func("run")]);
    let limits = |ms| Limits { deadline: Duration::from_millis(ms), ..Limits::default() };
    let (head, errors) = load_on(
        &engine(),
        "chain",
        vec![chain, victim_interface(InterfaceCardinality::ExactlyOne)],
        vec![
            Plugin::new("caller", "chain", &["victim"], wasm).limits(limits(10_000)),
            Plugin::new("spinner", "victim", &[], hostile()).limits(limits(100)),
        ],
    );
    assert!(errors.is_empty(), "{errors:?}");
    let Socket::ExactlyOne(Err(error)) = head.dispatch("test:hostile/chain", "run", true, &[]) else { panic!() };
    assert!(
        matches!(error.root_cause(), DispatchError::BudgetExceeded { plugin, budget: Budget::Deadline { .. }, .. } if plugin == "spinner"),
        "{error:?}"
    );
    let health = |id: &str| crate::health_of(&head, id);
    assert_eq!((health("spinner").failures, health("caller").failures), (1, 0), "(spinner, caller) failures");
    assert_eq!(health("caller").reinstantiations, 1, "the trapped caller starts over");
}

/// A refusal behind a plain socket is the consumer's doing, not the
/// callee's: a call too deep for the provider (its depth limit is 1, the
/// consumer calls it at depth 2) traps the consumer and is counted there.
#[test]
fn a_consumer_refused_behind_a_plain_socket_is_charged_for_it() {
    let head = plain_sum(Limits { depth: 1, ..Limits::default() });
    let Socket::ExactlyOne(Err(error)) = head.dispatch("test:fixtures/sum", "total", true, &[]) else { panic!() };
    assert!(
        matches!(error.root_cause(), DispatchError::BudgetExceeded { plugin, budget: Budget::Depth { .. }, .. } if plugin == "number"),
        "{error:?}"
    );
    let health = |id: &str| crate::health_of(&head, id);
    assert_eq!((health("sum").failures, health("number").failures), (1, 0), "(sum, number) failures");
}
