//! Limits an anonymous client cannot exhaust: password checks bounded, sign-ins throttled per
//! account and per address (each failure logged with its reason, never the password).

mod support;

use support::{TestServer, PASSWORD};

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
            let res = server
                .sign_in(&format!("nobody{i}@acme.test"), "wrong password")
                .await;
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
        let res = server.sign_in("agent1@acme.test", "not the password").await;
        assert_eq!(res.status(), 401, "failure {i} is answered normally");
    }
    let res = server.sign_in("agent1@acme.test", "not the password").await;
    assert_eq!(res.status(), 401, "the sixth failure still gets checked");
    // Blocked whatever the case of the email.
    let res = server.sign_in("Agent1@ACME.test", PASSWORD).await;
    support::assert_rate_limited(res, "this account").await;
    // Another account from the same address signs in.
    assert_eq!(
        server.sign_in("agent2@acme.test", PASSWORD).await.status(),
        200
    );
    // An account that does not exist is throttled the same way (no existence oracle).
    for _ in 0..6 {
        server.sign_in("ghost@acme.test", "guess").await;
    }
    assert_eq!(
        server.sign_in("ghost@acme.test", "guess").await.status(),
        429
    );
}

/// Many accounts tried from one address: the address is blocked.
#[tokio::test]
async fn one_address_guessing_across_accounts_is_blocked() {
    let server = TestServer::start().await;
    for i in 0..20 {
        let res = server
            .sign_in(&format!("guess{i}@acme.test"), "guess")
            .await;
        assert_eq!(res.status(), 401, "guess {i}");
    }
    server.sign_in("guess20@acme.test", "guess").await;
    let res = server.sign_in("admin@acme.test", PASSWORD).await;
    support::assert_rate_limited(res, "this address").await;
}
