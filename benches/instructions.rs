//! What one call costs in instructions, wasm-link beside its raw-wasmtime
//! baseline, counted by callgrind: unlike wall-clock time on a small shared
//! VM, an instruction count is the same run after run, so it can hold a
//! budget (`benches/instruction-budget.toml`) that CI checks.
//!
//! `cargo bench --bench instructions` runs this binary under
//! `valgrind --tool=callgrind` once per path, counting only inside the loop
//! of calls (`--toggle-collect`), and prints per path the instructions per
//! call of both sides and the overhead; it fails when an overhead is over its
//! budget, naming the path and the figures. `valgrind` must be on the `PATH`
//! (`.ci/install-valgrind` installs Debian's package where it is missing).
//!
//! Paths (all on `wasm_link::default_engine()`, epoch interruption on):
//!
//! | path | wasm-link | baseline |
//! |---|---|---|
//! | `host-dispatch` | `dispatch` of `get(u32) -> u32` | `Func::call` |
//! | `host-typed` | `typed::<(u32,), (u32,)>` | `TypedFunc::call` |
//! | `socket-hop` | one hop of `run(n)` through a socket, per hop | a `func_wrap` trampoline into the callee's `TypedFunc` |
//! | `resource-round-trip` | a resource made, read and dropped through a socket | trampolines keeping the owner's handles |
//! | `async-dispatch` | `dispatch_async` on a `load_async` tree | `Func::call_async` |
//! | `async-socket-hop` | a hop under `dispatch_async`, awaited | the same hop in a blocking tree |

#![allow(missing_docs, reason = "a benchmark binary")]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::process::{Command, ExitCode};

use wasm_link::Val;

mod fixtures;
#[allow(clippy::wildcard_imports, reason = "the shared fixtures, by name")]
use fixtures::*;

/// Calls counted per side and path (hops for the socket paths: `run` makes
/// [`HOPS`] per call).
const CALLS: u32 = 2000;
/// Hops (or resource round trips) per `run` call on the socket paths.
const HOPS: u32 = 200;

/// A path: its name, and how many calls each measured loop makes.
struct Path {
    name: &'static str,
    per_loop: u32,
}

const PATHS: &[Path] = &[
    Path { name: "host-dispatch", per_loop: CALLS },
    Path { name: "host-typed", per_loop: CALLS },
    Path { name: "socket-hop", per_loop: HOPS * (CALLS / HOPS) },
    Path { name: "resource-round-trip", per_loop: HOPS * (CALLS / HOPS) },
    Path { name: "async-dispatch", per_loop: CALLS },
    Path { name: "async-socket-hop", per_loop: HOPS * (CALLS / HOPS) },
];

/// The loop callgrind counts: `calls` runs of `call`. Its name is what
/// `--toggle-collect` matches; never inlined, so it stays a function.
#[inline(never)]
fn counted_loop(calls: u32, call: &mut dyn FnMut()) {
    for _ in 0..calls {
        call();
    }
}

/// The engine both sides run on: `default_engine`, or with feature
/// `component-model-async` and `INSTRUCTION_ENGINE=async-func`, one from
/// `async_func_engine_config` (wasmtime's concurrency on), to measure what
/// that costs every call.
fn engine() -> wasm_link::Engine {
    #[cfg(feature = "component-model-async")]
    if std::env::var("INSTRUCTION_ENGINE").is_ok_and(|e| e == "async-func") {
        return wasm_link::Engine::new(&wasm_link::async_func_engine_config()).expect("engine");
    }
    wasm_link::default_engine().expect("engine")
}

/// Runs side `side` (`linked` or `raw`) of `path` under measurement: sets
/// it up, warms it, then the counted loop.
#[allow(clippy::too_many_lines, reason = "one arm per path and side, spelled out")]
fn measure(path: &str, side: &str) {
    let engine = engine();
    let empty = wasmtime::component::Linker::<()>::new(&engine);
    let linked = side == "linked";
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let mut call: Box<dyn FnMut()> = match (path, linked) {
        ("host-dispatch", true) => {
            let head = tree(&engine, "callee");
            Box::new(move || {
                black_box(only(head.dispatch("bench:b/callee", "get", true, &[Val::U32(black_box(1))])));
            })
        }
        ("host-dispatch", false) => {
            let (mut store, func) = instance_export(&engine, CALLEE, &empty, "bench:b/callee", "get");
            let mut results = [Val::U32(0)];
            Box::new(move || {
                func.call(&mut store, &[Val::U32(black_box(1))], &mut results).expect("call");
                black_box(&results);
            })
        }
        ("host-typed", true) => {
            let head: &'static Head = Box::leak(Box::new(tree(&engine, "callee")));
            let typed = head.typed::<(u32,), (u32,)>("get").expect("`get` is a root function");
            Box::new(move || {
                black_box(only(typed.call((black_box(1),))));
            })
        }
        ("host-typed", false) => {
            let (mut store, func) = instance_export(&engine, CALLEE, &empty, "bench:b/callee", "get");
            let typed: GetFunc = func.typed(&store).expect("typed");
            Box::new(move || {
                black_box(typed.call(&mut store, (black_box(1),)).expect("call"));
            })
        }
        ("socket-hop", true) => {
            let head: &'static Head = Box::leak(Box::new(tree(&engine, "caller")));
            let run = head.typed::<(u32,), (u32,)>("run").expect("`run` is a root function");
            Box::new(move || {
                black_box(only(run.call((black_box(HOPS),))));
            })
        }
        ("socket-hop", false) => {
            let (mut store, run) = socket_trampoline(&engine);
            Box::new(move || {
                black_box(run.call(&mut store, (black_box(HOPS),)).expect("call"));
            })
        }
        ("resource-round-trip", true) => {
            let head: &'static Head = Box::leak(Box::new(tree(&engine, "user")));
            let run = head.typed::<(u32,), (u32,)>("run").expect("`run` is a root function");
            Box::new(move || {
                black_box(only(run.call((black_box(HOPS),))));
            })
        }
        ("resource-round-trip", false) => {
            let (mut store, run) = resource_trampoline(&engine);
            Box::new(move || {
                black_box(run.call(&mut store, (black_box(HOPS),)).expect("call"));
            })
        }
        ("async-dispatch", true) => {
            let head = runtime.block_on(tree_async(&engine, "callee"));
            Box::new(move || {
                runtime.block_on(async {
                    for _ in 0..CALLS {
                        let args = [Val::U32(black_box(1))];
                        black_box(only(head.dispatch_async("bench:b/callee", "get", true, &args).await));
                    }
                });
            })
        }
        ("async-dispatch", false) => {
            let (mut store, func) = instance_export(&engine, CALLEE, &empty, "bench:b/callee", "get");
            let mut results = [Val::U32(0)];
            Box::new(move || {
                runtime.block_on(async {
                    for _ in 0..CALLS {
                        func.call_async(&mut store, &[Val::U32(black_box(1))], &mut results).await.expect("call");
                        black_box(&results);
                    }
                });
            })
        }
        ("async-socket-hop", linked) => {
            // Awaited hops in a `load_async` tree (linked) against the
            // same hops in a blocking tree, both under `dispatch_async`.
            let head = if linked { runtime.block_on(tree_async(&engine, "caller")) } else { tree(&engine, "caller") };
            Box::new(move || {
                runtime.block_on(async {
                    let args = [Val::U32(black_box(HOPS))];
                    black_box(only(head.dispatch_async("bench:b/caller", "run", true, &args).await));
                });
            })
        }
        _ => panic!("no path `{path}`"),
    };
    let path = PATHS.iter().find(|p| p.name == path).expect("a known path");
    // Batched paths make their calls inside one `call`.
    let batched = path.name == "async-dispatch";
    let hops = matches!(path.name, "socket-hop" | "resource-round-trip" | "async-socket-hop");
    let loops = if batched {
        1
    } else if hops {
        path.per_loop / HOPS
    } else {
        path.per_loop
    };
    // Warm: first calls fill caches, lazily made tables, the lock's state.
    warm_up(loops.min(2), &mut call);
    counted_loop(loops, &mut call);
}

/// Warm-up calls, outside the counted loop.
#[inline(never)]
fn warm_up(calls: u32, call: &mut dyn FnMut()) {
    for _ in 0..calls {
        call();
    }
}

/// Instructions callgrind counted in [`counted_loop`] for one side of a path.
fn count(path: &str, side: &str) -> Result<u64, String> {
    let me = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    let out = std::env::temp_dir().join(format!("wasm-link-callgrind-{}-{path}-{side}", std::process::id()));
    let output = Command::new("valgrind")
        .args(["--tool=callgrind", "--toggle-collect=*counted_loop*", "--dump-instr=no"])
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(&me)
        .args(["--measure", path, side])
        .output()
        .map_err(|e| format!("cannot run valgrind ({e}): install it (`.ci/install-valgrind`)"))?;
    let _ = std::fs::remove_file(&out);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!("`{path}` ({side}) failed under valgrind:\n{stderr}"));
    }
    stderr
        .lines()
        .find_map(|line| line.split("Collected :").nth(1))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| format!("no instruction count in callgrind's output:\n{stderr}"))
}

/// `benches/instruction-budget.toml`: the overhead each path may have, in
/// instructions per call.
fn budgets() -> Result<BTreeMap<String, f64>, String> {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/instruction-budget.toml");
    let text = std::fs::read_to_string(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    let overhead = table.get("overhead").and_then(toml::Value::as_table).ok_or("no [overhead] table")?;
    overhead
        .iter()
        .map(|(path, value)| {
            let budget = value.as_integer().ok_or_else(|| format!("overhead.{path} is not a whole number"))?;
            #[allow(clippy::cast_precision_loss, reason = "instruction budgets are small")]
            Ok((path.clone(), budget as f64))
        })
        .collect()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, path, side] = &args[..]
        && flag == "--measure"
    {
        measure(path, side);
        return ExitCode::SUCCESS;
    }
    // `cargo test --benches` runs bench binaries with no `--bench`: nothing
    // to count there.
    if !args.iter().any(|a| a == "--bench") {
        return ExitCode::SUCCESS;
    }
    let budgets = match budgets() {
        Ok(budgets) => budgets,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let only = std::env::var("INSTRUCTION_PATHS").ok();
    let mut over = Vec::new();
    println!("{:<22} {:>12} {:>12} {:>10} {:>8}", "path", "wasm-link", "raw", "overhead", "budget");
    for path in PATHS.iter().filter(|p| only.as_deref().is_none_or(|o| o.split(',').any(|n| n.trim() == p.name))) {
        let counted = count(path.name, "linked").and_then(|linked| Ok((linked, count(path.name, "raw")?)));
        let (linked, raw) = match counted {
            Ok(counts) => counts,
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::FAILURE;
            }
        };
        #[allow(clippy::cast_precision_loss, reason = "instruction counts per call")]
        let (linked, raw) = (linked as f64 / f64::from(path.per_loop), raw as f64 / f64::from(path.per_loop));
        let overhead = linked - raw;
        let budget = budgets.get(path.name).copied();
        println!(
            "{:<22} {linked:>12.0} {raw:>12.0} {overhead:>+10.0} {:>8}",
            path.name,
            budget.map_or_else(|| "-".to_owned(), |b| format!("{b:.0}"))
        );
        if let Some(budget) = budget
            && overhead > budget
        {
            over.push(format!(
                "{}: {overhead:.0} instructions per call over raw wasmtime ({linked:.0} against {raw:.0}), budget {budget:.0}",
                path.name
            ));
        }
    }
    if over.is_empty() {
        ExitCode::SUCCESS
    } else {
        for line in &over {
            eprintln!("over budget: {line}");
        }
        ExitCode::FAILURE
    }
}
