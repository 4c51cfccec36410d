//! A remote-write request: the protobuf messages of Prometheus' `remote.proto` (1.0) and the
//! request for a snapshot, its series written as the series model says.

use crate::distribution::Distribution;
use crate::distribution::native::{NativeBuckets, spans_and_deltas};
use crate::exposition::model::{self, Dialect, Extra, FamilyType};
use crate::store::{Snapshot, Value};

/// `prometheus.WriteRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    /// The series.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    /// The type, help and unit of each family in the request.
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

/// `prometheus.MetricMetadata`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricMetadata {
    /// `prometheus.MetricMetadata.MetricType`: 1 counter, 2 gauge, 3 histogram, 4 gauge
    /// histogram, 6 info.
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    /// The family's name (without `_total`, `_bucket`, …).
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
    /// The description.
    #[prost(string, tag = "4")]
    pub help: String,
    /// The unit (`seconds`, `bytes`), or empty.
    #[prost(string, tag = "5")]
    pub unit: String,
}

/// The value Prometheus reads as "this series has ended" (`value.StaleNaN`).
pub const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;
/// The NaN a written NaN is sent as (`value.NormalNaN`), so that it can never be read as a
/// stale marker.
pub const NORMAL_NAN: u64 = 0x7ff8_0000_0000_0001;

/// `prometheus.TimeSeries`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// Labels, sorted by name, `__name__` included.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Samples, oldest first.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
    /// The series' exemplar, if it has one (a counter's `_total`, a histogram's buckets).
    #[prost(message, repeated, tag = "3")]
    pub exemplars: Vec<Exemplar>,
    /// A native histogram's value (instead of samples).
    #[prost(message, repeated, tag = "4")]
    pub histograms: Vec<Histogram>,
}

/// `prometheus.Histogram`: a native histogram (integer counts).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Histogram {
    /// The count (`count_int` of the `count` oneof).
    #[prost(uint64, tag = "1")]
    pub count_int: u64,
    /// The sum.
    #[prost(double, tag = "3")]
    pub sum: f64,
    /// The schema, -4 to 8.
    #[prost(sint32, tag = "4")]
    pub schema: i32,
    /// The zero bucket's threshold.
    #[prost(double, tag = "5")]
    pub zero_threshold: f64,
    /// The zero bucket's count (`zero_count_int`).
    #[prost(uint64, tag = "6")]
    pub zero_count_int: u64,
    /// The negative buckets' spans.
    #[prost(message, repeated, tag = "8")]
    pub negative_spans: Vec<BucketSpan>,
    /// The negative buckets' counts, each less the one before.
    #[prost(sint64, repeated, tag = "9")]
    pub negative_deltas: Vec<i64>,
    /// The positive buckets' spans.
    #[prost(message, repeated, tag = "11")]
    pub positive_spans: Vec<BucketSpan>,
    /// The positive buckets' counts, each less the one before.
    #[prost(sint64, repeated, tag = "12")]
    pub positive_deltas: Vec<i64>,
    /// `ResetHint`: 0 unknown (a counter histogram, Prometheus finds resets), 3 a gauge
    /// histogram.
    #[prost(int32, tag = "14")]
    pub reset_hint: i32,
    /// Milliseconds since the Unix epoch.
    #[prost(int64, tag = "15")]
    pub timestamp: i64,
}

/// `prometheus.BucketSpan`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BucketSpan {
    /// The gap from the previous span's end (the first span's start index).
    #[prost(sint32, tag = "1")]
    pub offset: i32,
    /// The buckets in the span.
    #[prost(uint32, tag = "2")]
    pub length: u32,
}

impl Histogram {
    /// The histogram of a native distribution value at `timestamp`.
    fn of(d: &Distribution, n: &NativeBuckets, gauge: bool, timestamp: i64) -> Self {
        let side = |b: &[(i32, u64)]| {
            let (spans, deltas) = spans_and_deltas(b);
            let spans = spans
                .into_iter()
                .map(|(offset, length)| BucketSpan { offset, length })
                .collect();
            (spans, deltas)
        };
        let (negative_spans, negative_deltas) = side(n.negative());
        let (positive_spans, positive_deltas) = side(n.positive());
        Histogram {
            count_int: u64::try_from(d.count()).unwrap_or(0),
            sum: not_stale(d.sum()),
            schema: i32::from(n.schema()),
            zero_threshold: n.zero_threshold(),
            zero_count_int: n.zero_count(),
            negative_spans,
            negative_deltas,
            positive_spans,
            positive_deltas,
            reset_hint: if gauge { 3 } else { 0 },
            timestamp,
        }
    }
}

/// `prometheus.Exemplar`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Exemplar {
    /// Its labels (`trace_id`, …).
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// The sample's value.
    #[prost(double, tag = "2")]
    pub value: f64,
    /// When it was written, in milliseconds since the epoch.
    #[prost(int64, tag = "3")]
    pub timestamp: i64,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    /// The label name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// The label value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    /// The value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// The request for a chunk, and for each of its series the index of its family's
/// metadata. A native histogram is one series of its family's name with a histogram value;
/// with `native_classic` its classic `_bucket`, `_count` and `_sum` series follow.
pub(super) fn build(chunk: &Snapshot, native_classic: bool) -> (WriteRequest, Vec<usize>) {
    let dialect = Dialect {
        native_classic,
        ..Dialect::REMOTE_WRITE
    };
    let ts = i64::try_from(chunk.now_micros() / 1000).unwrap_or(i64::MAX);
    let mut out = Vec::new();
    let mut families = Vec::new();
    let mut metadata = Vec::new();
    let mut le = Vec::with_capacity(24);
    for m in chunk.metrics() {
        let desc = m.desc();
        let base = desc.prometheus_name();
        let ty = desc.family_type();
        metadata.push(MetricMetadata {
            r#type: match ty {
                FamilyType::Counter => 1,
                FamilyType::Gauge => 2,
                FamilyType::Histogram => 3,
                FamilyType::GaugeHistogram => 4,
                FamilyType::Info => 6,
            },
            metric_family_name: base.clone(),
            help: desc.description.to_owned(),
            unit: desc
                .units
                .map(|u| u.prometheus().to_owned())
                .unwrap_or_default(),
        });
        for cell in m.cells() {
            let labels = model::labels(chunk, m, cell);
            if let Value::Distribution(d) = cell.value()
                && let Some(n) = d.native()
            {
                let gauge = ty == FamilyType::GaugeHistogram;
                out.push(TimeSeries {
                    labels: series_labels(&labels, &base, None),
                    histograms: vec![Histogram::of(d, n, gauge, ts)],
                    ..TimeSeries::default()
                });
                families.push(metadata.len() - 1);
                if !native_classic {
                    continue;
                }
            }
            let mut bucket = 0;
            model::samples(ty, dialect, cell.value(), cell.start_micros(), |s| {
                let extra = s.label.map(|(name, value)| match value {
                    Extra::Le(bound) => {
                        le.clear();
                        crate::exposition::push_f64(&mut le, bound);
                        (name, std::str::from_utf8(&le).unwrap_or(""))
                    }
                    Extra::Value(v) => (name, v),
                });
                let l = series_labels(&labels, &format!("{base}{}", s.suffix), extra);
                let value = not_stale(s.value.as_f64());
                let exemplar = match s.suffix {
                    "_bucket" => {
                        bucket += 1;
                        cell.exemplar(bucket - 1)
                    }
                    "_total" => cell.exemplar(0),
                    _ => None,
                };
                out.push(TimeSeries {
                    labels: l,
                    samples: vec![Sample {
                        value,
                        timestamp: ts,
                    }],
                    exemplars: exemplar
                        .map(|e| Exemplar {
                            labels: e.labels().iter().map(|(k, v)| label(k, v)).collect(),
                            value: e.value(),
                            timestamp: i64::try_from(e.micros() / 1000).unwrap_or(i64::MAX),
                        })
                        .into_iter()
                        .collect(),
                    histograms: Vec::new(),
                });
                families.push(metadata.len() - 1);
            });
        }
    }
    (
        WriteRequest {
            timeseries: out,
            metadata,
        },
        families,
    )
}

/// A series' labels: its own, `__name__` and the sample's extra one, sorted by name, without
/// empty values (Prometheus treats an empty value as no label at all).
fn series_labels(
    labels: &[(&'static str, std::borrow::Cow<'_, str>)],
    name: &str,
    extra: Option<(&str, &str)>,
) -> Vec<Label> {
    let mut l: Vec<Label> = labels.iter().map(|(k, v)| label(k, v)).collect();
    l.push(label("__name__", name));
    if let Some((k, v)) = extra {
        l.push(label(k, v));
    }
    l.retain(|l| !l.value.is_empty());
    l.sort_by(|a, b| a.name.cmp(&b.name));
    l
}

/// A value the program wrote, with a NaN sent as `NORMAL_NAN`, so that it never reads as a
/// stale marker (a sample's value, a histogram's sum).
fn not_stale(v: f64) -> f64 {
    if v.is_nan() {
        f64::from_bits(NORMAL_NAN)
    } else {
        v
    }
}

fn label(name: &str, value: &str) -> Label {
    Label {
        name: name.to_owned(),
        value: value.to_owned(),
    }
}
