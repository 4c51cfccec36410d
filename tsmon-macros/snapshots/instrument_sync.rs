fn parse(s: &str) -> Result<i64, std::num::ParseIntError> {
    #[::tsmon::__private::linkme::distributed_slice(::tsmon::__private::TSMON_FUNCTIONS)]
    #[linkme(crate = ::tsmon::__private::linkme)]
    static __TSMON_FN: ::tsmon::__private::FnDesc = ::tsmon::__private::fn_desc(
        "parse",
        ::core::module_path!(),
        ::core::option::Option::Some(::tsmon::__private::CALLS.desc()),
        ::core::option::Option::Some(::tsmon::__private::DURATIONS.desc()),
        ::core::option::Option::Some(::tsmon::__private::IN_FLIGHT.desc()),
        &[],
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
            (&::tsmon::__private::TypeProbe::<
                Result<i64, std::num::ParseIntError>,
            >::new())
                .__tsmon_early()
        },
    );
    #[allow(unreachable_code, clippy::needless_return)]
    let __tsmon_ret: Result<i64, std::num::ParseIntError> = '__tsmon_body: { s.parse() };
    #[allow(unreachable_code)]
    __tsmon_call
        .finish({
            #[allow(unused_imports)]
            use ::tsmon::__private::{ViaClassify as _, ViaDefault as _};
            (&::tsmon::__private::Probe(&__tsmon_ret)).__tsmon_outcome()
        });
    __tsmon_ret
}
