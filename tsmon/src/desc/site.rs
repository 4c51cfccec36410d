//! Where a metric was declared: a leaf type, so that errors can name declaration sites.

use std::fmt;

/// Where a metric was declared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeclSite {
    /// The declaring crate (`CARGO_PKG_NAME`).
    pub crate_name: &'static str,
    /// The module path.
    pub module_path: &'static str,
    /// The source file.
    pub file: &'static str,
    /// The line of the static's name.
    pub line: u32,
    /// The column of the static's name.
    pub column: u32,
}

impl fmt::Display for DeclSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{} (crate `{}`)",
            self.file, self.line, self.column, self.crate_name
        )
    }
}
