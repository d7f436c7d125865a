//! Remote calls over wRPC on loopback beside local ones.

#[allow(clippy::wildcard_imports, reason = "the bench's shared helpers and fixtures")]
use super::*;

/// `bench:b/callee` as WIT, for the remote proxy.
pub(super) const CALLEE_WIT: &str = "package bench:b; interface callee { get: func(x: u32) -> u32; }";

/// Remote calls on loopback (feature `remote`): wasm-link's remote plugin
/// against a raw wRPC round trip of the same payload (wrpc-transport's own
/// client and server, `u32 -> u32`), and against the same call in process;
/// then throughput with 1 and 16 callers.
pub(super) fn remote_calls(ratios: &mut Ratios) -> Vec<(String, f64)> {
    type Raw = wrpc_transport::Server<
        (),
        tokio::io::BufReader<tokio::net::tcp::OwnedReadHalf>,
        tokio::net::tcp::OwnedWriteHalf,
    >;
    use futures_util::StreamExt as _;
    use wrpc_transport::{InvokeExt as _, ServeExt as _};
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let engine = wasm_link::default_engine().expect("engine");
    // wasm-link's server: the callee tree, served.
    let served = runtime.block_on(tree_async(&engine, "callee"));
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("port");
    let address = format!("tcp://{}", listener.local_addr().expect("bound"));
    runtime.spawn(wasm_link::remote::serve(Arc::new(served), listener, |_| {}));
    // The raw baseline: wrpc-transport serving `get` itself.
    let raw = Arc::new(Raw::default());
    let invocations = runtime
        .block_on(raw.serve_values::<(u32,), (u32,)>("bench:b/callee", "get", Arc::from(Vec::new())))
        .expect("served");
    runtime.spawn(invocations.for_each_concurrent(None, |invocation| async move {
        if let Ok(((), (x,), _, answer)) = invocation {
            let _ = answer((x + 1,)).await;
        }
    }));
    let raw_listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("port");
    let raw_address = raw_listener.local_addr().expect("bound");
    {
        let raw = raw.clone();
        runtime.spawn(async move {
            while let Ok((stream, _)) = raw_listener.accept().await {
                let _ = stream.set_nodelay(true);
                let raw = raw.clone();
                tokio::spawn(async move {
                    let (rx, tx) = stream.into_split();
                    let _ = raw.accept((), tx, tokio::io::BufReader::new(rx)).await;
                });
            }
        });
    }
    let client = wrpc_transport::tcp::Client::from(raw_address);
    let paths: &[&[Option<usize>]] = &[];
    let raw_call = || {
        let (y,): (u32,) = runtime
            .block_on(client.invoke_values_blocking((), "bench:b/callee", "get", (black_box(1u32),), paths))
            .expect("a raw round trip");
        black_box(y);
    };
    // wasm-link's client: a tree whose callee is remote.
    let wit = Arc::new(
        wasm_link::WitInterface::from_source("callee", InterfaceCardinality::ExactlyOne, CALLEE_WIT, "bench:b/callee")
            .expect("WIT"),
    );
    let remote = wasm_link::Remote::new([address]);
    let (far, errors) = PluginTree::new(
        "callee",
        vec![Iface("callee", "bench:b/callee", vec![Func("get")], InterfaceCardinality::ExactlyOne, vec![])],
        vec![Plugin("far".into(), "callee", vec![], Source::Remote(remote, wit), ResourceTable::new())],
    );
    assert!(errors.is_empty());
    let (head, errors) = far.load(&engine, &Linker::new(&engine)).expect("the remote tree loads");
    assert!(errors.is_empty(), "{errors:?}");
    let head = Arc::new(head);
    let get = head.typed::<(u32,), (u32,)>("get").expect("`get`");
    let remote_call = || {
        black_box(only(get.call((black_box(1),))));
    };
    let local = tree(&engine, "callee");
    let local_get = local.typed::<(u32,), (u32,)>("get").expect("`get`");
    let mut local_call = || {
        black_box(only(local_get.call((black_box(1),))));
    };
    let mut raw_call = raw_call;
    ratios.push(("remote/wasm-link-vs-raw-wrpc-round-trip".to_owned(), paired(51, 20, &mut raw_call, remote_call)));
    ratios.push(("remote/remote-vs-in-process-call".to_owned(), paired(51, 20, &mut local_call, remote_call)));
    let mut figures = Vec::new();
    for callers in [1usize, 16] {
        let remote_rate = rate(callers, || (), |()| remote_call());
        figures.push((format!("remote/wasm-link-calls-per-s-{callers}-callers"), remote_rate));
        let raw_rate = rate(callers, || (), |()| raw_call());
        figures.push((format!("remote/raw-wrpc-calls-per-s-{callers}-callers"), raw_rate));
    }
    drop(runtime);
    figures
}
