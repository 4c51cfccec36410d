//! The pull monitor: a Prometheus scrape endpoint.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;

use super::{BoxFuture, Monitor};
use crate::error::Error;
use crate::exposition::Format;
use crate::store::Snapshot;

/// What the endpoint serves at each scrape.
/// Writes a scrape's body in a format.
pub(crate) type ScrapeFn = Arc<dyn Fn(Format, &mut Vec<u8>) + Send + Sync>;

/// A Prometheus scrape endpoint. `GET /metrics` serves the State's series as they are, in the
/// text format or OpenMetrics as the `Accept` header asks; `GET /metrics/catalog` serves the
/// catalog as JSON. It listens on loopback unless told otherwise. Flushes send nothing to it:
/// Prometheus pulls.
///
/// ```no_run
/// // With `monitor = "pull:127.0.0.1:9464"` in the settings, the State starts one.
/// let state = tsmon::State::builder()
///     .with_settings(tsmon::settings::Settings {
///         monitor: tsmon::settings::MonitorSpec::parse("pull:127.0.0.1:0").unwrap(),
///         ..Default::default()
///     })
///     .build()
///     .unwrap();
/// println!("scrape http://{}/metrics", state.pull_address().unwrap());
/// ```
pub struct PullMonitor {
    addr: SocketAddr,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl std::fmt::Debug for PullMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullMonitor")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl PullMonitor {
    /// Listens on `addr` (port 0 picks a free one) on tsmon's background runtime.
    pub(crate) fn serve(addr: SocketAddr, scrape: ScrapeFn) -> Result<Self, Error> {
        let listener = std::net::TcpListener::bind(addr)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|e| Error::Monitor(format!("pull endpoint on {addr}: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Monitor(format!("pull endpoint on {addr}: {e}")))?;
        let handle = crate::runtime::handle();
        let listener = {
            let _guard = handle.enter();
            tokio::net::TcpListener::from_std(listener)
                .map_err(|e| Error::Monitor(format!("pull endpoint on {addr}: {e}")))?
        };
        let task = handle.spawn(accept_loop(listener, scrape));
        Ok(PullMonitor {
            addr,
            task: Mutex::new(Some(task)),
        })
    }

    /// The address it listens on.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

async fn accept_loop(listener: tokio::net::TcpListener, scrape: ScrapeFn) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!("tsmon pull endpoint: accept failed: {e}");
                continue;
            }
        };
        let scrape = scrape.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let scrape = scrape.clone();
                async move { Ok::<_, Infallible>(respond(&req, &scrape)) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn respond(req: &Request<hyper::body::Incoming>, scrape: &ScrapeFn) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, content_type: &str, body: Vec<u8>| {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = status;
        if let Ok(v) = content_type.parse() {
            r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
        }
        r
    };
    if req.method() != hyper::Method::GET {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            b"GET only\n".to_vec(),
        );
    }
    match req.uri().path() {
        "/metrics" => {
            let accept = req
                .headers()
                .get(hyper::header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let format = Format::from_accept(accept);
            let mut body = Vec::new();
            scrape(format, &mut body);
            reply(StatusCode::OK, format.content_type(), body)
        }
        "/metrics/catalog" => reply(
            StatusCode::OK,
            "application/json",
            crate::registry::catalog_json().into_bytes(),
        ),
        _ => reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            b"not found: try /metrics or /metrics/catalog\n".to_vec(),
        ),
    }
}

impl Monitor for PullMonitor {
    fn send<'a>(&'a self, _: &'a Snapshot) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async { Ok(()) })
    }

    fn close(&self) -> BoxFuture<'_, Result<(), Error>> {
        if let Some(task) = self.task.lock().take() {
            task.abort();
        }
        Box::pin(async { Ok(()) })
    }
}

impl Drop for PullMonitor {
    fn drop(&mut self) {
        if let Some(task) = self.task.get_mut().take() {
            task.abort();
        }
    }
}
