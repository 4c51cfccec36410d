//! `#[tsmon::main]`: installs the global State and its background work at the top of `main`,
//! builds the tokio runtime for an `async fn main` (as `#[tokio::main]` does), and keeps a
//! guard whose drop does the final flush.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Expr, Ident, ItemFn, LitStr};

use crate::attr::{Errors, default_crate_path, meta_key, parse_meta_args};

const ARGS: &str = "service, job, data_center, host, instance_id, settings_file, allocator, dev_mode, flavor, worker_threads, crate";

#[derive(Default)]
struct Args {
    service: Option<LitStr>,
    job: Option<LitStr>,
    data_center: Option<LitStr>,
    host: Option<LitStr>,
    instance_id: Option<LitStr>,
    settings_file: Option<LitStr>,
    allocator: Option<Expr>,
    dev_mode: Option<syn::LitBool>,
    flavor: Option<LitStr>,
    worker_threads: Option<syn::LitInt>,
    krate: Option<syn::Path>,
}

fn parse_args(args: TokenStream, errors: &mut Errors) -> Args {
    let mut out = Args::default();
    parse_meta_args(args, errors, |meta| parse_arg(meta, &mut out));
    out
}

fn lit_str(meta: &ParseNestedMeta<'_>, key: &str) -> syn::Result<LitStr> {
    let lit: LitStr = meta
        .value()?
        .parse()
        .map_err(|e| syn::Error::new(e.span(), format!("`{key}` takes a string literal")))?;
    if lit.value().trim().is_empty() {
        return Err(syn::Error::new_spanned(
            &lit,
            format!("`{key}` must not be empty"),
        ));
    }
    Ok(lit)
}

fn parse_arg(meta: &ParseNestedMeta<'_>, out: &mut Args) -> syn::Result<()> {
    let key = meta_key(meta);
    macro_rules! once {
        ($field:expr, $value:expr) => {{
            if $field.is_some() {
                return Err(meta.error(format!("`{key}` is given twice")));
            }
            $field = Some($value);
        }};
    }
    match key.as_str() {
        "service" => once!(out.service, lit_str(meta, &key)?),
        "job" => once!(out.job, lit_str(meta, &key)?),
        "data_center" => once!(out.data_center, lit_str(meta, &key)?),
        "host" => once!(out.host, lit_str(meta, &key)?),
        "instance_id" => once!(out.instance_id, lit_str(meta, &key)?),
        "settings_file" => once!(out.settings_file, lit_str(meta, &key)?),
        "allocator" => once!(out.allocator, meta.value()?.parse::<Expr>()?),
        "dev_mode" => {
            let value = if meta.input.peek(syn::Token![=]) {
                meta.value()?.parse::<syn::LitBool>().map_err(|e| {
                    syn::Error::new(e.span(), "`dev_mode` takes `true` or `false` (or nothing)")
                })?
            } else {
                syn::LitBool::new(true, meta.path.span())
            };
            once!(out.dev_mode, value);
        }
        "flavor" => {
            let lit: LitStr = meta.value()?.parse()?;
            if !matches!(lit.value().as_str(), "multi_thread" | "current_thread") {
                return Err(syn::Error::new_spanned(
                    &lit,
                    "`flavor` is \"multi_thread\" or \"current_thread\"",
                ));
            }
            once!(out.flavor, lit);
        }
        "worker_threads" => {
            let lit: syn::LitInt = meta.value()?.parse()?;
            if lit.base10_parse::<usize>()? == 0 {
                return Err(syn::Error::new_spanned(
                    &lit,
                    "`worker_threads` must be at least 1",
                ));
            }
            once!(out.worker_threads, lit);
        }
        "crate" => once!(out.krate, meta.value()?.parse()?),
        _ => {
            return Err(meta.error(format!(
                "unknown argument `{}`; expected one of: {ARGS}",
                meta.path.to_token_stream().to_string().replace(' ', "")
            )));
        }
    }
    Ok(())
}

fn is_tokio_main(attr: &syn::Attribute) -> bool {
    let segs: Vec<String> = attr
        .path()
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    segs.last().is_some_and(|s| s == "main") && segs.iter().any(|s| s == "tokio")
}

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let args = parse_args(args, &mut errors);
    let mut f: ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(_) => {
            let span = item
                .clone()
                .into_iter()
                .next()
                .map_or_else(Span::call_site, |t| t.span());
            errors.push(syn::Error::new(
                span,
                "#[tsmon::main] applies to the `main` fn (or another fn without arguments)",
            ));
            let errs = errors.into_compile_error();
            return quote!(#item #errs);
        }
    };
    let mut shape = Errors::default();
    if !f.sig.inputs.is_empty() {
        shape.spanned(&f.sig.inputs, "#[tsmon::main] takes a fn without arguments");
    }
    if let Some(c) = &f.sig.constness {
        shape.spanned(c, "#[tsmon::main] cannot apply to a `const fn`");
    }
    if !f.sig.generics.params.is_empty() {
        shape.spanned(
            &f.sig.generics,
            "#[tsmon::main] takes a fn without generics",
        );
    }
    // A fn of the wrong shape is left as it is: an expansion would only add errors.
    if shape.has_errors() {
        let errs = errors.into_compile_error();
        let shape = shape.into_compile_error();
        return quote!(#item #errs #shape);
    }
    let mut args = args;
    let tokio_below = f.attrs.iter().any(is_tokio_main);
    let is_async = f.sig.asyncness.is_some();
    if (!is_async || tokio_below) && (args.flavor.is_some() || args.worker_threads.is_some()) {
        let span = args
            .flavor
            .as_ref()
            .map(Spanned::span)
            .or(args.worker_threads.as_ref().map(Spanned::span))
            .unwrap_or_else(Span::call_site);
        let why = if tokio_below {
            "`flavor` and `worker_threads` go to `#[tokio::main]`, which builds the runtime here"
        } else {
            "`flavor` and `worker_threads` configure the runtime of an `async fn main`; this `main` is not async"
        };
        errors.push(syn::Error::new(span, why));
        (args.flavor, args.worker_threads) = (None, None);
    }
    if let (Some(flavor), Some(n)) = (&args.flavor, &args.worker_threads)
        && flavor.value() == "current_thread"
    {
        errors.spanned(n, "`worker_threads` needs the \"multi_thread\" flavor");
        args.worker_threads = None;
    }
    // Bad arguments (already reported, and left out of `args`) do not stop the expansion: it
    // goes on with the defaults, as `#[tokio::main]` does, so an `async fn main` does not gain
    // a second error for being async.

    let krate = args.krate.clone().unwrap_or_else(default_crate_path);
    let service = args.service.as_ref().map_or_else(
        || quote!(::core::env!("CARGO_PKG_NAME")),
        ToTokens::to_token_stream,
    );
    let job = args.job.as_ref().map_or_else(
        || {
            quote!(match ::core::option_env!("CARGO_BIN_NAME") {
                ::core::option::Option::Some(bin) => bin,
                ::core::option::Option::None => ::core::env!("CARGO_PKG_NAME"),
            })
        },
        ToTokens::to_token_stream,
    );
    let mut target = quote!(#krate::Target::new(#service, #job));
    if let Some(dc) = &args.data_center {
        target.extend(quote!(.with_data_center(#dc)));
    }
    if let Some(host) = &args.host {
        target.extend(quote!(.with_host(#host)));
    }
    let mut builder = quote!(#krate::State::builder().with_target(#target));
    if let Some(id) = &args.instance_id {
        builder.extend(quote!(.with_instance_id(#id)));
    }
    if let Some(path) = &args.settings_file {
        builder.extend(quote!(.with_settings_file(#path)));
    }
    if let Some(alloc) = &args.allocator {
        builder.extend(quote_spanned!(alloc.span()=> .with_allocator(#alloc)));
    }
    if let Some(dev) = &args.dev_mode {
        builder.extend(quote!(.dev_mode(#dev)));
    }
    let guard = Ident::new("__tsmon_running", Span::mixed_site());
    let start = quote! {
        let #guard = #krate::__private::main_start(
            #builder,
            ::core::env!("CARGO_PKG_NAME"),
            ::core::env!("CARGO_PKG_VERSION"),
            ::core::option_env!("TSMON_GIT_COMMIT"),
        );
    };

    let block = &f.block;
    if is_async && !tokio_below {
        // Build the runtime as #[tokio::main] does, and run the body on it.
        let runtime = match (
            args.flavor.as_ref().map(LitStr::value).as_deref(),
            &args.worker_threads,
        ) {
            (Some("current_thread"), _) => {
                quote!(#krate::__private::tokio::runtime::Builder::new_current_thread())
            }
            (_, Some(n)) => quote! {
                #krate::__private::tokio::runtime::Builder::new_multi_thread().worker_threads(#n)
            },
            _ => quote!(#krate::__private::tokio::runtime::Builder::new_multi_thread()),
        };
        f.sig.asyncness = None;
        let rt = Ident::new("__tsmon_runtime", Span::mixed_site());
        let body: syn::Block = syn::parse_quote! {{
            #[allow(clippy::expect_used)]
            let #rt = #runtime
                .enable_all()
                .build()
                .expect("Failed building the Runtime");
            let #guard = {
                let _entered = #rt.enter();
                #krate::__private::main_start(
                    #builder,
                    ::core::env!("CARGO_PKG_NAME"),
                    ::core::env!("CARGO_PKG_VERSION"),
                    ::core::option_env!("TSMON_GIT_COMMIT"),
                )
            };
            let body = async move #block;
            #rt.block_on(body)
        }};
        *f.block = body;
    } else {
        // A sync main (perhaps one #[tokio::main] already rewrote), or an async one that
        // #[tokio::main] below will run: the guard goes first in the body.
        let body: syn::Block = syn::parse_quote! {{
            #start
            #block
        }};
        *f.block = body;
    }
    let errs = errors.into_compile_error();
    quote!(#f #errs)
}
