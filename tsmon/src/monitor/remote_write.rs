//! The remote-write monitor: Prometheus remote-write 1.0 (protobuf, snappy) to any receiver.

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash as _, Hasher as _};
use std::time::{Duration, Instant};

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use parking_lot::Mutex;
use prost::Message as _;

mod request;

pub use request::{
    Exemplar, Label, MetricMetadata, NORMAL_NAN, STALE_NAN, Sample, TimeSeries, WriteRequest,
};

use super::client::{Outcome, PushClient};
use super::{BoxFuture, Monitor};
use crate::error::{Cause, Error};
use crate::settings::PushOptions;
use crate::store::Snapshot;

// Each static allows `unsafe_code`: linkme enters it in the catalog with a `#[link_section]`
// static, which the lint sees inside this crate (linkme's macro is local here).
crate::metric! {
    /// Bytes (compressed) of remote-write requests waiting for the receiver to come back.
    #[tsmon(units = bytes)]
    #[allow(unsafe_code)]
    pub static QUEUED_BYTES: IntGauge = "tsmon/remote_write/queued";
    /// Remote-write requests given up, by reason: age (older than the queue's age limit), bytes (the queue was full: the oldest go first), rejected (a 4xx other than 401, 403 and 429: the receiver will never take it).
    #[allow(unsafe_code)]
    pub static DROPPED_REQUESTS: Counter(reason: String) = "tsmon/remote_write/dropped_requests";
}

/// Pushes each flush to a Prometheus remote-write receiver (Prometheus itself with
/// `--web.enable-remote-write-receiver`, Mimir, Thanos, VictoriaMetrics, …). Tested end to end
/// against Prometheus and VictoriaMetrics (the README lists each receiver's URL).
///
/// - Series are named and labelled as Prometheus stores a scrape of the OpenMetrics exposition
///   (`_total`, `_bucket{le}`, `_sum`, `_count`, `_gsum` and `_gcount` for non-cumulative
///   distributions, `_info{value}`), with the target's labels, task number included.
/// - Samples carry the snapshot's time, from the store's monotonic clock, in milliseconds.
/// - Requests are bounded by series, not cells: at most 2,000 series and 2 MiB (before
///   compression) each ([`with_batch`](Self::with_batch)), sent in order. A histogram's
///   buckets are series of their own and count as such.
/// - A series sent by the previous flush and missing from this one (deleted, or relabelled by a
///   new task number) is closed with a stale marker ([`STALE_NAN`]), so Prometheus ends it at
///   once rather than five minutes later. A NaN the program wrote is sent as [`NORMAL_NAN`].
/// - Labels with an empty value are left out (Prometheus treats them as absent); each request
///   carries the type, help and unit of its families.
/// - Requests carry `User-Agent: tsmon/VERSION`, `Content-Encoding: snappy` and
///   `X-Prometheus-Remote-Write-Version: 0.1.0`.
/// - A 5xx or 429 answer or a network error is retried, up to 3 attempts with backoff from
///   200 ms, within the flush timeout; a 4xx answer (bad labels, samples too old) is not
///   retried: its message is returned and logged, and the other batches go on.
/// - `https://` needs the `tls` feature; credentials, headers and TLS options come from the
///   `push` [settings](crate::settings) ([`PushOptions`], with the names of Prometheus'
///   `remote_write` configuration). A 401 or 403 is not retried within the flush (counted in
///   `tsmon/push/unauthorized`, and the flush fails, so it backs off): the request stays at
///   the head of the queue, so once the credentials are fixed (a credentials file is re-read
///   by itself) nothing is lost.
/// - **An outage loses nothing within a bound.** A request that still fails waits in a queue
///   (64 MiB of compressed requests and 15 minutes by default: the `push_queue_max_bytes` and
///   `push_queue_max_age_sec` settings, or [`with_queue`](Self::with_queue); the queue
///   survives a change of settings that rebuilds the monitor for the same URL),
///   and every later flush queues behind it, each with its own timestamps. Each flush first
///   re-sends the queue in order, oldest first, then its own requests, so the receiver never
///   sees a sample out of order. Past the bounds the oldest are dropped and counted
///   (`tsmon/remote_write/dropped_requests{reason}`); `tsmon/remote_write/queued_bytes` is
///   the queue now. While requests wait, a flush ends with [`Error::Deferred`], which keeps
///   the flush interval instead of backing off: unlike Go's 5 s-doubling backoff, the first
///   delivery after the receiver comes back is at the next flush, within one interval.
///
/// | remote-write 1.0 | tsmon |
/// |---|---|
/// | MUST: protobuf `WriteRequest`, snappy block format, `Content-Encoding: snappy`, `Content-Type: application/x-protobuf`, `X-Prometheus-Remote-Write-Version: 0.1.0` | yes |
/// | MUST: a `User-Agent` | `tsmon/VERSION` |
/// | MUST: `__name__` and labels sorted by name, no repeated names, valid names | yes (names are checked when the catalog is) |
/// | MUST NOT: empty label values | left out |
/// | MUST: samples of a series in time order | one sample per series per flush, flushes in order |
/// | MUST: stale markers when a series ends | for series missing from the next flush |
/// | MUST: retry 5xx and network errors with backoff, not 4xx | 3 attempts from 200 ms, doubling; 4xx not retried |
/// | MAY: retry 429 | retried as a 5xx |
/// | MUST: 200 and 204 are success, whatever the body | yes |
/// | MUST: log the receiver's error message as it is | verbatim in the error, cut at 4 KiB (a receiver cannot make tsmon read an unbounded body) |
/// | SHOULD: metadata | type, help and unit per family in each request |
/// | SHOULD: batches of at most 10k series | 2,000 series and 2 MiB by default |
/// | SHOULD: not buffer unboundedly | a queue bounded by bytes and age; the oldest dropped and counted |
/// | MAY: exemplars, histograms (native) | not yet |
///
/// The cases of Prometheus' sender compliance suite (`prometheus/compliance`,
/// `remotewrite/sender`) that apply to a 1.0 sender are tests of tsmon's
/// (`tests/tests/remote_write_compliance.rs`): protocol headers, retry and backoff by status,
/// broken receivers (refused, hanging, malformed, empty, a 1 MiB error body), every float value
/// bit for bit (±Inf, NaN, extremes), timestamps in epoch milliseconds, labels (sorted, valid,
/// Unicode and 12 KiB values byte for byte), metadata, batching, order across an outage. Two
/// cases are answered differently on purpose: a doc comment's line breaks are not kept in HELP
/// (rustdoc makes one paragraph of them), and 401/403 keep the request queued (not retried
/// within the flush) rather than dropping it, so fixed credentials lose nothing. The 2.0
/// cases (symbols, the 415 fallback, written-count headers, start timestamps) do not apply.
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
#[derive(Debug)]
pub struct RemoteWriteMonitor {
    url: String,
    client: PushClient,
    max_series: usize,
    max_bytes: usize,
    queue_bytes: usize,
    queue_age: Duration,
    time_budget: Duration,
    native_classic: bool,
    backlog: Arc<Backlog>,
}

/// What a remote-write monitor carries from one flush to the next, and hands to the monitor
/// that replaces it for the same URL: the queue, and the series to close.
#[derive(Debug, Default)]
pub(crate) struct Backlog {
    /// The series the last flush sent (by a hash of their labels), to close the ones that
    /// end with a stale marker.
    previous: Mutex<HashMap<u64, Vec<Label>>>,
    queue: Mutex<Queue>,
    sending: tokio::sync::Mutex<()>,
}

/// Requests waiting for the receiver, oldest first.
#[derive(Debug, Default)]
struct Queue {
    items: VecDeque<(Instant, Bytes)>,
    bytes: usize,
}

impl Queue {
    fn push(&mut self, at: Instant, body: Bytes) {
        self.bytes += body.len();
        self.items.push_back((at, body));
    }

    /// Drops what is past the limits (oldest first): how many by age, and by bytes.
    fn trim(&mut self, max_bytes: usize, max_age: Duration) -> (u64, u64) {
        let (mut aged, mut full) = (0, 0);
        while let Some((at, body)) = self.items.front() {
            let old = at.elapsed() > max_age;
            if !old && self.bytes <= max_bytes {
                break;
            }
            self.bytes -= body.len();
            self.items.pop_front();
            if old {
                aged += 1;
            } else {
                full += 1;
            }
        }
        (aged, full)
    }
}

/// How a post ended.
enum Posted {
    Ok,
    /// A 4xx: never to be sent again.
    Rejected(Error),
    /// 401 or 403: kept, not retried until the next flush.
    Unauthorized(Error),
    /// 5xx or network errors after every attempt: worth queueing.
    Failed(Error),
}

const ATTEMPTS: u32 = 3;
const USER_AGENT: &str = concat!("tsmon/", env!("CARGO_PKG_VERSION"));
const FIRST_BACKOFF: Duration = Duration::from_millis(200);

impl RemoteWriteMonitor {
    /// A monitor writing to `url` (`http://host:9090/api/v1/write`), without credentials.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSettings`] for a URL that is not `http://` (or `https://` with the
    /// `tls` feature).
    pub fn new(url: &str) -> Result<Self, Error> {
        Self::with_options(url, &PushOptions::default())
    }

    /// A monitor writing to `url` with the credentials, headers and TLS of `options`.
    ///
    /// ```
    /// use tsmon::monitor::RemoteWriteMonitor;
    /// use tsmon::settings::{Authorization, PushOptions};
    /// let options = PushOptions {
    ///     authorization: Some(Authorization {
    ///         kind: "Bearer".into(),
    ///         credentials: None,
    ///         credentials_file: Some("/run/secrets/token".into()),
    ///     }),
    ///     headers: [("X-Scope-OrgID".to_string(), "team-a".to_string())].into(),
    ///     ..PushOptions::default()
    /// };
    /// let m = RemoteWriteMonitor::with_options("http://127.0.0.1:9090/api/v1/write", &options);
    /// assert!(m.is_ok());
    /// ```
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new), and when a TLS file cannot be read.
    pub fn with_options(url: &str, options: &PushOptions) -> Result<Self, Error> {
        crate::settings::MonitorSpec::parse(&format!("remote_write:{url}"))?;
        Ok(RemoteWriteMonitor {
            url: url.to_owned(),
            client: PushClient::new("remote_write", url, options)?,
            max_series: 2000,
            max_bytes: 2 << 20,
            queue_bytes: 64 << 20,
            queue_age: Duration::from_secs(15 * 60),
            time_budget: Duration::from_secs(4),
            native_classic: false,
            backlog: Arc::default(),
        })
    }

    /// How long one send may take (4 s by default; a State gives its monitor four fifths of
    /// the flush timeout): past it, no new request starts and no retry waits, and what is
    /// left stays queued for the next flush ([`Error::Deferred`]). So a flush that catches up
    /// after an outage ends in time instead of timing out, which would back off.
    ///
    /// ```
    /// use std::time::Duration;
    /// let m = tsmon::monitor::RemoteWriteMonitor::new("http://127.0.0.1:9090/api/v1/write")
    ///     .unwrap()
    ///     .with_time_budget(Duration::from_secs(2));
    /// # drop(m);
    /// ```
    #[must_use]
    pub fn with_time_budget(mut self, budget: Duration) -> Self {
        self.time_budget = budget;
        self
    }

    /// Whether a native histogram's classic `_bucket`, `_count` and `_sum` series go beside
    /// its histogram (the `native_classic_buckets` setting; off by default).
    ///
    /// ```
    /// let m = tsmon::monitor::RemoteWriteMonitor::new("http://127.0.0.1:9090/api/v1/write")
    ///     .unwrap()
    ///     .with_native_classic(true);
    /// # drop(m);
    /// ```
    #[must_use]
    pub fn with_native_classic(mut self, on: bool) -> Self {
        self.native_classic = on;
        self
    }

    /// Carries on from `backlog` (the queue and the series of the monitor this one replaces).
    pub(crate) fn with_backlog(mut self, backlog: Arc<Backlog>) -> Self {
        self.backlog = backlog;
        self
    }

    /// The queue and series this monitor carries.
    pub(crate) fn backlog(&self) -> Arc<Backlog> {
        self.backlog.clone()
    }

    /// The outage queue's bounds: at most `bytes` of compressed requests, none older than
    /// `age` (64 MiB and 15 minutes by default).
    ///
    /// ```
    /// use std::time::Duration;
    /// let m = tsmon::monitor::RemoteWriteMonitor::new("http://127.0.0.1:9090/api/v1/write")
    ///     .unwrap()
    ///     .with_queue(16 << 20, Duration::from_secs(300));
    /// # drop(m);
    /// ```
    #[must_use]
    pub fn with_queue(mut self, bytes: usize, age: Duration) -> Self {
        self.queue_bytes = bytes;
        self.queue_age = age;
        self
    }

    /// At most `series` series and `bytes` bytes (before compression) per request (at least
    /// one series each).
    ///
    /// ```
    /// let m = tsmon::monitor::RemoteWriteMonitor::new("http://127.0.0.1:9090/api/v1/write")
    ///     .unwrap()
    ///     .with_batch(500, 1 << 20);
    /// # drop(m);
    /// ```
    #[must_use]
    pub fn with_batch(mut self, series: usize, bytes: usize) -> Self {
        self.max_series = series.max(1);
        self.max_bytes = bytes.max(1);
        self
    }

    /// Drops the queue's head (delivered, or refused for good).
    fn pop_front(&self) {
        let mut queue = self.backlog.queue.lock();
        if let Some((_, body)) = queue.items.pop_front() {
            queue.bytes -= body.len();
        }
        QUEUED_BYTES.set(i64::try_from(queue.bytes).unwrap_or(i64::MAX), ());
    }

    /// Applies the queue's bounds, counting what they drop.
    fn trim(&self, queue: &mut Queue) {
        let (aged, full) = queue.trim(self.queue_bytes, self.queue_age);
        if aged > 0 {
            DROPPED_REQUESTS.add(aged, "age");
        }
        if full > 0 {
            DROPPED_REQUESTS.add(full, "bytes");
        }
        QUEUED_BYTES.set(i64::try_from(queue.bytes).unwrap_or(i64::MAX), ());
    }

    /// The requests for one flush: this flush's series, then a stale marker for each series
    /// of the previous flush that is gone, in batches, each with its families' metadata.
    fn requests(&self, snap: &Snapshot) -> (Vec<WriteRequest>, HashMap<u64, Vec<Label>>) {
        let (all, families) = request::build(snap, self.native_classic);
        let ts = i64::try_from(snap.now_micros() / 1000).unwrap_or(i64::MAX);
        let mut current: HashMap<u64, Vec<Label>> = HashMap::with_capacity(all.timeseries.len());
        for series in &all.timeseries {
            current.insert(labels_hash(&series.labels), series.labels.clone());
        }
        // Each series with its family's metadata (none for stale markers: their families'
        // metadata went out with them before).
        let mut series: Vec<(TimeSeries, Option<usize>)> = all
            .timeseries
            .into_iter()
            .zip(families.into_iter().map(Some))
            .collect();
        for (hash, labels) in self.backlog.previous.lock().iter() {
            if !current.contains_key(hash) {
                let marker = TimeSeries {
                    labels: labels.clone(),
                    samples: vec![Sample {
                        value: f64::from_bits(STALE_NAN),
                        timestamp: ts,
                    }],
                    exemplars: Vec::new(),
                    histograms: Vec::new(),
                };
                series.push((marker, None));
            }
        }
        let metadata = all.metadata;
        let mut requests = Vec::new();
        let mut batch = WriteRequest::default();
        let mut bytes = 0usize;
        // The family whose metadata the batch carries last: a family's series are adjacent.
        let mut last_family = None;
        for (s, family) in series {
            let size = s.encoded_len() + 8;
            if !batch.timeseries.is_empty()
                && (batch.timeseries.len() >= self.max_series || bytes + size > self.max_bytes)
            {
                requests.push(std::mem::take(&mut batch));
                bytes = 0;
                last_family = None;
            }
            if let Some(f) = family
                && last_family != Some(f)
                && let Some(m) = metadata.get(f)
            {
                bytes += m.encoded_len() + 8;
                batch.metadata.push(m.clone());
                last_family = Some(f);
            }
            bytes += size;
            batch.timeseries.push(s);
        }
        if !batch.timeseries.is_empty() {
            requests.push(batch);
        }
        (requests, current)
    }

    /// The request for a chunk.
    #[must_use]
    pub fn write_request(chunk: &Snapshot) -> WriteRequest {
        request::build(chunk, false).0
    }

    /// Posts one request, retrying as the spec asks, but never sleeping past `deadline`.
    async fn post(&self, body: Bytes, deadline: Instant) -> Posted {
        let mut backoff = FIRST_BACKOFF;
        let mut last = None;
        for attempt in 1..=ATTEMPTS {
            let request = hyper::Request::post(&self.url)
                .header(hyper::header::CONTENT_TYPE, "application/x-protobuf")
                .header(hyper::header::CONTENT_ENCODING, "snappy")
                .header("X-Prometheus-Remote-Write-Version", "0.1.0")
                .header(hyper::header::USER_AGENT, USER_AGENT)
                .body(Full::new(body.clone()));
            let request = match request {
                Ok(r) => r,
                Err(e) => {
                    return Posted::Rejected(Error::Monitor(Cause::with_source(
                        "remote-write request",
                        e,
                    )));
                }
            };
            match self.client.send(request, &self.url).await {
                Outcome::Delivered => return Posted::Ok,
                Outcome::Unauthorized(e) => return Posted::Unauthorized(Error::Monitor(e)),
                Outcome::Rejected(e) => {
                    tracing::warn!("tsmon remote-write: batch rejected: {e}");
                    return Posted::Rejected(Error::Monitor(
                        Cause::new(format!("remote-write rejected: {e}")).caused_by(e),
                    ));
                }
                Outcome::Failed(e) => last = Some(e),
            }
            if attempt < ATTEMPTS {
                if Instant::now() + backoff >= deadline {
                    break;
                }
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
        }
        let message = match &last {
            Some(e) => format!("remote-write failed after {ATTEMPTS} attempts: {e}"),
            None => format!("remote-write failed after {ATTEMPTS} attempts"),
        };
        let cause = Cause::new(message);
        Posted::Failed(Error::Monitor(match last {
            Some(e) => cause.caused_by(e),
            None => cause,
        }))
    }
}

/// A hash of a sorted label set (names and values, each ended by a separator).
fn labels_hash(labels: &[Label]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for l in labels {
        l.name.hash(&mut h);
        l.value.hash(&mut h);
    }
    h.finish()
}

impl Monitor for RemoteWriteMonitor {
    /// The whole snapshot at once: the monitor batches by series itself, and needs every
    /// series of a flush to know which ones ended.
    fn chunk_size(&self) -> usize {
        0
    }

    fn send<'a>(&'a self, chunk: &'a Snapshot) -> BoxFuture<'a, Result<(), Error>> {
        let (requests, current) = self.requests(chunk);
        Box::pin(async move {
            // One sender at a time, and a request leaves the queue only once delivered (or
            // refused for good): a send cut short by the flush timeout loses nothing.
            let backlog = &self.backlog;
            let _sending = backlog.sending.lock().await;
            let now = Instant::now();
            let mut fresh_error = None;
            {
                let mut queue = backlog.queue.lock();
                for request in &requests {
                    match snap::raw::Encoder::new().compress_vec(&request.encode_to_vec()) {
                        Ok(body) => queue.push(now, Bytes::from(body)),
                        Err(e) => {
                            fresh_error.get_or_insert(Error::Monitor(Cause::with_source(
                                "remote-write snappy",
                                e,
                            )));
                        }
                    }
                }
                self.trim(&mut queue);
            }
            let mut rejected = None;
            let mut outage = None;
            let mut unauthorized = None;
            let mut behind = false;
            let deadline = now + self.time_budget;
            // In order, oldest first; at the first request the receiver cannot take now,
            // that one and every later one wait.
            loop {
                let head = backlog.queue.lock().items.front().map(|(_, b)| b.clone());
                let Some(body) = head else { break };
                if Instant::now() >= deadline {
                    // Catching up after an outage: the rest goes at the next flush, rather
                    // than this flush running into its timeout (which would back off).
                    behind = true;
                    break;
                }
                match self.post(body, deadline).await {
                    Posted::Ok => self.pop_front(),
                    Posted::Rejected(e) => {
                        self.pop_front();
                        DROPPED_REQUESTS.inc("rejected");
                        rejected.get_or_insert(e);
                    }
                    Posted::Failed(e) => {
                        outage = Some(e);
                        break;
                    }
                    Posted::Unauthorized(e) => {
                        unauthorized = Some(e);
                        break;
                    }
                }
            }
            self.trim(&mut backlog.queue.lock());
            let mut previous = backlog.previous.lock();
            if outage.is_none() && rejected.is_none() && unauthorized.is_none() {
                *previous = current;
            } else {
                // Keep every series known, so the ones that end still get their marker.
                previous.extend(current);
            }
            drop(previous);
            // No counts in these texts (they are in tsmon/remote_write/queued): a failing flush
            // is reported once while its text stays the same, not at every flush of an outage.
            if let Some(e) = unauthorized {
                return Err(e);
            }
            match (outage, rejected.or(fresh_error)) {
                (Some(e), _) => Err(Error::Deferred(
                    Cause::new(format!(
                        "remote-write requests wait in the queue for the receiver: {e}"
                    ))
                    .caused_by(e),
                )),
                (None, None) if behind => Err(Error::Deferred(
                    "remote-write is catching up after an outage: the next flush sends more of \
                     the queue"
                        .into(),
                )),
                (None, Some(e)) => Err(e),
                (None, None) => Ok(()),
            }
        })
    }
}
