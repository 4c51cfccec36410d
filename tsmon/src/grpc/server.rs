//! The gRPC server layer: grpcmon's server metrics for a tonic server (see [`crate::grpc`]).

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::task::{Context, Poll};

use http::{Request, Response};
use http_body::Body;
use tower_layer::Layer;
use tower_service::Service;

use super::{Framing, Policy, RequestCounts, RequestSide, UNKNOWN_METHOD, code};
use crate::middleware::cache::{Cache, Local};
use crate::middleware::{CacheSlot, HandleSet, OnPanic, StateRef};

// Each static allows `unsafe_code`: linkme enters it in the catalog with a `#[link_section]`
// static, which the lint sees inside this crate (linkme's macro is local here).
crate::metric! {
    /// Calls a gRPC server handled, by method and status code.
    #[allow(unsafe_code)]
    pub static COUNT: Counter(method: String, code: i64, canonical_code: String) = "grpc/server/calls";
    /// Time a gRPC server took on a call, to the end of its response stream.
    #[tsmon(units = seconds, bucketer = geometric_with_scale(1.5848931924611136, 100, 0.001))]
    #[allow(unsafe_code)]
    pub static DURATION: CumulativeDistribution(method: String, code: i64, canonical_code: String) = "grpc/server/duration";
    /// Calls a gRPC server is handling now, by method.
    #[allow(unsafe_code)]
    pub static IN_FLIGHT: IntGauge(method: String) = "grpc/server/in_flight";
    /// Messages a gRPC server received in one call.
    #[tsmon(bucketer = geometric(1.5848931924611136, 100))]
    #[allow(unsafe_code)]
    pub static RECEIVED_MESSAGES: CumulativeDistribution(method: String) = "grpc/server/received_messages";
    /// Messages a gRPC server sent in one call.
    #[tsmon(bucketer = geometric(1.5848931924611136, 100))]
    #[allow(unsafe_code)]
    pub static SENT_MESSAGES: CumulativeDistribution(method: String) = "grpc/server/sent_messages";
    /// Message bytes a gRPC server received in one call (without the framing).
    #[tsmon(units = bytes, bucketer = geometric(1.2483305489016119, 100))]
    #[allow(unsafe_code)]
    pub static RECEIVED_BYTES: CumulativeDistribution(method: String) = "grpc/server/received_bytes";
    /// Message bytes a gRPC server sent in one call (without the framing).
    #[tsmon(units = bytes, bucketer = geometric(1.2483305489016119, 100))]
    #[allow(unsafe_code)]
    pub static SENT_BYTES: CumulativeDistribution(method: String) = "grpc/server/sent_bytes";
}

/// The server layer. Cheap to clone.
#[derive(Clone)]
pub struct GrpcServerMetricsLayer {
    policy: Arc<Policy>,
    state: Option<crate::State>,
    cache: CacheSlot<Handles>,
}

impl Default for GrpcServerMetricsLayer {
    fn default() -> Self {
        GrpcServerMetricsLayer {
            policy: Arc::new(Policy::new(None)),
            state: None,
            cache: CacheSlot::default(),
        }
    }
}

impl fmt::Debug for GrpcServerMetricsLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcServerMetricsLayer")
            .field("declared", &self.policy.declared.as_ref().map(HashSet::len))
            .finish_non_exhaustive()
    }
}

impl GrpcServerMetricsLayer {
    /// Methods named by the paths the server answers (see [`crate::grpc`]).
    ///
    /// ```
    /// let layer = tsmon::grpc::GrpcServerMetricsLayer::new();
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Only these methods (full names, `/pkg.Service/Method`) are recorded by name; calls to
    /// any other path are [`UNKNOWN_METHOD`].
    ///
    /// ```
    /// let layer = tsmon::grpc::GrpcServerMetricsLayer::new()
    ///     .with_methods(["/echo.Echo/Say", "/echo.Echo/Stream"]);
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn with_methods<I, M>(mut self, methods: I) -> Self
    where
        I: IntoIterator<Item = M>,
        M: Into<String>,
    {
        let declared = methods.into_iter().map(|m| m.into().into()).collect();
        self.policy = Arc::new(Policy::new(Some(declared)));
        self.cache = CacheSlot::default();
        self
    }

    /// Records into `state` instead of the State current where each call is handled.
    ///
    /// ```
    /// let state = tsmon::State::builder().build()?;
    /// let layer = tsmon::grpc::GrpcServerMetricsLayer::new().with_state(state);
    /// # let _ = layer;
    /// # Ok::<(), tsmon::Error>(())
    /// ```
    #[must_use]
    pub fn with_state(mut self, state: crate::State) -> Self {
        self.state = Some(state);
        self
    }
}

impl<S> Layer<S> for GrpcServerMetricsLayer {
    type Service = GrpcServerMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcServerMetrics {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service the server layer wraps around a tonic server's routes.
#[derive(Clone)]
pub struct GrpcServerMetrics<S> {
    inner: S,
    layer: GrpcServerMetricsLayer,
}

impl<S> fmt::Debug for GrpcServerMetrics<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcServerMetrics").finish_non_exhaustive()
    }
}

/// The series of one (method, code).
pub(crate) struct Handles {
    count: crate::metric::Handle<crate::metric::kind::Counter>,
    duration: crate::metric::Handle<crate::metric::kind::CumulativeDistribution>,
    in_flight: crate::metric::Handle<crate::metric::kind::IntGauge>,
    received_messages: crate::metric::Handle<crate::metric::kind::CumulativeDistribution>,
    sent_messages: crate::metric::Handle<crate::metric::kind::CumulativeDistribution>,
    received_bytes: crate::metric::Handle<crate::metric::kind::CumulativeDistribution>,
    sent_bytes: crate::metric::Handle<crate::metric::kind::CumulativeDistribution>,
}

impl HandleSet for Handles {
    type Ctx = ();

    fn build(_: &(), method: &str, code: i64, _: bool) -> Self {
        let canonical = super::canonical_code(code);
        let fields = (method, code, &*canonical);
        Handles {
            count: COUNT.handle(fields),
            duration: DURATION.handle(fields),
            in_flight: IN_FLIGHT.handle(method),
            received_messages: RECEIVED_MESSAGES.handle(method),
            sent_messages: SENT_MESSAGES.handle(method),
            received_bytes: RECEIVED_BYTES.handle(method),
            sent_bytes: SENT_BYTES.handle(method),
        }
    }

    fn local() -> &'static std::thread::LocalKey<std::cell::RefCell<Local<Self>>> {
        thread_local! {
            static LOCAL: std::cell::RefCell<Local<Handles>> = std::cell::RefCell::default();
        }
        &LOCAL
    }
}

/// One call; recorded once, when its response stream ends or is dropped.
pub(crate) struct Call {
    state: StateRef,
    cache: Option<Arc<Cache<Handles>>>,
    policy: Arc<Policy>,
    start: u64,
    path: http::uri::PathAndQuery,
    /// The method's name was settled at the start (declared, or admitted before).
    named: bool,
    /// The series of (the name at the start, OK), whose in-flight gauge this call holds; none
    /// for the first call of a method not known yet (which is not in the gauge).
    held: Option<Arc<Handles>>,
    code: Option<i64>,
    received: Arc<RequestCounts>,
    sent: Framing,
    done: bool,
}

fn handles(
    state: &crate::State,
    cache: Option<&Cache<Handles>>,
    method: &str,
    code: i64,
) -> Arc<Handles> {
    cache
        .and_then(|c| c.get(state, method, code, false))
        .unwrap_or_else(|| state.in_scope(|| Arc::new(Handles::build(&(), method, code, false))))
}

impl Call {
    fn record(&mut self) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let elapsed = crate::middleware::seconds_since(self.start);
        let code = self.code.unwrap_or(code::CANCELLED);
        let path = self.path.path();
        let named = self.named
            || (self.policy.declared.is_none()
                && code != code::UNIMPLEMENTED
                && super::well_formed(path)
                && self.policy.admit(path));
        let name = if named { path } else { UNKNOWN_METHOD };
        let state = self.state.get();
        let received = (
            self.received.messages.load(Relaxed) as f64,
            self.received.bytes.load(Relaxed) as f64,
        );
        let sent = (self.sent.messages as f64, self.sent.bytes as f64);
        let write = |h: &Handles| {
            h.count.inc();
            h.duration.add(elapsed);
            h.received_messages.add(received.0);
            h.received_bytes.add(received.1);
            h.sent_messages.add(sent.0);
            h.sent_bytes.add(sent.1);
        };
        if let Some(held) = &self.held {
            held.in_flight.add(-1);
            if code == code::OK && named == self.named {
                write(held);
                return;
            }
        }
        write(&handles(state, self.cache.as_deref(), name, code));
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        self.record();
    }
}

impl super::Call for Call {
    fn code(&mut self) -> &mut Option<i64> {
        &mut self.code
    }

    fn response(&mut self) -> &mut Framing {
        &mut self.sent
    }
}

impl<S, ResBody> Service<Request<tonic::body::Body>> for GrpcServerMetrics<S>
where
    S: Service<Request<tonic::body::Body>, Response = Response<ResBody>>,
    ResBody: Body,
{
    type Response = Response<GrpcServerBody<ResBody>>;
    type Error = S::Error;
    type Future = GrpcServerFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<tonic::body::Body>) -> Self::Future {
        let Some(state) = StateRef::resolve(self.layer.state.as_ref()) else {
            return GrpcServerFuture {
                inner: self.inner.call(req),
                call: None,
            };
        };
        let cache = self.layer.cache.for_state(state.get(), || ());
        let (parts, body) = req.into_parts();
        let path = parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/"));
        let policy = &self.layer.policy;
        // A method seen before is in this thread's table already: no lock.
        let (named, held) = match cache
            .as_deref()
            .filter(|_| policy.declared.is_none())
            .and_then(|c| c.peek(state.get(), path.path(), code::OK, false))
        {
            Some(h) => (true, Some(h)),
            None => match policy.known(path.path()) {
                Some(named) => {
                    let name = if named { path.path() } else { UNKNOWN_METHOD };
                    (
                        named,
                        Some(handles(state.get(), cache.as_deref(), name, code::OK)),
                    )
                }
                // Not known yet: named when answered, and not in the in-flight gauge
                // meanwhile (which would make an `(unknown)` series of a real method).
                None => (false, None),
            },
        };
        if let Some(h) = &held {
            h.in_flight.add(1);
        }
        let received = Arc::new(RequestCounts::default());
        let body = tonic::body::Body::new(GrpcServerBody::new(
            body,
            Some(super::Side::Request(RequestSide::new(received.clone()))),
        ));
        let call = Call {
            state,
            cache,
            policy: policy.clone(),
            start: crate::middleware::now(),
            path,
            named,
            held,
            code: None,
            received,
            sent: Framing::default(),
            done: false,
        };
        GrpcServerFuture {
            inner: self.inner.call(Request::from_parts(parts, body)),
            call: Some(call),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`GrpcServerMetrics`].
    pub struct GrpcServerFuture<F> {
        #[pin]
        inner: F,
        call: Option<Call>,
    }
}

impl<F> fmt::Debug for GrpcServerFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcServerFuture").finish_non_exhaustive()
    }
}

impl<F, ResBody, E> Future for GrpcServerFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    ResBody: Body,
{
    type Output = Result<Response<GrpcServerBody<ResBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let guard = OnPanic::new(this.call, |mut c: Call| {
            c.code = Some(code::INTERNAL);
        });
        let result = std::task::ready!(this.inner.poll(cx));
        let call = guard.slot.take();
        Poll::Ready(match result {
            Ok(response) => {
                let (parts, body) = response.into_parts();
                let call = call.map(|mut c| {
                    // A trailers-only response carries its status in the headers.
                    c.code = super::status_of_head(&parts);
                    c
                });
                let body = GrpcServerBody::new(body, call.map(super::Side::Response));
                Ok(Response::from_parts(parts, body))
            }
            Err(e) => {
                if let Some(mut c) = call {
                    c.code = Some(code::INTERNAL);
                }
                Err(e)
            }
        })
    }
}

crate::middleware::observed_body!(
    /// A gRPC body that counts its messages; the response's records the call when it ends or
    /// is dropped.
    GrpcServerBody,
    super::Side<Call>
);
