//! A State's life on a real clock: a slow flush under way when the service stops, a cancelled
//! flush, and settings that move the schedule. Every wait is a poll with a deadline.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tsmon::State;
use tsmon::error::Error;
use tsmon::monitor::{BoxFuture, FakeMonitor, Monitor};
use tsmon::settings::{Settings, SettingsLayer};
use tsmon::store::{Snapshot, Value};

tsmon::metric! {
    /// Written by these tests.
    static EVENTS: Counter = "test/lifecycle/events";
}

/// A monitor whose every send takes `delay`: it counts the sends begun, and keeps (in the
/// fake) the chunks of the sends that finished.
#[derive(Debug, Clone)]
struct Slow {
    delay: Duration,
    begun: Arc<AtomicUsize>,
    done: FakeMonitor,
}

impl Slow {
    fn new(delay: Duration) -> Self {
        Slow {
            delay,
            begun: Arc::new(AtomicUsize::new(0)),
            done: FakeMonitor::new(),
        }
    }

    fn begun(&self) -> usize {
        self.begun.load(Ordering::SeqCst)
    }

    /// The event counts of the finished sends, in order.
    fn delivered(&self) -> Vec<i64> {
        self.done
            .sent()
            .iter()
            .filter_map(|c| {
                let m = c.metric("test/lifecycle/events")?;
                match m.cells().first()?.value() {
                    Value::Int(n) => Some(*n),
                    _ => None,
                }
            })
            .collect()
    }
}

impl Monitor for Slow {
    fn send<'a>(&'a self, chunk: &'a Snapshot) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            self.begun.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            self.done.send(chunk).await
        })
    }
}

fn poll_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A State with the slow monitor, an interval of an hour and a timeout of 5 s: the only
/// periodic flush is the one at start.
fn slow_state() -> (State, Slow) {
    let slow = Slow::new(Duration::from_millis(1500));
    let state = State::builder()
        .with_monitor(slow.clone())
        .with_settings(Settings {
            flush_interval: Duration::from_secs(3600),
            flush_timeout: Duration::from_secs(5),
            report_runtime_stats: false,
            ..Settings::default()
        })
        .build()
        .unwrap();
    (state, slow)
}

/// Starts the loop, waits until its first flush is sending, then writes more.
fn start_and_write_during_the_first_send(state: &State, slow: &Slow) -> tsmon::flush::Background {
    state.in_scope(|| EVENTS.add(1, ()));
    let background = state.start();
    poll_until("the first send", 10, || slow.begun() == 1);
    state.in_scope(|| EVENTS.add(10, ()));
    background
}

#[test]
fn shutdown_during_a_slow_flush_waits_for_it_then_sends_what_came_after() {
    let (state, slow) = slow_state();
    let background = start_and_write_during_the_first_send(&state, &slow);
    tsmon::runtime::block_on(background.shutdown()).unwrap();
    let delivered = slow.delivered();
    assert_eq!(
        delivered.len(),
        2,
        "the flush under way and a final one: {delivered:?}"
    );
    assert_eq!(
        delivered[1], 11,
        "the final flush has the writes made during the first"
    );
    // Nothing is left stuck: a later flush still sends.
    tsmon::runtime::block_on(state.flush()).unwrap();
    assert_eq!(slow.delivered().len(), 3);
}

#[test]
fn dropping_the_background_during_a_slow_flush_waits_then_flushes() {
    let (state, slow) = slow_state();
    let background = start_and_write_during_the_first_send(&state, &slow);
    drop(background);
    assert_eq!(slow.delivered(), vec![1, 11]);
}

#[test]
fn a_flush_cancelled_mid_send_leaves_nothing_stuck() {
    let (state, slow) = slow_state();
    state.in_scope(|| EVENTS.add(3, ()));
    let cancelled = tsmon::runtime::block_on(async {
        tokio::time::timeout(Duration::from_millis(200), state.flush()).await
    });
    assert!(cancelled.is_err(), "the flush was cut short by the caller");
    assert_eq!(slow.delivered(), Vec::<i64>::new());
    assert!(
        !state.health().flush_in_progress,
        "no flush is under way any more"
    );
    tsmon::runtime::block_on(state.flush()).unwrap();
    assert_eq!(slow.delivered(), vec![3], "the next flush sends");
}

#[test]
fn flush_during_a_flush_waits_and_then_flushes_try_flush_says_it_did_not() {
    let (state, slow) = slow_state();
    state.in_scope(|| EVENTS.add(1, ()));
    let first = {
        let state = state.clone();
        std::thread::spawn(move || tsmon::runtime::block_on(state.flush()))
    };
    poll_until("the first send", 10, || slow.begun() == 1);
    assert!(matches!(
        tsmon::runtime::block_on(state.try_flush()),
        Err(Error::FlushInProgress)
    ));
    state.in_scope(|| EVENTS.add(1, ()));
    tsmon::runtime::block_on(state.flush()).unwrap();
    first.join().unwrap().unwrap();
    assert_eq!(
        slow.delivered(),
        vec![1, 2],
        "the second flush came after the first, whole"
    );
}

#[test]
fn a_shorter_interval_applies_at_once() {
    let fake = FakeMonitor::new();
    let state = State::builder()
        .with_monitor(fake.clone())
        .with_settings(Settings {
            flush_interval: Duration::from_secs(600),
            report_runtime_stats: false,
            ..Settings::default()
        })
        .build()
        .unwrap();
    state.in_scope(|| EVENTS.inc(()));
    let background = state.start();
    poll_until("the flush at start", 10, || fake.sent().len() == 1);
    state
        .apply_layer(SettingsLayer {
            flush_interval: Some(Duration::from_secs(1)),
            ..SettingsLayer::default()
        })
        .unwrap();
    // Within one new interval (and a margin for this machine), not after 600 s.
    poll_until("a flush on the new interval", 5, || fake.sent().len() >= 2);
    drop(background);
}

#[test]
fn a_shorter_interval_in_the_watched_file_applies_at_once() {
    let dir = tempfile::Builder::new()
        .prefix("tsmon-lifecycle-")
        .tempdir()
        .unwrap();
    let path = dir.path().join("tsmon.toml");
    std::fs::write(
        &path,
        "flush_interval_sec = 600\nreport_runtime_stats = false\n",
    )
    .unwrap();
    let fake = FakeMonitor::new();
    let state = State::builder()
        .with_monitor(fake.clone())
        .with_settings_file(&path)
        .build()
        .unwrap();
    state.in_scope(|| EVENTS.inc(()));
    let background = state.start();
    poll_until("the flush at start", 10, || fake.sent().len() == 1);
    std::fs::write(
        &path,
        "flush_interval_sec = 1\nreport_runtime_stats = false   \n",
    )
    .unwrap();
    // The watcher looks once a second, then the next flush is within the new interval.
    poll_until("a flush on the new interval", 8, || fake.sent().len() >= 2);
    drop(background);
}
