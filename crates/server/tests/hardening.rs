//! Hardening: input ranges, text rules, per-company emails, attachment content types, file
//! modes and security headers (log redaction: `log_redaction.rs`). Runs on SQLite, and on
//! PostgreSQL when `DESKBELL_TEST_POSTGRES_URL` is set.

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

// ---------------------------------------------------------------- finding 9: emails per company

async fn login_status(server: &TestServer, body: Value) -> (u16, Value) {
    let res = server
        .http
        .post(server.api("/api/auth/login"))
        .json(&body)
        .send()
        .await
        .unwrap();
    support::status_json(res).await
}

#[tokio::test]
async fn emails_are_unique_per_company_and_the_password_picks_the_account() {
    let server = TestServer::start().await;
    let acme = server.login("admin@acme.test").await;
    let globex = server.login("admin@globex.test").await;
    let (acme_id, globex_id) = (acme.company.id, globex.company.id);

    // Another company's address is no longer a probe: creating it there succeeds.
    let other = json!({"name": "Other Ann", "email": "Agent1@acme.test", "password": "globex password", "role": "agent"});
    let (status, created) = server
        .post(&globex.access_token, "/api/users", other.clone())
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        (created["companyId"].as_i64(), created["email"].as_str()),
        (Some(globex_id), Some("agent1@acme.test"))
    );
    // Within one company an address is still taken.
    for (token, what) in [
        (&globex.access_token, "globex"),
        (&acme.access_token, "acme"),
    ] {
        let (status, body) = server.post(token, "/api/users", other.clone()).await;
        assert_eq!((status, code(&body)), (409, "conflict"), "{what}: {body}");
    }

    // The password picks the account; `companyId` narrows the accounts tried.
    let login = |email: &str, password: &str, company: Option<i64>| {
        let mut body = json!({"email": email, "password": password});
        if let Some(c) = company {
            body["companyId"] = json!(c);
        }
        login_status(&server, body)
    };
    let (status, body) = login("agent1@acme.test", support::PASSWORD, None).await;
    assert_eq!(
        (status, body["company"]["id"].as_i64()),
        (200, Some(acme_id))
    );
    let (status, body) = login("agent1@acme.test", "globex password", None).await;
    assert_eq!(
        (status, body["company"]["id"].as_i64()),
        (200, Some(globex_id))
    );
    assert_eq!(body["user"]["id"], created["id"]);
    let (status, body) = login("agent1@acme.test", "globex password", Some(globex_id)).await;
    assert_eq!(
        (status, body["user"]["id"].clone()),
        (200, created["id"].clone())
    );
    for (password, company) in [
        ("wrong password", None),
        (support::PASSWORD, Some(globex_id)),
        ("globex password", Some(acme_id)),
        (support::PASSWORD, Some(424_242)),
    ] {
        let (status, body) = login("agent1@acme.test", password, company).await;
        assert_eq!(
            (status, code(&body)),
            (401, "invalid_credentials"),
            "{password} in {company:?}"
        );
    }
    for bad in [0, -1, ID_MAX + 1] {
        let (status, body) = login("agent1@acme.test", support::PASSWORD, Some(bad)).await;
        assert_eq!((status, code(&body)), (422, "validation"), "{bad}: {body}");
    }

    // The same email and password in two companies: the caller must choose, and only someone
    // whose password matched learns which companies.
    let twin = json!({"name": "Twin Admin", "email": "admin@acme.test", "password": support::PASSWORD, "role": "admin"});
    let (status, twin) = server.post(&globex.access_token, "/api/users", twin).await;
    assert_eq!(status, 201, "{twin}");
    let (status, body) = login("admin@acme.test", support::PASSWORD, None).await;
    assert_eq!((status, code(&body)), (409, "workspace_required"), "{body}");
    let listed = message(&body);
    for company in [&acme.company, &globex.company] {
        assert!(
            listed.contains(&format!("{} ({})", company.name, company.id)),
            "names {}: {listed}",
            company.name
        );
    }
    let (status, body) = login("admin@acme.test", "wrong password", None).await;
    assert_eq!((status, code(&body)), (401, "invalid_credentials"));
    assert!(!message(&body).contains("Globex"), "{body}");
    let (status, body) = login("admin@acme.test", support::PASSWORD, Some(acme_id)).await;
    assert_eq!(
        (status, body["user"]["id"].as_i64()),
        (200, Some(acme.user.id))
    );
    let (status, body) = login("admin@acme.test", support::PASSWORD, Some(globex_id)).await;
    assert_eq!(
        (status, body["user"]["id"].clone()),
        (200, twin["id"].clone())
    );

    // A disabled account is not a candidate: the other one signs in without a choice.
    let (status, _) = server
        .patch(
            &globex.access_token,
            &format!("/api/users/{}", twin["id"]),
            None,
            json!({"active": false}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = login("admin@acme.test", support::PASSWORD, None).await;
    assert_eq!(
        (status, body["user"]["id"].as_i64()),
        (200, Some(acme.user.id))
    );
}

/// Migration 0004 on a database holding data at 0003: ids, data and every reference to a
/// user survive, and emails become unique per company.
#[tokio::test]
async fn migration_0004_keeps_users_and_their_references() {
    use sqlx::Row;
    sqlx::any::install_default_drivers();
    let dir = tempfile::tempdir().unwrap();
    let (url, backend) = match support::database_url().await {
        Some(url) => (url, "postgres"),
        None => (
            format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("m.sqlite").display()
            ),
            "sqlite",
        ),
    };
    let migrations =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("migrations/{backend}"));
    let mut at_0003 = sqlx::migrate::Migrator::new(migrations).await.unwrap();
    at_0003.migrations = at_0003
        .migrations
        .iter()
        .filter(|m| m.version <= 3)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    at_0003.run(&pool).await.unwrap();
    for sql in [
        "INSERT INTO companies (id, name, created_at) VALUES (1, 'A', 't'), (2, 'B', 't')",
        "INSERT INTO users (id, company_id, name, email, password_hash, role, active, created_at, visible_from_seq) VALUES
            (1, 1, 'Ann', 'ann@a.test', 'h1', 'admin', 1, 't1', 0),
            (2, 1, 'Bob', 'bob@a.test', 'h2', 'agent', 0, 't2', 5),
            (3, 2, 'Cy', 'cy@b.test', 'h3', 'admin', 1, 't3', 9),
            (7, 2, 'Gone', 'gone@b.test', 'h7', 'agent', 1, 't7', 0)",
        "INSERT INTO lanes (id, company_id, name, color, position, created_at) VALUES (1, 1, 'L', '#000000', 0, 't')",
        "INSERT INTO tickets (id, company_id, title, requester_name, status, priority, assignee_id, creator_id, lane_id, created_at, updated_at)
            VALUES (1, 1, 'T', 'R', 'open', 'normal', 2, 1, 1, 't', 't')",
        "INSERT INTO comments (company_id, ticket_id, author_id, body, created_at) VALUES (1, 1, 2, 'c', 't')",
        "INSERT INTO attachments (company_id, ticket_id, name, size, content_type, storage_key, uploaded_by, created_at)
            VALUES (1, 1, 'f', 1, 'text/plain', 'k', 1, 't')",
        "INSERT INTO refresh_tokens (token_hash, family_id, user_id, company_id, expires_at, created_at)
            VALUES ('th', 'fam', 3, 2, 't', 't')",
        // The highest id ever given stays used, even though that user is gone.
        "DELETE FROM users WHERE id = 7",
    ] {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    if backend == "postgres" {
        sqlx::query("SELECT setval('users_id_seq', 7)")
            .execute(&pool)
            .await
            .unwrap();
    }
    let users_before = users_table(&pool).await;
    pool.close().await;

    // The server's own start applies 0004 (on SQLite with foreign keys on, as it runs).
    let db = deskbell_server::db::Db::connect(&url).await.unwrap();
    assert_eq!(
        users_table(&db.pool).await,
        users_before,
        "same ids and data"
    );
    if backend == "sqlite" {
        let dangling = sqlx::query("PRAGMA foreign_key_check")
            .fetch_all(&db.pool)
            .await
            .unwrap();
        assert!(dangling.is_empty(), "every reference to a user still holds");
    }
    let joined: Vec<(String, String)> = sqlx::query(
        "SELECT a.email AS assignee, c.email AS author FROM tickets t
         JOIN users a ON a.id = t.assignee_id JOIN comments m ON m.ticket_id = t.id
         JOIN users c ON c.id = m.author_id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get("assignee"), r.get("author")))
    .collect();
    assert_eq!(joined, [("bob@a.test".into(), "bob@a.test".into())]);

    let insert = |company: i64, email: &'static str| {
        sqlx::query(
            "INSERT INTO users (company_id, name, email, password_hash, role, active, created_at)
             VALUES ($1, 'N', $2, 'h', 'agent', 1, 't') RETURNING id",
        )
        .bind(company)
        .bind(email)
        .fetch_one(&db.pool)
    };
    let id: i64 = insert(2, "ann@a.test").await.unwrap().get("id");
    assert_eq!(id, 8, "a new id, after the highest ever given");
    let Err(err) = insert(1, "ann@a.test").await else {
        panic!("the address is taken in company 1");
    };
    assert!(
        err.as_database_error()
            .is_some_and(|e| e.is_unique_violation()),
        "{err}"
    );
    // Referencing a user that does not exist is still refused.
    let err = sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, family_id, user_id, company_id, expires_at, created_at)
         VALUES ('x', 'f', 999, 1, 't', 't')",
    )
    .execute(&db.pool)
    .await
    .unwrap_err();
    assert!(
        err.to_string().to_lowercase().contains("foreign key"),
        "{err}"
    );
    db.close().await;
}

async fn users_table(pool: &sqlx::AnyPool) -> Vec<Vec<String>> {
    use sqlx::Row;
    sqlx::query(
        "SELECT id, company_id, name, email, password_hash, role, active, created_at,
                visible_from_seq
         FROM users ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .iter()
    .map(|r| {
        vec![
            r.get::<i64, _>("id").to_string(),
            r.get::<i64, _>("company_id").to_string(),
            r.get("name"),
            r.get("email"),
            r.get("password_hash"),
            r.get("role"),
            r.get::<i64, _>("active").to_string(),
            r.get("created_at"),
            r.get::<i64, _>("visible_from_seq").to_string(),
        ]
    })
    .collect()
}

// ---------------------------------------------------------------- finding 10: files, headers

/// Uploads `bytes` as `name` with `content_type` to a new ticket; returns the attachment.
async fn upload(
    server: &TestServer,
    token: &str,
    name: &str,
    content_type: &str,
    bytes: &[u8],
) -> Value {
    let t = server.create_ticket(token, "Has a file", json!({})).await;
    let part = reqwest::multipart::Part::bytes(bytes.to_vec())
        .file_name(name.to_string())
        .mime_str(content_type)
        .unwrap();
    let res = server
        .http
        .post(server.api(&format!("/api/tickets/{}/attachments", t.id)))
        .bearer_auth(token)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    let (status, attachment) = support::status_json(res).await;
    assert_eq!(status, 201, "{attachment}");
    attachment
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_dir_database_secret_and_attachments_are_private() {
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;
    let mode = |p: &Path| {
        std::fs::metadata(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode()
            & 0o777
    };
    let sqlite = std::env::var_os("DESKBELL_TEST_POSTGRES_URL").is_none();
    for existing in [true, false] {
        let root = tempfile::tempdir().unwrap();
        let data_dir = if existing {
            // As an older version left it: everything readable by everyone.
            let dir = root.path().to_path_buf();
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
            if sqlite {
                // An empty file is an empty SQLite database.
                let db = dir.join("deskbell.sqlite");
                std::fs::write(&db, b"").unwrap();
                std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
            }
            dir
        } else {
            root.path().join("fresh/data")
        };
        let mut config = deskbell_server::Config::new(data_dir.clone());
        config.bind = "127.0.0.1:0".parse().unwrap();
        config.database_url = support::database_url().await;
        let server = TestServer::start_config(config, root).await;
        let admin = server.login("admin@acme.test").await;
        upload(
            &server,
            &admin.access_token,
            "notes.txt",
            "text/plain",
            b"private",
        )
        .await;

        let attachments = data_dir.join("attachments");
        let company_dir = attachments.join(admin.company.id.to_string());
        let stored: Vec<_> = std::fs::read_dir(&company_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(stored.len(), 1);
        let mut expected = vec![
            (data_dir.clone(), 0o700),
            (attachments, 0o700),
            (company_dir, 0o700),
            (stored[0].clone(), 0o600),
        ];
        if sqlite {
            // The server keeps the database in WAL mode: the log and its index exist. With
            // PostgreSQL the signing key is in the database, shared by every node.
            for file in [
                "jwt-secret",
                "deskbell.sqlite.lock",
                "deskbell.sqlite",
                "deskbell.sqlite-wal",
                "deskbell.sqlite-shm",
            ] {
                expected.push((data_dir.join(file), 0o600));
            }
        }
        for (path, want) in expected {
            assert_eq!(
                format!("{:o}", mode(&path)),
                format!("{want:o}"),
                "{} (existing data dir: {existing})",
                path.display()
            );
        }
    }
}

#[tokio::test]
async fn downloads_serve_active_content_as_inert_bytes() {
    let server = TestServer::start().await;
    let agent = server.login("agent1@acme.test").await;
    let token = &agent.access_token;
    let octet = "application/octet-stream";
    for (sent, served) in [
        ("text/html", octet),
        ("text/html; charset=utf-8", octet),
        ("application/xhtml+xml", octet),
        ("image/svg+xml", octet),
        ("text/xml", octet),
        ("application/xml", octet),
        ("application/javascript", octet),
        ("text/css", octet),
        ("application/x-unknown", octet),
        ("image/png", "image/png"),
        ("application/pdf", "application/pdf"),
        ("text/plain; charset=utf-8", "text/plain"),
    ] {
        let bytes = b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>";
        let attachment = upload(&server, token, "file.bin", sent, bytes).await;
        let res = server
            .http
            .get(server.api(&format!("/api/attachments/{}", attachment["id"])))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let header = |name: &str| {
            res.headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default()
        };
        assert_eq!(header("content-type"), served, "uploaded as {sent}");
        assert!(
            header("content-disposition").starts_with("attachment;"),
            "{sent}: {}",
            header("content-disposition")
        );
        assert!(
            header("content-security-policy").contains("sandbox"),
            "{sent}: {}",
            header("content-security-policy")
        );
        assert_eq!(header("x-content-type-options"), "nosniff");
        assert_eq!(
            res.bytes().await.unwrap().as_ref(),
            bytes,
            "the bytes as uploaded"
        );
    }
}

#[tokio::test]
async fn auth_responses_are_never_cached_and_no_response_is_sniffed() {
    let server = TestServer::start().await;
    let post = |path: &str, body: Value, token: Option<&str>| {
        let mut req = server.http.post(server.api(path)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    let headers_of = |res: &reqwest::Response| {
        let get = |name: &str| {
            res.headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default()
        };
        (
            res.status().as_u16(),
            get("cache-control"),
            get("x-content-type-options"),
        )
    };
    let ok = post(
        "/api/auth/login",
        json!({"email": "agent1@acme.test", "password": support::PASSWORD}),
        None,
    )
    .await
    .unwrap();
    let (status, cache, sniff) = headers_of(&ok);
    assert_eq!(
        (status, cache.as_str(), sniff.as_str()),
        (200, "no-store", "nosniff")
    );
    let session: Value = ok.json().await.unwrap();
    let refreshed = post(
        "/api/auth/refresh",
        json!({"refreshToken": session["refreshToken"]}),
        None,
    )
    .await
    .unwrap();
    let (status, cache, _) = headers_of(&refreshed);
    assert_eq!((status, cache.as_str()), (200, "no-store"));
    let session: Value = refreshed.json().await.unwrap();
    let access = session["accessToken"].as_str().unwrap();

    // Errors of the auth routes are not stored either.
    for (path, body, token, want) in [
        (
            "/api/auth/login",
            json!({"email": "agent1@acme.test", "password": "wrong"}),
            None,
            401,
        ),
        ("/api/auth/login", json!({"email": "x"}), None, 422),
        (
            "/api/auth/refresh",
            json!({"refreshToken": "made-up"}),
            None,
            401,
        ),
        ("/api/auth/logout", json!({}), None, 401),
        ("/api/auth/logout", json!({}), Some(access), 204),
    ] {
        let res = post(path, body, token).await.unwrap();
        let (status, cache, sniff) = headers_of(&res);
        assert_eq!(
            (status, cache.as_str(), sniff.as_str()),
            (want, "no-store", "nosniff"),
            "{path}"
        );
    }

    // Every other response is not sniffed: health, data, 404s, errors, Socket.IO.
    let admin = server.login("admin@acme.test").await;
    for (path, token, want) in [
        ("/health", None, 200),
        ("/api/board", Some(admin.access_token.as_str()), 200),
        ("/api/nothing-here", Some(admin.access_token.as_str()), 404),
        (
            "/api/tickets/999999",
            Some(admin.access_token.as_str()),
            404,
        ),
        ("/api/me", None, 401),
        ("/socket.io/?EIO=4&transport=polling", None, 200),
    ] {
        let mut req = server.http.get(server.api(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.unwrap();
        let (status, _, sniff) = headers_of(&res);
        assert_eq!((status, sniff.as_str()), (want, "nosniff"), "{path}");
    }
    let refused = post(
        "/api/lanes",
        json!({"name": "x", "color": "red"}),
        Some(&admin.access_token),
    )
    .await
    .unwrap();
    let (status, _, sniff) = headers_of(&refused);
    assert_eq!((status, sniff.as_str()), (422, "nosniff"));
}
