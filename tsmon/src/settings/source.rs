//! Where a setting came from ([`SettingsSource`]) and a setting refused with its reason
//! ([`Refusal`]).

use std::fmt;

/// Where settings came from, lowest precedence first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum SettingsSource {
    /// The embedded defaults (and dev mode's debug monitor).
    Default,
    /// The builder ([`StateBuilder::with_settings`](crate::StateBuilder::with_settings)).
    Builder,
    /// The settings file.
    File,
    /// `TSMON_*` environment variables.
    Environment,
    /// [`State::apply_settings`](crate::State::apply_settings) and
    /// [`State::apply_layer`](crate::State::apply_layer).
    Api,
}

impl SettingsSource {
    /// Every source, lowest precedence first.
    pub const ALL: [SettingsSource; 5] = [
        SettingsSource::Default,
        SettingsSource::Builder,
        SettingsSource::File,
        SettingsSource::Environment,
        SettingsSource::Api,
    ];

    /// The name used in logs and in the `source` field of `tsmon/settings/refused`.
    ///
    /// ```
    /// assert_eq!(tsmon::settings::SettingsSource::Environment.as_str(), "environment");
    /// ```
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            SettingsSource::Default => "default",
            SettingsSource::Builder => "builder",
            SettingsSource::File => "file",
            SettingsSource::Environment => "environment",
            SettingsSource::Api => "api",
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            SettingsSource::Default => 0,
            SettingsSource::Builder => 1,
            SettingsSource::File => 2,
            SettingsSource::Environment => 3,
            SettingsSource::Api => 4,
        }
    }
}

impl fmt::Display for SettingsSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A setting that was refused, and why.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Refusal {
    /// Where it came from.
    pub source: SettingsSource,
    /// The key, as that source names it (`num_flush_workers`, `TSMON_NUM_FLUSH_WORKERS`), or
    /// the file's path when the whole file was refused.
    pub key: String,
    /// The value given, as written.
    pub value: String,
    /// Why it was refused.
    pub reason: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.value.is_empty() {
            write!(f, "{} {}: {}", self.source, self.key, self.reason)
        } else {
            write!(
                f,
                "{} {} = {}: {}",
                self.source, self.key, self.value, self.reason
            )
        }
    }
}
