//! Per-company write rate limit: a sliding one-minute window.

use deskbell_protocol::Id;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct RateLimiter {
    per_minute: u32,
    window: Duration,
    hits: Mutex<HashMap<Id, VecDeque<Instant>>>,
}

impl RateLimiter {
    /// `per_minute == 0` disables the limit.
    pub fn new(per_minute: u32) -> RateLimiter {
        RateLimiter {
            per_minute,
            window: Duration::from_secs(60),
            hits: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one write at `now`; `Err(wait)` when the company is over its limit.
    pub fn check(&self, company: Id, now: Instant) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let mut hits = self.hits.lock().expect("rate limiter poisoned");
        let queue = hits.entry(company).or_default();
        while let Some(&oldest) = queue.front() {
            if now.duration_since(oldest) >= self.window {
                queue.pop_front();
            } else {
                break;
            }
        }
        if queue.len() >= self.per_minute as usize {
            let oldest = *queue.front().expect("non-empty when over the limit");
            return Err(self.window.saturating_sub(now.duration_since(oldest)));
        }
        queue.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_company_and_recovers_after_the_window() {
        let limiter = RateLimiter::new(3);
        let t0 = Instant::now();
        for i in 0..3 {
            limiter.check(1, t0 + Duration::from_secs(i)).unwrap();
        }
        let wait = limiter.check(1, t0 + Duration::from_secs(10)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(50));
        // Another company is not affected.
        limiter.check(2, t0 + Duration::from_secs(10)).unwrap();
        // The first hit leaves the window after 60 s.
        limiter.check(1, t0 + Duration::from_secs(60)).unwrap();
        assert!(limiter.check(1, t0 + Duration::from_secs(60)).is_err());
    }

    #[test]
    fn zero_disables() {
        let limiter = RateLimiter::new(0);
        for _ in 0..10_000 {
            limiter.check(1, Instant::now()).unwrap();
        }
    }
}
