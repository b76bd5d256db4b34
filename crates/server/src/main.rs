//! `deskbell-server serve|demo`.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use deskbell_server::{demo, Config};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "deskbell-server", version, about = "Deskbell ticket server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve tickets for real use.
    Serve(Common),
    /// Seed the demo companies (idempotent) and serve them.
    Demo {
        #[command(flatten)]
        common: Common,
        /// Keep creating tickets, comments and escalations at a human pace.
        #[arg(long)]
        simulate: bool,
        /// Average pause between simulated actions, in milliseconds.
        #[arg(long, default_value_t = 4000, value_parser = clap::value_parser!(u64).range(50..))]
        simulate_every_ms: u64,
    },
}

#[derive(Args)]
struct Common {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "DESKBELL_BIND")]
    bind: SocketAddr,
    /// Data directory (SQLite file, attachments, JWT secret). Default: the platform data dir.
    #[arg(long, env = "DESKBELL_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// `postgres://…` to use PostgreSQL instead of the SQLite file.
    #[arg(long, env = "DESKBELL_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Engine.IO heartbeat interval, in seconds.
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u64).range(1..))]
    ping_interval_secs: u64,
    /// Engine.IO heartbeat timeout, in seconds.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
    ping_timeout_secs: u64,
    /// Per-company writes per minute (0: no limit).
    #[arg(long, default_value_t = 1000)]
    writes_per_minute: u32,
    /// One member's share of the company's writes per minute (default: half of them).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    member_writes_per_minute: Option<u32>,
    /// Password hashes run at once (default: the machine's cores); sign-ins beyond these and
    /// a short queue are answered 429 at once.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=256))]
    password_checks: Option<u64>,
    /// Largest attachment, in bytes.
    #[arg(long, default_value_t = 10 * 1024 * 1024)]
    max_attachment_bytes: usize,
    /// `redis://HOST:PORT`: serve the same companies as the other nodes on this PostgreSQL
    /// database (cross-node delivery and a cluster-wide write limit).
    #[arg(long, env = "DESKBELL_REDIS_URL", hide_env_values = true)]
    redis_url: Option<String>,
    /// This node's name in logs and /health (default: host name and process id).
    #[arg(long, env = "DESKBELL_NODE_NAME")]
    node_name: Option<String>,
    /// A load balancer's address whose X-Forwarded-For header names the client (repeatable);
    /// without it, clients behind a balancer all share its address for sign-in throttling.
    #[arg(
        long = "trusted-proxy",
        env = "DESKBELL_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    trusted_proxies: Vec<std::net::IpAddr>,
    /// How often to look for urgent tickets due for escalation, in milliseconds (for tests).
    #[arg(long, hide = true, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(10..))]
    escalation_check_interval_ms: u64,
    /// Log as JSON lines instead of text.
    #[arg(long)]
    log_json: bool,
}

impl Common {
    fn config(&self) -> Config {
        let mut config = Config::new(
            self.data_dir
                .clone()
                .unwrap_or_else(Config::default_data_dir),
        );
        config.bind = self.bind;
        config.database_url = self.database_url.clone();
        config.ping_interval = Duration::from_secs(self.ping_interval_secs);
        config.ping_timeout = Duration::from_secs(self.ping_timeout_secs);
        config.writes_per_minute = self.writes_per_minute;
        config.member_writes_per_minute = self.member_writes_per_minute;
        if let Some(parallel) = self.password_checks {
            config.password_checks = parallel as usize;
        }
        config.max_attachment_bytes = self.max_attachment_bytes;
        config.redis_url = self.redis_url.clone();
        if let Some(name) = &self.node_name {
            config.node_name = name.clone();
        }
        config.trusted_proxies = self.trusted_proxies.clone();
        config.escalation_check_interval = Duration::from_millis(self.escalation_check_interval_ms);
        config
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let (common, demo_mode) = match &cli.command {
        Command::Serve(c) => (c, None),
        Command::Demo {
            common,
            simulate,
            simulate_every_ms,
        } => (
            common,
            Some((*simulate, Duration::from_millis(*simulate_every_ms))),
        ),
    };
    // RUST_LOG chooses what is logged, except raw Socket.IO packets, which carry tokens.
    deskbell_server::logs::init(common.log_json);
    let config = common.config();
    tracing::info!(node = %config.node_name, data_dir = %config.data_dir.display(), "starting");
    let state = deskbell_server::prepare(config)
        .await
        .context("cannot start the server")?;
    if demo_mode.is_some() {
        demo::seed(&state)
            .await
            .map_err(|e| anyhow::anyhow!("seeding the demo failed: {e}"))?;
    }
    let mut server = deskbell_server::serve(state)
        .await
        .context("cannot start the server")?;
    if let Some((true, pace)) = demo_mode {
        let state = server.state().clone();
        server.spawn_background(demo::simulate(state, pace));
    }
    if demo_mode.is_some() {
        println!(
            "Deskbell demo server on {} — sign in as agent1@acme.test / {}",
            server.url(),
            demo::DEMO_PASSWORD
        );
    }
    deskbell_shutdown::requested().await;
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
}
