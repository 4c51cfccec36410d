//! Settings that change without a restart (Go's `server/tsmon` settings).
//!
//! | key (file, JSON or TOML) | environment | default | meaning |
//! |---|---|---|---|
//! | `enabled` | `TSMON_ENABLED` | `true` | off: writes are dropped (one relaxed load each) and the monitor is closed |
//! | `flush_interval_sec` | `TSMON_FLUSH_INTERVAL_SEC` | `60` | time between flushes, 1 to 86,400 (one day) |
//! | `flush_timeout_sec` | `TSMON_FLUSH_TIMEOUT_SEC` | the smaller of 5 and half the interval | a flush's time limit, above 0 and below the interval |
//! | `num_flush_workers` | `TSMON_NUM_FLUSH_WORKERS` | `4` | chunks sent at once, 1 to 64 |
//! | `report_runtime_stats` | `TSMON_REPORT_RUNTIME_STATS` | `true` | report process and runtime figures at each flush |
//! | `openmetrics_created` | `TSMON_OPENMETRICS_CREATED` | `false` | OpenMetrics scrapes carry each counter's and histogram's `_created` sample (the series' start time). Off because Prometheus stores each `_created` line as a series of its own (22 of the example service's 354); client_golang makes it opt-in for the same reason. Turn it on for a receiver that reads start times (created-timestamp zero injection) |
//! | `monitor` | `TSMON_MONITOR` | `"none"` (`"debug"` in dev mode) | where metrics go: see [`MonitorSpec`] |
//! | `max_series` | `TSMON_MAX_SERIES` | `10000` | the per-metric series cap for metrics that set none, 1 to 10,000,000 |
//! | `pull_header_timeout_sec` | `TSMON_PULL_HEADER_TIMEOUT_SEC` | `10` | the pull endpoint closes a connection whose request headers take longer (slow clients) |
//! | `pull_idle_timeout_sec` | `TSMON_PULL_IDLE_TIMEOUT_SEC` | `60` | the pull endpoint closes a keep-alive connection idle this long |
//! | `pull_max_connections` | `TSMON_PULL_MAX_CONNECTIONS` | `256` | connections the pull endpoint serves at once (never more than a quarter of the open-file limit); more are closed at once |
//! | `pull_target_info` | `TSMON_PULL_TARGET_INFO` | `false` | scrapes carry the target's labels (`service_name`, `job_name`, `data_center`, `host_name`, `task_num`) once, in a `target_info` series, instead of on every line (the OpenTelemetry-to-Prometheus convention): a scrape of short series is about a third the bytes. Prometheus adds `job` and `instance` to both, so queries join on those: `x * on(job, instance) group_left(service_name, task_num) target_info`. Series under an explicit target keep its labels. Pushes always carry them |
//! | `native_classic_buckets` | `TSMON_NATIVE_CLASSIC_BUCKETS` | `false` | native histograms carry classic `le` buckets too, at powers of two (their buckets reduced to schema 0, so the counts are exact), in every format and push: for a receiver or dashboard without native histogram support. Off because each bucket is a series of its own |
//! | `native_histograms` | `TSMON_NATIVE_HISTOGRAMS` | `"off"` | distributions declared with classic buckets kept as native histograms instead (schema 3, at most 160 buckets): `"tsmon"` for tsmon's own (the HTTP and gRPC layers', `#[tsmon::instrument]`'s, the self-metrics'), `"all"` for every cumulative distribution. One series each instead of one per bucket (`http/server_durations` by route and status: 1 instead of 34) for receivers that take native histograms; see [`NativeHistograms`]. Applies to the series made after a change |
//! | `pull_status_page` | `TSMON_PULL_STATUS_PAGE` | `"auto"` | serve the [status page](crate::status) at `/` and `/tsmon`, its data at `/tsmon/api/…`: `auto` on loopback addresses only, `true` everywhere (behind `pull_auth` like `/metrics`), `false` nowhere |
//! | `status_history_sec` | `TSMON_STATUS_HISTORY_SEC` | `900` (15 min) | how far back the status page's charts reach, 0 to 86,400 (0: current values only, no ring kept). The ring holds at most 121 samples a series, taken at flushes, scrapes and page reads at least `status_history_sec / 120` apart: 8 bytes a sample for counters and gauges, 32 for distributions |
//! | `status_max_series` | `TSMON_STATUS_MAX_SERIES` | `10000` | the most series the status page's ring follows (the rest show current values only), 0 to 10,000,000. With the defaults 10k counters or gauges take 9.5 MiB over 15 minutes, a distribution series 2.4 KB (measured: `cargo bench -p tsmon --bench status`) |
//! | `pull_auth` | `TSMON_PULL_AUTH` | `"none"` | credentials the pull endpoint asks for: see [`PullAuth`] |
//! | `pull_catalog` | `TSMON_PULL_CATALOG` | `"auto"` | serve `/metrics/catalog`: `auto` on loopback addresses only, `true` everywhere, `false` nowhere |
//! | `pull_tls` | `TSMON_PULL_TLS` | `{}` (off) | the pull endpoint's certificate and key, and a client CA for mutual TLS: see [`PullTls`] |
//! | `push` | `TSMON_PUSH` | `{}` | credentials, headers and TLS for the Pushgateway and remote-write, named as Prometheus' `remote_write` names them: see [`PushOptions`] |
//! | `push_queue_max_bytes` | `TSMON_PUSH_QUEUE_MAX_BYTES` | `67108864` (64 MiB) | what remote-write keeps while its receiver is down (compressed requests), 0 to 4 GiB; beyond it the oldest are dropped |
//! | `push_queue_max_age_sec` | `TSMON_PUSH_QUEUE_MAX_AGE_SEC` | `900` (15 min) | how long remote-write keeps a request while its receiver is down, 1 to 86,400 |
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

mod keys;
mod push;
mod source;
mod values;

use std::time::Duration;

use crate::error::Error;
use keys::Raw;
pub use keys::{KEYS, Key, Settings, SettingsLayer};
pub use push::{Authorization, BasicAuth, PushOptions, PushSettings, TlsConfig};
pub use source::{Refusal, SettingsSource};
pub use values::{
    CatalogExposure, DEFAULT_PULL_ADDR, MonitorSpec, NativeHistograms, PullAuth, PullOptions,
    PullTls, Secret,
};

/// The embedded default settings file: every key with its default value.
pub const DEFAULT_FILE: &str = r#"# tsmon settings (TOML; JSON with the same keys works too).
enabled = true
flush_interval_sec = 60
# flush_timeout_sec: by default the smaller of 5 and half of flush_interval_sec.
num_flush_workers = 4
report_runtime_stats = true
# OpenMetrics scrapes without `_created` samples (a series each in Prometheus).
openmetrics_created = false
monitor = "none"
max_series = 10000
pull_header_timeout_sec = 10
pull_idle_timeout_sec = 60
pull_max_connections = 256
pull_target_info = false
native_classic_buckets = false
native_histograms = "off"
pull_catalog = "auto"
pull_status_page = "auto"
status_history_sec = 900
status_max_series = 10000
pull_auth = "none"
pull_tls = {}
push_queue_max_bytes = 67108864
push_queue_max_age_sec = 900
# push: how the push monitors reach their receiver, with the names of Prometheus'
# remote_write configuration (a [push] table goes after the keys above):
# [push]
# headers = { "X-Scope-OrgID" = "team-a" }
# basic_auth = { username = "tsmon", password_file = "/run/secrets/push-password" }
# authorization = { type = "Bearer", credentials_file = "/run/secrets/token" }
# tls_config = { ca_file = "/etc/ssl/internal-ca.pem", server_name = "metrics.internal" }
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
/// The largest outage queue a push monitor may be given: 4 GiB.
pub const MAX_PUSH_QUEUE_BYTES: usize = 4 << 30;

impl Settings {
    /// The pull endpoint's options.
    #[must_use]
    pub fn pull_options(&self) -> PullOptions {
        PullOptions {
            header_timeout: self.pull_header_timeout,
            idle_timeout: self.pull_idle_timeout,
            max_connections: self.pull_max_connections,
            catalog: self.pull_catalog,
            status_page: self.pull_status_page,
            auth: self.pull_auth.clone(),
            tls: self.pull_tls.clone(),
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
    "TSMON_PRINT_CATALOG",
];

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
        let entries = parse_entries(text)?;
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
                Some(key) => layer.set(key, &Raw::Env(value.clone())),
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
}

/// A settings file's keys with their raw values: JSON if it (trimmed) starts with `{`, TOML
/// otherwise.
#[cfg(feature = "settings-file")]
fn parse_entries(text: &str) -> Result<Vec<(String, Raw)>, Error> {
    if text.trim().starts_with('{') {
        let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text.trim())
            .map_err(|e| Error::InvalidSettings(format!("JSON: {e}")))?;
        Ok(map
            .iter()
            .map(|(k, v)| (k.clone(), Raw::from_json(v)))
            .collect())
    } else {
        let table: toml::Table = toml::from_str(text)
            .map_err(|e| Error::InvalidSettings(format!("TOML: {}", e.message())))?;
        Ok(table
            .iter()
            .map(|(k, v)| (k.clone(), Raw::from_toml(v)))
            .collect())
    }
}

/// Without the `settings-file` feature there is no parser: a file is refused whole, saying so.
#[cfg(not(feature = "settings-file"))]
fn parse_entries(_: &str) -> Result<Vec<(String, Raw)>, Error> {
    Err(Error::InvalidSettings(
        "settings files need tsmon's `settings-file` feature, which this binary was built \
         without"
            .into(),
    ))
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

// Each static allows `unsafe_code`: linkme enters it in the catalog with a `#[link_section]`
// static, which the lint sees inside this crate (linkme's macro is local here).
crate::metric! {
    /// Settings refused, by where they came from (builder, file, environment, api) and the key (or variable, or file) refused.
    #[allow(unsafe_code)]
    pub static REFUSED: Counter(source: String, key: String) = "tsmon/settings/refused";
}

#[cfg(test)]
mod tests;
