//! Resolved handles by (name, code, flag), per layer and State: a recorded exchange costs one
//! hash and a thread-local probe instead of a lookup per metric.
//!
//! Each layer's handle set (`HandleSet`) says how to resolve its series and keeps its own
//! thread-local table, so no lock word bounces between a server's threads; the shared table
//! behind them fills the thread-local ones. Both are bounded ([`CACHE_LIMIT`] entries): past
//! that, an exchange resolves its handles each time (still correct, only slower).

use std::cell::RefCell;
use std::sync::{Arc, OnceLock};
use std::thread::LocalKey;

/// The most entries a table keeps.
pub(crate) const CACHE_LIMIT: usize = 4096;

/// The handles one layer resolves for a (name, code, flag).
pub(crate) trait HandleSet: Sized + Send + Sync + 'static {
    /// What every set of one layer shares (a client's name, say).
    type Ctx: Send + Sync + 'static;
    /// Resolves the handles, inside the State's scope.
    fn build(ctx: &Self::Ctx, name: &str, code: i64, flag: bool) -> Self;
    /// This kind of set's thread-local table (declare it with `thread_local!`).
    fn local() -> &'static LocalKey<RefCell<Local<Self>>>;
}

/// A thread's table of handle sets, across every cache of one kind.
pub(crate) type Local<H> = hashbrown::HashTable<LocalEntry<H>>;

/// One entry of a thread's table.
pub(crate) struct LocalEntry<H> {
    cache: u64,
    state: u64,
    name: Box<str>,
    code: i64,
    flag: bool,
    handles: Arc<H>,
}

/// (name, code, flag, handles).
type SharedEntry<H> = (Box<str>, i64, bool, Arc<H>);

/// The handle sets of one layer for one State.
pub(crate) struct Cache<H: HandleSet> {
    /// Unique for the process's life (an address could be reused by another layer's cache).
    id: u64,
    state_id: u64,
    ctx: H::Ctx,
    table: parking_lot::RwLock<hashbrown::HashTable<SharedEntry<H>>>,
}

fn hash(name: &str, code: i64, flag: bool) -> u64 {
    use std::hash::BuildHasher as _;
    foldhash::fast::FixedState::with_seed(0x6874_7470).hash_one((name, code, flag))
}

impl<H: HandleSet> Cache<H> {
    /// The context the sets of this cache share.
    pub(crate) fn ctx(&self) -> &H::Ctx {
        &self.ctx
    }

    /// Runs `f` on the handles of (name, code, flag) in `state`, from this thread's table,
    /// filled from the shared one. `false` (and `f` not run) when this cache is not for
    /// `state`.
    pub(crate) fn with(
        &self,
        state: &crate::State,
        name: &str,
        code: i64,
        flag: bool,
        f: impl FnOnce(&H),
    ) -> bool {
        self.probe(state, name, code, flag, |h| f(h)).is_some()
    }

    /// The handles of (name, code, flag), shared (for an exchange that keeps them while it
    /// runs). `None` when this cache is not for `state`.
    #[cfg_attr(not(feature = "grpc"), allow(dead_code))]
    pub(crate) fn get(
        &self,
        state: &crate::State,
        name: &str,
        code: i64,
        flag: bool,
    ) -> Option<Arc<H>> {
        self.probe(state, name, code, flag, Arc::clone)
    }

    /// The handles of (name, code, flag) if this cache or this thread's table holds them
    /// already; never resolves them.
    #[cfg_attr(not(feature = "grpc"), allow(dead_code))]
    pub(crate) fn peek(
        &self,
        state: &crate::State,
        name: &str,
        code: i64,
        flag: bool,
    ) -> Option<Arc<H>> {
        if state.inner.id != self.state_id {
            return None;
        }
        let me = self.id;
        let h = hash(name, code, flag) ^ me.rotate_left(17);
        let local = H::local()
            .try_with(|t| {
                let t = t.try_borrow().ok()?;
                let e = t.find(h, |e| {
                    e.cache == me && e.code == code && e.flag == flag && &*e.name == name
                })?;
                Some(e.handles.clone())
            })
            .ok()
            .flatten();
        local.or_else(|| {
            self.table
                .read()
                .find(hash(name, code, flag), |e| {
                    e.1 == code && e.2 == flag && &*e.0 == name
                })
                .map(|e| e.3.clone())
        })
    }

    fn probe<R>(
        &self,
        state: &crate::State,
        name: &str,
        code: i64,
        flag: bool,
        f: impl FnOnce(&Arc<H>) -> R,
    ) -> Option<R> {
        if state.inner.id != self.state_id {
            return None;
        }
        let me = self.id;
        let h = hash(name, code, flag) ^ me.rotate_left(17);
        let eq = |e: &LocalEntry<H>| {
            e.cache == me
                && e.state == self.state_id
                && e.code == code
                && e.flag == flag
                && &*e.name == name
        };
        let mut f = Some(f);
        let mut out = None;
        let _ = H::local().try_with(|t| {
            if let Ok(t) = t.try_borrow()
                && let Some(e) = t.find(h, eq)
                && let Some(f) = f.take()
            {
                out = Some(f(&e.handles));
            }
        });
        let Some(f) = f else {
            return out;
        };
        let handles = self.shared(state, name, code, flag);
        let _ = H::local().try_with(|t| {
            if let Ok(mut t) = t.try_borrow_mut()
                && t.len() < CACHE_LIMIT
            {
                let entry = LocalEntry {
                    cache: me,
                    state: self.state_id,
                    name: name.into(),
                    code,
                    flag,
                    handles: handles.clone(),
                };
                t.insert_unique(h, entry, |e| {
                    hash(&e.name, e.code, e.flag) ^ e.cache.rotate_left(17)
                });
            }
        });
        Some(f(&handles))
    }

    fn shared(&self, state: &crate::State, name: &str, code: i64, flag: bool) -> Arc<H> {
        let h = hash(name, code, flag);
        if let Some(e) = self
            .table
            .read()
            .find(h, |e| e.1 == code && e.2 == flag && &*e.0 == name)
        {
            return e.3.clone();
        }
        let handles = state.in_scope(|| Arc::new(H::build(&self.ctx, name, code, flag)));
        let mut table = self.table.write();
        if table.len() < CACHE_LIMIT {
            table.insert_unique(h, (name.into(), code, flag, handles.clone()), |e| {
                hash(&e.0, e.1, e.2)
            });
        }
        handles
    }
}

/// A layer's cache, made for the first State it records into. A layer used with another State
/// after that (a test's, say) resolves its handles each time there.
pub(crate) struct CacheSlot<H: HandleSet>(Arc<OnceLock<Arc<Cache<H>>>>);

impl<H: HandleSet> Clone for CacheSlot<H> {
    fn clone(&self) -> Self {
        CacheSlot(self.0.clone())
    }
}

impl<H: HandleSet> Default for CacheSlot<H> {
    fn default() -> Self {
        CacheSlot(Arc::default())
    }
}

impl<H: HandleSet> CacheSlot<H> {
    /// The cache for `state`, made on first use with `ctx`.
    pub(crate) fn for_state(
        &self,
        state: &crate::State,
        ctx: impl FnOnce() -> H::Ctx,
    ) -> Option<Arc<Cache<H>>> {
        let id = state.inner.id;
        let cache = self.0.get_or_init(|| {
            static IDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
            Arc::new(Cache {
                id: IDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                state_id: id,
                ctx: ctx(),
                table: parking_lot::RwLock::default(),
            })
        });
        (cache.state_id == id).then(|| cache.clone())
    }
}
