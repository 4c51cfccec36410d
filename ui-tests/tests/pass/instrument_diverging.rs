//! Instrumented fns whose bodies diverge compile without a warning, even under `deny(warnings)`.
#![deny(warnings)]

#[tsmon::instrument]
fn not_yet() -> u32 {
    todo!()
}

#[tsmon::instrument]
fn always_fails(reason: &str) -> Result<u32, String> {
    panic!("{reason}")
}

#[tsmon::instrument]
fn unit_panics() {
    panic!("no")
}

#[tsmon::instrument]
fn never_returns() -> ! {
    panic!("never")
}

#[tsmon::instrument]
fn returns_then_diverges(x: u32) -> u32 {
    if x > 1 {
        return x;
    }
    unimplemented!()
}

#[tsmon::instrument]
async fn async_not_yet() -> u32 {
    todo!()
}

#[tsmon::instrument]
async fn async_panics() {
    panic!("no")
}

struct S;

impl S {
    #[tsmon::instrument]
    fn method(&self) -> u8 {
        unreachable!()
    }
}

fn main() {
    let _ = (not_yet as fn() -> u32, always_fails as fn(&str) -> Result<u32, String>);
    let _ = (unit_panics as fn(), never_returns as fn() -> !, returns_then_diverges as fn(u32) -> u32);
    let _ = (async_not_yet(), async_panics(), S.method_ptr());
}

impl S {
    fn method_ptr(&self) -> fn(&S) -> u8 {
        S::method
    }
}
