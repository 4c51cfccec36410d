fn run(n: u32) -> u32 {
    #[::tsmon::__private::linkme::distributed_slice(::tsmon::__private::METRICS)]
    #[linkme(crate = ::tsmon::__private::linkme)]
    static __TSMON_CALLS: ::tsmon::metric::MetricDesc = ::tsmon::metric::MetricDesc {
        name: "example/jobs/calls",
        kind: ::tsmon::metric::MetricKind::Counter,
        description: "Calls of the functions instrumented under `example/jobs`, by outcome (ok, error, panic, cancelled).",
        fields: &[
            ::tsmon::field::FieldDesc::new(
                "function",
                ::tsmon::field::FieldType::String,
            ),
            ::tsmon::field::FieldDesc::new("module", ::tsmon::field::FieldType::String),
            ::tsmon::field::FieldDesc::new("outcome", ::tsmon::field::FieldType::String),
            ::tsmon::field::FieldDesc::new("queue", ::tsmon::field::FieldType::String),
        ],
        units: ::core::option::Option::None,
        bucketer: ::core::option::Option::None,
        max_series: 0,
        shared: true,
        site: ::tsmon::metric::DeclSite {
            crate_name: ::core::env!("CARGO_PKG_NAME"),
            module_path: ::core::module_path!(),
            file: ::core::file!(),
            line: 1u32,
            column: 1u32,
        },
    };
    #[::tsmon::__private::linkme::distributed_slice(::tsmon::__private::METRICS)]
    #[linkme(crate = ::tsmon::__private::linkme)]
    static __TSMON_DURATIONS: ::tsmon::metric::MetricDesc = ::tsmon::metric::MetricDesc {
        name: "example/jobs/durations",
        kind: ::tsmon::metric::MetricKind::CumulativeDistribution,
        description: "Time spent in the functions instrumented under `example/jobs`, whatever the outcome.",
        fields: &[
            ::tsmon::field::FieldDesc::new(
                "function",
                ::tsmon::field::FieldType::String,
            ),
            ::tsmon::field::FieldDesc::new("module", ::tsmon::field::FieldType::String),
            ::tsmon::field::FieldDesc::new("queue", ::tsmon::field::FieldType::String),
        ],
        units: ::core::option::Option::Some(::tsmon::metric::Units::Seconds),
        bucketer: ::core::option::Option::Some(::tsmon::instrument::LATENCY_BUCKETER),
        max_series: 0,
        shared: true,
        site: ::tsmon::metric::DeclSite {
            crate_name: ::core::env!("CARGO_PKG_NAME"),
            module_path: ::core::module_path!(),
            file: ::core::file!(),
            line: 1u32,
            column: 1u32,
        },
    };
    #[::tsmon::__private::linkme::distributed_slice(::tsmon::__private::METRICS)]
    #[linkme(crate = ::tsmon::__private::linkme)]
    static __TSMON_IN_FLIGHT: ::tsmon::metric::MetricDesc = ::tsmon::metric::MetricDesc {
        name: "example/jobs/in_flight",
        kind: ::tsmon::metric::MetricKind::IntGauge,
        description: "Calls of the functions instrumented under `example/jobs` under way.",
        fields: &[
            ::tsmon::field::FieldDesc::new(
                "function",
                ::tsmon::field::FieldType::String,
            ),
            ::tsmon::field::FieldDesc::new("module", ::tsmon::field::FieldType::String),
            ::tsmon::field::FieldDesc::new("queue", ::tsmon::field::FieldType::String),
        ],
        units: ::core::option::Option::None,
        bucketer: ::core::option::Option::None,
        max_series: 0,
        shared: true,
        site: ::tsmon::metric::DeclSite {
            crate_name: ::core::env!("CARGO_PKG_NAME"),
            module_path: ::core::module_path!(),
            file: ::core::file!(),
            line: 1u32,
            column: 1u32,
        },
    };
    #[::tsmon::__private::linkme::distributed_slice(::tsmon::__private::FUNCTIONS)]
    #[linkme(crate = ::tsmon::__private::linkme)]
    static __TSMON_FN: ::tsmon::instrument::FnDesc = ::tsmon::instrument::FnDesc {
        function: "run",
        module: ::core::module_path!(),
        calls: ::core::option::Option::Some(&__TSMON_CALLS),
        durations: ::core::option::Option::Some(&__TSMON_DURATIONS),
        in_flight: ::core::option::Option::Some(&__TSMON_IN_FLIGHT),
        fields: &[("queue", ::tsmon::field::FieldValue::Str("mail"))],
        site: ::tsmon::metric::DeclSite {
            crate_name: ::core::env!("CARGO_PKG_NAME"),
            module_path: ::core::module_path!(),
            file: ::core::file!(),
            line: 1u32,
            column: 1u32,
        },
    };
    static __TSMON_INDEX: ::tsmon::instrument::SiteIndex = ::tsmon::instrument::SiteIndex::new();
    let __tsmon_call = ::tsmon::instrument::Call::start(
        &__TSMON_FN,
        &__TSMON_INDEX,
        {
            #[allow(unused_imports)]
            use ::tsmon::instrument::{EarlyViaDefault as _, EarlyViaResult as _};
            (&::tsmon::instrument::TypeProbe::<u32>::new()).__tsmon_early()
        },
    );
    #[allow(unreachable_code, clippy::needless_return)]
    let __tsmon_ret: u32 = '__tsmon_body: { n + 1 };
    #[allow(unreachable_code)]
    __tsmon_call
        .finish({
            #[allow(unused_imports)]
            use ::tsmon::instrument::{ViaClassify as _, ViaDefault as _};
            (&::tsmon::instrument::Probe(&__tsmon_ret)).__tsmon_outcome()
        });
    __tsmon_ret
}
