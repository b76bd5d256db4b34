//! Shared server state.
//!
//! Dependencies: the parts it holds (`db`, `config`, `auth`'s token keys, `events`, the
//! limiters, `sessions`, `cluster`'s link) and `error`. The operations (`ops`) and the edges
//! use it; nothing it holds depends on it.

use std::ops::Deref;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use deskbell_protocol::Id;

use crate::anonymous_limits::{ConnectThrottle, HashGate, LoginThrottle};
use crate::auth::TokenKeys;
use crate::cluster::RedisLink;
use crate::config::Config;
use crate::db::{Backend, Db};
use crate::error::{Limit, OpError, OpResult};
use crate::events::EventHub;
use crate::ratelimit::{Exceeded, RateLimiter};
use crate::sessions::SessionCache;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub db: Db,
    pub config: Config,
    pub keys: TokenKeys,
    /// Shared with the tasks that link this node to the others (see `cluster`).
    pub hub: Arc<EventHub>,
    pub limiter: RateLimiter,
    pub sessions: SessionCache,
    /// Bounds the argon2 work anyone can cause (see `anonymous_limits`).
    pub hash_gate: HashGate,
    /// Failed sign-ins per account and per address (see `anonymous_limits`).
    pub login_throttle: LoginThrottle,
    /// Refused socket connects per address (see `anonymous_limits`).
    pub connect_throttle: ConnectThrottle,
    /// The link to the other nodes, when there are any (see `cluster`).
    pub redis: Option<Arc<RedisLink>>,
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(db: Db, config: Config, keys: TokenKeys, redis: Option<Arc<RedisLink>>) -> AppState {
        let limiter = RateLimiter::new(
            config.writes_per_minute,
            config
                .member_writes_per_minute
                .unwrap_or_else(|| RateLimiter::default_share(config.writes_per_minute)),
        );
        let hash_gate = HashGate::new(config.password_checks, config.password_check_queue);
        let hub = Arc::new(EventHub::new(db.clone()));
        if let Some(link) = &redis {
            // Before any write: every commit of this node reaches the others.
            hub.set_publisher(link.clone());
        }
        let sessions = SessionCache::new(db.backend == Backend::Sqlite);
        AppState(Arc::new(Inner {
            db,
            config,
            keys,
            hub,
            limiter,
            sessions,
            hash_gate,
            login_throttle: LoginThrottle::default(),
            connect_throttle: ConnectThrottle::default(),
            redis,
        }))
    }

    /// Counts a write of `member` against the company's rate limit and the member's share of
    /// it (see `ratelimit`): in Redis when nodes share the companies, so that the limit holds
    /// for the cluster; in this process otherwise, and while Redis cannot be reached.
    pub async fn count_write(&self, company_id: Id, member: Id) -> OpResult<()> {
        let mut verdict = None;
        if let (Some(link), true) = (&self.redis, self.limiter.enabled()) {
            verdict = link
                .count_write(
                    company_id,
                    member,
                    self.limiter.per_minute(),
                    self.limiter.per_member(),
                )
                .await;
        }
        verdict
            .unwrap_or_else(|| self.limiter.check(company_id, member, Instant::now()))
            .map_err(|(exceeded, wait)| {
                let limit = match exceeded {
                    Exceeded::Company => Limit::CompanyWrites,
                    Exceeded::Member => Limit::MemberWrites,
                };
                OpError::rate_limited(limit, wait)
            })
    }

    /// Created private on start, like the directories beneath it (see `files`).
    pub fn attachments_dir(&self) -> PathBuf {
        self.config.data_dir.join("attachments")
    }
}
