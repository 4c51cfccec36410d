//! Striping: a base value plus, once the value sees contention, one copy per core on its own
//! cache line (Java's `LongAdder` scheme), so a hot series written from many threads does not
//! bounce one cache line. Every cell kind with read-modify-writes builds on it.

use std::cell::Cell as StdCell;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering::*};

use once_cell::race::OnceBox;

/// One stripe per cache line.
#[repr(align(128))]
#[derive(Debug, Default)]
pub(crate) struct Pad<T>(pub(crate) T);

fn stripe_count() -> usize {
    static COUNT: OnceLock<usize> = OnceLock::new();
    *COUNT.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(4, |n| n.get())
            .next_power_of_two()
            .clamp(2, 64)
    })
}

thread_local! {
    static PROBE: StdCell<usize> = const { StdCell::new(0) };
}

#[inline]
fn probe() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    PROBE.with(|p| {
        let v = p.get();
        if v != 0 {
            v
        } else {
            let v = NEXT.fetch_add(1, Relaxed).max(1);
            p.set(v);
            v
        }
    })
}

/// Moves this thread to another stripe after a collision (xorshift).
fn rehash() -> usize {
    PROBE.with(|p| {
        let mut x = p.get().max(1);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p.set(x.max(1));
        x
    })
}

/// What can be striped: a fresh empty copy, and a merge.
pub(crate) trait Stripe: Send + Sync + Sized + 'static {
    fn empty_like(&self) -> Self;
}

/// A base value plus, once contended, one stripe per core. The stripes are made once and
/// published through `once_cell`'s `OnceBox` (a pointer-sized, safe once-cell: `OnceLock`
/// would cost every cell 8 to 16 bytes more), so no unsafe code is needed here.
#[derive(Debug)]
pub(crate) struct Striped<T: Stripe> {
    base: T,
    stripes: OnceBox<Box<[Pad<T>]>>,
}

impl<T: Stripe> Striped<T> {
    pub(crate) fn new(base: T) -> Self {
        Striped {
            base,
            stripes: OnceBox::new(),
        }
    }

    /// Applies a write: `try_op` once (it returns false on contention), and `op`, which always
    /// succeeds, on a stripe after contention.
    #[inline]
    pub(crate) fn write(&self, try_op: impl Fn(&T) -> bool, op: impl Fn(&T)) {
        match self.stripes.get() {
            None => {
                if try_op(&self.base) {
                    return;
                }
                let stripes = self.inflate();
                op(&stripes[probe() & (stripes.len() - 1)].0);
            }
            Some(stripes) => {
                let mask = stripes.len() - 1;
                if !try_op(&stripes[probe() & mask].0) {
                    op(&stripes[rehash() & mask].0);
                }
            }
        }
    }

    /// The base, while no write has met contention (no stripes yet).
    #[inline]
    pub(crate) fn unstriped(&self) -> Option<&T> {
        self.stripes.get().is_none().then_some(&self.base)
    }

    #[cold]
    fn inflate(&self) -> &[Pad<T>] {
        self.stripes.get_or_init(|| {
            Box::new(
                (0..stripe_count())
                    .map(|_| Pad(self.base.empty_like()))
                    .collect(),
            )
        })
    }

    /// The base and every stripe.
    pub(crate) fn parts(&self) -> impl Iterator<Item = &T> {
        let stripes: &[Pad<T>] = self.stripes.get().map_or(&[], |s| &s[..]);
        std::iter::once(&self.base).chain(stripes.iter().map(|p| &p.0))
    }

    pub(crate) fn base(&self) -> &T {
        &self.base
    }
}

impl Stripe for AtomicI64 {
    fn empty_like(&self) -> Self {
        AtomicI64::new(0)
    }
}

impl Stripe for AtomicU64 {
    fn empty_like(&self) -> Self {
        AtomicU64::new(0f64.to_bits())
    }
}

#[inline]
pub(crate) fn cas_add_f64(a: &AtomicU64, x: f64) -> bool {
    let cur = a.load(Relaxed);
    a.compare_exchange(cur, (f64::from_bits(cur) + x).to_bits(), Relaxed, Relaxed)
        .is_ok()
}

#[inline]
pub(crate) fn add_f64(a: &AtomicU64, x: f64) {
    let _ = a.fetch_update(Relaxed, Relaxed, |cur| {
        Some((f64::from_bits(cur) + x).to_bits())
    });
}
