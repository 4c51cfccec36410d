//! Targets: which process a series belongs to.
//!
//! tsmon's target is Go's `target.Task`: service, job, data centre, host and task number. Every
//! series is exported with the target's fields as labels (`service_name`, `job_name`,
//! `data_center`, `host_name`, `task_num`), so streams from many copies of a service stay apart
//! and the task number bounds how many there are.
//!
//! ```
//! use tsmon::Target;
//! let t = Target::new("shop", "frontend").with_data_center("eu-west1").with_host("web-3").with_task_num(2);
//! assert_eq!(t.labels()[4], ("task_num", "2".to_string()));
//! ```

use std::fmt;

/// The identity of a task: a group of homogeneous processes (service, job) plus where one runs
/// (data centre, host) and its task number.
///
/// A task number of `-1` means "none assigned yet", as in Go.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    /// The service, e.g. the product or system name.
    pub service_name: String,
    /// The job: one kind of process within the service.
    pub job_name: String,
    /// The data centre or region.
    pub data_center: String,
    /// The host (or pod) name.
    pub host_name: String,
    /// The task number, `-1` while none is assigned.
    pub task_num: i32,
}

impl Target {
    /// A target for `service` and `job`, with the data centre and host taken from the machine's
    /// host name (as Go's `SetDefaultsFromHostname` does) and task number 0.
    ///
    /// ```
    /// let t = tsmon::Target::new("svc", "job");
    /// assert_eq!((t.service_name.as_str(), t.task_num), ("svc", 0));
    /// assert!(!t.host_name.is_empty());
    /// ```
    #[must_use]
    pub fn new(service: impl Into<String>, job: impl Into<String>) -> Self {
        let (host, region) = host_and_region(hostname().as_deref());
        Target {
            service_name: service.into(),
            job_name: job.into(),
            data_center: region,
            host_name: host,
            task_num: 0,
        }
    }

    /// Sets the data centre.
    ///
    /// ```
    /// assert_eq!(tsmon::Target::new("s", "j").with_data_center("dc1").data_center, "dc1");
    /// ```
    #[must_use]
    pub fn with_data_center(mut self, dc: impl Into<String>) -> Self {
        self.data_center = dc.into();
        self
    }

    /// Sets the host.
    ///
    /// ```
    /// assert_eq!(tsmon::Target::new("s", "j").with_host("h").host_name, "h");
    /// ```
    #[must_use]
    pub fn with_host(mut self, host: impl Into<String>) -> Self {
        self.host_name = host.into();
        self
    }

    /// Sets the task number.
    ///
    /// ```
    /// assert_eq!(tsmon::Target::new("s", "j").with_task_num(7).task_num, 7);
    /// ```
    #[must_use]
    pub fn with_task_num(mut self, n: i32) -> Self {
        self.task_num = n;
        self
    }

    /// The label names and values this target puts on every series, in exposition order.
    ///
    /// ```
    /// let t = tsmon::Target::new("s", "j").with_data_center("d").with_host("h");
    /// let names: Vec<_> = t.labels().iter().map(|(n, _)| *n).collect();
    /// assert_eq!(names, ["service_name", "job_name", "data_center", "host_name", "task_num"]);
    /// ```
    #[must_use]
    pub fn labels(&self) -> [(&'static str, String); 5] {
        [
            ("service_name", self.service_name.clone()),
            ("job_name", self.job_name.clone()),
            ("data_center", self.data_center.clone()),
            ("host_name", self.host_name.clone()),
            ("task_num", self.task_num.to_string()),
        ]
    }
}

impl Default for Target {
    /// The target of a process nobody described: service and job from the executable's name.
    fn default() -> Self {
        let exe = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "unknown".to_owned());
        Target::new(exe.clone(), exe)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}#{}",
            self.service_name, self.job_name, self.data_center, self.host_name, self.task_num
        )
    }
}

pub(crate) fn hostname() -> Option<String> {
    if let Some(h) = crate::env::hostname() {
        return Some(h);
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// Go's rule: the first DNS label is the host and the second the region, lower-cased; without a
/// dot the region is "unknown"; without a host name both are "unknown".
pub(crate) fn host_and_region(hostname: Option<&str>) -> (String, String) {
    match hostname {
        None => ("unknown".into(), "unknown".into()),
        Some(h) => {
            let mut parts = h.split('.');
            let host = parts.next().unwrap_or(h).to_lowercase();
            let region = parts
                .next()
                .map_or_else(|| "unknown".into(), str::to_lowercase);
            (host, region)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_region_rules() {
        assert_eq!(
            host_and_region(Some("Web-3.EU-West.example.com")),
            ("web-3".into(), "eu-west".into())
        );
        assert_eq!(
            host_and_region(Some("web")),
            ("web".into(), "unknown".into())
        );
        assert_eq!(host_and_region(None), ("unknown".into(), "unknown".into()));
    }
}
