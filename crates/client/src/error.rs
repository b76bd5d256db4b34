//! Client errors with stable codes the UI can switch on.
//!
//! Every failure the core or the shell reports carries an [`ErrorCode`]: the server's own
//! ([`ApiErrorCode`], taken from its error body) or one of the client's ([`ClientErrorCode`]).
//! Both are generated for the UI as one TypeScript union, so the UI's comparisons are checked.

use std::fmt;

use deskbell_protocol::{ApiErrorCode, Ticket};
use serde::{Deserialize, Serialize};

/// A stable, machine-readable error code; on the wire, a snake_case string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[serde(untagged)]
pub enum ErrorCode {
    /// The server refused (its error body's `code`).
    Server(ApiErrorCode),
    /// The client failed, or refused before asking the server.
    Client(ClientErrorCode),
}

/// The client's own error codes (the server's are [`ApiErrorCode`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum ClientErrorCode {
    /// The server could not be reached or the connection broke.
    Network,
    /// The server did not answer in time.
    Timeout,
    /// The server answered with something that is not the protocol.
    Protocol,
    /// The address answers, but not as a Deskbell server (another site, a wrong path).
    NotDeskbell,
    /// No secure connection could be made (an untrusted certificate, not TLS at all…).
    Tls,
    NotSignedIn,
    InvalidUrl,
    NoSavedSession,
    SessionEnded,
    /// The core has stopped (signing out or quitting).
    Stopped,
    StoreUnavailable,
    StoreAccessDenied,
    StoreCorrupt,
    StoreAmbiguous,
    InvalidAccount,
    InvalidToken,
    UnknownTicket,
    UnknownLane,
    UnknownMove,
    MoveTicketMismatch,
    /// The UI asked for something out of range: a board view or ticket search larger than the
    /// core serves in one answer (too many windows, pinned tickets or ids, too long a search),
    /// or a window skeleton the shell cannot draw; the message names what.
    InvalidQuery,
    NotificationsUnavailable,
    NotificationFailed,
    /// The desktop app could not save a download.
    SaveFailed,
    /// The desktop app's embedded demo server could not start.
    DemoFailed,
    /// The desktop app could not write its settings.
    SettingsNotSaved,
    /// The desktop app could not change launch at login.
    AutostartFailed,
}

impl ClientErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientErrorCode::Network => "network",
            ClientErrorCode::Timeout => "timeout",
            ClientErrorCode::Protocol => "protocol",
            ClientErrorCode::NotDeskbell => "not_deskbell",
            ClientErrorCode::Tls => "tls",
            ClientErrorCode::NotSignedIn => "not_signed_in",
            ClientErrorCode::InvalidUrl => "invalid_url",
            ClientErrorCode::NoSavedSession => "no_saved_session",
            ClientErrorCode::SessionEnded => "session_ended",
            ClientErrorCode::Stopped => "stopped",
            ClientErrorCode::StoreUnavailable => "store_unavailable",
            ClientErrorCode::StoreAccessDenied => "store_access_denied",
            ClientErrorCode::StoreCorrupt => "store_corrupt",
            ClientErrorCode::StoreAmbiguous => "store_ambiguous",
            ClientErrorCode::InvalidAccount => "invalid_account",
            ClientErrorCode::InvalidToken => "invalid_token",
            ClientErrorCode::UnknownTicket => "unknown_ticket",
            ClientErrorCode::UnknownLane => "unknown_lane",
            ClientErrorCode::UnknownMove => "unknown_move",
            ClientErrorCode::MoveTicketMismatch => "move_ticket_mismatch",
            ClientErrorCode::InvalidQuery => "invalid_query",
            ClientErrorCode::NotificationsUnavailable => "notifications_unavailable",
            ClientErrorCode::NotificationFailed => "notification_failed",
            ClientErrorCode::SaveFailed => "save_failed",
            ClientErrorCode::DemoFailed => "demo_failed",
            ClientErrorCode::SettingsNotSaved => "settings_not_saved",
            ClientErrorCode::AutostartFailed => "autostart_failed",
        }
    }
}

impl ErrorCode {
    /// The code as it is on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Server(code) => code.as_str(),
            ErrorCode::Client(code) => code.as_str(),
        }
    }
}

impl From<ClientErrorCode> for ErrorCode {
    fn from(code: ClientErrorCode) -> ErrorCode {
        ErrorCode::Client(code)
    }
}

impl From<ApiErrorCode> for ErrorCode {
    fn from(code: ApiErrorCode) -> ErrorCode {
        ErrorCode::Server(code)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Codes read like the strings they are on the wire (`assert_eq!(e.code(), "timeout")`).
impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Why a REST call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// The server answered with an error body (`{error: {code, message}}`).
    #[error("{message}")]
    Server {
        status: u16,
        code: ApiErrorCode,
        message: String,
        /// On a 409: the ticket as the server has it now.
        current: Option<Box<Ticket>>,
        /// On a 429: seconds to wait.
        retry_after: Option<u64>,
    },
    /// The server could not be reached or the connection broke.
    #[error("cannot reach the server: {0}")]
    Network(String),
    /// The request did not complete in time.
    #[error("the server did not answer in time")]
    Timeout,
    /// The server answered with something that is not the protocol.
    #[error("the server's answer was not understood ({0})")]
    Protocol(String),
    /// The address answers, but not as a Deskbell server: a plain sentence saying what it is
    /// and, when known, the address that would work.
    #[error("{0}")]
    NotDeskbell(String),
    /// No secure connection could be made.
    #[error("a secure connection to the server could not be made ({0})")]
    Tls(String),
    /// A call that needs a session was made without one.
    #[error("not signed in")]
    NotSignedIn,
    /// The URL given for the server is not usable.
    #[error("invalid server URL: {0}")]
    InvalidUrl(String),
}

impl ApiError {
    /// A stable, machine-readable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::Server { code, .. } => ErrorCode::Server(*code),
            ApiError::Network(_) => ClientErrorCode::Network.into(),
            ApiError::Timeout => ClientErrorCode::Timeout.into(),
            ApiError::Protocol(_) => ClientErrorCode::Protocol.into(),
            ApiError::NotDeskbell(_) => ClientErrorCode::NotDeskbell.into(),
            ApiError::Tls(_) => ClientErrorCode::Tls.into(),
            ApiError::NotSignedIn => ClientErrorCode::NotSignedIn.into(),
            ApiError::InvalidUrl(_) => ClientErrorCode::InvalidUrl.into(),
        }
    }

    pub fn server_code(&self) -> Option<ApiErrorCode> {
        match self {
            ApiError::Server { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The session is over: signing in again is the only way forward.
    pub fn needs_login(&self) -> bool {
        matches!(
            self.server_code(),
            Some(
                ApiErrorCode::Unauthorized
                    | ApiErrorCode::RefreshReused
                    | ApiErrorCode::InvalidCredentials
            )
        ) || matches!(self, ApiError::NotSignedIn)
    }

    /// The server no longer accepts the session this came with: a 401 `unauthorized` (revoked
    /// session, disabled account, unknown token) or a refused refresh (`refresh_reused`). Not
    /// `token_expired`, which a refresh fixes, nor `invalid_credentials`, a login's answer.
    pub fn ends_session(&self) -> bool {
        matches!(
            self.server_code(),
            Some(ApiErrorCode::Unauthorized | ApiErrorCode::RefreshReused)
        )
    }

    /// Worth retrying later as is (the server or the network may come back).
    pub fn is_transient(&self) -> bool {
        matches!(self, ApiError::Network(_) | ApiError::Timeout)
            || matches!(
                self.server_code(),
                Some(ApiErrorCode::Internal | ApiErrorCode::RateLimited)
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ts_rs::TS;

    /// Every variant of a unit-variant enum, in its serde spelling, read from the TypeScript
    /// union ts-rs generates (`"network" | "timeout" | …`): the list cannot miss a variant.
    fn wire_names<T: TS>() -> Vec<String> {
        T::inline()
            .split('|')
            .map(|name| name.trim().trim_matches('"').to_string())
            .collect()
    }

    #[test]
    fn every_code_reads_as_it_is_on_the_wire() {
        let client = wire_names::<ClientErrorCode>();
        let server = wire_names::<ApiErrorCode>();
        assert!(
            client.len() > 10 && server.len() > 10,
            "{client:?} {server:?}"
        );
        for name in client.iter().chain(&server) {
            let code: ErrorCode = serde_json::from_value(serde_json::json!(name))
                .unwrap_or_else(|e| panic!("{name} does not read as an ErrorCode: {e}"));
            assert_eq!(code.as_str(), name);
            assert_eq!(code.to_string(), *name);
            assert_eq!(serde_json::to_value(code).unwrap(), serde_json::json!(name));
        }
    }

    #[test]
    fn no_client_code_is_also_a_server_code() {
        let server = wire_names::<ApiErrorCode>();
        for name in wire_names::<ClientErrorCode>() {
            assert!(
                !server.contains(&name),
                "{name} is both a client and a server code"
            );
        }
    }
}
