//! The README's main job: declare metrics, write to them from a few threads, print what tsmon
//! would serve to Prometheus.
//!
//! `cargo run --example quickstart` prints the text exposition;
//! `-- --openmetrics` prints OpenMetrics; `-- --tsmon-list-metrics` lists the catalog.

use std::time::Instant;

use tsmon::exposition::Format;
use tsmon::{State, Target};

tsmon::metric! {
    /// Requests handled, by route and HTTP status.
    pub static REQUESTS: Counter(route: String, status: i64) = "quickstart/requests";

    /// Time spent handling a request.
    #[tsmon(units = seconds, bucketer = geometric_with_scale(2.0, 12, 0.0001))]
    pub static LATENCY: CumulativeDistribution(route: String) = "quickstart/latency";

    /// Requests being handled right now.
    pub static IN_FLIGHT: IntGauge = "quickstart/in_flight";

    /// The version of this binary.
    pub static VERSION: StringMetric = "quickstart/version";

    /// Whether the service is ready.
    pub static READY: BoolMetric = "quickstart/ready";
}

/// Looks an item up: instrumented, so its calls (by outcome), durations and in-flight count are
/// recorded under `function_*{function="lookup"}` without a line of metrics code.
#[tsmon::instrument]
fn lookup(id: u64) -> Result<u64, String> {
    if id.is_multiple_of(10) {
        return Err(format!("no item {id}"));
    }
    Ok(id * 2)
}

fn handle(route: &str, n: u64) -> i64 {
    let started = Instant::now();
    IN_FLIGHT.add(1, ());
    // Pretend to work.
    let checksum = (0..n * 1_000).fold(0u64, |acc, x| acc.wrapping_mul(31).wrapping_add(x));
    let status = match lookup(n + checksum % 10) {
        Ok(_) if checksum % 7 != 0 => 200,
        Ok(_) => 500,
        Err(_) => 404,
    };
    IN_FLIGHT.add(-1, ());
    REQUESTS.inc((route, status));
    LATENCY.add(started.elapsed().as_secs_f64(), route);
    status
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--tsmon-list-metrics") {
        print!("{}", tsmon::registry::describe());
        return;
    }
    let format = if args.iter().any(|a| a == "--openmetrics") {
        Format::OpenMetrics
    } else {
        Format::Text
    };

    let target = Target::new("quickstart", "demo").with_task_num(0);
    let state = match State::builder().with_target(target).build() {
        Ok(state) => state,
        Err(e) => {
            eprintln!("tsmon: {e}");
            std::process::exit(1);
        }
    };
    if State::set_global(state).is_err() {
        eprintln!("tsmon: a global State was already installed");
    }

    VERSION.set(env!("CARGO_PKG_VERSION"), ());
    READY.set(true, ());
    // A handle resolved once: each write is a few relaxed atomics.
    let home = REQUESTS.handle(("/home", 200));
    std::thread::scope(|s| {
        for worker in 0..4u64 {
            s.spawn(move || {
                for i in 0..250 {
                    let route = if i % 3 == 0 { "/items/{id}" } else { "/search" };
                    handle(route, 1 + (worker + i) % 5);
                }
            });
        }
    });
    home.add(42);

    print!("{}", State::global().encode(format));
}
