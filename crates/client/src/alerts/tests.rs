use super::*;
use deskbell_protocol::{Comment, Requester, Role, TicketStatus};

const ME: Id = 7;
const OTHER: Id = 8;

fn s(secs: f64) -> Duration {
    Duration::from_secs_f64(secs)
}

fn me() -> User {
    User {
        id: ME,
        company_id: 1,
        name: "Ada".into(),
        email: "ada@example.com".into(),
        role: Role::Agent,
        active: true,
    }
}

fn policy(level: AlertLevel) -> AlertPolicy {
    AlertPolicy::new(
        me(),
        AlertPreferences {
            level,
            do_not_disturb: false,
            ..AlertPreferences::default()
        },
    )
}

fn ticket(id: Id, version: i64, priority: Priority, assignee: Option<Id>) -> Ticket {
    let ts = "2026-11-22T10:00:00Z".parse().unwrap();
    Ticket {
        id,
        company_id: 1,
        title: format!("Ticket {id}"),
        requester: Requester {
            name: "Grace".into(),
            contact: None,
        },
        status: TicketStatus::Open,
        priority,
        assignee_id: assignee,
        creator_id: OTHER,
        lane_id: None,
        last_message: Some("The printer is on fire".into()),
        comment_count: 0,
        created_at: ts,
        updated_at: ts,
        version,
        urgent_since: None,
        urgent_by: None,
        acknowledged_by: None,
        acknowledged_at: None,
    }
}

fn ev(action: EventAction, actor: Id, t: &Ticket) -> EventEnvelope {
    EventEnvelope {
        ticket: Some(t.clone()),
        ..EventEnvelope::new(
            action,
            t.version,
            1,
            actor,
            "2026-11-22T10:00:00Z".parse().unwrap(),
        )
    }
}

/// Feeds `t` as the next state after `before`, at `now`.
fn feed(
    p: &mut AlertPolicy,
    action: EventAction,
    actor: Id,
    before: Option<&Ticket>,
    t: &Ticket,
    now: f64,
) {
    p.observe(Resource::Ticket, &ev(action, actor, t), before, s(now));
}

#[test]
fn urgent_creation_by_someone_else_alerts_after_the_window() {
    let mut p = policy(AlertLevel::UrgentOnly);
    let t = ticket(1, 1, Priority::Urgent, None);
    feed(&mut p, EventAction::Create, OTHER, None, &t, 10.0);
    assert_eq!(p.next_deadline(), Some(s(12.0)));
    assert!(p.poll(s(11.9)).is_empty());
    let alerts = p.poll(s(12.0));
    assert_eq!(alerts.len(), 1);
    let a = &alerts[0];
    assert_eq!(a.kind, AlertKind::Urgent);
    assert_eq!(a.ticket_ids, vec![1]);
    assert_eq!(a.ticket_id(), Some(1));
    assert_eq!(a.title, "Ticket 1");
    assert!(a.body.starts_with("New urgent ticket: Grace"), "{}", a.body);
    assert!(!a.summary);
    assert_eq!(p.unread_urgent(), 1);
    assert!(p.poll(s(20.0)).is_empty());
    assert_eq!(p.next_deadline(), None);
}

#[test]
fn own_actions_and_non_urgent_tickets_do_not_alert() {
    let mut p = policy(AlertLevel::AlsoCommentsOnMine);
    feed(
        &mut p,
        EventAction::Create,
        ME,
        None,
        &ticket(1, 1, Priority::Urgent, None),
        0.0,
    );
    feed(
        &mut p,
        EventAction::Create,
        OTHER,
        None,
        &ticket(2, 1, Priority::High, None),
        0.0,
    );
    let before = ticket(3, 1, Priority::Normal, None);
    feed(
        &mut p,
        EventAction::PriorityChange,
        ME,
        Some(&before),
        &ticket(3, 2, Priority::Urgent, None),
        0.0,
    );
    assert!(p.poll(s(100.0)).is_empty());
    assert_eq!(p.unread_urgent(), 0);
}

#[test]
fn one_alert_per_escalation_and_replays_alert_once() {
    let mut p = policy(AlertLevel::UrgentOnly).with_window(Duration::ZERO);
    let v1 = ticket(1, 1, Priority::Normal, None);
    let v2 = ticket(1, 2, Priority::Urgent, None);
    let v3 = ticket(1, 3, Priority::High, None);
    let v4 = ticket(1, 4, Priority::Urgent, None);
    feed(
        &mut p,
        EventAction::PriorityChange,
        OTHER,
        Some(&v1),
        &v2,
        1.0,
    );
    assert_eq!(p.poll(s(1.0)).len(), 1);
    // The same escalation replayed (reconnect overlap), even with a stale `before`.
    feed(
        &mut p,
        EventAction::PriorityChange,
        OTHER,
        Some(&v1),
        &v2,
        2.0,
    );
    feed(
        &mut p,
        EventAction::PriorityChange,
        OTHER,
        Some(&v2),
        &v2,
        2.0,
    );
    assert!(p.poll(s(2.0)).is_empty());
    // Still urgent, other change: no new alert.
    let mut v2b = ticket(1, 3, Priority::Urgent, None);
    v2b.title = "Renamed".into();
    let mut q = p.clone();
    feed(&mut q, EventAction::Update, OTHER, Some(&v2), &v2b, 3.0);
    assert!(q.poll(s(3.0)).is_empty());
    // urgent → high → urgent: a second escalation, a second alert.
    feed(
        &mut p,
        EventAction::PriorityChange,
        OTHER,
        Some(&v2),
        &v3,
        3.0,
    );
    assert_eq!(p.unread_urgent(), 0, "de-escalated: no longer counted");
    feed(
        &mut p,
        EventAction::PriorityChange,
        OTHER,
        Some(&v3),
        &v4,
        4.0,
    );
    let second = p.poll(s(4.0));
    assert_eq!(second.len(), 1);
    assert!(second[0].body.starts_with("Escalated to urgent"));
    assert_eq!(p.unread_urgent(), 1);
}

#[test]
fn any_update_that_makes_it_urgent_counts_and_appearing_urgent_too() {
    let mut p = policy(AlertLevel::UrgentOnly).with_window(Duration::ZERO);
    let before = ticket(1, 1, Priority::Low, None);
    let mut after = ticket(1, 2, Priority::Urgent, None);
    after.title = "Down".into();
    feed(
        &mut p,
        EventAction::Update,
        OTHER,
        Some(&before),
        &after,
        0.0,
    );
    // Reassigned to me while already urgent: it appears on my board urgent.
    let appeared = ticket(2, 5, Priority::Urgent, Some(ME));
    feed(&mut p, EventAction::Assign, OTHER, None, &appeared, 0.0);
    let alerts = p.poll(s(0.0));
    assert_eq!(alerts.len(), 1, "two in one window: one summary");
    assert!(alerts[0].summary);
    assert_eq!(alerts[0].title, "2 urgent tickets");
    assert_eq!(alerts[0].ticket_ids, vec![1, 2]);
    assert_eq!(p.unread_urgent(), 2);
}

#[test]
fn bursts_are_coalesced_into_one_summary() {
    let mut p = policy(AlertLevel::UrgentOnly);
    for (i, at) in [(1, 0.0), (2, 0.5), (3, 1.9)] {
        feed(
            &mut p,
            EventAction::Create,
            OTHER,
            None,
            &ticket(i, 1, Priority::Urgent, None),
            at,
        );
    }
    assert!(p.poll(s(1.99)).is_empty());
    let alerts = p.poll(s(2.0));
    assert_eq!(alerts.len(), 1);
    let a = &alerts[0];
    assert!(a.summary);
    assert_eq!(a.kind, AlertKind::Urgent);
    assert_eq!(a.title, "3 urgent tickets");
    assert_eq!(a.ticket_ids, vec![1, 2, 3]);
    assert_eq!(a.body, "• Ticket 1\n• Ticket 2\n• Ticket 3");
    // A later alert opens a new window of its own.
    feed(
        &mut p,
        EventAction::Create,
        OTHER,
        None,
        &ticket(4, 1, Priority::Urgent, None),
        2.1,
    );
    assert_eq!(p.next_deadline(), Some(s(4.1)));
    let later = p.poll(s(5.0));
    assert_eq!(later.len(), 1);
    assert!(!later[0].summary);
    assert_eq!(p.unread_urgent(), 4);
}

#[test]
fn long_summaries_are_truncated() {
    let mut p = policy(AlertLevel::UrgentOnly);
    for i in 1..=8 {
        feed(
            &mut p,
            EventAction::Create,
            OTHER,
            None,
            &ticket(i, 1, Priority::Urgent, None),
            0.0,
        );
    }
    let a = p.poll(s(2.0)).remove(0);
    assert_eq!(a.title, "8 urgent tickets");
    assert_eq!(a.body.lines().count(), 6);
    assert!(a.body.ends_with("and 3 more"));
}

#[test]
fn do_not_disturb_mutes_but_counts() {
    let mut p = AlertPolicy::new(
        me(),
        AlertPreferences {
            level: AlertLevel::AlsoCommentsOnMine,
            do_not_disturb: true,
            ..AlertPreferences::default()
        },
    );
    feed(
        &mut p,
        EventAction::Create,
        OTHER,
        None,
        &ticket(1, 1, Priority::Urgent, None),
        0.0,
    );
    feed(
        &mut p,
        EventAction::Create,
        OTHER,
        None,
        &ticket(2, 1, Priority::Urgent, None),
        0.0,
    );
    assert!(p.poll(s(10.0)).is_empty());
    assert_eq!(p.next_deadline(), None);
    assert_eq!(p.unread_urgent(), 2);
    p.mark_read(1);
    assert_eq!(p.unread_urgent(), 1);
    // Turning it off does not deliver what was muted; new alerts flow again.
    p.set_preferences(AlertPreferences {
        level: AlertLevel::UrgentOnly,
        do_not_disturb: false,
        ..AlertPreferences::default()
    });
    assert!(p.poll(s(20.0)).is_empty());
    feed(
        &mut p,
        EventAction::Create,
        OTHER,
        None,
        &ticket(3, 1, Priority::Urgent, None),
        30.0,
    );
    // Switching it on drops the alert still waiting for its window.
    let mut q = p.clone();
    q.set_preferences(AlertPreferences {
        level: AlertLevel::UrgentOnly,
        do_not_disturb: true,
        ..AlertPreferences::default()
    });
    assert!(q.poll(s(40.0)).is_empty());
    assert_eq!(p.poll(s(40.0)).len(), 1);
    assert_eq!(p.unread_urgent(), 2);
    p.mark_all_read();
    assert_eq!(p.unread_urgent(), 0);
}

#[test]
fn unread_drops_tickets_that_go_away() {
    let mut p = policy(AlertLevel::UrgentOnly);
    feed(
        &mut p,
        EventAction::Create,
        OTHER,
        None,
        &ticket(1, 1, Priority::Urgent, None),
        0.0,
    );
    assert_eq!(p.unread_urgent(), 1);
    let delete = EventEnvelope {
        ticket: None,
        ticket_id: Some(1),
        ..ev(
            EventAction::Delete,
            OTHER,
            &ticket(1, 1, Priority::Urgent, None),
        )
    };
    p.observe(Resource::Ticket, &delete, None, s(1.0));
    assert_eq!(p.unread_urgent(), 0);
}

#[test]
fn assigned_to_me_only_at_that_level() {
    let before = ticket(1, 1, Priority::Normal, None);
    let after = ticket(1, 2, Priority::Normal, Some(ME));
    let mut urgent_only = policy(AlertLevel::UrgentOnly).with_window(Duration::ZERO);
    feed(
        &mut urgent_only,
        EventAction::Assign,
        OTHER,
        Some(&before),
        &after,
        0.0,
    );
    assert!(urgent_only.poll(s(0.0)).is_empty());

    for level in [AlertLevel::AlsoAssignedToMe, AlertLevel::AlsoCommentsOnMine] {
        let mut p = policy(level).with_window(Duration::ZERO);
        feed(
            &mut p,
            EventAction::Assign,
            OTHER,
            Some(&before),
            &after,
            0.0,
        );
        let a = p.poll(s(0.0));
        assert_eq!(a.len(), 1, "{level:?}");
        assert_eq!(a[0].kind, AlertKind::AssignedToMe);
        assert!(a[0].body.starts_with("Assigned to you"));
        assert_eq!(p.unread_urgent(), 0);
        // Picking it up myself: no alert.
        let mut q = policy(level).with_window(Duration::ZERO);
        feed(&mut q, EventAction::Assign, ME, Some(&before), &after, 0.0);
        assert!(q.poll(s(0.0)).is_empty());
        // Already mine, another change: no alert.
        let mut v3 = after.clone();
        v3.version = 3;
        v3.status = TicketStatus::Pending;
        feed(
            &mut p,
            EventAction::StatusChange,
            OTHER,
            Some(&after),
            &v3,
            1.0,
        );
        assert!(p.poll(s(1.0)).is_empty());
    }
}

#[test]
fn urgent_and_assigned_in_one_event_is_one_alert() {
    let mut p = policy(AlertLevel::AlsoAssignedToMe).with_window(Duration::ZERO);
    let before = ticket(1, 1, Priority::Normal, None);
    let after = ticket(1, 2, Priority::Urgent, Some(ME));
    feed(
        &mut p,
        EventAction::Update,
        OTHER,
        Some(&before),
        &after,
        0.0,
    );
    let a = p.poll(s(0.0));
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].kind, AlertKind::Urgent);
    assert!(a[0].body.ends_with("assigned to you"));
}

fn comment_event(t: &Ticket, comment_id: Id, author: Id) -> EventEnvelope {
    EventEnvelope {
        comment: Some(Comment {
            id: comment_id,
            ticket_id: t.id,
            author_id: author,
            body: "Any news?".into(),
            created_at: t.updated_at,
        }),
        ..ev(EventAction::Create, author, t)
    }
}

#[test]
fn comments_on_my_tickets_only_at_that_level() {
    let mine_v1 = ticket(1, 1, Priority::Normal, Some(ME));
    let mine_v2 = ticket(1, 2, Priority::Normal, Some(ME));
    let theirs = ticket(2, 2, Priority::Normal, Some(OTHER));

    let mut assigned = policy(AlertLevel::AlsoAssignedToMe).with_window(Duration::ZERO);
    assigned.observe(
        Resource::Comment,
        &comment_event(&mine_v2, 5, OTHER),
        Some(&mine_v1),
        s(0.0),
    );
    assert!(assigned.poll(s(0.0)).is_empty());

    let mut p = policy(AlertLevel::AlsoCommentsOnMine).with_window(Duration::ZERO);
    let e = comment_event(&mine_v2, 5, OTHER);
    p.observe(Resource::Comment, &e, Some(&mine_v1), s(0.0));
    // Replayed: once.
    p.observe(Resource::Comment, &e, Some(&mine_v2), s(0.0));
    let a = p.poll(s(0.0));
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].kind, AlertKind::Comment);
    assert_eq!(a[0].title, "New comment on Ticket 1");
    assert_eq!(a[0].body, "Any news?");
    // My own comment, a comment on someone else's ticket: nothing.
    let mine_v3 = ticket(1, 3, Priority::Normal, Some(ME));
    p.observe(
        Resource::Comment,
        &comment_event(&mine_v3, 6, ME),
        Some(&mine_v2),
        s(1.0),
    );
    p.observe(
        Resource::Comment,
        &comment_event(&theirs, 7, OTHER),
        None,
        s(1.0),
    );
    assert!(p.poll(s(1.0)).is_empty());
}

#[test]
fn mixed_bursts_name_what_they_hold() {
    let mut p = policy(AlertLevel::AlsoCommentsOnMine);
    let mine_v1 = ticket(1, 1, Priority::Normal, Some(ME));
    let mine_v2 = ticket(1, 2, Priority::Normal, Some(ME));
    p.observe(
        Resource::Comment,
        &comment_event(&mine_v2, 5, OTHER),
        Some(&mine_v1),
        s(0.0),
    );
    feed(
        &mut p,
        EventAction::Create,
        OTHER,
        None,
        &ticket(2, 1, Priority::Urgent, None),
        0.5,
    );
    let a = p.poll(s(2.0)).remove(0);
    assert!(a.summary);
    assert_eq!(a.kind, AlertKind::Urgent);
    assert_eq!(a.title, "1 urgent ticket, 1 other update");
    assert_eq!(a.ticket_ids, vec![2, 1], "urgent first");

    let mut q = policy(AlertLevel::AlsoCommentsOnMine);
    let mine_v3 = ticket(1, 3, Priority::Normal, Some(ME));
    q.observe(
        Resource::Comment,
        &comment_event(&mine_v2, 5, OTHER),
        Some(&mine_v1),
        s(0.0),
    );
    q.observe(
        Resource::Comment,
        &comment_event(&mine_v3, 6, OTHER),
        Some(&mine_v2),
        s(0.1),
    );
    let b = q.poll(s(2.0)).remove(0);
    assert_eq!(b.title, "2 ticket updates");
    assert_eq!(b.kind, AlertKind::Comment);
    assert_eq!(b.ticket_ids, vec![1]);
}

#[test]
fn observe_applied_takes_before_from_the_board() {
    use crate::board::Board;
    let mut board = Board::from_snapshot(deskbell_protocol::Board {
        lanes: vec![],
        tickets: vec![ticket(1, 1, Priority::Normal, None)],
        seq: 1,
    });
    let mut p = policy(AlertLevel::UrgentOnly).with_window(Duration::ZERO);
    let mut e = ev(
        EventAction::PriorityChange,
        OTHER,
        &ticket(1, 2, Priority::Urgent, None),
    );
    e.seq = 2;
    for _ in 0..3 {
        let applied = board.apply(Resource::Ticket, &e);
        p.observe_applied(Resource::Ticket, &e, &applied, s(0.0));
    }
    assert_eq!(p.poll(s(0.0)).len(), 1);
    // The board has v2; an older create (v1) replays: no alert.
    let mut fresh = policy(AlertLevel::UrgentOnly).with_window(Duration::ZERO);
    let old = ev(
        EventAction::Create,
        OTHER,
        &ticket(1, 1, Priority::Urgent, None),
    );
    let applied = board.apply(Resource::Ticket, &old);
    fresh.observe_applied(Resource::Ticket, &old, &applied, s(0.0));
    assert!(fresh.poll(s(0.0)).is_empty());
}

#[test]
fn preferences_and_alerts_serialize_in_camel_case() {
    let prefs: AlertPreferences =
        serde_json::from_str(r#"{"level":"alsoCommentsOnMine","doNotDisturb":true}"#).unwrap();
    assert_eq!(prefs.level, AlertLevel::AlsoCommentsOnMine);
    assert!(prefs.do_not_disturb);
    let defaults: AlertPreferences = serde_json::from_str("{}").unwrap();
    assert_eq!(defaults, AlertPreferences::default());
    assert_eq!(
        serde_json::to_value(AlertLevel::AlsoAssignedToMe).unwrap(),
        "alsoAssignedToMe"
    );
    let ev = NotifierEvent::Action {
        ticket_ids: vec![4],
        action: NotificationAction::AssignToMe,
    };
    assert_eq!(
        serde_json::to_value(&ev).unwrap(),
        serde_json::json!({"kind": "action", "ticketIds": [4], "action": "assignToMe"})
    );
}

#[test]
fn recording_notifier_records_and_fails_on_demand() {
    let n = RecordingNotifier::new();
    let alert = Alert::simple(AlertKind::Urgent, vec![1], "t", "b");
    n.notify(&alert).unwrap();
    assert_eq!(n.alerts(), vec![alert.clone()]);
    n.fail_with(Some(NotifyError::Unavailable("no bus".into())));
    let err = n.notify(&alert).unwrap_err();
    assert_eq!(err.code(), "notifications_unavailable");
    n.fail_with(None);
    n.notify(&alert).unwrap();
    assert_eq!(n.take().len(), 2);
    assert!(n.alerts().is_empty());
}
