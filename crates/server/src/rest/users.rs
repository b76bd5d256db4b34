//! Users: everyone in a company can list colleagues (names for assignees); admins manage them.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use deskbell_protocol::{Id, NewUser, Role, User, UserPatch};

use super::{email, required_text, ApiJson, ApiPath, Lines};
use crate::auth::{hash_password_blocking, AuthUser};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{self, user_from_row, USER_COLUMNS};

const PASSWORD_MIN: usize = 8;
const NAME_MAX: usize = 120;

fn valid_password(password: &str) -> ApiResult<()> {
    if password.chars().count() < PASSWORD_MIN {
        return Err(ApiError::validation(format!(
            "the password needs at least {PASSWORD_MIN} characters"
        )));
    }
    if password.len() > 1024 {
        return Err(ApiError::validation("the password is too long"));
    }
    Ok(())
}

pub async fn list(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<Vec<User>>> {
    Ok(Json(store::users(&state.db.pool, auth.company_id()).await?))
}

pub async fn create(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(new): ApiJson<NewUser>,
) -> ApiResult<(StatusCode, Json<User>)> {
    auth.require_admin()?;
    let name = required_text("name", &new.name, NAME_MAX, Lines::Single)?;
    let email = email("email", &new.email)?;
    valid_password(&new.password)?;
    let hash = hash_password_blocking(new.password).await?;
    let row = sqlx::query(&format!(
        "INSERT INTO users (company_id, name, email, password_hash, role, active, created_at)
         VALUES ($1, $2, $3, $4, $5, 1, $6) RETURNING {USER_COLUMNS}"
    ))
    .bind(auth.company_id())
    .bind(&name)
    .bind(&email)
    .bind(hash)
    .bind(new.role.as_str())
    .bind(store::ts(chrono::Utc::now()))
    .fetch_one(&state.db.pool)
    .await
    .map_err(|e| match ApiError::from(e) {
        // Emails are unique per company only: this says nothing about other companies.
        ApiError::Conflict { .. } => {
            ApiError::conflict(format!("{email} already has an account in this company"))
        }
        other => other,
    })?;
    Ok((StatusCode::CREATED, Json(user_from_row(&row)?)))
}

pub async fn update(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(id): ApiPath<Id>,
    ApiJson(patch): ApiJson<UserPatch>,
) -> ApiResult<Json<User>> {
    auth.require_admin()?;
    if patch == UserPatch::default() {
        return Err(ApiError::validation("nothing to change"));
    }
    let mut user = store::company_user(&state.db.pool, auth.company_id(), id)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    if id == auth.user.id && (patch.active == Some(false) || patch.role == Some(Role::Agent)) {
        return Err(ApiError::validation(
            "you cannot disable or demote yourself; ask another admin",
        ));
    }
    if let Some(name) = &patch.name {
        user.name = required_text("name", name, NAME_MAX, Lines::Single)?;
    }
    if let Some(role) = patch.role {
        user.role = role;
    }
    if let Some(active) = patch.active {
        user.active = active;
    }
    let hash = match patch.password {
        Some(p) => {
            valid_password(&p)?;
            Some(hash_password_blocking(p).await?)
        }
        None => None,
    };
    let mut tx = state.db.pool.begin().await?;
    sqlx::query(
        "UPDATE users SET name = $1, role = $2, active = $3 WHERE id = $4 AND company_id = $5",
    )
    .bind(&user.name)
    .bind(user.role.as_str())
    .bind(i64::from(user.active))
    .bind(id)
    .bind(auth.company_id())
    .execute(&mut *tx)
    .await?;
    if let Some(hash) = &hash {
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2 AND company_id = $3")
            .bind(hash)
            .bind(id)
            .bind(auth.company_id())
            .execute(&mut *tx)
            .await?;
    }
    if hash.is_some() || !user.active {
        // A new password or a disabled account ends every session of that user.
        sqlx::query("UPDATE refresh_tokens SET revoked = 1 WHERE user_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    // A new role, name, password or a disabled account applies to the user's next request.
    state.sessions.invalidate();
    Ok(Json(user))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_checked() {
        assert!(valid_password("short").is_err());
        assert!(valid_password("long enough").is_ok());
    }
}
