//! The connection supervisor: one task owning at most one live socket, publishing the spec's
//! connection states, reconnecting with backoff, replaying from `lastSeq`, and never retrying a
//! rejected token as is.
//!
//! It follows the session's end: the server's `company-{id}-session` message (for a role change
//! it reconnects at once and reloads the snapshot; for any other reason the session is over),
//! and an end noticed anywhere else (a REST 401 on a command made through the session, a
//! refused refresh) while the socket is still up. Either way it goes to `needs-login` with the
//! plain reason, and the session has removed its saved refresh token ([`Session::end`]).
//!
//! It never skips a missed event. Every data event goes through a [`GapDetector`] first: an
//! event whose stream's previous event (`prevSeq`) was neither received nor in the snapshot
//! reveals a gap. The socket is dropped and the next connect replays from just before the
//! missed event (`lastSeq = prevSeq - 1`); if that replay still lacks it, the board is reloaded
//! (connect without `lastSeq`, `sync reset`). Gaps soon after one another back off like failed
//! attempts, so a server that keeps producing one cannot drive a reconnect loop.

use chrono::{DateTime, Utc};
use deskbell_protocol::{
    namespace, parse_event_name, Board, ConnectAuth, ConnectErrorCode, EventEnvelope, Id, Resource,
    SessionEndReason, SessionEnded, SyncMessage, SyncMode, User,
};
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::backoff::BackoffPolicy;
use crate::board::gaps::{Gap, GapDetector, Verdict};
use crate::session::{Session, SessionEnd, SessionError};
use crate::transport::{
    CloseReason, ConnectError, ConnectRequest, EventData, SocketConnection, SocketTransport,
    Timeouts, TransportEvent,
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

/// Where the supervisor delivers what arrives, in order. Implemented by the board owner
/// ([`crate::live_board::LiveBoard`]); tests put recorders here.
pub trait BoardSink: Send + 'static {
    /// The highest seq applied so far; `None` before the first snapshot.
    fn last_seq(&self) -> Option<i64>;
    /// A full snapshot, after `sync reset`.
    fn load_snapshot(&mut self, board: Board);
    /// A data event, each seq once: in seq order, except that an event recovered after a gap
    /// can be older than `last_seq` (events of other streams went ahead of it).
    fn apply(&mut self, resource: Resource, event: EventEnvelope);
    /// The sync message, once the replay or the snapshot is in.
    fn synced(&mut self, _sync: SyncMessage) {}
    /// An event this client does not understand: logged and skipped, never fatal. Only its
    /// name is passed on: nothing reads a payload this client cannot decode.
    fn unknown(&mut self, _name: &str) {}
    /// The signed-in user changed on the server (their role), before the snapshot that
    /// follows from it.
    fn user_changed(&mut self, _user: &User) {}
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
        // A board loaded before (not by this supervisor) is taken as holding everything up to
        // its last seq: nothing better is known, and a replay from there brings the rest.
        let mut gaps = GapDetector::new();
        if let Some(seq) = sink.last_seq() {
            gaps.reset(seq);
        }
        let supervisor = Supervisor {
            session: Some(session),
            transport,
            sink,
            config,
            commands: command_rx,
            state: state_tx,
            reload_snapshot: false,
            last_role_change: None,
            gaps,
            recover: None,
            last_gap: None,
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

    /// A cloneable handle for everything but the shutdown, which needs the connection itself:
    /// whoever holds one can keep asking while the connection is being stopped (then the
    /// requests are ignored).
    pub fn control(&self) -> ConnectionControl {
        ConnectionControl {
            commands: self.commands.clone(),
            state: self.state.clone(),
        }
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

/// See [`Connection::control`].
#[derive(Clone)]
pub struct ConnectionControl {
    commands: mpsc::UnboundedSender<Command>,
    state: watch::Receiver<ConnectionState>,
}

impl ConnectionControl {
    pub fn state(&self) -> watch::Receiver<ConnectionState> {
        self.state.clone()
    }

    /// See [`Connection::reconnect_now`].
    pub fn reconnect_now(&self) {
        let _ = self.commands.send(Command::ReconnectNow);
    }

    /// See [`Connection::resume`].
    pub fn resume(&self, session: Arc<Session>) {
        let _ = self.commands.send(Command::Resume(session));
    }
}

/// How a live connection ended.
enum LiveEnd {
    Closed(String),
    ReconnectNow,
    /// The server changed the user's role: the same session goes on with new visibility.
    RoleChanged,
    NeedsLogin(SessionEnd),
    /// An event revealed that an earlier one was missed; the socket was dropped to recover it.
    Gap(Gap),
    Shutdown,
}

/// How the next connect recovers a missed event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recover {
    /// Replay from this seq (just before the missed event).
    ReplayFrom(i64),
    /// Reload the snapshot: the replay did not bring the missed event.
    Snapshot,
}

/// What to do after a failed attempt.
enum Next {
    RetryNow,
    Backoff,
    NeedsLogin(SessionEnd),
    Shutdown,
}

struct Supervisor<S> {
    session: Option<Arc<Session>>,
    transport: Arc<dyn SocketTransport>,
    sink: S,
    config: ConnectionConfig,
    commands: mpsc::UnboundedReceiver<Command>,
    state: watch::Sender<ConnectionState>,
    /// Connect without `lastSeq` (the server answers `sync reset`): after a role change, what
    /// this user may see changed, so the board is reloaded rather than replayed.
    reload_snapshot: bool,
    /// When the last role change came: a second one soon after backs off (no hot loop against
    /// a server that keeps sending them).
    last_role_change: Option<Instant>,
    /// What was received per stream: tells a missed event from one never meant for this user.
    gaps: GapDetector,
    /// Set by a gap until a sync completes: how the next connect gets the missed event.
    recover: Option<Recover>,
    /// The last gap and when it was found: the same gap again means the replay could not
    /// bring it, and gaps in a row back off.
    last_gap: Option<(Gap, Instant)>,
}

impl<S: BoardSink> Supervisor<S> {
    fn set(&mut self, state: ConnectionState) {
        if *self.state.borrow() != state {
            tracing::debug!(?state, "connection state");
            // The watch first: whoever sees the event and then reads the state sees this one.
            self.state.send_replace(state.clone());
            self.sink.state_changed(&state);
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

    /// The session is over: it is ended for good (saved token removed, once) and the state
    /// says why, in plain words. Only a new sign-in ([`Connection::resume`]) goes on.
    fn needs_login(&mut self, session: &Session, end: SessionEnd) {
        let end = session.end(end);
        self.session = None;
        self.reload_snapshot = false;
        self.recover = None;
        self.set(ConnectionState::NeedsLogin {
            reason: end.describe(),
        });
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
            // Ended meanwhile (e.g. a REST 401 while backing off): its token is not presented.
            if let Some(end) = session.ended() {
                self.needs_login(&session, end);
                attempt = 0;
                continue;
            }
            attempt += 1;
            self.set(ConnectionState::Connecting {
                attempt,
                retry_at: None,
            });
            let token = session.access_token();
            let auth = ConnectAuth {
                token: token.clone(),
                last_seq: self.resume_from(),
            };
            let request = ConnectRequest {
                server: session.api().base_url().clone(),
                namespace: namespace(session.company().id),
                auth: serde_json::to_value(auth).expect("ConnectAuth serializes"),
                timeouts: self.config.timeouts,
            };
            let transport = self.transport.clone();
            let connect =
                tokio::time::timeout(self.config.attempt_timeout, transport.connect(request));
            let outcome = tokio::select! {
                r = connect => Some(r),
                // The attempt is dropped (and its socket closed) once the session is over.
                _ = session.wait_ended() => None,
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
                None => Next::NeedsLogin(session.ended().expect("the session ended")),
                Some(Ok(Ok(connection))) => {
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
                        LiveEnd::NeedsLogin(end) => Next::NeedsLogin(end),
                        LiveEnd::Gap(gap) => {
                            if self.on_gap(gap) {
                                Next::Backoff
                            } else {
                                attempt = 0;
                                Next::RetryNow
                            }
                        }
                        LiveEnd::RoleChanged => {
                            // The same token stays valid: reconnect at once, without lastSeq,
                            // so the new role's rooms and board come with the `reset`.
                            self.reload_snapshot = true;
                            let again_soon = self
                                .last_role_change
                                .is_some_and(|at| at.elapsed() < self.config.stable_after);
                            self.last_role_change = Some(Instant::now());
                            if again_soon {
                                Next::Backoff
                            } else {
                                attempt = 0;
                                Next::RetryNow
                            }
                        }
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
                Some(Ok(Err(ConnectError::Rejected(code)))) => match ConnectErrorCode::parse(&code)
                {
                    Some(ConnectErrorCode::TokenExpired) if !refreshed_for_expiry => {
                        refreshed_for_expiry = true;
                        match session.refresh(&token).await {
                            Ok(()) => Next::RetryNow,
                            Err(e) if e.needs_login() => {
                                Next::NeedsLogin(SessionEnd::from_error(&e))
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
                    Some(code) => Next::NeedsLogin(SessionEnd::Rejected(code)),
                    None => {
                        tracing::warn!(%code, "unknown connect error");
                        Next::Backoff
                    }
                },
                Some(Ok(Err(e))) => {
                    tracing::info!(error = %e, attempt, "connection attempt failed");
                    Next::Backoff
                }
                Some(Err(_)) => {
                    tracing::info!(attempt, "connection attempt timed out");
                    Next::Backoff
                }
            };
            match next {
                Next::RetryNow => continue,
                Next::Shutdown => break,
                Next::NeedsLogin(end) => {
                    self.needs_login(&session, end);
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
                        // Checked at the top of the loop: no attempt with an ended session.
                        _ = session.wait_ended() => attempt = 0,
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

    /// The `lastSeq` of the next connect: none to get a snapshot (first connect, after a role
    /// change, or when a replay could not bring a missed event); after a gap, from just before
    /// the missed event, or from the board's last seq if that is lower (a replay from lower
    /// only brings duplicates, which are skipped); otherwise the board's last seq.
    fn resume_from(&self) -> Option<i64> {
        if self.reload_snapshot {
            return None;
        }
        let last = self.sink.last_seq()?;
        match self.recover {
            None => Some(last),
            Some(Recover::ReplayFrom(seq)) => Some(last.min(seq)),
            Some(Recover::Snapshot) => None,
        }
    }

    /// Decides how to recover a gap (the socket is already dropped). `true`: back off first.
    fn on_gap(&mut self, gap: Gap) -> bool {
        let previous = self.last_gap.replace((gap, Instant::now()));
        let again_soon = previous.is_some_and(|(_, at)| at.elapsed() < self.config.stable_after);
        if previous.is_some_and(|(g, _)| g.stream == gap.stream && g.missing == gap.missing) {
            // Found again after replaying from before it: the server's log cannot give it (or
            // its chain is wrong). A snapshot holds everything up to its seq, whatever happened.
            tracing::warn!(
                stream = %gap.stream,
                missing = gap.missing,
                revealed_by = gap.revealed_by,
                "missed event {} of stream {} again after a replay; reloading the board",
                gap.missing,
                gap.stream,
            );
            self.recover = Some(Recover::Snapshot);
        } else {
            tracing::warn!(
                stream = %gap.stream,
                missing = gap.missing,
                revealed_by = gap.revealed_by,
                "missed event {} of stream {} (event {} follows it); reconnecting to replay from seq {}",
                gap.missing,
                gap.stream,
                gap.revealed_by,
                gap.missing - 1,
            );
            self.recover = Some(Recover::ReplayFrom(gap.missing - 1));
        }
        // The first gap is recovered at once; gaps in a row wait like failed attempts.
        again_soon
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
                // Ended elsewhere (a REST 401 on a command, a refused refresh) while the socket
                // is still up: the socket goes too.
                end = session.wait_ended() => {
                    connection.close().await;
                    return LiveEnd::NeedsLogin(end);
                }
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
        data: EventData,
    ) -> Result<(), LiveEnd> {
        let Some((event_company, resource)) = parse_event_name(name) else {
            tracing::debug!(name, "ignoring an event this client does not know");
            self.sink.unknown(name);
            return Ok(());
        };
        if event_company != company {
            tracing::warn!(name, "ignoring an event of another company");
            self.sink.unknown(name);
            return Ok(());
        }
        if resource == Resource::Session {
            return Err(on_session_message(&data));
        }
        if resource == Resource::Sync {
            let sync: SyncMessage = match data.decode() {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "malformed sync message");
                    self.sink.unknown(name);
                    return Err(LiveEnd::Closed("malformed sync message".into()));
                }
            };
            if self.reload_snapshot {
                // After a role change: the account as the server has it now, so that what the
                // app offers follows the new role too.
                match session
                    .call(|api, token| async move { api.me(&token).await })
                    .await
                {
                    Ok(me) if me.user != session.user() => {
                        tracing::info!(role = me.user.role.as_str(), "the account changed");
                        session.set_user(me.user.clone());
                        self.sink.user_changed(&me.user);
                    }
                    Ok(_) => {}
                    Err(e) if e.needs_login() => {
                        return Err(LiveEnd::NeedsLogin(SessionEnd::from_error(&e)))
                    }
                    Err(e) => {
                        return Err(LiveEnd::Closed(format!(
                            "loading the account failed: {}",
                            describe_session(&e)
                        )))
                    }
                }
            }
            if sync.mode == SyncMode::Reset {
                match session
                    .call(|api, token| async move { api.board(&token).await })
                    .await
                {
                    Ok(board) => {
                        let seq = board.seq;
                        self.sink.load_snapshot(board);
                        self.gaps.reset(seq);
                    }
                    Err(e) if e.needs_login() => {
                        return Err(LiveEnd::NeedsLogin(SessionEnd::from_error(&e)))
                    }
                    Err(e) => {
                        return Err(LiveEnd::Closed(format!(
                            "loading the board failed: {}",
                            describe_session(&e)
                        )))
                    }
                }
            }
            self.reload_snapshot = false;
            // The replay (or the snapshot) is in: a missed event was brought, or the replay
            // revealed its gap again before this sync and set `recover` anew.
            self.recover = None;
            self.sink.synced(sync);
            self.set(ConnectionState::Live);
            return Ok(());
        }
        // Decoded once, with the frame, straight into the typed event: this is every live
        // event's path.
        let event: EventEnvelope = match data.into_event() {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(name, error = %e, "malformed event skipped");
                self.sink.unknown(name);
                return Ok(());
            }
        };
        match self.gaps.observe(&event) {
            // Already reflected (replay overlap or a snapshot newer than the event).
            Verdict::Seen => Ok(()),
            Verdict::New => {
                self.sink.apply(resource, event);
                Ok(())
            }
            // The revealing event is not applied, though it is newer state: the replay brings
            // it again right after the missed one, so the board and everything reported from
            // it (alerts judge a change by the ticket's state before and after) see the events
            // in the server's order, each once, and a stream's highest seq received keeps
            // meaning "all of it up to here". Applying it first would let the missed event
            // arrive as stale and its change go unreported.
            Verdict::Gap(gap) => Err(LiveEnd::Gap(gap)),
        }
    }
}

/// What the server's `company-{id}-session` message means for this connection. The server
/// disconnects right after it, so it always ends the connection.
fn on_session_message(data: &EventData) -> LiveEnd {
    match session_end_reason(data) {
        Ok(reason) if reason.needs_login() => {
            tracing::info!(%reason, "the server ended this session");
            LiveEnd::NeedsLogin(SessionEnd::Server(reason))
        }
        Ok(reason) => {
            tracing::info!(%reason, "the server changed this session; reconnecting now");
            LiveEnd::RoleChanged
        }
        Err(why) => {
            // Not ignored: the server announced an end, and a client that guessed "go on"
            // would keep a session its server no longer wants.
            tracing::warn!(error = %why, "unreadable session message: taking it as the end of the session");
            LiveEnd::NeedsLogin(SessionEnd::Unreadable)
        }
    }
}

/// The reason of a session message. The reason alone is enough (`message` only helps clients
/// that do not know the code); an unknown reason is an error.
fn session_end_reason(data: &EventData) -> Result<SessionEndReason, String> {
    match data.decode::<SessionEnded>() {
        Ok(message) => Ok(message.reason),
        Err(e) => data
            .to_value()
            .get("reason")
            .and_then(Value::as_str)
            .and_then(SessionEndReason::parse)
            .ok_or_else(|| e.to_string().chars().take(200).collect()),
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
    use crate::api::Api;
    use crate::error::ApiError;
    use crate::token_store::{Account, MemoryStore, TokenStore};
    use deskbell_protocol::{ApiErrorCode, Company, LoginResponse, Role, User};
    use futures_util::future::BoxFuture;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Generous: the clock is paused, so waiting costs no real time unless something is stuck.
    const WAIT: Duration = Duration::from_secs(120);

    /// One connection the supervisor opened, as the fake server sees it.
    struct Peer {
        request: ConnectRequest,
        events: mpsc::UnboundedSender<TransportEvent>,
        released: Arc<AtomicBool>,
    }

    impl Peer {
        fn send(&self, name: &str, data: Value) {
            let _ = self.events.send(TransportEvent::Event {
                name: name.into(),
                data: data.into(),
            });
        }

        fn released(&self) -> bool {
            self.released.load(Ordering::SeqCst)
        }
    }

    /// Every connect succeeds at once and hands the test its [`Peer`].
    struct FakeTransport {
        peers: mpsc::UnboundedSender<Peer>,
    }

    impl SocketTransport for FakeTransport {
        fn connect(
            &self,
            request: ConnectRequest,
        ) -> BoxFuture<'static, Result<Box<dyn SocketConnection>, ConnectError>> {
            let (events, rx) = mpsc::unbounded_channel();
            let released = Arc::new(AtomicBool::new(false));
            let _ = self.peers.send(Peer {
                request,
                events,
                released: released.clone(),
            });
            Box::pin(async move {
                Ok(Box::new(FakeConnection {
                    events: rx,
                    released,
                }) as Box<dyn SocketConnection>)
            })
        }
    }

    struct FakeConnection {
        events: mpsc::UnboundedReceiver<TransportEvent>,
        released: Arc<AtomicBool>,
    }

    impl Drop for FakeConnection {
        fn drop(&mut self) {
            self.released.store(true, Ordering::SeqCst);
        }
    }

    impl SocketConnection for FakeConnection {
        fn next_event(&mut self) -> BoxFuture<'_, TransportEvent> {
            Box::pin(async move {
                self.events
                    .recv()
                    .await
                    .unwrap_or(TransportEvent::Closed(CloseReason::ServerDisconnect))
            })
        }

        fn emit(&self, _name: &str, _data: Value) -> Result<(), ConnectError> {
            Ok(())
        }

        fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
            Box::pin(async {})
        }
    }

    /// A board that has seen seq 5 (and the events applied since), reporting every state,
    /// snapshot, applied event and user change.
    struct StateSink {
        states: mpsc::UnboundedSender<ConnectionState>,
        snapshots: Arc<std::sync::Mutex<Vec<i64>>>,
        applied: Arc<std::sync::Mutex<Vec<i64>>>,
        users: Arc<std::sync::Mutex<Vec<User>>>,
    }

    impl BoardSink for StateSink {
        fn last_seq(&self) -> Option<i64> {
            self.applied
                .lock()
                .unwrap()
                .iter()
                .copied()
                .max()
                .max(Some(5))
        }
        fn load_snapshot(&mut self, board: Board) {
            self.snapshots.lock().unwrap().push(board.seq);
        }
        fn apply(&mut self, _resource: Resource, event: EventEnvelope) {
            self.applied.lock().unwrap().push(event.seq);
        }
        fn user_changed(&mut self, user: &User) {
            self.users.lock().unwrap().push(user.clone());
        }
        fn state_changed(&mut self, state: &ConnectionState) {
            let _ = self.states.send(state.clone());
        }
    }

    fn agent() -> User {
        User {
            id: 2,
            company_id: 1,
            name: "Agent One".into(),
            email: "agent1@acme.test".into(),
            role: Role::Agent,
            active: true,
        }
    }

    /// A REST API on loopback answering `GET /api/me` with `me` and `GET /api/board` with an
    /// empty board at seq 9 (one request per connection); it records the paths asked for.
    async fn fake_api(me: User) -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let paths = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = paths.clone();
        tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                let seen = seen.clone();
                let me = me.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tcp.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head);
                    let path = head
                        .split_whitespace()
                        .nth(1)
                        .unwrap_or_default()
                        .to_string();
                    seen.lock().unwrap().push(path.clone());
                    let (status, body) = match path.as_str() {
                        "/api/me" => (
                            "200 OK",
                            serde_json::json!({"user": me, "company": {"id": 1, "name": "Acme"}}),
                        ),
                        "/api/board" => (
                            "200 OK",
                            serde_json::json!({"lanes": [], "tickets": [], "seq": 9}),
                        ),
                        _ => (
                            "404 Not Found",
                            serde_json::json!({"error": {"code": "not_found", "message": "no"}}),
                        ),
                    };
                    let body = body.to_string();
                    let answer = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = tcp.write_all(answer.as_bytes()).await;
                });
            }
        });
        (url, paths)
    }

    struct Harness {
        connection: Connection<StateSink>,
        session: Arc<Session>,
        snapshots: Arc<std::sync::Mutex<Vec<i64>>>,
        applied: Arc<std::sync::Mutex<Vec<i64>>>,
        users: Arc<std::sync::Mutex<Vec<User>>>,
        store: Arc<dyn TokenStore>,
        peers: mpsc::UnboundedReceiver<Peer>,
        states: mpsc::UnboundedReceiver<ConnectionState>,
        seen: Vec<ConnectionState>,
    }

    impl Harness {
        /// A signed-in session (its refresh token saved) and its supervisor. The REST API
        /// points nowhere: these tests never need it (syncs are replays).
        fn start() -> Harness {
            Harness::start_with("http://127.0.0.1:9")
        }

        /// The same, with the REST API at `api`.
        fn start_with(api: &str) -> Harness {
            let api = Api::new(api).unwrap();
            let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
            let account = Account::new(api.base_url().to_string(), "agent1@acme.test");
            store.save(&account, "refresh-1").unwrap();
            let response = LoginResponse {
                access_token: "access-1".into(),
                refresh_token: "refresh-1".into(),
                expires_in: 900,
                user: agent(),
                company: Company {
                    id: 1,
                    name: "Acme".into(),
                    escalate_after_minutes: deskbell_protocol::DEFAULT_ESCALATE_AFTER_MINUTES,
                },
            };
            let session = Arc::new(Session::from_response(
                api,
                store.clone(),
                account,
                response,
            ));
            let (peers_tx, peers) = mpsc::unbounded_channel();
            let (states_tx, states) = mpsc::unbounded_channel();
            let snapshots = Arc::new(std::sync::Mutex::new(Vec::new()));
            let applied = Arc::new(std::sync::Mutex::new(Vec::new()));
            let users = Arc::new(std::sync::Mutex::new(Vec::new()));
            let connection = Connection::spawn(
                session.clone(),
                Arc::new(FakeTransport { peers: peers_tx }),
                StateSink {
                    states: states_tx,
                    snapshots: snapshots.clone(),
                    applied: applied.clone(),
                    users: users.clone(),
                },
                ConnectionConfig::default(),
            );
            Harness {
                connection,
                session,
                snapshots,
                applied,
                users,
                store,
                peers,
                states,
                seen: Vec::new(),
            }
        }

        fn saved_token(&self) -> Option<String> {
            self.store.load(self.session.account()).unwrap()
        }

        async fn next_peer(&mut self) -> Peer {
            tokio::time::timeout(WAIT, self.peers.recv())
                .await
                .expect("a connection attempt")
                .expect("the supervisor runs")
        }

        /// No attempt within `window` (paused clock: no real time passes).
        async fn no_attempt_within(&mut self, window: Duration) {
            if let Ok(Some(peer)) = tokio::time::timeout(window, self.peers.recv()).await {
                panic!("an attempt was made: {:?}", peer.request.auth);
            }
        }

        async fn wait_state(
            &mut self,
            what: &str,
            pred: impl Fn(&ConnectionState) -> bool,
        ) -> ConnectionState {
            let deadline = Instant::now() + WAIT;
            loop {
                match tokio::time::timeout_at(deadline, self.states.recv()).await {
                    Ok(Some(state)) => {
                        self.seen.push(state.clone());
                        if pred(&state) {
                            return state;
                        }
                    }
                    _ => panic!("no {what}; states seen {:?}", self.seen),
                }
            }
        }

        /// Connects and replays: live.
        async fn live(&mut self) -> Peer {
            let peer = self.next_peer().await;
            peer.send(
                "company-1-sync",
                serde_json::json!({"mode": "replay", "head": 5}),
            );
            self.wait_state("live", |s| *s == ConnectionState::Live)
                .await;
            peer
        }

        async fn needs_login(&mut self) -> String {
            match self
                .wait_state("needs-login", |s| {
                    matches!(s, ConnectionState::NeedsLogin { .. })
                })
                .await
            {
                ConnectionState::NeedsLogin { reason } => reason,
                _ => unreachable!(),
            }
        }
    }

    /// A data event of `stream` whose stream's previous event is `prev` (no ticket: the
    /// sink only records its seq).
    fn chained(seq: i64, stream: &str, prev: i64) -> Value {
        serde_json::json!({
            "action": "update", "seq": seq, "companyId": 1, "userId": 3,
            "timestamp": "2026-11-22T10:00:00Z", "stream": stream, "prevSeq": prev,
        })
    }

    fn scheduled(s: &ConnectionState) -> bool {
        matches!(
            s,
            ConnectionState::Connecting {
                retry_at: Some(_),
                ..
            }
        )
    }

    #[tokio::test(start_paused = true)]
    async fn a_gap_reconnects_at_once_replaying_from_before_the_missed_event() {
        let mut h = Harness::start();
        let first = h.live().await; // the board holds everything up to 5
        first.send("company-1-ticket", chained(8, "all", 5)); // 6 and 7 went to others
        first.send("company-1-ticket", chained(9, "assignee-2", 0)); // the stream's first
        first.send("company-1-ticket", chained(11, "assignee-2", 9));
        let at = Instant::now();
        first.send("company-1-ticket", chained(12, "all", 10)); // 10 never came
        let second = h.next_peer().await;
        assert_eq!(
            at.elapsed(),
            Duration::ZERO,
            "at once (the clock is paused)"
        );
        assert!(first.released(), "the socket that missed it is let go");
        assert_eq!(
            second.request.auth["lastSeq"], 9,
            "replays from just before the missed event, below the board's 11"
        );
        assert_eq!(
            *h.applied.lock().unwrap(),
            vec![8, 9, 11],
            "the event that revealed the gap waits for the replay"
        );
        // The server's replay after 9: the missed event, a duplicate, the revealing one again.
        second.send("company-1-ticket", chained(10, "all", 8));
        second.send("company-1-ticket", chained(11, "assignee-2", 9));
        second.send("company-1-ticket", chained(12, "all", 10));
        second.send(
            "company-1-sync",
            serde_json::json!({"mode": "replay", "head": 12}),
        );
        h.wait_state("live", |s| *s == ConnectionState::Live).await;
        // Not checked: no stream. Duplicates of any kind are skipped, not gaps.
        second.send(
            "company-1-ticket",
            serde_json::json!({"action": "update", "seq": 13, "companyId": 1, "userId": 3,
                "timestamp": "2026-11-22T10:00:00Z", "prevSeq": 12}),
        );
        second.send("company-1-ticket", chained(12, "all", 10));
        second.send("company-1-ticket", chained(9, "assignee-2", 0));
        h.no_attempt_within(Duration::from_secs(60)).await;
        assert_eq!(*h.applied.lock().unwrap(), vec![8, 9, 11, 10, 12, 13]);
        assert!(!second.released());
        assert!(!h.seen.iter().any(scheduled), "{:?}", h.seen);
        assert!(
            h.snapshots.lock().unwrap().is_empty(),
            "a replay, no snapshot"
        );
        h.connection.shutdown().await;
    }

    #[tokio::test(start_paused = true)]
    async fn gaps_in_a_row_back_off() {
        let mut h = Harness::start();
        let mut peer = h.live().await;
        let mut waits = Vec::new();
        // A server whose every event reveals a new gap: only the first is recovered at once.
        for (i, seq) in [10, 20, 30, 40].into_iter().enumerate() {
            let at = Instant::now();
            peer.send("company-1-ticket", chained(seq, "all", seq - 1));
            peer = h.next_peer().await;
            waits.push(at.elapsed());
            assert_eq!(peer.request.auth["lastSeq"], 5, "gap {i}");
        }
        assert_eq!(waits[0], Duration::ZERO);
        // Backoff with jitter: attempt n waits at least half of 1 s × 2^(n-1).
        for (n, wait) in waits.iter().enumerate().skip(1) {
            let least = Duration::from_millis(500) * 2u32.pow(n as u32 - 1);
            assert!(*wait >= least, "gap {n} after {wait:?}: {waits:?}");
        }
        assert!(h.applied.lock().unwrap().is_empty());
        h.connection.shutdown().await;
    }

    /// Real time: the snapshot comes from a loopback REST API.
    #[tokio::test]
    async fn the_same_gap_after_its_replay_reloads_the_board_after_a_backoff() {
        let (api, paths) = fake_api(agent()).await;
        let mut h = Harness::start_with(&api);
        let first = h.live().await;
        first.send("company-1-ticket", chained(7, "all", 6));
        let second = h.next_peer().await;
        assert_eq!(second.request.auth["lastSeq"], 5);
        // A replay that still lacks 6 (a server whose log lost it, or whose chain is wrong).
        second.send("company-1-ticket", chained(7, "all", 6));
        h.wait_state("a scheduled retry", scheduled).await;
        let third = h.next_peer().await;
        assert!(second.released());
        assert!(
            third.request.auth.get("lastSeq").is_none(),
            "no lastSeq: the server answers with a reset: {}",
            third.request.auth
        );
        third.send(
            "company-1-sync",
            serde_json::json!({"mode": "reset", "head": 9}),
        );
        h.wait_state("live", |s| *s == ConnectionState::Live).await;
        assert_eq!(*h.snapshots.lock().unwrap(), vec![9]);
        assert_eq!(
            *paths.lock().unwrap(),
            vec!["/api/board"],
            "the board only: the account did not change"
        );
        assert!(h.applied.lock().unwrap().is_empty());
        // The snapshot holds 6 and 7: what follows them is no gap.
        third.send("company-1-ticket", chained(10, "all", 7));
        third.send("company-1-ticket", chained(11, "all", 10));
        let deadline = Instant::now() + Duration::from_secs(10);
        while h.applied.lock().unwrap().len() < 2 {
            assert!(Instant::now() < deadline, "{:?}", h.applied.lock().unwrap());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(*h.applied.lock().unwrap(), vec![10, 11]);
        assert!(!third.released());
        assert_eq!(h.connection.state().borrow().clone(), ConnectionState::Live);
        h.connection.shutdown().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_session_message_that_needs_login_ends_the_session_for_good() {
        for reason in SessionEndReason::ALL {
            if !reason.needs_login() {
                continue;
            }
            let mut h = Harness::start();
            let peer = h.live().await;
            assert_eq!(h.saved_token().as_deref(), Some("refresh-1"));
            peer.send(
                "company-1-session",
                serde_json::to_value(SessionEnded::new(reason)).unwrap(),
            );
            assert_eq!(h.needs_login().await, reason.describe(), "{reason}");
            assert!(peer.released(), "{reason}: the socket is let go");
            assert_eq!(
                h.saved_token(),
                None,
                "{reason}: the saved refresh token is removed"
            );
            assert_eq!(
                h.session.access_token(),
                "",
                "{reason}: the access token is forgotten"
            );
            assert!(matches!(h.session.ended(), Some(SessionEnd::Server(r)) if r == reason));
            // Neither time nor "Reconnect now" retries it.
            h.connection.reconnect_now();
            h.no_attempt_within(Duration::from_secs(120)).await;
            h.connection.shutdown().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_unreadable_session_message_ends_the_session_with_a_generic_reason() {
        let generic = SessionEnd::Unreadable.describe();
        for data in [
            serde_json::json!({}),
            serde_json::json!(null),
            serde_json::json!("deactivated"),
            serde_json::json!({"reason": 5, "message": "x"}),
            serde_json::json!({"reason": "deleted", "message": "Your account was deleted"}),
        ] {
            let mut h = Harness::start();
            let peer = h.live().await;
            peer.send("company-1-session", data.clone());
            assert_eq!(h.needs_login().await, generic, "{data}");
            assert!(peer.released(), "{data}");
            assert_eq!(h.saved_token(), None, "{data}");
            h.no_attempt_within(Duration::from_secs(60)).await;
            h.connection.shutdown().await;
        }
        // A known reason without its sentence is still that reason.
        let mut h = Harness::start();
        let peer = h.live().await;
        peer.send(
            "company-1-session",
            serde_json::json!({"reason": "deactivated"}),
        );
        assert_eq!(
            h.needs_login().await,
            SessionEndReason::Deactivated.describe()
        );
        h.connection.shutdown().await;
    }

    /// Real time: the REST calls go to a loopback server (a paused clock would fire their
    /// timeouts while they wait for it).
    #[tokio::test]
    async fn a_role_change_reconnects_at_once_for_a_fresh_snapshot_and_account() {
        let promoted = User {
            role: Role::Admin,
            ..agent()
        };
        let (api, paths) = fake_api(promoted.clone()).await;
        let mut h = Harness::start_with(&api);
        let first = h.live().await;
        assert_eq!(first.request.auth["lastSeq"], 5, "a reconnect replays");
        let at = Instant::now();
        first.send(
            "company-1-session",
            serde_json::to_value(SessionEnded::new(SessionEndReason::RoleChanged)).unwrap(),
        );
        let second = h.next_peer().await;
        assert!(
            at.elapsed() < Duration::from_millis(400),
            "no backoff (its least is 500 ms): {:?}",
            at.elapsed()
        );
        assert!(first.released(), "the old socket is let go");
        assert_eq!(
            second.request.auth["token"], "access-1",
            "the same token goes on"
        );
        assert!(
            second.request.auth.get("lastSeq").is_none(),
            "no lastSeq, so the server answers with a reset: {}",
            second.request.auth
        );
        // As the server answers a connect without lastSeq.
        second.send(
            "company-1-sync",
            serde_json::json!({"mode": "reset", "head": 9}),
        );
        h.wait_state("live again", |s| *s == ConnectionState::Live)
            .await;
        assert_eq!(
            *h.snapshots.lock().unwrap(),
            vec![9],
            "the snapshot is reloaded"
        );
        assert_eq!(
            *h.users.lock().unwrap(),
            vec![promoted.clone()],
            "the account is reloaded"
        );
        assert_eq!(h.session.user().role, Role::Admin);
        assert_eq!(*paths.lock().unwrap(), vec!["/api/me", "/api/board"]);
        assert!(
            !h.seen.iter().any(|s| matches!(
                s,
                ConnectionState::Connecting {
                    retry_at: Some(_),
                    ..
                } | ConnectionState::NeedsLogin { .. }
            )),
            "{:?}",
            h.seen
        );
        assert_eq!(
            h.saved_token().as_deref(),
            Some("refresh-1"),
            "the session is kept"
        );

        // Once in sync, reconnects replay again.
        h.connection.reconnect_now();
        let third = h.next_peer().await;
        assert_eq!(third.request.auth["lastSeq"], 5);
        third.send(
            "company-1-sync",
            serde_json::json!({"mode": "replay", "head": 5}),
        );
        h.wait_state("live", |s| *s == ConnectionState::Live).await;
        assert_eq!(paths.lock().unwrap().len(), 2, "a replay reloads nothing");

        // Another role change right after the first: backed off, not a hot loop.
        third.send(
            "company-1-session",
            serde_json::json!({"reason": "role-changed", "message": "x"}),
        );
        h.wait_state("a scheduled retry", |s| {
            matches!(
                s,
                ConnectionState::Connecting {
                    retry_at: Some(_),
                    ..
                }
            )
        })
        .await;
        let fourth = h.next_peer().await;
        assert!(fourth.request.auth.get("lastSeq").is_none());
        h.connection.shutdown().await;
    }

    #[tokio::test(start_paused = true)]
    async fn an_end_noticed_elsewhere_closes_the_live_socket() {
        let mut h = Harness::start();
        let peer = h.live().await;
        // What a command's REST call does on a 401 (Session::call).
        let refused = ApiError::Server {
            status: 401,
            code: ApiErrorCode::Unauthorized,
            message: "the account is disabled".into(),
            current: None,
            retry_after: None,
        };
        h.session.end(SessionEnd::Refused(refused));
        let reason = h.needs_login().await;
        assert_eq!(
            reason,
            "The server ended this session (the account is disabled); sign in again"
        );
        assert!(peer.released());
        assert_eq!(h.saved_token(), None);
        h.connection.reconnect_now();
        h.no_attempt_within(Duration::from_secs(60)).await;
        // The first end counts: a later one does not change the reason.
        let end = h
            .session
            .end(SessionEnd::Server(SessionEndReason::SignedOut));
        assert_eq!(end.describe(), reason);
        h.connection.shutdown().await;
    }

    #[tokio::test(start_paused = true)]
    async fn an_end_while_backing_off_needs_login_without_an_attempt() {
        let mut h = Harness::start();
        let peer = h.next_peer().await;
        // Dropped before any sync: a failed (unstable) connection, so a retry is scheduled.
        drop(peer);
        h.wait_state("a scheduled retry", |s| {
            matches!(
                s,
                ConnectionState::Connecting {
                    retry_at: Some(_),
                    ..
                }
            )
        })
        .await;
        let at = Instant::now();
        h.session.end(SessionEnd::Server(SessionEndReason::Revoked));
        assert_eq!(h.needs_login().await, SessionEndReason::Revoked.describe());
        assert_eq!(
            at.elapsed(),
            Duration::ZERO,
            "said at once, not when the retry was due (the clock is paused)"
        );
        h.no_attempt_within(Duration::from_secs(120)).await;
        h.connection.shutdown().await;
    }

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
