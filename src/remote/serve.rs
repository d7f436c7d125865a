//! Serving a loaded tree's root interface over wRPC's framed TCP: each
//! invocation's arguments decoded by the function's type, dispatched with
//! `dispatch_async`, its result encoded back.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use futures_util::StreamExt as _;
use tokio::io::Take;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpListener;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wrpc_transport::Serve as _;
use wrpc_transport::frame::{Incoming, Outgoing};

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
    if !head.is_async() {
        return Err(ServeError::NotAsync);
    }
    let instance = head.interface_path().to_owned();
    let cardinality = head.cardinality();
    if !matches!(cardinality, InterfaceCardinality::ExactlyOne | InterfaceCardinality::AtMostOne) {
        return Err(ServeError::Cardinality { interface: instance, cardinality });
    }
    let wrpc = Arc::new(Server::default());
    // Messages over 1 MiB grow a few at a time: 256 peers each sending the
    // largest message at once would otherwise hold 256 × 16 MiB (twice,
    // while decoding).
    let large = Arc::new(Semaphore::new(LARGE_MESSAGES));
    let mut served = Served { instance: instance.clone(), ..Served::default() };
    for function in head.function_names() {
        let crosses = head.function_type(function).is_some_and(|ty| {
            ty.params().all(|(_, ty)| codec::crosses(&ty)) && ty.results().all(|ty| codec::crosses(&ty))
        });
        if !crosses {
            served.skipped.push(function.to_owned());
            continue;
        }
        let paths: Arc<[Box<[Option<usize>]>]> = Arc::from(Vec::new());
        let invocations = wrpc
            .serve(&instance, function, paths)
            .await
            .map_err(|e| ServeError::Register { function: function.to_owned(), reason: format!("{e:#}") })?;
        served.functions.push(function.to_owned());
        let (head, function, large) = (head.clone(), Arc::<str>::from(function), large.clone());
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
    if served.functions.is_empty() {
        return Err(ServeError::NothingToServe(instance));
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
    let returns = ty.results().len() == 1;
    let result = match head.dispatch_async(head.interface_path(), function, returns, &args).await {
        Socket::ExactlyOne(result) | Socket::AtMostOne(Some(result)) => result,
        Socket::AtMostOne(None) => {
            tracing::info!(function, "no plugin serves the interface");
            return;
        }
        Socket::AtLeastOne(_) | Socket::Any(_) => return,
    };
    let value = match result {
        Ok(value) => value,
        Err(error) => {
            tracing::info!(function, error = %crate::error_chain(&error), "a served call failed");
            return;
        }
    };
    let mut answer = BytesMut::new();
    if returns {
        let types: Vec<_> = ty.results().collect();
        if let Err(error) = codec::encode_all(std::slice::from_ref(&value), &types, &mut answer) {
            tracing::warn!(function, %error, "a result does not encode");
            return;
        }
    }
    if answer.len() > DEFAULT_MAX_MESSAGE {
        tracing::warn!(function, bytes = answer.len(), "a result exceeds the largest message");
        return;
    }
    // A client that stops reading holds the answer no longer than this.
    let write = async {
        outgoing.write_all(&answer).await?;
        outgoing.shutdown().await
    };
    if !matches!(tokio::time::timeout(READ_TIMEOUT, write).await, Ok(Ok(()))) {
        tracing::info!(function, "an answer could not be delivered");
    }
}
