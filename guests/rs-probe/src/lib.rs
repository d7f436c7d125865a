//! `rs-probe`: the Rust twin of the Python and JavaScript test plugins
//! (`tests/polyglot/`), so that the three languages are tested and measured
//! on the same `probe` interface.

wit_bindgen::generate!({
    path: ["../../demo/interfaces/parser", "../../tests/polyglot/interfaces/probe", "../../tests/polyglot/wit/config.wit"],
    inline: "package test:guest; world probe { import demo:parser/parser@0.1.0; import wasi:config/store@0.2.0-rc.1; export test:probe/probe@0.1.0; }",
    world: "test:guest/probe",
    generate_all,
});

use std::io::Write as _;

use exports::test::probe::probe::Guest;

struct Probe;

impl Guest for Probe {
    fn edit(source: String) -> Vec<String> {
        let doc = demo::parser::parser::parse(&source);
        let mut paragraphs = doc.paragraphs();
        paragraphs.push("edited in Rust".to_owned());
        doc.set_paragraphs(&paragraphs);
        doc.paragraphs()
    }

    fn add(a: u32, b: u32) -> u32 {
        a.wrapping_add(b)
    }

    fn fail(message: String) -> u32 {
        panic!("{message}")
    }

    fn spin() -> u32 {
        let mut n: u32 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }

    fn hog() -> u32 {
        let mut kept: Vec<Vec<u8>> = Vec::new();
        loop {
            kept.push(vec![1; 1 << 20]);
            std::hint::black_box(&kept);
        }
    }

    fn read_file(path: String) -> String {
        match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) => format!("refused: {error}"),
        }
    }

    fn write_file(path: String, text: String) -> String {
        match std::fs::write(&path, text) {
            Ok(()) => "written".to_owned(),
            Err(error) => format!("refused: {error}"),
        }
    }

    fn read_env(name: String) -> String {
        std::env::var(&name).unwrap_or_else(|_| "unset".to_owned())
    }

    fn connect(host: String, port: u16) -> String {
        match std::net::TcpStream::connect((host.as_str(), port)) {
            Ok(_) => "connected".to_owned(),
            Err(error) => format!("refused: {error}"),
        }
    }

    fn sleep(ms: u32) -> u64 {
        let start = std::time::Instant::now();
        std::thread::sleep(std::time::Duration::from_millis(u64::from(ms)));
        u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn wall_clock() -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
    }

    fn print(line: String) -> u32 {
        println!("{line}");
        let _ = writeln!(std::io::stderr(), "{line}");
        u32::try_from(line.len()).unwrap_or(u32::MAX)
    }

    fn http_get(url: String) -> String {
        http_get(&url).unwrap_or_else(|why| format!("refused: {why}"))
    }

    fn config(key: String) -> String {
        match wasi::config::store::get(&key) {
            Ok(Some(value)) => value,
            Ok(None) => "unset".to_owned(),
            Err(error) => format!("refused: {error:?}"),
        }
    }
}

/// A GET with `wasi:http`, as a Rust plugin makes one (Rust's standard
/// library has no HTTP client): `<status> <body>`, at most 4 KiB of it kept.
fn http_get(url: &str) -> Result<String, String> {
    use wasip2::http::types::{ErrorCode, Fields, OutgoingRequest, Scheme};
    use wasip2::io::streams::StreamError;

    let (scheme, rest) = url.split_once("://").ok_or("not a URL")?;
    let (authority, path) = rest.find('/').map_or((rest, "/"), |at| rest.split_at(at));
    let request = OutgoingRequest::new(Fields::new());
    let scheme = if scheme == "https" { Scheme::Https } else { Scheme::Http };
    request.set_scheme(Some(&scheme)).map_err(|()| "bad scheme")?;
    request.set_authority(Some(authority)).map_err(|()| "bad authority")?;
    request.set_path_with_query(Some(path)).map_err(|()| "bad path")?;
    let future = wasip2::http::outgoing_handler::handle(request, None).map_err(|e: ErrorCode| format!("{e:?}"))?;
    future.subscribe().block();
    let response = match future.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(error))) => return Err(format!("{error:?}")),
        Some(Err(())) | None => return Err("no response".to_owned()),
    };
    let status = response.status();
    if (300..400).contains(&status) {
        let location = response.headers().get("location").into_iter().next().unwrap_or_default();
        return Ok(format!("{status} -> {}", String::from_utf8_lossy(&location)));
    }
    let body = response.consume().map_err(|()| "no body")?;
    let stream = body.stream().map_err(|()| "no body stream")?;
    let (mut kept, mut read) = (Vec::new(), 0u64);
    loop {
        match stream.blocking_read(64 << 10) {
            Ok(chunk) => {
                read += chunk.len() as u64;
                let room = 4096usize.saturating_sub(kept.len());
                kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(error)) => {
                // wasmtime-wasi-http 48 gives no `error-code` for a body
                // that failed: its debug string names the cause.
                let cause = wasip2::http::types::http_error_code(&error)
                    .map_or_else(|| error.to_debug_string(), |code| format!("{code:?}"));
                return Err(format!("{cause} after {read} bytes of the body"));
            }
        }
    }
    Ok(format!("{status} {}", String::from_utf8_lossy(&kept)))
}

export!(Probe);
