//! The whole core ([`Desk`]) against the real server in-process: alerts from other people's
//! escalations (never one's own), the urgent count, optimistic moves confirmed and rolled back,
//! writes reflected on the board; and `deskbell-cli watch --json` end to end.

use deskbell_client::alerts::{AlertKind, AlertPreferences, RecordingNotifier};
use deskbell_client::connection::ConnectionState;
use deskbell_client::desk::{is_conflict, Desk, DeskEvent, DeskOptions};
use deskbell_client::session::Session;
use deskbell_client::token_store::MemoryStore;
use deskbell_client::transport::ws::WsTransport;
use deskbell_client::Api;
use deskbell_protocol::{NewTicket, Priority, Requester, Ticket, TicketPatch};
use deskbell_server::{demo, Server};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

mod support;

use support::{CliWatch, WAIT};

async fn start_server() -> (Server, tempfile::TempDir) {
    support::start_server("desk-test-secret").await
}

fn new_ticket(title: &str, priority: Priority) -> NewTicket {
    NewTicket {
        title: title.into(),
        requester: Requester {
            name: "Grace Hopper".into(),
            contact: None,
        },
        priority: Some(priority),
        status: None,
        assignee_id: None,
        lane_id: None,
        message: Some("It broke".into()),
    }
}

struct Harness {
    desk: Desk,
    events: mpsc::Receiver<DeskEvent>,
    seen: Vec<DeskEvent>,
    notifier: Arc<RecordingNotifier>,
}

impl Harness {
    async fn start(server: &Server, email: &str) -> Harness {
        let api = Api::new(&server.url()).unwrap();
        let session = Session::login(
            api,
            Arc::new(MemoryStore::new()),
            email,
            demo::DEMO_PASSWORD,
        )
        .await
        .unwrap();
        let notifier = Arc::new(RecordingNotifier::new());
        let mut options = DeskOptions::headless(Arc::new(WsTransport::new()), notifier.clone());
        options.alert_window = Duration::from_millis(50);
        let (desk, events) = Desk::start(session, options);
        let mut h = Harness {
            desk,
            events,
            seen: Vec::new(),
            notifier,
        };
        h.wait_for("live", |e| {
            matches!(
                e,
                DeskEvent::State {
                    state: ConnectionState::Live
                }
            )
        })
        .await;
        h
    }

    /// Waits for an event matching `pred` (events seen earlier count too) and returns it.
    async fn wait_for(&mut self, what: &str, pred: impl Fn(&DeskEvent) -> bool) -> DeskEvent {
        if let Some(e) = self.seen.iter().find(|e| pred(e)) {
            return e.clone();
        }
        support::next_desk_event(&mut self.events, &mut self.seen, what, WAIT, pred).await
    }

    fn alerts(&self) -> Vec<&DeskEvent> {
        self.seen
            .iter()
            .filter(|e| matches!(e, DeskEvent::Alert { .. }))
            .collect()
    }
}

fn applied(seq: i64) -> impl Fn(&DeskEvent) -> bool {
    move |e| matches!(e, DeskEvent::Event { event, .. } if event.seq == seq)
}

async fn escalate(api: &Api, token: &str, ticket: &Ticket) -> Ticket {
    let patch = TicketPatch {
        priority: Some(Priority::Urgent),
        ..TicketPatch::default()
    };
    api.patch_ticket(token, ticket.id, Some(ticket.version), &patch)
        .await
        .unwrap()
}

#[tokio::test]
async fn escalations_by_others_alert_once_and_own_actions_never() {
    let (server, _dir) = start_server().await;
    let api = Api::new(&server.url()).unwrap();
    let admin = api
        .login("admin@acme.test", demo::DEMO_PASSWORD)
        .await
        .unwrap()
        .access_token;
    let mut agent = Harness::start(&server, "agent1@acme.test").await;

    // Someone else escalates an (unassigned, so visible) ticket: one critical alert.
    let ticket = api
        .create_ticket(&admin, &new_ticket("Checkout is down", Priority::Normal))
        .await
        .unwrap();
    let urgent = escalate(&api, &admin, &ticket).await;
    let alert = agent
        .wait_for("the alert", |e| matches!(e, DeskEvent::Alert { .. }))
        .await;
    let DeskEvent::Alert { alert, shown } = alert else {
        unreachable!()
    };
    assert!(shown);
    assert_eq!(alert.kind, AlertKind::Urgent);
    assert_eq!(alert.ticket_ids, vec![ticket.id]);
    assert_eq!(alert.title, "Checkout is down");
    assert_eq!(agent.notifier.alerts(), vec![alert.clone()]);
    agent
        .wait_for("the urgent count", |e| {
            matches!(e, DeskEvent::UrgentCount { count: 1 })
        })
        .await;
    assert_eq!(agent.desk.urgent_count(), 1);

    // The same ticket changed again while urgent: no second alert.
    let patch = TicketPatch {
        title: Some("Checkout is down (EU)".into()),
        ..TicketPatch::default()
    };
    let renamed = api
        .patch_ticket(&admin, ticket.id, Some(urgent.version), &patch)
        .await
        .unwrap();
    // The agent's own escalation of another ticket: no alert either.
    let mine = agent
        .desk
        .create_ticket(new_ticket("My own", Priority::Normal))
        .await
        .unwrap();
    let mine = agent
        .desk
        .patch_ticket(
            mine.id,
            Some(mine.version),
            TicketPatch {
                priority: Some(Priority::Urgent),
                ..TicketPatch::default()
            },
        )
        .await
        .unwrap();
    let head = api.board(&admin).await.unwrap().seq;
    agent.wait_for("the last write", applied(head)).await;
    // Past the coalescing window of anything that could still come: a marker alert from the
    // admin, which must be the only other one.
    let marker = api
        .create_ticket(&admin, &new_ticket("Marker", Priority::Urgent))
        .await
        .unwrap();
    agent
        .wait_for("the marker's alert", |e| {
            matches!(e, DeskEvent::Alert { alert, .. } if alert.ticket_ids.contains(&marker.id))
        })
        .await;
    let alerts = agent.alerts();
    assert_eq!(alerts.len(), 2, "{alerts:#?}");
    assert!(renamed.version > urgent.version);
    assert_eq!(mine.priority, Priority::Urgent);

    // Opening the ticket clears it from the count.
    agent.desk.mark_read(ticket.id);
    agent.desk.mark_read(marker.id);
    let deadline = tokio::time::Instant::now() + WAIT;
    while agent.desk.urgent_count() != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "count never cleared"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Do not disturb: counted, not shown.
    agent.desk.set_preferences(AlertPreferences {
        do_not_disturb: true,
        ..AlertPreferences::default()
    });
    while !agent.desk.preferences().do_not_disturb {
        tokio::task::yield_now().await;
    }
    let quiet = api
        .create_ticket(&admin, &new_ticket("At night", Priority::Urgent))
        .await
        .unwrap();
    let before = agent.notifier.alerts().len();
    let deadline = tokio::time::Instant::now() + WAIT;
    while agent.desk.urgent_count() != 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "muted alert not counted"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let head = api.board(&admin).await.unwrap().seq;
    agent.wait_for("the muted write", applied(head)).await;
    assert_eq!(
        agent.notifier.alerts().len(),
        before,
        "nothing shown under DND"
    );
    assert!(agent.desk.board().tickets.iter().any(|t| t.id == quiet.id));
    agent.desk.shutdown().await;
}

#[tokio::test]
async fn moves_are_optimistic_then_confirmed_or_rolled_back() {
    let (server, _dir) = start_server().await;
    let api = Api::new(&server.url()).unwrap();
    let admin = api
        .login("admin@acme.test", demo::DEMO_PASSWORD)
        .await
        .unwrap()
        .access_token;
    let mut agent = Harness::start(&server, "agent1@acme.test").await;
    let board = agent.desk.board();
    let lanes = board.lanes.clone();
    let ticket = board.tickets[0].clone();
    let target = lanes
        .iter()
        .find(|l| Some(l.id) != ticket.lane_id)
        .unwrap()
        .id;

    // Confirmed: the server has it, and the board shows it.
    let moved = agent
        .desk
        .move_ticket(ticket.id, Some(target))
        .await
        .unwrap();
    assert_eq!(moved.lane_id, Some(target));
    assert_eq!(
        api.ticket(&admin, ticket.id).await.unwrap().lane_id,
        Some(target)
    );
    let shown = agent.desk.board();
    let card = shown.tickets.iter().find(|t| t.id == ticket.id).unwrap();
    assert_eq!(card.lane_id, Some(target));
    // The move was shown before the server answered: a delta with the card in the target lane.
    agent
        .wait_for("the optimistic delta", |e| {
            matches!(e, DeskEvent::Board { deltas } if deltas.iter().any(|d| matches!(
                d,
                deskbell_client::board::BoardDelta::TicketUpserted(t) if t.id == ticket.id && t.lane_id == Some(target)
            )))
        })
        .await;

    // Someone else changes the ticket first; our stale move is refused, the card stays where
    // the server has it, and the error says "conflict".
    let other_lane = lanes.iter().find(|l| l.id != target).unwrap().id;
    let newer = api
        .move_ticket(&admin, ticket.id, Some(other_lane), None)
        .await
        .unwrap();
    // Race the event: make the board still hold the older version when the move starts.
    let stale_board_version = agent
        .desk
        .board()
        .tickets
        .iter()
        .find(|t| t.id == ticket.id)
        .unwrap()
        .version;
    let result = agent.desk.move_ticket(ticket.id, None).await;
    if stale_board_version < newer.version {
        let error = result.expect_err("a stale move is refused");
        assert!(is_conflict(&error), "{error:?}");
        assert_eq!(error.code(), "conflict");
    } else {
        // The event arrived first: the move is then a normal, newer one.
        result.unwrap();
    }
    let server_now = api.ticket(&admin, ticket.id).await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let card = agent
            .desk
            .board()
            .tickets
            .into_iter()
            .find(|t| t.id == ticket.id)
            .unwrap();
        if card.lane_id == server_now.lane_id && card.version == server_now.version {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "card never matched the server"
        );
        let _ = tokio::time::timeout(Duration::from_millis(50), agent.events.recv()).await;
    }

    // A lane that does not exist: refused locally, nothing sent, nothing changed.
    let error = agent
        .desk
        .move_ticket(ticket.id, Some(999_999))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "unknown_lane");
    agent.desk.shutdown().await;
}

/// `deskbell-cli watch --json`: state lines, event lines, alert lines, and the board on SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_watch_prints_json_lines_and_the_board_on_sigterm() {
    let (server, _dir) = start_server().await;
    let api = Api::new(&server.url()).unwrap();
    let admin = api
        .login("admin@acme.test", demo::DEMO_PASSWORD)
        .await
        .unwrap()
        .access_token;
    let mut cli = CliWatch::spawn(&server.url(), "agent1@acme.test");
    cli.state("live").await;
    let ticket = api
        .create_ticket(&admin, &new_ticket("Printer on fire", Priority::Urgent))
        .await
        .unwrap();
    let event = cli
        .next("the event", |v| {
            v["kind"] == "event" && v["event"]["ticket"]["id"] == ticket.id
        })
        .await;
    assert_eq!(event["event"]["action"], "create");
    let alert = cli
        .next("the alert", |v| {
            v["kind"] == "alert" && v["alert"]["ticketIds"][0] == ticket.id
        })
        .await;
    assert_eq!(alert["alert"]["kind"], "urgent");
    // SIGTERM: the board, then exit 0.
    let killed = Command::new("kill")
        .args(["-TERM", &cli.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let board = cli.next("the board", |v| v["kind"] == "board").await;
    let (status, _) = cli.exit().await;
    assert!(status.success(), "{status:?}");
    let tickets = board["board"]["tickets"].as_array().unwrap();
    assert!(tickets.iter().any(|t| t["id"] == ticket.id));
    let expected = api
        .board(
            &api.login("agent1@acme.test", demo::DEMO_PASSWORD)
                .await
                .unwrap()
                .access_token,
        )
        .await
        .unwrap();
    assert_eq!(tickets.len(), expected.tickets.len());
    assert!(
        !cli.config_home().join("deskbell").exists(),
        "--email runs leave no saved login behind"
    );
}

/// A notification's actions are performed by the desk itself: "Assign to me" assigns through
/// the API, "Acknowledge" acknowledges on the server (and a colleague's app withdraws its
/// notification of the ticket), "Open" on a summary opens the board filtered to its tickets.
#[tokio::test]
async fn notification_actions_are_performed_by_the_desk() {
    use deskbell_client::alerts::{NotificationAction, NotifierEvent};
    let (server, _dir) = start_server().await;
    let api = Api::new(&server.url()).unwrap();
    let admin = api
        .login("admin@acme.test", demo::DEMO_PASSWORD)
        .await
        .unwrap()
        .access_token;
    let session = Session::login(
        Api::new(&server.url()).unwrap(),
        Arc::new(MemoryStore::new()),
        "agent1@acme.test",
        demo::DEMO_PASSWORD,
    )
    .await
    .unwrap();
    let me = session.user().id;
    let notifier = Arc::new(RecordingNotifier::new());
    let mut options = DeskOptions::headless(Arc::new(WsTransport::new()), notifier.clone());
    options.alert_window = Duration::from_millis(50);
    let (actions, actions_rx) = mpsc::channel(8);
    options.notifier_events = Some(actions_rx);
    let (desk, events) = Desk::start(session, options);
    let mut agent = Harness {
        desk,
        events,
        seen: Vec::new(),
        notifier,
    };
    agent
        .wait_for("live", |e| {
            matches!(
                e,
                DeskEvent::State {
                    state: ConnectionState::Live
                }
            )
        })
        .await;
    // A colleague whose notification must be withdrawn once agent1 acknowledges.
    let mut colleague = Harness::start(&server, "agent2@acme.test").await;
    // Both know their colleagues' names once in sync (who acknowledged, who made it urgent).
    for desk in [&mut agent, &mut colleague] {
        desk.wait_for("the members", |e| {
            matches!(e, DeskEvent::Members { members } if members.iter().any(|m| m.name == "Alex Admin"))
        })
        .await;
    }

    let first = api
        .create_ticket(&admin, &new_ticket("Checkout is down", Priority::Urgent))
        .await
        .unwrap();
    let second = api
        .create_ticket(&admin, &new_ticket("Login is down", Priority::Urgent))
        .await
        .unwrap();
    agent
        .wait_for("the alert", |e| {
            matches!(e, DeskEvent::Alert { alert, .. } if alert.ticket_ids.contains(&second.id))
        })
        .await;
    assert!(
        agent.desk.inbox().iter().any(|e| e.ticket_id == first.id),
        "{:?}",
        agent.desk.inbox()
    );

    // "Open" on a summary.
    actions
        .send(NotifierEvent::Action {
            ticket_ids: vec![first.id, second.id],
            action: NotificationAction::Open,
        })
        .await
        .unwrap();
    agent
        .wait_for("open tickets", |e| {
            matches!(e, DeskEvent::OpenTickets { ticket_ids } if *ticket_ids == [first.id, second.id])
        })
        .await;

    // "Assign to me".
    actions
        .send(NotifierEvent::Action {
            ticket_ids: vec![first.id],
            action: NotificationAction::AssignToMe,
        })
        .await
        .unwrap();
    agent
        .wait_for("the assignment", |e| {
            matches!(e, DeskEvent::Event { event, .. }
                if event.ticket.as_ref().is_some_and(|t| t.id == first.id && t.assignee_id == Some(me)))
        })
        .await;
    assert_eq!(
        api.ticket(&admin, first.id).await.unwrap().assignee_id,
        Some(me)
    );

    // "Acknowledge": the desk calls the route; the acknowledgement comes back as an
    // `acknowledge` event, and the colleague's app withdraws its notification of the ticket.
    colleague
        .wait_for("the colleague's alert", |e| {
            matches!(e, DeskEvent::Alert { alert, .. } if alert.ticket_ids.contains(&second.id))
        })
        .await;
    assert!(!colleague.notifier.withdrawals().contains(&second.id));
    actions
        .send(NotifierEvent::Action {
            ticket_ids: vec![second.id],
            action: NotificationAction::Acknowledge,
        })
        .await
        .unwrap();
    let acknowledged = |e: &DeskEvent| match e {
        DeskEvent::Event { event, .. } => {
            event.action == deskbell_protocol::EventAction::Acknowledge
                && event.ticket.as_ref().is_some_and(|t| t.id == second.id)
        }
        _ => false,
    };
    agent.wait_for("the acknowledgement", acknowledged).await;
    assert!(
        !agent
            .seen
            .iter()
            .any(|e| matches!(e, DeskEvent::AlertActionFailed { .. })),
        "{:?}",
        agent.seen
    );
    let on_server = api.ticket(&admin, second.id).await.unwrap();
    assert_eq!(on_server.acknowledged_by, Some(me));
    colleague
        .wait_for("the acknowledgement, at the colleague", acknowledged)
        .await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while !colleague.notifier.withdrawals().contains(&second.id) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the colleague's notification was never withdrawn: {:?}",
            colleague.notifier.withdrawals()
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    colleague.desk.shutdown().await;
    agent.desk.shutdown().await;
}

/// The pump's side of the policy: a de-escalation by someone else withdraws the notification
/// and drops the count; the ticket open in the focused window is shown in place instead.
#[tokio::test]
async fn de_escalation_withdraws_and_the_focused_ticket_is_alerted_in_place() {
    let (server, _dir) = start_server().await;
    let api = Api::new(&server.url()).unwrap();
    let admin = api
        .login("admin@acme.test", demo::DEMO_PASSWORD)
        .await
        .unwrap()
        .access_token;
    let mut agent = Harness::start(&server, "agent1@acme.test").await;

    let ticket = api
        .create_ticket(&admin, &new_ticket("Checkout is down", Priority::Urgent))
        .await
        .unwrap();
    agent
        .wait_for("the alert", |e| {
            matches!(e, DeskEvent::Alert { shown: true, .. })
        })
        .await;
    agent
        .wait_for("counted", |e| {
            matches!(e, DeskEvent::UrgentCount { count: 1 })
        })
        .await;
    agent
        .wait_for("the inbox", |e| {
            matches!(e, DeskEvent::Inbox { entries, unread: 1 }
                if entries.len() == 1 && entries[0].awaiting_ack)
        })
        .await;
    let lowered = api
        .patch_ticket(
            &admin,
            ticket.id,
            Some(ticket.version),
            &TicketPatch {
                priority: Some(Priority::High),
                ..TicketPatch::default()
            },
        )
        .await
        .unwrap();
    agent
        .wait_for("uncounted", |e| {
            matches!(e, DeskEvent::UrgentCount { count: 0 })
        })
        .await;
    assert_eq!(agent.notifier.withdrawals(), vec![ticket.id]);

    // Focused on the ticket: escalated again, it is shown in place, not notified.
    agent.desk.set_focused_ticket(Some(ticket.id));
    // The command is queued before the event that follows (same pump, in order).
    api.patch_ticket(
        &admin,
        ticket.id,
        Some(lowered.version),
        &TicketPatch {
            priority: Some(Priority::Urgent),
            ..TicketPatch::default()
        },
    )
    .await
    .unwrap();
    agent
        .wait_for(
            "in place",
            |e| matches!(e, DeskEvent::AlertInPlace { ticket_id } if *ticket_id == ticket.id),
        )
        .await;
    assert_eq!(
        agent.notifier.alerts().len(),
        1,
        "only the first was notified"
    );
    agent.desk.mark_inbox_read();
    agent
        .wait_for("read", |e| matches!(e, DeskEvent::Inbox { unread: 0, .. }))
        .await;
    agent.desk.shutdown().await;
}

#[tokio::test]
async fn urgent_tickets_nobody_acknowledged_before_sign_in_are_alerted_and_withdrawn_once_acknowledged(
) {
    let (server, _dir) = start_server().await;
    let api = Api::new(&server.url()).unwrap();
    let admin = api
        .login("admin@acme.test", demo::DEMO_PASSWORD)
        .await
        .unwrap()
        .access_token;
    // Before the agent signs in: one urgent ticket nobody took, one acknowledged already.
    let waiting = api
        .create_ticket(
            &admin,
            &new_ticket("Payroll export fails", Priority::Urgent),
        )
        .await
        .unwrap();
    let taken = api
        .create_ticket(&admin, &new_ticket("Taken already", Priority::Urgent))
        .await
        .unwrap();
    api.acknowledge(&admin, taken.id).await.unwrap();

    let mut agent = Harness::start(&server, "agent1@acme.test").await;
    let DeskEvent::Alert { alert, shown } = agent
        .wait_for("the alert at sign-in", |e| {
            matches!(e, DeskEvent::Alert { .. })
        })
        .await
    else {
        unreachable!()
    };
    // Only the waiting one: not the acknowledged one, nor the demo's (acknowledged) history.
    assert!(shown);
    assert_eq!(alert.kind, AlertKind::Urgent);
    assert_eq!(alert.ticket_ids, vec![waiting.id]);
    assert!(
        alert.body.starts_with("Urgent, not yet acknowledged"),
        "{}",
        alert.body
    );
    agent
        .wait_for("counted", |e| {
            matches!(e, DeskEvent::UrgentCount { count: 1 })
        })
        .await;
    assert!(agent
        .desk
        .inbox()
        .iter()
        .any(|e| e.ticket_id == waiting.id && e.awaiting_ack));

    // Acknowledged by the admin: withdrawn, uncounted, no reminder pending.
    api.acknowledge(&admin, waiting.id).await.unwrap();
    agent
        .wait_for("uncounted", |e| {
            matches!(e, DeskEvent::UrgentCount { count: 0 })
        })
        .await;
    assert_eq!(agent.notifier.withdrawals(), vec![waiting.id]);
    assert_eq!(agent.notifier.alerts().len(), 1, "{:?}", agent.alerts());
    agent.desk.shutdown().await;
}

#[tokio::test]
async fn a_session_the_server_ends_withdraws_its_alerts_and_the_next_sign_in_alerts_anew() {
    use deskbell_protocol::UserPatch;
    let (server, _dir) = start_server().await;
    let api = Api::new(&server.url()).unwrap();
    let admin = api
        .login("admin@acme.test", demo::DEMO_PASSWORD)
        .await
        .unwrap()
        .access_token;
    let mut agent = Harness::start(&server, "agent1@acme.test").await;
    let ticket = api
        .create_ticket(&admin, &new_ticket("Checkout is down", Priority::Urgent))
        .await
        .unwrap();
    agent
        .wait_for("counted", |e| {
            matches!(e, DeskEvent::UrgentCount { count: 1 })
        })
        .await;

    // The admin deactivates the agent: signed out, nothing left shown nor counted.
    let me = agent.desk.user().id;
    let active = |active| UserPatch {
        active: Some(active),
        ..UserPatch::default()
    };
    api.update_user(&admin, me, &active(false)).await.unwrap();
    agent
        .wait_for("uncounted", |e| {
            matches!(e, DeskEvent::UrgentCount { count: 0 })
        })
        .await;
    assert_eq!(agent.notifier.withdrawals(), vec![ticket.id]);

    // Back, and signed in again: the ticket still waits, so it is alerted again.
    api.update_user(&admin, me, &active(true)).await.unwrap();
    let session = Session::login(
        Api::new(&server.url()).unwrap(),
        Arc::new(MemoryStore::new()),
        "agent1@acme.test",
        demo::DEMO_PASSWORD,
    )
    .await
    .unwrap();
    agent.desk.resume(session);
    agent
        .wait_for("alerted again", |e| {
            matches!(e, DeskEvent::Alert { alert, shown: true } if alert.body.starts_with("Urgent, not yet"))
        })
        .await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while agent.desk.urgent_count() != 1 {
        assert!(tokio::time::Instant::now() < deadline, "not counted again");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let alerts = agent.notifier.alerts();
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    assert_eq!(alerts[1].ticket_ids, vec![ticket.id]);
    assert!(
        alerts[1].body.starts_with("Urgent, not yet acknowledged"),
        "{}",
        alerts[1].body
    );
    agent.desk.shutdown().await;
}
