//! Clock-gap detection: a suspend-aware clock against a monotonic one.
//!
//! Linux: `CLOCK_MONOTONIC` stops while the machine sleeps, `CLOCK_BOOTTIME` does not; their
//! difference growing by more than a few seconds between two ticks means the machine slept.
//! Both advancing far more than a tick means the process did not run (stalled or frozen).
//! Elsewhere the suspend-aware clock is the wall clock and the monotonic one `Instant`
//! (on macOS `Instant` stops during sleep; where it does not, a suspend shows up as a stall,
//! which also triggers a wake).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::{WakeReason, WakeSource};

/// One reading of both clocks, as durations from an arbitrary per-clock origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ClockReading {
    /// Does not advance while the machine sleeps.
    pub monotonic: Duration,
    /// Advances while the machine sleeps.
    pub suspend_aware: Duration,
}

/// The two clocks the detector compares.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> ClockReading;
}

/// The real clocks.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

#[cfg(target_os = "linux")]
impl Clock for SystemClock {
    fn now(&self) -> ClockReading {
        use rustix::time::{clock_gettime, ClockId};
        fn to_duration(ts: rustix::time::Timespec) -> Duration {
            Duration::new(
                u64::try_from(ts.tv_sec).unwrap_or(0),
                u32::try_from(ts.tv_nsec).unwrap_or(0),
            )
        }
        ClockReading {
            monotonic: to_duration(clock_gettime(ClockId::Monotonic)),
            suspend_aware: to_duration(clock_gettime(ClockId::Boottime)),
        }
    }
}

#[cfg(not(target_os = "linux"))]
impl Clock for SystemClock {
    fn now(&self) -> ClockReading {
        use std::sync::OnceLock;
        use std::time::{Instant, SystemTime, UNIX_EPOCH};
        static ORIGIN: OnceLock<Instant> = OnceLock::new();
        let origin = *ORIGIN.get_or_init(Instant::now);
        ClockReading {
            monotonic: origin.elapsed(),
            // A wall clock set backwards reads as no time passing (saturating below).
            suspend_aware: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default(),
        }
    }
}

/// A clock for tests: time moves only when told.
#[derive(Clone, Debug, Default)]
pub struct FakeClock {
    now: Arc<Mutex<ClockReading>>,
}

impl FakeClock {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<R>(&self, f: impl FnOnce(&mut ClockReading) -> R) -> R {
        f(&mut self.now.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Time passes while the process runs: both clocks advance.
    pub fn advance(&self, by: Duration) {
        self.with(|now| {
            now.monotonic += by;
            now.suspend_aware += by;
        });
    }

    /// The machine sleeps for `by`: only the suspend-aware clock advances.
    pub fn suspend(&self, by: Duration) {
        self.with(|now| now.suspend_aware += by);
    }
}

impl Clock for FakeClock {
    fn now(&self) -> ClockReading {
        self.with(|now| *now)
    }
}

/// Thresholds of the [`ClockGapDetector`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockGapConfig {
    /// How often the clocks are sampled.
    pub tick: Duration,
    /// A suspend shorter than this is ignored.
    pub resume_threshold: Duration,
    /// Monotonic time between two samples above this is a stall.
    pub stall_threshold: Duration,
}

impl Default for ClockGapConfig {
    fn default() -> Self {
        Self {
            tick: Duration::from_secs(2),
            resume_threshold: Duration::from_secs(5),
            stall_threshold: Duration::from_secs(15),
        }
    }
}

/// Compares successive clock readings. Pure: feed it readings, it says what happened.
#[derive(Clone, Debug)]
pub struct ClockGapDetector {
    config: ClockGapConfig,
    last: Option<ClockReading>,
}

impl ClockGapDetector {
    pub fn new(config: ClockGapConfig) -> Self {
        Self { config, last: None }
    }

    pub fn config(&self) -> ClockGapConfig {
        self.config
    }

    /// Takes one sample. The first sample only sets the baseline.
    pub fn observe(&mut self, now: ClockReading) -> Option<WakeReason> {
        let last = self.last.replace(now)?;
        // Saturating: a clock that went backwards (a wall clock set back) reads as zero.
        let ran = now.monotonic.saturating_sub(last.monotonic);
        let elapsed = now.suspend_aware.saturating_sub(last.suspend_aware);
        let slept = elapsed.saturating_sub(ran);
        if slept > self.config.resume_threshold {
            Some(WakeReason::Resumed { slept: Some(slept) })
        } else if ran > self.config.stall_threshold {
            Some(WakeReason::Stalled { for_: ran })
        } else {
            None
        }
    }
}

/// Samples a [`Clock`] every tick and reports gaps.
pub struct ClockGapWakeSource<C: Clock = SystemClock> {
    clock: C,
    config: ClockGapConfig,
}

impl<C: Clock> ClockGapWakeSource<C> {
    pub fn new(clock: C, config: ClockGapConfig) -> Self {
        Self { clock, config }
    }
}

impl<C: Clock> WakeSource for ClockGapWakeSource<C> {
    fn name(&self) -> &'static str {
        "clock-gap"
    }

    fn spawn(self: Box<Self>, tx: mpsc::Sender<WakeReason>) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut detector = ClockGapDetector::new(self.config);
            let mut ticks = tokio::time::interval(self.config.tick);
            // After a stall, one tick now, not a catch-up burst.
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    _ = tx.closed() => break,
                }
                if let Some(reason) = detector.observe(self.clock.now()) {
                    tracing::info!(%reason, "clock gap detected");
                    if tx.send(reason).await.is_err() {
                        break;
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn detector(clock: &FakeClock) -> ClockGapDetector {
        let mut d = ClockGapDetector::new(ClockGapConfig::default());
        assert_eq!(
            d.observe(clock.now()),
            None,
            "the first sample is a baseline"
        );
        d
    }

    #[test]
    fn regular_ticks_report_nothing() {
        let clock = FakeClock::new();
        let mut d = detector(&clock);
        for _ in 0..100 {
            clock.advance(secs(2));
            assert_eq!(d.observe(clock.now()), None);
        }
    }

    #[test]
    fn a_suspend_is_a_resume_with_its_length() {
        let clock = FakeClock::new();
        let mut d = detector(&clock);
        clock.advance(secs(1));
        clock.suspend(secs(3600));
        clock.advance(secs(1));
        assert_eq!(
            d.observe(clock.now()),
            Some(WakeReason::Resumed {
                slept: Some(secs(3600))
            })
        );
        // Reported once.
        clock.advance(secs(2));
        assert_eq!(d.observe(clock.now()), None);
    }

    #[test]
    fn a_short_suspend_is_ignored_and_the_threshold_is_strict() {
        let clock = FakeClock::new();
        let mut d = detector(&clock);
        clock.advance(secs(2));
        clock.suspend(secs(5));
        assert_eq!(d.observe(clock.now()), None);
        clock.advance(secs(2));
        clock.suspend(secs(5) + Duration::from_millis(1));
        assert_eq!(
            d.observe(clock.now()),
            Some(WakeReason::Resumed {
                slept: Some(secs(5) + Duration::from_millis(1))
            })
        );
    }

    #[test]
    fn a_long_gap_of_both_clocks_is_a_stall() {
        let clock = FakeClock::new();
        let mut d = detector(&clock);
        clock.advance(secs(15));
        assert_eq!(
            d.observe(clock.now()),
            None,
            "15 s is not above the threshold"
        );
        clock.advance(secs(40));
        assert_eq!(
            d.observe(clock.now()),
            Some(WakeReason::Stalled { for_: secs(40) })
        );
    }

    #[test]
    fn a_suspend_during_a_stall_is_reported_as_a_resume() {
        let clock = FakeClock::new();
        let mut d = detector(&clock);
        clock.advance(secs(30));
        clock.suspend(secs(600));
        assert_eq!(
            d.observe(clock.now()),
            Some(WakeReason::Resumed {
                slept: Some(secs(600))
            })
        );
    }

    #[test]
    fn clocks_going_backwards_report_nothing() {
        let clock = FakeClock::new();
        clock.advance(secs(1000));
        let mut d = detector(&clock);
        let back = ClockReading {
            monotonic: secs(1002),
            suspend_aware: secs(10),
        };
        assert_eq!(d.observe(back), None);
    }

    #[test]
    fn the_system_clock_is_sane() {
        let a = SystemClock.now();
        std::thread::sleep(Duration::from_millis(20));
        let b = SystemClock.now();
        assert!(b.monotonic >= a.monotonic + Duration::from_millis(20));
        assert!(b.suspend_aware >= a.suspend_aware);
        let mut d = ClockGapDetector::new(ClockGapConfig::default());
        assert_eq!(d.observe(a), None);
        assert_eq!(d.observe(b), None);
    }

    #[tokio::test(start_paused = true)]
    async fn the_source_reports_a_simulated_suspend() {
        let clock = FakeClock::new();
        let source = Box::new(ClockGapWakeSource::new(
            clock.clone(),
            ClockGapConfig::default(),
        ));
        let (tx, mut rx) = mpsc::channel(4);
        let task = source.spawn(tx);
        // Let it take its baseline, then some normal ticks.
        for _ in 0..3 {
            tokio::time::sleep(secs(2)).await;
            clock.advance(secs(2));
        }
        assert!(rx.try_recv().is_err());
        clock.suspend(secs(120));
        let got = tokio::time::timeout(secs(5), rx.recv()).await.unwrap();
        assert_eq!(
            got,
            Some(WakeReason::Resumed {
                slept: Some(secs(120))
            })
        );
        drop(rx);
        tokio::time::timeout(secs(5), task).await.unwrap().unwrap();
    }
}
