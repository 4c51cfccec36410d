//! Unit tests of the settings: layers, the environment, refusals.

use super::*;

#[test]
#[cfg(not(feature = "settings-file"))]
fn without_the_settings_file_feature_a_file_is_refused_saying_so_and_variables_apply() {
    let err = Settings::default()
        .merge_toml("enabled = false")
        .unwrap_err();
    assert!(err.to_string().contains("`settings-file` feature"), "{err}");
    let s = Settings::default()
        .merge_env([("TSMON_FLUSH_INTERVAL_SEC".into(), "7".into())])
        .unwrap();
    assert_eq!(s.flush_interval, Duration::from_secs(7));
    let (_, refused) = SettingsLayer::from_env([("TSMON_PUSH".to_string(), "{}".to_string())]);
    assert!(
        refused[0].reason.contains("`settings-file` feature"),
        "{}",
        refused[0]
    );
}

#[test]
#[cfg(feature = "settings-file")]
fn the_embedded_file_is_the_default() {
    assert_eq!(
        Settings::default().merge_toml(DEFAULT_FILE).unwrap(),
        Settings::default()
    );
}

#[test]
#[cfg(feature = "settings-file")]
fn bad_input_is_refused_with_the_reason() {
    let s = Settings::default();
    for (text, needle) in [
        ("", "empty"),
        ("enabled = ", "TOML"),
        ("{\"enabled\": tru", "JSON"),
        ("flush_interval = 10", "did you mean flush_interval_sec"),
        ("flush_interval_sec = 0.5", "between 1 and 86400"),
        ("flush_interval_sec = 1e19", "between 1 and 86400"),
        ("flush_timeout_sec = 0", "above 0"),
        ("num_flush_workers = 0", "between 1 and 64"),
        ("num_flush_workers = 2.5", "whole number"),
        ("max_series = 100000000", "between 1 and"),
        ("enabled = \"yes\"", "true or false"),
        ("flush_interval_sec = 10\nflush_timeout_sec = 10", "below"),
        ("num_flush_workers = 100", "between 1 and 64"),
        ("monitor = \"carrier-pigeon\"", "expected none"),
        ("monitor = \"pull:not-an-address\"", "bad address"),
        ("max_series = 0", "between 1 and"),
        ("flush_interval_sec = -3", "seconds"),
    ] {
        let err = s.merge_text(text).unwrap_err().to_string();
        assert!(err.contains(needle), "{text:?}: {err}");
    }
    let err = s
        .merge_env([("TSMON_ENABLED".into(), "maybe".into())])
        .unwrap_err()
        .to_string();
    assert!(err.contains("TSMON_ENABLED"), "{err}");
}

#[test]
#[cfg(feature = "settings-file")]
fn layers_apply_in_order() {
    let s = Settings::default()
        .merge_json(r#"{"flush_interval_sec": 20, "monitor": "debug:/tmp/x"}"#)
        .unwrap()
        .merge_env([
            ("TSMON_FLUSH_INTERVAL_SEC".into(), "30".into()),
            ("OTHER".into(), "ignored".into()),
        ])
        .unwrap();
    assert_eq!(s.flush_interval, Duration::from_secs(30));
    assert_eq!(
        s.monitor,
        MonitorSpec::Debug {
            path: Some("/tmp/x".into())
        }
    );
    assert_eq!(
        MonitorSpec::parse(&s.monitor.to_string()).unwrap(),
        s.monitor
    );
}
