//! The event log as outbox, and live emission.
//!
//! A change and its events commit in one transaction, with per-company `seq` numbers taken
//! from `companies.event_seq` (see `writes`). The committed events go to the company's emitter
//! on this node (and, with `--redis-url`, to the other nodes' emitters, see `cluster`), which
//! hands them to the sockets in `seq` order whatever their source, reading from the log what
//! did not arrive (see `Emitter`). A connecting socket holds the emitter's gate while it joins
//! its rooms and replays up to exactly where the emitter is, so no live event is lost or
//! doubled around the replay.
//!
//! A change that ends sessions (logout, a revoked refresh family, a deactivated account, a new
//! password, a new role) records a session end in the same log and transaction. The emitter
//! meets it in `seq` order: it sends the session's sockets `company-{id}-session` with the
//! reason, takes them out of every room and disconnects them, so no event committed after the
//! change reaches them. Replay never sends session ends (a reconnect would be cut again).
//!
//! Who receives what is `visibility`'s rule (an event's `Audience`, its rooms, `AUDIENCE_SQL`
//! for replay), never restated here.
//!
//! Dependencies: `writes` (the hub starts each company's writer), `outbox` (what the writer
//! hands over), `visibility`, `store`, `db`. Nothing this module uses depends on it.

use deskbell_protocol::{event_name, namespace, Id, Resource, SessionEnded, User};
use serde_json::value::RawValue;
use socketioxide::extract::SocketRef;
use socketioxide::socket::Sid;
use socketioxide::SocketIo;
use sqlx::Row;
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::{mpsc, watch, OwnedMutexGuard};

use crate::db::Db;
use crate::outbox::{Arrival, Outbox};
use crate::visibility::{user_room, AUDIENCE_SQL};
use crate::writes::{WriteStats, Writer};

// Where these were defined before they moved down (see `outbox` and `visibility`); the
// emitter's users keep naming them here.
pub use crate::outbox::{EventRun, LogEvent, PendingEvent, Publish, SessionEnd};
pub use crate::visibility::{Audience, ROOM_ADMINS, ROOM_AGENTS, ROOM_MEMBERS};

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
    /// Events an emitter read back from the log because they had not reached it otherwise
    /// (written by another node whose message was lost, late or out of order).
    pub caught_up_from_log: AtomicU64,
}

/// Events handed to the sockets in one go at most.
const MAX_EMIT_BATCH: usize = 64;
/// Events read back from the log in one query at most.
const CATCH_UP_ROWS: i64 = 1000;
/// How long a connecting socket waits for the emitter to hand out what this node knows is
/// committed, before it joins at whatever the emitter reached (correct either way, see
/// `EventHub::join_point`).
const SETTLE_AT_MOST: Duration = Duration::from_secs(5);
/// How long an emitter waits before reading the log again after the database failed it.
const CATCH_UP_RETRY: Duration = Duration::from_secs(1);

/// Per-company writers, write locks and emitters.
pub struct EventHub {
    db: Db,
    companies: Mutex<HashMap<Id, Arc<CompanyEvents>>>,
    sockets: Arc<SocketSide>,
    publisher: OnceLock<Arc<dyn Publish>>,
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
    /// The highest `seq` handed to the sockets; `None` until the emitter has read the head
    /// it starts from.
    delivered: watch::Receiver<Option<i64>>,
    /// Sockets waiting in `settle`.
    settling: AtomicU64,
    /// Held shared by the emitter while it fans out; a connecting socket and `pause_emission`
    /// hold it exclusively.
    emission_gate: Arc<tokio::sync::RwLock<()>>,
}

impl EventHub {
    pub fn new(db: Db) -> EventHub {
        EventHub {
            db,
            companies: Mutex::default(),
            sockets: Arc::default(),
            publisher: OnceLock::new(),
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

    /// Sends every commit of this node to the other nodes too. Set before the first write.
    pub fn set_publisher(&self, publisher: Arc<dyn Publish>) {
        let _ = self.publisher.set(publisher);
    }

    /// The company's emission, if this node has started it (a socket connected or a write
    /// was made here): events of other companies concern no socket of this node.
    fn started(&self, company_id: Id) -> Option<Arc<CompanyEvents>> {
        let companies = self.companies.lock().expect("company map poisoned");
        companies.get(&company_id).cloned()
    }

    fn company(&self, company_id: Id) -> Arc<CompanyEvents> {
        let mut companies = self.companies.lock().expect("company map poisoned");
        companies
            .entry(company_id)
            .or_insert_with(|| {
                let (outbox, queue) = Outbox::new(self.publisher.get().cloned());
                let (delivered_tx, delivered) = watch::channel(None);
                let emission_gate = Arc::new(tokio::sync::RwLock::new(()));
                tokio::spawn(
                    Emitter {
                        company_id,
                        db: self.db.clone(),
                        delivered: delivered_tx,
                        known: outbox.known.clone(),
                        gate: emission_gate.clone(),
                        sockets: self.sockets.clone(),
                        stats: self.stats.clone(),
                        waiting: Vec::new(),
                        target: 0,
                    }
                    .run(queue),
                );
                Arc::new(CompanyEvents {
                    writer: Writer::spawn(
                        self.db.clone(),
                        company_id,
                        outbox.clone(),
                        self.write_stats.clone(),
                    ),
                    outbox,
                    delivered,
                    settling: AtomicU64::new(0),
                    emission_gate,
                })
            })
            .clone()
    }

    pub async fn lock(&self, company_id: Id) -> OwnedMutexGuard<()> {
        self.company(company_id).outbox.lock().await
    }

    /// Events another node committed (see `cluster`): handed out in `seq` order with the rest.
    pub fn deliver_remote(&self, run: EventRun) {
        let Some(first) = run.first() else { return };
        if let Some(company) = self.started(first.company_id) {
            let last = run.last().map_or(first.seq, |e| e.seq);
            company.outbox.known.fetch_max(last, Ordering::AcqRel);
            company.outbox.send(Arrival::Events(run));
        }
    }

    /// The company's log reaches `head` (read by another means than this node's writes): the
    /// emitter catches up from the log if it is behind.
    pub fn observe_head(&self, company_id: Id, head: i64) {
        if let Some(company) = self.started(company_id) {
            if company.outbox.known.fetch_max(head, Ordering::AcqRel) < head {
                company.outbox.send(Arrival::Head(head));
            }
        }
    }

    /// Companies whose emission this node has started.
    pub fn started_companies(&self) -> Vec<Id> {
        let companies = self.companies.lock().expect("company map poisoned");
        companies.keys().copied().collect()
    }

    /// Asks every started emitter to read its company's head and catch up (after a link to
    /// the other nodes was down: what they sent meanwhile is lost).
    pub fn catch_up_all(&self) {
        let companies: Vec<_> = {
            let companies = self.companies.lock().expect("company map poisoned");
            companies.values().cloned().collect()
        };
        for company in companies {
            company.outbox.send(Arrival::CatchUp);
        }
    }

    /// Waits (a bounded time) until the emitter has handed out every event this node knows to
    /// be committed, asking it to read the log head first when the client has seen more than
    /// it: a socket that then joins gets more by replay and less live, and a client moving
    /// over from a node further ahead is not sent back to a snapshot.
    pub async fn settle(&self, company_id: Id, client_seen: Option<i64>) {
        let company = self.company(company_id);
        let mut delivered = company.delivered.clone();
        company.settling.fetch_add(1, Ordering::AcqRel);
        let target = company.outbox.known.load(Ordering::Acquire);
        let target = match client_seen {
            Some(seen) if seen > target => {
                company.outbox.send(Arrival::CatchUp);
                seen
            }
            _ => target,
        };
        let caught_up = delivered.wait_for(|done| done.is_some_and(|d| d >= target));
        // An error means the emitter is gone (runtime shutting down): nothing left to wait for.
        let _ = tokio::time::timeout(SETTLE_AT_MOST, caught_up).await;
        company.settling.fetch_sub(1, Ordering::AcqRel);
    }

    /// Stops the company's emission until the guard drops and says up to which `seq` it has
    /// handed events out: a socket that joins its rooms under the guard gets every later event
    /// live, so it replays exactly up to there. Waits for the emitter's starting point.
    pub async fn join_point(
        &self,
        company_id: Id,
    ) -> (tokio::sync::OwnedRwLockWriteGuard<()>, i64) {
        let company = self.company(company_id);
        let mut delivered = company.delivered.clone();
        let _ = delivered.wait_for(Option::is_some).await;
        let gate = company.emission_gate.clone().write_owned().await;
        let head = (*company.delivered.borrow()).unwrap_or(0);
        (gate, head)
    }

    /// Writes of the company submitted and waiting for its writer.
    pub fn waiting_writes(&self, company_id: Id) -> usize {
        self.company(company_id).writer.waiting()
    }

    /// Connecting sockets of the company waiting for its emitter to catch up.
    pub fn settling(&self, company_id: Id) -> u64 {
        self.company(company_id).settling.load(Ordering::Acquire)
    }

    /// The highest `seq` of the company handed to this node's sockets (`None` before its
    /// emitter started).
    pub fn delivered(&self, company_id: Id) -> Option<i64> {
        *self.company(company_id).delivered.borrow()
    }

    /// Committed events of the company that this node knows of and has not yet handed to
    /// the sockets.
    pub fn emission_backlog(&self, company_id: Id) -> u64 {
        let company = self.company(company_id);
        let delivered = (*company.delivered.borrow()).unwrap_or(0);
        let known = company.outbox.known.load(Ordering::Acquire);
        known.saturating_sub(delivered).max(0) as u64
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

/// One per company and node: hands the company's committed events to this node's sockets in
/// `seq` order, each exactly once, off the write lock. Events arrive from this node's writer
/// and from other nodes, possibly out of order, late, twice or never: it hands out the next
/// `seq` only, keeps later runs until it is their turn, drops what it already handed out, and
/// reads from the log whatever is missing once something later is known to be committed (a
/// company's commits are ordered by its row lock: when `seq` n is committed, so is every
/// earlier one).
struct Emitter {
    company_id: Id,
    db: Db,
    delivered: watch::Sender<Option<i64>>,
    known: Arc<AtomicI64>,
    gate: Arc<tokio::sync::RwLock<()>>,
    sockets: Arc<SocketSide>,
    stats: Arc<EmitStats>,
    /// Runs not yet handed out, in no particular order.
    waiting: Vec<EventRun>,
    /// The log is known to reach this far.
    target: i64,
}

impl Emitter {
    async fn run(mut self, mut queue: mpsc::UnboundedReceiver<Arrival>) {
        // Everything committed before the emitter starts is for replay: no socket of this node
        // has joined the company's rooms yet (they wait for this starting point).
        let mut next = loop {
            match crate::store::event_head(&self.db.pool, self.company_id).await {
                Ok(head) => break head + 1,
                Err(e) => {
                    tracing::warn!(company = self.company_id, error = %e, "cannot read the event head; retrying");
                    tokio::time::sleep(CATCH_UP_RETRY).await;
                }
            }
        };
        self.known.fetch_max(next - 1, Ordering::AcqRel);
        self.delivered.send_replace(Some(next - 1));
        let mut arrivals = Vec::new();
        while queue.recv_many(&mut arrivals, MAX_EMIT_BATCH).await > 0 {
            for arrival in arrivals.drain(..) {
                match arrival {
                    Arrival::Events(run) => {
                        if run.last().is_some_and(|e| e.seq >= next) {
                            self.waiting.push(run);
                        }
                    }
                    Arrival::Head(head) => self.target = self.target.max(head),
                    Arrival::CatchUp => {
                        match crate::store::event_head(&self.db.pool, self.company_id).await {
                            Ok(head) => self.target = self.target.max(head),
                            Err(e) => {
                                tracing::warn!(company = self.company_id, error = %e, "cannot read the event head")
                            }
                        }
                    }
                }
            }
            next = self.hand_out(next).await;
        }
    }

    /// Hands out everything from `next` on that is waiting or known committed; returns the
    /// next `seq` to hand out.
    async fn hand_out(&mut self, mut next: i64) -> i64 {
        loop {
            self.waiting
                .retain(|run| run.last().is_some_and(|e| e.seq >= next));
            let ready = self
                .waiting
                .iter()
                .position(|run| run.first().is_some_and(|e| e.seq <= next));
            if let Some(at) = ready {
                let run = self.waiting.swap_remove(at);
                let skip = run.iter().take_while(|e| e.seq < next).count();
                next = self.emit(&run[skip..], next).await;
                continue;
            }
            // Something later is known: what lies between is committed, so it is in the log.
            let upto = match self
                .waiting
                .iter()
                .filter_map(|run| run.first())
                .map(|e| e.seq)
                .min()
            {
                // No waiting run starts at `next` (or it would be ready): fill the gap before it.
                Some(first_waiting) => first_waiting - 1,
                None => self.target,
            };
            if upto < next {
                return next;
            }
            match events_between(&self.db, self.company_id, next, upto, CATCH_UP_ROWS).await {
                Ok(found) if found.first().is_some_and(|e| e.seq == next) => {
                    self.stats
                        .caught_up_from_log
                        .fetch_add(found.len() as u64, Ordering::Relaxed);
                    tracing::debug!(
                        company = self.company_id,
                        from = next,
                        to = found.last().map(|e| e.seq),
                        "events read back from the log"
                    );
                    next = self.emit(&found, next).await;
                }
                Ok(found) => {
                    // Pruned before this node handed them out (it was far behind): its sockets
                    // replay or reload what they can.
                    let resume = found.first().map_or(upto + 1, |e| e.seq);
                    tracing::error!(
                        company = self.company_id,
                        missing_from = next,
                        missing_to = resume - 1,
                        "events no longer in the log; disconnecting the company's sockets so they replay or reload"
                    );
                    self.sockets.disconnect_company(self.company_id).await;
                    next = resume;
                    self.delivered.send_replace(Some(next - 1));
                }
                Err(e) => {
                    tracing::warn!(company = self.company_id, error = %e, from = next, "cannot read the event log; retrying");
                    tokio::time::sleep(CATCH_UP_RETRY).await;
                }
            }
        }
    }

    /// Fans out consecutive events starting at `next`; returns the `seq` after the last.
    async fn emit(&self, events: &[LogEvent], mut next: i64) -> i64 {
        for chunk in events.chunks(MAX_EMIT_BATCH) {
            let _open = self.gate.read().await;
            // A panic must not end live emission for the company until a restart.
            let fanned_out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.sockets.fan_out(chunk, &self.stats)
            }));
            if fanned_out.is_err() {
                // Some sockets may have missed these events: all of the company's reconnect and
                // replay them from the log.
                tracing::error!(
                    company = self.company_id,
                    first_seq = chunk.first().map(|e| e.seq),
                    events = chunk.len(),
                    "emission panicked; disconnecting the company's sockets so they replay"
                );
                self.sockets.disconnect_company(self.company_id).await;
            }
            if let Some(last) = chunk.last() {
                debug_assert_eq!(chunk[0].seq, next, "runs are consecutive");
                next = last.seq + 1;
                self.delivered.send_replace(Some(last.seq));
            }
        }
        self.known.fetch_max(next - 1, Ordering::AcqRel);
        next
    }
}

impl SocketSide {
    /// A socket whose buffer is full is disconnected: it would otherwise silently miss the
    /// event. It reconnects and replays.
    async fn disconnect_company(&self, company_id: Id) {
        if let Some(ns) = self.io.get().and_then(|io| io.of(namespace(company_id))) {
            let _ = ns.disconnect().await;
        }
    }

    fn fan_out(&self, batch: &[LogEvent], stats: &EmitStats) {
        let Some(io) = self.io.get() else { return };
        let Some(first) = batch.first() else { return };
        let company = first.company_id;
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
                        .is_some_and(|s| end.covers(s.user.id, &s.session));
                    if covered {
                        sends.push((recipient_of(&mut index, &mut recipients, socket), i));
                    }
                }
                continue;
            }
            let rooms = event.audience.rooms();
            let targets = match rooms.except {
                None => ns.clone().to(rooms.to),
                Some(except) => ns.clone().to(rooms.to).except(except),
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
                    seq = batch[i].seq,
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
                first_seq = first.seq,
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

/// The company's logged events from `from` to `to` (at most `limit`), session ends included,
/// in order: what an emitter missed.
pub async fn events_between(
    db: &Db,
    company_id: Id,
    from: i64,
    to: i64,
    limit: i64,
) -> Result<Vec<LogEvent>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT seq, resource, audience, audience_user, payload FROM events
         WHERE company_id = $1 AND seq >= $2 AND seq <= $3 ORDER BY seq LIMIT $4",
    )
    .bind(company_id)
    .bind(from)
    .bind(to)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    let mut found = Vec::with_capacity(rows.len());
    for row in rows {
        let resource: String = row.try_get("resource")?;
        let audience: String = row.try_get("audience")?;
        if let Some(event) = LogEvent::from_stored(
            company_id,
            row.try_get("seq")?,
            &resource,
            &audience,
            row.try_get("audience_user")?,
            row.try_get("payload")?,
        ) {
            found.push(event);
        }
    }
    Ok(found)
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
