tsmon::metric! {
    /// Empty.
    static A: Counter = "";
    /// Empty segment.
    static B: Counter = "http//requests";
    /// Bad character.
    static C: Counter = "http/requests!";
    /// Starts with a digit.
    static D: Counter = "5xx/requests";
    /// A suffix the exposition adds.
    static E: Counter = "http/requests_total";
    /// Reserved by Prometheus.
    static F: IntGauge = "__internal";
}

fn main() {}
