//! The gRPC client layer: grpcmon's client metrics around a tonic channel (see
//! [`crate::grpc`]).

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
    /// Calls a gRPC client made, by method and status.
    #[allow(unsafe_code)]
    pub static COUNT: Counter(method: String, canonical_code: String) = "grpc/client/calls";
    /// Time from a gRPC client's call to the end of its response stream.
    #[tsmon(units = seconds, bucketer = geometric_with_scale(1.5848931924611136, 100, 0.001))]
    #[allow(unsafe_code)]
    pub static DURATION: CumulativeDistribution(method: String, canonical_code: String) = "grpc/client/duration";
    /// Messages a gRPC client sent in one call.
    #[tsmon(bucketer = geometric(1.5848931924611136, 100))]
    #[allow(unsafe_code)]
    pub static SENT_MESSAGES: CumulativeDistribution(method: String) = "grpc/client/sent_messages";
    /// Messages a gRPC client received in one call.
    #[tsmon(bucketer = geometric(1.5848931924611136, 100))]
    #[allow(unsafe_code)]
    pub static RECEIVED_MESSAGES: CumulativeDistribution(method: String) = "grpc/client/received_messages";
    /// Message bytes a gRPC client sent in one call (without the framing).
    #[tsmon(units = bytes, bucketer = geometric(1.2483305489016119, 100))]
    #[allow(unsafe_code)]
    pub static SENT_BYTES: CumulativeDistribution(method: String) = "grpc/client/sent_bytes";
    /// Message bytes a gRPC client received in one call (without the framing).
    #[tsmon(units = bytes, bucketer = geometric(1.2483305489016119, 100))]
    #[allow(unsafe_code)]
    pub static RECEIVED_BYTES: CumulativeDistribution(method: String) = "grpc/client/received_bytes";
}

/// The client layer. Cheap to clone.
#[derive(Clone)]
pub struct GrpcClientMetricsLayer {
    policy: Arc<Policy>,
    state: Option<crate::State>,
    cache: CacheSlot<Handles>,
}

impl Default for GrpcClientMetricsLayer {
    fn default() -> Self {
        GrpcClientMetricsLayer {
            policy: Arc::new(Policy::new(None)),
            state: None,
            cache: CacheSlot::default(),
        }
    }
}

impl fmt::Debug for GrpcClientMetricsLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcClientMetricsLayer")
            .finish_non_exhaustive()
    }
}

impl GrpcClientMetricsLayer {
    /// Methods named by the paths called (well-formed ones, at most
    /// [`MAX_METHODS`](super::MAX_METHODS)).
    ///
    /// ```
    /// let layer = tsmon::grpc::GrpcClientMetricsLayer::new();
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Records into `state` instead of the State current where each call is made.
    ///
    /// ```
    /// let state = tsmon::State::builder().build()?;
    /// let layer = tsmon::grpc::GrpcClientMetricsLayer::new().with_state(state);
    /// # let _ = layer;
    /// # Ok::<(), tsmon::Error>(())
    /// ```
    #[must_use]
    pub fn with_state(mut self, state: crate::State) -> Self {
        self.state = Some(state);
        self
    }
}

impl<S> Layer<S> for GrpcClientMetricsLayer {
    type Service = GrpcClientMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcClientMetrics {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service the client layer wraps around a channel.
#[derive(Clone)]
pub struct GrpcClientMetrics<S> {
    inner: S,
    layer: GrpcClientMetricsLayer,
}

impl<S> fmt::Debug for GrpcClientMetrics<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcClientMetrics").finish_non_exhaustive()
    }
}

/// The series of one (method, code).
pub(crate) struct Handles {
    count: crate::metric::Handle<crate::metric::kind::Counter>,
    duration: crate::metric::Handle<crate::metric::kind::CumulativeDistribution>,
    sent_messages: crate::metric::Handle<crate::metric::kind::CumulativeDistribution>,
    received_messages: crate::metric::Handle<crate::metric::kind::CumulativeDistribution>,
    sent_bytes: crate::metric::Handle<crate::metric::kind::CumulativeDistribution>,
    received_bytes: crate::metric::Handle<crate::metric::kind::CumulativeDistribution>,
}

impl HandleSet for Handles {
    type Ctx = ();

    fn build(_: &(), method: &str, code: i64, _: bool) -> Self {
        let canonical = super::canonical_code(code);
        let fields = (method, &*canonical);
        Handles {
            count: COUNT.handle(fields),
            duration: DURATION.handle(fields),
            sent_messages: SENT_MESSAGES.handle(method),
            received_messages: RECEIVED_MESSAGES.handle(method),
            sent_bytes: SENT_BYTES.handle(method),
            received_bytes: RECEIVED_BYTES.handle(method),
        }
    }

    fn local() -> &'static std::thread::LocalKey<std::cell::RefCell<Local<Self>>> {
        thread_local! {
            static LOCAL: std::cell::RefCell<Local<Handles>> = std::cell::RefCell::default();
        }
        &LOCAL
    }
}

/// One call; recorded once, when its response stream ends or is dropped, or the call fails.
pub(crate) struct Call {
    state: StateRef,
    cache: Option<Arc<Cache<Handles>>>,
    start: u64,
    method: MethodName,
    code: Option<i64>,
    sent: Arc<RequestCounts>,
    received: Framing,
    done: bool,
}

/// A call's `method`, without a copy of the path where it is one.
enum MethodName {
    Path(http::uri::PathAndQuery),
    Unknown,
}

impl MethodName {
    fn as_str(&self) -> &str {
        match self {
            MethodName::Path(p) => p.path(),
            MethodName::Unknown => UNKNOWN_METHOD,
        }
    }
}

impl Call {
    fn record(&mut self) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let elapsed = crate::middleware::seconds_since(self.start);
        let code = self.code.unwrap_or(code::CANCELLED);
        let sent = (
            self.sent.messages.load(Relaxed) as f64,
            self.sent.bytes.load(Relaxed) as f64,
        );
        let received = (self.received.messages as f64, self.received.bytes as f64);
        let write = |h: &Handles| {
            h.count.inc();
            h.duration.add(elapsed);
            h.sent_messages.add(sent.0);
            h.sent_bytes.add(sent.1);
            h.received_messages.add(received.0);
            h.received_bytes.add(received.1);
        };
        let state = self.state.get();
        let method = self.method.as_str();
        if let Some(c) = &self.cache
            && c.with(state, method, code, false, write)
        {
            return;
        }
        write(&state.in_scope(|| Handles::build(&(), method, code, false)));
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
        &mut self.received
    }
}

/// The error of a wrapped channel: the channel's own, boxed (as tonic's client boxes it
/// anyway), so its code can be read off it as tonic reads it.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<S, ResBody> Service<Request<tonic::body::Body>> for GrpcClientMetrics<S>
where
    S: Service<Request<tonic::body::Body>, Response = Response<ResBody>>,
    S::Error: Into<BoxError>,
    ResBody: Body,
{
    type Response = Response<GrpcClientBody<ResBody>>;
    type Error = BoxError;
    type Future = GrpcClientFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request<tonic::body::Body>) -> Self::Future {
        let Some(state) = StateRef::resolve(self.layer.state.as_ref()) else {
            return GrpcClientFuture {
                inner: self.inner.call(req),
                call: None,
            };
        };
        let cache = self.layer.cache.for_state(state.get(), || ());
        let (parts, body) = req.into_parts();
        let path = parts.uri.path_and_query().cloned();
        let method = match path {
            Some(p)
                if cache
                    .as_deref()
                    .and_then(|c| c.peek(state.get(), p.path(), code::OK, false))
                    .is_some()
                    || (super::well_formed(p.path()) && self.layer.policy.admit(p.path())) =>
            {
                MethodName::Path(p)
            }
            _ => MethodName::Unknown,
        };
        let sent = Arc::new(RequestCounts::default());
        let body = tonic::body::Body::new(GrpcClientBody::new(
            body,
            Some(super::Side::Request(RequestSide::new(sent.clone()))),
        ));
        let call = Call {
            state,
            cache,
            start: crate::middleware::now(),
            method,
            code: None,
            sent,
            received: Framing::default(),
            done: false,
        };
        GrpcClientFuture {
            inner: self.inner.call(Request::from_parts(parts, body)),
            call: Some(call),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`GrpcClientMetrics`].
    pub struct GrpcClientFuture<F> {
        #[pin]
        inner: F,
        call: Option<Call>,
    }
}

impl<F> fmt::Debug for GrpcClientFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcClientFuture").finish_non_exhaustive()
    }
}

impl<F, ResBody, E> Future for GrpcClientFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    E: Into<BoxError>,
    ResBody: Body,
{
    type Output = Result<Response<GrpcClientBody<ResBody>>, BoxError>;

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
                    c.code = super::status_of_head(&parts);
                    c
                });
                let body = GrpcClientBody::new(body, call.map(super::Side::Response));
                Ok(Response::from_parts(parts, body))
            }
            Err(e) => {
                let e: BoxError = e.into();
                if let Some(mut c) = call {
                    c.code = Some(super::code_of_error(&*e));
                }
                Err(e)
            }
        })
    }
}

crate::middleware::observed_body!(
    /// A gRPC body that counts its messages; the response's records the call when it ends or
    /// is dropped.
    GrpcClientBody,
    super::Side<Call>
);
