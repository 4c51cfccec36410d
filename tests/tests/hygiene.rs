//! `#[tsmon::instrument]` expansions stay clean in a strict user crate (edition 2024): pedantic
//! clippy and `unused_qualifications` denied, unsafe code forbidden, and the prelude names the
//! expansion could trip over (`std`, `Result`, `Ok`, `Err`, `Option`, `Some`, `None`) shadowed.
//! The same fns on edition 2021 live in the helper crate (`tests/helper/src/hygiene.rs`).
#![forbid(unsafe_code)]
#![deny(clippy::pedantic, unused_qualifications, missing_docs, warnings)]

#[allow(dead_code)]
mod std {}
#[allow(dead_code)]
struct Result;
#[allow(dead_code)]
struct Ok;
#[allow(dead_code)]
struct Err;
#[allow(dead_code)]
struct Option;
#[allow(dead_code)]
struct Some;
#[allow(dead_code)]
struct None;

type Res<T> = ::core::result::Result<T, ::std::string::String>;

/// A sync fn whose `?` and `return` go through the expansion.
#[tsmon::instrument]
#[must_use]
pub fn strict_sync(input: &str) -> Res<u32> {
    if input.is_empty() {
        return Res::Ok(0);
    }
    let n: u32 = input
        .parse()
        .map_err(|_| ::std::string::String::from("nan"))?;
    Res::Ok(n)
}

/// An async fn.
#[tsmon::instrument]
pub async fn strict_async(input: u32) -> Res<u32> {
    Res::Ok(input + 1)
}

/// A generic fn with a where clause, returning `impl Trait`.
#[tsmon::instrument]
pub fn strict_generic<T>(items: &[T]) -> impl Iterator<Item = &T> + '_
where
    T: ::core::fmt::Debug,
{
    items.iter()
}

/// A type with instrumented methods.
#[derive(Debug, Default)]
pub struct Strict(u32);

impl Strict {
    /// `&mut self` returning a borrow of `self`.
    #[tsmon::instrument(name = "Strict::get_mut")]
    pub fn get_mut(&mut self) -> &mut u32 {
        &mut self.0
    }

    /// By value.
    #[tsmon::instrument(name = "Strict::into_inner")]
    #[must_use]
    pub fn into_inner(self) -> u32 {
        self.0
    }
}

/// Renamed dependency.
#[tsmon::instrument(crate = ::tsmon, prefix = "hygiene/strict", fields(edition = 2024))]
pub fn strict_renamed() {}

fn block_on<F: ::core::future::Future>(f: F) -> F::Output {
    let mut f = ::core::pin::pin!(f);
    let mut cx = ::core::task::Context::from_waker(::core::task::Waker::noop());
    loop {
        if let ::core::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

#[test]
fn strict_crates_on_both_editions_compile_and_record() {
    let state = tsmon::State::builder().build().unwrap();
    state.in_scope(|| {
        assert_eq!(strict_sync("4"), Res::Ok(4));
        assert!(strict_sync("x").is_err());
        assert_eq!(block_on(strict_async(1)), Res::Ok(2));
        assert_eq!(strict_generic(&[1, 2]).count(), 2);
        let mut s = Strict::default();
        *s.get_mut() += 3;
        assert_eq!(s.into_inner(), 3);
        strict_renamed();
        tsmon_test_helper::hygiene::exercise();
    });
    let snap = state.snapshot();
    let count = |module: &str, function: &str, outcome: &str| {
        use tsmon::field::FieldValue::Str;
        match snap
            .metric("function/calls")
            .and_then(|m| m.find(&[Str(function), Str(module), Str(outcome)]))
            .map(tsmon::store::CellSnapshot::value)
        {
            ::core::option::Option::Some(tsmon::store::Value::Int(n)) => *n,
            other => panic!("{module}::{function}: {other:?}"),
        }
    };
    let here = module_path!();
    assert_eq!(count(here, "strict_sync", "ok"), 1);
    assert_eq!(count(here, "strict_sync", "error"), 1);
    assert_eq!(count(here, "strict_async", "ok"), 1);
    assert_eq!(count(here, "strict_generic", "ok"), 1);
    assert_eq!(count(here, "Strict::get_mut", "ok"), 1);
    let helper = "tsmon_test_helper::hygiene";
    assert_eq!(count(helper, "lax_sync", "ok"), 1);
    assert_eq!(count(helper, "lax_sync", "error"), 1);
    assert_eq!(count(helper, "lax_async", "ok"), 1);
    assert_eq!(count(helper, "Lax::get_mut", "ok"), 1);
}
