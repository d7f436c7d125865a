//! Work spread over rayon's threads, with the calling thread working too.
//!
//! Handing work to a sleeping thread costs its wake-up (tens of microseconds
//! on a small VM), so the calling thread never waits for one: it claims items
//! itself from the start, and helpers claim what is left once they run.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

/// Threads that help the calling thread: one fewer than the cores, so that
/// helpers and caller together fill the machine without a spare thread
/// spinning for work on a core someone is using. `None` on one core.
fn helpers() -> Option<&'static rayon::ThreadPool> {
    static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        if cores < 2 {
            return None;
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(cores - 1)
            .thread_name(|i| format!("wasm-link-fan-out-{i}"))
            .build()
            .ok()
    })
    .as_ref()
}

/// Runs `work` on every item, on the calling thread and on the helper
/// threads, and returns the results in item order.
pub(crate) fn claim_all<T: Sync, R: Send>(items: &[T], work: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let Some(pool) = helpers().filter(|_| items.len() > 1) else {
        return items.iter().map(work).collect();
    };
    let next = AtomicUsize::new(0);
    let claim = || {
        let index = next.fetch_add(1, Ordering::Relaxed);
        items.get(index).map(|item| (index, work(item)))
    };
    let done: Mutex<Vec<Option<R>>> = Mutex::new(std::iter::repeat_with(|| None).take(items.len()).collect());
    let merge = |mine: Vec<(usize, R)>| {
        let mut done = done.lock().unwrap_or_else(PoisonError::into_inner);
        for (index, result) in mine {
            done[index] = Some(result);
        }
    };
    let wanted = pool.current_num_threads().min(items.len() - 1);
    pool.in_place_scope(|scope| {
        for _ in 0..wanted {
            scope.spawn(|_| merge(std::iter::from_fn(&claim).collect()));
        }
        merge(std::iter::from_fn(&claim).collect());
    });
    // Every index was claimed exactly once and the scope waited for every
    // helper, so no slot is empty.
    done.into_inner().unwrap_or_else(PoisonError::into_inner).into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn busy(n: u64) -> u64 {
        (0..2_000u64).fold(n, |acc, i| acc.wrapping_mul(31).wrapping_add(i)) ^ n
    }

    #[test]
    fn every_item_is_worked_once_and_results_keep_item_order() {
        let items: Vec<u64> = (0..200).collect();
        let results = claim_all(&items, |&n| busy(n));
        assert_eq!(results, items.iter().map(|&n| busy(n)).collect::<Vec<_>>());
    }

    #[test]
    fn one_item_or_none_stays_on_the_calling_thread() {
        let caller = std::thread::current().id();
        assert_eq!(claim_all(&[1], |_| std::thread::current().id()), vec![caller]);
        assert!(claim_all(&[] as &[u8], |&n| n).is_empty());
    }
}
