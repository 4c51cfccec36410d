//! A test worker: `#[tokio::main]` above `#[tsmon::main]` (tokio rewrites `main` first).

#[tokio::main(flavor = "current_thread")]
#[tsmon::main(service = "tsmon-tests", job = "worker-tokio-above")]
async fn main() {
    tsmon_tests::worker::run();
}
