//! Resources across sockets and from the host: routing to the owner, handles
//! in every position, drops reaching the owner, foreign handles refused.

use wasm_link::{DispatchError, InterfaceCardinality, ResourceAny, Socket, Val};

use crate::fixtures::{Interface, Plugin};
use crate::plugins::{collector, docs, docs_interface, user, user_interface};
use crate::{Head, load_clean};

fn user_tree(cardinality: InterfaceCardinality) -> Head {
    load_clean(
        "user",
        vec![user_interface(), docs_interface(cardinality)],
        vec![Plugin::new("user", "user", &["docs"], user()), Plugin::new("docs", "docs", &[], docs())],
    )
}

fn call_user(head: &Head, function: &str, arg: Option<u32>) -> Result<Val, DispatchError<String>> {
    let args: Vec<Val> = arg.map(Val::U32).into_iter().collect();
    match head.dispatch("test:fixtures/user", function, true, &args) {
        Socket::ExactlyOne(result) => result,
        other => panic!("expected ExactlyOne, got {other:?}"),
    }
}

fn u32_of(result: Result<Val, DispatchError<String>>) -> u32 {
    match result {
        Ok(Val::U32(n)) => n,
        other => panic!("expected a u32, got {other:?}"),
    }
}

#[test]
fn a_resource_from_a_socket_is_used_through_methods_borrows_and_the_constructor() {
    let head = user_tree(InterfaceCardinality::ExactlyOne);
    // get 6, read(borrow) 6, constructor's get 5
    assert_eq!(u32_of(call_user(&head, "roundtrip", Some(5))), 5_006_006);
    assert_eq!(u32_of(call_user(&head, "provider-live", None)), 0);
}

#[test]
fn an_owned_handle_passed_back_to_its_owner_is_consumed_there() {
    let head = user_tree(InterfaceCardinality::ExactlyOne);
    assert_eq!(u32_of(call_user(&head, "hand-over", Some(9))), 9);
    assert_eq!(u32_of(call_user(&head, "provider-live", None)), 0);
}

#[test]
fn methods_on_a_multi_plugin_socket_go_to_the_plugin_that_owns_the_resource() {
    let user = Interface::new(
        "user",
        InterfaceCardinality::ExactlyOne,
        "test:fixtures/user",
        vec![crate::fixtures::func("roundtrip")],
    );
    let head = load_clean(
        "user",
        vec![user, docs_interface(InterfaceCardinality::Any)],
        vec![
            Plugin::new("user", "user", &["docs"], collector()),
            Plugin::new("a", "docs", &[], docs()),
            Plugin::new("b", "docs", &[], docs()),
        ],
    );
    assert_eq!(u32_of(call_user(&head, "roundtrip", Some(5))), 12);
}

#[test]
fn no_handle_leaks_after_ten_thousand_create_use_drop_cycles() {
    let head = user_tree(InterfaceCardinality::ExactlyOne);
    for i in 0..10_000 {
        let v = i % 100;
        assert_eq!(u32_of(call_user(&head, "roundtrip", Some(v))), (v + 1) * 1001 + v * 1_000_000);
    }
    assert_eq!(u32_of(call_user(&head, "provider-live", None)), 0);
}

#[test]
fn handles_held_by_a_consumer_are_released_when_it_is_reinstantiated() {
    let head = user_tree(InterfaceCardinality::ExactlyOne);
    assert_eq!(u32_of(call_user(&head, "keep", Some(1))), 1);
    assert_eq!(u32_of(call_user(&head, "keep", Some(2))), 2);
    assert_eq!(u32_of(call_user(&head, "provider-live", None)), 1);
    assert!(matches!(call_user(&head, "boom", None), Err(DispatchError::Trap { reinstantiated: true, .. })));
    assert_eq!(u32_of(call_user(&head, "provider-live", None)), 0);
}

fn docs_root(cardinality: InterfaceCardinality, ids: &[&str]) -> Head {
    load_clean(
        "docs",
        vec![docs_interface(cardinality)],
        ids.iter().map(|id| Plugin::new(id, "docs", &[], docs())).collect(),
    )
}

fn single(socket: Socket<Result<Val, DispatchError<String>>, String>) -> Result<Val, DispatchError<String>> {
    match socket {
        Socket::ExactlyOne(result) => result,
        other => panic!("expected ExactlyOne, got {other:?}"),
    }
}

fn handle(result: Result<Val, DispatchError<String>>) -> ResourceAny {
    match result {
        Ok(Val::Resource(handle)) => handle,
        other => panic!("expected a handle, got {other:?}"),
    }
}

#[test]
fn the_host_calls_methods_passes_borrows_and_gives_ownership_back() {
    let head = docs_root(InterfaceCardinality::ExactlyOne, &["d"]);
    let path = "test:fixtures/docs";
    let doc = handle(single(head.dispatch(path, "make", true, &[Val::U32(7)])));
    assert_eq!(single(head.dispatch(path, "[method]doc.get", true, &[Val::Resource(doc)])).unwrap(), Val::U32(7));
    single(head.dispatch(path, "[method]doc.set", false, &[Val::Resource(doc), Val::U32(8)])).unwrap();
    assert_eq!(single(head.dispatch(path, "read", true, &[Val::Resource(doc)])).unwrap(), Val::U32(8));
    assert_eq!(single(head.dispatch(path, "live", true, &[])).unwrap(), Val::U32(1));
    assert_eq!(single(head.dispatch(path, "consume", true, &[Val::Resource(doc)])).unwrap(), Val::U32(8));
    assert_eq!(single(head.dispatch(path, "live", true, &[])).unwrap(), Val::U32(0));
}

#[test]
fn the_host_drops_a_handle_in_its_owner() {
    let head = docs_root(InterfaceCardinality::ExactlyOne, &["d"]);
    let path = "test:fixtures/docs";
    let doc = handle(single(head.dispatch(path, "make", true, &[Val::U32(7)])));
    assert!(matches!(head.drop_resource(doc), Ok(true)));
    // A second drop finds no owner.
    assert!(matches!(head.drop_resource(doc), Ok(false)));
    assert_eq!(single(head.dispatch(path, "live", true, &[])).unwrap(), Val::U32(0));
}

#[test]
fn a_method_call_goes_to_the_owning_plugin_only() {
    let head = docs_root(InterfaceCardinality::Any, &["a", "b"]);
    let path = "test:fixtures/docs";
    let Socket::Any(made) = head.dispatch(path, "make", true, &[Val::U32(4)]) else { panic!("expected Any") };
    let from_a = handle(made["a"].clone());
    let Socket::Any(got) = head.dispatch(path, "[method]doc.get", true, &[Val::Resource(from_a)]) else {
        panic!("expected Any")
    };
    assert_eq!(got.len(), 1);
    assert_eq!(got["a"].as_ref().unwrap(), &Val::U32(4));
}

#[test]
fn a_handle_given_to_a_plugin_that_does_not_own_it_is_an_error() {
    let head = docs_root(InterfaceCardinality::Any, &["a", "b"]);
    let path = "test:fixtures/docs";
    let Socket::Any(made) = head.dispatch(path, "make", true, &[Val::U32(4)]) else { panic!("expected Any") };
    let from_a = handle(made["a"].clone());
    let Socket::Any(read) = head.dispatch(path, "read", true, &[Val::Resource(from_a)]) else { panic!("expected Any") };
    assert_eq!(read["a"].as_ref().unwrap(), &Val::U32(4));
    assert!(matches!(&read["b"], Err(DispatchError::InvalidResource { plugin, .. }) if plugin == "b"), "{read:?}");
    // `b` is unharmed.
    let Socket::Any(live) = head.dispatch(path, "live", true, &[]) else { panic!("expected Any") };
    assert_eq!(live["b"].as_ref().unwrap(), &Val::U32(1));
}

/// A `user` root `pipeline` that lends docs to inspectors behind an
/// `inspect` socket of `cardinality`.
fn inspection(cardinality: InterfaceCardinality, pipeline: Vec<u8>, inspectors: &[&str]) -> Head {
    let user = Interface::new(
        "user",
        InterfaceCardinality::ExactlyOne,
        "test:fixtures/user",
        vec![crate::fixtures::func("roundtrip")],
    );
    let inspect =
        Interface::new("inspect", cardinality, "test:fixtures/inspect", vec![crate::fixtures::func("inspect")]);
    let mut plugins =
        vec![Plugin::new("pipeline", "user", &["docs", "inspect"], pipeline), Plugin::new("docs", "docs", &[], docs())];
    for id in inspectors {
        plugins.push(Plugin::new(id, "inspect", &["docs"], crate::plugins::inspector()));
    }
    load_clean("user", vec![user, inspect, docs_interface(InterfaceCardinality::ExactlyOne)], plugins)
}

#[test]
fn a_borrowed_handle_reaches_a_third_plugin_that_imports_its_type() {
    let head = inspection(InterfaceCardinality::ExactlyOne, crate::plugins::pipeline(), &["inspector"]);
    for v in 1..50 {
        assert_eq!(u32_of(call_user(&head, "roundtrip", Some(v))), 2 * v);
    }
}

#[test]
fn a_handle_the_host_already_gave_away_is_refused_without_resetting_the_plugin() {
    let head = docs_root(InterfaceCardinality::ExactlyOne, &["d"]);
    let path = "test:fixtures/docs";
    let kept = handle(single(head.dispatch(path, "make", true, &[Val::U32(1)])));
    let given = handle(single(head.dispatch(path, "make", true, &[Val::U32(2)])));
    assert_eq!(single(head.dispatch(path, "consume", true, &[Val::Resource(given)])).unwrap(), Val::U32(2));
    let again = single(head.dispatch(path, "consume", true, &[Val::Resource(given)]));
    assert!(matches!(again, Err(DispatchError::InvalidArguments { .. })), "{again:?}");
    // The plugin was not re-instantiated: the other doc is still alive.
    assert_eq!(single(head.dispatch(path, "[method]doc.get", true, &[Val::Resource(kept)])).unwrap(), Val::U32(1));
}

#[test]
fn a_borrow_reaches_every_plugin_behind_a_multi_plugin_socket() {
    let head = inspection(InterfaceCardinality::Any, crate::plugins::multi_pipeline(), &["i1", "i2"]);
    // Each inspector doubles the value: 2v + 2v.
    for v in 1..20 {
        assert_eq!(u32_of(call_user(&head, "roundtrip", Some(v))), 4 * v);
    }
}

/// A borrow lent for one call is the lender's to bound, not the receiver's
/// to hold: an inspector that may hold no handle at all is still lent one
/// per call, and nothing is charged to it (a consumer lending many borrows
/// could otherwise get the receiver's budget, and the blame, exceeded).
#[test]
fn a_lent_borrow_does_not_count_against_the_receivers_handle_budget() {
    let user = Interface::new(
        "user",
        InterfaceCardinality::ExactlyOne,
        "test:fixtures/user",
        vec![crate::fixtures::func("roundtrip")],
    );
    let inspect = Interface::new(
        "inspect",
        InterfaceCardinality::ExactlyOne,
        "test:fixtures/inspect",
        vec![crate::fixtures::func("inspect")],
    );
    let plugins = vec![
        Plugin::new("pipeline", "user", &["docs", "inspect"], crate::plugins::pipeline()),
        Plugin::new("docs", "docs", &[], docs()),
        Plugin::new("inspector", "inspect", &["docs"], crate::plugins::inspector())
            .limits(wasm_link::Limits { handles: 0, ..wasm_link::Limits::default() }),
    ];
    let head = load_clean("user", vec![user, inspect, docs_interface(InterfaceCardinality::ExactlyOne)], plugins);
    for v in 1..5 {
        assert_eq!(u32_of(call_user(&head, "roundtrip", Some(v))), 2 * v);
    }
    assert_eq!(crate::health_of(&head, "inspector").failures, 0);
}
