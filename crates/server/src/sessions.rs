//! Recently checked sessions: a burst of requests from one signed-in user reads the user and
//! their session from the database once, not once per request.
//!
//! Exact within this process: every change that can end a session or change a user
//! (`invalidate`) moves the cache to a new epoch, and an entry counts only in the epoch in
//! which the database was read for it. Entries also expire after `SESSION_CACHE_TTL`, which
//! bounds what a change made outside this server could go unseen for. Only used with SQLite,
//! whose database this process alone writes; with PostgreSQL other server processes may end
//! sessions, so every request reads the database.
//!
//! Dependencies: none inside the crate; a building block the others use.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use deskbell_protocol::{Id, User};

pub const SESSION_CACHE_TTL: Duration = Duration::from_secs(2);
/// Sessions kept at most; a full cache is emptied rather than grown.
const SESSION_CACHE_MAX: usize = 10_000;

pub struct SessionCache {
    enabled: bool,
    epoch: AtomicU64,
    entries: Mutex<HashMap<(Id, String), Checked>>,
}

struct Checked {
    user: User,
    epoch: u64,
    at: Instant,
}

impl SessionCache {
    pub fn new(enabled: bool) -> SessionCache {
        SessionCache {
            enabled,
            epoch: AtomicU64::new(0),
            entries: Mutex::default(),
        }
    }

    /// To be read before the database is, and passed to `remember` with what it said.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// The user of a live session, if it was checked in the current epoch and recently.
    pub fn get(&self, user_id: Id, session: &str, now: Instant) -> Option<User> {
        if !self.enabled {
            return None;
        }
        let entries = self.entries.lock().expect("session cache poisoned");
        let checked = entries.get(&(user_id, session.to_string()))?;
        let fresh =
            checked.epoch == self.epoch() && now.duration_since(checked.at) < SESSION_CACHE_TTL;
        fresh.then(|| checked.user.clone())
    }

    /// Records a session the database showed live (with an active user) in `epoch`.
    pub fn remember(&self, user: &User, session: &str, epoch: u64, now: Instant) {
        if !self.enabled || epoch != self.epoch() {
            return;
        }
        let mut entries = self.entries.lock().expect("session cache poisoned");
        if entries.len() >= SESSION_CACHE_MAX {
            entries.clear();
        }
        entries.insert(
            (user.id, session.to_string()),
            Checked {
                user: user.clone(),
                epoch,
                at: now,
            },
        );
    }

    /// Forgets every session; called once a change that can end one or change a user is
    /// committed.
    pub fn invalidate(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.entries.lock().expect("session cache poisoned").clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deskbell_protocol::Role;

    fn user(id: Id) -> User {
        User {
            id,
            company_id: 1,
            name: "u".into(),
            email: "u@x".into(),
            role: Role::Agent,
            active: true,
        }
    }

    #[test]
    fn a_session_is_remembered_until_it_expires() {
        let cache = SessionCache::new(true);
        let t0 = Instant::now();
        assert!(cache.get(1, "s", t0).is_none());
        cache.remember(&user(1), "s", cache.epoch(), t0);
        assert_eq!(
            cache
                .get(1, "s", t0 + Duration::from_millis(10))
                .unwrap()
                .id,
            1
        );
        assert!(cache.get(1, "other", t0).is_none(), "per session");
        assert!(cache.get(2, "s", t0).is_none(), "per user");
        assert!(
            cache.get(1, "s", t0 + SESSION_CACHE_TTL).is_none(),
            "expired"
        );
    }

    #[test]
    fn invalidation_forgets_everything_even_a_read_in_flight() {
        let cache = SessionCache::new(true);
        let t0 = Instant::now();
        cache.remember(&user(1), "s", cache.epoch(), t0);
        // A request read the epoch and the database before a logout committed...
        let read_before = cache.epoch();
        cache.invalidate();
        assert!(cache.get(1, "s", t0).is_none());
        // ...and records what it saw afterwards: it must not count.
        cache.remember(&user(1), "s", read_before, t0);
        assert!(cache.get(1, "s", t0).is_none());
        cache.remember(&user(1), "s", cache.epoch(), t0);
        assert!(cache.get(1, "s", t0).is_some());
    }

    #[test]
    fn a_disabled_cache_remembers_nothing() {
        let cache = SessionCache::new(false);
        let t0 = Instant::now();
        cache.remember(&user(1), "s", cache.epoch(), t0);
        assert!(cache.get(1, "s", t0).is_none());
    }
}
