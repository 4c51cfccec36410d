//! What a declaration says about a metric: its kind, units, fields, bucketer and where it was
//! declared (the catalog's entries), and the Prometheus name that follows from them. The
//! bottom layer: the store, the metric kinds, the registry and every output read these.

use crate::distribution::{Bucketer, BucketerSpec};
use crate::field::FieldDesc;

pub(crate) mod function;
mod prometheus;
pub(crate) mod site;

pub use prometheus::FamilyType;
pub use site::DeclSite;

/// The eight value kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetricKind {
    /// A monotonically increasing integer.
    Counter,
    /// A monotonically increasing float.
    FloatCounter,
    /// An integer that goes up and down.
    IntGauge,
    /// A float that goes up and down.
    FloatGauge,
    /// A string.
    String,
    /// A boolean.
    Bool,
    /// A distribution that accumulates samples.
    CumulativeDistribution,
    /// A distribution set as a whole.
    NonCumulativeDistribution,
}

impl MetricKind {
    /// Counters and cumulative distributions: their streams have a start time and only grow.
    ///
    /// ```
    /// use tsmon::metric::MetricKind;
    /// assert!(MetricKind::FloatCounter.is_cumulative());
    /// assert!(!MetricKind::IntGauge.is_cumulative());
    /// ```
    #[must_use]
    pub fn is_cumulative(self) -> bool {
        matches!(
            self,
            MetricKind::Counter | MetricKind::FloatCounter | MetricKind::CumulativeDistribution
        )
    }

    /// Both distribution kinds.
    ///
    /// ```
    /// assert!(tsmon::metric::MetricKind::NonCumulativeDistribution.is_distribution());
    /// ```
    #[must_use]
    pub fn is_distribution(self) -> bool {
        matches!(
            self,
            MetricKind::CumulativeDistribution | MetricKind::NonCumulativeDistribution
        )
    }

    /// The name used in [`metric!`](crate::metric!) declarations.
    ///
    /// ```
    /// assert_eq!(tsmon::metric::MetricKind::String.as_str(), "StringMetric");
    /// ```
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "Counter",
            MetricKind::FloatCounter => "FloatCounter",
            MetricKind::IntGauge => "IntGauge",
            MetricKind::FloatGauge => "FloatGauge",
            MetricKind::String => "StringMetric",
            MetricKind::Bool => "BoolMetric",
            MetricKind::CumulativeDistribution => "CumulativeDistribution",
            MetricKind::NonCumulativeDistribution => "NonCumulativeDistribution",
        }
    }
}

/// Units, as Go's `MetricDataUnits`. In the exposition the unit becomes a name suffix
/// (`_seconds`, `_bytes`, …) and, in OpenMetrics, a `# UNIT` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Units {
    /// `s`
    Seconds,
    /// `ms`
    Milliseconds,
    /// `us`
    Microseconds,
    /// `ns`
    Nanoseconds,
    /// `B` (bits, as Go spells it)
    Bits,
    /// `By`
    Bytes,
    /// `kBy` (1000 bytes)
    Kilobytes,
    /// `MBy`
    Megabytes,
    /// `GBy`
    Gigabytes,
    /// `kiBy` (1024 bytes)
    Kibibytes,
    /// `MiBy`
    Mebibytes,
    /// `GiBy`
    Gibibytes,
    /// `A`
    Amperes,
    /// `mA`
    Milliamperes,
    /// `Cel`
    Celsius,
}

impl Units {
    /// Go's unit string.
    ///
    /// ```
    /// assert_eq!(tsmon::metric::Units::Bytes.go_str(), "By");
    /// ```
    #[must_use]
    pub fn go_str(self) -> &'static str {
        match self {
            Units::Seconds => "s",
            Units::Milliseconds => "ms",
            Units::Microseconds => "us",
            Units::Nanoseconds => "ns",
            Units::Bits => "B",
            Units::Bytes => "By",
            Units::Kilobytes => "kBy",
            Units::Megabytes => "MBy",
            Units::Gigabytes => "GBy",
            Units::Kibibytes => "kiBy",
            Units::Mebibytes => "MiBy",
            Units::Gibibytes => "GiBy",
            Units::Amperes => "A",
            Units::Milliamperes => "mA",
            Units::Celsius => "Cel",
        }
    }

    /// The Prometheus unit: the suffix of the exposed name.
    ///
    /// ```
    /// assert_eq!(tsmon::metric::Units::Milliseconds.prometheus(), "milliseconds");
    /// ```
    #[must_use]
    pub fn prometheus(self) -> &'static str {
        match self {
            Units::Seconds => "seconds",
            Units::Milliseconds => "milliseconds",
            Units::Microseconds => "microseconds",
            Units::Nanoseconds => "nanoseconds",
            Units::Bits => "bits",
            Units::Bytes => "bytes",
            Units::Kilobytes => "kilobytes",
            Units::Megabytes => "megabytes",
            Units::Gigabytes => "gigabytes",
            Units::Kibibytes => "kibibytes",
            Units::Mebibytes => "mebibytes",
            Units::Gibibytes => "gibibytes",
            Units::Amperes => "amperes",
            Units::Milliamperes => "milliamperes",
            Units::Celsius => "celsius",
        }
    }

    /// Whether this is a unit of time.
    ///
    /// ```
    /// assert!(tsmon::metric::Units::Nanoseconds.is_time());
    /// ```
    #[must_use]
    pub fn is_time(self) -> bool {
        matches!(
            self,
            Units::Seconds | Units::Milliseconds | Units::Microseconds | Units::Nanoseconds
        )
    }
}

/// One entry of the catalog: everything a declaration says about a metric.
#[derive(Debug)]
pub struct MetricDesc {
    /// The metric name, Go style (`http/server_durations`).
    pub(crate) name: &'static str,
    /// The value kind.
    pub(crate) kind: MetricKind,
    /// The description (the declaration's doc comment).
    pub(crate) description: &'static str,
    /// The fields, in order.
    pub(crate) fields: &'static [FieldDesc],
    /// The units, if any.
    pub(crate) units: Option<Units>,
    /// The bucketer of a distribution.
    pub(crate) bucketer: Option<BucketerSpec>,
    /// The series cap; 0 means the State's default.
    pub(crate) max_series: u64,
    /// Declared by `#[tsmon::instrument(prefix = ...)]`: several functions may declare the same
    /// metric, and identical declarations of one name are merged into one metric. A name
    /// declared twice with `shared: false`, or twice with different shapes, is an error.
    pub(crate) shared: bool,
    /// Where it was declared.
    pub(crate) site: DeclSite,
}

impl MetricDesc {
    /// The metric name, Go style (`http/server_durations`).
    ///
    /// ```
    /// tsmon::metric! {
    ///     /// Bytes read.
    ///     #[tsmon(units = bytes, max_series = 10)]
    ///     static READ: Counter(disk: String) = "example/desc/read1";
    /// }
    /// let d = READ.desc();
    /// assert!(d.name().starts_with("example/desc/read"));
    /// ```
    #[must_use]
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The value kind.
    ///
    /// ```
    /// tsmon::metric! {
    ///     /// Bytes read.
    ///     #[tsmon(units = bytes, max_series = 10)]
    ///     static READ: Counter(disk: String) = "example/desc/read2";
    /// }
    /// let d = READ.desc();
    /// assert_eq!(d.kind(), tsmon::metric::MetricKind::Counter);
    /// ```
    #[must_use]
    pub const fn kind(&self) -> MetricKind {
        self.kind
    }

    /// The description (the declaration's doc comment).
    ///
    /// ```
    /// tsmon::metric! {
    ///     /// Bytes read.
    ///     #[tsmon(units = bytes, max_series = 10)]
    ///     static READ: Counter(disk: String) = "example/desc/read3";
    /// }
    /// let d = READ.desc();
    /// assert_eq!(d.description(), "Bytes read.");
    /// ```
    #[must_use]
    pub const fn description(&self) -> &'static str {
        self.description
    }

    /// The fields, in order.
    ///
    /// ```
    /// tsmon::metric! {
    ///     /// Bytes read.
    ///     #[tsmon(units = bytes, max_series = 10)]
    ///     static READ: Counter(disk: String) = "example/desc/read4";
    /// }
    /// let d = READ.desc();
    /// assert_eq!(d.fields()[0].name, "disk");
    /// ```
    #[must_use]
    pub const fn fields(&self) -> &'static [FieldDesc] {
        self.fields
    }

    /// The units, if any.
    ///
    /// ```
    /// tsmon::metric! {
    ///     /// Bytes read.
    ///     #[tsmon(units = bytes, max_series = 10)]
    ///     static READ: Counter(disk: String) = "example/desc/read5";
    /// }
    /// let d = READ.desc();
    /// assert_eq!(d.units(), Some(tsmon::metric::Units::Bytes));
    /// ```
    #[must_use]
    pub const fn units(&self) -> Option<Units> {
        self.units
    }

    /// The bucketer of a distribution.
    ///
    /// ```
    /// tsmon::metric! {
    ///     /// Bytes read.
    ///     #[tsmon(units = bytes, max_series = 10)]
    ///     static READ: Counter(disk: String) = "example/desc/read6";
    /// }
    /// let d = READ.desc();
    /// assert!(d.bucketer_spec().is_none(), "a counter has no bucketer");
    /// ```
    #[must_use]
    pub const fn bucketer_spec(&self) -> Option<BucketerSpec> {
        self.bucketer
    }

    /// The series cap; 0 means the State's default.
    ///
    /// ```
    /// tsmon::metric! {
    ///     /// Bytes read.
    ///     #[tsmon(units = bytes, max_series = 10)]
    ///     static READ: Counter(disk: String) = "example/desc/read7";
    /// }
    /// let d = READ.desc();
    /// assert_eq!(d.max_series(), 10);
    /// ```
    #[must_use]
    pub const fn max_series(&self) -> u64 {
        self.max_series
    }

    /// Declared by `#[tsmon::instrument(prefix = ...)]`: several functions may declare the same
    /// metric, and identical declarations of one name are merged into one metric. A name
    /// declared twice with `shared: false`, or twice with different shapes, is an error.
    ///
    /// ```
    /// tsmon::metric! {
    ///     /// Bytes read.
    ///     #[tsmon(units = bytes, max_series = 10)]
    ///     static READ: Counter(disk: String) = "example/desc/read8";
    /// }
    /// let d = READ.desc();
    /// assert!(!d.is_shared());
    /// ```
    #[must_use]
    pub const fn is_shared(&self) -> bool {
        self.shared
    }

    /// Where it was declared.
    ///
    /// ```
    /// tsmon::metric! {
    ///     /// Bytes read.
    ///     #[tsmon(units = bytes, max_series = 10)]
    ///     static READ: Counter(disk: String) = "example/desc/read9";
    /// }
    /// let d = READ.desc();
    /// assert_eq!(d.site().crate_name(), "tsmon");
    /// ```
    #[must_use]
    pub const fn site(&self) -> &DeclSite {
        &self.site
    }
}

impl MetricDesc {
    /// The bucketer of a distribution (the Go default bucketer for other kinds).
    ///
    /// ```
    /// tsmon::metric! {
    ///     /// Latency.
    ///     #[tsmon(bucketer = fixed_width(10.0, 5))]
    ///     static LAT: CumulativeDistribution = "example/desc/latency";
    /// }
    /// assert_eq!(LAT.desc().bucketer().num_buckets(), 7);
    /// ```
    #[must_use]
    pub fn bucketer(&self) -> &'static Bucketer {
        let spec = self.bucketer.unwrap_or(BucketerSpec::DEFAULT);
        spec.bucketer().unwrap_or_else(|e| {
            tracing::error!(metric = self.name, "{e}; using the default bucketer");
            default_bucketer()
        })
    }

    /// The name in the Prometheus exposition (see [`exposition::prometheus_name`](crate::exposition::prometheus_name)).
    ///
    /// ```
    /// tsmon::metric! {
    ///     /// Latency.
    ///     #[tsmon(units = seconds)]
    ///     static LAT: CumulativeDistribution = "example/desc/lat2";
    /// }
    /// assert_eq!(LAT.desc().prometheus_name(), "example_desc_lat2_seconds");
    /// ```
    #[must_use]
    pub fn prometheus_name(&self) -> String {
        prometheus_name(self.name, self.units)
    }
}

fn default_bucketer() -> &'static Bucketer {
    match BucketerSpec::DEFAULT.bucketer() {
        Ok(b) => b,
        Err(e) => unreachable!("the default bucketer is valid: {e}"),
    }
}

/// The Prometheus name of a Go-style metric name (see the [`exposition`](crate::exposition) docs).
///
/// ```
/// use tsmon::exposition::prometheus_name;
/// use tsmon::metric::Units;
/// assert_eq!(prometheus_name("http/server_durations", Some(Units::Milliseconds)), "http_server_durations_milliseconds");
/// assert_eq!(prometheus_name("/chrome/infra/presence/up", None), "chrome_infra_presence_up");
/// assert_eq!(prometheus_name("rpc/latency-seconds", Some(Units::Seconds)), "rpc_latency_seconds");
/// ```
#[must_use]
pub fn prometheus_name(name: &str, units: Option<Units>) -> String {
    let mut out = name
        .strip_prefix('/')
        .unwrap_or(name)
        .replace(['/', '-'], "_");
    if let Some(u) = units {
        let suffix = u.prometheus();
        if !out.ends_with(&format!("_{suffix}")) {
            out.push('_');
            out.push_str(suffix);
        }
    }
    out
}
