//! A flush to a push receiver on loopback: encode, compress and send one snapshot of 10k and
//! 100k series, OTLP/HTTP (protobuf, gzip) against remote-write (protobuf, snappy), in the
//! same run, each split as the flush loop splits it (`Monitor::chunk_size`: 10,000 series per
//! OTLP request, remote-write batching by itself). The receiver reads each body whole and
//! answers 200.
//!
//! `cargo bench -p tsmon-tests --bench push`.

use criterion::Criterion;
use tsmon::monitor::{Monitor, OtlpMonitor, RemoteWriteMonitor};

tsmon::metric! {
    /// Series for the bench.
    static SERIES: Counter(key: String) = "bench/push/series";
}

fn bench(c: &mut Criterion) {
    let server = tokio::runtime::Runtime::new().unwrap();
    let listener = server
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(|body: axum::body::Bytes| async move {
        std::hint::black_box(body.len());
        ""
    });
    server.spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let otlp = OtlpMonitor::new(&format!("http://{addr}/v1/metrics")).unwrap();
    let rw = RemoteWriteMonitor::new(&format!("http://{addr}/api/v1/write")).unwrap();
    let mut g = c.benchmark_group("push flush");
    g.sample_size(10);
    for n in [10_000usize, 100_000] {
        let state = tsmon::State::builder()
            .with_settings(tsmon::settings::Settings {
                report_runtime_stats: false,
                max_series: n + 10,
                ..tsmon::settings::Settings::default()
            })
            .build()
            .unwrap();
        state.in_scope(|| {
            for i in 0..n {
                SERIES.add(i as u64, &format!("series-{i}"));
            }
        });
        let snap = state.snapshot();
        g.bench_function(format!("otlp/{n} series"), |b| {
            b.iter(|| {
                for chunk in snap.chunks(otlp.chunk_size()) {
                    client.block_on(otlp.send(&chunk)).unwrap();
                }
            });
        });
        g.bench_function(format!("remote-write/{n} series"), |b| {
            b.iter(|| {
                for chunk in snap.chunks(rw.chunk_size()) {
                    client.block_on(rw.send(&chunk)).unwrap();
                }
            });
        });
    }
    g.finish();
}

criterion::criterion_group!(benches, bench);
criterion::criterion_main!(benches);
