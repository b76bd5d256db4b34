//! Attachments: bytes under the data dir, metadata and events in the database.
//!
//! A download is served from the API's origin, so a file must never run there: only passive
//! content types (`PASSIVE_TYPES`: images other than SVG, PDF, plain text, archives, audio and
//! video) are served as uploaded; anything else (HTML, XHTML, SVG, XML, JavaScript, CSS,
//! unknown types) is served as `application/octet-stream`. Every download also carries
//! `Content-Disposition: attachment`, `Content-Security-Policy: sandbox` (should a browser
//! render it anyway, it runs no script and has an opaque origin) and `nosniff`.

use axum::body::Body;
use axum::extract::{Multipart, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Json;
use deskbell_protocol::{Attachment, EventAction, Id, Resource};
use std::path::PathBuf;

use super::ApiPath;
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::files;
use crate::state::AppState;
use crate::store::{self, attachment_from_row, ATTACHMENT_COLUMNS};
use crate::visibility::visible_ticket;
use crate::visibility::Audience;
use crate::writes::WriteTx;

/// Content types a browser shows without running anything in them (kept short on purpose).
const PASSIVE_TYPES: &[&str] = &[
    "application/gzip",
    "application/pdf",
    "application/zip",
    "audio/mpeg",
    "audio/ogg",
    "audio/wav",
    "image/avif",
    "image/bmp",
    "image/gif",
    "image/jpeg",
    "image/png",
    "image/webp",
    "text/csv",
    "text/plain",
    "video/mp4",
    "video/webm",
];

const OCTET_STREAM: &str = "application/octet-stream";

/// The `type/subtype` of a content type, lowercased, without parameters.
fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// What an upload's content type is recorded as: its essence, or `application/octet-stream`
/// when it has none or an unreasonable one.
fn recorded_content_type(sent: Option<&str>) -> String {
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

/// What a download is served as (see the module docs).
fn served_content_type(recorded: &str) -> &'static str {
    let e = essence(recorded);
    PASSIVE_TYPES
        .iter()
        .find(|passive| **passive == e)
        .copied()
        .unwrap_or(OCTET_STREAM)
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

fn clean_file_name(raw: &str) -> ApiResult<String> {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("").trim();
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && *c != '"')
        .collect();
    if cleaned.is_empty() || cleaned == "." || cleaned == ".." {
        return Err(ApiError::validation("the file needs a name"));
    }
    super::bounded("file name", &cleaned, 255, super::Lines::Single)
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge("the file is larger than the attachment limit".into())
    } else {
        ApiError::BadRequest(e.body_text())
    }
}

pub async fn list(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(ticket_id): ApiPath<Id>,
) -> ApiResult<Json<Vec<Attachment>>> {
    let mut conn = state.db.pool.acquire().await?;
    visible_ticket(&mut conn, &auth.user, ticket_id).await?;
    Ok(Json(
        store::attachments(&mut *conn, auth.company_id(), ticket_id).await?,
    ))
}

/// `multipart/form-data` with one `file` part.
pub async fn upload(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(ticket_id): ApiPath<Id>,
    mut multipart: Multipart,
) -> ApiResult<(StatusCode, Json<Attachment>)> {
    {
        let mut conn = state.db.pool.acquire().await?;
        visible_ticket(&mut conn, &auth.user, ticket_id).await?;
    }
    let limit = state.config.max_attachment_bytes;
    let mut file = None;
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        if field.name() != Some("file") {
            continue;
        }
        let name = clean_file_name(field.file_name().unwrap_or(""))?;
        let content_type = recorded_content_type(field.content_type());
        let bytes = field.bytes().await.map_err(multipart_error)?;
        file = Some((name, content_type, bytes));
        break;
    }
    let Some((name, content_type, bytes)) = file else {
        return Err(ApiError::validation(
            "send the file as a multipart part named `file`",
        ));
    };
    if bytes.len() > limit {
        return Err(ApiError::PayloadTooLarge(format!(
            "the file is larger than the attachment limit of {limit} bytes"
        )));
    }
    state.count_write(auth.company_id(), auth.user.id).await?;
    let key = format!("{}/{}", auth.company_id(), uuid::Uuid::new_v4());
    let path = path_of(&state, &key);
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
        tokio::io::AsyncWriteExt::write_all(&mut file, &bytes).await?;
        tokio::io::AsyncWriteExt::flush(&mut file).await
    };
    write
        .await
        .map_err(|e| ApiError::Internal(format!("cannot store the file: {e}")))?;
    let upload = Upload {
        auth: auth.clone(),
        ticket_id,
        name,
        content_type,
        size: bytes.len() as i64,
        key: key.clone(),
    };
    let result = state
        .write(&auth, upload, |w, upload| {
            Box::pin(record_upload(w, upload))
        })
        .await;
    if result.is_err() {
        remove_files(&state, &[key]).await;
    }
    Ok((StatusCode::CREATED, Json(result?)))
}

/// A stored file, to be recorded as an attachment of a ticket.
struct Upload {
    auth: AuthUser,
    ticket_id: Id,
    name: String,
    content_type: String,
    size: i64,
    key: String,
}

async fn record_upload(w: &mut WriteTx, upload: &Upload) -> ApiResult<Attachment> {
    let Upload {
        auth,
        ticket_id,
        name,
        content_type,
        size,
        key,
    } = upload;
    let ticket = visible_ticket(w.conn(), &auth.user, *ticket_id).await?;
    let row = sqlx::query(&format!(
        "INSERT INTO attachments (company_id, ticket_id, name, size, content_type, storage_key, uploaded_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {ATTACHMENT_COLUMNS}"
    ))
    .bind(auth.company_id())
    .bind(*ticket_id)
    .bind(name)
    .bind(*size)
    .bind(content_type)
    .bind(key)
    .bind(auth.user.id)
    .bind(store::ts(w.now))
    .fetch_one(w.conn())
    .await?;
    let (attachment, _) = attachment_from_row(&row)?;
    let mut event = w.envelope(EventAction::Create);
    event.attachment = Some(attachment.clone());
    w.record(Resource::Attachment, Audience::of_ticket(&ticket), event)?;
    Ok(attachment)
}

async fn visible_attachment(
    conn: &mut sqlx::AnyConnection,
    auth: &AuthUser,
    id: Id,
) -> ApiResult<(Attachment, String, deskbell_protocol::Ticket)> {
    let row = sqlx::query(&format!(
        "SELECT {ATTACHMENT_COLUMNS} FROM attachments WHERE id = $1 AND company_id = $2"
    ))
    .bind(id)
    .bind(auth.company_id())
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(ApiError::NotFound("attachment"))?;
    let (attachment, key) = attachment_from_row(&row)?;
    let ticket = visible_ticket(conn, &auth.user, attachment.ticket_id)
        .await
        .map_err(|_| ApiError::NotFound("attachment"))?;
    Ok((attachment, key, ticket))
}

pub async fn download(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(id): ApiPath<Id>,
) -> ApiResult<Response> {
    let (attachment, key) = {
        let mut conn = state.db.pool.acquire().await?;
        let (a, k, _) = visible_attachment(&mut conn, &auth, id).await?;
        (a, k)
    };
    let bytes = tokio::fs::read(path_of(&state, &key))
        .await
        .map_err(|e| ApiError::Internal(format!("the attachment's file is unreadable: {e}")))?;
    let mut response = Response::new(Body::from(bytes));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(served_content_type(&attachment.content_type)),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    let ascii: String = attachment
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{ascii}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}

pub async fn remove(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(id): ApiPath<Id>,
) -> ApiResult<StatusCode> {
    state.count_write(auth.company_id(), auth.user.id).await?;
    let key = state
        .write(&auth, (auth.clone(), id), |w, (auth, id)| {
            Box::pin(delete_attachment(w, auth, *id))
        })
        .await?;
    remove_files(&state, &[key]).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes an attachment's record; returns its storage key (the file goes once committed).
async fn delete_attachment(w: &mut WriteTx, auth: &AuthUser, id: Id) -> ApiResult<String> {
    let (attachment, key, ticket) = visible_attachment(w.conn(), auth, id).await?;
    if attachment.uploaded_by != auth.user.id && !auth.is_admin() {
        return Err(ApiError::forbidden(
            "only the uploader or an admin can delete an attachment",
        ));
    }
    sqlx::query("DELETE FROM attachments WHERE id = $1 AND company_id = $2")
        .bind(id)
        .bind(auth.company_id())
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
    fn only_passive_content_types_are_served_as_uploaded() {
        for passive in ["image/png", "IMAGE/JPEG", "application/pdf", "text/plain"] {
            assert_eq!(served_content_type(passive), passive.to_ascii_lowercase());
        }
        assert_eq!(
            served_content_type("text/plain; charset=utf-8"),
            "text/plain"
        );
        for active in [
            "text/html",
            "text/html; charset=utf-8",
            "application/xhtml+xml",
            "image/svg+xml",
            "text/xml",
            "application/xml",
            "application/javascript",
            "text/javascript",
            "text/css",
            "application/x-shockwave-flash",
            "",
            "nonsense",
        ] {
            assert_eq!(served_content_type(active), OCTET_STREAM, "{active}");
        }
        assert_eq!(
            recorded_content_type(Some("Text/HTML; charset=utf-8")),
            "text/html"
        );
        assert_eq!(recorded_content_type(None), OCTET_STREAM);
        assert_eq!(recorded_content_type(Some("x")), OCTET_STREAM);
        let long = format!("a/{}", "b".repeat(200));
        assert_eq!(recorded_content_type(Some(&long)), OCTET_STREAM);
    }

    #[test]
    fn file_names_are_cleaned() {
        assert_eq!(clean_file_name("../../etc/passwd").unwrap(), "passwd");
        assert_eq!(clean_file_name("C:\\x\\report.pdf").unwrap(), "report.pdf");
        assert_eq!(clean_file_name("a\"b\n.txt").unwrap(), "ab.txt");
        assert!(clean_file_name("..").is_err());
        assert!(clean_file_name("  ").is_err());
    }
}
