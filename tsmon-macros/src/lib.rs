//! Procedural macros for [tsmon](https://docs.rs/tsmon).
//!
//! Use them through the `tsmon` crate, which re-exports them and provides everything the
//! generated code calls (`tsmon::__private`). Depending on this crate directly is not supported.

mod attr;
mod emit;
mod instrument;
mod main_attr;
mod metric;
mod names;
#[cfg(test)]
mod snapshots;

use proc_macro::TokenStream;

/// Declares metrics in the binary-wide catalog. See `tsmon::metric!` for the documentation.
#[proc_macro]
pub fn metric(input: TokenStream) -> TokenStream {
    metric::expand(input.into()).into()
}

/// Instruments a fn: calls by outcome, latency and in-flight calls. See
/// `tsmon::instrument` for the documentation.
#[proc_macro_attribute]
pub fn instrument(args: TokenStream, item: TokenStream) -> TokenStream {
    instrument::expand(args.into(), item.into()).into()
}

/// Sets tsmon up around `main`. See `tsmon::main` for the documentation.
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    main_attr::expand(args.into(), item.into()).into()
}
