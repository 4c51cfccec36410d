//! What the macros expand to, pinned: each case's expansion, rendered by prettyplease, is
//! compared with the file of the same name in `snapshots/`. A change in generated code then
//! shows in review as a diff of those files, beside the trybuild cases of `ui-tests/`.
//!
//! After an intended change: `TSMON_UPDATE_SNAPSHOTS=1 cargo test -p tsmon-macros`, then read
//! the diff.

use proc_macro2::TokenStream;
use quote::quote;

fn render(tokens: &TokenStream) -> String {
    match syn::parse2::<syn::File>(tokens.clone()) {
        Ok(file) => prettyplease::unparse(&file),
        Err(e) => panic!("the expansion does not parse as a file: {e}\n{tokens}"),
    }
}

fn check(name: &str, expansion: &TokenStream) {
    let got = render(expansion);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("snapshots")
        .join(format!("{name}.rs"));
    if std::env::var_os("TSMON_UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; write it with TSMON_UPDATE_SNAPSHOTS=1 cargo test -p tsmon-macros",
            path.display()
        )
    });
    if got != want {
        let first = got
            .lines()
            .zip(want.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| got.lines().count().min(want.lines().count()));
        panic!(
            "the expansion of {name} changed (first difference at line {}):\n  now:  {}\n  was:  {}\n\
             If intended: TSMON_UPDATE_SNAPSHOTS=1 cargo test -p tsmon-macros, and review the diff.",
            first + 1,
            got.lines().nth(first).unwrap_or("<end>"),
            want.lines().nth(first).unwrap_or("<end>"),
        );
    }
}

#[test]
fn metric_block() {
    check(
        "metric_block",
        &crate::metric::expand(quote! {
            /// Requests served, by route and status.
            pub static REQUESTS: Counter(route: String, status: i64) = "example/requests";
            /// Time per request.
            #[tsmon(units = seconds, bucketer = geometric(2.0, 20), max_series = 100)]
            static LATENCY: CumulativeDistribution(route: String) = "example/latency";
        }),
    );
}

#[test]
fn instrument_sync() {
    check(
        "instrument_sync",
        &crate::instrument::expand(
            TokenStream::new(),
            quote! {
                fn parse(s: &str) -> Result<i64, std::num::ParseIntError> {
                    s.parse()
                }
            },
        ),
    );
}

#[test]
fn instrument_async() {
    check(
        "instrument_async",
        &crate::instrument::expand(
            TokenStream::new(),
            quote! {
                pub async fn fetch(id: u64) -> Result<String, std::io::Error> {
                    Ok(id.to_string())
                }
            },
        ),
    );
}

#[test]
fn instrument_method() {
    check(
        "instrument_method",
        &crate::instrument::expand(
            quote!(name = "Cache::get"),
            quote! {
                pub fn get(&self, key: &str) -> Option<&String> {
                    self.map.get(key)
                }
            },
        ),
    );
}

#[test]
fn instrument_prefix() {
    check(
        "instrument_prefix",
        &crate::instrument::expand(
            quote!(prefix = "example/jobs", fields(queue = "mail")),
            quote! {
                fn run(n: u32) -> u32 {
                    n + 1
                }
            },
        ),
    );
}

#[test]
fn main_sync() {
    check(
        "main_sync",
        &crate::main_attr::expand(
            quote!(service = "shop", job = "web"),
            quote! {
                fn main() {
                    println!("serving");
                }
            },
        ),
    );
}

#[test]
fn main_async() {
    check(
        "main_async",
        &crate::main_attr::expand(
            quote!(service = "shop", job = "web"),
            quote! {
                async fn main() -> Result<(), Box<dyn std::error::Error>> {
                    Ok(())
                }
            },
        ),
    );
}
