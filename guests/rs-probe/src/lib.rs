//! `rs-probe`: the Rust twin of the Python and JavaScript test plugins
//! (`tests/polyglot/`), so that the three languages are tested and measured
//! on the same `probe` interface.

wit_bindgen::generate!({
    path: ["../../demo/interfaces/parser", "../../tests/polyglot/interfaces/probe"],
    inline: "package test:guest; world probe { import demo:parser/parser@0.1.0; export test:probe/probe@0.1.0; }",
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
}

export!(Probe);
