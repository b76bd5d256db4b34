//! The official npm `socket.io-client` against the server (tests/node): connect with auth,
//! typed events, replay, every connect-error code (reference-client.test.mjs); sessions that
//! end while their sockets are live (session-end.test.mjs); limits (limits.test.mjs).

mod support;

use std::path::Path;
use support::{TestServer, SECRET};

/// Runs one Node test file against a fresh server; fails with Node's output.
async fn node_tests(file: &str) {
    node_tests_with(file, support::Options::default()).await;
}

async fn node_tests_with(file: &str, options: support::Options) {
    let node_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/node");
    assert!(
        node_dir.join("node_modules/socket.io-client").exists(),
        "run `npm ci --ignore-scripts` in tests/node first (scripts/setup.sh does)"
    );
    let server = TestServer::start_with(options).await;
    let output = tokio::process::Command::new("node")
        .arg("--test")
        .arg(file)
        .current_dir(&node_dir)
        .env("DESKBELL_URL", &server.url)
        .env("DESKBELL_JWT_SECRET", SECRET)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(120), output)
        .await
        .expect("the node tests finish within 2 minutes")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "node tests of {file} failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("# fail 0"), "{stdout}");
    assert!(!stdout.contains("# pass 0"), "no node test ran:\n{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_socket_io_client_speaks_to_the_server() {
    node_tests("reference-client.test.mjs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_socket_io_client_sees_its_session_end() {
    node_tests("session-end.test.mjs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_socket_io_client_meets_the_limits() {
    node_tests_with(
        "limits.test.mjs",
        support::Options {
            writes_per_minute: 1000,
            ..support::Options::default()
        },
    )
    .await;
}
