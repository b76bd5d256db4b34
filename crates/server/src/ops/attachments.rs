//! Attachments: bytes under the data dir, metadata and events in the database.
//!
//! A file is stored before its record is written and removed again if the write fails; a
//! deleted attachment's file goes once the deletion is committed (best effort: a file left
//! behind is garbage, never a broken reference). What a download is served as is the REST
//! edge's concern (`rest::attachments`).
//!
//! Dependencies: `validate`, `visibility`, `writes`, `files`, `store`, `auth`, `state`,
//! `error`.

use deskbell_protocol::{Attachment, EventAction, Id, Resource, Ticket};
use std::path::PathBuf;

use super::validate::{bounded, Lines};
use crate::auth::AuthUser;
use crate::error::{OpError, OpResult};
use crate::files;
use crate::state::AppState;
use crate::store::{self, attachment_from_row, ATTACHMENT_COLUMNS};
use crate::visibility::{visible_ticket, Audience};
use crate::writes::WriteTx;

pub const OCTET_STREAM: &str = "application/octet-stream";

/// The `type/subtype` of a content type, lowercased, without parameters.
pub fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// What an upload's content type is recorded as: its essence, or `application/octet-stream`
/// when it has none or an unreasonable one.
pub fn recorded_content_type(sent: Option<&str>) -> String {
    let e = essence(sent.unwrap_or(""));
    let token = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c))
    };
    match e.split_once('/') {
        Some((t, sub)) if e.len() <= 127 && token(t) && token(sub) => e,
        _ => OCTET_STREAM.to_string(),
    }
}

fn path_of(state: &AppState, key: &str) -> PathBuf {
    state.attachments_dir().join(key)
}

/// Best effort: a file left behind is garbage, not a broken reference.
pub async fn remove_files(state: &AppState, keys: &[String]) {
    for key in keys {
        if let Err(e) = tokio::fs::remove_file(path_of(state, key)).await {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(error = %e, key, "could not remove an attachment file");
            }
        }
    }
}

/// A file name as an attachment is recorded with: its last path segment, trimmed, without
/// control characters or quotes, checked as single-line text (see `validate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName(String);

impl FileName {
    /// Cleans the name a client sent, or `validation` when nothing usable is left.
    pub fn parse(raw: &str) -> OpResult<FileName> {
        clean_file_name(raw).map(FileName)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn clean_file_name(raw: &str) -> OpResult<String> {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("").trim();
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && *c != '"')
        .collect();
    if cleaned.is_empty() || cleaned == "." || cleaned == ".." {
        return Err(OpError::validation("the file needs a name"));
    }
    bounded("file name", &cleaned, 255, Lines::Single)
}

/// The attachments of a ticket `actor` sees, oldest first.
pub async fn list(state: &AppState, actor: &AuthUser, ticket_id: Id) -> OpResult<Vec<Attachment>> {
    let mut conn = state.db.pool.acquire().await?;
    visible_ticket(&mut conn, &actor.user, ticket_id).await?;
    Ok(store::attachments(&mut *conn, actor.company_id(), ticket_id).await?)
}

/// A file to attach to a ticket.
#[derive(Debug, Clone)]
pub struct NewAttachment {
    pub ticket_id: Id,
    pub name: FileName,
    /// As the client sent it; recorded as its essence (see `recorded_content_type`).
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
}

/// Attaches a file to a ticket `actor` sees. The size limit and the write limit are checked
/// before the file is stored; the file is removed again if its record cannot be written.
pub async fn upload(
    state: &AppState,
    actor: &AuthUser,
    new: NewAttachment,
) -> OpResult<Attachment> {
    let limit = state.config.max_attachment_bytes;
    if new.bytes.len() > limit {
        return Err(OpError::PayloadTooLarge(format!(
            "the file is larger than the attachment limit of {limit} bytes"
        )));
    }
    state.count_write(actor.company_id(), actor.user.id).await?;
    let key = format!("{}/{}", actor.company_id(), uuid::Uuid::new_v4());
    let path = path_of(state, &key);
    // Owner-only, like everything in the data dir (see `files`).
    let write = async {
        if let Some(dir) = path.parent() {
            let mut builder = tokio::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            builder.mode(files::DIR_MODE);
            builder.create(dir).await?;
        }
        let mut options = files::private_file_options();
        options.write(true).create_new(true);
        let mut file = tokio::fs::OpenOptions::from(options).open(&path).await?;
        tokio::io::AsyncWriteExt::write_all(&mut file, &new.bytes).await?;
        tokio::io::AsyncWriteExt::flush(&mut file).await
    };
    write
        .await
        .map_err(|e| OpError::Internal(format!("cannot store the file: {e}")))?;
    let upload = Upload {
        actor: actor.clone(),
        ticket_id: new.ticket_id,
        name: new.name.0,
        content_type: recorded_content_type(new.content_type.as_deref()),
        size: new.bytes.len() as i64,
        key: key.clone(),
    };
    let result = super::write(state, actor, upload, |w, upload| {
        Box::pin(record_upload(w, upload))
    })
    .await;
    if result.is_err() {
        remove_files(state, &[key]).await;
    }
    result
}

/// A stored file, to be recorded as an attachment of a ticket.
struct Upload {
    actor: AuthUser,
    ticket_id: Id,
    name: String,
    content_type: String,
    size: i64,
    key: String,
}

async fn record_upload(w: &mut WriteTx, upload: &Upload) -> OpResult<Attachment> {
    let Upload {
        actor,
        ticket_id,
        name,
        content_type,
        size,
        key,
    } = upload;
    let ticket = visible_ticket(w.conn(), &actor.user, *ticket_id).await?;
    let row = sqlx::query(&format!(
        "INSERT INTO attachments (company_id, ticket_id, name, size, content_type, storage_key, uploaded_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {ATTACHMENT_COLUMNS}"
    ))
    .bind(actor.company_id())
    .bind(*ticket_id)
    .bind(name)
    .bind(*size)
    .bind(content_type)
    .bind(key)
    .bind(actor.user.id)
    .bind(store::ts(w.now))
    .fetch_one(w.conn())
    .await?;
    let (attachment, _) = attachment_from_row(&row)?;
    let mut event = w.envelope(EventAction::Create);
    event.attachment = Some(attachment.clone());
    w.record(Resource::Attachment, Audience::of_ticket(&ticket), event)?;
    Ok(attachment)
}

/// An attachment on a ticket `actor` sees, with its storage key and its ticket; `not_found`
/// otherwise.
async fn visible_attachment(
    conn: &mut sqlx::AnyConnection,
    actor: &AuthUser,
    id: Id,
) -> OpResult<(Attachment, String, Ticket)> {
    let row = sqlx::query(&format!(
        "SELECT {ATTACHMENT_COLUMNS} FROM attachments WHERE id = $1 AND company_id = $2"
    ))
    .bind(id)
    .bind(actor.company_id())
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(OpError::NotFound("attachment"))?;
    let (attachment, key) = attachment_from_row(&row)?;
    let ticket = visible_ticket(conn, &actor.user, attachment.ticket_id)
        .await
        .map_err(|_| OpError::NotFound("attachment"))?;
    Ok((attachment, key, ticket))
}

/// An attachment `actor` may see, with its file's bytes.
pub async fn download(
    state: &AppState,
    actor: &AuthUser,
    id: Id,
) -> OpResult<(Attachment, Vec<u8>)> {
    let (attachment, key) = {
        let mut conn = state.db.pool.acquire().await?;
        let (a, k, _) = visible_attachment(&mut conn, actor, id).await?;
        (a, k)
    };
    let bytes = tokio::fs::read(path_of(state, &key))
        .await
        .map_err(|e| OpError::Internal(format!("the attachment's file is unreadable: {e}")))?;
    Ok((attachment, bytes))
}

/// Deletes an attachment: its uploader or an admin, on a ticket they see.
pub async fn delete(state: &AppState, actor: &AuthUser, id: Id) -> OpResult<()> {
    state.count_write(actor.company_id(), actor.user.id).await?;
    let key = super::write(state, actor, (actor.clone(), id), |w, (actor, id)| {
        Box::pin(delete_attachment(w, actor, *id))
    })
    .await?;
    remove_files(state, &[key]).await;
    Ok(())
}

/// Deletes an attachment's record; returns its storage key (the file goes once committed).
async fn delete_attachment(w: &mut WriteTx, actor: &AuthUser, id: Id) -> OpResult<String> {
    let (attachment, key, ticket) = visible_attachment(w.conn(), actor, id).await?;
    if attachment.uploaded_by != actor.user.id && !actor.is_admin() {
        return Err(OpError::forbidden(
            "only the uploader or an admin can delete an attachment",
        ));
    }
    sqlx::query("DELETE FROM attachments WHERE id = $1 AND company_id = $2")
        .bind(id)
        .bind(actor.company_id())
        .execute(w.conn())
        .await?;
    let mut event = w.envelope(EventAction::Delete);
    event.attachment = Some(attachment);
    w.record(Resource::Attachment, Audience::of_ticket(&ticket), event)?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_cleaned() {
        assert_eq!(clean_file_name("../../etc/passwd").unwrap(), "passwd");
        assert_eq!(clean_file_name("C:\\x\\report.pdf").unwrap(), "report.pdf");
        assert_eq!(clean_file_name("a\"b\n.txt").unwrap(), "ab.txt");
        assert!(clean_file_name("..").is_err());
        assert!(clean_file_name("  ").is_err());
    }
}
