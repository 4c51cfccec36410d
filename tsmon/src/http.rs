//! The HTTP server middleware (Go's `server/tsmon` middleware): a tower [`Layer`] for hyper and
//! axum services that records the four Go server metrics. The client side is [`client`]
//! (and `http::reqwest` with the `reqwest` feature); gRPC servers and clients
//! have their own layers in `tsmon::grpc` (feature `grpc`), which read the gRPC status this
//! layer cannot see.
//!
//! | metric | Prometheus name | kind |
//! |---|---|---|
//! | `http/server_durations` | `http_server_durations_seconds` | distribution, seconds (powers of two from 1 µs) |
//! | `http/server_response_status` | `http_server_response_status_total` | counter |
//! | `http/server_request_bytes` | `http_server_request_bytes` | distribution, bytes (powers of two) |
//! | `http/server_response_bytes` | `http_server_response_bytes` | distribution, bytes (powers of two) |
//!
//! Every one has the fields `status` (the HTTP status), `name` (the route) and `is_robot`.
//!
//! - **The name** is the route *template*, never the raw path: axum's `MatchedPath` (feature
//!   `axum`), else what the function given to [`HttpMetricsLayer::with_route`] returns, else the
//!   constant [`UNMATCHED`]. A path or user agent never becomes a label value.
//! - **Durations** run from the request to the end of the response body (or the moment it is
//!   dropped): a streamed response is timed whole.
//! - **Bytes** are the bytes actually read from the request body and actually sent in the
//!   response body, not what `Content-Length` claims: a lying or unfinished client does not
//!   inflate them.
//! - **A panicking handler** is recorded as a 500 and the panic goes on.
//! - **Robots**, as in Go (case-sensitive): the user agent contains `GoogleBot` or
//!   `GoogleSecurityScanner`, starts with `kube-probe/` or `GoogleHC/`, or is `B3M/prober`.
//! - A request whose response never started (the client went away while the handler ran) is
//!   recorded with status 499, as nginx does.
//!
//! With axum, use `AxumMetricsLayer` (feature `axum`): the same metrics, with axum's own body
//! type in and out, so axum does not box the bodies again (`HttpMetricsLayer` works with axum
//! too, and cost 80–140 ns more a request on the bench machine). `HttpMetricsLayer` is for
//! any other tower stack (hyper, tonic's HTTP side, your own):
//!
//! ```
//! # #[cfg(feature = "axum")] {
//! use axum::{Router, routing::get};
//! let app: Router = Router::new()
//!     .route("/items/{id}", get(|| async { "item" }))
//!     .layer(tsmon::http::AxumMetricsLayer::new());
//! // then `axum::serve(listener, app)` as usual.
//! # let _ = app;
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll};

use http::{Request, Response};
use http_body::Body;
use tower_layer::Layer;
use tower_service::Service;

use crate::middleware::{CacheSlot, HandleSet, Observer, OnPanic, StateRef};

#[cfg(feature = "axum")]
mod axum;
pub mod client;
#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub mod reqwest;

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use self::axum::{AxumMetrics, AxumMetricsLayer, AxumResponseFuture};
pub use client::{HttpClientMetrics, HttpClientMetricsLayer};

/// The name of requests no route matched.
pub const UNMATCHED: &str = "(unmatched)";

// Each static allows `unsafe_code`: linkme enters it in the catalog with a `#[link_section]`
// static, which the lint sees inside this crate (linkme's macro is local here).
crate::metric! {
    /// Time to serve a request, from its arrival to the end of the response body.
    #[tsmon(units = seconds, bucketer = geometric_with_scale(2.0, 30, 0.000001))]
    #[allow(unsafe_code)]
    pub static DURATIONS: CumulativeDistribution(status: i64, name: String, is_robot: bool) = "http/server_durations";
    /// Responses served, by status.
    #[allow(unsafe_code)]
    pub static RESPONSE_STATUS: Counter(status: i64, name: String, is_robot: bool) = "http/server_response_status";
    /// Request body bytes actually received.
    #[tsmon(units = bytes, bucketer = geometric(2.0, 36))]
    #[allow(unsafe_code)]
    pub static REQUEST_BYTES: CumulativeDistribution(status: i64, name: String, is_robot: bool) = "http/server_request_bytes";
    /// Response body bytes actually sent.
    #[tsmon(units = bytes, bucketer = geometric(2.0, 36))]
    #[allow(unsafe_code)]
    pub static RESPONSE_BYTES: CumulativeDistribution(status: i64, name: String, is_robot: bool) = "http/server_response_bytes";
}

/// Go's robot rule.
///
/// ```
/// use tsmon::http::is_robot;
/// assert!(is_robot("Mozilla/5.0 (compatible; GoogleBot/2.1)"));
/// assert!(is_robot("kube-probe/1.29"));
/// assert!(!is_robot("googlebot")); // case-sensitive, as in Go
/// assert!(!is_robot("curl/8.0"));
/// ```
#[must_use]
pub fn is_robot(user_agent: &str) -> bool {
    user_agent.contains("GoogleBot")
        || user_agent.contains("GoogleSecurityScanner")
        || user_agent.starts_with("kube-probe/")
        || user_agent.starts_with("GoogleHC/")
        || user_agent == "B3M/prober"
}

type RouteFn = Arc<dyn Fn(&http::request::Parts) -> Option<String> + Send + Sync>;

/// The layer. Cheap to clone.
#[derive(Clone, Default)]
pub struct HttpMetricsLayer {
    config: Arc<Config>,
}

/// What a layer and each service it makes share: one reference count for a service's clone
/// (axum clones the service for every request).
#[derive(Clone, Default)]
struct Config {
    route: Option<RouteFn>,
    state: Option<crate::State>,
    cache: CacheSlot<Handles>,
}

impl fmt::Debug for HttpMetricsLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpMetricsLayer").finish_non_exhaustive()
    }
}

impl HttpMetricsLayer {
    /// Route names from axum's `MatchedPath` (with the `axum` feature), else [`UNMATCHED`].
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Records into `state` instead of the State current where each request is handled (the
    /// global one, in a service). Only the layer's own metrics: what the handler writes (its
    /// `#[tsmon::instrument]`ed calls) goes to the State current where it runs; wrap its future
    /// in [`WithState::with_state`](crate::state::WithState::with_state) to send it there too.
    #[must_use]
    pub fn with_state(mut self, state: crate::State) -> Self {
        Arc::make_mut(&mut self.config).state = Some(state);
        self
    }

    /// Route names from `f` when axum has none; `f` must return a template (`/items/{id}`),
    /// not the path, or `None` for [`UNMATCHED`].
    ///
    /// ```
    /// let layer = tsmon::http::HttpMetricsLayer::new().with_route(|parts| {
    ///     parts.uri.path().starts_with("/api/").then(|| "/api/*".to_owned())
    /// });
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn with_route(
        mut self,
        f: impl Fn(&http::request::Parts) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        Arc::make_mut(&mut self.config).route = Some(Arc::new(f));
        self
    }
}

impl<S> Layer<S> for HttpMetricsLayer {
    type Service = HttpMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpMetrics {
            inner,
            config: self.config.clone(),
        }
    }
}

/// The service the layer wraps around yours.
#[derive(Clone)]
pub struct HttpMetrics<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> fmt::Debug for HttpMetrics<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpMetrics").finish_non_exhaustive()
    }
}

/// A route name without a copy of the template where axum has one.
enum Name {
    #[cfg(feature = "axum")]
    Matched(::axum::extract::MatchedPath),
    Owned(String),
    Unmatched,
}

impl Name {
    fn as_str(&self) -> &str {
        match self {
            #[cfg(feature = "axum")]
            Name::Matched(m) => m.as_str(),
            Name::Owned(s) => s,
            Name::Unmatched => UNMATCHED,
        }
    }
}

/// The four series of one (name, status, robot), resolved once per layer and State.
struct Handles {
    durations: crate::metric::Handle<crate::metric::kind::CumulativeDistribution>,
    status: crate::metric::Handle<crate::metric::kind::Counter>,
    request: crate::metric::Handle<crate::metric::kind::CumulativeDistribution>,
    response: crate::metric::Handle<crate::metric::kind::CumulativeDistribution>,
}

impl HandleSet for Handles {
    type Ctx = ();

    fn build(_: &(), name: &str, status: i64, robot: bool) -> Self {
        let fields = (status, name, robot);
        Handles {
            durations: DURATIONS.handle(fields),
            status: RESPONSE_STATUS.handle(fields),
            request: REQUEST_BYTES.handle(fields),
            response: RESPONSE_BYTES.handle(fields),
        }
    }

    fn local()
    -> &'static std::thread::LocalKey<std::cell::RefCell<crate::middleware::cache::Local<Self>>>
    {
        thread_local! {
            static LOCAL: std::cell::RefCell<crate::middleware::cache::Local<Handles>> =
                std::cell::RefCell::default();
        }
        &LOCAL
    }
}

/// What one request has gathered; recorded once, when the response body ends or is dropped.
pub(crate) struct Exchange {
    state: StateRef,
    cache: Option<Arc<crate::middleware::cache::Cache<Handles>>>,
    /// The call clock's ticks (the TSC where reliable): cheaper than `Instant::now`.
    start: u64,
    name: Name,
    robot: bool,
    request_bytes: Option<Arc<AtomicU64>>,
    status: i64,
    response_bytes: u64,
    done: bool,
}

impl Exchange {
    fn record(&mut self) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let elapsed = crate::middleware::seconds_since(self.start);
        let request = self
            .request_bytes
            .as_ref()
            .map_or(0.0, |n| n.load(Relaxed) as f64);
        let response = self.response_bytes as f64;
        let state = self.state.get();
        let name = self.name.as_str();
        let write = |h: &Handles| {
            h.durations.add(elapsed);
            h.status.inc();
            h.request.add(request);
            h.response.add(response);
        };
        if let Some(c) = &self.cache
            && c.with(state, name, self.status, self.robot, write)
        {
            return;
        }
        let fields = (self.status, name, self.robot);
        state.in_scope(|| {
            DURATIONS.add(elapsed, fields);
            RESPONSE_STATUS.inc(fields);
            REQUEST_BYTES.add(request, fields);
            RESPONSE_BYTES.add(response, fields);
        });
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        self.record();
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for HttpMetrics<S>
where
    S: Service<Request<CountedBody<ReqBody>>, Response = Response<ResBody>>,
    ReqBody: Body,
    ResBody: Body,
{
    type Response = Response<CountedBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let Some(state) = StateRef::resolve(self.config.state.as_ref()) else {
            // tsmon is off: no clock, no allocation, nothing recorded.
            let (parts, body) = req.into_parts();
            let body = CountedBody::new(body, None);
            return ResponseFuture {
                inner: self.inner.call(Request::from_parts(parts, body)),
                exchange: None,
            };
        };
        let (parts, body) = req.into_parts();
        let name = route_name(&parts, self.config.route.as_ref());
        let has_body = !body.is_end_stream();
        let (exchange, request_bytes) = begin(state, &self.config, &parts.headers, name, has_body);
        let body = CountedBody::new(body, request_bytes.map(Side::Request));
        ResponseFuture {
            inner: self.inner.call(Request::from_parts(parts, body)),
            exchange: Some(exchange),
        }
    }
}

/// The exchange of a request tsmon records into `state`, and the counter of its request body's
/// bytes when it has a body (a request without one, most GETs, needs no counter).
fn begin(
    state: StateRef,
    config: &Config,
    headers: &http::HeaderMap,
    name: Name,
    has_body: bool,
) -> (Exchange, Option<Arc<AtomicU64>>) {
    let cache = config.cache.for_state(state.get(), || ());
    let robot = headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(is_robot);
    let request_bytes = has_body.then(|| Arc::new(AtomicU64::new(0)));
    let exchange = Exchange {
        state,
        cache,
        start: crate::middleware::now(),
        name,
        robot,
        request_bytes: request_bytes.clone(),
        // Until a response starts: the client went away while the handler ran.
        status: 499,
        response_bytes: 0,
        done: false,
    };
    (exchange, request_bytes)
}

/// The exchange once its response has started with `status`.
fn responded(mut exchange: Exchange, status: http::StatusCode) -> Exchange {
    exchange.status = i64::from(status.as_u16());
    exchange
}

/// The handler failed (an error, or a panic inside its poll): a 500.
fn failed(mut exchange: Exchange) {
    exchange.status = 500;
    exchange.record();
}

fn route_name(parts: &http::request::Parts, route: Option<&RouteFn>) -> Name {
    matched_path(&parts.extensions).unwrap_or_else(|| {
        route
            .and_then(|f| f(parts))
            .map_or(Name::Unmatched, Name::Owned)
    })
}

/// The route template axum's router matched, if any.
fn matched_path(_extensions: &http::Extensions) -> Option<Name> {
    #[cfg(feature = "axum")]
    if let Some(m) = _extensions.get::<::axum::extract::MatchedPath>() {
        return Some(Name::Matched(m.clone()));
    }
    None
}

pin_project_lite::pin_project! {
    /// The response future of [`HttpMetrics`].
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        exchange: Option<Exchange>,
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    ResBody: Body,
{
    type Output = Result<Response<CountedBody<ResBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // A handler that panics inside `poll` is recorded as a 500.
        let guard = OnPanic::new(this.exchange, failed);
        let result = std::task::ready!(this.inner.poll(cx));
        let exchange = guard.slot.take();
        Poll::Ready(match result {
            Ok(response) => {
                let (parts, body) = response.into_parts();
                let exchange = exchange.map(|e| responded(e, parts.status));
                let body = CountedBody::new(body, exchange.map(Side::Response));
                Ok(Response::from_parts(parts, body))
            }
            Err(e) => {
                if let Some(ex) = exchange {
                    failed(ex);
                }
                Err(e)
            }
        })
    }
}

/// What a [`CountedBody`] counts for: the request's bytes, or the exchange its response ends.
pub(crate) enum Side {
    Request(Arc<AtomicU64>),
    Response(Exchange),
}

impl Observer for Side {
    fn data(&mut self, _: &[u8], len: usize) {
        match self {
            Side::Request(n) => {
                n.fetch_add(len as u64, Relaxed);
            }
            Side::Response(e) => e.response_bytes += len as u64,
        }
    }

    /// The exchange records when it is dropped, right after this.
    fn end(&mut self, _complete: bool) {}
}

crate::middleware::observed_body!(
    /// A body that counts the bytes that go through it; the response's records the exchange
    /// when it ends or is dropped.
    CountedBody,
    Side
);
