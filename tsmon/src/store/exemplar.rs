//! Exemplars: for a counter, the latest sample of a series with labels such as `trace_id`;
//! for a distribution, the latest per bucket.
//!
//! They live beside the series, in a table of the metric's own, keyed by series: a series that
//! never had an exemplar costs nothing (no field in the series, no entry in the table). A
//! series marks that it has one (a flag bit it already had room for), so a snapshot looks the
//! table up only for those.

use std::collections::HashMap;
use std::sync::Arc;

/// The most characters an exemplar's labels may hold, names and values together (the
/// OpenMetrics limit). An exemplar past it is dropped and counted
/// (`tsmon/store/dropped_exemplars`).
pub const MAX_EXEMPLAR_LABEL_CHARS: usize = 128;

/// One exemplar: a sample's value, when it was written, and the labels that tie it to a trace.
///
/// ```
/// tsmon::metric! {
///     /// Requests served.
///     static SERVED: Counter = "example/exemplar/served";
/// }
/// let state = tsmon::State::builder().build()?;
/// state.in_scope(|| SERVED.add_with_exemplar(1, (), &[("trace_id", "4bf92f3577b34da6")]));
/// let snap = state.snapshot();
/// let cell = &snap.metric("example/exemplar/served").unwrap().cells()[0];
/// let ex = cell.exemplar(0).unwrap();
/// assert_eq!((ex.value(), ex.labels()[0].1.as_str()), (1.0, "4bf92f3577b34da6"));
/// # Ok::<(), tsmon::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Exemplar {
    pub(crate) value: f64,
    pub(crate) micros: u64,
    pub(crate) labels: Vec<(String, String)>,
}

impl Exemplar {
    /// The sample's value (the increment of a counter, the observation of a distribution).
    #[must_use]
    pub fn value(&self) -> f64 {
        self.value
    }

    /// When it was written: microseconds since the Unix epoch, by the system's wall clock
    /// (not the store's, which a test may hold still).
    #[must_use]
    pub fn micros(&self) -> u64 {
        self.micros
    }

    /// Its labels, in the order given.
    #[must_use]
    pub fn labels(&self) -> &[(String, String)] {
        &self.labels
    }

    /// An exemplar, or `None` when its labels are over [`MAX_EXEMPLAR_LABEL_CHARS`] or a name
    /// is not a valid label name.
    pub(crate) fn new(value: f64, micros: u64, labels: &[(&str, &str)]) -> Option<Exemplar> {
        let chars: usize = labels
            .iter()
            .map(|(k, v)| k.chars().count() + v.chars().count())
            .sum();
        let valid = |k: &str| {
            let mut c = k.chars();
            matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_')
                && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        (chars <= MAX_EXEMPLAR_LABEL_CHARS && labels.iter().all(|(k, _)| valid(k))).then(|| {
            Exemplar {
                value,
                micros,
                labels: labels
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            }
        })
    }
}

/// The exemplars of one series: one slot for a counter, one per bucket for a distribution.
pub(crate) type Slots = Arc<[Option<Arc<Exemplar>>]>;

struct Entry {
    /// The series' start time when the exemplars were written: a series that started again
    /// (or another one at the same address) does not show them.
    start: u64,
    slots: Vec<Option<Arc<Exemplar>>>,
}

/// The exemplars of one metric's series, by series address.
pub(crate) struct ExemplarTable {
    metric: &'static str,
    entries: parking_lot::Mutex<HashMap<usize, Entry>>,
}

impl std::fmt::Debug for ExemplarTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExemplarTable")
            .field("series", &self.entries.lock().len())
            .finish()
    }
}

impl ExemplarTable {
    pub(crate) fn new(metric: &'static str) -> Self {
        ExemplarTable {
            metric,
            entries: parking_lot::Mutex::default(),
        }
    }

    /// The metric's name.
    pub(crate) fn metric(&self) -> &'static str {
        self.metric
    }

    /// Keeps `ex` as the latest exemplar of slot `slot` (of `slots`) of the series at `series`.
    pub(crate) fn set(&self, series: usize, start: u64, slot: usize, slots: usize, ex: Exemplar) {
        let mut entries = self.entries.lock();
        let entry = entries.entry(series).or_insert_with(|| Entry {
            start,
            slots: Vec::new(),
        });
        if entry.start != start || entry.slots.len() != slots {
            entry.start = start;
            entry.slots = vec![None; slots];
        }
        if let Some(s) = entry.slots.get_mut(slot) {
            *s = Some(Arc::new(ex));
        }
    }

    /// The exemplars of the series at `series`, if it has any since `start`.
    pub(crate) fn get(&self, series: usize, start: u64) -> Option<Slots> {
        let entries = self.entries.lock();
        let e = entries.get(&series).filter(|e| e.start == start)?;
        Some(e.slots.clone().into())
    }

    /// Forgets the series at `series` (deleted or started again).
    pub(crate) fn remove(&self, series: usize) {
        self.entries.lock().remove(&series);
    }

    /// Forgets every series (the metric was reset).
    pub(crate) fn clear(&self) {
        self.entries.lock().clear();
    }
}
