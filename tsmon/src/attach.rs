//! Existing registries served next to tsmon's metrics: a `prometheus::Registry` (feature
//! `prometheus`) or a `prometheus-client` registry (feature `prometheus-client`), attached to a
//! State, goes out through the pull endpoint, the Pushgateway and remote-write with the
//! State's target labels. This is the migration path: adopt tsmon without rewriting every
//! metric first.
//!
//! ```
//! # #[cfg(feature = "prometheus")] {
//! let registry = prometheus::Registry::new();
//! let jobs = prometheus::IntCounterVec::new(
//!     prometheus::Opts::new("legacy_jobs_total", "Jobs run."), &["queue"]).unwrap();
//! registry.register(Box::new(jobs.clone())).unwrap();
//! jobs.with_label_values(&["mail"]).inc_by(3);
//!
//! let state = tsmon::State::builder().build().unwrap();
//! tsmon::attach::prometheus_registry(&state, registry).unwrap();
//! let text = state.encode(tsmon::exposition::Format::Text);
//! assert!(text.contains("# TYPE legacy_jobs_total counter"), "{text}");
//! assert!(text.lines().any(|l| l.starts_with("legacy_jobs_total{") && l.ends_with(r#"queue="mail"} 3.0"#)), "{text}");
//! # }
//! ```
//!
//! # How it works
//!
//! Attaching gathers the registry once and enters each of its families in the catalog as a
//! dynamic entry ([`registry::dynamic_catalog`]), owned by
//! this attachment. Before every snapshot (a flush) and every scrape, the registry is gathered
//! again and its values copied into the State's store, where every exporter reads them:
//!
//! - a counter becomes a float counter (`_total` is left out of the name and added back by
//!   the exposition), a gauge or an untyped metric a float gauge, a histogram a cumulative
//!   distribution with the histogram's own bounds (its `le` counts come out exactly as they
//!   went in);
//! - names and label names are made valid as for the `metrics` facade (see
//!   `tsmon::metrics`' docs, feature `metrics`): a label tsmon or Prometheus
//!   reserves (`job_name`, `task_num`, `le`, …) is renamed `exported_<name>`;
//! - a series' start time is when tsmon first saw it (the registries keep none).
//!
//! # What is refused
//!
//! At attach time, an [`Error::MetricRefused`] names the first family that cannot join: its
//! name (or the Prometheus name it maps to) is a declared metric's, the facade's or another
//! attached registry's (one family per name), or it is a summary (quantiles have no tsmon
//! counterpart, and cannot be aggregated across tasks). Nothing is attached then. A family
//! registered in the registry later and refused, or a series whose labels differ from its
//! family's first, is reported once (see [`report`](crate::report)) and counted in
//! `tsmon/attach/refused`, and left out; the rest goes on.

use std::sync::Arc;

use parking_lot::Mutex;

use crate::desc::MetricKind;
use crate::distribution::BucketerSpec;
use crate::error::Error;
use crate::registry::{self, DynamicSpec};
use crate::state::State;
use crate::store::Store;
use crate::store::cell::{DistCell, FloatCell};

// The static allows `unsafe_code`: linkme enters it in the catalog with a `#[link_section]`.
crate::metric! {
    /// Families and series of attached registries left out, by family name and reason
    /// (`clash`, `summary`, `labels`, `buckets`).
    #[allow(unsafe_code)]
    pub(crate) static REFUSED: Counter(family: String, reason: String) = "tsmon/attach/refused";
}

/// One family of a foreign registry, in terms both crates' models map to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Family {
    pub(crate) name: String,
    pub(crate) help: String,
    pub(crate) kind: FamilyKind,
    pub(crate) series: Vec<Sample>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FamilyKind {
    Counter,
    Gauge,
    Histogram,
    Summary,
}

/// One series: its labels and value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    pub(crate) labels: Vec<(String, String)>,
    pub(crate) value: SampleValue,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SampleValue {
    Number(f64),
    /// Finite upper bounds with their cumulative counts, the total count and the sum.
    Histogram {
        bounds: Vec<(f64, u64)>,
        count: u64,
        sum: f64,
    },
    /// A summary's, which is not copied.
    Other,
}

/// What one attached family became: its runtime metric, and its label names in key order.
struct Entry {
    name: String,
    id: usize,
    desc: &'static crate::desc::MetricDesc,
    labels: Vec<String>,
    bounds: Vec<f64>,
}

/// An attached registry: how to gather it, and what its families became.
struct Attached {
    via: &'static str,
    owner: u64,
    gather: Box<dyn Fn() -> Vec<Family> + Send + Sync>,
    entries: Mutex<Vec<Entry>>,
}

/// Attaches a `prometheus::Registry` to `state`: its metrics go out with tsmon's, from the
/// next snapshot and scrape on (see the [module](self) docs).
///
/// # Errors
///
/// [`Error::MetricRefused`] for a family that cannot join (nothing is attached then).
///
/// ```
/// let registry = prometheus::Registry::new();
/// let depth = prometheus::Gauge::new("legacy_queue_depth", "Queued jobs.").unwrap();
/// registry.register(Box::new(depth.clone())).unwrap();
/// depth.set(4.0);
/// let state = tsmon::State::builder().build().unwrap();
/// tsmon::attach::prometheus_registry(&state, registry.clone()).unwrap();
/// let snap = state.snapshot();
/// let m = snap.metric("legacy_queue_depth").unwrap();
/// assert_eq!(m.cells()[0].value(), &tsmon::store::Value::Float(4.0));
/// // A family tsmon has already, from a second registry: refused.
/// let again = prometheus::Registry::new();
/// again.register(Box::new(prometheus::Gauge::new("legacy_queue_depth", "Again.").unwrap())).unwrap();
/// let err = tsmon::attach::prometheus_registry(&state, again).unwrap_err();
/// assert!(err.to_string().contains("one family per name"), "{err}");
/// ```
#[cfg(feature = "prometheus")]
#[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
pub fn prometheus_registry(state: &State, registry: prometheus::Registry) -> Result<(), Error> {
    attach(
        state,
        "prometheus",
        Box::new(move || from_prometheus(&registry.gather())),
    )
}

/// Attaches a `prometheus-client` registry to `state`: its metrics go out with tsmon's, from
/// the next snapshot and scrape on (see the [module](self) docs). The registry is read
/// through `prometheus-client`'s own protobuf encoder.
///
/// # Errors
///
/// [`Error::MetricRefused`] for a family that cannot join (nothing is attached then), or
/// when the registry cannot be encoded.
///
/// ```
/// use prometheus_client::metrics::counter::Counter;
/// let mut registry = prometheus_client::registry::Registry::default();
/// let hits: Counter = Counter::default();
/// registry.register("legacy_hits", "Cache hits.", hits.clone());
/// hits.inc_by(5);
/// let state = tsmon::State::builder().build().unwrap();
/// tsmon::attach::prometheus_client_registry(&state, std::sync::Arc::new(registry)).unwrap();
/// let text = state.encode(tsmon::exposition::Format::Text);
/// assert!(text.lines().any(|l| l.starts_with("legacy_hits_total{") && l.ends_with(" 5.0")), "{text}");
/// ```
#[cfg(feature = "prometheus-client")]
#[cfg_attr(docsrs, doc(cfg(feature = "prometheus-client")))]
pub fn prometheus_client_registry(
    state: &State,
    registry: Arc<prometheus_client::registry::Registry>,
) -> Result<(), Error> {
    use prometheus_client::encoding::prometheus_protobuf::encode;
    encode(&registry).map_err(|e| {
        Error::MetricRefused(format!(
            "the prometheus-client registry cannot be encoded: {e}"
        ))
    })?;
    attach(
        state,
        "prometheus-client",
        Box::new(move || match encode(&registry) {
            Ok(families) => from_prometheus_client(&families),
            Err(e) => {
                crate::report::problem(
                    "attached prometheus-client registry",
                    format!("an attached prometheus-client registry cannot be encoded: {e}"),
                );
                Vec::new()
            }
        }),
    )
}

fn attach(
    state: &State,
    via: &'static str,
    gather: Box<dyn Fn() -> Vec<Family> + Send + Sync>,
) -> Result<(), Error> {
    let attached = Arc::new(Attached {
        via,
        owner: registry::new_owner(),
        gather,
        entries: Mutex::new(Vec::new()),
    });
    let families = (attached.gather)();
    {
        let mut entries = attached.entries.lock();
        for f in &families {
            entries.push(attached.register(state.store(), f).map_err(|(_, e)| e)?);
        }
    }
    let hook = Arc::clone(&attached);
    state
        .store()
        .add_collector(Arc::new(move |store: &Store| hook.copy_into(store)));
    Ok(())
}

impl Attached {
    /// Registers `family` as a runtime metric.
    fn register(&self, store: &Store, family: &Family) -> Result<Entry, (&'static str, Error)> {
        let kind = match family.kind {
            FamilyKind::Counter => MetricKind::FloatCounter,
            FamilyKind::Gauge => MetricKind::FloatGauge,
            FamilyKind::Histogram => MetricKind::CumulativeDistribution,
            FamilyKind::Summary => {
                return Err((
                    "summary",
                    Error::MetricRefused(format!(
                        "{:?} (through `{}`) is a summary: its quantiles have no tsmon \
                         counterpart and cannot be aggregated across tasks; make it a histogram",
                        family.name, self.via
                    )),
                ));
            }
        };
        let mut name = registry::sanitize_name(&family.name);
        if kind == MetricKind::FloatCounter
            && let Some(stem) = name.strip_suffix("_total")
            && !stem.is_empty()
        {
            name = stem.to_owned();
        }
        let mut labels: Vec<String> = family
            .series
            .first()
            .map(|s| {
                s.labels
                    .iter()
                    .map(|(k, _)| registry::sanitize_label(k))
                    .collect()
            })
            .unwrap_or_default();
        labels.sort();
        labels.dedup();
        let bounds: Vec<f64> = match family.series.first().map(|s| &s.value) {
            Some(SampleValue::Histogram { bounds, .. }) => bounds.iter().map(|b| b.0).collect(),
            _ => Vec::new(),
        };
        let bucketer = (kind == MetricKind::CumulativeDistribution).then(|| {
            let leaked: &'static [f64] = Box::leak(bounds.clone().into_boxed_slice());
            BucketerSpec::explicit(leaked)
        });
        if let Some(spec) = bucketer {
            spec.bucketer().map_err(|e| ("buckets", e))?;
        }
        let spec = DynamicSpec {
            name,
            kind,
            fields: labels.clone(),
            units: None,
            description: family.help.clone(),
            bucketer,
            via: self.via,
        };
        let (id, desc) = registry::register_dynamic(&spec).map_err(|e| ("clash", e))?;
        if !store.claim_dynamic(id, self.owner) {
            return Err((
                "clash",
                Error::MetricRefused(format!(
                    "{:?} (through `{}`) is another registry's or the `metrics` facade's in this \
                     State; one family per name",
                    family.name, self.via
                )),
            ));
        }
        Ok(Entry {
            name: family.name.clone(),
            id,
            desc,
            labels,
            bounds,
        })
    }

    /// Gathers the registry and copies its values into `store`.
    fn copy_into(&self, store: &Store) {
        let families = (self.gather)();
        let mut entries = self.entries.lock();
        for family in &families {
            let at = match entries.iter().position(|e| e.name == family.name) {
                Some(at) => at,
                None => match self.register(store, family) {
                    Ok(entry) => {
                        entries.push(entry);
                        entries.len() - 1
                    }
                    Err((reason, err)) => {
                        refuse(store, &family.name, reason, &err);
                        continue;
                    }
                },
            };
            let entry = &entries[at];
            for sample in &family.series {
                if let Err((reason, why)) = copy_sample(store, entry, sample) {
                    let err = Error::MetricRefused(format!(
                        "a series of {:?} (through `{}`) is left out: {why}",
                        family.name, self.via
                    ));
                    refuse(store, &family.name, reason, &err);
                }
            }
        }
    }
}

fn refuse(store: &Store, family: &str, reason: &str, err: &Error) {
    crate::report::problem(&format!("attached family {family}"), err);
    REFUSED.write_in(store, (family, reason), |s| s.cell.add(1));
}

/// Copies one series' value into its runtime metric.
fn copy_sample(
    store: &Store,
    entry: &Entry,
    sample: &Sample,
) -> Result<(), (&'static str, String)> {
    let labels =
        registry::sorted_labels(sample.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    if labels.len() != entry.labels.len()
        || labels.iter().zip(&entry.labels).any(|(a, b)| a.0 != *b)
    {
        return Err((
            "labels",
            format!(
                "its labels [{}] are not the family's [{}]",
                labels
                    .iter()
                    .map(|l| l.0.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                entry.labels.join(", ")
            ),
        ));
    }
    let key = crate::store::string_key(labels.iter().map(|(_, v)| *v));
    match (&sample.value, entry.desc.kind) {
        (SampleValue::Number(v), MetricKind::FloatCounter | MetricKind::FloatGauge) => {
            if let Some(s) = store.dynamic_series::<FloatCell>(entry.id, entry.desc, &key) {
                s.series.cell.store(*v);
                s.series.mark_set();
            }
            Ok(())
        }
        (SampleValue::Histogram { bounds, count, sum }, MetricKind::CumulativeDistribution) => {
            let same = bounds.len() == entry.bounds.len()
                && bounds.iter().zip(&entry.bounds).all(|(a, b)| a.0 == *b);
            if !same {
                return Err((
                    "buckets",
                    "its buckets are not the family's first".to_owned(),
                ));
            }
            // tsmon's buckets: below the first bound, between bounds, from the last one.
            let mut counts = Vec::with_capacity(bounds.len() + 1);
            let mut below = 0;
            for &(_, cumulative) in bounds {
                counts.push(cumulative.saturating_sub(below));
                below = cumulative;
            }
            counts.push(count.saturating_sub(below));
            if let Some(s) = store.dynamic_series::<DistCell>(entry.id, entry.desc, &key)
                && !s.series.cell.replace(&counts, *sum)
            {
                return Err(("buckets", "its buckets do not fit the series".to_owned()));
            }
            Ok(())
        }
        _ => Err(("labels", "its value is not of the family's kind".to_owned())),
    }
}

/// The `prometheus` crate's families.
#[cfg(feature = "prometheus")]
fn from_prometheus(families: &[prometheus::proto::MetricFamily]) -> Vec<Family> {
    use prometheus::proto::MetricType;
    families
        .iter()
        .map(|f| {
            let kind = match f.get_field_type() {
                MetricType::COUNTER => FamilyKind::Counter,
                MetricType::GAUGE | MetricType::UNTYPED => FamilyKind::Gauge,
                MetricType::HISTOGRAM => FamilyKind::Histogram,
                MetricType::SUMMARY => FamilyKind::Summary,
            };
            let series = f
                .get_metric()
                .iter()
                .map(|m| Sample {
                    labels: m
                        .get_label()
                        .iter()
                        .map(|l| (l.name().to_owned(), l.value().to_owned()))
                        .collect(),
                    value: match kind {
                        FamilyKind::Counter => SampleValue::Number(m.get_counter().get_value()),
                        FamilyKind::Gauge if f.get_field_type() == MetricType::UNTYPED => {
                            // Deprecated as "protobuf specific", and the only accessor there is.
                            #[allow(deprecated)]
                            let v = m.get_untyped().get_value();
                            SampleValue::Number(v)
                        }
                        FamilyKind::Gauge => SampleValue::Number(m.get_gauge().get_value()),
                        FamilyKind::Histogram => {
                            let h = m.get_histogram();
                            SampleValue::Histogram {
                                bounds: h
                                    .get_bucket()
                                    .iter()
                                    .filter(|b| b.upper_bound().is_finite())
                                    .map(|b| (b.upper_bound(), b.cumulative_count()))
                                    .collect(),
                                count: h.get_sample_count(),
                                sum: h.get_sample_sum(),
                            }
                        }
                        FamilyKind::Summary => SampleValue::Other,
                    },
                })
                .collect();
            Family {
                name: f.name().to_owned(),
                help: f.help().to_owned(),
                kind,
                series,
            }
        })
        .collect()
}

/// `prometheus-client`'s families, from its Prometheus protobuf encoder.
#[cfg(feature = "prometheus-client")]
fn from_prometheus_client(
    families: &[prometheus_client::encoding::prometheus_protobuf::prometheus_data_model::MetricFamily],
) -> Vec<Family> {
    use prometheus_client::encoding::prometheus_protobuf::prometheus_data_model::MetricType;
    families
        .iter()
        .map(|f| {
            let ty = MetricType::try_from(f.r#type).unwrap_or(MetricType::Untyped);
            let kind = match ty {
                MetricType::Counter => FamilyKind::Counter,
                MetricType::Histogram | MetricType::GaugeHistogram => FamilyKind::Histogram,
                MetricType::Summary => FamilyKind::Summary,
                _ => FamilyKind::Gauge,
            };
            let series = f
                .metric
                .iter()
                .map(|m| Sample {
                    labels: m
                        .label
                        .iter()
                        .map(|l| (l.name.clone(), l.value.clone()))
                        .collect(),
                    value: if let Some(c) = &m.counter {
                        SampleValue::Number(c.value)
                    } else if let Some(g) = &m.gauge {
                        SampleValue::Number(g.value)
                    } else if let Some(u) = &m.untyped {
                        SampleValue::Number(u.value)
                    } else if let Some(h) = &m.histogram {
                        SampleValue::Histogram {
                            bounds: h
                                .bucket
                                .iter()
                                .filter(|b| b.upper_bound.is_finite())
                                .map(|b| (b.upper_bound, b.cumulative_count))
                                .collect(),
                            count: h.sample_count,
                            sum: h.sample_sum,
                        }
                    } else {
                        SampleValue::Other
                    },
                })
                .collect();
            Family {
                name: f.name.clone(),
                help: f.help.clone(),
                kind,
                series,
            }
        })
        .collect()
}
