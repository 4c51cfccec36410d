//! The settings in force: the layers (defaults, builder, file, environment, API), the refusals
//! of each, and putting a change into effect (monitor, store, schedule). See
//! [`settings`](crate::settings) for the precedence and the refusal rules.

use std::path::PathBuf;
use std::sync::Arc;

use crate::error::Error;
use crate::monitor::{Monitor, NilMonitor};
use crate::report;
use crate::settings::{
    Key, MonitorSpec, NativeHistograms, Refusal, Settings, SettingsLayer, SettingsSource, resolve,
};
use crate::state::State;
use crate::tasknum::TaskNumAllocator;

/// What the settings and the builder configure.
pub(crate) struct Control {
    /// The layers, lowest first (indexed by [`SettingsSource::index`]).
    pub(super) layers: [SettingsLayer; 5],
    /// The refusals made the last time each source was applied.
    pub(super) refusals: [Vec<Refusal>; 5],
    /// The monitor the settings ask for but that could not be built.
    pub(super) monitor_refusal: Option<Refusal>,
    /// Where each key's value in force comes from (in [`Key::ALL`] order).
    pub(crate) origins: [SettingsSource; crate::settings::KEYS],
    /// The settings in force.
    pub(crate) settings: Settings,
    pub(crate) monitor: Arc<dyn Monitor>,
    /// What `monitor` was built from (`None` for the nil monitor), and the pull options it
    /// was built with.
    pub(super) monitor_spec: MonitorSpec,
    pub(super) monitor_pull: crate::settings::PullOptions,
    pub(super) monitor_push: crate::settings::PushSettings,
    /// What the monitor in use hands to the next one (the remote-write queue).
    pub(super) carried: crate::monitor::Carried,
    pub(super) custom_monitor: Option<Arc<dyn Monitor>>,
    pub(crate) allocator: Option<Arc<dyn TaskNumAllocator>>,
    pub(crate) instance_id: String,
    pub(crate) dev_mode: bool,
    pub(crate) settings_file: Option<PathBuf>,
    pub(super) env: Vec<(String, String)>,
    pub(super) pull_addr: Option<std::net::SocketAddr>,
    /// Problems found while resolving the builder's inputs (a bad `TSMON_TASK_NUM`).
    pub(crate) startup_refusals: Vec<Refusal>,
}

/// What the builder hands over.
pub(crate) struct ControlInit {
    pub(crate) defaults: SettingsLayer,
    pub(crate) builder: SettingsLayer,
    pub(crate) custom_monitor: Option<Arc<dyn Monitor>>,
    pub(crate) allocator: Option<Arc<dyn TaskNumAllocator>>,
    pub(crate) instance_id: String,
    pub(crate) dev_mode: bool,
    pub(crate) settings_file: Option<PathBuf>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) startup_refusals: Vec<Refusal>,
}

impl Control {
    pub(crate) fn new(init: ControlInit) -> Self {
        let mut layers: [SettingsLayer; 5] = Default::default();
        layers[SettingsSource::Default.index()] = init.defaults;
        let defaults = layers.clone();
        let (settings, origins, _) = resolve(
            &mut layers.clone(),
            SettingsSource::Default,
            &SettingsLayer::default(),
        );
        let mut c = Control {
            layers: defaults,
            refusals: Default::default(),
            monitor_refusal: None,
            origins,
            settings,
            monitor: Arc::new(NilMonitor),
            monitor_spec: MonitorSpec::None,
            monitor_pull: crate::settings::PullOptions::default(),
            monitor_push: crate::settings::PushSettings::default(),
            carried: crate::monitor::Carried::default(),
            custom_monitor: init.custom_monitor,
            allocator: init.allocator,
            instance_id: init.instance_id,
            dev_mode: init.dev_mode,
            settings_file: init.settings_file,
            env: init.env,
            pull_addr: None,
            startup_refusals: init.startup_refusals,
        };
        c.layers[SettingsSource::Builder.index()] = init.builder;
        c
    }

    /// Closes the monitor of a control block that is being replaced.
    pub(crate) fn close_monitor(self) {
        close_later(self.monitor);
    }

    /// Puts `layer` in place of `source`'s layer. Keys that `refused` names keep the value the
    /// layer had before; conflicts are resolved (refusing the incoming layer's key). Returns
    /// the settings wanted and the refusals of this application.
    pub(super) fn stage(
        &mut self,
        source: SettingsSource,
        mut layer: SettingsLayer,
        mut refused: Vec<Refusal>,
    ) -> (Settings, Vec<Refusal>) {
        let i = source.index();
        let previous = self.layers[i].clone();
        for r in &refused {
            if let Some(key) = Key::ALL
                .into_iter()
                .find(|k| k.name() == r.key || k.env_var() == r.key)
            {
                layer.copy_key(&previous, key);
            }
        }
        self.layers[i] = layer;
        let (wanted, origins, conflicts) = resolve(&mut self.layers, source, &previous);
        self.origins = origins;
        refused.extend(conflicts);
        (wanted, refused)
    }

    pub(super) fn origin(&self, key: Key) -> SettingsSource {
        let n = Key::ALL.iter().position(|k| *k == key).unwrap_or(0);
        self.origins[n]
    }

    /// Every refusal in force.
    pub(crate) fn all_refusals(&self) -> Vec<Refusal> {
        let mut all: Vec<Refusal> = self.startup_refusals.clone();
        all.extend(self.refusals.iter().flatten().cloned());
        all.extend(self.monitor_refusal.iter().cloned());
        let mut unique: Vec<Refusal> = Vec::with_capacity(all.len());
        for r in all {
            if !unique.contains(&r) {
                unique.push(r);
            }
        }
        unique
    }

    /// Puts into `s` what the monitor in use was built from, for `key`: the monitor, or
    /// the pull or push options.
    pub(super) fn put_built(&self, s: &mut Settings, key: Key) {
        match key {
            Key::Monitor => s.monitor = self.monitor_spec.clone(),
            Key::PullTls => {
                let pull = &self.monitor_pull;
                s.pull_header_timeout = pull.header_timeout;
                s.pull_idle_timeout = pull.idle_timeout;
                s.pull_max_connections = pull.max_connections;
                s.pull_catalog = pull.catalog;
                s.pull_auth = pull.auth.clone();
                s.pull_tls = pull.tls.clone();
            }
            _ => {
                let push = &self.monitor_push;
                s.push = push.options.clone();
                s.push_queue_max_bytes = push.queue_max_bytes;
                s.push_queue_max_age = push.queue_max_age;
            }
        }
    }

    /// The monitor in use, described.
    pub(crate) fn monitor_description(&self) -> String {
        match (&self.custom_monitor, self.settings.enabled) {
            (_, false) => "none (disabled)".into(),
            (Some(m), true) => format!("custom: {m:?}"),
            (None, true) => match (&self.monitor_spec, self.pull_addr) {
                (MonitorSpec::Pull { .. }, Some(bound)) => format!("pull:{bound}"),
                (spec, _) => spec.to_string(),
            },
        }
    }
}

/// What a change leaves to do once the control lock is released.
#[derive(Default)]
pub(super) struct Effects {
    pub(super) retired: Option<Arc<dyn Monitor>>,
    pub(super) enabled_now: bool,
    pub(super) disabled_now: bool,
    pub(super) rescheduled: bool,
    pub(super) max_series: Option<usize>,
    pub(super) native_histograms: Option<NativeHistograms>,
    pub(super) has_allocator: bool,
    pub(super) refused: Vec<Refusal>,
    pub(super) cleared: Vec<Refusal>,
}

impl State {
    /// Applies the builder layer (refusals are errors), then the file and environment layers
    /// (refusals are reported, the rest applies), and starts in the result.
    pub(crate) fn start_settings(&self) -> Result<(), Error> {
        let (file, env) = {
            let c = self.inner.control.lock();
            (c.settings_file.clone(), c.env.clone())
        };
        let mut c = self.inner.control.lock();
        let builder = c.layers[SettingsSource::Builder.index()].clone();
        let mut bad: Vec<String> = builder
            .check()
            .into_iter()
            .map(|(k, why)| format!("{k} = {}: {why}", builder.shown(k).unwrap_or_default()))
            .collect();
        let (_, conflicts) = c.stage(SettingsSource::Builder, builder, Vec::new());
        bad.extend(conflicts.iter().map(ToString::to_string));
        if !bad.is_empty() {
            return Err(Error::InvalidSettings(bad.join("; ")));
        }
        let mut refused = Vec::new();
        if let Some(path) = &file {
            let (layer, r) = read_file(path);
            if let Some(layer) = layer {
                let (_, r2) = c.stage(SettingsSource::File, layer, r);
                refused.extend(r2);
            } else {
                refused.extend(r);
            }
        }
        let (layer, r) = SettingsLayer::from_env(env);
        let (wanted, r2) = c.stage(SettingsSource::Environment, layer, r);
        c.refusals[SettingsSource::File.index()] = refused
            .iter()
            .filter(|r| r.source == SettingsSource::File)
            .cloned()
            .collect();
        c.refusals[SettingsSource::Environment.index()] = r2.clone();
        refused.extend(r2);
        refused.extend(c.startup_refusals.iter().cloned());
        // Start from "disabled" so that `enabled = true` goes through the enabling path.
        c.settings.enabled = false;
        self.inner.store.set_enabled(false);
        let effects = self.install_locked(&mut c, wanted, SettingsSource::Environment);
        drop(c);
        let mut effects = effects?;
        effects.refused.extend(refused);
        self.after_change(effects);
        Ok(())
    }
}

impl State {
    /// Puts the wanted settings in force, under the control lock. A monitor that cannot be
    /// built is an error for the API (which then changes nothing); for other sources it is a
    /// refusal, and the monitor in use stays.
    pub(super) fn install_locked(
        &self,
        c: &mut Control,
        wanted: Settings,
        source: SettingsSource,
    ) -> Result<Effects, Error> {
        let old = c.settings.clone();
        let mut new = wanted;
        let mut fx = Effects::default();
        if new.enabled {
            let options_changed = match new.monitor {
                MonitorSpec::Pull { .. } => new.pull_options() != c.monitor_pull,
                MonitorSpec::Pushgateway { .. }
                | MonitorSpec::RemoteWrite { .. }
                | MonitorSpec::Otlp { .. } => new.push_settings() != c.monitor_push,
                _ => false,
            };
            let rebuild = !old.enabled
                || (c.custom_monitor.is_none()
                    && (new.monitor != c.monitor_spec || options_changed));
            if rebuild {
                if let Some(m) = c.custom_monitor.clone() {
                    fx.retired = Some(std::mem::replace(&mut c.monitor, m));
                } else {
                    match self.build_monitor(c, &new) {
                        Ok((m, addr)) => {
                            fx.retired = Some(std::mem::replace(&mut c.monitor, m));
                            c.pull_addr = addr;
                            c.monitor_spec = new.monitor.clone();
                            c.monitor_pull = new.pull_options();
                            c.monitor_push = new.push_settings();
                            if let Some(r) = c.monitor_refusal.take() {
                                fx.cleared.push(r);
                            }
                        }
                        // The API is all or nothing, and a builder's monitor is the code's
                        // own choice: for those, an error.
                        Err(e)
                            if source == SettingsSource::Api
                                || c.origin(Key::Monitor) == SettingsSource::Builder =>
                        {
                            return Err(e);
                        }
                        Err(e) => {
                            // The key that asked for what cannot start: the monitor, or the
                            // options of the same monitor.
                            let key = match new.monitor {
                                _ if new.monitor != c.monitor_spec => Key::Monitor,
                                MonitorSpec::Pull { .. } => Key::PullTls,
                                MonitorSpec::Pushgateway { .. }
                                | MonitorSpec::RemoteWrite { .. }
                                | MonitorSpec::Otlp { .. } => Key::Push,
                                _ => Key::Monitor,
                            };
                            let origin = c.origin(key);
                            let refusal = Refusal {
                                source: origin,
                                key: if origin == SettingsSource::Environment {
                                    key.env_var().into()
                                } else {
                                    key.name().into()
                                },
                                value: SettingsLayer::all_of(&new).shown(key).unwrap_or_default(),
                                reason: format!(
                                    "the monitor cannot start ({e}); {} stays in use",
                                    c.monitor_spec
                                ),
                            };
                            fx.refused.push(refusal.clone());
                            c.monitor_refusal = Some(refusal);
                            if !old.enabled && c.monitor_spec != MonitorSpec::None {
                                // Enabling again: the monitor that ran before, if it still can.
                                let mut before = old.clone();
                                for key in [Key::Monitor, Key::PullTls, Key::Push] {
                                    c.put_built(&mut before, key);
                                }
                                match self.build_monitor(c, &before) {
                                    Ok((m, addr)) => {
                                        fx.retired = Some(std::mem::replace(&mut c.monitor, m));
                                        c.pull_addr = addr;
                                    }
                                    Err(_) => c.monitor_spec = MonitorSpec::None,
                                }
                            }
                            // The refused key keeps what the monitor in use was built with.
                            c.put_built(&mut new, key);
                        }
                    }
                }
            }
        } else if old.enabled {
            fx.retired = Some(std::mem::replace(&mut c.monitor, Arc::new(NilMonitor)));
            c.pull_addr = None;
        }
        if old.max_series != new.max_series {
            fx.max_series = Some(new.max_series);
        }
        if old.native_histograms != new.native_histograms {
            fx.native_histograms = Some(new.native_histograms);
        }
        fx.has_allocator = c.allocator.is_some() && !c.dev_mode;
        fx.enabled_now = new.enabled && !old.enabled;
        fx.disabled_now = !new.enabled && old.enabled;
        fx.rescheduled = new.flush_interval != old.flush_interval;
        if let Some(m) = &fx.retired
            && Arc::ptr_eq(m, &c.monitor)
        {
            fx.retired = None;
        }
        c.settings = new;
        Ok(fx)
    }

    /// The store, the schedule, the flush loop and the reports, after a change.
    pub(super) fn after_change(&self, fx: Effects) {
        if let Some(n) = fx.max_series {
            self.inner.store.set_default_max_series(n);
        }
        if let Some(mode) = fx.native_histograms {
            self.inner.store.set_native_histograms(
                mode != NativeHistograms::Off,
                mode == NativeHistograms::All,
            );
        }
        let interval = self.inner.control.lock().settings.flush_interval;
        let now = self.inner.clock.now_micros();
        if fx.enabled_now {
            // Go's enableTSMon: a fresh store (the default target without a number while an
            // allocator decides), a flush as soon as possible, the retry delay reset.
            let mut target = (*self.inner.store.default_target()).clone();
            // Without an allocator the builder's number stands (a target given with one kept
            // it only until the first enabling, and silently became 0).
            target.task_num = if fx.has_allocator {
                -1
            } else {
                target.task_num.max(0)
            };
            self.inner.store.set_default_target(target);
            self.inner.store.set_enabled(true);
            self.inner.schedule.lock().enabled_at(now);
        } else if fx.disabled_now {
            self.inner.store.set_enabled(false);
        }
        if fx.rescheduled {
            self.inner.schedule.lock().interval_changed(now, interval);
        }
        if fx.enabled_now || fx.rescheduled {
            self.inner.wake.notify_one();
        }
        if let Some(m) = fx.retired {
            close_later(m);
        }
        for r in &fx.cleared {
            report::resolved(&topic(r));
        }
        self.count_refusals(&fx.refused);
        for r in &fx.refused {
            report::problem(&topic(r), format_args!("refused settings: {r}"));
        }
    }

    /// The monitor `settings` ask for. A remote-write monitor to the URL of the one before
    /// takes over its queue.
    fn build_monitor(
        &self,
        c: &mut Control,
        settings: &Settings,
    ) -> Result<(Arc<dyn Monitor>, Option<std::net::SocketAddr>), Error> {
        crate::monitor::build(settings, &mut c.carried, || self.pull_hooks())
    }

    /// How the pull endpoint scrapes this State and counts in its scope (weakly held).
    #[cfg(feature = "pull")]
    fn pull_hooks(&self) -> crate::monitor::PullHooks {
        let weak = self.downgrade();
        let scrape: crate::monitor::ScrapeFn = Arc::new(move |format| match weak.upgrade() {
            Some(s) => {
                s.before_scrape();
                Box::new(s.encode_chunks(format, crate::monitor::SCRAPE_CHUNK))
            }
            None => {
                let end = format == crate::exposition::Format::OpenMetrics;
                Box::new(end.then(|| b"# EOF\n".to_vec()).into_iter())
            }
        });
        let weak = self.downgrade();
        let scope: crate::monitor::ScopeFn = Arc::new(move |f| {
            if let Some(s) = weak.upgrade() {
                s.in_scope(f);
            }
        });
        let weak = self.downgrade();
        let status: crate::monitor::StatusFn =
            Arc::new(move |what, query| weak.upgrade()?.status_api(what, query));
        crate::monitor::PullHooks {
            scrape,
            scope,
            status,
        }
    }

    #[cfg(not(feature = "pull"))]
    #[allow(clippy::unused_self)]
    fn pull_hooks(&self) -> crate::monitor::PullHooks {
        crate::monitor::PullHooks
    }

    /// The monitor in use.
    pub(crate) fn monitor(&self) -> Arc<dyn Monitor> {
        self.inner.control.lock().monitor.clone()
    }
}

/// The stderr topic of a refusal: one line per source and key while its text stays the same.
pub(super) fn topic(r: &Refusal) -> String {
    format!("settings {} {}", r.source, r.key)
}

/// The file's layer and its refusals; no layer when the file cannot be read or parsed.
pub(super) fn read_file(path: &std::path::Path) -> (Option<SettingsLayer>, Vec<Refusal>) {
    let whole = |reason: String| Refusal {
        source: SettingsSource::File,
        key: path.display().to_string(),
        value: String::new(),
        reason,
    };
    match std::fs::read_to_string(path) {
        Err(e) => (None, vec![whole(e.to_string())]),
        Ok(text) => match SettingsLayer::from_text(&text) {
            Ok((layer, refused)) => (Some(layer), refused),
            Err(e) => (
                None,
                vec![whole(format!("{e}; the file's previous settings stay"))],
            ),
        },
    }
}

/// Closes a monitor that was replaced, on the background runtime (it may have a socket to
/// release), logging errors.
pub(crate) fn close_later(monitor: Arc<dyn Monitor>) {
    crate::runtime::handle().spawn(async move {
        if let Err(e) = monitor.close().await {
            tracing::warn!("tsmon: closing the previous monitor: {e}");
        }
    });
}
