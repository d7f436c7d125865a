//! A small HTTP/1.1 server on 127.0.0.1 for the outgoing-HTTP tests: it
//! answers by path, including the ways a server may be hostile (never
//! answering, a body without end), and counts what reached it.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Counts {
    connections: AtomicUsize,
    requests: AtomicUsize,
    /// Body bytes written by `/huge`.
    sent: AtomicU64,
    redirect: Mutex<String>,
    stop: AtomicBool,
}

/// A server thread; it stops when dropped (its `/silent` connections close).
pub struct Server {
    pub port: u16,
    counts: Arc<Counts>,
}

impl Server {
    /// Paths: `/hello` (200, `hello over http`), `/redirect` (302 to
    /// [`redirect_to`](Self::redirect_to)), `/silent` (reads the request,
    /// never answers), `/huge` (1 GiB without a length), `/huge-declared`
    /// (a 1 GiB `content-length`, then nothing).
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let counts = Arc::new(Counts::default());
        let shared = counts.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if shared.stop.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                shared.connections.fetch_add(1, Ordering::Relaxed);
                let shared = shared.clone();
                std::thread::spawn(move || serve(stream, &shared));
            }
        });
        Self { port, counts }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn redirect_to(&self, url: &str) {
        url.clone_into(&mut self.counts.redirect.lock().unwrap());
    }

    /// Connections accepted.
    pub fn connections(&self) -> usize {
        self.counts.connections.load(Ordering::Relaxed)
    }

    /// Requests read.
    pub fn requests(&self) -> usize {
        self.counts.requests.load(Ordering::Relaxed)
    }

    /// Bytes of `/huge` bodies written.
    pub fn sent(&self) -> u64 {
        self.counts.sent.load(Ordering::Relaxed)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.counts.stop.store(true, Ordering::Relaxed);
        // Wakes the accept loop to see `stop`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(stream: TcpStream, counts: &Counts) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut stream = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split(' ').nth(1).unwrap_or("/").to_owned();
        // The headers, up to the empty line.
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            if header == "\r\n" {
                break;
            }
        }
        counts.requests.fetch_add(1, Ordering::Relaxed);
        let written = match path.as_str() {
            "/hello" => stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 15\r\n\r\nhello over http"),
            "/redirect" => {
                let to = counts.redirect.lock().unwrap().clone();
                let head = format!("HTTP/1.1 302 Found\r\nlocation: {to}\r\ncontent-length: 0\r\n\r\n");
                stream.write_all(head.as_bytes())
            }
            "/silent" => {
                while !counts.stop.load(Ordering::Relaxed) {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                return;
            }
            "/huge" => {
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n");
                let chunk = vec![b'x'; 64 << 10];
                for _ in 0..(1 << 30) / chunk.len() {
                    if stream.write_all(&chunk).is_err() || counts.stop.load(Ordering::Relaxed) {
                        return;
                    }
                    counts.sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                }
                return;
            }
            "/huge-declared" => stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1073741824\r\n\r\n"),
            _ => stream.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"),
        };
        if written.is_err() {
            return;
        }
    }
}
