//! A test worker: `#[tsmon::main]` above `#[tokio::main]` (tokio builds the runtime).

#[tsmon::main(service = "tsmon-tests", job = "worker-tokio-below")]
#[tokio::main(flavor = "current_thread")]
async fn main() {
    tsmon_tests::worker::run();
}
