/// Requests served, by route and status.
///
/// tsmon metric `example/requests`: a `Counter` with fields `route: &str`, `status: i64`.
pub static REQUESTS: ::tsmon::metric::Counter<
    (::tsmon::field::Str, ::tsmon::field::Int),
> = {
    #[::tsmon::__private::linkme::distributed_slice(::tsmon::__private::TSMON_METRICS)]
    #[linkme(crate = ::tsmon::__private::linkme)]
    static __TSMON_METRIC_REQUESTS: ::tsmon::__private::MetricDesc = ::tsmon::__private::metric_desc(
        "example/requests",
        ::tsmon::__private::MetricKind::Counter,
        "Requests served, by route and status.",
        &[
            ::tsmon::__private::FieldDesc::new(
                "route",
                ::tsmon::__private::FieldType::String,
            ),
            ::tsmon::__private::FieldDesc::new(
                "status",
                ::tsmon::__private::FieldType::Int,
            ),
        ],
        ::core::option::Option::None,
        ::core::option::Option::None,
        0u64,
        false,
        ::tsmon::__private::decl_site(
            ::core::env!("CARGO_PKG_NAME"),
            ::core::module_path!(),
            ::core::file!(),
            1u32,
            1u32,
        ),
    );
    ::tsmon::__private::metric(&__TSMON_METRIC_REQUESTS)
};
/// Time per request.
///
/// tsmon metric `example/latency`: a `CumulativeDistribution` with fields `route: &str`.
static LATENCY: ::tsmon::metric::CumulativeDistribution<(::tsmon::field::Str,)> = {
    #[::tsmon::__private::linkme::distributed_slice(::tsmon::__private::TSMON_METRICS)]
    #[linkme(crate = ::tsmon::__private::linkme)]
    static __TSMON_METRIC_LATENCY: ::tsmon::__private::MetricDesc = ::tsmon::__private::metric_desc(
        "example/latency",
        ::tsmon::__private::MetricKind::CumulativeDistribution,
        "Time per request.",
        &[
            ::tsmon::__private::FieldDesc::new(
                "route",
                ::tsmon::__private::FieldType::String,
            ),
        ],
        ::core::option::Option::Some(::tsmon::__private::Units::Seconds),
        ::core::option::Option::Some(
            ::tsmon::__private::BucketerSpec::geometric_with_scale(2f64, 20u32, 1f64),
        ),
        100u64,
        false,
        ::tsmon::__private::decl_site(
            ::core::env!("CARGO_PKG_NAME"),
            ::core::module_path!(),
            ::core::file!(),
            1u32,
            1u32,
        ),
    );
    ::tsmon::__private::metric(&__TSMON_METRIC_LATENCY)
};
