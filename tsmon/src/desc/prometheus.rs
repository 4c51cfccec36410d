//! What a metric is in Prometheus' terms: its family's type and the name its samples go by.
//! The sample-level half of the model (which samples a cell gives, with which labels) is
//! [`exposition::model`](crate::exposition::model); every exporter reads both.

use crate::desc::{MetricDesc, MetricKind};

/// The Prometheus type of a metric's family.
///
/// ```
/// use tsmon::exposition::model::FamilyType;
/// use tsmon::metric::MetricKind;
/// assert_eq!(FamilyType::of(MetricKind::FloatCounter), FamilyType::Counter);
/// assert_eq!(FamilyType::of(MetricKind::Bool), FamilyType::Gauge);
/// assert_eq!(FamilyType::of(MetricKind::String).openmetrics(), "info");
/// assert_eq!(FamilyType::of(MetricKind::String).text(), "gauge");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FamilyType {
    /// Counters (`_total`, and `_created` in OpenMetrics).
    Counter,
    /// Gauges; a bool is 0 or 1.
    Gauge,
    /// String metrics: one `_info` sample of 1 with the string in the `value` label.
    Info,
    /// Cumulative distributions.
    Histogram,
    /// Non-cumulative distributions (a plain histogram where the format has no gauge
    /// histogram).
    GaugeHistogram,
}

impl FamilyType {
    /// The family type of a metric kind.
    #[must_use]
    pub const fn of(kind: MetricKind) -> Self {
        match kind {
            MetricKind::Counter | MetricKind::FloatCounter => FamilyType::Counter,
            MetricKind::IntGauge | MetricKind::FloatGauge | MetricKind::Bool => FamilyType::Gauge,
            MetricKind::String => FamilyType::Info,
            MetricKind::CumulativeDistribution => FamilyType::Histogram,
            MetricKind::NonCumulativeDistribution => FamilyType::GaugeHistogram,
        }
    }

    /// The type as an OpenMetrics `# TYPE` line names it.
    #[must_use]
    pub const fn openmetrics(self) -> &'static str {
        match self {
            FamilyType::Counter => "counter",
            FamilyType::Gauge => "gauge",
            FamilyType::Info => "info",
            FamilyType::Histogram => "histogram",
            FamilyType::GaugeHistogram => "gaugehistogram",
        }
    }

    /// The type in the text format 0.0.4, which has neither info nor gauge histograms (they
    /// are a gauge and a histogram there).
    #[must_use]
    pub const fn text(self) -> &'static str {
        match self {
            FamilyType::Counter => "counter",
            FamilyType::Gauge | FamilyType::Info => "gauge",
            FamilyType::Histogram | FamilyType::GaugeHistogram => "histogram",
        }
    }

    /// The suffix of the one value sample of a counter (`_total`) or an info family (`_info`),
    /// which formats without family names (the text format, remote-write, the `prometheus`
    /// crate, the catalog) use as the series' name; empty for the others.
    ///
    /// ```
    /// use tsmon::exposition::model::FamilyType;
    /// assert_eq!(FamilyType::Counter.sample_suffix(), "_total");
    /// assert_eq!(FamilyType::Histogram.sample_suffix(), "");
    /// ```
    #[must_use]
    pub const fn sample_suffix(self) -> &'static str {
        match self {
            FamilyType::Counter => "_total",
            FamilyType::Info => "_info",
            FamilyType::Gauge | FamilyType::Histogram | FamilyType::GaugeHistogram => "",
        }
    }
}

impl MetricDesc {
    /// The Prometheus type of this metric's family.
    #[must_use]
    pub const fn family_type(&self) -> FamilyType {
        FamilyType::of(self.kind)
    }

    /// The name this metric's samples go by where a format has no family name of its own:
    /// [`prometheus_name`](Self::prometheus_name) with `_total` for a counter and `_info` for a
    /// string metric (a histogram's samples add `_bucket`, `_sum` and `_count` to the base).
    ///
    /// ```
    /// tsmon::metric! {
    ///     /// Build version.
    ///     static BUILD: StringMetric = "example/desc/build";
    /// }
    /// assert_eq!(BUILD.desc().prometheus_series_name(), "example_desc_build_info");
    /// ```
    #[must_use]
    pub fn prometheus_series_name(&self) -> String {
        self.prometheus_name() + self.family_type().sample_suffix()
    }
}
