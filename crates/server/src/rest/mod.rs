//! The REST API of the spec.
//!
//! Input rules. Every write checks what the client sent with the helpers below before it
//! touches the database, so a refused request changes nothing and a bad value is a 422
//! `validation` naming the field, never a 500 from the database:
//!
//! - Positions (a lane's `position`) lie in `0..=POSITION_MAX`. Clients only order lanes with
//!   them; a bounded range keeps "one more than the largest" from ever overflowing.
//! - Ids sent in bodies (`assigneeId`, `laneId`, …) lie in `1..=ID_MAX`, the largest integer
//!   a JavaScript client represents exactly: no row has an id outside it, so an id outside it
//!   is a client bug to report, not a lookup to run. Ids in paths that name nothing are 404.
//! - Text holds no NUL and no other control character (Unicode `Cc`). SQLite would store them
//!   and PostgreSQL refuses NUL with an error; either way they only hide content or break a
//!   line-based reader. Single-line fields (titles, names, requester name and contact, lane
//!   names, emails, file names) allow none; multi-line bodies (comments, a ticket's first
//!   message) allow newline and tab, and a CRLF line ending is stored as LF. Text is trimmed
//!   and bounded in characters. `required_text`, `optional_text` and `bounded` apply this to
//!   every text field of every write; `email` adds the shape of an address.

use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequest, FromRequestParts};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::map_response;
use axum::response::Response;
use axum::routing::{delete, get, post, put};
use axum::Router;

use deskbell_protocol::Id;
use std::net::{IpAddr, SocketAddr};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

mod account;
mod attachments;
mod comments;
mod lanes;
mod tickets;
mod users;

pub use comments::create as comments_create;
pub use tickets::{apply_ticket_patch, create as tickets_create};

/// The client's address: the TCP peer's, or, when the peer is a trusted load balancer
/// (`--trusted-proxy`), the one it names in `X-Forwarded-For` (see `resolve_client`). `None`
/// when the server runs without connection info (e.g. a router driven directly in tests).
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(client_ip(&parts.extensions)))
    }
}

/// The client's address as `resolve_client` found it.
#[derive(Debug, Clone, Copy)]
struct ResolvedClient(IpAddr);

/// The client's IP address in a request's extensions (see `ClientAddr`).
pub fn client_ip(extensions: &axum::http::Extensions) -> Option<IpAddr> {
    extensions
        .get::<ResolvedClient>()
        .map(|resolved| resolved.0)
        .or_else(|| {
            extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|info| info.0.ip())
        })
}

/// Outermost middleware: decides once who the client is. A request straight from a client is
/// that client; one from a trusted proxy is from the nearest address in `X-Forwarded-For` that
/// is not itself a trusted proxy (each proxy appends the address it received from, so the
/// entries before it are whatever the client claimed). Anything else — a forwarded header from
/// an untrusted peer, an unreadable entry — is not believed.
pub async fn resolve_client(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if let Some(peer) = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip())
    {
        let client = forwarded_client(peer, request.headers(), |ip| state.config.trusts_proxy(ip));
        request.extensions_mut().insert(ResolvedClient(client));
    }
    next.run(request).await
}

fn forwarded_client(
    peer: IpAddr,
    headers: &axum::http::HeaderMap,
    trusted: impl Fn(IpAddr) -> bool,
) -> IpAddr {
    if !trusted(peer) {
        return peer;
    }
    let mut hops: Vec<&str> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(value) = value.to_str() else {
            return peer;
        };
        hops.extend(value.split(',').map(str::trim));
    }
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !trusted(ip) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    client
}

/// JSON body whose rejections are API errors (400/413/422 with the standard body).
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// Path parameters whose rejections are API errors.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// Query string whose rejections are API errors.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

pub fn router(state: AppState) -> Router {
    let attachment_limit = state.config.max_attachment_bytes + 64 * 1024;
    Router::new()
        .route("/health", get(account::health))
        .route(
            "/api/auth/login",
            post(account::login).layer(map_response(no_store)),
        )
        .route(
            "/api/auth/refresh",
            post(account::refresh).layer(map_response(no_store)),
        )
        .route(
            "/api/auth/logout",
            post(account::logout).layer(map_response(no_store)),
        )
        .route("/api/me", get(account::me))
        .route("/api/board", get(tickets::board))
        .route("/api/tickets", get(tickets::list).post(tickets::create))
        .route(
            "/api/tickets/{id}",
            get(tickets::show)
                .patch(tickets::patch)
                .delete(tickets::remove),
        )
        .route("/api/tickets/{id}/move", post(tickets::move_ticket))
        .route(
            "/api/ticket-tags/{ticket_id}/{lane_id}",
            put(tickets::tag_ticket),
        )
        .route(
            "/api/tickets/{id}/comments",
            get(comments::list).post(comments::create),
        )
        .route("/api/comments/{id}", delete(comments::remove))
        .route(
            "/api/tickets/{id}/attachments",
            get(attachments::list)
                .post(attachments::upload)
                .layer(DefaultBodyLimit::max(attachment_limit)),
        )
        .route(
            "/api/attachments/{id}",
            get(attachments::download).delete(attachments::remove),
        )
        .route("/api/lanes", get(lanes::list).post(lanes::create))
        .route(
            "/api/lanes/{id}",
            axum::routing::patch(lanes::update).delete(lanes::remove),
        )
        .route("/api/users", get(users::list).post(users::create))
        .route("/api/users/{id}", axum::routing::patch(users::update))
        .fallback(|| async { ApiError::NotFound("route") })
        .layer(DefaultBodyLimit::max(state.config.max_payload_bytes))
        .with_state(state)
}

/// Responses of the auth routes carry tokens (or answer a request that did): no cache, shared
/// or private, may keep them. Applied to every response of those routes, errors included.
async fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The `If-Match` version, if sent. Accepts `3`, `"3"` and `W/"3"`.
pub fn if_match(headers: &HeaderMap) -> ApiResult<Option<i64>> {
    let Some(value) = headers.get(axum::http::header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| ApiError::BadRequest("If-Match must be a ticket version".into()))?
        .trim();
    let text = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
    text.parse::<i64>().map(Some).map_err(|_| {
        ApiError::BadRequest(format!("If-Match must be a ticket version, not {text:?}"))
    })
}

/// Largest lane position; positions are `0..=POSITION_MAX`.
pub const POSITION_MAX: i64 = 1_000_000;

/// Largest id a client may send: 2^53 - 1 (`Number.MAX_SAFE_INTEGER`).
pub const ID_MAX: i64 = 9_007_199_254_740_991;

/// Checks a client-supplied position.
pub fn position(field: &str, value: i64) -> ApiResult<i64> {
    if (0..=POSITION_MAX).contains(&value) {
        Ok(value)
    } else {
        Err(ApiError::validation(format!(
            "{field} must be between 0 and {POSITION_MAX}, not {value}"
        )))
    }
}

/// Checks an id sent in a request body.
pub fn body_id(field: &str, value: Id) -> ApiResult<Id> {
    if (1..=ID_MAX).contains(&value) {
        Ok(value)
    } else {
        Err(ApiError::validation(format!(
            "{field} must be an id between 1 and {ID_MAX}, not {value}"
        )))
    }
}

/// Whether a text field may span lines (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    /// Titles, names, contacts, emails: no control character at all.
    Single,
    /// Comment bodies and a ticket's first message: newline and tab allowed.
    Multi,
}

/// Trims, checks and bounds a required text field.
pub fn required_text(
    field: &str,
    value: &str,
    max_chars: usize,
    lines: Lines,
) -> ApiResult<String> {
    let text = normalize(value, lines);
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(ApiError::validation(format!("{field} must not be empty")));
    }
    bounded(field, trimmed, max_chars, lines)
}

/// Trims, checks and bounds an optional text field; absent or blank is `None`.
pub fn optional_text(
    field: &str,
    value: Option<&str>,
    max_chars: usize,
    lines: Lines,
) -> ApiResult<Option<String>> {
    let Some(value) = value else {
        return Ok(None);
    };
    let text = normalize(value, lines);
    match text.trim() {
        "" => Ok(None),
        trimmed => bounded(field, trimmed, max_chars, lines).map(Some),
    }
}

/// Checks the characters of a text field and bounds its length (no trimming).
pub fn bounded(field: &str, value: &str, max_chars: usize, lines: Lines) -> ApiResult<String> {
    let text = normalize(value, lines);
    let refused = text
        .chars()
        .find(|&c| c.is_control() && !(lines == Lines::Multi && (c == '\n' || c == '\t')));
    if let Some(c) = refused {
        let allowed = match lines {
            Lines::Single => "",
            Lines::Multi => " other than newline and tab",
        };
        return Err(ApiError::validation(format!(
            "{field} must not contain control characters{allowed} (found U+{:04X})",
            u32::from(c)
        )));
    }
    if text.chars().count() > max_chars {
        return Err(ApiError::validation(format!(
            "{field} is longer than {max_chars} characters"
        )));
    }
    Ok(text.into_owned())
}

/// Multi-line text from Windows clients ends lines with CRLF; it is stored with LF. A lone CR
/// stays, and is refused as a control character.
fn normalize(value: &str, lines: Lines) -> std::borrow::Cow<'_, str> {
    if lines == Lines::Multi && value.contains("\r\n") {
        std::borrow::Cow::Owned(value.replace("\r\n", "\n"))
    } else {
        std::borrow::Cow::Borrowed(value)
    }
}

/// Longest email address (RFC 5321's path limit).
pub const EMAIL_MAX: usize = 254;

/// Checks an email address and returns it trimmed and lowercased: one `@`, a local part of
/// 1..=64 printable characters without spaces, quotes or brackets and without dots at its
/// ends or in a row, and a domain of at least two dot-separated labels of letters, digits and
/// inner hyphens (Unicode letters allowed). Sane rather than complete: quoted local parts and
/// address literals are refused.
pub fn email(field: &str, value: &str) -> ApiResult<String> {
    let address = bounded(field, value.trim(), EMAIL_MAX, Lines::Single)?.to_lowercase();
    let invalid = |why: &str| {
        ApiError::validation(format!(
            "{field} {address:?} is not an email address ({why})"
        ))
    };
    let Some((local, domain)) = address.split_once('@') else {
        return Err(invalid("no @"));
    };
    if domain.contains('@') {
        return Err(invalid("more than one @"));
    }
    if local.is_empty() || local.chars().count() > 64 {
        return Err(invalid("the part before @ must have 1 to 64 characters"));
    }
    if local
        .chars()
        .any(|c| c.is_whitespace() || "\"(),:;<>[\\]".contains(c))
        || local.starts_with('.')
        || local.ends_with('.')
        || local.contains("..")
    {
        return Err(invalid(
            "the part before @ has characters an address cannot have",
        ));
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.chars().count() <= 63
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if labels.len() < 2 || !labels.iter().all(label_ok) {
        return Err(invalid("the domain must look like example.com"));
    }
    Ok(address)
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_a_trusted_proxy_may_name_the_client() {
        use axum::http::{HeaderMap, HeaderValue};
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        let client: IpAddr = "203.0.113.9".parse().unwrap();
        let trusted = |ip: IpAddr| ip == proxy;
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.9"));
        assert_eq!(forwarded_client(proxy, &headers, trusted), client);
        // Straight from a client, its header is its own claim.
        assert_eq!(forwarded_client(client, &headers, trusted), client);
        let stranger: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(forwarded_client(stranger, &headers, trusted), stranger);
        // What the client wrote before the proxy appended its peer is not believed.
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.2.3.4, 203.0.113.9"),
        );
        assert_eq!(forwarded_client(proxy, &headers, trusted), client);
        // A chain of trusted proxies is walked back to the first untrusted hop.
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.2.3.4, 203.0.113.9, 10.0.0.2"),
        );
        assert_eq!(forwarded_client(proxy, &headers, trusted), client);
        // Garbage stops the walk; no header leaves the proxy as the client.
        headers.insert("x-forwarded-for", HeaderValue::from_static("not-an-ip"));
        assert_eq!(forwarded_client(proxy, &headers, trusted), proxy);
        assert_eq!(forwarded_client(proxy, &HeaderMap::new(), trusted), proxy);
    }

    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn if_match_forms() {
        let mut h = HeaderMap::new();
        assert_eq!(if_match(&h).unwrap(), None);
        for form in ["3", "\"3\"", "W/\"3\""] {
            h.insert(axum::http::header::IF_MATCH, HeaderValue::from_static(form));
            assert_eq!(if_match(&h).unwrap(), Some(3), "{form}");
        }
        h.insert(axum::http::header::IF_MATCH, HeaderValue::from_static("*x"));
        assert!(matches!(if_match(&h), Err(ApiError::BadRequest(_))));
    }

    #[test]
    fn numbers_are_range_checked() {
        assert_eq!(position("position", 0).unwrap(), 0);
        assert_eq!(position("position", POSITION_MAX).unwrap(), POSITION_MAX);
        for bad in [-1, POSITION_MAX + 1, i64::MAX, i64::MIN] {
            assert!(matches!(
                position("position", bad),
                Err(ApiError::Validation(_))
            ));
        }
        assert_eq!(body_id("laneId", 1).unwrap(), 1);
        assert_eq!(body_id("laneId", ID_MAX).unwrap(), ID_MAX);
        for bad in [0, -1, ID_MAX + 1, i64::MAX, i64::MIN] {
            assert!(matches!(
                body_id("laneId", bad),
                Err(ApiError::Validation(_))
            ));
        }
    }

    #[test]
    fn text_bounds() {
        assert_eq!(required_text("t", "  a ", 5, Lines::Single).unwrap(), "a");
        assert!(required_text("t", "   ", 5, Lines::Single).is_err());
        assert!(required_text("t", "abcdef", 5, Lines::Single).is_err());
        assert!(bounded("t", "ééééé", 5, Lines::Single).is_ok());
        assert_eq!(
            optional_text("t", Some("  "), 5, Lines::Single).unwrap(),
            None
        );
        assert_eq!(optional_text("t", None, 5, Lines::Single).unwrap(), None);
    }

    #[test]
    fn control_characters_are_refused_but_newline_and_tab_in_bodies() {
        for bad in [
            "a\0b",
            "a\u{1}",
            "a\u{7f}",
            "a\u{9b}",
            "a\rb",
            "a\u{1b}[31m",
        ] {
            for lines in [Lines::Single, Lines::Multi] {
                let err = required_text("f", bad, 50, lines).unwrap_err();
                assert!(matches!(err, ApiError::Validation(_)), "{bad:?}");
            }
        }
        for line_break in ["a\nb", "a\tb"] {
            assert!(required_text("f", line_break, 50, Lines::Single).is_err());
            assert_eq!(
                required_text("f", line_break, 50, Lines::Multi).unwrap(),
                line_break
            );
        }
        assert_eq!(
            required_text("f", "one\r\ntwo\r\n", 50, Lines::Multi).unwrap(),
            "one\ntwo"
        );
        let message = required_text("title", "x\0", 50, Lines::Single)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("title") && message.contains("U+0000"),
            "{message}"
        );
    }

    #[test]
    fn emails_have_a_sane_shape() {
        assert_eq!(
            email("email", " Ann@Example.test ").unwrap(),
            "ann@example.test"
        );
        assert_eq!(
            email("email", "a.b+tag@mail.ex-ample.co").unwrap(),
            "a.b+tag@mail.ex-ample.co"
        );
        assert!(email("email", "zoë@bücher.example").is_ok());
        for bad in [
            "ann",
            "@x.test",
            "ann@",
            "ann@x",
            "a b@x.test",
            "ann@.test",
            "ann@x..test",
            "ann@-x.test",
            "a@b@x.test",
            ".ann@x.test",
            "an..n@x.test",
            "\"ann\"@x.test",
            "ann\0@x.test",
            "ann@x.test\u{1}",
            "ann\t@x.test",
            "ann@x.te st",
        ] {
            assert!(email("email", bad).is_err(), "{bad:?}");
        }
        let long = format!("{}@x.test", "a".repeat(65));
        assert!(email("email", &long).is_err());
    }
}
