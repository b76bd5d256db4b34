//! The Deskbell server, in process, on its own runtime (threads `bc-server*`): boot with a
//! fixed JWT secret and no write limit, shut down, start again on the same address and data.

use anyhow::{Context, Result};
use deskbell_server::{demo, Config, Server};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::runtime::Handle;

pub const NAMESPACE: &str = "/workspace-1";
const SECRET: &str = "deskbell-bench-client-secret";

pub struct ServerCtl {
    rt: Handle,
    data_dir: PathBuf,
    addr: SocketAddr,
    server: Option<Server>,
}

/// Boots on the server runtime. `demo::seed` is not `Send` (it holds a thread RNG across an
/// await), so the boot future runs on a blocking thread entered into the runtime
/// (`Handle::block_on`); whatever it spawns (the HTTP server, the pruner) goes to the runtime.
async fn boot_on(rt: &Handle, dir: PathBuf, bind: SocketAddr, seed: bool) -> Result<Server> {
    let rt = rt.clone();
    tokio::task::spawn_blocking(move || rt.block_on(boot(dir, bind, seed)))
        .await
        .context("the server boot thread failed")?
}

async fn boot(dir: PathBuf, bind: SocketAddr, seed: bool) -> Result<Server> {
    let mut config = Config::new(dir);
    config.bind = bind;
    config.jwt_secret = Some(SECRET.into());
    config.writes_per_minute = 0;
    let state = deskbell_server::prepare(config)
        .await
        .context("preparing the server")?;
    if seed {
        demo::seed(&state)
            .await
            .map_err(|e| anyhow::anyhow!("seeding the demo data: {e}"))?;
    }
    deskbell_server::serve(state)
        .await
        .context("starting the server")
}

impl ServerCtl {
    /// A fresh data dir with the demo data, on an ephemeral loopback port.
    pub async fn start(rt: Handle, data_dir: &Path) -> Result<ServerCtl> {
        let _ = std::fs::remove_dir_all(data_dir);
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        let dir = data_dir.to_path_buf();
        let server = boot_on(&rt, dir, SocketAddr::from(([127, 0, 0, 1], 0)), true).await?;
        Ok(ServerCtl {
            rt,
            data_dir: data_dir.to_path_buf(),
            addr: server.addr(),
            server: Some(server),
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/socket.io/?EIO=4&transport=websocket", self.addr)
    }

    /// Sockets connected to `/workspace-1`, as the server counts them.
    pub fn sockets(&self) -> usize {
        self.server
            .as_ref()
            .and_then(|s| s.state().hub.io())
            .and_then(|io| io.of(NAMESPACE))
            .map(|ns| ns.sockets().len())
            .unwrap_or(0)
    }

    /// Events handed to sockets since the start (the server's own counter).
    pub fn delivered(&self) -> u64 {
        self.server
            .as_ref()
            .map(|s| {
                s.state()
                    .hub
                    .stats
                    .delivered
                    .load(std::sync::atomic::Ordering::Relaxed)
            })
            .unwrap_or(0)
    }

    pub fn slow_consumers_dropped(&self) -> u64 {
        self.server
            .as_ref()
            .map(|s| {
                s.state()
                    .hub
                    .stats
                    .slow_consumers_dropped
                    .load(std::sync::atomic::Ordering::Relaxed)
            })
            .unwrap_or(0)
    }

    /// Closes every socket and stops (`Server::shutdown`).
    pub async fn stop(&mut self) -> Result<()> {
        if let Some(server) = self.server.take() {
            self.rt
                .spawn(server.shutdown())
                .await
                .context("the server shutdown task failed")?;
        }
        Ok(())
    }

    /// After `stop`: starts again on the same address with the same data (no seeding). The
    /// port was just released; a bind that fails is retried briefly.
    pub async fn start_again(&mut self) -> Result<()> {
        if self.server.is_some() {
            return Ok(());
        }
        let mut tries = 0;
        loop {
            tries += 1;
            let result = boot_on(&self.rt, self.data_dir.clone(), self.addr, false).await;
            match result {
                Ok(server) => {
                    self.server = Some(server);
                    return Ok(());
                }
                Err(e) if tries < 50 => {
                    tracing::debug!(error = %e, "restart: bind failed, retrying");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => return Err(e.context("restarting on the same address")),
            }
        }
    }
}
