//! Health, sign-in, token refresh, sign-out and the caller's identity.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use deskbell_protocol::{Health, LoginRequest, LoginResponse, LogoutRequest, Me, RefreshRequest};
use std::time::Instant;
use tracing::Instrument;

use super::{ApiJson, ClientAddr};
use crate::anonymous_limits::Throttled;
use crate::auth::{self, AuthUser};
use crate::error::{ApiError, ApiResult, Limit};
use crate::state::AppState;
use crate::store;

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

/// Sign-in, throttled per account and per client address before any password is checked
/// (see `anonymous_limits`); every failure is logged with its reason and the address, never the
/// password.
pub async fn login(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
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
    let company_id = req
        .company_id
        .map(|id| super::body_id("companyId", id))
        .transpose()?;
    let account = req.email.trim().to_lowercase();
    let span = tracing::info_span!("sign_in", client = ?address);
    let throttle = &state.login_throttle;
    if let Err((throttled, wait)) = throttle.check(&account, address, Instant::now()) {
        let limit = match throttled {
            Throttled::Account => Limit::AccountSignIns,
            Throttled::Address => Limit::AddressSignIns,
        };
        span.in_scope(|| {
            tracing::warn!(email = ?account, reason = limit.describe(), wait_secs = wait.as_secs_f32(), "sign-in refused")
        });
        return Err(ApiError::rate_limited(limit, wait));
    }
    if req.password.len() > 1024 {
        throttle.failed(&account, address, Instant::now());
        span.in_scope(|| {
            tracing::warn!(email = ?account, reason = "password over 1024 bytes", "sign-in failed")
        });
        return Err(ApiError::InvalidCredentials);
    }
    let outcome = auth::login(&state, &req.email, &req.password, company_id)
        .instrument(span.clone())
        .await;
    match &outcome {
        Ok(_) => throttle.succeeded(&account),
        Err(ApiError::InvalidCredentials) => {
            let failures = throttle.failed(&account, address, Instant::now());
            span.in_scope(|| tracing::debug!(failures, "failed sign-ins of this account in a row"));
        }
        Err(_) => {}
    }
    Ok(Json(outcome?))
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
