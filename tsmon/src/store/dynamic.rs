//! The slots of metrics registered at run time (the `metrics` facade's, an attached
//! registry's): made in a store when first written, then treated as a declared metric's by
//! every snapshot, visit and setting.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use super::{AnyStore, Series, Store, StoreSlot};
use crate::desc::MetricDesc;
use crate::field::{KeyBuf, put_varint};
use crate::store::ExemplarTable;

/// A series of a runtime metric, as a handle needs it.
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) struct DynamicSeries<C> {
    pub(crate) series: Arc<Series<C>>,
    pub(crate) exemplars: Arc<ExemplarTable>,
    /// It is the metric's overflow series (its cap was reached): not to be kept by a cache,
    /// so each write through it is counted.
    pub(crate) overflow: bool,
}

/// The key of a runtime metric's series under the default target: its string field values,
/// in field order, written as a declared `String` field's are.
#[cfg_attr(
    not(any(
        feature = "metrics",
        feature = "prometheus",
        feature = "prometheus-client"
    )),
    allow(dead_code)
)]
pub(crate) fn string_key<'a>(values: impl IntoIterator<Item = &'a str>) -> KeyBuf {
    use crate::field::FieldMarker as _;
    let mut key = KeyBuf::new();
    put_varint(&mut key, 0);
    for v in values {
        crate::field::Str::encode(v, &mut key);
    }
    key
}

/// A hook run before every snapshot and visit of a store (see [`Store::add_collector`]).
pub(crate) type Collector = Arc<dyn Fn(&Store) + Send + Sync>;

impl Store {
    /// Runs `f` before every snapshot and visit from now on: it brings values from elsewhere
    /// (an attached registry) into the store's runtime metrics.
    #[cfg_attr(
        not(any(feature = "prometheus", feature = "prometheus-client")),
        allow(dead_code)
    )]
    pub(crate) fn add_collector(&self, f: Collector) {
        self.collectors.write().push(f);
    }

    /// Claims the runtime metric `id` in this store for `owner` (the facade's recorders, or
    /// one attached registry): `false` when another owner has it, so one name is one family.
    #[cfg_attr(
        not(any(
            feature = "metrics",
            feature = "prometheus",
            feature = "prometheus-client"
        )),
        allow(dead_code)
    )]
    pub(crate) fn claim_dynamic(&self, id: usize, owner: u64) -> bool {
        let mut claims = self.claims.lock();
        match claims.iter().find(|c| c.0 == id) {
            Some(&(_, o)) => o == owner,
            None => {
                claims.push((id, owner));
                true
            }
        }
    }

    pub(super) fn run_collectors(&self) {
        let collectors = self.collectors.read().clone();
        for c in collectors {
            c(self);
        }
    }

    /// Runs `f` on every slot: the declared metrics', then the runtime ones'.
    pub(super) fn each_store(&self, mut f: impl FnMut(&AnyStore)) {
        self.metrics.iter().for_each(&mut f);
        for m in self.dynamic.read().iter().flatten() {
            f(m);
        }
    }

    /// Runs `f` on every slot but aliases, in metric name order (a snapshot's order).
    pub(super) fn each_by_name(&self, mut f: impl FnMut(&AnyStore)) {
        self.each_by_name_while(|m| {
            f(m);
            true
        });
    }

    /// [`each_by_name`](Self::each_by_name) until `f` returns false.
    pub(super) fn each_by_name_while(&self, mut f: impl FnMut(&AnyStore) -> bool) {
        let dynamic = self.dynamic.read();
        let catalog = crate::registry::catalog();
        if dynamic.is_empty() {
            for &i in &self.by_name {
                if let Some(m) = self.metrics.get(i)
                    && !f(m)
                {
                    return;
                }
            }
            return;
        }
        let mut extra: Vec<(&str, &AnyStore)> = dynamic
            .iter()
            .flatten()
            .map(|m| (any_store!(&**m, s => s.desc.name, alias => ""), &**m))
            .collect();
        extra.sort_by_key(|&(name, _)| name);
        let mut extra = extra.into_iter().peekable();
        for &i in &self.by_name {
            let name = catalog[i].name;
            while let Some((_, m)) = extra.next_if(|&(n, _)| n < name) {
                if !f(m) {
                    return;
                }
            }
            if let Some(m) = self.metrics.get(i)
                && !f(m)
            {
                return;
            }
        }
        for (_, m) in extra {
            if !f(m) {
                return;
            }
        }
    }

    /// The series of the runtime metric `id` (described by `desc`) with this key (the target
    /// id, then the field values), made if missing: `None` when the cell type is not the
    /// metric's.
    #[cfg_attr(
        not(any(
            feature = "metrics",
            feature = "prometheus",
            feature = "prometheus-client"
        )),
        allow(dead_code)
    )]
    pub(crate) fn dynamic_series<C: StoreSlot>(
        &self,
        id: usize,
        desc: &'static MetricDesc,
        key: &[u8],
    ) -> Option<DynamicSeries<C>> {
        let find = |m: &AnyStore| {
            let slot = C::slot(m)?;
            let hash = slot.key_hash(key);
            slot.with_series_hashed(key, hash, &self.clock, true, |s, overflow| DynamicSeries {
                series: Arc::clone(s),
                exemplars: Arc::clone(&slot.exemplars),
                overflow,
            })
        };
        if let Some(Some(m)) = self.dynamic.read().get(id) {
            return find(m);
        }
        let mut all = self.dynamic.write();
        if all.len() <= id {
            all.resize_with(id + 1, || None);
        }
        let m = all[id].get_or_insert_with(|| {
            let m = AnyStore::new(desc, self.default_max.load(Relaxed));
            // The facade's histograms follow `native_histograms = "all"`; an attached registry's
            // keep the buckets they are copied with.
            if let AnyStore::Dist(s) = &m
                && desc.site.crate_name == "metrics"
            {
                let classic = desc.bucketer.is_none_or(|b| b.native_spec().is_none());
                s.native
                    .store(classic && self.native_all.load(Relaxed), Relaxed);
            }
            Box::new(m)
        });
        find(m)
    }
}
