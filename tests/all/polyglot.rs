//! Plugins written in Python (componentize-py) and JavaScript
//! (componentize-js) beside Rust: `tests/polyglot/`, whose `py-probe`,
//! `js-probe` and `rs-probe` each implement `probe` (a way to misbehave or
//! reach out per function) over a Rust `markdown-parser`. They link the
//! WASI baseline with no manifest entry, and get nothing from it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use wasm_link::dir::{CompileCache, DirOptions, DirPlugin, PluginDir};
use wasm_link::{Budget, DispatchError, PluginTreeHead, Socket, Val};

const PROBE: &str = "test:probe/probe@0.1.0";
const LANGUAGES: [(&str, &str); 3] = [("py-probe", "Python"), ("js-probe", "JavaScript"), ("rs-probe", "Rust")];
const ALL: [&str; 3] = ["py-probe", "js-probe", "rs-probe"];

/// One compile cache for the whole test binary: each 12-18 MB component is
/// compiled once, then every test deserializes it.
pub(crate) fn cache() -> CompileCache {
    static DIR: OnceLock<TempDir> = OnceLock::new();
    let dir = DIR.get_or_init(|| tempfile::tempdir().unwrap());
    // SAFETY: a private directory `tempfile` created for this test binary
    // (mode 0700, unguessable name); only its tests write into it.
    #[allow(unsafe_code, reason = "a compile cache in a private test directory")]
    unsafe {
        CompileCache::new(dir.path())
    }
}

/// A copy of `tests/polyglot/` with only `probes` (and `markdown-parser`),
/// each manifest given `extra` lines.
fn probe_dir(probes: &[&str], extra: &str) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    wasm_link_guests::copy_dir(Path::new(wasm_link_guests::POLYGLOT_DIR), dir.path());
    for (probe, _) in LANGUAGES {
        let folder = dir.path().join("plugins").join(probe);
        if probes.contains(&probe) {
            let manifest = folder.join("plugin.toml");
            let text = std::fs::read_to_string(&manifest).unwrap();
            std::fs::write(&manifest, format!("{text}{extra}")).unwrap();
        } else {
            std::fs::remove_dir_all(folder).unwrap();
        }
    }
    dir
}

fn load(dir: &Path) -> PluginTreeHead<DirPlugin> {
    load_opened(PluginDir::open(dir, &DirOptions { cache: Some(cache()) }).unwrap())
}

/// Loads a directory read without errors, asserting every plugin loads.
pub(crate) fn load_opened(plugin_dir: PluginDir) -> PluginTreeHead<DirPlugin> {
    assert!(plugin_dir.errors.is_empty(), "{:?}", plugin_dir.errors);
    let (tree, errors) = plugin_dir.into_tree();
    assert!(errors.is_empty(), "{errors:?}");
    let engine = wasm_link::default_engine().unwrap();
    let (head, errors) = tree.load(&engine, &PluginDir::linker(&engine).unwrap()).unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    head
}

type Results = HashMap<String, Result<Val, DispatchError<String>>>;

fn call(head: &PluginTreeHead<DirPlugin>, function: &str, args: &[Val]) -> Results {
    match head.dispatch(PROBE, function, true, args) {
        Socket::Any(results) => results,
        other => panic!("{other:?}"),
    }
}

fn text(result: &Result<Val, DispatchError<String>>) -> &str {
    match result {
        Ok(Val::String(text)) => text,
        other => panic!("{other:?}"),
    }
}

/// `add(2, 3)` answered 5 by every probe: the plugin serves calls.
fn serves(head: &PluginTreeHead<DirPlugin>) {
    for (plugin, result) in call(head, "add", &[Val::U32(2), Val::U32(3)]) {
        assert!(matches!(result, Ok(Val::U32(5))), "{plugin}: {result:?}");
    }
}

#[test]
fn python_and_javascript_load_with_the_baseline_and_edit_a_rust_plugins_document() {
    let dir = probe_dir(&ALL, "");
    let head = load(dir.path());
    let results = call(&head, "edit", &[Val::String("# Title\n\nfirst paragraph".into())]);
    assert_eq!(results.len(), 3);
    for (plugin, language) in LANGUAGES {
        match &results[plugin] {
            Ok(Val::List(paragraphs)) => assert_eq!(
                paragraphs,
                &[Val::String("first paragraph".into()), Val::String(format!("edited in {language}"))],
                "{plugin}"
            ),
            other => panic!("{plugin}: {other:?}"),
        }
    }
}

#[test]
fn an_exception_is_a_trap_of_that_plugin_and_its_next_call_is_served() {
    let dir = probe_dir(&ALL, "");
    let head = load(dir.path());
    let results = call(&head, "fail", &[Val::String("boom".into())]);
    for (plugin, _) in LANGUAGES {
        match &results[plugin] {
            Err(error @ DispatchError::Trap { plugin: blamed, function, reinstantiated: true, .. }) => {
                assert_eq!(blamed, plugin);
                assert_eq!(&**function, "fail");
                // The error carries what the plugin printed as it failed:
                // the Python traceback, the JavaScript exception, the panic.
                let message = wasm_link::error_chain(error);
                assert!(message.contains("its standard error ended with") && message.contains("boom"), "{message}");
            }
            other => panic!("{plugin}: {other:?}"),
        }
    }
    serves(&head);
    let health = head.health();
    let parser = health.iter().find(|h| h.plugin == "markdown-parser").unwrap();
    assert_eq!(parser.failures, 0, "nobody else is blamed");
}

#[test]
fn a_loop_is_stopped_at_its_deadline() {
    let dir = probe_dir(&ALL, "[limits]\ndeadline-ms = 300\n");
    let head = load(dir.path());
    let results = call(&head, "spin", &[]);
    for (plugin, _) in LANGUAGES {
        match &results[plugin] {
            Err(DispatchError::BudgetExceeded { budget: Budget::Deadline { limit, elapsed }, .. }) => {
                assert_eq!(*limit, Duration::from_millis(300), "{plugin}");
                assert!(*elapsed < Duration::from_secs(3), "{plugin}: {elapsed:?}");
            }
            other => panic!("{plugin}: {other:?}"),
        }
    }
    serves(&head);
}

#[test]
fn endless_allocation_is_stopped_by_the_memory_budget() {
    let dir = probe_dir(&ALL, "");
    let head = load(dir.path());
    let results = call(&head, "hog", &[]);
    for (plugin, _) in LANGUAGES {
        match &results[plugin] {
            Err(DispatchError::BudgetExceeded {
                budget: Budget::Memory { limit, .. }, reinstantiated: true, ..
            }) => {
                assert_eq!(*limit, wasm_link::Limits::default().memory);
            }
            other => panic!("{plugin}: {other:?}"),
        }
    }
    serves(&head);
}

#[test]
fn files_the_environment_and_sockets_are_refused() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = probe_dir(&ALL, "");
    let head = load(dir.path());
    let file = call(&head, "read-file", &[Val::String("/etc/hostname".into())]);
    let env = call(&head, "read-env", &[Val::String("PATH".into())]);
    let connect = call(&head, "connect", &[Val::String("127.0.0.1".into()), Val::U16(port)]);
    for (plugin, _) in LANGUAGES {
        assert!(text(&file[plugin]).starts_with("refused:"), "{plugin}: {:?}", file[plugin]);
        assert_eq!(text(&env[plugin]), "unset", "{plugin}");
    }
    // Python's socket module and Rust's standard library try for real and
    // are refused by the baseline.
    for plugin in ["py-probe", "rs-probe"] {
        let answer = text(&connect[plugin]);
        assert!(answer.starts_with("refused:") && answer.contains("ermission"), "{plugin}: {answer}");
    }
    // JavaScript's one way out, `fetch`, meets the HTTP gate: no authority
    // is approved.
    let answer = text(&connect["js-probe"]);
    assert!(answer.starts_with("refused:"), "js-probe: {answer}");
    assert!(listener.accept().is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock), "nothing connected");
}

#[test]
fn clocks_are_virtual_and_a_sleep_holds_no_thread() {
    // JavaScript has no blocking sleep to try.
    let dir = probe_dir(&["py-probe", "rs-probe"], "");
    let head = load(dir.path());
    let started = Instant::now();
    let slept = call(&head, "sleep", &[Val::U32(3_600_000)]);
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    let now = call(&head, "wall-clock", &[]);
    for plugin in ["py-probe", "rs-probe"] {
        assert_eq!(slept[plugin].as_ref().ok(), Some(&Val::U64(3_600_000)), "{plugin}: an hour passed, for it");
        match now[plugin] {
            // The Unix epoch plus what it slept.
            Ok(Val::U64(seconds)) => assert!((3600..3700).contains(&seconds), "{plugin}: {seconds}"),
            ref other => panic!("{plugin}: {other:?}"),
        }
    }
}

#[test]
fn granted_clocks_are_the_hosts_and_a_sleep_waits_at_most_the_deadline() {
    let dir = probe_dir(&["py-probe"], "grants = [\"wasi:clocks\"]\n[limits]\ndeadline-ms = 300\n");
    let head = load(dir.path());
    let host = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    match call(&head, "wall-clock", &[])["py-probe"] {
        Ok(Val::U64(seconds)) => assert!(seconds.abs_diff(host) < 60, "{seconds} vs {host}"),
        ref other => panic!("{other:?}"),
    }
    let slept = call(&head, "sleep", &[Val::U32(50)]);
    assert!(matches!(slept["py-probe"], Ok(Val::U64(ms)) if ms >= 50), "{:?}", slept["py-probe"]);
    // An hour's sleep is cut at the plugin's deadline: the call ends by
    // then, slept short or stopped. Short: the sleep gets the time the call
    // has left, the deadline less what it used before sleeping, counted in
    // 5 ms ticks (296 ms was seen with the whole suite running beside it).
    let started = Instant::now();
    let results = call(&head, "sleep", &[Val::U32(3_600_000)]);
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    match &results["py-probe"] {
        Ok(Val::U64(ms)) => assert!((200..3000).contains(ms), "{ms}"),
        Err(DispatchError::BudgetExceeded { budget: Budget::Deadline { .. }, .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn guest_output_becomes_bounded_tracing_events_naming_the_plugin() {
    let dir = probe_dir(&["py-probe"], "");
    let head = load(dir.path());
    let seen = capture::Seen::default();
    tracing::subscriber::with_default(capture::Capture(seen.clone()), || {
        let long = "x".repeat(5000);
        let results = call(&head, "print", &[Val::String(long)]);
        assert!(matches!(results["py-probe"], Ok(Val::U32(5000))), "{:?}", results["py-probe"]);
    });
    let lines = seen.0.lock().unwrap();
    let guest: Vec<&(String, String)> = lines.iter().filter(|(target, _)| target == "wasm_link::guest").collect();
    assert!(!guest.is_empty(), "{lines:?}");
    for (_, line) in guest {
        assert!(line.contains("py-probe"), "{line}");
        assert!(line.len() < 1200, "a line is cut at 1 KiB: {}", line.len());
    }
}

#[test]
fn a_plugin_printing_100_mb_is_cut_to_1000_lines_of_at_most_1_kib_a_minute_per_stream() {
    let dir = probe_dir(&["rs-probe"], "");
    let head = load(dir.path());
    // 1 MiB a call, to standard output and standard error each: 8 192 short
    // lines, and once one line of 1 MiB without a break.
    let lines = format!("{}\n", "x".repeat(127)).repeat(8192);
    let lines = &lines[..lines.len() - 1];
    let one_long_line = "y".repeat(1 << 20);
    let seen = capture::Seen::default();
    let started = Instant::now();
    tracing::subscriber::with_default(capture::Capture(seen.clone()), || {
        for call_number in 0..100 {
            let text = if call_number == 50 { &one_long_line } else { lines };
            let results = call(&head, "print", &[Val::String(text.to_owned())]);
            assert!(matches!(results["rs-probe"], Ok(Val::U32(n)) if n as usize == text.len()), "{results:?}");
        }
    });
    // A window of logging is a minute: a slow run may span two.
    let windows = usize::try_from(started.elapsed().as_secs() / 60 + 1).unwrap();
    let events = seen.0.lock().unwrap();
    let guest: Vec<&String> =
        events.iter().filter(|(target, _)| target == "wasm_link::guest").map(|(_, fields)| fields).collect();
    for stream in ["stdout", "stderr"] {
        let of_stream: Vec<&&String> = guest.iter().filter(|f| f.contains(&format!("stream=\"{stream}\""))).collect();
        let logged: Vec<&&&String> = of_stream.iter().filter(|f| f.contains("level=INFO")).collect();
        let warned = of_stream.iter().filter(|f| f.contains("level=WARN")).count();
        assert!(logged.len() >= 1000 && logged.len() <= 1000 * windows, "{stream}: {} lines logged", logged.len());
        assert!(warned >= 1 && warned <= 2 * windows, "{stream}: {warned} warnings");
        let bytes: usize = logged.iter().map(|f| f.len()).sum();
        assert!(bytes <= 1000 * windows * 1200, "{stream}: {bytes} bytes logged of 100 MiB written");
        for line in logged {
            assert!(line.contains("plugin=\"rs-probe\""), "{line}");
            assert!(line.len() < 1200, "a line is cut at 1 KiB: {}", line.len());
        }
    }
    drop(events);
    // The host and the plugin carry on.
    assert!(matches!(call(&head, "add", &[Val::U32(2), Val::U32(3)])["rs-probe"], Ok(Val::U32(5))));
}

/// A `tracing` subscriber that keeps each event's target and fields.
pub(crate) mod capture {
    use std::sync::{Arc, Mutex};

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    #[derive(Clone, Default)]
    pub struct Seen(pub Arc<Mutex<Vec<(String, String)>>>);

    pub struct Capture(pub Seen);

    struct Fields(String);

    impl Visit for Fields {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            use std::fmt::Write as _;
            let _ = write!(self.0, "{}={value:?} ", field.name());
        }
    }

    impl Subscriber for Capture {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut fields = Fields(format!("level={} ", event.metadata().level()));
            event.record(&mut fields);
            self.0.0.lock().unwrap().push((event.metadata().target().to_owned(), fields.0));
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }
}
