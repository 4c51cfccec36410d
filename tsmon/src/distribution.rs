//! Distributions and bucketers, with the Go library's semantics.
//!
//! A bucketer with `n` finite buckets has `n + 2` buckets: index 0 is the underflow bucket, index
//! `n + 1` the overflow bucket. Bucket `i` covers `[lower(i), lower(i + 1))`. Linear bounds are
//! `width * (i - 1)`, exponential bounds `scale * growth^(i - 1)`.
//!
//! ```
//! use tsmon::distribution::{BucketerSpec, Distribution};
//! let b = BucketerSpec::fixed_width(10.0, 1).bucketer().unwrap();
//! assert_eq!([-1.0, 0.0, 5.0, 10.0, 100.0].map(|x| b.bucket(x)), [0, 1, 1, 2, 2]);
//!
//! let mut d = Distribution::new(BucketerSpec::fixed_width(10.0, 2).bucketer().unwrap());
//! for x in [1.0, 10.0, 20.0, 30.0] {
//!     d.add(x);
//! }
//! assert_eq!(d.buckets(), [0, 1, 1, 2]);
//! assert_eq!((d.sum(), d.count()), (61.0, 4));
//! ```
//!
//! In the exposition, a distribution becomes a histogram whose `le` bounds are the bucketer's
//! finite bounds plus `+Inf`. One difference from Prometheus remains, inherited from Go: a
//! sample exactly on a bound is counted in the bucket that *starts* there, so `le="10"` counts
//! samples below 10, not up to and including 10.

pub mod native;
mod value;

pub use value::Distribution;

use std::sync::OnceLock;

use parking_lot::Mutex;

use crate::error::Error;
use native::NativeSpec;

/// The parameters of a bucketer, as a metric declaration gives them. `const`, so it can live in
/// the static catalog.
///
/// ```
/// use tsmon::distribution::BucketerSpec;
/// let spec = BucketerSpec::geometric(2.0, 20);
/// assert_eq!((spec.width(), spec.growth_factor(), spec.num_finite_buckets()), (0.0, 2.0, 20));
/// assert!(BucketerSpec::new(-1.0, 0.0, 1, 1.0).is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BucketerSpec {
    width: f64,
    growth_factor: f64,
    num_finite_buckets: u32,
    scale: f64,
    /// Explicit bounds (`bounds(…)`), empty for a linear or geometric bucketer.
    explicit: &'static [f64],
    /// A native histogram's parameters (`native(…)`).
    native: Option<NativeSpec>,
}

impl BucketerSpec {
    /// Go's `DefaultBucketer`: geometric, growth factor 10^0.2, 100 finite buckets, scale 1.
    pub const DEFAULT: BucketerSpec = BucketerSpec::geometric(1.584_893_192_461_113_4, 100);

    /// `n` finite buckets of the given width, starting at 0. Checked when the bucketer is built.
    #[must_use]
    pub const fn fixed_width(width: f64, n: u32) -> Self {
        BucketerSpec {
            width,
            growth_factor: 0.0,
            num_finite_buckets: n,
            scale: 1.0,
            explicit: &[],
            native: None,
        }
    }

    /// `n` finite buckets whose bounds grow by `growth_factor`, starting at 1.
    #[must_use]
    pub const fn geometric(growth_factor: f64, n: u32) -> Self {
        Self::geometric_with_scale(growth_factor, n, 1.0)
    }

    /// `n` finite buckets whose bounds grow by `growth_factor`, starting at `scale`.
    #[must_use]
    pub const fn geometric_with_scale(growth_factor: f64, n: u32, scale: f64) -> Self {
        BucketerSpec {
            width: 0.0,
            growth_factor,
            num_finite_buckets: n,
            scale,
            explicit: &[],
            native: None,
        }
    }

    /// Buckets with these bounds (Prometheus' `buckets`): `[b0, b1)`, `[b1, b2)`, …, with an
    /// underflow bucket below `b0` and an overflow bucket from the last bound, so Prometheus'
    /// `le` labels are the bounds themselves and `+Inf`. The bounds must be finite and strictly
    /// increasing, checked when the bucketer is built (at compile time for
    /// `bucketer = bounds(…)`).
    ///
    /// ```
    /// use tsmon::distribution::BucketerSpec;
    /// // Prometheus' default buckets.
    /// static BOUNDS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
    /// let b = BucketerSpec::explicit(&BOUNDS).bucketer().unwrap();
    /// assert_eq!(b.num_buckets(), 12);
    /// assert_eq!([0.001, 0.005, 0.3, 10.0, 99.0].map(|x| b.bucket(x)), [0, 1, 6, 11, 11]);
    /// assert_eq!(b.upper_bound(0), 0.005);
    /// ```
    #[must_use]
    pub const fn explicit(bounds: &'static [f64]) -> Self {
        BucketerSpec {
            width: 0.0,
            growth_factor: 0.0,
            num_finite_buckets: bounds.len().saturating_sub(1) as u32,
            scale: 1.0,
            explicit: bounds,
            native: None,
        }
    }

    /// A native histogram at `schema` (see [`native`]): sparse exponential buckets that grow
    /// by `2^(2^-schema)`, with the default bucket limit and zero threshold.
    ///
    /// ```
    /// use tsmon::distribution::BucketerSpec;
    /// let spec = BucketerSpec::native(3);
    /// assert_eq!(spec.native_spec().map(|n| n.schema()), Some(3));
    /// assert_eq!(spec.bucketer().unwrap().num_buckets(), 1);
    /// ```
    #[must_use]
    pub const fn native(schema: i8) -> Self {
        Self::native_with(NativeSpec::new(schema))
    }

    /// A native histogram with these parameters.
    ///
    /// ```
    /// use tsmon::distribution::{BucketerSpec, native::NativeSpec};
    /// let spec = BucketerSpec::native_with(NativeSpec::new(2).with_max_buckets(40));
    /// assert_eq!(spec.native_spec().unwrap().max_buckets(), 40);
    /// ```
    #[must_use]
    pub const fn native_with(spec: NativeSpec) -> Self {
        BucketerSpec {
            width: 0.0,
            growth_factor: 0.0,
            num_finite_buckets: 0,
            scale: 1.0,
            explicit: &[],
            native: Some(spec),
        }
    }

    /// A native histogram with at most `n` buckets (no change to classic buckets).
    ///
    /// ```
    /// use tsmon::distribution::BucketerSpec;
    /// let spec = BucketerSpec::native(3).with_max_buckets(60).with_zero_threshold(1e-6);
    /// let native = spec.native_spec().unwrap();
    /// assert_eq!((native.max_buckets(), native.zero_threshold()), (60, 1e-6));
    /// ```
    #[must_use]
    pub const fn with_max_buckets(mut self, n: u32) -> Self {
        if let Some(spec) = self.native {
            self.native = Some(spec.with_max_buckets(n));
        }
        self
    }

    /// A native histogram whose zero bucket holds `|x| <= t` (no change to classic buckets).
    ///
    /// ```
    /// use tsmon::distribution::BucketerSpec;
    /// assert_eq!(BucketerSpec::DEFAULT.with_zero_threshold(1.0), BucketerSpec::DEFAULT);
    /// ```
    #[must_use]
    pub const fn with_zero_threshold(mut self, t: f64) -> Self {
        if let Some(spec) = self.native {
            self.native = Some(spec.with_zero_threshold(t));
        }
        self
    }

    /// A native histogram's parameters, `None` for classic buckets.
    ///
    /// ```
    /// use tsmon::distribution::BucketerSpec;
    /// assert!(BucketerSpec::DEFAULT.native_spec().is_none());
    /// ```
    #[must_use]
    pub fn native_spec(&self) -> Option<NativeSpec> {
        self.native
    }

    /// The explicit bounds of a `bounds(…)` bucketer, `None` for a linear or geometric one.
    ///
    /// ```
    /// use tsmon::distribution::BucketerSpec;
    /// assert_eq!(BucketerSpec::explicit(&[1.0, 2.0]).explicit_bounds(), Some(&[1.0, 2.0][..]));
    /// assert_eq!(BucketerSpec::DEFAULT.explicit_bounds(), None);
    /// ```
    #[must_use]
    pub fn explicit_bounds(&self) -> Option<&'static [f64]> {
        (!self.explicit.is_empty()).then_some(self.explicit)
    }

    /// Go's `NewBucketer`, checked: `n` and `scale` must be positive and the bounds strictly
    /// increasing (so a negative width, or a growth factor of 1 or less, is refused).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidBucketer`] when the parameters do not give increasing bounds.
    pub fn new(width: f64, growth_factor: f64, n: u32, scale: f64) -> Result<Self, Error> {
        let spec = BucketerSpec {
            width,
            growth_factor,
            num_finite_buckets: n,
            scale,
            explicit: &[],
            native: None,
        };
        spec.bounds().map(|_| spec)
    }

    /// The width of a linear bucketer, 0 for a geometric one.
    #[must_use]
    pub fn width(&self) -> f64 {
        self.width
    }

    /// The growth factor of a geometric bucketer, 0 for a linear one.
    #[must_use]
    pub fn growth_factor(&self) -> f64 {
        self.growth_factor
    }

    /// The number of finite buckets, `n`.
    #[must_use]
    pub fn num_finite_buckets(&self) -> u32 {
        self.num_finite_buckets
    }

    /// The scale of a geometric bucketer (1 for linear ones).
    #[must_use]
    pub fn scale(&self) -> f64 {
        self.scale
    }

    fn bounds(&self) -> Result<Box<[f64]>, Error> {
        let invalid = |why: &str| Error::InvalidBucketer(format!("{self:?}: {why}"));
        if self.native.is_some() {
            // One classic bucket: everything; the native buckets live beside it.
            return Ok(Box::new([f64::NEG_INFINITY]));
        }
        if !self.explicit.is_empty() {
            let mut lower = Vec::with_capacity(self.explicit.len() + 1);
            lower.push(f64::NEG_INFINITY);
            for &b in self.explicit {
                if !b.is_finite() || b <= lower[lower.len() - 1] {
                    return Err(invalid(
                        "the bucket bounds must be finite and strictly increasing",
                    ));
                }
                lower.push(b);
            }
            return Ok(lower.into_boxed_slice());
        }
        let n = self.num_finite_buckets as usize;
        if n == 0 {
            return Err(invalid("the number of finite buckets must be at least 1"));
        }
        if self.scale <= 0.0 || self.scale.is_nan() {
            return Err(invalid("the scale must be positive"));
        }
        let mut lower = Vec::with_capacity(n + 2);
        lower.push(f64::NEG_INFINITY);
        for i in 1..=n + 1 {
            let b = readable(if self.width != 0.0 {
                self.width * (i - 1) as f64
            } else {
                self.scale
                    * self
                        .growth_factor
                        .powi(i32::try_from(i - 1).unwrap_or(i32::MAX))
            });
            if b <= lower[i - 1] || b.is_nan() || b.is_infinite() {
                return Err(invalid(
                    "the bucket bounds must be finite and strictly increasing",
                ));
            }
            lower.push(b);
        }
        Ok(lower.into_boxed_slice())
    }

    /// The bucketer for these parameters. Bucketers are immutable and interned: the same
    /// parameters always give the same `&'static` bucketer.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidBucketer`] as for [`BucketerSpec::new`].
    pub fn bucketer(&self) -> Result<&'static Bucketer, Error> {
        static INTERNED: OnceLock<Mutex<Vec<&'static Bucketer>>> = OnceLock::new();
        let mut all = INTERNED.get_or_init(Mutex::default).lock();
        if let Some(b) = all.iter().find(|b| b.spec.same_as(self)) {
            return Ok(b);
        }
        let bucketer: &'static Bucketer = Box::leak(Box::new(Bucketer::new(*self, self.bounds()?)));
        all.push(bucketer);
        Ok(bucketer)
    }

    fn same_as(&self, other: &Self) -> bool {
        self.explicit.len() == other.explicit.len()
            && self
                .explicit
                .iter()
                .zip(other.explicit)
                .all(|(a, b)| a.to_bits() == b.to_bits())
            && self.native == other.native
            && self.width.to_bits() == other.width.to_bits()
            && self.growth_factor.to_bits() == other.growth_factor.to_bits()
            && self.scale.to_bits() == other.scale.to_bits()
            && self.num_finite_buckets == other.num_finite_buckets
    }
}

/// A computed bound, rounded to 15 significant digits: the float nearest the decimal it is
/// meant to be, so it prints as written (`0.02286591125`, not `0.022865911250000003`, the
/// product's rounding error) in every format, and the `le` label is the bound itself. The
/// change is below one part in 10^15, far inside any bucket.
fn readable(b: f64) -> f64 {
    if !b.is_finite() || b == 0.0 {
        return b;
    }
    format!("{b:.14e}").parse().unwrap_or(b)
}

/// A built bucketer: the lower bounds of its `n + 2` buckets.
#[derive(Debug)]
pub struct Bucketer {
    spec: BucketerSpec,
    lower: Box<[f64]>,
    /// `1 / width` (linear) or `1 / scale` (geometric): a first guess of a sample's bucket.
    inv: f64,
    /// `1 / log2(growth factor)` (geometric).
    inv_log2_growth: f64,
    /// The first finite bound (geometric and explicit bucketers).
    first: f64,
    /// The bucket of each cell of the positive floats from `first`'s binade to the last
    /// bound's, a cell being the floats that share their exponent and top `52 - shift`
    /// mantissa bits; cells are made fine enough that none holds more than one bound inside
    /// it, so a sample's bucket is one load and one comparison. Empty when the first bound is
    /// not positive (linear bucketers, explicit ones from zero or below), or the bounds are so
    /// close that the table would pass [`MAX_CELLS`].
    table: Box<[TableCell]>,
    /// The cell number (`bits >> shift`) of the table's first entry.
    cell_lo: u64,
    /// `52 -` the mantissa bits a cell is split by.
    shift: u32,
}

/// One cell of a bucketer's table: the bucket of its lowest float, and the next bucket's
/// lower bound (inside the cell or past it; NaN after the last bound). A sample's bucket is `bucket + (x >= next)`: one load, no
/// branch, no second load from the bounds.
#[derive(Debug, Clone, Copy)]
struct TableCell {
    next: f64,
    bucket: u64,
}

/// The most entries of a bucketer's cell table (32 KiB); past it a bucketer searches its bounds.
const MAX_CELLS: u64 = 2048;

/// A bucketer's cell table (see `Bucketer::table`): its first cell and shift, and the bucket
/// of each cell's lowest float, for the fewest mantissa bits with at most one bound inside any
/// cell; `None` when there is no such table within [`MAX_CELLS`].
fn cell_table(lower: &[f64]) -> Option<(u64, u32, Box<[TableCell]>)> {
    let (&first, &last) = (lower.get(1)?, lower.last()?);
    if !(first > 0.0 && last.is_finite()) {
        return None;
    }
    'bits: for bits in 0..=12u32 {
        let shift = 52 - bits;
        // The first cell is the start of `first`'s binade, so every sample at or above `first`
        // has a cell at or after it.
        let lo = (first.to_bits() >> 52) << bits;
        let hi = last.to_bits() >> shift;
        if hi - lo + 1 > MAX_CELLS {
            return None;
        }
        let mut table = Vec::with_capacity((hi - lo + 1) as usize);
        for cell in lo..=hi {
            let start = f64::from_bits(cell << shift);
            let end = f64::from_bits((cell + 1) << shift);
            let at_or_below = lower.partition_point(|&l| l <= start);
            if lower.partition_point(|&l| l < end) - at_or_below > 1 {
                continue 'bits;
            }
            table.push(TableCell {
                // A bound past the cell is past every sample that takes this entry (the last
                // cell's samples above it included, as no bound is past the last cell). After
                // the last bound, NaN: no sample compares at or above it, not even infinity.
                next: lower.get(at_or_below).copied().unwrap_or(f64::NAN),
                bucket: at_or_below as u64 - 1,
            });
        }
        return Some((lo, shift, table.into_boxed_slice()));
    }
    None
}

impl PartialEq for Bucketer {
    fn eq(&self, other: &Self) -> bool {
        self.spec.same_as(&other.spec)
    }
}

impl Bucketer {
    fn new(spec: BucketerSpec, lower: Box<[f64]>) -> Self {
        let linear = spec.width != 0.0;
        let (cell_lo, shift, table) =
            if linear { None } else { cell_table(&lower) }.unwrap_or((0, 52, Box::default()));
        Bucketer {
            spec,
            first: lower.get(1).copied().unwrap_or(f64::INFINITY),
            table,
            cell_lo,
            shift,
            lower,
            inv: if linear {
                1.0 / spec.width
            } else {
                1.0 / spec.scale
            },
            inv_log2_growth: if linear {
                0.0
            } else {
                1.0 / spec.growth_factor.log2()
            },
        }
    }

    /// A first guess of `x`'s bucket, computed without a search: from the quotient for a
    /// linear bucketer, from the binary exponent for a geometric one whose table is empty (a
    /// first bound not above zero). It is exact but for rounding at the edges (linear, growth
    /// factor 2), or a few buckets low (other geometric ones); `bucket` settles it against the
    /// bounds.
    #[inline]
    fn guess(&self, x: f64) -> usize {
        let last = self.lower.len() - 1;
        let q = x * self.inv;
        if self.spec.width != 0.0 {
            // `as` saturates: a huge quotient lands on the overflow bucket.
            return if q >= 0.0 {
                (q as usize).saturating_add(1).min(last)
            } else {
                0
            };
        }
        if q.is_nan() || q < 1.0 {
            return 0;
        }
        // q in [2^e, 2^(e+1)): its bucket is at least floor(e / log2(growth)) + 1.
        let e = ((q.to_bits() >> 52) & 0x7ff) as i64 - 1023;
        ((e as f64 * self.inv_log2_growth) as usize + 1).min(last)
    }

    ///
    /// ```
    /// # use tsmon::distribution::BucketerSpec;
    /// let b = BucketerSpec::DEFAULT.bucketer().unwrap();
    /// assert_eq!(b.spec().num_finite_buckets(), 100);
    /// ```
    #[must_use]
    pub fn spec(&self) -> &BucketerSpec {
        &self.spec
    }

    /// `n + 2`.
    ///
    /// ```
    /// # use tsmon::distribution::BucketerSpec;
    /// assert_eq!(BucketerSpec::DEFAULT.bucketer().unwrap().num_buckets(), 102);
    /// ```
    #[must_use]
    pub fn num_buckets(&self) -> usize {
        self.lower.len()
    }

    /// The lower bound of bucket `i` (`-inf` for the underflow bucket).
    ///
    /// ```
    /// # use tsmon::distribution::BucketerSpec;
    /// let b = BucketerSpec::geometric_with_scale(4.0, 4, 100.0).bucketer().unwrap();
    /// assert_eq!(b.lower_bound(2), 400.0);
    /// ```
    #[must_use]
    pub fn lower_bound(&self, i: usize) -> f64 {
        self.lower[i]
    }

    /// The exclusive upper bound of bucket `i` (`+inf` for the overflow bucket).
    ///
    /// ```
    /// # use tsmon::distribution::BucketerSpec;
    /// let b = BucketerSpec::fixed_width(10.0, 2).bucketer().unwrap();
    /// assert_eq!([0, 1, 2, 3].map(|i| b.upper_bound(i)), [0.0, 10.0, 20.0, f64::INFINITY]);
    /// ```
    #[must_use]
    pub fn upper_bound(&self, i: usize) -> f64 {
        self.lower.get(i + 1).copied().unwrap_or(f64::INFINITY)
    }

    /// The bucket of a sample: the last `i` with `x >= lower_bound(i)`. NaN goes to the
    /// underflow bucket.
    ///
    /// ```
    /// # use tsmon::distribution::BucketerSpec;
    /// let b = BucketerSpec::geometric(4.0, 4).bucketer().unwrap();
    /// assert_eq!([0.0, 1.0, 3.0, 4.0, 16.0, 64.0].map(|x| b.bucket(x)), [0, 1, 1, 2, 3, 4]);
    /// ```
    #[must_use]
    #[inline]
    pub fn bucket(&self, x: f64) -> usize {
        match self.bucket_by_table(x) {
            Some(i) => i,
            None => self.bucket_other(x),
        }
    }

    /// [`bucket`](Self::bucket) by the cell table; `None` without one. Geometric and explicit
    /// bucketers from a positive bound (the common case, the hot path of every distribution)
    /// have one: it gives the bucket of the start of `x`'s cell, and at most one bound lies
    /// inside the cell. A cell's add calls the search out of line, so its own path needs no
    /// stack frame.
    #[inline]
    pub(crate) fn bucket_by_table(&self, x: f64) -> Option<usize> {
        if self.table.is_empty() {
            return None;
        }
        // NaN and what is below the first bound go to the underflow bucket (one comparison for
        // both: NaN compares false); what is above the table's last cell takes its entry,
        // which the last bound settles.
        #[allow(clippy::neg_cmp_op_on_partial_ord)]
        if !(x >= self.first) {
            return Some(0);
        }
        let k = ((x.to_bits() >> self.shift) - self.cell_lo).min(self.table.len() as u64 - 1);
        let cell = self.table[k as usize];
        Some(cell.bucket as usize + usize::from(x >= cell.next))
    }

    /// [`bucket`](Self::bucket) for the bucketers without a cell table: linear ones, and those
    /// from a bound at or below zero or with bounds too close for a table.
    #[inline(never)]
    fn bucket_other(&self, x: f64) -> usize {
        if x.is_nan() || self.lower.len() == 1 {
            return 0;
        }
        if !self.spec.explicit.is_empty() {
            // The first bound is -inf, so the point is at least 1.
            return self.lower.partition_point(|&b| b <= x) - 1;
        }
        let mut i = self.guess(x);
        while i > 0 && x < self.lower[i] {
            i -= 1;
        }
        self.upwards(i, x)
    }

    /// The bucket of `x`, at `i` or above: a step or two for the usual growth factors; a
    /// search past that.
    #[inline(never)]
    fn upwards(&self, mut i: usize, x: f64) -> usize {
        let last = self.lower.len() - 1;
        let mut steps = 0;
        while i < last && x >= self.lower[i + 1] {
            i += 1;
            steps += 1;
            if steps == 4 {
                return i + self.lower[i + 1..].partition_point(|&b| b <= x);
            }
        }
        i
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_bucket_examples() {
        let b = BucketerSpec::geometric_with_scale(4.0, 4, 100.0)
            .bucketer()
            .unwrap();
        assert_eq!(
            [100.0, 400.0, 1600.0, 6400.0].map(|x| b.bucket(x)),
            [1, 2, 3, 4]
        );
    }

    /// The bucket by definition: the last `i` with `lower[i] <= x` (0 for NaN).
    fn naive(b: &Bucketer, x: f64) -> usize {
        b.lower.partition_point(|&l| l <= x).saturating_sub(1)
    }

    #[test]
    fn the_computed_bucket_matches_a_search_of_the_bounds() {
        let specs = [
            BucketerSpec::DEFAULT,
            BucketerSpec::geometric_with_scale(2.0, 30, 1e-6),
            BucketerSpec::geometric(1.01, 2000),
            BucketerSpec::geometric_with_scale(10.0, 5, 0.001),
            BucketerSpec::geometric(3.7, 3),
            BucketerSpec::fixed_width(10.0, 20),
            BucketerSpec::fixed_width(0.1, 1000),
            BucketerSpec::fixed_width(1e9, 1),
            BucketerSpec::explicit(&[
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            BucketerSpec::explicit(&[-3.0, 0.0, 7.5]),
            BucketerSpec::explicit(&[42.0]),
            // Bounds too close for a cell table: the search.
            BucketerSpec::explicit(&[1.0, 1.000_000_000_1, 2.0]),
            BucketerSpec::geometric(1.001, 3000),
        ];
        // A deterministic spread of magnitudes and signs (xorshift), plus every bound and its
        // neighbours in the last place, plus the special values.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut samples = vec![
            0.0,
            -0.0,
            -1.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MAX,
            f64::MIN_POSITIVE,
        ];
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mantissa = (state >> 11) as f64 / (1u64 << 53) as f64;
            let exponent = ((state & 0xff) as i32) - 128;
            samples.push(
                mantissa * 2f64.powi(exponent / 2) * if state & 0x100 == 0 { 1.0 } else { -1.0 },
            );
        }
        for spec in specs {
            let b = spec.bucketer().unwrap();
            let mut all = samples.clone();
            for &l in b.lower.iter().filter(|l| l.is_finite()) {
                all.extend([l, l.next_up(), l.next_down()]);
            }
            for x in all {
                assert_eq!(b.bucket(x), naive(b, x), "{spec:?} x={x:e}");
            }
        }
    }

    #[test]
    fn geometric_and_positive_explicit_bucketers_find_buckets_by_table() {
        let cells = |spec: BucketerSpec| spec.bucketer().unwrap().table.len();
        // 10^0.2 growth over 10^20: 67 binades split in halves, to the last bound's half.
        assert_eq!(cells(BucketerSpec::DEFAULT), 133);
        // Prometheus' default buckets: no binade holds two of them.
        const PROM: [f64; 11] = [
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ];
        assert!((1..=64).contains(&cells(BucketerSpec::explicit(&PROM))));
        // 1% growth: 15 binades in 128ths.
        assert!((1..=MAX_CELLS as usize).contains(&cells(BucketerSpec::geometric(1.01, 1000))));
        // No table: linear, from zero or below, bounds too close.
        assert_eq!(cells(BucketerSpec::fixed_width(10.0, 20)), 0);
        assert_eq!(cells(BucketerSpec::explicit(&[-3.0, 0.0, 7.5])), 0);
        assert_eq!(cells(BucketerSpec::geometric(1.001, 3000)), 0);
    }

    #[test]
    fn computed_bounds_print_as_written() {
        let digits = |x: f64| {
            let s = ryu::Buffer::new().format_finite(x).to_owned();
            let mantissa = s.split(['e', 'E']).next().unwrap_or("").to_owned();
            let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
            digits.trim_start_matches('0').trim_end_matches('0').len()
        };
        for spec in [
            BucketerSpec::DEFAULT,
            BucketerSpec::geometric_with_scale(1.5, 40, 0.001),
            BucketerSpec::geometric_with_scale(1.584_893_192_461_113_4, 100, 0.001),
            BucketerSpec::geometric(1.248_330_548_901_611_9, 100),
            BucketerSpec::geometric_with_scale(2.0, 30, 1e-6),
            BucketerSpec::fixed_width(0.1, 100),
        ] {
            let b = spec.bucketer().unwrap();
            for &l in b.lower.iter().filter(|l| l.is_finite()) {
                assert!(digits(l) <= 15, "{spec:?}: {l}");
            }
        }
        // The product's error is gone: 3 × 0.1 is 0.3, 0.001 × 1.5^4 is 0.0050625.
        let linear = BucketerSpec::fixed_width(0.1, 10).bucketer().unwrap();
        assert_eq!(linear.lower_bound(4).to_string(), "0.3");
        let geometric = BucketerSpec::geometric_with_scale(1.5, 10, 0.001)
            .bucketer()
            .unwrap();
        assert_eq!(geometric.lower_bound(5).to_string(), "0.0050625");
    }

    #[test]
    fn explicit_bounds_are_checked() {
        for bad in [
            &[1.0, 1.0][..],
            &[2.0, 1.0],
            &[0.0, f64::NAN],
            &[0.0, f64::INFINITY],
            &[f64::NEG_INFINITY, 0.0],
            &[],
        ] {
            assert!(BucketerSpec::explicit(bad).bucketer().is_err(), "{bad:?}");
        }
        let b = BucketerSpec::explicit(&[1.0, 2.0, 4.0]).bucketer().unwrap();
        assert_eq!(b.num_buckets(), 4);
        assert_eq!(b.spec().num_finite_buckets(), 2);
        assert_eq!(
            [0.5, 1.0, 1.5, 2.0, 3.9, 4.0, 1e9].map(|x| b.bucket(x)),
            [0, 1, 1, 2, 2, 3, 3]
        );
        // Interned by value: the same bounds from elsewhere are the same bucketer.
        let again: &'static [f64] = Box::leak(vec![1.0, 2.0, 4.0].into_boxed_slice());
        assert!(std::ptr::eq(
            b,
            BucketerSpec::explicit(again).bucketer().unwrap()
        ));
        assert!(!std::ptr::eq(
            b,
            BucketerSpec::explicit(&[1.0, 2.0, 5.0]).bucketer().unwrap()
        ));
    }

    #[test]
    fn invalid_parameters_are_errors() {
        for (w, g, n, s) in [
            (10.0, 0.0, 0, 1.0),
            (-1.0, 0.0, 1, 1.0),
            (0.0, -1.0, 1, 1.0),
            (0.0, 0.0, 1, 1.0),
            (0.0, 1.0, 1, 1.0),
            (0.0, 0.5, 1, 1.0),
            (0.0, 2.0, 1, -1.0),
            (0.0, 2.0, 1, 0.0),
        ] {
            assert!(BucketerSpec::new(w, g, n, s).is_err(), "{w} {g} {n} {s}");
        }
    }

    #[test]
    fn default_bucketer() {
        let b = BucketerSpec::DEFAULT.bucketer().unwrap();
        assert_eq!(b.num_buckets(), 102);
        assert_eq!(b.lower_bound(1), 1.0);
        assert!((b.lower_bound(101) / 1e20 - 1.0).abs() < 1e-9);
        assert!(std::ptr::eq(b, BucketerSpec::DEFAULT.bucketer().unwrap()));
    }

    #[test]
    fn clone_is_deep() {
        let mut d = Distribution::new(BucketerSpec::DEFAULT.bucketer().unwrap());
        d.add(2.0);
        let c = d.clone();
        assert_eq!(c, d);
        d.add(3.0);
        assert_eq!(c.count(), 1);
        assert_ne!(c, d);
    }
}
