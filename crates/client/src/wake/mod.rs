//! Reasons to reconnect at once: the machine woke from sleep, the process was frozen, the
//! network came back.
//!
//! A zombie socket still reports "open" after a suspend, so every [`WakeReason`] means "treat
//! the current connection as dead and reconnect now" (the connection supervisor calls
//! `reconnect_now()` for each item of [`wake_stream`]).
//!
//! Sources ([`WakeSource`]):
//! - [`LogindWakeSource`]: logind's `PrepareForSleep(false)` on the system bus (Linux). No system
//!   bus or no logind is a soft failure: one info line, and nothing produced.
//! - [`ClockGapWakeSource`]: everywhere; compares a suspend-aware clock with a monotonic one
//!   every tick ([`ClockGapDetector`]), which catches suspends (where no logind tells) and long
//!   stalls of the process (SIGSTOP, a frozen VM).
//! - [`NetworkWakeSource`]: a usable address appeared on an interface (`netwatcher`).
//!
//! [`wake_stream`] merges them and turns a burst (logind + clock gap + network within the
//! debounce window) into one wake.

mod clock;
mod logind;
mod network;

use std::fmt;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use clock::{
    Clock, ClockGapConfig, ClockGapDetector, ClockGapWakeSource, ClockReading, FakeClock,
    SystemClock,
};
pub use logind::LogindWakeSource;
pub use network::{is_usable_address, network_came_up, NetworkWakeSource};

/// Why the connection should be re-established now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WakeReason {
    /// The machine resumed from suspend. `slept` is how long, when known (the clock-gap
    /// detector measures it; logind does not say).
    Resumed { slept: Option<Duration> },
    /// The process did not run for `for_` (frozen, SIGSTOP, a paused VM, a long stall).
    Stalled { for_: Duration },
    /// A usable network address appeared (a network came up or changed).
    NetworkUp,
}

impl fmt::Display for WakeReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WakeReason::Resumed { slept: Some(d) } => {
                write!(f, "resumed from sleep ({} s)", d.as_secs())
            }
            WakeReason::Resumed { slept: None } => f.write_str("resumed from sleep"),
            WakeReason::Stalled { for_ } => write!(f, "stalled for {} s", for_.as_secs()),
            WakeReason::NetworkUp => f.write_str("network up"),
        }
    }
}

/// Something that notices wakes. `spawn` starts it on the current tokio runtime; it sends
/// into `tx` until `tx` is closed (then it stops) or it cannot work (then it stops quietly).
pub trait WakeSource: Send + 'static {
    /// A short name for logs.
    fn name(&self) -> &'static str;
    /// Starts the source. The task ends when the receiver of `tx` is dropped.
    fn spawn(self: Box<Self>, tx: mpsc::Sender<WakeReason>) -> JoinHandle<()>;
}

/// The default wake debounce: a burst of signals within this window is one wake.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_secs(2);

/// The sources to use on this platform: logind (Linux), the clock-gap detector, the network.
pub fn default_sources() -> Vec<Box<dyn WakeSource>> {
    vec![
        Box::new(LogindWakeSource::new()),
        Box::new(ClockGapWakeSource::new(
            SystemClock,
            ClockGapConfig::default(),
        )),
        Box::new(NetworkWakeSource::new()),
    ]
}

/// Merges `sources` into one stream of wakes. The first signal of a burst is delivered at
/// once; any further signal within `debounce` of it is folded into it.
///
/// The stream stays open (never yields `None`) while its receiver lives, even when every
/// source has stopped; dropping the receiver stops the sources. Must be called within a
/// tokio runtime.
pub fn wake_stream(
    sources: Vec<Box<dyn WakeSource>>,
    debounce: Duration,
) -> mpsc::Receiver<WakeReason> {
    let (out_tx, out_rx) = mpsc::channel(16);
    let (in_tx, in_rx) = mpsc::channel(64);
    for source in sources {
        tracing::debug!(source = source.name(), "wake source starting");
        source.spawn(in_tx.clone());
    }
    tokio::spawn(debounce_loop(in_tx, in_rx, out_tx, debounce));
    out_rx
}

async fn debounce_loop(
    // Kept so that `in_rx` stays open when every source has stopped.
    _keep_open: mpsc::Sender<WakeReason>,
    mut in_rx: mpsc::Receiver<WakeReason>,
    out_tx: mpsc::Sender<WakeReason>,
    debounce: Duration,
) {
    let mut quiet_until: Option<tokio::time::Instant> = None;
    loop {
        let reason = tokio::select! {
            reason = in_rx.recv() => match reason {
                Some(reason) => reason,
                None => break,
            },
            _ = out_tx.closed() => break,
        };
        let now = tokio::time::Instant::now();
        if quiet_until.is_some_and(|until| now < until) {
            tracing::debug!(%reason, "wake folded into the previous one");
            continue;
        }
        quiet_until = Some(now + debounce);
        tracing::info!(%reason, "wake: reconnect now");
        if out_tx.send(reason).await.is_err() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A source that replays a script of (delay since the previous item, reason).
    struct Scripted {
        script: Vec<(Duration, WakeReason)>,
        stopped: Arc<Mutex<bool>>,
    }

    impl WakeSource for Scripted {
        fn name(&self) -> &'static str {
            "scripted"
        }
        fn spawn(self: Box<Self>, tx: mpsc::Sender<WakeReason>) -> JoinHandle<()> {
            tokio::spawn(async move {
                for (delay, reason) in self.script {
                    tokio::time::sleep(delay).await;
                    if tx.send(reason).await.is_err() {
                        break;
                    }
                }
                tx.closed().await;
                *self.stopped.lock().unwrap() = true;
            })
        }
    }

    fn scripted(script: Vec<(Duration, WakeReason)>) -> (Box<dyn WakeSource>, Arc<Mutex<bool>>) {
        let stopped = Arc::new(Mutex::new(false));
        (
            Box::new(Scripted {
                script,
                stopped: stopped.clone(),
            }),
            stopped,
        )
    }

    const fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }
    const fn ms(m: u64) -> Duration {
        Duration::from_millis(m)
    }

    /// Collects what the stream delivers with the time (since start) of each item.
    async fn collect_for(
        rx: &mut mpsc::Receiver<WakeReason>,
        total: Duration,
    ) -> Vec<(Duration, WakeReason)> {
        let start = tokio::time::Instant::now();
        let deadline = start + total;
        let mut got = Vec::new();
        while let Ok(Some(reason)) = tokio::time::timeout_at(deadline, rx.recv()).await {
            got.push((start.elapsed(), reason));
        }
        got
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_from_three_sources_is_one_wake() {
        let resumed = WakeReason::Resumed { slept: None };
        let gap = WakeReason::Resumed {
            slept: Some(secs(3600)),
        };
        let (logind, _) = scripted(vec![(ms(100), resumed)]);
        let (clock, _) = scripted(vec![(ms(900), gap)]);
        let (net, _) = scripted(vec![(ms(1800), WakeReason::NetworkUp)]);
        let mut rx = wake_stream(vec![logind, clock, net], secs(2));
        let got = collect_for(&mut rx, secs(10)).await;
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].1, resumed);
        // Delivered at once, not after the window.
        assert_eq!(got[0].0, ms(100));
    }

    #[tokio::test(start_paused = true)]
    async fn wakes_further_apart_than_the_window_are_all_delivered() {
        let (src, _) = scripted(vec![
            (secs(1), WakeReason::NetworkUp),
            (secs(3), WakeReason::Stalled { for_: secs(20) }),
            (ms(1999), WakeReason::NetworkUp), // inside the second window: folded
            (ms(2), WakeReason::NetworkUp),    // 2.001 s after the second: delivered
        ]);
        let mut rx = wake_stream(vec![src], secs(2));
        let got = collect_for(&mut rx, secs(20)).await;
        let reasons: Vec<_> = got.iter().map(|(_, r)| *r).collect();
        assert_eq!(
            reasons,
            vec![
                WakeReason::NetworkUp,
                WakeReason::Stalled { for_: secs(20) },
                WakeReason::NetworkUp
            ]
        );
        assert_eq!(got[0].0, secs(1));
        assert_eq!(got[1].0, secs(4));
        assert_eq!(got[2].0, secs(4) + ms(2001));
    }

    #[tokio::test(start_paused = true)]
    async fn the_window_is_not_extended_by_folded_signals() {
        // A signal every second for 5 s: windows of 2 s from each delivered one → 0, 2, 4.
        let script = (0..5).map(|_| (secs(1), WakeReason::NetworkUp)).collect();
        let (src, _) = scripted(script);
        let mut rx = wake_stream(vec![src], secs(2));
        let got = collect_for(&mut rx, secs(20)).await;
        let times: Vec<_> = got.iter().map(|(t, _)| *t).collect();
        assert_eq!(times, vec![secs(1), secs(3), secs(5)]);
    }

    #[tokio::test(start_paused = true)]
    async fn no_sources_means_a_quiet_stream_that_stays_open() {
        let mut rx = wake_stream(Vec::new(), secs(2));
        let r = tokio::time::timeout(secs(60), rx.recv()).await;
        assert!(r.is_err(), "the stream must neither yield nor close: {r:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn dropping_the_receiver_stops_the_sources() {
        let (src, stopped) = scripted(vec![(ms(10), WakeReason::NetworkUp)]);
        let mut rx = wake_stream(vec![src], secs(2));
        assert_eq!(rx.recv().await, Some(WakeReason::NetworkUp));
        drop(rx);
        for _ in 0..100 {
            if *stopped.lock().unwrap() {
                return;
            }
            tokio::time::sleep(ms(10)).await;
        }
        panic!("the source did not stop");
    }

    #[test]
    fn reasons_read_well() {
        assert_eq!(
            WakeReason::Resumed {
                slept: Some(secs(90))
            }
            .to_string(),
            "resumed from sleep (90 s)"
        );
        assert_eq!(WakeReason::NetworkUp.to_string(), "network up");
    }
}
