//! Interfaces that evolve: plugins built against different releases of one
//! interface are linked by semver (a newer release on a track serves the
//! older ones), releases on different tracks stand side by side as two
//! interfaces, and versions that do not fit are load errors naming both.

use wasm_link::{DispatchError, InterfaceCardinality, LoadError, Socket, SwapError, Val};

use crate::fixtures::{Interface, Plugin, component, func};
use crate::{Head, Load, load, load_clean};

/// `number`, as WIT at `version`.
fn number_wit(version: &str) -> String {
    format!("package test:versions@{version};\ninterface number {{ value: func() -> u32; }}")
}

/// A plugin exporting `test:versions/number@{version}` whose `value` is `value`.
fn provider(version: &str, value: u32) -> Vec<u8> {
    component(
        &format!("{}\nworld provider {{ export number; }}", number_wit(version)),
        "provider",
        &format!(r#"(module (func (export "test:versions/number@{version}#value") (result i32) i32.const {value}))"#),
    )
}

/// A plugin importing `test:versions/number@{version}` (as a plain `u32`)
/// and exporting `test:versions/app#total`, which returns it.
fn consumer(version: &str) -> Vec<u8> {
    component(
        &format!(
            "package test:app;\n\
             interface app {{ total: func() -> u32; }}\n\
             world consumer {{ import test:versions/number@{version}; export app; }}\n\
             package test:versions@{version} {{ interface number {{ value: func() -> u32; }} }}"
        ),
        "consumer",
        &format!(
            r#"(module
                (import "test:versions/number@{version}" "value" (func $value (result i32)))
                (func (export "test:app/app#total") (result i32) (call $value)))"#
        ),
    )
}

fn number_interface(version: &str) -> Interface {
    Interface::new(
        "number",
        InterfaceCardinality::ExactlyOne,
        &format!("test:versions/number@{version}"),
        vec![func("value")],
    )
}

fn app_interface() -> Interface {
    Interface::new("app", InterfaceCardinality::ExactlyOne, "test:app/app", vec![func("total")])
}

/// An `app` consumer importing `number@imports`, over one provider
/// exporting `number@exports`, with the interface declared at `declared`.
fn chain(declared: &str, imports: &str, exports: &str) -> (Head, Vec<Load>) {
    load(
        "app",
        vec![app_interface(), number_interface(declared)],
        vec![
            Plugin::new("app", "app", &["number"], consumer(imports)),
            Plugin::new("provider", "number", &[], provider(exports, 7)),
        ],
    )
}

fn total(head: &Head) -> Result<Val, DispatchError<String>> {
    match head.dispatch("test:app/app", "total", true, &[]) {
        Socket::ExactlyOne(result) => result,
        other => panic!("expected ExactlyOne, got {other:?}"),
    }
}

#[test]
fn a_provider_at_a_newer_patch_serves_a_consumer_built_against_the_older_one() {
    for declared in ["0.1.0", "0.1.1"] {
        let (head, errors) = chain(declared, "0.1.0", "0.1.1");
        assert!(errors.is_empty(), "interface at {declared}: {errors:#?}");
        assert_eq!(total(&head).unwrap(), Val::U32(7));
        let provider = head.health().into_iter().find(|h| h.plugin == "provider").unwrap();
        assert_eq!(provider.plug, "test:versions/number@0.1.1");
    }
}

#[test]
fn a_provider_at_a_newer_minor_serves_consumers_of_every_older_release_on_its_track() {
    for imports in ["1.0.0", "1.2.0", "1.4.0", "1.4.2"] {
        let (head, errors) = chain("1.2.0", imports, "1.4.2");
        assert!(errors.is_empty(), "consumer of {imports}: {errors:#?}");
        assert_eq!(total(&head).unwrap(), Val::U32(7));
    }
}

#[test]
fn a_provider_older_than_what_its_consumer_imports_is_a_load_error_naming_both_versions() {
    let errors = load_errors(
        "app",
        vec![app_interface(), number_interface("1.2.0")],
        vec![
            Plugin::new("app", "app", &["number"], consumer("1.5.0")),
            Plugin::new("provider", "number", &[], provider("1.4.2", 7)),
        ],
    );
    let error = errors
        .iter()
        .find(|e| matches!(e, LoadError::SocketVersion { .. }))
        .unwrap_or_else(|| panic!("no version error: {errors:#?}"));
    let LoadError::SocketVersion { plugin, imported, provider, exported, .. } = error else { unreachable!() };
    assert_eq!((plugin.as_str(), provider.as_str()), ("app", "provider"));
    assert_eq!(imported, "test:versions/number@1.5.0");
    assert_eq!(exported, "test:versions/number@1.4.2");
    let text = error.to_string();
    assert!(text.contains("@1.5.0") && text.contains("@1.4.2"), "{text}");
}

/// Loads `provider` (exporting `exports`) behind the root `number@declared`.
fn root_provider(declared: &str, exports: &str) -> Result<(Head, Vec<Load>), Load> {
    let (tree, build_errors) = wasm_link::PluginTree::new(
        "number".to_owned(),
        vec![number_interface(declared)],
        vec![Plugin::new("provider", "number", &[], provider(exports, 7))],
    );
    assert!(build_errors.is_empty(), "{build_errors:#?}");
    let engine = wasm_link::Engine::default();
    tree.load(&engine, &wasm_link::Linker::new(&engine)).map_err(|(primary, _)| primary)
}

/// Every load error of a tree, whether its root could be served or not.
fn load_errors(root: &str, interfaces: Vec<Interface>, plugins: Vec<Plugin>) -> Vec<Load> {
    let (tree, build_errors) = wasm_link::PluginTree::new(root.to_owned(), interfaces, plugins);
    assert!(build_errors.is_empty(), "{build_errors:#?}");
    let engine = wasm_link::Engine::default();
    match tree.load(&engine, &wasm_link::Linker::new(&engine)) {
        Ok((_, errors)) => errors,
        Err((primary, mut others)) => {
            others.push(primary);
            others
        }
    }
}

/// The error that kept a provider exporting `exports` from serving the
/// root `number@declared`.
fn plug_error(declared: &str, exports: &str) -> Load {
    let errors = load_errors(
        "number",
        vec![number_interface(declared)],
        vec![Plugin::new("provider", "number", &[], provider(exports, 7))],
    );
    assert!(
        matches!(errors.last(), Some(LoadError::CardinalityNotMet { .. })),
        "{exports} for an interface at {declared}: {errors:#?}"
    );
    errors.into_iter().next().expect("the provider's own error")
}

#[test]
fn a_plugin_exporting_another_track_or_an_older_release_does_not_serve_the_interface() {
    for (declared, exports) in [("1.0.0", "2.0.0"), ("0.1.0", "0.2.0"), ("0.0.1", "0.0.2"), ("1.4.0", "1.3.9")] {
        match plug_error(declared, exports) {
            LoadError::PlugVersion { plugin, declared: d, exported, .. } => {
                assert_eq!(plugin, "provider");
                assert_eq!(d, format!("test:versions/number@{declared}"));
                assert_eq!(exported, format!("test:versions/number@{exports}"));
            }
            other => panic!("{declared} vs {exports}: expected a version error, got {other}"),
        }
    }
}

#[test]
fn pre_releases_are_matched_only_exactly() {
    assert!(matches!(plug_error("1.0.0-rc.1", "1.0.0-rc.2"), LoadError::PlugVersion { .. }));
    assert!(matches!(plug_error("1.0.0-rc.1", "1.0.0"), LoadError::PlugVersion { .. }));
    let (head, errors) = root_provider("1.0.0-rc.1", "1.0.0-rc.1").unwrap();
    assert!(errors.is_empty());
    assert!(matches!(head.dispatch("test:versions/number@1.0.0-rc.1", "value", true, &[]), Socket::ExactlyOne(Ok(_))));
}

#[test]
fn a_consumer_importing_another_track_than_its_socket_is_told_which_releases_met() {
    let errors = load_errors(
        "app",
        vec![app_interface(), number_interface("1.0.0")],
        vec![
            Plugin::new("app", "app", &["number"], consumer("2.0.0")),
            Plugin::new("provider", "number", &[], provider("1.0.0", 7)),
        ],
    );
    let error = errors.iter().find(|e| matches!(e, LoadError::SocketImport { .. }));
    let text = error.unwrap_or_else(|| panic!("{errors:#?}")).to_string();
    assert!(text.contains("test:versions/number@2.0.0") && text.contains("test:versions/number@1.0.0"), "{text}");
}

#[test]
fn the_root_answers_to_its_version_and_older_ones_on_its_track() {
    let (head, _) = root_provider("1.2.0", "1.4.2").unwrap();
    for path in ["test:versions/number@1.2.0", "test:versions/number@1.0.0", "test:versions/number@1.1.7"] {
        assert!(matches!(head.dispatch(path, "value", true, &[]), Socket::ExactlyOne(Ok(Val::U32(7)))), "{path}");
    }
    for path in ["test:versions/number@1.3.0", "test:versions/number@2.0.0", "test:versions/number"] {
        match head.dispatch(path, "value", true, &[]) {
            Socket::ExactlyOne(Err(DispatchError::InvalidInterface { .. })) => {}
            other => panic!("{path}: {other:?}"),
        }
    }
}

#[test]
fn a_replacement_older_than_what_a_consumer_imports_is_refused_and_the_running_one_serves_on() {
    let (head, errors) = chain("0.1.0", "0.1.1", "0.1.2");
    assert!(errors.is_empty(), "{errors:#?}");
    match head.replace_plugin(Plugin::new("provider", "number", &[], provider("0.1.0", 9))) {
        Err(SwapError::Load(LoadError::SocketVersion { imported, exported, .. })) => {
            assert_eq!(
                (imported.as_str(), exported.as_str()),
                ("test:versions/number@0.1.1", "test:versions/number@0.1.0")
            );
        }
        other => panic!("expected a version refusal, got {other:?}"),
    }
    assert_eq!(total(&head).unwrap(), Val::U32(7));
    head.replace_plugin(Plugin::new("provider", "number", &[], provider("0.1.5", 9))).unwrap();
    assert_eq!(total(&head).unwrap(), Val::U32(9));
}

/// `boxes` at `version`: a resource `item` and a constructor-like `make`.
fn boxes_wit(version: &str) -> String {
    format!(
        "package test:boxes@{version} {{ interface boxes {{ resource item {{ get: func() -> u32; }} make: func(v: u32) -> item; }} }}"
    )
}

/// A `boxes@{version}` provider whose items hold `v * factor`.
fn boxes(version: &str, factor: u32) -> Vec<u8> {
    let wit = boxes_wit(version).replacen(
        &format!("package test:boxes@{version} {{"),
        &format!("package test:boxes@{version};"),
        1,
    );
    let wit = format!("{}\nworld provider {{ export boxes; }}", &wit[..wit.len() - 1]);
    let prefix = format!("test:boxes/boxes@{version}");
    component(
        &wit,
        "provider",
        &format!(
            r#"(module
                (import "[export]{prefix}" "[resource-new]item" (func $new (param i32) (result i32)))
                (memory 1)
                (global $next (mut i32) (i32.const 0))
                (func (export "{prefix}#make") (param i32) (result i32)
                    (global.set $next (i32.add (global.get $next) (i32.const 4)))
                    (i32.store (global.get $next) (i32.mul (local.get 0) (i32.const {factor})))
                    (call $new (global.get $next)))
                (func (export "{prefix}#[method]item.get") (param i32) (result i32) (i32.load (local.get 0)))
                (func (export "{prefix}#[dtor]item") (param i32)))"#
        ),
    )
}

fn boxes_interface(id: &str, version: &str) -> Interface {
    use wasm_link::ReturnKind;
    Interface::new(
        id,
        InterfaceCardinality::ExactlyOne,
        &format!("test:boxes/boxes@{version}"),
        vec![
            crate::fixtures::method("[method]item.get", ReturnKind::AssumeNoResources),
            crate::fixtures::with_resources("make"),
        ],
    )
    .with_resources(&["item"])
}

/// A consumer of `boxes@1.0.0` and `boxes@2.0.0` at once: `total` makes an
/// item of each from 3 and returns `v1 * 1000 + v2`.
fn both_boxes() -> Vec<u8> {
    let core = r#"(module
        (import "test:boxes/boxes@1.0.0" "make" (func $make1 (param i32) (result i32)))
        (import "test:boxes/boxes@1.0.0" "[method]item.get" (func $get1 (param i32) (result i32)))
        (import "test:boxes/boxes@1.0.0" "[resource-drop]item" (func $drop1 (param i32)))
        (import "test:boxes/boxes@2.0.0" "make" (func $make2 (param i32) (result i32)))
        (import "test:boxes/boxes@2.0.0" "[method]item.get" (func $get2 (param i32) (result i32)))
        (import "test:boxes/boxes@2.0.0" "[resource-drop]item" (func $drop2 (param i32)))
        (func (export "test:app/app#total") (result i32)
            (local $a i32) (local $b i32) (local $r i32)
            (local.set $a (call $make1 (i32.const 3)))
            (local.set $b (call $make2 (i32.const 3)))
            (local.set $r (i32.add (i32.mul (call $get1 (local.get $a)) (i32.const 1000)) (call $get2 (local.get $b))))
            (call $drop1 (local.get $a))
            (call $drop2 (local.get $b))
            (local.get $r)))"#;
    component(
        &format!(
            "package test:app;\n\
             interface app {{ total: func() -> u32; }}\n\
             world consumer {{ import test:boxes/boxes@1.0.0; import test:boxes/boxes@2.0.0; export app; }}\n\
             {}\n{}",
            boxes_wit("1.0.0"),
            boxes_wit("2.0.0")
        ),
        "consumer",
        core,
    )
}

#[test]
fn two_major_versions_with_a_resource_each_run_side_by_side_in_one_tree() {
    let head = load_clean(
        "app",
        vec![app_interface(), boxes_interface("boxes-v1", "1.0.0"), boxes_interface("boxes-v2", "2.0.0")],
        vec![
            Plugin::new("app", "app", &["boxes-v1", "boxes-v2"], both_boxes()),
            // A patch release serves the consumer's 1.0.0, the 2.x plugin its 2.0.0.
            Plugin::new("old", "boxes-v1", &[], boxes("1.0.3", 1)),
            Plugin::new("new", "boxes-v2", &[], boxes("2.1.0", 2)),
        ],
    );
    assert_eq!(total(&head).unwrap(), Val::U32(3_006));
    let plug = |id: &str| head.health().into_iter().find(|h| h.plugin == id).unwrap().plug;
    assert_eq!(plug("old"), "test:boxes/boxes@1.0.3");
    assert_eq!(plug("new"), "test:boxes/boxes@2.1.0");
}

#[test]
fn plugins_of_two_majors_are_not_taken_for_each_other() {
    // The 2.x plugin behind the 1.0 socket and the reverse: neither serves.
    let errors = load_errors(
        "app",
        vec![app_interface(), boxes_interface("boxes-v1", "1.0.0"), boxes_interface("boxes-v2", "2.0.0")],
        vec![
            Plugin::new("app", "app", &["boxes-v1", "boxes-v2"], both_boxes()),
            Plugin::new("old", "boxes-v2", &[], boxes("1.0.3", 1)),
            Plugin::new("new", "boxes-v1", &[], boxes("2.1.0", 2)),
        ],
    );
    for plugin in ["old", "new"] {
        assert!(
            errors.iter().any(|e| matches!(e, LoadError::PlugVersion { plugin: p, .. } if p == plugin)),
            "{plugin}: {errors:#?}"
        );
    }
}

/// `component` with its export `from` re-exported as `to` and nothing else
/// changed: the same compiled code, presented as another release.
fn reexported(component: &[u8], from: &str, to: &str) -> Vec<u8> {
    use wac_graph::types::Package;
    use wac_graph::{CompositionGraph, EncodeOptions};
    let mut graph = CompositionGraph::new();
    let package = Package::from_bytes("test:reexported", None, component, graph.types_mut()).unwrap();
    let package = graph.register_package(package).unwrap();
    let instance = graph.instantiate(package);
    let export = graph.alias_instance_export(instance, from).unwrap();
    graph.export(export, to).unwrap();
    graph.encode(EncodeOptions::default()).unwrap()
}

/// The demo's `app` run over `dir` on a sample, with the plug each plugin
/// exports.
fn render(dir: &std::path::Path, options: &wasm_link::dir::DirOptions) -> (String, Vec<(String, String)>) {
    use wasm_link::dir::PluginDir;
    let plugin_dir = PluginDir::open(dir, options).unwrap();
    assert!(plugin_dir.errors.is_empty(), "{:?}", plugin_dir.errors);
    let (tree, errors) = plugin_dir.into_tree();
    assert!(errors.is_empty(), "{errors:?}");
    let engine = wasm_link::Engine::default();
    let (head, errors) = tree.load(&engine, &PluginDir::linker(&engine).unwrap()).unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    let sample = Val::String("# Title\n\nsome   text with `code` here.\n\nA second one.".into());
    let report = match head.dispatch("demo:app/app@0.1.0", "run", true, &[sample]) {
        Socket::ExactlyOne(Ok(Val::String(report))) => report,
        other => panic!("{other:?}"),
    };
    (report, head.health().into_iter().map(|h| (h.plugin, h.plug)).collect())
}

#[test]
fn the_demo_pipeline_built_for_parser_0_1_0_renders_the_same_through_a_parser_exporting_0_1_1() {
    // Every plugin, Python and JavaScript too, compiled once: the second
    // render takes what did not change from the cache.
    let cache_dir = tempfile::tempdir().unwrap();
    // SAFETY: a private directory `tempfile` just created for this test (mode
    // 0700, unguessable name); only this test writes into it.
    #[allow(unsafe_code, reason = "a compile cache in a private test directory")]
    let cache = unsafe { wasm_link::dir::CompileCache::new(cache_dir.path()) };
    let options = wasm_link::dir::DirOptions { cache: Some(cache) };
    let dir = tempfile::tempdir().unwrap();
    wasm_link_guests::copy_demo_all(dir.path());
    let (before, _) = render(dir.path(), &options);
    // The directory's contracts move to parser 0.1.1 (the interface, and
    // the interfaces whose WIT uses its `document`); so does its one plugin.
    // Every consumer (the pipeline, the transforms, the analysers) is still
    // the binary built against 0.1.0, and imports 0.1.0.
    let interfaces = dir.path().join("interfaces");
    for (file, from, to) in [
        ("parser/interface.toml", "demo:parser/parser@0.1.0", "demo:parser/parser@0.1.1"),
        ("parser/parser.wit", "package demo:parser@0.1.0;", "package demo:parser@0.1.1;"),
        ("analyser/analyser.wit", "demo:parser/parser@0.1.0.", "demo:parser/parser@0.1.1."),
        ("transform/transform.wit", "demo:parser/parser@0.1.0.", "demo:parser/parser@0.1.1."),
    ] {
        let text = std::fs::read_to_string(interfaces.join(file)).unwrap();
        assert!(text.contains(from), "{file}");
        std::fs::write(interfaces.join(file), text.replace(from, to)).unwrap();
    }
    let parser = dir.path().join("plugins/markdown-parser/markdown-parser.wasm");
    let bytes = std::fs::read(&parser).unwrap();
    std::fs::write(&parser, reexported(&bytes, "demo:parser/parser@0.1.0", "demo:parser/parser@0.1.1")).unwrap();
    let (after, plugs) = render(dir.path(), &options);
    assert_eq!(after, before);
    assert!(after.contains("vocabulary: distinct words") && after.contains("program name(s) as code"), "{after}");
    let plug = |id: &str| plugs.iter().find(|(p, _)| p == id).map(|(_, plug)| plug.as_str());
    assert_eq!(plug("markdown-parser"), Some("demo:parser/parser@0.1.1"));
    assert_eq!(plug("pipeline"), Some("demo:app/app@0.1.0"));
}

#[test]
fn freezing_a_consumer_and_a_provider_of_different_releases_leaves_the_edge_dynamic_and_serves() {
    let (tree, build_errors) = wasm_link::PluginTree::new(
        "app".to_owned(),
        vec![app_interface(), number_interface("0.1.0")],
        vec![
            Plugin::new("app", "app", &["number"], consumer("0.1.0")),
            Plugin::new("provider", "number", &[], provider("0.1.1", 7)),
        ],
    );
    assert!(build_errors.is_empty());
    let engine = wasm_link::Engine::default();
    let options = wasm_link::LoadOptions::new().freeze(true);
    let (head, errors) = tree.load_with(&engine, &wasm_link::Linker::new(&engine), &options).unwrap();
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(total(&head).unwrap(), Val::U32(7));
    // wac-graph composes by name, and the two names differ: the group is
    // not composed (freezing is never fatal) and says why.
    let report = head.freeze_report();
    assert!(report.groups.is_empty(), "{report:#?}");
    let [edge] = report.dynamic.as_slice() else { panic!("{report:#?}") };
    assert_eq!((edge.consumer.as_str(), edge.interface.as_str()), ("app", "number"));
    assert!(edge.reason.to_string().contains("test:versions/number@0.1.0"), "{}", edge.reason);
}

#[test]
fn a_directory_holds_two_releases_of_an_interface_side_by_side_each_with_its_plugin() {
    use wasm_link::dir::{DirOptions, PluginDir};
    let dir = crate::dir::demo_copy();
    // `parser-v2`: the parser interface at 0.2.0 (another track than the
    // demo's 0.1.0), served by the demo's parser re-exported as 0.2.0.
    let (interfaces, plugins) = (dir.path().join("interfaces"), dir.path().join("plugins"));
    std::fs::create_dir_all(interfaces.join("parser-v2")).unwrap();
    let wit = std::fs::read_to_string(interfaces.join("parser/parser.wit")).unwrap();
    std::fs::write(
        interfaces.join("parser-v2/parser.wit"),
        wit.replace("package demo:parser@0.1.0;", "package demo:parser@0.2.0;"),
    )
    .unwrap();
    std::fs::write(
        interfaces.join("parser-v2/interface.toml"),
        "cardinality = \"exactly-one\"\ninterface = \"demo:parser/parser@0.2.0\"\n",
    )
    .unwrap();
    std::fs::create_dir_all(plugins.join("parser-v2")).unwrap();
    let bytes = std::fs::read(plugins.join("markdown-parser/markdown-parser.wasm")).unwrap();
    std::fs::write(
        plugins.join("parser-v2/parser-v2.wasm"),
        reexported(&bytes, "demo:parser/parser@0.1.0", "demo:parser/parser@0.2.0"),
    )
    .unwrap();
    std::fs::write(
        plugins.join("parser-v2/plugin.toml"),
        "id = \"parser-v2\"\nplug = \"parser-v2\"\nsockets = []\ncomponent = \"parser-v2.wasm\"\n",
    )
    .unwrap();
    let engine = wasm_link::Engine::default();
    let linker = PluginDir::linker(&engine).unwrap();
    // Each release's root is served by its own plugin, from one directory.
    for (root, path, plugin) in [
        ("parser", "demo:parser/parser@0.1.0", "markdown-parser"),
        ("parser-v2", "demo:parser/parser@0.2.0", "parser-v2"),
    ] {
        let mut plugin_dir = PluginDir::open(dir.path(), &DirOptions::default()).unwrap();
        assert!(plugin_dir.errors.is_empty(), "{:?}", plugin_dir.errors);
        root.clone_into(&mut plugin_dir.root);
        let (tree, errors) = plugin_dir.into_tree();
        assert!(errors.is_empty(), "{errors:?}");
        let (head, errors) = tree.load(&engine, &linker).unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(head.loaded_plugin_ids(), [plugin]);
        let parsed = head.dispatch(path, "parse", true, &[Val::String("# Title\n\ntext".into())]);
        assert!(matches!(parsed, Socket::ExactlyOne(Ok(Val::Resource(_)))), "{root}: {parsed:?}");
    }
    // The demo's app still renders, with the 0.2 interface and plugin beside it.
    let (report, _) = render(dir.path(), &wasm_link::dir::DirOptions::default());
    assert!(report.contains("word-count: words"), "{report}");
}
