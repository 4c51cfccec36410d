//! A State that follows a future: whichever thread polls it, the future (and everything it
//! awaits) records into that State.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::state::State;

pin_project_lite::pin_project! {
    /// A future that enters its State around every poll; see [`State::scope`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct Scoped<F> {
        state: State,
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _entered = this.state.enter();
        this.future.poll(cx)
    }
}

impl State {
    /// Wraps `future` so that it records into this State wherever it runs: the State is
    /// entered around each poll, on whichever thread polls it. Use it for work spawned on a
    /// multi-thread runtime, where [`in_scope`](Self::in_scope) (a thread-local) does not reach.
    /// The `tracing` crate's `Instrument` works the same way.
    ///
    /// ```
    /// tsmon::metric! {
    ///     /// Jobs done by spawned tasks.
    ///     static JOBS: Counter = "example/scope/jobs";
    /// }
    /// let state = tsmon::State::builder().build().unwrap();
    /// let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    /// rt.block_on(async {
    ///     let task = tokio::spawn(state.scope(async {
    ///         JOBS.inc(());
    ///         tokio::task::yield_now().await;
    ///         // What this task spawns follows the State it runs in.
    ///         tokio::spawn(tsmon::State::current().scope(async { JOBS.inc(()) })).await.unwrap();
    ///     }));
    ///     task.await.unwrap();
    /// });
    /// assert_eq!(state.in_scope(|| JOBS.get(())), 2);
    /// ```
    pub fn scope<F: Future>(&self, future: F) -> Scoped<F> {
        Scoped {
            state: self.clone(),
            future,
        }
    }

    /// The State writes on this thread go to: the one entered (by [`enter`](Self::enter),
    /// [`in_scope`](Self::in_scope) or a [`scope`](Self::scope)d future being polled), else the
    /// global one. Pass it to a spawned future's [`scope`](Self::scope) to keep recording there.
    ///
    /// ```
    /// let state = tsmon::State::builder().build().unwrap();
    /// state.in_scope(|| assert!(tsmon::State::current().ptr_eq(&state)));
    /// assert!(tsmon::State::current().ptr_eq(tsmon::State::global()));
    /// ```
    #[must_use]
    pub fn current() -> State {
        crate::state::current_if_entered().unwrap_or_else(|| State::global().clone())
    }

    /// Whether `self` and `other` are the same State.
    #[must_use]
    pub fn ptr_eq(&self, other: &State) -> bool {
        std::sync::Arc::ptr_eq(&self.inner, &other.inner)
    }
}

/// Binds futures to a State: `future.with_state(&state)` is
/// [`state.scope(future)`](State::scope), and `future.with_current_state()` binds it to the
/// State current where it is created (for spawning).
///
/// ```
/// use tsmon::state::WithState;
/// let state = tsmon::State::builder().build().unwrap();
/// let fut = async { tsmon::State::current() };
/// let seen = tsmon::runtime::block_on(fut.with_state(&state));
/// assert!(seen.ptr_eq(&state));
/// ```
pub trait WithState: Future + Sized {
    /// This future, recording into `state`.
    fn with_state(self, state: &State) -> Scoped<Self> {
        state.scope(self)
    }

    /// This future, recording into the State current here and now.
    fn with_current_state(self) -> Scoped<Self> {
        State::current().scope(self)
    }
}

impl<F: Future> WithState for F {}
