//! Flushing: settings applied on the fly, the task-number state machine, and the Go flush
//! scheduling (server/tsmon's `flushIfNeededImpl`).
//!
//! - One flush at a time per State; a flush is due when `now + 100 ms >= next`.
//! - Each flush runs under the flush timeout: callbacks, then the task number, then the
//!   snapshot, split into chunks sent by at most `num_flush_workers` at once.
//! - Success, or no task number yet: the next flush is one interval later (and the retry delay
//!   goes back to 5 s). Failure: the next flush is `retry` later, and `retry` doubles, up to 10
//!   minutes (Go doubles while below 10 minutes, so it stops at 640 s; here the cap is exact).
//! - When no flush has succeeded for five intervals, an error is logged.
//!
//! ```
//! use tsmon::monitor::FakeMonitor;
//! tsmon::metric! {
//!     /// Orders.
//!     static ORDERS: Counter = "example/flush/orders";
//! }
//! let fake = FakeMonitor::new();
//! let state = tsmon::State::builder().with_monitor(fake.clone()).build().unwrap();
//! state.in_scope(|| ORDERS.add(2, ()));
//! tsmon::runtime::block_on(state.flush()).unwrap();
//! let sent = fake.sent();
//! assert_eq!(sent.len(), 1);
//! assert!(sent[0].metric("example/flush/orders").is_some());
//! ```

use std::sync::Arc;
use std::time::Duration;

use crate::error::Error;
pub use crate::schedule::{INITIAL_RETRY, MAX_RETRY};
pub use crate::settings::SettingsSource;
pub use crate::state::{Background, DROPPED_CELLS, FLUSHES};

/// What [`start_main`] keeps running: the global State's flush loop, the settings watcher and
/// the signal handlers. Dropping it (when `main` returns, or unwinds) stops them after a final
/// flush.
#[derive(Debug)]
#[must_use = "dropping it stops the flush loop after a final flush"]
pub struct Running {
    background: Arc<parking_lot::Mutex<Option<Background>>>,
    signals: tokio::task::JoinHandle<()>,
    /// Told when a signal's final flush is over (the process then exits).
    signal_done: std::sync::mpsc::Receiver<()>,
}

/// Installs the global State from `builder` (reading the environment too, as
/// [`StateBuilder::with_env`](crate::StateBuilder::with_env) says), starts its flush loop, and
/// handles ctrl-c and SIGTERM: the flush under way finishes, a final flush follows, then the
/// process exits with status 130 or 143. What `#[tsmon::main]` calls; for services that write
/// their own `main`.
///
/// ```no_run
/// let _tsmon = tsmon::flush::start_main(
///     tsmon::State::builder().with_target(tsmon::Target::new("shop", "worker")),
/// )
/// .expect("tsmon");
/// // ... the service; a final flush when `_tsmon` is dropped at the end of `main` ...
/// ```
///
/// # Errors
///
/// As [`StateBuilder::install_global`](crate::StateBuilder::install_global).
pub fn start_main(builder: crate::StateBuilder) -> Result<Running, Error> {
    let state = builder.with_env().install_global()?;
    let background = Arc::new(parking_lot::Mutex::new(Some(state.start())));
    let on_signal = background.clone();
    let (done_tx, signal_done) = std::sync::mpsc::channel();
    // The handlers are registered before this returns, so a signal that comes right after is
    // caught.
    let signals = Signals::register();
    let signals = crate::runtime::handle().spawn(async move {
        let code = signals.wait().await;
        let taken = on_signal.lock().take();
        if let Some(b) = taken
            && let Err(e) = b.shutdown().await
        {
            crate::report::problem("final flush", format_args!("the final flush failed: {e}"));
        }
        let _ = done_tx.send(());
        std::process::exit(code);
    });
    Ok(Running {
        background,
        signals,
        signal_done,
    })
}

/// Ctrl-c / SIGINT (exit status 130) and, on Unix, SIGTERM (143).
#[cfg(feature = "signals")]
struct Signals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

/// Without the `signals` feature no signal is watched: the final flush comes when `main`
/// returns (or unwinds), and a signal ends the process as it would without tsmon.
#[cfg(not(feature = "signals"))]
struct Signals;

#[cfg(not(feature = "signals"))]
impl Signals {
    fn register() -> Self {
        Signals
    }

    async fn wait(self) -> i32 {
        std::future::pending().await
    }
}

#[cfg(feature = "signals")]
impl Signals {
    fn register() -> Self {
        let _guard = crate::runtime::handle().enter();
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let open = |kind: SignalKind, name: &str| match signal(kind) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!("tsmon: cannot watch {name}: {e}");
                    None
                }
            };
            Signals {
                interrupt: open(SignalKind::interrupt(), "SIGINT"),
                terminate: open(SignalKind::terminate(), "SIGTERM"),
            }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    async fn wait(self) -> i32 {
        #[cfg(unix)]
        {
            async fn next(s: Option<tokio::signal::unix::Signal>) {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                () = next(self.interrupt) => 130,
                () = next(self.terminate) => 143,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            130
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let taken = self.background.lock().take();
        if taken.is_some() {
            self.signals.abort();
            drop(taken);
        } else if !self.signals.is_finished() {
            // A signal is being handled: its final flush is under way, and the process exits
            // when it ends. Returning now would let `main` end the process first.
            let _ = self.signal_done.recv_timeout(Duration::from_secs(600));
        }
    }
}
