//! The gRPC layers on real tonic traffic over loopback: a tonic server and client generated
//! from `examples/proto/echo.proto`, each behind tsmon's layer, recording into a State of the
//! test's own.

use std::pin::Pin;
use std::time::Duration;

use prost::Message as _;
use tokio_stream::Stream;
use tonic::{Code, Request, Response, Status};
use tsmon::State;
use tsmon::field::FieldValue::{self, Int, Str};
use tsmon::grpc::{GrpcClientMetricsLayer, GrpcServerMetricsLayer, UNKNOWN_METHOD};
use tsmon::store::Value;

/// The code tonic generates from `echo.proto` (its style is tonic's, not this crate's).
#[allow(unused_qualifications, missing_docs, unreachable_pub, clippy::all)]
mod echo {
    tonic::include_proto!("echo");
}

use echo::echo_client::EchoClient;
use echo::echo_server::{Echo, EchoServer};
use echo::{SayReply, SayRequest, StreamRequest};

struct Service;

type Replies = Pin<Box<dyn Stream<Item = Result<SayReply, Status>> + Send>>;

#[tonic::async_trait]
impl Echo for Service {
    async fn say(&self, req: Request<SayRequest>) -> Result<Response<SayReply>, Status> {
        let req = req.into_inner();
        if req.panic {
            let empty: Vec<u8> = Vec::new();
            let _ = empty[std::hint::black_box(0)]; // a handler bug
        }
        if req.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(req.delay_ms)).await;
        }
        if req.fail_with != 0 {
            return Err(Status::new(req.fail_with.into(), "asked to fail"));
        }
        Ok(Response::new(SayReply {
            text: req.text,
            payload: req.payload,
        }))
    }

    type StreamStream = Replies;

    async fn stream(&self, req: Request<StreamRequest>) -> Result<Response<Replies>, Status> {
        let req = req.into_inner();
        let delay = Duration::from_millis(req.delay_ms);
        let replies = futures_util::stream::unfold(0u32, move |i| async move {
            if i >= req.count {
                return None;
            }
            tokio::time::sleep(delay).await;
            let reply = SayReply {
                text: format!("reply {i}"),
                payload: Vec::new(),
            };
            Some((Ok(reply), i + 1))
        });
        let end = futures_util::stream::iter(
            (req.fail_with != 0).then(|| Err(Status::new(req.fail_with.into(), "stream ends"))),
        );
        Ok(Response::new(Box::pin(futures_util::StreamExt::chain(
            replies, end,
        ))))
    }
}

type Channel = tsmon::grpc::GrpcClientMetrics<tonic::transport::Channel>;

/// A server and a client on loopback, both recording into `state`.
async fn start(state: &State, server: GrpcServerMetricsLayer) -> (EchoClient<Channel>, Channel) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .layer(server.with_state(state.clone()))
            .add_service(EchoServer::new(Service))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let channel = tower::ServiceBuilder::new()
        .layer(GrpcClientMetricsLayer::new().with_state(state.clone()))
        .service(channel);
    (EchoClient::new(channel.clone()), channel)
}

fn int(state: &State, metric: &str, fields: &[FieldValue<'_>]) -> i64 {
    state
        .snapshot()
        .metric(metric)
        .and_then(|m| m.find(fields))
        .map_or(0, |c| match c.value() {
            Value::Int(n) => *n,
            other => panic!("{metric} is {other:?}"),
        })
}

/// (count, sum) of a distribution series, or (0, 0) when it is not there.
fn dist(state: &State, metric: &str, fields: &[FieldValue<'_>]) -> (i64, f64) {
    state
        .snapshot()
        .metric(metric)
        .and_then(|m| m.find(fields))
        .map_or((0, 0.0), |c| match c.value() {
            Value::Distribution(d) => (d.count(), d.sum()),
            other => panic!("{metric} is {other:?}"),
        })
}

/// Polls until `f` holds (the server records when hyper drops the response stream, which
/// may come a moment after the client has its answer).
async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn server_calls(state: &State, method: &str, code: Code) -> i64 {
    let name = tsmon::grpc::canonical_code(code as i64);
    int(
        state,
        "grpc/server/calls",
        &[Str(method), Int(code as i64), Str(&name)],
    )
}

fn client_calls(state: &State, method: &str, code: Code) -> i64 {
    let name = tsmon::grpc::canonical_code(code as i64);
    int(state, "grpc/client/calls", &[Str(method), Str(&name)])
}

const SAY: &str = "/echo.Echo/Say";
const STREAM: &str = "/echo.Echo/Stream";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unary_ok_and_a_10000_byte_message_counted_exactly() {
    let state = State::builder().build().unwrap();
    let (mut client, _) = start(&state, GrpcServerMetricsLayer::new()).await;
    let req = SayRequest {
        text: "hi".into(),
        payload: vec![7; 10_000],
        ..SayRequest::default()
    };
    let size = req.encoded_len() as f64;
    assert!(size > 10_000.0);
    let reply = client.say(req.clone()).await.unwrap().into_inner();
    let reply_size = reply.encoded_len() as f64;
    eventually("the server's OK", || {
        server_calls(&state, SAY, Code::Ok) == 1
    })
    .await;
    assert_eq!(client_calls(&state, SAY, Code::Ok), 1);
    let m = [Str(SAY)];
    assert_eq!(dist(&state, "grpc/server/received_bytes", &m), (1, size));
    assert_eq!(dist(&state, "grpc/server/sent_bytes", &m), (1, reply_size));
    assert_eq!(dist(&state, "grpc/server/received_messages", &m), (1, 1.0));
    assert_eq!(dist(&state, "grpc/server/sent_messages", &m), (1, 1.0));
    assert_eq!(dist(&state, "grpc/client/sent_bytes", &m), (1, size));
    assert_eq!(
        dist(&state, "grpc/client/received_bytes", &m),
        (1, reply_size)
    );
    assert_eq!(dist(&state, "grpc/client/sent_messages", &m), (1, 1.0));
    assert_eq!(dist(&state, "grpc/client/received_messages", &m), (1, 1.0));
    let ok = [Str(SAY), Int(0), Str("OK")];
    assert_eq!(dist(&state, "grpc/server/duration", &ok).0, 1);
    assert_eq!(
        dist(&state, "grpc/client/duration", &[Str(SAY), Str("OK")]).0,
        1
    );
    assert_eq!(int(&state, "grpc/server/in_flight", &m), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_error_code_reaches_its_own_series() {
    let state = State::builder().build().unwrap();
    let (mut client, _) = start(&state, GrpcServerMetricsLayer::new()).await;
    // Prime the method so it is known (not needed for the counts, only for in-flight).
    client.say(SayRequest::default()).await.unwrap();
    for code in 1..=16 {
        let err = client
            .say(SayRequest {
                fail_with: code,
                ..SayRequest::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err.code() as i32, code);
    }
    for code in 1..=16 {
        let code = Code::from_i32(code);
        eventually(&format!("server {code:?}"), || {
            server_calls(&state, SAY, code) == 1
        })
        .await;
        assert_eq!(client_calls(&state, SAY, code), 1, "client {code:?}");
    }
    // Nothing was recorded as OK but the priming call: the status came in the trailers.
    assert_eq!(server_calls(&state, SAY, Code::Ok), 1);
    assert_eq!(client_calls(&state, SAY, Code::Ok), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_stream_ending_in_an_error_is_read_from_its_trailers() {
    let state = State::builder().build().unwrap();
    let (mut client, _) = start(&state, GrpcServerMetricsLayer::new()).await;
    let mut stream = client
        .stream(StreamRequest {
            count: 3,
            fail_with: Code::Aborted as i32,
            delay_ms: 1,
        })
        .await
        .unwrap()
        .into_inner();
    let mut n = 0;
    let end = loop {
        match stream.message().await {
            Ok(Some(_)) => n += 1,
            Ok(None) => panic!("the stream ended OK"),
            Err(s) => break s.code(),
        }
    };
    assert_eq!((n, end), (3, Code::Aborted));
    eventually("the server's ABORTED", || {
        server_calls(&state, STREAM, Code::Aborted) == 1
    })
    .await;
    eventually("the client's ABORTED", || {
        client_calls(&state, STREAM, Code::Aborted) == 1
    })
    .await;
    assert_eq!(server_calls(&state, STREAM, Code::Ok), 0);
    let m = [Str(STREAM)];
    assert_eq!(dist(&state, "grpc/server/sent_messages", &m), (1, 3.0));
    assert_eq!(dist(&state, "grpc/client/received_messages", &m), (1, 3.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_cancelling_mid_stream_is_cancelled_on_both_sides() {
    let state = State::builder().build().unwrap();
    let (mut client, _) = start(&state, GrpcServerMetricsLayer::new()).await;
    // Known first, so the cancelled call is in the in-flight gauge.
    client
        .stream(StreamRequest::default())
        .await
        .unwrap()
        .into_inner()
        .message()
        .await
        .unwrap();
    let mut stream = client
        .stream(StreamRequest {
            count: 100_000,
            fail_with: 0,
            delay_ms: 5,
        })
        .await
        .unwrap()
        .into_inner();
    stream.message().await.unwrap().unwrap();
    stream.message().await.unwrap().unwrap();
    assert_eq!(int(&state, "grpc/server/in_flight", &[Str(STREAM)]), 1);
    drop(stream);
    eventually("the server's CANCELLED", || {
        server_calls(&state, STREAM, Code::Cancelled) == 1
    })
    .await;
    assert_eq!(client_calls(&state, STREAM, Code::Cancelled), 1);
    assert_eq!(int(&state, "grpc/server/in_flight", &[Str(STREAM)]), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_is_internal_and_releases_in_flight() {
    let state = State::builder().build().unwrap();
    let (mut client, _) = start(&state, GrpcServerMetricsLayer::new()).await;
    client.say(SayRequest::default()).await.unwrap();
    let err = client
        .say(SayRequest {
            panic: true,
            ..SayRequest::default()
        })
        .await
        .unwrap_err();
    eventually("the server's INTERNAL", || {
        server_calls(&state, SAY, Code::Internal) == 1
    })
    .await;
    assert_eq!(int(&state, "grpc/server/in_flight", &[Str(SAY)]), 0);
    // The client recorded the error under the code tonic gave it (the server resets the
    // stream with CANCEL when its task panics).
    let name = tsmon::grpc::canonical_code(err.code() as i64);
    assert_ne!(err.code(), Code::Ok);
    assert_eq!(
        int(&state, "grpc/client/calls", &[Str(SAY), Str(&name)]),
        1,
        "{err:?}"
    );
    // The server goes on serving.
    client.say(SayRequest::default()).await.unwrap();
    eventually("a second OK", || server_calls(&state, SAY, Code::Ok) == 2).await;
}

/// Calls `path` with the echo service's unary codec.
async fn call_path(channel: Channel, path: &'static str) -> Status {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let codec = tonic_prost::ProstCodec::<SayRequest, SayReply>::default();
    grpc.unary(
        Request::new(SayRequest::default()),
        http::uri::PathAndQuery::from_static(path),
        codec,
    )
    .await
    .unwrap_err()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_methods_map_to_one_constant() {
    let state = State::builder().build().unwrap();
    let (mut client, channel) = start(&state, GrpcServerMetricsLayer::new()).await;
    for path in ["/echo.Echo/Nope", "/other.Service/Call", "/echo.Echo/Nope"] {
        assert_eq!(
            call_path(channel.clone(), path).await.code(),
            Code::Unimplemented
        );
    }
    client.say(SayRequest::default()).await.unwrap();
    eventually("three UNIMPLEMENTED", || {
        server_calls(&state, UNKNOWN_METHOD, Code::Unimplemented) == 3
    })
    .await;
    eventually("the real method", || {
        server_calls(&state, SAY, Code::Ok) == 1
    })
    .await;
    let snap = state.snapshot();
    for metric in ["grpc/server/calls", "grpc/server/received_messages"] {
        let m = snap.metric(metric).unwrap();
        let methods: Vec<String> = m
            .cells()
            .iter()
            .map(|c| m.field_values(c).next().unwrap().to_string())
            .collect();
        assert!(
            methods.iter().all(|m| m == SAY || m == UNKNOWN_METHOD),
            "{metric}: {methods:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_methods_only() {
    let state = State::builder().build().unwrap();
    let layer = GrpcServerMetricsLayer::new().with_methods([SAY]);
    let (mut client, _) = start(&state, layer).await;
    client.say(SayRequest::default()).await.unwrap();
    client
        .stream(StreamRequest {
            count: 1,
            ..StreamRequest::default()
        })
        .await
        .unwrap()
        .into_inner()
        .message()
        .await
        .unwrap();
    eventually("Say by name", || server_calls(&state, SAY, Code::Ok) == 1).await;
    // Stream is served, but not declared.
    eventually("Stream as unknown", || {
        server_calls(&state, UNKNOWN_METHOD, Code::Ok) == 1
    })
    .await;
    assert_eq!(server_calls(&state, STREAM, Code::Ok), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_call_is_in_flight_while_it_runs() {
    let state = State::builder().build().unwrap();
    let layer = GrpcServerMetricsLayer::new().with_methods([SAY]);
    let (mut client, _) = start(&state, layer).await;
    let slow = tokio::spawn(async move {
        client
            .say(SayRequest {
                delay_ms: 300,
                ..SayRequest::default()
            })
            .await
    });
    eventually("one call in flight", || {
        int(&state, "grpc/server/in_flight", &[Str(SAY)]) == 1
    })
    .await;
    slow.await.unwrap().unwrap();
    eventually("none in flight", || {
        int(&state, "grpc/server/in_flight", &[Str(SAY)]) == 0
    })
    .await;
    let (n, secs) = dist(
        &state,
        "grpc/server/duration",
        &[Str(SAY), Int(0), Str("OK")],
    );
    assert_eq!(n, 1);
    assert!(secs >= 0.3, "{secs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_with_no_server_counts_unavailable() {
    let state = State::builder().build().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy();
    let channel = tower::ServiceBuilder::new()
        .layer(GrpcClientMetricsLayer::new().with_state(state.clone()))
        .service(channel);
    let err = EchoClient::new(channel)
        .say(SayRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert_eq!(client_calls(&state, SAY, Code::Unavailable), 1);
}
