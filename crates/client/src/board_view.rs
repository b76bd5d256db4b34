//! The board as the UI renders it: per lane, counts plus only the window of cards on screen,
//! filtered and sorted here, so that the web view never holds the whole store (10 000 tickets).
//! The UI asks again ([`board_view`]) whenever the board changed or its query did.
//!
//! Pure and synchronous: no I/O, no clock; it reads a [`Board`] and copies only the tickets it
//! returns.
//!
//! # Rules
//! - A ticket's column is the lane it is *shown* in ([`Board::ticket`]): its latest pending
//!   move's target, and "No lane" for a lane the board lacks. Columns are "No lane" first, then
//!   every lane by position.
//! - Per ticket, in this order: a closed one under `hide_closed` is only counted as hidden (in
//!   its column and on the board); any other counts in its column's `total`, then must pass
//!   every filter — scope, "these tickets" (`only_ids`), priority, search — to be listed.
//!   A column's `count` is every ticket in it, closed included, whatever the filters.
//! - Search: the trimmed, lowercased text matches a ticket whose id it is (`42` or `#42`) or
//!   whose title, requester name, requester contact or last message contains it.
//! - Each column is sorted by its window's [`LaneSort`] (the default for a lane not asked
//!   about); ties always go by id, so the order is total and the same on every ask.
//! - The window is cut from that list: `start` clamped to its length, at most `count` cards.
//!   A window for a lane the board does not have is ignored; for a lane asked twice, the first
//!   counts.
//! - Pinned tickets (those the UI shows outside the lanes) come whatever the filters, in the
//!   order asked, once each, unknown ids left out; each with its index in its column's list
//!   (none when filtered out), so the UI can scroll to it.
//! - [`find_tickets`] (the quick switcher) searches every ticket, whatever the filters.
//! - A query larger than the limits below is refused with [`BoardQueryError`] before any work:
//!   the UI's bugs must not make the core copy the whole board, nor panic it.
//!
//! Cost: one pass over the board (no copy), a sort of each column's references (a full sort:
//! the pinned tickets' indices need the whole order), then clones of the windows' cards only.
//! At 10 000 tickets that is a few milliseconds.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use deskbell_protocol::{Id, Lane, Priority, Ticket, TicketStatus};
use serde::{Deserialize, Serialize};

use crate::board::Board;
use crate::error::{ClientErrorCode, ErrorCode};

/// Cards served for a lane the query has no window for: as many as the UI renders in a lane
/// without a window of its own (`VIRTUALIZE_OVER` in ui/src/lib/stores/board.svelte.ts).
pub const DEFAULT_WINDOW: u32 = 60;
/// At most this many cards per window (more than any screen shows).
pub const MAX_WINDOW_COUNT: u32 = 500;
/// At most this many windows (one per lane, and then some).
pub const MAX_WINDOWS: usize = 1000;
/// At most this many pinned tickets.
pub const MAX_PINNED: usize = 1000;
/// At most this many ids in "these tickets".
pub const MAX_ONLY_IDS: usize = 10_000;
/// At most this many characters of search text (the board's and the quick switcher's).
pub const MAX_SEARCH_CHARS: usize = 1000;
/// At most this many quick-switcher results.
pub const MAX_FIND_LIMIT: u32 = 100;

/// Whose tickets are listed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub enum Scope {
    /// Everyone's.
    #[default]
    All,
    /// Those assigned to the signed-in member.
    Mine,
    /// Those assigned to nobody.
    Queue,
}

/// Which priorities are listed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub enum PriorityFilter {
    #[default]
    Any,
    /// Urgent, not closed, and acknowledged by nobody.
    Unacknowledged,
    Urgent,
    High,
    Normal,
    Low,
}

/// How a lane's cards are ordered; ties always by id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub enum LaneSort {
    /// Urgent first, then the oldest first (a queue).
    #[default]
    Default,
    /// Urgent first, then the most recently updated first.
    Priority,
    /// The most recently updated first.
    Updated,
    /// The oldest first.
    Age,
}

/// Which cards of one lane the UI wants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct LaneWindow {
    /// The lane (`null`: "No lane").
    #[ts(type = "number | null")]
    pub lane_id: Option<Id>,
    #[serde(default)]
    pub sort: LaneSort,
    /// The index of the first card wanted in the lane's filtered, sorted list.
    pub start: u32,
    /// How many cards from there (at most 500).
    pub count: u32,
}

/// What the UI shows: its filters, and which cards of each lane.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase", default)]
pub struct BoardQuery {
    pub scope: Scope,
    pub priority: PriorityFilter,
    /// "These tickets": only these ids are listed (`null`: no such filter).
    #[ts(type = "Array<number> | null")]
    pub only_ids: Option<Vec<Id>>,
    pub hide_closed: bool,
    pub search: String,
    /// Lanes not listed: the default sort, cards `0..40`.
    pub windows: Vec<LaneWindow>,
    /// Tickets the UI shows outside the lanes (the open drawer, the inbox, the lane picker, the
    /// card the keyboard follows).
    #[ts(type = "Array<number>")]
    pub pinned: Vec<Id>,
}

/// The board as the UI renders it, for one [`BoardQuery`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct BoardView {
    /// The board's last seq when this view was made.
    #[ts(type = "number")]
    pub seq: i64,
    /// Lanes by position.
    pub lanes: Vec<Lane>,
    /// "No lane" first, then every lane by position.
    pub columns: Vec<Column>,
    /// Every ticket on the board.
    pub ticket_count: u32,
    /// Closed tickets left out by `hideClosed`, on the whole board.
    pub closed_hidden: u32,
    /// The pinned tickets on the board, in the order asked, once each.
    pub pinned: Vec<PinnedTicket>,
}

/// One lane's counts and window of cards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct Column {
    /// The lane (`null`: "No lane").
    #[ts(type = "number | null")]
    pub lane_id: Option<Id>,
    /// Every ticket in this column, closed included, whatever the filters.
    pub count: u32,
    /// Before the filters; closed tickets left out under `hideClosed`.
    pub total: u32,
    /// Closed tickets left out by `hideClosed` (0 without it).
    pub closed_hidden: u32,
    /// After every filter: the length of the list the window is cut from.
    pub shown: u32,
    /// The window's start, clamped to `shown`: the index of `tickets[0]`.
    pub start: u32,
    /// The window's cards, in order.
    pub tickets: Vec<Ticket>,
}

/// A ticket the UI shows outside the lanes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct PinnedTicket {
    /// As shown (its pending move applied; never in a lane the board lacks).
    pub ticket: Ticket,
    /// Its index in its column's filtered, sorted list; `null` when the filters leave it out.
    pub index: Option<u32>,
}

/// A query the core refuses to serve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BoardQueryError {
    #[error("{field} is {got}, at most {max} allowed")]
    TooLarge {
        /// The field as the UI names it (`windows[2].count`, `search`…).
        field: String,
        got: usize,
        max: usize,
    },
    #[error("limit is {got}, it must be between 1 and {max}")]
    LimitOutOfRange { got: u32, max: u32 },
}

impl BoardQueryError {
    /// A stable, machine-readable code.
    pub fn code(&self) -> ErrorCode {
        ClientErrorCode::InvalidQuery.into()
    }
}

fn at_most(field: impl Into<String>, got: usize, max: usize) -> Result<(), BoardQueryError> {
    if got > max {
        return Err(BoardQueryError::TooLarge {
            field: field.into(),
            got,
            max,
        });
    }
    Ok(())
}

impl BoardQuery {
    /// Refuses a query over the limits (see the module doc).
    pub fn check(&self) -> Result<(), BoardQueryError> {
        at_most("windows (entries)", self.windows.len(), MAX_WINDOWS)?;
        for (i, w) in self.windows.iter().enumerate() {
            at_most(
                format!("windows[{i}].count"),
                w.count as usize,
                MAX_WINDOW_COUNT as usize,
            )?;
        }
        at_most("pinned (entries)", self.pinned.len(), MAX_PINNED)?;
        if let Some(only) = &self.only_ids {
            at_most("onlyIds (entries)", only.len(), MAX_ONLY_IDS)?;
        }
        at_most(
            "search (characters)",
            self.search.chars().count(),
            MAX_SEARCH_CHARS,
        )
    }
}

/// Saturates instead of wrapping: counts never reach `u32::MAX`, but a bad count is better
/// than a panic.
fn count32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Urgent first.
fn rank(priority: Priority) -> u8 {
    match priority {
        Priority::Urgent => 0,
        Priority::High => 1,
        Priority::Normal => 2,
        Priority::Low => 3,
    }
}

/// `sort`'s order of two tickets; ties by id, so the order is total.
fn compare(sort: LaneSort, a: &Ticket, b: &Ticket) -> Ordering {
    let first = match sort {
        LaneSort::Default => rank(a.priority)
            .cmp(&rank(b.priority))
            .then(a.created_at.cmp(&b.created_at)),
        LaneSort::Priority => rank(a.priority)
            .cmp(&rank(b.priority))
            .then(b.updated_at.cmp(&a.updated_at)),
        LaneSort::Updated => b.updated_at.cmp(&a.updated_at),
        LaneSort::Age => a.created_at.cmp(&b.created_at),
    };
    first.then(a.id.cmp(&b.id))
}

/// The id a search text names: `42` or `#42` (digits only).
fn id_in(q: &str) -> Option<Id> {
    let digits = q.strip_prefix('#').unwrap_or(q);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Too many digits for an id: no ticket has it.
    digits.parse().ok()
}

/// The filters of a query, ready to test tickets with.
struct Filters {
    me: Id,
    scope: Scope,
    priority: PriorityFilter,
    only: Option<HashSet<Id>>,
    /// Lowercased and trimmed; empty: no search.
    search: String,
    search_id: Option<Id>,
}

impl Filters {
    fn new(me: Id, query: &BoardQuery) -> Filters {
        let search = query.search.trim().to_lowercase();
        Filters {
            me,
            scope: query.scope,
            priority: query.priority,
            only: query
                .only_ids
                .as_ref()
                .map(|ids| ids.iter().copied().collect()),
            search_id: id_in(&search),
            search,
        }
    }

    fn pass(&self, t: &Ticket) -> bool {
        let scoped = match self.scope {
            Scope::All => true,
            Scope::Mine => t.assignee_id == Some(self.me),
            Scope::Queue => t.assignee_id.is_none(),
        };
        let wanted = self.only.as_ref().is_none_or(|only| only.contains(&t.id));
        let priority = match self.priority {
            PriorityFilter::Any => true,
            PriorityFilter::Unacknowledged => t.awaits_acknowledgement(),
            PriorityFilter::Urgent => t.priority == Priority::Urgent,
            PriorityFilter::High => t.priority == Priority::High,
            PriorityFilter::Normal => t.priority == Priority::Normal,
            PriorityFilter::Low => t.priority == Priority::Low,
        };
        scoped && wanted && priority && self.found(t)
    }

    fn found(&self, t: &Ticket) -> bool {
        let q = self.search.as_str();
        if q.is_empty() || self.search_id == Some(t.id) {
            return true;
        }
        let has = |text: &str| text.to_lowercase().contains(q);
        has(&t.title)
            || has(&t.requester.name)
            || t.requester.contact.as_deref().is_some_and(has)
            || t.last_message.as_deref().is_some_and(has)
    }
}

/// One column while the view is made: counts and the references to its listed tickets.
struct Building<'a> {
    lane_id: Option<Id>,
    count: usize,
    total: usize,
    closed_hidden: usize,
    list: Vec<&'a Ticket>,
}

/// The board as the UI renders it for `query`, `me` being the signed-in member (scope "mine").
pub fn board_view(board: &Board, me: Id, query: &BoardQuery) -> Result<BoardView, BoardQueryError> {
    query.check()?;
    let filters = Filters::new(me, query);
    let lanes = board.lanes();
    let mut columns: Vec<Building> = std::iter::once(None)
        .chain(lanes.iter().map(|l| Some(l.id)))
        .map(|lane_id| Building {
            lane_id,
            count: 0,
            total: 0,
            closed_hidden: 0,
            list: Vec::new(),
        })
        .collect();
    let column_of: HashMap<Id, usize> = lanes
        .iter()
        .enumerate()
        .map(|(i, l)| (l.id, i + 1))
        .collect();

    let mut ticket_count = 0usize;
    let mut closed_hidden = 0usize;
    for (ticket, lane) in board.shown_tickets() {
        ticket_count += 1;
        // `shown_tickets` never names a lane the board lacks; "No lane" if it ever did.
        let col = &mut columns[lane.and_then(|l| column_of.get(&l).copied()).unwrap_or(0)];
        col.count += 1;
        if query.hide_closed && ticket.status == TicketStatus::Closed {
            col.closed_hidden += 1;
            closed_hidden += 1;
            continue;
        }
        col.total += 1;
        if filters.pass(ticket) {
            col.list.push(ticket);
        }
    }

    // The first window asked for each lane the board has.
    let mut windows: HashMap<Option<Id>, &LaneWindow> = HashMap::new();
    for w in &query.windows {
        if w.lane_id.is_none_or(|l| column_of.contains_key(&l)) {
            windows.entry(w.lane_id).or_insert(w);
        }
    }

    let pinned_ids: HashSet<Id> = query.pinned.iter().copied().collect();
    let mut pinned_index: HashMap<Id, u32> = HashMap::new();
    let columns = columns
        .into_iter()
        .map(|mut col| {
            let (sort, start, count) = match windows.get(&col.lane_id) {
                Some(w) => (w.sort, w.start, w.count),
                None => (LaneSort::Default, 0, DEFAULT_WINDOW),
            };
            col.list.sort_unstable_by(|a, b| compare(sort, a, b));
            if !pinned_ids.is_empty() {
                for (i, t) in col.list.iter().enumerate() {
                    if pinned_ids.contains(&t.id) {
                        pinned_index.insert(t.id, count32(i));
                    }
                }
            }
            let shown = col.list.len();
            let from = (start as usize).min(shown);
            let to = from.saturating_add(count as usize).min(shown);
            let tickets = col.list[from..to]
                .iter()
                .map(|&t| {
                    let mut t = t.clone();
                    t.lane_id = col.lane_id;
                    t
                })
                .collect();
            Column {
                lane_id: col.lane_id,
                count: count32(col.count),
                total: count32(col.total),
                closed_hidden: count32(col.closed_hidden),
                shown: count32(shown),
                start: count32(from),
                tickets,
            }
        })
        .collect();

    let mut seen = HashSet::new();
    let pinned = query
        .pinned
        .iter()
        .filter(|&&id| seen.insert(id))
        .filter_map(|&id| {
            board.ticket(id).map(|ticket| PinnedTicket {
                ticket,
                index: pinned_index.get(&id).copied(),
            })
        })
        .collect();

    Ok(BoardView {
        seq: board.last_seq(),
        lanes,
        columns,
        ticket_count: count32(ticket_count),
        closed_hidden: count32(closed_hidden),
        pinned,
    })
}

/// The quick switcher: tickets whose number or title matches `text`, best first, at most
/// `limit`; every ticket on the board whatever the filters, as shown.
///
/// The number itself first, then ids starting with it, then titles starting with the first
/// word and containing every other, then titles containing every word; within each, the most
/// recently updated first, then by id.
pub fn find_tickets(board: &Board, text: &str, limit: u32) -> Result<Vec<Ticket>, BoardQueryError> {
    if !(1..=MAX_FIND_LIMIT).contains(&limit) {
        return Err(BoardQueryError::LimitOutOfRange {
            got: limit,
            max: MAX_FIND_LIMIT,
        });
    }
    at_most("text (characters)", text.chars().count(), MAX_SEARCH_CHARS)?;
    let q = text.trim().to_lowercase();
    if q.is_empty() {
        return Ok(Vec::new());
    }
    let num = id_in(&q);
    let num_text = num.map(|n| n.to_string());
    let words: Vec<&str> = q
        .strip_prefix('#')
        .unwrap_or(&q)
        .split_whitespace()
        .collect();

    let mut scored: Vec<(u8, &Ticket, Option<Id>)> = Vec::new();
    for (ticket, lane) in board.shown_tickets() {
        let score = if num == Some(ticket.id) {
            0
        } else if num_text
            .as_deref()
            .is_some_and(|n| ticket.id.to_string().starts_with(n))
        {
            1
        } else {
            let title = ticket.title.to_lowercase();
            if !words.iter().all(|w| title.contains(w)) {
                continue;
            }
            if words.first().is_some_and(|w| title.starts_with(w)) {
                2
            } else {
                3
            }
        };
        scored.push((score, ticket, lane));
    }
    scored.sort_unstable_by(|(sa, a, _), (sb, b, _)| {
        sa.cmp(sb)
            .then(b.updated_at.cmp(&a.updated_at))
            .then(a.id.cmp(&b.id))
    });
    Ok(scored
        .into_iter()
        .take(limit as usize)
        .map(|(_, ticket, lane)| {
            let mut ticket = ticket.clone();
            ticket.lane_id = lane;
            ticket
        })
        .collect())
}

#[cfg(test)]
mod tests;
