//! `analyser` estimating readability: words per sentence and letters per word.

wit_bindgen::generate!({
    path: ["../../demo/interfaces/parser", "../../demo/interfaces/analyser"],
    inline: "package demo:guest; world analyser { export demo:analyser/analyser@0.1.0; }",
    world: "demo:guest/analyser",
    generate_all,
});

use demo::parser::parser::Document;
use exports::demo::analyser::analyser::{Guest, Metric};

struct Readability;

#[allow(clippy::cast_precision_loss)]
impl Guest for Readability {
    fn analyse(doc: &Document) -> Vec<Metric> {
        let text = doc.paragraphs().join(" ");
        let sentences = text.split(['.', '!', '?']).filter(|s| !s.trim().is_empty()).count().max(1);
        let words: Vec<&str> = text.split_whitespace().collect();
        let letters: usize = words.iter().map(|w| w.chars().filter(|c| c.is_alphabetic()).count()).sum();
        let per_sentence = words.len() as f64 / sentences as f64;
        let per_word = letters as f64 / words.len().max(1) as f64;
        vec![
            Metric { name: "sentences".into(), value: sentences as f64 },
            Metric { name: "words per sentence".into(), value: (per_sentence * 10.0).round() / 10.0 },
            Metric { name: "letters per word".into(), value: (per_word * 10.0).round() / 10.0 },
        ]
    }
}

export!(Readability);
