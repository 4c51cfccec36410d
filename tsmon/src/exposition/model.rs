//! The Prometheus series model: what every exporter writes for a tsmon metric. The text and
//! OpenMetrics encoders, the `prometheus` crate's [`Collector`](super::Collector), remote-write
//! and the catalog all read it, so a family's type, a sample's name and a series' labels are
//! decided in this one place.
//!
//! - A metric is one family of the type [`FamilyType::of`] its kind, named
//!   [`MetricDesc::prometheus_name`] (plus [`FamilyType::sample_suffix`] where the format has no
//!   family names).
//! - A series' labels are its target's (`service_name`, `job_name`, `data_center`, `host_name`,
//!   `task_num`), then its fields in declaration order; the overflow series has
//!   [`OVERFLOW_LABEL`] instead of fields ([`labels`]).
//! - A series' samples are what [`samples`] gives: a counter's `_total` (and `_created` where
//!   the [`Dialect`] has it), a gauge's value, a string's `_info` of 1 with the `value` label,
//!   a histogram's cumulative `_bucket`s up to `le="+Inf"`, `_count` and `_sum` (`_gcount` and
//!   `_gsum` for a gauge histogram). A native histogram has only `le="+Inf"` in these
//!   formats (its buckets go in the protobuf formats' own fields), unless
//!   [`Dialect::native_classic`] asks for classic buckets beside them.
//!
//! ```
//! use tsmon::exposition::model::{Dialect, Extra, Number, samples};
//! tsmon::metric! {
//!     /// Build.
//!     static BUILD: StringMetric = "example/model/build";
//! }
//! let state = tsmon::State::builder().build().unwrap();
//! state.in_scope(|| BUILD.set("1.2", ()));
//! let snap = state.snapshot();
//! let m = snap.metric("example/model/build").unwrap();
//! let cell = &m.cells()[0];
//! let mut seen = Vec::new();
//! samples(m.desc().family_type(), Dialect::TEXT, cell.value(), cell.start_micros(), |s| {
//!     seen.push((s.suffix, s.label, s.value))
//! });
//! assert_eq!(seen, [("_info", Some(("value", Extra::Value("1.2"))), Number::Int(1))]);
//! ```

use std::borrow::Cow;

pub use crate::desc::FamilyType;
use crate::desc::MetricDesc;
use crate::field::FieldValue;
use crate::store::{CellSnapshot, MetricSnapshot, Snapshot, Value};

/// The label of the overflow series, instead of its fields.
pub const OVERFLOW_LABEL: (&str, &str) = ("tsmon_overflow", "true");

/// What a format says beyond the text format 0.0.4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Dialect {
    /// A counter's and a histogram's `_created` sample (the start time).
    pub created: bool,
    /// Gauge histograms as such (`_gcount`, `_gsum`); without, a plain histogram.
    pub gauge_histograms: bool,
    /// A native histogram's classic `_bucket`s too, at powers of two (its buckets reduced to
    /// schema 0, see [`NativeBuckets::classic`]); without, only `le="+Inf"`.
    ///
    /// [`NativeBuckets::classic`]: crate::distribution::native::NativeBuckets::classic
    pub native_classic: bool,
}

impl Dialect {
    /// The text format 0.0.4 (and the `prometheus` crate's model).
    pub const TEXT: Dialect = Dialect {
        created: false,
        gauge_histograms: false,
        native_classic: false,
    };
    /// OpenMetrics 1.0.
    pub const OPENMETRICS: Dialect = Dialect {
        created: true,
        gauge_histograms: true,
        native_classic: false,
    };
    /// Remote-write: gauge histograms as Prometheus stores them from an OpenMetrics scrape,
    /// no `_created`.
    pub const REMOTE_WRITE: Dialect = Dialect {
        created: false,
        gauge_histograms: true,
        native_classic: false,
    };
}

/// A sample's value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Number {
    /// An integer (counts, integer metrics, a bool as 0 or 1).
    Int(i64),
    /// A float.
    Float(f64),
    /// A time (`_created`), in microseconds since the Unix epoch; written in seconds.
    Micros(u64),
}

impl Number {
    /// As a float (a time in seconds).
    #[must_use]
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
            Number::Micros(m) => m as f64 / 1e6,
        }
    }
}

/// The one label a sample adds to its series' labels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Extra<'a> {
    /// A bucket's upper bound (`le`), `+Inf` for the last.
    Le(f64),
    /// A string metric's value (`value`).
    Value(&'a str),
}

/// One sample of a series: the suffix of its name, the label it adds, its value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample<'a> {
    /// Appended to the family's name: `_total`, `_bucket`, … or nothing.
    pub suffix: &'static str,
    /// The label this sample adds, if any: `("le", …)` or `("value", …)`.
    pub label: Option<(&'static str, Extra<'a>)>,
    /// The value.
    pub value: Number,
}

/// The value of a counter or gauge cell as a number.
#[inline]
fn number(v: &Value) -> Number {
    match v {
        Value::Int(i) => Number::Int(*i),
        Value::Float(f) => Number::Float(*f),
        Value::Bool(b) => Number::Int(i64::from(*b)),
        // Not the value of a single-number family; an encoder writes it as 1 (present).
        Value::Str(_) | Value::Distribution(_) => Number::Int(1),
    }
}

/// Whether a series of this type is one sample with no label of its own in `dialect` (the
/// text encoder writes those from a cached line head).
#[inline]
#[must_use]
pub fn is_single_sample(ty: FamilyType, dialect: Dialect) -> bool {
    match ty {
        FamilyType::Gauge => true,
        FamilyType::Counter => !dialect.created,
        FamilyType::Info | FamilyType::Histogram | FamilyType::GaugeHistogram => false,
    }
}

/// Gives every sample of one series, in exposition order, to `f`: `value` is the cell's,
/// `start_micros` its start time (for `_created`).
#[inline]
pub fn samples<'a>(
    ty: FamilyType,
    dialect: Dialect,
    value: &'a Value,
    start_micros: u64,
    mut f: impl FnMut(Sample<'a>),
) {
    let plain = |suffix, value| Sample {
        suffix,
        label: None,
        value,
    };
    match ty {
        FamilyType::Counter => {
            f(plain("_total", number(value)));
            if dialect.created {
                f(plain("_created", Number::Micros(start_micros)));
            }
        }
        FamilyType::Gauge => f(plain("", number(value))),
        FamilyType::Info => {
            let s = if let Value::Str(s) = value { s } else { "" };
            f(Sample {
                suffix: "_info",
                label: Some(("value", Extra::Value(s))),
                value: Number::Int(1),
            });
        }
        FamilyType::Histogram | FamilyType::GaugeHistogram => {
            let Value::Distribution(d) = value else {
                return;
            };
            let gauge = ty == FamilyType::GaugeHistogram && dialect.gauge_histograms;
            if let Some(native) = d.native() {
                if dialect.native_classic {
                    for (le, cumulative) in native.classic(0) {
                        f(Sample {
                            suffix: "_bucket",
                            label: Some(("le", Extra::Le(le))),
                            value: Number::Int(cumulative as i64),
                        });
                    }
                }
            } else {
                let b = d.bucketer();
                let mut cumulative = 0i64;
                for i in 0..b.num_buckets() - 1 {
                    cumulative += d.buckets().get(i).copied().unwrap_or(0);
                    f(Sample {
                        suffix: "_bucket",
                        label: Some(("le", Extra::Le(b.upper_bound(i)))),
                        value: Number::Int(cumulative),
                    });
                }
            }
            f(Sample {
                suffix: "_bucket",
                label: Some(("le", Extra::Le(f64::INFINITY))),
                value: Number::Int(d.count()),
            });
            let (count, sum) = if gauge {
                ("_gcount", "_gsum")
            } else {
                ("_count", "_sum")
            };
            f(plain(count, Number::Int(d.count())));
            f(plain(sum, Number::Float(d.sum())));
            if dialect.created && !gauge {
                f(plain("_created", Number::Micros(start_micros)));
            }
        }
    }
}

/// The labels of one series of a snapshot, in order: the target's, then the fields' (or the
/// overflow label). The text encoder writes the same labels straight from the series key.
#[must_use]
pub fn labels<'a>(
    snapshot: &Snapshot,
    metric: &'a MetricSnapshot,
    cell: &'a CellSnapshot,
) -> Vec<(&'static str, Cow<'a, str>)> {
    let desc: &'static MetricDesc = metric.desc();
    let mut out: Vec<(&'static str, Cow<'a, str>)> = snapshot
        .target(cell)
        .labels()
        .into_iter()
        .map(|(k, v)| (k, Cow::Owned(v)))
        .collect();
    if cell.is_overflow() {
        out.push((OVERFLOW_LABEL.0, Cow::Borrowed(OVERFLOW_LABEL.1)));
        return out;
    }
    for (f, v) in desc.fields.iter().zip(metric.field_values(cell)) {
        let value = match v {
            FieldValue::Str(s) => Cow::Borrowed(s),
            FieldValue::Int(i) => Cow::Owned(i.to_string()),
            FieldValue::Bool(b) => Cow::Borrowed(if b { "true" } else { "false" }),
        };
        out.push((f.name, value));
    }
    out
}
