//! Attachments: bytes under the data dir, metadata and events in the database.
//!
//! A download is served from the API's origin, so a file must never run there: only passive
//! content types (`PASSIVE_TYPES`: images other than SVG, PDF, plain text, archives, audio and
//! video) are served as uploaded; anything else (HTML, XHTML, SVG, XML, JavaScript, CSS,
//! unknown types) is served as `application/octet-stream`. Every download also carries
//! `Content-Disposition: attachment`, `Content-Security-Policy: sandbox` (should a browser
//! render it anyway, it runs no script and has an opaque origin) and `nosniff`.
//!
//! Dependencies: `ops::attachments`, `ops::tickets`, `extract`, `error`, `auth`, `state`.

use axum::body::Body;
use axum::extract::{Multipart, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Json;
use deskbell_protocol::{Attachment, Id};

use super::error::ApiResult;
use super::extract::ApiPath;
use crate::auth::AuthUser;
use crate::error::OpError;
use crate::ops::attachments::{self, essence, FileName, NewAttachment, OCTET_STREAM};
use crate::ops::tickets;
use crate::state::AppState;

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

/// What a download is served as (see the module docs).
fn served_content_type(recorded: &str) -> &'static str {
    let e = essence(recorded);
    PASSIVE_TYPES
        .iter()
        .find(|passive| **passive == e)
        .copied()
        .unwrap_or(OCTET_STREAM)
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> OpError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        OpError::PayloadTooLarge("the file is larger than the attachment limit".into())
    } else {
        OpError::BadRequest(e.body_text())
    }
}

pub async fn list(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(ticket_id): ApiPath<Id>,
) -> ApiResult<Json<Vec<Attachment>>> {
    Ok(Json(attachments::list(&state, &auth, ticket_id).await?))
}

/// `multipart/form-data` with one `file` part.
pub async fn upload(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(ticket_id): ApiPath<Id>,
    mut multipart: Multipart,
) -> ApiResult<(StatusCode, Json<Attachment>)> {
    // Before the body is read: a ticket the member cannot see costs no upload.
    tickets::show(&state, &auth, ticket_id).await?;
    let mut file = None;
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        if field.name() != Some("file") {
            continue;
        }
        let name = FileName::parse(field.file_name().unwrap_or(""))?;
        let content_type = field.content_type().map(str::to_string);
        let bytes = field.bytes().await.map_err(multipart_error)?;
        file = Some((name, content_type, bytes));
        break;
    }
    let Some((name, content_type, bytes)) = file else {
        return Err(OpError::validation("send the file as a multipart part named `file`").into());
    };
    let new = NewAttachment {
        ticket_id,
        name,
        content_type,
        bytes: bytes.into(),
    };
    let attachment = attachments::upload(&state, &auth, new).await?;
    Ok((StatusCode::CREATED, Json(attachment)))
}

pub async fn download(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(id): ApiPath<Id>,
) -> ApiResult<Response> {
    let (attachment, bytes) = attachments::download(&state, &auth, id).await?;
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
    attachments::delete(&state, &auth, id).await?;
    Ok(StatusCode::NO_CONTENT)
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
        use crate::ops::attachments::recorded_content_type;
        assert_eq!(
            recorded_content_type(Some("Text/HTML; charset=utf-8")),
            "text/html"
        );
        assert_eq!(recorded_content_type(None), OCTET_STREAM);
        assert_eq!(recorded_content_type(Some("x")), OCTET_STREAM);
        let long = format!("a/{}", "b".repeat(200));
        assert_eq!(recorded_content_type(Some(&long)), OCTET_STREAM);
    }
}
