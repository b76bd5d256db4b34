//! Log redaction end to end: with everything at TRACE, the server's log filter lets no token
//! or password through.
//!
//! Alone in its test binary: the log is captured with a thread-local subscriber, and tracing
//! caches per call site whether anyone listens, which tests on other threads would disturb.

mod support;

use serde_json::{json, Value};
use support::{Captured, TestServer};

/// With everything at TRACE, the server's log filter lets no token or password through, while
/// the same traffic logged without it does show the token (so the test can see a leak).
/// Current-thread runtime: the server's tasks run on this thread, under this subscriber.
#[tokio::test]
async fn no_log_line_holds_a_token_or_password_at_any_level() {
    use tracing_subscriber::layer::{Layer, SubscriberExt};
    let (server_log, unfiltered_log) = (Captured::default(), Captured::default());
    let layer = |out: &Captured| {
        let out = out.clone();
        tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(move || out.clone())
    };
    // Both on the registry itself: per-layer filters, each sees every event.
    let layers = vec![
        layer(&server_log)
            .with_filter(deskbell_server::logs::filter(Some("trace")))
            .boxed(),
        layer(&unfiltered_log)
            .with_filter(tracing_subscriber::EnvFilter::new("trace"))
            .boxed(),
    ];
    let subscriber = tracing_subscriber::registry().with(layers);
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = TestServer::start().await;
    let login = server.login("agent1@acme.test").await;
    let ns = format!("/workspace-{}", login.company.id);
    let mut socket = server
        .connect(&ns, json!({"token": login.access_token}))
        .await
        .expect("connect");
    socket
        .wait_for(&format!("company-{}-sync", login.company.id), |_| true)
        .await;
    let res = server
        .http
        .post(server.api("/api/auth/refresh"))
        .json(&json!({"refreshToken": login.refresh_token}))
        .send()
        .await
        .unwrap();
    let refreshed: Value = res.json().await.unwrap();
    socket.close();

    let unfiltered = unfiltered_log.text();
    assert!(
        unfiltered.contains(&login.access_token),
        "without the server's filter the CONNECT auth is logged (else this test proves nothing)"
    );
    let logged = server_log.text();
    assert!(
        logged.contains("socket connected"),
        "the server's own TRACE/DEBUG lines are captured"
    );
    for (what, secret) in [
        ("access token", login.access_token.as_str()),
        ("refresh token", login.refresh_token.as_str()),
        (
            "new access token",
            refreshed["accessToken"].as_str().unwrap(),
        ),
        (
            "new refresh token",
            refreshed["refreshToken"].as_str().unwrap(),
        ),
        ("password", support::PASSWORD),
    ] {
        let line = logged.lines().find(|l| l.contains(secret));
        assert!(line.is_none(), "the {what} is in the log: {line:?}");
    }
}
