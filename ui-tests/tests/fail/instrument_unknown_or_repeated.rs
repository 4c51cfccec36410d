//! Unknown and repeated arguments; every one is reported, and the fns are still emitted.

#[tsmon::instrument(colour = "red")]
fn unknown() {}

#[tsmon::instrument(name = "a", name = "b")]
fn repeated() {}

#[tsmon::instrument(in_flight = false, latency = false, latency = true)]
fn repeated_flag() {}

#[tsmon::instrument(skip(x))]
fn unknown_list(x: u32) -> u32 {
    x
}

fn main() {
    unknown();
    repeated();
    repeated_flag();
    let _ = unknown_list(1);
}
