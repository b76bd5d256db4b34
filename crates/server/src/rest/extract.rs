//! What the REST edge takes from a request: the client's address, the signed-in member, JSON
//! bodies, paths and queries whose rejections are API errors, and `If-Match`.
//!
//! Dependencies: `ops::account` (a bearer token's member), `auth`, `error`, `state`.

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use std::net::{IpAddr, SocketAddr};

use super::error::ApiError;
use crate::auth::{AuthFailure, AuthUser};
use crate::error::{OpError, OpResult};
use crate::ops;
use crate::state::AppState;

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

/// The signed-in member of a request: its bearer token checked against the database (see
/// `ops::account::authenticate`).
impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(AuthFailure::Missing)?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or(AuthFailure::Missing)?;
        Ok(ops::account::authenticate(state, token.trim()).await?)
    }
}

/// The `If-Match` version, if sent. Accepts `3`, `"3"` and `W/"3"`.
pub fn if_match(headers: &HeaderMap) -> OpResult<Option<i64>> {
    let Some(value) = headers.get(axum::http::header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| OpError::BadRequest("If-Match must be a ticket version".into()))?
        .trim();
    let text = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
    text.parse::<i64>().map(Some).map_err(|_| {
        OpError::BadRequest(format!("If-Match must be a ticket version, not {text:?}"))
    })
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
        assert!(matches!(if_match(&h), Err(OpError::BadRequest(_))));
    }
}
