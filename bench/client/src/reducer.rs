//! Part 1: the board reducer, in process, no I/O.
//!
//! A snapshot of `tickets` tickets in 4 lanes, then a deterministic stream of ticket events
//! (field updates, moves, comments, creates) with strictly increasing `seq` and each ticket's
//! `version` + 1, as the server would send them. Every event is new (none is a duplicate or a
//! stale replay), so each one does the full work of an apply.
//!
//! Measured, each `runs` times on a fresh copy of the board (median reported):
//! - `Board::apply` alone;
//! - the `LiveBoard` path: `BoardSink::apply` (board lock, apply, `DeskEvent`s sent on the
//!   channel) with the receiving side draining the channel, as the UI would;
//! - frame → board: the websocket text frame decoded as the client does it
//!   (`codec::decode_event`, one pass that decodes the argument straight into the typed
//!   envelope, `parse_event_name`, `EventData::into_event`, the `last_seq` check) and then the `LiveBoard` path: all the client's CPU per live
//!   event except the task hops;
//! - lane events (a rename), which touch every card of the board, at two board sizes;
//! - loading the snapshot itself.

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use deskbell_client::board::Board;
use deskbell_client::connection::BoardSink;
use deskbell_client::live_board::{LiveBoard, SharedBoard};
use deskbell_client::transport::codec::{self, EioPacket, SioPacket};
use deskbell_protocol::{
    event_name, parse_event_name, Comment, EventAction, EventEnvelope, Id, Lane, Priority,
    Requester, Resource, Ticket, TicketStatus,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Instant;

use crate::stats::median;

const COMPANY: Id = 1;
const LANES: [(&str, &str); 4] = [
    ("Triage", "#1e88e5"),
    ("In progress", "#fb8c00"),
    ("Waiting on customer", "#8e24aa"),
    ("Done", "#43a047"),
];
const SUBJECTS: [&str; 8] = [
    "Cannot log in after password reset",
    "Invoice shows the wrong VAT rate",
    "Export to CSV times out",
    "Webhook deliveries failing with 502",
    "SSO login loops back to the start page",
    "Calendar invites arrive in the wrong time zone",
    "Report totals do not match the export",
    "Two-factor codes not arriving",
];
const MESSAGES: [&str; 4] = [
    "Hi, this started this morning and blocks our whole team.",
    "We tried clearing the cache, no change.",
    "Thanks, that fixed it for two of us, one still sees the error.",
    "This is urgent for us, the quarter closes on Friday.",
];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReducerConfig {
    pub tickets: usize,
    pub events: usize,
    pub lane_events: usize,
    pub runs: usize,
}

/// One measured path: events/s of every run and their median.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Throughput {
    pub events: usize,
    pub runs_per_sec: Vec<f64>,
    pub median_per_sec: f64,
    /// 1e9 / median events/s.
    pub median_ns_per_event: f64,
}

impl Throughput {
    fn from_runs(events: usize, secs: &[f64]) -> Throughput {
        let runs: Vec<f64> = secs.iter().map(|s| events as f64 / s.max(1e-12)).collect();
        let m = median(&runs);
        Throughput {
            events,
            runs_per_sec: runs,
            median_per_sec: m,
            median_ns_per_event: if m > 0.0 { 1e9 / m } else { 0.0 },
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReducerResult {
    pub config: Option<ReducerConfig>,
    /// Events of each kind in the stream.
    pub mix: BTreeMap<String, usize>,
    /// Events for which `Board::apply` reported a change (should be all of them).
    pub changed: usize,
    /// Deltas produced over the stream (one `TicketUpserted` per event expected).
    pub deltas: usize,
    /// Mean size of the event frames of the frame → board path, bytes.
    pub frame_bytes: f64,
    pub board_apply: Throughput,
    /// The `LiveBoard` path (named for the `CoreSink` it replaced; kept for comparing runs).
    pub core_sink: Throughput,
    pub frame_to_board: Throughput,
    /// The frame path's steps: `codec::decode_event` alone (one pass: frame → name + typed
    /// envelope); frame → `EventEnvelope` as the client does it (no `serde_json::Value` on the
    /// way); the way
    /// the client did it before, through a `Value` cloned twice (for comparison with earlier
    /// runs).
    pub frame_decode_only: Throughput,
    pub frame_to_envelope: Throughput,
    #[serde(default)]
    pub frame_to_envelope_with_clones: Throughput,
    /// Lane renames on a board of `tickets` tickets, and on one of `tickets / 10`.
    pub lane_events: Throughput,
    pub lane_events_small_board: Throughput,
    pub small_board_tickets: usize,
    /// `Board::from_snapshot` of the `tickets`-ticket snapshot, ms, median over the runs.
    pub load_snapshot_ms: f64,
    pub wall_secs: f64,
    /// Other processes' CPU before and during the measurements, % of one core.
    pub background_before_pct: f64,
    pub background_during_pct: f64,
}

/// A small deterministic generator (xorshift64*), so every run sees the same stream.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn base_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-02T08:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|_| Utc::now())
}

fn lanes() -> Vec<Lane> {
    LANES
        .iter()
        .enumerate()
        .map(|(i, (name, color))| Lane {
            id: i as Id + 1,
            company_id: COMPANY,
            name: (*name).to_string(),
            color: (*color).to_string(),
            position: i as i64,
        })
        .collect()
}

fn new_ticket(rng: &mut Rng, id: Id, at: DateTime<Utc>) -> Ticket {
    let lane = rng.below(5);
    Ticket {
        id,
        company_id: COMPANY,
        title: format!("{} (#{id})", SUBJECTS[rng.below(SUBJECTS.len())]),
        requester: Requester {
            name: format!("Requester {}", rng.below(500)),
            contact: Some(format!("customer{}@example.com", rng.below(500))),
        },
        status: TicketStatus::Open,
        priority: [
            Priority::Low,
            Priority::Normal,
            Priority::Normal,
            Priority::High,
        ][rng.below(4)],
        assignee_id: [None, Some(2), Some(3)][rng.below(3)],
        creator_id: 1,
        lane_id: if lane == 4 {
            None
        } else {
            Some(lane as Id + 1)
        },
        last_message: Some(MESSAGES[rng.below(MESSAGES.len())].to_string()),
        comment_count: rng.below(6) as i64,
        created_at: at,
        updated_at: at,
        version: 1,
        urgent_since: None,
        urgent_by: None,
        acknowledged_by: None,
        acknowledged_at: None,
    }
}

/// The snapshot and the event stream after it.
pub struct Workload {
    pub snapshot: deskbell_protocol::Board,
    pub events: Vec<(Resource, EventEnvelope)>,
    pub mix: BTreeMap<String, usize>,
}

pub fn workload(tickets: usize, events: usize, seed: u64) -> Workload {
    let mut rng = Rng(seed | 1);
    let t0 = base_time();
    let snapshot_seq: i64 = 50_000;
    let mut board: Vec<Ticket> = (1..=tickets as Id)
        .map(|id| {
            let mut t = new_ticket(&mut rng, id, t0 - ChronoDuration::hours(48));
            // Tickets in a snapshot have a history.
            t.version = 1 + rng.below(6) as i64;
            t
        })
        .collect();
    let snapshot = deskbell_protocol::Board {
        lanes: lanes(),
        tickets: board.clone(),
        seq: snapshot_seq,
    };
    let mut out = Vec::with_capacity(events);
    let mut mix = BTreeMap::new();
    let mut next_comment: Id = 1_000_000;
    for i in 0..events {
        let seq = snapshot_seq + 1 + i as i64;
        let at = t0 + ChronoDuration::milliseconds(i as i64 * 20);
        let envelope = |action: EventAction| EventEnvelope::new(action, seq, COMPANY, 2, at);
        let r = rng.unit();
        let (kind, resource, event) = if r < 0.10 {
            let id = board.len() as Id + 1;
            let t = new_ticket(&mut rng, id, at);
            board.push(t.clone());
            let mut e = envelope(EventAction::Create);
            e.ticket = Some(t);
            ("ticket create", Resource::Ticket, e)
        } else {
            let idx = rng.below(board.len());
            let before = board[idx].clone();
            let t = &mut board[idx];
            t.version += 1;
            t.updated_at = at;
            if r < 0.45 {
                let (action, from, to) = match rng.below(3) {
                    0 => {
                        t.priority = match t.priority {
                            Priority::Low => Priority::Normal,
                            Priority::Normal => Priority::High,
                            _ => Priority::Low,
                        };
                        (
                            EventAction::PriorityChange,
                            serde_json::to_value(before.priority).ok(),
                            serde_json::to_value(t.priority).ok(),
                        )
                    }
                    1 => {
                        t.status = if t.status == TicketStatus::Open {
                            TicketStatus::Pending
                        } else {
                            TicketStatus::Open
                        };
                        (
                            EventAction::StatusChange,
                            serde_json::to_value(before.status).ok(),
                            serde_json::to_value(t.status).ok(),
                        )
                    }
                    _ => {
                        t.title = format!("{} (#{}, edited)", SUBJECTS[rng.below(8)], t.id);
                        (EventAction::Update, None, None)
                    }
                };
                let mut e = envelope(action);
                e.ticket = Some(t.clone());
                e.from = from;
                e.to = to;
                ("ticket update", Resource::Ticket, e)
            } else if r < 0.75 {
                let current = t.lane_id.unwrap_or(0);
                let target = (current % 4) + 1;
                t.lane_id = Some(target);
                let mut e = envelope(EventAction::Move);
                e.ticket = Some(t.clone());
                e.from = Some(serde_json::json!(before.lane_id));
                e.to = Some(serde_json::json!(target));
                ("ticket move", Resource::Ticket, e)
            } else {
                next_comment += 1;
                let body = MESSAGES[rng.below(MESSAGES.len())].to_string();
                t.comment_count += 1;
                t.last_message = Some(body.clone());
                let mut e = envelope(EventAction::Create);
                e.comment = Some(Comment {
                    id: next_comment,
                    ticket_id: t.id,
                    author_id: 2,
                    body,
                    created_at: at,
                    from_requester: false,
                });
                e.ticket = Some(t.clone());
                ("comment create", Resource::Comment, e)
            }
        };
        *mix.entry(kind.to_string()).or_insert(0) += 1;
        out.push((resource, event));
    }
    Workload {
        snapshot,
        events: out,
        mix,
    }
}

/// Lane renames after the snapshot, round-robin over the 4 lanes.
fn lane_events(snapshot: &deskbell_protocol::Board, n: usize) -> Vec<EventEnvelope> {
    let t0 = base_time();
    (0..n)
        .map(|i| {
            let mut lane = snapshot.lanes[i % snapshot.lanes.len()].clone();
            lane.name = format!("{} ({i})", lane.name);
            EventEnvelope {
                lane: Some(lane),
                ..EventEnvelope::new(
                    EventAction::Update,
                    snapshot.seq + 1 + i as i64,
                    COMPANY,
                    1,
                    t0,
                )
            }
        })
        .collect()
}

fn frames(events: &[(Resource, EventEnvelope)]) -> Result<Vec<String>> {
    let ns = deskbell_protocol::namespace(COMPANY);
    events
        .iter()
        .map(|(resource, e)| {
            let data = serde_json::to_value(e)?;
            Ok(codec::encode(&SioPacket::event(
                &ns,
                &event_name(COMPANY, *resource),
                data,
            )))
        })
        .collect()
}

/// What the client does with one websocket text frame of a live event (transport task +
/// supervisor `on_event`), minus the channel hop between them.
fn frame_into_sink(sink: &mut LiveBoard, frame: &str) -> Result<()> {
    let frame = codec::decode_event(frame)
        .context("not an event frame")?
        .map_err(anyhow::Error::msg)?;
    let (_, resource) = parse_event_name(&frame.name).context("not a company event")?;
    // As `connection.rs` does it: the envelope `decode_event` decoded with the frame.
    let event: EventEnvelope = frame.data.into_event()?;
    if sink.last_seq().is_some_and(|last| event.seq <= last) {
        return Ok(());
    }
    sink.apply(resource, event);
    Ok(())
}

/// Decode → `EventEnvelope` as the transport and `connection.rs` do it.
fn frame_to_envelope(frame: &str) -> Result<EventEnvelope> {
    let frame = codec::decode_event(frame)
        .context("not an event frame")?
        .map_err(anyhow::Error::msg)?;
    parse_event_name(&frame.name).context("not a company event")?;
    Ok(frame.data.into_event()?)
}

/// For comparison with earlier runs: the way the client did it before, through a
/// `serde_json::Value` of the whole frame (`codec::decode`), cloned out of the packet
/// (`event_parts`) and again into `from_value(data.clone())`.
fn frame_to_envelope_with_clones(frame: &str) -> Result<EventEnvelope> {
    let EioPacket::Message(p) = codec::decode(frame).map_err(anyhow::Error::msg)? else {
        bail!("not a message frame");
    };
    let (name, data) = p.event_parts().context("not an event")?;
    parse_event_name(&name).context("not a company event")?;
    Ok(serde_json::from_value(data.clone())?)
}

/// Times `f` over every frame, `runs` times.
fn time_frames<T>(
    texts: &[String],
    runs: usize,
    f: impl Fn(&str) -> Result<T>,
) -> Result<Vec<f64>> {
    let mut secs = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        for t in texts {
            std::hint::black_box(f(t)?);
        }
        secs.push(start.elapsed().as_secs_f64());
    }
    Ok(secs)
}

pub fn run(cfg: &ReducerConfig) -> Result<ReducerResult> {
    let wall = Instant::now();
    let machine0 = crate::procstat::machine_ticks();
    let own0 = crate::procstat::process_cpu_secs();
    let runs = cfg.runs.max(1);
    eprintln!(
        "[reducer] building a {}-ticket snapshot and {} events…",
        cfg.tickets, cfg.events
    );
    let w = workload(cfg.tickets, cfg.events, 0x5eed_0001);
    let template = Board::from_snapshot(w.snapshot.clone());
    let mut result = ReducerResult {
        config: Some(cfg.clone()),
        mix: w.mix.clone(),
        ..ReducerResult::default()
    };

    // Board::apply alone.
    let mut secs = Vec::new();
    for run in 0..runs {
        let mut board = template.clone();
        let start = Instant::now();
        let (mut changed, mut deltas) = (0usize, 0usize);
        for (resource, event) in &w.events {
            let applied = board.apply(*resource, event);
            changed += usize::from(applied.changed);
            deltas += applied.deltas.len();
        }
        secs.push(start.elapsed().as_secs_f64());
        if run == 0 {
            result.changed = changed;
            result.deltas = deltas;
            if board.last_seq() != w.snapshot.seq + w.events.len() as i64 {
                bail!("the board did not reach the last seq");
            }
        }
        drop(board);
    }
    result.board_apply = Throughput::from_runs(w.events.len(), &secs);
    eprintln!(
        "[reducer] Board::apply: {:.0} events/s (median of {runs})",
        result.board_apply.median_per_sec
    );

    // LiveBoard: owned events (the copies are made outside the timed loop).
    let mut secs = Vec::new();
    for _ in 0..runs {
        let owned = w.events.clone();
        let (mut sink, mut rx) = LiveBoard::new(SharedBoard::new());
        sink.load_snapshot(w.snapshot.clone());
        while rx.try_recv().is_ok() {}
        let start = Instant::now();
        for (i, (resource, event)) in owned.into_iter().enumerate() {
            sink.apply(resource, event);
            if i % 64 == 63 {
                while rx.try_recv().is_ok() {}
            }
        }
        while rx.try_recv().is_ok() {}
        secs.push(start.elapsed().as_secs_f64());
    }
    result.core_sink = Throughput::from_runs(w.events.len(), &secs);
    eprintln!(
        "[reducer] LiveBoard::apply (+ channel, drained): {:.0} events/s",
        result.core_sink.median_per_sec
    );

    // Frame → board.
    let texts = frames(&w.events)?;
    result.frame_bytes =
        texts.iter().map(|t| t.len()).sum::<usize>() as f64 / texts.len().max(1) as f64;
    let mut secs = Vec::new();
    for _ in 0..runs {
        let (mut sink, mut rx) = LiveBoard::new(SharedBoard::new());
        sink.load_snapshot(w.snapshot.clone());
        while rx.try_recv().is_ok() {}
        let start = Instant::now();
        for (i, text) in texts.iter().enumerate() {
            frame_into_sink(&mut sink, text)?;
            if i % 64 == 63 {
                while rx.try_recv().is_ok() {}
            }
        }
        while rx.try_recv().is_ok() {}
        secs.push(start.elapsed().as_secs_f64());
    }
    result.frame_to_board = Throughput::from_runs(w.events.len(), &secs);
    eprintln!(
        "[reducer] frame → board: {:.0} events/s ({:.0} B frames)",
        result.frame_to_board.median_per_sec, result.frame_bytes
    );
    let n = texts.len();
    result.frame_decode_only = Throughput::from_runs(
        n,
        &time_frames(&texts, runs, |t| {
            // The namespace is borrowed from the frame: what outlives it is the name and data.
            codec::decode_event(t)
                .context("not an event frame")?
                .map(|frame| (frame.name, frame.data))
                .map_err(anyhow::Error::msg)
        })?,
    );
    result.frame_to_envelope =
        Throughput::from_runs(n, &time_frames(&texts, runs, frame_to_envelope)?);
    result.frame_to_envelope_with_clones = Throughput::from_runs(
        n,
        &time_frames(&texts, runs, frame_to_envelope_with_clones)?,
    );
    drop(texts);
    eprintln!(
        "[reducer] frame steps: decode_event {:.2} µs, → EventEnvelope {:.2} µs (the former way, through cloned Values: {:.2} µs)",
        result.frame_decode_only.median_ns_per_event / 1e3,
        result.frame_to_envelope.median_ns_per_event / 1e3,
        result.frame_to_envelope_with_clones.median_ns_per_event / 1e3
    );

    // Lane events on the full board and on a board a tenth of its size.
    let lanes = lane_events(&w.snapshot, cfg.lane_events);
    let measure_lanes = |template: &Board| -> Vec<f64> {
        (0..runs)
            .map(|_| {
                let mut board = template.clone();
                let start = Instant::now();
                for e in &lanes {
                    let _ = board.apply(Resource::Lane, e);
                }
                start.elapsed().as_secs_f64()
            })
            .collect()
    };
    result.lane_events = Throughput::from_runs(lanes.len(), &measure_lanes(&template));
    result.small_board_tickets = (cfg.tickets / 10).max(1);
    let small = workload(result.small_board_tickets, 0, 0x5eed_0002);
    let small_board = Board::from_snapshot(small.snapshot);
    result.lane_events_small_board =
        Throughput::from_runs(lanes.len(), &measure_lanes(&small_board));
    eprintln!(
        "[reducer] lane rename: {:.0} events/s at {} tickets, {:.0} at {}",
        result.lane_events.median_per_sec,
        cfg.tickets,
        result.lane_events_small_board.median_per_sec,
        result.small_board_tickets
    );

    // Snapshot load.
    let loads: Vec<f64> = (0..runs)
        .map(|_| {
            let s = w.snapshot.clone();
            let start = Instant::now();
            let board = Board::from_snapshot(s);
            let ms = start.elapsed().as_secs_f64() * 1e3;
            drop(board);
            ms
        })
        .collect();
    result.load_snapshot_ms = median(&loads);
    result.wall_secs = wall.elapsed().as_secs_f64();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let machine =
        crate::procstat::machine_percent(machine0, crate::procstat::machine_ticks(), cores);
    let own = (crate::procstat::process_cpu_secs() - own0) / result.wall_secs.max(1e-9) * 100.0;
    result.background_during_pct = (machine - own).max(0.0).round();
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_of_the_stream_changes_the_board() {
        let w = workload(200, 2_000, 7);
        let mut board = Board::from_snapshot(w.snapshot.clone());
        for (resource, event) in &w.events {
            assert!(board.apply(*resource, event).changed, "seq {}", event.seq);
        }
        assert_eq!(board.last_seq(), w.snapshot.seq + 2_000);
        assert_eq!(w.mix.values().sum::<usize>(), 2_000);
    }

    #[test]
    fn frames_decode_back_into_the_sink() {
        let w = workload(50, 100, 9);
        let texts = frames(&w.events).unwrap();
        let (mut sink, mut rx) = LiveBoard::new(SharedBoard::new());
        sink.load_snapshot(w.snapshot.clone());
        for t in &texts {
            frame_into_sink(&mut sink, t).unwrap();
        }
        let mut events = 0;
        while let Ok(e) = rx.try_recv() {
            if matches!(e, deskbell_client::desk::DeskEvent::Event { .. }) {
                events += 1;
            }
        }
        assert_eq!(events, 100);
    }
}
