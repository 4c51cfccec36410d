//! Label escaping in every output: whatever UTF-8 a service puts in a target or a field value
//! comes back unchanged from the text format, OpenMetrics, the `prometheus` crate's encoder fed
//! by tsmon's Collector, and a remote-write request's protobuf, and the store-direct encoder
//! writes exactly what the snapshot encoder does, whole or a few bytes at a time, on its
//! shortest way (one string field) as on the general one.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use prost::Message;
use tsmon::exposition::{Collector, Format, encode_to_string};
use tsmon::monitor::{RemoteWriteMonitor, WriteRequest};
use tsmon::{State, Target};

tsmon::metric! {
    /// Requests, by a fuzzed route.
    static REQUESTS: Counter(route: String, code: i64) = "fuzz/exposition/requests";
    /// A fuzzed string.
    static VERSION: StringMetric = "fuzz/exposition/version";
    /// Routes, by one fuzzed string field (the store-direct encoder's shortest way).
    static ROUTES: Counter(route: String) = "fuzz/exposition/routes";
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    service: &'a str,
    job: &'a str,
    data_center: &'a str,
    host: &'a str,
    route: &'a str,
    code: i64,
    version: &'a str,
}

/// Reads a quoted label value at the start of `s` the way Prometheus does (`\\`, `\"`, `\n`;
/// any other escape or a raw newline is an error); gives it and the rest after the quote.
fn label_value(s: &str) -> Option<(String, &str)> {
    let mut chars = s.strip_prefix('"')?.char_indices();
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &s[i + 2..])),
            '\n' => return None,
            '\\' => match chars.next()?.1 {
                '\\' => out.push('\\'),
                '"' => out.push('"'),
                'n' => out.push('\n'),
                _ => return None,
            },
            c => out.push(c),
        }
    }
    None
}

/// The labels of a sample line `name{a="x",b="y"} value`, unescaped, and what follows `}`.
fn labels<'a>(line: &'a str, name: &str) -> Option<(Vec<(String, String)>, &'a str)> {
    let mut rest = line.strip_prefix(name)?.strip_prefix('{')?;
    let mut out = Vec::new();
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Some((out, after));
        }
        let eq = rest.find('=')?;
        let label = rest[..eq].to_string();
        let (value, after) = label_value(&rest[eq + 1..])?;
        out.push((label, value));
        rest = after.strip_prefix(',').unwrap_or(after);
    }
}

/// The one sample line of `name` in `text`, with its labels.
fn sample(text: &str, name: &str) -> Vec<(String, String)> {
    let mut found = text.lines().filter(|l| l.starts_with(&format!("{name}{{")));
    let line = found
        .next()
        .unwrap_or_else(|| panic!("no {name} in\n{text}"));
    assert!(found.next().is_none(), "one series of {name}");
    let (labels, value) = labels(line, name).unwrap_or_else(|| panic!("unparseable: {line:?}"));
    assert!(value.starts_with(' '), "{line:?}");
    labels
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

fuzz_target!(|input: Input<'_>| {
    let target = Target::new(input.service, input.job)
        .with_data_center(input.data_center)
        .with_host(input.host);
    let Ok(state) = State::builder().with_target(target).build() else {
        return;
    };
    state.in_scope(|| {
        REQUESTS.inc((input.route, input.code));
        ROUTES.inc(input.route);
        VERSION.set(input.version, ());
    });
    let code = input.code.to_string();
    let target_labels = [
        ("service_name", input.service),
        ("job_name", input.job),
        ("data_center", input.data_center),
        ("host_name", input.host),
        ("task_num", "0"),
    ];
    let mut requests = target_labels.to_vec();
    requests.extend([("route", input.route), ("code", code.as_str())]);
    let mut routes = target_labels.to_vec();
    routes.push(("route", input.route));
    let routes = pairs(&routes);
    let mut version = target_labels.to_vec();
    version.push(("value", input.version));
    let (requests, version) = (pairs(&requests), pairs(&version));

    let snapshot = state.snapshot();
    for format in [Format::Text, Format::OpenMetrics] {
        let text = encode_to_string(&snapshot, format);
        let mut direct = Vec::new();
        state.encode_into(format, &mut direct);
        assert_eq!(String::from_utf8(direct).unwrap(), text, "{format:?}");
        let chunks = state.encode_chunks(format, 7).collect::<Vec<_>>().concat();
        assert_eq!(
            String::from_utf8(chunks).unwrap(),
            text,
            "{format:?}, in chunks"
        );
        assert_eq!(sample(&text, "fuzz_exposition_routes_total"), routes);
        assert_eq!(sample(&text, "fuzz_exposition_requests_total"), requests);
        assert_eq!(sample(&text, "fuzz_exposition_version_info"), version);
    }

    // The `prometheus` crate's encoder over tsmon's Collector.
    let registry = prometheus::Registry::new();
    registry
        .register(Box::new(Collector::new(state.clone())))
        .unwrap();
    let text = prometheus::TextEncoder::new()
        .encode_to_string(&registry.gather())
        .unwrap();
    assert_eq!(sample(&text, "fuzz_exposition_requests_total"), requests);

    // Remote-write: the labels as written, and the protobuf decodes to the same request.
    let request = RemoteWriteMonitor::write_request(&snapshot);
    let series = request
        .timeseries
        .iter()
        .find(|t| {
            t.labels
                .iter()
                .any(|l| l.name == "__name__" && l.value == "fuzz_exposition_requests_total")
        })
        .expect("the counter is in the request");
    let got: Vec<(String, String)> = series
        .labels
        .iter()
        .filter(|l| l.name != "__name__")
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect();
    // The spec's MUST NOT: an empty label value is left out (Prometheus reads it as absent).
    let mut want: Vec<_> = requests
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .cloned()
        .collect();
    want.sort();
    assert_eq!(got, want, "remote-write labels, sorted by name");
    let bytes = request.encode_to_vec();
    assert_eq!(WriteRequest::decode(bytes.as_slice()).unwrap(), request);
});
