//! Settings that change without a restart (Go's `server/tsmon` settings).
//!
//! | key (file, JSON or TOML) | environment | default | meaning |
//! |---|---|---|---|
//! | `enabled` | `TSMON_ENABLED` | `true` | off: writes are dropped (one relaxed load each) and the monitor is closed |
//! | `flush_interval_sec` | `TSMON_FLUSH_INTERVAL_SEC` | `60` | time between flushes, at least 1 |
//! | `flush_timeout_sec` | `TSMON_FLUSH_TIMEOUT_SEC` | `5` | a flush's time limit, below the interval |
//! | `num_flush_workers` | `TSMON_NUM_FLUSH_WORKERS` | `4` | chunks sent at once, 1 to 64 |
//! | `report_runtime_stats` | `TSMON_REPORT_RUNTIME_STATS` | `true` | report process and runtime figures at each flush |
//! | `monitor` | `TSMON_MONITOR` | `"none"` (`"debug"` in dev mode) | where metrics go: see [`MonitorSpec`] |
//! | `max_series` | `TSMON_MAX_SERIES` | `10000` | the per-metric series cap for metrics that set none |
//!
//! Layers, each over the one before: the embedded defaults ([`Settings::default`], also given
//! as the file [`DEFAULT_FILE`]), the builder, the settings file (`TSMON_SETTINGS_FILE`, watched
//! for changes), the environment. [`State::apply_settings`](crate::State::apply_settings) replaces
//! the settings in force at run time. Settings that do not validate are refused with an
//! [`Error::InvalidSettings`] saying why; the previous ones stay in force, and the self-metric
//! `tsmon/settings/refused` counts the refusal by source.
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
//! ```

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::error::Error;
use crate::store::DEFAULT_MAX_SERIES;

/// The embedded default settings file: every key with its default value.
pub const DEFAULT_FILE: &str = r#"# tsmon settings (TOML; JSON with the same keys works too).
enabled = true
flush_interval_sec = 60
flush_timeout_sec = 5
num_flush_workers = 4
report_runtime_stats = true
monitor = "none"
max_series = 10000
"#;

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
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            enabled: true,
            flush_interval: Duration::from_secs(60),
            flush_timeout: Duration::from_secs(5),
            flush_workers: 4,
            report_runtime_stats: true,
            monitor: MonitorSpec::None,
            max_series: DEFAULT_MAX_SERIES,
        }
    }
}

/// The file form: every key optional, unknown keys refused (a typo is an error, not a default).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Layer {
    enabled: Option<bool>,
    flush_interval_sec: Option<f64>,
    flush_timeout_sec: Option<f64>,
    num_flush_workers: Option<usize>,
    report_runtime_stats: Option<bool>,
    monitor: Option<String>,
    max_series: Option<usize>,
}

fn seconds(key: &str, v: f64) -> Result<Duration, Error> {
    Duration::try_from_secs_f64(v)
        .map_err(|_| Error::InvalidSettings(format!("{key} = {v}: not a number of seconds")))
}

impl Settings {
    /// Checks the settings.
    ///
    /// ```
    /// let mut s = tsmon::settings::Settings::default();
    /// s.flush_workers = 0;
    /// assert!(s.validate().unwrap_err().to_string().contains("num_flush_workers"));
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSettings`] with the first problem found.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |why: String| Err(Error::InvalidSettings(why));
        if self.flush_interval < Duration::from_secs(1) {
            return bad(format!(
                "flush_interval_sec = {}: it must be at least 1",
                self.flush_interval.as_secs_f64()
            ));
        }
        if self.flush_timeout.is_zero() || self.flush_timeout >= self.flush_interval {
            return bad(format!(
                "flush_timeout_sec = {}: it must be above 0 and below flush_interval_sec ({})",
                self.flush_timeout.as_secs_f64(),
                self.flush_interval.as_secs_f64()
            ));
        }
        if !(1..=64).contains(&self.flush_workers) {
            return bad(format!(
                "num_flush_workers = {}: it must be between 1 and 64",
                self.flush_workers
            ));
        }
        if self.max_series == 0 {
            return bad("max_series = 0: it must be at least 1".into());
        }
        Ok(())
    }

    fn apply(mut self, layer: Layer) -> Result<Self, Error> {
        if let Some(v) = layer.enabled {
            self.enabled = v;
        }
        if let Some(v) = layer.flush_interval_sec {
            self.flush_interval = seconds("flush_interval_sec", v)?;
        }
        if let Some(v) = layer.flush_timeout_sec {
            self.flush_timeout = seconds("flush_timeout_sec", v)?;
        }
        if let Some(v) = layer.num_flush_workers {
            self.flush_workers = v;
        }
        if let Some(v) = layer.report_runtime_stats {
            self.report_runtime_stats = v;
        }
        if let Some(v) = layer.monitor {
            self.monitor = MonitorSpec::parse(&v)?;
        }
        if let Some(v) = layer.max_series {
            self.max_series = v;
        }
        self.validate()?;
        Ok(self)
    }

    /// These settings with the keys of a TOML document applied over them, validated.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSettings`] for a syntax error, an unknown key, a value of the wrong type
    /// or settings that do not validate.
    pub fn merge_toml(&self, text: &str) -> Result<Self, Error> {
        let layer: Layer = toml::from_str(text)
            .map_err(|e| Error::InvalidSettings(format!("TOML: {}", e.message())))?;
        self.clone().apply(layer)
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
        let layer: Layer =
            serde_json::from_str(text).map_err(|e| Error::InvalidSettings(format!("JSON: {e}")))?;
        self.clone().apply(layer)
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
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(Error::InvalidSettings("the file is empty".into()));
        }
        if trimmed.starts_with('{') {
            self.merge_json(trimmed)
        } else {
            self.merge_toml(text)
        }
    }

    /// These settings with the `TSMON_*` variables of `vars` applied (pass
    /// `std::env::vars()` for the process environment).
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
        let mut layer = Layer::default();
        for (key, value) in vars {
            let bad = |why: &str| {
                Error::InvalidSettings(format!("environment variable {key}={value:?}: {why}"))
            };
            let boolean = || match value.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Ok(true),
                "0" | "false" | "no" | "off" => Ok(false),
                _ => Err(bad("expected true or false")),
            };
            match key.as_str() {
                "TSMON_ENABLED" => layer.enabled = Some(boolean()?),
                "TSMON_REPORT_RUNTIME_STATS" => layer.report_runtime_stats = Some(boolean()?),
                "TSMON_FLUSH_INTERVAL_SEC" => {
                    layer.flush_interval_sec =
                        Some(value.trim().parse().map_err(|_| bad("expected seconds"))?);
                }
                "TSMON_FLUSH_TIMEOUT_SEC" => {
                    layer.flush_timeout_sec =
                        Some(value.trim().parse().map_err(|_| bad("expected seconds"))?);
                }
                "TSMON_NUM_FLUSH_WORKERS" => {
                    layer.num_flush_workers =
                        Some(value.trim().parse().map_err(|_| bad("expected a number"))?);
                }
                "TSMON_MAX_SERIES" => {
                    layer.max_series =
                        Some(value.trim().parse().map_err(|_| bad("expected a number"))?);
                }
                "TSMON_MONITOR" => layer.monitor = Some(value.clone()),
                _ => {}
            }
        }
        self.clone().apply(layer)
    }
}

crate::metric! {
    /// Settings refused because they did not validate, by where they came from (builder, file, environment, api).
    pub static REFUSED: Counter(source: String) = "tsmon/settings/refused";
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
            ("flush_interval = 10", "unknown field"),
            ("flush_interval_sec = 0.5", "at least 1"),
            ("flush_interval_sec = 10\nflush_timeout_sec = 10", "below"),
            ("num_flush_workers = 100", "between 1 and 64"),
            ("monitor = \"carrier-pigeon\"", "expected none"),
            ("monitor = \"pull:not-an-address\"", "bad address"),
            ("max_series = 0", "at least 1"),
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
