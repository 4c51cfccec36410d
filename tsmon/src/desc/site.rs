//! Where a metric was declared: a leaf type, so that errors can name declaration sites.

use std::fmt;

/// Where a metric was declared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeclSite {
    /// The declaring crate (`CARGO_PKG_NAME`).
    pub(crate) crate_name: &'static str,
    /// The module path.
    pub(crate) module_path: &'static str,
    /// The source file.
    pub(crate) file: &'static str,
    /// The line of the static's name.
    pub(crate) line: u32,
    /// The column of the static's name.
    pub(crate) column: u32,
}

impl DeclSite {
    /// The declaring crate (`CARGO_PKG_NAME`).
    ///
    /// ```
    /// tsmon::metric! {
    ///     /// Hits.
    ///     static HITS: Counter = "example/site/hits1";
    /// }
    /// let site = HITS.desc().site();
    /// assert_eq!(site.crate_name(), "tsmon");
    /// ```
    #[must_use]
    pub const fn crate_name(&self) -> &'static str {
        self.crate_name
    }

    /// The module path.
    ///
    /// ```
    /// tsmon::metric! {
    ///     /// Hits.
    ///     static HITS: Counter = "example/site/hits2";
    /// }
    /// let site = HITS.desc().site();
    /// assert_eq!(site.module_path(), module_path!());
    /// ```
    #[must_use]
    pub const fn module_path(&self) -> &'static str {
        self.module_path
    }

    /// The source file.
    ///
    /// ```
    /// tsmon::metric! {
    ///     /// Hits.
    ///     static HITS: Counter = "example/site/hits3";
    /// }
    /// let site = HITS.desc().site();
    /// assert!(site.file().ends_with(".rs"));
    /// ```
    #[must_use]
    pub const fn file(&self) -> &'static str {
        self.file
    }

    /// The line of the static's name.
    ///
    /// ```
    /// tsmon::metric! {
    ///     /// Hits.
    ///     static HITS: Counter = "example/site/hits4";
    /// }
    /// let site = HITS.desc().site();
    /// assert!(site.line() > 0);
    /// ```
    #[must_use]
    pub const fn line(&self) -> u32 {
        self.line
    }

    /// The column of the static's name.
    ///
    /// ```
    /// tsmon::metric! {
    ///     /// Hits.
    ///     static HITS: Counter = "example/site/hits5";
    /// }
    /// let site = HITS.desc().site();
    /// assert!(site.column() > 0);
    /// ```
    #[must_use]
    pub const fn column(&self) -> u32 {
        self.column
    }
}

impl DeclSite {
    /// The site of a metric registered at run time through the crate `via` (the `metrics`
    /// facade, an attached registry): no file and line, line 0.
    #[cfg_attr(
        not(any(
            feature = "metrics",
            feature = "prometheus",
            feature = "prometheus-client"
        )),
        allow(dead_code)
    )]
    pub(crate) const fn runtime(via: &'static str) -> Self {
        DeclSite {
            crate_name: via,
            module_path: via,
            file: "",
            line: 0,
            column: 0,
        }
    }
}

impl fmt::Display for DeclSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            return write!(f, "registered at run time (through `{}`)", self.crate_name);
        }
        write!(
            f,
            "{}:{}:{} (crate `{}`)",
            self.file, self.line, self.column, self.crate_name
        )
    }
}
