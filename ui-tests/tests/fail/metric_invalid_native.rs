tsmon::metric! {
    /// A schema out of range.
    #[tsmon(bucketer = native(9))]
    static A: CumulativeDistribution = "native/a";
    /// A factor that does not grow.
    #[tsmon(bucketer = native(factor = 1.0))]
    static B: CumulativeDistribution = "native/b";
    /// No buckets at all.
    #[tsmon(bucketer = native(3, max_buckets = 0))]
    static C: CumulativeDistribution = "native/c";
    /// A negative zero threshold.
    #[tsmon(bucketer = native(3, zero_threshold = -1.0))]
    static D: CumulativeDistribution = "native/d";
    /// A schema and a factor.
    #[tsmon(bucketer = native(3, factor = 1.1))]
    static E: CumulativeDistribution = "native/e";
    /// An unknown option.
    #[tsmon(bucketer = native(3, buckets = 10))]
    static F: CumulativeDistribution = "native/f";
    /// No schema.
    #[tsmon(bucketer = native())]
    static G: CumulativeDistribution = "native/g";
}

fn main() {}
