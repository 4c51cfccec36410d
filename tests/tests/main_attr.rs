//! `#[tsmon::main]` in real processes: the last increments reach the monitor when `main`
//! returns, and when the process gets SIGTERM or ctrl-c (SIGINT).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use tsmon_tests::Scratch;

struct Worker {
    child: Child,
    out: PathBuf,
    _dir: Scratch,
}

/// A path in a folder of this test run's own, with no file there yet, and the folder, removed
/// when dropped.
fn fresh_file(tag: &str, name: &str) -> (Scratch, PathBuf) {
    let dir = Scratch::new(tag);
    let out = dir.join(name);
    (dir, out)
}

/// Waits for the worker's `ready` line.
fn wait_ready(child: &mut Child) {
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready", "the worker started");
}

fn spawn(bin: &str, n: u64, tag: &str) -> Worker {
    let (dir, out) = fresh_file(&format!("main-{tag}"), "flushes.txt");
    let mut child = Command::new(bin)
        .arg(n.to_string())
        .env("TSMON_MONITOR", format!("debug:{}", out.display()))
        // One flush at start, then none for an hour: what the file holds at the end came
        // from the final flush.
        .env("TSMON_FLUSH_INTERVAL_SEC", "3600")
        .env_remove("TSMON_SETTINGS_FILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    wait_ready(&mut child);
    Worker {
        child,
        out,
        _dir: dir,
    }
}

/// The value of the worker's counter in the last flush written to the file.
fn last_flushed(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("test/worker/work "))
        .and_then(|v| v.trim().parse().ok())
}

fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn sigterm_flushes_the_last_increments_then_exits_143() {
    let mut w = spawn(env!("CARGO_BIN_EXE_worker-async"), 1234, "term");
    signal(&w.child, "-TERM");
    // `wait` closes stdin, which would let `main` return: keep it open until the exit.
    let stdin = w.child.stdin.take();
    let status = w.child.wait().unwrap();
    drop(stdin);
    assert_eq!(status.code(), Some(143), "{status}");
    assert_eq!(last_flushed(&w.out), Some(1234));
}

#[test]
fn ctrl_c_flushes_then_exits_130() {
    let mut w = spawn(env!("CARGO_BIN_EXE_worker-sync"), 77, "int");
    signal(&w.child, "-INT");
    // `wait` closes stdin, which would let `main` return: keep it open until the exit.
    let stdin = w.child.stdin.take();
    let status = w.child.wait().unwrap();
    drop(stdin);
    assert_eq!(status.code(), Some(130), "{status}");
    assert_eq!(last_flushed(&w.out), Some(77));
}

#[test]
fn returning_from_main_flushes_in_every_form() {
    for (bin, tag) in [
        (env!("CARGO_BIN_EXE_worker-async"), "ret-async"),
        (env!("CARGO_BIN_EXE_worker-sync"), "ret-sync"),
        (env!("CARGO_BIN_EXE_worker-tokio-below"), "ret-below"),
        (env!("CARGO_BIN_EXE_worker-tokio-above"), "ret-above"),
    ] {
        let mut w = spawn(bin, 500, tag);
        drop(w.child.stdin.take()); // main returns
        let status = w.child.wait().unwrap();
        assert!(status.success(), "{bin}: {status}");
        assert_eq!(last_flushed(&w.out), Some(500), "{bin}");
    }
}

/// A worker whose every send takes 1.5 s, stopped while its first flush is sending.
struct SlowWorker {
    child: Child,
    out: PathBuf,
    _dir: Scratch,
}

impl SlowWorker {
    fn start(tag: &str, n: u64) -> Self {
        let (dir, out) = fresh_file(&format!("slow-{tag}"), "sends.txt");
        let mut child = Command::new(env!("CARGO_BIN_EXE_worker-slow"))
            .arg(n.to_string())
            .env("WORKER_OUT", &out)
            .env("TSMON_FLUSH_INTERVAL_SEC", "3600")
            .env("TSMON_FLUSH_TIMEOUT_SEC", "5")
            // On, so the flush at start always has something to send (the runtime stats),
            // however it races with the worker's first writes.
            .env("TSMON_REPORT_RUNTIME_STATS", "true")
            .env_remove("TSMON_SETTINGS_FILE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        wait_ready(&mut child);
        let w = SlowWorker {
            child,
            out,
            _dir: dir,
        };
        // The flush at start is sending now.
        tsmon_tests::poll_until(10, "the first send", || {
            w.lines().iter().any(|l| l == "begin").then_some(())
        });
        w
    }

    fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The sends that finished, in order.
    fn sent(&self) -> Vec<String> {
        self.lines()
            .into_iter()
            .filter(|l| l.starts_with("sent "))
            .collect()
    }
}

#[test]
fn sigterm_during_a_slow_flush_waits_for_it_then_flushes_the_rest() {
    let mut w = SlowWorker::start("term", 321);
    signal(&w.child, "-TERM");
    let stdin = w.child.stdin.take();
    let status = w.child.wait().unwrap();
    drop(stdin);
    assert_eq!(status.code(), Some(143), "{status}");
    let sent = w.sent();
    assert_eq!(
        sent.len(),
        2,
        "the flush under way finished, then a final one: {:?}",
        w.lines()
    );
    assert_eq!(sent[1], "sent 321");
}

#[test]
fn main_returning_during_a_slow_flush_waits_for_it_then_flushes_the_rest() {
    let mut w = SlowWorker::start("return", 55);
    drop(w.child.stdin.take()); // main returns
    let status = w.child.wait().unwrap();
    assert!(status.success(), "{status}");
    let sent = w.sent();
    assert_eq!(sent.len(), 2, "{:?}", w.lines());
    assert_eq!(sent[1], "sent 55");
}

#[test]
fn without_a_subscriber_each_refused_variable_is_one_stderr_line_and_the_rest_applies() {
    let port = tsmon_tests::free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_worker-async"))
        .arg("12")
        .env("TSMON_NUM_FLUSH_WORKERS", "0")
        .env("TSMON_FLUSH_INTERVALL_SEC", "3")
        .env("TSMON_MONITOR", format!("pull:127.0.0.1:{port}"))
        .env("TSMON_FLUSH_INTERVAL_SEC", "1")
        .env_remove("TSMON_SETTINGS_FILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_ready(&mut child);
    // The valid TSMON_MONITOR applies: the endpoint serves the worker's count.
    let addr = format!("127.0.0.1:{port}");
    let (status, _, body) = tsmon_tests::http("GET", &addr, "/metrics", &[], "").unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("test_worker_work_total{"), "{body}");
    // A few flushes at the 1 s interval (no timeout refused for it), which must not add lines.
    tsmon_tests::poll_until(20, "three flushes", || {
        let (_, _, body) = tsmon_tests::http("GET", &addr, "/metrics", &[], "").ok()?;
        let ok = body.lines().find(|l| {
            l.starts_with("tsmon_flush_flushes_total{") && l.contains("outcome=\"ok\"")
        })?;
        let n: f64 = ok.rsplit(' ').next()?.parse().ok()?;
        (n >= 3.0).then_some(())
    });
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        2,
        "one line per refused variable, nothing else: {stderr}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("TSMON_NUM_FLUSH_WORKERS") && l.contains("between 1 and 64")),
        "{stderr}"
    );
    assert!(
        lines.iter().any(|l| l.contains("TSMON_FLUSH_INTERVALL_SEC")
            && l.contains("did you mean TSMON_FLUSH_INTERVAL_SEC")),
        "{stderr}"
    );
}

#[test]
fn a_remote_write_outage_is_one_stderr_line_not_one_per_flush() {
    use std::io::{BufRead, BufReader, Read, Write};
    // A receiver that answers every request 503 and counts them.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut len = 0usize;
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                line.clear();
            }
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let _ = conn.write_all(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\nConnection: close\r\n\r\nlater",
            );
        }
    });
    let mut child = Command::new(env!("CARGO_BIN_EXE_worker-async"))
        .arg("12")
        .env(
            "TSMON_MONITOR",
            format!("remote_write:http://{addr}/api/v1/write"),
        )
        .env("TSMON_FLUSH_INTERVAL_SEC", "1")
        .env_remove("TSMON_SETTINGS_FILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_ready(&mut child);
    // Four failing flushes at least (three attempts each), each with more queued than the last.
    tsmon_tests::poll_until(30, "four failing flushes", || {
        (seen.load(std::sync::atomic::Ordering::Relaxed) >= 12).then_some(())
    });
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let failing = stderr
        .lines()
        .filter(|l| l.contains("flushes are failing"))
        .count();
    assert_eq!(failing, 1, "one line for the whole outage: {stderr}");
}

/// `TSMON_PRINT_CATALOG`: a binary with `#[tsmon::main]` prints its catalog and exits before
/// `main`'s body runs (no flush, no `ready`), so teams generate docs and alert rules from it.
#[test]
fn the_catalog_is_printed_as_markdown_or_json_and_main_does_not_run() {
    let run = |value: &str| {
        let (_dir, out) = fresh_file(&format!("catalog-{value}"), "flushes.txt");
        let output = Command::new(env!("CARGO_BIN_EXE_worker-sync"))
            .arg("5")
            .env("TSMON_PRINT_CATALOG", value)
            .env("TSMON_MONITOR", format!("debug:{}", out.display()))
            .env_remove("TSMON_SETTINGS_FILE")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(!out.exists(), "{value}: a flush happened");
        (
            output.status.code(),
            String::from_utf8(output.stdout).unwrap(),
            String::from_utf8(output.stderr).unwrap(),
        )
    };
    let (code, md, err) = run("markdown");
    assert_eq!(code, Some(0), "{err}");
    assert!(md.starts_with("| metric | Prometheus name |"), "{md}");
    assert!(!md.contains("ready"), "main ran: {md}");
    for row in [
        "| `test/worker/work` | `test_worker_work_total` | Counter |",
        "| `tsmon/store/overflow_writes` |",
    ] {
        assert!(md.contains(row), "no row {row} in\n{md}");
    }
    let (code, json, err) = run("json");
    assert_eq!(code, Some(0), "{err}");
    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    let names: Vec<&str> = parsed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert!(names.contains(&"test/worker/work"), "{names:?}");
    // The same metrics either way.
    assert_eq!(md.lines().count() - 2, names.len());
    let (code, out, err) = run("yaml");
    assert_eq!(code, Some(2));
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("TSMON_PRINT_CATALOG takes `markdown` or `json`, not `yaml`"),
        "{err}"
    );
}
