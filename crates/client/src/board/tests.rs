use super::*;
use crate::test_fixtures::{lane, ticket, ts};
use deskbell_protocol::{Comment, Priority};

fn env(action: EventAction, seq: i64) -> EventEnvelope {
    EventEnvelope::new(action, seq, 1, 2, ts())
}

fn t_event(action: EventAction, seq: i64, t: &Ticket) -> EventEnvelope {
    EventEnvelope {
        ticket: Some(t.clone()),
        ..env(action, seq)
    }
}

fn t_delete(seq: i64, id: Id) -> EventEnvelope {
    EventEnvelope {
        ticket_id: Some(id),
        ..env(EventAction::Delete, seq)
    }
}

fn l_event(action: EventAction, seq: i64, l: &Lane) -> EventEnvelope {
    EventEnvelope {
        lane: Some(l.clone()),
        ..env(action, seq)
    }
}

fn board() -> Board {
    Board::from_snapshot(deskbell_protocol::Board {
        lanes: vec![lane(20, 2), lane(10, 1)],
        tickets: vec![ticket(1, 1, Some(10)), ticket(2, 3, None)],
        seq: 5,
    })
}

#[test]
fn snapshot_orders_lanes_by_position_and_keeps_seq() {
    let b = board();
    let s = b.snapshot();
    assert_eq!(s.lanes.iter().map(|l| l.id).collect::<Vec<_>>(), [10, 20]);
    assert_eq!(s.tickets.iter().map(|t| t.id).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(s.seq, 5);
    assert_eq!(b.last_seq(), 5);
}

#[test]
fn same_event_twice_applies_once() {
    let mut b = board();
    let mut t = ticket(1, 2, Some(20));
    t.priority = Priority::High;
    let e = t_event(EventAction::Update, 6, &t);
    let first = b.apply(Resource::Ticket, &e);
    assert!(first.changed);
    assert_eq!(first.deltas, vec![BoardDelta::TicketUpserted(t.clone())]);
    let change = first.ticket.unwrap();
    assert_eq!(change.before.unwrap().version, 1);
    assert_eq!(change.after.unwrap().version, 2);
    let second = b.apply(Resource::Ticket, &e);
    assert_eq!(second, Applied::default());
    assert_eq!(b.ticket(1), Some(t));
    assert_eq!(b.last_seq(), 6);
}

#[test]
fn older_version_after_newer_is_ignored() {
    let mut b = board();
    let v3 = ticket(1, 3, Some(20));
    let v2 = ticket(1, 2, None);
    assert!(
        b.apply(Resource::Ticket, &t_event(EventAction::Move, 8, &v3))
            .changed
    );
    let stale = b.apply(Resource::Ticket, &t_event(EventAction::Move, 7, &v2));
    assert!(!stale.changed && stale.deltas.is_empty());
    assert_eq!(b.ticket(1), Some(v3));
    // last_seq is the max, never moved back.
    assert_eq!(b.last_seq(), 8);
}

#[test]
fn comment_events_apply_their_ticket_by_version() {
    let mut b = board();
    let mut t = ticket(2, 4, None);
    t.comment_count = 1;
    t.last_message = Some("hello".into());
    let e = EventEnvelope {
        comment: Some(Comment {
            id: 77,
            ticket_id: 2,
            author_id: 3,
            body: "hello".into(),
            created_at: ts(),
            from_requester: false,
        }),
        ..t_event(EventAction::Create, 6, &t)
    };
    assert!(b.apply(Resource::Comment, &e).changed);
    // Replayed: never counted twice.
    assert!(!b.apply(Resource::Comment, &e).changed);
    assert_eq!(b.ticket(2).unwrap().comment_count, 1);
    // A comment delete is not a ticket delete.
    let mut t5 = t.clone();
    t5.version = 5;
    t5.comment_count = 0;
    let del = EventEnvelope {
        comment: e.comment.clone(),
        ..t_event(EventAction::Delete, 7, &t5)
    };
    let applied = b.apply(Resource::Comment, &del);
    assert_eq!(applied.deltas, vec![BoardDelta::TicketUpserted(t5)]);
}

#[test]
fn replay_overlapping_applied_events_changes_nothing() {
    let mut b = board();
    let events = [
        t_event(EventAction::Create, 6, &ticket(3, 1, None)),
        t_event(EventAction::Move, 7, &ticket(3, 2, Some(10))),
        t_event(EventAction::Update, 8, &ticket(1, 2, Some(10))),
        t_delete(9, 2),
    ];
    for e in &events {
        assert!(b.apply(Resource::Ticket, e).changed);
    }
    let after = b.snapshot();
    // A reconnect replays from an older lastSeq: the overlap, then one new event.
    for e in events.iter().rev().chain(events.iter()) {
        assert_eq!(b.apply(Resource::Ticket, e), Applied::default());
    }
    assert_eq!(b.snapshot(), after);
    let new = t_event(EventAction::Move, 10, &ticket(3, 3, Some(20)));
    assert!(b.apply(Resource::Ticket, &new).changed);
    assert_eq!(b.ticket(3).unwrap().lane_id, Some(20));
    assert_eq!(b.last_seq(), 10);
}

#[test]
fn events_already_in_the_snapshot_cannot_add_tickets() {
    // Snapshot at seq 5 lacks ticket 9 (deleted at seq 4): its create (seq 3) replays.
    let mut b = board();
    let stale = b.apply(
        Resource::Ticket,
        &t_event(EventAction::Create, 3, &ticket(9, 1, None)),
    );
    assert!(!stale.changed);
    assert!(b.ticket(9).is_none());
    // A stale delete of a ticket the snapshot has is ignored too.
    assert!(!b.apply(Resource::Ticket, &t_delete(4, 1)).changed);
    assert!(b.ticket(1).is_some());
}

#[test]
fn reassigned_away_removes_and_older_replays_cannot_resurrect() {
    let mut b = board();
    let v2 = ticket(1, 2, Some(10));
    assert!(
        b.apply(Resource::Ticket, &t_event(EventAction::Update, 6, &v2))
            .changed
    );
    let gone = b.apply(Resource::Ticket, &t_delete(7, 1));
    assert!(gone.changed);
    assert_eq!(gone.deltas, vec![BoardDelta::TicketRemoved { id: 1 }]);
    assert_eq!(
        gone.ticket
            .as_ref()
            .unwrap()
            .before
            .as_ref()
            .unwrap()
            .version,
        2
    );
    assert!(gone.ticket.unwrap().after.is_none());
    // Duplicate delete, delete of an unknown ticket: no-ops.
    assert_eq!(
        b.apply(Resource::Ticket, &t_delete(7, 1)),
        Applied::default()
    );
    assert_eq!(
        b.apply(Resource::Ticket, &t_delete(8, 404)),
        Applied::default()
    );
    // The update before the delete replays: stays gone.
    assert!(
        !b.apply(Resource::Ticket, &t_event(EventAction::Update, 6, &v2))
            .changed
    );
    assert!(b.ticket(1).is_none());
    // Reassigned back later (newer version, later seq): it returns.
    let v5 = ticket(1, 5, None);
    let back = b.apply(Resource::Ticket, &t_event(EventAction::Assign, 12, &v5));
    assert_eq!(back.deltas, vec![BoardDelta::TicketUpserted(v5)]);
    assert!(back.ticket.unwrap().before.is_none());
    // The delete replays after the return: older than the state we have, ignored.
    assert!(!b.apply(Resource::Ticket, &t_delete(7, 1)).changed);
    assert!(b.ticket(1).is_some());
}

#[test]
fn lane_create_update_delete() {
    let mut b = board();
    let l30 = lane(30, 0);
    let created = b.apply(Resource::Lane, &l_event(EventAction::Create, 6, &l30));
    assert_eq!(created.deltas, vec![BoardDelta::LaneUpserted(l30.clone())]);
    assert_eq!(
        b.lanes().iter().map(|l| l.id).collect::<Vec<_>>(),
        [30, 10, 20]
    );
    let mut renamed = l30.clone();
    renamed.name = "Triage".into();
    renamed.position = 9;
    let upd = l_event(EventAction::Update, 7, &renamed);
    assert_eq!(
        b.apply(Resource::Lane, &upd).deltas,
        vec![BoardDelta::LaneUpserted(renamed.clone())]
    );
    // The create replays after the update: ignored.
    assert!(
        !b.apply(Resource::Lane, &l_event(EventAction::Create, 6, &l30))
            .changed
    );
    assert_eq!(b.lane(30), Some(&renamed));
    assert_eq!(b.apply(Resource::Lane, &upd), Applied::default());

    // Deleting lane 10: the server first moves its tickets through their own events.
    let moved = ticket(1, 2, None);
    let m = b.apply(Resource::Ticket, &t_event(EventAction::Move, 8, &moved));
    assert_eq!(m.deltas, vec![BoardDelta::TicketUpserted(moved)]);
    let del = l_event(EventAction::Delete, 9, &lane(10, 1));
    assert_eq!(
        b.apply(Resource::Lane, &del).deltas,
        vec![BoardDelta::LaneRemoved { id: 10 }]
    );
    assert!(b.lane(10).is_none());
    // Replayed create/update of the deleted lane cannot bring it back.
    assert!(
        !b.apply(
            Resource::Lane,
            &l_event(EventAction::Update, 4, &lane(10, 1))
        )
        .changed
    );
    assert!(!b.apply(Resource::Lane, &del).changed);
    assert_eq!(b.lanes().len(), 2);
}

#[test]
fn lane_delete_never_leaves_cards_in_a_missing_lane() {
    let mut b = board();
    // Ticket 1 is in lane 10; its move event has not arrived when the lane delete does.
    let d = b.apply(
        Resource::Lane,
        &l_event(EventAction::Delete, 6, &lane(10, 1)),
    );
    let mut shown = ticket(1, 1, None);
    shown.lane_id = None;
    assert_eq!(
        d.deltas,
        vec![
            BoardDelta::TicketUpserted(shown.clone()),
            BoardDelta::LaneRemoved { id: 10 }
        ]
    );
    assert_eq!(b.ticket(1), Some(shown));
    assert!(b.snapshot().tickets.iter().all(|t| t.lane_id.is_none()));
    // Its own move event then arrives: nothing visible changes except the version.
    let moved = ticket(1, 2, None);
    let m = b.apply(Resource::Ticket, &t_event(EventAction::Move, 7, &moved));
    assert_eq!(m.deltas, vec![BoardDelta::TicketUpserted(moved)]);
}

#[test]
fn optimistic_move_confirmed() {
    let mut b = board();
    let (id, deltas) = b.begin_move(1, Some(20)).unwrap();
    let mut shown = ticket(1, 1, Some(20));
    assert_eq!(deltas, vec![BoardDelta::TicketUpserted(shown.clone())]);
    assert_eq!(b.ticket(1), Some(shown.clone()));
    assert_eq!(b.server_ticket(1).unwrap().lane_id, Some(10));
    assert_eq!(b.pending_moves(), vec![(id, 1, Some(20))]);
    shown.version = 2;
    let confirmed = b.confirm_move(id, &shown).unwrap();
    assert_eq!(confirmed, vec![BoardDelta::TicketUpserted(shown.clone())]);
    assert!(b.pending_moves().is_empty());
    // The move's own event arrives afterwards: a duplicate.
    assert!(
        !b.apply(Resource::Ticket, &t_event(EventAction::Move, 6, &shown))
            .changed
    );
    assert_eq!(b.ticket(1), Some(shown));
    assert_eq!(
        b.confirm_move(id, &ticket(1, 2, None)).unwrap_err().code(),
        "unknown_move"
    );
}

#[test]
fn optimistic_move_rolled_back() {
    let mut b = board();
    let original = b.ticket(1).unwrap();
    let (id, _) = b.begin_move(1, None).unwrap();
    assert_eq!(b.ticket(1).unwrap().lane_id, None);
    let back = b.rollback_move(id).unwrap();
    assert_eq!(back, vec![BoardDelta::TicketUpserted(original.clone())]);
    assert_eq!(b.ticket(1), Some(original));
    assert_eq!(b.rollback_move(id).unwrap_err().code(), "unknown_move");
}

#[test]
fn rollback_after_a_newer_event_keeps_the_server_state() {
    let mut b = board();
    let (id, _) = b.begin_move(1, Some(20)).unwrap();
    // Someone else changes the ticket meanwhile: title and priority change, our overlay stays.
    let mut v2 = ticket(1, 2, Some(10));
    v2.title = "Printer on fire".into();
    v2.priority = Priority::Urgent;
    let applied = b.apply(Resource::Ticket, &t_event(EventAction::Update, 6, &v2));
    assert!(applied.changed);
    let mut shown = v2.clone();
    shown.lane_id = Some(20);
    assert_eq!(applied.deltas, vec![BoardDelta::TicketUpserted(shown)]);
    // The move fails (409): the card shows the newer server state, not the pre-move one.
    let back = b.rollback_move(id).unwrap();
    assert_eq!(back, vec![BoardDelta::TicketUpserted(v2.clone())]);
    assert_eq!(b.ticket(1), Some(v2));
}

#[test]
fn confirm_loses_to_a_newer_event_and_to_a_delete() {
    let mut b = board();
    let (m1, _) = b.begin_move(1, Some(20)).unwrap();
    let v3 = ticket(1, 3, None);
    b.apply(Resource::Ticket, &t_event(EventAction::Move, 7, &v3));
    b.confirm_move(m1, &ticket(1, 2, Some(20))).unwrap();
    assert_eq!(b.ticket(1), Some(v3));

    let (m2, _) = b.begin_move(2, Some(10)).unwrap();
    let gone = b.apply(Resource::Ticket, &t_delete(8, 2));
    assert_eq!(gone.deltas, vec![BoardDelta::TicketRemoved { id: 2 }]);
    assert!(b
        .confirm_move(m2, &ticket(2, 4, Some(10)))
        .unwrap()
        .is_empty());
    assert!(b.ticket(2).is_none());
}

#[test]
fn begin_move_errors_have_stable_codes() {
    let mut b = board();
    assert_eq!(b.begin_move(99, None).unwrap_err().code(), "unknown_ticket");
    assert_eq!(
        b.begin_move(1, Some(99)).unwrap_err().code(),
        "unknown_lane"
    );
    let (id, _) = b.begin_move(1, Some(20)).unwrap();
    let err = b.confirm_move(id, &ticket(2, 9, None)).unwrap_err();
    assert_eq!(err.code(), "move_ticket_mismatch");
    assert!(err.to_string().contains("ticket 1"));
}

#[test]
fn two_pending_moves_show_the_latest() {
    let mut b = board();
    let (a, _) = b.begin_move(1, Some(20)).unwrap();
    let (c, _) = b.begin_move(1, None).unwrap();
    assert_eq!(b.ticket(1).unwrap().lane_id, None);
    b.rollback_move(c).unwrap();
    assert_eq!(b.ticket(1).unwrap().lane_id, Some(20));
    b.rollback_move(a).unwrap();
    assert_eq!(b.ticket(1).unwrap().lane_id, Some(10));
}

#[test]
fn reset_replaces_everything_and_keeps_pending_moves() {
    let mut b = board();
    b.apply(Resource::Ticket, &t_delete(6, 2));
    let (m, _) = b.begin_move(1, Some(20)).unwrap();
    let snap = deskbell_protocol::Board {
        lanes: vec![lane(20, 1)],
        tickets: vec![ticket(1, 4, None), ticket(2, 9, Some(20))],
        seq: 40,
    };
    let deltas = b.load_snapshot(snap.clone());
    let mut shown1 = ticket(1, 4, Some(20));
    shown1.lane_id = Some(20);
    assert_eq!(
        deltas,
        vec![BoardDelta::Reset {
            lanes: vec![lane(20, 1)],
            tickets: vec![shown1, ticket(2, 9, Some(20))],
            seq: 40
        }]
    );
    assert_eq!(b.last_seq(), 40);
    b.rollback_move(m).unwrap();
    assert_eq!(b.snapshot(), snap);
    // Ticket 2 was tombstoned before the reset; the snapshot says it is back and stays.
    assert!(b.ticket(2).is_some());
    // Old events (<= 40) cannot change it; newer ones can.
    assert!(
        !b.apply(
            Resource::Ticket,
            &t_event(EventAction::Create, 41, &ticket(2, 1, None))
        )
        .changed
    );
    assert!(
        b.apply(
            Resource::Ticket,
            &t_event(EventAction::Create, 41, &ticket(5, 1, None))
        )
        .changed
    );
}

#[test]
fn sync_and_malformed_events_are_no_ops_but_advance_seq() {
    let mut b = board();
    assert_eq!(
        b.apply(Resource::Sync, &env(EventAction::Update, 11)),
        Applied::default()
    );
    assert_eq!(
        b.apply(Resource::Ticket, &env(EventAction::Update, 12)),
        Applied::default()
    );
    assert_eq!(
        b.apply(Resource::Lane, &env(EventAction::Create, 13)),
        Applied::default()
    );
    assert_eq!(b.last_seq(), 13);
    assert_eq!(b.snapshot().tickets.len(), 2);
}

#[test]
fn deltas_serialize_with_a_kind_tag() {
    let d = BoardDelta::TicketRemoved { id: 4 };
    assert_eq!(
        serde_json::to_value(&d).unwrap(),
        serde_json::json!({"kind": "ticketRemoved", "id": 4})
    );
    let up = BoardDelta::TicketUpserted(ticket(1, 1, None));
    let json = serde_json::to_value(&up).unwrap();
    assert_eq!(json["kind"], "ticketUpserted");
    assert_eq!(json["laneId"], serde_json::Value::Null);
    assert_eq!(serde_json::from_value::<BoardDelta>(json).unwrap(), up);
    let reset = BoardDelta::Reset {
        lanes: vec![lane(1, 0)],
        tickets: vec![],
        seq: 3,
    };
    let back: BoardDelta = serde_json::from_str(&serde_json::to_string(&reset).unwrap()).unwrap();
    assert_eq!(back, reset);
}
