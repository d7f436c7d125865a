//! Plugin-to-plugin calls through a socket beside a `func_wrap` trampoline and a composed component.

#[allow(clippy::wildcard_imports, reason = "the bench's shared helpers and fixtures")]
use super::*;

pub(super) fn socket_calls(c: &mut Criterion, engine: &Engine, label: &str, ratios: &mut Ratios) {
    let empty = wasmtime::component::Linker::<()>::new(engine);
    // The best separate-store design by hand: a `func_wrap` trampoline into
    // the callee's `TypedFunc`.
    let (mut store, run) = socket_trampoline(engine);
    let mut raw_trampoline = || {
        black_box(run.call(&mut store, (black_box(SOCKET_CALLS),)).expect("call"));
    };
    // The limit: both components composed into one, a fused adapter per call.
    let (mut composed_store, composed_run) = instance_export(engine, composed(), &empty, "bench:b/caller", "run");
    let composed_run: GetFunc = composed_run.typed(&composed_store).expect("typed");
    let mut raw_composed = || {
        black_box(composed_run.call(&mut composed_store, (black_box(SOCKET_CALLS),)).expect("call"));
    };
    let head = tree(engine, "caller");
    let linked = head.typed::<(u32,), (u32,)>("run").expect("`run` is a root function");
    let wasm_link = || {
        black_box(only(linked.call((black_box(SOCKET_CALLS),))));
    };
    ratios.push((
        format!("{label}/socket/wasm-link-vs-func-wrap-trampoline"),
        paired(ROUNDS, 4, &mut raw_trampoline, wasm_link),
    ));
    ratios.push((format!("{label}/socket/wasm-link-vs-composed"), paired(ROUNDS, 4, &mut raw_composed, wasm_link)));
    ratios.push((
        format!("{label}/socket/func-wrap-trampoline-vs-composed"),
        paired(ROUNDS, 4, &mut raw_composed, &mut raw_trampoline),
    ));
    c.bench_function(&format!("{label}/socket/raw-func-wrap-trampoline"), |b| b.iter(&mut raw_trampoline));
    c.bench_function(&format!("{label}/socket/raw-composed"), |b| b.iter(&mut raw_composed));
    c.bench_function(&format!("{label}/socket/wasm-link"), |b| b.iter(wasm_link));
}
