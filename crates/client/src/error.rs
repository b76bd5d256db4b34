//! Client errors with stable codes the UI can switch on.

use deskbell_protocol::{ApiErrorCode, Ticket};

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
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
    /// A call that needs a session was made without one.
    #[error("not signed in")]
    NotSignedIn,
    /// The URL given for the server is not usable.
    #[error("invalid server URL: {0}")]
    InvalidUrl(String),
}

impl ApiError {
    /// A stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Server { code, .. } => match code {
                ApiErrorCode::BadRequest => "bad_request",
                ApiErrorCode::InvalidCredentials => "invalid_credentials",
                ApiErrorCode::Unauthorized => "unauthorized",
                ApiErrorCode::TokenExpired => "token_expired",
                ApiErrorCode::RefreshReused => "refresh_reused",
                ApiErrorCode::Forbidden => "forbidden",
                ApiErrorCode::NotFound => "not_found",
                ApiErrorCode::Conflict => "conflict",
                ApiErrorCode::WorkspaceRequired => "workspace_required",
                ApiErrorCode::PayloadTooLarge => "payload_too_large",
                ApiErrorCode::Validation => "validation",
                ApiErrorCode::RateLimited => "rate_limited",
                ApiErrorCode::Internal => "internal",
            },
            ApiError::Network(_) => "network",
            ApiError::Timeout => "timeout",
            ApiError::Protocol(_) => "protocol",
            ApiError::NotSignedIn => "not_signed_in",
            ApiError::InvalidUrl(_) => "invalid_url",
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
