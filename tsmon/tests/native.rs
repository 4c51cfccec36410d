//! The `native_histograms` setting: which classic distributions become native histograms.

use tsmon::State;
use tsmon::field::FieldValue;
use tsmon::store::Value;

tsmon::metric! {
    /// A user's classic distribution, beside tsmon's own.
    #[tsmon(units = seconds, bucketer = bounds(0.01, 0.1, 1))]
    static USER_LATENCY: CumulativeDistribution(route: String) = "test/store/user_latency";
    /// A declared native histogram.
    #[tsmon(bucketer = native(2, max_buckets = 50))]
    static DECLARED_NATIVE: CumulativeDistribution = "test/store/declared_native";
}

#[tsmon::instrument]
fn instrumented_work() {}

fn is_native(state: &State, name: &str, values: &[FieldValue<'_>]) -> Option<bool> {
    let snap = state.snapshot();
    let cell = snap.metric(name)?.find(values)?;
    match cell.value() {
        Value::Distribution(d) => Some(d.native().is_some()),
        _ => None,
    }
}

/// `native_histograms`: `tsmon` makes tsmon's own distributions native and leaves a user's
/// classic one alone; `all` takes the user's too, for the series made after the change; the
/// text format then carries a native series as three lines instead of one per bucket.
#[test]
fn the_native_histograms_setting_turns_classic_distributions_native() {
    let state = State::builder()
        .with_settings(tsmon::settings::Settings {
            native_histograms: tsmon::settings::NativeHistograms::Tsmon,
            ..Default::default()
        })
        .build()
        .unwrap();
    state.in_scope(|| {
        instrumented_work();
        USER_LATENCY.add(0.05, "/a");
        DECLARED_NATIVE.add(3.0, ());
    });
    let work = [
        FieldValue::Str("instrumented_work"),
        FieldValue::Str(module_path!()),
    ];
    assert_eq!(is_native(&state, "function/durations", &work), Some(true));
    assert_eq!(
        is_native(&state, "test/store/user_latency", &[FieldValue::Str("/a")]),
        Some(false)
    );
    assert_eq!(
        is_native(&state, "test/store/declared_native", &[]),
        Some(true)
    );
    // The text format: a native series has `+Inf`, `_count` and `_sum`; a classic one has
    // its four `le` buckets.
    let text = state.encode(tsmon::exposition::Format::Text);
    let lines = |prefix: &str| text.lines().filter(|l| l.starts_with(prefix)).count();
    assert_eq!(lines("function_durations_seconds_bucket{"), 1, "{text}");
    assert_eq!(
        lines("test_store_user_latency_seconds_bucket{"),
        4,
        "{text}"
    );

    // `all`: the user's new series are native; the one made before stays classic.
    let mut settings = state.settings();
    settings.native_histograms = tsmon::settings::NativeHistograms::All;
    state.apply_settings(settings).unwrap();
    state.in_scope(|| USER_LATENCY.add(0.05, "/b"));
    assert_eq!(
        is_native(&state, "test/store/user_latency", &[FieldValue::Str("/b")]),
        Some(true)
    );
    assert_eq!(
        is_native(&state, "test/store/user_latency", &[FieldValue::Str("/a")]),
        Some(false)
    );
    // The exemplar of a native series goes to its one slot.
    state.in_scope(|| USER_LATENCY.add_with_exemplar(0.5, "/b", &[("trace_id", "abc")]));
    let snap = state.snapshot();
    let cell = snap
        .metric("test/store/user_latency")
        .unwrap()
        .find(&[FieldValue::Str("/b")])
        .unwrap();
    assert_eq!(cell.exemplar(0).map(|e| e.value()), Some(0.5));

    // Off again: new series are classic; a declared native histogram stays native.
    let mut settings = state.settings();
    settings.native_histograms = tsmon::settings::NativeHistograms::Off;
    state.apply_settings(settings).unwrap();
    state.in_scope(|| USER_LATENCY.add(0.05, "/c"));
    assert_eq!(
        is_native(&state, "test/store/user_latency", &[FieldValue::Str("/c")]),
        Some(false)
    );
    assert_eq!(
        is_native(&state, "test/store/declared_native", &[]),
        Some(true)
    );
}
