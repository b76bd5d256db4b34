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
//!
//! Alerts (spec "Alerts"): the pump feeds the policy the time since it started and the local
//! wall-clock time ([`LocalClock`]) for quiet hours, and the board after every sync (so that
//! urgent tickets nobody acknowledged before sign-in or during a gap are alerted and reminded
//! of too; a session the server ended suspends alerts until the next sign-in); it shows what
//! the policy delivers,
//! withdraws what it takes back, reports held-back alerts as not shown, alerts on the focused
//! ticket as [`DeskEvent::AlertInPlace`], and the inbox as [`DeskEvent::Inbox`]. A
//! notification's "Acknowledge" and "Assign to me" are performed by the pump itself through the
//! API (a failure is reported as [`DeskEvent::AlertActionFailed`]); "Open" becomes
//! [`DeskEvent::OpenTicket`] (one ticket) or [`DeskEvent::OpenTickets`] (a summary).
//!
//! Members (names for alerts, the UI's pickers) are loaded with every sync, and again when an
//! event names a user the desk does not know; a protocol-1 server (no `GET /api/members`)
//! falls back to the admin-only user list, or to none.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::NaiveDateTime;
use deskbell_protocol::{
    ApiErrorCode, Attachment, Comment, Company, CompanyPatch, EventAction, EventEnvelope, Id, Lane,
    LanePatch, Member, NewComment, NewLane, NewTicket, NewUser, Resource, SyncMessage, Ticket,
    TicketPatch, User, UserPatch,
};
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::alerts::{
    Alert, AlertPolicy, AlertPreferences, InboxEntry, NotificationAction, Notifier, NotifierEvent,
    Snooze,
};
use crate::board::{BoardDelta, BoardError, TicketChange};
use crate::board_view::{BoardQuery, BoardQueryError, BoardView};
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
    /// A data event was applied (live or replayed), once per seq. When it changed what the
    /// board shows, [`DeskEvent::Board`] follows.
    Event {
        // What the event is about: `ticket`, `comment`, `attachment` or `lane` (control
        // messages never come here). Not a doc comment: ts-rs would copy it into the UI's types.
        #[serde(serialize_with = "resource_name")]
        #[ts(type = "\"ticket\" | \"comment\" | \"attachment\" | \"lane\"")]
        resource: Resource,
        event: Box<EventEnvelope>,
        // How the event changed a ticket on the board, for the alert policy (which judges a
        // change by the ticket before it). Not for the UI: it asks for views of the board.
        #[serde(skip)]
        #[ts(skip)]
        change: Option<Box<TicketChange>>,
    },
    /// The board changed (events, snapshot reloads, optimistic moves). To the UI it says only
    /// that: ask for the view again (`board_view`); in-process consumers (tests, the CLI) also
    /// get what changed.
    Board {
        // The changes, never empty. Not sent to the UI (it does not hold the board), so not a
        // doc comment either: ts-rs would copy it into the UI's types.
        #[serde(skip)]
        #[ts(skip)]
        deltas: Vec<BoardDelta>,
    },
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
    /// The user activated a notification about one ticket ("Open" or a click).
    #[serde(rename_all = "camelCase")]
    OpenTicket {
        #[ts(type = "number")]
        ticket_id: Id,
    },
    /// The user activated a summary notification: show the board filtered to these tickets.
    #[serde(rename_all = "camelCase")]
    OpenTickets {
        #[ts(type = "Array<number>")]
        ticket_ids: Vec<Id>,
    },
    /// An alert about the ticket open in the focused window: not notified, show it in place.
    #[serde(rename_all = "camelCase")]
    AlertInPlace {
        #[ts(type = "number")]
        ticket_id: Id,
    },
    /// The inbox changed (a new alert, read, an acknowledgement).
    Inbox {
        entries: Vec<InboxEntry>,
        #[ts(type = "number")]
        unread: usize,
    },
    /// A notification's "Acknowledge" or "Assign to me" failed (a toast for the user).
    #[serde(rename_all = "camelCase")]
    AlertActionFailed {
        #[ts(type = "Array<number>")]
        ticket_ids: Vec<Id>,
        action: NotificationAction,
        code: ErrorCode,
        message: String,
    },
    /// The company's members were (re)loaded.
    Members { members: Vec<Member> },
    /// The company's settings changed (through this desk).
    Company { company: Company },
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
    #[error(transparent)]
    Query(#[from] BoardQueryError),
    #[error("the core has stopped")]
    Stopped,
}

impl DeskError {
    pub fn code(&self) -> ErrorCode {
        match self {
            DeskError::Session(e) => e.code(),
            DeskError::Board(e) => e.code(),
            DeskError::Query(e) => e.code(),
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
    /// The local wall-clock time (quiet hours, "snooze until tomorrow").
    pub local_clock: Arc<dyn LocalClock>,
}

/// The local wall-clock time, as a seam (tests fix it).
pub trait LocalClock: Send + Sync {
    fn local_now(&self) -> NaiveDateTime;
}

/// The system's local time.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemLocalClock;

impl LocalClock for SystemLocalClock {
    fn local_now(&self) -> NaiveDateTime {
        chrono::Local::now().naive_local()
    }
}

/// A local time that advances with tokio's clock from a fixed start (tests with paused time).
#[derive(Debug, Clone)]
pub struct FixedLocalClock {
    start: NaiveDateTime,
    at: Instant,
}

impl FixedLocalClock {
    pub fn new(start: NaiveDateTime) -> Self {
        FixedLocalClock {
            start,
            at: Instant::now(),
        }
    }
}

impl LocalClock for FixedLocalClock {
    fn local_now(&self) -> NaiveDateTime {
        let elapsed = chrono::Duration::from_std(self.at.elapsed()).unwrap_or_default();
        self.start + elapsed
    }
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
            local_clock: Arc::new(SystemLocalClock),
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
            local_clock: Arc::new(SystemLocalClock),
        }
    }
}

enum PumpCommand {
    SetPreferences(AlertPreferences),
    MarkRead(Id),
    SetUser(User),
    Snooze(Id, Snooze),
    Focus(Option<Id>),
    MarkInboxRead,
    Members(Vec<Member>),
    /// An admin changed the members: load them again (no event says so).
    ReloadMembers,
    Stop,
}

/// What both the desk's methods and the pump (notification actions) call the server with.
#[derive(Clone)]
struct Ops {
    session: Arc<RwLock<Arc<Session>>>,
    board: SharedBoard,
    reporter: BoardReporter,
}

impl Ops {
    fn session(&self) -> Arc<Session> {
        self.session
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    async fn acknowledge(&self, ticket_id: Id) -> Result<Ticket, DeskError> {
        let result = self
            .session()
            .call(|api, token| async move { api.acknowledge(&token, ticket_id).await })
            .await;
        self.observe_result(result)
    }

    async fn assign_to_me(&self, ticket_id: Id) -> Result<Ticket, DeskError> {
        let session = self.session();
        let me = session.user().id;
        let known = self
            .board
            .lock()
            .server_ticket(ticket_id)
            .map(|t| t.version);
        let version = match known {
            Some(v) => v,
            None => {
                session
                    .call(|api, token| async move { api.ticket(&token, ticket_id).await })
                    .await?
                    .version
            }
        };
        let patch = &TicketPatch {
            assignee_id: Some(Some(me)),
            ..TicketPatch::default()
        };
        let result = session
            .call(|api, token| async move {
                api.patch_ticket(&token, ticket_id, Some(version), patch)
                    .await
            })
            .await;
        self.observe_result(result)
    }

    /// Members from `GET /api/members`; on a protocol-1 server (no such route) the admin-only
    /// user list, or none.
    async fn members(&self) -> Result<Vec<Member>, DeskError> {
        let session = self.session();
        let members = session
            .call(|api, token| async move { api.members(&token).await })
            .await;
        match members {
            Ok(members) => Ok(members),
            Err(e) if is_missing_route(&e) => {
                tracing::info!("the server has no member list (protocol 1): using what it offers");
                let users = session
                    .call(|api, token| async move { api.users(&token).await })
                    .await;
                Ok(users
                    .map(|users| {
                        users
                            .into_iter()
                            .map(|u| Member {
                                id: u.id,
                                name: u.name,
                                role: u.role,
                                active: u.active,
                            })
                            .collect()
                    })
                    .unwrap_or_default())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A successful write's ticket updates the board at once (by version, so the event that
    /// follows is a no-op); a conflict's current ticket too.
    fn observe_result(&self, result: Result<Ticket, SessionError>) -> Result<Ticket, DeskError> {
        let mut board = self.board.lock();
        match result {
            Ok(ticket) => {
                let deltas = board.observe_ticket(&ticket);
                self.reporter.deltas(deltas);
                Ok(ticket)
            }
            Err(e) => {
                let error = DeskError::from(e);
                if let Some(current) = error.current_ticket() {
                    let deltas = board.observe_ticket(current);
                    self.reporter.deltas(deltas);
                }
                Err(error)
            }
        }
    }
}

/// Whether a call failed because the server has no such route (an older protocol).
fn is_missing_route(error: &SessionError) -> bool {
    match error {
        SessionError::Api(ApiError::Server { status, .. }) => *status == 404 || *status == 405,
        SessionError::Api(ApiError::Protocol(message)) => message.contains("HTTP 404"),
        _ => false,
    }
}

/// The running core. Dropping it without [`Desk::shutdown`] stops its tasks too.
///
/// It is shared (`Arc<Desk>`) by whoever makes calls on it, and any holder can stop it:
/// [`Desk::shutdown`] takes what it stops out of the desk, so it never waits for the other
/// holders (a command still running finishes against a stopped core and fails or is ignored).
pub struct Desk {
    ops: Ops,
    control: ConnectionControl,
    /// The tasks, until the first shutdown takes them.
    tasks: Mutex<Option<DeskTasks>>,
    board: SharedBoard,
    reporter: BoardReporter,
    pump: mpsc::UnboundedSender<PumpCommand>,
    preferences: watch::Receiver<AlertPreferences>,
    urgent: watch::Receiver<usize>,
    inbox: watch::Receiver<Vec<InboxEntry>>,
    members: watch::Receiver<Vec<Member>>,
    company: watch::Sender<Company>,
    /// Weak: the event stream ends when the pump does, not when the desk is dropped.
    out: mpsc::WeakSender<DeskEvent>,
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
        let (inbox_tx, inbox) = watch::channel(Vec::new());
        let (members_tx, members) = watch::channel(Vec::new());
        let (company, _) = watch::channel(session.company());
        let policy =
            AlertPolicy::new(session.user(), options.preferences).with_window(options.alert_window);
        let wakes = crate::wake::wake_stream(options.wake_sources, options.wake_debounce);
        let ops = Ops {
            session: Arc::new(RwLock::new(session)),
            board: board.clone(),
            reporter: reporter.clone(),
        };
        let pump_task = tokio::spawn(
            Pump {
                policy,
                notifier: options.notifier,
                out: out.clone(),
                prefs: prefs_tx,
                urgent: urgent_tx,
                inbox: inbox_tx,
                members: members_tx,
                started: Instant::now(),
                local_clock: options.local_clock,
                reconnect: connection.reconnect_handle(),
                ops: ops.clone(),
                commands: pump.clone(),
                members_asked: HashSet::new(),
                members_loading: false,
                window: options.alert_window,
            }
            .run(board_events, commands, options.notifier_events, wakes),
        );
        let desk = Desk {
            ops,
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
            inbox,
            members,
            company,
            out: out.downgrade(),
        };
        (desk, events)
    }

    pub fn session(&self) -> Arc<Session> {
        self.ops.session()
    }

    pub fn user(&self) -> User {
        self.session().user()
    }

    pub fn state(&self) -> watch::Receiver<ConnectionState> {
        self.control.state()
    }

    /// The whole board as shown (pending moves applied), e.g. for the CLI; the desktop UI asks
    /// for a view of it instead ([`Desk::board_view`]).
    pub fn board(&self) -> deskbell_protocol::Board {
        self.board.snapshot()
    }

    /// What the UI renders of the board for `query` (see [`crate::board_view`]), "mine" being
    /// the signed-in member's tickets.
    pub fn board_view(&self, query: &BoardQuery) -> Result<BoardView, DeskError> {
        let me = self.user().id;
        let board = self.board.lock();
        Ok(crate::board_view::board_view(&board, me, query)?)
    }

    /// The quick switcher: tickets whose number or title matches `text`, best first, at most
    /// `limit` (see [`crate::board_view::find_tickets`]).
    pub fn find_tickets(&self, text: &str, limit: u32) -> Result<Vec<Ticket>, DeskError> {
        let board = self.board.lock();
        Ok(crate::board_view::find_tickets(&board, text, limit)?)
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
        self.company.send_replace(session.company());
        *self.ops.session.write().unwrap_or_else(|e| e.into_inner()) = session.clone();
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

    /// Recent alerts, at most [`crate::alerts::Inbox::MAX`]: unacknowledged urgent ones first,
    /// then newest first.
    pub fn inbox(&self) -> Vec<InboxEntry> {
        self.inbox.borrow().clone()
    }

    /// Marks every inbox entry read (a [`DeskEvent::Inbox`] follows).
    pub fn mark_inbox_read(&self) {
        let _ = self.pump.send(PumpCommand::MarkInboxRead);
    }

    /// "I am on it": acknowledges an urgent ticket for everyone (their notifications are
    /// withdrawn when the `acknowledge` event reaches them).
    pub async fn acknowledge(&self, ticket_id: Id) -> Result<Ticket, DeskError> {
        self.ops.acknowledge(ticket_id).await
    }

    /// Assigns the ticket to the signed-in user (with the version the board has, so a change
    /// made meanwhile answers `conflict`). Taking an unacknowledged urgent ticket acknowledges it.
    pub async fn assign_to_me(&self, ticket_id: Id) -> Result<Ticket, DeskError> {
        self.ops.assign_to_me(ticket_id).await
    }

    /// No alert nor reminder for this ticket until the snooze ends (it still counts in the
    /// tray and goes to the inbox); its notification is withdrawn.
    pub fn snooze(&self, ticket_id: Id, snooze: Snooze) {
        let _ = self.pump.send(PumpCommand::Snooze(ticket_id, snooze));
    }

    /// The ticket open in the focused window (`None`: no window focused, or no ticket open):
    /// it is never notified; its alerts come as [`DeskEvent::AlertInPlace`].
    pub fn set_focused_ticket(&self, ticket_id: Option<Id>) {
        let _ = self.pump.send(PumpCommand::Focus(ticket_id));
    }

    /// The company's members as last loaded (empty until the first sync).
    pub fn members(&self) -> Vec<Member> {
        self.members.borrow().clone()
    }

    /// The company as the session (or the last update) has it.
    pub fn company(&self) -> Company {
        self.company.borrow().clone()
    }

    /// Changes the company's settings (admins); a [`DeskEvent::Company`] follows.
    pub async fn update_company(&self, patch: CompanyPatch) -> Result<Company, DeskError> {
        let patch = &patch;
        let company = self
            .session()
            .call(|api, token| async move { api.update_company(&token, patch).await })
            .await?;
        self.company.send_replace(company.clone());
        if let Some(out) = self.out.upgrade() {
            let _ = out
                .send(DeskEvent::Company {
                    company: company.clone(),
                })
                .await;
        }
        Ok(company)
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

    /// A comment by me, or (`from_requester`) the requester's message that I record.
    pub async fn add_comment(
        &self,
        ticket_id: Id,
        comment: NewComment,
    ) -> Result<Comment, DeskError> {
        let comment = &comment;
        Ok(self
            .session()
            .call(|api, token| async move { api.add_comment(&token, ticket_id, comment).await })
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

    // Administration (admins; the server refuses others with `forbidden`). Lane changes reach
    // every member's board as lane events; member changes have no event, so the desk reloads
    // its member directory after each.

    pub async fn create_lane(&self, new: NewLane) -> Result<Lane, DeskError> {
        let new = &new;
        Ok(self
            .session()
            .call(|api, token| async move { api.create_lane(&token, new).await })
            .await?)
    }

    pub async fn update_lane(&self, lane_id: Id, patch: LanePatch) -> Result<Lane, DeskError> {
        let patch = &patch;
        Ok(self
            .session()
            .call(|api, token| async move { api.update_lane(&token, lane_id, patch).await })
            .await?)
    }

    /// Deletes a lane; its tickets go to "No lane".
    pub async fn delete_lane(&self, lane_id: Id) -> Result<(), DeskError> {
        Ok(self
            .session()
            .call(|api, token| async move { api.delete_lane(&token, lane_id).await })
            .await?)
    }

    pub async fn create_user(&self, new: NewUser) -> Result<User, DeskError> {
        let new = &new;
        let user = self
            .session()
            .call(|api, token| async move { api.create_user(&token, new).await })
            .await?;
        let _ = self.pump.send(PumpCommand::ReloadMembers);
        Ok(user)
    }

    /// Renames, changes the role, deactivates / reactivates or resets the password of a member.
    pub async fn update_user(&self, user_id: Id, patch: UserPatch) -> Result<User, DeskError> {
        let patch = &patch;
        let user = self
            .session()
            .call(|api, token| async move { api.update_user(&token, user_id, patch).await })
            .await?;
        let _ = self.pump.send(PumpCommand::ReloadMembers);
        Ok(user)
    }

    fn observe_result(&self, result: Result<Ticket, SessionError>) -> Result<Ticket, DeskError> {
        self.ops.observe_result(result)
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
    inbox: watch::Sender<Vec<InboxEntry>>,
    members: watch::Sender<Vec<Member>>,
    started: Instant,
    local_clock: Arc<dyn LocalClock>,
    reconnect: crate::connection::ReconnectHandle,
    ops: Ops,
    /// The pump's own command queue (members loaded in the background come back on it).
    commands: mpsc::UnboundedSender<PumpCommand>,
    /// Unknown users a members reload was already asked for (each is asked for once).
    members_asked: HashSet<Id>,
    members_loading: bool,
    window: Duration,
}

/// Events the pump takes from its queue at most before it delivers the alerts they raised.
const BURST: usize = 256;

impl Pump {
    /// The policy's time; also tells it the local wall-clock time that goes with it.
    fn now(&mut self) -> Duration {
        let now = self.started.elapsed();
        self.policy
            .set_local_time(now, self.local_clock.local_now());
        now
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
                    Some(event) => {
                        self.on_board(event).await;
                        // What arrived together (a replay, a burst) is judged together, so
                        // that its alerts coalesce into one notification delivered at once.
                        for _ in 0..BURST {
                            let Ok(event) = board.try_recv() else { break };
                            self.on_board(event).await;
                        }
                    }
                    None => break,
                },
                Some(command) = commands.recv() => {
                    if matches!(command, PumpCommand::Stop) {
                        while let Ok(event) = board.try_recv() {
                            self.on_board(event).await;
                        }
                        break;
                    }
                    self.on_command(command).await;
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
        let now = self.now();
        let alerts = self.policy.flush(now);
        self.show(alerts).await;
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

    /// Reports what the policy decided besides the alerts to show: withdrawals, held-back and
    /// in-place alerts, the inbox and the urgent count.
    async fn after_policy_change(&mut self) {
        let withdrawn = self.policy.take_withdrawals();
        if let Some(notifier) = &self.notifier {
            for ticket_id in withdrawn {
                notifier.withdraw(ticket_id);
            }
        }
        for alert in self.policy.take_muted() {
            self.send(DeskEvent::Alert {
                alert,
                shown: false,
            })
            .await;
        }
        for alert in self.policy.take_in_place() {
            if let Some(ticket_id) = alert.ticket_id() {
                self.send(DeskEvent::AlertInPlace { ticket_id }).await;
            }
            self.send(DeskEvent::Alert {
                alert,
                shown: false,
            })
            .await;
        }
        if self.policy.take_inbox_changed() {
            let entries = self.policy.inbox();
            self.inbox.send_replace(entries.clone());
            self.send(DeskEvent::Inbox {
                entries,
                unread: self.policy.inbox_unread(),
            })
            .await;
        }
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
                change,
            } => {
                let now = self.now();
                match change {
                    Some(change) => {
                        self.policy
                            .observe(*resource, data, change.before.as_ref(), now);
                        if change.after.is_none() {
                            if let Some(id) = data.ticket_ref() {
                                self.policy.forget(id);
                            }
                        }
                    }
                    // An escalation changes no version, so the board applies nothing: judged
                    // all the same.
                    None if data.action == EventAction::Escalate => {
                        self.policy.observe(*resource, data, None, now);
                    }
                    None => {}
                }
                if *resource == Resource::Lane {
                    self.refresh_lanes();
                }
                let unknown: Vec<Id> = [
                    Some(data.user_id),
                    data.ticket.as_ref().and_then(|t| t.urgent_by),
                ]
                .into_iter()
                .flatten()
                .filter(|&u| !self.policy.knows_user(u))
                .collect();
                if unknown.into_iter().any(|u| self.members_asked.insert(u)) {
                    self.load_members();
                }
            }
            DeskEvent::Synced { .. } => {
                self.refresh_lanes();
                let now = self.now();
                let board = self.ops.board.lock();
                self.policy.reconcile(board.server_tickets(), now);
                drop(board);
                self.load_members();
            }
            DeskEvent::State {
                state: ConnectionState::NeedsLogin { .. },
            } => self.policy.suspend(),
            DeskEvent::User { user } => self.set_user(user.clone()),
            _ => {}
        }
        let judged = matches!(
            event,
            DeskEvent::Event { .. }
                | DeskEvent::Synced { .. }
                | DeskEvent::State {
                    state: ConnectionState::NeedsLogin { .. }
                }
        );
        self.send(event).await;
        if judged {
            self.after_policy_change().await;
        }
    }

    fn refresh_lanes(&mut self) {
        let lanes = self.ops.board.lock().lanes();
        self.policy.set_lanes(&lanes);
    }

    /// Loads the members in the background (one load at a time); they come back as a command.
    fn load_members(&mut self) {
        if self.members_loading {
            return;
        }
        self.members_loading = true;
        let ops = self.ops.clone();
        let back = self.commands.clone();
        tokio::spawn(async move {
            match ops.members().await {
                Ok(members) => {
                    let _ = back.send(PumpCommand::Members(members));
                }
                Err(e) => {
                    tracing::warn!(code = %e.code(), error = %e, "could not load the members");
                    let _ = back.send(PumpCommand::Members(Vec::new()));
                }
            }
        });
    }

    async fn on_command(&mut self, command: PumpCommand) {
        let now = self.now();
        match command {
            PumpCommand::SetPreferences(prefs) => {
                self.policy.set_preferences(prefs.clone());
                let _ = self.prefs.send(prefs);
            }
            PumpCommand::MarkRead(id) => self.policy.mark_read(id),
            PumpCommand::Stop => {}
            PumpCommand::SetUser(user) => self.set_user(user),
            PumpCommand::Snooze(id, snooze) => self.policy.snooze(id, snooze, now),
            PumpCommand::Focus(id) => self.policy.set_focused(id),
            PumpCommand::MarkInboxRead => self.policy.mark_inbox_read(),
            PumpCommand::ReloadMembers => self.load_members(),
            PumpCommand::Members(members) => {
                self.members_loading = false;
                // An empty answer after a failure keeps what was known.
                if !members.is_empty() || self.members.borrow().is_empty() {
                    self.policy.set_members(&members);
                    self.members.send_replace(members.clone());
                    self.send(DeskEvent::Members { members }).await;
                }
            }
        }
        self.after_policy_change().await;
    }

    /// A new sign-in, or the same user changed: alerts follow who is signed in.
    fn set_user(&mut self, user: User) {
        if user.id != self.policy.me().id {
            let prefs = self.policy.preferences().clone();
            let members = self.members.borrow().clone();
            self.policy = AlertPolicy::new(user, prefs).with_window(self.window);
            self.policy.set_members(&members);
            self.refresh_lanes();
        }
    }

    async fn on_notifier(&mut self, event: NotifierEvent) {
        match event {
            NotifierEvent::Action {
                ticket_ids,
                action: NotificationAction::Open,
            } => {
                for &id in &ticket_ids {
                    self.policy.mark_read(id);
                }
                match ticket_ids.as_slice() {
                    [] => {}
                    [ticket_id] => {
                        self.send(DeskEvent::OpenTicket {
                            ticket_id: *ticket_id,
                        })
                        .await
                    }
                    _ => self.send(DeskEvent::OpenTickets { ticket_ids }).await,
                }
                self.after_policy_change().await;
            }
            NotifierEvent::Action { ticket_ids, action } => {
                // Off the pump: the call may take a while; its result reaches the board (and
                // the alert policy) as usual, a failure is reported.
                let ops = self.ops.clone();
                let out = self.out.clone();
                tokio::spawn(async move {
                    for &ticket_id in &ticket_ids {
                        let result = match action {
                            NotificationAction::Acknowledge => ops.acknowledge(ticket_id).await,
                            _ => ops.assign_to_me(ticket_id).await,
                        };
                        if let Err(e) = result {
                            tracing::warn!(ticket_id, ?action, code = %e.code(), error = %e,
                                "a notification action failed");
                            let _ = out
                                .send(DeskEvent::AlertActionFailed {
                                    ticket_ids: vec![ticket_id],
                                    action,
                                    code: e.code(),
                                    message: e.to_string(),
                                })
                                .await;
                        }
                    }
                });
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

    async fn show(&mut self, alerts: Vec<Alert>) {
        for alert in alerts {
            let shown = match self.notifier.clone().map(|n| n.notify(&alert)) {
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
