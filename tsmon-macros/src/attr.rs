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

/// Parses `name = value, name(...), ...` attribute arguments, giving each to `each`. A bad one
/// is recorded in `errors` and skipped (up to the next `,`), so every mistake is reported once
/// and the others still parse.
pub(crate) fn parse_meta_args(
    args: TokenStream,
    errors: &mut Errors,
    mut each: impl FnMut(&syn::meta::ParseNestedMeta<'_>) -> syn::Result<()>,
) {
    if args.is_empty() {
        return;
    }
    let parser = syn::meta::parser(|meta| {
        if let Err(e) = each(&meta) {
            errors.push(e);
            skip_rest(meta.input);
        }
        Ok(())
    });
    if let Err(e) = syn::parse::Parser::parse2(parser, args) {
        errors.push(e);
    }
}

/// Consumes what is left of an argument, up to the next `,`.
pub(crate) fn skip_rest(input: syn::parse::ParseStream<'_>) {
    while !input.is_empty() && !input.peek(syn::Token![,]) {
        if input.parse::<proc_macro2::TokenTree>().is_err() {
            break;
        }
    }
}

/// An argument's name (`crate` included, which is a keyword).
pub(crate) fn meta_key(meta: &syn::meta::ParseNestedMeta<'_>) -> String {
    if meta.path.is_ident("crate") {
        "crate".to_owned()
    } else {
        meta.path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default()
    }
}
