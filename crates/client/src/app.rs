//! What the desktop shell exchanges with its UI, beyond the core's [`crate::desk::DeskEvent`]s:
//! the signed-in session as the UI sees it, command errors with stable codes, and the user's
//! settings. Only the types: where the settings are kept and where downloads go are the
//! desktop shell's (`src-tauri`).
//!
//! The commands and event channels that carry these are declared once, in the desktop shell
//! (`src-tauri/src/commands.rs`, `src-tauri/src/contract.rs`), and generated for the UI.

use deskbell_protocol::{Company, Ticket, User};
use serde::{Deserialize, Serialize};

use crate::alerts::AlertPreferences;
use crate::desk::DeskError;
use crate::error::{ApiError, ErrorCode};

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
    pub code: ErrorCode,
    pub message: String,
    /// On `conflict`: the ticket as the server has it now.
    pub current: Option<Ticket>,
}

impl CommandError {
    pub fn new(code: impl Into<ErrorCode>, message: impl Into<String>) -> Self {
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
            code: e.code(),
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
    /// The first close to the tray said that Deskbell keeps running there (said once).
    pub close_to_tray_explained: bool,
}

/// What the first close to the tray says, as a notification (the window is gone by then).
pub const CLOSE_TO_TRAY_NOTICE: (&str, &str) = (
    "Deskbell is still running",
    "It keeps watching for urgent tickets from the tray. Quit it from the tray menu.",
);

impl Settings {
    /// The window just closed to the tray: the notice to show if this is the first time (it is
    /// then marked as shown, so that it is said once).
    pub fn take_close_to_tray_notice(&mut self) -> Option<(&'static str, &'static str)> {
        if self.close_to_tray_explained {
            return None;
        }
        self.close_to_tray_explained = true;
        Some(CLOSE_TO_TRAY_NOTICE)
    }
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
            close_to_tray_explained: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_close_to_the_tray_is_explained_once() {
        let mut settings = Settings::default();
        assert_eq!(
            settings.take_close_to_tray_notice(),
            Some(CLOSE_TO_TRAY_NOTICE)
        );
        assert!(settings.close_to_tray_explained);
        assert_eq!(settings.take_close_to_tray_notice(), None);
        // Older settings files (without the field) have not explained it yet.
        let old: Settings = serde_json::from_str(r#"{"closeToTray": true}"#).unwrap();
        assert!(!old.close_to_tray_explained);
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

/// The first view's layout as the page laid it out, for the shell to draw in the window until
/// the web view has painted its first frame: WebKitGTK paints a page only once its window is
/// shown, so without it the window would show its toolkit's grey for the first frames.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct WindowSkeleton {
    /// The page's background.
    pub background: Rgb,
    /// Its main boxes (the top bar, the lanes, the sign-in card), in CSS pixels from the page's
    /// top left, in the order they are drawn.
    pub boxes: Vec<SkeletonBox>,
}

/// A box of [`WindowSkeleton`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct SkeletonBox {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    pub color: Rgb,
}

/// An opaque colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct Rgb {
    pub r: u8,
    pub g: u8,
    pub b: u8,
}
