//! A loop of instrumented calls: run it under `valgrind --tool=callgrind`, or alone for a quick
//! ns-per-call figure (the best of several runs) against the bare fn.
use std::hint::black_box;
use std::time::Instant;

#[inline(never)]
fn work(x: u64) -> Result<u64, ()> {
    let y = black_box(x).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    if y == 1 { Err(()) } else { Ok(y) }
}

#[inline(never)]
fn bare(x: u64) -> Result<u64, ()> {
    work(x)
}

#[inline(never)]
#[tsmon::instrument]
fn tsmon_sync(x: u64) -> Result<u64, ()> {
    work(x)
}

#[inline(never)]
#[tsmon::instrument(in_flight = false)]
fn no_in_flight(x: u64) -> Result<u64, ()> {
    work(x)
}

#[inline(never)]
#[tsmon::instrument(latency = false)]
fn no_latency(x: u64) -> Result<u64, ()> {
    work(x)
}

#[inline(never)]
#[tsmon::instrument(latency = false, in_flight = false)]
fn calls_only(x: u64) -> Result<u64, ()> {
    work(x)
}

fn best(n: u64, f: fn(u64) -> Result<u64, ()>) -> f64 {
    (0..7)
        .map(|_| {
            let start = Instant::now();
            for i in 0..n {
                let _ = black_box(f(black_box(i)));
            }
            start.elapsed().as_nanos() as f64 / n as f64
        })
        .fold(f64::INFINITY, f64::min)
}

tsmon::metric! {
    /// A distribution.
    #[tsmon(bucketer = geometric_with_scale(2.0, 30, 0.000001))]
    static DIST: CumulativeDistribution = "profile/dist";
    /// A counter.
    static COUNT: Counter = "profile/hits";
}

fn best_loop(n: u64, mut f: impl FnMut(u64)) -> f64 {
    (0..7)
        .map(|_| {
            let start = Instant::now();
            for i in 0..n {
                f(black_box(i));
            }
            start.elapsed().as_nanos() as f64 / n as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let d = DIST.handle(());
    let c = COUNT.handle(());
    println!(
        "dist add: {:.2} ns",
        best_loop(2_000_000, |i| d
            .add(black_box(1e-4 + (i & 7) as f64 * 1e-6)))
    );
    let b = tsmon::distribution::BucketerSpec::geometric_with_scale(2.0, 30, 1e-6)
        .bucketer()
        .unwrap();
    println!(
        "bucket: {:.2} ns",
        best_loop(2_000_000, |i| {
            black_box(b.bucket(black_box(1e-4 + (i & 7) as f64 * 1e-6)));
        })
    );
    let b2 = tsmon::distribution::BucketerSpec::DEFAULT
        .bucketer()
        .unwrap();
    println!(
        "bucket default: {:.2} ns",
        best_loop(2_000_000, |i| {
            black_box(b2.bucket(black_box(1e-4 + (i & 7) as f64 * 1e-6)));
        })
    );
    println!("counter inc: {:.2} ns", best_loop(2_000_000, |_| c.inc()));
    println!(
        "rdtsc x2: {:.2} ns",
        best_loop(2_000_000, |_| {
            let a = unsafe { core::arch::x86_64::_rdtsc() };
            let b = unsafe { core::arch::x86_64::_rdtsc() };
            black_box(b - a);
        })
    );
    let _ = tsmon::State::global();
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let (b, t) = (best(n, bare), best(n, tsmon_sync));
    println!("bare {b:.2} ns, tsmon {t:.2} ns, overhead {:.2} ns", t - b);
    for (name, f) in [
        ("no_in_flight", no_in_flight as fn(u64) -> Result<u64, ()>),
        ("no_latency", no_latency),
        ("calls_only", calls_only),
    ] {
        println!("{name}: overhead {:.2} ns", best(n, f) - b);
    }
}
