fn run(n: u32) -> u32 {
    #[::tsmon::__private::linkme::distributed_slice(::tsmon::__private::TSMON_METRICS)]
    #[linkme(crate = ::tsmon::__private::linkme)]
    static __TSMON_CALLS: ::tsmon::__private::MetricDesc = ::tsmon::__private::metric_desc(
        "example/jobs/calls",
        ::tsmon::__private::MetricKind::Counter,
        "Calls of the functions instrumented under `example/jobs`, by outcome (ok, error, panic, cancelled).",
        &[
            ::tsmon::__private::FieldDesc::new(
                "function",
                ::tsmon::__private::FieldType::String,
            ),
            ::tsmon::__private::FieldDesc::new(
                "module",
                ::tsmon::__private::FieldType::String,
            ),
            ::tsmon::__private::FieldDesc::new(
                "outcome",
                ::tsmon::__private::FieldType::String,
            ),
            ::tsmon::__private::FieldDesc::new(
                "queue",
                ::tsmon::__private::FieldType::String,
            ),
        ],
        ::core::option::Option::None,
        ::core::option::Option::None,
        0u64,
        true,
        ::tsmon::__private::decl_site(
            ::core::env!("CARGO_PKG_NAME"),
            ::core::module_path!(),
            ::core::file!(),
            1u32,
            1u32,
        ),
    );
    #[::tsmon::__private::linkme::distributed_slice(::tsmon::__private::TSMON_METRICS)]
    #[linkme(crate = ::tsmon::__private::linkme)]
    static __TSMON_DURATIONS: ::tsmon::__private::MetricDesc = ::tsmon::__private::metric_desc(
        "example/jobs/durations",
        ::tsmon::__private::MetricKind::CumulativeDistribution,
        "Time spent in the functions instrumented under `example/jobs`, whatever the outcome.",
        &[
            ::tsmon::__private::FieldDesc::new(
                "function",
                ::tsmon::__private::FieldType::String,
            ),
            ::tsmon::__private::FieldDesc::new(
                "module",
                ::tsmon::__private::FieldType::String,
            ),
            ::tsmon::__private::FieldDesc::new(
                "queue",
                ::tsmon::__private::FieldType::String,
            ),
        ],
        ::core::option::Option::Some(::tsmon::__private::Units::Seconds),
        ::core::option::Option::Some(::tsmon::__private::LATENCY_BUCKETER),
        0u64,
        true,
        ::tsmon::__private::decl_site(
            ::core::env!("CARGO_PKG_NAME"),
            ::core::module_path!(),
            ::core::file!(),
            1u32,
            1u32,
        ),
    );
    #[::tsmon::__private::linkme::distributed_slice(::tsmon::__private::TSMON_METRICS)]
    #[linkme(crate = ::tsmon::__private::linkme)]
    static __TSMON_IN_FLIGHT: ::tsmon::__private::MetricDesc = ::tsmon::__private::metric_desc(
        "example/jobs/in_flight",
        ::tsmon::__private::MetricKind::IntGauge,
        "Calls of the functions instrumented under `example/jobs` under way.",
        &[
            ::tsmon::__private::FieldDesc::new(
                "function",
                ::tsmon::__private::FieldType::String,
            ),
            ::tsmon::__private::FieldDesc::new(
                "module",
                ::tsmon::__private::FieldType::String,
            ),
            ::tsmon::__private::FieldDesc::new(
                "queue",
                ::tsmon::__private::FieldType::String,
            ),
        ],
        ::core::option::Option::None,
        ::core::option::Option::None,
        0u64,
        true,
        ::tsmon::__private::decl_site(
            ::core::env!("CARGO_PKG_NAME"),
            ::core::module_path!(),
            ::core::file!(),
            1u32,
            1u32,
        ),
    );
    #[::tsmon::__private::linkme::distributed_slice(::tsmon::__private::TSMON_FUNCTIONS)]
    #[linkme(crate = ::tsmon::__private::linkme)]
    static __TSMON_FN: ::tsmon::__private::FnDesc = ::tsmon::__private::fn_desc(
        "run",
        ::core::module_path!(),
        ::core::option::Option::Some(&__TSMON_CALLS),
        ::core::option::Option::Some(&__TSMON_DURATIONS),
        ::core::option::Option::Some(&__TSMON_IN_FLIGHT),
        &[("queue", ::tsmon::__private::FieldValue::Str("mail"))],
        ::tsmon::__private::decl_site(
            ::core::env!("CARGO_PKG_NAME"),
            ::core::module_path!(),
            ::core::file!(),
            1u32,
            1u32,
        ),
    );
    static __TSMON_INDEX: ::tsmon::__private::SiteIndex = ::tsmon::__private::SiteIndex::new();
    let __tsmon_call = ::tsmon::__private::Call::start(
        &__TSMON_FN,
        &__TSMON_INDEX,
        {
            #[allow(unused_imports)]
            use ::tsmon::__private::{EarlyViaDefault as _, EarlyViaResult as _};
            (&::tsmon::__private::TypeProbe::<u32>::new()).__tsmon_early()
        },
    );
    #[allow(unreachable_code, clippy::needless_return)]
    let __tsmon_ret: u32 = '__tsmon_body: { n + 1 };
    #[allow(unreachable_code)]
    __tsmon_call
        .finish({
            #[allow(unused_imports)]
            use ::tsmon::__private::{ViaClassify as _, ViaDefault as _};
            (&::tsmon::__private::Probe(&__tsmon_ret)).__tsmon_outcome()
        });
    __tsmon_ret
}
