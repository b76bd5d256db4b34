//! The REST edge of the operations' errors: the only place a stable code becomes an HTTP
//! status, an `{error: {code, message}}` body and headers (`Retry-After` on `rate_limited`).
//!
//! Rejections of axum's extractors (unreadable JSON, paths, queries) become the same codes an
//! operation would use for the same fault. Dependencies: `error`, `auth` (a refused token),
//! the protocol.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use deskbell_protocol::{ApiErrorBody, ApiErrorDetail};

use crate::auth::AuthFailure;
use crate::error::OpError;

/// An operation's error as a REST response.
#[derive(Debug)]
pub struct ApiError(pub OpError);

pub type ApiResult<T> = Result<T, ApiError>;

impl From<OpError> for ApiError {
    fn from(e: OpError) -> ApiError {
        ApiError(e)
    }
}

impl From<AuthFailure> for ApiError {
    fn from(f: AuthFailure) -> ApiError {
        ApiError(f.into())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> ApiError {
        ApiError(match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => OpError::PayloadTooLarge(r.body_text()),
            StatusCode::UNPROCESSABLE_ENTITY => OpError::Validation(r.body_text()),
            _ => OpError::BadRequest(r.body_text()),
        })
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> ApiError {
        ApiError(OpError::BadRequest(r.body_text()))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> ApiError {
        ApiError(OpError::BadRequest(r.body_text()))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let ApiError(error) = self;
        let code = error.code();
        let status =
            StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let retry_after = match &error {
            OpError::RateLimited {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        };
        let message = error.to_string();
        let current = match error {
            OpError::Conflict { current, .. } => current.map(|t| *t),
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
