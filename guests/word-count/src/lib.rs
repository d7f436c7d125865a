//! `analyser` counting paragraphs, words and characters.

wit_bindgen::generate!({
    path: ["../../demo/interfaces/parser", "../../demo/interfaces/analyser"],
    inline: "package demo:guest; world analyser { export demo:analyser/analyser@0.1.0; }",
    world: "demo:guest/analyser",
    generate_all,
});

use demo::parser::parser::Document;
use exports::demo::analyser::analyser::{Guest, Metric};

struct WordCount;

#[allow(clippy::cast_precision_loss)]
impl Guest for WordCount {
    fn analyse(doc: &Document) -> Vec<Metric> {
        let paragraphs = doc.paragraphs();
        let words: usize = paragraphs.iter().map(|p| p.split_whitespace().count()).sum();
        let chars: usize = paragraphs.iter().map(|p| p.chars().count()).sum();
        vec![
            Metric { name: "paragraphs".into(), value: paragraphs.len() as f64 },
            Metric { name: "words".into(), value: words as f64 },
            Metric { name: "characters".into(), value: chars as f64 },
        ]
    }
}

export!(WordCount);
