//! tsmon in one binary with the other metrics crates a service may already link. metriken
//! gathers its metrics with linkme too, in a slice named `METRICS`, and linkme refuses two
//! slices of one name in a binary: tsmon's slices carry the crate's name.

tsmon::metric! {
    /// Requests, counted by tsmon.
    static REQUESTS: Counter = "test/peers/requests";
}

/// Requests, counted by metriken.
#[metriken::metric(name = "peers_requests")]
static METRIKEN_REQUESTS: metriken::Counter = metriken::Counter::new();

#[test]
fn tsmon_and_metriken_share_a_binary() {
    let state = tsmon::State::builder()
        .build()
        .expect("a State, beside metriken's slice");
    state.in_scope(|| REQUESTS.add(2, ()));
    METRIKEN_REQUESTS.increment();
    assert_eq!(state.in_scope(|| REQUESTS.get(())), 2);
    assert!(
        tsmon::registry::catalog()
            .iter()
            .any(|d| d.name() == "test/peers/requests")
    );
    assert!(
        metriken::metrics()
            .iter()
            .any(|m| m.name() == "peers_requests")
    );
}
