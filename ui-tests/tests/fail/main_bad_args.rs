//! Unknown, repeated and ill-typed arguments of #[tsmon::main].

#[tsmon::main(service = "a", service = "b", colour = "red", job = 3, dev_mode = "yes", host = "")]
fn main() {}
