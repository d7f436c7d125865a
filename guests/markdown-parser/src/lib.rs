//! `parser` for a small Markdown subset: the first `# ` line is the title,
//! blank lines separate paragraphs.

use std::cell::RefCell;

wit_bindgen::generate!({
    path: ["../../demo/interfaces/parser"],
    inline: "package demo:guest; world markdown-parser { export demo:parser/parser@0.1.0; }",
    world: "demo:guest/markdown-parser",
    generate_all,
});

use exports::demo::parser::parser::{Document, Guest, GuestDocument};

struct Parser;

struct Doc {
    title: String,
    paragraphs: RefCell<Vec<String>>,
}

impl GuestDocument for Doc {
    fn title(&self) -> String {
        self.title.clone()
    }
    fn paragraphs(&self) -> Vec<String> {
        self.paragraphs.borrow().clone()
    }
    fn set_paragraphs(&self, paragraphs: Vec<String>) {
        *self.paragraphs.borrow_mut() = paragraphs;
    }
}

impl Guest for Parser {
    type Document = Doc;

    fn parse(source: String) -> Document {
        let mut title = String::from("Untitled");
        let mut paragraphs = Vec::new();
        let mut current: Vec<&str> = Vec::new();
        for line in source.lines() {
            if let Some(heading) = line.strip_prefix("# ") {
                title = heading.trim().to_owned();
            } else if line.trim().is_empty() {
                if !current.is_empty() {
                    paragraphs.push(current.join(" "));
                    current.clear();
                }
            } else {
                current.push(line);
            }
        }
        if !current.is_empty() {
            paragraphs.push(current.join(" "));
        }
        Document::new(Doc { title, paragraphs: RefCell::new(paragraphs) })
    }
}

export!(Parser);
