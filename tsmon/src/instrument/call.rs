//! The runtime an `#[instrument]` expansion calls: the call guard, the call site's index, the
//! outcome probes. Reached only through [`crate::__private`], the macros' contract.

// Unsafe code here: a call keeps a raw pointer to its series (valid while the store it holds is), and the catalog index of a call site.
#![allow(unsafe_code)]

use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use super::{Classify, FnDesc, Outcome, functions};
use crate::store::current;
use crate::store::{FnSeries, Store};

/// The position of a call site's [`FnDesc`] in [`functions`], found once.
#[derive(Debug)]
pub struct SiteIndex(AtomicUsize);

impl SiteIndex {
    /// Not found yet.
    #[must_use]
    pub const fn new() -> Self {
        SiteIndex(AtomicUsize::new(usize::MAX))
    }

    #[inline]
    fn get(&self, site: &'static FnDesc) -> Option<usize> {
        let i = self.0.load(Relaxed);
        if i != usize::MAX {
            return Some(i);
        }
        let i = index_of(site)?;
        self.0.store(i, Relaxed);
        Some(i)
    }
}

impl Default for SiteIndex {
    fn default() -> Self {
        Self::new()
    }
}

#[inline]
fn index_of(desc: &'static FnDesc) -> Option<usize> {
    let all = functions();
    let offset = (desc as *const FnDesc as usize).wrapping_sub(all.as_ptr() as usize);
    let index = offset / size_of::<FnDesc>().max(1);
    (index < all.len() && std::ptr::eq(&all[index], desc)).then_some(index)
}

/// Two instrumented functions that write the same series (same name and module in one family);
/// logged when a State is built.
pub(crate) fn check_sites() {
    let mut seen: std::collections::HashMap<(&str, &str, &str), &FnDesc> =
        std::collections::HashMap::new();
    for f in functions() {
        let family = f
            .calls
            .or(f.durations)
            .or(f.in_flight)
            .map_or("", |d| d.name);
        if let Some(first) = seen.insert((family, f.module, f.function), f) {
            tracing::warn!(
                "instrumented functions at {} and {} both record as function {:?} of module {:?}; \
                 give one of them `name = \"...\"` to tell them apart",
                first.site,
                f.site,
                f.function,
                f.module
            );
        }
    }
}

/// The call clock: the CPU's time-stamp counter read inline where quanta found it reliable
/// (invariant, and what quanta itself reads), else quanta's clock (the OS monotonic clock).
pub(crate) mod ticks {
    use std::sync::OnceLock;

    pub(super) struct Ticks {
        quanta: quanta::Clock,
        /// Nanoseconds per 2^32 ticks.
        q32: u64,
        /// Whether `now` reads the time-stamp counter (only x86_64 has the choice).
        #[cfg(target_arch = "x86_64")]
        tsc: bool,
    }

    static TICKS: OnceLock<Ticks> = OnceLock::new();

    #[cold]
    pub(super) fn init() -> &'static Ticks {
        TICKS.get_or_init(|| {
            let quanta = quanta::Clock::new();
            let tsc = uses_tsc(&quanta);
            let q32 = if tsc {
                quanta.delta_as_nanos(0, 1 << 32)
            } else {
                1 << 32
            };
            Ticks {
                quanta,
                q32,
                #[cfg(target_arch = "x86_64")]
                tsc,
            }
        })
    }

    #[cfg(target_arch = "x86_64")]
    fn uses_tsc(quanta: &quanta::Clock) -> bool {
        // SAFETY: `rdtsc` exists on every x86_64 CPU and has no preconditions.
        let before = unsafe { core::arch::x86_64::_rdtsc() };
        let raw = quanta.raw();
        // SAFETY: as above.
        let after = unsafe { core::arch::x86_64::_rdtsc() };
        before <= raw && raw <= after
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn uses_tsc(_: &quanta::Clock) -> bool {
        false
    }

    #[inline]
    fn get() -> &'static Ticks {
        match TICKS.get() {
            Some(t) => t,
            None => init(),
        }
    }

    /// The current tick count.
    #[inline]
    pub(crate) fn now() -> u64 {
        let t = get();
        #[cfg(target_arch = "x86_64")]
        if t.tsc {
            // SAFETY: as in `uses_tsc`.
            return unsafe { core::arch::x86_64::_rdtsc() };
        }
        t.quanta.raw()
    }

    /// Nanoseconds between two tick counts (0 if the counter went backwards, as it can
    /// between cores of some machines).
    #[inline]
    pub(crate) fn nanos(start: u64, end: u64) -> u64 {
        let delta = end.saturating_sub(start);
        u64::try_from((u128::from(delta) * u128::from(get().q32)) >> 32).unwrap_or(u64::MAX)
    }
}

/// Calibrates the call clock ahead of the first call (it takes a few milliseconds once).
pub(crate) fn warm_up() {
    let _ = ticks::init();
}

/// One call under way. Not public API: `#[tsmon::instrument]` expansions make these.
pub struct Call {
    series: Option<NonNull<FnSeries>>,
    store: NonNull<Store>,
    _keep: Option<Arc<Store>>,
    start: u64,
    epoch: u64,
    early: Outcome,
}

// SAFETY: `series` and `store` point into a store kept alive by `_keep`, or into the global
// State's store, which lives for the whole process; both are `Sync`.
unsafe impl Send for Call {}
// SAFETY: as above; `Call` has no interior mutability.
unsafe impl Sync for Call {}

impl fmt::Debug for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call").finish_non_exhaustive()
    }
}

impl Call {
    /// Starts a call of `site`: bumps the in-flight gauge and reads the clock. `early` is the
    /// outcome of a call that ends without [`finish`](Self::finish) and without a panic: `?`
    /// in a sync fn, a dropped future in an async one.
    #[inline]
    #[must_use]
    pub fn start(site: &'static FnDesc, index: &'static SiteIndex, early: Outcome) -> Call {
        let (store, keep) = current::current_store_for_call();
        // SAFETY: `store` is the global State's (it lives for the process) or kept alive by
        // `keep`, which the `Call` holds.
        let s = unsafe { store.as_ref() };
        let series = if s.is_enabled() {
            index
                .get(site)
                .and_then(|i| s.fn_series(i))
                .map(NonNull::from)
        } else {
            None
        };
        if let Some(series) = series {
            // SAFETY: as above.
            if let Some(g) = &unsafe { series.as_ref() }.in_flight {
                g.cell.add(1);
            }
        }
        Call {
            series,
            store,
            _keep: keep,
            // A site without the latency histogram reads no clock (`latency = false`).
            start: if site.durations.is_some() {
                ticks::now()
            } else {
                0
            },
            epoch: s.epoch(),
            early,
        }
    }

    /// Ends the call with `outcome`.
    #[inline]
    pub fn finish(mut self, outcome: Outcome) {
        self.record(outcome);
        let keep = self._keep.take();
        // Nothing is left for `drop` to do; skipping it keeps the call path short.
        std::mem::forget(self);
        drop(keep);
    }

    #[inline]
    fn record(&mut self, outcome: Outcome) {
        let Some(series) = self.series.take() else {
            return;
        };
        // SAFETY: see `start`.
        let (series, store) = unsafe { (series.as_ref(), self.store.as_ref()) };
        if let Some(c) = &series.calls[outcome as usize] {
            c.cell.add(1);
        }
        if let Some(d) = &series.durations {
            let nanos = ticks::nanos(self.start, ticks::now());
            d.cell.add(nanos as f64 * 1e-9);
        }
        if let Some(g) = &series.in_flight
            && store.epoch() == self.epoch
        {
            g.cell.add(-1);
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        if self.series.is_some() {
            let outcome = if std::thread::panicking() {
                Outcome::Panic
            } else {
                self.early
            };
            self.record(outcome);
        }
    }
}

/// Autoref specialisation: a value whose type implements [`Classify`] is classified by it,
/// any other counts as `ok`.
#[derive(Debug)]
pub struct Probe<'a, T: ?Sized>(pub &'a T);

/// The outcome of a value whose type implements `Classify` (picked first by autoref).
pub trait ViaClassify {
    /// The outcome.
    fn __tsmon_outcome(&self) -> Outcome;
}

impl<T: Classify + ?Sized> ViaClassify for Probe<'_, T> {
    #[inline]
    fn __tsmon_outcome(&self) -> Outcome {
        self.0.classify()
    }
}

/// The outcome of any other value: `ok`.
pub trait ViaDefault {
    /// The outcome.
    fn __tsmon_outcome(&self) -> Outcome;
}

impl<T: ?Sized> ViaDefault for &Probe<'_, T> {
    #[inline]
    fn __tsmon_outcome(&self) -> Outcome {
        Outcome::Ok
    }
}

/// The outcome of a sync fn that leaves early (through `?`, or a `return` inside a macro), told
/// from its return type alone: `error` for a `Result` (whatever alias names it), `ok` for any
/// other type.
pub struct TypeProbe<T: ?Sized>(PhantomData<fn() -> *const T>);

impl<T: ?Sized> TypeProbe<T> {
    /// A probe.
    #[must_use]
    pub const fn new() -> Self {
        TypeProbe(PhantomData)
    }
}

impl<T: ?Sized> Default for TypeProbe<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: ?Sized> fmt::Debug for TypeProbe<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TypeProbe")
    }
}

/// The outcome of an early exit from a fn returning a `Result`: `error`.
pub trait EarlyViaResult {
    /// The outcome of an early exit.
    fn __tsmon_early(&self) -> Outcome;
}

impl<T, E> EarlyViaResult for TypeProbe<Result<T, E>> {
    #[inline]
    fn __tsmon_early(&self) -> Outcome {
        Outcome::Error
    }
}

/// The outcome of an early exit from a fn returning any other type: `ok`.
pub trait EarlyViaDefault {
    /// The outcome of an early exit.
    fn __tsmon_early(&self) -> Outcome;
}

impl<T: ?Sized> EarlyViaDefault for &TypeProbe<T> {
    #[inline]
    fn __tsmon_early(&self) -> Outcome {
        Outcome::Ok
    }
}

/// Gives an async block the output type of the function it stands for, so `?` in it knows
/// what to convert errors into.
#[inline]
pub fn typed<R, F: Future<Output = R>>(f: F) -> F {
    f
}
