//! A lock-free log-linear latency histogram (microseconds, ~1.6 % resolution).

use std::sync::atomic::{AtomicU64, Ordering};

const SUB: u64 = 64;
const SUB_BITS: u64 = 6;
/// Covers values up to 2^45 µs (about a year), far beyond any run.
const BUCKETS: usize = (SUB + 40 * SUB) as usize;

pub struct Hist {
    buckets: Vec<AtomicU64>,
}

impl Default for Hist {
    fn default() -> Self {
        Hist {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

fn index(v: u64) -> usize {
    if v < SUB {
        return v as usize;
    }
    let e = 63 - u64::from(v.leading_zeros());
    let m = v >> (e - SUB_BITS);
    let i = SUB + (e - SUB_BITS) * SUB + (m - SUB);
    (i as usize).min(BUCKETS - 1)
}

fn lower(i: usize) -> u64 {
    let i = i as u64;
    if i < SUB {
        return i;
    }
    let e = (i - SUB) / SUB + SUB_BITS;
    let m = (i - SUB) % SUB + SUB;
    m << (e - SUB_BITS)
}

/// A representative value of bucket `i` (its midpoint).
fn value(i: usize) -> u64 {
    if i + 1 >= BUCKETS {
        return lower(i);
    }
    let lo = lower(i);
    let hi = lower(i + 1);
    lo + (hi - lo) / 2
}

impl Hist {
    pub fn record(&self, micros: u64) {
        self.buckets[index(micros)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Summary {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        let quantile = |q: f64| -> u64 {
            if total == 0 {
                return 0;
            }
            let target = ((q * total as f64).ceil() as u64).clamp(1, total);
            let mut seen = 0;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= target {
                    return value(i);
                }
            }
            0
        };
        let max = counts
            .iter()
            .rposition(|c| *c > 0)
            .map(|i| lower(i + 1).saturating_sub(1).max(lower(i)))
            .unwrap_or(0);
        let sum: f64 = counts
            .iter()
            .enumerate()
            .map(|(i, c)| *c as f64 * value(i) as f64)
            .sum();
        Summary {
            count: total,
            mean_us: if total > 0 { sum / total as f64 } else { 0.0 },
            p50_us: quantile(0.50),
            p90_us: quantile(0.90),
            p99_us: quantile(0.99),
            p999_us: quantile(0.999),
            max_us: max,
        }
    }
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    pub count: u64,
    pub mean_us: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_tight() {
        let mut last = 0;
        for v in [
            0u64, 1, 63, 64, 65, 127, 128, 1000, 12_345, 1_000_000, 60_000_000,
        ] {
            let i = index(v);
            assert!(i >= last);
            last = i;
            assert!(lower(i) <= v, "{v}");
            assert!(v < lower(i + 1), "{v}");
            let err = (value(i) as f64 - v as f64).abs() / (v.max(1) as f64);
            assert!(err < 0.02, "{v} -> {}", value(i));
        }
    }

    #[test]
    fn quantiles() {
        let h = Hist::default();
        for v in 1..=1000 {
            h.record(v);
        }
        let s = h.snapshot();
        assert_eq!(s.count, 1000);
        assert!((490..=510).contains(&s.p50_us), "{}", s.p50_us);
        assert!((975..=1000).contains(&s.p99_us), "{}", s.p99_us);
    }
}
