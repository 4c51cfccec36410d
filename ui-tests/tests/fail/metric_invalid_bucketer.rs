tsmon::metric! {
    /// Growth factor of 1.
    #[tsmon(bucketer = geometric(1.0, 10))]
    static A: CumulativeDistribution = "dist/a";
    /// No buckets.
    #[tsmon(bucketer = fixed_width(10.0, 0))]
    static B: CumulativeDistribution = "dist/b";
    /// Negative width.
    #[tsmon(bucketer = fixed_width(-1.0, 5))]
    static C: CumulativeDistribution = "dist/c";
    /// Wrong arity.
    #[tsmon(bucketer = geometric(2.0))]
    static D: CumulativeDistribution = "dist/d";
    /// Unknown bucketer.
    #[tsmon(bucketer = exponential(2.0, 3))]
    static E: CumulativeDistribution = "dist/e";
    /// A bucketer on a counter.
    #[tsmon(bucketer = default)]
    static F: Counter = "dist/f";
    /// Zero scale.
    #[tsmon(bucketer = geometric_with_scale(2.0, 4, 0.0))]
    static G: NonCumulativeDistribution = "dist/g";
}

fn main() {}
