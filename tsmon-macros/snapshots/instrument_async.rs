pub async fn fetch(id: u64) -> Result<String, std::io::Error> {
    #[::tsmon::__private::linkme::distributed_slice(::tsmon::__private::TSMON_FUNCTIONS)]
    #[linkme(crate = ::tsmon::__private::linkme)]
    static __TSMON_FN: ::tsmon::__private::FnDesc = ::tsmon::__private::fn_desc(
        "fetch",
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
        ::tsmon::__private::Outcome::Cancelled,
    );
    let __tsmon_ret: Result<String, std::io::Error> = ::tsmon::__private::typed::<
        Result<String, std::io::Error>,
        _,
    >(async move { Ok(id.to_string()) })
        .await;
    __tsmon_call
        .finish({
            #[allow(unused_imports)]
            use ::tsmon::__private::{ViaClassify as _, ViaDefault as _};
            (&::tsmon::__private::Probe(&__tsmon_ret)).__tsmon_outcome()
        });
    __tsmon_ret
}
