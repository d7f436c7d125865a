//! `wasm-link`: look at and poke a plugin directory.
//!
//! A thin front-end over the library: every command is a library call plus
//! printing.
//!
//! - `wasm-link check DIR`: load the tree and report, per plugin, whether it
//!   loaded and why not; exit code 1 when the root cannot be served.
//! - `wasm-link graph DIR --format dot|mermaid|svg`: the plugin graph (`svg`
//!   laid out and drawn in process); `--stats FUNCTION --arg WAVE` calls the
//!   root first and labels each edge with its calls and latency.
//! - `wasm-link call DIR INTERFACE FUNCTION [ARGS]...`: call a function with
//!   arguments in WAVE; results as text, WAVE or JSON (`--output`), one line
//!   per plugin for multi-plugin interfaces. With `--watch`, calls again
//!   after each change of the directory.
//! - `wasm-link wit DIR PLUGIN`: the WIT world a plugin must target.
//! - `wasm-link new DIR ID --plug IFACE [--socket IFACE]... [--lang L]`: a
//!   plugin folder with sources that build: a Rust guest crate, or an
//!   `app.py` (Python) or `app.js` (JavaScript), every export stubbed.
//! - `wasm-link build DIR [ID]...`: build those plugins (Rust crates for
//!   wasm32-wasip2, Python and JavaScript with their pinned
//!   componentizers), install and check each component.
//! - `wasm-link serve DIR --listen ADDR`: serve the root interface over
//!   wRPC (framed TCP) to remote plugins of other hosts.

mod build;
mod call;
mod check;
mod graph;
mod javascript;
mod load;
mod new;
mod output;
mod python;
mod serve;
mod wit;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
pub use wasm_link::error_chain as with_causes;
use wasm_link_toolchain::Language;

#[derive(Parser)]
#[command(name = "wasm-link", version, about = "Check, draw, call and scaffold wasm-link plugin directories")]
struct Cli {
    /// The host's policy: what each plugin's `[requests]` may get (files,
    /// environment variables, configuration, HTTP authorities), as
    /// `[<plugin id>]` tables of the form of `[policy.<plugin id>]` in
    /// `wasm-link.toml`, which it replaces.
    #[arg(long, global = true, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// One more approval, added to the policy: `PLUGIN.KEY=VALUE`, a key of
    /// `[policy.<plugin id>]` and a TOML value or a bare word
    /// (`summariser.http=api.example.com`, `formatter.config={ rule = "~" }`).
    /// Repeatable.
    #[arg(long, global = true, value_name = "PLUGIN.KEY=VALUE")]
    allow: Vec<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load the plugin tree and report, per plugin, whether it loaded and why not.
    Check {
        /// The plugin directory (with `wasm-link.toml`).
        dir: PathBuf,
        /// Cache compiled components here. The directory is trusted like this
        /// program: its entries are native code that is run, checksummed
        /// against corruption but not against an attacker who can write
        /// there. Use a directory only you can write.
        #[arg(long)]
        cache: Option<PathBuf>,
        /// Compose the plugins joined by plain `ExactlyOne` edges into one
        /// component each (as `LoadOptions::freeze` does), and show which
        /// edges froze and why the others did not.
        #[arg(long)]
        freeze: bool,
    },
    /// Print the plugin graph with each interface's cardinality.
    Graph {
        /// The plugin directory.
        dir: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
        format: GraphFormat,
        /// Load the tree frozen (this compiles it) and draw frozen edges in
        /// bold.
        #[arg(long)]
        freeze: bool,
        /// Load the tree (this compiles it), call this function of the root
        /// once, and label each edge with its calls, failures and latency
        /// (p50 and p99).
        #[arg(long, value_name = "FUNCTION")]
        stats: Option<String>,
        /// An argument of the `--stats` call, in WAVE; repeat for more.
        #[arg(long = "arg", value_name = "WAVE", requires = "stats")]
        args: Vec<String>,
        /// Cache compiled components here (a Python or JavaScript plugin
        /// takes seconds to compile). The directory is trusted like this
        /// program: its entries are native code that is run, checksummed
        /// against corruption but not against an attacker who can write
        /// there. Use a directory only you can write.
        #[arg(long)]
        cache: Option<PathBuf>,
    },
    /// Call a function of an interface on every plugin that implements it.
    Call {
        /// The plugin directory.
        dir: PathBuf,
        /// The interface to call (its id in the directory).
        interface: String,
        /// The function's name, as exported (`get-value`, `[method]doc.text`).
        function: String,
        /// The arguments, in WAVE (`42`, `"text"`, `[1, 2]`, `{a: 1}`).
        args: Vec<String>,
        /// Cache compiled components here. The directory is trusted like this
        /// program: its entries are native code that is run, checksummed
        /// against corruption but not against an attacker who can write
        /// there. Use a directory only you can write.
        #[arg(long)]
        cache: Option<PathBuf>,
        /// How results print: `text` (a string as its text, anything else in
        /// WAVE), `wave` (everything in WAVE), `json` (one JSON document).
        #[arg(long, value_enum, default_value_t = output::Output::Text)]
        output: output::Output,
        /// After the first call, follow the directory's `plugins/` and call
        /// again after each batch of changes, printing the changes and the
        /// new result; a broken change is reported and the version before it
        /// keeps serving. Runs until interrupted (Ctrl-C).
        #[arg(long)]
        watch: bool,
        /// Compose the plugins joined by plain `ExactlyOne` edges into one
        /// component each (as `LoadOptions::freeze` does).
        #[arg(long)]
        freeze: bool,
    },
    /// Add a plugin to a directory: its manifest, its world and sources
    /// that build, every export of its plug stubbed (Rust's `todo!()`,
    /// Python's `NotImplementedError`, a JavaScript `Error`).
    New {
        /// The plugin directory.
        dir: PathBuf,
        /// The new plugin's id (lowercase letters, digits and dashes).
        id: String,
        /// The interface it implements (its id in the directory).
        #[arg(long)]
        plug: String,
        /// An interface it uses; repeat for more.
        #[arg(long = "socket")]
        sockets: Vec<String>,
        /// The language it is written in: `rust` (a crate), `python`
        /// (`app.py`, built with componentize-py) or `js` (`app.js`, built
        /// with componentize-js).
        #[arg(long = "lang", default_value = "rust", value_parser = parse_language)]
        language: Language,
    },
    /// Build a directory's plugins from their sources (a Rust crate for
    /// wasm32-wasip2, `app.py` with componentize-py, `app.js` with
    /// componentize-js), install each component beside its manifest and
    /// check it against its plug. The Python and JavaScript toolchains are
    /// installed on first use in `$WASM_LINK_TOOLCHAINS`, else in
    /// `toolchains` of the target directory (`$CARGO_TARGET_DIR`, else
    /// `DIR/target`).
    Build {
        /// The plugin directory.
        dir: PathBuf,
        /// The plugins to build (all with sources when none is given).
        ids: Vec<String>,
        /// Cache the check's compiled components here (`check` and `call`
        /// with the same `--cache` then find them compiled). The directory
        /// is trusted like this program: its entries are native code that
        /// is run, checksummed against corruption but not against an
        /// attacker who can write there. Use a directory only you can write.
        #[arg(long)]
        cache: Option<PathBuf>,
    },
    /// Serve the root interface (or another, with `--interface`) over wRPC,
    /// on framed TCP (`--listen`) or in a NATS lattice's queue group
    /// (`--nats`), for plugins of other hosts declared `remote`.
    Serve {
        /// The plugin directory.
        dir: PathBuf,
        /// Where to listen on TCP (`127.0.0.1:7000`; port 0 picks a free one).
        #[arg(long, required_unless_present = "nats")]
        listen: Option<String>,
        /// A NATS server to serve through (`nats://127.0.0.1:4222`): the
        /// calls of every host whose remote plugin names a NATS server of
        /// the same lattice are shared among the servers in its queue group.
        #[arg(long)]
        nats: Option<String>,
        /// The lattice's subject prefix on NATS (with `--nats`).
        #[arg(long, requires = "nats", default_value = "")]
        prefix: String,
        /// The interface to serve (its id in the directory); the directory's
        /// root by default. It must be exactly-one or at-most-one.
        #[arg(long)]
        interface: Option<String>,
        /// Cache compiled components here (a Python or JavaScript plugin
        /// takes seconds to compile). The directory is trusted like this
        /// program: its entries are native code that is run, checksummed
        /// against corruption but not against an attacker who can write
        /// there. Use a directory only you can write.
        #[arg(long)]
        cache: Option<PathBuf>,
    },
    /// Print the WIT world a plugin must target: its plug exported, each
    /// socket imported in the shape its cardinality gives.
    Wit {
        /// The plugin directory.
        dir: PathBuf,
        /// The plugin's id.
        plugin: String,
    },
}

/// How `graph` prints.
#[derive(Clone, Copy, ValueEnum)]
enum GraphFormat {
    /// Graphviz.
    Dot,
    /// Mermaid flowchart.
    Mermaid,
    /// An SVG picture, laid out in process (no Graphviz needed).
    Svg,
}

/// `--lang`: a language by the names [`Language::parse`] takes.
fn parse_language(name: &str) -> Result<Language, String> {
    Language::parse(name).ok_or_else(|| format!("`{name}` is not a plugin language: use rust, python or js"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(message) = load::set_policy(cli.policy.as_deref(), cli.allow.clone()) {
        eprintln!("error: {message}");
        return ExitCode::FAILURE;
    }
    let outcome = match cli.command {
        Command::Check { dir, cache, freeze } => check::run(&dir, cache, freeze),
        Command::Graph { dir, format, freeze, stats, args, cache } => {
            graph::run(&dir, format, freeze, stats.as_deref().map(|function| (function, args.as_slice())), cache)
        }
        Command::Call { dir, interface, function, args, cache, output, watch, freeze } => {
            let options = call::CallOptions { cache, output, watch, freeze };
            call::run(&dir, &interface, &function, &args, options)
        }
        Command::Wit { dir, plugin } => wit::run(&dir, &plugin),
        Command::New { dir, id, plug, sockets, language } => new::run(&dir, &id, &plug, &sockets, language),
        Command::Build { dir, ids, cache } => build::run(&dir, &ids, cache),
        Command::Serve { dir, listen, nats, prefix, interface, cache } => serve::run(
            &dir,
            &serve::Endpoints { listen: listen.as_deref(), nats: nats.as_deref(), prefix: &prefix },
            interface.as_deref(),
            cache,
        ),
    };
    match outcome {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
