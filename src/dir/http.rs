//! Outgoing HTTP (`wasi:http/outgoing-handler`): every directory plugin
//! links it, and a request leaves only for an authority (host and port) the
//! host's policy approved for that plugin; with none approved, every request
//! is refused with `HTTP-request-denied` before a connection is made.
//!
//! wasmtime-wasi-http makes the requests; this module is the gate it asks
//! ([`WasiHttpHooks::send_request`]) and the bounds it puts on each answer:
//!
//! - **Time**: a request and its whole response (connecting, the first
//!   byte, every later byte) end with the call it is made in
//!   ([`PluginCtx::time_left`](crate::PluginCtx::time_left)): a plugin
//!   waiting on a host runs no wasm, so the epoch alone could not stop it.
//! - **Size**: a response body larger than the approved budget is cut with
//!   `HTTP-response-body-size` (at once, when its `content-length` says so).
//! - **Count**: at most [`MAX_HTTP_IN_FLIGHT`] requests of one plugin at once.
//! - **Redirects** are never followed by the host: the plugin gets the
//!   `3xx`, and a request it makes to the new location passes the same gate.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// Requests of one plugin in flight at once; more are refused with
/// `connection-limit-reached`.
pub const MAX_HTTP_IN_FLIGHT: usize = 16;

/// The response body budget when the policy sets none, in bytes.
pub const DEFAULT_HTTP_RESPONSE_BYTES: u64 = 8 << 20;

/// Where a plugin may send requests: a host and which ports.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct Authority {
    /// Lower case; an IPv6 address keeps its brackets.
    host: String,
    port: Port,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Port {
    /// The scheme's own: 80 for `http`, 443 for `https`.
    Default,
    One(u16),
    Any,
}

impl Authority {
    /// Reads `host`, `host:port` or `host:*`.
    pub(super) fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("`{text}` is not `host`, `host:port` or `host:*`");
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (address, after) = rest.split_once(']').ok_or_else(bad)?;
            (format!("[{address}]"), after.strip_prefix(':').map(str::to_owned))
        } else {
            match text.rsplit_once(':') {
                Some((host, port)) => (host.to_owned(), Some(port.to_owned())),
                None => (text.to_owned(), None),
            }
        };
        let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '[' | ']' | ':');
        if host.is_empty() || !host.chars().all(valid) {
            return Err(bad());
        }
        let port = match port.as_deref() {
            None => Port::Default,
            Some("*") => Port::Any,
            Some(port) => Port::One(port.parse().map_err(|_| bad())?),
        };
        Ok(Self { host: host.to_ascii_lowercase(), port })
    }

    /// Whether an approval of `self` covers a request for `asked`.
    pub(super) fn covers(&self, asked: &Self) -> bool {
        self.host == asked.host && (self.port == Port::Any || self.port == asked.port)
    }

    /// Whether a request to `host` at `port` (explicit or the scheme's
    /// `default`) goes where `self` allows.
    fn allows(&self, host: &str, port: u16, default: u16) -> bool {
        self.host.eq_ignore_ascii_case(host)
            && match self.port {
                Port::Any => true,
                Port::One(allowed) => allowed == port,
                Port::Default => port == default,
            }
    }
}

impl std::fmt::Display for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.port {
            Port::Default => write!(f, "{}", self.host),
            Port::One(port) => write!(f, "{}:{port}", self.host),
            Port::Any => write!(f, "{}:*", self.host),
        }
    }
}

/// The gate of one plugin's outgoing requests (wasmtime-wasi-http's hooks).
pub(super) struct HttpGate {
    plugin: Arc<str>,
    allowed: Arc<[Authority]>,
    response_bytes: u64,
    in_flight: Arc<AtomicUsize>,
    /// When the call in progress ends: set by the plugin's
    /// `WasiHttpView::http` before each use.
    pub(super) until: Instant,
}

impl HttpGate {
    pub(super) fn new(plugin: &str, allowed: Arc<[Authority]>, response_bytes: u64) -> Self {
        Self { plugin: plugin.into(), allowed, response_bytes, in_flight: Arc::default(), until: Instant::now() }
    }

    /// Why a request for `uri` may not leave, if it may not.
    fn refusal(&self, uri: &http::Uri) -> Option<Error> {
        let authority = uri.authority()?;
        if authority.as_str().contains('@') {
            return Some(Error::HttpRequestUriInvalid);
        }
        let default = if uri.scheme() == Some(&http::uri::Scheme::HTTPS) { 443 } else { 80 };
        let port = authority.port_u16().unwrap_or(default);
        let host = authority.host();
        if self.allowed.iter().any(|a| a.allows(host, port, default)) {
            None
        } else {
            tracing::warn!(plugin = &*self.plugin, authority = %authority, "outgoing HTTP refused: the authority is not approved");
            Some(Error::HttpRequestDenied)
        }
    }
}

type Sent = Box<
    dyn Future<Output = Result<(http::Response<WasiBody>, Box<dyn Future<Output = Result<(), Error>> + Send>), Error>>
        + Send,
>;

impl WasiHttpHooks for HttpGate {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Sent {
        drop(fut);
        if request.uri().authority().is_none() {
            return Box::new(async { Err(Error::HttpRequestUriInvalid) });
        }
        if let Some(refused) = self.refusal(request.uri()) {
            return Box::new(async move { Err(refused) });
        }
        let Some(slot) = InFlight::take(&self.in_flight) else {
            tracing::warn!(plugin = &*self.plugin, "outgoing HTTP refused: {MAX_HTTP_IN_FLIGHT} requests in flight");
            return Box::new(async { Err(Error::ConnectionLimitReached) });
        };
        let until = self.until;
        let left = until.saturating_duration_since(Instant::now());
        // Each of wasmtime-wasi-http's timeouts, at most the time left: and
        // the body below stops at the call's end whatever the timeouts say.
        let cap = |asked: Option<Duration>| Some(asked.map_or(left, |asked| asked.min(left)));
        let options = RequestOptions {
            connect_timeout: cap(options.and_then(|o| o.connect_timeout)),
            first_byte_timeout: cap(options.and_then(|o| o.first_byte_timeout)),
            between_bytes_timeout: cap(options.and_then(|o| o.between_bytes_timeout)),
        };
        let budget = self.response_bytes;
        Box::new(async move {
            let sent = wasmtime_wasi_http::default_send_request(request, Some(options));
            let (response, io) = match tokio::time::timeout(left, sent).await {
                Ok(sent) => sent?,
                Err(_) => return Err(Error::ConnectionTimeout),
            };
            let declared =
                response.headers().get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
            if declared.is_some_and(|length| length > budget) {
                return Err(Error::HttpResponseBodySize(declared));
            }
            let response = response.map(|body| {
                let body = Bounded {
                    body,
                    left: budget,
                    budget,
                    end: Box::pin(tokio::time::sleep_until(until.into())),
                    _slot: slot,
                };
                http_body_util::BodyExt::boxed_unsync(body)
            });
            Ok((response, Box::new(io) as Box<dyn Future<Output = Result<(), Error>> + Send>))
        })
    }
}

/// One of a plugin's [`MAX_HTTP_IN_FLIGHT`] requests, given back on drop.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn take(count: &Arc<AtomicUsize>) -> Option<Self> {
        count.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < MAX_HTTP_IN_FLIGHT).then_some(n + 1)).ok()?;
        Some(Self(count.clone()))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

pin_project_lite::pin_project! {
    /// A response body cut at a byte budget and at the end of the call.
    struct Bounded<B> {
        #[pin]
        body: B,
        left: u64,
        budget: u64,
        end: Pin<Box<tokio::time::Sleep>>,
        _slot: InFlight,
    }
}

impl<B: Body<Data = Bytes, Error = Error>> Body for Bounded<B> {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = self.project();
        if this.end.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(Error::HttpResponseTimeout)));
        }
        match this.body.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let size = u64::try_from(data.len()).unwrap_or(u64::MAX);
                    if size > *this.left {
                        *this.left = 0;
                        return Poll::Ready(Some(Err(Error::HttpResponseBodySize(Some(*this.budget)))));
                    }
                    *this.left -= size;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authority(text: &str) -> Authority {
        Authority::parse(text).unwrap()
    }

    #[test]
    fn an_approval_covers_the_same_authority_or_any_port_of_its_host() {
        assert!(authority("api.example.com:*").covers(&authority("API.example.com:8443")));
        assert!(authority("127.0.0.1:8080").covers(&authority("127.0.0.1:8080")));
        assert!(!authority("127.0.0.1:8080").covers(&authority("127.0.0.1:8081")));
        assert!(!authority("127.0.0.1:8080").covers(&authority("127.0.0.1:*")));
        assert!(!authority("example.com").covers(&authority("example.com:8080")));
        assert!(authority("[::1]:*").covers(&authority("[::1]:80")));
    }

    #[test]
    fn a_request_goes_only_where_allowed() {
        assert!(authority("example.com").allows("example.com", 443, 443));
        assert!(!authority("example.com").allows("example.com", 8443, 443));
        assert!(authority("127.0.0.1:9000").allows("127.0.0.1", 9000, 80));
        assert!(!authority("127.0.0.1:9000").allows("127.0.0.2", 9000, 80));
        assert!(!authority("127.0.0.1:9000").allows("localhost", 9000, 80), "a name is not its address");
    }

    #[test]
    fn what_is_not_an_authority_is_said_so() {
        for text in ["", "a b", "host:port", "host:99999", "http://host", "[::1"] {
            assert!(Authority::parse(text).is_err(), "{text}");
        }
    }
}
