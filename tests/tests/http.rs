//! The HTTP middleware on a real axum server on loopback, driven by a real HTTP client (and, for
//! the malformed requests a real client will not send, by hand over TCP). Every test runs
//! against both server layers: the generic `HttpMetricsLayer` and `AxumMetricsLayer`, which
//! keeps axum's own bodies.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tsmon::State;
use tsmon::field::FieldValue::{Bool, Int, Str};
use tsmon::http::{AxumMetricsLayer, HttpMetricsLayer, UNMATCHED};
use tsmon::store::Value;

async fn handler_bug() -> &'static str {
    let items: Vec<&'static str> = Vec::new();
    items[std::hint::black_box(0)] // out of bounds: a handler bug
}

/// Which server layer a test's service uses.
#[derive(Debug, Clone, Copy)]
enum Layer {
    Generic,
    Axum,
}

const LAYERS: [Layer; 2] = [Layer::Generic, Layer::Axum];

async fn serve(state: &State, layer: Layer) -> String {
    let app = Router::new()
        .route("/items/{id}", get(|| async { "an item" }))
        .route("/echo", post(|body: Bytes| async move { body }))
        .route("/panic", get(handler_bug))
        .route(
            "/stream",
            get(|| async {
                let chunks = futures_util::stream::unfold(0u32, |i| async move {
                    if i >= 1000 {
                        return None;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    Some((
                        Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; 1024])),
                        i + 1,
                    ))
                });
                Body::from_stream(chunks)
            }),
        );
    let app = match layer {
        Layer::Generic => app.layer(HttpMetricsLayer::new().with_state(state.clone())),
        Layer::Axum => app.layer(AxumMetricsLayer::new().with_state(state.clone())),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    addr
}

/// The count and sum of one `http/*` distribution series, once it is there.
async fn dist(state: &State, metric: &str, status: i64, name: &str, robot: bool) -> (i64, f64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let snap = state.snapshot();
        if let Some(Value::Distribution(d)) = snap
            .metric(metric)
            .and_then(|m| m.find(&[Int(status), Str(name), Bool(robot)]))
            .map(|c| c.value().clone())
        {
            return (d.count(), d.sum());
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {metric}{{{status}, {name}, {robot}}}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn status_count(state: &State, status: i64, name: &str, robot: bool) -> i64 {
    state
        .snapshot()
        .metric("http/server_response_status")
        .and_then(|m| m.find(&[Int(status), Str(name), Bool(robot)]))
        .map_or(0, |c| match c.value() {
            Value::Int(n) => *n,
            _ => -1,
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_routes_statuses_bytes_and_robots() {
    for layer in LAYERS {
        records_routes_statuses_bytes_and_robots_with(layer).await;
    }
}

async fn records_routes_statuses_bytes_and_robots_with(layer: Layer) {
    eprintln!("the {layer:?} layer");
    let state = State::builder().build().unwrap();
    let addr = serve(&state, layer).await;
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let get = |path: &str, ua: &str| {
        hyper::Request::get(format!("http://{addr}{path}"))
            .header("user-agent", ua)
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    for id in ["1", "2", "3"] {
        let r = client
            .request(get(&format!("/items/{id}"), "curl/8"))
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.into_body().collect().await.unwrap();
    }
    let r = client
        .request(get("/items/9", "Mozilla/5.0 (compatible; GoogleBot/2.1)"))
        .await
        .unwrap();
    r.into_body().collect().await.unwrap();
    let long = format!("/{}", "a".repeat(5000));
    let r = client
        .request(get(&long, &"ua".repeat(5000)))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    r.into_body().collect().await.unwrap();
    let payload = vec![b'p'; 1000];
    let r = client
        .request(
            hyper::Request::post(format!("http://{addr}/echo"))
                .body(Full::new(Bytes::from(payload)))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        r.into_body().collect().await.unwrap().to_bytes().len(),
        1000
    );

    let (count, bytes) = dist(
        &state,
        "http/server_response_bytes",
        200,
        "/items/{id}",
        false,
    )
    .await;
    assert_eq!((count, bytes), (3, 21.0), "three responses of 7 bytes");
    assert_eq!(
        dist(&state, "http/server_durations", 200, "/items/{id}", true)
            .await
            .0,
        1
    );
    assert_eq!(status_count(&state, 200, "/items/{id}", false), 3);
    assert_eq!(status_count(&state, 404, UNMATCHED, false), 1);
    let (_, request) = dist(&state, "http/server_request_bytes", 200, "/echo", false).await;
    let (_, response) = dist(&state, "http/server_response_bytes", 200, "/echo", false).await;
    assert_eq!((request, response), (1000.0, 1000.0));

    // No raw path or user agent became a label value.
    let text = state.encode(tsmon::exposition::Format::Text);
    assert!(!text.contains("aaaa") && !text.contains("uaua") && !text.contains("/items/9"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_is_a_500() {
    for layer in LAYERS {
        a_panicking_handler_is_a_500_with(layer).await;
    }
}

async fn a_panicking_handler_is_a_500_with(layer: Layer) {
    eprintln!("the {layer:?} layer");
    let state = State::builder().build().unwrap();
    let addr = serve(&state, layer).await;
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let r = client
        .request(
            hyper::Request::get(format!("http://{addr}/panic"))
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await;
    assert!(r.is_err(), "the connection was dropped by the panic");
    assert_eq!(
        dist(&state, "http/server_durations", 500, "/panic", false)
            .await
            .0,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lying_content_length_does_not_inflate_the_bytes() {
    for layer in LAYERS {
        a_lying_content_length_does_not_inflate_the_bytes_with(layer).await;
    }
}

async fn a_lying_content_length_does_not_inflate_the_bytes_with(layer: Layer) {
    eprintln!("the {layer:?} layer");
    let state = State::builder().build().unwrap();
    let addr = serve(&state, layer).await;
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n0123456789")
        .await
        .unwrap();
    // The body never comes: the client gives up.
    s.shutdown().await.unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let (status, bytes) = loop {
        let snap = state.snapshot();
        let found = snap.metric("http/server_request_bytes").and_then(|m| {
            m.cells().iter().find_map(|c| {
                let fields: Vec<_> = m.field_values(c).collect();
                (fields.get(1) == Some(&Str("/echo"))).then(|| match (fields[0], c.value()) {
                    (Int(status), Value::Distribution(d)) => (status, d.sum()),
                    _ => (0, -1.0),
                })
            })
        });
        if let Some(f) = found {
            break f;
        }
        assert!(tokio::time::Instant::now() < deadline, "not recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        bytes <= 10.0,
        "at most the 10 bytes sent, not 100000: {bytes}"
    );
    assert!(status == 400 || status == 499, "status {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_leaving_mid_response_counts_what_was_sent() {
    for layer in LAYERS {
        a_client_leaving_mid_response_counts_what_was_sent_with(layer).await;
    }
}

async fn a_client_leaving_mid_response_counts_what_was_sent_with(layer: Layer) {
    eprintln!("the {layer:?} layer");
    let state = State::builder().build().unwrap();
    let addr = serve(&state, layer).await;
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 8192];
    let mut got = 0;
    while got < 4096 {
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0);
        got += n;
    }
    drop(s);
    let (count, sent) = dist(&state, "http/server_response_bytes", 200, "/stream", false).await;
    assert_eq!(count, 1);
    assert!(sent < 1_024_000.0, "not the full body: {sent}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_state_serves_bodies_unchanged() {
    for layer in LAYERS {
        let settings = tsmon::settings::Settings {
            enabled: false,
            ..tsmon::settings::Settings::default()
        };
        let state = State::builder().with_settings(settings).build().unwrap();
        let addr = serve(&state, layer).await;
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let r = client
            .request(
                hyper::Request::get(format!("http://{addr}/items/1"))
                    .body(Full::new(Bytes::new()))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{layer:?}");
        let body = r.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"an item", "{layer:?}");
        let payload = vec![b'p'; 1000];
        let r = client
            .request(
                hyper::Request::post(format!("http://{addr}/echo"))
                    .body(Full::new(Bytes::from(payload.clone())))
                    .unwrap(),
            )
            .await
            .unwrap();
        let echoed = r.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&echoed[..], &payload[..], "{layer:?}");
        let snap = state.snapshot();
        for metric in ["http/server_response_status", "http/server_durations"] {
            let cells = snap.metric(metric).map_or(0, |m| m.cells().len());
            assert_eq!(cells, 0, "{layer:?}: {metric} recorded while disabled");
        }
    }
}
