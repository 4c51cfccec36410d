//! Procedural macros for [tsmon](https://docs.rs/tsmon).
//!
//! Use them through the `tsmon` crate, which re-exports them and provides everything the
//! generated code calls (`tsmon::__private`). Depending on this crate directly is not supported.

mod attr;
mod metric;
mod names;

use proc_macro::TokenStream;

/// Declares metrics in the binary-wide catalog. See `tsmon::metric!` for the documentation.
#[proc_macro]
pub fn metric(input: TokenStream) -> TokenStream {
    metric::expand(input.into()).into()
}
