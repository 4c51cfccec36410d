//! The value cells of a series, one type per value kind. Writes are lock-free: relaxed atomics,
//! striped across cache lines once a cell sees contention (Java's `LongAdder` scheme), so a hot
//! series written from many threads does not bounce one cache line.

use std::cell::Cell as StdCell;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering::*};

use once_cell::race::OnceBox;
use parking_lot::Mutex;

use crate::desc::MetricDesc;
use crate::distribution::{Bucketer, Distribution};
use crate::store::Value;

/// One stripe per cache line.
#[repr(align(128))]
#[derive(Debug, Default)]
pub(crate) struct Pad<T>(pub(crate) T);

fn stripe_count() -> usize {
    static COUNT: OnceLock<usize> = OnceLock::new();
    *COUNT.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(4, |n| n.get())
            .next_power_of_two()
            .clamp(2, 64)
    })
}

thread_local! {
    static PROBE: StdCell<usize> = const { StdCell::new(0) };
}

#[inline]
fn probe() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    PROBE.with(|p| {
        let v = p.get();
        if v != 0 {
            v
        } else {
            let v = NEXT.fetch_add(1, Relaxed).max(1);
            p.set(v);
            v
        }
    })
}

/// Moves this thread to another stripe after a collision (xorshift).
fn rehash() -> usize {
    PROBE.with(|p| {
        let mut x = p.get().max(1);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p.set(x.max(1));
        x
    })
}

/// What can be striped: a fresh empty copy, and a merge.
pub(crate) trait Stripe: Send + Sync + Sized + 'static {
    fn empty_like(&self) -> Self;
}

/// A base value plus, once contended, one stripe per core. The stripes are made once and
/// published through `once_cell`'s `OnceBox` (a pointer-sized, safe once-cell: `OnceLock`
/// would cost every cell 8 to 16 bytes more), so no unsafe code is needed here.
#[derive(Debug)]
pub(crate) struct Striped<T: Stripe> {
    base: T,
    stripes: OnceBox<Box<[Pad<T>]>>,
}

impl<T: Stripe> Striped<T> {
    pub(crate) fn new(base: T) -> Self {
        Striped {
            base,
            stripes: OnceBox::new(),
        }
    }

    /// Applies a write: `try_op` once (it returns false on contention), and `op`, which always
    /// succeeds, on a stripe after contention.
    #[inline]
    pub(crate) fn write(&self, try_op: impl Fn(&T) -> bool, op: impl Fn(&T)) {
        match self.stripes.get() {
            None => {
                if try_op(&self.base) {
                    return;
                }
                let stripes = self.inflate();
                op(&stripes[probe() & (stripes.len() - 1)].0);
            }
            Some(stripes) => {
                let mask = stripes.len() - 1;
                if !try_op(&stripes[probe() & mask].0) {
                    op(&stripes[rehash() & mask].0);
                }
            }
        }
    }

    #[cold]
    fn inflate(&self) -> &[Pad<T>] {
        self.stripes.get_or_init(|| {
            Box::new(
                (0..stripe_count())
                    .map(|_| Pad(self.base.empty_like()))
                    .collect(),
            )
        })
    }

    /// The base and every stripe.
    pub(crate) fn parts(&self) -> impl Iterator<Item = &T> {
        let stripes: &[Pad<T>] = self.stripes.get().map_or(&[], |s| &s[..]);
        std::iter::once(&self.base).chain(stripes.iter().map(|p| &p.0))
    }

    pub(crate) fn base(&self) -> &T {
        &self.base
    }
}

impl Stripe for AtomicI64 {
    fn empty_like(&self) -> Self {
        AtomicI64::new(0)
    }
}

impl Stripe for AtomicU64 {
    fn empty_like(&self) -> Self {
        AtomicU64::new(0f64.to_bits())
    }
}

/// The cell of one series, for one value kind.
pub trait CellType: Send + Sync + Sized + 'static {
    #[doc(hidden)]
    fn new(desc: &'static MetricDesc) -> Self;
    #[doc(hidden)]
    fn reset(&self);
    #[doc(hidden)]
    fn value(&self) -> Option<Value>;
}

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
    fn new(_: &'static MetricDesc) -> Self {
        IntCell(Striped::new(AtomicI64::new(0)))
    }
    fn reset(&self) {
        self.0.parts().for_each(|a| a.store(0, Relaxed));
    }
    fn value(&self) -> Option<Value> {
        Some(Value::Int(self.get()))
    }
}

#[inline]
fn cas_add_f64(a: &AtomicU64, x: f64) -> bool {
    let cur = a.load(Relaxed);
    a.compare_exchange(cur, (f64::from_bits(cur) + x).to_bits(), Relaxed, Relaxed)
        .is_ok()
}

#[inline]
fn add_f64(a: &AtomicU64, x: f64) {
    let _ = a.fetch_update(Relaxed, Relaxed, |cur| {
        Some((f64::from_bits(cur) + x).to_bits())
    });
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
    fn new(_: &'static MetricDesc) -> Self {
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
}

/// Booleans.
#[derive(Debug)]
pub struct BoolCell(pub(crate) AtomicBool);

impl CellType for BoolCell {
    fn new(_: &'static MetricDesc) -> Self {
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
    fn new(_: &'static MetricDesc) -> Self {
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

/// Cumulative distributions.
#[derive(Debug)]
pub struct DistCell {
    bucketer: &'static Bucketer,
    cells: Striped<DistCore>,
}

impl DistCell {
    #[inline]
    pub(crate) fn add(&self, x: f64) {
        let i = self.bucketer.bucket(x);
        self.cells.write(
            |c| {
                let ok = cas_add_f64(&c.sum, x);
                if ok {
                    c.buckets[i].fetch_add(1, Relaxed);
                }
                ok
            },
            |c| {
                add_f64(&c.sum, x);
                c.buckets[i].fetch_add(1, Relaxed);
            },
        );
    }

    pub(crate) fn get(&self) -> Distribution {
        let mut buckets = vec![0i64; self.bucketer.num_buckets()];
        let mut sum = 0.0;
        for part in self.cells.parts() {
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
}

pub(crate) fn bucketer_of(desc: &'static MetricDesc) -> &'static Bucketer {
    desc.bucketer()
}

impl CellType for DistCell {
    fn new(desc: &'static MetricDesc) -> Self {
        let bucketer = bucketer_of(desc);
        DistCell {
            bucketer,
            cells: Striped::new(DistCore::new(bucketer.num_buckets())),
        }
    }
    fn reset(&self) {
        for part in self.cells.parts() {
            part.sum.store(0f64.to_bits(), Relaxed);
            part.buckets.iter().for_each(|b| b.store(0, Relaxed));
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
    fn new(_: &'static MetricDesc) -> Self {
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
}
