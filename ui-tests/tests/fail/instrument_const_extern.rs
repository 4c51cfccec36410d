//! `const fn` and `extern` fns are refused; the fns are still emitted, so `main` type-checks.

#[tsmon::instrument]
const fn at_compile_time() -> u32 {
    1
}

#[tsmon::instrument]
extern "C" fn across_ffi() -> u32 {
    2
}

fn main() {
    let _ = at_compile_time() + across_ffi();
}
