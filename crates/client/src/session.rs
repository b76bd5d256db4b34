//! A signed-in session: the access token in memory only, the refresh token only in the
//! `TokenStore`. Refreshes are single-flight, so a rotated token is never presented twice
//! (the server would take that as reuse and revoke the session).

use deskbell_protocol::{ApiErrorCode, Company, LoginResponse, User};
use std::future::Future;
use std::sync::Arc;
use tokio::sync::Mutex;

use crate::api::Api;
use crate::error::ApiError;
use crate::token_store::{Account, TokenStore, TokenStoreError};

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Store(#[from] TokenStoreError),
    #[error("no saved session for {0}; sign in")]
    NoSavedSession(String),
}

impl SessionError {
    pub fn code(&self) -> &'static str {
        match self {
            SessionError::Api(e) => e.code(),
            SessionError::Store(e) => e.code(),
            SessionError::NoSavedSession(_) => "no_saved_session",
        }
    }

    /// Only a new sign-in can fix this.
    pub fn needs_login(&self) -> bool {
        match self {
            SessionError::Api(e) => e.needs_login(),
            SessionError::Store(_) | SessionError::NoSavedSession(_) => true,
        }
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

    fn from_response(
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

    /// Gets a new access token, unless one newer than `stale` already arrived meanwhile.
    pub async fn refresh(&self, stale: &str) -> Result<(), SessionError> {
        let _one_at_a_time = self.refreshing.lock().await;
        if self.access_token() != stale {
            return Ok(());
        }
        let Some(refresh_token) = self.store.load(&self.account)? else {
            return Err(SessionError::NoSavedSession(self.account.email.clone()));
        };
        match self.api.refresh(&refresh_token).await {
            Ok(response) => {
                self.store.save(&self.account, &response.refresh_token)?;
                let mut current = self.current.lock().expect("session lock");
                current.access_token = response.access_token;
                current.user = response.user;
                current.company = response.company;
                Ok(())
            }
            Err(e) => {
                if e.needs_login() {
                    let _ = self.store.delete(&self.account);
                }
                Err(e.into())
            }
        }
    }

    /// Runs an authorized call; on `token_expired` refreshes once and runs it again.
    pub async fn call<T, F, Fut>(&self, f: F) -> Result<T, SessionError>
    where
        F: Fn(Api, String) -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let token = self.access_token();
        match f(self.api.clone(), token.clone()).await {
            Err(e) if e.server_code() == Some(ApiErrorCode::TokenExpired) => {
                self.refresh(&token).await?;
                Ok(f(self.api.clone(), self.access_token()).await?)
            }
            other => Ok(other?),
        }
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
