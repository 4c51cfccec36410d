//! Settings that change without a restart (Go's `server/tsmon` settings).
//!
//! | key (file, JSON or TOML) | environment | default | meaning |
//! |---|---|---|---|
//! | `enabled` | `TSMON_ENABLED` | `true` | off: writes are dropped (one relaxed load each) and the monitor is closed |
//! | `flush_interval_sec` | `TSMON_FLUSH_INTERVAL_SEC` | `60` | time between flushes, 1 to 86,400 (one day) |
//! | `flush_timeout_sec` | `TSMON_FLUSH_TIMEOUT_SEC` | the smaller of 5 and half the interval | a flush's time limit, above 0 and below the interval |
//! | `num_flush_workers` | `TSMON_NUM_FLUSH_WORKERS` | `4` | chunks sent at once, 1 to 64 |
//! | `report_runtime_stats` | `TSMON_REPORT_RUNTIME_STATS` | `true` | report process and runtime figures at each flush |
//! | `monitor` | `TSMON_MONITOR` | `"none"` (`"debug"` in dev mode) | where metrics go: see [`MonitorSpec`] |
//! | `max_series` | `TSMON_MAX_SERIES` | `10000` | the per-metric series cap for metrics that set none, 1 to 10,000,000 |
//! | `pull_header_timeout_sec` | `TSMON_PULL_HEADER_TIMEOUT_SEC` | `10` | the pull endpoint closes a connection whose request headers take longer (slow clients) |
//! | `pull_idle_timeout_sec` | `TSMON_PULL_IDLE_TIMEOUT_SEC` | `60` | the pull endpoint closes a keep-alive connection idle this long |
//! | `pull_max_connections` | `TSMON_PULL_MAX_CONNECTIONS` | `256` | connections the pull endpoint serves at once (never more than a quarter of the open-file limit); more are closed at once |
//! | `pull_auth` | `TSMON_PULL_AUTH` | `"none"` | credentials the pull endpoint asks for: see [`PullAuth`] |
//! | `pull_catalog` | `TSMON_PULL_CATALOG` | `"auto"` | serve `/metrics/catalog`: `auto` on loopback addresses only, `true` everywhere, `false` nowhere |
//!
//! # Layers and precedence
//!
//! Each source is a [`SettingsLayer`]: the keys it sets, and nothing about the others. From the
//! lowest to the highest, **embedded defaults < builder < settings file < environment < API**
//! ([`SettingsSource`]). A key's value is the one of the highest layer that sets it, and each
//! layer keeps its keys until that same layer changes them: an edit of the watched file
//! replaces the file layer only, so what the environment or
//! [`State::apply_settings`](crate::State::apply_settings) set stays in force (the API layer
//! holds the keys that calls changed; [`State::clear_api_settings`](crate::State::clear_api_settings)
//! drops it). A key that a file edit removes falls back to the layer below.
//!
//! # Refusals
//!
//! Every key is checked on its own: one bad value (a typo in `TSMON_NUM_FLUSH_WORKERS`, an
//! interval of `1e19`) refuses that key alone, with the reason; the layer's other keys apply,
//! and the refused key keeps the value that layer had given it before (or the layer below's).
//! A file that cannot be read or parsed is refused whole, and its previous contents stay in
//! force. An unknown key in the file or an unknown `TSMON_*` variable is refused by name, with
//! the nearest known one. A default follows the values the user set (the timeout defaults to
//! the smaller of 5 s and half the interval), so only a conflict between two values that
//! layers set is refused, naming both; the key of the layer being applied is the one refused.
//! The API is all or nothing: [`State::apply_settings`](crate::State::apply_settings) returns
//! an error and changes nothing if any key it changes is refused. Every refusal is counted in
//! `tsmon/settings/refused{source,key}`, logged, written once to stderr when no `tracing`
//! subscriber would show it, and listed in [`State::health`](crate::State::health).
//!
//! ```
//! use tsmon::settings::{MonitorSpec, Settings};
//! let s = Settings::default()
//!     .merge_toml("flush_interval_sec = 30\nmonitor = \"debug\"")
//!     .unwrap();
//! assert_eq!(s.flush_interval.as_secs(), 30);
//! assert_eq!(s.monitor, MonitorSpec::Debug { path: None });
//! // A timeout not below the interval is refused.
//! assert!(s.merge_toml("flush_timeout_sec = 30").is_err());
//! // An interval of one second alone is fine: the default timeout follows it.
//! let fast = Settings::default().merge_toml("flush_interval_sec = 1").unwrap();
//! assert_eq!(fast.flush_timeout.as_millis(), 500);
//! ```

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::Error;
use crate::store::DEFAULT_MAX_SERIES;

/// The embedded default settings file: every key with its default value.
pub const DEFAULT_FILE: &str = r#"# tsmon settings (TOML; JSON with the same keys works too).
enabled = true
flush_interval_sec = 60
# flush_timeout_sec: by default the smaller of 5 and half of flush_interval_sec.
num_flush_workers = 4
report_runtime_stats = true
monitor = "none"
max_series = 10000
pull_header_timeout_sec = 10
pull_idle_timeout_sec = 60
pull_max_connections = 256
pull_catalog = "auto"
pull_auth = "none"
"#;

/// The longest flush interval accepted: one day.
pub const MAX_FLUSH_INTERVAL: Duration = Duration::from_secs(86_400);
/// The flush timeout when no layer sets one and the interval is 10 s or more.
pub const DEFAULT_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);
/// The most flush workers accepted.
pub const MAX_FLUSH_WORKERS: usize = 64;
/// The largest per-metric series cap accepted.
pub const MAX_MAX_SERIES: usize = 10_000_000;
/// The most connections the pull endpoint may be told to serve at once.
pub const MAX_PULL_CONNECTIONS: usize = 65_536;

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
            ("pull", arg) => {
                let addr = arg.unwrap_or(DEFAULT_PULL_ADDR);
                addr.parse()
                    .map(|addr| MonitorSpec::Pull { addr })
                    .map_err(|e| invalid(format!("bad address {addr:?}: {e}")))
            }
            ("pushgateway", Some(url)) => {
                if url.starts_with("http://") || url.starts_with("https://") {
                    Ok(MonitorSpec::Pushgateway {
                        url: url.trim_end_matches('/').to_owned(),
                    })
                } else {
                    Err(invalid(
                        "the Pushgateway URL must start with http:// or https://".into(),
                    ))
                }
            }
            ("remote_write", Some(url)) => {
                if url.starts_with("http://") || url.starts_with("https://") {
                    Ok(MonitorSpec::RemoteWrite { url: url.to_owned() })
                } else {
                    Err(invalid("the remote-write URL must start with http:// or https://".into()))
                }
            }
            _ => Err(invalid(
                "expected none, debug, debug:<file>, pull[:<addr>], pushgateway:<url> or remote_write:<url>"
                    .into(),
            )),
        }
    }
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

/// The settings in force.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// Whether tsmon collects and flushes.
    pub enabled: bool,
    /// Time between flushes.
    pub flush_interval: Duration,
    /// A flush's time limit; below the interval.
    pub flush_timeout: Duration,
    /// How many chunks are sent at once.
    pub flush_workers: usize,
    /// Whether runtime figures are reported at each flush.
    pub report_runtime_stats: bool,
    /// Where metrics go.
    pub monitor: MonitorSpec,
    /// The per-metric series cap for metrics whose declaration sets none.
    pub max_series: usize,
    /// The pull endpoint's limit on the time to receive a request's headers.
    pub pull_header_timeout: Duration,
    /// The pull endpoint's limit on an idle keep-alive connection.
    pub pull_idle_timeout: Duration,
    /// Connections the pull endpoint serves at once.
    pub pull_max_connections: usize,
    /// Where the pull endpoint serves `/metrics/catalog`.
    pub pull_catalog: CatalogExposure,
    /// The credentials the pull endpoint asks for.
    pub pull_auth: PullAuth,
}

impl Settings {
    /// The pull endpoint's options.
    #[must_use]
    pub fn pull_options(&self) -> PullOptions {
        PullOptions {
            header_timeout: self.pull_header_timeout,
            idle_timeout: self.pull_idle_timeout,
            max_connections: self.pull_max_connections,
            catalog: self.pull_catalog,
            auth: self.pull_auth.clone(),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            enabled: true,
            flush_interval: Duration::from_secs(60),
            flush_timeout: DEFAULT_FLUSH_TIMEOUT,
            flush_workers: 4,
            report_runtime_stats: true,
            monitor: MonitorSpec::None,
            max_series: DEFAULT_MAX_SERIES,
            pull_header_timeout: Duration::from_secs(10),
            pull_idle_timeout: Duration::from_secs(60),
            pull_max_connections: 256,
            pull_catalog: CatalogExposure::Auto,
            pull_auth: PullAuth::None,
        }
    }
}

/// The flush timeout that follows an interval no layer gave a timeout for: the smaller of
/// [`DEFAULT_FLUSH_TIMEOUT`] and half the interval.
///
/// ```
/// use std::time::Duration;
/// use tsmon::settings::default_flush_timeout;
/// assert_eq!(default_flush_timeout(Duration::from_secs(60)), Duration::from_secs(5));
/// assert_eq!(default_flush_timeout(Duration::from_secs(4)), Duration::from_secs(2));
/// ```
#[must_use]
pub fn default_flush_timeout(interval: Duration) -> Duration {
    DEFAULT_FLUSH_TIMEOUT.min(interval / 2)
}

/// How many settings keys there are.
pub const KEYS: usize = 12;

/// A settings key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    /// `enabled`.
    Enabled,
    /// `flush_interval_sec`.
    FlushInterval,
    /// `flush_timeout_sec`.
    FlushTimeout,
    /// `num_flush_workers`.
    FlushWorkers,
    /// `report_runtime_stats`.
    ReportRuntimeStats,
    /// `monitor`.
    Monitor,
    /// `max_series`.
    MaxSeries,
    /// `pull_header_timeout_sec`.
    PullHeaderTimeout,
    /// `pull_idle_timeout_sec`.
    PullIdleTimeout,
    /// `pull_max_connections`.
    PullMaxConnections,
    /// `pull_catalog`.
    PullCatalog,
    /// `pull_auth`.
    PullAuth,
}

impl Key {
    /// Every key, in the order of the settings table.
    pub const ALL: [Key; KEYS] = [
        Key::Enabled,
        Key::FlushInterval,
        Key::FlushTimeout,
        Key::FlushWorkers,
        Key::ReportRuntimeStats,
        Key::Monitor,
        Key::MaxSeries,
        Key::PullHeaderTimeout,
        Key::PullIdleTimeout,
        Key::PullMaxConnections,
        Key::PullCatalog,
        Key::PullAuth,
    ];

    /// The key's name in a settings file.
    ///
    /// ```
    /// assert_eq!(tsmon::settings::Key::FlushInterval.name(), "flush_interval_sec");
    /// ```
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Key::Enabled => "enabled",
            Key::FlushInterval => "flush_interval_sec",
            Key::FlushTimeout => "flush_timeout_sec",
            Key::FlushWorkers => "num_flush_workers",
            Key::ReportRuntimeStats => "report_runtime_stats",
            Key::Monitor => "monitor",
            Key::MaxSeries => "max_series",
            Key::PullHeaderTimeout => "pull_header_timeout_sec",
            Key::PullIdleTimeout => "pull_idle_timeout_sec",
            Key::PullMaxConnections => "pull_max_connections",
            Key::PullCatalog => "pull_catalog",
            Key::PullAuth => "pull_auth",
        }
    }

    /// The environment variable that sets the key.
    ///
    /// ```
    /// assert_eq!(tsmon::settings::Key::Monitor.env_var(), "TSMON_MONITOR");
    /// ```
    #[must_use]
    pub fn env_var(self) -> &'static str {
        match self {
            Key::Enabled => "TSMON_ENABLED",
            Key::FlushInterval => "TSMON_FLUSH_INTERVAL_SEC",
            Key::FlushTimeout => "TSMON_FLUSH_TIMEOUT_SEC",
            Key::FlushWorkers => "TSMON_NUM_FLUSH_WORKERS",
            Key::ReportRuntimeStats => "TSMON_REPORT_RUNTIME_STATS",
            Key::Monitor => "TSMON_MONITOR",
            Key::MaxSeries => "TSMON_MAX_SERIES",
            Key::PullHeaderTimeout => "TSMON_PULL_HEADER_TIMEOUT_SEC",
            Key::PullIdleTimeout => "TSMON_PULL_IDLE_TIMEOUT_SEC",
            Key::PullMaxConnections => "TSMON_PULL_MAX_CONNECTIONS",
            Key::PullCatalog => "TSMON_PULL_CATALOG",
            Key::PullAuth => "TSMON_PULL_AUTH",
        }
    }

    fn from_name(name: &str) -> Option<Key> {
        Key::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The `TSMON_*` variables tsmon reads besides the settings keys (the target, the instance, the
/// settings file): none of them is refused as unknown.
pub const OTHER_ENV_VARS: &[&str] = &[
    "TSMON_SETTINGS_FILE",
    "TSMON_DEV_MODE",
    "TSMON_INSTANCE_ID",
    "TSMON_TASK_NUM",
    "TSMON_SERVICE",
    "TSMON_JOB",
    "TSMON_DATA_CENTER",
    "TSMON_HOST",
    "TSMON_GIT_COMMIT",
];

/// Where settings came from, lowest precedence first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum SettingsSource {
    /// The embedded defaults (and dev mode's debug monitor).
    Default,
    /// The builder ([`StateBuilder::with_settings`](crate::StateBuilder::with_settings)).
    Builder,
    /// The settings file.
    File,
    /// `TSMON_*` environment variables.
    Environment,
    /// [`State::apply_settings`](crate::State::apply_settings) and
    /// [`State::apply_layer`](crate::State::apply_layer).
    Api,
}

impl SettingsSource {
    /// Every source, lowest precedence first.
    pub const ALL: [SettingsSource; 5] = [
        SettingsSource::Default,
        SettingsSource::Builder,
        SettingsSource::File,
        SettingsSource::Environment,
        SettingsSource::Api,
    ];

    /// The name used in logs and in the `source` field of `tsmon/settings/refused`.
    ///
    /// ```
    /// assert_eq!(tsmon::settings::SettingsSource::Environment.as_str(), "environment");
    /// ```
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            SettingsSource::Default => "default",
            SettingsSource::Builder => "builder",
            SettingsSource::File => "file",
            SettingsSource::Environment => "environment",
            SettingsSource::Api => "api",
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            SettingsSource::Default => 0,
            SettingsSource::Builder => 1,
            SettingsSource::File => 2,
            SettingsSource::Environment => 3,
            SettingsSource::Api => 4,
        }
    }
}

impl fmt::Display for SettingsSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A setting that was refused, and why.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Refusal {
    /// Where it came from.
    pub source: SettingsSource,
    /// The key, as that source names it (`num_flush_workers`, `TSMON_NUM_FLUSH_WORKERS`), or
    /// the file's path when the whole file was refused.
    pub key: String,
    /// The value given, as written.
    pub value: String,
    /// Why it was refused.
    pub reason: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.value.is_empty() {
            write!(f, "{} {}: {}", self.source, self.key, self.reason)
        } else {
            write!(
                f,
                "{} {} = {}: {}",
                self.source, self.key, self.value, self.reason
            )
        }
    }
}

/// One layer of settings: the keys it sets, `None` for the others (see the
/// [module docs](self) for how layers combine).
///
/// ```
/// use std::time::Duration;
/// use tsmon::settings::{Settings, SettingsLayer, SettingsSource};
/// let (layer, refused) = SettingsLayer::from_env(
///     [
///         ("TSMON_FLUSH_INTERVAL_SEC".to_string(), "1".to_string()),
///         ("TSMON_NUM_FLUSH_WORKERS".to_string(), "0".to_string()),
///     ],
/// );
/// assert_eq!(layer.flush_interval, Some(Duration::from_secs(1)));
/// assert_eq!(layer.flush_workers, None, "the bad variable refuses only itself");
/// assert_eq!(refused[0].key, "TSMON_NUM_FLUSH_WORKERS");
/// assert_eq!(refused[0].source, SettingsSource::Environment);
/// let s = layer.over(&Settings::default());
/// assert_eq!(s.flush_interval, Duration::from_secs(1));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SettingsLayer {
    /// `enabled`.
    pub enabled: Option<bool>,
    /// `flush_interval_sec`.
    pub flush_interval: Option<Duration>,
    /// `flush_timeout_sec`.
    pub flush_timeout: Option<Duration>,
    /// `num_flush_workers`.
    pub flush_workers: Option<usize>,
    /// `report_runtime_stats`.
    pub report_runtime_stats: Option<bool>,
    /// `monitor`.
    pub monitor: Option<MonitorSpec>,
    /// `max_series`.
    pub max_series: Option<usize>,
    /// `pull_header_timeout_sec`.
    pub pull_header_timeout: Option<Duration>,
    /// `pull_idle_timeout_sec`.
    pub pull_idle_timeout: Option<Duration>,
    /// `pull_max_connections`.
    pub pull_max_connections: Option<usize>,
    /// `pull_catalog`.
    pub pull_catalog: Option<CatalogExposure>,
    /// `pull_auth`.
    pub pull_auth: Option<PullAuth>,
}

/// A value as a file or variable gives it, before it is checked against its key.
enum Raw {
    Bool(bool),
    Number(f64),
    Text(String),
    Other(String),
}

impl Raw {
    fn shown(&self) -> String {
        match self {
            Raw::Bool(b) => b.to_string(),
            Raw::Number(n) => n.to_string(),
            Raw::Text(s) => format!("{s:?}"),
            Raw::Other(s) => s.clone(),
        }
    }

    fn from_toml(v: &toml::Value) -> Raw {
        match v {
            toml::Value::Boolean(b) => Raw::Bool(*b),
            #[allow(clippy::cast_precision_loss)]
            toml::Value::Integer(i) => Raw::Number(*i as f64),
            toml::Value::Float(f) => Raw::Number(*f),
            toml::Value::String(s) => Raw::Text(s.clone()),
            toml::Value::Datetime(d) => Raw::Other(d.to_string()),
            toml::Value::Array(_) => Raw::Other("an array".into()),
            toml::Value::Table(_) => Raw::Other("a table".into()),
        }
    }

    fn from_json(v: &serde_json::Value) -> Raw {
        match v {
            serde_json::Value::Bool(b) => Raw::Bool(*b),
            serde_json::Value::Number(n) => {
                n.as_f64().map_or(Raw::Other(n.to_string()), Raw::Number)
            }
            serde_json::Value::String(s) => Raw::Text(s.clone()),
            other => Raw::Other(other.to_string()),
        }
    }

    /// An environment variable's text, read as the key's type wants it.
    fn from_env(key: Key, text: &str) -> Raw {
        let t = text.trim();
        match key {
            Key::Enabled | Key::ReportRuntimeStats | Key::PullCatalog => {
                match t.to_ascii_lowercase().as_str() {
                    "1" | "true" | "yes" | "on" => Raw::Bool(true),
                    "0" | "false" | "no" | "off" => Raw::Bool(false),
                    _ => Raw::Text(text.to_owned()),
                }
            }
            Key::Monitor | Key::PullAuth => Raw::Text(text.to_owned()),
            _ => t
                .parse()
                .map_or_else(|_| Raw::Text(text.to_owned()), Raw::Number),
        }
    }
}

fn check_interval(d: Duration) -> Result<Duration, String> {
    if d < Duration::from_secs(1) || d > MAX_FLUSH_INTERVAL {
        Err("it must be between 1 and 86400 seconds (one day)".into())
    } else {
        Ok(d)
    }
}

fn check_timeout(d: Duration) -> Result<Duration, String> {
    if d.is_zero() || d >= MAX_FLUSH_INTERVAL {
        Err("it must be above 0 and below the flush interval".into())
    } else {
        Ok(d)
    }
}

fn check_workers(n: usize) -> Result<usize, String> {
    if (1..=MAX_FLUSH_WORKERS).contains(&n) {
        Ok(n)
    } else {
        Err(format!("it must be between 1 and {MAX_FLUSH_WORKERS}"))
    }
}

fn check_max_series(n: usize) -> Result<usize, String> {
    if (1..=MAX_MAX_SERIES).contains(&n) {
        Ok(n)
    } else {
        Err(format!("it must be between 1 and {MAX_MAX_SERIES}"))
    }
}

fn check_pull_timeout(d: Duration) -> Result<Duration, String> {
    if d < Duration::from_millis(100) || d > Duration::from_secs(3600) {
        Err("it must be between 0.1 and 3600 seconds".into())
    } else {
        Ok(d)
    }
}

fn check_pull_connections(n: usize) -> Result<usize, String> {
    if (1..=MAX_PULL_CONNECTIONS).contains(&n) {
        Ok(n)
    } else {
        Err(format!("it must be between 1 and {MAX_PULL_CONNECTIONS}"))
    }
}

fn exposure(raw: &Raw) -> Result<CatalogExposure, String> {
    match raw {
        Raw::Bool(true) => Ok(CatalogExposure::On),
        Raw::Bool(false) => Ok(CatalogExposure::Off),
        Raw::Text(t) if t.trim().eq_ignore_ascii_case("auto") => Ok(CatalogExposure::Auto),
        _ => Err("expected true, false or \"auto\"".into()),
    }
}

fn seconds(raw: &Raw) -> Result<Duration, String> {
    match raw {
        Raw::Number(v) => Duration::try_from_secs_f64(*v)
            .map_err(|_| "expected a non-negative number of seconds".to_owned()),
        _ => Err("expected a number of seconds".into()),
    }
}

fn count(raw: &Raw) -> Result<usize, String> {
    match raw {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Raw::Number(v) if v.fract() == 0.0 && *v >= 0.0 && *v <= 1e15 => Ok(*v as usize),
        _ => Err("expected a whole number".into()),
    }
}

fn boolean(raw: &Raw) -> Result<bool, String> {
    match raw {
        Raw::Bool(b) => Ok(*b),
        _ => Err("expected true or false".into()),
    }
}

/// The known name nearest to `name` (by edit distance), if it is near enough to be a typo.
fn nearest<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let cur = row[j + 1];
                row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
                prev = cur;
            }
        }
        row[b.len()]
    }
    known
        .map(|k| {
            (
                distance(&name.to_ascii_lowercase(), &k.to_ascii_lowercase()),
                k,
            )
        })
        .filter(|(d, k)| *d <= (k.len() / 3).max(2))
        .min()
        .map(|(_, k)| k)
}

fn unknown_reason(name: &str, known: impl Iterator<Item = &'static str>) -> String {
    match nearest(name, known) {
        Some(k) => format!("unknown; did you mean {k}?"),
        None => "unknown".into(),
    }
}

impl SettingsLayer {
    /// The layer that sets every key to the value of `settings` (the timeout included).
    #[must_use]
    pub fn all_of(settings: &Settings) -> Self {
        SettingsLayer {
            enabled: Some(settings.enabled),
            flush_interval: Some(settings.flush_interval),
            flush_timeout: Some(settings.flush_timeout),
            flush_workers: Some(settings.flush_workers),
            report_runtime_stats: Some(settings.report_runtime_stats),
            monitor: Some(settings.monitor.clone()),
            max_series: Some(settings.max_series),
            pull_header_timeout: Some(settings.pull_header_timeout),
            pull_idle_timeout: Some(settings.pull_idle_timeout),
            pull_max_connections: Some(settings.pull_max_connections),
            pull_catalog: Some(settings.pull_catalog),
            pull_auth: Some(settings.pull_auth.clone()),
        }
    }

    /// The keys whose values differ between `from` and `to`, with `to`'s values: what a change
    /// from `from` to `to` sets.
    ///
    /// ```
    /// use tsmon::settings::{Settings, SettingsLayer};
    /// let to = Settings { flush_workers: 8, ..Settings::default() };
    /// let layer = SettingsLayer::changes(&Settings::default(), &to);
    /// assert_eq!(layer, SettingsLayer { flush_workers: Some(8), ..SettingsLayer::default() });
    /// ```
    #[must_use]
    pub fn changes(from: &Settings, to: &Settings) -> Self {
        fn differ<T: PartialEq + Clone>(a: &T, b: &T) -> Option<T> {
            (a != b).then(|| b.clone())
        }
        SettingsLayer {
            enabled: differ(&from.enabled, &to.enabled),
            flush_interval: differ(&from.flush_interval, &to.flush_interval),
            flush_timeout: differ(&from.flush_timeout, &to.flush_timeout),
            flush_workers: differ(&from.flush_workers, &to.flush_workers),
            report_runtime_stats: differ(&from.report_runtime_stats, &to.report_runtime_stats),
            monitor: differ(&from.monitor, &to.monitor),
            max_series: differ(&from.max_series, &to.max_series),
            pull_header_timeout: differ(&from.pull_header_timeout, &to.pull_header_timeout),
            pull_idle_timeout: differ(&from.pull_idle_timeout, &to.pull_idle_timeout),
            pull_max_connections: differ(&from.pull_max_connections, &to.pull_max_connections),
            pull_catalog: differ(&from.pull_catalog, &to.pull_catalog),
            pull_auth: differ(&from.pull_auth, &to.pull_auth),
        }
    }

    /// Whether the layer sets `key`.
    #[must_use]
    pub fn sets(&self, key: Key) -> bool {
        match key {
            Key::Enabled => self.enabled.is_some(),
            Key::FlushInterval => self.flush_interval.is_some(),
            Key::FlushTimeout => self.flush_timeout.is_some(),
            Key::FlushWorkers => self.flush_workers.is_some(),
            Key::ReportRuntimeStats => self.report_runtime_stats.is_some(),
            Key::Monitor => self.monitor.is_some(),
            Key::MaxSeries => self.max_series.is_some(),
            Key::PullHeaderTimeout => self.pull_header_timeout.is_some(),
            Key::PullIdleTimeout => self.pull_idle_timeout.is_some(),
            Key::PullMaxConnections => self.pull_max_connections.is_some(),
            Key::PullCatalog => self.pull_catalog.is_some(),
            Key::PullAuth => self.pull_auth.is_some(),
        }
    }

    /// Whether the layer sets no key.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        Key::ALL.iter().all(|k| !self.sets(*k))
    }

    /// The value of `key` as text, if the layer sets it.
    #[must_use]
    pub fn shown(&self, key: Key) -> Option<String> {
        let secs = |d: &Duration| d.as_secs_f64().to_string();
        match key {
            Key::Enabled => self.enabled.map(|v| v.to_string()),
            Key::FlushInterval => self.flush_interval.as_ref().map(secs),
            Key::FlushTimeout => self.flush_timeout.as_ref().map(secs),
            Key::FlushWorkers => self.flush_workers.map(|v| v.to_string()),
            Key::ReportRuntimeStats => self.report_runtime_stats.map(|v| v.to_string()),
            Key::Monitor => self
                .monitor
                .as_ref()
                .map(|m| format!("{:?}", m.to_string())),
            Key::MaxSeries => self.max_series.map(|v| v.to_string()),
            Key::PullHeaderTimeout => self.pull_header_timeout.as_ref().map(secs),
            Key::PullIdleTimeout => self.pull_idle_timeout.as_ref().map(secs),
            Key::PullMaxConnections => self.pull_max_connections.map(|v| v.to_string()),
            Key::PullCatalog => self.pull_catalog.map(|v| v.to_string()),
            Key::PullAuth => self
                .pull_auth
                .as_ref()
                .map(|v| format!("{:?}", v.to_string())),
        }
    }

    /// Removes `key` from the layer.
    pub fn unset(&mut self, key: Key) {
        match key {
            Key::Enabled => self.enabled = None,
            Key::FlushInterval => self.flush_interval = None,
            Key::FlushTimeout => self.flush_timeout = None,
            Key::FlushWorkers => self.flush_workers = None,
            Key::ReportRuntimeStats => self.report_runtime_stats = None,
            Key::Monitor => self.monitor = None,
            Key::MaxSeries => self.max_series = None,
            Key::PullHeaderTimeout => self.pull_header_timeout = None,
            Key::PullIdleTimeout => self.pull_idle_timeout = None,
            Key::PullMaxConnections => self.pull_max_connections = None,
            Key::PullCatalog => self.pull_catalog = None,
            Key::PullAuth => self.pull_auth = None,
        }
    }

    /// Copies `key` from `other` (set or not).
    pub(crate) fn copy_key(&mut self, other: &SettingsLayer, key: Key) {
        match key {
            Key::Enabled => self.enabled = other.enabled,
            Key::FlushInterval => self.flush_interval = other.flush_interval,
            Key::FlushTimeout => self.flush_timeout = other.flush_timeout,
            Key::FlushWorkers => self.flush_workers = other.flush_workers,
            Key::ReportRuntimeStats => self.report_runtime_stats = other.report_runtime_stats,
            Key::Monitor => self.monitor.clone_from(&other.monitor),
            Key::MaxSeries => self.max_series = other.max_series,
            Key::PullHeaderTimeout => self.pull_header_timeout = other.pull_header_timeout,
            Key::PullIdleTimeout => self.pull_idle_timeout = other.pull_idle_timeout,
            Key::PullMaxConnections => self.pull_max_connections = other.pull_max_connections,
            Key::PullCatalog => self.pull_catalog = other.pull_catalog,
            Key::PullAuth => self.pull_auth.clone_from(&other.pull_auth),
        }
    }

    /// `other`'s keys over this layer's.
    #[must_use]
    pub fn merged(&self, other: &SettingsLayer) -> SettingsLayer {
        let mut out = self.clone();
        for key in Key::ALL {
            if other.sets(key) {
                out.copy_key(other, key);
            }
        }
        out
    }

    /// Sets `key` from a raw value, checked on its own.
    fn set(&mut self, key: Key, raw: &Raw) -> Result<(), String> {
        match key {
            Key::Enabled => self.enabled = Some(boolean(raw)?),
            Key::ReportRuntimeStats => self.report_runtime_stats = Some(boolean(raw)?),
            Key::FlushInterval => self.flush_interval = Some(check_interval(seconds(raw)?)?),
            Key::FlushTimeout => self.flush_timeout = Some(check_timeout(seconds(raw)?)?),
            Key::FlushWorkers => self.flush_workers = Some(check_workers(count(raw)?)?),
            Key::MaxSeries => self.max_series = Some(check_max_series(count(raw)?)?),
            Key::PullHeaderTimeout => {
                self.pull_header_timeout = Some(check_pull_timeout(seconds(raw)?)?);
            }
            Key::PullIdleTimeout => {
                self.pull_idle_timeout = Some(check_pull_timeout(seconds(raw)?)?);
            }
            Key::PullMaxConnections => {
                self.pull_max_connections = Some(check_pull_connections(count(raw)?)?);
            }
            Key::PullCatalog => self.pull_catalog = Some(exposure(raw)?),
            Key::PullAuth => match raw {
                Raw::Text(t) => {
                    self.pull_auth = Some(PullAuth::parse(t).map_err(|e| match e {
                        Error::InvalidSettings(m) => m,
                        other => other.to_string(),
                    })?);
                }
                _ => return Err("expected a string such as \"bearer_file:/path\"".into()),
            },
            Key::Monitor => match raw {
                Raw::Text(s) => {
                    self.monitor = Some(MonitorSpec::parse(s).map_err(|e| match e {
                        Error::InvalidSettings(m) => m,
                        other => other.to_string(),
                    })?);
                }
                _ => return Err("expected a string such as \"pull\" or \"none\"".into()),
            },
        }
        Ok(())
    }

    /// Each key's value checked on its own (for layers made in code): the keys that are out
    /// of range, with the reasons.
    #[must_use]
    pub fn check(&self) -> Vec<(Key, String)> {
        let mut bad = Vec::new();
        let mut note = |key: Key, r: Result<(), String>| {
            if let Err(why) = r {
                bad.push((key, why));
            }
        };
        if let Some(v) = self.flush_interval {
            note(Key::FlushInterval, check_interval(v).map(drop));
        }
        if let Some(v) = self.flush_timeout {
            note(Key::FlushTimeout, check_timeout(v).map(drop));
        }
        if let Some(v) = self.flush_workers {
            note(Key::FlushWorkers, check_workers(v).map(drop));
        }
        if let Some(v) = self.max_series {
            note(Key::MaxSeries, check_max_series(v).map(drop));
        }
        if let Some(v) = self.pull_header_timeout {
            note(Key::PullHeaderTimeout, check_pull_timeout(v).map(drop));
        }
        if let Some(v) = self.pull_idle_timeout {
            note(Key::PullIdleTimeout, check_pull_timeout(v).map(drop));
        }
        if let Some(v) = self.pull_max_connections {
            note(Key::PullMaxConnections, check_pull_connections(v).map(drop));
        }
        bad
    }

    /// Reads a settings file's text: JSON if it (trimmed) starts with `{`, TOML otherwise. Each
    /// key is checked on its own: a bad or unknown key is refused alone (in the returned list,
    /// with [`SettingsSource::File`]) and left out of the layer.
    ///
    /// ```
    /// use tsmon::settings::SettingsLayer;
    /// let (layer, refused) = SettingsLayer::from_text("num_flush_workers = 8\nflush_intervall_sec = 3").unwrap();
    /// assert_eq!(layer.flush_workers, Some(8));
    /// assert!(refused[0].reason.contains("did you mean flush_interval_sec"), "{}", refused[0]);
    /// assert!(SettingsLayer::from_text("enabled = ").is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSettings`] for an empty text or one that does not parse (then nothing of
    /// it applies).
    pub fn from_text(text: &str) -> Result<(SettingsLayer, Vec<Refusal>), Error> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(Error::InvalidSettings("the file is empty".into()));
        }
        let entries: Vec<(String, Raw)> = if trimmed.starts_with('{') {
            let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(trimmed)
                .map_err(|e| Error::InvalidSettings(format!("JSON: {e}")))?;
            map.iter()
                .map(|(k, v)| (k.clone(), Raw::from_json(v)))
                .collect()
        } else {
            let table: toml::Table = toml::from_str(text)
                .map_err(|e| Error::InvalidSettings(format!("TOML: {}", e.message())))?;
            table
                .iter()
                .map(|(k, v)| (k.clone(), Raw::from_toml(v)))
                .collect()
        };
        let mut layer = SettingsLayer::default();
        let mut refused = Vec::new();
        for (name, raw) in entries {
            let outcome = match Key::from_name(&name) {
                Some(key) => layer.set(key, &raw),
                None => Err(unknown_reason(&name, Key::ALL.iter().map(|k| k.name()))),
            };
            if let Err(reason) = outcome {
                refused.push(Refusal {
                    source: SettingsSource::File,
                    key: name,
                    value: raw.shown(),
                    reason,
                });
            }
        }
        Ok((layer, refused))
    }

    /// Reads the `TSMON_*` variables of `vars` (pass `std::env::vars()` for the process
    /// environment). Each variable is checked on its own: a bad one, or an unknown `TSMON_*`
    /// name, is refused alone (in the returned list) and left out of the layer. The
    /// variables of [`OTHER_ENV_VARS`] are not settings and are skipped.
    pub fn from_env(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> (SettingsLayer, Vec<Refusal>) {
        let mut layer = SettingsLayer::default();
        let mut refused = Vec::new();
        for (name, value) in vars {
            if !name.starts_with("TSMON_") || OTHER_ENV_VARS.contains(&name.as_str()) {
                continue;
            }
            let outcome = match Key::ALL.into_iter().find(|k| k.env_var() == name) {
                Some(key) => layer.set(key, &Raw::from_env(key, &value)),
                None => Err(unknown_reason(
                    &name,
                    Key::ALL
                        .iter()
                        .map(|k| k.env_var())
                        .chain(OTHER_ENV_VARS.iter().copied()),
                )),
            };
            if let Err(reason) = outcome {
                refused.push(Refusal {
                    source: SettingsSource::Environment,
                    key: name,
                    value: format!("{value:?}"),
                    reason,
                });
            }
        }
        (layer, refused)
    }

    /// `base` with this layer's keys over it. When the layer sets the interval and not the
    /// timeout, a timeout of `base` that was the default for its interval, or that is not
    /// below the new interval, follows the new interval ([`default_flush_timeout`]).
    #[must_use]
    pub fn over(&self, base: &Settings) -> Settings {
        let mut s = base.clone();
        if let Some(v) = self.enabled {
            s.enabled = v;
        }
        if let Some(v) = self.flush_interval {
            let was_default = s.flush_timeout == default_flush_timeout(s.flush_interval);
            s.flush_interval = v;
            if self.flush_timeout.is_none() && (was_default || s.flush_timeout >= v) {
                s.flush_timeout = default_flush_timeout(v);
            }
        }
        if let Some(v) = self.flush_timeout {
            s.flush_timeout = v;
        }
        if let Some(v) = self.flush_workers {
            s.flush_workers = v;
        }
        if let Some(v) = self.report_runtime_stats {
            s.report_runtime_stats = v;
        }
        if let Some(v) = &self.monitor {
            s.monitor = v.clone();
        }
        if let Some(v) = self.max_series {
            s.max_series = v;
        }
        if let Some(v) = self.pull_header_timeout {
            s.pull_header_timeout = v;
        }
        if let Some(v) = self.pull_idle_timeout {
            s.pull_idle_timeout = v;
        }
        if let Some(v) = self.pull_max_connections {
            s.pull_max_connections = v;
        }
        if let Some(v) = self.pull_catalog {
            s.pull_catalog = v;
        }
        if let Some(v) = &self.pull_auth {
            s.pull_auth = v.clone();
        }
        s
    }
}

/// The settings a stack of layers gives (lowest first; the first is the defaults), with the
/// source of each key and the refusals of conflicting keys. `incoming` is the layer being
/// applied, whose keys are the ones refused in a conflict; `previous` is what that layer held
/// before, which a refused key goes back to.
pub(crate) fn resolve(
    layers: &mut [SettingsLayer; 5],
    incoming: SettingsSource,
    previous: &SettingsLayer,
) -> (Settings, [SettingsSource; KEYS], Vec<Refusal>) {
    let mut refused = Vec::new();
    let mut reverted: Vec<Key> = Vec::new();
    loop {
        let top = |key: Key| {
            (0..layers.len())
                .rev()
                .find(|&i| layers[i].sets(key))
                .unwrap_or(0)
        };
        let ii = top(Key::FlushInterval);
        let interval = layers[ii].flush_interval.unwrap_or(Duration::from_secs(60));
        let ti = top(Key::FlushTimeout);
        let conflict = layers[ti]
            .flush_timeout
            .filter(|t| *t >= interval)
            .map(|t| (t, ti));
        let Some((timeout, ti)) = conflict else {
            let mut s = Settings {
                flush_timeout: default_flush_timeout(interval),
                ..Settings::default()
            };
            let mut origins = [SettingsSource::Default; KEYS];
            for (n, key) in Key::ALL.into_iter().enumerate() {
                let i = top(key);
                if layers[i].sets(key) {
                    let mut one = SettingsLayer::default();
                    one.copy_key(&layers[i], key);
                    // Keys one at a time, so no timeout is derived from an interval here.
                    let keep = s.flush_timeout;
                    s = one.over(&s);
                    if key != Key::FlushTimeout {
                        s.flush_timeout = keep;
                    }
                    origins[n] = SettingsSource::ALL[i];
                }
            }
            return (s, origins, refused);
        };
        let source = |i: usize| SettingsSource::ALL[i];
        let inc = incoming.index();
        let timeout_key = ti == inc || (ii != inc && ti >= ii);
        let (layer, key) = if timeout_key {
            (ti, Key::FlushTimeout)
        } else {
            (ii, Key::FlushInterval)
        };
        let (name, env) = (key.name(), key.env_var());
        let shown_key = if source(layer) == SettingsSource::Environment {
            env.to_owned()
        } else {
            name.to_owned()
        };
        let reason = if timeout_key {
            format!(
                "the flush timeout must be below flush_interval_sec = {} (from the {})",
                interval.as_secs_f64(),
                source(ii)
            )
        } else {
            format!(
                "the flush interval must be above flush_timeout_sec = {} (from the {})",
                timeout.as_secs_f64(),
                source(ti)
            )
        };
        refused.push(Refusal {
            source: source(layer),
            key: shown_key,
            value: layers[layer].shown(key).unwrap_or_default(),
            reason,
        });
        if layer == inc && !reverted.contains(&key) && previous.sets(key) {
            reverted.push(key);
            layers[layer].copy_key(previous, key);
        } else {
            layers[layer].unset(key);
        }
    }
}

impl Settings {
    /// Checks the settings: each key's range, and the timeout below the interval.
    ///
    /// ```
    /// let mut s = tsmon::settings::Settings::default();
    /// s.flush_workers = 0;
    /// assert!(s.validate().unwrap_err().to_string().contains("num_flush_workers"));
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSettings`] with every problem found.
    pub fn validate(&self) -> Result<(), Error> {
        let mut problems: Vec<String> = SettingsLayer::all_of(self)
            .check()
            .into_iter()
            .map(|(key, why)| {
                format!(
                    "{key} = {}: {why}",
                    SettingsLayer::all_of(self).shown(key).unwrap_or_default()
                )
            })
            .collect();
        if self.flush_timeout >= self.flush_interval {
            problems.push(format!(
                "flush_timeout_sec = {}: it must be below flush_interval_sec ({})",
                self.flush_timeout.as_secs_f64(),
                self.flush_interval.as_secs_f64()
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidSettings(problems.join("; ")))
        }
    }

    fn with_layer(&self, layer: &SettingsLayer, refused: Vec<Refusal>) -> Result<Self, Error> {
        if !refused.is_empty() {
            let all: Vec<String> = refused.iter().map(ToString::to_string).collect();
            return Err(Error::InvalidSettings(all.join("; ")));
        }
        let s = layer.over(self);
        s.validate()?;
        Ok(s)
    }

    /// These settings with the keys of a TOML document applied over them, validated (strictly:
    /// any refused key is an error).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSettings`] for a syntax error, an unknown key, a value of the wrong type
    /// or settings that do not validate.
    pub fn merge_toml(&self, text: &str) -> Result<Self, Error> {
        if text.trim_start().starts_with('{') {
            return Err(Error::InvalidSettings(
                "TOML: expected a key, found {".into(),
            ));
        }
        self.merge_text(text)
    }

    /// These settings with the keys of a JSON object applied over them, validated.
    ///
    /// ```
    /// let s = tsmon::settings::Settings::default().merge_json(r#"{"enabled": false}"#).unwrap();
    /// assert!(!s.enabled);
    /// ```
    ///
    /// # Errors
    ///
    /// As [`merge_toml`](Self::merge_toml).
    pub fn merge_json(&self, text: &str) -> Result<Self, Error> {
        if !text.trim_start().starts_with('{') {
            return Err(Error::InvalidSettings("JSON: expected an object".into()));
        }
        self.merge_text(text)
    }

    /// These settings with a settings file applied: JSON if the file (trimmed) starts with `{`,
    /// TOML otherwise. An empty or half-written file is an error, as is a missing one.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSettings`] naming the file.
    pub fn merge_file(&self, path: &std::path::Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::InvalidSettings(format!("settings file {}: {e}", path.display()))
        })?;
        self.merge_text(&text)
            .map_err(|e| Error::InvalidSettings(format!("settings file {}: {e}", path.display())))
    }

    /// As [`merge_file`](Self::merge_file), from the file's text.
    ///
    /// # Errors
    ///
    /// As [`merge_toml`](Self::merge_toml); an empty text is an error too.
    pub fn merge_text(&self, text: &str) -> Result<Self, Error> {
        let (layer, refused) = SettingsLayer::from_text(text)?;
        self.with_layer(&layer, refused)
    }

    /// These settings with the `TSMON_*` variables of `vars` applied (pass
    /// `std::env::vars()` for the process environment), strictly: any refused variable is an
    /// error. (A State reads the environment per variable instead: see [`SettingsLayer::from_env`].)
    ///
    /// ```
    /// let vars = [("TSMON_FLUSH_INTERVAL_SEC".to_string(), "15".to_string())];
    /// let s = tsmon::settings::Settings::default().merge_env(vars).unwrap();
    /// assert_eq!(s.flush_interval.as_secs(), 15);
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSettings`] naming the variable.
    pub fn merge_env(
        &self,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, Error> {
        let (layer, refused) = SettingsLayer::from_env(vars);
        self.with_layer(&layer, refused)
    }
}

crate::metric! {
    /// Settings refused, by where they came from (builder, file, environment, api) and the key (or variable, or file) refused.
    pub static REFUSED: Counter(source: String, key: String) = "tsmon/settings/refused";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_file_is_the_default() {
        assert_eq!(
            Settings::default().merge_toml(DEFAULT_FILE).unwrap(),
            Settings::default()
        );
    }

    #[test]
    fn bad_input_is_refused_with_the_reason() {
        let s = Settings::default();
        for (text, needle) in [
            ("", "empty"),
            ("enabled = ", "TOML"),
            ("{\"enabled\": tru", "JSON"),
            ("flush_interval = 10", "did you mean flush_interval_sec"),
            ("flush_interval_sec = 0.5", "between 1 and 86400"),
            ("flush_interval_sec = 1e19", "between 1 and 86400"),
            ("flush_timeout_sec = 0", "above 0"),
            ("num_flush_workers = 0", "between 1 and 64"),
            ("num_flush_workers = 2.5", "whole number"),
            ("max_series = 100000000", "between 1 and"),
            ("enabled = \"yes\"", "true or false"),
            ("flush_interval_sec = 10\nflush_timeout_sec = 10", "below"),
            ("num_flush_workers = 100", "between 1 and 64"),
            ("monitor = \"carrier-pigeon\"", "expected none"),
            ("monitor = \"pull:not-an-address\"", "bad address"),
            ("max_series = 0", "between 1 and"),
            ("flush_interval_sec = -3", "seconds"),
        ] {
            let err = s.merge_text(text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text:?}: {err}");
        }
        let err = s
            .merge_env([("TSMON_ENABLED".into(), "maybe".into())])
            .unwrap_err()
            .to_string();
        assert!(err.contains("TSMON_ENABLED"), "{err}");
    }

    #[test]
    fn layers_apply_in_order() {
        let s = Settings::default()
            .merge_json(r#"{"flush_interval_sec": 20, "monitor": "debug:/tmp/x"}"#)
            .unwrap()
            .merge_env([
                ("TSMON_FLUSH_INTERVAL_SEC".into(), "30".into()),
                ("OTHER".into(), "ignored".into()),
            ])
            .unwrap();
        assert_eq!(s.flush_interval, Duration::from_secs(30));
        assert_eq!(
            s.monitor,
            MonitorSpec::Debug {
                path: Some("/tmp/x".into())
            }
        );
        assert_eq!(
            MonitorSpec::parse(&s.monitor.to_string()).unwrap(),
            s.monitor
        );
    }
}
