//! The native buckets of a distribution value, and their protobuf spans and deltas.

use super::{MIN_SCHEMA, NativeSpec, coarser, index, upper_bound};

/// The native buckets of a distribution value: the schema, the zero bucket, and the sparse
/// positive and negative buckets, each a sorted list of `(index, count)` with counts above 0.
#[derive(Clone, Debug, PartialEq)]
pub struct NativeBuckets {
    schema: i8,
    max_buckets: u32,
    zero_threshold: f64,
    zero_count: u64,
    positive: Vec<(i32, u64)>,
    negative: Vec<(i32, u64)>,
}

impl NativeBuckets {
    /// Empty, at the spec's schema.
    ///
    /// ```
    /// use tsmon::distribution::native::{NativeBuckets, NativeSpec};
    /// let n = NativeBuckets::new(NativeSpec::new(2));
    /// assert_eq!((n.schema(), n.bucket_count()), (2, 0));
    /// ```
    #[must_use]
    pub fn new(spec: NativeSpec) -> Self {
        NativeBuckets {
            schema: spec.schema,
            max_buckets: spec.max_buckets,
            zero_threshold: spec.zero_threshold,
            zero_count: 0,
            positive: Vec::new(),
            negative: Vec::new(),
        }
    }

    /// From raw parts at `schema`: buckets in any order, repeats summed, zero counts dropped,
    /// and reduced to at most the spec's bucket limit.
    pub(crate) fn from_raw(
        spec: NativeSpec,
        schema: i8,
        zero_count: u64,
        mut positive: Vec<(i32, u64)>,
        mut negative: Vec<(i32, u64)>,
    ) -> Self {
        normalize(&mut positive);
        normalize(&mut negative);
        let mut n = NativeBuckets {
            schema,
            max_buckets: spec.max_buckets,
            zero_threshold: spec.zero_threshold,
            zero_count,
            positive,
            negative,
        };
        n.limit();
        n
    }

    /// Adds a sample (not NaN: the caller counts those). Returns false for NaN.
    pub(crate) fn add(&mut self, x: f64) -> bool {
        if x.is_nan() {
            return false;
        }
        if x.abs() <= self.zero_threshold {
            self.zero_count += 1;
            return true;
        }
        let i = index(x, self.schema);
        let side = if x > 0.0 {
            &mut self.positive
        } else {
            &mut self.negative
        };
        match side.binary_search_by_key(&i, |&(k, _)| k) {
            Ok(at) => side[at].1 += 1,
            Err(at) => side.insert(at, (i, 1)),
        }
        self.limit();
        true
    }

    /// Halves the resolution until the buckets fit the limit (or the schema is the lowest).
    fn limit(&mut self) {
        while self.bucket_count() > self.max_buckets as usize && self.schema > MIN_SCHEMA {
            self.reduce_to(self.schema - 1);
        }
    }

    /// The buckets at a lower `schema` (no change for a schema at or above the current one).
    pub(crate) fn reduce_to(&mut self, schema: i8) {
        if schema >= self.schema {
            return;
        }
        let by = (self.schema - schema.max(MIN_SCHEMA)) as u32;
        for side in [&mut self.positive, &mut self.negative] {
            side.iter_mut().for_each(|(i, _)| *i = coarser(*i, by));
            normalize(side);
        }
        self.schema = schema.max(MIN_SCHEMA);
    }

    /// The schema the buckets are at (the declared one, or lower after a reduction).
    ///
    /// ```
    /// # use tsmon::distribution::{BucketerSpec, Distribution};
    /// # let mut d = Distribution::new(BucketerSpec::native(0).bucketer().unwrap());
    /// # for x in [0.0, 1.5, 1.8, -3.0] { d.add(x); }
    /// # let n = d.native().unwrap();
    /// assert_eq!(n.schema(), 0);
    /// ```
    #[must_use]
    pub fn schema(&self) -> i8 {
        self.schema
    }

    /// The zero bucket's threshold.
    ///
    /// ```
    /// # use tsmon::distribution::{BucketerSpec, Distribution};
    /// # let mut d = Distribution::new(BucketerSpec::native(0).bucketer().unwrap());
    /// # for x in [0.0, 1.5, 1.8, -3.0] { d.add(x); }
    /// # let n = d.native().unwrap();
    /// assert_eq!(n.zero_threshold(), tsmon::distribution::native::DEFAULT_ZERO_THRESHOLD);
    /// ```
    #[must_use]
    pub fn zero_threshold(&self) -> f64 {
        self.zero_threshold
    }

    /// The samples in the zero bucket.
    ///
    /// ```
    /// # use tsmon::distribution::{BucketerSpec, Distribution};
    /// # let mut d = Distribution::new(BucketerSpec::native(0).bucketer().unwrap());
    /// # for x in [0.0, 1.5, 1.8, -3.0] { d.add(x); }
    /// # let n = d.native().unwrap();
    /// assert_eq!(n.zero_count(), 1);
    /// ```
    #[must_use]
    pub fn zero_count(&self) -> u64 {
        self.zero_count
    }

    /// The positive buckets, `(index, count)` by index.
    ///
    /// ```
    /// # use tsmon::distribution::{BucketerSpec, Distribution};
    /// # let mut d = Distribution::new(BucketerSpec::native(0).bucketer().unwrap());
    /// # for x in [0.0, 1.5, 1.8, -3.0] { d.add(x); }
    /// # let n = d.native().unwrap();
    /// assert_eq!(n.positive(), [(1, 2)]);
    /// ```
    #[must_use]
    pub fn positive(&self) -> &[(i32, u64)] {
        &self.positive
    }

    /// The negative buckets, `(index, count)` by index (bucket `i` holds `-2^(i·2^-s) ≤ x <
    /// -2^((i-1)·2^-s)`).
    ///
    /// ```
    /// # use tsmon::distribution::{BucketerSpec, Distribution};
    /// # let mut d = Distribution::new(BucketerSpec::native(0).bucketer().unwrap());
    /// # for x in [0.0, 1.5, 1.8, -3.0] { d.add(x); }
    /// # let n = d.native().unwrap();
    /// assert_eq!(n.negative(), [(2, 1)]);
    /// ```
    #[must_use]
    pub fn negative(&self) -> &[(i32, u64)] {
        &self.negative
    }

    /// The number of positive and negative buckets.
    ///
    /// ```
    /// # use tsmon::distribution::{BucketerSpec, Distribution};
    /// # let mut d = Distribution::new(BucketerSpec::native(0).bucketer().unwrap());
    /// # for x in [0.0, 1.5, 1.8, -3.0] { d.add(x); }
    /// # let n = d.native().unwrap();
    /// assert_eq!(n.bucket_count(), 2);
    /// ```
    #[must_use]
    pub fn bucket_count(&self) -> usize {
        self.positive.len() + self.negative.len()
    }

    /// The samples in buckets, the zero bucket included (the count less any NaN samples).
    ///
    /// ```
    /// # use tsmon::distribution::{BucketerSpec, Distribution};
    /// # let mut d = Distribution::new(BucketerSpec::native(0).bucketer().unwrap());
    /// # for x in [0.0, 1.5, 1.8, -3.0] { d.add(x); }
    /// # let n = d.native().unwrap();
    /// assert_eq!(n.bucketed(), 4);
    /// ```
    #[must_use]
    pub fn bucketed(&self) -> u64 {
        let side = |s: &[(i32, u64)]| s.iter().map(|&(_, c)| c).sum::<u64>();
        self.zero_count + side(&self.positive) + side(&self.negative)
    }

    /// The classic buckets these native ones give at `schema` (or the current one, if
    /// lower): `(upper bound, cumulative count)` from the lowest negative bucket through the
    /// zero bucket (`le` the zero threshold) to the highest positive one. Each bound is a
    /// native boundary, so the counts are exact.
    ///
    /// ```
    /// use tsmon::distribution::{BucketerSpec, Distribution};
    /// let mut d = Distribution::new(BucketerSpec::native(3).bucketer().unwrap());
    /// for x in [0.3, 1.5, 3.0, 3.5] {
    ///     d.add(x);
    /// }
    /// let classic = d.native().unwrap().classic(0);
    /// assert_eq!(classic[1..], [(0.5, 1.0), (1.0, 1.0), (2.0, 2.0), (4.0, 4.0)]);
    /// ```
    #[must_use]
    pub fn classic(&self, schema: i8) -> Vec<(f64, f64)> {
        let mut coarse = self.clone();
        coarse.reduce_to(schema);
        let s = coarse.schema;
        let mut out = Vec::with_capacity(coarse.bucket_count() + 1);
        let mut total = 0u64;
        // Every bucket from the lowest to the highest, so the `le` set only grows.
        let dense = |side: &[(i32, u64)]| -> Vec<(i32, u64)> {
            let (Some(&(lo, _)), Some(&(hi, _))) = (side.first(), side.last()) else {
                return Vec::new();
            };
            let mut at = side.iter().peekable();
            (lo..=hi)
                .map(|i| (i, at.next_if(|&&(k, _)| k == i).map_or(0, |&(_, c)| c)))
                .collect()
        };
        for (i, c) in dense(&coarse.negative).into_iter().rev() {
            total += c;
            out.push((-upper_bound(i - 1, s), total as f64));
        }
        total += coarse.zero_count;
        out.push((coarse.zero_threshold, total as f64));
        for (i, c) in dense(&coarse.positive) {
            total += c;
            out.push((upper_bound(i, s), total as f64));
        }
        out
    }
}

fn normalize(side: &mut Vec<(i32, u64)>) {
    side.sort_unstable_by_key(|&(i, _)| i);
    side.dedup_by(|next, kept| {
        if next.0 == kept.0 {
            kept.1 += next.1;
            true
        } else {
            false
        }
    });
    side.retain(|&(_, c)| c > 0);
}

/// The spans and deltas of one side's buckets, as the protobuf formats write them: each span
/// an `(offset from the previous span's end, length)`, each delta a count less the one
/// before.
///
/// ```
/// use tsmon::distribution::native::spans_and_deltas;
/// let (spans, deltas) = spans_and_deltas(&[(-1, 2), (0, 5), (3, 1)]);
/// assert_eq!(spans, [(-1, 2), (2, 1)]);
/// assert_eq!(deltas, [2, 3, -4]);
/// ```
#[must_use]
pub fn spans_and_deltas(side: &[(i32, u64)]) -> (Vec<(i32, u32)>, Vec<i64>) {
    let mut spans: Vec<(i32, u32)> = Vec::new();
    let mut deltas = Vec::with_capacity(side.len());
    let (mut next, mut prev) = (0i32, 0i64);
    for (n, &(i, c)) in side.iter().enumerate() {
        match spans.last_mut() {
            Some(span) if n > 0 && i == next => span.1 += 1,
            _ => spans.push((if n == 0 { i } else { i - next }, 1)),
        }
        next = i + 1;
        let c = i64::try_from(c).unwrap_or(i64::MAX);
        deltas.push(c - prev);
        prev = c;
    }
    (spans, deltas)
}
