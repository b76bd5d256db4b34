//! The operations' errors: each has a stable code, the protocol's `ApiErrorCode`, that clients
//! switch on, and a message for people.
//!
//! Nothing here knows HTTP: the REST edge maps a code to its status, body and headers
//! (`rest::error`), the socket edge to its own answers (`realtime`). Dependencies: the
//! protocol and sqlx only; every other module may use this one.

use deskbell_protocol::{ApiErrorCode, Ticket};

#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error("{0}")]
    BadRequest(String),
    #[error("wrong email or password")]
    InvalidCredentials,
    #[error("{0}")]
    Unauthorized(String),
    #[error("the access token has expired")]
    TokenExpired,
    #[error("this refresh token was already used; the session has been revoked")]
    RefreshReused,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// One email and password open accounts in several companies: sign in with `companyId`.
    #[error("{0}")]
    WorkspaceRequired(String),
    #[error("{message}")]
    Conflict {
        message: String,
        current: Option<Box<Ticket>>,
    },
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    Validation(String),
    #[error("{}; retry in {retry_after_secs} s", limit.describe())]
    RateLimited { retry_after_secs: u64, limit: Limit },
    #[error("internal error")]
    Internal(String),
}

/// Which limit a request ran into (`rate_limited`, with how long to wait).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// The company's writes per minute.
    CompanyWrites,
    /// One member's share of the company's writes per minute.
    MemberWrites,
    /// Password checks under way on the server.
    PasswordChecks,
    /// Failed sign-ins for this account.
    AccountSignIns,
    /// Failed sign-ins from this address.
    AddressSignIns,
    /// Refused socket connects from this address.
    RefusedConnects,
}

impl Limit {
    pub fn describe(self) -> &'static str {
        match self {
            Limit::CompanyWrites => "too many writes for this company",
            Limit::MemberWrites => "you have used your share of the company's writes for now",
            Limit::PasswordChecks => "too many sign-ins at once",
            Limit::AccountSignIns => "too many failed sign-ins for this account",
            Limit::AddressSignIns => "too many failed sign-ins from this address",
            Limit::RefusedConnects => "too many refused connects from this address",
        }
    }
}

impl OpError {
    /// `rate_limited` for `wait` (rounded up to whole seconds, at least 1).
    pub fn rate_limited(limit: Limit, wait: std::time::Duration) -> OpError {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        OpError::RateLimited {
            retry_after_secs: secs.max(1),
            limit,
        }
    }

    pub fn code(&self) -> ApiErrorCode {
        match self {
            OpError::BadRequest(_) => ApiErrorCode::BadRequest,
            OpError::InvalidCredentials => ApiErrorCode::InvalidCredentials,
            OpError::Unauthorized(_) => ApiErrorCode::Unauthorized,
            OpError::TokenExpired => ApiErrorCode::TokenExpired,
            OpError::RefreshReused => ApiErrorCode::RefreshReused,
            OpError::Forbidden(_) => ApiErrorCode::Forbidden,
            OpError::NotFound(_) => ApiErrorCode::NotFound,
            OpError::Conflict { .. } => ApiErrorCode::Conflict,
            OpError::WorkspaceRequired(_) => ApiErrorCode::WorkspaceRequired,
            OpError::PayloadTooLarge(_) => ApiErrorCode::PayloadTooLarge,
            OpError::Validation(_) => ApiErrorCode::Validation,
            OpError::RateLimited { .. } => ApiErrorCode::RateLimited,
            OpError::Internal(_) => ApiErrorCode::Internal,
        }
    }

    pub fn validation(msg: impl Into<String>) -> OpError {
        OpError::Validation(msg.into())
    }

    pub fn forbidden(msg: impl Into<String>) -> OpError {
        OpError::Forbidden(msg.into())
    }

    pub fn conflict(msg: impl Into<String>) -> OpError {
        OpError::Conflict {
            message: msg.into(),
            current: None,
        }
    }
}

impl From<sqlx::Error> for OpError {
    fn from(e: sqlx::Error) -> OpError {
        if let sqlx::Error::Database(db) = &e {
            if db.is_unique_violation() {
                return OpError::conflict("that value is already taken");
            }
        }
        tracing::error!(error = %e, "database error");
        OpError::Internal(e.to_string())
    }
}

pub type OpResult<T> = Result<T, OpError>;
