//! Task numbers in Redis.

use std::time::Duration;

use redis::aio::ConnectionManager;

use super::TaskNumAllocator;
use crate::error::{Cause, Error};
use crate::monitor::BoxFuture;
use crate::target::Target;

/// The heartbeat and the claim in one atomic step. `KEYS[1]`: instance → number (hash);
/// `KEYS[2]`: instance → last heartbeat in ms (sorted set); `KEYS[3]`: instances that expired
/// (set, so that one that comes back is told); `KEYS[4]`: the free numbers below the top
/// (sorted set, each scored by itself); `KEYS[5]`: the top, the lowest number never given.
/// `ARGV[1]`: the instance; `ARGV[2]`: the expiry in ms. Returns `{number, lost}`. Redis' own
/// clock decides expiry, so the tasks' clocks do not matter.
///
/// Every step is O(log n) of the group's size: an expired task's number goes to the free
/// set, a new task takes the free set's lowest (`ZPOPMIN`) or, with none, the top. The free
/// numbers and the live ones are always exactly the numbers below the top, so the lowest free
/// one is the lowest number no live task holds, as before. A group written by an older tsmon
/// (no top yet) gets its free set and top built once from its numbers.
const SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expiry = tonumber(ARGV[2])
if redis.call('EXISTS', KEYS[5]) == 0 then
  local top = 0
  local used = {}
  for _, v in ipairs(redis.call('HVALS', KEYS[1])) do
    local n = tonumber(v)
    used[n] = true
    if n + 1 > top then top = n + 1 end
  end
  redis.call('DEL', KEYS[4])
  for n = 0, top - 1 do
    if not used[n] then redis.call('ZADD', KEYS[4], n, n) end
  end
  redis.call('SET', KEYS[5], top)
end
for _, inst in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - expiry - 1)) do
  local n = redis.call('HGET', KEYS[1], inst)
  if n then redis.call('ZADD', KEYS[4], n, n) end
  redis.call('HDEL', KEYS[1], inst)
  redis.call('ZREM', KEYS[2], inst)
  redis.call('SADD', KEYS[3], inst)
end
local lost = 0
local num = redis.call('HGET', KEYS[1], ARGV[1])
if not num then
  if redis.call('SREM', KEYS[3], ARGV[1]) == 1 then lost = 1 end
  local lowest = redis.call('ZPOPMIN', KEYS[4])
  if #lowest > 0 then
    num = tonumber(lowest[1])
  else
    num = redis.call('INCR', KEYS[5]) - 1
  end
  redis.call('HSET', KEYS[1], ARGV[1], num)
end
redis.call('ZADD', KEYS[2], now, ARGV[1])
for i = 1, 5 do redis.call('PEXPIRE', KEYS[i], expiry * 4) end
return {tonumber(num), lost}
";

/// Task numbers in Redis (feature `redis`): the lowest free number of the target's group
/// (service, job, data centre) on the first heartbeat, kept while the task beats at least once
/// per expiry (30 minutes by default), given to the next new task after that. One Lua script
/// does the expiry, the lookup and the claim atomically, so two live tasks never hold one
/// number, whatever the interleaving. A task that comes back after losing its number gets a new
/// one at once, reported as [`Error::TaskNumberLost`] so its cumulative metrics are reset.
///
/// Every heartbeat, an allocation included, is O(log n) of the group's size: freed numbers
/// wait in a sorted set and a new task takes the lowest (p99 84 µs with 100,000 live tasks on
/// loopback, where a scan of the group's numbers took 75 ms; see `BENCHMARKS.md`). Keys of a
/// group an older tsmon wrote are read once to build that set.
///
/// An unreachable or slow server is a transient error after at most the call timeout (2 s by
/// default): the flush backs off and retries, and nothing else waits for Redis. The connection
/// reconnects by itself.
#[derive(Clone)]
pub struct RedisAllocator {
    conn: ConnectionManager,
    script: redis::Script,
    expiry: Duration,
    timeout: Duration,
    prefix: String,
}

impl std::fmt::Debug for RedisAllocator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisAllocator")
            .field("expiry", &self.expiry)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisAllocator {
    /// Connects to `url` (`redis://host:6379/0`). The connection lives on tsmon's background
    /// runtime, whatever runtime calls this (the connection manager drives and re-makes it
    /// from a task of its own, which must not sit on a runtime that stops being polled, such
    /// as a current-thread runtime between uses), and so do the heartbeats.
    ///
    /// # Errors
    ///
    /// [`Error::TaskNum`] for a bad URL or a server that cannot be reached, or that refuses the
    /// credentials, at start-up.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        let owned = url.to_owned();
        crate::runtime::handle()
            .spawn(async move { Self::connect_here(&owned).await })
            .await
            .unwrap_or_else(|e| {
                Err(Error::TaskNum(Cause::with_source(
                    format!("Redis at {url}"),
                    e,
                )))
            })
    }

    /// Connects on the runtime this runs on.
    async fn connect_here(url: &str) -> Result<Self, Error> {
        let client = redis::Client::open(url)
            .map_err(|e| Error::TaskNum(Cause::with_source(format!("Redis URL {url:?}"), e)))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(1);
        let conn = tokio::time::timeout(
            Duration::from_secs(5),
            ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|_| Error::TaskNum(format!("Redis at {url}: connection timed out").into()))?
        .map_err(|e| Error::TaskNum(Cause::with_source(format!("Redis at {url}"), e)))?;
        // A server that wants a password (or another one) answers the first command, not the
        // connection: ask now, so bad credentials are a start-up error.
        let mut probe = conn.clone();
        tokio::time::timeout(
            Duration::from_secs(5),
            redis::cmd("PING").query_async::<String>(&mut probe),
        )
        .await
        .map_err(|_| Error::TaskNum(format!("Redis at {url}: no answer to PING").into()))?
        .map_err(|e| Error::TaskNum(Cause::with_source(format!("Redis at {url}"), e)))?;
        Ok(RedisAllocator {
            conn,
            script: redis::Script::new(SCRIPT),
            expiry: Duration::from_secs(30 * 60),
            timeout: Duration::from_secs(2),
            prefix: "tsmon:tasknum".to_owned(),
        })
    }

    /// As [`connect`](Self::connect), from sync code (or anywhere): the connection is made on
    /// tsmon's background runtime and this thread waits for it. For
    /// `#[tsmon::main(allocator = RedisAllocator::connect_blocking(url)?)]`-style set-ups.
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect).
    pub fn connect_blocking(url: &str) -> Result<Self, Error> {
        let (tx, rx) = std::sync::mpsc::channel();
        let url = url.to_owned();
        crate::runtime::handle().spawn(async move {
            let _ = tx.send(Self::connect_here(&url).await);
        });
        rx.recv()
            .unwrap_or_else(|_| Err(Error::TaskNum("the background runtime stopped".into())))
    }

    /// How long a silent task keeps its number.
    #[must_use]
    pub fn with_expiry(mut self, expiry: Duration) -> Self {
        self.expiry = expiry.max(Duration::from_millis(1));
        self
    }

    /// The longest a heartbeat waits for Redis.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The prefix of the keys (`tsmon:tasknum` by default).
    #[must_use]
    pub fn with_prefix(mut self, prefix: &str) -> Self {
        prefix.clone_into(&mut self.prefix);
        self
    }

    fn keys(&self, target: &Target) -> [String; 5] {
        // One hash tag per group, so the group's keys live on one node of a cluster.
        let group = format!(
            "{{{}\u{1f}{}\u{1f}{}}}",
            target.service_name, target.job_name, target.data_center
        );
        [
            format!("{}:{group}:nums", self.prefix),
            format!("{}:{group}:seen", self.prefix),
            format!("{}:{group}:expired", self.prefix),
            format!("{}:{group}:free", self.prefix),
            format!("{}:{group}:top", self.prefix),
        ]
    }

    async fn heartbeat(&self, target: &Target, instance_id: &str) -> Result<i32, Error> {
        let [nums, seen, expired, free, top] = self.keys(target);
        let mut conn = self.conn.clone();
        let expiry = u64::try_from(self.expiry.as_millis()).unwrap_or(u64::MAX);
        let mut invocation = self.script.key(nums);
        invocation
            .key(seen)
            .key(expired)
            .key(free)
            .key(top)
            .arg(instance_id)
            .arg(expiry);
        let call = invocation.invoke_async::<(i64, i64)>(&mut conn);
        let (num, lost) = tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| {
                Error::TaskNum(format!("Redis did not answer within {:?}", self.timeout).into())
            })?
            .map_err(|e| Error::TaskNum(Cause::with_source("Redis", e)))?;
        let num = i32::try_from(num)
            .map_err(|_| Error::TaskNum(format!("Redis: bad number {num}").into()))?;
        if lost == 1 {
            Err(Error::TaskNumberLost(num))
        } else {
            Ok(num)
        }
    }
}

impl TaskNumAllocator for RedisAllocator {
    fn notify_task_is_alive<'a>(
        &'a self,
        target: &'a Target,
        instance_id: &'a str,
    ) -> BoxFuture<'a, Result<i32, Error>> {
        // On tsmon's runtime, where the connection's tasks live (see `connect`).
        let this = self.clone();
        let target = target.clone();
        let instance_id = instance_id.to_owned();
        Box::pin(async move {
            crate::runtime::handle()
                .spawn(async move { this.heartbeat(&target, &instance_id).await })
                .await
                .unwrap_or_else(|e| Err(Error::TaskNum(Cause::with_source("Redis heartbeat", e))))
        })
    }
}
