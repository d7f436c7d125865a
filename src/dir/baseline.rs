//! The WASI every directory plugin links, whatever its language: what a
//! language runtime (`CPython` under componentize-py, `SpiderMonkey` under
//! componentize-js, Rust's standard library) imports beyond its sockets,
//! with implementations that grant nothing.
//!
//! | imports | what the plugin gets |
//! |---|---|
//! | `wasi:cli/*` | no arguments, no environment variables, no working directory; standard input empty; standard output and error logged through `tracing` (lines cut at 1 KiB and escaped, at most 1 000 a minute per stream), or the host's own with the `stdio` grant; `exit` ends the call as a trap |
//! | `wasi:clocks/*` | a virtual clock: the wall clock reads the Unix epoch plus what the plugin slept, the monotonic clock only what it slept, and a sleep returns at once (no host thread waits on it); the host's clocks with the `wasi:clocks` grant, where a sleep waits at most the deadline of the call it is made in |
//! | `wasi:random/*` | random bytes (they reveal nothing of the host) |
//! | `wasi:filesystem/{types,preopens}` | no preopened directory, so no descriptor at all |
//! | `wasi:sockets/*` | every socket and name lookup refused (`access-denied`) before an OS socket exists |
//! | `wasi:http/{types,outgoing-handler}` | every request refused (`HTTP-request-denied`) before a connection is made, but to the authorities the host's policy approved (see [`MAX_HTTP_IN_FLIGHT`](super::MAX_HTTP_IN_FLIGHT)) |
//! | `wasi:config/store` | no key, but those the host's policy gives |
//! | `wasi:logging/logging` | each message a `tracing` event at its level (critical as error), naming the plugin and its context; bounded as standard output is (1 000 a minute, a message cut at 1 KiB, a context at 128 bytes, escaped) |
//! | `wasi:io/*` | streams and polls of the above |
//!
//! Only `wasi:clocks` and `stdio` change what a grant gives here; real
//! capabilities (files, environment, configuration, HTTP) are the host's to
//! approve ([`Policy`](super::Policy)).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource, ResourceTable};
use wasmtime_wasi::p2::{DynPollable, Pollable};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiView};
use wasmtime_wasi_config::WasiConfigVariables;
use wasmtime_wasi_http::WasiHttpCtx;

use crate::PluginCtx;

pub(super) use output::{GuestLog, GuestOutput};

/// What every directory plugin may import, as grants (`wasm-link:runtime/*`
/// is every plugin's by the grants policy itself).
pub(super) const BASELINE: &[&str] = &[
    "wasi:cli",
    "wasi:clocks",
    "wasi:random",
    "wasi:io",
    "wasi:filesystem/types",
    "wasi:filesystem/preopens",
    "wasi:sockets",
    "wasi:http/types",
    "wasi:http/outgoing-handler",
    "wasi:config/store",
    "wasi:logging/logging",
];

/// The grant that gives a plugin the host's clocks instead of virtual ones.
const REAL_CLOCKS: &str = "wasi:clocks";
/// The grant that gives a plugin the host's standard output and error.
const STDIO: &str = "stdio";

/// `wasi:logging`'s interface, as its proposal names it (no crate defines
/// it for wasmtime 48: the host below follows its WIT,
/// `tests/logging/wit/logging.wit`). A guest importing another `0.1.0-*`
/// draft does not link: pre-releases match only exactly.
const LOGGING: &str = "wasi:logging/logging@0.1.0-draft";

/// The version of `wasi:clocks` wasmtime-wasi defines; guests importing an
/// older `0.2.x` link to it by wasmtime's semver rule.
const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// A plugin's clocks: virtual (shared by its wall and monotonic clock and
/// by the sleeps that advance it), or the host's.
#[derive(Clone)]
pub(super) enum Clocks {
    /// Nanoseconds the plugin has slept since its context was made.
    Virtual(Arc<AtomicU64>),
    /// The host's clocks: the monotonic clock counts from `start`.
    Real { start: std::time::Instant },
}

impl Clocks {
    fn new(grants: &[String]) -> Self {
        if grants.iter().any(|g| g == REAL_CLOCKS) {
            Self::Real { start: std::time::Instant::now() }
        } else {
            Self::Virtual(Arc::default())
        }
    }

    /// The monotonic clock's reading, in nanoseconds.
    fn now(&self) -> u64 {
        match self {
            Self::Virtual(slept) => slept.load(Ordering::Relaxed),
            Self::Real { start } => u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX),
        }
    }

    /// A pollable ready when a sleep of `nanos` is over; a host sleep waits
    /// at most `longest` (the deadline of the call it is made in).
    fn sleep(&self, nanos: u64, longest: Duration) -> Sleep {
        match self {
            Self::Virtual(slept) => {
                // Time passes for the plugin alone, and at once.
                let _ = slept.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| Some(s.saturating_add(nanos)));
                Sleep(None)
            }
            Self::Real { .. } => {
                let wait = Duration::from_nanos(nanos).min(longest);
                Sleep(tokio::time::Instant::now().checked_add(wait))
            }
        }
    }
}

/// The monotonic clock the plugin reads: the same [`Clocks`] its sleeps
/// use.
struct Monotonic(Clocks);

impl HostMonotonicClock for Monotonic {
    fn resolution(&self) -> u64 {
        1
    }
    fn now(&self) -> u64 {
        self.0.now()
    }
}

/// The virtual wall clock: the Unix epoch plus what the plugin slept.
struct VirtualWall(Arc<AtomicU64>);

impl HostWallClock for VirtualWall {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }
    fn now(&self) -> Duration {
        Duration::from_nanos(self.0.load(Ordering::Relaxed))
    }
}

/// A sleep's pollable: ready at its instant, or at once (`None`).
struct Sleep(Option<tokio::time::Instant>);

#[async_trait::async_trait]
impl Pollable for Sleep {
    async fn ready(&mut self) {
        if let Some(when) = self.0 {
            tokio::time::sleep_until(when).await;
        }
    }
}

/// What a plugin's store holds of the world outside it: the WASI baseline
/// (granting nothing), what its [`Capabilities`](super::Capabilities) give
/// (directories, environment variables, `wasi:config` keys, HTTP
/// authorities), its clocks, its standard streams logged, and the gates of
/// `wasi:http` and `wasi:config`. Every directory plugin has one; a plugin
/// type of a library user gets the same by keeping one, made afresh for
/// each instance, implementing [`SandboxView`] and linking with
/// [`Sandbox::linker`]:
///
/// ```
/// use wasm_link::dir::{Capabilities, Sandbox, SandboxView};
/// use wasm_link::{PluginCtxView, ResourceTable};
/// use wasmtime_wasi::{WasiCtxView, WasiView};
///
/// struct MyPlugin {
///     sandbox: Sandbox,
/// }
///
/// impl SandboxView for MyPlugin {
///     fn sandbox(&self) -> &Sandbox {
///         &self.sandbox
///     }
///     fn sandbox_mut(&mut self) -> &mut Sandbox {
///         &mut self.sandbox
///     }
/// }
/// impl WasiView for MyPlugin {
///     fn ctx(&mut self) -> WasiCtxView<'_> {
///         self.sandbox.wasi_view()
///     }
/// }
/// impl PluginCtxView for MyPlugin {
///     fn resource_table(&mut self) -> &mut ResourceTable {
///         self.sandbox.resource_table()
///     }
/// }
///
/// let capabilities = Capabilities {
///     env: vec![("LANG".to_owned(), "C".to_owned())],
///     http: vec!["api.example.com".to_owned()],
///     ..Capabilities::default()
/// };
/// let plugin = MyPlugin { sandbox: Sandbox::new("summariser", &capabilities) };
/// # let _ = plugin;
/// ```
pub struct Sandbox {
    pub(super) table: ResourceTable,
    pub(super) wasi: WasiCtx,
    /// The clocks behind its WASI context and its sleeps.
    pub(super) clocks: Clocks,
    /// Its standard error, unless it has the host's (`stdio`).
    pub(super) stderr: Option<GuestOutput>,
    /// Where its `wasi:logging` messages go.
    pub(super) log: GuestLog,
    pub(super) http_ctx: WasiHttpCtx,
    pub(super) http: super::http::HttpGate,
    /// What `wasi:config/store` answers (shared by its instances).
    pub(super) config: Arc<WasiConfigVariables>,
}

/// A plugin value that keeps a [`Sandbox`]: what [`Sandbox::linker`] needs.
pub trait SandboxView: WasiView + Send + 'static {
    /// The plugin's sandbox.
    fn sandbox(&self) -> &Sandbox;
    /// The plugin's sandbox, mutably.
    fn sandbox_mut(&mut self) -> &mut Sandbox;
}

impl Sandbox {
    /// The sandbox of plugin `plugin` (the id its output is logged under),
    /// given `capabilities` (see [`Capabilities::default`](super::Capabilities):
    /// nothing beyond the baseline).
    #[must_use]
    pub fn new(plugin: &str, capabilities: &super::Capabilities) -> Self {
        Self::with_grants(plugin, &[], capabilities)
    }

    /// [`new`](Self::new), with the grants that change what the baseline
    /// gives: `wasi:clocks` (the host's clocks) and `stdio` (the host's
    /// standard output and error).
    #[must_use]
    pub fn with_grants(plugin: &str, grants: &[String], capabilities: &super::Capabilities) -> Self {
        let clocks = Clocks::new(grants);
        let mut wasi = WasiCtx::builder();
        // What the host's policy approved of the plugin's requests.
        for preopen in &capabilities.files {
            let perms = match preopen.access {
                super::Access::Read => wasmtime_wasi::FsPerms::ReadOnly,
                super::Access::ReadWrite => wasmtime_wasi::FsPerms::ReadWrite,
            };
            if let Err(error) = wasi.preopened_dir(&preopen.host, &preopen.guest, perms) {
                // The directory went away since the policy was read: the
                // plugin runs without it, as if it had not asked.
                tracing::warn!(plugin, guest = preopen.guest, host = %preopen.host.display(), %error, "an approved directory cannot be opened");
            }
        }
        wasi.envs(&capabilities.env);
        // Refused before an OS socket is made (the default refuses only
        // addresses, after creating the socket).
        wasi.allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false);
        wasi.monotonic_clock(Monotonic(clocks.clone()));
        if let Clocks::Virtual(slept) = &clocks {
            wasi.wall_clock(VirtualWall(slept.clone()));
        }
        let stderr = if grants.iter().any(|g| g == STDIO) {
            wasi.inherit_stdout().inherit_stderr();
            None
        } else {
            let stderr = GuestOutput::new(plugin, "stderr", true);
            wasi.stdout(GuestOutput::new(plugin, "stdout", false)).stderr(stderr.clone());
            Some(stderr)
        };
        // An authority that does not parse allows nothing (a directory's
        // were checked when its policy was read).
        let allowed = capabilities.http.iter().filter_map(|a| super::http::Authority::parse(a).ok()).collect();
        Self {
            table: ResourceTable::new(),
            wasi: wasi.build(),
            clocks,
            stderr,
            log: GuestLog::new(plugin),
            http_ctx: WasiHttpCtx::new(),
            http: super::http::HttpGate::new(plugin, allowed, capabilities.http_response_bytes),
            config: Arc::new(capabilities.config.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()),
        }
    }
}

impl Sandbox {
    /// The resource table of the plugin's store (WASI's and the runtime's):
    /// for [`PluginCtxView::resource_table`](crate::PluginCtxView).
    pub fn resource_table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }

    /// The WASI view of the plugin's store: for
    /// [`WasiView::ctx`](wasmtime_wasi::WasiView::ctx).
    pub fn wasi_view(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        wasmtime_wasi::WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }

    /// The end of what the plugin wrote to its standard error (its last
    /// 2 KiB, emptied): for [`PluginData::trap_note`](crate::PluginData::trap_note).
    /// `None` with the `stdio` grant.
    pub fn take_stderr_tail(&mut self) -> Option<String> {
        self.stderr.as_ref()?.take_tail()
    }

    /// A linker with the baseline and the gates every sandboxed plugin
    /// links: WASI as synchronous host functions, `wasi:http`'s
    /// outgoing handler, `wasi:config/store`, and the plugin's own clocks.
    ///
    /// # Errors
    /// When wasmtime cannot define them in the linker.
    pub fn linker<P: SandboxView>(engine: &wasmtime::Engine) -> Result<Linker<PluginCtx<P>>, crate::WasmError> {
        let mut linker = Linker::new(engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_sync(&mut linker)?;
        add_config(&mut linker)?;
        add_clocks(&mut linker)?;
        add_logging(&mut linker)?;
        Ok(linker)
    }

    /// [`linker`](Self::linker) for trees loaded with
    /// [`PluginTree::load_async`](crate::PluginTree::load_async): WASI and
    /// `wasi:http` as async host functions.
    ///
    /// # Errors
    /// When wasmtime cannot define them in the linker.
    pub fn linker_async<P: SandboxView>(engine: &wasmtime::Engine) -> Result<Linker<PluginCtx<P>>, crate::WasmError> {
        let mut linker = Linker::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        add_config(&mut linker)?;
        add_clocks(&mut linker)?;
        add_logging(&mut linker)?;
        Ok(linker)
    }
}

/// Outgoing HTTP, through the plugin's gate: the call's time left is read
/// here, at each use, because the gate bounds the request by it.
impl<P: SandboxView> wasmtime_wasi_http::WasiHttpView for PluginCtx<P> {
    fn http(&mut self) -> wasmtime_wasi_http::WasiHttpCtxView<'_> {
        let until = std::time::Instant::now() + self.time_left().min(Duration::from_secs(1 << 32));
        let sandbox = self.plugin_mut().sandbox_mut();
        sandbox.http.until = until;
        wasmtime_wasi_http::WasiHttpCtxView {
            ctx: &mut sandbox.http_ctx,
            table: &mut sandbox.table,
            hooks: &mut sandbox.http,
        }
    }
}

/// Replaces wasmtime-wasi's monotonic-clock subscriptions in `linker` with
/// the plugin's own: virtual sleeps that return at once, or host sleeps
/// capped at the deadline of the call they are made in (its own or its
/// caller's, whichever is shorter; wasmtime-wasi's wait as long as asked,
/// for ever for `u64::MAX`, holding the thread of a synchronous call).
fn add_clocks<P: SandboxView>(linker: &mut Linker<PluginCtx<P>>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut clock = linker.instance(MONOTONIC_CLOCK)?;
    clock.func_wrap("subscribe-duration", |mut store: StoreContextMut<'_, PluginCtx<P>>, (nanos,): (u64,)| {
        let data = store.data();
        let sleep = data.plugin().sandbox().clocks.sleep(nanos, data.time_left());
        Ok((subscribe(store.data_mut().plugin_mut(), sleep)?,))
    })?;
    clock.func_wrap("subscribe-instant", |mut store: StoreContextMut<'_, PluginCtx<P>>, (when,): (u64,)| {
        let data = store.data();
        let clocks = &data.plugin().sandbox().clocks;
        let sleep = clocks.sleep(when.saturating_sub(clocks.now()), data.time_left());
        Ok((subscribe(store.data_mut().plugin_mut(), sleep)?,))
    })?;
    linker.allow_shadowing(false);
    Ok(())
}

/// `wasi:config/store`, answering what the host's policy gave the plugin.
fn add_config<P: SandboxView>(linker: &mut Linker<PluginCtx<P>>) -> wasmtime::Result<()> {
    wasmtime_wasi_config::add_to_linker(linker, |ctx| {
        wasmtime_wasi_config::WasiConfig::new(&ctx.plugin().sandbox().config)
    })
}

/// `wasi:logging`'s levels, lifted from the guest's enum.
#[derive(wasmtime::component::ComponentType, wasmtime::component::Lift, Clone, Copy)]
#[allow(dead_code, reason = "made by lifting the guest's value, never by name")]
#[component(enum)]
#[repr(u8)]
pub(super) enum Level {
    #[component(name = "trace")]
    Trace,
    #[component(name = "debug")]
    Debug,
    #[component(name = "info")]
    Info,
    #[component(name = "warn")]
    Warn,
    #[component(name = "error")]
    Error,
    #[component(name = "critical")]
    Critical,
}

/// `wasi:logging/logging`: each message a bounded `tracing` event naming
/// the plugin (see [`GuestLog`]).
fn add_logging<P: SandboxView>(linker: &mut Linker<PluginCtx<P>>) -> wasmtime::Result<()> {
    linker.instance(LOGGING)?.func_wrap(
        "log",
        |store: StoreContextMut<'_, PluginCtx<P>>, (level, context, message): (Level, String, String)| {
            store.data().plugin().sandbox().log.log(level, &context, &message);
            Ok(())
        },
    )
}

fn subscribe(plugin: &mut impl WasiView, sleep: Sleep) -> wasmtime::Result<Resource<DynPollable>> {
    let table = plugin.ctx().table;
    let sleep = table.push(sleep)?;
    wasmtime_wasi::p2::subscribe(table, sleep)
}

/// Standard output and error of a plugin without the `stdio` grant: each
/// line a `tracing` event naming the plugin, bounded so that a chatty or
/// hostile plugin cannot flood the host's logs or memory.
mod output {
    use std::collections::VecDeque;
    use std::pin::Pin;
    use std::sync::Arc;
    use std::task::{Context, Poll};
    use std::time::{Duration, Instant};

    use parking_lot::Mutex;
    use tokio::io::AsyncWrite;
    use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
    use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

    /// The longest line logged; the rest of a longer line is cut.
    const LINE: usize = 1024;
    /// Lines logged per stream and minute; later ones in the minute are
    /// counted, and the count logged when the next minute's first line is.
    const LINES_PER_MINUTE: u32 = 1000;
    /// The end of standard error kept for a trap's error, in bytes.
    const TAIL: usize = 2048;
    /// What one write may carry: writes are consumed at once, whatever
    /// their size, so this only sets how a guest chunks its output.
    const PERMIT: usize = 64 << 10;

    /// The longest `wasi:logging` context logged.
    const CONTEXT: usize = 128;

    /// One stream of one plugin (its instances share it: the plugin's value
    /// outlives a re-instantiation).
    #[derive(Clone)]
    pub(crate) struct GuestOutput(Arc<Mutex<Lines>>);

    struct Lines {
        window: Window,
        partial: Vec<u8>,
        /// The last bytes written, for a trap's error (standard error only).
        tail: Option<VecDeque<u8>>,
    }

    /// The minute of logging of one stream of one plugin: what bounds it.
    struct Window {
        plugin: Arc<str>,
        stream: &'static str,
        /// When the current minute began, and the lines logged and dropped
        /// in it.
        start: Option<Instant>,
        logged: u32,
        dropped: u64,
    }

    impl Window {
        fn new(plugin: &str, stream: &'static str) -> Self {
            Self { plugin: plugin.into(), stream, start: None, logged: 0, dropped: 0 }
        }

        /// Whether one more line may be logged now; a dropped line is
        /// counted (and the first drop of a minute warned about at once,
        /// the count when the minute is over).
        fn admit(&mut self) -> bool {
            let now = Instant::now();
            if self.start.is_none_or(|start| now.duration_since(start) >= Duration::from_mins(1)) {
                if self.dropped > 0 {
                    tracing::warn!(
                        target: "wasm_link::guest",
                        plugin = &*self.plugin,
                        stream = self.stream,
                        "{} line(s) of {} dropped: more than {LINES_PER_MINUTE} a minute",
                        self.dropped,
                        self.stream
                    );
                }
                self.start = Some(now);
                self.logged = 0;
                self.dropped = 0;
            }
            if self.logged < LINES_PER_MINUTE {
                self.logged += 1;
                return true;
            }
            // Said at once, so a flood is visible as it starts; the count
            // follows when the minute is over.
            if self.dropped == 0 {
                tracing::warn!(
                    target: "wasm_link::guest",
                    plugin = &*self.plugin,
                    stream = self.stream,
                    "more than {LINES_PER_MINUTE} lines of {} in a minute: the rest of the minute's are dropped",
                    self.stream
                );
            }
            self.dropped += 1;
            false
        }
    }

    /// A plugin's `wasi:logging` messages: each a `tracing` event at its
    /// level, bounded as standard output is (shared by its instances).
    #[derive(Clone)]
    pub(crate) struct GuestLog(Arc<Mutex<Window>>);

    impl GuestLog {
        pub(crate) fn new(plugin: &str) -> Self {
            Self(Arc::new(Mutex::new(Window::new(plugin, "wasi:logging"))))
        }

        /// Logs one message, unless the minute's are spent.
        pub(crate) fn log(&self, level: super::Level, context: &str, message: &str) {
            use super::Level;
            let mut window = self.0.lock();
            if !window.admit() {
                return;
            }
            let plugin = &*window.plugin;
            let context = printable(cut(context, CONTEXT));
            let message = printable(cut(message, LINE));
            let stream = "wasi:logging";
            match level {
                Level::Trace => tracing::trace!(target: "wasm_link::guest", plugin, stream, context, "{message}"),
                Level::Debug => tracing::debug!(target: "wasm_link::guest", plugin, stream, context, "{message}"),
                Level::Info => tracing::info!(target: "wasm_link::guest", plugin, stream, context, "{message}"),
                Level::Warn => tracing::warn!(target: "wasm_link::guest", plugin, stream, context, "{message}"),
                Level::Error => tracing::error!(target: "wasm_link::guest", plugin, stream, context, "{message}"),
                Level::Critical => {
                    tracing::error!(target: "wasm_link::guest", plugin, stream, context, critical = true, "{message}");
                }
            }
        }
    }

    /// The longest start of `text` of at most `bytes` bytes that ends on a
    /// character boundary.
    fn cut(text: &str, bytes: usize) -> &str {
        let mut end = text.len().min(bytes);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        &text[..end]
    }

    impl GuestOutput {
        pub(crate) fn new(plugin: &str, stream: &'static str, keep_tail: bool) -> Self {
            Self(Arc::new(Mutex::new(Lines {
                window: Window::new(plugin, stream),
                partial: Vec::new(),
                tail: keep_tail.then(VecDeque::new),
            })))
        }

        /// The last bytes written (at most [`TAIL`]), emptied.
        pub(crate) fn take_tail(&self) -> Option<String> {
            let mut lines = self.0.lock();
            let tail = lines.tail.as_mut()?;
            let bytes: Vec<u8> = tail.drain(..).collect();
            let text = printable(&String::from_utf8_lossy(&bytes));
            let text = text.trim_end();
            (!text.is_empty()).then(|| text.to_owned())
        }
    }

    impl Lines {
        fn write(&mut self, bytes: &[u8]) {
            if let Some(tail) = &mut self.tail {
                let keep = bytes.len().min(TAIL);
                let overflow = (tail.len() + keep).saturating_sub(TAIL);
                tail.drain(..overflow);
                tail.extend(&bytes[bytes.len() - keep..]);
            }
            for &byte in bytes {
                if byte == b'\n' {
                    self.flush_line();
                } else if self.partial.len() < LINE {
                    self.partial.push(byte);
                }
            }
        }

        fn flush_line(&mut self) {
            if self.window.admit() {
                // Control characters escaped: a plugin's line cannot pass
                // for another of the host's, nor steer a terminal.
                let line = printable(&String::from_utf8_lossy(&self.partial));
                let (plugin, stream) = (&*self.window.plugin, self.window.stream);
                tracing::info!(target: "wasm_link::guest", plugin, stream, "{line}");
            }
            self.partial.clear();
        }
    }

    /// `text` with its control characters but line breaks and tabs escaped
    /// (`\u{1b}`): what a plugin wrote, safe to print.
    fn printable(text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        for c in text.chars() {
            if c.is_control() && c != '\n' && c != '\t' {
                out.extend(c.escape_default());
            } else {
                out.push(c);
            }
        }
        out
    }

    impl IsTerminal for GuestOutput {
        fn is_terminal(&self) -> bool {
            false
        }
    }

    impl StdoutStream for GuestOutput {
        /// Written on the plugin's own thread, as it writes (wasmtime-wasi's
        /// default adapter writes from a background task).
        fn p2_stream(&self) -> Box<dyn OutputStream> {
            Box::new(self.clone())
        }

        fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
            Box::new(self.clone())
        }
    }

    #[async_trait::async_trait]
    impl Pollable for GuestOutput {
        async fn ready(&mut self) {}
    }

    impl OutputStream for GuestOutput {
        fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
            self.0.lock().write(&bytes);
            Ok(())
        }
        fn flush(&mut self) -> StreamResult<()> {
            Ok(())
        }
        fn check_write(&mut self) -> StreamResult<usize> {
            Ok(PERMIT)
        }
    }

    impl AsyncWrite for GuestOutput {
        fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
            self.0.lock().write(buf);
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn what_a_plugin_wrote_cannot_steer_a_terminal() {
            assert_eq!(super::printable("red\u{1b}[31m\r\nnext\tline"), "red\\u{1b}[31m\\r\nnext\tline");
        }
    }
}
