//! The State: a store, its target and its settings. One global State serves the process; tests
//! build their own and enter them, so they never leak into each other.
//!
//! ```
//! tsmon::metric! {
//!     /// Things counted.
//!     static THINGS: Counter = "example/state/things";
//! }
//! let a = tsmon::State::builder().build().unwrap();
//! let b = tsmon::State::builder().build().unwrap();
//! a.in_scope(|| THINGS.add(2, ()));
//! b.in_scope(|| THINGS.add(5, ()));
//! assert_eq!(a.in_scope(|| THINGS.get(())), 2);
//! assert_eq!(b.in_scope(|| THINGS.get(())), 5);
//! ```

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use crate::clock::{MonotonicClock, SystemClock, TimeSource};
use crate::error::Error;
use crate::exposition::{self, Format};
use crate::registry;
use crate::store::{DEFAULT_MAX_SERIES, Snapshot, Store};
use crate::target::Target;

struct Inner {
    id: u64,
    store: Store,
}

/// A tsmon State. Cheap to clone (it is shared).
#[derive(Clone)]
pub struct State {
    inner: Arc<Inner>,
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("State")
            .field("id", &self.inner.id)
            .field("store", &self.inner.store)
            .finish()
    }
}

/// Builds a [`State`].
#[derive(Debug)]
pub struct StateBuilder {
    target: Option<Target>,
    max_series: usize,
    clock: Arc<dyn TimeSource>,
}

impl Default for StateBuilder {
    fn default() -> Self {
        StateBuilder {
            target: None,
            max_series: DEFAULT_MAX_SERIES,
            clock: Arc::new(SystemClock),
        }
    }
}

impl StateBuilder {
    /// The default target (by default, [`Target::default`]).
    #[must_use]
    pub fn with_target(mut self, target: Target) -> Self {
        self.target = Some(target);
        self
    }

    /// The per-metric series cap for metrics whose declaration sets none
    /// (default [`DEFAULT_MAX_SERIES`]).
    ///
    /// ```
    /// tsmon::metric! {
    ///     /// Per user.
    ///     static PER_USER: Counter(user: String) = "example/state/per_user";
    /// }
    /// let state = tsmon::State::builder().with_max_series(2).build().unwrap();
    /// state.in_scope(|| ["a", "b", "c", "d"].iter().for_each(|u| PER_USER.inc(u)));
    /// let snap = state.snapshot();
    /// let m = snap.metric("example/state/per_user").unwrap();
    /// assert_eq!(m.cells().len(), 3); // two series and the overflow series
    /// assert!(m.cells().iter().any(|c| c.is_overflow()));
    /// ```
    #[must_use]
    pub fn with_max_series(mut self, n: usize) -> Self {
        self.max_series = n.max(1);
        self
    }

    /// The time source (a [`ManualClock`](crate::clock::ManualClock) in tests).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn TimeSource>) -> Self {
        self.clock = clock;
        self
    }

    /// Builds the State, after checking the catalog.
    ///
    /// # Errors
    ///
    /// The first catalog error ([`Error::DuplicateMetric`], [`Error::PrometheusNameClash`]); all
    /// of them are logged.
    pub fn build(self) -> Result<State, Error> {
        if let Err(mut errors) = registry::validate() {
            for e in &errors {
                tracing::error!("{e}");
            }
            return Err(errors.swap_remove(0));
        }
        Ok(self.build_unchecked())
    }

    fn build_unchecked(self) -> State {
        crate::instrument::check_sites();
        crate::instrument::warm_up();
        static IDS: AtomicU64 = AtomicU64::new(1);
        let store = Store::new(
            self.target.unwrap_or_default(),
            MonotonicClock::new(self.clock),
            self.max_series,
        );
        State {
            inner: Arc::new(Inner {
                id: IDS.fetch_add(1, Ordering::Relaxed),
                store,
            }),
        }
    }
}

static GLOBAL: OnceLock<State> = OnceLock::new();

thread_local! {
    static CURRENT: Cell<*const Inner> = const { Cell::new(std::ptr::null()) };
}

/// The global State was set already; the State that could not be installed comes back.
#[derive(Debug, thiserror::Error)]
#[error("the global tsmon State is already set")]
pub struct SetStateError(pub State);

impl State {
    /// A builder.
    #[must_use]
    pub fn builder() -> StateBuilder {
        StateBuilder::default()
    }

    /// The global State. Unless [`set_global`](Self::set_global) installed one first, it is built
    /// on first use with the defaults; catalog errors are then logged, not fatal.
    #[inline]
    pub fn global() -> &'static State {
        match GLOBAL.get() {
            Some(state) => state,
            None => Self::init_global(),
        }
    }

    #[cold]
    fn init_global() -> &'static State {
        GLOBAL.get_or_init(|| {
            if let Err(errors) = registry::validate() {
                for e in errors {
                    tracing::error!("{e}");
                }
            }
            StateBuilder::default().build_unchecked()
        })
    }

    /// Installs the global State. Do it first thing in `main` (`#[tsmon::main]` does).
    ///
    /// # Errors
    ///
    /// [`SetStateError`], holding `state`, when a global State exists already.
    pub fn set_global(state: State) -> Result<(), SetStateError> {
        let mut state = Some(state);
        GLOBAL.get_or_init(|| state.take().unwrap_or_else(|| unreachable!()));
        match state {
            None => Ok(()),
            Some(s) => Err(SetStateError(s)),
        }
    }

    /// Makes this State the current one on this thread until the guard is dropped: metric writes
    /// on this thread go to its store.
    #[must_use = "the State is current only while the guard lives"]
    pub fn enter(&self) -> EnterGuard {
        // The slot owns one strong reference to the State it points at; the guard owns the
        // reference of the State it displaced. Guards dropped out of order stay memory safe.
        let mine = Arc::into_raw(self.inner.clone());
        let previous = CURRENT.with(|c| c.replace(mine));
        EnterGuard {
            previous,
            _not_send: PhantomData,
        }
    }

    /// Runs `f` with this State current on this thread.
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        let _guard = self.enter();
        f()
    }

    /// The store.
    #[must_use]
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// A snapshot of the store.
    #[must_use]
    pub fn snapshot(&self) -> Snapshot {
        self.inner.store.snapshot()
    }

    /// The exposition of a fresh snapshot, in `format`.
    ///
    /// ```
    /// tsmon::metric! {
    ///     /// Jobs started.
    ///     static STARTED: Counter = "example/state/started";
    /// }
    /// let target = tsmon::Target::new("svc", "job").with_data_center("dc").with_host("h");
    /// let state = tsmon::State::builder().with_target(target).build().unwrap();
    /// state.in_scope(|| STARTED.inc(()));
    /// let text = state.encode(tsmon::exposition::Format::Text);
    /// assert!(text.contains(
    ///     "example_state_started_total{service_name=\"svc\",job_name=\"job\",data_center=\"dc\",host_name=\"h\",task_num=\"0\"} 1\n"
    /// ));
    /// ```
    #[must_use]
    pub fn encode(&self, format: Format) -> String {
        exposition::encode_to_string(&self.snapshot(), format)
    }
}

/// Keeps a State current on this thread; see [`State::enter`].
pub struct EnterGuard {
    previous: *const Inner,
    _not_send: PhantomData<*const ()>,
}

impl fmt::Debug for EnterGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnterGuard").finish_non_exhaustive()
    }
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let current = CURRENT.with(|c| c.replace(self.previous));
        if !current.is_null() {
            // SAFETY: the slot owned this strong reference (made by `Arc::into_raw` in `enter`),
            // and it has just been taken out of the slot.
            drop(unsafe { Arc::from_raw(current) });
        }
    }
}

/// Runs `f` on the current store: the entered State's, else the global one's.
#[inline]
pub(crate) fn with_current_store<R>(f: impl FnOnce(&Store) -> R) -> R {
    let current = CURRENT.with(Cell::get);
    if current.is_null() {
        f(&State::global().inner.store)
    } else {
        // SAFETY: the slot owns a strong reference to the `Inner` it points at (see `enter`),
        // and only this thread can release it, which it does not do while `f` runs.
        f(unsafe { &(*current).store })
    }
}

/// The current store for an instrumented call: the global State's (which lives for the whole
/// process, so nothing is cloned), or the entered State's with a strong reference that keeps it
/// alive until the call ends, wherever that is.
#[inline]
pub(crate) fn current_store_for_call() -> (std::ptr::NonNull<Store>, Option<State>) {
    let current = CURRENT.with(Cell::get);
    if current.is_null() {
        (std::ptr::NonNull::from(&State::global().inner.store), None)
    } else {
        // SAFETY: as in `with_current_store`; the slot's reference is cloned before the borrow
        // ends, so the State outlives the returned pointer.
        let inner = unsafe {
            Arc::increment_strong_count(current);
            Arc::from_raw(current)
        };
        let store = std::ptr::NonNull::from(&inner.store);
        (store, Some(State { inner }))
    }
}
