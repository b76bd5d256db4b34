//! Member routes.
//!
//! Dependencies: `ops::users`, `extract`, `error`, `auth`, `state`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use deskbell_protocol::{Id, NewUser, User, UserPatch};

use super::error::ApiResult;
use super::extract::{ApiJson, ApiPath};
use crate::auth::AuthUser;
use crate::ops::users;
use crate::state::AppState;

pub async fn list(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<Vec<User>>> {
    Ok(Json(users::list(&state, &auth).await?))
}

pub async fn create(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(new): ApiJson<NewUser>,
) -> ApiResult<(StatusCode, Json<User>)> {
    let user = users::create(&state, &auth, new).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

pub async fn update(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(id): ApiPath<Id>,
    ApiJson(patch): ApiJson<UserPatch>,
) -> ApiResult<Json<User>> {
    Ok(Json(users::update(&state, &auth, id, patch).await?))
}
