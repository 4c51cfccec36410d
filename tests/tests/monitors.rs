//! The Pushgateway monitor against a real `prometheus-pushgateway`, and the pull endpoint read
//! over HTTP.

use tsmon::settings::{MonitorSpec, Settings};
use tsmon::tasknum::FixedAllocator;
use tsmon::{State, Target};
use tsmon_tests::{http, poll_until, start_pushgateway};

tsmon::metric! {
    /// Requests, by route and status.
    static REQUESTS: Counter(route: String, status: i64) = "e2e/push/requests";
    /// Latency.
    #[tsmon(units = seconds, bucketer = fixed_width(0.5, 4))]
    static LATENCY: CumulativeDistribution = "e2e/push/latency";
    /// Queue depth.
    static DEPTH: IntGauge = "e2e/push/depth";
    /// Version.
    static VERSION: StringMetric = "e2e/push/version";
    /// Ready.
    static READY: BoolMetric = "e2e/push/ready";
}

fn state_for(url: &str, host: &str, task: i32) -> State {
    State::builder()
        .with_target(
            Target::new("e2e-svc", "e2e-job")
                .with_data_center("dc1")
                .with_host(host),
        )
        .with_allocator(FixedAllocator::new(task))
        .with_settings(Settings {
            monitor: MonitorSpec::parse(&format!("pushgateway:{url}")).unwrap(),
            ..Settings::default()
        })
        .build()
        .unwrap()
}

/// The Pushgateway's `/metrics` lines for our job.
fn pushed(addr: &str) -> Vec<String> {
    let (status, _, body) = http("GET", addr, "/metrics", &[], "").unwrap();
    assert_eq!(status, 200);
    body.lines()
        .filter(|l| l.contains(r#"job="e2e-job""#) && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

fn value_of(lines: &[String], name: &str, labels: &[&str]) -> Option<String> {
    lines
        .iter()
        .find(|l| l.starts_with(&format!("{name}{{")) && labels.iter().all(|want| l.contains(want)))
        .and_then(|l| l.rsplit(' ').next())
        .map(str::to_owned)
}

#[test]
fn pushes_every_kind_under_a_group_keyed_by_task_number() {
    let Some(pg) = start_pushgateway() else {
        return;
    };
    let url = format!("http://{}", pg.addr);
    let a = state_for(&url, "host-a", 3);
    a.in_scope(|| {
        REQUESTS.add(5, ("/items/{id}", 200));
        REQUESTS.inc(("/", 503));
        LATENCY.add(0.2, ());
        LATENCY.add(1.7, ());
        DEPTH.set(-4, ());
        VERSION.set("1.2.3", ());
        READY.set(true, ());
    });
    tsmon::runtime::block_on(a.flush()).unwrap();

    let lines = pushed(&pg.addr);
    let task3 = r#"task_num="3""#;
    assert_eq!(
        value_of(
            &lines,
            "e2e_push_requests_total",
            &[
                task3,
                r#"route="/items/{id}""#,
                r#"status="200""#,
                r#"host_name="host-a""#
            ]
        )
        .as_deref(),
        Some("5")
    );
    assert_eq!(
        value_of(&lines, "e2e_push_requests_total", &[r#"status="503""#]).as_deref(),
        Some("1")
    );
    assert_eq!(
        value_of(&lines, "e2e_push_latency_seconds_bucket", &[r#"le="0.5""#]).as_deref(),
        Some("1")
    );
    assert_eq!(
        value_of(&lines, "e2e_push_latency_seconds_count", &[task3]).as_deref(),
        Some("2")
    );
    assert_eq!(
        value_of(&lines, "e2e_push_depth", &[task3]).as_deref(),
        Some("-4")
    );
    assert_eq!(
        value_of(&lines, "e2e_push_version_info", &[r#"value="1.2.3""#]).as_deref(),
        Some("1")
    );
    assert_eq!(
        value_of(&lines, "e2e_push_ready", &[task3]).as_deref(),
        Some("1")
    );

    // A second process that takes over task number 3 on another host replaces the group; one
    // with task number 4 adds a group.
    let b = state_for(&url, "host-b", 3);
    b.in_scope(|| REQUESTS.add(9, ("/items/{id}", 200)));
    tsmon::runtime::block_on(b.flush()).unwrap();
    let c = state_for(&url, "host-c", 4);
    c.in_scope(|| REQUESTS.add(1, ("/items/{id}", 200)));
    tsmon::runtime::block_on(c.flush()).unwrap();
    let lines = pushed(&pg.addr);
    assert!(
        !lines.iter().any(|l| l.contains("host-a")),
        "group 3 was replaced"
    );
    assert_eq!(
        value_of(
            &lines,
            "e2e_push_requests_total",
            &[task3, r#"host_name="host-b""#]
        )
        .as_deref(),
        Some("9")
    );
    assert_eq!(
        value_of(&lines, "e2e_push_requests_total", &[r#"task_num="4""#]).as_deref(),
        Some("1")
    );
    let groups: std::collections::BTreeSet<&str> = lines
        .iter()
        .filter(|l| l.starts_with("push_time_seconds{"))
        .filter_map(|l| l.split("task_num=\"").nth(1)?.split('"').next())
        .collect();
    assert_eq!(groups.into_iter().collect::<Vec<_>>(), ["3", "4"]);
}

#[test]
fn a_pushgateway_that_is_down_costs_a_retry_not_a_crash() {
    let Some(mut pg) = start_pushgateway() else {
        return;
    };
    let url = format!("http://{}", pg.addr);
    let state = state_for(&url, "host-a", 0);
    state.in_scope(|| REQUESTS.inc(("/", 200)));
    pg.kill();
    let err = tsmon::runtime::block_on(state.flush()).unwrap_err();
    assert!(err.to_string().contains("Pushgateway"), "{err}");
    assert_eq!(
        state.health().retry_delay,
        std::time::Duration::from_secs(10),
        "backing off"
    );
    // Writes go on.
    state.in_scope(|| REQUESTS.inc(("/", 200)));
    assert_eq!(state.in_scope(|| REQUESTS.get(("/", 200))), 2);
}

#[test]
fn the_pull_endpoint_serves_text_openmetrics_and_the_catalog() {
    let state = State::builder()
        .with_target(Target::new("e2e-svc", "pull-job").with_task_num(0))
        .with_settings(Settings {
            monitor: MonitorSpec::parse("pull:127.0.0.1:0").unwrap(),
            ..Settings::default()
        })
        .build()
        .unwrap();
    let addr = state.pull_address().expect("listening").to_string();
    assert!(
        addr.starts_with("127.0.0.1:"),
        "loopback by default: {addr}"
    );
    state.in_scope(|| DEPTH.set(12, ()));

    let (status, head, body) = http("GET", &addr, "/metrics", &[], "").unwrap();
    assert_eq!(status, 200);
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    assert!(
        body.contains("e2e_push_depth{") && body.contains("} 12\n"),
        "{body}"
    );

    let (_, head, body) = http(
        "GET",
        &addr,
        "/metrics",
        &[("Accept", "application/openmetrics-text; version=1.0.0")],
        "",
    )
    .unwrap();
    assert!(head.contains("application/openmetrics-text"), "{head}");
    assert!(body.ends_with("# EOF\n"));

    let (status, head, body) = http("GET", &addr, "/metrics/catalog", &[], "").unwrap();
    assert_eq!(status, 200);
    assert!(head.contains("application/json"));
    let catalog: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        catalog
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "e2e/push/depth" && m["kind"] == "IntGauge")
    );
    assert_eq!(http("GET", &addr, "/nope", &[], "").unwrap().0, 404);

    // Disabling closes the endpoint.
    state
        .apply_settings(Settings {
            enabled: false,
            ..state.settings()
        })
        .unwrap();
    poll_until(10, "the endpoint to close", || {
        http("GET", &addr, "/metrics", &[], "")
            .is_err()
            .then_some(())
    });
}

/// A receiver on loopback that answers the given statuses in turn, counting requests.
fn scripted_receiver(
    statuses: Vec<u16>,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for (i, stream) in listener.incoming().enumerate() {
            let Ok(mut s) = stream else { return };
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            // Read the head and the body (Content-Length) before answering.
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                let n = s.read(&mut chunk).unwrap_or(0);
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if buf.len() - head.len() - 4 >= len || body.len() >= len {
                        break;
                    }
                }
            }
            let status = statuses.get(i).copied().unwrap_or(200);
            let _ = write!(
                s,
                "HTTP/1.1 {status} X\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope"
            );
        }
    });
    (addr, count)
}

#[test]
fn remote_write_retries_5xx_but_not_4xx() {
    let state = State::builder().build().unwrap();
    state.in_scope(|| REQUESTS.inc(("/", 200)));
    let (addr, count) = scripted_receiver(vec![503, 502, 200]);
    let m =
        tsmon::monitor::RemoteWriteMonitor::new(&format!("http://{addr}/api/v1/write")).unwrap();
    tsmon::runtime::block_on(state.flush_to(&m)).unwrap();
    assert_eq!(
        count.load(std::sync::atomic::Ordering::SeqCst),
        3,
        "two retries, then success"
    );

    let (addr, count) = scripted_receiver(vec![400]);
    let m =
        tsmon::monitor::RemoteWriteMonitor::new(&format!("http://{addr}/api/v1/write")).unwrap();
    let err = tsmon::runtime::block_on(state.flush_to(&m)).unwrap_err();
    assert!(
        err.to_string().contains("400") && err.to_string().contains("nope"),
        "{err}"
    );
    assert_eq!(
        count.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "no retry of a 4xx"
    );

    let (addr, count) = scripted_receiver(vec![500, 500, 500, 500]);
    let m =
        tsmon::monitor::RemoteWriteMonitor::new(&format!("http://{addr}/api/v1/write")).unwrap();
    let err = tsmon::runtime::block_on(state.flush_to(&m)).unwrap_err();
    assert!(err.to_string().contains("3 attempts"), "{err}");
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 3);
}
