//! The UI's commands: each is declared once here — name, arguments, answer, body — and the
//! declaration both registers it with Tauri and generates its typed wrapper in
//! `ui/src/generated/contract.ts` (see `contract.rs`). Each one is a call into the core or the
//! shell's flows; every failure is a `CommandError` with a stable code.
//!
//! Adding a command: an entry here (and the core method it calls), then use it from the UI
//! through `ipc`; `UPDATE_TS_BINDINGS=1 cargo test -p deskbell contract` regenerates the
//! wrapper.

use deskbell_client::alerts::{InboxEntry, Snooze};
use deskbell_client::app::{CommandError, SessionInfo, Settings, WindowSkeleton};
use deskbell_client::board_view::{BoardQuery, BoardView};
use deskbell_client::connection::ConnectionState;
use deskbell_client::desk::DeskEvent;
use deskbell_client::error::ClientErrorCode;
use deskbell_protocol::{
    Attachment, Comment, Company, CompanyPatch, Id, Lane, LanePatch, Member, NewComment, NewLane,
    NewTicket, NewUser, Ticket, TicketPatch, User, UserPatch,
};
use tauri::Manager;

use crate::contract::app_commands;
use crate::shell::{self, AppState};

app_commands! {
    /// The current session, if any (also after a silent resume from the keychain at start).
    fn session_status(app) -> Option<SessionInfo> {
        Ok(app.state::<AppState>().session_info().await)
    }

    /// Signs in with a password.
    fn login(app, server: String, email: String, password: String) -> SessionInfo {
        shell::login(&app, server, email, password).await
    }

    /// Starts the embedded demo server and signs in to it as `agent1@acme.test`.
    fn start_demo(app) -> SessionInfo {
        shell::start_demo(&app).await
    }

    /// Signs out (the server ends the session; the keychain forgets it).
    fn logout(app) -> () {
        shell::logout(&app).await
    }

    /// The core's events waiting since the last take, in order (`deskbell://events-waiting`
    /// says when there are some).
    fn take_desk_events(app) -> Vec<DeskEvent> {
        Ok(app.state::<AppState>().desk_events.take())
    }

    /// What the UI renders of the board: per lane ("No lane" first) its counts and only the
    /// window of cards asked for, filtered and sorted by the core, plus the pinned tickets.
    /// Asked again whenever a `board` event says the board changed, or the query changes.
    /// Refused with `invalid_query` beyond its limits.
    fn board_view(app, query: BoardQuery) -> BoardView {
        // No heap trim: the view is a few hundred cards at most, not the 10 000-ticket store.
        Ok(app.state::<AppState>().desk().await?.board_view(&query)?)
    }

    /// The quick switcher: at most `limit` (1–100) tickets whose number or title matches
    /// `text`, best first, whatever the board's filters.
    fn find_tickets(app, text: String, limit: u32) -> Vec<Ticket> {
        Ok(app.state::<AppState>().desk().await?.find_tickets(&text, limit)?)
    }

    fn connection_state(app) -> ConnectionState {
        Ok(match app.state::<AppState>().try_desk().await {
            Some(desk) => desk.state().borrow().clone(),
            None => ConnectionState::NeedsLogin {
                reason: "not signed in".into(),
            },
        })
    }

    fn reconnect_now(app) -> () {
        app.state::<AppState>().desk().await?.reconnect_now();
        Ok(())
    }

    /// Moves a card (optimistic: a `board` event at once, then the server's answer).
    fn move_ticket(app, ticket_id: Id, lane_id: Option<Id>) -> Ticket {
        let desk = app.state::<AppState>().desk().await?;
        Ok(desk.move_ticket(ticket_id, lane_id).await?)
    }

    fn patch_ticket(
        app,
        ticket_id: Id,
        expected_version: Option<i64>,
        patch: TicketPatch,
    ) -> Ticket {
        let desk = app.state::<AppState>().desk().await?;
        Ok(desk.patch_ticket(ticket_id, expected_version, patch).await?)
    }

    fn create_ticket(app, ticket: NewTicket) -> Ticket {
        Ok(app.state::<AppState>().desk().await?.create_ticket(ticket).await?)
    }

    fn comments(app, ticket_id: Id) -> Vec<Comment> {
        Ok(app.state::<AppState>().desk().await?.comments(ticket_id).await?)
    }

    fn add_comment(app, ticket_id: Id, comment: NewComment) -> Comment {
        let desk = app.state::<AppState>().desk().await?;
        Ok(desk.add_comment(ticket_id, comment).await?)
    }

    fn attachments(app, ticket_id: Id) -> Vec<Attachment> {
        Ok(app.state::<AppState>().desk().await?.attachments(ticket_id).await?)
    }

    fn upload_attachment(
        app,
        ticket_id: Id,
        file_name: String,
        content_type: String,
        bytes: Vec<u8>,
    ) -> Attachment {
        let desk = app.state::<AppState>().desk().await?;
        Ok(desk
            .upload_attachment(ticket_id, file_name, content_type, bytes)
            .await?)
    }

    /// Downloads into the Downloads folder (never over an existing file); answers the path
    /// saved to.
    fn save_attachment(app, attachment_id: Id, file_name: String) -> String {
        let state = app.state::<AppState>();
        let bytes = state
            .desk()
            .await?
            .download_attachment(attachment_id)
            .await?;
        // The XDG Downloads folder, or ~/Downloads where none is configured.
        let dir = app
            .path()
            .download_dir()
            .or_else(|_| app.path().home_dir().map(|home| home.join("Downloads")))
            .map_err(|e| CommandError::new(ClientErrorCode::SaveFailed, format!("no Downloads folder: {e}")))?;
        let saved = {
            let dir = dir.clone();
            let name = file_name.clone();
            tauri::async_runtime::spawn_blocking(move || {
                crate::downloads::save_download(&dir, &name, &bytes)
            })
            .await
        };
        match saved {
            Ok(Ok(path)) => Ok(path.display().to_string()),
            Ok(Err(e)) => Err(CommandError::new(
                ClientErrorCode::SaveFailed,
                format!("cannot save {file_name} in {}: {e}", dir.display()),
            )),
            Err(e) => Err(CommandError::new(ClientErrorCode::SaveFailed, e.to_string())),
        }
    }

    /// The company's users with their e-mail addresses (admins; the settings' Members).
    fn users(app) -> Vec<User> {
        Ok(app.state::<AppState>().desk().await?.users().await?)
    }

    /// Opens a web or e-mail link from a ticket in the system's browser or mail program.
    fn open_link(app, url: String) -> () {
        let _ = app;
        crate::links::open(&url)
    }

    /// The UI mounted its first view (the window waits for it before it is shown); the
    /// window shows `skeleton` (that view's layout) until the page has painted.
    fn window_ready(app, skeleton: Option<WindowSkeleton>) -> () {
        shell::window_ready(&app, skeleton.as_ref())
            .map_err(|e| CommandError::new(ClientErrorCode::InvalidQuery, e.to_string()))
    }

    /// The page has painted its first frame since the window was shown: the skeleton goes.
    fn window_painted(app) -> () {
        shell::window_painted(&app);
        Ok(())
    }

    /// Adds a lane (admins); every member's board shows it from the lane event.
    fn create_lane(app, lane: NewLane) -> Lane {
        Ok(app.state::<AppState>().desk().await?.create_lane(lane).await?)
    }

    /// Renames, recolours or moves a lane (admins).
    fn update_lane(app, lane_id: Id, patch: LanePatch) -> Lane {
        Ok(app.state::<AppState>().desk().await?.update_lane(lane_id, patch).await?)
    }

    /// Deletes a lane (admins); its tickets go to "No lane".
    fn delete_lane(app, lane_id: Id) -> () {
        Ok(app.state::<AppState>().desk().await?.delete_lane(lane_id).await?)
    }

    /// Adds a member (admins).
    fn create_user(app, user: NewUser) -> User {
        Ok(app.state::<AppState>().desk().await?.create_user(user).await?)
    }

    /// Changes a member's name, role, password or whether they may sign in (admins).
    fn update_user(app, user_id: Id, patch: UserPatch) -> User {
        Ok(app.state::<AppState>().desk().await?.update_user(user_id, patch).await?)
    }

    fn settings(app) -> Settings {
        Ok(app.state::<AppState>().settings())
    }

    fn set_settings(app, settings: Settings) -> Settings {
        shell::set_settings(&app, settings).await
    }

    /// The user has seen this ticket: it leaves the urgent count.
    fn mark_read(app, ticket_id: Id) -> () {
        app.state::<AppState>().desk().await?.mark_read(ticket_id);
        Ok(())
    }

    /// Urgent tickets alerted and not yet opened (the tray's count).
    fn urgent_count(app) -> usize {
        Ok(app
            .state::<AppState>()
            .try_desk()
            .await
            .map(|desk| desk.urgent_count())
            .unwrap_or(0))
    }

    /// Acknowledges an urgent ticket: reminders stop for every member. Refused with `conflict`
    /// (and the ticket) when it is no longer urgent or is closed; idempotent otherwise.
    fn acknowledge(app, ticket_id: Id) -> Ticket {
        Ok(app.state::<AppState>().desk().await?.acknowledge(ticket_id).await?)
    }

    /// Assigns the ticket to the signed-in member (an unacknowledged urgent one is
    /// acknowledged by taking it).
    fn assign_to_me(app, ticket_id: Id) -> Ticket {
        Ok(app.state::<AppState>().desk().await?.assign_to_me(ticket_id).await?)
    }

    /// No reminders for this ticket for a while (this member only).
    fn snooze(app, ticket_id: Id, snooze: Snooze) -> () {
        app.state::<AppState>().desk().await?.snooze(ticket_id, snooze);
        Ok(())
    }

    /// The ticket the drawer shows (`null`: none). With the window's focus it decides whether an
    /// alert for that ticket flashes the drawer instead of notifying.
    fn set_open_ticket(app, ticket_id: Option<Id>) -> () {
        shell::set_open_ticket(&app, ticket_id).await;
        Ok(())
    }

    /// The alert inbox: recent alerts, unacknowledged urgent ones first, then newest first.
    fn inbox(app) -> Vec<InboxEntry> {
        Ok(app.state::<AppState>().desk().await?.inbox())
    }

    /// Everything in the inbox is read (the inbox is sent again on `deskbell://inbox`).
    fn mark_inbox_read(app) -> () {
        app.state::<AppState>().desk().await?.mark_inbox_read();
        Ok(())
    }

    /// Every member of the company, with names (for "Acknowledged by …"), as the core last
    /// loaded them (changes come as `members` events).
    fn members(app) -> Vec<Member> {
        Ok(app.state::<AppState>().desk().await?.members())
    }

    /// The company, with its settings, as the core has it.
    fn company(app) -> Company {
        Ok(app.state::<AppState>().desk().await?.company())
    }

    /// Changes the company's settings (admins; `validation` when out of range).
    fn update_company(app, patch: CompanyPatch) -> Company {
        Ok(app.state::<AppState>().desk().await?.update_company(patch).await?)
    }
}
