//! Comment routes.
//!
//! Dependencies: `ops::comments`, `extract`, `error`, `auth`, `state`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use deskbell_protocol::{Comment, Id, NewComment};

use super::error::ApiResult;
use super::extract::{ApiJson, ApiPath};
use crate::auth::AuthUser;
use crate::ops::comments;
use crate::state::AppState;

pub async fn list(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(ticket_id): ApiPath<Id>,
) -> ApiResult<Json<Vec<Comment>>> {
    Ok(Json(comments::list(&state, &auth, ticket_id).await?))
}

pub async fn create(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(ticket_id): ApiPath<Id>,
    ApiJson(new): ApiJson<NewComment>,
) -> ApiResult<(StatusCode, Json<Comment>)> {
    let comment = comments::create(&state, &auth, ticket_id, new).await?;
    Ok((StatusCode::CREATED, Json(comment)))
}

pub async fn remove(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(id): ApiPath<Id>,
) -> ApiResult<StatusCode> {
    comments::delete(&state, &auth, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
