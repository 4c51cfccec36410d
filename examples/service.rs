//! An axum service instrumented with tsmon: `#[tsmon::main]`, the HTTP middleware,
//! `#[tsmon::instrument]` on the handlers' work, metrics served for Prometheus.
//!
//! - `cargo run --example service -- --demo`: the README's main job. Starts the service on a
//!   free loopback port with a pull endpoint beside it, drives some traffic through it, scrapes
//!   its own `/metrics`, prints what tsmon recorded as a table, and exits.
//! - `cargo run --example service`: serves on 127.0.0.1:3000 until ctrl-c, metrics at
//!   `http://127.0.0.1:9464/metrics` (`TSMON_MONITOR=pull:0.0.0.0:9464` to let a Prometheus on
//!   another host scrape it, `TSMON_MONITOR=pushgateway:http://host:9091` to push instead).
//! - `cargo run --example service -- --demo --stay`: the demo, then keeps serving (until
//!   ctrl-c) so its status page, whose address the demo prints, can be opened in a browser.
//! - `--addr HOST:PORT` changes the service's address; `--bare` serves without the middleware
//!   (for the overhead benchmark, `benches/load.sh`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tsmon::field::FieldValue;
use tsmon::store::{Snapshot, Value};

/// A lookup that fails for unknown items: instrumented, so its calls, outcomes and latency are
/// recorded with no metrics code.
#[tsmon::instrument]
async fn find_item(id: u64) -> Result<String, String> {
    if id % 10 == 7 {
        return Err(format!("no item {id}"));
    }
    // Pretend to work a little.
    tokio::task::yield_now().await;
    Ok(format!("{{\"id\":{id},\"name\":\"item {id}\"}}"))
}

/// A pure computation: instrumented too.
#[tsmon::instrument]
fn checksum(data: &[u8]) -> u64 {
    data.iter().fold(0u64, |acc, &b| {
        acc.wrapping_mul(31).wrapping_add(u64::from(b))
    })
}

async fn item(Path(id): Path<u64>) -> (StatusCode, String) {
    match find_item(id).await {
        Ok(body) => (StatusCode::OK, body),
        Err(e) => (StatusCode::NOT_FOUND, e),
    }
}

async fn sum(body: Bytes) -> String {
    checksum(&body).to_string()
}

fn app(bare: bool) -> Router {
    let router = Router::new()
        .route("/items/{id}", get(item))
        .route("/checksum", axum::routing::post(sum))
        .route("/healthz", get(|| async { "ok" }));
    if bare {
        router
    } else {
        router.layer(tsmon::http::AxumMetricsLayer::new())
    }
}

struct Args {
    demo: bool,
    stay: bool,
    bare: bool,
    addr: SocketAddr,
}

fn args() -> Args {
    let mut out = Args {
        demo: false,
        stay: false,
        bare: false,
        addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--demo" => {
                out.demo = true;
                out.addr = SocketAddr::from(([127, 0, 0, 1], 0));
            }
            "--bare" => out.bare = true,
            "--stay" => out.stay = true,
            "--addr" => {
                if let Some(addr) = it.next().and_then(|v| v.parse().ok()) {
                    out.addr = addr;
                }
            }
            other => eprintln!("ignoring unknown argument {other:?}"),
        }
    }
    out
}

#[tsmon::main(service = "tsmon-examples", job = "service")]
async fn main() {
    let args = args();
    if std::env::var_os("TSMON_MONITOR").is_none() {
        // Embedded defaults plus a scrape endpoint (a free port in the demo).
        let port = if args.demo { 0 } else { 9464 };
        let monitor = tsmon::settings::MonitorSpec::parse(&format!("pull:127.0.0.1:{port}"));
        let state = tsmon::State::global();
        if let Ok(monitor) = monitor
            && let Err(e) = state.apply_settings(tsmon::settings::Settings {
                monitor,
                ..state.settings()
            })
        {
            eprintln!("no metrics endpoint: {e}");
        }
    }
    let listener = match tokio::net::TcpListener::bind(args.addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on {}: {e}", args.addr);
            return;
        }
    };
    let addr = listener.local_addr().map_or(args.addr, |a| a);
    let server = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app(args.bare)).await {
            eprintln!("server: {e}");
        }
    });
    let metrics = tsmon::State::global().pull_address();
    if !args.demo {
        println!("serving on http://{addr}");
        if let Some(m) = metrics {
            println!("metrics on http://{m}/metrics (catalog: http://{m}/metrics/catalog)");
            println!("status page on http://{m}/tsmon");
        }
        let _ = server.await;
        return;
    }
    drive(addr).await;
    let scraped = match metrics {
        Some(m) => scrape(m).await,
        None => String::new(),
    };
    print_summary(&tsmon::State::global().snapshot(), &scraped, metrics);
    if let Some(m) = metrics {
        println!(
            "\nThe status page (catalog, live charts, health): http://{m}/tsmon{}",
            if args.stay {
                "\nserving until ctrl-c"
            } else {
                "\n(`-- --demo --stay` keeps it serving after the demo)"
            }
        );
        if args.stay {
            let _ = server.await;
        }
    }
}

/// Some traffic: items found and not found, checksums, health checks from a robot.
async fn drive(addr: SocketAddr) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..4u64 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..250u64 {
                let n = worker * 250 + i;
                let req = match n % 5 {
                    0 => hyper::Request::post(format!("http://{addr}/checksum")).body(Full::new(
                        Bytes::from(vec![b'x'; 64 + (n % 7) as usize * 100]),
                    )),
                    1 => hyper::Request::get(format!("http://{addr}/healthz"))
                        .header("user-agent", "kube-probe/1.30")
                        .body(Full::new(Bytes::new())),
                    _ => hyper::Request::get(format!("http://{addr}/items/{n}"))
                        .body(Full::new(Bytes::new())),
                };
                if let Ok(req) = req
                    && let Ok(resp) = client.request(req).await
                {
                    let _ = resp.into_body().collect().await;
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    println!(
        "drove 1000 requests through http://{addr} in {:.0?}\n",
        started.elapsed()
    );
}

async fn scrape(addr: SocketAddr) -> String {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let Ok(req) =
        hyper::Request::get(format!("http://{addr}/metrics")).body(Full::new(Bytes::new()))
    else {
        return String::new();
    };
    match tokio::time::timeout(Duration::from_secs(10), client.request(req)).await {
        Ok(Ok(resp)) => resp
            .into_body()
            .collect()
            .await
            .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
            .unwrap_or_default(),
        _ => String::new(),
    }
}

fn field<'a>(fields: &'a [FieldValue<'a>], i: usize) -> String {
    fields.get(i).map(ToString::to_string).unwrap_or_default()
}

/// Quantile of a distribution, from its buckets (the upper bound of the bucket it falls in).
fn quantile(d: &tsmon::distribution::Distribution, q: f64) -> f64 {
    let target = (d.count() as f64 * q).ceil() as i64;
    let mut seen = 0;
    for (i, n) in d.buckets().iter().enumerate() {
        seen += n;
        if seen >= target.max(1) {
            return d.bucketer().upper_bound(i);
        }
    }
    f64::NAN
}

fn print_summary(snap: &Snapshot, scraped: &str, metrics: Option<SocketAddr>) {
    println!("HTTP requests (tsmon::http middleware)");
    println!(
        "  {:<14} {:>6} {:>6} {:>8} {:>10} {:>10} {:>11}",
        "route", "status", "robot", "requests", "p50", "p99", "bytes out"
    );
    // (route, status, robot) -> (requests, p50, p99, bytes out)
    type Row = (i64, f64, f64, f64);
    let mut rows: BTreeMap<(String, String, String), Row> = BTreeMap::new();
    if let Some(m) = snap.metric("http/server_durations") {
        for c in m.cells() {
            let f: Vec<_> = m.field_values(c).collect();
            if let Value::Distribution(d) = c.value() {
                let key = (field(&f, 1), field(&f, 0), field(&f, 2));
                let e = rows.entry(key).or_default();
                e.0 = d.count();
                e.1 = quantile(d, 0.5);
                e.2 = quantile(d, 0.99);
            }
        }
    }
    if let Some(m) = snap.metric("http/server_response_bytes") {
        for c in m.cells() {
            let f: Vec<_> = m.field_values(c).collect();
            if let Value::Distribution(d) = c.value() {
                rows.entry((field(&f, 1), field(&f, 0), field(&f, 2)))
                    .or_default()
                    .3 = d.sum();
            }
        }
    }
    for ((route, status, robot), (n, p50, p99, bytes)) in &rows {
        println!(
            "  {route:<14} {status:>6} {robot:>6} {n:>8} {:>10} {:>10} {bytes:>11}",
            format!("≤{:.0?}", Duration::from_secs_f64(*p50)),
            format!("≤{:.0?}", Duration::from_secs_f64(*p99)),
        );
    }

    println!("\nInstrumented functions (#[tsmon::instrument])");
    println!(
        "  {:<10} {:>5} {:>6} {:>6} {:>10} {:>10}",
        "function", "ok", "error", "panic", "cancelled", "mean"
    );
    let mut fns: BTreeMap<String, ([i64; 4], f64)> = BTreeMap::new();
    if let Some(m) = snap.metric("function/calls") {
        for c in m.cells() {
            let f: Vec<_> = m.field_values(c).collect();
            if !field(&f, 1).contains("service") {
                continue;
            }
            let i = ["ok", "error", "panic", "cancelled"]
                .iter()
                .position(|o| *o == field(&f, 2))
                .unwrap_or(0);
            if let Value::Int(n) = c.value() {
                fns.entry(field(&f, 0)).or_default().0[i] = *n;
            }
        }
    }
    if let Some(m) = snap.metric("function/durations") {
        for c in m.cells() {
            let f: Vec<_> = m.field_values(c).collect();
            if let (Some(e), Value::Distribution(d)) = (fns.get_mut(&field(&f, 0)), c.value())
                && d.count() > 0
            {
                e.1 = d.sum() / d.count() as f64;
            }
        }
    }
    for (name, (c, mean)) in &fns {
        println!(
            "  {name:<10} {:>5} {:>6} {:>6} {:>10} {:>10}",
            c[0],
            c[1],
            c[2],
            c[3],
            format!("{:.1?}", Duration::from_secs_f64(*mean))
        );
    }

    let series = scraped
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .count();
    match metrics {
        Some(m) if series > 0 => println!(
            "\nhttp://{m}/metrics served {series} series ({} bytes) to this scrape.\n\
             Point Prometheus at it (TSMON_MONITOR=pull:0.0.0.0:9464), or push with \
             TSMON_MONITOR=pushgateway:http://host:9091.",
            scraped.len()
        ),
        _ => println!("\n(no metrics endpoint: TSMON_MONITOR names another monitor)"),
    }
}
