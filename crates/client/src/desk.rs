//! [`Desk`]: the whole client core behind one handle — a signed-in session, the connection
//! supervisor, the board, the alert policy with its notifier, and the wake sources — reporting
//! everything as one ordered stream of [`DeskEvent`]s. The CLI and the desktop shell are thin
//! layers over it: they call its methods and forward its events.
//!
//! One event type all the way: the [`LiveBoard`] reports [`DeskEvent`]s as it applies what the
//! connection delivers; the desk's pump watches them go by (the alert policy judges data events,
//! a user change resets it), adds its own (alerts, the urgent count, wakes, notification
//! activations) and passes everything on in order. Nothing is converted or parsed again on the
//! way.

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use deskbell_protocol::{
    ApiErrorCode, Attachment, Comment, EventEnvelope, Id, NewTicket, Resource, SyncMessage, Ticket,
    TicketPatch, User,
};
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::alerts::{Alert, AlertPolicy, AlertPreferences, Notifier, NotifierEvent};
use crate::board::{BoardDelta, BoardError, TicketChange};
use crate::connection::{Connection, ConnectionConfig, ConnectionControl, ConnectionState};
use crate::error::ApiError;
use crate::error::{ClientErrorCode, ErrorCode};
use crate::live_board::{BoardReporter, LiveBoard, SharedBoard};
use crate::session::{Session, SessionError};
use crate::transport::SocketTransport;
use crate::wake::{WakeReason, WakeSource};

/// Everything the core reports, in the order it happened.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum DeskEvent {
    /// A connection state change.
    State { state: ConnectionState },
    /// A data event was applied (live or replayed), once per seq. Its board deltas, if any,
    /// follow as [`DeskEvent::Board`].
    Event {
        // What the event is about: `ticket`, `comment`, `attachment` or `lane` (control
        // messages never come here). Not a doc comment: ts-rs would copy it into the UI's types.
        #[serde(serialize_with = "resource_name")]
        #[ts(type = "\"ticket\" | \"comment\" | \"attachment\" | \"lane\"")]
        resource: Resource,
        event: Box<EventEnvelope>,
        // How the event changed a ticket on the board, for the alert policy (which judges a
        // change by the ticket before it). Not for the UI: it has the deltas.
        #[serde(skip)]
        #[ts(skip)]
        change: Option<Box<TicketChange>>,
    },
    /// What the UI must change (events, snapshot reloads, optimistic moves). Never empty.
    Board { deltas: Vec<BoardDelta> },
    /// The replay or snapshot after a (re)connect is complete.
    Synced { sync: SyncMessage },
    /// The alert policy raised a notification (also under do-not-disturb: then it was counted
    /// but not shown, and `shown` is false).
    Alert { alert: Alert, shown: bool },
    /// Urgent tickets alerted and not yet opened (the tray's count).
    #[serde(rename_all = "camelCase")]
    UrgentCount {
        #[ts(type = "number")]
        count: usize,
    },
    /// The user activated a notification's "Open ticket".
    #[serde(rename_all = "camelCase")]
    OpenTicket {
        #[ts(type = "number")]
        ticket_id: Id,
    },
    /// A notification could not be shown.
    #[serde(rename_all = "camelCase")]
    NotificationFailed {
        #[ts(type = "Array<number>")]
        ticket_ids: Vec<Id>,
        error: String,
    },
    /// A wake (resume, network up, clock gap) triggered an immediate reconnect.
    Wake { reason: String },
    /// A server event this client does not understand; skipped.
    Unknown { name: String },
    /// The signed-in user changed on the server (an admin changed their role): what the app
    /// offers follows it. The board is reloaded for the new role right after.
    User { user: User },
}

/// A resource as the protocol names it (`company-{id}-{name}`).
fn resource_name<S: serde::Serializer>(resource: &Resource, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(resource.as_str())
}

/// Why a [`Desk`] call failed; `code()` is stable for the UI to switch on.
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Board(#[from] BoardError),
    #[error("the core has stopped")]
    Stopped,
}

impl DeskError {
    pub fn code(&self) -> ErrorCode {
        match self {
            DeskError::Session(e) => e.code(),
            DeskError::Board(e) => e.code(),
            DeskError::Stopped => ClientErrorCode::Stopped.into(),
        }
    }

    /// The server's current ticket, when the call lost a version race (409).
    pub fn current_ticket(&self) -> Option<&Ticket> {
        match self {
            DeskError::Session(SessionError::Api(ApiError::Server { current, .. })) => {
                current.as_deref()
            }
            _ => None,
        }
    }
}

/// How a [`Desk`] is put together; the defaults are the real OS parts.
pub struct DeskOptions {
    pub transport: Arc<dyn SocketTransport>,
    /// `None`: alerts are decided and reported, but not shown.
    pub notifier: Option<Arc<dyn Notifier>>,
    /// Where the notifier reports activations and failures (paired with `notifier`).
    pub notifier_events: Option<mpsc::Receiver<NotifierEvent>>,
    pub wake_sources: Vec<Box<dyn WakeSource>>,
    pub wake_debounce: Duration,
    pub connection: ConnectionConfig,
    pub preferences: AlertPreferences,
    /// How long the first alert of a burst waits for others.
    pub alert_window: Duration,
}

impl DeskOptions {
    /// The real parts: websocket transport, desktop notifications, the platform's wake sources.
    /// Must be called within a tokio runtime (the notifier's channel).
    pub fn desktop() -> DeskOptions {
        let (tx, rx) = mpsc::channel(64);
        DeskOptions {
            transport: Arc::new(crate::transport::ws::WsTransport::new()),
            notifier: Some(Arc::new(crate::alerts::DesktopNotifier::new(tx))),
            notifier_events: Some(rx),
            wake_sources: crate::wake::default_sources(),
            wake_debounce: Duration::from_secs(2),
            connection: ConnectionConfig::default(),
            preferences: AlertPreferences::default(),
            alert_window: crate::alerts::DEFAULT_WINDOW,
        }
    }

    /// No OS integration: the given notifier, no wake sources (tests, scripting).
    pub fn headless(transport: Arc<dyn SocketTransport>, notifier: Arc<dyn Notifier>) -> Self {
        DeskOptions {
            transport,
            notifier: Some(notifier),
            notifier_events: None,
            wake_sources: Vec::new(),
            wake_debounce: Duration::from_secs(2),
            connection: ConnectionConfig::default(),
            preferences: AlertPreferences::default(),
            alert_window: crate::alerts::DEFAULT_WINDOW,
        }
    }
}

enum PumpCommand {
    SetPreferences(AlertPreferences),
    MarkRead(Id),
    SetUser(User),
    Stop,
}

/// The running core. Dropping it without [`Desk::shutdown`] stops its tasks too.
///
/// It is shared (`Arc<Desk>`) by whoever makes calls on it, and any holder can stop it:
/// [`Desk::shutdown`] takes what it stops out of the desk, so it never waits for the other
/// holders (a command still running finishes against a stopped core and fails or is ignored).
pub struct Desk {
    session: RwLock<Arc<Session>>,
    control: ConnectionControl,
    /// The tasks, until the first shutdown takes them.
    tasks: Mutex<Option<DeskTasks>>,
    board: SharedBoard,
    reporter: BoardReporter,
    pump: mpsc::UnboundedSender<PumpCommand>,
    preferences: watch::Receiver<AlertPreferences>,
    urgent: watch::Receiver<usize>,
}

/// What [`Desk::shutdown`] stops, in this order.
struct DeskTasks {
    connection: Connection<LiveBoard>,
    pump: JoinHandle<()>,
}

impl Desk {
    /// Starts connecting at once; events arrive on the returned receiver.
    pub fn start(session: Session, options: DeskOptions) -> (Desk, mpsc::Receiver<DeskEvent>) {
        let session = Arc::new(session);
        let board = SharedBoard::new();
        let (sink, board_events) = LiveBoard::new(board.clone());
        let reporter = sink.reporter();
        let connection =
            Connection::spawn(session.clone(), options.transport, sink, options.connection);
        let (out, events) = mpsc::channel(1024);
        let (pump, commands) = mpsc::unbounded_channel();
        let (prefs_tx, preferences) = watch::channel(options.preferences.clone());
        let (urgent_tx, urgent) = watch::channel(0);
        let policy =
            AlertPolicy::new(session.user(), options.preferences).with_window(options.alert_window);
        let wakes = crate::wake::wake_stream(options.wake_sources, options.wake_debounce);
        let pump_task = tokio::spawn(
            Pump {
                policy,
                notifier: options.notifier,
                out,
                prefs: prefs_tx,
                urgent: urgent_tx,
                started: Instant::now(),
                reconnect: connection.reconnect_handle(),
            }
            .run(board_events, commands, options.notifier_events, wakes),
        );
        let desk = Desk {
            session: RwLock::new(session),
            control: connection.control(),
            tasks: Mutex::new(Some(DeskTasks {
                connection,
                pump: pump_task,
            })),
            board,
            reporter,
            pump,
            preferences,
            urgent,
        };
        (desk, events)
    }

    pub fn session(&self) -> Arc<Session> {
        self.session
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn user(&self) -> User {
        self.session().user()
    }

    pub fn state(&self) -> watch::Receiver<ConnectionState> {
        self.control.state()
    }

    /// The board as the UI should show it (pending moves applied).
    pub fn board(&self) -> deskbell_protocol::Board {
        self.board.snapshot()
    }

    pub fn shared_board(&self) -> &SharedBoard {
        &self.board
    }

    pub fn preferences(&self) -> AlertPreferences {
        self.preferences.borrow().clone()
    }

    pub fn urgent_count(&self) -> usize {
        *self.urgent.borrow()
    }

    /// Drops the current socket and connects at once ("Reconnect now", wake, network up).
    pub fn reconnect_now(&self) {
        self.control.reconnect_now();
    }

    /// After `needs-login`: a fresh sign-in (same account) resumes the connection.
    pub fn resume(&self, session: Session) {
        let session = Arc::new(session);
        let _ = self.pump.send(PumpCommand::SetUser(session.user()));
        *self.session.write().unwrap_or_else(|e| e.into_inner()) = session.clone();
        self.control.resume(session);
    }

    pub fn set_preferences(&self, preferences: AlertPreferences) {
        let _ = self.pump.send(PumpCommand::SetPreferences(preferences));
    }

    /// The user opened the ticket: it no longer counts as unread urgent.
    pub fn mark_read(&self, ticket_id: Id) {
        let _ = self.pump.send(PumpCommand::MarkRead(ticket_id));
    }

    fn report_deltas(&self, deltas: Vec<BoardDelta>) {
        self.reporter.deltas(deltas);
    }

    /// Moves a card at once (optimistic), then on the server; on error or conflict the card
    /// goes back and the error says why.
    pub async fn move_ticket(
        &self,
        ticket_id: Id,
        lane_id: Option<Id>,
    ) -> Result<Ticket, DeskError> {
        let (move_id, version) = {
            let mut board = self.board.lock();
            let version = board.server_ticket(ticket_id).map(|t| t.version);
            let (move_id, deltas) = board.begin_move(ticket_id, lane_id)?;
            // Reported under the lock, so the stream's order is the board's order.
            self.report_deltas(deltas);
            (move_id, version)
        };
        let result =
            self.session()
                .call(|api, token| async move {
                    api.move_ticket(&token, ticket_id, lane_id, version).await
                })
                .await;
        let mut board = self.board.lock();
        match result {
            Ok(ticket) => {
                let deltas = board.confirm_move(move_id, &ticket)?;
                self.report_deltas(deltas);
                Ok(ticket)
            }
            Err(e) => {
                let mut deltas = board.rollback_move(move_id)?;
                let error = DeskError::from(e);
                if let Some(current) = error.current_ticket() {
                    deltas.extend(board.observe_ticket(current));
                }
                self.report_deltas(deltas);
                Err(error)
            }
        }
    }

    /// Changes a ticket's fields; `expected_version` guards against overwriting a newer state.
    pub async fn patch_ticket(
        &self,
        ticket_id: Id,
        expected_version: Option<i64>,
        patch: TicketPatch,
    ) -> Result<Ticket, DeskError> {
        let patch = &patch;
        let result = self
            .session()
            .call(|api, token| async move {
                api.patch_ticket(&token, ticket_id, expected_version, patch)
                    .await
            })
            .await;
        self.observe_result(result)
    }

    pub async fn create_ticket(&self, new: NewTicket) -> Result<Ticket, DeskError> {
        let new = &new;
        let result = self
            .session()
            .call(|api, token| async move { api.create_ticket(&token, new).await })
            .await;
        Ok(result?)
    }

    pub async fn ticket(&self, ticket_id: Id) -> Result<Ticket, DeskError> {
        Ok(self
            .session()
            .call(|api, token| async move { api.ticket(&token, ticket_id).await })
            .await?)
    }

    pub async fn comments(&self, ticket_id: Id) -> Result<Vec<Comment>, DeskError> {
        Ok(self
            .session()
            .call(|api, token| async move { api.comments(&token, ticket_id).await })
            .await?)
    }

    pub async fn add_comment(&self, ticket_id: Id, body: String) -> Result<Comment, DeskError> {
        let body = &body;
        Ok(self
            .session()
            .call(|api, token| async move { api.add_comment(&token, ticket_id, body).await })
            .await?)
    }

    pub async fn attachments(&self, ticket_id: Id) -> Result<Vec<Attachment>, DeskError> {
        Ok(self
            .session()
            .call(|api, token| async move { api.attachments(&token, ticket_id).await })
            .await?)
    }

    pub async fn upload_attachment(
        &self,
        ticket_id: Id,
        filename: String,
        content_type: String,
        bytes: Vec<u8>,
    ) -> Result<Attachment, DeskError> {
        let (filename, content_type, bytes) = (&filename, &content_type, &bytes);
        Ok(self
            .session()
            .call(|api, token| async move {
                api.upload_attachment(&token, ticket_id, filename, content_type, bytes.clone())
                    .await
            })
            .await?)
    }

    pub async fn download_attachment(&self, attachment_id: Id) -> Result<Vec<u8>, DeskError> {
        Ok(self
            .session()
            .call(|api, token| async move { api.download_attachment(&token, attachment_id).await })
            .await?)
    }

    pub async fn users(&self) -> Result<Vec<User>, DeskError> {
        Ok(self
            .session()
            .call(|api, token| async move { api.users(&token).await })
            .await?)
    }

    /// A successful write's ticket updates the board at once (by version, so the event that
    /// follows is a no-op); a conflict's current ticket too.
    fn observe_result(&self, result: Result<Ticket, SessionError>) -> Result<Ticket, DeskError> {
        let mut board = self.board.lock();
        match result {
            Ok(ticket) => {
                let deltas = board.observe_ticket(&ticket);
                self.report_deltas(deltas);
                Ok(ticket)
            }
            Err(e) => {
                let error = DeskError::from(e);
                if let Some(current) = error.current_ticket() {
                    let deltas = board.observe_ticket(current);
                    self.report_deltas(deltas);
                }
                Err(error)
            }
        }
    }

    /// Stops the connection and the event stream (the session stays saved). The first call
    /// does it and returns when the stream has ended; later calls return at once.
    pub async fn shutdown(&self) {
        let tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(DeskTasks { connection, pump }) = tasks else {
            return;
        };
        connection.shutdown().await;
        // Everything the connection reported is queued by now: the pump drains it and ends.
        let _ = self.pump.send(PumpCommand::Stop);
        let _ = pump.await;
    }

    /// Signs out on the server, forgets the saved session, and stops.
    pub async fn logout(&self) -> Result<(), DeskError> {
        let session = self.session();
        self.shutdown().await;
        session.logout().await?;
        Ok(())
    }
}

impl Drop for Desk {
    fn drop(&mut self) {
        if let Some(tasks) = self
            .tasks
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            tasks.pump.abort();
        }
    }
}

/// Passes the live board's events on, runs the alert policy on them, and feeds wakes to the
/// connection.
struct Pump {
    policy: AlertPolicy,
    notifier: Option<Arc<dyn Notifier>>,
    out: mpsc::Sender<DeskEvent>,
    prefs: watch::Sender<AlertPreferences>,
    urgent: watch::Sender<usize>,
    started: Instant,
    reconnect: crate::connection::ReconnectHandle,
}

impl Pump {
    fn now(&self) -> Duration {
        self.started.elapsed()
    }

    async fn run(
        mut self,
        mut board: mpsc::UnboundedReceiver<DeskEvent>,
        mut commands: mpsc::UnboundedReceiver<PumpCommand>,
        mut notifier_events: Option<mpsc::Receiver<NotifierEvent>>,
        mut wakes: mpsc::Receiver<WakeReason>,
    ) {
        loop {
            let deadline = self
                .policy
                .next_deadline()
                .map(|at| self.started + at)
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            let notified = async {
                match notifier_events.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                event = board.recv() => match event {
                    Some(event) => self.on_board(event).await,
                    None => break,
                },
                Some(command) = commands.recv() => {
                    if matches!(command, PumpCommand::Stop) {
                        while let Ok(event) = board.try_recv() {
                            self.on_board(event).await;
                        }
                        break;
                    }
                    self.on_command(command);
                }
                Some(event) = notified => self.on_notifier(event).await,
                Some(reason) = wakes.recv() => {
                    tracing::info!(%reason, "wake: reconnecting now");
                    self.reconnect.reconnect_now();
                    self.send(DeskEvent::Wake { reason: reason.to_string() }).await;
                }
                _ = tokio::time::sleep_until(deadline) => {}
            }
            self.deliver_alerts().await;
        }
        // Alerts still waiting for their window are delivered before the stream ends.
        self.deliver_alerts_now().await;
    }

    async fn send(&self, event: DeskEvent) {
        // The receiver going away just means nobody listens any more.
        let _ = self.out.send(event).await;
    }

    fn publish_urgent(&self) -> bool {
        let count = self.policy.unread_urgent();
        self.urgent.send_if_modified(|c| {
            let changed = *c != count;
            *c = count;
            changed
        })
    }

    async fn after_policy_change(&self) {
        if self.publish_urgent() {
            self.send(DeskEvent::UrgentCount {
                count: self.policy.unread_urgent(),
            })
            .await;
        }
    }

    /// What the live board reported: watched, then passed on as is.
    async fn on_board(&mut self, event: DeskEvent) {
        match &event {
            DeskEvent::Event {
                resource,
                event: data,
                change: Some(change),
            } => {
                let now = self.now();
                self.policy
                    .observe(*resource, data, change.before.as_ref(), now);
            }
            DeskEvent::User { user } => self.set_user(user.clone()),
            _ => {}
        }
        let judged = matches!(event, DeskEvent::Event { .. });
        self.send(event).await;
        if judged {
            self.after_policy_change().await;
        }
    }

    fn on_command(&mut self, command: PumpCommand) {
        match command {
            PumpCommand::SetPreferences(prefs) => {
                self.policy.set_preferences(prefs.clone());
                let _ = self.prefs.send(prefs);
            }
            PumpCommand::MarkRead(id) => self.policy.mark_read(id),
            PumpCommand::Stop => {}
            PumpCommand::SetUser(user) => self.set_user(user),
        }
        self.publish_urgent();
    }

    /// A new sign-in, or the same user changed: alerts follow who is signed in.
    fn set_user(&mut self, user: User) {
        if user.id != self.policy_user_id() {
            let prefs = self.policy.preferences().clone();
            self.policy = AlertPolicy::new(user, prefs);
        }
    }

    fn policy_user_id(&self) -> Id {
        self.policy.me().id
    }

    async fn on_notifier(&mut self, event: NotifierEvent) {
        match event {
            NotifierEvent::ActionActivated { ticket_id } => {
                self.policy.mark_read(ticket_id);
                self.send(DeskEvent::OpenTicket { ticket_id }).await;
                self.after_policy_change().await;
            }
            NotifierEvent::Failed { ticket_ids, error } => {
                self.send(DeskEvent::NotificationFailed { ticket_ids, error })
                    .await;
            }
        }
    }

    async fn deliver_alerts(&mut self) {
        let now = self.now();
        let alerts = self.policy.poll(now);
        self.show(alerts).await;
    }

    async fn deliver_alerts_now(&mut self) {
        let alerts = self.policy.poll(Duration::MAX);
        self.show(alerts).await;
    }

    async fn show(&mut self, alerts: Vec<Alert>) {
        let muted = self.policy.preferences().do_not_disturb;
        for alert in alerts {
            let notifier = if muted { None } else { self.notifier.clone() };
            let shown = match notifier.map(|n| n.notify(&alert)) {
                None => false,
                Some(Ok(())) => true,
                Some(Err(e)) => {
                    tracing::warn!(code = %e.code(), error = %e, "notification not shown");
                    self.send(DeskEvent::NotificationFailed {
                        ticket_ids: alert.ticket_ids.clone(),
                        error: e.to_string(),
                    })
                    .await;
                    false
                }
            };
            self.send(DeskEvent::Alert { alert, shown }).await;
        }
        self.after_policy_change().await;
    }
}

/// Whether an error means only a new sign-in helps.
pub fn needs_login(error: &DeskError) -> bool {
    match error {
        DeskError::Session(e) => e.needs_login(),
        _ => false,
    }
}

/// Whether an error is a lost version race (the UI says "changed meanwhile").
pub fn is_conflict(error: &DeskError) -> bool {
    matches!(
        error,
        DeskError::Session(SessionError::Api(ApiError::Server {
            code: ApiErrorCode::Conflict,
            ..
        }))
    )
}
