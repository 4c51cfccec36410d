//! gRPC server and client metrics (LUCI's `grpc/grpcmon`) for tonic: tower layers that read
//! each call's status where gRPC puts it.
//!
//! Server side ([`GrpcServerMetricsLayer`], for `tonic::transport::Server::layer`):
//!
//! | metric (grpcmon's name) | Prometheus name | kind | fields |
//! |---|---|---|---|
//! | `grpc/server/calls` (`grpc/server/count`) | `grpc_server_calls_total` | counter | `method`, `code`, `canonical_code` |
//! | `grpc/server/duration` | `grpc_server_duration_seconds` | distribution, seconds | `method`, `code`, `canonical_code` |
//! | `grpc/server/in_flight` (tsmon's) | `grpc_server_in_flight` | gauge | `method` |
//! | `grpc/server/received_messages` (tsmon's) | `grpc_server_received_messages` | distribution, messages per call | `method` |
//! | `grpc/server/sent_messages` (tsmon's) | `grpc_server_sent_messages` | distribution, messages per call | `method` |
//! | `grpc/server/received_bytes` (tsmon's) | `grpc_server_received_bytes` | distribution, bytes per call | `method` |
//! | `grpc/server/sent_bytes` (tsmon's) | `grpc_server_sent_bytes` | distribution, bytes per call | `method` |
//!
//! Client side ([`GrpcClientMetricsLayer`], around a `tonic::transport::Channel`), as grpcmon
//! names them:
//!
//! | metric (grpcmon's name) | Prometheus name | kind | fields |
//! |---|---|---|---|
//! | `grpc/client/calls` (`grpc/client/count`) | `grpc_client_calls_total` | counter | `method`, `canonical_code` |
//! | `grpc/client/duration` | `grpc_client_duration_seconds` | distribution, seconds | `method`, `canonical_code` |
//! | `grpc/client/sent_messages` | `grpc_client_sent_messages` | distribution, messages per call | `method` |
//! | `grpc/client/received_messages` | `grpc_client_received_messages` | distribution, messages per call | `method` |
//! | `grpc/client/sent_bytes` | `grpc_client_sent_bytes` | distribution, bytes per call | `method` |
//! | `grpc/client/received_bytes` | `grpc_client_received_bytes` | distribution, bytes per call | `method` |
//!
//! grpcmon's `…/count` is `…/calls` here: a name ending in `count` would clash with the
//! `_count` series Prometheus derives from a histogram's name, so tsmon refuses it. The
//! server's in-flight gauge and message figures are tsmon's own (grpcmon has them on the
//! client only).
//!
//! - **`method`** is the full name, `/pkg.Service/Method`. On the server it takes only the
//!   methods declared with [`GrpcServerMetricsLayer::with_methods`], or, without that list,
//!   the methods the server answers with anything but `UNIMPLEMENTED` (the routes tonic
//!   serves), at most [`MAX_METHODS`] of them; any other path is [`UNKNOWN_METHOD`], so a
//!   client cannot grow the series by calling made-up paths. (Without a list, the first call
//!   of a method is not in the in-flight gauge: its name is not known until it is answered.)
//!   The client takes the paths it calls, well-formed ones only, at most [`MAX_METHODS`].
//! - **The status** is read where gRPC puts it: the `grpc-status` trailer at the end of the
//!   response stream, or the response headers for a trailers-only response (layers that read
//!   only the headers record `OK` for a failed unary call). A response without a gRPC status
//!   maps its HTTP status as the gRPC spec says (`404` is `UNIMPLEMENTED`, `503` is
//!   `UNAVAILABLE`, …); a stream that ends without one is `UNKNOWN`.
//! - **`code`** is the numeric code and **`canonical_code`** its `google.rpc.Code` name
//!   (`OK`, `INVALID_ARGUMENT`, …; `Code(17)` for a code past the list): see
//!   [`canonical_code`].
//! - **The duration** runs from the call to the end of the response stream (or the moment it
//!   is dropped).
//! - **A handler that panics** (inside its future or its response stream) counts as
//!   `INTERNAL`; **a client that goes away** (the call or its response stream dropped before
//!   the status) as `CANCELLED`. The in-flight count is released in every case.
//! - **On the client**, an error from the channel counts under the code tonic's client
//!   reports for it: a failed connection as `UNAVAILABLE`, tonic's timeout as `CANCELLED`,
//!   an HTTP/2 reset by its reason (a server whose handler panicked resets with `CANCEL`);
//!   an error in the response stream as `INTERNAL`; dropping the call or its stream before
//!   the status as `CANCELLED`. The wrapped channel's error type is [`client::BoxError`]
//!   (tonic's client boxes errors anyway).
//! - **Messages and bytes** are read off the wire's framing: each message's length prefix,
//!   so bytes are the messages' encoded sizes without the five-byte prefix (compressed sizes
//!   when a message is compressed).
//! - **Buckets** are grpcmon's: Go's `DefaultBucketer` (factor 10^0.2, 100 buckets) for
//!   durations (from 1 ms, so in seconds from 0.001) and message counts, and factor
//!   32^0.064 with 100 buckets for bytes. Units are seconds where Go has milliseconds.
//!
//! ```
//! use tsmon::grpc::{GrpcClientMetricsLayer, GrpcServerMetricsLayer};
//! // Server: tonic::transport::Server::builder().layer(GrpcServerMetricsLayer::new())
//! //             .add_service(MyServer::new(service)).serve(addr).await?;
//! let server_layer = GrpcServerMetricsLayer::new().with_methods(["/echo.Echo/Say"]);
//! // Client: let channel = tower::ServiceBuilder::new()
//! //             .layer(GrpcClientMetricsLayer::new()).service(channel);
//! //         let mut client = MyClient::new(channel);
//! let client_layer = GrpcClientMetricsLayer::new();
//! # let _ = (server_layer, client_layer);
//! ```
//!
//! `examples/grpc.rs` runs both on loopback and prints what they recorded.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

use crate::middleware::Observer;

pub mod client;
pub mod server;

pub use client::{GrpcClientMetrics, GrpcClientMetricsLayer};
pub use server::{GrpcServerMetrics, GrpcServerMetricsLayer};

/// The `method` of calls to paths that are not a declared (or served) method.
pub const UNKNOWN_METHOD: &str = "(unknown)";

/// The most distinct methods one layer records by name; the rest are [`UNKNOWN_METHOD`].
pub const MAX_METHODS: usize = 1024;

/// gRPC's status codes, as numbers.
pub mod code {
    /// Not an error.
    pub const OK: i64 = 0;
    /// The call was cancelled, typically by the caller.
    pub const CANCELLED: i64 = 1;
    /// An unknown error.
    pub const UNKNOWN: i64 = 2;
    /// The method is not implemented or not supported.
    pub const UNIMPLEMENTED: i64 = 12;
    /// An internal error (and a panicking handler).
    pub const INTERNAL: i64 = 13;
    /// The service is unavailable (and a channel with no connection).
    pub const UNAVAILABLE: i64 = 14;
}

const NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// The `google.rpc.Code` name of a code, or `Code(n)` past the list (as grpcmon writes it).
///
/// ```
/// use tsmon::grpc::canonical_code;
/// assert_eq!(canonical_code(0), "OK");
/// assert_eq!(canonical_code(3), "INVALID_ARGUMENT");
/// assert_eq!(canonical_code(16), "UNAUTHENTICATED");
/// assert_eq!(canonical_code(42), "Code(42)");
/// ```
#[must_use]
pub fn canonical_code(code: i64) -> std::borrow::Cow<'static, str> {
    match usize::try_from(code).ok().and_then(|i| NAMES.get(i)) {
        Some(name) => std::borrow::Cow::Borrowed(name),
        None => std::borrow::Cow::Owned(format!("Code({code})")),
    }
}

/// The code in a `grpc-status` header or trailer, if there is one.
pub(crate) fn status_in(headers: &http::HeaderMap) -> Option<i64> {
    let v = headers.get("grpc-status")?;
    let s = v.to_str().ok()?;
    // A status that is not a number is itself an error the receiver cannot read.
    Some(s.trim().parse::<u32>().map_or(code::UNKNOWN, i64::from))
}

/// The gRPC code of a response without a gRPC status (the spec's HTTP-to-gRPC mapping).
pub(crate) fn from_http_status(status: http::StatusCode) -> i64 {
    match status.as_u16() {
        400 => code::INTERNAL,
        401 => 16,
        403 => 7,
        404 => code::UNIMPLEMENTED,
        429 | 502 | 503 | 504 => code::UNAVAILABLE,
        _ => code::UNKNOWN,
    }
}

/// The code tonic's client reports for a channel's error: a `Status` in its source chain, its
/// timeout as `CANCELLED`, a failed connection as `UNAVAILABLE`, an HTTP/2 reset by its reason
/// (`CANCEL` is `CANCELLED`, `REFUSED_STREAM` is `UNAVAILABLE`, protocol errors `INTERNAL`);
/// anything else (the connection lost) as `UNAVAILABLE`.
pub(crate) fn code_of_error(err: &(dyn std::error::Error + 'static)) -> i64 {
    let mut source = Some(err);
    while let Some(e) = source {
        if let Some(s) = e.downcast_ref::<tonic::Status>() {
            return s.code() as i64;
        }
        if e.is::<tonic::TimeoutExpired>() {
            return code::CANCELLED;
        }
        if e.is::<tonic::ConnectError>() {
            return code::UNAVAILABLE;
        }
        if let Some(h2) = e.downcast_ref::<h2::Error>() {
            return match h2.reason() {
                Some(h2::Reason::REFUSED_STREAM) => code::UNAVAILABLE,
                Some(h2::Reason::CANCEL) => code::CANCELLED,
                Some(h2::Reason::ENHANCE_YOUR_CALM) => 8,
                Some(h2::Reason::INADEQUATE_SECURITY) => 7,
                Some(_) => code::INTERNAL,
                None => code::UNAVAILABLE,
            };
        }
        source = e.source();
    }
    code::UNAVAILABLE
}

/// Whether a path looks like a gRPC method (`/pkg.Service/Method`, no more than 256 bytes of
/// letters, digits, `_`, `.` and `-`), and so may become a `method` value.
pub(crate) fn well_formed(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    let Some((service, method)) = rest.split_once('/') else {
        return false;
    };
    let ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    };
    path.len() <= 256 && ok(service) && ok(method)
}

/// Which paths become a `method` value.
pub(crate) struct Policy {
    pub(crate) declared: Option<HashSet<Box<str>>>,
    /// Without a declared list: the methods answered with something else than UNIMPLEMENTED.
    admitted: parking_lot::RwLock<HashSet<Box<str>>>,
    count: AtomicUsize,
}

impl Policy {
    pub(crate) fn new(declared: Option<HashSet<Box<str>>>) -> Self {
        Policy {
            declared,
            admitted: parking_lot::RwLock::default(),
            count: AtomicUsize::new(0),
        }
    }

    /// The name of a call to `path` as it starts, if it is known already.
    pub(crate) fn known(&self, path: &str) -> Option<bool> {
        match &self.declared {
            Some(d) => Some(d.contains(path)),
            None => self.admitted.read().contains(path).then_some(true),
        }
    }

    /// Admits `path` (a call to it was answered): `false` once [`MAX_METHODS`] are in.
    pub(crate) fn admit(&self, path: &str) -> bool {
        if self.admitted.read().contains(path) {
            return true;
        }
        if self.count.load(Relaxed) >= MAX_METHODS {
            return false;
        }
        let mut set = self.admitted.write();
        if set.contains(path) {
            return true;
        }
        if set.len() >= MAX_METHODS {
            return false;
        }
        set.insert(path.into());
        self.count.store(set.len(), Relaxed);
        true
    }
}

/// What a request body has carried so far (received by a server, sent by a client).
#[derive(Default)]
pub(crate) struct RequestCounts {
    pub(crate) messages: AtomicU64,
    pub(crate) bytes: AtomicU64,
}

/// Counts the request's messages as the handler reads them.
pub(crate) struct RequestSide {
    framing: Framing,
    counts: Arc<RequestCounts>,
}

impl RequestSide {
    pub(crate) fn new(counts: Arc<RequestCounts>) -> Self {
        RequestSide {
            framing: Framing::default(),
            counts,
        }
    }
}

impl Observer for RequestSide {
    fn data(&mut self, chunk: &[u8], len: usize) {
        self.framing.feed(chunk, len);
        self.counts.messages.store(self.framing.messages, Relaxed);
        self.counts.bytes.store(self.framing.bytes, Relaxed);
    }

    fn end(&mut self, _complete: bool) {}
}

/// A call of either layer, as its response body shows it: the status, once known, and the
/// response's messages.
pub(crate) trait Call {
    fn code(&mut self) -> &mut Option<i64>;
    fn response(&mut self) -> &mut Framing;
}

impl<C: Call> Observer for C {
    fn data(&mut self, chunk: &[u8], len: usize) {
        self.response().feed(chunk, len);
    }

    fn trailers(&mut self, trailers: &http::HeaderMap) {
        self.code()
            .get_or_insert(status_in(trailers).unwrap_or(code::UNKNOWN));
    }

    fn end(&mut self, complete: bool) {
        self.code().get_or_insert(if complete {
            code::UNKNOWN
        } else {
            code::INTERNAL
        });
    }

    fn panicked(&mut self) {
        self.code().get_or_insert(code::INTERNAL);
    }
}

/// The status a response's head carries: a trailers-only response's `grpc-status`, else the
/// HTTP status mapped when it is not 200; `None` while the trailers are still to come.
pub(crate) fn status_of_head(parts: &http::response::Parts) -> Option<i64> {
    status_in(&parts.headers)
        .or_else(|| (parts.status != http::StatusCode::OK).then(|| from_http_status(parts.status)))
}

/// What a gRPC layer's body counts for: the request's messages, or the call its response
/// ends.
pub(crate) enum Side<C> {
    Request(RequestSide),
    Response(C),
}

impl<C: Observer> Observer for Side<C> {
    fn data(&mut self, chunk: &[u8], len: usize) {
        match self {
            Side::Request(r) => r.data(chunk, len),
            Side::Response(c) => c.data(chunk, len),
        }
    }

    fn trailers(&mut self, trailers: &http::HeaderMap) {
        if let Side::Response(c) = self {
            c.trailers(trailers);
        }
    }

    fn end(&mut self, complete: bool) {
        if let Side::Response(c) = self {
            c.end(complete);
        }
    }

    fn panicked(&mut self) {
        if let Side::Response(c) = self {
            c.panicked();
        }
    }
}

/// Counts the messages of a gRPC stream from its length-prefixed framing (a flag byte and a
/// four-byte big-endian length before each message), across data frames split anywhere.
#[derive(Default)]
pub(crate) struct Framing {
    /// Bytes of the current prefix seen so far (0 to 4), while `left` is 0.
    header_len: u8,
    header: [u8; 5],
    /// Bytes of the current message still to come.
    left: u64,
    pub(crate) messages: u64,
    pub(crate) bytes: u64,
    /// A frame whose buffer was not contiguous: from there on, bytes are counted whole.
    lost: bool,
}

impl Framing {
    /// Counts one data frame: `chunk` is its first contiguous part, `len` its whole length.
    pub(crate) fn feed(&mut self, chunk: &[u8], len: usize) {
        if self.lost || chunk.len() != len {
            self.lost = true;
            self.bytes += len as u64;
            return;
        }
        let mut rest = chunk;
        while !rest.is_empty() {
            if self.left > 0 {
                let take = rest
                    .len()
                    .min(usize::try_from(self.left).unwrap_or(usize::MAX));
                self.left -= take as u64;
                self.bytes += take as u64;
                rest = &rest[take..];
                continue;
            }
            let need = 5 - usize::from(self.header_len);
            let take = need.min(rest.len());
            let at = usize::from(self.header_len);
            self.header[at..at + take].copy_from_slice(&rest[..take]);
            self.header_len += take as u8;
            rest = &rest[take..];
            if self.header_len == 5 {
                self.header_len = 0;
                self.messages += 1;
                let h = self.header;
                self.left = u64::from(u32::from_be_bytes([h[1], h[2], h[3], h[4]]));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0];
        v.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn framing_counts_messages_split_anywhere() {
        let mut wire = frame(&[7; 10_000]);
        wire.extend(frame(&[]));
        wire.extend(frame(b"abc"));
        for split in [1, 2, 3, 4, 5, 6, 7, 4096, wire.len()] {
            let mut f = Framing::default();
            for c in wire.chunks(split) {
                f.feed(c, c.len());
            }
            assert_eq!((f.messages, f.bytes), (3, 10_003), "split {split}");
        }
    }

    #[test]
    fn framing_counts_bytes_whole_when_a_buffer_is_not_contiguous() {
        let mut f = Framing::default();
        f.feed(&[0, 0, 0, 0, 1], 10);
        assert_eq!(f.bytes, 10);
        f.feed(&[1, 2], 2);
        assert_eq!(f.bytes, 12);
    }

    #[test]
    fn at_most_max_methods_are_admitted() {
        let p = Policy::new(None);
        let admitted = (0..MAX_METHODS * 2)
            .filter(|i| p.admit(&format!("/s.S/M{i}")))
            .count();
        assert_eq!(admitted, MAX_METHODS);
        // The ones in stay in; the rest stay out.
        assert!(p.admit("/s.S/M0"));
        assert!(!p.admit(&format!("/s.S/M{}", MAX_METHODS)));
        assert_eq!(p.known("/s.S/M1"), Some(true));
        assert_eq!(p.known("/s.S/Other"), None);
        let declared = Policy::new(Some(["/a.A/B".into()].into_iter().collect()));
        assert_eq!(declared.known("/a.A/B"), Some(true));
        assert_eq!(declared.known("/a.A/C"), Some(false));
    }

    #[test]
    fn status_and_paths() {
        let mut h = http::HeaderMap::new();
        assert_eq!(status_in(&h), None);
        h.insert("grpc-status", http::HeaderValue::from_static("5"));
        assert_eq!(status_in(&h), Some(5));
        h.insert("grpc-status", http::HeaderValue::from_static("x"));
        assert_eq!(status_in(&h), Some(code::UNKNOWN));
        assert_eq!(from_http_status(http::StatusCode::NOT_FOUND), 12);
        assert_eq!(from_http_status(http::StatusCode::SERVICE_UNAVAILABLE), 14);
        assert!(well_formed("/echo.Echo/Say"));
        assert!(!well_formed("/echo.Echo/Say/more"));
        assert!(!well_formed("/echo.Echo/"));
        assert!(!well_formed("echo.Echo/Say"));
        assert!(!well_formed(&format!("/a/{}", "b".repeat(300))));
        assert!(!well_formed("/a/b%20c"));
    }
}
