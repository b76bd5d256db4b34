//! Readings from `/proc` (Linux): the CPU time and memory of a process, the CPU time of every
//! process or of this process's threads, the whole machine's CPU time, and what the machine
//! is (CPU model, memory) for the reports' headers.
//!
//! CPU times are in clock ticks ([`clock_ticks`] a second), as the kernel gives them.

use std::time::Duration;

/// Clock ticks per second of the CPU times in `/proc/<pid>/stat` (`getconf CLK_TCK`; 100 on
/// Linux in practice).
pub fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// What a `/proc/<pid>/stat` (or `/proc/<pid>/task/<tid>/stat`) line says that the benchmarks use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat<'a> {
    /// The command (or thread) name, at most 15 bytes.
    pub comm: &'a str,
    /// utime + stime, in clock ticks.
    pub cpu_ticks: u64,
}

/// Parses a stat line; `None` when it is cut short.
pub fn parse_stat(stat: &str) -> Option<Stat<'_>> {
    // The name is in parentheses and may itself hold spaces and parentheses: the fields are
    // what follows the last `)`.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?;
    // After the name: state is field 3, utime 14, stime 15 (1-based, as in proc(5)).
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Stat {
        comm,
        cpu_ticks: utime + stime,
    })
}

#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct ProcSample {
    pub rss_kb: u64,
    /// Peak RSS since the process started.
    pub hwm_kb: u64,
    /// utime + stime, in clock ticks.
    pub cpu_ticks: u64,
    pub threads: u64,
}

/// Memory, CPU time and threads of process `pid` (0: this process); `None` if it is gone.
pub fn sample(pid: u32) -> Option<ProcSample> {
    let dir = if pid == 0 {
        "/proc/self".to_string()
    } else {
        format!("/proc/{pid}")
    };
    let status = std::fs::read_to_string(format!("{dir}/status")).ok()?;
    let stat = std::fs::read_to_string(format!("{dir}/stat")).ok()?;
    Some(ProcSample {
        rss_kb: status_value(&status, "VmRSS:").unwrap_or(0),
        hwm_kb: status_value(&status, "VmHWM:").unwrap_or(0),
        cpu_ticks: parse_stat(&stat)?.cpu_ticks,
        threads: status_value(&status, "Threads:").unwrap_or(0),
    })
}

/// The number after `name` (e.g. `"VmRSS:"`, in kB) in a `/proc/<pid>/status` or
/// `/proc/meminfo` text.
pub fn status_value(status: &str, name: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// (pid, command name, utime + stime) of every process on the machine.
pub fn all_processes() -> Vec<(u32, String, u64)> {
    stats_in("/proc")
}

/// (tid, thread name, utime + stime) of this process's threads alive now.
pub fn own_threads() -> Vec<(u32, String, u64)> {
    stats_in("/proc/self/task")
}

/// The stat of every numbered entry of `dir` (processes of `/proc`, threads of a `task` dir).
fn stats_in(dir: &str) -> Vec<(u32, String, u64)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let Some(id) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        // It may have ended since the directory was read.
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let Some(s) = parse_stat(&stat) {
            out.push((id, s.comm.to_string(), s.cpu_ticks));
        }
    }
    out
}

/// A process's CPU use between two samples, in percent of one core.
pub fn cpu_percent(a: &ProcSample, b: &ProcSample, elapsed: Duration, ticks_per_sec: u64) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        return 0.0;
    }
    (b.cpu_ticks.saturating_sub(a.cpu_ticks)) as f64 / ticks_per_sec as f64 / secs * 100.0
}

/// Whole-machine CPU time from the first line of /proc/stat: (busy, total) in clock ticks.
/// Busy counts everything but idle and iowait, so it includes kernel and softirq work (the
/// loopback TCP stack) that no process is charged for.
pub fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().next() else {
        return (0, 0);
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest fields are inside user/nice)
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// Machine busy % between two `machine_ticks` readings, in % of one core (200 % = 2 cores).
pub fn machine_percent(a: (u64, u64), b: (u64, u64), cores: usize) -> f64 {
    let total = b.1.saturating_sub(a.1);
    if total == 0 {
        return 0.0;
    }
    b.0.saturating_sub(a.0) as f64 / total as f64 * 100.0 * cores as f64
}

/// The CPU's model name from /proc/cpuinfo ("unknown" where it has none, e.g. on ARM).
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, name)| name.trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// The machine's memory in MB (MemTotal of /proc/meminfo; 0 when unreadable).
pub fn mem_total_mb() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| status_value(&m, "MemTotal:"))
        .map(|kb| kb / 1024)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_stat_line_with_a_tricky_name() {
        let line =
            "1234 (tokio (rt) 1) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 4 0 5 1 2";
        assert_eq!(
            parse_stat(line),
            Some(Stat {
                comm: "tokio (rt) 1",
                cpu_ticks: 325
            })
        );
        assert_eq!(parse_stat("1234 (cut) S 1 2"), None);
    }

    #[test]
    fn reads_this_process_and_machine() {
        let me = sample(0).expect("/proc/self");
        assert!(me.rss_kb > 0 && me.hwm_kb >= me.rss_kb && me.threads >= 1);
        assert!(!own_threads().is_empty());
        assert!(all_processes()
            .iter()
            .any(|(pid, _, _)| *pid == std::process::id()));
        let (busy, total) = machine_ticks();
        assert!(total > 0 && busy <= total);
        assert!(mem_total_mb() > 0);
        assert!(clock_ticks() > 0);
    }

    #[test]
    fn percentages() {
        let a = ProcSample {
            cpu_ticks: 100,
            ..Default::default()
        };
        let b = ProcSample {
            cpu_ticks: 150,
            ..Default::default()
        };
        assert_eq!(cpu_percent(&a, &b, Duration::from_secs(1), 100), 50.0);
        assert_eq!(machine_percent((10, 100), (60, 200), 2), 100.0);
        assert_eq!(machine_percent((10, 100), (10, 100), 2), 0.0);
    }
}
