//! Exemplars from the entered `tracing` span's OpenTelemetry context (feature
//! `tracing-opentelemetry`).
#![cfg(feature = "tracing-opentelemetry")]

use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tsmon::State;
use tsmon::exemplars::ExemplarLayer;

tsmon::metric! {
    /// Orders.
    static ORDERS: Counter(region: String) = "test/exemplars/orders";
    /// Checkout time.
    #[tsmon(units = seconds, bucketer = bounds(0.1, 1))]
    static CHECKOUT: CumulativeDistribution = "test/exemplars/checkout";
}

/// The exemplar labels of a series' slot.
fn labels(state: &State, metric: &str, slot: usize) -> Option<Vec<(String, String)>> {
    let snap = state.snapshot();
    let m = snap.metric(metric)?;
    let cell = m.cells().first()?;
    cell.exemplar(slot).map(|e| e.labels().to_vec())
}

fn ids(span: &tracing::Span) -> (String, String) {
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    (sc.trace_id().to_string(), sc.span_id().to_string())
}

#[test]
fn writes_in_a_traced_span_keep_its_trace_and_span_ids() {
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
        .with(ExemplarLayer::new());
    let state = State::builder().build().unwrap();
    tracing::subscriber::with_default(subscriber, || {
        // Outside any span: no exemplar.
        state.in_scope(|| ORDERS.inc("north"));
        assert_eq!(labels(&state, "test/exemplars/orders", 0), None);

        let outer = tracing::info_span!("checkout");
        let (trace, outer_id) = ids(&outer);
        {
            let _in = outer.enter();
            state.in_scope(|| {
                ORDERS.add(2, "north");
                CHECKOUT.add(0.5, ());
            });
        }
        let want = vec![
            ("trace_id".to_owned(), trace.clone()),
            ("span_id".to_owned(), outer_id.clone()),
        ];
        assert_eq!(
            labels(&state, "test/exemplars/orders", 0),
            Some(want.clone())
        );
        // [0.1, 1) is bucket 1.
        assert_eq!(labels(&state, "test/exemplars/checkout", 1), Some(want));

        // A nested span: its own span id, the same trace; handles take it too.
        let handle = state.in_scope(|| ORDERS.handle("north"));
        let dist = state.in_scope(|| CHECKOUT.handle(()));
        {
            let _o = outer.enter();
            let inner = tracing::info_span!("pay");
            let (inner_trace, inner_id) = ids(&inner);
            assert_eq!(inner_trace, trace);
            assert_ne!(inner_id, outer_id);
            let _i = inner.enter();
            handle.inc();
            dist.add(5.0);
            let want = vec![
                ("trace_id".to_owned(), trace.clone()),
                ("span_id".to_owned(), inner_id),
            ];
            assert_eq!(
                labels(&state, "test/exemplars/orders", 0),
                Some(want.clone())
            );
            assert_eq!(labels(&state, "test/exemplars/checkout", 2), Some(want));
        }
        // Every span exited: writes keep no exemplar, the last one stays.
        let before = labels(&state, "test/exemplars/orders", 0);
        handle.add(10);
        assert_eq!(labels(&state, "test/exemplars/orders", 0), before);
        assert_eq!(handle.get(), 14);
    });
    // Within one enter of a span, a series' bucket keeps the first write's exemplar; after
    // the span exits and is entered again, the next write keeps its own.
    let value = |state: &State| {
        let snap = state.snapshot();
        snap.metric("test/exemplars/checkout").unwrap().cells()[0]
            .exemplar(1)
            .map(|e| e.value())
    };
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
        .with(ExemplarLayer::new());
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("loop");
        {
            let _in = span.enter();
            state.in_scope(|| {
                CHECKOUT.add(0.25, ());
                CHECKOUT.add(0.75, ());
            });
        }
        assert_eq!(value(&state), Some(0.25));
        let _in = span.enter();
        state.in_scope(|| CHECKOUT.add(0.5, ()));
        assert_eq!(value(&state), Some(0.5));
    });
    // The ids reach the exposition.
    let text = state.encode(tsmon::exposition::Format::OpenMetrics);
    assert!(text.contains("trace_id=\""), "{text}");
}
