//! The settings keys, in one table: each key's name in a file, its environment variable, its
//! type and default, how its value is read and checked, and how it is shown. The table makes
//! [`Key`], [`Settings`], [`SettingsLayer`] and every per-key operation, so a new key is one
//! line here (and one row in the docs' table, which a test checks).

use std::fmt;
use std::time::Duration;

use super::DEFAULT_FLUSH_TIMEOUT;
use super::push::PushOptions;
use super::values::{CatalogExposure, MonitorSpec, NativeHistograms, PullAuth, PullTls};
use crate::error::Error;
use crate::store::DEFAULT_MAX_SERIES;

/// A value as a file or variable gives it, before it is checked against its key.
#[cfg_attr(not(feature = "settings-file"), allow(dead_code))]
pub(super) enum Raw {
    Bool(bool),
    Number(f64),
    Text(String),
    /// A table (a TOML table or a JSON object), as JSON.
    #[cfg(feature = "settings-file")]
    Table(serde_json::Value),
    /// An environment variable's text, read as its key's type wants it.
    Env(String),
    Other(String),
}

impl Raw {
    pub(super) fn shown(&self) -> String {
        match self {
            Raw::Bool(b) => b.to_string(),
            Raw::Number(n) => n.to_string(),
            Raw::Text(s) | Raw::Env(s) => format!("{s:?}"),
            #[cfg(feature = "settings-file")]
            Raw::Table(v) => v.to_string(),
            Raw::Other(s) => s.clone(),
        }
    }

    #[cfg(feature = "settings-file")]
    pub(super) fn from_toml(v: &toml::Value) -> Raw {
        match v {
            toml::Value::Boolean(b) => Raw::Bool(*b),
            #[allow(clippy::cast_precision_loss)]
            toml::Value::Integer(i) => Raw::Number(*i as f64),
            toml::Value::Float(f) => Raw::Number(*f),
            toml::Value::String(s) => Raw::Text(s.clone()),
            toml::Value::Datetime(d) => Raw::Other(d.to_string()),
            toml::Value::Array(_) => Raw::Other("an array".into()),
            toml::Value::Table(_) => {
                serde_json::to_value(v).map_or_else(|_| Raw::Other("a table".into()), Raw::Table)
            }
        }
    }

    #[cfg(feature = "settings-file")]
    pub(super) fn from_json(v: &serde_json::Value) -> Raw {
        match v {
            serde_json::Value::Bool(b) => Raw::Bool(*b),
            serde_json::Value::Number(n) => {
                n.as_f64().map_or(Raw::Other(n.to_string()), Raw::Number)
            }
            serde_json::Value::String(s) => Raw::Text(s.clone()),
            serde_json::Value::Object(_) => Raw::Table(v.clone()),
            other => Raw::Other(other.to_string()),
        }
    }
}

// Readers: a raw value into a key's type (the key's range is checked after).

fn boolean(raw: &Raw) -> Result<bool, String> {
    match raw {
        Raw::Bool(b) => Ok(*b),
        Raw::Env(t) => match t.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err("expected true or false".into()),
        },
        _ => Err("expected true or false".into()),
    }
}

fn number(raw: &Raw) -> Option<f64> {
    match raw {
        Raw::Number(v) => Some(*v),
        Raw::Env(t) => t.trim().parse().ok(),
        _ => None,
    }
}

fn seconds(raw: &Raw) -> Result<Duration, String> {
    match number(raw) {
        Some(v) => Duration::try_from_secs_f64(v)
            .map_err(|_| "expected a non-negative number of seconds".to_owned()),
        None => Err("expected a number of seconds".into()),
    }
}

fn count(raw: &Raw) -> Result<usize, String> {
    match number(raw) {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Some(v) if v.fract() == 0.0 && (0.0..=1e15).contains(&v) => Ok(v as usize),
        _ => Err("expected a whole number".into()),
    }
}

fn text<'a>(raw: &'a Raw, example: &str) -> Result<&'a str, String> {
    match raw {
        Raw::Text(t) | Raw::Env(t) => Ok(t),
        _ => Err(format!("expected a string such as {example:?}")),
    }
}

fn settings_error(e: Error) -> String {
    match e {
        Error::InvalidSettings(m) => m,
        other => other.to_string(),
    }
}

fn monitor(raw: &Raw) -> Result<MonitorSpec, String> {
    MonitorSpec::parse(text(raw, "pull")?).map_err(settings_error)
}

fn pull_auth(raw: &Raw) -> Result<PullAuth, String> {
    PullAuth::parse(text(raw, "bearer_file:/path")?).map_err(settings_error)
}

fn native_mode(raw: &Raw) -> Result<NativeHistograms, String> {
    match raw {
        Raw::Bool(b) => Ok(if *b {
            NativeHistograms::Tsmon
        } else {
            NativeHistograms::Off
        }),
        Raw::Text(t) | Raw::Env(t) => NativeHistograms::parse(t),
        _ => Err("expected \"off\", \"tsmon\" or \"all\"".into()),
    }
}

fn exposure(raw: &Raw) -> Result<CatalogExposure, String> {
    match raw {
        Raw::Bool(true) => Ok(CatalogExposure::On),
        Raw::Bool(false) => Ok(CatalogExposure::Off),
        Raw::Text(t) if t.trim().eq_ignore_ascii_case("auto") => Ok(CatalogExposure::Auto),
        Raw::Env(t) => match boolean(raw) {
            Ok(b) => exposure(&Raw::Bool(b)),
            Err(_) => exposure(&Raw::Text(t.clone())),
        },
        _ => Err("expected true, false or \"auto\"".into()),
    }
}

/// A table: a TOML table or JSON object in a file; in a variable, a JSON object or a TOML
/// inline table (`{ key = "value" }`).
#[cfg(feature = "settings-file")]
fn table(raw: &Raw) -> Result<serde_json::Value, String> {
    match raw {
        Raw::Table(v) => Ok(v.clone()),
        Raw::Env(t) | Raw::Text(t) => {
            let t = t.trim();
            if let Ok(v @ serde_json::Value::Object(_)) = serde_json::from_str(t) {
                return Ok(v);
            }
            let doc: toml::Table = toml::from_str(&format!("v = {t}")).map_err(|e| {
                format!(
                    "expected a table such as {{ key = \"value\" }}: {}",
                    e.message().trim()
                )
            })?;
            match doc.get("v") {
                Some(v @ toml::Value::Table(_)) => {
                    serde_json::to_value(v).map_err(|e| e.to_string())
                }
                _ => Err("expected a table such as { key = \"value\" }".into()),
            }
        }
        _ => Err("expected a table".into()),
    }
}

#[cfg(feature = "settings-file")]
fn push(raw: &Raw) -> Result<PushOptions, String> {
    PushOptions::from_json(&table(raw)?)
}

#[cfg(feature = "settings-file")]
fn pull_tls(raw: &Raw) -> Result<PullTls, String> {
    PullTls::from_json(&table(raw)?)
}

/// Table values need a table parser: without the `settings-file` feature there is none (and
/// no monitor that reads these keys).
#[cfg(not(feature = "settings-file"))]
const NO_TABLES: &str = "table values need tsmon's `settings-file` feature, which this binary \
                         was built without";

#[cfg(not(feature = "settings-file"))]
fn push(_: &Raw) -> Result<PushOptions, String> {
    Err(NO_TABLES.into())
}

#[cfg(not(feature = "settings-file"))]
fn pull_tls(_: &Raw) -> Result<PullTls, String> {
    Err(NO_TABLES.into())
}

// Checks: a key's range (for values read from text and for layers made in code).
mod check;
use check::*;

// How a value is shown (in refusals, logs and the health report; never a secret).

fn show<T: fmt::Display>(v: &T) -> String {
    v.to_string()
}

fn show_secs(d: &Duration) -> String {
    d.as_secs_f64().to_string()
}

fn show_quoted<T: fmt::Display>(v: &T) -> String {
    format!("{:?}", v.to_string())
}

macro_rules! keys {
    ($(
        $(#[$doc:meta])*
        $variant:ident $field:ident: $ty:ty = $name:literal, $env:literal,
            default $default:expr, read $read:ident, check $check:ident, show $show:ident;
    )*) => {
        /// How many settings keys there are.
        pub const KEYS: usize = [$($name),*].len();

        /// A settings key.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Key {
            $(
                #[doc = concat!("`", $name, "`.")]
                $variant,
            )*
        }

        impl Key {
            /// Every key, in the order of the settings table.
            pub const ALL: [Key; KEYS] = [$(Key::$variant),*];

            /// The key's name in a settings file.
            ///
            /// ```
            /// assert_eq!(tsmon::settings::Key::FlushInterval.name(), "flush_interval_sec");
            /// ```
            #[must_use]
            pub fn name(self) -> &'static str {
                match self {
                    $(Key::$variant => $name,)*
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
                    $(Key::$variant => $env,)*
                }
            }
        }

        /// The settings in force.
        #[derive(Clone, Debug, PartialEq)]
        pub struct Settings {
            $(
                $(#[$doc])*
                pub $field: $ty,
            )*
        }

        impl Default for Settings {
            fn default() -> Self {
                Settings {
                    $($field: $default,)*
                }
            }
        }

        /// One layer of settings: the keys it sets, `None` for the others (see the
        /// [module docs](super) for how layers combine).
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
            $(
                #[doc = concat!("`", $name, "`.")]
                pub $field: Option<$ty>,
            )*
        }

        impl SettingsLayer {
            /// The layer that sets every key to the value of `settings` (the timeout included).
            #[must_use]
            pub fn all_of(settings: &Settings) -> Self {
                SettingsLayer {
                    $($field: Some(settings.$field.clone()),)*
                }
            }

            /// The keys whose values differ between `from` and `to`, with `to`'s values: what a
            /// change from `from` to `to` sets.
            ///
            /// ```
            /// use tsmon::settings::{Settings, SettingsLayer};
            /// let to = Settings { flush_workers: 8, ..Settings::default() };
            /// let layer = SettingsLayer::changes(&Settings::default(), &to);
            /// assert_eq!(layer, SettingsLayer { flush_workers: Some(8), ..SettingsLayer::default() });
            /// ```
            #[must_use]
            pub fn changes(from: &Settings, to: &Settings) -> Self {
                SettingsLayer {
                    $($field: (from.$field != to.$field).then(|| to.$field.clone()),)*
                }
            }

            /// Whether the layer sets `key`.
            #[must_use]
            pub fn sets(&self, key: Key) -> bool {
                match key {
                    $(Key::$variant => self.$field.is_some(),)*
                }
            }

            /// The value of `key` as text, if the layer sets it (secrets as `***`).
            #[must_use]
            pub fn shown(&self, key: Key) -> Option<String> {
                match key {
                    $(Key::$variant => self.$field.as_ref().map($show),)*
                }
            }

            /// Removes `key` from the layer.
            pub fn unset(&mut self, key: Key) {
                match key {
                    $(Key::$variant => self.$field = None,)*
                }
            }

            /// Copies `key` from `other` (set or not).
            pub(crate) fn copy_key(&mut self, other: &SettingsLayer, key: Key) {
                match key {
                    $(Key::$variant => self.$field.clone_from(&other.$field),)*
                }
            }

            /// Sets `key` from a raw value, read and checked on its own.
            pub(super) fn set(&mut self, key: Key, raw: &Raw) -> Result<(), String> {
                match key {
                    $(Key::$variant => {
                        let v = $read(raw)?;
                        $check(&v)?;
                        self.$field = Some(v);
                    })*
                }
                Ok(())
            }

            /// Each key's value checked on its own (for layers made in code): the keys that
            /// are out of range, with the reasons.
            #[must_use]
            pub fn check(&self) -> Vec<(Key, String)> {
                let mut bad = Vec::new();
                $(
                    if let Some(v) = &self.$field
                        && let Err(why) = $check(v)
                    {
                        bad.push((Key::$variant, why));
                    }
                )*
                bad
            }

            /// Every key this layer sets, put over `s`.
            fn assign(&self, s: &mut Settings) {
                $(
                    if let Some(v) = &self.$field {
                        s.$field.clone_from(v);
                    }
                )*
            }
        }
    };
}

keys! {
    /// Whether tsmon collects and flushes.
    Enabled enabled: bool = "enabled", "TSMON_ENABLED",
        default true, read boolean, check any, show show;
    /// Time between flushes.
    FlushInterval flush_interval: Duration = "flush_interval_sec", "TSMON_FLUSH_INTERVAL_SEC",
        default Duration::from_secs(60), read seconds, check check_interval, show show_secs;
    /// A flush's time limit; below the interval.
    FlushTimeout flush_timeout: Duration = "flush_timeout_sec", "TSMON_FLUSH_TIMEOUT_SEC",
        default DEFAULT_FLUSH_TIMEOUT, read seconds, check check_timeout, show show_secs;
    /// How many chunks are sent at once.
    FlushWorkers flush_workers: usize = "num_flush_workers", "TSMON_NUM_FLUSH_WORKERS",
        default 4, read count, check check_workers, show show;
    /// Whether runtime figures are reported at each flush.
    ReportRuntimeStats report_runtime_stats: bool = "report_runtime_stats", "TSMON_REPORT_RUNTIME_STATS",
        default true, read boolean, check any, show show;
    /// Whether OpenMetrics expositions carry each counter's and histogram's `_created` sample.
    OpenmetricsCreated openmetrics_created: bool = "openmetrics_created", "TSMON_OPENMETRICS_CREATED",
        default false, read boolean, check any, show show;
    /// Where metrics go.
    Monitor monitor: MonitorSpec = "monitor", "TSMON_MONITOR",
        default MonitorSpec::None, read monitor, check any, show show_quoted;
    /// The per-metric series cap for metrics whose declaration sets none.
    MaxSeries max_series: usize = "max_series", "TSMON_MAX_SERIES",
        default DEFAULT_MAX_SERIES, read count, check check_max_series, show show;
    /// The pull endpoint's limit on the time to receive a request's headers.
    PullHeaderTimeout pull_header_timeout: Duration = "pull_header_timeout_sec", "TSMON_PULL_HEADER_TIMEOUT_SEC",
        default Duration::from_secs(10), read seconds, check check_pull_timeout, show show_secs;
    /// The pull endpoint's limit on an idle keep-alive connection.
    PullIdleTimeout pull_idle_timeout: Duration = "pull_idle_timeout_sec", "TSMON_PULL_IDLE_TIMEOUT_SEC",
        default Duration::from_secs(60), read seconds, check check_pull_timeout, show show_secs;
    /// Connections the pull endpoint serves at once.
    PullMaxConnections pull_max_connections: usize = "pull_max_connections", "TSMON_PULL_MAX_CONNECTIONS",
        default 256, read count, check check_pull_connections, show show;
    /// Whether the pull endpoint writes the target's labels once, in a `target_info` family,
    /// instead of on every series.
    PullTargetInfo pull_target_info: bool = "pull_target_info", "TSMON_PULL_TARGET_INFO",
        default false, read boolean, check any, show show;
    /// Whether native histograms carry classic buckets too (at powers of two), for
    /// receivers without native support.
    NativeClassicBuckets native_classic_buckets: bool = "native_classic_buckets", "TSMON_NATIVE_CLASSIC_BUCKETS",
        default false, read boolean, check any, show show;
    /// Which classic distributions are kept as native histograms.
    NativeHistograms native_histograms: NativeHistograms = "native_histograms", "TSMON_NATIVE_HISTOGRAMS",
        default NativeHistograms::Off, read native_mode, check any, show show_quoted;
    /// Where the pull endpoint serves `/metrics/catalog`.
    PullCatalog pull_catalog: CatalogExposure = "pull_catalog", "TSMON_PULL_CATALOG",
        default CatalogExposure::Auto, read exposure, check any, show show;
    /// Where the pull endpoint serves the status page (`/`, `/tsmon` and `/tsmon/api/…`).
    PullStatusPage pull_status_page: CatalogExposure = "pull_status_page", "TSMON_PULL_STATUS_PAGE",
        default CatalogExposure::Auto, read exposure, check any, show show;
    /// How far back the status page's charts reach (0: no charts, current values only).
    StatusHistory status_history: Duration = "status_history_sec", "TSMON_STATUS_HISTORY_SEC",
        default Duration::from_secs(900), read seconds, check check_status_history, show show_secs;
    /// The most series the status page's charts follow.
    StatusMaxSeries status_max_series: usize = "status_max_series", "TSMON_STATUS_MAX_SERIES",
        default 10_000, read count, check check_status_series, show show;
    /// The credentials the pull endpoint asks for.
    PullAuth pull_auth: PullAuth = "pull_auth", "TSMON_PULL_AUTH",
        default PullAuth::None, read pull_auth, check any, show show_quoted;
    /// The pull endpoint's TLS certificate (off when none).
    PullTls pull_tls: PullTls = "pull_tls", "TSMON_PULL_TLS",
        default PullTls::default(), read pull_tls, check check_pull_tls, show show;
    /// How push monitors (Pushgateway, remote-write) reach their receiver: credentials,
    /// headers, TLS.
    Push push: PushOptions = "push", "TSMON_PUSH",
        default PushOptions::default(), read push, check check_push, show show;
    /// The most bytes of requests a push monitor keeps while its receiver is down.
    PushQueueMaxBytes push_queue_max_bytes: usize = "push_queue_max_bytes", "TSMON_PUSH_QUEUE_MAX_BYTES",
        default 64 << 20, read count, check check_queue_bytes, show show;
    /// How long a push monitor keeps a request while its receiver is down.
    PushQueueMaxAge push_queue_max_age: Duration = "push_queue_max_age_sec", "TSMON_PUSH_QUEUE_MAX_AGE_SEC",
        default Duration::from_secs(15 * 60), read seconds, check check_queue_age, show show_secs;
}

impl Key {
    pub(super) fn from_name(name: &str) -> Option<Key> {
        Key::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl SettingsLayer {
    /// `base` with this layer's keys over it. When the layer sets the interval and not the
    /// timeout, a timeout of `base` that was the default for its interval, or that is not
    /// below the new interval, follows the new interval
    /// ([`default_flush_timeout`](super::default_flush_timeout)).
    #[must_use]
    pub fn over(&self, base: &Settings) -> Settings {
        let mut s = base.clone();
        let follows = self.flush_interval.filter(|v| {
            self.flush_timeout.is_none()
                && (s.flush_timeout == super::default_flush_timeout(s.flush_interval)
                    || s.flush_timeout >= *v)
        });
        self.assign(&mut s);
        if let Some(v) = follows {
            s.flush_timeout = super::default_flush_timeout(v);
        }
        s
    }

    /// Whether the layer sets no key.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        Key::ALL.iter().all(|k| !self.sets(*k))
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
}
