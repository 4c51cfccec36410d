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

// Unsafe code here: the entered State's strong reference lives in a thread-local raw pointer; linkme registers the global store hook.
#![allow(unsafe_code)]

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};

use parking_lot::{Mutex, RwLock};

use crate::clock::TimeSource;
use crate::exposition::{self, Format};
use crate::registry;
use crate::schedule::Schedule;
use crate::store::{Snapshot, Store, current};

mod background;
mod builder;
mod chunks;
mod control;
mod flush;
mod health;
mod scope;
mod settings;
#[cfg(feature = "pull")]
mod status;

pub use background::Background;
pub use builder::StateBuilder;
pub use chunks::EncodeChunks;
pub use flush::{DROPPED_CELLS, FLUSHES};

use control::Control;
pub use health::{FlushReport, Health};
pub use scope::{Scoped, WithState};

/// A flush callback: sets gauges just before each snapshot (Go's `RegisterCallback`).
pub(crate) type Callback = Arc<dyn Fn() + Send + Sync>;

pub(crate) struct Inner {
    pub(crate) id: u64,
    pub(crate) store: Arc<Store>,
    pub(crate) clock: Arc<dyn TimeSource>,
    pub(crate) control: Mutex<Control>,
    pub(crate) schedule: Mutex<Schedule>,
    /// Held by the flush under way: one flush at a time, and no flag that a cancelled flush
    /// could leave set.
    pub(crate) flush_lock: tokio::sync::Mutex<()>,
    /// Wakes the flush loop when the schedule changes (a new interval, an enabling).
    pub(crate) wake: tokio::sync::Notify,
    pub(crate) callbacks: RwLock<Vec<Callback>>,
    /// The status page's ring, while the page is served.
    #[cfg(feature = "pull")]
    pub(crate) history: Mutex<Option<crate::status::History>>,
}

/// A weak reference to a State (what a pull endpoint holds, so it does not keep it alive).
#[cfg(feature = "pull")]
pub(crate) struct Weak(pub(crate) std::sync::Weak<Inner>);

#[cfg(feature = "pull")]
impl Weak {
    pub(crate) fn upgrade(&self) -> Option<State> {
        self.0.upgrade().map(|inner| State { inner })
    }
}

/// A tsmon State. Cheap to clone (it is shared).
#[derive(Clone)]
pub struct State {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("State")
            .field("id", &self.inner.id)
            .field("store", &self.inner.store)
            .finish()
    }
}

static GLOBAL: OnceLock<State> = OnceLock::new();

thread_local! {
    static CURRENT: Cell<*const Inner> = const { Cell::new(std::ptr::null()) };
}

/// The global State was set already; the State that could not be installed comes back.
#[derive(Debug)]
pub struct SetStateError(pub State);

impl fmt::Display for SetStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the global tsmon State is already set")
    }
}

impl std::error::Error for SetStateError {}

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
            match StateBuilder::default().build_unchecked() {
                Ok(state) => state,
                Err(e) => {
                    tracing::error!("tsmon: the default global State: {e}");
                    StateBuilder::default()
                        .build_unchecked()
                        .unwrap_or_else(|e| unreachable!("the default settings are valid: {e}"))
                }
            }
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
        // SAFETY: the store is owned by the `Inner` whose strong reference the slot now holds,
        // until the guard puts the previous one back.
        let previous_store = unsafe { current::replace(Arc::as_ptr(&self.inner.store)) };
        EnterGuard {
            previous,
            previous_store,
            _not_send: PhantomData,
        }
    }

    /// Runs `f` with this State current on this thread.
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        let _guard = self.enter();
        f()
    }

    /// The store, to read: whether it is enabled, its clock, its default target, snapshots.
    /// What changes it goes through the State, so the settings and the store never disagree:
    /// enable or disable with [`apply_settings`](Self::apply_settings) (`enabled`), change
    /// the series cap with `max_series`, reset with [`reset_cumulative`](Self::reset_cumulative)
    /// and [`reset_all`](Self::reset_all).
    ///
    /// ```compile_fail
    /// let state = tsmon::State::builder().build().unwrap();
    /// state.store().set_enabled(false); // not public: `enabled` is a setting
    /// ```
    #[must_use]
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Resets every cumulative metric (counters and cumulative distributions) to zero with a
    /// new start time, as Go's `ResetCumulativeMetrics` does (and as a flush does by itself
    /// when the task loses its number). Gauges keep their values.
    ///
    /// ```
    /// tsmon::metric! {
    ///     /// Jobs done.
    ///     static DONE: Counter = "example/state/done";
    ///     /// Depth.
    ///     static DEPTH: IntGauge = "example/state/depth";
    /// }
    /// let state = tsmon::State::builder().build().unwrap();
    /// let _g = state.enter();
    /// DONE.add(3, ());
    /// DEPTH.set(7, ());
    /// state.reset_cumulative();
    /// assert_eq!((DONE.get(()), DEPTH.get(())), (0, 7));
    /// ```
    pub fn reset_cumulative(&self) {
        self.inner.store.reset_cumulative();
    }

    /// Resets every metric: each series starts again from zero with a new start time (an
    /// instrumented call under way still ends with its in-flight gauge balanced).
    ///
    /// ```
    /// tsmon::metric! {
    ///     /// Depth.
    ///     static LEVEL: IntGauge = "example/state/level";
    /// }
    /// let state = tsmon::State::builder().build().unwrap();
    /// state.in_scope(|| LEVEL.set(7, ()));
    /// state.reset_all();
    /// assert_eq!(state.in_scope(|| LEVEL.get(())), 0);
    /// ```
    pub fn reset_all(&self) {
        self.inner.store.reset_all();
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
        let mut out = Vec::new();
        self.encode_into(format, &mut out);
        // Only valid UTF-8 goes in: names are ASCII, values are numbers or UTF-8 strings.
        String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }

    /// Appends the exposition of the store as it is now to `out`: the text
    /// [`encode`](crate::exposition::encode) gives for a snapshot taken now, written straight
    /// from the series without copying a snapshot first (what the pull endpoint serves).
    ///
    /// ```
    /// tsmon::metric! {
    ///     /// Jobs finished.
    ///     static FINISHED: Counter = "example/state/finished";
    /// }
    /// let state = tsmon::State::builder().build().unwrap();
    /// state.in_scope(|| FINISHED.add(2, ()));
    /// let mut live = Vec::new();
    /// state.encode_into(tsmon::exposition::Format::OpenMetrics, &mut live);
    /// let copied = tsmon::exposition::encode_to_string(&state.snapshot(), tsmon::exposition::Format::OpenMetrics);
    /// // The settings' exposition options apply (`openmetrics_created`, off by default).
    /// assert_eq!(String::from_utf8(live).unwrap(), copied);
    /// ```
    pub fn encode_into(&self, format: Format, out: &mut Vec<u8>) {
        let options = exposition::Options::from_settings(&self.settings());
        if format == Format::Protobuf {
            exposition::encode_with(&self.snapshot(), format, options, out);
        } else {
            exposition::encode_store(&self.inner.store, format, options, out);
        }
    }
}

impl State {
    /// The exposition of the store as it is now, a chunk at a time: each item is at least
    /// `chunk` bytes but the last, and together they are the text
    /// [`encode_into`](Self::encode_into) writes. The store is walked as the chunks are asked
    /// for (no lock is held between two), so a large store's scrape never holds more than a
    /// chunk of its text: this is how the pull endpoint answers. A series made during the walk
    /// may or may not be in it, one deleted during it may leave another out, but no series is
    /// written twice. The protobuf format is written from a snapshot, in one chunk.
    ///
    /// ```
    /// tsmon::metric! {
    ///     /// Bytes sent, by peer.
    ///     static SENT: Counter(peer: String) = "example/state/sent";
    /// }
    /// let state = tsmon::State::builder().build().unwrap();
    /// state.in_scope(|| (0..100).for_each(|i| SENT.add(10, &format!("peer-{i}"))));
    /// let mut body = Vec::new();
    /// for chunk in state.encode_chunks(tsmon::exposition::Format::Text, 1024) {
    ///     assert!(!chunk.is_empty());
    ///     body.extend_from_slice(&chunk); // or send it on
    /// }
    /// assert_eq!(body, state.encode(tsmon::exposition::Format::Text).into_bytes());
    /// ```
    #[must_use]
    pub fn encode_chunks(&self, format: Format, chunk: usize) -> EncodeChunks {
        EncodeChunks::new(self, format, chunk)
    }
}

fn default_instance_id() -> String {
    let host = crate::target::hostname().unwrap_or_else(|| "localhost".into());
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{host}-{}-{started:x}", std::process::id())
}

/// Keeps a State current on this thread; see [`State::enter`].
pub struct EnterGuard {
    previous: *const Inner,
    previous_store: *const Store,
    _not_send: PhantomData<*const ()>,
}

impl fmt::Debug for EnterGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnterGuard").finish_non_exhaustive()
    }
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        // SAFETY: the previous store belongs to the previous `Inner`, whose strong reference
        // goes back into the slot on the next line.
        unsafe { current::replace(self.previous_store) };
        let current = CURRENT.with(|c| c.replace(self.previous));
        if !current.is_null() {
            // SAFETY: the slot owned this strong reference (made by `Arc::into_raw` in `enter`),
            // and it has just been taken out of the slot.
            drop(unsafe { Arc::from_raw(current) });
        }
    }
}

/// The global State's store, for the store layer's hook (see [`current`]).
#[linkme::distributed_slice(current::TSMON_GLOBAL_STORE)]
static GLOBAL_STORE: fn() -> &'static Store = || &State::global().inner.store;

/// The State entered on this thread, if any.
pub(crate) fn current_if_entered() -> Option<State> {
    let current = CURRENT.with(Cell::get);
    if current.is_null() {
        None
    } else {
        // SAFETY: as in `current_store_for_call`.
        let inner = unsafe {
            Arc::increment_strong_count(current);
            Arc::from_raw(current)
        };
        Some(State { inner })
    }
}
