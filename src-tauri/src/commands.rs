//! The UI's commands, exactly as `deskbell_client::app` lists them. Each one is a call into
//! the core; every failure is a `CommandError` with a stable code.

use deskbell_client::app::{CommandError, SessionInfo, Settings};
use deskbell_client::connection::ConnectionState;
use deskbell_protocol::{Attachment, Board, Comment, Id, NewTicket, Ticket, TicketPatch, User};
use tauri::{AppHandle, Manager, State};

use crate::shell::{self, AppState};

type Result<T> = std::result::Result<T, CommandError>;

#[tauri::command]
pub async fn session_status(state: State<'_, AppState>) -> Result<Option<SessionInfo>> {
    Ok(state.session_info().await)
}

#[tauri::command]
pub async fn login(
    app: AppHandle,
    server: String,
    email: String,
    password: String,
) -> Result<SessionInfo> {
    shell::login(&app, server, email, password).await
}

#[tauri::command]
pub async fn start_demo(app: AppHandle) -> Result<SessionInfo> {
    shell::start_demo(&app).await
}

#[tauri::command]
pub async fn logout(app: AppHandle) -> Result<()> {
    shell::logout(&app).await
}

#[tauri::command]
pub async fn board(state: State<'_, AppState>) -> Result<Board> {
    Ok(state.desk().await?.board())
}

#[tauri::command]
pub async fn connection_state(state: State<'_, AppState>) -> Result<ConnectionState> {
    Ok(match state.try_desk().await {
        Some(desk) => desk.state().borrow().clone(),
        None => ConnectionState::NeedsLogin {
            reason: "not signed in".into(),
        },
    })
}

#[tauri::command]
pub async fn reconnect_now(state: State<'_, AppState>) -> Result<()> {
    state.desk().await?.reconnect_now();
    Ok(())
}

#[tauri::command]
pub async fn move_ticket(
    state: State<'_, AppState>,
    ticket_id: Id,
    lane_id: Option<Id>,
) -> Result<Ticket> {
    Ok(state.desk().await?.move_ticket(ticket_id, lane_id).await?)
}

#[tauri::command]
pub async fn patch_ticket(
    state: State<'_, AppState>,
    ticket_id: Id,
    expected_version: Option<i64>,
    patch: TicketPatch,
) -> Result<Ticket> {
    Ok(state
        .desk()
        .await?
        .patch_ticket(ticket_id, expected_version, patch)
        .await?)
}

#[tauri::command]
pub async fn create_ticket(state: State<'_, AppState>, ticket: NewTicket) -> Result<Ticket> {
    Ok(state.desk().await?.create_ticket(ticket).await?)
}

#[tauri::command]
pub async fn comments(state: State<'_, AppState>, ticket_id: Id) -> Result<Vec<Comment>> {
    Ok(state.desk().await?.comments(ticket_id).await?)
}

#[tauri::command]
pub async fn add_comment(
    state: State<'_, AppState>,
    ticket_id: Id,
    body: String,
) -> Result<Comment> {
    Ok(state.desk().await?.add_comment(ticket_id, body).await?)
}

#[tauri::command]
pub async fn attachments(state: State<'_, AppState>, ticket_id: Id) -> Result<Vec<Attachment>> {
    Ok(state.desk().await?.attachments(ticket_id).await?)
}

#[tauri::command]
pub async fn upload_attachment(
    state: State<'_, AppState>,
    ticket_id: Id,
    file_name: String,
    content_type: String,
    bytes: Vec<u8>,
) -> Result<Attachment> {
    Ok(state
        .desk()
        .await?
        .upload_attachment(ticket_id, file_name, content_type, bytes)
        .await?)
}

#[tauri::command]
pub async fn save_attachment(
    app: AppHandle,
    state: State<'_, AppState>,
    attachment_id: Id,
    file_name: String,
) -> Result<String> {
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
        .map_err(|e| CommandError::new("save_failed", format!("no Downloads folder: {e}")))?;
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
            "save_failed",
            format!("cannot save {file_name} in {}: {e}", dir.display()),
        )),
        Err(e) => Err(CommandError::new("save_failed", e.to_string())),
    }
}

#[tauri::command]
pub async fn users(state: State<'_, AppState>) -> Result<Vec<User>> {
    Ok(state.desk().await?.users().await?)
}

#[tauri::command]
pub async fn settings(state: State<'_, AppState>) -> Result<Settings> {
    Ok(state.settings())
}

#[tauri::command]
pub async fn set_settings(app: AppHandle, settings: Settings) -> Result<Settings> {
    shell::set_settings(&app, settings).await
}

#[tauri::command]
pub async fn mark_read(state: State<'_, AppState>, ticket_id: Id) -> Result<()> {
    state.desk().await?.mark_read(ticket_id);
    Ok(())
}

#[tauri::command]
pub async fn urgent_count(state: State<'_, AppState>) -> Result<usize> {
    Ok(state
        .try_desk()
        .await
        .map(|desk| desk.urgent_count())
        .unwrap_or(0))
}
