//! The reference Node `socket.io` server (tests/node-server/server.mjs) as a child process,
//! driven through its HTTP control API. Included with `#[path]` by the tests that use it, so
//! that they do not link the in-process server of `support/mod.rs`.
//!
//! Needs `npm ci --ignore-scripts` in tests/node-server (scripts/setup.sh does it).
#![allow(dead_code)]

use serde_json::Value;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::{timeout, Instant};

pub const WAIT: Duration = Duration::from_secs(10);

pub struct NodeServer {
    /// Holds the server's stdin: it exits when that closes; killed on drop anyway.
    _child: Child,
    pub base: String,
    http: reqwest::Client,
}

impl NodeServer {
    pub async fn start(ping_interval_ms: u64, ping_timeout_ms: u64) -> NodeServer {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/node-server");
        assert!(
            dir.join("node_modules/socket.io").exists(),
            "run `npm ci --ignore-scripts` in tests/node-server first (scripts/setup.sh does)"
        );
        let mut child = Command::new("node")
            .arg("server.mjs")
            .args(["--ping-interval", &ping_interval_ms.to_string()])
            .args(["--ping-timeout", &ping_timeout_ms.to_string()])
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs");
        let stdout = child.stdout.take().unwrap();
        let line = timeout(WAIT, BufReader::new(stdout).lines().next_line())
            .await
            .expect("the node server starts in time")
            .unwrap()
            .expect("the node server prints its port");
        let port = serde_json::from_str::<Value>(&line).unwrap()["port"]
            .as_u64()
            .expect("a port");
        NodeServer {
            _child: child,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
        res.json().await.unwrap()
    }

    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> Value {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .query(query)
            .bearer_auth("company-1")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
        res.json().await.unwrap()
    }

    /// (sockets connected to `ns`, Engine.IO connections of the whole server)
    pub async fn count(&self, ns: &str) -> (u64, u64) {
        let v = self.get("/count", &[("ns", ns)]).await;
        (
            v["sockets"].as_u64().unwrap(),
            v["clients"].as_u64().unwrap(),
        )
    }

    /// Polls `count(ns)` until it is `want`, failing the test after `WAIT`.
    pub async fn wait_count(&self, ns: &str, want: (u64, u64)) {
        let deadline = Instant::now() + WAIT;
        loop {
            let got = self.count(ns).await;
            if got == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{ns}: (sockets, clients) = {got:?}, expected {want:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
