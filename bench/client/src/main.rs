//! Client-core benchmark: the board reducer's throughput, REST write → this client's board
//! latency with other clients in the same company namespace, the time back to Live after
//! a server restart and after a forced wake, and urgent alerts across 100 members (urgent
//! write → notification shown, acknowledge → the others' notifications withdrawn). See bench/client/REPORT.md (written by this
//! program) for the method and the numbers.
//!
//! One process: the server runs in process on its own runtime, the other clients on another,
//! the measured client on a third (one thread, like an app's core) and the REST writer on a
//! fourth; every runtime names its threads so that CPU can be told apart per thread group.

mod alerts;
mod live;
mod logcount;
mod others;
mod probe;
mod procstat;
mod reducer;
mod report;
mod server;
mod stats;
mod writer;

use anyhow::{Context, Result};
use clap::Parser;
use deskbell_bench_support::procfs;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

#[derive(Parser, Debug, Clone, Serialize, Deserialize)]
#[command(about = "Deskbell client-core benchmark (reducer, write → board latency, reconnects)")]
pub struct Args {
    /// Parts to run, in order: reducer, live (latency, forced wake, server restart), alerts
    /// (urgent write → notification, acknowledge → withdrawn, across `members` cores). A part
    /// not run keeps its results from the previous results.json (the report says so).
    #[arg(long, value_delimiter = ',', default_value = "reducer,live,alerts")]
    pub parts: Vec<String>,

    /// Reducer: tickets in the snapshot.
    #[arg(long, default_value_t = 10_000)]
    pub reducer_tickets: usize,
    /// Reducer: ticket events applied after the snapshot.
    #[arg(long, default_value_t = 100_000)]
    pub reducer_events: usize,
    /// Reducer: lane events (renames; each touches every card).
    #[arg(long, default_value_t = 100)]
    pub lane_events: usize,
    /// Reducer: runs of each measurement (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,

    /// Live: tickets created over REST before the measured client connects (the demo's 36
    /// come on top).
    #[arg(long, default_value_t = 2_000)]
    pub board_tickets: usize,
    /// Live: other clients connected to /workspace-1 during the loaded latency phase.
    #[arg(long, default_value_t = 1_000)]
    pub others: usize,
    /// Live: worker threads of the other clients' runtime.
    #[arg(long, default_value_t = 2)]
    pub others_threads: usize,
    /// Live: handshakes of the other clients in progress at once.
    #[arg(long, default_value_t = 200)]
    pub connect_concurrency: usize,
    /// Live: REST writes per second (open loop).
    #[arg(long, default_value_t = 50.0)]
    pub rate: f64,
    /// Live: writes of the loaded phase.
    #[arg(long, default_value_t = 3_000)]
    pub samples: usize,
    /// Live: writes of the baseline phase (no other client); 0 skips it.
    #[arg(long, default_value_t = 1_000)]
    pub baseline_samples: usize,
    /// Live: requests outstanding at most; a slot that finds them all busy is skipped.
    #[arg(long, default_value_t = 64)]
    pub max_inflight: usize,
    /// Live: after the last write, how long to wait for the outstanding events.
    #[arg(long, default_value_t = 15)]
    pub drain_secs: u64,
    /// Live: forced wakes (`reconnect_now()` → Live).
    #[arg(long, default_value_t = 50)]
    pub wake_runs: usize,
    /// Live: pause between forced wakes, ms (pacing).
    #[arg(long, default_value_t = 50)]
    pub wake_pacing_ms: u64,
    /// Live: server restarts (each waits until the connection was Live for stable_after).
    #[arg(long, default_value_t = 5)]
    pub restarts: usize,

    /// Alerts: members of the company, each a whole client core (`Desk`).
    #[arg(long, default_value_t = 100)]
    pub members: usize,
    /// Alerts: rounds (one urgent ticket created, then acknowledged) per window.
    #[arg(long, default_value_t = 50)]
    pub alert_rounds: usize,
    /// Alerts: the desks' coalescing windows to measure with, ms, one phase each (2000 is the
    /// core's default, `alerts::DEFAULT_WINDOW`).
    #[arg(long, value_delimiter = ',', default_value = "2000,0")]
    pub alert_windows_ms: Vec<u64>,
    /// Alerts: pause between rounds, ms (pacing; a round starts only once the previous one
    /// is complete). Longer than the coalescing window, each round's alert is the first after
    /// a quiet spell, delivered at once; shorter, it waits for the rest of the window.
    #[arg(long, default_value_t = 2500)]
    pub alert_gap_ms: u64,
    /// Alerts: how long each stage of a round waits for every member, s (plus the window).
    #[arg(long, default_value_t = 10)]
    pub alert_wait_secs: u64,

    /// Alerts: the control URL of a `deskbell-notify-capture` on this process's session bus
    /// (run.sh `--dbus` starts one on a private bus): then the last `--dbus-members` members
    /// also show their alerts over D-Bus and the capture's receive times are reported.
    #[arg(long)]
    pub notify_capture_url: Option<String>,
    /// Alerts: members whose alerts also go to D-Bus (the last ones; with --notify-capture-url).
    #[arg(long, default_value_t = 5)]
    pub dbus_members: usize,

    /// Before each measured phase, wait up to this long for the machine's other CPU use
    /// (builds, tests) to drop below --quiet-below; the level seen is reported either way.
    #[arg(long, default_value_t = 10)]
    pub quiet_wait_secs: u64,
    /// Background CPU, in % of one core, considered quiet.
    #[arg(long, default_value_t = 25.0)]
    pub quiet_below: f64,

    /// Scratch space (the server's data dir); not committed.
    #[arg(long, default_value = "target/bench-client")]
    pub work_dir: PathBuf,
    #[arg(long, default_value = "bench/client/results.json")]
    pub results: PathBuf,
    #[arg(long, default_value = "bench/client/REPORT.md")]
    pub report: PathBuf,
    /// Hand-written observations included in the report.
    #[arg(long, default_value = "bench/client/ANALYSIS.md")]
    pub analysis: PathBuf,
    /// Only render REPORT.md again from results.json (e.g. after editing ANALYSIS.md).
    #[arg(long)]
    pub render_only: bool,
}

impl Args {
    fn wants(&self, part: &str) -> bool {
        self.parts.iter().any(|p| p == part)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_mb: u64,
    pub kernel: String,
    pub rustc: String,
    pub open_files_limit: u64,
    pub commit: String,
    /// `git status --porcelain crates/` was not empty.
    pub crates_dirty: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Results {
    pub generated: String,
    pub wall_secs: f64,
    pub status: String,
    pub machine: Machine,
    pub args: Option<Args>,
    pub reducer: Option<reducer::ReducerResult>,
    pub live: Option<live::LiveResult>,
    #[serde(default)]
    pub alerts: Option<alerts::AlertsResult>,
    /// When each part's results were measured (a part not run keeps the previous run's).
    #[serde(default)]
    pub parts_generated: BTreeMap<String, String>,
    pub logs: logcount::LogCounts,
    pub peak_rss_mb: f64,
    pub notes: Vec<String>,
}

fn command_line(cmd: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn machine() -> Machine {
    Machine {
        cpu: procfs::cpu_model(),
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        memory_mb: procfs::mem_total_mb(),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "unknown".into()),
        rustc: command_line("rustc", &["-V"]).unwrap_or_else(|| "unknown".into()),
        open_files_limit: open_files_limit(),
        commit: command_line("git", &["rev-parse", "--short", "HEAD"])
            .unwrap_or_else(|| "unknown".into()),
        crates_dirty: command_line("git", &["status", "--porcelain", "crates/"])
            .is_some_and(|s| !s.is_empty()),
    }
}

fn open_files_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        lim.rlim_cur
    } else {
        0
    }
}

/// Raises the soft open-files limit to the hard one: every other client is two descriptors
/// here (its socket and the server's end of it).
fn raise_open_files() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
    open_files_limit()
}

fn runtime(name: &str, threads: usize) -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .thread_name(name)
        .enable_all()
        .build()
        .with_context(|| format!("building the {name} runtime"))
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.render_only {
        let text = std::fs::read_to_string(&args.results)
            .with_context(|| format!("reading {}", args.results.display()))?;
        let results: Results = serde_json::from_str(&text).context("parsing results.json")?;
        report::write_report(&args, &results)?;
        eprintln!("wrote {}", args.report.display());
        return Ok(());
    }

    let counter = logcount::LogCounter::default();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(filter),
        )
        .with(counter.clone().with_filter(EnvFilter::new("warn")))
        .init();

    let limit = raise_open_files();
    let needed = 2 * args.others as u64 + 512;
    let wall = Instant::now();
    let mut results = Results {
        generated: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        status: "running".into(),
        machine: machine(),
        args: Some(args.clone()),
        ..Results::default()
    };
    carry_over(&args, &mut results);
    if args.wants("live") && limit < needed {
        results.notes.push(format!(
            "open-files limit {limit} is below 2 × others + 512 = {needed}: raise `ulimit -n` (run.sh does)"
        ));
    }
    eprintln!(
        "deskbell-bench-client: {} cores, open files limit {limit}, {}",
        results.machine.cores, results.machine.rustc
    );

    let server_rt = runtime("bc-server", 2)?;
    let others_rt = runtime("bc-others", args.others_threads)?;
    let client_rt = runtime("bc-client", 1)?;
    let writer_rt = runtime("bc-writer", 1)?;
    let main_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let handles = live::Handles {
        server: server_rt.handle().clone(),
        others: others_rt.handle().clone(),
        client: client_rt.handle().clone(),
        writer: writer_rt.handle().clone(),
    };

    let outcome: Result<()> = main_rt.block_on(async {
        if args.wants("reducer") {
            eprintln!("== part 1: reducer throughput");
            let background =
                live::wait_for_quiet(Duration::from_secs(args.quiet_wait_secs), args.quiet_below)
                    .await;
            let cfg = reducer::ReducerConfig {
                tickets: args.reducer_tickets,
                events: args.reducer_events,
                lane_events: args.lane_events,
                runs: args.runs,
            };
            mark(&mut results, "reducer");
            match reducer::run(&cfg) {
                Ok(mut r) => {
                    r.background_before_pct = background.round();
                    results.reducer = Some(r);
                }
                Err(e) => results.notes.push(format!("reducer aborted: {e:#}")),
            }
            persist(&args, &mut results, wall, &counter)?;
        }
        if args.wants("live") && !results.notes.iter().any(|n| n.starts_with("open-files")) {
            eprintln!("== parts 2 and 3: write → board latency, time back to Live");
            mark(&mut results, "live");
            let mut live = live::LiveResult::default();
            let outcome = live::run(&args, &handles, &mut live).await;
            results.live = Some(live);
            if let Err(e) = outcome {
                eprintln!("live part aborted: {e:#}");
                results.notes.push(format!("live part aborted: {e:#}"));
            }
            persist(&args, &mut results, wall, &counter)?;
        }
        if args.wants("alerts") {
            eprintln!("== part 4: urgent alerts across {} members", args.members);
            mark(&mut results, "alerts");
            let mut alerts = alerts::AlertsResult::default();
            let outcome = alerts::run(&args, &handles, &mut alerts).await;
            results.alerts = Some(alerts);
            if let Err(e) = outcome {
                eprintln!("alerts part aborted: {e:#}");
                results.notes.push(format!("alerts part aborted: {e:#}"));
            }
        }
        Ok(())
    });
    results.status = if results.notes.iter().any(|n| n.contains("aborted")) || outcome.is_err() {
        "incomplete".into()
    } else {
        "complete".into()
    };
    if let Err(e) = outcome {
        results.notes.push(format!("aborted: {e:#}"));
    }
    persist(&args, &mut results, wall, &counter)?;
    drop(main_rt);
    for rt in [server_rt, others_rt, client_rt, writer_rt] {
        rt.shutdown_timeout(Duration::from_secs(2));
    }
    eprintln!(
        "wrote {} and {} in {:.0} s ({})",
        args.results.display(),
        args.report.display(),
        wall.elapsed().as_secs_f64(),
        results.status
    );
    Ok(())
}

/// The parts this run does not measure keep their results from the previous results.json
/// (so `--parts alerts` does not erase parts 1–3 from the report); `parts_generated` says when
/// each was measured.
fn carry_over(args: &Args, results: &mut Results) {
    let Ok(text) = std::fs::read_to_string(&args.results) else {
        return;
    };
    // Part by part, not as a whole `Results`: a file written before an option existed has
    // `args` without it (and so does not parse as today's `Args`).
    let previous: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            results.notes.push(format!(
                "the previous {} did not parse ({e}): parts not run are missing",
                args.results.display()
            ));
            return;
        }
    };
    let generated = previous["generated"]
        .as_str()
        .unwrap_or("unknown")
        .to_string();
    let when = |part: &str| {
        previous["parts_generated"][part]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| generated.clone())
    };
    fn part<T: serde::de::DeserializeOwned>(v: &serde_json::Value) -> Option<T> {
        serde_json::from_value(v.clone()).ok()
    }
    if !args.wants("reducer") {
        if let Some(r) = part(&previous["reducer"]) {
            results.reducer = Some(r);
            results
                .parts_generated
                .insert("reducer".into(), when("reducer"));
        }
    }
    if !args.wants("live") {
        if let Some(r) = part(&previous["live"]) {
            results.live = Some(r);
            results.parts_generated.insert("live".into(), when("live"));
        }
    }
    if !args.wants("alerts") {
        if let Some(r) = part(&previous["alerts"]) {
            results.alerts = Some(r);
            results
                .parts_generated
                .insert("alerts".into(), when("alerts"));
        }
    }
}

fn mark(results: &mut Results, part: &str) {
    results
        .parts_generated
        .insert(part.into(), results.generated.clone());
}

/// Writes results.json and REPORT.md with what is known so far.
fn persist(
    args: &Args,
    results: &mut Results,
    wall: Instant,
    counter: &logcount::LogCounter,
) -> Result<()> {
    results.wall_secs = wall.elapsed().as_secs_f64();
    results.logs = counter.counts();
    results.peak_rss_mb = procstat::peak_rss_mb();
    if let Some(dir) = args.results.parent() {
        std::fs::create_dir_all(dir).ok();
    }
    std::fs::write(&args.results, serde_json::to_string_pretty(results)? + "\n")
        .with_context(|| format!("writing {}", args.results.display()))?;
    report::write_report(args, results)
}
