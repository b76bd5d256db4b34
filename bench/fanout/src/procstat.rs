//! RSS and CPU time of a process, from /proc/<pid>/status and /proc/<pid>/stat.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Clock ticks per second for /proc/<pid>/stat (`getconf CLK_TCK`, 100 on Linux in practice).
pub fn clock_ticks() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
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

/// `pid` 0 means this process.
pub fn sample(pid: u32) -> Option<ProcSample> {
    let dir = if pid == 0 {
        "/proc/self".to_string()
    } else {
        format!("/proc/{pid}")
    };
    let status = std::fs::read_to_string(format!("{dir}/status")).ok()?;
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let stat = std::fs::read_to_string(format!("{dir}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(ProcSample {
        rss_kb: field("VmRSS:"),
        hwm_kb: field("VmHWM:"),
        cpu_ticks: utime + stime,
        threads: field("Threads:"),
    })
}

/// Several processes (a deployment's nodes) as one: RSS, CPU and threads summed; `None` if
/// any of them is gone.
pub fn sample_all(pids: &[u32]) -> Option<ProcSample> {
    let mut sum = ProcSample::default();
    for &pid in pids {
        let s = sample(pid)?;
        sum.rss_kb += s.rss_kb;
        sum.hwm_kb += s.hwm_kb;
        sum.cpu_ticks += s.cpu_ticks;
        sum.threads += s.threads;
    }
    Some(sum)
}

/// (pid, command name, utime + stime) of every process on the machine.
pub fn all_processes() -> Vec<(u32, String, u64)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = stat[open + 1..close].to_string();
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        let ticks = fields
            .get(11)
            .and_then(|u| u.parse::<u64>().ok())
            .unwrap_or(0)
            + fields
                .get(12)
                .and_then(|u| u.parse::<u64>().ok())
                .unwrap_or(0);
        out.push((pid, comm, ticks));
    }
    out
}

/// CPU ticks of all processes whose command name is `comm` (e.g. every PostgreSQL backend).
pub fn ticks_of_command(comm: &str) -> u64 {
    all_processes()
        .into_iter()
        .filter(|(_, c, _)| c == comm)
        .map(|(_, _, t)| t)
        .sum()
}

/// The processes that used the most CPU between two `all_processes` readings, by command
/// name, as "name 95 %, name 40 %" (at least `min_pct` % of a core each, at most `top`).
pub fn top_commands(
    a: &[(u32, String, u64)],
    b: &[(u32, String, u64)],
    elapsed: Duration,
    ticks_per_sec: u64,
    min_pct: f64,
    top: usize,
) -> String {
    let before: std::collections::HashMap<u32, u64> = a.iter().map(|(p, _, t)| (*p, *t)).collect();
    let mut by_name: std::collections::BTreeMap<&str, u64> = Default::default();
    for (pid, comm, ticks) in b {
        let used = ticks.saturating_sub(before.get(pid).copied().unwrap_or(*ticks));
        *by_name.entry(comm.as_str()).or_default() += used;
    }
    let secs = elapsed.as_secs_f64().max(1e-3);
    let mut list: Vec<(&str, f64)> = by_name
        .into_iter()
        .map(|(n, t)| (n, t as f64 / ticks_per_sec as f64 / secs * 100.0))
        .filter(|(_, pct)| *pct >= min_pct)
        .collect();
    list.sort_by(|x, y| y.1.total_cmp(&x.1));
    list.truncate(top);
    list.iter()
        .map(|(n, pct)| format!("{n} {pct:.0} %"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Samples a process every `every` in the background; keeps (µs since t0, sample).
pub struct Sampler {
    samples: Arc<Mutex<Vec<(u64, ProcSample)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    pub fn start(pids: Vec<u32>, t0: Instant, every: Duration) -> Sampler {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let store = samples.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match sample_all(&pids) {
                    Some(s) => store
                        .lock()
                        .unwrap()
                        .push((t0.elapsed().as_micros() as u64, s)),
                    None => return,
                }
            }
        });
        Sampler { samples, task }
    }

    /// Peak RSS (kB) among samples taken in [from_us, to_us].
    pub fn peak_rss_kb(&self, from_us: u64, to_us: u64) -> u64 {
        self.samples
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _)| *t >= from_us && *t <= to_us)
            .map(|(_, s)| s.rss_kb)
            .max()
            .unwrap_or(0)
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// CPU use between two samples, in percent of one core.
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
