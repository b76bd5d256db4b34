//! The other clients of the company: raw Socket.IO websocket clients
//! (`deskbell_bench_support::socketio`, as in `bench/fanout`), on their own runtime (threads
//! `bc-others*`).
//!
//! Each one connects to `/workspace-1` with a token, waits for the `company-1-sync` event (the
//! server joins the rooms before sending it), answers pings, and receives every data event:
//! it checks that `seq` increases by one on its socket and records, per seq, the first and the
//! last moment any of them received it — the spread of the server's fan-out loop.

use deskbell_bench_support::socketio::{number_after, Handshake, Received, Retry, Socket};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Semaphore};

use crate::server::NAMESPACE;

const SYNC_EVENT: &str = "company-1-sync";
const DATA_PREFIX: &str = "company-1-";
/// Seconds of ping history kept (longer than any run).
const PING_SECONDS: usize = 3_600;

pub struct OthersShared {
    pub t0: Instant,
    pub live: AtomicU64,
    pub ready: AtomicU64,
    pub failed: AtomicU64,
    pub retries: AtomicU64,
    /// Ready clients whose connection ended before they were told to stop.
    pub lost: AtomicU64,
    pub events: AtomicU64,
    pub seq_gaps: AtomicU64,
    pub seq_out_of_order: AtomicU64,
    pub pings: AtomicU64,
    /// Pings answered per second since `t0`.
    pub pings_by_sec: Vec<AtomicU32>,
    /// Data events received by each client (index = client number).
    pub per_client: Vec<AtomicU64>,
    /// Per-seq receipts from `base_seq + 1` on: count, first and last time (µs since `t0`).
    pub base_seq: AtomicI64,
    pub seq_count: Vec<AtomicU32>,
    pub seq_first_us: Vec<AtomicU64>,
    pub seq_last_us: Vec<AtomicU64>,
    pub errors: Mutex<BTreeMap<String, u64>>,
}

impl OthersShared {
    pub fn new(t0: Instant, clients: usize, seq_capacity: usize) -> OthersShared {
        OthersShared {
            t0,
            live: AtomicU64::new(0),
            ready: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            events: AtomicU64::new(0),
            seq_gaps: AtomicU64::new(0),
            seq_out_of_order: AtomicU64::new(0),
            pings: AtomicU64::new(0),
            pings_by_sec: (0..PING_SECONDS).map(|_| AtomicU32::new(0)).collect(),
            per_client: (0..clients).map(|_| AtomicU64::new(0)).collect(),
            base_seq: AtomicI64::new(i64::MAX),
            seq_count: (0..seq_capacity).map(|_| AtomicU32::new(0)).collect(),
            seq_first_us: (0..seq_capacity)
                .map(|_| AtomicU64::new(u64::MAX))
                .collect(),
            seq_last_us: (0..seq_capacity).map(|_| AtomicU64::new(0)).collect(),
            errors: Mutex::new(BTreeMap::new()),
        }
    }

    fn error(&self, reason: impl Into<String>) {
        let mut reason: String = reason.into();
        reason.truncate(160);
        let mut errors = self.errors.lock().unwrap_or_else(|e| e.into_inner());
        *errors.entry(reason).or_default() += 1;
    }

    /// The slot of `seq` in the per-seq arrays, when it is tracked.
    pub fn slot(&self, seq: i64) -> Option<usize> {
        let base = self.base_seq.load(Ordering::Relaxed);
        if seq <= base {
            return None;
        }
        let i = (seq - base - 1) as usize;
        (i < self.seq_count.len()).then_some(i)
    }

    /// Min and max over clients of the data events received.
    pub fn per_client_range(&self) -> (u64, u64) {
        let v: Vec<u64> = self
            .per_client
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        (
            v.iter().copied().min().unwrap_or(0),
            v.iter().copied().max().unwrap_or(0),
        )
    }
}

pub struct OthersConfig {
    pub url: String,
    pub token: String,
    pub handshake_timeout: Duration,
    pub attempts: u32,
}

/// One client: connect (at most `gate` handshakes at once), then receive until `stop`.
pub async fn run_client(
    index: usize,
    cfg: Arc<OthersConfig>,
    shared: Arc<OthersShared>,
    gate: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) {
    let handshake = Handshake {
        url: &cfg.url,
        namespace: NAMESPACE,
        token: &cfg.token,
        sync_event: SYNC_EVENT,
        read_buffer_size: 16 * 1024,
    };
    let retry = Retry {
        handshake_timeout: cfg.handshake_timeout,
        attempts: cfg.attempts,
    };
    let connected = Socket::connect(&handshake, &retry, &gate, &stop, || {
        shared.retries.fetch_add(1, Ordering::Relaxed);
    })
    .await;
    let (mut socket, head) = match connected {
        Ok(done) => done,
        Err(None) => return,
        Err(Some(e)) => {
            shared.error(format!("connect: {e}"));
            shared.failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    shared.live.fetch_add(1, Ordering::Relaxed);
    shared.ready.fetch_add(1, Ordering::Relaxed);

    let data_prefix = format!("42{NAMESPACE},[\"{DATA_PREFIX}");
    let mut last_seq = head;
    let end: Option<String> = loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break None,
            received = socket.recv() => match received {
                Received::Ping => {
                    shared.pings.fetch_add(1, Ordering::Relaxed);
                    let sec = shared.t0.elapsed().as_secs() as usize;
                    if let Some(c) = shared.pings_by_sec.get(sec) {
                        c.fetch_add(1, Ordering::Relaxed);
                    }
                    if let Err(e) = socket.pong().await {
                        break Some(e);
                    }
                }
                Received::Packet(text) => {
                    if text.as_str().starts_with(&data_prefix) {
                        on_event(&shared, index, text.as_str(), &mut last_seq);
                    }
                }
                Received::Ended(reason) => break Some(reason),
                Received::Nothing => {}
            }
        }
    };
    shared.live.fetch_sub(1, Ordering::Relaxed);
    if let Some(reason) = end {
        if !*stop.borrow() {
            shared.lost.fetch_add(1, Ordering::Relaxed);
            shared.error(format!("lost: {reason}"));
        }
    }
    socket.close(Duration::from_millis(500)).await;
}

fn on_event(shared: &OthersShared, index: usize, text: &str, last_seq: &mut i64) {
    let now_us = shared.t0.elapsed().as_micros() as u64;
    if text.contains(SYNC_EVENT) {
        return;
    }
    let Some(seq) = number_after(text, "\"seq\":") else {
        return;
    };
    shared.events.fetch_add(1, Ordering::Relaxed);
    shared.per_client[index].fetch_add(1, Ordering::Relaxed);
    if seq <= *last_seq {
        shared.seq_out_of_order.fetch_add(1, Ordering::Relaxed);
    } else {
        if seq > *last_seq + 1 {
            shared.seq_gaps.fetch_add(1, Ordering::Relaxed);
        }
        *last_seq = seq;
    }
    if let Some(i) = shared.slot(seq) {
        shared.seq_count[i].fetch_add(1, Ordering::Relaxed);
        shared.seq_first_us[i].fetch_min(now_us, Ordering::Relaxed);
        shared.seq_last_us[i].fetch_max(now_us, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_envelope_seq_and_tracks_slots() {
        let frame = r#"42/workspace-1,["company-1-ticket",{"action":"move","seq":42,"companyId":1,"ticket":{"id":7,"version":3}}]"#;
        assert_eq!(number_after(frame, "\"seq\":"), Some(42));
        let shared = OthersShared::new(Instant::now(), 1, 10);
        shared.base_seq.store(40, Ordering::Relaxed);
        assert_eq!(shared.slot(40), None);
        assert_eq!(shared.slot(41), Some(0));
        assert_eq!(shared.slot(51), None);
        let mut last = 41;
        on_event(&shared, 0, frame, &mut last);
        assert_eq!(last, 42);
        assert_eq!(shared.seq_count[1].load(Ordering::Relaxed), 1);
        assert_eq!(shared.per_client_range(), (1, 1));
    }
}
