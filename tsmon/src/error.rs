//! Errors.

use crate::desc::site::DeclSite;

/// What can go wrong in tsmon. Nothing in tsmon panics on a user's value: this is what comes back
/// instead.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Two metrics of the catalog have the same name.
    DuplicateMetric {
        /// The name.
        name: &'static str,
        /// The first declaration.
        first: &'static DeclSite,
        /// The second declaration.
        second: &'static DeclSite,
    },
    /// Two metrics of the catalog map to the same Prometheus name.
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
    InvalidSettings(String),
    /// A monitor could not send (a retry with backoff follows). The cause, when there is one
    /// (the HTTP client's error, an `io::Error`), is the [`source`](std::error::Error::source)
    /// of the [`Cause`].
    Monitor(Cause),
    /// [`State::try_flush`](crate::State::try_flush) found another flush under way: nothing
    /// was flushed.
    FlushInProgress,
    /// A monitor could not deliver now but keeps what it could not send for the next flush
    /// (the remote-write queue): the flush keeps its interval instead of backing off.
    Deferred(Cause),
    /// A flush took longer than the flush timeout.
    FlushTimeout(std::time::Duration),
    /// The task-number allocator failed (a retry with backoff follows). The client's error
    /// (Redis, PostgreSQL), when there is one, is the source of the [`Cause`].
    TaskNum(Cause),
    /// No task number is assigned yet: nothing is sent (Go's `ErrNoTaskNumber`).
    NoTaskNumber,
    /// This task had been silent for longer than the expiry and lost its number; it has a new
    /// one. The flush resets the cumulative metrics once (their streams belonged to the old
    /// number) and goes on with the new number.
    TaskNumberLost(i32),
    /// Bucketer parameters that do not give strictly increasing bounds.
    InvalidBucketer(String),
    /// A metric registered at run time (through the `metrics` facade, or an attached
    /// registry's) that cannot join the catalog: its name, or the Prometheus name it maps to,
    /// is taken by another metric, or it comes back with another kind or other labels.
    MetricRefused(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::DuplicateMetric {
                name,
                first,
                second,
            } => write!(
                f,
                "duplicate metric name {name:?}: declared at {first} and again at {second}"
            ),
            Error::PrometheusNameClash {
                prometheus,
                first_name,
                first,
                second_name,
                second,
            } => write!(
                f,
                "metrics {first_name:?} (declared at {first}) and {second_name:?} (declared at \
                 {second}) both map to the Prometheus name {prometheus:?}"
            ),
            Error::IncompatibleFamily {
                name,
                what,
                first,
                second,
            } => write!(
                f,
                "metric {name:?} is declared by instrumented functions at {first} and at {second} \
                 with different {what}; functions that share a prefix must use the same fields \
                 and bucketer"
            ),
            Error::InvalidSettings(m) => write!(f, "invalid tsmon settings: {m}"),
            Error::Monitor(c) => write!(f, "tsmon monitor: {c}"),
            Error::FlushInProgress => {
                f.write_str("another tsmon flush is under way; nothing was flushed")
            }
            Error::Deferred(c) => write!(f, "tsmon monitor: delivery deferred: {c}"),
            Error::FlushTimeout(d) => write!(f, "the tsmon flush timed out after {d:?}"),
            Error::TaskNum(c) => write!(f, "failed to get a task number: {c}"),
            Error::NoTaskNumber => f.write_str("no task number assigned yet"),
            Error::TaskNumberLost(n) => {
                write!(f, "the task lost its task number; its new number is {n}")
            }
            Error::InvalidBucketer(m) => write!(f, "invalid bucketer {m}"),
            Error::MetricRefused(m) => write!(f, "metric refused: {m}"),
        }
    }
}

/// The [`Cause`] of a monitor's or an allocator's error (whose own source is the client's
/// error, when there is one).
impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Monitor(c) | Error::Deferred(c) | Error::TaskNum(c) => Some(c),
            _ => None,
        }
    }
}

/// A `Result` with tsmon's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong in a monitor or an allocator: a message that reads whole (it includes its
/// cause's text), and the cause itself, typed, as its [`source`](std::error::Error::source), so
/// a caller can downcast to the `io::Error`, the HTTP client's error or the database client's.
///
/// ```
/// use std::error::Error as _;
/// let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
/// let err = tsmon::Error::Monitor(tsmon::error::Cause::with_source("pushing to the gateway", io));
/// assert_eq!(err.to_string(), "tsmon monitor: pushing to the gateway: refused");
/// let cause = err.source().and_then(|c| c.source()).unwrap();
/// let io = cause.downcast_ref::<std::io::Error>().unwrap();
/// assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);
/// // Without a cause: just the message.
/// let plain = tsmon::error::Cause::from("the receiver answered 503");
/// assert!(plain.source().is_none());
/// ```
#[derive(Debug)]
pub struct Cause {
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Cause {
    /// A cause with no underlying error.
    #[must_use]
    pub fn new(message: impl Into<String>) -> Self {
        Cause {
            message: message.into(),
            source: None,
        }
    }

    /// `context` and the error behind it: the message reads `context: error`.
    #[must_use]
    pub fn with_source(
        context: impl std::fmt::Display,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Cause {
            message: format!("{context}: {}", chain(&source)),
            source: Some(Box::new(source)),
        }
    }

    /// This cause with `source` behind it, the message as it is (for a message that already
    /// says what the source would).
    #[must_use]
    pub fn caused_by(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// The message.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// An error's text followed by its sources' (`a: b: c`), leaving out a source whose text the
/// one before already ends with.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        let more = s.to_string();
        if !text.ends_with(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        next = s.source();
    }
    text
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<String> for Cause {
    fn from(message: String) -> Self {
        Cause::new(message)
    }
}

impl From<&str> for Cause {
    fn from(message: &str) -> Self {
        Cause::new(message)
    }
}
