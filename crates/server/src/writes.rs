//! Group commit: how every write reaches the database.
//!
//! A company's writes go to its writer task, which runs the writes waiting for it one after
//! another in one transaction and commits them together. A burst of writes then shares one
//! `BEGIN`, one lock of the company row, one insert into the event log and one `COMMIT`
//! instead of paying for each: on SQLite every statement is a round trip to the connection's
//! worker thread, and those round trips, not SQLite itself, bound how many writes per second
//! a company gets.
//!
//! Each write still sees the writes queued before it and nothing else, as if it ran alone. A
//! write that fails may have written part of its change, so the writer rolls the transaction
//! back, answers that write with its error, and runs the writes before it again in a fresh
//! transaction: a failed write never takes another one down with it.
//!
//! Each event is chained to the previous event of its stream (its audience, see the protocol's
//! `EventStream`) by `prevSeq`, looked up in the log under the company row's lock, so clients
//! can tell a missed event from one they were never meant to see. A writer remembers the
//! streams' heads from one commit to the next, and when other nodes wrote in between it reads
//! what they appended (one query) rather than every stream's head again.
//!
//! The writer holds the company's write lock from `BEGIN` until the batch's events are queued
//! for emission (`EventHub::lock` holds a company's writes the same way, for tests). Order
//! across nodes does not rest on it: the emitter puts events in `seq` order (see `events`).
//!
//! Dependencies: `outbox` (where committed events go), `visibility` (an event's audience),
//! `store`, `db`, `error`. The emitter (`events`) starts writers and so depends on this
//! module; this module never depends on it.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use deskbell_protocol::{EventAction, EventEnvelope, EventStream, Id, Resource, Ticket};
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use sqlx::{AnyConnection, Connection, Executor, Row};
use tokio::sync::{mpsc, oneshot};

use crate::db::{Backend, Db};
use crate::error::{OpError, OpResult};
use crate::outbox::{Outbox, PendingEvent, SessionEnd};
use crate::store;
use crate::visibility::Audience;

/// Writes committed together at most: bounds how long one batch holds the write lock.
const MAX_BATCH: usize = 64;
/// Rows per insert into the event log (seven binds each, far below either database's limit).
const EVENT_ROWS_PER_INSERT: usize = 64;
/// Writes that may wait for a company's writer before submitting waits too.
pub(crate) const WRITE_QUEUE: usize = 1024;
/// How long a writer keeps its database connection after its last write.
const IDLE_RELEASE: Duration = Duration::from_secs(5);

/// What a company's writer keeps from one batch to the next.
#[derive(Default)]
struct Kept {
    /// Its own connection, outside any transaction.
    conn: Option<AnyConnection>,
    /// The company's event head as of the writer's last commit (SQLite only, where nothing
    /// else appends to the company's log); unknown after any failure.
    head: Option<i64>,
    /// Stream heads (see the module docs) as of the company's event head `streams_at`.
    streams: HashMap<EventStream, i64>,
    streams_at: Option<i64>,
}

/// Stream heads a writer remembers at most; beyond, it forgets them all and looks them up.
const MAX_KEPT_STREAMS: usize = 100_000;
/// Events written by others since its last commit that a writer reads to update the stream
/// heads it remembers; further behind, it forgets them and looks each up when needed.
const MAX_STREAM_CATCH_UP: i64 = 10_000;

/// The body of a write: runs in the batch's transaction, possibly more than once (see the
/// module docs), so it must not have effects outside the database.
pub type WriteBody<I, T> = for<'a> fn(&'a mut WriteTx, &'a I) -> BoxFuture<'a, OpResult<T>>;

/// A write of one company inside the batch's transaction, collecting its events.
pub struct WriteTx {
    /// The writer's own connection, in the batch's transaction. Kept from one batch to the
    /// next (taken out of the pool) instead of being acquired and released around each: every
    /// release costs the pool a round trip to check the connection.
    conn: AnyConnection,
    backend: Backend,
    pub company_id: Id,
    /// Who makes the current write.
    pub actor: Id,
    /// When the current write started.
    pub now: DateTime<Utc>,
    /// The company's newest `seq`, including this transaction's events so far.
    last_seq: i64,
    events: Vec<PendingEvent>,
    /// Known stream heads, committed ones (see `Kept`).
    streams: HashMap<EventStream, i64>,
}

impl WriteTx {
    /// Begins a transaction on the writer's connection, or on one taken out of the pool. On
    /// an error the connection is dropped (closed): it may be inside a transaction.
    async fn begin(db: &Db, kept: &mut Kept, company_id: Id) -> OpResult<WriteTx> {
        let known_head = kept.head.take().filter(|_| db.backend == Backend::Sqlite);
        let (streams, streams_at) = (std::mem::take(&mut kept.streams), kept.streams_at.take());
        // Write first: SQLite takes its write lock now (waiting if needed) instead of failing
        // a later upgrade; PostgreSQL locks the company row against other processes. Both
        // then hold the newest `seq` still while this transaction numbers its events.
        let begin = if known_head.is_some() {
            "BEGIN IMMEDIATE"
        } else {
            "BEGIN"
        };
        let conn = match kept.conn.take() {
            Some(mut conn) => match conn.execute(begin).await {
                Ok(_) => conn,
                Err(e) => {
                    // A kept connection can go stale while idle (a restarted PostgreSQL).
                    tracing::warn!(company = company_id, error = %e, "the writer's connection failed; taking a new one");
                    Self::fresh_connection(db, begin).await?
                }
            },
            None => Self::fresh_connection(db, begin).await?,
        };
        let mut w = WriteTx {
            conn,
            backend: db.backend,
            company_id,
            actor: 0,
            now: Utc::now(),
            last_seq: 0,
            events: Vec::new(),
            streams: HashMap::new(),
        };
        if let Some(head) = known_head {
            // This process is the SQLite database's only writer and this task the company's:
            // the head it committed last is still the head.
            w.last_seq = head;
            w.keep_streams(streams, streams_at);
            return Ok(w);
        }
        w.last_seq = sqlx::query(
            "UPDATE companies SET event_seq = event_seq WHERE id = $1 RETURNING event_seq",
        )
        .bind(company_id)
        .fetch_optional(w.conn())
        .await?
        .ok_or_else(|| OpError::Internal(format!("company {company_id} does not exist")))?
        .try_get("event_seq")?;
        match streams_at {
            // Other nodes wrote since: one query brings every stream they touched up to date.
            Some(at) if at < w.last_seq && w.last_seq - at <= MAX_STREAM_CATCH_UP => {
                let mut streams = streams;
                w.catch_up_streams(&mut streams, at).await?;
                w.keep_streams(streams, Some(w.last_seq));
            }
            at => w.keep_streams(streams, at),
        }
        Ok(w)
    }

    /// Takes the remembered stream heads if nobody wrote to the company since they were.
    fn keep_streams(&mut self, streams: HashMap<EventStream, i64>, at: Option<i64>) {
        if at == Some(self.last_seq) && streams.len() <= MAX_KEPT_STREAMS {
            self.streams = streams;
        }
    }

    /// Moves the remembered heads of the streams other writers appended to after `at` (all
    /// committed: this transaction holds the company row).
    async fn catch_up_streams(
        &mut self,
        streams: &mut HashMap<EventStream, i64>,
        at: i64,
    ) -> OpResult<()> {
        let rows = sqlx::query(
            "SELECT audience, audience_user, MAX(seq) AS s FROM events
             WHERE company_id = $1 AND seq > $2 AND resource <> 'session'
             GROUP BY audience, audience_user",
        )
        .bind(self.company_id)
        .bind(at)
        .fetch_all(&mut self.conn)
        .await?;
        for row in rows {
            let audience: String = row.try_get("audience")?;
            let user: Option<Id> = row.try_get("audience_user")?;
            let head: i64 = row.try_get("s")?;
            match Audience::from_db(&audience, user) {
                Some(audience) => {
                    streams.insert(audience.stream(), head);
                }
                // An audience this server does not know: forget everything, look heads up.
                None => streams.clear(),
            }
        }
        Ok(())
    }

    /// The seq of the stream's newest committed event (0: none in the log). Session ends share
    /// their user's `only` audience in the log but are no stream's events.
    async fn stream_head(&mut self, stream: EventStream) -> OpResult<i64> {
        if let Some(&head) = self.streams.get(&stream) {
            return Ok(head);
        }
        let (audience, user) = Audience::of_stream(stream).to_db();
        let user_clause = if user.is_some() {
            "audience_user = $3"
        } else {
            "audience_user IS NULL AND $3 IS NULL"
        };
        let head: Option<i64> = sqlx::query(&format!(
            "SELECT MAX(seq) AS s FROM events
             WHERE company_id = $1 AND audience = $2 AND {user_clause} AND resource <> 'session'"
        ))
        .bind(self.company_id)
        .bind(audience)
        .bind(user)
        .fetch_one(&mut self.conn)
        .await?
        .try_get("s")?;
        Ok(head.unwrap_or(0))
    }

    /// Chains each event to its stream's previous one and encodes it, just before the log
    /// insert: the heads looked up then are the committed ones, under the company row's lock.
    async fn seal_events(&mut self) -> OpResult<()> {
        for i in 0..self.events.len() {
            if self.events[i].ends.is_some() {
                continue;
            }
            let stream = self.events[i].audience.stream();
            let prev = self.stream_head(stream).await?;
            let event = &mut self.events[i];
            event.envelope.stream = Some(stream);
            event.envelope.prev_seq = Some(prev);
            event.payload = serde_json::value::to_raw_value(&event.envelope)
                .map_err(|e| OpError::Internal(format!("cannot encode an event: {e}")))?;
            self.streams.insert(stream, event.envelope.seq);
        }
        Ok(())
    }

    /// A connection out of the pool (checked there), in a transaction begun with `begin`.
    async fn fresh_connection(db: &Db, begin: &str) -> OpResult<AnyConnection> {
        let mut conn = db.pool.acquire().await?.detach();
        conn.execute(begin).await?;
        Ok(conn)
    }

    fn start_write(&mut self, actor: Id) {
        self.actor = actor;
        self.now = Utc::now();
    }

    /// The company's newest `seq`, including this transaction's events so far.
    pub fn head(&self) -> i64 {
        self.last_seq
    }

    /// The connection, in the batch's transaction.
    pub fn conn(&mut self) -> &mut AnyConnection {
        &mut self.conn
    }

    /// A ticket this transaction just wrote, as it now is.
    pub async fn ticket(&mut self, id: Id) -> OpResult<Ticket> {
        store::ticket(&mut self.conn, self.company_id, id)
            .await?
            .ok_or_else(|| {
                OpError::Internal(format!("ticket {id} vanished inside its transaction"))
            })
    }

    /// An envelope for the current write's actor and time; `seq` is set by `record`.
    pub fn envelope(&self, action: EventAction) -> EventEnvelope {
        EventEnvelope::new(action, 0, self.company_id, self.actor, self.now)
    }

    /// Numbers an event; it goes into the log with the batch, just before `COMMIT`.
    pub fn record(
        &mut self,
        resource: Resource,
        audience: Audience,
        mut envelope: EventEnvelope,
    ) -> OpResult<()> {
        envelope.seq = self.last_seq + 1;
        self.last_seq = envelope.seq;
        self.events.push(PendingEvent {
            resource,
            audience,
            envelope,
            // Encoded at commit, once chained to its stream (`seal_events`).
            payload: serde_json::value::RawValue::NULL.to_owned(),
            ends: None,
        });
        Ok(())
    }

    /// Records that sessions end with this write: once committed, the emitter cuts their
    /// sockets in `seq` order (see `events`), so they receive nothing committed after it.
    pub fn end_sessions(&mut self, end: SessionEnd) -> OpResult<()> {
        // The envelope only carries the seq, actor and time (see `PendingEvent`); the action
        // is never sent.
        let mut envelope = self.envelope(EventAction::Delete);
        envelope.seq = self.last_seq + 1;
        let payload = serde_json::value::to_raw_value(&end)
            .map_err(|e| OpError::Internal(format!("cannot encode a session end: {e}")))?;
        self.last_seq = envelope.seq;
        self.events.push(PendingEvent {
            resource: Resource::Session,
            audience: Audience::Only(end.user_id),
            envelope,
            payload,
            ends: Some(end),
        });
        Ok(())
    }

    /// Appends the events to the log (whose insert trigger advances `companies.event_seq`)
    /// and commits; the events are then the emitter's, and the connection the writer's again.
    async fn commit(mut self) -> OpResult<(Vec<PendingEvent>, Kept)> {
        self.seal_events().await?;
        let chunks = self.events.len().div_ceil(EVENT_ROWS_PER_INSERT);
        // On SQLite the last insert carries the COMMIT: one round trip to its worker thread
        // fewer per batch. PostgreSQL takes one statement per prepared query.
        let mut committed = false;
        for (n, chunk) in self.events.chunks(EVENT_ROWS_PER_INSERT).enumerate() {
            let mut sql = String::from(
                "INSERT INTO events (company_id, seq, resource, audience, audience_user, payload, created_at) VALUES ",
            );
            for row in 0..chunk.len() {
                let b = row * 7;
                let sep = if row == 0 { "" } else { ", " };
                let _ = write!(
                    sql,
                    "{sep}(${}, ${}, ${}, ${}, ${}, ${}, ${})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6,
                    b + 7
                );
            }
            if self.backend == Backend::Sqlite && n + 1 == chunks {
                sql.push_str("; COMMIT");
                committed = true;
            }
            let mut insert = sqlx::query(&sql);
            for event in chunk {
                let (kind, user) = event.audience.to_db();
                insert = insert
                    .bind(self.company_id)
                    .bind(event.envelope.seq)
                    .bind(event.resource.as_str())
                    .bind(kind)
                    .bind(user)
                    .bind(event.payload.get())
                    .bind(store::ts(event.envelope.timestamp));
            }
            insert.execute(&mut self.conn).await?;
        }
        if !committed {
            self.conn.execute("COMMIT").await?;
        }
        let kept = Kept {
            conn: Some(self.conn),
            head: Some(self.last_seq),
            streams: self.streams,
            streams_at: Some(self.last_seq),
        };
        Ok((self.events, kept))
    }

    /// The connection back, unless rolling back failed (it is then closed). The head is
    /// read again next time.
    async fn rollback(mut self) -> Kept {
        match self.conn.execute("ROLLBACK").await {
            Ok(_) => Kept {
                conn: Some(self.conn),
                ..Kept::default()
            },
            Err(e) => {
                tracing::warn!(error = %e, "rollback of a write batch failed; closing its connection");
                Kept::default()
            }
        }
    }
}

/// A submitted write as the writer sees it, whatever its input and result types.
trait QueuedWrite: Send {
    fn actor(&self) -> Id;
    fn run<'a>(&'a mut self, w: &'a mut WriteTx) -> BoxFuture<'a, OpResult<()>>;
    /// Sends the submitter its result: the write's own when `outcome` is Ok.
    fn answer(self: Box<Self>, outcome: OpResult<()>);
}

struct Submitted<I, T> {
    actor: Id,
    input: I,
    body: WriteBody<I, T>,
    output: Option<T>,
    reply: oneshot::Sender<OpResult<T>>,
}

impl<I: Send + Sync + 'static, T: Send + 'static> QueuedWrite for Submitted<I, T> {
    fn actor(&self) -> Id {
        self.actor
    }

    fn run<'a>(&'a mut self, w: &'a mut WriteTx) -> BoxFuture<'a, OpResult<()>> {
        let Submitted {
            input,
            body,
            output,
            ..
        } = self;
        Box::pin(async move {
            *output = Some(body(w, input).await?);
            Ok(())
        })
    }

    fn answer(self: Box<Self>, outcome: OpResult<()>) {
        let Submitted { output, reply, .. } = *self;
        let result = outcome.and_then(|()| {
            output.ok_or_else(|| OpError::Internal("a write finished without its result".into()))
        });
        // The submitter may have gone (client disconnected); the write stands all the same.
        let _ = reply.send(result);
    }
}

/// Counters of every company's writer.
#[derive(Debug, Default)]
pub struct WriteStats {
    /// Writes committed.
    pub writes: AtomicU64,
    /// Transactions that committed them.
    pub commits: AtomicU64,
}

/// The sending side of a company's writer.
#[derive(Clone)]
pub(crate) struct Writer {
    queue: mpsc::Sender<Box<dyn QueuedWrite>>,
}

impl Writer {
    /// Starts the writer task of a company; it ends when the last `Writer` is dropped.
    pub(crate) fn spawn(db: Db, company_id: Id, outbox: Outbox, stats: Arc<WriteStats>) -> Writer {
        let (queue, waiting) = mpsc::channel(WRITE_QUEUE);
        tokio::spawn(run_writer(db, company_id, outbox, stats, waiting));
        Writer { queue }
    }

    /// Writes submitted and not yet taken up by the writer.
    pub(crate) fn waiting(&self) -> usize {
        self.queue.max_capacity() - self.queue.capacity()
    }

    /// Runs `body` on `input` as `actor`'s write and returns its result once committed.
    pub(crate) async fn submit<I, T>(
        self,
        actor: Id,
        input: I,
        body: WriteBody<I, T>,
    ) -> OpResult<T>
    where
        I: Send + Sync + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let write = Box::new(Submitted {
            actor,
            input,
            body,
            output: None,
            reply,
        });
        self.queue
            .send(write)
            .await
            .map_err(|_| OpError::Internal("the company's writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| OpError::Internal("the write was lost before it could commit".into()))?
    }
}

async fn run_writer(
    db: Db,
    company_id: Id,
    outbox: Outbox,
    stats: Arc<WriteStats>,
    mut queue: mpsc::Receiver<Box<dyn QueuedWrite>>,
) {
    let mut waiting = VecDeque::new();
    let mut kept = Kept::default();
    loop {
        if waiting.is_empty() {
            let next = match kept.conn.take() {
                None => queue.recv().await,
                Some(conn) => match tokio::time::timeout(IDLE_RELEASE, queue.recv()).await {
                    Ok(next) => {
                        kept.conn = Some(conn);
                        next
                    }
                    Err(_idle) => {
                        let _ = conn.close().await;
                        queue.recv().await
                    }
                },
            };
            match next {
                Some(write) => waiting.push_back(write),
                None => break,
            }
        }
        // A panic outside a write's own body drops the writes of that batch (their submitters
        // get an error, nothing was committed; the connection is dropped with its transaction)
        // but must not stop the company's writes.
        let batch = commit_batch(
            &db,
            company_id,
            &outbox,
            &stats,
            &mut kept,
            &mut waiting,
            &mut queue,
        );
        if AssertUnwindSafe(batch).catch_unwind().await.is_err() {
            tracing::error!(company = company_id, "a write batch panicked");
        }
    }
    if let Some(conn) = kept.conn {
        let _ = conn.close().await;
    }
}

/// Runs the waiting writes, and those that arrive meanwhile (up to `MAX_BATCH`), in one
/// transaction; commits them and queues their events.
async fn commit_batch(
    db: &Db,
    company_id: Id,
    outbox: &Outbox,
    stats: &WriteStats,
    kept: &mut Kept,
    waiting: &mut VecDeque<Box<dyn QueuedWrite>>,
    queue: &mut mpsc::Receiver<Box<dyn QueuedWrite>>,
) {
    let _write_lock = outbox.lock().await;
    let mut tx: Option<WriteTx> = None;
    // Writes that ran in `tx` and wait for its commit.
    let mut ran: Vec<Box<dyn QueuedWrite>> = Vec::new();
    // After a failure, only the writes to run again make up the rest of the batch.
    let mut rerunning = false;
    loop {
        let next = match waiting.pop_front() {
            Some(write) => write,
            None if ran.len() < MAX_BATCH && !rerunning => match queue.try_recv() {
                Ok(write) => write,
                Err(_) => break,
            },
            None => break,
        };
        let w = match &mut tx {
            Some(w) => w,
            None => match WriteTx::begin(db, kept, company_id).await {
                Ok(w) => tx.insert(w),
                Err(e) => {
                    tracing::error!(company = company_id, error = %e, "cannot start a write transaction");
                    for write in ran.drain(..).chain(waiting.drain(..)) {
                        write.answer(Err(shared(&e)));
                    }
                    next.answer(Err(e));
                    return;
                }
            },
        };
        let mut write = next;
        w.start_write(write.actor());
        let outcome = AssertUnwindSafe(write.run(w))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| {
                tracing::error!(company = company_id, "a write panicked");
                Err(OpError::Internal("the write failed unexpectedly".into()))
            });
        match outcome {
            Ok(()) => ran.push(write),
            Err(e) => {
                // It may have written part of its change: undo the transaction, answer it
                // alone, and run the writes before it again.
                if let Some(w) = tx.take() {
                    *kept = w.rollback().await;
                }
                write.answer(Err(e));
                rerunning = rerunning || !ran.is_empty();
                for earlier in ran.drain(..).rev() {
                    waiting.push_front(earlier);
                }
            }
        }
    }
    let Some(w) = tx else { return };
    match w.commit().await {
        Ok((events, next)) => {
            *kept = next;
            stats.commits.fetch_add(1, Ordering::Relaxed);
            stats.writes.fetch_add(ran.len() as u64, Ordering::Relaxed);
            // Answers first: the waiting requests are then scheduled ahead of the socket tasks
            // the fan-out wakes, not behind them.
            for write in ran {
                write.answer(Ok(()));
            }
            outbox.enqueue(events);
            // After the answers, before the next batch.
            if let Some(conn) = kept.conn.as_mut() {
                if let Err(e) = db.restart_log(conn).await {
                    tracing::warn!(error = %e, "write-ahead log restart failed");
                }
            }
        }
        Err(e) => {
            tracing::error!(company = company_id, writes = ran.len(), error = %e, "a write batch failed to commit");
            for write in ran {
                write.answer(Err(shared(&e)));
            }
        }
    }
}

/// An error that ended a whole batch, for each of its writes.
fn shared(e: &OpError) -> OpError {
    match e {
        OpError::Internal(reason) => OpError::Internal(reason.clone()),
        other => OpError::Internal(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::Arrival;
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    /// What these tests need of `EventHub` (which starts the writers for real): a writer per
    /// company, each with an outbox whose emitter end is held open. No emitter runs; the
    /// committed events stay in the log.
    struct Hub {
        db: Db,
        companies: Mutex<HashMap<Id, CompanyWriter>>,
        write_stats: Arc<WriteStats>,
    }

    /// A company's writer, its outbox and the emitter's end of it.
    type CompanyWriter = (Writer, Outbox, mpsc::UnboundedReceiver<Arrival>);

    impl Hub {
        fn new(db: Db) -> Hub {
            Hub {
                db,
                companies: Mutex::default(),
                write_stats: Arc::default(),
            }
        }

        fn company(&self, company_id: Id) -> (Writer, Outbox) {
            let mut companies = self.companies.lock().unwrap();
            let (writer, outbox, _) = companies.entry(company_id).or_insert_with(|| {
                let (outbox, emitter_end) = Outbox::new(None);
                let writer = Writer::spawn(
                    self.db.clone(),
                    company_id,
                    outbox.clone(),
                    self.write_stats.clone(),
                );
                (writer, outbox, emitter_end)
            });
            (writer.clone(), outbox.clone())
        }

        fn writer(&self, company_id: Id) -> Writer {
            self.company(company_id).0
        }

        async fn lock(&self, company_id: Id) -> tokio::sync::OwnedMutexGuard<()> {
            self.company(company_id).1.lock().await
        }

        fn waiting_writes(&self, company_id: Id) -> usize {
            self.company(company_id).0.waiting()
        }
    }

    async fn company_db(dir: &tempfile::TempDir) -> Db {
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("w.db").display());
        let db = Db::connect(&url).await.expect("database");
        sqlx::query("INSERT INTO companies (id, name, created_at) VALUES (1, 'Acme', '2026-01-01T00:00:00Z')")
            .execute(&db.pool)
            .await
            .expect("company");
        db
    }

    /// How each test write ends after inserting its lane.
    #[derive(Clone, Copy, PartialEq)]
    enum Ending {
        Commit,
        Fail,
        Panic,
    }

    /// Inserts a lane named `name` with its event, then ends as told.
    fn lane_write<'a>(
        w: &'a mut WriteTx,
        input: &'a (String, Ending),
    ) -> BoxFuture<'a, OpResult<String>> {
        Box::pin(async move {
            let (name, ending) = input;
            sqlx::query(
                "INSERT INTO lanes (company_id, name, color, position, created_at) VALUES ($1, $2, '#000000', 0, $3)",
            )
            .bind(w.company_id)
            .bind(name)
            .bind(store::ts(w.now))
            .execute(w.conn())
            .await?;
            let mut event = w.envelope(EventAction::Create);
            event.from = Some(serde_json::json!(name));
            w.record(Resource::Lane, Audience::All, event)?;
            match ending {
                Ending::Commit => Ok(name.clone()),
                Ending::Fail => Err(OpError::validation(format!("{name} refused"))),
                Ending::Panic => panic!("{name} panicked"),
            }
        })
    }

    /// One write of a lane named `name` that commits, on its own.
    async fn write_lane(hub: &Hub, name: &str) -> OpResult<String> {
        hub.writer(1)
            .submit(7, (name.to_string(), Ending::Commit), lane_write)
            .await
    }

    /// The first column of every row `sql` returns.
    async fn column<T>(db: &Db, sql: &str) -> Vec<T>
    where
        T: for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
    {
        sqlx::query(sql)
            .fetch_all(&db.pool)
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get(0).unwrap())
            .collect()
    }

    async fn lane_names(db: &Db) -> Vec<String> {
        column(db, "SELECT name FROM lanes ORDER BY id").await
    }

    async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::task::yield_now().await;
        }
    }

    /// Submits one write per ending while the writer cannot start, so that all of them queue
    /// up, then lets it go; returns the submissions.
    async fn queue_up(
        hub: &Arc<Hub>,
        endings: &[Ending],
    ) -> Vec<tokio::task::JoinHandle<OpResult<String>>> {
        let lock = hub.lock(1).await;
        let mut submitted = Vec::new();
        for (i, ending) in endings.iter().enumerate() {
            let hub = hub.clone();
            let input = (format!("lane {i}"), *ending);
            submitted.push(tokio::spawn(async move {
                hub.writer(1).submit(7, input, lane_write).await
            }));
        }
        // One write is taken up by the writer (which waits for the lock), the rest queue.
        wait_until("the writes to queue", || {
            hub.waiting_writes(1) == endings.len() - 1
        })
        .await;
        drop(lock);
        submitted
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queued_writes_share_one_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let db = company_db(&dir).await;
        let hub = Arc::new(Hub::new(db.clone()));
        for write in queue_up(&hub, &[Ending::Commit; 6]).await {
            write.await.unwrap().expect("a committed write");
        }
        assert_eq!(hub.write_stats.commits.load(Ordering::Relaxed), 1);
        assert_eq!(hub.write_stats.writes.load(Ordering::Relaxed), 6);
        assert_eq!(store::event_head(&db.pool, 1).await.unwrap(), 6);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_write_in_a_batch_takes_nothing_else_down() {
        let dir = tempfile::tempdir().unwrap();
        let db = company_db(&dir).await;
        let hub = Arc::new(Hub::new(db.clone()));
        let endings = [
            Ending::Commit,
            Ending::Commit,
            Ending::Fail,
            Ending::Commit,
            Ending::Panic,
            Ending::Commit,
            Ending::Fail,
        ];
        let submitted = queue_up(&hub, &endings).await;
        let mut committed = Vec::new();
        for (i, (write, ending)) in submitted.into_iter().zip(endings).enumerate() {
            let result = write.await.expect("the submitting task");
            match ending {
                Ending::Commit => committed.push(result.expect("a committed write")),
                Ending::Fail => {
                    assert!(
                        matches!(result, Err(OpError::Validation(_))),
                        "write {i}: {result:?}"
                    )
                }
                Ending::Panic => {
                    assert!(
                        matches!(result, Err(OpError::Internal(_))),
                        "write {i}: {result:?}"
                    )
                }
            }
        }
        assert_eq!(committed.len(), 4);
        assert_eq!(hub.write_stats.writes.load(Ordering::Relaxed), 4);

        // Exactly the committed writes' lanes, each once.
        let mut lanes = lane_names(&db).await;
        lanes.sort();
        let mut expected = committed.clone();
        expected.sort();
        assert_eq!(lanes, expected);

        // Their events, numbered 1… without a gap, and the company's head at the last.
        let events =
            sqlx::query("SELECT seq, payload FROM events WHERE company_id = 1 ORDER BY seq")
                .fetch_all(&db.pool)
                .await
                .unwrap();
        let seqs: Vec<i64> = events.iter().map(|r| r.try_get("seq").unwrap()).collect();
        assert_eq!(seqs, vec![1, 2, 3, 4]);
        let mut named: Vec<String> = events
            .iter()
            .map(|r| {
                let payload: String = r.try_get("payload").unwrap();
                let envelope: EventEnvelope = serde_json::from_str(&payload).unwrap();
                assert_eq!(envelope.user_id, 7);
                envelope.from.unwrap().as_str().unwrap().to_string()
            })
            .collect();
        named.sort();
        assert_eq!(named, expected);
        assert_eq!(store::event_head(&db.pool, 1).await.unwrap(), 4);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_writer_after_a_checkpoint_starts_the_log_over() {
        let dir = tempfile::tempdir().unwrap();
        let db = company_db(&dir).await;
        let hub = Hub::new(db.clone());
        write_lane(&hub, "before").await.unwrap();
        db.checkpoint().await.unwrap();
        assert!(db.log_restart_due());
        write_lane(&hub, "after").await.unwrap();
        // The writer restarts the log after answering, before its next batch.
        wait_until("the next batch to restart the log", || {
            !db.log_restart_due()
        })
        .await;
        // The log now holds only what was written since: one more write's pages.
        write_lane(&hub, "since").await.unwrap();
        let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        let frames: i64 = row.try_get(1).unwrap();
        assert!((1..20).contains(&frames), "{frames} frames in the log");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_whose_events_cannot_be_logged_commits_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let db = company_db(&dir).await;
        let hub = Hub::new(db.clone());
        write_lane(&hub, "first").await.unwrap();
        // Someone else appends the next event (a second process on the same file): the
        // writer's next event collides with it in the log.
        sqlx::query(
            "INSERT INTO events (company_id, seq, resource, audience, audience_user, payload, created_at)
             VALUES (1, 2, 'lane', 'all', NULL, '{}', '2026-01-01T00:00:00Z')",
        )
        .execute(&db.pool)
        .await
        .unwrap();
        let refused = write_lane(&hub, "second").await;
        assert!(matches!(refused, Err(OpError::Internal(_))), "{refused:?}");
        // The lane went with its event: a change is never committed without its event.
        write_lane(&hub, "third").await.unwrap();
        assert_eq!(lane_names(&db).await, ["first", "third"]);
        // The writer read the head again after the failure and numbered on from it.
        let seqs: Vec<i64> = column(
            &db,
            "SELECT seq FROM events WHERE company_id = 1 ORDER BY seq",
        )
        .await;
        assert_eq!(seqs, [1, 2, 3]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_to_a_missing_company_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        let db = company_db(&dir).await;
        let hub = Hub::new(db.clone());
        let missing = hub
            .writer(99)
            .submit(7, ("lane".to_string(), Ending::Commit), lane_write)
            .await;
        assert!(matches!(missing, Err(OpError::Internal(_))), "{missing:?}");
        assert_eq!(write_lane(&hub, "lane").await.unwrap(), "lane");
    }
}
