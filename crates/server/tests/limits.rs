//! Limits an anonymous client cannot exhaust: password checks bounded, sign-ins throttled per
//! account and per address (each failure logged with its reason, never the password).

mod support;

use serde_json::json;
use std::io::Write;
use std::sync::{Arc, Mutex};
use support::{TestServer, PASSWORD};

async fn sign_in(server: &TestServer, email: &str, password: &str) -> reqwest::Response {
    server
        .http
        .post(server.api("/api/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
}

/// 32 wrong-password sign-ins at once: at most the configured number of argon2 hashes ever
/// run together, and those beyond the short queue are refused at once with 429.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_checks_are_bounded_and_the_excess_refused_at_once() {
    let server = TestServer::start_with(support::Options {
        password_checks: Some((2, 2)),
        ..support::Options::default()
    })
    .await;
    let attempts = (0..32).map(|i| {
        let server = &server;
        async move {
            // Different accounts, so the per-account throttle is not what refuses them.
            let res = sign_in(server, &format!("nobody{i}@acme.test"), "wrong password").await;
            let retry_after = res.headers().get("retry-after").cloned();
            let (status, body) = support::status_json(res).await;
            (status, body, retry_after)
        }
    });
    let answers = futures_util::future::join_all(attempts).await;
    let refused: Vec<_> = answers.iter().filter(|(s, _, _)| *s == 429).collect();
    let checked = answers.iter().filter(|(s, _, _)| *s == 401).count();
    assert_eq!(refused.len() + checked, 32, "{answers:?}");
    assert!(!refused.is_empty(), "nothing was refused: {answers:?}");
    assert!(checked >= 2, "some were checked: {answers:?}");
    for (_, body, retry_after) in &refused {
        assert_eq!(body["error"]["code"], "rate_limited");
        assert!(retry_after.is_some(), "429 without Retry-After");
    }
    let gate = &server.server().state().hash_gate;
    assert!(
        gate.peak() <= 2,
        "{} password hashes ran at once",
        gate.peak()
    );
}

/// One account, wrong passwords in a row: after five, 429 with Retry-After — then even the
/// right password is refused until the delay is over; other accounts are not affected.
#[tokio::test]
async fn repeated_failures_block_the_account_even_for_the_right_password() {
    let server = TestServer::start().await;
    for i in 0..5 {
        let res = sign_in(&server, "agent1@acme.test", "not the password").await;
        assert_eq!(res.status(), 401, "failure {i} is answered normally");
    }
    let res = sign_in(&server, "agent1@acme.test", "not the password").await;
    assert_eq!(res.status(), 401, "the sixth failure still gets checked");
    let res = sign_in(&server, "Agent1@ACME.test", PASSWORD).await;
    assert_eq!(res.status(), 429, "blocked, whatever the case of the email");
    let retry_after: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    let (_, body) = support::status_json(res).await;
    assert_eq!(body["error"]["code"], "rate_limited");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("this account"),
        "{body}"
    );
    // Another account from the same address signs in.
    assert_eq!(
        sign_in(&server, "agent2@acme.test", PASSWORD)
            .await
            .status(),
        200
    );
    // An account that does not exist is throttled the same way (no existence oracle).
    for _ in 0..6 {
        sign_in(&server, "ghost@acme.test", "guess").await;
    }
    assert_eq!(
        sign_in(&server, "ghost@acme.test", "guess").await.status(),
        429
    );
}

/// Many accounts tried from one address: the address is blocked.
#[tokio::test]
async fn one_address_guessing_across_accounts_is_blocked() {
    let server = TestServer::start().await;
    for i in 0..20 {
        let res = sign_in(&server, &format!("guess{i}@acme.test"), "guess").await;
        assert_eq!(res.status(), 401, "guess {i}");
    }
    sign_in(&server, "guess20@acme.test", "guess").await;
    let res = sign_in(&server, "admin@acme.test", PASSWORD).await;
    assert_eq!(res.status(), 429);
    let (_, body) = support::status_json(res).await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("this address"),
        "{body}"
    );
}

/// A writer the test can read back.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every failed sign-in leaves a log line with its reason and the client's address, and no
/// line ever holds the password.
#[tokio::test(flavor = "current_thread")]
async fn failed_sign_ins_are_logged_with_reason_and_address_never_the_password() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // The current-thread runtime runs the server on this thread: its logs come here.
    let _guard = tracing::subscriber::set_default(subscriber);
    let server = TestServer::start().await;
    let secret = "hunter2-do-not-log-me";
    assert_eq!(
        sign_in(&server, "agent1@acme.test", secret).await.status(),
        401
    );
    assert_eq!(
        sign_in(&server, "nobody@acme.test", secret).await.status(),
        401
    );
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let failures: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("sign-in failed"))
        .collect();
    assert_eq!(failures.len(), 2, "{log}");
    assert!(failures[0].contains("wrong password"), "{}", failures[0]);
    assert!(failures[1].contains("no such account"), "{}", failures[1]);
    for line in &failures {
        assert!(line.contains("127.0.0.1"), "no address: {line}");
    }
    assert!(!log.contains(secret), "a password reached the log");
}
