//! The store as a `prometheus::core::Collector`, so a tsmon State can be registered in any
//! `prometheus::Registry` next to a service's existing metrics.

use std::collections::HashMap;

use prometheus::core::Desc;
use prometheus::proto;

use super::model::{self, Dialect, Extra, FamilyType, Number};
use crate::state::State;
use crate::store::{MetricSnapshot, Snapshot};

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
                let name = d.prometheus_series_name();
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

/// The `prometheus` crate has no info or gauge-histogram type: a gauge and a histogram.
fn proto_type(ty: FamilyType) -> proto::MetricType {
    match ty {
        FamilyType::Counter => proto::MetricType::COUNTER,
        FamilyType::Gauge | FamilyType::Info => proto::MetricType::GAUGE,
        FamilyType::Histogram | FamilyType::GaugeHistogram => proto::MetricType::HISTOGRAM,
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
    let ty = desc.family_type();
    let mut family = proto::MetricFamily::default();
    family.set_name(desc.prometheus_series_name());
    family.set_help(help(desc.description));
    family.set_field_type(proto_type(ty));
    let mut metrics = Vec::with_capacity(m.cells().len());
    for cell in m.cells() {
        let mut labels: Vec<proto::LabelPair> = model::labels(snapshot, m, cell)
            .into_iter()
            .map(|(n, v)| label(n, v.into_owned()))
            .collect();
        let mut metric = proto::Metric::default();
        let mut histogram = proto::Histogram::default();
        let mut buckets = Vec::new();
        model::samples(ty, Dialect::TEXT, cell.value(), cell.start_micros(), |s| {
            match (s.suffix, s.label) {
                // The crate adds the `+Inf` bucket itself, from the count.
                ("_bucket", Some((_, Extra::Le(bound)))) if bound.is_finite() => {
                    let mut bucket = proto::Bucket::default();
                    bucket.set_upper_bound(bound);
                    bucket.set_cumulative_count(u64::try_from(count(s.value)).unwrap_or(0));
                    buckets.push(bucket);
                }
                ("_bucket", _) => {}
                ("_count", _) => {
                    histogram.set_sample_count(u64::try_from(count(s.value)).unwrap_or(0));
                }
                ("_sum", _) => histogram.set_sample_sum(s.value.as_f64()),
                (_, label_of_sample) => {
                    if let Some((name, Extra::Value(v))) = label_of_sample {
                        labels.push(label(name, v.to_owned()));
                    }
                    set_number(&mut metric, ty, s.value.as_f64());
                }
            }
        });
        if matches!(ty, FamilyType::Histogram | FamilyType::GaugeHistogram) {
            histogram.set_bucket(buckets);
            metric.set_histogram(histogram);
        }
        metric.set_label(labels);
        metrics.push(metric);
    }
    family.set_metric(metrics);
    family
}

fn count(n: Number) -> i64 {
    match n {
        Number::Int(i) => i,
        Number::Float(f) => f as i64,
        Number::Micros(_) => 0,
    }
}

fn set_number(metric: &mut proto::Metric, ty: FamilyType, v: f64) {
    if ty == FamilyType::Counter {
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
