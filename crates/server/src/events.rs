//! The event log as outbox, and live emission.
//!
//! A change and its events commit in one transaction, with per-company `seq` numbers taken
//! from `companies.event_seq`. Writers of a company are serialized by an in-process lock that
//! is held until the committed events have been handed to the sockets, so live events leave in
//! `seq` order and a connecting socket can replay up to a head no live event overtakes.

use chrono::{DateTime, Utc};
use deskbell_protocol::{
    event_name, namespace, EventAction, EventEnvelope, Id, Resource, Role, Ticket, User,
};
use serde_json::value::RawValue;
use socketioxide::extract::SocketRef;
use socketioxide::SocketIo;
use sqlx::Row;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::OwnedMutexGuard;

use crate::db::{Db, Tx};
use crate::error::{ApiError, ApiResult};
use crate::store;

/// Who may receive an event. Stored with it, so replay filters exactly as live emission does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Everyone in the company.
    All,
    /// Admins and this user (a ticket assigned to them).
    Assignee(Id),
    /// Agents other than this user (an unassigned ticket was just taken by them).
    AgentsExcept(Id),
    /// Only this user (a ticket was reassigned away from them).
    Only(Id),
}

impl Audience {
    /// The audience of events about this ticket as it is now.
    pub fn of_ticket(ticket: &Ticket) -> Audience {
        match ticket.assignee_id {
            None => Audience::All,
            Some(user) => Audience::Assignee(user),
        }
    }

    fn to_db(self) -> (&'static str, Option<Id>) {
        match self {
            Audience::All => ("all", None),
            Audience::Assignee(u) => ("assignee", Some(u)),
            Audience::AgentsExcept(u) => ("agents_except", Some(u)),
            Audience::Only(u) => ("only", Some(u)),
        }
    }

    pub fn includes(self, user: &User) -> bool {
        match self {
            Audience::All => true,
            Audience::Assignee(u) => user.role == Role::Admin || user.id == u,
            Audience::AgentsExcept(u) => user.role == Role::Agent && user.id != u,
            Audience::Only(u) => user.id == u,
        }
    }
}

pub const ROOM_MEMBERS: &str = "members";
pub const ROOM_ADMINS: &str = "role:admin";
pub const ROOM_AGENTS: &str = "role:agent";

pub fn user_room(user: Id) -> String {
    format!("user:{user}")
}

/// SQL condition matching `Audience::includes` (binds: `$3` user id, `$4` role).
const AUDIENCE_SQL: &str = "(audience = 'all' \
    OR (audience = 'assignee' AND ($4 = 'admin' OR audience_user = $3)) \
    OR (audience = 'agents_except' AND $4 = 'agent' AND audience_user <> $3) \
    OR (audience = 'only' AND audience_user = $3))";

/// A committed-to-be event waiting for its transaction.
#[derive(Debug, Clone)]
pub struct PendingEvent {
    pub resource: Resource,
    pub audience: Audience,
    pub envelope: EventEnvelope,
}

#[derive(Debug, Default)]
pub struct EmitStats {
    pub delivered: AtomicU64,
    pub slow_consumers_dropped: AtomicU64,
}

/// Per-company write locks and the socket side of emission.
#[derive(Default)]
pub struct EventHub {
    locks: Mutex<HashMap<Id, Arc<tokio::sync::Mutex<()>>>>,
    io: OnceLock<SocketIo>,
    pub stats: EmitStats,
}

impl EventHub {
    pub fn set_io(&self, io: SocketIo) {
        let _ = self.io.set(io);
    }

    pub fn io(&self) -> Option<&SocketIo> {
        self.io.get()
    }

    pub async fn lock(&self, company_id: Id) -> OwnedMutexGuard<()> {
        let lock = self
            .locks
            .lock()
            .expect("lock map poisoned")
            .entry(company_id)
            .or_default()
            .clone();
        lock.lock_owned().await
    }

    /// Hands an event to every socket of its audience. A socket whose buffer is full is
    /// disconnected: it would otherwise silently miss the event. It reconnects and replays.
    pub fn emit(&self, event: &PendingEvent) {
        let Some(io) = self.io.get() else { return };
        let company = event.envelope.company_id;
        let Some(ns) = io.of(namespace(company)) else {
            return;
        };
        let targets = match event.audience {
            Audience::All => ns.to(ROOM_MEMBERS),
            Audience::Assignee(u) => ns.to([ROOM_ADMINS.to_string(), user_room(u)]),
            Audience::AgentsExcept(u) => ns.to(ROOM_AGENTS).except(user_room(u)),
            Audience::Only(u) => ns.to(user_room(u)),
        };
        let payload = match serde_json::value::to_raw_value(&event.envelope) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "event serialization failed");
                return;
            }
        };
        let name = event_name(company, event.resource);
        let (mut delivered, mut dropped) = (0u64, 0u64);
        for socket in targets.sockets() {
            match send_raw_event(&socket, &name, &payload) {
                Ok(()) => delivered += 1,
                Err(SendOutcome::Full) => {
                    dropped += 1;
                    let _ = socket.disconnect();
                }
                Err(SendOutcome::Closed) => {}
            }
        }
        self.stats.delivered.fetch_add(delivered, Ordering::Relaxed);
        if dropped > 0 {
            self.stats
                .slow_consumers_dropped
                .fetch_add(dropped, Ordering::Relaxed);
            tracing::warn!(
                company,
                seq = event.envelope.seq,
                dropped,
                delivered,
                "slow consumers disconnected"
            );
        }
    }
}

pub enum SendOutcome {
    Full,
    Closed,
}

pub fn send_raw_event(
    socket: &SocketRef,
    name: &str,
    payload: &RawValue,
) -> Result<(), SendOutcome> {
    use socketioxide::{SendError, SocketError};
    match socket.emit(name, payload) {
        Ok(()) => Ok(()),
        Err(SendError::Socket(SocketError::InternalChannelFull)) => Err(SendOutcome::Full),
        Err(SendError::Socket(SocketError::Closed)) => Err(SendOutcome::Closed),
        Err(SendError::Serialize(e)) => {
            tracing::error!(error = ?e, "event encoding failed");
            Err(SendOutcome::Closed)
        }
    }
}

/// A write transaction of one company, holding its write lock, collecting its events.
pub struct WriteTx {
    pub tx: Tx,
    pub company_id: Id,
    pub actor: Id,
    pub now: DateTime<Utc>,
    events: Vec<PendingEvent>,
    _guard: OwnedMutexGuard<()>,
}

impl WriteTx {
    pub async fn begin(db: &Db, hub: &EventHub, company_id: Id, actor: Id) -> ApiResult<WriteTx> {
        let guard = hub.lock(company_id).await;
        let mut tx = db.pool.begin().await?;
        // Write first: SQLite takes its write lock now (waiting if needed) instead of failing
        // a later upgrade; PostgreSQL locks the company row against other processes.
        sqlx::query("UPDATE companies SET event_seq = event_seq WHERE id = $1")
            .bind(company_id)
            .execute(&mut *tx)
            .await?;
        Ok(WriteTx {
            tx,
            company_id,
            actor,
            now: Utc::now(),
            events: Vec::new(),
            _guard: guard,
        })
    }

    pub fn conn(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }

    /// A ticket this transaction just wrote, as it now is.
    pub async fn ticket(&mut self, id: Id) -> ApiResult<Ticket> {
        store::ticket(&mut self.tx, self.company_id, id)
            .await?
            .ok_or_else(|| {
                ApiError::Internal(format!("ticket {id} vanished inside its transaction"))
            })
    }

    /// An envelope for this transaction's actor and time; `seq` is set by `record`.
    pub fn envelope(&self, action: EventAction) -> EventEnvelope {
        EventEnvelope {
            action,
            seq: 0,
            company_id: self.company_id,
            user_id: self.actor,
            timestamp: self.now,
            ticket: None,
            ticket_id: None,
            comment: None,
            attachment: None,
            lane: None,
            from: None,
            to: None,
        }
    }

    /// Appends an event to the log in this transaction.
    pub async fn record(
        &mut self,
        resource: Resource,
        audience: Audience,
        mut envelope: EventEnvelope,
    ) -> ApiResult<()> {
        let seq: i64 = sqlx::query(
            "UPDATE companies SET event_seq = event_seq + 1 WHERE id = $1 RETURNING event_seq",
        )
        .bind(self.company_id)
        .fetch_one(&mut *self.tx)
        .await?
        .try_get("event_seq")?;
        envelope.seq = seq;
        let payload =
            serde_json::to_string(&envelope).map_err(|e| ApiError::Internal(e.to_string()))?;
        let (kind, user) = audience.to_db();
        sqlx::query(
            "INSERT INTO events (company_id, seq, resource, audience, audience_user, payload, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(self.company_id)
        .bind(seq)
        .bind(resource.as_str())
        .bind(kind)
        .bind(user)
        .bind(payload)
        .bind(store::ts(self.now))
        .execute(&mut *self.tx)
        .await?;
        self.events.push(PendingEvent {
            resource,
            audience,
            envelope,
        });
        Ok(())
    }

    /// Commits, then emits the events in `seq` order while still holding the write lock.
    pub async fn commit(self, hub: &EventHub) -> ApiResult<Vec<PendingEvent>> {
        self.tx.commit().await?;
        for event in &self.events {
            hub.emit(event);
        }
        Ok(self.events)
    }
}

/// A replayable event as stored.
pub struct StoredEvent {
    pub seq: i64,
    pub resource: Resource,
    pub payload: String,
}

/// Events after `after` visible to `user`, in order, up to `head`.
pub async fn replay_events(
    db: &Db,
    user: &User,
    after: i64,
    head: i64,
) -> Result<Vec<StoredEvent>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT seq, resource, payload FROM events
         WHERE company_id = $1 AND seq > $2 AND seq <= $5 AND {AUDIENCE_SQL} ORDER BY seq"
    ))
    .bind(user.company_id)
    .bind(after)
    .bind(user.id)
    .bind(user.role.as_str())
    .bind(head)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            let resource: String = r.try_get("resource")?;
            Ok(StoredEvent {
                seq: r.try_get("seq")?,
                resource: Resource::parse(&resource).ok_or_else(|| {
                    sqlx::Error::Decode(format!("bad resource {resource:?}").into())
                })?,
                payload: r.try_get("payload")?,
            })
        })
        .collect()
}

/// The oldest seq the log still holds for a company (0 when empty).
pub async fn oldest_seq(db: &Db, company_id: Id) -> Result<i64, sqlx::Error> {
    let row = sqlx::query("SELECT MIN(seq) AS s FROM events WHERE company_id = $1")
        .bind(company_id)
        .fetch_one(&db.pool)
        .await?;
    Ok(row.try_get::<Option<i64>, _>("s")?.unwrap_or(0))
}

/// Keeps the last `keep` events of every company; older ones can no longer be replayed.
pub async fn prune(db: &Db, keep: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM events WHERE seq <= (SELECT c.event_seq FROM companies c WHERE c.id = events.company_id) - $1",
    )
    .bind(keep)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: Id, role: Role) -> User {
        User {
            id,
            company_id: 1,
            name: "u".into(),
            email: "u@x".into(),
            role,
            active: true,
        }
    }

    #[test]
    fn audiences_match_visibility() {
        let admin = user(1, Role::Admin);
        let a = user(2, Role::Agent);
        let b = user(3, Role::Agent);
        assert!(Audience::All.includes(&a));
        assert!(Audience::Assignee(2).includes(&admin));
        assert!(Audience::Assignee(2).includes(&a));
        assert!(!Audience::Assignee(2).includes(&b));
        assert!(Audience::AgentsExcept(2).includes(&b));
        assert!(!Audience::AgentsExcept(2).includes(&a));
        assert!(!Audience::AgentsExcept(2).includes(&admin));
        assert!(Audience::Only(3).includes(&b));
        assert!(!Audience::Only(3).includes(&admin));
    }
}
