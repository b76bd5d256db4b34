//! The connection supervisor: one task owning at most one live socket, publishing the spec's
//! connection states, reconnecting with backoff, replaying from `lastSeq`, and never retrying a
//! rejected token as is.

use chrono::{DateTime, Utc};
use deskbell_protocol::{
    namespace, parse_event_name, Board, ConnectErrorCode, EventEnvelope, Id, Resource, SyncMessage,
    SyncMode,
};
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::backoff::BackoffPolicy;
use crate::session::{Session, SessionError};
use crate::transport::{
    CloseReason, ConnectError, ConnectRequest, SocketConnection, SocketTransport, Timeouts,
    TransportEvent,
};

/// The states of the spec, as the UI and the CLI see them.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum ConnectionState {
    /// Only a new sign-in helps; nothing is retried.
    NeedsLogin {
        reason: String,
    },
    /// An attempt is under way (`retry_at` empty) or the next one is scheduled.
    #[serde(rename_all = "camelCase")]
    Connecting {
        attempt: u32,
        #[ts(type = "string | null")]
        retry_at: Option<DateTime<Utc>>,
    },
    /// Connected; missed events are being replayed or the snapshot reloaded.
    Syncing,
    Live,
    /// Not trying to connect (stopped).
    Offline {
        reason: String,
    },
}

/// Where the supervisor delivers what arrives, in order. Implemented by the board owner.
pub trait BoardSink: Send + 'static {
    /// The highest seq applied so far; `None` before the first snapshot.
    fn last_seq(&self) -> Option<i64>;
    /// A full snapshot, after `sync reset`.
    fn load_snapshot(&mut self, board: Board);
    /// A data event, in seq order, never one at or below `last_seq`.
    fn apply(&mut self, resource: Resource, event: EventEnvelope);
    /// The sync message, once the replay or the snapshot is in.
    fn synced(&mut self, _sync: SyncMessage) {}
    /// An event this client does not understand: logged and skipped, never fatal.
    fn unknown(&mut self, _name: &str, _data: &Value) {}
    /// Every state change.
    fn state_changed(&mut self, _state: &ConnectionState) {}
}

#[derive(Debug, Clone, Copy)]
pub struct ConnectionConfig {
    pub backoff: BackoffPolicy,
    pub timeouts: Timeouts,
    /// Upper bound of a whole attempt (handshake + namespace).
    pub attempt_timeout: Duration,
    /// A connection that ends sooner than this counts as a failed attempt (no hot loop against
    /// a server that accepts and drops at once).
    pub stable_after: Duration,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        let timeouts = Timeouts::default();
        ConnectionConfig {
            backoff: BackoffPolicy::default(),
            timeouts,
            attempt_timeout: timeouts.handshake + timeouts.namespace + Duration::from_secs(5),
            stable_after: Duration::from_secs(10),
        }
    }
}

enum Command {
    ReconnectNow,
    Resume(Arc<Session>),
    Shutdown,
}

/// Handle on the supervisor task.
pub struct Connection<S: BoardSink> {
    commands: mpsc::UnboundedSender<Command>,
    state: watch::Receiver<ConnectionState>,
    task: JoinHandle<S>,
}

impl<S: BoardSink> Connection<S> {
    pub fn spawn(
        session: Arc<Session>,
        transport: Arc<dyn SocketTransport>,
        sink: S,
        config: ConnectionConfig,
    ) -> Self {
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (state_tx, state) = watch::channel(ConnectionState::Connecting {
            attempt: 1,
            retry_at: None,
        });
        let supervisor = Supervisor {
            session: Some(session),
            transport,
            sink,
            config,
            commands: command_rx,
            state: state_tx,
        };
        Connection {
            commands,
            state,
            task: tokio::spawn(supervisor.run()),
        }
    }

    pub fn state(&self) -> watch::Receiver<ConnectionState> {
        self.state.clone()
    }

    /// Drops the current socket (it may be a zombie after sleep) and connects at once.
    /// Wake, network-up and the user's "Reconnect now" all come here; bursts coalesce.
    pub fn reconnect_now(&self) {
        let _ = self.commands.send(Command::ReconnectNow);
    }

    /// A cloneable handle that can only ask for an immediate reconnect (for wake sources).
    pub fn reconnect_handle(&self) -> ReconnectHandle {
        ReconnectHandle {
            commands: self.commands.clone(),
        }
    }

    /// A fresh sign-in after `needs-login`.
    pub fn resume(&self, session: Arc<Session>) {
        let _ = self.commands.send(Command::Resume(session));
    }

    /// Closes the socket, stops, and gives the sink back.
    pub async fn shutdown(self) -> S {
        let _ = self.commands.send(Command::Shutdown);
        self.task.await.expect("the connection supervisor panicked")
    }
}

/// See [`Connection::reconnect_handle`].
#[derive(Clone)]
pub struct ReconnectHandle {
    commands: mpsc::UnboundedSender<Command>,
}

impl ReconnectHandle {
    pub fn reconnect_now(&self) {
        let _ = self.commands.send(Command::ReconnectNow);
    }
}

/// How a live connection ended.
enum LiveEnd {
    Closed(String),
    ReconnectNow,
    NeedsLogin(String),
    Shutdown,
}

/// What to do after a failed attempt.
enum Next {
    RetryNow,
    Backoff,
    NeedsLogin(String),
    Shutdown,
}

struct Supervisor<S> {
    session: Option<Arc<Session>>,
    transport: Arc<dyn SocketTransport>,
    sink: S,
    config: ConnectionConfig,
    commands: mpsc::UnboundedReceiver<Command>,
    state: watch::Sender<ConnectionState>,
}

impl<S: BoardSink> Supervisor<S> {
    fn set(&mut self, state: ConnectionState) {
        if *self.state.borrow() != state {
            tracing::debug!(?state, "connection state");
            self.sink.state_changed(&state);
            self.state.send_replace(state);
        }
    }

    /// Folds a burst of queued "reconnect now" into the one being handled.
    fn drain_reconnects(&mut self) -> Option<Command> {
        loop {
            match self.commands.try_recv() {
                Ok(Command::ReconnectNow) => continue,
                Ok(other) => return Some(other),
                Err(_) => return None,
            }
        }
    }

    async fn run(mut self) -> S {
        let mut attempt: u32 = 0;
        let mut refreshed_for_expiry = false;
        'outer: loop {
            let Some(session) = self.session.clone() else {
                if self.wait_for_login().await {
                    continue;
                }
                break;
            };
            attempt += 1;
            self.set(ConnectionState::Connecting {
                attempt,
                retry_at: None,
            });
            let token = session.access_token();
            let mut auth = serde_json::json!({ "token": token });
            if let Some(seq) = self.sink.last_seq() {
                auth["lastSeq"] = seq.into();
            }
            let request = ConnectRequest {
                server: session.api().base_url().clone(),
                namespace: namespace(session.company().id),
                auth,
                timeouts: self.config.timeouts,
            };
            let transport = self.transport.clone();
            let connect =
                tokio::time::timeout(self.config.attempt_timeout, transport.connect(request));
            let outcome = tokio::select! {
                r = connect => r,
                cmd = self.commands.recv() => {
                    // The attempt future is dropped here, which closes its socket.
                    match self.command(cmd) {
                        Next::Shutdown => break 'outer,
                        Next::NeedsLogin(_) | Next::Backoff | Next::RetryNow => {
                            attempt = 0;
                            continue 'outer;
                        }
                    }
                }
            };
            let next = match outcome {
                Ok(Ok(connection)) => {
                    refreshed_for_expiry = false;
                    let started = Instant::now();
                    let end = self.live(&session, connection).await;
                    let stable = started.elapsed() >= self.config.stable_after;
                    match end {
                        LiveEnd::Shutdown => break 'outer,
                        LiveEnd::ReconnectNow => {
                            attempt = 0;
                            Next::RetryNow
                        }
                        LiveEnd::NeedsLogin(reason) => Next::NeedsLogin(reason),
                        LiveEnd::Closed(reason) => {
                            tracing::info!(%reason, "connection lost");
                            if stable {
                                attempt = 0;
                                Next::RetryNow
                            } else {
                                Next::Backoff
                            }
                        }
                    }
                }
                Ok(Err(ConnectError::Rejected(code))) => match ConnectErrorCode::parse(&code) {
                    Some(ConnectErrorCode::TokenExpired) if !refreshed_for_expiry => {
                        refreshed_for_expiry = true;
                        match session.refresh(&token).await {
                            Ok(()) => Next::RetryNow,
                            Err(e) if e.needs_login() => {
                                Next::NeedsLogin(format!("session ended: {e}"))
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "token refresh failed; will retry");
                                refreshed_for_expiry = false;
                                Next::Backoff
                            }
                        }
                    }
                    Some(ConnectErrorCode::TokenExpired | ConnectErrorCode::Unavailable) => {
                        Next::Backoff
                    }
                    Some(code) => {
                        Next::NeedsLogin(format!("the server refused the connection ({code})"))
                    }
                    None => {
                        tracing::warn!(%code, "unknown connect error");
                        Next::Backoff
                    }
                },
                Ok(Err(e)) => {
                    tracing::info!(error = %e, attempt, "connection attempt failed");
                    Next::Backoff
                }
                Err(_) => {
                    tracing::info!(attempt, "connection attempt timed out");
                    Next::Backoff
                }
            };
            match next {
                Next::RetryNow => continue,
                Next::Shutdown => break,
                Next::NeedsLogin(reason) => {
                    self.session = None;
                    self.set(ConnectionState::NeedsLogin { reason });
                    attempt = 0;
                }
                Next::Backoff => {
                    let delay = self.config.backoff.delay_random(attempt);
                    let retry_at =
                        Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
                    self.set(ConnectionState::Connecting {
                        attempt,
                        retry_at: Some(retry_at),
                    });
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        cmd = self.commands.recv() => match self.command(cmd) {
                            Next::Shutdown => break,
                            _ => attempt = 0,
                        },
                    }
                }
            }
        }
        self.set(ConnectionState::Offline {
            reason: "stopped".into(),
        });
        self.sink
    }

    /// Applies a command received outside a live connection.
    fn command(&mut self, cmd: Option<Command>) -> Next {
        let cmd = match cmd {
            Some(Command::ReconnectNow) => self.drain_reconnects().unwrap_or(Command::ReconnectNow),
            Some(other) => other,
            None => Command::Shutdown,
        };
        match cmd {
            Command::ReconnectNow => Next::RetryNow,
            Command::Resume(session) => {
                self.session = Some(session);
                Next::RetryNow
            }
            Command::Shutdown => Next::Shutdown,
        }
    }

    /// In `needs-login`: waits for a fresh session. `false` on shutdown.
    async fn wait_for_login(&mut self) -> bool {
        loop {
            match self.commands.recv().await {
                Some(Command::Resume(session)) => {
                    self.session = Some(session);
                    return true;
                }
                // A rejected session is never retried as is.
                Some(Command::ReconnectNow) => continue,
                Some(Command::Shutdown) | None => return false,
            }
        }
    }

    async fn live(
        &mut self,
        session: &Arc<Session>,
        mut connection: Box<dyn SocketConnection>,
    ) -> LiveEnd {
        self.set(ConnectionState::Syncing);
        let company = session.company().id;
        loop {
            tokio::select! {
                event = connection.next_event() => match event {
                    TransportEvent::Event { name, data } => {
                        if let Err(end) = self.on_event(session, company, &name, data).await {
                            connection.close().await;
                            return end;
                        }
                    }
                    TransportEvent::Closed(reason) => {
                        return LiveEnd::Closed(describe(&reason));
                    }
                },
                cmd = self.commands.recv() => {
                    let end = match self.command(cmd) {
                        Next::Shutdown => LiveEnd::Shutdown,
                        _ => LiveEnd::ReconnectNow,
                    };
                    connection.close().await;
                    return end;
                }
            }
        }
    }

    async fn on_event(
        &mut self,
        session: &Arc<Session>,
        company: Id,
        name: &str,
        data: Value,
    ) -> Result<(), LiveEnd> {
        let Some((event_company, resource)) = parse_event_name(name) else {
            tracing::debug!(name, "ignoring an event this client does not know");
            self.sink.unknown(name, &data);
            return Ok(());
        };
        if event_company != company {
            tracing::warn!(name, "ignoring an event of another company");
            self.sink.unknown(name, &data);
            return Ok(());
        }
        if resource == Resource::Sync {
            let sync: SyncMessage = match serde_json::from_value(data.clone()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "malformed sync message");
                    self.sink.unknown(name, &data);
                    return Err(LiveEnd::Closed("malformed sync message".into()));
                }
            };
            if sync.mode == SyncMode::Reset {
                match session
                    .call(|api, token| async move { api.board(&token).await })
                    .await
                {
                    Ok(board) => self.sink.load_snapshot(board),
                    Err(e) if e.needs_login() => {
                        return Err(LiveEnd::NeedsLogin(format!("session ended: {e}")))
                    }
                    Err(e) => {
                        return Err(LiveEnd::Closed(format!(
                            "loading the board failed: {}",
                            describe_session(&e)
                        )))
                    }
                }
            }
            self.sink.synced(sync);
            self.set(ConnectionState::Live);
            return Ok(());
        }
        let event: EventEnvelope = match serde_json::from_value(data.clone()) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(name, error = %e, "malformed event skipped");
                self.sink.unknown(name, &data);
                return Ok(());
            }
        };
        if self.sink.last_seq().is_some_and(|last| event.seq <= last) {
            // Already reflected (replay overlap or a snapshot newer than the event).
            return Ok(());
        }
        self.sink.apply(resource, event);
        Ok(())
    }
}

fn describe(reason: &CloseReason) -> String {
    match reason {
        CloseReason::ServerDisconnect => "the server closed the connection".into(),
        CloseReason::TransportClosed(why) => format!("the connection broke: {why}"),
        CloseReason::PingTimeout => "no heartbeat from the server".into(),
        CloseReason::Protocol(why) => format!("protocol error: {why}"),
        CloseReason::ClientClosed => "closed".into(),
    }
}

fn describe_session(e: &SessionError) -> String {
    format!("{} ({})", e, e.code())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_serialize_as_the_spec_names_them() {
        let json = |s: ConnectionState| serde_json::to_value(s).unwrap();
        assert_eq!(json(ConnectionState::Live)["state"], "live");
        assert_eq!(json(ConnectionState::Syncing)["state"], "syncing");
        let c = json(ConnectionState::Connecting {
            attempt: 3,
            retry_at: None,
        });
        assert_eq!(
            (c["state"].as_str(), c["attempt"].as_u64()),
            (Some("connecting"), Some(3))
        );
        assert!(c["retryAt"].is_null());
        assert_eq!(
            json(ConnectionState::NeedsLogin { reason: "x".into() })["state"],
            "needs-login"
        );
        assert_eq!(
            json(ConnectionState::Offline { reason: "x".into() })["state"],
            "offline"
        );
    }
}
