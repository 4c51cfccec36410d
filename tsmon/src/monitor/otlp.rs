//! The OTLP/HTTP monitor (see [`OtlpMonitor`]).

use std::io::Write as _;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use prost::Message as _;

mod proto;

use super::client::{Outcome, PushClient, error_text};
use super::{BoxFuture, Monitor};
use crate::desc::{MetricKind, Units};
use crate::error::{Cause, Error};
use crate::field::FieldValue;
use crate::settings::PushOptions;
use crate::store::{MetricSnapshot, Snapshot, Value};
use crate::target::Target;
use proto::{
    AnyValue, Buckets, CUMULATIVE, DELTA, Data, ExponentialHistogram,
    ExponentialHistogramDataPoint, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
    Gauge, Histogram, HistogramDataPoint, InstrumentationScope, KeyValue, Metric, Number,
    NumberDataPoint, Resource, ResourceMetrics, ScopeMetrics, Sum,
};

/// Series per request.
const CHUNK: usize = 10_000;
/// Attempts of one request when the receiver asks for a retry.
const ATTEMPTS: u32 = 4;
/// The longest `Retry-After` honoured within a flush.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// The OTLP monitor: sends snapshots in OpenTelemetry's protocol over HTTP (protobuf, gzip)
/// to a collector or any receiver of `/v1/metrics` (feature `otlp`).
///
/// What is sent, per flush, one request per 10,000 series:
///
/// - **Resource** (one per target): `service.namespace` is the target's service, `service.name`
///   its job, `service.instance.id` the task number, `host.name` the host, and
///   `tsmon.data_center` the data centre. The scope is `tsmon` with the crate's version.
/// - **Counters** are monotonic `Sum`s with cumulative temporality, each point with its series'
///   start time (a reset, or a new task number, starts a new one).
/// - **Gauges** and **bool metrics** (0 or 1) are `Gauge`s. A **string metric** is a `Gauge` of
///   1 with its value in the attribute `value`, as Prometheus' `_info` convention has it.
/// - **Cumulative distributions** are explicit-bucket `Histogram`s (cumulative, the bucketer's
///   upper bounds as `explicit_bounds`), native ones `ExponentialHistogram`s (the schema as
///   `scale`, the zero bucket and the positive and negative buckets). **Non-cumulative
///   distributions** are `Histogram`s with delta temporality: each is a whole distribution
///   set at once, not a running total.
/// - **Units** are UCUM (`s`, `ms`, `By`, `bit`, …); names are tsmon's (`http/server_durations`,
///   a leading `/` left out). Exemplars are not sent.
///
/// Retries follow the OTLP specification: 429, 502, 503 and 504 are retried within the flush
/// (three more attempts), after the `Retry-After` the receiver asked for (seconds, at most
/// 30 s) or an exponential backoff from 250 ms; so is a request that got no answer. Any other
/// 4xx or 5xx is not retried: the flush fails with the receiver's message (401 and 403 say
/// the credentials are refused), and the next flush sends the next snapshot, so a cumulative
/// series loses no count. A partial success (`rejected_data_points`) is reported once. TLS,
/// credentials and headers come from the `push` settings, as for the other push monitors.
///
/// ```no_run
/// let state = tsmon::State::builder()
///     .with_env_from([("TSMON_MONITOR", "otlp:http://127.0.0.1:4318/v1/metrics")])
///     .build()
///     .unwrap();
/// # let _ = state;
/// ```
#[derive(Debug)]
pub struct OtlpMonitor {
    url: String,
    client: PushClient,
    backoff: Duration,
}

impl OtlpMonitor {
    /// A monitor sending to `url` (such as `http://127.0.0.1:4318/v1/metrics`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSettings`] when the URL cannot be used.
    ///
    /// ```
    /// let m = tsmon::monitor::OtlpMonitor::new("http://127.0.0.1:4318/v1/metrics").unwrap();
    /// # let _ = m;
    /// ```
    pub fn new(url: &str) -> Result<Self, Error> {
        Self::with_options(url, &PushOptions::default())
    }

    /// As [`new`](Self::new), with the credentials, headers and TLS of the `push` settings.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSettings`] when the URL or an option cannot be used.
    ///
    /// ```
    /// use tsmon::settings::PushOptions;
    /// let m = tsmon::monitor::OtlpMonitor::with_options(
    ///     "http://127.0.0.1:4318/v1/metrics",
    ///     &PushOptions::default(),
    /// )
    /// .unwrap();
    /// # let _ = m;
    /// ```
    pub fn with_options(url: &str, options: &PushOptions) -> Result<Self, Error> {
        crate::settings::MonitorSpec::parse(&format!("otlp:{url}"))?;
        Ok(OtlpMonitor {
            url: url.to_owned(),
            client: PushClient::new("otlp", url, options)?,
            backoff: Duration::from_millis(250),
        })
    }

    /// The first retry's wait when the receiver gives no `Retry-After` (doubled at each
    /// retry); 250 ms by default.
    ///
    /// ```
    /// let m = tsmon::monitor::OtlpMonitor::new("http://127.0.0.1:4318/v1/metrics")
    ///     .unwrap()
    ///     .with_backoff(std::time::Duration::from_millis(10));
    /// # let _ = m;
    /// ```
    #[must_use]
    pub fn with_backoff(mut self, first: Duration) -> Self {
        self.backoff = first;
        self
    }

    async fn post(&self, body: Bytes) -> Result<(), Error> {
        let what = format!("OTLP {}", self.url);
        let mut wait = self.backoff;
        let mut last = None;
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            let request = hyper::Request::post(&self.url)
                .header(hyper::header::CONTENT_TYPE, "application/x-protobuf")
                .header(hyper::header::CONTENT_ENCODING, "gzip")
                .body(Full::new(body.clone()))
                .map_err(|e| Error::Monitor(Cause::with_source(&what, e)))?;
            let response = match self.client.exchange(request, &what).await {
                Ok(r) => r,
                Err(Outcome::Failed(c)) => {
                    // No answer: retried.
                    last = Some(c);
                    continue;
                }
                Err(Outcome::Unauthorized(c) | Outcome::Rejected(c)) => {
                    return Err(Error::Monitor(c));
                }
                Err(Outcome::Delivered) => return Ok(()),
            };
            let status = response.status();
            if status.is_success() {
                let bytes = response
                    .into_body()
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                if let Ok(r) = ExportMetricsServiceResponse::decode(bytes)
                    && let Some(p) = r.partial_success
                    && (p.rejected_data_points > 0 || !p.error_message.is_empty())
                {
                    crate::report::problem(
                        "otlp partial success",
                        format!(
                            "{what} rejected {} data points: {}",
                            p.rejected_data_points, p.error_message
                        ),
                    );
                } else {
                    crate::report::resolved("otlp partial success");
                }
                return Ok(());
            }
            let retry_after = response
                .headers()
                .get(hyper::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER));
            let text = error_text(response.into_body()).await;
            let message = format!("{what} answered {status}: {text}");
            match status.as_u16() {
                429 | 502 | 503 | 504 => {
                    if let Some(after) = retry_after {
                        wait = after;
                    }
                    last = Some(Cause::new(message));
                }
                401 | 403 => return Err(Error::Monitor(self.client.unauthorized(&message))),
                _ => {
                    return Err(Error::Monitor(Cause::new(format!(
                        "{message} (not retried, as the OTLP specification says)"
                    ))));
                }
            }
        }
        Err(Error::Monitor(Cause::new(format!(
            "{what}: failed after {ATTEMPTS} attempts: {}",
            last.map(|c| c.to_string()).unwrap_or_default()
        ))))
    }
}

impl Monitor for OtlpMonitor {
    fn chunk_size(&self) -> usize {
        CHUNK
    }

    fn send<'a>(&'a self, chunk: &'a Snapshot) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            if chunk.is_empty() {
                return Ok(());
            }
            let request = request(chunk);
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(&request.encode_to_vec())
                .and_then(|()| gz.flush())
                .map_err(|e| Error::Monitor(Cause::with_source("OTLP gzip", e)))?;
            let body = gz
                .finish()
                .map_err(|e| Error::Monitor(Cause::with_source("OTLP gzip", e)))?;
            self.post(Bytes::from(body)).await
        })
    }
}

fn kv(key: &str, value: proto::Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
    }
}

fn resource(t: &Target) -> Resource {
    use proto::Value::{Int, String as Str};
    Resource {
        attributes: vec![
            kv("service.name", Str(t.job_name.clone())),
            kv("service.namespace", Str(t.service_name.clone())),
            kv("service.instance.id", Str(t.task_num.to_string())),
            kv("host.name", Str(t.host_name.clone())),
            kv("tsmon.data_center", Str(t.data_center.clone())),
            kv("tsmon.task_num", Int(i64::from(t.task_num))),
        ],
    }
}

fn unit(u: Option<Units>) -> String {
    match u {
        None => String::new(),
        Some(Units::Bits) => "bit".to_owned(),
        Some(u) => u.go_str().to_owned(),
    }
}

/// The request for a snapshot: one resource per target, the series of each grouped by metric.
pub(crate) fn request(snap: &Snapshot) -> ExportMetricsServiceRequest {
    let now = snap.now_micros().saturating_mul(1000);
    let mut resources: Vec<(Target, Vec<Metric>)> = Vec::new();
    for m in snap.metrics() {
        for cell in m.cells() {
            let target = snap.target(cell);
            let at = match resources.iter().position(|(t, _)| t == target) {
                Some(at) => at,
                None => {
                    resources.push((target.clone(), Vec::new()));
                    resources.len() - 1
                }
            };
            let metrics = &mut resources[at].1;
            let name = m.desc().name().trim_start_matches('/');
            if metrics.last().is_none_or(|last| last.name != name) {
                metrics.push(Metric {
                    name: name.to_owned(),
                    description: m.desc().description().to_owned(),
                    unit: unit(m.desc().units()),
                    data: None,
                });
            }
            let Some(metric) = metrics.last_mut() else {
                continue;
            };
            point(m, cell, now, metric);
        }
    }
    ExportMetricsServiceRequest {
        resource_metrics: resources
            .into_iter()
            .map(|(t, metrics)| ResourceMetrics {
                resource: Some(resource(&t)),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(InstrumentationScope {
                        name: "tsmon".to_owned(),
                        version: env!("CARGO_PKG_VERSION").to_owned(),
                    }),
                    metrics,
                }],
            })
            .collect(),
    }
}

/// Adds the point of one series to its metric.
fn point(m: &MetricSnapshot, cell: &crate::store::CellSnapshot, now: u64, metric: &mut Metric) {
    let mut attributes: Vec<KeyValue> = m
        .desc()
        .fields()
        .iter()
        .zip(m.field_values(cell))
        .map(|(f, v)| {
            kv(
                f.name,
                match v {
                    FieldValue::Str(s) => proto::Value::String(s.to_owned()),
                    FieldValue::Int(i) => proto::Value::Int(i),
                    FieldValue::Bool(b) => proto::Value::Bool(b),
                },
            )
        })
        .collect();
    if cell.is_overflow() {
        attributes.push(kv("tsmon_overflow", proto::Value::Bool(true)));
    }
    let start = cell.start_micros().saturating_mul(1000);
    let number = |value: Number, attributes: Vec<KeyValue>| NumberDataPoint {
        attributes,
        start_time_unix_nano: start,
        time_unix_nano: now,
        value: Some(value),
    };
    let kind = m.desc().kind();
    match (cell.value(), kind) {
        (Value::Int(v), MetricKind::Counter) => {
            sum(metric).push(number(Number::Int(*v), attributes))
        }
        (Value::Float(v), MetricKind::FloatCounter) => {
            sum(metric).push(number(Number::Double(*v), attributes));
        }
        (Value::Int(v), _) => gauge(metric).push(number(Number::Int(*v), attributes)),
        (Value::Float(v), _) => gauge(metric).push(number(Number::Double(*v), attributes)),
        (Value::Bool(b), _) => gauge(metric).push(number(Number::Int(i64::from(*b)), attributes)),
        (Value::Str(s), _) => {
            attributes.push(kv("value", proto::Value::String(s.to_string())));
            gauge(metric).push(number(Number::Int(1), attributes));
        }
        (Value::Distribution(d), kind) => {
            let temporality = if kind == MetricKind::CumulativeDistribution {
                CUMULATIVE
            } else {
                DELTA
            };
            let count = u64::try_from(d.count()).unwrap_or(0);
            if let Some(n) = d.native() {
                let side = |s: &[(i32, u64)]| {
                    let Some(&(first, _)) = s.first() else {
                        return Buckets::default();
                    };
                    let last = s.last().map_or(first, |b| b.0);
                    let mut counts = vec![0u64; usize::try_from(last - first + 1).unwrap_or(0)];
                    for &(i, c) in s {
                        counts[usize::try_from(i - first).unwrap_or(0)] += c;
                    }
                    // Prometheus' bucket i is (base^(i-1), base^i]; OpenTelemetry's index k is
                    // (base^k, base^(k+1)].
                    Buckets {
                        offset: first - 1,
                        bucket_counts: counts,
                    }
                };
                exponential(metric, temporality).push(ExponentialHistogramDataPoint {
                    attributes,
                    start_time_unix_nano: start,
                    time_unix_nano: now,
                    count,
                    sum: d.sum().is_finite().then_some(d.sum()),
                    scale: i32::from(n.schema()),
                    zero_count: n.zero_count(),
                    positive: Some(side(n.positive())),
                    negative: Some(side(n.negative())),
                    zero_threshold: n.zero_threshold(),
                });
            } else {
                let b = d.bucketer();
                let n = b.num_buckets();
                histogram(metric, temporality).push(HistogramDataPoint {
                    attributes,
                    start_time_unix_nano: start,
                    time_unix_nano: now,
                    count,
                    sum: d.sum().is_finite().then_some(d.sum()),
                    bucket_counts: d
                        .buckets()
                        .iter()
                        .map(|&c| u64::try_from(c).unwrap_or(0))
                        .collect(),
                    explicit_bounds: (0..n.saturating_sub(1)).map(|i| b.upper_bound(i)).collect(),
                });
            }
        }
    }
}

fn sum(metric: &mut Metric) -> &mut Vec<NumberDataPoint> {
    if !matches!(metric.data, Some(Data::Sum(_))) {
        metric.data = Some(Data::Sum(Sum {
            data_points: Vec::new(),
            aggregation_temporality: CUMULATIVE,
            is_monotonic: true,
        }));
    }
    match &mut metric.data {
        Some(Data::Sum(s)) => &mut s.data_points,
        _ => unreachable!("just set"),
    }
}

fn gauge(metric: &mut Metric) -> &mut Vec<NumberDataPoint> {
    if !matches!(metric.data, Some(Data::Gauge(_))) {
        metric.data = Some(Data::Gauge(Gauge {
            data_points: Vec::new(),
        }));
    }
    match &mut metric.data {
        Some(Data::Gauge(g)) => &mut g.data_points,
        _ => unreachable!("just set"),
    }
}

fn histogram(metric: &mut Metric, temporality: i32) -> &mut Vec<HistogramDataPoint> {
    if !matches!(metric.data, Some(Data::Histogram(_))) {
        metric.data = Some(Data::Histogram(Histogram {
            data_points: Vec::new(),
            aggregation_temporality: temporality,
        }));
    }
    match &mut metric.data {
        Some(Data::Histogram(h)) => &mut h.data_points,
        _ => unreachable!("just set"),
    }
}

fn exponential(metric: &mut Metric, temporality: i32) -> &mut Vec<ExponentialHistogramDataPoint> {
    if !matches!(metric.data, Some(Data::ExponentialHistogram(_))) {
        metric.data = Some(Data::ExponentialHistogram(ExponentialHistogram {
            data_points: Vec::new(),
            aggregation_temporality: temporality,
        }));
    }
    match &mut metric.data {
        Some(Data::ExponentialHistogram(h)) => &mut h.data_points,
        _ => unreachable!("just set"),
    }
}
