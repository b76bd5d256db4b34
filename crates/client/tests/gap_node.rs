//! The client core against the reference Node `socket.io` server when a live event is lost:
//! the next event of its stream reveals the gap (`prevSeq`), the core drops the socket,
//! replays from just before the missed event, and ends with the server's board. Holes in
//! `seq` that are other users' events are not gaps.
//!
//! Needs `npm ci --ignore-scripts` in tests/node-server (scripts/setup.sh does it).

use deskbell_client::connection::{Connection, ConnectionConfig, ConnectionState};
use deskbell_client::desk::DeskEvent;
use deskbell_client::live_board::{LiveBoard, SharedBoard};
use deskbell_client::session::Session;
use deskbell_client::token_store::MemoryStore;
use deskbell_client::transport::ws::WsTransport;
use deskbell_client::Api;
use deskbell_protocol::{Board, Id, Lane, Priority, Requester, Ticket, TicketStatus};
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::time::Instant;

#[path = "support/node.rs"]
mod node;
use node::{NodeServer, WAIT};

const NS: &str = "/workspace-1";

fn lane(id: Id) -> Lane {
    Lane {
        id,
        company_id: 1,
        name: format!("Lane {id}"),
        color: "#1e88e5".into(),
        position: 1,
    }
}

fn ticket(id: Id, version: i64, assignee_id: Option<Id>) -> Ticket {
    Ticket {
        id,
        company_id: 1,
        title: format!("Ticket {id} v{version}"),
        requester: Requester {
            name: "Req".into(),
            contact: None,
        },
        status: TicketStatus::Open,
        priority: Priority::Normal,
        assignee_id,
        creator_id: 3,
        lane_id: Some(10),
        last_message: None,
        comment_count: 0,
        created_at: "2026-11-22T10:00:00Z".parse().unwrap(),
        updated_at: "2026-11-22T10:00:00Z".parse().unwrap(),
        version,
        urgent_since: None,
        urgent_by: None,
        acknowledged_by: None,
        acknowledged_at: None,
    }
}

/// The next core event matching `pred`, within `WAIT`; every event read is kept in `seen`.
async fn next_core_event(
    events: &mut mpsc::UnboundedReceiver<DeskEvent>,
    seen: &mut Vec<DeskEvent>,
    what: &str,
    pred: impl Fn(&DeskEvent) -> bool,
) {
    let deadline = Instant::now() + WAIT;
    loop {
        tokio::select! {
            event = events.recv() => {
                let event = event.expect("the core is running");
                seen.push(event.clone());
                if pred(&event) {
                    return;
                }
            }
            _ = tokio::time::sleep_until(deadline) => panic!("no {what} within {WAIT:?}; seen {seen:#?}"),
        }
    }
}

fn applied(seq: i64) -> impl Fn(&DeskEvent) -> bool {
    move |e| matches!(e, DeskEvent::Event { event, .. } if event.seq == seq)
}

fn live(e: &DeskEvent) -> bool {
    matches!(
        e,
        DeskEvent::State {
            state: ConnectionState::Live
        }
    )
}

/// Logs an event on the node server; `skip`: lost live, only a replay brings it.
async fn log(node: &NodeServer, resource: &str, event: Value, skip: bool) -> (i64, i64) {
    let answer = node
        .post(
            "/event",
            json!({"ns": NS, "resource": resource, "event": event, "skip": skip}),
        )
        .await;
    (
        answer["seq"].as_i64().unwrap(),
        answer["prevSeq"].as_i64().unwrap(),
    )
}

fn ticket_event(action: &str, t: &Ticket, stream: &str) -> Value {
    json!({"action": action, "userId": 3, "timestamp": "2026-11-22T10:00:00Z",
        "ticket": t, "stream": stream})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_live_event_is_replayed_and_the_board_ends_as_the_server_has_it() {
    let node = NodeServer::start(25_000, 20_000).await;
    let api = Api::new(&node.base).unwrap();
    let session = Session::login(api, Arc::new(MemoryStore::new()), "agent2@acme.test", "pw")
        .await
        .expect("the node server signs in user 2");
    let board = SharedBoard::new();
    let (sink, mut events) = LiveBoard::new(board.clone());
    let connection = Connection::spawn(
        Arc::new(session),
        Arc::new(WsTransport::new()),
        sink,
        ConnectionConfig::default(),
    );
    let mut seen = Vec::new();
    next_core_event(&mut events, &mut seen, "live", live).await;

    // Seq 3 is another agent's ticket: a hole in this client's seqs, not a gap. Seq 4 is the
    // first of this user's own stream.
    let lane_event = json!({"action": "create", "userId": 3,
        "timestamp": "2026-11-22T10:00:00Z", "lane": lane(10), "stream": "all"});
    assert_eq!(log(&node, "lane", lane_event, false).await, (1, 0));
    let t1 = ticket_event("create", &ticket(1, 1, None), "all");
    assert_eq!(log(&node, "ticket", t1, false).await, (2, 1));
    let theirs = ticket_event("create", &ticket(2, 1, Some(3)), "assignee-3");
    assert_eq!(log(&node, "ticket", theirs, false).await, (3, 0));
    let mine = ticket_event("create", &ticket(3, 1, Some(2)), "assignee-2");
    assert_eq!(log(&node, "ticket", mine, false).await, (4, 0));
    let t1 = ticket_event("update", &ticket(1, 2, None), "all");
    assert_eq!(log(&node, "ticket", t1, false).await, (5, 2));
    next_core_event(&mut events, &mut seen, "event 5", applied(5)).await;
    assert_eq!(
        node.get("/connects", &[("ns", NS)]).await,
        json!([null]),
        "the hole at 3 did not reconnect"
    );

    // Seq 6 is lost on the way; 7 (another stream, whole) is not a gap; 8 reveals it.
    let lost = ticket_event("create", &ticket(4, 1, None), "all");
    assert_eq!(log(&node, "ticket", lost, true).await, (6, 5));
    let mine = ticket_event("update", &ticket(3, 2, Some(2)), "assignee-2");
    assert_eq!(log(&node, "ticket", mine, false).await, (7, 4));
    let t1 = ticket_event("update", &ticket(1, 3, None), "all");
    assert_eq!(log(&node, "ticket", t1, false).await, (8, 6));

    next_core_event(&mut events, &mut seen, "the lost event 6", applied(6)).await;
    next_core_event(&mut events, &mut seen, "event 8", applied(8)).await;
    next_core_event(&mut events, &mut seen, "live again", live).await;
    assert_eq!(
        node.get("/connects", &[("ns", NS)]).await,
        json!([null, 5]),
        "one reconnect, replaying from just before the lost event"
    );
    let reported: Vec<i64> = seen
        .iter()
        .filter_map(|e| match e {
            DeskEvent::Event { event, .. } => Some(event.seq),
            _ => None,
        })
        .collect();
    assert_eq!(
        reported,
        vec![1, 2, 4, 5, 7, 6, 8],
        "each event once; 8 only after the lost 6"
    );
    let server: Board = serde_json::from_value(node.get("/api/board", &[]).await).unwrap();
    assert_eq!(server.tickets.len(), 3, "{server:?}");
    assert_eq!(board.snapshot(), server);

    connection.shutdown().await;
    node.wait_count(NS, (0, 0)).await;
}
