tsmon::metric! {
    /// Reserved, double-underscore and repeated field names.
    static A: Counter(service_name: String, __hidden: bool, route: String, route: i64) = "http/a";
    /// A field type that is not String, i64 or bool.
    static B: Counter(code: u32) = "http/b";
    /// A string metric's `value` label is taken.
    static C: StringMetric(value: String) = "http/c";
}

fn main() {}
