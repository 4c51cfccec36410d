//! Metrics: the eight kinds of the Go library, declared statically with [`metric!`](crate::metric!).
//!
//! | tsmon type | Go type | Prometheus type | write |
//! |---|---|---|---|
//! | [`Counter`] | `Counter` (cumulative int) | counter | `add`, `inc`, `set` |
//! | [`FloatCounter`] | `FloatCounter` | counter | `add`, `set` |
//! | [`IntGauge`] | `Int` | gauge | `set`, `add` |
//! | [`FloatGauge`] | `Float` | gauge | `set`, `add` |
//! | [`StringMetric`] | `String` | info | `set` |
//! | [`BoolMetric`] | `Bool` | gauge (0 or 1) | `set` |
//! | [`CumulativeDistribution`] | `CumulativeDistribution` | histogram | `add` |
//! | [`NonCumulativeDistribution`] | `NonCumulativeDistribution` | gauge histogram | `set` |
//!
//! Writes go to the current [`State`](crate::State): the one entered on this thread
//! ([`State::enter`](crate::State::enter)), else the global one. A lookup by field values hashes
//! the values and takes one shard's read lock; a [`Handle`] resolved once skips all of that.
//!
//! ```
//! tsmon::metric! {
//!     /// Bytes received, by peer.
//!     #[tsmon(units = bytes)]
//!     pub static RECEIVED: Counter(peer: String) = "example/metric/received";
//! }
//! let state = tsmon::State::builder().build().unwrap();
//! let _guard = state.enter();
//! let peer = RECEIVED.handle("10.0.0.1"); // resolved once
//! peer.add(1500);
//! RECEIVED.add(10, "10.0.0.2"); // looked up by value
//! assert_eq!(RECEIVED.get("10.0.0.1"), 1500);
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

pub use crate::desc::{DeclSite, MetricDesc, MetricKind, Units};
use crate::field::FieldSet;
use crate::store::current::with_current_store;
use crate::store::{Exemplar, ExemplarTable, MetricStore, Series, Store, with_key};
use crate::target::Target;

/// Kind markers: the first type parameter of [`Metric`].
pub mod kind {
    use super::MetricKind;
    use crate::store::StoreSlot;
    use crate::store::cell::{BoolCell, DistCell, FloatCell, IntCell, NcDistCell, StrCell};

    mod sealed {
        pub trait Sealed {}
    }

    /// A value kind, at the type level.
    pub trait Kind: sealed::Sealed + 'static {
        /// The kind.
        const KIND: MetricKind;
        #[doc(hidden)]
        type Cell: StoreSlot;
    }

    macro_rules! kinds {
        ($($(#[$m:meta])* $name:ident => $kind:ident, $cell:ty;)*) => {$(
            $(#[$m])*
            #[derive(Debug, Clone, Copy)]
            pub struct $name;
            impl sealed::Sealed for $name {}
            impl Kind for $name {
                const KIND: MetricKind = MetricKind::$kind;
                type Cell = $cell;
            }
        )*};
    }

    kinds! {
        /// See [`Counter`](super::Counter).
        Counter => Counter, IntCell;
        /// See [`FloatCounter`](super::FloatCounter).
        FloatCounter => FloatCounter, FloatCell;
        /// See [`IntGauge`](super::IntGauge).
        IntGauge => IntGauge, IntCell;
        /// See [`FloatGauge`](super::FloatGauge).
        FloatGauge => FloatGauge, FloatCell;
        /// See [`StringMetric`](super::StringMetric).
        StringMetric => String, StrCell;
        /// See [`BoolMetric`](super::BoolMetric).
        BoolMetric => Bool, BoolCell;
        /// See [`CumulativeDistribution`](super::CumulativeDistribution).
        CumulativeDistribution => CumulativeDistribution, DistCell;
        /// See [`NonCumulativeDistribution`](super::NonCumulativeDistribution).
        NonCumulativeDistribution => NonCumulativeDistribution, NcDistCell;
    }
}

use kind::Kind;

/// A statically declared metric of kind `K` with fields `F`. Declare one with
/// [`metric!`](crate::metric!); the aliases below name the kinds.
pub struct Metric<K, F = ()> {
    desc: &'static MetricDesc,
    _kind: PhantomData<fn() -> (K, F)>,
}

/// An integer counter (Go `Counter`).
pub type Counter<F = ()> = Metric<kind::Counter, F>;
/// A float counter (Go `FloatCounter`).
pub type FloatCounter<F = ()> = Metric<kind::FloatCounter, F>;
/// An integer gauge (Go `Int`).
pub type IntGauge<F = ()> = Metric<kind::IntGauge, F>;
/// A float gauge (Go `Float`).
pub type FloatGauge<F = ()> = Metric<kind::FloatGauge, F>;
/// A string metric (Go `String`), exposed as an info metric.
pub type StringMetric<F = ()> = Metric<kind::StringMetric, F>;
/// A boolean metric (Go `Bool`), exposed as a 0/1 gauge.
pub type BoolMetric<F = ()> = Metric<kind::BoolMetric, F>;
/// A cumulative distribution (Go `CumulativeDistribution`), exposed as a histogram.
pub type CumulativeDistribution<F = ()> = Metric<kind::CumulativeDistribution, F>;
/// A non-cumulative distribution (Go `NonCumulativeDistribution`), exposed as a gauge histogram.
pub type NonCumulativeDistribution<F = ()> = Metric<kind::NonCumulativeDistribution, F>;

impl<K, F> fmt::Debug for Metric<K, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metric")
            .field("name", &self.desc.name)
            .finish_non_exhaustive()
    }
}

impl<K: Kind, F: FieldSet> Metric<K, F> {
    #[must_use]
    pub(crate) const fn from_desc(desc: &'static MetricDesc) -> Self {
        Metric {
            desc,
            _kind: PhantomData,
        }
    }

    /// The catalog entry.
    #[must_use]
    pub const fn desc(&self) -> &'static MetricDesc {
        self.desc
    }

    /// The metric name.
    #[must_use]
    pub const fn name(&self) -> &'static str {
        self.desc.name
    }

    #[inline]
    fn slot<'s>(&self, store: &'s Store) -> Option<&'s MetricStore<K::Cell>> {
        store.slot::<K::Cell>(self.desc)
    }

    /// Writes to the series of these values under the default target, creating it if needed.
    #[inline]
    fn write(&self, values: F::Values<'_>, f: impl FnOnce(&Series<K::Cell>)) {
        with_current_store(|store| {
            if !store.is_enabled() {
                return;
            }
            store.lookup::<K::Cell, F, _>(self.desc, values, true, f);
        });
    }

    /// As [`write`](Self::write), to `store` rather than the current one (for code that runs
    /// inside a store's snapshot, such as an attached registry's copy).
    #[cfg_attr(
        not(any(feature = "prometheus", feature = "prometheus-client")),
        allow(dead_code)
    )]
    pub(crate) fn write_in(
        &self,
        store: &Store,
        values: F::Values<'_>,
        f: impl FnOnce(&Series<K::Cell>),
    ) {
        if store.is_enabled() {
            store.lookup::<K::Cell, F, _>(self.desc, values, true, f);
        }
    }

    /// As [`write`](Self::write), then keeps an exemplar of `value` with `labels` in the slot
    /// `f` gives (slot, slots); an exemplar that cannot be kept is counted.
    fn write_with_exemplar(
        &self,
        values: F::Values<'_>,
        value: f64,
        labels: &[(&str, &str)],
        f: impl FnOnce(&Series<K::Cell>) -> (usize, usize),
    ) {
        let kept = with_current_store(|store| {
            if !store.is_enabled() {
                return true;
            }
            let Some(table) = self.slot(store).map(|m| m.exemplars.clone()) else {
                return true;
            };
            store
                .lookup::<K::Cell, F, _>(self.desc, values, true, |s| {
                    let (slot, slots) = f(s);
                    keep_exemplar(&table, s, slot, slots, value, labels)
                })
                .unwrap_or(true)
        });
        if !kept {
            DROPPED_EXEMPLARS.inc(self.desc.name);
        }
    }

    /// Reads the series of these values, without creating it.
    #[inline]
    fn read<R>(&self, values: F::Values<'_>, f: impl FnOnce(&Series<K::Cell>) -> R) -> Option<R> {
        with_current_store(|store| {
            if !store.is_enabled() {
                return None;
            }
            store.lookup::<K::Cell, F, _>(self.desc, values, false, f)
        })
    }

    /// Resolves the series of these values once, in the current State, under the default
    /// target: writes through the handle skip the lookup. The series is created, so a counter
    /// is exported (at zero) from then on.
    ///
    /// A handle stays bound to its series: after [`delete`](Self::delete) it writes to a series
    /// that is no longer exported.
    #[must_use]
    pub fn handle(&self, values: F::Values<'_>) -> Handle<K> {
        self.handle_in(values, None)
    }

    /// As [`handle`](Self::handle), for a series under an explicit target instead of the default
    /// one (Go's target in the context).
    ///
    /// ```
    /// tsmon::metric! {
    ///     /// Pings answered.
    ///     static PINGS: Counter = "example/metric/pings";
    /// }
    /// let state = tsmon::State::builder().build().unwrap();
    /// let _g = state.enter();
    /// PINGS.handle_with_target(&tsmon::Target::new("other", "job"), ()).inc();
    /// PINGS.inc(());
    /// assert_eq!(state.snapshot().metric("example/metric/pings").unwrap().cells().len(), 2);
    /// ```
    #[must_use]
    pub fn handle_with_target(&self, target: &Target, values: F::Values<'_>) -> Handle<K> {
        self.handle_in(values, Some(target))
    }

    fn handle_in(&self, values: F::Values<'_>, target: Option<&Target>) -> Handle<K> {
        with_current_store(|store| {
            let id = target.map_or(0, |t| store.target_id(t));
            let slot = self.slot(store);
            let series = slot.and_then(|slot| {
                with_key::<F, _>(id, values, |key| {
                    slot.with_series(key, store.clock(), true, Arc::clone)
                })
            });
            Handle {
                series,
                enabled: store.enabled_flag().clone(),
                exemplars: slot.map(|m| m.exemplars.clone()),
            }
        })
    }

    /// Deletes the series of these values (Go's `Del`); returns whether it existed.
    ///
    /// ```
    /// tsmon::metric! {
    ///     /// Open sessions per user.
    ///     static SESSIONS: IntGauge(user: String) = "example/metric/sessions";
    /// }
    /// let state = tsmon::State::builder().build().unwrap();
    /// let _g = state.enter();
    /// SESSIONS.set(2, "ann");
    /// assert!(SESSIONS.delete("ann"));
    /// assert_eq!(SESSIONS.get("ann"), 0);
    /// ```
    pub fn delete(&self, values: F::Values<'_>) -> bool {
        with_current_store(|store| with_key::<F, _>(0, values, |key| store.delete(self.desc, key)))
    }

    /// Resets every series of this metric (Go's `Reset`): values go back to zero and
    /// cumulative streams restart with a new start time.
    pub fn reset(&self) {
        with_current_store(|store| store.reset(self.desc));
    }
}

/// A resolved series: writes through it are a relaxed load and one or two relaxed atomic
/// operations, with no lookup, lock or allocation.
pub struct Handle<K: Kind> {
    series: Option<Arc<Series<K::Cell>>>,
    enabled: Arc<AtomicBool>,
    /// Its metric's exemplars (for the writes that keep one).
    exemplars: Option<Arc<ExemplarTable>>,
}

impl<K: Kind> Clone for Handle<K> {
    fn clone(&self) -> Self {
        Handle {
            series: self.series.clone(),
            enabled: self.enabled.clone(),
            exemplars: self.exemplars.clone(),
        }
    }
}

/// Keeps an exemplar in `table` for `s`: `false` when its labels cannot be kept.
fn keep_exemplar<C: crate::store::cell::CellType>(
    table: &ExemplarTable,
    s: &Series<C>,
    slot: usize,
    slots: usize,
    value: f64,
    labels: &[(&str, &str)],
) -> bool {
    use crate::clock::TimeSource as _;
    #[cfg(feature = "tracing-opentelemetry")]
    if crate::exemplars::repeat(std::ptr::from_ref(s) as usize, slot) {
        return true;
    }
    match Exemplar::new(value, crate::clock::SystemClock.now_micros(), labels) {
        Some(ex) => {
            s.set_exemplar(table, slot, slots, ex);
            true
        }
        None => false,
    }
}

impl<K: Kind> fmt::Debug for Handle<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("kind", &K::KIND)
            .finish_non_exhaustive()
    }
}

impl<K: Kind> Handle<K> {
    /// A handle on a series of a metric registered at run time (see
    /// [`registry::dynamic_catalog`](crate::registry::dynamic_catalog)), with whether it is
    /// the metric's overflow series; `None` when `K` is not the metric's kind.
    #[cfg(feature = "metrics")]
    pub(crate) fn dynamic(
        store: &Store,
        id: usize,
        desc: &'static MetricDesc,
        key: &[u8],
    ) -> Option<(Self, bool)> {
        if desc.kind != K::KIND {
            return None;
        }
        let found = store.dynamic_series::<K::Cell>(id, desc, key)?;
        Some((
            Handle {
                series: Some(found.series),
                enabled: store.enabled_flag().clone(),
                exemplars: Some(found.exemplars),
            },
            found.overflow,
        ))
    }

    /// Keeps an exemplar for the handle's series; counts one that cannot be kept.
    fn keep(
        &self,
        s: &Series<K::Cell>,
        slot: usize,
        slots: usize,
        value: f64,
        labels: &[(&str, &str)],
    ) {
        let Some(table) = &self.exemplars else {
            return;
        };
        if !keep_exemplar(table, s, slot, slots, value, labels) {
            DROPPED_EXEMPLARS.inc(table.metric());
        }
    }

    #[inline]
    fn live(&self) -> Option<&Series<K::Cell>> {
        if self.enabled.load(Relaxed) {
            self.series.as_deref()
        } else {
            None
        }
    }
}

mod ops;

// Each static allows `unsafe_code`: linkme enters it in the catalog with a `#[link_section]`
// static, which the lint sees inside this crate (linkme's macro is local here).
crate::metric! {
    /// Writes that went to a metric's overflow series because it had reached its series cap.
    #[allow(unsafe_code)]
    pub static OVERFLOW_WRITES: Counter(metric: String) = "tsmon/store/overflow_writes";
    /// Exemplars not kept, by metric: their labels were over 128 characters, or a label name was not valid.
    #[allow(unsafe_code)]
    pub static DROPPED_EXEMPLARS: Counter(metric: String) = "tsmon/store/dropped_exemplars";
}

#[cfg(test)]
mod self_metric_tests {
    #[test]
    fn the_store_names_the_overflow_metric_as_it_is_declared() {
        assert_eq!(
            super::OVERFLOW_WRITES.desc().name,
            crate::store::OVERFLOW_WRITES
        );
    }
}
