//! HTTP client metrics (Go's `metric/http_transport.go`): a tower [`Layer`] for hyper-util's
//! client and any tower-based HTTP client, recording the four Go client metrics.
//!
//! | metric | Prometheus name | kind | fields |
//! |---|---|---|---|
//! | `http/request_bytes` | `http_request_bytes` | distribution, bytes (powers of two) | `name`, `client` |
//! | `http/response_bytes` | `http_response_bytes` | distribution, bytes (powers of two) | `name`, `client` |
//! | `http/durations` | `http_durations_seconds` | distribution, seconds (powers of two from 1 µs) | `name`, `client` |
//! | `http/response_status` | `http_response_status_total` | counter | `status`, `name`, `client` |
//!
//! - **`name`** is the server's host (`uri.host()`, else the `Host` header), as in Go; `client`
//!   is the name given to [`HttpClientMetricsLayer::new`] (one per purpose: `"github"`,
//!   `"storage"`).
//! - **A connection error or a timeout** (the inner service's error, or the call dropped
//!   before a response came) counts with status 0, as in Go.
//! - **Durations** run from the call to the end of the response body (or the moment it is
//!   dropped); Go stops at the response head. A caller that reads the body is timed whole.
//! - **Response bytes** are the bytes actually read from the body. **Request bytes** are the
//!   body's exact size (its `size_hint`, exact for `Full`, `Bytes` and `String` bodies), else
//!   its `Content-Length`, else 0: the layer does not wrap the request body, so the inner
//!   client keeps its own body type. Go records the declared lengths for both.
//! - Units and buckets follow tsmon's server metrics (seconds, powers of two), not Go's
//!   milliseconds and `DefaultBucketer`.
//!
//! ```
//! use tower_layer::Layer as _;
//! # #[derive(Clone)] struct Client;
//! let layer = tsmon::http::HttpClientMetricsLayer::new("storage");
//! // With hyper-util: `tower::ServiceBuilder::new().layer(layer).service(client)`.
//! let client = layer.layer(Client);
//! # let _ = client;
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use http_body::Body;
use tower_layer::Layer;
use tower_service::Service;

use crate::middleware::cache::{Cache, Local};
use crate::middleware::{CacheSlot, HandleSet, Observer, OnPanic, StateRef};

/// The `name` of a request whose URI and headers name no host.
pub const NO_HOST: &str = "(none)";

// Each static allows `unsafe_code`: linkme enters it in the catalog with a `#[link_section]`
// static, which the lint sees inside this crate (linkme's macro is local here).
crate::metric! {
    /// Request body bytes sent by an HTTP client, by server host and client.
    #[tsmon(units = bytes, bucketer = geometric(2.0, 36))]
    #[allow(unsafe_code)]
    pub static REQUEST_BYTES: CumulativeDistribution(name: String, client: String) = "http/request_bytes";
    /// Response body bytes an HTTP client read, by server host and client.
    #[tsmon(units = bytes, bucketer = geometric(2.0, 36))]
    #[allow(unsafe_code)]
    pub static RESPONSE_BYTES: CumulativeDistribution(name: String, client: String) = "http/response_bytes";
    /// Time from an HTTP client's call to the end of the response body.
    #[tsmon(units = seconds, bucketer = geometric_with_scale(2.0, 30, 0.000001))]
    #[allow(unsafe_code)]
    pub static DURATIONS: CumulativeDistribution(name: String, client: String) = "http/durations";
    /// Responses an HTTP client received, by status (0: a connection error or a timeout).
    #[allow(unsafe_code)]
    pub static RESPONSE_STATUS: Counter(status: i64, name: String, client: String) = "http/response_status";
}

/// The client layer. Cheap to clone.
#[derive(Clone)]
pub struct HttpClientMetricsLayer {
    client: Arc<str>,
    state: Option<crate::State>,
    cache: CacheSlot<Handles>,
}

impl fmt::Debug for HttpClientMetricsLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClientMetricsLayer")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl HttpClientMetricsLayer {
    /// Records as `client` (the `client` field).
    ///
    /// ```
    /// let layer = tsmon::http::HttpClientMetricsLayer::new("github");
    /// assert_eq!(layer.client(), "github");
    /// ```
    #[must_use]
    pub fn new(client: impl Into<String>) -> Self {
        HttpClientMetricsLayer {
            client: client.into().into(),
            state: None,
            cache: CacheSlot::default(),
        }
    }

    /// Records into `state` instead of the State current where each call is made.
    ///
    /// ```
    /// let state = tsmon::State::builder().build()?;
    /// let layer = tsmon::http::HttpClientMetricsLayer::new("storage").with_state(state);
    /// # let _ = layer;
    /// # Ok::<(), tsmon::Error>(())
    /// ```
    #[must_use]
    pub fn with_state(mut self, state: crate::State) -> Self {
        self.state = Some(state);
        self
    }

    /// An exchange with `host` begins (`None` when tsmon is off).
    pub(crate) fn begin(&self, host: Host, request_bytes: u64) -> Option<Exchange> {
        let state = StateRef::resolve(self.state.as_ref())?;
        let via = match self.cache.for_state(state.get(), || self.client.clone()) {
            Some(c) => Via::Cache(c),
            None => Via::Direct(self.client.clone()),
        };
        Some(Exchange {
            state,
            via,
            start: crate::middleware::now(),
            host,
            request_bytes,
            status: 0,
            response_bytes: 0,
            done: false,
        })
    }

    /// The `client` field this layer records.
    #[must_use]
    pub fn client(&self) -> &str {
        &self.client
    }
}

impl<S> Layer<S> for HttpClientMetricsLayer {
    type Service = HttpClientMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpClientMetrics {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service the client layer wraps around a client.
#[derive(Clone)]
pub struct HttpClientMetrics<S> {
    inner: S,
    layer: HttpClientMetricsLayer,
}

impl<S> fmt::Debug for HttpClientMetrics<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClientMetrics")
            .field("client", &self.layer.client)
            .finish_non_exhaustive()
    }
}

/// The four series of one (host, status) for one client.
pub(crate) struct Handles {
    durations: crate::metric::Handle<crate::metric::kind::CumulativeDistribution>,
    status: crate::metric::Handle<crate::metric::kind::Counter>,
    request: crate::metric::Handle<crate::metric::kind::CumulativeDistribution>,
    response: crate::metric::Handle<crate::metric::kind::CumulativeDistribution>,
}

impl HandleSet for Handles {
    type Ctx = Arc<str>;

    fn build(client: &Arc<str>, host: &str, status: i64, _: bool) -> Self {
        let client: &str = client;
        Handles {
            durations: DURATIONS.handle((host, client)),
            status: RESPONSE_STATUS.handle((status, host, client)),
            request: REQUEST_BYTES.handle((host, client)),
            response: RESPONSE_BYTES.handle((host, client)),
        }
    }

    fn local() -> &'static std::thread::LocalKey<std::cell::RefCell<Local<Self>>> {
        thread_local! {
            static LOCAL: std::cell::RefCell<Local<Handles>> = std::cell::RefCell::default();
        }
        &LOCAL
    }
}

/// The server's host, without a copy where it can: the URI's authority or the `Host` header.
pub(crate) enum Host {
    Authority(http::uri::Authority),
    Header(http::HeaderValue),
    #[cfg_attr(not(feature = "reqwest"), allow(dead_code))]
    Owned(Box<str>),
    None,
}

impl Host {
    fn of(parts: &http::request::Parts) -> Host {
        if let Some(a) = parts.uri.authority() {
            return Host::Authority(a.clone());
        }
        match parts.headers.get(http::header::HOST) {
            Some(v) if v.to_str().is_ok() => Host::Header(v.clone()),
            _ => Host::None,
        }
    }

    fn as_str(&self) -> &str {
        match self {
            Host::Authority(a) => a.host(),
            // Checked to be text in `of`; the port, if any, is not part of the host.
            Host::Header(v) => {
                let s = v.to_str().unwrap_or(NO_HOST);
                match s.rsplit_once(':') {
                    Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
                    _ => s,
                }
            }
            Host::Owned(h) => h,
            Host::None => NO_HOST,
        }
    }
}

/// How an exchange finds its series: through the layer's cache, or (a layer used with
/// another State than its first) by the client's name.
enum Via {
    Cache(Arc<Cache<Handles>>),
    Direct(Arc<str>),
}

/// One call; recorded once, when the response body ends or is dropped, or the call fails.
pub(crate) struct Exchange {
    state: StateRef,
    via: Via,
    start: u64,
    host: Host,
    request_bytes: u64,
    /// 0 until a response comes.
    status: i64,
    response_bytes: u64,
    done: bool,
}

impl Exchange {
    /// The response's head came.
    pub(crate) fn responded(&mut self, status: http::StatusCode) {
        self.status = i64::from(status.as_u16());
    }

    fn record(&mut self) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let elapsed = crate::middleware::seconds_since(self.start);
        let request = self.request_bytes as f64;
        let response = self.response_bytes as f64;
        let state = self.state.get();
        let host = self.host.as_str();
        let write = |h: &Handles| {
            h.durations.add(elapsed);
            h.status.inc();
            h.request.add(request);
            h.response.add(response);
        };
        let client: &str = match &self.via {
            Via::Cache(c) => {
                if c.with(state, host, self.status, false, write) {
                    return;
                }
                c.ctx()
            }
            Via::Direct(client) => client,
        };
        state.in_scope(|| {
            DURATIONS.add(elapsed, (host, client));
            RESPONSE_STATUS.inc((self.status, host, client));
            REQUEST_BYTES.add(request, (host, client));
            RESPONSE_BYTES.add(response, (host, client));
        });
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        self.record();
    }
}

impl Observer for Exchange {
    fn data(&mut self, _: &[u8], len: usize) {
        self.response_bytes += len as u64;
    }

    /// Recorded when dropped, right after this.
    fn end(&mut self, _complete: bool) {}
}

fn request_bytes<B: Body>(parts: &http::request::Parts, body: &B) -> u64 {
    if let Some(n) = body.size_hint().exact() {
        return n;
    }
    parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for HttpClientMetrics<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ReqBody: Body,
    ResBody: Body,
{
    type Response = Response<ClientBody<ResBody>>;
    type Error = S::Error;
    type Future = ClientFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let (parts, body) = req.into_parts();
        let exchange = self
            .layer
            .begin(Host::of(&parts), request_bytes(&parts, &body));
        ClientFuture {
            inner: self.inner.call(Request::from_parts(parts, body)),
            exchange,
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`HttpClientMetrics`].
    pub struct ClientFuture<F> {
        #[pin]
        inner: F,
        exchange: Option<Exchange>,
    }
}

impl<F> fmt::Debug for ClientFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientFuture").finish_non_exhaustive()
    }
}

impl<F, ResBody, E> Future for ClientFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    ResBody: Body,
{
    type Output = Result<Response<ClientBody<ResBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // A panic inside the client records the call with status 0, as an error would.
        let guard = OnPanic::new(this.exchange, drop);
        let result = std::task::ready!(this.inner.poll(cx));
        let exchange = guard.slot.take();
        Poll::Ready(result.map(|response| {
            let (parts, body) = response.into_parts();
            let exchange = exchange.map(|mut e| {
                e.responded(parts.status);
                e
            });
            Response::from_parts(parts, ClientBody::new(body, exchange))
        }))
        // On an error the exchange is dropped here, with status 0.
    }
}

crate::middleware::observed_body!(
    /// A response body that counts its bytes and records the call when it ends or is
    /// dropped.
    ClientBody,
    Exchange
);
