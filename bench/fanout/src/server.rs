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
    pub redis_bin: String,
    /// PostgreSQL server URL (any database on it): Deskbell then runs on a fresh database of
    /// its own per run instead of a fresh SQLite file.
    pub postgres_url: Option<String>,
    /// Extra environment of every Deskbell node (`--deskbell-env`).
    pub deskbell_env: Vec<(String, String)>,
}

/// How one node of a deployment is started, beyond its kind and port.
#[derive(Default, Clone)]
pub struct NodeOpts {
    pub database_url: Option<String>,
    pub redis_url: Option<String>,
    pub node_name: Option<String>,
    /// Tokio workers of a Deskbell node (`TOKIO_WORKER_THREADS`): nodes sharing the machine
    /// share its cores, as `scripts/cluster.sh` starts them. `--deskbell-env` overrides it.
    pub worker_threads: Option<usize>,
}

pub struct Server {
    pub kind: Kind,
    pub port: u16,
    pub child: Child,
    pub log: PathBuf,
}

impl Server {
    pub fn spawn(
        kind: Kind,
        port: u16,
        paths: &Paths,
        work: &Path,
        opts: &NodeOpts,
    ) -> Result<Server> {
        std::fs::create_dir_all(work)?;
        let log = work.join(match &opts.node_name {
            Some(node) => format!("{}-server-{node}.log", kind_file(kind)),
            None => format!("{}-server.log", kind_file(kind)),
        });
        let out = std::fs::File::create(&log)?;
        let err = out.try_clone()?;
        let bind = format!("127.0.0.1:{port}");
        let mut cmd = match kind {
            Kind::Deskbell => {
                let data = work.join(match &opts.node_name {
                    Some(node) => format!("deskbell-data-{node}"),
                    None => "deskbell-data".into(),
                });
                let _ = std::fs::remove_dir_all(&data);
                std::fs::create_dir_all(&data)?;
                let mut c = Command::new(&paths.deskbell_bin);
                c.env("NO_COLOR", "1")
                    .args(["demo", "--bind", &bind, "--data-dir"])
                    .arg(&data)
                    .args(["--writes-per-minute", "0"]);
                if let Some(workers) = opts.worker_threads {
                    c.env("TOKIO_WORKER_THREADS", workers.to_string());
                }
                c.envs(paths.deskbell_env.iter().map(|(k, v)| (k, v)));
                if let Some(url) = &opts.database_url {
                    c.args(["--database-url", url]);
                }
                if let Some(url) = &opts.redis_url {
                    c.args(["--redis-url", url]);
                }
                if let Some(node) = &opts.node_name {
                    c.args(["--node-name", node]);
                }
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
                if let Some(url) = &opts.redis_url {
                    c.args(["--redis-url", url]);
                }
                if let Some(node) = &opts.node_name {
                    c.args(["--node-name", node]);
                }
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

/// A Redis of the benchmark's own (`redis-server` as a child: no persistence, loopback only),
/// one per cluster run so that nothing carries over from one run to the next.
pub struct Redis {
    pub port: u16,
    pub child: Child,
}

impl Redis {
    pub async fn start(bin: &str, port: u16, work: &Path) -> Result<Redis> {
        std::fs::create_dir_all(work)?;
        let log = std::fs::File::create(work.join("redis.log"))?;
        let child = Command::new(bin)
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "no", "--protected-mode", "no", "--dir"])
            .arg(work)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("cannot start {bin}"))?;
        let mut redis = Redis { port, child };
        // Ready once it answers PING (RESP over a plain TCP socket).
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = redis.child.try_wait()? {
                bail!(
                    "redis-server exited during start-up ({status}); see {}",
                    work.join("redis.log").display()
                );
            }
            if redis.ping().await {
                return Ok(redis);
            }
            if Instant::now() >= deadline {
                bail!("redis-server not answering on port {port} after 10 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn ping(&self) -> bool {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let Ok(Ok(mut tcp)) = tokio::time::timeout(
            Duration::from_secs(1),
            tokio::net::TcpStream::connect(("127.0.0.1", self.port)),
        )
        .await
        else {
            return false;
        };
        if tcp.write_all(b"PING\r\n").await.is_err() {
            return false;
        }
        let mut buf = [0u8; 16];
        matches!(
            tokio::time::timeout(Duration::from_secs(1), tcp.read(&mut buf)).await,
            Ok(Ok(n)) if buf[..n].starts_with(b"+PONG")
        )
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh PostgreSQL database for one run (`CREATE DATABASE` through `psql`), dropped after.
pub struct PgDatabase {
    pub admin_url: String,
    pub name: String,
}

impl PgDatabase {
    pub fn create(admin_url: &str, name: &str) -> Result<PgDatabase> {
        let db = PgDatabase {
            admin_url: admin_url.to_string(),
            name: name.to_string(),
        };
        db.psql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
        db.psql(&format!("CREATE DATABASE {name}"))?;
        Ok(db)
    }

    /// The server URL with this database as its path.
    pub fn url(&self) -> String {
        with_database(&self.admin_url, &self.name)
    }

    fn psql(&self, sql: &str) -> Result<()> {
        let out = Command::new("psql")
            .args([
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                &self.admin_url,
                "-c",
                sql,
            ])
            .env("PGCONNECT_TIMEOUT", "10")
            .output()
            .context("cannot run psql (PostgreSQL client)")?;
        if !out.status.success() {
            bail!(
                "psql `{sql}` failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    pub fn drop_now(self) {
        if let Err(e) = self.psql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )) {
            eprintln!("   could not drop database {}: {e:#}", self.name);
        }
    }
}

/// `postgres://user:pw@host:port/whatever?opts` → the same with `/name` as the database.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map(|i| i + 3).unwrap_or(0);
    let root = match base[after_scheme..].find('/') {
        Some(i) => &base[..after_scheme + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

/// Everything one measured run starts: its nodes, and for a cluster its Redis and database.
pub struct Deployment {
    pub nodes: Vec<Server>,
    pub redis: Option<Redis>,
    pub database: Option<PgDatabase>,
}

impl Deployment {
    pub fn pids(&self) -> Vec<u32> {
        self.nodes.iter().map(Server::pid).collect()
    }

    /// Stops everything; returns each node's exit status and log.
    pub async fn stop(self, grace: Duration) -> Vec<(Option<std::process::ExitStatus>, PathBuf)> {
        let mut out = Vec::new();
        for node in self.nodes {
            let log = node.log.clone();
            out.push((node.stop(grace).await, log));
        }
        if let Some(redis) = self.redis {
            redis.stop().await;
        }
        if let Some(db) = self.database {
            db.drop_now();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn a_database_url_gets_the_run_s_database() {
        assert_eq!(
            with_database("postgres://u:p@127.0.0.1:5432/postgres", "bench_1"),
            "postgres://u:p@127.0.0.1:5432/bench_1"
        );
        assert_eq!(
            with_database("postgres://u:p@h:5432", "b"),
            "postgres://u:p@h:5432/b"
        );
        assert_eq!(
            with_database("postgres://u@h/x?sslmode=disable", "b"),
            "postgres://u@h/b?sslmode=disable"
        );
    }
}
