//! Runtime stats read back from a snapshot, with the counting allocator installed.

use tsmon::State;
use tsmon::alloc::CountingAllocator;
use tsmon::field::FieldValue::Str;
use tsmon::monitor::FakeMonitor;
use tsmon::settings::Settings;
use tsmon::store::{Snapshot, Value};

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator::system();

fn value(snap: &Snapshot, name: &str, fields: &[tsmon::field::FieldValue<'_>]) -> Value {
    snap.metric(name)
        .and_then(|m| m.find(fields))
        .unwrap_or_else(|| panic!("{name} not reported"))
        .value()
        .clone()
}

fn int(v: Value) -> i64 {
    match v {
        Value::Int(n) => n,
        other => panic!("{other:?}"),
    }
}

fn float(v: Value) -> f64 {
    match v {
        Value::Float(n) => n,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_report_has_process_tokio_heap_and_build_figures() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(3)
        .build()
        .unwrap();
    tsmon::runtime_stats::watch_tokio("test-pool", rt.handle());
    tsmon::runtime_stats::register_component("tsmon-tests", "0.0.0", Some("abc123"));
    let state = State::builder().build().unwrap();
    let big: Vec<u8> = vec![7; 1 << 20];
    state.report_runtime_stats();
    let snap = state.snapshot();
    drop(big);

    assert_eq!(value(&snap, "presence/up", &[]), Value::Bool(true));
    if cfg!(target_os = "linux") {
        assert!(int(value(&snap, "process/resident_memory", &[])) > 1 << 20);
        assert!(int(value(&snap, "process/virtual_memory", &[])) > 1 << 20);
        assert!(
            int(value(&snap, "process/threads", &[])) >= 4,
            "main, tsmon and 3 workers"
        );
        assert!(int(value(&snap, "process/open_fds", &[])) >= 3);
        assert!(
            int(value(&snap, "process/max_fds", &[])) >= int(value(&snap, "process/open_fds", &[]))
        );
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let start = float(value(&snap, "process/start_time", &[]));
        assert!(
            start <= now + 1.0 && start > now - 3600.0,
            "start {start}, now {now}"
        );
        assert!(float(value(&snap, "process/cpu", &[])) >= 0.0);
    }
    assert_eq!(int(value(&snap, "tokio/workers", &[Str("test-pool")])), 3);
    assert_eq!(int(value(&snap, "tokio/workers", &[Str("tsmon")])), 1);
    assert!(int(value(&snap, "mem/heap_in_use", &[])) >= 1 << 20);
    assert!(int(value(&snap, "mem/allocations", &[])) > 0);
    assert!(int(value(&snap, "mem/allocated", &[])) >= 1 << 20);
    match value(&snap, "build/version", &[Str("tsmon")]) {
        Value::Str(v) => assert_eq!(v.split('.').count(), 3, "a version: {v}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        value(&snap, "build/commit", &[Str("tsmon-tests")]),
        Value::Str("abc123".into())
    );
}

#[test]
fn flushes_report_only_when_the_settings_say_so() {
    for on in [true, false] {
        let fake = FakeMonitor::new();
        let state = State::builder()
            .with_monitor(fake.clone())
            .with_settings(Settings {
                report_runtime_stats: on,
                ..Settings::default()
            })
            .build()
            .unwrap();
        // Something to flush either way.
        let s2 = state.clone();
        state.register_callback(move || {
            s2.in_scope(|| tsmon::settings::REFUSED.add(0, ("none", "none")))
        });
        tsmon::runtime::block_on(state.flush()).unwrap();
        let sent = fake.sent();
        let reported = sent.iter().any(|c| c.metric("presence/up").is_some());
        assert_eq!(reported, on);
    }
}
