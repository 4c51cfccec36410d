//! An opt-in counting global allocator, the counterpart of Go's `go/mem/*` figures: bytes in
//! use, and allocations and frees in total. It wraps any other allocator.
//!
//! ```
//! use tsmon::alloc::CountingAllocator;
//!
//! #[global_allocator]
//! static ALLOC: CountingAllocator = CountingAllocator::system();
//!
//! let before = tsmon::alloc::stats().unwrap();
//! let v: Vec<u8> = Vec::with_capacity(4096);
//! let after = tsmon::alloc::stats().unwrap();
//! assert!(after.allocations > before.allocations);
//! assert!(after.in_use_bytes >= before.in_use_bytes + 4096);
//! drop(v);
//! ```
//!
//! Counts go to one of 64 stripes, picked per thread, each on its own cache line: an
//! allocation costs a relaxed add on a line that other threads rarely touch.

// Unsafe code here: a `GlobalAlloc` (an unsafe trait) that forwards to the system allocator and counts.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};

const STRIPES: usize = 64;

#[repr(align(128))]
struct Stripe {
    allocs: AtomicU64,
    frees: AtomicU64,
    allocated: AtomicU64,
    freed: AtomicU64,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Stripe = Stripe {
    allocs: AtomicU64::new(0),
    frees: AtomicU64::new(0),
    allocated: AtomicU64::new(0),
    freed: AtomicU64::new(0),
};

static COUNTS: [Stripe; STRIPES] = [EMPTY; STRIPES];
static INSTALLED: AtomicBool = AtomicBool::new(false);

thread_local! {
    static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
}

#[inline]
fn stripe() -> &'static Stripe {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    // `try_with`: during thread teardown the slot may be gone; stripe 0 then.
    let i = STRIPE
        .try_with(|s| {
            let mut i = s.get();
            if i == usize::MAX {
                i = NEXT.fetch_add(1, Relaxed) % STRIPES;
                s.set(i);
            }
            i
        })
        .unwrap_or(0);
    &COUNTS[i]
}

/// A global allocator that counts, over `A` (the system allocator by default).
#[derive(Debug, Default)]
pub struct CountingAllocator<A = System> {
    inner: A,
}

impl CountingAllocator<System> {
    /// Over the system allocator.
    #[must_use]
    pub const fn system() -> Self {
        CountingAllocator { inner: System }
    }
}

impl<A> CountingAllocator<A> {
    /// Over `inner` (jemalloc, mimalloc, …).
    #[must_use]
    pub const fn new(inner: A) -> Self {
        CountingAllocator { inner }
    }
}

#[inline]
fn count_alloc(size: usize) {
    let s = stripe();
    s.allocs.fetch_add(1, Relaxed);
    s.allocated.fetch_add(size as u64, Relaxed);
    if !INSTALLED.load(Relaxed) {
        INSTALLED.store(true, Relaxed);
    }
}

#[inline]
fn count_free(size: usize) {
    let s = stripe();
    s.frees.fetch_add(1, Relaxed);
    s.freed.fetch_add(size as u64, Relaxed);
}

// SAFETY: every method forwards to `inner` under the same contract, and only counts.
unsafe impl<A: GlobalAlloc> GlobalAlloc for CountingAllocator<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is `inner`'s.
        let p = unsafe { self.inner.alloc(layout) };
        if !p.is_null() {
            count_alloc(layout.size());
        }
        p
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { self.inner.alloc_zeroed(layout) };
        if !p.is_null() {
            count_alloc(layout.size());
        }
        p
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { self.inner.dealloc(ptr, layout) };
        count_free(layout.size());
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { self.inner.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            // Counted as a free of the old block and an allocation of the new one.
            count_free(layout.size());
            count_alloc(new_size);
        }
        p
    }
}

/// The counting allocator's figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AllocStats {
    /// Bytes allocated and not yet freed.
    pub in_use_bytes: u64,
    /// Bytes allocated in total.
    pub allocated_bytes: u64,
    /// Allocations in total.
    pub allocations: u64,
    /// Frees in total.
    pub frees: u64,
}

/// The figures, or `None` when [`CountingAllocator`] is not the global allocator.
#[must_use]
pub fn stats() -> Option<AllocStats> {
    if !INSTALLED.load(Relaxed) {
        return None;
    }
    let mut s = AllocStats::default();
    let mut freed = 0u64;
    for stripe in &COUNTS {
        s.allocations += stripe.allocs.load(Relaxed);
        s.frees += stripe.frees.load(Relaxed);
        s.allocated_bytes += stripe.allocated.load(Relaxed);
        freed += stripe.freed.load(Relaxed);
    }
    s.in_use_bytes = s.allocated_bytes.saturating_sub(freed);
    Some(s)
}
