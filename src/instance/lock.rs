//! The lock around a plugin's store, waited for by blocking (`dispatch`) or
//! by awaiting (`dispatch_async`).
//!
//! A `parking_lot` mutex whose guard may be held across an `.await`
//! (`send_guard`): blocked threads wait in the mutex itself; tasks that wait
//! register their waker here and are woken when a guard drops. Unlocking
//! costs one atomic load more than the mutex when no task waits.

use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};

use parking_lot::{Mutex, MutexGuard};

pub(crate) struct SlotLock<T> {
    inner: Mutex<T>,
    /// Tasks waiting for the lock: all are woken at each unlock, and try again.
    waiters: Mutex<Vec<Waker>>,
    /// Whether `waiters` may hold any: read at every unlock, locked rarely.
    has_waiters: AtomicBool,
}

/// Exclusive access; dropping it wakes the waiting tasks.
pub(crate) struct SlotGuard<'a, T> {
    guard: Option<MutexGuard<'a, T>>,
    lock: &'a SlotLock<T>,
}

impl<T> SlotLock<T> {
    pub(crate) fn new(value: T) -> Self {
        Self { inner: Mutex::new(value), waiters: Mutex::new(Vec::new()), has_waiters: AtomicBool::new(false) }
    }

    #[inline]
    fn guard<'a>(&'a self, guard: MutexGuard<'a, T>) -> SlotGuard<'a, T> {
        SlotGuard { guard: Some(guard), lock: self }
    }

    /// The lock, if it is free.
    #[inline]
    pub(crate) fn try_lock(&self) -> Option<SlotGuard<'_, T>> {
        self.inner.try_lock().map(|guard| self.guard(guard))
    }

    /// The lock, blocking the thread until it is free.
    #[inline]
    pub(crate) fn lock_blocking(&self) -> SlotGuard<'_, T> {
        self.guard(self.inner.lock())
    }

    /// The lock, blocking the thread at most `timeout`.
    pub(crate) fn try_lock_for(&self, timeout: std::time::Duration) -> Option<SlotGuard<'_, T>> {
        self.inner.try_lock_for(timeout).map(|guard| self.guard(guard))
    }

    /// The lock, as a future.
    pub(crate) fn lock(&self) -> Lock<'_, T> {
        Lock { lock: self }
    }
}

/// Waits for a [`SlotLock`].
pub(crate) struct Lock<'a, T> {
    lock: &'a SlotLock<T>,
}

impl<'a, T> Future for Lock<'a, T> {
    type Output = SlotGuard<'a, T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<SlotGuard<'a, T>> {
        let lock = self.lock;
        if let Some(guard) = lock.try_lock() {
            return Poll::Ready(guard);
        }
        {
            let mut waiters = lock.waiters.lock();
            if !waiters.iter().any(|waker| waker.will_wake(cx.waker())) {
                waiters.push(cx.waker().clone());
            }
            lock.has_waiters.store(true, Ordering::SeqCst);
        }
        // Freed between the first look and the registration: take it now.
        match lock.try_lock() {
            Some(guard) => Poll::Ready(guard),
            None => Poll::Pending,
        }
    }
}

impl<T> Deref for SlotGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // Present from creation until drop.
        self.guard.as_deref().unwrap_or_else(|| unreachable!("a slot guard is never empty before it drops"))
    }
}

impl<T> DerefMut for SlotGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.guard.as_deref_mut().unwrap_or_else(|| unreachable!("a slot guard is never empty before it drops"))
    }
}

impl<T> Drop for SlotGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        drop(self.guard.take());
        // SeqCst on both sides: a waiter that registered before this unlock
        // is seen here, or it sees the lock free on its second look.
        if self.lock.has_waiters.load(Ordering::SeqCst) {
            self.lock.wake_waiters();
        }
    }
}

impl<T> SlotLock<T> {
    #[cold]
    fn wake_waiters(&self) {
        let waiters = {
            let mut waiters = self.waiters.lock();
            self.has_waiters.store(false, Ordering::SeqCst);
            std::mem::take(&mut *waiters)
        };
        for waker in waiters {
            waker.wake();
        }
    }
}
