tsmon::metric! {
    /// Unknown option.
    #[tsmon(colour = red)]
    static A: Counter = "opt/a";
    /// Repeated option.
    #[tsmon(units = seconds, units = bytes)]
    static B: Counter = "opt/b";
    /// Unknown unit.
    #[tsmon(units = parsecs)]
    static C: FloatGauge = "opt/c";
    /// Time unit on a string.
    #[tsmon(units = seconds)]
    static D: StringMetric = "opt/d";
    /// Time unit on a bool.
    #[tsmon(units = milliseconds)]
    static F: BoolMetric = "opt/f";
    /// Zero series.
    #[tsmon(max_series = 0)]
    static E: Counter = "opt/e";
}

fn main() {}
