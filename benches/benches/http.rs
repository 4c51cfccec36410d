//! What the HTTP server layer costs a request, in process: an axum router like the example
//! service's (`GET /items/{id}`), called through `oneshot` with the response body read to its
//! end, in the same run: bare; with an identity layer (what `Router::layer` itself costs);
//! with `HttpMetricsLayer` and with `AxumMetricsLayer` through `Router::layer`, each on a
//! disabled State and on an enabled one; and with `HttpMetricsLayer` around the whole router. No network, so the layers' own nanoseconds
//! show; `benches/load.sh` measures the same service under wrk, where they are a share of the
//! whole request's cost.

use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;

async fn item(Path(id): Path<u64>) -> String {
    format!("{{\"id\":{id},\"name\":\"item {id}\"}}")
}

fn router() -> Router {
    Router::new().route("/items/{id}", get(item))
}

fn state(enabled: bool) -> tsmon::State {
    let settings = tsmon::settings::Settings {
        enabled,
        ..tsmon::settings::Settings::default()
    };
    tsmon::State::builder()
        .with_settings(settings)
        .build()
        .expect("a State on the defaults")
}

/// A bench of `GET /items/42` through `app`, one request after another, each response's body
/// read to its end (where the layer records).
fn calls<S, B>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    rt: &tokio::runtime::Runtime,
    name: &str,
    app: S,
) where
    S: tower::Service<http::Request<Body>, Response = http::Response<B>> + Clone,
    S::Error: std::fmt::Debug,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let req = http::Request::get("/items/42")
                        .body(Body::empty())
                        .expect("a request");
                    let res = app.clone().oneshot(req).await.expect("served");
                    let body = res.into_body().collect().await.expect("a body");
                    std::hint::black_box(body);
                }
                start.elapsed()
            })
        });
    });
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let on = state(true);
    let off = state(false);
    let mut g = c.benchmark_group("http_server_in_process");
    calls(&mut g, &rt, "bare", router());
    // What `Router::layer` itself costs, with a layer that does nothing: axum boxes the
    // layered route, clones that box for each request and boxes its future.
    calls(
        &mut g,
        &rt,
        "identity layer",
        router().layer(tower::layer::util::Identity::new()),
    );
    let layer =
        |state: &tsmon::State| tsmon::http::HttpMetricsLayer::new().with_state(state.clone());
    calls(
        &mut g,
        &rt,
        "layer, tsmon disabled",
        router().layer(layer(&off)),
    );
    calls(&mut g, &rt, "layer, tsmon on", router().layer(layer(&on)));
    // The layer for axum: axum's own bodies in and out, so axum boxes nothing more.
    let axum_layer =
        |state: &tsmon::State| tsmon::http::AxumMetricsLayer::new().with_state(state.clone());
    calls(
        &mut g,
        &rt,
        "axum layer, tsmon disabled",
        router().layer(axum_layer(&off)),
    );
    calls(
        &mut g,
        &rt,
        "axum layer, tsmon on",
        router().layer(axum_layer(&on)),
    );
    // The layer around the whole router (no `Router::layer`): none of axum's boxing, but no
    // route template either (every request is `(unmatched)` without `with_route`).
    calls(
        &mut g,
        &rt,
        "layer around the router, tsmon on",
        tower::Layer::layer(&layer(&on), router()),
    );
    g.finish();
    // The enabled State recorded every request: the bench measured what it claims.
    let snap = on.snapshot();
    let served = snap
        .metric("http/server_response_status")
        .map_or(0, |m| m.cells().len());
    assert!(served > 0, "the enabled layer recorded nothing");
}

criterion_group!(benches, bench);
criterion_main!(benches);
