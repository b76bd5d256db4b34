//! Write rate limits: a sliding one-minute window per company, shared fairly — one member
//! may spend at most their share of it (half the company's by default), so the rest is always
//! left to the others.
//!
//! Dependencies: none inside the crate; a building block the others use.

use deskbell_protocol::Id;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Which window a write was refused by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    Company,
    Member,
}

pub struct RateLimiter {
    per_minute: u32,
    per_member: u32,
    window: Duration,
    hits: Mutex<Hits>,
}

#[derive(Default)]
struct Hits {
    companies: HashMap<Id, VecDeque<Instant>>,
    members: HashMap<(Id, Id), VecDeque<Instant>>,
    /// Checks since idle windows were last dropped.
    checks: u32,
}

/// Windows are swept of idle keys this often (in checks), so the maps hold only recent writers.
const SWEEP_EVERY: u32 = 4096;

impl RateLimiter {
    /// `per_minute == 0` disables the limit; `per_member` is a member's share of it (clamped to
    /// 1..=per_minute).
    pub fn new(per_minute: u32, per_member: u32) -> RateLimiter {
        RateLimiter {
            per_minute,
            per_member: per_member.clamp(1, per_minute.max(1)),
            window: Duration::from_secs(60),
            hits: Mutex::default(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.per_minute > 0
    }

    pub fn per_minute(&self) -> u32 {
        self.per_minute
    }

    pub fn per_member(&self) -> u32 {
        self.per_member
    }

    /// A member's default share: half the company's budget.
    pub fn default_share(per_minute: u32) -> u32 {
        per_minute.div_ceil(2)
    }

    /// Counts one write of `member` at `now`; `Err` says which window is full and how long
    /// until it has room. A refused write counts nowhere.
    pub fn check(&self, company: Id, member: Id, now: Instant) -> Result<(), (Exceeded, Duration)> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let window = self.window;
        let mut hits = self.hits.lock().expect("rate limiter poisoned");
        hits.checks += 1;
        if hits.checks >= SWEEP_EVERY {
            hits.checks = 0;
            hits.companies.retain(|_, q| expire(q, now, window));
            hits.members.retain(|_, q| expire(q, now, window));
        }
        let member_queue = hits.members.entry((company, member)).or_default();
        expire(member_queue, now, window);
        if let Some(wait) = full(member_queue, self.per_member, now, window) {
            return Err((Exceeded::Member, wait));
        }
        let company_queue = hits.companies.entry(company).or_default();
        expire(company_queue, now, window);
        if let Some(wait) = full(company_queue, self.per_minute, now, window) {
            return Err((Exceeded::Company, wait));
        }
        company_queue.push_back(now);
        hits.members
            .get_mut(&(company, member))
            .expect("inserted above")
            .push_back(now);
        Ok(())
    }
}

/// Drops hits older than the window; true while some are left.
fn expire(queue: &mut VecDeque<Instant>, now: Instant, window: Duration) -> bool {
    while let Some(&oldest) = queue.front() {
        if now.duration_since(oldest) >= window {
            queue.pop_front();
        } else {
            break;
        }
    }
    !queue.is_empty()
}

/// How long until a full window has room; `None` when it has room now.
fn full(queue: &VecDeque<Instant>, limit: u32, now: Instant, window: Duration) -> Option<Duration> {
    if queue.len() < limit as usize {
        return None;
    }
    let oldest = *queue.front()?;
    Some(window.saturating_sub(now.duration_since(oldest)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_company_and_recovers_after_the_window() {
        let limiter = RateLimiter::new(3, 3);
        let t0 = Instant::now();
        for i in 0..3 {
            limiter
                .check(1, 10 + i, t0 + Duration::from_secs(i as u64))
                .unwrap();
        }
        let (exceeded, wait) = limiter
            .check(1, 20, t0 + Duration::from_secs(10))
            .unwrap_err();
        assert_eq!(exceeded, Exceeded::Company);
        assert_eq!(wait, Duration::from_secs(50));
        // Another company is not affected.
        limiter.check(2, 30, t0 + Duration::from_secs(10)).unwrap();
        // The first hit leaves the window after 60 s.
        limiter.check(1, 20, t0 + Duration::from_secs(60)).unwrap();
        assert!(limiter.check(1, 20, t0 + Duration::from_secs(60)).is_err());
    }

    #[test]
    fn one_member_cannot_spend_the_whole_company_budget() {
        let limiter = RateLimiter::new(10, RateLimiter::default_share(10));
        let t0 = Instant::now();
        for _ in 0..5 {
            limiter.check(1, 7, t0).unwrap();
        }
        // The flooding member is stopped at their share; refusals count nowhere...
        for _ in 0..100 {
            assert_eq!(limiter.check(1, 7, t0).unwrap_err().0, Exceeded::Member);
        }
        // ...so the rest of the company's budget is left to the others.
        for other in [8, 9, 8, 9, 8] {
            limiter.check(1, other, t0).unwrap();
        }
        assert_eq!(limiter.check(1, 9, t0).unwrap_err().0, Exceeded::Company);
        let (_, wait) = limiter
            .check(1, 7, t0 + Duration::from_secs(59))
            .unwrap_err();
        assert_eq!(wait, Duration::from_secs(1));
        limiter.check(1, 7, t0 + Duration::from_secs(60)).unwrap();
    }

    #[test]
    fn idle_windows_are_swept() {
        let limiter = RateLimiter::new(1000, 500);
        let t0 = Instant::now();
        for member in 0..SWEEP_EVERY as i64 {
            limiter.check(1, member, t0).unwrap_or(());
        }
        let later = t0 + Duration::from_secs(61);
        for _ in 0..SWEEP_EVERY {
            limiter.check(2, 1, later).unwrap_or(());
        }
        let hits = limiter.hits.lock().unwrap();
        assert!(hits.members.len() <= 2, "{}", hits.members.len());
    }

    #[test]
    fn zero_disables() {
        let limiter = RateLimiter::new(0, 0);
        for _ in 0..10_000 {
            limiter.check(1, 1, Instant::now()).unwrap();
        }
    }
}
