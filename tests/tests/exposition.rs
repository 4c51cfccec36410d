//! The exposition of a catalog with every kind, checked by Prometheus's own tools: `promtool
//! check metrics` (text format) and the `prometheus_client` Python parser (OpenMetrics).

use tsmon::distribution::Distribution;
use tsmon::exposition::Format;
use tsmon::{State, Target};
use tsmon_tests::{require_binary, run_with_stdin};

tsmon::metric! {
    /// Requests served, by route, status and robot.
    static REQUESTS: Counter(route: String, status: i64, is_robot: bool) = "e2e/http/requests";
    /// CPU time used.
    #[tsmon(units = seconds)]
    static CPU: FloatCounter = "e2e/process/cpu";
    /// Open connections.
    static CONNECTIONS: IntGauge(pool: String) = "e2e/db/connections";
    /// Temperature of the rack.
    #[tsmon(units = celsius)]
    static TEMPERATURE: FloatGauge = "e2e/rack/temperature";
    /// The running version.
    static VERSION: StringMetric = "e2e/server/version";
    /// Whether the process is up.
    static UP: BoolMetric = "e2e/presence/up";
    /// Request latency.
    #[tsmon(units = seconds, bucketer = geometric(2.0, 8))]
    static LATENCY: CumulativeDistribution(route: String) = "e2e/http/latency";
    /// Queue sizes right now.
    #[tsmon(bucketer = fixed_width(5.0, 4))]
    static QUEUES: NonCumulativeDistribution = "e2e/queue/sizes";
    /// Time to first byte, in Prometheus' default buckets.
    #[tsmon(units = seconds, bucketer = bounds(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))]
    static FIRST_BYTE: CumulativeDistribution = "e2e/http/first_byte";
    /// Sizes in a scaled geometric bucketer whose products are not exact in binary.
    #[tsmon(bucketer = geometric_with_scale(1.5, 6, 0.001))]
    static SCALED: CumulativeDistribution = "e2e/scaled";
    /// Logins by user, capped at one series.
    #[tsmon(max_series = 1)]
    static LOGINS: Counter(user: String) = "e2e/auth/logins";
    /// Orders by region: one string field, the pull path's shortest way.
    static ORDERS: Counter(region: String) = "shape/orders";
    /// Load by pool, a float gauge with one string field.
    static LOAD: FloatGauge(pool: String) = "shape/load";
    /// Shards up, by shard number.
    static SHARDS_UP: BoolMetric(shard: i64) = "shape/shards_up";
}

fn state_with_every_kind() -> State {
    let target = Target::new("shop", "frontend")
        .with_data_center("eu-west1")
        .with_host("web-1");
    let state = State::builder().with_target(target).build().unwrap();
    state.in_scope(|| {
        REQUESTS.add(3, ("/items/{id}", 200, false));
        REQUESTS.inc(("weird \"route\"\\\n\u{1F600} ünïcode", 500, true));
        CPU.add(1.25, ());
        CONNECTIONS.set(4, "primary");
        TEMPERATURE.set(-3.5, ());
        VERSION.set("1.2.3 \"beta\"", ());
        UP.set(true, ());
        for x in [0.001, 0.5, 3.0, 1000.0] {
            LATENCY.add(x, "/items/{id}");
        }
        for x in [0.003, 0.005, 0.3, 10.0, 12.0] {
            FIRST_BYTE.add(x, ());
        }
        SCALED.add(0.004, ());
        let mut d = Distribution::new(QUEUES.desc().bucketer());
        for x in [1.0, 7.0, 30.0] {
            d.add(x);
        }
        QUEUES.set(&d, ());
        // A series under another target, and one past a metric's cap.
        REQUESTS
            .handle_with_target(
                &Target::new("shop", "batch").with_task_num(7),
                ("/jobs", 202, false),
            )
            .inc();
        LOGINS.inc("ann");
        LOGINS.inc("bob");
    });
    state
}

#[test]
fn the_pull_path_gives_what_a_snapshot_gives() {
    let state = state_with_every_kind();
    for format in [Format::Text, Format::OpenMetrics] {
        let live = state.encode(format);
        let copied = tsmon::exposition::encode_to_string(&state.snapshot(), format);
        assert_eq!(live, copied, "{format:?}");
        assert!(live.contains("job_name=\"batch\""), "{live}");
        assert!(live.contains("tsmon_overflow=\"true\""), "{live}");
        assert!(live.contains("e2e_queue_sizes"), "{live}");
    }
}

/// The pull path writes a plain number's line straight from the series' key: every shape of
/// key and value it decides on gives the snapshot's text, with the target's labels on every
/// line and in `target_info`, with and without `_created`.
#[test]
fn the_pull_path_gives_what_a_snapshot_gives_for_every_line_shape() {
    let state = state_with_every_kind();
    let long = "x".repeat(200);
    state.in_scope(|| {
        ORDERS.add(1, "north");
        ORDERS.add(2, "quote \" backslash \\ newline \n");
        ORDERS.add(3, &long);
        ORDERS.add(4, "");
        ORDERS.add_with_exemplar(5, "traced", &[("trace_id", "abc")]);
        ORDERS.add(i64::MAX as u64, "max");
        LOAD.set(f64::NAN, "nan");
        LOAD.set(f64::INFINITY, "inf");
        LOAD.set(f64::NEG_INFINITY, "-inf");
        LOAD.set(-0.0, "zero");
        LOAD.set(1e-300, "tiny");
        SHARDS_UP.set(true, 7);
        SHARDS_UP.set(false, -1);
        // Past 127 targets a target id takes two bytes of the key.
        for task in 0..140 {
            ORDERS
                .handle_with_target(&Target::new("shop", "worker").with_task_num(task), "east")
                .add(task as u64 + 1);
        }
    });
    for (target_info, created) in [(false, false), (true, false), (false, true), (true, true)] {
        state
            .apply_settings(tsmon::settings::Settings {
                pull_target_info: target_info,
                openmetrics_created: created,
                ..state.settings()
            })
            .unwrap();
        let options = tsmon::exposition::Options::default()
            .with_target_info(target_info)
            .with_created(created);
        for format in [Format::Text, Format::OpenMetrics] {
            let live = state.encode(format);
            let mut copied = Vec::new();
            tsmon::exposition::encode_with(&state.snapshot(), format, options, &mut copied);
            let copied = String::from_utf8(copied).unwrap();
            let what = format!("{format:?}, target_info {target_info}, created {created}");
            assert_eq!(live, copied, "{what}");
            // A chunk at a time (what the endpoint streams), down to a series a chunk.
            for chunk in [1, 333, 1 << 20] {
                let chunks: Vec<Vec<u8>> = state.encode_chunks(format, chunk).collect();
                assert!(chunks.iter().all(|c| !c.is_empty()), "{what}");
                if chunk == 1 {
                    assert!(chunks.len() > 150, "{what}: {} chunks", chunks.len());
                }
                assert_eq!(
                    String::from_utf8(chunks.concat()).unwrap(),
                    live,
                    "{what}, chunks of {chunk}"
                );
            }
            assert!(live.contains(&format!("region=\"{long}\"")), "{what}");
            assert!(live.contains("task_num=\"139\""), "{what}");
            assert!(live.contains("shard=\"-1\"} 0"), "{what}");
            assert!(live.contains("pool=\"nan\"} NaN"), "{what}");
        }
    }
}

tsmon::metric! {
    /// Sessions by user, made and deleted while a scrape walks them.
    #[tsmon(max_series = 100000)]
    static SESSIONS: Counter(user: String) = "churn/sessions";
}

/// A walk a chunk at a time holds no lock between chunks, so series are made and deleted
/// meanwhile: none is written twice, the family's header comes once, and every series that
/// was neither deleted nor the last of the list when one was (a delete moves the last into
/// its place) is written.
#[test]
fn a_walk_in_chunks_under_churn_writes_no_series_twice() {
    let state = State::builder().build().unwrap();
    let user = |i: usize| format!("user-{i:05}");
    state.in_scope(|| (0..3000).for_each(|i| SESSIONS.inc(&user(i))));
    let chunks = state.encode_chunks(Format::Text, 2000);
    let mut text = Vec::new();
    let mut made = 3000;
    let mut deleted = std::collections::BTreeSet::new();
    let mut step = 0;
    for chunk in chunks {
        text.extend_from_slice(&chunk);
        step += 1;
        state.in_scope(|| {
            // Delete series behind the walk, ahead of it and at the list's end; make new ones.
            for i in [step * 7 % 3000, (step * 131 + 1500) % 3000, made - 1] {
                if SESSIONS.delete(&user(i)) {
                    deleted.insert(i);
                }
            }
            for _ in 0..5 {
                SESSIONS.inc(&user(made));
                made += 1;
            }
        });
    }
    assert!(step > 10, "{step} chunks");
    let text = String::from_utf8(text).unwrap();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("churn_sessions_total{"))
        .collect();
    let unique: std::collections::BTreeSet<&str> = lines.iter().copied().collect();
    assert_eq!(unique.len(), lines.len(), "a series written twice");
    assert_eq!(
        text.matches("# TYPE churn_sessions_total counter").count(),
        1
    );
    // Each delete can move one unwritten series behind the walk: at most that many missing.
    let written = |i: usize| text.contains(&format!("user=\"{}\"", user(i)));
    let missing = (0..3000)
        .filter(|i| !deleted.contains(i) && !written(*i))
        .count();
    assert!(
        missing <= deleted.len(),
        "{missing} series missing, {} deleted",
        deleted.len()
    );
    assert!(deleted.iter().any(|&i| i < 3000), "deletes happened");
}

#[test]
fn text_format_has_every_kind() {
    let text = state_with_every_kind().encode(Format::Text);
    let t = r#"service_name="shop",job_name="frontend",data_center="eu-west1",host_name="web-1",task_num="0""#;
    for line in [
        "# TYPE e2e_http_requests_total counter".to_owned(),
        format!(
            r#"e2e_http_requests_total{{{t},route="/items/{{id}}",status="200",is_robot="false"}} 3"#
        ),
        format!(
            r#"e2e_http_requests_total{{{t},route="weird \"route\"\\\n😀 ünïcode",status="500",is_robot="true"}} 1"#
        ),
        format!("e2e_process_cpu_seconds_total{{{t}}} 1.25"),
        format!(r#"e2e_db_connections{{{t},pool="primary"}} 4"#),
        format!("e2e_rack_temperature_celsius{{{t}}} -3.5"),
        "# TYPE e2e_server_version_info gauge".to_owned(),
        format!(r#"e2e_server_version_info{{{t},value="1.2.3 \"beta\""}} 1"#),
        format!("e2e_presence_up{{{t}}} 1"),
        "# TYPE e2e_http_latency_seconds histogram".to_owned(),
        format!(r#"e2e_http_latency_seconds_bucket{{{t},route="/items/{{id}}",le="1.0"}} 2"#),
        format!(r#"e2e_http_latency_seconds_bucket{{{t},route="/items/{{id}}",le="2.0"}} 2"#),
        format!(r#"e2e_http_latency_seconds_bucket{{{t},route="/items/{{id}}",le="4.0"}} 3"#),
        format!(r#"e2e_http_latency_seconds_bucket{{{t},route="/items/{{id}}",le="256.0"}} 3"#),
        format!(r#"e2e_http_latency_seconds_bucket{{{t},route="/items/{{id}}",le="+Inf"}} 4"#),
        format!(r#"e2e_http_latency_seconds_count{{{t},route="/items/{{id}}"}} 4"#),
        format!(r#"e2e_http_latency_seconds_sum{{{t},route="/items/{{id}}"}} 1003.501"#),
        "# TYPE e2e_queue_sizes histogram".to_owned(),
        format!(r#"e2e_queue_sizes_bucket{{{t},le="0.0"}} 0"#),
        format!(r#"e2e_queue_sizes_bucket{{{t},le="5.0"}} 1"#),
        format!(r#"e2e_queue_sizes_bucket{{{t},le="10.0"}} 2"#),
        format!(r#"e2e_queue_sizes_bucket{{{t},le="20.0"}} 2"#),
        format!(r#"e2e_queue_sizes_bucket{{{t},le="+Inf"}} 3"#),
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing line\n{line}\nin\n{text}"
        );
    }
}

#[test]
fn explicit_bounds_are_the_le_labels_and_computed_bounds_print_as_written() {
    let text = state_with_every_kind().encode(Format::Text);
    let le: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("e2e_http_first_byte_seconds_bucket{"))
        .map(|l| l.split("le=\"").nth(1).unwrap().split('"').next().unwrap())
        .collect();
    assert_eq!(
        le,
        [
            "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0",
            "+Inf"
        ]
    );
    // [b(i), b(i+1)) buckets: 0.003 is below the first bound, 0.005 starts the next bucket,
    // 10 and 12 are in the overflow bucket.
    let count = |le: &str| {
        text.lines()
            .find(|l| {
                l.starts_with("e2e_http_first_byte_seconds_bucket{")
                    && l.contains(&format!("le=\"{le}\""))
            })
            .and_then(|l| l.rsplit(' ').next())
            .map(|n| n.parse::<i64>().unwrap())
            .unwrap()
    };
    assert_eq!(
        [
            count("0.005"),
            count("0.01"),
            count("0.5"),
            count("10.0"),
            count("+Inf")
        ],
        [1, 2, 3, 3, 5]
    );
    let scaled: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("e2e_scaled_bucket{"))
        .map(|l| l.split("le=\"").nth(1).unwrap().split('"').next().unwrap())
        .collect();
    assert_eq!(
        scaled,
        [
            "0.001",
            "0.0015",
            "0.00225",
            "0.003375",
            "0.0050625",
            "0.00759375",
            "0.011390625",
            "+Inf"
        ]
    );
}

#[test]
fn openmetrics_has_units_info_and_gauge_histograms_and_created_only_when_asked() {
    let state = state_with_every_kind();
    let text = state.encode(Format::OpenMetrics);
    assert!(text.ends_with("# EOF\n"));
    for needle in [
        "# TYPE e2e_http_requests counter\n",
        "# TYPE e2e_process_cpu_seconds counter\n# UNIT e2e_process_cpu_seconds seconds\n",
        "# TYPE e2e_server_version info\n",
        "# TYPE e2e_queue_sizes gaugehistogram\n",
        "e2e_queue_sizes_gcount{",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    // `_created` costs a series per counter and histogram in Prometheus: off by default.
    assert!(!text.contains("_created"), "{text}");
    state
        .apply_settings(tsmon::settings::Settings {
            openmetrics_created: true,
            ..state.settings()
        })
        .unwrap();
    let text = state.encode(Format::OpenMetrics);
    for needle in [
        "e2e_http_latency_seconds_created{",
        "e2e_http_requests_created{",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    // Never in the text format, which has no such sample.
    assert!(!state.encode(Format::Text).contains("_created"));
}

#[test]
fn promtool_check_metrics_reports_nothing() {
    let Some(promtool) = require_binary("promtool") else {
        return;
    };
    let text = state_with_every_kind().encode(Format::Text);
    let (ok, output) = run_with_stdin(&promtool, &["check", "metrics"], text.as_bytes());
    assert!(
        ok && output.trim().is_empty(),
        "promtool says:\n{output}\non:\n{text}"
    );
}

#[test]
fn openmetrics_parses_with_the_reference_python_parser() {
    let Some(python) = require_binary("python3") else {
        return;
    };
    let probe = std::process::Command::new(&python)
        .args(["-c", "import prometheus_client"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !probe {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but the Python prometheus_client is missing"
        );
        eprintln!("SKIPPED: the Python package prometheus_client is not installed");
        return;
    }
    let state = state_with_every_kind();
    let script = "import sys\nfrom prometheus_client.openmetrics.parser import text_string_to_metric_families as p\n\
                  fams = list(p(sys.stdin.read()))\nprint(len(fams), sum(len(f.samples) for f in fams))";
    let mut samples = Vec::new();
    for created in [false, true] {
        state
            .apply_settings(tsmon::settings::Settings {
                openmetrics_created: created,
                ..state.settings()
            })
            .unwrap();
        let text = state.encode(Format::OpenMetrics);
        let (ok, output) = run_with_stdin(&python, &["-c", script], text.as_bytes());
        assert!(
            ok,
            "the OpenMetrics parser refused the exposition:\n{output}\n{text}"
        );
        let mut words = output.split_whitespace();
        let families: usize = words.next().unwrap().parse().unwrap();
        // The eight kinds, the two bucketer examples, the capped counter, and the overflow
        // self-metric it set off.
        assert_eq!(families, 12, "{output}");
        samples.push(words.next().unwrap().parse::<usize>().unwrap());
    }
    // With `_created`: one more sample per counter and cumulative histogram series.
    assert!(samples[1] > samples[0], "{samples:?}");
}

#[test]
fn the_store_registers_in_a_prometheus_registry() {
    let state = state_with_every_kind();
    let registry = prometheus::Registry::new();
    registry
        .register(Box::new(tsmon::exposition::Collector::new(state)))
        .unwrap();
    let families = registry.gather();
    let names: Vec<&str> = families.iter().map(|f| f.name()).collect();
    for name in [
        "e2e_http_requests_total",
        "e2e_process_cpu_seconds_total",
        "e2e_db_connections",
        "e2e_server_version_info",
        "e2e_presence_up",
        "e2e_http_latency_seconds",
        "e2e_queue_sizes",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    let mut text = Vec::new();
    prometheus::Encoder::encode(&prometheus::TextEncoder::new(), &families, &mut text).unwrap();
    assert!(
        String::from_utf8(text)
            .unwrap()
            .contains("e2e_presence_up{")
    );
    let latency = families
        .iter()
        .find(|f| f.name() == "e2e_http_latency_seconds")
        .unwrap();
    let h = latency.get_metric()[0].get_histogram();
    assert_eq!(h.get_sample_count(), 4);
    assert_eq!(
        h.get_bucket().last().unwrap().cumulative_count(),
        3,
        "+Inf is implied"
    );
}

/// One sample: its name, its labels sorted (`le` as a number), its value.
type Sample = (String, Vec<(String, String)>, String);

/// The samples of a text exposition.
fn samples_of(text: &str) -> std::collections::BTreeSet<Sample> {
    let mut out = std::collections::BTreeSet::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (name, rest) = line
            .split_once('{')
            .unwrap_or_else(|| line.split_once(' ').unwrap());
        let (labels, value) = match rest.rsplit_once("} ") {
            Some((labels, value)) => (labels, value),
            None => ("", rest),
        };
        let mut parsed = Vec::new();
        let mut chars = labels.chars().peekable();
        while chars.peek().is_some() {
            let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
            assert_eq!(chars.next(), Some('"'), "{line}");
            let mut v = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => match chars.next().unwrap() {
                        'n' => v.push('\n'),
                        c => v.push(c),
                    },
                    '"' => break,
                    c => v.push(c),
                }
            }
            if chars.peek() == Some(&',') {
                chars.next();
            }
            if key == "le" {
                v = v.parse::<f64>().unwrap().to_string();
            }
            parsed.push((key, v));
        }
        parsed.sort();
        let value = value.parse::<f64>().unwrap().to_string();
        out.insert((name.to_string(), parsed, value));
    }
    out
}

#[test]
fn every_exporter_writes_the_same_series_from_one_model() {
    let state = state_with_every_kind();
    let snapshot = state.snapshot();
    let ours: std::collections::BTreeSet<_> = samples_of(&tsmon::exposition::encode_to_string(
        &snapshot,
        Format::Text,
    ))
    .into_iter()
    .filter(|(name, _, _)| name.starts_with("e2e_"))
    .collect();
    assert!(ours.len() > 20, "{ours:?}");

    // The prometheus crate's encoder over tsmon's Collector.
    let registry = prometheus::Registry::new();
    registry
        .register(Box::new(tsmon::exposition::Collector::new(state.clone())))
        .unwrap();
    let text = prometheus::TextEncoder::new()
        .encode_to_string(&registry.gather())
        .unwrap();
    let theirs: std::collections::BTreeSet<_> = samples_of(&text)
        .into_iter()
        .filter(|(name, _, _)| name.starts_with("e2e_"))
        .collect();
    assert_eq!(theirs, ours, "the Collector and the text encoder");

    // Remote-write: the same series (it names gauge histograms as OpenMetrics does).
    let request = tsmon::monitor::RemoteWriteMonitor::write_request(&snapshot);
    let written: std::collections::BTreeSet<_> = request
        .timeseries
        .iter()
        .map(|t| {
            let name = t.labels.iter().find(|l| l.name == "__name__").unwrap();
            let mut labels: Vec<(String, String)> = t
                .labels
                .iter()
                .filter(|l| l.name != "__name__")
                .map(|l| {
                    let v = if l.name == "le" {
                        l.value.parse::<f64>().unwrap().to_string()
                    } else {
                        l.value.clone()
                    };
                    (l.name.clone(), v)
                })
                .collect();
            labels.sort();
            let name = name
                .value
                .replace("e2e_queue_sizes_gcount", "e2e_queue_sizes_count")
                .replace("e2e_queue_sizes_gsum", "e2e_queue_sizes_sum");
            (name, labels, t.samples[0].value.to_string())
        })
        .filter(|(name, _, _)| name.starts_with("e2e_"))
        .collect();
    assert_eq!(written, ours, "remote-write and the text encoder");

    // The catalog names each metric's series as the exporters do.
    let catalog: serde_json::Value =
        serde_json::from_str(&tsmon::registry::catalog_json()).unwrap();
    for m in catalog.as_array().unwrap() {
        let name = m["prometheus_name"].as_str().unwrap();
        if !name.starts_with("e2e_")
            || m["kind"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains("distribution")
        {
            continue;
        }
        assert!(
            ours.iter().any(|(n, _, _)| n == name),
            "the catalog's {name} is in the exposition"
        );
    }
}

/// `pull_target_info`: the default target's labels once, in `target_info`; its series without
/// them; series under an explicit target keep theirs. Every checker still accepts the output.
#[test]
fn target_info_carries_the_target_once() {
    let state = state_with_every_kind();
    state
        .apply_settings(tsmon::settings::Settings {
            pull_target_info: true,
            ..state.settings()
        })
        .unwrap();
    let t = r#"service_name="shop",job_name="frontend",data_center="eu-west1",host_name="web-1",task_num="0""#;
    let text = state.encode(Format::Text);
    assert!(text.contains("# TYPE target_info gauge\n"), "{text}");
    assert!(text.contains(&format!("target_info{{{t}}} 1\n")), "{text}");
    assert_eq!(
        text.matches("service_name=\"shop\",job_name=\"frontend\"")
            .count(),
        1,
        "{text}"
    );
    for line in [
        r#"e2e_http_requests_total{route="/items/{id}",status="200",is_robot="false"} 3"#,
        "e2e_process_cpu_seconds_total{} 1.25",
        r#"e2e_http_latency_seconds_bucket{route="/items/{id}",le="1.0"} 2"#,
        r#"e2e_queue_sizes_bucket{le="5.0"} 1"#,
        r#"e2e_server_version_info{value="1.2.3 \"beta\""} 1"#,
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing line\n{line}\nin\n{text}"
        );
    }
    // The explicit target's series keeps its labels.
    assert!(
        text.lines()
            .any(|l| l
                .starts_with("e2e_http_requests_total{service_name=\"shop\",job_name=\"batch\"")),
        "{text}"
    );
    let om = state.encode(Format::OpenMetrics);
    assert!(om.contains("# TYPE target info\n"), "{om}");
    assert!(om.contains(&format!("target_info{{{t}}} 1\n")), "{om}");
    if let Some(promtool) = require_binary("promtool") {
        let (ok, output) = run_with_stdin(&promtool, &["check", "metrics"], text.as_bytes());
        assert!(ok, "promtool refused:\n{output}\n{text}");
    }
    if let Some(python) = require_binary("python3") {
        let script = "import sys\nfrom prometheus_client.openmetrics.parser import text_string_to_metric_families as p\nlist(p(sys.stdin.read()))";
        let (ok, output) = run_with_stdin(&python, &["-c", script], om.as_bytes());
        assert!(
            ok || output.contains("No module named"),
            "the OpenMetrics parser refused:\n{output}\n{om}"
        );
    }
}
