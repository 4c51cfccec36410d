//! Exemplars from the current `tracing` span's OpenTelemetry context (feature
//! `tracing-opentelemetry`).
//!
//! Add [`ExemplarLayer`] to the subscriber next to `tracing-opentelemetry`'s layer. From then
//! on, every counter add and cumulative distribution add made while a span with a valid
//! OpenTelemetry context is entered keeps its series' exemplar (its bucket's, for a
//! distribution) with that span's `trace_id` and `span_id`, as
//! [`add_with_exemplar`](crate::metric::Counter::add_with_exemplar) would: OpenMetrics
//! scrapes, the protobuf format and remote-write carry the latest one per series and bucket.
//!
//! The ids are read once per span, at its first enter, and kept in the span's extensions;
//! each enter and exit then pushes and pops them on a stack of the thread's. A write asks one
//! relaxed load (is a layer installed?) and, if one is, one thread-local load (is a span with
//! ids entered?): without an entered span a write costs under a nanosecond more (see
//! `BENCHMARKS.md`). With one, the first write to a series (to a bucket, for a distribution)
//! while the span is entered keeps the exemplar (a lock of the metric's exemplar table and a
//! copy of the labels); the following ones on the same thread, until the span exits, only
//! count, so a loop inside a span does not pay the keeping at every turn, and the exemplar
//! stays the one of the span's first write. Writes through the HTTP and gRPC layers and
//! `#[tsmon::instrument]`'s own series do not take the ids.
//!
//! ```
//! use opentelemetry::trace::TracerProvider as _;
//! use tracing_subscriber::layer::SubscriberExt as _;
//! tsmon::metric! {
//!     /// Orders.
//!     static ORDERS: Counter = "example/exemplars/orders";
//! }
//! let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
//! let subscriber = tracing_subscriber::registry()
//!     .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("example")))
//!     .with(tsmon::exemplars::ExemplarLayer::new());
//! let state = tsmon::State::builder().build().unwrap();
//! tracing::subscriber::with_default(subscriber, || {
//!     let _span = tracing::info_span!("checkout").entered();
//!     state.in_scope(|| ORDERS.inc(()));
//! });
//! let text = state.encode(tsmon::exposition::Format::OpenMetrics);
//! assert!(text.contains("# {trace_id=\""), "{text}");
//! ```

use std::cell::{Cell, RefCell};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use opentelemetry::trace::TraceContextExt as _;
use tracing::span::Id;
use tracing::{Dispatch, Subscriber, dispatcher::WeakDispatch};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// Whether an [`ExemplarLayer`] was ever made: until then, a write does not look at the
/// thread's stack.
static INSTALLED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// How many entered spans with ids this thread has: the one load of a write.
    static DEPTH: Cell<usize> = const { Cell::new(0) };
    /// The entered spans' ids, innermost last.
    static STACK: RefCell<Vec<(u64, Ids)>> = const { RefCell::new(Vec::new()) };
    /// The span whose ids a write is keeping now (0 when none).
    static TRACED: Cell<u64> = const { Cell::new(0) };
    /// The last exemplar kept from a span on this thread: (span, series, slot).
    static LAST: Cell<(u64, usize, usize)> = const { Cell::new((0, 0, 0)) };
}

/// A span's trace and span ids, in lowercase hex, as the W3C trace context writes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Ids {
    trace: [u8; 32],
    span: [u8; 16],
}

fn hex<const N: usize>(bytes: &[u8]) -> [u8; N] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'0'; N];
    for (i, b) in bytes.iter().take(N / 2).enumerate() {
        out[2 * i] = DIGITS[usize::from(b >> 4)];
        out[2 * i + 1] = DIGITS[usize::from(b & 0xf)];
    }
    out
}

/// The ids cached in a span's extensions: `None` for a span without a valid context.
#[derive(Clone, Copy, Debug)]
struct Cached(Option<Ids>);

/// A `tracing-subscriber` layer that makes the entered span's OpenTelemetry trace and span
/// ids the exemplar of each counter and cumulative distribution write (see the
/// [module](self)).
///
/// ```
/// use tracing_subscriber::layer::SubscriberExt as _;
/// let subscriber = tracing_subscriber::registry().with(tsmon::exemplars::ExemplarLayer::new());
/// # drop(subscriber);
/// ```
#[derive(Debug, Default)]
pub struct ExemplarLayer {
    dispatch: OnceLock<WeakDispatch>,
}

impl ExemplarLayer {
    /// The layer; from its making on, writes look for an entered span's ids.
    ///
    /// ```
    /// let layer = tsmon::exemplars::ExemplarLayer::new();
    /// # drop(layer);
    /// ```
    #[must_use]
    pub fn new() -> Self {
        INSTALLED.store(true, Relaxed);
        ExemplarLayer::default()
    }

    fn ids_of(&self, id: &Id) -> Option<Ids> {
        let dispatch = self.dispatch.get()?.upgrade()?;
        let cx = tracing_opentelemetry::get_otel_context(id, &dispatch)?;
        let span = cx.span();
        let sc = span.span_context();
        sc.is_valid().then(|| Ids {
            trace: hex(&sc.trace_id().to_bytes()),
            span: hex(&sc.span_id().to_bytes()),
        })
    }
}

impl<S> Layer<S> for ExemplarLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        let _ = self.dispatch.set(subscriber.downgrade());
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let cached = span.extensions().get::<Cached>().copied();
        let ids = match cached {
            Some(Cached(ids)) => ids,
            None => {
                // No extension guard is held here: reading the context locks them.
                let ids = self.ids_of(id);
                span.extensions_mut().insert(Cached(ids));
                ids
            }
        };
        if let Some(ids) = ids {
            STACK.with(|s| s.borrow_mut().push((id.into_u64(), ids)));
            DEPTH.with(|d| d.set(d.get() + 1));
        }
    }

    fn on_exit(&self, id: &Id, _ctx: Context<'_, S>) {
        let raw = id.into_u64();
        let popped = STACK.with(|s| {
            let mut s = s.borrow_mut();
            // Exits come innermost first; search anyway, in case one was missed.
            match s.iter().rposition(|(i, _)| *i == raw) {
                Some(at) => {
                    s.remove(at);
                    true
                }
                None => false,
            }
        });
        if popped {
            DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
        }
        // Span ids are reused once a span closes: forget what this one kept.
        LAST.with(|l| {
            if l.get().0 == raw {
                l.set((0, 0, 0));
            }
        });
    }
}

/// Whether the innermost entered span has ids: the check of every write.
#[inline]
pub(crate) fn active() -> bool {
    INSTALLED.load(Relaxed) && DEPTH.with(Cell::get) > 0
}

/// Runs `f` with the innermost entered span's ids as exemplar labels; `false` (without
/// running it) when there is none.
#[cold]
pub(crate) fn with_labels(f: impl FnOnce(&[(&str, &str)])) -> bool {
    // Copied out, so that `f` may enter spans of its own.
    let Some((raw, ids)) = STACK.with(|s| s.borrow().last().copied()) else {
        return false;
    };
    let trace = std::str::from_utf8(&ids.trace).unwrap_or_default();
    let span = std::str::from_utf8(&ids.span).unwrap_or_default();
    let outer = TRACED.with(|t| t.replace(raw));
    f(&[("trace_id", trace), ("span_id", span)]);
    TRACED.with(|t| t.set(outer));
    true
}

/// Whether the exemplar a traced write is about to keep repeats the last one this thread
/// kept, for the same span, series and slot, while the span stays entered: then its keeping
/// (a lock and a copy of the labels) is skipped, and the series' exemplar stays the span's
/// first write's. `false` outside a traced write.
pub(crate) fn repeat(series: usize, slot: usize) -> bool {
    let span = TRACED.with(Cell::get);
    if span == 0 {
        return false;
    }
    LAST.with(|l| {
        let key = (span, series, slot);
        let same = l.get() == key;
        l.set(key);
        same
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_is_lowercase_and_padded() {
        assert_eq!(&super::hex::<4>(&[0x0a, 0xf0]), b"0af0");
        assert_eq!(
            &super::hex::<16>(&[1, 2, 3, 4, 5, 6, 7, 255]),
            b"01020304050607ff"
        );
    }
}
