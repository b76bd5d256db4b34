//! Several nodes on one PostgreSQL database, with and without Redis between them: tokens,
//! session ends, delivery in `seq` order (exactly once, caught up from the log when a message
//! is lost) and the write limit hold across nodes. These run in the PostgreSQL pass of the test
//! command (`DESKBELL_TEST_POSTGRES_URL`), the Redis ones when `DESKBELL_TEST_REDIS_URL` is set
//! too (the test command starts a Redis); SQLite's one-node rule is checked in every pass.

mod support;

use deskbell_server::Config;
use serde_json::{json, Value};
use std::collections::HashMap;
use support::{Incoming, SioClient, TestServer};

/// The PostgreSQL database the nodes of one test share, or `None` (with a note) on SQLite.
async fn shared_database(test: &str) -> Option<String> {
    let url = support::database_url().await;
    if url.is_none() {
        eprintln!("{test}: needs PostgreSQL (DESKBELL_TEST_POSTGRES_URL); runs in that pass");
    }
    url
}

fn redis_url(test: &str) -> Option<String> {
    let url = std::env::var("DESKBELL_TEST_REDIS_URL").ok();
    if url.is_none() {
        eprintln!("{test}: needs Redis (DESKBELL_TEST_REDIS_URL); the test command sets it");
    }
    url
}

/// A node on `database`; no signing secret is given, so the nodes must share the database's.
async fn node(
    database: &str,
    redis: Option<&str>,
    name: &str,
    writes_per_minute: u32,
) -> TestServer {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::new(data_dir.path().to_path_buf());
    config.bind = "127.0.0.1:0".parse().unwrap();
    config.database_url = Some(database.to_string());
    config.redis_url = redis.map(str::to_string);
    config.node_name = name.to_string();
    config.writes_per_minute = writes_per_minute;
    TestServer::start_config(config, data_dir).await
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

/// Reads ticket events until one titled `last`, checking each chains to the last event of its
/// stream this socket received (none missed, none twice), and returns their titles by seq.
async fn titles_until(client: &mut SioClient, basis: i64, last: &str) -> Vec<(i64, String)> {
    let mut streams: HashMap<String, i64> = HashMap::new();
    let mut seen = Vec::new();
    loop {
        let (name, event) = client.next_event().await;
        assert_eq!(name, "company-1-ticket", "{event}");
        let seq = event["seq"].as_i64().unwrap();
        let stream = event["stream"].as_str().unwrap().to_string();
        let prev = event["prevSeq"].as_i64().unwrap();
        match streams.get(&stream) {
            Some(&last_of_stream) => assert_eq!(prev, last_of_stream, "event {seq} of {stream}"),
            None => assert!(
                prev <= basis,
                "event {seq}: its predecessor {prev} was missed"
            ),
        }
        assert!(seen.last().is_none_or(|(s, _)| *s < seq), "in seq order");
        streams.insert(stream, seq);
        let title = event["ticket"]["title"].as_str().unwrap().to_string();
        seen.push((seq, title.clone()));
        if title == last {
            return seen;
        }
    }
}

#[tokio::test]
async fn a_token_from_one_node_works_on_another_until_signed_out_there() {
    let Some(db) = shared_database("tokens").await else {
        return;
    };
    let a = node(&db, None, "node-a", 0).await;
    let b = node(&db, None, "node-b", 0).await;
    let agent = a.login("agent1@acme.test").await;
    let (status, me) = b.get(&agent.access_token, "/api/me").await;
    assert_eq!(status, 200, "B accepts A's token: {me}");
    assert_eq!(me["user"]["email"], "agent1@acme.test");
    let (mut on_b, _) = socket(&b, &agent.access_token, None).await;

    let (status, _) = a
        .post(&agent.access_token, "/api/auth/logout", json!({}))
        .await;
    assert_eq!(status, 204);
    // The socket on B is ended by the logout made on A.
    let ended = on_b.wait_for("company-1-session", |_| true).await;
    assert_eq!(ended["reason"], "signed-out");
    assert_eq!(on_b.next().await, Incoming::Closed);
    // And B refuses the token and the refresh token at once: sessions are read from the
    // database on every request.
    let (status, _) = b.get(&agent.access_token, "/api/me").await;
    assert_eq!(status, 401);
    let res = b
        .http
        .post(b.api("/api/auth/refresh"))
        .json(&json!({"refreshToken": agent.refresh_token}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

/// Writes through both nodes, each socket on the other: every event once, in order.
async fn writes_cross_between(a: &TestServer, b: &TestServer) {
    let admin = a.login("admin@acme.test").await;
    let (mut on_a, head_a) = socket(a, &admin.access_token, None).await;
    let (mut on_b, head_b) = socket(b, &admin.access_token, None).await;
    let mut written = Vec::new();
    for i in 0..20 {
        let through = if i % 3 == 0 { b } else { a };
        let title = format!("write {i}");
        through
            .create_ticket(&admin.access_token, &title, json!({}))
            .await;
        written.push(title);
    }
    a.create_ticket(&admin.access_token, "last", json!({}))
        .await;
    written.push("last".into());
    for (client, basis) in [(&mut on_a, head_a), (&mut on_b, head_b)] {
        let titles: Vec<String> = titles_until(client, basis, "last")
            .await
            .into_iter()
            .map(|(_, t)| t)
            .collect();
        assert_eq!(titles, written, "every write once, in commit order");
    }
}

#[tokio::test]
async fn writes_through_either_node_reach_sockets_on_both_through_redis() {
    let Some(db) = shared_database("through redis").await else {
        return;
    };
    let Some(redis) = redis_url("through redis") else {
        return;
    };
    let a = node(&db, Some(&redis), "node-a", 0).await;
    let b = node(&db, Some(&redis), "node-b", 0).await;
    writes_cross_between(&a, &b).await;
    let link = b.server().state().redis.as_ref().expect("linked");
    assert!(
        link.received.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "B heard A through Redis"
    );
}

#[tokio::test]
async fn without_redis_the_log_alone_carries_other_nodes_events() {
    let Some(db) = shared_database("log only").await else {
        return;
    };
    let a = node(&db, None, "node-a", 0).await;
    let b = node(&db, None, "node-b", 0).await;
    writes_cross_between(&a, &b).await;
    let caught_up = b
        .server()
        .state()
        .hub
        .stats
        .caught_up_from_log
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(caught_up > 0, "B read A's events from the log");
}

#[tokio::test]
async fn a_node_whose_messages_never_arrive_is_caught_up_from_the_log_in_order() {
    let Some(db) = shared_database("lost messages").await else {
        return;
    };
    let Some(redis) = redis_url("lost messages") else {
        return;
    };
    // A publishes nothing (as if every one of its messages were lost); C publishes. B hears C
    // right after A's unheard writes: the gap is filled from the log before C's event.
    let a = node(&db, None, "node-a", 0).await;
    let b = node(&db, Some(&redis), "node-b", 0).await;
    let c = node(&db, Some(&redis), "node-c", 0).await;
    let admin = a.login("admin@acme.test").await;
    let (mut on_b, basis) = socket(&b, &admin.access_token, None).await;
    for round in 0..5 {
        a.create_ticket(&admin.access_token, &format!("unheard {round}"), json!({}))
            .await;
        c.create_ticket(&admin.access_token, &format!("heard {round}"), json!({}))
            .await;
    }
    // The last write is A's: nothing follows it, so only the log poller brings it.
    a.create_ticket(&admin.access_token, "last", json!({}))
        .await;
    let titles: Vec<String> = titles_until(&mut on_b, basis, "last")
        .await
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    let mut expected = Vec::new();
    for round in 0..5 {
        expected.push(format!("unheard {round}"));
        expected.push(format!("heard {round}"));
    }
    expected.push("last".into());
    assert_eq!(titles, expected);
}

#[tokio::test]
async fn the_write_limit_counts_every_nodes_writes() {
    let Some(db) = shared_database("cluster limit").await else {
        return;
    };
    let Some(redis) = redis_url("cluster limit") else {
        return;
    };
    // 12 a minute for the company, 6 for one member.
    let a = node(&db, Some(&redis), "node-a", 12).await;
    let b = node(&db, Some(&redis), "node-b", 12).await;
    let admin = a.login("admin@acme.test").await;
    let agent = a.login("agent1@acme.test").await;
    let agent2 = a.login("agent2@acme.test").await;
    let write = |server: &TestServer, token: &str, n: usize| {
        let url = server.api("/api/tickets");
        let http = server.http.clone();
        let token = token.to_string();
        async move {
            http.post(url)
                .bearer_auth(token)
                .json(&json!({"title": format!("limited {n}"), "requester": {"name": "R"}}))
                .send()
                .await
                .unwrap()
        }
    };
    // The member's share is spent across both nodes.
    for n in 0..6 {
        let through = if n % 2 == 0 { &a } else { &b };
        assert_eq!(write(through, &admin.access_token, n).await.status(), 201);
    }
    support::assert_rate_limited(write(&b, &admin.access_token, 6).await, "your share").await;
    support::assert_rate_limited(write(&a, &admin.access_token, 7).await, "your share").await;
    // The company's budget too: 6 more by others fill it, on either node.
    for n in 0..6 {
        let (through, token) = if n % 2 == 0 {
            (&b, &agent.access_token)
        } else {
            (&a, &agent2.access_token)
        };
        assert_eq!(write(through, token, 100 + n).await.status(), 201);
    }
    support::assert_rate_limited(
        write(&a, &agent2.access_token, 200).await,
        "for this company",
    )
    .await;
    support::assert_rate_limited(
        write(&b, &agent.access_token, 201).await,
        "for this company",
    )
    .await;
}

#[tokio::test]
async fn health_names_the_node_and_its_redis_link() {
    let Some(db) = shared_database("health").await else {
        return;
    };
    let Some(redis) = redis_url("health") else {
        return;
    };
    let a = node(&db, Some(&redis), "node-a", 0).await;
    let alone = node(&db, None, "node-alone", 0).await;
    let health = |server: &TestServer| {
        let url = server.api("/health");
        async move {
            let res = reqwest::get(url).await.unwrap();
            assert_eq!(res.status(), 200);
            res.json::<Value>().await.unwrap()
        }
    };
    let linked = health(&a).await;
    assert_eq!(linked["node"], "node-a");
    assert_eq!(linked["redis"], "up");
    assert_eq!(linked["status"], "ok");
    let unlinked = health(&alone).await;
    assert_eq!(unlinked["node"], "node-alone");
    assert!(unlinked.get("redis").is_none(), "{unlinked}");
}

#[tokio::test]
async fn a_node_that_cannot_join_says_why_at_start() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(data_dir.path().to_path_buf());
    config.bind = "127.0.0.1:0".parse().unwrap();
    // SQLite (the default) has one server: Redis would join it to nobody.
    config.redis_url = Some("redis://127.0.0.1:1".into());
    let refused = deskbell_server::prepare(config.clone())
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(refused.contains("PostgreSQL"), "{refused}");
    let Some(db) = shared_database("cannot join").await else {
        return;
    };
    config.database_url = Some(db);
    // Nothing listens on port 1.
    let refused = deskbell_server::prepare(config)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        refused.contains("cannot reach Redis at redis://127.0.0.1:1"),
        "{refused}"
    );
}
