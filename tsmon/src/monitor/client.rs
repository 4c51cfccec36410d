//! The push monitors' HTTP client: plain HTTP, or HTTPS with the `tls` feature, with the
//! credentials and headers of the `push` settings on every request, and the outcome of each
//! request counted.

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::header::{HeaderName, HeaderValue};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::secret_file::{SecretFile, basic_auth};
use crate::error::{Cause, Error};
use crate::settings::PushOptions;

// Each static allows `unsafe_code`: linkme enters it in the catalog with a `#[link_section]`
// static, which the lint sees inside this crate (linkme's macro is local here).
crate::metric! {
    /// Requests the push monitors made, by monitor (pushgateway, remote_write) and outcome: the HTTP status, or "error" when no answer came (connection refused, TLS, timeout).
    #[allow(unsafe_code)]
    pub static REQUESTS: Counter(monitor: String, status: String) = "tsmon/push/requests";
    /// Requests a receiver refused for their credentials (401 or 403), by monitor. These are not retried within the flush; fix the `push` settings (a credentials file is re-read by itself).
    #[allow(unsafe_code)]
    pub static UNAUTHORIZED: Counter(monitor: String) = "tsmon/push/unauthorized";
}

#[cfg(feature = "tls")]
type Connector = hyper_rustls::HttpsConnector<HttpConnector>;
#[cfg(not(feature = "tls"))]
type Connector = HttpConnector;

/// The `Authorization` header a push carries.
#[derive(Debug)]
enum Credentials {
    None,
    Fixed(HeaderValue),
    /// A scheme (`Bearer`) and the file of its credentials.
    File(String, SecretFile),
    /// A user and the file of the password.
    BasicFile(String, SecretFile),
}

/// The most of an error answer's body kept for the message: the receiver's words as it wrote
/// them, but never an unbounded read.
const MAX_ERROR_TEXT: usize = 4096;

/// An error answer's body as text, verbatim up to [`MAX_ERROR_TEXT`] bytes (then cut, saying
/// so); what cannot be read is left out.
pub(crate) async fn error_text(mut body: hyper::body::Incoming) -> String {
    let mut kept = Vec::new();
    let mut cut = false;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { break };
        if let Ok(data) = frame.into_data() {
            let room = MAX_ERROR_TEXT - kept.len();
            kept.extend_from_slice(&data[..data.len().min(room)]);
            if data.len() > room {
                cut = true;
                break;
            }
        }
    }
    let mut text = String::from_utf8_lossy(&kept).trim().to_owned();
    if cut {
        text.push_str(" [cut at 4 KiB]");
    }
    text
}

/// How a request ended (with what went wrong, to be wrapped in an error).
#[cfg_attr(
    not(any(feature = "pushgateway", feature = "remote-write")),
    allow(dead_code)
)]
pub(crate) enum Outcome {
    /// A 2xx.
    Delivered,
    /// 401 or 403: the credentials are wrong; retrying will not help until they change.
    Unauthorized(Cause),
    /// Another 4xx: the request itself is refused, for good.
    Rejected(Cause),
    /// A 5xx, a 429 or no answer: worth another try.
    Failed(Cause),
}

/// An HTTP client for one push monitor.
#[derive(Debug)]
pub(crate) struct PushClient {
    monitor: &'static str,
    client: Client<Connector, Full<Bytes>>,
    credentials: Credentials,
    headers: Vec<(HeaderName, HeaderValue)>,
}

fn basic(user: &str, password: &str) -> Result<HeaderValue, Error> {
    HeaderValue::from_str(&basic_auth(&format!("{user}:{password}")))
        .map_err(|_| Error::InvalidSettings("push.basic_auth: not a header value".into()))
}

fn scheme_value(scheme: &str, credentials: &str) -> Result<HeaderValue, Error> {
    let mut v = HeaderValue::from_str(&format!("{scheme} {credentials}")).map_err(|_| {
        Error::InvalidSettings("push.authorization: the credentials are not a header value".into())
    })?;
    v.set_sensitive(true);
    Ok(v)
}

impl PushClient {
    /// A client for `url` (whose scheme the settings checked) with `options`.
    pub(crate) fn new(
        monitor: &'static str,
        url: &str,
        options: &PushOptions,
    ) -> Result<Self, Error> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        let https = url.starts_with("https://");
        #[cfg(feature = "tls")]
        let connector = {
            let config = super::tls::client_config(&options.tls_config, https)?;
            let builder = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(config)
                .https_or_http();
            let builder = match &options.tls_config.server_name {
                Some(name) => builder.with_server_name_resolver(
                    hyper_rustls::FixedServerNameResolver::new(super::tls::server_name(name)?),
                ),
                None => builder,
            };
            builder.enable_http1().wrap_connector(http)
        };
        #[cfg(not(feature = "tls"))]
        let connector = {
            if https {
                return Err(Error::InvalidSettings(format!(
                    "{url}: https:// needs tsmon's `tls` feature"
                )));
            }
            http
        };
        let topic = format!("push credentials {monitor}");
        let consequence = "nothing is pushed until it can be read";
        let credentials = match (&options.basic_auth, &options.authorization) {
            (Some(b), _) => match (&b.password, &b.password_file) {
                (Some(p), _) => Credentials::Fixed(basic(&b.username, p.expose())?),
                (None, Some(f)) => Credentials::BasicFile(
                    b.username.clone(),
                    SecretFile::new(f, &topic, consequence),
                ),
                (None, None) => Credentials::None,
            },
            (None, Some(a)) => match (&a.credentials, &a.credentials_file) {
                (Some(c), _) => Credentials::Fixed(scheme_value(&a.kind, c.expose())?),
                (None, Some(f)) => {
                    Credentials::File(a.kind.clone(), SecretFile::new(f, &topic, consequence))
                }
                (None, None) => Credentials::None,
            },
            (None, None) => Credentials::None,
        };
        let headers = options
            .headers
            .iter()
            .map(|(k, v)| {
                let name = HeaderName::from_bytes(k.as_bytes())
                    .map_err(|_| Error::InvalidSettings(format!("push.headers: {k:?}")))?;
                let value = HeaderValue::from_str(v)
                    .map_err(|_| Error::InvalidSettings(format!("push.headers: {k}")))?;
                Ok((name, value))
            })
            .collect::<Result<_, Error>>()?;
        Ok(PushClient {
            monitor,
            client: Client::builder(TokioExecutor::new()).build(connector),
            credentials,
            headers,
        })
    }

    /// The `Authorization` header now (a file is re-read when it may have changed).
    fn authorization(&self) -> Result<Option<HeaderValue>, Error> {
        let missing = |f: &SecretFile| {
            Error::Monitor(
                format!("cannot read the credentials file {}", f.path().display()).into(),
            )
        };
        match &self.credentials {
            Credentials::None => Ok(None),
            Credentials::Fixed(v) => Ok(Some(v.clone())),
            Credentials::File(scheme, f) => {
                let c = f.read().ok_or_else(|| missing(f))?;
                scheme_value(scheme, &c).map(Some)
            }
            Credentials::BasicFile(user, f) => {
                let p = f.read().ok_or_else(|| missing(f))?;
                let mut v = basic(user, &p)?;
                v.set_sensitive(true);
                Ok(Some(v))
            }
        }
    }

    /// Sends `request` with the credentials and headers added; `what` names it in errors.
    #[cfg_attr(
        not(any(feature = "pushgateway", feature = "remote-write")),
        allow(dead_code)
    )]
    pub(crate) async fn send(&self, request: hyper::Request<Full<Bytes>>, what: &str) -> Outcome {
        let response = match self.exchange(request, what).await {
            Ok(r) => r,
            Err(outcome) => return outcome,
        };
        let status = response.status();
        if status.is_success() {
            return Outcome::Delivered;
        }
        let body = error_text(response.into_body()).await;
        let message = format!("{what} answered {status}: {body}");
        match status.as_u16() {
            401 | 403 => Outcome::Unauthorized(self.unauthorized(&message)),
            429 => Outcome::Failed(Cause::new(message)),
            400..=499 => Outcome::Rejected(Cause::new(message)),
            _ => Outcome::Failed(Cause::new(message)),
        }
    }

    /// A 401 or 403: counted, and its error (not retried within the flush).
    pub(crate) fn unauthorized(&self, message: &str) -> Cause {
        UNAUTHORIZED.inc(self.monitor);
        Cause::new(format!(
            "{message} (the push credentials are refused; not retried within this flush)"
        ))
    }

    /// Sends `request` with the credentials and headers added and gives the response, its
    /// status counted; the outcome when there is no response (credentials that cannot be
    /// read, a connection that fails).
    pub(crate) async fn exchange(
        &self,
        mut request: hyper::Request<Full<Bytes>>,
        what: &str,
    ) -> Result<hyper::Response<hyper::body::Incoming>, Outcome> {
        let auth = match self.authorization() {
            Ok(a) => a,
            // Sending without them would only earn a 401.
            Err(Error::Monitor(e)) => return Err(Outcome::Unauthorized(e)),
            Err(e) => return Err(Outcome::Unauthorized(Cause::new(e.to_string()))),
        };
        let headers = request.headers_mut();
        for (k, v) in &self.headers {
            headers.insert(k.clone(), v.clone());
        }
        if let Some(auth) = auth {
            headers.insert(hyper::header::AUTHORIZATION, auth);
        }
        let response = match self.client.request(request).await {
            Ok(r) => r,
            Err(e) => {
                REQUESTS.inc((self.monitor, "error"));
                // The message carries the client error's whole chain (connect: refused); the
                // error itself is the source, for callers that downcast.
                return Err(Outcome::Failed(Cause::with_source(what, e)));
            }
        };
        REQUESTS.inc((self.monitor, response.status().as_str()));
        Ok(response)
    }
}
