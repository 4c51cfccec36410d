fn main() {
    let __tsmon_running = ::tsmon::__private::main_start(
        ::tsmon::State::builder().with_target(::tsmon::Target::new("shop", "web")),
        ::core::env!("CARGO_PKG_NAME"),
        ::core::env!("CARGO_PKG_VERSION"),
        ::core::option_env!("TSMON_GIT_COMMIT"),
    );
    {
        println!("serving");
    }
}
