//! The soak test: a million mixed dispatches across 8 threads, with resource
//! churn and injected traps. Ignored by default; run it with
//!
//! ```sh
//! cargo test --release --test all soak -- --ignored --nocapture
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use wasm_link::{DispatchError, InterfaceCardinality, Socket, Val};

use crate::fixtures::Plugin;
use crate::plugins::{docs, docs_interface, user, user_interface};

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm.split_whitespace().nth(1).and_then(|pages| pages.parse::<u64>().ok()).unwrap_or(0) * 4096
}

#[test]
#[ignore = "a soak test: minutes in a debug build; see the module docs"]
fn a_million_mixed_dispatches_lose_nothing_and_leak_nothing() {
    const THREADS: u64 = 8;
    const PER_THREAD: u64 = 125_000;
    let head = Arc::new(crate::load_clean(
        "user",
        vec![user_interface(), docs_interface(InterfaceCardinality::ExactlyOne)],
        vec![Plugin::new("user", "user", &["docs"], user()), Plugin::new("docs", "docs", &[], docs())],
    ));
    // Warm up, then measure the baseline.
    for v in 0..1000 {
        let _ = head.dispatch("test:fixtures/user", "roundtrip", true, &[Val::U32(v)]);
    }
    let baseline = resident_bytes();
    let ok = Arc::new(AtomicU64::new(0));
    let trapped = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (head, ok, trapped) = (head.clone(), ok.clone(), trapped.clone());
            std::thread::spawn(move || {
                for i in 0..PER_THREAD {
                    let v = u32::try_from((t * PER_THREAD + i) % 1000).unwrap_or(0);
                    let (function, args) = match i % 1000 {
                        999 => ("boom", vec![]),
                        n if n % 10 == 0 => ("keep", vec![Val::U32(v)]),
                        n if n % 10 == 1 => ("hand-over", vec![Val::U32(v)]),
                        _ => ("roundtrip", vec![Val::U32(v)]),
                    };
                    match head.dispatch("test:fixtures/user", function, true, &args) {
                        Socket::ExactlyOne(Ok(_)) => ok.fetch_add(1, Ordering::Relaxed),
                        Socket::ExactlyOne(Err(DispatchError::Trap { .. })) => trapped.fetch_add(1, Ordering::Relaxed),
                        other => panic!("unexpected: {other:?}"),
                    };
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("no thread panics");
    }
    let elapsed = started.elapsed();
    let (ok, trapped) = (ok.load(Ordering::Relaxed), trapped.load(Ordering::Relaxed));
    assert_eq!(ok + trapped, THREADS * PER_THREAD, "every call answered");
    assert_eq!(trapped, THREADS * PER_THREAD / 1000, "exactly the injected traps failed");
    // A trap re-instantiates `user`, releasing the doc it kept; release the
    // last one the same way, then every doc is gone from its owner.
    let _ = head.dispatch("test:fixtures/user", "boom", true, &[]);
    let Socket::ExactlyOne(live) = head.dispatch("test:fixtures/user", "provider-live", true, &[]) else { panic!() };
    assert_eq!(live.unwrap(), Val::U32(0), "the owner's table is back to its baseline");
    let health = head.health();
    assert!(health.iter().all(|h| h.held_handles == 0), "{health:?}");
    let grown = resident_bytes().saturating_sub(baseline);
    println!(
        "soak: {} calls in {elapsed:?} ({:.0} calls/s), {trapped} injected traps, resident memory grew by {} KiB",
        ok + trapped,
        f64::from(u32::try_from(ok + trapped).unwrap_or(u32::MAX)) / elapsed.as_secs_f64(),
        grown / 1024
    );
    assert!(grown < 256 << 20, "resident memory grew by {grown} bytes");
}
