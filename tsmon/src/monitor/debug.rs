//! The debug monitor: a readable table of what would be sent, to the log or appended to a file.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

use super::{BoxFuture, Monitor};
use crate::error::{Cause, Error};
use crate::store::{Snapshot, Value};

/// Writes each chunk as a readable table (Go's debug monitor): one line per series, the target
/// once per group. To the log (`tracing`, info level) or appended to a file. Dev mode's default.
///
/// ```
/// use tsmon::monitor::{DebugMonitor, Monitor};
/// tsmon::metric! {
///     /// Jobs run.
///     static JOBS: Counter(kind: String) = "example/debug/jobs";
/// }
/// let dir = std::env::temp_dir().join(format!("tsmon-debug-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("flush.txt");
/// let state = tsmon::State::builder().build().unwrap();
/// state.in_scope(|| JOBS.add(3, "nightly"));
/// let m = DebugMonitor::to_file(&path);
/// tsmon::runtime::block_on(m.send(&state.snapshot())).unwrap();
/// let text = std::fs::read_to_string(&path).unwrap();
/// assert!(text.contains("example/debug/jobs{kind=nightly} 3"), "{text}");
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Debug, Clone, Default)]
pub struct DebugMonitor {
    path: Option<PathBuf>,
}

impl DebugMonitor {
    /// To the log.
    #[must_use]
    pub fn to_log() -> Self {
        DebugMonitor { path: None }
    }

    /// Appended to a file (created if missing).
    #[must_use]
    pub fn to_file(path: impl Into<PathBuf>) -> Self {
        DebugMonitor {
            path: Some(path.into()),
        }
    }

    /// The table for a chunk.
    #[must_use]
    pub fn render(chunk: &Snapshot) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "tsmon flush at {} µs: {} series",
            chunk.now_micros(),
            chunk.num_cells()
        );
        let mut last_target = None;
        for m in chunk.metrics() {
            for cell in m.cells() {
                let target = chunk.target(cell);
                if last_target != Some(target) {
                    let labels: Vec<String> = target
                        .labels()
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect();
                    let _ = writeln!(out, "  [{}]", labels.join(" "));
                    last_target = Some(target);
                }
                let fields: Vec<String> = m
                    .desc()
                    .fields
                    .iter()
                    .zip(m.field_values(cell))
                    .map(|(f, v)| format!("{}={v}", f.name))
                    .collect();
                let name = if fields.is_empty() {
                    m.desc().name.to_owned()
                } else {
                    format!("{}{{{}}}", m.desc().name, fields.join(", "))
                };
                let value = match cell.value() {
                    Value::Int(i) => i.to_string(),
                    Value::Float(f) => f.to_string(),
                    Value::Bool(b) => b.to_string(),
                    Value::Str(s) => format!("{s:?}"),
                    Value::Distribution(d) => {
                        let mean = if d.count() > 0 {
                            d.sum() / d.count() as f64
                        } else {
                            0.0
                        };
                        format!("count={} sum={} mean={mean}", d.count(), d.sum())
                    }
                };
                let _ = writeln!(out, "  {name} {value}");
            }
        }
        out
    }
}

impl Monitor for DebugMonitor {
    fn send<'a>(&'a self, chunk: &'a Snapshot) -> BoxFuture<'a, Result<(), Error>> {
        let text = Self::render(chunk);
        let result = match &self.path {
            None => {
                tracing::info!("{text}");
                Ok(())
            }
            Some(path) => std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .and_then(|mut f| f.write_all(text.as_bytes()))
                .map_err(|e| {
                    Error::Monitor(Cause::with_source(
                        format!("debug monitor {}", path.display()),
                        e,
                    ))
                }),
        };
        Box::pin(async move { result })
    }
}
