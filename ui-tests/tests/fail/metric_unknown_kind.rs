tsmon::metric! {
    /// Requests.
    pub static REQUESTS: Histogram = "http/requests";
}

fn main() {}
