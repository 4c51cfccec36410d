//! The values of the settings keys that are more than a number: where metrics go, the pull
//! endpoint's options and credentials, how push monitors reach their receiver.

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

/// Which distributions declared with classic buckets are kept as native histograms instead
/// (the `native_histograms` setting): one series each instead of one per bucket, for
/// receivers that take native histograms (Prometheus with `--enable-feature=native-histograms`
/// scraping the protobuf format, or remote-write). They get schema 3 (buckets that grow by
/// 1.09) and the default bucket limit. A change applies to the series made after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum NativeHistograms {
    /// None: every distribution has the buckets it declares (the default).
    #[default]
    Off,
    /// tsmon's own: the HTTP and gRPC layers', `#[tsmon::instrument]`'s and tsmon's
    /// self-metrics' distributions.
    Tsmon,
    /// Every cumulative distribution.
    All,
}

impl NativeHistograms {
    /// `"off"`, `"tsmon"` or `"all"` (or a boolean: `false` is off, `true` tsmon).
    ///
    /// ```
    /// use tsmon::settings::NativeHistograms;
    /// assert_eq!(NativeHistograms::parse("tsmon"), Ok(NativeHistograms::Tsmon));
    /// assert_eq!(NativeHistograms::parse("false"), Ok(NativeHistograms::Off));
    /// assert!(NativeHistograms::parse("some").is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// A message naming the accepted values.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "off" | "false" | "0" | "none" => Ok(NativeHistograms::Off),
            "tsmon" | "true" | "1" => Ok(NativeHistograms::Tsmon),
            "all" => Ok(NativeHistograms::All),
            _ => Err("expected \"off\", \"tsmon\" or \"all\"".into()),
        }
    }
}

impl fmt::Display for NativeHistograms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NativeHistograms::Off => "off",
            NativeHistograms::Tsmon => "tsmon",
            NativeHistograms::All => "all",
        })
    }
}

/// A secret: shown as `***` in `Debug`, `Display`, logs and [`State::health`](crate::State::health).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret(pub(super) String);

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
    /// `pull_status_page`.
    pub status_page: CatalogExposure,
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
    /// An OpenTelemetry (OTLP/HTTP, protobuf) receiver at this URL (feature `otlp`).
    Otlp {
        /// The URL, such as `http://127.0.0.1:4318/v1/metrics`.
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
            ("otlp", _) if !cfg!(feature = "otlp") => Err(invalid(needs_feature("otlp"))),
            ("otlp", Some(url)) => {
                check_url(url, "OTLP").map_err(invalid)?;
                Ok(MonitorSpec::Otlp { url: url.to_owned() })
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
                "expected none, debug, debug:<file>, pull[:<addr>], pushgateway:<url>, remote_write:<url> or otlp:<url>"
                    .into(),
            )),
        }
    }
}

/// Why a monitor kind is refused in a binary built without it.
pub(super) fn needs_feature(feature: &str) -> String {
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
            MonitorSpec::Otlp { url } => write!(f, "otlp:{url}"),
        }
    }
}

/// An HTTP token (RFC 9110): what a header name may be.
pub(super) fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Refuses anything but a table of `T`'s known fields.
#[cfg(feature = "settings-file")]
pub(super) fn from_table<T: serde::de::DeserializeOwned>(
    v: &serde_json::Value,
) -> Result<T, String> {
    T::deserialize(v).map_err(|e| e.to_string())
}

pub(super) fn shown_file(
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
