//! The board reducer: a REST snapshot plus realtime events, applied idempotently, with
//! optimistic lane moves, producing typed deltas of what is shown.
//!
//! Pure and synchronous: no I/O, no clocks. The connection layer feeds it
//! [`Board::load_snapshot`] (on `sync reset`) and [`Board::apply`] (every data event, replayed or
//! live); in-process consumers take the [`BoardDelta`]s, while the desktop UI asks for a
//! filtered, windowed view of it ([`crate::board_view`]).
//!
//! # Idempotency
//! - A ticket's state is replaced only by a strictly newer `version` (events carry full state).
//!   Comment and attachment events carry the ticket too: its part is applied the same way.
//! - A ticket `delete` (deleted, or no longer visible) removes the card and leaves a tombstone
//!   holding the delete's `seq`: an older event replayed afterwards cannot bring the card back,
//!   while a later one (reassigned back to me, seq after the delete) can.
//! - A `delete` older than the card's current state (seq before the event that gave it) is stale
//!   and ignored; a `delete` of an unknown ticket is a no-op.
//! - Lanes carry no version: they are ordered by the `seq` of the event that last changed them,
//!   with the same tombstones.
//! - Events at or below the snapshot's `seq` cannot introduce an entity the snapshot lacks.
//! - `last_seq` is the max seq seen; nothing is counted, so replays never double-count.
//!
//! # Optimistic moves
//! The server state and the pending moves are kept apart; what the UI sees (the *view*) is the
//! server state with each ticket's latest pending move applied on top. Events keep updating the
//! server state during a move (nothing is lost); a rollback simply drops the overlay, so a newer
//! server version that arrived meanwhile wins.
//!
//! A card never points to a lane the board does not have: in the view, a ticket whose lane is
//! unknown (deleted) is shown in "No lane" until its own `move` event arrives.
//!
//! # Gaps
//! The reducer trusts that it is given every event visible to its user. [`gaps`] checks it: an
//! event whose stream's previous event (`prevSeq`) is above both the snapshot's `seq` and the
//! highest `seq` received in that stream reveals a missed event. The connection does not apply
//! that event; it reconnects replaying from just before the missed one (or reloads the snapshot),
//! so nothing missed is ever skipped. Holes in `seq` alone are normal (other users' events).

use std::collections::{btree_map, BTreeMap, BTreeSet, HashMap};

use crate::error::{ClientErrorCode, ErrorCode};
use deskbell_protocol::{EventAction, EventEnvelope, Id, Lane, Resource, Ticket};
use serde::{Deserialize, Serialize};

/// A change to what the board shows, for in-process consumers (tests, the CLI); the desktop UI
/// asks for a view instead ([`crate::board_view`]). Never "reload everything" except
/// [`BoardDelta::Reset`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum BoardDelta {
    /// Replace everything (after a snapshot load). Lanes by position.
    Reset {
        lanes: Vec<Lane>,
        tickets: Vec<Ticket>,
        #[ts(type = "number")]
        seq: i64,
    },
    LaneUpserted(Lane),
    LaneRemoved {
        #[ts(type = "number")]
        id: Id,
    },
    TicketUpserted(Ticket),
    TicketRemoved {
        #[ts(type = "number")]
        id: Id,
    },
}

/// Identifies one optimistic move until it is confirmed or rolled back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MoveId(pub u64);

impl std::fmt::Display for MoveId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "move-{}", self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BoardError {
    #[error("ticket {id} is not on the board")]
    UnknownTicket { id: Id },
    #[error("lane {id} is not on the board")]
    UnknownLane { id: Id },
    #[error("no pending move {id}")]
    UnknownMove { id: MoveId },
    #[error("{id} is for ticket {expected}, not ticket {got}")]
    MoveTicketMismatch { id: MoveId, expected: Id, got: Id },
}

impl BoardError {
    /// A stable, machine-readable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            BoardError::UnknownTicket { .. } => ClientErrorCode::UnknownTicket.into(),
            BoardError::UnknownLane { .. } => ClientErrorCode::UnknownLane.into(),
            BoardError::UnknownMove { .. } => ClientErrorCode::UnknownMove.into(),
            BoardError::MoveTicketMismatch { .. } => ClientErrorCode::MoveTicketMismatch.into(),
        }
    }
}

/// How an event changed a ticket's server state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketChange {
    /// The ticket as the board had it before the event (`None`: it was not on the board).
    pub before: Option<Ticket>,
    /// The ticket after the event (`None`: removed).
    pub after: Option<Ticket>,
}

/// What [`Board::apply`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Whether the board's state changed (false for duplicates, stale replays, no-ops).
    pub changed: bool,
    /// What the UI must change; may be empty even when `changed` (e.g. under a pending move).
    pub deltas: Vec<BoardDelta>,
    /// Set when the event changed a ticket: its state before and after (for the alert policy).
    pub ticket: Option<TicketChange>,
}

impl Applied {
    fn unchanged() -> Self {
        Applied::default()
    }
}

#[derive(Debug, Clone)]
struct TicketEntry {
    ticket: Ticket,
    /// Seq of the event (or snapshot) that gave this state.
    seq: i64,
}

#[derive(Debug, Clone)]
struct LaneEntry {
    lane: Lane,
    seq: i64,
}

#[derive(Debug, Clone, Copy)]
struct Tombstone {
    seq: i64,
    /// The version the ticket had when it was removed, if known.
    version: Option<i64>,
}

#[derive(Debug, Clone, Copy)]
struct PendingMove {
    ticket_id: Id,
    lane_id: Option<Id>,
}

/// The client's board: server state, tombstones and pending moves.
#[derive(Debug, Clone, Default)]
pub struct Board {
    lanes: BTreeMap<Id, LaneEntry>,
    lane_tombstones: HashMap<Id, i64>,
    tickets: BTreeMap<Id, TicketEntry>,
    ticket_tombstones: HashMap<Id, Tombstone>,
    /// Seq of the last snapshot: events at or below it cannot add what it lacks.
    floor_seq: i64,
    last_seq: i64,
    pending: BTreeMap<MoveId, PendingMove>,
    next_move: u64,
}

impl Board {
    /// An empty board (nothing loaded yet).
    pub fn new() -> Self {
        Board::default()
    }

    pub fn from_snapshot(snapshot: deskbell_protocol::Board) -> Self {
        let mut board = Board::new();
        board.load_snapshot(snapshot);
        board
    }

    /// Replaces the state with a REST snapshot (`sync reset`). Pending moves are kept (their
    /// requests are still in flight) and still shown over the new state.
    ///
    /// Events the caller buffered while fetching the snapshot must be applied after this call;
    /// those at or below the snapshot's seq are then recognised as already included.
    pub fn load_snapshot(&mut self, snapshot: deskbell_protocol::Board) -> Vec<BoardDelta> {
        let seq = snapshot.seq;
        self.lanes = snapshot
            .lanes
            .into_iter()
            .map(|lane| (lane.id, LaneEntry { lane, seq }))
            .collect();
        self.tickets = snapshot
            .tickets
            .into_iter()
            .map(|ticket| (ticket.id, TicketEntry { ticket, seq }))
            .collect();
        self.lane_tombstones.clear();
        self.ticket_tombstones.clear();
        self.floor_seq = seq;
        self.last_seq = seq;
        let view = self.snapshot();
        vec![BoardDelta::Reset {
            lanes: view.lanes,
            tickets: view.tickets,
            seq,
        }]
    }

    /// The highest event seq seen (or the snapshot's): what to send as `lastSeq` on reconnect.
    pub fn last_seq(&self) -> i64 {
        self.last_seq
    }

    /// The board as shown: lanes by position, tickets by id (pending moves applied), `last_seq`.
    pub fn snapshot(&self) -> deskbell_protocol::Board {
        deskbell_protocol::Board {
            lanes: self.lanes(),
            tickets: self
                .tickets
                .keys()
                .filter_map(|&id| self.ticket(id))
                .collect(),
            seq: self.last_seq,
        }
    }

    /// Lanes by position (then id).
    pub fn lanes(&self) -> Vec<Lane> {
        let mut lanes: Vec<Lane> = self.lanes.values().map(|e| e.lane.clone()).collect();
        lanes.sort_by_key(|l| (l.position, l.id));
        lanes
    }

    pub fn lane(&self, id: Id) -> Option<&Lane> {
        self.lanes.get(&id).map(|e| &e.lane)
    }

    /// A ticket as shown (its pending move applied; never in a lane the board lacks).
    pub fn ticket(&self, id: Id) -> Option<Ticket> {
        let entry = self.tickets.get(&id)?;
        let mut ticket = entry.ticket.clone();
        ticket.lane_id = self.shown_lane(id, ticket.lane_id);
        Some(ticket)
    }

    /// The lane ticket `id` is shown in, given its server lane: its latest pending move's
    /// target if any, and "No lane" for a lane the board lacks.
    fn shown_lane(&self, id: Id, server_lane: Option<Id>) -> Option<Id> {
        self.pending
            .values()
            .rev()
            .find(|m| m.ticket_id == id)
            .map_or(server_lane, |m| m.lane_id)
            .filter(|l| self.lanes.contains_key(l))
    }

    /// A ticket as the server last told us (no pending move applied).
    pub fn server_ticket(&self, id: Id) -> Option<&Ticket> {
        self.tickets.get(&id).map(|e| &e.ticket)
    }

    /// Every ticket as the server last told us (no pending move applied), by id.
    pub fn server_tickets(&self) -> impl Iterator<Item = &Ticket> {
        self.tickets.values().map(|e| &e.ticket)
    }

    /// Every ticket as the server last told us, by id, with the lane it is shown in (as
    /// [`Board::ticket`] has it). Nothing is copied: the view ([`crate::board_view`]) reads all
    /// 10 000 and clones only the few it returns.
    pub fn shown_tickets(&self) -> impl Iterator<Item = (&Ticket, Option<Id>)> + '_ {
        // The latest pending move of each ticket, looked up once (not per ticket, as
        // `shown_lane` would): moves are in order, so a later one overwrites an earlier one.
        let moved: HashMap<Id, Option<Id>> = self
            .pending
            .values()
            .map(|m| (m.ticket_id, m.lane_id))
            .collect();
        self.tickets.values().map(move |e| {
            let lane = moved
                .get(&e.ticket.id)
                .copied()
                .unwrap_or(e.ticket.lane_id)
                .filter(|l| self.lanes.contains_key(l));
            (&e.ticket, lane)
        })
    }

    pub fn ticket_count(&self) -> usize {
        self.tickets.len()
    }

    /// Moves not yet confirmed or rolled back: `(id, ticket, target lane)`.
    pub fn pending_moves(&self) -> Vec<(MoveId, Id, Option<Id>)> {
        self.pending
            .iter()
            .map(|(&id, m)| (id, m.ticket_id, m.lane_id))
            .collect()
    }

    /// Applies one data event of `resource` (`sync` messages are not data events: no-op).
    pub fn apply(&mut self, resource: Resource, event: &EventEnvelope) -> Applied {
        self.last_seq = self.last_seq.max(event.seq);
        match resource {
            Resource::Sync | Resource::Session => Applied::unchanged(),
            Resource::Lane => self.apply_lane(event),
            Resource::Ticket if event.action == EventAction::Delete => match event.ticket_ref() {
                Some(id) => self.remove_ticket(id, event.seq),
                None => {
                    tracing::warn!(seq = event.seq, "ticket delete without a ticket id");
                    Applied::unchanged()
                }
            },
            Resource::Ticket | Resource::Comment | Resource::Attachment => match &event.ticket {
                Some(ticket) => self.upsert_ticket(ticket, event.seq),
                // An attachment changes nothing on its ticket: its events carry none.
                None if resource == Resource::Attachment => Applied::unchanged(),
                None => {
                    tracing::warn!(
                        seq = event.seq,
                        resource = resource.as_str(),
                        action = event.action.as_str(),
                        "event without its ticket state, ignored"
                    );
                    Applied::unchanged()
                }
            },
        }
    }

    /// Records a ticket state learnt outside the event stream (a REST answer, a 409's
    /// `current`): applied only to a ticket on the board, and only if newer.
    pub fn observe_ticket(&mut self, ticket: &Ticket) -> Vec<BoardDelta> {
        let id = ticket.id;
        self.diff(&[id], &[], |board| match board.tickets.get_mut(&id) {
            Some(entry) if ticket.version > entry.ticket.version => {
                entry.ticket = ticket.clone();
            }
            _ => {}
        })
    }

    /// Shows `ticket_id` in `lane_id` (`None`: "No lane") at once, until confirmed or rolled back.
    pub fn begin_move(
        &mut self,
        ticket_id: Id,
        lane_id: Option<Id>,
    ) -> Result<(MoveId, Vec<BoardDelta>), BoardError> {
        if !self.tickets.contains_key(&ticket_id) {
            return Err(BoardError::UnknownTicket { id: ticket_id });
        }
        if let Some(lane) = lane_id {
            if !self.lanes.contains_key(&lane) {
                return Err(BoardError::UnknownLane { id: lane });
            }
        }
        self.next_move += 1;
        let id = MoveId(self.next_move);
        let deltas = self.diff(&[ticket_id], &[], |board| {
            board.pending.insert(id, PendingMove { ticket_id, lane_id });
        });
        Ok((id, deltas))
    }

    /// The server accepted the move and answered with the ticket: applied by version (a newer
    /// event that arrived meanwhile wins; a ticket removed meanwhile stays removed).
    pub fn confirm_move(
        &mut self,
        id: MoveId,
        server_ticket: &Ticket,
    ) -> Result<Vec<BoardDelta>, BoardError> {
        let pending = *self
            .pending
            .get(&id)
            .ok_or(BoardError::UnknownMove { id })?;
        if pending.ticket_id != server_ticket.id {
            return Err(BoardError::MoveTicketMismatch {
                id,
                expected: pending.ticket_id,
                got: server_ticket.id,
            });
        }
        Ok(self.diff(&[pending.ticket_id], &[], |board| {
            board.pending.remove(&id);
            if let Some(entry) = board.tickets.get_mut(&pending.ticket_id) {
                if server_ticket.version > entry.ticket.version {
                    entry.ticket = server_ticket.clone();
                }
            }
        }))
    }

    /// The move failed (error or 409): the card goes back to where the server has it, which is
    /// where it was unless a newer server version arrived meanwhile.
    pub fn rollback_move(&mut self, id: MoveId) -> Result<Vec<BoardDelta>, BoardError> {
        let pending = *self
            .pending
            .get(&id)
            .ok_or(BoardError::UnknownMove { id })?;
        Ok(self.diff(&[pending.ticket_id], &[], |board| {
            board.pending.remove(&id);
        }))
    }

    // ------------------------------------------------------------------ internals

    // `upsert_ticket` and `remove_ticket` change one ticket and no lane: what `diff` would
    // report is worked out from the ticket itself, without the views' copies. They are every
    // ticket event's path, so each copy counts: one for the stored state, one for the delta the
    // UI gets, one for the alert policy's `after`; the state before is moved out, not copied.

    fn upsert_ticket(&mut self, ticket: &Ticket, seq: i64) -> Applied {
        let id = ticket.id;
        // One lookup in the map, whether the ticket is on the board or not.
        let before = match self.tickets.entry(id) {
            btree_map::Entry::Occupied(mut entry) => {
                let entry = entry.get_mut();
                if ticket.version <= entry.ticket.version {
                    return Applied::unchanged();
                }
                entry.seq = seq;
                Some(std::mem::replace(&mut entry.ticket, ticket.clone()))
            }
            btree_map::Entry::Vacant(entry) => {
                if seq <= self.floor_seq {
                    return Applied::unchanged();
                }
                if let Some(t) = self.ticket_tombstones.get(&id) {
                    if seq <= t.seq || t.version.is_some_and(|v| ticket.version <= v) {
                        return Applied::unchanged();
                    }
                }
                // Only a ticket not on the board can have a tombstone.
                self.ticket_tombstones.remove(&id);
                entry.insert(TicketEntry {
                    ticket: ticket.clone(),
                    seq,
                });
                None
            }
        };
        // The card as shown always changes: it is new, or its version is newer.
        let mut shown = ticket.clone();
        shown.lane_id = self.shown_lane(id, ticket.lane_id);
        let deltas = vec![BoardDelta::TicketUpserted(shown)];
        Applied {
            changed: true,
            deltas,
            ticket: Some(TicketChange {
                before,
                after: Some(ticket.clone()),
            }),
        }
    }

    fn remove_ticket(&mut self, id: Id, seq: i64) -> Applied {
        let before = match self.tickets.entry(id) {
            btree_map::Entry::Vacant(_) => {
                // Unknown: nothing to remove, but remember it so an older event replayed later
                // cannot add it.
                if seq > self.floor_seq {
                    let t = self
                        .ticket_tombstones
                        .entry(id)
                        .or_insert(Tombstone { seq, version: None });
                    t.seq = t.seq.max(seq);
                }
                return Applied::unchanged();
            }
            // Older than the state we have.
            btree_map::Entry::Occupied(entry) if seq <= entry.get().seq => {
                return Applied::unchanged()
            }
            btree_map::Entry::Occupied(entry) => entry.remove().ticket,
        };
        self.ticket_tombstones.insert(
            id,
            Tombstone {
                seq,
                version: Some(before.version),
            },
        );
        Applied {
            changed: true,
            // It was shown (every ticket on the board is) and is no longer.
            deltas: vec![BoardDelta::TicketRemoved { id }],
            ticket: Some(TicketChange {
                before: Some(before),
                after: None,
            }),
        }
    }

    fn apply_lane(&mut self, event: &EventEnvelope) -> Applied {
        let Some(lane) = &event.lane else {
            tracing::warn!(seq = event.seq, "lane event without its lane, ignored");
            return Applied::unchanged();
        };
        let (id, seq) = (lane.id, event.seq);
        match self.lanes.get(&id) {
            Some(entry) if seq <= entry.seq => return Applied::unchanged(),
            Some(_) => {}
            None => {
                if seq <= self.floor_seq || self.lane_tombstones.get(&id).is_some_and(|&t| seq <= t)
                {
                    return Applied::unchanged();
                }
            }
        }
        // Cards shown in this lane (or pointing to it while it was unknown) may change place.
        let affected: Vec<Id> = self
            .tickets
            .values()
            .map(|e| e.ticket.id)
            .filter(|&t| {
                self.ticket(t).is_some_and(|v| v.lane_id == Some(id))
                    || self.tickets[&t].ticket.lane_id == Some(id)
                    || self
                        .pending
                        .values()
                        .any(|m| m.ticket_id == t && m.lane_id == Some(id))
            })
            .collect();
        let changed;
        let deltas = if event.action == EventAction::Delete {
            if !self.lanes.contains_key(&id) {
                let t = self.lane_tombstones.entry(id).or_insert(seq);
                *t = (*t).max(seq);
                return Applied::unchanged();
            }
            changed = true;
            self.diff(&affected, &[id], |board| {
                board.lanes.remove(&id);
                board.lane_tombstones.insert(id, seq);
            })
        } else {
            changed = self.lanes.get(&id).is_none_or(|e| e.lane != *lane);
            self.diff(&affected, &[id], |board| {
                board.lane_tombstones.remove(&id);
                board.lanes.insert(
                    id,
                    LaneEntry {
                        lane: lane.clone(),
                        seq,
                    },
                );
            })
        };
        Applied {
            changed: changed || !deltas.is_empty(),
            deltas,
            ticket: None,
        }
    }

    /// Runs `change` and returns the deltas between the views of the given tickets and lanes
    /// before and after it: lane upserts, then tickets, then lane removals.
    fn diff(
        &mut self,
        tickets: &[Id],
        lanes: &[Id],
        change: impl FnOnce(&mut Board),
    ) -> Vec<BoardDelta> {
        let tickets: BTreeSet<Id> = tickets.iter().copied().collect();
        let lanes: BTreeSet<Id> = lanes.iter().copied().collect();
        let before_t: Vec<Option<Ticket>> = tickets.iter().map(|&t| self.ticket(t)).collect();
        let before_l: Vec<Option<Lane>> = lanes.iter().map(|&l| self.lane(l).cloned()).collect();
        change(self);
        let mut upserted = Vec::new();
        let mut removed = Vec::new();
        for (&id, before) in lanes.iter().zip(before_l) {
            match (before, self.lane(id)) {
                (Some(b), Some(a)) if b == *a => {}
                (_, Some(a)) => upserted.push(BoardDelta::LaneUpserted(a.clone())),
                (Some(_), None) => removed.push(BoardDelta::LaneRemoved { id }),
                (None, None) => {}
            }
        }
        let mut deltas = upserted;
        for (&id, before) in tickets.iter().zip(before_t) {
            match (before, self.ticket(id)) {
                (Some(b), Some(a)) if b == a => {}
                (_, Some(a)) => deltas.push(BoardDelta::TicketUpserted(a)),
                (Some(_), None) => deltas.push(BoardDelta::TicketRemoved { id }),
                (None, None) => {}
            }
        }
        deltas.extend(removed);
        deltas
    }
}

pub mod gaps;

#[cfg(test)]
mod tests;
