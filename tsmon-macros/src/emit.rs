//! The one emitter of catalog entries: every descriptor static an expansion declares (a
//! `metric!` static's, an `#[instrument(prefix = …)]` family's, an instrumented fn's) is written
//! here, through the constructors of `tsmon::__private`. A new descriptor field changes this
//! file and that module, nothing else.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::Ident;

/// A field's type, as the catalog records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FieldTy {
    Str,
    Int,
    Bool,
}

impl FieldTy {
    /// The marker type of `tsmon::field` (`Str`, `Int`, `Bool`).
    pub(crate) fn marker(self) -> &'static str {
        match self {
            FieldTy::Str => "Str",
            FieldTy::Int => "Int",
            FieldTy::Bool => "Bool",
        }
    }

    /// The `FieldType` variant.
    fn variant(self) -> &'static str {
        match self {
            FieldTy::Str => "String",
            FieldTy::Int => "Int",
            FieldTy::Bool => "Bool",
        }
    }

    /// The Rust type a write takes, for the generated docs.
    pub(crate) fn rust(self) -> &'static str {
        match self {
            FieldTy::Str => "&str",
            FieldTy::Int => "i64",
            FieldTy::Bool => "bool",
        }
    }
}

/// Where a declaration is: the line and column of the item's name.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Site {
    line: u32,
    column: u32,
}

impl Site {
    pub(crate) fn of(span: Span) -> Self {
        let start = span.start();
        Site {
            line: u32::try_from(start.line).unwrap_or(0),
            column: u32::try_from(start.column + 1).unwrap_or(0),
        }
    }
}

/// A metric's catalog entry, validated.
pub(crate) struct MetricSpec {
    pub(crate) name: String,
    /// The `MetricKind` variant.
    pub(crate) kind: &'static str,
    pub(crate) description: String,
    pub(crate) fields: Vec<(String, FieldTy)>,
    /// The `Units` variant.
    pub(crate) units: Option<&'static str>,
    /// The bucketer, as an expression under `__private` (`BucketerSpec::…`, `LATENCY_BUCKETER`).
    pub(crate) bucketer: Option<TokenStream>,
    pub(crate) max_series: u64,
    pub(crate) shared: bool,
    pub(crate) site: Site,
}

fn decl_site(krate: &syn::Path, site: Site) -> TokenStream {
    let (line, column) = (site.line, site.column);
    quote! {
        #krate::__private::decl_site(
            ::core::env!("CARGO_PKG_NAME"),
            ::core::module_path!(),
            ::core::file!(),
            #line,
            #column,
        )
    }
}

fn option(value: Option<TokenStream>) -> TokenStream {
    match value {
        Some(v) => quote!(::core::option::Option::Some(#v)),
        None => quote!(::core::option::Option::None),
    }
}

/// The static `ident` holding `spec`, entered in the catalog.
pub(crate) fn metric_static(krate: &syn::Path, ident: &Ident, spec: &MetricSpec) -> TokenStream {
    let p = quote!(#krate::__private);
    let MetricSpec {
        name,
        description,
        max_series,
        shared,
        ..
    } = spec;
    let kind = Ident::new(spec.kind, Span::call_site());
    let fields = spec.fields.iter().map(|(name, ty)| {
        let variant = Ident::new(ty.variant(), Span::call_site());
        quote!(#p::FieldDesc::new(#name, #p::FieldType::#variant))
    });
    let units = option(spec.units.map(|u| {
        let u = Ident::new(u, Span::call_site());
        quote!(#p::Units::#u)
    }));
    let bucketer = option(spec.bucketer.as_ref().map(|b| quote!(#p::#b)));
    let site = decl_site(krate, spec.site);
    quote! {
        #[#p::linkme::distributed_slice(#p::TSMON_METRICS)]
        #[linkme(crate = #p::linkme)]
        static #ident: #p::MetricDesc = #p::metric_desc(
            #name,
            #p::MetricKind::#kind,
            #description,
            &[#(#fields),*],
            #units,
            #bucketer,
            #max_series,
            #shared,
            #site,
        );
    }
}

/// An instrumented fn's catalog entry, in the static `ident`. `calls`, `durations` and
/// `in_flight` are `Option<&'static MetricDesc>` expressions; `fixed` the `(name, FieldValue)`
/// pairs of its fixed fields.
pub(crate) struct FnSpec<'a> {
    pub(crate) function: &'a str,
    pub(crate) calls: TokenStream,
    pub(crate) durations: TokenStream,
    pub(crate) in_flight: TokenStream,
    pub(crate) fixed: Vec<TokenStream>,
    pub(crate) site: Site,
}

pub(crate) fn fn_static(krate: &syn::Path, ident: &Ident, spec: &FnSpec<'_>) -> TokenStream {
    let p = quote!(#krate::__private);
    let FnSpec {
        function,
        calls,
        durations,
        in_flight,
        fixed,
        ..
    } = spec;
    let site = decl_site(krate, spec.site);
    quote! {
        #[#p::linkme::distributed_slice(#p::TSMON_FUNCTIONS)]
        #[linkme(crate = #p::linkme)]
        static #ident: #p::FnDesc = #p::fn_desc(
            #function,
            ::core::module_path!(),
            #calls,
            #durations,
            #in_flight,
            &[#(#fixed),*],
            #site,
        );
    }
}
