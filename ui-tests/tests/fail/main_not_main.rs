//! Not a fn, or a fn with arguments.

#[tsmon::main]
struct Service;

#[tsmon::main]
fn with_args(port: u16) {
    let _ = port;
}

fn main() {
    let _ = Service;
}
