//! The per-RPC cost of tsmon's gRPC layers: a loopback unary call to a tonic server, bare,
//! with tsmon's server layer, its client layer, both, and with `#[autometrics]` on the
//! handler (the peer a tonic user would pick), in the same run.
//!
//! The server runs on a runtime of its own (one worker), the client on the bench thread, so
//! each side has a core on a two-core machine. Overhead = time − bare, reported as a share of
//! the bare call by `summarize.py`.

use std::time::{Duration, Instant};

use autometrics::autometrics;
use criterion::{Criterion, criterion_group, criterion_main};
use tonic::{Request, Response, Status};
use tsmon::grpc::{GrpcClientMetricsLayer, GrpcServerMetricsLayer};

/// The code tonic generates from `echo.proto` (its style is tonic's, not this crate's).
#[allow(unused_qualifications, missing_docs, unreachable_pub, clippy::all)]
mod echo {
    tonic::include_proto!("echo");
}

use echo::echo_client::EchoClient;
use echo::echo_server::{Echo, EchoServer};
use echo::{SayReply, SayRequest, StreamRequest};

struct Plain;
struct WithAutometrics;

type Replies = std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<SayReply, Status>> + Send>>;

fn reply(req: SayRequest) -> SayReply {
    SayReply {
        text: req.text,
        payload: req.payload,
    }
}

#[autometrics]
async fn say_measured(req: SayRequest) -> Result<SayReply, Status> {
    Ok(reply(req))
}

#[tonic::async_trait]
impl Echo for Plain {
    async fn say(&self, req: Request<SayRequest>) -> Result<Response<SayReply>, Status> {
        Ok(Response::new(reply(req.into_inner())))
    }
    type StreamStream = Replies;
    async fn stream(&self, _: Request<StreamRequest>) -> Result<Response<Replies>, Status> {
        Err(Status::unimplemented("not here"))
    }
}

#[tonic::async_trait]
impl Echo for WithAutometrics {
    async fn say(&self, req: Request<SayRequest>) -> Result<Response<SayReply>, Status> {
        say_measured(req.into_inner()).await.map(Response::new)
    }
    type StreamStream = Replies;
    async fn stream(&self, _: Request<StreamRequest>) -> Result<Response<Replies>, Status> {
        Err(Status::unimplemented("not here"))
    }
}

/// A bench of `iters` unary calls made one after another on `rt`, through `client`.
macro_rules! unary_calls {
    ($group:expr, $name:expr, $rt:expr, $client:expr, $request:expr) => {
        $group.bench_function($name, |b| {
            b.iter_custom(|iters| {
                let mut client = $client.clone();
                $rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        client.say($request()).await.unwrap();
                    }
                    start.elapsed()
                })
            });
        });
    };
}

#[derive(Clone, Copy)]
enum Variant {
    Bare,
    Server,
    Client,
    Both,
    Autometrics,
}

fn bench(c: &mut Criterion) {
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("grpc_unary");
    group.measurement_time(Duration::from_secs(8));
    for (name, variant) in [
        ("bare", Variant::Bare),
        ("tsmon_server", Variant::Server),
        ("tsmon_client", Variant::Client),
        ("tsmon_both", Variant::Both),
        ("autometrics_handler", Variant::Autometrics),
    ] {
        let addr = server_rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
            let server = tonic::transport::Server::builder();
            match variant {
                Variant::Server | Variant::Both => {
                    tokio::spawn(
                        server
                            .layer(GrpcServerMetricsLayer::new())
                            .add_service(EchoServer::new(Plain))
                            .serve_with_incoming(incoming),
                    );
                }
                Variant::Autometrics => {
                    tokio::spawn(
                        server
                            .clone()
                            .add_service(EchoServer::new(WithAutometrics))
                            .serve_with_incoming(incoming),
                    );
                }
                Variant::Bare | Variant::Client => {
                    tokio::spawn(
                        server
                            .clone()
                            .add_service(EchoServer::new(Plain))
                            .serve_with_incoming(incoming),
                    );
                }
            }
            addr
        });
        let channel = client_rt.block_on(async {
            tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
                .unwrap()
                .connect()
                .await
                .unwrap()
        });
        let request = || SayRequest {
            text: "hello".into(),
            payload: vec![1; 64],
            ..SayRequest::default()
        };
        match variant {
            Variant::Client | Variant::Both => {
                let channel = tower::ServiceBuilder::new()
                    .layer(GrpcClientMetricsLayer::new())
                    .service(channel);
                let client = EchoClient::new(channel);
                unary_calls!(group, name, client_rt, client, request);
            }
            _ => {
                let client = EchoClient::new(channel);
                unary_calls!(group, name, client_rt, client, request);
            }
        }
    }
    group.finish();
}

/// One unary call's request body: the message in gRPC's framing.
fn framed(req: &SayRequest) -> bytes::Bytes {
    use prost::Message as _;
    let mut buf = vec![0u8];
    buf.extend_from_slice(&(req.encoded_len() as u32).to_be_bytes());
    req.encode(&mut buf).unwrap();
    buf.into()
}

/// The server side without the network: a request handed to the tonic service (bare, behind
/// tsmon's layer, or with autometrics on the handler) and its response read to the trailers.
/// The difference to bare is what the layer adds to each RPC, in nanoseconds.
fn bench_in_process(c: &mut Criterion) {
    use http_body_util::BodyExt as _;
    use tower::{Layer as _, Service as _};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let body = framed(&SayRequest {
        text: "hello".into(),
        payload: vec![1; 64],
        ..SayRequest::default()
    });
    let request = move || {
        http::Request::post("http://localhost/echo.Echo/Say")
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(tonic::body::Body::new(http_body_util::Full::new(
                body.clone(),
            )))
            .unwrap()
    };
    let mut group = c.benchmark_group("grpc_server_in_process");
    macro_rules! run {
        ($name:expr, $svc:expr) => {{
            let svc = $svc;
            let request = request.clone();
            group.bench_function($name, |b| {
                b.iter_custom(|iters| {
                    let mut svc = svc.clone();
                    rt.block_on(async {
                        let start = Instant::now();
                        for _ in 0..iters {
                            let resp = svc.call(request()).await.unwrap();
                            let collected = resp.into_body().collect().await.unwrap();
                            assert!(collected.trailers().is_some());
                        }
                        start.elapsed()
                    })
                });
            });
        }};
    }
    run!("bare", EchoServer::new(Plain));
    run!(
        "tsmon_server",
        GrpcServerMetricsLayer::new().layer(EchoServer::new(Plain))
    );
    run!("autometrics_handler", EchoServer::new(WithAutometrics));
    group.finish();
}

/// The client side without the network: a tonic client whose "channel" is the service itself,
/// bare and through tsmon's client layer. The difference is what the client layer adds.
fn bench_client_in_process(c: &mut Criterion) {
    use tower::Layer as _;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let request = || SayRequest {
        text: "hello".into(),
        payload: vec![1; 64],
        ..SayRequest::default()
    };
    let mut group = c.benchmark_group("grpc_client_in_process");
    let bare = EchoClient::new(EchoServer::new(Plain));
    unary_calls!(group, "bare", rt, bare, request);
    let layered = EchoClient::new(GrpcClientMetricsLayer::new().layer(EchoServer::new(Plain)));
    unary_calls!(group, "tsmon_client", rt, layered, request);
    group.finish();
}

criterion_group!(benches, bench_in_process, bench_client_in_process, bench);
criterion_main!(benches);
