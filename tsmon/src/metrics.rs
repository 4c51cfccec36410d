//! The `metrics` facade's recorder: every `metrics::counter!`, `gauge!` and
//! `histogram!` in the process lands in a tsmon [`State`], next to its declared metrics, with
//! its target labels, its series caps and every monitor (feature `metrics`).
//!
//! ```
//! use metrics::{counter, gauge, histogram};
//! let state = tsmon::State::builder().build().unwrap();
//! let recorder = tsmon::metrics::Recorder::new(&state);
//! metrics::with_local_recorder(&recorder, || {
//!     metrics::describe_counter!("facade_doc_jobs_total", "Jobs run.");
//!     counter!("facade_doc_jobs_total", "queue" => "mail").increment(2);
//!     gauge!("facade_doc.depth").set(7.0);
//!     histogram!("facade_doc_wait", "queue" => "mail").record(0.25);
//! });
//! let snap = state.snapshot();
//! let jobs = snap.metric("facade_doc_jobs").unwrap();
//! assert_eq!(jobs.desc().description(), "Jobs run.");
//! assert_eq!(jobs.desc().fields()[0].name, "queue");
//! assert_eq!(jobs.cells()[0].value(), &tsmon::store::Value::Int(2));
//! assert!(snap.metric("facade_doc_depth").is_some());
//! ```
//!
//! In a service, [`install`] makes the recorder the process' global one, once, after the State
//! is built (with `#[tsmon::main]`, at the top of `main`).
//!
//! # How the facade's metrics map to tsmon's
//!
//! - A **counter** is a [`Counter`](crate::metric::Counter); `absolute(n)` raises it to `n`
//!   (a lower `n` is ignored). A name ending in `_total` loses that suffix, which the exposition
//!   adds back: `requests_total` is exported as `requests_total`, not `requests_total_total`.
//! - A **gauge** is a [`FloatGauge`](crate::metric::FloatGauge).
//! - A **histogram** is a [`CumulativeDistribution`](crate::metric::CumulativeDistribution)
//!   with [`DEFAULT_BUCKETS`] (exponential, ×2 from 1e-6 to about 1e6, 40 buckets: seconds and
//!   bytes alike), or [`Recorder::with_bucketer`]'s. With the setting
//!   `native_histograms = "all"` its new series are native histograms.
//! - **Names** become ones Prometheus takes: what is not an ASCII letter, digit, `_` or `/`
//!   becomes `_` (`http.requests` is `http_requests`). **Label names** too; a label that tsmon
//!   or Prometheus reserves (`le`, `task_num`, `job_name`, one starting with `__`, …) is
//!   renamed `exported_<name>`, as Prometheus does with a scraped label that clashes with its
//!   own. Label **values** are kept as given and escaped by each format.
//! - A name's **label names** are fixed by its first registration (their order does not
//!   matter). **Units** and **descriptions** come from `describe_*!`, when it comes before the
//!   name's first registration (a later one is ignored); units tsmon has no counterpart for
//!   (`count`, `percent`, rates) are left out.
//! - Every registered name appears in the catalog as a dynamic entry
//!   ([`crate::registry::dynamic_catalog`], the catalog's JSON at
//!   `/metrics/catalog`, with `"dynamic": true`).
//!
//! # What is refused
//!
//! A name whose Prometheus name belongs to a declared metric (or to a facade metric of another
//! kind), a name that comes back with other label names, or labels that are the same once
//! made valid: the handle returned does nothing, the problem is reported once (to `tracing`,
//! or to stderr when no subscriber shows it, see [`report`](crate::report)), and the
//! self-metric `tsmon/metrics/refused` counts it by metric and reason.
//!
//! # Cost
//!
//! `counter!(…)` asks the recorder for its handle on every call. A repeated key is found in a
//! small cache of the calling thread (64 entries in sets of two, by the key's hash, which the
//! facade computes once per key): no lock, and no atomic read-modify-write but the handle's
//! reference count and the write itself. A miss goes to the recorder's map, then to the store.
//! `BENCHMARKS.md` has the figures against `metrics-exporter-prometheus`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use ::metrics::{
    Counter as FacadeCounter, CounterFn, Gauge as FacadeGauge, GaugeFn,
    Histogram as FacadeHistogram, HistogramFn, Key, KeyName, Metadata, SharedString, Unit,
};
use parking_lot::{Mutex, RwLock};

use crate::desc::{MetricKind, Units};
use crate::distribution::BucketerSpec;
use crate::error::Error;
use crate::metric::{Handle, kind};
use crate::registry::{self, DynamicSpec};
use crate::state::State;

// The static allows `unsafe_code`: linkme enters it in the catalog with a `#[link_section]`.
crate::metric! {
    /// Registrations through the `metrics` facade that were refused, by the facade's metric
    /// name and reason (`clash`: its name is another metric's; `labels`: labels that are the
    /// same once made valid).
    #[allow(unsafe_code)]
    pub(crate) static REFUSED: Counter(metric: String, reason: String) = "tsmon/metrics/refused";
}

/// Facade histograms' buckets unless [`Recorder::with_bucketer`] sets others: 40 exponential
/// buckets, each twice the one before, from 1e-6 (a microsecond, a byte's millionth) to about
/// 1.1e6 (13 days, a megabyte), so seconds and bytes alike spread over them.
///
/// ```
/// let b = tsmon::metrics::DEFAULT_BUCKETS.bucketer().unwrap();
/// assert_eq!(b.spec().num_finite_buckets(), 40);
/// assert!(b.upper_bound(1) <= 2e-6 && b.upper_bound(40) > 1e6);
/// ```
pub const DEFAULT_BUCKETS: BucketerSpec = BucketerSpec::geometric_with_scale(2.0, 40, 1e-6);

/// The source of recorder ids, for the thread caches.
static NEXT_RECORDER: AtomicU64 = AtomicU64::new(1);

/// The facade's recorder over a tsmon [`State`]: its metrics are written to that State's store.
/// Cloning it gives another handle on the same recorder.
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Inner>,
}

struct Inner {
    id: u64,
    state: State,
    buckets: BucketerSpec,
    /// What `describe_*!` said, by the facade's name.
    described: Mutex<HashMap<String, (Option<Unit>, String)>>,
    /// The handles resolved so far, by key and kind (refused keys hold a no-op handle).
    resolved: RwLock<HashMap<Key, [Option<Resolved>; 3]>>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("keys", &self.inner.resolved.read().len())
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum FacadeKind {
    Counter,
    Gauge,
    Histogram,
}

impl FacadeKind {
    const fn metric_kind(self) -> MetricKind {
        match self {
            FacadeKind::Counter => MetricKind::Counter,
            FacadeKind::Gauge => MetricKind::FloatGauge,
            FacadeKind::Histogram => MetricKind::CumulativeDistribution,
        }
    }
}

#[derive(Clone)]
enum Resolved {
    Counter(FacadeCounter),
    Gauge(FacadeGauge),
    Histogram(FacadeHistogram),
}

impl Recorder {
    /// A recorder that writes to `state`'s store.
    ///
    /// ```
    /// let state = tsmon::State::builder().build().unwrap();
    /// let recorder = tsmon::metrics::Recorder::new(&state);
    /// metrics::with_local_recorder(&recorder, || metrics::counter!("facade_new_hits").increment(1));
    /// assert!(state.snapshot().metric("facade_new_hits").is_some());
    /// ```
    #[must_use]
    pub fn new(state: &State) -> Self {
        Recorder {
            inner: Arc::new(Inner {
                id: NEXT_RECORDER.fetch_add(1, Relaxed),
                state: state.clone(),
                buckets: DEFAULT_BUCKETS,
                described: Mutex::new(HashMap::new()),
                resolved: RwLock::new(HashMap::new()),
            }),
        }
    }

    /// Histograms get `spec`'s buckets instead of [`DEFAULT_BUCKETS`] (a native one, such as
    /// `BucketerSpec::native(3)`, included).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidBucketer`] when `spec` does not give a bucketer.
    ///
    /// ```
    /// use tsmon::distribution::BucketerSpec;
    /// let state = tsmon::State::builder().build().unwrap();
    /// let recorder = tsmon::metrics::Recorder::new(&state)
    ///     .with_bucketer(BucketerSpec::explicit(&[0.1, 1.0, 10.0]))
    ///     .unwrap();
    /// metrics::with_local_recorder(&recorder, || metrics::histogram!("facade_buckets_wait").record(0.5));
    /// let snap = state.snapshot();
    /// let d = snap.metric("facade_buckets_wait").unwrap().desc();
    /// assert_eq!(d.bucketer().spec().explicit_bounds().unwrap().len(), 3);
    /// ```
    pub fn with_bucketer(self, spec: BucketerSpec) -> Result<Self, Error> {
        spec.bucketer()?;
        let inner = Arc::try_unwrap(self.inner).map_or_else(
            |shared| Inner {
                id: NEXT_RECORDER.fetch_add(1, Relaxed),
                state: shared.state.clone(),
                buckets: spec,
                described: Mutex::new(shared.described.lock().clone()),
                resolved: RwLock::new(HashMap::new()),
            },
            |mut inner| {
                inner.buckets = spec;
                inner
            },
        );
        Ok(Recorder {
            inner: Arc::new(inner),
        })
    }

    /// The handle of `key` as `kind`: from this thread's cache, the recorder's map, or made.
    #[inline]
    fn handle(&self, kind: FacadeKind, key: &Key) -> Resolved {
        let inner = &*self.inner;
        let hash = key.get_hash();
        let way = ((hash ^ kind as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58) as usize;
        let cached = CACHE.try_with(|cache| {
            let Ok(mut cache) = cache.try_borrow_mut() else {
                return None;
            };
            // Two ways per set: the most recent first.
            let first = way & !1;
            let matches = |e: &Option<CacheEntry>| {
                e.as_ref()
                    .is_some_and(|e| e.recorder == inner.id && e.kind == kind && e.key == *key)
            };
            if matches(&cache[first]) {
                return cache[first].as_ref().map(|e| e.handle.clone());
            }
            if matches(&cache[first + 1]) {
                cache.swap(first, first + 1);
                return cache[first].as_ref().map(|e| e.handle.clone());
            }
            let (handle, keep) = inner.resolve(kind, key);
            if keep {
                cache[first + 1] = Some(CacheEntry {
                    recorder: inner.id,
                    kind,
                    key: key.clone(),
                    handle: handle.clone(),
                });
                cache.swap(first, first + 1);
            }
            Some(handle)
        });
        match cached {
            Ok(Some(h)) => h,
            // The cache is in use further up this thread's stack, or already torn down.
            _ => inner.resolve(kind, key).0,
        }
    }
}

/// An entry of a thread's cache of recent facade keys.
struct CacheEntry {
    recorder: u64,
    kind: FacadeKind,
    key: Key,
    handle: Resolved,
}

thread_local! {
    static CACHE: RefCell<[Option<CacheEntry>; 64]> = const { RefCell::new([const { None }; 64]) };
}

impl Inner {
    /// The handle of `key`, and whether a cache may keep it (not an overflow series', whose
    /// writes are each counted).
    #[cold]
    fn resolve(&self, kind: FacadeKind, key: &Key) -> (Resolved, bool) {
        if let Some(h) = self
            .resolved
            .read()
            .get(key)
            .and_then(|h| h[kind as usize].clone())
        {
            return (h, true);
        }
        let (handle, keep) = match self.make(kind, key) {
            Ok(made) => made,
            Err((reason, err)) => {
                crate::report::problem(
                    &format!("metrics facade {}", key.name()),
                    format!("a `metrics` facade metric is dropped: {err}"),
                );
                self.state.in_scope(|| REFUSED.inc((key.name(), reason)));
                (noop(kind), true)
            }
        };
        if keep {
            self.resolved.write().entry(key.clone()).or_default()[kind as usize] =
                Some(handle.clone());
        }
        (handle, keep)
    }

    /// Registers the metric of `key` and finds its series.
    fn make(&self, kind: FacadeKind, key: &Key) -> Result<(Resolved, bool), (&'static str, Error)> {
        let labels = registry::sorted_labels(key.labels().map(|l| (l.key(), l.value())));
        if let Some(w) = labels.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err((
                "labels",
                Error::MetricRefused(format!(
                    "{:?} has two labels named {:?} once made valid",
                    key.name(),
                    w[0].0
                )),
            ));
        }
        let mut name = registry::sanitize_name(key.name());
        if kind == FacadeKind::Counter
            && let Some(stem) = name.strip_suffix("_total")
            && !stem.is_empty()
        {
            name = stem.to_owned();
        }
        let (unit, description) = self
            .described
            .lock()
            .get(key.name())
            .cloned()
            .unwrap_or_default();
        let spec = DynamicSpec {
            name,
            kind: kind.metric_kind(),
            fields: labels.iter().map(|(k, _)| k.clone()).collect(),
            units: unit.and_then(units),
            description,
            bucketer: (kind == FacadeKind::Histogram).then_some(self.buckets),
            via: "metrics",
        };
        let (id, desc) = registry::register_dynamic(&spec).map_err(|e| ("clash", e))?;
        if !self.state.store().claim_dynamic(id, registry::FACADE) {
            return Err((
                "clash",
                Error::MetricRefused(format!(
                    "{:?} is an attached registry's family in this State; one family per name",
                    key.name()
                )),
            ));
        }
        let buf = crate::store::string_key(labels.iter().map(|(_, v)| *v));
        let store = self.state.store();
        let made = match kind {
            FacadeKind::Counter => {
                Handle::<kind::Counter>::dynamic(store, id, desc, &buf).map(|(h, o)| {
                    (
                        Resolved::Counter(FacadeCounter::from_arc(Arc::new(Cell(h)))),
                        o,
                    )
                })
            }
            FacadeKind::Gauge => Handle::<kind::FloatGauge>::dynamic(store, id, desc, &buf)
                .map(|(h, o)| (Resolved::Gauge(FacadeGauge::from_arc(Arc::new(Cell(h)))), o)),
            FacadeKind::Histogram => Handle::<kind::CumulativeDistribution>::dynamic(
                store, id, desc, &buf,
            )
            .map(|(h, o)| {
                (
                    Resolved::Histogram(FacadeHistogram::from_arc(Arc::new(Cell(h)))),
                    o,
                )
            }),
        };
        // The kind was checked when the name was registered, so the store's slot is of it.
        let (handle, overflow) = made.unwrap_or((noop(kind), false));
        Ok((handle, !overflow))
    }
}

fn noop(kind: FacadeKind) -> Resolved {
    match kind {
        FacadeKind::Counter => Resolved::Counter(FacadeCounter::noop()),
        FacadeKind::Gauge => Resolved::Gauge(FacadeGauge::noop()),
        FacadeKind::Histogram => Resolved::Histogram(FacadeHistogram::noop()),
    }
}

/// tsmon's units for the facade's, where there is one.
fn units(unit: Unit) -> Option<Units> {
    Some(match unit {
        Unit::Seconds => Units::Seconds,
        Unit::Milliseconds => Units::Milliseconds,
        Unit::Microseconds => Units::Microseconds,
        Unit::Nanoseconds => Units::Nanoseconds,
        Unit::Bytes => Units::Bytes,
        Unit::Kibibytes => Units::Kibibytes,
        Unit::Mebibytes => Units::Mebibytes,
        Unit::Gibibytes => Units::Gibibytes,
        _ => return None,
    })
}

/// A tsmon handle as the facade's handle.
struct Cell<K: kind::Kind>(Handle<K>);

impl CounterFn for Cell<kind::Counter> {
    #[inline]
    fn increment(&self, value: u64) {
        self.0.add(value);
    }

    fn absolute(&self, value: u64) {
        let v = i64::try_from(value).unwrap_or(i64::MAX);
        if v > self.0.get() {
            self.0.set(v);
        }
    }
}

impl GaugeFn for Cell<kind::FloatGauge> {
    #[inline]
    fn increment(&self, value: f64) {
        self.0.add(value);
    }

    #[inline]
    fn decrement(&self, value: f64) {
        self.0.add(-value);
    }

    #[inline]
    fn set(&self, value: f64) {
        self.0.set(value);
    }
}

impl HistogramFn for Cell<kind::CumulativeDistribution> {
    #[inline]
    fn record(&self, value: f64) {
        self.0.add(value);
    }
}

impl ::metrics::Recorder for Recorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe(&key, unit, &description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe(&key, unit, &description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe(&key, unit, &description);
    }

    #[inline]
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> FacadeCounter {
        match self.handle(FacadeKind::Counter, key) {
            Resolved::Counter(c) => c,
            _ => FacadeCounter::noop(),
        }
    }

    #[inline]
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> FacadeGauge {
        match self.handle(FacadeKind::Gauge, key) {
            Resolved::Gauge(g) => g,
            _ => FacadeGauge::noop(),
        }
    }

    #[inline]
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> FacadeHistogram {
        match self.handle(FacadeKind::Histogram, key) {
            Resolved::Histogram(h) => h,
            _ => FacadeHistogram::noop(),
        }
    }
}

impl Inner {
    fn describe(&self, key: &KeyName, unit: Option<Unit>, description: &str) {
        self.described
            .lock()
            .insert(key.as_str().to_owned(), (unit, description.to_owned()));
    }
}

/// Makes a [`Recorder`] over `state` the process' global `metrics` recorder: from then on every
/// `metrics::counter!`, `gauge!` and `histogram!` outside a `with_local_recorder` writes to
/// `state`. Call it once, after building the State (with `#[tsmon::main]`, at the top of
/// `main`, with [`State::global`]).
///
/// # Errors
///
/// [`Error::InvalidSettings`] when a global recorder is installed already (the facade allows
/// one per process).
///
/// ```
/// let state = tsmon::State::builder().build().unwrap();
/// tsmon::metrics::install(&state).unwrap();
/// metrics::counter!("facade_install_hits").increment(3);
/// assert!(state.snapshot().metric("facade_install_hits").is_some());
/// // The facade allows one global recorder.
/// assert!(tsmon::metrics::install(&state).is_err());
/// ```
pub fn install(state: &State) -> Result<(), Error> {
    ::metrics::set_global_recorder(Recorder::new(state)).map_err(|_| {
        Error::InvalidSettings(
            "a global `metrics` recorder is installed already (the facade allows one per \
             process); use `tsmon::metrics::Recorder` with `metrics::with_local_recorder` \
             instead"
                .to_owned(),
        )
    })
}
