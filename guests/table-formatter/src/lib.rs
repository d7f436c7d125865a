//! `formatter` rendering the report with a boxed title and a metrics table.
//! Its title rule is drawn with the first character of `/style/title-rule`,
//! a file in the directory the host's policy lends it read-only
//! (`[requests] files = { "/style" = "read" }` in its manifest); `=`
//! without it.

wit_bindgen::generate!({
    path: ["../../demo/interfaces/parser", "../../demo/interfaces/analyser", "../../demo/interfaces/formatter"],
    inline: "package demo:guest; world table-formatter { export demo:formatter/formatter@0.1.0; }",
    world: "demo:guest/table-formatter",
    generate_all,
});

use exports::demo::formatter::formatter::{Guest, Report};

struct Table;

impl Guest for Table {
    fn render(report: Report) -> String {
        let mut out = String::new();
        let rule = std::fs::read_to_string("/style/title-rule")
            .ok()
            .and_then(|text| text.trim().chars().next())
            .unwrap_or('=');
        let bar = rule.to_string().repeat(report.title.chars().count() + 4);
        out.push_str(&format!("{bar}\n| {} |\n{bar}\n\n", report.title));
        for paragraph in &report.paragraphs {
            out.push_str(&format!("  {paragraph}\n\n"));
        }
        if !report.changes.is_empty() {
            out.push_str("Changes:\n");
            for change in &report.changes {
                out.push_str(&format!("  * {change}\n"));
            }
            out.push('\n');
        }
        let width = report
            .metrics
            .iter()
            .flat_map(|(_, metrics)| metrics.iter().map(|m| m.name.len()))
            .max()
            .unwrap_or(0);
        out.push_str(&format!("+-{}-+----------+\n", "-".repeat(width + 16)));
        for (analyser, metrics) in &report.metrics {
            for metric in metrics {
                out.push_str(&format!("| {analyser:>14}: {:<width$} | {:>8} |\n", metric.name, metric.value));
            }
        }
        out.push_str(&format!("+-{}-+----------+\n", "-".repeat(width + 16)));
        out
    }
}

export!(Table);
