//! Pooled plugins: several instances of a stateless plugin serving calls at
//! once, resources staying with the instance that made them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use wasm_link::{Engine, InterfaceCardinality, Linker, PluginTree, ResourceAny, Socket, Val};

use crate::fixtures::{Plugin, component};
use crate::plugins::{docs, docs_interface, number_interface, user, user_interface};
use crate::{Head, health_of, load_clean};

/// A `number` plugin whose `value` calls the host's `meet`, which returns
/// only once `parties` calls are inside it at the same time (or fails after
/// five seconds): the call succeeds only if that many instances run at once.
fn meeting(parties: usize, instances: usize) -> Head {
    let wasm = component(
        r"package test:fixtures;
        interface host { meet: func() -> u32; }
        interface number { value: func() -> u32; fail: func() -> u32; signal: func(); }
        world number-plugin { import host; export number; }",
        "number-plugin",
        r#"(module
            (import "test:fixtures/host" "meet" (func $meet (result i32)))
            (func (export "test:fixtures/number#value") (result i32) call $meet)
            (func (export "test:fixtures/number#fail") (result i32) unreachable)
            (func (export "test:fixtures/number#signal"))
        )"#,
    );
    let engine = Engine::default();
    let mut linker = Linker::new(&engine);
    let inside = Arc::new(AtomicUsize::new(0));
    linker
        .instance("test:fixtures/host")
        .unwrap()
        .func_wrap("meet", move |_, (): ()| {
            inside.fetch_add(1, Ordering::SeqCst);
            let started = Instant::now();
            while inside.load(Ordering::SeqCst) < parties {
                if started.elapsed() > Duration::from_secs(5) {
                    return Ok((0u32,));
                }
                std::thread::yield_now();
            }
            Ok((1u32,))
        })
        .unwrap();
    let (tree, errors) = PluginTree::new(
        "number".to_owned(),
        vec![number_interface(InterfaceCardinality::ExactlyOne)],
        vec![Plugin::new("n", "number", &[], wasm).pooled(instances)],
    );
    assert!(errors.is_empty());
    let (head, errors) = tree.load(&engine, &linker).unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    head
}

fn value(head: &Head) -> u32 {
    match head.dispatch("test:fixtures/number", "value", true, &[]) {
        Socket::ExactlyOne(Ok(Val::U32(n))) => n,
        other => panic!("expected a u32, got {other:?}"),
    }
}

#[test]
fn a_pooled_plugin_serves_calls_at_once() {
    let head = Arc::new(meeting(2, 2));
    assert_eq!(health_of(&head, "n").instances, 2);
    let other = {
        let head = head.clone();
        std::thread::spawn(move || value(&head))
    };
    let here = value(&head);
    assert_eq!((here, other.join().unwrap()), (1, 1), "both calls were inside the plugin together");
    assert_eq!(health_of(&head, "n").calls, 2, "health sums the instances");
    let stats = head.stats();
    assert_eq!(stats.len(), 1, "one edge, whichever instance served: {stats:#?}");
    assert_eq!((stats[0].calls, stats[0].latency.samples()), (2, 2), "stats sum the instances");
}

#[test]
fn a_plugin_of_one_instance_serves_one_call_at_a_time() {
    // The control: with one instance the second call waits for the first,
    // which gives up meeting it.
    let head = Arc::new(meeting(2, 1));
    let other = {
        let head = head.clone();
        std::thread::spawn(move || value(&head))
    };
    let here = value(&head);
    assert_eq!(here + other.join().unwrap(), 1, "one of the two calls met nobody");
}

fn docs_pool() -> Head {
    load_clean(
        "docs",
        vec![docs_interface(InterfaceCardinality::ExactlyOne)],
        vec![Plugin::new("docs", "docs", &[], docs()).pooled(2)],
    )
}

fn make(head: &Head, value: u32) -> ResourceAny {
    match head.dispatch("test:fixtures/docs", "make", true, &[Val::U32(value)]) {
        Socket::ExactlyOne(Ok(Val::Resource(handle))) => handle,
        other => panic!("expected a handle, got {other:?}"),
    }
}

#[test]
fn methods_on_resources_of_a_pooled_plugin_reach_the_instance_that_made_them() {
    let head = docs_pool();
    // Successive calls spread over the instances: each doc is made by one
    // of them, in its own memory.
    let docs: Vec<ResourceAny> = (1..=4).map(|v| make(&head, v * 10)).collect();
    for (doc, expected) in docs.iter().zip([10, 20, 30, 40]) {
        let Socket::ExactlyOne(got) =
            head.dispatch("test:fixtures/docs", "[method]doc.get", true, &[Val::Resource(*doc)])
        else {
            panic!("expected ExactlyOne")
        };
        assert_eq!(got.unwrap(), Val::U32(expected));
    }
    for doc in docs {
        assert!(head.drop_resource(doc).unwrap());
    }
    // Every instance destroyed its own docs: `live` is 0 on whichever answers.
    for _ in 0..2 {
        let Socket::ExactlyOne(live) = head.dispatch("test:fixtures/docs", "live", true, &[]) else { panic!() };
        assert_eq!(live.unwrap(), Val::U32(0));
    }
}

#[test]
fn a_pooled_consumer_passes_handles_across_its_socket_from_every_instance() {
    let head = load_clean(
        "user",
        vec![user_interface(), docs_interface(InterfaceCardinality::ExactlyOne)],
        vec![Plugin::new("user", "user", &["docs"], user()).pooled(3), Plugin::new("docs", "docs", &[], docs())],
    );
    for v in 1..=6 {
        let Socket::ExactlyOne(result) = head.dispatch("test:fixtures/user", "roundtrip", true, &[Val::U32(v)]) else {
            panic!()
        };
        // make(v); set(v + 1); get + 1000 * read; then the constructor's doc: + 1_000_000 * v.
        assert_eq!(result.unwrap(), Val::U32((v + 1) + 1000 * (v + 1) + 1_000_000 * v));
    }
    assert_eq!(health_of(&head, "user").instances, 3);
    let Socket::ExactlyOne(live) = head.dispatch("test:fixtures/user", "provider-live", true, &[]) else { panic!() };
    assert_eq!(live.unwrap(), Val::U32(0), "every doc reached its destructor");
}

#[test]
fn a_pooled_plugin_is_replaced_as_a_whole() {
    let head = docs_pool();
    head.replace_plugin(Plugin::new("docs", "docs", &[], docs()).pooled(3)).unwrap();
    let health = health_of(&head, "docs");
    assert_eq!((health.instances, health.revision), (3, 1));
}

#[test]
fn a_tree_on_a_pooling_engine_recovers_and_swaps() {
    let engine = Engine::new(&wasm_link::pooling_engine_config()).unwrap();
    let (head, errors) = crate::load_on(
        &engine,
        "number",
        vec![number_interface(InterfaceCardinality::ExactlyOne)],
        vec![Plugin::new("n", "number", &[], crate::plugins::number(1, false)).pooled(2)],
    );
    assert!(errors.is_empty(), "{errors:?}");
    let Socket::ExactlyOne(failed) = head.dispatch("test:fixtures/number", "fail", true, &[]) else { panic!() };
    assert!(matches!(failed, Err(wasm_link::DispatchError::Trap { reinstantiated: true, .. })), "{failed:?}");
    head.replace_plugin(Plugin::new("n", "number", &[], crate::plugins::number(2, false))).unwrap();
    assert_eq!(value(&head), 2);
}

#[test]
fn a_handle_given_back_to_a_pooled_plugin_by_the_host_reaches_the_instance_that_made_it() {
    let head = docs_pool();
    let docs: Vec<ResourceAny> = (1..=4).map(|v| make(&head, v)).collect();
    for (doc, expected) in docs.iter().zip(1..=4) {
        // `read` is a plain function taking a borrow, not a method.
        let Socket::ExactlyOne(got) = head.dispatch("test:fixtures/docs", "read", true, &[Val::Resource(*doc)]) else {
            panic!("expected ExactlyOne")
        };
        assert_eq!(got.unwrap(), Val::U32(expected));
    }
}

#[test]
fn a_consumer_gives_a_pooled_plugin_its_own_handle_back_through_a_plain_function() {
    let head = load_clean(
        "user",
        vec![user_interface(), docs_interface(InterfaceCardinality::ExactlyOne)],
        vec![Plugin::new("user", "user", &["docs"], user()), Plugin::new("docs", "docs", &[], docs()).pooled(2)],
    );
    // `hand-over(v)` is `consume(make(v))`: `make` runs on one instance of
    // `docs`, and `consume` (a plain function taking the owned doc) must
    // run on that one, whichever is free.
    for v in 1..=6 {
        let Socket::ExactlyOne(result) = head.dispatch("test:fixtures/user", "hand-over", true, &[Val::U32(v)]) else {
            panic!()
        };
        assert_eq!(result.unwrap(), Val::U32(v));
    }
    for _ in 0..2 {
        let Socket::ExactlyOne(live) = head.dispatch("test:fixtures/user", "provider-live", true, &[]) else {
            panic!()
        };
        assert_eq!(live.unwrap(), Val::U32(0), "every doc was consumed in the instance that made it");
    }
}
