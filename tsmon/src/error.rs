//! Errors.

use crate::desc::site::DeclSite;

/// What can go wrong in tsmon. Nothing in tsmon panics on a user's value: this is what comes back
/// instead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Two metrics of the catalog have the same name.
    #[error("duplicate metric name {name:?}: declared at {first} and again at {second}")]
    DuplicateMetric {
        /// The name.
        name: &'static str,
        /// The first declaration.
        first: &'static DeclSite,
        /// The second declaration.
        second: &'static DeclSite,
    },
    /// Two metrics of the catalog map to the same Prometheus name.
    #[error(
        "metrics {first_name:?} (declared at {first}) and {second_name:?} (declared at {second}) \
         both map to the Prometheus name {prometheus:?}"
    )]
    PrometheusNameClash {
        /// The shared Prometheus name.
        prometheus: String,
        /// The first metric's name.
        first_name: &'static str,
        /// Where it was declared.
        first: &'static DeclSite,
        /// The second metric's name.
        second_name: &'static str,
        /// Where it was declared.
        second: &'static DeclSite,
    },
    /// Functions instrumented under the same metric prefix declare its metrics differently.
    #[error(
        "metric {name:?} is declared by instrumented functions at {first} and at {second} with \
         different {what}; functions that share a prefix must use the same fields and bucketer"
    )]
    IncompatibleFamily {
        /// The metric name.
        name: &'static str,
        /// What differs.
        what: &'static str,
        /// The first declaration.
        first: &'static DeclSite,
        /// The second declaration.
        second: &'static DeclSite,
    },
    /// Settings that do not validate; the previous ones stay in force.
    #[error("invalid tsmon settings: {0}")]
    InvalidSettings(String),
    /// A monitor could not send (a retry with backoff follows).
    #[error("tsmon monitor: {0}")]
    Monitor(String),
    /// [`State::try_flush`](crate::State::try_flush) found another flush under way: nothing
    /// was flushed.
    #[error("another tsmon flush is under way; nothing was flushed")]
    FlushInProgress,
    /// A monitor could not deliver now but keeps what it could not send for the next flush
    /// (the remote-write queue): the flush keeps its interval instead of backing off.
    #[error("tsmon monitor: delivery deferred: {0}")]
    Deferred(String),
    /// A flush took longer than the flush timeout.
    #[error("the tsmon flush timed out after {0:?}")]
    FlushTimeout(std::time::Duration),
    /// The task-number allocator failed (a retry with backoff follows).
    #[error("failed to get a task number: {0}")]
    TaskNum(String),
    /// No task number is assigned yet: nothing is sent (Go's `ErrNoTaskNumber`).
    #[error("no task number assigned yet")]
    NoTaskNumber,
    /// This task had been silent for longer than the expiry and lost its number; it has a new
    /// one. The flush resets the cumulative metrics once (their streams belonged to the old
    /// number) and goes on with the new number.
    #[error("the task lost its task number; its new number is {0}")]
    TaskNumberLost(i32),
    /// Bucketer parameters that do not give strictly increasing bounds.
    #[error("invalid bucketer {0}")]
    InvalidBucketer(String),
}

/// A `Result` with tsmon's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
