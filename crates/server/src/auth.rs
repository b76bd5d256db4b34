//! Passwords (argon2), access tokens (HS256 JWT) and rotating refresh tokens.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::Engine;
use chrono::{DateTime, Utc};
use deskbell_protocol::{Id, LoginResponse, Role, SessionEndReason, User};
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::time::{Duration, Instant};

use crate::error::{ApiError, ApiResult, Limit};
use crate::events::SessionEnd;
use crate::state::AppState;
use crate::store::{self, USER_COLUMNS};
use crate::writes::WriteTx;

/// Claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// User id, as a string (JWT convention).
    pub sub: String,
    /// Company id.
    pub cid: Id,
    pub role: String,
    /// Session (refresh token family) id; logout revokes it.
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
}

impl Claims {
    pub fn user_id(&self) -> Option<Id> {
        self.sub.parse().ok()
    }
}

/// Why an access token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token expired")]
    Expired,
    #[error("token invalid")]
    Invalid,
}

pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
}

impl TokenKeys {
    pub fn new(secret: &[u8], access_ttl: Duration, refresh_ttl: Duration) -> TokenKeys {
        TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            access_ttl,
            refresh_ttl,
        }
    }

    pub fn issue(&self, user: &User, session: &str, now: DateTime<Utc>) -> String {
        let claims = Claims {
            sub: user.id.to_string(),
            cid: user.company_id,
            role: user.role.as_str().to_string(),
            sid: session.to_string(),
            iat: now.timestamp(),
            exp: now.timestamp() + self.access_ttl.as_secs() as i64,
        };
        jsonwebtoken::encode(&Header::default(), &claims, &self.encoding)
            .expect("HS256 encoding cannot fail")
    }

    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let mut validation = Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map(|d| d.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })
    }
}

pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashing with default params cannot fail")
        .to_string()
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Argon2 is deliberately slow: off the async workers, and through the server's gate (see
/// `anonymous_limits`), which refuses at once when too many hashes are under way.
pub async fn hash_password_blocking(state: &AppState, password: String) -> ApiResult<String> {
    state
        .hash_gate
        .run(move || hash_password(&password))
        .await
        .map_err(|_| password_checks_busy())
}

async fn verify_password_blocking(
    state: &AppState,
    password: String,
    hash: String,
) -> ApiResult<bool> {
    state
        .hash_gate
        .run(move || verify_password(&password, &hash))
        .await
        .map_err(|_| password_checks_busy())
}

fn password_checks_busy() -> ApiError {
    tracing::warn!("password check refused: too many under way");
    ApiError::rate_limited(Limit::PasswordChecks, Duration::from_secs(1))
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Refresh tokens are stored only as this hash.
fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

async fn store_refresh_token(
    state: &AppState,
    user: &User,
    family: &str,
    now: DateTime<Utc>,
) -> ApiResult<String> {
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
) -> ApiResult<LoginResponse> {
    let refresh_token = store_refresh_token(state, &user, family, now).await?;
    let company = store::company(&state.db.pool, user.company_id)
        .await?
        .ok_or(ApiError::NotFound("company"))?;
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

/// Signs in with an email and password, in `company_id` when given. Emails are unique per
/// company (docs/decisions/0002-…), so the password is checked against each active account
/// with that email: exactly one match signs in; several ask which workspace, naming the
/// matching companies only to someone whose password opened them; none is
/// `invalid_credentials`, as is an unknown email (after a check of the same cost).
pub async fn login(
    state: &AppState,
    email: &str,
    password: &str,
    company_id: Option<Id>,
) -> ApiResult<LoginResponse> {
    let email = email.trim().to_lowercase();
    let candidates =
        store::login_candidates(&state.db.pool, &email, company_id, LOGIN_CANDIDATES_MAX).await?;
    if candidates.is_empty() {
        // Same cost as a real check, so timing does not reveal which emails exist.
        let _ = verify_password_blocking(state, password.to_string(), DUMMY_HASH.clone()).await?;
        // Disabled accounts are not candidates.
        tracing::warn!(email = ?email, reason = "no such account (or disabled)", "sign-in failed");
        return Err(ApiError::InvalidCredentials);
    }
    let mut matched = Vec::new();
    for (user, hash) in candidates {
        if verify_password_blocking(state, password.to_string(), hash).await? {
            matched.push(user);
        }
    }
    let user = match matched.len() {
        0 => {
            tracing::warn!(email = ?email, reason = "wrong password", "sign-in failed");
            return Err(ApiError::InvalidCredentials);
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
async fn workspace_required(state: &AppState, matched: &[User]) -> ApiResult<ApiError> {
    let mut workspaces = Vec::new();
    for user in matched {
        let company = store::company(&state.db.pool, user.company_id)
            .await?
            .ok_or(ApiError::NotFound("company"))?;
        workspaces.push(format!("{} ({})", company.name, company.id));
    }
    Ok(ApiError::WorkspaceRequired(format!(
        "this email and password open accounts in several workspaces; sign in again with \
         companyId set to one of: {}",
        workspaces.join(", ")
    )))
}

/// Rotates a refresh token. Presenting one that was already used revokes its whole family.
pub async fn refresh(state: &AppState, token: &str) -> ApiResult<LoginResponse> {
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
            None => ApiError::Unauthorized("unknown refresh token".into()),
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
                    ApiError::RefreshReused
                } else if revoked != 0 {
                    ApiError::Unauthorized("this session has been signed out".into())
                } else {
                    ApiError::Unauthorized("the refresh token has expired".into())
                }
            }
        });
    };
    let user_id: i64 = row.try_get("user_id")?;
    let family: String = row.try_get("family_id")?;
    let user = store::user(&state.db.pool, user_id)
        .await?
        .filter(|u| u.active)
        .ok_or_else(|| ApiError::Unauthorized("the account is disabled".into()))?;
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
) -> ApiResult<()> {
    state
        .hub
        .writer(company_id)
        .submit(actor, sessions, |w, sessions| {
            Box::pin(revoke_in(w, sessions))
        })
        .await?;
    state.sessions.invalidate();
    Ok(())
}

async fn revoke_in(w: &mut WriteTx, sessions: &[Revocation]) -> ApiResult<()> {
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
) -> ApiResult<()> {
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    Missing,
    Invalid,
    Expired,
    Revoked,
    Inactive,
    Internal(String),
}

impl From<AuthFailure> for ApiError {
    fn from(f: AuthFailure) -> ApiError {
        match f {
            AuthFailure::Missing => {
                ApiError::Unauthorized("sign in first (missing bearer token)".into())
            }
            AuthFailure::Invalid => ApiError::Unauthorized("invalid access token".into()),
            AuthFailure::Expired => ApiError::TokenExpired,
            AuthFailure::Revoked => {
                ApiError::Unauthorized("this session has been signed out".into())
            }
            AuthFailure::Inactive => ApiError::Unauthorized("the account is disabled".into()),
            AuthFailure::Internal(e) => ApiError::Internal(e),
        }
    }
}

/// The signed-in caller of a REST request.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user: User,
    pub session: String,
}

impl AuthUser {
    pub fn company_id(&self) -> Id {
        self.user.company_id
    }

    pub fn is_admin(&self) -> bool {
        self.user.role == Role::Admin
    }

    pub fn require_admin(&self) -> ApiResult<()> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::forbidden("only an admin can do this"))
        }
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(AuthFailure::Missing)?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or(AuthFailure::Missing)?;
        Ok(authenticate(state, token.trim()).await?)
    }
}

/// A real hash of a throwaway password, so failures on unknown emails cost the same.
static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash_password("no such user"));

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        User {
            id: 7,
            company_id: 3,
            name: "A".into(),
            email: "a@x.test".into(),
            role: Role::Agent,
            active: true,
        }
    }

    #[test]
    fn tokens_round_trip_and_expire() {
        let keys = TokenKeys::new(b"secret", Duration::from_secs(60), Duration::from_secs(600));
        let now = Utc::now();
        let token = keys.issue(&user(), "fam", now);
        let claims = keys.verify(&token).unwrap();
        assert_eq!(claims.user_id(), Some(7));
        assert_eq!(claims.cid, 3);
        assert_eq!(claims.sid, "fam");
        let old = keys.issue(&user(), "fam", now - chrono::Duration::seconds(120));
        assert_eq!(keys.verify(&old).unwrap_err(), TokenError::Expired);
        let other = TokenKeys::new(b"other", Duration::from_secs(60), Duration::from_secs(600));
        assert_eq!(other.verify(&token).unwrap_err(), TokenError::Invalid);
        assert_eq!(keys.verify("garbage").unwrap_err(), TokenError::Invalid);
    }

    #[test]
    fn passwords_verify_only_with_the_right_one() {
        let hash = hash_password("correct horse");
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong", &hash));
        assert!(!verify_password("x", "not a hash"));
        assert!(!verify_password("x", &DUMMY_HASH));
    }

    #[test]
    fn refresh_tokens_are_random_and_hashed() {
        let a = random_token();
        assert_ne!(a, random_token());
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), a);
    }
}
