//! Health, sign-in, token refresh, sign-out and the caller's identity.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use deskbell_protocol::{Health, LoginRequest, LoginResponse, LogoutRequest, Me, RefreshRequest};

use super::ApiJson;
use crate::auth::{self, AuthUser};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store;

pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let db_ok = state.db.ping().await;
    let body = Health {
        status: if db_ok { "ok" } else { "degraded" }.into(),
        db: if db_ok {
            state.db.backend.as_str().to_string()
        } else {
            format!("{} unreachable", state.db.backend.as_str())
        },
        version: env!("CARGO_PKG_VERSION").into(),
    };
    let code = if db_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body))
}

pub async fn login(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    if req.email.trim().is_empty() || req.password.is_empty() {
        return Err(ApiError::validation("email and password are required"));
    }
    // The text rule only, not the full shape of an address: an account created before that
    // check existed must still be able to sign in. A NUL would be a 500 on PostgreSQL.
    super::bounded(
        "email",
        req.email.trim(),
        super::EMAIL_MAX,
        super::Lines::Single,
    )?;
    if req.password.len() > 1024 {
        return Err(ApiError::InvalidCredentials);
    }
    let company_id = req
        .company_id
        .map(|id| super::body_id("companyId", id))
        .transpose()?;
    Ok(Json(
        auth::login(&state, &req.email, &req.password, company_id).await?,
    ))
}

pub async fn refresh(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> ApiResult<Json<LoginResponse>> {
    Ok(Json(auth::refresh(&state, &req.refresh_token).await?))
}

pub async fn logout(
    State(state): State<AppState>,
    auth_user: AuthUser,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    // The body is optional: `{refreshToken}` also revokes that token's session.
    let token = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice::<LogoutRequest>(&body)
            .map_err(|e| ApiError::BadRequest(format!("invalid logout body: {e}")))?
            .refresh_token
    };
    auth::logout(&state, &auth_user, token.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn me(State(state): State<AppState>, auth_user: AuthUser) -> ApiResult<Json<Me>> {
    let company = store::company(&state.db.pool, auth_user.company_id())
        .await?
        .ok_or(ApiError::NotFound("company"))?;
    Ok(Json(Me {
        user: auth_user.user,
        company,
    }))
}
