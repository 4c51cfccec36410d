//! Task numbers: which of a service's copies this process is (Go's `TaskNumAllocator`).
//!
//! Every flush first calls [`TaskNumAllocator::notify_task_is_alive`]: a heartbeat that returns
//! this task's number. The flush loop then keeps the Go state machine: without a number nothing
//! is sent ([`Error::NoTaskNumber`]); losing a number it held resets the cumulative metrics once;
//! a new number relabels the series. Without an allocator (and in dev mode) the number is 0.
//!
//! Here: [`InMemoryAllocator`] (one process; clones share their table, so several States in a
//! test can compete for numbers) and [`FixedAllocator`] (a number known up front: the ordinal of
//! a Kubernetes StatefulSet pod, or `TSMON_TASK_NUM`). Redis and PostgreSQL allocators are
//! their own issue.
//!
//! ```
//! use tsmon::tasknum::{InMemoryAllocator, TaskNumAllocator};
//! let alloc = InMemoryAllocator::new();
//! let target = tsmon::Target::new("svc", "job");
//! let a = tsmon::runtime::block_on(alloc.notify_task_is_alive(&target, "instance-a")).unwrap();
//! let b = tsmon::runtime::block_on(alloc.notify_task_is_alive(&target, "instance-b")).unwrap();
//! assert_eq!((a, b), (0, 1));
//! ```

#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use self::postgres::PostgresAllocator;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use self::redis::RedisAllocator;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::error::Error;
use crate::monitor::BoxFuture;
use crate::target::Target;

/// Maps (target, instance id) to a task number.
pub trait TaskNumAllocator: Send + Sync + fmt::Debug + 'static {
    /// The heartbeat and the lookup in one: this instance's task number, or
    /// [`Error::NoTaskNumber`] while it has none, or another error (transient: the flush backs
    /// off and retries). A task that stops calling may lose its number to another one.
    fn notify_task_is_alive<'a>(
        &'a self,
        target: &'a Target,
        instance_id: &'a str,
    ) -> BoxFuture<'a, Result<i32, Error>>;
}

/// The group a number is unique within: the target without its host and number.
fn group_of(target: &Target) -> (String, String, String) {
    (
        target.service_name.clone(),
        target.job_name.clone(),
        target.data_center.clone(),
    )
}

#[derive(Debug)]
struct Entry {
    instance: String,
    num: Option<i32>,
    last_seen: Instant,
}

#[derive(Debug, Default)]
struct Table {
    groups: HashMap<(String, String, String), Vec<Entry>>,
}

/// Task numbers kept in memory: one process, any number of States (clones share the table).
///
/// By default a new instance gets the lowest free number on its first heartbeat. With
/// [`with_housekeeping`](Self::with_housekeeping) it gets [`Error::NoTaskNumber`] until
/// [`assign`](Self::assign) runs, as in Go, where a cron hands numbers out. An instance silent
/// for longer than the expiry (30 minutes by default) loses its number; the next new instance
/// reuses it, lowest first.
#[derive(Clone, Debug)]
pub struct InMemoryAllocator {
    table: Arc<Mutex<Table>>,
    expiry: Duration,
    housekeeping: bool,
}

impl Default for InMemoryAllocator {
    fn default() -> Self {
        Self::new()
    }
}

impl InMemoryAllocator {
    /// Numbers on the first heartbeat, expiry 30 minutes.
    #[must_use]
    pub fn new() -> Self {
        InMemoryAllocator {
            table: Arc::default(),
            expiry: Duration::from_secs(30 * 60),
            housekeeping: false,
        }
    }

    /// New instances wait for [`assign`](Self::assign) (Go's housekeeping cron).
    #[must_use]
    pub fn with_housekeeping(mut self) -> Self {
        self.housekeeping = true;
        self
    }

    /// How long a silent instance keeps its number.
    #[must_use]
    pub fn with_expiry(mut self, expiry: Duration) -> Self {
        self.expiry = expiry;
        self
    }

    /// Go's `AssignTaskNumbers`: drops expired instances, then gives every waiting instance the
    /// lowest free number of its group, in instance order.
    pub fn assign(&self) {
        let now = Instant::now();
        let mut table = self.table.lock();
        for entries in table.groups.values_mut() {
            entries.retain(|e| now.duration_since(e.last_seen) <= self.expiry);
            entries.sort_by(|a, b| a.instance.cmp(&b.instance));
            let mut used: Vec<i32> = entries.iter().filter_map(|e| e.num).collect();
            used.sort_unstable();
            for e in entries.iter_mut().filter(|e| e.num.is_none()) {
                let n = lowest_free(&used);
                used.push(n);
                used.sort_unstable();
                e.num = Some(n);
            }
        }
    }

    /// Takes an instance's number away, as a shared allocator does when the instance's entry
    /// expires or is removed by hand: its next heartbeat finds it gone (the lost-number path).
    ///
    /// ```
    /// let alloc = tsmon::tasknum::InMemoryAllocator::new();
    /// let t = tsmon::Target::new("s", "j");
    /// let now = std::time::Instant::now();
    /// assert_eq!(alloc.heartbeat_at(&t, "a", now).unwrap(), 0);
    /// alloc.revoke("a");
    /// assert_eq!(alloc.heartbeat_at(&t, "b", now).unwrap(), 0, "a's number is free again");
    /// ```
    pub fn revoke(&self, instance_id: &str) {
        for entries in self.table.lock().groups.values_mut() {
            entries.retain(|e| e.instance != instance_id);
        }
    }

    fn heartbeat(&self, target: &Target, instance_id: &str) -> Result<i32, Error> {
        self.heartbeat_at(target, instance_id, Instant::now())
    }

    /// A heartbeat at a given instant, for simulations over virtual time.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let alloc = tsmon::tasknum::InMemoryAllocator::new().with_expiry(Duration::from_secs(60));
    /// let t = tsmon::Target::new("s", "j");
    /// let t0 = Instant::now();
    /// assert_eq!(alloc.heartbeat_at(&t, "a", t0).unwrap(), 0);
    /// // Two minutes later "a" has expired: "b" gets its number.
    /// assert_eq!(alloc.heartbeat_at(&t, "b", t0 + Duration::from_secs(120)).unwrap(), 0);
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::NoTaskNumber`] in housekeeping mode, before [`assign`](Self::assign).
    pub fn heartbeat_at(
        &self,
        target: &Target,
        instance_id: &str,
        now: Instant,
    ) -> Result<i32, Error> {
        let mut table = self.table.lock();
        let entries = table.groups.entry(group_of(target)).or_default();
        entries.retain(|e| now.saturating_duration_since(e.last_seen) <= self.expiry);
        if let Some(e) = entries.iter_mut().find(|e| e.instance == instance_id) {
            e.last_seen = now;
            return e.num.ok_or(Error::NoTaskNumber);
        }
        let num = if self.housekeeping {
            None
        } else {
            let mut used: Vec<i32> = entries.iter().filter_map(|e| e.num).collect();
            used.sort_unstable();
            Some(lowest_free(&used))
        };
        entries.push(Entry {
            instance: instance_id.to_owned(),
            num,
            last_seen: now,
        });
        num.ok_or(Error::NoTaskNumber)
    }
}

/// The lowest non-negative number not in `used` (sorted).
fn lowest_free(used: &[i32]) -> i32 {
    let mut n = 0;
    for &u in used {
        if u == n {
            n += 1;
        } else if u > n {
            break;
        }
    }
    n
}

impl TaskNumAllocator for InMemoryAllocator {
    fn notify_task_is_alive<'a>(
        &'a self,
        target: &'a Target,
        instance_id: &'a str,
    ) -> BoxFuture<'a, Result<i32, Error>> {
        let result = self.heartbeat(target, instance_id);
        Box::pin(async move { result })
    }
}

/// A task number known up front.
///
/// ```
/// use tsmon::tasknum::FixedAllocator;
/// assert_eq!(FixedAllocator::from_host_name("web-12").unwrap().num(), 12);
/// assert!(FixedAllocator::from_host_name("web").is_none());
/// ```
#[derive(Clone, Copy, Debug)]
pub struct FixedAllocator(i32);

impl FixedAllocator {
    /// Always `n`.
    #[must_use]
    pub fn new(n: i32) -> Self {
        FixedAllocator(n)
    }

    /// The number.
    #[must_use]
    pub fn num(&self) -> i32 {
        self.0
    }

    /// The ordinal at the end of a Kubernetes StatefulSet pod name (`web-3` → 3).
    #[must_use]
    pub fn from_host_name(host: &str) -> Option<Self> {
        let (_, ordinal) = host.rsplit_once('-')?;
        ordinal
            .parse::<i32>()
            .ok()
            .filter(|n| *n >= 0)
            .map(FixedAllocator)
    }

    /// `TSMON_TASK_NUM` if set, else the StatefulSet ordinal of `HOSTNAME` (or the machine's
    /// host name); `None` when neither gives a number.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSettings`] when `TSMON_TASK_NUM` is set but not a non-negative number.
    pub fn from_env() -> Result<Option<Self>, Error> {
        if let Some(v) = crate::env::task_num() {
            return Self::parse(&v).map(Some).ok_or_else(|| {
                Error::InvalidSettings(format!(
                    "TSMON_TASK_NUM={v:?}: expected a non-negative number"
                ))
            });
        }
        let host = crate::target::hostname().unwrap_or_default();
        Ok(Self::from_host_name(&host))
    }
}

impl FixedAllocator {
    /// The allocator for a number written as text (`TSMON_TASK_NUM`'s form): `None` unless it
    /// is a non-negative number.
    ///
    /// ```
    /// use tsmon::tasknum::FixedAllocator;
    /// assert_eq!(FixedAllocator::parse(" 4 ").map(|a| a.num()), Some(4));
    /// assert!(FixedAllocator::parse("-1").is_none());
    /// ```
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        crate::env::parse_task_num(text).map(FixedAllocator)
    }
}

/// The allocator of a task whose number was refused (a bad `TSMON_TASK_NUM`): never a number,
/// so nothing is flushed under a number another task may hold.
#[derive(Debug)]
pub(crate) struct Unassigned;

impl TaskNumAllocator for Unassigned {
    fn notify_task_is_alive<'a>(
        &'a self,
        _: &'a Target,
        _: &'a str,
    ) -> BoxFuture<'a, Result<i32, Error>> {
        Box::pin(async { Err(Error::NoTaskNumber) })
    }
}

impl TaskNumAllocator for FixedAllocator {
    fn notify_task_is_alive<'a>(
        &'a self,
        _: &'a Target,
        _: &'a str,
    ) -> BoxFuture<'a, Result<i32, Error>> {
        let n = self.0;
        Box::pin(async move { Ok(n) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_gap_finder_examples() {
        // appengine/tsmon/tasknum_test.go: the first free numbers after {1}, {1,3,5}, {4}.
        let firsts = |used: &[i32]| {
            let mut used = used.to_vec();
            (0..5)
                .map(|_| {
                    used.sort_unstable();
                    let n = lowest_free(&used);
                    used.push(n);
                    n
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(firsts(&[1]), [0, 2, 3, 4, 5]);
        assert_eq!(firsts(&[1, 3, 5]), [0, 2, 4, 6, 7]);
        assert_eq!(firsts(&[4]), [0, 1, 2, 3, 5]);
    }

    #[test]
    fn housekeeping_mode_waits_for_assign_like_go() {
        let alloc = InMemoryAllocator::new().with_housekeeping();
        let t = Target::new("s", "j");
        let other = Target::new("s", "other-job");
        assert!(matches!(alloc.heartbeat(&t, "b"), Err(Error::NoTaskNumber)));
        assert!(matches!(alloc.heartbeat(&t, "a"), Err(Error::NoTaskNumber)));
        assert!(matches!(
            alloc.heartbeat(&other, "a"),
            Err(Error::NoTaskNumber)
        ));
        alloc.assign();
        // In instance-id order, per target.
        assert_eq!(alloc.heartbeat(&t, "a").unwrap(), 0);
        assert_eq!(alloc.heartbeat(&t, "b").unwrap(), 1);
        assert_eq!(alloc.heartbeat(&other, "a").unwrap(), 0);
        alloc.assign();
        assert_eq!(
            alloc.heartbeat(&t, "b").unwrap(),
            1,
            "a second assign changes nothing"
        );
    }

    #[test]
    fn expired_numbers_are_reused_lowest_first() {
        let alloc = InMemoryAllocator::new().with_expiry(Duration::from_secs(60));
        let t = Target::new("s", "j");
        let t0 = Instant::now();
        assert_eq!(alloc.heartbeat_at(&t, "a", t0).unwrap(), 0);
        assert_eq!(alloc.heartbeat_at(&t, "b", t0).unwrap(), 1);
        assert_eq!(alloc.heartbeat_at(&t, "c", t0).unwrap(), 2);
        // "a" and "b" go silent; "c" keeps beating.
        assert_eq!(
            alloc
                .heartbeat_at(&t, "c", t0 + Duration::from_secs(30))
                .unwrap(),
            2
        );
        let later = t0 + Duration::from_secs(61);
        assert_eq!(alloc.heartbeat_at(&t, "c", later).unwrap(), 2);
        assert_eq!(alloc.heartbeat_at(&t, "d", later).unwrap(), 0);
        assert_eq!(alloc.heartbeat_at(&t, "e", later).unwrap(), 1);
        assert_eq!(alloc.heartbeat_at(&t, "f", later).unwrap(), 3);
    }
}
