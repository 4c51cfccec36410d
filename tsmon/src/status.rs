//! The status page: what a State records, drawn, at its pull endpoint.
//!
//! With `monitor = "pull:…"`, the endpoint serves a page at `/` and `/tsmon` (feature `pull`,
//! a default): a searchable catalog of every metric in the binary (name, kind, fields, units,
//! description, declaration site); for each metric its series with their current values and
//! charts of the last `status_history_sec` (counters as rates, gauges as lines, distributions as
//! p50/p90/p99 and a bar of their buckets); a health panel from
//! [`State::health`](crate::State::health); and tables of the instrumented functions and HTTP
//! routes. It is one HTML file with its script and styles inline, served by tsmon: no CDN, no
//! build step, it works offline. [`PAGE`] is its whole text ([`PAGE_BYTES`] bytes: about 21 KB,
//! 7.5 KB gzipped).
//!
//! The page is served where `/metrics` is, behind the same `pull_auth` and TLS, and like the
//! catalog only on loopback addresses unless `pull_status_page` says otherwise (the page tells
//! a stranger every metric's name and the settings in force). The charts come from a bounded
//! ring of samples (see the [settings](crate::settings) `status_history_sec` and
//! `status_max_series`): at most 121 points a series, taken from the snapshots of flushes,
//! scrapes and page reads, so a page left open keeps it fresh. The ring is kept only while the
//! page is served.
//!
//! # The data, as JSON
//!
//! The page reads the same JSON a script can (all `GET`, all `application/json`):
//!
//! | path | what |
//! |---|---|
//! | `/tsmon/api/catalog` | every metric's description, as `/metrics/catalog` serves it |
//! | `/tsmon/api/overview` | the target, the ring's span, step and size, and each metric's number of series now: `{"target":{…},"now":…,"history_sec":…,"step_sec":…,"ring":{"series":…,"untracked":…,"bytes":…},"metrics":{"name":series,…}}` |
//! | `/tsmon/api/series?metric=NAME[&limit=N]` | the series of one metric (the first `N`, 100 by default): `{"metric":…,"kind":…,"units":…,"times":[…],"series":[{"labels":{…},"current":…,"points":…}],"total":…}`; `times` are the samples' Unix times in seconds, and each series' `points` line up with them (`null` where it has none): a counter's rate per second, a gauge's value, or for a distribution `{"rate":[…],"mean":[…],"p50":[…],"p90":[…],"p99":[…]}` over each interval. A distribution's `current` is `{"count":…,"sum":…,"buckets":[[lower,upper,count],…]}` since the series began |
//! | `/tsmon/api/summary` | the instrumented functions (`function/*`: calls by outcome, in flight, mean, p50, p99) and the HTTP routes (`http/server_*`: requests, p50, p99, bytes) |
//! | `/tsmon/api/health` | [`Health`](crate::state::Health) as JSON: the settings in force and their origins, refusals with reasons, the monitor, the last flush, backoff, task number and allocator, and the overflow and dropped-cell counts |
//!
//! ```
//! let state = tsmon::State::builder()
//!     .with_settings(tsmon::settings::Settings {
//!         monitor: tsmon::settings::MonitorSpec::parse("pull:127.0.0.1:0").unwrap(),
//!         ..Default::default()
//!     })
//!     .build()
//!     .unwrap();
//! let addr = state.pull_address().unwrap();
//! # use std::io::{Read, Write};
//! let mut conn = std::net::TcpStream::connect(addr).unwrap();
//! conn.write_all(b"GET /tsmon/api/overview HTTP/1.0\r\n\r\n").unwrap();
//! let mut answer = String::new();
//! conn.read_to_string(&mut answer).unwrap();
//! assert!(answer.starts_with("HTTP/1.0 200"));
//! assert!(answer.contains("\"history_sec\":900"));
//! assert!(tsmon::status::PAGE.contains("<title>tsmon"));
//! ```

pub(crate) mod history;
mod json;

pub(crate) use history::History;
pub(crate) use json::{overview, series, summary};

/// The status page: one self-contained HTML file (script and styles inline).
///
/// ```
/// assert!(tsmon::status::PAGE.starts_with("<!doctype html>"));
/// assert!(!tsmon::status::PAGE.contains("https://"), "nothing from outside");
/// ```
pub const PAGE: &str = include_str!("status/page.html");

/// The page's size in bytes.
///
/// ```
/// assert!(tsmon::status::PAGE_BYTES < 40_000);
/// ```
pub const PAGE_BYTES: usize = PAGE.len();
