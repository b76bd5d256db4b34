//! Member routes, and the company's settings.
//!
//! Dependencies: `ops::users`, `ops::company`, `extract`, `error`, `auth`, `state`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use deskbell_protocol::{Company, CompanyPatch, Id, Member, NewUser, User, UserPatch};

use super::error::ApiResult;
use super::extract::{ApiJson, ApiPath};
use crate::auth::AuthUser;
use crate::ops::{company, users};
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

/// `GET /api/members`: colleagues without e-mail addresses.
pub async fn members(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<Vec<Member>>> {
    Ok(Json(users::members(&state, &auth).await?))
}

pub async fn company(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<Company>> {
    Ok(Json(company::get(&state, &auth).await?))
}

pub async fn patch_company(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(patch): ApiJson<CompanyPatch>,
) -> ApiResult<Json<Company>> {
    Ok(Json(company::patch(&state, &auth, patch).await?))
}
