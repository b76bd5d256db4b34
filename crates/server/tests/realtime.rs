//! Socket.IO: per-namespace auth, tenant isolation, visibility, replay.

mod support;

use deskbell_protocol::{ConnectErrorCode, Role};
use deskbell_server::events;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{json, Value};
use support::{Incoming, TestServer, SECRET};

fn forge(secret: &str, claims: Value) -> String {
    jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn claims_of(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

async fn connected(
    server: &TestServer,
    ns: &str,
    token: &str,
    last_seq: Option<i64>,
) -> (support::SioClient, Value) {
    let auth = match last_seq {
        Some(s) => json!({"token": token, "lastSeq": s}),
        None => json!({"token": token}),
    };
    let mut client = server.connect(ns, auth).await.expect("connect");
    let company = ns.trim_start_matches("/workspace-");
    let (name, sync) = client.next_event().await;
    assert_eq!(name, format!("company-{company}-sync"));
    (client, sync)
}

#[tokio::test]
async fn every_rejection_has_its_stable_code() {
    let server = TestServer::start().await;
    let acme = server.login("admin@acme.test").await;
    let code = |r: Result<support::SioClient, String>| r.err().expect("must be refused");

    assert_eq!(
        code(server.connect("/workspace-1", Value::Null).await),
        ConnectErrorCode::Unauthorized.as_str()
    );
    assert_eq!(
        code(
            server
                .connect("/workspace-1", json!({"token": "garbage"}))
                .await
        ),
        "unauthorized"
    );
    assert_eq!(
        code(server.connect("/workspace-1", json!({"nope": 1})).await),
        "unauthorized"
    );

    let mut claims = claims_of(&acme.access_token);
    let forged = forge("another-secret", claims.clone());
    assert_eq!(
        code(
            server
                .connect("/workspace-1", json!({"token": forged}))
                .await
        ),
        "unauthorized"
    );

    let now = chrono::Utc::now().timestamp();
    claims["iat"] = json!(now - 7200);
    claims["exp"] = json!(now - 3600);
    let expired = forge(SECRET, claims.clone());
    assert_eq!(
        code(
            server
                .connect("/workspace-1", json!({"token": expired}))
                .await
        ),
        "token_expired"
    );

    // A token claiming another company than the user's own is refused, even when well signed.
    claims["exp"] = json!(now + 3600);
    claims["cid"] = json!(2);
    let lying = forge(SECRET, claims);
    assert_eq!(
        code(
            server
                .connect("/workspace-2", json!({"token": lying}))
                .await
        ),
        "unauthorized"
    );

    assert_eq!(
        code(
            server
                .connect("/workspace-2", json!({"token": acme.access_token}))
                .await
        ),
        "forbidden"
    );
    assert_eq!(
        code(
            server
                .connect("/workspace-999", json!({"token": acme.access_token}))
                .await
        ),
        "forbidden"
    );
    for ns in ["/workspace-abc", "/workspace-01", "/nope", "/"] {
        assert_eq!(
            code(
                server
                    .connect(ns, json!({"token": acme.access_token}))
                    .await
            ),
            "invalid_namespace",
            "{ns}"
        );
    }

    // A signed-out session cannot open sockets any more.
    let agent = server.login("agent1@acme.test").await;
    let res = server
        .http
        .post(server.api("/api/auth/logout"))
        .bearer_auth(&agent.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(
        code(
            server
                .connect("/workspace-1", json!({"token": agent.access_token}))
                .await
        ),
        "unauthorized"
    );

    // And a good token still works after all that.
    let (client, sync) = connected(&server, "/workspace-1", &acme.access_token, None).await;
    assert_eq!(sync["mode"], "reset");
    client.close();
}

#[tokio::test]
async fn companies_never_see_each_others_events() {
    let server = TestServer::start().await;
    let acme = server.login("admin@acme.test").await;
    let globex = server.login("admin@globex.test").await;
    let (mut acme_socket, _) = connected(&server, "/workspace-1", &acme.access_token, None).await;
    let (mut globex_socket, _) =
        connected(&server, "/workspace-2", &globex.access_token, None).await;

    let acme_ticket = server
        .create_ticket(&acme.access_token, "Acme secret", json!({}))
        .await;
    let (name, event) = acme_socket.next_event().await;
    assert_eq!(name, "company-1-ticket");
    assert_eq!(event["ticket"]["id"], acme_ticket.id);

    // The next thing Globex receives is its own ticket, not Acme's.
    let globex_ticket = server
        .create_ticket(&globex.access_token, "Globex ticket", json!({}))
        .await;
    let (name, event) = globex_socket.next_event().await;
    assert_eq!(name, "company-2-ticket");
    assert_eq!(event["ticket"]["id"], globex_ticket.id);
    assert_eq!(event["companyId"], 2);

    // Nor over REST.
    let (status, _) = server
        .get(
            &globex.access_token,
            &format!("/api/tickets/{}", acme_ticket.id),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = server
        .patch(
            &globex.access_token,
            &format!("/api/tickets/{}", acme_ticket.id),
            None,
            json!({"title": "x"}),
        )
        .await;
    assert_eq!(status, 404);
    acme_socket.close();
    globex_socket.close();
}

#[tokio::test]
async fn agents_see_their_own_and_unassigned_tickets_and_lose_sight_on_reassignment() {
    let server = TestServer::start().await;
    let admin = server.login("admin@acme.test").await;
    let agent1 = server.login("agent1@acme.test").await;
    let agent2 = server.login("agent2@acme.test").await;
    assert_eq!(agent1.user.role, Role::Agent);
    let (mut a1, _) = connected(&server, "/workspace-1", &agent1.access_token, None).await;
    let (mut a2, _) = connected(&server, "/workspace-1", &agent2.access_token, None).await;
    let (mut adm, _) = connected(&server, "/workspace-1", &admin.access_token, None).await;

    // Assigned to agent 1: agent 1 and the admin get it, agent 2 does not.
    let private = server
        .create_ticket(
            &admin.access_token,
            "For agent 1",
            json!({"assigneeId": agent1.user.id}),
        )
        .await;
    assert_eq!(a1.next_event().await.1["ticket"]["id"], private.id);
    assert_eq!(adm.next_event().await.1["ticket"]["id"], private.id);
    let open = server
        .create_ticket(&admin.access_token, "Unassigned", json!({}))
        .await;
    let (_, first_for_agent2) = a2.next_event().await;
    assert_eq!(
        first_for_agent2["ticket"]["id"], open.id,
        "agent 2 must not see agent 1's ticket"
    );
    assert_eq!(a1.next_event().await.1["ticket"]["id"], open.id);
    assert_eq!(adm.next_event().await.1["ticket"]["id"], open.id);

    // Agent 2 takes the unassigned ticket: agent 1 is told it is gone.
    let (status, taken) = server
        .patch(
            &agent2.access_token,
            &format!("/api/tickets/{}", open.id),
            Some(open.version),
            json!({"assigneeId": agent2.user.id}),
        )
        .await;
    assert_eq!(status, 200, "{taken}");
    let (_, assign) = a2.next_event().await;
    assert_eq!(assign["action"], "assign");
    assert_eq!(assign["to"], agent2.user.id);
    let (_, gone) = a1.next_event().await;
    assert_eq!(gone["action"], "delete");
    assert_eq!(gone["ticketId"], open.id);
    assert!(
        gone.get("ticket").is_none(),
        "no content leaks to who lost sight"
    );
    assert_eq!(adm.next_event().await.1["action"], "assign");

    // Reassigned from agent 2 to agent 1: agent 2 loses it, agent 1 gains it, in full.
    let (status, _) = server
        .patch(
            &admin.access_token,
            &format!("/api/tickets/{}", open.id),
            None,
            json!({"assigneeId": agent1.user.id}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, gained) = a1.next_event().await;
    assert_eq!(gained["action"], "assign");
    assert_eq!(gained["ticket"]["assigneeId"], agent1.user.id);
    let (_, lost) = a2.next_event().await;
    assert_eq!(lost["action"], "delete");
    assert_eq!(lost["ticketId"], open.id);

    // REST agrees: agent 2 cannot read it now.
    let (status, _) = server
        .get(&agent2.access_token, &format!("/api/tickets/{}", open.id))
        .await;
    assert_eq!(status, 404);
    let (_, board) = server.get(&agent2.access_token, "/api/board").await;
    let ids: Vec<i64> = board["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    assert!(!ids.contains(&open.id) && !ids.contains(&private.id));
    for t in board["tickets"].as_array().unwrap() {
        assert!(
            t["assigneeId"].is_null() || t["assigneeId"] == agent2.user.id,
            "{t}"
        );
    }
    a1.close();
    a2.close();
    adm.close();
}

/// Replays with writes racing the reconnect: every event exactly once, in seq order.
#[tokio::test]
async fn replay_after_disconnect_loses_and_doubles_nothing() {
    let server = TestServer::start().await;
    let admin = server.login("admin@acme.test").await;
    let (mut socket, sync) = connected(&server, "/workspace-1", &admin.access_token, None).await;
    let head = sync["head"].as_i64().unwrap();
    // Receive a few live events, then drop the socket.
    let mut last_seq = head;
    for i in 0..3 {
        server
            .create_ticket(&admin.access_token, &format!("live {i}"), json!({}))
            .await;
        let (_, e) = socket.next_event().await;
        last_seq = e["seq"].as_i64().unwrap();
    }
    socket.close();
    // Missed while away.
    for i in 0..5 {
        server
            .create_ticket(&admin.access_token, &format!("missed {i}"), json!({}))
            .await;
    }
    // Writes keep coming while the client reconnects and replays.
    let writer = {
        let url = server.url.clone();
        let token = admin.access_token.clone();
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            for i in 0..20 {
                let res = http
                    .post(format!("{url}/api/tickets"))
                    .bearer_auth(&token)
                    .json(&json!({"title": format!("racing {i}"), "requester": {"name": "R"}}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 201);
            }
        })
    };
    let mut socket = server
        .connect(
            "/workspace-1",
            json!({"token": admin.access_token, "lastSeq": last_seq}),
        )
        .await
        .unwrap();
    writer.await.unwrap();
    let final_head = deskbell_server::store::event_head(&server.server().state().db.pool, 1)
        .await
        .unwrap();
    let mut seqs = Vec::new();
    let mut sync_at = None;
    while seqs.last().copied().unwrap_or(last_seq) < final_head {
        match socket.next().await {
            Incoming::Event(name, data) if name == "company-1-sync" => {
                assert_eq!(data["mode"], "replay");
                sync_at = Some((seqs.len(), data["head"].as_i64().unwrap()));
            }
            Incoming::Event(name, data) => {
                assert_eq!(name, "company-1-ticket");
                seqs.push(data["seq"].as_i64().unwrap());
            }
            Incoming::Closed | Incoming::Ack(..) => panic!("unexpected"),
        }
    }
    let expected: Vec<i64> = (last_seq + 1..=final_head).collect();
    assert_eq!(seqs, expected, "every event once, in order");
    let (replayed, sync_head) = sync_at.expect("a sync message");
    assert!(replayed >= 5, "the 5 missed events come before the sync");
    assert_eq!(
        seqs[replayed - 1],
        sync_head,
        "sync head is the last replayed seq"
    );
    socket.close();
}

/// Emission runs after commit, off the write lock: a socket that connects while committed events
/// still wait to be emitted gets each of them once, by replay, and not again live.
#[tokio::test]
async fn a_connect_while_events_wait_for_emission_gets_each_once() {
    let server = TestServer::start().await;
    let admin = server.login("admin@acme.test").await;
    let (mut live, sync) = connected(&server, "/workspace-1", &admin.access_token, None).await;
    let head = sync["head"].as_i64().unwrap();
    let hub = &server.server().state().hub;
    let pause = hub.pause_emission(1).await;
    for i in 0..3 {
        server
            .create_ticket(&admin.access_token, &format!("held {i}"), json!({}))
            .await;
    }
    assert_eq!(hub.emission_backlog(1), 3, "the events wait for emission");
    let mut late = server
        .connect(
            "/workspace-1",
            json!({"token": admin.access_token, "lastSeq": head}),
        )
        .await
        .unwrap();
    // The new socket either waits for the emitter to catch up or (were that wait missing) has
    // joined its rooms; either way it is past the point where the race would be.
    let members = || {
        hub.io()
            .and_then(|io| io.of("/workspace-1"))
            .map(|ns| ns.to(events::ROOM_MEMBERS).sockets().len())
            .unwrap_or(0)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while hub.settling(1) == 0 && members() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the connect never got going"
        );
        tokio::task::yield_now().await;
    }
    drop(pause);
    server
        .create_ticket(&admin.access_token, "after", json!({}))
        .await;
    let mut got = Vec::new();
    while got.last().map(|(_, seq)| *seq) != Some(head + 4) {
        let (name, data) = late.next_event().await;
        // Events carry their seq, the sync message its head.
        let seq = data["seq"].as_i64().or(data["head"].as_i64());
        got.push((name, seq.unwrap_or(-1)));
    }
    let ticket = "company-1-ticket".to_string();
    assert_eq!(
        got,
        vec![
            (ticket.clone(), head + 1),
            (ticket.clone(), head + 2),
            (ticket.clone(), head + 3),
            ("company-1-sync".to_string(), head + 3),
            (ticket.clone(), head + 4),
        ],
        "replayed once, then live"
    );
    for seq in head + 1..=head + 4 {
        assert_eq!(live.next_event().await.1["seq"], seq);
    }
    assert_eq!(hub.emission_backlog(1), 0);
    late.close();
    live.close();
}

/// Events that queue up go out in one batch: each socket still gets exactly the events it may
/// see, in seq order.
#[tokio::test]
async fn a_batch_of_events_reaches_each_socket_by_its_visibility_in_order() {
    let server = TestServer::start().await;
    let admin = server.login("admin@acme.test").await;
    let agent1 = server.login("agent1@acme.test").await;
    let agent2 = server.login("agent2@acme.test").await;
    let (mut a1, sync) = connected(&server, "/workspace-1", &agent1.access_token, None).await;
    let (mut a2, _) = connected(&server, "/workspace-1", &agent2.access_token, None).await;
    let (mut adm, _) = connected(&server, "/workspace-1", &admin.access_token, None).await;
    let head = sync["head"].as_i64().unwrap();
    let hub = &server.server().state().hub;
    let pause = hub.pause_emission(1).await;
    let assignees = [
        None,
        Some(agent1.user.id),
        Some(agent2.user.id),
        None,
        Some(agent1.user.id),
    ];
    for (i, assignee) in assignees.iter().enumerate() {
        server
            .create_ticket(
                &admin.access_token,
                &format!("batched {i}"),
                json!({ "assigneeId": assignee }),
            )
            .await;
    }
    assert_eq!(hub.emission_backlog(1), assignees.len() as u64);
    drop(pause);
    let seqs_for = |agent: Option<i64>| -> Vec<i64> {
        assignees
            .iter()
            .enumerate()
            .filter(|(_, a)| agent.is_none() || a.is_none() || **a == agent)
            .map(|(i, _)| head + 1 + i as i64)
            .collect()
    };
    for (socket, agent) in [
        (&mut a1, Some(agent1.user.id)),
        (&mut a2, Some(agent2.user.id)),
        (&mut adm, None),
    ] {
        let expected = seqs_for(agent);
        let mut got = Vec::new();
        while got.len() < expected.len() {
            got.push(socket.next_event().await.1["seq"].as_i64().unwrap());
        }
        assert_eq!(got, expected, "events of {agent:?}");
    }
    // Nothing else was queued for anyone: the next event is the next seq for all.
    server
        .create_ticket(&admin.access_token, "after", json!({}))
        .await;
    for socket in [&mut a1, &mut a2, &mut adm] {
        assert_eq!(socket.next_event().await.1["seq"], head + 6);
    }
}

/// After a restart every desktop reconnects at once, to a company namespace no socket has used
/// on this process yet: each of them must receive live events.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clients_connecting_at_once_to_a_fresh_server_all_receive_live_events() {
    let server = TestServer::start().await;
    let io = server.server().io();
    assert!(
        io.of("/workspace-1").is_some() && io.of("/workspace-2").is_some(),
        "every company's namespace is open before any client connects"
    );
    let admin = server.login("admin@acme.test").await;
    let clients = futures_util::future::join_all(
        (0..40).map(|_| connected(&server, "/workspace-1", &admin.access_token, None)),
    )
    .await;
    let ticket = server
        .create_ticket(&admin.access_token, "for everyone", json!({}))
        .await;
    for (mut socket, _) in clients {
        assert_eq!(socket.next_event().await.1["ticket"]["id"], ticket.id);
        socket.close();
    }
}

#[tokio::test]
async fn replay_is_filtered_by_visibility_and_falls_back_to_reset() {
    let server = TestServer::start_with(support::Options {
        replay_limit: 5,
        ..support::Options::default()
    })
    .await;
    let admin = server.login("admin@acme.test").await;
    let agent2 = server.login("agent2@acme.test").await;
    let agent1_id = server.login("agent1@acme.test").await.user.id;
    let (socket, sync) = connected(&server, "/workspace-1", &agent2.access_token, None).await;
    let head = sync["head"].as_i64().unwrap();
    socket.close();
    server
        .create_ticket(
            &admin.access_token,
            "hidden",
            json!({"assigneeId": agent1_id}),
        )
        .await;
    let visible = server
        .create_ticket(&admin.access_token, "visible", json!({}))
        .await;
    let mut socket = server
        .connect(
            "/workspace-1",
            json!({"token": agent2.access_token, "lastSeq": head}),
        )
        .await
        .unwrap();
    let (name, event) = socket.next_event().await;
    assert_eq!(name, "company-1-ticket");
    assert_eq!(
        event["ticket"]["id"], visible.id,
        "the hidden ticket is not replayed"
    );
    let (name, sync) = socket.next_event().await;
    assert_eq!(name, "company-1-sync");
    assert_eq!(sync["mode"], "replay");
    assert_eq!(sync["head"], head + 2);
    socket.close();

    // Too far behind (more than the replay limit), or ahead of the server: reset.
    for i in 0..6 {
        server
            .create_ticket(&admin.access_token, &format!("bulk {i}"), json!({}))
            .await;
    }
    let (socket, sync) = connected(&server, "/workspace-1", &agent2.access_token, Some(head)).await;
    assert_eq!(sync["mode"], "reset");
    socket.close();
    let (socket, sync) = connected(
        &server,
        "/workspace-1",
        &agent2.access_token,
        Some(head + 1000),
    )
    .await;
    assert_eq!(sync["mode"], "reset");
    socket.close();
}

#[tokio::test]
async fn events_carry_the_spec_envelope() {
    let server = TestServer::start().await;
    let admin = server.login("admin@acme.test").await;
    let (mut socket, _) = connected(&server, "/workspace-1", &admin.access_token, None).await;
    let ticket = server
        .create_ticket(&admin.access_token, "Envelope", json!({}))
        .await;
    let (_, created) = socket.next_event().await;
    let typed: deskbell_protocol::EventEnvelope = serde_json::from_value(created.clone()).unwrap();
    assert_eq!(typed.action, deskbell_protocol::EventAction::Create);
    assert_eq!(typed.user_id, admin.user.id);
    assert_eq!(typed.ticket.as_ref().unwrap().version, 1);
    assert!(created["timestamp"].as_str().unwrap().ends_with('Z'));

    let path = format!("/api/tickets/{}", ticket.id);
    server
        .patch(
            &admin.access_token,
            &path,
            Some(1),
            json!({"priority": "urgent"}),
        )
        .await;
    let (_, e) = socket.next_event().await;
    assert_eq!(
        (e["action"].as_str(), e["from"].as_str(), e["to"].as_str()),
        (Some("priority-change"), Some("normal"), Some("urgent"))
    );
    assert_eq!(e["ticket"]["version"], 2);
    server
        .patch(
            &admin.access_token,
            &path,
            Some(2),
            json!({"status": "pending"}),
        )
        .await;
    assert_eq!(socket.next_event().await.1["action"], "status-change");
    let (_, lane) = server
        .post(
            &admin.access_token,
            &format!("{path}/move"),
            json!({"laneId": 2}),
        )
        .await;
    assert_eq!(lane["laneId"], 2);
    let (_, e) = socket.next_event().await;
    assert_eq!(
        (e["action"].as_str(), e["from"].clone(), e["to"].clone()),
        (Some("move"), Value::Null, json!(2))
    );
    let (status, _) = server
        .post(
            &admin.access_token,
            &format!("{path}/comments"),
            json!({"body": "Hello"}),
        )
        .await;
    assert_eq!(status, 201);
    let (name, e) = socket.next_event().await;
    assert_eq!(name, "company-1-comment");
    assert_eq!(e["comment"]["body"], "Hello");
    assert_eq!(e["ticket"]["commentCount"], 1);
    assert_eq!(e["ticket"]["lastMessage"], "Hello");
    let (status, lane) = server
        .post(
            &admin.access_token,
            "/api/lanes",
            json!({"name": "QA", "color": "#123456"}),
        )
        .await;
    assert_eq!(status, 201);
    let (name, e) = socket.next_event().await;
    assert_eq!(name, "company-1-lane");
    assert_eq!(e["lane"]["id"], lane["id"]);
    let (status, _) = server.delete(&admin.access_token, &path).await;
    assert_eq!(status, 204);
    let (_, e) = socket.next_event().await;
    assert_eq!(
        (e["action"].as_str(), e["ticketId"].as_i64()),
        (Some("delete"), Some(ticket.id))
    );
    // Seqs are strictly increasing across resources.
    socket.close();
}

#[tokio::test]
async fn a_slow_consumer_is_disconnected_and_others_keep_receiving() {
    let server = TestServer::start_with(support::Options {
        socket_buffer: 8,
        ..support::Options::default()
    })
    .await;
    let admin = server.login("admin@acme.test").await;
    let (mut fast, _) = connected(&server, "/workspace-1", &admin.access_token, None).await;
    // A raw websocket with a tiny receive window that completes the handshake, then stops reading.
    let tcp = tokio::net::TcpSocket::new_v4().unwrap();
    tcp.set_recv_buffer_size(4096).unwrap();
    let stream = tcp.connect(server.server().addr()).await.unwrap();
    let ws_url = format!(
        "{}/socket.io/?EIO=4&transport=websocket",
        server.url.replacen("http", "ws", 1)
    );
    let (mut stalled, _) = tokio_tungstenite::client_async(ws_url, stream)
        .await
        .unwrap();
    use futures_util::{SinkExt, StreamExt};
    stalled.next().await.unwrap().unwrap();
    stalled
        .send(tokio_tungstenite::tungstenite::Message::text(format!(
            "40/workspace-1,{}",
            json!({"token": admin.access_token})
        )))
        .await
        .unwrap();
    stalled.next().await.unwrap().unwrap();
    let dropped = || {
        server
            .server()
            .state()
            .hub
            .stats
            .slow_consumers_dropped
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let mut created = 0;
    // Big comment events fill the stalled socket's buffers; the fast client must get every one.
    let ticket = server
        .create_ticket(&admin.access_token, "chatty", json!({}))
        .await;
    assert_eq!(fast.next_event().await.1["ticket"]["id"], ticket.id);
    let body = "x".repeat(19_000);
    let comments = format!("/api/tickets/{}/comments", ticket.id);
    while dropped() == 0 {
        assert!(created < 3000, "the stalled socket was never dropped");
        let (status, comment) = server
            .post(&admin.access_token, &comments, json!({"body": body}))
            .await;
        assert_eq!(status, 201);
        let (name, e) = fast.next_event().await;
        assert_eq!(name, "company-1-comment");
        assert_eq!(e["comment"]["id"], comment["id"]);
        created += 1;
    }
    assert_eq!(dropped(), 1);
    let t = server
        .create_ticket(&admin.access_token, "after", json!({}))
        .await;
    assert_eq!(fast.next_event().await.1["ticket"]["id"], t.id);
    fast.close();
    drop(stalled);
}

#[tokio::test]
async fn client_emits_are_refused_clearly_and_count_as_writes() {
    // 4 for the company: 2 for one member.
    let server = TestServer::start_with(support::Options {
        writes_per_minute: 4,
        ..support::Options::default()
    })
    .await;
    let admin = server.login("admin@acme.test").await;
    let (mut socket, _) = connected(&server, "/workspace-1", &admin.access_token, None).await;
    socket.send_raw(r#"42/workspace-1,7["company-1-ticket",{"title":"x"}]"#.into());
    match socket.next().await {
        Incoming::Ack(7, args) => assert_eq!(args[0]["error"]["code"], "unsupported_event"),
        other => panic!("expected an ack, got {other:?}"),
    }
    server
        .create_ticket(&admin.access_token, "second write", json!({}))
        .await;
    assert_eq!(socket.next_event().await.0, "company-1-ticket");
    socket.send_raw(r#"42/workspace-1,8["anything",1]"#.into());
    match socket.next().await {
        Incoming::Ack(8, args) => assert_eq!(args[0]["error"]["code"], "rate_limited"),
        other => panic!("expected an ack, got {other:?}"),
    }
    let (status, _) = server
        .post(
            &admin.access_token,
            "/api/tickets",
            json!({"title": "t", "requester": {"name": "r"}}),
        )
        .await;
    assert_eq!(status, 429, "socket emits and REST writes share the limit");
    // A malformed packet ends that connection only; the server keeps serving.
    socket.send_raw(r#"42/workspace-1,["#.into());
    assert_eq!(socket.next().await, Incoming::Closed);
    let (again, sync) = connected(&server, "/workspace-1", &admin.access_token, None).await;
    assert_eq!(sync["mode"], "reset");
    again.close();
}

/// A session end goes out in `seq` order with the events around it: the member's socket gets
/// what was committed before the change, then the session message, then nothing (here with
/// every event held back and released at once, so all of them reach the emitter together).
#[tokio::test]
async fn a_socket_receives_nothing_committed_after_its_session_ended() {
    let server = TestServer::start().await;
    let admin = server.login("admin@acme.test").await;
    let agent = server.login("agent1@acme.test").await;
    let (mut watcher, _) = connected(&server, "/workspace-1", &admin.access_token, None).await;
    let (mut member, _) = connected(&server, "/workspace-1", &agent.access_token, None).await;
    let hub = &server.server().state().hub;
    let pause = hub.pause_emission(1).await;
    let before = server
        .create_ticket(&admin.access_token, "before the change", json!({}))
        .await;
    let (status, body) = server
        .patch(
            &admin.access_token,
            &format!("/api/users/{}", agent.user.id),
            None,
            json!({"active": false}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let after = server
        .create_ticket(&admin.access_token, "after the change", json!({}))
        .await;
    assert_eq!(
        hub.emission_backlog(1),
        3,
        "two tickets and the session end wait"
    );
    drop(pause);
    let (name, first) = member.next_event().await;
    assert_eq!(name, "company-1-ticket");
    assert_eq!(first["ticket"]["id"], before.id);
    let (name, ended) = member.next_event().await;
    assert_eq!(name, "company-1-session");
    assert_eq!(ended["reason"], "deactivated");
    assert_eq!(
        member.next().await,
        Incoming::Closed,
        "disconnected right after the session message, without the later ticket"
    );
    // Everyone else gets both tickets, and no session message.
    for id in [before.id, after.id] {
        let (name, data) = watcher.next_event().await;
        assert_eq!(name, "company-1-ticket");
        assert_eq!(data["ticket"]["id"], id);
    }
    watcher.close();
}

/// Waits until `done` holds, failing the test after `support::WAIT`.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + support::WAIT;
    while !done() {
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Refused connects to made-up company namespaces, whatever the refusal, leave no namespace
/// behind (each would otherwise stay in the server for good).
#[tokio::test]
async fn refused_connects_to_made_up_companies_leave_no_namespace() {
    let server = TestServer::start().await;
    let acme = server.login("admin@acme.test").await;
    let io = server.server().io();
    let paths: Vec<String> = (0..40)
        .map(|i| format!("/workspace-{}", 900_000 + i))
        .collect();
    for (i, path) in paths.iter().enumerate() {
        // Bad tokens, no auth at all, and a good token of another company.
        let auth = match i % 3 {
            0 => json!({"token": "garbage"}),
            1 => Value::Null,
            _ => json!({"token": acme.access_token}),
        };
        let refused = server.connect(path, auth).await.err().expect("refused");
        let expected = if i % 3 == 2 {
            "forbidden"
        } else {
            "unauthorized"
        };
        assert_eq!(refused, expected, "{path}");
    }
    eventually("every made-up namespace is gone", || {
        paths.iter().all(|path| io.of(path).is_none())
    })
    .await;
    // The real companies' namespaces stay, and still work.
    assert!(io.of("/workspace-1").is_some());
    let (socket, _) = connected(&server, "/workspace-1", &acme.access_token, None).await;
    socket.close();
}

/// A websocket frame longer than the payload limit closes the connection as soon as its header
/// is read: the server never waits for (or buffers) the rest. Unauthenticated, at the
/// Engine.IO level, before any namespace.
#[tokio::test]
async fn a_websocket_frame_over_the_payload_limit_closes_the_connection_unread() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::start().await;
    let mut tcp = tokio::net::TcpStream::connect(server.server().addr())
        .await
        .unwrap();
    tcp.write_all(
        b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: deskbell.test\r\n\
          Upgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(support::WAIT, tcp.read(&mut buf))
            .await
            .expect("upgrade answered")
            .unwrap();
        assert!(n > 0, "closed during the upgrade");
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(
        String::from_utf8_lossy(&seen).starts_with("HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&seen)
    );
    // A masked text frame announcing 2 MiB (twice the 1 MiB limit), of which only 64 KiB follow.
    let announced: u64 = 2 * 1024 * 1024;
    let mut frame = vec![0x81, 0x80 | 127];
    frame.extend_from_slice(&announced.to_be_bytes());
    frame.extend_from_slice(&[1, 2, 3, 4]);
    frame.extend(std::iter::repeat_n(b'x', 64 * 1024));
    tcp.write_all(&frame).await.unwrap();
    // Whatever the server sent before (the open packet), the connection must end without the
    // frame's remaining bytes ever being sent.
    loop {
        match tokio::time::timeout(support::WAIT, tcp.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(_)) => continue,
            Err(_) => panic!("the server waited for the rest of an oversized frame"),
        }
    }
}

/// An address whose socket connects keep being refused is stopped at the door: past its 100
/// free refusals, its Socket.IO requests get 429 before any connection is made (a refused
/// connect holds its connection's memory until the connect timeout, even after the client
/// has gone). Expired tokens, which clients refresh, do not count.
#[tokio::test]
async fn an_address_whose_connects_keep_being_refused_gets_429_before_connecting() {
    let server = TestServer::start().await;
    let acme = server.login("admin@acme.test").await;
    let mut claims = claims_of(&acme.access_token);
    let now = chrono::Utc::now().timestamp();
    claims["iat"] = json!(now - 7200);
    claims["exp"] = json!(now - 3600);
    let expired = forge(SECRET, claims);
    for _ in 0..120 {
        let refused = server
            .connect("/workspace-1", json!({"token": expired}))
            .await
            .err()
            .expect("refused");
        assert_eq!(refused, "token_expired");
    }
    for i in 0..101 {
        let refused = server
            .connect("/workspace-1", json!({"token": "garbage"}))
            .await
            .err()
            .expect("refused");
        assert_eq!(refused, "unauthorized", "refusal {i} is answered normally");
    }
    let blocked = server
        .connect("/workspace-1", json!({"token": acme.access_token}))
        .await
        .err()
        .expect("even a good token is stopped at the door");
    assert!(blocked.contains("429"), "{blocked}");
    let res = server
        .http
        .get(server.api("/socket.io/?EIO=4&transport=polling"))
        .send()
        .await
        .unwrap();
    support::assert_rate_limited(res, "refused connects").await;
    // REST is not affected.
    let (status, _) = server.get(&acme.access_token, "/api/me").await;
    assert_eq!(status, 200);
    assert_eq!(
        server.server().state().connect_throttle.tracked(),
        1,
        "one address"
    );
}

/// An Engine.IO connection that never connects to a namespace (or whose connects were all
/// refused) is closed after the connect timeout rather than held for socketioxide's 45 s.
#[tokio::test]
async fn a_connection_that_joins_no_namespace_is_closed_after_the_connect_timeout() {
    use futures_util::StreamExt;
    let server = TestServer::start_with(support::Options {
        connect_timeout: Some(std::time::Duration::from_secs(1)),
        ..support::Options::default()
    })
    .await;
    let ws_url = format!(
        "{}/socket.io/?EIO=4&transport=websocket",
        server.url.replacen("http", "ws", 1)
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    let started = std::time::Instant::now();
    loop {
        match tokio::time::timeout(support::WAIT, ws.next()).await {
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_))))
            | Ok(None)
            | Ok(Some(Err(_))) => break,
            Ok(Some(Ok(_))) => continue,
            Err(_) => panic!(
                "the idle connection was still open after {:?}",
                support::WAIT
            ),
        }
    }
    assert!(started.elapsed() >= std::time::Duration::from_millis(900));
}

/// Reads a socket's events until the ticket titled `last` arrives, checking that each chains to
/// the previous event of its stream: exactly the stream's last event this socket received, or,
/// for the first of a stream, one at or below `basis` (what the socket had before).
async fn chained_events_until(
    client: &mut support::SioClient,
    basis: i64,
    last: &str,
) -> Vec<(String, i64)> {
    let mut seen: std::collections::HashMap<String, i64> = Default::default();
    let mut received = Vec::new();
    loop {
        let (_, event) = client.next_event().await;
        let seq = event["seq"].as_i64().expect("seq");
        let stream = event["stream"]
            .as_str()
            .expect("every new event has a stream");
        let prev = event["prevSeq"]
            .as_i64()
            .expect("and its stream's previous seq");
        match seen.get(stream) {
            Some(&last_of_stream) => assert_eq!(
                prev, last_of_stream,
                "event {seq} of {stream} chains to the stream's last event this socket received"
            ),
            None => assert!(
                prev <= basis,
                "event {seq} is the first of {stream} this socket received: its predecessor \
                 {prev} must be at or below {basis}, or the socket missed it"
            ),
        }
        assert!(prev < seq);
        seen.insert(stream.to_string(), seq);
        received.push((stream.to_string(), seq));
        if event["ticket"]["title"] == last {
            return received;
        }
    }
}

#[tokio::test]
async fn each_event_chains_to_the_previous_one_its_readers_received() {
    let server = TestServer::start().await;
    let admin = server.login("admin@acme.test").await;
    let agent1 = server.login("agent1@acme.test").await;
    let agent2 = server.login("agent2@acme.test").await;
    // History before anyone connects: chains start below the sockets' basis.
    server
        .create_ticket(
            &admin.access_token,
            "Before",
            json!({"assigneeId": agent1.user.id}),
        )
        .await;
    let (mut a1, sync1) = connected(&server, "/workspace-1", &agent1.access_token, None).await;
    let (mut a2, sync2) = connected(&server, "/workspace-1", &agent2.access_token, None).await;
    let (mut adm, sync_adm) = connected(&server, "/workspace-1", &admin.access_token, None).await;
    let basis = sync1["head"].as_i64().unwrap();
    assert_eq!(sync2["head"], basis);
    assert_eq!(sync_adm["head"], basis);

    // Every audience: for agent 1, for nobody yet, taken by agent 2 (agents but agent 2 are
    // told it is gone), reassigned to agent 1 (only agent 2 is told), comments on each.
    let own = server
        .create_ticket(
            &admin.access_token,
            "Own",
            json!({"assigneeId": agent1.user.id}),
        )
        .await;
    let open = server
        .create_ticket(&admin.access_token, "Open", json!({}))
        .await;
    let (status, _) = server
        .patch(
            &agent2.access_token,
            &format!("/api/tickets/{}", open.id),
            Some(open.version),
            json!({"assigneeId": agent2.user.id}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = server
        .patch(
            &admin.access_token,
            &format!("/api/tickets/{}", open.id),
            None,
            json!({"assigneeId": agent1.user.id}),
        )
        .await;
    assert_eq!(status, 200);
    for ticket in [own.id, open.id] {
        let (status, _) = server
            .post(
                &admin.access_token,
                &format!("/api/tickets/{ticket}/comments"),
                json!({"body": "noted"}),
            )
            .await;
        assert_eq!(status, 201);
    }
    server
        .create_ticket(&admin.access_token, "Last", json!({}))
        .await;

    let for_agent1 = chained_events_until(&mut a1, basis, "Last").await;
    let for_agent2 = chained_events_until(&mut a2, basis, "Last").await;
    let for_admin = chained_events_until(&mut adm, basis, "Last").await;
    let streams = |events: &[(String, i64)]| -> std::collections::BTreeSet<String> {
        events.iter().map(|(s, _)| s.clone()).collect()
    };
    let (id1, id2) = (agent1.user.id, agent2.user.id);
    assert_eq!(
        streams(&for_agent1),
        [
            "all".to_string(),
            format!("assignee-{id1}"),
            format!("agents-except-{id2}")
        ]
        .into(),
        "agent 1's streams"
    );
    assert_eq!(
        streams(&for_agent2),
        [
            "all".to_string(),
            format!("assignee-{id2}"),
            format!("only-{id2}")
        ]
        .into(),
        "agent 2's streams"
    );
    assert_eq!(
        streams(&for_admin),
        [
            "all".to_string(),
            format!("assignee-{id1}"),
            format!("assignee-{id2}")
        ]
        .into(),
        "the admin's streams"
    );
    a1.close();
    adm.close();

    // A replay carries the same chain: agent 1 back from the basis gets the same events.
    let mut again = server
        .connect(
            "/workspace-1",
            json!({"token": agent1.access_token, "lastSeq": basis}),
        )
        .await
        .expect("reconnect");
    let replayed = chained_events_until(&mut again, basis, "Last").await;
    assert_eq!(replayed, for_agent1, "the replay is what was live");
    let (name, sync) = again.next_event().await;
    assert_eq!(
        (name.as_str(), sync["mode"].as_str()),
        ("company-1-sync", Some("replay"))
    );
    again.close();
    a2.close();
}
