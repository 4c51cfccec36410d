//! [`StateBuilder`]: what a State is built from, the environment's start-up variables
//! applied, and the global State's installation.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};

use crate::clock::{MonotonicClock, SystemClock, TimeSource};
use crate::error::Error;
use crate::monitor::Monitor;
use crate::registry;
use crate::schedule::Schedule;
use crate::settings::{Refusal, Settings, SettingsLayer, SettingsSource};
use crate::state::control::{Control, ControlInit};
use crate::state::{GLOBAL, Inner, SetStateError, State, default_instance_id};
use crate::store::Store;
use crate::target::Target;
use crate::tasknum::TaskNumAllocator;

/// Builds a [`State`].
///
/// ```
/// use tsmon::{State, Target};
/// use tsmon::tasknum::FixedAllocator;
/// let state = State::builder()
///     .with_target(Target::new("shop", "frontend").with_data_center("eu"))
///     .with_instance_id("frontend-7f9c")
///     .with_allocator(FixedAllocator::new(3))
///     .build()
///     .unwrap();
/// assert_eq!(state.instance_id(), "frontend-7f9c");
/// ```
#[derive(Debug)]
pub struct StateBuilder {
    target: Option<Target>,
    max_series: Option<usize>,
    clock: Arc<dyn TimeSource>,
    settings: SettingsLayer,
    settings_file: Option<std::path::PathBuf>,
    env: Option<Vec<(String, String)>>,
    monitor: Option<Arc<dyn Monitor>>,
    allocator: Option<Arc<dyn TaskNumAllocator>>,
    instance_id: Option<String>,
    dev_mode: bool,
}

impl Default for StateBuilder {
    fn default() -> Self {
        StateBuilder {
            target: None,
            max_series: None,
            clock: Arc::new(SystemClock),
            settings: SettingsLayer::default(),
            settings_file: None,
            env: None,
            monitor: None,
            allocator: None,
            instance_id: None,
            dev_mode: false,
        }
    }
}

impl StateBuilder {
    /// The default target (by default, [`Target::default`]). Without an allocator its task
    /// number is the task's (a negative one counts as 0); with one, the allocator's number
    /// replaces it.
    ///
    /// ```
    /// let target = tsmon::Target::new("svc", "job").with_task_num(3);
    /// let state = tsmon::State::builder().with_target(target).build().unwrap();
    /// assert_eq!(state.store().default_target().task_num, 3);
    /// ```
    #[must_use]
    pub fn with_target(mut self, target: Target) -> Self {
        self.target = Some(target);
        self
    }

    /// The per-metric series cap for metrics whose declaration sets none
    /// (default [`DEFAULT_MAX_SERIES`](crate::store::DEFAULT_MAX_SERIES)).
    ///
    /// ```
    /// tsmon::metric! {
    ///     /// Per user.
    ///     static PER_USER: Counter(user: String) = "example/state/per_user";
    /// }
    /// let state = tsmon::State::builder().with_max_series(2).build().unwrap();
    /// state.in_scope(|| ["a", "b", "c", "d"].iter().for_each(|u| PER_USER.inc(u)));
    /// let snap = state.snapshot();
    /// let m = snap.metric("example/state/per_user").unwrap();
    /// assert_eq!(m.cells().len(), 3); // two series and the overflow series
    /// assert!(m.cells().iter().any(|c| c.is_overflow()));
    /// ```
    #[must_use]
    pub fn with_max_series(mut self, n: usize) -> Self {
        self.max_series = Some(n);
        self
    }

    /// The settings, over the embedded defaults (see [`settings`](crate::settings)): the builder
    /// layer is what differs from [`Settings::default`]. A settings file and the environment,
    /// if asked for, apply over these.
    #[must_use]
    pub fn with_settings(mut self, settings: Settings) -> Self {
        self.settings = SettingsLayer::changes(&Settings::default(), &settings);
        self
    }

    /// Sets the keys of `layer` in the builder layer (over what earlier calls set).
    ///
    /// ```
    /// use std::time::Duration;
    /// let state = tsmon::State::builder()
    ///     .with_settings_layer(tsmon::settings::SettingsLayer {
    ///         flush_interval: Some(Duration::from_secs(1)),
    ///         ..Default::default()
    ///     })
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(state.settings().flush_timeout, Duration::from_millis(500));
    /// ```
    #[must_use]
    pub fn with_settings_layer(mut self, layer: SettingsLayer) -> Self {
        self.settings = self.settings.merged(&layer);
        self
    }

    /// A settings file (TOML or JSON), applied over the builder's settings when the State is
    /// built and again whenever it changes (see [`State::start`] and [`State::reload_settings_file`]).
    #[must_use]
    pub fn with_settings_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.settings_file = Some(path.into());
        self
    }

    /// Reads the environment: `TSMON_*` settings over everything else, `TSMON_SETTINGS_FILE`
    /// for the settings file, `TSMON_DEV_MODE`, `TSMON_INSTANCE_ID`, `TSMON_TASK_NUM` and the
    /// target's `TSMON_SERVICE`, `TSMON_JOB`, `TSMON_DATA_CENTER`, `TSMON_HOST`.
    /// `#[tsmon::main]` turns this on.
    #[must_use]
    pub fn with_env(mut self) -> Self {
        self.env = Some(crate::env::process_vars());
        self
    }

    /// As [`with_env`](Self::with_env), from these variables instead of the process
    /// environment (for tests, and for programs that keep their configuration elsewhere).
    ///
    /// ```
    /// let state = tsmon::State::builder()
    ///     .with_env_from([("TSMON_FLUSH_INTERVAL_SEC", "1"), ("TSMON_NUM_FLUSH_WORKERS", "0")])
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(state.settings().flush_interval.as_secs(), 1);
    /// assert_eq!(state.settings().flush_workers, 4, "the bad variable alone is refused");
    /// assert_eq!(state.health().refusals[0].key, "TSMON_NUM_FLUSH_WORKERS");
    /// ```
    #[must_use]
    pub fn with_env_from<K: Into<String>, V: Into<String>>(
        mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.env = Some(
            vars.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .filter(|(k, _)| k.starts_with("TSMON_"))
                .collect(),
        );
        self
    }

    /// A monitor of your own, used instead of the one the settings name (Go's
    /// `CustomMonitor`).
    #[must_use]
    pub fn with_monitor(mut self, monitor: impl Monitor) -> Self {
        self.monitor = Some(Arc::new(monitor));
        self
    }

    /// The task-number allocator. Without one, the task number is 0.
    #[must_use]
    pub fn with_allocator(mut self, allocator: impl TaskNumAllocator) -> Self {
        self.allocator = Some(Arc::new(allocator));
        self
    }

    /// This process's id among the service's copies (default: host, process id and start
    /// time, which no other process shares).
    #[must_use]
    pub fn with_instance_id(mut self, id: impl Into<String>) -> Self {
        self.instance_id = Some(id.into());
        self
    }

    /// Dev mode: task number 0 whatever the allocator, and the debug monitor (to the log) unless
    /// the settings name another.
    #[must_use]
    pub fn dev_mode(mut self, on: bool) -> Self {
        self.dev_mode = on;
        self
    }

    /// The time source (a [`ManualClock`](crate::clock::ManualClock) in tests).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn TimeSource>) -> Self {
        self.clock = clock;
        self
    }

    /// Builds the State, after checking the catalog and the settings.
    ///
    /// # Errors
    ///
    /// The first catalog error ([`Error::DuplicateMetric`], [`Error::PrometheusNameClash`]; all
    /// of them are logged), or [`Error::InvalidSettings`] for builder settings that do not
    /// validate or a builder monitor that cannot start. A bad key of the settings file or the
    /// environment refuses only itself: it is reported (see [`settings`](crate::settings)),
    /// counted and listed in [`State::health`], and the rest applies.
    pub fn build(self) -> Result<State, Error> {
        if let Err(mut errors) = registry::validate() {
            for e in &errors {
                tracing::error!("{e}");
            }
            return Err(errors.swap_remove(0));
        }
        self.build_unchecked()
    }

    pub(crate) fn build_unchecked(mut self) -> Result<State, Error> {
        static IDS: AtomicU64 = AtomicU64::new(1);
        let (target, control) = self.resolve()?;
        let max_series = control.settings.max_series;
        let store = Store::new(target, MonotonicClock::new(self.clock.clone()), max_series);
        let state = State {
            inner: Arc::new(Inner {
                id: IDS.fetch_add(1, Ordering::Relaxed),
                store: Arc::new(store),
                clock: self.clock.clone(),
                control: Mutex::new(control),
                schedule: Mutex::new(Schedule::default()),
                flush_lock: tokio::sync::Mutex::new(()),
                wake: tokio::sync::Notify::new(),
                callbacks: RwLock::new(Vec::new()),
                #[cfg(feature = "pull")]
                history: Mutex::new(None),
            }),
        };
        state.start_settings()?;
        // The instrumented functions' series, with the settings in force.
        let _ = state.inner.store.fns();
        Ok(state)
    }

    /// Installs the global State: builds it, or, when something already used the global State
    /// (a metric written before `main` got here), configures that one in place, so every
    /// handle and instrumented fn keeps working. (Its clock stays the one it started with.)
    ///
    /// ```
    /// let global = tsmon::State::builder()
    ///     .with_target(tsmon::Target::new("svc", "job").with_task_num(0))
    ///     .install_global()
    ///     .unwrap();
    /// assert!(std::ptr::eq(global, tsmon::State::global()));
    /// assert_eq!(global.store().default_target().service_name, "svc");
    /// ```
    ///
    /// # Errors
    ///
    /// As [`build`](Self::build).
    pub fn install_global(mut self) -> Result<&'static State, Error> {
        if let Err(mut errors) = registry::validate() {
            for e in &errors {
                tracing::error!("{e}");
            }
            return Err(errors.swap_remove(0));
        }
        if GLOBAL.get().is_none() {
            let state = self.build_unchecked()?;
            if let Err(SetStateError(_lost_race)) = State::set_global(state) {
                tracing::warn!("tsmon: the global State was installed concurrently; keeping it");
            }
            return Ok(State::global());
        }
        let global = State::global();
        let (target, control) = self.resolve()?;
        global.inner.store.set_default_target(target);
        let previous = std::mem::replace(&mut *global.inner.control.lock(), control);
        previous.close_monitor();
        global.start_settings()?;
        Ok(global)
    }

    /// The target and the control block (the default and builder layers, the environment).
    fn resolve(&mut self) -> Result<(Target, Control), Error> {
        crate::instrument::check_sites();
        crate::instrument::warm_up();
        let mut builder = std::mem::take(&mut self.settings);
        if let Some(n) = self.max_series {
            builder.max_series = Some(n);
        }
        let env = self.env.take().unwrap_or_default();
        let startup = crate::env::Startup::read(&env);
        if self.settings_file.is_none() {
            self.settings_file.clone_from(&startup.settings_file);
        }
        if let Some(on) = startup.dev_mode {
            self.dev_mode = on;
        }
        let mut defaults = SettingsLayer::all_of(&Settings::default());
        defaults.flush_timeout = None;
        if self.dev_mode {
            defaults.monitor = Some(crate::settings::MonitorSpec::Debug { path: None });
        }
        if startup.instance_id.is_some() {
            self.instance_id.clone_from(&startup.instance_id);
        }
        let mut target = self.target.take().unwrap_or_default();
        let parts = [
            (&startup.service, &mut target.service_name),
            (&startup.job, &mut target.job_name),
            (&startup.data_center, &mut target.data_center),
            (&startup.host, &mut target.host_name),
        ];
        for (value, part) in parts {
            if let Some(v) = value {
                part.clone_from(v);
            }
        }
        let mut startup_refusals = Vec::new();
        match startup.task_num {
            Some(Ok(n)) => {
                self.allocator = Some(Arc::new(crate::tasknum::FixedAllocator::new(n)));
            }
            Some(Err(v)) => {
                // Task 0 could merge this task's streams with another's: no number at all
                // (nothing is flushed) until the variable is fixed, and the refusal says so.
                startup_refusals.push(Refusal {
                    source: SettingsSource::Environment,
                    key: "TSMON_TASK_NUM".into(),
                    value: format!("{v:?}"),
                    reason: "expected a non-negative number; the task has no number, so \
                             nothing is flushed"
                        .into(),
                });
                self.allocator = Some(Arc::new(crate::tasknum::Unassigned));
            }
            None => {}
        }
        let instance_id = self.instance_id.take().unwrap_or_else(default_instance_id);
        let control = Control::new(ControlInit {
            defaults,
            builder,
            custom_monitor: self.monitor.take(),
            allocator: self.allocator.take(),
            instance_id,
            dev_mode: self.dev_mode,
            settings_file: self.settings_file.take(),
            env,
            startup_refusals,
        });
        Ok((target, control))
    }
}
