//! Shared by the client tests that run the real server in-process: the server, and
//! `deskbell-cli watch --json` as a child process whose JSON lines the test reads.
#![allow(dead_code)]

use deskbell_client::desk::DeskEvent;
use deskbell_server::{demo, Config, Server};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Upper bound for anything that should happen "soon" (2 cores, debug build).
pub const WAIT: Duration = Duration::from_secs(20);

/// The demo server on an ephemeral port (SQLite in a fresh dir, no write limit).
pub async fn start_server(secret: &str) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(dir.path().to_path_buf());
    config.bind = "127.0.0.1:0".parse().unwrap();
    config.jwt_secret = Some(secret.into());
    config.writes_per_minute = 0;
    let state = deskbell_server::prepare(config).await.expect("prepare");
    demo::seed(&state).await.expect("seed");
    (deskbell_server::serve(state).await.expect("serve"), dir)
}

/// The next event from a desk's stream matching `pred`, within `within`; every event read is
/// kept in `seen` (the failure shows the last ones).
pub async fn next_desk_event(
    events: &mut mpsc::Receiver<DeskEvent>,
    seen: &mut Vec<DeskEvent>,
    what: &str,
    within: Duration,
    pred: impl Fn(&DeskEvent) -> bool,
) -> DeskEvent {
    let deadline = Instant::now() + within;
    loop {
        tokio::select! {
            event = events.recv() => {
                let event = event.expect("the core is running");
                seen.push(event.clone());
                if pred(&event) {
                    return event;
                }
            }
            _ = tokio::time::sleep_until(deadline) => panic!(
                "no {what} within {within:?}; recent events {:#?}",
                &seen[seen.len().saturating_sub(12)..]
            ),
        }
    }
}

/// `deskbell-cli --server URL watch --json --email EMAIL` (demo password), its stdout read as
/// JSON lines and its stderr collected.
pub struct CliWatch {
    child: Option<Child>,
    lines: mpsc::UnboundedReceiver<serde_json::Value>,
    /// Every line read so far.
    pub all: Vec<serde_json::Value>,
    stderr: Option<std::thread::JoinHandle<String>>,
    _config_home: tempfile::TempDir,
}

impl CliWatch {
    pub fn spawn(server_url: &str, email: &str) -> CliWatch {
        let config_home = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_deskbell-cli"))
            .args(["--server", server_url, "watch", "--json", "--email", email])
            .env("DESKBELL_PASSWORD", demo::DEMO_PASSWORD)
            .env("XDG_CONFIG_HOME", config_home.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (lines_tx, lines) = mpsc::unbounded_channel::<serde_json::Value>();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
                if lines_tx.send(value).is_err() {
                    break;
                }
            }
        });
        let stderr = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("deskbell-cli: {line}");
                text.push_str(&line);
                text.push('\n');
            }
            text
        });
        CliWatch {
            child: Some(child),
            lines,
            all: Vec::new(),
            stderr: Some(stderr),
            _config_home: config_home,
        }
    }

    /// The next line matching `pred`, within `WAIT`.
    pub async fn next(
        &mut self,
        what: &str,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let line = tokio::select! {
                line = self.lines.recv() => line.unwrap_or_else(|| panic!("stdout closed waiting for {what}: {:#?}", self.all)),
                _ = tokio::time::sleep_until(deadline) => panic!("timed out waiting for {what}: {:#?}", self.all),
            };
            self.all.push(line.clone());
            if pred(&line) {
                return line;
            }
        }
    }

    /// The next `state` line in `state`.
    pub async fn state(&mut self, state: &str) -> serde_json::Value {
        self.next(state, |v| {
            v["kind"] == "state" && v["state"]["state"] == state
        })
        .await
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Where the CLI keeps its settings (its `XDG_CONFIG_HOME`).
    pub fn config_home(&self) -> &std::path::Path {
        self._config_home.path()
    }

    /// Waits for the process to exit (within `WAIT`); its status and stderr.
    pub async fn exit(&mut self) -> (std::process::ExitStatus, String) {
        let mut child = self.child.take().expect("running");
        let status = tokio::time::timeout(WAIT, tokio::task::spawn_blocking(move || child.wait()))
            .await
            .expect("the CLI exits by itself")
            .unwrap()
            .unwrap();
        let stderr = self.stderr.take().expect("read once").join().unwrap();
        (status, stderr)
    }
}
