//! The store's Go semantics (luci-go `store/storetest`, `metric_test.go`), ported.

use std::sync::Arc;
use std::time::Duration;

use tsmon::clock::ManualClock;
use tsmon::distribution::{BucketerSpec, Distribution};
use tsmon::field::FieldValue;
use tsmon::store::Value;
use tsmon::{State, Target};

tsmon::metric! {
    /// An int gauge.
    static INT: IntGauge = "test/store/int";
    /// A counter.
    static COUNTER: Counter = "test/store/counter";
    /// A float gauge.
    static FLOAT: FloatGauge = "test/store/float";
    /// A float counter.
    static FLOAT_COUNTER: FloatCounter = "test/store/float_counter";
    /// A string.
    static STRING: StringMetric = "test/store/string";
    /// A bool.
    static BOOL: BoolMetric = "test/store/bool";
    /// A cumulative distribution.
    static CDIST: CumulativeDistribution = "test/store/cdist";
    /// A non-cumulative distribution.
    #[tsmon(bucketer = fixed_width(10.0, 20))]
    static NCDIST: NonCumulativeDistribution = "test/store/ncdist";
    /// A counter with a field.
    static BY_NAME: Counter(name: String) = "test/store/by_name";
    /// A gauge with every field type.
    static MIXED: IntGauge(s: String, i: i64, b: bool) = "test/store/mixed";
    /// Hammered from many threads.
    static HAMMER: Counter(worker: i64) = "test/store/hammer";
    /// Hammered distribution.
    #[tsmon(bucketer = fixed_width(1.0, 10))]
    static HAMMER_DIST: CumulativeDistribution = "test/store/hammer_dist";
    /// Small cap.
    #[tsmon(max_series = 3)]
    static CAPPED: Counter(user: String) = "test/store/capped";
    /// The same fields as `BY_NAME`, for lookups that must not mix the two up.
    static BY_NAME_TOO: Counter(name: String) = "test/store/by_name_too";
    /// Written from a logging hook, inside another write.
    static FROM_HOOK: Counter(name: String) = "test/store/from_hook";
}

fn state() -> State {
    State::builder()
        .with_target(
            Target::new("default target", "job")
                .with_data_center("dc")
                .with_host("h"),
        )
        .build()
        .unwrap()
}

#[test]
fn get_before_set_is_the_zero_value_and_set_get_round_trips() {
    let s = state();
    let _g = s.enter();
    assert_eq!(
        (
            INT.get(()),
            COUNTER.get(()),
            FLOAT.get(()),
            FLOAT_COUNTER.get(())
        ),
        (0, 0, 0.0, 0.0)
    );
    assert_eq!((STRING.get(()), BOOL.get(())), (String::new(), false));
    assert!(CDIST.get(()).is_none() && NCDIST.get(()).is_none());
    assert!(s.snapshot().is_empty(), "reads create nothing");

    INT.set(-42, ());
    COUNTER.set(42, ());
    FLOAT.set(4.2, ());
    FLOAT_COUNTER.set(4.2, ());
    STRING.set("hello", ());
    BOOL.set(true, ());
    let mut d = Distribution::new(NCDIST.desc().bucketer());
    d.add(15.0);
    NCDIST.set(&d, ());
    CDIST.add(1.0, ());
    assert_eq!(
        (
            INT.get(()),
            COUNTER.get(()),
            FLOAT.get(()),
            FLOAT_COUNTER.get(())
        ),
        (-42, 42, 4.2, 4.2)
    );
    assert_eq!((STRING.get(()).as_str(), BOOL.get(())), ("hello", true));
    let nc = NCDIST.get(()).unwrap();
    assert_eq!((nc.sum(), nc.count()), (15.0, 1));
    d.add(100.0);
    assert_eq!(
        NCDIST.get(()).unwrap().count(),
        1,
        "the store keeps a copy, not the caller's value"
    );
    assert_eq!(s.snapshot().metrics().len(), 8);
}

#[test]
fn fields_keep_separate_cells() {
    let s = state();
    let _g = s.enter();
    BY_NAME.add(1, "a");
    BY_NAME.add(2, "b");
    MIXED.set(7, ("x", -1, true));
    MIXED.set(8, ("x", -1, false));
    assert_eq!(
        (BY_NAME.get("a"), BY_NAME.get("b"), BY_NAME.get("c")),
        (1, 2, 0)
    );
    assert_eq!(
        (MIXED.get(("x", -1, true)), MIXED.get(("x", -1, false))),
        (7, 8)
    );
    let snap = s.snapshot();
    let m = snap.metric("test/store/mixed").unwrap();
    assert_eq!(m.cells().len(), 2);
    let cell = m
        .find(&[
            FieldValue::Str("x"),
            FieldValue::Int(-1),
            FieldValue::Bool(true),
        ])
        .unwrap();
    assert_eq!(cell.value(), &Value::Int(7));
}

#[test]
fn explicit_targets_keep_separate_cells_and_labels() {
    let s = state();
    let _g = s.enter();
    let foo = Target::new("foo", "job")
        .with_data_center("dc")
        .with_host("h");
    COUNTER.handle_with_target(&foo, ()).add(5);
    COUNTER.add(1, ());
    let snap = s.snapshot();
    let m = snap.metric("test/store/counter").unwrap();
    assert_eq!(m.cells().len(), 2);
    let services: Vec<_> = m
        .cells()
        .iter()
        .map(|c| (snap.target(c).service_name.clone(), c.value().clone()))
        .collect();
    assert!(
        services.contains(&("foo".into(), Value::Int(5))),
        "{services:?}"
    );
    assert!(
        services.contains(&("default target".into(), Value::Int(1))),
        "{services:?}"
    );
}

#[test]
fn cumulative_set_below_the_value_is_ignored() {
    let s = state();
    let _g = s.enter();
    COUNTER.set(10, ());
    COUNTER.set(5, ());
    FLOAT_COUNTER.set(10.0, ());
    FLOAT_COUNTER.set(5.0, ());
    FLOAT_COUNTER.add(-1.0, ());
    assert_eq!((COUNTER.get(()), FLOAT_COUNTER.get(())), (10, 10.0));
}

#[test]
fn increments_add_up() {
    let s = state();
    let _g = s.enter();
    COUNTER.add(3, ());
    COUNTER.add(4, ());
    FLOAT_COUNTER.add(3.2, ());
    FLOAT_COUNTER.add(4.3, ());
    CDIST.add(3.2, ());
    CDIST.add(5.3, ());
    assert_eq!(COUNTER.get(()), 7);
    assert!((FLOAT_COUNTER.get(()) - 7.5).abs() < 1e-12);
    let d = CDIST.get(()).unwrap();
    assert_eq!(d.buckets(), [0, 0, 0, 1, 1]);
    assert_eq!(d.bucketer().spec(), &BucketerSpec::DEFAULT);
}

#[test]
fn snapshots_do_not_change_with_later_writes() {
    let s = state();
    let _g = s.enter();
    COUNTER.add(1, ());
    CDIST.add(1.0, ());
    let snap = s.snapshot();
    COUNTER.add(1, ());
    CDIST.add(1.0, ());
    assert_eq!(
        snap.metric("test/store/counter").unwrap().cells()[0].value(),
        &Value::Int(1)
    );
    match snap.metric("test/store/cdist").unwrap().cells()[0].value() {
        Value::Distribution(d) => assert_eq!(d.count(), 1),
        other => panic!("{other:?}"),
    }
    let m = snap.metric("test/store/counter").unwrap();
    assert_eq!(m.desc().kind(), tsmon::metric::MetricKind::Counter);
    assert!(m.desc().units().is_none());
}

#[test]
fn delete_removes_exactly_one_cell() {
    let s = state();
    let _g = s.enter();
    BY_NAME.add(1, "a");
    BY_NAME.add(1, "b");
    assert!(BY_NAME.delete("a"));
    assert!(!BY_NAME.delete("a"));
    assert_eq!((BY_NAME.get("a"), BY_NAME.get("b")), (0, 1));
    INT.set(3, ());
    assert!(INT.delete(()));
    assert!(s.snapshot().metric("test/store/int").is_none());
}

#[test]
fn concurrent_writes_total_exactly() {
    let s = state();
    let threads: Vec<_> = (0..32)
        .map(|i| {
            let s = s.clone();
            std::thread::spawn(move || {
                let _g = s.enter();
                let own = HAMMER.handle(i);
                for _ in 0..100 {
                    COUNTER.inc(());
                    HAMMER.add(2, -1);
                    own.inc();
                    HAMMER_DIST.add(f64::from(i as u8 % 10), ());
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    let _g = s.enter();
    assert_eq!(COUNTER.get(()), 3200);
    assert_eq!(HAMMER.get(-1), 6400);
    assert!((0..32).all(|i| HAMMER.get(i) == 100));
    let d = HAMMER_DIST.get(()).unwrap();
    assert_eq!(d.count(), 3200);
    assert_eq!(
        d.sum(),
        (0..32)
            .map(|i| f64::from(i as u8 % 10) * 100.0)
            .sum::<f64>()
    );
}

#[test]
fn start_times_are_strictly_monotonic_and_reset_moves_them() {
    let clock = Arc::new(ManualClock::new(1_000_000));
    let s = State::builder().with_clock(clock.clone()).build().unwrap();
    let _g = s.enter();
    COUNTER.inc(());
    BY_NAME.inc("a");
    let snap = s.snapshot();
    let t1 = snap.metric("test/store/counter").unwrap().cells()[0].start_micros();
    let t2 = snap.metric("test/store/by_name").unwrap().cells()[0].start_micros();
    assert_eq!(t1, 1_000_000);
    assert_eq!(t2, 1_000_001, "same wall time, next microsecond");
    assert!(
        snap.now_micros() > t2,
        "the snapshot time comes after every start time"
    );
    clock.advance(Duration::from_secs(5));
    COUNTER.reset();
    assert_eq!(COUNTER.get(()), 0);
    let t3 = s.snapshot().metric("test/store/counter").unwrap().cells()[0].start_micros();
    assert_eq!(t3, 6_000_000);
}

#[test]
fn default_target_is_bound_at_snapshot_time() {
    // Written before the allocator gives the task its number; bound to the number when a
    // snapshot is taken after it came.
    let s = State::builder()
        .with_target(Target::new("default target", "job"))
        .with_allocator(tsmon::tasknum::FixedAllocator::new(7))
        .with_monitor(tsmon::monitor::FakeMonitor::new())
        .build()
        .unwrap();
    let _g = s.enter();
    COUNTER.inc(());
    tsmon::runtime::block_on(s.flush()).unwrap();
    let snap = s.snapshot();
    let cell = &snap.metric("test/store/counter").unwrap().cells()[0];
    assert_eq!(snap.target(cell).task_num, 7);
}

#[test]
fn disabled_store_drops_writes_and_enabling_starts_fresh() {
    let s = state();
    let _g = s.enter();
    COUNTER.add(5, ());
    let h = COUNTER.handle(());
    s.apply_settings(tsmon::settings::Settings {
        enabled: false,
        ..s.settings()
    })
    .unwrap();
    assert!(!s.store().is_enabled());
    COUNTER.add(5, ());
    h.add(5);
    assert_eq!(COUNTER.get(()), 0);
    assert!(s.snapshot().is_empty());
    s.apply_settings(tsmon::settings::Settings {
        enabled: true,
        ..s.settings()
    })
    .unwrap();
    assert_eq!(COUNTER.get(()), 0, "a fresh store");
    h.add(2);
    assert_eq!(COUNTER.get(()), 2, "handles keep working after re-enabling");
}

#[test]
fn series_cap_sends_new_series_to_overflow_and_counts() {
    let s = state();
    let _g = s.enter();
    for user in ["a", "b", "c", "d", "e", "a"] {
        CAPPED.inc(user);
    }
    assert_eq!(CAPPED.get("a"), 2);
    let snap = s.snapshot();
    let m = snap.metric("test/store/capped").unwrap();
    assert_eq!(m.cells().len(), 4);
    let overflow = m.cells().iter().find(|c| c.is_overflow()).unwrap();
    assert_eq!(overflow.value(), &Value::Int(2));
    let drops = snap.metric("tsmon/store/overflow_writes").unwrap();
    let cell = drops.find(&[FieldValue::Str("test/store/capped")]).unwrap();
    assert_eq!(cell.value(), &Value::Int(2));
    let text = tsmon::exposition::encode_to_string(&snap, tsmon::exposition::Format::Text);
    assert!(text.contains(",tsmon_overflow=\"true\"} 2\n"), "{text}");
}

#[test]
fn reset_cumulative_keeps_gauges() {
    let s = state();
    let _g = s.enter();
    COUNTER.add(5, ());
    INT.set(5, ());
    CDIST.add(1.0, ());
    s.reset_cumulative();
    assert_eq!((COUNTER.get(()), INT.get(())), (0, 5));
    assert_eq!(CDIST.get(()).unwrap().count(), 0);
}

#[test]
fn states_are_isolated() {
    let a = state();
    let b = state();
    a.in_scope(|| COUNTER.add(1, ()));
    assert_eq!(b.in_scope(|| COUNTER.get(())), 0);
    assert_eq!(a.in_scope(|| COUNTER.get(())), 1);
    // Nested scopes restore the outer one.
    let _ga = a.enter();
    b.in_scope(|| COUNTER.add(10, ()));
    COUNTER.add(1, ());
    assert_eq!(COUNTER.get(()), 2);
    assert_eq!(b.in_scope(|| COUNTER.get(())), 10);
}

#[test]
fn a_series_deleted_while_another_thread_caches_it_comes_back_fresh() {
    let s = state();
    let _g = s.enter();
    let (to_worker, from_main) = std::sync::mpsc::channel::<()>();
    let (to_main, from_worker) = std::sync::mpsc::channel::<()>();
    let worker = {
        let s = s.clone();
        std::thread::spawn(move || {
            let _g = s.enter();
            BY_NAME.add(5, "cached"); // now in this thread's lookup cache
            to_main.send(()).unwrap();
            from_main.recv().unwrap(); // the main thread deleted it meanwhile
            BY_NAME.add(1, "cached");
            to_main.send(()).unwrap();
        })
    };
    from_worker.recv().unwrap();
    BY_NAME.inc("cached"); // cached here too
    assert_eq!(BY_NAME.get("cached"), 6);
    assert!(BY_NAME.delete("cached"));
    to_worker.send(()).unwrap();
    from_worker.recv().unwrap();
    worker.join().unwrap();
    // The worker's write after the delete made a new series; it did not go to the old one.
    assert_eq!(BY_NAME.get("cached"), 1);
    BY_NAME.inc("cached");
    assert_eq!(BY_NAME.get("cached"), 2);
    let snap = s.snapshot();
    let m = snap.metric("test/store/by_name").unwrap();
    let cell = m.find(&[FieldValue::Str("cached")]).unwrap();
    assert_eq!(cell.value(), &Value::Int(2));
}

#[test]
fn lookups_keep_stores_metrics_and_values_apart() {
    // New stores may reuse a dropped one's memory; cached lookups must not carry over.
    for round in 0..50 {
        let s = state();
        s.in_scope(|| {
            BY_NAME.inc("k");
            BY_NAME_TOO.add(10, "k");
            assert_eq!(
                (BY_NAME.get("k"), BY_NAME_TOO.get("k")),
                (1, 10),
                "round {round}"
            );
        });
    }
    // Far more keys than the cache holds, in an order that keeps evicting: exact totals.
    let s = state();
    let _g = s.enter();
    let keys: Vec<String> = (0..1000).map(|i| format!("key-{i}")).collect();
    // Two metrics with equal values (equal hashes), written in turn.
    for pass in 1..=3 {
        for (i, k) in keys.iter().enumerate() {
            BY_NAME.add(i as u64 % 7 + 1, k);
            BY_NAME_TOO.add(100, k);
        }
        assert!(
            keys.iter()
                .enumerate()
                .all(|(i, k)| BY_NAME.get(k) == pass * (i as i64 % 7 + 1)
                    && BY_NAME_TOO.get(k) == pass * 100)
        );
    }
    // Values that differ only in where a string ends, or in an integer's sign.
    MIXED.set(1, ("ab", 1, true));
    MIXED.set(2, ("a", 1, true));
    MIXED.set(3, ("ab", -1, true));
    MIXED.set(4, ("ab", 1, false));
    let long = "x".repeat(300);
    MIXED.set(5, (&long, 1, true));
    assert_eq!(
        [
            MIXED.get(("ab", 1, true)),
            MIXED.get(("a", 1, true)),
            MIXED.get(("ab", -1, true)),
            MIXED.get(("ab", 1, false)),
            MIXED.get((&long, 1, true)),
            MIXED.get(("", 0, false)),
        ],
        [1, 2, 3, 4, 5, 0]
    );
}

/// A logger that writes a metric for every event it sees: a write inside a write.
struct WritingLogger;

impl tracing::Subscriber for WritingLogger {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, _: &tracing::Event<'_>) {
        BY_NAME.inc("logged");
        FROM_HOOK.inc("logged");
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn a_write_from_inside_a_write_is_kept() {
    let s = state();
    let _g = s.enter();
    tracing::subscriber::with_default(WritingLogger, || {
        BY_NAME.add(5, "logged");
        // Setting a counter below its value logs an error from inside the write, while this
        // thread's lookup cache for counters is in use: the logger's writes go to the map.
        BY_NAME.set(1, "logged");
    });
    assert_eq!(BY_NAME.get("logged"), 6);
    assert_eq!(FROM_HOOK.get("logged"), 1);
}

#[test]
fn handles_and_writes_by_value_share_their_series() {
    let s = state();
    let _g = s.enter();
    // Created by value, then resolved; and the other way round.
    MIXED.set(1, ("x", 7, true));
    let h = MIXED.handle(("x", 7, true));
    h.add(10);
    assert_eq!(MIXED.get(("x", 7, true)), 11);
    let first = MIXED.handle(("y", -7, false));
    first.set(5);
    MIXED.add(1, ("y", -7, false));
    assert_eq!(first.get(), 6);
    // Under another target, the same values are another series.
    let other = Target::new("other", "job");
    MIXED.handle_with_target(&other, ("x", 7, true)).set(100);
    assert_eq!(MIXED.get(("x", 7, true)), 11);
    let snap = s.snapshot();
    assert_eq!(snap.metric("test/store/mixed").unwrap().cells().len(), 3);
}

tsmon::metric! {
    /// Requests, with exemplars.
    static TRACED: Counter(route: String) = "test/store/traced";
    /// Latencies, with exemplars per bucket.
    #[tsmon(bucketer = bounds(1, 10))]
    static TRACED_LATENCY: CumulativeDistribution = "test/store/traced_latency";
}

fn dropped_exemplars(state: &State, metric: &str) -> i64 {
    state
        .snapshot()
        .metric("tsmon/store/dropped_exemplars")
        .and_then(|m| m.find(&[FieldValue::Str(metric)]))
        .map_or(0, |c| match c.value() {
            Value::Int(n) => *n,
            _ => -1,
        })
}

/// The latest exemplar is kept per series (per bucket), labels past the OpenMetrics limit or
/// with invalid names are dropped and counted while the write itself counts, and a series
/// deleted or reset forgets its exemplars.
#[test]
fn exemplars_are_kept_per_series_dropped_when_invalid_and_forgotten_with_the_series() {
    let state = state();
    let _g = state.enter();
    TRACED.add_with_exemplar(1, "/a", &[("trace_id", "t1")]);
    TRACED.add_with_exemplar(1, "/a", &[("trace_id", "t2")]);
    TRACED.add(5, "/b");
    TRACED_LATENCY.add_with_exemplar(0.5, (), &[("trace_id", "low")]);
    TRACED_LATENCY.add_with_exemplar(5.0, (), &[("trace_id", "mid")]);
    let snap = state.snapshot();
    let m = snap.metric("test/store/traced").unwrap();
    let a = m.find(&[FieldValue::Str("/a")]).unwrap();
    assert_eq!(a.exemplar(0).unwrap().labels()[0].1, "t2", "the latest");
    assert!(
        m.find(&[FieldValue::Str("/b")])
            .unwrap()
            .exemplar(0)
            .is_none()
    );
    let d = &snap.metric("test/store/traced_latency").unwrap().cells()[0];
    assert_eq!(d.exemplar(0).unwrap().labels()[0].1, "low");
    assert_eq!(d.exemplar(1).unwrap().labels()[0].1, "mid");
    assert!(d.exemplar(2).is_none());

    // Over 128 characters, or a bad name: the add counts, the exemplar does not.
    let long = "x".repeat(130);
    TRACED.add_with_exemplar(1, "/c", &[("trace_id", &long)]);
    TRACED.add_with_exemplar(1, "/c", &[("1bad", "v")]);
    assert_eq!(TRACED.get("/c"), 2);
    let snap = state.snapshot();
    let c = snap
        .metric("test/store/traced")
        .unwrap()
        .find(&[FieldValue::Str("/c")])
        .unwrap();
    assert!(c.exemplar(0).is_none());
    assert_eq!(dropped_exemplars(&state, "test/store/traced"), 2);

    // Deleted, then written again: no exemplar from before.
    assert!(TRACED.delete("/a"));
    TRACED.add(1, "/a");
    let snap = state.snapshot();
    let a = snap
        .metric("test/store/traced")
        .unwrap()
        .find(&[FieldValue::Str("/a")])
        .unwrap();
    assert!(a.exemplar(0).is_none());
    // Reset: every stream starts again, without its exemplars.
    TRACED_LATENCY.reset();
    TRACED_LATENCY.add(0.5, ());
    let snap = state.snapshot();
    let d = &snap.metric("test/store/traced_latency").unwrap().cells()[0];
    assert!(d.exemplar(0).is_none() && d.exemplar(1).is_none());
}
