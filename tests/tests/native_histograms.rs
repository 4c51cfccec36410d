//! Native histograms end to end against a real Prometheus 2.42 with
//! `--enable-feature=native-histograms`: it scrapes them (negotiating the protobuf format) and
//! receives them over remote-write; `histogram_count` and `histogram_sum` are exact, and
//! `histogram_quantile` is within the schema's error bound of the exact quantile of the
//! samples written. With `native_classic_buckets`, a Prometheus without the feature reads the
//! classic buckets beside them.

use tsmon::distribution::native::factor;
use tsmon::settings::{MonitorSpec, Settings};
use tsmon::tasknum::FixedAllocator;
use tsmon::{State, Target};
use tsmon_tests::{
    poll_until, prom_query, pulled_state, scrape_config, start_prometheus, start_prometheus_with,
};

tsmon::metric! {
    /// Request latency, native.
    #[tsmon(units = seconds, bucketer = native(3))]
    static LATENCY: CumulativeDistribution(route: String) = "e2e/native/latency";
    /// Payload sizes, native, coarse, with a small bucket limit.
    #[tsmon(units = bytes, bucketer = native(factor = 1.5, max_buckets = 20))]
    static SIZES: CumulativeDistribution = "e2e/native/sizes";
}

/// A deterministic, skewed spread of latencies (a log-uniform core from 1 ms to 2 s, a few
/// zeros), and the same for sizes.
fn samples(n: usize, seed: u64) -> Vec<f64> {
    let mut state = seed;
    (0..n)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            if i % 97 == 0 {
                return 0.0;
            }
            let u = (state >> 11) as f64 / (1u64 << 53) as f64;
            // 10^(-3 + 3.3 u): skewed toward the low end.
            10f64.powf(-3.0 + 3.3 * u * u)
        })
        .collect()
}

/// The `q` quantile as Prometheus ranks it: the sample at rank `q × n`.
fn exact_quantile(sorted: &[f64], q: f64) -> f64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn write(state: &State, latencies: &[f64], sizes: &[f64]) {
    state.in_scope(|| {
        let h = LATENCY.handle("/items");
        latencies.iter().for_each(|&x| h.add(x));
        sizes.iter().for_each(|&x| SIZES.add(x * 1e6, ()));
    });
}

fn target(job: &str) -> Target {
    Target::new("e2e", job).with_host("h1")
}

/// What Prometheus holds must be what was written: count and sum exact, each quantile within
/// the bound of the schema the snapshot ended at.
fn check(addr: &str, job: &str, state: &State, latencies: &[f64]) {
    let sel = format!(r#"{{job_name="{job}",route="/items"}}"#);
    let name = "e2e_native_latency_seconds";
    let count = poll_until(60, "the native histogram's count", || {
        prom_query(addr, &format!("histogram_count({name}{sel})"))
            .first()
            .map(|(_, v)| *v)
    });
    assert_eq!(count, latencies.len() as f64);
    let sum = prom_query(addr, &format!("histogram_sum({name}{sel})"))[0].1;
    let exact_sum: f64 = latencies.iter().sum();
    assert!(
        (sum - exact_sum).abs() <= exact_sum * 1e-12,
        "{sum} != {exact_sum}"
    );
    // The schema the series is at (its declared 3, unless its spread reduced it).
    let snap = state.snapshot();
    let cell = &snap.metric("e2e/native/latency").unwrap().cells()[0];
    let tsmon::store::Value::Distribution(d) = cell.value() else {
        panic!("not a distribution");
    };
    let schema = d.native().unwrap().schema();
    let bound = factor(schema) - 1.0;
    let mut sorted = latencies.to_vec();
    sorted.sort_by(f64::total_cmp);
    for q in [0.5, 0.9, 0.99] {
        let got = prom_query(addr, &format!("histogram_quantile({q}, {name}{sel})"))[0].1;
        let want = exact_quantile(&sorted, q);
        assert!(
            (got / want - 1.0).abs() <= bound,
            "q={q}: Prometheus {got}, exact {want}, schema {schema} (bound {bound})"
        );
    }
    // The coarse one, reduced to fit 20 buckets: its count is still exact.
    let sizes = poll_until(60, "the sizes' count", || {
        prom_query(
            addr,
            &format!(r#"histogram_count(e2e_native_sizes_bytes{{job_name="{job}"}})"#),
        )
        .first()
        .map(|(_, v)| *v)
    });
    assert_eq!(sizes, 3000.0);
}

#[test]
fn prometheus_scrapes_native_histograms_over_protobuf() {
    let state = pulled_state(target("native-pull"), 1, |_| {});
    let latencies = samples(5000, 0x1234_5678);
    write(&state, &latencies, &samples(3000, 99));
    let config = scrape_config(&[("tsmon", &state)]);
    let Some((prom, _dir)) = start_prometheus_with(
        "native-pull",
        &config,
        &["--enable-feature=native-histograms"],
    ) else {
        return;
    };
    check(&prom.addr, "native-pull", &state, &latencies);
}

#[test]
fn prometheus_receives_native_histograms_over_remote_write() {
    let Some((prom, _dir)) =
        start_prometheus_with("native-rw", "", &["--enable-feature=native-histograms"])
    else {
        return;
    };
    let state = State::builder()
        .with_target(target("native-rw"))
        .with_allocator(FixedAllocator::new(2))
        .with_settings(Settings {
            monitor: MonitorSpec::parse(&format!("remote_write:http://{}/api/v1/write", prom.addr))
                .unwrap(),
            ..Settings::default()
        })
        .build()
        .unwrap();
    let latencies = samples(4000, 0xfeed_beef);
    write(&state, &latencies, &samples(3000, 7));
    tsmon::runtime::block_on(state.flush()).unwrap();
    check(&prom.addr, "native-rw", &state, &latencies);
}

/// With `native_classic_buckets`, a Prometheus without native histograms scrapes the text
/// format and gets classic buckets at powers of two: every `le` count exact.
#[test]
fn classic_buckets_beside_native_ones_reach_a_prometheus_without_the_feature() {
    let state = pulled_state(target("native-classic"), 3, |s| {
        s.native_classic_buckets = true;
    });
    let latencies = samples(2000, 42);
    write(&state, &latencies, &samples(3000, 5));
    let config = scrape_config(&[("tsmon", &state)]);
    let Some((prom, _dir)) = start_prometheus("native-classic", &config) else {
        return;
    };
    let sel = r#"job_name="native-classic",route="/items""#;
    let buckets = poll_until(60, "the classic buckets", || {
        let b = prom_query(
            &prom.addr,
            &format!("e2e_native_latency_seconds_bucket{{{sel}}}"),
        );
        (!b.is_empty()).then_some(b)
    });
    for (labels, count) in &buckets {
        let le = labels["le"].as_str().unwrap();
        let le: f64 = if le == "+Inf" {
            f64::INFINITY
        } else {
            le.parse().unwrap()
        };
        let exact = latencies.iter().filter(|&&x| x <= le).count() as f64;
        assert_eq!(*count, exact, "le={le}");
        // Powers of two (and the zero bucket's threshold).
        assert!(
            le.is_infinite() || le.log2().fract() == 0.0 || le < 1e-30,
            "le={le}"
        );
    }
    assert!(buckets.len() >= 10, "{buckets:?}");
}

/// Serves four label sets through the HTTP middleware of `state` (three routes, one 404) and
/// returns once they are recorded.
fn http_traffic(state: &State) {
    use axum::Router;
    use axum::routing::{get, post};
    use bytes::Bytes;
    use http_body_util::{BodyExt as _, Full};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let state = state.clone();
    rt.block_on(async move {
        let app = Router::new()
            .route("/items/{id}", get(|| async { "an item" }))
            .route("/users", get(|| async { "users" }))
            .route("/echo", post(|body: Bytes| async move { body }))
            .layer(tsmon::http::HttpMetricsLayer::new().with_state(state.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        for (method, path) in [
            ("GET", "/items/1"),
            ("GET", "/users"),
            ("POST", "/echo"),
            ("GET", "/nowhere"),
        ] {
            let request = hyper::Request::builder()
                .method(method)
                .uri(format!("http://{addr}{path}"))
                .body(Full::new(Bytes::from_static(b"hello")))
                .unwrap();
            let r = client.request(request).await.unwrap();
            r.into_body().collect().await.unwrap();
        }
        // The layer records as the response body ends: poll for the last one.
        poll_until(20, "the four label sets", || {
            let snap = state.snapshot();
            let n = snap
                .metric("http/server_durations")
                .map_or(0, |m| m.cells().len());
            (n == 4).then_some(())
        });
    });
    // The pull endpoint runs on tsmon's own runtime: this one can go.
    drop(rt);
}

/// Series per route: the HTTP middleware's three distributions cost one series each per label
/// set as native histograms, against one per bucket plus `_count` and `_sum` as classic ones.
/// Both States are scraped by one Prometheus with native histograms on.
#[test]
fn the_middlewares_distributions_cost_one_series_each_as_native_histograms() {
    let pulled = |job: &str, mode| {
        let state = pulled_state(target(job), 4, |s| s.native_histograms = mode);
        http_traffic(&state);
        state
    };
    let native = pulled("http-native", tsmon::settings::NativeHistograms::Tsmon);
    let classic = pulled("http-classic", tsmon::settings::NativeHistograms::Off);
    let config = scrape_config(&[("native", &native), ("classic", &classic)]);
    let Some((prom, _dir)) = start_prometheus_with(
        "native-http",
        &config,
        &["--enable-feature=native-histograms"],
    ) else {
        return;
    };
    let series = |job: &str| {
        let q = format!(
            r#"count({{job="{job}",__name__=~"http_server_(durations|request_bytes|response_bytes).*"}})"#
        );
        poll_until(60, &q, || {
            prom_query(&prom.addr, &q).first().map(|(_, v)| *v)
        })
    };
    let (n, c) = (series("native"), series("classic"));
    println!(
        "series of the three HTTP distributions for 4 label sets: native {n} ({} per label set), classic {c} ({} per label set)",
        n / 4.0,
        c / 4.0
    );
    assert_eq!(n, 12.0, "one native series per distribution and label set");
    // Classic: each histogram's finite buckets, `+Inf`, `_count` and `_sum`.
    let snap = classic.snapshot();
    let per_set: usize = [
        "http/server_durations",
        "http/server_request_bytes",
        "http/server_response_bytes",
    ]
    .iter()
    .map(|name| {
        let m = snap.metric(name).unwrap();
        m.desc().bucketer().num_buckets() - 1 + 3
    })
    .sum();
    assert_eq!(c, (4 * per_set) as f64);
    // And the native ones hold the traffic: four requests, one per label set.
    let total = prom_query(
        &prom.addr,
        r#"sum(histogram_count(http_server_durations_seconds{job="native"}))"#,
    );
    assert_eq!(total.first().map(|(_, v)| *v), Some(4.0));
}
