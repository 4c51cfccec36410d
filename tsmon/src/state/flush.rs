//! A State's flushes: settings applied on the fly, the task-number state machine, and the Go
//! flush scheduling (server/tsmon's `flushIfNeededImpl`); see [`crate::flush`].

use std::sync::Arc;
use std::time::Duration;

use crate::error::{Cause, Error};
use crate::monitor::Monitor;
use crate::schedule::{EPSILON_MICROS, INITIAL_RETRY, MAX_RETRY, micros};
use crate::state::State;
#[cfg(feature = "pull")]
use crate::state::Weak;
use crate::store::Snapshot;

// Each static allows `unsafe_code`: linkme enters it in the catalog with a `#[link_section]`
// static, which the lint sees inside this crate (linkme's macro is local here).
crate::metric! {
    /// Flushes by outcome: ok, error, deferred (the monitor queued the data for the next flush), allocator_error, timeout, no_task_number.
    #[allow(unsafe_code)]
    pub static FLUSHES: Counter(outcome: String) = "tsmon/flush/flushes";
    /// Cells of flushes that failed or timed out: their cumulative values go out with the next successful flush; the gauge values of that moment are lost.
    #[allow(unsafe_code)]
    pub static DROPPED_CELLS: Counter = "tsmon/flush/dropped_cells";
}

impl State {
    /// What a scrape does before the exposition of the store: the runtime stats, the
    /// callbacks, the status page's sample when one is due.
    #[cfg(feature = "pull")]
    pub(crate) fn before_scrape(&self) {
        if self.settings().report_runtime_stats {
            self.report_runtime_stats();
        }
        self.run_callbacks();
        self.status_sample_if_due();
    }

    /// Registers a callback run before each flush and scrape, in registration order (Go's
    /// `RegisterCallback`): the place to set gauges that are cheaper to read than to track.
    ///
    /// ```
    /// tsmon::metric! {
    ///     /// Items in the queue.
    ///     static QUEUE: IntGauge = "example/flush/queue";
    /// }
    /// let state = tsmon::State::builder().build().unwrap();
    /// let s2 = state.clone();
    /// state.register_callback(move || s2.in_scope(|| QUEUE.set(7, ())));
    /// let fake = tsmon::monitor::FakeMonitor::new();
    /// tsmon::runtime::block_on(state.flush_to(&fake)).unwrap();
    /// assert!(fake.sent()[0].metric("example/flush/queue").is_some());
    /// ```
    pub fn register_callback(&self, f: impl Fn() + Send + Sync + 'static) {
        self.inner.callbacks.write().push(Arc::new(f));
    }

    fn run_callbacks(&self) {
        let callbacks = self.inner.callbacks.read().clone();
        for cb in callbacks {
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb())).is_err() {
                tracing::error!("tsmon: a flush callback panicked; the flush goes on");
            }
        }
    }

    /// Flushes now, whatever the schedule: task number, snapshot, send, under the flush
    /// timeout. The schedule is updated as for a scheduled flush.
    ///
    /// One flush runs at a time. When one is under way (the periodic flush, say), this waits
    /// for it to end and then flushes, so what was written before the call is sent either way;
    /// [`try_flush`](Self::try_flush) returns [`Error::FlushInProgress`] instead of waiting.
    /// Dropping the returned future mid-flush (a timeout around it, an aborted task) cancels
    /// that flush and nothing else: the next flush runs normally.
    ///
    /// # Errors
    ///
    /// [`Error::NoTaskNumber`], an allocator or monitor error, or [`Error::FlushTimeout`].
    pub async fn flush(&self) -> Result<(), Error> {
        let _flushing = self.inner.flush_lock.lock().await;
        self.flush_and_reschedule().await
    }

    /// As [`flush`](Self::flush), but without waiting for a flush under way.
    ///
    /// ```
    /// let state = tsmon::State::builder().build().unwrap();
    /// tsmon::runtime::block_on(state.try_flush()).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::FlushInProgress`] when another flush is under way (nothing was flushed), and
    /// the errors of [`flush`](Self::flush).
    pub async fn try_flush(&self) -> Result<(), Error> {
        let Ok(_flushing) = self.inner.flush_lock.try_lock() else {
            return Err(Error::FlushInProgress);
        };
        self.flush_and_reschedule().await
    }

    /// Flushes to `monitor` instead of the configured one, outside the schedule (callbacks,
    /// snapshot and chunking as for a flush; no task number).
    ///
    /// # Errors
    ///
    /// The monitor's errors, aggregated.
    pub async fn flush_to(&self, monitor: &dyn Monitor) -> Result<(), Error> {
        let workers = self.settings().flush_workers;
        self.run_callbacks();
        let snap = self.snapshot();
        // In this State's scope: what the monitor counts about itself lands here.
        self.scope(send_chunks(monitor, &snap, workers)).await
    }

    /// Flushes if one is due (Go's `flushIfNeededImpl`) and returns when the next one is due,
    /// in the State clock's microseconds; `None` while disabled.
    pub async fn flush_if_needed(&self) -> Option<u64> {
        if !self.settings().enabled {
            return None;
        }
        let now = self.inner.clock.now_micros();
        let next = self.inner.schedule.lock().next;
        if now + EPSILON_MICROS < next {
            return Some(next);
        }
        let Ok(_flushing) = self.inner.flush_lock.try_lock() else {
            return Some(next);
        };
        // The outcome is logged and folded into the schedule.
        let _ = self.flush_and_reschedule().await;
        Some(self.inner.schedule.lock().next)
    }

    /// A flush under the timeout, its outcome counted, reported and folded into the schedule.
    /// The caller holds the flush lock.
    async fn flush_and_reschedule(&self) -> Result<(), Error> {
        let settings = self.settings();
        let started = self.inner.clock.now_micros();
        let result =
            match tokio::time::timeout(settings.flush_timeout, self.flush_unscheduled()).await {
                Ok(r) => r,
                Err(_) => Err(Error::FlushTimeout(settings.flush_timeout)),
            };
        let now = self.inner.clock.now_micros();
        let interval = micros(settings.flush_interval);
        let outcome = match &result {
            Ok(()) => "ok",
            Err(Error::NoTaskNumber) => "no_task_number",
            Err(Error::FlushTimeout(_)) => "timeout",
            Err(Error::TaskNum(_)) => "allocator_error",
            Err(Error::Deferred(_)) => "deferred",
            Err(_) => "error",
        };
        let dropped = std::mem::take(&mut self.inner.schedule.lock().cells);
        self.in_scope(|| {
            FLUSHES.inc(outcome);
            if matches!(outcome, "timeout" | "error") && dropped > 0 {
                DROPPED_CELLS.add(dropped as u64, ());
            }
        });
        let has_allocator = self.inner.control.lock().allocator.is_some();
        let mut s = self.inner.schedule.lock();
        s.last = Some((
            now,
            Duration::from_micros(now.saturating_sub(started)),
            outcome,
            result.as_ref().err().map(ToString::to_string),
        ));
        match &result {
            Ok(()) | Err(Error::NoTaskNumber) => {
                s.retry = INITIAL_RETRY;
                s.next = now.saturating_add(interval);
                if result.is_ok() {
                    s.last_success = now;
                    s.successes += 1;
                    s.failures = 0;
                } else {
                    tracing::warn!("skipping the tsmon flush: no task number assigned yet");
                }
            }
            Err(Error::Deferred(e)) => {
                // The monitor keeps what it could not send and sends it first next time: try
                // again one interval later, not after a growing backoff.
                s.next = now.saturating_add(interval);
                s.failures = s.failures.saturating_add(1);
                tracing::warn!(
                    "tsmon: flush deferred, next try in {:?}: {e}",
                    settings.flush_interval
                );
            }
            Err(e) => {
                s.next = now.saturating_add(micros(s.retry));
                tracing::warn!("tsmon: flush failed, next try in {:?}: {e}", s.retry);
                s.retry = (s.retry * 2).min(MAX_RETRY);
                s.failures = s.failures.saturating_add(1);
            }
        }
        let silent = now.saturating_sub(s.last_success);
        drop(s);
        match &result {
            Ok(()) => crate::report::resolved("flush"),
            Err(Error::NoTaskNumber) => {}
            Err(e) => {
                // One line when the flushes start failing (or fail differently), not per retry.
                crate::report::problem("flush", format_args!("flushes are failing: {e}"));
            }
        }
        if silent > interval.saturating_mul(5) {
            let hint = if has_allocator {
                " (is the task-number allocator reachable?)"
            } else {
                ""
            };
            tracing::error!(
                "no successful tsmon flush for {:?}{hint}",
                Duration::from_micros(silent)
            );
        }
        result
    }

    /// Go's `ensureTaskNumAndFlush`.
    async fn flush_unscheduled(&self) -> Result<(), Error> {
        let (monitor, allocator, instance_id, dev_mode, workers, stats) = {
            let c = self.inner.control.lock();
            (
                c.monitor.clone(),
                c.allocator.clone(),
                c.instance_id.clone(),
                c.dev_mode,
                c.settings.flush_workers,
                c.settings.report_runtime_stats,
            )
        };
        // Before the task number, as in Go: reported even when the flush is skipped for lack
        // of one.
        if stats {
            self.report_runtime_stats();
        }
        let store = &self.inner.store;
        let mut task = (*store.default_target()).clone();
        match allocator.filter(|_| !dev_mode) {
            None => task.task_num = 0,
            Some(alloc) => match alloc.notify_task_is_alive(&task, &instance_id).await {
                Ok(n) => task.task_num = n,
                Err(Error::TaskNumberLost(n)) => {
                    tracing::warn!(
                        "the task was inactive for too long and lost its task number; \
                         clearing cumulative metrics and going on as task {n}"
                    );
                    store.reset_cumulative();
                    task.task_num = n;
                }
                Err(Error::NoTaskNumber) => {
                    if task.task_num >= 0 {
                        tracing::warn!(
                            "the task was inactive for too long and lost its task number; \
                             clearing cumulative metrics"
                        );
                        store.reset_cumulative();
                        task.task_num = -1;
                        store.set_default_target(task);
                    }
                    return Err(Error::NoTaskNumber);
                }
                Err(Error::TaskNum(e)) => return Err(Error::TaskNum(e)),
                Err(e) => return Err(Error::TaskNum(Cause::new(e.to_string()).caused_by(e))),
            },
        }
        store.set_default_target(task);
        self.run_callbacks();
        let snap = self.snapshot();
        self.inner.schedule.lock().cells = snap.num_cells();
        #[cfg(feature = "pull")]
        self.status_sample(&snap);
        self.scope(send_chunks(monitor.as_ref(), &snap, workers))
            .await
    }

    #[cfg(feature = "pull")]
    pub(crate) fn downgrade(&self) -> Weak {
        Weak(Arc::downgrade(&self.inner))
    }
}

impl State {
    /// Reports the runtime stats into this State now (a flush does it when the settings say
    /// so).
    pub fn report_runtime_stats(&self) {
        self.in_scope(crate::runtime_stats::report);
    }
}

/// Sends the chunks of `snap` through at most `workers` concurrent sends; every chunk is
/// attempted, and the errors are aggregated.
async fn send_chunks(monitor: &dyn Monitor, snap: &Snapshot, workers: usize) -> Result<(), Error> {
    let chunks = snap.chunks(monitor.chunk_size());
    if chunks.is_empty() {
        return Ok(());
    }
    let mut errors = Vec::new();
    let mut pending = chunks.iter();
    let mut in_flight = Vec::new();
    loop {
        while in_flight.len() < workers.max(1) {
            match pending.next() {
                Some(chunk) => in_flight.push(monitor.send(chunk)),
                None => break,
            }
        }
        if in_flight.is_empty() {
            break;
        }
        let (result, index) = first_done(&mut in_flight).await;
        drop(in_flight.swap_remove(index));
        if let Err(e) = result {
            errors.push(e);
        }
    }
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.swap_remove(0)),
        n => Err(Error::Monitor(
            format!(
                "{n} of {} chunks failed; the first: {}",
                chunks.len(),
                errors[0]
            )
            .into(),
        )),
    }
}

/// Polls the futures until one is done: its output and index.
async fn first_done(
    futures: &mut [crate::monitor::BoxFuture<'_, Result<(), Error>>],
) -> (Result<(), Error>, usize) {
    std::future::poll_fn(|cx| {
        for (i, f) in futures.iter_mut().enumerate() {
            if let std::task::Poll::Ready(r) = f.as_mut().poll(cx) {
                return std::task::Poll::Ready((r, i));
            }
        }
        std::task::Poll::Pending
    })
    .await
}
