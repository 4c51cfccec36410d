//! # tsmon
//!
//! Time-series monitoring for fleets of Rust services, after LUCI's `tsmon`: metrics declared
//! statically, cheap on the hot path, exported to Prometheus, with streams that stay bounded
//! while processes come and go.
//!
//! ```
//! tsmon::metric! {
//!     /// Orders placed, by payment method.
//!     pub static ORDERS: Counter(method: String) = "shop/orders";
//!
//!     /// Time to place an order.
//!     #[tsmon(units = seconds, bucketer = geometric(2.0, 16))]
//!     pub static ORDER_LATENCY: CumulativeDistribution = "shop/order_latency";
//! }
//!
//! ORDERS.inc("card");
//! ORDER_LATENCY.add(0.25, ());
//! let text = tsmon::State::global().encode(tsmon::exposition::Format::Text);
//! assert!(text.contains("# TYPE shop_orders_total counter"));
//! assert!(text.contains("method=\"card\"} 1\n"));
//! ```
//!
//! # How it fits together
//!
//! Data flows one way: a metric declared anywhere in the binary lands in the link-time
//! [`registry`]; a [`State`] checks that catalog once and gives every metric a slot in its
//! [`store`]; writes land there with relaxed atomics; a [`Snapshot`](store::Snapshot) copies the
//! store, binding series to the current [`Target`]; [`exposition`] encodes it for Prometheus.
//!
//! # Features
//!
//! - `macros` (default): the [`metric!`] declaration macro.
//! - `prometheus` (default): [`exposition::Collector`], the store as a
//!   `prometheus::core::Collector`.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings))))]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

extern crate self as tsmon;

pub mod clock;
pub mod distribution;
pub mod error;
pub mod exposition;
pub mod field;
pub mod metric;
pub mod registry;
pub mod state;
pub mod store;
pub mod target;

pub use error::{Error, Result};
pub use state::{State, StateBuilder};
pub use target::Target;

/// Declares metrics: each becomes a `static` of one of the eight [metric kinds](mod@metric), and an
/// entry of the link-time [catalog](registry).
///
/// ```
/// tsmon::metric! {
///     /// Requests served, by route and status. (The doc comment is the description.)
///     pub static REQUESTS: Counter(route: String, status: i64) = "http/requests";
///
///     /// Time spent per request.
///     #[tsmon(units = seconds, bucketer = geometric(2.0, 20), max_series = 5000)]
///     pub static LATENCY: CumulativeDistribution(route: String) = "http/latency";
///
///     /// Whether the cache is warm.
///     static WARM: BoolMetric = "cache/warm";
/// }
/// # REQUESTS.inc(("/", 200)); LATENCY.add(0.1, "/"); WARM.set(true, ());
/// ```
///
/// # Syntax
///
/// `/// description` then optional `#[tsmon(...)]` options, then
/// `VIS static NAME: KIND(FIELD: TYPE, ...) = "metric/name";`
///
/// - **KIND**: `Counter`, `FloatCounter`, `IntGauge`, `FloatGauge`, `StringMetric`,
///   `BoolMetric`, `CumulativeDistribution`, `NonCumulativeDistribution`.
/// - **Fields** (at most 8): `String`, `i64` or `bool`. Writes take the values as `()` (no
///   field), the bare value (one field) or a tuple; a wrong count or type does not compile.
/// - **Name**: Go style, `segment/segment`, each of ASCII letters, digits, `_` and `-`; it must
///   map to a valid Prometheus name (see [`exposition::prometheus_name`]) and must not end with a
///   suffix the formats add (`_total`, `_count`, …).
/// - **Options**: `units = seconds|milliseconds|…|bytes|…` (not a time unit on string and bool
///   metrics), `bucketer = default|fixed_width(w, n)|geometric(g, n)|geometric_with_scale(g, n, s)`
///   (distributions only; checked at compile time), `max_series = N`, `crate = path` (for a
///   renamed `tsmon` dependency).
///
/// Every mistake is a compile error pointing at the offending token.
#[cfg(feature = "macros")]
#[cfg_attr(docsrs, doc(cfg(feature = "macros")))]
pub use tsmon_macros::metric;

/// Not public API: what the macro expansions call. It can change in any release; `tsmon-macros`
/// is pinned to the exact version of `tsmon`.
#[doc(hidden)]
pub mod __private {
    pub use crate::registry::METRICS;
    pub use linkme;
}
