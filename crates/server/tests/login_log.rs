//! Failed sign-ins are logged with their reason and the client's address, never the password.
//!
//! Alone in its test binary: the log is captured with a thread-local subscriber, and tracing
//! caches per call site whether anyone listens, which tests on other threads would disturb.

mod support;

use support::{Captured, TestServer};

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
        server.sign_in("agent1@acme.test", secret).await.status(),
        401
    );
    assert_eq!(
        server.sign_in("nobody@acme.test", secret).await.status(),
        401
    );
    let log = captured.text();
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
