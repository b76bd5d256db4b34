//! CPU time of this process's threads, grouped by the runtime that owns them (every runtime
//! names its threads), from `/proc/self/task/*/stat`; machine CPU from `/proc/stat`.
//!
//! Everything runs in one process, so per-thread accounting is how the server's CPU is told
//! apart from the load generator's and the measured client's.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

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

pub fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

pub fn threads_cpu() -> CpuByGroup {
    let ticks = clock_ticks();
    let mut out = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return CpuByGroup(out);
    };
    for entry in dir.flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = &stat[open + 1..close];
        // Fields after the comm: state is field 3, utime 14, stime 15 (1-based).
        let rest: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let (Some(u), Some(s)) = (rest.get(11), rest.get(12)) else {
            continue;
        };
        let secs = (u.parse::<f64>().unwrap_or(0.0) + s.parse::<f64>().unwrap_or(0.0)) / ticks;
        *out.entry(group_of(comm).to_string()).or_insert(0.0) += secs;
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

/// (busy, total) jiffies of the whole machine.
pub fn machine_ticks() -> (u64, u64) {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return (0, 0);
    };
    let Some(line) = stat.lines().next() else {
        return (0, 0);
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// Machine CPU use between two readings, in % of one core.
pub fn machine_percent(a: (u64, u64), b: (u64, u64), cores: usize) -> f64 {
    let busy = b.0.saturating_sub(a.0) as f64;
    let total = b.1.saturating_sub(a.1) as f64;
    if total <= 0.0 {
        return 0.0;
    }
    busy / total * 100.0 * cores as f64
}

/// This process's own CPU seconds (all threads, including ended ones).
pub fn process_cpu_secs() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let Some(close) = stat.rfind(')') else {
        return 0.0;
    };
    let rest: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    let u = rest
        .get(11)
        .and_then(|x| x.parse::<f64>().ok())
        .unwrap_or(0.0);
    let s = rest
        .get(12)
        .and_then(|x| x.parse::<f64>().ok())
        .unwrap_or(0.0);
    (u + s) / clock_ticks()
}

/// Peak resident set size of this process (VmHWM), in MB.
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
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
