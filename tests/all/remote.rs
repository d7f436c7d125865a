//! Remote plugins (feature `remote`): a tree serving its root over wRPC's
//! framed TCP on loopback (`remote::serve`), and trees whose plugin behind
//! the same interface is a remote one. Every failure of the server is a
//! typed error of that call, naming the plugin and the address.
//! (`crates/cli/tests/cli.rs` runs the same across two processes, with
//! `wasm-link serve` and the demo.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasm_link::{
    DispatchError, Engine, InterfaceCardinality, Limits, Linker, PluginTree, Quarantine, Recovery, Remote, Socket, Val,
    WitInterface,
};

use crate::fixtures::{Interface, Plugin, component, func};
use crate::{Head, load_clean};

const ECHO_WIT: &str = r"
package test:remote;
interface echo {
    echo: func(text: string) -> string;
    add: func(a: u32, b: u32) -> u32;
    boom: func() -> u32;
}
world echo-plugin { export echo; }
";

/// `echo` answers its text (pointing at the argument, which lives in its
/// memory), `add` adds, `boom` traps.
fn echo() -> Vec<u8> {
    component(
        ECHO_WIT,
        "echo-plugin",
        r#"(module
            (memory (export "memory") 1)
            (global $bump (mut i32) (i32.const 1024))
            (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
                (local $ptr i32)
                ;; Wraps around within the first page: every call's text
                ;; fits, and memory never grows.
                global.get $bump local.tee $ptr local.get 3 i32.add i32.const 60000 i32.rem_u
                i32.const 1024 i32.add global.set $bump
                local.get $ptr)
            (func (export "test:remote/echo#echo") (param i32 i32) (result i32)
                i32.const 16 local.get 0 i32.store
                i32.const 20 local.get 1 i32.store
                i32.const 16)
            (func (export "test:remote/echo#add") (param i32 i32) (result i32)
                local.get 0 local.get 1 i32.add)
            (func (export "test:remote/echo#boom") (result i32) unreachable)
        )"#,
    )
}

fn echo_interface() -> Interface {
    Interface::new(
        "echo",
        InterfaceCardinality::ExactlyOne,
        "test:remote/echo",
        vec![func("echo"), func("add"), func("boom")],
    )
}

fn echo_wit() -> WitInterface {
    WitInterface::from_source("echo", InterfaceCardinality::ExactlyOne, ECHO_WIT, "test:remote/echo")
        .expect("the echo WIT parses")
}

/// A server of the echo plugin on loopback, in this process, on its own
/// runtime: dropping it stops it (the listener closes).
struct Server {
    address: String,
    head: Arc<Head>,
    runtime: Option<tokio::runtime::Runtime>,
}

/// An echo plugin whose `add` answers a string: served where a `u32` is
/// expected, a value of the wrong type.
fn liar() -> Vec<u8> {
    component(
        &ECHO_WIT.replace("add: func(a: u32, b: u32) -> u32;", "add: func(a: u32, b: u32) -> string;"),
        "echo-plugin",
        r#"(module
            (memory (export "memory") 1)
            (data (i32.const 100) "forty-two")
            (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) i32.const 200)
            (func (export "test:remote/echo#echo") (param i32 i32) (result i32)
                i32.const 16 local.get 0 i32.store
                i32.const 20 local.get 1 i32.store
                i32.const 16)
            (func (export "test:remote/echo#add") (param i32 i32) (result i32)
                i32.const 16 i32.const 100 i32.store
                i32.const 20 i32.const 9 i32.store
                i32.const 16)
            (func (export "test:remote/echo#boom") (result i32) unreachable)
        )"#,
    )
}

impl Server {
    /// Serves on `port` (0: any free one).
    fn start(port: u16) -> Self {
        Self::serving(port, echo())
    }

    /// Serves the plugin `wasm` as `echo` on `port`.
    fn serving(port: u16, wasm: Vec<u8>) -> Self {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
        let engine = Engine::default();
        let head = runtime.block_on(async {
            let (tree, errors) = PluginTree::new(
                "echo".to_owned(),
                vec![echo_interface()],
                vec![Plugin::new("local", "echo", &[], wasm)],
            );
            assert!(errors.is_empty(), "{errors:?}");
            let (head, errors) =
                tree.load_async(&engine, &Linker::new(&engine)).await.expect("the server's tree loads");
            assert!(errors.is_empty(), "{errors:?}");
            Arc::new(head)
        });
        let listener = runtime.block_on(tokio::net::TcpListener::bind(("127.0.0.1", port))).expect("a loopback port");
        let address = format!("tcp://{}", listener.local_addr().expect("bound"));
        let (ready, ready_rx) = std::sync::mpsc::channel();
        runtime.spawn(wasm_link::remote::serve(head.clone(), listener, move |served| {
            let _ = ready.send(served.functions.clone());
        }));
        let functions = ready_rx.recv_timeout(Duration::from_secs(10)).expect("the server starts");
        assert_eq!(functions, ["echo", "add", "boom"]);
        Self { address, head, runtime: Some(runtime) }
    }

    fn port(&self) -> u16 {
        self.address.rsplit(':').next().and_then(|p| p.parse().ok()).expect("a port")
    }

    /// Calls the server's own plugin served.
    fn served(&self) -> u64 {
        self.head.health()[0].calls
    }

    fn stop(mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

/// A tree whose `echo` plugin, `far`, is served at `remote`.
fn client(remote: Remote, limits: Limits, recovery: Recovery) -> Head {
    let plugin = Plugin::remote("far", "echo", remote, &echo_wit()).limits(limits).recovery(recovery);
    load_clean("echo", vec![echo_interface()], vec![plugin])
}

fn call(head: &Head, function: &str, args: &[Val]) -> Result<Val, DispatchError<String>> {
    match head.dispatch("test:remote/echo", function, true, args) {
        Socket::ExactlyOne(result) => result,
        other => panic!("expected ExactlyOne, got {other:?}"),
    }
}

fn add(head: &Head, a: u32, b: u32) -> Result<Val, DispatchError<String>> {
    call(head, "add", &[Val::U32(a), Val::U32(b)])
}

/// The remote failure of a call, which must be one.
pub(crate) fn remote_failure(result: Result<Val, DispatchError<String>>) -> (String, String) {
    match result {
        Err(DispatchError::Remote { plugin, address, reason, .. }) => {
            assert_eq!(plugin, "far");
            (address, reason)
        }
        other => panic!("expected a remote failure, got {other:?}"),
    }
}

#[test]
fn a_remote_plugin_answers_as_the_plugin_it_forwards_to() {
    let server = Server::start(0);
    let head = client(Remote::new([server.address.clone()]), Limits::default(), Recovery::default());
    assert_eq!(call(&head, "echo", &[Val::String("héllo, wörld".into())]).unwrap(), Val::String("héllo, wörld".into()));
    assert_eq!(add(&head, 40, 2).unwrap(), Val::U32(42));
    let typed = head.typed::<(u32, u32), (u32,)>("add").expect("`add`");
    assert!(matches!(typed.call((1, 2)), Socket::ExactlyOne(Ok((3,)))));
    assert_eq!(server.served(), 3);
    let health = crate::health_of(&head, "far");
    assert_eq!(health.addresses.len(), 1);
    let address = &health.addresses[0];
    assert_eq!(
        (address.address.as_str(), address.calls, address.failures, address.healthy),
        (server.address.as_str(), 3, 0, true)
    );
    server.stop();
}

#[test]
fn an_async_tree_awaits_its_remote_plugin() {
    let server = Server::start(0);
    let engine = Engine::default();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let plugin = Plugin::remote("far", "echo", Remote::new([server.address.clone()]), &echo_wit());
    let (head, errors) = runtime.block_on(crate::load_async_with(
        &engine,
        &Linker::new(&engine),
        "echo",
        vec![echo_interface()],
        vec![plugin],
    ));
    assert!(errors.is_empty(), "{errors:?}");
    let result = runtime.block_on(head.dispatch_async("test:remote/echo", "add", true, &[Val::U32(5), Val::U32(6)]));
    assert!(matches!(result, Socket::ExactlyOne(Ok(Val::U32(11)))), "{result:?}");
    server.stop();
}

#[test]
fn a_call_the_server_fails_is_a_typed_error_naming_plugin_and_address() {
    let server = Server::start(0);
    let head = client(Remote::new([server.address.clone()]), Limits::default(), Recovery::default());
    let (address, reason) = remote_failure(call(&head, "boom", &[]));
    assert_eq!(address, server.address);
    assert!(reason.contains("without a message"), "{reason}");
    // The consumer side keeps serving.
    assert_eq!(add(&head, 1, 1).unwrap(), Val::U32(2));
    server.stop();
}

#[test]
fn a_stopped_server_fails_the_call_and_the_next_call_reconnects_when_it_is_back() {
    let server = Server::start(0);
    let port = server.port();
    let head = client(Remote::new([server.address.clone()]), Limits::default(), Recovery::default());
    assert_eq!(add(&head, 2, 2).unwrap(), Val::U32(4));
    server.stop();
    let (_, reason) = remote_failure(add(&head, 2, 2));
    assert!(reason.contains("cannot call"), "{reason}");
    assert!(!crate::health_of(&head, "far").addresses[0].healthy);
    let server = Server::start(port);
    assert_eq!(add(&head, 3, 3).unwrap(), Val::U32(6));
    assert!(crate::health_of(&head, "far").addresses[0].healthy);
    server.stop();
}

#[test]
fn calls_fail_over_to_the_next_server_and_health_shows_each() {
    let (first, second) = (Server::start(0), Server::start(0));
    let remote = Remote::new([first.address.clone(), second.address.clone()]);
    let head = client(remote, Limits::default(), Recovery::default());
    assert_eq!(add(&head, 1, 2).unwrap(), Val::U32(3));
    assert_eq!((first.served(), second.served()), (1, 0), "the first server is preferred");
    first.stop();
    // Refused connections are skipped: the call lands on the second server.
    for _ in 0..3 {
        assert_eq!(add(&head, 1, 2).unwrap(), Val::U32(3));
    }
    assert_eq!(second.served(), 3);
    let addresses = crate::health_of(&head, "far").addresses;
    assert!(!addresses[0].healthy && addresses[0].failures >= 1, "{addresses:?}");
    assert!(addresses[1].healthy && addresses[1].failures == 0, "{addresses:?}");
    second.stop();
}

#[test]
fn a_stateless_remote_plugin_spreads_calls_over_its_servers() {
    let (first, second) = (Server::start(0), Server::start(0));
    let remote = Remote::new([first.address.clone(), second.address.clone()]).stateless(true);
    let head = client(remote, Limits::default(), Recovery::default());
    for n in 0..10 {
        assert_eq!(add(&head, n, 1).unwrap(), Val::U32(n + 1));
    }
    assert_eq!((first.served(), second.served()), (5, 5));
    first.stop();
    second.stop();
}

#[test]
fn a_silent_server_costs_the_call_its_deadline_and_no_more() {
    // Accepts connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let address = format!("tcp://{}", listener.local_addr().expect("bound"));
    let silent = std::thread::spawn(move || {
        let mut connections = Vec::new();
        for _ in 0..2 {
            connections.push(listener.accept());
        }
        std::thread::sleep(Duration::from_secs(3));
    });
    let limits = Limits { deadline: Duration::from_millis(300), ..Limits::default() };
    let head = client(Remote::new([address.clone()]), limits, Recovery::default());
    let started = Instant::now();
    let (failed_at, reason) = remote_failure(add(&head, 1, 1));
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    assert_eq!(failed_at, address);
    assert!(reason.contains("no answer within"), "{reason}");
    drop(silent);
}

#[test]
fn garbage_from_the_server_is_a_typed_error() {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let address = format!("tcp://{}", listener.local_addr().expect("bound"));
    let garbage = std::thread::spawn(move || {
        for answer in [&[0xffu8; 64][..], &[0x00, 0x00, 0x05, b'a'][..]] {
            let Ok((mut stream, _)) = listener.accept() else { return };
            let mut request = [0u8; 256];
            let _ = stream.read(&mut request);
            let _ = stream.write_all(answer);
        }
    });
    let head = client(Remote::new([address.clone()]), Limits::default(), Recovery::default());
    for _ in 0..2 {
        let (failed_at, reason) = remote_failure(call(&head, "echo", &[Val::String("x".into())]));
        assert_eq!(failed_at, address, "{reason}");
    }
    let _ = garbage.join();
}

#[test]
fn a_value_of_the_wrong_type_is_a_typed_error() {
    let server = Server::serving(0, liar());
    let head = client(Remote::new([server.address.clone()]), Limits::default(), Recovery::default());
    // The server answers `add` with the string "forty-two" where a `u32` is
    // due: a 9 read as the number, and nine bytes left over.
    let (address, reason) = remote_failure(add(&head, 1, 2));
    assert_eq!(address, server.address);
    assert!(reason.contains("9 byte(s) follow the values"), "{reason}");
    // The functions whose types agree still work.
    assert_eq!(call(&head, "echo", &[Val::String("ok".into())]).unwrap(), Val::String("ok".into()));
    server.stop();
}

#[test]
fn a_remote_plugin_failing_too_often_is_quarantined_like_any_plugin() {
    let server = Server::start(0);
    let recovery = Recovery {
        quarantine: Some(Quarantine { failures: 2, window: Duration::from_secs(10), cooldown: Duration::from_mins(1) }),
    };
    let head = client(Remote::new([server.address.clone()]), Limits::default(), recovery);
    for _ in 0..2 {
        remote_failure(call(&head, "boom", &[]));
    }
    assert!(matches!(add(&head, 1, 1), Err(DispatchError::Quarantined { .. })));
    assert_eq!(server.served(), 2, "a quarantined plugin makes no remote call");
    server.stop();
}

#[test]
fn an_interface_with_resources_is_refused_at_load_naming_the_function() {
    let wit = WitInterface::from_source(
        "docs",
        InterfaceCardinality::ExactlyOne,
        "package test:docs; interface docs { resource doc { text: func() -> string; } open: func(name: string) -> doc; }",
        "test:docs/docs",
    )
    .expect("parses");
    let engine = Engine::default();
    let error = Remote::new(["tcp://127.0.0.1:1"]).component(&engine, &wit).expect_err("resources cannot cross");
    assert!(
        matches!(&error, wasm_link::RemoteError::Unsupported { function, .. } if function == "[method]doc.text"),
        "{error}"
    );
    assert!(error.to_string().contains("resource `doc`"), "{error}");
}

#[test]
fn a_hundred_thousand_small_calls_lose_none() {
    let server = Server::start(0);
    let head = client(Remote::new([server.address.clone()]), Limits::default(), Recovery::default());
    let started = Instant::now();
    let calls: u32 = 100_000;
    for n in 0..calls {
        assert_eq!(add(&head, n, 1).unwrap(), Val::U32(n + 1), "call {n}");
    }
    eprintln!("{calls} remote calls in {:?}", started.elapsed());
    assert_eq!(server.served(), u64::from(calls));
    server.stop();
}

#[test]
fn a_tree_loaded_for_blocking_calls_is_not_served() {
    let head = Arc::new(load_clean("echo", vec![echo_interface()], vec![Plugin::new("local", "echo", &[], echo())]));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let served = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
        wasm_link::remote::serve(head, listener, |_| {}).await
    });
    assert!(matches!(served, Err(wasm_link::remote::ServeError::NotAsync)), "{served:?}");
}
