//! Shared helpers for the end-to-end tests in `tests/`.

use std::io::Write;
use std::process::{Command, Stdio};

/// Finds a server or tool binary on the PATH. Without it the test is skipped loudly, unless the
/// `CI` environment variable is set: then a missing binary is a failure.
///
/// # Panics
///
/// When the binary is missing and `CI` is set.
#[must_use]
pub fn require_binary(name: &str) -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "`{name}` is not on the PATH and CI is set: .ci/run must install it"
        );
        eprintln!("SKIPPED: `{name}` is not on the PATH; install it to run this test");
    }
    found
}

/// Runs `program args` with `input` on standard input; returns (success, stdout + stderr).
///
/// # Panics
///
/// When the program cannot be started.
#[must_use]
pub fn run_with_stdin(program: &std::path::Path, args: &[&str], input: &[u8]) -> (bool, String) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the program");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait for the program");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}
