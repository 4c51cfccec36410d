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
//! # A service
//!
//! `#[tsmon::main]` on `main` installs the global [`State`] for the target, reads the settings
//! (builder, a watched file, `TSMON_*` variables), starts the flush loop and the runtime-stats
//! reporter on tsmon's own thread, and flushes one last time when `main` returns or on SIGTERM /
//! ctrl-c. `#[tsmon::instrument]` counts, times and tracks every call of a fn.
//!
//! ```no_run
//! #[tsmon::instrument]
//! async fn handle(order: u64) -> Result<u64, std::io::Error> {
//!     Ok(order * 2)
//! }
//!
//! #[tsmon::main(service = "shop", job = "frontend")]
//! async fn main() {
//!     let _ = handle(21).await;
//! }
//! ```
//!
//! # Serving `/metrics`
//!
//! Prometheus scrapes a pull endpoint that tsmon runs on its own thread: set the monitor to
//! `pull` (`TSMON_MONITOR=pull:0.0.0.0:9464`, `monitor = "pull"` in the settings file, or in
//! code as below). It serves the text format or OpenMetrics by the `Accept` header, with header
//! and idle timeouts and a connection cap ([`monitor::PullMonitor`]). Or push: `pushgateway:URL`,
//! `remote_write:URL` (see [`settings::MonitorSpec`]).
//!
//! ```
//! use tsmon::settings::{MonitorSpec, Settings};
//! let state = tsmon::State::builder()
//!     .with_settings(Settings {
//!         monitor: MonitorSpec::parse("pull:127.0.0.1:0").unwrap(),
//!         ..Settings::default()
//!     })
//!     .build()
//!     .unwrap();
//! let addr = state.pull_address().unwrap();
//! println!("curl http://{addr}/metrics");
//! ```
//!
//! # How it fits together
//!
//! Data flows one way: a metric declared anywhere in the binary lands in the link-time
//! [`registry`]; a [`State`] checks that catalog once and gives every metric a slot in its
//! [`store`]; writes land there with relaxed atomics; a [`Snapshot`] copies the
//! store, binding series to the current [`Target`]; [`exposition`] encodes it for Prometheus.
//! Settings come in layers that each keep their keys ([`settings`]); what is in force and what
//! went wrong is in [`State::health`].
//!
//! # Features
//!
//! | feature | default | what |
//! |---|---|---|
//! | `macros` | yes | [`metric!`], [`#[instrument]`](macro@instrument), [`#[main]`](macro@main) |
//! | `prometheus` | yes | [`exposition::Collector`]: the store as a `prometheus::core::Collector`; `attach::prometheus_registry`: a `prometheus::Registry` served next to tsmon's metrics |
//! | `prometheus-client` | no | `attach::prometheus_client_registry`: a `prometheus-client` registry served next to tsmon's metrics |
//! | `tower` | yes | the HTTP middleware: `http::HttpMetricsLayer` for servers (hyper, any tower stack; `http::AxumMetricsLayer` for axum routers, with the `axum` feature) and `http::HttpClientMetricsLayer` for tower clients (hyper-util's) |
//! | `pull` | yes | the pull endpoint (`monitor = "pull"`, `monitor::PullMonitor`), on hyper, with the [status page](status) (`/tsmon`: catalog, live charts, health) |
//! | `pushgateway` | yes | the Pushgateway monitor (`monitor::PushgatewayMonitor`) |
//! | `remote-write` | yes | the remote-write monitor (`monitor::RemoteWriteMonitor`), protobuf and snappy |
//! | `settings-file` | yes | settings files (TOML or JSON, watched) and the table-valued keys (`push`, `pull_tls`), through serde |
//! | `process-stats` | yes | the `process/*` figures from `/proc` on Linux |
//! | `signals` | yes | `#[tsmon::main]` flushes on ctrl-c and SIGTERM before the process exits |
//! | `axum` | no | route templates from axum's `MatchedPath` in the middleware, and `http::AxumMetricsLayer` |
//! | `grpc` | no | `grpc::GrpcServerMetricsLayer` and `grpc::GrpcClientMetricsLayer`: grpcmon's metrics for tonic servers and channels, the status read from the trailers |
//! | `reqwest` | no | `http::reqwest::ReqwestMetrics`: the HTTP client metrics as a `reqwest-middleware` middleware |
//! | `tracing-opentelemetry` | no | `exemplars::ExemplarLayer`: counter and distribution writes inside a traced `tracing` span keep its trace and span ids as their exemplar |
//! | `metrics` | no | `metrics::Recorder` and `metrics::install`: the `metrics` facade's `counter!`, `gauge!` and `histogram!` land in the store, as dynamic catalog entries |
//! | `otlp` | no | the OTLP/HTTP monitor (`monitor = "otlp:…"`, `monitor::OtlpMonitor`): protobuf and gzip, the OTLP retry rules |
//! | `redis` | no | `tasknum::RedisAllocator` |
//! | `postgres` | no | `tasknum::PostgresAllocator` |
//! | `test-util` | no | `tsmon::test_util`: the hooks tsmon's own tests and fuzz targets use (the key codec's functions) |
//! | `tls` | no | TLS through rustls (ring): `https://` for the Pushgateway and remote-write (system roots or a CA file, client certificates) and a certificate for the pull endpoint (`pull_tls`, mutual TLS, renewed without a restart); without it those settings are refused with the reason |
//!
//! A monitor, a settings file or a table value that a build lacks the feature for is refused
//! when the settings apply, naming the feature; nothing fails later. The lean build,
//! `default-features = false, features = ["macros"]`, keeps the store, every metric kind,
//! `#[instrument]`, `#[main]`, the State with its settings from the builder, the environment and
//! the API, the flush loop, the debug monitor and the text and OpenMetrics encoders, in 29
//! crates (the default build has 80; see `BENCHMARKS.md` for the build cost).
//!
//! tsmon builds on Linux, macOS and Windows; the process figures of [`runtime_stats`] are read
//! from `/proc` on Linux only.

#![cfg_attr(docsrs, feature(doc_cfg))]
// The crate docs link the pull endpoint, the Pushgateway monitor and the `prometheus`
// collector; a build without those features has nothing to link to, and documents anyway
// (CI documents the default build with broken links denied, and the lean one too).
#![cfg_attr(
    not(all(feature = "pull", feature = "pushgateway", feature = "prometheus")),
    allow(rustdoc::broken_intra_doc_links)
)]
#![doc(test(attr(deny(warnings))))]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

extern crate self as tsmon;

pub mod alloc;
#[cfg(any(feature = "prometheus", feature = "prometheus-client"))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(feature = "prometheus", feature = "prometheus-client")))
)]
pub mod attach;
pub mod clock;
mod desc;
pub mod distribution;
mod env;
pub mod error;
#[cfg(feature = "tracing-opentelemetry")]
#[cfg_attr(docsrs, doc(cfg(feature = "tracing-opentelemetry")))]
pub mod exemplars;
pub mod exposition;
pub mod field;
pub mod flush;
#[cfg(feature = "grpc")]
#[cfg_attr(docsrs, doc(cfg(feature = "grpc")))]
pub mod grpc;
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub mod http;
pub mod instrument;
pub mod metric;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
#[cfg(feature = "tower")]
mod middleware;
pub mod monitor;
pub mod registry;
pub mod report;
pub mod runtime;
pub mod runtime_stats;
mod schedule;
pub mod settings;
pub mod state;
#[cfg(feature = "pull")]
#[cfg_attr(docsrs, doc(cfg(feature = "pull")))]
pub mod status;
pub mod store;
pub mod target;
pub mod tasknum;
#[cfg(feature = "test-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub mod test_util;

pub use error::{Error, Result};
pub use state::{State, StateBuilder};
pub use store::Snapshot;
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
///   metrics), `bucketer = default|fixed_width(w, n)|geometric(g, n)|geometric_with_scale(g, n, s)|bounds(b0, b1, …)|native(…)`
///   (distributions only; checked at compile time: `bounds` takes finite, strictly increasing
///   numbers, such as Prometheus' default `bounds(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
///   2.5, 5, 10)`, and its `le` labels are those bounds; computed bounds are rounded to 15
///   significant digits, so they print as written; `native(schema)` or `native(factor = f)`,
///   with optional `max_buckets = n` and `zero_threshold = t`, is a native histogram, see
///   [`distribution::native`]), `max_series = N`, `crate = path` (for a renamed `tsmon`
///   dependency).
///
/// Every mistake is a compile error pointing at the offending token.
#[cfg(feature = "macros")]
#[cfg_attr(docsrs, doc(cfg(feature = "macros")))]
pub use tsmon_macros::metric;
// tsmon's own self-metrics are declared with `metric!`, with or without the feature.
#[cfg(not(feature = "macros"))]
pub(crate) use tsmon_macros::metric;

/// Instruments a fn: every call is counted by outcome, timed, and tracked while in flight.
///
/// ```
/// #[tsmon::instrument]
/// async fn fetch(id: u64) -> Result<String, std::io::Error> {
///     Ok(format!("item {id}"))
/// }
///
/// #[tsmon::instrument]
/// fn checksum(data: &[u8]) -> u32 {
///     data.iter().map(|&b| u32::from(b)).sum()
/// }
/// let state = tsmon::State::builder().build().unwrap(); // or the global one
/// state.in_scope(|| assert_eq!(checksum(b"ab"), 195));
/// let text = state.encode(tsmon::exposition::Format::Text);
/// // Both functions are exported from the first scrape, `fetch` before any call.
/// let line = |name: &str, function: &str| {
///     text.lines()
///         .find(|l| l.starts_with(name) && l.contains(&format!("function=\"{function}\"")))
///         .map(|l| l.rsplit(' ').next().unwrap().to_owned())
/// };
/// assert_eq!(line("function_calls_total", "fetch").as_deref(), Some("0"));
/// assert_eq!(line("function_durations_seconds_count", "checksum").as_deref(), Some("1"));
/// ```
///
/// # What it records
///
/// Three metrics, declared in the [catalog](registry) and created at zero for every
/// instrumented fn when a State is built (see [`instrument`](mod@instrument)):
/// `function/calls` (`function_calls_total{function, module, outcome}`), `function/durations`
/// (`function_durations_seconds{function, module}`, a histogram of powers of two from 1 µs) and
/// `function/in_flight` (`function_in_flight{function, module}`). `function` is the fn's name
/// (`name = "..."` changes it), `module` its `module_path!()`.
///
/// The `outcome` of a call:
///
/// - `ok` / `error`: the return value, classified by [`instrument::Classify`] (a `Result` by
///   its variant; any type that does not implement it counts as `ok`), or by `classify = f`.
/// - `error` also for a sync fn that leaves through `?` (or a `return` hidden in a macro such
///   as `anyhow::bail!`) when it returns a `Result`: the value is never seen, and in a
///   `Result` fn such an exit is an `Err`. For other return types such an exit counts as `ok`.
/// - `panic`: the fn panicked; the panic goes on unwinding after it is counted.
/// - `cancelled`: an async fn's future was dropped before it finished (a timeout, a `select!`
///   that took another branch, a client that went away). The in-flight gauge is released in
///   every case.
///
/// # Async fns
///
/// The call starts when the future is first polled, not when it is created: a future never
/// polled is not a call. Its duration runs until it completes or is dropped, and so includes
/// the time it waited. `?` in an async fn is classified exactly (the body runs in an inner
/// `async move` block, so its early exits come back as values). With `#[async_trait]` on the
/// impl, the attribute finds the boxed future that `async-trait` made and instruments it, so
/// it measures the call, not the boxing.
///
/// # Arguments
///
/// | argument | effect |
/// |---|---|
/// | `name = "Type::method"` | the `function` field value (default: the fn's name) |
/// | `prefix = "my/rpc"` | record into `my/rpc/calls`, `my/rpc/durations`, `my/rpc/in_flight` instead of `function/*`; fns may share a prefix if they declare the same fields and bucketer |
/// | `fields(region = "eu", shard = 3, canary = false)` | extra fixed fields (string, integer or bool); needs `prefix` |
/// | `classify = path::to::f` | a `fn(&T) -> Outcome` (or closure) that classifies the return value `T` |
/// | `bucketer = geometric(2.0, 20)` | the durations bucketer, in seconds (as in [`metric!`]); needs `prefix` |
/// | `calls = false`, `latency = false`, `in_flight = false` | turn a part off |
/// | `crate = path` | the path of a renamed `tsmon` dependency |
///
/// ```
/// # mod http { pub struct Response { pub status: u16 } }
/// use tsmon::instrument::Outcome;
///
/// fn by_status(r: &http::Response) -> Outcome {
///     if r.status >= 500 { Outcome::Error } else { Outcome::Ok }
/// }
///
/// #[tsmon::instrument(prefix = "shop/rpc", fields(service = "cart"), classify = by_status, in_flight = false)]
/// fn add_item() -> http::Response {
///     http::Response { status: 503 }
/// }
/// # let state = tsmon::State::builder().build().unwrap();
/// # state.in_scope(|| add_item());
/// # let text = state.encode(tsmon::exposition::Format::Text);
/// # assert!(text.lines().any(|l| l.contains("shop_rpc_calls_total") && l.contains(r#"outcome="error""#) && l.contains(r#"service="cart""#) && l.ends_with(" 1")));
/// # assert!(!text.contains("shop_rpc_in_flight"));
/// ```
///
/// Mistakes are compile errors pointing at the argument, listing what is valid; the fn is
/// still emitted unchanged, so the rest of the crate type-checks. A `const fn`, an `extern`
/// fn, a trait method without a body and any item that is not a fn are refused.
///
/// # The hot path
///
/// The fn's series are resolved once, when the State is built, into a table the call site
/// reaches through a `static` by index: a call costs two reads of the CPU's time-stamp counter
/// (through [`quanta`](https://docs.rs/quanta), which falls back to the OS clock where the
/// counter is not reliable) and five relaxed atomic operations, with no lock, hash, allocation
/// or reference count. A disabled State costs one relaxed load.
///
/// # What it expands to
///
/// Roughly, for a sync fn (an async one awaits `async move { body }` instead of the labeled
/// block, and its early exit is `cancelled`):
///
/// ```
/// # fn work() -> Result<(), ()> { Ok(()) }
/// fn handler() -> Result<(), ()> {
///     #[tsmon::__private::linkme::distributed_slice(tsmon::__private::TSMON_FUNCTIONS)]
///     #[linkme(crate = tsmon::__private::linkme)]
///     static SITE: tsmon::instrument::FnDesc = tsmon::__private::fn_desc(
///         "handler",
///         module_path!(),
///         Some(tsmon::instrument::CALLS.desc()),
///         Some(tsmon::instrument::DURATIONS.desc()),
///         Some(tsmon::instrument::IN_FLIGHT.desc()),
///         &[],
///         tsmon::__private::decl_site(env!("CARGO_PKG_NAME"), module_path!(), file!(), 1, 4),
///     );
///     // In flight +1, clock read; a panic or an exit through `?` is recorded when the guard drops.
///     static INDEX: tsmon::__private::SiteIndex = tsmon::__private::SiteIndex::new();
///     let call = tsmon::__private::Call::start(&SITE, &INDEX, tsmon::instrument::Outcome::Error);
///     let ret: Result<(), ()> = 'body: {
///         // the original body, each `return x` turned into `break 'body x`
///         if false {
///             break 'body Err(());
///         }
///         work()
///     };
///     // Clock read; the counter of the outcome, the duration, in flight -1.
///     call.finish(if ret.is_ok() { tsmon::instrument::Outcome::Ok } else { tsmon::instrument::Outcome::Error });
///     ret
/// }
/// # assert!(handler().is_ok());
/// ```
#[cfg(feature = "macros")]
#[cfg_attr(docsrs, doc(cfg(feature = "macros")))]
pub use tsmon_macros::instrument;

/// Sets tsmon up around `main`: installs the global [`State`] (target, settings, allocator, dev
/// mode, all overridable by `TSMON_*` variables), starts the flush loop on tsmon's own
/// background thread, and flushes one last time when `main` returns or unwinds, and on ctrl-c
/// or SIGTERM (then the process exits with status 130 or 143).
///
/// ```no_run
/// #[tsmon::main(service = "shop", job = "frontend", settings_file = "/etc/shop/tsmon.toml")]
/// async fn main() {
///     // ... serve ...
/// }
/// ```
///
/// On an `async fn main` it builds the tokio runtime as `#[tokio::main]` would (multi-threaded;
/// `flavor = "current_thread"` or `worker_threads = N` change that). With `#[tokio::main]` as
/// well, either order works: below `#[tsmon::main]`, tokio builds the runtime and tsmon's guard
/// goes first in the body; above it, tokio has already turned `main` into a sync fn that
/// tsmon wraps. A sync `main` works the same way, with no runtime built.
///
/// # Arguments
///
/// | argument | default | environment |
/// |---|---|---|
/// | `service = "..."` | the package name | `TSMON_SERVICE` |
/// | `job = "..."` | the binary name | `TSMON_JOB` |
/// | `data_center = "..."`, `host = "..."` | from the host name (Go's rule) | `TSMON_DATA_CENTER`, `TSMON_HOST` |
/// | `instance_id = "..."` | host, pid and start time | `TSMON_INSTANCE_ID` |
/// | `settings_file = "..."` | none: the embedded defaults | `TSMON_SETTINGS_FILE` |
/// | `allocator = expr` | none: task number 0 | `TSMON_TASK_NUM` (a fixed number) |
/// | `dev_mode` or `dev_mode = bool` | off | `TSMON_DEV_MODE` |
/// | `flavor = "current_thread"`, `worker_threads = N` | multi-threaded | — |
/// | `crate = path` | `::tsmon` | — |
///
/// With `TSMON_PRINT_CATALOG=markdown` (or `json`), the binary prints its catalog
/// ([`registry::catalog_markdown`], [`registry::catalog_json`]) to stdout and exits 0 before
/// `main`'s body runs, so a team generates its metrics docs and alert rules from the binary
/// itself; any other value is an error (exit 2) saying what the variable takes.
///
/// Settings (`TSMON_ENABLED`, `TSMON_MONITOR`, …) are in [`settings`]. Equivalent code without
/// the attribute: `let _tsmon = tsmon::flush::start_main(State::builder()...)?;` first thing in
/// `main` (see [`flush::start_main`]). A `std::process::exit` skips the final flush, as it
/// skips every destructor.
#[cfg(feature = "macros")]
#[cfg_attr(docsrs, doc(cfg(feature = "macros")))]
pub use tsmon_macros::main;

#[doc(hidden)]
pub mod __private;
