//! One connection of the pull endpoint: HTTP/1.1 (over TLS when configured) under a watchdog
//! that closes it when a request's headers take too long or it sits idle.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

use std::convert::Infallible;

use super::{Acceptor, CLOSED, CONNECTIONS, Endpoint, MAX_REQUEST_BYTES, Slot, respond};

/// When a connection last moved bytes, and when the request being read began, in
/// milliseconds since the connection opened (0: no request is being read).
#[derive(Default)]
pub(super) struct Activity {
    pub(super) opened: Option<Instant>,
    pub(super) last_io: AtomicU64,
    pub(super) request_began: AtomicU64,
}

impl Activity {
    fn now(&self) -> u64 {
        self.opened
            .map_or(0, |o| {
                u64::try_from(o.elapsed().as_millis()).unwrap_or(u64::MAX)
            })
            .max(1)
    }
}

pin_project_lite::pin_project! {
    /// A connection's socket, noting its activity.
    struct Watched {
        #[pin]
        io: tokio::net::TcpStream,
        activity: Arc<Activity>,
    }
}

impl tokio::io::AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        let r = this.io.poll_read(cx, buf);
        if buf.filled().len() > before {
            let now = this.activity.now();
            this.activity.last_io.store(now, Ordering::Relaxed);
            // The first bytes of a request start its header clock.
            if this.activity.request_began.load(Ordering::Relaxed) == 0 {
                this.activity.request_began.store(now, Ordering::Relaxed);
            }
        }
        r
    }
}

impl tokio::io::AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.project();
        let r = this.io.poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.activity
                .last_io
                .store(this.activity.now(), Ordering::Relaxed);
        }
        r
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().io.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().io.poll_shutdown(cx)
    }
}

/// Whether a connection is past a deadline: its request's headers took longer than the
/// header timeout, or it has been idle longer than the idle timeout.
fn overdue(activity: &Activity, endpoint: &Endpoint) -> Option<&'static str> {
    let now = activity.now();
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let began = activity.request_began.load(Ordering::Relaxed);
    if began != 0 {
        (now >= began.saturating_add(ms(endpoint.header_timeout))).then_some("header_timeout")
    } else {
        let last = activity.last_io.load(Ordering::Relaxed);
        (now >= last.saturating_add(ms(endpoint.idle_timeout))).then_some("idle")
    }
}

pub(super) async fn serve_connection(
    stream: tokio::net::TcpStream,
    endpoint: Arc<Endpoint>,
    slot: Slot,
    activity: Arc<Activity>,
    close: Arc<tokio::sync::Notify>,
) {
    endpoint.record(|| CONNECTIONS.add(1, ()));
    let watched = Watched {
        io: stream,
        activity: activity.clone(),
    };
    match &endpoint.tls {
        Some(acceptor) => serve_tls(acceptor, watched, &endpoint, &activity, &close).await,
        None => serve_http(watched, &endpoint, &activity, &close).await,
    }
    drop(slot);
}

/// Counts a connection's end, and why the endpoint closed it. Called while the socket is
/// still open, so whoever sees the close sees the count.
fn count_close(endpoint: &Endpoint, closed_by: Option<&'static str>) {
    endpoint.record(|| {
        CONNECTIONS.add(-1, ());
        if let Some(reason) = closed_by {
            CLOSED.inc(reason);
        }
    });
}

/// The TLS handshake, within the header timeout, then HTTP over it.
#[cfg(feature = "tls")]
async fn serve_tls(
    acceptor: &Acceptor,
    watched: Watched,
    endpoint: &Arc<Endpoint>,
    activity: &Arc<Activity>,
    close: &tokio::sync::Notify,
) {
    // Kept here (not inside the select), so the socket stays open until the close is counted.
    let mut accept = std::pin::pin!(acceptor.accept(watched));
    let handshake = tokio::select! {
        r = &mut accept => r.map_err(|_| "tls_handshake"),
        () = tokio::time::sleep(endpoint.header_timeout) => Err("header_timeout"),
        () = close.notified() => Err("evicted_idle"),
    };
    match handshake {
        Ok(tls) => {
            // The handshake's bytes started the header clock; the request's first byte
            // starts it again.
            activity.request_began.store(0, Ordering::Relaxed);
            serve_http(tls, endpoint, activity, close).await;
        }
        Err(reason) => count_close(endpoint, Some(reason)),
    }
}

#[cfg(not(feature = "tls"))]
async fn serve_tls(
    acceptor: &Acceptor,
    _: Watched,
    _: &Arc<Endpoint>,
    _: &Arc<Activity>,
    _: &tokio::sync::Notify,
) {
    match *acceptor {}
}

/// Serves HTTP/1.1 on a connection until it ends or the watchdog closes it, and counts why,
/// before the socket closes.
async fn serve_http<IO>(
    io: IO,
    endpoint: &Arc<Endpoint>,
    activity: &Arc<Activity>,
    close: &tokio::sync::Notify,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(io);
    let service = {
        let endpoint = endpoint.clone();
        let activity = activity.clone();
        service_fn(move |req| {
            // The headers are in: the header clock stops until the next request's first byte.
            activity.request_began.store(0, Ordering::Relaxed);
            let reply = respond(&req, &endpoint);
            async move { Ok::<_, Infallible>(reply) }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.max_buf_size(MAX_REQUEST_BYTES).max_headers(64);
    // Boxed, so that dropping it closes the socket at once.
    let mut connection = Box::pin(builder.serve_connection(io, service));
    // The watchdog looks a few times per timeout rather than re-arming a timer at every
    // request, which would cost a timer-wheel insert on the hot path: a connection is closed
    // between its deadline and a quarter of the timeout later.
    let tick =
        (endpoint.header_timeout.min(endpoint.idle_timeout) / 4).max(Duration::from_millis(25));
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + tick, tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let closed_by = loop {
        tokio::select! {
            _ = connection.as_mut() => break None,
            _ = ticker.tick() => {
                if let Some(reason) = overdue(activity, endpoint) {
                    break Some(reason);
                }
            }
            () = close.notified() => break Some("evicted_idle"),
        }
    };
    count_close(endpoint, closed_by);
    drop(connection);
}
