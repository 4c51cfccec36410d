//! The store's hot paths and the exposition, side by side with the peers in one run.
//!
//! `cargo bench -p tsmon --bench store`; the memory figures print before criterion's output
//! (the million-series scrape's only when asked: `cargo bench -p tsmon --bench store -- scrape-memory`).
//! Per-op times on two threads are the wall time of `iters` operations on each thread, divided by
//! `iters`: the cost per operation per thread while both run.

use std::hint::black_box;
use std::sync::Barrier;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use measured::{CounterVec, LabelGroup, MetricGroup};
use paracord::ParaCord;
use prometheus_client::encoding::EncodeLabelSet;
use tsmon::exposition::Format;
use tsmon::{State, Target};

#[path = "support/counting.rs"]
mod counting;
use counting::ALLOCATED;

// ---- The metrics. ----

tsmon::metric! {
    /// Requests by method and status.
    static REQUESTS: Counter(method: String, status: i64) = "bench/requests";
    /// Latency by method.
    #[tsmon(units = seconds, bucketer = geometric_with_scale(2.0, 12, 0.001))]
    static LATENCY: CumulativeDistribution(method: String) = "bench/latency";
    /// Latency by method, as a native histogram.
    #[tsmon(units = seconds, bucketer = native(3))]
    static NATIVE: CumulativeDistribution(method: String) = "bench/native";
    /// Many series, for encoding and memory (named as the peers name theirs, so encodings
    /// compare line for line).
    #[tsmon(max_series = 1000000)]
    static WIDE: Counter(kind: String) = "counters";
}

/// The peers' counter is named `counters_total`: Prometheus' naming asks counters to end in
/// `_total`, which tsmon and prometheus-client add and measured and prometheus leave to the
/// user; so all four write the same series, byte for byte but the target labels.
#[derive(MetricGroup)]
struct MeasuredMetrics {
    /// help text
    #[metric(rename = "counters_total")]
    counters: CounterVec<MeasuredSet>,
}

#[derive(Clone, Copy, PartialEq, Debug, LabelGroup)]
#[label(set = MeasuredSet)]
struct MeasuredLabels<'a> {
    #[label(dynamic_with = ParaCord)]
    kind: &'a str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClientLabels {
    kind: String,
}

fn state() -> State {
    State::builder()
        .with_target(
            Target::new("bench", "bench")
                .with_data_center("dc")
                .with_host("host"),
        )
        .build()
        .expect("catalog")
}

/// Runs `op(thread_index)` `iters` times on each of two threads; the time per op per thread.
fn two_threads(iters: u64, op: impl Fn(usize) + Sync) -> Duration {
    two_threads_loop(iters, |t, n| (0..n).for_each(|_| op(t)))
}

/// Runs `body(thread_index, iters)` on each of two threads (the body loops itself, so it can
/// set up once per thread, such as entering a State); the time per op per thread.
fn two_threads_loop(iters: u64, body: impl Fn(usize, u64) + Sync) -> Duration {
    let barrier = Barrier::new(3);
    let times: Vec<Duration> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|t| {
                let (body, barrier) = (&body, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    body(t, iters);
                    start.elapsed()
                })
            })
            .collect();
        barrier.wait();
        handles
            .into_iter()
            .map(|h| h.join().expect("bench thread"))
            .collect()
    });
    times.into_iter().max().unwrap_or_default()
}

#[repr(align(128))]
struct Padded<T>(T);

/// The least work any correct lookup by field values does, written by hand for these two
/// values and one thread: hash them, probe one slot of a thread-local table, compare the whole
/// key, add atomically. No State, no enabled check, no metric resolution, no miss path. A
/// reference for what the goals can ask of a general lookup on this machine.
mod floor {
    use std::cell::RefCell;
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

    struct Series {
        key: Vec<u8>,
        value: AtomicU64,
    }

    thread_local! {
        static TABLE: RefCell<Vec<Option<(u64, Series)>>> = RefCell::new((0..64).map(|_| None).collect());
    }

    fn key(method: &str, status: i64) -> Vec<u8> {
        let mut k = vec![method.len() as u8];
        k.extend_from_slice(method.as_bytes());
        k.extend_from_slice(&status.to_le_bytes());
        k
    }

    #[inline(always)]
    fn hash(method: &str, status: i64) -> u64 {
        let b = method.as_bytes();
        let mut h = 0x243f_6a88_85a3_08d3u64 ^ b.len() as u64;
        for &c in b {
            h = (h ^ u64::from(c)).wrapping_mul(0x1319_8a2e_0370_7344 | 1);
        }
        let m = u128::from(h ^ status as u64) * 0x0a40_9382_2299_f31d;
        (m as u64) ^ ((m >> 64) as u64)
    }

    pub(crate) fn insert(method: &str, status: i64) {
        let h = hash(method, status);
        TABLE.with(|t| {
            t.borrow_mut()[(h >> 58) as usize] = Some((
                h,
                Series {
                    key: key(method, status),
                    value: AtomicU64::new(0),
                },
            ))
        });
    }

    #[inline(never)]
    pub(crate) fn inc(method: &str, status: i64) {
        let h = hash(method, status);
        TABLE.with(|t| {
            if let Some((eh, s)) = &t.borrow()[(h >> 58) as usize] {
                let k = &s.key;
                let n = method.len();
                if *eh == h
                    && k.len() == n + 9
                    && usize::from(k[0]) == n
                    && &k[1..=n] == method.as_bytes()
                    && k[n + 1..] == status.to_le_bytes()
                {
                    s.value.fetch_add(1, Relaxed);
                }
            }
        });
    }
}

/// The newer peers: fastmetrics, metriken and the OpenTelemetry SDK, each with the same
/// counter and histogram (12 buckets of factor 2 from 1 ms; metriken's is its own log-linear
/// histogram, grouping power 3, in nanoseconds).
struct Peers {
    fast_counter: fastmetrics::metrics::counter::Counter,
    fast_family: fastmetrics::metrics::family::Family<
        (&'static str, u16),
        fastmetrics::metrics::counter::Counter,
    >,
    fast_histogram: fastmetrics::metrics::histogram::Histogram,
    metriken_counter: metriken::Counter,
    metriken_histogram: metriken::AtomicCounterHistogram,
    otel_counter: opentelemetry::metrics::Counter<u64>,
    otel_histogram: opentelemetry::metrics::Histogram<f64>,
    otel_attrs: [opentelemetry::KeyValue; 1],
    _otel: opentelemetry_sdk::metrics::SdkMeterProvider,
}

impl Peers {
    fn new() -> Self {
        use opentelemetry::metrics::MeterProvider as _;
        let bounds: Vec<f64> = (0..12).map(|i| 0.001 * 2f64.powi(i)).collect();
        let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
            .with_reader(opentelemetry_sdk::metrics::ManualReader::builder().build())
            .build();
        let meter = provider.meter("bench");
        Peers {
            fast_counter: Default::default(),
            fast_family: Default::default(),
            fast_histogram: fastmetrics::metrics::histogram::Histogram::new(bounds.clone()),
            metriken_counter: metriken::Counter::new(),
            metriken_histogram: metriken::AtomicCounterHistogram::new(3, 40),
            otel_counter: meter.u64_counter("requests").build(),
            otel_histogram: meter
                .f64_histogram("latency")
                .with_boundaries(bounds)
                .build(),
            otel_attrs: [opentelemetry::KeyValue::new("method", "GET")],
            _otel: provider,
        }
    }
}

/// Two of each peer's pre-resolved metrics, for the two-thread groups ("same series" uses the
/// first from both threads).
struct PeerPairs {
    fast_counters: [fastmetrics::metrics::counter::Counter; 2],
    fast_histograms: [fastmetrics::metrics::histogram::Histogram; 2],
    /// On lines of their own, as the other libraries' (heap-allocated) metrics are.
    metriken_counters: [Padded<metriken::Counter>; 2],
    metriken_histograms: [metriken::AtomicCounterHistogram; 2],
    otel_attrs: [[opentelemetry::KeyValue; 1]; 2],
}

impl PeerPairs {
    fn new() -> Self {
        let bounds = || (0..12).map(|i| 0.001 * 2f64.powi(i));
        PeerPairs {
            fast_counters: Default::default(),
            fast_histograms: [
                fastmetrics::metrics::histogram::Histogram::new(bounds()),
                fastmetrics::metrics::histogram::Histogram::new(bounds()),
            ],
            metriken_counters: [
                Padded(metriken::Counter::new()),
                Padded(metriken::Counter::new()),
            ],
            metriken_histograms: [
                metriken::AtomicCounterHistogram::new(3, 40),
                metriken::AtomicCounterHistogram::new(3, 40),
            ],
            otel_attrs: [
                [opentelemetry::KeyValue::new("method", "GET")],
                [opentelemetry::KeyValue::new("method", "PUT")],
            ],
        }
    }
}

fn counters(c: &mut Criterion) {
    let state = state();
    let _g = state.enter();
    let handle = REQUESTS.handle(("GET", 200));
    let handles = [REQUESTS.handle(("GET", 200)), REQUESTS.handle(("PUT", 201))];
    let bare = AtomicU64::new(0);
    // One cache line each, so "different series" does not measure false sharing.
    let bares = [Padded(AtomicU64::new(0)), Padded(AtomicU64::new(0))];
    let registry = prometheus::Registry::new();
    let prom = prometheus::IntCounterVec::new(
        prometheus::Opts::new("requests_total", "requests"),
        &["method", "status"],
    )
    .expect("prometheus");
    registry.register(Box::new(prom.clone())).expect("register");
    let prom_cached = prom.with_label_values(&["GET", "200"]);
    let prom_cached2 = [
        prom.with_label_values(&["GET", "200"]),
        prom.with_label_values(&["PUT", "201"]),
    ];
    let client = prometheus_client::metrics::family::Family::<
        ClientLabels,
        prometheus_client::metrics::counter::Counter,
    >::default();
    let measured = MeasuredMetrics {
        counters: CounterVec::with_label_set(measured_set()),
    };
    let peers = Peers::new();
    let pairs = PeerPairs::new();
    let methods = ["GET", "PUT"];
    let statuses = [200, 201];
    let status_texts = ["200", "201"];

    let mut g = c.benchmark_group("counter/1 thread");
    g.bench_function("bare AtomicU64::fetch_add", |b| {
        b.iter(|| black_box(&bare).fetch_add(1, Relaxed))
    });
    g.bench_function("tsmon handle", |b| b.iter(|| black_box(&handle).inc()));
    g.bench_function("prometheus cached", |b| {
        b.iter(|| black_box(&prom_cached).inc())
    });
    g.bench_function("fastmetrics cached", |b| {
        b.iter(|| black_box(&peers.fast_counter).inc())
    });
    g.bench_function("metriken static", |b| {
        b.iter(|| black_box(&peers.metriken_counter).increment())
    });
    g.bench_function("tsmon by value", |b| {
        b.iter(|| REQUESTS.inc(black_box(("GET", 200))))
    });
    g.bench_function("fastmetrics family with_or_new", |b| {
        b.iter(|| {
            peers
                .fast_family
                .with_or_new(black_box(&("GET", 200)), |c| c.inc())
        })
    });
    g.bench_function("opentelemetry counter add", |b| {
        b.iter(|| peers.otel_counter.add(1, black_box(&peers.otel_attrs)))
    });
    floor::insert("GET", 200);
    g.bench_function("reference: minimal hand-written lookup", |b| {
        b.iter(|| floor::inc(black_box("GET"), black_box(200)))
    });
    g.bench_function("prometheus with_label_values", |b| {
        b.iter(|| prom.with_label_values(black_box(&["GET", "200"])).inc())
    });
    g.bench_function("prometheus-client get_or_create", |b| {
        let labels = ClientLabels { kind: "GET".into() };
        b.iter(|| client.get_or_create(black_box(&labels)).inc())
    });
    // Many series in turn: far more than a thread's lookup cache holds, so most lookups miss it.
    let routes: Vec<String> = (0..1000).map(|i| format!("/route/{i}")).collect();
    let route_statuses: Vec<String> = (0..1000).map(|i| (200 + i % 3).to_string()).collect();
    g.bench_function("tsmon by value, 1000 series in turn", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % routes.len();
            REQUESTS.inc((&routes[i], 200 + (i as i64) % 3));
        })
    });
    g.bench_function("prometheus with_label_values, 1000 series in turn", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % routes.len();
            prom.with_label_values(&[&routes[i], &route_statuses[i]])
                .inc();
        })
    });
    g.bench_function("measured inc", |b| {
        b.iter(|| {
            measured.counters.inc(MeasuredLabels {
                kind: black_box("GET"),
            })
        })
    });
    g.finish();

    for (group, same) in [
        ("counter/2 threads, same series", true),
        ("counter/2 threads, different series", false),
    ] {
        let pick = |t: usize| if same { 0 } else { t };
        let mut g = c.benchmark_group(group);
        g.bench_function("bare AtomicU64::fetch_add", |b| {
            b.iter_custom(|n| {
                two_threads(n, |t| {
                    bares[pick(t)].0.fetch_add(1, Relaxed);
                })
            })
        });
        g.bench_function("tsmon handle", |b| {
            b.iter_custom(|n| two_threads(n, |t| handles[pick(t)].inc()))
        });
        g.bench_function("prometheus cached", |b| {
            b.iter_custom(|n| two_threads(n, |t| prom_cached2[pick(t)].inc()))
        });
        g.bench_function("fastmetrics cached", |b| {
            b.iter_custom(|n| two_threads(n, |t| pairs.fast_counters[pick(t)].inc()))
        });
        g.bench_function("metriken static", |b| {
            b.iter_custom(|n| {
                two_threads(n, |t| {
                    pairs.metriken_counters[pick(t)].0.increment();
                })
            })
        });
        g.bench_function("opentelemetry counter add", |b| {
            b.iter_custom(|n| {
                two_threads(n, |t| peers.otel_counter.add(1, &pairs.otel_attrs[pick(t)]))
            })
        });
        g.bench_function("tsmon by value", |b| {
            b.iter_custom(|n| {
                two_threads_loop(n, |t, n| {
                    let _g = state.enter();
                    for _ in 0..n {
                        REQUESTS.inc((methods[pick(t)], statuses[pick(t)]));
                    }
                })
            })
        });
        g.bench_function("prometheus with_label_values", |b| {
            b.iter_custom(|n| {
                two_threads(n, |t| {
                    prom.with_label_values(&[methods[pick(t)], status_texts[pick(t)]])
                        .inc();
                })
            })
        });
        g.finish();
    }
}

fn distributions(c: &mut Criterion) {
    let state = state();
    let _g = state.enter();
    let handle = LATENCY.handle("GET");
    let handles = [LATENCY.handle("GET"), LATENCY.handle("PUT")];
    let buckets = prometheus::exponential_buckets(0.001, 2.0, 12).expect("buckets");
    let prom = prometheus::HistogramVec::new(
        prometheus::HistogramOpts::new("latency_seconds", "latency").buckets(buckets.clone()),
        &["method"],
    )
    .expect("prometheus");
    let prom_cached = prom.with_label_values(&["GET"]);
    let prom_cached2 = [
        prom.with_label_values(&["GET"]),
        prom.with_label_values(&["PUT"]),
    ];
    let client = prometheus_client::metrics::family::Family::<
        ClientLabels,
        prometheus_client::metrics::histogram::Histogram,
    >::new_with_constructor(move || {
        prometheus_client::metrics::histogram::Histogram::new(
            prometheus_client::metrics::histogram::exponential_buckets(0.001, 2.0, 12),
        )
    });
    let methods = ["GET", "PUT"];

    let native = NATIVE.handle("GET");
    let peers = Peers::new();
    let pairs = PeerPairs::new();
    let mut g = c.benchmark_group("distribution/1 thread");
    g.bench_function("tsmon handle", |b| {
        b.iter(|| black_box(&handle).add(black_box(0.0123)))
    });
    g.bench_function("tsmon native handle", |b| {
        b.iter(|| black_box(&native).add(black_box(0.0123)))
    });
    g.bench_function("prometheus cached", |b| {
        b.iter(|| black_box(&prom_cached).observe(black_box(0.0123)))
    });
    g.bench_function("fastmetrics cached", |b| {
        b.iter(|| black_box(&peers.fast_histogram).observe(black_box(0.0123)))
    });
    g.bench_function("metriken histogram (nanoseconds)", |b| {
        b.iter(|| black_box(&peers.metriken_histogram).increment(black_box(12_300_000)))
    });
    g.bench_function("tsmon by value", |b| {
        b.iter(|| LATENCY.add(black_box(0.0123), black_box("GET")))
    });
    g.bench_function("opentelemetry histogram record", |b| {
        b.iter(|| {
            peers
                .otel_histogram
                .record(black_box(0.0123), black_box(&peers.otel_attrs))
        })
    });
    g.bench_function("prometheus with_label_values", |b| {
        b.iter(|| {
            prom.with_label_values(black_box(&["GET"]))
                .observe(black_box(0.0123))
        })
    });
    g.bench_function("prometheus-client get_or_create", |b| {
        let labels = ClientLabels { kind: "GET".into() };
        b.iter(|| {
            client
                .get_or_create(black_box(&labels))
                .observe(black_box(0.0123))
        })
    });
    g.finish();

    // A spread of values (log-uniform, 1 ms to 10 s), so the bucket changes from one sample
    // to the next as in a service.
    let spread: Vec<f64> = (0..1024u32)
        .map(|i| 10f64.powf(-3.0 + 4.0 * f64::from((i * 613) % 1024) / 1024.0))
        .collect();
    let mut g = c.benchmark_group("distribution/1 thread, spread values");
    g.bench_function("tsmon handle", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) & 1023;
            black_box(&handle).add(spread[i])
        })
    });
    g.bench_function("tsmon native handle", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) & 1023;
            black_box(&native).add(spread[i])
        })
    });
    g.bench_function("prometheus cached", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) & 1023;
            black_box(&prom_cached).observe(spread[i])
        })
    });
    g.bench_function("fastmetrics cached", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) & 1023;
            black_box(&peers.fast_histogram).observe(spread[i])
        })
    });
    let spread_ns: Vec<u64> = spread.iter().map(|x| (x * 1e9) as u64).collect();
    g.bench_function("metriken histogram (nanoseconds)", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) & 1023;
            black_box(&peers.metriken_histogram).increment(spread_ns[i])
        })
    });
    g.finish();

    for (group, same) in [
        ("distribution/2 threads, same series", true),
        ("distribution/2 threads, different series", false),
    ] {
        let pick = |t: usize| if same { 0 } else { t };
        let mut g = c.benchmark_group(group);
        g.bench_function("tsmon handle", |b| {
            b.iter_custom(|n| two_threads(n, |t| handles[pick(t)].add(0.0123)))
        });
        g.bench_function("prometheus cached", |b| {
            b.iter_custom(|n| two_threads(n, |t| prom_cached2[pick(t)].observe(0.0123)))
        });
        g.bench_function("fastmetrics cached", |b| {
            b.iter_custom(|n| two_threads(n, |t| pairs.fast_histograms[pick(t)].observe(0.0123)))
        });
        g.bench_function("metriken histogram (nanoseconds)", |b| {
            b.iter_custom(|n| {
                two_threads(n, |t| {
                    let _ = pairs.metriken_histograms[pick(t)].increment(12_300_000);
                })
            })
        });
        g.bench_function("opentelemetry histogram record", |b| {
            b.iter_custom(|n| {
                two_threads(n, |t| {
                    peers
                        .otel_histogram
                        .record(0.0123, &pairs.otel_attrs[pick(t)]);
                })
            })
        });
        g.bench_function("tsmon by value", |b| {
            b.iter_custom(|n| {
                two_threads_loop(n, |t, n| {
                    let _g = state.enter();
                    for _ in 0..n {
                        LATENCY.add(0.0123, methods[pick(t)]);
                    }
                })
            })
        });
        g.bench_function("prometheus with_label_values", |b| {
            b.iter_custom(|n| {
                two_threads(n, |t| {
                    prom.with_label_values(&[methods[pick(t)]]).observe(0.0123)
                })
            })
        });
        g.finish();
    }
}

fn encoding(c: &mut Criterion) {
    for n in [1_000usize, 10_000, 100_000] {
        let mut g = c.benchmark_group(format!("encode {n} series"));
        g.sample_size(20);
        let mut buf = itoa::Buffer::new();

        let state = state();
        state.in_scope(|| (0..n).for_each(|i| WIDE.inc(buf.format(i))));
        let mut out = Vec::new();
        g.bench_function("tsmon text (pull path: straight from the store)", |b| {
            b.iter(|| {
                out.clear();
                state.encode_into(Format::Text, &mut out);
                black_box(&out);
            })
        });
        g.bench_function("tsmon text (snapshot + encode)", |b| {
            b.iter(|| {
                out.clear();
                tsmon::exposition::encode(&state.snapshot(), Format::Text, &mut out);
                black_box(&out);
            })
        });

        let registry = prometheus::Registry::new();
        let prom = prometheus::IntCounterVec::new(
            prometheus::Opts::new("counters_total", "help text"),
            &["kind"],
        )
        .expect("vec");
        registry.register(Box::new(prom.clone())).expect("register");
        (0..n).for_each(|i| prom.with_label_values(&[buf.format(i)]).inc());
        let mut text = String::new();
        g.bench_function("prometheus TextEncoder", |b| {
            b.iter(|| {
                text.clear();
                prometheus::TextEncoder::new()
                    .encode_utf8(&registry.gather(), &mut text)
                    .expect("encode");
                black_box(&text);
            })
        });

        let mut client_registry = <prometheus_client::registry::Registry>::default();
        let family = prometheus_client::metrics::family::Family::<
            ClientLabels,
            prometheus_client::metrics::counter::Counter,
        >::default();
        client_registry.register("counters", "help text", family.clone());
        (0..n).for_each(|i| {
            family
                .get_or_create(&ClientLabels {
                    kind: buf.format(i).to_owned(),
                })
                .inc();
        });
        g.bench_function("prometheus-client text", |b| {
            b.iter(|| {
                text.clear();
                prometheus_client::encoding::text::encode(&mut text, &client_registry)
                    .expect("encode");
                black_box(&text);
            })
        });

        let mut fast_registry = fastmetrics::registry::Registry::default();
        let fast_family = fastmetrics::metrics::family::Family::<
            FastLabels,
            fastmetrics::metrics::counter::Counter,
        >::default();
        fast_registry
            // As measured's and prometheus' are named: the same series as the others write.
            .register("counters_total", "help text", fast_family.clone())
            .expect("register");
        (0..n).for_each(|i| {
            fast_family.with_or_new(
                &FastLabels {
                    kind: buf.format(i).to_owned(),
                },
                |c| c.inc(),
            );
        });
        let fast_text = |text: &mut String| {
            text.clear();
            fastmetrics::format::text::encode(
                text,
                &fast_registry,
                fastmetrics::format::text::TextProfile::PrometheusV0_0_4,
            )
            .expect("encode");
        };
        g.bench_function("fastmetrics text", |b| {
            b.iter(|| {
                fast_text(&mut text);
                black_box(&text);
            })
        });
        if n == 1_000 {
            fast_text(&mut text);
            eprintln!("bytes, {n} series: fastmetrics text {}", text.len());
        }

        let measured = MeasuredMetrics {
            counters: CounterVec::with_label_set(measured_set()),
        };
        (0..n).for_each(|i| {
            measured.counters.inc(MeasuredLabels {
                kind: buf.format(i),
            })
        });
        let mut enc = measured::text::BufferedTextEncoder::new();
        // The bytes each writes for the same series (the wire-bytes comparison).
        {
            let mut tsmon_text = Vec::new();
            state.encode_into(Format::Text, &mut tsmon_text);
            let mut tsmon_info = Vec::new();
            tsmon::exposition::encode_with(
                &state.snapshot(),
                Format::Text,
                tsmon::exposition::Options::default().with_target_info(true),
                &mut tsmon_info,
            );
            let mut prom_text = String::new();
            prometheus::TextEncoder::new()
                .encode_utf8(&registry.gather(), &mut prom_text)
                .expect("encode");
            let mut client_text = String::new();
            prometheus_client::encoding::text::encode(&mut client_text, &client_registry)
                .expect("encode");
            measured.collect_group_into(&mut enc).expect("encode");
            let measured_bytes = enc.finish().len();
            eprintln!(
                "bytes, {n} series: tsmon text {} ({:.2}x measured), tsmon text with target_info {} ({:.2}x), prometheus {}, prometheus-client {}, measured {measured_bytes}",
                tsmon_text.len(),
                tsmon_text.len() as f64 / measured_bytes as f64,
                tsmon_info.len(),
                tsmon_info.len() as f64 / measured_bytes as f64,
                prom_text.len(),
                client_text.len(),
            );
        }
        // The same output as the peers' (the target's labels once, in `target_info`), on the
        // path the pull endpoint serves.
        let info_state = crate::state();
        info_state
            .apply_settings(tsmon::settings::Settings {
                pull_target_info: true,
                ..info_state.settings()
            })
            .expect("settings");
        info_state.in_scope(|| (0..n).for_each(|i| WIDE.inc(buf.format(i))));
        g.bench_function("tsmon text, target_info (pull path)", |b| {
            b.iter(|| {
                out.clear();
                info_state.encode_into(Format::Text, &mut out);
                black_box(&out);
            })
        });
        g.bench_function("tsmon text, target_info", |b| {
            let snapshot_options = tsmon::exposition::Options::default().with_target_info(true);
            b.iter(|| {
                out.clear();
                tsmon::exposition::encode_with(
                    &state.snapshot(),
                    Format::Text,
                    snapshot_options,
                    &mut out,
                );
                black_box(&out);
            })
        });
        g.bench_function("measured text", |b| {
            b.iter(|| {
                measured.collect_group_into(&mut enc).expect("encode");
                black_box(enc.finish());
            })
        });
        g.finish();
    }
}

/// fastmetrics' labels for the encode comparison: one `kind`, as the others have.
#[derive(Clone, PartialEq, Eq, Hash)]
struct FastLabels {
    kind: String,
}

impl fastmetrics::raw::LabelSetSchema for FastLabels {
    fn names() -> Option<&'static [&'static str]> {
        Some(&["kind"])
    }
}

impl fastmetrics::encoder::EncodeLabelSet for FastLabels {
    fn encode(
        &self,
        encoder: &mut dyn fastmetrics::encoder::LabelSetEncoder,
    ) -> fastmetrics::error::Result<()> {
        encoder.encode(&("kind", &self.kind))
    }
}

fn measured_set() -> MeasuredSet {
    MeasuredSet {
        kind: ParaCord::default(),
    }
}

/// The label values of the memory figures' series: `series-0`, `series-1`, …
fn series_names(n: usize) -> Vec<String> {
    let mut buf = itoa::Buffer::new();
    (0..n)
        .map(|i| format!("series-{}", buf.format(i)))
        .collect()
}

/// Bytes allocated per series for `n` new series of one counter, for each library.
fn memory() {
    const N: usize = 100_000;
    let names = series_names(N);
    let measure = |f: &dyn Fn()| {
        let before = ALLOCATED.load(Relaxed);
        f();
        (ALLOCATED.load(Relaxed) - before) as f64 / N as f64
    };
    let state = state();
    let tsmon = measure(&|| state.in_scope(|| names.iter().for_each(|k| WIDE.inc(k))));
    let prom =
        prometheus::IntCounterVec::new(prometheus::Opts::new("c", "h"), &["kind"]).expect("vec");
    let prometheus = measure(&|| {
        names
            .iter()
            .for_each(|k| prom.with_label_values(&[k]).inc())
    });
    let family = prometheus_client::metrics::family::Family::<
        ClientLabels,
        prometheus_client::metrics::counter::Counter,
    >::default();
    let client = measure(&|| {
        names.iter().for_each(|k| {
            family
                .get_or_create(&ClientLabels { kind: k.clone() })
                .inc();
        })
    });
    let m = MeasuredMetrics {
        counters: CounterVec::with_label_set(measured_set()),
    };
    let measured = measure(&|| {
        names
            .iter()
            .for_each(|k| m.counters.inc(MeasuredLabels { kind: k }))
    });
    println!(
        "memory, bytes per series ({N} series of one counter, key `series-N`): tsmon {tsmon:.0}, prometheus {prometheus:.0}, prometheus-client {client:.0}, measured {measured:.0}"
    );
}

/// Memory during a scrape of a million series, against the store's own: the bytes allocated
/// beyond those before the scrape, at their peak. The pull endpoint streams its text a chunk at
/// a time (`State::encode_chunks`); `encode_into` writes the whole text into one buffer; a
/// real scrape over loopback counts hyper's buffers too. `measured` for comparison, which
/// writes its whole text into its encoder's buffer.
fn scrape_memory() {
    use std::io::{Read, Write};
    const N: usize = 1_000_000;
    let names = series_names(N);
    for target_info in [false, true] {
        let state = State::builder()
            .with_target(
                Target::new("bench", "bench")
                    .with_data_center("dc")
                    .with_host("host"),
            )
            .with_settings(tsmon::settings::Settings {
                monitor: tsmon::settings::MonitorSpec::parse("pull:127.0.0.1:0").expect("spec"),
                report_runtime_stats: false,
                pull_target_info: target_info,
                ..tsmon::settings::Settings::default()
            })
            .build()
            .expect("state");
        let before = ALLOCATED.load(Relaxed);
        state.in_scope(|| names.iter().for_each(|k| WIDE.inc(k)));
        let store = (ALLOCATED.load(Relaxed) - before) as f64;
        let peak_of = |f: &mut dyn FnMut() -> usize| {
            let start = counting::reset_peak();
            let bytes = f();
            ((counting::PEAK.load(Relaxed) - start) as f64, bytes)
        };
        let (chunked, text) = peak_of(&mut || {
            state
                .encode_chunks(Format::Text, 64 * 1024)
                .map(|c| black_box(c).len())
                .sum()
        });
        let (whole, _) = peak_of(&mut || {
            let mut out = Vec::new();
            state.encode_into(Format::Text, &mut out);
            black_box(out).len()
        });
        let addr = state.pull_address().expect("pull endpoint");
        let started = Instant::now();
        let (served, body) = peak_of(&mut || {
            let mut s = std::net::TcpStream::connect(addr).expect("connect");
            s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .expect("send");
            let mut chunk = [0u8; 64 * 1024];
            let mut n = 0;
            loop {
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => break n,
                    Ok(k) => n += k,
                }
            }
        });
        let took = started.elapsed();
        println!(
            "memory, a scrape of {N} series (target_info {target_info}): the store {:.1} MB; \
             the text {:.1} MB; during the scrape, chunked {:.2} MB ({:.3}x the store with it), \
             served over loopback {:.2} MB ({:.3}x; {:.1} MB read in {took:.2?}, the status \
             ring's first sample with it), whole text {:.1} MB ({:.2}x)",
            store / 1e6,
            text as f64 / 1e6,
            chunked / 1e6,
            (store + chunked) / store,
            served / 1e6,
            (store + served) / store,
            body as f64 / 1e6,
            whole / 1e6,
            (store + whole) / store,
        );
    }
    let m = MeasuredMetrics {
        counters: CounterVec::with_label_set(measured_set()),
    };
    let before = ALLOCATED.load(Relaxed);
    names
        .iter()
        .for_each(|k| m.counters.inc(MeasuredLabels { kind: k }));
    let store = (ALLOCATED.load(Relaxed) - before) as f64;
    let start = counting::reset_peak();
    let mut enc = measured::text::BufferedTextEncoder::new();
    m.collect_group_into(&mut enc).expect("encode");
    let text = black_box(enc.finish()).len();
    let during = (counting::PEAK.load(Relaxed) - start) as f64;
    println!(
        "memory, measured with {N} series: the store {:.1} MB, the text {:.1} MB, during the encode {:.1} MB ({:.2}x the store with it)",
        store / 1e6,
        text as f64 / 1e6,
        during / 1e6,
        (store + during) / store
    );
}

/// Bytes allocated by one native histogram series (schema 3) and 1,000 samples in it, spread
/// over three decades as a service's latencies are.
fn native_memory() {
    let state = state();
    // A first series makes what the metric and its schema share once (the bucketers' and the
    // schema's tables); the figures are those of the next one.
    let before_first = ALLOCATED.load(Relaxed);
    state.in_scope(|| NATIVE.handle("memory, first").add(1.0));
    let once = ALLOCATED.load(Relaxed) - before_first;
    let start = ALLOCATED.load(Relaxed);
    let (empty, full) = state.in_scope(|| {
        let h = NATIVE.handle("memory");
        let empty = ALLOCATED.load(Relaxed);
        for i in 0..1000u32 {
            h.add(10f64.powf(-3.0 + 3.0 * f64::from((i * 617) % 1000) / 1000.0));
        }
        (empty, ALLOCATED.load(Relaxed))
    });
    let series = empty - start;
    let buckets_bytes = full - empty;
    let buckets = state.in_scope(|| {
        NATIVE
            .get("memory")
            .and_then(|d| d.native().map(|n| n.bucket_count()))
            .unwrap_or(0)
    });
    println!(
        "memory, native histogram: a new series {series} bytes (its key and empty cell), then 1000 samples {buckets_bytes} bytes more ({buckets} buckets at schema 3); the metric's first series and sample {once} bytes (with what is made once)"
    );
}

/// The cost of the `tracing` exemplar source (feature `tracing-opentelemetry`): a handle's
/// write before any `ExemplarLayer` exists, after one exists but with no span entered, and
/// inside an entered span with an OpenTelemetry context (which keeps an exemplar each time).
#[cfg(feature = "tracing-opentelemetry")]
fn exemplar_source(c: &mut Criterion) {
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    let state = state();
    let _g = state.enter();
    let counter = REQUESTS.handle(("GET", 200));
    let dist = LATENCY.handle("GET");
    let mut g = c.benchmark_group("exemplar source");
    g.bench_function("counter handle, no layer", |b| {
        b.iter(|| black_box(&counter).inc())
    });
    g.bench_function("distribution handle, no layer", |b| {
        b.iter(|| black_box(&dist).add(black_box(0.0123)))
    });
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bench")))
        .with(tsmon::exemplars::ExemplarLayer::new());
    tracing::subscriber::with_default(subscriber, || {
        g.bench_function("counter handle, layer, no span", |b| {
            b.iter(|| black_box(&counter).inc())
        });
        g.bench_function("distribution handle, layer, no span", |b| {
            b.iter(|| black_box(&dist).add(black_box(0.0123)))
        });
        let span = tracing::info_span!("request");
        let _in = span.enter();
        g.bench_function("counter handle, in a traced span", |b| {
            b.iter(|| black_box(&counter).inc())
        });
    });
    g.finish();
}

#[cfg(not(feature = "tracing-opentelemetry"))]
fn exemplar_source(_: &mut Criterion) {}

criterion_group!(benches, counters, distributions, encoding, exemplar_source);

fn main() {
    native_memory();
    memory();
    // Asked for by name (`cargo bench -p tsmon --bench store -- scrape-memory`, which matches
    // no benchmark): a million series' worth of allocations would change the heap the timed
    // benchmarks after it run on.
    if std::env::args().any(|a| a == "scrape-memory") {
        scrape_memory();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
