//! `#[tsmon::instrument]`: wraps a fn so that each call is counted by outcome, timed and tracked
//! in flight, through statics resolved once per call site.
//!
//! The body is not moved into a closure (which would break `&mut` borrows returned from it):
//! a sync body becomes a labeled block whose `return`s are rewritten into `break`s; an async
//! body becomes an `async move` block awaited in place. A guard records panics (its drop runs
//! during the unwind) and, for async fns, cancellation (its drop runs when the future is dropped).

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{Attribute, Block, Expr, Ident, LitStr, Signature, Visibility};

use crate::attr::{Errors, default_crate_path, meta_key, parse_meta_args, skip_rest};
use crate::emit::{self, FieldTy, FnSpec, MetricSpec, Site};
use crate::metric::parse_bucketer;
use crate::names::{check_field_name, check_metric_name};

const ARGS: &str = "name, prefix, fields, classify, bucketer, calls, latency, in_flight, crate";

#[derive(Default)]
struct Args {
    name: Option<LitStr>,
    prefix: Option<LitStr>,
    fields: Option<(Span, Vec<(Ident, FixedValue)>)>,
    classify: Option<Expr>,
    bucketer: Option<(Span, TokenStream)>,
    calls: Option<bool>,
    latency: Option<bool>,
    in_flight: Option<bool>,
    krate: Option<syn::Path>,
}

enum FixedValue {
    Str(LitStr),
    Int(i64),
    Bool(syn::LitBool),
}

fn parse_args(args: TokenStream, errors: &mut Errors) -> Args {
    let mut out = Args::default();
    parse_meta_args(args, errors, |meta| parse_arg(meta, &mut out));
    out
}

fn parse_arg(meta: &ParseNestedMeta<'_>, out: &mut Args) -> syn::Result<()> {
    let key = meta_key(meta);
    let twice = || meta.error(format!("`{key}` is given twice"));
    match key.as_str() {
        "name" => {
            if out.name.is_some() {
                return Err(twice());
            }
            let lit: LitStr = meta.value()?.parse().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "`name` takes a string literal, such as `name = \"Type::method\"`",
                )
            })?;
            if lit.value().trim().is_empty() {
                return Err(syn::Error::new_spanned(&lit, "`name` must not be empty"));
            }
            out.name = Some(lit);
        }
        "prefix" => {
            if out.prefix.is_some() {
                return Err(twice());
            }
            let lit: LitStr = meta.value()?.parse().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "`prefix` takes a string literal, such as `prefix = \"my_service/rpc\"`",
                )
            })?;
            check_metric_name(&format!("{}/calls", lit.value()))
                .and(check_metric_name(&format!("{}/durations", lit.value())))
                .and(check_metric_name(&format!("{}/in_flight", lit.value())))
                .map_err(|e| syn::Error::new_spanned(&lit, format!("bad `prefix`: {e}")))?;
            out.prefix = Some(lit);
        }
        "fields" => {
            if out.fields.is_some() {
                return Err(twice());
            }
            let span = meta.path.span();
            let mut fields: Vec<(Ident, FixedValue)> = Vec::new();
            let mut field_errors: Option<syn::Error> = None;
            meta.parse_nested_meta(|field| {
                match parse_field(&field, &fields) {
                    Ok(f) => fields.push(f),
                    Err(e) => {
                        skip_rest(field.input);
                        match &mut field_errors {
                            Some(all) => all.combine(e),
                            None => field_errors = Some(e),
                        }
                    }
                }
                Ok(())
            })?;
            if let Some(e) = field_errors {
                return Err(e);
            }
            if fields.len() > 5 {
                return Err(meta.error("at most 5 extra fields"));
            }
            out.fields = Some((span, fields));
        }
        "classify" => {
            if out.classify.is_some() {
                return Err(twice());
            }
            let expr: Expr = meta.value()?.parse()?;
            if !matches!(expr, Expr::Path(_) | Expr::Closure(_)) {
                return Err(syn::Error::new_spanned(
                    &expr,
                    "`classify` takes the path of a `fn(&T) -> tsmon::instrument::Outcome` (or a closure)",
                ));
            }
            out.classify = Some(expr);
        }
        "bucketer" => {
            if out.bucketer.is_some() {
                return Err(twice());
            }
            let expr: Expr = meta.value()?.parse()?;
            out.bucketer = Some((expr.span(), parse_bucketer(&expr)?));
        }
        "calls" | "latency" | "in_flight" => {
            let slot = match key.as_str() {
                "calls" => &mut out.calls,
                "latency" => &mut out.latency,
                _ => &mut out.in_flight,
            };
            if slot.is_some() {
                return Err(twice());
            }
            let lit: syn::LitBool = meta.value()?.parse().map_err(|e| {
                syn::Error::new(e.span(), format!("`{key}` takes `true` or `false`"))
            })?;
            *slot = Some(lit.value);
        }
        "crate" => {
            if out.krate.is_some() {
                return Err(twice());
            }
            out.krate = Some(meta.value()?.parse()?);
        }
        _ => {
            return Err(meta.error(format!(
                "unknown argument `{}`; expected one of: {ARGS}",
                meta.path.to_token_stream().to_string().replace(' ', "")
            )));
        }
    }
    Ok(())
}

fn parse_field(
    field: &ParseNestedMeta<'_>,
    seen: &[(Ident, FixedValue)],
) -> syn::Result<(Ident, FixedValue)> {
    let ident = field
        .path
        .get_ident()
        .cloned()
        .ok_or_else(|| field.error("a field is `name = value`"))?;
    let name = ident.to_string();
    check_field_name(&name).map_err(|e| syn::Error::new_spanned(&ident, e))?;
    if ["function", "module", "outcome"].contains(&name.as_str()) {
        return Err(syn::Error::new_spanned(
            &ident,
            format!("field `{name}` is set by #[tsmon::instrument] itself"),
        ));
    }
    if seen.iter().any(|(i, _)| *i == ident) {
        return Err(syn::Error::new_spanned(
            &ident,
            format!("field `{name}` is given twice"),
        ));
    }
    let lit: syn::Lit = field.value()?.parse()?;
    let value = match lit {
        syn::Lit::Str(s) => FixedValue::Str(s),
        syn::Lit::Int(i) => FixedValue::Int(i.base10_parse::<i64>()?),
        syn::Lit::Bool(b) => FixedValue::Bool(b),
        other => {
            return Err(syn::Error::new_spanned(
                other,
                "a field value is a string, integer or bool literal",
            ));
        }
    };
    Ok((ident, value))
}

/// The parts of a fn the expansion needs, whatever kind of item it came from.
struct FnItem {
    attrs: Vec<Attribute>,
    vis: Visibility,
    defaultness: Option<syn::Token![default]>,
    sig: Signature,
    block: Block,
}

fn parse_item(item: TokenStream) -> Result<FnItem, syn::Error> {
    if let Ok(f) = syn::parse2::<syn::ItemFn>(item.clone()) {
        return Ok(FnItem {
            attrs: f.attrs,
            vis: f.vis,
            defaultness: None,
            sig: f.sig,
            block: *f.block,
        });
    }
    if let Ok(f) = syn::parse2::<syn::ImplItemFn>(item.clone()) {
        return Ok(FnItem {
            attrs: f.attrs,
            vis: f.vis,
            defaultness: f.modifiers.defaultness,
            sig: f.sig,
            block: f.block,
        });
    }
    if let Ok(f) = syn::parse2::<syn::TraitItemFn>(item.clone()) {
        return Err(syn::Error::new_spanned(
            &f.sig.ident,
            "#[tsmon::instrument] needs a fn body: put it on the implementations of this trait \
             method, or give the method a default body",
        ));
    }
    let what = match syn::parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Impl(_)) => {
            "#[tsmon::instrument] applies to fns, not to an impl block: put it on each method to instrument"
        }
        Ok(syn::Item::Trait(_)) => {
            "#[tsmon::instrument] applies to fns, not to a trait: put it on the methods of its implementations"
        }
        _ => "#[tsmon::instrument] applies to fns (free fns, methods, associated fns) only",
    };
    let span = item
        .clone()
        .into_iter()
        .find(|t| matches!(t, proc_macro2::TokenTree::Ident(_)))
        .map_or_else(Span::call_site, |t| t.span());
    Err(syn::Error::new(span, what))
}

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let args = parse_args(args, &mut errors);
    let f = match parse_item(item.clone()) {
        Ok(f) => f,
        Err(e) => {
            errors.push(e);
            let errs = errors.into_compile_error();
            return quote!(#item #errs);
        }
    };
    check_fn(&f.sig, &args, &mut errors);
    if errors.has_errors() {
        // The item comes out unchanged, so the rest of the crate still type-checks.
        let errs = errors.into_compile_error();
        return quote!(#item #errs);
    }
    let expanded = expand_fn(f, &args);
    quote!(#expanded)
}

fn check_fn(sig: &Signature, args: &Args, errors: &mut Errors) {
    if let Some(c) = &sig.constness {
        errors.spanned(
            c,
            "#[tsmon::instrument] cannot wrap a `const fn`: a call at compile time has no clock \
             and no store; remove `const` or the attribute",
        );
    }
    if let Some(abi) = &sig.abi {
        errors.spanned(
            abi,
            "#[tsmon::instrument] cannot wrap an `extern` fn: a panic must not unwind across its \
             ABI; instrument a Rust fn that it calls instead",
        );
    }
    if let Some(v) = &sig.variadic {
        errors.spanned(v, "#[tsmon::instrument] cannot wrap a variadic fn");
    }
    if args.calls == Some(false) && args.latency == Some(false) && args.in_flight == Some(false) {
        errors.push(syn::Error::new(
            Span::call_site(),
            "`calls`, `latency` and `in_flight` are all off: nothing would be recorded; remove the attribute instead",
        ));
    }
    if args.prefix.is_none() {
        if let Some((span, _)) = &args.fields {
            errors.push(syn::Error::new(
                *span,
                "extra `fields` change the shape of the metrics, so they need their own \
                 `prefix = \"...\"` (the default `function/*` metrics have fixed fields)",
            ));
        }
        if let Some((span, _)) = &args.bucketer {
            errors.push(syn::Error::new(
                *span,
                "a `bucketer` changes the durations metric, so it needs its own \
                 `prefix = \"...\"` (`function/durations` has a fixed bucketer)",
            ));
        }
    }
}

/// The return type with every `impl Trait` replaced by `_`, so it can annotate a `let`.
fn inferable(ty: &syn::Type) -> syn::Type {
    struct Infer;
    impl VisitMut for Infer {
        fn visit_type_mut(&mut self, ty: &mut syn::Type) {
            if let syn::Type::ImplTrait(t) = ty {
                *ty = syn::Type::Infer(syn::TypeInfer {
                    attrs: Vec::new(),
                    underscore_token: syn::Token![_](t.span()),
                });
                return;
            }
            syn::visit_mut::visit_type_mut(self, ty);
        }
    }
    let mut ty = ty.clone();
    Infer.visit_type_mut(&mut ty);
    ty
}

fn has_infer(ty: &syn::Type) -> bool {
    struct Find(bool);
    impl syn::visit::Visit<'_> for Find {
        fn visit_type_infer(&mut self, _: &syn::TypeInfer) {
            self.0 = true;
        }
    }
    let mut f = Find(false);
    syn::visit::Visit::visit_type(&mut f, ty);
    f.0
}

fn is_result(ty: &syn::Type) -> bool {
    match ty {
        syn::Type::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == "Result"),
        syn::Type::Paren(p) => is_result(&p.elem),
        syn::Type::Group(g) => is_result(&g.elem),
        _ => false,
    }
}

/// Rewrites the `return`s of a sync body into `break`s out of the labeled block, leaving those
/// of closures, async blocks and nested items alone.
struct Returns<'a> {
    label: &'a syn::Lifetime,
}

impl VisitMut for Returns<'_> {
    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        match expr {
            Expr::Closure(_) | Expr::Async(_) | Expr::Const(_) => {}
            Expr::Return(r) => {
                if let Some(value) = &mut r.expr {
                    self.visit_expr_mut(value);
                }
                let label = self.label;
                let value = r.expr.take();
                let span = r.return_token.span;
                *expr = syn::parse_quote_spanned!(span=> break #label #value);
            }
            _ => syn::visit_mut::visit_expr_mut(self, expr),
        }
    }

    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}

/// `Box::pin(async move { ... })` as the whole body: a method `#[async_trait]` has already
/// rewritten. The async block is what to instrument.
fn async_trait_body(block: &mut Block) -> Option<&mut syn::ExprAsync> {
    let [syn::Stmt::Expr(Expr::Call(call), None)] = block.stmts.as_mut_slice() else {
        return None;
    };
    let Expr::Path(func) = &*call.func else {
        return None;
    };
    let segs: Vec<String> = func
        .path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    if segs.len() < 2 || segs[segs.len() - 2] != "Box" || segs[segs.len() - 1] != "pin" {
        return None;
    }
    if call.args.len() != 1 {
        return None;
    }
    match call.args.first_mut() {
        Some(Expr::Async(a)) if a.capture.is_some() => Some(a),
        _ => None,
    }
}

/// The `Output = T` of a `Pin<Box<dyn Future<Output = T> + ...>>` return type.
fn future_output(ret: &syn::ReturnType) -> Option<syn::Type> {
    let syn::ReturnType::Type(_, ty) = ret else {
        return None;
    };
    let mut found = None;
    struct Find<'a>(&'a mut Option<syn::Type>);
    impl syn::visit::Visit<'_> for Find<'_> {
        fn visit_assoc_type(&mut self, a: &syn::AssocType) {
            if a.ident == "Output" && self.0.is_none() {
                *self.0 = Some(a.ty.clone());
            }
        }
    }
    syn::visit::Visit::visit_type(&mut Find(&mut found), ty);
    found
}

fn expand_fn(mut f: FnItem, args: &Args) -> TokenStream {
    let krate = args.krate.clone().unwrap_or_else(default_crate_path);
    let mixed = Span::mixed_site();
    let call = Ident::new("__tsmon_call", mixed);
    let ret = Ident::new("__tsmon_ret", mixed);
    let site = Ident::new("__TSMON_FN", Span::call_site());
    let index = Ident::new("__TSMON_INDEX", Span::call_site());

    let ident_str = f.sig.ident.to_string();
    let function = args.name.as_ref().map_or_else(
        || ident_str.trim_start_matches("r#").to_owned(),
        LitStr::value,
    );
    let mut statics = site_statics(&f, args, &krate, &site, &function);
    statics.extend(quote! {
        static #index: #krate::__private::SiteIndex = #krate::__private::SiteIndex::new();
    });

    let classify = |value: &Ident| -> TokenStream {
        match &args.classify {
            Some(path) => {
                let span = path.span();
                let applied = quote_spanned!(span=> (#path)(&#value));
                quote! {{
                    #[allow(clippy::redundant_closure_call)]
                    let outcome: #krate::__private::Outcome = #applied;
                    outcome
                }}
            }
            None => quote! {{
                #[allow(unused_imports)]
                use #krate::__private::{ViaClassify as _, ViaDefault as _};
                (&#krate::__private::Probe(&#value)).__tsmon_outcome()
            }},
        }
    };

    let is_async = f.sig.asyncness.is_some();
    let async_trait_output = if is_async {
        None
    } else {
        future_output(&f.sig.output)
    };
    if !is_async
        && let Some(output) = async_trait_output
        && let Some(inner) = async_trait_body(&mut f.block)
    {
        // `#[async_trait]` ran first: instrument the future the method boxes.
        let body = &inner.block;
        let ty = inferable(&output);
        let outcome = classify(&ret);
        let new_block: Block = syn::parse_quote! {{
            let #call = #krate::__private::Call::start(&#site, &#index, #krate::__private::Outcome::Cancelled);
            let #ret: #ty = #krate::__private::typed::<#ty, _>(async move #body).await;
            #call.finish(#outcome);
            #ret
        }};
        inner.block = new_block;
        let FnItem {
            attrs,
            vis,
            defaultness,
            sig,
            block,
        } = f;
        let stmts = &block.stmts;
        return quote! {
            #(#attrs)* #vis #defaultness #sig {
                #statics
                #(#stmts)*
            }
        };
    }

    let (ty, never) = match &f.sig.output {
        syn::ReturnType::Default => (syn::parse_quote!(()), false),
        syn::ReturnType::Type(_, t) => (inferable(t), matches!(**t, syn::Type::Never(_))),
    };
    let body = &f.block;
    let outcome = classify(&ret);
    let inner = if is_async {
        quote! {
            let #call = #krate::__private::Call::start(&#site, &#index, #krate::__private::Outcome::Cancelled);
            let #ret: #ty = #krate::__private::typed::<#ty, _>(async move #body).await;
            #call.finish(#outcome);
            #ret
        }
    } else if never {
        quote! {
            #[allow(unused_variables)]
            let #call = #krate::__private::Call::start(&#site, &#index, #krate::__private::Outcome::Error);
            #body
        }
    } else {
        // The early-exit outcome comes from the type when it can be named (aliases of
        // `Result` included); with an `impl Trait` in it, from the name of the outer type.
        let early = if has_infer(&ty) {
            if is_result(&ty) {
                quote!(#krate::__private::Outcome::Error)
            } else {
                quote!(#krate::__private::Outcome::Ok)
            }
        } else {
            quote! {{
                #[allow(unused_imports)]
                use #krate::__private::{EarlyViaDefault as _, EarlyViaResult as _};
                (&#krate::__private::TypeProbe::<#ty>::new()).__tsmon_early()
            }}
        };
        let label = syn::Lifetime::new("'__tsmon_body", mixed);
        let mut body = f.block.clone();
        Returns { label: &label }.visit_block_mut(&mut body);
        quote! {
            let #call = #krate::__private::Call::start(&#site, &#index, #early);
            #[allow(unreachable_code, clippy::needless_return)]
            let #ret: #ty = #label: #body;
            // A body that diverges (`todo!()`, `panic!`) makes this unreachable: the lint
            // warns once, on the first unreachable statement, which is this one.
            #[allow(unreachable_code)]
            #call.finish(#outcome);
            #ret
        }
    };
    let FnItem {
        attrs,
        vis,
        defaultness,
        sig,
        ..
    } = f;
    quote! {
        #(#attrs)* #vis #defaultness #sig {
            #statics
            #inner
        }
    }
}

/// The `FnDesc` of this fn and, under a `prefix`, the metric declarations of its family, all
/// written by the emitter.
fn site_statics(
    f: &FnItem,
    args: &Args,
    krate: &syn::Path,
    site: &Ident,
    function: &str,
) -> TokenStream {
    let decl_site = Site::of(f.sig.ident.span());
    let calls_on = args.calls != Some(false);
    let latency_on = args.latency != Some(false);
    let in_flight_on = args.in_flight != Some(false);
    let none = quote!(::core::option::Option::None);

    let mut family = TokenStream::new();
    let (calls, durations, in_flight) = match &args.prefix {
        None => {
            let pick = |on: bool, name: &str| {
                let name = format_ident!("{}", name);
                if on {
                    quote!(::core::option::Option::Some(#krate::__private::#name.desc()))
                } else {
                    none.clone()
                }
            };
            (
                pick(calls_on, "CALLS"),
                pick(latency_on, "DURATIONS"),
                pick(in_flight_on, "IN_FLIGHT"),
            )
        }
        Some(prefix) => {
            let prefix = prefix.value();
            let extra: Vec<(String, FieldTy)> = args
                .fields
                .iter()
                .flat_map(|(_, fs)| fs.iter())
                .map(|(ident, value)| {
                    let ty = match value {
                        FixedValue::Str(_) => FieldTy::Str,
                        FixedValue::Int(..) => FieldTy::Int,
                        FixedValue::Bool(_) => FieldTy::Bool,
                    };
                    (ident.to_string(), ty)
                })
                .collect();
            let fields = |standard: &[&str]| -> Vec<(String, FieldTy)> {
                standard
                    .iter()
                    .map(|n| ((*n).to_owned(), FieldTy::Str))
                    .chain(extra.iter().cloned())
                    .collect()
            };
            let mut declare = |on: bool, ident: &str, spec: MetricSpec| {
                if !on {
                    return none.clone();
                }
                let ident = format_ident!("{}", ident);
                family.extend(emit::metric_static(krate, &ident, &spec));
                quote!(::core::option::Option::Some(&#ident))
            };
            let metric = |suffix: &str,
                          kind: &'static str,
                          fields: Vec<(String, FieldTy)>,
                          description: String| MetricSpec {
                name: format!("{prefix}/{suffix}"),
                kind,
                description,
                fields,
                units: None,
                bucketer: None,
                max_series: 0,
                shared: true,
                site: decl_site,
            };
            let calls = declare(
                calls_on,
                "__TSMON_CALLS",
                metric(
                    "calls",
                    "Counter",
                    fields(&["function", "module", "outcome"]),
                    format!(
                        "Calls of the functions instrumented under `{prefix}`, by outcome (ok, error, panic, cancelled)."
                    ),
                ),
            );
            let durations = declare(
                latency_on,
                "__TSMON_DURATIONS",
                MetricSpec {
                    units: Some("Seconds"),
                    bucketer: Some(match &args.bucketer {
                        Some((_, tokens)) => tokens.clone(),
                        None => quote!(LATENCY_BUCKETER),
                    }),
                    ..metric(
                        "durations",
                        "CumulativeDistribution",
                        fields(&["function", "module"]),
                        format!(
                            "Time spent in the functions instrumented under `{prefix}`, whatever the outcome."
                        ),
                    )
                },
            );
            let in_flight = declare(
                in_flight_on,
                "__TSMON_IN_FLIGHT",
                metric(
                    "in_flight",
                    "IntGauge",
                    fields(&["function", "module"]),
                    format!("Calls of the functions instrumented under `{prefix}` under way."),
                ),
            );
            (calls, durations, in_flight)
        }
    };
    let fixed: Vec<TokenStream> = args
        .fields
        .iter()
        .flat_map(|(_, fs)| fs.iter())
        .map(|(ident, value)| {
            let name = ident.to_string();
            let v = match value {
                FixedValue::Str(s) => quote!(#krate::__private::FieldValue::Str(#s)),
                FixedValue::Int(i) => quote!(#krate::__private::FieldValue::Int(#i)),
                FixedValue::Bool(b) => quote!(#krate::__private::FieldValue::Bool(#b)),
            };
            quote!((#name, #v))
        })
        .collect();
    let fn_static = emit::fn_static(
        krate,
        site,
        &FnSpec {
            function,
            calls,
            durations,
            in_flight,
            fixed,
            site: decl_site,
        },
    );
    quote! {
        #family
        #fn_static
    }
}
