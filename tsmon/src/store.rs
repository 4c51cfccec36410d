//! The store: every series of every metric of one [`State`](crate::State), and its snapshots.
//!
//! Each metric of the catalog has a slot, found by its position in the catalog (no hashing). A
//! metric without fields keeps its one series in that slot; a metric with fields keeps a map from
//! the encoded field values (and target) to series, split into shards behind read-mostly locks.
//! A resolved [`Handle`](crate::metric::Handle) points straight at its series: a write through it
//! is one relaxed load (is the store enabled?) and one or two relaxed atomic operations.
//!
//! A write by field values (`REQUESTS.inc(("GET", 200))`) first looks in a small cache of the
//! calling thread (64 entries per value kind, direct-mapped, in the thread's static storage):
//! the values are hashed where they are and compared with the cached series' key, so a repeated
//! lookup takes no lock and makes no atomic read-modify-write besides the write itself. A miss
//! goes to the metric's map and refills the entry. The cache holds a reference to its series; a
//! deleted series is marked and never used from a cache again, so a write after
//! [`delete`](crate::metric::Metric::delete) makes a fresh series, on every thread. Writes to a
//! metric's overflow series are never cached (each is counted).
//!
//! Each metric also lists its series in creation order. Snapshots and the pull endpoint walk
//! that list, so they visit series in the order they were allocated rather than in hash order
//! (which, past a few thousand series, misses the CPU cache on nearly every one), and series
//! come out in the order they were first written.
//!
//! Each metric holds at most `max_series` series (the declaration's `max_series`, else the
//! store's default, [`DEFAULT_MAX_SERIES`]). Past it, writes for new field values go to one
//! overflow series per metric, exported with the single label `tsmon_overflow="true"`, and the
//! self-metric `tsmon/store/overflow_writes` counts them.

pub(crate) mod cell;
pub(crate) mod current;
mod exemplar;
mod fns;
mod native;
mod series;
mod slot;
mod snapshot;
mod striped;

pub(crate) use cell::Plain;
pub(crate) use exemplar::ExemplarTable;
pub use exemplar::{Exemplar, MAX_EXEMPLAR_LABEL_CHARS};
pub(crate) use fns::FnSeries;
use series::*;
pub(crate) use series::{MetricStore, Series};
pub(crate) use slot::{AnyStore, StoreSlot};
pub(crate) use snapshot::Visit;
pub use snapshot::{CellSnapshot, MetricSnapshot, Snapshot};

/// The self-metric the store fills with each metric's overflow writes at a snapshot (declared
/// with the other metric kinds' self-metrics in [`metric`](crate::metric)).
pub(crate) const OVERFLOW_WRITES: &str = "tsmon/store/overflow_writes";

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use std::sync::{Arc, OnceLock};

use parking_lot::RwLock;

use crate::clock::MonotonicClock;
use crate::desc::{MetricDesc, MetricKind};
use crate::distribution::Distribution;
use crate::field::{FieldSet, KeyBuf, key_eq, put_varint, split_key};
use crate::registry;
use crate::target::Target;
use cell::IntCell;

/// The per-metric series cap when neither the declaration nor the State sets one.
pub const DEFAULT_MAX_SERIES: usize = 10_000;

/// A snapshot value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Counters and int gauges.
    Int(i64),
    /// Float counters and float gauges.
    Float(f64),
    /// Bool metrics.
    Bool(bool),
    /// String metrics.
    Str(Arc<str>),
    /// Both kinds of distribution.
    Distribution(Distribution),
}

/// Runs `$body` on the metric store of any kind; aliases give `$alias`.
macro_rules! any_store {
    ($self:expr, $s:ident => $body:expr, alias => $alias:expr) => {
        match $self {
            AnyStore::Int($s) => $body,
            AnyStore::Float($s) => $body,
            AnyStore::Bool($s) => $body,
            AnyStore::Str($s) => $body,
            AnyStore::Dist($s) => $body,
            AnyStore::NcDist($s) => $body,
            AnyStore::Alias(_) => $alias,
        }
    };
}

// After the macro, which it uses.
mod dynamic;
use dynamic::Collector;
#[cfg(any(
    feature = "metrics",
    feature = "prometheus",
    feature = "prometheus-client"
))]
pub(crate) use dynamic::string_key;

/// All series of one State.
pub struct Store {
    /// Unique in the process, for the lookup caches.
    id: u64,
    /// A copy of `enabled` one load away, for lookups by field values.
    on: AtomicBool,
    metrics: Box<[AnyStore]>,
    /// The metrics' slots (aliases left out) in name order: the order of snapshots.
    by_name: Box<[usize]>,
    catalog: registry::CatalogRange,
    /// Made on first use, which a State's build puts after its settings apply (so they are
    /// made with the `native_histograms` in force at start).
    fns: OnceLock<Box<[FnSeries]>>,
    epoch: AtomicU64,
    enabled: Arc<AtomicBool>,
    clock: MonotonicClock,
    default_target: RwLock<Arc<Target>>,
    targets: RwLock<Vec<Arc<Target>>>,
    /// The slots of the metrics registered at run time (see [`dynamic`]), by their id, each
    /// made when first written; `default_max` and `native_all` are what a new one starts with.
    dynamic: RwLock<Vec<Option<Box<AnyStore>>>>,
    default_max: std::sync::atomic::AtomicUsize,
    native_all: AtomicBool,
    /// Run before every snapshot and visit: they copy an attached registry's values in.
    collectors: RwLock<Vec<Collector>>,
    /// Which owner has each runtime metric in this store (see `claim_dynamic`).
    claims: parking_lot::Mutex<Vec<(usize, u64)>>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("metrics", &self.metrics.len())
            .field("enabled", &self.is_enabled())
            .field("default_target", &*self.default_target.read())
            .finish_non_exhaustive()
    }
}

impl Store {
    pub(crate) fn new(default_target: Target, clock: MonotonicClock, default_max: usize) -> Self {
        let mut store = Store {
            id: NEXT_STORE_ID.fetch_add(1, Relaxed),
            on: AtomicBool::new(true),
            catalog: registry::CatalogRange::get(),
            metrics: registry::catalog()
                .iter()
                .zip(registry::canonical())
                .enumerate()
                .map(|(i, (d, &canonical))| {
                    if canonical as usize == i {
                        AnyStore::new(d, default_max)
                    } else {
                        AnyStore::Alias(canonical as usize)
                    }
                })
                .collect(),
            enabled: Arc::new(AtomicBool::new(true)),
            clock,
            default_target: RwLock::new(Arc::new(default_target)),
            targets: RwLock::new(Vec::new()),
            fns: OnceLock::new(),
            epoch: AtomicU64::new(0),
            by_name: Box::default(),
            dynamic: RwLock::new(Vec::new()),
            default_max: std::sync::atomic::AtomicUsize::new(default_max),
            native_all: AtomicBool::new(false),
            collectors: RwLock::new(Vec::new()),
            claims: parking_lot::Mutex::new(Vec::new()),
        };
        let mut by_name: Vec<usize> = (0..store.metrics.len())
            .filter(|&i| !matches!(store.metrics[i], AnyStore::Alias(_)))
            .collect();
        by_name.sort_by_key(|&i| registry::catalog()[i].name);
        store.by_name = by_name.into();
        store
    }

    /// The series of every instrumented function, made at zero on first use (so they are
    /// exported from the first snapshot on).
    #[inline]
    pub(crate) fn fns(&self) -> &[FnSeries] {
        self.fns.get_or_init(|| fns::create_series(self))
    }

    /// The series of the instrumented function at this index of the catalog.
    #[inline]
    pub(crate) fn fn_series(&self, index: usize) -> Option<&FnSeries> {
        self.fns().get(index)
    }

    /// Bumped whenever every series is reset: a call that started before must not release an
    /// in-flight gauge that was reset under it.
    #[inline]
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Relaxed)
    }

    /// Whether writes are kept. A disabled store drops every write at the cost of one relaxed
    /// load, reads give zero values and snapshots are empty.
    ///
    /// ```
    /// let state = tsmon::State::builder().build().unwrap();
    /// assert!(state.store().is_enabled());
    /// ```
    #[inline]
    pub fn is_enabled(&self) -> bool {
        self.on.load(Relaxed)
    }

    /// Enables or disables the store. Enabling a disabled store starts it afresh: every series
    /// restarts from zero with a new start time, as Go installs a new in-memory store.
    pub(crate) fn set_enabled(&self, enabled: bool) {
        self.on.store(enabled, SeqCst);
        let was = self.enabled.swap(enabled, SeqCst);
        if enabled && !was {
            self.reset_all();
        }
    }

    pub(crate) fn enabled_flag(&self) -> &Arc<AtomicBool> {
        &self.enabled
    }

    pub(crate) fn clock(&self) -> &MonotonicClock {
        &self.clock
    }

    /// The store's clock: strictly increasing microseconds since the epoch (see
    /// [`clock`](crate::clock)).
    ///
    /// ```
    /// let state = tsmon::State::builder().build().unwrap();
    /// assert!(state.store().now_micros() < state.store().now_micros());
    /// ```
    pub fn now_micros(&self) -> u64 {
        self.clock.now_micros()
    }

    /// The default target: series written without an explicit target are bound to it when a
    /// snapshot is taken, so changing it (a new task number) relabels them.
    ///
    /// ```
    /// let target = tsmon::Target::new("a", "b").with_task_num(3);
    /// let state = tsmon::State::builder().with_target(target).build().unwrap();
    /// assert_eq!(state.store().default_target().task_num, 3);
    /// ```
    pub fn default_target(&self) -> Arc<Target> {
        self.default_target.read().clone()
    }

    /// Replaces the default target.
    pub(crate) fn set_default_target(&self, target: Target) {
        *self.default_target.write() = Arc::new(target);
    }

    /// The id of an explicit target in this store's keys (0 is the default target).
    pub(crate) fn target_id(&self, target: &Target) -> u32 {
        if let Some(i) = self.targets.read().iter().position(|t| **t == *target) {
            return u32::try_from(i + 1).unwrap_or(u32::MAX);
        }
        let mut targets = self.targets.write();
        if let Some(i) = targets.iter().position(|t| **t == *target) {
            return u32::try_from(i + 1).unwrap_or(u32::MAX);
        }
        targets.push(Arc::new(target.clone()));
        u32::try_from(targets.len()).unwrap_or(u32::MAX)
    }

    /// Runs `f` on the series of these field values of `desc` under the default target,
    /// creating it if `create`. Through this thread's lookup cache first: a repeated lookup
    /// hashes the values where they are, compares them with the cached series' key, and takes
    /// no lock, makes no atomic read-modify-write and does not even find the metric's slot. A
    /// miss encodes the key and goes to the metric's map.
    #[inline]
    pub(crate) fn lookup<C: StoreSlot, F: FieldSet, R>(
        &self,
        desc: &'static MetricDesc,
        values: F::Values<'_>,
        create: bool,
        f: impl FnOnce(&Series<C>) -> R,
    ) -> Option<R> {
        let hash = F::hash(values);
        let d = std::ptr::from_ref(desc) as usize;
        // The metric is mixed in, so equal values of different metrics use different entries.
        let way = ((hash ^ d as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58) as usize;
        let mut f = Some(f);
        let cached = C::with_cache(|cache| {
            let entry = cache.entry(way);
            if entry.store == self.id
                && entry.desc == d
                && entry.hash == hash
                && let Some(s) = &entry.series
                // The default target's id is 0, one byte.
                && let Some((0, fields)) = s.key.split_first()
                && s.flags.load(Relaxed) & DELETED == 0
                && F::matches(values, fields)
            {
                return f.take().map(|f| f(s));
            }
            self.lookup_miss::<C, F, R>(entry, desc, values, hash, create, &mut f)
        });
        match cached {
            Some(r) => r,
            // The cache is in use further up this thread's stack (a write from inside a write,
            // through a logging hook) or already torn down: the map alone.
            None => {
                let slot = self.slot::<C>(desc)?;
                with_key::<F, _>(0, values, |key| {
                    slot.with_series(key, &self.clock, create, |s| f.take().map(|f| f(s)))
                })?
            }
        }
    }

    /// A lookup that missed this thread's cache: the metric's map, then the cache entry is
    /// refilled. Kept out of line so the hit path stays short.
    #[cold]
    #[inline(never)]
    fn lookup_miss<C: StoreSlot, F: FieldSet, R>(
        &self,
        entry: &mut CacheEntry<C>,
        desc: &'static MetricDesc,
        values: F::Values<'_>,
        hash: u64,
        create: bool,
        f: &mut Option<impl FnOnce(&Series<C>) -> R>,
    ) -> Option<R> {
        let slot = self.slot::<C>(desc)?;
        let d = std::ptr::from_ref(desc) as usize;
        slot.find_by_values::<F, _>(values, hash, &self.clock, create, |s, overflow| {
            // The overflow series is not cached: each write to it is counted.
            if !overflow {
                *entry = CacheEntry {
                    store: self.id,
                    desc: d,
                    hash,
                    series: Some(Arc::clone(s)),
                };
            }
            f.take().map(|f| f(s))
        })?
    }

    #[inline]
    pub(crate) fn slot<C: StoreSlot>(&self, desc: &'static MetricDesc) -> Option<&MetricStore<C>> {
        let any = self.metrics.get(self.catalog.index_of(desc)?)?;
        match C::slot(any) {
            Some(slot) => Some(slot),
            None => self.alias_slot(any),
        }
    }

    #[cold]
    fn alias_slot<C: StoreSlot>(&self, any: &AnyStore) -> Option<&MetricStore<C>> {
        match any {
            AnyStore::Alias(i) => C::slot(self.metrics.get(*i)?),
            _ => None,
        }
    }

    /// The store of a metric, following an alias to the first declaration.
    fn any_slot(&self, desc: &'static MetricDesc) -> Option<&AnyStore> {
        let any = self.metrics.get(self.catalog.index_of(desc)?)?;
        match any {
            AnyStore::Alias(i) => self.metrics.get(*i),
            _ => Some(any),
        }
    }

    /// Go's `Reset(metric)`: every series of the metric starts again from zero, with a new start
    /// time (a new stream). Gauges become unset.
    pub(crate) fn reset(&self, desc: &'static MetricDesc) {
        if let Some(m) = self.any_slot(desc) {
            any_store!(m, s => s.reset(&self.clock), alias => ());
        }
        if desc.kind == MetricKind::IntGauge {
            fns::mark_gauges(self.fns());
        }
    }

    /// Resets every cumulative metric (counters and cumulative distributions), as Go does when a
    /// task loses its number.
    pub(crate) fn reset_cumulative(&self) {
        self.each_store(
            |m| any_store!(m, s => if s.cumulative { s.reset(&self.clock) }, alias => ()),
        );
    }

    /// Changes the series cap of every metric whose declaration sets none. Series beyond a
    /// lowered cap stay; new ones go to the overflow series.
    pub(crate) fn set_default_max_series(&self, n: usize) {
        let n = n.max(1);
        self.default_max.store(n, Relaxed);
        self.each_store(|m| any_store!(m, s => if s.desc.max_series == 0 { s.max_series.store(n, Relaxed) }, alias => ()));
    }

    /// Which classic distributions make their new series native histograms: tsmon's own
    /// (`own`), or every one (`all`); the `native_histograms` setting.
    pub(crate) fn set_native_histograms(&self, own: bool, all: bool) {
        self.native_all.store(all, Relaxed);
        self.each_store(|m| {
            if let AnyStore::Dist(s) = m {
                let d = s.desc;
                let classic = d.bucketer.is_none_or(|b| b.native_spec().is_none());
                // Declared in tsmon's library, or by `#[tsmon::instrument(prefix = ...)]`.
                let m = d.site.module_path;
                let tsmon = m == "tsmon" || m.starts_with("tsmon::") || d.shared;
                s.native.store(classic && (all || (own && tsmon)), Relaxed);
            }
        });
    }

    /// Resets every metric.
    pub(crate) fn reset_all(&self) {
        self.each_store(|m| any_store!(m, s => s.reset(&self.clock), alias => ()));
        self.epoch.fetch_add(1, Relaxed);
        fns::mark_gauges(self.fns());
    }

    pub(crate) fn delete(&self, desc: &'static MetricDesc, key: &[u8]) -> bool {
        match self.any_slot(desc) {
            Some(m) => any_store!(m, s => s.delete(key), alias => false),
            None => false,
        }
    }

    /// A snapshot of every series that holds a value: values are copied, so later writes do not
    /// change it. Cells without an explicit target are bound to the default target as it is now.
    pub fn snapshot(&self) -> Snapshot {
        if !self.is_enabled() {
            return Snapshot::default();
        }
        let _ = self.fns();
        self.run_collectors();
        self.report_overflow();
        let targets = self.targets_now();
        let mut metrics: Vec<MetricSnapshot> = Vec::with_capacity(self.by_name.len());
        self.each_by_name(|m| {
            if let Some(m) = any_store!(m, s => Some(s.snapshot()), alias => None)
                && !m.cells.is_empty()
            {
                metrics.push(m);
            }
        });
        Snapshot {
            metrics,
            targets,
            now_micros: self.clock.now_micros(),
        }
    }

    /// The default target as it is now, then the explicit ones by id.
    pub(crate) fn targets_now(&self) -> Vec<Arc<Target>> {
        let mut targets = vec![self.default_target()];
        targets.extend(self.targets.read().iter().cloned());
        targets
    }

    /// The targets a visit of the cells now refers to (see [`visit`](Self::visit));
    /// it reports the overflow counts first, as a snapshot does.
    pub(crate) fn snapshot_targets(&self) -> Vec<Arc<Target>> {
        if self.is_enabled() {
            self.report_overflow();
        }
        self.targets_now()
    }

    /// Roughly how many series there are (for sizing buffers).
    pub(crate) fn num_series(&self) -> usize {
        let mut n = 0;
        self.each_store(|m| n += any_store!(m, s => s.len.load(Relaxed) + 1, alias => 0));
        n
    }

    /// Visits every series a snapshot would hold, in the snapshot's order (metrics by name),
    /// without copying them, on from `cursor` (the pull endpoint encodes straight from here,
    /// a chunk at a time), until the visitor is [`full`](Visit::full) (false; the cursor
    /// then marks the next series) or every series has been visited (true). The first call
    /// runs the collectors. A series made meanwhile may or may not be visited; one deleted
    /// meanwhile may take an unvisited one's place and so leave it out of this walk, but no
    /// series is ever visited twice (see [`Cursor`]).
    pub(crate) fn visit_from(&self, cursor: &mut Cursor, v: &mut impl Visit) -> bool {
        if !cursor.started {
            cursor.started = true;
            let _ = self.fns();
            if self.is_enabled() {
                self.run_collectors();
            }
        }
        if !self.is_enabled() {
            return true;
        }
        let mut done = true;
        self.each_by_name_while(|m| {
            let name = any_store!(m, s => s.desc.name, alias => return true);
            let from = match cursor.metric {
                Some(at) if name < at => return true,
                Some(at) if name == at => cursor.series,
                _ => 0,
            };
            match any_store!(m, s => s.visit_from(from, v), alias => None) {
                Some(next) => {
                    (cursor.metric, cursor.series) = (Some(name), next);
                    done = false;
                    false
                }
                // Past this metric: on to the next, in this call.
                None => true,
            }
        });
        done
    }

    /// The store of the metric named `name` (found by name: the store does not know the
    /// metric kinds' statics, which sit above it).
    fn slot_named<C: StoreSlot>(&self, name: &str) -> Option<&MetricStore<C>> {
        let catalog = registry::catalog();
        let at = self
            .by_name
            .binary_search_by(|&i| catalog[i].name.cmp(name))
            .ok()?;
        let any = self.metrics.get(self.by_name[at])?;
        match C::slot(any) {
            Some(slot) => Some(slot),
            None => self.alias_slot(any),
        }
    }

    fn report_overflow(&self) {
        let Some(slot) = self.slot_named::<IntCell>(OVERFLOW_WRITES) else {
            return;
        };
        self.each_store(|m| {
            let (name, n) = any_store!(m, s => (s.desc.name, s.overflow_writes.load(Relaxed)), alias => ("", 0));
            if n > 0 {
                with_key::<(crate::field::Str,), _>(0, name, |key| {
                    slot.with_series(key, &self.clock, true, |s| {
                        s.cell.set(i64::try_from(n).unwrap_or(i64::MAX));
                    })
                });
            }
        });
    }
}

/// Where a walk of the store stopped ([`Store::visit_from`]): the metric, by name (a walk's
/// order, which a runtime metric made meanwhile does not shift), and the place of the next
/// series in it: 0 the fieldless series, `1 + i` the `i`th of the creation order, `usize::MAX`
/// past it (the overflow series, then the next metric). A delete moves the order's last series
/// into the hole: a series already visited is never moved ahead of the cursor to be met again
/// (an unvisited one may be moved behind it, and missed by this walk).
#[derive(Debug, Default)]
pub(crate) struct Cursor {
    started: bool,
    metric: Option<&'static str>,
    series: usize,
}

/// Runs `f` on the key of a series: the target id, then the field values. The key is built in
/// this frame (a returned buffer would be copied).
#[inline(always)]
pub(crate) fn with_key<F: FieldSet, R>(
    target: u32,
    values: F::Values<'_>,
    f: impl FnOnce(&[u8]) -> R,
) -> R {
    let mut key = KeyBuf::new();
    put_varint(&mut key, u64::from(target));
    F::encode(values, &mut key);
    f(&key)
}
