//! Passwords (argon2), access tokens (HS256 JWT), refresh-token hashing, and the signed-in
//! member (`AuthUser`), the actor of every operation.
//!
//! Mechanisms only: signing in, refreshing and signing out, which read and write sessions,
//! are operations (`ops::account`). Dependencies: `anonymous_limits` (the hash gate), `error`,
//! the protocol; nothing here knows the server's state or HTTP.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use base64::Engine;
use chrono::{DateTime, Utc};
use deskbell_protocol::{Id, Role, User};
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::Duration;

use crate::anonymous_limits::HashGate;
use crate::error::{Limit, OpError, OpResult};

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
pub async fn hash_password_blocking(gate: &HashGate, password: String) -> OpResult<String> {
    gate.run(move || hash_password(&password))
        .await
        .map_err(|_| password_checks_busy())
}

pub async fn verify_password_blocking(
    gate: &HashGate,
    password: String,
    hash: String,
) -> OpResult<bool> {
    gate.run(move || verify_password(&password, &hash))
        .await
        .map_err(|_| password_checks_busy())
}

fn password_checks_busy() -> OpError {
    tracing::warn!("password check refused: too many under way");
    OpError::rate_limited(Limit::PasswordChecks, Duration::from_secs(1))
}

pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Refresh tokens are stored only as this hash.
pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
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

impl From<AuthFailure> for OpError {
    fn from(f: AuthFailure) -> OpError {
        match f {
            AuthFailure::Missing => {
                OpError::Unauthorized("sign in first (missing bearer token)".into())
            }
            AuthFailure::Invalid => OpError::Unauthorized("invalid access token".into()),
            AuthFailure::Expired => OpError::TokenExpired,
            AuthFailure::Revoked => {
                OpError::Unauthorized("this session has been signed out".into())
            }
            AuthFailure::Inactive => OpError::Unauthorized("the account is disabled".into()),
            AuthFailure::Internal(e) => OpError::Internal(e),
        }
    }
}

/// The signed-in member: who acts in an operation (see `ops`).
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

    pub fn require_admin(&self) -> OpResult<()> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(OpError::forbidden("only an admin can do this"))
        }
    }
}

/// A real hash of a throwaway password, so failures on unknown emails cost the same.
pub static DUMMY_HASH: std::sync::LazyLock<String> =
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
