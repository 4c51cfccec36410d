//! The Prometheus protobuf exposition format (`io.prometheus.client.MetricFamily`, length
//! delimited), the format Prometheus asks for first when its native histograms are on.
//!
//! Written from the same series model as the text format ([`super::model`], text dialect):
//! the same families, names, labels and values, so a scrape gives the same series whichever
//! format it negotiates. Families are named as in the text format (a counter's name ends in
//! `_total`, a string metric's in `_info`); a string metric is a gauge of 1 with its `value`
//! label, a non-cumulative distribution a histogram (`_count` and `_sum`, as in the text
//! format: Prometheus 2.42 does not read a classic `GAUGE_HISTOGRAM` from protobuf, where an
//! OpenMetrics scrape gives `_gcount` and `_gsum`); a histogram lists its finite
//! buckets (Prometheus adds `+Inf` from the count). With [`Options::created`] a counter and a
//! histogram carry their `created_timestamp`. Exemplars go on a counter and on each finite
//! bucket. A native histogram carries its schema, zero bucket, and each side's spans and
//! deltas (classic buckets beside them with [`Options::native_classic`]).
//!
//! The writer is a few dozen lines of protobuf's wire format (varints, length-delimited
//! fields), so the format costs no dependency and works in the lean build.

use super::Options;
use super::model::{self, Dialect, Extra, FamilyType};
use crate::distribution::native::{NativeBuckets, spans_and_deltas};
use crate::store::{Snapshot, Value};

/// `MetricType` values.
const COUNTER: u64 = 0;
const GAUGE: u64 = 1;
const HISTOGRAM: u64 = 4;

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn key(out: &mut Vec<u8>, field: u32, wire: u8) {
    varint(out, (u64::from(field) << 3) | u64::from(wire));
}

fn bytes(out: &mut Vec<u8>, field: u32, b: &[u8]) {
    key(out, field, 2);
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn uint(out: &mut Vec<u8>, field: u32, v: u64) {
    key(out, field, 0);
    varint(out, v);
}

fn double(out: &mut Vec<u8>, field: u32, v: f64) {
    key(out, field, 1);
    out.extend_from_slice(&v.to_le_bytes());
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// A native histogram's fields of an `io.prometheus.client.Histogram`: schema, zero bucket,
/// spans and deltas of each side. A histogram with no bucket and a zero threshold of 0 gets an
/// empty span, so that Prometheus still reads it as native.
fn native_fields(out: &mut Vec<u8>, n: &NativeBuckets, buf: &mut Vec<u8>) {
    key(out, 5, 0);
    varint(out, zigzag(i64::from(n.schema())));
    double(out, 6, n.zero_threshold());
    uint(out, 7, n.zero_count());
    let mut any = false;
    for (side, span_field, delta_field) in [(n.negative(), 9, 10), (n.positive(), 12, 13)] {
        let (spans, deltas) = spans_and_deltas(side);
        for (offset, length) in spans {
            any = true;
            buf.clear();
            key(buf, 1, 0);
            varint(buf, zigzag(i64::from(offset)));
            uint(buf, 2, u64::from(length));
            bytes(out, span_field, buf);
        }
        if !deltas.is_empty() {
            buf.clear();
            deltas.iter().for_each(|&d| varint(buf, zigzag(d)));
            bytes(out, delta_field, buf);
        }
    }
    if !any && n.zero_threshold() == 0.0 && n.zero_count() == 0 {
        bytes(out, 12, &[]);
    }
}

/// A `google.protobuf.Timestamp` of `micros` since the Unix epoch.
fn timestamp(out: &mut Vec<u8>, micros: u64) {
    uint(out, 1, micros / 1_000_000);
    uint(out, 2, (micros % 1_000_000) * 1_000);
}

/// Buffers for the nested messages, reused from family to family.
#[derive(Default)]
struct Scratch {
    family: Vec<u8>,
    metric: Vec<u8>,
    value: Vec<u8>,
    inner: Vec<u8>,
    ex: Vec<u8>,
}

/// An `Exemplar` message as field `field` of `out`: its labels, value and timestamp.
fn exemplar(out: &mut Vec<u8>, field: u32, ex: &crate::store::Exemplar, buf: &mut Vec<u8>) {
    buf.clear();
    let mut pair = Vec::with_capacity(32);
    for (k, v) in ex.labels() {
        pair.clear();
        bytes(&mut pair, 1, k.as_bytes());
        bytes(&mut pair, 2, v.as_bytes());
        bytes(buf, 1, &pair);
    }
    double(buf, 2, ex.value());
    pair.clear();
    timestamp(&mut pair, ex.micros());
    bytes(buf, 3, &pair);
    bytes(out, field, buf);
}

/// Appends the protobuf exposition of `snapshot` to `out`.
pub(crate) fn encode(snapshot: &Snapshot, options: Options, out: &mut Vec<u8>) {
    let mut s = Scratch::default();
    if options.target_info
        && let Some(target) = snapshot.targets().first()
    {
        s.family.clear();
        bytes(&mut s.family, 1, b"target_info");
        bytes(
            &mut s.family,
            2,
            b"Target metadata: the labels of the process's target.",
        );
        uint(&mut s.family, 3, GAUGE);
        s.metric.clear();
        for (k, v) in target.labels() {
            s.inner.clear();
            bytes(&mut s.inner, 1, k.as_bytes());
            bytes(&mut s.inner, 2, v.as_bytes());
            bytes(&mut s.metric, 1, &s.inner);
        }
        s.value.clear();
        double(&mut s.value, 1, 1.0);
        bytes(&mut s.metric, 2, &s.value);
        bytes(&mut s.family, 4, &s.metric);
        varint(out, s.family.len() as u64);
        out.extend_from_slice(&s.family);
    }
    let target_names: Vec<&str> = snapshot
        .targets()
        .first()
        .map(|t| t.labels().iter().map(|(k, _)| *k).collect())
        .unwrap_or_default();
    for m in snapshot.metrics() {
        if m.cells().is_empty() {
            continue;
        }
        let desc = m.desc();
        let ty = desc.family_type();
        s.family.clear();
        let name = format!("{}{}", desc.prometheus_name(), ty.sample_suffix());
        bytes(&mut s.family, 1, name.as_bytes());
        bytes(&mut s.family, 2, desc.description().as_bytes());
        let (kind, field) = match ty {
            FamilyType::Counter => (COUNTER, 3),
            FamilyType::Gauge | FamilyType::Info => (GAUGE, 2),
            // Prometheus (2.42) does not read a classic GAUGE_HISTOGRAM from protobuf.
            FamilyType::Histogram | FamilyType::GaugeHistogram => (HISTOGRAM, 7),
        };
        uint(&mut s.family, 3, kind);
        for cell in m.cells() {
            s.metric.clear();
            let bare = options.target_info && cell.target_id() == 0;
            for (k, v) in model::labels(snapshot, m, cell) {
                if bare && target_names.contains(&k) {
                    continue;
                }
                s.inner.clear();
                bytes(&mut s.inner, 1, k.as_bytes());
                bytes(&mut s.inner, 2, v.as_bytes());
                bytes(&mut s.metric, 1, &s.inner);
            }
            s.value.clear();
            let created =
                options.created && matches!(ty, FamilyType::Counter | FamilyType::Histogram);
            let mut bucket = 0;
            let dialect = Dialect {
                native_classic: options.native_classic,
                ..Dialect::TEXT
            };
            model::samples(ty, dialect, cell.value(), cell.start_micros(), |sample| {
                match (sample.suffix, sample.label) {
                    ("_bucket", Some((_, Extra::Le(bound)))) => {
                        bucket += 1;
                        // Prometheus adds the `+Inf` bucket from the count.
                        if bound.is_finite() {
                            s.inner.clear();
                            uint(&mut s.inner, 1, sample.value.as_f64() as u64);
                            double(&mut s.inner, 2, bound);
                            if let Some(ex) = cell.exemplar(bucket - 1) {
                                exemplar(&mut s.inner, 3, ex, &mut s.ex);
                            }
                            bytes(&mut s.value, 3, &s.inner);
                        }
                    }
                    ("_total", _) => {
                        double(&mut s.value, 1, sample.value.as_f64());
                        if let Some(ex) = cell.exemplar(0) {
                            exemplar(&mut s.value, 2, ex, &mut s.ex);
                        }
                    }
                    ("_count", _) => uint(&mut s.value, 1, sample.value.as_f64() as u64),
                    ("_sum", _) => double(&mut s.value, 2, sample.value.as_f64()),
                    ("_info", Some((name, Extra::Value(v)))) => {
                        s.inner.clear();
                        bytes(&mut s.inner, 1, name.as_bytes());
                        bytes(&mut s.inner, 2, v.as_bytes());
                        bytes(&mut s.metric, 1, &s.inner);
                        double(&mut s.value, 1, sample.value.as_f64());
                    }
                    _ => double(&mut s.value, 1, sample.value.as_f64()),
                }
            });
            if let Value::Distribution(d) = cell.value()
                && let Some(n) = d.native()
            {
                native_fields(&mut s.value, n, &mut s.inner);
            }
            if created {
                s.inner.clear();
                timestamp(&mut s.inner, cell.start_micros());
                // Counter.created_timestamp is field 3, Histogram.created_timestamp 15.
                let at = if ty == FamilyType::Counter { 3 } else { 15 };
                bytes(&mut s.value, at, &s.inner);
            }
            bytes(&mut s.metric, field, &s.value);
            bytes(&mut s.family, 4, &s.metric);
        }
        varint(out, s.family.len() as u64);
        out.extend_from_slice(&s.family);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn varints() {
        let mut out = Vec::new();
        for v in [0u64, 1, 127, 128, 300, u64::MAX] {
            out.clear();
            super::varint(&mut out, v);
            let mut back = 0u64;
            for (i, b) in out.iter().enumerate() {
                back |= u64::from(b & 0x7f) << (7 * i);
            }
            assert_eq!(back, v);
            assert_eq!(out.last().map(|b| b & 0x80), Some(0));
        }
        out.clear();
        super::varint(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]);
    }
}
