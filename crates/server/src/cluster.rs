//! Several server processes ("nodes") serving the same companies: one PostgreSQL database,
//! joined by Redis (`--redis-url`). The rules:
//!
//! - The event log is the source of truth; Redis only makes delivery fast. Every commit is
//!   published once on the cluster's channel (pub/sub, at most once). Each node's emitters (see `events`)
//!   hand events out in `seq` order and read whatever did not reach them from the log: at once
//!   when a later event arrives, within `LOG_POLL_INTERVAL` when nothing later does (the log
//!   poller reads every company's head), and at once after the Redis link comes back.
//! - A node ignores its own messages (its emitters got those events from its writers).
//! - The per-company write limit and its member shares are counted in Redis, atomically in one
//!   script on Redis's clock, so every node counts the same writes. While Redis cannot be
//!   reached each node counts alone (the limit then holds per node) and `/health` says so.
//! - Sessions need nothing here: every node reads them from the database on every request
//!   (see `sessions`), and session ends are events in the log like any other.
//!
//! Dependencies: `events` (the hub this node's emitters hang off), `db`, `store`, `ratelimit`.
//! The server's state holds the link; this module never sees the state.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use deskbell_protocol::Id;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::sync::mpsc;

use crate::db::{Backend, Db};
use crate::events::{EventHub, EventRun, LogEvent, Publish};
use crate::ratelimit::Exceeded;

/// Every Redis name of a cluster starts `deskbell:{cluster}:`, the cluster being named by its
/// database (see `prepare`): the channel every node publishes its commits on is `…events`, the
/// write windows are `…writes:{company}` and `…writes:{company}:{member}`.
fn redis_name(cluster: &str, what: &str) -> String {
    format!("deskbell:{cluster}:{what}")
}
/// How often each node reads every company's head from the log, to catch up on what Redis
/// did not bring (a lost message followed by no later one).
pub const LOG_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// How long a Redis command may take before the link counts as down.
const REDIS_TIMEOUT: Duration = Duration::from_secs(1);
/// How often the subscription is checked with a PING: a paused or unreachable Redis keeps a
/// subscription open yet silent.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// Runs published in one round trip at most.
const PUBLISH_BATCH: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("invalid --redis-url: {0}")]
    BadUrl(String),
    #[error("cannot reach Redis at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("Redis at {url} is version {found}; Deskbell needs Redis 6.2 or newer")]
    TooOld { url: String, found: String },
    #[error(
        "--redis-url joins nodes that share one database: it needs PostgreSQL \
         (--database-url postgres://…); a SQLite database is served by one node"
    )]
    NeedsPostgres,
}

/// One commit as it travels between nodes.
#[derive(Serialize, Deserialize)]
struct Message<'a> {
    node: &'a str,
    company: Id,
    #[serde(borrow)]
    events: Vec<WireEvent<'a>>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireEvent<'a> {
    seq: i64,
    resource: &'a str,
    audience: &'a str,
    audience_user: Option<Id>,
    #[serde(borrow)]
    payload: &'a RawValue,
}

fn encode(node: &str, run: &[LogEvent]) -> Option<Vec<u8>> {
    let company = run.first()?.company_id;
    let events = run
        .iter()
        .map(|e| {
            let (audience, audience_user) = e.audience.to_db();
            WireEvent {
                seq: e.seq,
                resource: e.resource.as_str(),
                audience,
                audience_user,
                payload: &e.payload,
            }
        })
        .collect();
    serde_json::to_vec(&Message {
        node,
        company,
        events,
    })
    .ok()
}

/// The events of another node's message; `None` for this node's own or an unreadable one.
fn decode(own: &str, bytes: &[u8]) -> Option<EventRun> {
    let message: Message = match serde_json::from_slice(bytes) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "unreadable message from another node ignored");
            return None;
        }
    };
    if message.node == own {
        return None;
    }
    let run: Vec<LogEvent> = message
        .events
        .into_iter()
        .filter_map(|e| {
            LogEvent::from_stored(
                message.company,
                e.seq,
                e.resource,
                e.audience,
                e.audience_user,
                e.payload.get().to_string(),
            )
        })
        .collect();
    // A run must be consecutive (see `events::Emitter`): anything else is left to the log.
    let consecutive = run.windows(2).all(|w| w[1].seq == w[0].seq + 1);
    (consecutive && !run.is_empty()).then(|| Arc::new(run))
}

/// This node's link to Redis.
pub struct RedisLink {
    url: String,
    client: redis::Client,
    node: String,
    /// The cluster's channel (see `redis_name`).
    channel: String,
    cluster: String,
    publish: mpsc::UnboundedSender<EventRun>,
    /// Whether the last publish, subscription heartbeat or rate-limit check got through.
    up: AtomicBool,
    /// Messages this node published, and received from other nodes.
    pub published: AtomicU64,
    pub received: AtomicU64,
    limiter: redis::Script,
    /// Reconnects by itself; cloned per use (cheap, one multiplexed connection).
    commands: redis::aio::ConnectionManager,
    publish_queue: std::sync::Mutex<Option<mpsc::UnboundedReceiver<EventRun>>>,
}

impl Publish for RedisLink {
    fn publish(&self, run: &EventRun) {
        // The receiver lives as long as the link; a send error means the server is stopping.
        let _ = self.publish.send(run.clone());
    }
}

impl RedisLink {
    /// Connects to Redis and checks it can serve: fails with a clear error at start rather
    /// than serving a cluster that does not hear its other nodes.
    pub async fn connect(
        url: &str,
        node: &str,
        cluster: &str,
    ) -> Result<Arc<RedisLink>, ClusterError> {
        let shown = crate::db::redact_url(url);
        let client = redis::Client::open(url).map_err(|e| ClusterError::BadUrl(e.to_string()))?;
        let unreachable = |reason: String| ClusterError::Unreachable {
            url: shown.clone(),
            reason,
        };
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(REDIS_TIMEOUT)
            .set_response_timeout(REDIS_TIMEOUT)
            .set_number_of_retries(1);
        let mut commands = tokio::time::timeout(
            REDIS_TIMEOUT * 5,
            client.get_connection_manager_with_config(config),
        )
        .await
        .map_err(|_| unreachable("no answer in 5 s".into()))?
        .map_err(|e| unreachable(e.to_string()))?;
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query_async(&mut commands)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let version = info
            .lines()
            .find_map(|l| l.strip_prefix("redis_version:"))
            .unwrap_or("unknown")
            .trim()
            .to_string();
        let parts: Vec<u32> = version.split('.').filter_map(|p| p.parse().ok()).collect();
        if parts.len() < 2 || (parts[0], parts[1]) < (6, 2) {
            return Err(ClusterError::TooOld {
                url: shown,
                found: version,
            });
        }
        let (publish, queue) = mpsc::unbounded_channel();
        let link = Arc::new(RedisLink {
            url: shown,
            client,
            node: node.to_string(),
            channel: redis_name(cluster, "events"),
            cluster: cluster.to_string(),
            publish,
            up: AtomicBool::new(true),
            published: AtomicU64::new(0),
            received: AtomicU64::new(0),
            limiter: redis::Script::new(LIMIT_SCRIPT),
            commands,
            publish_queue: std::sync::Mutex::new(Some(queue)),
        });
        tracing::info!(redis = %link.url, version, "Redis link ready");
        Ok(link)
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    fn mark(&self, up: bool, what: &str, error: Option<&dyn std::fmt::Display>) {
        let was = self.up.swap(up, Ordering::AcqRel);
        match (was, up) {
            (true, false) => tracing::warn!(
                redis = %self.url,
                what,
                error = error.map(|e| e.to_string()),
                "Redis link down: other nodes' events now come from the log (within a second), \
                 and each node counts the write limit alone"
            ),
            (false, true) => tracing::info!(redis = %self.url, what, "Redis link back"),
            _ => {}
        }
    }

    /// Starts publishing this node's commits and hearing the other nodes'.
    pub fn start(self: &Arc<Self>, hub: Arc<EventHub>) -> Vec<tokio::task::JoinHandle<()>> {
        let queue = self
            .publish_queue
            .lock()
            .expect("publish queue poisoned")
            .take()
            .expect("started once");
        vec![
            tokio::spawn(self.clone().run_publisher(queue)),
            tokio::spawn(self.clone().run_subscriber(hub)),
        ]
    }

    async fn run_publisher(self: Arc<Self>, mut queue: mpsc::UnboundedReceiver<EventRun>) {
        let mut commands = self.commands.clone();
        let mut runs = Vec::with_capacity(PUBLISH_BATCH);
        while queue.recv_many(&mut runs, PUBLISH_BATCH).await > 0 {
            let mut pipe = redis::pipe();
            let messages = runs.len() as u64;
            for run in runs.drain(..) {
                if let Some(bytes) = encode(&self.node, &run) {
                    pipe.cmd("PUBLISH").arg(&self.channel).arg(bytes).ignore();
                }
            }
            // Lost when Redis is down: the other nodes read these events from the log.
            match tokio::time::timeout(REDIS_TIMEOUT, pipe.query_async::<()>(&mut commands)).await {
                Ok(Ok(())) => {
                    self.published.fetch_add(messages, Ordering::Relaxed);
                    self.mark(true, "publish", None);
                }
                Ok(Err(e)) => self.mark(false, "publish", Some(&e)),
                Err(_) => self.mark(false, "publish", Some(&"timed out")),
            }
        }
    }

    async fn run_subscriber(self: Arc<Self>, hub: Arc<EventHub>) {
        let mut retry = Duration::from_millis(100);
        loop {
            match self.subscribe_once(&hub).await {
                Ok(()) => retry = Duration::from_millis(100),
                Err(e) => {
                    self.mark(false, "subscribe", Some(&e));
                    tokio::time::sleep(retry).await;
                    retry = (retry * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    /// One subscription, until it fails or goes silent.
    async fn subscribe_once(&self, hub: &EventHub) -> Result<(), String> {
        let pubsub = tokio::time::timeout(REDIS_TIMEOUT, self.client.get_async_pubsub())
            .await
            .map_err(|_| "connect timed out".to_string())?
            .map_err(|e| e.to_string())?;
        let (mut sink, mut stream) = pubsub.split();
        tokio::time::timeout(REDIS_TIMEOUT, sink.subscribe(&self.channel))
            .await
            .map_err(|_| "subscribe timed out".to_string())?
            .map_err(|e| e.to_string())?;
        self.mark(true, "subscribe", None);
        // Whatever the other nodes published while this node was not subscribed is lost.
        hub.catch_up_all();
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                message = stream.next() => {
                    let Some(message) = message else {
                        return Err("subscription closed".into());
                    };
                    self.received.fetch_add(1, Ordering::Relaxed);
                    if let Some(run) = decode(&self.node, message.get_payload_bytes()) {
                        hub.deliver_remote(run);
                    }
                }
                _ = heartbeat.tick() => {
                    match tokio::time::timeout(REDIS_TIMEOUT, sink.ping::<redis::Value>()).await {
                        Ok(Ok(_)) => self.mark(true, "heartbeat", None),
                        Ok(Err(e)) => return Err(format!("heartbeat failed: {e}")),
                        Err(_) => return Err("heartbeat timed out".into()),
                    }
                }
            }
        }
    }

    /// Counts one write of `member` in Redis, for every node; `None` when Redis could not be
    /// asked (the caller counts locally instead).
    pub async fn count_write(
        &self,
        company: Id,
        member: Id,
        per_minute: u32,
        per_member: u32,
    ) -> Option<Result<(), (Exceeded, Duration)>> {
        let mut commands = self.commands.clone();
        let hit = format!("{}:{}", self.node, uuid::Uuid::new_v4().simple());
        let mut invocation = self.limiter.prepare_invoke();
        invocation
            .key(redis_name(&self.cluster, &format!("writes:{company}")))
            .key(redis_name(
                &self.cluster,
                &format!("writes:{company}:{member}"),
            ))
            .arg(60_000)
            .arg(per_minute)
            .arg(per_member)
            .arg(hit);
        let answer = tokio::time::timeout(
            REDIS_TIMEOUT,
            invocation.invoke_async::<(i64, i64)>(&mut commands),
        )
        .await;
        match answer {
            Ok(Ok((verdict, wait_ms))) => {
                self.mark(true, "rate limit", None);
                let wait = Duration::from_millis(wait_ms.max(1) as u64);
                Some(match verdict {
                    0 => Ok(()),
                    2 => Err((Exceeded::Member, wait)),
                    _ => Err((Exceeded::Company, wait)),
                })
            }
            Ok(Err(e)) => {
                self.mark(false, "rate limit", Some(&e));
                None
            }
            Err(_) => {
                self.mark(false, "rate limit", Some(&"timed out"));
                None
            }
        }
    }
}

/// A sliding one-minute window per company and per member, as `ratelimit` keeps in memory: a
/// member's full share refuses first, then the company's; a refused write counts nowhere.
/// Answers `{0, 0}` (counted), `{1, ms}` (company full) or `{2, ms}` (member full), with how
/// long until the window has room. Redis's clock, so nodes' clocks need not agree.
const LIMIT_SCRIPT: &str = r"
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
local function wait(key)
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) + window - now)
end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then return {2, wait(KEYS[2])} end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return {1, wait(KEYS[1])} end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('ZADD', KEYS[2], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window)
redis.call('PEXPIRE', KEYS[2], window)
return {0, 0}
";

/// Reads every company's head every `LOG_POLL_INTERVAL` and has the emitters that are behind
/// catch up from the log: what bounds how late an event can be when the message that carried
/// it was lost and nothing followed it. Only with PostgreSQL (another process may write).
pub async fn poll_log_heads(db: Db, hub: Arc<EventHub>) {
    if db.backend != Backend::Postgres {
        return;
    }
    let mut tick = tokio::time::interval(LOG_POLL_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if hub.started_companies().is_empty() {
            continue;
        }
        match crate::store::company_heads(&db.pool).await {
            Ok(heads) => {
                for (company, head) in heads {
                    hub.observe_head(company, head);
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the companies' event heads"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Audience;
    use deskbell_protocol::Resource;

    fn event(seq: i64) -> LogEvent {
        LogEvent {
            company_id: 3,
            seq,
            resource: Resource::Ticket,
            audience: Audience::Assignee(7),
            payload: RawValue::from_string(format!("{{\"seq\":{seq}}}")).unwrap(),
            ends: None,
        }
    }

    #[test]
    fn a_run_travels_whole_and_a_node_ignores_its_own() {
        let bytes = encode("node-a", &[event(4), event(5)]).unwrap();
        assert!(decode("node-a", &bytes).is_none(), "own message");
        let run = decode("node-b", &bytes).expect("another node's");
        assert_eq!(run.iter().map(|e| e.seq).collect::<Vec<_>>(), [4, 5]);
        assert_eq!(run[0].company_id, 3);
        assert_eq!(run[1].audience, Audience::Assignee(7));
        assert_eq!(run[1].payload.get(), "{\"seq\":5}");
    }

    #[test]
    fn what_is_not_a_consecutive_readable_run_is_left_to_the_log() {
        let gap = encode("a", &[event(4), event(6)]).unwrap();
        assert!(decode("b", &gap).is_none());
        assert!(decode("b", b"{not json").is_none());
        let unknown = br#"{"node":"a","company":1,"events":[{"seq":1,"resource":"nope","audience":"all","audienceUser":null,"payload":{}}]}"#;
        assert!(decode("b", unknown).is_none());
    }
}
