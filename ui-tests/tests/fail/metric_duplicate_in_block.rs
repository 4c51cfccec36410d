tsmon::metric! {
    /// First.
    static A: Counter = "dup/name";
    /// Second.
    static B: IntGauge = "dup/name";
}

fn main() {}
