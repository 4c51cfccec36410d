//! A test worker: `#[tsmon::main]` on a sync `main`.

#[tsmon::main(service = "tsmon-tests", job = "worker-sync")]
fn main() {
    tsmon_tests::worker::run();
}
