//! A secret kept in a file (a token, a password), re-read when it may have changed: looked at
//! once a second at most, as Prometheus reads its `credentials_file`, so a rotated secret
//! applies without a restart and a busy endpoint does not read the file at every request.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// The `Authorization` value of HTTP basic auth for `user:password` (what the pull endpoint
/// expects and the push monitors send).
pub(crate) fn basic_auth(user_password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(user_password)
    )
}

/// How often the file is looked at, at most.
const RECHECK: Duration = Duration::from_secs(1);

/// A secret file and what it held when last read.
#[derive(Debug)]
pub(crate) struct SecretFile {
    path: PathBuf,
    /// The problem-report topic, and what happens while the file cannot be read.
    topic: String,
    consequence: &'static str,
    cached: Mutex<(Option<Instant>, Option<String>)>,
}

impl SecretFile {
    /// `consequence` ends the report when the file cannot be read ("every request is
    /// refused").
    pub(crate) fn new(path: &Path, topic: &str, consequence: &'static str) -> Self {
        SecretFile {
            path: path.to_owned(),
            topic: topic.to_owned(),
            consequence,
            cached: Mutex::new((None, None)),
        }
    }

    #[cfg(any(feature = "pushgateway", feature = "remote-write", feature = "otlp"))]
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The file's contents, trimmed; `None` while it cannot be read (reported once per
    /// problem, and again once it can be read).
    pub(crate) fn read(&self) -> Option<String> {
        let mut cached = self.cached.lock();
        let fresh = cached.0.is_some_and(|at| at.elapsed() < RECHECK);
        if !fresh {
            let read = std::fs::read_to_string(&self.path);
            cached.0 = Some(Instant::now());
            match read {
                Ok(text) => {
                    cached.1 = Some(text.trim().to_owned());
                    crate::report::resolved(&self.topic);
                }
                Err(e) => {
                    cached.1 = None;
                    crate::report::problem(
                        &self.topic,
                        format_args!(
                            "cannot read the credentials file {} ({e}); {}",
                            self.path.display(),
                            self.consequence
                        ),
                    );
                }
            }
        }
        cached.1.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_file_is_read_again_after_the_recheck_interval() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "first\n").unwrap();
        let file = SecretFile::new(&path, "test secret", "nothing happens");
        assert_eq!(file.read().as_deref(), Some("first"));
        std::fs::write(&path, "second").unwrap();
        assert_eq!(
            file.read().as_deref(),
            Some("first"),
            "cached within the interval"
        );
        file.cached.lock().0 = Some(Instant::now() - RECHECK);
        assert_eq!(file.read().as_deref(), Some("second"));
        std::fs::remove_file(&path).unwrap();
        file.cached.lock().0 = None;
        assert_eq!(file.read(), None, "a missing file gives no secret");
    }
}
