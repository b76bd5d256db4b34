//! The REST API of the spec: the HTTP edge of the operations (`ops`).
//!
//! A handler takes the request apart (`extract`), calls one operation and answers with its
//! result; HTTP status codes and error bodies are decided here and nowhere else (`error`).
//! Every rule (input checks, limits, who may see or change what) is the operation's.
//!
//! Dependencies: `ops`, `auth` (the member type), `state`, `error`. Nothing but the server's
//! assembly (`lib`) and `realtime` (the client's address) depends on this module.

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue};
use axum::middleware::map_response;
use axum::response::Response;
use axum::routing::{delete, get, post, put};
use axum::Router;

use crate::error::OpError;
use crate::state::AppState;

mod account;
mod attachments;
mod comments;
mod error;
mod extract;
mod lanes;
mod tickets;
mod users;

// What the rest of the server needs of the HTTP edge: the client's address (sign-in and
// connect throttling), the middleware that finds it, and the error response.
pub use error::ApiError;
pub use extract::{client_ip, resolve_client};

pub fn router(state: AppState) -> Router {
    let attachment_limit = state.config.max_attachment_bytes + 64 * 1024;
    Router::new()
        .route("/health", get(account::health))
        .route(
            "/api/auth/login",
            post(account::login).layer(map_response(no_store)),
        )
        .route(
            "/api/auth/refresh",
            post(account::refresh).layer(map_response(no_store)),
        )
        .route(
            "/api/auth/logout",
            post(account::logout).layer(map_response(no_store)),
        )
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
        .route("/api/tickets/{id}/acknowledge", post(tickets::acknowledge))
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
        .route("/api/members", get(users::members))
        .route(
            "/api/company",
            get(users::company).patch(users::patch_company),
        )
        .fallback(|| async { ApiError(OpError::NotFound("route")) })
        .layer(DefaultBodyLimit::max(state.config.max_payload_bytes))
        .with_state(state)
}

/// Responses of the auth routes carry tokens (or answer a request that did): no cache, shared
/// or private, may keep them. Applied to every response of those routes, errors included.
async fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
