//! gRPC server and client metrics on real tonic traffic over loopback: a tonic server behind
//! `GrpcServerMetricsLayer`, a client whose channel goes through `GrpcClientMetricsLayer`, a
//! few calls that succeed, fail and stream, then what tsmon recorded.
//!
//! `cargo run --example grpc` prints a table of the calls by method and code, and the
//! counters and distribution counts of the `grpc_*` families in the text exposition.

use std::pin::Pin;
use std::time::Duration;

use tokio_stream::Stream;
use tonic::{Request, Response, Status};
use tsmon::State;
use tsmon::grpc::{GrpcClientMetricsLayer, GrpcServerMetricsLayer};

/// The code tonic generates from `proto/echo.proto` (its style is tonic's, not this crate's).
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
        let replies = (0..req.count).map(|i| {
            Ok(SayReply {
                text: format!("reply {i}"),
                payload: Vec::new(),
            })
        });
        let end =
            (req.fail_with != 0).then(|| Err(Status::new(req.fail_with.into(), "stream ends")));
        Ok(Response::new(Box::pin(tokio_stream::iter(
            replies.chain(end),
        ))))
    }
}

#[tsmon::main(service = "grpc-example", job = "demo")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(
        tonic::transport::Server::builder()
            .layer(GrpcServerMetricsLayer::new())
            .add_service(EchoServer::new(Service))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );

    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await?;
    let channel = tower::ServiceBuilder::new()
        .layer(GrpcClientMetricsLayer::new())
        .service(channel);
    let mut client = EchoClient::new(channel);

    for i in 0..5 {
        client
            .say(SayRequest {
                text: format!("hello {i}"),
                payload: vec![0; 100 * i],
                ..SayRequest::default()
            })
            .await?;
    }
    let err = client
        .say(SayRequest {
            fail_with: tonic::Code::NotFound as i32,
            ..SayRequest::default()
        })
        .await
        .unwrap_err();
    println!("a failing call returned {:?}", err.code());
    let mut stream = client
        .stream(StreamRequest {
            count: 3,
            fail_with: tonic::Code::Aborted as i32,
            delay_ms: 0,
        })
        .await?
        .into_inner();
    let mut replies = 0;
    let end = loop {
        match stream.message().await {
            Ok(Some(_)) => replies += 1,
            Ok(None) => break tonic::Code::Ok,
            Err(s) => break s.code(),
        }
    };
    println!("a stream sent {replies} replies, then {end:?}");
    drop(stream);

    print_calls(State::global());
    Ok(())
}

/// The calls each side recorded, then the `grpc_*` lines a scrape would show.
fn print_calls(state: &State) {
    use tsmon::store::Value;
    let snap = state.snapshot();
    println!(
        "\n{:<8} {:<22} {:<18} {:>5}",
        "side", "method", "code", "calls"
    );
    for (side, name) in [
        ("server", "grpc/server/calls"),
        ("client", "grpc/client/calls"),
    ] {
        let Some(m) = snap.metric(name) else { continue };
        for cell in m.cells() {
            let fields: Vec<String> = m.field_values(cell).map(|v| v.to_string()).collect();
            let Value::Int(n) = cell.value() else {
                continue;
            };
            let code = fields.last().cloned().unwrap_or_default();
            println!("{side:<8} {:<22} {code:<18} {n:>5}", fields[0]);
        }
    }
    println!();
    let text = state.encode(tsmon::exposition::Format::Text);
    for line in text
        .lines()
        .filter(|l| l.starts_with("grpc_") && (l.contains("_total{") || l.contains("_count{")))
    {
        println!("{line}");
    }
}
