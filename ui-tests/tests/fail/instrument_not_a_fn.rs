//! Items that are not fns.

#[tsmon::instrument]
struct Handler;

#[tsmon::instrument]
static TIMEOUT: u32 = 5;

trait Service {
    #[tsmon::instrument]
    fn call(&self) -> u32;
}

fn main() {
    let _ = (Handler, TIMEOUT);
}
