//! The cell of a native histogram: lock-free, like every other cell.
//!
//! A write is two read-modify-writes, as for a classic distribution: the sum, and the count of
//! its bucket. Buckets live in chunks of sixteen neighbours, made the first time a sample falls
//! in them and found through a small open-addressed table of once-set slots (`OnceBox`), so a
//! chunk, once published, never moves and a writer never waits.
//!
//! A resolution reduction never rewrites counts either. The buckets are kept in a chain of
//! *generations*, each at one schema: when the newest one holds its bucket limit (or its
//! chunk table fills), a writer appends a generation one schema lower, and from then on every
//! write goes there. Writes that raced into the older generation stay counted there, and a
//! snapshot maps every generation's buckets to the newest schema (`((i - 1) >> d) + 1`), which
//! is exact: each bucket of a schema lies in one bucket of every lower schema. The chain is at
//! most 13 generations long (schemas 8 to -4), and each holds at most 12 chunks (16 at the
//! lowest schema), so a series' memory is bounded; a series that never spreads past its limit
//! has one generation: 128 bytes of table and 136 per chunk in use (1,000 samples over three
//! decades at schema 3: 80 buckets in 6 chunks, 944 bytes).

use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering::*};

use once_cell::race::OnceBox;

use super::striped::{Stripe, Striped, add_f64, cas_add_f64};
use crate::distribution::native::{self, First, MIN_SCHEMA, NativeBuckets, NativeSpec};

/// log2 of the buckets per chunk.
const CHUNK_BITS: u32 = 4;
/// Buckets per chunk.
const CHUNK: usize = 1 << CHUNK_BITS;
/// log2 of the slots in a generation's chunk table.
const SLOT_BITS: u32 = 4;
const SLOTS: usize = 1 << SLOT_BITS;
/// The chunks a generation takes before it asks for a lower schema (above the lowest one,
/// which may fill its table): 12 chunks of 16 hold any 160 neighbouring buckets.
const MAX_CHUNKS: u32 = 12;

/// Sixteen neighbouring buckets of one sign: `key` is `(index >> 4) << 1 | negative`.
#[derive(Debug)]
struct Chunk {
    key: i32,
    counts: [AtomicU64; CHUNK],
}

/// The first slot to probe for a chunk: its key modulo the slots, so neighbouring chunks (the
/// usual spread of a series) take neighbouring slots and do not collide.
#[inline]
fn slot_of(key: i32) -> usize {
    key as usize & (SLOTS - 1)
}

/// No chunk's key (keys are `(index >> 4) << 1 | sign`, far from it).
const NO_KEY: i32 = i32::MIN;

/// The buckets at one schema.
#[derive(Debug)]
struct Generation {
    schema: i8,
    /// The schema's first-guess table, inline (one load from a sample's bucket).
    tables: &'static [First],
    /// Buckets with a sample (counted as they go from 0 to 1).
    buckets: AtomicU32,
    chunks: AtomicU32,
    /// The chunk table, inline: a sample's chunk is one load away.
    slots: [OnceBox<Chunk>; SLOTS],
    /// The key of each slot's chunk, stored after the chunk is published (`NO_KEY` before):
    /// a write finds its slot by these, so the chunk's own key is not a load on its path.
    keys: [AtomicI32; SLOTS],
    next: OnceBox<Generation>,
}

impl Generation {
    fn new(schema: i8) -> Self {
        Generation {
            schema,
            tables: native::tables_for(schema),
            buckets: AtomicU32::new(0),
            chunks: AtomicU32::new(0),
            slots: std::array::from_fn(|_| OnceBox::new()),
            keys: std::array::from_fn(|_| AtomicI32::new(NO_KEY)),
            next: OnceBox::new(),
        }
    }

    /// The chunk for `key`, made if need be; `None` when this generation has no room for it.
    #[inline]
    fn chunk(&self, key: i32) -> Option<&Chunk> {
        let slots = &self.slots;
        let mut at = slot_of(key);
        for _ in 0..SLOTS {
            let slot = &slots[at];
            let found = match slot.get() {
                Some(c) => c,
                None => {
                    if self.schema > MIN_SCHEMA && self.chunks.load(Relaxed) >= MAX_CHUNKS {
                        return None;
                    }
                    let chunk = Chunk {
                        key,
                        counts: Default::default(),
                    };
                    if slot.set(Box::new(chunk)).is_ok() {
                        self.keys[at].store(key, Release);
                        self.chunks.fetch_add(1, Relaxed);
                    }
                    slot.get()?
                }
            };
            if found.key == key {
                return Some(found);
            }
            at = (at + 1) & (SLOTS - 1);
        }
        None
    }

    /// The chunk for `key` if it is made and its key published; no write. `None` sends the
    /// write to [`chunk`](Self::chunk), which finds it all the same.
    #[inline]
    fn find_chunk(&self, key: i32) -> Option<&Chunk> {
        let mut at = slot_of(key);
        for _ in 0..SLOTS {
            match self.keys[at].load(Acquire) {
                k if k == key => return self.slots[at].get(),
                NO_KEY => return None,
                _ => at = (at + 1) & (SLOTS - 1),
            }
        }
        None
    }

    /// A bucket of this generation got its first sample: past the bucket limit, the writers
    /// move to a lower schema.
    #[inline]
    fn first_in_bucket(&self, spec: &NativeSpec) {
        if self.buckets.fetch_add(1, Relaxed) + 1 >= spec.max_buckets() && self.schema > MIN_SCHEMA
        {
            self.lower();
        }
    }

    /// The next, lower, generation, appended by whichever writer gets there first.
    #[cold]
    fn lower(&self) -> &Generation {
        self.next
            .get_or_init(|| Box::new(Generation::new(self.schema - 1)))
    }

    fn chunks(&self) -> impl Iterator<Item = &Chunk> {
        self.slots.iter().filter_map(OnceBox::get)
    }
}

/// One stripe of a native histogram: the sum, the zero bucket, the samples in no bucket (NaN)
/// and the generations.
#[derive(Debug)]
pub(crate) struct NativeCore {
    sum: AtomicU64,
    zero: AtomicU64,
    unbucketed: AtomicU64,
    first: Generation,
}

impl Stripe for NativeCore {
    fn empty_like(&self) -> Self {
        NativeCore::new(self.first.schema)
    }
}

impl NativeCore {
    fn new(schema: i8) -> Self {
        NativeCore {
            sum: AtomicU64::new(0f64.to_bits()),
            zero: AtomicU64::new(0),
            unbucketed: AtomicU64::new(0),
            first: Generation::new(schema),
        }
    }

    fn generations(&self) -> impl Iterator<Item = &Generation> {
        std::iter::successors(Some(&self.first), |g| g.next.get())
    }

    /// Counts `x` in its bucket (the sum is the caller's).
    #[inline]
    fn record(&self, x: f64, spec: &NativeSpec) {
        let a = x.abs();
        // NaN compares false: it goes with the zero bucket's branch, to its own count.
        if a.is_nan() || a <= spec.zero_threshold() {
            let to = if a.is_nan() {
                &self.unbucketed
            } else {
                &self.zero
            };
            to.fetch_add(1, Relaxed);
            return;
        }
        let mut g = &self.first;
        while let Some(next) = g.next.get() {
            g = next;
        }
        loop {
            let i = native::index_with(a, g.schema, g.tables);
            let key = ((i >> CHUNK_BITS) << 1) | i32::from(x < 0.0);
            if let Some(chunk) = g.chunk(key) {
                if chunk.counts[(i & (CHUNK as i32 - 1)) as usize].fetch_add(1, Relaxed) == 0 {
                    g.first_in_bucket(spec);
                }
                return;
            }
            if g.schema == MIN_SCHEMA {
                // Samples that span every f64 at the lowest schema: counted, in no bucket.
                self.unbucketed.fetch_add(1, Relaxed);
                return;
            }
            g = g.lower();
        }
    }

    /// The count of `x`'s bucket in the newest generation, with that generation, when nothing
    /// has to be made for it: a positive normal sample above the zero threshold (its bits at
    /// or above `fast_lo`, below infinity's) whose chunk exists (every sample but a bucket's
    /// first few). `tables` are the first generation's, which the caller keeps beside the
    /// cell's address, so the bucket's index does not wait for the cell. `None` (negative
    /// samples too: rare in what histograms time and size) leaves the write to `record`.
    #[inline]
    fn find(
        &self,
        x: f64,
        fast_lo: u64,
        tables: &'static [First],
    ) -> Option<(&Generation, &AtomicU64)> {
        let bits = x.to_bits();
        // One comparison for negative samples, the zero bucket, subnormals, infinity and NaN.
        if bits.wrapping_sub(fast_lo) >= f64::INFINITY.to_bits().wrapping_sub(fast_lo) {
            return None;
        }
        let mut g = &self.first;
        let i = match g.next.get() {
            // The first generation, at a positive schema: its table came with the call.
            None if !tables.is_empty() => native::index_by_table(bits, tables),
            _ => {
                while let Some(next) = g.next.get() {
                    g = next;
                }
                native::index_normal(bits, g.schema, g.tables)
            }
        };
        let chunk = g.find_chunk((i >> CHUNK_BITS) << 1)?;
        Some((g, &chunk.counts[(i & (CHUNK as i32 - 1)) as usize]))
    }

    fn reset(&self) {
        self.sum.store(0f64.to_bits(), Relaxed);
        self.zero.store(0, Relaxed);
        self.unbucketed.store(0, Relaxed);
        for g in self.generations() {
            g.buckets.store(0, Relaxed);
            g.chunks()
                .flat_map(|c| c.counts.iter())
                .for_each(|n| n.store(0, Relaxed));
        }
    }
}

/// A native histogram's cell: its parameters and its (striped) cores.
#[derive(Debug)]
pub(crate) struct NativeCell {
    spec: NativeSpec,
    /// The bits of the least `|x|` that takes the fast path: the least normal float above the
    /// zero threshold.
    fast_lo: u64,
    cores: Striped<NativeCore>,
}

impl NativeCell {
    pub(crate) fn new(spec: NativeSpec) -> Self {
        NativeCell {
            spec,
            fast_lo: spec
                .zero_threshold()
                .next_up()
                .max(f64::MIN_POSITIVE)
                .to_bits(),
            cores: Striped::new(NativeCore::new(spec.schema())),
        }
    }

    /// Adds a sample, with the first generation's `tables` ([`native::tables_for`] its schema).
    /// Uncontended, a positive sample into a bucket that exists (the common case): the sum's
    /// CAS and the bucket's increment, without closures; anything else out of line.
    #[inline]
    pub(crate) fn add(&self, x: f64, tables: &'static [First]) {
        if let Some(core) = self.cores.unstriped()
            && let Some((g, count)) = core.find(x, self.fast_lo, tables)
            && cas_add_f64(&core.sum, x)
        {
            if count.fetch_add(1, Relaxed) == 0 {
                g.first_in_bucket(&self.spec);
            }
            return;
        }
        self.add_slow(x);
    }

    /// [`add`](Self::add) on stripes, or making what the sample needs.
    #[inline(never)]
    fn add_slow(&self, x: f64) {
        self.cores.write(
            |c| {
                let ok = cas_add_f64(&c.sum, x);
                if ok {
                    c.record(x, &self.spec);
                }
                ok
            },
            |c| {
                add_f64(&c.sum, x);
                c.record(x, &self.spec);
            },
        );
    }

    /// The buckets at the lowest schema any stripe is at, the count (NaN samples included) and
    /// the sum.
    pub(crate) fn get(&self) -> (NativeBuckets, i64, f64) {
        let mut schema = self.spec.schema();
        let (mut zero, mut unbucketed, mut sum) = (0u64, 0u64, 0f64);
        let mut raw: Vec<(i8, i32, u64)> = Vec::new();
        for core in self.cores.parts() {
            sum += f64::from_bits(core.sum.load(Relaxed));
            zero += core.zero.load(Relaxed);
            unbucketed += core.unbucketed.load(Relaxed);
            for g in core.generations() {
                schema = schema.min(g.schema);
                for c in g.chunks() {
                    let base = (c.key >> 1) << CHUNK_BITS;
                    for (j, n) in c.counts.iter().enumerate() {
                        let n = n.load(Relaxed);
                        if n > 0 {
                            // The sign rides in the index's low bit here, split below.
                            raw.push((g.schema, (base + j as i32) << 1 | (c.key & 1), n));
                        }
                    }
                }
            }
        }
        let (mut positive, mut negative) = (Vec::new(), Vec::new());
        for (s, signed, n) in raw {
            let i = native::coarser(signed >> 1, (s - schema) as u32);
            if signed & 1 == 0 {
                positive.push((i, n));
            } else {
                negative.push((i, n));
            }
        }
        let buckets = NativeBuckets::from_raw(self.spec, schema, zero, positive, negative);
        let count = buckets.bucketed() + unbucketed;
        (buckets, i64::try_from(count).unwrap_or(i64::MAX), sum)
    }

    pub(crate) fn reset(&self) {
        self.cores.parts().for_each(NativeCore::reset);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    impl NativeCell {
        /// An add with the table its owner passes.
        fn put(&self, x: f64) {
            self.add(x, native::tables_for(self.spec.schema()));
        }
    }

    #[test]
    fn counts_are_exact_under_contention_and_across_reductions() {
        // A small limit and a wide spread: the writers race through several reductions. One
        // writer alone takes the fast path into the lowered generations.
        // Fewer samples under Miri, still past several reductions (they span 11 octaves).
        let samples: u32 = if cfg!(miri) { 300 } else { 20_000 };
        for writers in [1, 4] {
            let spec = NativeSpec::new(6).with_max_buckets(20);
            let cell = Arc::new(NativeCell::new(spec));
            let threads: Vec<_> = (0..writers)
                .map(|t| {
                    let c = cell.clone();
                    std::thread::spawn(move || {
                        for i in 0..samples {
                            let x = f64::from(1 + (i * 7 + t) % 5000) * 0.01;
                            c.put(if i % 10 == 0 { -x } else { x });
                        }
                    })
                })
                .collect();
            threads.into_iter().for_each(|t| t.join().unwrap());
            let (b, count, _) = cell.get();
            let total = i64::from(samples) * i64::from(writers);
            assert_eq!(count, total);
            assert_eq!(b.bucketed(), total as u64);
            assert!(b.bucket_count() <= 20, "{} buckets", b.bucket_count());
            assert!(b.schema() < 6);
            // Every sample is in the bucket the final schema gives it.
            let mut expect = Vec::new();
            for t in 0..writers {
                for i in 0..samples {
                    let x = f64::from(1 + (i * 7 + t) % 5000) * 0.01;
                    expect.push(if i % 10 == 0 { -x } else { x });
                }
            }
            let (mut pos, mut neg) = (Vec::new(), Vec::new());
            for x in expect {
                let i = native::index(x, b.schema());
                if x > 0.0 { &mut pos } else { &mut neg }.push((i, 1));
            }
            let exact = NativeBuckets::from_raw(spec, b.schema(), 0, pos, neg);
            assert_eq!(b.positive(), exact.positive(), "{writers} writers");
            assert_eq!(b.negative(), exact.negative(), "{writers} writers");
        }
    }

    #[test]
    fn samples_into_made_chunks_go_to_their_buckets() {
        // Each sample three times: the first makes its chunk (the slow path), the others find
        // it (the fast path); both must agree with the index, at every kind of schema. The
        // threshold comes after its neighbour above has made their chunk.
        let threshold = 1e-3_f64;
        let samples = [
            threshold.next_up(),
            -threshold.next_up(),
            threshold,
            -threshold,
            5e-324,
            f64::MIN_POSITIVE,
            1.0,
            1.0f64.next_up(),
            -3.7,
            0.0123,
            1e300,
            f64::MAX,
            -f64::MAX,
        ];
        for schema in [-3, 0, 1, 3, 8] {
            let spec = NativeSpec::new(schema)
                .with_max_buckets(1000)
                .with_zero_threshold(threshold);
            let cell = NativeCell::new(spec);
            for x in samples {
                (0..3).for_each(|_| cell.put(x));
            }
            let (b, count, _) = cell.get();
            assert_eq!(count, 3 * samples.len() as i64);
            let (mut pos, mut neg, mut zero) = (Vec::new(), Vec::new(), 0);
            for x in samples {
                if x.abs() <= threshold {
                    zero += 3;
                } else {
                    let i = native::index(x, schema);
                    if x > 0.0 { &mut pos } else { &mut neg }.push((i, 3));
                }
            }
            let exact = NativeBuckets::from_raw(spec, schema, zero, pos, neg);
            assert_eq!(b.schema(), schema);
            assert_eq!(b.zero_count(), zero, "schema {schema}");
            assert_eq!(b.positive(), exact.positive(), "schema {schema}");
            assert_eq!(b.negative(), exact.negative(), "schema {schema}");
        }
    }

    #[test]
    fn zero_nan_and_infinity() {
        let cell = NativeCell::new(NativeSpec::new(3).with_zero_threshold(0.5));
        for x in [
            0.0,
            -0.25,
            0.5,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1.0,
        ] {
            cell.put(x);
        }
        let (b, count, sum) = cell.get();
        assert_eq!(count, 7);
        assert!(sum.is_nan());
        assert_eq!(b.zero_count(), 3);
        let inf = native::index(f64::MAX, 3) + 1;
        assert_eq!(b.positive(), [(0, 1), (inf, 1)]);
        assert_eq!(b.negative(), [(inf, 1)]);
        cell.reset();
        let (b, count, sum) = cell.get();
        assert_eq!((count, sum, b.bucket_count()), (0, 0.0, 0));
    }
}
