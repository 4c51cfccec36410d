//! The monitor the settings ask for, built beside the monitors: adding a monitor touches
//! `monitor/` and the settings only. The State hands over what a monitor needs of it (for the
//! pull endpoint, how to scrape and in which scope to count) and what carries from one monitor
//! to the next (the remote-write queue).

use std::net::SocketAddr;
use std::sync::Arc;

use super::{DebugMonitor, Monitor, NilMonitor};
use crate::error::Error;
use crate::settings::{MonitorSpec, Settings};

/// What the pull endpoint needs of its State: how to write a scrape, and how to run a closure
/// with the State current (so its self-metrics land there). Weak links: the endpoint does not
/// keep its State alive.
#[cfg(feature = "pull")]
pub(crate) struct PullHooks {
    pub(crate) scrape: super::ScrapeFn,
    pub(crate) scope: super::ScopeFn,
    pub(crate) status: super::StatusFn,
}

/// Without the pull endpoint, nothing.
#[cfg(not(feature = "pull"))]
pub(crate) struct PullHooks;

/// What one monitor hands to the next one the settings build: the remote-write queue and the
/// series it tracks, for a monitor to the same URL (a change of credentials or queue bounds
/// must not lose what waits).
#[derive(Default)]
pub(crate) struct Carried {
    #[cfg(feature = "remote-write")]
    backlog: Option<(String, Arc<super::Backlog>)>,
}

/// A monitor built, and the address it listens on (the pull endpoint's).
pub(crate) type Built = (Arc<dyn Monitor>, Option<SocketAddr>);

/// Builds the monitor `settings.monitor` names, with its options from `settings`.
///
/// # Errors
///
/// What the monitor cannot start with (a port in use, a TLS file that cannot be read), or a
/// monitor this binary was built without.
#[cfg_attr(
    not(all(feature = "pull", feature = "remote-write")),
    allow(unused_variables)
)]
pub(crate) fn build(
    settings: &Settings,
    carried: &mut Carried,
    hooks: impl FnOnce() -> PullHooks,
) -> Result<Built, Error> {
    #[cfg(any(feature = "pushgateway", feature = "remote-write", feature = "otlp"))]
    let push = settings.push_settings();
    Ok(match &settings.monitor {
        MonitorSpec::None => (Arc::new(NilMonitor), None),
        MonitorSpec::Debug { path: None } => (Arc::new(DebugMonitor::to_log()), None),
        MonitorSpec::Debug { path: Some(p) } => (Arc::new(DebugMonitor::to_file(p)), None),
        #[cfg(feature = "pushgateway")]
        MonitorSpec::Pushgateway { url } => (
            Arc::new(
                super::PushgatewayMonitor::with_options(url, &push.options)?
                    .with_native_classic(push.native_classic),
            ),
            None,
        ),
        #[cfg(not(feature = "pushgateway"))]
        MonitorSpec::Pushgateway { .. } => return Err(not_built("pushgateway")),
        #[cfg(feature = "remote-write")]
        MonitorSpec::RemoteWrite { url } => {
            let mut m = super::RemoteWriteMonitor::with_options(url, &push.options)?
                .with_queue(push.queue_max_bytes, push.queue_max_age)
                .with_time_budget(push.send_budget)
                .with_native_classic(push.native_classic);
            match &carried.backlog {
                Some((u, backlog)) if u == url => m = m.with_backlog(backlog.clone()),
                _ => carried.backlog = Some((url.clone(), m.backlog())),
            }
            (Arc::new(m), None)
        }
        #[cfg(not(feature = "remote-write"))]
        MonitorSpec::RemoteWrite { .. } => return Err(not_built("remote-write")),
        #[cfg(feature = "otlp")]
        MonitorSpec::Otlp { url } => (
            Arc::new(super::OtlpMonitor::with_options(url, &push.options)?),
            None,
        ),
        #[cfg(not(feature = "otlp"))]
        MonitorSpec::Otlp { .. } => return Err(not_built("otlp")),
        #[cfg(feature = "pull")]
        MonitorSpec::Pull { addr } => {
            let PullHooks {
                scrape,
                scope,
                status,
            } = hooks();
            let m =
                super::PullMonitor::serve(*addr, scrape, scope, status, settings.pull_options())
                    .map_err(|e| Error::InvalidSettings(e.to_string()))?;
            let bound = m.addr();
            (Arc::new(m), Some(bound))
        }
        #[cfg(not(feature = "pull"))]
        MonitorSpec::Pull { .. } => return Err(not_built("pull")),
    })
}

/// A monitor this binary was built without.
#[cfg(not(all(
    feature = "pull",
    feature = "pushgateway",
    feature = "remote-write",
    feature = "otlp"
)))]
fn not_built(feature: &str) -> Error {
    Error::InvalidSettings(format!(
        "this monitor needs tsmon's `{feature}` feature, which this binary was built without"
    ))
}
