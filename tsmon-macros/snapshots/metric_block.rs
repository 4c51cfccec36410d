/// Requests served, by route and status.
///
/// tsmon metric `example/requests`: a `Counter` with fields `route: &str`, `status: i64`.
pub static REQUESTS: ::tsmon::metric::Counter<
    (::tsmon::field::Str, ::tsmon::field::Int),
> = {
    #[::tsmon::__private::linkme::distributed_slice(::tsmon::__private::METRICS)]
    #[linkme(crate = ::tsmon::__private::linkme)]
    static __TSMON_METRIC_REQUESTS: ::tsmon::metric::MetricDesc = ::tsmon::metric::MetricDesc {
        name: "example/requests",
        kind: ::tsmon::metric::MetricKind::Counter,
        description: "Requests served, by route and status.",
        fields: &[
            ::tsmon::field::FieldDesc::new("route", ::tsmon::field::FieldType::String),
            ::tsmon::field::FieldDesc::new("status", ::tsmon::field::FieldType::Int),
        ],
        units: ::core::option::Option::None,
        bucketer: ::core::option::Option::None,
        max_series: 0,
        shared: false,
        site: ::tsmon::metric::DeclSite {
            crate_name: ::core::env!("CARGO_PKG_NAME"),
            module_path: ::core::module_path!(),
            file: ::core::file!(),
            line: 1u32,
            column: 1u32,
        },
    };
    ::tsmon::metric::Counter::<
        (::tsmon::field::Str, ::tsmon::field::Int),
    >::__new(&__TSMON_METRIC_REQUESTS)
};
/// Time per request.
///
/// tsmon metric `example/latency`: a `CumulativeDistribution` with fields `route: &str`.
static LATENCY: ::tsmon::metric::CumulativeDistribution<(::tsmon::field::Str,)> = {
    #[::tsmon::__private::linkme::distributed_slice(::tsmon::__private::METRICS)]
    #[linkme(crate = ::tsmon::__private::linkme)]
    static __TSMON_METRIC_LATENCY: ::tsmon::metric::MetricDesc = ::tsmon::metric::MetricDesc {
        name: "example/latency",
        kind: ::tsmon::metric::MetricKind::CumulativeDistribution,
        description: "Time per request.",
        fields: &[
            ::tsmon::field::FieldDesc::new("route", ::tsmon::field::FieldType::String),
        ],
        units: ::core::option::Option::Some(::tsmon::metric::Units::Seconds),
        bucketer: ::core::option::Option::Some(
            ::tsmon::distribution::BucketerSpec::geometric_with_scale(2f64, 20u32, 1f64),
        ),
        max_series: 100u64,
        shared: false,
        site: ::tsmon::metric::DeclSite {
            crate_name: ::core::env!("CARGO_PKG_NAME"),
            module_path: ::core::module_path!(),
            file: ::core::file!(),
            line: 1u32,
            column: 1u32,
        },
    };
    ::tsmon::metric::CumulativeDistribution::<
        (::tsmon::field::Str,),
    >::__new(&__TSMON_METRIC_LATENCY)
};
