//! Host calls: `dispatch` and the typed path beside `Func::call` and `TypedFunc`; the cost of statistics.

#[allow(clippy::wildcard_imports, reason = "the bench's shared helpers and fixtures")]
use super::*;

pub(super) fn host_calls(c: &mut Criterion, engine: &Engine, label: &str, ratios: &mut Ratios) {
    let empty = wasmtime::component::Linker::<()>::new(engine);
    let (mut typed_store, func) = instance_export(engine, CALLEE, &empty, "bench:b/callee", "get");
    let typed: GetFunc = func.typed(&typed_store).expect("typed");
    let (mut store, func) = instance_export(engine, CALLEE, &empty, "bench:b/callee", "get");
    let mut results = [Val::U32(0)];
    let head = tree(engine, "callee");
    let typed_get = head.typed::<(u32,), (u32,)>("get").expect("`get` is a root function");

    let mut raw_typed = || {
        black_box(typed.call(&mut typed_store, (black_box(1),)).expect("call"));
    };
    let mut raw_call = || {
        func.call(&mut store, &[Val::U32(black_box(1))], &mut results).expect("call");
        black_box(&results);
    };
    let dispatch = || {
        black_box(only(head.dispatch("bench:b/callee", "get", true, &[Val::U32(black_box(1))])));
    };
    let typed_call = || {
        black_box(only(typed_get.call((black_box(1),))));
    };
    ratios.push((format!("{label}/host/dispatch-vs-func-call"), paired(ROUNDS, 2000, &mut raw_call, dispatch)));
    ratios.push((format!("{label}/host/dispatch-vs-typedfunc"), paired(ROUNDS, 2000, &mut raw_typed, dispatch)));
    ratios.push((format!("{label}/host/typed-vs-typedfunc"), paired(ROUNDS, 2000, &mut raw_typed, typed_call)));

    // What the per-call bookkeeping is made of: one uncontended lock and
    // unlock, as a plugin's mutex costs on every call.
    let lock = Mutex::new(0u64);
    c.bench_function(&format!("{label}/host/floor-mutex-lock-unlock"), |b| {
        b.iter(|| *black_box(&lock).lock().expect("not poisoned") += 1);
    });
    c.bench_function(&format!("{label}/host/raw-typedfunc"), |b| b.iter(&mut raw_typed));
    c.bench_function(&format!("{label}/host/raw-func-call"), |b| b.iter(&mut raw_call));
    c.bench_function(&format!("{label}/host/dispatch"), |b| b.iter(dispatch));
    c.bench_function(&format!("{label}/host/typed"), |b| b.iter(typed_call));
}

/// What counting each edge's calls costs (`LoadOptions::stats`): the same
/// calls on a tree that counts and on one that does not.
pub(super) fn stats_cost(engine: &Engine, ratios: &mut Ratios) {
    let load = |root: &'static str, on: bool| {
        let (tree, errors) = bench_tree(root);
        assert!(errors.is_empty());
        let options = wasm_link::LoadOptions::new().stats(on);
        let (head, errors) = tree.load_with(engine, &Linker::new(engine), &options).expect("the bench tree loads");
        assert!(errors.is_empty());
        head
    };
    let (counted, uncounted) = (load("callee", true), load("callee", false));
    let (typed_on, typed_off) = (
        counted.typed::<(u32,), (u32,)>("get").expect("`get`"),
        uncounted.typed::<(u32,), (u32,)>("get").expect("`get`"),
    );
    let mut typed_off_call = || {
        black_box(only(typed_off.call((black_box(1),))));
    };
    let typed_on_call = || {
        black_box(only(typed_on.call((black_box(1),))));
    };
    ratios.push(("stats/host-typed-on-vs-off".to_owned(), paired(ROUNDS, 2000, &mut typed_off_call, typed_on_call)));
    let dispatch = |head: &Head| {
        black_box(only(head.dispatch("bench:b/callee", "get", true, &[Val::U32(black_box(1))])));
    };
    ratios.push((
        "stats/host-dispatch-on-vs-off".to_owned(),
        paired(ROUNDS, 2000, || dispatch(&uncounted), || dispatch(&counted)),
    ));
    let (counted, uncounted) = (load("caller", true), load("caller", false));
    let (run_on, run_off) = (
        counted.typed::<(u32,), (u32,)>("run").expect("`run`"),
        uncounted.typed::<(u32,), (u32,)>("run").expect("`run`"),
    );
    ratios.push((
        "stats/socket-on-vs-off".to_owned(),
        paired(
            ROUNDS,
            4,
            || {
                black_box(only(run_off.call((black_box(SOCKET_CALLS),))));
            },
            || {
                black_box(only(run_on.call((black_box(SOCKET_CALLS),))));
            },
        ),
    ));
}
