//! `transform` that collapses runs of whitespace inside paragraphs.

wit_bindgen::generate!({
    path: ["../../demo/interfaces/parser", "../../demo/interfaces/transform"],
    inline: "package demo:guest; world transform { export demo:transform/transform@0.1.0; }",
    world: "demo:guest/transform",
    generate_all,
});

use demo::parser::parser::Document;
use exports::demo::transform::transform::Guest;

struct Trim;

impl Guest for Trim {
    fn apply(doc: &Document) -> String {
        let mut changed = 0;
        let paragraphs: Vec<String> = doc
            .paragraphs()
            .into_iter()
            .map(|p| {
                let tidy = p.split_whitespace().collect::<Vec<_>>().join(" ");
                if tidy != p {
                    changed += 1;
                }
                tidy
            })
            .collect();
        doc.set_paragraphs(&paragraphs);
        format!("collapsed whitespace in {changed} paragraph(s)")
    }
}

export!(Trim);
