//! The Redis task-number allocator against a real `redis-server` started on a free loopback
//! port.

use std::time::Duration;

use tsmon::error::Error;
use tsmon::monitor::FakeMonitor;
use tsmon::tasknum::{RedisAllocator, TaskNumAllocator};
use tsmon::{State, Target};
use tsmon_tests::{race_for_numbers, start_redis};

tsmon::metric! {
    /// Work.
    static WORK: Counter = "e2e/redis/work";
}

fn target() -> Target {
    Target::new("fleet", "worker").with_data_center("dc1")
}

async fn alloc(addr: &str, expiry: Duration) -> RedisAllocator {
    RedisAllocator::connect(&format!("redis://{addr}/"))
        .await
        .unwrap()
        .with_expiry(expiry)
}

/// Whether `instance` still holds a number in Redis (read directly).
async fn holds(addr: &str, instance: &str) -> bool {
    let client = redis::Client::open(format!("redis://{addr}/")).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let key = "tsmon:tasknum:{fleet\u{1f}worker\u{1f}dc1}:nums";
    let v: Option<i64> = redis::cmd("HGET")
        .arg(key)
        .arg(instance)
        .query_async(&mut c)
        .await
        .unwrap();
    v.is_some()
}

/// Beats for `alive` until `gone` no longer holds a number (each beat sweeps the expired).
async fn until_expired(a: &RedisAllocator, addr: &str, alive: &str, gone: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while holds(addr, gone).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{gone} never expired"
        );
        a.notify_task_is_alive(&target(), alive).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_racing_tasks_get_exactly_0_to_49() {
    let Some(server) = start_redis(None) else {
        return;
    };
    let a = alloc(&server.addr, Duration::from_secs(60)).await;
    let nums = race_for_numbers(&[std::sync::Arc::new(a.clone())], &target(), 50).await;
    assert_eq!(nums, (0..50).collect::<Vec<_>>());
    // A second heartbeat keeps the number.
    let again = a
        .notify_task_is_alive(&target(), "instance-7")
        .await
        .unwrap();
    assert!((0..50).contains(&again));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_numbers_go_to_new_tasks_lowest_first() {
    let Some(server) = start_redis(None) else {
        return;
    };
    let a = alloc(&server.addr, Duration::from_millis(300)).await;
    let t = target();
    assert_eq!(a.notify_task_is_alive(&t, "a").await.unwrap(), 0);
    assert_eq!(a.notify_task_is_alive(&t, "b").await.unwrap(), 1);
    assert_eq!(a.notify_task_is_alive(&t, "c").await.unwrap(), 2);
    // "a" and "b" go silent; "c" keeps beating.
    until_expired(&a, &server.addr, "c", "a").await;
    until_expired(&a, &server.addr, "c", "b").await;
    assert_eq!(a.notify_task_is_alive(&t, "d").await.unwrap(), 0);
    assert_eq!(a.notify_task_is_alive(&t, "e").await.unwrap(), 1);
    assert_eq!(a.notify_task_is_alive(&t, "f").await.unwrap(), 3);
    // Another group counts from 0.
    let other = Target::new("fleet", "other-job").with_data_center("dc1");
    assert_eq!(a.notify_task_is_alive(&other, "a").await.unwrap(), 0);
}

/// A group an older tsmon wrote (numbers only, no free set and no top) keeps its numbers, and
/// new tasks fill its holes lowest first, then go past its highest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_from_the_older_layout_keeps_its_numbers_and_fills_its_holes() {
    let Some(redis) = start_redis(None) else {
        return;
    };
    let client = redis::Client::open(format!("redis://{}/", redis.addr)).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let group = "tsmon:tasknum:{fleet\u{1f}worker\u{1f}dc1}";
    for (inst, num) in [("old-a", 0), ("old-b", 2), ("old-c", 5)] {
        let _: () = redis::cmd("HSET")
            .arg(format!("{group}:nums"))
            .arg(inst)
            .arg(num)
            .query_async(&mut c)
            .await
            .unwrap();
        let _: () = redis::cmd("ZADD")
            .arg(format!("{group}:seen"))
            .arg(4_102_444_800_000u64) // far in the future: never expires here
            .arg(inst)
            .query_async(&mut c)
            .await
            .unwrap();
    }
    let a = alloc(&redis.addr, Duration::from_secs(600)).await;
    let got = tsmon_tests::new_tasks_numbers(&a, &target(), 5).await;
    assert_eq!(got, [1, 3, 4, 6, 7]);
    // The old tasks keep theirs.
    assert_eq!(a.notify_task_is_alive(&target(), "old-c").await.unwrap(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_that_lost_its_number_gets_a_new_one_and_resets_once() {
    let Some(server) = start_redis(None) else {
        return;
    };
    let a = alloc(&server.addr, Duration::from_millis(300)).await;
    let t = target();
    let fake = FakeMonitor::new();
    let state = State::builder()
        .with_target(t.clone())
        .with_instance_id("slow")
        .with_allocator(a.clone())
        .with_monitor(fake.clone())
        .build()
        .unwrap();
    state.in_scope(|| WORK.add(5, ()));
    state.flush().await.unwrap();
    assert_eq!(state.store().default_target().task_num, 0);
    // Another task takes number 1; "slow" goes silent past the expiry.
    assert_eq!(a.notify_task_is_alive(&t, "busy").await.unwrap(), 1);
    until_expired(&a, &server.addr, "busy", "slow").await;
    // Its next heartbeat: a new number at once (0 is free again), and the counter restarts.
    state.flush().await.unwrap();
    assert_eq!(state.store().default_target().task_num, 0);
    assert_eq!(state.in_scope(|| WORK.get(())), 0, "reset once");
    state.in_scope(|| WORK.add(2, ()));
    state.flush().await.unwrap();
    assert_eq!(state.in_scope(|| WORK.get(())), 2, "not again");
    let direct = a.notify_task_is_alive(&t, "slow").await.unwrap();
    assert_eq!(direct, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_is_a_transient_error_then_numbering_recovers() {
    let Some(mut server) = start_redis(None) else {
        return;
    };
    let port: u16 = server.addr.rsplit(':').next().unwrap().parse().unwrap();
    let a = alloc(&server.addr, Duration::from_secs(60))
        .await
        .with_timeout(Duration::from_millis(500));
    let t = target();
    assert_eq!(a.notify_task_is_alive(&t, "x").await.unwrap(), 0);
    let state = State::builder()
        .with_target(t.clone())
        .with_instance_id("y")
        .with_allocator(a.clone())
        .with_monitor(FakeMonitor::new())
        .build()
        .unwrap();

    server.kill();
    let started = std::time::Instant::now();
    let err = a.notify_task_is_alive(&t, "x").await.unwrap_err();
    assert!(matches!(err, Error::TaskNum(_)), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10), "bounded wait");
    // The service goes on: writes work, the flush fails and backs off.
    state.in_scope(|| WORK.add(1, ()));
    assert!(state.flush().await.is_err());
    assert_eq!(state.health().retry_delay, Duration::from_secs(10));
    assert_eq!(state.in_scope(|| WORK.get(())), 1);

    let _server = start_redis(Some(port)).unwrap();
    // The connection comes back by itself; the (empty) server numbers from 0 again.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let n = loop {
        match a.notify_task_is_alive(&t, "x").await {
            Ok(n) => break n,
            Err(_) => {
                assert!(tokio::time::Instant::now() < deadline, "never reconnected");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert_eq!(n, 0);
    state.flush().await.unwrap();
    assert_eq!(state.store().default_target().task_num, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_are_a_clear_error_at_start() {
    let Some(server) = tsmon_tests::start_redis_with(None, &["--requirepass", "s3cret"]) else {
        return;
    };
    let err = RedisAllocator::connect(&format!("redis://{}/", server.addr))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("NOAUTH") || err.to_string().contains("Authentication"),
        "{err}"
    );
    let err = RedisAllocator::connect(&format!("redis://:wrong@{}/", server.addr))
        .await
        .unwrap_err();
    assert!(err.to_string().to_lowercase().contains("pass"), "{err}");
    let ok = RedisAllocator::connect(&format!("redis://:s3cret@{}/", server.addr)).await;
    assert!(ok.is_ok());
    assert!(RedisAllocator::connect("not a url").await.is_err());
}

#[test]
fn connected_on_a_current_thread_runtime_that_stops_being_driven_heartbeats_still_answer() {
    let Some(server) = start_redis(None) else {
        return;
    };
    // The service connects on its own current-thread runtime, then leaves it idle.
    let idle = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let a = idle
        .block_on(RedisAllocator::connect(&format!(
            "redis://{}/",
            server.addr
        )))
        .unwrap()
        .with_timeout(Duration::from_secs(2));
    let fake = FakeMonitor::new();
    let state = State::builder()
        .with_target(target())
        .with_instance_id("current-thread")
        .with_allocator(a)
        .with_monitor(fake.clone())
        .build()
        .unwrap();
    state.in_scope(|| WORK.inc(()));
    // Flushes run elsewhere (tsmon's runtime, or another of the service's): every heartbeat
    // answers although the runtime that connected is never polled again.
    for _ in 0..3 {
        tsmon::runtime::block_on(state.flush()).unwrap();
    }
    assert_eq!(fake.sent().len(), 3);
    assert_eq!(state.health().task_num, Some(0));
    drop(idle);
}
