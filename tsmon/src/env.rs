//! The process environment: every `TSMON_*` variable tsmon reads is read here, and only here.
//!
//! The settings keys' variables (`TSMON_FLUSH_INTERVAL_SEC`, …) become a settings layer
//! ([`SettingsLayer::from_env`](crate::settings::SettingsLayer::from_env)); the others
//! ([`OTHER_ENV_VARS`](crate::settings::OTHER_ENV_VARS)) say what the State is for at start-up,
//! and [`Startup`] reads them. `TSMON_GIT_COMMIT` is read at compile time by `#[tsmon::main]`.
//! `HOSTNAME`, the one other variable, is read here too. This file imports nothing of the
//! crate, so every layer may use it.

/// The `TSMON_*` variables of the process environment.
pub(crate) fn process_vars() -> Vec<(String, String)> {
    std::env::vars()
        .filter(|(k, _)| k.starts_with("TSMON_"))
        .collect()
}

/// `TSMON_TASK_NUM` of the process environment, if set.
pub(crate) fn task_num() -> Option<String> {
    std::env::var("TSMON_TASK_NUM").ok()
}

/// `TSMON_PRINT_CATALOG` of the process environment, if set.
pub(crate) fn print_catalog() -> Option<String> {
    std::env::var("TSMON_PRINT_CATALOG").ok()
}

/// `HOSTNAME` of the process environment, if set and not empty.
pub(crate) fn hostname() -> Option<String> {
    std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty())
}

/// A task number written as text (`TSMON_TASK_NUM`'s form): a non-negative `i32`, spaces
/// around it allowed.
pub(crate) fn parse_task_num(text: &str) -> Option<i32> {
    text.trim().parse::<i32>().ok().filter(|n| *n >= 0)
}

/// What the start-up variables say, read from a list of `TSMON_*` variables (the process
/// environment's or a builder's own).
#[derive(Debug, Default)]
pub(crate) struct Startup {
    /// `TSMON_SETTINGS_FILE`.
    pub(crate) settings_file: Option<std::path::PathBuf>,
    /// `TSMON_DEV_MODE`: `Some(on)` when set.
    pub(crate) dev_mode: Option<bool>,
    /// `TSMON_INSTANCE_ID`.
    pub(crate) instance_id: Option<String>,
    /// `TSMON_SERVICE`.
    pub(crate) service: Option<String>,
    /// `TSMON_JOB`.
    pub(crate) job: Option<String>,
    /// `TSMON_DATA_CENTER`.
    pub(crate) data_center: Option<String>,
    /// `TSMON_HOST`.
    pub(crate) host: Option<String>,
    /// `TSMON_TASK_NUM`: the number, or the value as given when it is not one.
    pub(crate) task_num: Option<Result<i32, String>>,
}

impl Startup {
    pub(crate) fn read(vars: &[(String, String)]) -> Self {
        let var = |k: &str| {
            vars.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        Startup {
            settings_file: var("TSMON_SETTINGS_FILE").map(Into::into),
            dev_mode: var("TSMON_DEV_MODE")
                .map(|v| matches!(v.trim(), "1" | "true" | "yes" | "on")),
            instance_id: var("TSMON_INSTANCE_ID"),
            service: var("TSMON_SERVICE"),
            job: var("TSMON_JOB"),
            data_center: var("TSMON_DATA_CENTER"),
            host: var("TSMON_HOST"),
            task_num: var("TSMON_TASK_NUM").map(|v| parse_task_num(&v).ok_or(v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    #[test]
    fn startup_variables_name_the_target_and_the_instance() {
        let s = Startup::read(&vars(&[
            ("TSMON_SERVICE", "svc"),
            ("TSMON_HOST", "h1"),
            ("TSMON_DEV_MODE", " yes"),
            ("TSMON_INSTANCE_ID", "i-1"),
            ("TSMON_TASK_NUM", "7"),
            ("TSMON_SETTINGS_FILE", "/etc/tsmon.toml"),
        ]));
        assert_eq!(
            (s.service.as_deref(), s.job.as_deref(), s.host.as_deref()),
            (Some("svc"), None, Some("h1"))
        );
        assert_eq!(s.dev_mode, Some(true));
        assert_eq!(s.instance_id.as_deref(), Some("i-1"));
        assert_eq!(s.task_num.unwrap().unwrap(), 7);
        assert_eq!(
            s.settings_file.unwrap(),
            std::path::Path::new("/etc/tsmon.toml")
        );
    }

    #[test]
    fn a_task_number_that_is_not_one_keeps_its_value_for_the_refusal() {
        let s = Startup::read(&vars(&[("TSMON_TASK_NUM", "-3"), ("TSMON_DEV_MODE", "0")]));
        assert_eq!(s.task_num, Some(Err("-3".to_string())));
        assert_eq!(s.dev_mode, Some(false));
        assert!(Startup::read(&[]).task_num.is_none());
    }
}
