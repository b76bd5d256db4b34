//! Fan-out benchmark: deskbell-server and a Node socket.io 4 server doing the same job, side by
//! side, on loopback. See bench/fanout/REPORT.md (written by this program) for the method.

mod client;
mod hist;
mod procstat;
mod report;
mod server;
mod writer;

use anyhow::{bail, Context, Result};
use clap::Parser;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use client::{ClientConfig, Shared};
use hist::Summary;
use procstat::{ProcSample, Sampler};
use server::{Kind, Paths, Server};
use writer::{Mode, WriterReport};

#[derive(Parser, Debug, Clone, serde::Serialize, serde::Deserialize)]
#[command(about = "Deskbell vs Node socket.io fan-out benchmark")]
pub struct Args {
    /// Rounds of the whole suite; the report shows each cell's median over the rounds. The
    /// servers alternate which goes first from one round to the next.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Before each run, wait up to this long for the machine's other CPU use (builds, tests)
    /// to drop below --quiet-below; the level measured is reported either way.
    #[arg(long, default_value_t = 10)]
    pub quiet_wait_secs: u64,
    /// Background CPU, in % of one core, considered quiet.
    #[arg(long, default_value_t = 25.0)]
    pub quiet_below: f64,
    /// Connection counts to run, in order.
    #[arg(long, value_delimiter = ',', default_value = "100,1000,10000")]
    pub levels: Vec<usize>,
    /// Servers to run at each level, in order (`deskbell`, `node`).
    #[arg(long, value_delimiter = ',', default_value = "deskbell,node")]
    pub servers: Vec<String>,
    /// Same-load phase: tickets per second at each level, in `--levels` order (same for both
    /// servers). Default: min(50, 20 000 / N), i.e. at most 20 000 offered deliveries/s.
    #[arg(long, value_delimiter = ',')]
    pub rates: Option<Vec<f64>>,
    /// Seconds of writes in each phase.
    #[arg(long, default_value_t = 8)]
    pub phase_secs: u64,
    /// After the writes stop, how long to wait for outstanding deliveries.
    #[arg(long, default_value_t = 10)]
    pub drain_secs: u64,
    /// Max phases: concurrent writers, one closed-loop phase per count, in this order (same for
    /// both servers). A server's maximum is its best phase: with too few writers, a server
    /// whose writes are fast but not instant is bound by the writers' round trips, not by its
    /// own capacity. A count is skipped once the one before reached the window W, which then
    /// bounds the tickets in flight whatever the number of writers.
    #[arg(long, value_delimiter = ',', default_value = "4,8,16,32")]
    pub max_writers: Vec<usize>,
    /// Max phase: deliveries allowed in flight; ticket i waits for ticket i - W to have reached
    /// every client, with W = this / N (at least 2).
    #[arg(long, default_value_t = 50_000)]
    pub max_window_deliveries: usize,
    /// Skip the max-throughput phase.
    #[arg(long)]
    pub no_max: bool,
    /// Handshakes in progress at once while connecting.
    #[arg(long, default_value_t = 200)]
    pub connect_concurrency: usize,
    /// Deadline for all N clients to be connected and synced.
    #[arg(long, default_value_t = 120)]
    pub connect_deadline_secs: u64,
    /// Attempts per client connection before it counts as failed.
    #[arg(long, default_value_t = 3)]
    pub connect_attempts: u32,
    #[arg(long, default_value = "target/release/deskbell-server")]
    pub deskbell_bin: PathBuf,
    #[arg(long, default_value = "node")]
    pub node_bin: String,
    #[arg(long, default_value = "bench/fanout/node-server.mjs")]
    pub node_script: PathBuf,
    /// First port; each run uses the next one.
    #[arg(long, default_value_t = 18700)]
    pub base_port: u16,
    /// Scratch directory for server data and logs.
    #[arg(long, default_value = "target/bench-fanout")]
    pub work_dir: PathBuf,
    /// Where REPORT.md is written (and results.json beside it).
    #[arg(long, default_value = "bench/fanout/REPORT.md")]
    pub report: PathBuf,
    /// Only re-render REPORT.md from the results.json beside it (e.g. after editing the
    /// analysis); runs nothing.
    #[arg(long)]
    #[serde(skip)]
    pub render_only: bool,
    /// Hand-written analysis included in the report, if the file exists.
    #[arg(long, default_value = "bench/fanout/ANALYSIS.md")]
    pub analysis: PathBuf,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ConnectResult {
    pub ready: u64,
    pub failed: u64,
    pub retries: u64,
    pub secs: f64,
    pub complete: bool,
    pub server_cpu_pct: f64,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PhaseResult {
    pub name: String,
    pub mode: Mode,
    pub writer: WriterReport,
    pub clients_at_start: u64,
    pub clients_at_end: u64,
    pub lost_during_phase: u64,
    pub write_secs: f64,
    pub writes_per_sec: f64,
    pub deliveries: u64,
    pub expected_deliveries: u64,
    pub delivered_pct: f64,
    /// Deliveries / (last delivery − first write).
    pub deliveries_per_sec: f64,
    pub drained: bool,
    pub drain_secs: f64,
    pub unmatched: u64,
    pub e2e: Summary,
    pub server_ts: Summary,
    pub negative_server_ts: u64,
    pub server_cpu_pct: f64,
    pub server_rss_peak_kb: u64,
    pub server_rss_end_kb: u64,
    pub loadgen_cpu_pct: f64,
    /// Whole machine, all processes and the kernel (200 % = 2 cores busy).
    pub machine_cpu_pct: f64,
    /// Average ticket event frame, bytes.
    pub frame_bytes: f64,
    /// Ticket event payload received by all clients, MB/s.
    pub mb_per_sec: f64,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RunResult {
    pub round: usize,
    pub server: Kind,
    pub n: usize,
    /// `ok`, `incomplete` (something went wrong; see notes) or `skipped`.
    pub status: String,
    pub notes: Vec<String>,
    pub connect: ConnectResult,
    pub rss_start_kb: u64,
    pub rss_connected_kb: u64,
    pub server_hwm_kb: u64,
    pub server_threads: u64,
    pub phases: Vec<PhaseResult>,
    pub lost_connections: u64,
    pub seq_gaps: u64,
    pub seq_missing: u64,
    pub seq_out_of_order: u64,
    pub pings_answered: u64,
    pub client_errors: BTreeMap<String, u64>,
    pub server_log_warn_lines: u64,
    pub server_log_error_lines: u64,
    pub slow_consumer_log_lines: u64,
    pub server_exit: Option<String>,
    pub wall_secs: f64,
    /// Whole-machine CPU in the second before the run started (other work on the machine),
    /// in % of one core.
    pub background_cpu_pct: f64,
    pub waited_for_quiet_secs: f64,
}

impl RunResult {
    fn new(round: usize, server: Kind, n: usize) -> RunResult {
        RunResult {
            round,
            server,
            n,
            status: "ok".into(),
            notes: Vec::new(),
            connect: ConnectResult::default(),
            rss_start_kb: 0,
            rss_connected_kb: 0,
            server_hwm_kb: 0,
            server_threads: 0,
            phases: Vec::new(),
            lost_connections: 0,
            seq_gaps: 0,
            seq_missing: 0,
            seq_out_of_order: 0,
            pings_answered: 0,
            client_errors: BTreeMap::new(),
            server_log_warn_lines: 0,
            server_log_error_lines: 0,
            slow_consumer_log_lines: 0,
            server_exit: None,
            wall_secs: 0.0,
            background_cpu_pct: 0.0,
            waited_for_quiet_secs: 0.0,
        }
    }

    fn incomplete(&mut self, note: impl Into<String>) {
        self.status = "incomplete".into();
        self.notes.push(note.into());
    }
}

impl Args {
    pub fn rate_for(&self, level: usize) -> f64 {
        let default = (20_000.0 / level.max(1) as f64).min(50.0);
        let Some(rates) = &self.rates else {
            return default;
        };
        let i = self.levels.iter().position(|&n| n == level).unwrap_or(0);
        rates.get(i).or(rates.last()).copied().unwrap_or(default)
    }

    pub fn window_for(&self, n: usize) -> usize {
        (self.max_window_deliveries / n.max(1)).max(2)
    }

    /// Options that clap alone cannot check.
    pub fn check(&self) -> Result<()> {
        let increasing = self.max_writers.windows(2).all(|w| w[0] < w[1]);
        if !self.no_max && (self.max_writers.first().is_none_or(|&w| w == 0) || !increasing) {
            bail!(
                "--max-writers takes increasing writer counts above 0, e.g. 4,8,16,32 (got {:?})",
                self.max_writers
            );
        }
        Ok(())
    }

    /// The writer counts of the max phases at level `n` (see `max_writers`).
    pub fn max_writer_steps(&self, n: usize) -> Vec<usize> {
        let window = self.window_for(n);
        let mut steps = Vec::new();
        for &writers in &self.max_writers {
            if steps.last().is_some_and(|&before| before >= window) {
                break;
            }
            steps.push(writers);
        }
        steps
    }
}

fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    args.check()?;
    if args.render_only {
        return report::rerender(&args);
    }
    let kinds: Vec<Kind> = args
        .servers
        .iter()
        .map(|s| Kind::parse(s).with_context(|| format!("unknown server {s:?}")))
        .collect::<Result<_>>()?;
    if !args.deskbell_bin.exists() && kinds.contains(&Kind::Deskbell) {
        bail!(
            "{} not found: build it with `cargo build --release -p deskbell-server`",
            args.deskbell_bin.display()
        );
    }
    let paths = Paths {
        deskbell_bin: args.deskbell_bin.clone(),
        node_bin: args.node_bin.clone(),
        node_script: args.node_script.clone(),
    };
    let http = writer::http_client()?;
    let ticks = procstat::clock_ticks();
    let started = chrono::Utc::now();
    let wall = Instant::now();
    let mut results = Vec::new();
    let mut port = args.base_port;
    for round in 1..=args.rounds.max(1) {
        for &n in &args.levels {
            let mut order = kinds.clone();
            if round % 2 == 0 {
                order.reverse();
            }
            for kind in order {
                port += 1;
                eprintln!(
                    "== round {round}/{}: {} with N = {n} (port {port})",
                    args.rounds,
                    kind.label()
                );
                let mut result = RunResult::new(round, kind, n);
                let waited = Instant::now();
                result.background_cpu_pct = wait_for_quiet(&args).await;
                result.waited_for_quiet_secs = waited.elapsed().as_secs_f64();
                let run_start = Instant::now();
                let limit = open_files_limit().unwrap_or(0);
                if limit < n as u64 + 256 {
                    result.status = "skipped".into();
                    result.notes.push(format!(
                    "open-files limit {limit} is below N + 256; raise `ulimit -n` (run.sh does)"
                ));
                } else if let Err(e) =
                    run_one(&args, &paths, &http, kind, n, port, ticks, &mut result).await
                {
                    result.incomplete(format!("run aborted: {e:#}"));
                }
                result.wall_secs = run_start.elapsed().as_secs_f64();
                eprintln!(
                    "   {} in {:.1} s: {}",
                    result.status,
                    result.wall_secs,
                    summary_line(&result)
                );
                results.push(result);
                // Persist as we go, so an interrupted run still leaves data behind.
                report::write(&args, &results, started, wall.elapsed(), ticks)?;
            }
        }
    }
    report::write(&args, &results, started, wall.elapsed(), ticks)?;
    eprintln!(
        "wrote {} in {:.0} s",
        args.report.display(),
        wall.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Measures the machine's CPU use over 1 s, repeating until it is below `--quiet-below` or
/// `--quiet-wait-secs` have passed; returns the last measurement.
async fn wait_for_quiet(args: &Args) -> f64 {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let deadline = Instant::now() + Duration::from_secs(args.quiet_wait_secs);
    loop {
        let a = procstat::machine_ticks();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let busy = procstat::machine_percent(a, procstat::machine_ticks(), cores);
        if busy < args.quiet_below || Instant::now() >= deadline {
            if busy >= args.quiet_below {
                eprintln!(
                    "   machine still busy ({busy:.0} % of a core used by others); running anyway"
                );
            }
            return busy;
        }
    }
}

/// The name of the closed-loop phase with `writers` writers (`results.json`).
pub fn max_phase_name(writers: usize) -> String {
    format!("max-{writers}")
}

fn summary_line(r: &RunResult) -> String {
    let mut parts = vec![format!(
        "connected {}/{} in {:.1} s",
        r.connect.ready, r.n, r.connect.secs
    )];
    for p in &r.phases {
        parts.push(format!(
            "{}: {:.0} writes/s, {:.0} deliveries/s, {:.1}% delivered, p50 {:.1} ms p99 {:.1} ms",
            p.name,
            p.writes_per_sec,
            p.deliveries_per_sec,
            p.delivered_pct,
            p.e2e.p50_us as f64 / 1000.0,
            p.e2e.p99_us as f64 / 1000.0
        ));
    }
    if r.lost_connections > 0 {
        parts.push(format!("{} connections lost", r.lost_connections));
    }
    parts.join("; ")
}

#[allow(clippy::too_many_arguments)]
async fn run_one(
    args: &Args,
    paths: &Paths,
    http: &reqwest::Client,
    kind: Kind,
    n: usize,
    port: u16,
    ticks: u64,
    result: &mut RunResult,
) -> Result<()> {
    let work = args
        .work_dir
        .join(format!("{}-{n}-r{}", server::kind_file(kind), result.round));
    let mut srv = Server::spawn(kind, port, paths, &work)?;
    let outcome = drive(args, http, &mut srv, n, ticks, result).await;
    // Whatever happened, the server goes away and its log is read.
    if let Some(s) = procstat::sample(srv.pid()) {
        result.server_hwm_kb = s.hwm_kb;
        result.server_threads = s.threads;
    }
    let log = srv.log.clone();
    let exit = srv.stop(Duration::from_secs(5)).await;
    result.server_exit = exit.map(|s| s.to_string());
    result.server_log_warn_lines = server::count_log_lines(&log, " WARN ");
    result.server_log_error_lines = server::count_log_lines(&log, " ERROR ");
    result.slow_consumer_log_lines = server::count_log_lines(&log, "slow consumers disconnected");
    outcome
}

async fn drive(
    args: &Args,
    http: &reqwest::Client,
    srv: &mut Server,
    n: usize,
    ticks: u64,
    result: &mut RunResult,
) -> Result<()> {
    srv.wait_healthy(http, Duration::from_secs(30)).await?;
    let pid = srv.pid();
    result.rss_start_kb = procstat::sample(pid).map(|s| s.rss_kb).unwrap_or(0);
    let token = srv.login(http).await?;

    // Enough room for the fastest max phase seen (Node at N = 100) with margin.
    let capacity = ((args.rate_for(n) * args.phase_secs as f64) as usize + 16).max(400_000);
    let mut phases = vec![(
        "fixed".to_string(),
        Mode::Fixed {
            rate: args.rate_for(n),
            max_inflight: 256,
        },
    )];
    if !args.no_max {
        for writers in args.max_writer_steps(n) {
            phases.push((
                max_phase_name(writers),
                Mode::Max {
                    inflight: writers,
                    window: args.window_for(n),
                },
            ));
        }
    }
    let shared = Arc::new(Shared::new(phases.len(), capacity));
    let sampler = Sampler::start(pid, shared.t0, Duration::from_millis(200));

    // Connect N clients.
    let cfg = Arc::new(ClientConfig {
        url: srv.ws_url(),
        token,
        handshake_timeout: Duration::from_secs(20),
        attempts: args.connect_attempts,
    });
    let gate = Arc::new(Semaphore::new(args.connect_concurrency));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut clients = JoinSet::new();
    let cpu0 = procstat::sample(pid).unwrap_or_default();
    let t_connect = Instant::now();
    for _ in 0..n {
        clients.spawn(client::run_client(
            cfg.clone(),
            shared.clone(),
            gate.clone(),
            stop_rx.clone(),
        ));
    }
    let connect_deadline = t_connect + Duration::from_secs(args.connect_deadline_secs);
    loop {
        let ready = shared.ready.load(Ordering::Relaxed);
        let failed = shared.failed.load(Ordering::Relaxed);
        if ready + failed >= n as u64 {
            result.connect.complete = failed == 0;
            break;
        }
        if Instant::now() >= connect_deadline {
            result.incomplete(format!(
                "only {ready} of {n} clients connected within {} s ({failed} failed)",
                args.connect_deadline_secs
            ));
            break;
        }
        if srv.child.try_wait()?.is_some() {
            bail!("server exited while clients were connecting");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let connect_elapsed = t_connect.elapsed();
    let cpu1 = procstat::sample(pid).unwrap_or_default();
    result.connect.ready = shared.ready.load(Ordering::Relaxed);
    result.connect.failed = shared.failed.load(Ordering::Relaxed);
    result.connect.retries = shared.connect_retries.load(Ordering::Relaxed);
    result.connect.secs = connect_elapsed.as_secs_f64();
    result.connect.server_cpu_pct = procstat::cpu_percent(&cpu0, &cpu1, connect_elapsed, ticks);
    result.rss_connected_kb = cpu1.rss_kb;
    if result.connect.failed > 0 {
        result.incomplete(format!(
            "{} of {n} clients failed to connect",
            result.connect.failed
        ));
    }
    // Stop whatever is still trying so that the phases run with a settled population.
    if result.connect.ready == 0 {
        let _ = stop_tx.send(true);
        bail!("no client connected");
    }

    let run = async {
        for (i, (name, mode)) in phases.into_iter().enumerate() {
            let p = run_phase(
                args, srv, &shared, &sampler, i, &name, mode, &cfg.token, ticks,
            )
            .await?;
            result.phases.push(p);
        }
        anyhow::Ok(())
    };
    let outcome = run.await;

    result.lost_connections = shared.lost.load(Ordering::Relaxed);
    result.seq_gaps = shared.seq_gaps.load(Ordering::Relaxed);
    result.seq_missing = shared.seq_missing.load(Ordering::Relaxed);
    result.seq_out_of_order = shared.seq_out_of_order.load(Ordering::Relaxed);
    result.pings_answered = shared.pings.load(Ordering::Relaxed);
    if result.lost_connections > 0 {
        result.incomplete(format!(
            "{} connections were closed by the server side during the run",
            result.lost_connections
        ));
    }

    // Close the clients.
    let _ = stop_tx.send(true);
    let closing = tokio::time::timeout(Duration::from_secs(15), async {
        while clients.join_next().await.is_some() {}
    })
    .await;
    if closing.is_err() {
        clients.abort_all();
    }
    result.client_errors = shared.errors.lock().unwrap().clone();
    drop(sampler);
    outcome
}

#[allow(clippy::too_many_arguments)]
async fn run_phase(
    args: &Args,
    srv: &mut Server,
    shared: &Arc<Shared>,
    sampler: &Sampler,
    index: usize,
    name: &str,
    mode: Mode,
    token: &str,
    ticks: u64,
) -> Result<PhaseResult> {
    let pid = srv.pid();
    let stats = &shared.phases[index];
    let clients_at_start = shared.live.load(Ordering::Relaxed);
    let lost_before = shared.lost.load(Ordering::Relaxed);
    let srv0: ProcSample = procstat::sample(pid).context("server process is gone")?;
    let me0: ProcSample = procstat::sample(0).unwrap_or_default();
    let machine0 = procstat::machine_ticks();
    let t_phase = Instant::now();
    let phase_start_us = shared.now_us();

    let w = writer::run(
        mode,
        index,
        Duration::from_secs(args.phase_secs),
        &srv.base(),
        token,
        shared.clone(),
    )
    .await?;

    // Drain: until every written ticket reached every live client, or the deadline.
    let t_drain = Instant::now();
    let drain_deadline = t_drain + Duration::from_secs(args.drain_secs);
    let drained = loop {
        let live = shared.live.load(Ordering::Relaxed);
        let done = w
            .ok_indices
            .iter()
            .all(|&i| u64::from(stats.per_event[i].load(Ordering::Relaxed)) >= live);
        if done {
            break true;
        }
        if Instant::now() >= drain_deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let drain_secs = t_drain.elapsed().as_secs_f64();
    let elapsed = t_phase.elapsed();
    let srv1 = procstat::sample(pid).context("server process is gone")?;
    let me1 = procstat::sample(0).unwrap_or_default();
    let machine1 = procstat::machine_ticks();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let bytes = stats.bytes.load(Ordering::Relaxed);
    let end_us = shared.now_us();

    let deliveries = stats.deliveries.load(Ordering::Relaxed);
    let expected = w.ok * clients_at_start;
    let first_write = w.start_us;
    let last_recv = stats.last_recv_us.load(Ordering::Relaxed);
    let write_secs = (w.end_us.saturating_sub(w.start_us)) as f64 / 1e6;
    let span = (last_recv.saturating_sub(first_write)) as f64 / 1e6;
    Ok(PhaseResult {
        name: name.to_string(),
        mode,
        clients_at_start,
        clients_at_end: shared.live.load(Ordering::Relaxed),
        lost_during_phase: shared.lost.load(Ordering::Relaxed) - lost_before,
        writes_per_sec: if write_secs > 0.0 {
            w.ok as f64 / write_secs
        } else {
            0.0
        },
        write_secs,
        deliveries,
        expected_deliveries: expected,
        delivered_pct: if expected > 0 {
            deliveries as f64 * 100.0 / expected as f64
        } else {
            0.0
        },
        deliveries_per_sec: if span > 0.0 {
            deliveries as f64 / span
        } else {
            0.0
        },
        drained,
        drain_secs,
        unmatched: stats.unmatched.load(Ordering::Relaxed),
        e2e: stats.e2e.snapshot(),
        server_ts: stats.server_ts.snapshot(),
        negative_server_ts: stats.negative_server_ts.load(Ordering::Relaxed),
        server_cpu_pct: procstat::cpu_percent(&srv0, &srv1, elapsed, ticks),
        server_rss_peak_kb: sampler.peak_rss_kb(phase_start_us, end_us).max(srv1.rss_kb),
        server_rss_end_kb: srv1.rss_kb,
        loadgen_cpu_pct: procstat::cpu_percent(&me0, &me1, elapsed, ticks),
        machine_cpu_pct: procstat::machine_percent(machine0, machine1, cores),
        frame_bytes: if deliveries > 0 {
            bytes as f64 / deliveries as f64
        } else {
            0.0
        },
        mb_per_sec: if span > 0.0 {
            bytes as f64 / span / 1e6
        } else {
            0.0
        },
        writer: w,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_steps_stop_once_the_window_bounds_the_loop() {
        let args = Args::parse_from(["bench", "--max-writers", "4,8,16,32"]);
        // W = 50 000 / N.
        assert_eq!(args.max_writer_steps(100), [4, 8, 16, 32]);
        assert_eq!(args.max_writer_steps(1_000), [4, 8, 16, 32]);
        assert_eq!(args.max_writer_steps(10_000), [4, 8]);
        assert_eq!(args.max_writer_steps(25_000), [4]);
    }

    #[test]
    fn writer_steps_must_increase_from_above_zero() {
        let parse = |steps: &str| Args::parse_from(["bench", "--max-writers", steps]).check();
        assert!(parse("4,8,16,32").is_ok());
        assert!(parse("16").is_ok());
        for bad in ["0,4", "8,4", "4,4,8"] {
            let err = parse(bad).expect_err(bad).to_string();
            assert!(err.contains("--max-writers"), "{bad}: {err}");
        }
    }
}
