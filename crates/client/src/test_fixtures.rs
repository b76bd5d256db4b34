//! Lanes and tickets for the unit tests of the board and its views (one definition, so that a
//! new ticket field is added once).

use deskbell_protocol::{Id, Lane, Priority, Requester, Ticket, TicketStatus, Timestamp};

/// The tests' "now": 2026-11-22 10:00 UTC.
pub fn ts() -> Timestamp {
    "2026-11-22T10:00:00Z".parse().unwrap()
}

pub fn lane(id: Id, position: i64) -> Lane {
    Lane {
        id,
        company_id: 1,
        name: format!("Lane {id}"),
        color: "#1e88e5".into(),
        position,
    }
}

/// An open, normal, unassigned ticket created and updated at [`ts`].
pub fn ticket(id: Id, version: i64, lane_id: Option<Id>) -> Ticket {
    Ticket {
        id,
        company_id: 1,
        title: format!("Ticket {id}"),
        requester: Requester {
            name: "Req".into(),
            contact: None,
        },
        status: TicketStatus::Open,
        priority: Priority::Normal,
        assignee_id: None,
        creator_id: 1,
        lane_id,
        last_message: None,
        comment_count: 0,
        created_at: ts(),
        updated_at: ts(),
        version,
        urgent_since: None,
        urgent_by: None,
        acknowledged_by: None,
        acknowledged_at: None,
    }
}
