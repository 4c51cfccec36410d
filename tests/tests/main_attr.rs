//! `#[tsmon::main]` in real processes: the last increments reach the monitor when `main`
//! returns, and when the process gets SIGTERM or ctrl-c (SIGINT).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

struct Worker {
    child: Child,
    out: PathBuf,
}

fn spawn(bin: &str, n: u64, tag: &str) -> Worker {
    let dir = std::env::temp_dir().join(format!("tsmon-main-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("flushes.txt");
    let _ = std::fs::remove_file(&out);
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
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready", "the worker started");
    Worker { child, out }
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
