//! The escalation timer: admins hear of urgent tickets nobody acknowledged in time.
//!
//! Rules:
//!
//! - An urgent episode (a ticket becoming urgent, see `ops::tickets`) arms the timer: the
//!   ticket's `escalate_due_at` is set to the episode's start plus the company's
//!   `escalate_after_minutes`. Acknowledging the ticket (also by taking it or closing it),
//!   lowering its priority or changing the company's minutes (`ops::company`, which re-arms)
//!   clear or move it. The timer lives in the database, not in a process, so it survives
//!   restarts and a ticket that fell due while no server ran escalates at the next start.
//! - Every node runs `run` (started by `serve`, stopped with the server): every
//!   `Config::escalation_check_interval` it looks for due tickets (`escalate_due_at <= now`,
//!   compared as text: timestamps are fixed-width RFC 3339, see `store::ts`), at most
//!   `BATCH` at a time, and submits one write per ticket to its company's writer, as
//!   `SERVER_ACTOR`.
//! - That write clears `escalate_due_at` with a conditional update (still set, still due)
//!   and, only when that update changed the row, records one `escalate` event for
//!   `Audience::Admins` carrying the ticket as it is. The ticket itself does not change: no
//!   version bump, no `updated_at`.
//! - Exactly once per episode, across restarts and nodes: the clearing update and the event
//!   commit in one transaction, and the database lets only one transaction clear the column
//!   (the writer holds the company row's lock; a second node's update then finds it NULL and
//!   records nothing). A crash before the commit leaves the timer armed, so the next check
//!   escalates it; after the commit the column is NULL, so nothing escalates it again.
//!
//! Dependencies: `ops` (`submit`, the writer), `writes`, `store`, `visibility`, `state`,
//! `error`. Only `lib` (which starts it) depends on this module.

use chrono::{DateTime, Utc};
use deskbell_protocol::{EventAction, Id, Resource, SERVER_ACTOR};
use sqlx::Row;

use crate::error::OpResult;
use crate::state::AppState;
use crate::store;
use crate::visibility::Audience;
use crate::writes::WriteTx;

/// Due tickets handled per check at most; the rest wait for the next check (oldest first).
const BATCH: i64 = 100;

/// Checks for due escalations every `escalation_check_interval` until the task is aborted.
pub async fn run(state: AppState) {
    let mut tick = tokio::time::interval(state.config.escalation_check_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match escalate_due(&state, Utc::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(escalated = n, "urgent tickets escalated to the admins"),
            Err(e) => tracing::warn!(error = %e, "checking for escalations failed"),
        }
    }
}

/// Escalates the tickets due at `now` (at most `BATCH`); returns how many this call
/// escalated (others may have been escalated meanwhile by another node: not counted).
pub async fn escalate_due(state: &AppState, now: DateTime<Utc>) -> OpResult<usize> {
    let due: Vec<(Id, Id)> = sqlx::query(
        "SELECT id, company_id FROM tickets
         WHERE escalate_due_at IS NOT NULL AND escalate_due_at <= $1
         ORDER BY escalate_due_at, id LIMIT $2",
    )
    .bind(store::ts(now))
    .bind(BATCH)
    .fetch_all(&state.db.pool)
    .await?
    .iter()
    .map(|r| Ok((r.try_get("id")?, r.try_get("company_id")?)))
    .collect::<Result<_, sqlx::Error>>()?;
    let now = store::ts(now);
    let mut escalated = 0;
    for (id, company_id) in due {
        // One write per ticket: a failure (a deleted company, a database hiccup) costs that
        // ticket this check only; its timer stays armed for the next.
        match crate::ops::submit(
            state,
            company_id,
            SERVER_ACTOR,
            (id, now.clone()),
            |w, (id, now)| Box::pin(escalate_ticket(w, *id, now)),
        )
        .await
        {
            Ok(true) => escalated += 1,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(ticket = id, company = company_id, error = %e, "escalating a ticket failed")
            }
        }
    }
    Ok(escalated)
}

/// Clears the ticket's timer if it is still due at `now` (the check's time: a timer moved
/// later meanwhile is not) and records the escalation; `false` when it was not due any more
/// (acknowledged, re-armed, or escalated by someone else).
async fn escalate_ticket(w: &mut WriteTx, id: Id, now: &str) -> OpResult<bool> {
    let company_id = w.company_id;
    let cleared = sqlx::query(
        "UPDATE tickets SET escalate_due_at = NULL
         WHERE id = $1 AND company_id = $2 AND escalate_due_at IS NOT NULL AND escalate_due_at <= $3",
    )
    .bind(id)
    .bind(company_id)
    .bind(now)
    .execute(w.conn())
    .await?
    .rows_affected();
    if cleared == 0 {
        return Ok(false);
    }
    let ticket = w.ticket(id).await?;
    let mut event = w.envelope(EventAction::Escalate);
    event.ticket = Some(ticket);
    w.record(Resource::Ticket, Audience::Admins, event)?;
    Ok(true)
}
