//! Pools of instances: calls per second by threads and instances.

#[allow(clippy::wildcard_imports, reason = "the bench's shared helpers and fixtures")]
use super::*;

/// A stateless `bench:b/callee` plugin (the `WORKER`) of `instances`
/// instances.
pub(super) struct Pooled {
    id: String,
    instances: usize,
    table: ResourceTable,
}

impl PluginCtxView for Pooled {
    fn resource_table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }
}

impl PluginData for Pooled {
    type Id = String;
    type InterfaceId = &'static str;
    type Error = wasm_link::WasmError;
    type SocketIter<'a> = std::slice::Iter<'a, &'static str>;
    fn id(&self) -> Result<&String, Self::Error> {
        Ok(&self.id)
    }
    fn plug(&self) -> Result<&&'static str, Self::Error> {
        Ok(&"callee")
    }
    fn sockets(&self) -> Result<Self::SocketIter<'_>, Self::Error> {
        Ok([].iter())
    }
    fn instances(&self) -> usize {
        self.instances
    }
    fn replica(&self) -> Option<Self> {
        Some(Self { id: self.id.clone(), instances: self.instances, table: ResourceTable::new() })
    }
    fn component(&self, engine: &Engine) -> Result<Component, Self::Error> {
        Ok(Component::new(engine, WORKER)?)
    }
}

pub(super) fn pooled_head(engine: &Engine, instances: usize) -> PluginTreeHead<Pooled> {
    let interfaces =
        vec![Iface("callee", "bench:b/callee", vec![Func("get")], InterfaceCardinality::ExactlyOne, vec![])];
    let plugin = Pooled { id: "worker".to_owned(), instances, table: ResourceTable::new() };
    let (tree, errors) = PluginTree::new("callee", interfaces, [plugin]);
    assert!(errors.is_empty());
    let (head, errors) = tree.load(engine, &Linker::new(engine)).expect("loads");
    assert!(errors.is_empty());
    head
}

/// Calls per second of `threads` threads, each running `call` on the state
/// `setup` made for it, for a moment.
pub(super) fn rate<S>(threads: usize, setup: impl Fn() -> S + Sync, call: impl Fn(&mut S) + Sync) -> f64 {
    const SPAN: Duration = Duration::from_millis(400);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let calls = std::sync::atomic::AtomicU64::new(0);
    let ready = std::sync::Barrier::new(threads + 1);
    let elapsed = std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut state = setup();
                ready.wait();
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    call(&mut state);
                    n += 1;
                }
                calls.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
            });
        }
        ready.wait();
        let started = std::time::Instant::now();
        std::thread::sleep(SPAN);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        started.elapsed()
    });
    #[allow(clippy::cast_precision_loss, reason = "a rate")]
    let per_second = calls.into_inner() as f64 / elapsed.as_secs_f64();
    per_second
}

/// Throughput of 1, 2, 4 and 8 threads calling one stateless plugin with
/// about 10 us of work: pooled (8 instances), one instance, and raw wasmtime
/// with a store per thread; medians of interleaved rounds.
pub(super) fn pools(engine: &Engine, ratios: &mut Ratios) -> Vec<(String, f64)> {
    const ROUNDS: usize = 5;
    let empty = wasmtime::component::Linker::<()>::new(engine);
    let pooled = pooled_head(engine, 8);
    let single = pooled_head(engine, 1);
    let call = |head: &PluginTreeHead<Pooled>| {
        black_box(head.dispatch("bench:b/callee", "get", true, &[Val::U32(black_box(WORK))]));
    };
    let median_of = |mut rates: Vec<f64>| {
        rates.sort_by(f64::total_cmp);
        rates[rates.len() / 2]
    };
    let mut rates = Vec::new();
    let mut pooled_one_thread = 0.0;
    for threads in [1, 2, 4, 8] {
        let (mut p, mut s, mut r) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            p.push(rate(threads, || (), |()| call(&pooled)));
            s.push(rate(threads, || (), |()| call(&single)));
            r.push(rate(
                threads,
                || {
                    let (store, func) = instance_export(engine, WORKER, &empty, "bench:b/callee", "get");
                    let typed: GetFunc = func.typed(&store).expect("typed");
                    (store, typed)
                },
                |(store, func)| {
                    black_box(func.call(&mut *store, (black_box(WORK),)).expect("call"));
                },
            ));
        }
        let (p, s, r) = (median_of(p), median_of(s), median_of(r));
        if threads == 1 {
            pooled_one_thread = p;
        }
        rates.push((format!("pool/{threads}-threads/pooled-calls-per-s"), p));
        rates.push((format!("pool/{threads}-threads/one-instance-calls-per-s"), s));
        rates.push((format!("pool/{threads}-threads/raw-store-per-thread-calls-per-s"), r));
        ratios.push((format!("pool/{threads}-threads/pooled-vs-raw-store-per-thread"), p / r));
        ratios.push((format!("pool/{threads}-threads/one-instance-vs-raw-store-per-thread"), s / r));
        ratios.push((format!("pool/{threads}-threads/pooled-vs-pooled-1-thread"), p / pooled_one_thread));
    }
    rates
}
