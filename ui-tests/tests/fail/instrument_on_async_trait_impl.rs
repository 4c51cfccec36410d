//! On the impl block above `#[async_trait]`: the message says where the attribute goes.

#[async_trait::async_trait]
trait Repo {
    async fn get(&self) -> u32;
}

struct Mem;

#[tsmon::instrument]
#[async_trait::async_trait]
impl Repo for Mem {
    async fn get(&self) -> u32 {
        1
    }
}

fn main() {}
