tsmon::metric! {
    pub static REQUESTS: Counter = "http/requests";
}

fn main() {}
