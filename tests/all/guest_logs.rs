//! A plugin's `wasi:logging` messages (guests/logger, tests/logging/):
//! each a `tracing` event at its level naming the plugin and its context,
//! bounded as standard output is, so a chatty or hostile plugin cannot
//! flood the host.

use std::path::Path;
use std::time::Instant;

use wasm_link::dir::{DirOptions, PluginDir};
use wasm_link::{Socket, Val};

use crate::polyglot::capture;

fn logger() -> (tempfile::TempDir, wasm_link::PluginTreeHead<wasm_link::dir::DirPlugin>) {
    let dir = tempfile::tempdir().unwrap();
    wasm_link_guests::copy_dir(Path::new(wasm_link_guests::LOGGING_DIR), dir.path());
    let plugin_dir = PluginDir::open(dir.path(), &DirOptions { cache: Some(crate::polyglot::cache()) }).unwrap();
    let head = crate::polyglot::load_opened(plugin_dir);
    (dir, head)
}

/// Has the plugin log `message` under `context`, `times` times, at `level`
/// (0 trace … 5 critical), capturing the events.
fn log(
    head: &wasm_link::PluginTreeHead<wasm_link::dir::DirPlugin>,
    level: u8,
    context: &str,
    message: &str,
    times: u32,
) -> Vec<String> {
    let seen = capture::Seen::default();
    tracing::subscriber::with_default(capture::Capture(seen.clone()), || {
        let args = [Val::U8(level), Val::String(context.into()), Val::String(message.into()), Val::U32(times)];
        match head.dispatch("test:logger/logger@0.1.0", "log", true, &args) {
            Socket::ExactlyOne(Ok(Val::U32(n))) => assert_eq!(n, times),
            other => panic!("{other:?}"),
        }
    });
    let events = seen.0.lock().unwrap();
    events.iter().filter(|(target, _)| target == "wasm_link::guest").map(|(_, fields)| fields.clone()).collect()
}

#[test]
fn each_wasi_logging_message_is_an_event_at_its_level_naming_the_plugin_and_context() {
    let (_dir, head) = logger();
    for (level, expected) in [(0, "TRACE"), (1, "DEBUG"), (2, "INFO"), (3, "WARN"), (4, "ERROR")] {
        let events = log(&head, level, "request 7", "the message", 1);
        assert_eq!(events.len(), 1, "{events:?}");
        let event = &events[0];
        assert!(event.starts_with(&format!("level={expected} ")), "{event}");
        for field in ["plugin=\"logger\"", "stream=\"wasi:logging\"", "context=\"request 7\"", "message=the message"] {
            assert!(event.contains(field), "{field} in {event}");
        }
    }
    let critical = log(&head, 5, "", "on fire", 1);
    assert!(critical[0].starts_with("level=ERROR ") && critical[0].contains("critical=true"), "{critical:?}");
}

#[test]
fn a_message_is_cut_to_1_kib_and_cannot_steer_a_terminal() {
    let (_dir, head) = logger();
    let message = format!("\u{1b}[31mred{}", "é".repeat(4000));
    let context = "c".repeat(1000);
    let events = log(&head, 2, &context, &message, 1);
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert!(!event.contains('\u{1b}') && event.contains("\\u{1b}[31mred"), "{}", &event[..80]);
    assert!(event.len() < 1024 + 128 + 200, "{} bytes", event.len());
    assert!(!event.contains(&"c".repeat(129)), "the context is cut at 128 bytes");
}

#[test]
fn a_flood_of_wasi_logging_messages_is_cut_to_1000_a_minute() {
    let (_dir, head) = logger();
    let started = Instant::now();
    let events = log(&head, 2, "flood", &"x".repeat(4096), 100_000);
    let windows = usize::try_from(started.elapsed().as_secs() / 60 + 1).unwrap();
    let logged = events.iter().filter(|e| e.starts_with("level=INFO")).count();
    let warned = events.iter().filter(|e| e.starts_with("level=WARN")).count();
    assert!(logged >= 1000 && logged <= 1000 * windows, "{logged} of 100 000 logged");
    assert!(warned >= 1 && warned <= 2 * windows, "{warned} warnings");
    assert!(events.iter().all(|e| e.len() < 1024 + 200), "a message is cut at 1 KiB");
    // The plugin carries on (its call returns); its next message is dropped
    // without another warning: the minute's are spent.
    if started.elapsed().as_secs() < 50 {
        assert_eq!(log(&head, 3, "after", "still here", 1), Vec::<String>::new());
    }
}
