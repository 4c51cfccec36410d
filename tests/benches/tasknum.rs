//! Task-number allocators: heartbeat latency against local Redis and PostgreSQL servers (started
//! by the bench on free loopback ports), allocation throughput for 1,000 simulated instances,
//! and a simulation of 100,000 instances coming and going over a day.
//!
//! `cargo bench -p tsmon-tests --bench tasknum`. The figures that are not criterion's (the
//! percentiles, the throughput, the simulation) print first.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use tsmon::Target;
use tsmon::tasknum::{InMemoryAllocator, PostgresAllocator, RedisAllocator, TaskNumAllocator};

fn percentiles(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort_unstable();
    (v[v.len() / 2], v[v.len() * 99 / 100])
}

/// 1,000 instances, 4 at a time: the first heartbeat of each (an allocation), then one more
/// round (a plain heartbeat).
async fn fleet(name: &str, alloc: Arc<dyn TaskNumAllocator>) {
    let target = Target::new("bench", name).with_data_center("dc");
    for round in ["allocation", "heartbeat"] {
        let started = Instant::now();
        let mut handles = Vec::new();
        for w in 0..4 {
            let alloc = alloc.clone();
            let target = target.clone();
            handles.push(tokio::spawn(async move {
                let mut lat = Vec::with_capacity(250);
                for i in 0..250 {
                    let t = Instant::now();
                    alloc
                        .notify_task_is_alive(&target, &format!("instance-{w}-{i}"))
                        .await
                        .unwrap();
                    lat.push(t.elapsed());
                }
                lat
            }));
        }
        let mut all = Vec::new();
        for h in handles {
            all.extend(h.await.unwrap());
        }
        let elapsed = started.elapsed();
        let (p50, p99) = percentiles(all);
        println!(
            "{name:<10} {round:<10}: 1000 instances in {elapsed:.2?} ({:.0}/s); median {p50:.2?}, p99 {p99:.2?}",
            1000.0 / elapsed.as_secs_f64()
        );
    }
}

/// 100,000 instances over a simulated day: arrivals spread over the day, each living a random
/// 5 to 120 minutes with a heartbeat a minute; the expiry is 30 minutes. The highest number
/// handed out, against the peak number of instances holding one at once.
fn simulate_a_day() {
    let alloc = InMemoryAllocator::new().with_expiry(Duration::from_secs(30 * 60));
    let target = Target::new("sim", "day");
    let t0 = Instant::now();
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    // (start minute, end minute) per instance.
    let lives: Vec<(u64, u64)> = (0..100_000u64)
        .map(|_| {
            let start = next() % (24 * 60);
            (start, start + 5 + next() % 116)
        })
        .collect();
    let mut max_num = 0;
    let mut peak_holding = 0;
    let mut holders = std::collections::HashMap::new();
    for minute in 0..(24 * 60 + 180) {
        let now = t0 + Duration::from_secs(minute * 60);
        for (i, &(start, end)) in lives.iter().enumerate() {
            if (start..end).contains(&minute) {
                let n = alloc.heartbeat_at(&target, &i.to_string(), now).unwrap();
                max_num = max_num.max(n);
                holders.insert(i, (n, minute));
            }
        }
        // Instances whose number has not expired yet still hold one.
        holders.retain(|_, (_, last)| minute - *last <= 30);
        peak_holding = peak_holding.max(holders.len());
    }
    println!(
        "simulation: 100000 instances over a day, highest number {max_num}, \
         peak holding a number at once {peak_holding} (so numbers stay within the peak)"
    );
}

/// The allocation's latency in groups of 1,000, 10,000 and 100,000 live tasks: each group is
/// filled straight in the backend (tasks that beat a day from now, so none expires), then 300
/// new tasks ask for a number one after the other. The free-number set makes an allocation
/// O(log n); the figures should not grow with the group.
async fn group_sizes(name: &str, alloc: &dyn TaskNumAllocator, fill: impl AsyncFill) {
    for n in [1_000usize, 10_000, 100_000] {
        let job = format!("size-{n}");
        let target = Target::new("bench", &job).with_data_center("dc");
        fill.fill(&job, n).await;
        let mut lat = Vec::with_capacity(300);
        for i in 0..300 {
            let t = Instant::now();
            let num = alloc
                .notify_task_is_alive(&target, &format!("new-{i}"))
                .await
                .unwrap();
            lat.push(t.elapsed());
            assert_eq!(num as usize, n + i, "numbers past the filled ones");
        }
        let (p50, p99) = percentiles(lat);
        println!("{name:<10} allocation, {n:>6} live tasks: median {p50:.2?}, p99 {p99:.2?}");
    }
}

/// Fills a group with `n` live tasks numbered 0 to `n - 1`, straight in the backend.
trait AsyncFill {
    fn fill(&self, job: &str, n: usize) -> impl Future<Output = ()>;
}

struct RedisFill(String);

impl AsyncFill for RedisFill {
    async fn fill(&self, job: &str, n: usize) {
        let client = redis::Client::open(self.0.as_str()).unwrap();
        let mut c = client.get_multiplexed_async_connection().await.unwrap();
        let group = format!("tsmon:tasknum:{{bench\u{1f}{job}\u{1f}dc}}");
        let later = 4_102_444_800_000u64;
        for chunk in (0..n).collect::<Vec<_>>().chunks(5_000) {
            let mut pipe = redis::pipe();
            for &i in chunk {
                pipe.hset(format!("{group}:nums"), format!("old-{i}"), i)
                    .ignore();
                pipe.zadd(format!("{group}:seen"), format!("old-{i}"), later)
                    .ignore();
            }
            let _: () = pipe.query_async(&mut c).await.unwrap();
        }
        let _: () = redis::cmd("SET")
            .arg(format!("{group}:top"))
            .arg(n)
            .query_async(&mut c)
            .await
            .unwrap();
    }
}

struct PostgresFill(String);

impl AsyncFill for PostgresFill {
    async fn fill(&self, job: &str, n: usize) {
        let (client, conn) = tokio_postgres::connect(&self.0, tokio_postgres::NoTls)
            .await
            .unwrap();
        let conn = tokio::spawn(conn);
        let group = format!("bench\u{1f}{job}\u{1f}dc");
        client
            .execute(
                "INSERT INTO tsmon_task_numbers (grp, instance, num, last_seen)
                 SELECT $1, 'old-' || s, s, now() + interval '1 day'
                 FROM generate_series(0, $2 - 1) s",
                &[&group, &(n as i32)],
            )
            .await
            .unwrap();
        client
            .execute("ANALYZE tsmon_task_numbers", &[])
            .await
            .unwrap();
        drop(client);
        conn.abort();
    }
}

fn main() {
    simulate_a_day();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let redis = tsmon_tests::start_redis(None);
    let postgres = tsmon_tests::start_postgres("bench");
    let mut c = Criterion::default().configure_from_args();
    if let Some(server) = &redis {
        let a = rt.block_on(async {
            RedisAllocator::connect(&format!("redis://{}/", server.addr))
                .await
                .unwrap()
        });
        let a: Arc<dyn TaskNumAllocator> = Arc::new(a);
        rt.block_on(fleet("redis", a.clone()));
        let url = format!("redis://{}/", server.addr);
        rt.block_on(group_sizes("redis", a.as_ref(), RedisFill(url)));
        let t = Target::new("bench", "steady");
        c.bench_function("tasknum/redis heartbeat", |b| {
            b.iter(|| rt.block_on(a.notify_task_is_alive(&t, "steady")).unwrap());
        });
    }
    if let Some((_, config)) = &postgres {
        let a = rt.block_on(async { PostgresAllocator::connect(config).await.unwrap() });
        let a: Arc<dyn TaskNumAllocator> = Arc::new(a);
        rt.block_on(fleet("postgres", a.clone()));
        rt.block_on(group_sizes(
            "postgres",
            a.as_ref(),
            PostgresFill(config.clone()),
        ));
        let t = Target::new("bench", "steady");
        c.bench_function("tasknum/postgres heartbeat", |b| {
            b.iter(|| rt.block_on(a.notify_task_is_alive(&t, "steady")).unwrap());
        });
    }
    c.final_summary();
}
