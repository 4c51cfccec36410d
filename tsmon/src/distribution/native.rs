//! Native histograms: Prometheus' exponential, sparse buckets.
//!
//! At schema `s` (from -4 to 8) the bucket boundaries are the powers of `2^(2^-s)`: bucket `i`
//! holds the samples `x` with `2^((i-1)·2^-s) < |x| ≤ 2^(i·2^-s)`, positive and negative
//! samples apart, and a zero bucket holds `|x| ≤ zero_threshold`. A bucket's relative width,
//! the `factor` `2^(2^-s)`, is the bound on the error of a quantile read from it: schema 3 (the
//! default) has a factor of 1.0905, so a quantile is within 9.05 % of the exact one.
//!
//! Only the buckets a sample fell into exist. A series keeps at most `max_buckets` of them
//! (160 unless declared): when one more would be needed, the series halves its resolution (the
//! schema drops by one and each pair of neighbours becomes one bucket, as Prometheus' and the
//! OpenTelemetry SDKs' histograms do), and stays at the lower schema until it is deleted. A
//! snapshot holds every bucket at the series' current schema.
//!
//! NaN samples count in the count and the sum (which becomes NaN), in no bucket, as with
//! Prometheus' Go client; `±Inf` go to the bucket just past the largest finite value.
//!
//! ```
//! use tsmon::distribution::{BucketerSpec, Distribution};
//! let b = BucketerSpec::native(0).bucketer().unwrap();
//! let mut d = Distribution::new(b);
//! for x in [0.0, 1.0, 1.5, 2.0, 3.0, -5.0] {
//!     d.add(x);
//! }
//! let n = d.native().unwrap();
//! assert_eq!(n.schema(), 0);
//! // (0.5, 1] is bucket 0, (1, 2] bucket 1, (2, 4] bucket 2.
//! assert_eq!(n.positive(), [(0, 1), (1, 2), (2, 1)]);
//! assert_eq!(n.negative(), [(3, 1)]);
//! assert_eq!((n.zero_count(), d.count()), (1, 6));
//! ```

mod buckets;

use std::sync::OnceLock;

pub use buckets::{NativeBuckets, spans_and_deltas};

/// The lowest schema: buckets that grow by 2^16.
pub const MIN_SCHEMA: i8 = -4;
/// The highest schema: buckets that grow by 2^(1/256), about 0.27 %.
pub const MAX_SCHEMA: i8 = 8;
/// The bucket limit of a series unless declared: the OpenTelemetry SDKs' default.
pub const DEFAULT_MAX_BUCKETS: u32 = 160;
/// The zero bucket's threshold unless declared: 2^-128, Prometheus' Go client's default.
pub const DEFAULT_ZERO_THRESHOLD: f64 = 2.938_735_877_055_719e-39;

/// The parameters of a native histogram.
///
/// ```
/// use tsmon::distribution::native::NativeSpec;
/// let spec = NativeSpec::new(3).with_max_buckets(100).with_zero_threshold(1e-9);
/// assert_eq!((spec.schema(), spec.max_buckets(), spec.zero_threshold()), (3, 100, 1e-9));
/// assert_eq!(NativeSpec::for_factor(1.1).schema(), 3);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NativeSpec {
    schema: i8,
    max_buckets: u32,
    zero_threshold: f64,
}

impl NativeSpec {
    /// Schema `schema`, clamped to [`MIN_SCHEMA`]..=[`MAX_SCHEMA`], with the default bucket
    /// limit and zero threshold.
    ///
    /// ```
    /// use tsmon::distribution::native::NativeSpec;
    /// assert_eq!([NativeSpec::new(3).schema(), NativeSpec::new(12).schema()], [3, 8]);
    /// ```
    #[must_use]
    pub const fn new(schema: i8) -> Self {
        let schema = if schema < MIN_SCHEMA {
            MIN_SCHEMA
        } else if schema > MAX_SCHEMA {
            MAX_SCHEMA
        } else {
            schema
        };
        NativeSpec {
            schema,
            max_buckets: DEFAULT_MAX_BUCKETS,
            zero_threshold: DEFAULT_ZERO_THRESHOLD,
        }
    }

    /// The coarsest schema whose buckets grow by at most `factor` (Prometheus' Go client's
    /// `NativeHistogramBucketFactor`): 1.1 gives schema 3 (factor 1.0905).
    ///
    /// ```
    /// use tsmon::distribution::native::NativeSpec;
    /// assert_eq!(NativeSpec::for_factor(2.0).schema(), 0);
    /// ```
    #[must_use]
    pub fn for_factor(factor: f64) -> Self {
        Self::new(schema_for_factor(factor))
    }

    /// At most `n` buckets (at least 1) before the resolution is halved.
    ///
    /// ```
    /// use tsmon::distribution::native::NativeSpec;
    /// assert_eq!(NativeSpec::new(3).with_max_buckets(0).max_buckets(), 1);
    /// ```
    #[must_use]
    pub const fn with_max_buckets(mut self, n: u32) -> Self {
        self.max_buckets = if n == 0 { 1 } else { n };
        self
    }

    /// Samples with `|x| <= t` go to the zero bucket (a negative or NaN `t` counts as 0).
    ///
    /// ```
    /// use tsmon::distribution::native::NativeSpec;
    /// assert_eq!(NativeSpec::new(3).with_zero_threshold(f64::NAN).zero_threshold(), 0.0);
    /// ```
    #[must_use]
    pub const fn with_zero_threshold(mut self, t: f64) -> Self {
        // A NaN fails the comparison too.
        self.zero_threshold = if t >= 0.0 { t } else { 0.0 };
        self
    }

    /// The declared schema.
    ///
    /// ```
    /// assert_eq!(tsmon::distribution::native::NativeSpec::new(-2).schema(), -2);
    /// ```
    #[must_use]
    pub fn schema(&self) -> i8 {
        self.schema
    }

    /// The bucket limit.
    ///
    /// ```
    /// use tsmon::distribution::native::{DEFAULT_MAX_BUCKETS, NativeSpec};
    /// assert_eq!(NativeSpec::new(3).max_buckets(), DEFAULT_MAX_BUCKETS);
    /// ```
    #[must_use]
    pub fn max_buckets(&self) -> u32 {
        self.max_buckets
    }

    /// The zero bucket's threshold.
    ///
    /// ```
    /// use tsmon::distribution::native::{DEFAULT_ZERO_THRESHOLD, NativeSpec};
    /// assert_eq!(NativeSpec::new(3).zero_threshold(), DEFAULT_ZERO_THRESHOLD);
    /// ```
    #[must_use]
    pub fn zero_threshold(&self) -> f64 {
        self.zero_threshold
    }
}

/// The schema for a bucket growth factor, as Prometheus' Go client picks it.
///
/// ```
/// use tsmon::distribution::native::{factor, schema_for_factor};
/// assert_eq!([1.0001, 1.01, 1.1, 2.0, 4.0, 1e9].map(schema_for_factor), [8, 7, 3, 0, -1, -4]);
/// assert!(factor(schema_for_factor(1.1)) <= 1.1);
/// ```
#[must_use]
pub fn schema_for_factor(factor: f64) -> i8 {
    if factor.is_nan() || factor <= 1.0 {
        return MAX_SCHEMA;
    }
    let floor = factor.log2().log2().floor();
    if floor <= -8.0 {
        MAX_SCHEMA
    } else if floor >= 4.0 {
        MIN_SCHEMA
    } else {
        -(floor as i8)
    }
}

/// A bucket's growth factor at `schema`: `2^(2^-schema)`.
///
/// ```
/// use tsmon::distribution::native::factor;
/// assert_eq!((factor(0), factor(-1)), (2.0, 4.0));
/// assert!((factor(3) - 1.0905).abs() < 1e-4);
/// ```
#[must_use]
pub fn factor(schema: i8) -> f64 {
    (2f64).powf((-f64::from(schema)).exp2())
}

/// The upper bound of bucket `index` at `schema`: `2^(index·2^-schema)`.
///
/// ```
/// use tsmon::distribution::native::upper_bound;
/// assert_eq!([upper_bound(0, 0), upper_bound(3, 0), upper_bound(-2, 1), upper_bound(1, -1)], [1.0, 8.0, 0.5, 4.0]);
/// ```
#[must_use]
pub fn upper_bound(index: i32, schema: i8) -> f64 {
    if schema <= 0 {
        // Exact: a power of two.
        return pow2(index.saturating_mul(1 << (-schema) as u32));
    }
    let per = 1i32 << schema;
    let (exp, j) = (index.div_euclid(per), index.rem_euclid(per));
    let m = tables(schema).bounds[j as usize];
    // 2^exp × 2^(j/2^s): the table's mantissa in [1, 2), times 2^exp.
    f64::from_bits(m | 1023u64 << 52) * pow2(exp)
}

/// `2^e`, exact over the whole range (subnormals included), 0 or infinity past it.
fn pow2(e: i32) -> f64 {
    match e {
        1024.. => f64::INFINITY,
        -1022..=1023 => f64::from_bits(((e + 1023) as u64) << 52),
        -1074..=-1023 => f64::from_bits(1u64 << (e + 1074)),
        _ => 0.0,
    }
}

/// For one positive schema: the mantissas of the powers `2^(j/2^s - 1)`, `j` in `0..=2^s` (the
/// last one past every mantissa), and for each value of a mantissa's top `s + 1` bits the first
/// `j` whose bound is not below it, with that bound. Bounds are at least `ln 2 / 2^s` of a
/// mantissa apart, more than one such step, so the first guess is at most one short: a
/// mantissa's `j` is `first + (bound < m)`, one load and no branch.
#[derive(Debug)]
pub(crate) struct Tables {
    bounds: Box<[u64]>,
    first: Box<[First]>,
}

/// An entry of [`Tables::first`]: a cell keeps the slice of them inline, so a sample's bucket
/// is one load away.
#[derive(Debug, Clone, Copy)]
pub(crate) struct First {
    bound: u64,
    j: u64,
}

const MANTISSA: u64 = (1 << 52) - 1;

fn tables(schema: i8) -> &'static Tables {
    static ALL: [OnceLock<Tables>; MAX_SCHEMA as usize] = [const { OnceLock::new() }; 8];
    debug_assert!(schema > 0);
    ALL[schema as usize - 1].get_or_init(|| {
        let n = 1usize << schema;
        let mut bounds: Vec<u64> = (0..n)
            // In [0.5, 1), where a sample's `frac` lives: a bit finer than [1, 2), and the
            // same values as the Go client's table.
            .map(|j| ((j as f64) / (n as f64) - 1.0).exp2().to_bits() & MANTISSA)
            .collect();
        bounds.push(1 << 52);
        let shift = 52 - (schema as u32 + 1);
        let first = (0..2 * n as u64)
            .map(|t| {
                let j = bounds.partition_point(|&b| b < t << shift);
                First {
                    bound: bounds[j],
                    j: j as u64,
                }
            })
            .collect();
        Tables {
            bounds: bounds.into_boxed_slice(),
            first,
        }
    })
}

/// The first-guess table a cell at `schema` reads, empty at a schema of 0 or less (no table).
pub(crate) fn tables_for(schema: i8) -> &'static [First] {
    if schema > 0 {
        &tables(schema).first
    } else {
        &[]
    }
}

/// The bucket of `x` (positive, not NaN, possibly infinite or subnormal) at `schema`, with
/// `tables` from [`tables_for`]`(schema)`.
#[inline]
pub(crate) fn index_with(x: f64, schema: i8, tables: &[First]) -> i32 {
    let mut bits = x.to_bits();
    let mut biased = ((bits >> 52) & 0x7ff) as i32;
    let mut past = 0;
    if biased == 0x7ff {
        // Infinity: the bucket after `f64::MAX`'s.
        bits = f64::MAX.to_bits();
        biased = 0x7fe;
        past = 1;
    } else if biased == 0 {
        // Subnormal: scaled into the normal range, its exponent put back.
        bits = (x * 2f64.powi(64)).to_bits();
        biased = ((bits >> 52) & 0x7ff) as i32 - 64;
    }
    index_of(bits, biased, schema, tables) + past
}

/// [`index_with`] for the bits of a positive normal float (the hot path; the caller checks).
#[inline]
pub(crate) fn index_normal(bits: u64, schema: i8, tables: &[First]) -> i32 {
    index_of(bits, (bits >> 52) as i32, schema, tables)
}

/// [`index_normal`] at the schema of `tables` (a positive one: `tables` is not empty), which
/// its length tells: `2^(schema + 1)` entries. The schema is not a load after the table's.
#[inline]
pub(crate) fn index_by_table(bits: u64, tables: &[First]) -> i32 {
    let schema_bits = tables.len().trailing_zeros();
    let m = bits & MANTISSA;
    let first = tables[(m >> (52 - schema_bits)) as usize];
    let exp = (bits >> 52) as i32 - 1022;
    (first.j + u64::from(first.bound < m)) as i32 + ((exp - 1) << (schema_bits - 1))
}

/// The bucket of the positive normal float of these bits and biased exponent.
#[inline]
fn index_of(bits: u64, biased: i32, schema: i8, tables: &[First]) -> i32 {
    // x = frac × 2^exp with frac in [0.5, 1), as Go's `math.Frexp`.
    let exp = biased - 1022;
    let m = bits & MANTISSA;
    if tables.is_empty() {
        // An exact power of two is the top of its bucket.
        let key = exp - i32::from(m == 0);
        let down = (-schema) as u32;
        return (key + (1 << down) - 1) >> down;
    }
    let shift = 52 - (schema as u32 + 1);
    let first = tables[(m >> shift) as usize];
    (first.j + u64::from(first.bound < m)) as i32 + ((exp - 1) << schema)
}

/// The bucket of `|x|` at `schema` (clamped to -4..=8): the `i` with
/// `2^((i-1)·2^-schema) < |x| ≤ 2^(i·2^-schema)`; infinity goes to the bucket after
/// `f64::MAX`'s. `x` must not be NaN or 0.
///
/// ```
/// use tsmon::distribution::native::index;
/// assert_eq!([1.0, 1.5, 2.0, 0.75].map(|x| index(x, 0)), [0, 1, 1, 0]);
/// assert_eq!([1.0, 1.1, 2.0].map(|x| index(x, 3)), [0, 2, 8]);
/// ```
#[must_use]
pub fn index(x: f64, schema: i8) -> i32 {
    let schema = schema.clamp(MIN_SCHEMA, MAX_SCHEMA);
    index_with(x.abs(), schema, tables_for(schema))
}

/// Bucket `index` at a schema `by` lower (Prometheus' reduction: `((i - 1) >> by) + 1`).
///
/// ```
/// use tsmon::distribution::native::coarser;
/// // (1, 2] and (2, 4] at schema 0 are both (1, 4] at schema -1.
/// assert_eq!([coarser(1, 1), coarser(2, 1)], [1, 1]);
/// ```
#[inline]
#[must_use]
pub fn coarser(index: i32, by: u32) -> i32 {
    ((index - 1) >> by.min(31)) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bucket by definition, searched over exactly computed bounds.
    fn naive(x: f64, schema: i8) -> i32 {
        // The smallest i with x <= upper_bound(i), by bisection over a wide range.
        let (mut lo, mut hi) = (-(1100i32 << 8), 1100i32 << 8);
        while lo < hi {
            let mid = lo + (hi - lo).div_euclid(2);
            if x <= upper_bound(mid, schema) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        lo
    }

    #[test]
    fn the_index_is_the_bucket_whose_bounds_hold_the_sample() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut samples = vec![
            1.0,
            2.0,
            0.5,
            3.0,
            1e-300,
            1e300,
            f64::MAX,
            f64::MIN_POSITIVE,
        ];
        samples.push(f64::MIN_POSITIVE / 8.0); // subnormal
        for _ in 0..5_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mantissa = 1.0 + (state >> 12) as f64 / (1u64 << 52) as f64;
            samples.push(mantissa * 2f64.powi(((state & 0xff) as i32) - 128));
        }
        for schema in MIN_SCHEMA..=MAX_SCHEMA {
            let mut all = samples.clone();
            // Every bound near 1 and its neighbours.
            for i in -(2 << schema.max(0))..(2 << schema.max(0)) {
                let b = upper_bound(i, schema);
                all.extend([b, b.next_up(), b.next_down()]);
            }
            let tables = tables_for(schema);
            for &x in &all {
                assert_eq!(
                    index(x, schema),
                    naive(x, schema),
                    "x={x:e} schema={schema}"
                );
                // The write path's form, which reads the schema off its table.
                if schema > 0 && x.is_normal() {
                    let by_table = index_by_table(x.to_bits(), tables);
                    assert_eq!(by_table, naive(x, schema), "x={x:e} schema={schema}");
                }
            }
            assert_eq!(index(f64::INFINITY, schema), index(f64::MAX, schema) + 1);
        }
    }

    #[test]
    fn bounds_are_within_an_ulp_of_the_go_clients() {
        // Prometheus' Go client's bounds for schema 3 (its `frac` in [0.5, 1)), as printed
        // there: the same buckets for every sample but those within an ulp of a bound.
        let go = [
            0.5,
            0.5452538663326288,
            0.5946035575013605,
            0.6484197773255048,
            0.7071067811865475,
            0.7711054127039704,
            0.8408964152537144,
            0.9170040432046711,
        ];
        for (j, &b) in go.iter().enumerate() {
            let ours = upper_bound(j as i32, 3) / 2.0;
            assert!(
                ours == b || ours == b.next_up() || ours == b.next_down(),
                "j={j}: {ours}"
            );
        }
    }

    #[test]
    fn reduction_merges_neighbours_as_prometheus_does() {
        // At schema 0, buckets 1 and 2 (1, 4] become bucket 1 at schema -1.
        assert_eq!([coarser(1, 1), coarser(2, 1), coarser(3, 1)], [1, 1, 2]);
        assert_eq!([coarser(0, 1), coarser(-1, 1), coarser(-4, 1)], [0, 0, -2]);
        for schema in (MIN_SCHEMA + 1)..=MAX_SCHEMA {
            for x in [0.001, 0.3, 1.0, 1.7, 2.0, 5.5, 1e6] {
                assert_eq!(
                    coarser(index(x, schema), 1),
                    index(x, schema - 1),
                    "x={x} schema={schema}"
                );
            }
        }
    }

    #[test]
    fn a_value_over_the_limit_halves_its_resolution() {
        let spec = NativeSpec::new(4).with_max_buckets(10);
        let mut n = NativeBuckets::new(spec);
        for i in 0..100 {
            n.add(1.0 + f64::from(i) * 0.1);
        }
        assert!(n.bucket_count() <= 10, "{n:?}");
        assert!(n.schema() < 4);
        assert_eq!(n.bucketed(), 100);
    }
}
