//! A renamed dependency, and the prelude shadowed: expansions use absolute paths only.
#![forbid(unsafe_code)]
use tsmon as t2;

#[allow(dead_code)]
mod std {}
#[allow(dead_code)]
struct Option;
#[allow(dead_code)]
struct Result;
#[allow(dead_code)]
struct Some;
#[allow(dead_code)]
struct None;

t2::metric! {
    /// Renamed.
    #[tsmon(crate = t2)]
    static RENAMED: Counter = "rename/counter";
}

fn main() {
    RENAMED.inc(());
}
