//! The cost of instrumenting a fn: tsmon's `#[instrument]` against the same fn bare, wrapped by
//! hand with the `prometheus` crate (labels looked up per call, and handles cached), with the
//! `metrics` facade and its Prometheus recorder, and with `#[autometrics]`.
//!
//! Overhead = time − the bare fn's time, in the same run. `run.sh` runs this twice, once per
//! autometrics backend, and prints the ratios.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::LazyLock;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use autometrics::autometrics;
use criterion::{Criterion, criterion_group, criterion_main};

/// The work every variant wraps: cheap, so the instrumentation is what is measured.
#[inline(never)]
fn work(x: u64) -> Result<u64, ()> {
    let y = black_box(x).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    if y == 1 { Err(()) } else { Ok(y) }
}

#[inline(never)]
fn bare(x: u64) -> Result<u64, ()> {
    work(x)
}

#[inline(never)]
#[tsmon::instrument]
fn tsmon_sync(x: u64) -> Result<u64, ()> {
    work(x)
}

/// Calls by outcome only: no latency histogram (so no clock read) and no in-flight gauge.
#[inline(never)]
#[tsmon::instrument(latency = false, in_flight = false)]
fn tsmon_calls_only(x: u64) -> Result<u64, ()> {
    work(x)
}

#[tsmon::instrument]
async fn tsmon_async(x: u64) -> Result<u64, ()> {
    work(x)
}

#[inline(never)]
#[autometrics]
fn autometrics_fn(x: u64) -> Result<u64, ()> {
    work(x)
}

struct Prom {
    calls: prometheus::IntCounterVec,
    durations: prometheus::HistogramVec,
    in_flight: prometheus::IntGaugeVec,
}

static PROM: LazyLock<Prom> = LazyLock::new(|| {
    let registry = prometheus::Registry::new();
    let calls = prometheus::IntCounterVec::new(
        prometheus::Opts::new("function_calls_total", "Calls."),
        &["function", "module", "outcome"],
    )
    .unwrap();
    let durations = prometheus::HistogramVec::new(
        prometheus::HistogramOpts::new("function_durations_seconds", "Durations."),
        &["function", "module"],
    )
    .unwrap();
    let in_flight = prometheus::IntGaugeVec::new(
        prometheus::Opts::new("function_in_flight", "In flight."),
        &["function", "module"],
    )
    .unwrap();
    registry.register(Box::new(calls.clone())).unwrap();
    registry.register(Box::new(durations.clone())).unwrap();
    registry.register(Box::new(in_flight.clone())).unwrap();
    Prom {
        calls,
        durations,
        in_flight,
    }
});

/// By hand with `prometheus`, labels looked up on every call (the usual way).
#[inline(never)]
fn prometheus_labels(x: u64) -> Result<u64, ()> {
    let p = &*PROM;
    let gauge = p
        .in_flight
        .with_label_values(&["prometheus_labels", "bench"]);
    gauge.inc();
    let start = Instant::now();
    let r = work(x);
    let elapsed = start.elapsed().as_secs_f64();
    let outcome = if r.is_ok() { "ok" } else { "error" };
    p.calls
        .with_label_values(&["prometheus_labels", "bench", outcome])
        .inc();
    p.durations
        .with_label_values(&["prometheus_labels", "bench"])
        .observe(elapsed);
    gauge.dec();
    r
}

struct PromCached {
    ok: prometheus::IntCounter,
    error: prometheus::IntCounter,
    duration: prometheus::Histogram,
    in_flight: prometheus::IntGauge,
}

static PROM_CACHED: LazyLock<PromCached> = LazyLock::new(|| {
    let p = &*PROM;
    PromCached {
        ok: p
            .calls
            .with_label_values(&["prometheus_cached", "bench", "ok"]),
        error: p
            .calls
            .with_label_values(&["prometheus_cached", "bench", "error"]),
        duration: p
            .durations
            .with_label_values(&["prometheus_cached", "bench"]),
        in_flight: p
            .in_flight
            .with_label_values(&["prometheus_cached", "bench"]),
    }
});

/// By hand with `prometheus`, handles resolved once (the fastest hand-written wrapper).
#[inline(never)]
fn prometheus_cached(x: u64) -> Result<u64, ()> {
    let p = &*PROM_CACHED;
    p.in_flight.inc();
    let start = Instant::now();
    let r = work(x);
    let elapsed = start.elapsed().as_secs_f64();
    if r.is_ok() { &p.ok } else { &p.error }.inc();
    p.duration.observe(elapsed);
    p.in_flight.dec();
    r
}

/// By hand with the `metrics` facade (its Prometheus recorder installed).
#[inline(never)]
fn metrics_fn(x: u64) -> Result<u64, ()> {
    let gauge =
        metrics::gauge!("function_in_flight", "function" => "metrics_fn", "module" => "bench");
    gauge.increment(1.0);
    let start = Instant::now();
    let r = work(x);
    let elapsed = start.elapsed().as_secs_f64();
    let outcome = if r.is_ok() { "ok" } else { "error" };
    metrics::counter!("function_calls_total", "function" => "metrics_fn", "module" => "bench", "outcome" => outcome)
        .increment(1);
    metrics::histogram!("function_durations_seconds", "function" => "metrics_fn", "module" => "bench")
        .record(elapsed);
    gauge.decrement(1.0);
    r
}

/// Polls a future that is ready at once.
fn poll_once<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => unreachable!("the benchmarked futures never wait"),
    }
}

fn setup() -> tsmon::State {
    #[cfg(feature = "autometrics-default")]
    let _ = autometrics::prometheus_exporter::try_init();
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let _ = metrics::set_global_recorder(recorder);
    // The global State, as in a service (its table of instrumented fns is built once).
    tsmon::State::global().clone()
}

#[cfg(feature = "autometrics-default")]
const AUTOMETRICS: &str = "autometrics/default (prometheus-client)";
#[cfg(not(feature = "autometrics-default"))]
const AUTOMETRICS: &str = "autometrics/prometheus";

fn one_thread(c: &mut Criterion) {
    let _state = setup();
    let mut g = c.benchmark_group("call");
    g.bench_function("bare", |b| b.iter(|| bare(black_box(7))));
    g.bench_function("tsmon/sync", |b| b.iter(|| tsmon_sync(black_box(7))));
    g.bench_function("tsmon/sync, calls only", |b| {
        b.iter(|| tsmon_calls_only(black_box(7)));
    });
    g.bench_function("tsmon/async", |b| {
        b.iter(|| poll_once(tsmon_async(black_box(7))));
    });
    g.bench_function("prometheus/with_label_values", |b| {
        b.iter(|| prometheus_labels(black_box(7)));
    });
    g.bench_function("prometheus/cached", |b| {
        b.iter(|| prometheus_cached(black_box(7)));
    });
    g.bench_function("metrics", |b| b.iter(|| metrics_fn(black_box(7))));
    g.bench_function(AUTOMETRICS, |b| b.iter(|| autometrics_fn(black_box(7))));
    g.finish();
}

/// Two threads calling the same fn: the time per call on each thread.
fn two_threads(c: &mut Criterion) {
    let _state = setup();
    let mut g = c.benchmark_group("two_threads");
    let run = |f: fn(u64) -> Result<u64, ()>| {
        move |iters: u64| -> Duration {
            let barrier = std::sync::Barrier::new(2);
            let times: Vec<Duration> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..2)
                    .map(|_| {
                        let barrier = &barrier;
                        s.spawn(move || {
                            barrier.wait();
                            let start = Instant::now();
                            for i in 0..iters {
                                let _ = black_box(f(black_box(i)));
                            }
                            start.elapsed()
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            times.into_iter().max().unwrap_or_default()
        }
    };
    g.bench_function("bare", |b| b.iter_custom(run(bare)));
    g.bench_function("tsmon/sync", |b| b.iter_custom(run(tsmon_sync)));
    g.bench_function("prometheus/cached", |b| {
        b.iter_custom(run(prometheus_cached));
    });
    g.bench_function(AUTOMETRICS, |b| b.iter_custom(run(autometrics_fn)));
    g.finish();
}

criterion_group!(benches, one_thread, two_threads);
criterion_main!(benches);
