//! Each key's range: the checks of values read from text and of layers made in code.

use std::time::Duration;

use super::super::push::PushOptions;
use super::super::values::PullTls;
use super::super::{
    MAX_FLUSH_INTERVAL, MAX_FLUSH_WORKERS, MAX_MAX_SERIES, MAX_PULL_CONNECTIONS,
    MAX_PUSH_QUEUE_BYTES,
};

#[allow(clippy::unnecessary_wraps)]
pub(super) fn any<T>(_: &T) -> Result<(), String> {
    Ok(())
}

pub(super) fn check_interval(d: &Duration) -> Result<(), String> {
    if *d < Duration::from_secs(1) || *d > MAX_FLUSH_INTERVAL {
        Err("it must be between 1 and 86400 seconds (one day)".into())
    } else {
        Ok(())
    }
}

pub(super) fn check_timeout(d: &Duration) -> Result<(), String> {
    if d.is_zero() || *d >= MAX_FLUSH_INTERVAL {
        Err("it must be above 0 and below the flush interval".into())
    } else {
        Ok(())
    }
}

pub(super) fn in_range(n: usize, low: usize, high: usize) -> Result<(), String> {
    if (low..=high).contains(&n) {
        Ok(())
    } else {
        Err(format!("it must be between {low} and {high}"))
    }
}

pub(super) fn check_workers(n: &usize) -> Result<(), String> {
    in_range(*n, 1, MAX_FLUSH_WORKERS)
}

pub(super) fn check_max_series(n: &usize) -> Result<(), String> {
    in_range(*n, 1, MAX_MAX_SERIES)
}

pub(super) fn check_pull_timeout(d: &Duration) -> Result<(), String> {
    if *d < Duration::from_millis(100) || *d > Duration::from_secs(3600) {
        Err("it must be between 0.1 and 3600 seconds".into())
    } else {
        Ok(())
    }
}

pub(super) fn check_pull_connections(n: &usize) -> Result<(), String> {
    in_range(*n, 1, MAX_PULL_CONNECTIONS)
}

pub(super) fn check_queue_bytes(n: &usize) -> Result<(), String> {
    in_range(*n, 0, MAX_PUSH_QUEUE_BYTES)
}

pub(super) fn check_queue_age(d: &Duration) -> Result<(), String> {
    if *d < Duration::from_secs(1) || *d > MAX_FLUSH_INTERVAL {
        Err("it must be between 1 and 86400 seconds (one day)".into())
    } else {
        Ok(())
    }
}

pub(super) fn check_status_history(d: &Duration) -> Result<(), String> {
    if *d > MAX_FLUSH_INTERVAL {
        Err("it must be between 0 and 86400 seconds (one day)".into())
    } else {
        Ok(())
    }
}

pub(super) fn check_status_series(n: &usize) -> Result<(), String> {
    in_range(*n, 0, MAX_MAX_SERIES)
}

pub(super) fn check_push(p: &PushOptions) -> Result<(), String> {
    p.check()
}

pub(super) fn check_pull_tls(t: &PullTls) -> Result<(), String> {
    t.check()
}
