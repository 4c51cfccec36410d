//! The cases of Prometheus' remote-write sender compliance suite (`prometheus/compliance`,
//! `remotewrite/sender`) that apply to a Remote-Write 1.0 sender, each checked against a
//! receiver of the test's own that decodes what arrives and answers as the case asks. (The
//! suite's RW 2.0 cases, the 415 fallback, symbols, written-count headers, start timestamps,
//! do not apply; summaries and exemplars are not kinds tsmon has yet. The list in the
//! `RemoteWriteMonitor` docs maps each case to what tsmon does.)

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prost::Message as _;
use tsmon::State;
use tsmon::field::FieldValue::Str;
use tsmon::monitor::{NORMAL_NAN, TimeSeries, WriteRequest};
use tsmon::settings::{MonitorSpec, Settings};

tsmon::metric! {
    /// A float gauge by case.
    static VALUE: FloatGauge(case: String) = "compliance/value";
    /// An int gauge.
    static INT: IntGauge = "compliance/int";
    /// Things counted,
    /// over two lines, with "quotes" & <angles>.
    static COUNT: Counter(label: String) = "compliance/things";
    /// Latency.
    #[tsmon(units = seconds, bucketer = fixed_width(1.0, 2))]
    static LATENCY: CumulativeDistribution = "compliance/latency";
    /// Up.
    static UP: BoolMetric = "compliance/up";
}

/// How the receiver answers one request.
#[derive(Clone, Debug)]
enum Reply {
    Status(u16, String),
    /// Bytes that are not HTTP.
    Garbage,
    /// The connection closed with no answer.
    Close,
    /// No answer for this long.
    Hang(Duration),
    /// 204 after this long.
    Slow(Duration),
}

/// A request as it arrived.
struct Got {
    at: Instant,
    /// Lower-case names.
    headers: Vec<(String, String)>,
    request: Result<WriteRequest, String>,
}

/// A receiver that answers each request with the next scripted reply (204 once the script is
/// done) and keeps what it got.
struct Receiver {
    addr: String,
    script: Arc<Mutex<VecDeque<Reply>>>,
    got: Arc<Mutex<Vec<Got>>>,
}

impl Receiver {
    fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let script: Arc<Mutex<VecDeque<Reply>>> = Arc::default();
        let got: Arc<Mutex<Vec<Got>>> = Arc::default();
        let (s, g) = (script.clone(), got.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (s, g) = (s.clone(), g.clone());
                std::thread::spawn(move || serve(conn, &s, &g));
            }
        });
        Receiver { addr, script, got }
    }

    fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.script.lock().unwrap().extend(replies);
    }

    fn count(&self) -> usize {
        self.got.lock().unwrap().len()
    }

    fn series(&self) -> Vec<TimeSeries> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter_map(|g| g.request.as_ref().ok())
            .flat_map(|r| r.timeseries.clone())
            .collect()
    }
}

fn serve(mut conn: std::net::TcpStream, script: &Mutex<VecDeque<Reply>>, got: &Mutex<Vec<Got>>) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let at = Instant::now();
        let mut headers = Vec::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
            }
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .map_or(0, |(_, v)| v.parse().unwrap_or(0));
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let request = snap::raw::Decoder::new()
            .decompress_vec(&body)
            .map_err(|e| format!("snappy: {e}"))
            .and_then(|raw| WriteRequest::decode(raw.as_slice()).map_err(|e| e.to_string()));
        got.lock().unwrap().push(Got {
            at,
            headers,
            request,
        });
        let reply = script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Reply::Status(204, String::new()));
        let answer = match reply {
            Reply::Status(code, body) => format!(
                "HTTP/1.1 {code} Whatever\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ),
            Reply::Garbage => "SMTP ready\r\n\r\n".to_owned(),
            Reply::Close => return,
            Reply::Hang(d) => {
                std::thread::sleep(d);
                return;
            }
            Reply::Slow(d) => {
                std::thread::sleep(d);
                "HTTP/1.1 204 No Content\r\n\r\n".to_owned()
            }
        };
        if conn.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// A State remote-writing to `r`, flushing on demand with a 3 s timeout.
fn state(r: &Receiver) -> State {
    state_with_timeout(r, Duration::from_secs(3))
}

fn state_with_timeout(r: &Receiver, timeout: Duration) -> State {
    State::builder()
        .with_target(
            tsmon::Target::new("svc", "job")
                .with_data_center("dc")
                .with_host("h")
                .with_task_num(0),
        )
        .with_settings(Settings {
            report_runtime_stats: false,
            flush_interval: Duration::from_secs(60),
            flush_timeout: timeout,
            monitor: MonitorSpec::parse(&format!("remote_write:http://{}/api/v1/write", r.addr))
                .unwrap(),
            ..Settings::default()
        })
        .build()
        .unwrap()
}

fn flush(state: &State) -> Result<(), tsmon::Error> {
    tsmon::runtime::block_on(state.flush())
}

fn label<'a>(s: &'a TimeSeries, name: &str) -> Option<&'a str> {
    s.labels
        .iter()
        .find(|l| l.name == name)
        .map(|l| l.value.as_str())
}

fn named<'a>(series: &'a [TimeSeries], name: &str) -> Vec<&'a TimeSeries> {
    series
        .iter()
        .filter(|s| label(s, "__name__") == Some(name))
        .collect()
}

use tsmon_tests::int_value as int;

// retry_test.go: no_retry_on_400, no_retry_on_401, no_retry_on_404, no_retry_on_413 (MUST /
// SHOULD NOT retry), may_retry_on_429, retry_on_500, retry_on_502, retry_on_503, retry_on_504;
// backoff_test.go: exponential_backoff_on_retries, backoff_required, backoff_max_delay.
#[test]
fn a_4xx_is_sent_once_and_a_5xx_or_429_is_retried_with_growing_backoff() {
    for code in [400u16, 401, 403, 404, 413] {
        let r = Receiver::start();
        let state = state(&r);
        r.script([Reply::Status(code, format!("refused with {code}"))]);
        state.in_scope(|| VALUE.set(1.0, "retry"));
        let err = flush(&state).expect_err("a 4xx fails the flush");
        assert_eq!(r.count(), 1, "{code}: sent once, not retried");
        assert!(!matches!(err, tsmon::Error::Deferred(_)), "{code}: {err:?}");
        // log_error_messages_verbatim (MUST): the receiver's words, as written.
        assert!(
            err.to_string().contains(&format!("refused with {code}")),
            "{err}"
        );
    }
    for code in [429u16, 500, 502, 503, 504] {
        let r = Receiver::start();
        let state = state(&r);
        r.script((0..3).map(|_| Reply::Status(code, "busy".into())));
        state.in_scope(|| VALUE.set(1.0, "retry"));
        let err = flush(&state).expect_err("every attempt failed");
        assert!(matches!(err, tsmon::Error::Deferred(_)), "{code}: {err:?}");
        let got = r.got.lock().unwrap();
        assert_eq!(got.len(), 3, "{code}: retried");
        let (first, second) = (got[1].at - got[0].at, got[2].at - got[1].at);
        assert!(
            first >= Duration::from_millis(200),
            "{code}: backoff {first:?}"
        );
        assert!(
            second >= Duration::from_millis(400),
            "{code}: it grows: {second:?}"
        );
        drop(got);
        // The request waited; the receiver is back: it is delivered first, then this flush's.
        state.in_scope(|| VALUE.set(2.0, "retry"));
        flush(&state).unwrap();
        let values: Vec<f64> = named(&r.series(), "compliance_value")
            .iter()
            .map(|s| s.samples[0].value)
            .collect();
        assert_eq!(values.first(), Some(&1.0), "{code}: {values:?}");
        assert_eq!(values.last(), Some(&2.0), "{code}: {values:?}");
    }
}

// protocol_test.go: Content-Type, Content-Encoding snappy, the version header, a User-Agent
// (MUST), snappy block format and a valid protobuf (checked by decoding every request).
#[test]
fn every_request_carries_the_protocol_headers_and_decodes() {
    let r = Receiver::start();
    let state = state(&r);
    state.in_scope(|| VALUE.set(1.0, "protocol"));
    flush(&state).unwrap();
    let got = r.got.lock().unwrap();
    assert!(!got.is_empty());
    for g in got.iter() {
        let h = |k: &str| {
            g.headers
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(h("content-type"), Some("application/x-protobuf"));
        assert_eq!(h("content-encoding"), Some("snappy"));
        assert_eq!(h("x-prometheus-remote-write-version"), Some("0.1.0"));
        assert!(h("user-agent").is_some_and(|ua| ua.starts_with("tsmon/")));
        assert!(g.request.is_ok(), "{:?}", g.request.as_ref().err());
    }
}

// response_test.go: handle_204_no_content, handle_200_ok (MUST), ignore_response_body_on_success.
#[test]
fn a_200_or_a_204_with_any_body_is_success() {
    let r = Receiver::start();
    let state = state(&r);
    r.script([
        Reply::Status(200, "ok, and some words".into()),
        Reply::Status(204, String::new()),
    ]);
    state.in_scope(|| VALUE.set(1.0, "ok"));
    flush(&state).unwrap();
    flush(&state).unwrap();
    assert_eq!(r.count(), 2);
    assert_eq!(int(&state, "tsmon/remote_write/queued", &[]), 0);
}

// error_handling_test.go: handle_connection_refused, handle_timeout, handle_malformed_response,
// handle_empty_response, handle_large_error_response, sender_continues_after_errors (MUST);
// response_test.go: handle_large_error_body.
#[test]
fn broken_receivers_cost_a_retry_never_the_data_or_the_process() {
    // Connection refused.
    let port = tsmon_tests::free_port();
    let refused = State::builder()
        .with_settings(Settings {
            report_runtime_stats: false,
            monitor: MonitorSpec::parse(&format!("remote_write:http://127.0.0.1:{port}/w"))
                .unwrap(),
            ..Settings::default()
        })
        .build()
        .unwrap();
    refused.in_scope(|| VALUE.set(1.0, "refused"));
    let err = flush(&refused).unwrap_err();
    assert!(matches!(err, tsmon::Error::Deferred(_)), "{err:?}");
    assert!(
        err.to_string().contains("Connection refused") || err.to_string().contains("connect"),
        "{err}"
    );

    // A malformed answer, no answer, a hang past the flush timeout, a huge error body.
    let r = Receiver::start();
    let state = state(&r);
    r.script([
        Reply::Garbage,
        Reply::Close,
        Reply::Status(500, "x".repeat(1 << 20)),
    ]);
    state.in_scope(|| VALUE.set(1.0, "broken"));
    let err = flush(&state).unwrap_err();
    assert!(matches!(err, tsmon::Error::Deferred(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.len() < 8 << 10,
        "a 1 MiB error body is cut: {} bytes",
        text.len()
    );
    assert!(
        text.contains("[cut at 4 KiB]"),
        "{}",
        &text[..200.min(text.len())]
    );
    r.script([Reply::Hang(Duration::from_secs(6))]);
    let started = Instant::now();
    let err = flush(&state).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "the flush timeout ends it: {err}"
    );
    // Still running, and nothing lost: the next flush delivers the first value, in order.
    state.in_scope(|| VALUE.set(2.0, "broken"));
    flush(&state).unwrap();
    let values: Vec<f64> = named(&r.series(), "compliance_value")
        .iter()
        .filter(|s| label(s, "case") == Some("broken"))
        .map(|s| s.samples[0].value)
        .collect();
    assert_eq!(values.first(), Some(&1.0), "{values:?}");
    assert_eq!(values.last(), Some(&2.0), "{values:?}");
    assert!(
        int(
            &state,
            "tsmon/push/requests",
            &[Str("remote_write"), Str("error")]
        ) >= 2
    );
}

// samples_test.go: regular, integer, zero, negative, +Inf, -Inf, NaN, very large, very small,
// scientific notation, float precision (MUST / SHOULD); timestamps as ms since the epoch, close
// to now; job and instance labels (tsmon's target labels); edge_cases_test.go: special float
// value combinations, different metric types in the same payload.
#[test]
fn every_value_is_encoded_exactly_with_a_timestamp_of_now_in_milliseconds() {
    let r = Receiver::start();
    let state = state(&r);
    let values = [
        ("regular", 42.5),
        ("zero", 0.0),
        ("negative", -17.25),
        ("pos_inf", f64::INFINITY),
        ("neg_inf", f64::NEG_INFINITY),
        ("nan", f64::NAN),
        ("large", 1.797_693_134_862_315_7e308),
        ("small", 5e-324),
        ("scientific", 6.022e23),
        ("precision", 0.1 + 0.2),
    ];
    state.in_scope(|| {
        for (case, v) in values {
            VALUE.set(v, case);
        }
        INT.set(9_007_199_254_740_993, ());
        COUNT.add(3, "a");
        LATENCY.add(0.5, ());
        UP.set(true, ());
    });
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    flush(&state).unwrap();
    let after = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let series = r.series();
    for (case, v) in values {
        let s = named(&series, "compliance_value")
            .into_iter()
            .find(|s| label(s, "case") == Some(case))
            .unwrap_or_else(|| panic!("{case}"));
        let got = s.samples[0].value;
        if v.is_nan() {
            assert_eq!(got.to_bits(), NORMAL_NAN, "{case}");
        } else {
            assert_eq!(got.to_bits(), v.to_bits(), "{case}: {got} for {v}");
        }
        let ts = s.samples[0].timestamp;
        assert!(
            ts >= before - 1000 && ts <= after + 1000,
            "{case}: {ts} not within a second of [{before}, {after}]"
        );
        assert_eq!(label(s, "job_name"), Some("job"));
        assert_eq!(label(s, "task_num"), Some("0"));
    }
    let int = named(&series, "compliance_int")[0].samples[0].value;
    assert_eq!(
        int, 9_007_199_254_740_993_i64 as f64,
        "an integer as the nearest float"
    );
    for name in [
        "compliance_things_total",
        "compliance_latency_seconds_bucket",
        "compliance_latency_seconds_sum",
        "compliance_latency_seconds_count",
        "compliance_up",
    ] {
        assert!(
            !named(&series, name).is_empty(),
            "{name} in the same payload"
        );
    }
}

// labels_test.go: sorted, __name__ present, metric and label name patterns, no duplicate or
// empty names, Unicode and special characters in values, long values, many labels;
// edge_cases_test.go: very large label values (10 KB+), Unicode preserved.
#[test]
fn labels_are_sorted_valid_unique_and_values_arrive_byte_for_byte() {
    let r = Receiver::start();
    let state = state(&r);
    let odd = [
        "naïve café ☕ 日本語",
        "quote \" backslash \\ newline \n tab \t",
        "{}=,;#",
    ];
    let long = "v".repeat(12 << 10);
    state.in_scope(|| {
        for v in odd {
            COUNT.inc(v);
        }
        COUNT.inc(&long);
    });
    flush(&state).unwrap();
    let series = r.series();
    let name_ok = |n: &str, colon: bool| {
        let mut chars = n.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || (colon && c == ':'))
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':'))
    };
    assert!(!series.is_empty());
    for s in &series {
        let names: Vec<&str> = s.labels.iter().map(|l| l.name.as_str()).collect();
        assert!(
            names.windows(2).all(|w| w[0] < w[1]),
            "sorted, no repeats: {names:?}"
        );
        let metric = label(s, "__name__").expect("__name__");
        assert!(name_ok(metric, true), "{metric}");
        for l in &s.labels {
            assert!(!l.name.is_empty() && !l.value.is_empty(), "{:?}", s.labels);
            if l.name != "__name__" {
                assert!(name_ok(&l.name, false), "{}", l.name);
            }
        }
    }
    let values: Vec<&str> = named(&series, "compliance_things_total")
        .iter()
        .filter_map(|s| label(s, "label"))
        .collect();
    for v in odd.iter().copied().chain([long.as_str()]) {
        assert!(values.contains(&v), "{v:?} arrived as written");
    }
}

// metadata_test.go: TYPE for counters, gauges and histograms, HELP, UNIT, special characters
// in HELP preserved, consistent metadata for a family (every tsmon metric has a description, so
// none goes without HELP); combined_test.go: samples with their metadata, all components of a
// family together. "Newlines in HELP preserved": a doc comment's line breaks are source
// layout (rustdoc makes one paragraph of them), so the HELP text joins them with a space.
#[test]
fn each_family_carries_its_type_help_and_unit_the_same_in_every_request() {
    let r = Receiver::start();
    let state = state(&r);
    state.in_scope(|| {
        COUNT.inc("m");
        VALUE.set(1.0, "m");
        LATENCY.add(0.3, ());
    });
    flush(&state).unwrap();
    flush(&state).unwrap();
    let got = r.got.lock().unwrap();
    let requests: Vec<&WriteRequest> = got.iter().filter_map(|g| g.request.as_ref().ok()).collect();
    assert!(requests.len() >= 2);
    let meta = |req: &WriteRequest, family: &str| {
        req.metadata
            .iter()
            .find(|m| m.metric_family_name == family)
            .map(|m| (m.r#type, m.help.clone(), m.unit.clone()))
    };
    // The remote-write MetricType numbers: 1 counter, 2 gauge, 3 histogram.
    let want = [
        (
            "compliance_things",
            1,
            "Things counted, over two lines, with \"quotes\" & <angles>.",
            "",
        ),
        ("compliance_value", 2, "A float gauge by case.", ""),
        ("compliance_latency_seconds", 3, "Latency.", "seconds"),
    ];
    for req in &requests {
        for (family, kind, help, unit) in want {
            let carried = req
                .timeseries
                .iter()
                .any(|s| label(s, "__name__").is_some_and(|n| n.starts_with(family)));
            if carried {
                let got = meta(req, family).unwrap_or_else(|| panic!("{family}: no metadata"));
                assert_eq!(got, (kind, help.to_owned(), unit.to_owned()), "{family}");
            }
        }
    }
    // A histogram's buckets, sum and count travel in one request.
    for req in &requests {
        let parts: Vec<&str> = req
            .timeseries
            .iter()
            .filter_map(|s| label(s, "__name__"))
            .filter(|n| n.starts_with("compliance_latency_seconds"))
            .collect();
        if !parts.is_empty() {
            for suffix in ["_bucket", "_sum", "_count"] {
                assert!(parts.iter().any(|p| p.ends_with(suffix)), "{parts:?}");
            }
        }
    }
}

// timestamps_test.go: samples of a series oldest first, across requests too;
// batching_test.go: many series per request, at most 10k series per request;
// edge_cases_test.go: no metrics.
#[test]
fn requests_are_batched_within_ten_thousand_series_and_stay_in_time_order_across_an_outage() {
    let r = Receiver::start();
    let state = state(&r);
    // An empty store sends nothing, and is no error.
    flush(&state).unwrap();
    state.in_scope(|| (0..25_000).for_each(|i| COUNT.inc(&format!("k{i}"))));
    flush(&state).unwrap();
    {
        let got = r.got.lock().unwrap();
        let sizes: Vec<usize> = got
            .iter()
            .filter_map(|g| g.request.as_ref().ok())
            .map(|r| r.timeseries.len())
            .collect();
        assert!(sizes.len() >= 3, "{sizes:?}");
        assert!(sizes.iter().all(|n| *n <= 10_000 && *n > 1), "{sizes:?}");
    }
    // Three flushes fail; then every sample of one series arrives oldest first.
    r.script((0..9).map(|_| Reply::Status(503, "later".into())));
    for i in 0..3 {
        state.in_scope(|| VALUE.set(f64::from(i), "order"));
        assert!(flush(&state).is_err());
    }
    state.in_scope(|| VALUE.set(3.0, "order"));
    flush(&state).unwrap();
    let samples: Vec<(i64, f64)> = named(&r.series(), "compliance_value")
        .iter()
        .filter(|s| label(s, "case") == Some("order"))
        .flat_map(|s| s.samples.iter().map(|x| (x.timestamp, x.value)))
        .collect();
    // Each failed attempt's request was retried: drop the repeats, keep the order.
    let mut seen = Vec::new();
    for s in samples {
        if seen.last() != Some(&s) && !seen.contains(&s) {
            seen.push(s);
        }
    }
    let values: Vec<f64> = seen.iter().map(|s| s.1).collect();
    assert_eq!(values, [0.0, 1.0, 2.0, 3.0]);
    assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0), "{seen:?}");
}

// backoff_test.go: backoff_required, and the spec's "MUST NOT lose data": a flush that catches up
// after an outage ends within its timeout (leaving the rest to the next flush) instead of
// timing out into the Go backoff.
#[test]
fn catching_up_after_an_outage_stays_within_the_flush_timeout() {
    let r = Receiver::start();
    let state = state_with_timeout(&r, Duration::from_secs(2));
    state.in_scope(|| (0..25_000).for_each(|i| COUNT.inc(&format!("k{i}"))));
    // Two flushes fail: their 26 requests (13 each) wait.
    r.script((0..6).map(|_| Reply::Status(503, "later".into())));
    for _ in 0..2 {
        assert!(matches!(flush(&state), Err(tsmon::Error::Deferred(_))));
    }
    // The receiver is back but slow: 100 ms a request, too slow for the whole queue in 2 s.
    r.script((0..40).map(|_| Reply::Slow(Duration::from_millis(100))));
    let started = Instant::now();
    let first = flush(&state);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "within the timeout"
    );
    match &first {
        Err(tsmon::Error::Deferred(why)) => {
            assert!(why.message().contains("catching up"), "{why}");
        }
        other => panic!("a partial catch-up is Deferred (no backoff), got {other:?}"),
    }
    let left = int(&state, "tsmon/remote_write/queued", &[]);
    assert!(left > 0, "part of the queue waits for the next flush");
    let ok = (0..5).find(|_| flush(&state).is_ok());
    assert!(ok.is_some(), "the next flushes finish the catch-up");
    assert_eq!(int(&state, "tsmon/remote_write/queued", &[]), 0);
}
