//! REPORT.md and results.json.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use deskbell_bench_support::procfs;
use std::fmt::Write as _;
use std::process::Command;
use std::time::Duration;

use crate::server::Kind;
use crate::writer::Mode;
use crate::{max_phase_name, Args, PhaseResult, RunResult, SPREAD};

#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct Machine {
    cpu: String,
    cores: usize,
    mem_total_mb: u64,
    kernel: String,
    open_files_limit: String,
    ephemeral_ports: String,
    somaxconn: String,
    node: String,
    socket_io: String,
    rustc: String,
    deskbell_commit: String,
    clock_ticks: u64,
    #[serde(default)]
    redis: String,
    #[serde(default)]
    postgres: String,
}

impl Machine {
    pub(crate) fn row(&self, what: &str) -> String {
        match what {
            "cpu" => format!("{} × {}", self.cores, self.cpu),
            "memory" => format!("{} MB", self.mem_total_mb),
            "kernel" => format!("Linux {}", self.kernel),
            "files" => self.open_files_limit.clone(),
            "ports" => format!("{} / {}", self.ephemeral_ports, self.somaxconn),
            "deskbell" => format!(
                "commit {}, release build, {}",
                self.deskbell_commit, self.rustc
            ),
            "node" => format!("{} with socket.io {}", self.node, self.socket_io),
            "redis" => self.redis.clone(),
            "postgres" => self.postgres.clone(),
            _ => String::new(),
        }
    }
}

pub(crate) fn cmd(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn machine(args: &Args, ticks: u64) -> Machine {
    let socket_io = args
        .node_script
        .parent()
        .map(|d| d.join("node_modules/socket.io/package.json"))
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
        .and_then(|v| v["version"].as_str().map(str::to_string))
        .unwrap_or_else(|| "unknown".into());
    let commit = cmd("git", &["rev-parse", "--short", "HEAD"]);
    let dirty = !cmd("git", &["status", "--porcelain", "--", "crates"]).is_empty();
    Machine {
        cpu: procfs::cpu_model(),
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        mem_total_mb: procfs::mem_total_mb(),
        kernel: read("/proc/sys/kernel/osrelease"),
        open_files_limit: crate::open_files_limit()
            .map(|l| l.to_string())
            .unwrap_or_else(|| "unknown".into()),
        ephemeral_ports: read("/proc/sys/net/ipv4/ip_local_port_range"),
        somaxconn: read("/proc/sys/net/core/somaxconn"),
        node: cmd(&args.node_bin, &["--version"]),
        socket_io,
        rustc: cmd("rustc", &["--version"]),
        deskbell_commit: if dirty && commit != "unknown" {
            format!("{commit} (+ uncommitted changes under crates/)")
        } else {
            commit
        },
        clock_ticks: ticks,
        redis: if args.is_cluster() {
            cmd(&args.redis_bin, &["--version"])
        } else {
            String::new()
        },
        postgres: match &args.postgres_url {
            Some(url) => cmd("psql", &["-XAt", url, "-c", "SHOW server_version"]),
            None => String::new(),
        },
    }
}

/// Renders REPORT.md again from results.json, with the stored arguments and machine facts.
pub fn rerender(cli: &Args) -> Result<()> {
    let json_path = cli.report.with_file_name("results.json");
    let text = std::fs::read_to_string(&json_path)
        .with_context(|| format!("cannot read {}", json_path.display()))?;
    #[derive(serde::Deserialize)]
    struct Stored {
        started: DateTime<Utc>,
        took_secs: f64,
        args: Args,
        machine: Machine,
        runs: Vec<RunResult>,
    }
    let stored: Stored = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a results file", json_path.display()))?;
    let mut args = stored.args;
    args.report = cli.report.clone();
    args.analysis = cli.analysis.clone();
    let took = Duration::from_secs_f64(stored.took_secs);
    let text = if args.is_cluster() {
        crate::cluster_report::markdown(&args, &stored.runs, stored.started, took, &stored.machine)
    } else {
        markdown(&args, &stored.runs, stored.started, took, &stored.machine)
    };
    std::fs::write(&args.report, text)?;
    eprintln!("re-rendered {}", args.report.display());
    Ok(())
}

pub fn write(
    args: &Args,
    results: &[RunResult],
    started: DateTime<Utc>,
    took: Duration,
    ticks: u64,
) -> Result<()> {
    let machine = machine(args, ticks);
    let json = serde_json::json!({
        "started": started.to_rfc3339(),
        "took_secs": took.as_secs_f64(),
        "args": args,
        "machine": machine,
        "runs": results,
    });
    let json_path = args.report.with_file_name("results.json");
    if let Some(dir) = json_path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&json_path, serde_json::to_string_pretty(&json)? + "\n")?;
    let text = if args.is_cluster() {
        crate::cluster_report::markdown(args, results, started, took, &machine)
    } else {
        markdown(args, results, started, took, &machine)
    };
    std::fs::write(&args.report, text)?;
    Ok(())
}

pub(crate) fn ms(us: u64) -> String {
    let v = us as f64 / 1000.0;
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

pub(crate) fn mb(kb: u64) -> String {
    format!("{:.0}", kb as f64 / 1024.0)
}

// `is_multiple_of` is newer than the workspace's rust-version.
#[allow(unknown_lints, clippy::manual_is_multiple_of)]
pub(crate) fn thousands(v: f64) -> String {
    let n = v.round() as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    out
}

fn name(kind: Kind) -> &'static str {
    match kind {
        Kind::Deskbell => "Deskbell",
        Kind::Node => "Node socket.io",
    }
}

/// A run's phase by name; `"max"` is its best closed-loop phase (most deliveries/s).
pub(crate) fn phase<'a>(r: &'a RunResult, name: &str) -> Option<&'a PhaseResult> {
    if name == "max" {
        return r
            .phases
            .iter()
            .filter(|p| writers(p).is_some())
            .max_by(|a, b| a.deliveries_per_sec.total_cmp(&b.deliveries_per_sec));
    }
    r.phases.iter().find(|p| p.name == name)
}

/// The writers of a closed-loop phase.
pub(crate) fn writers(p: &PhaseResult) -> Option<usize> {
    match p.mode {
        Mode::Max { inflight, .. } => Some(inflight),
        Mode::Fixed { .. } => None,
    }
}

/// The runs of one (N, server) pair, over the rounds.
pub(crate) struct Group<'a> {
    pub n: usize,
    pub server: Kind,
    pub nodes: usize,
    pub runs: Vec<&'a RunResult>,
}

pub(crate) fn groups<'a>(args: &Args, results: &'a [RunResult]) -> Vec<Group<'a>> {
    let mut out: Vec<Group<'a>> = Vec::new();
    for &n in &args.levels {
        for s in &args.servers {
            let Some(kind) = Kind::parse(s) else { continue };
            for &nodes in &args.nodes {
                let runs: Vec<&RunResult> = results
                    .iter()
                    .filter(|r| {
                        r.n == n && r.server == kind && r.nodes == nodes && r.scenario == SPREAD
                    })
                    .collect();
                if !runs.is_empty() {
                    out.push(Group {
                        n,
                        server: kind,
                        nodes,
                        runs,
                    });
                }
            }
        }
    }
    out
}

pub(crate) fn median_f(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

pub(crate) fn median_u(v: Vec<u64>) -> u64 {
    median_f(v.into_iter().map(|x| x as f64).collect()).round() as u64
}

impl Group<'_> {
    pub(crate) fn phases(&self, which: &str) -> Vec<(&RunResult, &PhaseResult)> {
        self.runs
            .iter()
            .filter_map(|r| phase(r, which).map(|p| (*r, p)))
            .collect()
    }

    pub(crate) fn label(&self) -> String {
        format!(
            "| {} | {} |",
            thousands(self.n as f64),
            crate::cluster_report::config_label(self.server, self.nodes)
        )
    }
}

pub(crate) fn phase_table(out: &mut String, groups: &[Group], which: &str) {
    let _ = writeln!(
        out,
        "| N | server | tickets | writes/s | deliveries/s | delivered (worst) | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms (worst) | CPU % server / load gen / machine | server RSS MB (connected → peak) | lost conns (total) |"
    );
    let _ = writeln!(
        out,
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for g in groups {
        let ps = g.phases(which);
        if ps.is_empty() {
            let _ = writeln!(
                out,
                "{} — | — | — | — | — | — | — | — | — | — | — | — |",
                g.label()
            );
            continue;
        }
        let mu = |f: &dyn Fn(&RunResult, &PhaseResult) -> u64| {
            median_u(ps.iter().map(|(r, p)| f(r, p)).collect())
        };
        let mf = |f: &dyn Fn(&RunResult, &PhaseResult) -> f64| {
            median_f(ps.iter().map(|(r, p)| f(r, p)).collect())
        };
        let worst_delivered = ps
            .iter()
            .map(|(_, p)| p.delivered_pct)
            .fold(f64::INFINITY, f64::min);
        let undrained = ps.iter().filter(|(_, p)| !p.drained).count();
        let mut delivered = format!("{worst_delivered:.2} %");
        if undrained > 0 {
            let _ = write!(delivered, " ({undrained} not drained)");
        }
        let _ =
            writeln!(
            out,
            "{} {} | {:.1} | {} | {} | {} | {} | {} | {} | {} | {:.0} / {:.0} / {:.0} | {} → {} | {} |",
            g.label(),
            mu(&|_, p| p.writer.ok),
            mf(&|_, p| p.writes_per_sec),
            thousands(mf(&|_, p| p.deliveries_per_sec)),
            delivered,
            ms(mu(&|_, p| p.e2e.p50_us)),
            ms(mu(&|_, p| p.e2e.p90_us)),
            ms(mu(&|_, p| p.e2e.p99_us)),
            ms(mu(&|_, p| p.e2e.p999_us)),
            ms(ps.iter().map(|(_, p)| p.e2e.max_us).max().unwrap_or(0)),
            mf(&|_, p| p.server_cpu_pct),
            mf(&|_, p| p.loadgen_cpu_pct),
            mf(&|_, p| p.machine_cpu_pct),
            mb(mu(&|r, _| r.rss_connected_kb)),
            mb(ps.iter().map(|(_, p)| p.server_rss_peak_kb).max().unwrap_or(0)),
            ps.iter().map(|(_, p)| p.lost_during_phase).sum::<u64>(),
        );
    }
}

/// Deliveries/s and p99 of every closed-loop step, so the two servers can also be compared at
/// the same number of writers.
pub(crate) fn sweep_table(out: &mut String, args: &Args, groups: &[Group]) {
    let _ = writeln!(
        out,
        "#### Every step: deliveries/s · p99 ms, by number of writers (medians over the rounds)\n"
    );
    let steps = &args.max_writers;
    let head: Vec<String> = steps.iter().map(|w| format!("{w} writers")).collect();
    let _ = writeln!(out, "| N | server | {} |", head.join(" | "));
    let _ = writeln!(out, "|---:|---|{}", "---:|".repeat(steps.len()));
    for g in groups {
        let cells: Vec<String> = steps
            .iter()
            .map(|&w| {
                let ps = g.phases(&max_phase_name(w));
                if ps.is_empty() {
                    return "—".to_string();
                }
                let rate = median_f(ps.iter().map(|(_, p)| p.deliveries_per_sec).collect());
                let p99 = median_u(ps.iter().map(|(_, p)| p.e2e.p99_us).collect());
                format!("{} · {}", thousands(rate), ms(p99))
            })
            .collect();
        let _ = writeln!(out, "{} {} |", g.label(), cells.join(" | "));
    }
}

pub(crate) fn per_round(values: Vec<String>) -> String {
    values.join(" / ")
}

fn markdown(
    args: &Args,
    results: &[RunResult],
    started: DateTime<Utc>,
    took: Duration,
    m: &Machine,
) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# Fan-out benchmark: Deskbell vs Node socket.io\n");
    let _ = writeln!(
        o,
        "Generated by `bench/fanout/run.sh` (`deskbell-bench-fanout`) on {} in {:.0} s. \
         Raw numbers: [`results.json`](results.json). This is a report, not a timed test: \
         numbers move with the machine and with whatever else runs on it.\n",
        started.format("%Y-%m-%d %H:%M UTC"),
        took.as_secs_f64()
    );

    let _ = writeln!(o, "## Machine\n");
    let _ = writeln!(o, "| | |\n|---|---|");
    let _ = writeln!(
        o,
        "| CPU | {} × {} (the servers and the load generator share them) |",
        m.cores, m.cpu
    );
    let _ = writeln!(o, "| Memory | {} MB |", m.mem_total_mb);
    let _ = writeln!(o, "| Kernel | Linux {} |", m.kernel);
    let _ = writeln!(
        o,
        "| Open files limit (`ulimit -n`) | {} |",
        m.open_files_limit
    );
    let _ = writeln!(
        o,
        "| Ephemeral ports / somaxconn | {} / {} |",
        m.ephemeral_ports, m.somaxconn
    );
    let _ = writeln!(
        o,
        "| Deskbell | commit {}, release build, {} |",
        m.deskbell_commit, m.rustc
    );
    let _ = writeln!(o, "| Node | {} with socket.io {} |", m.node, m.socket_io);
    let _ = writeln!(o);

    let _ = writeln!(o, "## Results\n");
    let _ = writeln!(
        o,
        "Latency is **emit-to-receive**: from the moment the writer starts its `POST /api/tickets` \
         to the moment a client has the event frame, for every (ticket, client) pair. Deliveries/s \
         counts ticket events received by all clients together, from the first write to the last \
         delivery. CPU is % of one core averaged over the phase (writes + drain), 200 % = both \
         cores: the server process, the load generator process, and the whole machine (from \
         `/proc/stat`, which also counts the kernel's loopback TCP work charged to neither). RSS \"connected\" is after all N clients joined, \"peak\" the highest 200 ms \
         sample during the phase. Every cell is the **median over {} rounds** (each round runs \
         every level on a fresh server; the servers take turns going first), except where it \
         says worst or total; each round's own numbers are in the spread table below and in \
         `results.json`.\n",
        args.rounds
    );
    let groups = groups(args, results);
    let rates: Vec<String> = args
        .levels
        .iter()
        .map(|&n| {
            format!(
                "{} tickets/s at N = {}",
                args.rate_for(n),
                thousands(n as f64)
            )
        })
        .collect();
    let _ = writeln!(
        o,
        "### Same load (open loop, {} s of writes)\n",
        args.phase_secs
    );
    let _ = writeln!(
        o,
        "Both servers get the same tickets at the same pace ({}), so each has the same \
         deliveries to make (tickets × N, at most 20 000 deliveries/s offered: below what this \
         machine carries, so this is latency at a sustainable load) unless it falls behind or \
         drops clients.\n",
        rates.join(", ")
    );
    phase_table(&mut o, &groups, "fixed");
    let _ = writeln!(o);
    if !args.no_max {
        let _ = writeln!(
            o,
            "### Maximum throughput (closed loop, {} s of writes)\n",
            args.phase_secs
        );
        let windows: Vec<String> = args
            .levels
            .iter()
            .map(|&n| format!("{} at N = {}", args.window_for(n), thousands(n as f64)))
            .collect();
        let _ = writeln!(
            o,
            "Writers post tickets back to back, and ticket *i* is only posted once ticket \
             *i − W* has reached every connected client (W = {} / N: {}), so neither the \
             server nor the clients can build an unbounded backlog. Each N runs this closed loop \
             once per number of writers ({}; a count is skipped once the one before reached W, \
             which then bounds the tickets in flight by itself), the same steps for both \
             servers. A server's maximum is its best step: with too few writers, a server whose \
             writes take a moment but can be grouped is bound by the writers' round trips rather \
             than by its own capacity. Each cell below is the median over the rounds of each \
             round's best step (the steps it came from are in the spread table); latency here \
             includes the queueing, deliveries/s is the headline. The two servers' best steps \
             may have different numbers of writers and very different rates, so their latencies \
             in this table are not at the same load: the table after it compares them step by \
             step.\n",
            thousands(args.max_window_deliveries as f64),
            windows.join(", "),
            args.max_writers
                .iter()
                .map(|w| w.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        phase_table(&mut o, &groups, "max");
        let _ = writeln!(o);
        sweep_table(&mut o, args, &groups);
        let _ = writeln!(o);
    }

    let _ = writeln!(o, "### Spread over the rounds\n");
    let _ = writeln!(
        o,
        "Round 1 / round 2 / …, to show how much a single run can be trusted on this machine. \
         The last column is the machine's CPU use in the second before each run started, i.e. \
         work of other processes (this machine is shared with builds and tests; each run waits \
         up to {} s for it to fall below {:.0} % of a core).\n",
        args.quiet_wait_secs, args.quiet_below
    );
    let _ = writeln!(
        o,
        "| N | server | same load: p50 ms | same load: p99 ms | max: deliveries/s | max: p99 ms | other CPU use before the run, % of a core |"
    );
    let _ = writeln!(o, "|---:|---|---|---|---|---|---|");
    for g in &groups {
        let col = |which: &str, f: &dyn Fn(&PhaseResult) -> String| {
            per_round(g.phases(which).iter().map(|(_, p)| f(p)).collect())
        };
        let _ = writeln!(
            o,
            "{} {} | {} | {} | {} | {} |",
            g.label(),
            col("fixed", &|p| ms(p.e2e.p50_us)),
            col("fixed", &|p| ms(p.e2e.p99_us)),
            col("max", &|p| format!(
                "{} ({}w)",
                thousands(p.deliveries_per_sec),
                writers(p).unwrap_or(0)
            )),
            col("max", &|p| ms(p.e2e.p99_us)),
            per_round(
                g.runs
                    .iter()
                    .map(|r| format!("{:.0}", r.background_cpu_pct))
                    .collect()
            ),
        );
    }
    let _ = writeln!(o);

    let _ = writeln!(o, "### Connecting N clients\n");
    let _ = writeln!(
        o,
        "| N | server | connected | failed (total) | retries (total) | time s | connects/s | server CPU | RSS MB idle → connected | RSS per connection KB | peak RSS (VmHWM, worst) MB | threads |"
    );
    let _ = writeln!(
        o,
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for g in &groups {
        let rs = &g.runs;
        let mf = |f: &dyn Fn(&RunResult) -> f64| median_f(rs.iter().map(|r| f(r)).collect());
        let mu = |f: &dyn Fn(&RunResult) -> u64| median_u(rs.iter().map(|r| f(r)).collect());
        let _ = writeln!(
            o,
            "{} {} | {} | {} | {:.2} | {} | {:.0} % | {} → {} | {:.1} | {} | {} |",
            g.label(),
            mu(&|r| r.connect.ready),
            rs.iter().map(|r| r.connect.failed).sum::<u64>(),
            rs.iter().map(|r| r.connect.retries).sum::<u64>(),
            mf(&|r| r.connect.secs),
            thousands(mf(&|r| if r.connect.secs > 0.0 {
                r.connect.ready as f64 / r.connect.secs
            } else {
                0.0
            })),
            mf(&|r| r.connect.server_cpu_pct),
            mb(mu(&|r| r.rss_start_kb)),
            mb(mu(&|r| r.rss_connected_kb)),
            mf(&|r| if r.connect.ready > 0 {
                r.rss_connected_kb.saturating_sub(r.rss_start_kb) as f64 / r.connect.ready as f64
            } else {
                0.0
            }),
            mb(rs.iter().map(|r| r.server_hwm_kb).max().unwrap_or(0)),
            mu(&|r| r.server_threads),
        );
    }
    let _ = writeln!(o);

    let _ = writeln!(o, "### Where the time goes\n");
    let _ = writeln!(
        o,
        "*REST* is the writer's request → response time. *Fan-out* is from the envelope's \
         `timestamp` (set by the server when it handles the write: for Deskbell when the \
         company's writer starts it inside its batch's transaction, for Node when the request \
         handler runs) to the client's receive, on the same machine clock: it leaves out the \
         HTTP request's way in (and, for Deskbell, waiting for the writer).\n"
    );
    let _ = writeln!(
        o,
        "| N | server | phase | REST p50 ms | REST p99 ms | fan-out p50 ms | fan-out p99 ms | fan-out max ms (worst) | event frame bytes | received MB/s |"
    );
    let _ = writeln!(o, "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for g in &groups {
        for which in ["fixed", "max"] {
            let ps = g.phases(which);
            if ps.is_empty() {
                continue;
            }
            let mu =
                |f: &dyn Fn(&PhaseResult) -> u64| median_u(ps.iter().map(|(_, p)| f(p)).collect());
            let mf =
                |f: &dyn Fn(&PhaseResult) -> f64| median_f(ps.iter().map(|(_, p)| f(p)).collect());
            let _ = writeln!(
                o,
                "{} {} | {} | {} | {} | {} | {} | {:.0} | {:.1} |",
                g.label(),
                if which == "fixed" { "same load" } else { "max" },
                ms(mu(&|p| p.writer.rest.p50_us)),
                ms(mu(&|p| p.writer.rest.p99_us)),
                ms(mu(&|p| p.server_ts.p50_us)),
                ms(mu(&|p| p.server_ts.p99_us)),
                ms(ps
                    .iter()
                    .map(|(_, p)| p.server_ts.max_us)
                    .max()
                    .unwrap_or(0)),
                mf(&|p| p.frame_bytes),
                mf(&|p| p.mb_per_sec),
            );
        }
    }
    let _ = writeln!(o);

    let _ = writeln!(o, "### Errors, losses and anomalies (measured)\n");
    let mut any = false;
    for r in results {
        let lines = anomalies(
            r,
            &format!(
                "{}/{}-{}-r{}/",
                args.work_dir.display(),
                crate::server::kind_file(r.server),
                r.n,
                r.round
            ),
        );
        if !lines.is_empty() {
            any = true;
            let _ = writeln!(
                o,
                "- **{} N = {}, round {}**:",
                name(r.server),
                r.n,
                r.round
            );
            for l in lines {
                let _ = writeln!(o, "  - {l}");
            }
        }
    }
    if !any {
        let _ = writeln!(
            o,
            "None: every write succeeded, every client received every ticket in `seq` order, no \
             connection was lost, and neither server logged a warning."
        );
    }
    let _ = writeln!(o);

    if let Ok(analysis) = std::fs::read_to_string(&args.analysis) {
        let _ = writeln!(o, "## Analysis\n");
        let _ = writeln!(
            o,
            "_Written by hand from the run above (`{}`); re-running refreshes the numbers but not this text._\n",
            args.analysis.display()
        );
        let _ = writeln!(o, "{}\n", analysis.trim());
    }

    let _ = writeln!(o, "## Method\n");
    let _ = writeln!(
        o,
        "- One process (`deskbell-bench-fanout`, Rust, tokio) runs everything on loopback: it \
         starts a server as a child process, waits for `GET /health` to answer 200, logs in once \
         (`POST /api/auth/login` as the demo admin), opens N websocket clients that all use that \
         one token, runs the phases, stops the server (SIGTERM), and moves to the next. A round \
         runs the levels in the order N = {:?}, both servers at each level (Deskbell first in odd \
         rounds, Node first in even ones); {} rounds. Each run gets a fresh server (Deskbell: a \
         fresh SQLite data dir).",
        args.levels, args.rounds
    );
    let _ = writeln!(
        o,
        "- Clients speak raw Engine.IO v4 / Socket.IO v5 over a websocket \
         (`/socket.io/?EIO=4&transport=websocket`, no polling): wait for `0{{…}}`, send \
         `40/workspace-1,{{\"token\":…}}`, wait for the CONNECT ack and the \
         `company-1-sync` event, answer every `2` ping with `3`. A client counts as connected \
         once it has the sync event (Deskbell joins the rooms before sending it). At most {} \
         handshakes run at once, each with a 20 s timeout and up to {} attempts; all N must be \
         in within {} s.",
        args.connect_concurrency, args.connect_attempts, args.connect_deadline_secs
    );
    let _ = writeln!(
        o,
        "- The writer posts `{{\"title\":\"fb-<phase>-<i>\",\"requester\":{{\"name\":…}},\"priority\":\"normal\"}}` \
         and records the request's start time under index *i* before sending it. The writers \
         run on a thread of their own with their own HTTP client, so a writer's next request \
         does not wait behind the load generator's receiving of N clients' frames. Each client \
         finds the title in the event frame, looks the start time up and records the difference \
         (monotonic clock, same process) in a log-linear histogram (≈1.6 % resolution). The \
         clients also check that `seq` increases by exactly one per event on every socket (no \
         loss, no duplicates, in order) — every client is the admin, so every socket should see \
         every event."
    );
    let _ = writeln!(
        o,
        "- Phase 1 (same load): tickets at a fixed pace for {} s, open loop (a slot is skipped \
         only if 256 requests are already outstanding). Then the max phases, one per number of \
         writers: see above. After each \
         phase's writes, up to {} s of drain for the deliveries still in flight; *delivered* = \
         deliveries / (successful writes × clients connected at the phase start).",
        args.phase_secs, args.drain_secs
    );
    let _ = writeln!(
        o,
        "- Server RSS (VmRSS) and CPU (utime + stime) come from `/proc/<pid>/status` and \
         `/proc/<pid>/stat` of the server process, sampled every 200 ms and at phase \
         boundaries; the load generator's own CPU the same way from `/proc/self`."
    );
    let _ = writeln!(
        o,
        "- Deskbell: `deskbell-server demo --bind 127.0.0.1:<port> --data-dir <fresh dir> \
         --writes-per-minute 0` (release build, SQLite, default settings otherwise: 4096-packet \
         socket buffer, 25 s/20 s heartbeat). Every ticket is a real write: JWT + session check, \
         then the company's writer task runs it in a SQLite transaction under the company write \
         lock (ticket row, event log row with its audience, `event_seq` advanced), commits, and \
         queues the event for the company's emitter task, which hands it to each socket of the \
         audience (several queued events go out together, each socket's share back to back). \
         Writes that arrive while the writer is busy join its next transaction (group commit: \
         one `BEGIN`, company-row lock, event-log insert and `COMMIT` for all of them); each \
         still gets its own answer, after its commit. The writer keeps its connection between \
         batches. The SQLite write-ahead log is checkpointed by a background task once a \
         second (passively), and the next writer has the log start over; no commit \
         checkpoints. A session checked in the database is remembered for 2 s (until any \
         revocation or user change), so the writers' requests mostly skip that read."
    );
    let _ = writeln!(
        o,
        "- Node: `node bench/fanout/node-server.mjs --port <port>` — socket.io {} on `node:http`, \
         websocket transport only, same heartbeat and payload limit, a namespace middleware on \
         `/workspace-1` that accepts one **fixed token string** (no JWT verification, no user \
         lookup), the same rooms joined on connect and the same sync event, and \
         `POST /api/tickets` that builds the same envelope shape (same fields, timestamp with \
         microseconds) and calls `nsp.to(\"members\").emit(\"company-1-ticket\", envelope)`. It \
         keeps tickets **in memory only**: no database, no transaction, no event log, no replay, \
         no per-socket slow-consumer check. **Node does strictly less work per ticket.**",
        m.socket_io
    );
    let _ = writeln!(o);

    let _ = writeln!(o, "## Caveats\n");
    let _ = writeln!(
        o,
        "- {} cores for everything: the load generator (N sockets, parsing every frame) competes \
         with the server for CPU, so at large N the numbers measure server + client together. \
         The load generator's own CPU is in the tables; when server CPU + load-gen CPU is near \
         {} %, the machine, not the server alone, is the limit.",
        m.cores,
        m.cores * 100
    );
    let _ = writeln!(
        o,
        "- Loopback only: no network latency, no bandwidth limit, no packet loss; a real \
         deployment adds those. One process holds all N client sockets, which a real fleet \
         would spread over N machines."
    );
    let _ = writeln!(
        o,
        "- Deskbell's write path is bounded by SQLite commits (a write transaction per ticket, \
         serialized per company); Node's by nothing but its event loop. The same-load phase \
         compares the two at equal work for the clients; the max phase shows each one's ceiling \
         *including* that difference."
    );
    let _ = writeln!(
        o,
        "- Each phase is {} s of writes, once per level and round: short runs on a shared \
         machine; treat differences under ~20 % as noise. The max phases' rate is limited by \
         the window (about {} deliveries in flight), i.e. they measure a backlog-free ceiling, \
         not how much a server can buffer. Taking each server's best step favours neither: a \
         server that does not gain from more writers keeps its best of the earlier steps.",
        args.phase_secs,
        thousands(args.max_window_deliveries as f64)
    );
    let _ = writeln!(
        o,
        "- Raw logs of each server are kept under `{}/<server>-<N>-r<round>/` (not committed).",
        args.work_dir.display()
    );
    o
}

/// What went wrong or looked odd in one run, a line each (empty: nothing): shared by this
/// report and the cluster report. `logs` says where the run's server logs are.
pub fn anomalies(r: &RunResult, logs: &str) -> Vec<String> {
    let mut lines = Vec::new();
    if r.status != "ok" {
        lines.push(format!("status **{}**", r.status));
    }
    lines.extend(r.notes.iter().cloned());
    for p in &r.phases {
        if p.writer.failed > 0 {
            lines.push(format!(
                "{} phase: {} of {} writes failed: {:?}",
                p.name, p.writer.failed, p.writer.attempted, p.writer.failures
            ));
        }
        if p.writer.missed_slots > 0 {
            lines.push(format!(
                "{} phase: {} write slots skipped (256 requests already outstanding)",
                p.name, p.writer.missed_slots
            ));
        }
        if p.writer.window_stalls > 0 {
            lines.push(format!(
                "{} phase: the writer gave up waiting (2 s) for a ticket to reach every client {} times",
                p.name, p.writer.window_stalls
            ));
        }
        if !p.drained {
            lines.push(format!(
                "{} phase: not every written ticket had reached every live client {:.0} s after the writes stopped ({} of {} deliveries)",
                p.name, p.drain_secs, p.deliveries, p.expected_deliveries
            ));
        }
        if p.lost_events > 0 || p.duplicate_events > 0 {
            lines.push(format!(
                "{} phase: {} acknowledged events lost at {} clients, {} duplicated",
                p.name, p.lost_events, p.lost_clients, p.duplicate_events
            ));
        }
        if p.unmatched > 0 {
            lines.push(format!(
                "{} phase: {} events not matched to a write",
                p.name, p.unmatched
            ));
        }
        if p.negative_server_ts > 0 {
            lines.push(format!(
                "{} phase: {} events received \"before\" their server timestamp (clock granularity; counted as 0)",
                p.name, p.negative_server_ts
            ));
        }
    }
    if r.seq_gaps > 0 || r.seq_out_of_order > 0 {
        lines.push(format!(
            "`seq` check at the clients: {} gaps ({} events missing), {} out of order or duplicated",
            r.seq_gaps, r.seq_missing, r.seq_out_of_order
        ));
    }
    for (reason, count) in &r.client_errors {
        lines.push(format!("client: {count} × {reason}"));
    }
    if r.slow_consumer_log_lines > 0 {
        lines.push(format!(
            "server log: {} \"slow consumers disconnected\" warnings",
            r.slow_consumer_log_lines
        ));
    }
    if r.server_log_error_lines > 0 || r.server_log_warn_lines > 0 {
        lines.push(format!(
            "server log: {} WARN and {} ERROR lines ({logs})",
            r.server_log_warn_lines, r.server_log_error_lines
        ));
    }
    lines
}
