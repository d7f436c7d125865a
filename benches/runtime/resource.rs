//! Resources made, used and dropped through a socket beside trampolines keeping the owner's handles.

#[allow(clippy::wildcard_imports, reason = "the bench's shared helpers and fixtures")]
use super::*;

pub(super) fn resource_calls(c: &mut Criterion, engine: &Engine, label: &str, ratios: &mut Ratios) {
    let (mut user_store, run) = resource_trampoline(engine);
    let mut raw_trampoline = || {
        black_box(run.call(&mut user_store, (black_box(RESOURCE_CALLS),)).expect("call"));
    };

    let head = tree(engine, "user");
    let linked = head.typed::<(u32,), (u32,)>("run").expect("`run` is a root function");
    let wasm_link = || {
        black_box(only(linked.call((black_box(RESOURCE_CALLS),))));
    };
    ratios.push((
        format!("{label}/resource/wasm-link-vs-func-wrap-trampoline"),
        paired(ROUNDS, 4, &mut raw_trampoline, wasm_link),
    ));
    c.bench_function(&format!("{label}/resource/raw-func-wrap-trampoline"), |b| b.iter(&mut raw_trampoline));
    c.bench_function(&format!("{label}/resource/wasm-link"), |b| b.iter(wasm_link));
}
