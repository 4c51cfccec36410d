//! The pull endpoint's network edges: idle floods, slow clients, the connection cap, descriptor
//! exhaustion and memory after a burst. Every wait is a poll with a deadline.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tsmon::State;
use tsmon::settings::{MonitorSpec, Settings};
use tsmon_tests::poll_until;

fn state_with(idle: Duration, header: Duration, max: usize) -> State {
    State::builder()
        .with_settings(Settings {
            monitor: MonitorSpec::parse("pull:127.0.0.1:0").unwrap(),
            pull_idle_timeout: idle,
            pull_header_timeout: header,
            pull_max_connections: max,
            report_runtime_stats: false,
            ..Settings::default()
        })
        .build()
        .unwrap()
}

fn closed_by(state: &State, reason: &str) -> i64 {
    let snap = state.snapshot();
    snap.metric("tsmon/pull/closed_connections")
        .and_then(|m| m.find(&[tsmon::field::FieldValue::Str(reason)]))
        .map_or(0, |c| match c.value() {
            tsmon::store::Value::Int(n) => *n,
            _ => -1,
        })
}

/// Whether the server has closed `s` (a read gives end of file or a reset).
fn is_closed(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    let mut b = [0u8; 256];
    match s.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

/// A scrape with a 1 s read timeout: the body.
fn scrape(addr: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out)
        .expect("the scrape answered within 1 s");
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    out
}

#[test]
fn three_hundred_idle_connections_leave_scrapes_answering_and_are_closed_when_idle() {
    let state = state_with(Duration::from_secs(1), Duration::from_secs(10), 256);
    let addr = state.pull_address().unwrap().to_string();
    let mut idle: Vec<TcpStream> = (0..300)
        .map(|_| TcpStream::connect(&addr).unwrap())
        .collect();
    // Past the cap, the longest idle make room: a scrape still gets through at once.
    let body = scrape(&addr);
    assert!(body.contains("# TYPE"), "{body}");
    poll_until(20, "every idle connection closed", || {
        idle.retain_mut(|s| !is_closed(s));
        idle.is_empty().then_some(())
    });
    assert_eq!(
        closed_by(&state, "idle") + closed_by(&state, "evicted_idle"),
        300
    );
    scrape(&addr);
}

#[test]
fn a_client_that_sends_its_headers_slowly_is_closed_after_the_header_timeout() {
    let state = state_with(Duration::from_secs(60), Duration::from_millis(500), 256);
    let addr = state.pull_address().unwrap().to_string();
    let mut slow = TcpStream::connect(&addr).unwrap();
    slow.write_all(b"GET /metr").unwrap();
    poll_until(10, "the slow client closed", || {
        is_closed(&mut slow).then_some(())
    });
    assert_eq!(closed_by(&state, "header_timeout"), 1);
    // A keep-alive client that is not slow is served twice on one connection.
    let mut s = TcpStream::connect(&addr).unwrap();
    for _ in 0..2 {
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut reader = BufReader::new(s.try_clone().unwrap());
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        assert!(status.starts_with("HTTP/1.1 200"), "{status}");
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).unwrap();
            if h == "\r\n" {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length: ") {
                len = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
    }
}

#[test]
fn at_the_cap_with_every_connection_busy_a_new_one_is_closed_at_once() {
    let state = state_with(Duration::from_secs(60), Duration::from_secs(30), 4);
    let addr = state.pull_address().unwrap().to_string();
    // Four connections each in the middle of a request's headers: busy, not idle.
    let mut busy: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut s = TcpStream::connect(&addr).unwrap();
            s.write_all(b"GET /metrics HTTP/1.1\r\n").unwrap();
            s
        })
        .collect();
    poll_until(10, "four connections held", || {
        let snap = state.snapshot();
        let open = snap
            .metric("tsmon/pull/connections")
            .and_then(|m| m.cells().first().map(|c| c.value().clone()));
        matches!(open, Some(tsmon::store::Value::Int(4))).then_some(())
    });
    let mut extra = TcpStream::connect(&addr).unwrap();
    poll_until(10, "the extra connection closed", || {
        is_closed(&mut extra).then_some(())
    });
    assert_eq!(closed_by(&state, "over_capacity"), 1);
    assert!(
        busy.iter_mut().all(|s| !is_closed(s)),
        "the busy ones are kept"
    );
}

#[test]
fn bad_bytes_get_a_4xx_or_a_close_never_a_crash() {
    let state = state_with(Duration::from_secs(5), Duration::from_secs(2), 64);
    let addr = state.pull_address().unwrap().to_string();
    let huge = format!(
        "GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let inputs: Vec<Vec<u8>> = vec![
        b"\x00\x01\x02\xff\xfe\r\n\r\n".to_vec(),
        b"POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc".to_vec(),
        b"GET /metrics HTTP/9.9\r\n\r\n".to_vec(),
        b"GET /../../etc/passwd HTTP/1.1\r\n\r\n".to_vec(),
        huge.into_bytes(),
        (0..2000).map(|i| (i * 7 % 256) as u8).collect(),
    ];
    for input in inputs {
        let mut s = TcpStream::connect(&addr).unwrap();
        let _ = s.write_all(&input);
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.is_empty() || text.starts_with("HTTP/1.1 4"),
            "{:?}: {text}",
            String::from_utf8_lossy(&input[..input.len().min(40)])
        );
    }
    // And 300 pseudo-random ones: mutations of a good request and plain noise, each followed
    // by the client's end of file.
    let good = b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: text/plain\r\n\r\n";
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for case in 0..300 {
        let input: Vec<u8> = if case % 2 == 0 {
            let mut v = good.to_vec();
            for _ in 0..=(next() % 6) {
                let at = (next() as usize) % v.len();
                v[at] = next() as u8;
            }
            v
        } else {
            (0..next() % 3000).map(|_| next() as u8).collect()
        };
        let mut s = TcpStream::connect(&addr).unwrap();
        let _ = s.write_all(&input);
        let _ = s.shutdown(std::net::Shutdown::Write);
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        let text = String::from_utf8_lossy(&out);
        let status = text.get(9..12).unwrap_or("");
        assert!(
            text.is_empty()
                || (text.starts_with("HTTP/1.") && (status == "200" || status.starts_with('4'))),
            "case {case}: {text}"
        );
    }
    scrape(&addr);
}

#[test]
fn the_catalog_is_served_on_loopback_and_not_elsewhere_unless_enabled() {
    let state = state_with(Duration::from_secs(5), Duration::from_secs(2), 64);
    let addr = state.pull_address().unwrap().to_string();
    let (status, _, body) = tsmon_tests::http("GET", &addr, "/metrics/catalog", &[], "").unwrap();
    assert_eq!(status, 200, "{body}");
    let exposure = tsmon::settings::CatalogExposure::Auto;
    assert!(!exposure.serves_on(&"0.0.0.0:9464".parse().unwrap()));
    state
        .apply_settings(Settings {
            pull_catalog: tsmon::settings::CatalogExposure::Off,
            ..state.settings()
        })
        .unwrap();
    let addr = state.pull_address().unwrap().to_string();
    let (status, _, body) = tsmon_tests::http("GET", &addr, "/metrics/catalog", &[], "").unwrap();
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("pull_catalog"), "{body}");
}

/// The `pull-edge` service, under an open-file limit when `nofile` is given.
struct Service {
    child: Child,
    pull: String,
    app: String,
}

impl Service {
    fn start(nofile: Option<u32>, extra_env: &[(&str, &str)]) -> Service {
        let port = tsmon_tests::free_port();
        let bin = env!("CARGO_BIN_EXE_pull-edge");
        let mut cmd = match nofile {
            Some(n) => {
                let mut c = Command::new("sh");
                c.args(["-c", &format!("ulimit -n {n} && exec \"$0\""), bin]);
                c
            }
            None => Command::new(bin),
        };
        cmd.env("TSMON_MONITOR", format!("pull:127.0.0.1:{port}"))
            .env("TSMON_REPORT_RUNTIME_STATS", "true")
            .env_remove("TSMON_SETTINGS_FILE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let app_port = line
            .trim()
            .strip_prefix("ready ")
            .expect("ready")
            .to_owned();
        Service {
            child,
            pull: format!("127.0.0.1:{port}"),
            app: format!("127.0.0.1:{app_port}"),
        }
    }

    fn stat_field(&self, index: usize) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        after
            .split_whitespace()
            .nth(index - 3)
            .unwrap()
            .parse()
            .unwrap()
    }

    /// User and system CPU time, in clock ticks.
    fn cpu_ticks(&self) -> u64 {
        self.stat_field(14) + self.stat_field(15)
    }

    fn rss_kb(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .unwrap()
            .parse()
            .unwrap()
    }

    /// The gauge of open pull connections, from a scrape.
    fn open_connections(&self) -> Option<f64> {
        let (_, _, body) = tsmon_tests::http("GET", &self.pull, "/metrics", &[], "").ok()?;
        body.lines()
            .find(|l| l.starts_with("tsmon_pull_connections{"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

#[cfg(target_os = "linux")]
#[test]
fn out_of_descriptors_the_endpoint_backs_off_and_the_service_recovers() {
    let svc = Service::start(Some(64), &[]);
    // Clients of the application use up the service's descriptors.
    let mut holders = Vec::new();
    for _ in 0..80 {
        if let Ok(s) = TcpStream::connect(&svc.app) {
            holders.push(s);
        }
    }
    poll_until(10, "the application holding its clients", || {
        let fds = std::fs::read_dir(format!("/proc/{}/fd", svc.child.id()))
            .ok()?
            .count();
        (fds >= 60).then_some(())
    });
    // Now the pull endpoint cannot accept: its pending connections must not make it spin.
    let pending: Vec<TcpStream> = (0..20)
        .filter_map(|_| TcpStream::connect(&svc.pull).ok())
        .collect();
    let ticks = svc.cpu_ticks();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let used = svc.cpu_ticks() - ticks;
    // 100 ticks a second: a spinning loop would burn about 300.
    assert!(
        used < 30,
        "the service burned {used} ticks in 3 s while out of descriptors"
    );
    // The clients leave: the application accepts again, and so does the endpoint.
    drop(pending);
    drop(holders);
    poll_until(20, "the application answering", || {
        let mut s = TcpStream::connect(&svc.app).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
        let mut b = [0u8; 3];
        s.read_exact(&mut b).ok()?;
        (&b == b"ok\n").then_some(())
    });
    poll_until(20, "the endpoint answering", || svc.open_connections());
}

#[cfg(target_os = "linux")]
#[test]
fn memory_after_a_burst_of_two_thousand_connections_returns_near_its_baseline() {
    let svc = Service::start(None, &[("TSMON_PULL_IDLE_TIMEOUT_SEC", "1")]);
    for _ in 0..3 {
        svc.open_connections().unwrap();
    }
    let baseline = svc.rss_kb();
    let burst: Vec<TcpStream> = (0..2000)
        .filter_map(|_| TcpStream::connect(&svc.pull).ok())
        .collect();
    assert_eq!(burst.len(), 2000);
    let during = svc.rss_kb();
    drop(burst);
    poll_until(20, "the burst's connections gone", || {
        (svc.open_connections()? <= 1.0).then_some(())
    });
    let after = svc.rss_kb();
    eprintln!("RSS: baseline {baseline} kB, during {during} kB, after {after} kB");
    assert!(
        after <= baseline * 2,
        "RSS {after} kB after the burst, {baseline} kB before"
    );
}

tsmon::metric! {
    /// Orders by customer: a store large enough to scrape in chunks.
    #[tsmon(max_series = 100000)]
    static ORDERS: Counter(customer: String) = "edges/orders";
}

/// A response read to its end: the status line and headers (lower-cased), and the body (a
/// chunked one decoded), with the sizes of its chunks.
fn get_whole(addr: &str) -> (String, Vec<u8>, Vec<usize>) {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    (&s).write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(s);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        head.push_str(&line.to_ascii_lowercase());
    }
    let mut body = Vec::new();
    let mut sizes = Vec::new();
    if head.contains("transfer-encoding: chunked") {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).unwrap();
            let n = usize::from_str_radix(size.trim(), 16).unwrap();
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk).unwrap();
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
            sizes.push(n);
        }
    } else {
        r.read_to_end(&mut body).unwrap();
    }
    (head, body, sizes)
}

/// A large scrape goes out a chunk at a time as the connection takes it (the endpoint holds
/// one chunk of the text, not all of it); a small one goes whole, with its length. Either way
/// the body is the State's exposition.
#[test]
fn a_large_scrape_is_streamed_in_chunks_and_a_small_one_sent_with_its_length() {
    let state = state_with(Duration::from_secs(30), Duration::from_secs(10), 16);
    let addr = state.pull_address().unwrap().to_string();
    let family = |text: &[u8]| -> Vec<String> {
        String::from_utf8_lossy(text)
            .lines()
            .filter(|l| l.contains("edges_orders"))
            .map(str::to_owned)
            .collect()
    };

    state.in_scope(|| ORDERS.inc("one"));
    let (head, body, sizes) = get_whole(&addr);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-length: "), "{head}");
    assert!(sizes.is_empty());
    assert_eq!(
        family(&body),
        family(state.encode(tsmon::exposition::Format::Text).as_bytes())
    );

    state.in_scope(|| (0..20_000).for_each(|i| ORDERS.inc(&format!("customer-{i:06}"))));
    let (head, body, sizes) = get_whole(&addr);
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    assert!(!head.contains("content-length"), "{head}");
    // Hyper may join the chunks it is given, never split one: each is at least the
    // endpoint's chunk but the last.
    assert!(sizes.len() > 5, "{} chunks", sizes.len());
    let (last, whole) = sizes.split_last().unwrap();
    assert!(whole.iter().all(|&n| n >= 64 * 1024), "{sizes:?}");
    assert!(*last > 0);
    let lines = family(&body);
    assert_eq!(lines.len(), 20_001 + 2, "every series once, and the header");
    assert_eq!(
        lines,
        family(state.encode(tsmon::exposition::Format::Text).as_bytes())
    );
}

fn with_auth(auth: &str) -> State {
    State::builder()
        .with_settings(Settings {
            monitor: MonitorSpec::parse("pull:127.0.0.1:0").unwrap(),
            pull_auth: tsmon::settings::PullAuth::parse(auth).unwrap(),
            report_runtime_stats: false,
            ..Settings::default()
        })
        .build()
        .unwrap()
}

fn status(addr: &str, path: &str, authorization: Option<&str>) -> (u16, String) {
    let headers: Vec<(&str, &str)> = authorization
        .map(|a| ("Authorization", a))
        .into_iter()
        .collect();
    let (status, head, _) = tsmon_tests::http("GET", addr, path, &headers, "").unwrap();
    (status, head)
}

#[test]
fn a_bearer_token_is_required_when_set_and_never_shown() {
    let state = with_auth("bearer:s3cret-token");
    let addr = state.pull_address().unwrap().to_string();
    let (code, head) = status(&addr, "/metrics", None);
    assert_eq!(code, 401);
    assert!(
        head.to_ascii_lowercase()
            .contains("www-authenticate: bearer"),
        "{head}"
    );
    assert_eq!(status(&addr, "/metrics", Some("Bearer wrong")).0, 401);
    assert_eq!(
        status(&addr, "/metrics/catalog", Some("Bearer wrong")).0,
        401
    );
    assert_eq!(
        status(&addr, "/metrics", Some("Bearer s3cret-token")).0,
        200
    );
    let snap = state.snapshot();
    let refused = snap.metric("tsmon/pull/unauthorized").unwrap().cells()[0]
        .value()
        .clone();
    assert!(
        matches!(refused, tsmon::store::Value::Int(3)),
        "{refused:?}"
    );
    let shown = format!("{} {:?}", state.health(), state.settings());
    assert!(!shown.contains("s3cret"), "{shown}");
}

#[test]
fn basic_auth_and_a_rotated_token_file() {
    let state = with_auth("basic:prom:pa55");
    let addr = state.pull_address().unwrap().to_string();
    // "prom:pa55" and "prom:wrong" in base64.
    assert_eq!(status(&addr, "/metrics", Some("Basic cHJvbTpwYTU1")).0, 200);
    assert_eq!(
        status(&addr, "/metrics", Some("Basic cHJvbTp3cm9uZw==")).0,
        401
    );

    let dir = tsmon_tests::Scratch::new("pull-auth");
    let file = dir.join("token");
    std::fs::write(&file, "first\n").unwrap();
    let state = with_auth(&format!("bearer_file:{}", file.display()));
    let addr = state.pull_address().unwrap().to_string();
    assert_eq!(status(&addr, "/metrics", Some("Bearer first")).0, 200);
    std::fs::write(&file, "second\n").unwrap();
    poll_until(10, "the rotated token", || {
        (status(&addr, "/metrics", Some("Bearer second")).0 == 200).then_some(())
    });
    assert_eq!(status(&addr, "/metrics", Some("Bearer first")).0, 401);
    // A credentials file that cannot be read refuses everything (failing closed).
    std::fs::remove_file(&file).unwrap();
    poll_until(10, "refusing without a file", || {
        (status(&addr, "/metrics", Some("Bearer second")).0 == 401).then_some(())
    });
    std::fs::remove_dir_all(&dir).unwrap();
}
