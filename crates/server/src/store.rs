//! Row mapping and read queries. Every query that takes a company id filters by it.
//!
//! No rule of who may see what lives here: reads that depend on the viewer are in
//! `visibility`. Dependencies: the protocol and sqlx only.

use chrono::{DateTime, SecondsFormat, Utc};
use deskbell_protocol::{
    Attachment, Comment, Company, Id, Lane, Priority, Requester, Role, Ticket, TicketStatus, User,
};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Executor, Row};

/// Timestamps are stored as fixed-width RFC 3339 text, so they sort as text on both backends.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_ts(s: &str) -> Result<DateTime<Utc>, sqlx::Error> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| sqlx::Error::Decode(format!("bad timestamp {s:?}: {e}").into()))
}

fn optional_ts(row: &AnyRow, column: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    row.try_get::<Option<String>, _>(column)?
        .map(|s| parse_ts(&s))
        .transpose()
}

fn decode_err(what: &str, value: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("bad {what} {value:?}").into())
}

pub const USER_COLUMNS: &str = "id, company_id, name, email, role, active";

pub fn user_from_row(row: &AnyRow) -> Result<User, sqlx::Error> {
    let role: String = row.try_get("role")?;
    Ok(User {
        id: row.try_get("id")?,
        company_id: row.try_get("company_id")?,
        name: row.try_get("name")?,
        email: row.try_get("email")?,
        role: Role::parse(&role).ok_or_else(|| decode_err("role", &role))?,
        active: row.try_get::<i64, _>("active")? != 0,
    })
}

pub const TICKET_COLUMNS: &str = "id, company_id, title, requester_name, requester_contact, status, priority, \
     assignee_id, creator_id, lane_id, last_message, comment_count, created_at, updated_at, version, \
     urgent_since, urgent_by, acknowledged_by, acknowledged_at";

pub fn ticket_from_row(row: &AnyRow) -> Result<Ticket, sqlx::Error> {
    let status: String = row.try_get("status")?;
    let priority: String = row.try_get("priority")?;
    Ok(Ticket {
        id: row.try_get("id")?,
        company_id: row.try_get("company_id")?,
        title: row.try_get("title")?,
        requester: Requester {
            name: row.try_get("requester_name")?,
            contact: row.try_get("requester_contact")?,
        },
        status: TicketStatus::parse(&status).ok_or_else(|| decode_err("status", &status))?,
        priority: Priority::parse(&priority).ok_or_else(|| decode_err("priority", &priority))?,
        assignee_id: row.try_get("assignee_id")?,
        creator_id: row.try_get("creator_id")?,
        lane_id: row.try_get("lane_id")?,
        last_message: row.try_get("last_message")?,
        comment_count: row.try_get("comment_count")?,
        created_at: parse_ts(&row.try_get::<String, _>("created_at")?)?,
        updated_at: parse_ts(&row.try_get::<String, _>("updated_at")?)?,
        version: row.try_get("version")?,
        urgent_since: optional_ts(row, "urgent_since")?,
        urgent_by: row.try_get("urgent_by")?,
        acknowledged_by: row.try_get("acknowledged_by")?,
        acknowledged_at: optional_ts(row, "acknowledged_at")?,
    })
}

pub const LANE_COLUMNS: &str = "id, company_id, name, color, position";

pub fn lane_from_row(row: &AnyRow) -> Result<Lane, sqlx::Error> {
    Ok(Lane {
        id: row.try_get("id")?,
        company_id: row.try_get("company_id")?,
        name: row.try_get("name")?,
        color: row.try_get("color")?,
        position: row.try_get("position")?,
    })
}

pub const COMMENT_COLUMNS: &str = "id, ticket_id, author_id, body, created_at, from_requester";

pub fn comment_from_row(row: &AnyRow) -> Result<Comment, sqlx::Error> {
    Ok(Comment {
        id: row.try_get("id")?,
        ticket_id: row.try_get("ticket_id")?,
        author_id: row.try_get("author_id")?,
        body: row.try_get("body")?,
        created_at: parse_ts(&row.try_get::<String, _>("created_at")?)?,
        from_requester: row.try_get::<i64, _>("from_requester")? != 0,
    })
}

pub const ATTACHMENT_COLUMNS: &str =
    "id, ticket_id, name, size, content_type, uploaded_by, created_at, storage_key";

pub fn attachment_from_row(row: &AnyRow) -> Result<(Attachment, String), sqlx::Error> {
    Ok((
        Attachment {
            id: row.try_get("id")?,
            ticket_id: row.try_get("ticket_id")?,
            name: row.try_get("name")?,
            size: row.try_get("size")?,
            content_type: row.try_get("content_type")?,
            uploaded_by: row.try_get("uploaded_by")?,
            created_at: parse_ts(&row.try_get::<String, _>("created_at")?)?,
        },
        row.try_get("storage_key")?,
    ))
}

pub async fn company<'e, E: Executor<'e, Database = sqlx::Any>>(
    db: E,
    id: Id,
) -> Result<Option<Company>, sqlx::Error> {
    let row = sqlx::query("SELECT id, name, escalate_after_minutes FROM companies WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await?;
    row.map(|r| {
        Ok(Company {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            escalate_after_minutes: r.try_get("escalate_after_minutes")?,
        })
    })
    .transpose()
}

pub async fn user<'e, E: Executor<'e, Database = sqlx::Any>>(
    db: E,
    id: Id,
) -> Result<Option<User>, sqlx::Error> {
    sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(user_from_row)
        .transpose()
}

pub async fn company_user<'e, E: Executor<'e, Database = sqlx::Any>>(
    db: E,
    company_id: Id,
    id: Id,
) -> Result<Option<User>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE id = $1 AND company_id = $2"
    ))
    .bind(id)
    .bind(company_id)
    .fetch_optional(db)
    .await?
    .as_ref()
    .map(user_from_row)
    .transpose()
}

/// The active accounts with this email, each with its password hash, oldest first and at
/// most `limit` of them: in every company, or in `company_id` only. Emails are unique per
/// company, so one address may have accounts in several (docs/decisions/0002-…).
pub async fn login_candidates<'e, E: Executor<'e, Database = sqlx::Any>>(
    db: E,
    email: &str,
    company_id: Option<Id>,
    limit: usize,
) -> Result<Vec<(User, String)>, sqlx::Error> {
    let in_company = if company_id.is_some() {
        "AND company_id = $2"
    } else {
        ""
    };
    let sql = format!(
        "SELECT {USER_COLUMNS}, password_hash FROM users
         WHERE email = $1 AND active = 1 {in_company} ORDER BY id LIMIT {limit}"
    );
    let mut query = sqlx::query(&sql).bind(email);
    if let Some(company_id) = company_id {
        query = query.bind(company_id);
    }
    query
        .fetch_all(db)
        .await?
        .iter()
        .map(|r| Ok((user_from_row(r)?, r.try_get("password_hash")?)))
        .collect()
}

pub async fn users<'e, E: Executor<'e, Database = sqlx::Any>>(
    db: E,
    company_id: Id,
) -> Result<Vec<User>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE company_id = $1 ORDER BY id"
    ))
    .bind(company_id)
    .fetch_all(db)
    .await?
    .iter()
    .map(user_from_row)
    .collect()
}

pub async fn lanes<'e, E: Executor<'e, Database = sqlx::Any>>(
    db: E,
    company_id: Id,
) -> Result<Vec<Lane>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {LANE_COLUMNS} FROM lanes WHERE company_id = $1 ORDER BY position, id"
    ))
    .bind(company_id)
    .fetch_all(db)
    .await?
    .iter()
    .map(lane_from_row)
    .collect()
}

pub async fn lane(
    conn: &mut AnyConnection,
    company_id: Id,
    id: Id,
) -> Result<Option<Lane>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {LANE_COLUMNS} FROM lanes WHERE id = $1 AND company_id = $2"
    ))
    .bind(id)
    .bind(company_id)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(lane_from_row)
    .transpose()
}

/// Any ticket of the company, visible or not (for writes that check visibility themselves).
pub async fn ticket(
    conn: &mut AnyConnection,
    company_id: Id,
    id: Id,
) -> Result<Option<Ticket>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {TICKET_COLUMNS} FROM tickets WHERE id = $1 AND company_id = $2"
    ))
    .bind(id)
    .bind(company_id)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(ticket_from_row)
    .transpose()
}

pub async fn comments<'e, E: Executor<'e, Database = sqlx::Any>>(
    db: E,
    company_id: Id,
    ticket_id: Id,
) -> Result<Vec<Comment>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {COMMENT_COLUMNS} FROM comments WHERE ticket_id = $1 AND company_id = $2 ORDER BY id"
    ))
    .bind(ticket_id)
    .bind(company_id)
    .fetch_all(db)
    .await?
    .iter()
    .map(comment_from_row)
    .collect()
}

pub async fn attachments<'e, E: Executor<'e, Database = sqlx::Any>>(
    db: E,
    company_id: Id,
    ticket_id: Id,
) -> Result<Vec<Attachment>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {ATTACHMENT_COLUMNS} FROM attachments WHERE ticket_id = $1 AND company_id = $2 ORDER BY id"
    ))
    .bind(ticket_id)
    .bind(company_id)
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| attachment_from_row(r).map(|(a, _)| a))
    .collect()
}

/// Every company's id, in order.
pub async fn company_ids<'e, E: Executor<'e, Database = sqlx::Any>>(
    db: E,
) -> Result<Vec<Id>, sqlx::Error> {
    let rows = sqlx::query("SELECT id FROM companies ORDER BY id")
        .fetch_all(db)
        .await?;
    rows.iter().map(|r| r.try_get("id")).collect()
}

/// Every company's newest `seq`.
pub async fn company_heads<'e, E: Executor<'e, Database = sqlx::Any>>(
    db: E,
) -> Result<Vec<(Id, i64)>, sqlx::Error> {
    let rows = sqlx::query("SELECT id, event_seq FROM companies")
        .fetch_all(db)
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("event_seq")?)))
        .collect()
}

pub async fn event_head<'e, E: Executor<'e, Database = sqlx::Any>>(
    db: E,
    company_id: Id,
) -> Result<i64, sqlx::Error> {
    sqlx::query("SELECT event_seq FROM companies WHERE id = $1")
        .bind(company_id)
        .fetch_optional(db)
        .await?
        .map(|r| r.try_get("event_seq"))
        .transpose()
        .map(|v| v.unwrap_or(0))
}
