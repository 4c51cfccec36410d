//! Not public API: the whole contract between `tsmon-macros`' expansions and this crate, and
//! nothing else. An expansion names only what is here (and the public metric types, which a
//! declared static's type shows), so a descriptor can gain a field (an exemplar setting, an
//! objective) by changing a constructor here and the one emitter in `tsmon-macros`, without
//! touching the public API. Everything here can change in any release; `tsmon-macros` is
//! pinned to the exact version of `tsmon`.

pub use linkme;
pub use tokio;

pub use crate::desc::function::FnDesc;
pub use crate::desc::function::TSMON_FUNCTIONS;
pub use crate::desc::{DeclSite, MetricDesc, MetricKind, Units};
pub use crate::distribution::BucketerSpec;
pub use crate::field::{Bool, FieldDesc, FieldType, FieldValue, Int, Str};
pub use crate::instrument::call::{
    Call, EarlyViaDefault, EarlyViaResult, Probe, SiteIndex, TypeProbe, ViaClassify, ViaDefault,
    typed,
};
pub use crate::instrument::{CALLS, DURATIONS, IN_FLIGHT, LATENCY_BUCKETER, Outcome};
pub use crate::registry::TSMON_METRICS;

use crate::field::FieldSet;
use crate::metric::{Metric, kind::Kind};

/// Where a declaration is.
#[must_use]
pub const fn decl_site(
    crate_name: &'static str,
    module_path: &'static str,
    file: &'static str,
    line: u32,
    column: u32,
) -> DeclSite {
    DeclSite {
        crate_name,
        module_path,
        file,
        line,
        column,
    }
}

/// A metric's catalog entry. `shared`: declared by `#[instrument(prefix = …)]`, so identical
/// declarations of one name merge.
#[must_use]
#[allow(clippy::too_many_arguments)]
pub const fn metric_desc(
    name: &'static str,
    kind: MetricKind,
    description: &'static str,
    fields: &'static [FieldDesc],
    units: Option<Units>,
    bucketer: Option<BucketerSpec>,
    max_series: u64,
    shared: bool,
    site: DeclSite,
) -> MetricDesc {
    MetricDesc {
        name,
        kind,
        description,
        fields,
        units,
        bucketer,
        max_series,
        shared,
        site,
    }
}

/// An instrumented function's catalog entry.
#[must_use]
pub const fn fn_desc(
    function: &'static str,
    module: &'static str,
    calls: Option<&'static MetricDesc>,
    durations: Option<&'static MetricDesc>,
    in_flight: Option<&'static MetricDesc>,
    fields: &'static [(&'static str, FieldValue<'static>)],
    site: DeclSite,
) -> FnDesc {
    FnDesc {
        function,
        module,
        calls,
        durations,
        in_flight,
        fields,
        site,
    }
}

/// The metric a `metric!` static holds.
#[must_use]
pub const fn metric<K: Kind, F: FieldSet>(desc: &'static MetricDesc) -> Metric<K, F> {
    Metric::from_desc(desc)
}

/// `#[tsmon::main]`'s start: the global State and its background work, or a clear message
/// and exit status 1 (a duplicate metric, invalid builder settings).
pub fn main_start(
    builder: crate::StateBuilder,
    package: &str,
    version: &str,
    commit: Option<&str>,
) -> crate::flush::Running {
    // `TSMON_PRINT_CATALOG=markdown|json`: the catalog, and nothing else happens.
    if let Some(code) = crate::registry::print_if_asked() {
        std::process::exit(code);
    }
    crate::runtime_stats::register_component(package, version, commit);
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        crate::runtime_stats::watch_tokio("main", &handle);
    }
    match crate::flush::start_main(builder) {
        Ok(running) => running,
        Err(e) => {
            eprintln!("tsmon: {e}");
            std::process::exit(1);
        }
    }
}
