//! The operations (`deskbell_server::ops`) called directly, as the REST handlers and the demo
//! simulator call them: a member and a typed input against a real database holding the demo's
//! data (SQLite, or PostgreSQL when `DESKBELL_TEST_POSTGRES_URL` is set), no HTTP. Each
//! refusal is checked to change nothing: no row, no event, no file.

mod support;

use deskbell_protocol::{
    CompanyPatch, EventAction, EventEnvelope, Id, LanePatch, LoginRequest, NewComment, NewLane,
    NewTicket, NewUser, Priority, Requester, Resource, Role, SessionEndReason, TicketPatch,
    TicketStatus, UserPatch,
};
use sqlx::Row;

use deskbell_server::auth::{AuthFailure, AuthUser};
use deskbell_server::demo::{self, DEMO_PASSWORD};
use deskbell_server::error::{Limit, OpError};
use deskbell_server::ops::attachments::{FileName, NewAttachment};
use deskbell_server::ops::{account, attachments, comments, company, lanes, tickets, users};
use deskbell_server::outbox::SessionEnd;
use deskbell_server::{escalation, store, AppState, Config};

/// The demo's Acme Support: company 1, its admin and two agents.
const ACME: Id = 1;
const ADMIN: &str = "admin@acme.test";
const ANA: &str = "agent1@acme.test";
const BEN: &str = "agent2@acme.test";

struct Fixture {
    state: AppState,
    _data: tempfile::TempDir,
}

impl Fixture {
    async fn new() -> Fixture {
        Fixture::with(|_| {}).await
    }

    async fn with(configure: impl FnOnce(&mut Config)) -> Fixture {
        let data = tempfile::tempdir().expect("tempdir");
        let mut config = Config::new(data.path().to_path_buf());
        config.jwt_secret = Some("ops-test-secret".into());
        config.writes_per_minute = 0;
        config.database_url = support::database_url().await;
        configure(&mut config);
        let state = deskbell_server::prepare(config).await.expect("state");
        demo::seed(&state).await.expect("seed");
        Fixture { state, _data: data }
    }

    /// A member of the demo, acting outside any session (as the demo simulator does).
    async fn member(&self, email: &str) -> AuthUser {
        let user = sqlx::query(&format!(
            "SELECT {} FROM users WHERE email = $1 ORDER BY id LIMIT 1",
            store::USER_COLUMNS
        ))
        .bind(email)
        .fetch_one(&self.state.db.pool)
        .await
        .map(|row| store::user_from_row(&row).expect("user"))
        .expect("demo member");
        AuthUser {
            user,
            session: String::new(),
        }
    }

    async fn head(&self) -> i64 {
        store::event_head(&self.state.db.pool, ACME).await.unwrap()
    }

    /// Acme's events after `after`: resource and envelope (session ends have none).
    async fn events_after(&self, after: i64) -> Vec<(Resource, Option<EventEnvelope>)> {
        sqlx::query(
            "SELECT resource, payload FROM events WHERE company_id = $1 AND seq > $2 ORDER BY seq",
        )
        .bind(ACME)
        .bind(after)
        .fetch_all(&self.state.db.pool)
        .await
        .unwrap()
        .iter()
        .map(|row| {
            let resource = Resource::parse(&row.get::<String, _>("resource")).unwrap();
            let payload: String = row.get("payload");
            let envelope = (resource != Resource::Session)
                .then(|| serde_json::from_str(&payload).expect("an envelope"));
            (resource, envelope)
        })
        .collect()
    }

    async fn count(&self, sql: &str) -> i64 {
        sqlx::query(sql)
            .fetch_one(&self.state.db.pool)
            .await
            .unwrap()
            .get(0)
    }

    /// A snapshot of everything a refused operation must leave alone.
    async fn fingerprint(&self) -> [i64; 6] {
        [
            self.head().await,
            self.count("SELECT COUNT(*) FROM tickets").await,
            self.count("SELECT COUNT(*) FROM comments").await,
            self.count("SELECT COUNT(*) FROM attachments").await,
            self.count("SELECT COUNT(*) FROM lanes").await,
            self.count("SELECT COUNT(*) FROM users").await,
        ]
    }

    /// Files stored under the attachments directory.
    fn stored_files(&self) -> usize {
        fn walk(dir: &std::path::Path) -> usize {
            std::fs::read_dir(dir).map_or(0, |entries| {
                entries
                    .flatten()
                    .map(|e| {
                        let path = e.path();
                        if path.is_dir() {
                            walk(&path)
                        } else {
                            1
                        }
                    })
                    .sum()
            })
        }
        walk(&self.state.attachments_dir())
    }
}

fn new_ticket(title: &str, assignee_id: Option<Id>) -> NewTicket {
    NewTicket {
        title: title.into(),
        requester: Requester {
            name: "Maria Keller".into(),
            contact: None,
        },
        priority: None,
        status: None,
        assignee_id,
        lane_id: None,
        message: Some("It broke.".into()),
    }
}

fn actions(events: &[(Resource, Option<EventEnvelope>)]) -> Vec<(Resource, Option<EventAction>)> {
    events
        .iter()
        .map(|(resource, envelope)| (*resource, envelope.as_ref().map(|e| e.action)))
        .collect()
}

#[tokio::test]
async fn a_ticket_is_created_with_its_first_message_and_its_event() {
    let f = Fixture::new().await;
    let ana = f.member(ANA).await;
    let head = f.head().await;
    let ticket = tickets::create(&f.state, &ana, new_ticket("  Printer on fire ", None))
        .await
        .expect("created");
    assert_eq!(ticket.title, "Printer on fire");
    assert_eq!(ticket.creator_id, ana.user.id);
    assert_eq!(ticket.comment_count, 1);
    assert_eq!(ticket.last_message.as_deref(), Some("It broke."));
    let first = comments::list(&f.state, &ana, ticket.id).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].body, "It broke.");
    let events = f.events_after(head).await;
    assert_eq!(
        actions(&events),
        [(Resource::Ticket, Some(EventAction::Create))]
    );
    let envelope = events[0].1.as_ref().unwrap();
    assert_eq!(envelope.user_id, ana.user.id);
    assert_eq!(envelope.ticket.as_ref(), Some(&ticket));
}

#[tokio::test]
async fn a_refused_ticket_changes_nothing() {
    let f = Fixture::new().await;
    let ana = f.member(ANA).await;
    let before = f.fingerprint().await;
    let blank = tickets::create(&f.state, &ana, new_ticket("   ", None)).await;
    assert!(matches!(blank, Err(OpError::Validation(_))), "{blank:?}");
    let stranger = tickets::create(&f.state, &ana, new_ticket("t", Some(999_999))).await;
    assert!(
        matches!(stranger, Err(OpError::Validation(_))),
        "{stranger:?}"
    );
    let mut in_no_lane = new_ticket("t", None);
    in_no_lane.lane_id = Some(0);
    let refused = tickets::create(&f.state, &ana, in_no_lane).await;
    assert!(
        matches!(refused, Err(OpError::Validation(_))),
        "{refused:?}"
    );
    assert_eq!(f.fingerprint().await, before);
}

#[tokio::test]
async fn an_agent_cannot_reach_a_colleagues_ticket() {
    let f = Fixture::new().await;
    let (admin, ana, ben) = (
        f.member(ADMIN).await,
        f.member(ANA).await,
        f.member(BEN).await,
    );
    let bens = tickets::create(&f.state, &admin, new_ticket("Ben's", Some(ben.user.id)))
        .await
        .unwrap();
    let before = f.fingerprint().await;
    let shown = tickets::show(&f.state, &ana, bens.id).await;
    assert!(
        matches!(shown, Err(OpError::NotFound("ticket"))),
        "{shown:?}"
    );
    let listed = tickets::list(&f.state, &ana, tickets::TicketFilter::default())
        .await
        .unwrap();
    assert!(listed.iter().all(|t| t.id != bens.id));
    let patch = TicketPatch {
        priority: Some(Priority::Urgent),
        ..TicketPatch::default()
    };
    let patched = tickets::patch(&f.state, &ana, bens.id, None, patch).await;
    assert!(
        matches!(patched, Err(OpError::NotFound("ticket"))),
        "{patched:?}"
    );
    let comment = NewComment {
        body: "hi".into(),
        from_requester: false,
    };
    let commented = comments::create(&f.state, &ana, bens.id, comment).await;
    assert!(
        matches!(commented, Err(OpError::NotFound("ticket"))),
        "{commented:?}"
    );
    assert_eq!(f.fingerprint().await, before);
    // Ben sees it, and so does every admin.
    assert_eq!(tickets::show(&f.state, &ben, bens.id).await.unwrap(), bens);
    assert_eq!(
        tickets::show(&f.state, &admin, bens.id).await.unwrap(),
        bens
    );
}

#[tokio::test]
async fn a_stale_version_is_a_conflict_carrying_the_current_ticket() {
    let f = Fixture::new().await;
    let ana = f.member(ANA).await;
    let ticket = tickets::create(&f.state, &ana, new_ticket("t", None))
        .await
        .unwrap();
    let urgent = TicketPatch {
        priority: Some(Priority::Urgent),
        ..TicketPatch::default()
    };
    let now = tickets::patch(
        &f.state,
        &ana,
        ticket.id,
        Some(ticket.version),
        urgent.clone(),
    )
    .await
    .unwrap();
    assert_eq!(now.version, ticket.version + 1);
    let before = f.fingerprint().await;
    let stale = tickets::patch(&f.state, &ana, ticket.id, Some(ticket.version), urgent).await;
    match stale {
        Err(OpError::Conflict {
            current: Some(current),
            ..
        }) => assert_eq!(*current, now),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(f.fingerprint().await, before);
}

#[tokio::test]
async fn taking_a_ticket_tells_the_other_agents_it_is_gone() {
    let f = Fixture::new().await;
    let (ana, ben) = (f.member(ANA).await, f.member(BEN).await);
    let ticket = tickets::create(&f.state, &ana, new_ticket("t", None))
        .await
        .unwrap();
    let head = f.head().await;
    let take = TicketPatch {
        assignee_id: Some(Some(ana.user.id)),
        ..TicketPatch::default()
    };
    tickets::patch(&f.state, &ana, ticket.id, None, take)
        .await
        .unwrap();
    let events = f.events_after(head).await;
    assert_eq!(
        actions(&events),
        [
            (Resource::Ticket, Some(EventAction::Assign)),
            (Resource::Ticket, Some(EventAction::Delete)),
        ]
    );
    let gone = events[1].1.as_ref().unwrap();
    assert_eq!(gone.ticket_id, Some(ticket.id));
    assert_eq!(
        gone.stream,
        Some(deskbell_protocol::EventStream::AgentsExcept(ana.user.id))
    );
    let shown = tickets::show(&f.state, &ben, ticket.id).await;
    assert!(matches!(shown, Err(OpError::NotFound(_))), "{shown:?}");
}

#[tokio::test]
async fn moving_to_a_lane_is_a_move_event() {
    let f = Fixture::new().await;
    let ana = f.member(ANA).await;
    let ticket = tickets::create(&f.state, &ana, new_ticket("t", None))
        .await
        .unwrap();
    let lane = lanes::list(&f.state, &ana).await.unwrap()[1].id;
    let head = f.head().await;
    let moved = tickets::move_to_lane(&f.state, &ana, ticket.id, Some(ticket.version), Some(lane))
        .await
        .unwrap();
    assert_eq!(moved.lane_id, Some(lane));
    let events = f.events_after(head).await;
    assert_eq!(
        actions(&events),
        [(Resource::Ticket, Some(EventAction::Move))]
    );
    let envelope = events[0].1.as_ref().unwrap();
    assert_eq!(envelope.to, Some(serde_json::json!(lane)));
    let before = f.fingerprint().await;
    let nowhere = tickets::move_to_lane(&f.state, &ana, ticket.id, None, Some(999_999)).await;
    assert!(
        matches!(nowhere, Err(OpError::Validation(_))),
        "{nowhere:?}"
    );
    let stranger = TicketPatch {
        assignee_id: Some(Some(999_999)),
        ..TicketPatch::default()
    };
    let nobody = tickets::patch(&f.state, &ana, ticket.id, None, stranger).await;
    assert!(matches!(nobody, Err(OpError::Validation(_))), "{nobody:?}");
    assert_eq!(f.fingerprint().await, before);
    assert_eq!(
        tickets::show(&f.state, &ana, ticket.id).await.unwrap(),
        moved
    );
}

#[tokio::test]
async fn only_an_admin_deletes_a_ticket_and_its_files_go_with_it() {
    let f = Fixture::new().await;
    let (admin, ana) = (f.member(ADMIN).await, f.member(ANA).await);
    let ticket = tickets::create(&f.state, &ana, new_ticket("t", None))
        .await
        .unwrap();
    let file = NewAttachment {
        ticket_id: ticket.id,
        name: FileName::parse("log.txt").unwrap(),
        content_type: Some("text/plain".into()),
        bytes: b"line".to_vec(),
    };
    attachments::upload(&f.state, &ana, file).await.unwrap();
    assert_eq!(f.stored_files(), 1);
    let before = f.fingerprint().await;
    let refused = tickets::delete(&f.state, &ana, ticket.id).await;
    assert!(matches!(refused, Err(OpError::Forbidden(_))), "{refused:?}");
    assert_eq!(f.fingerprint().await, before);
    assert_eq!(f.stored_files(), 1);

    tickets::delete(&f.state, &admin, ticket.id).await.unwrap();
    let gone = tickets::show(&f.state, &admin, ticket.id).await;
    assert!(matches!(gone, Err(OpError::NotFound(_))), "{gone:?}");
    assert_eq!(f.stored_files(), 0);
    let events = f.events_after(before[0]).await;
    assert_eq!(
        actions(&events),
        [(Resource::Ticket, Some(EventAction::Delete))]
    );
    let missing = tickets::delete(&f.state, &admin, ticket.id).await;
    assert!(matches!(missing, Err(OpError::NotFound(_))), "{missing:?}");
}

#[tokio::test]
async fn a_comment_updates_its_ticket_and_only_its_author_or_an_admin_deletes_it() {
    let f = Fixture::new().await;
    let (admin, ana, ben) = (
        f.member(ADMIN).await,
        f.member(ANA).await,
        f.member(BEN).await,
    );
    let ticket = tickets::create(&f.state, &ana, new_ticket("t", None))
        .await
        .unwrap();
    let head = f.head().await;
    let body = NewComment {
        body: "first line\r\nsecond".into(),
        from_requester: false,
    };
    let comment = comments::create(&f.state, &ana, ticket.id, body)
        .await
        .unwrap();
    assert_eq!(comment.body, "first line\nsecond");
    let events = f.events_after(head).await;
    assert_eq!(
        actions(&events),
        [(Resource::Comment, Some(EventAction::Create))]
    );
    let after = events[0].1.as_ref().unwrap().ticket.clone().unwrap();
    assert_eq!(after.comment_count, 2);
    assert_eq!(after.version, ticket.version + 1);
    assert_eq!(after.last_message.as_deref(), Some("first line\nsecond"));

    let before = f.fingerprint().await;
    let blank = NewComment {
        body: " ".into(),
        from_requester: false,
    };
    let empty = comments::create(&f.state, &ana, ticket.id, blank).await;
    assert!(matches!(empty, Err(OpError::Validation(_))), "{empty:?}");
    let not_theirs = comments::delete(&f.state, &ben, comment.id).await;
    assert!(
        matches!(not_theirs, Err(OpError::Forbidden(_))),
        "{not_theirs:?}"
    );
    assert_eq!(f.fingerprint().await, before);

    comments::delete(&f.state, &admin, comment.id)
        .await
        .unwrap();
    let shown = tickets::show(&f.state, &ana, ticket.id).await.unwrap();
    assert_eq!(shown.comment_count, 1);
    assert_eq!(shown.last_message.as_deref(), Some("It broke."));
}

#[tokio::test]
async fn the_first_message_and_recorded_replies_are_the_requesters_words() {
    let f = Fixture::new().await;
    let ana = f.member(ANA).await;
    let ticket = tickets::create(&f.state, &ana, new_ticket("t", None))
        .await
        .unwrap();
    let reply = NewComment {
        body: "They called: it works again.".into(),
        from_requester: true,
    };
    let recorded = comments::create(&f.state, &ana, ticket.id, reply)
        .await
        .unwrap();
    assert!(recorded.from_requester);
    assert_eq!(recorded.author_id, ana.user.id, "who recorded it");
    let own = NewComment {
        body: "Closing then.".into(),
        from_requester: false,
    };
    comments::create(&f.state, &ana, ticket.id, own)
        .await
        .unwrap();
    let thread = comments::list(&f.state, &ana, ticket.id).await.unwrap();
    assert_eq!(
        thread
            .iter()
            .map(|c| (c.body.as_str(), c.from_requester))
            .collect::<Vec<_>>(),
        [
            ("It broke.", true),
            ("They called: it works again.", true),
            ("Closing then.", false)
        ]
    );
}

#[tokio::test]
async fn an_attachment_over_the_limit_is_refused_before_anything_is_stored() {
    let f = Fixture::with(|config| config.max_attachment_bytes = 8).await;
    let (ana, ben) = (f.member(ANA).await, f.member(BEN).await);
    let ticket = tickets::create(&f.state, &ana, new_ticket("t", None))
        .await
        .unwrap();
    let file = |bytes: &[u8]| NewAttachment {
        ticket_id: ticket.id,
        name: FileName::parse("C:\\logs\\report.txt").unwrap(),
        content_type: Some("Text/Plain; charset=utf-8".into()),
        bytes: bytes.to_vec(),
    };
    let before = f.fingerprint().await;
    let big = attachments::upload(&f.state, &ana, file(b"123456789")).await;
    assert!(matches!(big, Err(OpError::PayloadTooLarge(_))), "{big:?}");
    assert!(matches!(FileName::parse(".."), Err(OpError::Validation(_))));
    assert_eq!(f.fingerprint().await, before);
    assert_eq!(f.stored_files(), 0);

    let attachment = attachments::upload(&f.state, &ana, file(b"12345678"))
        .await
        .unwrap();
    assert_eq!(attachment.name, "report.txt");
    assert_eq!(attachment.content_type, "text/plain");
    assert_eq!(attachment.size, 8);
    assert_eq!(f.stored_files(), 1);
    let events = f.events_after(before[0]).await;
    assert_eq!(
        actions(&events),
        [(Resource::Attachment, Some(EventAction::Create))]
    );
    let (_, bytes) = attachments::download(&f.state, &ben, attachment.id)
        .await
        .unwrap();
    assert_eq!(bytes, b"12345678");

    let before = f.fingerprint().await;
    let not_theirs = attachments::delete(&f.state, &ben, attachment.id).await;
    assert!(
        matches!(not_theirs, Err(OpError::Forbidden(_))),
        "{not_theirs:?}"
    );
    assert_eq!(f.fingerprint().await, before);
    attachments::delete(&f.state, &ana, attachment.id)
        .await
        .unwrap();
    assert_eq!(f.stored_files(), 0);
}

#[tokio::test]
async fn an_upload_to_a_ticket_out_of_sight_leaves_no_file_behind() {
    let f = Fixture::new().await;
    let (admin, ana, ben) = (
        f.member(ADMIN).await,
        f.member(ANA).await,
        f.member(BEN).await,
    );
    let bens = tickets::create(&f.state, &admin, new_ticket("t", Some(ben.user.id)))
        .await
        .unwrap();
    let before = f.fingerprint().await;
    let file = NewAttachment {
        ticket_id: bens.id,
        name: FileName::parse("x.txt").unwrap(),
        content_type: None,
        bytes: b"x".to_vec(),
    };
    let refused = attachments::upload(&f.state, &ana, file).await;
    assert!(
        matches!(refused, Err(OpError::NotFound("ticket"))),
        "{refused:?}"
    );
    assert_eq!(f.fingerprint().await, before);
    assert_eq!(f.stored_files(), 0);
}

#[tokio::test]
async fn lanes_are_an_admins_and_deleting_one_moves_its_tickets_out() {
    let f = Fixture::new().await;
    let (admin, ana) = (f.member(ADMIN).await, f.member(ANA).await);
    let before = f.fingerprint().await;
    let by_agent = lanes::create(
        &f.state,
        &ana,
        NewLane {
            name: "Mine".into(),
            color: "#000000".into(),
            position: None,
        },
    )
    .await;
    assert!(
        matches!(by_agent, Err(OpError::Forbidden(_))),
        "{by_agent:?}"
    );
    let red = lanes::create(
        &f.state,
        &admin,
        NewLane {
            name: "Escalated".into(),
            color: "red".into(),
            position: None,
        },
    )
    .await;
    assert!(matches!(red, Err(OpError::Validation(_))), "{red:?}");
    let nothing = lanes::update(&f.state, &admin, 1, LanePatch::default()).await;
    assert!(
        matches!(nothing, Err(OpError::Validation(_))),
        "{nothing:?}"
    );
    let missing = lanes::update(
        &f.state,
        &admin,
        999_999,
        LanePatch {
            name: Some("x".into()),
            ..LanePatch::default()
        },
    )
    .await;
    assert!(
        matches!(missing, Err(OpError::NotFound("lane"))),
        "{missing:?}"
    );
    assert_eq!(f.fingerprint().await, before);

    let lane = lanes::create(
        &f.state,
        &admin,
        NewLane {
            name: "Escalated".into(),
            color: "#FF0000".into(),
            position: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(lane.color, "#ff0000");
    assert_eq!(lane.position, 4, "after the demo's four lanes");
    let mut held = Vec::new();
    for title in ["a", "b"] {
        let mut new = new_ticket(title, None);
        new.lane_id = Some(lane.id);
        held.push(tickets::create(&f.state, &ana, new).await.unwrap().id);
    }
    let head = f.head().await;
    lanes::delete(&f.state, &admin, lane.id).await.unwrap();
    let events = f.events_after(head).await;
    assert_eq!(
        actions(&events),
        [
            (Resource::Ticket, Some(EventAction::Move)),
            (Resource::Ticket, Some(EventAction::Move)),
            (Resource::Lane, Some(EventAction::Delete)),
        ]
    );
    for id in held {
        assert_eq!(
            tickets::show(&f.state, &ana, id).await.unwrap().lane_id,
            None
        );
    }
}

#[tokio::test]
async fn members_are_managed_by_admins_who_cannot_demote_themselves() {
    let f = Fixture::new().await;
    let (admin, ana) = (f.member(ADMIN).await, f.member(ANA).await);
    let new = |email: &str| NewUser {
        name: "Cleo".into(),
        email: email.into(),
        password: "long enough".into(),
        role: Role::Agent,
    };
    let before = f.fingerprint().await;
    let by_agent = users::create(&f.state, &ana, new("cleo@acme.test")).await;
    assert!(
        matches!(by_agent, Err(OpError::Forbidden(_))),
        "{by_agent:?}"
    );
    let taken = users::create(&f.state, &admin, new(BEN)).await;
    assert!(matches!(taken, Err(OpError::Conflict { .. })), "{taken:?}");
    let short = users::create(
        &f.state,
        &admin,
        NewUser {
            password: "short".into(),
            ..new("cleo@acme.test")
        },
    )
    .await;
    assert!(matches!(short, Err(OpError::Validation(_))), "{short:?}");
    let demote = UserPatch {
        role: Some(Role::Agent),
        ..UserPatch::default()
    };
    let itself = users::update(&f.state, &admin, admin.user.id, demote).await;
    assert!(matches!(itself, Err(OpError::Validation(_))), "{itself:?}");
    assert_eq!(f.fingerprint().await, before);

    let cleo = users::create(&f.state, &admin, new(" Cleo@Acme.test "))
        .await
        .unwrap();
    assert_eq!(cleo.email, "cleo@acme.test");
    assert!(users::list(&f.state, &ana).await.unwrap().contains(&cleo));
}

#[tokio::test]
async fn disabling_a_member_ends_their_sessions_in_the_log() {
    let f = Fixture::new().await;
    let admin = f.member(ADMIN).await;
    let signed_in = account::login(&f.state, login(ANA, DEMO_PASSWORD), None)
        .await
        .expect("signed in");
    let ana = account::authenticate(&f.state, &signed_in.access_token)
        .await
        .expect("a live session");
    let head = f.head().await;
    let disable = UserPatch {
        active: Some(false),
        ..UserPatch::default()
    };
    let disabled = users::update(&f.state, &admin, ana.user.id, disable)
        .await
        .unwrap();
    assert!(!disabled.active);
    assert_eq!(
        actions(&f.events_after(head).await),
        [(Resource::Session, None)]
    );
    let end: SessionEnd = serde_json::from_str(
        &sqlx::query("SELECT payload FROM events WHERE company_id = $1 AND seq = $2")
            .bind(ACME)
            .bind(head + 1)
            .fetch_one(&f.state.db.pool)
            .await
            .unwrap()
            .get::<String, _>("payload"),
    )
    .unwrap();
    assert_eq!(end.user_id, ana.user.id);
    assert_eq!(end.reason, SessionEndReason::Deactivated);
    assert!(account::authenticate(&f.state, &signed_in.access_token)
        .await
        .is_err());
    let refreshed = account::refresh(&f.state, &signed_in.refresh_token).await;
    assert!(
        matches!(refreshed, Err(OpError::Unauthorized(_))),
        "{refreshed:?}"
    );
}

fn login(email: &str, password: &str) -> LoginRequest {
    LoginRequest {
        email: email.into(),
        password: password.into(),
        company_id: None,
    }
}

#[tokio::test]
async fn sessions_open_rotate_and_end() {
    let f = Fixture::new().await;
    let wrong = account::login(&f.state, login(ANA, "not the password"), None).await;
    assert!(
        matches!(wrong, Err(OpError::InvalidCredentials)),
        "{wrong:?}"
    );
    let blank = account::login(&f.state, login(" ", DEMO_PASSWORD), None).await;
    assert!(matches!(blank, Err(OpError::Validation(_))), "{blank:?}");

    let first = account::login(&f.state, login(" Agent1@Acme.test", DEMO_PASSWORD), None)
        .await
        .unwrap();
    assert_eq!(first.user.email, ANA);
    let second = account::refresh(&f.state, &first.refresh_token)
        .await
        .unwrap();
    // The first refresh token was used: presenting it again revokes the whole session.
    let head = f.head().await;
    let reused = account::refresh(&f.state, &first.refresh_token).await;
    assert!(matches!(reused, Err(OpError::RefreshReused)), "{reused:?}");
    assert_eq!(
        actions(&f.events_after(head).await),
        [(Resource::Session, None)]
    );
    let after_reuse = account::refresh(&f.state, &second.refresh_token).await;
    assert!(
        matches!(after_reuse, Err(OpError::Unauthorized(_))),
        "{after_reuse:?}"
    );

    let third = account::login(&f.state, login(ANA, DEMO_PASSWORD), None)
        .await
        .unwrap();
    let ana = account::authenticate(&f.state, &third.access_token)
        .await
        .unwrap();
    assert_eq!(account::me(&f.state, &ana).await.unwrap().company.id, ACME);
    account::logout(&f.state, &ana, None).await.unwrap();
    assert_eq!(
        account::authenticate(&f.state, &third.access_token)
            .await
            .err(),
        Some(AuthFailure::Revoked)
    );
}

#[tokio::test]
async fn the_write_limit_is_counted_before_the_write() {
    let f = Fixture::with(|config| {
        config.writes_per_minute = 10;
        config.member_writes_per_minute = Some(1);
    })
    .await;
    let ana = f.member(ANA).await;
    tickets::create(&f.state, &ana, new_ticket("first", None))
        .await
        .unwrap();
    let before = f.fingerprint().await;
    let second = tickets::create(&f.state, &ana, new_ticket("second", None)).await;
    assert!(
        matches!(
            second,
            Err(OpError::RateLimited {
                limit: Limit::MemberWrites,
                ..
            })
        ),
        "{second:?}"
    );
    let file = NewAttachment {
        ticket_id: 1,
        name: FileName::parse("x.txt").unwrap(),
        content_type: None,
        bytes: b"x".to_vec(),
    };
    let upload = attachments::upload(&f.state, &ana, file).await;
    assert!(
        matches!(upload, Err(OpError::RateLimited { .. })),
        "{upload:?}"
    );
    assert_eq!(f.fingerprint().await, before);
    assert_eq!(f.stored_files(), 0);
}

// --- Urgent episodes, acknowledgement, escalation (protocol 2) ---

fn urgent_ticket(title: &str, assignee_id: Option<Id>) -> NewTicket {
    NewTicket {
        priority: Some(Priority::Urgent),
        ..new_ticket(title, assignee_id)
    }
}

fn priority(p: Priority) -> TicketPatch {
    TicketPatch {
        priority: Some(p),
        ..TicketPatch::default()
    }
}

impl Fixture {
    /// The ticket's escalation timer as stored.
    async fn due(&self, id: Id) -> Option<String> {
        sqlx::query("SELECT escalate_due_at FROM tickets WHERE id = $1")
            .bind(id)
            .fetch_one(&self.state.db.pool)
            .await
            .unwrap()
            .get(0)
    }

    /// Moves the ticket's armed timer into the past, as if its minutes had gone by.
    async fn make_due(&self, id: Id) {
        let past = store::ts(chrono::Utc::now() - chrono::Duration::seconds(1));
        let changed = sqlx::query(
            "UPDATE tickets SET escalate_due_at = $1 WHERE id = $2 AND escalate_due_at IS NOT NULL",
        )
        .bind(past)
        .bind(id)
        .execute(&self.state.db.pool)
        .await
        .unwrap()
        .rows_affected();
        assert_eq!(changed, 1, "ticket {id} has no armed timer");
    }

    async fn escalate_now(&self) -> usize {
        escalation::escalate_due(&self.state, chrono::Utc::now())
            .await
            .expect("escalation check")
    }
}

#[tokio::test]
async fn an_urgent_ticket_starts_an_episode_and_arms_the_timer() {
    let f = Fixture::new().await;
    let admin = f.member(ADMIN).await;
    let before = chrono::Utc::now();
    let ticket = tickets::create(&f.state, &admin, urgent_ticket("Site down", None))
        .await
        .unwrap();
    let since = ticket.urgent_since.expect("urgent_since");
    assert!(since >= before - chrono::Duration::seconds(1));
    assert_eq!(ticket.urgent_by, Some(admin.user.id));
    assert!(ticket.awaits_acknowledgement());
    let minutes = company::get(&f.state, &admin)
        .await
        .unwrap()
        .escalate_after_minutes;
    assert_eq!(
        f.due(ticket.id).await,
        Some(store::ts(since + chrono::Duration::minutes(minutes)))
    );
    // A normal ticket has none of it.
    let normal = tickets::create(&f.state, &admin, new_ticket("calm", None))
        .await
        .unwrap();
    assert_eq!(normal.urgent_since, None);
    assert_eq!(f.due(normal.id).await, None);
}

#[tokio::test]
async fn acknowledging_records_who_once_and_tells_the_tickets_audience() {
    let f = Fixture::new().await;
    let (admin, ana, ben) = (
        f.member(ADMIN).await,
        f.member(ANA).await,
        f.member(BEN).await,
    );
    let ticket = tickets::create(&f.state, &admin, urgent_ticket("Site down", None))
        .await
        .unwrap();
    let head = f.head().await;
    let acked = tickets::acknowledge(&f.state, &ana, ticket.id)
        .await
        .unwrap();
    assert_eq!(acked.acknowledged_by, Some(ana.user.id));
    assert!(acked.acknowledged_at.is_some());
    assert_eq!(acked.version, ticket.version + 1);
    assert_eq!(acked.urgent_since, ticket.urgent_since);
    assert!(!acked.awaits_acknowledgement());
    assert_eq!(f.due(ticket.id).await, None, "acknowledging disarms");
    let events = f.events_after(head).await;
    assert_eq!(
        actions(&events),
        [(Resource::Ticket, Some(EventAction::Acknowledge))]
    );
    let event = events[0].1.as_ref().unwrap();
    assert_eq!(event.ticket.as_ref(), Some(&acked));
    assert_eq!(event.user_id, ana.user.id);
    assert_eq!(event.stream, Some(deskbell_protocol::EventStream::All));

    // Idempotent: the first acknowledger stays, nothing is recorded.
    let fingerprint = f.fingerprint().await;
    let again = tickets::acknowledge(&f.state, &ben, ticket.id)
        .await
        .unwrap();
    assert_eq!(again, acked);
    assert_eq!(f.fingerprint().await, fingerprint);
}

#[tokio::test]
async fn only_who_sees_an_open_urgent_ticket_may_acknowledge_it() {
    let f = Fixture::new().await;
    let (admin, ana, ben) = (
        f.member(ADMIN).await,
        f.member(ANA).await,
        f.member(BEN).await,
    );
    let globex = f.member("admin@globex.test").await;
    let bens = tickets::create(&f.state, &admin, urgent_ticket("Ben's", Some(ben.user.id)))
        .await
        .unwrap();
    let normal = tickets::create(&f.state, &admin, new_ticket("calm", None))
        .await
        .unwrap();
    let closed = tickets::create(
        &f.state,
        &admin,
        NewTicket {
            status: Some(TicketStatus::Closed),
            ..urgent_ticket("done", None)
        },
    )
    .await
    .unwrap();
    let before = f.fingerprint().await;
    for (who, id) in [(&ana, bens.id), (&globex, bens.id), (&ana, 999_999)] {
        let refused = tickets::acknowledge(&f.state, who, id).await;
        assert!(
            matches!(refused, Err(OpError::NotFound("ticket"))),
            "{refused:?}"
        );
    }
    for ticket in [&normal, &closed] {
        match tickets::acknowledge(&f.state, &ana, ticket.id).await {
            Err(OpError::Conflict {
                current: Some(current),
                ..
            }) => assert_eq!(*current, *ticket),
            other => panic!("expected a conflict, got {other:?}"),
        }
    }
    assert_eq!(f.fingerprint().await, before);
    // The assignee and any admin may.
    let acked = tickets::acknowledge(&f.state, &ben, bens.id).await.unwrap();
    assert_eq!(acked.acknowledged_by, Some(ben.user.id));
    let other = tickets::create(&f.state, &ana, urgent_ticket("other", None))
        .await
        .unwrap();
    let acked = tickets::acknowledge(&f.state, &admin, other.id)
        .await
        .unwrap();
    assert_eq!(acked.acknowledged_by, Some(admin.user.id));
}

#[tokio::test]
async fn a_new_urgent_episode_needs_a_new_acknowledgement() {
    let f = Fixture::new().await;
    let (admin, ana) = (f.member(ADMIN).await, f.member(ANA).await);
    let ticket = tickets::create(&f.state, &admin, urgent_ticket("flaky", None))
        .await
        .unwrap();
    tickets::acknowledge(&f.state, &ana, ticket.id)
        .await
        .unwrap();
    // Lowering the priority ends the episode: everything cleared, no timer.
    let high = tickets::patch(&f.state, &admin, ticket.id, None, priority(Priority::High))
        .await
        .unwrap();
    assert_eq!(
        (
            high.urgent_since,
            high.urgent_by,
            high.acknowledged_by,
            high.acknowledged_at
        ),
        (None, None, None, None)
    );
    assert_eq!(f.due(ticket.id).await, None);
    // Urgent again: a new episode, by whoever raised it, unacknowledged and armed.
    let head = f.head().await;
    let again = tickets::patch(&f.state, &ana, ticket.id, None, priority(Priority::Urgent))
        .await
        .unwrap();
    assert!(again.urgent_since.unwrap() > ticket.urgent_since.unwrap());
    assert_eq!(again.urgent_by, Some(ana.user.id));
    assert!(again.awaits_acknowledgement());
    assert!(f.due(ticket.id).await.is_some());
    assert_eq!(
        actions(&f.events_after(head).await),
        [(Resource::Ticket, Some(EventAction::PriorityChange))]
    );
    let acked = tickets::acknowledge(&f.state, &admin, ticket.id)
        .await
        .unwrap();
    assert_eq!(acked.acknowledged_by, Some(admin.user.id));
}

#[tokio::test]
async fn taking_or_closing_an_urgent_ticket_acknowledges_it() {
    let f = Fixture::new().await;
    let (admin, ana) = (f.member(ADMIN).await, f.member(ANA).await);
    let taken = tickets::create(&f.state, &admin, urgent_ticket("take me", None))
        .await
        .unwrap();
    let head = f.head().await;
    let take = TicketPatch {
        assignee_id: Some(Some(ana.user.id)),
        ..TicketPatch::default()
    };
    let after = tickets::patch(&f.state, &ana, taken.id, None, take)
        .await
        .unwrap();
    assert_eq!(after.acknowledged_by, Some(ana.user.id));
    assert_eq!(f.due(taken.id).await, None);
    assert_eq!(
        actions(&f.events_after(head).await)[0],
        (Resource::Ticket, Some(EventAction::Assign))
    );

    let closed = tickets::create(&f.state, &admin, urgent_ticket("close me", None))
        .await
        .unwrap();
    let head = f.head().await;
    let close = TicketPatch {
        status: Some(TicketStatus::Closed),
        ..TicketPatch::default()
    };
    let after = tickets::patch(&f.state, &ana, closed.id, None, close)
        .await
        .unwrap();
    assert_eq!(after.acknowledged_by, Some(ana.user.id));
    assert_eq!(f.due(closed.id).await, None);
    assert_eq!(
        actions(&f.events_after(head).await),
        [(Resource::Ticket, Some(EventAction::StatusChange))]
    );

    // Assigning it to someone else is not taking it: the timer stays.
    let handed = tickets::create(&f.state, &admin, urgent_ticket("hand over", None))
        .await
        .unwrap();
    let due = f.due(handed.id).await;
    let hand = TicketPatch {
        assignee_id: Some(Some(ana.user.id)),
        ..TicketPatch::default()
    };
    let after = tickets::patch(&f.state, &admin, handed.id, None, hand)
        .await
        .unwrap();
    assert!(after.awaits_acknowledgement());
    assert!(due.is_some());
    assert_eq!(f.due(handed.id).await, due);
}

#[tokio::test]
async fn an_unacknowledged_episode_escalates_once_to_the_admins() {
    let f = Fixture::new().await;
    let (admin, ana) = (f.member(ADMIN).await, f.member(ANA).await);
    let ticket = tickets::create(&f.state, &ana, urgent_ticket("Site down", None))
        .await
        .unwrap();
    let acked = tickets::create(&f.state, &ana, urgent_ticket("handled", None))
        .await
        .unwrap();
    tickets::acknowledge(&f.state, &ana, acked.id)
        .await
        .unwrap();
    // Not due yet: nothing.
    assert_eq!(f.escalate_now().await, 0);
    f.make_due(ticket.id).await;
    let head = f.head().await;
    assert_eq!(f.escalate_now().await, 1);
    let events = f.events_after(head).await;
    assert_eq!(
        actions(&events),
        [(Resource::Ticket, Some(EventAction::Escalate))]
    );
    let event = events[0].1.as_ref().unwrap();
    assert_eq!(event.user_id, deskbell_protocol::SERVER_ACTOR);
    assert_eq!(event.stream, Some(deskbell_protocol::EventStream::Admins));
    // The ticket as it is, unchanged: same version.
    let now = tickets::show(&f.state, &admin, ticket.id).await.unwrap();
    assert_eq!(now, ticket);
    assert_eq!(event.ticket.as_ref(), Some(&ticket));
    assert_eq!(f.due(ticket.id).await, None);
    // Once: a later check, however late, finds nothing; nor does the acknowledged one escalate.
    let far = chrono::Utc::now() + chrono::Duration::days(2);
    assert_eq!(escalation::escalate_due(&f.state, far).await.unwrap(), 0);
    assert_eq!(f.events_after(head).await.len(), 1);
}

#[tokio::test]
async fn the_escalation_comes_after_the_companys_minutes() {
    let f = Fixture::new().await;
    let (admin, ana) = (f.member(ADMIN).await, f.member(ANA).await);
    let ticket = tickets::create(&f.state, &ana, urgent_ticket("Site down", None))
        .await
        .unwrap();
    let since = ticket.urgent_since.unwrap();
    let minutes = company::get(&f.state, &ana)
        .await
        .unwrap()
        .escalate_after_minutes;
    let just_before = since + chrono::Duration::minutes(minutes) - chrono::Duration::seconds(1);
    assert_eq!(
        escalation::escalate_due(&f.state, just_before)
            .await
            .unwrap(),
        0
    );
    // A longer setting re-arms the waiting episode from its start.
    let patched = company::patch(
        &f.state,
        &admin,
        CompanyPatch {
            escalate_after_minutes: Some(60),
        },
    )
    .await
    .unwrap();
    assert_eq!(patched.escalate_after_minutes, 60);
    assert_eq!(
        f.due(ticket.id).await,
        Some(store::ts(since + chrono::Duration::minutes(60)))
    );
    let at_59 = since + chrono::Duration::minutes(59);
    assert_eq!(escalation::escalate_due(&f.state, at_59).await.unwrap(), 0);
    let at_60 = since + chrono::Duration::minutes(60);
    assert_eq!(escalation::escalate_due(&f.state, at_60).await.unwrap(), 1);
}

#[tokio::test]
async fn only_admins_change_the_company_and_within_bounds() {
    let f = Fixture::new().await;
    let (admin, ana) = (f.member(ADMIN).await, f.member(ANA).await);
    let company_before = company::get(&f.state, &ana).await.unwrap();
    assert_eq!(company_before.id, ACME);
    assert_eq!(
        company_before.escalate_after_minutes,
        demo::DEMO_ESCALATE_AFTER_MINUTES
    );
    let ten = CompanyPatch {
        escalate_after_minutes: Some(10),
    };
    let refused = company::patch(&f.state, &ana, ten.clone()).await;
    assert!(matches!(refused, Err(OpError::Forbidden(_))), "{refused:?}");
    for minutes in [0, -1, 1441] {
        let refused = company::patch(
            &f.state,
            &admin,
            CompanyPatch {
                escalate_after_minutes: Some(minutes),
            },
        )
        .await;
        assert!(
            matches!(refused, Err(OpError::Validation(_))),
            "{minutes}: {refused:?}"
        );
    }
    assert_eq!(company::get(&f.state, &ana).await.unwrap(), company_before);
    for minutes in [1, 1440, 10] {
        let changed = company::patch(
            &f.state,
            &admin,
            CompanyPatch {
                escalate_after_minutes: Some(minutes),
            },
        )
        .await
        .unwrap();
        assert_eq!(changed.escalate_after_minutes, minutes);
    }
    assert_eq!(
        company::get(&f.state, &ana)
            .await
            .unwrap()
            .escalate_after_minutes,
        10
    );
    // Another company's setting is its own.
    let globex = f.member("admin@globex.test").await;
    assert_eq!(
        company::get(&f.state, &globex)
            .await
            .unwrap()
            .escalate_after_minutes,
        demo::DEMO_ESCALATE_AFTER_MINUTES
    );
}

#[tokio::test]
async fn members_are_listed_for_everyone_without_emails() {
    let f = Fixture::new().await;
    let (admin, ana) = (f.member(ADMIN).await, f.member(ANA).await);
    let ben = f.member(BEN).await;
    users::update(
        &f.state,
        &admin,
        ben.user.id,
        UserPatch {
            active: Some(false),
            ..UserPatch::default()
        },
    )
    .await
    .unwrap();
    let members = users::members(&f.state, &ana).await.unwrap();
    let names: Vec<(&str, Role, bool)> = members
        .iter()
        .map(|m| (m.name.as_str(), m.role, m.active))
        .collect();
    assert_eq!(
        names,
        [
            ("Alex Admin", Role::Admin, true),
            ("Ana Agent", Role::Agent, true),
            ("Ben Agent", Role::Agent, false),
        ]
    );
    let json = serde_json::to_string(&members).unwrap();
    assert!(!json.contains('@'), "{json}");
}

#[tokio::test]
async fn the_demo_acknowledges_some_urgent_tickets_after_a_while() {
    let f = Fixture::new().await;
    let ben = f.member(BEN).await;
    let mut urgent = Vec::new();
    while urgent.len() < 4 {
        urgent.push(
            tickets::create(&f.state, &ben, urgent_ticket("demo", None))
                .await
                .unwrap(),
        );
    }
    // Not before they have waited (the seeded ones have: days).
    let now = chrono::Utc::now();
    let ours: Vec<Id> = urgent.iter().map(|t| t.id).collect();
    while let Some(t) = demo::acknowledge_waiting(&f.state, &ben, now)
        .await
        .unwrap()
    {
        assert!(!ours.contains(&t.id), "{} acknowledged at once", t.id);
    }
    let later = now + chrono::Duration::from_std(demo::ACKNOWLEDGE_AFTER).unwrap();
    let mut acknowledged = Vec::new();
    while let Some(t) = demo::acknowledge_waiting(&f.state, &ben, later)
        .await
        .unwrap()
    {
        assert_eq!(t.acknowledged_by, Some(ben.user.id));
        acknowledged.push(t.id);
    }
    // Some, not all: the others are left to escalate.
    let ours_acked = acknowledged.iter().filter(|id| ours.contains(id)).count();
    assert_eq!(ours_acked, 2, "acknowledged {acknowledged:?} of {ours:?}");
}
