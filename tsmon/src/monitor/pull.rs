//! The pull monitor: a Prometheus scrape endpoint.

// Unsafe code here: `getrlimit` (libc), for the open-file limit.
#![allow(unsafe_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hyper::{Request, Response, StatusCode};
use parking_lot::Mutex;

mod body;
mod connection;

use body::Body;
use connection::{Activity, serve_connection};

use super::secret_file::{SecretFile, basic_auth};
use super::{BoxFuture, Monitor};
use crate::error::{Cause, Error};
use crate::exposition::Format;
use crate::settings::{CatalogExposure, PullAuth, PullOptions};
use crate::store::Snapshot;

// Each static allows `unsafe_code`: linkme enters it in the catalog with a `#[link_section]`
// static, which the lint sees inside this crate (linkme's macro is local here).
crate::metric! {
    /// Connections the pull endpoint holds open now.
    #[allow(unsafe_code)]
    pub static CONNECTIONS: IntGauge = "tsmon/pull/connections";
    /// Connections the pull endpoint closed on its own, by reason: idle (no request for the idle timeout), header_timeout (a request's headers took too long), evicted_idle (the longest idle, to make room at the cap), over_capacity (closed at once: the cap was reached and every connection was busy), tls_handshake (the TLS handshake failed).
    #[allow(unsafe_code)]
    pub static CLOSED: Counter(reason: String) = "tsmon/pull/closed_connections";
    /// Errors accepting connections (out of file descriptors or memory: the endpoint backs off and retries).
    #[allow(unsafe_code)]
    pub static ACCEPT_ERRORS: Counter = "tsmon/pull/accept_errors";
    /// Requests refused with 401: no credentials, wrong ones, or a credentials file that cannot be read.
    #[allow(unsafe_code)]
    pub static UNAUTHORIZED: Counter = "tsmon/pull/unauthorized";
    /// Changed certificate files the pull endpoint loaded (`ok`: served from then on) or could not load (`error`: the previous pair stays in use), by outcome.
    #[allow(unsafe_code)]
    pub static TLS_RELOADS: Counter(outcome: String) = "tsmon/pull/tls_reloads";
    /// Scrapes served, by the format the scraper negotiated (`text`, `openmetrics`, `protobuf`).
    #[allow(unsafe_code)]
    pub static SCRAPES: Counter(format: String) = "tsmon/pull/scrapes";
}

/// Runs a closure with the endpoint's State current, so its self-metrics land there (a
/// weak link: the endpoint does not keep its State alive).
pub(crate) type ScopeFn = Arc<dyn Fn(&mut dyn FnMut()) + Send + Sync>;

/// The largest request the endpoint reads: a scrape is a GET with a few headers.
const MAX_REQUEST_BYTES: usize = 16 * 1024;

/// What the endpoint serves at each scrape: the body in a format, a chunk at a time (see
/// [`State::encode_chunks`](crate::State::encode_chunks)).
pub(crate) type ScrapeFn = Arc<dyn Fn(Format) -> body::Chunks + Send + Sync>;

/// The size of a scrape's chunks: a scrape holds about this much of its text at a time.
pub(crate) const SCRAPE_CHUNK: usize = 64 * 1024;

/// The status page's data: the JSON of `/tsmon/api/<what>?<query>`, `None` for an unknown one
/// (see [`crate::status`]).
pub(crate) type StatusFn = Arc<dyn Fn(&str, &str) -> Option<Vec<u8>> + Send + Sync>;

/// A Prometheus scrape endpoint. `GET /metrics` serves the State's series as they are, in the
/// text format or OpenMetrics as the `Accept` header asks; `GET /metrics/catalog` serves the
/// catalog as JSON (on loopback addresses only, unless `pull_catalog` says otherwise), and `/`
/// and `/tsmon` the [status page](crate::status) with its data under `/tsmon/api/` (likewise,
/// unless `pull_status_page` says otherwise). It listens on loopback unless told otherwise.
/// Flushes send nothing to it: Prometheus pulls.
///
/// A scrape's text is written a chunk (64 KiB) at a time as the connection takes it
/// ([`State::encode_chunks`](crate::State::encode_chunks)), sent chunked; a text of one chunk
/// goes whole, with its `Content-Length`. So a scrape of a million series holds one chunk of
/// its text, not the whole of it, and no lock of the store between two chunks.
///
/// No client can knock it over (the `pull_*` [settings](crate::settings)):
///
/// - a request's headers must arrive within `pull_header_timeout_sec` (10 s), and a keep-alive
///   connection with no request for `pull_idle_timeout_sec` (60 s) is closed (at most a
///   quarter of the shorter timeout after the deadline: the watchdog looks that often);
/// - at most `pull_max_connections` (256, and never more than a quarter of the process's
///   open-file limit) are held at once; at the cap, the connection idle the longest makes room
///   for a new one (so a scrape gets through a flood of idle connections), and when all are
///   busy the new one is closed at once;
/// - a request is read into at most 16 KiB (a larger one gets 431 and the connection closes);
/// - with `pull_auth` set ([`PullAuth`]), a request without the right credentials gets 401;
/// - with `pull_tls` set ([`PullTls`](crate::settings::PullTls), feature `tls`), it speaks
///   HTTPS only: the handshake must finish within the header timeout (a failed one is counted
///   as `tls_handshake`), a `client_ca_file` requires client certificates, and a renewed
///   certificate is served without a restart (`tsmon/pull/tls_reloads{outcome}`);
/// - when accepting fails (out of file descriptors or memory) the endpoint sleeps and retries,
///   backing off from 10 ms to 1 s, instead of spinning: the service's own listeners keep
///   their share of the process.
///
/// Each closing is counted in `tsmon/pull/closed_connections{reason}`, each accept error in
/// `tsmon/pull/accept_errors`, and the open connections in `tsmon/pull/connections`.
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
    pub(crate) fn serve(
        addr: SocketAddr,
        scrape: ScrapeFn,
        scope: ScopeFn,
        status: StatusFn,
        options: PullOptions,
    ) -> Result<Self, Error> {
        let listener = std::net::TcpListener::bind(addr)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|e| {
                Error::Monitor(Cause::with_source(format!("pull endpoint on {addr}"), e))
            })?;
        let addr = listener.local_addr().map_err(|e| {
            Error::Monitor(Cause::with_source(format!("pull endpoint on {addr}"), e))
        })?;
        let handle = crate::runtime::handle();
        let listener = {
            let _guard = handle.enter();
            tokio::net::TcpListener::from_std(listener).map_err(|e| {
                Error::Monitor(Cause::with_source(format!("pull endpoint on {addr}"), e))
            })?
        };
        let tls = acceptor(&options, &scope)?;
        let endpoint = Arc::new(Endpoint {
            tls,
            scrape,
            scope,
            catalog: options.catalog.serves_on(&addr),
            exposure: options.catalog,
            status: options.status_page.serves_on(&addr).then_some(status),
            status_exposure: options.status_page,
            header_timeout: options.header_timeout,
            idle_timeout: options.idle_timeout,
            cap: connection_cap(options.max_connections),
            live: Mutex::new(Live::default()),
            auth: Credentials::new(options.auth),
        });
        let task = handle.spawn(accept_loop(listener, endpoint));
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

/// The cap in force: the setting, but at most a quarter of the open-file limit, so the
/// endpoint can never take the descriptors the service needs.
fn connection_cap(setting: usize) -> usize {
    let cap = match fd_limit() {
        Some(limit) => setting.min((limit / 4).max(1)),
        None => setting,
    };
    cap.max(1)
}

#[cfg(unix)]
fn fd_limit() -> Option<usize> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit` writes one `rlimit` into the struct it is given, which lives on
    // this stack frame.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) } == 0;
    (ok && limit.rlim_cur != libc::RLIM_INFINITY)
        .then(|| usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX))
}

#[cfg(not(unix))]
fn fd_limit() -> Option<usize> {
    None
}

/// What every connection of one endpoint shares.
struct Endpoint {
    scrape: ScrapeFn,
    scope: ScopeFn,
    catalog: bool,
    exposure: CatalogExposure,
    /// The status page's data, where the page is served.
    status: Option<StatusFn>,
    status_exposure: CatalogExposure,
    header_timeout: Duration,
    idle_timeout: Duration,
    cap: usize,
    live: Mutex<Live>,
    auth: Credentials,
    tls: Option<Acceptor>,
}

#[cfg(feature = "tls")]
type Acceptor = tokio_rustls::TlsAcceptor;
/// Without the `tls` feature there is no acceptor (`pull_tls` is refused by the settings).
#[cfg(not(feature = "tls"))]
type Acceptor = std::convert::Infallible;

#[cfg(feature = "tls")]
fn acceptor(options: &PullOptions, scope: &ScopeFn) -> Result<Option<Acceptor>, Error> {
    if !options.tls.is_enabled() {
        return Ok(None);
    }
    let scope = scope.clone();
    let reloaded = Box::new(move |ok: bool| {
        scope(&mut || TLS_RELOADS.inc(if ok { "ok" } else { "error" }));
    });
    Ok(Some(tokio_rustls::TlsAcceptor::from(
        super::tls::server_config(&options.tls, reloaded)?,
    )))
}

#[cfg(not(feature = "tls"))]
fn acceptor(options: &PullOptions, _: &ScopeFn) -> Result<Option<Acceptor>, Error> {
    if options.tls.is_enabled() {
        return Err(Error::InvalidSettings(
            "pull_tls needs tsmon's `tls` feature, which this binary was built without".into(),
        ));
    }
    Ok(None)
}

/// The `Authorization` header value a request must carry, if any. File forms are re-read when
/// the file changed, looked at once a second at most.
struct Credentials {
    auth: PullAuth,
    file: Option<SecretFile>,
}

impl Credentials {
    fn new(auth: PullAuth) -> Self {
        let file = match &auth {
            PullAuth::BearerFile(p) | PullAuth::BasicFile(p) => Some(SecretFile::new(
                p,
                "pull auth file",
                "every request to the pull endpoint is refused",
            )),
            _ => None,
        };
        Credentials { auth, file }
    }

    /// The expected header; `Err` when the credentials file cannot be read (every request
    /// is then refused: failing closed).
    fn expected(&self) -> Result<Option<String>, ()> {
        let from_file = || self.file.as_ref().and_then(SecretFile::read).ok_or(());
        match &self.auth {
            PullAuth::None => Ok(None),
            PullAuth::Bearer(token) => Ok(Some(format!("Bearer {}", token.expose()))),
            PullAuth::Basic { user, password } => {
                Ok(Some(basic_auth(&format!("{user}:{}", password.expose()))))
            }
            PullAuth::BearerFile(_) => from_file().map(|t| Some(format!("Bearer {t}"))),
            PullAuth::BasicFile(_) => from_file().map(|t| Some(basic_auth(&t))),
        }
    }

    /// Whether a request with this `Authorization` header may pass.
    fn allows(&self, given: Option<&[u8]>) -> bool {
        match self.expected() {
            Ok(None) => true,
            Ok(Some(want)) => given.is_some_and(|g| constant_time_eq(g, want.as_bytes())),
            Err(()) => false,
        }
    }

    fn challenge(&self) -> &'static str {
        match self.auth {
            PullAuth::Basic { .. } | PullAuth::BasicFile(_) => "Basic realm=\"tsmon\"",
            _ => "Bearer",
        }
    }
}

/// Compares without stopping at the first difference, so the time taken does not tell an
/// attacker how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The connections being served, each with what it is doing and a way to close it.
#[derive(Default)]
struct Live {
    next: u64,
    conns: std::collections::HashMap<u64, (Arc<Activity>, Arc<tokio::sync::Notify>)>,
}

/// A connection's place among the live ones, given back when it ends.
struct Slot {
    id: u64,
    endpoint: Arc<Endpoint>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.endpoint.live.lock().conns.remove(&self.id);
    }
}

impl Endpoint {
    fn record(&self, mut f: impl FnMut()) {
        (self.scope)(&mut f);
    }
}

/// Whether an accept error is the process running out of something (descriptors, memory,
/// buffers): then retrying at once only spins.
fn is_resource_error(e: &std::io::Error) -> bool {
    !matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::Interrupted
            | std::io::ErrorKind::WouldBlock
    )
}

async fn accept_loop(listener: tokio::net::TcpListener, endpoint: Arc<Endpoint>) {
    let mut backoff = Duration::from_millis(10);
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => {
                if backoff > Duration::from_millis(10) {
                    crate::report::resolved("pull accept");
                }
                backoff = Duration::from_millis(10);
                stream
            }
            Err(e) if is_resource_error(&e) => {
                endpoint.record(|| ACCEPT_ERRORS.inc(()));
                crate::report::problem(
                    "pull accept",
                    format_args!("the pull endpoint cannot accept ({e}); it backs off and retries"),
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
            Err(_) => continue,
        };
        let activity = Arc::new(Activity {
            opened: Some(Instant::now()),
            last_io: AtomicU64::new(1),
            request_began: AtomicU64::new(0),
        });
        let Some((slot, close)) = admit(&endpoint, &activity) else {
            // Closed at once: holding it would cost a descriptor the cap is there to keep.
            // (Counted first, so whoever sees the close sees the count.)
            endpoint.record(|| CLOSED.inc("over_capacity"));
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_connection(
            stream,
            endpoint.clone(),
            slot,
            activity,
            close,
        ));
    }
}

/// A place for a new connection. At the cap, the connection idle the longest (none of its
/// requests under way) is closed to make room, so a scrape gets through a flood of idle
/// connections; when every connection is busy, there is no place.
fn admit(
    endpoint: &Arc<Endpoint>,
    activity: &Arc<Activity>,
) -> Option<(Slot, Arc<tokio::sync::Notify>)> {
    let mut live = endpoint.live.lock();
    if live.conns.len() >= endpoint.cap {
        let idlest = live
            .conns
            .iter()
            .filter(|(_, (a, _))| a.request_began.load(Ordering::Relaxed) == 0)
            .min_by_key(|(_, (a, _))| {
                a.opened
                    .map(|o| o + Duration::from_millis(a.last_io.load(Ordering::Relaxed)))
            })
            .map(|(id, _)| *id)?;
        if let Some((_, close)) = live.conns.remove(&idlest) {
            close.notify_one();
        }
    }
    let id = live.next;
    live.next += 1;
    let close = Arc::new(tokio::sync::Notify::new());
    live.conns.insert(id, (activity.clone(), close.clone()));
    drop(live);
    Some((
        Slot {
            id,
            endpoint: endpoint.clone(),
        },
        close,
    ))
}

/// A response of this status and content type.
fn with_type(body: Body, status: StatusCode, content_type: &str) -> Response<Body> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

fn respond(req: &Request<hyper::body::Incoming>, endpoint: &Endpoint) -> Response<Body> {
    let reply = |status: StatusCode, content_type: &str, body: Vec<u8>| {
        with_type(Body::whole(body), status, content_type)
    };
    let given = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .map(hyper::header::HeaderValue::as_bytes);
    if !endpoint.auth.allows(given) {
        endpoint.record(|| UNAUTHORIZED.inc(()));
        let mut r = reply(
            StatusCode::UNAUTHORIZED,
            "text/plain",
            b"credentials required (pull_auth)\n".to_vec(),
        );
        if let Ok(v) = endpoint.auth.challenge().parse() {
            r.headers_mut().insert(hyper::header::WWW_AUTHENTICATE, v);
        }
        return r;
    }
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
            endpoint.record(|| SCRAPES.inc(format.name()));
            let body = Body::chunks((endpoint.scrape)(format));
            with_type(body, StatusCode::OK, format.content_type())
        }
        "/metrics/catalog" if endpoint.catalog => reply(
            StatusCode::OK,
            "application/json",
            crate::registry::catalog_json().into_bytes(),
        ),
        "/metrics/catalog" => reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            format!(
                "the catalog is not served here (pull_catalog = {}: on loopback addresses \
                 only, unless set to true)\n",
                endpoint.exposure
            )
            .into_bytes(),
        ),
        "/" | "/tsmon" | "/tsmon/" if endpoint.status.is_some() => reply(
            StatusCode::OK,
            "text/html; charset=utf-8",
            crate::status::PAGE.as_bytes().to_vec(),
        ),
        path if path.starts_with("/tsmon/api/") && endpoint.status.is_some() => {
            let what = &path["/tsmon/api/".len()..];
            let query = req.uri().query().unwrap_or("");
            match endpoint.status.as_ref().and_then(|f| f(what, query)) {
                Some(json) => {
                    let mut r = reply(StatusCode::OK, "application/json", json);
                    r.headers_mut().insert(
                        hyper::header::CACHE_CONTROL,
                        hyper::header::HeaderValue::from_static("no-store"),
                    );
                    r
                }
                None => reply(
                    StatusCode::NOT_FOUND,
                    "text/plain",
                    b"not found: the status API has catalog, overview, series?metric=NAME, \
                      summary and health\n"
                        .to_vec(),
                ),
            }
        }
        "/" | "/tsmon" | "/tsmon/" => reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            format!(
                "the status page is not served here (pull_status_page = {}: on loopback \
                 addresses only, unless set to true); /metrics is\n",
                endpoint.status_exposure
            )
            .into_bytes(),
        ),
        _ => reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            b"not found: try /metrics, /metrics/catalog or /tsmon\n".to_vec(),
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
