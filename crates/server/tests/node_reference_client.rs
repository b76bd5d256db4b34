//! The official npm `socket.io-client` against the server: connect with auth, typed events,
//! replay, every connect-error code (tests/node/reference-client.test.mjs).

mod support;

use std::path::Path;
use support::{TestServer, SECRET};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_socket_io_client_speaks_to_the_server() {
    let node_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/node");
    assert!(
        node_dir.join("node_modules/socket.io-client").exists(),
        "run `npm ci --ignore-scripts` in tests/node first (scripts/setup.sh does)"
    );
    let server = TestServer::start().await;
    let output = tokio::process::Command::new("node")
        .arg("--test")
        .arg("reference-client.test.mjs")
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
        "node tests failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("# fail 0"), "{stdout}");
    assert!(!stdout.contains("# pass 0"), "no node test ran:\n{stdout}");
}
