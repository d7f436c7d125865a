//! A `transform` that reads the wall clock: it imports `wasi:clocks`, which a
//! plugin directory grants only on request (`grants = ["wasi:clocks"]`).

wit_bindgen::generate!({
    path: ["../../demo/interfaces/parser", "../../demo/interfaces/transform"],
    inline: "package demo:guest; world transform { export demo:transform/transform@0.1.0; }",
    world: "demo:guest/transform",
    generate_all,
});

use demo::parser::parser::Document;
use exports::demo::transform::transform::Guest;

struct ClockPeek;

impl Guest for ClockPeek {
    fn apply(_doc: &Document) -> String {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        format!("read the clock: {now}")
    }
}

export!(ClockPeek);
