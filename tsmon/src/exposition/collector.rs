//! The store as a `prometheus::core::Collector`, so a tsmon State can be registered in any
//! `prometheus::Registry` next to a service's existing metrics.

use std::collections::HashMap;

use prometheus::core::Desc;
use prometheus::proto;

use crate::metric::MetricKind;
use crate::state::State;
use crate::store::{MetricSnapshot, Snapshot, Value};

/// A [`State`] seen as a `prometheus` collector: each `collect` takes a snapshot and converts it
/// to the crate's metric families (counters, gauges, histograms; string metrics as `_info`
/// gauges).
///
/// ```
/// tsmon::metric! {
///     /// Cache hits.
///     static HITS: Counter = "example/collector/hits";
/// }
/// let state = tsmon::State::builder().build().unwrap();
/// state.in_scope(|| HITS.add(3, ()));
/// let registry = prometheus::Registry::new();
/// registry.register(Box::new(tsmon::exposition::Collector::new(state))).unwrap();
/// let families = registry.gather();
/// let hits = families.iter().find(|f| f.name() == "example_collector_hits_total").unwrap();
/// assert_eq!(hits.get_metric()[0].get_counter().get_value(), 3.0);
/// ```
#[derive(Debug)]
pub struct Collector {
    state: State,
    descs: Vec<Desc>,
}

impl Collector {
    /// A collector over `state`. Its descriptors cover the whole catalog.
    #[must_use]
    pub fn new(state: State) -> Self {
        let descs = crate::registry::catalog()
            .iter()
            .filter_map(|d| {
                let (name, _) = family_name(d.kind, d.prometheus_name());
                Desc::new(name, help(d.description), Vec::new(), HashMap::new()).ok()
            })
            .collect();
        Collector { state, descs }
    }
}

fn help(description: &str) -> String {
    if description.is_empty() {
        "(no description)".to_owned()
    } else {
        description.to_owned()
    }
}

fn family_name(kind: MetricKind, base: String) -> (String, proto::MetricType) {
    match kind {
        MetricKind::Counter | MetricKind::FloatCounter => {
            (base + "_total", proto::MetricType::COUNTER)
        }
        MetricKind::String => (base + "_info", proto::MetricType::GAUGE),
        MetricKind::IntGauge | MetricKind::FloatGauge | MetricKind::Bool => {
            (base, proto::MetricType::GAUGE)
        }
        MetricKind::CumulativeDistribution | MetricKind::NonCumulativeDistribution => {
            (base, proto::MetricType::HISTOGRAM)
        }
    }
}

fn label(name: &str, value: String) -> proto::LabelPair {
    let mut l = proto::LabelPair::default();
    l.set_name(name.to_owned());
    l.set_value(value);
    l
}

fn family(snapshot: &Snapshot, m: &MetricSnapshot) -> proto::MetricFamily {
    let desc = m.desc();
    let (name, ty) = family_name(desc.kind, desc.prometheus_name());
    let mut family = proto::MetricFamily::default();
    family.set_name(name);
    family.set_help(help(desc.description));
    family.set_field_type(ty);
    let mut metrics = Vec::with_capacity(m.cells().len());
    for cell in m.cells() {
        let mut labels: Vec<proto::LabelPair> = snapshot
            .target(cell)
            .labels()
            .into_iter()
            .map(|(n, v)| label(n, v))
            .collect();
        if cell.is_overflow() {
            labels.push(label("tsmon_overflow", "true".into()));
        }
        for (f, v) in desc.fields.iter().zip(m.field_values(cell)) {
            labels.push(label(f.name, v.to_string()));
        }
        let mut metric = proto::Metric::default();
        match cell.value() {
            Value::Int(i) => set_number(&mut metric, ty, *i as f64),
            Value::Float(x) => set_number(&mut metric, ty, *x),
            Value::Bool(b) => set_number(&mut metric, ty, f64::from(u8::from(*b))),
            Value::Str(s) => {
                labels.push(label("value", s.to_string()));
                set_number(&mut metric, ty, 1.0);
            }
            Value::Distribution(d) => {
                let b = d.bucketer();
                let mut h = proto::Histogram::default();
                let mut cumulative = 0u64;
                let mut buckets = Vec::with_capacity(b.num_buckets());
                for i in 0..b.num_buckets() - 1 {
                    cumulative +=
                        u64::try_from(d.buckets().get(i).copied().unwrap_or(0)).unwrap_or(0);
                    let mut bucket = proto::Bucket::default();
                    bucket.set_upper_bound(b.upper_bound(i));
                    bucket.set_cumulative_count(cumulative);
                    buckets.push(bucket);
                }
                h.set_bucket(buckets);
                h.set_sample_count(u64::try_from(d.count()).unwrap_or(0));
                h.set_sample_sum(d.sum());
                metric.set_histogram(h);
            }
        }
        metric.set_label(labels);
        metrics.push(metric);
    }
    family.set_metric(metrics);
    family
}

fn set_number(metric: &mut proto::Metric, ty: proto::MetricType, v: f64) {
    if ty == proto::MetricType::COUNTER {
        let mut c = proto::Counter::default();
        c.set_value(v);
        metric.set_counter(c);
    } else {
        let mut g = proto::Gauge::default();
        g.set_value(v);
        metric.set_gauge(g);
    }
}

impl prometheus::core::Collector for Collector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<proto::MetricFamily> {
        let snapshot = self.state.snapshot();
        snapshot
            .metrics()
            .iter()
            .map(|m| family(&snapshot, m))
            .collect()
    }
}
