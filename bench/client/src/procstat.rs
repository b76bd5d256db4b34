//! CPU time of this process's threads, grouped by the runtime that owns them (every runtime
//! names its threads); this process's CPU time and peak memory; machine CPU. The `/proc`
//! readings themselves are `deskbell_bench_support::procfs`.
//!
//! Everything runs in one process, so per-thread accounting is how the server's CPU is told
//! apart from the load generator's and the measured client's.

use deskbell_bench_support::procfs;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

pub use deskbell_bench_support::procfs::{machine_percent, machine_ticks};

/// Thread name prefixes (`comm`, at most 15 bytes) and the group they count in.
pub const GROUPS: [(&str, &str); 5] = [
    ("bc-server", "server"),
    ("sqlx-sqlite", "server"),
    ("bc-others", "others"),
    ("bc-client", "client"),
    ("bc-writer", "writer"),
];

fn group_of(comm: &str) -> &'static str {
    GROUPS
        .iter()
        .find(|(prefix, _)| comm.starts_with(prefix))
        .map(|(_, g)| *g)
        .unwrap_or("main")
}

/// CPU seconds per group, summed over the threads alive at the time of the reading.
/// Threads that ended meanwhile are lost: the runtimes here live for the whole run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CpuByGroup(pub BTreeMap<String, f64>);

pub fn threads_cpu() -> CpuByGroup {
    let ticks = procfs::clock_ticks() as f64;
    let mut out = BTreeMap::new();
    for (_, comm, cpu_ticks) in procfs::own_threads() {
        *out.entry(group_of(&comm).to_string()).or_insert(0.0) += cpu_ticks as f64 / ticks;
    }
    CpuByGroup(out)
}

impl CpuByGroup {
    /// % of one core used per group between `self` (earlier) and `later`, over `wall`.
    pub fn percent_until(&self, later: &CpuByGroup, wall: Duration) -> BTreeMap<String, f64> {
        let secs = wall.as_secs_f64().max(1e-9);
        later
            .0
            .iter()
            .map(|(g, v)| {
                let before = self.0.get(g).copied().unwrap_or(0.0);
                (g.clone(), ((v - before).max(0.0) / secs * 100.0).round())
            })
            .collect()
    }
}

/// This process's own CPU seconds (all threads, including ended ones).
pub fn process_cpu_secs() -> f64 {
    procfs::sample(0)
        .map(|s| s.cpu_ticks as f64 / procfs::clock_ticks() as f64)
        .unwrap_or(0.0)
}

/// Peak resident set size of this process (VmHWM), in MB.
pub fn peak_rss_mb() -> f64 {
    procfs::sample(0)
        .map(|s| s.hwm_kb as f64 / 1024.0)
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_by_thread_name() {
        assert_eq!(group_of("bc-server"), "server");
        assert_eq!(group_of("sqlx-sqlite-wor"), "server");
        assert_eq!(group_of("bc-others"), "others");
        assert_eq!(group_of("deskbell-bench-"), "main");
        assert!(!threads_cpu().0.is_empty());
    }
}
