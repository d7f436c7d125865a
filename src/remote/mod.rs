//! Remote plugins: plugs served by another process over wRPC's framed TCP
//! (feature `remote`).
//!
//! - [`serve`]: a loaded tree's root interface, served to other hosts; each
//!   invocation is one `dispatch_async`.
//! - [`Remote`]: a plugin whose plug is served elsewhere. It loads as a
//!   small proxy component (built by `remote::proxy`) whose functions forward each call:
//!   its arguments encoded in wRPC's value encoding (`codec`), sent to a
//!   server, its results decoded. The tree treats it as any plugin.
//!
//! A call to a remote plugin is bounded by its caller's remaining deadline
//! (a socket call spends from its caller's) and by message sizes on both
//! sides; every way the server can fail it (refused, closed mid-call, silent,
//! garbage, a value of the wrong type) is a [`DispatchError::Remote`](crate::DispatchError::Remote)
//! of that call, naming the plugin and the address, and the next call tries
//! again (reconnecting: each invocation is its own connection, as wRPC's TCP
//! transport makes them).
#![doc = include_str!("../../docs/remote.md")]

pub(crate) mod codec;
mod nats;
pub(crate) mod proxy;
mod serve;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncReadExt as _;
use wasmtime::component::{Component, Val};
use wrpc_transport::Invoke as _;

pub use serve::{ServeError, Served, serve, serve_nats};

/// The NATS client [`serve_nats`] takes (re-exported: connect it with the
/// options your NATS deployment needs, credentials and TLS among them).
pub use async_nats;

pub use crate::instance::health::AddressHealth;

use crate::instance::ctx::{Mode, PluginCtx};
use crate::limits::{Clock, TICK};

/// The largest message (a call's arguments or results) a remote call sends
/// or accepts by default: 16 MiB.
pub const DEFAULT_MAX_MESSAGE: usize = 16 << 20;

/// A plugin served by other processes ([`serve`], `wasm-link serve`): the
/// addresses of its servers, tried in turn.
///
/// A directory plugin is remote when its `plugin.toml` says
/// `remote = ["tcp://10.0.0.5:7000"]` (and has no component); a library
/// plugin returns one from [`PluginData::remote`](crate::PluginData::remote)
/// and its component from [`Remote::component`].
///
/// ```
/// let remote = wasm_link::Remote::new(["tcp://127.0.0.1:7000", "tcp://127.0.0.1:7001"]).stateless(true);
/// assert_eq!(remote.addresses().len(), 2);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Remote {
    addresses: Vec<String>,
    stateless: bool,
    max_message: usize,
    prefix: String,
}

impl Remote {
    /// A remote plugin served at `addresses`, the first preferred: servers
    /// over wRPC's framed TCP (`tcp://host:port` or `host:port`), or NATS
    /// servers (`nats://host:port`, with `user:password@` if the server
    /// asks) through which whoever serves the interface on that lattice
    /// takes each call.
    pub fn new<A: Into<String>>(addresses: impl IntoIterator<Item = A>) -> Self {
        Self {
            addresses: addresses.into_iter().map(Into::into).collect(),
            stateless: false,
            max_message: DEFAULT_MAX_MESSAGE,
            prefix: String::new(),
        }
    }

    /// The lattice's subject prefix on NATS (none by default): calls are
    /// published on `{prefix}.wrpc.0.0.1.{interface}.{function}`, and only
    /// servers started with the same prefix (`wasm-link serve --nats URL
    /// --prefix P`, [`serve_nats`]) take them. Lattices sharing a NATS
    /// server stay apart this way.
    ///
    /// ```
    /// let remote = wasm_link::Remote::new(["nats://127.0.0.1:4222"]).prefix("staging");
    /// assert_eq!(remote.subject_prefix(), "staging");
    /// ```
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The lattice's subject prefix on NATS, as given (empty for none).
    #[must_use]
    pub fn subject_prefix(&self) -> &str {
        &self.prefix
    }

    /// Declares that the servers keep no state between calls: calls are
    /// spread round-robin over the healthy ones. Otherwise every call goes
    /// to the first healthy server, the others standing by.
    #[must_use]
    pub fn stateless(mut self, stateless: bool) -> Self {
        self.stateless = stateless;
        self
    }

    /// The largest message sent or accepted ([`DEFAULT_MAX_MESSAGE`] by default).
    #[must_use]
    pub fn max_message(mut self, bytes: usize) -> Self {
        self.max_message = bytes;
        self
    }

    /// The servers' addresses, as given.
    #[must_use]
    pub fn addresses(&self) -> &[String] {
        &self.addresses
    }

    /// The proxy component for a remote plugin plugging into `interface`:
    /// it exports the interface, each function forwarding to the servers.
    ///
    /// # Errors
    /// A function of the interface takes or returns a resource, a future or
    /// a stream, which cannot cross the wire: [`RemoteError::Unsupported`]
    /// names it. Or the component does not compile.
    #[cfg(feature = "wit")]
    pub fn component(
        &self,
        engine: &wasmtime::Engine,
        interface: &crate::WitInterface,
    ) -> Result<Component, RemoteError> {
        let resolve = interface.resolve();
        let id = interface.interface_id();
        let name = resolve.id_of(id).unwrap_or_default();
        let wat = proxy::component_wat(resolve, id, &name)
            .map_err(|refused| RemoteError::Unsupported { function: refused.function, reason: refused.reason })?;
        Component::new(engine, wat).map_err(|e| RemoteError::Proxy(crate::WasmError::new(e)))
    }
}

/// Why a remote plugin cannot load.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteError {
    /// A function's signature cannot cross the wire.
    #[error("function `{function}` cannot be called remotely: {reason}")]
    Unsupported {
        /// The function.
        function: String,
        /// Why.
        reason: String,
    },
    /// The proxy component did not compile.
    #[error("the remote proxy does not compile")]
    Proxy(#[source] crate::WasmError),
    /// A remote plugin lists no address.
    #[error("a remote plugin needs at least one address")]
    NoAddress,
}

/// A failure of one remote call, carried through wasmtime as the proxy's
/// host function error and turned into
/// [`DispatchError::Remote`](crate::DispatchError::Remote) by the call path.
#[derive(Debug, Clone, thiserror::Error)]
#[error("remote `{address}`: {reason}")]
pub(crate) struct RemoteFailure {
    pub(crate) address: String,
    pub(crate) reason: String,
    /// The call ran out of its deadline waiting for the answer.
    pub(crate) timed_out: bool,
}

/// How long connecting to one server may take before the next is tried:
/// a host that drops the connection attempt must not cost the call its
/// whole deadline.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

struct Server {
    address: String,
    transport: Transport,
    calls: AtomicU64,
    failures: AtomicU64,
    /// Whether its last call failed.
    down: std::sync::atomic::AtomicBool,
    last_error: Mutex<Option<String>>,
}

/// How a server is reached.
enum Transport {
    /// wRPC's framed TCP: `tokio` connects to the address without `tcp://`,
    /// one connection per call.
    Tcp(String),
    /// A NATS lattice: whoever serves the interface there takes the call.
    Nats(nats::Endpoint),
}

/// How one attempt at a server went wrong.
enum Attempt {
    /// The call never reached a server (refused, no responders): the next
    /// server is tried.
    Unreachable(String),
    /// The call was sent and failed: it may have run there.
    Failed { reason: String, timed_out: bool },
}

/// The live side of a [`Remote`]: its servers and their health, shared by
/// the proxy's forwarders (across re-instantiations) and the plugin's slot.
pub(crate) struct Client {
    servers: Vec<Server>,
    stateless: bool,
    max_message: usize,
    next: AtomicUsize,
}

impl Client {
    pub(crate) fn new(remote: &Remote) -> Result<Arc<Self>, RemoteError> {
        if remote.addresses.is_empty() {
            return Err(RemoteError::NoAddress);
        }
        let servers = remote
            .addresses
            .iter()
            .map(|address| Server {
                address: address.clone(),
                transport: if address.starts_with("nats://") {
                    Transport::Nats(nats::Endpoint::new(address, &remote.prefix))
                } else {
                    Transport::Tcp(address.strip_prefix("tcp://").unwrap_or(address).to_owned())
                },
                calls: AtomicU64::new(0),
                failures: AtomicU64::new(0),
                down: std::sync::atomic::AtomicBool::new(false),
                last_error: Mutex::new(None),
            })
            .collect();
        Ok(Arc::new(Self {
            servers,
            stateless: remote.stateless,
            max_message: remote.max_message,
            next: AtomicUsize::new(0),
        }))
    }

    pub(crate) fn health(&self) -> Vec<AddressHealth> {
        self.servers
            .iter()
            .map(|server| AddressHealth {
                address: server.address.clone(),
                calls: server.calls.load(Ordering::Relaxed),
                failures: server.failures.load(Ordering::Relaxed),
                healthy: !server.down.load(Ordering::Relaxed),
                last_error: server.last_error.lock().unwrap_or_else(PoisonError::into_inner).clone(),
            })
            .collect()
    }

    /// The order to try the servers in: healthy ones first, from the next in
    /// turn (stateless) or from the first.
    fn order(&self) -> Vec<usize> {
        let n = self.servers.len();
        let start = if self.stateless { self.next.fetch_add(1, Ordering::Relaxed) % n } else { 0 };
        let mut order: Vec<usize> = (0..n).map(|i| (start + i) % n).collect();
        order.sort_by_key(|&i| self.servers[i].down.load(Ordering::Relaxed));
        order
    }

    /// One call: to the first server that takes it, within `timeout`. A
    /// server that refuses the connection (TCP) or that nobody answers for
    /// (NATS "no responders") is marked down and the next one tried; once
    /// the call is taken, its failure is the call's (it may have run
    /// there), and the server stays as it was (a failed call and a crashed
    /// server look alike until the next call).
    async fn call(&self, call: &Call<'_>, timeout: Duration) -> Result<Vec<Val>, RemoteFailure> {
        let started = Instant::now();
        let mut last = None;
        for index in self.order() {
            let server = &self.servers[index];
            let left = timeout.saturating_sub(started.elapsed());
            if left.is_zero() {
                break;
            }
            server.calls.fetch_add(1, Ordering::Relaxed);
            let attempt = match &server.transport {
                Transport::Tcp(target) => self.call_tcp(target, call, left).await,
                Transport::Nats(endpoint) => {
                    let sent = endpoint.call(call, left, self.max_message);
                    match tokio::time::timeout(left, sent).await {
                        Ok(Ok(values)) => Ok(values),
                        Ok(Err(nats::Failure::Unreachable(reason))) => Err(Attempt::Unreachable(reason)),
                        Ok(Err(nats::Failure::Failed { reason, timed_out })) => {
                            Err(Attempt::Failed { reason, timed_out })
                        }
                        Err(_) => {
                            Err(Attempt::Failed { reason: format!("no answer within {timeout:?}"), timed_out: true })
                        }
                    }
                }
            };
            match attempt {
                Ok(values) => {
                    server.down.store(false, Ordering::Relaxed);
                    return Ok(values);
                }
                Err(Attempt::Failed { reason, timed_out }) => {
                    server.failed(&reason, false);
                    return Err(RemoteFailure { address: server.address.clone(), reason, timed_out });
                }
                Err(Attempt::Unreachable(reason)) => {
                    server.failed(&reason, true);
                    last = Some(RemoteFailure { address: server.address.clone(), reason, timed_out: false });
                }
            }
        }
        Err(last.unwrap_or_else(|| RemoteFailure {
            address: String::new(),
            reason: format!("no server could be tried within {timeout:?}"),
            timed_out: true,
        }))
    }

    /// One attempt over wRPC's framed TCP: a connection of its own.
    async fn call_tcp(&self, target: &str, call: &Call<'_>, left: Duration) -> Result<Vec<Val>, Attempt> {
        let paths: &[&[Option<usize>]] = &[];
        let client = wrpc_transport::tcp::Client::from(target);
        let connect = client.invoke((), call.instance, call.function, call.params.clone(), paths);
        match tokio::time::timeout(left.min(CONNECT_TIMEOUT), connect).await {
            Ok(Ok((outgoing, incoming))) => {
                match tokio::time::timeout(left, self.answer(outgoing, incoming, call.results)).await {
                    Ok(Ok(values)) => Ok(values),
                    Ok(Err(reason)) => Err(Attempt::Failed { reason, timed_out: false }),
                    Err(_) => Err(Attempt::Failed { reason: format!("no answer within {left:?}"), timed_out: true }),
                }
            }
            Ok(Err(error)) => Err(Attempt::Unreachable(format!("cannot call: {error:#}"))),
            Err(_) => Err(Attempt::Unreachable(format!("no connection within {:?}", left.min(CONNECT_TIMEOUT)))),
        }
    }

    /// The answer to a call sent: its results, once whole.
    async fn answer(
        &self,
        mut outgoing: wrpc_transport::frame::Outgoing,
        mut incoming: wrpc_transport::frame::Incoming,
        results: &[wasmtime::component::Type],
    ) -> Result<Vec<Val>, String> {
        tokio::io::AsyncWriteExt::shutdown(&mut outgoing).await.map_err(|e| format!("cannot finish the call: {e}"))?;
        read_values(&mut incoming, results, self.max_message, None).await
    }
}

/// One remote call, as every transport sends it.
pub(crate) struct Call<'a> {
    pub(crate) instance: &'a str,
    pub(crate) function: &'a str,
    pub(crate) params: Bytes,
    pub(crate) results: &'a [wasmtime::component::Type],
    /// The id the calling host gives the remote plugin.
    pub(crate) caller: &'a str,
    /// The W3C `traceparent` of the remote plugin's call (feature `otel`),
    /// sent where the transport has room for it (NATS).
    pub(crate) traceparent: Option<String>,
}

impl Server {
    /// Counts a failed call; `down` when the server could not be reached.
    fn failed(&self, reason: &str, down: bool) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        if down {
            self.down.store(true, Ordering::Relaxed);
        }
        *self.last_error.lock().unwrap_or_else(PoisonError::into_inner) = Some(reason.to_owned());
        tracing::warn!(address = %self.address, %reason, "remote call failed");
    }
}

/// Reads one value of each of `types` from `reader`, as they arrive: wRPC
/// ends neither the arguments nor the results, so a message is over when
/// its values are whole. At most `limit` bytes are read.
pub(crate) async fn read_values(
    reader: &mut (impl tokio::io::AsyncRead + Unpin),
    types: &[wasmtime::component::Type],
    limit: usize,
    large: Option<&tokio::sync::Semaphore>,
) -> Result<Vec<Val>, String> {
    /// Past this size a message waits for one of the `large` permits.
    const LARGE: usize = 1 << 20;
    /// How long the peer must stay silent before a message that did not
    /// grow much is tried again.
    const QUIET: Duration = Duration::from_millis(1);
    let mut permit = None;
    let mut buffer = Vec::with_capacity(256);
    // The length the message was last tried at, and whether the peer has
    // been quiet since.
    let mut tried: Option<usize> = None;
    let mut quiet = false;
    loop {
        let len = buffer.len();
        // Decoding starts over at every try: try when the message grew by an
        // eighth, or the peer paused, never at every byte a trickling peer
        // sends (that would cost the square of the message's length).
        let grown = tried.is_none_or(|at| len - at >= (at / 8).max(1));
        if grown || (quiet && tried != Some(len)) {
            tried = Some(len);
            match codec::decode_prefix(types, &buffer) {
                Ok(Some((values, used))) if used == len => return Ok(values),
                Ok(Some((_, used))) => return Err(format!("{} byte(s) follow the values", len - used)),
                Ok(None) => {}
                Err(error) => return Err(format!("the message does not decode: {error}")),
            }
        }
        quiet = false;
        // Room for what may come, within the limit: read straight into the
        // message, no zeroed scratch buffer per call.
        if buffer.capacity() == buffer.len() {
            buffer.reserve(buffer.len().clamp(256, 64 * 1024));
        }
        let read = if tried == Some(buffer.len()) {
            reader.read_buf(&mut buffer).await
        } else {
            let Ok(read) = tokio::time::timeout(QUIET, reader.read_buf(&mut buffer)).await else {
                quiet = true;
                continue;
            };
            read
        };
        let read = read.map_err(|e| format!("the message broke off: {e}"))?;
        if read == 0 {
            if tried != Some(buffer.len()) {
                quiet = true;
                continue;
            }
            return Err(if buffer.is_empty() {
                "the connection closed without a message (the call failed there, or the server stopped)".to_owned()
            } else {
                "the connection closed inside a message".to_owned()
            });
        }
        if buffer.len() > limit {
            return Err(format!("the message exceeds {limit} bytes"));
        }
        // Many peers may each send up to `limit` bytes at once: past `LARGE`,
        // only as many messages grow as there are permits.
        if permit.is_none()
            && buffer.len() > LARGE
            && let Some(large) = large
        {
            permit = Some(large.acquire().await.map_err(|_| "the server is stopping".to_owned())?);
        }
    }
}

/// The runtime remote calls run on, whatever the caller runs on: a blocking
/// `dispatch` waits for it on its own thread, an async one awaits it.
fn runtime() -> Option<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<Option<tokio::runtime::Runtime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            // As many workers as cores: at many callers, the client side of
            // every call runs here (one worker measured 0.63x of raw wRPC's
            // rate at 16 callers).
            let workers = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers)
                .thread_name("wasm-link-remote")
                .enable_io()
                .enable_time()
                .build()
                .ok()
        })
        .as_ref()
}

/// The W3C `traceparent` of the call a forwarder runs in (feature `otel`).
#[allow(clippy::unnecessary_wraps, reason = "always `None` without feature `otel`")]
fn traceparent(call: &crate::instance::ctx::CallState) -> Option<String> {
    #[cfg(feature = "otel")]
    return crate::trace::traceparent(&call.span);
    #[cfg(not(feature = "otel"))]
    {
        let _ = call;
        None
    }
}

/// What a forwarder needs: the client, the interface's instance name on
/// the wire, and the clock a call's remaining deadline is read from.
pub(crate) struct Forwarder {
    pub(crate) client: Arc<Client>,
    pub(crate) instance: Arc<str>,
    pub(crate) clock: Option<Arc<Clock>>,
    pub(crate) mode: Mode,
    /// The remote plugin's id in this tree, sent along with each call
    /// where the transport has room for it (NATS).
    pub(crate) caller: Arc<str>,
}

impl Forwarder {
    /// Defines each of `functions` in `linker`'s proxy instance.
    pub(crate) fn define<P: Send + 'static>(
        self: &Arc<Self>,
        linker: &mut wasmtime::component::Linker<PluginCtx<P>>,
        functions: &[String],
    ) -> wasmtime::Result<()> {
        let mut instance = linker.instance(proxy::FORWARD)?;
        for function in functions {
            let name: Arc<str> = function.as_str().into();
            let forwarder = self.clone();
            match self.mode {
                Mode::Sync => instance.func_new(function, move |store, ty, params: &[Val], results: &mut [Val]| {
                    let timeout = forwarder.remaining(&store.data().call);
                    let traceparent = traceparent(&store.data().call);
                    let request = forwarder.request(&ty, params)?;
                    let call =
                        forwarder.clone().call(name.clone(), request, ty.results().collect(), timeout, traceparent);
                    let runtime = runtime().ok_or_else(|| wasmtime::format_err!("no runtime for remote calls"))?;
                    let answer = if tokio::runtime::Handle::try_current().is_err() {
                        // A plain thread drives the call itself: no hand-off
                        // to a worker and back (two wake-ups, about a sixth
                        // of a loopback call here).
                        runtime.block_on(call)
                    } else {
                        // Inside some runtime's task, where blocking on
                        // another runtime is refused: a worker makes the call.
                        let (send, receive) = std::sync::mpsc::channel();
                        runtime.spawn(async move {
                            let _ = send.send(call.await);
                        });
                        receive.recv().map_err(|_| wasmtime::format_err!("the remote call was dropped"))?
                    };
                    Self::deliver(answer?, results);
                    Ok(())
                })?,
                Mode::Async => {
                    // Dropped with a dropped `dispatch_async`, the future
                    // aborts the call on the remote runtime too.
                    instance.func_new_async(function, move |store, ty, params: &[Val], results: &mut [Val]| {
                        let forwarder = forwarder.clone();
                        let name = name.clone();
                        let timeout = forwarder.remaining(&store.data().call);
                        let traceparent = traceparent(&store.data().call);
                        let request = forwarder.request(&ty, params);
                        Box::new(async move {
                            let request = request?;
                            let runtime =
                                runtime().ok_or_else(|| wasmtime::format_err!("no runtime for remote calls"))?;
                            let task = runtime.spawn(forwarder.clone().call(
                                name,
                                request,
                                ty.results().collect(),
                                timeout,
                                traceparent,
                            ));
                            let answer = tokio_util::task::AbortOnDropHandle::new(task)
                                .await
                                .map_err(|_| wasmtime::format_err!("the remote call was dropped"))?;
                            Self::deliver(answer?, results);
                            Ok(())
                        })
                    })?;
                }
            }
        }
        Ok(())
    }

    /// What is left of the call's deadline (its own or its caller's).
    fn remaining(&self, call: &crate::instance::ctx::CallState) -> Duration {
        match (&self.clock, call.ends) {
            (Some(clock), ends) if ends != u64::MAX => {
                TICK.saturating_mul(u32::try_from(ends.saturating_sub(clock.now())).unwrap_or(u32::MAX))
            }
            _ => call.deadline,
        }
    }

    fn request(&self, ty: &wasmtime::component::types::ComponentFunc, params: &[Val]) -> wasmtime::Result<Bytes> {
        let types: Vec<_> = ty.params().map(|(_, ty)| ty).collect();
        let mut buffer = BytesMut::new();
        codec::encode_all(params, &types, &mut buffer)
            .map_err(|e| wasmtime::format_err!("cannot encode the arguments: {e}"))?;
        if buffer.len() > self.client.max_message {
            return Err(wasmtime::format_err!("the arguments exceed {} bytes", self.client.max_message));
        }
        Ok(buffer.freeze())
    }

    async fn call(
        self: Arc<Self>,
        function: Arc<str>,
        params: Bytes,
        results: Vec<wasmtime::component::Type>,
        timeout: Duration,
        traceparent: Option<String>,
    ) -> Result<Vec<Val>, RemoteFailure> {
        let call = Call {
            instance: &self.instance,
            function: &function,
            params,
            results: &results,
            caller: &self.caller,
            traceparent,
        };
        self.client.call(&call, timeout).await
    }

    fn deliver(values: Vec<Val>, results: &mut [Val]) {
        for (slot, value) in results.iter_mut().zip(values) {
            *slot = value;
        }
    }
}
