//! The REST API of the spec.
//!
//! Input rules. Every write checks what the client sent with the helpers below before it
//! touches the database, so a refused request changes nothing and a bad value is a 422
//! `validation` naming the field, never a 500 from the database:
//!
//! - Positions (a lane's `position`) lie in `0..=POSITION_MAX`. Clients only order lanes with
//!   them; a bounded range keeps "one more than the largest" from ever overflowing.
//! - Ids sent in bodies (`assigneeId`, `laneId`, …) lie in `1..=ID_MAX`, the largest integer
//!   a JavaScript client represents exactly: no row has an id outside it, so an id outside it
//!   is a client bug to report, not a lookup to run. Ids in paths that name nothing are 404.

use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts};
use axum::http::HeaderMap;
use axum::routing::{delete, get, post, put};
use axum::Router;

use deskbell_protocol::Id;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

mod account;
mod attachments;
mod comments;
mod lanes;
mod tickets;
mod users;

pub use comments::create as comments_create;
pub use tickets::{apply_ticket_patch, create as tickets_create};

/// JSON body whose rejections are API errors (400/413/422 with the standard body).
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// Path parameters whose rejections are API errors.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// Query string whose rejections are API errors.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

pub fn router(state: AppState) -> Router {
    let attachment_limit = state.config.max_attachment_bytes + 64 * 1024;
    Router::new()
        .route("/health", get(account::health))
        .route("/api/auth/login", post(account::login))
        .route("/api/auth/refresh", post(account::refresh))
        .route("/api/auth/logout", post(account::logout))
        .route("/api/me", get(account::me))
        .route("/api/board", get(tickets::board))
        .route("/api/tickets", get(tickets::list).post(tickets::create))
        .route(
            "/api/tickets/{id}",
            get(tickets::show)
                .patch(tickets::patch)
                .delete(tickets::remove),
        )
        .route("/api/tickets/{id}/move", post(tickets::move_ticket))
        .route(
            "/api/ticket-tags/{ticket_id}/{lane_id}",
            put(tickets::tag_ticket),
        )
        .route(
            "/api/tickets/{id}/comments",
            get(comments::list).post(comments::create),
        )
        .route("/api/comments/{id}", delete(comments::remove))
        .route(
            "/api/tickets/{id}/attachments",
            get(attachments::list)
                .post(attachments::upload)
                .layer(DefaultBodyLimit::max(attachment_limit)),
        )
        .route(
            "/api/attachments/{id}",
            get(attachments::download).delete(attachments::remove),
        )
        .route("/api/lanes", get(lanes::list).post(lanes::create))
        .route(
            "/api/lanes/{id}",
            axum::routing::patch(lanes::update).delete(lanes::remove),
        )
        .route("/api/users", get(users::list).post(users::create))
        .route("/api/users/{id}", axum::routing::patch(users::update))
        .fallback(|| async { ApiError::NotFound("route") })
        .layer(DefaultBodyLimit::max(state.config.max_payload_bytes))
        .with_state(state)
}

/// The `If-Match` version, if sent. Accepts `3`, `"3"` and `W/"3"`.
pub fn if_match(headers: &HeaderMap) -> ApiResult<Option<i64>> {
    let Some(value) = headers.get(axum::http::header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| ApiError::BadRequest("If-Match must be a ticket version".into()))?
        .trim();
    let text = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
    text.parse::<i64>().map(Some).map_err(|_| {
        ApiError::BadRequest(format!("If-Match must be a ticket version, not {text:?}"))
    })
}

/// Largest lane position; positions are `0..=POSITION_MAX`.
pub const POSITION_MAX: i64 = 1_000_000;

/// Largest id a client may send: 2^53 - 1 (`Number.MAX_SAFE_INTEGER`).
pub const ID_MAX: i64 = 9_007_199_254_740_991;

/// Checks a client-supplied position.
pub fn position(field: &str, value: i64) -> ApiResult<i64> {
    if (0..=POSITION_MAX).contains(&value) {
        Ok(value)
    } else {
        Err(ApiError::validation(format!(
            "{field} must be between 0 and {POSITION_MAX}, not {value}"
        )))
    }
}

/// Checks an id sent in a request body.
pub fn body_id(field: &str, value: Id) -> ApiResult<Id> {
    if (1..=ID_MAX).contains(&value) {
        Ok(value)
    } else {
        Err(ApiError::validation(format!(
            "{field} must be an id between 1 and {ID_MAX}, not {value}"
        )))
    }
}

/// Trims and bounds a required text field.
pub fn required_text(field: &str, value: &str, max_chars: usize) -> ApiResult<String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ApiError::validation(format!("{field} must not be empty")));
    }
    bounded(field, trimmed, max_chars)
}

pub fn bounded(field: &str, value: &str, max_chars: usize) -> ApiResult<String> {
    if value.chars().count() > max_chars {
        return Err(ApiError::validation(format!(
            "{field} is longer than {max_chars} characters"
        )));
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn if_match_forms() {
        let mut h = HeaderMap::new();
        assert_eq!(if_match(&h).unwrap(), None);
        for form in ["3", "\"3\"", "W/\"3\""] {
            h.insert(axum::http::header::IF_MATCH, HeaderValue::from_static(form));
            assert_eq!(if_match(&h).unwrap(), Some(3), "{form}");
        }
        h.insert(axum::http::header::IF_MATCH, HeaderValue::from_static("*x"));
        assert!(matches!(if_match(&h), Err(ApiError::BadRequest(_))));
    }

    #[test]
    fn numbers_are_range_checked() {
        assert_eq!(position("position", 0).unwrap(), 0);
        assert_eq!(position("position", POSITION_MAX).unwrap(), POSITION_MAX);
        for bad in [-1, POSITION_MAX + 1, i64::MAX, i64::MIN] {
            assert!(matches!(
                position("position", bad),
                Err(ApiError::Validation(_))
            ));
        }
        assert_eq!(body_id("laneId", 1).unwrap(), 1);
        assert_eq!(body_id("laneId", ID_MAX).unwrap(), ID_MAX);
        for bad in [0, -1, ID_MAX + 1, i64::MAX, i64::MIN] {
            assert!(matches!(
                body_id("laneId", bad),
                Err(ApiError::Validation(_))
            ));
        }
    }

    #[test]
    fn text_bounds() {
        assert_eq!(required_text("t", "  a ", 5).unwrap(), "a");
        assert!(required_text("t", "   ", 5).is_err());
        assert!(required_text("t", "abcdef", 5).is_err());
        assert!(bounded("t", "ééééé", 5).is_ok());
    }
}
