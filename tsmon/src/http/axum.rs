//! [`AxumMetricsLayer`]: the HTTP server layer for an axum `Router`, whose bodies stay axum's
//! own [`Body`].
//!
//! [`HttpMetricsLayer`] takes any body and hands on a [`CountedBody`] around it. axum's
//! `Body::new` keeps a body that is already its `Body` and boxes any other, so through
//! `Router::layer` both bodies of every request are boxed once more, tsmon on or off (about
//! 140 ns a request on the bench machine: `benches/benches/http.rs`). This layer takes and
//! returns axum's `Body`: with tsmon off, and for a request without a body, the body goes
//! through untouched; a response tsmon counts is boxed once, around its counter.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use ::axum::body::Body;
use http::{Request, Response};
use http_body::Body as _;
use tower_layer::Layer;
use tower_service::Service;

use super::{
    Config, CountedBody, Exchange, HttpMetricsLayer, Name, Side, begin, failed, matched_path,
    responded, route_name,
};
use crate::middleware::{OnPanic, StateRef};

/// [`HttpMetricsLayer`] for an axum `Router`: the same four metrics, with the same route
/// names, statuses, bytes and robots, for less. axum's `Body::new` keeps a body that is
/// already its `Body` and boxes any other, so through `Router::layer` the generic layer's
/// [`CountedBody`] is boxed once more both ways, tsmon on or off. This layer takes and returns
/// axum's `Body`: with tsmon off, and for a request without a body, the body goes through
/// untouched; a response tsmon counts is boxed once, around its counter (`BENCHMARKS.md`:
/// with tsmon off it costs what an identity layer costs). Prefer it with axum; cheap to clone.
///
/// ```
/// use axum::{Router, routing::get};
/// let app: Router = Router::new()
///     .route("/items/{id}", get(|| async { "item" }))
///     .layer(tsmon::http::AxumMetricsLayer::new());
/// // then `axum::serve(listener, app)` as usual.
/// # let _ = app;
/// ```
#[derive(Clone, Default)]
pub struct AxumMetricsLayer(HttpMetricsLayer);

impl fmt::Debug for AxumMetricsLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AxumMetricsLayer").finish_non_exhaustive()
    }
}

impl AxumMetricsLayer {
    /// Route names from axum's `MatchedPath`, else [`UNMATCHED`](super::UNMATCHED).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Records into `state`: see [`HttpMetricsLayer::with_state`].
    ///
    /// ```
    /// let state = tsmon::State::builder().build().unwrap();
    /// let layer = tsmon::http::AxumMetricsLayer::new().with_state(state);
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn with_state(self, state: crate::State) -> Self {
        AxumMetricsLayer(self.0.with_state(state))
    }

    /// Route names from `f` when axum has none: see [`HttpMetricsLayer::with_route`].
    ///
    /// ```
    /// let layer = tsmon::http::AxumMetricsLayer::new()
    ///     .with_route(|parts| (parts.uri.path() == "/").then(|| "/".to_owned()));
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn with_route(
        self,
        f: impl Fn(&http::request::Parts) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        AxumMetricsLayer(self.0.with_route(f))
    }
}

/// An [`HttpMetricsLayer`] already configured, for axum.
///
/// ```
/// let layer: tsmon::http::AxumMetricsLayer = tsmon::http::HttpMetricsLayer::new().into();
/// # let _ = layer;
/// ```
impl From<HttpMetricsLayer> for AxumMetricsLayer {
    fn from(layer: HttpMetricsLayer) -> Self {
        AxumMetricsLayer(layer)
    }
}

impl<S> Layer<S> for AxumMetricsLayer {
    type Service = AxumMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AxumMetrics {
            inner,
            config: self.0.config.clone(),
        }
    }
}

/// The service [`AxumMetricsLayer`] wraps around yours.
#[derive(Clone)]
pub struct AxumMetrics<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> fmt::Debug for AxumMetrics<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AxumMetrics").finish_non_exhaustive()
    }
}

impl<S> Service<Request<Body>> for AxumMetrics<S>
where
    S: Service<Request<Body>, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = AxumResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let Some(state) = StateRef::resolve(self.config.state.as_ref()) else {
            // tsmon is off: the request goes through as it came.
            return AxumResponseFuture {
                inner: self.inner.call(req),
                exchange: None,
            };
        };
        // The request is taken apart (a move of its parts, twice) only for a route function.
        let (name, req) = match matched_path(req.extensions()) {
            Some(name) => (name, req),
            None if self.config.route.is_none() => (Name::Unmatched, req),
            None => {
                let (parts, body) = req.into_parts();
                let name = route_name(&parts, self.config.route.as_ref());
                (name, Request::from_parts(parts, body))
            }
        };
        let has_body = !req.body().is_end_stream();
        let (exchange, request_bytes) = begin(state, &self.config, req.headers(), name, has_body);
        let req = match request_bytes {
            Some(n) => req.map(|b| Body::new(CountedBody::new(b, Some(Side::Request(n))))),
            None => req,
        };
        AxumResponseFuture {
            inner: self.inner.call(req),
            exchange: Some(exchange),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`AxumMetrics`].
    pub struct AxumResponseFuture<F> {
        #[pin]
        inner: F,
        exchange: Option<Exchange>,
    }
}

impl<F> fmt::Debug for AxumResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AxumResponseFuture").finish_non_exhaustive()
    }
}

impl<F, E> Future for AxumResponseFuture<F>
where
    F: Future<Output = Result<Response<Body>, E>>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if this.exchange.is_none() {
            return this.inner.poll(cx);
        }
        // A handler that panics inside `poll` is recorded as a 500.
        let guard = OnPanic::new(this.exchange, failed);
        let result = std::task::ready!(this.inner.poll(cx));
        let exchange = guard.slot.take();
        Poll::Ready(match (result, exchange) {
            (Ok(response), Some(e)) => {
                let e = responded(e, response.status());
                Ok(response.map(|b| Body::new(CountedBody::new(b, Some(Side::Response(e))))))
            }
            (Ok(response), None) => Ok(response),
            (Err(err), exchange) => {
                if let Some(e) = exchange {
                    failed(e);
                }
                Err(err)
            }
        })
    }
}
