//! A real headless Chromium, driven through ChromeDriver's WebDriver protocol (JSON over HTTP on
//! loopback): enough of it to load a page, type, click, run a script, read the console and take
//! a screenshot.

use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::{Scratch, Server, free_port, parse_response, poll_until, require_binary};

/// A Chromium session: ChromeDriver, and the browser it started (closed when dropped).
#[derive(Debug)]
pub struct Browser {
    driver: Server,
    session: String,
    _profile: Scratch,
}

/// The WebDriver key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Browser {
    /// Starts ChromeDriver on a free loopback port and a headless Chromium of `width`×`height`
    /// pixels; `None` (skipped loudly) when `chromedriver` or `chromium` is missing and `CI`
    /// is not set.
    ///
    /// # Panics
    ///
    /// When they do not start, or a binary is missing under CI.
    #[must_use]
    pub fn start(width: u32, height: u32) -> Option<Browser> {
        let driver_bin = require_binary("chromedriver")?;
        let chromium = require_binary("chromium")?;
        let port = free_port();
        let child = Command::new(driver_bin)
            .args([format!("--port={port}"), "--allowed-ips=127.0.0.1".into()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let driver = Server::new(child, format!("127.0.0.1:{port}"), None);
        poll_until(30, "chromedriver to be ready", || {
            let (status, _, body) = http11("GET", &driver.addr, "/status", "").ok()?;
            let v: Value = serde_json::from_str(&body).ok()?;
            (status == 200 && v["value"]["ready"] == true).then_some(())
        });
        let profile = Scratch::new(&format!("chromium-{port}"));
        // No network but loopback: Chromium's background services would only be refused.
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            &format!("--window-size={width},{height}"),
            &format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "goog:chromeOptions": {"binary": chromium, "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let mut browser = Browser {
            driver,
            session: String::new(),
            _profile: profile,
        };
        let v = browser.call("POST", "/session", &caps);
        browser.session = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {v}"))
            .to_owned();
        Some(browser)
    }

    /// A WebDriver command; its `value`.
    ///
    /// # Panics
    ///
    /// When ChromeDriver cannot be reached or answers with an error.
    pub fn call(&self, method: &str, path: &str, body: &Value) -> Value {
        let body = if method == "GET" || method == "DELETE" {
            String::new()
        } else {
            body.to_string()
        };
        let (status, _, answer) = http11(method, &self.driver.addr, path, &body)
            .unwrap_or_else(|e| panic!("chromedriver {method} {path}: {e}"));
        let v: Value = serde_json::from_str(&answer)
            .unwrap_or_else(|e| panic!("chromedriver {method} {path}: {e}: {answer}"));
        assert_eq!(status, 200, "chromedriver {method} {path}: {v}");
        v["value"].clone()
    }

    fn session_call(&self, method: &str, path: &str, body: &Value) -> Value {
        self.call(method, &format!("/session/{}{path}", self.session), body)
    }

    /// Loads `url` (and waits for its `load` event).
    pub fn open(&self, url: &str) {
        self.session_call("POST", "/url", &json!({ "url": url }));
    }

    /// Runs `script` (a function body: `return …`) in the page with `args`; what it returns.
    pub fn execute(&self, script: &str, args: &[Value]) -> Value {
        self.session_call(
            "POST",
            "/execute/sync",
            &json!({"script": script, "args": args}),
        )
    }

    /// The first element `css` selects.
    ///
    /// # Panics
    ///
    /// When none does.
    #[must_use]
    pub fn find(&self, css: &str) -> String {
        let v = self.session_call(
            "POST",
            "/element",
            &json!({"using": "css selector", "value": css}),
        );
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_owned()
    }

    /// Clicks an element as a user would.
    pub fn click(&self, element: &str) {
        self.session_call("POST", &format!("/element/{element}/click"), &json!({}));
    }

    /// Types `text` into an element, key by key.
    pub fn type_into(&self, element: &str, text: &str) {
        self.session_call(
            "POST",
            &format!("/element/{element}/value"),
            &json!({ "text": text }),
        );
    }

    /// Empties an input.
    pub fn clear(&self, element: &str) {
        self.session_call("POST", &format!("/element/{element}/clear"), &json!({}));
    }

    /// The browser console's entries since the last call (`level`, `message`).
    #[must_use]
    pub fn console(&self) -> Vec<Value> {
        match self.session_call("POST", "/se/log", &json!({"type": "browser"})) {
            Value::Array(entries) => entries,
            other => panic!("no console log: {other}"),
        }
    }

    /// A PNG of the viewport.
    ///
    /// # Panics
    ///
    /// When the screenshot is not base64.
    #[must_use]
    pub fn screenshot(&self) -> Vec<u8> {
        use base64::Engine as _;
        let v = self.session_call("GET", "/screenshot", &Value::Null);
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .expect("a base64 screenshot")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let path = format!("/session/{}", self.session);
            let _ = http11("DELETE", &self.driver.addr, &path, "");
        }
    }
}

/// An HTTP/1.1 request (ChromeDriver refuses HTTP/1.0, and keeps the connection open whatever
/// it says, so the body is read by its `Content-Length`): (status, head, body).
fn http11(
    method: &str,
    addr: &str,
    path: &str,
    body: &str,
) -> std::io::Result<(u16, String, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(120)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 65536];
    let (head_end, length) = loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::Error::other("closed before the headers ended"));
        }
        raw.extend_from_slice(&buf[..n]);
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..i]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or_else(|| std::io::Error::other(format!("no content-length: {head}")))?;
            break (i + 4, length);
        }
    };
    while raw.len() < head_end + length {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::Error::other("closed before the body ended"));
        }
        raw.extend_from_slice(&buf[..n]);
    }
    parse_response(&String::from_utf8_lossy(&raw[..head_end + length]))
}
