//! Runtime options where they cannot apply.

mod sync_main {
    #[tsmon::main(flavor = "current_thread")]
    pub fn main() {}
}

mod tokio_builds_it {
    #[tsmon::main(worker_threads = 2)]
    #[tokio::main]
    pub async fn main() {}
}

mod current_thread_with_workers {
    #[tsmon::main(flavor = "current_thread", worker_threads = 2)]
    pub async fn main() {}
}

mod bad_flavor {
    #[tsmon::main(flavor = "single")]
    pub async fn main() {}
}

fn main() {}
