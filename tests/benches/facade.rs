//! The `metrics` facade: `metrics::counter!(…).increment(1)` and `histogram!(…).record(x)`
//! through tsmon's recorder against `metrics-exporter-prometheus`' recorder, in the same run.
//! Each macro call asks the recorder for its handle (that is the facade's design), so the
//! figure is the recorder's lookup plus the write. The handle kept by the caller is measured
//! too, for the write alone, and the facade with its no-op recorder, for what the facade itself
//! costs whatever the recorder (building the key and the labels' strings).
//!
//! `cargo bench -p tsmon-tests --bench facade`.

use std::hint::black_box;

use criterion::Criterion;
use metrics::{counter, histogram};

fn bench(c: &mut Criterion) {
    let state = tsmon::State::builder()
        .with_settings(tsmon::settings::Settings {
            report_runtime_stats: false,
            ..tsmon::settings::Settings::default()
        })
        .build()
        .unwrap();
    let tsmon_recorder = tsmon::metrics::Recorder::new(&state);
    let prometheus_recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(&[0.001, 0.01, 0.1, 1.0, 10.0])
        .unwrap()
        .build_recorder();
    let routes: Vec<String> = (0..8).map(|i| format!("/route/{i}")).collect();

    macro_rules! both {
        ($group:expr, $body:expr) => {{
            let mut g = c.benchmark_group($group);
            g.bench_function("tsmon", |b| {
                metrics::with_local_recorder(&tsmon_recorder, || b.iter($body))
            });
            g.bench_function("metrics-exporter-prometheus", |b| {
                metrics::with_local_recorder(&prometheus_recorder, || b.iter($body))
            });
            // The facade's own share (building the key, the labels' strings), which every
            // recorder pays: the floor.
            g.bench_function("no-op recorder", |b| {
                metrics::with_local_recorder(&metrics::NoopRecorder, || b.iter($body))
            });
            g.finish();
        }};
    }

    both!("facade counter, static labels", || {
        counter!("bench_requests", "route" => "/home", "status" => "200").increment(1)
    });
    let mut i = 0usize;
    both!("facade counter, a label value from a String", || {
        i = (i + 1) % routes.len();
        counter!("bench_requests_dyn", "route" => routes[i].clone()).increment(1)
    });
    both!("facade histogram, static labels", || {
        histogram!("bench_latency", "route" => "/home").record(black_box(0.0042))
    });
    let mut g = c.benchmark_group("facade counter, handle kept");
    let h = metrics::with_local_recorder(
        &tsmon_recorder,
        || counter!("bench_kept", "route" => "/home"),
    );
    g.bench_function("tsmon", |b| b.iter(|| h.increment(1)));
    let h = metrics::with_local_recorder(
        &prometheus_recorder,
        || counter!("bench_kept", "route" => "/home"),
    );
    g.bench_function("metrics-exporter-prometheus", |b| b.iter(|| h.increment(1)));
    g.finish();
}

criterion::criterion_group!(benches, bench);
criterion::criterion_main!(benches);
