//! The servers under test, each run as a child process on loopback.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Deskbell,
    Node,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Deskbell => "deskbell",
            Kind::Node => "node socket.io",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "deskbell" => Some(Kind::Deskbell),
            "node" => Some(Kind::Node),
            _ => None,
        }
    }
}

pub struct Paths {
    pub deskbell_bin: PathBuf,
    pub node_bin: String,
    pub node_script: PathBuf,
}

pub struct Server {
    pub kind: Kind,
    pub port: u16,
    pub child: Child,
    pub log: PathBuf,
}

impl Server {
    pub fn spawn(kind: Kind, port: u16, paths: &Paths, work: &Path) -> Result<Server> {
        std::fs::create_dir_all(work)?;
        let log = work.join(format!("{}-server.log", kind_file(kind)));
        let out = std::fs::File::create(&log)?;
        let err = out.try_clone()?;
        let bind = format!("127.0.0.1:{port}");
        let mut cmd = match kind {
            Kind::Deskbell => {
                let data = work.join("deskbell-data");
                let _ = std::fs::remove_dir_all(&data);
                std::fs::create_dir_all(&data)?;
                let mut c = Command::new(&paths.deskbell_bin);
                c.env("NO_COLOR", "1")
                    .args(["demo", "--bind", &bind, "--data-dir"])
                    .arg(&data)
                    .args(["--writes-per-minute", "0"]);
                c
            }
            Kind::Node => {
                let mut c = Command::new(&paths.node_bin);
                c.arg(&paths.node_script).args([
                    "--port",
                    &port.to_string(),
                    "--host",
                    "127.0.0.1",
                ]);
                c
            }
        };
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .with_context(|| format!("cannot start the {} server", kind.label()))?;
        Ok(Server {
            kind,
            port,
            child,
            log,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn ws_url(&self) -> String {
        format!(
            "ws://127.0.0.1:{}/socket.io/?EIO=4&transport=websocket",
            self.port
        )
    }

    /// Polls `GET /health` until it answers 200, the child dies, or the deadline passes.
    pub async fn wait_healthy(&mut self, http: &reqwest::Client, deadline: Duration) -> Result<()> {
        let start = Instant::now();
        let url = format!("{}/health", self.base());
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{} server exited during start-up ({status}); see {}",
                    self.kind.label(),
                    self.log.display()
                );
            }
            if let Ok(resp) = http.get(&url).timeout(Duration::from_secs(2)).send().await {
                if resp.status() == 200 {
                    return Ok(());
                }
            }
            if start.elapsed() > deadline {
                bail!(
                    "{} server not healthy after {deadline:?}; see {}",
                    self.kind.label(),
                    self.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn login(&self, http: &reqwest::Client) -> Result<String> {
        let resp = http
            .post(format!("{}/api/auth/login", self.base()))
            .json(&serde_json::json!({"email": "admin@acme.test", "password": "deskbell-demo"}))
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .context("login request")?;
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.context("login response")?;
        if !status.is_success() {
            bail!("login answered {status}: {body}");
        }
        body["accessToken"]
            .as_str()
            .map(str::to_string)
            .context("login response has no accessToken")
    }

    /// SIGTERM, then SIGKILL after `grace`.
    pub async fn stop(mut self, grace: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < grace {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.child.kill();
        self.child.wait().ok()
    }
}

pub fn kind_file(kind: Kind) -> &'static str {
    match kind {
        Kind::Deskbell => "deskbell",
        Kind::Node => "node",
    }
}

/// Lines of a server log matching `needle`.
pub fn count_log_lines(log: &Path, needle: &str) -> u64 {
    std::fs::read_to_string(log)
        .map(|s| s.lines().filter(|l| l.contains(needle)).count() as u64)
        .unwrap_or(0)
}
