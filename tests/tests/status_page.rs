//! The status page in a real headless Chromium (driven through ChromeDriver) against a running
//! service with traffic, and its JSON over plain HTTP.

use std::collections::BTreeSet;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{Value, json};
use tsmon::State;
use tsmon::settings::{CatalogExposure, MonitorSpec, Settings};
use tsmon::state::WithState as _;
use tsmon_tests::browser::Browser;
use tsmon_tests::{http, poll_until};

/// Work the handlers do: instrumented, so the page's function table has a row.
#[tsmon::instrument]
async fn look_up(id: u64) -> Result<u64, String> {
    if id % 10 == 7 {
        Err(format!("no item {id}"))
    } else {
        Ok(id * 2)
    }
}

/// A State serving the pull endpoint (and so the page) on a free loopback port, with a short
/// ring (a sample at most every second), and an axum service recording into it; the service's
/// address.
fn service(rt: &tokio::runtime::Runtime, tweak: impl FnOnce(&mut Settings)) -> (State, String) {
    let mut settings = Settings {
        monitor: MonitorSpec::parse("pull:127.0.0.1:0").unwrap(),
        status_history: Duration::from_secs(120),
        ..Settings::default()
    };
    tweak(&mut settings);
    let state = State::builder().with_settings(settings).build().unwrap();
    let handler_state = state.clone();
    let app = Router::new()
        .route(
            "/items/{id}",
            get(move |axum::extract::Path(id): axum::extract::Path<u64>| {
                let state = handler_state.clone();
                async move {
                    match look_up(id).with_state(&state).await {
                        Ok(v) => (StatusCode::OK, v.to_string()),
                        Err(e) => (StatusCode::NOT_FOUND, e),
                    }
                }
            }),
        )
        .layer(tsmon::http::HttpMetricsLayer::new().with_state(state.clone()));
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    rt.spawn(async move { axum::serve(listener, app).await });
    (state, addr)
}

fn get_json(addr: &str, path: &str) -> Value {
    let (status, _, body) = http("GET", addr, path, &[], "").unwrap();
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

/// Sends `n` requests to `/items/{i}` with ids that are all found.
fn traffic(addr: &str, n: u64) {
    for i in 0..n {
        let id = i * 10 + 1;
        let (status, ..) = http("GET", addr, &format!("/items/{id}"), &[], "").unwrap();
        assert_eq!(status, 200);
    }
}

/// The number of samples in the ring, after asking for one (a read of the overview takes a
/// sample when one is due).
fn samples(pull: &str) -> u64 {
    get_json(pull, "/tsmon/api/overview")["ring"]["samples"]
        .as_u64()
        .unwrap()
}

/// Waits until the ring has a sample newer than the ones it had.
fn next_sample(pull: &str) {
    let before = samples(pull);
    poll_until(30, "the next sample", || {
        (samples(pull) > before).then_some(())
    });
}

/// Applies `num_flush_workers = 0` through the API, which is refused (the range is 1 to 64).
fn refuse_a_setting(state: &State) {
    let refused = state.apply_settings(Settings {
        flush_workers: 0,
        ..state.settings()
    });
    assert!(refused.is_err());
}

/// The sample times of a `/tsmon/api/series` answer.
fn sample_times(series: &Value) -> Vec<f64> {
    series["times"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_f64().unwrap())
        .collect()
}

/// Σ rate × interval over a rate chart's points: the counter's increase over the window.
fn integral(points: &[(f64, f64)], times: &[f64]) -> f64 {
    points
        .iter()
        .map(|&(t, v)| {
            let i = times.iter().position(|&x| (x - t).abs() < 1e-6).unwrap();
            assert!(i > 0, "a rate at the first sample has no interval");
            v * (times[i] - times[i - 1])
        })
        .sum()
}

#[test]
fn the_json_api_gives_the_catalog_series_rates_summary_and_health() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (state, addr) = service(&rt, |_| {});
    let pull = state.pull_address().unwrap().to_string();

    // The first sample, before any traffic: the series made after it count from zero.
    let before = samples(&pull);
    assert!(before >= 1);
    traffic(&addr, 40);
    next_sample(&pull);
    traffic(&addr, 25);
    next_sample(&pull);

    let v = get_json(
        &pull,
        "/tsmon/api/series?metric=http%2Fserver_response_status",
    );
    assert_eq!(v["kind"], "Counter");
    assert_eq!(v["cumulative"], true);
    let times = sample_times(&v);
    let series = v["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["labels"]["name"] == "/items/{id}" && s["labels"]["status"] == "200")
        .unwrap_or_else(|| panic!("no /items/{{id}} 200 series: {v}"));
    assert_eq!(series["current"], json!(65.0));
    let points: Vec<(f64, f64)> = series["points"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&times)
        .filter_map(|(p, &t)| p.as_f64().map(|v| (t, v)))
        .collect();
    assert!(points.len() >= 2, "{points:?}");
    let total = integral(&points, &times);
    // Exact but for the rounding of the times to microseconds in JSON.
    assert!(
        (total - 65.0).abs() < 1e-3,
        "the rates add up to {total}, not 65"
    );

    // A distribution: quantiles over each interval, buckets since the start.
    let d = get_json(&pull, "/tsmon/api/series?metric=http/server_durations");
    let s = &d["series"][0];
    assert_eq!(s["current"]["count"], json!(65));
    assert!(!s["current"]["buckets"].as_array().unwrap().is_empty());
    assert!(
        s["points"]["p99"]
            .as_array()
            .unwrap()
            .iter()
            .any(Value::is_f64)
    );
    assert_eq!(d["units"], "s");

    // The summary: the route and the instrumented function.
    let sum = get_json(&pull, "/tsmon/api/summary");
    let route = sum["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["route"] == "/items/{id}")
        .unwrap();
    assert_eq!(route["requests"], json!(65));
    let f = sum["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["function"] == "look_up")
        .unwrap_or_else(|| panic!("no look_up row: {sum}"));
    assert_eq!(f["ok"], json!(65.0));

    // Health: a refused setting, with its reason, and the catalog as /metrics/catalog has it.
    refuse_a_setting(&state);
    let h = get_json(&pull, "/tsmon/api/health");
    let refusal = &h["refusals"][0];
    assert_eq!(refusal["key"], "num_flush_workers");
    assert_eq!(refusal["source"], "api");
    assert!(refusal["reason"].as_str().unwrap().contains("1"));
    assert_eq!(h["task_num"], json!(0));
    let catalog = get_json(&pull, "/tsmon/api/catalog");
    assert_eq!(catalog, get_json(&pull, "/metrics/catalog"));

    // An unknown metric or document is a 404, not an empty answer.
    let (status, ..) = http("GET", &pull, "/tsmon/api/series?metric=no/such", &[], "").unwrap();
    assert_eq!(status, 404);
    let (status, ..) = http("GET", &pull, "/tsmon/api/nothing", &[], "").unwrap();
    assert_eq!(status, 404);
    let (status, head, page) = http("GET", &pull, "/tsmon", &[], "").unwrap();
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/html")
    );
    assert_eq!(page.len(), tsmon::status::PAGE_BYTES);
}

#[test]
fn the_page_is_off_where_the_settings_say_and_the_ring_follows_its_bounds() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (state, _) = service(&rt, |s| s.pull_status_page = CatalogExposure::Off);
    let pull = state.pull_address().unwrap().to_string();
    for path in ["/", "/tsmon", "/tsmon/api/overview"] {
        let (status, _, body) = http("GET", &pull, path, &[], "").unwrap();
        assert_eq!(status, 404, "{path}");
        assert!(path.contains("api") || body.contains("pull_status_page = false"));
    }
    // /metrics is still served.
    let (status, ..) = http("GET", &pull, "/metrics", &[], "").unwrap();
    assert_eq!(status, 200);

    // On, with room for 3 series: the others are counted, not charted.
    let (state, _) = service(&rt, |s| s.status_max_series = 3);
    let pull = state.pull_address().unwrap().to_string();
    let ov = get_json(&pull, "/tsmon/api/overview");
    assert_eq!(ov["ring"]["series"], json!(3));
    assert!(ov["ring"]["untracked"].as_u64().unwrap() > 0, "{ov}");

    // No history: current values, no ring.
    let (state, _) = service(&rt, |s| s.status_history = Duration::ZERO);
    let pull = state.pull_address().unwrap().to_string();
    let ov = get_json(&pull, "/tsmon/api/overview");
    assert_eq!(ov["history_sec"], json!(0.0));
    assert_eq!(ov["ring"]["samples"], json!(0));
}

/// The page's rows that are not hidden.
fn visible_rows(b: &Browser) -> BTreeSet<String> {
    let v = b.execute(
        "return [...document.querySelectorAll('tr.metric')].filter(r => !r.hidden).map(r => r.dataset.name)",
        &[],
    );
    v.as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn in_chromium_the_page_lists_searches_charts_rates_and_shows_refusals() {
    let Some(browser) = Browser::start(1400, 2000) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (state, addr) = service(&rt, |_| {});
    let pull = state.pull_address().unwrap().to_string();
    // A first sample before any traffic, so every request sent lands in a charted interval.
    samples(&pull);
    traffic(&addr, 30);
    next_sample(&pull);
    traffic(&addr, 50);
    next_sample(&pull);

    browser.open(&format!("http://{pull}/tsmon"));
    poll_until(30, "the page to load its data", || {
        (browser.execute("return document.body.dataset.ready || ''", &[]) == "1").then_some(())
    });

    // Every metric of the binary is listed.
    let catalog: BTreeSet<String> = tsmon::registry::catalog()
        .iter()
        .map(|d| d.name().to_owned())
        .chain(
            tsmon::registry::dynamic_catalog()
                .iter()
                .map(|d| d.name().to_owned()),
        )
        .collect();
    assert_eq!(visible_rows(&browser), catalog);

    // Searching filters it, as the user types.
    let search = browser.find("#search");
    browser.type_into(&search, "server_response");
    let shown = visible_rows(&browser);
    assert!(shown.contains("http/server_response_status"), "{shown:?}");
    assert!(shown.contains("http/server_response_bytes"), "{shown:?}");
    assert!(shown.len() < catalog.len() / 4, "{shown:?}");
    assert!(
        shown.iter().all(|n| n.contains("server_response")
            || tsmon::registry::catalog().iter().any(
                |d| d.name() == n && d.description().to_lowercase().contains("server_response")
            )),
        "{shown:?}"
    );

    // A counter's chart: the rates it draws add up to the requests sent.
    let row = browser.find("tr.metric[data-name='http/server_response_status']");
    browser.click(&row);
    let chart = poll_until(30, "the rate chart", || {
        let v = browser.execute(
            "const svg = [...document.querySelectorAll(\"svg[data-chart='rate']\")]
               .find(s => s.dataset.metric === 'http/server_response_status'
                     && JSON.parse(s.dataset.series).name === '/items/{id}');
             if (!svg) return null;
             return [...svg.querySelectorAll('circle.pt')].map(c => [+c.dataset.t, +c.dataset.v]);",
            &[],
        );
        v.as_array().filter(|p| p.len() >= 2).cloned()
    });
    let series = get_json(
        &pull,
        "/tsmon/api/series?metric=http/server_response_status",
    );
    let times = sample_times(&series);
    let points: Vec<(f64, f64)> = chart
        .iter()
        .map(|p| (p[0].as_f64().unwrap(), p[1].as_f64().unwrap()))
        .collect();
    let total = integral(&points, &times);
    assert!(
        (total - 80.0).abs() < 1e-3,
        "the chart's rates add up to {total} requests, not the 80 sent: {points:?}"
    );

    // The health panel shows a refused setting once the page refreshes.
    refuse_a_setting(&state);
    let reason = poll_until(30, "the refusal on the page", || {
        let v = browser.execute(
            "const t = document.querySelector('table.refused'); return t ? t.innerText : ''",
            &[],
        );
        let text = v.as_str().unwrap_or_default().to_owned();
        text.contains("num_flush_workers").then_some(text)
    });
    assert!(reason.contains("api"), "{reason}");

    // A wider look for the screenshot: every HTTP metric, two of them open.
    browser.clear(&search);
    browser.type_into(&search, "http/server");
    browser.click(&browser.find("tr.metric[data-name='http/server_durations']"));
    poll_until(30, "the quantile charts", || {
        let n = browser.execute(
            "return document.querySelectorAll(\"svg[data-chart='quantiles'] circle.pt\").length",
            &[],
        );
        (n.as_u64().unwrap_or(0) > 0).then_some(())
    });
    browser.execute("document.getElementById('catalog').scrollIntoView()", &[]);
    let png = browser.screenshot();

    // No console errors from the whole visit.
    let errors: Vec<Value> = browser
        .console()
        .into_iter()
        .filter(|e| e["level"] == "SEVERE")
        .collect();
    assert!(errors.is_empty(), "console errors: {errors:?}");

    check_not_blank(&png);
    // Kept for a look: in Cargo's scratch folder for integration tests.
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("status-page.png");
    std::fs::write(&out, &png).unwrap();
    // `TSMON_UPDATE_SCREENSHOT=1` refreshes the README's copy.
    if std::env::var_os("TSMON_UPDATE_SCREENSHOT").is_some() {
        let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::write(docs.join("status-page.png"), &png).unwrap();
    }
}

/// A screenshot of a drawn page: decodes, is of the window's size, and has many colours and
/// dark (text) as well as light (background) pixels.
fn check_not_blank(png_bytes: &[u8]) {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.width, 1400);
    let channels = info.color_type.samples();
    let pixels: Vec<&[u8]> = buf[..info.buffer_size()].chunks(channels).collect();
    let colours: BTreeSet<&[u8]> = pixels.iter().copied().collect();
    let dark = pixels
        .iter()
        .filter(|p| p[..3].iter().all(|&c| c < 80))
        .count();
    let light = pixels
        .iter()
        .filter(|p| p[..3].iter().all(|&c| c > 200))
        .count();
    assert!(colours.len() > 100, "{} colours", colours.len());
    assert!(dark > pixels.len() / 200, "{dark} dark pixels");
    assert!(light > pixels.len() / 2, "{light} light pixels");
}

tsmon::metric! {
    /// Work by shard, for the ring's bounds.
    static SHARDS: Counter(shard: i64) = "test/status_page/shards";
}

#[test]
fn the_ring_holds_at_most_121_samples_of_its_span_and_stops_growing() {
    let clock = std::sync::Arc::new(tsmon::clock::ManualClock::new(1_800_000_000_000_000));
    let state = State::builder()
        .with_clock(clock.clone())
        .with_settings(Settings {
            monitor: MonitorSpec::parse("pull:127.0.0.1:0").unwrap(),
            report_runtime_stats: false,
            ..Settings::default()
        })
        .build()
        .unwrap();
    let pull = state.pull_address().unwrap().to_string();
    let mut full_bytes = 0;
    for round in 0..200u64 {
        state.in_scope(|| (0..50).for_each(|i| SHARDS.add(round % 4, i)));
        let ov = get_json(&pull, "/tsmon/api/overview");
        let samples = ov["ring"]["samples"].as_u64().unwrap();
        assert_eq!(samples, (round + 1).min(121), "round {round}");
        let bytes = ov["ring"]["bytes"].as_u64().unwrap();
        if round == 130 {
            full_bytes = bytes;
        } else if round > 130 {
            assert_eq!(bytes, full_bytes, "the full ring grew at round {round}");
        }
        // The default span: 900 s, a sample at most every 7.5 s.
        clock.advance(Duration::from_millis(7500));
    }
    let v = get_json(
        &pull,
        "/tsmon/api/series?metric=test/status_page/shards&limit=5",
    );
    assert_eq!(v["series"].as_array().unwrap().len(), 5);
    assert_eq!(v["total"], json!(50));
    let times = v["times"].as_array().unwrap();
    let span = times[times.len() - 1].as_f64().unwrap() - times[0].as_f64().unwrap();
    assert!(span <= 900.0, "{span}");
    // Each point is the rate over its interval: (round % 4) over 7.5 s.
    let points = v["series"][0]["points"].as_array().unwrap();
    let last = points[points.len() - 1].as_f64().unwrap();
    assert!(
        (last - (200 % 4) as f64 / 7.5).abs() < 1e-9
            || (last - (199 % 4) as f64 / 7.5).abs() < 1e-9,
        "{last}"
    );
}
