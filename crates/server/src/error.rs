//! REST errors: stable codes and `{error: {code, message}}` bodies.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use deskbell_protocol::{ApiErrorBody, ApiErrorCode, ApiErrorDetail, Ticket};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
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

/// Which limit a request ran into (answered 429 with Retry-After).
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

impl ApiError {
    /// 429 after `wait` (rounded up to whole seconds, at least 1).
    pub fn rate_limited(limit: Limit, wait: std::time::Duration) -> ApiError {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        ApiError::RateLimited {
            retry_after_secs: secs.max(1),
            limit,
        }
    }

    pub fn code(&self) -> ApiErrorCode {
        match self {
            ApiError::BadRequest(_) => ApiErrorCode::BadRequest,
            ApiError::InvalidCredentials => ApiErrorCode::InvalidCredentials,
            ApiError::Unauthorized(_) => ApiErrorCode::Unauthorized,
            ApiError::TokenExpired => ApiErrorCode::TokenExpired,
            ApiError::RefreshReused => ApiErrorCode::RefreshReused,
            ApiError::Forbidden(_) => ApiErrorCode::Forbidden,
            ApiError::NotFound(_) => ApiErrorCode::NotFound,
            ApiError::Conflict { .. } => ApiErrorCode::Conflict,
            ApiError::WorkspaceRequired(_) => ApiErrorCode::WorkspaceRequired,
            ApiError::PayloadTooLarge(_) => ApiErrorCode::PayloadTooLarge,
            ApiError::Validation(_) => ApiErrorCode::Validation,
            ApiError::RateLimited { .. } => ApiErrorCode::RateLimited,
            ApiError::Internal(_) => ApiErrorCode::Internal,
        }
    }

    pub fn validation(msg: impl Into<String>) -> ApiError {
        ApiError::Validation(msg.into())
    }

    pub fn forbidden(msg: impl Into<String>) -> ApiError {
        ApiError::Forbidden(msg.into())
    }

    pub fn conflict(msg: impl Into<String>) -> ApiError {
        ApiError::Conflict {
            message: msg.into(),
            current: None,
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> ApiError {
        if let sqlx::Error::Database(db) = &e {
            if db.is_unique_violation() {
                return ApiError::conflict("that value is already taken");
            }
        }
        tracing::error!(error = %e, "database error");
        ApiError::Internal(e.to_string())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> ApiError {
        match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(r.body_text()),
            StatusCode::UNPROCESSABLE_ENTITY => ApiError::Validation(r.body_text()),
            _ => ApiError::BadRequest(r.body_text()),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> ApiError {
        ApiError::BadRequest(r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> ApiError {
        ApiError::BadRequest(r.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.code();
        let status =
            StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let retry_after = match &self {
            ApiError::RateLimited {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        };
        let message = self.to_string();
        let current = match self {
            ApiError::Conflict { current, .. } => current.map(|t| *t),
            _ => None,
        };
        let body = ApiErrorBody {
            error: ApiErrorDetail {
                code,
                message,
                current,
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
