//! A test worker whose monitor takes 1.5 s per send (`tsmon_tests::SlowFileMonitor`, writing to
//! the file `WORKER_OUT` names), started with `tsmon::flush::start_main`.

use std::time::Duration;

fn main() {
    let out = std::env::var("WORKER_OUT").expect("WORKER_OUT");
    let monitor = tsmon_tests::SlowFileMonitor::new(out, Duration::from_millis(1500));
    let _tsmon = tsmon::flush::start_main(
        tsmon::State::builder()
            .with_target(tsmon::Target::new("tsmon-tests", "worker-slow"))
            .with_monitor(monitor),
    )
    .expect("tsmon");
    tsmon_tests::worker::run();
}
