//! Serving a loaded tree's root interface over wRPC's framed TCP or a NATS
//! lattice: each
//! invocation's arguments decoded by the function's type, dispatched with
//! `dispatch_async`, its result encoded back.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt as _;
use tokio::io::Take;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpListener;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wrpc_transport::Serve as _;
use wrpc_transport::frame::{Incoming, Outgoing};

use super::nats::{Connection, Invocation, QUEUE_GROUP, Refusal, invocation_subject};
use super::{DEFAULT_MAX_MESSAGE, codec};
use crate::{InterfaceCardinality, PluginData, PluginTreeHead, Socket};

/// How long a connection may take to name the function it calls, and then
/// to send its arguments: a peer that connects and stays silent holds a
/// task, not the server.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Why [`serve`] stopped or could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The root's cardinality gives several results per call, which one
    /// wire result cannot carry: serve an `ExactlyOne` or `AtMostOne` root.
    #[error("interface `{interface}` is {}: only an exactly-one or at-most-one interface can be served", .cardinality.in_words())]
    Cardinality {
        /// The root interface's instance name.
        interface: String,
        /// Its cardinality.
        cardinality: InterfaceCardinality,
    },
    /// No function of the root can cross the wire (they all take or return
    /// resources).
    #[error("no function of `{0}` can be served remotely")]
    NothingToServe(String),
    /// The head was loaded for blocking calls ([`PluginTree::load`](crate::PluginTree::load)):
    /// each served call would hold an executor thread for its whole run.
    /// Serve a head loaded with [`load_async`](crate::PluginTree::load_async).
    #[error("serve a tree loaded with `load_async`: calls on a blocking tree would hold the server's threads")]
    NotAsync,
    /// wRPC refused to register a function.
    #[error("cannot serve `{function}`: {reason}")]
    Register {
        /// The function.
        function: String,
        /// wRPC's reason.
        reason: String,
    },
}

/// What a [`serve`] serves: the functions that can cross the wire, and those
/// left out, with why.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Served {
    /// The root's instance name, as clients name it.
    pub instance: String,
    /// The functions served.
    pub functions: Vec<String>,
    /// The functions left out (a resource in their signature).
    pub skipped: Vec<String>,
}

/// The most connections served at once; more wait to be accepted. Each
/// may hold a message of up to [`DEFAULT_MAX_MESSAGE`] bytes while it
/// arrives.
const MAX_CONNECTIONS: usize = 256;

/// The most messages over 1 MiB read at once; the others wait (within the
/// read timeout).
const LARGE_MESSAGES: usize = 8;

/// Each invocation carries the permit its connection was accepted with, and
/// reads at most one message and its header from it.
type Server = wrpc_transport::Server<OwnedSemaphorePermit, BufReader<Take<OwnedReadHalf>>, OwnedWriteHalf>;

/// Serves `head`'s root interface on `listener` until the returned future
/// is dropped: every function whose signature can cross the wire (no
/// resources), each invocation one `dispatch_async`. `head` must come from
/// [`PluginTree::load_async`](crate::PluginTree::load_async). A call that fails is
/// answered by closing its connection without a result (wRPC has no error
/// frame); the client reports it as a failed remote call. Arguments larger
/// than [`DEFAULT_MAX_MESSAGE`] are refused the same way.
///
/// `on_ready` is called once the functions are registered, with what is
/// served, before the first connection is accepted.
///
/// # Errors
/// The root cannot be served: see [`ServeError`]. Once serving, failures
/// of single connections are logged (`tracing`), never returned.
pub async fn serve<P: PluginData>(
    head: Arc<PluginTreeHead<P>>,
    listener: TcpListener,
    on_ready: impl FnOnce(&Served),
) -> Result<(), ServeError> {
    let served = servable(&head)?;
    let instance = served.instance.clone();
    let wrpc = Arc::new(Server::default());
    // Messages over 1 MiB grow a few at a time: 256 peers each sending the
    // largest message at once would otherwise hold 256 × 16 MiB (twice,
    // while decoding).
    let large = Arc::new(Semaphore::new(LARGE_MESSAGES));
    for function in &served.functions {
        let paths: Arc<[Box<[Option<usize>]>]> = Arc::from(Vec::new());
        let invocations = wrpc
            .serve(&instance, function, paths)
            .await
            .map_err(|e| ServeError::Register { function: function.clone(), reason: format!("{e:#}") })?;
        let (head, function, large) = (head.clone(), Arc::<str>::from(function.as_str()), large.clone());
        tokio::spawn(async move {
            let mut invocations = std::pin::pin!(invocations);
            while let Some(invocation) = invocations.next().await {
                let Ok((permit, outgoing, incoming)) = invocation else { continue };
                let (head, function) = (head.clone(), function.clone());
                let large = large.clone();
                tokio::spawn(async move {
                    answer(&head, &function, outgoing, incoming, &large).await;
                    drop(permit);
                });
            }
        });
    }
    on_ready(&served);
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let header = u64::try_from(DEFAULT_MAX_MESSAGE).unwrap_or(u64::MAX).saturating_add(64 * 1024);
    loop {
        // At most `MAX_CONNECTIONS` at once: a crowd of slow peers waits in
        // the listen queue instead of holding memory here.
        let Ok(permit) = permits.clone().acquire_owned().await else { return Ok(()) };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Out of descriptors, a connection reset before accept: the
                // next accept may work.
                tracing::warn!(%error, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let wrpc = wrpc.clone();
        tokio::spawn(async move {
            let (rx, tx) = stream.into_split();
            // One message and its header, no more, from this connection.
            let rx = BufReader::new(rx.take(header));
            match tokio::time::timeout(READ_TIMEOUT, wrpc.accept(permit, tx, rx)).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::info!(%error, "refused an invocation"),
                Err(_) => tracing::info!("a connection named no function in time"),
            }
        });
    }
}

/// Answers one invocation of `function`.
async fn answer<P: PluginData>(
    head: &PluginTreeHead<P>,
    function: &str,
    mut outgoing: Outgoing,
    incoming: Incoming,
    large: &Semaphore,
) {
    let Some(ty) = head.function_type(function) else { return };
    let mut incoming = incoming;
    let types: Vec<_> = ty.params().map(|(_, ty)| ty).collect();
    let read =
        tokio::time::timeout(READ_TIMEOUT, super::read_values(&mut incoming, &types, DEFAULT_MAX_MESSAGE, Some(large)))
            .await;
    let args = match read {
        Ok(Ok(args)) => args,
        Ok(Err(reason)) => {
            tracing::info!(function, %reason, "an invocation's arguments are unusable");
            return;
        }
        Err(_) => {
            tracing::info!(function, "an invocation's arguments did not come in time");
            return;
        }
    };
    let answer = match run(head, function, &args, None).await {
        Ok(answer) => answer,
        Err((_, reason)) => {
            tracing::info!(function, %reason, "a served call failed");
            return;
        }
    };
    // A client that stops reading holds the answer no longer than this.
    let write = async {
        outgoing.write_all(&answer).await?;
        outgoing.shutdown().await
    };
    if !matches!(tokio::time::timeout(READ_TIMEOUT, write).await, Ok(Ok(()))) {
        tracing::info!(function, "an answer could not be delivered");
    }
}

/// What of `head`'s root can be served: an async tree, one result per call,
/// the functions whose signatures cross the wire.
fn servable<P: PluginData>(head: &PluginTreeHead<P>) -> Result<Served, ServeError> {
    if !head.is_async() {
        return Err(ServeError::NotAsync);
    }
    let instance = head.interface_path().to_owned();
    let cardinality = head.cardinality();
    if !matches!(cardinality, InterfaceCardinality::ExactlyOne | InterfaceCardinality::AtMostOne) {
        return Err(ServeError::Cardinality { interface: instance, cardinality });
    }
    let mut served = Served { instance, ..Served::default() };
    for function in head.function_names() {
        let crosses = head.function_type(function).is_some_and(|ty| {
            ty.params().all(|(_, ty)| codec::crosses(&ty)) && ty.results().all(|ty| codec::crosses(&ty))
        });
        if crosses {
            served.functions.push(function.to_owned());
        } else {
            served.skipped.push(function.to_owned());
        }
    }
    if served.functions.is_empty() {
        return Err(ServeError::NothingToServe(served.instance));
    }
    Ok(served)
}

/// Runs one served call, within `deadline` when the caller sent one: its
/// result encoded, or why there is none.
async fn run<P: PluginData>(
    head: &PluginTreeHead<P>,
    function: &str,
    args: &[wasmtime::component::Val],
    deadline: Option<Duration>,
) -> Result<Bytes, (Refusal, String)> {
    let Some(ty) = head.function_type(function) else {
        return Err((Refusal::Refused, format!("no function `{function}`")));
    };
    let returns = ty.results().len() == 1;
    let dispatched = head.dispatch_async(head.interface_path(), function, returns, args);
    let outcome = match deadline {
        // Dropped at the caller's deadline, the call is abandoned: the
        // plugins it was inside are re-instantiated before their next call.
        Some(deadline) => match tokio::time::timeout(deadline, dispatched).await {
            Ok(outcome) => outcome,
            Err(_) => return Err((Refusal::Deadline, format!("the caller's deadline of {deadline:?} passed"))),
        },
        None => dispatched.await,
    };
    let result = match outcome {
        Socket::ExactlyOne(result) | Socket::AtMostOne(Some(result)) => result,
        Socket::AtMostOne(None) => return Err((Refusal::Refused, "no plugin serves the interface".to_owned())),
        Socket::AtLeastOne(_) | Socket::Any(_) => {
            return Err((Refusal::Refused, "the interface gives several results".to_owned()));
        }
    };
    let value = result.map_err(|error| (Refusal::Failed, crate::error_chain(&error)))?;
    let mut answer = BytesMut::new();
    if returns {
        let types: Vec<_> = ty.results().collect();
        codec::encode_all(std::slice::from_ref(&value), &types, &mut answer)
            .map_err(|error| (Refusal::Refused, format!("the result does not encode: {error}")))?;
    }
    if answer.len() > DEFAULT_MAX_MESSAGE {
        return Err((Refusal::Refused, format!("the result exceeds {DEFAULT_MAX_MESSAGE} bytes")));
    }
    Ok(answer.freeze())
}

/// The most invocations a NATS server runs at once; more wait in NATS's
/// subscription buffer (and past it, their callers' deadlines).
const MAX_IN_FLIGHT: usize = 256;

/// Serves `head`'s root interface on a NATS lattice until the returned
/// future is dropped: each function it can serve (as [`serve`] does) joins
/// the queue group of `{prefix}.wrpc.0.0.1.{interface}.{function}`, so the
/// servers of one interface share its calls and any of them may leave or
/// join at any time. Remote plugins reach it with
/// `Remote::new(["nats://…"]).prefix(prefix)`.
///
/// Each call runs within the deadline its caller sent (and within the
/// tree's own limits); a call that fails, or runs out of the caller's
/// deadline, is answered with a failure that the caller reports as a
/// [`DispatchError::Remote`](crate::DispatchError::Remote). A void
/// function's caller is answered once the call is over. The wire follows
/// wRPC's NATS conventions ([`Remote`](crate::Remote) documents them).
///
/// `on_ready` is called once every function's subscription is in place.
///
/// # Errors
/// The root cannot be served ([`ServeError`]), or NATS refused a
/// subscription ([`ServeError::Register`]). Once serving, failures of
/// single calls are logged (`tracing`, with the caller's id), never
/// returned.
pub async fn serve_nats<P: PluginData>(
    head: Arc<PluginTreeHead<P>>,
    nats: async_nats::Client,
    prefix: &str,
    on_ready: impl FnOnce(&Served),
) -> Result<(), ServeError> {
    let served = servable(&head)?;
    let connection = Arc::new(
        Connection::new(nats.clone())
            .await
            .map_err(|reason| ServeError::Register { function: String::new(), reason })?,
    );
    let permits = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    // As for TCP: arguments over 1 MiB grow a few at a time.
    let large = Arc::new(Semaphore::new(LARGE_MESSAGES));
    let mut subscriptions = Vec::new();
    for function in &served.functions {
        let subject = invocation_subject(prefix, &served.instance, function);
        let subscription = nats
            .queue_subscribe(subject, QUEUE_GROUP.to_owned())
            .await
            .map_err(|e| ServeError::Register { function: function.clone(), reason: e.to_string() })?;
        subscriptions.push((Arc::<str>::from(function.as_str()), subscription));
    }
    // Subscribed before anyone is told: a caller told "ready" finds them.
    if !connection.settled(Duration::from_secs(5)).await {
        tracing::warn!("NATS did not echo a message within 5 s: the subscriptions may not be in place yet");
    }
    on_ready(&served);
    let loops = subscriptions.into_iter().map(|(function, mut subscription)| {
        let (head, connection, permits, large) = (head.clone(), connection.clone(), permits.clone(), large.clone());
        async move {
            while let Some(message) = subscription.next().await {
                let Ok(permit) = permits.clone().acquire_owned().await else { return };
                let (head, connection, function) = (head.clone(), connection.clone(), function.clone());
                let large = large.clone();
                tokio::spawn(async move {
                    answer_nats(&head, &connection, &function, message, &large).await;
                    drop(permit);
                });
            }
        }
    });
    futures_util::future::join_all(loops).await;
    Ok(())
}

/// `call` in a span of its own, a child of the caller's trace (feature
/// `otel`): the served tree's spans join the caller's trace.
#[cfg(feature = "otel")]
fn traced<F: Future>(call: F, function: &str, invocation: &Invocation) -> impl Future<Output = F::Output> {
    use tracing::Instrument as _;
    call.instrument(crate::trace::served(function, &invocation.caller, invocation.traceparent.as_deref()))
}

#[cfg(not(feature = "otel"))]
fn traced<F: Future>(call: F, _function: &str, _invocation: &Invocation) -> F {
    call
}

/// Answers one invocation taken from NATS.
async fn answer_nats<P: PluginData>(
    head: &PluginTreeHead<P>,
    connection: &Connection,
    function: &str,
    message: async_nats::Message,
    large: &Semaphore,
) {
    let Some(invocation) = Invocation::of(&message) else {
        tracing::info!(function, "an invocation without a reply subject");
        return;
    };
    let caller = invocation.caller.clone();
    let Some(ty) = head.function_type(function) else { return };
    let types: Vec<_> = ty.params().map(|(_, ty)| ty).collect();
    let wait = invocation.deadline.unwrap_or(READ_TIMEOUT).min(READ_TIMEOUT);
    let answered = match connection.arguments(&invocation, message, &types, DEFAULT_MAX_MESSAGE, wait, large).await {
        Ok(args) => match traced(run(head, function, &args, invocation.deadline), function, &invocation).await {
            Ok(results) => {
                tracing::debug!(function, %caller, "served a call");
                connection.results(&invocation, results).await
            }
            Err((refusal, reason)) => {
                tracing::info!(function, %caller, %reason, "a served call failed");
                connection.refuse(&invocation, refusal, &reason).await
            }
        },
        Err(reason) => {
            tracing::info!(function, %caller, %reason, "an invocation's arguments are unusable");
            connection.refuse(&invocation, Refusal::Refused, &reason).await
        }
    };
    if let Err(reason) = answered {
        tracing::info!(function, %caller, %reason, "an answer could not be delivered");
    }
}
