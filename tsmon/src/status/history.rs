//! The status page's ring: for each series, what its charts draw over the last
//! `status_history_sec`, sampled from the snapshots that flushes and page reads take, and at a
//! scrape straight from the store (walked as the scrape walks it, not copied).
//!
//! A sample is kept at most every `status_history_sec / 120`, so a series holds at most
//! [`MAX_POINTS`] points: a counter's rate or a gauge's value (8 bytes), or a distribution's
//! rate, mean and p50/p90/p99 over the interval (20 bytes). Counters and distributions keep their
//! previous cumulative value to take the next difference; strings keep nothing (the page shows
//! their current value). At most `status_max_series` series are followed; the others are counted
//! as `untracked` and shown with their current values only.

use std::collections::VecDeque;
use std::hash::RandomState;
use std::sync::Arc;
use std::time::Duration;

use crate::desc::{MetricDesc, MetricKind};
use crate::distribution::Distribution;
use crate::store::{CellSnapshot, Cursor, MetricSnapshot, Plain, Snapshot, Store, Value, Visit};
use crate::target::Target;

/// The most samples a series keeps: 120 intervals.
pub(crate) const MAX_POINTS: usize = 121;

/// The shortest time between two samples, whatever the span.
const MIN_STEP: Duration = Duration::from_secs(1);

/// A distribution's figures over one interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct DistPoint {
    /// Samples a second (cumulative distributions) or samples (non-cumulative ones).
    pub(crate) rate: f32,
    /// The mean sample.
    pub(crate) mean: f32,
    /// p50, p90 and p99, interpolated within the buckets as `histogram_quantile` does.
    pub(crate) q: [f32; 3],
}

const NO_DIST: DistPoint = DistPoint {
    rate: f32::NAN,
    mean: f32::NAN,
    q: [f32::NAN; 3],
};

/// The quantiles the ring keeps.
pub(crate) const QUANTILES: [f64; 3] = [0.5, 0.9, 0.99];

#[derive(Debug)]
pub(crate) enum Points {
    /// A counter's rate per second, or a gauge's (or bool's, as 0 or 1) value.
    Scalar(VecDeque<f64>),
    /// A distribution's figures.
    Dist(VecDeque<DistPoint>),
}

impl Points {
    fn len(&self) -> usize {
        match self {
            Points::Scalar(p) => p.len(),
            Points::Dist(p) => p.len(),
        }
    }

    fn pop_front(&mut self) {
        match self {
            Points::Scalar(p) => drop(p.pop_front()),
            Points::Dist(p) => drop(p.pop_front()),
        }
    }
}

/// One series' points and what the next difference needs.
#[derive(Debug)]
pub(crate) struct Track {
    /// The sample number of the first point.
    pub(crate) first: u64,
    pub(crate) points: Points,
    /// The stream's start at the last sample: a new one (a reset) restarts from zero.
    start_micros: u64,
    /// The last cumulative count (counters) or sample count (distributions).
    last_count: f64,
    last_sum: f64,
    /// A distribution's `(upper bound, cumulative count)` at the last sample.
    last_buckets: Vec<(f64, f64)>,
}

/// The ring's map of series (looked up by [`KeyRef`] too, without making a key).
pub(crate) type Tracks = hashbrown::HashMap<TrackKey, Track, RandomState>;

/// A series: the metric, an explicit target if it has one, its encoded field values.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct TrackKey {
    pub(crate) metric: &'static str,
    pub(crate) target: Option<Box<str>>,
    pub(crate) fields: Box<[u8]>,
    pub(crate) overflow: bool,
}

/// A [`TrackKey`] borrowed from where a sample finds it: hashed and compared as the key is.
#[derive(Hash)]
pub(crate) struct KeyRef<'a> {
    metric: &'static str,
    target: Option<&'a str>,
    fields: &'a [u8],
    overflow: bool,
}

impl KeyRef<'_> {
    fn to_owned(&self) -> TrackKey {
        TrackKey {
            metric: self.metric,
            target: self.target.map(Into::into),
            fields: self.fields.into(),
            overflow: self.overflow,
        }
    }
}

impl hashbrown::Equivalent<TrackKey> for KeyRef<'_> {
    fn equivalent(&self, key: &TrackKey) -> bool {
        self.metric == key.metric
            && self.target == key.target.as_deref()
            && self.fields == &*key.fields
            && self.overflow == key.overflow
    }
}

impl TrackKey {
    pub(crate) fn of(snap: &Snapshot, m: &MetricSnapshot, c: &CellSnapshot) -> TrackKey {
        TrackKey {
            metric: m.desc().name,
            target: c
                .has_explicit_target()
                .then(|| snap.target(c).to_string().into_boxed_str()),
            fields: m.field_bytes(c).into(),
            overflow: c.is_overflow(),
        }
    }
}

/// The ring (see the module docs).
#[derive(Debug)]
pub(crate) struct History {
    span: Duration,
    max_series: usize,
    /// The sample times (microseconds since the epoch), oldest first.
    pub(crate) times: VecDeque<u64>,
    /// The sample number of `times[0]`.
    pub(crate) first: u64,
    pub(crate) tracks: Tracks,
    /// Series seen in the last sample that the ring does not follow (over `max_series`).
    pub(crate) untracked: usize,
}

impl History {
    pub(crate) fn new(span: Duration, max_series: usize) -> History {
        History {
            span,
            max_series,
            times: VecDeque::new(),
            first: 0,
            tracks: Tracks::default(),
            untracked: 0,
        }
    }

    /// The time between two samples.
    pub(crate) fn step(&self) -> Duration {
        (self.span / (MAX_POINTS as u32 - 1)).max(MIN_STEP)
    }

    pub(crate) fn span(&self) -> Duration {
        self.span
    }

    /// Follows new bounds; a new span starts the ring afresh.
    pub(crate) fn configure(&mut self, span: Duration, max_series: usize) {
        if span != self.span {
            *self = History::new(span, max_series);
        }
        self.max_series = max_series;
        if self.tracks.len() > max_series {
            self.tracks.clear();
        }
    }

    /// Whether a sample taken at `now_micros` would be kept.
    pub(crate) fn is_due(&self, now_micros: u64) -> bool {
        !self.span.is_zero()
            && self.times.back().is_none_or(|&last| {
                now_micros >= last.saturating_add(micros(self.step()).saturating_sub(50_000))
            })
    }

    /// Takes a sample from `snap` if one is due; whether it did.
    pub(crate) fn record(&mut self, snap: &Snapshot) -> bool {
        let Some((seq, previous)) = self.begin(snap.now_micros()) else {
            return false;
        };
        let now = snap.now_micros();
        for m in snap.metrics() {
            if m.desc().kind == MetricKind::String {
                continue;
            }
            for c in m.cells() {
                let target = c.has_explicit_target().then(|| snap.target(c).to_string());
                let key = KeyRef {
                    metric: m.desc().name,
                    target: target.as_deref(),
                    fields: m.field_bytes(c),
                    overflow: c.is_overflow(),
                };
                self.take(m.desc(), key, c, seq, now, previous);
            }
        }
        self.trim(now);
        true
    }

    /// Takes a sample straight from `store` at `now` if one is due, walking its series as a
    /// scrape does instead of copying them: a scrape of a large store then costs no snapshot.
    /// Whether it did.
    pub(crate) fn record_store(&mut self, store: &Store, now: u64) -> bool {
        let Some((seq, previous)) = self.begin(now) else {
            return false;
        };
        let mut walk = StoreSample {
            history: self,
            // (Reporting the overflow counts first, as a snapshot does.)
            targets: store.snapshot_targets(),
            store,
            seq,
            now,
            previous,
        };
        store.visit_from(&mut Cursor::default(), &mut walk);
        self.trim(now);
        true
    }

    /// Starts a sample at `now` if one is due: its number and the previous sample's time.
    fn begin(&mut self, now: u64) -> Option<(u64, Option<u64>)> {
        if !self.is_due(now) {
            return None;
        }
        let previous = self.times.back().copied();
        let seq = self.first + self.times.len() as u64;
        self.times.push_back(now);
        self.untracked = 0;
        Some((seq, previous))
    }

    /// One series of a sample: its point, if the ring follows it or has room to. The key is
    /// made only for a series the ring starts following (a sample of a large store looks up
    /// every series and follows few).
    fn take(
        &mut self,
        desc: &'static MetricDesc,
        key: KeyRef<'_>,
        c: &CellSnapshot,
        seq: u64,
        now: u64,
        previous: Option<u64>,
    ) {
        let full = self.tracks.len() >= self.max_series;
        let track = match self.tracks.get_mut(&key) {
            Some(t) => t,
            None if full => {
                self.untracked += 1;
                return;
            }
            None => self
                .tracks
                .entry(key.to_owned())
                .or_insert_with(|| Track::new(desc, seq)),
        };
        track.push(desc, c, seq, now, previous);
    }

    /// Drops the samples older than the span (and beyond [`MAX_POINTS`]), and the series left
    /// with none.
    fn trim(&mut self, now: u64) {
        let oldest = now.saturating_sub(micros(self.span));
        while self.times.len() > MAX_POINTS || self.times.front().is_some_and(|&t| t < oldest) {
            self.times.pop_front();
            self.first += 1;
        }
        let first = self.first;
        self.tracks.retain(|_, t| {
            while t.first < first && t.points.len() > 0 {
                t.points.pop_front();
                t.first += 1;
            }
            t.first + t.points.len() as u64 > first
        });
    }

    /// A rough count of the bytes the ring holds (points, keys, the last buckets).
    pub(crate) fn bytes(&self) -> usize {
        let per_track = size_of::<(TrackKey, Track)>() + 16;
        self.times.capacity() * 8
            + self
                .tracks
                .iter()
                .map(|(k, t)| {
                    per_track
                        + k.fields.len()
                        + k.target.as_ref().map_or(0, |t| t.len())
                        + t.last_buckets.capacity() * 16
                        + match &t.points {
                            Points::Scalar(p) => p.capacity() * 8,
                            Points::Dist(p) => p.capacity() * size_of::<DistPoint>(),
                        }
                })
                .sum::<usize>()
    }
}

/// A sample taken by walking the store (see [`History::record_store`]).
struct StoreSample<'h, 's> {
    history: &'h mut History,
    /// The store's targets at the start, read again for a target made during the walk.
    targets: Vec<Arc<Target>>,
    store: &'s Store,
    seq: u64,
    now: u64,
    previous: Option<u64>,
}

impl Visit for StoreSample<'_, '_> {
    fn numbers(&mut self, _: &'static MetricDesc) -> bool {
        false
    }

    fn number(&mut self, _: &'static MetricDesc, _: u32, _: &[u8], _: Plain) {}

    fn cell(&mut self, desc: &'static MetricDesc, c: &CellSnapshot, fields: &[u8]) {
        if desc.kind == MetricKind::String {
            return;
        }
        let t = c.target_id() as usize;
        if t >= self.targets.len() {
            self.targets = self.store.targets_now();
        }
        let target = c.has_explicit_target().then(|| {
            let target = self.targets.get(t).or(self.targets.first());
            target.map_or_else(String::new, ToString::to_string)
        });
        let key = KeyRef {
            metric: desc.name,
            target: target.as_deref(),
            fields,
            overflow: c.is_overflow(),
        };
        self.history
            .take(desc, key, c, self.seq, self.now, self.previous);
    }
}

impl Track {
    fn new(desc: &MetricDesc, seq: u64) -> Track {
        let points = match desc.kind {
            MetricKind::CumulativeDistribution | MetricKind::NonCumulativeDistribution => {
                Points::Dist(VecDeque::new())
            }
            _ => Points::Scalar(VecDeque::new()),
        };
        Track {
            first: seq,
            points,
            start_micros: 0,
            last_count: f64::NAN,
            last_sum: 0.0,
            last_buckets: Vec::new(),
        }
    }

    /// Adds the point of sample `seq`, taken at `now`; `previous` is the sample before it.
    fn push(
        &mut self,
        desc: &MetricDesc,
        c: &CellSnapshot,
        seq: u64,
        now: u64,
        previous: Option<u64>,
    ) {
        // Samples the series missed (it was absent) stay empty.
        let expected = self.first + self.points.len() as u64;
        for _ in expected..seq {
            match &mut self.points {
                Points::Scalar(p) => p.push_back(f64::NAN),
                Points::Dist(p) => p.push_back(NO_DIST),
            }
        }
        // Where the difference starts: the last sample, or zero for a stream that began after
        // the sample before this one (a new series, or one reset since).
        let restarted = c.start_micros() != self.start_micros;
        let since = previous.filter(|&p| !restarted || c.start_micros() >= p);
        if restarted {
            self.last_count = if since.is_some() { 0.0 } else { f64::NAN };
            self.last_sum = 0.0;
            self.last_buckets.clear();
        }
        self.start_micros = c.start_micros();
        let dt = since.map_or(f64::NAN, |p| now.saturating_sub(p) as f64 / 1e6);
        match (&mut self.points, c.value()) {
            (Points::Scalar(p), v) => {
                let x = scalar(v);
                let point = if desc.kind.is_cumulative() {
                    let delta = if x >= self.last_count {
                        x - self.last_count
                    } else {
                        x
                    };
                    self.last_count = x;
                    delta / dt
                } else {
                    x
                };
                p.push_back(point);
            }
            (Points::Dist(p), Value::Distribution(d)) => {
                let buckets = cumulative(d);
                let (count, sum) = (d.count() as f64, d.sum());
                let point = if desc.kind == MetricKind::NonCumulativeDistribution {
                    dist_point(count, count, sum, &buckets)
                } else if count >= self.last_count {
                    let delta = difference(&buckets, &self.last_buckets);
                    dist_point(
                        (count - self.last_count) / dt,
                        count - self.last_count,
                        sum - self.last_sum,
                        &delta,
                    )
                } else {
                    NO_DIST
                };
                self.last_count = count;
                self.last_sum = sum;
                self.last_buckets = buckets;
                p.push_back(point);
            }
            (Points::Dist(p), _) => p.push_back(NO_DIST),
        }
    }
}

fn dist_point(rate: f64, count: f64, sum: f64, buckets: &[(f64, f64)]) -> DistPoint {
    #[allow(clippy::cast_possible_truncation)]
    DistPoint {
        rate: rate as f32,
        mean: if count > 0.0 {
            (sum / count) as f32
        } else {
            f32::NAN
        },
        q: QUANTILES.map(|q| quantile(q, buckets) as f32),
    }
}

/// A counter's, gauge's or bool's value as a number.
pub(crate) fn scalar(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Distribution(d) => d.count() as f64,
        Value::Str(_) => f64::NAN,
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// A distribution's buckets as `(upper bound, cumulative count)`, `le` style, ending at +Inf.
pub(crate) fn cumulative(d: &Distribution) -> Vec<(f64, f64)> {
    let mut out = match d.native() {
        Some(n) => n.classic(n.schema()),
        None => {
            let b = d.bucketer();
            let mut total = 0.0;
            d.buckets()
                .iter()
                .enumerate()
                .filter_map(|(i, &c)| {
                    total += c as f64;
                    let up = b.upper_bound(i);
                    up.is_finite().then_some((up, total))
                })
                .collect()
        }
    };
    out.push((f64::INFINITY, d.count() as f64));
    out
}

/// `now - before`, bound by bound; a bound `before` lacks counts what `before` had below it.
fn difference(now: &[(f64, f64)], before: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut at = 0;
    let mut below = 0.0;
    now.iter()
        .map(|&(up, c)| {
            while at < before.len() && before[at].0 <= up {
                below = before[at].1;
                at += 1;
            }
            (up, (c - below).max(0.0))
        })
        .collect()
}

/// The `q` quantile of `le`-style buckets, interpolated linearly within the bucket it falls in,
/// as Prometheus' `histogram_quantile` does (the lowest bucket starts at 0 when its bound is
/// positive; a quantile in the +Inf bucket is the highest finite bound). NaN with no samples.
pub(crate) fn quantile(q: f64, buckets: &[(f64, f64)]) -> f64 {
    let Some(&(_, total)) = buckets.last() else {
        return f64::NAN;
    };
    if total <= 0.0 {
        return f64::NAN;
    }
    let rank = q * total;
    let i = buckets.partition_point(|&(_, c)| c < rank);
    let Some(&(up, cum)) = buckets.get(i) else {
        return f64::NAN;
    };
    let (lower, below) = match i.checked_sub(1).map(|j| buckets[j]) {
        Some((lo, c)) => (lo, c),
        None => (if up > 0.0 { 0.0 } else { up }, 0.0),
    };
    if up.is_infinite() {
        return lower;
    }
    let inside = cum - below;
    if inside <= 0.0 {
        return up;
    }
    lower + (up - lower) * (rank - below) / inside
}

#[cfg(test)]
mod tests {
    use super::*;

    // Each static allows `unsafe_code`: linkme enters it in the catalog with a
    // `#[link_section]` static, which the lint sees inside this crate.
    crate::metric! {
        /// Jobs by queue (a test of the ring).
        #[allow(unsafe_code)]
        static JOBS: Counter(queue: String) = "test/history/jobs";
        /// Depth by queue.
        #[allow(unsafe_code)]
        static DEPTH: FloatGauge(queue: String) = "test/history/depth";
        /// Wait times.
        #[tsmon(units = seconds)]
        #[allow(unsafe_code)]
        static WAIT: CumulativeDistribution = "test/history/wait";
        /// Logins, capped.
        #[tsmon(max_series = 1)]
        #[allow(unsafe_code)]
        static LOGINS: Counter(user: String) = "test/history/logins";
        /// The build.
        #[allow(unsafe_code)]
        static BUILD: StringMetric = "test/history/build";
    }

    /// The tracks of a ring, comparable: by key, as text.
    fn tracks(h: &History) -> Vec<String> {
        let mut t: Vec<String> = h
            .tracks
            .iter()
            .map(|(k, t)| format!("{k:?} {t:?}"))
            .collect();
        t.sort();
        t
    }

    /// A sample taken by walking the store (what a scrape does) keeps what one taken from a
    /// snapshot of it keeps: the same series (an explicit target's, the overflow series;
    /// strings left out), the same points, the same count of series it does not follow.
    #[test]
    fn a_sample_from_the_store_is_a_sample_from_its_snapshot() {
        let state = crate::State::builder().build().unwrap();
        let worker = Target::new("svc", "worker").with_task_num(4);
        let (mut copied, mut walked) = (
            History::new(Duration::from_secs(120), 5),
            History::new(Duration::from_secs(120), 5),
        );
        let mut now = 1_800_000_000_000_000u64;
        for round in 0..4u32 {
            state.in_scope(|| {
                JOBS.add(u64::from(round) + 1, "a");
                JOBS.add(2, &format!("q{round}"));
                JOBS.handle_with_target(&worker, "a").add(3);
                DEPTH.set(f64::from(round) * 1.5, "a");
                WAIT.add(0.01 * f64::from(round + 1), ());
                LOGINS.inc("ann");
                LOGINS.inc("bob");
                BUILD.set("1.0", ());
            });
            let mut snap = state.snapshot();
            snap.now_micros = now;
            assert!(copied.record(&snap));
            assert!(walked.record_store(state.store(), now));
            assert!(
                !walked.record_store(state.store(), now),
                "not due twice at once"
            );
            now += 5_000_000;
        }
        assert_eq!(walked.times, copied.times);
        assert_eq!(walked.untracked, copied.untracked);
        assert!(walked.untracked > 0, "more series than the ring follows");
        assert_eq!(tracks(&walked), tracks(&copied));
        // Found again at each sample (a key made by each lookup would start a new track): the
        // series written in every round have a point of every round.
        let key = TrackKey {
            metric: JOBS.desc().name,
            target: None,
            fields: b"\x01a".as_slice().into(),
            overflow: false,
        };
        assert_eq!(walked.tracks.get(&key).map(|t| t.points.len()), Some(4));
        assert_eq!(copied.tracks.get(&key).map(|t| t.points.len()), Some(4));
    }

    #[test]
    fn quantiles_interpolate_as_histogram_quantile_does() {
        // 10 samples in (0, 1], 10 in (1, 2], none above.
        let b = [(1.0, 10.0), (2.0, 20.0), (f64::INFINITY, 20.0)];
        assert!((quantile(0.5, &b) - 1.0).abs() < 1e-12);
        assert!((quantile(0.25, &b) - 0.5).abs() < 1e-12);
        assert!((quantile(0.75, &b) - 1.5).abs() < 1e-12);
        // In the +Inf bucket: the highest finite bound.
        let over = [(1.0, 1.0), (f64::INFINITY, 10.0)];
        assert!((quantile(0.9, &over) - 1.0).abs() < 1e-12);
        assert!(quantile(0.5, &[(1.0, 0.0), (f64::INFINITY, 0.0)]).is_nan());
    }

    #[test]
    fn a_difference_counts_what_the_earlier_buckets_lacked() {
        let before = [(1.0, 3.0), (f64::INFINITY, 3.0)];
        let now = [(1.0, 5.0), (2.0, 9.0), (f64::INFINITY, 9.0)];
        assert_eq!(
            difference(&now, &before),
            [(1.0, 2.0), (2.0, 6.0), (f64::INFINITY, 6.0)]
        );
    }
}
