use super::*;
use chrono::{NaiveDateTime, NaiveTime};
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
        // The rules before reminders existed: these tests judge single alerts.
        AlertPreferences {
            level,
            do_not_disturb: false,
            reminder_minutes: 0,
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
fn urgent_creation_by_someone_else_alerts_at_once() {
    let mut p = policy(AlertLevel::UrgentOnly);
    let t = ticket(1, 1, Priority::Urgent, None);
    feed(&mut p, EventAction::Create, OTHER, None, &t, 10.0);
    // After a quiet spell nothing holds the first alert back: it is due at the next poll.
    assert_eq!(p.next_deadline(), Some(s(10.0)));
    assert!(p.poll(s(9.9)).is_empty(), "not before it was raised");
    let alerts = p.poll(s(10.0));
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
    let urgent = |p: &mut AlertPolicy, id: Id, at: f64| {
        feed(
            p,
            EventAction::Create,
            OTHER,
            None,
            &ticket(id, 1, Priority::Urgent, None),
            at,
        )
    };
    // Raised together (one batch of events before a poll): one summary, at once.
    for id in 1..=3 {
        urgent(&mut p, id, 0.0);
    }
    let alerts = p.poll(s(0.0));
    assert_eq!(alerts.len(), 1);
    let a = &alerts[0];
    assert!(a.summary);
    assert_eq!(a.kind, AlertKind::Urgent);
    assert_eq!(a.title, "3 urgent tickets");
    assert_eq!(a.ticket_ids, vec![1, 2, 3]);
    assert_eq!(a.body, "• Ticket 1\n• Ticket 2\n• Ticket 3");
    // Raised within the window after that delivery: they wait for its end, together.
    urgent(&mut p, 4, 0.5);
    assert_eq!(p.next_deadline(), Some(s(2.0)));
    assert!(p.poll(s(1.0)).is_empty());
    urgent(&mut p, 5, 1.9);
    let later = p.poll(s(2.0));
    assert_eq!(later.len(), 1);
    assert!(later[0].summary);
    assert_eq!(later[0].ticket_ids, vec![4, 5]);
    // After a quiet spell, the next one goes out alone and at once.
    urgent(&mut p, 6, 10.0);
    assert_eq!(p.next_deadline(), Some(s(10.0)));
    let quiet = p.poll(s(10.0));
    assert_eq!(quiet.len(), 1);
    assert!(!quiet[0].summary);
    assert_eq!(p.unread_urgent(), 6);
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
            reminder_minutes: 0,
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
            from_requester: false,
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

// ------------------------------------------------------------------ acknowledgement (issue 18)

const MIN: f64 = 60.0;

fn local(text: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap()
}

/// A policy with the default preferences (reminders every 2 min, sound), local time set.
fn acking_policy(prefs: AlertPreferences, local_at_zero: &str) -> AlertPolicy {
    let mut p = AlertPolicy::new(me(), prefs);
    p.set_local_time(s(0.0), local(local_at_zero));
    p
}

fn urgent(id: Id, version: i64) -> Ticket {
    let mut t = ticket(id, version, Priority::Urgent, None);
    t.urgent_since = Some("2026-11-22T10:00:00Z".parse().unwrap());
    t.urgent_by = Some(OTHER);
    t
}

fn acknowledged(t: &Ticket, by: Id) -> Ticket {
    let mut t = t.clone();
    t.version += 1;
    t.acknowledged_by = Some(by);
    t.acknowledged_at = Some("2026-11-22T10:03:00Z".parse().unwrap());
    t
}

fn escalate_ev(t: &Ticket, seq: i64, at: &str) -> EventEnvelope {
    EventEnvelope {
        seq,
        timestamp: at.parse().unwrap(),
        ..ev(EventAction::Escalate, deskbell_protocol::SERVER_ACTOR, t)
    }
}

#[test]
fn reminders_repeat_every_n_minutes_with_sound_until_acknowledged() {
    let mut p = acking_policy(AlertPreferences::default(), "2026-11-22 11:00");
    let t = urgent(1, 1);
    feed(&mut p, EventAction::Create, OTHER, None, &t, 0.0);
    let first = p.poll(s(2.0));
    assert_eq!(first.len(), 1);
    assert!(!first[0].reminder);
    assert!(first[0].sound, "urgent alerts ask for sound");
    // Every 2 minutes from when it was shown.
    assert_eq!(p.next_deadline(), Some(s(2.0 + 2.0 * MIN)));
    assert!(p.poll(s(2.0 * MIN + 1.9)).is_empty());
    let again = p.poll(s(2.0 * MIN + 2.0));
    assert_eq!(again.len(), 1, "{again:?}");
    assert!(again[0].reminder);
    assert!(again[0].sound);
    assert_eq!(again[0].ticket_ids, vec![1]);
    assert!(
        again[0].body.starts_with("Still unacknowledged"),
        "{}",
        again[0].body
    );
    assert_eq!(p.next_deadline(), Some(s(4.0 * MIN + 2.0)));

    // Reminders without sound.
    p.set_preferences(AlertPreferences {
        sound_with_reminders: false,
        ..AlertPreferences::default()
    });
    let quiet = p.poll(s(4.0 * MIN + 2.0));
    assert_eq!(quiet.len(), 1);
    assert!(quiet[0].reminder && !quiet[0].sound);
    assert!(p.take_withdrawals().is_empty());

    // Another member acknowledges: withdrawn, no longer counted, no more reminders.
    assert_eq!(p.unread_urgent(), 1);
    feed(
        &mut p,
        EventAction::Acknowledge,
        OTHER,
        Some(&t),
        &acknowledged(&t, OTHER),
        5.0 * MIN,
    );
    assert_eq!(p.take_withdrawals(), vec![1]);
    assert_eq!(p.unread_urgent(), 0);
    assert_eq!(p.next_deadline(), None);
    assert!(p.poll(s(60.0 * MIN)).is_empty());
    assert!(!p.awaits_acknowledgement(1));
}

#[test]
fn reminder_interval_zero_means_none() {
    let prefs = AlertPreferences {
        reminder_minutes: 0,
        ..AlertPreferences::default()
    };
    let mut p = acking_policy(prefs, "2026-11-22 11:00");
    feed(&mut p, EventAction::Create, OTHER, None, &urgent(1, 1), 0.0);
    assert_eq!(p.poll(s(2.0)).len(), 1);
    assert_eq!(p.next_deadline(), None);
    assert!(p.poll(s(600.0 * MIN)).is_empty());
}

#[test]
fn reminders_stop_on_de_escalation_close_delete_and_my_own_acknowledgement() {
    let t = urgent(1, 1);
    let mut lowered = t.clone();
    lowered.version = 2;
    lowered.priority = Priority::High;
    lowered.urgent_since = None;
    let mut closed = t.clone();
    closed.version = 2;
    closed.status = TicketStatus::Closed;
    type Stop<'a> = Box<dyn Fn(&mut AlertPolicy) + 'a>;
    let cases: Vec<(&str, Stop)> = vec![
        (
            "de-escalated",
            Box::new(|p: &mut AlertPolicy| {
                feed(
                    p,
                    EventAction::PriorityChange,
                    OTHER,
                    Some(&t),
                    &lowered,
                    60.0,
                )
            }),
        ),
        (
            "closed",
            Box::new(|p: &mut AlertPolicy| {
                feed(p, EventAction::StatusChange, OTHER, Some(&t), &closed, 60.0)
            }),
        ),
        (
            "deleted",
            Box::new(|p: &mut AlertPolicy| {
                let delete = EventEnvelope {
                    ticket: None,
                    ticket_id: Some(1),
                    ..ev(EventAction::Delete, OTHER, &t)
                };
                p.observe(Resource::Ticket, &delete, None, s(60.0));
            }),
        ),
        ("out of sight", Box::new(|p: &mut AlertPolicy| p.forget(1))),
        (
            "acknowledged by me",
            Box::new(|p: &mut AlertPolicy| {
                feed(
                    p,
                    EventAction::Acknowledge,
                    ME,
                    Some(&t),
                    &acknowledged(&t, ME),
                    60.0,
                )
            }),
        ),
    ];
    for (why, stop) in cases {
        let mut p = acking_policy(AlertPreferences::default(), "2026-11-22 11:00");
        feed(&mut p, EventAction::Create, OTHER, None, &t, 0.0);
        assert_eq!(p.poll(s(2.0)).len(), 1, "{why}");
        stop(&mut p);
        assert_eq!(p.take_withdrawals(), vec![1], "{why}: withdrawn");
        assert_eq!(p.unread_urgent(), 0, "{why}: not counted");
        assert_eq!(p.next_deadline(), None, "{why}: no reminder");
        assert!(p.poll(s(30.0 * MIN)).is_empty(), "{why}");
    }
}

#[test]
fn replayed_events_do_not_re_alert_nor_restart_reminders() {
    let mut p = acking_policy(AlertPreferences::default(), "2026-11-22 11:00");
    let t = urgent(1, 1);
    let acked = acknowledged(&t, OTHER);
    feed(&mut p, EventAction::Create, OTHER, None, &t, 0.0);
    assert_eq!(p.poll(s(2.0)).len(), 1);
    feed(
        &mut p,
        EventAction::Acknowledge,
        OTHER,
        Some(&t),
        &acked,
        10.0,
    );
    // The replay after a reconnect: the creation, then the acknowledgement again.
    feed(&mut p, EventAction::Create, OTHER, None, &t, 20.0);
    feed(
        &mut p,
        EventAction::Acknowledge,
        OTHER,
        Some(&t),
        &acked,
        20.0,
    );
    assert!(p.poll(s(30.0)).is_empty());
    assert_eq!(p.next_deadline(), None);
    assert_eq!(p.unread_urgent(), 0);
    // The escalation of that (acknowledged) episode, replayed late: nothing.
    p.observe(
        Resource::Ticket,
        &escalate_ev(&t, 9, "2026-11-22T10:05:00Z"),
        None,
        s(40.0),
    );
    assert!(p.poll(s(60.0)).is_empty());
}

#[test]
fn quiet_hours_across_midnight_show_nothing_but_count_and_fill_the_inbox() {
    let quiet = QuietHours {
        enabled: true,
        start_minute: 22 * 60,
        end_minute: 7 * 60,
    };
    let prefs = AlertPreferences {
        quiet_hours: quiet,
        ..AlertPreferences::default()
    };
    let mut p = acking_policy(prefs.clone(), "2026-11-22 23:30");
    feed(&mut p, EventAction::Create, OTHER, None, &urgent(1, 1), 0.0);
    assert!(p.poll(s(2.0)).is_empty(), "quiet hours: nothing shown");
    let muted = p.take_muted();
    assert_eq!(muted.len(), 1);
    assert_eq!(muted[0].ticket_ids, vec![1]);
    assert_eq!(p.unread_urgent(), 1, "still counted");
    let inbox = p.inbox();
    assert_eq!(inbox.len(), 1);
    assert!(inbox[0].awaiting_ack && !inbox[0].read);
    assert_eq!(p.inbox_unread(), 1);
    // Reminders at 23:32, 00:00 … 06:58 stay silent too (the local clock advances with now).
    let mut now = 2.0 * MIN;
    while now < 7.5 * 60.0 * MIN - 2.0 * MIN {
        assert!(p.poll(s(now)).is_empty(), "a reminder at +{now}s");
        now += 2.0 * MIN;
    }
    assert!(p.take_muted().is_empty(), "reminders never go to the inbox");
    // 07:00 has passed: the next reminder is shown.
    let morning = p.poll(s(7.5 * 60.0 * MIN + 2.0 * MIN));
    assert_eq!(morning.len(), 1);
    assert!(morning[0].reminder);

    // With urgent_breaks_dnd, urgent alerts come through quiet hours and do-not-disturb.
    for dnd in [false, true] {
        let prefs = AlertPreferences {
            urgent_breaks_dnd: true,
            do_not_disturb: dnd,
            level: AlertLevel::AlsoAssignedToMe,
            ..prefs.clone()
        };
        let mut p = acking_policy(prefs, "2026-11-22 02:00");
        feed(&mut p, EventAction::Create, OTHER, None, &urgent(1, 1), 0.0);
        let mut assigned = ticket(2, 1, Priority::Normal, Some(ME));
        assigned.title = "Mine".into();
        feed(&mut p, EventAction::Assign, OTHER, None, &assigned, 0.5);
        let shown = p.poll(s(2.0));
        assert_eq!(shown.len(), 1, "dnd {dnd}: {shown:?}");
        assert_eq!(
            shown[0].ticket_ids,
            vec![1],
            "only the urgent one breaks through"
        );
        assert_eq!(p.take_muted().len(), 1, "the other is held back");
    }
}

#[test]
fn quiet_hours_ranges() {
    let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
    let night = QuietHours {
        enabled: true,
        start_minute: 22 * 60,
        end_minute: 7 * 60,
    };
    assert!(night.contains(t(22, 0)) && night.contains(t(23, 59)));
    assert!(night.contains(t(0, 0)) && night.contains(t(6, 59)));
    assert!(!night.contains(t(7, 0)) && !night.contains(t(12, 0)) && !night.contains(t(21, 59)));
    let day = QuietHours {
        enabled: true,
        start_minute: 9 * 60,
        end_minute: 17 * 60,
    };
    assert!(day.contains(t(9, 0)) && day.contains(t(16, 59)));
    assert!(!day.contains(t(17, 0)) && !day.contains(t(8, 59)));
    let empty = QuietHours {
        enabled: true,
        start_minute: 600,
        end_minute: 600,
    };
    assert!(!empty.contains(t(10, 0)));
    // Hand-edited nonsense reads modulo a day instead of panicking.
    let odd = QuietHours {
        enabled: true,
        start_minute: u16::MAX,
        end_minute: 3000,
    };
    let _ = odd.contains(t(3, 0));
    assert!(
        !QuietHours::default().active_at(local("2026-11-22 23:00")),
        "off by default"
    );
}

#[test]
fn snooze_15_minutes_hour_and_until_tomorrow() {
    for (snooze, minutes) in [(Snooze::Minutes15, 15.0), (Snooze::Hour, 60.0)] {
        let mut p = acking_policy(AlertPreferences::default(), "2026-11-22 11:00");
        feed(&mut p, EventAction::Create, OTHER, None, &urgent(1, 1), 0.0);
        assert_eq!(p.poll(s(2.0)).len(), 1);
        p.snooze(1, snooze, s(10.0));
        assert_eq!(
            p.take_withdrawals(),
            vec![1],
            "{snooze:?}: its notification goes"
        );
        let end = 10.0 + minutes * MIN;
        assert_eq!(p.next_deadline(), Some(s(end)), "{snooze:?}");
        assert_eq!(p.snoozed_until(1, s(11.0)), Some(s(end)));
        assert!(p.poll(s(end - 1.0)).is_empty());
        assert_eq!(p.unread_urgent(), 1, "still counted while snoozed");
        // An escalation while snoozed: inbox only.
        p.observe(
            Resource::Ticket,
            &escalate_ev(&urgent(1, 1), 5, "2026-11-22T10:05:00Z"),
            None,
            s(end - 1.0),
        );
        assert!(p.poll(s(end - 0.5)).is_empty());
        assert_eq!(p.take_muted().len(), 1);
        let after = p.poll(s(end));
        assert_eq!(after.len(), 1, "{snooze:?}: reminded when the snooze ends");
        assert!(after[0].reminder);
    }

    // Until tomorrow: the next 08:00 …
    let mut p = acking_policy(AlertPreferences::default(), "2026-11-22 23:00");
    feed(&mut p, EventAction::Create, OTHER, None, &urgent(1, 1), 0.0);
    p.snooze(1, Snooze::UntilTomorrow, s(0.0));
    assert_eq!(p.snoozed_until(1, s(1.0)), Some(s(9.0 * 60.0 * MIN)));
    assert!(
        p.poll(s(2.0)).is_empty(),
        "the first alert is held back too"
    );
    assert_eq!(p.take_muted().len(), 1);
    // … or the end of quiet hours when later.
    let prefs = AlertPreferences {
        quiet_hours: QuietHours {
            enabled: true,
            start_minute: 22 * 60,
            end_minute: 9 * 60 + 30,
        },
        ..AlertPreferences::default()
    };
    let mut p = acking_policy(prefs, "2026-11-22 23:00");
    p.snooze(1, Snooze::UntilTomorrow, s(0.0));
    assert_eq!(p.snoozed_until(1, s(1.0)), Some(s(10.5 * 60.0 * MIN)));

    let q = QuietHours::default();
    assert_eq!(
        Snooze::UntilTomorrow.until_local(local("2026-11-22 07:00"), &q),
        local("2026-11-22 08:00"),
        "early morning: today's 08:00"
    );
    assert_eq!(
        Snooze::UntilTomorrow.until_local(local("2026-11-22 08:00"), &q),
        local("2026-11-23 08:00")
    );
}

#[test]
fn the_focused_ticket_is_shown_in_place_not_notified() {
    let mut p = acking_policy(AlertPreferences::default(), "2026-11-22 11:00");
    p.set_focused(Some(1));
    feed(&mut p, EventAction::Create, OTHER, None, &urgent(1, 1), 0.0);
    feed(&mut p, EventAction::Create, OTHER, None, &urgent(2, 1), 0.0);
    let shown = p.poll(s(2.0));
    assert_eq!(shown.len(), 1);
    assert_eq!(
        shown[0].ticket_ids,
        vec![2],
        "only the other ticket is notified"
    );
    let in_place = p.take_in_place();
    assert_eq!(in_place.len(), 1);
    assert_eq!(in_place[0].ticket_ids, vec![1]);
    // Its inbox entry is read already (the user is looking at it).
    let entry = p.inbox().into_iter().find(|e| e.ticket_id == 1).unwrap();
    assert!(entry.read);
    // Its reminders come in place as well.
    let reminders = p.poll(s(2.0 * MIN + 2.0));
    assert_eq!(reminders.len(), 1);
    assert_eq!(reminders[0].ticket_ids, vec![2]);
    assert_eq!(p.take_in_place()[0].ticket_ids, vec![1]);
    p.set_focused(None);
    let both = p.poll(s(4.0 * MIN + 2.0));
    assert_eq!(both.len(), 1);
    assert_eq!(both[0].ticket_ids, vec![1, 2]);
}

#[test]
fn escalation_once_per_episode_and_again_after_re_urgent() {
    let mut admin = me();
    admin.role = Role::Admin;
    let mut p = AlertPolicy::new(admin, AlertPreferences::default());
    p.set_members(&[Member {
        id: OTHER,
        name: "Grace Hopper".into(),
        role: Role::Agent,
        active: true,
    }]);
    let t = urgent(1, 1);
    feed(&mut p, EventAction::Create, OTHER, None, &t, 0.0);
    assert_eq!(p.poll(s(2.0)).len(), 1);
    p.observe(
        Resource::Ticket,
        &escalate_ev(&t, 5, "2026-11-22T10:05:00Z"),
        None,
        s(5.0 * MIN),
    );
    let escalated = p.poll(s(5.0 * MIN + 2.0));
    assert_eq!(escalated.len(), 1);
    let a = &escalated[0];
    assert_eq!(a.kind, AlertKind::Escalated);
    assert_eq!(a.body, "Nobody has acknowledged #1 in 5 min");
    assert_eq!(a.waited_minutes, Some(5));
    assert_eq!(a.made_urgent_by.as_deref(), Some("Grace Hopper"));
    assert!(a.sound);
    // The same episode again (a replay, or a duplicate from another node): nothing.
    for seq in [5, 6] {
        p.observe(
            Resource::Ticket,
            &escalate_ev(&t, seq, "2026-11-22T10:05:00Z"),
            None,
            s(6.0 * MIN),
        );
    }
    assert!(p.poll(s(6.0 * MIN + 2.0)).is_empty());
    // De-escalated, urgent again: a new episode escalates again.
    let mut high = t.clone();
    high.version = 2;
    high.priority = Priority::High;
    high.urgent_since = None;
    feed(
        &mut p,
        EventAction::PriorityChange,
        OTHER,
        Some(&t),
        &high,
        7.0 * MIN,
    );
    let mut again = urgent(1, 3);
    again.urgent_since = Some("2026-11-22T10:10:00Z".parse().unwrap());
    feed(
        &mut p,
        EventAction::PriorityChange,
        OTHER,
        Some(&high),
        &again,
        8.0 * MIN,
    );
    assert_eq!(p.poll(s(8.0 * MIN + 2.0)).len(), 1);
    p.observe(
        Resource::Ticket,
        &escalate_ev(&again, 9, "2026-11-22T10:15:00Z"),
        None,
        s(13.0 * MIN),
    );
    let second = p.poll(s(13.0 * MIN + 2.0));
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].kind, AlertKind::Escalated);
}

#[test]
fn summaries_keep_every_ticket_id() {
    let mut p = acking_policy(AlertPreferences::default(), "2026-11-22 11:00");
    for id in 1..=8 {
        feed(
            &mut p,
            EventAction::Create,
            OTHER,
            None,
            &urgent(id, 1),
            0.1 * id as f64,
        );
    }
    let alerts = p.poll(s(2.1));
    assert_eq!(alerts.len(), 1);
    assert!(alerts[0].summary);
    assert_eq!(alerts[0].title, "8 urgent tickets");
    assert_eq!(alerts[0].ticket_ids, (1..=8).collect::<Vec<_>>());
    assert!(alerts[0].body.ends_with("and 3 more"));
    assert!(alerts[0].sound && !alerts[0].reminder);
    assert_eq!(alerts[0].ticket_number, None, "no single ticket");
    // Their reminders come together, as one summary of reminders.
    let reminders = p.poll(s(2.0 * MIN + 2.1));
    assert_eq!(reminders.len(), 1);
    assert!(reminders[0].summary && reminders[0].reminder);
    assert_eq!(reminders[0].ticket_ids.len(), 8);
}

#[test]
fn alerts_carry_ticket_number_requester_lane_and_who_made_it_urgent() {
    let mut p = acking_policy(AlertPreferences::default(), "2026-11-22 11:00");
    p.set_lanes(&[Lane {
        id: 3,
        company_id: 1,
        name: "Billing".into(),
        color: "#ff0000".into(),
        position: 0,
    }]);
    p.set_members(&[Member {
        id: OTHER,
        name: "Grace Hopper".into(),
        role: Role::Agent,
        active: true,
    }]);
    assert!(p.knows_user(OTHER) && p.knows_user(ME) && !p.knows_user(99));
    let mut t = urgent(12, 1);
    t.lane_id = Some(3);
    feed(&mut p, EventAction::Create, OTHER, None, &t, 0.0);
    let a = p.poll(s(2.0)).remove(0);
    feed(
        &mut p,
        EventAction::Create,
        OTHER,
        None,
        &urgent(13, 1),
        3.0,
    );
    assert_eq!(a.ticket_number, Some(12));
    assert_eq!(a.requester.as_deref(), Some("Grace"));
    assert_eq!(a.lane.as_deref(), Some("Billing"));
    assert_eq!(a.made_urgent_by.as_deref(), Some("Grace Hopper"));
    let b = p.poll(s(5.0)).remove(0);
    assert_eq!(b.lane.as_deref(), Some("No lane"));
}

#[test]
fn the_inbox_lists_unacknowledged_urgent_first_then_newest_and_keeps_100() {
    let prefs = AlertPreferences {
        level: AlertLevel::AlsoAssignedToMe,
        ..AlertPreferences::default()
    };
    let mut p = acking_policy(prefs, "2026-11-22 11:00");
    let t1 = urgent(1, 1);
    feed(&mut p, EventAction::Create, OTHER, None, &t1, 0.0);
    feed(&mut p, EventAction::Create, OTHER, None, &urgent(2, 1), 1.0);
    feed(
        &mut p,
        EventAction::Assign,
        OTHER,
        None,
        &ticket(3, 1, Priority::Normal, Some(ME)),
        2.0,
    );
    assert!(p.take_inbox_changed());
    let ids: Vec<Id> = p.inbox().iter().map(|e| e.ticket_id).collect();
    assert_eq!(ids, vec![2, 1, 3], "urgent awaiting first, newest first");
    feed(
        &mut p,
        EventAction::Acknowledge,
        OTHER,
        Some(&t1),
        &acknowledged(&t1, OTHER),
        3.0,
    );
    assert!(
        p.take_inbox_changed(),
        "an acknowledgement changes the listing"
    );
    let ids: Vec<Id> = p.inbox().iter().map(|e| e.ticket_id).collect();
    assert_eq!(ids, vec![2, 3, 1]);
    assert_eq!(p.inbox_unread(), 3);
    p.mark_inbox_read();
    assert!(p.take_inbox_changed());
    assert_eq!(p.inbox_unread(), 0);
    assert!(p.inbox().iter().all(|e| e.read));
    for id in 100..230 {
        feed(
            &mut p,
            EventAction::Create,
            OTHER,
            None,
            &urgent(id, 1),
            4.0,
        );
    }
    let inbox = p.inbox();
    assert_eq!(inbox.len(), Inbox::MAX);
    assert!(
        inbox.iter().all(|e| e.ticket_id >= 100),
        "the oldest went first"
    );
}

#[test]
fn old_settings_files_load_with_the_new_defaults() {
    let prefs: AlertPreferences =
        serde_json::from_str(r#"{"level":"alsoAssignedToMe","doNotDisturb":true}"#).unwrap();
    assert_eq!(prefs.reminder_minutes, 2);
    assert!(prefs.sound && prefs.sound_with_reminders && !prefs.urgent_breaks_dnd);
    assert_eq!(prefs.quiet_hours, QuietHours::default());
    assert_eq!(
        (prefs.quiet_hours.start_minute, prefs.quiet_hours.end_minute),
        (1320, 420)
    );
    let json = serde_json::to_value(AlertPreferences::default()).unwrap();
    assert_eq!(json["quietHours"]["startMinute"], 1320);
    assert_eq!(json["reminderMinutes"], 2);
    assert_eq!(
        serde_json::to_value(Snooze::UntilTomorrow).unwrap(),
        "untilTomorrow"
    );
    assert_eq!(
        serde_json::to_value(Snooze::Minutes15).unwrap(),
        "minutes15"
    );
}

#[test]
fn notification_actions_by_kind() {
    let urgent = Alert::simple(AlertKind::Urgent, vec![1], "t", "b");
    let keys: Vec<&str> = actions_for(&urgent).iter().map(|a| a.0).collect();
    assert_eq!(keys, ["default", "open", "acknowledge", "assign"]);
    let summary = Alert {
        summary: true,
        ..Alert::simple(AlertKind::Urgent, vec![1, 2], "t", "b")
    };
    let keys: Vec<&str> = actions_for(&summary).iter().map(|a| a.0).collect();
    assert_eq!(keys, ["default", "open"]);
    let assigned = Alert::simple(AlertKind::AssignedToMe, vec![1], "t", "b");
    assert_eq!(actions_for(&assigned).len(), 2);
    assert_eq!(
        NotificationAction::from_key("default"),
        Some(NotificationAction::Open)
    );
    assert_eq!(
        NotificationAction::from_key("assign"),
        Some(NotificationAction::AssignToMe)
    );
    assert_eq!(NotificationAction::from_key("__closed"), None);
    let n = RecordingNotifier::new();
    n.withdraw(4);
    assert_eq!(n.withdrawals(), vec![4]);
}

#[test]
fn notifications_name_the_ticket_its_requester_lane_and_who_made_it_urgent() {
    let mut alert = Alert::simple(
        AlertKind::Urgent,
        vec![12],
        "Printer on fire",
        "New urgent ticket: Grace — it smokes",
    );
    alert.ticket_number = Some(12);
    alert.requester = Some("Grace".into());
    alert.lane = Some("Hardware".into());
    alert.made_urgent_by = Some("Ana Admin".into());
    let (summary, body) = notification_text(&alert);
    assert_eq!(summary, "#12 Printer on fire");
    assert_eq!(
        body,
        "New urgent ticket: Grace — it smokes\nHardware · made urgent by Ana Admin"
    );
    // An escalation says who asked and how long it waited (its text), and where it is.
    let mut escalated = alert.clone();
    escalated.kind = AlertKind::Escalated;
    escalated.body = "Nobody has acknowledged #12 in 5 min".into();
    let (_, body) = notification_text(&escalated);
    assert_eq!(
        body,
        "Nobody has acknowledged #12 in 5 min\nFrom Grace · Hardware · made urgent by Ana Admin"
    );
    // A summary stays as it is.
    let mut summary = alert.clone();
    summary.summary = true;
    assert_eq!(
        notification_text(&summary),
        (summary.title.clone(), summary.body.clone())
    );
}

#[test]
fn a_notification_withdrawn_while_being_shown_is_closed_once_shown() {
    let open = OpenNotifications {
        limit: 2,
        state: Mutex::new(Default::default()),
    };
    // Withdrawn before the server answered with an id: nothing to close yet; closed once shown.
    let early = open.showing(vec![5]);
    assert_eq!(open.withdraw(5), Vec::<u32>::new());
    assert_eq!(
        open.shown(early, 77),
        Shown {
            evict: None,
            withdrawn: true
        }
    );
    assert_eq!(open.count(), 0);
    // Withdrawn after: closed by the withdrawal.
    let later = open.showing(vec![6]);
    assert!(!open.shown(later, 78).withdrawn);
    assert_eq!(open.withdraw(6), vec![78]);
    // A summary closes when its last ticket is withdrawn; past the limit the oldest goes.
    let summary = open.showing(vec![1, 2]);
    assert!(!open.shown(summary, 79).withdrawn);
    assert_eq!(open.withdraw(1), Vec::<u32>::new());
    assert_eq!(open.withdraw(2), vec![79]);
    // (Their waiting threads end once the server has closed them.)
    open.ended(78);
    open.ended(79);
    let third = open.showing(vec![3]);
    assert_eq!(open.shown(third, 80).evict, None);
    let fourth = open.showing(vec![4]);
    assert_eq!(open.shown(fourth, 81).evict, None);
    let fifth = open.showing(vec![5]);
    assert_eq!(open.shown(fifth, 82).evict, Some(80));
    // A notification that could not be shown is forgotten.
    let failed = open.showing(vec![9]);
    open.failed(failed);
    assert_eq!(open.withdraw(9), Vec::<u32>::new());
}

/// `t` in a new urgent episode (made urgent again at `since`).
fn re_urgent(t: &Ticket, since: &str) -> Ticket {
    let mut t = t.clone();
    t.version += 2;
    t.urgent_since = Some(since.parse().unwrap());
    t
}

#[test]
fn a_snapshot_at_sign_in_alerts_the_urgent_tickets_nobody_acknowledged_and_reminds_of_them() {
    let mut p = acking_policy(AlertPreferences::default(), "2026-11-22 11:00");
    let mut mine = urgent(3, 1);
    mine.urgent_by = Some(ME);
    let board = vec![
        urgent(1, 4),
        urgent(2, 1),
        mine,                               // made urgent by me: never alerts me
        acknowledged(&urgent(4, 1), OTHER), // acknowledged already
        ticket(5, 1, Priority::High, None), // not urgent
    ];
    p.reconcile(&board, s(1.0));
    assert_eq!(p.next_deadline(), Some(s(1.0)), "due at once");
    let alerts = p.poll(s(1.0));
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(alerts[0].summary && alerts[0].sound && !alerts[0].reminder);
    assert_eq!(alerts[0].title, "2 urgent tickets");
    assert_eq!(alerts[0].ticket_ids, vec![1, 2]);
    assert_eq!(p.unread_urgent(), 2);
    assert!(p.awaits_acknowledgement(1) && p.awaits_acknowledgement(3));
    assert!(!p.awaits_acknowledgement(4));
    let mut in_inbox: Vec<Id> = p.inbox().iter().map(|e| e.ticket_id).collect();
    in_inbox.sort();
    assert_eq!(in_inbox, vec![1, 2]);

    // A single one reads as one ticket.
    let mut single = acking_policy(AlertPreferences::default(), "2026-11-22 11:00");
    single.reconcile(&board[1..2], s(0.0));
    let one = single.poll(s(0.0));
    assert_eq!(one.len(), 1);
    assert!(!one[0].summary);
    assert_eq!(one[0].ticket_number, Some(2));
    assert!(
        one[0]
            .body
            .starts_with("Urgent, not yet acknowledged: Grace"),
        "{}",
        one[0].body
    );

    // The replay that follows the snapshot (same versions) raises nothing more.
    feed(&mut p, EventAction::Create, OTHER, None, &urgent(2, 1), 2.0);
    assert!(p.poll(s(3.0 + 2.0)).is_empty());

    // Reminded of every 2 minutes like any other, until acknowledged.
    let reminders = p.poll(s(1.0 + 2.0 * MIN));
    assert_eq!(reminders.len(), 1, "{reminders:?}");
    assert!(reminders[0].summary && reminders[0].reminder);
    assert_eq!(reminders[0].ticket_ids, vec![1, 2]);
    let t2 = urgent(2, 1);
    feed(
        &mut p,
        EventAction::Acknowledge,
        OTHER,
        Some(&t2),
        &acknowledged(&t2, OTHER),
        3.0 * MIN,
    );
    assert_eq!(p.take_withdrawals(), vec![2]);
    assert_eq!(p.unread_urgent(), 1);
    let last = p.poll(s(1.0 + 4.0 * MIN));
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].ticket_ids, vec![1]);
}

#[test]
fn a_snapshot_after_a_gap_reconciles_what_happened_in_it() {
    let mut p = acking_policy(AlertPreferences::default(), "2026-11-22 11:00");
    for id in [1, 2, 3, 4] {
        feed(
            &mut p,
            EventAction::Create,
            OTHER,
            None,
            &urgent(id, 1),
            0.0,
        );
    }
    assert_eq!(p.poll(s(0.0)).len(), 1);
    assert_eq!(p.unread_urgent(), 4);
    // The reset's snapshot: 1 acknowledged meanwhile, 2 unchanged, 3 gone (deleted or out of
    // sight), 4 de-escalated and urgent again (a new episode), 5 made urgent in the gap.
    let reset = vec![
        acknowledged(&urgent(1, 1), OTHER),
        urgent(2, 1),
        re_urgent(&urgent(4, 1), "2026-11-22T10:20:00Z"),
        urgent(5, 1),
    ];
    p.reconcile(&reset, s(30.0));
    let mut withdrawn = p.take_withdrawals();
    withdrawn.sort();
    assert_eq!(withdrawn, vec![1, 3]);
    let alerts = p.poll(s(30.0));
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(
        alerts[0].ticket_ids,
        vec![4, 5],
        "the new episode and the new ticket, not the one alerted before"
    );
    assert_eq!(p.unread_urgent(), 3, "2, 4 and 5");
    // 2 keeps its pace (due 2 min after its first alert), 4 and 5 start theirs now.
    let due = p.poll(s(2.0 * MIN));
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].ticket_ids, vec![2]);
    assert!(due[0].reminder);
    let due = p.poll(s(30.0 + 2.0 * MIN));
    assert_eq!(due[0].ticket_ids, vec![4, 5]);
}

#[test]
fn a_snapshot_respects_do_not_disturb_snooze_and_the_focused_ticket() {
    let prefs = AlertPreferences {
        do_not_disturb: true,
        ..AlertPreferences::default()
    };
    let mut p = acking_policy(prefs, "2026-11-22 11:00");
    p.reconcile(&[urgent(1, 1)], s(0.0));
    assert!(
        p.poll(s(0.0)).is_empty(),
        "nothing shown under do-not-disturb"
    );
    let muted = p.take_muted();
    assert_eq!(muted.len(), 1);
    assert_eq!(muted[0].ticket_ids, vec![1]);
    assert_eq!(p.unread_urgent(), 1, "still counted");
    assert_eq!(p.inbox_unread(), 1, "still in the inbox");

    let mut p = acking_policy(AlertPreferences::default(), "2026-11-22 11:00");
    p.set_focused(Some(2));
    p.reconcile(&[urgent(2, 1)], s(0.0));
    assert!(
        p.poll(s(0.0)).is_empty(),
        "the focused ticket is not notified"
    );
    assert_eq!(p.take_in_place().len(), 1);
}

#[test]
fn a_session_that_ends_withdraws_everything_and_the_next_sign_in_starts_from_the_board() {
    let mut p = acking_policy(AlertPreferences::default(), "2026-11-22 11:00");
    for id in [1, 2] {
        feed(
            &mut p,
            EventAction::Create,
            OTHER,
            None,
            &urgent(id, 1),
            0.0,
        );
    }
    assert_eq!(p.poll(s(0.0)).len(), 1);
    assert_eq!(p.inbox_unread(), 2);
    p.take_inbox_changed();

    p.suspend();
    let mut withdrawn = p.take_withdrawals();
    withdrawn.sort();
    assert_eq!(withdrawn, vec![1, 2]);
    assert_eq!(p.unread_urgent(), 0);
    assert!(!p.awaits_acknowledgement(1));
    assert!(
        p.take_inbox_changed(),
        "the inbox no longer shows them awaiting"
    );
    assert_eq!(p.inbox_unread(), 2, "the inbox keeps its history");
    assert_eq!(p.next_deadline(), None, "no reminder while signed out");
    assert!(p.poll(s(60.0 * MIN)).is_empty());

    // Signed in again: 1 still waits (alerted anew), 2 was acknowledged meanwhile.
    p.reconcile(
        &[urgent(1, 1), acknowledged(&urgent(2, 1), OTHER)],
        s(61.0 * MIN),
    );
    let alerts = p.poll(s(61.0 * MIN));
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].ticket_ids, vec![1]);
    assert!(!alerts[0].reminder);
    assert_eq!(p.unread_urgent(), 1);
}

#[test]
fn a_board_ahead_of_the_events_judged_alerts_once() {
    // The pump reconciles with the board at a sync; the board may already hold the next event.
    let mut p = acking_policy(AlertPreferences::default(), "2026-11-22 11:00");
    let before = ticket(1, 1, Priority::High, None);
    let escalated = urgent(1, 2);
    p.reconcile([&escalated], s(0.0));
    feed(
        &mut p,
        EventAction::PriorityChange,
        OTHER,
        Some(&before),
        &escalated,
        0.1,
    );
    let alerts = p.poll(s(0.1));
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(!alerts[0].summary);
}
