fn main() -> Result<(), Box<dyn std::error::Error>> {
    #[allow(clippy::expect_used)]
    let __tsmon_runtime = ::tsmon::__private::tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("Failed building the Runtime");
    let __tsmon_running = {
        let _entered = __tsmon_runtime.enter();
        ::tsmon::__private::main_start(
            ::tsmon::State::builder().with_target(::tsmon::Target::new("shop", "web")),
            ::core::env!("CARGO_PKG_NAME"),
            ::core::env!("CARGO_PKG_VERSION"),
            ::core::option_env!("TSMON_GIT_COMMIT"),
        )
    };
    let body = async move { Ok(()) };
    __tsmon_runtime.block_on(body)
}
