//! Remote plugins over a NATS lattice (feature `remote`): trees served with
//! `remote::serve_nats` into a queue group on a real `nats-server` on
//! loopback, and trees whose plugin is `Remote::new(["nats://…"])`. No
//! address of a serving host appears anywhere: whoever serves the subject
//! takes the call. (`crates/cli/tests/cli.rs` runs the same with
//! `wasm-link serve --nats` processes.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasm_link::{
    DispatchError, InterfaceCardinality, Limits, Linker, PluginTree, Recovery, Remote, Socket, Val, WitInterface,
};

use crate::Head;
use crate::fixtures::{Interface, Plugin, component, func, void};
use crate::nats_server::NatsServer;
use crate::remote::remote_failure;

pub(crate) const COUNTER_WIT: &str = r"
package test:lattice;
interface counter {
    bump: func();
    count: func() -> u32;
    fail: func();
    spin: func() -> u32;
    echo: func(text: string) -> string;
}
world counter-plugin { export counter; }
";

pub(crate) const PATH: &str = "test:lattice/counter";

/// `bump` counts, `count` answers the count, `fail` traps, `spin` never
/// ends, `echo` answers its text (up to 150 KB; the allocator starts over
/// below 200 000).
pub(crate) fn counter() -> Vec<u8> {
    component(
        COUNTER_WIT,
        "counter-plugin",
        r#"(module
            (memory (export "memory") 4)
            (global $n (mut i32) (i32.const 0))
            (global $bump (mut i32) (i32.const 1024))
            (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
                (local $ptr i32)
                global.get $bump local.get 3 i32.add i32.const 200000 i32.gt_u
                if i32.const 1024 global.set $bump end
                global.get $bump local.tee $ptr local.get 3 i32.add global.set $bump
                local.get $ptr)
            (func (export "test:lattice/counter#bump") global.get $n i32.const 1 i32.add global.set $n)
            (func (export "test:lattice/counter#count") (result i32) global.get $n)
            (func (export "test:lattice/counter#fail") unreachable)
            (func (export "test:lattice/counter#spin") (result i32) (loop $l br $l) i32.const 0)
            (func (export "test:lattice/counter#echo") (param i32 i32) (result i32)
                i32.const 16 local.get 0 i32.store
                i32.const 20 local.get 1 i32.store
                i32.const 16)
        )"#,
    )
}

pub(crate) fn counter_interface() -> Interface {
    Interface::new(
        "counter",
        InterfaceCardinality::ExactlyOne,
        PATH,
        vec![void("bump"), func("count"), void("fail"), func("spin"), func("echo")],
    )
}

pub(crate) fn counter_wit() -> WitInterface {
    WitInterface::from_source("counter", InterfaceCardinality::ExactlyOne, COUNTER_WIT, PATH)
        .expect("the counter WIT parses")
}

/// A tree of the counter plugin served on a NATS lattice, in this process,
/// on its own runtime and NATS connection: stopping it leaves the queue
/// group.
struct LatticeServer {
    head: Arc<Head>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl LatticeServer {
    fn start(url: &str, prefix: &str) -> Self {
        Self::serving(url, prefix, Limits::default())
    }

    fn serving(url: &str, prefix: &str, limits: Limits) -> Self {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
        // Deadlines enforced (epoch interruption), as `wasm-link serve` has
        // them: a spinning plugin yields, so a call can be abandoned.
        let engine = wasm_link::default_engine().expect("an engine");
        let head = runtime.block_on(async {
            let (tree, errors) = PluginTree::new(
                "counter".to_owned(),
                vec![counter_interface()],
                vec![Plugin::new("local", "counter", &[], counter()).limits(limits)],
            );
            assert!(errors.is_empty(), "{errors:?}");
            let (head, errors) =
                tree.load_async(&engine, &Linker::new(&engine)).await.expect("the server's tree loads");
            assert!(errors.is_empty(), "{errors:?}");
            Arc::new(head)
        });
        let nats =
            runtime.block_on(wasm_link::remote::async_nats::connect(url)).expect("the server connects to nats-server");
        let (ready, ready_rx) = std::sync::mpsc::channel();
        let prefix = prefix.to_owned();
        let served = head.clone();
        runtime.spawn(async move {
            let outcome = wasm_link::remote::serve_nats(served, nats, &prefix, move |served| {
                let _ = ready.send(served.functions.clone());
            })
            .await;
            assert!(outcome.is_ok(), "{outcome:?}");
        });
        let functions = ready_rx.recv_timeout(Duration::from_secs(10)).expect("the server subscribes");
        assert_eq!(functions, ["bump", "count", "fail", "spin", "echo"]);
        Self { head, runtime: Some(runtime) }
    }

    /// Calls its plugin took.
    fn served(&self) -> u64 {
        self.head.health()[0].calls
    }

    fn stop(mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

/// A tree whose `counter` plugin, `far`, is served on the lattice.
pub(crate) fn client(remote: Remote, limits: Limits) -> Head {
    let plugin = Plugin::remote("far", "counter", remote, &counter_wit()).limits(limits).recovery(Recovery::default());
    crate::load_clean("counter", vec![counter_interface()], vec![plugin])
}

pub(crate) fn call(head: &Head, function: &str, args: &[Val]) -> Result<Val, DispatchError<String>> {
    let returns = !matches!(function, "bump" | "fail");
    match head.dispatch(PATH, function, returns, args) {
        Socket::ExactlyOne(result) => result,
        other => panic!("expected ExactlyOne, got {other:?}"),
    }
}

fn short(deadline_ms: u64) -> Limits {
    Limits { deadline: Duration::from_millis(deadline_ms), ..Limits::default() }
}

#[test]
fn a_plugin_served_on_the_lattice_answers_as_the_plugin_in_process() {
    // Messages of at most 8 KiB: large arguments and results cross in parts.
    let Some(nats) = NatsServer::start_with("lattice answers", "max_payload: 8192") else { return };
    let server = LatticeServer::start(&nats.url(), "");
    let far = client(Remote::new([nats.url()]), Limits::default());
    let near =
        crate::load_clean("counter", vec![counter_interface()], vec![Plugin::new("near", "counter", &[], counter())]);
    for text in ["", "héllo, wörld", &"ab\u{1F600}".repeat(10_000), &"x".repeat(100_000)] {
        let args = [Val::String(text.into())];
        assert_eq!(call(&far, "echo", &args).unwrap(), call(&near, "echo", &args).unwrap(), "{} bytes", text.len());
    }
    let typed = far.typed::<(String,), (String,)>("echo").expect("`echo`");
    assert!(matches!(typed.call(("typed".into(),)), Socket::ExactlyOne(Ok((ref s,))) if s == "typed"));
    assert_eq!(server.served(), 5);
    let health = crate::health_of(&far, "far");
    let address = &health.addresses[0];
    assert_eq!((address.address.as_str(), address.calls, address.failures), (nats.url().as_str(), 5, 0));
    server.stop();
}

#[test]
fn a_void_call_returns_once_it_ran_there_and_its_failure_reaches_the_caller() {
    let Some(nats) = NatsServer::start("void calls") else { return };
    let server = LatticeServer::start(&nats.url(), "");
    let far = client(Remote::new([nats.url()]), Limits::default());
    for _ in 0..3 {
        assert_eq!(call(&far, "bump", &[]).unwrap(), Val::Tuple(vec![]), "a void call's placeholder");
    }
    assert_eq!(call(&far, "count", &[]).unwrap(), Val::U32(3));
    // The trap there is this call's error, not a silent success.
    let (address, reason) = remote_failure(call(&far, "fail", &[]));
    assert_eq!(address, nats.url());
    assert!(reason.contains("the server:") && reason.contains("local"), "{reason}");
    assert_eq!(call(&far, "count", &[]).unwrap(), Val::U32(0), "the trap reset the served plugin");
    server.stop();
}

#[test]
fn no_server_in_the_group_is_a_typed_error_at_once() {
    let Some(nats) = NatsServer::start("no responders") else { return };
    let far = client(Remote::new([nats.url()]), short(5_000));
    let started = Instant::now();
    let (address, reason) = remote_failure(call(&far, "count", &[]));
    assert!(started.elapsed() < Duration::from_secs(2), "NATS says so at once: {:?}", started.elapsed());
    assert_eq!(address, nats.url());
    assert!(reason.contains("no responders"), "{reason}");
    assert!(!crate::health_of(&far, "far").addresses[0].healthy);
    // Someone joins: the next call is served.
    let server = LatticeServer::start(&nats.url(), "");
    assert_eq!(call(&far, "count", &[]).unwrap(), Val::U32(0));
    assert!(crate::health_of(&far, "far").addresses[0].healthy);
    server.stop();
}

#[test]
fn a_prefix_keeps_lattices_on_one_nats_server_apart() {
    let Some(nats) = NatsServer::start("prefixes") else { return };
    let blue = LatticeServer::start(&nats.url(), "blue");
    let green = client(Remote::new([nats.url()]).prefix("green"), Limits::default());
    let (_, reason) = remote_failure(call(&green, "count", &[]));
    assert!(reason.contains("green.wrpc.0.0.1.test:lattice/counter.count"), "{reason}");
    let also_blue = client(Remote::new([nats.url()]).prefix("blue"), Limits::default());
    assert_eq!(call(&also_blue, "bump", &[]).unwrap(), Val::Tuple(vec![]));
    assert_eq!(blue.served(), 1);
    blue.stop();
}

#[test]
fn servers_in_one_queue_group_share_the_calls_and_one_may_leave() {
    let Some(nats) = NatsServer::start("queue group") else { return };
    let (first, second) = (LatticeServer::start(&nats.url(), ""), LatticeServer::start(&nats.url(), ""));
    let far = client(Remote::new([nats.url()]), Limits::default());
    for _ in 0..100 {
        call(&far, "count", &[]).expect("served");
    }
    let (a, b) = (first.served(), second.served());
    assert_eq!(a + b, 100);
    assert!(a > 0 && b > 0, "NATS spreads a queue group's calls: {a} and {b}");
    first.stop();
    for n in 0..50 {
        call(&far, "count", &[]).unwrap_or_else(|e| panic!("call {n} after one server left: {e}"));
    }
    assert_eq!(second.served(), b + 50);
    second.stop();
}

#[test]
fn the_callers_deadline_travels_and_the_server_abandons_the_call_at_it() {
    let Some(nats) = NatsServer::start("deadline") else { return };
    // The server's own deadline is long: only the caller's can stop `spin`
    // early.
    let server = LatticeServer::serving(&nats.url(), "", short(20_000));
    let far = client(Remote::new([nats.url()]), short(300));
    let started = Instant::now();
    let (_, reason) = remote_failure(call(&far, "spin", &[]));
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_millis(1500), "typed error on time: {elapsed:?}");
    assert!(reason.contains("no answer within") || reason.contains("deadline"), "{reason}");
    // The server gave up the call at the caller's deadline, long before its
    // own: the plugin counts it cancelled, and serves the next call.
    let waited = Instant::now();
    while server.head.health()[0].cancelled == 0 {
        assert!(waited.elapsed() < Duration::from_secs(5), "the server abandons the call");
        std::thread::sleep(Duration::from_millis(20));
    }
    let next = client(Remote::new([nats.url()]), Limits::default());
    assert_eq!(call(&next, "count", &[]).unwrap(), Val::U32(0));
    server.stop();
}

#[test]
fn calls_resume_after_the_nats_server_restarts() {
    let Some(mut nats) = NatsServer::start("nats restart") else { return };
    let server = LatticeServer::start(&nats.url(), "");
    let far = client(Remote::new([nats.url()]), short(1_000));
    assert!(call(&far, "count", &[]).is_ok());
    nats.stop();
    let started = Instant::now();
    remote_failure(call(&far, "count", &[]));
    assert!(started.elapsed() < Duration::from_secs(2), "typed error on time: {:?}", started.elapsed());
    nats.restart();
    // Both sides reconnect (and the server subscribes again) on their own.
    let waited = Instant::now();
    loop {
        match call(&far, "count", &[]) {
            Ok(_) => break,
            Err(DispatchError::Remote { .. }) => {
                assert!(waited.elapsed() < Duration::from_secs(15), "calls resume after a restart");
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(other) => panic!("not a remote failure: {other}"),
        }
    }
    for n in 0..20 {
        call(&far, "count", &[]).unwrap_or_else(|e| panic!("call {n} after the restart: {e}"));
    }
    server.stop();
}

#[test]
fn a_nats_server_not_running_is_a_typed_error_and_the_next_address_is_tried() {
    let Some(nats) = NatsServer::start("fallback") else { return };
    let server = LatticeServer::start(&nats.url(), "");
    let dead = "nats://127.0.0.1:9".to_owned();
    let far = client(Remote::new([dead.clone(), nats.url()]), Limits::default());
    assert_eq!(call(&far, "count", &[]).unwrap(), Val::U32(0));
    let addresses = crate::health_of(&far, "far").addresses;
    assert!(!addresses[0].healthy, "{addresses:?}");
    assert!(addresses[0].last_error.as_deref().is_some_and(|e| e.contains("cannot connect")), "{addresses:?}");
    assert!(addresses[1].healthy, "{addresses:?}");
    server.stop();
}

#[test]
fn a_hostile_responder_and_garbage_invocations_are_typed_errors_and_hurt_nobody() {
    use wasm_link::remote::async_nats;
    let Some(nats) = NatsServer::start("hostile") else { return };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    // A responder that answers every call with garbage results.
    let liar = runtime.block_on(async_nats::connect(nats.url())).unwrap();
    let mut calls = runtime.block_on(liar.subscribe("liar.wrpc.0.0.1.test:lattice/counter.count")).unwrap();
    let answering = liar.clone();
    runtime.spawn(async move {
        use futures_util::StreamExt as _;
        while let Some(message) = calls.next().await {
            if let Some(reply) = message.reply {
                let results = format!("{reply}.results");
                let _ = answering.publish(results, vec![0xff; 64].into()).await;
            }
        }
    });
    // In place once a message of its own comes back through the server.
    runtime.block_on(async {
        use futures_util::StreamExt as _;
        let mut echo = liar.subscribe("liar.settled").await.unwrap();
        liar.publish("liar.settled", "".into()).await.unwrap();
        echo.next().await.expect("the NATS server echoes");
    });
    let far = client(Remote::new([nats.url()]).prefix("liar"), short(2_000));
    let (_, reason) = remote_failure(call(&far, "count", &[]));
    assert!(reason.contains("follow the values") || reason.contains("do not decode"), "{reason}");
    // Garbage sent to a real server: it answers a refusal and serves on.
    let server = LatticeServer::start(&nats.url(), "");
    let reply = runtime
        .block_on(liar.request("wrpc.0.0.1.test:lattice/counter.echo", vec![0xff, 0xff, 0xff, 0xff, 0x0f].into()))
        .expect("the server answers the handshake");
    assert!(reply.payload.is_empty(), "the handshake carries nothing");
    let honest = client(Remote::new([nats.url()]), Limits::default());
    assert_eq!(call(&honest, "echo", &[Val::String("still here".into())]).unwrap(), Val::String("still here".into()));
    server.stop();
}
