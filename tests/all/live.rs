//! Live plugins: replacing, adding and removing plugins of a running tree,
//! all or nothing, while other threads dispatch.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use wasm_link::{DispatchError, InterfaceCardinality, LoadError, Recovery, Socket, SwapError, Val};

use crate::fixtures::{Plugin, component};
use crate::plugins::{
    PLAIN, consumer, docs, docs_interface, number, number_interface, sum_interface, user, user_interface,
};
use crate::{Head, health_of, load_clean};

type Swap = SwapError<String, String>;

/// `sum` (an `ExactlyOne` root) over an `ExactlyOne` `number` served by `n`.
fn sum_over_number(value: u32) -> Head {
    load_clean(
        "sum",
        vec![sum_interface(), number_interface(InterfaceCardinality::ExactlyOne)],
        vec![
            Plugin::new("sum", "sum", &["number"], consumer(&PLAIN)),
            Plugin::new("n", "number", &[], number(value, false)),
        ],
    )
}

fn total(head: &Head) -> Result<Val, DispatchError<String>> {
    match head.dispatch("test:fixtures/sum", "total", true, &[]) {
        Socket::ExactlyOne(result) => result,
        other => panic!("expected ExactlyOne, got {other:?}"),
    }
}

fn number_plugin(id: &str, value: u32) -> Plugin {
    Plugin::new(id, "number", &[], number(value, false))
}

/// A `number` plugin whose `value` returns a `u64`: no consumer importing
/// `value: func() -> u32` can take it.
fn wide_number() -> Vec<u8> {
    component(
        r"package test:fixtures;
        interface number { value: func() -> u64; fail: func() -> u32; signal: func(); }
        world number-plugin { export number; }",
        "number-plugin",
        r#"(module
            (func (export "test:fixtures/number#value") (result i64) i64.const 5)
            (func (export "test:fixtures/number#fail") (result i32) unreachable)
            (func (export "test:fixtures/number#signal"))
        )"#,
    )
}

/// A `number` plugin that imports `counter`, which is none of its sockets.
fn number_importing_counter() -> Vec<u8> {
    component(
        r"package test:fixtures;
        interface counter { get: func() -> u32; }
        interface number { value: func() -> u32; fail: func() -> u32; signal: func(); }
        world number-plugin { import counter; export number; }",
        "number-plugin",
        r#"(module
            (import "test:fixtures/counter" "get" (func $get (result i32)))
            (func (export "test:fixtures/number#value") (result i32) call $get)
            (func (export "test:fixtures/number#fail") (result i32) unreachable)
            (func (export "test:fixtures/number#signal"))
        )"#,
    )
}

/// `number` at the root, with `cardinality`, served by `(id, value)`s.
fn number_root(cardinality: InterfaceCardinality, plugins: &[(&str, u32)]) -> Head {
    load_clean(
        "number",
        vec![number_interface(cardinality)],
        plugins.iter().map(|&(id, value)| number_plugin(id, value)).collect(),
    )
}

fn values(head: &Head) -> Vec<(String, u32)> {
    let values = match head.dispatch("test:fixtures/number", "value", true, &[]) {
        Socket::Any(values) | Socket::AtLeastOne(values) => values,
        other => panic!("expected a multi-plugin socket, got {other:?}"),
    };
    let mut values: Vec<(String, u32)> = values
        .into_iter()
        .map(|(id, value)| match value {
            Ok(Val::U32(n)) => (id, n),
            other => panic!("expected a u32, got {other:?}"),
        })
        .collect();
    values.sort();
    values
}

#[test]
fn a_replaced_plugin_serves_the_next_call_with_its_new_code() {
    let head = sum_over_number(1);
    assert_eq!(total(&head).unwrap(), Val::U32(1));
    let before = health_of(&head, "n");
    head.replace_plugin(number_plugin("n", 2)).unwrap();
    assert_eq!(total(&head).unwrap(), Val::U32(2));
    let after = health_of(&head, "n");
    assert_eq!((before.revision, after.revision), (0, 1));
    assert_ne!(before.version, after.version, "the version names the code");
    assert!(after.since >= before.since);
    assert_eq!(after.calls, 1, "the new version counts its own calls");
    // The consumer was not touched.
    assert_eq!(health_of(&head, "sum").revision, 0);
}

#[test]
fn a_root_plugin_is_replaced_in_place() {
    let head = number_root(InterfaceCardinality::ExactlyOne, &[("n", 1)]);
    head.replace_plugin(number_plugin("n", 7)).unwrap();
    let Socket::ExactlyOne(value) = head.dispatch("test:fixtures/number", "value", true, &[]) else {
        panic!("expected ExactlyOne")
    };
    assert_eq!(value.unwrap(), Val::U32(7));
    // The typed path sees it too.
    let typed = head.typed::<(), (u32,)>("value").unwrap();
    head.replace_plugin(number_plugin("n", 8)).unwrap();
    let Socket::ExactlyOne(Ok((value,))) = typed.call(()) else { panic!("expected ExactlyOne") };
    assert_eq!(value, 8);
}

#[test]
fn plugins_added_to_and_removed_from_a_multi_plugin_root_join_and_leave_its_results() {
    let head = number_root(InterfaceCardinality::Any, &[("a", 1)]);
    head.add_plugin(number_plugin("b", 2)).unwrap();
    assert_eq!(values(&head), [("a".to_owned(), 1), ("b".to_owned(), 2)]);
    assert_eq!(head.plugin_ids(), ["a", "b"]);
    head.remove_plugin(&"a".to_owned()).unwrap();
    assert_eq!(values(&head), [("b".to_owned(), 2)]);
    assert_eq!(head.plugin_ids(), ["b"]);
    assert_eq!(head.loaded_plugin_ids(), ["b"]);
    // An `Any` root may be left empty.
    head.remove_plugin(&"b".to_owned()).unwrap();
    assert!(values(&head).is_empty());
}

#[test]
fn a_plugin_added_behind_a_multi_plugin_socket_is_called_by_its_consumer() {
    use crate::plugins::LIST;
    let head = load_clean(
        "sum",
        vec![sum_interface(), number_interface(InterfaceCardinality::Any)],
        vec![Plugin::new("sum", "sum", &["number"], consumer(&LIST)), number_plugin("a", 1)],
    );
    assert_eq!(total(&head).unwrap(), Val::U32(1));
    head.add_plugin(number_plugin("b", 2)).unwrap();
    // `list<u32>` decoded as digits, in plugin-id order.
    assert_eq!(total(&head).unwrap(), Val::U32(12));
    head.remove_plugin(&"a".to_owned()).unwrap();
    assert_eq!(total(&head).unwrap(), Val::U32(2));
}

#[test]
fn adding_beyond_the_cardinality_is_refused_and_changes_nothing() {
    let head = number_root(InterfaceCardinality::ExactlyOne, &[("a", 1)]);
    let error = head.add_plugin(number_plugin("b", 2)).unwrap_err();
    assert!(
        matches!(&error, Swap::Load(LoadError::CardinalityNotMet { interface, loaded, .. })
            if interface == "number" && loaded == &["a", "b"]),
        "{error}"
    );
    assert_eq!(head.plugin_ids(), ["a"]);
    let error = head.add_plugin(number_plugin("a", 3)).unwrap_err();
    assert!(matches!(&error, Swap::AlreadyLoaded { plugin } if plugin == "a"), "{error}");
}

#[test]
fn removing_a_plugin_someone_needs_is_refused_naming_who() {
    let head = sum_over_number(1);
    let error = head.remove_plugin(&"n".to_owned()).unwrap_err();
    assert!(
        matches!(&error, Swap::Needed { plugin, interface, consumers, root: false, .. }
            if plugin == "n" && interface == "number" && consumers == &["sum"]),
        "{error}"
    );
    assert!(error.to_string().contains("`sum`"), "{error}");
    let error = head.remove_plugin(&"sum".to_owned()).unwrap_err();
    assert!(matches!(&error, Swap::Needed { root: true, .. }), "{error}");
    assert_eq!(total(&head).unwrap(), Val::U32(1), "nothing changed");
    let error = head.remove_plugin(&"ghost".to_owned()).unwrap_err();
    assert!(matches!(&error, Swap::NotLoaded { plugin } if plugin == "ghost"), "{error}");
}

#[test]
fn a_broken_new_version_is_refused_and_the_old_one_keeps_serving() {
    let head = sum_over_number(1);
    let garbage = Plugin::new("n", "number", &[], b"not a component".to_vec());
    let error = head.replace_plugin(garbage).unwrap_err();
    assert!(matches!(&error, Swap::Load(LoadError::Component { plugin, .. }) if plugin == "n"), "{error}");

    let no_export = Plugin::new("n", "number", &[], crate::plugins::counter());
    let error = head.replace_plugin(no_export).unwrap_err();
    assert!(matches!(&error, Swap::Load(LoadError::MissingExport { plugin, .. }) if plugin == "n"), "{error}");

    let ungranted = Plugin::new("n", "number", &[], number_importing_counter()).grants(&[]);
    let error = head.replace_plugin(ungranted).unwrap_err();
    assert!(
        matches!(&error, Swap::Load(LoadError::NotGranted { plugin, import }) if plugin == "n" && import.contains("counter")),
        "{error}"
    );
    head.replace_plugin(number_plugin("n", 3)).unwrap();

    let elsewhere = Plugin::new("n", "sum", &[], number(3, false));
    let error = head.replace_plugin(elsewhere).unwrap_err();
    assert!(
        matches!(&error, Swap::PlugChanged { plugin, from, to } if plugin == "n" && from == "number" && to == "sum")
    );

    let ghost = number_plugin("ghost", 3);
    assert!(matches!(head.replace_plugin(ghost).unwrap_err(), Swap::NotLoaded { .. }));

    let unreadable = number_plugin("n", 3).broken("plug");
    let error = head.replace_plugin(unreadable).unwrap_err();
    assert!(matches!(&error, Swap::Metadata { accessor: "plug", .. }), "{error}");

    assert_eq!(total(&head).unwrap(), Val::U32(3));
    assert_eq!(health_of(&head, "n").revision, 1, "only the good swap counted");
}

#[test]
fn a_new_version_that_breaks_a_consumers_import_is_refused_naming_the_consumer() {
    let head = sum_over_number(1);
    let error = head.replace_plugin(Plugin::new("n", "number", &[], wide_number())).unwrap_err();
    assert!(
        matches!(&error, Swap::Load(LoadError::SocketSignature { plugin, provider, function, .. })
            if plugin == "sum" && provider == "n" && function == "value"),
        "{error}"
    );
    assert_eq!(error.plugin().map(String::as_str), Some("sum"));
    assert_eq!(total(&head).unwrap(), Val::U32(1));
}

#[test]
fn a_plugin_whose_sockets_lead_back_to_its_plug_is_refused() {
    // `n2` plugs `number` and sockets `sum`, which `sum` serves over
    // `number`: linked, it would call itself.
    let head = load_clean(
        "sum",
        vec![sum_interface(), number_interface(InterfaceCardinality::Any)],
        vec![Plugin::new("sum", "sum", &["number"], consumer(&crate::plugins::LIST)), number_plugin("a", 1)],
    );
    let error = head.add_plugin(Plugin::new("n2", "number", &["sum"], number(2, false))).unwrap_err();
    assert!(matches!(&error, Swap::Load(LoadError::DependencyCycle { plugin, .. }) if plugin == "n2"), "{error}");
    assert_eq!(total(&head).unwrap(), Val::U32(1));
}

#[test]
fn a_quarantined_plugin_can_be_replaced_by_a_fixed_version() {
    let recovery = Recovery {
        quarantine: Some(wasm_link::Quarantine {
            failures: 1,
            window: Duration::from_mins(1),
            cooldown: Duration::from_mins(1),
        }),
    };
    let head = load_clean(
        "number",
        vec![number_interface(InterfaceCardinality::ExactlyOne)],
        vec![number_plugin("n", 1).recovery(recovery)],
    );
    let Socket::ExactlyOne(failed) = head.dispatch("test:fixtures/number", "fail", true, &[]) else { panic!() };
    assert!(failed.is_err());
    assert!(matches!(health_of(&head, "n").state, wasm_link::PluginState::Quarantined { .. }));
    head.replace_plugin(number_plugin("n", 2)).unwrap();
    assert_eq!(health_of(&head, "n").state, wasm_link::PluginState::Running);
    let Socket::ExactlyOne(value) = head.dispatch("test:fixtures/number", "value", true, &[]) else { panic!() };
    assert_eq!(value.unwrap(), Val::U32(2));
}

#[test]
fn handles_a_replaced_plugin_gave_out_keep_working_and_it_is_freed_when_they_are_dropped() {
    let first = Arc::new(AtomicUsize::new(0));
    let head = load_clean(
        "user",
        vec![user_interface(), docs_interface(InterfaceCardinality::ExactlyOne)],
        vec![
            Plugin::new("user", "user", &["docs"], user()),
            Plugin::new("docs", "docs", &[], docs()).witnessed(&first),
        ],
    );
    let call = |function: &str, arg: Option<u32>| {
        let args: Vec<Val> = arg.map(Val::U32).into_iter().collect();
        match head.dispatch("test:fixtures/user", function, true, &args) {
            Socket::ExactlyOne(Ok(Val::U32(n))) => n,
            other => panic!("expected a u32, got {other:?}"),
        }
    };
    // `user` keeps a doc of the first `docs`.
    assert_eq!(call("keep", Some(1)), 1);
    head.replace_plugin(Plugin::new("docs", "docs", &[], docs())).unwrap();
    assert_eq!(first.load(Ordering::SeqCst), 0, "the kept doc holds the first version");
    assert_eq!(call("provider-live", None), 0, "new calls go to the new version");
    // `keep` drops the old doc (in the first version, whose destructor
    // runs there) and keeps a new one of the new version.
    assert_eq!(call("keep", Some(2)), 2);
    assert_eq!(first.load(Ordering::SeqCst), 1, "the first version was freed with its last handle");
    assert_eq!(call("provider-live", None), 1);
}

#[test]
fn a_removed_plugin_is_freed_once_its_calls_are_done() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let head = load_clean(
        "number",
        vec![number_interface(InterfaceCardinality::Any)],
        vec![number_plugin("a", 1).witnessed(&dropped), number_plugin("b", 2)],
    );
    assert_eq!(values(&head).len(), 2);
    head.remove_plugin(&"a".to_owned()).unwrap();
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
    assert_eq!(head.health().len(), 1);
}

#[test]
fn threads_dispatching_through_swaps_never_see_a_failure() {
    let head = Arc::new(sum_over_number(1));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let head = head.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut seen = std::collections::BTreeSet::new();
                let mut calls = 0u32;
                while !stop.load(Ordering::Relaxed) || calls == 0 {
                    match total(&head) {
                        Ok(Val::U32(n)) => seen.insert(n),
                        other => panic!("a call failed during a swap: {other:?}"),
                    };
                    calls += 1;
                }
                seen
            })
        })
        .collect();
    for round in 0..40 {
        head.replace_plugin(number_plugin("n", 1 + round % 2)).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    stop.store(true, Ordering::Relaxed);
    let seen: std::collections::BTreeSet<u32> =
        workers.into_iter().flat_map(|worker| worker.join().expect("a worker panicked")).collect();
    assert!(seen.contains(&2), "the dispatching threads saw a new version: {seen:?}");
    assert_eq!(health_of(&head, "n").revision, 40);
}

#[test]
fn an_async_tree_swaps_while_tasks_dispatch() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let engine = wasm_link::default_engine().unwrap();
        let linker = wasm_link::Linker::new(&engine);
        let (head, errors) = crate::load_async_with(
            &engine,
            &linker,
            "sum",
            vec![sum_interface(), number_interface(InterfaceCardinality::ExactlyOne)],
            vec![Plugin::new("sum", "sum", &["number"], consumer(&PLAIN)), number_plugin("n", 1)],
        )
        .await;
        assert!(errors.is_empty(), "{errors:?}");
        let head = Arc::new(head);
        let stop = Arc::new(AtomicBool::new(false));
        let task = {
            let (head, stop) = (head.clone(), stop.clone());
            tokio::spawn(async move {
                let mut last = 0;
                while !stop.load(Ordering::Relaxed) {
                    match head.dispatch_async("test:fixtures/sum", "total", true, &[]).await {
                        Socket::ExactlyOne(Ok(Val::U32(n))) => last = n,
                        other => panic!("a call failed during a swap: {other:?}"),
                    }
                    tokio::task::yield_now().await;
                }
                last
            })
        };
        for value in [2, 3, 4] {
            head.replace_plugin_async(number_plugin("n", value)).await.unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        stop.store(true, Ordering::Relaxed);
        assert_eq!(task.await.unwrap(), 4);
        head.remove_plugin_async(&"n".to_owned()).await.unwrap_err();
    });
}

#[test]
fn a_change_asked_from_inside_a_call_of_the_tree_is_refused() {
    let wasm = component(
        r"package test:fixtures;
        interface host { poke: func() -> u32; }
        interface number { value: func() -> u32; fail: func() -> u32; signal: func(); }
        world number-plugin { import host; export number; }",
        "number-plugin",
        r#"(module
            (import "test:fixtures/host" "poke" (func $poke (result i32)))
            (func (export "test:fixtures/number#value") (result i32) call $poke)
            (func (export "test:fixtures/number#fail") (result i32) unreachable)
            (func (export "test:fixtures/number#signal"))
        )"#,
    );
    let engine = wasm_link::Engine::default();
    let mut linker = wasm_link::Linker::new(&engine);
    let head_cell: Arc<std::sync::OnceLock<std::sync::Weak<Head>>> = Arc::default();
    let refused = Arc::new(AtomicBool::new(false));
    {
        let (head_cell, refused) = (head_cell.clone(), refused.clone());
        linker
            .instance("test:fixtures/host")
            .unwrap()
            .func_wrap("poke", move |_, (): ()| {
                if let Some(head) = head_cell.get().and_then(std::sync::Weak::upgrade) {
                    let outcome = head.replace_plugin(number_plugin("other", 9));
                    refused.store(matches!(outcome, Err(Swap::InsideCall { .. })), Ordering::SeqCst);
                }
                Ok((7u32,))
            })
            .unwrap();
    }
    let (tree, errors) = wasm_link::PluginTree::new(
        "number".to_owned(),
        vec![number_interface(InterfaceCardinality::ExactlyOne)],
        vec![Plugin::new("n", "number", &[], wasm)],
    );
    assert!(errors.is_empty());
    let head = Arc::new(tree.load(&engine, &linker).unwrap().0);
    head_cell.set(Arc::downgrade(&head)).unwrap();
    let Socket::ExactlyOne(value) = head.dispatch("test:fixtures/number", "value", true, &[]) else { panic!() };
    assert_eq!(value.unwrap(), Val::U32(7), "the call went on");
    assert!(refused.load(Ordering::SeqCst), "the swap from inside the call was refused");
}
