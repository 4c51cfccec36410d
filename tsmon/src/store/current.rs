//! The current store: where a metric write on this thread goes. The entered State's store
//! (set by [`State::enter`](crate::State::enter)), else the global State's. The store layer
//! cannot name the State (it sits above), so the global store is found through a hook the
//! State registers at link time ([`TSMON_GLOBAL_STORE`]) and is cached after the first write.

// Unsafe code here: the current store is a thread-local raw pointer, kept alive by the entering guard; linkme declares the hook.
#![allow(unsafe_code)]

use std::cell::Cell;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicPtr, Ordering};

use crate::store::Store;

thread_local! {
    static CURRENT: Cell<*const Store> = const { Cell::new(std::ptr::null()) };
}

/// The global store once known.
static GLOBAL: AtomicPtr<Store> = AtomicPtr::new(std::ptr::null_mut());

/// Gives the global State's store, building that State on first use: registered by the State
/// (one entry).
#[linkme::distributed_slice]
pub(crate) static TSMON_GLOBAL_STORE: [fn() -> &'static Store];

#[inline]
fn global() -> &'static Store {
    let p = GLOBAL.load(Ordering::Acquire);
    if p.is_null() {
        init_global()
    } else {
        // SAFETY: `GLOBAL` only ever holds a pointer taken from a `&'static Store`.
        unsafe { &*p }
    }
}

#[cold]
fn init_global() -> &'static Store {
    let store: &'static Store = match TSMON_GLOBAL_STORE.first() {
        Some(provide) => provide(),
        // The State's module always registers one; a binary without it still counts.
        None => Box::leak(Box::new(Store::new(
            crate::target::Target::default(),
            crate::clock::MonotonicClock::new(Arc::new(crate::clock::SystemClock)),
            crate::store::DEFAULT_MAX_SERIES,
        ))),
    };
    GLOBAL.store(std::ptr::from_ref(store).cast_mut(), Ordering::Release);
    store
}

/// Makes `store` this thread's current store and returns the one it replaces (null: none).
///
/// # Safety
///
/// `store` (when not null) must point into an `Arc<Store>` that stays alive until it is
/// replaced again on this thread: the caller holds a strong reference to what owns it.
pub(crate) unsafe fn replace(store: *const Store) -> *const Store {
    CURRENT.with(|c| c.replace(store))
}

/// Runs `f` on the current store.
#[inline]
pub(crate) fn with_current_store<R>(f: impl FnOnce(&Store) -> R) -> R {
    let current = CURRENT.with(Cell::get);
    if current.is_null() {
        f(global())
    } else {
        // SAFETY: see `replace`: the entering guard keeps the store alive, and only this
        // thread can release it, which it does not do while `f` runs.
        f(unsafe { &*current })
    }
}

/// The current store for an instrumented call: the global one (which lives for the whole
/// process, so nothing is kept), or the entered one with a strong reference that keeps it alive
/// until the call ends, wherever that is.
#[inline]
pub(crate) fn current_store_for_call() -> (NonNull<Store>, Option<Arc<Store>>) {
    let current = CURRENT.with(Cell::get);
    if current.is_null() {
        (NonNull::from(global()), None)
    } else {
        // SAFETY: `current` came from `Arc::as_ptr` of a live `Arc<Store>` (see `replace`);
        // the count is raised before the borrow ends, so the store outlives the pointer.
        let keep = unsafe {
            Arc::increment_strong_count(current);
            Arc::from_raw(current)
        };
        (NonNull::from(&*keep), Some(keep))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Arc<Store> {
        // A target written out: `Target::new` reads the host name, which Miri's isolation refuses.
        let target = crate::target::Target {
            service_name: "service".into(),
            job_name: "job".into(),
            data_center: "dc".into(),
            host_name: "host".into(),
            task_num: 0,
        };
        Arc::new(Store::new(
            target,
            crate::clock::MonotonicClock::new(Arc::new(crate::clock::SystemClock)),
            10,
        ))
    }

    #[test]
    fn the_entered_store_is_current_until_replaced() {
        let (a, b) = (store(), store());
        // SAFETY: `a` and `b` outlive their time as the current store (restored below).
        let before = unsafe { replace(Arc::as_ptr(&a)) };
        assert!(
            before.is_null(),
            "a test thread starts with no current store"
        );
        with_current_store(|s| assert!(std::ptr::eq(s, &*a)));
        let was = unsafe { replace(Arc::as_ptr(&b)) };
        assert!(std::ptr::eq(was, &*a));
        with_current_store(|s| assert!(std::ptr::eq(s, &*b)));
        let was = unsafe { replace(before) };
        assert!(std::ptr::eq(was, &*b));
    }

    #[test]
    fn a_call_keeps_the_entered_store_alive_past_its_owner() {
        let a = store();
        let id = a.id;
        // SAFETY: `a` is alive while current; the slot is cleared before `a` is dropped.
        let before = unsafe { replace(Arc::as_ptr(&a)) };
        let (ptr, keep) = current_store_for_call();
        let keep = keep.expect("an entered store is kept for the call");
        assert_eq!(Arc::strong_count(&a), 2);
        unsafe { replace(before) };
        drop(a);
        assert_eq!(Arc::strong_count(&keep), 1);
        // SAFETY: `keep` owns the store `ptr` points to.
        assert_eq!(unsafe { ptr.as_ref() }.id, id);
        assert!(std::ptr::eq(ptr.as_ptr(), Arc::as_ptr(&keep)));
    }

    #[test]
    // The global store comes through a linkme hook, which Miri cannot read.
    #[cfg_attr(miri, ignore)]
    fn with_none_entered_writes_go_to_one_global_store() {
        let first = with_current_store(std::ptr::from_ref);
        let (ptr, keep) = current_store_for_call();
        assert!(
            keep.is_none(),
            "the global store lives for the process: nothing to keep"
        );
        assert!(std::ptr::eq(first, ptr.as_ptr()));
        assert!(std::ptr::eq(first, with_current_store(std::ptr::from_ref)));
    }
}
