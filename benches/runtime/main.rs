//! What wasm-link adds on top of wasmtime: every figure beside a raw-wasmtime
//! baseline measured in the same run, reported as a ratio of medians in
//! `target/bench-ratios.txt` (`name ratio` lines).
//!
//! Run with `cargo bench --bench runtime` (about two minutes), one part with
//! `BENCH_SECTIONS=<section> cargo bench --bench runtime`.

#![allow(missing_docs, reason = "a benchmark binary")]

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::hint::black_box;

use criterion::Criterion;

mod asynchronous;
mod freeze;
mod host;
mod languages;
mod lattice;
mod load;
mod memory;
#[cfg(feature = "otel")]
mod otel;
mod pool;
mod remote;
mod resource;
mod server;
mod socket;
mod swap;

#[allow(unused_imports, clippy::wildcard_imports, reason = "each area's benches, by name")]
use {
    asynchronous::*, freeze::*, host::*, languages::*, lattice::*, load::*, memory::*, pool::*, remote::*, resource::*,
    server::*, socket::*, swap::*,
};

#[path = "../fixtures.rs"]
mod fixtures;
#[allow(clippy::wildcard_imports, reason = "the shared fixtures, by name")]
use fixtures::*;
use wasm_link::{
    Component, Engine, InterfaceCardinality, Linker, PluginCtxView, PluginData, PluginTree, PluginTreeHead,
    ResourceTable, Socket, Val,
};
use wasmtime::Store;

/// Rounds of a paired measurement; the median round is reported.
const ROUNDS: usize = 151;

/// The ratio of `subject` to `baseline`, measured in pairs: each round times
/// `batch` baseline calls and `batch` subject calls back to back (in turns
/// first), and the median of the per-round ratios is returned. Drift on a
/// noisy machine (another tenant, frequency scaling) hits both halves of a
/// round alike, so the ratio is steadier than one of two separate medians.
///
/// With `BENCH_PROFILE` set nothing is measured (NaN): for profiling the
/// criterion benchmarks alone (`--profile-time`).
fn paired(rounds: usize, batch: u32, mut baseline: impl FnMut(), mut subject: impl FnMut()) -> f64 {
    if std::env::var_os("BENCH_PROFILE").is_some() {
        return f64::NAN;
    }
    let time = |f: &mut dyn FnMut()| {
        let started = std::time::Instant::now();
        for _ in 0..batch {
            f();
        }
        started.elapsed().as_secs_f64()
    };
    // Warm both up.
    time(&mut baseline);
    time(&mut subject);
    let mut ratios: Vec<f64> = (0..rounds)
        .map(|round| {
            let (base, sub) = if round % 2 == 0 {
                let base = time(&mut baseline);
                (base, time(&mut subject))
            } else {
                let sub = time(&mut subject);
                (time(&mut baseline), sub)
            };
            sub / base
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios[rounds / 2]
}

/// Paired ratios, `name ratio`, for the table.
type Ratios = Vec<(String, f64)>;

/// The median of a criterion benchmark, in nanoseconds.
fn median(name: &str) -> Option<f64> {
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".to_owned());
    // Criterion stores `a/b/c` as `a_b_c`, and `c` of group `g` as `g/c`.
    let dir = match name.strip_prefix("load/") {
        Some(rest) => format!("load/{}", rest.replace('/', "_")),
        None => name.replace('/', "_"),
    };
    let path = format!("{target}/criterion/{dir}/new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["median"]["point_estimate"].as_f64()
}

/// The median wall time of `rounds` runs of `f`, in seconds.
fn median_seconds(rounds: usize, mut f: impl FnMut()) -> f64 {
    let mut samples: Vec<f64> = (0..rounds)
        .map(|_| {
            let started = std::time::Instant::now();
            f();
            started.elapsed().as_secs_f64()
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[rounds / 2]
}

/// Criterion's medians of the per-engine benchmarks, as table lines.
fn engine_figures(table: &mut String) {
    for label in ["default-engine", "epoch-engine"] {
        for name in
            ["host/raw-typedfunc", "host/raw-func-call", "host/dispatch", "host/typed", "host/floor-mutex-lock-unlock"]
        {
            if let Some(ns) = median(&format!("{label}/{name}")) {
                let _ = writeln!(table, "{label}/{name}-ns {ns:.0}");
            }
        }
        for name in ["socket/raw-composed", "socket/raw-func-wrap-trampoline", "socket/wasm-link"] {
            if let Some(ns) = median(&format!("{label}/{name}")) {
                let _ = writeln!(table, "{label}/{name}-ns-per-call {:.1}", ns / f64::from(SOCKET_CALLS));
            }
        }
        for name in ["async/raw-func-call-async", "async/dispatch-async"] {
            if let Some(ns) = median(&format!("{label}/{name}")) {
                let _ = writeln!(table, "{label}/{name}-ns {ns:.0}");
            }
        }
        for name in ["async/socket-awaited", "async/socket-blocking"] {
            if let Some(ns) = median(&format!("{label}/{name}")) {
                let _ = writeln!(table, "{label}/{name}-ns-per-call {:.1}", ns / f64::from(SOCKET_CALLS));
            }
        }
        for name in ["resource/raw-func-wrap-trampoline", "resource/wasm-link"] {
            if let Some(ns) = median(&format!("{label}/{name}")) {
                let _ = writeln!(table, "{label}/{name}-ns-per-round-trip {:.0}", ns / f64::from(RESOURCE_CALLS));
            }
        }
    }
}

fn main() {
    // The lattice section's server processes: this binary, run again.
    if let Ok(url) = std::env::var(lattice::SERVE_ENV) {
        lattice::serve_child(&url);
        return;
    }
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
        .configure_from_args();
    let plain = Engine::default();
    let epochs = wasm_link::default_engine().expect("engine");
    // `BENCH_SECTIONS=host,socket` runs only those sections (and leaves
    // `target/bench-ratios.txt` alone): for quick comparisons while working.
    let only = std::env::var("BENCH_SECTIONS").ok();
    let run = |section: &str| only.as_deref().is_none_or(|only| only.split(',').any(|s| s.trim() == section));
    let mut ratios = Ratios::new();
    for (engine, label) in [(&plain, "default-engine"), (&epochs, "epoch-engine")] {
        if run("host") {
            host_calls(&mut criterion, engine, label, &mut ratios);
        }
        if run("socket") {
            socket_calls(&mut criterion, engine, label, &mut ratios);
        }
        if run("resource") {
            resource_calls(&mut criterion, engine, label, &mut ratios);
        }
        if run("async") {
            async_calls(&mut criterion, engine, label, &mut ratios);
        }
    }
    if run("stats") {
        stats_cost(&epochs, &mut ratios);
    }
    // Only when asked: its subscriber must not be around the others.
    #[cfg(feature = "otel")]
    if only.as_deref().is_some_and(|only| only.split(',').any(|s| s.trim() == "otel")) {
        otel::otel(&epochs, &mut ratios);
    }
    let fairness = run("fairness").then(|| fairness(&epochs));
    let pool_rates = run("pool").then(|| pools(&epochs, &mut ratios));
    let remote_rates = run("remote").then(|| remote_calls(&mut ratios));
    let lattice_figures = run("lattice").then(|| lattice(&mut ratios));
    let swap_figures = run("swap").then(|| swaps(&mut ratios));
    let reinstantiations = run("reinstantiate").then(|| reinstantiation(&mut ratios));
    let mut table = if run("freeze") { freezing(&mut criterion, &epochs, &mut ratios) } else { String::new() };
    let throughput = run("server").then(|| server_throughput(&[1, 2, 8, 64]));
    let language_figures = run("languages").then(|| languages(&epochs, &mut ratios));
    let capability_figures = run("capabilities").then(|| capabilities(&epochs, &mut ratios));
    if run("fan-out") {
        fan_outs(&mut criterion, &plain, &mut ratios);
    }
    if run("load") {
        loads(&mut criterion, &plain, &mut ratios);
    }
    criterion.final_summary();

    for (name, value) in &ratios {
        let _ = writeln!(table, "{name} {value:.2}");
    }
    engine_figures(&mut table);
    for n in [2u32, 8] {
        if let Some(ns) = median(&format!("fan-out-work/{n}/raw-typedfunc-loop")) {
            let _ = writeln!(table, "fan-out-work/{n}/raw-ns-per-call {:.0}", ns / f64::from(n));
        }
    }
    for (name, (p50, p99)) in fairness.iter().flatten() {
        let _ = writeln!(table, "fairness/fast-p50-us-{name} {p50:.1}");
        let _ = writeln!(table, "fairness/fast-p99-us-{name} {p99:.1}");
    }
    for (name, value) in pool_rates
        .iter()
        .chain(swap_figures.iter())
        .chain(reinstantiations.iter())
        .chain(remote_rates.iter())
        .chain(lattice_figures.iter())
        .flatten()
    {
        let _ = writeln!(table, "{name} {value:.0}");
    }
    for (name, value) in language_figures.iter().chain(capability_figures.iter()).flatten() {
        let _ = writeln!(table, "{name} {value:.1}");
    }
    for (clients, http, direct) in throughput.iter().flatten() {
        let _ = writeln!(table, "server/render-requests-per-s-{clients}-clients {http:.0}");
        let _ = writeln!(table, "server/dispatch-async-runs-per-s-{clients}-tasks {direct:.0}");
    }
    if run("memory") {
        let (linked, raw) = memory_per_plugin(&plain);
        let _ = writeln!(table, "memory/idle-plugin-heap-bytes {linked:.0}");
        let _ = writeln!(table, "memory/raw-store-and-instance-heap-bytes {raw:.0}");
        if raw > 0.0 {
            let _ = writeln!(table, "memory/idle-plugin-vs-raw {:.2}", linked / raw);
        }
    }
    print!("\n{table}");
    if only.is_none() {
        let _ = std::fs::create_dir_all("target");
        let _ = std::fs::write("target/bench-ratios.txt", table);
    }
}
