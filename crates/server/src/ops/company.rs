//! The company's settings: every member reads them, admins change them.
//!
//! Changing `escalate_after_minutes` re-arms every open, unacknowledged urgent episode in the
//! same transaction: its timer becomes `urgent_since` + the new minutes (possibly already
//! past: the next check escalates it), so the new setting applies to tickets already waiting,
//! never twice to one episode (see `escalation`).
//!
//! Dependencies: `writes`, `store`, `auth`, `state`, `error`.

use deskbell_protocol::{Company, CompanyPatch, Id};
use sqlx::Row;

use crate::auth::AuthUser;
use crate::error::{OpError, OpResult};
use crate::state::AppState;
use crate::store;
use crate::writes::WriteTx;

/// `escalate_after_minutes`' bounds: a minute to a day.
pub const ESCALATE_AFTER_MINUTES: std::ops::RangeInclusive<i64> = 1..=1440;

/// The actor's company.
pub async fn get(state: &AppState, actor: &AuthUser) -> OpResult<Company> {
    store::company(&state.db.pool, actor.company_id())
        .await?
        .ok_or(OpError::NotFound("company"))
}

/// Changes the company's settings (admins only).
pub async fn patch(state: &AppState, actor: &AuthUser, patch: CompanyPatch) -> OpResult<Company> {
    actor.require_admin()?;
    if let Some(minutes) = patch.escalate_after_minutes {
        if !ESCALATE_AFTER_MINUTES.contains(&minutes) {
            return Err(OpError::validation(format!(
                "escalateAfterMinutes must be from {} to {}",
                ESCALATE_AFTER_MINUTES.start(),
                ESCALATE_AFTER_MINUTES.end()
            )));
        }
    }
    state.count_write(actor.company_id(), actor.user.id).await?;
    super::write(state, actor, patch, |w, patch| {
        Box::pin(update_company(w, patch))
    })
    .await
}

async fn update_company(w: &mut WriteTx, patch: &CompanyPatch) -> OpResult<Company> {
    let company_id = w.company_id;
    if let Some(minutes) = patch.escalate_after_minutes {
        sqlx::query("UPDATE companies SET escalate_after_minutes = $1 WHERE id = $2")
            .bind(minutes)
            .bind(company_id)
            .execute(w.conn())
            .await?;
        // Armed timers are exactly the open unacknowledged episodes (see `ops::tickets`).
        let armed: Vec<(Id, Option<String>)> = sqlx::query(
            "SELECT id, urgent_since FROM tickets WHERE company_id = $1 AND escalate_due_at IS NOT NULL",
        )
        .bind(company_id)
        .fetch_all(w.conn())
        .await?
        .iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("urgent_since")?)))
        .collect::<Result<_, sqlx::Error>>()?;
        for (id, since) in armed {
            let Some(since) = since else { continue };
            let since = chrono::DateTime::parse_from_rfc3339(&since)
                .map_err(|e| OpError::Internal(format!("bad urgent_since {since:?}: {e}")))?
                .with_timezone(&chrono::Utc);
            let due = since + chrono::Duration::minutes(minutes);
            sqlx::query(
                "UPDATE tickets SET escalate_due_at = $1 WHERE id = $2 AND company_id = $3",
            )
            .bind(store::ts(due))
            .bind(id)
            .bind(company_id)
            .execute(w.conn())
            .await?;
        }
    }
    store::company(w.conn(), company_id)
        .await?
        .ok_or(OpError::NotFound("company"))
}
