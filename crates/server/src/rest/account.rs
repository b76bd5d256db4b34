//! Health, sign-in, token refresh, sign-out and the caller's identity.
//!
//! Dependencies: `ops::account`, `extract`, `error`, `auth`, `state`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use deskbell_protocol::{Health, LoginRequest, LoginResponse, LogoutRequest, Me, RefreshRequest};

use super::error::ApiResult;
use super::extract::{ApiJson, ClientAddr};
use crate::auth::AuthUser;
use crate::error::OpError;
use crate::ops::account;
use crate::state::AppState;

/// 503 only when the database is down (this node cannot serve); a Redis link that is down
/// leaves the node serving (other nodes' events then come from the log), so it says
/// `degraded` with 200 and a load balancer keeps sending it clients.
pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let db_ok = state.db.ping().await;
    let redis_up = state.redis.as_ref().map(|link| link.is_up());
    let body = Health {
        status: if db_ok && redis_up != Some(false) {
            "ok"
        } else {
            "degraded"
        }
        .into(),
        db: if db_ok {
            state.db.backend.as_str().to_string()
        } else {
            format!("{} unreachable", state.db.backend.as_str())
        },
        version: env!("CARGO_PKG_VERSION").into(),
        protocol: deskbell_protocol::PROTOCOL_VERSION,
        node: state.config.node_name.clone(),
        redis: redis_up.map(|up| if up { "up" } else { "down" }.into()),
    };
    let code = if db_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body))
}

/// Sign-in (see `ops::account::login`).
pub async fn login(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    Ok(Json(account::login(&state, req, address).await?))
}

pub async fn refresh(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> ApiResult<Json<LoginResponse>> {
    Ok(Json(account::refresh(&state, &req.refresh_token).await?))
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
            .map_err(|e| OpError::BadRequest(format!("invalid logout body: {e}")))?
            .refresh_token
    };
    account::logout(&state, &auth_user, token.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn me(State(state): State<AppState>, auth_user: AuthUser) -> ApiResult<Json<Me>> {
    Ok(Json(account::me(&state, &auth_user).await?))
}
