//! A State's side of the [status page](crate::status): the ring of samples it keeps while the
//! page is served, and the answers to `/tsmon/api/…`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value as Json, json};

use crate::settings::{MonitorSpec, SettingsLayer};
use crate::state::{Health, State};
use crate::status::{self, History};
use crate::store::Snapshot;

/// The series of one metric `/tsmon/api/series` gives unless asked for another number.
const DEFAULT_SERIES_LIMIT: usize = 100;

impl State {
    /// The ring's span and series cap while the pull endpoint serves the status page with
    /// charts (then the ring is kept); `None` otherwise.
    fn ring_bounds(&self) -> Option<(Duration, usize)> {
        let c = self.inner.control.lock();
        let s = &c.settings;
        let served = matches!(s.monitor, MonitorSpec::Pull { .. })
            && c.pull_addr
                .is_some_and(|addr| s.pull_status_page.serves_on(&addr));
        (served && !s.status_history.is_zero()).then_some((s.status_history, s.status_max_series))
    }

    /// Keeps a sample of `snap` in the ring, if the page is served and one is due; drops the
    /// ring when the page is not served.
    pub(crate) fn status_sample(&self, snap: &Snapshot) {
        // The settings first: no lock is held inside another.
        let bounds = self.ring_bounds();
        let mut h = self.inner.history.lock();
        let Some((span, max)) = bounds else {
            *h = None;
            return;
        };
        h.get_or_insert_with(|| History::new(span, max))
            .configure(span, max);
        if let Some(h) = h.as_mut() {
            h.record(snap);
        }
    }

    /// Takes a sample at a scrape, if one is due (a snapshot only then).
    pub(crate) fn status_sample_if_due(&self) {
        let now = self.inner.clock.now_micros();
        let due = self
            .inner
            .history
            .lock()
            .as_ref()
            .is_none_or(|h| h.is_due(now));
        if !due {
            return;
        }
        // As `status_sample`, but walking the store instead of copying it: a scrape of a large
        // store then holds no snapshot of it.
        let Some((span, max)) = self.ring_bounds() else {
            *self.inner.history.lock() = None;
            return;
        };
        let mut h = self.inner.history.lock();
        h.get_or_insert_with(|| History::new(span, max))
            .configure(span, max);
        if let Some(h) = h.as_mut() {
            h.record_store(&self.inner.store, now);
        }
    }

    /// The JSON of `/tsmon/api/<what>?<query>`; `None` for a path it does not know.
    pub(crate) fn status_api(&self, what: &str, query: &str) -> Option<Vec<u8>> {
        let param = |name: &str| {
            query.split('&').find_map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                (k == name).then(|| percent_decode(v))
            })
        };
        let answer = match what {
            "catalog" => return Some(crate::registry::catalog_json().into_bytes()),
            "health" => health_json(&self.health(), &self.snapshot()),
            "summary" => status::summary(&self.snapshot()),
            "overview" | "series" => {
                if self.settings().report_runtime_stats {
                    self.report_runtime_stats();
                }
                let snap = self.snapshot();
                self.status_sample(&snap);
                let h = self.inner.history.lock();
                let empty;
                let h = match h.as_ref() {
                    Some(h) => h,
                    None => {
                        let (span, max) = self.ring_bounds().unwrap_or_default();
                        empty = History::new(span, max);
                        &empty
                    }
                };
                if what == "overview" {
                    status::overview(&snap, h)
                } else {
                    let metric = param("metric")?;
                    let limit = param("limit")
                        .and_then(|l| l.parse().ok())
                        .unwrap_or(DEFAULT_SERIES_LIMIT);
                    status::series(&snap, h, &metric, limit)?
                }
            }
            _ => return None,
        };
        serde_json::to_vec(&answer).ok()
    }
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The sum of a counter's series in `snap`.
fn total(snap: &Snapshot, name: &str) -> f64 {
    snap.metric(name).map_or(0.0, |m| {
        m.cells()
            .iter()
            .map(|c| status::history::scalar(c.value()))
            .sum()
    })
}

/// [`Health`] as JSON, with the overflow and dropped-cell counts of `snap`.
fn health_json(h: &Health, snap: &Snapshot) -> Json {
    let all = SettingsLayer::all_of(&h.settings);
    let settings: Vec<Json> = h
        .origins
        .iter()
        .map(|(key, source)| {
            json!({
                "key": key.name(),
                "value": all.shown(*key).unwrap_or_default(),
                "source": source.as_str(),
            })
        })
        .collect();
    let refusals: Vec<Json> = h
        .refusals
        .iter()
        .map(|r| {
            json!({
                "source": r.source.as_str(),
                "key": r.key,
                "value": r.value,
                "reason": r.reason,
            })
        })
        .collect();
    json!({
        "enabled": h.settings.enabled,
        "monitor": h.monitor,
        "settings": settings,
        "refusals": refusals,
        "last_flush": h.last_flush.as_ref().map(|f| json!({
            "at": unix(f.at),
            "took_sec": f.took.as_secs_f64(),
            "outcome": f.outcome,
            "error": f.error,
        })),
        "last_success": h.last_success.map(unix),
        "consecutive_failures": h.consecutive_failures,
        "retry_delay_sec": h.retry_delay.as_secs_f64(),
        "next_flush_in_sec": h.next_flush_in.map(|d| d.as_secs_f64()),
        "flush_in_progress": h.flush_in_progress,
        "task_num": h.task_num,
        "allocator": h.allocator,
        "instance_id": h.instance_id,
        "overflow_writes": total(snap, crate::store::OVERFLOW_WRITES),
        "dropped_cells": total(snap, "tsmon/flush/dropped_cells"),
        "refused_settings": total(snap, "tsmon/settings/refused"),
    })
}

/// `%XX` and `+` decoded (a query parameter's value).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| char::from(c).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        #[allow(clippy::cast_possible_truncation)]
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn query_values_are_decoded() {
        assert_eq!(
            percent_decode("http%2Fserver_durations"),
            "http/server_durations"
        );
        assert_eq!(percent_decode("a+b%"), "a b%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%C3%A9%"), "é%");
    }
}
