//! A metric's slot in the store, whatever its kind ([`AnyStore`]), and how a cell type finds
//! its own ([`StoreSlot`]). Public only in name: the metric kinds' sealed `Kind` trait names
//! `StoreSlot`, and this module is private, so neither is reachable from outside the crate.

use std::cell::RefCell;

use super::cell::{BoolCell, CellType, DistCell, FloatCell, IntCell, NcDistCell, StrCell};
use super::series::{LookupCache, MetricStore};
use crate::desc::{MetricDesc, MetricKind};

/// The slot of one metric, whatever its kind.
#[derive(Debug)]
pub enum AnyStore {
    Int(MetricStore<IntCell>),
    Float(MetricStore<FloatCell>),
    Bool(MetricStore<BoolCell>),
    Str(MetricStore<StrCell>),
    Dist(MetricStore<DistCell>),
    NcDist(MetricStore<NcDistCell>),
    /// A further declaration of a shared metric: its series live in the slot of the first one.
    Alias(usize),
}

/// How a cell type finds its slot, and this thread's lookup cache for it.
pub trait StoreSlot: CellType {
    fn slot(any: &AnyStore) -> Option<&MetricStore<Self>>;
    /// Runs `f` on this thread's lookup cache; `None` if it is in use further up the stack or
    /// the thread is exiting.
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
    pub(super) fn new(desc: &'static MetricDesc, default_max: usize) -> Self {
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
