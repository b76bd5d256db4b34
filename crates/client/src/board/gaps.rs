//! Telling an event this client missed from one it was never meant to see.
//!
//! Each client receives only the events visible to its user, so the `seq`s it sees have holes
//! by design: a hole says nothing. What does is the event's stream (`EventEnvelope::stream`):
//! a user receives every event of each stream they receive any of, and each event names the
//! `seq` of its stream's previous one (`prevSeq`, 0 for none). So an event whose `prevSeq` is
//! above both the last snapshot's `seq` and the highest `seq` received in that stream reveals
//! that the event `prevSeq` was missed: a gap.
//!
//! The rules:
//! - The snapshot covers everything at or below its `seq`: loading one resets the streams
//!   ([`GapDetector::reset`]).
//! - An event at or below what was seen of its stream (or below the snapshot) is a duplicate
//!   ([`Verdict::Seen`]), never a gap, whatever its `prevSeq`: replays overlap.
//! - Events without `stream` or `prevSeq` (older servers, events logged before streams) are not
//!   checked; without a stream they are duplicates when at or below the highest `seq` received.
//! - Replayed events are checked like live ones.
//!
//! Pure and synchronous, like the reducer: the connection supervisor feeds it every data event
//! before the board, and decides what to do about a gap (see `connection.rs`).

use std::collections::HashMap;

use deskbell_protocol::{EventEnvelope, EventStream};

/// A missed event: `missing` of `stream`, found out from the event `revealed_by`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    pub stream: EventStream,
    /// The seq of the event that never arrived (the revealing event's `prevSeq`).
    pub missing: i64,
    /// The seq of the event whose `prevSeq` revealed it.
    pub revealed_by: i64,
}

impl std::fmt::Display for Gap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "event {} of stream {} (revealed by event {})",
            self.missing, self.stream, self.revealed_by
        )
    }
}

/// What an event is, given what was received before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not seen before, and nothing before it is missing: deliver it.
    New,
    /// Already reflected (received, or covered by the snapshot): skip it.
    Seen,
    /// Something before it is missing.
    Gap(Gap),
}

/// What was received so far, per stream, since the last snapshot.
#[derive(Debug, Clone, Default)]
pub struct GapDetector {
    /// The last snapshot's seq: it holds everything at or below. `None`: no snapshot yet, so
    /// nothing is known to be complete and no gap can be told.
    basis: Option<i64>,
    /// Per stream, the highest seq received since the snapshot.
    streams: HashMap<EventStream, i64>,
    /// The highest seq received, or the basis (for events without a stream).
    last_seq: Option<i64>,
}

impl GapDetector {
    /// Nothing loaded yet.
    pub fn new() -> Self {
        GapDetector::default()
    }

    /// Starts from a board holding everything at or below `seq` (a snapshot just loaded): what
    /// was received before is part of it.
    pub fn reset(&mut self, seq: i64) {
        self.basis = Some(seq);
        self.streams.clear();
        self.last_seq = Some(seq);
    }

    /// The highest seq received or loaded (`None` before any).
    pub fn last_seq(&self) -> Option<i64> {
        self.last_seq
    }

    /// Judges `event` without recording it.
    pub fn check(&self, event: &EventEnvelope) -> Verdict {
        let Some(stream) = event.stream else {
            // No stream: only the old rule (the board is in seq order) can tell a duplicate.
            return match self.last_seq {
                Some(last) if event.seq <= last => Verdict::Seen,
                _ => Verdict::New,
            };
        };
        // Everything of this stream up to here is in (gaps are recovered before going on).
        let complete = self
            .basis
            .into_iter()
            .chain(self.streams.get(&stream).copied())
            .max();
        if complete.is_some_and(|c| event.seq <= c) {
            return Verdict::Seen;
        }
        match (event.prev_seq, complete) {
            // A `prevSeq` not below the event's own seq is no chain: unchecked, not a gap the
            // client could ever recover (it would reconnect for it forever).
            (Some(prev), Some(complete)) if prev > complete && prev < event.seq => {
                Verdict::Gap(Gap {
                    stream,
                    missing: prev,
                    revealed_by: event.seq,
                })
            }
            _ => Verdict::New,
        }
    }

    /// Records `event` as received (after a [`Verdict::New`]).
    pub fn record(&mut self, event: &EventEnvelope) {
        if let Some(stream) = event.stream {
            let high = self.streams.entry(stream).or_insert(event.seq);
            *high = (*high).max(event.seq);
        }
        self.last_seq = Some(self.last_seq.map_or(event.seq, |l| l.max(event.seq)));
    }

    /// [`GapDetector::check`], recording the event when it is new. A gap's event is not
    /// recorded: it comes again after the missing one.
    pub fn observe(&mut self, event: &EventEnvelope) -> Verdict {
        let verdict = self.check(event);
        if verdict == Verdict::New {
            self.record(event);
        }
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deskbell_protocol::EventAction;

    fn event(seq: i64, stream: Option<EventStream>, prev_seq: Option<i64>) -> EventEnvelope {
        EventEnvelope {
            stream,
            prev_seq,
            ..EventEnvelope::new(
                EventAction::Update,
                seq,
                1,
                2,
                "2026-11-22T10:00:00Z".parse().unwrap(),
            )
        }
    }

    fn all(seq: i64, prev: i64) -> EventEnvelope {
        event(seq, Some(EventStream::All), Some(prev))
    }

    fn mine(seq: i64, prev: i64) -> EventEnvelope {
        event(seq, Some(EventStream::Assignee(2)), Some(prev))
    }

    fn at(seq: i64) -> GapDetector {
        let mut d = GapDetector::new();
        d.reset(seq);
        d
    }

    fn gap(stream: EventStream, missing: i64, revealed_by: i64) -> Verdict {
        Verdict::Gap(Gap {
            stream,
            missing,
            revealed_by,
        })
    }

    #[test]
    fn a_chained_stream_has_no_gap() {
        let mut d = at(5);
        assert_eq!(d.observe(&all(6, 3)), Verdict::New, "3 is in the snapshot");
        assert_eq!(d.observe(&all(9, 6)), Verdict::New);
        assert_eq!(d.observe(&all(10, 9)), Verdict::New);
        assert_eq!(d.last_seq(), Some(10));
    }

    #[test]
    fn a_missed_event_is_a_gap_and_is_not_recorded() {
        let mut d = at(5);
        assert_eq!(d.observe(&all(6, 5)), Verdict::New);
        assert_eq!(d.observe(&all(9, 8)), gap(EventStream::All, 8, 9));
        // Not recorded: it is judged the same when it comes again, and the missing event
        // (8, after 6) is new when the replay brings it.
        assert_eq!(d.check(&all(9, 8)), gap(EventStream::All, 8, 9));
        assert_eq!(d.observe(&all(8, 6)), Verdict::New);
        assert_eq!(d.observe(&all(9, 8)), Verdict::New);
        assert_eq!(d.last_seq(), Some(9));
    }

    #[test]
    fn a_hole_in_seq_is_not_a_gap() {
        // Seqs 6–11 went to streams this user does not receive; each stream is whole.
        let mut d = at(5);
        assert_eq!(d.observe(&all(12, 4)), Verdict::New);
        assert_eq!(
            d.observe(&mine(20, 0)),
            Verdict::New,
            "the stream's first event"
        );
        assert_eq!(d.observe(&all(30, 12)), Verdict::New);
        assert_eq!(d.observe(&mine(31, 20)), Verdict::New);
    }

    #[test]
    fn streams_are_chained_separately() {
        let mut d = at(5);
        assert_eq!(d.observe(&all(6, 5)), Verdict::New);
        assert_eq!(d.observe(&mine(8, 0)), Verdict::New);
        // The highest seq received overall (8) does not vouch for another stream's 7.
        assert_eq!(
            d.observe(&all(9, 7)),
            gap(EventStream::All, 7, 9),
            "7 of 'all' is missing though 8 of assignee-2 came"
        );
        assert_eq!(d.observe(&mine(10, 8)), Verdict::New);
        // Recovered by a replay from 6: 7 is new though below 8 and 10, 8 is a duplicate.
        assert_eq!(d.observe(&all(7, 6)), Verdict::New);
        assert_eq!(d.observe(&mine(8, 0)), Verdict::Seen);
        assert_eq!(d.observe(&all(9, 7)), Verdict::New);
    }

    #[test]
    fn the_snapshot_covers_everything_at_or_below_its_seq() {
        let mut d = at(40);
        assert_eq!(
            d.observe(&mine(41, 40)),
            Verdict::New,
            "40 is in the snapshot"
        );
        assert_eq!(d.observe(&all(45, 39)), Verdict::New);
        let mut d = at(40);
        assert_eq!(d.observe(&all(45, 41)), gap(EventStream::All, 41, 45));
    }

    #[test]
    fn a_reset_clears_the_streams() {
        let mut d = at(5);
        assert_eq!(d.observe(&all(6, 5)), Verdict::New);
        assert_eq!(d.observe(&all(9, 8)), gap(EventStream::All, 8, 9));
        // A snapshot at 9 holds 8: the gap is gone, and 9 is in it too.
        d.reset(9);
        assert_eq!(d.observe(&all(9, 8)), Verdict::Seen);
        assert_eq!(d.observe(&all(10, 9)), Verdict::New);
        // A reset to a lower seq (another role's board) forgets what was received above it.
        d.reset(3);
        assert_eq!(d.observe(&all(10, 2)), Verdict::New);
        assert_eq!(d.last_seq(), Some(10));
    }

    #[test]
    fn events_without_a_stream_or_prev_seq_are_not_checked() {
        let mut d = at(5);
        assert_eq!(d.observe(&event(9, None, Some(8))), Verdict::New);
        assert_eq!(
            d.observe(&event(12, Some(EventStream::All), None)),
            Verdict::New
        );
        assert_eq!(d.observe(&event(14, None, None)), Verdict::New);
        // Without a stream, at or below the highest seq received is a duplicate.
        assert_eq!(d.observe(&event(14, None, None)), Verdict::Seen);
        assert_eq!(d.observe(&event(13, None, Some(1))), Verdict::Seen);
        // With a stream and no prevSeq, it still counts as received in that stream.
        assert_eq!(d.observe(&all(13, 12)), Verdict::New);
    }

    #[test]
    fn nothing_is_checked_before_a_snapshot() {
        let mut d = GapDetector::new();
        assert_eq!(d.observe(&all(9, 8)), Verdict::New);
        assert_eq!(d.observe(&all(9, 8)), Verdict::Seen);
        assert_eq!(d.observe(&event(3, None, None)), Verdict::Seen);
    }

    #[test]
    fn duplicates_are_seen_not_gaps() {
        let mut d = at(5);
        assert_eq!(d.observe(&all(6, 5)), Verdict::New);
        assert_eq!(d.observe(&all(8, 6)), Verdict::New);
        assert_eq!(d.observe(&all(8, 6)), Verdict::Seen);
        // A replay overlapping what was received, whatever the prevSeq it carries.
        assert_eq!(d.observe(&all(6, 5)), Verdict::Seen);
        assert_eq!(d.observe(&all(7, 1)), Verdict::Seen, "at or below 8: seen");
        assert_eq!(d.observe(&all(4, 3)), Verdict::Seen, "in the snapshot");
        assert_eq!(d.observe(&mine(5, 4)), Verdict::Seen, "in the snapshot");
        assert_eq!(d.last_seq(), Some(8));
    }

    #[test]
    fn a_prev_seq_that_is_no_chain_is_not_a_gap() {
        let mut d = at(5);
        assert_eq!(d.observe(&all(9, 9)), Verdict::New);
        assert_eq!(d.observe(&all(12, 20)), Verdict::New);
    }
}
