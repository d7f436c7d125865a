//! The heap an idle plugin holds beside a bare store and instance, counted by a global allocator.

#[allow(clippy::wildcard_imports, reason = "the bench's shared helpers and fixtures")]
use super::*;

/// The system allocator, counting the bytes live on the heap while
/// `COUNTING` is set (a relaxed load otherwise: the timings do not pay).
pub(super) struct Counting;

static COUNTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

static LIVE: std::sync::atomic::AtomicIsize = std::sync::atomic::AtomicIsize::new(0);

// SAFETY: every call forwards to `System` with the same arguments; the
// counters are plain atomics.
#[allow(unsafe_code, reason = "a global allocator forwarding to the system's")]
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        use std::sync::atomic::Ordering::Relaxed;
        if COUNTING.load(Relaxed) {
            LIVE.fetch_add(layout.size().cast_signed(), Relaxed);
        }
        // SAFETY: forwarded as is.
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        use std::sync::atomic::Ordering::Relaxed;
        if COUNTING.load(Relaxed) {
            LIVE.fetch_sub(layout.size().cast_signed(), Relaxed);
        }
        // SAFETY: forwarded as is.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Bytes on the heap that `make` leaves live.
pub(super) fn heap_bytes<T>(make: impl FnOnce() -> T) -> (T, isize) {
    use std::sync::atomic::Ordering::Relaxed;
    LIVE.store(0, Relaxed);
    COUNTING.store(true, Relaxed);
    let value = make();
    COUNTING.store(false, Relaxed);
    (value, LIVE.load(Relaxed))
}

/// Heap bytes per idle loaded plugin, and per bare store + instance. (The
/// resident set is too coarse: freed memory of earlier benchmarks is reused.)
pub(super) fn memory_per_plugin(engine: &Engine) -> (f64, f64) {
    const N: u32 = 200;
    let compiled = Component::new(engine, CALLEE).expect("valid");
    let empty = wasmtime::component::Linker::<()>::new(engine);
    let (raw, raw_bytes) = heap_bytes(|| {
        (0..N)
            .map(|_| {
                let mut store = Store::new(engine, ());
                let instance = empty.instantiate(&mut store, &compiled).expect("instantiates");
                (store, instance)
            })
            .collect::<Vec<_>>()
    });
    let (head, linked_bytes) = heap_bytes(|| wide(engine, N as usize, || Source::Compiled(compiled.clone())));
    black_box((&raw, &head));
    let per = |bytes: isize| f64::from(i32::try_from(bytes).unwrap_or(i32::MAX)) / f64::from(N);
    (per(linked_bytes), per(raw_bytes))
}
