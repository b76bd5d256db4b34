//! What an anonymous client can make the server do, bounded: password checks, sign-in
//! guesses and refused socket connects.
//!
//! - `HashGate`: argon2 is deliberately slow and takes ~19 MiB per hash. At most `parallel`
//!   hashes run at once (the machine's cores by default), at most `queue` more wait for one;
//!   beyond that a sign-in is refused at once (429) instead of piling up memory and threads.
//! - `LoginThrottle`: failed sign-ins are counted per account (the email as typed, whether or
//!   not such an account exists, so refusals reveal nothing) and per client address. The first
//!   `free` failures cost nothing; each one after that blocks that key for a delay that doubles
//!   (1 s, 2 s, 4 s … up to `max_delay`). While blocked every attempt is refused (429 with
//!   Retry-After) before any password is checked, the right one included. A key forgets its
//!   failures `forget_after` after the last one; a successful sign-in forgets the account's
//!   (not the address's: one valid account must not buy an address more guesses).
//!
//! - `ConnectThrottle`: refused namespace connects (`unauthorized`, `forbidden`,
//!   `invalid_namespace`) are counted per client address with the same doubling delay. A
//!   refused connect holds its Engine.IO connection's memory until socketioxide's connect
//!   timeout, even after the client went: an address past its free refusals gets 429 on
//!   `/socket.io/` before any connection is made.
//!
//! All are enforced before the work they limit. The throttles' tables are bounded: when full,
//! keys no longer blocked are dropped first, then the stalest.
//!
//! Dependencies: none inside the crate; a building block the others use.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

/// A password hash could not start: too many are running and waiting already.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many password checks are under way")]
pub struct HashGateFull;

pub struct HashGate {
    permits: Semaphore,
    parallel: usize,
    queue: usize,
    /// Hashes waiting for a permit.
    waiting: AtomicUsize,
    /// Hashes running.
    running: AtomicUsize,
    /// The most that ever ran at once (observability, tests).
    peak: AtomicUsize,
}

impl HashGate {
    pub fn new(parallel: usize, queue: usize) -> HashGate {
        let parallel = parallel.max(1);
        HashGate {
            permits: Semaphore::new(parallel),
            parallel,
            queue,
            waiting: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        }
    }

    /// Runs `work` (a hash) on the blocking pool once a permit is free, or refuses at once
    /// when `queue` others already wait.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashGateFull> {
        let permit = match self.permits.try_acquire() {
            Ok(permit) => permit,
            Err(_) => {
                let waiting = self.waiting.fetch_add(1, Ordering::AcqRel);
                if waiting >= self.queue {
                    self.waiting.fetch_sub(1, Ordering::AcqRel);
                    return Err(HashGateFull);
                }
                let permit = self.permits.acquire().await;
                self.waiting.fetch_sub(1, Ordering::AcqRel);
                // The semaphore is never closed.
                permit.map_err(|_| HashGateFull)?
            }
        };
        let running = self.running.fetch_add(1, Ordering::AcqRel) + 1;
        self.peak.fetch_max(running, Ordering::AcqRel);
        let result = tokio::task::spawn_blocking(work).await;
        self.running.fetch_sub(1, Ordering::AcqRel);
        drop(permit);
        // A hash does not panic (argon2 with valid parameters); if the task failed anyway,
        // the caller gets a refusal, never a crash.
        result.map_err(|_| HashGateFull)
    }

    pub fn parallel(&self) -> usize {
        self.parallel
    }

    /// The most hashes that ever ran at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Acquire)
    }
}

/// How one kind of key (accounts, addresses) is throttled.
#[derive(Debug, Clone, Copy)]
pub struct ThrottlePolicy {
    /// Failures that cost nothing.
    pub free: u32,
    /// The delay after the first failure beyond `free`; doubles with each further one.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// A key's failures are forgotten this long after its last one.
    pub forget_after: Duration,
    /// Keys tracked at most.
    pub max_keys: usize,
}

impl ThrottlePolicy {
    pub const ACCOUNT: ThrottlePolicy = ThrottlePolicy {
        free: 5,
        base_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(15 * 60),
        forget_after: Duration::from_secs(15 * 60),
        max_keys: 100_000,
    };
    /// Refused namespace connects per address: a desktop whose session ended is refused once
    /// and stops; a hundred in a row is a client that will not.
    pub const REFUSED_CONNECTS: ThrottlePolicy = ThrottlePolicy {
        free: 100,
        base_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(5 * 60),
        forget_after: Duration::from_secs(10 * 60),
        max_keys: 100_000,
    };
    pub const ADDRESS: ThrottlePolicy = ThrottlePolicy {
        free: 20,
        base_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(15 * 60),
        forget_after: Duration::from_secs(15 * 60),
        max_keys: 100_000,
    };

    /// How long a key with `failures` is blocked after its last one.
    fn delay(&self, failures: u32) -> Duration {
        if failures <= self.free {
            return Duration::ZERO;
        }
        let doublings = (failures - self.free - 1).min(30);
        self.base_delay
            .saturating_mul(1u32 << doublings)
            .min(self.max_delay)
    }
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

/// Failure counts of one kind of key.
struct Table<K> {
    policy: ThrottlePolicy,
    keys: Mutex<HashMap<K, Failures>>,
}

impl<K: Hash + Eq + Clone> Table<K> {
    fn new(policy: ThrottlePolicy) -> Table<K> {
        Table {
            policy,
            keys: Mutex::default(),
        }
    }

    /// How long `key` must still wait at `now`.
    fn wait(&self, key: &K, now: Instant) -> Duration {
        let keys = self.keys.lock().expect("login throttle poisoned");
        keys.get(key)
            .map(|f| {
                let until = f.last + self.policy.delay(f.count);
                until.saturating_duration_since(now)
            })
            .unwrap_or(Duration::ZERO)
    }

    fn failed(&self, key: &K, now: Instant) -> u32 {
        let mut keys = self.keys.lock().expect("login throttle poisoned");
        if !keys.contains_key(key) && keys.len() >= self.policy.max_keys {
            self.make_room(&mut keys, now);
        }
        let entry = keys.entry(key.clone()).or_insert(Failures {
            count: 0,
            last: now,
        });
        if now.saturating_duration_since(entry.last) >= self.policy.forget_after {
            entry.count = 0;
        }
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
        entry.count
    }

    fn forget(&self, key: &K) {
        self.keys
            .lock()
            .expect("login throttle poisoned")
            .remove(key);
    }

    /// Drops keys no longer blocked; if none, the one whose last failure is oldest.
    fn make_room(&self, keys: &mut HashMap<K, Failures>, now: Instant) {
        let policy = self.policy;
        keys.retain(|_, f| {
            let blocked = f.last + policy.delay(f.count) > now;
            let remembered = now.saturating_duration_since(f.last) < policy.forget_after;
            blocked || (remembered && f.count > policy.free / 2)
        });
        if keys.len() >= policy.max_keys {
            if let Some(stalest) = keys
                .iter()
                .min_by_key(|(_, f)| f.last)
                .map(|(k, _)| k.clone())
            {
                keys.remove(&stalest);
            }
        }
    }

    fn len(&self) -> usize {
        self.keys.lock().expect("login throttle poisoned").len()
    }
}

/// Which key of a sign-in is throttled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttled {
    Account,
    Address,
}

pub struct LoginThrottle {
    accounts: Table<String>,
    addresses: Table<IpAddr>,
}

impl LoginThrottle {
    pub fn new(accounts: ThrottlePolicy, addresses: ThrottlePolicy) -> LoginThrottle {
        LoginThrottle {
            accounts: Table::new(accounts),
            addresses: Table::new(addresses),
        }
    }

    /// Whether a sign-in for `account` from `address` may be tried at `now`; otherwise which
    /// key is blocked and for how long.
    pub fn check(
        &self,
        account: &str,
        address: Option<IpAddr>,
        now: Instant,
    ) -> Result<(), (Throttled, Duration)> {
        if let Some(address) = address {
            let wait = self.addresses.wait(&address, now);
            if !wait.is_zero() {
                return Err((Throttled::Address, wait));
            }
        }
        let wait = self.accounts.wait(&account.to_string(), now);
        if !wait.is_zero() {
            return Err((Throttled::Account, wait));
        }
        Ok(())
    }

    /// Counts a failed sign-in; returns the account's failures in a row.
    pub fn failed(&self, account: &str, address: Option<IpAddr>, now: Instant) -> u32 {
        if let Some(address) = address {
            self.addresses.failed(&address, now);
        }
        self.accounts.failed(&account.to_string(), now)
    }

    pub fn succeeded(&self, account: &str) {
        self.accounts.forget(&account.to_string());
    }

    /// Keys tracked: (accounts, addresses).
    pub fn tracked(&self) -> (usize, usize) {
        (self.accounts.len(), self.addresses.len())
    }
}

/// Refused namespace connects per client address (see the module docs).
pub struct ConnectThrottle {
    addresses: Table<IpAddr>,
}

impl ConnectThrottle {
    pub fn new(policy: ThrottlePolicy) -> ConnectThrottle {
        ConnectThrottle {
            addresses: Table::new(policy),
        }
    }

    /// How long `address` must still wait before it may open a connection (zero: now).
    pub fn wait(&self, address: IpAddr, now: Instant) -> Duration {
        self.addresses.wait(&address, now)
    }

    /// Counts a refused connect; returns the address's refusals in a row.
    pub fn refused(&self, address: IpAddr, now: Instant) -> u32 {
        self.addresses.failed(&address, now)
    }

    /// Addresses tracked.
    pub fn tracked(&self) -> usize {
        self.addresses.len()
    }
}

impl Default for ConnectThrottle {
    fn default() -> ConnectThrottle {
        ConnectThrottle::new(ThrottlePolicy::REFUSED_CONNECTS)
    }
}

impl Default for LoginThrottle {
    fn default() -> LoginThrottle {
        LoginThrottle::new(ThrottlePolicy::ACCOUNT, ThrottlePolicy::ADDRESS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "ann@x.test";

    fn ip(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([10, 0, 0, last]))
    }

    #[test]
    fn an_account_is_blocked_after_its_free_failures_for_a_doubling_delay() {
        let t = LoginThrottle::default();
        let t0 = Instant::now();
        for i in 0..5 {
            assert!(t.check(A, ip(1), t0).is_ok(), "failure {i} is free");
            t.failed(A, ip(1), t0);
        }
        assert!(t.check(A, ip(1), t0).is_ok(), "five failures cost nothing");
        t.failed(A, ip(1), t0);
        assert_eq!(
            t.check(A, ip(2), t0),
            Err((Throttled::Account, Duration::from_secs(1))),
            "the account is blocked from any address"
        );
        let t1 = t0 + Duration::from_secs(1);
        assert!(t.check(A, ip(1), t1).is_ok());
        t.failed(A, ip(1), t1);
        assert_eq!(
            t.check(A, ip(1), t1),
            Err((Throttled::Account, Duration::from_secs(2)))
        );
        // Another account from the same address is not blocked (yet).
        assert!(t.check("bob@x.test", ip(1), t1).is_ok());
        // A success forgets the account's failures.
        t.succeeded(A);
        assert!(t.check(A, ip(1), t1).is_ok());
    }

    #[test]
    fn delays_double_up_to_the_cap_and_failures_are_forgotten() {
        let p = ThrottlePolicy::ACCOUNT;
        assert_eq!(p.delay(5), Duration::ZERO);
        assert_eq!(p.delay(6), Duration::from_secs(1));
        assert_eq!(p.delay(7), Duration::from_secs(2));
        assert_eq!(p.delay(10), Duration::from_secs(16));
        assert_eq!(p.delay(100), p.max_delay);
        assert_eq!(p.delay(u32::MAX), p.max_delay);
        let t = LoginThrottle::default();
        let t0 = Instant::now();
        for _ in 0..8 {
            t.failed(A, None, t0);
        }
        assert!(t.check(A, None, t0).is_err());
        let later = t0 + p.forget_after;
        assert!(t.check(A, None, later).is_ok());
        assert_eq!(t.failed(A, None, later), 1, "counting starts over");
    }

    #[test]
    fn an_address_is_blocked_across_accounts_and_a_success_does_not_clear_it() {
        let t = LoginThrottle::default();
        let t0 = Instant::now();
        for i in 0..21 {
            let account = format!("guess{i}@x.test");
            assert!(t.check(&account, ip(9), t0).is_ok(), "guess {i}");
            t.failed(&account, ip(9), t0);
        }
        assert_eq!(
            t.check("new@x.test", ip(9), t0),
            Err((Throttled::Address, Duration::from_secs(1)))
        );
        t.succeeded("new@x.test");
        assert!(t.check("new@x.test", ip(9), t0).is_err());
        assert!(
            t.check("new@x.test", ip(8), t0).is_ok(),
            "other addresses are not"
        );
    }

    #[test]
    fn the_tables_stay_bounded() {
        let policy = ThrottlePolicy {
            max_keys: 50,
            ..ThrottlePolicy::ACCOUNT
        };
        let t = LoginThrottle::new(policy, policy);
        let t0 = Instant::now();
        for i in 0..1_000u32 {
            t.failed(
                &format!("a{i}@x.test"),
                Some(IpAddr::from(i.to_be_bytes())),
                t0,
            );
        }
        let (accounts, addresses) = t.tracked();
        assert!(accounts <= 50 && addresses <= 50, "{accounts} {addresses}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_gate_runs_at_most_its_parallel_hashes_and_refuses_beyond_its_queue() {
        let gate = std::sync::Arc::new(HashGate::new(2, 3));
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let hold = std::sync::Arc::new(Mutex::new(hold));
        let mut tasks = Vec::new();
        for _ in 0..5 {
            let gate = gate.clone();
            let hold = hold.clone();
            tasks.push(tokio::spawn(async move {
                gate.run(move || {
                    let _ = hold.lock().unwrap().recv();
                })
                .await
            }));
        }
        // Two run (one holds the lock, one waits for it) and three wait for a permit: the
        // sixth is refused at once.
        let deadline = Instant::now() + Duration::from_secs(10);
        while gate.waiting.load(Ordering::Acquire) < 3 {
            assert!(Instant::now() < deadline, "the hashes never queued");
            tokio::task::yield_now().await;
        }
        assert_eq!(gate.run(|| ()).await, Err(HashGateFull));
        for _ in 0..5 {
            release.send(()).unwrap();
        }
        for task in tasks {
            assert_eq!(task.await.unwrap(), Ok(()));
        }
        assert_eq!(gate.peak(), 2);
    }
}
