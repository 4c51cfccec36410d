//! Every place the attribute works, with every argument, under strict lints.
#![forbid(unsafe_code)]
#![deny(missing_docs, unused_qualifications, clippy::all, clippy::pedantic)]

use tsmon as t2;
use tsmon::instrument::Outcome;

/// A user type classified by the trait.
pub struct Reply(u16);

impl tsmon::instrument::Classify for Reply {
    fn classify(&self) -> Outcome {
        if self.0 >= 500 { Outcome::Error } else { Outcome::Ok }
    }
}

fn by_len(v: &Vec<u8>) -> Outcome {
    if v.is_empty() { Outcome::Error } else { Outcome::Ok }
}

#[tsmon::instrument]
fn free() -> Reply {
    Reply(200)
}

#[tsmon::instrument(
    name = "custom",
    prefix = "ui/everything",
    fields(region = "eu", shard = 3, canary = false),
    classify = by_len,
    bucketer = geometric_with_scale(2.0, 20, 0.000001),
    in_flight = false,
    crate = t2,
)]
fn everything() -> Vec<u8> {
    vec![1]
}

#[tsmon::instrument]
async fn asynchronous(x: u32) -> Result<u32, String> {
    if x == 0 {
        return Err("zero".into());
    }
    Ok(x)
}

trait Shape {
    fn area(&self) -> f64;
    #[tsmon::instrument]
    fn double(&self) -> f64 {
        self.area() * 2.0
    }
}

struct Square(f64);

impl Shape for Square {
    #[tsmon::instrument]
    fn area(&self) -> f64 {
        self.0 * self.0
    }
}

impl Square {
    #[tsmon::instrument]
    fn new(side: f64) -> Self {
        Square(side)
    }

    #[tsmon::instrument]
    fn grow(&mut self) -> &mut f64 {
        &mut self.0
    }

    #[tsmon::instrument]
    fn consume(self) -> f64 {
        self.0
    }
}

#[tsmon::instrument]
fn generic<T: Clone, const N: usize>(items: [T; N]) -> impl Iterator<Item = T>
where
    T: Send,
{
    items.into_iter()
}

#[tsmon::instrument]
fn never() -> ! {
    std::process::exit(0)
}

fn main() {
    let _ = free();
    let _ = everything();
    let _ = asynchronous(1);
    let mut s = Square::new(2.0);
    *s.grow() += 1.0;
    let _ = s.area() + s.double() + s.consume();
    let _ = generic([1, 2]).count();
    if std::env::var_os("NEVER").is_some() {
        never();
    }
}
