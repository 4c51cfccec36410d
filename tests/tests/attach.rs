//! Attached registries (`tsmon::attach`): a `prometheus::Registry` and a `prometheus-client`
//! registry served next to tsmon's metrics, values exact (histogram `le` counts included),
//! with the State's target labels, scraped by a real Prometheus; clashes refused at attach.

use std::sync::Arc;

use tsmon::State;
use tsmon::exposition::Format;
use tsmon::store::Value;
use tsmon_tests::{poll_until, prom_query, pulled_state, scrape_config, start_prometheus};

fn target(job: &str) -> tsmon::Target {
    tsmon::Target::new("fleet", job).with_data_center("dc1")
}

/// The `name_bucket` lines of an exposition: each `le` and its count, for series matching
/// `filter`.
fn buckets(text: &str, name: &str, filter: &str) -> Vec<(f64, f64)> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}_bucket{{")) && l.contains(filter))
        .map(|l| {
            let le = l.split("le=\"").nth(1).unwrap().split('"').next().unwrap();
            let v: f64 = l.rsplit(' ').next().unwrap().parse().unwrap();
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap()
            };
            (le, v)
        })
        .collect()
}

fn legacy_registry() -> (prometheus::Registry, prometheus::HistogramVec) {
    let registry = prometheus::Registry::new();
    let jobs = prometheus::IntCounterVec::new(
        prometheus::Opts::new("legacy_jobs_total", "Jobs run."),
        &["queue", "job_name"],
    )
    .unwrap();
    let depth = prometheus::Gauge::new("legacy_depth", "Queue depth.").unwrap();
    let wait = prometheus::HistogramVec::new(
        prometheus::HistogramOpts::new("legacy_wait_seconds", "Time queued.")
            .buckets(vec![0.01, 0.1, 1.0]),
        &["queue"],
    )
    .unwrap();
    registry.register(Box::new(jobs.clone())).unwrap();
    registry.register(Box::new(depth.clone())).unwrap();
    registry.register(Box::new(wait.clone())).unwrap();
    jobs.with_label_values(&["mail", "nightly"]).inc_by(7);
    jobs.with_label_values(&["sms", "nightly"]).inc_by(2);
    depth.set(12.5);
    for x in [0.005, 0.01, 0.05, 0.5, 0.5, 3.0] {
        wait.with_label_values(&["mail"]).observe(x);
    }
    (registry, wait)
}

#[test]
fn a_prometheus_registry_goes_out_exact_and_follows_later_writes() {
    let (registry, wait) = legacy_registry();
    let own = prometheus::TextEncoder::new()
        .encode_to_string(&registry.gather())
        .unwrap();
    let state = State::builder().build().unwrap();
    tsmon::attach::prometheus_registry(&state, registry.clone()).unwrap();
    let text = state.encode(Format::Text);
    // The histogram's `le` counts are the registry's own.
    assert_eq!(
        buckets(&text, "legacy_wait_seconds", r#"queue="mail""#),
        buckets(&own, "legacy_wait_seconds", r#"queue="mail""#),
        "{text}"
    );
    assert!(text.contains("# TYPE legacy_jobs_total counter"), "{text}");
    // `job_name` is the target's label: the registry's is kept as `exported_job_name`.
    assert!(
        text.lines().any(|l| l.starts_with("legacy_jobs_total{")
            && l.contains(r#"exported_job_name="nightly",queue="mail"} 7"#)),
        "{text}"
    );
    let snap = state.snapshot();
    let depth = snap.metric("legacy_depth").unwrap();
    assert_eq!(depth.cells()[0].value(), &Value::Float(12.5));
    assert_eq!(depth.desc().description(), "Queue depth.");
    assert!(
        tsmon::registry::dynamic_catalog()
            .iter()
            .any(|d| d.name() == "legacy_wait_seconds" && d.site().line() == 0)
    );
    // Later writes, and a family registered after the attach, show in the next snapshot.
    wait.with_label_values(&["sms"]).observe(0.2);
    let late = prometheus::IntGauge::new("legacy_late", "Registered later.").unwrap();
    registry.register(Box::new(late.clone())).unwrap();
    late.set(3);
    let snap = state.snapshot();
    let wait = snap.metric("legacy_wait_seconds").unwrap();
    assert_eq!(wait.cells().len(), 2);
    assert_eq!(
        snap.metric("legacy_late").unwrap().cells()[0].value(),
        &Value::Float(3.0)
    );
}

#[test]
fn clashes_and_summaries_are_refused_at_attach_and_nothing_is_attached() {
    let state = State::builder().build().unwrap();
    // tsmon's own metric, under its Prometheus name.
    let clash = prometheus::Registry::new();
    clash
        .register(Box::new(
            prometheus::IntCounter::new("tsmon_store_overflow_writes_total", "Mine.").unwrap(),
        ))
        .unwrap();
    clash
        .register(Box::new(
            prometheus::IntCounter::new("attach_clash_other", "Other.").unwrap(),
        ))
        .unwrap();
    let err = tsmon::attach::prometheus_registry(&state, clash).unwrap_err();
    assert!(
        err.to_string().contains("tsmon/store/overflow_writes"),
        "{err}"
    );
    // A name another attached registry has.
    let first = prometheus::Registry::new();
    first
        .register(Box::new(
            prometheus::Gauge::new("attach_shared", "First.").unwrap(),
        ))
        .unwrap();
    tsmon::attach::prometheus_registry(&state, first).unwrap();
    let second = prometheus::Registry::new();
    second
        .register(Box::new(
            prometheus::Gauge::new("attach_shared", "Second.").unwrap(),
        ))
        .unwrap();
    let err = tsmon::attach::prometheus_registry(&state, second).unwrap_err();
    assert!(err.to_string().contains("one family per name"), "{err}");
    // A summary: the `prometheus` crate has none, prometheus-client's protobuf neither; a
    // family a collector makes does.
    struct Summaries;
    impl prometheus::core::Collector for Summaries {
        fn desc(&self) -> Vec<&prometheus::core::Desc> {
            Vec::new()
        }
        fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
            let mut f = prometheus::proto::MetricFamily::default();
            f.set_name("attach_latency_summary".to_owned());
            f.set_field_type(prometheus::proto::MetricType::SUMMARY);
            let mut m = prometheus::proto::Metric::default();
            m.set_summary(prometheus::proto::Summary::default());
            f.set_metric(vec![m]);
            vec![f]
        }
    }
    let summary = prometheus::Registry::new();
    summary.register(Box::new(Summaries)).unwrap();
    let err = tsmon::attach::prometheus_registry(&state, summary).unwrap_err();
    assert!(err.to_string().contains("is a summary"), "{err}");
    let snap = state.snapshot();
    assert!(
        snap.metric("attach_clash_other").is_none(),
        "nothing attached"
    );
    assert!(snap.metric("attach_latency_summary").is_none());
}

#[test]
fn a_family_that_clashes_later_is_left_out_counted_and_the_rest_goes_on() {
    let state = State::builder().build().unwrap();
    let registry = prometheus::Registry::new();
    let ok = prometheus::Gauge::new("attach_later_ok", "Fine.").unwrap();
    registry.register(Box::new(ok.clone())).unwrap();
    ok.set(1.0);
    tsmon::attach::prometheus_registry(&state, registry.clone()).unwrap();
    registry
        .register(Box::new(
            prometheus::IntCounter::new("tsmon_flush_flushes_total", "Taken.").unwrap(),
        ))
        .unwrap();
    let snap = state.snapshot();
    assert_eq!(
        snap.metric("attach_later_ok").unwrap().cells()[0].value(),
        &Value::Float(1.0)
    );
    let refused = snap.metric("tsmon/attach/refused").expect("counted");
    let values: Vec<String> = refused
        .field_values(&refused.cells()[0])
        .map(|v| v.to_string())
        .collect();
    assert_eq!(values, ["tsmon_flush_flushes_total", "clash"]);
}

#[test]
fn a_prometheus_client_registry_goes_out_exact() {
    use prometheus_client::encoding::EncodeLabelSet;
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::family::Family;
    use prometheus_client::metrics::gauge::Gauge;
    use prometheus_client::metrics::histogram::Histogram;

    #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
    struct Route {
        route: String,
    }
    let mut registry = prometheus_client::registry::Registry::default();
    let hits = Family::<Route, Counter>::default();
    registry.register("pc_hits", "Cache hits", hits.clone());
    let temp: Gauge<f64, std::sync::atomic::AtomicU64> = Gauge::default();
    registry.register("pc_temperature", "Temperature", temp.clone());
    let sizes = Histogram::new([10.0, 100.0, 1000.0]);
    registry.register("pc_sizes", "Sizes", sizes.clone());
    hits.get_or_create(&Route { route: "/a".into() }).inc_by(4);
    hits.get_or_create(&Route { route: "/b".into() }).inc();
    temp.set(21.5);
    for x in [5.0, 10.0, 50.0, 5000.0] {
        sizes.observe(x);
    }
    let mut own = String::new();
    prometheus_client::encoding::text::encode(&mut own, &registry).unwrap();

    let state = State::builder().build().unwrap();
    tsmon::attach::prometheus_client_registry(&state, Arc::new(registry)).unwrap();
    let text = state.encode(Format::Text);
    assert!(
        text.lines()
            .any(|l| l.starts_with("pc_hits_total{") && l.ends_with(r#"route="/a"} 4.0"#)),
        "{text}"
    );
    assert_eq!(
        buckets(&text, "pc_sizes", ""),
        buckets(&own, "pc_sizes", ""),
        "{text}\n{own}"
    );
    let snap = state.snapshot();
    assert_eq!(
        snap.metric("pc_temperature").unwrap().cells()[0].value(),
        &Value::Float(21.5)
    );
}

#[test]
fn an_attached_registry_reaches_prometheus_with_the_target_labels() {
    let (registry, _wait) = legacy_registry();
    let state = pulled_state(target("attached"), 6, |_| {});
    tsmon::attach::prometheus_registry(&state, registry).unwrap();
    let config = scrape_config(&[("attached", &state)]);
    let Some((prom, _dir)) = start_prometheus("attach", &config) else {
        return;
    };
    let got = poll_until(60, "the attached counter in Prometheus", || {
        let r = prom_query(
            &prom.addr,
            r#"legacy_jobs_total{job_name="attached",queue="mail"}"#,
        );
        (!r.is_empty()).then_some(r)
    });
    let (labels, value) = &got[0];
    assert_eq!(*value, 7.0);
    assert_eq!(labels["task_num"], "6");
    assert_eq!(labels["exported_job_name"], "nightly");
    let p50 = prom_query(
        &prom.addr,
        r#"histogram_quantile(0.5, legacy_wait_seconds_bucket{job_name="attached"})"#,
    );
    // Six samples: three at or below 0.05, the median between 0.01 and 0.1 by interpolation.
    assert!(
        p50.first().is_some_and(|(_, v)| (0.01..=0.1).contains(v)),
        "{p50:?}"
    );
}
