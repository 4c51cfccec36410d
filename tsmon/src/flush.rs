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

use crate::error::Error;
use crate::monitor::{DebugMonitor, Monitor, NilMonitor, PullMonitor, PushgatewayMonitor};
use crate::settings::{MonitorSpec, REFUSED, Settings};
use crate::state::{State, Weak};
use crate::store::Snapshot;
use crate::tasknum::TaskNumAllocator;

crate::metric! {
    /// Flushes by outcome: ok, error, timeout, no_task_number.
    pub static FLUSHES: Counter(outcome: String) = "tsmon/flush/flushes";
    /// Cells of flushes that failed or timed out: their cumulative values go out with the next successful flush; the gauge values of that moment are lost.
    pub static DROPPED_CELLS: Counter = "tsmon/flush/dropped_cells";
}

/// The first retry delay after a failed flush (Go's `flushInitialRetry`).
pub const INITIAL_RETRY: Duration = Duration::from_secs(5);
/// The longest retry delay.
pub const MAX_RETRY: Duration = Duration::from_secs(600);
/// A flush is due this long before its time (Go's `epsilonT`).
const EPSILON_MICROS: u64 = 100_000;

/// What the settings and the builder configure.
pub(crate) struct Control {
    pub(crate) settings: Settings,
    /// The layers under the file (embedded defaults and builder), to re-apply the file over.
    base: Settings,
    monitor: Arc<dyn Monitor>,
    custom_monitor: Option<Arc<dyn Monitor>>,
    pub(crate) allocator: Option<Arc<dyn TaskNumAllocator>>,
    pub(crate) instance_id: String,
    pub(crate) dev_mode: bool,
    pub(crate) settings_file: Option<PathBuf>,
    env: Vec<(String, String)>,
    pull_addr: Option<std::net::SocketAddr>,
}

impl Control {
    pub(crate) fn new(
        base: Settings,
        custom_monitor: Option<Arc<dyn Monitor>>,
        allocator: Option<Arc<dyn TaskNumAllocator>>,
        instance_id: String,
        dev_mode: bool,
        settings_file: Option<PathBuf>,
        env: Vec<(String, String)>,
    ) -> Self {
        Control {
            settings: base.clone(),
            base,
            monitor: Arc::new(NilMonitor),
            custom_monitor,
            allocator,
            instance_id,
            dev_mode,
            settings_file,
            env,
            pull_addr: None,
        }
    }
}

impl Control {
    /// Closes the monitor of a control block that is being replaced.
    pub(crate) fn close_monitor(self) {
        close_later(self.monitor);
    }
}

/// The flush schedule (Go's `nextFlush`, `lastFlush`, `flushRetry`, `flushingNow`), in the
/// State clock's microseconds.
#[derive(Debug)]
pub(crate) struct Schedule {
    flushing: bool,
    /// Cells in the snapshot of the flush under way (counted as dropped if it fails).
    cells: usize,
    next: u64,
    last_success: u64,
    retry: Duration,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            flushing: false,
            cells: 0,
            next: 0,
            last_success: 0,
            retry: INITIAL_RETRY,
        }
    }
}

/// Where the settings came from, for the refusal counter and the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SettingsSource {
    /// The builder.
    Builder,
    /// The settings file.
    File,
    /// `TSMON_*` environment variables.
    Environment,
    /// [`State::apply_settings`].
    Api,
}

impl SettingsSource {
    fn as_str(self) -> &'static str {
        match self {
            SettingsSource::Builder => "builder",
            SettingsSource::File => "file",
            SettingsSource::Environment => "environment",
            SettingsSource::Api => "api",
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl State {
    /// Applies the file and environment layers over `base` and starts in the result.
    pub(crate) fn start_with(&self, base: Settings) -> Result<(), Error> {
        let mut settings = base;
        let (file, env) = {
            let c = self.inner.control.lock();
            (c.settings_file.clone(), c.env.clone())
        };
        if let Some(path) = &file {
            match settings.merge_file(path) {
                Ok(s) => settings = s,
                Err(e) => self.refuse(SettingsSource::File, &e),
            }
        }
        if !env.is_empty() {
            match settings.merge_env(env) {
                Ok(s) => settings = s,
                Err(e) => self.refuse(SettingsSource::Environment, &e),
            }
        }
        // Start from "disabled" so that `enabled = true` goes through the enabling path.
        {
            let mut c = self.inner.control.lock();
            c.settings.enabled = false;
        }
        self.inner.store.set_enabled(false);
        self.install(settings)
    }

    fn refuse(&self, source: SettingsSource, e: &Error) {
        tracing::error!("tsmon: refused settings from the {}: {e}", source.as_str());
        self.in_scope(|| REFUSED.inc(source.as_str()));
    }

    /// The settings in force.
    ///
    /// ```
    /// let state = tsmon::State::builder().build().unwrap();
    /// assert!(state.settings().enabled);
    /// ```
    #[must_use]
    pub fn settings(&self) -> Settings {
        self.inner.control.lock().settings.clone()
    }

    /// This process's instance id.
    #[must_use]
    pub fn instance_id(&self) -> String {
        self.inner.control.lock().instance_id.clone()
    }

    /// The pull endpoint's address, when the monitor is `pull`.
    #[must_use]
    pub fn pull_address(&self) -> Option<std::net::SocketAddr> {
        self.inner.control.lock().pull_addr
    }

    /// Replaces the settings in force (the API source). Enabling starts a fresh store and
    /// schedules a flush at once; disabling drops writes and closes the monitor; a new monitor
    /// replaces the old one; interval, timeout and workers apply from the next flush.
    ///
    /// ```
    /// use tsmon::settings::Settings;
    /// let state = tsmon::State::builder().build().unwrap();
    /// let bad = Settings { flush_workers: 0, ..state.settings() };
    /// assert!(state.apply_settings(bad).is_err());
    /// assert_eq!(state.settings().flush_workers, 4, "the previous settings stay in force");
    /// state.apply_settings(Settings { enabled: false, ..state.settings() }).unwrap();
    /// assert!(!state.store().is_enabled());
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSettings`] when they do not validate or the monitor they name cannot
    /// start; they are refused, counted in `tsmon/settings/refused` and logged.
    pub fn apply_settings(&self, settings: Settings) -> Result<(), Error> {
        self.apply_from(settings, SettingsSource::Api)
    }

    pub(crate) fn apply_from(
        &self,
        settings: Settings,
        source: SettingsSource,
    ) -> Result<(), Error> {
        let result = settings.validate().and_then(|()| self.install(settings));
        if let Err(e) = &result {
            self.refuse(source, e);
        }
        result
    }

    /// Puts validated settings in force.
    fn install(&self, new: Settings) -> Result<(), Error> {
        new.validate()?;
        let mut c = self.inner.control.lock();
        let old = c.settings.clone();
        let rebuild = new.enabled && (!old.enabled || old.monitor != new.monitor);
        let mut retired: Option<Arc<dyn Monitor>> = None;
        if rebuild {
            let (monitor, addr) = match &c.custom_monitor {
                Some(m) => (m.clone(), None),
                None => self.build_monitor(&new.monitor)?,
            };
            c.pull_addr = addr;
            retired = Some(std::mem::replace(&mut c.monitor, monitor));
        } else if !new.enabled && old.enabled {
            retired = Some(std::mem::replace(&mut c.monitor, Arc::new(NilMonitor)));
            c.pull_addr = None;
        }
        if old.max_series != new.max_series {
            self.inner.store.set_default_max_series(new.max_series);
        }
        let has_allocator = c.allocator.is_some() && !c.dev_mode;
        c.settings = new.clone();
        drop(c);
        if new.enabled && !old.enabled {
            // Go's enableTSMon: a fresh store (the default target without a number while an
            // allocator decides), a flush as soon as possible, the retry delay reset.
            let mut target = (*self.inner.store.default_target()).clone();
            target.task_num = if has_allocator { -1 } else { 0 };
            self.inner.store.set_default_target(target);
            self.inner.store.set_enabled(true);
            let now = self.inner.clock.now_micros();
            let mut s = self.inner.schedule.lock();
            s.next = now;
            s.last_success = now;
            s.retry = INITIAL_RETRY;
        } else if !new.enabled && old.enabled {
            self.inner.store.set_enabled(false);
        }
        if let Some(m) = retired
            && !Arc::ptr_eq(&m, &self.monitor())
        {
            close_later(m);
        }
        Ok(())
    }

    fn build_monitor(
        &self,
        spec: &MonitorSpec,
    ) -> Result<(Arc<dyn Monitor>, Option<std::net::SocketAddr>), Error> {
        Ok(match spec {
            MonitorSpec::None => (Arc::new(NilMonitor), None),
            MonitorSpec::Debug { path: None } => (Arc::new(DebugMonitor::to_log()), None),
            MonitorSpec::Debug { path: Some(p) } => (Arc::new(DebugMonitor::to_file(p)), None),
            MonitorSpec::Pushgateway { url } => (Arc::new(PushgatewayMonitor::new(url)?), None),
            MonitorSpec::RemoteWrite { url } => (
                Arc::new(crate::monitor::RemoteWriteMonitor::new(url)?),
                None,
            ),
            MonitorSpec::Pull { addr } => {
                let weak = self.downgrade();
                let scrape: crate::monitor::ScrapeFn = Arc::new(move |format, out| {
                    if let Some(s) = weak.upgrade() {
                        s.scrape_into(format, out);
                    } else if format == crate::exposition::Format::OpenMetrics {
                        out.extend_from_slice(b"# EOF\n");
                    }
                });
                let m = PullMonitor::serve(*addr, scrape)
                    .map_err(|e| Error::InvalidSettings(e.to_string()))?;
                let bound = m.addr();
                (Arc::new(m), Some(bound))
            }
        })
    }

    /// A scrape: the runtime stats and callbacks, then the exposition of the store.
    fn scrape_into(&self, format: crate::exposition::Format, out: &mut Vec<u8>) {
        if self.settings().report_runtime_stats {
            self.report_runtime_stats();
        }
        self.run_callbacks();
        self.encode_into(format, out);
    }

    /// The monitor in use.
    pub(crate) fn monitor(&self) -> Arc<dyn Monitor> {
        self.inner.control.lock().monitor.clone()
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
    /// # Errors
    ///
    /// [`Error::NoTaskNumber`], an allocator or monitor error, or [`Error::FlushTimeout`].
    pub async fn flush(&self) -> Result<(), Error> {
        {
            let mut s = self.inner.schedule.lock();
            if s.flushing {
                return Ok(());
            }
            s.flushing = true;
        }
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
        send_chunks(monitor, &snap, workers).await
    }

    /// Flushes if one is due (Go's `flushIfNeededImpl`) and returns when the next one is due,
    /// in the State clock's microseconds; `None` while disabled.
    pub async fn flush_if_needed(&self) -> Option<u64> {
        if !self.settings().enabled {
            return None;
        }
        let now = self.inner.clock.now_micros();
        {
            let mut s = self.inner.schedule.lock();
            if s.flushing || now + EPSILON_MICROS < s.next {
                return Some(s.next);
            }
            s.flushing = true;
        }
        // The outcome is logged and folded into the schedule.
        let _ = self.flush_and_reschedule().await;
        Some(self.inner.schedule.lock().next)
    }

    async fn flush_and_reschedule(&self) -> Result<(), Error> {
        let settings = self.settings();
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
            Err(_) => "error",
        };
        let dropped = {
            let mut s = self.inner.schedule.lock();
            std::mem::take(&mut s.cells)
        };
        self.in_scope(|| {
            FLUSHES.inc(outcome);
            if matches!(outcome, "timeout" | "error") && dropped > 0 {
                DROPPED_CELLS.add(dropped as u64, ());
            }
        });
        let mut s = self.inner.schedule.lock();
        s.flushing = false;
        match &result {
            Ok(()) | Err(Error::NoTaskNumber) => {
                s.retry = INITIAL_RETRY;
                s.next = now.saturating_add(interval);
                if result.is_ok() {
                    s.last_success = now;
                } else {
                    tracing::warn!("skipping the tsmon flush: no task number assigned yet");
                }
            }
            Err(e) => {
                s.next = now.saturating_add(micros(s.retry));
                tracing::warn!("tsmon: flush failed, next try in {:?}: {e}", s.retry);
                s.retry = (s.retry * 2).min(MAX_RETRY);
            }
        }
        let silent = now.saturating_sub(s.last_success);
        if silent > interval.saturating_mul(5) {
            let hint = if self.inner.control.lock().allocator.is_some() {
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
                Err(e) => return Err(Error::TaskNum(e.to_string())),
            },
        }
        store.set_default_target(task);
        self.run_callbacks();
        let snap = self.snapshot();
        self.inner.schedule.lock().cells = snap.num_cells();
        send_chunks(monitor.as_ref(), &snap, workers).await
    }

    /// The schedule, for tests: (next flush, last success, retry delay, a flush under way).
    #[doc(hidden)]
    #[must_use]
    pub fn schedule(&self) -> (u64, u64, Duration, bool) {
        let s = self.inner.schedule.lock();
        (s.next, s.last_success, s.retry, s.flushing)
    }

    fn downgrade(&self) -> Weak {
        Weak(Arc::downgrade(&self.inner))
    }
}

/// Background work started by [`State::start`]: stopped (with a final flush) by
/// [`Background::shutdown`] or when dropped.
#[derive(Debug)]
#[must_use = "dropping it stops the flush loop after a final flush"]
pub struct Background {
    state: State,
    stop: Arc<tokio::sync::Notify>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    done: bool,
}

impl State {
    /// Starts the flush loop (and the settings-file watcher, when there is a file) on tsmon's
    /// background runtime. Keep the returned value alive; [`Background::shutdown`] (or dropping
    /// it) stops the loop and flushes one last time.
    pub fn start(&self) -> Background {
        let stop = Arc::new(tokio::sync::Notify::new());
        let handle = crate::runtime::handle();
        let mut tasks = vec![handle.spawn(flush_loop(self.clone(), stop.clone()))];
        let file = self.inner.control.lock().settings_file.clone();
        if let Some(path) = file {
            // The file as it is now: a change from here on is applied, even one made before
            // the watcher's first look.
            let seen = file_stamp(&path);
            tasks.push(handle.spawn(watch_loop(self.clone(), path, seen, stop.clone())));
        }
        Background {
            state: self.clone(),
            stop,
            tasks,
            done: false,
        }
    }

    /// Re-reads the settings file, if there is one, and applies it over the builder's settings
    /// (and the environment over that). A missing, empty, half-written or invalid file is
    /// refused: the settings in force stay, and the log says why.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSettings`] when the file was refused.
    pub fn reload_settings_file(&self) -> Result<(), Error> {
        let (path, base, env) = {
            let c = self.inner.control.lock();
            (c.settings_file.clone(), c.base.clone(), c.env.clone())
        };
        let Some(path) = path else {
            return Ok(());
        };
        let merged = base.merge_file(&path).and_then(|s| {
            if env.is_empty() {
                Ok(s)
            } else {
                s.merge_env(env)
            }
        });
        match merged {
            Ok(settings) => self.apply_from(settings, SettingsSource::File),
            Err(e) => {
                self.refuse(SettingsSource::File, &e);
                Err(e)
            }
        }
    }
}

impl Background {
    /// Stops the loop, flushes one last time (under the flush timeout) and closes the monitor.
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
        self.stop.notify_waiters();
        for t in self.tasks.drain(..) {
            t.abort();
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
            tasks: std::mem::take(&mut self.tasks),
            done: false,
        };
        self.done = true;
        crate::runtime::handle().spawn(async move {
            let r = this.stop_and_flush().await;
            let _ = tx.send(r);
        });
        match rx.recv() {
            Ok(Err(e)) => tracing::warn!("tsmon: the final flush failed: {e}"),
            Ok(Ok(())) => {}
            Err(_) => tracing::warn!("tsmon: the final flush did not finish"),
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
}

/// Installs the global State from `builder` (reading the environment too, as
/// [`StateBuilder::with_env`](crate::StateBuilder::with_env) says), starts its flush loop, and
/// handles ctrl-c and SIGTERM: a final flush, then exit with status 130 or 143. What
/// `#[tsmon::main]` calls; for services that write their own `main`.
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
    // The handlers are registered before this returns, so a signal that comes right after is
    // caught.
    let signals = Signals::register();
    let signals = crate::runtime::handle().spawn(async move {
        let code = signals.wait().await;
        let taken = on_signal.lock().take();
        if let Some(b) = taken
            && let Err(e) = b.shutdown().await
        {
            tracing::warn!("tsmon: the final flush failed: {e}");
        }
        std::process::exit(code);
    });
    Ok(Running {
        background,
        signals,
    })
}

/// Ctrl-c / SIGINT (exit status 130) and, on Unix, SIGTERM (143).
struct Signals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

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
        self.signals.abort();
        let taken = self.background.lock().take();
        drop(taken);
    }
}

/// Go's `FlushPeriodically`: flush when due, then sleep until the next is due (at least 1 s;
/// 1 s while disabled, so an enabling is noticed quickly).
async fn flush_loop(state: State, stop: Arc<tokio::sync::Notify>) {
    loop {
        let next = state.flush_if_needed().await;
        let now = state.inner.clock.now_micros();
        let wait = next.map_or(Duration::from_secs(1), |n| {
            Duration::from_micros(n.saturating_sub(now)).max(Duration::from_secs(1))
        });
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = stop.notified() => return,
        }
    }
}

/// Polls the settings file once a second (its length and modification time) and reloads it
/// when it changes.
async fn watch_loop(
    state: State,
    path: PathBuf,
    mut last: FileStamp,
    stop: Arc<tokio::sync::Notify>,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            () = stop.notified() => return,
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
        n => Err(Error::Monitor(format!(
            "{n} of {} chunks failed; the first: {}",
            chunks.len(),
            errors[0]
        ))),
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

/// Closes a monitor that was replaced, on the background runtime (it may have a socket to
/// release), logging errors.
fn close_later(monitor: Arc<dyn Monitor>) {
    crate::runtime::handle().spawn(async move {
        if let Err(e) = monitor.close().await {
            tracing::warn!("tsmon: closing the previous monitor: {e}");
        }
    });
}
