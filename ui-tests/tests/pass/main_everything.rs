//! #[tsmon::main] with every argument, on an async main, under strict lints.
#![forbid(unsafe_code)]
#![deny(missing_docs, unused_qualifications, clippy::all, clippy::pedantic)]

use tsmon as renamed;

/// The entry point.
#[renamed::main(
    service = "ui",
    job = "pass",
    data_center = "dc1",
    host = "host-1",
    instance_id = "ui-pass",
    allocator = renamed::tasknum::FixedAllocator::new(2),
    dev_mode = false,
    flavor = "multi_thread",
    worker_threads = 2,
    crate = renamed,
)]
async fn main() {
    let state = renamed::State::global();
    assert_eq!(state.store().default_target().data_center, "dc1");
    assert_eq!(state.instance_id(), "ui-pass");
}
