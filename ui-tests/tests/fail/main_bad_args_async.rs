//! Bad arguments on an `async fn main`: the expansion goes on with the defaults, so the only
//! errors are the arguments' own (no "`main` function is not allowed to be `async`").

#[tsmon::main(colour = "red", flavor = "single")]
async fn main() {
    let answer: u32 = async { 42 }.await;
    assert_eq!(answer, 42);
}
