//! The writer: creates tickets over REST, recording each one's send time for the clients.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::client::{Shared, TITLE_PREFIX};
use crate::hist::{Hist, Summary};

#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub enum Mode {
    /// Open loop: one ticket every 1/rate s, whatever the server does (up to `max_inflight`
    /// requests outstanding; a slot that finds them all busy is skipped and counted).
    Fixed { rate: f64, max_inflight: usize },
    /// Closed loop, as fast as the whole pipeline goes: `inflight` concurrent writers, and
    /// ticket i is only written once ticket i-`window` has reached every live client.
    Max { inflight: usize, window: usize },
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct WriterReport {
    pub attempted: u64,
    pub ok: u64,
    pub failed: u64,
    /// Failures by HTTP status or error kind.
    pub failures: BTreeMap<String, u64>,
    pub missed_slots: u64,
    /// Max mode: waits for a ticket to reach everyone that gave up after 2 s.
    pub window_stalls: u64,
    pub start_us: u64,
    /// When the last write was answered.
    pub end_us: u64,
    /// REST request → response time, as seen by the writer.
    pub rest: Summary,
    #[serde(skip)]
    pub ok_indices: Vec<usize>,
}

struct Ctx {
    http: reqwest::Client,
    /// Ticket i is posted to `urls[i % urls.len()]` (the nodes of a cluster, in turn).
    urls: Vec<String>,
    auth: String,
    phase: usize,
    shared: Arc<Shared>,
    rest: Hist,
    log: Mutex<WriterReport>,
}

/// The load generator's HTTP client (loopback, kept-alive connections, no Nagle delay).
pub fn http_client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(64)
        .tcp_nodelay(true)
        .build()
}

/// Runs the writers on a thread of their own, with their own HTTP client. On the main runtime
/// a writer's next request waited behind the load generator's receiving (N clients' frames),
/// so a closed loop measured the load generator as much as the server.
pub async fn run(
    mode: Mode,
    phase: usize,
    duration: Duration,
    bases: &[String],
    token: &str,
    shared: Arc<Shared>,
) -> anyhow::Result<WriterReport> {
    let (done, report) = tokio::sync::oneshot::channel();
    let (bases, token) = (bases.to_vec(), token.to_string());
    std::thread::Builder::new()
        .name("bench-writers".into())
        .spawn(move || {
            let outcome = (|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                let http = http_client()?;
                anyhow::Ok(runtime.block_on(write_phase(
                    mode, phase, duration, http, &bases, &token, shared,
                )))
            })();
            let _ = done.send(outcome);
        })?;
    report
        .await
        .map_err(|_| anyhow::anyhow!("the writers' thread died"))?
}

async fn write_phase(
    mode: Mode,
    phase: usize,
    duration: Duration,
    http: reqwest::Client,
    bases: &[String],
    token: &str,
    shared: Arc<Shared>,
) -> WriterReport {
    let ctx = Arc::new(Ctx {
        http,
        urls: bases.iter().map(|b| format!("{b}/api/tickets")).collect(),
        auth: format!("Bearer {token}"),
        phase,
        shared: shared.clone(),
        rest: Hist::default(),
        log: Mutex::new(WriterReport::default()),
    });
    let capacity = shared.phases[phase].sent_at.len();
    let start = Instant::now();
    let deadline = start + duration;
    ctx.log.lock().unwrap().start_us = shared.now_us();
    match mode {
        Mode::Fixed { rate, max_inflight } => {
            let gate = Arc::new(Semaphore::new(max_inflight));
            let period = Duration::from_secs_f64(1.0 / rate);
            let mut tasks = JoinSet::new();
            let mut idx = 0usize;
            loop {
                let at = start + period.mul_f64(idx as f64);
                if at >= deadline || idx >= capacity {
                    break;
                }
                tokio::time::sleep_until(at.into()).await;
                match gate.clone().try_acquire_owned() {
                    Ok(permit) => {
                        let ctx = ctx.clone();
                        tasks.spawn(async move {
                            send(&ctx, idx).await;
                            drop(permit);
                        });
                    }
                    Err(_) => ctx.log.lock().unwrap().missed_slots += 1,
                }
                idx += 1;
            }
            while tasks.join_next().await.is_some() {}
        }
        Mode::Max { inflight, window } => {
            let next = Arc::new(AtomicUsize::new(0));
            let mut tasks = JoinSet::new();
            for _ in 0..inflight {
                let ctx = ctx.clone();
                let next = next.clone();
                tasks.spawn(async move {
                    loop {
                        let idx = next.fetch_add(1, Ordering::Relaxed);
                        if idx >= capacity || Instant::now() >= deadline {
                            return;
                        }
                        if idx >= window {
                            wait_delivered(&ctx, idx - window, deadline).await;
                            if Instant::now() >= deadline {
                                return;
                            }
                        }
                        send(&ctx, idx).await;
                    }
                });
            }
            while tasks.join_next().await.is_some() {}
        }
    }
    let mut report = std::mem::take(&mut *ctx.log.lock().unwrap());
    report.rest = ctx.rest.snapshot();
    report.ok_indices.sort_unstable();
    report
}

/// Waits until ticket `idx` has reached every live client (or 2 s, or the deadline).
async fn wait_delivered(ctx: &Ctx, idx: usize, deadline: Instant) {
    let stats = &ctx.shared.phases[ctx.phase];
    let give_up = (Instant::now() + Duration::from_secs(2)).min(deadline);
    loop {
        // A ticket that failed to write never arrives: do not wait for it.
        if stats.sent_at[idx].load(Ordering::Acquire) == u64::MAX {
            return;
        }
        let got = u64::from(stats.per_event[idx].load(Ordering::Acquire));
        if got >= ctx.shared.live.load(Ordering::Relaxed) {
            return;
        }
        if Instant::now() >= give_up {
            if Instant::now() < deadline {
                ctx.log.lock().unwrap().window_stalls += 1;
            }
            return;
        }
        tokio::select! {
            _ = ctx.shared.event_done.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(2)) => {}
        }
    }
}

async fn send(ctx: &Ctx, idx: usize) {
    let stats = &ctx.shared.phases[ctx.phase];
    let body = serde_json::json!({
        "title": format!("{TITLE_PREFIX}{}-{idx}", ctx.phase),
        "requester": {"name": "Bench Requester"},
        "priority": "normal",
    });
    let started = Instant::now();
    stats.sent_at[idx].store(ctx.shared.now_us() + 1, Ordering::Release);
    let result = ctx
        .http
        .post(&ctx.urls[idx % ctx.urls.len()])
        .header("authorization", &ctx.auth)
        .json(&body)
        .timeout(Duration::from_secs(30))
        .send()
        .await;
    let outcome = match result {
        Ok(resp) => {
            let status = resp.status();
            let _ = resp.bytes().await;
            if status.as_u16() == 201 {
                Ok(())
            } else {
                Err(format!("HTTP {status}"))
            }
        }
        Err(e) if e.is_timeout() => Err("timeout".to_string()),
        Err(e) if e.is_connect() => Err("connect error".to_string()),
        Err(e) => Err(format!("request error: {e}")),
    };
    ctx.rest.record(started.elapsed().as_micros() as u64);
    let mut log = ctx.log.lock().unwrap();
    log.attempted += 1;
    log.end_us = log.end_us.max(ctx.shared.now_us());
    match outcome {
        Ok(()) => {
            log.ok += 1;
            log.ok_indices.push(idx);
        }
        Err(kind) => {
            log.failed += 1;
            *log.failures.entry(kind).or_default() += 1;
            // A failed write may still have been committed (timeout), but is not waited for.
            stats.sent_at[idx].store(u64::MAX, Ordering::Release);
        }
    }
}
