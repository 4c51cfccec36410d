//! A counting global allocator for the benches' memory figures: every bench binary that
//! includes this module (`#[path = "support/counting.rs"] mod counting;`) counts the bytes it
//! holds in [`ALLOCATED`].

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Forwards to the system allocator, counting.
pub(crate) struct Counting;

/// The bytes allocated and not yet freed.
pub(crate) static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

/// The most [`ALLOCATED`] has been since the last [`reset_peak`].
pub(crate) static PEAK: AtomicUsize = AtomicUsize::new(0);

/// Starts a new peak from the bytes allocated now; returns them.
#[allow(dead_code)]
pub(crate) fn reset_peak() -> usize {
    let now = ALLOCATED.load(Relaxed);
    PEAK.store(now, Relaxed);
    now
}

// SAFETY: forwards to the system allocator, only counting.
// Unsafe code: a counting `GlobalAlloc` (an unsafe trait) that forwards to the system one.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = ALLOCATED.fetch_add(layout.size(), Relaxed) + layout.size();
        PEAK.fetch_max(now, Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        ALLOCATED.fetch_sub(layout.size(), Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let now = ALLOCATED.fetch_add(new_size, Relaxed) + new_size;
        PEAK.fetch_max(now, Relaxed);
        ALLOCATED.fetch_sub(layout.size(), Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;
