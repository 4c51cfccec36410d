//! Credentials, headers and TLS for the push monitors and the pull endpoint: against
//! Debian's `prometheus` and `prometheus-pushgateway` started with a web configuration (TLS,
//! basic auth), and against a receiver of the test's own that records what arrives.

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex};

use tsmon::State;
use tsmon::field::FieldValue::Str;
use tsmon::settings::Settings;
use tsmon_tests::tls::{HttpsAuth, https, pki, web_config};
use tsmon_tests::{poll_until, prom_query_tls, start_prometheus_tls, start_pushgateway_tls};

tsmon::metric! {
    /// A level that changes between flushes.
    static LEVEL: FloatGauge = "e2e/auth/level";
    /// Things done.
    static DONE: Counter(kind: String) = "e2e/auth/done";
}

/// A State with `toml` as its settings (so the file syntax is what is tested), no runtime
/// stats, and a target with a task number.
fn state(toml: &str) -> State {
    let settings = Settings {
        report_runtime_stats: false,
        ..Settings::default()
    }
    .merge_toml(toml)
    .unwrap_or_else(|e| panic!("{toml}\n{e}"));
    State::builder()
        .with_target(
            tsmon::Target::new("svc", "job")
                .with_data_center("dc")
                .with_host("h")
                .with_task_num(0),
        )
        .with_settings(settings)
        .build()
        .unwrap()
}

use tsmon_tests::int_value as int;

fn requests(state: &State, monitor: &str, status: &str) -> i64 {
    int(state, "tsmon/push/requests", &[Str(monitor), Str(status)])
}

fn flush(state: &State) -> Result<(), tsmon::Error> {
    tsmon::runtime::block_on(state.flush())
}

/// A TOML string for a path.
fn path(p: &std::path::Path) -> String {
    format!("{:?}", p.display().to_string())
}

#[test]
fn remote_write_over_tls_with_basic_auth_delivers_every_value_and_a_wrong_password_costs_one_counted_401()
 {
    let pki = pki("rw");
    let web = web_config(&pki, &[("tsmon", "right-password")]);
    let auth = HttpsAuth {
        ca: Some(&pki.ca),
        basic: Some(("tsmon", "right-password")),
        client: None,
    };
    let Some((prom, _dir)) = start_prometheus_tls("rw-tls", "", &web, auth) else {
        return;
    };
    let password = pki.dir.join("push-password");
    std::fs::write(&password, "wrong-password\n").unwrap();
    let state = state(&format!(
        "monitor = \"remote_write:https://{}/api/v1/write\"\n[push]\n\
         basic_auth = {{ username = \"tsmon\", password_file = {} }}\n\
         tls_config = {{ ca_file = {} }}\n",
        prom.addr,
        path(&password),
        path(&pki.ca),
    ));
    state.in_scope(|| {
        LEVEL.set(1.5, ());
        DONE.add(3, "sync");
    });
    let err = flush(&state).expect_err("a wrong password fails the flush");
    let text = err.to_string();
    assert!(text.contains("401"), "{text}");
    assert!(
        !matches!(err, tsmon::Error::Deferred(_)),
        "an outage would keep the interval: {err:?}"
    );
    assert_eq!(
        requests(&state, "remote_write", "401"),
        1,
        "not retried within the flush"
    );
    assert_eq!(
        int(&state, "tsmon/push/unauthorized", &[Str("remote_write")]),
        1
    );
    assert!(
        !text.contains("wrong-password"),
        "the secret stays out of errors: {text}"
    );

    // The password file is fixed; the next flushes deliver what waited, then the new value.
    state.in_scope(|| LEVEL.set(2.5, ()));
    std::fs::write(&password, "right-password").unwrap();
    poll_until(20, "a flush with the fixed password", || flush(&state).ok());
    let level = poll_until(20, "both levels in Prometheus", || {
        let min = prom_query_tls(&prom.addr, "min_over_time(e2e_auth_level[1h])", auth);
        let max = prom_query_tls(&prom.addr, "max_over_time(e2e_auth_level[1h])", auth);
        (min.len() == 1 && max.len() == 1).then(|| (min[0].1, max[0].1))
    });
    assert_eq!(
        level,
        (1.5, 2.5),
        "the value of the refused flush was kept and delivered"
    );
    let done = prom_query_tls(&prom.addr, "e2e_auth_done_total{kind=\"sync\"}", auth);
    assert_eq!(done.len(), 1, "{done:?}");
    assert_eq!(done[0].1, 3.0);
    assert_eq!(done[0].0["task_num"], "0");
}

#[test]
fn pushgateway_over_tls_with_basic_auth_takes_the_push_and_refuses_a_wrong_password_once() {
    let pki = pki("pg");
    let web = web_config(&pki, &[("pusher", "pg-secret")]);
    let auth = HttpsAuth {
        ca: Some(&pki.ca),
        basic: Some(("pusher", "pg-secret")),
        client: None,
    };
    let Some(pg) = start_pushgateway_tls(&web, auth) else {
        return;
    };
    let settings = |password: &str| {
        format!(
            "monitor = \"pushgateway:https://{}\"\n[push]\n\
             basic_auth = {{ username = \"pusher\", password = \"{password}\" }}\n\
             tls_config = {{ ca_file = {} }}\n",
            pg.addr,
            path(&pki.ca)
        )
    };
    let good = state(&settings("pg-secret"));
    good.in_scope(|| DONE.add(5, "pushed"));
    flush(&good).expect("the right password delivers");
    let (status, _, body) = https("GET", &pg.addr, "/metrics", auth, "").unwrap();
    assert_eq!(status, 200);
    let line = body
        .lines()
        .find(|l| l.starts_with("e2e_auth_done_total{") && l.contains("kind=\"pushed\""))
        .unwrap_or_else(|| panic!("not pushed:\n{body}"));
    assert!(line.ends_with(" 5"), "{line}");
    assert_eq!(requests(&good, "pushgateway", "200"), 1);

    let bad = state(&settings("guess"));
    bad.in_scope(|| DONE.add(1, "refused"));
    let err = flush(&bad).expect_err("a wrong password fails");
    assert!(err.to_string().contains("401"), "{err}");
    assert_eq!(requests(&bad, "pushgateway", "401"), 1);
    assert_eq!(
        int(&bad, "tsmon/push/unauthorized", &[Str("pushgateway")]),
        1
    );
    let (_, _, body) = https("GET", &pg.addr, "/metrics", auth, "").unwrap();
    assert!(
        !body.contains("kind=\"refused\""),
        "nothing of the refused push arrived"
    );
}

#[test]
fn a_certificate_no_trusted_ca_signed_is_a_clear_error_and_the_state_carries_on() {
    let pki = pki("stranger");
    let web = pki.dir.join("web-stranger.yml");
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
            pki.stranger_cert.display(),
            pki.stranger_key.display()
        ),
    )
    .unwrap();
    let Some(bin) = tsmon_tests::require_binary("prometheus-pushgateway") else {
        return;
    };
    let port = tsmon_tests::free_port();
    let mut child = std::process::Command::new(bin)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!("--web.config.file={}", web.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    poll_until(30, "the Pushgateway to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    });
    // Trusting the test CA (which did not sign it), then the system's roots.
    for tls in [
        format!("tls_config = {{ ca_file = {} }}", path(&pki.ca)),
        String::new(),
    ] {
        let state = state(&format!(
            "monitor = \"pushgateway:https://127.0.0.1:{port}\"\n[push]\n{tls}\n"
        ));
        state.in_scope(|| DONE.inc("x"));
        let err = flush(&state)
            .expect_err("an unknown issuer is refused")
            .to_string();
        assert!(
            err.contains("certificate") || err.contains("roots"),
            "the error says why: {err}"
        );
        assert_eq!(requests(&state, "pushgateway", "error"), 1);
        state.in_scope(|| DONE.inc("y"));
        assert!(flush(&state).is_err(), "the next flush tries again");
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// One request as a receiver got it: its headers, lower-case names.
type Headers = Vec<(String, String)>;

/// A plain-HTTP receiver on loopback that keeps every request's headers and answers 200, or
/// 401 when `token` is set and the request's `Authorization` is not `Bearer <token>`.
fn receiver(token: Arc<Mutex<Option<String>>>) -> (String, Arc<Mutex<Vec<Headers>>>) {
    receiver_on(std::net::TcpListener::bind("127.0.0.1:0").unwrap(), token)
}

/// As [`receiver`], on a given listener.
fn receiver_on(
    listener: std::net::TcpListener,
    token: Arc<Mutex<Option<String>>>,
) -> (String, Arc<Mutex<Vec<Headers>>>) {
    let addr = listener.local_addr().unwrap().to_string();
    let got = Arc::new(Mutex::new(Vec::new()));
    let keep = got.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut headers = Vec::new();
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            loop {
                line.clear();
                if reader.read_line(&mut line).is_err() || line == "\r\n" || line.is_empty() {
                    break;
                }
                if let Some((k, v)) = line.split_once(':') {
                    headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
                }
            }
            let len: usize = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .map_or(0, |(_, v)| v.parse().unwrap_or(0));
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            let expected = token.lock().unwrap().clone().map(|t| format!("Bearer {t}"));
            let given = headers
                .iter()
                .find(|(k, _)| k == "authorization")
                .map(|(_, v)| v.clone());
            keep.lock().unwrap().push(headers);
            let reply: &[u8] = if expected.is_some() && given != expected {
                b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 4\r\nConnection: close\r\n\r\nno\r\n"
            } else {
                b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            };
            let _ = conn.write_all(reply);
        }
    });
    (addr, got)
}

fn header<'a>(h: &'a Headers, name: &str) -> Option<&'a str> {
    h.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[test]
fn a_token_file_and_extra_headers_reach_the_receiver_and_a_rotated_token_applies_by_itself() {
    let dir = tsmon_tests::Scratch::new("token");
    let token = dir.join("token");
    std::fs::write(&token, "first-token\n").unwrap();
    let wanted = Arc::new(Mutex::new(Some("first-token".to_owned())));
    let (addr, got) = receiver(wanted.clone());
    // From the environment, as an inline table.
    let state = State::builder()
        .with_settings(Settings {
            report_runtime_stats: false,
            ..Settings::default()
        })
        .with_env_from([
            ("TSMON_MONITOR", format!("remote_write:http://{addr}/api/v1/write")),
            (
                "TSMON_PUSH",
                format!(
                    "{{ authorization = {{ credentials_file = {} }}, headers = {{ X-Scope-OrgID = \"team-a\" }} }}",
                    path(&token)
                ),
            ),
        ])
        .build()
        .unwrap();
    assert!(state.health().refusals.is_empty(), "{}", state.health());
    state.in_scope(|| DONE.inc("a"));
    flush(&state).unwrap();
    {
        let got = got.lock().unwrap();
        let h = got.last().unwrap();
        assert_eq!(header(h, "authorization"), Some("Bearer first-token"));
        assert_eq!(header(h, "x-scope-orgid"), Some("team-a"));
    }
    // The secret is never shown.
    let health = state.health().to_string();
    assert!(!health.contains("first-token"), "{health}");

    // Rotated: the receiver wants the new token, the file has it; a flush picks it up
    // within a second, with nothing lost in between.
    std::fs::write(&token, "second-token").unwrap();
    *wanted.lock().unwrap() = Some("second-token".to_owned());
    state.in_scope(|| DONE.inc("b"));
    poll_until(10, "a flush with the rotated token", || flush(&state).ok());
    let got = got.lock().unwrap();
    assert_eq!(
        header(got.last().unwrap(), "authorization"),
        Some("Bearer second-token")
    );
    let refused = got
        .iter()
        .filter(|h| header(h, "authorization") == Some("Bearer first-token"))
        .count();
    assert!(refused >= 1);
    drop(got);
    assert_eq!(
        int(&state, "tsmon/remote_write/queued", &[]),
        0,
        "every refused request was delivered after the rotation"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_change_of_push_settings_keeps_what_waits_in_the_queue() {
    let port = tsmon_tests::free_port();
    let state = state(&format!(
        "monitor = \"remote_write:http://127.0.0.1:{port}/api/v1/write\"\npush_queue_max_age_sec = 600\n"
    ));
    state.in_scope(|| LEVEL.set(1.0, ()));
    let r = flush(&state);
    assert!(matches!(r, Err(tsmon::Error::Deferred(_))), "{r:?}");
    let queued = int(&state, "tsmon/remote_write/queued", &[]);
    assert!(queued > 0);
    // A header is added: the monitor is rebuilt for the same URL and takes the queue over.
    let mut s = state.settings();
    s.push
        .headers
        .insert("X-Scope-OrgID".into(), "team-b".into());
    state.apply_settings(s).unwrap();
    assert_eq!(int(&state, "tsmon/remote_write/queued", &[]), queued);
    // The receiver comes up on that port: the queued request goes first, with the new header.
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let (_, got) = receiver_on(listener, Arc::new(Mutex::new(None)));
    state.in_scope(|| LEVEL.set(2.0, ()));
    flush(&state).unwrap();
    let got = got.lock().unwrap();
    assert!(
        got.len() >= 2,
        "the queued request and this flush's: {}",
        got.len()
    );
    assert!(
        got.iter()
            .all(|h| header(h, "x-scope-orgid") == Some("team-b"))
    );
    assert_eq!(int(&state, "tsmon/remote_write/queued", &[]), 0);
}

/// A State serving the pull endpoint with `extra` settings (TOML) on a free loopback port.
fn pull_state(extra: &str) -> (State, String) {
    let state = state(&format!("monitor = \"pull:127.0.0.1:0\"\n{extra}"));
    let addr = state.pull_address().expect("the pull endpoint").to_string();
    (state, addr)
}

#[test]
fn prometheus_scrapes_the_pull_endpoint_over_tls_with_basic_auth() {
    let pki = pki("pull");
    let (state, addr) = pull_state(&format!(
        "pull_auth = \"basic:scraper:scrape-secret\"\n\
         pull_tls = {{ cert_file = {}, key_file = {} }}\n",
        path(&pki.server_cert),
        path(&pki.server_key)
    ));
    state.in_scope(|| DONE.add(4, "scraped"));
    let scrape = format!(
        "  - job_name: tls\n    scheme: https\n    tls_config:\n      ca_file: {}\n    \
         basic_auth:\n      username: scraper\n      password: scrape-secret\n    \
         static_configs:\n      - targets: ['{addr}']\n",
        pki.ca.display()
    );
    let Some((prom, _dir)) = tsmon_tests::start_prometheus("pull-tls", &scrape) else {
        return;
    };
    let done = poll_until(30, "Prometheus to scrape over TLS", || {
        let r = tsmon_tests::prom_query(&prom.addr, "e2e_auth_done_total{kind=\"scraped\"}");
        (r.len() == 1).then(|| r[0].1)
    });
    assert_eq!(done, 4.0);
    let up = tsmon_tests::prom_query(&prom.addr, "up{job=\"tls\"}");
    assert_eq!(up[0].1, 1.0);

    // Plain HTTP to the TLS port gets no answer, and is counted.
    let plain = tsmon_tests::http("GET", &addr, "/metrics", &[], "");
    assert!(
        !matches!(plain, Ok((200, ..))),
        "plain HTTP is not served: {plain:?}"
    );
    poll_until(10, "the failed handshake to be counted", || {
        (int(
            &state,
            "tsmon/pull/closed_connections",
            &[Str("tls_handshake")],
        ) >= 1)
            .then_some(())
    });
    // Over TLS without credentials: 401.
    let auth = HttpsAuth {
        ca: Some(&pki.ca),
        ..HttpsAuth::default()
    };
    let (status, ..) = https("GET", &addr, "/metrics", auth, "").unwrap();
    assert_eq!(status, 401);
}

#[test]
fn with_a_client_ca_only_clients_with_a_certificate_it_signed_are_served() {
    let pki = pki("mtls");
    let (_state, addr) = pull_state(&format!(
        "pull_tls = {{ cert_file = {}, key_file = {}, client_ca_file = {} }}\n",
        path(&pki.server_cert),
        path(&pki.server_key),
        path(&pki.ca)
    ));
    let anonymous = HttpsAuth {
        ca: Some(&pki.ca),
        ..HttpsAuth::default()
    };
    assert!(
        https("GET", &addr, "/metrics", anonymous, "").is_err(),
        "a client without a certificate is refused at the handshake"
    );
    let stranger = HttpsAuth {
        client: Some((&pki.stranger_cert, &pki.stranger_key)),
        ..anonymous
    };
    assert!(https("GET", &addr, "/metrics", stranger, "").is_err());
    let known = HttpsAuth {
        client: Some((&pki.client_cert, &pki.client_key)),
        ..anonymous
    };
    let (status, _, body) = https("GET", &addr, "/metrics", known, "").unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("# TYPE"), "{body}");
}

#[test]
fn a_renewed_certificate_is_served_without_a_restart() {
    let pki = pki("renew");
    let cert = pki.dir.join("served.pem");
    let key = pki.dir.join("served-key.pem");
    std::fs::copy(&pki.server_cert, &cert).unwrap();
    std::fs::copy(&pki.server_key, &key).unwrap();
    let (state, addr) = pull_state(&format!(
        "pull_tls = {{ cert_file = {}, key_file = {} }}\n",
        path(&cert),
        path(&key)
    ));
    let trusting = HttpsAuth {
        ca: Some(&pki.ca),
        ..HttpsAuth::default()
    };
    assert_eq!(
        https("GET", &addr, "/metrics", trusting, "").unwrap().0,
        200
    );
    // Replaced by a certificate the client does not trust: within about a second it is the
    // one served (the client's handshake fails from then on).
    std::fs::copy(&pki.stranger_cert, &cert).unwrap();
    std::fs::copy(&pki.stranger_key, &key).unwrap();
    poll_until(10, "the renewed certificate to be served", || {
        https("GET", &addr, "/metrics", trusting, "")
            .is_err()
            .then_some(())
    });
    assert_eq!(int(&state, "tsmon/pull/tls_reloads", &[Str("ok")]), 1);
    // A half-written renewal (a certificate whose key is not there yet) keeps the one in use.
    std::fs::copy(&pki.server_cert, &cert).unwrap();
    std::fs::write(&key, "not a key").unwrap();
    poll_until(10, "the half-written pair to be tried", || {
        let _ = https("GET", &addr, "/metrics", trusting, "");
        (int(&state, "tsmon/pull/tls_reloads", &[Str("error")]) >= 1).then_some(())
    });
    assert!(
        https("GET", &addr, "/metrics", trusting, "").is_err(),
        "still the stranger's"
    );
    std::fs::copy(&pki.server_key, &key).unwrap();
    poll_until(10, "the good pair to be served again", || {
        https("GET", &addr, "/metrics", trusting, "")
            .ok()
            .filter(|r| r.0 == 200)
    });
    drop(state);
}

#[test]
fn any_bytes_on_the_tls_port_close_the_connection_and_the_endpoint_serves_on() {
    let pki = pki("noise");
    let (state, addr) = pull_state(&format!(
        "pull_header_timeout_sec = 1\npull_tls = {{ cert_file = {}, key_file = {} }}\n",
        path(&pki.server_cert),
        path(&pki.server_key)
    ));
    // 200 inputs: random bytes, and the start of a real ClientHello followed by noise.
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for i in 0..200 {
        let len = (next() % 4096) as usize + 1;
        let mut input: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if i % 2 == 0 {
            input.splice(
                0..0,
                [
                    0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
                ],
            );
        }
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(15)))
            .unwrap();
        let _ = s.write_all(&input);
        // Three inputs in four end there; the others leave the handshake hanging (the header
        // timeout ends it).
        if i % 4 != 0 {
            let _ = s.shutdown(std::net::Shutdown::Write);
        }
        let mut answer = Vec::new();
        // The endpoint answers with a TLS alert at most, then closes (EOF or a reset).
        let _ = s.read_to_end(&mut answer);
        assert!(answer.len() < 64, "input {i}: {} bytes back", answer.len());
    }
    let trusting = HttpsAuth {
        ca: Some(&pki.ca),
        ..HttpsAuth::default()
    };
    assert_eq!(
        https("GET", &addr, "/metrics", trusting, "").unwrap().0,
        200
    );
    assert!(
        int(
            &state,
            "tsmon/pull/closed_connections",
            &[Str("tls_handshake")]
        ) >= 100
    );
}
