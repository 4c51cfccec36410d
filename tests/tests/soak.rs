//! The soak test (ignored in the default run): steady load for `SOAK_SECS` seconds (600 by
//! default) while Redis, the Pushgateway and Prometheus are each stopped and restarted in turn.
//! No panic, memory flat, every increment arrives once its monitor is back, and the failed
//! flushes (and the cells they could not send) are counted.
//!
//! `SOAK_SECS=600 cargo test -p tsmon-tests --test soak -- --ignored --nocapture`

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use tsmon::settings::{MonitorSpec, Settings};
use tsmon::store::Value;
use tsmon::tasknum::RedisAllocator;
use tsmon::{State, Target};
use tsmon_tests::{
    free_port, http, poll_until, prom_query, start_prometheus_on, start_pushgateway_on, start_redis,
};

tsmon::metric! {
    /// Work done under soak.
    static SOAK: Counter(kind: String) = "e2e/soak/work";
}

use tsmon_tests::rss;

fn flushes(state: &State) -> String {
    let snap = state.snapshot();
    let Some(m) = snap.metric("tsmon/flush/flushes") else {
        return "none".into();
    };
    m.cells()
        .iter()
        .map(|c| {
            format!(
                "{}={:?}",
                m.field_values(c)
                    .next()
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
                c.value()
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn dropped(state: &State) -> i64 {
    state
        .snapshot()
        .metric("tsmon/flush/dropped_cells")
        .and_then(|m| m.cells().first().map(|c| c.value().clone()))
        .map_or(0, |v| match v {
            Value::Int(n) => n,
            _ => 0,
        })
}

#[test]
#[ignore = "a soak test: minutes long; run it on purpose"]
fn soak_with_every_server_restarted() {
    let secs: u64 = std::env::var("SOAK_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    let redis_port = free_port();
    let pg_port = free_port();
    let prom_port = free_port();
    let mut redis = start_redis(Some(redis_port)).expect("redis-server");
    let mut pg = start_pushgateway_on(pg_port).expect("prometheus-pushgateway");
    let (mut prom, _) = start_prometheus_on("soak", "", prom_port, true).expect("prometheus");

    let allocator = || {
        RedisAllocator::connect_blocking(&format!("redis://127.0.0.1:{redis_port}/"))
            .unwrap()
            .with_timeout(Duration::from_millis(500))
    };
    let state_for = |job: &str, monitor: String| {
        State::builder()
            .with_target(Target::new("soak", job).with_data_center("dc"))
            .with_allocator(allocator())
            .with_settings(Settings {
                monitor: MonitorSpec::parse(&monitor).unwrap(),
                flush_interval: Duration::from_secs(2),
                flush_timeout: Duration::from_secs(1),
                report_runtime_stats: false,
                ..Settings::default()
            })
            .build()
            .unwrap()
    };
    let pushed = state_for("pushed", format!("pushgateway:http://127.0.0.1:{pg_port}"));
    let written = state_for(
        "written",
        format!("remote_write:http://127.0.0.1:{prom_port}/api/v1/write"),
    );
    let loops = [pushed.start(), written.start()];

    // Steady load: two threads, one per State.
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let workers: Vec<_> = [pushed.clone(), written.clone()]
        .into_iter()
        .enumerate()
        .map(|(i, state)| {
            let stop = stop.clone();
            let done = done.clone();
            std::thread::spawn(move || {
                let h = state.in_scope(|| SOAK.handle("steady"));
                while !stop.load(Relaxed) {
                    for _ in 0..1000 {
                        h.inc();
                    }
                    done[i].fetch_add(1000, Relaxed);
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
        })
        .collect();

    let started = Instant::now();
    let warm = rss();
    let mut cycle = 0;
    while started.elapsed() < Duration::from_secs(secs) {
        std::thread::sleep(Duration::from_secs(20));
        // Stop one server for 20 s, then bring it back where it was.
        match cycle % 3 {
            0 => {
                redis.kill();
                std::thread::sleep(Duration::from_secs(20));
                redis = start_redis(Some(redis_port)).unwrap();
            }
            1 => {
                pg.kill();
                std::thread::sleep(Duration::from_secs(20));
                pg = start_pushgateway_on(pg_port).unwrap();
            }
            _ => {
                prom.kill();
                std::thread::sleep(Duration::from_secs(20));
                prom = start_prometheus_on("soak", "", prom_port, false).unwrap().0;
            }
        }
        cycle += 1;
        println!(
            "soak: {:>4.0}s, cycle {cycle}, rss {} KiB (start {} KiB), dropped cells {} / {}",
            started.elapsed().as_secs_f64(),
            rss() / 1024,
            warm / 1024,
            dropped(&pushed),
            dropped(&written)
        );
        println!("soak: flushes {} / {}", flushes(&pushed), flushes(&written));
    }
    stop.store(true, Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let totals = [done[0].load(Relaxed), done[1].load(Relaxed)];
    // Every increment arrives: the totals go out with the next successful flushes.
    let pg_addr = format!("127.0.0.1:{pg_port}");
    poll_until(60, "the Pushgateway to have the total", || {
        let (_, _, body) = http("GET", &pg_addr, "/metrics", &[], "").ok()?;
        body.lines()
            .find(|l| l.starts_with("e2e_soak_work_total{") && l.contains(r#"job_name="pushed""#))
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .filter(|v| (*v - totals[0] as f64).abs() < 0.5)
    });
    let prom_addr = format!("127.0.0.1:{prom_port}");
    poll_until(60, "Prometheus to have the total", || {
        prom_query(&prom_addr, r#"e2e_soak_work_total{job_name="written"}"#)
            .first()
            .map(|(_, v)| *v)
            .filter(|v| (*v - totals[1] as f64).abs() < 0.5)
    });
    // The outages were counted: failed flushes (an allocator failure sends nothing, so its
    // cells are not "dropped"; a Pushgateway failure counts its cells too; a remote-write
    // receiver outage is "deferred": its requests wait in the queue).
    for state in [&pushed, &written] {
        let f = flushes(state);
        assert!(
            f.contains("error=") || f.contains("deferred="),
            "no failed flush counted: {f}"
        );
    }
    println!(
        "soak: flushes {} / {}; dropped cells {} / {}",
        flushes(&pushed),
        flushes(&written),
        dropped(&pushed),
        dropped(&written)
    );
    let end = rss();
    println!(
        "soak: totals {totals:?} arrived; rss {} KiB -> {} KiB",
        warm / 1024,
        end / 1024
    );
    assert!(
        end < warm + 64 * 1024 * 1024,
        "memory grew: {warm} -> {end}"
    );
    drop(loops);
}
