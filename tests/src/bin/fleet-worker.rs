//! A fleet member for the fleet test: task numbers from Redis, metrics pushed to a
//! Pushgateway (both from the environment), working until stdin closes.

#[tsmon::main(service = "tsmon-fleet", job = "fleet-worker", allocator = tsmon_tests::fleet_allocator())]
fn main() {
    tsmon_tests::worker::run();
}
