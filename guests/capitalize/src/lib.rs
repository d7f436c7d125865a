//! `transform` that starts every paragraph and sentence with a capital.

wit_bindgen::generate!({
    path: ["../../demo/interfaces/parser", "../../demo/interfaces/transform"],
    inline: "package demo:guest; world transform { export demo:transform/transform@0.1.0; }",
    world: "demo:guest/transform",
    generate_all,
});

use demo::parser::parser::Document;
use exports::demo::transform::transform::Guest;

struct Capitalize;

fn capitalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut start = true;
    for c in text.chars() {
        if start && c.is_alphabetic() {
            out.extend(c.to_uppercase());
            start = false;
        } else {
            out.push(c);
            if matches!(c, '.' | '!' | '?') {
                start = true;
            }
        }
    }
    out
}

impl Guest for Capitalize {
    fn apply(doc: &Document) -> String {
        let before = doc.paragraphs();
        let after: Vec<String> = before.iter().map(|p| capitalize(p)).collect();
        let changed = before.iter().zip(&after).filter(|(a, b)| a != b).count();
        doc.set_paragraphs(&after);
        format!("capitalized sentences in {changed} paragraph(s)")
    }
}

export!(Capitalize);
