//! The embedded demo: the ticket server in this process, on a free loopback port, with the demo
//! companies seeded (idempotently) and simulated traffic at a human pace.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use deskbell_client::app::CommandError;
use deskbell_client::error::ClientErrorCode;
use deskbell_server::{demo, Config, Server};

/// Who "Try the demo" signs in as.
pub const DEMO_EMAIL: &str = "agent1@acme.test";
pub const DEMO_PASSWORD: &str = demo::DEMO_PASSWORD;

/// Average pause between simulated actions (new tickets, comments, escalations).
const SIMULATION_PACE: Duration = Duration::from_secs(6);

fn failed(what: &str, error: impl std::fmt::Display) -> CommandError {
    CommandError::new(ClientErrorCode::DemoFailed, format!("{what}: {error}"))
}

/// Starts the demo server with its data in `data_dir`.
pub async fn start(data_dir: PathBuf) -> Result<Server, CommandError> {
    let mut config = Config::new(data_dir);
    config.bind = SocketAddr::from(([127, 0, 0, 1], 0));
    tracing::info!(data_dir = %config.data_dir.display(), "starting the embedded demo server");
    let state = deskbell_server::prepare(config)
        .await
        .map_err(|e| failed("cannot prepare the demo server", e))?;
    demo::seed(&state)
        .await
        .map_err(|e| failed("cannot seed the demo data", e))?;
    let mut server = deskbell_server::serve(state)
        .await
        .map_err(|e| failed("cannot start the demo server", e))?;
    let simulated = server.state().clone();
    server.spawn_background(demo::simulate(simulated, SIMULATION_PACE));
    tracing::info!(url = %server.url(), "embedded demo server running");
    Ok(server)
}
