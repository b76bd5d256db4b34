//! RSS and CPU time of the servers' processes over a run, and who else used the CPU: built on
//! the `/proc` readings of `deskbell_bench_support::procfs`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use deskbell_bench_support::procfs::{
    all_processes, clock_ticks, cpu_percent, machine_percent, machine_ticks, sample, ProcSample,
};

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
