//! Plugins in Python and JavaScript beside Rust, and plugins given capabilities beside plugins given none.

#[allow(clippy::wildcard_imports, reason = "the bench's shared helpers and fixtures")]
use super::*;

/// Plugins in Rust, Python and JavaScript (`tests/polyglot/`'s `rs-probe`,
/// `py-probe`, `js-probe`) on the same trivial function, `probe.add(2, 3)`:
/// compile time, instantiation (raw wasmtime, and wasm-link loading a tree
/// of the probe and its parser from a warm compile cache), linear memory
/// and host heap of an idle instance, and calls (each language beside
/// Rust, and wasm-link beside a raw `TypedFunc` of the same component).
#[allow(
    clippy::too_many_lines,
    clippy::cast_precision_loss,
    reason = "one measurement per figure, in order; sizes far below 2^52"
)]
pub(super) fn languages(engine: &Engine, ratios: &mut Ratios) -> Vec<(String, f64)> {
    const PROBE: &str = "test:probe/probe@0.1.0";
    const PROBES: [(&str, &str); 3] = [("rust", "rs-probe"), ("python", "py-probe"), ("javascript", "js-probe")];
    let mut figures = Vec::new();
    let cache_dir = tempfile::tempdir().expect("a temporary directory");
    // SAFETY: a private directory `tempfile` just created (mode 0700,
    // unguessable name); only this benchmark writes into it.
    #[allow(unsafe_code, reason = "a compile cache in a private temporary directory")]
    let cache = unsafe { wasm_link::dir::CompileCache::new(cache_dir.path()) };
    let mut heads = Vec::new();
    for (language, probe) in PROBES {
        let source = std::path::Path::new(wasm_link_guests::POLYGLOT_DIR);
        let bytes = std::fs::read(source.join("plugins").join(probe).join(format!("{probe}.wasm"))).expect("built");
        let started = std::time::Instant::now();
        let component = Component::new(engine, &bytes).expect("compiles");
        figures.push((format!("languages/{language}/compile-ms"), started.elapsed().as_secs_f64() * 1e3));
        figures.push((format!("languages/{language}/component-kib"), bytes.len() as f64 / 1024.0));

        let mut linker = wasmtime::component::Linker::<Raw>::new(engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).expect("WASI links");
        // The parser socket, as traps (`add` never calls it). Not
        // `define_unknown_imports_as_traps`: it would shadow the WASI the
        // runtime imports at another 0.2 version than wasmtime-wasi's.
        let mut parser = linker.instance("demo:parser/parser@0.1.0").expect("a fresh instance name");
        parser
            .resource("document", wasmtime::component::ResourceType::host::<()>(), |_, _| Ok(()))
            .expect("a resource type");
        for function in
            ["parse", "[method]document.title", "[method]document.paragraphs", "[method]document.set-paragraphs"]
        {
            parser
                .func_new(function, |_, _, _, _| Err(wasmtime::Error::msg("no parser in this benchmark")))
                .expect("a function");
        }
        let rounds = if language == "rust" { 50 } else { 10 };
        let instantiate = || {
            let mut store = Store::new(engine, Raw::new());
            store.limiter(|raw| raw);
            store.set_epoch_deadline(1 << 40);
            let instance = linker.instantiate(&mut store, &component).expect("instantiates");
            (store, instance)
        };
        let instantiate_s = median_seconds(rounds, || drop(black_box(instantiate())));
        figures.push((format!("languages/{language}/raw-instantiate-ms"), instantiate_s * 1e3));
        let ((mut store, instance), heap_used) = heap_bytes(instantiate);
        figures
            .push((format!("languages/{language}/idle-linear-memory-kib"), store.data().linear_memory as f64 / 1024.0));
        figures.push((format!("languages/{language}/idle-host-heap-kib"), heap_used as f64 / 1024.0));
        let interface = instance.get_export_index(&mut store, None, PROBE).expect("the probe");
        let add = instance.get_export_index(&mut store, Some(&interface), "add").expect("add");
        let add: wasmtime::component::TypedFunc<(u32, u32), (u32,)> =
            instance.get_typed_func(&mut store, add).expect("typed");
        // What calls add to the idle figure: 10 000 of them.
        let idle = store.data().linear_memory;
        for _ in 0..10_000 {
            black_box(add.call(&mut store, (2, 3)).expect("call"));
        }
        let grown = store.data().linear_memory - idle;
        figures.push((format!("languages/{language}/linear-memory-growth-kib-per-10k-calls"), grown as f64 / 1024.0));

        let dir = tempfile::tempdir().expect("a temporary directory");
        wasm_link_guests::copy_dir(source, dir.path());
        for (_, other) in PROBES.iter().filter(|(_, p)| *p != probe) {
            std::fs::remove_dir_all(dir.path().join("plugins").join(other)).expect("removable");
        }
        let load = || {
            let options = wasm_link::dir::DirOptions { cache: Some(cache.clone()) };
            let plugin_dir = wasm_link::dir::PluginDir::open(dir.path(), &options).expect("opens");
            let (tree, _) = plugin_dir.into_tree();
            let linker = wasm_link::dir::PluginDir::linker(engine).expect("linker");
            let (head, errors) = tree.load(engine, &linker).expect("loads");
            assert!(errors.is_empty(), "{errors:?}");
            head
        };
        black_box(load());
        let load_s = median_seconds(rounds, || drop(black_box(load())));
        figures.push((format!("languages/{language}/load-tree-ms"), load_s * 1e3));
        let head = load();
        let mut raw = || {
            black_box(add.call(&mut store, (black_box(2), 3)).expect("call"));
        };
        let dispatch = || match head.dispatch(PROBE, "add", true, &[Val::U32(black_box(2)), Val::U32(3)]) {
            Socket::Any(results) => {
                black_box(results);
            }
            other => panic!("{other:?}"),
        };
        ratios.push((format!("languages/{language}/dispatch-vs-typedfunc"), paired(51, 200, &mut raw, dispatch)));
        heads.push((language, head));
    }
    let call = |head: &PluginTreeHead<wasm_link::dir::DirPlugin>| match head.dispatch(
        PROBE,
        "add",
        true,
        &[Val::U32(black_box(2)), Val::U32(3)],
    ) {
        Socket::Any(results) => {
            black_box(results);
        }
        other => panic!("{other:?}"),
    };
    let (_, rust) = &heads[0];
    for (language, head) in &heads[1..] {
        let ratio = paired(51, 200, || call(rust), || call(head));
        ratios.push((format!("languages/{language}/dispatch-vs-rust"), ratio));
    }
    for (language, head) in &heads {
        let batch_s = median_seconds(51, || (0..200).for_each(|_| call(head)));
        figures.push((format!("languages/{language}/dispatch-ns"), batch_s * 1e9 / 200.0));
    }
    figures
}

/// What capabilities cost: the Rust probe given directories, environment
/// variables, configuration and an HTTP authority beside the same probe
/// given nothing (a call that uses none of them, and a load), and a GET to
/// a loopback server through the runtime's HTTP gate beside the same GET
/// made directly with hyper (a new connection each, as wasmtime-wasi-http
/// makes them).
pub(super) fn capabilities(engine: &Engine, ratios: &mut Ratios) -> Vec<(String, f64)> {
    const PROBE: &str = "test:probe/probe@0.1.0";
    let mut figures = Vec::new();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("tokio");
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("a loopback port");
    let port = listener.local_addr().expect("bound").port();
    let routes = axum::Router::new().route("/hello", axum::routing::get(|| async { "hello over http" }));
    runtime.spawn(async move { axum::serve(listener, routes).await });

    let cache_dir = tempfile::tempdir().expect("a temporary directory");
    // SAFETY: a private directory `tempfile` just created (mode 0700,
    // unguessable name); only this benchmark writes into it.
    #[allow(unsafe_code, reason = "a compile cache in a private temporary directory")]
    let cache = unsafe { wasm_link::dir::CompileCache::new(cache_dir.path()) };
    let probe_dir = |requests: &str, policy: &str| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        wasm_link_guests::copy_dir(std::path::Path::new(wasm_link_guests::POLYGLOT_DIR), dir.path());
        for other in ["py-probe", "js-probe"] {
            std::fs::remove_dir_all(dir.path().join("plugins").join(other)).expect("removable");
        }
        let manifest = dir.path().join("plugins/rs-probe/plugin.toml");
        let text = std::fs::read_to_string(&manifest).expect("the manifest");
        std::fs::write(&manifest, format!("{text}[requests]\n{requests}\n")).expect("written");
        let top = dir.path().join("wasm-link.toml");
        let text = std::fs::read_to_string(&top).expect("the manifest");
        std::fs::write(&top, format!("{text}[policy.rs-probe]\n{policy}\n")).expect("written");
        std::fs::create_dir(dir.path().join("data")).expect("a directory");
        dir
    };
    let bare = probe_dir("", "");
    let given = probe_dir(
        &format!(
            "files = {{ \"/data\" = \"read\" }}\nenv = [\"STYLE\"]\nconfig = [\"rule\"]\nhttp = [\"127.0.0.1:{port}\"]"
        ),
        &format!(
            "files = {{ \"/data\" = {{ path = \"data\", access = \"read\" }} }}\nenv = {{ STYLE = \"x\" }}\n\
             config = {{ rule = \"~\" }}\nhttp = [\"127.0.0.1:{port}\"]"
        ),
    );
    let load = |dir: &std::path::Path| {
        let options = wasm_link::dir::DirOptions { cache: Some(cache.clone()) };
        let plugin_dir = wasm_link::dir::PluginDir::open(dir, &options).expect("opens");
        assert!(plugin_dir.errors.is_empty(), "{:?}", plugin_dir.errors);
        let (tree, _) = plugin_dir.into_tree();
        let linker = wasm_link::dir::PluginDir::linker(engine).expect("linker");
        let (head, errors) = tree.load(engine, &linker).expect("loads");
        assert!(errors.is_empty(), "{errors:?}");
        head
    };
    black_box(load(bare.path()));
    let (bare_head, given_head) = (load(bare.path()), load(given.path()));
    let add = |head: &PluginTreeHead<wasm_link::dir::DirPlugin>| {
        black_box(head.dispatch(PROBE, "add", true, &[Val::U32(black_box(2)), Val::U32(3)]));
    };
    ratios.push((
        "capabilities/dispatch-given-vs-none".to_owned(),
        paired(51, 200, || add(&bare_head), || add(&given_head)),
    ));
    let mut load_ms = Vec::new();
    for (name, dir) in [("none", bare.path()), ("given", given.path())] {
        let ms = median_seconds(21, || drop(black_box(load(dir)))) * 1e3;
        figures.push((format!("capabilities/load-tree-ms-{name}"), ms));
        load_ms.push(ms);
    }
    ratios.push(("capabilities/load-given-vs-none".to_owned(), load_ms[1] / load_ms[0]));

    let url = format!("http://127.0.0.1:{port}/hello");
    let through = || match given_head.dispatch(PROBE, "http-get", true, &[Val::String(url.clone())]) {
        Socket::Any(results) => {
            let answer = results.into_values().next();
            assert!(matches!(&answer, Some(Ok(Val::String(text))) if text == "200 hello over http"), "{answer:?}");
        }
        other => panic!("{other:?}"),
    };
    let direct = || {
        runtime.block_on(async {
            use http_body_util::BodyExt as _;
            let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connects");
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.expect("handshake");
            tokio::spawn(connection);
            let request = hyper::Request::get("/hello")
                .header(hyper::header::HOST, format!("127.0.0.1:{port}"))
                .body(http_body_util::Empty::<bytes::Bytes>::new())
                .expect("a request");
            let response = sender.send_request(request).await.expect("a response");
            let body = response.into_body().collect().await.expect("a body").to_bytes();
            assert_eq!(&body[..], b"hello over http");
        });
    };
    through();
    direct();
    let through_s = median_seconds(201, through);
    let direct_s = median_seconds(201, direct);
    figures.push(("capabilities/http-get-through-runtime-us".to_owned(), through_s * 1e6));
    figures.push(("capabilities/http-get-direct-hyper-us".to_owned(), direct_s * 1e6));
    ratios.push(("capabilities/http-get-through-runtime-vs-direct-hyper".to_owned(), paired(51, 5, direct, through)));
    figures
}

/// A raw wasmtime store for a probe plugin: wasmtime-wasi with its defaults
/// (nothing granted) and a limiter adding up the linear memory it is given.
struct Raw {
    wasi: wasmtime_wasi::WasiCtx,
    table: wasmtime::component::ResourceTable,
    linear_memory: usize,
}

impl Raw {
    fn new() -> Self {
        Self { wasi: wasmtime_wasi::WasiCtx::builder().build(), table: ResourceTable::new(), linear_memory: 0 }
    }
}

impl wasmtime_wasi::WasiView for Raw {
    fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        wasmtime_wasi::WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl wasmtime::ResourceLimiter for Raw {
    fn memory_growing(&mut self, current: usize, desired: usize, _: Option<usize>) -> wasmtime::Result<bool> {
        self.linear_memory += desired.saturating_sub(current);
        Ok(true)
    }
    fn table_growing(&mut self, _: usize, _: usize, _: Option<usize>) -> wasmtime::Result<bool> {
        Ok(true)
    }
}
