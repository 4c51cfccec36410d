//! The text written straight from the store, no snapshot between: whole
//! ([`encode_store`], what [`State::encode_into`](crate::State::encode_into) writes) or a chunk
//! at a time ([`StoreChunks`], what the pull endpoint streams).

use super::{Encoder, Format, Options};
use crate::desc::MetricDesc;
use crate::store::{CellSnapshot, Cursor, Plain, Store, Visit};

/// Encodes the store as it is now, appending to `out`: the same text a snapshot taken now would
/// give, without copying the snapshot first (the pull endpoint's path).
/// The protobuf format is written from a snapshot: the caller takes one
/// ([`State::encode_into`](crate::State::encode_into) does).
pub(crate) fn encode_store(store: &Store, format: Format, options: Options, out: &mut Vec<u8>) {
    let mut chunks = StoreChunks::new(store, format, options, std::mem::take(out));
    chunks.enc.reserve_lines(store.num_series());
    // One fill: a chunk this large is never full.
    while chunks.fill(store, usize::MAX) {}
    *out = chunks.take(0);
}

/// The store's text written a piece at a time: each [`fill`](Self::fill) walks on from where
/// the last stopped (see [`store::Cursor`](crate::store::Cursor)) until the buffer holds a
/// chunk's worth, so a scrape of a million series never holds more than a chunk of its text.
pub(crate) struct StoreChunks {
    enc: Encoder,
    cursor: Cursor,
    done: bool,
}

impl StoreChunks {
    /// Starts a walk, appending to `out`: the store's overflow counts are reported now, its
    /// collectors run at the first [`fill`](Self::fill) (as before a snapshot's copy).
    pub(crate) fn new(store: &Store, format: Format, options: Options, out: Vec<u8>) -> Self {
        debug_assert!(
            format != Format::Protobuf,
            "protobuf is encoded from a snapshot"
        );
        let targets = store.snapshot_targets();
        StoreChunks {
            enc: Encoder::new(format, options, out, &targets),
            cursor: Cursor::default(),
            done: false,
        }
    }

    /// Writes on until the buffer holds at least `chunk` bytes or the walk ends (then the
    /// format's end too); false once it has ended.
    pub(crate) fn fill(&mut self, store: &Store, chunk: usize) -> bool {
        if self.done {
            return false;
        }
        let mut walk = Walk {
            enc: &mut self.enc,
            store,
            chunk,
        };
        if store.visit_from(&mut self.cursor, &mut walk) {
            self.done = true;
            if self.enc.format == Format::OpenMetrics {
                self.enc.out.extend_from_slice(b"# EOF\n");
            }
        }
        !self.done
    }

    /// The bytes written since the last take.
    pub(crate) fn take(&mut self, capacity: usize) -> Vec<u8> {
        std::mem::replace(&mut self.enc.out, Vec::with_capacity(capacity))
    }
}

/// The encoder as the store's visitor for one piece of a walk: it asks the walk to stop once
/// the buffer is full, and renders the labels of a target made since the walk began.
struct Walk<'e, 's> {
    enc: &'e mut Encoder,
    store: &'s Store,
    chunk: usize,
}

impl Walk<'_, '_> {
    #[inline]
    fn know(&mut self, target: u32) {
        if target as usize >= self.enc.targets.len() {
            self.enc.add_targets(&self.store.targets_now());
        }
    }
}

impl Visit for Walk<'_, '_> {
    fn numbers(&mut self, desc: &'static MetricDesc) -> bool {
        self.enc.numbers(desc)
    }
    #[inline]
    fn number(&mut self, desc: &'static MetricDesc, target: u32, fields: &[u8], value: Plain) {
        self.know(target);
        self.enc.number(desc, target, fields, value);
    }
    fn cell(&mut self, desc: &'static MetricDesc, cell: &CellSnapshot, fields: &[u8]) {
        self.know(cell.target_id());
        self.enc.cell(desc, cell, fields);
    }
    #[inline]
    fn full(&self) -> bool {
        self.enc.out.len() >= self.chunk
    }
}
