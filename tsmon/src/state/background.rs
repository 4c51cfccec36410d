//! A State's background work: the flush loop and the settings-file watcher on tsmon's own
//! runtime, stopped with a final flush.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::Error;
use crate::state::State;

/// Background work started by [`State::start`]: stopped (with a final flush) by
/// [`Background::shutdown`] or when dropped.
///
/// Stopping never cuts a flush short: a periodic flush under way is waited for (it is bounded
/// by the flush timeout), then one final flush sends what was written since, then the monitor
/// is closed. So a stop takes at most about twice the flush timeout.
#[derive(Debug)]
#[must_use = "dropping it stops the flush loop after a final flush"]
pub struct Background {
    state: State,
    stop: tokio::sync::watch::Sender<bool>,
    flush_loop: Option<tokio::task::JoinHandle<()>>,
    watcher: Option<tokio::task::JoinHandle<()>>,
    done: bool,
}

impl State {
    /// Starts the flush loop (and the settings-file watcher, when there is a file) on tsmon's
    /// background runtime. Keep the returned value alive; [`Background::shutdown`] (or dropping
    /// it) stops the loop and flushes one last time.
    pub fn start(&self) -> Background {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let handle = crate::runtime::handle();
        let flush_loop = Some(handle.spawn(flush_loop(self.clone(), stopped.clone())));
        let file = self.inner.control.lock().settings_file.clone();
        let watcher = file.map(|path| {
            // The file as it is now: a change from here on is applied, even one made before
            // the watcher's first look.
            let seen = file_stamp(&path);
            handle.spawn(watch_loop(self.clone(), path, seen, stopped))
        });
        Background {
            state: self.clone(),
            stop,
            flush_loop,
            watcher,
            done: false,
        }
    }
}

impl Background {
    /// Stops the loop, waits for a flush under way (within the flush timeout), flushes one
    /// last time (under the flush timeout) and closes the monitor.
    ///
    /// ```
    /// let fake = tsmon::monitor::FakeMonitor::new();
    /// let state = tsmon::State::builder().with_monitor(fake.clone()).build().unwrap();
    /// let background = state.start();
    /// tsmon::runtime::block_on(background.shutdown()).unwrap();
    /// assert!(!fake.sent().is_empty(), "the final flush");
    /// ```
    ///
    /// # Errors
    ///
    /// The final flush's error.
    pub async fn shutdown(mut self) -> Result<(), Error> {
        self.stop_and_flush().await
    }

    async fn stop_and_flush(&mut self) -> Result<(), Error> {
        if self.done {
            return Ok(());
        }
        self.done = true;
        let _ = self.stop.send(true);
        if let Some(w) = self.watcher.take() {
            w.abort();
        }
        if let Some(mut l) = self.flush_loop.take() {
            // The loop ends after the flush it may be in; that flush is bounded by its
            // timeout, and a second is the margin.
            let bound = self.state.settings().flush_timeout + Duration::from_secs(1);
            if tokio::time::timeout(bound, &mut l).await.is_err() {
                l.abort();
            }
        }
        let result = if self.state.settings().enabled {
            self.state.flush().await
        } else {
            Ok(())
        };
        let _ = self.state.monitor().close().await;
        result
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // The final flush runs on the background runtime; this thread waits for it, whatever
        // runtime (if any) it is part of.
        let (tx, rx) = std::sync::mpsc::channel();
        let mut this = Background {
            state: self.state.clone(),
            stop: self.stop.clone(),
            flush_loop: self.flush_loop.take(),
            watcher: self.watcher.take(),
            done: false,
        };
        self.done = true;
        crate::runtime::handle().spawn(async move {
            let r = this.stop_and_flush().await;
            let _ = tx.send(r);
        });
        match rx.recv() {
            Ok(Err(e)) => {
                crate::report::problem("final flush", format_args!("the final flush failed: {e}"));
            }
            Ok(Ok(())) => {}
            Err(_) => {
                crate::report::problem("final flush", "the final flush did not finish");
            }
        }
    }
}

/// Go's `FlushPeriodically`: flush when due, then sleep until the next is due (at least 1 s;
/// 1 s while disabled, so an enabling is noticed quickly). A settings change that moves the
/// next flush (a new interval, an enabling) wakes it at once. A stop is seen between flushes:
/// a flush under way is never cut short.
async fn flush_loop(state: State, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        if *stop.borrow_and_update() {
            return;
        }
        let next = state.flush_if_needed().await;
        let now = state.inner.clock.now_micros();
        let wait = next.map_or(Duration::from_secs(1), |n| {
            Duration::from_micros(n.saturating_sub(now)).max(Duration::from_secs(1))
        });
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = state.inner.wake.notified() => {}
            _ = stop.changed() => return,
        }
    }
}

/// Polls the settings file once a second (its length and modification time) and reloads it
/// when it changes.
async fn watch_loop(
    state: State,
    path: PathBuf,
    mut last: FileStamp,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => return,
        }
        let now = file_stamp(&path);
        if now != last {
            last = now;
            let _ = state.reload_settings_file();
        }
    }
}

type FileStamp = Option<(u64, Option<std::time::SystemTime>)>;

fn file_stamp(path: &std::path::Path) -> FileStamp {
    std::fs::metadata(path)
        .ok()
        .map(|m| (m.len(), m.modified().ok()))
}
