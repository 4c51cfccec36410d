//! Settings layers as a user meets them: what each source sets stays until that source changes
//! it, one bad value refuses only itself, defaults follow the values that were set, and every
//! refusal is in `State::health`.

use std::time::Duration;

use tsmon::State;
use tsmon::monitor::FakeMonitor;
use tsmon::settings::{Key, MonitorSpec, Settings, SettingsLayer, SettingsSource};

/// A settings file holding `text`, in a folder removed when the returned guard is dropped.
fn temp_file(tag: &str, text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix(&format!("tsmon-settings-{tag}-"))
        .tempdir()
        .unwrap();
    let path = dir.path().join("tsmon.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn origin(state: &State, key: Key) -> SettingsSource {
    state
        .settings_origins()
        .into_iter()
        .find(|(k, _)| *k == key)
        .unwrap()
        .1
}

#[test]
fn an_unrelated_file_edit_keeps_the_monitor_the_api_set() {
    let (_dir, path) = temp_file("api", "flush_interval_sec = 30\n");
    let state = State::builder().with_settings_file(&path).build().unwrap();
    state
        .apply_settings(Settings {
            monitor: MonitorSpec::parse("pull:127.0.0.1:0").unwrap(),
            ..state.settings()
        })
        .unwrap();
    let addr = state.pull_address().expect("the pull endpoint runs");
    std::fs::write(&path, "flush_interval_sec = 20\n").unwrap();
    state.reload_settings_file().unwrap();
    assert_eq!(state.settings().flush_interval, Duration::from_secs(20));
    assert_eq!(
        state.pull_address(),
        Some(addr),
        "the API's monitor stays in force"
    );
    assert_eq!(origin(&state, Key::Monitor), SettingsSource::Api);
    assert_eq!(origin(&state, Key::FlushInterval), SettingsSource::File);
    // Dropping the API layer gives the file (and below) back its say.
    state.clear_api_settings();
    assert_eq!(state.pull_address(), None);
    assert_eq!(state.settings().monitor, MonitorSpec::None);
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[test]
fn precedence_is_default_builder_file_environment_api() {
    let (_dir, path) = temp_file(
        "order",
        "flush_interval_sec = 30\nnum_flush_workers = 3\nmax_series = 300\n",
    );
    let state = State::builder()
        .with_settings(Settings {
            flush_interval: Duration::from_secs(40),
            flush_workers: 2,
            max_series: 200,
            report_runtime_stats: false,
            ..Settings::default()
        })
        .with_settings_file(&path)
        .with_env_from([("TSMON_NUM_FLUSH_WORKERS", "5")])
        .build()
        .unwrap();
    let s = state.settings();
    assert_eq!(
        s.flush_interval,
        Duration::from_secs(30),
        "file over builder"
    );
    assert_eq!(s.flush_workers, 5, "environment over file");
    assert_eq!(s.max_series, 300);
    assert!(
        !s.report_runtime_stats,
        "the builder's, which nothing above sets"
    );
    assert_eq!(
        origin(&state, Key::ReportRuntimeStats),
        SettingsSource::Builder
    );
    assert_eq!(origin(&state, Key::Enabled), SettingsSource::Default);
    state
        .apply_layer(SettingsLayer {
            flush_workers: Some(7),
            ..SettingsLayer::default()
        })
        .unwrap();
    assert_eq!(state.settings().flush_workers, 7, "API over environment");
    // A file edit of that key does not undo the API's value; removing a key from the file
    // hands it back to the builder.
    std::fs::write(&path, "num_flush_workers = 1\n").unwrap();
    state.reload_settings_file().unwrap();
    let s = state.settings();
    assert_eq!(s.flush_workers, 7);
    assert_eq!(s.flush_interval, Duration::from_secs(40));
    assert_eq!(s.max_series, 200);
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[test]
fn one_bad_variable_refuses_only_itself() {
    let state = State::builder()
        .with_env_from([
            ("TSMON_NUM_FLUSH_WORKERS", "0"),
            ("TSMON_MONITOR", "pull:127.0.0.1:0"),
            ("TSMON_FLUSH_INTERVALL_SEC", "5"),
        ])
        .build()
        .unwrap();
    assert!(state.pull_address().is_some(), "TSMON_MONITOR applies");
    assert_eq!(state.settings().flush_workers, 4);
    let refusals = state.health().refusals;
    assert_eq!(refusals.len(), 2, "{refusals:?}");
    let workers = refusals
        .iter()
        .find(|r| r.key == "TSMON_NUM_FLUSH_WORKERS")
        .unwrap();
    assert!(workers.reason.contains("between 1 and 64"), "{workers}");
    let typo = refusals
        .iter()
        .find(|r| r.key == "TSMON_FLUSH_INTERVALL_SEC")
        .unwrap();
    assert!(
        typo.reason
            .contains("did you mean TSMON_FLUSH_INTERVAL_SEC"),
        "{typo}"
    );
    // Counted by source and key.
    let snap = state.snapshot();
    let m = snap.metric("tsmon/settings/refused").unwrap();
    let cell = m
        .find(&[
            tsmon::field::FieldValue::Str("environment"),
            tsmon::field::FieldValue::Str("TSMON_NUM_FLUSH_WORKERS"),
        ])
        .unwrap();
    assert!(matches!(cell.value(), tsmon::store::Value::Int(1)));
}

#[test]
fn the_timeout_follows_an_interval_set_alone() {
    let fake = FakeMonitor::new();
    let state = State::builder()
        .with_monitor(fake.clone())
        .with_env_from([("TSMON_FLUSH_INTERVAL_SEC", "1")])
        .build()
        .unwrap();
    let s = state.settings();
    assert_eq!(s.flush_interval, Duration::from_secs(1));
    assert_eq!(s.flush_timeout, Duration::from_millis(500));
    assert!(state.health().refusals.is_empty());
    tsmon::runtime::block_on(state.flush()).unwrap();
    assert_eq!(fake.sent().len(), 1, "it exports");
}

#[test]
fn a_conflict_between_two_set_values_refuses_the_newer_naming_both() {
    let state = State::builder()
        .with_settings(Settings {
            flush_interval: Duration::from_secs(10),
            flush_timeout: Duration::from_secs(8),
            ..Settings::default()
        })
        .with_env_from([("TSMON_FLUSH_INTERVAL_SEC", "5")])
        .build()
        .unwrap();
    let s = state.settings();
    assert_eq!(
        s.flush_interval,
        Duration::from_secs(10),
        "the environment's interval is refused"
    );
    assert_eq!(s.flush_timeout, Duration::from_secs(8));
    let r = &state.health().refusals[0];
    assert_eq!(r.key, "TSMON_FLUSH_INTERVAL_SEC");
    assert!(
        r.reason.contains("flush_timeout_sec = 8") && r.reason.contains("builder"),
        "{r}"
    );
}

#[test]
fn values_no_one_means_are_refused_with_the_reason() {
    let state = State::builder().build().unwrap();
    let before = state.settings();
    for (layer, needle) in [
        (
            SettingsLayer {
                flush_interval: Some(Duration::from_secs_f64(1e19)),
                ..SettingsLayer::default()
            },
            "between 1 and 86400",
        ),
        (
            SettingsLayer {
                flush_timeout: Some(Duration::from_secs(60)),
                ..SettingsLayer::default()
            },
            "below flush_interval_sec = 60",
        ),
        (
            SettingsLayer {
                flush_workers: Some(0),
                ..SettingsLayer::default()
            },
            "between 1 and 64",
        ),
        (
            SettingsLayer {
                flush_workers: Some(100_000),
                ..SettingsLayer::default()
            },
            "between 1 and 64",
        ),
        (
            SettingsLayer {
                max_series: Some(0),
                ..SettingsLayer::default()
            },
            "between 1 and",
        ),
    ] {
        let err = state.apply_layer(layer.clone()).unwrap_err().to_string();
        assert!(err.contains(needle), "{layer:?}: {err}");
        assert_eq!(state.settings(), before, "nothing changed for {layer:?}");
    }
    // The same values from the environment refuse only themselves.
    let (layer, refused) = SettingsLayer::from_env([
        ("TSMON_FLUSH_INTERVAL_SEC".to_string(), "1e19".to_string()),
        ("TSMON_MAX_SERIES".to_string(), "0".to_string()),
        ("TSMON_ENABLED".to_string(), "true".to_string()),
    ]);
    assert_eq!(refused.len(), 2);
    assert_eq!(layer.enabled, Some(true));
}

#[test]
fn a_monitor_that_cannot_start_is_refused_and_the_one_in_use_stays() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let (_dir, path) = temp_file("monitor", "monitor = \"pull:127.0.0.1:0\"\n");
    let state = State::builder().with_settings_file(&path).build().unwrap();
    let addr = state.pull_address().unwrap();
    std::fs::write(&path, format!("monitor = \"pull:127.0.0.1:{port}\"\n")).unwrap();
    let err = state.reload_settings_file().unwrap_err().to_string();
    assert!(err.contains("cannot start"), "{err}");
    assert_eq!(
        state.pull_address(),
        Some(addr),
        "the endpoint in use stays"
    );
    let health = state.health();
    assert!(
        health.monitor.contains(&addr.to_string()),
        "{}",
        health.monitor
    );
    assert!(
        health
            .refusals
            .iter()
            .any(|r| r.reason.contains("cannot start")),
        "{health}"
    );
    // Through the API, the same is an error and changes nothing.
    let err = state
        .apply_settings(Settings {
            monitor: MonitorSpec::parse(&format!("pull:127.0.0.1:{port}")).unwrap(),
            flush_workers: 9,
            ..state.settings()
        })
        .unwrap_err();
    assert!(err.to_string().contains("pull endpoint"), "{err}");
    assert_eq!(state.settings().flush_workers, 4);
    drop(taken);
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[test]
fn a_bad_task_number_variable_is_refused_and_nothing_is_flushed_under_a_guess() {
    let fake = FakeMonitor::new();
    let state = State::builder()
        .with_monitor(fake.clone())
        .with_env_from([("TSMON_TASK_NUM", "web-x")])
        .build()
        .unwrap();
    let result = tsmon::runtime::block_on(state.flush());
    assert!(
        matches!(result, Err(tsmon::Error::NoTaskNumber)),
        "{result:?}"
    );
    assert!(fake.sent().is_empty());
    let health = state.health();
    assert_eq!(health.task_num, None);
    assert!(
        health.refusals.iter().any(|r| r.key == "TSMON_TASK_NUM"),
        "{health}"
    );
}

#[test]
fn health_tells_the_last_flush_and_the_backoff() {
    let fake = FakeMonitor::new();
    let state = State::builder().with_monitor(fake.clone()).build().unwrap();
    assert!(state.health().last_flush.is_none());
    fake.fail_with("receiver down");
    assert!(tsmon::runtime::block_on(state.flush()).is_err());
    let h = state.health();
    let last = h.last_flush.clone().unwrap();
    assert_eq!(last.outcome, "error");
    assert!(last.error.unwrap().contains("receiver down"));
    assert_eq!(h.consecutive_failures, 1);
    assert_eq!(
        h.retry_delay,
        Duration::from_secs(10),
        "the next retry after 5 s doubles"
    );
    assert!(h.last_success.is_none());
    assert!(h.to_string().contains("failing: 1 in a row"), "{h}");
    fake.succeed();
    tsmon::runtime::block_on(state.flush()).unwrap();
    let h = state.health();
    assert_eq!(h.last_flush.unwrap().outcome, "ok");
    assert_eq!(h.consecutive_failures, 0);
    assert!(h.last_success.is_some());
}

/// An allocator whose store is down.
#[derive(Debug)]
struct Down;

impl tsmon::tasknum::TaskNumAllocator for Down {
    fn notify_task_is_alive<'a>(
        &'a self,
        _: &'a tsmon::Target,
        _: &'a str,
    ) -> tsmon::monitor::BoxFuture<'a, Result<i32, tsmon::Error>> {
        Box::pin(async { Err(tsmon::Error::TaskNum("connection refused".into())) })
    }
}

#[test]
fn a_failing_allocator_shows_in_health_and_the_flush_counts() {
    let fake = FakeMonitor::new();
    let state = State::builder()
        .with_monitor(fake.clone())
        .with_allocator(Down)
        .build()
        .unwrap();
    assert!(tsmon::runtime::block_on(state.flush()).is_err());
    assert!(fake.sent().is_empty());
    let h = state.health();
    let last = h.last_flush.clone().unwrap();
    assert_eq!(last.outcome, "allocator_error");
    assert!(last.error.unwrap().contains("connection refused"));
    assert_eq!(h.task_num, None);
    assert!(h.allocator.unwrap().contains("Down"));
    let snap = state.snapshot();
    let flushes = snap.metric("tsmon/flush/flushes").unwrap();
    let cell = flushes
        .find(&[tsmon::field::FieldValue::Str("allocator_error")])
        .unwrap();
    assert!(matches!(cell.value(), tsmon::store::Value::Int(1)));
}

#[test]
fn a_push_url_tsmon_cannot_serve_is_a_refusal_with_the_reason_not_a_dead_process() {
    // https:// needs the `tls` feature; another scheme is never served.
    let mut refused = vec![
        ("pushgateway:ftp://127.0.0.1:9091", "http:// or https://"),
        ("remote_write:unix:///run/prom.sock", "http:// or https://"),
        ("remote_write:http:///api/v1/write", "no host"),
    ];
    if !cfg!(feature = "tls") {
        refused.push(("pushgateway:https://127.0.0.1:9091", "`tls` feature"));
        refused.push((
            "remote_write:https://127.0.0.1:9090/api/v1/write",
            "`tls` feature",
        ));
    }
    for (spec, why) in refused {
        let state = State::builder()
            .with_env_from([("TSMON_MONITOR", spec)])
            .build()
            .expect("the State starts");
        let health = state.health();
        let r = health
            .refusals
            .iter()
            .find(|r| r.key == "TSMON_MONITOR")
            .unwrap_or_else(|| panic!("{spec}: {health}"));
        assert!(r.reason.contains(why), "{spec}: {r}");
        assert_eq!(state.settings().monitor, MonitorSpec::None);
    }
}

#[test]
fn push_options_come_as_a_table_from_the_file_and_as_inline_toml_or_json_from_the_environment() {
    let (_dir, path) = temp_file(
        "push",
        "monitor = \"none\"\n[push]\nheaders = { X-Scope-OrgID = \"team-a\" }\n\
         basic_auth = { username = \"tsmon\", password = \"hunter2\" }\n",
    );
    let state = State::builder().with_settings_file(&path).build().unwrap();
    let push = state.settings().push;
    assert_eq!(push.headers["X-Scope-OrgID"], "team-a");
    let basic = push.basic_auth.expect("basic auth");
    assert_eq!(
        (basic.username.as_str(), basic.password.unwrap().expose()),
        ("tsmon", "hunter2")
    );
    assert_eq!(origin(&state, Key::Push), SettingsSource::File);
    let health = state.health().to_string();
    assert!(!health.contains("hunter2"), "{health}");

    for text in [
        r#"{ authorization = { credentials_file = "/run/token" } }"#,
        r#"{"authorization": {"credentials_file": "/run/token"}}"#,
    ] {
        let (layer, refused) =
            SettingsLayer::from_env([("TSMON_PUSH".to_string(), text.to_string())]);
        assert!(refused.is_empty(), "{text}: {refused:?}");
        let a = layer.push.unwrap().authorization.unwrap();
        assert_eq!(a.kind, "Bearer", "the type defaults as in Prometheus");
        assert_eq!(
            a.credentials_file.unwrap(),
            std::path::Path::new("/run/token")
        );
    }
}

#[test]
fn bad_push_and_pull_tls_settings_are_refused_alone_with_the_reason() {
    let cases = [
        (
            r#"{ basic_auth = { username = "u", pasword = "p" } }"#,
            "unknown field `pasword`",
        ),
        (
            r#"{ basic_auth = { username = "u" } }"#,
            "exactly one of password",
        ),
        (
            r#"{ basic_auth = { username = "u", password = "p" }, authorization = { credentials = "t" } }"#,
            "at most one of",
        ),
        (
            r#"{ authorization = { type = "Basic", credentials = "t" } }"#,
            "use basic_auth",
        ),
        (
            r#"{ headers = { Authorization = "Bearer x" } }"#,
            "set by tsmon itself",
        ),
        (
            r#"{ headers = { "bad header" = "x" } }"#,
            "not a header name",
        ),
        (
            r#"{ tls_config = { cert_file = "/c.pem" } }"#,
            "go together",
        ),
        ("basic:u:p", "expected a table"),
    ];
    for (text, why) in cases {
        let (layer, refused) = SettingsLayer::from_env([
            ("TSMON_PUSH".to_string(), text.to_string()),
            ("TSMON_NUM_FLUSH_WORKERS".to_string(), "3".to_string()),
        ]);
        assert_eq!(
            layer.flush_workers,
            Some(3),
            "{text}: the other variable applies"
        );
        assert!(layer.push.is_none(), "{text}");
        assert_eq!(refused.len(), 1, "{text}: {refused:?}");
        assert!(refused[0].reason.contains(why), "{text}: {}", refused[0]);
    }
    let (_, refused) = SettingsLayer::from_env([(
        "TSMON_PULL_TLS".to_string(),
        r#"{ cert_file = "/c.pem" }"#.to_string(),
    )]);
    assert!(refused[0].reason.contains("key_file"), "{}", refused[0]);
    let (_, refused) =
        SettingsLayer::from_env([("TSMON_PUSH_QUEUE_MAX_AGE_SEC".to_string(), "0".to_string())]);
    assert!(
        refused[0].reason.contains("between 1 and 86400"),
        "{}",
        refused[0]
    );
    // Without the `tls` feature, asking for TLS is refused with the way out.
    let (_, refused) = SettingsLayer::from_env([(
        "TSMON_PUSH".to_string(),
        r#"{ tls_config = { ca_file = "/ca.pem" } }"#.to_string(),
    )]);
    assert_eq!(refused.is_empty(), cfg!(feature = "tls"), "{refused:?}");
    if !cfg!(feature = "tls") {
        assert!(
            refused[0].reason.contains("`tls` feature"),
            "{}",
            refused[0]
        );
    }
}

#[test]
fn a_monitor_whose_tls_files_cannot_be_read_is_refused_and_the_one_in_use_stays() {
    if !cfg!(feature = "tls") {
        eprintln!("SKIPPED: needs the `tls` feature (the workspace's tests turn it on)");
        return;
    }
    let state = State::builder()
        .with_settings(Settings {
            monitor: MonitorSpec::parse("pull:127.0.0.1:0").unwrap(),
            ..Settings::default()
        })
        .build()
        .unwrap();
    let addr = state.pull_address().unwrap();
    let missing = Settings {
        pull_tls: tsmon::settings::PullTls {
            cert_file: Some("/nonexistent/tls.crt".into()),
            key_file: Some("/nonexistent/tls.key".into()),
            client_ca_file: None,
        },
        ..state.settings()
    };
    let err = state.apply_settings(missing).unwrap_err().to_string();
    assert!(err.contains("/nonexistent/tls.crt"), "{err}");
    assert_eq!(
        state.pull_address(),
        Some(addr),
        "the endpoint in use stays"
    );
    assert!(!state.settings().pull_tls.is_enabled());
}

#[test]
fn the_docs_table_names_every_key_and_variable() {
    let docs = include_str!("../src/settings.rs");
    for key in Key::ALL {
        let row = format!("| `{}` | `{}` |", key.name(), key.env_var());
        assert!(docs.contains(&row), "the settings table has no row {row}");
    }
    let (layer, refused) = SettingsLayer::from_text(tsmon::settings::DEFAULT_FILE).unwrap();
    assert!(refused.is_empty(), "{refused:?}");
    for key in Key::ALL {
        assert!(
            layer.sets(key) || key == Key::FlushTimeout || key == Key::Push,
            "the embedded file sets {key}"
        );
    }
}
