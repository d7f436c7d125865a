//! `logger`: logs through `wasi:logging` as its caller asks, so the tests
//! see what the host makes of a plugin's messages (tests/logging/).

wit_bindgen::generate!({
    path: ["../../tests/logging/interfaces/logger", "../../tests/logging/wit/logging.wit"],
    inline: "package test:guest; world logger { import wasi:logging/logging@0.1.0-draft; export test:logger/logger@0.1.0; }",
    world: "test:guest/logger",
    generate_all,
});

use exports::test::logger::logger::Guest;
use wasi::logging::logging::{Level, log};

struct Logger;

impl Guest for Logger {
    fn log(level: u8, context: String, message: String, times: u32) -> u32 {
        let level = match level {
            0 => Level::Trace,
            1 => Level::Debug,
            2 => Level::Info,
            3 => Level::Warn,
            4 => Level::Error,
            _ => Level::Critical,
        };
        for _ in 0..times {
            log(level, &context, &message);
        }
        times
    }
}

export!(Logger);
