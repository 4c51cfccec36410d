//! The OTLP/HTTP monitor against a receiver built on the official protobuf definitions (the
//! `opentelemetry-proto` crate decodes what arrives; nothing here is a hand-written decoder):
//! every kind's values, attributes and start times round-trip, and the OTLP retry rules hold.

use std::collections::VecDeque;
use std::io::Read as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Metric, metric::Data, number_data_point,
};
use prost::Message as _;
use tsmon::State;
use tsmon::monitor::{Monitor, OtlpMonitor};

tsmon::metric! {
    /// Jobs run.
    static JOBS: Counter(queue: String, shard: i64, urgent: bool) = "otlp/jobs";
    /// Seconds busy.
    #[tsmon(units = seconds)]
    static BUSY: FloatCounter = "otlp/busy";
    /// Queue depth.
    static DEPTH: IntGauge(queue: String) = "otlp/depth";
    /// Temperature.
    static TEMP: FloatGauge = "otlp/temperature";
    /// Up.
    static UP: BoolMetric = "otlp/up";
    /// Version.
    static VERSION: StringMetric = "otlp/version";
    /// Latency.
    #[tsmon(units = milliseconds, bucketer = bounds(1.0, 10.0, 100.0))]
    static LATENCY: CumulativeDistribution = "otlp/latency";
    /// Sizes, as a native histogram.
    #[tsmon(units = bytes, bucketer = native(0))]
    static SIZES: CumulativeDistribution = "otlp/sizes";
    /// A whole distribution, set at once.
    #[tsmon(bucketer = bounds(1.0, 2.0))]
    static BATCH: NonCumulativeDistribution = "otlp/batch";
}

/// What the receiver got: each request's headers and decoded body, and when.
type Got = Arc<Mutex<Vec<(Instant, http::HeaderMap, ExportMetricsServiceRequest)>>>;

/// A receiver on a free loopback port answering from `script` (status, `Retry-After`), then 200.
fn receiver(script: Vec<(u16, Option<&'static str>)>) -> (String, Got, tokio::runtime::Runtime) {
    use axum::body::Bytes;
    use axum::response::IntoResponse;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let got: Got = Arc::default();
    let script = Arc::new(Mutex::new(VecDeque::from(script)));
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let g = got.clone();
    let app = axum::Router::new().route(
        "/v1/metrics",
        axum::routing::post(move |headers: http::HeaderMap, body: Bytes| {
            let g = g.clone();
            let script = script.clone();
            async move {
                let mut raw = Vec::new();
                flate2::read::GzDecoder::new(&body[..])
                    .read_to_end(&mut raw)
                    .unwrap();
                let req = ExportMetricsServiceRequest::decode(&raw[..]).unwrap();
                g.lock().unwrap().push((Instant::now(), headers, req));
                let (status, after) = script.lock().unwrap().pop_front().unwrap_or((200, None));
                let mut response = (
                    http::StatusCode::from_u16(status).unwrap(),
                    "scripted answer",
                )
                    .into_response();
                if let Some(a) = after {
                    response
                        .headers_mut()
                        .insert(http::header::RETRY_AFTER, a.parse().unwrap());
                }
                response
            }
        }),
    );
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/v1/metrics"), got, rt)
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v: &AnyValue| v.value.as_ref())
}

fn string(attrs: &[KeyValue], key: &str) -> String {
    match attr(attrs, key) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        other => panic!("{key}: {other:?}"),
    }
}

fn metric<'a>(req: &'a ExportMetricsServiceRequest, name: &str) -> &'a Metric {
    req.resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no {name}"))
}

fn state() -> State {
    State::builder()
        .with_target(
            tsmon::Target::new("fleet", "worker")
                .with_data_center("dc1")
                .with_host("host-7")
                .with_task_num(12),
        )
        .with_settings(tsmon::settings::Settings {
            report_runtime_stats: false,
            ..tsmon::settings::Settings::default()
        })
        .build()
        .unwrap()
}

#[test]
fn every_kind_round_trips_with_its_attributes_and_start_time() {
    let (url, got, rt) = receiver(Vec::new());
    let state = state();
    state.in_scope(|| {
        JOBS.add(5, ("mail", 3, true));
        BUSY.add(1.5, ());
        DEPTH.set(-4, "mail");
        TEMP.set(21.25, ());
        UP.set(true, ());
        VERSION.set("1.2.3", ());
        for x in [0.5, 1.0, 5.0, 50.0, 500.0] {
            LATENCY.add(x, ());
        }
        for x in [0.0, 1.5, 3.0, 3.5, 1000.0] {
            SIZES.add(x, ());
        }
        let mut d = tsmon::distribution::Distribution::new(BATCH.desc().bucketer());
        d.add(1.5);
        d.add(7.0);
        BATCH.set(&d, ());
    });
    let snap = state.snapshot();
    let monitor = OtlpMonitor::new(&url).unwrap();
    rt.block_on(monitor.send(&snap)).unwrap();
    let got = got.lock().unwrap();
    assert_eq!(got.len(), 1);
    let (_, headers, req) = &got[0];
    assert_eq!(headers["content-type"], "application/x-protobuf");
    assert_eq!(headers["content-encoding"], "gzip");

    let resource = req.resource_metrics[0].resource.as_ref().unwrap();
    assert_eq!(string(&resource.attributes, "service.name"), "worker");
    assert_eq!(string(&resource.attributes, "service.namespace"), "fleet");
    assert_eq!(string(&resource.attributes, "service.instance.id"), "12");
    assert_eq!(string(&resource.attributes, "host.name"), "host-7");
    assert_eq!(string(&resource.attributes, "tsmon.data_center"), "dc1");
    assert_eq!(
        req.resource_metrics[0].scope_metrics[0]
            .scope
            .as_ref()
            .unwrap()
            .name,
        "tsmon"
    );

    let start_of = |name: &str| snap.metric(name).unwrap().cells()[0].start_micros() * 1000;
    // Counter: a cumulative monotonic sum, its fields as typed attributes.
    let jobs = metric(req, "otlp/jobs");
    assert_eq!(jobs.description, "Jobs run.");
    let Some(Data::Sum(sum)) = &jobs.data else {
        panic!("{jobs:?}")
    };
    assert!(sum.is_monotonic);
    assert_eq!(
        sum.aggregation_temporality,
        AggregationTemporality::Cumulative as i32
    );
    let p = &sum.data_points[0];
    assert_eq!(p.value, Some(number_data_point::Value::AsInt(5)));
    assert_eq!(string(&p.attributes, "queue"), "mail");
    assert_eq!(
        attr(&p.attributes, "shard"),
        Some(&any_value::Value::IntValue(3))
    );
    assert_eq!(
        attr(&p.attributes, "urgent"),
        Some(&any_value::Value::BoolValue(true))
    );
    assert_eq!(p.start_time_unix_nano, start_of("otlp/jobs"));
    assert!(p.time_unix_nano >= p.start_time_unix_nano);
    assert_eq!(p.time_unix_nano, snap.now_micros() * 1000);

    let busy = metric(req, "otlp/busy");
    assert_eq!(busy.unit, "s");
    let Some(Data::Sum(sum)) = &busy.data else {
        panic!()
    };
    assert_eq!(
        sum.data_points[0].value,
        Some(number_data_point::Value::AsDouble(1.5))
    );

    let gauge = |name: &str| match &metric(req, name).data {
        Some(Data::Gauge(g)) => g.data_points[0].clone(),
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(
        gauge("otlp/depth").value,
        Some(number_data_point::Value::AsInt(-4))
    );
    assert_eq!(
        gauge("otlp/temperature").value,
        Some(number_data_point::Value::AsDouble(21.25))
    );
    assert_eq!(
        gauge("otlp/up").value,
        Some(number_data_point::Value::AsInt(1))
    );
    let version = gauge("otlp/version");
    assert_eq!(version.value, Some(number_data_point::Value::AsInt(1)));
    assert_eq!(string(&version.attributes, "value"), "1.2.3");

    // Classic buckets: the bounds, and a count per bucket.
    let latency = metric(req, "otlp/latency");
    assert_eq!(latency.unit, "ms");
    let Some(Data::Histogram(h)) = &latency.data else {
        panic!()
    };
    assert_eq!(
        h.aggregation_temporality,
        AggregationTemporality::Cumulative as i32
    );
    let p = &h.data_points[0];
    assert_eq!(p.explicit_bounds, vec![1.0, 10.0, 100.0]);
    assert_eq!(p.bucket_counts, vec![1, 2, 1, 1]);
    assert_eq!(p.count, 5);
    assert_eq!(p.sum, Some(556.5));
    assert_eq!(p.start_time_unix_nano, start_of("otlp/latency"));

    // Native buckets: an exponential histogram at the schema's scale.
    let sizes = metric(req, "otlp/sizes");
    let Some(Data::ExponentialHistogram(h)) = &sizes.data else {
        panic!()
    };
    let p = &h.data_points[0];
    assert_eq!(p.scale, 0);
    assert_eq!(p.count, 5);
    assert_eq!(p.zero_count, 1);
    assert_eq!(p.sum, Some(1008.0));
    let positive = p.positive.as_ref().unwrap();
    // Scale 0: bucket k holds (2^k, 2^(k+1)]: 1.5 in k=0, 3 and 3.5 in k=1, 1000 in k=9.
    assert_eq!(positive.offset, 0);
    let mut expected = vec![0u64; 10];
    expected[0] = 1;
    expected[1] = 2;
    expected[9] = 1;
    assert_eq!(positive.bucket_counts, expected);
    let total: u64 = positive.bucket_counts.iter().sum::<u64>() + p.zero_count;
    assert_eq!(total, p.count);

    let batch = metric(req, "otlp/batch");
    let Some(Data::Histogram(h)) = &batch.data else {
        panic!()
    };
    assert_eq!(
        h.aggregation_temporality,
        AggregationTemporality::Delta as i32
    );
    assert_eq!(h.data_points[0].count, 2);
}

fn flush_with(script: Vec<(u16, Option<&'static str>)>) -> (Result<(), tsmon::Error>, Got) {
    let (url, got, rt) = receiver(script);
    let state = state();
    state.in_scope(|| JOBS.add(1, ("retry", 0, false)));
    let monitor = OtlpMonitor::new(&url)
        .unwrap()
        .with_backoff(Duration::from_millis(20));
    let r = rt.block_on(monitor.send(&state.snapshot()));
    (r, got)
}

#[test]
fn retryable_statuses_are_retried_after_retry_after_and_others_are_not() {
    // 503 with Retry-After: 1, then 429 without (backoff), then delivered.
    let (r, got) = flush_with(vec![(503, Some("1")), (429, None)]);
    r.unwrap();
    let got = got.lock().unwrap();
    assert_eq!(got.len(), 3);
    assert!(
        got[1].0 - got[0].0 >= Duration::from_secs(1),
        "waited as Retry-After asked"
    );
    drop(got);
    for status in [502, 504] {
        let (r, got) = flush_with(vec![(status, None)]);
        r.unwrap();
        assert_eq!(got.lock().unwrap().len(), 2, "{status} retried");
    }
    // Every other 4xx and 5xx: one attempt, and a clear error.
    for status in [400, 404, 413, 500, 501] {
        let (r, got) = flush_with(vec![(status, None)]);
        let err = r.unwrap_err().to_string();
        assert!(err.contains("not retried"), "{status}: {err}");
        assert!(err.contains(&status.to_string()), "{err}");
        assert_eq!(got.lock().unwrap().len(), 1, "{status} not retried");
    }
    let (r, got) = flush_with(vec![(401, None)]);
    assert!(
        r.unwrap_err()
            .to_string()
            .contains("credentials are refused")
    );
    assert_eq!(got.lock().unwrap().len(), 1);
    // A receiver that keeps asking: four attempts, then the flush fails.
    let (r, got) = flush_with(vec![(503, None); 5]);
    let err = r.unwrap_err().to_string();
    assert!(err.contains("after 4 attempts"), "{err}");
    assert_eq!(got.lock().unwrap().len(), 4);
}

#[test]
fn the_monitor_setting_and_push_headers_reach_the_receiver() {
    let (url, got, _rt) = receiver(Vec::new());
    let state = State::builder()
        .with_env_from([
            ("TSMON_MONITOR", format!("otlp:{url}")),
            (
                "TSMON_PUSH",
                r#"{headers = {"X-Scope-OrgID" = "team-a"}}"#.to_owned(),
            ),
            ("TSMON_REPORT_RUNTIME_STATS", "false".to_owned()),
        ])
        .build()
        .unwrap();
    assert_eq!(state.settings().monitor.to_string(), format!("otlp:{url}"));
    state.in_scope(|| JOBS.add(2, ("env", 1, false)));
    tsmon::runtime::block_on(state.flush()).unwrap();
    let got = got.lock().unwrap();
    let (_, headers, req) = got.last().expect("a request");
    assert_eq!(headers["x-scope-orgid"], "team-a");
    let jobs = metric(req, "otlp/jobs");
    let Some(Data::Sum(sum)) = &jobs.data else {
        panic!()
    };
    assert!(
        sum.data_points
            .iter()
            .any(|p| p.value == Some(number_data_point::Value::AsInt(2)))
    );
}
