//! The event log as outbox, and live emission.
//!
//! A change and its events commit in one transaction, with per-company `seq` numbers taken
//! from `companies.event_seq` (see `writes`). A company's writer holds an in-process lock
//! until the committed events are queued to the company's emitter, which hands them to the
//! sockets in `seq` order. A connecting socket takes the same lock and waits for the emitter to
//! catch up before it joins its rooms and replays up to the head, so no live event is lost or
//! doubled around the replay.
//!
//! A change that ends sessions (logout, a revoked refresh family, a deactivated account, a new
//! password, a new role) records a session end in the same log and transaction. The emitter
//! meets it in `seq` order: it sends the session's sockets `company-{id}-session` with the
//! reason, takes them out of every room and disconnects them, so no event committed after the
//! change reaches them. Replay never sends session ends (a reconnect would be cut again).

use deskbell_protocol::{
    event_name, namespace, EventEnvelope, EventStream, Id, Resource, Role, SessionEndReason,
    SessionEnded, Ticket, User,
};
use serde_json::value::RawValue;
use socketioxide::extract::SocketRef;
use socketioxide::socket::Sid;
use socketioxide::SocketIo;
use sqlx::Row;
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::{mpsc, watch, OwnedMutexGuard};

use crate::db::Db;
use crate::writes::{WriteStats, Writer};

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

    pub(crate) fn to_db(self) -> (&'static str, Option<Id>) {
        match self {
            Audience::All => ("all", None),
            Audience::Assignee(u) => ("assignee", Some(u)),
            Audience::AgentsExcept(u) => ("agents_except", Some(u)),
            Audience::Only(u) => ("only", Some(u)),
        }
    }

    /// The protocol's name for who sees the event: one stream per audience.
    pub fn stream(self) -> EventStream {
        match self {
            Audience::All => EventStream::All,
            Audience::Assignee(u) => EventStream::Assignee(u),
            Audience::AgentsExcept(u) => EventStream::AgentsExcept(u),
            Audience::Only(u) => EventStream::Only(u),
        }
    }

    pub fn of_stream(stream: EventStream) -> Audience {
        match stream {
            EventStream::All => Audience::All,
            EventStream::Assignee(u) => Audience::Assignee(u),
            EventStream::AgentsExcept(u) => Audience::AgentsExcept(u),
            EventStream::Only(u) => Audience::Only(u),
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
    /// For a session end only its `seq`, `company_id`, `user_id` (actor) and `timestamp`
    /// mean anything: what goes to the sockets is `ends`.
    pub envelope: EventEnvelope,
    /// The envelope as JSON (for a session end, `ends` as JSON), encoded once for the log and
    /// every socket.
    pub payload: Box<RawValue>,
    /// Set on a session end (`Resource::Session`): whose sockets to cut, and why.
    pub ends: Option<SessionEnd>,
}

/// Sessions that end with a change: one session (a refresh-token family) of a user, or all of
/// them. Stored in the log as the event's payload.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionEnd {
    pub user_id: Id,
    /// `None`: every session of the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    pub reason: SessionEndReason,
}

impl SessionEnd {
    fn covers(&self, socket: &SocketSession) -> bool {
        socket.user.id == self.user_id
            && self
                .session
                .as_ref()
                .is_none_or(|session| *session == socket.session)
    }
}

/// What a connected socket is, kept in its extensions by the namespace's auth middleware.
#[derive(Debug, Clone)]
pub struct SocketSession {
    pub user: User,
    /// The session (refresh-token family) the socket's access token belongs to.
    pub session: String,
    pub last_seq: Option<i64>,
}

#[derive(Debug, Default)]
pub struct EmitStats {
    pub delivered: AtomicU64,
    pub slow_consumers_dropped: AtomicU64,
}

/// Events handed to the company's emitter in one go at most.
const MAX_EMIT_BATCH: usize = 64;

/// Per-company writers, write locks and emitters.
pub struct EventHub {
    db: Db,
    companies: Mutex<HashMap<Id, Arc<CompanyEvents>>>,
    sockets: Arc<SocketSide>,
    pub stats: Arc<EmitStats>,
    pub write_stats: Arc<WriteStats>,
}

/// The socket side of emission, shared with the emitter tasks.
#[derive(Default)]
struct SocketSide {
    io: OnceLock<SocketIo>,
}

struct CompanyEvents {
    outbox: Outbox,
    writer: Writer,
    /// Events ever handed to the sockets by the emitter.
    emitted: watch::Receiver<u64>,
    /// Sockets waiting in `settle`.
    settling: AtomicU64,
    /// Held shared by the emitter while it fans out; `pause_emission` holds it exclusively.
    emission_gate: Arc<tokio::sync::RwLock<()>>,
}

/// What a company's writer needs of emission: the write lock and the emitter's queue.
#[derive(Clone)]
pub(crate) struct Outbox {
    write_lock: Arc<tokio::sync::Mutex<()>>,
    /// Committed events in `seq` order; only sent to while holding `write_lock`.
    sender: mpsc::UnboundedSender<PendingEvent>,
    /// Events ever queued.
    queued: Arc<AtomicU64>,
}

impl Outbox {
    pub(crate) async fn lock(&self) -> OwnedMutexGuard<()> {
        self.write_lock.clone().lock_owned().await
    }

    /// Queues committed events for the emitter. Called with the write lock held, so the
    /// queue is in `seq` order.
    pub(crate) fn enqueue(&self, events: Vec<PendingEvent>) {
        self.queued.fetch_add(events.len() as u64, Ordering::AcqRel);
        for event in events {
            if self.sender.send(event).is_err() {
                tracing::error!("event emitter is gone");
            }
        }
    }
}

impl EventHub {
    pub fn new(db: Db) -> EventHub {
        EventHub {
            db,
            companies: Mutex::default(),
            sockets: Arc::default(),
            stats: Arc::default(),
            write_stats: Arc::default(),
        }
    }

    /// The company's writer (see `writes`), through which all its writes go.
    pub(crate) fn writer(&self, company_id: Id) -> Writer {
        self.company(company_id).writer.clone()
    }

    pub fn set_io(&self, io: SocketIo) {
        let _ = self.sockets.io.set(io);
    }

    pub fn io(&self) -> Option<&SocketIo> {
        self.sockets.io.get()
    }

    fn company(&self, company_id: Id) -> Arc<CompanyEvents> {
        let mut companies = self.companies.lock().expect("company map poisoned");
        companies
            .entry(company_id)
            .or_insert_with(|| {
                let (sender, queue) = mpsc::unbounded_channel();
                let outbox = Outbox {
                    write_lock: Arc::default(),
                    sender,
                    queued: Arc::default(),
                };
                let (emitted_tx, emitted) = watch::channel(0);
                let emission_gate = Arc::new(tokio::sync::RwLock::new(()));
                tokio::spawn(run_emitter(
                    queue,
                    emitted_tx,
                    emission_gate.clone(),
                    self.sockets.clone(),
                    self.stats.clone(),
                ));
                Arc::new(CompanyEvents {
                    writer: Writer::spawn(
                        self.db.clone(),
                        company_id,
                        outbox.clone(),
                        self.write_stats.clone(),
                    ),
                    outbox,
                    emitted,
                    settling: AtomicU64::new(0),
                    emission_gate,
                })
            })
            .clone()
    }

    pub async fn lock(&self, company_id: Id) -> OwnedMutexGuard<()> {
        self.company(company_id).outbox.lock().await
    }

    /// Waits until every event committed so far has been handed to the sockets. Called with
    /// the write lock held, so that nothing new is queued meanwhile: a socket that then joins
    /// its rooms and replays up to the head gets no event twice.
    pub async fn settle(&self, company_id: Id) {
        let company = self.company(company_id);
        let target = company.outbox.queued.load(Ordering::Acquire);
        let mut emitted = company.emitted.clone();
        company.settling.fetch_add(1, Ordering::AcqRel);
        // An error means the emitter is gone (runtime shutting down): nothing left to wait for.
        let _ = emitted.wait_for(|done| *done >= target).await;
        company.settling.fetch_sub(1, Ordering::AcqRel);
    }

    /// Writes of the company submitted and waiting for its writer.
    pub fn waiting_writes(&self, company_id: Id) -> usize {
        self.company(company_id).writer.waiting()
    }

    /// Connecting sockets of the company waiting for its emitter to catch up.
    pub fn settling(&self, company_id: Id) -> u64 {
        self.company(company_id).settling.load(Ordering::Acquire)
    }

    /// Committed events of the company not yet handed to the sockets.
    pub fn emission_backlog(&self, company_id: Id) -> u64 {
        let company = self.company(company_id);
        let emitted = *company.emitted.borrow();
        company
            .outbox
            .queued
            .load(Ordering::Acquire)
            .saturating_sub(emitted)
    }

    /// Holds the company's live emission until the guard drops (tests, maintenance): writes
    /// still commit, and their events go out in order afterwards.
    pub async fn pause_emission(&self, company_id: Id) -> tokio::sync::OwnedRwLockWriteGuard<()> {
        self.company(company_id)
            .emission_gate
            .clone()
            .write_owned()
            .await
    }
}

/// One per company: hands committed events to the sockets in `seq` order, off the write lock,
/// so the next write commits while this one fans out. Events that queue up meanwhile go out
/// together, each socket's share back to back so it writes them in one go.
async fn run_emitter(
    mut queue: mpsc::UnboundedReceiver<PendingEvent>,
    emitted: watch::Sender<u64>,
    gate: Arc<tokio::sync::RwLock<()>>,
    sockets: Arc<SocketSide>,
    stats: Arc<EmitStats>,
) {
    let mut batch = Vec::with_capacity(MAX_EMIT_BATCH);
    while queue.recv_many(&mut batch, MAX_EMIT_BATCH).await > 0 {
        let _open = gate.read().await;
        // A panic must not end live emission for the company until a restart.
        let fanned_out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            sockets.fan_out(&batch, &stats)
        }));
        if fanned_out.is_err() {
            // Some sockets may have missed these events: all of the company's reconnect and
            // replay them from the log.
            let company = batch.first().map(|e| e.envelope.company_id);
            tracing::error!(
                company,
                first_seq = batch.first().map(|e| e.envelope.seq),
                events = batch.len(),
                "emission panicked; disconnecting the company's sockets so they replay"
            );
            if let Some(ns) = company.and_then(|c| sockets.io.get()?.of(namespace(c))) {
                let _ = ns.disconnect().await;
            }
        }
        let handed = batch.len() as u64;
        batch.clear();
        emitted.send_modify(|done| *done += handed);
    }
}

impl SocketSide {
    /// A socket whose buffer is full is disconnected: it would otherwise silently miss the
    /// event. It reconnects and replays.
    fn fan_out(&self, batch: &[PendingEvent], stats: &EmitStats) {
        let Some(io) = self.io.get() else { return };
        let Some(first) = batch.first() else { return };
        let company = first.envelope.company_id;
        let Some(ns) = io.of(namespace(company)) else {
            return;
        };
        let names: Vec<String> = batch
            .iter()
            .map(|event| event_name(company, event.resource))
            .collect();
        // Socket-major: each socket gets its events of the batch in `seq` order, back to back.
        let mut recipients: Vec<SocketRef> = Vec::new();
        let mut index: HashMap<Sid, usize> = HashMap::new();
        // (recipient, event), pushed in `seq` order.
        let mut sends: Vec<(usize, usize)> = Vec::new();
        for (i, event) in batch.iter().enumerate() {
            if let Some(end) = &event.ends {
                // The user's sockets of the ending session(s) only.
                for socket in ns.clone().to(user_room(end.user_id)).sockets() {
                    let covered = socket
                        .extensions
                        .get::<SocketSession>()
                        .is_some_and(|s| end.covers(&s));
                    if covered {
                        sends.push((recipient_of(&mut index, &mut recipients, socket), i));
                    }
                }
                continue;
            }
            let targets = match event.audience {
                Audience::All => ns.clone().to(ROOM_MEMBERS),
                Audience::Assignee(u) => ns.clone().to([ROOM_ADMINS.to_string(), user_room(u)]),
                Audience::AgentsExcept(u) => ns.clone().to(ROOM_AGENTS).except(user_room(u)),
                Audience::Only(u) => ns.clone().to(user_room(u)),
            };
            for socket in targets.sockets() {
                let recipient = if batch.len() == 1 && batch[0].ends.is_none() {
                    recipients.push(socket);
                    recipients.len() - 1
                } else {
                    recipient_of(&mut index, &mut recipients, socket)
                };
                sends.push((recipient, i));
            }
        }
        // A stable sort keeps each recipient's events in `seq` order.
        sends.sort_by_key(|&(recipient, _)| recipient);
        let (mut delivered, mut dropped) = (0u64, 0u64);
        let mut given_up: Option<usize> = None;
        for (recipient, i) in sends {
            if given_up == Some(recipient) {
                continue;
            }
            let socket = &recipients[recipient];
            if let Some(end) = &batch[i].ends {
                tracing::info!(
                    company,
                    user = end.user_id,
                    reason = %end.reason,
                    seq = batch[i].envelope.seq,
                    "session ended; disconnecting its socket"
                );
                cut(socket, Some(SessionEnded::new(end.reason)));
                given_up = Some(recipient);
                continue;
            }
            match send_raw_event(socket, &names[i], &batch[i].payload) {
                Ok(()) => delivered += 1,
                Err(SendOutcome::Full) => {
                    dropped += 1;
                    cut(socket, None);
                    given_up = Some(recipient);
                }
                Err(SendOutcome::Closed) => given_up = Some(recipient),
            }
        }
        stats.delivered.fetch_add(delivered, Ordering::Relaxed);
        if dropped > 0 {
            stats
                .slow_consumers_dropped
                .fetch_add(dropped, Ordering::Relaxed);
            tracing::warn!(
                company,
                first_seq = first.envelope.seq,
                events = batch.len(),
                dropped,
                delivered,
                "slow consumers disconnected"
            );
        }
    }
}

/// The socket's place among a batch's recipients, adding it on its first event.
fn recipient_of(
    index: &mut HashMap<Sid, usize>,
    recipients: &mut Vec<SocketRef>,
    socket: SocketRef,
) -> usize {
    match index.entry(socket.id) {
        Entry::Occupied(at) => *at.get(),
        Entry::Vacant(at) => {
            recipients.push(socket);
            *at.insert(recipients.len() - 1)
        }
    }
}

pub enum SendOutcome {
    Full,
    Closed,
}

/// How often a cut socket whose buffer was full is tried again.
const CUT_RETRY: std::time::Duration = std::time::Duration::from_millis(50);

/// Disconnects a socket for good, after sending it `notice` when given: at once, it leaves
/// every room (so no later emission reaches it). A socket whose buffer is full cannot take the
/// disconnect packet (socketioxide then leaves it connected), and socketioxide tells nobody
/// when the buffer drains: it is tried again every `CUT_RETRY` until its client has read
/// enough, or until it is gone (the heartbeat ends a client that reads nothing).
pub fn cut(socket: &SocketRef, notice: Option<SessionEnded>) {
    socket.leave_all();
    let mut notice = notice;
    if try_cut(socket, &mut notice) {
        return;
    }
    let socket = socket.clone();
    tokio::spawn(async move {
        while socket.connected() {
            tokio::time::sleep(CUT_RETRY).await;
            if try_cut(&socket, &mut notice) {
                return;
            }
        }
    });
}

/// One attempt: the notice (if not sent yet), then the disconnect packet. False while the
/// buffer is full and the socket still connected.
fn try_cut(socket: &SocketRef, notice: &mut Option<SessionEnded>) -> bool {
    use socketioxide::{SendError, SocketError};
    if let Some(message) = notice.as_ref() {
        let name = event_name(parse_company(socket.ns()), Resource::Session);
        match socket.emit(name, message) {
            Ok(()) => *notice = None,
            Err(SendError::Socket(SocketError::InternalChannelFull)) => return !socket.connected(),
            Err(SendError::Socket(SocketError::Closed)) => return true,
            Err(SendError::Serialize(e)) => {
                tracing::error!(error = ?e, "session notice encoding failed");
                *notice = None;
            }
        }
    }
    match socket.clone().disconnect() {
        Ok(()) | Err(SocketError::Closed) => true,
        Err(SocketError::InternalChannelFull) => !socket.connected(),
    }
}

fn parse_company(ns: &str) -> Id {
    deskbell_protocol::parse_namespace(ns).unwrap_or_default()
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

/// A replayable event as stored.
pub struct StoredEvent {
    pub seq: i64,
    pub resource: Resource,
    pub payload: String,
}

/// Events after `after` visible to `user`, in order, up to `head`; never session ends.
pub async fn replay_events(
    db: &Db,
    user: &User,
    after: i64,
    head: i64,
) -> Result<Vec<StoredEvent>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT seq, resource, payload FROM events
         WHERE company_id = $1 AND seq > $2 AND seq <= $5 AND resource <> 'session' AND {AUDIENCE_SQL}
         ORDER BY seq"
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
