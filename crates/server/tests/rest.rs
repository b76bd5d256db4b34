//! REST: every endpoint's success and error paths.

mod support;

use serde_json::{json, Value};
use support::{TestServer, PASSWORD};

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("<no error code>")
}

#[tokio::test]
async fn health_and_identity() {
    let server = TestServer::start().await;
    let res = server.http.get(server.api("/health")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let health: Value = res.json().await.unwrap();
    assert_eq!(health["status"], "ok");
    let backend = if std::env::var_os("DESKBELL_TEST_POSTGRES_URL").is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    assert_eq!(
        health["db"], backend,
        "the suite runs on the backend it was asked for"
    );

    let login = server.login("agent1@acme.test").await;
    assert_eq!(login.company.name, "Acme Support");
    assert!(login.expires_in > 0);
    let (status, me) = server.get(&login.access_token, "/api/me").await;
    assert_eq!(status, 200);
    assert_eq!(me["user"]["email"], "agent1@acme.test");
    assert_eq!(me["user"]["role"], "agent");
    assert!(me["user"].get("passwordHash").is_none());

    let (status, body) = server.get("not-a-token", "/api/me").await;
    assert_eq!((status, code(&body)), (401, "unauthorized"));
    let res = server.http.get(server.api("/api/me")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let (status, body) = server.get(&login.access_token, "/api/no-such-thing").await;
    assert_eq!((status, code(&body)), (404, "not_found"));
}

#[tokio::test]
async fn login_refresh_rotation_reuse_and_logout() {
    let server = TestServer::start().await;
    for (email, password) in [
        ("agent1@acme.test", "wrong"),
        ("nobody@acme.test", PASSWORD),
    ] {
        let (status, body) = status_of(
            server
                .http
                .post(server.api("/api/auth/login"))
                .json(&json!({"email": email, "password": password})),
        )
        .await;
        assert_eq!(
            (status, code(&body)),
            (401, "invalid_credentials"),
            "{email}"
        );
    }
    let (status, body) = status_of(
        server
            .http
            .post(server.api("/api/auth/login"))
            .body("{not json")
            .header("content-type", "application/json"),
    )
    .await;
    assert_eq!((status, code(&body)), (400, "bad_request"));
    let (status, body) = status_of(
        server
            .http
            .post(server.api("/api/auth/login"))
            .json(&json!({"email": "x"})),
    )
    .await;
    assert_eq!((status, code(&body)), (422, "validation"));
    // Emails are case-insensitive.
    let (status, _) = status_of(
        server
            .http
            .post(server.api("/api/auth/login"))
            .json(&json!({"email": "Agent1@ACME.test", "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, 200);

    let first = server.login("agent1@acme.test").await;
    let refresh = |token: String| {
        let req = server
            .http
            .post(server.api("/api/auth/refresh"))
            .json(&json!({"refreshToken": token}));
        status_of(req)
    };
    let (status, second) = refresh(first.refresh_token.clone()).await;
    assert_eq!(status, 200);
    let second_refresh = second["refreshToken"].as_str().unwrap().to_string();
    assert_ne!(second_refresh, first.refresh_token, "rotated");
    let second_access = second["accessToken"].as_str().unwrap();
    let me_status = |token: &str| {
        let req = server.http.get(server.api("/api/me")).bearer_auth(token);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(
        me_status(second_access).await,
        200,
        "the rotated session works (and is now a known one)"
    );
    // Reusing the old one revokes the whole family, including the new token.
    let (status, body) = refresh(first.refresh_token.clone()).await;
    assert_eq!((status, code(&body)), (401, "refresh_reused"));
    let (status, _) = refresh(second_refresh).await;
    assert_eq!(status, 401);
    assert_eq!(
        me_status(second_access).await,
        401,
        "access tokens of a revoked session stop working"
    );
    let (status, body) = refresh("made-up".into()).await;
    assert_eq!((status, code(&body)), (401, "unauthorized"));

    // Logout revokes the session: refresh and access tokens stop working.
    let session = server.login("agent1@acme.test").await;
    let other_session = server.login("agent1@acme.test").await;
    let res = server
        .http
        .post(server.api("/api/auth/logout"))
        .bearer_auth(&session.access_token)
        .json(&json!({"refreshToken": session.refresh_token}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let (status, _) = refresh(session.refresh_token.clone()).await;
    assert_eq!(status, 401);
    let (status, _) = server.get(&session.access_token, "/api/me").await;
    assert_eq!(status, 401);
    let (status, _) = server.get(&other_session.access_token, "/api/me").await;
    assert_eq!(
        status, 200,
        "other sessions of the same user stay signed in"
    );
}

async fn status_of(req: reqwest::RequestBuilder) -> (u16, Value) {
    support::status_json(req.send().await.unwrap()).await
}

#[tokio::test]
async fn tickets_crud_validation_and_visibility() {
    let server = TestServer::start().await;
    let admin = server.login("admin@acme.test").await;
    let agent1 = server.login("agent1@acme.test").await;
    let agent2 = server.login("agent2@acme.test").await;
    let globex = server.login("admin@globex.test").await;
    let (_, globex_users) = server.get(&globex.access_token, "/api/users").await;
    let globex_user = globex_users[0]["id"].as_i64().unwrap();

    let t = server
        .create_ticket(
            &agent1.access_token,
            "  Printer on fire  ",
            json!({"priority": "high", "message": "Smoke everywhere", "requester": {"name": "Pat", "contact": "pat@example.com"}}),
        )
        .await;
    assert_eq!(t.title, "Printer on fire");
    assert_eq!(t.version, 1);
    assert_eq!(t.creator_id, agent1.user.id);
    assert_eq!(t.comment_count, 1);
    assert_eq!(t.last_message.as_deref(), Some("Smoke everywhere"));
    assert_eq!(t.requester.contact.as_deref(), Some("pat@example.com"));

    for (body, expected) in [
        (
            json!({"title": "", "requester": {"name": "x"}}),
            "validation",
        ),
        (
            json!({"title": "x", "requester": {"name": " "}}),
            "validation",
        ),
        (
            json!({"title": "x".repeat(201), "requester": {"name": "x"}}),
            "validation",
        ),
        (json!({"title": "x"}), "validation"),
        (
            json!({"title": "x", "requester": {"name": "x"}, "priority": "meh"}),
            "validation",
        ),
        (
            json!({"title": "x", "requester": {"name": "x"}, "assigneeId": globex_user}),
            "validation",
        ),
        (
            json!({"title": "x", "requester": {"name": "x"}, "laneId": 99999}),
            "validation",
        ),
    ] {
        let (status, res) = server
            .post(&agent1.access_token, "/api/tickets", body.clone())
            .await;
        assert_eq!((status, code(&res)), (422, expected), "{body}");
    }

    let path = format!("/api/tickets/{}", t.id);
    let (status, got) = server.get(&agent2.access_token, &path).await;
    assert_eq!(
        (status, got["id"].as_i64()),
        (200, Some(t.id)),
        "unassigned: every agent sees it"
    );
    let (status, comments) = server
        .get(&agent2.access_token, &format!("{path}/comments"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(comments[0]["body"], "Smoke everywhere");

    // Assign to agent 1: agent 2 no longer sees it, anywhere.
    let (status, assigned) = server
        .patch(
            &agent1.access_token,
            &path,
            Some(1),
            json!({"assigneeId": agent1.user.id}),
        )
        .await;
    assert_eq!(status, 200, "{assigned}");
    assert_eq!(assigned["version"], 2);
    for sub in ["", "/comments", "/attachments"] {
        let (status, body) = server
            .get(&agent2.access_token, &format!("{path}{sub}"))
            .await;
        assert_eq!((status, code(&body)), (404, "not_found"), "{sub}");
    }
    let (status, _) = server
        .patch(
            &agent2.access_token,
            &path,
            None,
            json!({"title": "mine now"}),
        )
        .await;
    assert_eq!(status, 404);
    let (_, list) = server.get(&agent2.access_token, "/api/tickets").await;
    assert!(list.as_array().unwrap().iter().all(|x| x["id"] != t.id));
    let (_, list) = server
        .get(&admin.access_token, "/api/tickets?assignee=me")
        .await;
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x["assigneeId"] == admin.user.id));
    let (_, list) = server
        .get(&agent1.access_token, "/api/tickets?q=PRINTER&priority=high")
        .await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (status, body) = server
        .get(&agent1.access_token, "/api/tickets?priority=meh")
        .await;
    assert_eq!((status, code(&body)), (400, "bad_request"));
    let (status, body) = server
        .get(&agent1.access_token, "/api/tickets/not-a-number")
        .await;
    assert_eq!((status, code(&body)), (400, "bad_request"));

    // PATCH validation.
    let (status, body) = server
        .patch(&agent1.access_token, &path, Some(2), json!({}))
        .await;
    assert_eq!((status, code(&body)), (422, "validation"));
    let (status, body) = server
        .patch(
            &agent1.access_token,
            &path,
            Some(2),
            json!({"status": "gone"}),
        )
        .await;
    assert_eq!((status, code(&body)), (422, "validation"));
    let res = server
        .http
        .patch(server.api(&path))
        .bearer_auth(&agent1.access_token)
        .header("If-Match", "abc")
        .json(&json!({"title": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    // A no-op patch changes nothing, not even the version.
    let (status, same) = server
        .patch(
            &agent1.access_token,
            &path,
            Some(2),
            json!({"priority": "high"}),
        )
        .await;
    assert_eq!((status, same["version"].as_i64()), (200, Some(2)));
    // Clearing the assignee with null.
    let (_, cleared) = server
        .patch(
            &agent1.access_token,
            &path,
            Some(2),
            json!({"assigneeId": null}),
        )
        .await;
    assert!(cleared["assigneeId"].is_null());

    // Deleting is for admins; the ticket and its comments go.
    let (status, body) = server.delete(&agent1.access_token, &path).await;
    assert_eq!((status, code(&body)), (403, "forbidden"));
    let (status, _) = server.delete(&admin.access_token, &path).await;
    assert_eq!(status, 204);
    let (status, _) = server.get(&admin.access_token, &path).await;
    assert_eq!(status, 404);
    let (status, _) = server.delete(&admin.access_token, &path).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn optimistic_concurrency_lets_exactly_one_writer_win() {
    let server = TestServer::start().await;
    let admin = server.login("admin@acme.test").await;
    let t = server
        .create_ticket(&admin.access_token, "Contended", json!({}))
        .await;
    let path = format!("/api/tickets/{}", t.id);
    let attempts = 8;
    let mut tasks = Vec::new();
    for i in 0..attempts {
        let http = server.http.clone();
        let url = server.api(&path);
        let token = admin.access_token.clone();
        tasks.push(tokio::spawn(async move {
            let res = http
                .patch(url)
                .bearer_auth(token)
                .header("If-Match", "1")
                .json(&json!({"title": format!("writer {i}")}))
                .send()
                .await
                .unwrap();
            support::status_json(res).await
        }));
    }
    let mut wins = Vec::new();
    let mut conflicts = 0;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status {
            200 => wins.push(body),
            409 => {
                assert_eq!(code(&body), "conflict");
                assert_eq!(
                    body["error"]["current"]["version"], 2,
                    "409 carries the current ticket"
                );
                conflicts += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(wins.len(), 1, "exactly one wins");
    assert_eq!(conflicts, attempts - 1);
    let (_, now) = server.get(&admin.access_token, &path).await;
    assert_eq!(now["title"], wins[0]["title"]);
    assert_eq!(now["version"], 2);
}

#[tokio::test]
async fn lane_moves_are_single_transactions_on_both_endpoints() {
    let server = TestServer::start().await;
    let admin = server.login("admin@acme.test").await;
    let agent = server.login("agent1@acme.test").await;
    let t = server
        .create_ticket(&agent.access_token, "Move me", json!({}))
        .await;
    let path = format!("/api/tickets/{}", t.id);
    let (status, moved) = server
        .post(
            &agent.access_token,
            &format!("{path}/move"),
            json!({"laneId": 3}),
        )
        .await;
    assert_eq!(
        (status, moved["laneId"].as_i64(), moved["version"].as_i64()),
        (200, Some(3), Some(2))
    );
    let res = server
        .http
        .put(server.api(&format!("/api/ticket-tags/{}/2", t.id)))
        .bearer_auth(&agent.access_token)
        .header("If-Match", "2")
        .send()
        .await
        .unwrap();
    let (status, moved) = support::status_json(res).await;
    assert_eq!((status, moved["laneId"].as_i64()), (200, Some(2)));
    let (status, moved) = server
        .post(
            &agent.access_token,
            &format!("{path}/move"),
            json!({"laneId": null}),
        )
        .await;
    assert_eq!((status, moved["laneId"].clone()), (200, Value::Null));
    // A lane of another company, a stale version, a malformed body: nothing changes.
    let (_, globex_lanes) = server
        .get(
            &server.login("admin@globex.test").await.access_token,
            "/api/lanes",
        )
        .await;
    let foreign = globex_lanes[0]["id"].as_i64().unwrap();
    let (status, body) = server
        .post(
            &agent.access_token,
            &format!("{path}/move"),
            json!({"laneId": foreign}),
        )
        .await;
    assert_eq!((status, code(&body)), (422, "validation"));
    let res = server
        .http
        .post(server.api(&format!("{path}/move")))
        .bearer_auth(&agent.access_token)
        .header("If-Match", "1")
        .json(&json!({"laneId": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    let (status, _) = server
        .post(
            &agent.access_token,
            &format!("{path}/move"),
            json!({"lane": 1}),
        )
        .await;
    assert_eq!(status, 422);
    let (_, now) = server.get(&admin.access_token, &path).await;
    assert_eq!(
        (now["laneId"].clone(), now["version"].as_i64()),
        (Value::Null, Some(4))
    );
}

#[tokio::test]
async fn comments_keep_the_ticket_preview_and_count() {
    let server = TestServer::start().await;
    let admin = server.login("admin@acme.test").await;
    let agent1 = server.login("agent1@acme.test").await;
    let agent2 = server.login("agent2@acme.test").await;
    let t = server
        .create_ticket(&agent1.access_token, "Chatty", json!({}))
        .await;
    let path = format!("/api/tickets/{}/comments", t.id);
    let (status, first) = server
        .post(&agent1.access_token, &path, json!({"body": "first"}))
        .await;
    assert_eq!(status, 201);
    let (_, second) = server
        .post(&agent2.access_token, &path, json!({"body": "second"}))
        .await;
    let (status, body) = server
        .post(&agent1.access_token, &path, json!({"body": "  "}))
        .await;
    assert_eq!((status, code(&body)), (422, "validation"));
    let (_, ticket) = server
        .get(&agent1.access_token, &format!("/api/tickets/{}", t.id))
        .await;
    assert_eq!(
        (
            ticket["commentCount"].as_i64(),
            ticket["lastMessage"].as_str()
        ),
        (Some(2), Some("second"))
    );

    let second_path = format!("/api/comments/{}", second["id"]);
    let (status, body) = server.delete(&agent1.access_token, &second_path).await;
    assert_eq!((status, code(&body)), (403, "forbidden"), "not the author");
    let (status, _) = server.delete(&agent2.access_token, &second_path).await;
    assert_eq!(status, 204);
    let (_, ticket) = server
        .get(&agent1.access_token, &format!("/api/tickets/{}", t.id))
        .await;
    assert_eq!(
        (
            ticket["commentCount"].as_i64(),
            ticket["lastMessage"].as_str()
        ),
        (Some(1), Some("first"))
    );
    let (status, _) = server
        .delete(
            &admin.access_token,
            &format!("/api/comments/{}", first["id"]),
        )
        .await;
    assert_eq!(status, 204, "admins can delete any comment");
    let (status, _) = server
        .delete(
            &admin.access_token,
            &format!("/api/comments/{}", first["id"]),
        )
        .await;
    assert_eq!(status, 404);
    let (_, list) = server.get(&agent1.access_token, &path).await;
    assert_eq!(list, json!([]));
}

#[tokio::test]
async fn attachments_upload_download_limit_and_delete() {
    let server = TestServer::start().await; // attachment limit: 64 KiB
    let agent1 = server.login("agent1@acme.test").await;
    let agent2 = server.login("agent2@acme.test").await;
    let globex = server.login("admin@globex.test").await;
    let t = server
        .create_ticket(&agent1.access_token, "With files", json!({}))
        .await;
    let url = server.api(&format!("/api/tickets/{}/attachments", t.id));
    let upload = |token: String, bytes: Vec<u8>, name: &'static str| {
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(name)
            .mime_str("text/plain")
            .unwrap();
        let form = reqwest::multipart::Form::new().part("file", part);
        status_of(
            server
                .http
                .post(url.clone())
                .bearer_auth(token)
                .multipart(form),
        )
    };
    let (status, a) = upload(
        agent1.access_token.clone(),
        b"hello log".to_vec(),
        "../../log.txt",
    )
    .await;
    assert_eq!(status, 201, "{a}");
    assert_eq!(
        (a["name"].as_str(), a["size"].as_i64()),
        (Some("log.txt"), Some(9))
    );

    let file_url = server.api(&format!("/api/attachments/{}", a["id"]));
    let res = server
        .http
        .get(&file_url)
        .bearer_auth(&agent2.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/plain");
    assert_eq!(res.bytes().await.unwrap().as_ref(), b"hello log");
    let res = server
        .http
        .get(&file_url)
        .bearer_auth(&globex.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "other companies cannot read it");

    let (status, body) = upload(
        agent1.access_token.clone(),
        vec![b'x'; 200 * 1024],
        "big.bin",
    )
    .await;
    assert_eq!((status, code(&body)), (413, "payload_too_large"));
    let form = reqwest::multipart::Form::new().text("other", "x");
    let (status, body) = status_of(
        server
            .http
            .post(url.clone())
            .bearer_auth(&agent1.access_token)
            .multipart(form),
    )
    .await;
    assert_eq!((status, code(&body)), (422, "validation"));
    let (_, list) = server
        .get(
            &agent1.access_token,
            &format!("/api/tickets/{}/attachments", t.id),
        )
        .await;
    assert_eq!(
        list.as_array().unwrap().len(),
        1,
        "the rejected uploads left nothing"
    );

    let (status, _) = server
        .delete(
            &agent2.access_token,
            &format!("/api/attachments/{}", a["id"]),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = server
        .delete(
            &agent1.access_token,
            &format!("/api/attachments/{}", a["id"]),
        )
        .await;
    assert_eq!(status, 204);
    let res = server
        .http
        .get(&file_url)
        .bearer_auth(&agent1.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let stored = std::fs::read_dir(server.data_dir.path().join("attachments/1"))
        .unwrap()
        .count();
    assert_eq!(stored, 0, "the file is gone from disk too");
}

#[tokio::test]
async fn lanes_and_users_are_managed_by_admins() {
    let server = TestServer::start().await;
    let admin = server.login("admin@acme.test").await;
    let agent = server.login("agent1@acme.test").await;
    let (status, lanes) = server.get(&agent.access_token, "/api/lanes").await;
    assert_eq!(status, 200);
    assert_eq!(lanes.as_array().unwrap().len(), 4);
    let (status, body) = server
        .post(
            &agent.access_token,
            "/api/lanes",
            json!({"name": "X", "color": "#000000"}),
        )
        .await;
    assert_eq!((status, code(&body)), (403, "forbidden"));
    let (status, body) = server
        .post(
            &admin.access_token,
            "/api/lanes",
            json!({"name": "X", "color": "blue"}),
        )
        .await;
    assert_eq!((status, code(&body)), (422, "validation"));
    let (status, lane) = server
        .post(
            &admin.access_token,
            "/api/lanes",
            json!({"name": "Escalated", "color": "#E53935"}),
        )
        .await;
    assert_eq!(
        (status, lane["position"].as_i64(), lane["color"].as_str()),
        (201, Some(4), Some("#e53935"))
    );
    let lane_path = format!("/api/lanes/{}", lane["id"]);
    let (status, renamed) = server
        .patch(
            &admin.access_token,
            &lane_path,
            None,
            json!({"name": "Hot"}),
        )
        .await;
    assert_eq!((status, renamed["name"].as_str()), (200, Some("Hot")));
    // Deleting a lane moves its tickets to "No lane", bumping their versions.
    let t = server
        .create_ticket(
            &agent.access_token,
            "In the hot lane",
            json!({"laneId": lane["id"]}),
        )
        .await;
    let (status, _) = server.delete(&agent.access_token, &lane_path).await;
    assert_eq!(status, 403);
    let (status, _) = server.delete(&admin.access_token, &lane_path).await;
    assert_eq!(status, 204);
    let (_, after) = server
        .get(&agent.access_token, &format!("/api/tickets/{}", t.id))
        .await;
    assert_eq!(
        (after["laneId"].clone(), after["version"].as_i64()),
        (Value::Null, Some(2))
    );
    let (status, _) = server
        .patch(
            &admin.access_token,
            &lane_path,
            None,
            json!({"name": "again"}),
        )
        .await;
    assert_eq!(status, 404);

    // Users.
    let (status, users) = server.get(&agent.access_token, "/api/users").await;
    assert_eq!(status, 200);
    assert_eq!(users.as_array().unwrap().len(), 3, "only Acme's users");
    let new_user = json!({"name": "Nia New", "email": "nia@acme.test", "password": "long enough pw", "role": "agent"});
    let (status, _) = server
        .post(&agent.access_token, "/api/users", new_user.clone())
        .await;
    assert_eq!(status, 403);
    let (status, nia) = server
        .post(&admin.access_token, "/api/users", new_user.clone())
        .await;
    assert_eq!(status, 201, "{nia}");
    let (status, body) = server
        .post(&admin.access_token, "/api/users", new_user)
        .await;
    assert_eq!((status, code(&body)), (409, "conflict"));
    let (status, body) = server
        .post(
            &admin.access_token,
            "/api/users",
            json!({"name": "S", "email": "s@acme.test", "password": "short", "role": "agent"}),
        )
        .await;
    assert_eq!((status, code(&body)), (422, "validation"));
    let res = server
        .http
        .post(server.api("/api/auth/login"))
        .json(&json!({"email": "nia@acme.test", "password": "long enough pw"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let nia_token: Value = res.json().await.unwrap();
    let nia_token = nia_token["accessToken"].as_str().unwrap().to_string();
    let nia_path = format!("/api/users/{}", nia["id"]);
    let (status, _) = server.get(&nia_token, "/api/me").await;
    assert_eq!(status, 200, "signed in before being disabled");
    let (status, disabled) = server
        .patch(
            &admin.access_token,
            &nia_path,
            None,
            json!({"active": false}),
        )
        .await;
    assert_eq!((status, disabled["active"].as_bool()), (200, Some(false)));
    let (status, _) = server.get(&nia_token, "/api/me").await;
    assert_eq!(status, 401, "a disabled account is signed out at once");
    let (status, body) = server
        .patch(
            &admin.access_token,
            &format!("/api/users/{}", admin.user.id),
            None,
            json!({"role": "agent"}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (422, "validation"),
        "no self-demotion"
    );
    let globex = server.login("admin@globex.test").await;
    let (status, _) = server
        .patch(
            &globex.access_token,
            &nia_path,
            None,
            json!({"name": "pwned"}),
        )
        .await;
    assert_eq!(status, 404, "admins manage only their own company");
}

#[tokio::test]
async fn write_rate_limit_answers_429_with_retry_after() {
    // 6 writes a minute for the company, so 3 for one member.
    let server = TestServer::start_with(support::Options {
        writes_per_minute: 6,
        ..support::Options::default()
    })
    .await;
    let acme = server.login("admin@acme.test").await;
    let agent1 = server.login("agent1@acme.test").await;
    let agent2 = server.login("agent2@acme.test").await;
    for (who, member) in [("admin", &acme), ("agent1", &agent1)] {
        for i in 0..3 {
            server
                .create_ticket(&member.access_token, &format!("{who} {i}"), json!({}))
                .await;
        }
    }
    let one_too_many = |token: &str| {
        server
            .http
            .post(server.api("/api/tickets"))
            .bearer_auth(token)
            .json(&json!({"title": "one too many", "requester": {"name": "x"}}))
            .send()
    };
    // A member with writes to spare meets the company's limit...
    let res = one_too_many(&agent2.access_token).await.unwrap();
    let retry = support::assert_rate_limited(res, "this company").await;
    assert!(retry <= 60, "{retry}");
    // ...one who spent their share meets their own.
    let res = one_too_many(&acme.access_token).await.unwrap();
    support::assert_rate_limited(res, "your share").await;
    // Reads still work, and another company is not affected.
    let (status, _) = server.get(&acme.access_token, "/api/board").await;
    assert_eq!(status, 200);
    let globex = server.login("admin@globex.test").await;
    server
        .create_ticket(&globex.access_token, "globex is fine", json!({}))
        .await;
}

#[tokio::test]
async fn oversized_and_malformed_payloads_change_nothing() {
    let server = TestServer::start().await;
    let admin = server.login("admin@acme.test").await;
    let (_, before) = server.get(&admin.access_token, "/api/board").await;
    let huge =
        json!({"title": "x", "requester": {"name": "x"}, "message": "y".repeat(1024 * 1024 + 10)});
    let (status, body) = server.post(&admin.access_token, "/api/tickets", huge).await;
    assert_eq!((status, code(&body)), (413, "payload_too_large"));
    let res = server
        .http
        .post(server.api("/api/tickets"))
        .bearer_auth(&admin.access_token)
        .header("content-type", "application/json")
        .body("{\"title\": ")
        .send()
        .await
        .unwrap();
    let (status, body) = support::status_json(res).await;
    assert_eq!((status, code(&body)), (400, "bad_request"));
    let res = server
        .http
        .post(server.api("/api/tickets"))
        .bearer_auth(&admin.access_token)
        .body("title=x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400, "missing JSON content type");
    let (_, after) = server.get(&admin.access_token, "/api/board").await;
    assert_eq!(before, after);
}

#[tokio::test]
async fn board_snapshot_is_consistent_with_its_seq() {
    let server = TestServer::start().await;
    let agent = server.login("agent1@acme.test").await;
    let (status, board) = server.get(&agent.access_token, "/api/board").await;
    assert_eq!(status, 200);
    let board: deskbell_protocol::Board = serde_json::from_value(board).unwrap();
    assert_eq!(board.lanes.len(), 4);
    assert!(board
        .tickets
        .iter()
        .all(|t| t.assignee_id.is_none() || t.assignee_id == Some(agent.user.id)));
    assert!(board.tickets.iter().all(|t| t.company_id == 1));
    server
        .create_ticket(&agent.access_token, "new", json!({}))
        .await;
    let (_, after) = server.get(&agent.access_token, "/api/board").await;
    assert_eq!(after["seq"].as_i64(), Some(board.seq + 1));
    assert_eq!(
        after["tickets"].as_array().unwrap().len(),
        board.tickets.len() + 1
    );
}

#[tokio::test]
async fn writes_go_on_after_the_database_drops_the_servers_connections() {
    let server = TestServer::start().await;
    let admin = server.login("admin@acme.test").await;
    server
        .create_ticket(&admin.access_token, "before", json!({}))
        .await;
    let db = &server.server().state().db;
    if db.backend == deskbell_server::db::Backend::Postgres {
        // As after a PostgreSQL restart: every connection of the server is gone, including
        // the one the company's writer keeps between writes.
        let dropped = sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .fetch_all(&db.pool)
        .await
        .unwrap();
        assert!(!dropped.is_empty(), "the writer's connection was open");
    }
    let after = server
        .create_ticket(&admin.access_token, "after", json!({}))
        .await;
    assert_eq!(after.title, "after");
}
