//! tsmon's own background runtime: one thread running a small tokio runtime for the flush loop,
//! the pull endpoint and the signal handlers, whatever runtime (if any) the service uses. A
//! service on tokio, on another executor or on plain threads gets the same behaviour, and
//! tsmon's work never competes with the service's own tasks for its workers.
//!
//! ```
//! let answer = tsmon::runtime::block_on(async { 6 * 7 });
//! assert_eq!(answer, 42);
//! ```

use std::future::Future;
use std::sync::OnceLock;

/// A handle to the background runtime, started on first use.
///
/// # Panics
///
/// If the runtime's thread cannot be started (the process is out of threads or memory).
#[must_use]
pub fn handle() -> &'static tokio::runtime::Handle {
    static HANDLE: OnceLock<tokio::runtime::Handle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("tsmon".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        tracing::error!("tsmon: cannot start the background runtime: {e}");
                        return;
                    }
                };
                let _ = tx.send(rt.handle().clone());
                // Runs spawned tasks until the process exits.
                rt.block_on(std::future::pending::<()>());
            })
            .ok()
            .and_then(|_| rx.recv().ok())
            .unwrap_or_else(|| panic!("tsmon: the background runtime did not start"))
    })
}

/// Runs a future to completion on the calling thread, on a fresh current-thread runtime (with
/// timers and I/O). For sync code and tests; inside an async context, `.await` instead.
///
/// # Panics
///
/// When called from within a tokio runtime (tokio forbids nesting), or if the runtime cannot
/// be built.
pub fn block_on<F: Future>(f: F) -> F::Output {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(f),
        Err(e) => panic!("tsmon: cannot build a runtime: {e}"),
    }
}
