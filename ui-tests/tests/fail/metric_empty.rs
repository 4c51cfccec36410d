tsmon::metric! {}

fn main() {}
