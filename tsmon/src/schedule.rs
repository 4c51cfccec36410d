//! When the next flush is due: Go's `nextFlush`, `lastFlush` and `flushRetry`, and the record
//! of the flushes so far. Plain data that the State holds and the flush updates.

use std::time::Duration;

/// The first retry delay after a failed flush (Go's `flushInitialRetry`).
pub const INITIAL_RETRY: Duration = Duration::from_secs(5);
/// The longest retry delay.
pub const MAX_RETRY: Duration = Duration::from_secs(600);
/// A flush is due this long before its time (Go's `epsilonT`).
pub(crate) const EPSILON_MICROS: u64 = 100_000;

/// The flush schedule (Go's `nextFlush`, `lastFlush`, `flushRetry`), in the State clock's
/// microseconds. "A flush under way" is the State's flush lock, held by a guard, so a flush
/// whose future is dropped (an aborted loop, a timeout) cannot leave it set.
#[derive(Debug)]
pub(crate) struct Schedule {
    /// Cells in the snapshot of the flush under way (counted as dropped if it fails).
    pub(crate) cells: usize,
    pub(crate) next: u64,
    pub(crate) last_success: u64,
    pub(crate) retry: Duration,
    /// Successful flushes so far.
    pub(crate) successes: u64,
    /// Failed flushes since the last success.
    pub(crate) failures: u32,
    /// The last flush: when it ended, how long it took, its outcome and error.
    pub(crate) last: Option<(u64, Duration, &'static str, Option<String>)>,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            cells: 0,
            next: 0,
            last_success: 0,
            retry: INITIAL_RETRY,
            successes: 0,
            failures: 0,
            last: None,
        }
    }
}

impl Schedule {
    /// Enabling: a flush as soon as possible, the retry delay reset (Go's `enableTSMon`).
    pub(crate) fn enabled_at(&mut self, now: u64) {
        self.next = now;
        self.last_success = now;
        self.retry = INITIAL_RETRY;
    }

    /// A new interval applies at once: the next flush comes within one new interval.
    pub(crate) fn interval_changed(&mut self, now: u64, interval: Duration) {
        self.next = self.next.min(now.saturating_add(micros(interval)));
    }
}

/// A duration in the clock's microseconds (saturating).
pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
