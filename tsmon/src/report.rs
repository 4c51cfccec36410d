//! Problems a user must see: refused settings, a monitor that cannot be built, a failing
//! allocator or monitor. Each goes to `tracing`; when no `tracing` subscriber would show it (none
//! is installed, or its filter drops it), tsmon writes it to stderr instead, once per distinct
//! problem (a failing flush prints when it starts failing, or fails differently, not at every
//! retry; a success re-arms it).
//!
//! ```
//! // Without a subscriber, the first report of a problem goes to stderr, the second does not.
//! assert!(tsmon::report::problem("example", "the example is broken"));
//! assert!(!tsmon::report::problem("example", "the example is broken"));
//! tsmon::report::resolved("example");
//! assert!(tsmon::report::problem("example", "the example is broken"));
//! ```

use std::collections::HashMap;
use std::io::Write;
use std::sync::OnceLock;

use parking_lot::Mutex;

/// At most this many topics are remembered; past it, one of them is forgotten.
const MAX_TOPICS: usize = 256;

fn seen() -> &'static Mutex<HashMap<String, String>> {
    static SEEN: OnceLock<Mutex<HashMap<String, String>>> = OnceLock::new();
    SEEN.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Reports a problem under `topic` (one line per topic while its message stays the same):
/// logged as an error, and written to stderr when no subscriber would show it and the
/// topic's last message was different. Returns whether it was written to stderr.
pub fn problem(topic: &str, message: impl std::fmt::Display) -> bool {
    let message = message.to_string();
    tracing::error!("tsmon: {message}");
    if tracing::enabled!(tracing::Level::ERROR) {
        return false;
    }
    let mut seen = seen().lock();
    if seen.get(topic) == Some(&message) {
        return false;
    }
    if seen.len() >= MAX_TOPICS
        && !seen.contains_key(topic)
        && let Some(k) = seen.keys().next().cloned()
    {
        seen.remove(&k);
    }
    seen.insert(topic.to_owned(), message.clone());
    drop(seen);
    // Not `eprintln!`, which panics when stderr is closed.
    let _ = writeln!(std::io::stderr(), "tsmon: {message}");
    true
}

/// The problem of `topic` is over: the next one is written again.
pub fn resolved(topic: &str) {
    seen().lock().remove(topic);
}
