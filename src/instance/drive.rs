//! Driving the one call path, which is written as `async` code.
//!
//! A synchronous call polls it once, on the caller's stack ([`on_stack`]):
//! in [`Mode::Sync`](super::ctx::Mode::Sync) every step completes at once
//! (a blocking lock, `Func::call`), so the first poll finishes it. An
//! asynchronous call awaits it. A synchronous call on a tree loaded for
//! asynchronous calls blocks the thread on the asynchronous path
//! ([`block_on`]).

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use super::ctx::Chain;

/// Native stack a plugin is entered with at least: wasmtime lets wasm use
/// `max_wasm_stack` (512 KiB by default) below the point where the host
/// enters it, plus the host frames of the next socket hop.
const STACK_RED_ZONE: usize = 1 << 20;
/// The size of each further stack segment a deep chain continues on.
const STACK_SEGMENT: usize = 8 << 20;

/// Polls a synchronous call path once, on the current stack. `None` if it
/// did not finish, which a synchronous path never does (the caller turns it
/// into an error rather than trusting it).
#[inline]
pub(crate) fn now<F: Future>(future: F) -> Option<F::Output> {
    poll_once(pin!(future))
}

/// Polls a pinned future once.
#[inline]
fn poll_once<F: Future>(future: Pin<&mut F>) -> Option<F::Output> {
    match future.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

/// [`now`], on enough native stack: a synchronous chain of socket calls
/// nests one poll per hop, and continues on a fresh stack segment instead
/// of overflowing the thread's stack.
///
/// The future is pinned where it was made and polled through a reference:
/// a call path's future is large, and moving it costs a copy.
#[inline]
pub(crate) fn on_stack<F: Future>(future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    stacker::maybe_grow(STACK_RED_ZONE, STACK_SEGMENT, || poll_once(future.as_mut()))
}

pin_project_lite::pin_project! {
    /// An asynchronous call chain's future: while it is polled, its chain is
    /// the one polled on the thread ([`Chain::polled`]). The chain is
    /// settled at the first poll ([`Chain::NONE`] until then), where the
    /// future starts.
    pub(crate) struct InChain<F> {
        chain: Chain,
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for InChain<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        if *this.chain == Chain::NONE {
            *this.chain = Chain::polled().unwrap_or_else(Chain::fresh);
        }
        let _polling = this.chain.polling();
        this.future.poll(cx)
    }
}

/// `future` as a call chain of its own, or as part of the chain being
/// polled on this thread when it starts inside one (a host function that
/// dispatches).
pub(crate) fn in_chain<F: Future>(future: F) -> InChain<F> {
    InChain { chain: Chain::NONE, future }
}

/// Runs a synchronous call on enough native stack (see [`on_stack`]).
#[inline]
pub(crate) fn with_stack<R>(call: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(STACK_RED_ZONE, STACK_SEGMENT, call)
}

/// Runs a future to completion on this thread, parking it while the future
/// waits.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        std::thread::park();
    }
}
