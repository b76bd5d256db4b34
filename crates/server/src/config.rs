//! Server settings, with the spec's defaults.
//!
//! Dependencies: none inside the crate; a building block the others use.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    /// Holds the SQLite file (unless `database_url` is set), attachments and, with SQLite, the
    /// JWT secret (with PostgreSQL it is in the database, shared by every node).
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; defaults to `deskbell.sqlite` in `data_dir`.
    pub database_url: Option<String>,
    /// Signing secret for access tokens; when absent, generated once and kept in `data_dir`
    /// (SQLite) or in the database (PostgreSQL, so every node signs and checks alike).
    pub jwt_secret: Option<String>,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    /// How long an Engine.IO connection may go without a namespace connect (including one
    /// whose connects were all refused, which socketioxide keeps until then).
    pub connect_timeout: Duration,
    /// Per-company writes per minute (REST writes and client emits); 0 disables the limit.
    pub writes_per_minute: u32,
    /// One member's share of `writes_per_minute`; `None`: half of it.
    pub member_writes_per_minute: Option<u32>,
    /// Password hashes (argon2, ~19 MiB each) run at once; the machine's cores by default.
    pub password_checks: usize,
    /// Password hashes that may wait for one of those; a sign-in beyond gets 429 at once.
    pub password_check_queue: usize,
    /// Largest JSON body and Socket.IO payload.
    pub max_payload_bytes: usize,
    pub max_attachment_bytes: usize,
    /// Packets a socket may have queued before it counts as a slow consumer and is dropped.
    pub socket_buffer: usize,
    /// A client further behind than this many events gets `sync reset` instead of a replay.
    pub replay_limit: i64,
    /// `redis://…`: joins this node to the others on the same PostgreSQL database (see
    /// `cluster`).
    pub redis_url: Option<String>,
    /// This node's name in logs and `/health`; the host name and process id by default.
    pub node_name: String,
    /// Load balancers whose `X-Forwarded-For` names the client (see `rest::client_ip`).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// How often this node looks for urgent tickets due for escalation (see `escalation`).
    pub escalation_check_interval: Duration,
}

impl Config {
    pub fn new(data_dir: PathBuf) -> Config {
        Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir,
            database_url: None,
            jwt_secret: None,
            access_token_ttl: Duration::from_secs(15 * 60),
            refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(10),
            writes_per_minute: 1000,
            member_writes_per_minute: None,
            password_checks: std::thread::available_parallelism().map_or(2, |n| n.get()),
            password_check_queue: 16,
            max_payload_bytes: 1024 * 1024,
            max_attachment_bytes: 10 * 1024 * 1024,
            socket_buffer: 4096,
            replay_limit: 10_000,
            redis_url: None,
            node_name: default_node_name(),
            trusted_proxies: Vec::new(),
            escalation_check_interval: Duration::from_secs(5),
        }
    }

    /// Whether requests through `peer` may say who the client is.
    pub fn trusts_proxy(&self, peer: std::net::IpAddr) -> bool {
        self.trusted_proxies.contains(&peer)
    }

    /// The platform data dir (`~/.local/share/deskbell-server` on Linux).
    pub fn default_data_dir() -> PathBuf {
        dirs::data_dir()
            .unwrap_or_else(|| PathBuf::from("."))
            .join("deskbell-server")
    }

    pub fn effective_database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("deskbell.sqlite").display()
            ),
        }
    }
}

/// `host-pid`: unique among the nodes of one machine, readable in logs.
fn default_node_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node".into());
    format!("{host}-{}", std::process::id())
}
