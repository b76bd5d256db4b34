//! A signed-in session: the access token in memory only, the refresh token only in the
//! `TokenStore`. Refreshes are single-flight, so a rotated token is never presented twice
//! (the server would take that as reuse and revoke the session).
//!
//! A session can end: the server says so (`company-{id}-session`), refuses its tokens (a REST
//! 401 on any call made through it, a refused refresh) or refuses its socket. [`Session::end`]
//! then removes the saved refresh token and forgets the access token, once, and whoever waits
//! on [`Session::wait_ended`] (the connection supervisor) learns why.

use deskbell_protocol::{
    ApiErrorCode, Company, ConnectErrorCode, LoginResponse, SessionEndReason, User,
};
use std::future::Future;
use std::sync::Arc;
use tokio::sync::{watch, Mutex};

use crate::api::Api;
use crate::error::ApiError;
use crate::error::{ClientErrorCode, ErrorCode};
use crate::token_store::{Account, TokenStore, TokenStoreError};

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Store(#[from] TokenStoreError),
    #[error("no saved session for {0}; sign in")]
    NoSavedSession(String),
    /// The session is over; nothing is sent with it any more.
    #[error("{0}")]
    Ended(SessionEnd),
}

impl SessionError {
    pub fn code(&self) -> ErrorCode {
        match self {
            SessionError::Api(e) => e.code(),
            SessionError::Store(e) => e.code(),
            SessionError::NoSavedSession(_) => ClientErrorCode::NoSavedSession.into(),
            SessionError::Ended(_) => ClientErrorCode::SessionEnded.into(),
        }
    }

    /// Only a new sign-in can fix this.
    pub fn needs_login(&self) -> bool {
        match self {
            SessionError::Api(e) => e.needs_login(),
            SessionError::Store(_) | SessionError::NoSavedSession(_) | SessionError::Ended(_) => {
                true
            }
        }
    }
}

/// Why a session is over: only a new sign-in goes on. [`SessionEnd::describe`] is the plain
/// sentence the person reads (the UI shows it on the sign-in form, the CLI prints it).
#[derive(Debug, Clone)]
pub enum SessionEnd {
    /// The server ended it and said why (`company-{id}-session`).
    Server(SessionEndReason),
    /// The server ended it, but its session message could not be read (or named a reason this
    /// client does not know): taken as the end it announces, with a generic sentence.
    Unreadable,
    /// The server refused the session's tokens over REST: a 401 on a call made through it
    /// (revoked session, disabled account) or a refused refresh.
    Refused(ApiError),
    /// The realtime namespace refused the token (never retried as is).
    Rejected(ConnectErrorCode),
    /// No refresh token could be read from the store to go on with.
    NoToken(String),
}

impl SessionEnd {
    /// What ended it, as a stable code (for logs and scripts).
    pub fn code(&self) -> &'static str {
        match self {
            SessionEnd::Server(reason) => reason.as_str(),
            SessionEnd::Unreadable => "session_message_unreadable",
            SessionEnd::Refused(e) => e.code().as_str(),
            SessionEnd::Rejected(code) => code.as_str(),
            SessionEnd::NoToken(_) => "no_saved_session",
        }
    }

    /// A plain sentence for the person whose session ended.
    pub fn describe(&self) -> String {
        match self {
            SessionEnd::Server(reason) => reason.describe().to_string(),
            SessionEnd::Unreadable => "The server ended this session; sign in again".to_string(),
            // Reuse of a rotated refresh token: the server revoked the whole session.
            SessionEnd::Refused(e) if e.server_code() == Some(ApiErrorCode::RefreshReused) => {
                SessionEndReason::Revoked.describe().to_string()
            }
            SessionEnd::Refused(ApiError::Server { message, .. }) => format!(
                "The server ended this session ({}); sign in again",
                message.trim().trim_end_matches('.')
            ),
            SessionEnd::Refused(e) => format!("This session cannot go on ({e}); sign in again"),
            SessionEnd::Rejected(ConnectErrorCode::Forbidden) => {
                "This account may not use this company's workspace; sign in again".to_string()
            }
            SessionEnd::Rejected(ConnectErrorCode::InvalidNamespace) => {
                "The server has no workspace for this company; sign in again".to_string()
            }
            SessionEnd::Rejected(code) => {
                format!("The server no longer accepts this session ({code}); sign in again")
            }
            SessionEnd::NoToken(why) => {
                format!("The saved session could not be used ({why}); sign in again")
            }
        }
    }

    /// The end an error means (`SessionError::needs_login` ones).
    pub fn from_error(e: &SessionError) -> SessionEnd {
        match e {
            SessionError::Ended(end) => end.clone(),
            SessionError::Api(e) => SessionEnd::Refused(e.clone()),
            SessionError::Store(e) => SessionEnd::NoToken(e.to_string()),
            SessionError::NoSavedSession(_) => SessionEnd::NoToken("none is saved".into()),
        }
    }
}

impl std::fmt::Display for SessionEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

struct Current {
    access_token: String,
    user: User,
    company: Company,
}

pub struct Session {
    api: Api,
    store: Arc<dyn TokenStore>,
    account: Account,
    current: std::sync::Mutex<Current>,
    refreshing: Mutex<()>,
    /// Set once, by [`Session::end`].
    ended: watch::Sender<Option<SessionEnd>>,
    /// Held by [`Session::end`] while it ends the session.
    ending: std::sync::Mutex<()>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the tokens.
        f.debug_struct("Session")
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Signs in with a password and keeps the refresh token in `store`.
    pub async fn login(
        api: Api,
        store: Arc<dyn TokenStore>,
        email: &str,
        password: &str,
    ) -> Result<Session, SessionError> {
        let response = api.login(email, password).await?;
        let account = Account::new(api.base_url().to_string(), response.user.email.clone());
        store.save(&account, &response.refresh_token)?;
        Ok(Session::from_response(api, store, account, response))
    }

    /// Resumes the session saved in `store` for `email` on this server.
    pub async fn resume(
        api: Api,
        store: Arc<dyn TokenStore>,
        email: &str,
    ) -> Result<Session, SessionError> {
        let account = Account::new(api.base_url().to_string(), email.trim().to_lowercase());
        let Some(refresh_token) = store.load(&account)? else {
            return Err(SessionError::NoSavedSession(email.to_string()));
        };
        let response = match api.refresh(&refresh_token).await {
            Ok(r) => r,
            Err(e) => {
                if e.needs_login() {
                    // A dead refresh token is of no use to anyone; do not keep it.
                    let _ = store.delete(&account);
                }
                return Err(e.into());
            }
        };
        store.save(&account, &response.refresh_token)?;
        Ok(Session::from_response(api, store, account, response))
    }

    /// A session from a login answer whose refresh token is already in `store`.
    pub(crate) fn from_response(
        api: Api,
        store: Arc<dyn TokenStore>,
        account: Account,
        response: LoginResponse,
    ) -> Session {
        Session {
            api,
            store,
            account,
            current: std::sync::Mutex::new(Current {
                access_token: response.access_token,
                user: response.user,
                company: response.company,
            }),
            refreshing: Mutex::new(()),
            ended: watch::Sender::new(None),
            ending: std::sync::Mutex::new(()),
        }
    }

    pub fn api(&self) -> &Api {
        &self.api
    }

    pub fn account(&self) -> &Account {
        &self.account
    }

    pub fn user(&self) -> User {
        self.current.lock().expect("session lock").user.clone()
    }

    /// The account as the server has it now (after a role change).
    pub(crate) fn set_user(&self, user: User) {
        self.current.lock().expect("session lock").user = user;
    }

    pub fn company(&self) -> Company {
        self.current.lock().expect("session lock").company.clone()
    }

    pub fn access_token(&self) -> String {
        self.current
            .lock()
            .expect("session lock")
            .access_token
            .clone()
    }

    /// Why the session ended, once it has.
    pub fn ended(&self) -> Option<SessionEnd> {
        self.ended.borrow().clone()
    }

    /// Waits until the session ends (forever if it never does).
    pub async fn wait_ended(&self) -> SessionEnd {
        let mut ended = self.ended.subscribe();
        loop {
            if let Some(end) = ended.borrow_and_update().clone() {
                return end;
            }
            if ended.changed().await.is_err() {
                // Unreachable while `self` (the sender's owner) lives.
                std::future::pending::<()>().await;
            }
        }
    }

    /// Ends the session for good: the saved refresh token is removed from the store and the
    /// access token forgotten, so nothing of it is presented again, and the end is logged.
    /// Only the first end counts; any later one answers it. Both happen before anyone waiting
    /// on [`Session::wait_ended`] is told, so that a new sign-in of the same account (which can
    /// only start once the end is shown) never has its new token removed by this old session.
    pub fn end(&self, end: SessionEnd) -> SessionEnd {
        // Concurrent ends wait here for the first; readers of `ended` never do.
        let _one_at_a_time = self.ending.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(first) = self.ended() {
            return first;
        }
        self.current
            .lock()
            .expect("session lock")
            .access_token
            .clear();
        let removed = self.store.delete(&self.account);
        tracing::info!(
            email = %self.account.email,
            code = end.code(),
            reason = %end,
            "the session ended: it needs a new sign-in"
        );
        if let Err(e) = removed {
            tracing::warn!(code = %e.code(), error = %e, "could not remove the saved session from the store");
        }
        self.ended.send_replace(Some(end.clone()));
        end
    }

    /// Ends the session when `error` says the server no longer accepts it.
    fn end_on(&self, error: &SessionError) {
        let over = match error {
            SessionError::Api(e) => e.ends_session(),
            SessionError::NoSavedSession(_) => true,
            // A store that cannot be read just now does not mean the session is over.
            SessionError::Store(_) | SessionError::Ended(_) => false,
        };
        if over {
            self.end(SessionEnd::from_error(error));
        }
    }

    /// Gets a new access token, unless one newer than `stale` already arrived meanwhile.
    pub async fn refresh(&self, stale: &str) -> Result<(), SessionError> {
        let result = self.refresh_once(stale).await;
        if let Err(e) = &result {
            self.end_on(e);
        }
        result
    }

    async fn refresh_once(&self, stale: &str) -> Result<(), SessionError> {
        let _one_at_a_time = self.refreshing.lock().await;
        if let Some(end) = self.ended() {
            return Err(SessionError::Ended(end));
        }
        if self.access_token() != stale {
            return Ok(());
        }
        let Some(refresh_token) = self.store.load(&self.account)? else {
            return Err(SessionError::NoSavedSession(self.account.email.clone()));
        };
        let response = self.api.refresh(&refresh_token).await?;
        self.store.save(&self.account, &response.refresh_token)?;
        let mut current = self.current.lock().expect("session lock");
        current.access_token = response.access_token;
        current.user = response.user;
        current.company = response.company;
        Ok(())
    }

    /// Runs an authorized call; on `token_expired` refreshes once and runs it again. An answer
    /// that means the session is over (401 `unauthorized`: revoked, account disabled; a refused
    /// refresh) ends it, whatever call it came from; once ended, nothing is sent.
    pub async fn call<T, F, Fut>(&self, f: F) -> Result<T, SessionError>
    where
        F: Fn(Api, String) -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        if let Some(end) = self.ended() {
            return Err(SessionError::Ended(end));
        }
        let token = self.access_token();
        let result = match f(self.api.clone(), token.clone()).await {
            Err(e) if e.server_code() == Some(ApiErrorCode::TokenExpired) => {
                match self.refresh(&token).await {
                    Ok(()) => f(self.api.clone(), self.access_token())
                        .await
                        .map_err(SessionError::from),
                    Err(e) => Err(e),
                }
            }
            other => other.map_err(SessionError::from),
        };
        if let Err(e) = &result {
            self.end_on(e);
        }
        result
    }

    /// Signs out on the server (best effort) and forgets the refresh token.
    pub async fn logout(&self) -> Result<(), SessionError> {
        let refresh_token = self.store.load(&self.account).ok().flatten();
        let server = self
            .api
            .logout(&self.access_token(), refresh_token.as_deref())
            .await;
        self.store.delete(&self.account)?;
        match server {
            Ok(()) => Ok(()),
            // Already signed out there, or unreachable: locally it is over either way.
            Err(e)
                if e.needs_login()
                    || e.is_transient()
                    || e.server_code() == Some(ApiErrorCode::TokenExpired) =>
            {
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }
}
