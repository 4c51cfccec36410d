//! A test worker: `#[tsmon::main]` on an `async fn main`, the runtime built by tsmon.

#[tsmon::main(service = "tsmon-tests", job = "worker-async")]
async fn main() {
    tsmon_tests::worker::run();
}
