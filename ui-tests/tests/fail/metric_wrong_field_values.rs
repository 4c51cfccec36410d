tsmon::metric! {
    /// Requests.
    static REQUESTS: Counter(route: String, status: i64) = "http/requests";
}

fn main() {
    REQUESTS.add(1, ("/", "200"));
    REQUESTS.add(1, "/");
}
