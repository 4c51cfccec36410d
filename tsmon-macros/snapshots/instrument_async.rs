pub async fn fetch(id: u64) -> Result<String, std::io::Error> {
    #[::tsmon::__private::linkme::distributed_slice(::tsmon::__private::FUNCTIONS)]
    #[linkme(crate = ::tsmon::__private::linkme)]
    static __TSMON_FN: ::tsmon::instrument::FnDesc = ::tsmon::instrument::FnDesc {
        function: "fetch",
        module: ::core::module_path!(),
        calls: ::core::option::Option::Some(::tsmon::instrument::CALLS.desc()),
        durations: ::core::option::Option::Some(::tsmon::instrument::DURATIONS.desc()),
        in_flight: ::core::option::Option::Some(::tsmon::instrument::IN_FLIGHT.desc()),
        fields: &[],
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
        ::tsmon::instrument::Outcome::Cancelled,
    );
    let __tsmon_ret: Result<String, std::io::Error> = ::tsmon::instrument::typed::<
        Result<String, std::io::Error>,
        _,
    >(async move { Ok(id.to_string()) })
        .await;
    __tsmon_call
        .finish({
            #[allow(unused_imports)]
            use ::tsmon::instrument::{ViaClassify as _, ViaDefault as _};
            (&::tsmon::instrument::Probe(&__tsmon_ret)).__tsmon_outcome()
        });
    __tsmon_ret
}
