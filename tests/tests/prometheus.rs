//! End to end against a real Prometheus (Debian's `prometheus`, started on a free loopback
//! port): it scrapes the pull endpoint, receives remote-write, and sees a restarted process's
//! counter as a reset.

use std::sync::Arc;
use std::time::Duration;

use tsmon::clock::ManualClock;
use tsmon::monitor::RemoteWriteMonitor;
use tsmon::settings::{MonitorSpec, Settings};
use tsmon::tasknum::FixedAllocator;
use tsmon::{State, Target};
use tsmon_tests::{
    poll_until, prom_query, start_prometheus, start_prometheus_with, start_victoria_metrics,
};

tsmon::metric! {
    /// Requests.
    static REQUESTS: Counter(route: String, ok: bool) = "e2e/prom/requests";
    /// Bytes.
    #[tsmon(units = bytes)]
    static BYTES: FloatCounter = "e2e/prom/bytes";
    /// Depth.
    static DEPTH: IntGauge(queue: i64) = "e2e/prom/depth";
    /// Temperature.
    #[tsmon(units = celsius)]
    static TEMP: FloatGauge = "e2e/prom/temp";
    /// Ready.
    static READY: BoolMetric = "e2e/prom/ready";
    /// Version.
    static VERSION: StringMetric = "e2e/prom/version";
    /// Latency.
    #[tsmon(units = seconds, bucketer = fixed_width(1.0, 3))]
    static LATENCY: CumulativeDistribution = "e2e/prom/latency";
    /// Batch sizes.
    #[tsmon(bucketer = fixed_width(10.0, 2))]
    static BATCH: NonCumulativeDistribution = "e2e/prom/batch";
    /// Restarts.
    static EVENTS: Counter = "e2e/prom/events";
    /// A level that changes at every flush of the outage test.
    static LEVEL: FloatGauge = "e2e/prom/level";
}

fn write_every_kind(state: &State) {
    state.in_scope(|| {
        REQUESTS.add(7, ("/items/{id}", true));
        REQUESTS.add(2, ("/items/{id}", false));
        BYTES.add(1536.5, ());
        DEPTH.set(-3, 4);
        TEMP.set(21.25, ());
        READY.set(true, ());
        VERSION.set("1.2.3", ());
        LATENCY.add(0.5, ());
        LATENCY.add(2.5, ());
        let mut d = tsmon::distribution::Distribution::new(BATCH.desc().bucketer());
        d.add(5.0);
        d.add(15.0);
        d.add(15.0);
        BATCH.set(&d, ());
    });
}

/// The value of `query` under `task_num`, once Prometheus has it.
fn value(addr: &str, query: &str) -> f64 {
    poll_until(60, query, || {
        prom_query(addr, query).first().map(|(_, v)| *v)
    })
}

fn check_every_kind(addr: &str, job: &str) {
    let sel = format!(r#"job_name="{job}",task_num="5",service_name="e2e""#);
    assert_eq!(
        value(
            addr,
            &format!(r#"e2e_prom_requests_total{{{sel},route="/items/{{id}}",ok="true"}}"#)
        ),
        7.0
    );
    assert_eq!(
        value(
            addr,
            &format!(r#"e2e_prom_requests_total{{{sel},ok="false"}}"#)
        ),
        2.0
    );
    assert_eq!(
        value(addr, &format!("e2e_prom_bytes_total{{{sel}}}")),
        1536.5
    );
    assert_eq!(
        value(addr, &format!(r#"e2e_prom_depth{{{sel},queue="4"}}"#)),
        -3.0
    );
    assert_eq!(
        value(addr, &format!("e2e_prom_temp_celsius{{{sel}}}")),
        21.25
    );
    assert_eq!(value(addr, &format!("e2e_prom_ready{{{sel}}}")), 1.0);
    assert_eq!(
        value(
            addr,
            &format!(r#"e2e_prom_version_info{{{sel},value="1.2.3"}}"#)
        ),
        1.0
    );
    assert_eq!(
        value(
            addr,
            &format!(r#"e2e_prom_latency_seconds_bucket{{{sel},le="1.0"}}"#)
        ),
        1.0
    );
    assert_eq!(
        value(
            addr,
            &format!(r#"e2e_prom_latency_seconds_bucket{{{sel},le="+Inf"}}"#)
        ),
        2.0
    );
    assert_eq!(
        value(addr, &format!("e2e_prom_latency_seconds_sum{{{sel}}}")),
        3.0
    );
    assert_eq!(
        value(addr, &format!("e2e_prom_latency_seconds_count{{{sel}}}")),
        2.0
    );
    assert_eq!(
        value(
            addr,
            &format!(r#"e2e_prom_batch_bucket{{{sel},le="10.0"}}"#)
        ),
        1.0
    );
    assert_eq!(value(addr, &format!("e2e_prom_batch_gcount{{{sel}}}")), 3.0);
    assert_eq!(value(addr, &format!("e2e_prom_batch_gsum{{{sel}}}")), 35.0);
}

/// A State of job `job` with task number 5 that serves the pull endpoint on loopback, its
/// settings changed by `tweak`, after its first flush.
fn pulled(job: &str, tweak: impl FnOnce(&mut Settings)) -> State {
    tsmon_tests::pulled_state(target(job), 5, tweak)
}

/// A State of job `job` with task number 5 whose monitor remote-writes to the receiver at
/// `addr`.
fn pushing(job: &str, addr: &str) -> State {
    State::builder()
        .with_target(target(job))
        .with_allocator(FixedAllocator::new(5))
        .with_settings(Settings {
            monitor: MonitorSpec::parse(&format!("remote_write:http://{addr}/api/v1/write"))
                .unwrap(),
            ..Settings::default()
        })
        .build()
        .unwrap()
}

/// A scrape config of one job, `tsmon`, for `state`'s pull endpoint.
fn scrape_config(state: &State) -> String {
    tsmon_tests::scrape_config(&[("tsmon", state)])
}

fn target(job: &str) -> Target {
    Target::new("e2e", job)
        .with_data_center("dc1")
        .with_host("h1")
}

#[test]
fn prometheus_scrapes_the_pull_endpoint() {
    let state = State::builder()
        .with_target(target("scraped"))
        .with_allocator(FixedAllocator::new(5))
        .with_settings(Settings {
            monitor: MonitorSpec::parse("pull:127.0.0.1:0").unwrap(),
            ..Settings::default()
        })
        .build()
        .unwrap();
    // The task number comes with the first flush, as in a service.
    tsmon::runtime::block_on(state.flush()).unwrap();
    write_every_kind(&state);
    let pull = state.pull_address().unwrap();
    let Some((prom, _dir)) = start_prometheus(
        "scrape",
        &format!("  - job_name: tsmon\n    static_configs:\n      - targets: ['{pull}']\n"),
    ) else {
        return;
    };
    check_every_kind(&prom.addr, "scraped");
}

#[test]
fn remote_write_lands_every_kind_with_its_labels() {
    let Some((prom, _dir)) = start_prometheus("rw", "") else {
        return;
    };
    let state = pushing("pushed", &prom.addr);
    write_every_kind(&state);
    tsmon::runtime::block_on(state.flush()).unwrap();
    check_every_kind(&prom.addr, "pushed");
}

#[test]
fn a_rejected_batch_is_an_error_with_the_receivers_message() {
    let Some((prom, _dir)) = start_prometheus("reject", "") else {
        return;
    };
    // Once the receiver holds recent samples, samples from 1970 are far too old for its
    // head block: a 4xx.
    let recent = State::builder()
        .with_target(target("recent"))
        .build()
        .unwrap();
    recent.in_scope(|| EVENTS.inc(()));
    let m = RemoteWriteMonitor::new(&format!("http://{}/api/v1/write", prom.addr)).unwrap();
    tsmon::runtime::block_on(recent.flush_to(&m)).unwrap();
    let state = State::builder()
        .with_target(target("old"))
        .with_clock(Arc::new(ManualClock::new(1_000_000)))
        .build()
        .unwrap();
    state.in_scope(|| EVENTS.inc(()));
    let started = std::time::Instant::now();
    let err = tsmon::runtime::block_on(state.flush_to(&m)).unwrap_err();
    assert!(err.to_string().contains("rejected"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a 4xx is not retried"
    );
}

#[test]
fn a_restart_under_the_same_task_number_is_a_counter_reset() {
    let Some((prom, _dir)) = start_prometheus("restart", "") else {
        return;
    };
    let url = format!("remote_write:http://{}/api/v1/write", prom.addr);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros();
    // One clock for both lives of the process, ten minutes ago, a minute per flush.
    let clock = Arc::new(ManualClock::new(u64::try_from(now).unwrap() - 600_000_000));
    let life = || {
        State::builder()
            .with_target(target("restarted"))
            .with_allocator(FixedAllocator::new(2))
            .with_clock(clock.clone())
            .with_settings(Settings {
                monitor: MonitorSpec::parse(&url).unwrap(),
                report_runtime_stats: false,
                ..Settings::default()
            })
            .build()
            .unwrap()
    };
    let first = life();
    for total in [100, 150] {
        first.in_scope(|| EVENTS.set(total, ()));
        clock.advance(Duration::from_secs(60));
        tsmon::runtime::block_on(first.flush()).unwrap();
    }
    drop(first);
    let second = life(); // the restarted process: same task number, counting from zero
    for total in [10, 30] {
        second.in_scope(|| EVENTS.set(total, ()));
        clock.advance(Duration::from_secs(60));
        tsmon::runtime::block_on(second.flush()).unwrap();
    }
    let sel = r#"e2e_prom_events_total{job_name="restarted",task_num="2"}"#;
    assert_eq!(
        value(&prom.addr, &format!("resets({sel}[1h])")),
        1.0,
        "one reset"
    );
    assert_eq!(
        value(&prom.addr, &format!("count_over_time({sel}[1h])")),
        4.0,
        "no gap"
    );
    // increase() sees 50 before the restart and 30 after (plus its edge extrapolation), not a
    // negative jump or a spike.
    let increase = value(&prom.addr, &format!("increase({sel}[1h])"));
    assert!((80.0..=200.0).contains(&increase), "increase {increase}");
}

/// Every sample Prometheus holds for `selector` over the last ten minutes, oldest first.
fn samples(addr: &str, selector: &str) -> Vec<(f64, f64)> {
    let path = format!(
        "/api/v1/query?query={}",
        tsmon_tests::url_encode(&format!("{selector}[10m]"))
    );
    let (status, _, body) = tsmon_tests::http("GET", addr, &path, &[], "").unwrap();
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    json["data"]["result"]
        .as_array()
        .and_then(|r| r.first())
        .and_then(|series| series["values"].as_array())
        .map(|values| {
            values
                .iter()
                .map(|v| {
                    (
                        v[0].as_f64().unwrap(),
                        v[1].as_str().unwrap().parse().unwrap(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_receiver_outage_loses_no_gauge_value_and_delivery_resumes_at_the_next_flush() {
    if tsmon_tests::require_binary("prometheus").is_none() {
        return;
    }
    let port = tsmon_tests::free_port();
    let state = State::builder()
        .with_target(target("outage"))
        .with_settings(Settings {
            report_runtime_stats: false,
            ..Settings::default()
        })
        .build()
        .unwrap();
    let m = RemoteWriteMonitor::new(&format!("http://127.0.0.1:{port}/api/v1/write")).unwrap();
    // The receiver is down for five flushes; each flush's level differs.
    let levels = [0.5, 1.5, 2.5, 3.5, 4.5];
    for level in levels {
        state.in_scope(|| LEVEL.set(level, ()));
        let r = tsmon::runtime::block_on(state.flush_to(&m));
        assert!(matches!(r, Err(tsmon::Error::Deferred(_))), "{r:?}");
    }
    let queued = state.snapshot();
    let bytes = queued
        .metric("tsmon/remote_write/queued")
        .and_then(|q| q.cells().first().map(|c| c.value().clone()));
    assert!(
        matches!(bytes, Some(tsmon::store::Value::Int(n)) if n > 0),
        "{bytes:?}"
    );
    // The receiver comes back: the next flush delivers the queue first, then its own.
    let Some((prom, _dir)) = tsmon_tests::start_prometheus_on("outage", "", port, true) else {
        return;
    };
    state.in_scope(|| LEVEL.set(9.5, ()));
    tsmon::runtime::block_on(state.flush_to(&m)).unwrap();
    let got = poll_until(30, "every sample", || {
        let got = samples(&prom.addr, "e2e_prom_level{job_name=\"outage\"}");
        (got.len() == 6).then_some(got)
    });
    let values: Vec<f64> = got.iter().map(|(_, v)| *v).collect();
    assert_eq!(
        values,
        [0.5, 1.5, 2.5, 3.5, 4.5, 9.5],
        "every value, in order"
    );
    assert!(
        got.windows(2).all(|w| w[0].0 < w[1].0),
        "at their own times: {got:?}"
    );
    let after = state.snapshot();
    let bytes = after
        .metric("tsmon/remote_write/queued")
        .and_then(|q| q.cells().first().map(|c| c.value().clone()));
    assert!(
        matches!(bytes, Some(tsmon::store::Value::Int(0))),
        "{bytes:?}"
    );
}

/// Prometheus negotiates OpenMetrics and stores each `_created` line as a series of its own:
/// off by default, a series per counter and histogram with `openmetrics_created`.
#[test]
fn created_series_reach_prometheus_only_when_asked() {
    let start = |job: &str, created: bool| {
        let state = pulled(job, |s| s.openmetrics_created = created);
        write_every_kind(&state);
        state
    };
    let (plain, created) = (start("plain", false), start("created", true));
    let targets = tsmon_tests::scrape_config(&[("plain", &plain), ("created", &created)]);
    let Some((prom, _dir)) = start_prometheus("created", &targets) else {
        return;
    };
    let count =
        |job: &str| format!("count({{__name__=~\"e2e_prom_.+_created\",job_name=\"{job}\"}})");
    // Both scraped (a counter of each is in), then the `_created` series of the one that asks.
    value(
        &prom.addr,
        r#"count(e2e_prom_bytes_total{job_name="plain"})"#,
    );
    value(
        &prom.addr,
        r#"count(e2e_prom_bytes_total{job_name="created"})"#,
    );
    assert!(value(&prom.addr, &count("created")) >= 2.0);
    assert_eq!(
        prom_query(&prom.addr, &count("plain")),
        Vec::new(),
        "no `_created` series without the setting"
    );
}

/// Every `e2e_prom_*` series Prometheus has, as (labels without `instance`, value), sorted.
fn every_series(addr: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = prom_query(addr, r#"{__name__=~"e2e_prom_.+"}"#)
        .into_iter()
        .map(|(mut labels, v)| {
            if let Some(m) = labels.as_object_mut() {
                m.remove("instance");
            }
            // The one documented difference: a gauge histogram's count and sum are `_gcount`
            // and `_gsum` from OpenMetrics, `_count` and `_sum` from protobuf (and text 0.0.4).
            let labels = labels
                .to_string()
                .replace("_gcount\"", "_count\"")
                .replace("_gsum\"", "_sum\"");
            (labels, format!("{v}"))
        })
        .collect();
    out.sort();
    out
}

/// Prometheus with native histograms on asks for the protobuf format first; the series it
/// stores from it are those a text scrape gives, every kind, labels and values exact.
#[test]
fn a_protobuf_scrape_gives_the_series_a_text_scrape_gives() {
    let state = pulled("formats", |_| {});
    write_every_kind(&state);
    let config = scrape_config(&state);
    let Some((native, _d1)) =
        start_prometheus_with("protobuf", &config, &["--enable-feature=native-histograms"])
    else {
        return;
    };
    let Some((plain, _d2)) = start_prometheus("text", &config) else {
        return;
    };
    // The same series (every kind: 9 families' samples), once both have scraped.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let (a, b) = loop {
        let (a, b) = (every_series(&native.addr), every_series(&plain.addr));
        if a.len() >= 20 && a == b {
            break (a, b);
        }
        if std::time::Instant::now() > deadline {
            let only_a: Vec<_> = a.iter().filter(|x| !b.contains(x)).collect();
            let only_b: Vec<_> = b.iter().filter(|x| !a.contains(x)).collect();
            panic!("protobuf only: {only_a:#?}\ntext only: {only_b:#?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(a, b);
    // And the first one was served protobuf.
    let scrapes = |format: &str| {
        state
            .snapshot()
            .metric("tsmon/pull/scrapes")
            .and_then(|m| m.find(&[tsmon::field::FieldValue::Str(format)]))
            .map_or(0, |c| match c.value() {
                tsmon::store::Value::Int(n) => *n,
                _ => 0,
            })
    };
    assert!(scrapes("protobuf") >= 1, "no protobuf scrape");
    assert!(
        scrapes("openmetrics") + scrapes("text") >= 1,
        "no text scrape"
    );
    // The histogram's classic buckets came through protobuf too.
    assert!(
        a.iter()
            .any(|(l, _)| l.contains("e2e_prom_latency_seconds_bucket")),
        "{a:?}"
    );
}

/// VictoriaMetrics, the second receiver: the same remote-write of every kind, read back
/// through its Prometheus-compatible query API, values and labels (task number included)
/// exact.
#[test]
fn victoria_metrics_takes_the_remote_write_of_every_kind() {
    let Some((vm, _dir)) = start_victoria_metrics("rw") else {
        return;
    };
    let state = pushing("victoria", &vm.addr);
    write_every_kind(&state);
    tsmon::runtime::block_on(state.flush()).unwrap();
    check_every_kind(&vm.addr, "victoria");
    // The target labels are all there, as Prometheus has them.
    let labels = poll_until(60, "the counter's labels", || {
        prom_query(&vm.addr, r#"e2e_prom_bytes_total{job_name="victoria"}"#)
            .into_iter()
            .next()
    })
    .0;
    for (k, v) in [
        ("service_name", "e2e"),
        ("job_name", "victoria"),
        ("data_center", "dc1"),
        ("host_name", "h1"),
        ("task_num", "5"),
    ] {
        assert_eq!(labels[k], v, "{labels}");
    }
}

/// With `pull_target_info`, Prometheus stores the series without the target's labels and one
/// `target_info` series with them; the two join on `job` and `instance`, which Prometheus adds
/// to both, and give back every target label.
#[test]
fn target_info_series_join_on_their_target() {
    let state = pulled("joined", |s| s.pull_target_info = true);
    write_every_kind(&state);
    let config = scrape_config(&state);
    let Some((prom, _dir)) = start_prometheus("target-info", &config) else {
        return;
    };
    let bare = poll_until(60, "the bare series", || {
        prom_query(&prom.addr, r#"e2e_prom_bytes_total{job="tsmon"}"#)
            .into_iter()
            .next()
    });
    assert!(bare.0.get("service_name").is_none(), "{}", bare.0);
    assert_eq!(bare.1, 1536.5);
    let joined = poll_until(60, "the join", || {
        prom_query(
            &prom.addr,
            r#"e2e_prom_bytes_total * on(job, instance) group_left(service_name, job_name, data_center, host_name, task_num) target_info"#,
        )
        .into_iter()
        .next()
    });
    assert_eq!(joined.1, 1536.5);
    for (k, v) in [
        ("service_name", "e2e"),
        ("job_name", "joined"),
        ("data_center", "dc1"),
        ("host_name", "h1"),
        ("task_num", "5"),
    ] {
        assert_eq!(joined.0[k], v, "{}", joined.0);
    }
    // A histogram joins as well.
    let p50 = poll_until(60, "a quantile by task", || {
        prom_query(
            &prom.addr,
            r#"histogram_quantile(0.5, sum by (le, task_num) (e2e_prom_latency_seconds_bucket * on(job, instance) group_left(task_num) target_info))"#,
        )
        .into_iter()
        .next()
    });
    assert_eq!(p50.0["task_num"], "5", "{}", p50.0);
}

tsmon::metric! {
    /// Checkouts, with the trace of the latest.
    static CHECKOUTS: Counter(shop: String) = "e2e/prom/checkouts";
    /// Checkout time, with a trace per bucket.
    #[tsmon(units = seconds, bucketer = bounds(0.1, 0.5, 1))]
    static CHECKOUT_TIME: CumulativeDistribution = "e2e/prom/checkout_time";
}

/// The trace ids of the exemplars Prometheus holds for `query`.
fn exemplar_trace_ids(addr: &str, query: &str) -> Vec<String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (status, _, body) = tsmon_tests::http(
        "GET",
        addr,
        &format!(
            "/api/v1/query_exemplars?query={}&start={}&end={}",
            tsmon_tests::url_encode(query),
            now - 600,
            now + 600
        ),
        &[],
        "",
    )
    .expect("query_exemplars");
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut ids: Vec<String> = json["data"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|series| series["exemplars"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| e["labels"]["trace_id"].as_str().map(str::to_owned))
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// Prometheus with exemplar storage keeps the exemplars of an OpenMetrics scrape: the trace ids
/// written are the ones `/api/v1/query_exemplars` gives back, for a counter and for each
/// bucket of a histogram.
#[test]
fn exemplars_reach_prometheus_through_a_scrape() {
    let state = pulled("exemplars", |_| {});
    state.in_scope(|| {
        CHECKOUTS.add_with_exemplar(1, "north", &[("trace_id", "aaaa0001")]);
        CHECKOUTS.add_with_exemplar(2, "north", &[("trace_id", "aaaa0002")]);
        CHECKOUT_TIME.add_with_exemplar(0.05, (), &[("trace_id", "bbbb0001")]);
        CHECKOUT_TIME.add_with_exemplar(0.7, (), &[("trace_id", "bbbb0002")]);
    });
    let config = scrape_config(&state);
    // OpenMetrics, then protobuf (which Prometheus asks for with native histograms on).
    for (tag, features) in [
        ("exemplars-om", "--enable-feature=exemplar-storage"),
        (
            "exemplars-pb",
            "--enable-feature=exemplar-storage,native-histograms",
        ),
    ] {
        let Some((prom, _dir)) = start_prometheus_with(tag, &config, &[features]) else {
            return;
        };
        let counter = poll_until(60, "the counter's exemplar", || {
            let ids = exemplar_trace_ids(&prom.addr, "e2e_prom_checkouts_total");
            (!ids.is_empty()).then_some(ids)
        });
        // The latest exemplar of the series.
        assert_eq!(counter, ["aaaa0002"], "{tag}");
        let buckets = poll_until(60, "the buckets' exemplars", || {
            let ids = exemplar_trace_ids(&prom.addr, "e2e_prom_checkout_time_seconds_bucket");
            (ids.len() == 2).then_some(ids)
        });
        assert_eq!(buckets, ["bbbb0001", "bbbb0002"], "{tag}");
    }
}

/// The same exemplars over remote-write: Prometheus with exemplar storage keeps those of each
/// series it receives.
#[test]
fn exemplars_reach_prometheus_through_remote_write() {
    let Some((prom, _dir)) =
        start_prometheus_with("rw-exemplars", "", &["--enable-feature=exemplar-storage"])
    else {
        return;
    };
    let state = pushing("rw-exemplars", &prom.addr);
    state.in_scope(|| {
        CHECKOUTS.add_with_exemplar(3, "south", &[("trace_id", "cccc0001")]);
        CHECKOUT_TIME.add_with_exemplar(0.3, (), &[("trace_id", "dddd0001"), ("span_id", "01")]);
    });
    tsmon::runtime::block_on(state.flush()).unwrap();
    let counter = poll_until(60, "the counter's exemplar", || {
        let ids = exemplar_trace_ids(
            &prom.addr,
            r#"e2e_prom_checkouts_total{job_name="rw-exemplars"}"#,
        );
        (!ids.is_empty()).then_some(ids)
    });
    assert_eq!(counter, ["cccc0001"]);
    let bucket = poll_until(60, "the bucket's exemplar", || {
        let ids = exemplar_trace_ids(
            &prom.addr,
            r#"e2e_prom_checkout_time_seconds_bucket{job_name="rw-exemplars"}"#,
        );
        (!ids.is_empty()).then_some(ids)
    });
    assert_eq!(bucket, ["dddd0001"]);
}
