//! Shared argument plumbing: the `crate = path` override and an error accumulator.

use proc_macro2::TokenStream;
use quote::ToTokens;

/// Collects every mistake so that one compilation reports all of them (serde's `Ctxt`).
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(existing) => existing.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub(crate) fn spanned<T: ToTokens>(&mut self, tokens: T, message: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    pub(crate) fn has_errors(&self) -> bool {
        self.0.is_some()
    }

    pub(crate) fn into_compile_error(self) -> TokenStream {
        self.0.map(|e| e.into_compile_error()).unwrap_or_default()
    }
}

/// The path generated code uses to reach the runtime crate: `::tsmon` unless `crate = path` says
/// otherwise.
pub(crate) fn default_crate_path() -> syn::Path {
    syn::parse_quote!(::tsmon)
}
