//! Comments: each one updates its ticket's preview, count and version in the same transaction.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use deskbell_protocol::{Comment, EventAction, Id, NewComment, Resource};
use sqlx::Row;

use super::tickets::preview;
use super::{required_text, ApiJson, ApiPath, Lines};
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{self, comment_from_row, COMMENT_COLUMNS};
use crate::visibility::visible_ticket;
use crate::visibility::Audience;
use crate::writes::WriteTx;

const BODY_MAX: usize = 20_000;

pub async fn list(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(ticket_id): ApiPath<Id>,
) -> ApiResult<Json<Vec<Comment>>> {
    let mut conn = state.db.pool.acquire().await?;
    visible_ticket(&mut conn, &auth.user, ticket_id).await?;
    Ok(Json(
        store::comments(&mut *conn, auth.company_id(), ticket_id).await?,
    ))
}

pub async fn create(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(ticket_id): ApiPath<Id>,
    ApiJson(new): ApiJson<NewComment>,
) -> ApiResult<(StatusCode, Json<Comment>)> {
    let body = required_text("body", &new.body, BODY_MAX, Lines::Multi)?;
    state.count_write(auth.company_id(), auth.user.id).await?;
    let comment = state
        .write(
            &auth,
            (auth.clone(), ticket_id, body),
            |w, (auth, ticket_id, body)| Box::pin(add_comment(w, auth, *ticket_id, body)),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(comment)))
}

async fn add_comment(
    w: &mut WriteTx,
    auth: &AuthUser,
    ticket_id: Id,
    body: &str,
) -> ApiResult<Comment> {
    visible_ticket(w.conn(), &auth.user, ticket_id).await?;
    let now = store::ts(w.now);
    let row = sqlx::query(&format!(
        "INSERT INTO comments (company_id, ticket_id, author_id, body, created_at)
         VALUES ($1, $2, $3, $4, $5) RETURNING {COMMENT_COLUMNS}"
    ))
    .bind(auth.company_id())
    .bind(ticket_id)
    .bind(auth.user.id)
    .bind(body)
    .bind(&now)
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
    .bind(auth.company_id())
    .execute(w.conn())
    .await?;
    let ticket = w.ticket(ticket_id).await?;
    let mut event = w.envelope(EventAction::Create);
    event.comment = Some(comment.clone());
    event.ticket = Some(ticket.clone());
    w.record(Resource::Comment, Audience::of_ticket(&ticket), event)?;
    Ok(comment)
}

pub async fn remove(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(id): ApiPath<Id>,
) -> ApiResult<StatusCode> {
    state.count_write(auth.company_id(), auth.user.id).await?;
    state
        .write(&auth, (auth.clone(), id), |w, (auth, id)| {
            Box::pin(delete_comment(w, auth, *id))
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_comment(w: &mut WriteTx, auth: &AuthUser, id: Id) -> ApiResult<()> {
    let row = sqlx::query(&format!(
        "SELECT {COMMENT_COLUMNS} FROM comments WHERE id = $1 AND company_id = $2"
    ))
    .bind(id)
    .bind(auth.company_id())
    .fetch_optional(w.conn())
    .await?
    .ok_or(ApiError::NotFound("comment"))?;
    let comment = comment_from_row(&row)?;
    visible_ticket(w.conn(), &auth.user, comment.ticket_id)
        .await
        .map_err(|_| ApiError::NotFound("comment"))?;
    if comment.author_id != auth.user.id && !auth.is_admin() {
        return Err(ApiError::forbidden(
            "only the author or an admin can delete a comment",
        ));
    }
    sqlx::query("DELETE FROM comments WHERE id = $1 AND company_id = $2")
        .bind(id)
        .bind(auth.company_id())
        .execute(w.conn())
        .await?;
    let latest: Option<String> = sqlx::query(
        "SELECT body FROM comments WHERE ticket_id = $1 AND company_id = $2 ORDER BY id DESC LIMIT 1",
    )
    .bind(comment.ticket_id)
    .bind(auth.company_id())
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
    .bind(auth.company_id())
    .execute(w.conn())
    .await?;
    let ticket = w.ticket(comment.ticket_id).await?;
    let mut event = w.envelope(EventAction::Delete);
    event.comment = Some(comment);
    event.ticket = Some(ticket.clone());
    w.record(Resource::Comment, Audience::of_ticket(&ticket), event)
}
