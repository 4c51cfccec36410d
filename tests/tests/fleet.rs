//! A fleet: five real processes share one Redis and one Pushgateway. Each gets a distinct task
//! number and pushes under it; two are killed, and after the expiry two new ones take their
//! numbers; the Pushgateway never holds more than five groups for the job.

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tsmon_tests::{http, poll_until, start_pushgateway, start_redis};

/// The task numbers of the job's groups in the Pushgateway.
fn groups(pg: &str) -> BTreeSet<String> {
    let Ok((200, _, body)) = http("GET", pg, "/metrics", &[], "") else {
        return BTreeSet::new();
    };
    body.lines()
        .filter(|l| l.starts_with("push_time_seconds{") && l.contains(r#"job="fleet-worker""#))
        .filter_map(|l| Some(l.split("task_num=\"").nth(1)?.split('"').next()?.to_owned()))
        .collect()
}

fn spawn(redis: &str, pg: &str, instance: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_fleet-worker"))
        .arg("10")
        .env("FLEET_REDIS", format!("redis://{redis}/"))
        .env("FLEET_EXPIRY_MS", "1500")
        .env("TSMON_MONITOR", format!("pushgateway:http://{pg}"))
        .env("TSMON_FLUSH_INTERVAL_SEC", "1")
        .env("TSMON_FLUSH_TIMEOUT_SEC", "0.5")
        .env("TSMON_INSTANCE_ID", instance)
        .env("TSMON_DATA_CENTER", "fleet")
        .env_remove("TSMON_SETTINGS_FILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

fn live_numbers(redis: &str) -> usize {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(redis) else {
        return usize::MAX;
    };
    let key = "tsmon:tasknum:{tsmon-fleet\u{1f}fleet-worker\u{1f}fleet}:nums";
    let cmd = format!("*2\r\n$4\r\nHLEN\r\n${}\r\n{key}\r\n", key.len());
    if s.write_all(cmd.as_bytes()).is_err() {
        return usize::MAX;
    }
    let mut buf = [0u8; 32];
    let n = s.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n])
        .trim()
        .trim_start_matches(':')
        .parse()
        .unwrap_or(usize::MAX)
}

#[test]
fn five_processes_share_numbers_0_to_4_and_the_gateway_stays_at_five_groups() {
    let Some(redis) = start_redis(None) else {
        return;
    };
    let Some(pg) = start_pushgateway() else {
        return;
    };
    let mut workers: Vec<Child> = (0..5)
        .map(|i| spawn(&redis.addr, &pg.addr, &format!("first-{i}")))
        .collect();
    let want: BTreeSet<String> = (0..5).map(|n| n.to_string()).collect();
    poll_until(60, "five groups 0..4", || {
        (groups(&pg.addr) == want).then_some(())
    });

    // Two die without a goodbye.
    for mut w in workers.drain(0..2) {
        w.kill().unwrap();
        w.wait().unwrap();
    }
    // Their numbers expire while the others beat.
    poll_until(60, "the dead to expire", || {
        let n = live_numbers(&redis.addr);
        assert!(groups(&pg.addr).len() <= 5, "more than five groups");
        (n == 3).then_some(())
    });
    workers.push(spawn(&redis.addr, &pg.addr, "second-0"));
    workers.push(spawn(&redis.addr, &pg.addr, "second-1"));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let g = groups(&pg.addr);
        assert!(g.len() <= 5, "more than five groups: {g:?}");
        if live_numbers(&redis.addr) == 5 && g == want {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the new workers did not take 0..4"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for mut w in workers {
        drop(w.stdin.take());
        let _ = w.wait();
    }
    assert!(groups(&pg.addr).len() <= 5);
}
