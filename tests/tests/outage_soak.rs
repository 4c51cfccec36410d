//! A remote-write receiver outage of five minutes under load, against the real Prometheus
//! (ignored in the default run; `.ci/run` runs it on purpose):
//!
//! `OUTAGE_SECS=300 cargo test -p tsmon-tests --test outage_soak -- --ignored --nocapture`
//!
//! A State flushes every 2 s (as a short interval of a real service would) 600 series: 500
//! gauges set to the flush's number and 100 counters that a writer thread increments as fast
//! as it can. Prometheus is stopped for `OUTAGE_SECS` (300 by default) and started again on the
//! same port and data. Then every sample of every gauge, one per flush, is queryable at its
//! own timestamp, in order; the counters' last values are the writer's totals; the first
//! flush after Prometheus is back delivers; and during the outage the queue and the process's
//! memory stay within the queue's bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tsmon::field::FieldValue::Str;
use tsmon::settings::{MonitorSpec, Settings};
use tsmon::{State, Target};
use tsmon_tests::{free_port, http, poll_until, start_prometheus_on, url_encode};

tsmon::metric! {
    /// The flush number, per shard.
    static LEVEL: IntGauge(shard: i64) = "e2e/outage/level";
    /// Work done by the writer thread, per kind.
    static WORK: Counter(kind: i64) = "e2e/outage/work";
}

const GAUGES: i64 = 500;
const COUNTERS: i64 = 100;
const INTERVAL: Duration = Duration::from_secs(2);
const QUEUE_BOUND: usize = 16 << 20;

use tsmon_tests::rss;

use tsmon_tests::int_value as int;

/// Every raw sample of each series matching `selector` over the last `window`: (labels,
/// [(timestamp s, value)]).
fn raw(addr: &str, selector: &str, window: &str) -> Vec<(serde_json::Value, Vec<(f64, f64)>)> {
    let path = format!(
        "/api/v1/query?query={}",
        url_encode(&format!("{selector}[{window}]"))
    );
    let (status, _, body) = http("GET", addr, &path, &[], "").unwrap();
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    json["data"]["result"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .map(|r| {
                    let values = r["values"]
                        .as_array()
                        .map(|vs| {
                            vs.iter()
                                .map(|v| {
                                    (
                                        v[0].as_f64().unwrap(),
                                        v[1].as_str().unwrap().parse().unwrap(),
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    (r["metric"].clone(), values)
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
#[ignore = "a soak test: minutes long; run it on purpose"]
fn a_five_minute_receiver_outage_under_load_loses_no_sample_and_stays_within_the_queue_bound() {
    let outage = Duration::from_secs(
        std::env::var("OUTAGE_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(300),
    );
    let port = free_port();
    let Some((mut prom, _dir)) = start_prometheus_on("outage-soak", "", port, true) else {
        return;
    };
    let state = State::builder()
        .with_target(
            Target::new("soak", "outage")
                .with_data_center("dc")
                .with_host("h")
                .with_task_num(0),
        )
        .with_settings(Settings {
            report_runtime_stats: false,
            flush_interval: INTERVAL,
            flush_timeout: Duration::from_millis(1500),
            monitor: MonitorSpec::parse(&format!(
                "remote_write:http://127.0.0.1:{port}/api/v1/write"
            ))
            .unwrap(),
            push_queue_max_bytes: QUEUE_BOUND,
            push_queue_max_age: Duration::from_secs(900),
            ..Settings::default()
        })
        .build()
        .unwrap();

    // The load: a writer thread on the hot path for the whole test.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (state, stop) = (state.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut done = vec![0u64; COUNTERS as usize];
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                state.in_scope(|| {
                    for _ in 0..1000 {
                        let kind = (i % COUNTERS as usize) as i64;
                        WORK.inc(kind);
                        done[kind as usize] += 1;
                        i += 1;
                    }
                });
                std::thread::yield_now();
            }
            done
        })
    };

    // One flush per interval, paced by the clock (as the flush loop would), each setting every
    // gauge to its number first.
    let flush_no = std::cell::Cell::new(0i64);
    let next = std::cell::Cell::new(Instant::now());
    let flushed_at = std::cell::Cell::new(Instant::now());
    let flush_once = |expect_ok: Option<bool>| {
        next.set(next.get() + INTERVAL);
        let n = flush_no.get();
        state.in_scope(|| (0..GAUGES).for_each(|shard| LEVEL.set(n, shard)));
        let r = tsmon::runtime::block_on(state.flush());
        flushed_at.set(Instant::now());
        if let Some(ok) = expect_ok {
            assert_eq!(r.is_ok(), ok, "flush {n}: {r:?}");
        }
        flush_no.set(n + 1);
        if let Some(wait) = next.get().checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        r
    };
    for _ in 0..5 {
        let _ = flush_once(Some(true));
    }
    let baseline = rss();

    prom.kill();
    let down_at = Instant::now();
    let (mut max_queued, mut max_rss) = (0i64, baseline);
    while down_at.elapsed() < outage {
        let r = flush_once(Some(false));
        assert!(
            matches!(r, Err(tsmon::Error::Deferred(_))),
            "an outage keeps the interval: {r:?}"
        );
        max_queued = max_queued.max(int(&state, "tsmon/remote_write/queued", &[]));
        max_rss = max_rss.max(rss());
    }
    let outage_flushes = flush_no.get() - 5;
    let dropped: i64 = ["age", "bytes", "rejected"]
        .iter()
        .map(|r| int(&state, "tsmon/remote_write/dropped_requests", &[Str(r)]))
        .sum();

    let (prom, _dir) = start_prometheus_on("outage-soak", "", port, false).unwrap();
    let back_at = Instant::now();
    // The first flush after the receiver is back delivers (it may leave part of the queue for
    // the next ones, within its time budget: that is still a delivery, and no backoff).
    let delivered_before = int(
        &state,
        "tsmon/push/requests",
        &[Str("remote_write"), Str("204")],
    );
    let r = flush_once(None);
    let delivered = int(
        &state,
        "tsmon/push/requests",
        &[Str("remote_write"), Str("204")],
    );
    assert!(
        delivered > delivered_before,
        "the first flush after recovery delivers ({r:?})"
    );
    let first_delivery = flushed_at.get() - back_at;
    assert!(
        r.is_ok() || matches!(r, Err(tsmon::Error::Deferred(_))),
        "{r:?}"
    );
    // Catch up, then stop the writer and send its totals.
    let mut catching_up = 0;
    while int(&state, "tsmon/remote_write/queued", &[]) > 0 {
        let _ = flush_once(None);
        catching_up += 1;
        assert!(catching_up < 60, "the queue drains");
    }
    stop.store(true, Ordering::Relaxed);
    let totals = writer.join().unwrap();
    let _ = flush_once(Some(true));
    let flushes = flush_no.get();

    // Every gauge: one sample per flush, 0..flushes, in order, at increasing timestamps.
    let window = format!("{}s", (flushes as u64 * INTERVAL.as_secs()) + 120);
    let gauges = poll_until(60, "every gauge sample in Prometheus", || {
        let got = raw(&prom.addr, "e2e_outage_level{job_name=\"outage\"}", &window);
        (got.len() == GAUGES as usize && got.iter().all(|(_, v)| v.len() == flushes as usize))
            .then_some(got)
    });
    for (labels, samples) in &gauges {
        let values: Vec<i64> = samples.iter().map(|s| s.1 as i64).collect();
        assert_eq!(values, (0..flushes).collect::<Vec<_>>(), "{labels}");
        assert!(samples.windows(2).all(|w| w[0].0 < w[1].0), "{labels}");
    }
    // Every counter's last value is the writer's total.
    let counters = raw(
        &prom.addr,
        "e2e_outage_work_total{job_name=\"outage\"}",
        &window,
    );
    assert_eq!(counters.len(), COUNTERS as usize);
    for (labels, samples) in &counters {
        let kind: usize = labels["kind"].as_str().unwrap().parse().unwrap();
        let last = samples.last().unwrap().1;
        assert_eq!(last as u64, totals[kind], "kind {kind}");
    }
    assert_eq!(dropped, 0, "nothing dropped within the bound");
    assert!(
        max_queued > 0 && max_queued as usize <= QUEUE_BOUND,
        "{max_queued}"
    );
    let growth = max_rss.saturating_sub(baseline);
    assert!(
        growth <= QUEUE_BOUND as u64,
        "memory during the outage grew {growth} bytes, more than the queue's bound"
    );
    println!(
        "outage {outage:?}: {outage_flushes} flushes queued, at most {max_queued} bytes \
         (bound {QUEUE_BOUND}); RSS {baseline} -> at most {max_rss} (+{growth}); first delivery \
         {first_delivery:?} after Prometheus was back; caught up in {} more flushes; {} gauge \
         samples and {} counter series checked",
        catching_up,
        gauges.len() * flushes as usize,
        counters.len()
    );
}
