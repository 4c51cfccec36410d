//! What `#[tsmon::instrument]` declares about a function: its entry of the catalog of
//! instrumented functions, and the outcomes its calls are counted by. (The runtime that records
//! calls is [`instrument`](crate::instrument); the series it writes are the store's.)

use std::fmt;

use crate::desc::{DeclSite, MetricDesc};
use crate::field::FieldValue;

/// How a call ended: the `outcome` field of the call counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// It returned a value its classifier calls a success (for a `Result`, `Ok`).
    Ok,
    /// It returned a value its classifier calls a failure (for a `Result`, `Err`), or a sync fn
    /// left early through `?`.
    Error,
    /// It panicked; the panic went on unwinding.
    Panic,
    /// An async fn's future was dropped before it finished.
    Cancelled,
}

impl Outcome {
    /// Every outcome, in field order.
    pub const ALL: [Outcome; 4] = [
        Outcome::Ok,
        Outcome::Error,
        Outcome::Panic,
        Outcome::Cancelled,
    ];

    /// The field value.
    ///
    /// ```
    /// assert_eq!(tsmon::instrument::Outcome::Cancelled.as_str(), "cancelled");
    /// ```
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Panic => "panic",
            Outcome::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One instrumented function: an entry of the [`functions`] catalog, made by
/// [`#[tsmon::instrument]`](macro@crate::instrument).
#[derive(Debug)]
pub struct FnDesc {
    /// The `function` field value: the fn's name, or the `name = "..."` argument.
    pub function: &'static str,
    /// The `module` field value (`module_path!()`).
    pub module: &'static str,
    /// The call counter, unless turned off.
    pub calls: Option<&'static MetricDesc>,
    /// The durations distribution, unless turned off.
    pub durations: Option<&'static MetricDesc>,
    /// The in-flight gauge, unless turned off.
    pub in_flight: Option<&'static MetricDesc>,
    /// The extra fixed fields (`fields(...)`), by name.
    pub fields: &'static [(&'static str, FieldValue<'static>)],
    /// Where the function is.
    pub site: DeclSite,
}

/// The distributed slice every instrumented function lands in.
#[linkme::distributed_slice]
pub static FUNCTIONS: [FnDesc];

/// Every instrumented function in the binary, in link order.
///
/// ```
/// #[tsmon::instrument]
/// fn listed() {}
/// assert!(tsmon::instrument::functions().iter().any(|f| f.function == "listed"));
/// ```
#[must_use]
pub fn functions() -> &'static [FnDesc] {
    // Miri cannot read linkme's link sections (see `registry::catalog`).
    if cfg!(miri) { &[] } else { &FUNCTIONS }
}
