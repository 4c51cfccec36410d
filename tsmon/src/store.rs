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
mod fns;

pub(crate) use fns::FnSeries;

/// The self-metric the store fills with each metric's overflow writes at a snapshot (declared
/// with the other metric kinds' self-metrics in [`metric`](crate::metric)).
pub(crate) const OVERFLOW_WRITES: &str = "tsmon/store/overflow_writes";

use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Arc, OnceLock};

use hashbrown::HashTable;
use parking_lot::{Mutex, RwLock};

use crate::clock::MonotonicClock;
use crate::desc::{MetricDesc, MetricKind};
use crate::distribution::Distribution;
use crate::field::{FieldSet, FieldValue, KeyBuf, decode, key_eq, put_varint, split_key};
use crate::registry;
use crate::target::Target;
use cell::{BoolCell, CellType, DistCell, FloatCell, IntCell, NcDistCell, StrCell};

/// The per-metric series cap when neither the declaration nor the State sets one.
pub const DEFAULT_MAX_SERIES: usize = 10_000;

const SHARDS: usize = 16;
const HAS_VALUE: u8 = 1;
/// Set on a series removed from its map: lookup caches must not use it again.
const DELETED: u8 = 2;

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

/// A series key, kept inside the series when short (most are), so a lookup compares it without
/// following another pointer.
enum SeriesKey {
    Inline(u8, [u8; SeriesKey::INLINE]),
    Heap(Box<[u8]>),
}

impl SeriesKey {
    const INLINE: usize = 22;

    fn new(key: &[u8]) -> Self {
        match u8::try_from(key.len()) {
            Ok(n) if key.len() <= Self::INLINE => {
                let mut bytes = [0; Self::INLINE];
                bytes[..key.len()].copy_from_slice(key);
                SeriesKey::Inline(n, bytes)
            }
            _ => SeriesKey::Heap(key.into()),
        }
    }
}

impl std::ops::Deref for SeriesKey {
    type Target = [u8];
    #[inline(always)]
    fn deref(&self) -> &[u8] {
        match self {
            SeriesKey::Inline(n, bytes) => &bytes[..usize::from(*n).min(Self::INLINE)],
            SeriesKey::Heap(b) => b,
        }
    }
}

impl fmt::Debug for SeriesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// One series: its key (target id and field values), its start time and its cell.
#[derive(Debug)]
pub struct Series<C> {
    key: SeriesKey,
    start: AtomicU64,
    flags: AtomicU8,
    /// Its place in its metric's creation order (`NOT_LISTED` for the fieldless and overflow
    /// series, which have slots of their own); changed under that list's lock.
    pos: AtomicU32,
    pub(crate) cell: C,
}

const NOT_LISTED: u32 = u32::MAX;

impl<C: CellType> Series<C> {
    /// Marks a gauge-like series as holding a value (cumulative ones always do).
    #[inline]
    pub(crate) fn mark_set(&self) {
        if self.flags.load(Relaxed) & HAS_VALUE == 0 {
            self.flags.fetch_or(HAS_VALUE, Relaxed);
        }
    }

    pub(crate) fn is_set(&self) -> bool {
        self.flags.load(Relaxed) & HAS_VALUE != 0
    }
}

type Shard<C> = RwLock<HashTable<Arc<Series<C>>>>;

/// The series of one metric.
pub struct MetricStore<C> {
    desc: &'static MetricDesc,
    cumulative: bool,
    max_series: AtomicUsize,
    fieldless: OnceLock<Arc<Series<C>>>,
    shards: Box<[Shard<C>]>,
    /// Every series of the shards, in creation order: snapshots walk this, so they visit
    /// series in the order they were allocated (hash order would miss the cache on nearly
    /// every series of a large metric).
    order: Mutex<Vec<Arc<Series<C>>>>,
    len: AtomicUsize,
    overflow: OnceLock<Arc<Series<C>>>,
    overflow_writes: AtomicU64,
}

/// The source of store ids: never repeats within a process, so a cache entry of a store that
/// has gone can never match a new store that happens to sit at the same address.
static NEXT_STORE_ID: AtomicU64 = AtomicU64::new(1);

/// Entries of each thread's lookup cache (one cache per cell type, direct-mapped; 32 bytes
/// each, in the thread's static storage).
const CACHE_ENTRIES: usize = 64;

/// A thread's cache of recent lookups by field values: the store, metric, hash and series of a
/// key, so a repeated lookup is a hash, a comparison of the values with the series' key, and no
/// lock. A hash collision is only a miss. Entries hold a reference to their series; a deleted
/// series is marked, and a marked series is never used from the cache again.
#[doc(hidden)]
pub struct LookupCache<C> {
    entries: [CacheEntry<C>; CACHE_ENTRIES],
}

struct CacheEntry<C> {
    store: u64,
    desc: usize,
    hash: u64,
    series: Option<Arc<Series<C>>>,
}

impl<C> CacheEntry<C> {
    const EMPTY: Self = CacheEntry {
        store: 0,
        desc: 0,
        hash: 0,
        series: None,
    };
}

impl<C> fmt::Debug for LookupCache<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let used = self.entries.iter().filter(|e| e.series.is_some()).count();
        f.debug_struct("LookupCache")
            .field("used", &used)
            .finish_non_exhaustive()
    }
}

impl<C> LookupCache<C> {
    #[doc(hidden)]
    pub const fn new() -> Self {
        LookupCache {
            entries: [const { CacheEntry::EMPTY }; CACHE_ENTRIES],
        }
    }

    #[inline(always)]
    fn entry(&mut self, way: usize) -> &mut CacheEntry<C> {
        &mut self.entries[way % CACHE_ENTRIES]
    }
}

impl<C> fmt::Debug for MetricStore<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricStore")
            .field("metric", &self.desc.name)
            .field("series", &self.len.load(Relaxed))
            .finish_non_exhaustive()
    }
}

/// The key of the series without fields under the default target.
const FIELDLESS_KEY: &[u8] = &[0];
/// The key of the overflow series: not a valid target varint followed by fields.
const OVERFLOW_KEY: &[u8] = &[0xff, 0xff, 0xff, 0xff, 0x0f, 0xff];

impl<C: CellType> MetricStore<C> {
    fn new(desc: &'static MetricDesc, default_max: usize) -> Self {
        MetricStore {
            desc,
            cumulative: desc.kind.is_cumulative(),
            max_series: AtomicUsize::new(if desc.max_series > 0 {
                usize::try_from(desc.max_series).unwrap_or(usize::MAX)
            } else {
                default_max
            }),
            fieldless: OnceLock::new(),
            shards: (0..SHARDS).map(|_| RwLock::new(HashTable::new())).collect(),
            order: Mutex::new(Vec::new()),
            len: AtomicUsize::new(0),
            overflow: OnceLock::new(),
            overflow_writes: AtomicU64::new(0),
        }
    }

    fn new_series(&self, key: &[u8], clock: &MonotonicClock) -> Arc<Series<C>> {
        Arc::new(Series {
            key: SeriesKey::new(key),
            start: AtomicU64::new(clock.now_micros()),
            flags: AtomicU8::new(if self.cumulative { HAS_VALUE } else { 0 }),
            pos: AtomicU32::new(NOT_LISTED),
            cell: C::new(self.desc),
        })
    }

    /// Runs `f` on the series with this key, creating it if `create` (or sending the write to
    /// the overflow series when the metric is full). The fast path takes one shard's read lock
    /// and clones nothing.
    #[inline]
    pub(crate) fn with_series<R>(
        &self,
        key: &[u8],
        clock: &MonotonicClock,
        create: bool,
        f: impl FnOnce(&Arc<Series<C>>) -> R,
    ) -> Option<R> {
        if key == FIELDLESS_KEY {
            return self.fieldless(clock, create).map(f);
        }
        self.with_series_hashed(key, self.key_hash(key), clock, create, |s, _| f(s))
    }

    #[inline]
    fn fieldless(&self, clock: &MonotonicClock, create: bool) -> Option<&Arc<Series<C>>> {
        if let Some(s) = self.fieldless.get() {
            return Some(s);
        }
        if !create {
            return None;
        }
        Some(
            self.fieldless
                .get_or_init(|| self.new_series(FIELDLESS_KEY, clock)),
        )
    }

    /// The hash of an encoded key, as the maps use it.
    fn key_hash(&self, key: &[u8]) -> u64 {
        crate::field::hash_key(self.desc.fields, key)
    }

    /// The map's lookup, with the key's hash; `f` learns whether it got the overflow series.
    #[inline]
    fn with_series_hashed<R>(
        &self,
        key: &[u8],
        hash: u64,
        clock: &MonotonicClock,
        create: bool,
        f: impl FnOnce(&Arc<Series<C>>, bool) -> R,
    ) -> Option<R> {
        if key == FIELDLESS_KEY {
            return self.fieldless(clock, create).map(|s| f(s, false));
        }
        let shard = &self.shards[(hash >> 40) as usize % SHARDS];
        {
            let table = shard.read();
            if let Some(s) = table.find(hash, |s| key_eq(&s.key, key)) {
                return Some(f(s, false));
            }
        }
        if !create {
            return None;
        }
        self.insert(shard, key, hash, clock, f)
    }

    /// The map's lookup by values under the default target (with their hash, shared with the
    /// lookup cache): the values are compared with the keys in place; a key is encoded only to
    /// create the series.
    #[inline]
    fn find_by_values<F: FieldSet, R>(
        &self,
        values: F::Values<'_>,
        hash: u64,
        clock: &MonotonicClock,
        create: bool,
        f: impl FnOnce(&Arc<Series<C>>, bool) -> R,
    ) -> Option<R> {
        if F::TYPES.is_empty() {
            return self.fieldless(clock, create).map(|s| f(s, false));
        }
        let shard = &self.shards[(hash >> 40) as usize % SHARDS];
        {
            let table = shard.read();
            let found = table.find(hash, |s| {
                s.key
                    .split_first()
                    .is_some_and(|(&t, fields)| t == 0 && F::matches(values, fields))
            });
            if let Some(s) = found {
                return Some(f(s, false));
            }
        }
        if !create {
            return None;
        }
        with_key::<F, _>(0, values, |key| self.insert(shard, key, hash, clock, f))
    }

    #[cold]
    fn insert<R>(
        &self,
        shard: &Shard<C>,
        key: &[u8],
        hash: u64,
        clock: &MonotonicClock,
        f: impl FnOnce(&Arc<Series<C>>, bool) -> R,
    ) -> Option<R> {
        if self.len.load(Relaxed) >= self.max_series.load(Relaxed) {
            self.overflow_writes.fetch_add(1, Relaxed);
            let s = self
                .overflow
                .get_or_init(|| self.new_series(OVERFLOW_KEY, clock));
            return Some(f(s, true));
        }
        let series = {
            let mut table = shard.write();
            if let Some(s) = table.find(hash, |s| key_eq(&s.key, key)) {
                return Some(f(s, false));
            }
            self.len.fetch_add(1, Relaxed);
            let series = self.new_series(key, clock);
            table.insert_unique(hash, Arc::clone(&series), |s| self.key_hash(&s.key));
            series
        };
        // Listed after the shard's lock is released, so a snapshot walking the list does not
        // hold up lookups in the shard. A delete in between has marked the series: not listed.
        {
            let mut order = self.order.lock();
            if series.flags.load(Relaxed) & DELETED == 0 {
                series
                    .pos
                    .store(u32::try_from(order.len()).unwrap_or(NOT_LISTED), Relaxed);
                order.push(Arc::clone(&series));
            }
        }
        Some(f(&series, false))
    }

    fn delete(&self, key: &[u8]) -> bool {
        if key == FIELDLESS_KEY {
            // The slot is kept (handles point at it); its value goes back to zero / unset.
            if let Some(s) = self.fieldless.get() {
                self.reset_series(s, None);
                s.flags.fetch_and(!HAS_VALUE, Relaxed);
                return true;
            }
            return false;
        }
        let hash = self.key_hash(key);
        let series = {
            let mut table = self.shards[(hash >> 40) as usize % SHARDS].write();
            match table.find_entry(hash, |s| &*s.key == key) {
                Ok(entry) => {
                    let (series, _) = entry.remove();
                    // Under the lock: a thread that finds the series in the map after this does
                    // not exist, and one that cached it before sees the mark.
                    series.flags.fetch_or(DELETED, Relaxed);
                    self.len.fetch_sub(1, Relaxed);
                    series
                }
                Err(_) => return false,
            }
        };
        let mut order = self.order.lock();
        let pos = series.pos.load(Relaxed);
        if pos != NOT_LISTED {
            let pos = pos as usize;
            order.swap_remove(pos);
            if let Some(moved) = order.get(pos) {
                moved.pos.store(pos as u32, Relaxed);
            }
        }
        true
    }

    fn reset_series(&self, s: &Series<C>, now: Option<u64>) {
        s.cell.reset();
        if let Some(now) = now {
            s.start.store(now, Relaxed);
        }
        if !self.cumulative {
            s.flags.fetch_and(!HAS_VALUE, Relaxed);
        }
    }

    /// Go's `Reset(metric)`: every series starts again, with a new start time.
    fn reset(&self, clock: &MonotonicClock) {
        self.for_each(|s| self.reset_series(s, Some(clock.now_micros())));
        self.overflow_writes.store(0, Relaxed);
    }

    fn for_each(&self, mut f: impl FnMut(&Series<C>)) {
        if let Some(s) = self.fieldless.get() {
            f(s);
        }
        for s in self.order.lock().iter() {
            f(s);
        }
        if let Some(s) = self.overflow.get() {
            f(s);
        }
    }

    /// One series as a snapshot cell (with its field values as encoded), if it holds a value.
    #[inline(always)]
    fn read_cell(s: &Series<C>) -> Option<(CellSnapshot, &[u8])> {
        if !s.is_set() {
            return None;
        }
        let value = s.cell.value()?;
        let overflow = &*s.key == OVERFLOW_KEY;
        let (target, fields) = if overflow {
            (0, &[][..])
        } else {
            split_key(&s.key)
        };
        let cell = CellSnapshot {
            fields: (0, fields.len()),
            target,
            start_micros: s.start.load(Relaxed),
            value,
            overflow,
        };
        Some((cell, fields))
    }

    fn snapshot(&self) -> MetricSnapshot {
        let mut snap = MetricSnapshot {
            desc: self.desc,
            cells: Vec::with_capacity(self.len.load(Relaxed) + 1),
            keys: Vec::new(),
        };
        self.for_each(|s| {
            if let Some((mut cell, fields)) = Self::read_cell(s) {
                let begin = snap.keys.len();
                snap.keys.extend_from_slice(fields);
                cell.fields = (begin, snap.keys.len());
                snap.cells.push(cell);
            }
        });
        snap
    }

    /// Runs `f` on every series that holds a value, as [`snapshot`](Self::snapshot) would copy
    /// it, without copying.
    #[inline]
    fn visit(&self, f: &mut impl FnMut(&'static MetricDesc, &CellSnapshot, &[u8])) {
        self.for_each(|s| {
            if let Some((cell, fields)) = Self::read_cell(s) {
                f(self.desc, &cell, fields);
            }
        });
    }
}

/// The slot of one metric, whatever its kind.
#[derive(Debug)]
pub enum AnyStore {
    #[doc(hidden)]
    Int(MetricStore<IntCell>),
    #[doc(hidden)]
    Float(MetricStore<FloatCell>),
    #[doc(hidden)]
    Bool(MetricStore<BoolCell>),
    #[doc(hidden)]
    Str(MetricStore<StrCell>),
    #[doc(hidden)]
    Dist(MetricStore<DistCell>),
    #[doc(hidden)]
    NcDist(MetricStore<NcDistCell>),
    /// A further declaration of a shared metric: its series live in the slot of the first one.
    #[doc(hidden)]
    Alias(usize),
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

/// How a cell type finds its slot, and this thread's lookup cache for it.
pub trait StoreSlot: CellType {
    #[doc(hidden)]
    fn slot(any: &AnyStore) -> Option<&MetricStore<Self>>;
    /// Runs `f` on this thread's lookup cache; `None` if it is in use further up the stack or
    /// the thread is exiting.
    #[doc(hidden)]
    fn with_cache<R>(f: impl FnOnce(&mut LookupCache<Self>) -> R) -> Option<R>;
}

macro_rules! slot {
    ($cell:ty, $variant:ident) => {
        impl StoreSlot for $cell {
            #[inline]
            fn slot(any: &AnyStore) -> Option<&MetricStore<Self>> {
                match any {
                    AnyStore::$variant(s) => Some(s),
                    _ => None,
                }
            }

            #[inline]
            fn with_cache<R>(f: impl FnOnce(&mut LookupCache<Self>) -> R) -> Option<R> {
                thread_local! {
                    static CACHE: RefCell<LookupCache<$cell>> = const { RefCell::new(LookupCache::new()) };
                }
                CACHE
                    .try_with(|c| c.try_borrow_mut().ok().map(|mut c| f(&mut c)))
                    .ok()
                    .flatten()
            }
        }
    };
}
slot!(IntCell, Int);
slot!(FloatCell, Float);
slot!(BoolCell, Bool);
slot!(StrCell, Str);
slot!(DistCell, Dist);
slot!(NcDistCell, NcDist);

impl AnyStore {
    fn new(desc: &'static MetricDesc, default_max: usize) -> Self {
        match desc.kind {
            MetricKind::Counter | MetricKind::IntGauge => {
                AnyStore::Int(MetricStore::new(desc, default_max))
            }
            MetricKind::FloatCounter | MetricKind::FloatGauge => {
                AnyStore::Float(MetricStore::new(desc, default_max))
            }
            MetricKind::Bool => AnyStore::Bool(MetricStore::new(desc, default_max)),
            MetricKind::String => AnyStore::Str(MetricStore::new(desc, default_max)),
            MetricKind::CumulativeDistribution => {
                AnyStore::Dist(MetricStore::new(desc, default_max))
            }
            MetricKind::NonCumulativeDistribution => {
                AnyStore::NcDist(MetricStore::new(desc, default_max))
            }
        }
    }
}

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
    fns: Box<[FnSeries]>,
    epoch: AtomicU64,
    enabled: Arc<AtomicBool>,
    clock: MonotonicClock,
    default_target: RwLock<Arc<Target>>,
    targets: RwLock<Vec<Arc<Target>>>,
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
            fns: Box::default(),
            epoch: AtomicU64::new(0),
            by_name: Box::default(),
        };
        let mut by_name: Vec<usize> = (0..store.metrics.len())
            .filter(|&i| !matches!(store.metrics[i], AnyStore::Alias(_)))
            .collect();
        by_name.sort_by_key(|&i| registry::catalog()[i].name);
        store.by_name = by_name.into();
        store.fns = fns::create_series(&store);
        store
    }

    /// The series of the instrumented function at this index of the catalog.
    #[inline]
    pub(crate) fn fn_series(&self, index: usize) -> Option<&FnSeries> {
        self.fns.get(index)
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
            fns::mark_gauges(&self.fns);
        }
    }

    /// Resets every cumulative metric (counters and cumulative distributions), as Go does when a
    /// task loses its number.
    pub(crate) fn reset_cumulative(&self) {
        for m in self.metrics.iter() {
            any_store!(m, s => if s.cumulative { s.reset(&self.clock) }, alias => ());
        }
    }

    /// Changes the series cap of every metric whose declaration sets none. Series beyond a
    /// lowered cap stay; new ones go to the overflow series.
    pub(crate) fn set_default_max_series(&self, n: usize) {
        let n = n.max(1);
        for m in self.metrics.iter() {
            any_store!(m, s => if s.desc.max_series == 0 { s.max_series.store(n, Relaxed) }, alias => ());
        }
    }

    /// Resets every metric.
    pub(crate) fn reset_all(&self) {
        for m in self.metrics.iter() {
            any_store!(m, s => s.reset(&self.clock), alias => ());
        }
        self.epoch.fetch_add(1, Relaxed);
        fns::mark_gauges(&self.fns);
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
        self.report_overflow();
        let targets = self.targets_now();
        let metrics: Vec<MetricSnapshot> = self
            .by_name
            .iter()
            .filter_map(|&i| self.metrics.get(i))
            .filter_map(|m| any_store!(m, s => Some(s.snapshot()), alias => None))
            .filter(|m| !m.cells.is_empty())
            .collect();
        Snapshot {
            metrics,
            targets,
            now_micros: self.clock.now_micros(),
        }
    }

    /// The default target as it is now, then the explicit ones by id.
    fn targets_now(&self) -> Vec<Arc<Target>> {
        let mut targets = vec![self.default_target()];
        targets.extend(self.targets.read().iter().cloned());
        targets
    }

    /// The targets a visit of the cells now refers to (see [`visit_cells`](Self::visit_cells));
    /// it reports the overflow counts first, as a snapshot does.
    pub(crate) fn snapshot_targets(&self) -> Vec<Arc<Target>> {
        if self.is_enabled() {
            self.report_overflow();
        }
        self.targets_now()
    }

    /// Roughly how many series there are (for sizing buffers).
    pub(crate) fn num_series(&self) -> usize {
        self.metrics
            .iter()
            .map(|m| any_store!(m, s => s.len.load(Relaxed) + 1, alias => 0))
            .sum()
    }

    /// Visits every series a snapshot would hold, in the snapshot's order (metrics by name),
    /// without copying them: the pull endpoint encodes straight from here.
    pub(crate) fn visit_cells(&self, mut f: impl FnMut(&'static MetricDesc, &CellSnapshot, &[u8])) {
        if !self.is_enabled() {
            return;
        }
        for &i in &self.by_name {
            if let Some(m) = self.metrics.get(i) {
                any_store!(m, s => s.visit(&mut f), alias => ());
            }
        }
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
        for m in self.metrics.iter() {
            let (name, n) = any_store!(m, s => (s.desc.name, s.overflow_writes.load(Relaxed)), alias => ("", 0));
            if n > 0 {
                with_key::<(crate::field::Str,), _>(0, name, |key| {
                    slot.with_series(key, &self.clock, true, |s| {
                        s.cell.set(i64::try_from(n).unwrap_or(i64::MAX));
                    })
                });
            }
        }
    }
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

/// A point-in-time copy of a store (also at the crate root, `tsmon::Snapshot`).
///
/// ```
/// let state = tsmon::State::builder().build().unwrap();
/// let snap: tsmon::Snapshot = state.snapshot();
/// assert_eq!(snap.len(), snap.metrics().iter().map(|m| m.cells().len()).sum::<usize>());
/// ```
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    metrics: Vec<MetricSnapshot>,
    targets: Vec<Arc<Target>>,
    now_micros: u64,
}

impl Snapshot {
    /// The number of series (cells) in the snapshot.
    ///
    /// ```
    /// assert_eq!(tsmon::store::Snapshot::default().num_cells(), 0);
    /// ```
    #[must_use]
    pub fn num_cells(&self) -> usize {
        self.metrics.iter().map(|m| m.cells.len()).sum()
    }

    /// Splits the snapshot into contiguous chunks of at most `size` cells (Go's chunking for
    /// monitors); `0` means one chunk. An empty snapshot gives no chunk.
    ///
    /// ```
    /// tsmon::metric! {
    ///     /// Per shard.
    ///     static SHARDS: Counter(shard: i64) = "example/snapshot/shards";
    /// }
    /// let state = tsmon::State::builder().build().unwrap();
    /// state.in_scope(|| (0..43).for_each(|i| SHARDS.inc(i)));
    /// let snap = state.snapshot();
    /// let only = |s: &tsmon::store::Snapshot| s.metric("example/snapshot/shards").map_or(0, |m| m.cells().len());
    /// assert_eq!(only(&snap), 43);
    /// let chunks = snap.chunks(42);
    /// assert_eq!(chunks.iter().map(|c| c.num_cells()).sum::<usize>(), snap.num_cells());
    /// assert!(chunks.iter().all(|c| c.num_cells() <= 42));
    /// assert_eq!(snap.chunks(0).len(), 1);
    /// ```
    #[must_use]
    pub fn chunks(&self, size: usize) -> Vec<Snapshot> {
        if self.num_cells() == 0 {
            return Vec::new();
        }
        if size == 0 {
            return vec![self.clone()];
        }
        let mut out = Vec::new();
        let mut current = self.empty_like();
        let mut room = size;
        for m in &self.metrics {
            let mut rest = &m.cells[..];
            while !rest.is_empty() {
                let (take, left) = rest.split_at(rest.len().min(room));
                current.metrics.push(m.subset(take));
                room -= take.len();
                rest = left;
                if room == 0 {
                    out.push(std::mem::replace(&mut current, self.empty_like()));
                    room = size;
                }
            }
        }
        if !current.metrics.is_empty() {
            out.push(current);
        }
        out
    }

    fn empty_like(&self) -> Snapshot {
        Snapshot {
            metrics: Vec::new(),
            targets: self.targets.clone(),
            now_micros: self.now_micros,
        }
    }

    /// The metrics with at least one series, sorted by name.
    ///
    /// ```
    /// let state = tsmon::State::builder().build().unwrap();
    /// assert!(state.snapshot().metrics().iter().all(|m| !m.cells().is_empty()));
    /// ```
    #[must_use]
    pub fn metrics(&self) -> &[MetricSnapshot] {
        &self.metrics
    }

    /// One metric by name.
    #[must_use]
    pub fn metric(&self, name: &str) -> Option<&MetricSnapshot> {
        self.metrics.iter().find(|m| m.desc.name == name)
    }

    /// No series at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.metrics.is_empty()
    }

    /// The number of series.
    #[must_use]
    pub fn len(&self) -> usize {
        self.metrics.iter().map(|m| m.cells.len()).sum()
    }

    /// The target of a cell.
    #[must_use]
    pub fn target(&self, cell: &CellSnapshot) -> &Target {
        self.targets
            .get(cell.target as usize)
            .unwrap_or(&self.targets[0])
    }

    pub(crate) fn targets(&self) -> &[Arc<Target>] {
        &self.targets
    }

    /// The store's clock when the snapshot was taken (taken after the copy, as in Go).
    #[must_use]
    pub fn now_micros(&self) -> u64 {
        self.now_micros
    }
}

/// The series of one metric in a snapshot.
#[derive(Clone, Debug)]
pub struct MetricSnapshot {
    desc: &'static MetricDesc,
    cells: Vec<CellSnapshot>,
    keys: Vec<u8>,
}

impl MetricSnapshot {
    /// A copy holding only `cells` (a contiguous part of this one's), with their keys.
    fn subset(&self, cells: &[CellSnapshot]) -> MetricSnapshot {
        let mut keys = Vec::new();
        let cells = cells
            .iter()
            .map(|c| {
                let begin = keys.len();
                keys.extend_from_slice(&self.keys[c.fields.0..c.fields.1]);
                CellSnapshot {
                    fields: (begin, keys.len()),
                    ..c.clone()
                }
            })
            .collect();
        MetricSnapshot {
            desc: self.desc,
            cells,
            keys,
        }
    }

    /// The metric.
    #[must_use]
    pub fn desc(&self) -> &'static MetricDesc {
        self.desc
    }

    /// Its series.
    #[must_use]
    pub fn cells(&self) -> &[CellSnapshot] {
        &self.cells
    }

    /// The field values of a series, in declaration order (none for the overflow series).
    pub fn field_values<'a>(
        &'a self,
        cell: &CellSnapshot,
    ) -> impl Iterator<Item = FieldValue<'a>> + 'a {
        let (b, e) = cell.fields;
        decode(self.desc.fields, &self.keys[b..e])
    }

    /// The encoded field values of a series.
    pub(crate) fn field_bytes(&self, cell: &CellSnapshot) -> &[u8] {
        let (b, e) = cell.fields;
        &self.keys[b..e]
    }

    /// The series with these field values under the default target, if any.
    #[must_use]
    pub fn find(&self, values: &[FieldValue<'_>]) -> Option<&CellSnapshot> {
        self.cells.iter().find(|c| {
            c.target == 0 && !c.overflow && self.field_values(c).eq(values.iter().copied())
        })
    }
}

/// One series in a snapshot.
#[derive(Clone, Debug)]
pub struct CellSnapshot {
    fields: (usize, usize),
    target: u32,
    start_micros: u64,
    value: Value,
    overflow: bool,
}

impl CellSnapshot {
    /// The value.
    #[must_use]
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// When this stream started (microseconds since the epoch, from the store's clock).
    #[must_use]
    pub fn start_micros(&self) -> u64 {
        self.start_micros
    }

    /// Whether this is the overflow series of a metric that hit its series cap.
    #[must_use]
    pub fn is_overflow(&self) -> bool {
        self.overflow
    }

    /// Whether the series was written under an explicit target rather than the default one.
    #[must_use]
    pub fn has_explicit_target(&self) -> bool {
        self.target != 0
    }

    pub(crate) fn target_id(&self) -> u32 {
        self.target
    }
}
