//! `file-stats`: describes a text file it reads through the host's
//! `example:files/host#read`, an async host function in
//! `examples/async_host.rs`. The guest code is synchronous: the host awaits
//! the read while the plugin's call is suspended.

wit_bindgen::generate!({
    path: "wit",
    world: "file-stats",
});

use example::files::host;
use exports::example::files::stats::Guest;

struct FileStats;

impl Guest for FileStats {
    fn describe(path: String) -> String {
        match host::read(&path) {
            Ok(text) => format!(
                "{path}: {} lines, {} words, {} bytes",
                text.lines().count(),
                text.split_whitespace().count(),
                text.len()
            ),
            Err(reason) => format!("{path}: cannot read it ({reason})"),
        }
    }
}

export!(FileStats);
