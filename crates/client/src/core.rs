//! The board owner: a [`BoardSink`] that applies what the connection delivers to the shared
//! [`Board`], and reports everything that happened as [`CoreEvent`]s (for the CLI, the desktop
//! shell and tests).

use deskbell_protocol::{EventEnvelope, Resource, SyncMessage, User};
use serde::Serialize;
use serde_json::Value;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::mpsc;

use crate::board::{Board, BoardDelta, TicketChange};
use crate::connection::{BoardSink, ConnectionState};

/// What the core reports, in the order it happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum CoreEvent {
    /// A connection state change.
    State { state: ConnectionState },
    /// A data event that was applied (replayed or live), once per seq.
    Event {
        resource: String,
        event: Box<EventEnvelope>,
        #[serde(skip)]
        deltas: Vec<BoardDelta>,
        #[serde(skip)]
        change: Option<Box<TicketChange>>,
    },
    /// A snapshot replaced the board (`sync reset`).
    Snapshot {
        #[serde(skip)]
        deltas: Vec<BoardDelta>,
    },
    /// The replay or the snapshot is complete.
    Synced { sync: SyncMessage },
    /// An event this client does not understand; skipped.
    Unknown { name: String },
    /// The signed-in user changed on the server (a role change).
    User { user: User },
    /// The view changed outside of events (an optimistic move, its confirmation or rollback).
    Local {
        #[serde(skip)]
        deltas: Vec<BoardDelta>,
    },
}

/// The board, shared between the connection task and the callers (optimistic moves, reads).
#[derive(Clone, Default)]
pub struct SharedBoard(Arc<Mutex<Board>>);

impl SharedBoard {
    pub fn new() -> SharedBoard {
        SharedBoard::default()
    }

    pub fn lock(&self) -> MutexGuard<'_, Board> {
        // A panic while holding the lock cannot leave the board half-updated in a way that
        // matters more than losing the app: recover the data.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn snapshot(&self) -> deskbell_protocol::Board {
        self.lock().snapshot()
    }
}

/// Applies events to the board and reports them.
pub struct CoreSink {
    board: SharedBoard,
    loaded: bool,
    events: mpsc::UnboundedSender<CoreEvent>,
}

impl CoreSink {
    pub fn new(board: SharedBoard) -> (CoreSink, mpsc::UnboundedReceiver<CoreEvent>) {
        let (events, rx) = mpsc::unbounded_channel();
        (
            CoreSink {
                board,
                loaded: false,
                events,
            },
            rx,
        )
    }

    /// Another way into the same ordered stream (for changes made outside the connection,
    /// reported under the board lock like the sink's own).
    pub fn reporter(&self) -> mpsc::UnboundedSender<CoreEvent> {
        self.events.clone()
    }

    fn report(&self, event: CoreEvent) {
        // Nobody listening is fine (e.g. `board --json`).
        let _ = self.events.send(event);
    }
}

impl BoardSink for CoreSink {
    fn last_seq(&self) -> Option<i64> {
        self.loaded.then(|| self.board.lock().last_seq())
    }

    fn load_snapshot(&mut self, snapshot: deskbell_protocol::Board) {
        let mut board = self.board.lock();
        let deltas = board.load_snapshot(snapshot);
        self.loaded = true;
        self.report(CoreEvent::Snapshot { deltas });
    }

    fn apply(&mut self, resource: Resource, event: EventEnvelope) {
        // Reported under the lock: whoever sees the board changed finds the event queued.
        let mut board = self.board.lock();
        let applied = board.apply(resource, &event);
        self.report(CoreEvent::Event {
            resource: resource.as_str().to_string(),
            event: Box::new(event),
            deltas: applied.deltas,
            change: applied.ticket.map(Box::new),
        });
        drop(board);
    }

    fn synced(&mut self, sync: SyncMessage) {
        self.report(CoreEvent::Synced { sync });
    }

    fn unknown(&mut self, name: &str, _data: &Value) {
        self.report(CoreEvent::Unknown {
            name: name.to_string(),
        });
    }

    fn user_changed(&mut self, user: &User) {
        self.report(CoreEvent::User { user: user.clone() });
    }

    fn state_changed(&mut self, state: &ConnectionState) {
        self.report(CoreEvent::State {
            state: state.clone(),
        });
    }
}
