//! The status page's data as JSON (see [the module docs](super) for each document's shape).

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json, json};

use super::history::{DistPoint, History, Points, TrackKey, cumulative, quantile, scalar};
use crate::store::{CellSnapshot, MetricSnapshot, Snapshot, Value};
use crate::target::Target;

/// `f64` as JSON, `null` for what JSON cannot hold.
fn num(x: f64) -> Json {
    serde_json::Number::from_f64(x).map_or(Json::Null, Json::Number)
}

fn target_json(t: &Target) -> Json {
    json!({
        "service_name": t.service_name,
        "job_name": t.job_name,
        "data_center": t.data_center,
        "host_name": t.host_name,
        "task_num": t.task_num,
    })
}

/// The field values of a series by field name.
fn labels(m: &MetricSnapshot, c: &CellSnapshot) -> Map<String, Json> {
    m.desc()
        .fields
        .iter()
        .zip(m.field_values(c))
        .map(|(f, v)| (f.name.to_owned(), Json::String(v.to_string())))
        .collect()
}

/// The target, the ring's bounds and each metric's number of series.
pub(crate) fn overview(snap: &Snapshot, history: &History) -> Json {
    let metrics: Map<String, Json> = snap
        .metrics()
        .iter()
        .map(|m| (m.desc().name.to_owned(), json!(m.cells().len())))
        .collect();
    json!({
        "target": snap.targets().first().map(|t| target_json(t)),
        "now": snap.now_micros() as f64 / 1e6,
        "history_sec": history.span().as_secs_f64(),
        "step_sec": history.step().as_secs_f64(),
        "ring": {
            "series": history.tracks.len(),
            "untracked": history.untracked,
            "samples": history.times.len(),
            "bytes": history.bytes(),
        },
        "metrics": metrics,
    })
}

/// A distribution since its series began: count, sum and the buckets that hold samples (from
/// the first to the last, as `[lower, upper, count]`).
fn distribution_json(d: &crate::distribution::Distribution) -> Json {
    let le = cumulative(d);
    let mut buckets = Vec::new();
    let (mut lower, mut below) = (f64::NEG_INFINITY, 0.0);
    for &(up, c) in &le {
        buckets.push((lower, up, c - below));
        (lower, below) = (up, c);
    }
    let first = buckets.iter().position(|b| b.2 > 0.0).unwrap_or(0);
    let last = buckets.iter().rposition(|b| b.2 > 0.0).map_or(0, |i| i + 1);
    let buckets: Vec<Json> = buckets[first..last.max(first)]
        .iter()
        .map(|&(lo, up, n)| json!([num(lo), num(up), num(n)]))
        .collect();
    json!({
        "count": d.count(),
        "sum": num(d.sum()),
        "p50": num(quantile(0.5, &le)),
        "p99": num(quantile(0.99, &le)),
        "buckets": buckets,
    })
}

fn current(v: &Value) -> Json {
    match v {
        Value::Str(s) => Json::String(s.to_string()),
        Value::Bool(b) => Json::Bool(*b),
        Value::Distribution(d) => distribution_json(d),
        v => num(scalar(v)),
    }
}

/// The points of a track, aligned with the ring's samples.
fn points(history: &History, key: &TrackKey) -> Json {
    let n = history.times.len();
    let Some(track) = history.tracks.get(key) else {
        return Json::Null;
    };
    let offset = track.first.saturating_sub(history.first) as usize;
    let aligned = |i: usize| i.checked_sub(offset);
    match &track.points {
        Points::Scalar(p) => Json::Array(
            (0..n)
                .map(|i| {
                    aligned(i)
                        .and_then(|j| p.get(j))
                        .map_or(Json::Null, |&x| num(x))
                })
                .collect(),
        ),
        Points::Dist(p) => {
            let column = |f: &dyn Fn(&DistPoint) -> f32| -> Json {
                Json::Array(
                    (0..n)
                        .map(|i| {
                            aligned(i)
                                .and_then(|j| p.get(j))
                                .map_or(Json::Null, |d| num(f64::from(f(d))))
                        })
                        .collect(),
                )
            };
            json!({
                "rate": column(&|d| d.rate),
                "mean": column(&|d| d.mean),
                "p50": column(&|d| d.q[0]),
                "p90": column(&|d| d.q[1]),
                "p99": column(&|d| d.q[2]),
            })
        }
    }
}

/// One metric's series (the first `limit`), with current values and charted points; `None`
/// for a name the catalog does not know.
pub(crate) fn series(snap: &Snapshot, history: &History, name: &str, limit: usize) -> Option<Json> {
    let desc = crate::registry::find(name)?;
    let times: Vec<Json> = history.times.iter().map(|&t| num(t as f64 / 1e6)).collect();
    let mut out = Vec::new();
    let mut total = 0;
    if let Some(m) = snap.metric(name) {
        total = m.cells().len();
        for c in m.cells().iter().take(limit) {
            let key = TrackKey::of(snap, m, c);
            let mut s = json!({
                "labels": labels(m, c),
                "current": current(c.value()),
                "points": points(history, &key),
            });
            if c.is_overflow() {
                s["overflow"] = Json::Bool(true);
            }
            if let Some(t) = key.target {
                s["target"] = Json::String(t.into_string());
            }
            out.push(s);
        }
    }
    Some(json!({
        "metric": desc.name,
        "kind": desc.kind.as_str(),
        "cumulative": desc.kind.is_cumulative(),
        "units": desc.units.map(|u| u.go_str()),
        "description": desc.description,
        "times": times,
        "series": out,
        "total": total,
    }))
}

fn field(m: &MetricSnapshot, c: &CellSnapshot, name: &str) -> String {
    let i = m.desc().fields.iter().position(|f| f.name == name);
    i.and_then(|i| m.field_values(c).nth(i))
        .map(|v| v.to_string())
        .unwrap_or_default()
}

fn dist(c: &CellSnapshot) -> Option<&crate::distribution::Distribution> {
    match c.value() {
        Value::Distribution(d) => Some(d),
        _ => None,
    }
}

/// The instrumented functions and HTTP routes, one row each (what the example's `--demo`
/// prints).
pub(crate) fn summary(snap: &Snapshot) -> Json {
    // (function, module) -> calls by outcome, in flight, durations.
    let mut fns: BTreeMap<(String, String), Map<String, Json>> = BTreeMap::new();
    fn row<'a>(
        fns: &'a mut BTreeMap<(String, String), Map<String, Json>>,
        m: &MetricSnapshot,
        c: &CellSnapshot,
    ) -> &'a mut Map<String, Json> {
        fns.entry((field(m, c, "function"), field(m, c, "module")))
            .or_insert_with(|| {
                ["ok", "error", "panic", "cancelled"]
                    .into_iter()
                    .map(|o| (o.to_owned(), json!(0)))
                    .collect()
            })
    }
    if let Some(m) = snap.metric("function/calls") {
        for c in m.cells().iter().filter(|c| !c.is_overflow()) {
            let outcome = field(m, c, "outcome");
            row(&mut fns, m, c).insert(outcome, num(scalar(c.value())));
        }
    }
    if let Some(m) = snap.metric("function/in_flight") {
        for c in m.cells().iter().filter(|c| !c.is_overflow()) {
            row(&mut fns, m, c).insert("in_flight".into(), num(scalar(c.value())));
        }
    }
    if let Some(m) = snap.metric("function/durations") {
        for c in m.cells().iter().filter(|c| !c.is_overflow()) {
            if let Some(d) = dist(c) {
                let le = cumulative(d);
                let r = row(&mut fns, m, c);
                r.insert("mean".into(), num(d.sum() / d.count().max(1) as f64));
                r.insert("p50".into(), num(quantile(0.5, &le)));
                r.insert("p99".into(), num(quantile(0.99, &le)));
            }
        }
    }
    let functions: Vec<Json> = fns
        .into_iter()
        .map(|((function, module), mut r)| {
            r.insert("function".into(), Json::String(function));
            r.insert("module".into(), Json::String(module));
            Json::Object(r)
        })
        .collect();

    // (route, status, robot) -> requests, p50, p99, bytes in and out.
    let mut routes: BTreeMap<(String, String, String), Map<String, Json>> = BTreeMap::new();
    let metrics = [
        ("http/server_durations", "durations"),
        ("http/server_request_bytes", "request_bytes"),
        ("http/server_response_bytes", "response_bytes"),
    ];
    for (name, what) in metrics {
        let Some(m) = snap.metric(name) else { continue };
        for c in m.cells().iter().filter(|c| !c.is_overflow()) {
            let Some(d) = dist(c) else { continue };
            let key = (
                field(m, c, "name"),
                field(m, c, "status"),
                field(m, c, "is_robot"),
            );
            let r = routes.entry(key).or_default();
            if what == "durations" {
                let le = cumulative(d);
                r.insert("requests".into(), json!(d.count()));
                r.insert("p50".into(), num(quantile(0.5, &le)));
                r.insert("p99".into(), num(quantile(0.99, &le)));
            } else {
                r.insert(what.into(), num(d.sum()));
            }
        }
    }
    let routes: Vec<Json> = routes
        .into_iter()
        .map(|((route, status, robot), mut r)| {
            r.insert("route".into(), Json::String(route));
            r.insert("status".into(), Json::String(status));
            r.insert("robot".into(), Json::Bool(robot == "true"));
            Json::Object(r)
        })
        .collect();
    json!({ "functions": functions, "routes": routes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_numbers_hold_no_nan() {
        assert_eq!(num(f64::NAN), Json::Null);
        assert_eq!(num(1.5), json!(1.5));
    }
}
