//! Sessions: signing in, refreshing a session's tokens, signing out, and checking an access
//! token; the caller's identity.
//!
//! Each sign-in is throttled per account and per client address before any password is
//! checked (see `anonymous_limits`), and every password check goes through the hash gate.
//! Ending sessions (sign-out, a reused refresh token) is a write of the company, so the
//! sessions' sockets are cut in `seq` order with the rest (see `events`).
//!
//! Dependencies: `auth` (tokens, passwords, the member type), `validate`, `store`, `writes`,
//! `outbox` (session ends), `state`, `error`.

use chrono::{DateTime, Utc};
use deskbell_protocol::{Id, LoginRequest, LoginResponse, Me, SessionEndReason, User};
use sqlx::Row;
use std::net::IpAddr;
use std::time::Instant;
use tracing::Instrument;

use super::validate;
use crate::anonymous_limits::Throttled;
use crate::auth::{
    random_token, token_hash, verify_password_blocking, AuthFailure, AuthUser, Claims, TokenError,
    DUMMY_HASH,
};
use crate::error::{Limit, OpError, OpResult};
use crate::outbox::SessionEnd;
use crate::state::AppState;
use crate::store::{self, USER_COLUMNS};
use crate::writes::WriteTx;

/// Sign-in, throttled per account and per client address before any password is checked
/// (see `anonymous_limits`); every failure is logged with its reason and the address, never the
/// password.
pub async fn login(
    state: &AppState,
    req: LoginRequest,
    address: Option<IpAddr>,
) -> OpResult<LoginResponse> {
    if req.email.trim().is_empty() || req.password.is_empty() {
        return Err(OpError::validation("email and password are required"));
    }
    // The text rule only, not the full shape of an address: an account created before that
    // check existed must still be able to sign in. A NUL would be a 500 on PostgreSQL.
    validate::bounded(
        "email",
        req.email.trim(),
        validate::EMAIL_MAX,
        validate::Lines::Single,
    )?;
    let company_id = req
        .company_id
        .map(|id| validate::body_id("companyId", id))
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
        return Err(OpError::rate_limited(limit, wait));
    }
    if req.password.len() > 1024 {
        throttle.failed(&account, address, Instant::now());
        span.in_scope(|| {
            tracing::warn!(email = ?account, reason = "password over 1024 bytes", "sign-in failed")
        });
        return Err(OpError::InvalidCredentials);
    }
    let outcome = check_credentials(state, &req.email, &req.password, company_id)
        .instrument(span.clone())
        .await;
    match &outcome {
        Ok(_) => throttle.succeeded(&account),
        Err(OpError::InvalidCredentials) => {
            let failures = throttle.failed(&account, address, Instant::now());
            span.in_scope(|| tracing::debug!(failures, "failed sign-ins of this account in a row"));
        }
        Err(_) => {}
    }
    outcome
}

async fn store_refresh_token(
    state: &AppState,
    user: &User,
    family: &str,
    now: DateTime<Utc>,
) -> OpResult<String> {
    let token = random_token();
    let expires = now + chrono::Duration::from_std(state.keys.refresh_ttl).unwrap_or_default();
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, family_id, user_id, company_id, expires_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(token_hash(&token))
    .bind(family)
    .bind(user.id)
    .bind(user.company_id)
    .bind(store::ts(expires))
    .bind(store::ts(now))
    .execute(&state.db.pool)
    .await?;
    Ok(token)
}

async fn session_response(
    state: &AppState,
    user: User,
    family: &str,
    now: DateTime<Utc>,
) -> OpResult<LoginResponse> {
    let refresh_token = store_refresh_token(state, &user, family, now).await?;
    let company = store::company(&state.db.pool, user.company_id)
        .await?
        .ok_or(OpError::NotFound("company"))?;
    Ok(LoginResponse {
        access_token: state.keys.issue(&user, family, now),
        refresh_token,
        expires_in: state.keys.access_ttl.as_secs() as i64,
        user,
        company,
    })
}

/// At most this many accounts are tried for one sign-in, as each costs an argon2 check; an
/// address with more active accounts needs `companyId` to reach the others.
pub const LOGIN_CANDIDATES_MAX: usize = 5;

/// Checks an email and password, in `company_id` when given, and opens a session. Emails are unique per
/// company (docs/decisions/0002-…), so the password is checked against each active account
/// with that email: exactly one match signs in; several ask which workspace, naming the
/// matching companies only to someone whose password opened them; none is
/// `invalid_credentials`, as is an unknown email (after a check of the same cost).
async fn check_credentials(
    state: &AppState,
    email: &str,
    password: &str,
    company_id: Option<Id>,
) -> OpResult<LoginResponse> {
    let email = email.trim().to_lowercase();
    let candidates =
        store::login_candidates(&state.db.pool, &email, company_id, LOGIN_CANDIDATES_MAX).await?;
    if candidates.is_empty() {
        // Same cost as a real check, so timing does not reveal which emails exist.
        let _ =
            verify_password_blocking(&state.hash_gate, password.to_string(), DUMMY_HASH.clone())
                .await?;
        // Disabled accounts are not candidates.
        tracing::warn!(email = ?email, reason = "no such account (or disabled)", "sign-in failed");
        return Err(OpError::InvalidCredentials);
    }
    let mut matched = Vec::new();
    for (user, hash) in candidates {
        if verify_password_blocking(&state.hash_gate, password.to_string(), hash).await? {
            matched.push(user);
        }
    }
    let user = match matched.len() {
        0 => {
            tracing::warn!(email = ?email, reason = "wrong password", "sign-in failed");
            return Err(OpError::InvalidCredentials);
        }
        1 => matched.remove(0),
        _ => {
            tracing::info!(email = ?email, accounts = matched.len(), "sign-in needs a workspace");
            return Err(workspace_required(state, &matched).await?);
        }
    };
    let family = uuid::Uuid::new_v4().to_string();
    session_response(state, user, &family, Utc::now()).await
}

/// The answer when one email and password open accounts in several companies.
async fn workspace_required(state: &AppState, matched: &[User]) -> OpResult<OpError> {
    let mut workspaces = Vec::new();
    for user in matched {
        let company = store::company(&state.db.pool, user.company_id)
            .await?
            .ok_or(OpError::NotFound("company"))?;
        workspaces.push(format!("{} ({})", company.name, company.id));
    }
    Ok(OpError::WorkspaceRequired(format!(
        "this email and password open accounts in several workspaces; sign in again with \
         companyId set to one of: {}",
        workspaces.join(", ")
    )))
}

/// Rotates a refresh token. Presenting one that was already used revokes its whole family.
pub async fn refresh(state: &AppState, token: &str) -> OpResult<LoginResponse> {
    let now = Utc::now();
    let hash = token_hash(token);
    let rotated = sqlx::query(
        "UPDATE refresh_tokens SET used = 1
         WHERE token_hash = $1 AND used = 0 AND revoked = 0 AND expires_at > $2
         RETURNING user_id, family_id",
    )
    .bind(&hash)
    .bind(store::ts(now))
    .fetch_optional(&state.db.pool)
    .await?;
    let Some(row) = rotated else {
        let known = sqlx::query(
            "SELECT family_id, user_id, company_id, used, revoked FROM refresh_tokens WHERE token_hash = $1",
        )
        .bind(&hash)
        .fetch_optional(&state.db.pool)
        .await?;
        return Err(match known {
            None => OpError::Unauthorized("unknown refresh token".into()),
            Some(row) => {
                let family: String = row.try_get("family_id")?;
                let used: i64 = row.try_get("used")?;
                let revoked: i64 = row.try_get("revoked")?;
                if used != 0 && revoked == 0 {
                    let user_id: Id = row.try_get("user_id")?;
                    let company_id: Id = row.try_get("company_id")?;
                    let ending = Revocation {
                        user_id,
                        family,
                        reason: SessionEndReason::Revoked,
                    };
                    revoke_sessions(state, company_id, user_id, vec![ending]).await?;
                    tracing::warn!(user = user_id, "refresh token reuse; session revoked");
                    OpError::RefreshReused
                } else if revoked != 0 {
                    OpError::Unauthorized("this session has been signed out".into())
                } else {
                    OpError::Unauthorized("the refresh token has expired".into())
                }
            }
        });
    };
    let user_id: i64 = row.try_get("user_id")?;
    let family: String = row.try_get("family_id")?;
    let user = store::user(&state.db.pool, user_id)
        .await?
        .filter(|u| u.active)
        .ok_or_else(|| OpError::Unauthorized("the account is disabled".into()))?;
    session_response(state, user, &family, now).await
}

/// A session (refresh-token family) to revoke.
#[derive(Debug, Clone)]
pub struct Revocation {
    pub user_id: Id,
    pub family: String,
    pub reason: SessionEndReason,
}

/// Revokes sessions of one company and ends their live sockets, in one write of the company
/// (see `events`): REST refuses their tokens and their sockets receive nothing committed after
/// this.
pub async fn revoke_sessions(
    state: &AppState,
    company_id: Id,
    actor: Id,
    sessions: Vec<Revocation>,
) -> OpResult<()> {
    super::submit(state, company_id, actor, sessions, |w, sessions| {
        Box::pin(revoke_in(w, sessions))
    })
    .await?;
    state.sessions.invalidate();
    Ok(())
}

async fn revoke_in(w: &mut WriteTx, sessions: &[Revocation]) -> OpResult<()> {
    for ending in sessions {
        sqlx::query(
            "UPDATE refresh_tokens SET revoked = 1 WHERE family_id = $1 AND user_id = $2 AND company_id = $3",
        )
        .bind(&ending.family)
        .bind(ending.user_id)
        .bind(w.company_id)
        .execute(w.conn())
        .await?;
        w.end_sessions(SessionEnd {
            user_id: ending.user_id,
            session: Some(ending.family.clone()),
            reason: ending.reason,
        })?;
    }
    Ok(())
}

/// Revokes the caller's session, and the session of `refresh_token` if it is theirs.
pub async fn logout(
    state: &AppState,
    auth: &AuthUser,
    refresh_token: Option<&str>,
) -> OpResult<()> {
    let mut sessions = vec![Revocation {
        user_id: auth.user.id,
        family: auth.session.clone(),
        reason: SessionEndReason::SignedOut,
    }];
    if let Some(token) = refresh_token {
        let family = sqlx::query(
            "SELECT family_id FROM refresh_tokens WHERE token_hash = $1 AND user_id = $2",
        )
        .bind(token_hash(token))
        .bind(auth.user.id)
        .fetch_optional(&state.db.pool)
        .await?
        .map(|row| row.try_get::<String, _>("family_id"))
        .transpose()?;
        if let Some(family) = family.filter(|f| *f != auth.session) {
            sessions.push(Revocation {
                user_id: auth.user.id,
                family,
                reason: SessionEndReason::SignedOut,
            });
        }
    }
    revoke_sessions(state, auth.company_id(), auth.user.id, sessions).await
}

/// Checks an access token against the database: the user exists, is active, belongs to the
/// token's company and the session was not revoked.
pub async fn authenticate(state: &AppState, token: &str) -> Result<AuthUser, AuthFailure> {
    let claims = state.keys.verify(token).map_err(|e| match e {
        TokenError::Expired => AuthFailure::Expired,
        TokenError::Invalid => AuthFailure::Invalid,
    })?;
    let user_id = claims.user_id().ok_or(AuthFailure::Invalid)?;
    let now = Instant::now();
    if let Some(user) = state.sessions.get(user_id, &claims.sid, now) {
        return signed_in(user, claims);
    }
    let epoch = state.sessions.epoch();
    let user = live_session(state, user_id, &claims.sid).await?.user;
    state.sessions.remember(&user, &claims.sid, epoch, now);
    signed_in(user, claims)
}

/// A user and session as the database has them now (never the session cache).
pub struct LiveSession {
    pub user: User,
    /// The company seq from which this user may replay (see the users table's migration 0003).
    pub visible_from_seq: i64,
}

/// Reads the user and checks, in one query, that they are active and their session
/// (refresh-token family) is not revoked.
pub async fn live_session(
    state: &AppState,
    user_id: Id,
    session: &str,
) -> Result<LiveSession, AuthFailure> {
    let internal = |e: sqlx::Error| AuthFailure::Internal(e.to_string());
    let row = sqlx::query(&format!(
        "SELECT {USER_COLUMNS}, visible_from_seq,
                (SELECT COUNT(*) FROM refresh_tokens r WHERE r.family_id = $2 AND r.revoked = 0) AS live
         FROM users WHERE id = $1"
    ))
    .bind(user_id)
    .bind(session)
    .fetch_optional(&state.db.pool)
    .await
    .map_err(internal)?
    .ok_or(AuthFailure::Invalid)?;
    let live: i64 = row.try_get("live").map_err(internal)?;
    if live == 0 {
        return Err(AuthFailure::Revoked);
    }
    let user = store::user_from_row(&row).map_err(internal)?;
    if !user.active {
        return Err(AuthFailure::Inactive);
    }
    Ok(LiveSession {
        visible_from_seq: row.try_get("visible_from_seq").map_err(internal)?,
        user,
    })
}

fn signed_in(user: User, claims: Claims) -> Result<AuthUser, AuthFailure> {
    if user.company_id != claims.cid {
        return Err(AuthFailure::Invalid);
    }
    Ok(AuthUser {
        user,
        session: claims.sid,
    })
}

/// The caller and their company.
pub async fn me(state: &AppState, actor: &AuthUser) -> OpResult<Me> {
    let company = store::company(&state.db.pool, actor.company_id())
        .await?
        .ok_or(OpError::NotFound("company"))?;
    Ok(Me {
        user: actor.user.clone(),
        company,
    })
}
