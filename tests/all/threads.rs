//! Concurrency: a `Send + Sync` head, parallel dispatch through sockets, and
//! re-entry reported instead of deadlocking.

use std::sync::{Arc, OnceLock};

use wasm_link::{DispatchError, Engine, InterfaceCardinality, Linker, PluginTree, Socket, Val};

use crate::fixtures::{Interface, Plugin, func};
use crate::plugins::{
    caller, counter, counter_interface, docs, docs_interface, number_interface, slow, user, user_interface,
};
use crate::{Head, load_clean};

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn the_head_is_send_and_sync() {
    assert_send_sync::<Head>();
}

#[test]
fn eight_threads_dispatching_through_sockets_lose_no_call() {
    let head = Arc::new(load_clean(
        "user",
        vec![user_interface(), docs_interface(InterfaceCardinality::ExactlyOne)],
        vec![Plugin::new("user", "user", &["docs"], user()), Plugin::new("docs", "docs", &[], docs())],
    ));
    let threads: Vec<_> = (0..8u32)
        .map(|t| {
            let head = head.clone();
            std::thread::spawn(move || {
                let mut served = 0;
                for i in 0..250u32 {
                    let v = t * 1000 + i;
                    let result = head.dispatch("test:fixtures/user", "roundtrip", true, &[Val::U32(v % 4000)]);
                    let expected = (v % 4000 + 1) * 1001 + (v % 4000) * 1_000_000;
                    if let Socket::ExactlyOne(Ok(Val::U32(n))) = result {
                        assert_eq!(n, expected);
                        served += 1;
                    }
                }
                served
            })
        })
        .collect();
    let served: u32 = threads.into_iter().map(|t| t.join().expect("no thread panics")).sum();
    assert_eq!(served, 8 * 250);
    let live = head.dispatch("test:fixtures/user", "provider-live", true, &[]);
    assert!(matches!(live, Socket::ExactlyOne(Ok(Val::U32(0)))), "{live:?}");
}

#[test]
fn eight_threads_on_several_root_plugins_count_every_call() {
    let plugins = ["a", "b", "c"].iter().map(|id| Plugin::new(id, "counter", &[], counter())).collect();
    let head = Arc::new(load_clean("counter", vec![counter_interface(InterfaceCardinality::Any)], plugins));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let head = head.clone();
            std::thread::spawn(move || {
                for _ in 0..100 {
                    let Socket::Any(results) = head.dispatch("test:fixtures/counter", "bump", true, &[]) else {
                        panic!("expected Any");
                    };
                    assert_eq!(results.len(), 3);
                    assert!(results.values().all(Result::is_ok));
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("no thread panics");
    }
    let Socket::Any(counts) = head.dispatch("test:fixtures/counter", "bump", true, &[]) else { panic!("expected Any") };
    for count in counts.values() {
        assert_eq!(count.as_ref().unwrap(), &Val::U32(801));
    }
}

#[test]
fn slow_calls_fanned_out_over_threads_return_every_plugins_own_result() {
    // Calls this slow are measured and then spread over rayon's threads; the
    // results must still be each plugin's own, under its own id, every time.
    let plugins = (0..8u32).map(|i| Plugin::new(&format!("p{i}"), "number", &[], slow(i))).collect();
    let head = load_clean("number", vec![number_interface(InterfaceCardinality::Any)], plugins);
    for _ in 0..30 {
        let Socket::Any(values) = head.dispatch("test:fixtures/number", "value", true, &[]) else {
            panic!("expected Any")
        };
        assert_eq!(values.len(), 8);
        for i in 0..8u32 {
            assert_eq!(values[&format!("p{i}")].as_ref().expect("no trap"), &Val::U32(i));
        }
        let Socket::Any(failures) = head.dispatch("test:fixtures/number", "fail", true, &[]) else {
            panic!("expected Any")
        };
        assert_eq!(failures.len(), 8);
        for (id, failure) in &failures {
            assert!(matches!(failure, Err(DispatchError::Trap { plugin, .. }) if plugin == id), "{failure:?}");
        }
    }
}

#[test]
fn a_call_that_would_reenter_a_busy_plugin_is_an_error_not_a_hang() {
    let engine = Engine::default();
    let mut linker = Linker::new(&engine);
    let slot: Arc<OnceLock<Arc<Head>>> = Arc::new(OnceLock::new());
    let seen: Arc<OnceLock<String>> = Arc::new(OnceLock::new());
    {
        let (slot, seen) = (slot.clone(), seen.clone());
        linker
            .instance("test:fixtures/host")
            .unwrap()
            .func_new("callback", move |_store, _ty, _params, results| {
                // The host calls back into the root while the root is busy
                // calling this very function.
                let head = slot.get().expect("head is set before dispatch");
                let outcome = head.dispatch("test:fixtures/caller", "run", true, &[]);
                let reentered = matches!(outcome, Socket::ExactlyOne(Err(DispatchError::Reentrant { .. })));
                if let Socket::ExactlyOne(Err(error)) = outcome {
                    let _ = seen.set(error.to_string());
                }
                results[0] = Val::U32(if reentered { 77 } else { 0 });
                Ok(())
            })
            .unwrap();
    }
    let interface =
        Interface::new("caller", InterfaceCardinality::ExactlyOne, "test:fixtures/caller", vec![func("run")]);
    let (tree, errors) =
        PluginTree::new("caller".to_owned(), vec![interface], vec![Plugin::new("caller", "caller", &[], caller())]);
    assert!(errors.is_empty());
    let (head, errors) = tree.load(&engine, &linker).unwrap();
    assert!(errors.is_empty());
    let head = Arc::new(head);
    let _ = slot.set(head.clone());
    let result = head.dispatch("test:fixtures/caller", "run", true, &[]);
    assert!(matches!(result, Socket::ExactlyOne(Ok(Val::U32(77)))), "{result:?}");
    assert!(seen.get().unwrap().contains("`caller`"), "{seen:?}");
}
