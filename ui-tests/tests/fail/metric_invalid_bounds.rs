tsmon::metric! {
    /// No bounds.
    #[tsmon(bucketer = bounds())]
    static A: CumulativeDistribution = "bounds/a";
    /// Out of order.
    #[tsmon(bucketer = bounds(0.005, 0.01, 0.0075, 1.0))]
    static B: CumulativeDistribution = "bounds/b";
    /// A repeated bound.
    #[tsmon(bucketer = bounds(1, 2, 2))]
    static C: CumulativeDistribution = "bounds/c";
    /// Not finite.
    #[tsmon(bucketer = bounds(1.0, 1e999))]
    static D: CumulativeDistribution = "bounds/d";
    /// Not a number.
    #[tsmon(bucketer = bounds(1.0, "two"))]
    static E: CumulativeDistribution = "bounds/e";
}

fn main() {}
