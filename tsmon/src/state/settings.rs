//! A State's settings as its users see them: what is in force and where it comes from, the
//! API layer and the file's reload (see [`crate::settings`] for how the layers combine).

use crate::error::Error;
use crate::report;
use crate::settings::REFUSED;
use crate::settings::{Key, Refusal, Settings, SettingsLayer, SettingsSource};
use crate::state::State;
use crate::state::control::{read_file, topic};

impl State {
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

    /// Where each key's value in force comes from.
    ///
    /// ```
    /// use tsmon::settings::{Key, Settings, SettingsSource};
    /// let state = tsmon::State::builder()
    ///     .with_settings(Settings { flush_workers: 2, ..Settings::default() })
    ///     .build()
    ///     .unwrap();
    /// let origin = |k| state.settings_origins().into_iter().find(|(key, _)| *key == k).unwrap().1;
    /// assert_eq!(origin(Key::FlushWorkers), SettingsSource::Builder);
    /// assert_eq!(origin(Key::FlushInterval), SettingsSource::Default);
    /// ```
    #[must_use]
    pub fn settings_origins(&self) -> Vec<(Key, SettingsSource)> {
        let c = self.inner.control.lock();
        Key::ALL.into_iter().zip(c.origins).collect()
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

    /// Applies `settings` through the API layer, the highest (see
    /// [`settings`](crate::settings)): the keys whose values differ from the settings in force
    /// join the API layer and stay until an API call changes them again or
    /// [`clear_api_settings`](Self::clear_api_settings) drops them; an edit of the settings
    /// file does not undo them. Enabling starts a fresh store and schedules a flush at once;
    /// disabling drops writes and closes the monitor; a new monitor replaces the old one; a
    /// new interval applies at once (the next flush comes within one new interval).
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
    /// [`Error::InvalidSettings`] when a changed key is out of range or conflicts with another
    /// layer, or the monitor cannot start. Then nothing changes (the API is all or nothing);
    /// the refusal is counted in `tsmon/settings/refused` and logged.
    pub fn apply_settings(&self, settings: Settings) -> Result<(), Error> {
        let changes = SettingsLayer::changes(&self.settings(), &settings);
        self.apply_layer(changes)
    }

    /// Sets the keys of `layer` in the API layer (the others stay as they are), all or nothing.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tsmon::settings::SettingsLayer;
    /// let state = tsmon::State::builder().build().unwrap();
    /// state
    ///     .apply_layer(SettingsLayer { flush_interval: Some(Duration::from_secs(2)), ..Default::default() })
    ///     .unwrap();
    /// assert_eq!(state.settings().flush_interval, Duration::from_secs(2));
    /// assert_eq!(state.settings().flush_timeout, Duration::from_secs(1), "the default timeout follows");
    /// ```
    ///
    /// # Errors
    ///
    /// As [`apply_settings`](Self::apply_settings).
    pub fn apply_layer(&self, layer: SettingsLayer) -> Result<(), Error> {
        let refused: Vec<Refusal> = layer
            .check()
            .into_iter()
            .map(|(key, reason)| Refusal {
                source: SettingsSource::Api,
                key: key.name().into(),
                value: layer.shown(key).unwrap_or_default(),
                reason,
            })
            .collect();
        if !refused.is_empty() {
            self.inner.control.lock().refusals[SettingsSource::Api.index()].clone_from(&refused);
            return Err(self.refuse_api(refused));
        }
        let mut c = self.inner.control.lock();
        let api = SettingsSource::Api.index();
        let saved = (c.layers.clone(), c.origins);
        let merged = c.layers[api].merged(&layer);
        let (wanted, refused) = c.stage(SettingsSource::Api, merged, Vec::new());
        let result = if refused.is_empty() {
            self.install_locked(&mut c, wanted, SettingsSource::Api)
                .map_err(|e| {
                    vec![Refusal {
                        source: SettingsSource::Api,
                        key: Key::Monitor.name().into(),
                        value: layer.shown(Key::Monitor).unwrap_or_default(),
                        reason: e.to_string(),
                    }]
                })
        } else {
            Err(refused)
        };
        match result {
            Ok(effects) => {
                c.refusals[api].clear();
                drop(c);
                self.after_change(effects);
                Ok(())
            }
            Err(refused) => {
                (c.layers, c.origins) = saved;
                c.refusals[api].clone_from(&refused);
                drop(c);
                Err(self.refuse_api(refused))
            }
        }
    }

    /// Drops the API layer: every key it held falls back to the environment, file, builder or
    /// default.
    ///
    /// ```
    /// use tsmon::settings::Settings;
    /// let state = tsmon::State::builder().build().unwrap();
    /// state.apply_settings(Settings { flush_workers: 9, ..state.settings() }).unwrap();
    /// state.clear_api_settings();
    /// assert_eq!(state.settings().flush_workers, 4);
    /// ```
    pub fn clear_api_settings(&self) {
        let mut c = self.inner.control.lock();
        let (wanted, refused) = c.stage(SettingsSource::Api, SettingsLayer::default(), Vec::new());
        c.refusals[SettingsSource::Api.index()] = refused;
        match self.install_locked(&mut c, wanted, SettingsSource::File) {
            Ok(effects) => {
                drop(c);
                self.after_change(effects);
            }
            Err(e) => {
                drop(c);
                report::problem(
                    "settings api",
                    format_args!("clearing the API settings: {e}"),
                );
            }
        }
    }

    fn refuse_api(&self, refused: Vec<Refusal>) -> Error {
        let text: Vec<String> = refused.iter().map(ToString::to_string).collect();
        self.count_refusals(&refused);
        for r in &refused {
            report::problem(&topic(r), format_args!("refused settings: {r}"));
        }
        Error::InvalidSettings(text.join("; "))
    }

    pub(super) fn count_refusals(&self, refused: &[Refusal]) {
        self.in_scope(|| {
            for r in refused {
                REFUSED.inc((r.source.as_str(), r.key.as_str()));
            }
        });
    }

    /// Re-reads the settings file, if there is one, and puts it in place of the file layer. A
    /// missing, empty, half-written or unparsable file is refused whole (the file layer stays
    /// as it was); otherwise each key is checked on its own, and the good ones apply. The
    /// environment and API layers stay over it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSettings`] listing what was refused (the rest of the file applied).
    pub fn reload_settings_file(&self) -> Result<(), Error> {
        let mut c = self.inner.control.lock();
        let Some(path) = c.settings_file.clone() else {
            return Ok(());
        };
        let (layer, mut refused) = read_file(&path);
        let mut effects = None;
        if let Some(layer) = layer {
            let (wanted, r) = c.stage(SettingsSource::File, layer, refused);
            refused = r;
            match self.install_locked(&mut c, wanted, SettingsSource::File) {
                Ok(mut e) => {
                    refused.append(&mut e.refused);
                    effects = Some(e);
                }
                Err(e) => refused.push(Refusal {
                    source: SettingsSource::File,
                    key: path.display().to_string(),
                    value: String::new(),
                    reason: e.to_string(),
                }),
            }
        }
        let file = SettingsSource::File.index();
        let before = std::mem::replace(&mut c.refusals[file], refused.clone());
        drop(c);
        let mut effects = effects.unwrap_or_default();
        effects.cleared = before
            .into_iter()
            .filter(|r| !refused.iter().any(|n| n.key == r.key))
            .collect();
        effects.refused.extend(refused.iter().cloned());
        self.after_change(effects);
        if refused.is_empty() {
            Ok(())
        } else {
            let text: Vec<String> = refused.iter().map(ToString::to_string).collect();
            Err(Error::InvalidSettings(text.join("; ")))
        }
    }
}
