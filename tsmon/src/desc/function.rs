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
    pub(crate) function: &'static str,
    /// The `module` field value (`module_path!()`).
    pub(crate) module: &'static str,
    /// The call counter, unless turned off.
    pub(crate) calls: Option<&'static MetricDesc>,
    /// The durations distribution, unless turned off.
    pub(crate) durations: Option<&'static MetricDesc>,
    /// The in-flight gauge, unless turned off.
    pub(crate) in_flight: Option<&'static MetricDesc>,
    /// The extra fixed fields (`fields(...)`), by name.
    pub(crate) fields: &'static [(&'static str, FieldValue<'static>)],
    /// Where the function is.
    pub(crate) site: DeclSite,
}

impl FnDesc {
    /// The `function` field value: the fn's name, or the `name = "..."` argument.
    ///
    /// ```
    /// #[tsmon::instrument]
    /// fn listed1() {}
    /// let f = tsmon::instrument::functions().iter().find(|f| f.function() == "listed1").unwrap();
    /// assert_eq!(f.function(), "listed1");
    /// ```
    #[must_use]
    pub const fn function(&self) -> &'static str {
        self.function
    }

    /// The `module` field value (`module_path!()`).
    ///
    /// ```
    /// #[tsmon::instrument]
    /// fn listed2() {}
    /// let f = tsmon::instrument::functions().iter().find(|f| f.function() == "listed2").unwrap();
    /// assert_eq!(f.module(), module_path!());
    /// ```
    #[must_use]
    pub const fn module(&self) -> &'static str {
        self.module
    }

    /// The call counter, unless turned off.
    ///
    /// ```
    /// #[tsmon::instrument]
    /// fn listed3() {}
    /// let f = tsmon::instrument::functions().iter().find(|f| f.function() == "listed3").unwrap();
    /// assert_eq!(f.calls().unwrap().name(), "function/calls");
    /// ```
    #[must_use]
    pub const fn calls(&self) -> Option<&'static MetricDesc> {
        self.calls
    }

    /// The durations distribution, unless turned off.
    ///
    /// ```
    /// #[tsmon::instrument]
    /// fn listed4() {}
    /// let f = tsmon::instrument::functions().iter().find(|f| f.function() == "listed4").unwrap();
    /// assert_eq!(f.durations().unwrap().name(), "function/durations");
    /// ```
    #[must_use]
    pub const fn durations(&self) -> Option<&'static MetricDesc> {
        self.durations
    }

    /// The in-flight gauge, unless turned off.
    ///
    /// ```
    /// #[tsmon::instrument]
    /// fn listed5() {}
    /// let f = tsmon::instrument::functions().iter().find(|f| f.function() == "listed5").unwrap();
    /// assert_eq!(f.in_flight().unwrap().name(), "function/in_flight");
    /// ```
    #[must_use]
    pub const fn in_flight(&self) -> Option<&'static MetricDesc> {
        self.in_flight
    }

    /// The extra fixed fields (`fields(...)`), by name.
    ///
    /// ```
    /// #[tsmon::instrument]
    /// fn listed6() {}
    /// let f = tsmon::instrument::functions().iter().find(|f| f.function() == "listed6").unwrap();
    /// assert!(f.fields().is_empty());
    /// ```
    #[must_use]
    pub const fn fields(&self) -> &'static [(&'static str, FieldValue<'static>)] {
        self.fields
    }

    /// Where the function is.
    ///
    /// ```
    /// #[tsmon::instrument]
    /// fn listed7() {}
    /// let f = tsmon::instrument::functions().iter().find(|f| f.function() == "listed7").unwrap();
    /// assert_eq!(f.site().crate_name(), "tsmon");
    /// ```
    #[must_use]
    pub const fn site(&self) -> &DeclSite {
        &self.site
    }
}

/// The distributed slice every instrumented function lands in (named for the crate, as
/// [`TSMON_METRICS`](crate::registry::TSMON_METRICS) is).
#[linkme::distributed_slice]
pub static TSMON_FUNCTIONS: [FnDesc];

/// Every instrumented function in the binary, in link order.
///
/// ```
/// #[tsmon::instrument]
/// fn listed() {}
/// assert!(tsmon::instrument::functions().iter().any(|f| f.function() == "listed"));
/// ```
#[must_use]
pub fn functions() -> &'static [FnDesc] {
    // Miri cannot read linkme's link sections (see `registry::catalog`).
    if cfg!(miri) { &[] } else { &TSMON_FUNCTIONS }
}
