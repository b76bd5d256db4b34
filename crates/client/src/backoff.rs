//! Reconnect delays in the style of socket.io-client: 1 s base, ×2 per attempt, ±50 % jitter,
//! capped at 30 s, unlimited attempts.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffPolicy {
    pub base: Duration,
    pub factor: f64,
    /// 0.5 = ±50 %.
    pub jitter: f64,
    pub cap: Duration,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        BackoffPolicy {
            base: Duration::from_secs(1),
            factor: 2.0,
            jitter: 0.5,
            cap: Duration::from_secs(30),
        }
    }
}

impl BackoffPolicy {
    /// The delay before retry number `attempt` (1-based). `random` is uniform in [0, 1): it is
    /// passed in so that tests can pin it.
    pub fn delay(&self, attempt: u32, random: f64) -> Duration {
        let exponent = attempt.saturating_sub(1).min(64) as i32;
        let nominal = self.base.as_secs_f64() * self.factor.powi(exponent);
        let nominal = nominal.min(self.cap.as_secs_f64());
        // random in [0,1) maps to a deviation in [-jitter, +jitter).
        let deviation = (random.clamp(0.0, 1.0) * 2.0 - 1.0) * self.jitter;
        let jittered = nominal * (1.0 + deviation);
        Duration::from_secs_f64(jittered.clamp(0.0, self.cap.as_secs_f64()))
    }

    /// `delay` with a fresh random number.
    pub fn delay_random(&self, attempt: u32) -> Duration {
        self.delay(attempt, rand::random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_one_second_and_caps_at_thirty() {
        let p = BackoffPolicy::default();
        let mid = 0.5; // no deviation
        let delays: Vec<u64> = (1..=8)
            .map(|a| p.delay(a, mid).as_millis() as u64)
            .collect();
        assert_eq!(
            delays,
            vec![1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
        assert_eq!(p.delay(10_000, mid), Duration::from_secs(30));
    }

    #[test]
    fn jitter_stays_within_half_either_way_and_under_the_cap() {
        let p = BackoffPolicy::default();
        assert_eq!(p.delay(1, 0.0), Duration::from_millis(500));
        assert!(p.delay(1, 0.999_999) < Duration::from_millis(1500));
        assert!(p.delay(1, 0.999_999) > Duration::from_millis(1499));
        assert_eq!(p.delay(3, 0.0), Duration::from_secs(2));
        for attempt in 1..40 {
            for r in [0.0, 0.25, 0.5, 0.75, 0.9999] {
                assert!(p.delay(attempt, r) <= p.cap);
            }
        }
        // Random delays vary (the jitter is real).
        let samples: std::collections::HashSet<u128> =
            (0..20).map(|_| p.delay_random(3).as_micros()).collect();
        assert!(samples.len() > 1);
    }
}
