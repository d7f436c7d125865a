//! The demo's root: parses the source with the one `parser`, lets every
//! `transform` edit the document, asks every `analyser` for metrics and has
//! the `formatter`, if there is one, render the report (else a plain format).

wit_bindgen::generate!({
    path: ["../../wit", "../../demo/interfaces/app"],
    inline: r#"
        package demo:guest;

        // The pipeline's own view of its sockets: the shapes it imports them in.
        package demo:parser@0.1.0 {
            interface parser {
                use wasm-link:runtime/types@0.1.0.{dispatch-error};
                resource document {
                    title: func() -> string;
                    paragraphs: func() -> list<string>;
                }
                parse: func(source: string) -> result<document, dispatch-error>;
            }
        }
        package demo:transform@0.1.0 {
            interface transform {
                use demo:parser/parser@0.1.0.{document};
                use wasm-link:runtime/types@0.1.0.{dispatch-error};
                apply: func(doc: borrow<document>) -> list<result<string, dispatch-error>>;
            }
        }
        package demo:analyser@0.1.0 {
            interface analyser {
                use demo:parser/parser@0.1.0.{document};
                record metric { name: string, value: f64 }
                analyse: func(doc: borrow<document>) -> list<tuple<string, result<list<metric>, string>>>;
            }
        }
        package demo:formatter@0.1.0 {
            interface formatter {
                use demo:analyser/analyser@0.1.0.{metric};
                record report {
                    title: string,
                    paragraphs: list<string>,
                    changes: list<string>,
                    metrics: list<tuple<string, list<metric>>>,
                }
                render: func(report: report) -> option<string>;
            }
        }

        world pipeline {
            import demo:parser/parser@0.1.0;
            import demo:transform/transform@0.1.0;
            import demo:analyser/analyser@0.1.0;
            import demo:formatter/formatter@0.1.0;
            export demo:app/app@0.1.0;
        }
    "#,
    world: "demo:guest/pipeline",
    generate_all,
});

use demo::analyser::analyser::{self, Metric};
use demo::formatter::formatter::{self, Report};
use demo::parser::parser;
use demo::transform::transform;
use exports::demo::app::app::Guest;
use wasm_link::runtime::types::DispatchError;

struct Pipeline;

fn describe(error: &DispatchError) -> String {
    match error {
        DispatchError::Trap(f)
        | DispatchError::Socket(f)
        | DispatchError::InvalidResource(f)
        | DispatchError::Reentrant(f)
        | DispatchError::Unavailable(f)
        | DispatchError::Other(f) => format!("`{}` failed in `{}`: {}", f.plugin, f.function, f.message),
    }
}

impl Guest for Pipeline {
    fn run(source: String) -> String {
        let doc = match parser::parse(&source) {
            Ok(doc) => doc,
            Err(error) => return format!("cannot parse: {}", describe(&error)),
        };
        let changes: Vec<String> = transform::apply(&doc)
            .into_iter()
            .map(|outcome| outcome.unwrap_or_else(|error| describe(&error)))
            .collect();
        let metrics: Vec<(String, Vec<Metric>)> = analyser::analyse(&doc)
            .into_iter()
            .map(|(plugin, outcome)| {
                let metrics = outcome.unwrap_or_else(|message| {
                    vec![Metric { name: format!("failed: {message}"), value: f64::NAN }]
                });
                (plugin, metrics)
            })
            .collect();
        let report = Report { title: doc.title(), paragraphs: doc.paragraphs(), changes, metrics };
        formatter::render(&report).unwrap_or_else(|| plain(&report))
    }
}

/// The built-in format, when no formatter plugin is installed.
fn plain(report: &Report) -> String {
    let mut out = format!("{}\n\n", report.title);
    for paragraph in &report.paragraphs {
        out.push_str(paragraph);
        out.push_str("\n\n");
    }
    for change in &report.changes {
        out.push_str(&format!("- {change}\n"));
    }
    for (plugin, metrics) in &report.metrics {
        for metric in metrics {
            out.push_str(&format!("{plugin}.{} = {}\n", metric.name, metric.value));
        }
    }
    out
}

export!(Pipeline);
