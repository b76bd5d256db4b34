//! Comments: each one updates its ticket's preview, count and version in the same transaction.
//!
//! Dependencies: `tickets` (the preview), `validate`, `visibility`, `writes`, `store`, `auth`,
//! `state`, `error`.

use deskbell_protocol::{Comment, EventAction, Id, NewComment, Resource};
use sqlx::Row;

use super::tickets::preview;
use super::validate::{required_text, Lines};
use crate::auth::AuthUser;
use crate::error::{OpError, OpResult};
use crate::state::AppState;
use crate::store::{self, comment_from_row, COMMENT_COLUMNS};
use crate::visibility::{visible_ticket, Audience};
use crate::writes::WriteTx;

const BODY_MAX: usize = 20_000;

/// The comments of a ticket `actor` sees, oldest first.
pub async fn list(state: &AppState, actor: &AuthUser, ticket_id: Id) -> OpResult<Vec<Comment>> {
    let mut conn = state.db.pool.acquire().await?;
    visible_ticket(&mut conn, &actor.user, ticket_id).await?;
    Ok(store::comments(&mut *conn, actor.company_id(), ticket_id).await?)
}

/// Comments on a ticket `actor` sees.
pub async fn create(
    state: &AppState,
    actor: &AuthUser,
    ticket_id: Id,
    new: NewComment,
) -> OpResult<Comment> {
    let body = required_text("body", &new.body, BODY_MAX, Lines::Multi)?;
    state.count_write(actor.company_id(), actor.user.id).await?;
    super::write(
        state,
        actor,
        (actor.clone(), ticket_id, body, new.from_requester),
        |w, (actor, ticket_id, body, from_requester)| {
            Box::pin(add_comment(w, actor, *ticket_id, body, *from_requester))
        },
    )
    .await
}

async fn add_comment(
    w: &mut WriteTx,
    actor: &AuthUser,
    ticket_id: Id,
    body: &str,
    from_requester: bool,
) -> OpResult<Comment> {
    visible_ticket(w.conn(), &actor.user, ticket_id).await?;
    let now = store::ts(w.now);
    let row = sqlx::query(&format!(
        "INSERT INTO comments (company_id, ticket_id, author_id, body, created_at, from_requester)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COMMENT_COLUMNS}"
    ))
    .bind(actor.company_id())
    .bind(ticket_id)
    .bind(actor.user.id)
    .bind(body)
    .bind(&now)
    .bind(i64::from(from_requester))
    .fetch_one(w.conn())
    .await?;
    let comment = comment_from_row(&row)?;
    sqlx::query(
        "UPDATE tickets SET last_message = $1, comment_count = comment_count + 1, updated_at = $2,
            version = version + 1 WHERE id = $3 AND company_id = $4",
    )
    .bind(preview(body))
    .bind(&now)
    .bind(ticket_id)
    .bind(actor.company_id())
    .execute(w.conn())
    .await?;
    let ticket = w.ticket(ticket_id).await?;
    let mut event = w.envelope(EventAction::Create);
    event.comment = Some(comment.clone());
    event.ticket = Some(ticket.clone());
    w.record(Resource::Comment, Audience::of_ticket(&ticket), event)?;
    Ok(comment)
}

/// Deletes a comment: its author or an admin, on a ticket they see.
pub async fn delete(state: &AppState, actor: &AuthUser, id: Id) -> OpResult<()> {
    state.count_write(actor.company_id(), actor.user.id).await?;
    super::write(state, actor, (actor.clone(), id), |w, (actor, id)| {
        Box::pin(delete_comment(w, actor, *id))
    })
    .await
}

async fn delete_comment(w: &mut WriteTx, actor: &AuthUser, id: Id) -> OpResult<()> {
    let row = sqlx::query(&format!(
        "SELECT {COMMENT_COLUMNS} FROM comments WHERE id = $1 AND company_id = $2"
    ))
    .bind(id)
    .bind(actor.company_id())
    .fetch_optional(w.conn())
    .await?
    .ok_or(OpError::NotFound("comment"))?;
    let comment = comment_from_row(&row)?;
    visible_ticket(w.conn(), &actor.user, comment.ticket_id)
        .await
        .map_err(|_| OpError::NotFound("comment"))?;
    if comment.author_id != actor.user.id && !actor.is_admin() {
        return Err(OpError::forbidden(
            "only the author or an admin can delete a comment",
        ));
    }
    sqlx::query("DELETE FROM comments WHERE id = $1 AND company_id = $2")
        .bind(id)
        .bind(actor.company_id())
        .execute(w.conn())
        .await?;
    let latest: Option<String> = sqlx::query(
        "SELECT body FROM comments WHERE ticket_id = $1 AND company_id = $2 ORDER BY id DESC LIMIT 1",
    )
    .bind(comment.ticket_id)
    .bind(actor.company_id())
    .fetch_optional(w.conn())
    .await?
    .map(|r| r.try_get("body"))
    .transpose()?;
    sqlx::query(
        "UPDATE tickets SET last_message = $1, comment_count = comment_count - 1, updated_at = $2,
            version = version + 1 WHERE id = $3 AND company_id = $4",
    )
    .bind(latest.as_deref().map(preview))
    .bind(store::ts(w.now))
    .bind(comment.ticket_id)
    .bind(actor.company_id())
    .execute(w.conn())
    .await?;
    let ticket = w.ticket(comment.ticket_id).await?;
    let mut event = w.envelope(EventAction::Delete);
    event.comment = Some(comment);
    event.ticket = Some(ticket.clone());
    w.record(Resource::Comment, Audience::of_ticket(&ticket), event)
}
