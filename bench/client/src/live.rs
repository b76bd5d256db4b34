//! Parts 2 and 3: the measured client against the in-process server.
//!
//! 1. Server up (fresh data dir, demo data), `board_tickets` more tickets created over REST.
//! 2. The measured client signs in and goes Live (cold start: snapshot load).
//! 3. Latency, baseline: writes at `rate` with no other client connected.
//! 4. `others` raw clients connect to `/workspace-1` (checked server-side).
//! 5. Latency, loaded: writes at `rate`; every other client receives every event.
//! 6. Forced wakes: `reconnect_now()` → Live, `wake_runs` times (the others stay connected).
//! 7. The others leave; server restarts: shutdown → start on the same address and data → Live.

use anyhow::{bail, Context, Result};
use chrono::Utc;
use deskbell_client::connection::ConnectionState;
use deskbell_client::Api;
use deskbell_server::demo::DEMO_PASSWORD;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::runtime::Handle;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use crate::others::{self, OthersConfig, OthersShared};
use crate::probe::{is_live, Measured, Probe, OK};
use crate::procstat;
use crate::server::ServerCtl;
use crate::stats::Summary;
use crate::writer::{self, Pool, WriteKind, WriterCtx, WriterReport};
use crate::Args;

pub const WRITER_EMAIL: &str = "agent1@acme.test";
pub const CLIENT_EMAIL: &str = "admin@acme.test";

pub struct Handles {
    pub server: Handle,
    pub others: Handle,
    pub client: Handle,
    pub writer: Handle,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ColdStart {
    /// Tickets on the admin's board.
    pub board_tickets: usize,
    /// `Session::login` + `Connection::spawn` → Live (sync reset, so the board is loaded over REST).
    pub login_to_live_ms: f64,
    pub seed_secs: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LatencyPhase {
    pub name: String,
    /// Other clients connected (server-side count minus the measured client) at the start.
    pub others_connected: usize,
    pub server_sockets_start: usize,
    pub server_sockets_end: usize,
    pub rate: f64,
    pub planned: usize,
    pub pool_tickets: usize,
    pub writer: WriterReport,
    pub achieved_rate: f64,
    pub applied: u64,
    /// Successful writes whose event never reached the measured board within the drain.
    pub lost: u64,
    pub drain_secs: f64,
    /// REST request start → `DeskEvent::Event` off the LiveBoard channel, ms.
    pub e2e_ms: Summary,
    pub by_kind: BTreeMap<String, Summary>,
    /// How the e2e samples spread: (upper bound in ms, samples below it and above the
    /// previous bound); the last bound is `None` (infinite; JSON has no infinity).
    pub e2e_buckets: Vec<(Option<f64>, usize)>,
    /// Per second of the phase (by send time): writes, e2e p50 and max, pings the other
    /// clients answered in that second.
    pub timeline: Vec<Second>,
    /// REST request start → response in, ms.
    pub rest_ms: Summary,
    /// Request start → the envelope's `timestamp` (server: write transaction begun), wall clock.
    pub to_server_ms: Summary,
    /// The envelope's `timestamp` → applied on the measured board.
    pub server_to_applied_ms: Summary,
    /// Writes whose event was applied before the writer had the REST answer.
    pub applied_before_answer_pct: f64,
    /// The other clients: request start → the first and the last of them to receive the frame.
    pub others_first_ms: Summary,
    pub others_last_ms: Summary,
    /// Events the server handed to sockets during the phase, and slow consumers it dropped.
    pub server_deliveries: u64,
    pub slow_consumers_dropped: u64,
    /// CPU by thread group (server, others, client, writer, main), % of one core.
    pub cpu_pct: BTreeMap<String, f64>,
    pub machine_cpu_pct: f64,
    pub background_cpu_pct: f64,
    /// Other processes' CPU during the phase: machine minus this process, % of one core.
    pub background_during_pct: f64,
    pub wall_secs: f64,
    /// The measured board equals the server's `GET /api/board` after the phase.
    pub board_matches_server: Option<bool>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Second {
    pub second: usize,
    pub writes: usize,
    pub p50_ms: f64,
    pub max_ms: f64,
    pub pings: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OthersResult {
    pub requested: usize,
    pub ready: u64,
    pub failed: u64,
    pub retries: u64,
    pub connect_secs: f64,
    /// `io.of("/workspace-1").sockets().len()` once they were in (the measured client included).
    pub server_sockets_after_connect: usize,
    pub lost: u64,
    pub events: u64,
    /// Data events each should have received (the successful writes while they were in).
    pub expected_per_client: u64,
    pub per_client_min: u64,
    pub per_client_max: u64,
    pub seq_gaps: u64,
    pub seq_out_of_order: u64,
    pub pings: u64,
    pub server_sockets_after_leave: usize,
    pub errors: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WakeResult {
    pub runs: usize,
    pub others_connected: usize,
    /// `reconnect_now()` → Live.
    pub total_ms: Summary,
    /// `reconnect_now()` → Connecting (the old socket closed: DISCONNECT + websocket close).
    pub close_ms: Summary,
    /// Connecting → Syncing (websocket + Engine.IO open + namespace CONNECT with the token).
    pub connect_ms: Summary,
    /// Syncing → Live (replay from lastSeq, here empty, and the sync message).
    pub sync_ms: Summary,
    pub max_attempt: u32,
    pub server_sockets_after: usize,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RestartRun {
    /// `Server::shutdown` (sockets closed, HTTP drained, database closed).
    pub shutdown_ms: f64,
    /// `prepare` + `serve` on the same address and data dir.
    pub boot_ms: f64,
    /// Shutdown begun → the client reported a non-Live state.
    pub noticed_ms: f64,
    /// Restart complete → Live.
    pub up_to_live_ms: f64,
    /// Shutdown begun → Live.
    pub down_to_live_ms: f64,
    /// Connection attempts until Live (the last `Connecting { attempt }`).
    pub attempts: u32,
    /// Backoff delays the client announced (`retry_at` − now), ms, in order.
    pub backoff_ms: Vec<f64>,
    /// The states seen, ms after the shutdown began.
    pub timeline: Vec<String>,
    /// Set when the client gave up with `needs-login` instead of coming back by itself (the
    /// reason it showed); the run then signs in again, and the Live times include that.
    pub needs_login: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RestartResult {
    /// Each restart waits until the connection has been Live this long (`stable_after` +
    /// margin), so that its loss counts as the loss of a stable connection.
    pub stable_wait_secs: f64,
    pub runs: Vec<RestartRun>,
    /// Over the runs where the client came back by itself.
    pub up_to_live_ms: Summary,
    pub down_to_live_ms: Summary,
    /// Runs that ended in `needs-login`.
    pub needs_login_runs: usize,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LiveResult {
    pub cold_start: Option<ColdStart>,
    pub latency: Vec<LatencyPhase>,
    pub others: Option<OthersResult>,
    pub wake: Option<WakeResult>,
    pub restart: Option<RestartResult>,
    pub probe_events: u64,
    pub probe_unmatched: u64,
}

/// Measures the machine's CPU use by others (this process subtracted) over 1 s, until it is
/// below `below` or `max_wait` passed; returns the last measurement (% of one core).
pub async fn wait_for_quiet(max_wait: Duration, below: f64) -> f64 {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let deadline = Instant::now() + max_wait;
    loop {
        let (m0, p0, t0) = (
            procstat::machine_ticks(),
            procstat::process_cpu_secs(),
            Instant::now(),
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        let machine = procstat::machine_percent(m0, procstat::machine_ticks(), cores);
        let own = (procstat::process_cpu_secs() - p0) / t0.elapsed().as_secs_f64() * 100.0;
        let busy = (machine - own).max(0.0);
        if busy < below || Instant::now() >= deadline {
            if busy >= below {
                eprintln!(
                    "   machine still busy ({busy:.0} % of a core used by others); running anyway"
                );
            }
            return busy;
        }
    }
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// Runs parts 2 and 3, filling `out` as it goes (a failure keeps what was measured).
pub async fn run(args: &Args, h: &Handles, out: &mut LiveResult) -> Result<()> {
    let t0 = Instant::now();
    let data_dir = args.work_dir.join("data");
    eprintln!(
        "[live] starting the server in process (data dir {})…",
        data_dir.display()
    );
    let mut server = ServerCtl::start(h.server.clone(), &data_dir).await?;
    let probe = Arc::new(Probe::new(t0, &[args.baseline_samples, args.samples]));
    let mut measured: Option<Measured> = None;
    let mut others: Option<(Arc<OthersShared>, watch::Sender<bool>, JoinSet<()>)> = None;
    let outcome = drive(
        args,
        h,
        &mut server,
        &probe,
        &mut measured,
        &mut others,
        out,
    )
    .await;

    // Whatever happened: everyone leaves, the server stops.
    if let Some((_, stop, mut set)) = others.take() {
        let _ = stop.send(true);
        let closing = tokio::time::timeout(Duration::from_secs(15), async {
            while set.join_next().await.is_some() {}
        })
        .await;
        if closing.is_err() {
            set.abort_all();
        }
    }
    if let Some(mut m) = measured.take() {
        m.shutdown().await;
    }
    out.probe_events = probe.events.load(Ordering::Relaxed);
    out.probe_unmatched = probe.unmatched.load(Ordering::Relaxed);
    server.stop().await?;
    outcome
}

async fn drive(
    args: &Args,
    h: &Handles,
    server: &mut ServerCtl,
    probe: &Arc<Probe>,
    measured_slot: &mut Option<Measured>,
    others_slot: &mut Option<(Arc<OthersShared>, watch::Sender<bool>, JoinSet<()>)>,
    out: &mut LiveResult,
) -> Result<()> {
    let url = server.url();
    let (api, writer_token, admin_token) = {
        let url = url.clone();
        h.writer
            .spawn(async move {
                let api = Api::new(&url)?;
                let w = api.login(WRITER_EMAIL, DEMO_PASSWORD).await?;
                let a = api.login(CLIENT_EMAIL, DEMO_PASSWORD).await?;
                anyhow::Ok((api, w.access_token, a.access_token))
            })
            .await
            .context("login task")??
    };

    eprintln!("[live] creating {} tickets over REST…", args.board_tickets);
    let seed_start = Instant::now();
    {
        let (api, token, n) = (api.clone(), writer_token.clone(), args.board_tickets);
        h.writer
            .spawn(async move { writer::seed(&api, &token, n, 8).await })
            .await
            .context("seed task")??;
    }
    let seed_secs = seed_start.elapsed().as_secs_f64();

    eprintln!("[live] measured client: signing in as {CLIENT_EMAIL} and connecting…");
    let login_start = Instant::now();
    let measured = measured_slot.insert(
        Measured::start(&h.client, &url, CLIENT_EMAIL, DEMO_PASSWORD, probe.clone()).await?,
    );
    measured
        .next_state("Live", is_live, Duration::from_secs(30))
        .await?;
    out.cold_start = Some(ColdStart {
        board_tickets: measured.board.lock().ticket_count(),
        login_to_live_ms: login_start.elapsed().as_secs_f64() * 1e3,
        seed_secs,
    });
    eprintln!(
        "   Live with {} tickets on the board, {:.0} ms after login began",
        measured.board.lock().ticket_count(),
        login_start.elapsed().as_secs_f64() * 1e3
    );

    let ctx = PhaseCtx {
        args,
        h,
        api: &api,
        writer_token: &writer_token,
        admin_token: &admin_token,
        probe,
    };

    // Baseline: nobody else connected.
    if args.baseline_samples > 0 {
        eprintln!(
            "[live] latency, no other client: {} writes at {}/s…",
            args.baseline_samples, args.rate
        );
        let phase = ctx
            .phase(
                server,
                measured,
                None,
                0,
                "no other client",
                args.baseline_samples,
            )
            .await?;
        eprintln!("   {}", phase_line(&phase));
        out.latency.push(phase);
    }

    // The others connect.
    if args.others > 0 {
        eprintln!(
            "[live] connecting {} other clients to /workspace-1…",
            args.others
        );
        let shared = Arc::new(OthersShared::new(
            probe.t0,
            args.others,
            args.samples + 1000,
        ));
        let cfg = Arc::new(OthersConfig {
            url: server.ws_url(),
            token: admin_token.clone(),
            handshake_timeout: Duration::from_secs(20),
            attempts: 3,
        });
        let gate = Arc::new(Semaphore::new(args.connect_concurrency.max(1)));
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut set = JoinSet::new();
        let start = Instant::now();
        for i in 0..args.others {
            set.spawn_on(
                others::run_client(
                    i,
                    cfg.clone(),
                    shared.clone(),
                    gate.clone(),
                    stop_rx.clone(),
                ),
                &h.others,
            );
        }
        *others_slot = Some((shared.clone(), stop_tx, set));
        let deadline = start + Duration::from_secs(120);
        let mut last_print = Instant::now();
        loop {
            let ready = shared.ready.load(Ordering::Relaxed);
            let failed = shared.failed.load(Ordering::Relaxed);
            if ready + failed >= args.others as u64 {
                break;
            }
            if Instant::now() >= deadline {
                bail!(
                    "only {ready} of {} other clients connected within 120 s ({failed} failed)",
                    args.others
                );
            }
            if last_print.elapsed() >= Duration::from_secs(2) {
                last_print = Instant::now();
                eprintln!("   … {ready} connected, {failed} failed");
            }
            // Polling a counter, not synchronising.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let connect_secs = start.elapsed().as_secs_f64();
        let ready = shared.ready.load(Ordering::Relaxed);
        let want = ready as usize + 1;
        let sockets = settle_sockets(server, want, Duration::from_secs(10)).await;
        eprintln!(
            "   {ready} connected in {connect_secs:.1} s ({} failed); the server counts {sockets} sockets in /workspace-1",
            shared.failed.load(Ordering::Relaxed)
        );
        out.others = Some(OthersResult {
            requested: args.others,
            ready,
            failed: shared.failed.load(Ordering::Relaxed),
            retries: shared.retries.load(Ordering::Relaxed),
            connect_secs,
            server_sockets_after_connect: sockets,
            ..OthersResult::default()
        });
        if sockets != want {
            bail!("the server counts {sockets} sockets in /workspace-1, expected {want}");
        }
    }

    // Loaded.
    if args.samples > 0 {
        let shared = others_slot.as_ref().map(|(s, _, _)| s.clone());
        eprintln!(
            "[live] latency with {} other clients: {} writes at {}/s…",
            shared
                .as_ref()
                .map(|s| s.live.load(Ordering::Relaxed))
                .unwrap_or(0),
            args.samples,
            args.rate
        );
        let name = if args.others > 0 {
            format!("{} other clients", args.others)
        } else {
            "no other client (again)".to_string()
        };
        let phase = ctx
            .phase(server, measured, shared.as_deref(), 1, &name, args.samples)
            .await?;
        eprintln!("   {}", phase_line(&phase));
        if let (Some(o), Some(s)) = (out.others.as_mut(), shared.as_ref()) {
            o.expected_per_client = phase.writer.ok;
            o.events = s.events.load(Ordering::Relaxed);
            let (min, max) = s.per_client_range();
            o.per_client_min = min;
            o.per_client_max = max;
            o.seq_gaps = s.seq_gaps.load(Ordering::Relaxed);
            o.seq_out_of_order = s.seq_out_of_order.load(Ordering::Relaxed);
            o.lost = s.lost.load(Ordering::Relaxed);
        }
        out.latency.push(phase);
    }

    // Forced wakes, the others still connected (idle).
    if args.wake_runs > 0 {
        eprintln!(
            "[live] forced wake: reconnect_now() → Live, {} runs…",
            args.wake_runs
        );
        let others_live = others_slot
            .as_ref()
            .map(|(s, _, _)| s.live.load(Ordering::Relaxed) as usize)
            .unwrap_or(0);
        let mut wake = wake_runs(measured, args.wake_runs, args.wake_pacing_ms).await?;
        wake.others_connected = others_live;
        wake.server_sockets_after =
            settle_sockets(server, others_live + 1, Duration::from_secs(10)).await;
        eprintln!(
            "   p50 {:.1} ms, p99 {:.1} ms (close p50 {:.1} ms, connect p50 {:.1} ms, sync p50 {:.1} ms); server sockets after: {}",
            wake.total_ms.p50,
            wake.total_ms.p99,
            wake.close_ms.p50,
            wake.connect_ms.p50,
            wake.sync_ms.p50,
            wake.server_sockets_after
        );
        out.wake = Some(wake);
    }

    // The others leave.
    if let Some((shared, stop, mut set)) = others_slot.take() {
        eprintln!("[live] the other clients leave…");
        let _ = stop.send(true);
        let closing = tokio::time::timeout(Duration::from_secs(15), async {
            while set.join_next().await.is_some() {}
        })
        .await;
        if closing.is_err() {
            set.abort_all();
        }
        let sockets = settle_sockets(server, 1, Duration::from_secs(10)).await;
        if let Some(o) = out.others.as_mut() {
            o.server_sockets_after_leave = sockets;
            o.lost = shared.lost.load(Ordering::Relaxed);
            o.pings = shared.pings.load(Ordering::Relaxed);
            o.errors = shared
                .errors
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
        }
    }

    // Server restarts.
    if args.restarts > 0 {
        let stable = deskbell_client::connection::ConnectionConfig::default().stable_after
            + Duration::from_millis(500);
        eprintln!(
            "[live] server restarts: {} (each after the connection was Live for {:.1} s)…",
            args.restarts,
            stable.as_secs_f64()
        );
        let mut result = RestartResult {
            stable_wait_secs: stable.as_secs_f64(),
            ..RestartResult::default()
        };
        for i in 0..args.restarts {
            measured.drain();
            if !is_live(&measured.current.1) {
                measured
                    .next_state("Live", is_live, Duration::from_secs(60))
                    .await?;
            }
            let live_for = measured.current.0.elapsed();
            if live_for < stable {
                // Pacing: a restart of a connection younger than stable_after is another path.
                tokio::time::sleep(stable - live_for).await;
            }
            let run = restart_once(server, measured).await?;
            if let Some(reason) = &run.needs_login {
                eprintln!(
                    "   restart {}: the client went to needs-login ({reason}); signed in again",
                    i + 1
                );
            }
            eprintln!(
                "   restart {}: Live {:.0} ms after the restart completed ({:.0} ms after shutdown began), {} attempts, backoff {:?} ms",
                i + 1,
                run.up_to_live_ms,
                run.down_to_live_ms,
                run.attempts,
                run.backoff_ms.iter().map(|d| d.round()).collect::<Vec<_>>()
            );
            result.runs.push(run);
        }
        let by_itself = || result.runs.iter().filter(|r| r.needs_login.is_none());
        result.up_to_live_ms =
            Summary::of(&by_itself().map(|r| r.up_to_live_ms).collect::<Vec<_>>());
        result.down_to_live_ms =
            Summary::of(&by_itself().map(|r| r.down_to_live_ms).collect::<Vec<_>>());
        result.needs_login_runs = result.runs.len() - by_itself().count();
        out.restart = Some(result);
    }
    Ok(())
}

/// Upper bounds (ms) of the e2e latency buckets in the report.
pub const BUCKETS: [f64; 7] = [2.0, 5.0, 10.0, 20.0, 50.0, 100.0, f64::INFINITY];

fn buckets(samples: &[f64]) -> Vec<(Option<f64>, usize)> {
    let mut out: Vec<(Option<f64>, usize)> = BUCKETS
        .iter()
        .map(|&b| (b.is_finite().then_some(b), 0))
        .collect();
    for &x in samples {
        if let Some(b) = out
            .iter_mut()
            .find(|(bound, _)| bound.is_none_or(|b| x < b))
        {
            b.1 += 1;
        }
    }
    out
}

/// Polls the server's socket count until it is `want` or `limit` passed; returns the last count.
async fn settle_sockets(server: &ServerCtl, want: usize, limit: Duration) -> usize {
    let deadline = Instant::now() + limit;
    loop {
        let n = server.sockets();
        if n == want || Instant::now() >= deadline {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn phase_line(p: &LatencyPhase) -> String {
    format!(
        "{} ok / {} failed / {} missed, {} lost; e2e p50 {:.2} ms p90 {:.2} ms p99 {:.2} ms max {:.2} ms; REST p50 {:.2} ms; CPU {:?}",
        p.writer.ok,
        p.writer.failed,
        p.writer.missed_slots,
        p.lost,
        p.e2e_ms.p50,
        p.e2e_ms.p90,
        p.e2e_ms.p99,
        p.e2e_ms.max,
        p.rest_ms.p50,
        p.cpu_pct
    )
}

struct PhaseCtx<'a> {
    args: &'a Args,
    h: &'a Handles,
    api: &'a Api,
    writer_token: &'a str,
    admin_token: &'a str,
    probe: &'a Arc<Probe>,
}

impl PhaseCtx<'_> {
    async fn board(&self, token: &str) -> Result<deskbell_protocol::Board> {
        let (api, token) = (self.api.clone(), token.to_string());
        Ok(self
            .h
            .writer
            .spawn(async move { api.board(&token).await })
            .await
            .context("board task")??)
    }

    async fn phase(
        &self,
        server: &ServerCtl,
        measured: &mut Measured,
        others: Option<&OthersShared>,
        index: usize,
        name: &str,
        count: usize,
    ) -> Result<LatencyPhase> {
        let args = self.args;
        let mut phase = LatencyPhase {
            name: name.to_string(),
            rate: args.rate,
            planned: count,
            ..LatencyPhase::default()
        };
        phase.background_cpu_pct =
            wait_for_quiet(Duration::from_secs(args.quiet_wait_secs), args.quiet_below).await;
        measured.drain();
        if !is_live(&measured.current.1) {
            bail!("the measured client is not Live: {:?}", measured.current.1);
        }
        let board = self.board(self.writer_token).await?;
        let mut lanes = board.lanes.clone();
        lanes.sort_by_key(|l| (l.position, l.id));
        let pool = Pool::new(&board.tickets, lanes.iter().map(|l| l.id).collect(), 500);
        phase.pool_tickets = pool.len();
        if pool.len() < 50 {
            bail!("only {} tickets to write to", pool.len());
        }
        if let Some(o) = others {
            o.base_seq
                .store(measured.board.lock().last_seq(), Ordering::Relaxed);
        }
        phase.server_sockets_start = server.sockets();
        phase.others_connected = phase.server_sockets_start.saturating_sub(1);
        let delivered0 = server.delivered();
        let dropped0 = server.slow_consumers_dropped();
        let cpu0 = procstat::threads_cpu();
        let machine0 = procstat::machine_ticks();
        let own0 = procstat::process_cpu_secs();
        let start = Instant::now();
        let start_us = self.probe.now_us();

        let ctx = Arc::new(WriterCtx {
            api: self.api.clone(),
            token: self.writer_token.to_string(),
            probe: self.probe.clone(),
            pool,
            phase: index,
        });
        let (rate, inflight) = (args.rate, args.max_inflight);
        phase.writer = self
            .h
            .writer
            .spawn(writer::run(ctx, rate, count, inflight))
            .await
            .context("writer task")?;
        phase.achieved_rate = phase.writer.ok as f64 / phase.writer.secs.max(1e-9);

        // Drain: every successful write's event on the board, or the deadline.
        let slots = &self.probe.phases[index];
        let drain_start = Instant::now();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(args.drain_secs);
        while slots.applied.load(Ordering::Relaxed) < phase.writer.ok {
            let wait = tokio::time::timeout_at(deadline, self.probe.progress.notified()).await;
            if wait.is_err() {
                break;
            }
        }
        phase.drain_secs = drain_start.elapsed().as_secs_f64();
        let wall = start.elapsed();
        phase.wall_secs = wall.as_secs_f64();
        phase.cpu_pct = cpu0.percent_until(&procstat::threads_cpu(), wall);
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        phase.machine_cpu_pct =
            procstat::machine_percent(machine0, procstat::machine_ticks(), cores).round();
        let own = (procstat::process_cpu_secs() - own0) / wall.as_secs_f64() * 100.0;
        phase.background_during_pct = (phase.machine_cpu_pct - own).max(0.0).round();
        phase.server_deliveries = server.delivered() - delivered0;
        phase.slow_consumers_dropped = server.slow_consumers_dropped() - dropped0;
        phase.server_sockets_end = server.sockets();

        // Samples.
        let mut e2e = Vec::new();
        let mut by_kind: BTreeMap<WriteKind, Vec<f64>> = BTreeMap::new();
        let (mut rest, mut to_server, mut server_to_applied) = (Vec::new(), Vec::new(), Vec::new());
        let (mut first, mut last) = (Vec::new(), Vec::new());
        let (mut before_answer, mut applied) = (0u64, 0u64);
        let mut per_second: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
        for i in 0..count.min(slots.len()) {
            let sent = slots.sent_us[i].load(Ordering::Acquire);
            if sent == 0 || slots.status[i].load(Ordering::Acquire) != OK {
                continue;
            }
            let sent = sent - 1;
            let answered = slots.answered_us[i].load(Ordering::Acquire);
            rest.push(ms(answered.saturating_sub(sent)));
            let got = slots.applied_us[i].load(Ordering::Acquire);
            if got == 0 {
                continue;
            }
            applied += 1;
            let d = ms(got.saturating_sub(sent));
            e2e.push(d);
            by_kind.entry(WriteKind::of(i)).or_default().push(d);
            per_second
                .entry((sent.saturating_sub(start_us) / 1_000_000) as usize)
                .or_default()
                .push(d);
            if got < answered {
                before_answer += 1;
            }
            let server_ts = slots.server_ts_wall_us[i].load(Ordering::Relaxed);
            let sent_wall = slots.sent_wall_us[i].load(Ordering::Relaxed);
            let in_ms = (server_ts - sent_wall) as f64 / 1000.0;
            to_server.push(in_ms);
            server_to_applied.push(d - in_ms);
            if let Some(o) = others {
                let seq = slots.seq[i].load(Ordering::Relaxed);
                if let Some(s) = o.slot(seq) {
                    let f = o.seq_first_us[s].load(Ordering::Relaxed);
                    let l = o.seq_last_us[s].load(Ordering::Relaxed);
                    if f != u64::MAX {
                        first.push(ms(f.saturating_sub(sent)));
                        last.push(ms(l.saturating_sub(sent)));
                    }
                }
            }
        }
        phase.applied = applied;
        phase.lost = phase.writer.ok.saturating_sub(applied);
        phase.e2e_ms = Summary::of(&e2e);
        phase.e2e_buckets = buckets(&e2e);
        let first_sec = (start_us / 1_000_000) as usize;
        phase.timeline = per_second
            .into_iter()
            .map(|(second, v)| {
                let s = Summary::of(&v);
                // Phase seconds and t0 seconds are offset by less than a second: the pings of
                // the t0 second the phase second starts in.
                let t0_sec = first_sec + second + usize::from(start_us % 1_000_000 >= 500_000);
                Second {
                    second,
                    writes: s.count,
                    p50_ms: s.p50,
                    max_ms: s.max,
                    pings: others
                        .and_then(|o| o.pings_by_sec.get(t0_sec))
                        .map(|c| c.load(Ordering::Relaxed))
                        .unwrap_or(0),
                }
            })
            .collect();
        phase.by_kind = by_kind
            .into_iter()
            .map(|(k, v)| (k.label().to_string(), Summary::of(&v)))
            .collect();
        phase.rest_ms = Summary::of(&rest);
        phase.to_server_ms = Summary::of(&to_server);
        phase.server_to_applied_ms = Summary::of(&server_to_applied);
        phase.applied_before_answer_pct = if applied > 0 {
            before_answer as f64 * 100.0 / applied as f64
        } else {
            0.0
        };
        phase.others_first_ms = Summary::of(&first);
        phase.others_last_ms = Summary::of(&last);
        if to_server.iter().any(|&x| x < 0.0) {
            phase
                .notes
                .push("some server timestamps precede the request start (clock step?)".into());
        }

        // The board the client shows is the server's.
        phase.board_matches_server = Some(self.board_matches(measured).await?);
        Ok(phase)
    }

    async fn board_matches(&self, measured: &Measured) -> Result<bool> {
        for attempt in 0..10 {
            let expected = self.board(self.admin_token).await?;
            let mine = measured.board.snapshot();
            if mine.tickets == expected.tickets && mine.lanes == expected.lanes {
                return Ok(true);
            }
            if attempt == 9 {
                eprintln!(
                    "   the measured board differs from the server's: {} vs {} tickets, seq {} vs {}",
                    mine.tickets.len(),
                    expected.tickets.len(),
                    mine.seq,
                    expected.seq
                );
            }
            // Pacing between comparisons: an event may still be on its way.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(false)
    }
}

async fn wake_runs(measured: &mut Measured, runs: usize, pacing_ms: u64) -> Result<WakeResult> {
    let (mut total, mut close, mut connect, mut sync) = (vec![], vec![], vec![], vec![]);
    let mut max_attempt = 0;
    for i in 0..runs {
        measured.drain();
        if !is_live(&measured.current.1) {
            measured
                .next_state("Live", is_live, Duration::from_secs(30))
                .await?;
        }
        // Pacing between runs.
        tokio::time::sleep(Duration::from_millis(pacing_ms)).await;
        let called = Instant::now();
        measured.connection()?.reconnect_now();
        let ((live_at, _), seen) = measured
            .next_state("Live after reconnect_now", is_live, Duration::from_secs(30))
            .await?;
        let at = |pred: &dyn Fn(&ConnectionState) -> bool| {
            seen.iter().find(|(_, s)| pred(s)).map(|(t, _)| *t)
        };
        let connecting = at(&|s| matches!(s, ConnectionState::Connecting { retry_at: None, .. }));
        let syncing = at(&|s| *s == ConnectionState::Syncing);
        for (_, s) in &seen {
            if let ConnectionState::Connecting { attempt, .. } = s {
                max_attempt = max_attempt.max(*attempt);
            }
        }
        let d = |a: Instant, b: Instant| b.saturating_duration_since(a).as_secs_f64() * 1e3;
        total.push(d(called, live_at));
        if let (Some(c), Some(s)) = (connecting, syncing) {
            close.push(d(called, c));
            connect.push(d(c, s));
            sync.push(d(s, live_at));
        }
        if (i + 1) % 10 == 0 {
            eprintln!("   … {} of {runs} runs", i + 1);
        }
    }
    Ok(WakeResult {
        runs,
        total_ms: Summary::of(&total),
        close_ms: Summary::of(&close),
        connect_ms: Summary::of(&connect),
        sync_ms: Summary::of(&sync),
        max_attempt,
        ..WakeResult::default()
    })
}

async fn restart_once(server: &mut ServerCtl, measured: &mut Measured) -> Result<RestartRun> {
    let down = Instant::now();
    server.stop().await?;
    let stopped = Instant::now();
    server.start_again().await?;
    let up = Instant::now();
    let needs_login = |s: &ConnectionState| matches!(s, ConnectionState::NeedsLogin { .. });
    let ((mut live_at, state), mut seen) = measured
        .next_state(
            "Live (or needs-login) after the restart",
            |s| is_live(s) || needs_login(s),
            Duration::from_secs(90),
        )
        .await?;
    let mut gave_up = None;
    if let ConnectionState::NeedsLogin { reason } = state {
        // What the app would have to do: sign in again.
        gave_up = Some(reason);
        measured.relogin().await?;
        let ((at, _), more) = measured
            .next_state(
                "Live after signing in again",
                is_live,
                Duration::from_secs(30),
            )
            .await?;
        live_at = at;
        seen.extend(more);
    }
    let d = |a: Instant, b: Instant| b.saturating_duration_since(a).as_secs_f64() * 1e3;
    let mut run = RestartRun {
        needs_login: gave_up,
        shutdown_ms: d(down, stopped),
        boot_ms: d(stopped, up),
        up_to_live_ms: d(up, live_at),
        down_to_live_ms: d(down, live_at),
        ..RestartRun::default()
    };
    let wall_of =
        |t: Instant| Utc::now() - chrono::Duration::from_std(t.elapsed()).unwrap_or_default();
    for (t, s) in &seen {
        let label = match s {
            ConnectionState::Connecting { attempt, retry_at } => {
                run.attempts = run.attempts.max(*attempt);
                match retry_at {
                    Some(at) => {
                        let delay =
                            (*at - wall_of(*t)).num_microseconds().unwrap_or(0) as f64 / 1e3;
                        run.backoff_ms.push(delay);
                        format!("connecting #{attempt}, retry in {delay:.0} ms")
                    }
                    None => format!("connecting #{attempt}"),
                }
            }
            ConnectionState::Syncing => "syncing".into(),
            ConnectionState::Live => "live".into(),
            ConnectionState::NeedsLogin { reason } => format!("**needs-login** ({reason})"),
            other => format!("{other:?}"),
        };
        run.timeline.push(format!("{:.0} ms {label}", d(down, *t)));
    }
    run.noticed_ms = seen
        .iter()
        .find(|(_, s)| !is_live(s))
        .map(|(t, _)| d(down, *t))
        .unwrap_or(0.0);
    Ok(run)
}

/// Helper for the report: the states of a timeline that are attempts.
pub fn attempts_line(r: &RestartRun) -> String {
    r.timeline.join(" → ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_count_every_sample_and_survive_json() {
        let phase = LatencyPhase {
            e2e_buckets: buckets(&[0.5, 1.9, 2.0, 19.0, 150.0, 1e9]),
            ..LatencyPhase::default()
        };
        let counts: Vec<usize> = phase.e2e_buckets.iter().map(|b| b.1).collect();
        assert_eq!(counts, vec![2, 1, 0, 1, 0, 0, 2]);
        assert_eq!(phase.e2e_buckets.last().map(|b| b.0), Some(None));
        let json = serde_json::to_string(&phase).unwrap();
        let back: LatencyPhase = serde_json::from_str(&json).unwrap();
        assert_eq!(back.e2e_buckets, phase.e2e_buckets);
    }
}
