//! The flush loop and settings, ported from Go's server/tsmon/middleware_test.go and
//! common/tsmon/flush_test.go: driven by a manual clock and `flush_if_needed`, no sleeping.

use std::sync::Arc;
use std::time::Duration;

use tsmon::clock::{ManualClock, TimeSource};
use tsmon::error::Error;
use tsmon::monitor::{BoxFuture, FakeMonitor, Monitor};
use tsmon::settings::{MonitorSpec, Settings};
use tsmon::store::{Snapshot, Value};
use tsmon::tasknum::InMemoryAllocator;
use tsmon::{State, Target};

tsmon::metric! {
    /// Incremented by the "requests" of these tests.
    static HITS: Counter = "test/flush/hits";
    /// One series per shard, to count chunks.
    static SHARDS: IntGauge(shard: i64) = "test/flush/shards";
    /// Set by a callback.
    static FROM_CALLBACK: IntGauge = "test/flush/from_callback";
}

const T0: u64 = 1_700_000_000_000_000;

struct Fixture {
    state: State,
    clock: Arc<ManualClock>,
    monitor: FakeMonitor,
}

fn fixture(allocator: Option<InMemoryAllocator>) -> Fixture {
    let clock = Arc::new(ManualClock::new(T0));
    let monitor = FakeMonitor::new();
    let mut b = State::builder()
        .with_target(Target::new("service-name", "12345-version").with_data_center("datacenter"))
        .with_instance_id("some.id")
        .with_clock(clock.clone())
        .with_monitor(monitor.clone());
    if let Some(a) = allocator {
        b = b.with_allocator(a);
    }
    Fixture {
        state: b.build().unwrap(),
        clock,
        monitor,
    }
}

/// Without the runtime stats, a flush holds only what the test wrote.
fn no_runtime_stats() -> Settings {
    Settings {
        report_runtime_stats: false,
        ..Settings::default()
    }
}

/// The flush schedule as `State::health` reports it, in the manual clock's microseconds:
/// (next flush, last success, retry delay, whether a flush is under way).
fn schedule(state: &State, clock: &ManualClock) -> (u64, u64, Duration, bool) {
    let h = state.health();
    let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap();
    let next = clock.now_micros() + micros(h.next_flush_in.unwrap_or_default());
    let last = h.last_success.map_or(0, |t| {
        micros(t.duration_since(std::time::UNIX_EPOCH).unwrap())
    });
    (next, last, h.retry_delay, h.flush_in_progress)
}

fn block_on<F: Future>(f: F) -> F::Output {
    tsmon::runtime::block_on(f)
}

fn hits_sent(chunks: &[Snapshot]) -> Vec<(i64, i32)> {
    chunks
        .iter()
        .filter_map(|c| {
            let m = c.metric("test/flush/hits")?;
            let cell = &m.cells()[0];
            match cell.value() {
                Value::Int(n) => Some((*n, c.target(cell).task_num)),
                _ => None,
            }
        })
        .collect()
}

#[test]
fn pings_the_allocator_and_waits_for_a_number() {
    let alloc = InMemoryAllocator::new().with_housekeeping();
    let f = fixture(Some(alloc.clone()));
    f.state.in_scope(|| HITS.inc(()));
    // Enabled at build: the first flush is due at once; no number yet, nothing is sent.
    let next = block_on(f.state.flush_if_needed()).unwrap();
    assert!(f.monitor.sent().is_empty());
    assert_eq!(next, T0 + 60_000_000, "the next try is one interval later");
    alloc.assign();
    f.clock.advance(Duration::from_secs(60));
    f.state.in_scope(|| HITS.inc(()));
    block_on(f.state.flush_if_needed());
    // Both increments were kept while waiting, and go out under task number 0.
    assert_eq!(hits_sent(&f.monitor.sent()), [(2, 0)]);
    assert_eq!(f.monitor.sent().len(), 1, "exactly one chunk");
}

#[test]
fn losing_the_number_resets_cumulative_metrics_once() {
    let alloc = InMemoryAllocator::new().with_housekeeping();
    let f = fixture(Some(alloc.clone()));
    block_on(f.state.flush_if_needed());
    alloc.assign();
    f.state.in_scope(|| HITS.inc(()));
    f.clock.advance(Duration::from_secs(60));
    block_on(f.state.flush_if_needed());
    assert_eq!(hits_sent(&f.monitor.sent()), [(1, 0)]);

    alloc.revoke("some.id");
    f.monitor.clear();
    f.clock.advance(Duration::from_secs(60));
    block_on(f.state.flush_if_needed());
    assert!(f.monitor.sent().is_empty(), "no number: nothing sent");
    assert_eq!(
        f.state.in_scope(|| HITS.get(())),
        0,
        "the counter was reset"
    );
    assert_eq!(f.state.store().default_target().task_num, -1);

    // Still no number: no second reset of what was counted since.
    f.state.in_scope(|| HITS.add(5, ()));
    f.clock.advance(Duration::from_secs(60));
    block_on(f.state.flush_if_needed());
    assert_eq!(f.state.in_scope(|| HITS.get(())), 5);
}

#[test]
fn a_new_number_relabels_without_a_reset() {
    let alloc = InMemoryAllocator::new();
    let other = InMemoryAllocator::new();
    let f = fixture(Some(alloc.clone()));
    f.state.in_scope(|| HITS.add(3, ()));
    block_on(f.state.flush_if_needed());
    assert_eq!(hits_sent(&f.monitor.sent()), [(3, 0)]);
    // Two other instances take 0 and 1 elsewhere; ours is revoked and comes back as 2.
    let t = f.state.store().default_target();
    block_on(other.notify_task_is_alive_for_test(&t));
    alloc.revoke("some.id");
    block_on(tsmon::tasknum::TaskNumAllocator::notify_task_is_alive(
        &alloc, &t, "x",
    ))
    .unwrap();
    block_on(tsmon::tasknum::TaskNumAllocator::notify_task_is_alive(
        &alloc, &t, "y",
    ))
    .unwrap();
    f.monitor.clear();
    f.clock.advance(Duration::from_secs(60));
    block_on(f.state.flush_if_needed());
    assert_eq!(
        hits_sent(&f.monitor.sent()),
        [(3, 2)],
        "same stream, new label"
    );
}

trait TestHeartbeat {
    fn notify_task_is_alive_for_test<'a>(&'a self, t: &'a Target) -> BoxFuture<'a, ()>;
}

impl TestHeartbeat for InMemoryAllocator {
    fn notify_task_is_alive_for_test<'a>(&'a self, t: &'a Target) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let _ = tsmon::tasknum::TaskNumAllocator::notify_task_is_alive(self, t, "other").await;
        })
    }
}

#[test]
fn dynamic_enable_and_disable() {
    let f = fixture(None);
    f.state.in_scope(|| HITS.add(4, ()));
    let off = Settings {
        enabled: false,
        ..f.state.settings()
    };
    f.state.apply_settings(off.clone()).unwrap();
    assert!(!f.state.store().is_enabled());
    f.state.in_scope(|| HITS.add(1, ()));
    assert_eq!(
        block_on(f.state.flush_if_needed()),
        None,
        "no flush while disabled"
    );
    assert!(f.monitor.sent().is_empty());

    f.clock.advance(Duration::from_secs(600));
    f.state
        .apply_settings(Settings {
            enabled: true,
            ..off
        })
        .unwrap();
    assert!(f.state.store().is_enabled());
    assert_eq!(f.state.in_scope(|| HITS.get(())), 0, "a fresh store");
    let (next, _, retry, _) = schedule(&f.state, &f.clock);
    assert_eq!(next, T0 + 600_000_000, "a flush is due at once");
    assert_eq!(retry, Duration::from_secs(5));
}

#[test]
fn failures_back_off_from_5s_doubling_to_10_minutes() {
    let f = fixture(None);
    f.state.in_scope(|| HITS.inc(()));
    block_on(f.state.flush_if_needed());
    let (_, last_success, retry, _) = schedule(&f.state, &f.clock);
    assert_eq!((last_success, retry), (T0, Duration::from_secs(5)));

    f.monitor.fail_with("backend down");
    f.clock.advance(Duration::from_secs(60));
    let next = block_on(f.state.flush_if_needed()).unwrap();
    let (_, last, retry, _) = schedule(&f.state, &f.clock);
    assert_eq!(last, T0, "a failure leaves the last success alone");
    assert_eq!(next, T0 + 65_000_000, "retried 5 s later");
    assert_eq!(retry, Duration::from_secs(10), "doubled");

    f.clock.advance(Duration::from_secs(60));
    block_on(f.state.flush_if_needed());
    assert_eq!(
        schedule(&f.state, &f.clock).2,
        Duration::from_secs(20),
        "quadrupled"
    );
    for _ in 0..10 {
        f.clock.advance(Duration::from_secs(700));
        block_on(f.state.flush_if_needed());
    }
    assert_eq!(
        schedule(&f.state, &f.clock).2,
        Duration::from_secs(600),
        "capped at 10 minutes"
    );

    let count = |name: &str, values: &[tsmon::field::FieldValue<'_>]| {
        f.state
            .snapshot()
            .metric(name)
            .and_then(|m| m.find(values))
            .map_or(0, |c| match c.value() {
                Value::Int(n) => *n,
                _ => -1,
            })
    };
    use tsmon::field::FieldValue::Str;
    assert_eq!(count("tsmon/flush/flushes", &[Str("error")]), 12);
    assert_eq!(count("tsmon/flush/flushes", &[Str("ok")]), 1);
    assert!(
        count("tsmon/flush/dropped_cells", &[]) >= 12,
        "each failed flush counts its cells as dropped"
    );

    f.monitor.succeed();
    f.clock.advance(Duration::from_secs(700));
    block_on(f.state.flush_if_needed());
    let (next, last, retry, _) = schedule(&f.state, &f.clock);
    assert_eq!(retry, Duration::from_secs(5));
    assert_eq!(next, last + 60_000_000);
}

#[test]
fn a_flush_is_due_100ms_early_and_not_before() {
    let f = fixture(None);
    f.state.in_scope(|| HITS.inc(()));
    block_on(f.state.flush_if_needed());
    assert_eq!(f.monitor.sent().len(), 1);
    f.clock.advance(Duration::from_millis(59_899));
    block_on(f.state.flush_if_needed());
    assert_eq!(f.monitor.sent().len(), 1, "not yet due");
    f.clock.advance(Duration::from_millis(1));
    block_on(f.state.flush_if_needed());
    assert_eq!(f.monitor.sent().len(), 2, "due within 100 ms");
}

#[test]
fn chunks_go_out_whole_or_split_by_the_monitors_size() {
    for (chunk, expected) in [(42, vec![42, 1]), (0, vec![43])] {
        let monitor = FakeMonitor::new().with_chunk_size(chunk);
        let state = State::builder()
            .with_monitor(monitor.clone())
            .with_settings(no_runtime_stats())
            .build()
            .unwrap();
        // 43 cells in all: 42 shards and one counter.
        state.in_scope(|| {
            (0..42).for_each(|i| SHARDS.set(1, i));
            HITS.inc(());
        });
        block_on(state.flush()).unwrap();
        let sizes: Vec<usize> = monitor.sent().iter().map(Snapshot::num_cells).collect();
        assert_eq!(sizes, expected, "chunk size {chunk}");
    }
}

#[test]
fn an_empty_store_sends_nothing_and_succeeds() {
    let monitor = FakeMonitor::new();
    let state = State::builder()
        .with_monitor(monitor.clone())
        .with_settings(no_runtime_stats())
        .build()
        .unwrap();
    block_on(state.flush()).unwrap();
    assert!(monitor.sent().is_empty());
}

#[test]
fn callbacks_run_before_each_snapshot() {
    let f = fixture(None);
    let s = f.state.clone();
    f.state
        .register_callback(move || s.in_scope(|| FROM_CALLBACK.set(9, ())));
    f.state.register_callback(|| panic!("a broken callback"));
    block_on(f.state.flush()).unwrap();
    let sent = f.monitor.sent();
    let cell = &sent[0].metric("test/flush/from_callback").unwrap().cells()[0];
    assert_eq!(cell.value(), &Value::Int(9));
}

/// A monitor whose sends never finish.
#[derive(Debug)]
struct Stuck;

impl Monitor for Stuck {
    fn send<'a>(&'a self, _: &'a Snapshot) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(std::future::pending())
    }
}

#[test]
fn a_stuck_monitor_times_out_and_backs_off() {
    let clock = Arc::new(ManualClock::new(T0));
    let state = State::builder()
        .with_clock(clock)
        .with_monitor(Stuck)
        .with_settings(Settings {
            flush_timeout: Duration::from_secs(2),
            ..Settings::default()
        })
        .build()
        .unwrap();
    state.in_scope(|| HITS.inc(()));
    // Tokio's paused clock jumps over the timeout instead of waiting for it.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let err = rt.block_on(state.flush()).unwrap_err();
    assert!(
        matches!(err, Error::FlushTimeout(d) if d == Duration::from_secs(2)),
        "{err}"
    );
    assert_eq!(state.health().retry_delay, Duration::from_secs(10));
    assert!(!state.health().flush_in_progress, "the flush is over");
}

#[test]
fn workers_bound_the_sends_in_flight() {
    #[derive(Debug, Default)]
    struct Counting {
        now: std::sync::atomic::AtomicUsize,
        peak: std::sync::atomic::AtomicUsize,
    }
    impl Monitor for Counting {
        fn chunk_size(&self) -> usize {
            1
        }
        fn send<'a>(&'a self, _: &'a Snapshot) -> BoxFuture<'a, Result<(), Error>> {
            use std::sync::atomic::Ordering::SeqCst;
            Box::pin(async move {
                let n = self.now.fetch_add(1, SeqCst) + 1;
                self.peak.fetch_max(n, SeqCst);
                tokio::task::yield_now().await;
                self.now.fetch_sub(1, SeqCst);
                Ok(())
            })
        }
    }
    let counting = Arc::new(Counting::default());
    let state = State::builder()
        .with_monitor(counting.clone())
        .with_settings(Settings {
            flush_workers: 3,
            ..Settings::default()
        })
        .build()
        .unwrap();
    state.in_scope(|| (0..20).for_each(|i| SHARDS.set(1, i)));
    block_on(state.flush()).unwrap();
    assert_eq!(counting.peak.load(std::sync::atomic::Ordering::SeqCst), 3);
}

/// The refusals counted for `source`, over every key.
fn refused(state: &State, source: &str) -> i64 {
    let snap = state.snapshot();
    let Some(m) = snap.metric("tsmon/settings/refused") else {
        return 0;
    };
    m.cells()
        .iter()
        .filter(|c| {
            m.field_values(c)
                .next()
                .is_some_and(|v| v == tsmon::field::FieldValue::Str(source))
        })
        .map(|c| match c.value() {
            Value::Int(n) => *n,
            _ => -1,
        })
        .sum()
}

#[test]
fn a_settings_file_is_applied_and_bad_ones_are_refused() {
    let dir = tempfile::Builder::new()
        .prefix("tsmon-settings-")
        .tempdir()
        .unwrap();
    let path = dir.path().join("tsmon.toml");
    std::fs::write(&path, "flush_interval_sec = 30\n").unwrap();
    let state = State::builder().with_settings_file(&path).build().unwrap();
    assert_eq!(state.settings().flush_interval, Duration::from_secs(30));

    std::fs::write(&path, r#"{"flush_interval_sec": 45, "monitor": "debug"}"#).unwrap();
    state.reload_settings_file().unwrap();
    assert_eq!(state.settings().flush_interval, Duration::from_secs(45));
    assert_eq!(state.settings().monitor, MonitorSpec::Debug { path: None });

    // A file that does not parse is refused whole: the file's previous settings stay.
    for (i, bad) in ["", "flush_interval_sec = ", "{\"enabled\": tru"]
        .iter()
        .enumerate()
    {
        std::fs::write(&path, bad).unwrap();
        assert!(state.reload_settings_file().is_err(), "{bad:?}");
        assert_eq!(
            state.settings().flush_interval,
            Duration::from_secs(45),
            "{bad:?}"
        );
        assert_eq!(state.settings().monitor, MonitorSpec::Debug { path: None });
        assert_eq!(refused(&state, "file"), i64::try_from(i).unwrap() + 1);
    }
    // A file that parses is applied key by key: the conflicting timeout alone is refused, and
    // the interval applies with the timeout that follows it.
    std::fs::write(&path, "flush_interval_sec = 2\nflush_timeout_sec = 5").unwrap();
    let err = state.reload_settings_file().unwrap_err().to_string();
    assert!(
        err.contains("flush_timeout_sec") && err.contains("flush_interval_sec = 2"),
        "{err}"
    );
    assert_eq!(state.settings().flush_interval, Duration::from_secs(2));
    assert_eq!(state.settings().flush_timeout, Duration::from_secs(1));
    assert_eq!(refused(&state, "file"), 4);
    // An unknown key is refused by name; the keys the file no longer sets fall back to the
    // layers below it.
    std::fs::write(&path, "colour = 1").unwrap();
    let err = state.reload_settings_file().unwrap_err().to_string();
    assert!(err.contains("colour"), "{err}");
    assert_eq!(state.settings().flush_interval, Duration::from_secs(60));
    assert_eq!(state.settings().monitor, MonitorSpec::None);
    assert_eq!(refused(&state, "file"), 5);
    std::fs::remove_file(&path).unwrap();
    assert!(
        state.reload_settings_file().is_err(),
        "a missing file is refused"
    );
    assert_eq!(state.settings().flush_interval, Duration::from_secs(60));
}

#[test]
fn dev_mode_means_task_number_zero_and_the_debug_monitor() {
    let alloc = InMemoryAllocator::new().with_housekeeping();
    let state = State::builder()
        .dev_mode(true)
        .with_allocator(alloc)
        .build()
        .unwrap();
    assert_eq!(state.settings().monitor, MonitorSpec::Debug { path: None });
    state.in_scope(|| HITS.inc(()));
    block_on(state.flush()).unwrap();
    assert_eq!(state.store().default_target().task_num, 0);
}

#[test]
fn a_watched_settings_file_applies_without_a_restart() {
    let dir = tempfile::Builder::new()
        .prefix("tsmon-watch-")
        .tempdir()
        .unwrap();
    let path = dir.path().join("tsmon.json");
    std::fs::write(&path, r#"{"flush_interval_sec": 30}"#).unwrap();
    let state = State::builder().with_settings_file(&path).build().unwrap();
    let background = state.start();
    assert_eq!(state.settings().flush_interval, Duration::from_secs(30));
    // A different length, so the change shows even where modification times are coarse.
    std::fs::write(&path, r#"{"flush_interval_sec": 120, "enabled": false}"#).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    // The settings are in force a moment before their effects (the store turned off) are
    // applied, outside the settings lock: wait for both.
    while state.settings().flush_interval != Duration::from_secs(120) || state.store().is_enabled()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the watcher did not apply the file"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!state.settings().enabled);
    drop(background);
}

/// A monitor that keeps every chunk for later, as the remote-write queue does in an outage.
#[derive(Debug)]
struct Defers;

impl Monitor for Defers {
    fn send<'a>(&'a self, _: &'a Snapshot) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async { Err(Error::Deferred("queued for the next flush".into())) })
    }
}

#[test]
fn a_deferred_flush_keeps_the_interval_instead_of_backing_off() {
    let clock = Arc::new(ManualClock::new(T0));
    let state = State::builder()
        .with_clock(clock.clone())
        .with_monitor(Defers)
        .with_settings(no_runtime_stats())
        .build()
        .unwrap();
    state.in_scope(|| HITS.inc(()));
    for round in 0..3u64 {
        let next = block_on(state.flush_if_needed()).unwrap();
        let now = T0 + round * 60_000_000;
        assert_eq!(next, now + 60_000_000, "one interval later, round {round}");
        let retry = state.health().retry_delay;
        assert_eq!(retry, Duration::from_secs(5), "no backoff");
        clock.set(next);
    }
    let h = state.health();
    assert_eq!(h.last_flush.unwrap().outcome, "deferred");
    assert_eq!(h.consecutive_failures, 3);
}
