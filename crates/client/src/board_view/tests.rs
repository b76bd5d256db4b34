use super::*;
use crate::test_fixtures::lane;
use deskbell_protocol::{Requester, Timestamp};

const ME: Id = 7;

fn at(minute: u32) -> Timestamp {
    format!("2026-11-22T10:{minute:02}:00Z").parse().unwrap()
}

/// A ticket as `test_fixtures` makes it, at version 1.
fn ticket(id: Id, lane_id: Option<Id>) -> Ticket {
    crate::test_fixtures::ticket(id, 1, lane_id)
}

fn board(lanes: Vec<Lane>, tickets: Vec<Ticket>) -> Board {
    Board::from_snapshot(deskbell_protocol::Board {
        lanes,
        tickets,
        seq: 12,
    })
}

fn view(board: &Board, query: &BoardQuery) -> BoardView {
    board_view(board, ME, query).expect("a valid query")
}

/// The ids listed in the column of `lane` (the window served).
fn ids(view: &BoardView, lane: Option<Id>) -> Vec<Id> {
    column(view, lane).tickets.iter().map(|t| t.id).collect()
}

/// A column's `(count, total, closed_hidden, shown)`.
fn counts(c: &Column) -> (u32, u32, u32, u32) {
    (c.count, c.total, c.closed_hidden, c.shown)
}

fn column(view: &BoardView, lane: Option<Id>) -> &Column {
    view.columns
        .iter()
        .find(|c| c.lane_id == lane)
        .unwrap_or_else(|| panic!("no column for {lane:?}"))
}

/// Ids of every ticket the filters list, column by column ("No lane" first).
fn listed(view: &BoardView) -> Vec<Id> {
    view.columns
        .iter()
        .flat_map(|c| c.tickets.iter().map(|t| t.id))
        .collect()
}

#[test]
fn columns_are_no_lane_then_lanes_by_position_with_the_default_order() {
    let mut urgent = ticket(4, Some(20));
    urgent.priority = Priority::Urgent;
    urgent.created_at = at(30);
    let mut older = ticket(3, Some(20));
    older.created_at = at(1);
    let mut low = ticket(2, Some(20));
    low.priority = Priority::Low;
    low.created_at = at(0);
    let b = board(
        vec![lane(10, 2), lane(20, 1)],
        vec![ticket(1, None), low, older, urgent, ticket(5, Some(10))],
    );
    let v = view(&b, &BoardQuery::default());
    assert_eq!(v.seq, 12);
    assert_eq!(v.ticket_count, 5);
    assert_eq!(v.lanes.iter().map(|l| l.id).collect::<Vec<_>>(), [20, 10]);
    assert_eq!(
        v.columns.iter().map(|c| c.lane_id).collect::<Vec<_>>(),
        [None, Some(20), Some(10)]
    );
    // Urgent first, then the oldest first; low last whatever its age.
    assert_eq!(ids(&v, Some(20)), [4, 3, 2]);
    assert_eq!(ids(&v, None), [1]);
    assert_eq!(ids(&v, Some(10)), [5]);
    let c = column(&v, Some(20));
    assert_eq!(
        (c.count, c.total, c.shown, c.start, c.closed_hidden),
        (3, 3, 3, 0, 0)
    );
    assert!(c.tickets.iter().all(|t| t.lane_id == Some(20)));
}

#[test]
fn a_ticket_in_a_lane_the_board_lacks_is_in_no_lane() {
    let b = board(
        vec![lane(10, 1)],
        vec![ticket(1, Some(99)), ticket(2, Some(10))],
    );
    let v = view(&b, &BoardQuery::default());
    assert_eq!(ids(&v, None), [1]);
    assert_eq!(
        column(&v, None).tickets[0].lane_id,
        None,
        "shown without its lost lane"
    );
    assert_eq!(ids(&v, Some(10)), [2]);
    assert_eq!(v.columns.len(), 2, "no column for the unknown lane");
}

#[test]
fn a_pending_move_shows_the_ticket_in_its_target_column() {
    let mut b = board(
        vec![lane(10, 1), lane(20, 2)],
        vec![ticket(1, Some(10)), ticket(2, Some(10))],
    );
    b.begin_move(1, Some(20)).unwrap();
    let v = view(&b, &BoardQuery::default());
    assert_eq!(ids(&v, Some(10)), [2]);
    assert_eq!(ids(&v, Some(20)), [1]);
    assert_eq!(column(&v, Some(20)).tickets[0].lane_id, Some(20));
    assert_eq!(column(&v, Some(10)).count, 1);
    // The latest move wins.
    b.begin_move(1, None).unwrap();
    let v = view(&b, &BoardQuery::default());
    assert_eq!(ids(&v, None), [1]);
    assert!(ids(&v, Some(20)).is_empty());
}

#[test]
fn hide_closed_counts_what_it_hides_per_column_and_on_the_board() {
    let mut closed_a = ticket(1, Some(10));
    closed_a.status = TicketStatus::Closed;
    let mut closed_b = ticket(2, None);
    closed_b.status = TicketStatus::Closed;
    let mut closed_c = ticket(3, Some(10));
    closed_c.status = TicketStatus::Closed;
    closed_c.assignee_id = Some(ME);
    let b = board(
        vec![lane(10, 1)],
        vec![
            closed_a,
            closed_b,
            closed_c,
            ticket(4, Some(10)),
            ticket(5, None),
        ],
    );
    let v = view(
        &b,
        &BoardQuery {
            hide_closed: true,
            ..BoardQuery::default()
        },
    );
    assert_eq!(v.closed_hidden, 3);
    assert_eq!(v.ticket_count, 5);
    assert_eq!(counts(column(&v, Some(10))), (3, 1, 2, 1));
    assert_eq!(ids(&v, Some(10)), [4]);
    assert_eq!(counts(column(&v, None)), (2, 1, 1, 1));

    // Closed hidden before any filter: "mine" does not count the closed one in `total`.
    let v = view(
        &b,
        &BoardQuery {
            hide_closed: true,
            scope: Scope::Mine,
            ..BoardQuery::default()
        },
    );
    assert_eq!(counts(column(&v, Some(10))), (3, 1, 2, 0));

    // Without hide_closed, closed tickets are listed and nothing counts as hidden.
    let v = view(&b, &BoardQuery::default());
    assert_eq!(v.closed_hidden, 0);
    assert_eq!(counts(column(&v, Some(10))), (3, 3, 0, 3));
}

#[test]
fn scope_mine_and_queue_filter_by_assignee_and_keep_the_totals() {
    let mut mine = ticket(1, None);
    mine.assignee_id = Some(ME);
    let mut theirs = ticket(2, None);
    theirs.assignee_id = Some(ME + 1);
    let b = board(vec![], vec![mine, theirs, ticket(3, None)]);
    let scoped = |scope| {
        view(
            &b,
            &BoardQuery {
                scope,
                ..BoardQuery::default()
            },
        )
    };
    assert_eq!(listed(&scoped(Scope::All)), [1, 2, 3]);
    assert_eq!(listed(&scoped(Scope::Mine)), [1]);
    assert_eq!(listed(&scoped(Scope::Queue)), [3]);
    let none = scoped(Scope::Queue);
    let c = column(&none, None);
    assert_eq!((c.count, c.total, c.shown), (3, 3, 1));
}

#[test]
fn only_ids_lists_only_those_tickets() {
    let b = board(vec![], (1..=5).map(|id| ticket(id, None)).collect());
    let v = view(
        &b,
        &BoardQuery {
            only_ids: Some(vec![4, 2, 99]),
            ..BoardQuery::default()
        },
    );
    assert_eq!(listed(&v), [2, 4]);
    assert_eq!(column(&v, None).total, 5);
    let v = view(
        &b,
        &BoardQuery {
            only_ids: Some(vec![]),
            ..BoardQuery::default()
        },
    );
    assert!(listed(&v).is_empty(), "an empty set lists nothing");
}

#[test]
fn priority_filters_match_the_priority_or_awaiting_acknowledgement() {
    let with = |id, priority| {
        let mut t = ticket(id, None);
        t.priority = priority;
        t
    };
    let mut acked = with(2, Priority::Urgent);
    acked.acknowledged_at = Some(at(5));
    acked.acknowledged_by = Some(3);
    let mut closed_urgent = with(3, Priority::Urgent);
    closed_urgent.status = TicketStatus::Closed;
    let b = board(
        vec![],
        vec![
            with(1, Priority::Urgent),
            acked,
            closed_urgent,
            with(4, Priority::High),
            with(5, Priority::Normal),
            with(6, Priority::Low),
        ],
    );
    let filtered = |priority| {
        let mut ids = listed(&view(
            &b,
            &BoardQuery {
                priority,
                ..BoardQuery::default()
            },
        ));
        ids.sort_unstable();
        ids
    };
    assert_eq!(filtered(PriorityFilter::Any), [1, 2, 3, 4, 5, 6]);
    assert_eq!(filtered(PriorityFilter::Unacknowledged), [1]);
    assert_eq!(filtered(PriorityFilter::Urgent), [1, 2, 3]);
    assert_eq!(filtered(PriorityFilter::High), [4]);
    assert_eq!(filtered(PriorityFilter::Normal), [5]);
    assert_eq!(filtered(PriorityFilter::Low), [6]);
}

#[test]
fn search_matches_id_title_requester_and_last_message() {
    let mut printer = ticket(1, None);
    printer.title = "Printer on FIRE".into();
    let mut contact = ticket(2, None);
    contact.requester = Requester {
        name: "Ada Lovelace".into(),
        contact: Some("ada@Example.test".into()),
    };
    let mut message = ticket(3, None);
    message.last_message = Some("The VPN drops every hour".into());
    let b = board(vec![], vec![printer, contact, message, ticket(42, None)]);
    let search = |text: &str| {
        listed(&view(
            &b,
            &BoardQuery {
                search: text.into(),
                ..BoardQuery::default()
            },
        ))
    };
    assert_eq!(
        search("  fire "),
        [1],
        "title, trimmed and case-insensitive"
    );
    assert_eq!(search("lovelace"), [2], "requester name");
    assert_eq!(search("EXAMPLE.test"), [2], "requester contact");
    assert_eq!(search("vpn"), [3], "last message");
    assert_eq!(search("42"), [42], "the id ('Ticket 42' too)");
    assert_eq!(search("#42"), [42], "#id");
    assert_eq!(
        search("#1"),
        [1],
        "#id matches the id only, not 'Ticket 1…' titles"
    );
    assert_eq!(search("2"), [2, 42], "an id, and titles containing it");
    assert_eq!(search("nothing like it").len(), 0);
    assert_eq!(search("   ").len(), 4, "blank: no search");
    let c = view(
        &b,
        &BoardQuery {
            search: "vpn".into(),
            ..BoardQuery::default()
        },
    );
    assert_eq!((column(&c, None).total, column(&c, None).shown), (4, 1));
}

/// Tickets for the sort tests: (id, priority, created minute, updated minute).
fn sortable() -> Board {
    let rows = [
        (1, Priority::Normal, 5, 50),
        (2, Priority::Urgent, 9, 10),
        (3, Priority::Normal, 5, 50), // ties with 1 on everything but the id
        (4, Priority::Low, 1, 59),
        (5, Priority::Urgent, 2, 40),
        (6, Priority::High, 7, 10),
    ];
    board(
        vec![lane(10, 1)],
        rows.iter()
            .map(|&(id, priority, created, updated)| {
                let mut t = ticket(id, Some(10));
                t.priority = priority;
                t.created_at = at(created);
                t.updated_at = at(updated);
                t
            })
            .collect(),
    )
}

fn sorted(b: &Board, sort: LaneSort) -> Vec<Id> {
    let v = view(
        b,
        &BoardQuery {
            windows: vec![LaneWindow {
                lane_id: Some(10),
                sort,
                start: 0,
                count: 100,
            }],
            ..BoardQuery::default()
        },
    );
    ids(&v, Some(10))
}

#[test]
fn each_sort_orders_the_lane_and_breaks_ties_by_id() {
    let b = sortable();
    // Rank, then the oldest first.
    assert_eq!(sorted(&b, LaneSort::Default), [5, 2, 6, 1, 3, 4]);
    // Rank, then the most recently updated first.
    assert_eq!(sorted(&b, LaneSort::Priority), [5, 2, 6, 1, 3, 4]);
    // The most recently updated first.
    assert_eq!(sorted(&b, LaneSort::Updated), [4, 1, 3, 5, 2, 6]);
    // The oldest first.
    assert_eq!(sorted(&b, LaneSort::Age), [4, 5, 1, 3, 6, 2]);
}

#[test]
fn priority_sort_differs_from_default_within_a_rank() {
    let mut old_stale = ticket(1, Some(10));
    old_stale.created_at = at(1);
    old_stale.updated_at = at(2);
    let mut new_fresh = ticket(2, Some(10));
    new_fresh.created_at = at(3);
    new_fresh.updated_at = at(30);
    let b = board(vec![lane(10, 1)], vec![old_stale, new_fresh]);
    assert_eq!(sorted(&b, LaneSort::Default), [1, 2]);
    assert_eq!(sorted(&b, LaneSort::Priority), [2, 1]);
}

#[test]
fn windows_cut_the_sorted_list_and_clamp() {
    let b = board(
        vec![lane(10, 1), lane(20, 2)],
        (1..=100)
            .map(|id| ticket(id, Some(10)))
            .chain((101..=103).map(|id| ticket(id, Some(20))))
            .collect(),
    );
    let window = |lane_id, start, count| LaneWindow {
        lane_id,
        sort: LaneSort::Default,
        start,
        count,
    };
    let v = view(
        &b,
        &BoardQuery {
            windows: vec![window(Some(10), 95, 10), window(Some(20), 7, 5)],
            ..BoardQuery::default()
        },
    );
    let c = column(&v, Some(10));
    assert_eq!((c.shown, c.start), (100, 95));
    assert_eq!(ids(&v, Some(10)), [96, 97, 98, 99, 100], "cut at the end");
    let c = column(&v, Some(20));
    assert_eq!(
        (c.shown, c.start),
        (3, 3),
        "a start beyond the list is clamped"
    );
    assert!(c.tickets.is_empty());

    let v = view(
        &b,
        &BoardQuery {
            windows: vec![window(Some(10), 5, 0), window(Some(10), 0, 3)],
            ..BoardQuery::default()
        },
    );
    let c = column(&v, Some(10));
    assert_eq!(
        (c.shown, c.start, c.tickets.len()),
        (100, 5, 0),
        "count 0; the first window counts"
    );

    // Lanes not asked about: the default window from the first card.
    let v = view(&b, &BoardQuery::default());
    assert_eq!(
        ids(&v, Some(10)),
        (1..=i64::from(DEFAULT_WINDOW)).collect::<Vec<_>>()
    );
    assert_eq!(ids(&v, Some(20)), [101, 102, 103]);

    // A window for a lane the board lacks is ignored; "No lane" can be asked for.
    let v = view(
        &b,
        &BoardQuery {
            windows: vec![
                LaneWindow {
                    lane_id: Some(99),
                    sort: LaneSort::Updated,
                    start: 1,
                    count: 1,
                },
                window(None, 0, 1),
            ],
            ..BoardQuery::default()
        },
    );
    assert_eq!(v.columns.len(), 3);
    assert_eq!(column(&v, None).shown, 0);
    assert_eq!(ids(&v, Some(10)).len(), DEFAULT_WINDOW as usize);

    // u32::MAX start and count: clamped, not overflowed.
    let v = view(
        &b,
        &BoardQuery {
            windows: vec![window(Some(10), u32::MAX, MAX_WINDOW_COUNT)],
            ..BoardQuery::default()
        },
    );
    assert_eq!(column(&v, Some(10)).start, 100);
}

#[test]
fn pinned_tickets_come_in_order_once_with_their_index() {
    let mut closed = ticket(5, Some(10));
    closed.status = TicketStatus::Closed;
    let mut b = board(
        vec![lane(10, 1), lane(20, 2)],
        vec![
            ticket(1, Some(10)),
            ticket(2, Some(10)),
            ticket(3, Some(10)),
            ticket(4, Some(20)),
            closed,
        ],
    );
    b.begin_move(4, Some(10)).unwrap();
    let v = view(
        &b,
        &BoardQuery {
            hide_closed: true,
            search: "ticket".into(),
            windows: vec![LaneWindow {
                lane_id: Some(10),
                sort: LaneSort::Age,
                start: 0,
                count: 1,
            }],
            pinned: vec![3, 99, 5, 4, 3],
            ..BoardQuery::default()
        },
    );
    let got: Vec<(Id, Option<Id>, Option<u32>)> = v
        .pinned
        .iter()
        .map(|p| (p.ticket.id, p.ticket.lane_id, p.index))
        .collect();
    // Index in lane 10's list [1, 2, 3, 4] (4 moved there), whatever the window; the closed
    // one is filtered out; 99 is not on the board; 3 once.
    assert_eq!(
        got,
        [
            (3, Some(10), Some(2)),
            (5, Some(10), None),
            (4, Some(10), Some(3))
        ]
    );
    assert_eq!(ids(&v, Some(10)), [1], "the window is not widened by pins");

    // A pinned ticket the filters leave out still comes, without an index.
    let v = view(
        &b,
        &BoardQuery {
            search: "nothing".into(),
            pinned: vec![2],
            ..BoardQuery::default()
        },
    );
    assert_eq!(v.pinned.len(), 1);
    assert_eq!((v.pinned[0].ticket.id, v.pinned[0].index), (2, None));
}

#[test]
fn each_limit_is_refused_with_a_clear_error() {
    let b = board(vec![], vec![ticket(1, None)]);
    let window = |count| LaneWindow {
        lane_id: None,
        sort: LaneSort::Default,
        start: 0,
        count,
    };
    let refused = |query: BoardQuery, field: &str| {
        let err = board_view(&b, ME, &query).expect_err(field);
        assert_eq!(err.code(), "invalid_query");
        assert!(err.to_string().contains(field), "{err} names {field}");
    };
    refused(
        BoardQuery {
            windows: vec![window(1), window(MAX_WINDOW_COUNT + 1)],
            ..BoardQuery::default()
        },
        "windows[1].count",
    );
    refused(
        BoardQuery {
            windows: vec![window(1); MAX_WINDOWS + 1],
            ..BoardQuery::default()
        },
        "windows",
    );
    refused(
        BoardQuery {
            pinned: vec![1; MAX_PINNED + 1],
            ..BoardQuery::default()
        },
        "pinned",
    );
    refused(
        BoardQuery {
            only_ids: Some(vec![1; MAX_ONLY_IDS + 1]),
            ..BoardQuery::default()
        },
        "onlyIds",
    );
    refused(
        BoardQuery {
            search: "é".repeat(MAX_SEARCH_CHARS + 1),
            ..BoardQuery::default()
        },
        "search",
    );
    // At the limits: served.
    let at_limits = BoardQuery {
        windows: vec![window(MAX_WINDOW_COUNT); MAX_WINDOWS],
        pinned: vec![1; MAX_PINNED],
        only_ids: Some(vec![1; MAX_ONLY_IDS]),
        search: "é".repeat(MAX_SEARCH_CHARS),
        ..BoardQuery::default()
    };
    assert!(board_view(&b, ME, &at_limits).is_ok());

    for limit in [0, MAX_FIND_LIMIT + 1] {
        let err = find_tickets(&b, "1", limit).expect_err("limit");
        assert_eq!(err.code(), "invalid_query");
        assert!(err.to_string().contains("limit"), "{err}");
    }
    let err = find_tickets(&b, &"x".repeat(MAX_SEARCH_CHARS + 1), 10).expect_err("text");
    assert!(err.to_string().contains("text"), "{err}");
    assert!(find_tickets(&b, &"x".repeat(MAX_SEARCH_CHARS), MAX_FIND_LIMIT).is_ok());
}

fn switcher_board() -> Board {
    let titled = |id, title: &str, updated| {
        let mut t = ticket(id, Some(10));
        t.title = title.into();
        t.updated_at = at(updated);
        t
    };
    let mut b = board(
        vec![lane(10, 1), lane(20, 2)],
        vec![
            titled(12, "Printer jam", 1),
            titled(120, "VPN printer settings", 5),
            titled(121, "printer toner", 2),
            titled(7, "Printer jam again", 9),
            titled(1212, "Login loop", 3),
            titled(3, "Mail", 4),
        ],
    );
    b.begin_move(121, Some(20)).unwrap();
    b
}

fn found(b: &Board, text: &str, limit: u32) -> Vec<Id> {
    find_tickets(b, text, limit)
        .unwrap()
        .iter()
        .map(|t| t.id)
        .collect()
}

#[test]
fn find_tickets_scores_the_number_then_ids_then_titles() {
    let b = switcher_board();
    // The number, then ids starting with it (newest first), then titles containing "12": none.
    assert_eq!(found(&b, "12", 10), [12, 120, 1212, 121]);
    assert_eq!(found(&b, " #12 ", 10), [12, 120, 1212, 121]);
    // Titles starting with the first word (newest first), then containing every word.
    assert_eq!(found(&b, "Printer", 10), [7, 121, 12, 120]);
    assert_eq!(found(&b, "jam printer", 10), [7, 12]);
    assert_eq!(found(&b, "printer jam", 10), [7, 12]);
    assert_eq!(found(&b, "toner  PRINTER", 10), [121]);
    assert!(found(&b, "fax", 10).is_empty());
    assert!(found(&b, "   ", 10).is_empty());
    // At most `limit`, the best ones.
    assert_eq!(found(&b, "printer", 2), [7, 121]);
    // As shown: the pending move applied.
    let hit = find_tickets(&b, "toner", 1).unwrap();
    assert_eq!(hit[0].lane_id, Some(20));
}

#[test]
fn find_tickets_ties_go_to_the_newest_then_the_lowest_id() {
    let same = |id| {
        let mut t = ticket(id, None);
        t.title = "Same".into();
        t.updated_at = at(1);
        t
    };
    let mut newer = same(9);
    newer.updated_at = at(2);
    let b = board(vec![], vec![same(5), same(2), newer]);
    assert_eq!(found(&b, "same", 10), [9, 2, 5]);
}

#[test]
fn the_query_reads_from_the_uis_json_with_defaults() {
    let q: BoardQuery = serde_json::from_value(serde_json::json!({
        "scope": "queue",
        "priority": "unacknowledged",
        "onlyIds": [1, 2],
        "hideClosed": true,
        "windows": [{ "laneId": null, "start": 3, "count": 4 }, { "laneId": 5, "sort": "age", "start": 0, "count": 1 }],
    }))
    .unwrap();
    assert_eq!(q.scope, Scope::Queue);
    assert_eq!(q.priority, PriorityFilter::Unacknowledged);
    assert_eq!(q.only_ids, Some(vec![1, 2]));
    assert!(q.hide_closed);
    assert_eq!(q.search, "");
    assert!(q.pinned.is_empty());
    assert_eq!(q.windows[0].sort, LaneSort::Default);
    assert_eq!(q.windows[1].sort, LaneSort::Age);
    assert_eq!(
        serde_json::from_value::<BoardQuery>(serde_json::json!({})).unwrap(),
        BoardQuery::default()
    );

    let b = board(vec![lane(10, 1)], vec![ticket(1, Some(10))]);
    let json = serde_json::to_value(view(&b, &BoardQuery::default())).unwrap();
    assert_eq!(json["ticketCount"], 1);
    assert_eq!(json["closedHidden"], 0);
    assert_eq!(json["columns"][1]["laneId"], 10);
    assert_eq!(json["columns"][1]["closedHidden"], 0);
    assert_eq!(json["columns"][1]["tickets"][0]["id"], 1);
}
