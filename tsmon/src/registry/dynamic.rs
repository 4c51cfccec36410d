//! Metrics registered at run time: the `metrics` facade's, an attached registry's. Each gets a
//! descriptor like a declared metric's (leaked once per name: the set of names a process uses is
//! bounded), so every store, snapshot and exporter treats it as one. They are listed by
//! [`dynamic_catalog`](super::dynamic_catalog) and in the catalog's JSON, Markdown and text.

// Registering is for the features that bring runtime metrics (`metrics`); listing is for all.
#![cfg_attr(
    not(any(
        feature = "metrics",
        feature = "prometheus",
        feature = "prometheus-client"
    )),
    allow(dead_code)
)]

use parking_lot::RwLock;

use crate::desc::{DeclSite, MetricDesc, MetricKind, Units};
use crate::distribution::BucketerSpec;
use crate::error::Error;
use crate::field::{FieldDesc, FieldType};

/// Every metric registered at run time, by id (append-only).
static DYNAMIC: RwLock<Vec<&'static MetricDesc>> = RwLock::new(Vec::new());

/// The owner of the `metrics` facade's names in a store (see `Store::claim_dynamic`): every
/// recorder of a State shares them. An attached registry is an owner of its own
/// ([`new_owner`]).
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) const FACADE: u64 = 0;

/// A metric to register at run time. Its name and label names must already be valid (see
/// [`sanitize_name`] and [`sanitize_label`]).
#[derive(Debug, Clone)]
pub(crate) struct DynamicSpec {
    pub(crate) name: String,
    pub(crate) kind: MetricKind,
    /// String fields, in the order of the series' keys.
    pub(crate) fields: Vec<String>,
    pub(crate) units: Option<Units>,
    pub(crate) description: String,
    pub(crate) bucketer: Option<BucketerSpec>,
    /// The crate it comes through (`metrics`, `prometheus`), for its declaration site.
    pub(crate) via: &'static str,
}

/// The id and descriptor of the metric `spec` describes: the one registered before under its
/// name, or a new one.
///
/// # Errors
///
/// [`Error::MetricRefused`] when the name, or its Prometheus name, belongs to a declared metric
/// or to a runtime one of another kind, fields or units.
pub(crate) fn register(spec: &DynamicSpec) -> Result<(usize, &'static MetricDesc), Error> {
    if let Some(found) = find(spec, &DYNAMIC.read())? {
        return Ok(found);
    }
    let mut all = DYNAMIC.write();
    if let Some(found) = find(spec, &all)? {
        return Ok(found);
    }
    let prometheus = crate::desc::prometheus_name(&spec.name, spec.units);
    let series = prometheus.clone() + crate::desc::FamilyType::of(spec.kind).sample_suffix();
    for d in super::catalog() {
        if d.name == spec.name
            || d.prometheus_name() == prometheus
            || d.prometheus_series_name() == series
        {
            return Err(Error::MetricRefused(format!(
                "{:?} (through `{}`) maps to the Prometheus name {prometheus:?}, which the metric \
                 {:?} declared at {} already has",
                spec.name, spec.via, d.name, d.site
            )));
        }
    }
    for d in all.iter() {
        if d.prometheus_name() == prometheus || d.prometheus_series_name() == series {
            return Err(Error::MetricRefused(format!(
                "{:?} (through `{}`) maps to the Prometheus name {prometheus:?}, which the metric \
                 {:?} {} already has",
                spec.name, spec.via, d.name, d.site
            )));
        }
    }
    let leak = |s: &str| -> &'static str { Box::leak(s.to_owned().into_boxed_str()) };
    let fields: Box<[FieldDesc]> = spec
        .fields
        .iter()
        .map(|f| FieldDesc::new(leak(f), FieldType::String))
        .collect();
    let site: &'static DeclSite = Box::leak(Box::new(DeclSite::runtime(spec.via)));
    let desc: &'static MetricDesc = Box::leak(Box::new(MetricDesc {
        name: leak(&spec.name),
        kind: spec.kind,
        description: leak(&spec.description),
        fields: Box::leak(fields),
        units: spec.units,
        bucketer: spec.bucketer,
        max_series: 0,
        shared: false,
        site: *site,
    }));
    all.push(desc);
    Ok((all.len() - 1, desc))
}

/// The entry of `spec`'s name, if there is one and it matches.
fn find(
    spec: &DynamicSpec,
    all: &[&'static MetricDesc],
) -> Result<Option<(usize, &'static MetricDesc)>, Error> {
    let Some((id, &d)) = all.iter().enumerate().find(|(_, d)| d.name == spec.name) else {
        return Ok(None);
    };
    let same_fields = d.fields.len() == spec.fields.len()
        && d.fields.iter().zip(&spec.fields).all(|(a, b)| a.name == b);
    if d.kind != spec.kind || !same_fields || d.units != spec.units {
        return Err(Error::MetricRefused(format!(
            "{:?} (through `{}`) was registered as {} with labels [{}]{}; it comes again as {} with \
             labels [{}]{}",
            spec.name,
            spec.via,
            d.kind.as_str(),
            d.fields
                .iter()
                .map(|f| f.name)
                .collect::<Vec<_>>()
                .join(", "),
            d.units
                .map(|u| format!(" in {}", u.go_str()))
                .unwrap_or_default(),
            spec.kind.as_str(),
            spec.fields.join(", "),
            spec.units
                .map(|u| format!(" in {}", u.go_str()))
                .unwrap_or_default(),
        )));
    }
    Ok(Some((id, d)))
}

/// Every metric registered at run time so far, in registration order.
pub(crate) fn all() -> Vec<&'static MetricDesc> {
    DYNAMIC.read().clone()
}

/// A new owner id for an attached registry.
#[cfg_attr(
    not(any(feature = "prometheus", feature = "prometheus-client")),
    allow(dead_code)
)]
pub(crate) fn new_owner() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// A metric name a facade gave, made one tsmon and Prometheus take: what is not an ASCII letter,
/// digit, `_` or `/` becomes `_` (`http.requests` is `http_requests`), and a leading digit gets
/// a `_` before it.
pub(crate) fn sanitize_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '/' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// Label names that tsmon puts on every series or that Prometheus reserves (as for declared
/// fields).
const RESERVED_LABELS: &[&str] = &[
    "service_name",
    "job_name",
    "data_center",
    "host_name",
    "task_num",
    "le",
    "quantile",
    "tsmon_overflow",
];

/// A label name a facade gave, made valid: as [`sanitize_name`] without `/`; a reserved name
/// (`le`, `task_num`, one starting with `__`) gets the prefix `exported_`, as Prometheus does
/// with a scraped label that clashes with one of its own.
pub(crate) fn sanitize_label(name: &str) -> String {
    let out = sanitize_name(name).replace('/', "_");
    if out.starts_with("__") || RESERVED_LABELS.contains(&out.as_str()) {
        format!("exported_{out}")
    } else {
        out
    }
}

/// Label pairs made valid ([`sanitize_label`]) and sorted by name: the field order of a runtime
/// metric, whatever order its source gives them in.
pub(crate) fn sorted_labels<'a>(
    labels: impl Iterator<Item = (&'a str, &'a str)>,
) -> Vec<(String, &'a str)> {
    let mut out: Vec<(String, &str)> = labels.map(|(k, v)| (sanitize_label(k), v)).collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, kind: MetricKind, fields: &[&str]) -> DynamicSpec {
        DynamicSpec {
            name: name.to_owned(),
            kind,
            fields: fields.iter().map(|f| (*f).to_owned()).collect(),
            units: None,
            description: String::new(),
            bucketer: None,
            via: "metrics",
        }
    }

    #[test]
    fn a_name_is_registered_once_and_refused_in_another_shape() {
        let (id, d) = register(&spec("unit_dyn_a", MetricKind::Counter, &["k"])).unwrap();
        let (again, d2) = register(&spec("unit_dyn_a", MetricKind::Counter, &["k"])).unwrap();
        assert_eq!((id, d.name), (again, d2.name));
        assert!(std::ptr::eq(d, d2));
        assert!(all().iter().any(|d| std::ptr::eq(*d, d2)));
        let err = register(&spec("unit_dyn_a", MetricKind::FloatGauge, &["k"])).unwrap_err();
        assert!(
            err.to_string().contains("comes again as FloatGauge"),
            "{err}"
        );
        let err = register(&spec("unit_dyn_a", MetricKind::Counter, &["j"])).unwrap_err();
        assert!(err.to_string().contains("labels [j]"), "{err}");
        assert_eq!(
            d.site.to_string(),
            "registered at run time (through `metrics`)"
        );
    }

    #[test]
    fn a_declared_metrics_name_or_prometheus_name_is_refused() {
        let err = register(&spec(
            "tsmon/store/overflow_writes",
            MetricKind::Counter,
            &[],
        ))
        .unwrap_err();
        assert!(err.to_string().contains("declared at"), "{err}");
        // Another spelling of the same Prometheus name.
        let err = register(&spec(
            "tsmon_store_overflow_writes",
            MetricKind::Counter,
            &[],
        ))
        .unwrap_err();
        assert!(
            err.to_string().contains("tsmon_store_overflow_writes"),
            "{err}"
        );
        register(&spec("unit_dyn_b", MetricKind::FloatGauge, &[])).unwrap();
        let err = register(&spec("unit/dyn/b", MetricKind::FloatGauge, &[])).unwrap_err();
        assert!(err.to_string().contains("registered at run time"), "{err}");
    }

    #[test]
    fn names_and_labels_are_made_valid() {
        assert_eq!(sanitize_name("http.requests-in"), "http_requests_in");
        assert_eq!(sanitize_name("9lives"), "_9lives");
        assert_eq!(sanitize_label("le"), "exported_le");
        assert_eq!(sanitize_label("__name__"), "exported___name__");
        assert_eq!(sanitize_label("a/b.c"), "a_b_c");
    }
}
