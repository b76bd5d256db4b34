//! Shared server state.

use std::ops::Deref;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use deskbell_protocol::Id;

use crate::auth::{AuthUser, TokenKeys};
use crate::config::Config;
use crate::db::{Backend, Db};
use crate::error::{ApiError, ApiResult};
use crate::events::EventHub;
use crate::ratelimit::RateLimiter;
use crate::sessions::SessionCache;
use crate::writes::WriteBody;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub db: Db,
    pub config: Config,
    pub keys: TokenKeys,
    pub hub: EventHub,
    pub limiter: RateLimiter,
    pub sessions: SessionCache,
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(db: Db, config: Config, keys: TokenKeys) -> AppState {
        let limiter = RateLimiter::new(config.writes_per_minute);
        let hub = EventHub::new(db.clone());
        let sessions = SessionCache::new(db.backend == Backend::Sqlite);
        AppState(Arc::new(Inner {
            db,
            config,
            keys,
            hub,
            limiter,
            sessions,
        }))
    }

    /// Counts a write against the company's rate limit.
    pub fn count_write(&self, company_id: Id) -> ApiResult<()> {
        self.limiter
            .check(company_id, Instant::now())
            .map_err(|wait| ApiError::RateLimited {
                retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
            })
    }

    /// Runs `body` on `input` as the caller's write in their company (see `writes`) and
    /// returns its result once committed. Counting it against the rate limit is the caller's
    /// (`count_write`), before any work such as storing a file.
    pub async fn write<I, T>(
        &self,
        caller: &AuthUser,
        input: I,
        body: WriteBody<I, T>,
    ) -> ApiResult<T>
    where
        I: Send + Sync + 'static,
        T: Send + 'static,
    {
        self.hub
            .writer(caller.company_id())
            .submit(caller.user.id, input, body)
            .await
    }

    /// Created private on start, like the directories beneath it (see `files`).
    pub fn attachments_dir(&self) -> PathBuf {
        self.config.data_dir.join("attachments")
    }
}
