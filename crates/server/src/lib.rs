//! Deskbell ticket server: multi-tenant REST + Socket.IO realtime over a replayable event log.
//!
//! Modules in layers, top to bottom; a module uses only those below it, and no two use each
//! other:
//!
//! 1. the edges: `rest` (HTTP), `realtime` (Socket.IO; it uses `rest`'s client address),
//!    `demo` (simulated members), `escalation` (the server's own timer writes);
//! 2. `ops`: every operation as a plain function, with the input rules in `ops::validate`;
//! 3. `state`, which holds `cluster`'s link, which delivers into `events`' hub;
//! 4. `events` (emission, replay), which starts `writes` (group commit), which hands committed
//!    events over through `outbox`;
//! 5. `visibility` (who sees what), `auth`, `sessions`, `ratelimit`, `anonymous_limits`;
//! 6. `store` (rows and reads), `db`, `files`, `error`, `config`, `logs`.

pub mod anonymous_limits;
pub mod auth;
pub mod cluster;
pub mod config;
pub mod db;
pub mod demo;
pub mod error;
pub mod escalation;
pub mod events;
pub mod files;
pub mod logs;
pub mod ops;
pub mod outbox;
pub mod ratelimit;
pub mod realtime;
pub mod rest;
pub mod sessions;
pub mod state;
pub mod store;
pub mod visibility;
pub mod writes;

use base64::Engine;
use rand::RngCore;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::Config;
pub use state::AppState;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Db(#[from] db::DbError),
    #[error("cannot use the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("seeding the demo failed: {0}")]
    Seed(String),
    #[error(transparent)]
    Cluster(#[from] cluster::ClusterError),
}

/// A running server; dropping it does not stop it, `shutdown` does.
pub struct Server {
    addr: SocketAddr,
    state: AppState,
    io: socketioxide::SocketIo,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    background: Vec<JoinHandle<()>>,
}

/// A new random signing key.
fn new_secret() -> String {
    let mut bytes = [0u8; 48];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Reads the JWT secret kept in the data dir, creating it (mode 0600) on first start: SQLite's
/// one server keeps it beside its database.
fn load_or_create_secret(data_dir: &Path) -> std::io::Result<String> {
    let path = data_dir.join("jwt-secret");
    files::tighten(&path, files::FILE_MODE)?;
    match std::fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => return Ok(s.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let secret = new_secret();
    let mut options = files::private_file_options();
    options.write(true).create(true).truncate(true);
    use std::io::Write;
    options.open(&path)?.write_all(secret.as_bytes())?;
    Ok(secret)
}

/// A value every server process on a PostgreSQL database shares (the signing key, the
/// cluster's name in Redis): the first to start creates it, atomically (the others' inserts do
/// nothing), and all read the one that won.
async fn shared_value(db: &db::Db, name: &str, fresh: String) -> Result<String, sqlx::Error> {
    use sqlx::Row;
    sqlx::query(
        "INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(fresh)
    .execute(&db.pool)
    .await?;
    sqlx::query("SELECT value FROM server_secrets WHERE name = $1")
        .bind(name)
        .fetch_one(&db.pool)
        .await?
        .try_get("value")
}

/// Connects the database, applies migrations and builds the state, without listening.
pub async fn prepare(config: Config) -> Result<AppState, ServerError> {
    let data_err = |source| ServerError::DataDir {
        path: config.data_dir.display().to_string(),
        source,
    };
    // Private before anything is written into it (see `files`).
    files::private_dir(&config.data_dir).map_err(data_err)?;
    files::private_dir(&config.data_dir.join("attachments")).map_err(data_err)?;
    let url = config.effective_database_url();
    if let Some(file) = files::sqlite_file(&url) {
        files::private_sqlite(&file).map_err(|source| ServerError::DataDir {
            path: file.display().to_string(),
            source,
        })?;
    }
    let db = db::Db::connect(&url).await?;
    tracing::info!(backend = db.backend.as_str(), "database ready");
    let secret = match (&config.jwt_secret, db.backend) {
        (Some(s), _) => s.clone(),
        (None, db::Backend::Sqlite) => load_or_create_secret(&config.data_dir).map_err(data_err)?,
        (None, db::Backend::Postgres) => shared_value(&db, "access-token-key", new_secret())
            .await
            .map_err(db::DbError::from)?,
    };
    let keys = auth::TokenKeys::new(
        secret.as_bytes(),
        config.access_token_ttl,
        config.refresh_token_ttl,
    );
    let redis = match &config.redis_url {
        Some(url) => {
            if db.backend != db::Backend::Postgres {
                return Err(cluster::ClusterError::NeedsPostgres.into());
            }
            // Keys and channel are the database's own: clusters (or test databases) sharing
            // one Redis never hear or count each other.
            let cluster =
                shared_value(&db, "cluster-id", uuid::Uuid::new_v4().simple().to_string())
                    .await
                    .map_err(db::DbError::from)?;
            Some(cluster::RedisLink::connect(url, &config.node_name, &cluster).await?)
        }
        None => {
            if db.backend == db::Backend::Postgres {
                tracing::info!(
                    "PostgreSQL without --redis-url: events written by other nodes on this \
                     database reach this node's clients from the log, within a second"
                );
            }
            None
        }
    };
    Ok(AppState::new(db, config, keys, redis))
}

/// Starts serving REST and Socket.IO on `state.config.bind`.
pub async fn serve(state: AppState) -> Result<Server, ServerError> {
    let (sio_layer, io) = realtime::layer(state.clone());
    realtime::open_company_namespaces(&state, &io)
        .await
        .map_err(db::DbError::from)?;
    let app = rest::router(state.clone())
        .layer(sio_layer)
        // Before Socket.IO: an address past its free refused connects opens none.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            realtime::refuse_throttled_addresses,
        ))
        // Outermost: everything after it knows who the client is.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            rest::resolve_client,
        ))
        .layer(axum::middleware::map_response(nosniff))
        .layer(
            // Method and path only: a query string can hold the Engine.IO session id (`logs`).
            tower_http::trace::TraceLayer::new_for_http().make_span_with(
                |request: &axum::http::Request<axum::body::Body>| {
                    tracing::debug_span!(
                        "request",
                        method = %request.method(),
                        path = %request.uri().path(),
                    )
                },
            ),
        );
    let bind = state.config.bind;
    let listener = TcpListener::bind(bind)
        .await
        .map_err(|source| ServerError::Bind { addr: bind, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| ServerError::Bind { addr: bind, source })?;
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        // Small frames (CONNECT ack, then sync) must not wait ~40 ms for a delayed ACK.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "could not set TCP_NODELAY");
            }
        });
        // The client's address reaches the handlers (sign-in throttling per address).
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop_rx.await;
            })
            .await
    });
    let pruner = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                match events::prune(&state.db, state.config.replay_limit).await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(pruned = n, "event log pruned"),
                    Err(e) => tracing::warn!(error = %e, "event log pruning failed"),
                }
            }
        })
    };
    let checkpointer = {
        let db = state.db.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                if let Err(e) = db.checkpoint().await {
                    tracing::warn!(error = %e, "write-ahead log checkpoint failed");
                }
            }
        })
    };
    let mut background = vec![
        pruner,
        checkpointer,
        tokio::spawn(cluster::poll_log_heads(state.db.clone(), state.hub.clone())),
        // Every node checks: the database decides which one escalates (see `escalation`).
        tokio::spawn(escalation::run(state.clone())),
    ];
    if let Some(link) = &state.redis {
        background.extend(link.start(state.hub.clone()));
    }
    tracing::info!(%addr, node = %state.config.node_name, "deskbell server listening");
    Ok(Server {
        addr,
        state,
        io,
        stop: Some(stop_tx),
        task,
        background,
    })
}

/// Every response, REST and Socket.IO alike, errors and 404s included: browsers must take the
/// declared content type as it is, never guess an executable one from the bytes.
async fn nosniff(mut response: axum::response::Response) -> axum::response::Response {
    response.headers_mut().insert(
        axum::http::header::X_CONTENT_TYPE_OPTIONS,
        axum::http::HeaderValue::from_static("nosniff"),
    );
    response
}

/// `prepare` + `serve`.
pub async fn start(config: Config) -> Result<Server, ServerError> {
    serve(prepare(config).await?).await
}

impl Server {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn io(&self) -> &socketioxide::SocketIo {
        &self.io
    }

    /// Runs a background task that ends with the server.
    pub fn spawn_background<F>(&mut self, task: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.background.push(tokio::spawn(task));
    }

    /// Closes every socket, stops accepting requests and waits for in-flight ones.
    pub async fn shutdown(mut self) {
        // Stop accepting first: clients whose sockets close next must not reconnect to a
        // server whose database is about to close.
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.io.clone().close().await;
        match tokio::time::timeout(Duration::from_secs(10), &mut self.task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "server ended with an error"),
            Ok(Err(e)) => tracing::warn!(error = %e, "server task failed"),
            Err(_) => {
                tracing::warn!("in-flight requests did not finish in 10 s; stopping anyway");
                self.task.abort();
            }
        }
        // After the requests: their commits still reach the other nodes (`cluster`).
        for task in &self.background {
            task.abort();
        }
        self.state.db.close().await;
        let writes = &self.state.hub.write_stats;
        tracing::info!(
            writes = writes.writes.load(std::sync::atomic::Ordering::Relaxed),
            commits = writes.commits.load(std::sync::atomic::Ordering::Relaxed),
            deliveries = self
                .state
                .hub
                .stats
                .delivered
                .load(std::sync::atomic::Ordering::Relaxed),
            "deskbell server stopped"
        );
    }
}
