//! `tsmon::metric!`: parse → validate → expand.
//!
//! ```text
//! tsmon::metric! {
//!     /// Requests served, by route and status.
//!     #[tsmon(units = seconds, bucketer = geometric(2.0, 20), max_series = 1000)]
//!     pub static REQUESTS: CumulativeDistribution(route: String, status: i64) = "http/requests";
//! }
//! ```

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Attribute, Ident, LitStr, Token, Visibility};

use crate::attr::{Errors, default_crate_path};
use crate::emit::{self, FieldTy, MetricSpec, Site};
use crate::names;

const MAX_FIELDS: usize = 8;

/// The kinds, as `(keyword, MetricKind variant, takes a bucketer, is a string metric)`.
const KINDS: &[(&str, &str, bool, bool)] = &[
    ("Counter", "Counter", false, false),
    ("FloatCounter", "FloatCounter", false, false),
    ("IntGauge", "IntGauge", false, false),
    ("FloatGauge", "FloatGauge", false, false),
    ("StringMetric", "String", false, true),
    ("BoolMetric", "Bool", false, false),
    (
        "CumulativeDistribution",
        "CumulativeDistribution",
        true,
        false,
    ),
    (
        "NonCumulativeDistribution",
        "NonCumulativeDistribution",
        true,
        false,
    ),
];

const UNITS: &[(&str, &str)] = &[
    ("seconds", "Seconds"),
    ("milliseconds", "Milliseconds"),
    ("microseconds", "Microseconds"),
    ("nanoseconds", "Nanoseconds"),
    ("bits", "Bits"),
    ("bytes", "Bytes"),
    ("kilobytes", "Kilobytes"),
    ("megabytes", "Megabytes"),
    ("gigabytes", "Gigabytes"),
    ("kibibytes", "Kibibytes"),
    ("mebibytes", "Mebibytes"),
    ("gibibytes", "Gibibytes"),
    ("amperes", "Amperes"),
    ("milliamperes", "Milliamperes"),
    ("celsius", "Celsius"),
];

const TIME_UNITS: &[&str] = &["seconds", "milliseconds", "microseconds", "nanoseconds"];

pub(crate) fn expand(input: TokenStream) -> TokenStream {
    match syn::parse2::<Decls>(input) {
        Ok(decls) => {
            let mut seen: Vec<String> = Vec::new();
            let mut out = TokenStream::new();
            for decl in decls.0 {
                let name = decl.name.value();
                let dup = seen.contains(&name).then(|| {
                    syn::Error::new_spanned(
                        &decl.name,
                        format!("metric `{name}` is declared twice in this `tsmon::metric!` block"),
                    )
                    .into_compile_error()
                });
                seen.push(name);
                out.extend(expand_one(decl));
                out.extend(dup);
            }
            out
        }
        Err(e) => e.into_compile_error(),
    }
}

struct Decls(Vec<Decl>);

impl Parse for Decls {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut decls = Vec::new();
        while !input.is_empty() {
            decls.push(input.parse()?);
        }
        if decls.is_empty() {
            return Err(input.error(
                "`tsmon::metric!` expects at least one declaration: `/// description` then `pub static NAME: Counter(field: String) = \"metric/name\";`",
            ));
        }
        Ok(Decls(decls))
    }
}

struct Decl {
    attrs: Vec<Attribute>,
    vis: Visibility,
    static_token: Token![static],
    ident: Ident,
    kind: Ident,
    fields: Punctuated<FieldDecl, Token![,]>,
    fields_span: Span,
    name: LitStr,
}

struct FieldDecl {
    name: Ident,
    ty: syn::Type,
}

impl Parse for FieldDecl {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let name = input.call(Ident::parse_any_ident)?;
        input.parse::<Token![:]>()?;
        Ok(FieldDecl {
            name,
            ty: input.parse()?,
        })
    }
}

trait ParseAnyIdent {
    fn parse_any_ident(input: ParseStream<'_>) -> syn::Result<Ident>;
}

impl ParseAnyIdent for Ident {
    fn parse_any_ident(input: ParseStream<'_>) -> syn::Result<Ident> {
        use syn::ext::IdentExt;
        Ident::parse_any(input)
    }
}

impl Parse for Decl {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let lookahead = input.lookahead1();
        if !lookahead.peek(Token![static]) {
            return Err(syn::Error::new(
                input.span(),
                "expected `static`: a metric is declared as `pub static NAME: Counter(field: String) = \"metric/name\";`",
            ));
        }
        let static_token = input.parse()?;
        let ident = input.parse()?;
        input.parse::<Token![:]>()?;
        let kind: Ident = input.parse()?;
        let (fields, fields_span) = if input.peek(syn::token::Paren) {
            let content;
            let paren = syn::parenthesized!(content in input);
            (
                content.parse_terminated(FieldDecl::parse, Token![,])?,
                paren.span.join(),
            )
        } else {
            (Punctuated::new(), kind.span())
        };
        input.parse::<Token![=]>()?;
        let name = input.parse()?;
        input.parse::<Token![;]>()?;
        Ok(Decl {
            attrs,
            vis,
            static_token,
            ident,
            kind,
            fields,
            fields_span,
            name,
        })
    }
}

/// What `#[tsmon(...)]` says.
#[derive(Default)]
struct Options {
    units: Option<(Ident, &'static str)>,
    bucketer: Option<(Span, TokenStream)>,
    max_series: Option<(Span, u64)>,
    krate: Option<syn::Path>,
}

fn parse_options(attrs: &[Attribute], errors: &mut Errors) -> Options {
    let mut opts = Options::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("tsmon")) {
        let result = attr.parse_nested_meta(|meta| {
            let key = meta.path.get_ident().map(ToString::to_string).unwrap_or_default();
            let dup = |present: bool| {
                if present {
                    Err(meta.error(format!("`{key}` is given twice")))
                } else {
                    Ok(())
                }
            };
            match key.as_str() {
                "units" => {
                    dup(opts.units.is_some())?;
                    let ident: Ident = meta.value()?.parse()?;
                    let Some((_, variant)) = UNITS.iter().find(|(k, _)| ident == k) else {
                        let valid: Vec<_> = UNITS.iter().map(|(k, _)| *k).collect();
                        return Err(syn::Error::new_spanned(
                            &ident,
                            format!("unknown unit `{ident}`; expected one of: {}", valid.join(", ")),
                        ));
                    };
                    opts.units = Some((ident, variant));
                }
                "bucketer" => {
                    dup(opts.bucketer.is_some())?;
                    let expr: syn::Expr = meta.value()?.parse()?;
                    opts.bucketer = Some((expr.span(), parse_bucketer(&expr)?));
                }
                "max_series" => {
                    dup(opts.max_series.is_some())?;
                    let lit: syn::LitInt = meta.value()?.parse()?;
                    let n: u64 = lit.base10_parse()?;
                    if n == 0 {
                        return Err(syn::Error::new_spanned(&lit, "`max_series` must be at least 1"));
                    }
                    opts.max_series = Some((lit.span(), n));
                }
                "crate" => {
                    dup(opts.krate.is_some())?;
                    opts.krate = Some(meta.value()?.parse()?);
                }
                _ => {
                    return Err(meta.error(format!(
                        "unknown `#[tsmon]` option `{}`; expected one of: units, bucketer, max_series, crate",
                        quote::ToTokens::to_token_stream(&meta.path).to_string().replace(' ', "")
                    )));
                }
            }
            Ok(())
        });
        if let Err(e) = result {
            errors.push(e);
        }
    }
    opts
}

fn lit_f64(expr: &syn::Expr) -> syn::Result<f64> {
    match expr {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Float(f),
            ..
        }) => f.base10_parse(),
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(i),
            ..
        }) => i.base10_parse(),
        syn::Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Neg(_),
            expr,
            ..
        }) => Ok(-lit_f64(expr)?),
        other => Err(syn::Error::new_spanned(other, "expected a number literal")),
    }
}

fn lit_u32(expr: &syn::Expr) -> syn::Result<u32> {
    match expr {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(i),
            ..
        }) => i.base10_parse(),
        syn::Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Neg(_),
            ..
        }) => Err(syn::Error::new_spanned(
            expr,
            "the number of finite buckets must be at least 1",
        )),
        other => Err(syn::Error::new_spanned(
            other,
            "expected an integer literal",
        )),
    }
}

/// `bounds(b0, b1, …)`: explicit bucket bounds, at least one, finite and strictly increasing.
fn parse_bounds(call: &syn::ExprCall, args: &[&syn::Expr]) -> syn::Result<TokenStream> {
    if args.is_empty() {
        return Err(syn::Error::new_spanned(
            call,
            "`bounds` needs at least one bound",
        ));
    }
    if args.len() > 10_000 {
        return Err(syn::Error::new_spanned(call, "at most 10000 bounds"));
    }
    let mut bounds = Vec::with_capacity(args.len());
    for arg in args {
        let b = lit_f64(arg)?;
        if !b.is_finite() {
            return Err(syn::Error::new_spanned(
                arg,
                "a bucket bound must be finite (the `+Inf` bucket is always there)",
            ));
        }
        if let Some(&prev) = bounds.last()
            && b <= prev
        {
            return Err(syn::Error::new_spanned(
                arg,
                format!("the bucket bounds must be strictly increasing: {b} follows {prev}"),
            ));
        }
        bounds.push(b);
    }
    Ok(quote!(BucketerSpec::explicit(&[#(#bounds),*])))
}

/// `native(schema, …)` or `native(factor = f, …)`, then optionally `max_buckets = n` and
/// `zero_threshold = t`: a native histogram, checked at compile time.
fn parse_native(call: &syn::ExprCall, args: &[&syn::Expr]) -> syn::Result<TokenStream> {
    const EXPECTED: &str = "expected `native(schema)` or `native(factor = f)`, then optionally `max_buckets = n` and `zero_threshold = t`";
    let mut schema: Option<i8> = None;
    let mut max_buckets: Option<u32> = None;
    let mut zero_threshold: Option<f64> = None;
    for (n, arg) in args.iter().enumerate() {
        if n == 0 && !matches!(arg, syn::Expr::Assign(_)) {
            let s = match arg {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Int(i),
                    ..
                }) => i.base10_parse::<i64>()?,
                syn::Expr::Unary(syn::ExprUnary {
                    op: syn::UnOp::Neg(_),
                    expr,
                    ..
                }) => match &**expr {
                    syn::Expr::Lit(syn::ExprLit {
                        lit: syn::Lit::Int(i),
                        ..
                    }) => -i.base10_parse::<i64>()?,
                    other => {
                        return Err(syn::Error::new_spanned(other, "expected an integer schema"));
                    }
                },
                other => return Err(syn::Error::new_spanned(other, "expected an integer schema")),
            };
            if !(-4..=8).contains(&s) {
                return Err(syn::Error::new_spanned(
                    arg,
                    format!("a native histogram's schema is from -4 to 8, not {s}"),
                ));
            }
            schema = Some(s as i8);
            continue;
        }
        let syn::Expr::Assign(assign) = arg else {
            return Err(syn::Error::new_spanned(arg, EXPECTED));
        };
        let key = match &*assign.left {
            syn::Expr::Path(p) => p.path.get_ident().map(ToString::to_string),
            _ => None,
        }
        .unwrap_or_default();
        let value = &*assign.right;
        let dup = |set: bool| {
            if set {
                Err(syn::Error::new_spanned(
                    &assign.left,
                    format!("`{key}` is given twice"),
                ))
            } else {
                Ok(())
            }
        };
        match key.as_str() {
            "factor" => {
                if schema.is_some() {
                    return Err(syn::Error::new_spanned(
                        &assign.left,
                        "give a schema or a `factor`, not both",
                    ));
                }
                let f = lit_f64(value)?;
                if !(f > 1.0 && f.is_finite()) {
                    return Err(syn::Error::new_spanned(
                        value,
                        "the growth factor must be greater than 1",
                    ));
                }
                // As `tsmon::distribution::native::schema_for_factor`.
                let floor = f.log2().log2().floor();
                schema = Some(if floor <= -8.0 {
                    8
                } else if floor >= 4.0 {
                    -4
                } else {
                    -(floor as i8)
                });
            }
            "max_buckets" => {
                dup(max_buckets.is_some())?;
                let m = lit_u32(value)?;
                if m == 0 {
                    return Err(syn::Error::new_spanned(
                        value,
                        "`max_buckets` must be at least 1",
                    ));
                }
                max_buckets = Some(m);
            }
            "zero_threshold" => {
                dup(zero_threshold.is_some())?;
                let t = lit_f64(value)?;
                if !(t >= 0.0 && t.is_finite()) {
                    return Err(syn::Error::new_spanned(
                        value,
                        "the zero threshold must be a finite number, 0 or more",
                    ));
                }
                zero_threshold = Some(t);
            }
            _ => return Err(syn::Error::new_spanned(&assign.left, EXPECTED)),
        }
    }
    let Some(schema) = schema else {
        return Err(syn::Error::new_spanned(call, EXPECTED));
    };
    let mut spec = quote!(BucketerSpec::native(#schema));
    if let Some(m) = max_buckets {
        spec = quote!(#spec.with_max_buckets(#m));
    }
    if let Some(t) = zero_threshold {
        spec = quote!(#spec.with_zero_threshold(#t));
    }
    Ok(spec)
}

/// `fixed_width(w, n)`, `geometric(g, n)`, `geometric_with_scale(g, n, s)`, `bounds(…)`,
/// `native(…)` or `default`, with the Go constructors' checks done at compile time.
pub(crate) fn parse_bucketer(expr: &syn::Expr) -> syn::Result<TokenStream> {
    const EXPECTED: &str = "expected `default`, `fixed_width(width, n)`, `geometric(growth, n)`, `geometric_with_scale(growth, n, scale)`, `bounds(b0, b1, …)` or `native(schema)`";
    if let syn::Expr::Path(p) = expr
        && p.path.is_ident("default")
    {
        return Ok(quote!(BucketerSpec::DEFAULT));
    }
    let syn::Expr::Call(call) = expr else {
        return Err(syn::Error::new_spanned(expr, EXPECTED));
    };
    let syn::Expr::Path(func) = &*call.func else {
        return Err(syn::Error::new_spanned(&call.func, EXPECTED));
    };
    let which = func
        .path
        .get_ident()
        .map(ToString::to_string)
        .unwrap_or_default();
    let args: Vec<&syn::Expr> = call.args.iter().collect();
    if which == "bounds" {
        return parse_bounds(call, &args);
    }
    if which == "native" {
        return parse_native(call, &args);
    }
    let arity = match which.as_str() {
        "fixed_width" | "geometric" => 2,
        "geometric_with_scale" => 3,
        _ => return Err(syn::Error::new_spanned(&call.func, EXPECTED)),
    };
    if args.len() != arity {
        return Err(syn::Error::new_spanned(
            call,
            format!("`{which}` takes {arity} arguments, not {}", args.len()),
        ));
    }
    let n = lit_u32(args[1])?;
    if n == 0 {
        return Err(syn::Error::new_spanned(
            args[1],
            "the number of finite buckets must be at least 1",
        ));
    }
    if n > 10_000 {
        return Err(syn::Error::new_spanned(
            args[1],
            "at most 10000 finite buckets",
        ));
    }
    let first = lit_f64(args[0])?;
    match which.as_str() {
        "fixed_width" => {
            if !(first > 0.0 && first.is_finite()) {
                return Err(syn::Error::new_spanned(
                    args[0],
                    "the bucket width must be a positive number",
                ));
            }
            Ok(quote!(BucketerSpec::fixed_width(#first, #n)))
        }
        _ => {
            if !(first > 1.0 && first.is_finite()) {
                return Err(syn::Error::new_spanned(
                    args[0],
                    "the growth factor must be greater than 1",
                ));
            }
            let scale = if arity == 3 { lit_f64(args[2])? } else { 1.0 };
            if !(scale > 0.0 && scale.is_finite()) {
                return Err(syn::Error::new_spanned(
                    args[2],
                    "the scale must be a positive number",
                ));
            }
            if !(scale * first.powf(f64::from(n))).is_finite() {
                return Err(syn::Error::new_spanned(
                    call,
                    "the bucket bounds overflow an f64",
                ));
            }
            Ok(quote!(BucketerSpec::geometric_with_scale(#first, #n, #scale)))
        }
    }
}

fn field_type(ty: &syn::Type) -> Option<FieldTy> {
    match ty {
        syn::Type::Path(p) if p.qself.is_none() => {
            let ident = p.path.get_ident()?;
            if ident == "String" || ident == "str" {
                Some(FieldTy::Str)
            } else if ident == "i64" {
                Some(FieldTy::Int)
            } else if ident == "bool" {
                Some(FieldTy::Bool)
            } else {
                None
            }
        }
        syn::Type::Reference(r) if r.mutability.is_none() => match field_type(&r.elem) {
            Some(FieldTy::Str) => Some(FieldTy::Str),
            _ => None,
        },
        _ => None,
    }
}

fn description(attrs: &[Attribute]) -> String {
    let mut lines = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident("doc")) {
        if let syn::Meta::NameValue(nv) = &attr.meta
            && let syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) = &nv.value
        {
            lines.push(s.value().trim().to_owned());
        }
    }
    lines
        .into_iter()
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A declaration, validated: what the expansion writes.
struct Validated {
    krate: syn::Path,
    /// The metric type (`Counter`, …) of the static.
    type_name: &'static str,
    spec: MetricSpec,
}

/// Checks a declaration, reporting every mistake at its span; `None` when no expansion can be
/// written (an unknown kind). Past the field limit (reported), the fields are cut to it so the
/// expansion stays well-typed.
fn validate(decl: &Decl, errors: &mut Errors) -> Option<Validated> {
    let opts = parse_options(&decl.attrs, errors);
    let krate = opts.krate.clone().unwrap_or_else(default_crate_path);

    let kind_str = decl.kind.to_string();
    let Some(&(type_name, variant, takes_bucketer, is_string)) =
        KINDS.iter().find(|(k, ..)| *k == kind_str)
    else {
        let valid: Vec<_> = KINDS.iter().map(|(k, ..)| *k).collect();
        errors.spanned(
            &decl.kind,
            format!(
                "unknown metric kind `{kind_str}`; expected one of: {}",
                valid.join(", ")
            ),
        );
        return None;
    };

    let name = decl.name.value();
    if let Err(msg) = names::check_metric_name(&name) {
        errors.spanned(&decl.name, msg);
    }

    let description = description(&decl.attrs);
    if description.is_empty() {
        errors.spanned(
            &decl.ident,
            format!(
                "add a `///` doc comment to `{}`: it is the metric's description (the Prometheus HELP text)",
                decl.ident
            ),
        );
    }

    if decl.fields.len() > MAX_FIELDS {
        errors.push(syn::Error::new(
            decl.fields_span,
            format!(
                "a metric has at most {MAX_FIELDS} fields, this one has {}",
                decl.fields.len()
            ),
        ));
    }
    let mut fields = Vec::new();
    for (i, field) in decl.fields.iter().enumerate() {
        let fname = field.name.to_string();
        if let Err(msg) = names::check_field_name(&fname) {
            errors.spanned(&field.name, msg);
        }
        if is_string && fname == "value" {
            errors.spanned(
                &field.name,
                "a `StringMetric` cannot have a field named `value`: its exposition uses that label for the string",
            );
        }
        if decl.fields.iter().take(i).any(|f| f.name == field.name) {
            errors.spanned(&field.name, format!("field `{fname}` is declared twice"));
        }
        let Some(ty) = field_type(&field.ty) else {
            errors.spanned(
                &field.ty,
                "unsupported field type; a field is `String`, `i64` or `bool`",
            );
            continue;
        };
        fields.push((fname, ty));
    }
    fields.truncate(MAX_FIELDS);

    let units = opts.units.as_ref().map(|(ident, variant)| {
        if (is_string || kind_str == "BoolMetric")
            && TIME_UNITS.contains(&ident.to_string().as_str())
        {
            errors.spanned(
                ident,
                format!("a `{kind_str}` cannot have a time unit: its values are not durations"),
            );
        }
        *variant
    });

    let bucketer = match (opts.bucketer, takes_bucketer) {
        (Some((_, tokens)), true) => Some(tokens),
        (None, true) => Some(quote!(BucketerSpec::DEFAULT)),
        (Some((span, _)), false) => {
            errors.push(syn::Error::new(
                span,
                format!("`bucketer` applies to distributions only, not to a `{kind_str}`"),
            ));
            None
        }
        (None, false) => None,
    };

    Some(Validated {
        krate,
        type_name,
        spec: MetricSpec {
            name,
            kind: variant,
            description,
            fields,
            units,
            bucketer,
            max_series: opts.max_series.map_or(0, |(_, n)| n),
            shared: false,
            site: Site::of(decl.ident.span()),
        },
    })
}

/// The static of a validated declaration: its catalog entry (written by the emitter) and the
/// metric over it.
fn expand_decl(decl: &Decl, v: &Validated) -> TokenStream {
    let Validated {
        krate,
        type_name,
        spec,
    } = v;
    let markers = spec.fields.iter().map(|(_, ty)| {
        let marker = format_ident!("{}", ty.marker());
        quote!(#krate::field::#marker)
    });
    let field_tuple = if spec.fields.is_empty() {
        quote!(())
    } else {
        quote!((#(#markers,)*))
    };
    let type_ident = format_ident!("{}", type_name);
    let Decl {
        attrs,
        vis,
        static_token,
        ident,
        ..
    } = decl;
    let kept_attrs = attrs.iter().filter(|a| !a.path().is_ident("tsmon"));
    let field_docs: Vec<String> = spec
        .fields
        .iter()
        .map(|(name, ty)| format!("`{name}: {}`", ty.rust()))
        .collect();
    let fields_doc = if field_docs.is_empty() {
        "no fields".to_owned()
    } else {
        format!("fields {}", field_docs.join(", "))
    };
    let catalog_doc = format!(
        " tsmon metric `{}`: a `{}` with {fields_doc}.",
        spec.name, decl.kind
    );
    let desc_ident = format_ident!("__TSMON_METRIC_{}", ident);
    let ty = quote_spanned!(decl.kind.span()=> #krate::metric::#type_ident<#field_tuple>);
    let desc_static = emit::metric_static(krate, &desc_ident, spec);
    quote! {
        #(#kept_attrs)*
        #[doc = ""]
        #[doc = #catalog_doc]
        #vis #static_token #ident: #ty = {
            #desc_static
            #krate::__private::metric(&#desc_ident)
        };
    }
}

/// Parse (done) → validate → expand; the errors follow the expansion.
fn expand_one(decl: Decl) -> TokenStream {
    let mut errors = Errors::default();
    let item = match validate(&decl, &mut errors) {
        Some(v) => expand_decl(&decl, &v),
        None => TokenStream::new(),
    };
    let errs = errors.into_compile_error();
    quote!(#item #errs)
}
