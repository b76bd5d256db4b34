//! N raw Socket.IO websocket clients (`deskbell_bench_support::socketio`) and what they
//! measure: per-delivery latency, `seq` order, lost and duplicate tickets.
//!
//! Each joins `/workspace-1` with a token and is "ready" once the server's `company-1-sync`
//! arrives; then every `company-1-ticket` event is a delivery.

use chrono::{DateTime, Utc};
use deskbell_bench_support::socketio::{
    number_after, string_after, Handshake, Received, Retry, Socket,
};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify, Semaphore};

use crate::hist::Hist;

pub const NAMESPACE: &str = "/workspace-1";
pub const TICKET_EVENT: &str = "company-1-ticket";
pub const SYNC_EVENT: &str = "company-1-sync";
/// Titles are `fb-{phase}-{index}`; the writer records each index's send time.
pub const TITLE_PREFIX: &str = "fb-";

/// What one measured phase (a writer run + its drain) saw at the clients.
pub struct PhaseStats {
    pub deliveries: AtomicU64,
    /// Bytes of the ticket event frames' text, summed over deliveries.
    pub bytes: AtomicU64,
    /// Writer's REST request start → client receive.
    pub e2e: Hist,
    /// Envelope `timestamp` (set by the server at write time) → client receive, wall clock.
    pub server_ts: Hist,
    pub negative_server_ts: AtomicU64,
    pub first_recv_us: AtomicU64,
    pub last_recv_us: AtomicU64,
    /// Receipts per ticket index.
    pub per_event: Vec<AtomicU32>,
    /// Writer's send time per ticket index (µs since `Shared::t0`, +1 so that 0 = unsent).
    pub sent_at: Vec<AtomicU64>,
    pub unmatched: AtomicU64,
    /// Receipts of a ticket a client already had (the `Ledger`s tell).
    pub duplicates: AtomicU64,
}

impl PhaseStats {
    pub fn new(capacity: usize) -> PhaseStats {
        PhaseStats {
            deliveries: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            e2e: Hist::default(),
            server_ts: Hist::default(),
            negative_server_ts: AtomicU64::new(0),
            first_recv_us: AtomicU64::new(u64::MAX),
            last_recv_us: AtomicU64::new(0),
            per_event: (0..capacity).map(|_| AtomicU32::new(0)).collect(),
            sent_at: (0..capacity).map(|_| AtomicU64::new(0)).collect(),
            unmatched: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
        }
    }
}

/// What one client received, ticket by ticket: after a phase, every ticket whose write was
/// acknowledged must be in the ledger of every client connected through the whole phase
/// (otherwise it was lost); a second receipt is a duplicate.
pub struct Ledger {
    /// When the client was connected and synced (µs since `Shared::t0`; `u64::MAX`: never).
    pub ready_us: AtomicU64,
    /// When its connection ended (`u64::MAX` while it is live).
    pub ended_us: AtomicU64,
    /// Per phase, a bit per ticket index.
    got: Mutex<Vec<Vec<u64>>>,
}

impl Ledger {
    fn new(phases: usize) -> Ledger {
        Ledger {
            ready_us: AtomicU64::new(u64::MAX),
            ended_us: AtomicU64::new(u64::MAX),
            got: Mutex::new(vec![Vec::new(); phases]),
        }
    }

    /// Records ticket `idx` of `phase`; false if it was already there.
    fn mark(&self, phase: usize, idx: usize) -> bool {
        let mut got = self.got.lock().unwrap();
        let bits = &mut got[phase];
        let (word, bit) = (idx / 64, 1u64 << (idx % 64));
        if bits.len() <= word {
            bits.resize(word + 1, 0);
        }
        let fresh = bits[word] & bit == 0;
        bits[word] |= bit;
        fresh
    }

    fn has(&self, phase: usize, idx: usize) -> bool {
        let got = self.got.lock().unwrap();
        got[phase]
            .get(idx / 64)
            .is_some_and(|w| w & (1u64 << (idx % 64)) != 0)
    }
}

/// Tickets of a phase acknowledged by a write yet missing at a client connected from before
/// the phase began until after it ended: (missing receipts, clients missing at least one,
/// clients checked).
pub fn lost_in_phase(
    shared: &Shared,
    phase: usize,
    ok_indices: &[usize],
    start_us: u64,
    end_us: u64,
) -> (u64, u64, u64) {
    let ledgers = shared.ledgers.lock().unwrap().clone();
    let (mut missing, mut clients, mut checked) = (0u64, 0u64, 0u64);
    for l in ledgers {
        let ready = l.ready_us.load(Ordering::Acquire);
        let ended = l.ended_us.load(Ordering::Acquire);
        if ready > start_us || ended < end_us {
            continue;
        }
        checked += 1;
        let lacks = ok_indices.iter().filter(|&&i| !l.has(phase, i)).count() as u64;
        missing += lacks;
        clients += u64::from(lacks > 0);
    }
    (missing, clients, checked)
}

/// State shared by all clients of one (server, N) run, and the writer.
pub struct Shared {
    pub t0: Instant,
    pub phases: Vec<PhaseStats>,
    /// Clients connected and synced right now.
    pub live: AtomicU64,
    pub ready: AtomicU64,
    pub failed: AtomicU64,
    pub connect_retries: AtomicU64,
    /// Ready clients whose connection ended before the benchmark closed it.
    pub lost: AtomicU64,
    pub seq_gaps: AtomicU64,
    pub seq_missing: AtomicU64,
    pub seq_out_of_order: AtomicU64,
    pub other_packets: AtomicU64,
    pub pings: AtomicU64,
    /// Connect failures and lost connections, by reason.
    pub errors: Mutex<BTreeMap<String, u64>>,
    /// Signalled when some ticket has reached every live client.
    pub event_done: Notify,
    /// Every client's receipts (see `Ledger`).
    pub ledgers: Mutex<Vec<Arc<Ledger>>>,
    phase_count: usize,
}

impl Shared {
    pub fn new(phases: usize, capacity: usize) -> Shared {
        Shared {
            t0: Instant::now(),
            phases: (0..phases).map(|_| PhaseStats::new(capacity)).collect(),
            live: AtomicU64::new(0),
            ready: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            connect_retries: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            seq_gaps: AtomicU64::new(0),
            seq_missing: AtomicU64::new(0),
            seq_out_of_order: AtomicU64::new(0),
            other_packets: AtomicU64::new(0),
            pings: AtomicU64::new(0),
            errors: Mutex::new(BTreeMap::new()),
            event_done: Notify::new(),
            ledgers: Mutex::new(Vec::new()),
            phase_count: phases,
        }
    }

    pub fn now_us(&self) -> u64 {
        self.t0.elapsed().as_micros() as u64
    }

    pub fn error(&self, reason: impl Into<String>) {
        let mut reason: String = reason.into();
        if reason.len() > 160 {
            reason.truncate(160);
        }
        *self.errors.lock().unwrap().entry(reason).or_default() += 1;
    }
}

pub struct ClientConfig {
    /// Client i connects to `urls[i % urls.len()]` (the nodes of a cluster, round-robin).
    pub urls: Vec<String>,
    pub token: String,
    pub handshake_timeout: Duration,
    pub attempts: u32,
}

/// One client: connect (bounded by `gate` while handshaking), then receive until `stop`.
pub async fn run_client(
    cfg: Arc<ClientConfig>,
    index: usize,
    shared: Arc<Shared>,
    gate: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) {
    let ledger = Arc::new(Ledger::new(shared.phase_count));
    shared.ledgers.lock().unwrap().push(ledger.clone());
    let handshake = Handshake {
        url: &cfg.urls[index % cfg.urls.len()],
        namespace: NAMESPACE,
        token: &cfg.token,
        sync_event: SYNC_EVENT,
        // The ticket frames are ~0.5 KB each.
        read_buffer_size: 4 * 1024,
    };
    let retry = Retry {
        handshake_timeout: cfg.handshake_timeout,
        attempts: cfg.attempts,
    };
    let connected = Socket::connect(&handshake, &retry, &gate, &stop, || {
        shared.connect_retries.fetch_add(1, Ordering::Relaxed);
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
    ledger.ready_us.store(shared.now_us(), Ordering::Release);
    shared.live.fetch_add(1, Ordering::Relaxed);
    shared.ready.fetch_add(1, Ordering::Relaxed);

    let ticket_prefix = format!("42{NAMESPACE},[\"{TICKET_EVENT}\",");
    let mut last_seq = head;
    let end: Option<String> = loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break None,
            received = socket.recv() => match received {
                Received::Ping => {
                    shared.pings.fetch_add(1, Ordering::Relaxed);
                    if let Err(e) = socket.pong().await {
                        break Some(e);
                    }
                }
                Received::Packet(text) => {
                    let text = text.as_str();
                    if let Some(body) = text.strip_prefix(ticket_prefix.as_str()) {
                        on_ticket(&shared, &ledger, body, text.len(), &mut last_seq);
                    } else {
                        shared.other_packets.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Received::Ended(reason) => break Some(reason),
                Received::Nothing => {}
            }
        }
    };
    ledger.ended_us.store(shared.now_us(), Ordering::Release);
    shared.live.fetch_sub(1, Ordering::Relaxed);
    if let Some(reason) = end {
        if !*stop.borrow() {
            shared.lost.fetch_add(1, Ordering::Relaxed);
            shared.error(format!("lost: {reason}"));
            // Wake a writer that might be waiting for this client.
            shared.event_done.notify_one();
        }
    }
    socket.close(Duration::from_millis(200)).await;
}

fn on_ticket(shared: &Shared, ledger: &Ledger, body: &str, frame_len: usize, last_seq: &mut i64) {
    let now_us = shared.now_us();
    let wall = Utc::now();
    if let Some(seq) = number_after(body, "\"seq\":") {
        if seq <= *last_seq {
            shared.seq_out_of_order.fetch_add(1, Ordering::Relaxed);
        } else {
            if seq > *last_seq + 1 {
                shared.seq_gaps.fetch_add(1, Ordering::Relaxed);
                shared
                    .seq_missing
                    .fetch_add((seq - *last_seq - 1) as u64, Ordering::Relaxed);
            }
            *last_seq = seq;
        }
    }
    let Some((phase, idx)) = title_of(body) else {
        shared.other_packets.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let Some(stats) = shared.phases.get(phase) else {
        shared.other_packets.fetch_add(1, Ordering::Relaxed);
        return;
    };
    if idx >= stats.sent_at.len() {
        stats.unmatched.fetch_add(1, Ordering::Relaxed);
        return;
    }
    if !ledger.mark(phase, idx) {
        // A second receipt: counted apart, neither as a delivery nor in the latencies.
        stats.duplicates.fetch_add(1, Ordering::Relaxed);
        return;
    }
    stats.deliveries.fetch_add(1, Ordering::Relaxed);
    stats.bytes.fetch_add(frame_len as u64, Ordering::Relaxed);
    stats.first_recv_us.fetch_min(now_us, Ordering::Relaxed);
    stats.last_recv_us.fetch_max(now_us, Ordering::Relaxed);
    let sent = stats.sent_at[idx].load(Ordering::Acquire);
    if sent == 0 || sent == u64::MAX {
        stats.unmatched.fetch_add(1, Ordering::Relaxed);
    } else {
        stats.e2e.record(now_us.saturating_sub(sent - 1));
    }
    if let Some(ts) = string_after(body, "\"timestamp\":\"") {
        if let Ok(ts) = DateTime::parse_from_rfc3339(ts) {
            let micros = (wall - ts.with_timezone(&Utc))
                .num_microseconds()
                .unwrap_or(0);
            if micros < 0 {
                stats.negative_server_ts.fetch_add(1, Ordering::Relaxed);
            }
            stats.server_ts.record(micros.max(0) as u64);
        }
    }
    let got = stats.per_event[idx].fetch_add(1, Ordering::AcqRel) + 1;
    if u64::from(got) >= shared.live.load(Ordering::Relaxed) {
        shared.event_done.notify_one();
    }
}

/// `..."title":"fb-{phase}-{idx}"...` → (phase, idx).
fn title_of(body: &str) -> Option<(usize, usize)> {
    let key = format!("\"title\":\"{TITLE_PREFIX}");
    let rest = string_after(body, &key)?;
    let (phase, idx) = rest.split_once('-')?;
    Some((phase.parse().ok()?, idx.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ledger_tells_lost_and_duplicate_tickets() {
        let shared = Shared::new(2, 16);
        let whole = Arc::new(Ledger::new(2));
        let late = Arc::new(Ledger::new(2));
        whole.ready_us.store(5, Ordering::Relaxed);
        late.ready_us.store(50, Ordering::Relaxed);
        shared
            .ledgers
            .lock()
            .unwrap()
            .extend([whole.clone(), late.clone()]);
        assert!(whole.mark(1, 0));
        assert!(whole.mark(1, 130));
        assert!(!whole.mark(1, 130), "second receipt");
        assert!(whole.mark(0, 2), "other phase");
        // Phase 1 ran from 10 to 100 µs with tickets 0, 2 and 130 acknowledged: the client
        // connected at 50 is not checked; the other lacks ticket 2.
        assert_eq!(lost_in_phase(&shared, 1, &[0, 2, 130], 10, 100), (1, 1, 1));
        assert_eq!(lost_in_phase(&shared, 1, &[0, 130], 10, 100), (0, 0, 1));
        whole.ended_us.store(90, Ordering::Relaxed);
        assert_eq!(lost_in_phase(&shared, 1, &[0, 2], 10, 100), (0, 0, 0));
    }

    #[test]
    fn parses_a_deskbell_envelope() {
        let body = r#"{"action":"create","seq":42,"companyId":1,"userId":1,"timestamp":"2026-01-02T03:04:05.123456Z","ticket":{"id":7,"companyId":1,"title":"fb-1-123","requester":{"name":"Bench","contact":null}}}]"#;
        assert_eq!(title_of(body), Some((1, 123)));
        assert_eq!(number_after(body, "\"seq\":"), Some(42));
        assert_eq!(
            string_after(body, "\"timestamp\":\""),
            Some("2026-01-02T03:04:05.123456Z")
        );
    }
}
