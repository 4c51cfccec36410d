//! Every kind, every field type, every option; docs and attributes kept.
#![deny(missing_docs, unused_qualifications, clippy::all, clippy::pedantic)]

tsmon::metric! {
    /// A counter.
    #[allow(dead_code)]
    pub static A: Counter(s: String, i: i64, b: bool) = "pass/a";
    /// A float counter.
    #[tsmon(units = seconds)]
    pub static B: FloatCounter = "pass/b";
    /// An int gauge.
    #[tsmon(max_series = 10)]
    pub static C: IntGauge(s: &str) = "/pass/c";
    /// A float gauge.
    #[tsmon(units = celsius)]
    pub static D: FloatGauge = "pass/d";
    /// A string.
    pub static E: StringMetric(kind: String) = "pass/e";
    /// A bool.
    pub static F: BoolMetric = "pass/f";
    /// A distribution.
    #[tsmon(units = bytes, bucketer = geometric_with_scale(2.0, 10, 0.5))]
    pub static G: CumulativeDistribution(route: String) = "pass/g-h";
    /// A gauge distribution.
    #[tsmon(bucketer = fixed_width(1, 3))]
    pub static H: NonCumulativeDistribution = "pass/h";
    /// Explicit bounds, integers and floats mixed.
    #[tsmon(units = seconds, bucketer = bounds(0.005, 0.01, 1, 2.5, 10))]
    pub static I: CumulativeDistribution = "pass/i";
    /// Native histograms: by schema, by factor, with a limit and a zero threshold.
    #[tsmon(units = seconds, bucketer = native(3))]
    pub static J: CumulativeDistribution = "pass/j";
    /// By factor.
    #[tsmon(bucketer = native(factor = 1.1, max_buckets = 40, zero_threshold = 1e-9))]
    pub static K: CumulativeDistribution = "pass/k";
    /// A negative schema.
    #[tsmon(bucketer = native(-2))]
    pub static L: NonCumulativeDistribution = "pass/l";
}

fn main() {
    A.add(1, ("x", 2, true));
    B.add(0.5, ());
    C.set(3, "y");
    D.set(1.5, ());
    E.set("v", "k");
    F.set(true, ());
    G.add(3.0, "/");
    let _ = H.get(());
    I.add(0.3, ());
    J.add(0.3, ());
    K.add(0.3, ());
    let _ = L.get(());
}
