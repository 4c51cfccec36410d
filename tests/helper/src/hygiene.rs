//! `#[tsmon::instrument]` in a strict crate on edition 2021 (see `tests/tests/hygiene.rs`).
#![forbid(unsafe_code)]
#![deny(clippy::pedantic, unused_qualifications, missing_docs, warnings)]
#![allow(clippy::missing_errors_doc)]

#[allow(dead_code)]
mod std {}
#[allow(dead_code)]
struct Result;
#[allow(dead_code)]
struct Ok;
#[allow(dead_code)]
struct Err;
#[allow(dead_code)]
struct Some;
#[allow(dead_code)]
struct None;

type Res<T> = ::core::result::Result<T, ::std::string::String>;

/// A sync fn with `?` and `return`.
#[tsmon::instrument]
pub fn lax_sync(input: &str) -> Res<u32> {
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
pub async fn lax_async(input: u32) -> Res<u32> {
    Res::Ok(input)
}

/// A type with an instrumented method.
#[derive(Debug, Default)]
pub struct Lax(u32);

impl Lax {
    /// `&mut self` returning a borrow of `self`.
    #[tsmon::instrument(name = "Lax::get_mut")]
    pub fn get_mut(&mut self) -> &mut u32 {
        &mut self.0
    }
}

/// Calls each fn once (and `lax_sync` twice: ok, then error).
///
/// # Panics
///
/// When a fn returns something unexpected.
pub fn exercise() {
    assert_eq!(lax_sync("1"), Res::Ok(1));
    assert!(lax_sync("x").is_err());
    let fut = lax_async(2);
    let mut fut = ::std::boxed::Box::pin(fut);
    let mut cx = ::core::task::Context::from_waker(::core::task::Waker::noop());
    assert!(::core::future::Future::poll(fut.as_mut(), &mut cx).is_ready());
    let mut lax = Lax::default();
    *lax.get_mut() += 1;
}
