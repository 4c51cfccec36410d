//! The values of the settings keys that are more than a number: where metrics go, the pull
//! endpoint's options and credentials, how push monitors reach their receiver.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[cfg(feature = "settings-file")]
use serde::Deserialize;

use super::Settings;
use crate::error::Error;

/// Where the pull endpoint serves `/metrics/catalog` (the catalog tells a stranger every
/// metric, field and declaration site of the binary).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum CatalogExposure {
    /// On a loopback address only (the default).
    #[default]
    Auto,
    /// Everywhere.
    On,
    /// Nowhere.
    Off,
}

impl CatalogExposure {
    /// Whether the catalog is served on an endpoint listening at `addr`.
    ///
    /// ```
    /// use tsmon::settings::CatalogExposure;
    /// assert!(CatalogExposure::Auto.serves_on(&"127.0.0.1:9464".parse().unwrap()));
    /// assert!(!CatalogExposure::Auto.serves_on(&"0.0.0.0:9464".parse().unwrap()));
    /// ```
    #[must_use]
    pub fn serves_on(self, addr: &SocketAddr) -> bool {
        match self {
            CatalogExposure::Auto => addr.ip().is_loopback(),
            CatalogExposure::On => true,
            CatalogExposure::Off => false,
        }
    }
}

impl fmt::Display for CatalogExposure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CatalogExposure::Auto => "auto",
            CatalogExposure::On => "true",
            CatalogExposure::Off => "false",
        })
    }
}

/// A secret: shown as `***` in `Debug`, `Display`, logs and [`State::health`](crate::State::health).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret(String);

impl Secret {
    /// A secret holding `text`.
    ///
    /// ```
    /// let s = tsmon::settings::Secret::new("hunter2");
    /// assert_eq!(format!("{s:?}"), "***");
    /// assert_eq!(s.expose(), "hunter2");
    /// ```
    #[must_use]
    pub fn new(text: impl Into<String>) -> Self {
        Secret(text.into())
    }

    /// The secret's text.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The credentials the pull endpoint asks every request for (`pull_auth`). Without them, or
/// with wrong ones, a request gets 401 (counted in `tsmon/pull/unauthorized`). File forms are
/// re-read when the file changes (looked at once a second at most), so a rotated credential
/// applies without a restart, as Prometheus' `credentials_file` does.
///
/// | text | meaning |
/// |---|---|
/// | `none` | no credentials asked (the default) |
/// | `bearer:TOKEN` | `Authorization: Bearer TOKEN` |
/// | `bearer_file:/path` | the token is the file's contents, trimmed |
/// | `basic:USER:PASSWORD` | HTTP basic auth |
/// | `basic_file:/path` | the file holds `USER:PASSWORD` |
///
/// ```
/// use tsmon::settings::PullAuth;
/// let auth = PullAuth::parse("bearer:s3cret").unwrap();
/// assert_eq!(auth.to_string(), "bearer:***", "the secret is never shown");
/// assert!(PullAuth::parse("basic:nopassword").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum PullAuth {
    /// No credentials asked.
    #[default]
    None,
    /// A bearer token.
    Bearer(Secret),
    /// A bearer token read from a file.
    BearerFile(PathBuf),
    /// A user and password.
    Basic {
        /// The user.
        user: String,
        /// The password.
        password: Secret,
    },
    /// `USER:PASSWORD` read from a file.
    BasicFile(PathBuf),
}

impl PullAuth {
    /// Parses the text form (see the table above).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSettings`] naming what is wrong (without the secret).
    pub fn parse(text: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::InvalidSettings(format!("pull_auth: {why}"));
        let (kind, rest) = text.split_once(':').unwrap_or((text, ""));
        match kind.trim() {
            "none" if rest.is_empty() => Ok(PullAuth::None),
            "bearer" if !rest.is_empty() => Ok(PullAuth::Bearer(Secret(rest.to_owned()))),
            "bearer_file" if !rest.is_empty() => Ok(PullAuth::BearerFile(rest.into())),
            "basic" => match rest.split_once(':') {
                Some((user, password)) if !user.is_empty() && !password.is_empty() => {
                    Ok(PullAuth::Basic {
                        user: user.to_owned(),
                        password: Secret(password.to_owned()),
                    })
                }
                _ => Err(bad("expected basic:USER:PASSWORD")),
            },
            "basic_file" if !rest.is_empty() => Ok(PullAuth::BasicFile(rest.into())),
            _ => Err(bad(
                "expected none, bearer:TOKEN, bearer_file:PATH, basic:USER:PASSWORD or basic_file:PATH",
            )),
        }
    }
}

impl fmt::Display for PullAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PullAuth::None => f.write_str("none"),
            PullAuth::Bearer(_) => f.write_str("bearer:***"),
            PullAuth::BearerFile(p) => write!(f, "bearer_file:{}", p.display()),
            PullAuth::Basic { user, .. } => write!(f, "basic:{user}:***"),
            PullAuth::BasicFile(p) => write!(f, "basic_file:{}", p.display()),
        }
    }
}

/// How the pull endpoint treats its connections: the pull keys of [`Settings`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullOptions {
    /// `pull_header_timeout_sec`.
    pub header_timeout: Duration,
    /// `pull_idle_timeout_sec`.
    pub idle_timeout: Duration,
    /// `pull_max_connections`.
    pub max_connections: usize,
    /// `pull_catalog`.
    pub catalog: CatalogExposure,
    /// `pull_auth`.
    pub auth: PullAuth,
    /// `pull_tls`.
    pub tls: PullTls,
}

impl Default for PullOptions {
    fn default() -> Self {
        Settings::default().pull_options()
    }
}

/// Where flushed metrics go.
///
/// As a string (in a file or `TSMON_MONITOR`): `none`, `debug` (a readable table in the log),
/// `debug:/path/to/file` (appended to a file), `pull:127.0.0.1:9464` (a Prometheus scrape
/// endpoint on that address; `pull` alone is `127.0.0.1:9464`), `pushgateway:http://host:9091`,
/// `remote_write:http://host:9090/api/v1/write`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MonitorSpec {
    /// Metrics are collected and dropped at flush (Go's `NilMonitor`).
    None,
    /// A readable table, to the log or appended to a file (Go's debug monitor).
    Debug {
        /// The file, if not the log.
        path: Option<PathBuf>,
    },
    /// A Prometheus scrape endpoint on this address, serving `/metrics` (text or OpenMetrics by
    /// the `Accept` header) and `/metrics/catalog` (the catalog as JSON).
    Pull {
        /// The address to listen on (loopback by default).
        addr: SocketAddr,
    },
    /// A Prometheus Pushgateway at this base URL; the grouping key comes from the target.
    Pushgateway {
        /// The base URL, such as `http://127.0.0.1:9091`.
        url: String,
    },
    /// A Prometheus remote-write receiver at this URL.
    RemoteWrite {
        /// The URL, such as `http://127.0.0.1:9090/api/v1/write`.
        url: String,
    },
}

/// The pull endpoint's default address: loopback only.
pub const DEFAULT_PULL_ADDR: &str = "127.0.0.1:9464";

impl MonitorSpec {
    /// Parses the string form.
    ///
    /// ```
    /// use tsmon::settings::MonitorSpec;
    /// assert_eq!(MonitorSpec::parse("none").unwrap(), MonitorSpec::None);
    /// assert!(matches!(MonitorSpec::parse("pull").unwrap(), MonitorSpec::Pull { addr } if addr.port() == 9464));
    /// assert!(MonitorSpec::parse("pushgateway:ftp://x").is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSettings`] naming what is wrong.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let invalid = |why: String| Error::InvalidSettings(format!("monitor {s:?}: {why}"));
        let (kind, arg) = match s.split_once(':') {
            Some((k, a)) => (k, Some(a)),
            None => (s, None),
        };
        match (kind.trim(), arg) {
            ("none", None) => Ok(MonitorSpec::None),
            ("debug", None) => Ok(MonitorSpec::Debug { path: None }),
            ("debug", Some(path)) if !path.is_empty() => Ok(MonitorSpec::Debug {
                path: Some(PathBuf::from(path)),
            }),
            ("pull", _) if !cfg!(feature = "pull") => Err(invalid(needs_feature("pull"))),
            ("pushgateway", _) if !cfg!(feature = "pushgateway") => {
                Err(invalid(needs_feature("pushgateway")))
            }
            ("remote_write", _) if !cfg!(feature = "remote-write") => {
                Err(invalid(needs_feature("remote-write")))
            }
            ("pull", arg) => {
                let addr = arg.unwrap_or(DEFAULT_PULL_ADDR);
                addr.parse()
                    .map(|addr| MonitorSpec::Pull { addr })
                    .map_err(|e| invalid(format!("bad address {addr:?}: {e}")))
            }
            ("pushgateway", Some(url)) => {
                check_url(url, "Pushgateway").map_err(invalid)?;
                Ok(MonitorSpec::Pushgateway {
                    url: url.trim_end_matches('/').to_owned(),
                })
            }
            ("remote_write", Some(url)) => {
                check_url(url, "remote-write").map_err(invalid)?;
                Ok(MonitorSpec::RemoteWrite { url: url.to_owned() })
            }
            _ => Err(invalid(
                "expected none, debug, debug:<file>, pull[:<addr>], pushgateway:<url> or remote_write:<url>"
                    .into(),
            )),
        }
    }
}

/// Why a monitor kind is refused in a binary built without it.
fn needs_feature(feature: &str) -> String {
    format!("this monitor needs tsmon's `{feature}` feature, which this binary was built without")
}

/// Whether tsmon can send to `url`: `http://`, or `https://` when built with the `tls`
/// feature, with a host.
fn check_url(url: &str, what: &str) -> Result<(), String> {
    let rest = if let Some(rest) = url.strip_prefix("http://") {
        rest
    } else if let Some(rest) = url.strip_prefix("https://") {
        if !cfg!(feature = "tls") {
            return Err(
                "https:// needs tsmon's `tls` feature, which this binary was built \
                        without (add `features = [\"tls\"]` to the tsmon dependency)"
                    .to_owned(),
            );
        }
        rest
    } else {
        return Err(format!(
            "the {what} URL must start with http:// or https://"
        ));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() {
        return Err(format!("the {what} URL has no host"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("the {what} URL is not a valid URL"));
    }
    Ok(())
}

impl fmt::Display for MonitorSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MonitorSpec::None => f.write_str("none"),
            MonitorSpec::Debug { path: None } => f.write_str("debug"),
            MonitorSpec::Debug { path: Some(p) } => write!(f, "debug:{}", p.display()),
            MonitorSpec::Pull { addr } => write!(f, "pull:{addr}"),
            MonitorSpec::Pushgateway { url } => write!(f, "pushgateway:{url}"),
            MonitorSpec::RemoteWrite { url } => write!(f, "remote_write:{url}"),
        }
    }
}

/// An HTTP token (RFC 9110): what a header name may be.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Refuses anything but a table of `T`'s known fields.
#[cfg(feature = "settings-file")]
fn from_table<T: serde::de::DeserializeOwned>(v: &serde_json::Value) -> Result<T, String> {
    T::deserialize(v).map_err(|e| e.to_string())
}

fn shown_file(
    f: &mut fmt::Formatter<'_>,
    sep: &mut &str,
    name: &str,
    p: Option<&PathBuf>,
) -> fmt::Result {
    if let Some(p) = p {
        write!(f, "{sep}{name} = {:?}", p.display().to_string())?;
        *sep = ", ";
    }
    Ok(())
}

/// The pull endpoint's TLS (`pull_tls`), named as Prometheus' web configuration
/// (`tls_server_config`) names them. Off unless `cert_file` is set. The certificate and key
/// are PEM files, re-read when they change (looked at once a second at most), so a renewed
/// certificate applies without a restart; with `client_ca_file`, every client must present a
/// certificate that CA signed (mutual TLS). Needs the `tls` feature.
///
/// In a file: `pull_tls = { cert_file = "/etc/tsmon/tls.crt", key_file = "/etc/tsmon/tls.key" }`;
/// in the environment, the same inline table or JSON in `TSMON_PULL_TLS`.
///
/// ```
/// use tsmon::settings::Settings;
/// let text = "pull_tls = { cert_file = \"/etc/tls.crt\" }";
/// let err = Settings::default().merge_toml(text).unwrap_err().to_string();
/// assert!(err.contains("key_file"), "{err}");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct PullTls {
    /// The certificate chain (PEM), leaf first.
    pub cert_file: Option<PathBuf>,
    /// The private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
    /// When set, clients must present a certificate signed by one of these CAs (PEM).
    pub client_ca_file: Option<PathBuf>,
}

#[cfg(feature = "settings-file")]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PullTlsTable {
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    client_ca_file: Option<PathBuf>,
}

impl PullTls {
    /// Whether TLS is on.
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.cert_file.is_some()
    }

    #[cfg(feature = "settings-file")]
    pub(super) fn from_json(v: &serde_json::Value) -> Result<Self, String> {
        let t: PullTlsTable = from_table(v)?;
        Ok(PullTls {
            cert_file: t.cert_file,
            key_file: t.key_file,
            client_ca_file: t.client_ca_file,
        })
    }

    pub(super) fn check(&self) -> Result<(), String> {
        match (&self.cert_file, &self.key_file) {
            (Some(_), None) | (None, Some(_)) => {
                return Err("cert_file and key_file go together".into());
            }
            (None, None) if self.client_ca_file.is_some() => {
                return Err("client_ca_file needs cert_file and key_file".into());
            }
            _ => {}
        }
        if self.is_enabled() && !cfg!(feature = "tls") {
            return Err(
                "TLS needs tsmon's `tls` feature, which this binary was built without".into(),
            );
        }
        Ok(())
    }
}

impl fmt::Display for PullTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        f.write_str("{ ")?;
        shown_file(f, &mut sep, "cert_file", self.cert_file.as_ref())?;
        shown_file(f, &mut sep, "key_file", self.key_file.as_ref())?;
        shown_file(f, &mut sep, "client_ca_file", self.client_ca_file.as_ref())?;
        f.write_str(if sep.is_empty() { "}" } else { " }" })
    }
}

/// How push monitors (the Pushgateway and remote-write) reach their receiver: the `push` key,
/// with the names of Prometheus' `remote_write` configuration (`basic_auth`,
/// `authorization`, `headers`, `tls_config`). A file sets it as a table:
///
/// ```toml
/// [push]
/// headers = { "X-Scope-OrgID" = "team-a" }
/// basic_auth = { username = "tsmon", password_file = "/run/secrets/push-password" }
/// # or: authorization = { type = "Bearer", credentials_file = "/run/secrets/token" }
/// tls_config = { ca_file = "/etc/ssl/internal-ca.pem" }
/// ```
///
/// (a `[push]` table goes after the top-level keys), and `TSMON_PUSH` the same as an inline
/// table or JSON: `TSMON_PUSH='{ basic_auth = { username = "u", password_file = "/p" } }'`.
/// Files (`password_file`, `credentials_file`) are re-read when they change (looked at once a
/// second at most), as Prometheus does, so a rotated secret applies without a restart. A
/// receiver that answers 401 or 403 is not retried within the flush; the error is counted in
/// `tsmon/push/unauthorized` and reported.
///
/// ```
/// use tsmon::settings::Settings;
/// let s = Settings::default()
///     .merge_toml("[push]\nbasic_auth = { username = \"u\", password = \"p\" }\nheaders = { X-Team = \"a\" }")
///     .unwrap();
/// assert_eq!(s.push.basic_auth.as_ref().unwrap().username, "u");
/// assert_eq!(s.push.to_string(), "{ basic_auth = { username = \"u\", password = *** }, headers = { X-Team = \"a\" } }");
/// // Two kinds of credentials at once, or a reserved header, are refused.
/// assert!(Settings::default()
///     .merge_toml("[push]\nbasic_auth = { username = \"u\", password = \"p\" }\nauthorization = { credentials = \"t\" }")
///     .is_err());
/// assert!(Settings::default().merge_toml("[push]\nheaders = { Authorization = \"x\" }").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct PushOptions {
    /// HTTP basic auth.
    pub basic_auth: Option<BasicAuth>,
    /// An `Authorization` header of a type (`Bearer` by default) and credentials.
    pub authorization: Option<Authorization>,
    /// Headers sent with every request (reserved ones, such as `Authorization`,
    /// `Content-Type` or `User-Agent`, are refused).
    pub headers: BTreeMap<String, String>,
    /// How the receiver's certificate is checked, and the client's own.
    pub tls_config: TlsConfig,
}

/// HTTP basic auth (`basic_auth`): a user and exactly one of `password`, `password_file`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BasicAuth {
    /// The user.
    pub username: String,
    /// The password.
    pub password: Option<Secret>,
    /// A file holding the password (trimmed).
    pub password_file: Option<PathBuf>,
}

/// An `Authorization: <type> <credentials>` header (`authorization`): exactly one of
/// `credentials`, `credentials_file`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Authorization {
    /// The scheme (`type`); `Bearer` when not given.
    pub kind: String,
    /// The credentials.
    pub credentials: Option<Secret>,
    /// A file holding the credentials (trimmed).
    pub credentials_file: Option<PathBuf>,
}

/// How a push monitor checks its receiver (`tls_config`). Without `ca_file`, the system's
/// roots are trusted (read once, by `rustls-native-certs`); with it, only the CAs in that file
/// (as Prometheus does). Needs the `tls` feature for `https://` URLs.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct TlsConfig {
    /// CA certificates to trust instead of the system's (PEM).
    pub ca_file: Option<PathBuf>,
    /// A client certificate chain to present (PEM), with `key_file`.
    pub cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    pub key_file: Option<PathBuf>,
    /// The name to verify the receiver's certificate against (and to send as SNI), instead of
    /// the URL's host.
    pub server_name: Option<String>,
    /// Accept any certificate. For tests only: anyone on the path can read and change the
    /// traffic.
    pub insecure_skip_verify: bool,
}

#[cfg(feature = "settings-file")]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PushTable {
    basic_auth: Option<BasicAuthTable>,
    authorization: Option<AuthorizationTable>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    tls_config: Option<TlsTable>,
}

#[cfg(feature = "settings-file")]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BasicAuthTable {
    username: String,
    password: Option<String>,
    password_file: Option<PathBuf>,
}

#[cfg(feature = "settings-file")]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthorizationTable {
    #[serde(rename = "type")]
    kind: Option<String>,
    credentials: Option<String>,
    credentials_file: Option<PathBuf>,
}

#[cfg(feature = "settings-file")]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsTable {
    ca_file: Option<PathBuf>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    server_name: Option<String>,
    #[serde(default)]
    insecure_skip_verify: bool,
}

/// Headers a push monitor sets itself, or that would change how the request travels: not
/// for `headers` (Prometheus refuses the same ones).
const RESERVED_HEADERS: &[&str] = &[
    "authorization",
    "host",
    "content-encoding",
    "content-length",
    "content-type",
    "user-agent",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "www-authenticate",
    "accept-encoding",
    "transfer-encoding",
    "te",
    "upgrade",
    "x-prometheus-remote-write-version",
    "x-prometheus-scrape-timeout-seconds",
];

impl PushOptions {
    #[cfg(feature = "settings-file")]
    pub(super) fn from_json(v: &serde_json::Value) -> Result<Self, String> {
        let t: PushTable = from_table(v)?;
        let tls = t.tls_config.unwrap_or(TlsTable {
            ca_file: None,
            cert_file: None,
            key_file: None,
            server_name: None,
            insecure_skip_verify: false,
        });
        Ok(PushOptions {
            basic_auth: t.basic_auth.map(|b| BasicAuth {
                username: b.username,
                password: b.password.map(Secret),
                password_file: b.password_file,
            }),
            authorization: t.authorization.map(|a| Authorization {
                kind: a.kind.unwrap_or_else(|| "Bearer".into()),
                credentials: a.credentials.map(Secret),
                credentials_file: a.credentials_file,
            }),
            headers: t.headers,
            tls_config: TlsConfig {
                ca_file: tls.ca_file,
                cert_file: tls.cert_file,
                key_file: tls.key_file,
                server_name: tls.server_name,
                insecure_skip_verify: tls.insecure_skip_verify,
            },
        })
    }

    /// Checks what each part needs on its own: one kind of credentials, one source for each
    /// secret, headers that are valid and not reserved, a certificate with its key.
    pub(super) fn check(&self) -> Result<(), String> {
        if self.basic_auth.is_some() && self.authorization.is_some() {
            return Err("at most one of basic_auth and authorization".into());
        }
        if let Some(b) = &self.basic_auth {
            if b.username.is_empty() || b.username.contains(':') {
                return Err("basic_auth.username must be non-empty and without ':'".into());
            }
            if b.password.is_some() == b.password_file.is_some() {
                return Err("basic_auth takes exactly one of password and password_file".into());
            }
        }
        if let Some(a) = &self.authorization {
            if a.kind.is_empty()
                || !a
                    .kind
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            {
                return Err(format!(
                    "authorization.type {:?} is not a scheme name",
                    a.kind
                ));
            }
            if a.kind.eq_ignore_ascii_case("basic") {
                return Err("authorization.type Basic: use basic_auth".into());
            }
            if a.credentials.is_some() == a.credentials_file.is_some() {
                return Err(
                    "authorization takes exactly one of credentials and credentials_file".into(),
                );
            }
        }
        for (name, value) in &self.headers {
            if !is_token(name) {
                return Err(format!("headers: {name:?} is not a header name"));
            }
            if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                return Err(format!(
                    "headers: {name} is set by tsmon itself and cannot be given"
                ));
            }
            if !value
                .bytes()
                .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
            {
                return Err(format!(
                    "headers: the value of {name} is not a header value"
                ));
            }
        }
        let tls = &self.tls_config;
        if tls.cert_file.is_some() != tls.key_file.is_some() {
            return Err("tls_config: cert_file and key_file go together".into());
        }
        if tls.server_name.as_deref().is_some_and(str::is_empty) {
            return Err("tls_config.server_name is empty".into());
        }
        let any_tls = tls.ca_file.is_some()
            || tls.cert_file.is_some()
            || tls.server_name.is_some()
            || tls.insecure_skip_verify;
        if any_tls && !cfg!(feature = "tls") {
            return Err(
                "tls_config needs tsmon's `tls` feature, which this binary was built without"
                    .into(),
            );
        }
        Ok(())
    }
}

impl fmt::Display for PushOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        f.write_str("{ ")?;
        if let Some(b) = &self.basic_auth {
            write!(f, "basic_auth = {{ username = {:?}", b.username)?;
            if b.password.is_some() {
                f.write_str(", password = ***")?;
            }
            let mut inner = ", ";
            shown_file(f, &mut inner, "password_file", b.password_file.as_ref())?;
            f.write_str(" }")?;
            sep = ", ";
        }
        if let Some(a) = &self.authorization {
            write!(f, "{sep}authorization = {{ type = {:?}", a.kind)?;
            if a.credentials.is_some() {
                f.write_str(", credentials = ***")?;
            }
            let mut inner = ", ";
            shown_file(
                f,
                &mut inner,
                "credentials_file",
                a.credentials_file.as_ref(),
            )?;
            f.write_str(" }")?;
            sep = ", ";
        }
        if !self.headers.is_empty() {
            write!(f, "{sep}headers = {{ ")?;
            let mut inner = "";
            for (k, v) in &self.headers {
                write!(f, "{inner}{k} = {v:?}")?;
                inner = ", ";
            }
            f.write_str(" }")?;
            sep = ", ";
        }
        let t = &self.tls_config;
        if *t != TlsConfig::default() {
            write!(f, "{sep}tls_config = {{ ")?;
            let mut inner = "";
            shown_file(f, &mut inner, "ca_file", t.ca_file.as_ref())?;
            shown_file(f, &mut inner, "cert_file", t.cert_file.as_ref())?;
            shown_file(f, &mut inner, "key_file", t.key_file.as_ref())?;
            if let Some(n) = &t.server_name {
                write!(f, "{inner}server_name = {n:?}")?;
                inner = ", ";
            }
            if t.insecure_skip_verify {
                write!(f, "{inner}insecure_skip_verify = true")?;
            }
            f.write_str(" }")?;
            sep = ", ";
        }
        f.write_str(if sep.is_empty() { "}" } else { " }" })
    }
}

/// What a push monitor is built with: the `push` key, the queue's bounds, and the time a
/// send may take (from the flush timeout).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushSettings {
    /// `push`.
    pub options: PushOptions,
    /// `push_queue_max_bytes`.
    pub queue_max_bytes: usize,
    /// `push_queue_max_age_sec`.
    pub queue_max_age: Duration,
    /// Four fifths of `flush_timeout_sec`: how long one send may take.
    pub send_budget: Duration,
}

impl Default for PushSettings {
    fn default() -> Self {
        Settings::default().push_settings()
    }
}

impl Settings {
    /// What push monitors are built with.
    #[must_use]
    pub fn push_settings(&self) -> PushSettings {
        PushSettings {
            options: self.push.clone(),
            queue_max_bytes: self.push_queue_max_bytes,
            queue_max_age: self.push_queue_max_age,
            send_budget: self.flush_timeout * 4 / 5,
        }
    }
}
