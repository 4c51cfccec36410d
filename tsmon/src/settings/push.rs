//! The `push` key's value: how push monitors (the Pushgateway and remote-write) reach their
//! receiver (credentials, headers, TLS), in Prometheus' `remote_write` names.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

#[cfg(feature = "settings-file")]
use serde::Deserialize;

use super::Settings;
#[cfg(feature = "settings-file")]
use super::values::from_table;
use super::values::{Secret, is_token, shown_file};

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
    /// `native_classic_buckets`.
    pub native_classic: bool,
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
            native_classic: self.native_classic_buckets,
        }
    }
}
