//! The cost of one flush (10k and 100k series) to the debug monitor and to a real Pushgateway,
//! what a disabled tsmon costs a write compared with an enabled one, and one runtime-stats
//! report.
//!
//! `cargo bench -p tsmon --bench flush`. The Pushgateway case needs `prometheus-pushgateway` on
//! the PATH (it is started on a free loopback port and stopped); without it that case is
//! skipped with a message.

use std::hint::black_box;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use tsmon::monitor::{DebugMonitor, Monitor, PushgatewayMonitor};
use tsmon::{State, Target};

tsmon::metric! {
    /// Many series.
    #[tsmon(max_series = 1000000)]
    static WIDE: Counter(kind: String) = "bench/flush/wide";
    /// One series.
    static ONE: Counter = "bench/flush/one";
}

fn state_with(n: usize) -> State {
    let state = State::builder()
        .with_target(Target::new("bench", "flush").with_task_num(0))
        .build()
        .unwrap();
    state.in_scope(|| {
        for i in 0..n {
            WIDE.inc(&format!("kind-{i:06}"));
        }
    });
    state
}

struct Gateway(Child, String);

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn pushgateway() -> Option<Gateway> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let addr = format!("127.0.0.1:{port}");
    let child = Command::new("prometheus-pushgateway")
        .arg(format!("--web.listen-address={addr}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let gw = Gateway(child, addr);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(&gw.1).is_err() {
        if std::time::Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(gw)
}

fn flushes(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::Builder::new()
        .prefix("tsmon-bench-flush-")
        .tempdir()
        .unwrap();
    let gateway = pushgateway();
    if gateway.is_none() {
        eprintln!("SKIPPED: prometheus-pushgateway is not on the PATH; no Pushgateway figures");
    }
    let mut g = c.benchmark_group("flush");
    g.sample_size(10);
    for n in [10_000usize, 100_000] {
        let state = state_with(n);
        let file = dir.path().join("debug.txt");
        let debug = DebugMonitor::to_file(&file);
        g.bench_function(format!("debug monitor (file)/{n} series"), |b| {
            b.iter(|| {
                rt.block_on(state.flush_to(&debug)).unwrap();
                let _ = std::fs::remove_file(&file);
            });
        });
        if let Some(gw) = &gateway {
            let push = PushgatewayMonitor::new(&format!("http://{}", gw.1)).unwrap();
            g.bench_function(format!("pushgateway/{n} series"), |b| {
                b.iter(|| rt.block_on(state.flush_to(&push)).unwrap());
            });
            let _ = push.chunk_size();
        }
    }
    g.finish();
}

fn disabled_writes(c: &mut Criterion) {
    let state = State::builder().build().unwrap();
    let _g = state.enter();
    let handle = ONE.handle(());
    let mut g = c.benchmark_group("write");
    g.bench_function("handle, enabled", |b| b.iter(|| black_box(&handle).inc()));
    g.bench_function("by value, enabled", |b| {
        b.iter(|| WIDE.inc(black_box("kind-000001")));
    });
    state
        .apply_settings(tsmon::settings::Settings {
            enabled: false,
            ..state.settings()
        })
        .expect("disable");
    g.bench_function("handle, disabled", |b| b.iter(|| black_box(&handle).inc()));
    g.bench_function("by value, disabled", |b| {
        b.iter(|| WIDE.inc(black_box("kind-000001")));
    });
    g.finish();
}

fn runtime_stats(c: &mut Criterion) {
    let state = State::builder().build().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    tsmon::runtime_stats::watch_tokio("bench", rt.handle());
    c.bench_function("runtime stats/one report", |b| {
        b.iter(|| state.report_runtime_stats());
    });
}

criterion_group!(benches, flushes, disabled_writes, runtime_stats);
criterion_main!(benches);
