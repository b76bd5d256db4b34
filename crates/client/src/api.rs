//! Typed REST client for every call the app makes.

use deskbell_protocol::{
    ApiErrorBody, Attachment, Board, Comment, Company, CompanyPatch, Health, Id, Lane, LanePatch,
    LoginRequest, LoginResponse, LogoutRequest, Me, Member, MoveRequest, NewComment, NewLane,
    NewTicket, NewUser, RefreshRequest, Ticket, TicketPatch, User, UserPatch,
};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::time::Duration;
use url::Url;

use crate::error::ApiError;

/// Every request gives up after this long.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Clone, Debug)]
pub struct Api {
    base: Url,
    http: reqwest::Client,
}

impl Api {
    /// `base` is the server's root, e.g. `http://127.0.0.1:8080`.
    pub fn new(base: &str) -> Result<Api, ApiError> {
        let mut url =
            Url::parse(base.trim()).map_err(|e| ApiError::InvalidUrl(format!("{base:?}: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(ApiError::InvalidUrl(format!(
                "{base:?}: use http:// or https:// and a host"
            )));
        }
        if !url.path().ends_with('/') {
            url.set_path(&format!("{}/", url.path()));
        }
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ApiError::Network(e.to_string()))?;
        Ok(Api { base: url, http })
    }

    /// Sign-in's way to a server, from the address as a user typed it: checks that a Deskbell
    /// server answers there (`GET /health`) and says plainly what is wrong when not.
    ///
    /// - An address without a scheme is tried as `https://` (and, for this machine only —
    ///   `localhost`, `127.0.0.1`, `::1` — as `http://` when https fails: local servers are
    ///   plain http, and nothing leaves the machine).
    /// - Something else answering (another web site, a proxy's error page) is
    ///   [`ApiError::NotDeskbell`]; at a wrong path under a Deskbell server, the message names
    ///   the address that works.
    /// - TLS failures are [`ApiError::Tls`], timeouts [`ApiError::Timeout`], the rest
    ///   [`ApiError::Network`].
    pub async fn connect(address: &str) -> Result<Api, ApiError> {
        let candidates = candidate_urls(address)?;
        let mut first_error = None;
        for candidate in &candidates {
            let api = Api::new(candidate)?;
            match api.check_is_deskbell().await {
                Ok(()) => return Ok(api),
                // Only a failure to connect at all moves on to the next way of reaching it.
                Err(e @ (ApiError::Network(_) | ApiError::Tls(_))) => {
                    first_error.get_or_insert(e);
                }
                Err(e) => return Err(first_error.unwrap_or(e)),
            }
        }
        Err(first_error.unwrap_or_else(|| ApiError::InvalidUrl(address.to_string())))
    }

    /// `GET /health` answers as a Deskbell server does.
    async fn check_is_deskbell(&self) -> Result<(), ApiError> {
        let res = Self::send_request(self.request(Method::GET, "health", None)?).await?;
        let status = res.status();
        let body = res.text().await.unwrap_or_default();
        if status.is_success() && serde_json::from_str::<Health>(&body).is_ok() {
            return Ok(());
        }
        let here = self.base.as_str().trim_end_matches('/');
        // A Deskbell server further up: the user added a path it does not have.
        if self.base.path() != "/" {
            let mut root = self.base.clone();
            root.set_path("/");
            if let Ok(api) = Api::new(root.as_str()) {
                if Box::pin(api.check_is_deskbell()).await.is_ok() {
                    return Err(ApiError::NotDeskbell(format!(
                        "{here} is not a Deskbell address, but {} is: use that one",
                        root.as_str().trim_end_matches('/')
                    )));
                }
            }
        }
        let what = if status.is_success() {
            "with a page that is not Deskbell's".to_string()
        } else {
            format!(
                "with HTTP {}{}",
                status.as_u16(),
                status
                    .canonical_reason()
                    .map(|r| format!(" {r}"))
                    .unwrap_or_default()
            )
        };
        Err(ApiError::NotDeskbell(format!(
            "{here} answered {what}: it is not a Deskbell server. Check the address"
        )))
    }

    pub fn base_url(&self) -> &Url {
        &self.base
    }

    fn url(&self, path: &str) -> Result<Url, ApiError> {
        self.base
            .join(path.trim_start_matches('/'))
            .map_err(|e| ApiError::InvalidUrl(e.to_string()))
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
    ) -> Result<RequestBuilder, ApiError> {
        let mut req = self.http.request(method, self.url(path)?);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        Ok(req)
    }

    async fn send<T: DeserializeOwned>(req: RequestBuilder) -> Result<T, ApiError> {
        let res = Self::execute(req).await?;
        res.json::<T>()
            .await
            .map_err(|e| ApiError::Protocol(format!("bad response body: {e}")))
    }

    async fn send_empty(req: RequestBuilder) -> Result<(), ApiError> {
        Self::execute(req).await.map(|_| ())
    }

    /// Sends, mapping a failure to reach the server (any answer, even an error, is `Ok`).
    async fn send_request(req: RequestBuilder) -> Result<reqwest::Response, ApiError> {
        req.send().await.map_err(|e| {
            if e.is_timeout() {
                ApiError::Timeout
            } else if let Some(why) = tls_failure(&e) {
                ApiError::Tls(why)
            } else {
                ApiError::Network(without_url(&e))
            }
        })
    }

    async fn execute(req: RequestBuilder) -> Result<reqwest::Response, ApiError> {
        let res = Self::send_request(req).await?;
        if res.status().is_success() {
            return Ok(res);
        }
        Err(Self::error_from(res).await)
    }

    async fn error_from(res: reqwest::Response) -> ApiError {
        let status = res.status();
        let retry_after = res
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let text = res.text().await.unwrap_or_default();
        match serde_json::from_str::<ApiErrorBody>(&text) {
            Ok(body) => ApiError::Server {
                status: status.as_u16(),
                code: body.error.code,
                message: body.error.message,
                current: body.error.current.map(Box::new),
                retry_after,
            },
            Err(_) if status == StatusCode::NOT_FOUND => ApiError::NotDeskbell(
                "the server has no such page: it may not be a Deskbell server, or not this version"
                    .into(),
            ),
            Err(_) => ApiError::Protocol(format!(
                "HTTP {}, without Deskbell's error",
                status.as_u16()
            )),
        }
    }

    fn json<B: Serialize>(req: RequestBuilder, body: &B) -> RequestBuilder {
        req.json(body)
    }

    pub async fn health(&self) -> Result<Health, ApiError> {
        Self::send(self.request(Method::GET, "health", None)?).await
    }

    pub async fn login(&self, email: &str, password: &str) -> Result<LoginResponse, ApiError> {
        let body = LoginRequest {
            email: email.to_string(),
            password: password.to_string(),
            company_id: None,
        };
        Self::send(Self::json(
            self.request(Method::POST, "api/auth/login", None)?,
            &body,
        ))
        .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Result<LoginResponse, ApiError> {
        let body = RefreshRequest {
            refresh_token: refresh_token.to_string(),
        };
        Self::send(Self::json(
            self.request(Method::POST, "api/auth/refresh", None)?,
            &body,
        ))
        .await
    }

    pub async fn logout(&self, token: &str, refresh_token: Option<&str>) -> Result<(), ApiError> {
        let body = LogoutRequest {
            refresh_token: refresh_token.map(str::to_string),
        };
        Self::send_empty(Self::json(
            self.request(Method::POST, "api/auth/logout", Some(token))?,
            &body,
        ))
        .await
    }

    pub async fn me(&self, token: &str) -> Result<Me, ApiError> {
        Self::send(self.request(Method::GET, "api/me", Some(token))?).await
    }

    pub async fn board(&self, token: &str) -> Result<Board, ApiError> {
        Self::send(self.request(Method::GET, "api/board", Some(token))?).await
    }

    pub async fn tickets(&self, token: &str) -> Result<Vec<Ticket>, ApiError> {
        Self::send(self.request(Method::GET, "api/tickets", Some(token))?).await
    }

    pub async fn ticket(&self, token: &str, id: Id) -> Result<Ticket, ApiError> {
        Self::send(self.request(Method::GET, &format!("api/tickets/{id}"), Some(token))?).await
    }

    pub async fn create_ticket(&self, token: &str, new: &NewTicket) -> Result<Ticket, ApiError> {
        Self::send(Self::json(
            self.request(Method::POST, "api/tickets", Some(token))?,
            new,
        ))
        .await
    }

    /// `expected_version` becomes `If-Match`: a stale version answers `conflict` with the current ticket.
    pub async fn patch_ticket(
        &self,
        token: &str,
        id: Id,
        expected_version: Option<i64>,
        patch: &TicketPatch,
    ) -> Result<Ticket, ApiError> {
        let mut req = Self::json(
            self.request(Method::PATCH, &format!("api/tickets/{id}"), Some(token))?,
            patch,
        );
        if let Some(v) = expected_version {
            req = req.header(reqwest::header::IF_MATCH, v.to_string());
        }
        Self::send(req).await
    }

    /// Moves a ticket to a lane (`None`: "No lane") in one server transaction.
    pub async fn move_ticket(
        &self,
        token: &str,
        id: Id,
        lane_id: Option<Id>,
        expected_version: Option<i64>,
    ) -> Result<Ticket, ApiError> {
        let body = MoveRequest { lane_id };
        let mut req = Self::json(
            self.request(Method::POST, &format!("api/tickets/{id}/move"), Some(token))?,
            &body,
        );
        if let Some(v) = expected_version {
            req = req.header(reqwest::header::IF_MATCH, v.to_string());
        }
        Self::send(req).await
    }

    /// `POST /api/tickets/{id}/acknowledge` (protocol 2): "I am on it". Idempotent; a ticket
    /// that is not urgent, or closed, answers `conflict` with the current ticket.
    pub async fn acknowledge(&self, token: &str, id: Id) -> Result<Ticket, ApiError> {
        Self::send(self.request(
            Method::POST,
            &format!("api/tickets/{id}/acknowledge"),
            Some(token),
        )?)
        .await
    }

    pub async fn delete_ticket(&self, token: &str, id: Id) -> Result<(), ApiError> {
        Self::send_empty(self.request(Method::DELETE, &format!("api/tickets/{id}"), Some(token))?)
            .await
    }

    pub async fn comments(&self, token: &str, ticket_id: Id) -> Result<Vec<Comment>, ApiError> {
        Self::send(self.request(
            Method::GET,
            &format!("api/tickets/{ticket_id}/comments"),
            Some(token),
        )?)
        .await
    }

    pub async fn add_comment(
        &self,
        token: &str,
        ticket_id: Id,
        new: &NewComment,
    ) -> Result<Comment, ApiError> {
        Self::send(Self::json(
            self.request(
                Method::POST,
                &format!("api/tickets/{ticket_id}/comments"),
                Some(token),
            )?,
            new,
        ))
        .await
    }

    pub async fn delete_comment(&self, token: &str, id: Id) -> Result<(), ApiError> {
        Self::send_empty(self.request(
            Method::DELETE,
            &format!("api/comments/{id}"),
            Some(token),
        )?)
        .await
    }

    pub async fn attachments(
        &self,
        token: &str,
        ticket_id: Id,
    ) -> Result<Vec<Attachment>, ApiError> {
        Self::send(self.request(
            Method::GET,
            &format!("api/tickets/{ticket_id}/attachments"),
            Some(token),
        )?)
        .await
    }

    pub async fn upload_attachment(
        &self,
        token: &str,
        ticket_id: Id,
        file_name: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> Result<Attachment, ApiError> {
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(file_name.to_string())
            .mime_str(content_type)
            .map_err(|e| ApiError::Protocol(format!("content type {content_type:?}: {e}")))?;
        let form = reqwest::multipart::Form::new().part("file", part);
        let req = self
            .request(
                Method::POST,
                &format!("api/tickets/{ticket_id}/attachments"),
                Some(token),
            )?
            .multipart(form);
        Self::send(req).await
    }

    pub async fn download_attachment(&self, token: &str, id: Id) -> Result<Vec<u8>, ApiError> {
        let res = Self::execute(self.request(
            Method::GET,
            &format!("api/attachments/{id}"),
            Some(token),
        )?)
        .await?;
        res.bytes()
            .await
            .map(|b| b.to_vec())
            .map_err(|e| ApiError::Network(without_url(&e)))
    }

    pub async fn delete_attachment(&self, token: &str, id: Id) -> Result<(), ApiError> {
        Self::send_empty(self.request(
            Method::DELETE,
            &format!("api/attachments/{id}"),
            Some(token),
        )?)
        .await
    }

    pub async fn lanes(&self, token: &str) -> Result<Vec<Lane>, ApiError> {
        Self::send(self.request(Method::GET, "api/lanes", Some(token))?).await
    }

    pub async fn create_lane(&self, token: &str, new: &NewLane) -> Result<Lane, ApiError> {
        Self::send(Self::json(
            self.request(Method::POST, "api/lanes", Some(token))?,
            new,
        ))
        .await
    }

    pub async fn update_lane(
        &self,
        token: &str,
        id: Id,
        patch: &LanePatch,
    ) -> Result<Lane, ApiError> {
        Self::send(Self::json(
            self.request(Method::PATCH, &format!("api/lanes/{id}"), Some(token))?,
            patch,
        ))
        .await
    }

    pub async fn delete_lane(&self, token: &str, id: Id) -> Result<(), ApiError> {
        Self::send_empty(self.request(Method::DELETE, &format!("api/lanes/{id}"), Some(token))?)
            .await
    }

    pub async fn users(&self, token: &str) -> Result<Vec<User>, ApiError> {
        Self::send(self.request(Method::GET, "api/users", Some(token))?).await
    }

    /// `GET /api/members` (protocol 2): every member's name and role, for any member.
    pub async fn members(&self, token: &str) -> Result<Vec<Member>, ApiError> {
        Self::send(self.request(Method::GET, "api/members", Some(token))?).await
    }

    /// `GET /api/company` (protocol 2).
    pub async fn company(&self, token: &str) -> Result<Company, ApiError> {
        Self::send(self.request(Method::GET, "api/company", Some(token))?).await
    }

    /// `PATCH /api/company` (protocol 2, admins).
    pub async fn update_company(
        &self,
        token: &str,
        patch: &CompanyPatch,
    ) -> Result<Company, ApiError> {
        Self::send(Self::json(
            self.request(Method::PATCH, "api/company", Some(token))?,
            patch,
        ))
        .await
    }

    pub async fn create_user(&self, token: &str, new: &NewUser) -> Result<User, ApiError> {
        Self::send(Self::json(
            self.request(Method::POST, "api/users", Some(token))?,
            new,
        ))
        .await
    }

    pub async fn update_user(
        &self,
        token: &str,
        id: Id,
        patch: &UserPatch,
    ) -> Result<User, ApiError> {
        Self::send(Self::json(
            self.request(Method::PATCH, &format!("api/users/{id}"), Some(token))?,
            patch,
        ))
        .await
    }
}

/// The addresses to try for what a user typed: as is with a scheme; else `https://`, and
/// `http://` too for this machine's own addresses.
fn candidate_urls(address: &str) -> Result<Vec<String>, ApiError> {
    let address = address.trim();
    if address.is_empty() {
        return Err(ApiError::InvalidUrl(
            "no address: type the server's, e.g. desk.example.com".into(),
        ));
    }
    if address.contains("://") {
        return Ok(vec![address.to_string()]);
    }
    let https = format!("https://{address}");
    let url = Url::parse(&https).map_err(|e| ApiError::InvalidUrl(format!("{address:?}: {e}")))?;
    let local = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    let mut out = vec![https];
    if local {
        out.push(format!("http://{address}"));
    }
    Ok(out)
}

/// Why a request failed in TLS, if it did (rustls says so in the error's sources).
fn tls_failure(e: &reqwest::Error) -> Option<String> {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        let lower = text.to_lowercase();
        if lower.contains("certificate")
            || lower.contains("tls")
            || lower.contains("handshake")
            || lower.contains("corrupt message")
        {
            return Some(if lower.contains("corrupt message") {
                "the server does not speak https at this address".to_string()
            } else {
                text
            });
        }
        source = s.source();
    }
    None
}

/// reqwest errors print the URL, which may carry secrets in a query; keep the cause only.
fn without_url(e: &reqwest::Error) -> String {
    let mut msg = e.to_string();
    if let Some(url) = e.url() {
        msg = msg.replace(url.as_str(), "<server>");
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_checked_and_normalized() {
        let api = Api::new("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            api.url("api/board").unwrap().as_str(),
            "http://127.0.0.1:8080/api/board"
        );
        let nested = Api::new("https://desk.example.com/deskbell").unwrap();
        assert_eq!(
            nested.url("/health").unwrap().as_str(),
            "https://desk.example.com/deskbell/health"
        );
        for bad in ["", "localhost:8080", "ftp://x", "http://"] {
            assert!(
                matches!(Api::new(bad), Err(ApiError::InvalidUrl(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn an_address_without_a_scheme_is_tried_as_https_and_only_this_machine_also_as_http() {
        assert_eq!(
            candidate_urls(" desk.example.com ").unwrap(),
            ["https://desk.example.com"]
        );
        assert_eq!(
            candidate_urls("localhost:8080").unwrap(),
            ["https://localhost:8080", "http://localhost:8080"]
        );
        assert_eq!(
            candidate_urls("127.0.0.1:9/x").unwrap(),
            ["https://127.0.0.1:9/x", "http://127.0.0.1:9/x"]
        );
        assert_eq!(
            candidate_urls("[::1]:8080").unwrap(),
            ["https://[::1]:8080", "http://[::1]:8080"]
        );
        assert_eq!(
            candidate_urls("10.0.0.7").unwrap(),
            ["https://10.0.0.7"],
            "not loopback: never downgraded to http"
        );
        assert_eq!(
            candidate_urls("http://desk.example.com").unwrap(),
            ["http://desk.example.com"],
            "a scheme given is kept"
        );
        assert!(matches!(candidate_urls("  "), Err(ApiError::InvalidUrl(_))));
    }
}
