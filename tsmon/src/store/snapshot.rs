//! Snapshots: a point-in-time copy of a store's series, what a flush hands to a monitor and
//! what the encoders read.

use std::sync::Arc;

use super::Value;
use super::cell::Plain;
use crate::desc::MetricDesc;
use crate::field::{FieldValue, decode};
use crate::target::Target;

/// What a walk of the store ([`Store::visit`](super::Store::visit)) hands its visitor: every
/// series a snapshot would hold, in the snapshot's order, without copying it.
pub(crate) trait Visit {
    /// Whether the series of `desc` that hold a plain number (integer, float and bool
    /// metrics), carry no exemplar and are not the overflow series may come to
    /// [`number`](Self::number) instead of [`cell`](Self::cell). Asked once per metric.
    fn numbers(&mut self, desc: &'static MetricDesc) -> bool;
    /// A series holding a plain number: its target id and its encoded field values.
    fn number(&mut self, desc: &'static MetricDesc, target: u32, fields: &[u8], value: Plain);
    /// Any other series, as a snapshot would copy it; `fields` are its encoded field values.
    fn cell(&mut self, desc: &'static MetricDesc, cell: &CellSnapshot, fields: &[u8]);
    /// Whether the walk should stop here, to go on later from a
    /// [`Cursor`](super::Cursor) (asked before each series).
    #[inline]
    fn full(&self) -> bool {
        false
    }
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
    pub(crate) metrics: Vec<MetricSnapshot>,
    pub(crate) targets: Vec<Arc<Target>>,
    pub(crate) now_micros: u64,
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
    pub(crate) desc: &'static MetricDesc,
    pub(crate) cells: Vec<CellSnapshot>,
    pub(crate) keys: Vec<u8>,
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
    pub(crate) fields: (usize, usize),
    pub(crate) target: u32,
    pub(crate) start_micros: u64,
    pub(crate) value: Value,
    pub(crate) overflow: bool,
    /// The series' exemplars, if it has any: one slot for a counter, one per bucket for a
    /// distribution.
    pub(crate) exemplars: Option<super::exemplar::Slots>,
}

impl CellSnapshot {
    /// A cell of `value` and nothing else yet.
    pub(crate) fn blank(value: Value) -> CellSnapshot {
        CellSnapshot {
            fields: (0, 0),
            target: 0,
            start_micros: 0,
            value,
            overflow: false,
            exemplars: None,
        }
    }

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

    /// The latest exemplar of slot `i`: the series' own for a counter (`i` = 0), bucket `i`'s
    /// for a distribution.
    #[must_use]
    pub fn exemplar(&self, i: usize) -> Option<&super::Exemplar> {
        self.exemplars.as_ref()?.get(i)?.as_deref()
    }
}
