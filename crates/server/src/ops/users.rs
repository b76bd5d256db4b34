//! Members: everyone in a company can list colleagues (names for assignees); admins add and
//! change them.
//!
//! Dependencies: `validate`, `outbox` (session ends), `writes`, `store`, `auth`, `state`,
//! `error`.

use deskbell_protocol::{Id, Member, NewUser, Role, SessionEndReason, User, UserPatch};

use super::validate::{email, required_text, Lines};
use crate::auth::{hash_password_blocking, AuthUser};
use crate::error::{OpError, OpResult};
use crate::outbox::SessionEnd;
use crate::state::AppState;
use crate::store::{self, user_from_row, USER_COLUMNS};
use crate::writes::WriteTx;

const PASSWORD_MIN: usize = 8;
const NAME_MAX: usize = 120;

fn valid_password(password: &str) -> OpResult<()> {
    if password.chars().count() < PASSWORD_MIN {
        return Err(OpError::validation(format!(
            "the password needs at least {PASSWORD_MIN} characters"
        )));
    }
    if password.len() > 1024 {
        return Err(OpError::validation("the password is too long"));
    }
    Ok(())
}

/// The company's members, by id (everyone may list colleagues: names for assignees).
pub async fn list(state: &AppState, actor: &AuthUser) -> OpResult<Vec<User>> {
    Ok(store::users(&state.db.pool, actor.company_id()).await?)
}

/// The company's members as every member may see them (`GET /api/members`): active and
/// disabled, by id, without e-mail addresses.
pub async fn members(state: &AppState, actor: &AuthUser) -> OpResult<Vec<Member>> {
    Ok(store::users(&state.db.pool, actor.company_id())
        .await?
        .into_iter()
        .map(|u| Member {
            id: u.id,
            name: u.name,
            role: u.role,
            active: u.active,
        })
        .collect())
}

/// Adds a member to the company (admins only).
pub async fn create(state: &AppState, actor: &AuthUser, new: NewUser) -> OpResult<User> {
    actor.require_admin()?;
    let name = required_text("name", &new.name, NAME_MAX, Lines::Single)?;
    let email = email("email", &new.email)?;
    valid_password(&new.password)?;
    let hash = hash_password_blocking(&state.hash_gate, new.password).await?;
    let row = sqlx::query(&format!(
        "INSERT INTO users (company_id, name, email, password_hash, role, active, created_at, visible_from_seq)
         VALUES ($1, $2, $3, $4, $5, 1, $6, (SELECT event_seq FROM companies WHERE id = $1))
         RETURNING {USER_COLUMNS}"
    ))
    .bind(actor.company_id())
    .bind(&name)
    .bind(&email)
    .bind(hash)
    .bind(new.role.as_str())
    .bind(store::ts(chrono::Utc::now()))
    .fetch_one(&state.db.pool)
    .await
    .map_err(|e| match OpError::from(e) {
        // Emails are unique per company only: this says nothing about other companies.
        OpError::Conflict { .. } => {
            OpError::conflict(format!("{email} already has an account in this company"))
        }
        other => other,
    })?;
    Ok(user_from_row(&row)?)
}

/// Changes a member (admins only): name, role, active, password. Disabling an account or a
/// new password ends the member's sessions; a new role ends their sockets (see
/// `ends_sessions`).
pub async fn update(
    state: &AppState,
    actor: &AuthUser,
    id: Id,
    patch: UserPatch,
) -> OpResult<User> {
    actor.require_admin()?;
    if patch == UserPatch::default() {
        return Err(OpError::validation("nothing to change"));
    }
    // Checked here so that a refusal costs no hashing; the change itself is applied to the
    // member as the write finds them.
    store::company_user(&state.db.pool, actor.company_id(), id)
        .await?
        .ok_or(OpError::NotFound("user"))?;
    if id == actor.user.id && (patch.active == Some(false) || patch.role == Some(Role::Agent)) {
        return Err(OpError::validation(
            "you cannot disable or demote yourself; ask another admin",
        ));
    }
    let name = match &patch.name {
        Some(name) => Some(required_text("name", name, NAME_MAX, Lines::Single)?),
        None => None,
    };
    let hash = match patch.password {
        Some(p) => {
            valid_password(&p)?;
            Some(hash_password_blocking(&state.hash_gate, p).await?)
        }
        None => None,
    };
    let change = UserChange {
        id,
        name,
        role: patch.role,
        active: patch.active,
        hash,
    };
    let user = super::write(state, actor, change, |w, change| {
        Box::pin(apply_user_change(w, change))
    })
    .await?;
    // A new role, name, password or a disabled account applies to the user's next request.
    state.sessions.invalidate();
    Ok(user)
}

/// An admin's change to a member, checked and ready to write.
struct UserChange {
    id: Id,
    name: Option<String>,
    role: Option<Role>,
    active: Option<bool>,
    /// The new password's hash.
    hash: Option<String>,
}

/// Why a change to a member ends their sessions: a disabled account or a new password ends
/// them for good (their refresh tokens are revoked); a new role ends their sockets, which
/// reconnect with the new role's rooms and visibility.
fn ends_sessions(before: &User, after: &User, new_password: bool) -> Option<SessionEndReason> {
    if before.active && !after.active {
        Some(SessionEndReason::Deactivated)
    } else if new_password {
        Some(SessionEndReason::PasswordChanged)
    } else if before.role != after.role {
        Some(SessionEndReason::RoleChanged)
    } else {
        None
    }
}

async fn apply_user_change(w: &mut WriteTx, change: &UserChange) -> OpResult<User> {
    let company_id = w.company_id;
    let before = store::company_user(w.conn(), company_id, change.id)
        .await?
        .ok_or(OpError::NotFound("user"))?;
    let mut user = before.clone();
    if let Some(name) = &change.name {
        user.name = name.clone();
    }
    if let Some(role) = change.role {
        user.role = role;
    }
    if let Some(active) = change.active {
        user.active = active;
    }
    sqlx::query(
        "UPDATE users SET name = $1, role = $2, active = $3 WHERE id = $4 AND company_id = $5",
    )
    .bind(&user.name)
    .bind(user.role.as_str())
    .bind(i64::from(user.active))
    .bind(user.id)
    .bind(w.company_id)
    .execute(w.conn())
    .await?;
    if let Some(hash) = &change.hash {
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2 AND company_id = $3")
            .bind(hash)
            .bind(user.id)
            .bind(w.company_id)
            .execute(w.conn())
            .await?;
    }
    if change.hash.is_some() || !user.active {
        // A new password or a disabled account ends every session of that user.
        sqlx::query("UPDATE refresh_tokens SET revoked = 1 WHERE user_id = $1 AND company_id = $2")
            .bind(user.id)
            .bind(w.company_id)
            .execute(w.conn())
            .await?;
    }
    if let Some(reason) = ends_sessions(&before, &user, change.hash.is_some()) {
        w.end_sessions(SessionEnd {
            user_id: user.id,
            session: None,
            reason,
        })?;
    }
    if before.role != user.role {
        // Events logged before now had their audience decided for the old role: replaying
        // them to the new one could show what it may no longer see (or miss what it now may).
        sqlx::query("UPDATE users SET visible_from_seq = $1 WHERE id = $2 AND company_id = $3")
            .bind(w.head())
            .bind(user.id)
            .bind(w.company_id)
            .execute(w.conn())
            .await?;
    }
    Ok(user)
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
