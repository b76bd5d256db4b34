//! The REST writer: another user (an agent) changing tickets through `deskbell_client::Api`,
//! open loop at a fixed pace, on its own runtime (thread `bc-writer`).
//!
//! Write *i* is, by `i % 10`: 0–3 a `PATCH /api/tickets/{id}` (priority, status or title in
//! turn), 4–6 a `POST /api/tickets/{id}/move` to the next lane, 7–8 a
//! `POST /api/tickets/{id}/comments`, 9 a `POST /api/tickets`. Writes to existing tickets use
//! `If-Match` with the version the writer knows, on a pool of tickets of which none has two
//! writes in flight, so every write produces exactly one event with a known (id, version).

use anyhow::{Context, Result};
use deskbell_client::Api;
use deskbell_protocol::{
    Id, NewComment, NewTicket, Priority, Requester, Ticket, TicketPatch, TicketStatus,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::probe::{Key, Probe, FAILED, OK};

pub const SEED_PREFIX: &str = "bc-seed-";
/// Every ticket the benchmark created or edited has a title starting with this.
pub const POOL_PREFIX: &str = "bc-";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WriteKind {
    Patch,
    Move,
    Comment,
    Create,
}

impl WriteKind {
    pub fn of(index: usize) -> WriteKind {
        match index % 10 {
            0..=3 => WriteKind::Patch,
            4..=6 => WriteKind::Move,
            7 | 8 => WriteKind::Comment,
            _ => WriteKind::Create,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            WriteKind::Patch => "PATCH /api/tickets/{id}",
            WriteKind::Move => "POST /api/tickets/{id}/move",
            WriteKind::Comment => "POST /api/tickets/{id}/comments",
            WriteKind::Create => "POST /api/tickets",
        }
    }
}

#[derive(Debug, Clone)]
struct PoolTicket {
    id: Id,
    version: i64,
    lane_id: Option<Id>,
    priority: Priority,
    status: TicketStatus,
    busy: bool,
}

impl PoolTicket {
    fn from_ticket(t: &Ticket) -> PoolTicket {
        PoolTicket {
            id: t.id,
            version: t.version,
            lane_id: t.lane_id,
            priority: t.priority,
            status: t.status,
            busy: false,
        }
    }
}

/// The tickets the writer changes, and which of them have a write in flight.
pub struct Pool {
    tickets: Mutex<(Vec<PoolTicket>, usize)>,
    lanes: Vec<Id>,
}

impl Pool {
    pub fn new(tickets: &[Ticket], lanes: Vec<Id>, size: usize) -> Pool {
        let tickets: Vec<PoolTicket> = tickets
            .iter()
            .filter(|t| t.title.starts_with(POOL_PREFIX) && t.assignee_id.is_none())
            .take(size)
            .map(PoolTicket::from_ticket)
            .collect();
        Pool {
            tickets: Mutex::new((tickets, 0)),
            lanes,
        }
    }

    pub fn len(&self) -> usize {
        self.lock().0.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Vec<PoolTicket>, usize)> {
        self.tickets.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next ticket without a write in flight (round robin), marked busy.
    fn take(&self) -> Option<PoolTicket> {
        let mut guard = self.lock();
        let (tickets, cursor) = &mut *guard;
        let n = tickets.len();
        for step in 0..n {
            let i = (*cursor + step) % n;
            if !tickets[i].busy {
                tickets[i].busy = true;
                *cursor = (i + 1) % n;
                return Some(tickets[i].clone());
            }
        }
        None
    }

    fn release(&self, id: Id, update: impl FnOnce(&mut PoolTicket)) {
        let mut guard = self.lock();
        if let Some(t) = guard.0.iter_mut().find(|t| t.id == id) {
            update(t);
            t.busy = false;
        }
    }

    fn next_lane(&self, current: Option<Id>) -> Option<Id> {
        if self.lanes.is_empty() {
            return None;
        }
        let next = match current.and_then(|c| self.lanes.iter().position(|&l| l == c)) {
            Some(i) => (i + 1) % self.lanes.len(),
            None => 0,
        };
        Some(self.lanes[next])
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WriterReport {
    pub attempted: u64,
    pub ok: u64,
    pub failed: u64,
    pub failures: BTreeMap<String, u64>,
    /// Slots skipped: too many requests outstanding, or no pool ticket free.
    pub missed_slots: u64,
    pub secs: f64,
}

pub struct WriterCtx {
    pub api: Api,
    pub token: String,
    pub probe: Arc<Probe>,
    pub pool: Pool,
    pub phase: usize,
}

/// One write every 1/`rate` s for `count` slots, open loop (at most `max_inflight` outstanding).
pub async fn run(
    ctx: Arc<WriterCtx>,
    rate: f64,
    count: usize,
    max_inflight: usize,
) -> WriterReport {
    let report = Arc::new(Mutex::new(WriterReport::default()));
    let gate = Arc::new(Semaphore::new(max_inflight.max(1)));
    let period = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let count = count.min(ctx.probe.phases[ctx.phase].len());
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    let mut last_progress = Instant::now();
    for index in 0..count {
        // Pacing: the write's slot in the schedule.
        tokio::time::sleep_until((start + period.mul_f64(index as f64)).into()).await;
        let Ok(permit) = gate.clone().try_acquire_owned() else {
            lock(&report).missed_slots += 1;
            continue;
        };
        let (task_ctx, task_report) = (ctx.clone(), report.clone());
        tasks.spawn(async move {
            write(&task_ctx, index, &task_report).await;
            drop(permit);
        });
        // Finished tasks are reaped as we go.
        while tasks.try_join_next().is_some() {}
        if last_progress.elapsed() >= Duration::from_secs(10) {
            last_progress = Instant::now();
            let r = lock(&report);
            eprintln!(
                "   … {} of {count} writes sent, {} ok, {} failed, {} slots missed",
                index + 1,
                r.ok,
                r.failed,
                r.missed_slots
            );
        }
    }
    while tasks.join_next().await.is_some() {}
    let mut r = lock(&report).clone();
    r.secs = start.elapsed().as_secs_f64();
    r
}

fn lock(r: &Mutex<WriterReport>) -> std::sync::MutexGuard<'_, WriterReport> {
    r.lock().unwrap_or_else(|e| e.into_inner())
}

async fn write(ctx: &WriterCtx, index: usize, report: &Mutex<WriterReport>) {
    let kind = WriteKind::of(index);
    let slots = &ctx.probe.phases[ctx.phase];
    let target = match kind {
        WriteKind::Create => None,
        _ => match ctx.pool.take() {
            Some(t) => Some(t),
            None => {
                lock(report).missed_slots += 1;
                return;
            }
        },
    };
    let key = match &target {
        None => Key::Title(format!("bc-{}-{index}", ctx.phase)),
        Some(t) => Key::Version(t.id, t.version + 1),
    };
    ctx.probe.register(key.clone(), ctx.phase, index);
    let api = &ctx.api;
    let token = ctx.token.as_str();
    let outcome: Result<Option<Ticket>, deskbell_client::ApiError> = match (&target, kind) {
        (None, _) => {
            let new = NewTicket {
                title: match &key {
                    Key::Title(t) => t.clone(),
                    Key::Version(..) => String::new(),
                },
                requester: Requester {
                    name: "Bench Requester".into(),
                    contact: Some("bench@example.com".into()),
                },
                priority: Some(Priority::Normal),
                status: None,
                assignee_id: None,
                lane_id: ctx.pool.next_lane(None),
                message: Some("Created by the client benchmark.".into()),
            };
            api.create_ticket(token, &new).await.map(|_| None)
        }
        (Some(t), WriteKind::Move) => api
            .move_ticket(token, t.id, ctx.pool.next_lane(t.lane_id), Some(t.version))
            .await
            .map(Some),
        (Some(t), WriteKind::Comment) => api
            .add_comment(
                token,
                t.id,
                &NewComment {
                    body: format!("Bench comment {index}."),
                    from_requester: false,
                },
            )
            .await
            .map(|_| None),
        (Some(t), _) => {
            let mut patch = TicketPatch::default();
            match (index / 10) % 3 {
                0 => {
                    patch.priority = Some(match t.priority {
                        Priority::Low => Priority::Normal,
                        Priority::Normal => Priority::High,
                        _ => Priority::Low,
                    })
                }
                1 => {
                    patch.status = Some(if t.status == TicketStatus::Open {
                        TicketStatus::Pending
                    } else {
                        TicketStatus::Open
                    })
                }
                _ => patch.title = Some(format!("bc-edit-{}-{index}", ctx.phase)),
            }
            api.patch_ticket(token, t.id, Some(t.version), &patch)
                .await
                .map(Some)
        }
    };
    slots.answered_us[index].store(ctx.probe.now_us(), Ordering::Release);
    match outcome {
        Ok(after) => {
            slots.status[index].store(OK, Ordering::Release);
            {
                let mut r = lock(report);
                r.attempted += 1;
                r.ok += 1;
            }
            if let Some(t) = &target {
                ctx.pool.release(t.id, |p| match &after {
                    Some(a) => *p = PoolTicket::from_ticket(a),
                    None => p.version += 1,
                });
            }
        }
        Err(e) => {
            slots.status[index].store(FAILED, Ordering::Release);
            ctx.probe.forget(&key);
            {
                let mut r = lock(report);
                r.attempted += 1;
                r.failed += 1;
                *r.failures.entry(e.code().to_string()).or_default() += 1;
            }
            if let Some(t) = &target {
                // The version is unknown now: read the ticket again before reusing it.
                let fresh = api.ticket(token, t.id).await.ok();
                ctx.pool.release(t.id, |p| {
                    if let Some(f) = &fresh {
                        *p = PoolTicket::from_ticket(f);
                    }
                });
            }
        }
    }
}

/// Creates `count` unassigned tickets (`bc-seed-*`), `concurrency` at a time.
pub async fn seed(api: &Api, token: &str, count: usize, concurrency: usize) -> Result<()> {
    let gate = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = JoinSet::new();
    for i in 0..count {
        let permit = gate
            .clone()
            .acquire_owned()
            .await
            .context("seed gate closed")?;
        let (api, token) = (api.clone(), token.to_string());
        tasks.spawn(async move {
            let new = NewTicket {
                title: format!("{SEED_PREFIX}{i}"),
                requester: Requester {
                    name: format!("Customer {}", i % 97),
                    contact: Some(format!("customer{}@example.com", i % 97)),
                },
                priority: Some([Priority::Low, Priority::Normal, Priority::High][i % 3]),
                status: None,
                assignee_id: None,
                lane_id: None,
                message: Some("Seeded by the client benchmark.".into()),
            };
            let r = api.create_ticket(&token, &new).await;
            drop(permit);
            r
        });
        while let Some(done) = tasks.try_join_next() {
            done.context("seed task")?
                .context("creating a seed ticket")?;
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.context("seed task")?
            .context("creating a seed ticket")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_is_four_three_two_one() {
        let mut counts = BTreeMap::new();
        for i in 0..1000 {
            *counts.entry(WriteKind::of(i)).or_insert(0) += 1;
        }
        assert_eq!(counts[&WriteKind::Patch], 400);
        assert_eq!(counts[&WriteKind::Move], 300);
        assert_eq!(counts[&WriteKind::Comment], 200);
        assert_eq!(counts[&WriteKind::Create], 100);
    }
}
