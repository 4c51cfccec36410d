//! The value cells of a series, one type per value kind. Writes are lock-free: relaxed atomics,
//! striped across cache lines once a cell sees contention ([`super::striped`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::*};

use parking_lot::Mutex;

use super::native::NativeCell;
use super::striped::{Stripe, Striped, add_f64, cas_add_f64};

use crate::desc::MetricDesc;
use crate::distribution::native::{self, First, NativeSpec};
use crate::distribution::{Bucketer, Distribution};
use crate::store::Value;

/// The cell of one series, for one value kind.
pub trait CellType: Send + Sync + Sized + 'static {
    /// A new cell; `native` asks a classic distribution for a native histogram.
    #[doc(hidden)]
    fn new(desc: &'static MetricDesc, native: bool) -> Self;
    #[doc(hidden)]
    fn reset(&self);
    #[doc(hidden)]
    fn value(&self) -> Option<Value>;
    /// Writes the value into `out`, in place; false when the cell holds none. A scrape reads
    /// every series this way: a value returned and then moved is copied with wider loads than
    /// the stores that wrote it, a store-forwarding stall a series.
    #[doc(hidden)]
    #[inline]
    fn write_value(&self, out: &mut Value) -> bool {
        match self.value() {
            Some(v) => {
                *out = v;
                true
            }
            None => false,
        }
    }
}

/// A plain number a cell holds: what a scrape writes as a series' one sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Plain {
    Int(i64),
    Float(f64),
}

/// The cells whose value may be a [`Plain`] number (integers, floats, bools); a walk of the
/// store hands those straight to a visitor that takes numbers ([`super::Visit`]).
pub(crate) trait PlainCell {
    /// Whether the cell type holds plain numbers at all (the walk's loop is chosen once).
    const PLAIN: bool = false;
    #[inline]
    fn plain(&self) -> Plain {
        Plain::Int(0)
    }
}

impl PlainCell for IntCell {
    const PLAIN: bool = true;
    #[inline]
    fn plain(&self) -> Plain {
        Plain::Int(self.get())
    }
}

impl PlainCell for FloatCell {
    const PLAIN: bool = true;
    #[inline]
    fn plain(&self) -> Plain {
        Plain::Float(self.get())
    }
}

impl PlainCell for BoolCell {
    const PLAIN: bool = true;
    #[inline]
    fn plain(&self) -> Plain {
        Plain::Int(i64::from(self.0.load(Relaxed)))
    }
}

impl PlainCell for StrCell {}
impl PlainCell for DistCell {}
impl PlainCell for NcDistCell {}

/// Integers: counters and int gauges.
#[derive(Debug)]
pub struct IntCell(Striped<AtomicI64>);

impl IntCell {
    #[inline]
    pub(crate) fn add(&self, n: i64) {
        self.0.write(
            |a| {
                let cur = a.load(Relaxed);
                a.compare_exchange(cur, cur.wrapping_add(n), Relaxed, Relaxed)
                    .is_ok()
            },
            |a| {
                a.fetch_add(n, Relaxed);
            },
        );
    }

    pub(crate) fn get(&self) -> i64 {
        self.0
            .parts()
            .fold(0i64, |acc, a| acc.wrapping_add(a.load(Relaxed)))
    }

    /// Sets the total: the base absorbs the difference, so concurrent adds are kept.
    pub(crate) fn set(&self, v: i64) {
        let diff = v.wrapping_sub(self.get());
        self.0.base().fetch_add(diff, Relaxed);
    }
}

impl CellType for IntCell {
    fn new(_: &'static MetricDesc, _: bool) -> Self {
        IntCell(Striped::new(AtomicI64::new(0)))
    }
    fn reset(&self) {
        self.0.parts().for_each(|a| a.store(0, Relaxed));
    }
    fn value(&self) -> Option<Value> {
        Some(Value::Int(self.get()))
    }
    #[inline]
    fn write_value(&self, out: &mut Value) -> bool {
        *out = Value::Int(self.get());
        true
    }
}

/// Floats: float counters and float gauges.
#[derive(Debug)]
pub struct FloatCell(Striped<AtomicU64>);

impl FloatCell {
    #[inline]
    pub(crate) fn add(&self, x: f64) {
        self.0.write(|a| cas_add_f64(a, x), |a| add_f64(a, x));
    }

    pub(crate) fn get(&self) -> f64 {
        self.0
            .parts()
            .map(|a| f64::from_bits(a.load(Relaxed)))
            .sum()
    }

    pub(crate) fn set(&self, v: f64) {
        let diff = v - self.get();
        add_f64(self.0.base(), diff);
    }

    /// A gauge's set: exact, the stripes are cleared.
    pub(crate) fn store(&self, v: f64) {
        let mut parts = self.0.parts();
        if let Some(base) = parts.next() {
            base.store(v.to_bits(), Relaxed);
        }
        parts.for_each(|a| a.store(0f64.to_bits(), Relaxed));
    }
}

impl CellType for FloatCell {
    fn new(_: &'static MetricDesc, _: bool) -> Self {
        FloatCell(Striped::new(AtomicU64::new(0f64.to_bits())))
    }
    fn reset(&self) {
        self.0
            .parts()
            .for_each(|a| a.store(0f64.to_bits(), Relaxed));
    }
    fn value(&self) -> Option<Value> {
        Some(Value::Float(self.get()))
    }
    #[inline]
    fn write_value(&self, out: &mut Value) -> bool {
        *out = Value::Float(self.get());
        true
    }
}

/// Booleans.
#[derive(Debug)]
pub struct BoolCell(pub(crate) AtomicBool);

impl CellType for BoolCell {
    fn new(_: &'static MetricDesc, _: bool) -> Self {
        BoolCell(AtomicBool::new(false))
    }
    fn reset(&self) {
        self.0.store(false, Relaxed);
    }
    fn value(&self) -> Option<Value> {
        Some(Value::Bool(self.0.load(Relaxed)))
    }
}

/// Strings.
#[derive(Debug)]
pub struct StrCell(pub(crate) Mutex<Option<Arc<str>>>);

impl CellType for StrCell {
    fn new(_: &'static MetricDesc, _: bool) -> Self {
        StrCell(Mutex::new(None))
    }
    fn reset(&self) {
        *self.0.lock() = None;
    }
    fn value(&self) -> Option<Value> {
        self.0.lock().clone().map(Value::Str)
    }
}

/// The atomic core of a cumulative distribution: the sum and the `n + 2` bucket counts.
#[derive(Debug)]
pub(crate) struct DistCore {
    sum: AtomicU64,
    buckets: Box<[AtomicU64]>,
}

impl Stripe for DistCore {
    fn empty_like(&self) -> Self {
        DistCore::new(self.buckets.len())
    }
}

impl DistCore {
    fn new(n: usize) -> Self {
        DistCore {
            sum: AtomicU64::new(0f64.to_bits()),
            buckets: (0..n).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

/// Cumulative distributions: classic buckets, or a native histogram's.
#[derive(Debug)]
pub struct DistCell {
    bucketer: &'static Bucketer,
    cells: DistCells,
}

/// Boxed when native, so a classic cell stays its size.
#[derive(Debug)]
enum DistCells {
    Classic(Striped<DistCore>),
    /// The cell, and its schema's table (empty at a schema of 0 or less), here beside it so a
    /// write's bucket is found while the cell's address loads.
    Native(Box<NativeCell>, &'static [First]),
}

impl DistCells {
    fn native(spec: NativeSpec) -> Self {
        DistCells::Native(
            Box::new(NativeCell::new(spec)),
            native::tables_for(spec.schema()),
        )
    }
}

/// A classic add on a contended cell: on its stripes, out of line.
#[cold]
#[inline(never)]
fn add_striped(cells: &Striped<DistCore>, i: usize, x: f64) {
    cells.write(
        |c| {
            let bucket = &c.buckets[i];
            let ok = cas_add_f64(&c.sum, x);
            if ok {
                bucket.fetch_add(1, Relaxed);
            }
            ok
        },
        |c| {
            add_f64(&c.sum, x);
            c.buckets[i].fetch_add(1, Relaxed);
        },
    );
}

/// A classic add whose bucketer has no cell table (linear, or bounds from zero or below):
/// the bucket's search and the add, out of line.
#[inline(never)]
fn add_searched(bucketer: &Bucketer, cells: &Striped<DistCore>, x: f64) {
    let i = bucketer.bucket(x);
    match cells.unstriped() {
        Some(base) if cas_add_f64(&base.sum, x) => {
            base.buckets[i].fetch_add(1, Relaxed);
        }
        _ => add_striped(cells, i, x),
    }
}

/// A native histogram's add, out of line: the classic add stays small enough to inline.
#[inline(never)]
fn add_native(cell: &NativeCell, tables: &'static [First], x: f64) {
    cell.add(x, tables);
}

impl DistCell {
    #[inline]
    pub(crate) fn add(&self, x: f64) {
        match &self.cells {
            DistCells::Classic(cells) => {
                let Some(i) = self.bucketer.bucket_by_table(x) else {
                    return add_searched(self.bucketer, cells, x);
                };
                // Uncontended (no stripes yet), the common case, without closures: the sum's
                // CAS, then the bucket, whose address is taken before it (a locked instruction
                // waits for the loads after it, so none is left between the two).
                if let Some(base) = cells.unstriped() {
                    let bucket = &base.buckets[i];
                    if cas_add_f64(&base.sum, x) {
                        bucket.fetch_add(1, Relaxed);
                        return;
                    }
                }
                add_striped(cells, i, x);
            }
            DistCells::Native(cell, tables) => add_native(cell, tables, x),
        }
    }

    pub(crate) fn get(&self) -> Distribution {
        let cells = match &self.cells {
            DistCells::Classic(cells) => cells,
            DistCells::Native(cell, _) => {
                let (native, count, sum) = cell.get();
                return Distribution::from_native(self.bucketer, native, count, sum);
            }
        };
        let mut buckets = vec![0i64; self.bucketer.num_buckets()];
        let mut sum = 0.0;
        for part in cells.parts() {
            sum += f64::from_bits(part.sum.load(Relaxed));
            for (total, b) in buckets.iter_mut().zip(part.buckets.iter()) {
                *total += i64::try_from(b.load(Relaxed)).unwrap_or(i64::MAX);
            }
        }
        Distribution::from_parts(self.bucketer, buckets, sum)
    }

    pub(crate) fn bucketer(&self) -> &'static Bucketer {
        self.bucketer
    }

    /// Makes the cell hold these bucket counts and sum (a copy of another library's
    /// histogram); `false` for a native cell, or counts of another length. Not atomic as a
    /// whole: a snapshot taken meanwhile may see part of it, as it may see part of concurrent
    /// adds.
    #[cfg_attr(
        not(any(feature = "prometheus", feature = "prometheus-client")),
        allow(dead_code)
    )]
    pub(crate) fn replace(&self, buckets: &[u64], sum: f64) -> bool {
        let DistCells::Classic(cells) = &self.cells else {
            return false;
        };
        let mut parts = cells.parts();
        let Some(base) = parts.next() else {
            return false;
        };
        if base.buckets.len() != buckets.len() {
            return false;
        }
        for part in parts {
            part.sum.store(0f64.to_bits(), Relaxed);
            part.buckets.iter().for_each(|b| b.store(0, Relaxed));
        }
        for (b, &n) in base.buckets.iter().zip(buckets) {
            b.store(n, Relaxed);
        }
        base.sum.store(sum.to_bits(), Relaxed);
        true
    }

    /// The exemplar slot of a sample, and the number of slots: its bucket for classic buckets,
    /// the one slot of a native histogram.
    pub(crate) fn exemplar_slot(&self, x: f64) -> (usize, usize) {
        match &self.cells {
            DistCells::Classic(_) => (self.bucketer.bucket(x), self.bucketer.num_buckets()),
            DistCells::Native(..) => (0, 1),
        }
    }
}

pub(crate) fn bucketer_of(desc: &'static MetricDesc) -> &'static Bucketer {
    desc.bucketer()
}

impl CellType for DistCell {
    fn new(desc: &'static MetricDesc, native: bool) -> Self {
        let bucketer = bucketer_of(desc);
        let cells = match bucketer.spec().native_spec() {
            Some(spec) => DistCells::native(spec),
            None if native => DistCells::native(NativeSpec::new(3)),
            None => DistCells::Classic(Striped::new(DistCore::new(bucketer.num_buckets()))),
        };
        DistCell { bucketer, cells }
    }
    fn reset(&self) {
        match &self.cells {
            DistCells::Classic(cells) => {
                for part in cells.parts() {
                    part.sum.store(0f64.to_bits(), Relaxed);
                    part.buckets.iter().for_each(|b| b.store(0, Relaxed));
                }
            }
            DistCells::Native(cell, _) => cell.reset(),
        }
    }
    fn value(&self) -> Option<Value> {
        Some(Value::Distribution(self.get()))
    }
}

/// Non-cumulative distributions: a whole distribution, set at once.
#[derive(Debug)]
pub struct NcDistCell(pub(crate) Mutex<Option<Distribution>>);

impl CellType for NcDistCell {
    fn new(_: &'static MetricDesc, _: bool) -> Self {
        NcDistCell(Mutex::new(None))
    }
    fn reset(&self) {
        *self.0.lock() = None;
    }
    fn value(&self) -> Option<Value> {
        self.0.lock().clone().map(Value::Distribution)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn striped_adder_is_exact_under_contention() {
        let cell = Arc::new(IntCell(Striped::new(AtomicI64::new(0))));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let c = cell.clone();
                std::thread::spawn(move || (0..20_000).for_each(|_| c.add(1)))
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(cell.get(), 160_000);
        cell.set(5);
        assert_eq!(cell.get(), 5);
    }

    #[test]
    fn striped_float_is_exact_for_integral_values() {
        let cell = Arc::new(FloatCell(Striped::new(AtomicU64::new(0f64.to_bits()))));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let c = cell.clone();
                std::thread::spawn(move || (0..10_000).for_each(|_| c.add(0.5)))
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(cell.get(), 20_000.0);
    }

    #[test]
    fn a_classic_distribution_cell_is_no_larger_for_the_native_kind() {
        // The native cell is boxed: the enum costs the classic cell nothing.
        assert_eq!(size_of::<DistCells>(), size_of::<Striped<DistCore>>());
    }
}
