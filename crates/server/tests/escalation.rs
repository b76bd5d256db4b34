//! Urgent tickets end to end: acknowledging over REST, who receives `acknowledge` and
//! `escalate` live and on replay (real sockets, in process), the escalation timer of running
//! servers (exactly once, across a restart and across nodes on one PostgreSQL database), the
//! company settings and members routes. SQLite, or PostgreSQL when
//! `DESKBELL_TEST_POSTGRES_URL` is set (the several-node test only then).

mod support;

use std::time::{Duration, Instant};

use deskbell_server::{escalation, store, Config};
use serde_json::{json, Value};
use sqlx::Row;
use support::{SioClient, TestServer, WAIT};

/// Checks for due escalations this often in these tests (5 s in production).
const CHECK_EVERY: Duration = Duration::from_millis(50);

fn config(data_dir: &std::path::Path, database_url: Option<String>) -> Config {
    let mut config = Config::new(data_dir.to_path_buf());
    config.bind = "127.0.0.1:0".parse().unwrap();
    config.jwt_secret = Some(support::SECRET.into());
    config.database_url = database_url;
    config.writes_per_minute = 0;
    config.escalation_check_interval = CHECK_EVERY;
    config
}

/// A server checking for escalations every `CHECK_EVERY`, on `data_dir` (SQLite) or
/// `database_url`.
async fn server_on(data_dir: &std::path::Path, database_url: Option<String>) -> TestServer {
    TestServer::start_config(config(data_dir, database_url), tempfile::tempdir().unwrap()).await
}

async fn fast_server() -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let server = server_on(dir.path(), support::database_url().await).await;
    (server, dir)
}

async fn socket(server: &TestServer, token: &str, last_seq: Option<i64>) -> (SioClient, i64) {
    let auth = match last_seq {
        Some(seq) => json!({"token": token, "lastSeq": seq}),
        None => json!({"token": token}),
    };
    let mut client = server.connect("/workspace-1", auth).await.expect("connect");
    let sync = client.wait_for("company-1-sync", |_| true).await;
    (client, sync["head"].as_i64().unwrap())
}

/// The ticket events a socket receives until (and with) the one about a ticket titled `last`:
/// (action, ticket id) each.
async fn ticket_events_until(client: &mut SioClient, last: &str) -> Vec<(String, i64)> {
    let mut seen = Vec::new();
    loop {
        let (name, data) = client.next_event().await;
        if name != "company-1-ticket" {
            continue;
        }
        let action = data["action"].as_str().unwrap().to_string();
        let id = data["ticket"]["id"]
            .as_i64()
            .or(data["ticketId"].as_i64())
            .unwrap();
        seen.push((action, id));
        if data["ticket"]["title"] == last {
            return seen;
        }
    }
}

/// Waits (with a deadline) until `check` holds for the database.
async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Moves the ticket's armed timer into the past.
async fn make_due(pool: &sqlx::AnyPool, id: i64) {
    let past = store::ts(chrono::Utc::now() - chrono::Duration::seconds(1));
    let changed = sqlx::query(
        "UPDATE tickets SET escalate_due_at = $1 WHERE id = $2 AND escalate_due_at IS NOT NULL",
    )
    .bind(past)
    .bind(id)
    .execute(pool)
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(changed, 1, "ticket {id} has no armed timer");
}

/// The `escalate` events in the log, by ticket id.
async fn escalations(pool: &sqlx::AnyPool) -> Vec<i64> {
    let mut ids: Vec<i64> = sqlx::query("SELECT payload FROM events WHERE resource = 'ticket'")
        .fetch_all(pool)
        .await
        .unwrap()
        .iter()
        .filter_map(|row| {
            let payload: Value = serde_json::from_str(&row.get::<String, _>("payload")).unwrap();
            (payload["action"] == "escalate").then(|| payload["ticket"]["id"].as_i64().unwrap())
        })
        .collect();
    ids.sort();
    ids
}

fn pool(server: &TestServer) -> sqlx::AnyPool {
    server.server().state().db.pool.clone()
}

#[tokio::test]
async fn an_acknowledgement_over_rest_reaches_the_tickets_audience_only() {
    let server = TestServer::start().await;
    let admin = server.login("admin@acme.test").await;
    let ana = server.login("agent1@acme.test").await;
    let ben = server.login("agent2@acme.test").await;
    let bens = server
        .create_ticket(
            &admin.access_token,
            "Ben's fire",
            json!({"priority": "urgent", "assigneeId": ben.user.id}),
        )
        .await;
    let (mut admin_socket, head) = socket(&server, &admin.access_token, None).await;
    let (mut ana_socket, _) = socket(&server, &ana.access_token, None).await;
    let (mut ben_socket, _) = socket(&server, &ben.access_token, None).await;
    let path = format!("/api/tickets/{}/acknowledge", bens.id);

    // Ana does not see it: 404, as for a ticket that does not exist.
    let (status, body) = server.post(&ana.access_token, &path, Value::Null).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "not_found");

    let (status, acked) = server.post(&ben.access_token, &path, Value::Null).await;
    assert_eq!(status, 200, "{acked}");
    assert_eq!(acked["acknowledgedBy"], ben.user.id);
    assert_eq!(acked["version"], bens.version + 1);
    // Idempotent: the same ticket, no second event (checked on the sockets below).
    let (status, again) = server.post(&admin.access_token, &path, Value::Null).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again, acked);

    // Not urgent: 409 with the ticket as it is.
    let calm = server
        .create_ticket(&admin.access_token, "calm", json!({}))
        .await;
    let (status, body) = server
        .post(
            &ana.access_token,
            &format!("/api/tickets/{}/acknowledge", calm.id),
            Value::Null,
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "conflict");
    assert_eq!(body["error"]["current"]["id"], calm.id);

    server
        .create_ticket(&admin.access_token, "Marker", json!({}))
        .await;
    let ack = ("acknowledge".to_string(), bens.id);
    for (who, socket) in [("admin", &mut admin_socket), ("ben", &mut ben_socket)] {
        let seen = ticket_events_until(socket, "Marker").await;
        assert_eq!(
            seen.iter().filter(|e| **e == ack).count(),
            1,
            "{who}: {seen:?}"
        );
    }
    let seen = ticket_events_until(&mut ana_socket, "Marker").await;
    assert!(!seen.contains(&ack), "ana: {seen:?}");

    // Replayed like every event, to its audience only.
    for (token, expected) in [(&ben.access_token, 1), (&ana.access_token, 0)] {
        let mut replay = server
            .connect("/workspace-1", json!({"token": token, "lastSeq": head}))
            .await
            .unwrap();
        let seen = ticket_events_until(&mut replay, "Marker").await;
        assert_eq!(
            seen.iter().filter(|e| **e == ack).count(),
            expected,
            "{seen:?}"
        );
        replay.close();
    }
}

#[tokio::test]
async fn an_escalation_reaches_the_admins_live_and_on_replay_and_never_agents() {
    let (server, _dir) = fast_server().await;
    let admin = server.login("admin@acme.test").await;
    let ana = server.login("agent1@acme.test").await;
    let (mut admin_socket, head) = socket(&server, &admin.access_token, None).await;
    let (mut ana_socket, _) = socket(&server, &ana.access_token, None).await;
    let fire = server
        .create_ticket(&ana.access_token, "Fire", json!({"priority": "urgent"}))
        .await;
    let handled = server
        .create_ticket(&ana.access_token, "Handled", json!({"priority": "urgent"}))
        .await;
    let (status, _) = server
        .post(
            &ana.access_token,
            &format!("/api/tickets/{}/acknowledge", handled.id),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200);
    make_due(&pool(&server), fire.id).await;

    let escalated = admin_socket
        .wait_for("company-1-ticket", |e| e["action"] == "escalate")
        .await;
    assert_eq!(escalated["userId"], 0);
    assert_eq!(escalated["stream"], "admins");
    assert_eq!(escalated["ticket"]["id"], fire.id);
    assert_eq!(escalated["ticket"]["version"], fire.version, "unchanged");

    server
        .create_ticket(&admin.access_token, "Marker", json!({}))
        .await;
    let escalate = ("escalate".to_string(), fire.id);
    let seen = ticket_events_until(&mut admin_socket, "Marker").await;
    assert!(!seen.contains(&escalate), "once: {seen:?}");
    let seen = ticket_events_until(&mut ana_socket, "Marker").await;
    assert!(!seen.contains(&escalate), "an agent: {seen:?}");
    // The acknowledged ticket never escalates.
    assert_eq!(escalations(&pool(&server)).await, [fire.id]);

    for (token, expected) in [(&admin.access_token, 1), (&ana.access_token, 0)] {
        let mut replay = server
            .connect("/workspace-1", json!({"token": token, "lastSeq": head}))
            .await
            .unwrap();
        let seen = ticket_events_until(&mut replay, "Marker").await;
        assert_eq!(
            seen.iter().filter(|e| **e == escalate).count(),
            expected,
            "{seen:?}"
        );
        replay.close();
    }
}

#[tokio::test]
async fn an_escalation_happens_once_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let database = support::database_url().await;
    let mut first = server_on(dir.path(), database.clone()).await;
    let ana = first.login("agent1@acme.test").await;
    let before = first
        .create_ticket(&ana.access_token, "Before", json!({"priority": "urgent"}))
        .await;
    let during = first
        .create_ticket(&ana.access_token, "During", json!({"priority": "urgent"}))
        .await;
    let db = pool(&first);
    make_due(&db, before.id).await;
    until("the first escalation", async || {
        escalations(&db).await == [before.id]
    })
    .await;
    first.stop().await;

    // Falls due while no server runs.
    let outside = config(dir.path(), database.clone());
    let offline = deskbell_server::db::Db::connect(&outside.effective_database_url())
        .await
        .unwrap();
    make_due(&offline.pool, during.id).await;
    offline.close().await;

    let second = server_on(dir.path(), database).await;
    let db = pool(&second);
    until("the escalation due while down", async || {
        escalations(&db).await.contains(&during.id)
    })
    .await;
    // The checks that found it did not escalate the first one again; nor does another.
    let now = chrono::Utc::now() + chrono::Duration::days(1);
    assert_eq!(
        escalation::escalate_due(second.server().state(), now)
            .await
            .unwrap(),
        0
    );
    assert_eq!(escalations(&db).await, [before.id, during.id]);
}

#[tokio::test]
async fn nodes_racing_on_one_postgres_database_escalate_once() {
    let Some(database) = support::database_url().await else {
        eprintln!("needs PostgreSQL (DESKBELL_TEST_POSTGRES_URL); runs in that pass");
        return;
    };
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let mut states = Vec::new();
    for dir in &dirs {
        let mut config = config(dir.path(), Some(database.clone()));
        config.jwt_secret = None;
        let state = deskbell_server::prepare(config).await.unwrap();
        deskbell_server::demo::seed(&state).await.unwrap();
        states.push(state);
    }
    let ana = {
        let row = sqlx::query(&format!(
            "SELECT {} FROM users WHERE email = 'agent1@acme.test'",
            store::USER_COLUMNS
        ))
        .fetch_one(&states[0].db.pool)
        .await
        .unwrap();
        deskbell_server::auth::AuthUser {
            user: store::user_from_row(&row).unwrap(),
            session: String::new(),
        }
    };
    let mut ids = Vec::new();
    for i in 0..20 {
        let new = deskbell_protocol::NewTicket {
            title: format!("fire {i}"),
            requester: deskbell_protocol::Requester {
                name: "R".into(),
                contact: None,
            },
            priority: Some(deskbell_protocol::Priority::Urgent),
            status: None,
            assignee_id: None,
            lane_id: None,
            message: None,
        };
        let ticket = deskbell_server::ops::tickets::create(&states[i % 2], &ana, new)
            .await
            .unwrap();
        make_due(&states[0].db.pool, ticket.id).await;
        ids.push(ticket.id);
    }
    let now = chrono::Utc::now();
    let (a, b) = tokio::join!(
        escalation::escalate_due(&states[0], now),
        escalation::escalate_due(&states[1], now)
    );
    assert_eq!(a.unwrap() + b.unwrap(), ids.len());
    assert_eq!(escalations(&states[0].db.pool).await, ids);
}

#[tokio::test]
async fn the_company_settings_and_the_members_over_rest() {
    let server = TestServer::start().await;
    let admin = server.login("admin@acme.test").await;
    let ana = server.login("agent1@acme.test").await;
    let (status, company) = server.get(&ana.access_token, "/api/company").await;
    assert_eq!(status, 200, "{company}");
    assert_eq!(company["id"], 1);
    assert_eq!(
        company["escalateAfterMinutes"],
        deskbell_server::demo::DEMO_ESCALATE_AFTER_MINUTES
    );
    let body = json!({"escalateAfterMinutes": 7});
    let (status, refused) = server
        .patch(&ana.access_token, "/api/company", None, body.clone())
        .await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["error"]["code"], "forbidden");
    for bad in [
        json!({"escalateAfterMinutes": 0}),
        json!({"escalateAfterMinutes": 1441}),
    ] {
        let (status, refused) = server
            .patch(&admin.access_token, "/api/company", None, bad)
            .await;
        assert_eq!(status, 422, "{refused}");
        assert_eq!(refused["error"]["code"], "validation");
    }
    let (status, changed) = server
        .patch(&admin.access_token, "/api/company", None, body)
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["escalateAfterMinutes"], 7);
    assert_eq!(
        server.get(&ana.access_token, "/api/company").await.1,
        changed
    );

    let (status, members) = server.get(&ana.access_token, "/api/members").await;
    assert_eq!(status, 200, "{members}");
    let members = members.as_array().unwrap();
    assert_eq!(members.len(), 3);
    for member in members {
        assert!(member.get("email").is_none(), "{member}");
        assert!(member["name"].is_string() && member["active"].is_boolean());
    }
    assert!(members
        .iter()
        .any(|m| m["id"] == ana.user.id && m["role"] == "agent"));
}

/// Two running nodes on one PostgreSQL database, both checking every `CHECK_EVERY`: each due
/// ticket escalates once, and the admins' sockets on both nodes receive it once; an agent's
/// on either never.
async fn running_nodes_escalate_once(redis: Option<String>) {
    let Some(database) = support::database_url().await else {
        eprintln!("needs PostgreSQL (DESKBELL_TEST_POSTGRES_URL); runs in that pass");
        return;
    };
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let mut nodes = Vec::new();
    for (i, dir) in dirs.iter().enumerate() {
        let mut config = config(dir.path(), Some(database.clone()));
        config.redis_url = redis.clone();
        config.node_name = format!("node-{i}");
        nodes.push(TestServer::start_config(config, tempfile::tempdir().unwrap()).await);
    }
    let admin = nodes[0].login("admin@acme.test").await;
    let ana = nodes[1].login("agent1@acme.test").await;
    let mut admins = Vec::new();
    let mut agents = Vec::new();
    for node in &nodes {
        admins.push(socket(node, &admin.access_token, None).await.0);
        agents.push(socket(node, &ana.access_token, None).await.0);
    }
    let mut ids = Vec::new();
    for i in 0..6 {
        let ticket = nodes[i % 2]
            .create_ticket(
                &ana.access_token,
                &format!("fire {i}"),
                json!({"priority": "urgent"}),
            )
            .await;
        ids.push(ticket.id);
    }
    let db = pool(&nodes[0]);
    for id in &ids {
        make_due(&db, *id).await;
    }
    until("every escalation", async || {
        escalations(&db).await.len() >= ids.len()
    })
    .await;
    nodes[1]
        .create_ticket(&admin.access_token, "Marker", json!({}))
        .await;
    for socket in &mut admins {
        let mut escalated: Vec<i64> = ticket_events_until(socket, "Marker")
            .await
            .into_iter()
            .filter(|(action, _)| action == "escalate")
            .map(|(_, id)| id)
            .collect();
        escalated.sort();
        assert_eq!(escalated, ids, "each once, on every node");
    }
    for socket in &mut agents {
        let seen = ticket_events_until(socket, "Marker").await;
        assert!(
            seen.iter().all(|(action, _)| action != "escalate"),
            "{seen:?}"
        );
    }
    assert_eq!(escalations(&db).await, ids);
}

#[tokio::test]
async fn running_nodes_escalate_once_through_the_log() {
    running_nodes_escalate_once(None).await;
}

#[tokio::test]
async fn running_nodes_escalate_once_through_redis() {
    let Some(redis) = std::env::var("DESKBELL_TEST_REDIS_URL").ok() else {
        eprintln!("needs Redis (DESKBELL_TEST_REDIS_URL); the test command sets it");
        return;
    };
    running_nodes_escalate_once(Some(redis)).await;
}
