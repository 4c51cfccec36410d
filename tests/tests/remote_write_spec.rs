//! What the remote-write monitor sends, decoded by a receiver of the test's own, case by case
//! against the Remote-Write 1.0 specification.

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex};

use prost::Message as _;
use tsmon::State;
use tsmon::monitor::{NORMAL_NAN, RemoteWriteMonitor, STALE_NAN, TimeSeries, WriteRequest};

tsmon::metric! {
    /// Jobs by kind.
    static JOBS: Counter(kind: String) = "test/rw/jobs";
    /// A temperature.
    static TEMP: FloatGauge = "test/rw/temp";
    /// Latency by shard.
    #[tsmon(units = seconds, bucketer = geometric(2.0, 20))]
    static LATENCY: CumulativeDistribution(shard: i64) = "test/rw/latency";
    /// A native histogram.
    #[tsmon(bucketer = native(3))]
    static NATIVE: CumulativeDistribution = "test/rw/native";
}

/// One request as the receiver got it: its headers (lower-case names) and decoded body.
struct Received {
    headers: Vec<(String, String)>,
    request: WriteRequest,
}

/// A receiver on loopback that keeps every request and answers 200.
fn receiver() -> (String, Arc<Mutex<Vec<Received>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let got = Arc::new(Mutex::new(Vec::new()));
    let keep = got.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut headers = Vec::new();
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            loop {
                line.clear();
                reader.read_line(&mut line).unwrap();
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                let (k, v) = line.split_once(':').unwrap();
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
            }
            let len: usize = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .map_or(0, |(_, v)| v.parse().unwrap());
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
            let request = WriteRequest::decode(raw.as_slice()).unwrap();
            keep.lock().unwrap().push(Received { headers, request });
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (addr, got)
}

fn monitor(addr: &str) -> RemoteWriteMonitor {
    RemoteWriteMonitor::new(&format!("http://{addr}/api/v1/write")).unwrap()
}

fn label<'a>(s: &'a TimeSeries, name: &str) -> Option<&'a str> {
    s.labels
        .iter()
        .find(|l| l.name == name)
        .map(|l| l.value.as_str())
}

fn state() -> State {
    State::builder()
        .with_target(
            tsmon::Target::new("svc", "job")
                .with_data_center("dc")
                .with_host("h"),
        )
        .with_settings(tsmon::settings::Settings {
            report_runtime_stats: false,
            ..Default::default()
        })
        .build()
        .unwrap()
}

#[test]
fn requests_carry_a_user_agent_and_the_protocol_headers() {
    let (addr, got) = receiver();
    let state = state();
    state.in_scope(|| JOBS.inc("a"));
    tsmon::runtime::block_on(state.flush_to(&monitor(&addr))).unwrap();
    let got = got.lock().unwrap();
    let h = &got[0].headers;
    let header = |k: &str| h.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(header("user-agent"), Some(concat!("tsmon/", "0.1.0")));
    assert_eq!(header("content-encoding"), Some("snappy"));
    assert_eq!(header("content-type"), Some("application/x-protobuf"));
    assert_eq!(header("x-prometheus-remote-write-version"), Some("0.1.0"));
}

#[test]
fn a_series_that_ends_is_closed_with_a_stale_marker() {
    let (addr, got) = receiver();
    let state = state();
    let m = monitor(&addr);
    state.in_scope(|| {
        JOBS.inc("kept");
        JOBS.inc("gone");
    });
    tsmon::runtime::block_on(state.flush_to(&m)).unwrap();
    state.in_scope(|| assert!(JOBS.delete("gone")));
    tsmon::runtime::block_on(state.flush_to(&m)).unwrap();
    let all = got.clone();
    let got = all.lock().unwrap();
    let second: Vec<&TimeSeries> = got[1..]
        .iter()
        .flat_map(|r| &r.request.timeseries)
        .collect();
    let gone = second
        .iter()
        .find(|s| label(s, "kind") == Some("gone"))
        .expect("the ended series is sent once more");
    assert_eq!(gone.samples[0].value.to_bits(), STALE_NAN);
    let kept = second
        .iter()
        .find(|s| label(s, "kind") == Some("kept"))
        .unwrap();
    assert_eq!(kept.samples[0].value, 1.0);
    // A third flush does not mark it again.
    let before = got.len();
    drop(got);
    tsmon::runtime::block_on(state.flush_to(&m)).unwrap();
    let got = all.lock().unwrap();
    let third: Vec<&TimeSeries> = got[before..]
        .iter()
        .flat_map(|r| &r.request.timeseries)
        .collect();
    assert!(!third.is_empty());
    assert!(third.iter().all(|s| label(s, "kind") != Some("gone")));
}

#[test]
fn a_written_nan_is_sent_as_the_normal_nan_never_as_a_stale_marker() {
    let (addr, got) = receiver();
    let state = state();
    state.in_scope(|| TEMP.set(f64::from_bits(STALE_NAN), ()));
    tsmon::runtime::block_on(state.flush_to(&monitor(&addr))).unwrap();
    let got = got.lock().unwrap();
    let temp = got[0]
        .request
        .timeseries
        .iter()
        .find(|s| label(s, "__name__") == Some("test_rw_temp"))
        .unwrap();
    assert_eq!(temp.samples[0].value.to_bits(), NORMAL_NAN);
}

/// A native histogram's sum is a value the program wrote too: a NaN in it goes as the normal
/// NaN, as a sample's does.
#[test]
fn a_native_histograms_nan_sum_is_sent_as_the_normal_nan() {
    let (addr, got) = receiver();
    let state = state();
    state.in_scope(|| {
        NATIVE.add(1.5, ());
        NATIVE.add(f64::from_bits(STALE_NAN), ());
    });
    tsmon::runtime::block_on(state.flush_to(&monitor(&addr))).unwrap();
    let got = got.lock().unwrap();
    let native = got[0]
        .request
        .timeseries
        .iter()
        .find(|s| label(s, "__name__") == Some("test_rw_native"))
        .unwrap();
    assert!(native.samples.is_empty());
    let h = &native.histograms[0];
    assert_eq!((h.count_int, h.schema), (2, 3));
    assert_eq!(h.sum.to_bits(), NORMAL_NAN);
}

#[test]
fn requests_are_bounded_by_series_and_bytes_with_each_familys_metadata() {
    let (addr, got) = receiver();
    let state = state();
    state.in_scope(|| (0..300).for_each(|shard| LATENCY.add(0.01, shard)));
    let m = monitor(&addr).with_batch(1000, 1 << 20);
    tsmon::runtime::block_on(state.flush_to(&m)).unwrap();
    let got = got.lock().unwrap();
    let latency: usize = got
        .iter()
        .flat_map(|r| &r.request.timeseries)
        .filter(|s| label(s, "__name__").is_some_and(|n| n.starts_with("test_rw_latency")))
        .count();
    // 300 series of 22 buckets (Go's underflow and overflow around the 20), a sum and a count.
    assert_eq!(latency, 300 * 24);
    assert!(got.iter().all(|r| r.request.timeseries.len() <= 1000));
    assert!(got.len() >= 7);
    for r in got.iter() {
        let fam = r
            .request
            .metadata
            .iter()
            .find(|md| md.metric_family_name == "test_rw_latency_seconds")
            .expect("the family's metadata in every request that carries it");
        assert_eq!(
            (fam.r#type, fam.help.as_str(), fam.unit.as_str()),
            (3, "Latency by shard.", "seconds")
        );
    }
    drop(got);
    let (addr, got) = receiver();
    let m = monitor(&addr).with_batch(100_000, 64 << 10);
    tsmon::runtime::block_on(state.flush_to(&m)).unwrap();
    let got = got.lock().unwrap();
    assert!(got.len() > 1);
    for r in got.iter() {
        assert!(
            r.request.encoded_len() <= (64 << 10) + 512,
            "{}",
            r.request.encoded_len()
        );
    }
}

#[test]
fn empty_label_values_are_left_out() {
    let (addr, got) = receiver();
    let state = state();
    state.in_scope(|| JOBS.inc(""));
    tsmon::runtime::block_on(state.flush_to(&monitor(&addr))).unwrap();
    let got = got.lock().unwrap();
    let jobs = got[0]
        .request
        .timeseries
        .iter()
        .find(|s| label(s, "__name__") == Some("test_rw_jobs_total"))
        .unwrap();
    assert_eq!(label(jobs, "kind"), None, "{:?}", jobs.labels);
    assert!(jobs.labels.iter().all(|l| !l.value.is_empty()));
    assert!(jobs.labels.windows(2).all(|w| w[0].name < w[1].name));
}

use tsmon_tests::int_value as int;

#[test]
fn the_outage_queue_stays_within_its_bytes_and_age() {
    use tsmon::field::FieldValue::Str;
    let down = format!("127.0.0.1:{}", tsmon_tests::free_port());
    let state = state();
    let m = monitor(&down).with_queue(1500, std::time::Duration::from_secs(900));
    for i in 0..8 {
        state.in_scope(|| (0..20).for_each(|k| JOBS.add(i + 1, &format!("kind-{k}"))));
        let r = tsmon::runtime::block_on(state.flush_to(&m));
        assert!(matches!(r, Err(tsmon::Error::Deferred(_))), "{r:?}");
        let queued = int(&state, "tsmon/remote_write/queued", &[]);
        assert!(queued > 0 && queued <= 1500, "{queued} bytes queued");
    }
    assert!(
        int(
            &state,
            "tsmon/remote_write/dropped_requests",
            &[Str("bytes")]
        ) > 0
    );

    let aging = monitor(&down).with_queue(1 << 20, std::time::Duration::from_millis(1));
    for _ in 0..2 {
        let _ = tsmon::runtime::block_on(state.flush_to(&aging));
    }
    assert!(int(&state, "tsmon/remote_write/dropped_requests", &[Str("age")]) > 0);
}
