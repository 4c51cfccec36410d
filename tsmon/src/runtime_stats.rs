//! Runtime stats, reported at every flush and scrape while `report_runtime_stats` is on (Go's
//! `runtimestats.Report`, and Prometheus' standard process metrics).
//!
//! | metric | Prometheus name | source |
//! |---|---|---|
//! | `process/cpu` | `process_cpu_seconds_total` | user + system CPU time (Linux: `/proc/self/stat`) |
//! | `process/resident_memory` | `process_resident_memory_bytes` | RSS |
//! | `process/virtual_memory` | `process_virtual_memory_bytes` | VSZ |
//! | `process/open_fds`, `process/max_fds` | `process_open_fds`, `process_max_fds` | `/proc/self/fd`, `RLIMIT_NOFILE` |
//! | `process/threads` | `process_threads` | threads |
//! | `process/start_time` | `process_start_time_seconds` | since the Unix epoch |
//! | `tokio/workers`, `tokio/alive_tasks`, `tokio/global_queue_depth` | `tokio_*{runtime}` | each runtime [`watch_tokio`] was given |
//! | `tokio/busy` | `tokio_busy_seconds_total{runtime}` | the workers' total busy time |
//! | `tokio/spawned_tasks`, `tokio/blocking_threads`, `tokio/budget_forced_yields` | | only when built with `--cfg tokio_unstable` |
//! | `mem/heap_in_use`, `mem/allocated`, `mem/allocations`, `mem/frees` | `mem_heap_in_use_bytes`, … | the opt-in [`CountingAllocator`](crate::alloc::CountingAllocator) (Go's `go/mem/*`) |
//! | `build/version{component}`, `build/commit{component}` | `build_version_info`, … | [`register_component`] (tsmon itself, and the binary under `#[tsmon::main]`) |
//! | `presence/up` | `presence_up` | true at every report (Go's `presence/up`) |
//!
//! `#[tsmon::main]` watches the runtime it builds (or runs in) as `main`, and tsmon's own
//! background runtime is watched as `tsmon`.
//!
//! **Platforms.** The `process/*` figures come from `/proc` and are reported on Linux only (with
//! the `process-stats` feature, on by default); on
//! macOS, Windows and other systems those series are absent (not zero), and everything else
//! is reported as on Linux: `presence/up`, build info, the tokio figures and, with the
//! counting allocator, the heap figures.
//!
//! ```
//! let state = tsmon::State::builder().build().unwrap();
//! state.report_runtime_stats();
//! let snap = state.snapshot();
//! assert!(snap.metric("presence/up").is_some());
//! # #[cfg(all(target_os = "linux", feature = "process-stats"))]
//! assert!(snap.metric("process/resident_memory").is_some());
//! ```

use std::sync::OnceLock;

use parking_lot::Mutex;

// Each static allows `unsafe_code`: linkme enters it in the catalog with a `#[link_section]`
// static, which the lint sees inside this crate (linkme's macro is local here).
crate::metric! {
    /// Total user and system CPU time spent by the process.
    #[tsmon(units = seconds)]
    #[allow(unsafe_code)]
    pub static CPU: FloatCounter = "process/cpu";
    /// Resident memory size.
    #[tsmon(units = bytes)]
    #[allow(unsafe_code)]
    pub static RESIDENT: IntGauge = "process/resident_memory";
    /// Virtual memory size.
    #[tsmon(units = bytes)]
    #[allow(unsafe_code)]
    pub static VIRTUAL: IntGauge = "process/virtual_memory";
    /// Open file descriptors.
    #[allow(unsafe_code)]
    pub static OPEN_FDS: IntGauge = "process/open_fds";
    /// The limit on open file descriptors.
    #[allow(unsafe_code)]
    pub static MAX_FDS: IntGauge = "process/max_fds";
    /// Threads of the process.
    #[allow(unsafe_code)]
    pub static THREADS: IntGauge = "process/threads";
    /// Start time of the process since the Unix epoch.
    #[tsmon(units = seconds)]
    #[allow(unsafe_code)]
    pub static START_TIME: FloatGauge = "process/start_time";

    /// Worker threads of a tokio runtime.
    #[allow(unsafe_code)]
    pub static WORKERS: IntGauge(runtime: String) = "tokio/workers";
    /// Tasks alive in a tokio runtime.
    #[allow(unsafe_code)]
    pub static ALIVE_TASKS: IntGauge(runtime: String) = "tokio/alive_tasks";
    /// Tasks in a tokio runtime's global (injection) queue.
    #[allow(unsafe_code)]
    pub static GLOBAL_QUEUE: IntGauge(runtime: String) = "tokio/global_queue_depth";
    /// Time a tokio runtime's workers spent busy, summed over the workers.
    #[tsmon(units = seconds)]
    #[allow(unsafe_code)]
    pub static BUSY: FloatCounter(runtime: String) = "tokio/busy";
    /// Tasks spawned on a tokio runtime (tokio_unstable builds only).
    #[allow(unsafe_code)]
    pub static SPAWNED: Counter(runtime: String) = "tokio/spawned_tasks";
    /// Blocking threads of a tokio runtime (tokio_unstable builds only).
    #[allow(unsafe_code)]
    pub static BLOCKING_THREADS: IntGauge(runtime: String) = "tokio/blocking_threads";
    /// Times tasks were forced to yield by the coop budget (tokio_unstable builds only).
    #[allow(unsafe_code)]
    pub static FORCED_YIELDS: Counter(runtime: String) = "tokio/budget_forced_yields";

    /// Heap bytes allocated and not freed (the counting allocator).
    #[tsmon(units = bytes)]
    #[allow(unsafe_code)]
    pub static HEAP_IN_USE: IntGauge = "mem/heap_in_use";
    /// Heap bytes allocated in total (the counting allocator).
    #[tsmon(units = bytes)]
    #[allow(unsafe_code)]
    pub static ALLOCATED: Counter = "mem/allocated";
    /// Heap allocations in total (the counting allocator).
    #[allow(unsafe_code)]
    pub static ALLOCATIONS: Counter = "mem/allocations";
    /// Heap frees in total (the counting allocator).
    #[allow(unsafe_code)]
    pub static FREES: Counter = "mem/frees";

    /// Versions of the components linked into the process.
    #[allow(unsafe_code)]
    pub static VERSION: StringMetric(component: String) = "build/version";
    /// Source commits of the components linked into the process, when known.
    #[allow(unsafe_code)]
    pub static COMMIT: StringMetric(component: String) = "build/commit";
    /// Set to true while the program is running.
    #[allow(unsafe_code)]
    pub static UP: BoolMetric = "presence/up";
}

type Components = Vec<(String, String, Option<String>)>;

fn components() -> &'static Mutex<Components> {
    static ALL: OnceLock<Mutex<Components>> = OnceLock::new();
    ALL.get_or_init(|| {
        Mutex::new(vec![(
            "tsmon".to_owned(),
            env!("CARGO_PKG_VERSION").to_owned(),
            None,
        )])
    })
}

/// Registers a component's version (and source commit, when known) for `build/version` and
/// `build/commit` (Go's `versions.Register`). `#[tsmon::main]` registers the binary's package.
///
/// ```
/// tsmon::runtime_stats::register_component("billing", "2.4.1", Some("9f3c2e1"));
/// ```
pub fn register_component(name: &str, version: &str, commit: Option<&str>) {
    let mut all = components().lock();
    all.retain(|(n, ..)| n != name);
    all.push((
        name.to_owned(),
        version.to_owned(),
        commit.filter(|c| !c.is_empty()).map(str::to_owned),
    ));
}

fn runtimes() -> &'static Mutex<Vec<(String, tokio::runtime::Handle)>> {
    static ALL: OnceLock<Mutex<Vec<(String, tokio::runtime::Handle)>>> = OnceLock::new();
    ALL.get_or_init(Mutex::default)
}

/// Reports the figures of a tokio runtime under `tokio/*{runtime = name}`.
///
/// ```
/// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// tsmon::runtime_stats::watch_tokio("worker-pool", rt.handle());
/// let state = tsmon::State::builder().build().unwrap();
/// state.report_runtime_stats();
/// let workers = state.snapshot();
/// let m = workers.metric("tokio/workers").unwrap();
/// assert!(m.find(&[tsmon::field::FieldValue::Str("worker-pool")]).is_some());
/// ```
pub fn watch_tokio(name: &str, handle: &tokio::runtime::Handle) {
    let mut all = runtimes().lock();
    all.retain(|(n, _)| n != name);
    all.push((name.to_owned(), handle.clone()));
}

/// Sets every runtime figure in the current State (what
/// [`State::report_runtime_stats`](crate::State::report_runtime_stats) runs in its scope).
pub(crate) fn report() {
    UP.set(true, ());
    report_process();
    for (name, handle) in runtimes().lock().iter() {
        report_tokio(name, handle);
    }
    report_tokio("tsmon", crate::runtime::handle());
    if let Some(s) = crate::alloc::stats() {
        HEAP_IN_USE.set(i64::try_from(s.in_use_bytes).unwrap_or(i64::MAX), ());
        ALLOCATED.set(i64::try_from(s.allocated_bytes).unwrap_or(i64::MAX), ());
        ALLOCATIONS.set(i64::try_from(s.allocations).unwrap_or(i64::MAX), ());
        FREES.set(i64::try_from(s.frees).unwrap_or(i64::MAX), ());
    }
    for (name, version, commit) in components().lock().iter() {
        VERSION.set(version, name.as_str());
        if let Some(c) = commit {
            COMMIT.set(c, name.as_str());
        }
    }
}

fn report_tokio(name: &str, handle: &tokio::runtime::Handle) {
    let m = handle.metrics();
    let n = m.num_workers();
    WORKERS.set(i64::try_from(n).unwrap_or(i64::MAX), name);
    ALIVE_TASKS.set(i64::try_from(m.num_alive_tasks()).unwrap_or(i64::MAX), name);
    GLOBAL_QUEUE.set(
        i64::try_from(m.global_queue_depth()).unwrap_or(i64::MAX),
        name,
    );
    let busy: f64 = (0..n)
        .map(|w| m.worker_total_busy_duration(w).as_secs_f64())
        .sum();
    BUSY.set(busy, name);
    #[cfg(tokio_unstable)]
    {
        SPAWNED.set(
            i64::try_from(m.spawned_tasks_count()).unwrap_or(i64::MAX),
            name,
        );
        BLOCKING_THREADS.set(
            i64::try_from(m.num_blocking_threads()).unwrap_or(i64::MAX),
            name,
        );
        FORCED_YIELDS.set(
            i64::try_from(m.budget_forced_yield_count()).unwrap_or(i64::MAX),
            name,
        );
    }
}

#[cfg(all(target_os = "linux", feature = "process-stats"))]
fn report_process() {
    use procfs::process::Process;
    let Ok(me) = Process::myself() else {
        return;
    };
    if let Ok(stat) = me.stat() {
        let ticks = procfs::ticks_per_second() as f64;
        CPU.set((stat.utime + stat.stime) as f64 / ticks, ());
        let page = procfs::page_size();
        RESIDENT.set(i64::try_from(stat.rss * page).unwrap_or(i64::MAX), ());
        VIRTUAL.set(i64::try_from(stat.vsize).unwrap_or(i64::MAX), ());
        THREADS.set(stat.num_threads, ());
        if let Ok(boot) = procfs::boot_time_secs() {
            START_TIME.set(boot as f64 + stat.starttime as f64 / ticks, ());
        }
    }
    if let Ok(n) = me.fd_count() {
        OPEN_FDS.set(i64::try_from(n).unwrap_or(i64::MAX), ());
    }
    if let Ok(limits) = me.limits() {
        let max = match limits.max_open_files.soft_limit {
            procfs::process::LimitValue::Value(v) => i64::try_from(v).unwrap_or(i64::MAX),
            procfs::process::LimitValue::Unlimited => i64::MAX,
        };
        MAX_FDS.set(max, ());
    }
}

/// Without /proc (another platform, or the `process-stats` feature off): nothing to read.
#[cfg(not(all(target_os = "linux", feature = "process-stats")))]
fn report_process() {}
