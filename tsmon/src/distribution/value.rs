//! The distribution value: what a cell holds and a snapshot gives.

use super::Bucketer;
use super::native::NativeBuckets;

/// A distribution value: count, sum and the bucket counts, grown lazily up to the highest bucket
/// touched (Go's `distribution.Distribution`).
#[derive(Clone, Debug, PartialEq)]
pub struct Distribution {
    bucketer: &'static Bucketer,
    buckets: Vec<i64>,
    count: i64,
    sum: f64,
    /// The native buckets of a native histogram.
    native: Option<Box<NativeBuckets>>,
}

impl Distribution {
    /// An empty distribution.
    ///
    /// ```
    /// # use tsmon::distribution::{BucketerSpec, Distribution};
    /// let d = Distribution::new(BucketerSpec::DEFAULT.bucketer().unwrap());
    /// assert_eq!((d.count(), d.last_non_zero_bucket()), (0, None));
    /// ```
    #[must_use]
    pub fn new(bucketer: &'static Bucketer) -> Self {
        Distribution {
            bucketer,
            buckets: Vec::new(),
            count: 0,
            sum: 0.0,
            native: bucketer
                .spec
                .native
                .map(|spec| Box::new(NativeBuckets::new(spec))),
        }
    }

    /// A native histogram's value: `count` samples (NaN ones included) summing to `sum`.
    pub(crate) fn from_native(
        bucketer: &'static Bucketer,
        native: NativeBuckets,
        count: i64,
        sum: f64,
    ) -> Self {
        Distribution {
            bucketer,
            // A native bucketer's one classic bucket holds everything.
            buckets: if bucketer.num_buckets() == 1 && count > 0 {
                vec![count]
            } else {
                Vec::new()
            },
            count,
            sum,
            native: Some(Box::new(native)),
        }
    }

    /// The native buckets, for a native histogram.
    ///
    /// ```
    /// # use tsmon::distribution::{BucketerSpec, Distribution};
    /// let mut d = Distribution::new(BucketerSpec::native(0).bucketer().unwrap());
    /// d.add(3.0);
    /// assert_eq!(d.native().unwrap().positive(), [(2, 1)]);
    /// assert!(Distribution::new(BucketerSpec::DEFAULT.bucketer().unwrap()).native().is_none());
    /// ```
    #[must_use]
    pub fn native(&self) -> Option<&NativeBuckets> {
        self.native.as_deref()
    }

    pub(crate) fn from_parts(bucketer: &'static Bucketer, mut buckets: Vec<i64>, sum: f64) -> Self {
        while buckets.last() == Some(&0) {
            buckets.pop();
        }
        let count = buckets.iter().sum();
        Distribution {
            bucketer,
            buckets,
            count,
            sum,
            native: None,
        }
    }

    /// Adds a sample.
    ///
    /// ```
    /// # use tsmon::distribution::{BucketerSpec, Distribution};
    /// let mut d = Distribution::new(BucketerSpec::DEFAULT.bucketer().unwrap());
    /// d.add(3.2);
    /// d.add(5.3);
    /// assert_eq!(d.buckets(), [0, 0, 0, 1, 1]);
    /// ```
    pub fn add(&mut self, x: f64) {
        if let Some(n) = &mut self.native {
            n.add(x);
        }
        let i = self.bucketer.bucket(x);
        if self.buckets.len() <= i {
            self.buckets.resize(i + 1, 0);
        }
        self.buckets[i] += 1;
        self.count += 1;
        self.sum += x;
    }

    /// The bucketer.
    ///
    /// ```
    /// # use tsmon::distribution::{BucketerSpec, Distribution};
    /// let b = BucketerSpec::DEFAULT.bucketer().unwrap();
    /// assert!(std::ptr::eq(Distribution::new(b).bucketer(), b));
    /// ```
    #[must_use]
    pub fn bucketer(&self) -> &'static Bucketer {
        self.bucketer
    }

    /// The bucket counts, up to the highest bucket touched.
    ///
    /// ```
    /// # use tsmon::distribution::{BucketerSpec, Distribution};
    /// let d = Distribution::new(BucketerSpec::DEFAULT.bucketer().unwrap());
    /// assert!(d.buckets().is_empty());
    /// ```
    #[must_use]
    pub fn buckets(&self) -> &[i64] {
        &self.buckets
    }

    /// The number of samples.
    ///
    /// ```
    /// # use tsmon::distribution::{BucketerSpec, Distribution};
    /// let mut d = Distribution::new(BucketerSpec::DEFAULT.bucketer().unwrap());
    /// d.add(1.0);
    /// assert_eq!(d.count(), 1);
    /// ```
    #[must_use]
    pub fn count(&self) -> i64 {
        self.count
    }

    /// The sum of the samples.
    ///
    /// ```
    /// # use tsmon::distribution::{BucketerSpec, Distribution};
    /// let mut d = Distribution::new(BucketerSpec::DEFAULT.bucketer().unwrap());
    /// d.add(1.5);
    /// assert_eq!(d.sum(), 1.5);
    /// ```
    #[must_use]
    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// The highest bucket with a sample, `None` when empty (Go returns -1).
    ///
    /// ```
    /// # use tsmon::distribution::{BucketerSpec, Distribution};
    /// let mut d = Distribution::new(BucketerSpec::fixed_width(10.0, 2).bucketer().unwrap());
    /// d.add(15.0);
    /// assert_eq!(d.last_non_zero_bucket(), Some(2));
    /// ```
    #[must_use]
    pub fn last_non_zero_bucket(&self) -> Option<usize> {
        self.buckets.iter().rposition(|&c| c != 0)
    }
}
