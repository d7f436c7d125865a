//! `wasm-link call` (and `call --watch`): one call of the root, its
//! arguments read in WAVE, its result printed as text or JSON.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use wasm_link::dir::{DirChange, DirOptions, DirPlugin, DirWatch};
use wasm_link::{PluginTreeHead, Socket, Val};

use crate::load::{host_policy, open_and_load};
use crate::output::{self, Output};
use crate::with_causes;

/// `wasm-link call`; with `watch`, the same call again after each change
/// of the directory, until the process is interrupted.
pub fn run(
    dir: &Path,
    interface: &str,
    function: &str,
    args: &[String],
    options: CallOptions,
) -> Result<ExitCode, String> {
    let CallOptions { cache, output, watch, freeze } = options;
    let loaded = open_and_load(dir, Some(interface), cache, freeze)?;
    let head = loaded.head.map_err(|e| format!("`{interface}` cannot be served: {e}"))?;
    let (values, returns) = arguments(&head, interface, function, args)?;
    let call = Call { interface: interface.to_owned(), function: function.to_owned(), returns, values, output };
    let succeeded = call.run(&head, &mut std::io::stdout().lock()).map_err(|e| format!("cannot print: {e}"))?;
    if watch {
        follow(dir, loaded.options, head, call)
    } else {
        Ok(if succeeded { ExitCode::SUCCESS } else { ExitCode::FAILURE })
    }
}

/// `args` (in WAVE) as the arguments of the root's `function`, and whether
/// it returns a value.
pub fn arguments(
    head: &PluginTreeHead<DirPlugin>,
    interface: &str,
    function: &str,
    args: &[String],
) -> Result<(Vec<Val>, bool), String> {
    let ty = head.function_type(function).ok_or_else(|| {
        let known: Vec<&str> = head.function_names().collect();
        format!("`{interface}` has no function `{function}` (it has: {})", known.join(", "))
    })?;
    let params: Vec<_> = ty.params().collect();
    if params.len() != args.len() {
        let expected: Vec<String> = params.iter().map(|(name, _)| (*name).to_owned()).collect();
        return Err(format!(
            "`{function}` takes {} argument(s) ({}), {} given",
            params.len(),
            expected.join(", "),
            args.len()
        ));
    }
    let mut values = Vec::with_capacity(args.len());
    for ((name, ty), arg) in params.iter().zip(args) {
        let value: Val = wasm_wave::from_str(ty, arg).map_err(|e| format!("argument `{name}`: {e}"))?;
        values.push(value);
    }
    Ok((values, ty.results().len() == 1))
}

/// `call`'s options besides what to call.
pub struct CallOptions {
    /// The compile cache directory.
    pub cache: Option<PathBuf>,
    /// How results print.
    pub output: Output,
    /// Call again at each change of the directory.
    pub watch: bool,
    /// Load frozen.
    pub freeze: bool,
}

/// A call, with its arguments parsed, to make again.
struct Call {
    interface: String,
    function: String,
    /// Whether the function returns a value.
    returns: bool,
    values: Vec<Val>,
    output: Output,
}

impl Call {
    /// Calls and prints the result to `out`, one line per plugin for
    /// multi-plugin interfaces. Returns whether every plugin succeeded.
    ///
    /// # Errors
    /// When `out` cannot be written.
    fn run(&self, head: &PluginTreeHead<DirPlugin>, out: &mut impl Write) -> std::io::Result<bool> {
        let Self { interface, function, returns, values, output } = self;
        let result = head.dispatch(head.interface_path(), function, *returns, values);
        let succeeded = match &result {
            Socket::ExactlyOne(result) | Socket::AtMostOne(Some(result)) => result.is_ok(),
            Socket::AtMostOne(None) => true,
            Socket::AtLeastOne(results) | Socket::Any(results) => results.iter().all(|(_, r)| r.is_ok()),
        };
        if *output == Output::Json {
            writeln!(out, "{}", as_json(result, *returns))?;
        } else {
            let text = |result: &Result<Val, wasm_link::DispatchError<String>>| match result {
                Ok(value) if *returns => output::text(value, *output),
                Ok(_) => "ok".to_owned(),
                Err(error) => format!("error: {}", with_causes(error)),
            };
            match result {
                Socket::ExactlyOne(result) | Socket::AtMostOne(Some(result)) => writeln!(out, "{}", text(&result))?,
                Socket::AtMostOne(None) => writeln!(out, "(no plugin implements `{interface}`)")?,
                Socket::AtLeastOne(results) | Socket::Any(results) => {
                    let mut results: Vec<_> = results.into_iter().collect();
                    results.sort_by(|a, b| a.0.cmp(&b.0));
                    if results.is_empty() {
                        writeln!(out, "(no plugin implements `{interface}`)")?;
                    }
                    for (id, result) in &results {
                        writeln!(out, "{id}: {}", text(result))?;
                    }
                }
            }
        }
        out.flush()?;
        Ok(succeeded)
    }
}

/// A call's results as one JSON document: `{"value": ..}` or `{"error":
/// ".."}` (`{"value": null}` for a function without a result), `null` when
/// no plugin implements an `AtMostOne` interface, and for a multi-plugin
/// interface a list of those, each with its `"plugin"`, in plugin-id order.
fn as_json(result: Socket<Result<Val, wasm_link::DispatchError<String>>, String>, returns: bool) -> serde_json::Value {
    let entry = |result: &Result<Val, wasm_link::DispatchError<String>>| match result {
        Ok(value) if returns => serde_json::json!({ "value": output::json(value) }),
        Ok(_) => serde_json::json!({ "value": null }),
        Err(error) => serde_json::json!({ "error": with_causes(error) }),
    };
    match result {
        Socket::ExactlyOne(result) | Socket::AtMostOne(Some(result)) => entry(&result),
        Socket::AtMostOne(None) => serde_json::Value::Null,
        Socket::AtLeastOne(results) | Socket::Any(results) => {
            let mut results: Vec<_> = results.into_iter().collect();
            results.sort_by(|a, b| a.0.cmp(&b.0));
            results
                .iter()
                .map(|(id, result)| {
                    let mut entry = entry(result);
                    if let Some(object) = entry.as_object_mut() {
                        object.insert("plugin".to_owned(), serde_json::json!(id));
                    }
                    entry
                })
                .collect()
        }
    }
}

/// `call --watch`: follows `dir` with `head`, printing each batch of
/// changes (`watch: ...`, a line each) and the call's new result. Returns
/// only when the directory cannot be followed.
fn follow(dir: &Path, options: DirOptions, head: PluginTreeHead<DirPlugin>, call: Call) -> Result<ExitCode, String> {
    let head = Arc::new(head);
    let on_change = {
        let head = head.clone();
        move |changes: Vec<DirChange>| {
            let mut out = std::io::stdout().lock();
            // With JSON results, the changes go to standard error: standard
            // output stays one JSON document per call.
            let printed = if call.output == Output::Json {
                print_changes(&changes, &mut std::io::stderr().lock())
            } else {
                print_changes(&changes, &mut out)
            }
            .and_then(|()| call.run(&head, &mut out));
            if let Err(error) = printed {
                // Nobody reads the results any more: stop.
                eprintln!("error: cannot print: {error}");
                std::process::exit(1);
            }
        }
    };
    // Under the command line's policy, as the directory was first read.
    let watched = match host_policy(dir)? {
        Some(policy) => DirWatch::start_with_policy(dir, options, policy, head, on_change),
        None => DirWatch::start(dir, options, head, on_change),
    };
    let _watch = watched.map_err(|e| format!("cannot follow `{}`: {}", dir.display(), with_causes(&e)))?;
    eprintln!("following `{}` (Ctrl-C to stop)", dir.join("plugins").display());
    loop {
        std::thread::park();
    }
}

/// Prints a batch of changes, every line (an error may span several)
/// starting with `watch: ` so that the results stand out.
fn print_changes(changes: &[DirChange], out: &mut impl Write) -> std::io::Result<()> {
    for change in changes {
        for line in change.to_string().lines() {
            writeln!(out, "watch: {line}")?;
        }
    }
    Ok(())
}
