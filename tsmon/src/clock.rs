//! Time sources, and the store's strictly monotonic microsecond clock.
//!
//! Every start time and every flush timestamp comes from one [`MonotonicClock`] per store: Go's
//! rule `max(now truncated to µs, last + 1µs)`, so end timestamps never go backwards and a
//! stream's start is always before its end, even when the wall clock steps back.
//!
//! ```
//! use std::sync::Arc;
//! use tsmon::clock::{ManualClock, MonotonicClock};
//! let manual = Arc::new(ManualClock::new(1_000));
//! let clock = MonotonicClock::new(manual.clone());
//! assert_eq!(clock.now_micros(), 1_000);
//! assert_eq!(clock.now_micros(), 1_001); // the same instant again: one microsecond later
//! manual.set(500); // the wall clock stepped back
//! assert_eq!(clock.now_micros(), 1_002);
//! ```

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of wall-clock time, in microseconds since the Unix epoch.
pub trait TimeSource: Send + Sync + fmt::Debug + 'static {
    /// The current time.
    fn now_micros(&self) -> u64;
}

/// The system clock.
///
/// ```
/// use tsmon::clock::{SystemClock, TimeSource};
/// assert!(SystemClock.now_micros() > 1_600_000_000_000_000);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl TimeSource for SystemClock {
    fn now_micros(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
    }
}

/// A clock that only moves when told to, for tests.
///
/// ```
/// use tsmon::clock::{ManualClock, TimeSource};
/// let c = ManualClock::new(10);
/// c.advance(std::time::Duration::from_micros(5));
/// assert_eq!(c.now_micros(), 15);
/// ```
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// A clock standing at `micros`.
    #[must_use]
    pub fn new(micros: u64) -> Self {
        ManualClock(AtomicU64::new(micros))
    }

    /// Moves the clock to `micros` (backwards too).
    pub fn set(&self, micros: u64) {
        self.0.store(micros, Ordering::SeqCst);
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: std::time::Duration) {
        self.0.fetch_add(
            u64::try_from(by.as_micros()).unwrap_or(u64::MAX),
            Ordering::SeqCst,
        );
    }
}

impl TimeSource for ManualClock {
    fn now_micros(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Go's store clock: strictly increasing microseconds.
#[derive(Debug)]
pub struct MonotonicClock {
    source: Arc<dyn TimeSource>,
    last: AtomicU64,
}

impl MonotonicClock {
    /// A monotonic clock over `source`.
    ///
    /// ```
    /// let c = tsmon::clock::MonotonicClock::new(std::sync::Arc::new(tsmon::clock::SystemClock));
    /// assert!(c.now_micros() < c.now_micros());
    /// ```
    #[must_use]
    pub fn new(source: Arc<dyn TimeSource>) -> Self {
        MonotonicClock {
            source,
            last: AtomicU64::new(0),
        }
    }

    /// The next instant: the source's time, or one microsecond after the last instant given,
    /// whichever is later.
    pub fn now_micros(&self) -> u64 {
        let now = self.source.now_micros();
        let mut last = self.last.load(Ordering::Relaxed);
        loop {
            let next = if now > last { now } else { last + 1 };
            match self
                .last
                .compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return next,
                Err(actual) => last = actual,
            }
        }
    }

    /// The time source.
    ///
    /// ```
    /// # use tsmon::clock::*;
    /// let c = MonotonicClock::new(std::sync::Arc::new(ManualClock::new(3)));
    /// assert_eq!(c.source().now_micros(), 3);
    /// ```
    #[must_use]
    pub fn source(&self) -> &Arc<dyn TimeSource> {
        &self.source
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strictly_increasing_across_threads() {
        let clock = Arc::new(MonotonicClock::new(Arc::new(ManualClock::new(7))));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let c = clock.clone();
                std::thread::spawn(move || (0..1000).map(|_| c.now_micros()).collect::<Vec<_>>())
            })
            .collect();
        let mut all: Vec<u64> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 4000, "every instant is given out once");
    }
}
