//! Fan-out benchmark: deskbell-server and a Node socket.io 4 server doing the same job, side by
//! side, on loopback. See bench/fanout/REPORT.md (written by this program) for the method.
//! `--cluster` runs the same phases against two nodes of each (Deskbell on PostgreSQL + Redis,
//! Node with `@socket.io/redis-adapter`) beside the one-node baseline: bench/cluster/REPORT.md.

mod client;
mod cluster_report;
mod hist;
mod procstat;
mod report;
mod server;
mod writer;

use anyhow::{bail, Context, Result};
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser};
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
use server::{Deployment, Kind, NodeOpts, Paths, PgDatabase, Redis, Server};
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
    /// Nodes per server, one run per count at every level (`1,2`: the one-node baseline and a
    /// two-node cluster in the same round). Clients and writes are spread over the nodes in
    /// turn. More than one node needs Redis (`--redis-bin`) and, for Deskbell, PostgreSQL.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    #[serde(default = "one_node")]
    pub nodes: Vec<usize>,
    /// A PostgreSQL server (`postgres://user:pw@host:port/any`, a role that may create
    /// databases): every Deskbell run then gets a fresh database of its own on it
    /// (`CREATE DATABASE`, dropped afterwards) instead of a fresh SQLite file.
    #[arg(long, env = "DESKBELL_BENCH_POSTGRES_URL", hide_env_values = true)]
    #[serde(default, skip_serializing)]
    pub postgres_url: Option<String>,
    /// `redis-server` to start, one fresh instance per cluster run (no persistence).
    #[arg(long, default_value = "redis-server")]
    #[serde(default)]
    pub redis_bin: String,
    /// The cluster benchmark (bench/cluster/run.sh): unless given otherwise, N = 1 000 and
    /// 10 000, nodes 1 and 2, 3 rounds, the cross-node probe, and the report, analysis and
    /// scratch paths under bench/cluster and target/bench-cluster.
    #[arg(long)]
    #[serde(default)]
    pub cluster: bool,
    /// A short check rather than a measurement: 1 round, N = 1 000 only, 3 s phases, writers 4
    /// and 16, a short probe; the report goes to the scratch directory (the committed one is
    /// left alone) and the exit status is 1 if any acknowledged event was lost or duplicated or
    /// a run did not complete.
    #[arg(long)]
    #[serde(default)]
    pub quick: bool,
    /// Cross-node probe (cluster mode): clients connected to node B only, tickets written
    /// through node A only, at `--probe-rate` for `--probe-secs`: once over Redis, once with no
    /// Redis (the other node reads the log when it polls it).
    #[arg(long, default_value_t = 100)]
    #[serde(default)]
    pub probe_clients: usize,
    #[arg(long, default_value_t = 20.0)]
    #[serde(default)]
    pub probe_rate: f64,
    #[arg(long, default_value_t = 10)]
    #[serde(default)]
    pub probe_secs: u64,
    /// Skip the cross-node probe.
    #[arg(long)]
    #[serde(default)]
    pub no_probe: bool,
    /// `KEY=VALUE` set in every Deskbell node's environment (repeatable), e.g.
    /// `TOKIO_WORKER_THREADS=1` for a side run; the load generator keeps its own.
    #[arg(long)]
    #[serde(default)]
    pub deskbell_env: Vec<String>,
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
    /// Acknowledged tickets missing at a client connected through the whole phase (receipts),
    /// the clients that missed at least one, and the clients checked (see `client::Ledger`).
    #[serde(default)]
    pub lost_events: u64,
    #[serde(default)]
    pub lost_clients: u64,
    #[serde(default)]
    pub checked_clients: u64,
    /// Tickets a client received more than once.
    #[serde(default)]
    pub duplicate_events: u64,
    /// CPU of the deployment's Redis and of every PostgreSQL process, % of one core (cluster).
    #[serde(default)]
    pub redis_cpu_pct: f64,
    #[serde(default)]
    pub db_cpu_pct: f64,
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
    /// Server processes (each with its own port; clients and writes spread over them).
    #[serde(default = "one")]
    pub nodes: usize,
    /// `spread` (clients and writes over all nodes, the measured phases) or one of the
    /// cross-node probes: `probe-redis`, `probe-log` (clients on the last node, writes through
    /// the first; Redis present or not).
    #[serde(default = "spread")]
    pub scenario: String,
    /// `sqlite`, `postgres` or `memory` (Node), and whether the nodes were joined by Redis.
    #[serde(default)]
    pub database: String,
    #[serde(default)]
    pub redis: bool,
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
    /// The processes that used the most CPU in that second.
    #[serde(default)]
    pub background_top: String,
}

fn one_node() -> Vec<usize> {
    vec![1]
}

fn one() -> usize {
    1
}

fn spread() -> String {
    SPREAD.to_string()
}

pub const SPREAD: &str = "spread";
pub const PROBE_REDIS: &str = "probe-redis";
pub const PROBE_LOG: &str = "probe-log";

impl RunResult {
    fn new(round: usize, server: Kind, n: usize, nodes: usize, scenario: &str) -> RunResult {
        RunResult {
            round,
            server,
            n,
            nodes,
            scenario: scenario.to_string(),
            database: String::new(),
            redis: false,
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
            background_top: String::new(),
        }
    }

    /// "Deskbell × 2", "Node socket.io" …
    pub fn label(&self) -> String {
        cluster_report::config_label(self.server, self.nodes)
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

    /// `--cluster` and `--quick` defaults, for the options the command line left alone.
    fn apply_presets(&mut self, m: &ArgMatches) {
        let unset = |id: &str| m.value_source(id) != Some(ValueSource::CommandLine);
        if self.cluster {
            if unset("levels") {
                self.levels = vec![1_000, 10_000];
            }
            if unset("nodes") {
                self.nodes = vec![1, 2];
            }
            if unset("rounds") {
                self.rounds = 3;
            }
            if unset("report") {
                self.report = "bench/cluster/REPORT.md".into();
            }
            if unset("analysis") {
                self.analysis = "bench/cluster/ANALYSIS.md".into();
            }
            if unset("work_dir") {
                self.work_dir = "target/bench-cluster".into();
            }
            if unset("base_port") {
                self.base_port = 19_700;
            }
        }
        if self.quick {
            if unset("rounds") {
                self.rounds = 1;
            }
            if unset("levels") {
                self.levels = vec![1_000];
            }
            if unset("phase_secs") {
                self.phase_secs = 3;
            }
            if unset("drain_secs") {
                self.drain_secs = 5;
            }
            if unset("max_writers") {
                self.max_writers = vec![4, 16];
            }
            if unset("probe_secs") {
                self.probe_secs = 4;
            }
            if unset("quiet_wait_secs") {
                self.quiet_wait_secs = 3;
            }
            if unset("report") {
                self.report = self.work_dir.join("quick/REPORT.md");
            }
        }
    }

    /// Whether this is a cluster run (its own report).
    pub fn is_cluster(&self) -> bool {
        self.cluster || self.nodes.iter().any(|&n| n != 1)
    }

    /// Options that clap alone cannot check.
    pub fn check(&self) -> Result<()> {
        if self.nodes.is_empty() || self.nodes.contains(&0) {
            bail!("--nodes takes node counts above 0, e.g. 1,2");
        }
        if !self.render_only
            && self.nodes.iter().any(|&n| n > 1)
            && self.servers.iter().any(|s| s == "deskbell")
            && self.postgres_url.is_none()
        {
            bail!(
                "Deskbell on more than one node needs PostgreSQL: pass --postgres-url postgres://… (bench/cluster/run.sh takes it from scripts/postgres.sh)"
            );
        }
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
    let matches = Args::command().get_matches();
    let mut args = Args::from_arg_matches(&matches)?;
    args.apply_presets(&matches);
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
        redis_bin: args.redis_bin.clone(),
        postgres_url: args.postgres_url.clone(),
        deskbell_env: args
            .deskbell_env
            .iter()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => Ok((k.to_string(), v.to_string())),
                None => bail!("--deskbell-env takes KEY=VALUE, got {kv:?}"),
            })
            .collect::<Result<_>>()?,
    };
    let http = writer::http_client()?;
    let ticks = procstat::clock_ticks();
    let started = chrono::Utc::now();
    let wall = Instant::now();
    let mut results = Vec::new();
    // Each run gets ports base + 4k … base + 4k + 3: its nodes, then its Redis.
    let mut port = args.base_port;
    let mut plans = Vec::new();
    for round in 1..=args.rounds.max(1) {
        for &n in &args.levels {
            let mut order = Vec::new();
            for &kind in &kinds {
                for &nodes in &args.nodes {
                    order.push((kind, nodes));
                }
            }
            if round % 2 == 0 {
                order.reverse();
            }
            for (kind, nodes) in order {
                plans.push(Plan {
                    round,
                    kind,
                    n,
                    nodes,
                    scenario: SPREAD,
                    redis: nodes > 1,
                });
            }
        }
    }
    // The cross-node probe: Deskbell over Redis, Deskbell with the log poll only, and Node's
    // adapter for reference; once, after the rounds.
    if args.is_cluster() && !args.no_probe && args.nodes.iter().any(|&n| n > 1) {
        for &kind in &kinds {
            let probes: &[(&str, bool)] = match kind {
                Kind::Deskbell => &[(PROBE_REDIS, true), (PROBE_LOG, false)],
                Kind::Node => &[(PROBE_REDIS, true)],
            };
            for &(scenario, redis) in probes {
                plans.push(Plan {
                    round: 1,
                    kind,
                    n: args.probe_clients,
                    nodes: 2,
                    scenario,
                    redis,
                });
            }
        }
    }
    for (i, plan) in plans.iter().enumerate() {
        port += 4;
        eprintln!(
            "== [{}/{}] round {}/{}: {} with N = {}{} (ports {port}…)",
            i + 1,
            plans.len(),
            plan.round,
            args.rounds,
            cluster_report::config_label(plan.kind, plan.nodes),
            plan.n,
            if plan.scenario == SPREAD {
                String::new()
            } else {
                format!(", {}", plan.scenario)
            }
        );
        let mut result = RunResult::new(plan.round, plan.kind, plan.n, plan.nodes, plan.scenario);
        let waited = Instant::now();
        (result.background_cpu_pct, result.background_top) = wait_for_quiet(&args, ticks).await;
        result.waited_for_quiet_secs = waited.elapsed().as_secs_f64();
        let run_start = Instant::now();
        let limit = open_files_limit().unwrap_or(0);
        if limit < plan.n as u64 + 256 {
            result.status = "skipped".into();
            result.notes.push(format!(
                "open-files limit {limit} is below N + 256; raise `ulimit -n` (run.sh does)"
            ));
        } else if let Err(e) = run_one(&args, &paths, &http, plan, port, ticks, &mut result).await {
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
    report::write(&args, &results, started, wall.elapsed(), ticks)?;
    eprintln!(
        "wrote {} in {:.0} s",
        args.report.display(),
        wall.elapsed().as_secs_f64()
    );
    if args.quick {
        let bad: Vec<String> = results.iter().filter_map(quick_check_failure).collect();
        if !bad.is_empty() {
            for b in &bad {
                eprintln!("quick check FAILED: {b}");
            }
            std::process::exit(1);
        }
        eprintln!("quick check passed: every acknowledged event reached every client once");
    }
    Ok(())
}

/// What `--quick` fails on: a run that did not complete, or an acknowledged event lost or
/// duplicated at a client.
fn quick_check_failure(r: &RunResult) -> Option<String> {
    let lost: u64 = r.phases.iter().map(|p| p.lost_events).sum();
    let dup: u64 = r.phases.iter().map(|p| p.duplicate_events).sum();
    // Node's adapter is not expected to order or recover anything: only Deskbell must pass.
    let strict = r.server == Kind::Deskbell;
    if r.status != "ok" || (strict && (lost > 0 || dup > 0)) {
        Some(format!(
            "{} N = {} {}: status {}, {lost} lost, {dup} duplicated {:?}",
            r.label(),
            r.n,
            r.scenario,
            r.status,
            r.notes
        ))
    } else {
        None
    }
}

/// One measured run: which server, how many nodes, and how clients and writes are placed.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub round: usize,
    pub kind: Kind,
    pub n: usize,
    pub nodes: usize,
    pub scenario: &'static str,
    pub redis: bool,
}

impl Plan {
    fn is_probe(&self) -> bool {
        self.scenario != SPREAD
    }
}

/// Measures the machine's CPU use over 1 s, repeating until it is below `--quiet-below` or
/// `--quiet-wait-secs` have passed; returns the last measurement and the processes that used
/// the most CPU in that second.
async fn wait_for_quiet(args: &Args, ticks: u64) -> (f64, String) {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let deadline = Instant::now() + Duration::from_secs(args.quiet_wait_secs);
    loop {
        let a = procstat::machine_ticks();
        let procs_a = procstat::all_processes();
        let t = Instant::now();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let busy = procstat::machine_percent(a, procstat::machine_ticks(), cores);
        let top = procstat::top_commands(
            &procs_a,
            &procstat::all_processes(),
            t.elapsed(),
            ticks,
            3.0,
            3,
        );
        let top = if top.is_empty() && busy >= args.quiet_below {
            "processes that ended within the second, or the kernel".to_string()
        } else {
            top
        };
        if busy < args.quiet_below || Instant::now() >= deadline {
            if busy >= args.quiet_below {
                eprintln!(
                    "   machine still busy ({busy:.0} % of a core used by others: {top}); running anyway"
                );
            }
            return (busy, top);
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

/// Starts what `plan` needs: for a cluster a fresh Redis, for Deskbell on PostgreSQL a fresh
/// database, then the nodes (at once: Deskbell nodes seed the demo once between them), each
/// healthy before this returns.
async fn deploy(
    paths: &Paths,
    http: &reqwest::Client,
    plan: &Plan,
    port: u16,
    work: &std::path::Path,
    result: &mut RunResult,
) -> Result<Deployment> {
    let mut deployment = Deployment {
        nodes: Vec::new(),
        redis: None,
        database: None,
    };
    result.redis = plan.redis;
    result.database = match plan.kind {
        Kind::Node => "memory".into(),
        Kind::Deskbell if paths.postgres_url.is_some() => "postgres".into(),
        Kind::Deskbell => "sqlite".into(),
    };
    let outcome = async {
        if plan.redis {
            deployment.redis = Some(Redis::start(&paths.redis_bin, port + 3, work).await?);
        }
        if let (Kind::Deskbell, Some(admin)) = (plan.kind, &paths.postgres_url) {
            let name = format!("deskbell_bench_{}_{port}", std::process::id());
            deployment.database = Some(PgDatabase::create(admin, &name)?);
        }
        for i in 0..plan.nodes {
            let opts = NodeOpts {
                database_url: deployment.database.as_ref().map(PgDatabase::url),
                redis_url: deployment.redis.as_ref().map(Redis::url),
                node_name: (plan.nodes > 1).then(|| ((b'a' + i as u8) as char).to_string()),
                worker_threads: (plan.nodes > 1).then(|| {
                    std::thread::available_parallelism()
                        .map_or(2, |n| n.get())
                        .div_ceil(plan.nodes)
                }),
            };
            deployment.nodes.push(Server::spawn(
                plan.kind,
                port + i as u16,
                paths,
                work,
                &opts,
            )?);
        }
        let deadline = Duration::from_secs(60);
        for node in &mut deployment.nodes {
            node.wait_healthy(http, deadline).await?;
        }
        anyhow::Ok(())
    }
    .await;
    match outcome {
        Ok(()) => Ok(deployment),
        Err(e) => {
            deployment.stop(Duration::from_secs(5)).await;
            Err(e)
        }
    }
}

async fn run_one(
    args: &Args,
    paths: &Paths,
    http: &reqwest::Client,
    plan: &Plan,
    port: u16,
    ticks: u64,
    result: &mut RunResult,
) -> Result<()> {
    let mut dir = format!("{}-{}", server::kind_file(plan.kind), plan.n);
    if plan.nodes > 1 {
        dir = format!("{}-x{}", dir, plan.nodes);
    }
    if plan.is_probe() {
        dir = format!("{dir}-{}", plan.scenario);
    }
    let work = args.work_dir.join(format!("{dir}-r{}", plan.round));
    let _ = std::fs::remove_dir_all(&work);
    let mut dep = deploy(paths, http, plan, port, &work, result).await?;
    let outcome = drive(args, http, &mut dep, plan, ticks, result).await;
    // Whatever happened, the servers go away and their logs are read.
    if let Some(s) = procstat::sample_all(&dep.pids()) {
        result.server_hwm_kb = s.hwm_kb;
        result.server_threads = s.threads;
    }
    let stopped = dep.stop(Duration::from_secs(5)).await;
    let exits: Vec<String> = stopped
        .iter()
        .map(|(e, _)| e.map(|s| s.to_string()).unwrap_or_else(|| "?".into()))
        .collect();
    result.server_exit = Some(exits.join(", "));
    for (_, log) in &stopped {
        result.server_log_warn_lines += server::count_log_lines(log, " WARN ");
        result.server_log_error_lines += server::count_log_lines(log, " ERROR ");
        result.slow_consumer_log_lines +=
            server::count_log_lines(log, "slow consumers disconnected");
    }
    outcome
}

async fn drive(
    args: &Args,
    http: &reqwest::Client,
    dep: &mut Deployment,
    plan: &Plan,
    ticks: u64,
    result: &mut RunResult,
) -> Result<()> {
    let n = plan.n;
    let pids = dep.pids();
    result.rss_start_kb = procstat::sample_all(&pids).map(|s| s.rss_kb).unwrap_or(0);
    // One sign-in: a token from one node works on every node of the cluster.
    let token = dep.nodes[0].login(http).await?;

    // Spread: clients and writes over every node in turn. A probe: clients on the last node,
    // writes through the first, so every delivery crosses from one node to the other.
    let (client_urls, writer_bases): (Vec<String>, Vec<String>) = if plan.is_probe() {
        let last = dep.nodes.last().context("no node")?;
        (vec![last.ws_url()], vec![dep.nodes[0].base()])
    } else {
        (
            dep.nodes.iter().map(Server::ws_url).collect(),
            dep.nodes.iter().map(Server::base).collect(),
        )
    };

    // Enough room for the fastest max phase seen (Node at N = 100) with margin.
    let capacity = ((args.rate_for(n) * args.phase_secs as f64) as usize + 16).max(400_000);
    let mut phases = vec![(
        "fixed".to_string(),
        if plan.is_probe() {
            Mode::Fixed {
                rate: args.probe_rate,
                max_inflight: 256,
            }
        } else {
            Mode::Fixed {
                rate: args.rate_for(n),
                max_inflight: 256,
            }
        },
    )];
    if !args.no_max && !plan.is_probe() {
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
    let phase_secs = if plan.is_probe() {
        args.probe_secs
    } else {
        args.phase_secs
    };
    let shared = Arc::new(Shared::new(phases.len(), capacity));
    let sampler = Sampler::start(pids.clone(), shared.t0, Duration::from_millis(200));

    // Connect N clients.
    let cfg = Arc::new(ClientConfig {
        urls: client_urls,
        token,
        handshake_timeout: Duration::from_secs(20),
        attempts: args.connect_attempts,
    });
    let gate = Arc::new(Semaphore::new(args.connect_concurrency));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut clients = JoinSet::new();
    let cpu0 = procstat::sample_all(&pids).unwrap_or_default();
    let t_connect = Instant::now();
    for i in 0..n {
        clients.spawn(client::run_client(
            cfg.clone(),
            i,
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
        for node in &mut dep.nodes {
            if node.child.try_wait()?.is_some() {
                bail!("a server exited while clients were connecting");
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let connect_elapsed = t_connect.elapsed();
    let cpu1 = procstat::sample_all(&pids).unwrap_or_default();
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

    let redis_pid = dep.redis.as_ref().map(Redis::pid);
    let run = async {
        for (i, (name, mode)) in phases.into_iter().enumerate() {
            let p = run_phase(
                args,
                &pids,
                redis_pid,
                &writer_bases,
                phase_secs,
                &shared,
                &sampler,
                i,
                &name,
                mode,
                &cfg.token,
                ticks,
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
    pids: &[u32],
    redis_pid: Option<u32>,
    writer_bases: &[String],
    phase_secs: u64,
    shared: &Arc<Shared>,
    sampler: &Sampler,
    index: usize,
    name: &str,
    mode: Mode,
    token: &str,
    ticks: u64,
) -> Result<PhaseResult> {
    let stats = &shared.phases[index];
    let clients_at_start = shared.live.load(Ordering::Relaxed);
    let lost_before = shared.lost.load(Ordering::Relaxed);
    let srv0: ProcSample = procstat::sample_all(pids).context("a server process is gone")?;
    let me0: ProcSample = procstat::sample(0).unwrap_or_default();
    let redis0 = redis_pid.and_then(procstat::sample).unwrap_or_default();
    let db0 = procstat::ticks_of_command("postgres");
    let machine0 = procstat::machine_ticks();
    let t_phase = Instant::now();
    let phase_start_us = shared.now_us();

    let w = writer::run(
        mode,
        index,
        Duration::from_secs(phase_secs),
        writer_bases,
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
    let srv1 = procstat::sample_all(pids).context("a server process is gone")?;
    let me1 = procstat::sample(0).unwrap_or_default();
    let redis1 = redis_pid.and_then(procstat::sample).unwrap_or_default();
    let db1 = procstat::ticks_of_command("postgres");
    let machine1 = procstat::machine_ticks();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let bytes = stats.bytes.load(Ordering::Relaxed);
    let end_us = shared.now_us();
    let (lost_events, lost_clients, checked_clients) =
        client::lost_in_phase(shared, index, &w.ok_indices, phase_start_us, end_us);

    let deliveries = stats.deliveries.load(Ordering::Relaxed);
    let expected = w.ok * clients_at_start;
    let first_write = w.start_us;
    let last_recv = stats.last_recv_us.load(Ordering::Relaxed);
    let write_secs = (w.end_us.saturating_sub(w.start_us)) as f64 / 1e6;
    let span = (last_recv.saturating_sub(first_write)) as f64 / 1e6;
    Ok(PhaseResult {
        name: name.to_string(),
        mode,
        lost_events,
        lost_clients,
        checked_clients,
        duplicate_events: stats.duplicates.load(Ordering::Relaxed),
        redis_cpu_pct: if redis_pid.is_some() {
            procstat::cpu_percent(&redis0, &redis1, elapsed, ticks)
        } else {
            0.0
        },
        db_cpu_pct: db1.saturating_sub(db0) as f64 / ticks as f64 / elapsed.as_secs_f64().max(1e-3)
            * 100.0,
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
