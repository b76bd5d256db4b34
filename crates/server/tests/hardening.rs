//! Hardening: input ranges, text rules, per-company emails, attachment content types, file
//! modes, security headers and log redaction. Runs on SQLite, and on PostgreSQL when
//! `DESKBELL_TEST_POSTGRES_URL` is set.

mod support;

use serde_json::{json, Value};
use support::TestServer;

/// `Number.MAX_SAFE_INTEGER`, the largest id a client may send.
const ID_MAX: i64 = 9_007_199_254_740_991;

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("<no error code>")
}

fn message(v: &Value) -> &str {
    v["error"]["message"]
        .as_str()
        .unwrap_or("<no error message>")
}

// ---------------------------------------------------------------- finding 6: number ranges

#[tokio::test]
async fn lane_positions_are_range_checked_and_lanes_without_one_still_work() {
    let server = TestServer::start().await;
    let admin = server.login("admin@acme.test").await;
    let token = &admin.access_token;
    let (_, before) = server.get(token, "/api/lanes").await;
    let first = before[0]["id"].as_i64().unwrap();
    for bad in [i64::MAX, i64::MIN, -1, 1_000_001] {
        let (status, body) = server
            .post(
                token,
                "/api/lanes",
                json!({"name": "x", "color": "#123456", "position": bad}),
            )
            .await;
        assert_eq!((status, code(&body)), (422, "validation"), "{bad}: {body}");
        assert!(
            message(&body).contains("between 0 and 1000000"),
            "the message states the range: {body}"
        );
        let (status, body) = server
            .patch(
                token,
                &format!("/api/lanes/{first}"),
                None,
                json!({"position": bad}),
            )
            .await;
        assert_eq!((status, code(&body)), (422, "validation"), "{bad}: {body}");
    }
    let (_, after) = server.get(token, "/api/lanes").await;
    assert_eq!(before, after, "refused requests changed nothing");

    // Lanes without a position still go after the last one.
    let (status, lane) = server
        .post(
            token,
            "/api/lanes",
            json!({"name": "Next", "color": "#123456"}),
        )
        .await;
    assert_eq!(
        (status, lane["position"].as_i64()),
        (201, Some(4)),
        "{lane}"
    );
    let (status, lane) = server
        .post(
            token,
            "/api/lanes",
            json!({"name": "Last", "color": "#123456", "position": 1_000_000}),
        )
        .await;
    assert_eq!((status, lane["position"].as_i64()), (201, Some(1_000_000)));
    let (status, lane) = server
        .post(
            token,
            "/api/lanes",
            json!({"name": "After", "color": "#123456"}),
        )
        .await;
    assert_eq!(
        (status, lane["position"].as_i64()),
        (201, Some(1_000_000)),
        "the next position stays in range: {lane}"
    );

    // A huge position stored before positions were checked (the state the finding left
    // behind) no longer breaks lanes created without a position.
    sqlx::query("UPDATE lanes SET position = $1 WHERE id = $2")
        .bind(i64::MAX)
        .bind(first)
        .execute(&server.server().state().db.pool)
        .await
        .unwrap();
    let (status, lane) = server
        .post(
            token,
            "/api/lanes",
            json!({"name": "Again", "color": "#123456"}),
        )
        .await;
    assert_eq!(
        (status, lane["position"].as_i64()),
        (201, Some(1_000_000)),
        "{lane}"
    );
}

#[tokio::test]
async fn ids_in_bodies_are_range_checked() {
    let server = TestServer::start().await;
    let agent = server.login("agent1@acme.test").await;
    let token = &agent.access_token;
    let t = server.create_ticket(token, "Target", json!({})).await;
    let path = format!("/api/tickets/{}", t.id);
    let (_, before) = server.get(token, "/api/board").await;
    for field in ["assigneeId", "laneId"] {
        for bad in [0, -1, ID_MAX + 1, i64::MAX, i64::MIN] {
            let (status, body) = server
                .post(
                    token,
                    "/api/tickets",
                    json!({"title": "x", "requester": {"name": "x"}, field: bad}),
                )
                .await;
            assert_eq!((status, code(&body)), (422, "validation"), "{field} {bad}");
            assert!(
                message(&body).contains(field) && message(&body).contains(&ID_MAX.to_string()),
                "the message names the field and the range: {body}"
            );
            let (status, body) = server
                .patch(token, &path, Some(1), json!({field: bad}))
                .await;
            assert_eq!((status, code(&body)), (422, "validation"), "{field} {bad}");
            assert!(message(&body).contains(&ID_MAX.to_string()), "{body}");
        }
    }
    let (status, body) = server
        .post(token, &format!("{path}/move"), json!({"laneId": -3}))
        .await;
    assert_eq!((status, code(&body)), (422, "validation"));
    assert!(message(&body).contains("laneId"), "{body}");
    let res = server
        .http
        .put(server.api(&format!("/api/ticket-tags/{}/0", t.id)))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let (status, body) = support::status_json(res).await;
    assert_eq!((status, code(&body)), (422, "validation"), "{body}");
    let (_, after) = server.get(token, "/api/board").await;
    assert_eq!(before, after, "refused requests changed nothing");
}

// ---------------------------------------------------------------- finding 7: text rules

/// `template` with every `X` in its strings replaced by `text`.
fn with_text(template: &Value, text: &str) -> Value {
    match template {
        Value::String(s) => Value::String(s.replace('X', text)),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), with_text(v, text)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// NUL, other C0 controls, ESC, DEL and a C1 control.
const CONTROLS: [&str; 5] = ["\u{0}", "\u{1}", "\u{1b}", "\u{7f}", "\u{85}"];

#[tokio::test]
async fn nul_and_control_characters_are_refused_in_every_text_field() {
    let server = TestServer::start().await;
    let admin = server.login("admin@acme.test").await;
    let token = &admin.access_token;
    let t = server.create_ticket(token, "Text target", json!({})).await;
    let ticket = format!("/api/tickets/{}", t.id);
    let lane = format!("/api/lanes/{}", 1);
    let user = format!("/api/users/{}", admin.user.id);
    let snapshot = || async {
        let (_, board) = server.get(token, "/api/board").await;
        let (_, users) = server.get(token, "/api/users").await;
        let (_, comments) = server.get(token, &format!("{ticket}/comments")).await;
        (board, users, comments)
    };
    let before = snapshot().await;

    // (what, single-line?, method, path, body with the bad text in place of `X`)
    let cases: Vec<(&str, bool, &str, String, Value)> = vec![
        (
            "ticket title",
            true,
            "POST",
            "/api/tickets".into(),
            json!({"title": "aXb", "requester": {"name": "r"}}),
        ),
        (
            "requester name",
            true,
            "POST",
            "/api/tickets".into(),
            json!({"title": "t", "requester": {"name": "aXb"}}),
        ),
        (
            "requester contact",
            true,
            "POST",
            "/api/tickets".into(),
            json!({"title": "t", "requester": {"name": "r", "contact": "aXb"}}),
        ),
        (
            "first message",
            false,
            "POST",
            "/api/tickets".into(),
            json!({"title": "t", "requester": {"name": "r"}, "message": "aXb"}),
        ),
        (
            "patched title",
            true,
            "PATCH",
            ticket.clone(),
            json!({"title": "aXb"}),
        ),
        (
            "patched requester",
            true,
            "PATCH",
            ticket.clone(),
            json!({"requester": {"name": "aXb"}}),
        ),
        (
            "patched contact",
            true,
            "PATCH",
            ticket.clone(),
            json!({"requester": {"name": "r", "contact": "aXb"}}),
        ),
        (
            "comment body",
            false,
            "POST",
            format!("{ticket}/comments"),
            json!({"body": "aXb"}),
        ),
        (
            "lane name",
            true,
            "POST",
            "/api/lanes".into(),
            json!({"name": "aXb", "color": "#123456"}),
        ),
        (
            "patched lane name",
            true,
            "PATCH",
            lane.clone(),
            json!({"name": "aXb"}),
        ),
        (
            "user name",
            true,
            "POST",
            "/api/users".into(),
            json!({"name": "aXb", "email": "new@acme.test", "password": "long enough pw", "role": "agent"}),
        ),
        (
            "user email",
            true,
            "POST",
            "/api/users".into(),
            json!({"name": "n", "email": "neXw@acme.test", "password": "long enough pw", "role": "agent"}),
        ),
        (
            "patched user name",
            true,
            "PATCH",
            user.clone(),
            json!({"name": "aXb"}),
        ),
    ];
    let line_breaks = ["\n", "\t"];
    for (what, single_line, method, path, body) in &cases {
        let mut refused: Vec<&str> = CONTROLS.to_vec();
        if *single_line {
            refused.extend(line_breaks);
        }
        for bad in refused {
            let body = with_text(body, bad);
            let (status, res) = match *method {
                "POST" => server.post(token, path, body.clone()).await,
                _ => server.patch(token, path, None, body.clone()).await,
            };
            assert_eq!(
                (status, code(&res)),
                (422, "validation"),
                "{what} with {bad:?}: {res}"
            );
            assert!(
                message(&res).contains("control characters"),
                "refused for what it holds: {res}"
            );
        }
    }
    assert_eq!(before, snapshot().await, "refused writes changed nothing");

    // Signing in with such an email is refused as input, not a 500.
    for bad in ["admin\u{0}@acme.test", "admin@acme.test\u{1}"] {
        let res = server
            .http
            .post(server.api("/api/auth/login"))
            .json(&json!({"email": bad, "password": support::PASSWORD}))
            .send()
            .await
            .unwrap();
        let (status, body) = support::status_json(res).await;
        assert_eq!(
            (status, code(&body)),
            (422, "validation"),
            "{bad:?}: {body}"
        );
    }

    // Multi-line bodies keep their newlines and tabs; CRLF is stored as LF.
    let (status, comment) = server
        .post(
            token,
            &format!("{ticket}/comments"),
            json!({"body": "line one\n\tindented\r\nlast"}),
        )
        .await;
    assert_eq!(status, 201, "{comment}");
    assert_eq!(comment["body"], "line one\n\tindented\nlast");
    let created = server
        .create_ticket(token, "Multi", json!({"message": "first\nsecond\tcolumn"}))
        .await;
    let (_, comments) = server
        .get(token, &format!("/api/tickets/{}/comments", created.id))
        .await;
    assert_eq!(comments[0]["body"], "first\nsecond\tcolumn");
}
