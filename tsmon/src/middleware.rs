//! What tsmon's tower layers share (the HTTP server and client layers and the gRPC ones): the
//! State an exchange records into, a per-layer cache of resolved handles, a body that counts
//! what goes through it, and a guard that records a panic.
//!
//! Each layer keeps its own metrics and decides what an exchange's outcome is; these pieces
//! only carry the bytes, the trailers and the end of a body to it.

pub(crate) mod body;
pub(crate) mod cache;

pub(crate) use body::{Counted, Observer, OnPanic, observed_body};
pub(crate) use cache::{CacheSlot, HandleSet};

/// The State an exchange records into: the global one needs no reference count.
pub(crate) enum StateRef {
    Global(&'static crate::State),
    Owned(crate::State),
}

impl StateRef {
    /// The State a layer records into: the one it was given, else the one entered on this
    /// thread, else the global one. `None` when that State's store is off, so a layer costs no
    /// clock and no allocation then.
    pub(crate) fn resolve(given: Option<&crate::State>) -> Option<StateRef> {
        let state = match given {
            // Off: not even a reference count.
            Some(s) if !s.store().is_enabled() => return None,
            Some(s) => StateRef::Owned(s.clone()),
            None => match crate::state::current_if_entered() {
                Some(s) => StateRef::Owned(s),
                None => StateRef::Global(crate::State::global()),
            },
        };
        state.get().store().is_enabled().then_some(state)
    }

    pub(crate) fn get(&self) -> &crate::State {
        match self {
            StateRef::Global(s) => s,
            StateRef::Owned(s) => s,
        }
    }
}

/// The call clock's ticks now (the TSC where reliable): cheaper than `Instant::now`.
pub(crate) fn now() -> u64 {
    crate::instrument::ticks::now()
}

/// Seconds since `start` (ticks from [`now`]).
pub(crate) fn seconds_since(start: u64) -> f64 {
    crate::instrument::ticks::nanos(start, now()) as f64 * 1e-9
}
