//! A metric's series: the key of each, the sharded map that holds them, the series cap and
//! the overflow series, and the per-thread lookup cache in front of the map.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Arc, OnceLock};

use hashbrown::HashTable;
use parking_lot::{Mutex, RwLock};

use super::cell::{CellType, PlainCell};
use super::exemplar::{Exemplar, ExemplarTable};
use super::*;

pub(super) const SHARDS: usize = 16;
pub(super) const HAS_VALUE: u8 = 1;
/// Set on a series removed from its map: lookup caches must not use it again.
pub(super) const DELETED: u8 = 2;
/// The series has exemplars in its metric's [`ExemplarTable`].
pub(super) const HAS_EXEMPLAR: u8 = 4;

/// A series key, kept inside the series when short (most are), so a lookup compares it without
/// following another pointer.
pub(super) enum SeriesKey {
    Inline(u8, [u8; SeriesKey::INLINE]),
    Heap(Box<[u8]>),
}

impl SeriesKey {
    const INLINE: usize = 22;

    pub(super) fn new(key: &[u8]) -> Self {
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
pub(crate) struct Series<C> {
    pub(super) key: SeriesKey,
    pub(super) start: AtomicU64,
    pub(super) flags: AtomicU8,
    /// Its place in its metric's creation order (`NOT_LISTED` for the fieldless and overflow
    /// series, which have slots of their own); changed under that list's lock.
    pub(super) pos: AtomicU32,
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

    /// Keeps `ex` as the latest exemplar of slot `slot` (of `slots`: 1 for a counter, the
    /// bucket count for a distribution) in `table`, its metric's.
    pub(crate) fn set_exemplar(
        &self,
        table: &ExemplarTable,
        slot: usize,
        slots: usize,
        ex: Exemplar,
    ) {
        let at = std::ptr::from_ref(self) as usize;
        table.set(at, self.start.load(Relaxed), slot, slots, ex);
        if self.flags.load(Relaxed) & HAS_EXEMPLAR == 0 {
            self.flags.fetch_or(HAS_EXEMPLAR, Relaxed);
        }
    }

    fn forget_exemplars(&self, table: &ExemplarTable) {
        if self.flags.load(Relaxed) & HAS_EXEMPLAR != 0 {
            self.flags.fetch_and(!HAS_EXEMPLAR, Relaxed);
            table.remove(std::ptr::from_ref(self) as usize);
        }
    }
}

type Shard<C> = RwLock<HashTable<Arc<Series<C>>>>;

/// The series of one metric.
pub struct MetricStore<C> {
    pub(super) desc: &'static MetricDesc,
    pub(super) cumulative: bool,
    pub(super) max_series: AtomicUsize,
    /// A classic distribution's new series are native histograms (the `native_histograms`
    /// setting).
    pub(super) native: AtomicBool,
    pub(super) fieldless: OnceLock<Arc<Series<C>>>,
    pub(super) shards: Box<[Shard<C>]>,
    /// Every series of the shards, in creation order: snapshots walk this, so they visit
    /// series in the order they were allocated (hash order would miss the cache on nearly
    /// every series of a large metric).
    pub(super) order: Mutex<Vec<Arc<Series<C>>>>,
    pub(super) len: AtomicUsize,
    pub(super) overflow: OnceLock<Arc<Series<C>>>,
    pub(super) overflow_writes: AtomicU64,
    /// The exemplars of the series that have some (none allocated until then).
    pub(crate) exemplars: Arc<ExemplarTable>,
}

/// The source of store ids: never repeats within a process, so a cache entry of a store that
/// has gone can never match a new store that happens to sit at the same address.
pub(super) static NEXT_STORE_ID: AtomicU64 = AtomicU64::new(1);

/// Entries of each thread's lookup cache (one cache per cell type, direct-mapped; 32 bytes
/// each, in the thread's static storage).
pub(super) const CACHE_ENTRIES: usize = 64;

/// A thread's cache of recent lookups by field values: the store, metric, hash and series of a
/// key, so a repeated lookup is a hash, a comparison of the values with the series' key, and no
/// lock. A hash collision is only a miss. Entries hold a reference to their series; a deleted
/// series is marked, and a marked series is never used from the cache again.
#[doc(hidden)]
pub struct LookupCache<C> {
    pub(super) entries: [CacheEntry<C>; CACHE_ENTRIES],
}

pub(super) struct CacheEntry<C> {
    pub(super) store: u64,
    pub(super) desc: usize,
    pub(super) hash: u64,
    pub(super) series: Option<Arc<Series<C>>>,
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
    pub(super) fn entry(&mut self, way: usize) -> &mut CacheEntry<C> {
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
    pub(super) fn new(desc: &'static MetricDesc, default_max: usize) -> Self {
        MetricStore {
            desc,
            cumulative: desc.kind.is_cumulative(),
            max_series: AtomicUsize::new(if desc.max_series > 0 {
                usize::try_from(desc.max_series).unwrap_or(usize::MAX)
            } else {
                default_max
            }),
            native: AtomicBool::new(false),
            fieldless: OnceLock::new(),
            shards: (0..SHARDS).map(|_| RwLock::new(HashTable::new())).collect(),
            order: Mutex::new(Vec::new()),
            len: AtomicUsize::new(0),
            overflow: OnceLock::new(),
            overflow_writes: AtomicU64::new(0),
            exemplars: Arc::new(ExemplarTable::new(desc.name)),
        }
    }

    pub(super) fn new_series(&self, key: &[u8], clock: &MonotonicClock) -> Arc<Series<C>> {
        Arc::new(Series {
            key: SeriesKey::new(key),
            start: AtomicU64::new(clock.now_micros()),
            flags: AtomicU8::new(if self.cumulative { HAS_VALUE } else { 0 }),
            pos: AtomicU32::new(NOT_LISTED),
            cell: C::new(self.desc, self.native.load(Relaxed)),
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
    pub(super) fn fieldless(
        &self,
        clock: &MonotonicClock,
        create: bool,
    ) -> Option<&Arc<Series<C>>> {
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
    pub(super) fn key_hash(&self, key: &[u8]) -> u64 {
        crate::field::hash_key(self.desc.fields, key)
    }

    /// The map's lookup, with the key's hash; `f` learns whether it got the overflow series.
    #[inline]
    pub(super) fn with_series_hashed<R>(
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
    pub(super) fn find_by_values<F: FieldSet, R>(
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
    pub(super) fn insert<R>(
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

    pub(super) fn delete(&self, key: &[u8]) -> bool {
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
        series.forget_exemplars(&self.exemplars);
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

    pub(super) fn reset_series(&self, s: &Series<C>, now: Option<u64>) {
        s.cell.reset();
        s.forget_exemplars(&self.exemplars);
        if let Some(now) = now {
            s.start.store(now, Relaxed);
        }
        if !self.cumulative {
            s.flags.fetch_and(!HAS_VALUE, Relaxed);
        }
    }

    /// Go's `Reset(metric)`: every series starts again, with a new start time.
    pub(super) fn reset(&self, clock: &MonotonicClock) {
        self.for_each(|s| self.reset_series(s, Some(clock.now_micros())));
        self.exemplars.clear();
        self.overflow_writes.store(0, Relaxed);
    }

    pub(super) fn for_each(&self, mut f: impl FnMut(&Series<C>)) {
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
    pub(super) fn read_cell<'s>(&self, s: &'s Series<C>) -> Option<(CellSnapshot, &'s [u8])> {
        if !s.is_set() {
            return None;
        }
        let mut cell = CellSnapshot::blank(s.cell.value()?);
        let fields = self.fill(s, &mut cell);
        Some((cell, fields))
    }

    /// Sets all but the value of `cell` from series `s`; its field values as encoded.
    #[inline(always)]
    fn fill<'s>(&self, s: &'s Series<C>, cell: &mut CellSnapshot) -> &'s [u8] {
        let overflow = &*s.key == OVERFLOW_KEY;
        let (target, fields) = if overflow {
            (0, &[][..])
        } else {
            split_key(&s.key)
        };
        let start_micros = s.start.load(Relaxed);
        cell.exemplars = if s.flags.load(Relaxed) & HAS_EXEMPLAR != 0 {
            self.exemplars
                .get(std::ptr::from_ref(s) as usize, start_micros)
        } else {
            None
        };
        cell.fields = (0, fields.len());
        cell.target = target;
        cell.start_micros = start_micros;
        cell.overflow = overflow;
        fields
    }

    pub(super) fn snapshot(&self) -> MetricSnapshot {
        let mut snap = MetricSnapshot {
            desc: self.desc,
            cells: Vec::with_capacity(self.len.load(Relaxed) + 1),
            keys: Vec::new(),
        };
        self.for_each(|s| {
            if let Some((mut cell, fields)) = self.read_cell(s) {
                let begin = snap.keys.len();
                snap.keys.extend_from_slice(fields);
                cell.fields = (begin, snap.keys.len());
                snap.cells.push(cell);
            }
        });
        snap
    }

    /// Gives every series that holds a value to `v`, as [`snapshot`](Self::snapshot) would copy
    /// it, without copying: a plain number straight from its cell and key where the visitor takes
    /// numbers, any other series as one [`CellSnapshot`] refilled in place. It starts at place
    /// `from` (see [`Cursor`](super::Cursor)) and stops where `v` is full: the place to go on
    /// from, or `None` past the last series.
    #[inline]
    pub(super) fn visit_from(&self, from: usize, v: &mut impl Visit) -> Option<usize>
    where
        C: PlainCell,
    {
        let numbers = C::PLAIN && v.numbers(self.desc);
        // One cell, refilled in place for each series: see `CellType::write_value`.
        let mut cell = CellSnapshot::blank(Value::Int(0));
        if from == 0
            && let Some(s) = self.fieldless.get()
        {
            if v.full() {
                return Some(0);
            }
            self.visit_one(s, numbers, &mut cell, v);
        }
        if from != usize::MAX {
            let order = self.order.lock();
            let mut at = from.max(1);
            while let Some(s) = order.get(at - 1) {
                if v.full() {
                    return Some(at);
                }
                self.visit_one(s, numbers, &mut cell, v);
                at += 1;
            }
        }
        if let Some(s) = self.overflow.get() {
            if v.full() {
                return Some(usize::MAX);
            }
            self.visit_one(s, numbers, &mut cell, v);
        }
        None
    }

    #[inline(always)]
    fn visit_one(&self, s: &Series<C>, numbers: bool, cell: &mut CellSnapshot, v: &mut impl Visit)
    where
        C: PlainCell,
    {
        let flags = s.flags.load(Relaxed);
        if flags & HAS_VALUE == 0 {
            return;
        }
        if numbers && flags & HAS_EXEMPLAR == 0 {
            // A one-byte target id (below 128) is the key's first byte; the overflow
            // series' key starts with 0xff and takes the long way.
            if let Some((&target, fields)) = s.key.split_first()
                && target < 0x80
            {
                v.number(self.desc, u32::from(target), fields, s.cell.plain());
                return;
            }
        }
        if s.cell.write_value(&mut cell.value) {
            let fields = self.fill(s, cell);
            v.cell(self.desc, cell, fields);
        }
    }
}
