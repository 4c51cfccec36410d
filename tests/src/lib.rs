//! Shared helpers for the end-to-end tests in `tests/`.

use std::io::Write;
use std::process::{Command, Stdio};

pub mod browser;
pub mod tls;

/// A State of `target` with task number `task` that serves the pull endpoint on a free
/// loopback port, its settings changed by `tweak`, after its first flush (which gives it the
/// number).
///
/// # Panics
///
/// When the State cannot be built or its first flush fails.
pub fn pulled_state(
    target: tsmon::Target,
    task: i32,
    tweak: impl FnOnce(&mut tsmon::settings::Settings),
) -> tsmon::State {
    let mut settings = tsmon::settings::Settings {
        monitor: tsmon::settings::MonitorSpec::parse("pull:127.0.0.1:0").unwrap(),
        ..tsmon::settings::Settings::default()
    };
    tweak(&mut settings);
    let state = tsmon::State::builder()
        .with_target(target)
        .with_allocator(tsmon::tasknum::FixedAllocator::new(task))
        .with_settings(settings)
        .build()
        .unwrap();
    tsmon::runtime::block_on(state.flush()).unwrap();
    state
}

/// A Prometheus scrape config with one job per `(job name, State)`, scraping its pull endpoint.
///
/// # Panics
///
/// When a State has no pull endpoint.
#[must_use]
pub fn scrape_config(jobs: &[(&str, &tsmon::State)]) -> String {
    jobs.iter()
        .map(|(job, state)| {
            format!(
                "  - job_name: {job}\n    static_configs:\n      - targets: ['{}']\n",
                state.pull_address().unwrap()
            )
        })
        .collect()
}

/// Finds a server or tool binary on the PATH. Without it the test is skipped loudly, unless the
/// `CI` environment variable is set: then a missing binary is a failure.
///
/// # Panics
///
/// When the binary is missing and `CI` is set.
#[must_use]
pub fn require_binary(name: &str) -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "`{name}` is not on the PATH and CI is set: .ci/run must install it"
        );
        eprintln!("SKIPPED: `{name}` is not on the PATH; install it to run this test");
    }
    found
}

/// Runs `program args` with `input` on standard input; returns (success, stdout + stderr).
///
/// # Panics
///
/// When the program cannot be started.
#[must_use]
pub fn run_with_stdin(program: &std::path::Path, args: &[&str], input: &[u8]) -> (bool, String) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the program");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait for the program");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// A monitor whose every send takes a while: it appends `begin` to a file when a send starts,
/// and `sent <work count>` when it ends (for the `worker-slow` binary).
#[derive(Debug)]
pub struct SlowFileMonitor {
    path: std::path::PathBuf,
    delay: std::time::Duration,
}

impl SlowFileMonitor {
    /// Appends to `path`; each send takes `delay`.
    #[must_use]
    pub fn new(path: impl Into<std::path::PathBuf>, delay: std::time::Duration) -> Self {
        SlowFileMonitor {
            path: path.into(),
            delay,
        }
    }

    fn append(&self, line: &str) -> Result<(), tsmon::Error> {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .and_then(|mut f| writeln!(f, "{line}"))
            .map_err(|e| {
                tsmon::Error::Monitor(tsmon::error::Cause::with_source("slow file monitor", e))
            })
    }
}

impl tsmon::monitor::Monitor for SlowFileMonitor {
    fn send<'a>(
        &'a self,
        chunk: &'a tsmon::store::Snapshot,
    ) -> tsmon::monitor::BoxFuture<'a, Result<(), tsmon::Error>> {
        Box::pin(async move {
            self.append("begin")?;
            tokio::time::sleep(self.delay).await;
            let work = chunk
                .metric("test/worker/work")
                .and_then(|m| m.cells().first())
                .map_or(-1, |c| match c.value() {
                    tsmon::store::Value::Int(n) => *n,
                    _ => -2,
                });
            self.append(&format!("sent {work}"))
        })
    }
}

/// The body of the `worker-*` binaries: counts `n` units of work, says `ready` on stdout, then
/// waits until stdin closes.
pub mod worker {
    use std::io::{BufRead, Write};

    tsmon::metric! {
        /// Units of work done by a test worker process.
        pub static WORK: Counter = "test/worker/work";
    }

    /// Counts, announces, waits.
    ///
    /// # Panics
    ///
    /// When stdout cannot be written.
    pub fn run() {
        let n: u64 = std::env::args()
            .nth(1)
            .and_then(|a| a.parse().ok())
            .unwrap_or(1000);
        for _ in 0..n {
            WORK.inc(());
        }
        let mut out = std::io::stdout().lock();
        writeln!(out, "ready").expect("stdout");
        out.flush().expect("stdout");
        drop(out);
        // Until end of file; a signal that interrupts the read is not the end.
        let mut stdin = std::io::stdin().lock();
        let mut line = String::new();
        loop {
            line.clear();
            match stdin.read_line(&mut line) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
    }
}

/// A free TCP port on loopback (bound, then released).
///
/// # Panics
///
/// When no port can be bound.
#[must_use]
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A blocking HTTP/1.0 request on loopback: (status, body). Test plumbing only.
///
/// # Errors
///
/// When the server cannot be reached or answers garbage.
pub fn http(
    method: &str,
    addr: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<(u16, String, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let mut req = format!(
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes())?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    parse_response(&raw)
}

/// An HTTP/1 answer split into (status, head, body).
///
/// # Errors
///
/// When it has no status line.
pub fn parse_response(raw: &str) -> std::io::Result<(u16, String, String)> {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad response: {head}")))?;
    Ok((status, head.to_owned(), body.to_owned()))
}

/// Polls `f` until it returns `Some`, or panics after `secs` seconds.
///
/// # Panics
///
/// At the deadline.
pub fn poll_until<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::yield_now();
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A test's scratch folder, `tsmon-<name>-<pid>` in the temporary directory, removed with
/// everything in it when the last [`Scratch`] of that name is dropped. A test run starts
/// servers by the dozen, each with its data in such a folder (PostgreSQL's is 39 MB): left
/// behind, they fill the disk.
#[derive(Debug)]
pub struct Scratch {
    path: std::path::PathBuf,
}

/// How many [`Scratch`]es hold each folder: a server started again on its data holds it too,
/// and may outlive the first one's handle.
static SCRATCH_HOLDERS: std::sync::Mutex<Vec<(std::path::PathBuf, usize)>> =
    std::sync::Mutex::new(Vec::new());

impl Scratch {
    fn hold(name: &str, fresh: bool) -> Self {
        let path = std::env::temp_dir().join(format!("tsmon-{name}-{}", std::process::id()));
        let mut holders = SCRATCH_HOLDERS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if fresh {
            let _ = std::fs::remove_dir_all(&path);
        }
        std::fs::create_dir_all(&path).expect("scratch folder");
        match holders.iter_mut().find(|(p, _)| *p == path) {
            Some((_, n)) => *n += 1,
            None => holders.push((path.clone(), 1)),
        }
        Self { path }
    }

    /// A new, empty folder for `name` (emptied if it was there).
    ///
    /// # Panics
    ///
    /// When the folder cannot be made.
    #[must_use]
    pub fn new(name: &str) -> Self {
        Self::hold(name, true)
    }

    /// The folder of `name` as an earlier [`Scratch::new`] left it (made if missing), to start
    /// a server again on its data.
    ///
    /// # Panics
    ///
    /// When the folder cannot be made.
    #[must_use]
    pub fn reuse(name: &str) -> Self {
        Self::hold(name, false)
    }

    /// The folder.
    #[must_use]
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

impl std::ops::Deref for Scratch {
    type Target = std::path::Path;

    fn deref(&self) -> &std::path::Path {
        &self.path
    }
}

impl AsRef<std::path::Path> for Scratch {
    fn as_ref(&self) -> &std::path::Path {
        &self.path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let mut holders = SCRATCH_HOLDERS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(i) = holders.iter().position(|(p, _)| *p == self.path) {
            holders[i].1 -= 1;
            if holders[i].1 == 0 {
                holders.swap_remove(i);
                let _ = std::fs::remove_dir_all(&self.path);
            }
        }
    }
}

/// A server process started by a test, killed when dropped, and then its scratch folder
/// removed if it owns one.
#[derive(Debug)]
pub struct Server {
    child: std::process::Child,
    /// `127.0.0.1:port`.
    pub addr: String,
    scratch: Option<Scratch>,
}

impl Server {
    fn new(child: std::process::Child, addr: String, scratch: Option<Scratch>) -> Server {
        Server {
            child,
            addr,
            scratch,
        }
    }

    /// Its process id.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The scratch folder it keeps its data in, if it has one.
    #[must_use]
    pub fn scratch(&self) -> Option<&std::path::Path> {
        self.scratch.as_ref().map(Scratch::path)
    }

    /// Stops it now.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends it `signal` (a name such as `QUIT`) and waits until it has exited by itself, so
    /// whatever it does on that signal is done (PostgreSQL takes its backends down on `QUIT`);
    /// killed after 10 s.
    pub fn stop_with(&mut self, signal: &str) {
        let _ = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        self.kill();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        // After the kill, so the server does not write into a folder being removed.
        drop(self.scratch.take());
    }
}

/// Polls a Prometheus-family server's `/-/ready` until it answers 200.
fn wait_ready(server: &Server, secs: u64, what: &str) {
    poll_until(secs, &format!("{what} to be ready"), || {
        http("GET", &server.addr, "/-/ready", &[], "")
            .ok()
            .filter(|(status, ..)| *status == 200)
    });
}

/// Starts `prometheus-pushgateway` on a free loopback port and waits until it is ready; `None`
/// (skipped loudly) when the binary is missing and `CI` is not set.
///
/// # Panics
///
/// When it does not start, or the binary is missing under CI.
#[must_use]
pub fn start_pushgateway() -> Option<Server> {
    start_pushgateway_on(free_port())
}

/// As [`start_pushgateway`], on a given port (to restart one where it was).
///
/// # Panics
///
/// As [`start_pushgateway`].
#[must_use]
pub fn start_pushgateway_on(port: u16) -> Option<Server> {
    let server = spawn_pushgateway(port, &[])?;
    wait_ready(&server, 30, "the Pushgateway");
    Some(server)
}

fn spawn_pushgateway(port: u16, extra: &[String]) -> Option<Server> {
    let bin = require_binary("prometheus-pushgateway")?;
    let addr = format!("127.0.0.1:{port}");
    let child = Command::new(bin)
        .arg(format!("--web.listen-address={addr}"))
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus-pushgateway");
    Some(Server {
        child,
        addr,
        scratch: None,
    })
}

/// Polls `/-/ready` over HTTPS (trusting the PKI's CA, with basic auth) until it answers 200.
fn wait_ready_tls(server: &Server, secs: u64, what: &str, auth: tls::HttpsAuth<'_>) {
    poll_until(secs, &format!("{what} to be ready over TLS"), || {
        tls::https("GET", &server.addr, "/-/ready", auth, "")
            .ok()
            .filter(|(status, ..)| *status == 200)
    });
}

/// Starts `prometheus-pushgateway` with a web configuration (TLS, basic auth) on a free
/// loopback port and waits until it answers over HTTPS with `auth`; `None` as for
/// [`start_pushgateway`].
///
/// # Panics
///
/// As [`start_pushgateway`].
#[must_use]
pub fn start_pushgateway_tls(
    web_config: &std::path::Path,
    auth: tls::HttpsAuth<'_>,
) -> Option<Server> {
    let server = spawn_pushgateway(
        free_port(),
        &[format!("--web.config.file={}", web_config.display())],
    )?;
    wait_ready_tls(&server, 30, "the Pushgateway", auth);
    Some(server)
}

/// Percent-encodes a query-string value.
#[must_use]
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Starts `prometheus` (Debian's package) on a free loopback port with its remote-write
/// receiver on and `scrape_configs` as given (YAML, indented two spaces), in a temporary
/// folder; `None` (skipped loudly) when the binary is missing and `CI` is not set.
///
/// # Panics
///
/// When it does not start, or the binary is missing under CI.
#[must_use]
pub fn start_prometheus(tag: &str, scrape_configs: &str) -> Option<(Server, std::path::PathBuf)> {
    start_prometheus_on(tag, scrape_configs, free_port(), true)
}

/// As [`start_prometheus`], with extra command-line flags (`--enable-feature=…`).
///
/// # Panics
///
/// As [`start_prometheus`].
#[must_use]
pub fn start_prometheus_with(
    tag: &str,
    scrape_configs: &str,
    flags: &[&str],
) -> Option<(Server, std::path::PathBuf)> {
    let extra: Vec<String> = flags.iter().map(|f| (*f).to_owned()).collect();
    let (server, dir) = spawn_prometheus(tag, scrape_configs, free_port(), true, &extra)?;
    wait_ready(&server, 60, "Prometheus");
    Some((server, dir))
}

/// As [`start_prometheus`], on a given port, keeping the data of an earlier run of the same
/// `tag` unless `fresh` (to restart one where it was).
///
/// # Panics
///
/// As [`start_prometheus`].
#[must_use]
pub fn start_prometheus_on(
    tag: &str,
    scrape_configs: &str,
    port: u16,
    fresh: bool,
) -> Option<(Server, std::path::PathBuf)> {
    let (server, dir) = spawn_prometheus(tag, scrape_configs, port, fresh, &[])?;
    wait_ready(&server, 60, "Prometheus");
    Some((server, dir))
}

/// As [`start_prometheus`], with a web configuration (TLS, basic auth): ready once it answers
/// over HTTPS with `auth`.
///
/// # Panics
///
/// As [`start_prometheus`].
#[must_use]
pub fn start_prometheus_tls(
    tag: &str,
    scrape_configs: &str,
    web_config: &std::path::Path,
    auth: tls::HttpsAuth<'_>,
) -> Option<(Server, std::path::PathBuf)> {
    let (server, dir) = spawn_prometheus(
        tag,
        scrape_configs,
        free_port(),
        true,
        &[format!("--web.config.file={}", web_config.display())],
    )?;
    wait_ready_tls(&server, 60, "Prometheus", auth);
    Some((server, dir))
}

fn spawn_prometheus(
    tag: &str,
    scrape_configs: &str,
    port: u16,
    fresh: bool,
    extra: &[String],
) -> Option<(Server, std::path::PathBuf)> {
    let bin = require_binary("prometheus")?;
    let scratch = if fresh {
        Scratch::new(&format!("prom-{tag}"))
    } else {
        Scratch::reuse(&format!("prom-{tag}"))
    };
    let dir = scratch.path().to_owned();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n{scrape_configs}\n"),
    )
    .expect("config");
    let addr = format!("127.0.0.1:{port}");
    let child = Command::new(bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address={addr}"))
        .arg("--web.enable-remote-write-receiver")
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    let scratch = Some(scratch);
    Some((
        Server {
            child,
            addr,
            scratch,
        },
        dir,
    ))
}

/// Starts VictoriaMetrics (`victoria-metrics`, Debian's package) on a free loopback port with
/// its data in a temporary folder, and waits until it is healthy; `None` (skipped loudly) when
/// the binary is missing and `CI` is not set. Queries see samples as soon as they land
/// (`-search.latencyOffset=0s`; its default hides the last 30 s).
///
/// # Panics
///
/// When it does not start, or the binary is missing under CI.
#[must_use]
pub fn start_victoria_metrics(tag: &str) -> Option<(Server, std::path::PathBuf)> {
    let bin = require_binary("victoria-metrics")?;
    let scratch = Scratch::new(&format!("vm-{tag}"));
    let dir = scratch.path().to_owned();
    let addr = format!("127.0.0.1:{}", free_port());
    let child = Command::new(bin)
        .arg(format!("-storageDataPath={}", dir.join("data").display()))
        .arg(format!("-httpListenAddr={addr}"))
        .arg("-search.latencyOffset=0s")
        .arg("-retentionPeriod=100y")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start victoria-metrics");
    let server = Server {
        child,
        addr,
        scratch: Some(scratch),
    };
    poll_until(60, "VictoriaMetrics to be healthy", || {
        http("GET", &server.addr, "/health", &[], "")
            .ok()
            .filter(|(status, ..)| *status == 200)
    });
    Some((server, dir))
}

/// An instant query over HTTPS with `auth`: each result's labels and value.
///
/// # Panics
///
/// When Prometheus does not answer a valid query.
#[must_use]
pub fn prom_query_tls(
    addr: &str,
    query: &str,
    auth: tls::HttpsAuth<'_>,
) -> Vec<(serde_json::Value, f64)> {
    let (status, _, body) = tls::https(
        "GET",
        addr,
        &format!("/api/v1/query?query={}", url_encode(query)),
        auth,
        "",
    )
    .expect("query");
    assert_eq!(status, 200, "{query}: {body}");
    query_results(&body)
}

fn query_results(body: &str) -> Vec<(serde_json::Value, f64)> {
    let json: serde_json::Value = serde_json::from_str(body).expect("json");
    json["data"]["result"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .map(|r| {
                    let v = r["value"][1]
                        .as_str()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(f64::NAN);
                    (r["metric"].clone(), v)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// An instant query: each result's labels (as a JSON object) and value.
///
/// # Panics
///
/// When Prometheus does not answer a valid query.
#[must_use]
pub fn prom_query(addr: &str, query: &str) -> Vec<(serde_json::Value, f64)> {
    let (status, _, body) = http(
        "GET",
        addr,
        &format!("/api/v1/query?query={}", url_encode(query)),
        &[],
        "",
    )
    .expect("query");
    assert_eq!(status, 200, "{query}: {body}");
    query_results(&body)
}

/// Starts `redis-server` on `port` (a free one when `None`) on loopback, without persistence,
/// and waits until it answers; `None` (skipped loudly) when the binary is missing and `CI` is
/// not set.
///
/// # Panics
///
/// When it does not start, or the binary is missing under CI.
#[must_use]
pub fn start_redis(port: Option<u16>) -> Option<Server> {
    start_redis_with(port, &[])
}

/// As [`start_redis`], with extra server arguments (`--requirepass`, …).
///
/// # Panics
///
/// As [`start_redis`].
#[must_use]
pub fn start_redis_with(port: Option<u16>, extra: &[&str]) -> Option<Server> {
    use std::io::{Read, Write};
    let bin = require_binary("redis-server")?;
    let port = port.unwrap_or_else(free_port);
    let addr = format!("127.0.0.1:{port}");
    let child = Command::new(bin)
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start redis-server");
    let server = Server {
        child,
        addr,
        scratch: None,
    };
    poll_until(30, "redis-server to answer", || {
        let mut s = std::net::TcpStream::connect(&server.addr).ok()?;
        s.write_all(b"PING\r\n").ok()?;
        let mut buf = [0u8; 7];
        s.read_exact(&mut buf).ok()?;
        // "+PONG", or "-NOAUTH" from a server that wants a password: up either way.
        (&buf == b"+PONG\r\n" || buf.starts_with(b"-NOAUTH")).then_some(())
    });
    Some(server)
}

/// A PostgreSQL binary: on the PATH, else in Debian's `/usr/lib/postgresql/<version>/bin`.
fn pg_binary(name: &str) -> Option<std::path::PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        let mut versions: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin").join(name))
            .filter(|p| p.is_file())
            .collect();
        versions.sort();
        versions.pop()
    })
}

/// A command run as the `postgres` user when this process is root (PostgreSQL refuses to run
/// as root); `setpriv` execs, so the child is the server itself.
fn as_postgres(bin: &std::path::Path) -> Command {
    let root = std::env::var("USER").is_ok_and(|u| u == "root")
        || Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if root {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=postgres",
            "--regid=postgres",
            "--clear-groups",
            "--",
        ])
        .arg(bin);
        c
    } else {
        Command::new(bin)
    }
}

/// Starts a PostgreSQL server of its own: `initdb` into a temporary folder (user `tsmon`, trust
/// authentication on loopback) and `postgres` on a free loopback port; `None` (skipped loudly)
/// when the binaries are missing and `CI` is not set. Returns the server and a connection
/// string for the `postgres` database.
///
/// # Panics
///
/// When it does not start, or the binaries are missing under CI.
#[must_use]
pub fn start_postgres(tag: &str) -> Option<(Server, String)> {
    let (Some(initdb), Some(postgres)) = (pg_binary("initdb"), pg_binary("postgres")) else {
        let _ = require_binary("initdb");
        return None;
    };
    let dir = Scratch::new(&format!("pg-{tag}"));
    let _ = Command::new("chown")
        .args(["-R", "postgres:postgres"])
        .arg(dir.path())
        .status();
    let data = dir.join("data");
    let status = as_postgres(&initdb)
        .arg("-D")
        .arg(&data)
        .args(["-U", "tsmon", "-A", "trust", "--no-sync"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run initdb");
    assert!(status.success(), "initdb failed");
    let server = run_postgres(&postgres, dir, free_port());
    let port = server
        .addr
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_owned();
    let config = format!("host=127.0.0.1 port={port} user=tsmon dbname=postgres");
    Some((server, config))
}

/// Starts the server of [`start_postgres`]`(tag)` again, on the same data and port, after it
/// was stopped (and while its [`Server`] is kept, which holds the data).
///
/// # Panics
///
/// When it does not start.
#[must_use]
pub fn restart_postgres(tag: &str, port: u16) -> Server {
    let postgres = pg_binary("postgres").expect("postgres");
    run_postgres(&postgres, Scratch::reuse(&format!("pg-{tag}")), port)
}

fn run_postgres(postgres: &std::path::Path, dir: Scratch, port: u16) -> Server {
    let data = dir.join("data");
    let child = as_postgres(postgres)
        .arg("-D")
        .arg(&data)
        .args([
            "-p",
            &port.to_string(),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
        ])
        .arg("-k")
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start postgres");
    let addr = format!("127.0.0.1:{port}");
    let server = Server {
        child,
        addr,
        scratch: Some(dir),
    };
    poll_until(60, "PostgreSQL to accept connections", || {
        // The startup message of the protocol, with a "database system is starting up" error
        // until it is ready: wait for an authentication answer ('R').
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&server.addr).ok()?;
        let params = b"user\0tsmon\0database\0postgres\0\0";
        let len = u32::try_from(8 + params.len()).ok()?;
        let mut msg = len.to_be_bytes().to_vec();
        msg.extend_from_slice(&196_608u32.to_be_bytes());
        msg.extend_from_slice(params);
        s.write_all(&msg).ok()?;
        let mut tag = [0u8; 1];
        s.read_exact(&mut tag).ok()?;
        (tag[0] == b'R').then_some(())
    });
    server
}

/// The numbers `n` new tasks (`new-0`, `new-1`, …) get, asking one after the other.
///
/// # Panics
///
/// When the allocator fails.
pub async fn new_tasks_numbers(
    alloc: &dyn tsmon::tasknum::TaskNumAllocator,
    target: &tsmon::Target,
    n: usize,
) -> Vec<i32> {
    let mut got = Vec::with_capacity(n);
    for i in 0..n {
        got.push(
            alloc
                .notify_task_is_alive(target, &format!("new-{i}"))
                .await
                .unwrap(),
        );
    }
    got
}

/// Starts `n` tasks at once, task `i` heartbeating as `instance-i` through allocator
/// `i % allocators.len()`, and gives back the numbers they got, sorted.
///
/// # Panics
///
/// When an allocator fails or a task panics.
pub async fn race_for_numbers<A: tsmon::tasknum::TaskNumAllocator>(
    allocators: &[std::sync::Arc<A>],
    target: &tsmon::Target,
    n: usize,
) -> Vec<i32> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let a = allocators[i % allocators.len()].clone();
            let target = target.clone();
            tokio::spawn(async move {
                a.notify_task_is_alive(&target, &format!("instance-{i}"))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut nums = Vec::with_capacity(n);
    for t in tasks {
        nums.push(t.await.unwrap());
    }
    nums.sort_unstable();
    nums
}

/// The allocator of the `fleet-worker` binary: Redis at `FLEET_REDIS` (`redis://…`), expiry
/// `FLEET_EXPIRY_MS`.
///
/// # Panics
///
/// When the variables are missing or Redis cannot be reached (the fleet test sets them).
#[must_use]
pub fn fleet_allocator() -> tsmon::tasknum::RedisAllocator {
    let url = std::env::var("FLEET_REDIS").expect("FLEET_REDIS");
    let expiry: u64 = std::env::var("FLEET_EXPIRY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    tsmon::tasknum::RedisAllocator::connect_blocking(&url)
        .expect("Redis")
        .with_expiry(std::time::Duration::from_millis(expiry))
}

/// The integer value of one series of `metric` in a fresh snapshot of `state` (0 when the
/// series does not exist yet or is not an integer): for reading tsmon's self-metrics.
#[must_use]
pub fn int_value(
    state: &tsmon::State,
    metric: &str,
    values: &[tsmon::field::FieldValue<'_>],
) -> i64 {
    match state
        .snapshot()
        .metric(metric)
        .and_then(|m| m.find(values))
        .map(|c| c.value().clone())
    {
        Some(tsmon::store::Value::Int(n)) => n,
        _ => 0,
    }
}

/// This process's resident memory in bytes (0 off Linux).
#[cfg(target_os = "linux")]
#[must_use]
pub fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// This process's resident memory in bytes (0 off Linux).
#[cfg(not(target_os = "linux"))]
#[must_use]
pub fn rss() -> u64 {
    0
}

#[cfg(test)]
mod tests {
    use super::Scratch;

    #[test]
    fn a_scratch_folder_goes_with_its_last_holder() {
        let first = Scratch::new("scratch-unit");
        let path = first.path().to_owned();
        std::fs::write(first.join("data"), "kept").unwrap();
        let again = Scratch::reuse("scratch-unit");
        drop(first);
        assert_eq!(
            std::fs::read_to_string(again.join("data")).unwrap(),
            "kept",
            "a server started again on the data still holds it"
        );
        drop(again);
        assert!(!path.exists(), "removed with its last holder");
        let fresh = Scratch::new("scratch-unit");
        assert_eq!(std::fs::read_dir(fresh.path()).unwrap().count(), 0);
    }
}
