//! Remote calls over a NATS lattice on loopback: beside a raw NATS request
//! of the same bytes, beside the same remote call over TCP, and spread over
//! 1, 2 and 4 server processes in one queue group.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};

use futures_util::StreamExt as _;
use wasm_link::remote::async_nats;

#[allow(clippy::wildcard_imports, reason = "the bench's shared helpers and fixtures")]
use super::*;

#[allow(dead_code, reason = "the tests' helper: the bench starts a server and reads its URL, no more")]
#[path = "../../tests/all/nats_server.rs"]
mod nats_server;

/// Set to a NATS URL, the bench binary serves the callee there instead of
/// benchmarking ([`serve_child`]): the scale-out's servers are this binary,
/// run again.
pub(super) const SERVE_ENV: &str = "WASM_LINK_BENCH_NATS_SERVE";

/// The subject prefix of the in-process servers; the scale-out's servers
/// use none, so they never take the latency measurements' calls.
const PREFIX: &str = "lattice";

/// The raw baseline's subject.
const RAW_SUBJECT: &str = "lattice.raw.get";

/// Rounds of each throughput figure; the median is reported.
const RATE_ROUNDS: usize = 5;

/// Server mode (the bench binary run with [`SERVE_ENV`] set): the callee
/// tree, served on the lattice at `url` with no prefix on a runtime of as
/// many workers as cores. Prints `ready` once subscribed, then serves until
/// killed or until its stdin closes (the bench gone, however it went).
pub(super) fn serve_child(url: &str) {
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        std::process::exit(0);
    });
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let engine = wasm_link::default_engine().expect("engine");
        let head = Arc::new(tree_async(&engine, "callee").await);
        let nats = async_nats::connect(url).await.expect("the server connects to NATS");
        wasm_link::remote::serve_nats(head, nats, "", |_| {
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "ready");
            let _ = out.flush();
        })
        .await
        .expect("the callee is served");
    });
}

/// Server processes ([`serve_child`]), killed when dropped: a panicking
/// bench leaves none behind.
struct Servers(Vec<(Child, ChildStdin)>);

impl Servers {
    /// `n` servers on the lattice at `url`, each subscribed when this returns.
    fn start(n: usize, url: &str) -> Self {
        let exe = std::env::current_exe().expect("the bench binary");
        let mut servers = Self(Vec::new());
        let mut outputs = Vec::new();
        for _ in 0..n {
            let mut child = Command::new(&exe)
                .env(SERVE_ENV, url)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("a server process starts");
            let stdin = child.stdin.take().expect("piped");
            outputs.push(BufReader::new(child.stdout.take().expect("piped")));
            servers.0.push((child, stdin));
        }
        for output in outputs {
            let line = output.lines().next().and_then(Result::ok);
            assert_eq!(line.as_deref(), Some("ready"), "a server process serves");
        }
        servers
    }

    /// Their process ids.
    fn pids(&self) -> Vec<u32> {
        self.0.iter().map(|(child, _)| child.id()).collect()
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        for (child, _) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A tree whose `callee` is `remote`.
fn remote_head(engine: &Engine, remote: wasm_link::Remote) -> Arc<Head> {
    let wit = Arc::new(
        wasm_link::WitInterface::from_source("callee", InterfaceCardinality::ExactlyOne, CALLEE_WIT, "bench:b/callee")
            .expect("WIT"),
    );
    let (far, errors) = PluginTree::new(
        "callee",
        vec![Iface("callee", "bench:b/callee", vec![Func("get")], InterfaceCardinality::ExactlyOne, vec![])],
        vec![Plugin("far".into(), "callee", vec![], Source::Remote(remote, wit), ResourceTable::new())],
    );
    assert!(errors.is_empty());
    let (head, errors) = far.load(engine, &Linker::new(engine)).expect("the remote tree loads");
    assert!(errors.is_empty(), "{errors:?}");
    Arc::new(head)
}

/// `x` in wRPC's encoding of a `u32` (unsigned LEB128, 1 to 5 bytes): the
/// bytes wasm-link's remote call sends.
fn encode(mut x: u32) -> bytes::Bytes {
    let mut out = Vec::with_capacity(5);
    loop {
        #[allow(clippy::cast_possible_truncation, reason = "seven bits")]
        let low = (x & 0x7f) as u8;
        x >>= 7;
        if x == 0 {
            out.push(low);
            return out.into();
        }
        out.push(low | 0x80);
    }
}

/// The `u32` of [`encode`]'s bytes.
fn decode(bytes: &[u8]) -> Option<u32> {
    let mut x = 0u32;
    for (i, byte) in bytes.iter().take(5).enumerate() {
        x |= u32::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some(x);
        }
    }
    None
}

/// CPU ticks process `pid` has spent (user and system), from `/proc`.
fn process_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command's `(name)`: state, then utime and stime 11 and 12 on.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// The machine's CPU ticks so far, idle and in all, from `/proc/stat`.
fn machine_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<u64> =
        stat.lines().next()?.split_whitespace().skip(1).take(8).filter_map(|t| t.parse().ok()).collect();
    let idle = ticks.get(3)? + ticks.get(4)?;
    Some((idle, ticks.iter().sum()))
}

/// This process's children named `name`, from `/proc`: the `nats-server`
/// the bench started.
fn children_named(name: &str) -> Vec<u32> {
    let me = std::process::id();
    let entries = std::fs::read_dir("/proc").into_iter().flatten().flatten();
    entries
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let (command, rest) = stat.rsplit_once(')')?;
            let parent = rest.split_whitespace().nth(1)?.parse::<u32>().ok()?;
            (command.split_once('(')?.1 == name && parent == me).then_some(pid)
        })
        .collect()
}

/// Where the machine's CPU went while `f` ran, as shares of all its cores:
/// this process (the callers and their client), the server processes
/// `servers`, the `nats` processes, the rest busy (anyone else), idle.
/// Measured on Linux only.
fn cpu_shares<T>(servers: &[u32], nats: &[u32], f: impl FnOnce() -> T) -> (T, Option<[f64; 5]>) {
    let me = std::process::id();
    let snapshot = || {
        let of = |pids: &[u32]| pids.iter().map(|&pid| process_ticks(pid)).sum::<Option<u64>>();
        let (idle, total) = machine_ticks()?;
        Some([process_ticks(me)?, of(servers)?, of(nats)?, idle, total])
    };
    let before = snapshot();
    let value = f();
    let shares = before.zip(snapshot()).and_then(|(before, after)| {
        let [bench, servers, nats, idle, total] = std::array::from_fn(|i| after[i].saturating_sub(before[i]));
        #[allow(clippy::cast_precision_loss, reason = "shares")]
        let share = |ticks: u64| ticks as f64 / total as f64;
        let rest = total.saturating_sub(bench + servers + nats + idle);
        (total > 0).then(|| [share(bench), share(servers), share(nats), share(rest), share(idle)])
    });
    (value, shares)
}

/// The median of `RATE_ROUNDS` rates of `rate`.
fn median_rate(mut rate: impl FnMut() -> f64) -> f64 {
    let mut rates: Vec<f64> = (0..RATE_ROUNDS).map(|_| rate()).collect();
    rates.sort_by(f64::total_cmp);
    rates[RATE_ROUNDS / 2]
}

/// Remote calls over NATS on loopback (feature `remote`), against a
/// `nats-server` this bench starts (the section is skipped, with a message,
/// where there is none).
///
/// Latency, paired: wasm-link's remote call over NATS (`Remote::new(["nats://…"])`
/// to `remote::serve_nats` of the callee tree, in this process) against a
/// raw async-nats request of the same bytes to a raw responder (what NATS
/// costs at the least: wasm-link's wire adds a handshake message and the
/// end of the results), and against the same remote call over TCP
/// (`remote::serve`, a connection per call). Absolute medians per call
/// beside them.
///
/// Scale-out: calls per second of 16 callers through one client tree, with
/// 1, 2 and 4 server processes in the callee's queue group (this binary
/// run again, [`serve_child`]), and of 1 caller with 1 server; each the
/// median of `RATE_ROUNDS` rounds. Where the CPU went during each is
/// printed on stderr: on a machine of few cores, the callers, nats-server
/// and the servers share them, and more servers need not mean more calls.
pub(super) fn lattice(ratios: &mut Ratios) -> Vec<(String, f64)> {
    let Some(nats) = nats_server::NatsServer::start("the lattice bench") else { return Vec::new() };
    let url = nats.url();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let engine = wasm_link::default_engine().expect("engine");
    // wasm-link's servers: the callee tree served on the lattice and on TCP.
    let served = Arc::new(runtime.block_on(tree_async(&engine, "callee")));
    let connection = runtime.block_on(async_nats::connect(&url)).expect("the server connects to NATS");
    let (ready, subscribed) = std::sync::mpsc::channel();
    runtime.spawn(wasm_link::remote::serve_nats(served.clone(), connection, PREFIX, move |_| {
        let _ = ready.send(());
    }));
    subscribed.recv().expect("the callee is served on NATS");
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("port");
    let tcp_address = format!("tcp://{}", listener.local_addr().expect("bound"));
    runtime.spawn(wasm_link::remote::serve(served, listener, |_| {}));
    // The raw baseline: a responder answering `x + 1` in the same encoding.
    let responder = runtime.block_on(async_nats::connect(&url)).expect("the responder connects to NATS");
    let mut requests = runtime.block_on(responder.subscribe(RAW_SUBJECT)).expect("subscribed");
    runtime.block_on(responder.flush()).expect("the subscription is in place");
    runtime.spawn(async move {
        while let Some(request) = requests.next().await {
            if let (Some(reply), Some(x)) = (request.reply, decode(&request.payload)) {
                let _ = responder.publish(reply, encode(x.wrapping_add(1))).await;
            }
        }
    });
    let requester = runtime.block_on(async_nats::connect(&url)).expect("the requester connects to NATS");
    let mut raw_call = || {
        let answer =
            runtime.block_on(requester.request(RAW_SUBJECT, encode(black_box(1)))).expect("a raw request answered");
        black_box(decode(&answer.payload).expect("a u32"));
    };
    // wasm-link's clients: trees whose callee is remote, on NATS and on TCP.
    let nats_get = remote_head(&engine, wasm_link::Remote::new([url.as_str()]).prefix(PREFIX));
    let nats_get = nats_get.typed::<(u32,), (u32,)>("get").expect("`get`");
    let mut nats_call = || {
        black_box(only(nats_get.call((black_box(1),))));
    };
    let tcp_get = remote_head(&engine, wasm_link::Remote::new([tcp_address]));
    let tcp_get = tcp_get.typed::<(u32,), (u32,)>("get").expect("`get`");
    let mut tcp_call = || {
        black_box(only(tcp_get.call((black_box(1),))));
    };
    ratios.push(("lattice/nats-vs-raw-async-nats-request".to_owned(), paired(51, 20, &mut raw_call, nats_call)));
    ratios.push(("lattice/nats-vs-tcp-remote-call".to_owned(), paired(51, 20, &mut tcp_call, nats_call)));
    let mut figures = Vec::new();
    for (name, call) in [
        ("raw-async-nats-request", &mut raw_call as &mut dyn FnMut()),
        ("nats-remote-call", &mut nats_call),
        ("tcp-remote-call", &mut tcp_call),
    ] {
        let per_call = median_seconds(51, || (0..20).for_each(|_| call())) / 20.0;
        figures.push((format!("lattice/{name}-ns"), per_call * 1e9));
    }
    let raw_rate = median_rate(|| rate(16, || (), |()| raw_call()));
    figures.push(("lattice/raw-async-nats-calls-per-s-16-callers".to_owned(), raw_rate));

    // Scale-out: one client tree, the callee served by 1, 2, 4 processes.
    let far = remote_head(&engine, wasm_link::Remote::new([url.as_str()]));
    let get = far.typed::<(u32,), (u32,)>("get").expect("`get`");
    let call = || {
        black_box(only(get.call((black_box(1),))));
    };
    let nats_pids = children_named("nats-server");
    for n in [1usize, 2, 4] {
        let servers = Servers::start(n, &url);
        // Warm: the client connected, every server reached.
        for _ in 0..200 {
            call();
        }
        let callers: &[usize] = if n == 1 { &[1, 16] } else { &[16] };
        for &callers in callers {
            let measure = || median_rate(|| rate(callers, || (), |()| call()));
            let (calls, shares) = cpu_shares(&servers.pids(), &nats_pids, measure);
            figures.push((format!("lattice/calls-per-s-{callers}-callers-{n}-servers"), calls));
            if let Some([bench, servers, nats, rest, idle]) = shares.map(|shares| shares.map(|share| share * 100.0)) {
                eprintln!(
                    "lattice: {callers} caller(s), {n} server(s): {calls:.0} calls/s; of the machine's CPU: bench \
                     process {bench:.0}%, servers {servers:.0}%, nats-server {nats:.0}%, others {rest:.0}%, idle {idle:.0}%"
                );
            }
        }
        drop(servers);
    }
    drop(runtime);
    figures
}
