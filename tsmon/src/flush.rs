//! Flushing: settings applied on the fly, the task-number state machine, and the Go flush
//! scheduling (server/tsmon's `flushIfNeededImpl`).
//!
//! - One flush at a time per State; a flush is due when `now + 100 ms >= next`.
//! - Each flush runs under the flush timeout: callbacks, then the task number, then the
//!   snapshot, split into chunks sent by at most `num_flush_workers` at once.
//! - Success, or no task number yet: the next flush is one interval later (and the retry delay
//!   goes back to 5 s). Failure: the next flush is `retry` later, and `retry` doubles, up to 10
//!   minutes (Go doubles while below 10 minutes, so it stops at 640 s; here the cap is exact).
//! - When no flush has succeeded for five intervals, an error is logged.
//!
//! ```
//! use tsmon::monitor::FakeMonitor;
//! tsmon::metric! {
//!     /// Orders.
//!     static ORDERS: Counter = "example/flush/orders";
//! }
//! let fake = FakeMonitor::new();
//! let state = tsmon::State::builder().with_monitor(fake.clone()).build().unwrap();
//! state.in_scope(|| ORDERS.add(2, ()));
//! tsmon::runtime::block_on(state.flush()).unwrap();
//! let sent = fake.sent();
//! assert_eq!(sent.len(), 1);
//! assert!(sent[0].metric("example/flush/orders").is_some());
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Cause, Error};
use crate::monitor::Monitor;
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

use crate::schedule::{EPSILON_MICROS, micros};
pub use crate::schedule::{INITIAL_RETRY, MAX_RETRY};

pub use crate::settings::SettingsSource;

impl State {
    /// A scrape: the runtime stats and callbacks, then the exposition of the store.
    #[cfg(feature = "pull")]
    pub(crate) fn scrape_into(&self, format: crate::exposition::Format, out: &mut Vec<u8>) {
        if self.settings().report_runtime_stats {
            self.report_runtime_stats();
        }
        self.run_callbacks();
        self.encode_into(format, out);
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
        self.scope(send_chunks(monitor.as_ref(), &snap, workers))
            .await
    }

    #[cfg(feature = "pull")]
    pub(crate) fn downgrade(&self) -> Weak {
        Weak(Arc::downgrade(&self.inner))
    }
}

/// Background work started by [`State::start`]: stopped (with a final flush) by
/// [`Background::shutdown`] or when dropped.
///
/// Stopping never cuts a flush short: a periodic flush under way is waited for (it is bounded
/// by the flush timeout), then one final flush sends what was written since, then the monitor
/// is closed. So a stop takes at most about twice the flush timeout.
#[derive(Debug)]
#[must_use = "dropping it stops the flush loop after a final flush"]
pub struct Background {
    state: State,
    stop: tokio::sync::watch::Sender<bool>,
    flush_loop: Option<tokio::task::JoinHandle<()>>,
    watcher: Option<tokio::task::JoinHandle<()>>,
    done: bool,
}

impl State {
    /// Starts the flush loop (and the settings-file watcher, when there is a file) on tsmon's
    /// background runtime. Keep the returned value alive; [`Background::shutdown`] (or dropping
    /// it) stops the loop and flushes one last time.
    pub fn start(&self) -> Background {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let handle = crate::runtime::handle();
        let flush_loop = Some(handle.spawn(flush_loop(self.clone(), stopped.clone())));
        let file = self.inner.control.lock().settings_file.clone();
        let watcher = file.map(|path| {
            // The file as it is now: a change from here on is applied, even one made before
            // the watcher's first look.
            let seen = file_stamp(&path);
            handle.spawn(watch_loop(self.clone(), path, seen, stopped))
        });
        Background {
            state: self.clone(),
            stop,
            flush_loop,
            watcher,
            done: false,
        }
    }
}

impl Background {
    /// Stops the loop, waits for a flush under way (within the flush timeout), flushes one
    /// last time (under the flush timeout) and closes the monitor.
    ///
    /// ```
    /// let fake = tsmon::monitor::FakeMonitor::new();
    /// let state = tsmon::State::builder().with_monitor(fake.clone()).build().unwrap();
    /// let background = state.start();
    /// tsmon::runtime::block_on(background.shutdown()).unwrap();
    /// assert!(!fake.sent().is_empty(), "the final flush");
    /// ```
    ///
    /// # Errors
    ///
    /// The final flush's error.
    pub async fn shutdown(mut self) -> Result<(), Error> {
        self.stop_and_flush().await
    }

    async fn stop_and_flush(&mut self) -> Result<(), Error> {
        if self.done {
            return Ok(());
        }
        self.done = true;
        let _ = self.stop.send(true);
        if let Some(w) = self.watcher.take() {
            w.abort();
        }
        if let Some(mut l) = self.flush_loop.take() {
            // The loop ends after the flush it may be in; that flush is bounded by its
            // timeout, and a second is the margin.
            let bound = self.state.settings().flush_timeout + Duration::from_secs(1);
            if tokio::time::timeout(bound, &mut l).await.is_err() {
                l.abort();
            }
        }
        let result = if self.state.settings().enabled {
            self.state.flush().await
        } else {
            Ok(())
        };
        let _ = self.state.monitor().close().await;
        result
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // The final flush runs on the background runtime; this thread waits for it, whatever
        // runtime (if any) it is part of.
        let (tx, rx) = std::sync::mpsc::channel();
        let mut this = Background {
            state: self.state.clone(),
            stop: self.stop.clone(),
            flush_loop: self.flush_loop.take(),
            watcher: self.watcher.take(),
            done: false,
        };
        self.done = true;
        crate::runtime::handle().spawn(async move {
            let r = this.stop_and_flush().await;
            let _ = tx.send(r);
        });
        match rx.recv() {
            Ok(Err(e)) => {
                crate::report::problem("final flush", format_args!("the final flush failed: {e}"));
            }
            Ok(Ok(())) => {}
            Err(_) => {
                crate::report::problem("final flush", "the final flush did not finish");
            }
        }
    }
}

/// What [`start_main`] keeps running: the global State's flush loop, the settings watcher and
/// the signal handlers. Dropping it (when `main` returns, or unwinds) stops them after a final
/// flush.
#[derive(Debug)]
#[must_use = "dropping it stops the flush loop after a final flush"]
pub struct Running {
    background: Arc<parking_lot::Mutex<Option<Background>>>,
    signals: tokio::task::JoinHandle<()>,
    /// Told when a signal's final flush is over (the process then exits).
    signal_done: std::sync::mpsc::Receiver<()>,
}

/// Installs the global State from `builder` (reading the environment too, as
/// [`StateBuilder::with_env`](crate::StateBuilder::with_env) says), starts its flush loop, and
/// handles ctrl-c and SIGTERM: the flush under way finishes, a final flush follows, then the
/// process exits with status 130 or 143. What `#[tsmon::main]` calls; for services that write
/// their own `main`.
///
/// ```no_run
/// let _tsmon = tsmon::flush::start_main(
///     tsmon::State::builder().with_target(tsmon::Target::new("shop", "worker")),
/// )
/// .expect("tsmon");
/// // ... the service; a final flush when `_tsmon` is dropped at the end of `main` ...
/// ```
///
/// # Errors
///
/// As [`StateBuilder::install_global`](crate::StateBuilder::install_global).
pub fn start_main(builder: crate::StateBuilder) -> Result<Running, Error> {
    let state = builder.with_env().install_global()?;
    let background = Arc::new(parking_lot::Mutex::new(Some(state.start())));
    let on_signal = background.clone();
    let (done_tx, signal_done) = std::sync::mpsc::channel();
    // The handlers are registered before this returns, so a signal that comes right after is
    // caught.
    let signals = Signals::register();
    let signals = crate::runtime::handle().spawn(async move {
        let code = signals.wait().await;
        let taken = on_signal.lock().take();
        if let Some(b) = taken
            && let Err(e) = b.shutdown().await
        {
            crate::report::problem("final flush", format_args!("the final flush failed: {e}"));
        }
        let _ = done_tx.send(());
        std::process::exit(code);
    });
    Ok(Running {
        background,
        signals,
        signal_done,
    })
}

/// Ctrl-c / SIGINT (exit status 130) and, on Unix, SIGTERM (143).
#[cfg(feature = "signals")]
struct Signals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

/// Without the `signals` feature no signal is watched: the final flush comes when `main`
/// returns (or unwinds), and a signal ends the process as it would without tsmon.
#[cfg(not(feature = "signals"))]
struct Signals;

#[cfg(not(feature = "signals"))]
impl Signals {
    fn register() -> Self {
        Signals
    }

    async fn wait(self) -> i32 {
        std::future::pending().await
    }
}

#[cfg(feature = "signals")]
impl Signals {
    fn register() -> Self {
        let _guard = crate::runtime::handle().enter();
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let open = |kind: SignalKind, name: &str| match signal(kind) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!("tsmon: cannot watch {name}: {e}");
                    None
                }
            };
            Signals {
                interrupt: open(SignalKind::interrupt(), "SIGINT"),
                terminate: open(SignalKind::terminate(), "SIGTERM"),
            }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    async fn wait(self) -> i32 {
        #[cfg(unix)]
        {
            async fn next(s: Option<tokio::signal::unix::Signal>) {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                () = next(self.interrupt) => 130,
                () = next(self.terminate) => 143,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            130
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let taken = self.background.lock().take();
        if taken.is_some() {
            self.signals.abort();
            drop(taken);
        } else if !self.signals.is_finished() {
            // A signal is being handled: its final flush is under way, and the process exits
            // when it ends. Returning now would let `main` end the process first.
            let _ = self.signal_done.recv_timeout(Duration::from_secs(600));
        }
    }
}

/// Go's `FlushPeriodically`: flush when due, then sleep until the next is due (at least 1 s;
/// 1 s while disabled, so an enabling is noticed quickly). A settings change that moves the
/// next flush (a new interval, an enabling) wakes it at once. A stop is seen between flushes:
/// a flush under way is never cut short.
async fn flush_loop(state: State, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        if *stop.borrow_and_update() {
            return;
        }
        let next = state.flush_if_needed().await;
        let now = state.inner.clock.now_micros();
        let wait = next.map_or(Duration::from_secs(1), |n| {
            Duration::from_micros(n.saturating_sub(now)).max(Duration::from_secs(1))
        });
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = state.inner.wake.notified() => {}
            _ = stop.changed() => return,
        }
    }
}

/// Polls the settings file once a second (its length and modification time) and reloads it
/// when it changes.
async fn watch_loop(
    state: State,
    path: PathBuf,
    mut last: FileStamp,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => return,
        }
        let now = file_stamp(&path);
        if now != last {
            last = now;
            let _ = state.reload_settings_file();
        }
    }
}

type FileStamp = Option<(u64, Option<std::time::SystemTime>)>;

fn file_stamp(path: &std::path::Path) -> FileStamp {
    std::fs::metadata(path)
        .ok()
        .map(|m| (m.len(), m.modified().ok()))
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
