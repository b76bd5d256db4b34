//! Committed-to-be and committed events, and the queue from a company's writer to its emitter.
//!
//! The writer (`writes`) records `PendingEvent`s in its transaction and, once they are
//! committed, hands them over through the company's `Outbox`: to this node's emitter (see
//! `events`) and, through `Publish`, to the other nodes (see `cluster`). Everything here is
//! data and a channel; the writer and the emitter both depend on this module, and it on
//! neither of them, so neither depends on the other.
//!
//! Dependencies: `visibility` (an event's `Audience`), the protocol.

use deskbell_protocol::{EventEnvelope, Id, Resource, SessionEndReason};
use serde_json::value::RawValue;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, OwnedMutexGuard};

use crate::visibility::Audience;

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
    /// Whether a socket of `user_id` in `session` (a refresh-token family) ends with this.
    pub fn covers(&self, user_id: Id, session: &str) -> bool {
        user_id == self.user_id && self.session.as_deref().is_none_or(|s| s == session)
    }
}

/// A committed event as the emitter hands it out, wherever it came from: this node's writer,
/// another node (see `cluster`), or the log itself.
#[derive(Debug, Clone)]
pub struct LogEvent {
    pub company_id: Id,
    pub seq: i64,
    pub resource: Resource,
    pub audience: Audience,
    /// As stored in the log: the envelope, or for a session end the `SessionEnd`.
    pub payload: Box<RawValue>,
    pub ends: Option<SessionEnd>,
}

impl LogEvent {
    pub(crate) fn from_pending(event: PendingEvent) -> LogEvent {
        LogEvent {
            company_id: event.envelope.company_id,
            seq: event.envelope.seq,
            resource: event.resource,
            audience: event.audience,
            payload: event.payload,
            ends: event.ends,
        }
    }

    /// An event as the log stores it; `None` (logged) for a row this server cannot read.
    pub fn from_stored(
        company_id: Id,
        seq: i64,
        resource: &str,
        audience: &str,
        audience_user: Option<Id>,
        payload: String,
    ) -> Option<LogEvent> {
        let decoded = (|| {
            let resource = Resource::parse(resource).ok_or("unknown resource")?;
            let audience = Audience::from_db(audience, audience_user).ok_or("unknown audience")?;
            let payload = RawValue::from_string(payload).map_err(|_| "payload is not JSON")?;
            let ends = if resource == Resource::Session {
                Some(serde_json::from_str(payload.get()).map_err(|_| "bad session end")?)
            } else {
                None
            };
            Ok::<_, &str>(LogEvent {
                company_id,
                seq,
                resource,
                audience,
                payload,
                ends,
            })
        })();
        decoded
            .map_err(|problem| {
                tracing::error!(
                    company = company_id,
                    seq,
                    problem,
                    "unreadable logged event skipped"
                )
            })
            .ok()
    }
}

/// A run of a company's committed events, consecutive in `seq`.
pub type EventRun = Arc<Vec<LogEvent>>;

/// What a company's emitter is told.
pub(crate) enum Arrival {
    /// Committed events, from this node's writer or from another node.
    Events(EventRun),
    /// The company's log reaches at least this `seq` (another node wrote it).
    Head(i64),
    /// Read the company's head from the database and catch up to it.
    CatchUp,
}

/// Where other nodes learn of this node's commits (see `cluster`).
pub trait Publish: Send + Sync {
    fn publish(&self, run: &EventRun);
}

/// What a company's writer needs of emission: the write lock and the emitter's queue.
#[derive(Clone)]
pub(crate) struct Outbox {
    pub(crate) write_lock: Arc<tokio::sync::Mutex<()>>,
    pub(crate) arrivals: mpsc::UnboundedSender<Arrival>,
    /// The highest `seq` this node knows to be committed.
    pub(crate) known: Arc<AtomicI64>,
    pub(crate) publisher: Option<Arc<dyn Publish>>,
}

impl Outbox {
    /// A company's outbox, and the receiving end its emitter reads.
    pub(crate) fn new(
        publisher: Option<Arc<dyn Publish>>,
    ) -> (Outbox, mpsc::UnboundedReceiver<Arrival>) {
        let (arrivals, queue) = mpsc::unbounded_channel();
        let outbox = Outbox {
            write_lock: Arc::default(),
            arrivals,
            known: Arc::default(),
            publisher,
        };
        (outbox, queue)
    }

    pub(crate) async fn lock(&self) -> OwnedMutexGuard<()> {
        self.write_lock.clone().lock_owned().await
    }

    /// Hands committed events to the emitter and to the other nodes.
    pub(crate) fn enqueue(&self, events: Vec<PendingEvent>) {
        let run: EventRun = Arc::new(events.into_iter().map(LogEvent::from_pending).collect());
        let Some(last) = run.last() else { return };
        self.known.fetch_max(last.seq, Ordering::AcqRel);
        if let Some(publisher) = &self.publisher {
            publisher.publish(&run);
        }
        self.send(Arrival::Events(run));
    }

    pub(crate) fn send(&self, arrival: Arrival) {
        if self.arrivals.send(arrival).is_err() {
            tracing::error!("event emitter is gone");
        }
    }
}
