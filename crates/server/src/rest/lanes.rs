//! Lane routes.
//!
//! Dependencies: `ops::lanes`, `extract`, `error`, `auth`, `state`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use deskbell_protocol::{Id, Lane, LanePatch, NewLane};

use super::error::ApiResult;
use super::extract::{ApiJson, ApiPath};
use crate::auth::AuthUser;
use crate::ops::lanes;
use crate::state::AppState;

pub async fn list(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<Vec<Lane>>> {
    Ok(Json(lanes::list(&state, &auth).await?))
}

pub async fn create(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(new): ApiJson<NewLane>,
) -> ApiResult<(StatusCode, Json<Lane>)> {
    let lane = lanes::create(&state, &auth, new).await?;
    Ok((StatusCode::CREATED, Json(lane)))
}

pub async fn update(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(id): ApiPath<Id>,
    ApiJson(patch): ApiJson<LanePatch>,
) -> ApiResult<Json<Lane>> {
    Ok(Json(lanes::update(&state, &auth, id, patch).await?))
}

pub async fn remove(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(id): ApiPath<Id>,
) -> ApiResult<StatusCode> {
    lanes::delete(&state, &auth, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
