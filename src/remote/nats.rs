//! Remote calls over a NATS lattice, by wRPC's NATS conventions (those of
//! `wrpc-transport-nats`, written here on `async-nats`: that crate's 0.31
//! pins an older `wrpc-transport` than this crate's).
//!
//! One invocation, as wRPC lays it out:
//! 1. the client publishes the arguments on
//!    `{prefix}.wrpc.0.0.1.{instance}.{function}`, with a reply subject of
//!    its own inbox (`rx`); whoever serves the function listens there in a
//!    queue group, so NATS gives each call to one of them;
//! 2. the server answers the handshake on `rx` with a reply subject of its
//!    own (`srx`); arguments too large for one message continue on
//!    `srx.params`, ended by an empty message;
//! 3. the server publishes the results on `rx.results`, ended by an empty
//!    message — sent once the call is over, so a void function is awaited
//!    for completion too.
//!
//! On top of wRPC: the caller's remaining deadline and its id travel as
//! headers ([`DEADLINE`], [`CALLER`]), and a call that fails on the server is
//! answered by one message on `rx.results` with an [`ERROR`] header (its
//! kind) and the reason as payload, where wRPC would leave the caller
//! waiting. NATS itself answers "no responders" on `rx` when nobody serves
//! the subject.
//!
//! Each process keeps one subscription per connection, to `{inbox}.>`, and
//! routes what arrives there to the call it belongs to ([`Connection`]), as
//! `async-nats`'s own request/reply does: a call costs no SUB/UNSUB.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_nats::{HeaderMap, Message, StatusCode};
use bytes::Bytes;
use futures_util::StreamExt as _;
use tokio::sync::{mpsc, oneshot};
use wasmtime::component::{Type, Val};

use super::codec;

/// The protocol token of wRPC's NATS subjects.
const PROTOCOL: &str = "wrpc.0.0.1";

/// Header: the caller's remaining deadline, in milliseconds. The server runs
/// the call within it (and within its own limits).
pub(crate) const DEADLINE: &str = "Wasm-Link-Deadline-Ms";
/// Header: the id the calling host gives the remote plugin, for the
/// server's logs.
pub(crate) const CALLER: &str = "Wasm-Link-Caller";
/// Header: the W3C trace context of the caller's span (feature `otel`),
/// so the server's spans join the caller's trace.
pub(crate) const TRACEPARENT: &str = "traceparent";
/// Header of a failure's answer: its kind ([`Refusal`]).
pub(crate) const ERROR: &str = "Wasm-Link-Error";

/// The queue group servers of one subject join: NATS hands each call to one
/// member.
pub(crate) const QUEUE_GROUP: &str = "wasm-link";

/// Room left in a message for its headers and subjects.
const HEADROOM: usize = 4096;

/// The subject an invocation of `function` of `instance` is published on.
pub(crate) fn invocation_subject(prefix: &str, instance: &str, function: &str) -> String {
    if prefix.is_empty() {
        format!("{PROTOCOL}.{instance}.{function}")
    } else {
        format!("{prefix}.{PROTOCOL}.{instance}.{function}")
    }
}

/// Why a server answered a call with a failure (the [`ERROR`] header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The caller's deadline passed while the call ran there.
    Deadline,
    /// The call failed there (a trap, a budget, a plugin unavailable).
    Failed,
    /// The call could not be run (unusable arguments, nothing serving the
    /// interface, a result too large).
    Refused,
}

impl Refusal {
    fn as_str(self) -> &'static str {
        match self {
            Self::Deadline => "deadline",
            Self::Failed => "failed",
            Self::Refused => "refused",
        }
    }
}

/// How one call over NATS went wrong.
pub(crate) enum Failure {
    /// Nobody got the call (no responders, no connection): the next server
    /// may be tried, nothing ran.
    Unreachable(String),
    /// The call was taken and failed: it may have run.
    Failed { reason: String, timed_out: bool },
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

type Routes = Arc<Mutex<HashMap<u64, mpsc::UnboundedSender<Message>>>>;

/// A NATS connection with one inbox subscription whose messages are routed
/// to the call (or served invocation) they belong to. Dropping it ends the
/// subscription.
pub(crate) struct Connection {
    pub(crate) nats: async_nats::Client,
    inbox: String,
    next: AtomicU64,
    routes: Routes,
    _stop: oneshot::Sender<()>,
}

impl Connection {
    /// Subscribes to `nats`'s inbox and routes from it, on the current runtime.
    pub(crate) async fn new(nats: async_nats::Client) -> Result<Self, String> {
        let inbox = nats.new_inbox();
        let subscription =
            nats.subscribe(format!("{inbox}.>")).await.map_err(|e| format!("cannot subscribe to an inbox: {e}"))?;
        let routes = Routes::default();
        let (stop, stopped) = oneshot::channel::<()>();
        let (table, skip) = (routes.clone(), inbox.len() + 1);
        tokio::spawn(async move {
            let mut messages = std::pin::pin!(subscription.take_until(stopped));
            while let Some(message) = messages.next().await {
                let id = message.subject.get(skip..).and_then(|rest| rest.split('.').next()?.parse::<u64>().ok());
                if let Some(route) = id.and_then(|id| lock(&table).get(&id).cloned()) {
                    let _ = route.send(message);
                }
            }
        });
        Ok(Self { nats, inbox, next: AtomicU64::new(0), routes, _stop: stop })
    }

    /// A subject of this connection's inbox and the messages sent to it (or
    /// below it), until the route is dropped.
    fn route(&self) -> Route<'_> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (send, messages) = mpsc::unbounded_channel();
        lock(&self.routes).insert(id, send);
        Route { connection: self, id, subject: format!("{}.{id}", self.inbox), messages }
    }

    /// Waits until the NATS server has taken everything this connection sent
    /// before (subscriptions among them): a message sent to itself comes
    /// back. (`async-nats`'s `flush` only writes the socket.) Gives up
    /// after `wait`, for a connection made with `no_echo`.
    pub(crate) async fn settled(&self, wait: Duration) -> bool {
        let mut route = self.route();
        if self.nats.publish(route.subject.clone(), Bytes::new()).await.is_err() {
            return false;
        }
        matches!(tokio::time::timeout(wait, route.messages.recv()).await, Ok(Some(_)))
    }

    /// The largest payload of one message, less room for headers.
    fn chunk(&self) -> usize {
        self.nats.server_info().max_payload.saturating_sub(HEADROOM).max(1024)
    }

    /// Publishes `payload` on `subject` in messages the server takes, then
    /// the empty message that ends a stream.
    async fn publish_stream(&self, subject: &str, payload: Bytes) -> Result<(), async_nats::PublishError> {
        let chunk = self.chunk();
        let mut rest = payload;
        while !rest.is_empty() {
            let part = rest.split_to(rest.len().min(chunk));
            self.nats.publish(subject.to_owned(), part).await?;
        }
        self.nats.publish(subject.to_owned(), Bytes::new()).await
    }

    /// One call: `params` published on `subject`, its results read back,
    /// whole, as `results`. Not bounded in time: the caller bounds it.
    pub(crate) async fn call(
        &self,
        subject: String,
        mut params: Bytes,
        headers: HeaderMap,
        results: &[Type],
        max_message: usize,
    ) -> Result<Vec<Val>, Failure> {
        let failed = |reason: String| Failure::Failed { reason, timed_out: false };
        let mut route = self.route();
        let first = params.split_to(params.len().min(self.chunk()));
        self.nats
            .publish_with_reply_and_headers(subject.clone(), route.subject.clone(), headers, first)
            .await
            .map_err(|e| Failure::Unreachable(format!("cannot publish the call: {e}")))?;
        let answers = format!("{}.results", route.subject);
        let mut rest = Some(params);
        let mut buffer: Vec<u8> = Vec::new();
        while let Some(message) = route.messages.recv().await {
            if message.subject.as_str() != answers {
                // The handshake, or NATS's own answer in its place.
                match message.status {
                    Some(StatusCode::NO_RESPONDERS) => {
                        return Err(Failure::Unreachable(format!("no server serves `{subject}` (no responders)")));
                    }
                    Some(code) if !code.is_success() => {
                        return Err(failed(format!(
                            "NATS answered {code}{}",
                            message.description.map(|d| format!(" ({d})")).unwrap_or_default()
                        )));
                    }
                    _ => {}
                }
                if let (Some(server), Some(rest)) = (message.reply, rest.take()) {
                    self.publish_stream(&format!("{server}.params"), rest)
                        .await
                        .map_err(|e| failed(format!("cannot send the arguments: {e}")))?;
                }
                continue;
            }
            if let Some(kind) = message.headers.as_ref().and_then(|headers| headers.get(ERROR)) {
                let reason = String::from_utf8_lossy(&message.payload);
                return Err(Failure::Failed {
                    reason: format!("the server: {reason}"),
                    timed_out: kind.as_str() == Refusal::Deadline.as_str(),
                });
            }
            if message.payload.is_empty() {
                // The end of the results: the call is over there.
                return if results.is_empty() && buffer.is_empty() {
                    Ok(Vec::new())
                } else if buffer.is_empty() {
                    Err(failed("the server ended the call without a result".to_owned()))
                } else {
                    Err(failed("the results ended inside a value".to_owned()))
                };
            }
            buffer.extend_from_slice(&message.payload);
            if buffer.len() > max_message {
                return Err(failed(format!("the results exceed {max_message} bytes")));
            }
            if results.is_empty() {
                return Err(failed("a result came from a function that returns none".to_owned()));
            }
            match codec::decode_prefix(results, &buffer) {
                Ok(Some((values, used))) if used == buffer.len() => return Ok(values),
                Ok(Some((_, used))) => {
                    return Err(failed(format!("{} byte(s) follow the values", buffer.len() - used)));
                }
                Ok(None) => {}
                Err(error) => return Err(failed(format!("the results do not decode: {error}"))),
            }
        }
        Err(Failure::Unreachable("the connection to NATS closed".to_owned()))
    }
}

/// A subject of a connection's inbox, routed to `messages` until dropped.
struct Route<'a> {
    connection: &'a Connection,
    id: u64,
    subject: String,
    messages: mpsc::UnboundedReceiver<Message>,
}

impl Drop for Route<'_> {
    fn drop(&mut self) {
        lock(&self.connection.routes).remove(&self.id);
    }
}

/// A NATS server a remote plugin calls through: connected on its first
/// call, then kept (`async-nats` reconnects it when the server comes back).
pub(crate) struct Endpoint {
    url: String,
    prefix: String,
    connection: tokio::sync::Mutex<Option<Arc<Connection>>>,
}

impl Endpoint {
    pub(crate) fn new(url: &str, prefix: &str) -> Self {
        Self { url: url.to_owned(), prefix: prefix.to_owned(), connection: tokio::sync::Mutex::new(None) }
    }

    /// The connection, made within `timeout` if there is none yet.
    async fn connection(&self, timeout: Duration) -> Result<Arc<Connection>, String> {
        let mut connection = self.connection.lock().await;
        if let Some(connection) = &*connection {
            return Ok(connection.clone());
        }
        let options = async_nats::ConnectOptions::new()
            .name("wasm-link")
            .connection_timeout(timeout)
            // Back within a second of the server, not the default's four.
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis(50u64.saturating_mul(attempts as u64).min(1000))
            });
        let nats = tokio::time::timeout(timeout, options.connect(self.url.as_str()))
            .await
            .map_err(|_| format!("no connection to NATS within {timeout:?}"))?
            .map_err(|e| format!("cannot connect to NATS: {e}"))?;
        let made = Arc::new(Connection::new(nats).await?);
        *connection = Some(made.clone());
        Ok(made)
    }

    /// One call within `timeout`.
    pub(crate) async fn call(
        &self,
        call: &super::Call<'_>,
        timeout: Duration,
        max_message: usize,
    ) -> Result<Vec<Val>, Failure> {
        let connection = self.connection(timeout.min(super::CONNECT_TIMEOUT)).await.map_err(Failure::Unreachable)?;
        let mut headers = HeaderMap::new();
        headers.insert(DEADLINE, timeout.as_millis().to_string());
        headers.insert(CALLER, call.caller);
        if let Some(traceparent) = &call.traceparent {
            headers.insert(TRACEPARENT, traceparent.as_str());
        }
        let subject = invocation_subject(&self.prefix, call.instance, call.function);
        connection.call(subject, call.params.clone(), headers, call.results, max_message).await
    }
}

/// What a served invocation carries besides its arguments.
pub(crate) struct Invocation {
    /// Where the answer goes (the caller's inbox).
    pub(crate) reply: String,
    /// The caller's remaining deadline, when it sent one.
    pub(crate) deadline: Option<Duration>,
    /// The caller's id, when it sent one.
    pub(crate) caller: String,
    /// The caller's W3C trace context, when it sent one (feature `otel`).
    #[cfg(feature = "otel")]
    pub(crate) traceparent: Option<String>,
}

impl Invocation {
    pub(crate) fn of(message: &Message) -> Option<Self> {
        let reply = message.reply.as_ref()?.to_string();
        let header = |name: &str| {
            message.headers.as_ref().and_then(|headers| headers.get(name)).map(async_nats::HeaderValue::as_str)
        };
        let deadline = header(DEADLINE).and_then(|ms| ms.parse::<u64>().ok()).map(Duration::from_millis);
        let caller = header(CALLER).unwrap_or_default().to_owned();
        Some(Self {
            reply,
            deadline,
            caller,
            #[cfg(feature = "otel")]
            traceparent: header(TRACEPARENT).map(str::to_owned),
        })
    }
}

impl Connection {
    /// The server's side of one invocation: the handshake answered, the
    /// arguments read whole (from `message` and what follows on the
    /// handshake's subject, within `wait` and `limit` bytes) as `types`.
    /// Past 1 MiB, arguments grow only with one of the `large` permits.
    pub(crate) async fn arguments(
        &self,
        invocation: &Invocation,
        message: Message,
        types: &[Type],
        limit: usize,
        wait: Duration,
        large: &tokio::sync::Semaphore,
    ) -> Result<Vec<Val>, String> {
        let mut route = self.route();
        self.nats
            .publish_with_reply(invocation.reply.clone(), route.subject.clone(), Bytes::new())
            .await
            .map_err(|e| format!("cannot answer the handshake: {e}"))?;
        let mut buffer = message.payload.to_vec();
        let mut permit = None;
        let read = async {
            loop {
                match codec::decode_prefix(types, &buffer) {
                    Ok(Some((values, used))) if used == buffer.len() => return Ok(values),
                    Ok(Some((_, used))) => return Err(format!("{} byte(s) follow the values", buffer.len() - used)),
                    Ok(None) => {}
                    Err(error) => return Err(format!("the arguments do not decode: {error}")),
                }
                let Some(more) = route.messages.recv().await else {
                    return Err("the connection to NATS closed".to_owned());
                };
                if more.payload.is_empty() {
                    return Err("the arguments ended inside a value".to_owned());
                }
                if permit.is_none() && buffer.len() + more.payload.len() > 1 << 20 {
                    permit = Some(large.acquire().await.map_err(|_| "the server is stopping".to_owned())?);
                }
                buffer.extend_from_slice(&more.payload);
                if buffer.len() > limit {
                    return Err(format!("the arguments exceed {limit} bytes"));
                }
            }
        };
        tokio::time::timeout(wait, read).await.map_err(|_| format!("the arguments did not come within {wait:?}"))?
    }

    /// Answers an invocation with its encoded results, then the end of them.
    pub(crate) async fn results(&self, invocation: &Invocation, results: Bytes) -> Result<(), String> {
        self.publish_stream(&format!("{}.results", invocation.reply), results)
            .await
            .map_err(|e| format!("cannot send the results: {e}"))
    }

    /// Answers an invocation with a failure.
    pub(crate) async fn refuse(&self, invocation: &Invocation, refusal: Refusal, reason: &str) -> Result<(), String> {
        let mut headers = HeaderMap::new();
        headers.insert(ERROR, refusal.as_str());
        let mut reason = reason.to_owned();
        let room = self.chunk();
        if reason.len() > room {
            let mut end = room;
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            reason.truncate(end);
        }
        self.nats
            .publish_with_headers(format!("{}.results", invocation.reply), headers, Bytes::from(reason))
            .await
            .map_err(|e| format!("cannot send the failure: {e}"))
    }
}
