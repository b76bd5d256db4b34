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
