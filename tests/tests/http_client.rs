//! The HTTP client metrics on real traffic: hyper-util's client behind the tower layer, and
//! reqwest through the `reqwest-middleware` adapter, against a real axum server on loopback,
//! with a refused connection and timeouts.

use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{Service as _, ServiceExt as _};
use tsmon::State;
use tsmon::field::FieldValue::{self, Int, Str};
use tsmon::http::HttpClientMetricsLayer;
use tsmon::http::reqwest::ReqwestMetrics;
use tsmon::store::Value;

async fn serve() -> String {
    let app = Router::new()
        .route(
            "/bytes/{n}",
            get(|axum::extract::Path(n): axum::extract::Path<usize>| async move { vec![b'x'; n] }),
        )
        .route("/echo", post(|body: Bytes| async move { body }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "late"
            }),
        )
        .route(
            "/missing",
            get(|| async { (http::StatusCode::NOT_FOUND, "no") }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A loopback port nothing listens on.
fn refused_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn status(state: &State, status: i64, client: &str) -> i64 {
    let fields: [FieldValue<'_>; 3] = [Int(status), Str("127.0.0.1"), Str(client)];
    state
        .snapshot()
        .metric("http/response_status")
        .and_then(|m| m.find(&fields))
        .map_or(0, |c| match c.value() {
            Value::Int(n) => *n,
            _ => -1,
        })
}

fn dist(state: &State, metric: &str, client: &str) -> (i64, f64) {
    state
        .snapshot()
        .metric(metric)
        .and_then(|m| m.find(&[Str("127.0.0.1"), Str(client)]))
        .map_or((0, 0.0), |c| match c.value() {
            Value::Distribution(d) => (d.count(), d.sum()),
            _ => (-1, 0.0),
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_client_statuses_bytes_refusals_and_timeouts() {
    let state = State::builder().build().unwrap();
    let addr = serve().await;
    let layer = HttpClientMetricsLayer::new("hyper").with_state(state.clone());
    let mut client = tower::ServiceBuilder::new()
        .layer(layer)
        .service(Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>());
    let req = |method: &str, url: String, body: Vec<u8>| {
        http::Request::builder()
            .method(method)
            .uri(url)
            .body(Full::new(Bytes::from(body)))
            .unwrap()
    };

    let r = client
        .ready()
        .await
        .unwrap()
        .call(req("GET", format!("http://{addr}/bytes/3000"), Vec::new()))
        .await
        .unwrap();
    assert_eq!(
        r.into_body().collect().await.unwrap().to_bytes().len(),
        3000
    );
    let r = client
        .ready()
        .await
        .unwrap()
        .call(req("POST", format!("http://{addr}/echo"), vec![b'p'; 1234]))
        .await
        .unwrap();
    r.into_body().collect().await.unwrap();
    let r = client
        .ready()
        .await
        .unwrap()
        .call(req("GET", format!("http://{addr}/missing"), Vec::new()))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    r.into_body().collect().await.unwrap();

    assert_eq!(status(&state, 200, "hyper"), 2);
    assert_eq!(status(&state, 404, "hyper"), 1);
    assert_eq!(dist(&state, "http/request_bytes", "hyper"), (3, 1234.0));
    assert_eq!(
        dist(&state, "http/response_bytes", "hyper"),
        (3, 3000.0 + 1234.0 + 2.0)
    );
    assert_eq!(dist(&state, "http/durations", "hyper").0, 3);

    // A refused connection: the client's error, status 0.
    let port = refused_port();
    let err = client
        .ready()
        .await
        .unwrap()
        .call(req("GET", format!("http://127.0.0.1:{port}/"), Vec::new()))
        .await;
    assert!(err.is_err());
    assert_eq!(status(&state, 0, "hyper"), 1);

    // A timeout around the layer: the call is dropped before its response, status 0.
    let call =
        client
            .ready()
            .await
            .unwrap()
            .call(req("GET", format!("http://{addr}/slow"), Vec::new()));
    assert!(
        tokio::time::timeout(Duration::from_millis(200), call)
            .await
            .is_err()
    );
    assert_eq!(status(&state, 0, "hyper"), 2);
    assert_eq!(dist(&state, "http/durations", "hyper").0, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reqwest_statuses_bytes_refusals_and_timeouts() {
    let state = State::builder().build().unwrap();
    let addr = serve().await;
    let client = reqwest_middleware::ClientBuilder::new(
        reqwest::Client::builder()
            .timeout(Duration::from_millis(300))
            .build()
            .unwrap(),
    )
    .with(ReqwestMetrics::new("reqwest").with_state(state.clone()))
    .build();

    let r = client
        .get(format!("http://{addr}/bytes/5000"))
        .send()
        .await
        .unwrap();
    // The response keeps its URL through the middleware.
    assert_eq!(r.url().path(), "/bytes/5000");
    assert_eq!(r.bytes().await.unwrap().len(), 5000);
    let r = client
        .post(format!("http://{addr}/echo"))
        .body(vec![b'q'; 777])
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap().len(), 777);
    assert_eq!(status(&state, 200, "reqwest"), 2);
    assert_eq!(dist(&state, "http/request_bytes", "reqwest"), (2, 777.0));
    assert_eq!(dist(&state, "http/response_bytes", "reqwest"), (2, 5777.0));

    // Refused, then reqwest's own timeout: both status 0.
    let port = refused_port();
    assert!(
        client
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .is_err()
    );
    assert_eq!(status(&state, 0, "reqwest"), 1);
    let err = client
        .get(format!("http://{addr}/slow"))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(status(&state, 0, "reqwest"), 2);
}
