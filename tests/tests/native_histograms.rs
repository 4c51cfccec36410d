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
use tsmon_tests::{poll_until, prom_query, start_prometheus, start_prometheus_with};

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
    let state = State::builder()
        .with_target(target("native-pull"))
        .with_allocator(FixedAllocator::new(1))
        .with_settings(Settings {
            monitor: MonitorSpec::parse("pull:127.0.0.1:0").unwrap(),
            ..Settings::default()
        })
        .build()
        .unwrap();
    tsmon::runtime::block_on(state.flush()).unwrap();
    let latencies = samples(5000, 0x1234_5678);
    write(&state, &latencies, &samples(3000, 99));
    let config = format!(
        "  - job_name: tsmon\n    static_configs:\n      - targets: ['{}']\n",
        state.pull_address().unwrap()
    );
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
    let state = State::builder()
        .with_target(target("native-classic"))
        .with_allocator(FixedAllocator::new(3))
        .with_settings(Settings {
            monitor: MonitorSpec::parse("pull:127.0.0.1:0").unwrap(),
            native_classic_buckets: true,
            ..Settings::default()
        })
        .build()
        .unwrap();
    tsmon::runtime::block_on(state.flush()).unwrap();
    let latencies = samples(2000, 42);
    write(&state, &latencies, &samples(3000, 5));
    let config = format!(
        "  - job_name: tsmon\n    static_configs:\n      - targets: ['{}']\n",
        state.pull_address().unwrap()
    );
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
