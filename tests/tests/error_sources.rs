//! Errors keep their causes: behind a monitor's or an allocator's error is the client's own
//! error, reachable through `source()` and downcastable, not only its text.

use tsmon::State;
use tsmon::settings::{MonitorSpec, Settings};

tsmon::metric! {
    /// Things.
    static THINGS: Counter = "e2e/errors/things";
}

/// Every error in `e`'s source chain.
fn chain<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> Vec<&'a (dyn std::error::Error + 'static)> {
    let mut all = Vec::new();
    let mut next = e.source();
    while let Some(s) = next {
        all.push(s);
        next = s.source();
    }
    all
}

fn state_to(spec: &str) -> State {
    State::builder()
        .with_settings(Settings {
            report_runtime_stats: false,
            monitor: MonitorSpec::parse(spec).unwrap(),
            ..Settings::default()
        })
        .build()
        .unwrap()
}

#[test]
fn a_push_to_a_closed_port_has_the_http_clients_error_and_the_io_error_behind_it() {
    let port = tsmon_tests::free_port();
    for spec in [
        format!("pushgateway:http://127.0.0.1:{port}"),
        format!("remote_write:http://127.0.0.1:{port}/api/v1/write"),
    ] {
        let state = state_to(&spec);
        state.in_scope(|| THINGS.inc(()));
        let err = tsmon::runtime::block_on(state.flush()).unwrap_err();
        let causes = chain(&err);
        assert!(
            causes.iter().any(|c| c
                .downcast_ref::<hyper_util::client::legacy::Error>()
                .is_some()),
            "{spec}: the client's error is a source: {err}"
        );
        let io = causes
            .iter()
            .find_map(|c| c.downcast_ref::<std::io::Error>())
            .unwrap_or_else(|| panic!("{spec}: an io::Error behind it: {err}"));
        assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused, "{spec}");
        assert!(
            err.to_string().contains("refused"),
            "the text still says it: {err}"
        );
    }
}

#[test]
fn an_allocator_that_cannot_connect_has_the_clients_error_behind_it() {
    let port = tsmon_tests::free_port();
    let err = tsmon::runtime::block_on(tsmon::tasknum::RedisAllocator::connect(&format!(
        "redis://127.0.0.1:{port}"
    )))
    .unwrap_err();
    assert!(matches!(err, tsmon::Error::TaskNum(_)), "{err}");
    assert!(
        chain(&err)
            .iter()
            .any(|c| c.downcast_ref::<redis::RedisError>().is_some()),
        "{err}"
    );
}
