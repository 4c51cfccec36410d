//! What a State is doing and what went wrong: [`State::health`].

use std::fmt;
use std::time::{Duration, SystemTime};

use crate::settings::{Key, Refusal, Settings, SettingsSource};
use crate::state::State;

/// A flush's outcome, as [`Health`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FlushReport {
    /// When it ended.
    pub at: SystemTime,
    /// How long it took.
    pub took: Duration,
    /// `ok`, `error` (the monitor), `deferred` (the monitor keeps the data for the next
    /// flush), `allocator_error`, `timeout` or `no_task_number`: the
    /// `outcome` field of `tsmon/flush/flushes`.
    pub outcome: &'static str,
    /// The error, when it failed.
    pub error: Option<String>,
}

/// A snapshot of what a State is doing: the settings in force and where each comes from, what
/// was refused and why, the monitor, the last flush and the backoff, the task number. For a
/// status page, a health check or a look from a debugger.
///
/// ```
/// use tsmon::settings::{Settings, SettingsSource};
/// let state = tsmon::State::builder().build().unwrap();
/// let bad = Settings { flush_workers: 0, ..state.settings() };
/// assert!(state.apply_settings(bad).is_err());
/// let health = state.health();
/// assert!(health.settings.enabled);
/// assert_eq!(health.refusals[0].source, SettingsSource::Api);
/// assert_eq!(health.refusals[0].key, "num_flush_workers");
/// assert_eq!(health.task_num, Some(0));
/// assert!(health.to_string().contains("monitor: none"));
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Health {
    /// The settings in force.
    pub settings: Settings,
    /// Where each key's value comes from.
    pub origins: Vec<(Key, SettingsSource)>,
    /// What is refused now, with the reasons (the last application of each source).
    pub refusals: Vec<Refusal>,
    /// The monitor in use.
    pub monitor: String,
    /// The last flush, if one ran.
    pub last_flush: Option<FlushReport>,
    /// When a flush last succeeded.
    pub last_success: Option<SystemTime>,
    /// Flushes that failed since the last success.
    pub consecutive_failures: u32,
    /// The delay before the next retry after a failure (5 s, doubling to 10 minutes).
    pub retry_delay: Duration,
    /// Time until the next scheduled flush (`None` while disabled).
    pub next_flush_in: Option<Duration>,
    /// Whether a flush is under way now.
    pub flush_in_progress: bool,
    /// The task number in use; `None` while it has none.
    pub task_num: Option<i32>,
    /// The task-number allocator, if any.
    pub allocator: Option<String>,
    /// This process's instance id.
    pub instance_id: String,
}

fn system_time(micros: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_micros(micros)
}

impl State {
    /// What this State is doing and what went wrong; see [`Health`].
    #[must_use]
    pub fn health(&self) -> Health {
        let (settings, origins, refusals, monitor, allocator, instance_id) = {
            let c = self.inner.control.lock();
            (
                c.settings.clone(),
                Key::ALL.into_iter().zip(c.origins).collect(),
                c.all_refusals(),
                c.monitor_description(),
                c.allocator.as_ref().map(|a| format!("{a:?}")),
                c.instance_id.clone(),
            )
        };
        let now = self.inner.clock.now_micros();
        let flush_in_progress = self.inner.flush_lock.try_lock().is_err();
        let s = self.inner.schedule.lock();
        let task = self.inner.store.default_target().task_num;
        Health {
            next_flush_in: settings
                .enabled
                .then(|| Duration::from_micros(s.next.saturating_sub(now))),
            settings,
            origins,
            refusals,
            monitor,
            last_flush: s
                .last
                .clone()
                .map(|(at, took, outcome, error)| FlushReport {
                    at: system_time(at),
                    took,
                    outcome,
                    error,
                }),
            last_success: (s.successes > 0).then(|| system_time(s.last_success)),
            consecutive_failures: s.failures,
            retry_delay: s.retry,
            flush_in_progress,
            task_num: (task >= 0).then_some(task),
            allocator,
            instance_id,
        }
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.settings;
        writeln!(
            f,
            "tsmon: {}, monitor: {}",
            if s.enabled { "enabled" } else { "disabled" },
            self.monitor
        )?;
        for (key, source) in &self.origins {
            let value = crate::settings::SettingsLayer::all_of(s)
                .shown(*key)
                .unwrap_or_default();
            writeln!(f, "  {key} = {value} ({source})")?;
        }
        for r in &self.refusals {
            writeln!(f, "  refused: {r}")?;
        }
        match &self.last_flush {
            None => writeln!(f, "  last flush: none yet")?,
            Some(l) => writeln!(
                f,
                "  last flush: {} after {:?}{}",
                l.outcome,
                l.took,
                l.error.as_ref().map_or(String::new(), |e| format!(": {e}"))
            )?,
        }
        if self.flush_in_progress {
            writeln!(f, "  a flush is under way")?;
        }
        if self.consecutive_failures > 0 {
            writeln!(
                f,
                "  failing: {} in a row, next retry in {:?}",
                self.consecutive_failures, self.retry_delay
            )?;
        }
        match self.task_num {
            Some(n) => writeln!(f, "  task number: {n}"),
            None => writeln!(f, "  task number: none yet"),
        }
    }
}
