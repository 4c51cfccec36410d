//! The PostgreSQL task-number allocator against a server of its own (initdb + postgres on a
//! free loopback port).

use std::sync::Arc;
use std::time::Duration;

use tsmon::Target;
use tsmon::error::Error;
use tsmon::tasknum::{PostgresAllocator, TaskNumAllocator};
use tsmon_tests::{race_for_numbers, start_postgres};

fn target() -> Target {
    Target::new("fleet", "worker").with_data_center("dc1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_racing_tasks_from_many_connections_get_exactly_0_to_49() {
    let Some((_server, config)) = start_postgres("race") else {
        return;
    };
    // Ten allocators (ten connections, each creating the tables at once), five tasks each.
    let mut allocators = Vec::new();
    let connects: Vec<_> = (0..10)
        .map(|_| {
            let config = config.clone();
            tokio::spawn(async move { PostgresAllocator::connect(&config).await })
        })
        .collect();
    for c in connects {
        allocators.push(Arc::new(c.await.unwrap().unwrap()));
    }
    let nums = race_for_numbers(&allocators, &target(), 50).await;
    assert_eq!(nums, (0..50).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_reuse_and_a_lost_number() {
    let Some((_server, config)) = start_postgres("expiry") else {
        return;
    };
    let a = PostgresAllocator::connect(&config)
        .await
        .unwrap()
        .with_expiry(Duration::from_millis(300));
    let t = target();
    assert_eq!(a.notify_task_is_alive(&t, "a").await.unwrap(), 0);
    assert_eq!(a.notify_task_is_alive(&t, "b").await.unwrap(), 1);
    assert_eq!(a.notify_task_is_alive(&t, "c").await.unwrap(), 2);
    // "a" and "b" go silent while "c" beats, until a new task gets 0.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut probe = 0;
    loop {
        a.notify_task_is_alive(&t, "c").await.unwrap();
        // A fresh instance each time: it is handed the lowest free number.
        let name = format!("probe-{probe}");
        probe += 1;
        let n = a.notify_task_is_alive(&t, &name).await.unwrap();
        if n == 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "a never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // "a" comes back: it lost its number and gets the lowest free one, reported as lost.
    match a.notify_task_is_alive(&t, "a").await {
        Err(Error::TaskNumberLost(n)) => assert!(n >= 1, "{n}"),
        other => panic!("{other:?}"),
    }
    assert!(
        a.notify_task_is_alive(&t, "a").await.is_ok(),
        "reported once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_setups_are_clear_errors_and_a_restarted_server_recovers() {
    let Some((mut server, config)) = start_postgres("faults") else {
        return;
    };
    let port = server.addr.rsplit(':').next().unwrap().to_owned();
    let missing = config.replace("dbname=postgres", "dbname=nope");
    let err = PostgresAllocator::connect(&missing).await.unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
    let wrong_user = config.replace("user=tsmon", "user=mallory");
    let err = PostgresAllocator::connect(&wrong_user).await.unwrap_err();
    assert!(err.to_string().contains("mallory"), "{err}");

    let a = PostgresAllocator::connect(&config)
        .await
        .unwrap()
        .with_timeout(Duration::from_millis(800));
    let t = target();
    assert_eq!(a.notify_task_is_alive(&t, "x").await.unwrap(), 0);
    // An immediate shutdown (SIGQUIT) takes the backends down with the server; the server is
    // waited for, since killing it outright could leave a backend serving the open connection.
    server.stop_with("QUIT");
    let started = std::time::Instant::now();
    assert!(matches!(
        a.notify_task_is_alive(&t, "x").await,
        Err(Error::TaskNum(_))
    ));
    assert!(started.elapsed() < Duration::from_secs(10));
    // Back on the same data (which `server`, stopped, still holds): the next heartbeats
    // reconnect, and "x" still holds 0.
    let again = tsmon_tests::restart_postgres("faults", port.parse().unwrap());
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
    assert_eq!(a.notify_task_is_alive(&t, "z").await.unwrap(), 1);
    // Its data folder (39 MB) goes when the last server on it does, not before.
    let data = server.scratch().unwrap().to_owned();
    drop(server);
    assert!(
        data.join("data/PG_VERSION").exists(),
        "the restarted one runs on it"
    );
    drop(again);
    assert!(!data.exists(), "left behind: {}", data.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_of_another_shape_is_refused_at_start() {
    let Some((_server, config)) = start_postgres("shape") else {
        return;
    };
    let (client, conn) = tokio_postgres_connect(&config).await;
    client
        .batch_execute("CREATE TABLE tsmon_task_numbers (id serial primary key, note text)")
        .await
        .unwrap();
    drop(client);
    conn.abort();
    let err = PostgresAllocator::connect(&config).await.unwrap_err();
    assert!(err.to_string().contains("not a tsmon table"), "{err}");
}

/// Tables an older tsmon made (no free-number table): connecting adds it, filled with each
/// group's holes, so the numbers held stay and new tasks fill the holes lowest first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_from_the_older_layout_keep_their_numbers_and_fill_their_holes() {
    let Some((_server, config)) = start_postgres("older-layout") else {
        return;
    };
    let (client, conn) = tokio_postgres_connect(&config).await;
    client
        .batch_execute(
            "CREATE TABLE tsmon_task_numbers (
                 grp text NOT NULL, instance text NOT NULL, num integer NOT NULL,
                 last_seen timestamptz NOT NULL,
                 PRIMARY KEY (grp, instance), UNIQUE (grp, num));
             CREATE TABLE tsmon_task_numbers_expired (
                 grp text NOT NULL, instance text NOT NULL, expired_at timestamptz NOT NULL,
                 PRIMARY KEY (grp, instance));
             INSERT INTO tsmon_task_numbers VALUES
                 (E'fleet\\x1fworker\\x1fdc1', 'old-a', 0, now()),
                 (E'fleet\\x1fworker\\x1fdc1', 'old-b', 2, now()),
                 (E'fleet\\x1fworker\\x1fdc1', 'old-c', 5, now());",
        )
        .await
        .unwrap();
    drop(client);
    conn.abort();
    let a = PostgresAllocator::connect(&config).await.unwrap();
    let got = tsmon_tests::new_tasks_numbers(&a, &target(), 5).await;
    assert_eq!(got, [1, 3, 4, 6, 7]);
    assert_eq!(a.notify_task_is_alive(&target(), "old-c").await.unwrap(), 5);
    // A second connection does not fill the holes again.
    let b = PostgresAllocator::connect(&config).await.unwrap();
    assert_eq!(b.notify_task_is_alive(&target(), "new-5").await.unwrap(), 8);
}

async fn tokio_postgres_connect(
    config: &str,
) -> (tokio_postgres::Client, tokio::task::JoinHandle<()>) {
    let (client, connection) = tokio_postgres::connect(config, tokio_postgres::NoTls)
        .await
        .unwrap();
    let conn = tokio::spawn(async move {
        let _ = connection.await;
    });
    (client, conn)
}

#[test]
fn connected_on_a_current_thread_runtime_that_stops_being_driven_heartbeats_still_answer() {
    let Some((_server, config)) = start_postgres("current-thread") else {
        return;
    };
    let idle = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let a = idle
        .block_on(PostgresAllocator::connect(&config))
        .unwrap()
        .with_timeout(Duration::from_secs(2));
    let state = tsmon::State::builder()
        .with_target(target())
        .with_instance_id("current-thread")
        .with_allocator(a)
        .build()
        .unwrap();
    for _ in 0..3 {
        tsmon::runtime::block_on(state.flush()).unwrap();
    }
    assert_eq!(state.health().task_num, Some(0));
    drop(idle);
}
