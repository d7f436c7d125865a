//! A hostile `formatter` for the tests, never installed in `demo/`: it traps
//! when the document contains [`MARKER`], and otherwise renders the title and
//! the paragraphs. The pipeline imports the formatter as `option<string>`,
//! which cannot carry an error, so the trap fails the whole `run` call.

wit_bindgen::generate!({
    path: ["../../demo/interfaces/parser", "../../demo/interfaces/analyser", "../../demo/interfaces/formatter"],
    inline: "package demo:guest; world trapping-formatter { export demo:formatter/formatter@0.1.0; }",
    world: "demo:guest/trapping-formatter",
    generate_all,
});

use exports::demo::formatter::formatter::{Guest, Report};

/// The text that makes the formatter trap. Upper case and without spaces, so
/// the demo's transforms (capitals, whitespace) leave it as it is.
const MARKER: &str = "TRAP-NOW";

struct Trapping;

impl Guest for Trapping {
    fn render(report: Report) -> String {
        if report.title.contains(MARKER) || report.paragraphs.iter().any(|p| p.contains(MARKER)) {
            // A deliberate trap: `panic = "abort"` in the guest profile turns
            // it into a wasm `unreachable`.
            panic!("the document contains {MARKER}");
        }
        let mut out = format!("[{}]\n", report.title);
        for paragraph in &report.paragraphs {
            out.push_str(paragraph);
            out.push('\n');
        }
        out
    }
}

export!(Trapping);
