tsmon::metric! {
    /// A constant is not a metric.
    pub const REQUESTS: Counter = "http/requests";
}

fn main() {}
