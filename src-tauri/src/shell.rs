//! The shell's state and its flows: signing in and out, the embedded demo, the silent resume at
//! start, forwarding the core's events to the UI and the tray (the inbox, "open these tickets"
//! and alerts in place on their own channels; only the data events the UI uses, and board
//! changes as a bare signal to ask for the view again), telling the core which ticket the user looks at
//! (the drawer's, while the window has the focus), and quitting cleanly. No
//! business logic: the session lifecycle's decisions (whether a sign-in resumes, when a session
//! ended, how a core stops) are `deskbell_client::lifecycle` and the `Desk`'s; this module maps
//! them to windows, the tray and UI events.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use deskbell_client::app::{CommandError, SessionInfo, Settings, WindowSkeleton};
use deskbell_client::backoff::BackoffPolicy;
use deskbell_client::desk::{Desk, DeskEvent, DeskOptions};
use deskbell_client::error::ClientErrorCode;
use deskbell_client::lifecycle::{
    self, DeskLease, Origin, SharedDesk, SignIn, SignedOutTracker, Stop,
};
use deskbell_client::session::Session;
use deskbell_client::token_store::{default_store, MemoryStore, StoreChoice, TokenStore};
use deskbell_client::{Api, ApiError};
use deskbell_protocol::{Id, Resource};
use tauri::async_runtime::JoinHandle;
use tauri::{AppHandle, Manager};
use tokio::sync::{mpsc, Mutex, OnceCell};

use crate::contract;
use crate::tray::Tray;

/// At most this many core events are gathered before they go into the UI's mailbox
/// (`mailbox.rs`), so that the UI can start on a burst (a replay after a reconnect) while the
/// rest of it comes.
const MAX_BATCH: usize = 256;

/// Where the shell keeps its files.
#[derive(Debug, Clone)]
pub struct Dirs {
    /// settings.json, the window state.
    pub config: PathBuf,
    /// The embedded demo server's data (`demo/`).
    pub data: PathBuf,
}

impl Dirs {
    /// `DESKBELL_CONFIG_DIR` / `DESKBELL_DATA_DIR`, else the platform's app dirs.
    pub fn resolve(app: &AppHandle) -> Dirs {
        let pick = |var: &str, default: tauri::Result<PathBuf>| {
            std::env::var_os(var)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .or_else(|| default.ok())
                .unwrap_or_else(|| PathBuf::from("."))
        };
        Dirs {
            config: pick("DESKBELL_CONFIG_DIR", app.path().app_config_dir()),
            data: pick("DESKBELL_DATA_DIR", app.path().app_data_dir()),
        }
    }
}

/// A signed-in session and what runs for it.
struct Running {
    desk: SharedDesk,
    info: SessionInfo,
    origin: Origin,
    forwarder: JoinHandle<()>,
    demo: Option<deskbell_server::Server>,
}

pub struct AppState {
    pub dirs: Dirs,
    settings: std::sync::Mutex<Settings>,
    running: Mutex<Option<Running>>,
    /// Serializes sign-in, demo, sign-out and quit.
    transition: Mutex<()>,
    store: OnceCell<StoreChoice>,
    /// Set when the user signs in, starts the demo or quits: the silent resume gives up.
    resume_cancelled: AtomicBool,
    quitting: AtomicBool,
    tray: OnceLock<Option<Tray>>,
    /// What the UI's drawer shows and whether the main window has the focus: together, the
    /// ticket the user is looking at (see [`set_open_ticket`]).
    focus: std::sync::Mutex<Focus>,
    /// The core's events until the UI takes them (`mailbox.rs`).
    pub desk_events: crate::mailbox::Mailbox<DeskEvent>,
    /// The window waits for the UI's first view before it is shown (never blank).
    show_when_ready: AtomicBool,
}

/// The ticket in the open drawer and the main window's focus.
#[derive(Debug, Clone, Copy, Default)]
struct Focus {
    open_ticket: Option<Id>,
    window_focused: bool,
}

impl Focus {
    /// The ticket the user is looking at: the drawer's, while the window has the focus (a
    /// hidden or unfocused window shows nobody anything, so alerts notify as usual).
    fn focused_ticket(self) -> Option<Id> {
        self.open_ticket.filter(|_| self.window_focused)
    }
}

fn not_signed_in() -> CommandError {
    CommandError::from(ApiError::NotSignedIn)
}

impl AppState {
    pub fn new(dirs: Dirs) -> AppState {
        let settings = crate::settings_file::load(&dirs.config);
        AppState {
            dirs,
            settings: std::sync::Mutex::new(settings),
            running: Mutex::new(None),
            transition: Mutex::new(()),
            store: OnceCell::new(),
            resume_cancelled: AtomicBool::new(false),
            quitting: AtomicBool::new(false),
            tray: OnceLock::new(),
            focus: std::sync::Mutex::new(Focus::default()),
            desk_events: crate::mailbox::Mailbox::default(),
            show_when_ready: AtomicBool::new(false),
        }
    }

    pub fn settings(&self) -> Settings {
        self.settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Saves the settings and keeps them as current.
    // CommandError is the UI contract's type (crates/client); its size is not ours to change.
    #[allow(clippy::result_large_err)]
    pub fn save_settings(&self, settings: Settings) -> Result<Settings, CommandError> {
        let mut current = self.settings.lock().unwrap_or_else(|e| e.into_inner());
        crate::settings_file::save(&settings, &self.dirs.config)
            .map_err(|e| CommandError::new(ClientErrorCode::SettingsNotSaved, e.to_string()))?;
        *current = settings.clone();
        Ok(settings)
    }

    /// The window closed to the tray: the first time, a notification says Deskbell keeps
    /// running there (the settings remember it was said).
    pub fn explain_close_to_tray(&self) {
        let mut notice = None;
        if let Err(e) = self.update_settings(|s| notice = s.take_close_to_tray_notice()) {
            tracing::warn!(error = %e.message, "cannot remember the close-to-tray notice");
        }
        if let Some((summary, body)) = notice {
            std::thread::spawn(move || {
                if let Err(e) = deskbell_client::alerts::show_notice(summary, body) {
                    tracing::info!(error = %e, "the close-to-tray notice was not shown");
                }
            });
        }
    }

    #[allow(clippy::result_large_err)]
    fn update_settings(
        &self,
        change: impl FnOnce(&mut Settings),
    ) -> Result<Settings, CommandError> {
        let mut next = self.settings();
        change(&mut next);
        self.save_settings(next)
    }

    pub fn set_tray(&self, tray: Option<Tray>) {
        let _ = self.tray.set(tray);
    }

    pub fn tray(&self) -> Option<&Tray> {
        self.tray.get().and_then(Option::as_ref)
    }

    pub fn has_tray(&self) -> bool {
        self.tray().is_some()
    }

    fn focused_ticket(&self) -> Option<Id> {
        self.focus
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .focused_ticket()
    }

    /// Changes the focus; answers whether the focused ticket changed.
    fn change_focus(&self, change: impl FnOnce(&mut Focus)) -> bool {
        let mut focus = self.focus.lock().unwrap_or_else(|e| e.into_inner());
        let before = focus.focused_ticket();
        change(&mut focus);
        focus.focused_ticket() != before
    }

    pub fn is_quitting(&self) -> bool {
        self.quitting.load(Ordering::SeqCst)
    }

    /// The running core, for a command (the lock is not held during the call; a sign-out or
    /// quit waits for the lease, see `deskbell_client::lifecycle`).
    pub async fn desk(&self) -> Result<DeskLease, CommandError> {
        let desk = self
            .running
            .lock()
            .await
            .as_ref()
            .map(|r| r.desk.clone())
            .ok_or_else(not_signed_in)?;
        Ok(desk.lease().await)
    }

    pub async fn try_desk(&self) -> Option<DeskLease> {
        self.desk().await.ok()
    }

    /// The session as the UI sees it: none while the core needs a new sign-in. The user is
    /// the core's (an admin may have changed their role since the sign-in).
    pub async fn session_info(&self) -> Option<SessionInfo> {
        let running = self.running.lock().await;
        let running = running.as_ref()?;
        let signed_out = lifecycle::is_signed_out(&running.desk.state().borrow());
        (!signed_out).then(|| SessionInfo {
            user: running.desk.user(),
            ..running.info.clone()
        })
    }

    /// The keychain (or whatever this machine has), chosen once; probing it may block.
    async fn store(&self) -> &StoreChoice {
        self.store
            .get_or_init(|| async {
                match tokio::task::spawn_blocking(default_store).await {
                    Ok(choice) => {
                        if let Some(warning) = &choice.warning {
                            tracing::warn!("{warning}");
                        }
                        choice
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "probing the token store failed; memory only");
                        StoreChoice {
                            store: Arc::new(MemoryStore::new()),
                            warning: Some(
                                deskbell_client::token_store::NO_SECURE_STORE_WARNING.to_string(),
                            ),
                        }
                    }
                }
            })
            .await
    }
}

/// How long the window waits for the UI's first view before it is shown anyway.
const UI_READY_PATIENCE: Duration = Duration::from_secs(4);

/// At start: the window is shown once the UI has mounted its first view ([`window_ready`]), so
/// that it is never a blank rectangle while WebKit starts (a few seconds); after
/// [`UI_READY_PATIENCE`] it is shown anyway.
pub fn show_main_window_when_ready(app: &AppHandle) {
    app.state::<AppState>()
        .show_when_ready
        .store(true, Ordering::SeqCst);
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(UI_READY_PATIENCE).await;
        if app
            .state::<AppState>()
            .show_when_ready
            .swap(false, Ordering::SeqCst)
        {
            tracing::warn!("the UI was not ready in time: showing the window anyway");
            show_main_window(&app);
        }
    });
}

/// The UI mounted its first view: show the window if it waits for that.
/// The UI's first view is in the page: the window is shown (once), with `skeleton` drawn until
/// the page paints (`skeleton.rs`).
pub fn window_ready(
    app: &AppHandle,
    skeleton: Option<&WindowSkeleton>,
) -> Result<(), crate::skeleton::SkeletonError> {
    if !app
        .state::<AppState>()
        .show_when_ready
        .swap(false, Ordering::SeqCst)
    {
        return Ok(());
    }
    let drawn = match (skeleton, app.get_webview_window("main")) {
        (Some(skeleton), Some(window)) => crate::skeleton::draw(&window, skeleton),
        _ => Ok(()),
    };
    // Shown whatever the skeleton: a refused one only means grey first frames.
    show_main_window(app);
    drawn
}

/// The page painted over the skeleton: it goes.
pub fn window_painted(app: &AppHandle) {
    if let Some(window) = app.get_webview_window("main") {
        crate::skeleton::clear(&window);
    }
}

pub fn show_main_window(app: &AppHandle) {
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
    }
}

fn session_info(server: &str, session: &Session, store: &StoreChoice, demo: bool) -> SessionInfo {
    SessionInfo {
        server: server.to_string(),
        user: session.user(),
        company: session.company(),
        store: store.kind().to_string(),
        store_warning: store.warning.clone(),
        demo,
    }
}

/// The main window was closed and Deskbell keeps running in the tray.
pub fn closed_to_tray(app: &AppHandle) {
    app.state::<AppState>().explain_close_to_tray();
}

/// Runs a new session: the core, and the task forwarding its events. Replaces (and stops) the
/// current one, unless that one only waits for this account to sign in again: then it resumes
/// with the board it has.
async fn install(
    app: &AppHandle,
    session: Session,
    info: SessionInfo,
    demo: Option<deskbell_server::Server>,
) {
    let state = app.state::<AppState>();
    let origin = if demo.is_some() {
        Origin::Demo
    } else {
        Origin::Server
    };
    let mut slot = state.running.lock().await;
    if let Some(running) = slot.as_mut() {
        if lifecycle::sign_in(&running.desk, running.origin, &session, origin) == SignIn::Resume {
            tracing::info!("signed in again: resuming the connection");
            running.desk.resume(session);
            running.info = info.clone();
            if let Some(tray) = state.tray() {
                let desk = &running.desk;
                tray.set_session(
                    Some(desk.state().borrow().clone()),
                    false,
                    desk.urgent_count(),
                );
            }
            drop(slot);
            contract::SESSION.emit(app, &Some(info));
            return;
        }
    }
    if let Some(old) = slot.take() {
        let _ = stop(old, false).await;
    }
    let mut options = DeskOptions::desktop();
    options.preferences = state.settings().alerts;
    let (desk, events) = Desk::start(session, options);
    desk.set_focused_ticket(state.focused_ticket());
    let desk = SharedDesk::new(desk);
    let forwarder = tauri::async_runtime::spawn(forward(app.clone(), desk.downgrade(), events));
    if let Some(tray) = state.tray() {
        tray.set_session(Some(desk.state().borrow().clone()), demo.is_some(), 0);
    }
    tracing::info!(
        user = %info.user.email,
        company = %info.company.name,
        store = %info.store,
        demo = info.demo,
        "signed in"
    );
    *slot = Some(Running {
        desk,
        info: info.clone(),
        origin,
        forwarder,
        demo,
    });
    drop(slot);
    contract::SESSION.emit(app, &Some(info));
}

/// How long a sign-out or quit waits for the commands still running on the core (each is
/// bounded by the core's own timeouts) before stopping it under them.
const COMMANDS_PATIENCE: Duration = Duration::from_secs(15);

/// Stops a session: the core (signing out on the server when `logout`), then its event
/// forwarding (everything it reported is still delivered), then the demo server.
async fn stop(running: Running, logout: bool) -> Result<(), CommandError> {
    let Running {
        desk,
        forwarder,
        demo,
        ..
    } = running;
    let how = if logout { Stop::Logout } else { Stop::Shutdown };
    let result = desk
        .stop(how, COMMANDS_PATIENCE)
        .await
        .map_err(CommandError::from);
    match tokio::time::timeout(Duration::from_secs(5), forwarder).await {
        Ok(_) => {}
        Err(_) => tracing::warn!("event forwarding did not end in 5 s"),
    }
    if let Some(server) = demo {
        server.shutdown().await;
    }
    result
}

/// Forwards the core's events to the UI (in batches of what is already waiting; those it has no
/// use for left out, see [`for_the_ui`]), keeps the tray current, and opens tickets from
/// notifications.
async fn forward(app: AppHandle, desk: Weak<Desk>, mut events: mpsc::Receiver<DeskEvent>) {
    let mut session_end = SignedOutTracker::new();
    let mut batch: Vec<DeskEvent> = Vec::new();
    while let Some(first) = events.recv().await {
        let mut next = Some(first);
        while let Some(event) = next.take() {
            let state = app.state::<AppState>();
            match &event {
                DeskEvent::State { state: connection } => {
                    tracing::info!(state = ?connection, "connection");
                    if session_end.ends_session(connection) {
                        tracing::info!("the session ended: sign in again");
                        // Before the state event, so that the UI keeps the reason it carries.
                        send_batch(&app, &mut batch);
                        contract::SESSION.emit(&app, &None);
                    }
                    if let Some(tray) = state.tray() {
                        tray.set_state(connection.clone());
                    }
                }
                DeskEvent::UrgentCount { count } => {
                    if let Some(tray) = state.tray() {
                        tray.set_urgent(*count);
                    }
                }
                _ => {}
            }
            // These have their own channels (the UI acts on them, it does not apply them): sent
            // after what the batch holds so far, which the UI handles first (`mailbox.rs`).
            match event {
                DeskEvent::Inbox { entries, .. } => {
                    send_batch(&app, &mut batch);
                    contract::INBOX.emit(&app, &entries);
                }
                DeskEvent::OpenTickets { ticket_ids } => {
                    send_batch(&app, &mut batch);
                    show_main_window(&app);
                    contract::OPEN_TICKETS.emit(&app, &ticket_ids);
                }
                DeskEvent::AlertInPlace { ticket_id } => {
                    send_batch(&app, &mut batch);
                    contract::ALERT_IN_PLACE.emit(&app, &ticket_id);
                }
                event => forward_in_batch(&app, &desk, &mut batch, event),
            }
            if batch.len() < MAX_BATCH {
                next = events.try_recv().ok();
            }
        }
        send_batch(&app, &mut batch);
    }
}

/// Adds an event to the UI's batch, unless the UI has no use for it; "Open ticket" also shows
/// the window on it.
fn forward_in_batch(
    app: &AppHandle,
    desk: &Weak<Desk>,
    batch: &mut Vec<DeskEvent>,
    event: DeskEvent,
) {
    if !for_the_ui(batch, &event) {
        return;
    }
    let open = match &event {
        DeskEvent::OpenTicket { ticket_id } => Some(*ticket_id),
        _ => None,
    };
    batch.push(event);
    if let Some(ticket_id) = open {
        send_batch(app, batch);
        show_main_window(app);
        contract::OPEN_TICKET.emit(app, &ticket_id);
        if let Some(desk) = desk.upgrade() {
            desk.mark_read(ticket_id);
        }
    }
}

/// Whether the UI needs `event` after what `batch` holds. The UI does not hold the board: it
/// asks the core for a view when told it changed. So a data event goes only when it is about
/// comments or attachments (the open drawer lists them; a ticket or lane event's full ticket
/// and lane are for nothing), and a `board` signal only when the batch does not already end
/// with one (one is as good as two in a row: the UI asks for the view once).
fn for_the_ui(batch: &[DeskEvent], event: &DeskEvent) -> bool {
    match event {
        DeskEvent::Event { resource, .. } => {
            matches!(resource, Resource::Comment | Resource::Attachment)
        }
        DeskEvent::Board { .. } => !matches!(batch.last(), Some(DeskEvent::Board { .. })),
        _ => true,
    }
}

/// Puts the batch in the UI's mailbox, and tells the UI when it has something to take.
fn send_batch(app: &AppHandle, batch: &mut Vec<DeskEvent>) {
    if !batch.is_empty() {
        if app.state::<AppState>().desk_events.put(batch.drain(..)) {
            contract::DESK_EVENTS_WAITING.emit(app, &());
        }
        // What applying and serialising the events freed goes back once it is quiet.
        app.state::<crate::heap::Trimmer>().poke();
    }
}

/// Signs in with a password; remembers the server and email for the next start.
pub async fn login(
    app: &AppHandle,
    server: String,
    email: String,
    password: String,
) -> Result<SessionInfo, CommandError> {
    let state = app.state::<AppState>();
    state.resume_cancelled.store(true, Ordering::SeqCst);
    let _one_at_a_time = state.transition.lock().await;
    // What the user typed ("desk.acme.com") becomes the address that answered as Deskbell.
    let api = Api::connect(&server).await?;
    let server = api.base_url().as_str().trim_end_matches('/').to_string();
    let store = state.store().await.clone();
    let session = Session::login(api, store.store.clone(), email.trim(), &password).await?;
    let info = session_info(&server, &session, &store, false);
    if let Err(e) = state.update_settings(|s| {
        s.last_server = Some(server.clone());
        s.last_email = Some(info.user.email.clone());
    }) {
        tracing::warn!(error = %e.message, "cannot remember the server and email");
    }
    install(app, session, info.clone(), None).await;
    Ok(info)
}

/// Starts the embedded demo server and signs in to it (session in memory only).
pub async fn start_demo(app: &AppHandle) -> Result<SessionInfo, CommandError> {
    let state = app.state::<AppState>();
    state.resume_cancelled.store(true, Ordering::SeqCst);
    let _one_at_a_time = state.transition.lock().await;
    if let Some(running) = state.running.lock().await.as_ref() {
        if running.demo.is_some() {
            return Ok(running.info.clone());
        }
    }
    let server = crate::demo::start(state.dirs.data.join("demo")).await?;
    let url = server.url();
    let store = StoreChoice {
        store: Arc::new(MemoryStore::new()) as Arc<dyn TokenStore>,
        warning: None,
    };
    let signed_in = async {
        let api = Api::new(&url)?;
        let session = Session::login(
            api,
            store.store.clone(),
            crate::demo::DEMO_EMAIL,
            crate::demo::DEMO_PASSWORD,
        )
        .await?;
        Ok::<_, CommandError>(session)
    }
    .await;
    let session = match signed_in {
        Ok(session) => session,
        Err(e) => {
            server.shutdown().await;
            return Err(e);
        }
    };
    let info = session_info(&url, &session, &store, true);
    install(app, session, info.clone(), Some(server)).await;
    Ok(info)
}

/// Signs out (on the server too) and forgets the saved session; a demo server stops.
pub async fn logout(app: &AppHandle) -> Result<(), CommandError> {
    let state = app.state::<AppState>();
    state.resume_cancelled.store(true, Ordering::SeqCst);
    let _one_at_a_time = state.transition.lock().await;
    let Some(running) = state.running.lock().await.take() else {
        return Ok(());
    };
    tracing::info!(user = %running.info.user.email, demo = running.info.demo, "signing out");
    let result = stop(running, true).await;
    if let Some(tray) = state.tray() {
        tray.set_session(None, false, 0);
    }
    contract::SESSION.emit(app, &None);
    if let Err(e) = &result {
        tracing::warn!(code = %e.code, error = %e.message, "signing out on the server failed");
    }
    result
}

/// At start: resumes the saved session from the keychain, silently. While the server cannot
/// be reached it keeps trying (with the core's backoff) until the user signs in some other way.
pub async fn resume_at_start(app: AppHandle) {
    let state = app.state::<AppState>();
    let settings = state.settings();
    let (Some(server), Some(email)) = (settings.last_server, settings.last_email) else {
        return;
    };
    let api = match Api::new(&server) {
        Ok(api) => api,
        Err(e) => {
            tracing::warn!(error = %e, "the last server's URL is not usable; sign in");
            return;
        }
    };
    let store = state.store().await.clone();
    let backoff = BackoffPolicy::default();
    let mut attempt = 0;
    loop {
        if state.resume_cancelled.load(Ordering::SeqCst) {
            return;
        }
        attempt += 1;
        match Session::resume(api.clone(), store.store.clone(), &email).await {
            Ok(session) => {
                let _one_at_a_time = state.transition.lock().await;
                if state.resume_cancelled.load(Ordering::SeqCst) {
                    return;
                }
                let info = session_info(&server, &session, &store, false);
                tracing::info!("resumed the saved session");
                install(&app, session, info, None).await;
                return;
            }
            Err(e) if e.needs_login() => {
                tracing::info!(code = %e.code(), "no usable saved session; sign in");
                return;
            }
            Err(e) => {
                let wait = backoff.delay_random(attempt);
                tracing::warn!(code = %e.code(), error = %e, ?wait, "cannot resume the saved session yet; retrying");
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// The UI's drawer shows this ticket (or none).
pub async fn set_open_ticket(app: &AppHandle, ticket_id: Option<Id>) {
    let state = app.state::<AppState>();
    if state.change_focus(|f| f.open_ticket = ticket_id) {
        apply_focus(&state).await;
    }
}

/// The main window gained or lost the focus (`WindowEvent::Focused`).
pub fn set_window_focused(app: &AppHandle, focused: bool) {
    let state = app.state::<AppState>();
    if state.change_focus(|f| f.window_focused = focused) {
        let app = app.clone();
        tauri::async_runtime::spawn(async move {
            apply_focus(&app.state::<AppState>()).await;
        });
    }
}

/// Tells the core which ticket the user is looking at (its alerts then flash in place).
async fn apply_focus(state: &AppState) {
    if let Some(desk) = state.try_desk().await {
        // The current value, not the one that triggered this call: of two quick changes applied
        // in either order, the last one applied still sets the latest state.
        desk.set_focused_ticket(state.focused_ticket());
    }
}

/// The tray's Do not disturb: saved in the settings and applied to the alerts.
pub async fn set_do_not_disturb(app: &AppHandle, on: bool) {
    let state = app.state::<AppState>();
    match state.update_settings(|s| s.alerts.do_not_disturb = on) {
        Ok(settings) => {
            if let Some(desk) = state.try_desk().await {
                desk.set_preferences(settings.alerts.clone());
            }
            contract::SETTINGS.emit(app, &settings);
        }
        Err(e) => tracing::warn!(error = %e.message, "cannot save Do not disturb"),
    }
}

/// Applies settings from the UI: alerts to the core, launch at login to the OS, the tray's
/// Do not disturb; then saves them.
pub async fn set_settings(app: &AppHandle, settings: Settings) -> Result<Settings, CommandError> {
    let state = app.state::<AppState>();
    let mut settings = settings;
    let previous = state.settings();
    // The window's copy may predate the notice (it is said while the window is closed).
    settings.close_to_tray_explained |= previous.close_to_tray_explained;
    let autostart = if settings.launch_at_login != previous.launch_at_login {
        let applied = apply_launch_at_login(app, settings.launch_at_login);
        if applied.is_err() {
            settings.launch_at_login = previous.launch_at_login;
        }
        applied
    } else {
        Ok(())
    };
    let saved = state.save_settings(settings)?;
    if let Some(desk) = state.try_desk().await {
        desk.set_preferences(saved.alerts.clone());
    }
    if let Some(tray) = state.tray() {
        tray.set_do_not_disturb(saved.alerts.do_not_disturb);
    }
    autostart.map(|()| saved)
}

/// Turns the OS's launch-at-login entry (started with `--hidden`) on or off.
#[allow(clippy::result_large_err)]
pub fn apply_launch_at_login(app: &AppHandle, on: bool) -> Result<(), CommandError> {
    use tauri_plugin_autostart::ManagerExt;
    let launcher = app.autolaunch();
    let result = if on {
        launcher.enable()
    } else {
        launcher.disable()
    };
    result.map_err(|e| {
        CommandError::new(
            ClientErrorCode::AutostartFailed,
            format!("cannot change launch at login: {e}"),
        )
    })
}

/// At start: the OS entry follows the settings (off by default).
pub fn sync_launch_at_login(app: &AppHandle) {
    use tauri_plugin_autostart::ManagerExt;
    let wanted = app.state::<AppState>().settings().launch_at_login;
    match app.autolaunch().is_enabled() {
        Ok(enabled) if enabled == wanted => {}
        Ok(_) => {
            if let Err(e) = apply_launch_at_login(app, wanted) {
                tracing::warn!(error = %e.message, "cannot sync launch at login");
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot read the launch-at-login state"),
    }
}

/// Quits for real: stops the core and the demo server, then exits. Idempotent.
pub fn quit(app: &AppHandle) {
    let state = app.state::<AppState>();
    if state.quitting.swap(true, Ordering::SeqCst) {
        return;
    }
    state.resume_cancelled.store(true, Ordering::SeqCst);
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        tracing::info!("quitting");
        let clean = async {
            let state = app.state::<AppState>();
            let _one_at_a_time = state.transition.lock().await;
            let running = state.running.lock().await.take();
            if let Some(running) = running {
                let _ = stop(running, false).await;
            }
        };
        if tokio::time::timeout(Duration::from_secs(15), clean)
            .await
            .is_err()
        {
            tracing::warn!("shutting down took more than 15 s; exiting anyway");
        }
        app.exit(0);
    });
}

/// SIGTERM / SIGINT quit cleanly too.
pub fn quit_on_signals(app: AppHandle) {
    tauri::async_runtime::spawn(async move {
        deskbell_shutdown::requested().await;
        quit(&app);
    });
}

#[cfg(test)]
mod tests {
    use super::{for_the_ui, Focus};
    use deskbell_client::desk::DeskEvent;
    use deskbell_protocol::{EventAction, EventEnvelope, Resource};

    fn data(resource: Resource) -> DeskEvent {
        let at = "2026-11-22T10:00:00Z".parse().unwrap();
        DeskEvent::Event {
            resource,
            event: Box::new(EventEnvelope::new(EventAction::Update, 5, 1, 2, at)),
            change: None,
        }
    }

    fn board() -> DeskEvent {
        DeskEvent::Board { deltas: Vec::new() }
    }

    #[test]
    fn the_ui_gets_comment_and_attachment_events_and_one_board_signal_in_a_row() {
        assert!(for_the_ui(&[], &data(Resource::Comment)));
        assert!(for_the_ui(&[], &data(Resource::Attachment)));
        assert!(!for_the_ui(&[], &data(Resource::Ticket)));
        assert!(!for_the_ui(&[], &data(Resource::Lane)));

        assert!(for_the_ui(&[], &board()));
        assert!(!for_the_ui(&[board()], &board()), "two in a row are one");
        assert!(
            for_the_ui(&[board(), data(Resource::Comment)], &board()),
            "a board signal after a comment event still goes"
        );
        let wake = DeskEvent::Wake {
            reason: "resume".into(),
        };
        assert!(for_the_ui(&[board()], &wake));
    }

    #[test]
    fn the_focused_ticket_is_the_drawers_only_while_the_window_has_the_focus() {
        let mut focus = Focus::default();
        assert_eq!(focus.focused_ticket(), None);
        focus.open_ticket = Some(7);
        assert_eq!(
            focus.focused_ticket(),
            None,
            "an unfocused window shows nothing"
        );
        focus.window_focused = true;
        assert_eq!(focus.focused_ticket(), Some(7));
        focus.open_ticket = None;
        assert_eq!(focus.focused_ticket(), None, "no drawer open");
        focus.open_ticket = Some(8);
        focus.window_focused = false;
        assert_eq!(focus.focused_ticket(), None, "the window lost the focus");
    }
}
