//! A loop of instrumented calls, for `valgrind --tool=callgrind`.
use std::hint::black_box;

#[inline(never)]
fn work(x: u64) -> Result<u64, ()> {
    let y = black_box(x).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    if y == 1 { Err(()) } else { Ok(y) }
}

#[inline(never)]
#[tsmon::instrument]
fn tsmon_sync(x: u64) -> Result<u64, ()> {
    work(x)
}

fn main() {
    let _ = tsmon::State::global();
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    for i in 0..n {
        let _ = black_box(tsmon_sync(black_box(i)));
    }
}
