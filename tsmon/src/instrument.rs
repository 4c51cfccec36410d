//! What [`#[tsmon::instrument]`](macro@crate::instrument) records, and the runtime it calls.
//!
//! Every instrumented function has three series, created (at zero) when a State is built, so
//! they are exported from the first scrape on:
//!
//! | metric | Prometheus name | kind | fields |
//! |---|---|---|---|
//! | `function/calls` | `function_calls_total` | [`Counter`](crate::metric::Counter) | `function`, `module`, `outcome` |
//! | `function/durations` | `function_durations_seconds` | [`CumulativeDistribution`](crate::metric::CumulativeDistribution), seconds | `function`, `module` |
//! | `function/in_flight` | `function_in_flight` | [`IntGauge`](crate::metric::IntGauge) | `function`, `module` |
//!
//! `outcome` is one of [`Outcome`]: `ok`, `error`, `panic`, `cancelled`. With
//! `prefix = "my/prefix"` the metrics are `my/prefix/calls`, `my/prefix/durations` and
//! `my/prefix/in_flight` instead, with any extra fixed `fields(...)` after the standard ones;
//! several functions may share a prefix as long as they declare the same fields and bucketer.
//!
//! The durations use [`LATENCY_BUCKETER`]: powers of two from 1 µs to about 9 minutes.
//!
//! ```
//! #[tsmon::instrument]
//! fn parse(s: &str) -> Result<i64, std::num::ParseIntError> {
//!     s.parse()
//! }
//!
//! let state = tsmon::State::builder().build().unwrap();
//! state.in_scope(|| {
//!     let _ = parse("42");
//!     let _ = parse("forty-two");
//! });
//! let snap = state.snapshot();
//! let calls = snap.metric("function/calls").unwrap();
//! let module = module_path!();
//! let count = |outcome: &str| {
//!     use tsmon::field::FieldValue::Str;
//!     match calls.find(&[Str("parse"), Str(module), Str(outcome)]).unwrap().value() {
//!         tsmon::store::Value::Int(n) => *n,
//!         other => panic!("{other:?}"),
//!     }
//! };
//! assert_eq!((count("ok"), count("error"), count("panic")), (1, 1, 0));
//! ```

pub(crate) mod call;

pub use crate::desc::function::{FnDesc, Outcome, TSMON_FUNCTIONS, functions};
use crate::distribution::BucketerSpec;
#[cfg(feature = "tower")]
pub(crate) use call::ticks;
pub(crate) use call::{check_sites, warm_up};

/// Classifies a return value as a success or a failure. `Result` is classified by its variant;
/// implement this for your own return types. For a type of another crate (an HTTP response, a
/// gRPC status), give `#[tsmon::instrument(classify = path::to::fn)]` a `fn(&T) -> Outcome`.
/// A return type that implements neither counts as `ok`.
///
/// ```
/// use tsmon::instrument::{Classify, Outcome};
///
/// struct Reply { status: u16 }
///
/// impl Classify for Reply {
///     fn classify(&self) -> Outcome {
///         if self.status >= 500 { Outcome::Error } else { Outcome::Ok }
///     }
/// }
///
/// #[tsmon::instrument]
/// fn serve(status: u16) -> Reply {
///     Reply { status }
/// }
///
/// let state = tsmon::State::builder().build().unwrap();
/// state.in_scope(|| { serve(200); serve(503); });
/// let text = state.encode(tsmon::exposition::Format::Text);
/// assert!(text.contains(r#"function="serve""#));
/// assert!(text.lines().any(|l| l.contains(r#"function="serve""#)
///     && l.contains(r#"outcome="error""#) && l.ends_with(" 1")));
/// ```
pub trait Classify {
    /// The outcome this value stands for.
    fn classify(&self) -> Outcome;
}

impl<T, E> Classify for Result<T, E> {
    #[inline]
    fn classify(&self) -> Outcome {
        match self {
            Ok(_) => Outcome::Ok,
            Err(_) => Outcome::Error,
        }
    }
}

impl Classify for Outcome {
    #[inline]
    fn classify(&self) -> Outcome {
        *self
    }
}

/// The bucketer of the default durations metric: 30 powers of two from 1 µs (the last finite
/// bucket starts at about 9 minutes), in seconds.
pub const LATENCY_BUCKETER: BucketerSpec = BucketerSpec::geometric_with_scale(2.0, 30, 1e-6);

// Each static allows `unsafe_code`: linkme enters it in the catalog with a `#[link_section]`
// static, which the lint sees inside this crate (linkme's macro is local here).
crate::metric! {
    /// Calls of functions instrumented with #[tsmon::instrument], by outcome (ok, error, panic, cancelled).
    #[allow(unsafe_code)]
    pub static CALLS: Counter(function: String, module: String, outcome: String) = "function/calls";

    /// Time spent in functions instrumented with #[tsmon::instrument], whatever the outcome.
    #[tsmon(units = seconds, bucketer = geometric_with_scale(2.0, 30, 0.000001))]
    #[allow(unsafe_code)]
    pub static DURATIONS: CumulativeDistribution(function: String, module: String) = "function/durations";

    /// Calls of functions instrumented with #[tsmon::instrument] under way.
    #[allow(unsafe_code)]
    pub static IN_FLIGHT: IntGauge(function: String, module: String) = "function/in_flight";
}
