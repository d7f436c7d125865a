//! A `nats-server` process on a free loopback port, for the NATS transport's
//! tests and bench (one file, included by each binary that needs it).
//!
//! The server comes from the machine (`.ci/install-nats` installs Debian's
//! package; CI runs it). Where it is missing, [`NatsServer::start`] runs that
//! script once; if the server is still missing, the caller skips its test
//! with a message on stderr, unless `WASM_LINK_REQUIRE_NATS` is set (CI sets
//! it), in which case it panics: never a silent pass.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A running `nats-server`, killed when dropped.
pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    config: Option<PathBuf>,
}

/// Where `nats-server` is, installing it once if the machine lacks it.
fn binary() -> Option<PathBuf> {
    static BINARY: OnceLock<Option<PathBuf>> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            let find = || {
                let path = std::env::var_os("PATH").unwrap_or_default();
                std::env::split_paths(&path)
                    .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/bin")])
                    .map(|dir| dir.join("nats-server"))
                    .find(|candidate| candidate.is_file())
            };
            find().or_else(|| {
                let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".ci/install-nats");
                let script = if script.is_file() {
                    script
                } else {
                    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.ci/install-nats")
                };
                eprintln!("nats-server is not installed: running {}", script.display());
                let _ = Command::new("bash").arg(&script).status();
                find()
            })
        })
        .clone()
}

impl NatsServer {
    /// A server on a free port, or `None` (with a message) where
    /// `nats-server` cannot be had and `WASM_LINK_REQUIRE_NATS` is unset.
    pub fn start(test: &str) -> Option<Self> {
        Self::start_with(test, "")
    }

    /// A server on a free port with `config` (nats-server's configuration
    /// syntax, such as `max_payload: 8192`).
    pub fn start_with(test: &str, config: &str) -> Option<Self> {
        if binary().is_none() {
            assert!(
                std::env::var_os("WASM_LINK_REQUIRE_NATS").is_none(),
                "{test}: nats-server is required (WASM_LINK_REQUIRE_NATS) but could not be installed"
            );
            eprintln!("SKIPPED {test}: nats-server is not installed and could not be (see .ci/install-nats)");
            return None;
        }
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .expect("a free loopback port");
        let config = (!config.is_empty()).then(|| {
            let path = std::env::temp_dir().join(format!("wasm-link-nats-{port}-{}.conf", std::process::id()));
            std::fs::write(&path, config).expect("the NATS configuration is written");
            path
        });
        let mut server = Self { child: None, port, config };
        server.restart();
        Some(server)
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Stops the server (its clients see the connection drop).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on its port, and waits until it listens.
    pub fn restart(&mut self) {
        self.stop();
        let mut command = Command::new(binary().expect("nats-server is installed"));
        command.args(["-a", "127.0.0.1", "-p", &self.port.to_string()]);
        if let Some(config) = &self.config {
            command.arg("-c").arg(config);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        self.child = Some(child);
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let started = Instant::now();
        while TcpStream::connect_timeout(&address, Duration::from_millis(100)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(10), "nats-server listens on {address} within 10 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
        if let Some(config) = &self.config {
            let _ = std::fs::remove_file(config);
        }
    }
}
