//! The `deskbell-server` binary: demo seeding is idempotent, SIGTERM/SIGINT shut it down cleanly.

use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const DEADLINE: Duration = Duration::from_secs(30);

/// Starts `deskbell-server demo` on an ephemeral port and returns it with its URL.
async fn start_demo(data_dir: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_deskbell-server"))
        .args(["demo", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env_remove("DESKBELL_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the binary");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let banner = tokio::time::timeout(DEADLINE, lines.next_line())
        .await
        .expect("banner within the deadline")
        .unwrap()
        .expect("a banner line");
    let url = banner
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {banner:?}"))
        .to_string();
    (child, url)
}

async fn ticket_count(http: &reqwest::Client, url: &str, email: &str) -> usize {
    let login: serde_json::Value = http
        .post(format!("{url}/api/auth/login"))
        .json(&serde_json::json!({"email": email, "password": "deskbell-demo"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("login {email}: {login}"));
    let board: serde_json::Value = http
        .get(format!("{url}/api/board"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(board["lanes"].as_array().unwrap().len(), 4, "four lanes");
    board["tickets"].as_array().unwrap().len()
}

fn signal(child: &Child, sig: i32) {
    let pid = child.id().expect("running") as i32;
    // SAFETY: plain kill(2) on our own child.
    let rc = unsafe { kill(pid, sig) };
    assert_eq!(rc, 0);
}

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}

#[tokio::test]
async fn demo_seeds_idempotently_and_stops_on_signals() {
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let (mut first, url) = start_demo(dir.path()).await;
    let health: serde_json::Value = http
        .get(format!("{url}/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let acme = ticket_count(&http, &url, "admin@acme.test").await;
    assert!(acme >= 24, "a few dozen Acme tickets, got {acme}");
    let agent = ticket_count(&http, &url, "agent1@acme.test").await;
    assert!(agent < acme, "agents see fewer tickets than admins");
    assert!(ticket_count(&http, &url, "agent2@acme.test").await > 0);
    assert!(ticket_count(&http, &url, "admin@globex.test").await > 0);
    assert!(dir.path().join("jwt-secret").exists());

    signal(&first, 15); // SIGTERM
    let status = tokio::time::timeout(DEADLINE, first.wait())
        .await
        .expect("exits")
        .unwrap();
    assert!(status.success(), "SIGTERM: {status:?}");

    // Same data dir again: nothing is seeded twice, the secret is kept (old tokens stay valid).
    let (mut second, url) = start_demo(dir.path()).await;
    assert_eq!(ticket_count(&http, &url, "admin@acme.test").await, acme);
    signal(&second, 2); // SIGINT
    let status = tokio::time::timeout(DEADLINE, second.wait())
        .await
        .expect("exits")
        .unwrap();
    assert!(status.success(), "SIGINT: {status:?}");
}

#[tokio::test]
async fn bad_configuration_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_deskbell-server"))
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--database-url",
            "mysql://nope",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unsupported database url"), "{stderr}");
    let output = Command::new(env!("CARGO_BIN_EXE_deskbell-server"))
        .args(["serve", "--bind", "not-an-address"])
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--bind"));
}
