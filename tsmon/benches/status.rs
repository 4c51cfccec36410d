//! The status page's costs: the memory of its ring of samples, a sample of 10k series beside a
//! scrape of them, and the page's first load (bytes and time on loopback).
//!
//! `cargo bench -p tsmon --bench status`; the memory and size figures print before criterion's
//! output.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use criterion::{Criterion, criterion_group};
use tsmon::State;
use tsmon::clock::ManualClock;
use tsmon::settings::{MonitorSpec, Settings};

#[path = "support/counting.rs"]
mod counting;
use counting::ALLOCATED;

tsmon::metric! {
    /// Work by shard.
    static SHARDS: Counter(shard: i64) = "bench/status/shards";
    /// Latency by shard.
    #[tsmon(units = seconds)]
    static LATENCY: CumulativeDistribution(shard: i64) = "bench/status/latency";
}

/// A State serving the page with the default ring (15 minutes), on a clock the bench moves.
fn state() -> (State, Arc<ManualClock>, SocketAddr) {
    let clock = Arc::new(ManualClock::new(1_800_000_000_000_000));
    let state = State::builder()
        .with_clock(clock.clone())
        .with_settings(Settings {
            monitor: MonitorSpec::parse("pull:127.0.0.1:0").expect("monitor"),
            report_runtime_stats: false,
            ..Settings::default()
        })
        .build()
        .expect("state");
    let addr = state.pull_address().expect("pull endpoint");
    (state, clock, addr)
}

/// A GET on loopback; the body's length.
fn get(addr: SocketAddr, path: &str) -> usize {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    write!(s, "GET {path} HTTP/1.0\r\n\r\n").expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    assert!(raw.starts_with(b"HTTP/1.0 200"), "{path}");
    let head = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("head");
    raw.len() - head - 4
}

/// The ring's memory after 15 minutes (121 samples) of `n` series, written by `write`.
fn ring_memory(n: i64, what: &str, write: impl Fn(i64, i64)) {
    let (state, clock, addr) = state();
    state.in_scope(|| (0..n).for_each(|i| write(i, 0)));
    let step = Duration::from_millis(7500);
    get(addr, "/tsmon/api/overview");
    let before = ALLOCATED.load(Relaxed);
    for round in 1..=121 {
        clock.advance(step);
        state.in_scope(|| (0..n).for_each(|i| write(i, round)));
        get(addr, "/tsmon/api/overview");
    }
    let held = ALLOCATED.load(Relaxed).saturating_sub(before);
    println!(
        "status ring, {n} {what} series over 15 minutes (121 samples): {:.1} MiB allocated, {:.0} bytes a series",
        held as f64 / 1048576.0,
        held as f64 / n as f64
    );
}

fn sizes() {
    ring_memory(10_000, "counter", |i, r| {
        SHARDS.add(1 + r.unsigned_abs() % 3, i)
    });
    ring_memory(1_000, "distribution", |i, r| {
        LATENCY.add(0.001 * (1 + (i + r) % 50) as f64, i);
    });
    let (state, _, addr) = state();
    state.in_scope(|| SHARDS.inc(1));
    let page = get(addr, "/tsmon");
    let data: usize = ["catalog", "overview", "health", "summary"]
        .iter()
        .map(|d| get(addr, &format!("/tsmon/api/{d}")))
        .sum();
    println!(
        "status page, first load: the page {page} bytes, its first data {data} bytes ({} metrics in this binary's catalog)",
        tsmon::registry::catalog().len()
    );
}

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("status");
    let (state, clock, addr) = state();
    state.in_scope(|| (0..10_000).for_each(|i| SHARDS.inc(i)));
    g.bench_function("first load (page and its 4 JSON reads)", |b| {
        b.iter(|| {
            get(addr, "/tsmon");
            for d in ["catalog", "overview", "health", "summary"] {
                get(addr, &format!("/tsmon/api/{d}"));
            }
        });
    });
    g.bench_function("a sample of 10k series (overview read)", |b| {
        b.iter(|| {
            clock.advance(Duration::from_millis(7500));
            get(addr, "/tsmon/api/overview")
        });
    });
    g.bench_function("a scrape of the same 10k series", |b| {
        b.iter(|| get(addr, "/metrics"));
    });
    g.bench_function("one metric's series and charts (10k, first 100)", |b| {
        b.iter(|| get(addr, "/tsmon/api/series?metric=bench/status/shards"));
    });
    g.finish();
}

criterion_group!(group, benches);

fn main() {
    sizes();
    group();
    Criterion::default().configure_from_args().final_summary();
}
