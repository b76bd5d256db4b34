//! Property-style test of the board reducer: a random history of server changes, delivered
//! (a) once, in order; (b) with random duplicates and reorderings of already-delivered events;
//! (c) from a mid-history snapshot followed by a replay that overlaps it — always ends on the
//! same board, which is the server's view of it.

use std::collections::BTreeMap;

use deskbell_client::board::{Board, BoardDelta};
use deskbell_protocol::{
    Board as Snapshot, Comment, EventAction, EventEnvelope, Id, Lane, Priority, Requester,
    Resource, Ticket, TicketStatus,
};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

#[derive(Clone)]
struct ModelTicket {
    ticket: Ticket,
    visible: bool,
}

/// The server, seen by one agent: every change bumps seq; events only for what the agent sees.
struct Server {
    seq: i64,
    next_id: Id,
    lanes: BTreeMap<Id, Lane>,
    tickets: BTreeMap<Id, ModelTicket>,
    log: Vec<(Resource, EventEnvelope)>,
}

fn ts() -> deskbell_protocol::Timestamp {
    "2026-11-22T10:00:00Z".parse().unwrap()
}

impl Server {
    fn new() -> Self {
        Server {
            seq: 0,
            next_id: 1,
            lanes: BTreeMap::new(),
            tickets: BTreeMap::new(),
            log: Vec::new(),
        }
    }

    fn view(&self) -> Snapshot {
        let mut lanes: Vec<Lane> = self.lanes.values().cloned().collect();
        lanes.sort_by_key(|l| (l.position, l.id));
        Snapshot {
            lanes,
            tickets: self
                .tickets
                .values()
                .filter(|t| t.visible)
                .map(|t| t.ticket.clone())
                .collect(),
            seq: self.seq,
        }
    }

    fn id(&mut self) -> Id {
        self.next_id += 1;
        self.next_id
    }

    fn envelope(&mut self, action: EventAction) -> EventEnvelope {
        self.seq += 1;
        EventEnvelope::new(action, self.seq, 1, 99, ts())
    }

    /// A change nobody on this board is told about (another audience's event).
    fn invisible_event(&mut self) {
        self.seq += 1;
    }

    fn emit_ticket(&mut self, resource: Resource, action: EventAction, id: Id, comment: bool) {
        let t = self.tickets[&id].clone();
        if !t.visible {
            self.invisible_event();
            return;
        }
        let mut e = self.envelope(action);
        e.ticket = Some(t.ticket.clone());
        if comment {
            e.comment = Some(Comment {
                id: self.seq * 1000,
                ticket_id: id,
                author_id: 99,
                body: "c".into(),
                created_at: ts(),
                from_requester: false,
            });
        }
        self.log.push((resource, e));
    }

    fn step(&mut self, rng: &mut StdRng) {
        let ticket_ids: Vec<Id> = self.tickets.keys().copied().collect();
        let lane_ids: Vec<Id> = self.lanes.keys().copied().collect();
        let pick_lane = |rng: &mut StdRng| -> Option<Id> {
            if lane_ids.is_empty() || rng.gen_bool(0.3) {
                None
            } else {
                Some(*lane_ids.choose(rng).unwrap())
            }
        };
        match rng.gen_range(0..100) {
            0..=14 => {
                let id = self.id();
                let visible = rng.gen_bool(0.8);
                let ticket = Ticket {
                    id,
                    company_id: 1,
                    title: format!("T{id}"),
                    requester: Requester {
                        name: "R".into(),
                        contact: None,
                    },
                    status: TicketStatus::Open,
                    priority: Priority::Normal,
                    assignee_id: None,
                    creator_id: 99,
                    lane_id: pick_lane(rng),
                    last_message: None,
                    comment_count: 0,
                    created_at: ts(),
                    updated_at: ts(),
                    version: 1,
                    urgent_since: None,
                    urgent_by: None,
                    acknowledged_by: None,
                    acknowledged_at: None,
                };
                self.tickets.insert(id, ModelTicket { ticket, visible });
                self.emit_ticket(Resource::Ticket, EventAction::Create, id, false);
            }
            15..=54 if !ticket_ids.is_empty() => {
                let id = *ticket_ids.choose(rng).unwrap();
                let lane = pick_lane(rng);
                let t = &mut self.tickets.get_mut(&id).unwrap().ticket;
                t.version += 1;
                let action = match rng.gen_range(0..4) {
                    0 => {
                        t.lane_id = lane;
                        EventAction::Move
                    }
                    1 => {
                        t.priority = *[Priority::Low, Priority::High, Priority::Urgent]
                            .choose(rng)
                            .unwrap();
                        EventAction::PriorityChange
                    }
                    2 => {
                        t.status = TicketStatus::Pending;
                        EventAction::StatusChange
                    }
                    _ => {
                        t.title.push('!');
                        EventAction::Update
                    }
                };
                self.emit_ticket(Resource::Ticket, action, id, false);
            }
            55..=64 if !ticket_ids.is_empty() => {
                let id = *ticket_ids.choose(rng).unwrap();
                let t = &mut self.tickets.get_mut(&id).unwrap().ticket;
                t.version += 1;
                t.comment_count += 1;
                t.last_message = Some(format!("m{}", t.version));
                self.emit_ticket(Resource::Comment, EventAction::Create, id, true);
            }
            65..=74 if !ticket_ids.is_empty() => {
                // Reassigned away from / back to this agent.
                let id = *ticket_ids.choose(rng).unwrap();
                let m = self.tickets.get_mut(&id).unwrap();
                m.ticket.version += 1;
                m.ticket.assignee_id = Some(rng.gen_range(1..5));
                let was = m.visible;
                m.visible = !was;
                if was {
                    self.invisible_event(); // the new assignee's `assign`
                    let mut e = self.envelope(EventAction::Delete);
                    e.ticket_id = Some(id);
                    self.log.push((Resource::Ticket, e));
                } else {
                    self.emit_ticket(Resource::Ticket, EventAction::Assign, id, false);
                }
            }
            75..=79 if !ticket_ids.is_empty() => {
                let id = *ticket_ids.choose(rng).unwrap();
                let m = self.tickets.remove(&id).unwrap();
                if m.visible {
                    let mut e = self.envelope(EventAction::Delete);
                    e.ticket_id = Some(id);
                    self.log.push((Resource::Ticket, e));
                } else {
                    self.invisible_event();
                }
            }
            80..=87 => {
                let id = self.id();
                let lane = Lane {
                    id,
                    company_id: 1,
                    name: format!("L{id}"),
                    color: "#000000".into(),
                    position: rng.gen_range(0..10),
                };
                self.lanes.insert(id, lane.clone());
                let mut e = self.envelope(EventAction::Create);
                e.lane = Some(lane);
                self.log.push((Resource::Lane, e));
            }
            88..=93 if !lane_ids.is_empty() => {
                let id = *lane_ids.choose(rng).unwrap();
                let lane = self.lanes.get_mut(&id).unwrap();
                lane.position = rng.gen_range(0..10);
                lane.name.push('*');
                let lane = lane.clone();
                let mut e = self.envelope(EventAction::Update);
                e.lane = Some(lane);
                self.log.push((Resource::Lane, e));
            }
            94..=99 if !lane_ids.is_empty() => {
                let id = *lane_ids.choose(rng).unwrap();
                let in_lane: Vec<Id> = self
                    .tickets
                    .values()
                    .filter(|t| t.ticket.lane_id == Some(id))
                    .map(|t| t.ticket.id)
                    .collect();
                for t in in_lane {
                    let m = &mut self.tickets.get_mut(&t).unwrap().ticket;
                    m.lane_id = None;
                    m.version += 1;
                    self.emit_ticket(Resource::Ticket, EventAction::Move, t, false);
                }
                let lane = self.lanes.remove(&id).unwrap();
                let mut e = self.envelope(EventAction::Delete);
                e.lane = Some(lane);
                self.log.push((Resource::Lane, e));
            }
            _ => self.invisible_event(),
        }
    }
}

/// Applies `delta`s to a plain UI-side model, to check the deltas alone rebuild the board.
fn apply_deltas(ui: &mut (BTreeMap<Id, Lane>, BTreeMap<Id, Ticket>), deltas: &[BoardDelta]) {
    for d in deltas {
        match d {
            BoardDelta::Reset { lanes, tickets, .. } => {
                ui.0 = lanes.iter().map(|l| (l.id, l.clone())).collect();
                ui.1 = tickets.iter().map(|t| (t.id, t.clone())).collect();
            }
            BoardDelta::LaneUpserted(l) => {
                ui.0.insert(l.id, l.clone());
            }
            BoardDelta::LaneRemoved { id } => {
                ui.0.remove(id);
            }
            BoardDelta::TicketUpserted(t) => {
                ui.1.insert(t.id, t.clone());
            }
            BoardDelta::TicketRemoved { id } => {
                ui.1.remove(id);
            }
        }
    }
}

fn check_ui(ui: &(BTreeMap<Id, Lane>, BTreeMap<Id, Ticket>), board: &Board) {
    let snap = board.snapshot();
    let mut lanes: Vec<Lane> = ui.0.values().cloned().collect();
    lanes.sort_by_key(|l| (l.position, l.id));
    assert_eq!(lanes, snap.lanes, "lanes rebuilt from deltas");
    assert_eq!(
        ui.1.values().cloned().collect::<Vec<_>>(),
        snap.tickets,
        "tickets rebuilt from deltas"
    );
}

fn run(seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut server = Server::new();
    let start = server.view();
    let steps = rng.gen_range(20..200);
    let mut mid: Option<(Snapshot, usize)> = None;
    for i in 0..steps {
        server.step(&mut rng);
        if i == steps / 2 {
            mid = Some((server.view(), server.log.len()));
        }
    }
    let log = server.log.clone();
    let mut expected = server.view();
    // The board knows the seq of the last event it was sent (later changes were for others).
    let last_sent = log.last().map_or(0, |(_, e)| e.seq);
    expected.seq = last_sent;

    // (a) once, in order.
    let mut once = Board::from_snapshot(start.clone());
    for (r, e) in &log {
        once.apply(*r, e);
    }
    assert_eq!(
        once.snapshot(),
        expected,
        "seed {seed}: in-order board == server"
    );

    // (b) with duplicates and reordered re-deliveries of already-applied events.
    let mut noisy = Board::from_snapshot(start.clone());
    let mut ui = Default::default();
    apply_deltas(&mut ui, &noisy.load_snapshot(start.clone()));
    for (i, (r, e)) in log.iter().enumerate() {
        let applied = noisy.apply(*r, e);
        apply_deltas(&mut ui, &applied.deltas);
        if rng.gen_bool(0.3) {
            let mut again: Vec<usize> = (0..=i).collect();
            again.shuffle(&mut rng);
            again.truncate(rng.gen_range(1..=5.min(i + 1)));
            for j in again {
                let (r2, e2) = &log[j];
                let dup = noisy.apply(*r2, e2);
                assert!(
                    !dup.changed && dup.deltas.is_empty(),
                    "seed {seed}: re-delivery of seq {} changed the board",
                    e2.seq
                );
            }
        }
    }
    check_ui(&ui, &noisy);
    assert_eq!(
        noisy.snapshot(),
        expected,
        "seed {seed}: noisy board == server"
    );

    // (c) a mid-history snapshot, then a replay starting before it (overlap).
    let (mid_snap, mid_len) = mid.unwrap();
    expected.seq = last_sent.max(mid_snap.seq);
    let mut resumed = Board::from_snapshot(mid_snap);
    let from = rng.gen_range(0..=mid_len);
    for (r, e) in &log[from..] {
        resumed.apply(*r, e);
    }
    assert_eq!(
        resumed.snapshot(),
        expected,
        "seed {seed}: snapshot + overlapping replay == server"
    );
    assert_eq!(resumed.last_seq(), expected.seq);
}

#[test]
fn duplicated_and_reordered_replays_converge() {
    for seed in 0..300 {
        run(seed);
    }
}
