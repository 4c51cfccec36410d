//! A classifier of the wrong type: the error points at it.

fn by_code(code: &u16) -> bool {
    *code < 500
}

#[tsmon::instrument(classify = by_code)]
fn serve() -> u16 {
    200
}

fn main() {
    let _ = serve();
}
