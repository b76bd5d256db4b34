//! The live board: the [`BoardSink`] that applies what the connection delivers to the shared
//! [`Board`] and reports it, in order, as [`DeskEvent`]s — the one event type from the
//! supervisor to the CLI and the desktop shell.
//!
//! Rules:
//! - Every report about the board is sent while the board lock is held, so the stream's order is
//!   the board's order (whoever sees the board changed finds the event already queued).
//! - A data event is reported as [`DeskEvent::Event`] (with the ticket's state before and after,
//!   for the alert policy), then, when what the board shows changed, [`DeskEvent::Board`].
//! - Nothing is copied on the way: the event that was decoded is the event that is reported.

use deskbell_protocol::{EventEnvelope, Resource, SyncMessage, User};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::mpsc;

use crate::board::{Board, BoardDelta};
use crate::connection::{BoardSink, ConnectionState};
use crate::desk::DeskEvent;

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

/// Sends board changes into the live board's stream from outside the connection (optimistic
/// moves, REST answers), in the same order as the board: call it with the board lock held.
#[derive(Clone)]
pub struct BoardReporter(mpsc::UnboundedSender<DeskEvent>);

impl BoardReporter {
    /// Reports deltas; none is no event ([`DeskEvent::Board`] is never empty).
    pub fn deltas(&self, deltas: Vec<BoardDelta>) {
        if !deltas.is_empty() {
            // Nobody listening is fine (e.g. `board --json`).
            let _ = self.0.send(DeskEvent::Board { deltas });
        }
    }
}

/// Applies events to the board and reports them.
pub struct LiveBoard {
    board: SharedBoard,
    loaded: bool,
    events: mpsc::UnboundedSender<DeskEvent>,
}

impl LiveBoard {
    pub fn new(board: SharedBoard) -> (LiveBoard, mpsc::UnboundedReceiver<DeskEvent>) {
        let (events, rx) = mpsc::unbounded_channel();
        (
            LiveBoard {
                board,
                loaded: false,
                events,
            },
            rx,
        )
    }

    /// Another way into the same ordered stream.
    pub fn reporter(&self) -> BoardReporter {
        BoardReporter(self.events.clone())
    }

    fn report(&self, event: DeskEvent) {
        // Nobody listening is fine (e.g. `board --json`).
        let _ = self.events.send(event);
    }
}

impl BoardSink for LiveBoard {
    fn last_seq(&self) -> Option<i64> {
        self.loaded.then(|| self.board.lock().last_seq())
    }

    fn load_snapshot(&mut self, snapshot: deskbell_protocol::Board) {
        let mut board = self.board.lock();
        let deltas = board.load_snapshot(snapshot);
        self.loaded = true;
        if !deltas.is_empty() {
            self.report(DeskEvent::Board { deltas });
        }
    }

    fn apply(&mut self, resource: Resource, event: EventEnvelope) {
        let mut board = self.board.lock();
        let applied = board.apply(resource, &event);
        self.report(DeskEvent::Event {
            resource,
            event: Box::new(event),
            change: applied.ticket.map(Box::new),
        });
        if !applied.deltas.is_empty() {
            self.report(DeskEvent::Board {
                deltas: applied.deltas,
            });
        }
        drop(board);
    }

    fn synced(&mut self, sync: SyncMessage) {
        self.report(DeskEvent::Synced { sync });
    }

    fn unknown(&mut self, name: &str) {
        self.report(DeskEvent::Unknown {
            name: name.to_string(),
        });
    }

    fn user_changed(&mut self, user: &User) {
        self.report(DeskEvent::User { user: user.clone() });
    }

    fn state_changed(&mut self, state: &ConnectionState) {
        self.report(DeskEvent::State {
            state: state.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deskbell_protocol::EventAction;

    fn ticket_event(seq: i64, ticket: deskbell_protocol::Ticket) -> EventEnvelope {
        let mut event = EventEnvelope::new(EventAction::Update, seq, 1, 2, ticket.updated_at);
        event.ticket = Some(ticket);
        event
    }

    fn drain(rx: &mut mpsc::UnboundedReceiver<DeskEvent>) -> Vec<DeskEvent> {
        std::iter::from_fn(|| rx.try_recv().ok()).collect()
    }

    #[test]
    fn an_applied_event_is_reported_typed_then_its_deltas() {
        let board = SharedBoard::new();
        let (mut live, mut rx) = LiveBoard::new(board.clone());
        let snapshot = deskbell_protocol::Board {
            lanes: vec![],
            tickets: vec![],
            seq: 1,
        };
        live.load_snapshot(snapshot);
        assert_eq!(live.last_seq(), Some(1));
        drain(&mut rx);
        let ticket = board_ticket();
        live.apply(Resource::Ticket, ticket_event(2, ticket.clone()));
        let events = drain(&mut rx);
        assert_eq!(events.len(), 2, "{events:?}");
        match &events[0] {
            DeskEvent::Event {
                resource,
                event,
                change,
                ..
            } => {
                assert_eq!(*resource, Resource::Ticket);
                assert_eq!(event.seq, 2);
                assert_eq!(event.action, EventAction::Update);
                let change = change.as_ref().expect("a ticket change");
                assert_eq!(change.before, None);
                assert_eq!(change.after.as_ref(), Some(&ticket));
            }
            other => panic!("expected the event first, got {other:?}"),
        }
        assert!(matches!(&events[1], DeskEvent::Board { deltas } if !deltas.is_empty()));
        // The UI sees the resource as its name, and never the change.
        let json = serde_json::to_value(&events[0]).unwrap();
        assert_eq!(json["kind"], "event");
        assert_eq!(json["resource"], "ticket");
        assert!(json.get("change").is_none(), "{json}");
    }

    #[test]
    fn an_event_that_changes_nothing_reports_no_board_delta() {
        let (mut live, mut rx) = LiveBoard::new(SharedBoard::new());
        let snapshot = deskbell_protocol::Board {
            lanes: vec![],
            tickets: vec![board_ticket()],
            seq: 5,
        };
        live.load_snapshot(snapshot);
        drain(&mut rx);
        // The same version again: a replay overlap.
        live.apply(Resource::Ticket, ticket_event(6, board_ticket()));
        let events = drain(&mut rx);
        assert_eq!(events.len(), 1, "{events:?}");
        assert!(matches!(&events[0], DeskEvent::Event { change: None, .. }));
    }

    fn board_ticket() -> deskbell_protocol::Ticket {
        use deskbell_protocol::{Priority, Requester, Ticket, TicketStatus};
        let at = chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap();
        Ticket {
            id: 7,
            company_id: 1,
            title: "Printer on fire".into(),
            requester: Requester {
                name: "Ann".into(),
                contact: None,
            },
            status: TicketStatus::Open,
            priority: Priority::Normal,
            assignee_id: None,
            creator_id: 1,
            lane_id: None,
            last_message: None,
            comment_count: 0,
            created_at: at,
            updated_at: at,
            version: 1,
            urgent_since: None,
            urgent_by: None,
            acknowledged_by: None,
            acknowledged_at: None,
        }
    }
}
