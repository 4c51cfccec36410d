//! Each kind's operations, shared by metrics (a series found by its field values) and handles
//! (a series held): `add`, `set`, `get` and the rest of [`Counter`] …
//! [`NonCumulativeDistribution`].

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use super::{
    BoolMetric, Counter, CumulativeDistribution, FloatCounter, FloatGauge, Handle, IntGauge,
    NonCumulativeDistribution, StringMetric, kind,
};
use crate::distribution::{Bucketer, Distribution};
use crate::field::FieldSet;
use crate::store::Series;
use crate::store::cell::{FloatCell, IntCell, NcDistCell, StrCell};

fn counter_set(s: &Series<IntCell>, name: &str, v: i64) {
    let cur = s.cell.get();
    if v < cur {
        tracing::error!(
            "attempted to set cumulative metric {name:?} to {v}, which is lower than the previous value {cur}"
        );
    } else {
        s.cell.set(v);
    }
}

fn float_counter_add(s: &Series<FloatCell>, name: &str, x: f64) {
    if x >= 0.0 {
        s.cell.add(x);
    } else {
        tracing::error!("attempted to add {x} to float counter {name:?}; counters only grow");
    }
}

fn float_counter_set(s: &Series<FloatCell>, name: &str, v: f64) {
    let cur = s.cell.get();
    if v < cur || v.is_nan() {
        tracing::error!(
            "attempted to set cumulative metric {name:?} to {v}, which is lower than the previous value {cur}"
        );
    } else {
        s.cell.set(v);
    }
}

fn set_string(s: &Series<StrCell>, v: &str) {
    let mut cur = s.cell.0.lock();
    if cur.as_deref() != Some(v) {
        *cur = Some(Arc::from(v));
    }
    s.mark_set();
}

fn set_nc_dist(s: &Series<NcDistCell>, d: &Distribution) {
    *s.cell.0.lock() = Some(d.clone());
    s.mark_set();
}

impl<F: FieldSet> Counter<F> {
    /// Adds `n`.
    ///
    /// ```
    /// tsmon::metric! {
    ///     /// Requests.
    ///     static REQS: Counter(code: i64) = "example/counter/reqs";
    /// }
    /// let state = tsmon::State::builder().build().unwrap();
    /// let _g = state.enter();
    /// REQS.add(3, 200);
    /// REQS.add(2, 200);
    /// assert_eq!(REQS.get(200), 5);
    /// ```
    #[inline]
    pub fn add(&self, n: u64, values: F::Values<'_>) {
        #[cfg(feature = "tracing-opentelemetry")]
        if crate::exemplars::active()
            && crate::exemplars::with_labels(|l| self.add_with_exemplar(n, values, l))
        {
            return;
        }
        self.write(values, |s| s.cell.add(n as i64));
    }

    /// Adds one.
    #[inline]
    pub fn inc(&self, values: F::Values<'_>) {
        self.add(1, values);
    }

    /// Adds `n` and keeps it as the series' exemplar, with `labels` (a trace's `trace_id` and
    /// `span_id`, say): OpenMetrics scrapes, the protobuf format and remote-write carry the
    /// latest one. Labels over 128 characters in all, or with an invalid name, are not kept
    /// (`tsmon/store/dropped_exemplars` counts them); the add is.
    ///
    /// ```
    /// tsmon::metric! {
    ///     /// Orders placed.
    ///     static ORDERS: Counter = "example/counter/orders";
    /// }
    /// let state = tsmon::State::builder().build().unwrap();
    /// state.in_scope(|| ORDERS.add_with_exemplar(2, (), &[("trace_id", "0af7651916cd43dd")]));
    /// let text = state.encode(tsmon::exposition::Format::OpenMetrics);
    /// assert!(text.contains("example_counter_orders_total{service_name"), "{text}");
    /// assert!(text.contains("} 2 # {trace_id=\"0af7651916cd43dd\"} 2.0 "), "{text}");
    /// ```
    pub fn add_with_exemplar(&self, n: u64, values: F::Values<'_>, labels: &[(&str, &str)]) {
        self.write_with_exemplar(values, n as f64, labels, |s| {
            s.cell.add(n as i64);
            (0, 1)
        });
    }

    /// Sets the total. A value below the current one is ignored with a logged error, since a
    /// counter only grows.
    pub fn set(&self, v: i64, values: F::Values<'_>) {
        let name = self.desc.name;
        self.write(values, |s| counter_set(s, name, v));
    }

    /// The current total (0 for a series never written).
    #[must_use]
    pub fn get(&self, values: F::Values<'_>) -> i64 {
        self.read(values, |s| s.cell.get()).unwrap_or(0)
    }
}

impl Handle<kind::Counter> {
    /// Adds `n`.
    #[inline]
    pub fn add(&self, n: u64) {
        #[cfg(feature = "tracing-opentelemetry")]
        if crate::exemplars::active()
            && crate::exemplars::with_labels(|l| self.add_with_exemplar(n, l))
        {
            return;
        }
        if let Some(s) = self.live() {
            s.cell.add(n as i64);
        }
    }

    /// Adds `n` and keeps it as the series' exemplar (see [`Counter::add_with_exemplar`]).
    ///
    /// ```
    /// tsmon::metric! {
    ///     /// Jobs done.
    ///     static DONE: Counter = "example/handle/done";
    /// }
    /// let state = tsmon::State::builder().build().unwrap();
    /// let h = state.in_scope(|| DONE.handle(()));
    /// h.add_with_exemplar(1, &[("trace_id", "abc")]);
    /// let snap = state.snapshot();
    /// assert_eq!(snap.metric("example/handle/done").unwrap().cells()[0].exemplar(0).unwrap().value(), 1.0);
    /// ```
    pub fn add_with_exemplar(&self, n: u64, labels: &[(&str, &str)]) {
        if let Some(s) = self.live() {
            s.cell.add(n as i64);
            self.keep(s, 0, 1, n as f64, labels);
        }
    }

    /// Adds one.
    ///
    /// ```
    /// tsmon::metric! {
    ///     /// Hits.
    ///     static HITS: Counter = "example/handle/hits";
    /// }
    /// let state = tsmon::State::builder().build().unwrap();
    /// let h = state.in_scope(|| HITS.handle(()));
    /// h.inc();
    /// assert_eq!(h.get(), 1);
    /// ```
    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    /// Sets the total; a lower value is ignored with a logged error.
    pub fn set(&self, v: i64) {
        if let Some(s) = self.live() {
            counter_set(s, "(handle)", v);
        }
    }

    /// The current total.
    #[must_use]
    pub fn get(&self) -> i64 {
        self.live().map_or(0, |s| s.cell.get())
    }
}

impl<F: FieldSet> FloatCounter<F> {
    /// Adds `x`; a negative or NaN `x` is ignored with a logged error.
    #[inline]
    pub fn add(&self, x: f64, values: F::Values<'_>) {
        let name = self.desc.name;
        self.write(values, |s| float_counter_add(s, name, x));
    }

    /// Sets the total; a lower value is ignored with a logged error.
    pub fn set(&self, v: f64, values: F::Values<'_>) {
        let name = self.desc.name;
        self.write(values, |s| float_counter_set(s, name, v));
    }

    /// The current total.
    #[must_use]
    pub fn get(&self, values: F::Values<'_>) -> f64 {
        self.read(values, |s| s.cell.get()).unwrap_or(0.0)
    }
}

impl Handle<kind::FloatCounter> {
    /// Adds `x`; a negative or NaN `x` is ignored with a logged error.
    #[inline]
    pub fn add(&self, x: f64) {
        if let Some(s) = self.live() {
            float_counter_add(s, "(handle)", x);
        }
    }

    /// The current total.
    #[must_use]
    pub fn get(&self) -> f64 {
        self.live().map_or(0.0, |s| s.cell.get())
    }
}

impl<F: FieldSet> IntGauge<F> {
    /// Sets the value.
    #[inline]
    pub fn set(&self, v: i64, values: F::Values<'_>) {
        self.write(values, |s| {
            s.cell.set(v);
            s.mark_set();
        });
    }

    /// Adds `n` (which may be negative).
    #[inline]
    pub fn add(&self, n: i64, values: F::Values<'_>) {
        self.write(values, |s| {
            s.cell.add(n);
            s.mark_set();
        });
    }

    /// The value (0 when unset).
    #[must_use]
    pub fn get(&self, values: F::Values<'_>) -> i64 {
        self.read(values, |s| s.cell.get()).unwrap_or(0)
    }
}

impl Handle<kind::IntGauge> {
    /// Sets the value.
    #[inline]
    pub fn set(&self, v: i64) {
        if let Some(s) = self.live() {
            s.cell.set(v);
            s.mark_set();
        }
    }

    /// Adds `n` (which may be negative).
    #[inline]
    pub fn add(&self, n: i64) {
        if let Some(s) = self.live() {
            s.cell.add(n);
            s.mark_set();
        }
    }

    /// The value.
    #[must_use]
    pub fn get(&self) -> i64 {
        self.live().map_or(0, |s| s.cell.get())
    }
}

impl<F: FieldSet> FloatGauge<F> {
    /// Sets the value.
    #[inline]
    pub fn set(&self, v: f64, values: F::Values<'_>) {
        self.write(values, |s| {
            s.cell.store(v);
            s.mark_set();
        });
    }

    /// Adds `x` (which may be negative).
    #[inline]
    pub fn add(&self, x: f64, values: F::Values<'_>) {
        self.write(values, |s| {
            s.cell.add(x);
            s.mark_set();
        });
    }

    /// The value (0 when unset).
    #[must_use]
    pub fn get(&self, values: F::Values<'_>) -> f64 {
        self.read(values, |s| s.cell.get()).unwrap_or(0.0)
    }
}

impl Handle<kind::FloatGauge> {
    /// Sets the value.
    #[inline]
    pub fn set(&self, v: f64) {
        if let Some(s) = self.live() {
            s.cell.store(v);
            s.mark_set();
        }
    }

    /// Adds `x` (which may be negative).
    ///
    /// ```
    /// tsmon::metric! {
    ///     /// Queue depth.
    ///     static DEPTH: FloatGauge = "example/handle/depth";
    /// }
    /// let state = tsmon::State::builder().build().unwrap();
    /// let h = state.in_scope(|| DEPTH.handle(()));
    /// h.add(2.5);
    /// h.add(-1.0);
    /// assert_eq!(h.get(), 1.5);
    /// ```
    #[inline]
    pub fn add(&self, x: f64) {
        if let Some(s) = self.live() {
            s.cell.add(x);
            s.mark_set();
        }
    }

    /// The value.
    #[must_use]
    pub fn get(&self) -> f64 {
        self.live().map_or(0.0, |s| s.cell.get())
    }
}

impl<F: FieldSet> StringMetric<F> {
    /// Sets the value.
    ///
    /// ```
    /// tsmon::metric! {
    ///     /// The running version.
    ///     static VERSION: StringMetric = "example/string/version";
    /// }
    /// let state = tsmon::State::builder().build().unwrap();
    /// let _g = state.enter();
    /// assert_eq!(VERSION.get(()), "");
    /// VERSION.set("1.2.3", ());
    /// assert_eq!(VERSION.get(()), "1.2.3");
    /// ```
    pub fn set(&self, v: &str, values: F::Values<'_>) {
        self.write(values, |s| set_string(s, v));
    }

    /// The value ("" when unset).
    #[must_use]
    pub fn get(&self, values: F::Values<'_>) -> String {
        self.read(values, |s| s.cell.0.lock().as_deref().map(str::to_owned))
            .flatten()
            .unwrap_or_default()
    }
}

impl Handle<kind::StringMetric> {
    /// Sets the value.
    pub fn set(&self, v: &str) {
        if let Some(s) = self.live() {
            set_string(s, v);
        }
    }
}

impl<F: FieldSet> BoolMetric<F> {
    /// Sets the value.
    #[inline]
    pub fn set(&self, v: bool, values: F::Values<'_>) {
        self.write(values, |s| {
            s.cell.0.store(v, Relaxed);
            s.mark_set();
        });
    }

    /// The value (false when unset).
    #[must_use]
    pub fn get(&self, values: F::Values<'_>) -> bool {
        self.read(values, |s| s.cell.0.load(Relaxed))
            .unwrap_or(false)
    }
}

impl Handle<kind::BoolMetric> {
    /// Sets the value.
    #[inline]
    pub fn set(&self, v: bool) {
        if let Some(s) = self.live() {
            s.cell.0.store(v, Relaxed);
            s.mark_set();
        }
    }
}

impl<F: FieldSet> CumulativeDistribution<F> {
    /// Adds a sample.
    ///
    /// ```
    /// tsmon::metric! {
    ///     /// Sizes.
    ///     #[tsmon(bucketer = fixed_width(10.0, 20))]
    ///     static SIZES: CumulativeDistribution = "example/dist/sizes";
    /// }
    /// let state = tsmon::State::builder().build().unwrap();
    /// let _g = state.enter();
    /// assert!(SIZES.get(()).is_none());
    /// SIZES.add(5.0, ());
    /// let d = SIZES.get(()).unwrap();
    /// assert_eq!((d.sum(), d.count(), d.bucketer().spec().width()), (5.0, 1, 10.0));
    /// ```
    #[inline]
    pub fn add(&self, x: f64, values: F::Values<'_>) {
        #[cfg(feature = "tracing-opentelemetry")]
        if crate::exemplars::active()
            && crate::exemplars::with_labels(|l| self.add_with_exemplar(x, values, l))
        {
            return;
        }
        self.write(values, |s| s.cell.add(x));
    }

    /// Adds a sample and keeps it as the exemplar of its bucket, with `labels` (see
    /// [`Counter::add_with_exemplar`]): each bucket shows its latest.
    ///
    /// ```
    /// tsmon::metric! {
    ///     /// Waits.
    ///     #[tsmon(units = seconds, bucketer = bounds(0.1, 1))]
    ///     static WAITS: CumulativeDistribution = "example/dist/waits";
    /// }
    /// let state = tsmon::State::builder().build().unwrap();
    /// state.in_scope(|| WAITS.add_with_exemplar(0.5, (), &[("trace_id", "f00")]));
    /// let text = state.encode(tsmon::exposition::Format::OpenMetrics);
    /// assert!(text.contains("le=\"1.0\"} 1 # {trace_id=\"f00\"} 0.5 "), "{text}");
    /// ```
    pub fn add_with_exemplar(&self, x: f64, values: F::Values<'_>, labels: &[(&str, &str)]) {
        self.write_with_exemplar(values, x, labels, |s| {
            s.cell.add(x);
            s.cell.exemplar_slot(x)
        });
    }

    /// The distribution, or `None` for a series never written.
    #[must_use]
    pub fn get(&self, values: F::Values<'_>) -> Option<Distribution> {
        self.read(values, |s| s.cell.get())
    }
}

impl Handle<kind::CumulativeDistribution> {
    /// Adds a sample.
    #[inline]
    pub fn add(&self, x: f64) {
        #[cfg(feature = "tracing-opentelemetry")]
        if crate::exemplars::active()
            && crate::exemplars::with_labels(|l| self.add_with_exemplar(x, l))
        {
            return;
        }
        if let Some(s) = self.live() {
            s.cell.add(x);
        }
    }

    /// Adds a sample and keeps it as its bucket's exemplar (see
    /// [`CumulativeDistribution::add_with_exemplar`]).
    ///
    /// ```
    /// tsmon::metric! {
    ///     /// Reads.
    ///     #[tsmon(bucketer = bounds(10, 100))]
    ///     static READS: CumulativeDistribution = "example/handle/reads";
    /// }
    /// let state = tsmon::State::builder().build().unwrap();
    /// let h = state.in_scope(|| READS.handle(()));
    /// h.add_with_exemplar(50.0, &[("trace_id", "b0b")]);
    /// let snap = state.snapshot();
    /// let cell = &snap.metric("example/handle/reads").unwrap().cells()[0];
    /// assert_eq!(cell.exemplar(1).unwrap().value(), 50.0); // [10, 100) is bucket 1
    /// ```
    pub fn add_with_exemplar(&self, x: f64, labels: &[(&str, &str)]) {
        if let Some(s) = self.live() {
            s.cell.add(x);
            let (slot, slots) = s.cell.exemplar_slot(x);
            self.keep(s, slot, slots, x, labels);
        }
    }

    /// The distribution.
    #[must_use]
    pub fn get(&self) -> Option<Distribution> {
        self.live().map(|s| s.cell.get())
    }

    /// The bucketer.
    #[must_use]
    pub fn bucketer(&self) -> Option<&'static Bucketer> {
        self.series.as_ref().map(|s| s.cell.bucketer())
    }
}

impl<F: FieldSet> NonCumulativeDistribution<F> {
    /// Sets the whole distribution (a copy is stored).
    pub fn set(&self, d: &Distribution, values: F::Values<'_>) {
        self.write(values, |s| set_nc_dist(s, d));
    }

    /// The distribution, or `None` when unset.
    #[must_use]
    pub fn get(&self, values: F::Values<'_>) -> Option<Distribution> {
        self.read(values, |s| s.cell.0.lock().clone()).flatten()
    }
}

impl Handle<kind::NonCumulativeDistribution> {
    /// Sets the whole distribution (a copy is stored).
    pub fn set(&self, d: &Distribution) {
        if let Some(s) = self.live() {
            set_nc_dist(s, d);
        }
    }
}
