//! The remote-write monitor: Prometheus remote-write 1.0 (protobuf, snappy) to any receiver.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use prost::Message as _;

use super::{BoxFuture, Monitor};
use crate::error::Error;
use crate::field::FieldValue;
use crate::metric::MetricKind;
use crate::store::{Snapshot, Value};

/// `prometheus.WriteRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    /// The series.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// `prometheus.TimeSeries`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// Labels, sorted by name, `__name__` included.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Samples, oldest first.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    /// The label name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// The label value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    /// The value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// Pushes each flush to a Prometheus remote-write receiver (Prometheus itself with
/// `--web.enable-remote-write-receiver`, Mimir, Thanos, VictoriaMetrics, …).
///
/// - Series are named and labelled as Prometheus stores a scrape of the OpenMetrics exposition
///   (`_total`, `_bucket{le}`, `_sum`, `_count`, `_gsum` and `_gcount` for non-cumulative
///   distributions, `_info{value}`), with the target's labels, task number included.
/// - Samples carry the snapshot's time, from the store's monotonic clock, in milliseconds.
/// - Batches are bounded: at most [`chunk_size`](Monitor::chunk_size) cells per request
///   (2,000 by default), sent by the flush's workers.
/// - A 5xx answer or a network error is retried, up to 3 attempts with backoff from 200 ms,
///   within the flush timeout; a 4xx answer (bad labels, samples too old) is not retried: its
///   message is returned and logged, and the other batches go on.
///
/// ```
/// use tsmon::monitor::RemoteWriteMonitor;
/// tsmon::metric! {
///     /// Jobs.
///     static JOBS: Counter(kind: String) = "example/rw/jobs";
/// }
/// let state = tsmon::State::builder()
///     .with_target(tsmon::Target::new("svc", "job").with_data_center("dc").with_host("h"))
///     .build()
///     .unwrap();
/// state.in_scope(|| JOBS.add(3, "nightly"));
/// let request = RemoteWriteMonitor::write_request(&state.snapshot());
/// let series = request.timeseries.iter()
///     .find(|s| s.labels.iter().any(|l| l.name == "__name__" && l.value == "example_rw_jobs_total"))
///     .unwrap();
/// assert_eq!(series.samples[0].value, 3.0);
/// assert!(series.labels.iter().any(|l| l.name == "task_num"));
/// assert!(series.labels.windows(2).all(|w| w[0].name < w[1].name), "sorted");
/// ```
#[derive(Debug, Clone)]
pub struct RemoteWriteMonitor {
    url: String,
    client: Client<HttpConnector, Full<Bytes>>,
    chunk: usize,
}

const ATTEMPTS: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_millis(200);

impl RemoteWriteMonitor {
    /// A monitor writing to `url` (`http://host:9090/api/v1/write`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSettings`] for a URL that is not `http://`.
    pub fn new(url: &str) -> Result<Self, Error> {
        if !url.starts_with("http://") {
            return Err(Error::InvalidSettings(format!(
                "remote-write URL {url:?}: only http:// is supported"
            )));
        }
        Ok(RemoteWriteMonitor {
            url: url.to_owned(),
            client: Client::builder(TokioExecutor::new()).build_http(),
            chunk: 2000,
        })
    }

    /// At most `n` cells per request (at least 1).
    #[must_use]
    pub fn with_chunk_size(mut self, n: usize) -> Self {
        self.chunk = n.max(1);
        self
    }

    /// The request for a chunk.
    #[must_use]
    pub fn write_request(chunk: &Snapshot) -> WriteRequest {
        let ts = i64::try_from(chunk.now_micros() / 1000).unwrap_or(i64::MAX);
        let mut out = Vec::new();
        for m in chunk.metrics() {
            let desc = m.desc();
            let base = desc.prometheus_name();
            for cell in m.cells() {
                let target = chunk.target(cell);
                let mut labels: Vec<Label> = target
                    .labels()
                    .into_iter()
                    .map(|(k, v)| Label {
                        name: k.to_owned(),
                        value: v,
                    })
                    .collect();
                if cell.is_overflow() {
                    labels.push(label("tsmon_overflow", "true"));
                } else {
                    for (f, v) in desc.fields.iter().zip(m.field_values(cell)) {
                        let value = match v {
                            FieldValue::Str(s) => s.to_owned(),
                            FieldValue::Int(i) => i.to_string(),
                            FieldValue::Bool(b) => b.to_string(),
                        };
                        labels.push(Label {
                            name: f.name.to_owned(),
                            value,
                        });
                    }
                }
                let mut push = |suffix: &str, extra: Option<Label>, value: f64| {
                    let mut l = labels.clone();
                    l.push(label("__name__", &format!("{base}{suffix}")));
                    l.extend(extra);
                    l.sort_by(|a, b| a.name.cmp(&b.name));
                    out.push(TimeSeries {
                        labels: l,
                        samples: vec![Sample {
                            value,
                            timestamp: ts,
                        }],
                    });
                };
                match (desc.kind, cell.value()) {
                    (MetricKind::Counter | MetricKind::FloatCounter, v) => {
                        push("_total", None, number(v));
                    }
                    (MetricKind::String, Value::Str(s)) => {
                        push("_info", Some(label("value", s)), 1.0);
                    }
                    (_, Value::Distribution(d)) => {
                        let b = d.bucketer();
                        let mut cumulative = 0i64;
                        for i in 0..b.num_buckets() {
                            cumulative += d.buckets().get(i).copied().unwrap_or(0);
                            let upper = b.upper_bound(i);
                            let le = crate::exposition::le_label(upper);
                            push("_bucket", Some(label("le", &le)), cumulative as f64);
                        }
                        // A gauge histogram's sum and count, as Prometheus stores them from an
                        // OpenMetrics scrape.
                        let gauge = desc.kind == MetricKind::NonCumulativeDistribution;
                        push(if gauge { "_gsum" } else { "_sum" }, None, d.sum());
                        push(
                            if gauge { "_gcount" } else { "_count" },
                            None,
                            d.count() as f64,
                        );
                    }
                    (_, v) => push("", None, number(v)),
                }
            }
        }
        WriteRequest { timeseries: out }
    }

    async fn post(&self, body: Bytes) -> Result<(), Error> {
        let mut backoff = FIRST_BACKOFF;
        let mut last = String::new();
        for attempt in 1..=ATTEMPTS {
            let request = hyper::Request::post(&self.url)
                .header(hyper::header::CONTENT_TYPE, "application/x-protobuf")
                .header(hyper::header::CONTENT_ENCODING, "snappy")
                .header("X-Prometheus-Remote-Write-Version", "0.1.0")
                .body(Full::new(body.clone()))
                .map_err(|e| Error::Monitor(format!("remote-write request: {e}")))?;
            match self.client.request(request).await {
                Ok(resp) if resp.status().is_success() => return Ok(()),
                Ok(resp) => {
                    let status = resp.status();
                    let text = resp
                        .into_body()
                        .collect()
                        .await
                        .map(|b| String::from_utf8_lossy(&b.to_bytes()).trim().to_owned())
                        .unwrap_or_default();
                    last = format!("{} answered {status}: {text}", self.url);
                    if status.is_client_error() {
                        tracing::warn!("tsmon remote-write: batch rejected: {last}");
                        return Err(Error::Monitor(format!("remote-write rejected: {last}")));
                    }
                }
                Err(e) => last = format!("{}: {e}", self.url),
            }
            if attempt < ATTEMPTS {
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
        }
        Err(Error::Monitor(format!(
            "remote-write failed after {ATTEMPTS} attempts: {last}"
        )))
    }
}

fn label(name: &str, value: &str) -> Label {
    Label {
        name: name.to_owned(),
        value: value.to_owned(),
    }
}

fn number(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Str(_) | Value::Distribution(_) => f64::NAN,
    }
}

impl Monitor for RemoteWriteMonitor {
    fn chunk_size(&self) -> usize {
        self.chunk
    }

    fn send<'a>(&'a self, chunk: &'a Snapshot) -> BoxFuture<'a, Result<(), Error>> {
        let encoded = Self::write_request(chunk).encode_to_vec();
        let compressed = snap::raw::Encoder::new().compress_vec(&encoded);
        Box::pin(async move {
            let body =
                compressed.map_err(|e| Error::Monitor(format!("remote-write snappy: {e}")))?;
            self.post(Bytes::from(body)).await
        })
    }
}
