//! Freezing: groups of plugins joined by plain `ExactlyOne` edges loaded as
//! one composed component (`LoadOptions::freeze`). Every scenario runs both
//! ways, dynamic and frozen, and must give the same results; then what
//! freezing changes (blame, health, swaps) is pinned down.

use wasm_link::{Engine, InterfaceCardinality, Linker, LoadOptions, NotFrozen, PluginTree, Socket, Val};

use crate::fixtures::{Interface, Plugin};
use crate::plugins::{PLAIN, RESULT_DISPATCH_ERROR, consumer, number, number_interface, sum_interface};
use crate::{Head, Load};

/// Loads a tree built by `build`, frozen or not.
fn load(freeze: bool, root: &str, build: &dyn Fn() -> (Vec<Interface>, Vec<Plugin>)) -> (Head, Vec<Load>) {
    let engine = Engine::default();
    let (interfaces, plugins) = build();
    let (tree, build_errors) = PluginTree::new(root.to_owned(), interfaces, plugins);
    assert!(build_errors.is_empty(), "unexpected build errors: {build_errors:#?}");
    let linker = Linker::new(&engine);
    match tree.load_with(&engine, &linker, &LoadOptions::new().freeze(freeze)) {
        Ok(loaded) => loaded,
        Err((primary, others)) => panic!("root cannot be served: {primary}; others: {others:#?}"),
    }
}

/// One call of the root: its function and arguments.
type Call<'a> = (&'a str, Vec<Val>);

/// The differential check: the tree built by `build` loaded dynamically and
/// frozen gives the same result for each call, in turn (state included).
/// Returns the frozen head, and how many groups froze.
fn both_ways(root: &str, build: &dyn Fn() -> (Vec<Interface>, Vec<Plugin>), calls: &[Call<'_>]) -> (Head, usize) {
    let (dynamic, dynamic_errors) = load(false, root, build);
    let (frozen, frozen_errors) = load(true, root, build);
    assert_eq!(format!("{dynamic_errors:?}"), format!("{frozen_errors:?}"), "load errors differ");
    let instance = frozen_instance(build, root);
    for (function, args) in calls {
        let expected = dynamic.dispatch(&instance, function, true, args);
        let got = frozen.dispatch(&instance, function, true, args);
        assert_eq!(format!("{got:?}"), format!("{expected:?}"), "`{function}{args:?}` differs when frozen");
    }
    let groups = frozen.freeze_report().groups.len();
    (frozen, groups)
}

/// The root interface's instance name.
fn frozen_instance(build: &dyn Fn() -> (Vec<Interface>, Vec<Plugin>), root: &str) -> String {
    let (interfaces, _) = build();
    interfaces.into_iter().find(|i| i.id == root).map(|i| i.path).unwrap_or_default()
}

fn sum_over(shape: &'static crate::plugins::ImportShape) -> impl Fn() -> (Vec<Interface>, Vec<Plugin>) {
    move || {
        (
            vec![sum_interface(), number_interface(InterfaceCardinality::ExactlyOne)],
            vec![
                Plugin::new("sum", "sum", &["number"], consumer(shape)),
                Plugin::new("a", "number", &[], number(7, false)),
            ],
        )
    }
}

#[test]
fn a_plain_exactly_one_edge_freezes_and_answers_the_same() {
    let (head, groups) = both_ways("sum", &sum_over(&PLAIN), &[("total", vec![]), ("total", vec![])]);
    assert_eq!(groups, 1);
    let group = &head.freeze_report().groups[0];
    assert_eq!(group.plugin, "sum");
    assert_eq!(group.members, ["sum", "a"]);
    assert_eq!(group.edges, [("sum".to_owned(), "number".to_owned(), "a".to_owned())]);
    assert_eq!(head.loaded_plugin_ids(), ["a", "sum"]);
    let health = head.health();
    assert_eq!(health.len(), 1, "one store for the group: {health:#?}");
    assert_eq!(health[0].members, ["sum", "a"]);
    match head.dispatch("test:fixtures/sum", "total", true, &[]) {
        Socket::ExactlyOne(Ok(Val::U32(7))) => {}
        other => panic!("expected 7, got {other:?}"),
    }
}

#[test]
fn a_socket_imported_as_result_stays_dynamic_and_says_why() {
    let (head, groups) = both_ways("sum", &sum_over(&RESULT_DISPATCH_ERROR), &[("total", vec![])]);
    assert_eq!(groups, 0);
    let dynamic = &head.freeze_report().dynamic;
    assert_eq!(dynamic.len(), 1, "{dynamic:#?}");
    assert!(matches!(&dynamic[0].reason, NotFrozen::Compose { group, .. } if group == "sum"), "{dynamic:#?}");
}

/// `test:fixtures/{name}#bump`, an `ExactlyOne` interface.
fn bump_interface(name: &str) -> Interface {
    Interface::new(
        name,
        InterfaceCardinality::ExactlyOne,
        &format!("test:fixtures/{name}"),
        vec![crate::fixtures::func("bump")],
    )
}

/// A plugin that imports `{from}` and exports `{to}`: `bump` is `from.bump() + 1`.
fn relay(from: &str, to: &str) -> Vec<u8> {
    crate::fixtures::component(
        &format!(
            r"package test:fixtures;
            interface {from} {{ bump: func() -> u32; }}
            interface {to} {{ bump: func() -> u32; }}
            world relay {{ import {from}; export {to}; }}"
        ),
        "relay",
        &format!(
            r#"(module
                (import "test:fixtures/{from}" "bump" (func $bump (result i32)))
                (func (export "test:fixtures/{to}#bump") (result i32) (i32.add (call $bump) (i32.const 1)))
            )"#
        ),
    )
}

/// `r0` ← relay ← ... ← `counter`: `links` relays, then the counter.
fn chain(links: usize) -> impl Fn() -> (Vec<Interface>, Vec<Plugin>) {
    move || {
        let mut interfaces = vec![crate::plugins::counter_interface(InterfaceCardinality::ExactlyOne)];
        let mut plugins = vec![Plugin::new("counter", "counter", &[], crate::plugins::counter())];
        for link in 0..links {
            let to = format!("r{link}");
            let from = if link + 1 == links { "counter".to_owned() } else { format!("r{}", link + 1) };
            interfaces.push(bump_interface(&to));
            plugins.push(Plugin::new(&format!("relay{link}"), &to, &[&from], relay(&from, &to)));
        }
        (interfaces, plugins)
    }
}

#[test]
fn a_chain_of_five_freezes_into_one_group_and_keeps_its_state() {
    let calls: Vec<Call<'_>> = (0..3).map(|_| ("bump", vec![])).collect();
    let (head, groups) = both_ways("r0", &chain(4), &calls);
    assert_eq!(groups, 1);
    let group = &head.freeze_report().groups[0];
    assert_eq!(group.plugin, "relay0");
    assert_eq!(group.members.len(), 5, "{group:#?}");
    assert_eq!(group.edges.len(), 4, "{group:#?}");
    // The counter's state lives in the composite: 3 calls before, then 4 + 4 relays.
    match head.dispatch("test:fixtures/r0", "bump", true, &[]) {
        Socket::ExactlyOne(Ok(Val::U32(8))) => {}
        other => panic!("expected 8, got {other:?}"),
    }
}

/// `top` over `left` and `right`, both forwarding one shared `counter`.
fn diamond() -> (Vec<Interface>, Vec<Plugin>) {
    let top = Interface::new(
        "top",
        InterfaceCardinality::ExactlyOne,
        "test:fixtures/top",
        vec![crate::fixtures::func("total")],
    );
    (
        vec![
            top,
            bump_interface("left"),
            bump_interface("right"),
            crate::plugins::counter_interface(InterfaceCardinality::ExactlyOne),
        ],
        vec![
            Plugin::new("top", "top", &["left", "right"], crate::plugins::top()),
            Plugin::new("left", "left", &["counter"], crate::plugins::forwarder("left")),
            Plugin::new("right", "right", &["counter"], crate::plugins::forwarder("right")),
            Plugin::new("counter", "counter", &[], crate::plugins::counter()),
        ],
    )
}

#[test]
fn a_provider_shared_inside_one_group_is_one_instance_when_frozen() {
    let (head, groups) = both_ways("top", &diamond, &[("total", vec![]), ("total", vec![])]);
    assert_eq!(groups, 1);
    let group = &head.freeze_report().groups[0];
    assert_eq!(group.members.len(), 4, "{group:#?}");
    // left bumps 5, right 6: one counter behind both.
    match head.dispatch("test:fixtures/top", "total", true, &[]) {
        Socket::ExactlyOne(Ok(Val::U32(56))) => {}
        other => panic!("expected 56, got {other:?}"),
    }
}

fn docs_tree() -> (Vec<Interface>, Vec<Plugin>) {
    (
        vec![crate::plugins::user_interface(), crate::plugins::docs_interface(InterfaceCardinality::ExactlyOne)],
        vec![
            Plugin::new("user", "user", &["docs"], crate::plugins::user()),
            Plugin::new("docs", "docs", &[], crate::plugins::docs()),
        ],
    )
}

#[test]
fn resources_cross_a_frozen_edge_natively_with_the_same_results() {
    let calls: Vec<Call<'_>> = vec![
        ("roundtrip", vec![Val::U32(5)]),
        ("hand-over", vec![Val::U32(3)]),
        ("keep", vec![Val::U32(4)]),
        ("keep", vec![Val::U32(9)]),
        ("provider-live", vec![]),
        ("roundtrip", vec![Val::U32(2)]),
        ("provider-live", vec![]),
    ];
    let (head, groups) = both_ways("user", &docs_tree, &calls);
    assert_eq!(groups, 1);
    assert_eq!(head.freeze_report().groups[0].members, ["user", "docs"]);
}

#[test]
fn a_provider_with_other_limits_stays_dynamic_and_the_rest_freezes() {
    let build = || {
        let (interfaces, mut plugins) = chain(3)();
        for plugin in &mut plugins {
            if plugin.id == "counter" {
                plugin.limits = wasm_link::Limits { memory: 1 << 24, ..wasm_link::Limits::default() };
            }
        }
        (interfaces, plugins)
    };
    let calls: Vec<Call<'_>> = (0..2).map(|_| ("bump", vec![])).collect();
    let (head, groups) = both_ways("r0", &build, &calls);
    assert_eq!(groups, 1);
    let report = head.freeze_report();
    assert_eq!(report.groups[0].members, ["relay0", "relay1", "relay2"]);
    assert_eq!(report.dynamic.len(), 1, "{report:#?}");
    assert_eq!(report.dynamic[0].consumer, "relay2");
    assert_eq!(
        report.dynamic[0].reason,
        NotFrozen::Settings { consumer: "relay2".to_owned(), provider: "counter".to_owned() }
    );
    // The group keeps a dynamic socket to the counter: two stores.
    let ids: Vec<String> = head.health().into_iter().map(|h| h.plugin).collect();
    assert_eq!(ids, ["counter", "relay0"]);
}

#[test]
fn a_provider_serving_two_groups_stays_dynamic() {
    // `top` has its own limits: `left` and `right` head groups of their own,
    // and the counter behind both would have to be in two places.
    let build = || {
        let (interfaces, mut plugins) = diamond();
        plugins[0].limits = wasm_link::Limits { memory: 1 << 24, ..wasm_link::Limits::default() };
        (interfaces, plugins)
    };
    let (head, groups) = both_ways("top", &build, &[("total", vec![]), ("total", vec![])]);
    assert_eq!(groups, 0);
    let report = head.freeze_report();
    let counter: Vec<_> = report.dynamic.iter().filter(|edge| edge.interface == "counter").collect();
    assert_eq!(counter.len(), 2, "{report:#?}");
    assert_eq!(
        counter[0].reason,
        NotFrozen::Shared { provider: "counter".to_owned(), others: vec!["right".to_owned()] },
        "{report:#?}"
    );
    assert_eq!(counter[0].reason.to_string(), "`counter` also serves `right`");
}

#[test]
fn a_plugin_without_bytes_is_not_frozen() {
    let build = || {
        let (interfaces, mut plugins) = sum_over(&PLAIN)();
        plugins[1].bytes_hidden = true;
        (interfaces, plugins)
    };
    let (head, groups) = both_ways("sum", &build, &[("total", vec![])]);
    assert_eq!(groups, 0);
    assert_eq!(head.freeze_report().dynamic[0].reason, NotFrozen::NoBytes { plugin: "a".to_owned() });
}

#[test]
fn a_pooled_plugin_is_not_frozen() {
    let build = || {
        let (interfaces, mut plugins) = sum_over(&PLAIN)();
        plugins[1].instances = 2;
        (interfaces, plugins)
    };
    let (head, groups) = both_ways("sum", &build, &[("total", vec![])]);
    assert_eq!(groups, 0);
    assert_eq!(head.freeze_report().dynamic[0].reason, NotFrozen::Pooled { plugin: "a".to_owned() });
}

#[test]
fn a_failure_inside_a_group_is_the_group_s_and_it_recovers() {
    let (head, _) = load(true, "sum", &sum_over(&PLAIN));
    // Dynamic, the trap would be `a`'s, seen by `sum` through its socket;
    // frozen, both are one instance: the failure is the group's.
    match head.dispatch("test:fixtures/sum", "failing", true, &[]) {
        Socket::ExactlyOne(Err(error)) => {
            assert_eq!(error.plugin(), "sum");
            assert!(matches!(error, wasm_link::DispatchError::Trap { .. }), "{error:?}");
        }
        other => panic!("expected the group's trap, got {other:?}"),
    }
    let health = crate::health_of(&head, "sum");
    assert_eq!(health.failures, 1);
    assert_eq!(health.members, ["sum", "a"]);
    match head.dispatch("test:fixtures/sum", "total", true, &[]) {
        Socket::ExactlyOne(Ok(Val::U32(7))) => {}
        other => panic!("expected 7 after recovery, got {other:?}"),
    }
    assert_eq!(crate::health_of(&head, "sum").reinstantiations, 1);
}

fn bump(head: &Head) -> u32 {
    match head.dispatch("test:fixtures/r0", "bump", true, &[]) {
        Socket::ExactlyOne(Ok(Val::U32(n))) => n,
        other => panic!("expected a u32, got {other:?}"),
    }
}

#[test]
fn replacing_a_member_composes_its_group_again_with_the_same_results_as_dynamic() {
    let (dynamic, _) = load(false, "r0", &chain(2));
    let (frozen, _) = load(true, "r0", &chain(2));
    for head in [&dynamic, &frozen] {
        assert_eq!((bump(head), bump(head)), (3, 4));
        head.replace_plugin(Plugin::new("counter", "counter", &[], crate::plugins::counter_from(1000))).unwrap();
        assert_eq!((bump(head), bump(head)), (1003, 1004));
    }
    // One store for the group: its entry has a new revision and version,
    // the same members, and the report is unchanged.
    let health = crate::health_of(&frozen, "relay0");
    assert_eq!(health.revision, 1);
    assert_eq!(health.members, ["relay0", "relay1", "counter"]);
    assert_eq!(frozen.freeze_report().groups[0].members, ["relay0", "relay1", "counter"]);
    assert_eq!(frozen.health().len(), 1);
    // The top member too: a fresh store, the counter starting over.
    frozen.replace_plugin(Plugin::new("relay0", "r0", &["r1"], relay("r1", "r0"))).unwrap();
    assert_eq!(bump(&frozen), 1003);
    assert_eq!(crate::health_of(&frozen, "relay0").revision, 2);
}

#[test]
fn a_member_replacement_that_changes_the_group_s_shape_is_refused_and_nothing_changes() {
    let (head, _) = load(true, "r0", &chain(2));
    assert_eq!(bump(&head), 3);
    let version = crate::health_of(&head, "relay0").version;
    // `relay1` with no socket: the group's edge to the counter would go.
    let alone = crate::fixtures::component(
        "package test:fixtures; interface r1 { bump: func() -> u32; } world w { export r1; }",
        "w",
        r#"(module (func (export "test:fixtures/r1#bump") (result i32) i32.const 7))"#,
    );
    let shapeless = Plugin::new("relay1", "r1", &[], alone);
    match head.replace_plugin(shapeless) {
        Err(wasm_link::SwapError::Recompose { plugin, group, reason }) => {
            assert_eq!((plugin.as_str(), group.as_str()), ("relay1", "relay0"));
            assert!(reason.contains("sockets"), "{reason}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // Other limits than the group's.
    let mut limited = Plugin::new("counter", "counter", &[], crate::plugins::counter_from(1000));
    limited.limits = wasm_link::Limits { memory: 1 << 24, ..wasm_link::Limits::default() };
    assert!(matches!(head.replace_plugin(limited), Err(wasm_link::SwapError::Recompose { .. })));
    // A broken component: the member's own compile fails first.
    let broken = Plugin::new("counter", "counter", &[], b"\0asm broken".to_vec());
    assert!(matches!(head.replace_plugin(broken), Err(wasm_link::SwapError::Load(_))));
    assert_eq!(bump(&head), 4, "the group kept its state");
    assert_eq!(crate::health_of(&head, "relay0").version, version);
}

#[test]
fn swaps_refuse_to_change_a_frozen_group_s_shape() {
    let (head, _) = load(true, "r0", &chain(2));
    assert!(matches!(head.remove_plugin(&"relay1".to_owned()), Err(wasm_link::SwapError::Frozen { .. })));
    let newcomer = Plugin::new("counter2", "counter", &[], crate::plugins::counter());
    match head.add_plugin(newcomer) {
        Err(wasm_link::SwapError::Frozen { plugin, group }) => {
            assert_eq!((plugin.as_str(), group.as_str()), ("counter2", "relay0"));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(bump(&head), 3, "nothing changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_tree_freezes_the_same() {
    let engine = Engine::default();
    let (interfaces, plugins) = docs_tree();
    let (tree, _) = PluginTree::new("user".to_owned(), interfaces, plugins);
    let linker = Linker::new(&engine);
    let (head, errors) = match tree.load_async_with(&engine, &linker, &LoadOptions::new().freeze(true)).await {
        Ok(loaded) => loaded,
        Err((primary, _)) => panic!("{primary}"),
    };
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(head.freeze_report().groups.len(), 1);
    match head.dispatch_async("test:fixtures/user", "roundtrip", true, &[Val::U32(5)]).await {
        Socket::ExactlyOne(Ok(Val::U32(_))) => {}
        other => panic!("expected a u32, got {other:?}"),
    }
}

#[test]
fn bytes_that_import_more_than_the_checked_component_are_not_composed() {
    // `a` compiles as a plain number provider, but hands over bytes that
    // also import a host interface it was never checked for.
    let sneaky = crate::fixtures::component(
        r"package test:fixtures;
        interface host { callback: func() -> u32; }
        interface number { value: func() -> u32; fail: func() -> u32; signal: func(); }
        world w { import host; export number; }",
        "w",
        r#"(module
            (import "test:fixtures/host" "callback" (func $callback (result i32)))
            (func (export "test:fixtures/number#value") (result i32) (call $callback))
            (func (export "test:fixtures/number#fail") (result i32) unreachable)
            (func (export "test:fixtures/number#signal"))
        )"#,
    );
    let build = move || {
        let (interfaces, mut plugins) = sum_over(&PLAIN)();
        plugins[1].lying_bytes = Some(sneaky.clone());
        (interfaces, plugins)
    };
    let (head, groups) = both_ways("sum", &build, &[("total", vec![])]);
    assert_eq!(groups, 0);
    let reason = &head.freeze_report().dynamic[0].reason;
    assert!(reason.to_string().contains("test:fixtures/host"), "{reason}");
}

/// The demo's report, loaded frozen or not.
fn demo_report(
    freeze: bool,
    cache: &wasm_link::dir::CompileCache,
) -> (String, wasm_link::FreezeReport<String, String>) {
    use wasm_link::dir::{DirOptions, PluginDir};
    let options = DirOptions { cache: Some(cache.clone()) };
    let plugin_dir = PluginDir::open(wasm_link_guests::DEMO_DIR, &options).unwrap();
    let (tree, errors) = plugin_dir.into_tree();
    assert!(errors.is_empty(), "{errors:?}");
    let engine = Engine::default();
    let linker = PluginDir::linker(&engine).unwrap();
    let (head, errors) = tree.load_with(&engine, &linker, &LoadOptions::new().freeze(freeze)).unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    let source = Val::String("# Title\n\nsome   text. more text\n\nA second one.".into());
    match head.dispatch("demo:app/app@0.1.0", "run", true, &[source]) {
        Socket::ExactlyOne(Ok(Val::String(report))) => (report, head.freeze_report().clone()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_demo_reports_the_same_frozen_and_says_why_its_parser_stays_dynamic() {
    // The whole demo, its Python and JavaScript plugins too: compiled once,
    // for both loads.
    let cache_dir = tempfile::tempdir().unwrap();
    // SAFETY: a private directory `tempfile` just created for this test (mode
    // 0700, unguessable name); only this test writes into it.
    #[allow(unsafe_code, reason = "a compile cache in a private test directory")]
    let cache = unsafe { wasm_link::dir::CompileCache::new(cache_dir.path()) };
    let (dynamic, _) = demo_report(false, &cache);
    let (frozen, report) = demo_report(true, &cache);
    assert_eq!(frozen, dynamic);
    // Its one `ExactlyOne` provider serves seven plugins, each heading a
    // group of its own (transforms and analysers are multi-plugin sockets).
    assert!(report.groups.is_empty(), "{report:#?}");
    assert_eq!(report.dynamic.len(), 7, "{report:#?}");
    assert!(report.dynamic.iter().all(|edge| edge.interface == "parser"
        && matches!(&edge.reason, NotFrozen::Shared { provider, others } if provider == "markdown-parser" && others.len() == 6)));
}

#[test]
fn a_plugin_socketing_an_interface_composed_inside_a_group_is_refused() {
    // `counter` is served only inside the group: a newcomer could not reach it.
    let build = || {
        let (mut interfaces, plugins) = chain(2)();
        interfaces.push(bump_interface("extra"));
        (interfaces, plugins)
    };
    let (head, _) = load(true, "r0", &build);
    let newcomer = Plugin::new("extra", "extra", &["counter"], relay("counter", "extra"));
    match head.add_plugin(newcomer) {
        Err(wasm_link::SwapError::Frozen { plugin, group }) => {
            assert_eq!((plugin.as_str(), group.as_str()), ("extra", "relay0"));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// The demo rooted at `transform` with `capitalize` its only transform:
/// `capitalize` and `markdown-parser` freeze (real Rust plugins, with WASI
/// imports merged).
fn transform_rooted_demo() -> tempfile::TempDir {
    let dir = crate::dir::demo_copy();
    std::fs::remove_dir_all(dir.path().join("plugins/trim-whitespace")).unwrap();
    let manifest = dir.path().join("wasm-link.toml");
    let text = std::fs::read_to_string(&manifest).unwrap().replace("root = \"app\"", "root = \"transform\"");
    std::fs::write(&manifest, text).unwrap();
    dir
}

#[test]
fn a_directory_follows_a_frozen_group_member_by_member() {
    use wasm_link::dir::{DirChange, DirOptions, PluginDir};
    let dir = transform_rooted_demo();
    // Only the group: the idle plugins would be added by `sync` (and those
    // that socket the parser, served only inside the group, refused).
    for idle in ["pipeline", "readability", "word-count", "table-formatter"] {
        std::fs::remove_dir_all(dir.path().join("plugins").join(idle)).unwrap();
    }
    let options = DirOptions::default();
    let (tree, _) = PluginDir::open(dir.path(), &options).unwrap().into_tree();
    let engine = Engine::default();
    let linker = PluginDir::linker(&engine).unwrap();
    let (head, errors) = tree.load_with(&engine, &linker, &LoadOptions::new().freeze(true)).unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(head.freeze_report().groups[0].members, ["capitalize", "markdown-parser"]);
    // Nothing changed on disk: nothing to do (each member is compared with
    // its own files, not with the group's version).
    let changes = PluginDir::sync(dir.path(), &options, &head).unwrap();
    assert!(changes.is_empty(), "{changes:?}");
    // A new build of the top member: the group is composed again.
    let plugins = dir.path().join("plugins");
    let trim = std::fs::read(wasm_link_guests::component("trim-whitespace").unwrap()).unwrap();
    std::fs::write(plugins.join("capitalize/capitalize.wasm"), trim).unwrap();
    let changes = PluginDir::sync(dir.path(), &options, &head).unwrap();
    assert!(matches!(&changes[..], [DirChange::Replaced { plugin, .. }] if plugin == "capitalize"), "{changes:?}");
    let health = head.health().into_iter().find(|h| h.plugin == "capitalize").unwrap();
    assert_eq!((health.revision, health.members.len()), (1, 2));
    assert!(PluginDir::sync(dir.path(), &options, &head).unwrap().is_empty());
}

/// A plugin exporting `test:fixtures/{to}#bump` (and importing `{from}`'s
/// when given) with `pages` pages of memory: `bump` is `from.bump() + 1`,
/// or 1.
fn with_memory(from: Option<&str>, to: &str, pages: u32) -> Vec<u8> {
    let (import_wit, import_core, body) = match from {
        Some(from) => (
            format!("interface {from} {{ bump: func() -> u32; }}"),
            format!(r#"(import "test:fixtures/{from}" "bump" (func $bump (result i32)))"#),
            "(i32.add (call $bump) (i32.const 1))".to_owned(),
        ),
        None => (String::new(), String::new(), "(i32.const 1)".to_owned()),
    };
    let world_import = from.map(|from| format!("import {from};")).unwrap_or_default();
    crate::fixtures::component(
        &format!(
            "package test:fixtures; {import_wit} interface {to} {{ bump: func() -> u32; }} world w {{ {world_import} export {to}; }}"
        ),
        "w",
        &format!(
            r#"(module {import_core} (memory {pages}) (func (export "test:fixtures/{to}#bump") (result i32) {body}))"#
        ),
    )
}

#[test]
fn a_group_whose_composite_does_not_compile_loads_as_its_plugins() {
    // An engine whose components may have one memory each: each plugin fits
    // alone, the two composed do not (wasmtime refuses the composite when
    // compiling it).
    let mut pool = wasmtime::PoolingAllocationConfig::default();
    pool.max_memories_per_component(1).total_memories(8).total_component_instances(8).total_core_instances(32);
    let mut config = wasmtime::Config::new();
    config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
    let engine = Engine::new(&config).unwrap();
    let load = |freeze: bool| {
        let plugins = vec![
            Plugin::new("top", "r0", &["r1"], with_memory(Some("r1"), "r0", 1)),
            Plugin::new("bottom", "r1", &[], with_memory(None, "r1", 1)),
        ];
        let (tree, _) = PluginTree::new("r0".to_owned(), vec![bump_interface("r0"), bump_interface("r1")], plugins);
        match tree.load_with(&engine, &Linker::new(&engine), &LoadOptions::new().freeze(freeze)) {
            Ok(loaded) => loaded,
            Err((primary, others)) => panic!("{primary}: {others:#?}"),
        }
    };
    let (dynamic, _) = load(false);
    let (frozen, errors) = load(true);
    assert!(errors.is_empty(), "{errors:#?}");
    let report = frozen.freeze_report();
    assert!(report.groups.is_empty(), "the group did not compile, so it is not reported frozen: {report:#?}");
    assert_eq!(report.dynamic.len(), 1, "{report:#?}");
    assert!(
        matches!(&report.dynamic[0].reason, NotFrozen::Compose { group, reason } if group == "top" && reason.contains("memories")),
        "{report:#?}"
    );
    assert_eq!(frozen.health().len(), 2, "each in its own store");
    assert_eq!(frozen.loaded_plugin_ids(), ["bottom", "top"]);
    for head in [&dynamic, &frozen] {
        match head.dispatch("test:fixtures/r0", "bump", true, &[]) {
            Socket::ExactlyOne(Ok(Val::U32(2))) => {}
            other => panic!("expected 2, got {other:?}"),
        }
    }
}

#[test]
fn bytes_that_import_what_only_another_member_may_are_not_composed() {
    // `top` imports the host's `callback`; `counter`'s component does not,
    // but the bytes it hands over do.
    let host_wit = "interface host { callback: func() -> u32; }";
    let top = crate::fixtures::component(
        &format!(
            "package test:fixtures; {host_wit} interface counter {{ bump: func() -> u32; }} \
             interface r0 {{ bump: func() -> u32; }} world w {{ import host; import counter; export r0; }}"
        ),
        "w",
        r#"(module
            (import "test:fixtures/host" "callback" (func $callback (result i32)))
            (import "test:fixtures/counter" "bump" (func $bump (result i32)))
            (func (export "test:fixtures/r0#bump") (result i32) (i32.add (call $callback) (call $bump))))"#,
    );
    let sneaky = crate::fixtures::component(
        &format!("package test:fixtures; {host_wit} world w {{ import host; export counter; }} {}", {
            "interface counter { get: func() -> u32; add: func(a: u32, b: u32) -> u32; bump: func() -> u32; \
             boom: func() -> u32; nothing: func(); }"
        }),
        "w",
        r#"(module
            (import "test:fixtures/host" "callback" (func $callback (result i32)))
            (func (export "test:fixtures/counter#get") (result i32) (call $callback))
            (func (export "test:fixtures/counter#add") (param i32 i32) (result i32) (local.get 0))
            (func (export "test:fixtures/counter#bump") (result i32) (call $callback))
            (func (export "test:fixtures/counter#boom") (result i32) unreachable)
            (func (export "test:fixtures/counter#nothing")))"#,
    );
    let engine = Engine::default();
    let mut linker = Linker::new(&engine);
    linker.instance("test:fixtures/host").unwrap().func_wrap("callback", |_, (): ()| Ok((100u32,))).unwrap();
    let load = |freeze: bool| {
        let mut counter = Plugin::new("counter", "counter", &[], crate::plugins::counter());
        counter.lying_bytes = Some(sneaky.clone());
        let plugins = vec![Plugin::new("top", "r0", &["counter"], top.clone()), counter];
        let interfaces =
            vec![bump_interface("r0"), crate::plugins::counter_interface(InterfaceCardinality::ExactlyOne)];
        let (tree, _) = PluginTree::new("r0".to_owned(), interfaces, plugins);
        tree.load_with(&engine, &linker, &LoadOptions::new().freeze(freeze)).unwrap().0
    };
    let (dynamic, frozen) = (load(false), load(true));
    assert!(frozen.freeze_report().groups.is_empty());
    let reason = frozen.freeze_report().dynamic[0].reason.to_string();
    assert!(reason.contains("test:fixtures/host"), "{reason}");
    for head in [&dynamic, &frozen] {
        match head.dispatch("test:fixtures/r0", "bump", true, &[]) {
            Socket::ExactlyOne(Ok(Val::U32(101))) => {}
            other => panic!("expected 100 + 1, got {other:?}"),
        }
    }
}

/// Loads `plugins` over `interfaces` frozen on `engine`, asserting one group.
fn frozen_on(engine: &Engine, root: &str, interfaces: Vec<Interface>, plugins: Vec<Plugin>) -> Head {
    let (tree, _) = PluginTree::new(root.to_owned(), interfaces, plugins);
    let (head, errors) = tree.load_with(engine, &Linker::new(engine), &LoadOptions::new().freeze(true)).unwrap();
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(head.freeze_report().groups.len(), 1, "{:#?}", head.freeze_report());
    head
}

#[test]
fn hostile_members_fail_inside_their_group_and_the_host_survives() {
    use wasm_link::DispatchError;
    let engine = wasm_link::default_engine().unwrap();
    let docs = || {
        Interface::new(
            "docs",
            InterfaceCardinality::ExactlyOne,
            "test:fixtures/docs",
            vec![crate::fixtures::with_resources("make"), crate::fixtures::func("live")],
        )
        .with_resources(&["doc"])
    };
    let user = || {
        Interface::new(
            "user",
            InterfaceCardinality::ExactlyOne,
            "test:fixtures/user",
            vec![crate::fixtures::func("roundtrip"), crate::fixtures::func("provider-live")],
        )
    };
    // A consumer that drops its handle twice, over a provider that forges
    // handles: each trap is the group's, and the group serves again.
    let head = frozen_on(
        &engine,
        "user",
        vec![user(), docs()],
        vec![
            Plugin::new("dropper", "user", &["docs"], crate::plugins::double_dropper()),
            Plugin::new("forger", "docs", &[], crate::plugins::handle_forger()),
        ],
    );
    for _ in 0..3 {
        match head.dispatch("test:fixtures/user", "roundtrip", true, &[Val::U32(1)]) {
            Socket::ExactlyOne(Err(DispatchError::Trap { plugin, .. })) => assert_eq!(plugin, "dropper"),
            other => panic!("expected the group's trap, got {other:?}"),
        }
        match head.dispatch("test:fixtures/user", "provider-live", true, &[]) {
            Socket::ExactlyOne(Ok(Val::U32(0))) => {}
            other => panic!("expected the group to serve again, got {other:?}"),
        }
    }
    assert_eq!(crate::health_of(&head, "dropper").failures, 3);
    // A member that spins: the group's deadline cuts the whole call off.
    let limits = wasm_link::Limits { deadline: std::time::Duration::from_millis(50), ..wasm_link::Limits::default() };
    let spinner = crate::fixtures::component(
        "package test:fixtures; interface r1 { bump: func() -> u32; } world w { export r1; }",
        "w",
        r#"(module (func (export "test:fixtures/r1#bump") (result i32) (loop $l (br $l)) (i32.const 0)))"#,
    );
    let mut plugins =
        vec![Plugin::new("top", "r0", &["r1"], relay("r1", "r0")), Plugin::new("spinner", "r1", &[], spinner)];
    for plugin in &mut plugins {
        plugin.limits = limits.clone();
    }
    let head = frozen_on(&engine, "r0", vec![bump_interface("r0"), bump_interface("r1")], plugins);
    let started = std::time::Instant::now();
    match head.dispatch("test:fixtures/r0", "bump", true, &[]) {
        Socket::ExactlyOne(Err(DispatchError::BudgetExceeded { plugin, .. })) => assert_eq!(plugin, "top"),
        other => panic!("expected the group's deadline, got {other:?}"),
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "cut off near its 50 ms deadline");
}

#[test]
fn a_group_whose_top_member_has_no_replica_recomposes_only_for_the_top() {
    let build = || {
        let (interfaces, mut plugins) = chain(2)();
        for plugin in &mut plugins {
            plugin.no_replica = plugin.id == "relay0";
        }
        (interfaces, plugins)
    };
    let (head, _) = load(true, "r0", &build);
    assert_eq!(bump(&head), 3);
    // The composite's store holds the top member's value: another member's
    // new version needs a fresh one.
    match head.replace_plugin(Plugin::new("counter", "counter", &[], crate::plugins::counter_from(1000))) {
        Err(wasm_link::SwapError::Recompose { reason, .. }) => assert!(reason.contains("replica"), "{reason}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(bump(&head), 4, "nothing changed");
    // The top member's own new version brings its value.
    let mut top = Plugin::new("relay0", "r0", &["r1"], relay("r1", "r0"));
    top.no_replica = true;
    head.replace_plugin(top).unwrap();
    assert_eq!(bump(&head), 3, "a fresh group");
}
