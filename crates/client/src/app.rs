//! What the desktop shell exchanges with its UI, beyond the core's [`crate::desk::DeskEvent`]s:
//! the signed-in session as the UI sees it, command errors with stable codes, and the user's
//! settings (kept in a JSON file in the config dir: no secrets in it, ever).
//!
//! # The shell's commands (Tauri `invoke` names; arguments in camelCase)
//! - `session_status() -> SessionInfo | null` — the current session, if any (also after a
//!   silent resume from the keychain at start).
//! - `login({server, email, password}) -> SessionInfo`
//! - `start_demo() -> SessionInfo` — embedded demo server, signed in as `agent1@acme.test`.
//! - `logout()`
//! - `board() -> Board` — the board as the core has it now (then deltas arrive as events).
//! - `connection_state() -> ConnectionState`, `reconnect_now()`
//! - `move_ticket({ticketId, laneId}) -> Ticket` (optimistic; deltas come as events)
//! - `patch_ticket({ticketId, expectedVersion, patch}) -> Ticket`
//! - `create_ticket({ticket: NewTicket}) -> Ticket`
//! - `comments({ticketId}) -> Comment[]`, `add_comment({ticketId, body}) -> Comment`
//! - `attachments({ticketId}) -> Attachment[]`,
//!   `upload_attachment({ticketId, fileName, contentType, bytes: number[]}) -> Attachment`
//! - `save_attachment({attachmentId, fileName}) -> string` — downloads it into the user's
//!   Downloads folder (never over an existing file) and answers the path it was saved to.
//! - `users() -> User[]` — the company's users (the UI asks only as an admin, for assignees)
//! - `settings() -> Settings`, `set_settings({settings}) -> Settings`
//! - `mark_read({ticketId})`, `urgent_count() -> number`
//!
//! Every failing command rejects with a [`CommandError`].
//!
//! # Events (Tauri `listen` names)
//! - `deskbell://events` — `DeskEvent[]`: [`crate::desk::DeskEvent`]s, in order, batched (a
//!   message carries what was waiting, up to a few hundred; a burst is not one message each).
//! - `deskbell://session` — `SessionInfo | null` whenever the session changes.
//! - `deskbell://open-ticket` — `number`: show the window on that ticket (notification action).
//! - `deskbell://settings` — `Settings`, when they changed outside the UI (the tray's Do not
//!   disturb).

use std::path::{Path, PathBuf};

use deskbell_protocol::{Company, Ticket, User};
use serde::{Deserialize, Serialize};

use crate::alerts::AlertPreferences;
use crate::desk::DeskError;
use crate::error::ApiError;

/// The signed-in session as the UI shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    pub server: String,
    pub user: User,
    pub company: Company,
    /// Where the session is kept, in words ("Secret Service", "memory only", …).
    pub store: String,
    /// Set when the session will not survive a restart (no secure store).
    pub store_warning: Option<String>,
    /// Signed in to the embedded demo server.
    pub demo: bool,
}

/// Why a command failed: `code` is stable (the UI switches on it), `message` is for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, thiserror::Error)]
#[serde(rename_all = "camelCase")]
#[error("{message} ({code})")]
pub struct CommandError {
    pub code: String,
    pub message: String,
    /// On `conflict`: the ticket as the server has it now.
    pub current: Option<Ticket>,
}

impl CommandError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        CommandError {
            code: code.into(),
            message: message.into(),
            current: None,
        }
    }
}

impl From<DeskError> for CommandError {
    fn from(e: DeskError) -> Self {
        CommandError {
            code: e.code().to_string(),
            message: e.to_string(),
            current: e.current_ticket().cloned(),
        }
    }
}

impl From<ApiError> for CommandError {
    fn from(e: ApiError) -> Self {
        CommandError::new(e.code(), e.to_string())
    }
}

impl From<crate::session::SessionError> for CommandError {
    fn from(e: crate::session::SessionError) -> Self {
        CommandError::new(e.code(), e.to_string())
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub enum Theme {
    #[default]
    System,
    Light,
    Dark,
}

/// The user's settings. Unknown or missing fields take their defaults, so an older or newer
/// file never stops the app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase", default)]
pub struct Settings {
    pub alerts: AlertPreferences,
    /// Start Deskbell (hidden, in the tray) when the user logs in. Off by default.
    pub launch_at_login: bool,
    /// Closing the window keeps Deskbell running in the tray.
    pub close_to_tray: bool,
    pub theme: Theme,
    /// Pre-filled on the login form; the session itself is in the keychain.
    pub last_server: Option<String>,
    pub last_email: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            alerts: AlertPreferences::default(),
            launch_at_login: false,
            close_to_tray: true,
            theme: Theme::System,
            last_server: None,
            last_email: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot write the settings to {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Settings {
    pub const FILE_NAME: &'static str = "settings.json";

    /// Reads the settings; a missing file is the defaults, and so is a broken one (it is set
    /// aside as `settings.json.broken` and the reason logged, so nothing is silently lost).
    pub fn load(dir: &Path) -> Settings {
        let path = dir.join(Self::FILE_NAME);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Settings::default(),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read the settings; using defaults");
                return Settings::default();
            }
        };
        match serde_json::from_str(&text) {
            Ok(settings) => settings,
            Err(e) => {
                let aside = dir.join(format!("{}.broken", Self::FILE_NAME));
                let _ = std::fs::rename(&path, &aside);
                tracing::warn!(path = %path.display(), error = %e, aside = %aside.display(), "unreadable settings set aside; using defaults");
                Settings::default()
            }
        }
    }

    /// Writes atomically (temp file + rename), creating the directory.
    pub fn save(&self, dir: &Path) -> Result<(), SettingsError> {
        let path = dir.join(Self::FILE_NAME);
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(dir)?;
            let tmp = dir.join(format!(".{}.tmp", Self::FILE_NAME));
            let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
            std::fs::write(&tmp, text)?;
            std::fs::rename(&tmp, &path)
        };
        write().map_err(|source| SettingsError::Write { path, source })
    }
}

/// A file name from the server (an attachment's name), made safe to create in a folder: no
/// directories, no control characters, not hidden, not empty, not endless.
pub fn safe_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let visible: String = base.chars().filter(|c| !c.is_control()).collect();
    let trimmed = visible.trim().trim_start_matches('.').trim();
    let limited: String = trimmed.chars().take(200).collect();
    if limited.is_empty() {
        "attachment".to_string()
    } else {
        limited
    }
}

/// Saves downloaded bytes in `dir` under [`safe_file_name`]`(name)`, never over an existing
/// file ("report.pdf", then "report (1).pdf", …); a file that could not be written whole is
/// removed. Answers the path written.
pub fn save_download(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let name = safe_file_name(name);
    let (stem, ext) = match name.rfind('.') {
        Some(dot) if dot > 0 => name.split_at(dot),
        _ => (name.as_str(), ""),
    };
    for n in 0..1000 {
        let candidate = if n == 0 {
            name.clone()
        } else {
            format!("{stem} ({n}){ext}")
        };
        let path = dir.join(candidate);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut file) => {
                if let Err(e) = file.write_all(bytes).and_then(|()| file.sync_all()) {
                    let _ = std::fs::remove_file(&path);
                    return Err(e);
                }
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        format!("{name} and 999 numbered copies of it already exist"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::AlertLevel;

    #[test]
    fn file_names_from_the_server_stay_in_their_folder() {
        assert_eq!(safe_file_name("report.pdf"), "report.pdf");
        assert_eq!(safe_file_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_file_name("C:\\Users\\x\\evil.exe"), "evil.exe");
        assert_eq!(safe_file_name(".bashrc"), "bashrc");
        assert_eq!(safe_file_name("a\nb\u{7}.txt"), "ab.txt");
        assert_eq!(safe_file_name("  ..  "), "attachment");
        assert_eq!(safe_file_name("dir/"), "attachment");
        assert_eq!(safe_file_name(&"x".repeat(500)).chars().count(), 200);
    }

    #[test]
    fn downloads_never_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let downloads = dir.path().join("Downloads");
        let first = save_download(&downloads, "report.pdf", b"one").unwrap();
        let second = save_download(&downloads, "report.pdf", b"two").unwrap();
        let third = save_download(&downloads, "../report.pdf", b"three").unwrap();
        let bare = save_download(&downloads, "README", b"four").unwrap();
        let bare2 = save_download(&downloads, "README", b"five").unwrap();
        assert_eq!(first, downloads.join("report.pdf"));
        assert_eq!(second, downloads.join("report (1).pdf"));
        assert_eq!(third, downloads.join("report (2).pdf"));
        assert_eq!(bare2, downloads.join("README (1)"));
        assert_eq!(std::fs::read(&first).unwrap(), b"one");
        assert_eq!(std::fs::read(&second).unwrap(), b"two");
        assert_eq!(std::fs::read(&third).unwrap(), b"three");
        assert_eq!(std::fs::read(&bare).unwrap(), b"four");
        assert!(
            !dir.path().join("report.pdf").exists(),
            "nothing outside the folder"
        );
    }

    #[test]
    fn settings_round_trip_and_defaults() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Settings::load(dir.path()), Settings::default());
        let settings = Settings {
            alerts: AlertPreferences {
                level: AlertLevel::AlsoAssignedToMe,
                do_not_disturb: true,
            },
            launch_at_login: true,
            close_to_tray: false,
            theme: Theme::Dark,
            last_server: Some("http://127.0.0.1:7878".into()),
            last_email: Some("agent1@acme.test".into()),
        };
        settings.save(&dir.path().join("nested")).unwrap();
        assert_eq!(Settings::load(&dir.path().join("nested")), settings);
    }

    #[test]
    fn partial_and_broken_files_fall_back_without_losing_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(Settings::FILE_NAME);
        std::fs::write(&path, r#"{"theme":"light","someFutureField":1}"#).unwrap();
        let loaded = Settings::load(dir.path());
        assert_eq!(loaded.theme, Theme::Light);
        assert!(loaded.close_to_tray, "missing fields take their defaults");

        std::fs::write(&path, "{not json").unwrap();
        assert_eq!(Settings::load(dir.path()), Settings::default());
        let aside = dir.path().join("settings.json.broken");
        assert_eq!(std::fs::read_to_string(aside).unwrap(), "{not json");
    }

    #[test]
    fn errors_keep_their_codes_and_conflicts_their_ticket() {
        let e = CommandError::from(ApiError::Timeout);
        assert_eq!(e.code, "timeout");
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["code"], "timeout");
        assert!(json["current"].is_null());
    }
}
