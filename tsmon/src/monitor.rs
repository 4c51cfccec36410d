//! Monitors: where a flush sends the snapshot (Go's `monitor.Monitor`).
//!
//! A monitor says how many cells it takes at once ([`Monitor::chunk_size`], 0 for all), sends a
//! chunk asynchronously ([`Monitor::send`], which several workers may call at once) and closes.
//! Here: [`NilMonitor`] (drops everything), [`FakeMonitor`] (keeps what it was sent, for tests),
//! [`DebugMonitor`] (a readable table to the log or a file), [`PushgatewayMonitor`] and the
//! [`PullMonitor`] scrape endpoint.
//!
//! ```
//! use tsmon::monitor::FakeMonitor;
//! tsmon::metric! {
//!     /// Things.
//!     static THINGS: Counter = "example/monitor/things";
//! }
//! let fake = FakeMonitor::new();
//! let state = tsmon::State::builder().with_monitor(fake.clone()).build().unwrap();
//! state.in_scope(|| THINGS.inc(()));
//! tsmon::runtime::block_on(state.flush()).unwrap();
//! let sent = fake.sent();
//! assert!(sent.iter().any(|chunk| chunk.metric("example/monitor/things").is_some()));
//! ```

#[cfg(any(feature = "pushgateway", feature = "remote-write", feature = "otlp"))]
mod client;
mod debug;
mod factory;
#[cfg(feature = "otlp")]
mod otlp;
#[cfg(feature = "pull")]
mod pull;
#[cfg(feature = "pushgateway")]
mod pushgateway;
#[cfg(feature = "remote-write")]
mod remote_write;
#[cfg(any(
    feature = "pull",
    feature = "pushgateway",
    feature = "remote-write",
    feature = "otlp"
))]
mod secret_file;
#[cfg(all(
    feature = "tls",
    any(
        feature = "pull",
        feature = "pushgateway",
        feature = "remote-write",
        feature = "otlp"
    )
))]
mod tls;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::Error;
use crate::store::Snapshot;

pub use debug::DebugMonitor;
pub(crate) use factory::{Carried, PullHooks, build};
#[cfg(feature = "otlp")]
pub use otlp::OtlpMonitor;
#[cfg(feature = "pull")]
pub use pull::PullMonitor;
#[cfg(feature = "pull")]
pub(crate) use pull::{SCRAPE_CHUNK, ScopeFn, ScrapeFn, StatusFn};
#[cfg(feature = "pushgateway")]
pub use pushgateway::PushgatewayMonitor;
#[cfg(feature = "remote-write")]
pub(crate) use remote_write::Backlog;
#[cfg(feature = "remote-write")]
pub use remote_write::{
    Exemplar as RemoteWriteExemplar, Label, MetricMetadata, NORMAL_NAN, RemoteWriteMonitor,
    STALE_NAN, Sample, TimeSeries, WriteRequest,
};

/// A boxed future, as the [`Monitor`] methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where a flush sends the snapshot.
pub trait Monitor: Send + Sync + fmt::Debug + 'static {
    /// How many cells one [`send`](Self::send) takes at most; 0 means everything at once.
    fn chunk_size(&self) -> usize {
        0
    }

    /// Sends one chunk. Several workers may call this at once.
    fn send<'a>(&'a self, chunk: &'a Snapshot) -> BoxFuture<'a, Result<(), Error>>;

    /// Releases what the monitor holds (connections, a listening socket). Idempotent.
    fn close(&self) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async { Ok(()) })
    }
}

impl<M: Monitor> Monitor for Arc<M> {
    fn chunk_size(&self) -> usize {
        (**self).chunk_size()
    }

    fn send<'a>(&'a self, chunk: &'a Snapshot) -> BoxFuture<'a, Result<(), Error>> {
        (**self).send(chunk)
    }

    fn close(&self) -> BoxFuture<'_, Result<(), Error>> {
        (**self).close()
    }
}

/// Drops every chunk (Go's `NilMonitor`): metrics are collected but go nowhere.
///
/// ```
/// use tsmon::monitor::{Monitor, NilMonitor};
/// let ok = tsmon::runtime::block_on(NilMonitor.send(&tsmon::store::Snapshot::default()));
/// assert!(ok.is_ok());
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct NilMonitor;

impl Monitor for NilMonitor {
    fn send<'a>(&'a self, _: &'a Snapshot) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async { Ok(()) })
    }
}

#[derive(Debug, Default)]
struct FakeInner {
    sent: Vec<Snapshot>,
    fail_with: Option<String>,
    closed: usize,
}

/// Keeps every chunk it is sent (Go's `monitor.Fake`), or fails on demand. Clones share.
///
/// ```
/// use tsmon::monitor::{FakeMonitor, Monitor};
/// let fake = FakeMonitor::new().with_chunk_size(42);
/// assert_eq!(fake.chunk_size(), 42);
/// fake.fail_with("the backend is down");
/// let err = tsmon::runtime::block_on(fake.send(&tsmon::store::Snapshot::default())).unwrap_err();
/// assert!(err.to_string().contains("down"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct FakeMonitor {
    inner: Arc<Mutex<FakeInner>>,
    chunk_size: usize,
}

impl FakeMonitor {
    /// A fake that takes everything at once.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The chunk size it reports.
    #[must_use]
    pub fn with_chunk_size(mut self, n: usize) -> Self {
        self.chunk_size = n;
        self
    }

    /// Every chunk sent so far, in order.
    #[must_use]
    pub fn sent(&self) -> Vec<Snapshot> {
        self.inner.lock().sent.clone()
    }

    /// Forgets what was sent.
    pub fn clear(&self) {
        self.inner.lock().sent.clear();
    }

    /// Makes every send fail with this message until [`succeed`](Self::succeed).
    pub fn fail_with(&self, message: &str) {
        self.inner.lock().fail_with = Some(message.to_owned());
    }

    /// Makes sends succeed again.
    pub fn succeed(&self) {
        self.inner.lock().fail_with = None;
    }

    /// How many times it was closed.
    #[must_use]
    pub fn closed(&self) -> usize {
        self.inner.lock().closed
    }
}

impl Monitor for FakeMonitor {
    fn chunk_size(&self) -> usize {
        self.chunk_size
    }

    fn send<'a>(&'a self, chunk: &'a Snapshot) -> BoxFuture<'a, Result<(), Error>> {
        let result = {
            let mut inner = self.inner.lock();
            match &inner.fail_with {
                Some(message) => Err(Error::Monitor(message.as_str().into())),
                None => {
                    inner.sent.push(chunk.clone());
                    Ok(())
                }
            }
        };
        Box::pin(async move { result })
    }

    fn close(&self) -> BoxFuture<'_, Result<(), Error>> {
        self.inner.lock().closed += 1;
        Box::pin(async { Ok(()) })
    }
}
