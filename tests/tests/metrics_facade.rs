//! The `metrics` facade's recorder (`tsmon::metrics`): what a crate emits through
//! `metrics::counter!` and the rest lands in the tsmon store, with the target labels, the
//! series cap and the monitors; clashes are refused out loud. `metrics-process` is the real
//! crate that emits through the facade.

use std::sync::Arc;

use tsmon::State;
use tsmon::exposition::Format;
use tsmon::store::Value;
use tsmon_tests::{poll_until, prom_query, pulled_state, scrape_config, start_prometheus};

fn target(job: &str) -> tsmon::Target {
    tsmon::Target::new("fleet", job).with_data_center("dc1")
}

fn int(state: &State, name: &str) -> Vec<(Vec<String>, i64)> {
    let snap = state.snapshot();
    let Some(m) = snap.metric(name) else {
        return Vec::new();
    };
    m.cells()
        .iter()
        .map(|c| {
            let fields = m
                .field_values(c)
                .map(|f| match f {
                    tsmon::field::FieldValue::Str(s) => s.to_owned(),
                    other => format!("{other:?}"),
                })
                .collect();
            match c.value() {
                Value::Int(v) => (fields, *v),
                other => panic!("{name}: {other:?}"),
            }
        })
        .collect()
}

fn float(state: &State, name: &str) -> f64 {
    let snap = state.snapshot();
    let m = snap.metric(name).unwrap_or_else(|| panic!("no {name}"));
    match m.cells()[0].value() {
        Value::Float(v) => *v,
        other => panic!("{name}: {other:?}"),
    }
}

#[test]
fn every_kind_lands_with_its_labels_units_and_description() {
    let state = State::builder().build().unwrap();
    let recorder = tsmon::metrics::Recorder::new(&state);
    metrics::with_local_recorder(&recorder, || {
        metrics::describe_counter!(
            "facade_requests_total",
            metrics::Unit::Count,
            "Requests served."
        );
        metrics::describe_histogram!(
            "facade_latency",
            metrics::Unit::Seconds,
            "Time per request."
        );
        for route in ["/a", "/b", "/a"] {
            metrics::counter!("facade_requests_total", "route" => route, "method" => "GET")
                .increment(1);
        }
        // Labels in another order are the same series.
        metrics::counter!("facade_requests_total", "method" => "GET", "route" => "/b")
            .increment(10);
        metrics::counter!("facade_cpu_total").absolute(40);
        metrics::counter!("facade_cpu_total").absolute(30); // lower: ignored
        metrics::gauge!("facade.queue-depth").set(5.0);
        metrics::gauge!("facade.queue-depth").increment(2.5);
        metrics::gauge!("facade.queue-depth").decrement(1.0);
        for x in [0.001, 0.002, 0.5] {
            metrics::histogram!("facade_latency", "route" => "/a").record(x);
        }
    });
    let mut requests = int(&state, "facade_requests");
    requests.sort();
    assert_eq!(
        requests,
        vec![
            (vec!["GET".into(), "/a".into()], 2),
            (vec!["GET".into(), "/b".into()], 11)
        ]
    );
    assert_eq!(int(&state, "facade_cpu"), vec![(vec![], 40)]);
    assert_eq!(float(&state, "facade_queue_depth"), 6.5);
    let snap = state.snapshot();
    let latency = snap.metric("facade_latency").unwrap();
    assert_eq!(latency.desc().description(), "Time per request.");
    assert_eq!(latency.desc().units(), Some(tsmon::metric::Units::Seconds));
    let Value::Distribution(d) = latency.cells()[0].value() else {
        panic!("not a distribution");
    };
    assert_eq!(d.count(), 3);
    assert!((d.sum() - 0.503).abs() < 1e-12);
    // The exposition: one family per name, the suffix added once, target labels on each line.
    let text = state.encode(Format::Text);
    assert!(
        text.contains("# TYPE facade_requests_total counter"),
        "{text}"
    );
    assert!(!text.contains("facade_requests_total_total"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("facade_requests_total{service_name=")
                && l.contains(r#",task_num="0",method="GET",route="/b"} 11"#)),
        "{text}"
    );
    assert!(text.contains("facade_latency_seconds_bucket{"), "{text}");
    assert!(text.contains("# HELP facade_requests_total Requests served."));
    // Dynamic entries of the catalog.
    let catalog: serde_json::Value =
        serde_json::from_str(&tsmon::registry::catalog_json()).unwrap();
    let entry = catalog
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "facade_requests")
        .unwrap();
    assert_eq!(entry["dynamic"], true);
    assert_eq!(entry["kind"], "Counter");
    assert_eq!(entry["fields"][1]["name"], "route");
    assert!(
        tsmon::registry::catalog_markdown().contains("| `facade_latency` |"),
        "the Markdown catalog lists it"
    );
}

#[test]
fn clashes_and_reshaped_labels_are_refused_counted_and_lose_nothing_else() {
    let state = State::builder().build().unwrap();
    let recorder = tsmon::metrics::Recorder::new(&state);
    metrics::with_local_recorder(&recorder, || {
        // tsmon's own metric, spelled the facade's way: refused.
        metrics::counter!("tsmon_store_overflow_writes_total").increment(1);
        metrics::counter!("facade_shape", "a" => "1").increment(1);
        // The same name with other labels, or as another kind: refused.
        metrics::counter!("facade_shape", "b" => "1").increment(1);
        metrics::gauge!("facade_shape", "a" => "1").set(1.0);
        // Two labels that are one once made valid.
        metrics::counter!("facade_twins", "x.y" => "1", "x_y" => "2").increment(1);
        metrics::counter!("facade_shape", "a" => "2").increment(5);
    });
    let mut refused = int(&state, "tsmon/metrics/refused");
    refused.sort();
    assert_eq!(
        refused,
        vec![
            (vec!["facade_shape".into(), "clash".into()], 2),
            (vec!["facade_twins".into(), "labels".into()], 1),
            (
                vec!["tsmon_store_overflow_writes_total".into(), "clash".into()],
                1
            ),
        ]
    );
    let mut shape = int(&state, "facade_shape");
    shape.sort();
    assert_eq!(
        shape,
        vec![(vec!["1".into()], 1), (vec!["2".into()], 5)],
        "the first shape keeps working"
    );
    assert!(int(&state, "tsmon/store/overflow_writes").is_empty());
}

#[test]
fn the_series_cap_holds_and_writes_past_it_are_counted() {
    let state = State::builder()
        .with_settings(tsmon::settings::Settings {
            max_series: 3,
            ..tsmon::settings::Settings::default()
        })
        .build()
        .unwrap();
    let recorder = tsmon::metrics::Recorder::new(&state);
    metrics::with_local_recorder(&recorder, || {
        for i in 0..10 {
            for _ in 0..2 {
                metrics::counter!("facade_capped", "user" => i.to_string()).increment(1);
            }
        }
    });
    let cells = int(&state, "facade_capped");
    assert_eq!(
        cells.len(),
        4,
        "three series and the overflow one: {cells:?}"
    );
    assert_eq!(cells.iter().map(|c| c.1).sum::<i64>(), 20, "nothing lost");
    assert_eq!(
        int(&state, "tsmon/store/overflow_writes"),
        vec![(vec!["facade_capped".into()], 14)],
        "each write past the cap counted"
    );
}

#[test]
fn threads_racing_on_the_same_keys_lose_no_increment() {
    let state = State::builder().build().unwrap();
    let recorder = Arc::new(tsmon::metrics::Recorder::new(&state));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let recorder = Arc::clone(&recorder);
            std::thread::spawn(move || {
                metrics::with_local_recorder(&*recorder, || {
                    for i in 0..20_000u64 {
                        let shard = (i % 3).to_string();
                        metrics::counter!("facade_race", "shard" => shard).increment(1);
                        metrics::histogram!("facade_race_sizes").record((t * i) as f64);
                    }
                });
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let total: i64 = int(&state, "facade_race").iter().map(|c| c.1).sum();
    assert_eq!(total, 80_000);
    let snap = state.snapshot();
    let Value::Distribution(d) = snap.metric("facade_race_sizes").unwrap().cells()[0].value()
    else {
        panic!()
    };
    assert_eq!(d.count(), 80_000);
}

#[test]
fn a_disabled_state_drops_facade_writes() {
    let state = State::builder()
        .with_settings(tsmon::settings::Settings {
            enabled: false,
            ..tsmon::settings::Settings::default()
        })
        .build()
        .unwrap();
    let recorder = tsmon::metrics::Recorder::new(&state);
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("facade_disabled").increment(1);
    });
    assert!(state.snapshot().metric("facade_disabled").is_none());
}

/// metrics-process, a real crate emitting through the facade. Its standard `process_*` names
/// are tsmon's own runtime stats' too, so they are refused (tsmon already exports them); with
/// a prefix they land, and a real Prometheus scrapes them with the task's target labels.
#[test]
fn metrics_process_through_the_recorder_reaches_prometheus() {
    let state = pulled_state(target("facade"), 4, |_| {});
    tsmon::metrics::install(&state).unwrap();
    assert!(
        tsmon::metrics::install(&state).is_err(),
        "one global recorder"
    );
    let standard = metrics_process::Collector::default();
    standard.describe();
    standard.collect();
    let refused = int(&state, "tsmon/metrics/refused");
    assert!(
        refused
            .iter()
            .any(|(f, _)| f[0] == "process_resident_memory_bytes" && f[1] == "clash"),
        "{refused:?}"
    );
    let prefixed = metrics_process::Collector::new("app_");
    prefixed.describe();
    prefixed.collect();
    let snap = state.snapshot();
    let rss = snap
        .metric("app_process_resident_memory_bytes")
        .expect("the prefixed collector's metrics land");
    assert_eq!(rss.desc().units(), Some(tsmon::metric::Units::Bytes));
    assert!(
        rss.desc().description().contains("Resident memory"),
        "{}",
        rss.desc().description()
    );
    let Value::Float(bytes) = rss.cells()[0].value() else {
        panic!()
    };
    assert!(*bytes > 1e6, "{bytes}");
    let cpu = snap.metric("app_process_cpu_seconds").expect("the counter");
    assert_eq!(cpu.desc().kind(), tsmon::metric::MetricKind::Counter);

    let config = scrape_config(&[("facade", &state)]);
    let Some((prom, _dir)) = start_prometheus("facade", &config) else {
        return;
    };
    let got = poll_until(60, "the facade's gauge in Prometheus", || {
        let r = prom_query(
            &prom.addr,
            r#"app_process_resident_memory_bytes{job_name="facade"}"#,
        );
        (!r.is_empty()).then_some(r)
    });
    assert_eq!(got.len(), 1, "{got:?}");
    let (labels, value) = &got[0];
    assert_eq!(labels["task_num"], "4");
    assert_eq!(labels["service_name"], "fleet");
    assert_eq!(labels["data_center"], "dc1");
    assert!(*value > 1e6, "{value}");
    let threads = prom_query(&prom.addr, r#"app_process_threads{job_name="facade"}"#);
    assert!(
        threads.first().is_some_and(|(_, v)| *v >= 1.0),
        "{threads:?}"
    );
}
