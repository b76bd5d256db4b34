//! Which events become OS notifications ([`AlertPolicy`]), and how they are shown
//! ([`Notifier`]: [`DesktopNotifier`] for real, [`RecordingNotifier`] in tests).
//!
//! The policy is pure: it is fed each event the board applied, with the ticket as it was
//! before, and the current time as a [`Duration`] since any fixed start (it never reads a
//! clock). For quiet hours and "snooze until tomorrow" it is also told the local wall-clock
//! time ([`AlertPolicy::set_local_time`]); the desk's pump reads both from its clocks.
//! Alerts are coalesced per window and come out of [`AlertPolicy::poll`].
//!
//! Rules (spec "Alerts"):
//! - alert when a visible ticket is created urgent, escalated to urgent (any change that makes
//!   it urgent), or appears on my board already urgent (e.g. assigned to me), by someone else;
//! - never for my own actions; one alert per ticket per escalation (urgent → high → urgent is
//!   two escalations; a replayed event is the same one: versions already seen are ignored);
//! - level [`AlertLevel::AlsoAssignedToMe`] adds "assigned to you" (by someone else);
//!   [`AlertLevel::AlsoCommentsOnMine`] adds that and comments by others on tickets assigned to me;
//! - the first alert after a quiet spell is delivered at once (at the next poll, with whatever
//!   was raised before that poll: the desk's pump polls after each batch of events it has
//!   received); alerts raised within the window (default 2 s) after a delivery wait for the
//!   window's end and are delivered together: one alert as is, several as one summary
//!   ("3 urgent tickets") that keeps every ticket id. A burst costs one notification at once
//!   and at most one more per window, and an urgent ticket after a quiet spell is never held
//!   back;
//! - an urgent ticket nobody has acknowledged ([`Ticket::awaits_acknowledgement`]) is alerted
//!   again every [`AlertPreferences::reminder_minutes`] (a *reminder*, with sound if
//!   [`AlertPreferences::sound_with_reminders`]) until it is acknowledged, de-escalated, closed,
//!   deleted or goes out of sight; then its notification is withdrawn
//!   ([`AlertPolicy::take_withdrawals`]) and it stops counting;
//! - after every sync the board is reconciled ([`AlertPolicy::reconcile`]): urgent tickets
//!   awaiting acknowledgement that were not alerted here yet (already urgent at sign-in, made
//!   urgent during a gap) are alerted at once (as one summary when several) and reminded of
//!   from then on; those acknowledged, de-escalated, closed or gone meanwhile are withdrawn;
//!   when the session ends everything is withdrawn and uncounted ([`AlertPolicy::suspend`]);
//! - an `escalate` event (admins; it changes no version, so it is judged apart from the
//!   version check) raises one [`AlertKind::Escalated`] alert per urgent episode (ticket id +
//!   `urgent_since`);
//! - do-not-disturb and quiet hours deliver nothing but still count and still go to the
//!   inbox ([`AlertPolicy::take_muted`]), unless [`AlertPreferences::urgent_breaks_dnd`] lets
//!   urgent and escalated alerts through; a snoozed ticket is treated the same until its
//!   snooze ends (then a reminder is due if it still awaits acknowledgement);
//! - the ticket open in the focused window is never notified: its alerts come out of
//!   [`AlertPolicy::take_in_place`] for the UI to show in place;
//! - [`AlertPolicy::unread_urgent`] is the tray's count of urgent tickets alerted and not yet
//!   opened (or acknowledged, de-escalated, or gone); the [`Inbox`] keeps the recent alerts.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{NaiveDateTime, NaiveTime, Timelike};
use deskbell_protocol::{
    EventAction, EventEnvelope, Id, Lane, Member, Priority, Resource, Ticket, Timestamp, User,
};
use serde::{Deserialize, Serialize};

use crate::board::Applied;
use crate::error::{ClientErrorCode, ErrorCode};

/// How much besides urgent tickets raises a notification. Each level includes the ones before.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    ts_rs::TS,
)]
#[serde(rename_all = "camelCase")]
pub enum AlertLevel {
    #[default]
    UrgentOnly,
    AlsoAssignedToMe,
    AlsoCommentsOnMine,
}

/// A daily range of local time when nothing is shown (alerts still count and go to the inbox).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase", default)]
pub struct QuietHours {
    pub enabled: bool,
    /// Minutes since local midnight (0..1440); the range may cross midnight (22:00–07:00).
    pub start_minute: u16,
    /// Exclusive. Equal to `start_minute`: an empty range.
    pub end_minute: u16,
}

impl Default for QuietHours {
    fn default() -> Self {
        QuietHours {
            enabled: false,
            start_minute: 22 * 60,
            end_minute: 7 * 60,
        }
    }
}

const MINUTES_PER_DAY: u32 = 24 * 60;

impl QuietHours {
    /// Whether `local` falls in the range (ignores `enabled`). Out-of-range minutes are read
    /// modulo a day, so a hand-edited settings file cannot make this panic.
    pub fn contains(&self, local: NaiveTime) -> bool {
        let m = local.hour() * 60 + local.minute();
        let (start, end) = (
            u32::from(self.start_minute) % MINUTES_PER_DAY,
            u32::from(self.end_minute) % MINUTES_PER_DAY,
        );
        match start.cmp(&end) {
            std::cmp::Ordering::Equal => false,
            std::cmp::Ordering::Less => start <= m && m < end,
            std::cmp::Ordering::Greater => m >= start || m < end,
        }
    }

    /// Whether quiet hours are on and `local` is in them.
    pub fn active_at(&self, local: NaiveDateTime) -> bool {
        self.enabled && self.contains(local.time())
    }

    /// The next time after `local` at which the range ends.
    pub fn next_end(&self, local: NaiveDateTime) -> NaiveDateTime {
        next_at_minute(local, u32::from(self.end_minute) % MINUTES_PER_DAY)
    }
}

/// The first time strictly after `local` that is `minute` minutes past a local midnight.
fn next_at_minute(local: NaiveDateTime, minute: u32) -> NaiveDateTime {
    let time = NaiveTime::from_hms_opt(minute / 60, minute % 60, 0).unwrap_or(NaiveTime::MIN);
    let today = local.date().and_time(time);
    if today > local {
        today
    } else {
        today + chrono::Duration::days(1)
    }
}

/// The user's alert settings. Every field has a default, so older settings files still load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase", default)]
pub struct AlertPreferences {
    pub level: AlertLevel,
    pub do_not_disturb: bool,
    /// Minutes between reminders of an unacknowledged urgent ticket (0: no reminders).
    pub reminder_minutes: u32,
    /// Urgent and escalated alerts ask for a sound.
    pub sound: bool,
    /// Reminders ask for a sound too (when `sound` is on).
    pub sound_with_reminders: bool,
    pub quiet_hours: QuietHours,
    /// Urgent and escalated alerts are shown even under do-not-disturb and in quiet hours.
    pub urgent_breaks_dnd: bool,
}

impl Default for AlertPreferences {
    fn default() -> Self {
        AlertPreferences {
            level: AlertLevel::default(),
            do_not_disturb: false,
            reminder_minutes: DEFAULT_REMINDER_MINUTES,
            sound: true,
            sound_with_reminders: true,
            quiet_hours: QuietHours::default(),
            urgent_breaks_dnd: false,
        }
    }
}

/// Minutes between reminders unless the user says otherwise.
pub const DEFAULT_REMINDER_MINUTES: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub enum AlertKind {
    /// Created, escalated to or appeared as urgent.
    Urgent,
    /// Assigned to me by someone else.
    AssignedToMe,
    /// Someone else commented on a ticket assigned to me.
    Comment,
    /// To admins: nobody has acknowledged an urgent ticket in the company's time.
    Escalated,
}

impl AlertKind {
    /// Urgent and escalated alerts: sound, critical urgency, may break do-not-disturb.
    pub fn is_urgent(self) -> bool {
        matches!(self, AlertKind::Urgent | AlertKind::Escalated)
    }
}

/// One notification to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// For a summary: [`AlertKind::Escalated`] if any of its alerts is, else
    /// [`AlertKind::Urgent`] if any is urgent.
    pub kind: AlertKind,
    /// The ticket(s) concerned, most important first (escalated and urgent ones, then in
    /// arrival order). A summary keeps every one.
    #[ts(type = "Array<number>")]
    pub ticket_ids: Vec<Id>,
    /// The notification's summary line.
    pub title: String,
    pub body: String,
    /// Whether this stands for several coalesced alerts.
    pub summary: bool,
    /// A repeat for a ticket still awaiting acknowledgement (a summary: all of them are).
    #[serde(default)]
    pub reminder: bool,
    /// Single-ticket alerts: the ticket's number (`#12`).
    #[serde(default)]
    #[ts(type = "number | null")]
    pub ticket_number: Option<Id>,
    /// Single-ticket alerts: the requester's name.
    #[serde(default)]
    pub requester: Option<String>,
    /// Single-ticket alerts: the lane's name, or "No lane".
    #[serde(default)]
    pub lane: Option<String>,
    /// Urgent alerts: who made the ticket urgent (their name, when known).
    #[serde(default)]
    pub made_urgent_by: Option<String>,
    /// Escalations: minutes the ticket has waited since it became urgent.
    #[serde(default)]
    #[ts(type = "number | null")]
    pub waited_minutes: Option<i64>,
    /// Whether this alert asks for a sound.
    #[serde(default)]
    pub sound: bool,
}

impl Alert {
    /// The ticket to open when the notification is activated.
    pub fn ticket_id(&self) -> Option<Id> {
        self.ticket_ids.first().copied()
    }

    /// A plain alert about `ticket_ids` (the optional details empty).
    pub fn simple(
        kind: AlertKind,
        ticket_ids: Vec<Id>,
        title: impl Into<String>,
        body: impl Into<String>,
    ) -> Alert {
        Alert {
            kind,
            ticket_ids,
            title: title.into(),
            body: body.into(),
            summary: false,
            reminder: false,
            ticket_number: None,
            requester: None,
            lane: None,
            made_urgent_by: None,
            waited_minutes: None,
            sound: false,
        }
    }
}

/// "Remind me later" on an urgent ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub enum Snooze {
    Minutes15,
    Hour,
    /// The next local 08:00, or the end of quiet hours if they are on and end later.
    UntilTomorrow,
}

/// Local hour "until tomorrow" ends at.
const MORNING_MINUTE: u32 = 8 * 60;

impl Snooze {
    /// When a snooze chosen at local time `local` ends, as local time.
    pub fn until_local(self, local: NaiveDateTime, quiet: &QuietHours) -> NaiveDateTime {
        match self {
            Snooze::Minutes15 => local + chrono::Duration::minutes(15),
            Snooze::Hour => local + chrono::Duration::hours(1),
            Snooze::UntilTomorrow => {
                let morning = next_at_minute(local, MORNING_MINUTE);
                if quiet.enabled {
                    morning.max(quiet.next_end(local))
                } else {
                    morning
                }
            }
        }
    }
}

/// One alert as the inbox lists it (summaries are listed per ticket).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct InboxEntry {
    #[ts(type = "number")]
    pub id: u64,
    #[ts(type = "number")]
    pub ticket_id: Id,
    pub kind: AlertKind,
    pub title: String,
    pub body: String,
    #[ts(type = "string")]
    pub at: Timestamp,
    pub read: bool,
    /// The ticket is urgent and nobody has acknowledged it yet.
    pub awaiting_ack: bool,
}

/// Recent alerts, newest last internally; listed unacknowledged-urgent first, then newest first.
#[derive(Debug, Clone, Default)]
pub struct Inbox {
    entries: VecDeque<InboxEntry>,
    next_id: u64,
}

impl Inbox {
    /// Entries kept at most (the oldest go first).
    pub const MAX: usize = 100;

    fn record(&mut self, alert: &Alert, at: Timestamp, read: bool) {
        for &ticket_id in &alert.ticket_ids {
            self.next_id += 1;
            self.entries.push_back(InboxEntry {
                id: self.next_id,
                ticket_id,
                kind: alert.kind,
                title: alert.title.clone(),
                body: alert.body.clone(),
                at,
                read,
                awaiting_ack: false,
            });
        }
        while self.entries.len() > Self::MAX {
            self.entries.pop_front();
        }
    }

    /// The entries as listed; `awaiting(ticket)` says which tickets await acknowledgement.
    pub fn list(&self, awaiting: impl Fn(Id) -> bool) -> Vec<InboxEntry> {
        let mut out: Vec<InboxEntry> = self
            .entries
            .iter()
            .rev()
            .map(|e| InboxEntry {
                awaiting_ack: e.kind.is_urgent() && awaiting(e.ticket_id),
                ..e.clone()
            })
            .collect();
        // Stable: newest first within each group.
        out.sort_by_key(|e| !e.awaiting_ack);
        out
    }

    pub fn unread(&self) -> usize {
        self.entries.iter().filter(|e| !e.read).count()
    }

    fn mark_all_read(&mut self) -> bool {
        let mut changed = false;
        for e in self.entries.iter_mut().filter(|e| !e.read) {
            e.read = true;
            changed = true;
        }
        changed
    }

    fn forget_ticket(&mut self, ticket_id: Id) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.ticket_id != ticket_id);
        before != self.entries.len()
    }
}

/// How long the first alert of a burst waits for others to coalesce with.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(2);

/// Lines of ticket titles a summary's body lists before "and N more".
const SUMMARY_LINES: usize = 5;

/// An urgent ticket that was alerted and awaits acknowledgement: when to remind, and how.
#[derive(Debug, Clone)]
struct Reminder {
    /// The alert to repeat (as first raised).
    alert: Alert,
    /// The urgent episode it is about (the ticket's `urgent_since`).
    episode: Option<Timestamp>,
    next: Duration,
}

/// Decides which applied events become alerts, coalesces them and counts unread urgent ones.
#[derive(Debug, Clone)]
pub struct AlertPolicy {
    me: User,
    prefs: AlertPreferences,
    window: Duration,
    /// Highest ticket version observed per ticket: replays are recognised by it.
    seen: HashMap<Id, i64>,
    comments_seen: HashSet<Id>,
    pending: Vec<Alert>,
    window_ends: Option<Duration>,
    /// Alerts raised before this (the last delivery + `window`) wait for it: they coalesce.
    coalesce_until: Option<Duration>,
    unread_urgent: BTreeSet<Id>,
    /// Local wall-clock time at a moment of `now` (local time advances with `now` from there).
    local: Option<(Duration, NaiveDateTime)>,
    /// Tickets seen awaiting acknowledgement (for the inbox's `awaiting_ack`).
    unacknowledged: HashSet<Id>,
    reminders: BTreeMap<Id, Reminder>,
    /// Urgent episodes already escalated: (ticket, `urgent_since`).
    escalated: HashSet<(Id, Option<Timestamp>)>,
    /// Snoozed tickets and when (in `now` terms) their snooze ends.
    snoozed: HashMap<Id, Duration>,
    focused: Option<Id>,
    lanes: HashMap<Id, String>,
    members: HashMap<Id, String>,
    inbox: Inbox,
    inbox_changed: bool,
    withdrawals: Vec<Id>,
    muted: Vec<Alert>,
    in_place: Vec<Alert>,
}

impl AlertPolicy {
    pub fn new(me: User, prefs: AlertPreferences) -> Self {
        AlertPolicy {
            me,
            prefs,
            window: DEFAULT_WINDOW,
            seen: HashMap::new(),
            comments_seen: HashSet::new(),
            pending: Vec::new(),
            window_ends: None,
            coalesce_until: None,
            unread_urgent: BTreeSet::new(),
            local: None,
            unacknowledged: HashSet::new(),
            reminders: BTreeMap::new(),
            escalated: HashSet::new(),
            snoozed: HashMap::new(),
            focused: None,
            lanes: HashMap::new(),
            members: HashMap::new(),
            inbox: Inbox::default(),
            inbox_changed: false,
            withdrawals: Vec::new(),
            muted: Vec::new(),
            in_place: Vec::new(),
        }
    }

    /// Sets the coalescing window (zero: every alert is delivered on the next poll).
    pub fn with_window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// The user alerts are for (their own actions never alert).
    pub fn me(&self) -> &User {
        &self.me
    }

    pub fn preferences(&self) -> &AlertPreferences {
        &self.prefs
    }

    /// New preferences. Alerts waiting for their window that are now muted go to the inbox
    /// unshown ([`AlertPolicy::take_muted`]); a reminder interval change applies from the
    /// next reminder of each ticket on.
    pub fn set_preferences(&mut self, prefs: AlertPreferences) {
        self.prefs = prefs;
        let now = self.local.map(|(at, _)| at).unwrap_or_default();
        let (muted, kept): (Vec<Alert>, Vec<Alert>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|a| self.is_muted(a.kind, now));
        self.muted.extend(muted);
        if kept.is_empty() {
            self.window_ends = None;
        }
        self.pending = kept;
    }

    /// The local wall-clock time at `now` (the pump sets it before each observe and poll; the
    /// policy advances it with `now` in between). Without it, quiet hours never apply.
    pub fn set_local_time(&mut self, now: Duration, local: NaiveDateTime) {
        self.local = Some((now, local));
    }

    fn local_at(&self, now: Duration) -> Option<NaiveDateTime> {
        let (at, local) = self.local?;
        let delta = chrono::Duration::from_std(now.saturating_sub(at)).ok()?;
        local.checked_add_signed(delta)
    }

    /// Lane names, for the alerts' `lane`.
    pub fn set_lanes<'a>(&mut self, lanes: impl IntoIterator<Item = &'a Lane>) {
        self.lanes = lanes.into_iter().map(|l| (l.id, l.name.clone())).collect();
    }

    /// Member names, for the alerts' `made_urgent_by`.
    pub fn set_members<'a>(&mut self, members: impl IntoIterator<Item = &'a Member>) {
        self.members = members
            .into_iter()
            .map(|m| (m.id, m.name.clone()))
            .collect();
    }

    /// Whether `user_id` is a known member (the server's own actor and me count as known).
    pub fn knows_user(&self, user_id: Id) -> bool {
        user_id == deskbell_protocol::SERVER_ACTOR
            || user_id == self.me.id
            || self.members.contains_key(&user_id)
    }

    /// The ticket open in the focused window (`None`: none, or the window is not focused).
    pub fn set_focused(&mut self, ticket_id: Option<Id>) {
        self.focused = ticket_id;
    }

    /// Snoozes a ticket: no alert nor reminder for it until then (it still counts and still
    /// goes to the inbox). Its shown notification is withdrawn.
    pub fn snooze(&mut self, ticket_id: Id, snooze: Snooze, now: Duration) {
        let until = match (snooze, self.local_at(now)) {
            (Snooze::Minutes15, _) => now + Duration::from_secs(15 * 60),
            (Snooze::Hour, _) => now + Duration::from_secs(3600),
            (Snooze::UntilTomorrow, Some(local)) => {
                let end = snooze.until_local(local, &self.prefs.quiet_hours);
                now + (end - local).to_std().unwrap_or_default()
            }
            // No local time known: a day is the closest honest reading of "tomorrow".
            (Snooze::UntilTomorrow, None) => now + Duration::from_secs(24 * 3600),
        };
        self.snoozed.insert(ticket_id, until);
        if let Some(r) = self.reminders.get_mut(&ticket_id) {
            r.next = r.next.max(until);
        }
        let (muted, kept): (Vec<Alert>, Vec<Alert>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|a| a.ticket_ids == [ticket_id]);
        self.muted.extend(muted);
        if kept.is_empty() {
            self.window_ends = None;
        }
        self.pending = kept;
        self.withdrawals.push(ticket_id);
    }

    /// When the ticket's snooze ends (`None`: not snoozed, or it has ended by `now`).
    pub fn snoozed_until(&self, ticket_id: Id, now: Duration) -> Option<Duration> {
        self.snoozed.get(&ticket_id).copied().filter(|&u| u > now)
    }

    fn is_snoozed(&self, ticket_id: Id, now: Duration) -> bool {
        self.snoozed_until(ticket_id, now).is_some()
    }

    /// Whether do-not-disturb or quiet hours hold back an alert of this kind at `now`.
    pub fn is_muted(&self, kind: AlertKind, now: Duration) -> bool {
        let quiet = self
            .local_at(now)
            .is_some_and(|l| self.prefs.quiet_hours.active_at(l));
        (self.prefs.do_not_disturb || quiet) && !(self.prefs.urgent_breaks_dnd && kind.is_urgent())
    }

    /// Convenience for the usual wiring: feeds what [`crate::board::Board::apply`] returned
    /// (events that changed no ticket are ignored, except escalations, which change none).
    pub fn observe_applied(
        &mut self,
        resource: Resource,
        event: &EventEnvelope,
        applied: &Applied,
        now: Duration,
    ) {
        if let Some(change) = &applied.ticket {
            self.observe(resource, event, change.before.as_ref(), now);
            if change.after.is_none() {
                if let Some(id) = event.ticket_ref() {
                    self.forget(id);
                }
            }
        } else if event.action == EventAction::Escalate {
            self.observe(resource, event, None, now);
        }
    }

    /// A ticket left the board (deleted, or out of sight): no more alerts, count or reminders.
    pub fn forget(&mut self, ticket_id: Id) {
        self.stop_waiting(ticket_id);
        self.unread_urgent.remove(&ticket_id);
        self.snoozed.remove(&ticket_id);
        self.pending.retain(|a| a.ticket_ids != [ticket_id]);
        if self.pending.is_empty() {
            self.window_ends = None;
        }
    }

    /// The ticket no longer awaits acknowledgement: its reminders stop and its notification
    /// is withdrawn.
    fn stop_waiting(&mut self, ticket_id: Id) {
        let was = self.unacknowledged.remove(&ticket_id);
        let reminded = self.reminders.remove(&ticket_id).is_some();
        if was || reminded {
            self.inbox_changed = true;
        }
        if reminded || self.unread_urgent.contains(&ticket_id) {
            self.withdrawals.push(ticket_id);
        }
    }

    /// Feeds one applied event; `before` is the ticket as the board had it before the event
    /// (`None`: it was not on the board).
    pub fn observe(
        &mut self,
        resource: Resource,
        event: &EventEnvelope,
        before: Option<&Ticket>,
        now: Duration,
    ) {
        if resource == Resource::Ticket && event.action == EventAction::Delete {
            if let Some(id) = event.ticket_ref() {
                self.forget(id);
            }
            return;
        }
        let Some(ticket) = &event.ticket else { return };
        if matches!(
            resource,
            Resource::Lane | Resource::Sync | Resource::Session
        ) {
            return;
        }
        if resource == Resource::Ticket && event.action == EventAction::Escalate {
            self.observe_escalation(event, ticket, now);
            return;
        }
        let id = ticket.id;
        match self.seen.get(&id) {
            Some(&v) if v >= ticket.version => return, // a replay: already judged
            _ => {
                self.seen.insert(id, ticket.version);
            }
        }
        if ticket.awaits_acknowledgement() {
            if self.unacknowledged.insert(id) {
                self.inbox_changed = true;
            }
        } else {
            // Acknowledged (by anyone), de-escalated or closed: withdrawn, no longer counted.
            self.stop_waiting(id);
            self.unread_urgent.remove(&id);
        }
        if event.user_id == self.me.id {
            return;
        }
        let mine = ticket.assignee_id == Some(self.me.id);
        let alert = if resource == Resource::Ticket
            && ticket.priority == Priority::Urgent
            && before.is_none_or(|b| b.priority != Priority::Urgent)
        {
            let how = match (event.action, before) {
                (EventAction::Create, _) => "New urgent ticket",
                (_, None) => "Urgent ticket",
                _ => "Escalated to urgent",
            };
            let mut body = format!("{how}: {}", requester_line(ticket));
            if mine {
                body.push_str(" — assigned to you");
            }
            self.unread_urgent.insert(id);
            let mut alert =
                self.ticket_alert(AlertKind::Urgent, ticket, ticket.title.clone(), body);
            alert.made_urgent_by = ticket
                .urgent_by
                .or(Some(event.user_id))
                .and_then(|u| self.members.get(&u).cloned());
            Some(alert)
        } else if resource == Resource::Ticket
            && self.prefs.level >= AlertLevel::AlsoAssignedToMe
            && mine
            && before.is_none_or(|b| b.assignee_id != Some(self.me.id))
        {
            let body = format!("Assigned to you: {}", requester_line(ticket));
            Some(self.ticket_alert(AlertKind::AssignedToMe, ticket, ticket.title.clone(), body))
        } else if resource == Resource::Comment
            && event.action == EventAction::Create
            && self.prefs.level >= AlertLevel::AlsoCommentsOnMine
            && mine
        {
            let comment = event
                .comment
                .as_ref()
                .filter(|c| c.author_id != self.me.id && self.comments_seen.insert(c.id))
                .map(|c| preview(&c.body));
            comment.map(|body| {
                self.ticket_alert(
                    AlertKind::Comment,
                    ticket,
                    format!("New comment on {}", ticket.title),
                    body,
                )
            })
        } else {
            None
        };
        if let Some(alert) = alert {
            self.raise(alert, ticket, event.timestamp, now);
        }
    }

    /// The board as it stands after a sync (sign-in, a reconnect's replay, a reset after a gap
    /// the event log could not fill, a new sign-in after the session ended): where no event
    /// told the story, the board is the truth.
    /// - An urgent ticket awaiting acknowledgement that nobody alerted here yet (already urgent
    ///   when the app signed in, made urgent during a gap, or while signed out) is alerted now —
    ///   several come out as one summary at the next poll — and reminded of from then on. Not
    ///   one that I made urgent myself (my own actions never alert).
    /// - A ticket alerted before keeps its reminders' pace, unless its urgent episode changed
    ///   meanwhile (a new episode is alerted anew).
    /// - A ticket acknowledged, de-escalated or closed meanwhile, or no longer on the board, is
    ///   withdrawn and stops counting.
    ///
    /// The board may be ahead of the events judged so far: a ticket alerted here is marked
    /// seen at its version, so that the event that brought that version alerts nothing more.
    pub fn reconcile<'a>(&mut self, board: impl IntoIterator<Item = &'a Ticket>, now: Duration) {
        let tickets: Vec<&Ticket> = board.into_iter().collect();
        let on_board: HashSet<Id> = tickets.iter().map(|t| t.id).collect();
        let gone: BTreeSet<Id> = self
            .unacknowledged
            .iter()
            .chain(self.reminders.keys())
            .chain(self.unread_urgent.iter())
            .copied()
            .filter(|id| !on_board.contains(id))
            .collect();
        for id in gone {
            self.forget(id);
        }
        for ticket in tickets {
            let id = ticket.id;
            if !ticket.awaits_acknowledgement() {
                self.stop_waiting(id);
                self.unread_urgent.remove(&id);
                continue;
            }
            if self.unacknowledged.insert(id) {
                self.inbox_changed = true;
            }
            let same_episode = self
                .reminders
                .get(&id)
                .is_some_and(|r| r.episode == ticket.urgent_since);
            if same_episode || ticket.urgent_by == Some(self.me.id) {
                continue;
            }
            self.reminders.remove(&id);
            let seen = self.seen.entry(id).or_insert(ticket.version);
            *seen = (*seen).max(ticket.version);
            let mut body = format!("Urgent, not yet acknowledged: {}", requester_line(ticket));
            if ticket.assignee_id == Some(self.me.id) {
                body.push_str(" — assigned to you");
            }
            self.unread_urgent.insert(id);
            let mut alert =
                self.ticket_alert(AlertKind::Urgent, ticket, ticket.title.clone(), body);
            alert.made_urgent_by = ticket.urgent_by.and_then(|u| self.members.get(&u).cloned());
            let at = ticket.urgent_since.unwrap_or(ticket.updated_at);
            self.raise(alert, ticket, at, now);
        }
    }

    /// The session ended (signed out by the server): nothing shown stays, nothing is counted
    /// or reminded of — this user can act on none of it until they sign in again, and then
    /// [`AlertPolicy::reconcile`] starts over from the board. The inbox and snoozes stay.
    pub fn suspend(&mut self) {
        let shown: BTreeSet<Id> = self
            .reminders
            .keys()
            .chain(self.unread_urgent.iter())
            .copied()
            .collect();
        self.withdrawals.extend(shown);
        if !self.unacknowledged.is_empty() {
            self.inbox_changed = true;
        }
        self.unacknowledged.clear();
        self.reminders.clear();
        self.unread_urgent.clear();
        self.pending.clear();
        self.window_ends = None;
    }

    /// An `escalate` event: judged by its episode, not by version (it changes none).
    fn observe_escalation(&mut self, event: &EventEnvelope, ticket: &Ticket, now: Duration) {
        let key = (ticket.id, ticket.urgent_since);
        // A newer version is known: the ticket moved on (acknowledged, de-escalated) since.
        let stale = self
            .seen
            .get(&ticket.id)
            .is_some_and(|&v| v > ticket.version);
        if !self.escalated.insert(key) || stale || !ticket.awaits_acknowledgement() {
            return;
        }
        let waited = ticket
            .urgent_since
            .map(|since| (event.timestamp - since).num_minutes().max(0));
        let body = match waited {
            Some(m) => format!("Nobody has acknowledged #{} in {m} min", ticket.id),
            None => format!("Nobody has acknowledged #{} yet", ticket.id),
        };
        if self.unacknowledged.insert(ticket.id) {
            self.inbox_changed = true;
        }
        self.unread_urgent.insert(ticket.id);
        let mut alert = self.ticket_alert(AlertKind::Escalated, ticket, ticket.title.clone(), body);
        alert.waited_minutes = waited;
        alert.made_urgent_by = ticket.urgent_by.and_then(|u| self.members.get(&u).cloned());
        self.raise(alert, ticket, event.timestamp, now);
    }

    fn ticket_alert(&self, kind: AlertKind, ticket: &Ticket, title: String, body: String) -> Alert {
        Alert {
            ticket_number: Some(ticket.id),
            requester: Some(ticket.requester.name.clone()),
            lane: Some(
                ticket
                    .lane_id
                    .and_then(|l| self.lanes.get(&l).cloned())
                    .unwrap_or_else(|| "No lane".to_string()),
            ),
            sound: self.prefs.sound && kind.is_urgent(),
            ..Alert::simple(kind, vec![ticket.id], title, body)
        }
    }

    /// Routes a new single-ticket alert: in place, muted (inbox only) or to the window; and
    /// starts reminders for an urgent ticket awaiting acknowledgement.
    fn raise(&mut self, alert: Alert, ticket: &Ticket, at: Timestamp, now: Duration) {
        let id = ticket.id;
        if alert.kind.is_urgent() && ticket.awaits_acknowledgement() {
            // With reminders off the schedule is kept at the default pace, so that switching
            // them on later does not remind of everything at once.
            let every = self.reminder_every().unwrap_or(Duration::from_secs(
                u64::from(DEFAULT_REMINDER_MINUTES) * 60,
            ));
            let next = now + every;
            let next = self.snoozed_until(id, now).map_or(next, |u| next.max(u));
            // A later alert of the same episode (an escalation) keeps the reminders' pace.
            self.reminders.entry(id).or_insert_with(|| Reminder {
                alert: alert.clone(),
                episode: ticket.urgent_since,
                next,
            });
        }
        let focused = self.focused == Some(id);
        self.inbox.record(&alert, at, focused);
        self.inbox_changed = true;
        if focused {
            self.in_place.push(alert);
        } else if self.is_snoozed(id, now) || self.is_muted(alert.kind, now) {
            self.muted.push(alert);
        } else {
            if self.pending.is_empty() {
                // Leading edge: out at the next poll, unless a delivery was just made.
                self.window_ends = Some(self.coalesce_until.map_or(now, |until| until.max(now)));
            }
            self.pending.push(alert);
        }
    }

    fn reminder_every(&self) -> Option<Duration> {
        (self.prefs.reminder_minutes > 0)
            .then(|| Duration::from_secs(u64::from(self.prefs.reminder_minutes) * 60))
    }

    /// When to call [`AlertPolicy::poll`] next: the current window's end, the next reminder
    /// (which a snooze postpones to its end), if any.
    pub fn next_deadline(&self) -> Option<Duration> {
        let reminder = self
            .reminder_every()
            .and_then(|_| self.reminders.values().map(|r| r.next).min());
        match (self.window_ends, reminder) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The alerts to show now: what the closed window collected, and the reminders due.
    pub fn poll(&mut self, now: Duration) -> Vec<Alert> {
        let mut alerts = match self.window_ends {
            Some(end) if now >= end => {
                self.window_ends = None;
                std::mem::take(&mut self.pending)
            }
            _ => Vec::new(),
        };
        // Muted since they were raised (quiet hours began, DND switched on): inbox only.
        let (muted, shown): (Vec<Alert>, Vec<Alert>) = alerts.drain(..).partition(|a| {
            self.is_muted(a.kind, now) || a.ticket_ids.iter().any(|&t| self.is_snoozed(t, now))
        });
        self.muted.extend(muted);
        alerts = shown;
        // A ticket alerted now (e.g. escalated) is not also reminded of: its pace restarts.
        if let Some(every) = self.reminder_every() {
            for id in alerts
                .iter()
                .filter(|a| !a.summary)
                .flat_map(|a| a.ticket_ids.clone())
            {
                if let Some(r) = self.reminders.get_mut(&id) {
                    r.next = r.next.max(now + every);
                }
            }
        }
        alerts.extend(self.due_reminders(now));
        if !alerts.is_empty() {
            self.coalesce_until = Some(now + self.window);
        }
        if alerts.len() <= 1 {
            return alerts;
        }
        // Escalated and urgent first, arrival order otherwise.
        alerts.sort_by_key(|a| match a.kind {
            AlertKind::Escalated => 0,
            AlertKind::Urgent => 1,
            _ => 2,
        });
        vec![summarize(&alerts)]
    }

    /// Closes the current window now (the desk's shutdown): no reminders.
    pub fn flush(&mut self, now: Duration) -> Vec<Alert> {
        if self.window_ends.is_some() {
            self.window_ends = Some(now);
        }
        let reminders = std::mem::take(&mut self.reminders);
        let out = self.poll(now);
        self.reminders = reminders;
        out
    }

    fn due_reminders(&mut self, now: Duration) -> Vec<Alert> {
        let Some(every) = self.reminder_every() else {
            return Vec::new();
        };
        let due: Vec<Id> = self
            .reminders
            .iter()
            .filter(|(_, r)| r.next <= now)
            .map(|(&id, _)| id)
            .collect();
        let mut out = Vec::new();
        for id in due {
            let muted_or_snoozed = {
                let r = &self.reminders[&id];
                self.is_snoozed(id, now) || self.is_muted(r.alert.kind, now)
            };
            let focused = self.focused == Some(id);
            let sound = self.prefs.sound && self.prefs.sound_with_reminders;
            let Some(r) = self.reminders.get_mut(&id) else {
                continue;
            };
            r.next = now + every;
            if muted_or_snoozed {
                continue; // counted already; nothing to show
            }
            let mut alert = r.alert.clone();
            alert.reminder = true;
            alert.sound = sound && alert.kind.is_urgent();
            if !alert.body.starts_with("Still unacknowledged") {
                alert.body = format!("Still unacknowledged — {}", alert.body);
            }
            if focused {
                self.in_place.push(alert);
            } else {
                out.push(alert);
            }
        }
        out
    }

    /// Alerts decided but held back (do-not-disturb, quiet hours, snooze): the desk reports
    /// them as not shown.
    pub fn take_muted(&mut self) -> Vec<Alert> {
        std::mem::take(&mut self.muted)
    }

    /// Alerts for the focused ticket: the UI shows them in place instead.
    pub fn take_in_place(&mut self) -> Vec<Alert> {
        std::mem::take(&mut self.in_place)
    }

    /// Tickets whose shown notification must be withdrawn (acknowledged, de-escalated, closed,
    /// gone, snoozed).
    pub fn take_withdrawals(&mut self) -> Vec<Id> {
        let mut ids = std::mem::take(&mut self.withdrawals);
        ids.dedup();
        ids
    }

    /// Whether the inbox changed since the last call.
    pub fn take_inbox_changed(&mut self) -> bool {
        std::mem::take(&mut self.inbox_changed)
    }

    /// The inbox as listed (unacknowledged urgent first, then newest first).
    pub fn inbox(&self) -> Vec<InboxEntry> {
        self.inbox.list(|id| self.unacknowledged.contains(&id))
    }

    pub fn inbox_unread(&self) -> usize {
        self.inbox.unread()
    }

    pub fn mark_inbox_read(&mut self) {
        if self.inbox.mark_all_read() {
            self.inbox_changed = true;
        }
    }

    /// Drops a ticket's inbox entries (it was deleted).
    pub fn forget_inbox(&mut self, ticket_id: Id) {
        if self.inbox.forget_ticket(ticket_id) {
            self.inbox_changed = true;
        }
    }

    /// Whether the ticket is urgent and awaits acknowledgement, as last seen.
    pub fn awaits_acknowledgement(&self, ticket_id: Id) -> bool {
        self.unacknowledged.contains(&ticket_id)
    }

    /// Urgent tickets alerted (even under do-not-disturb) and not yet opened: the tray count.
    pub fn unread_urgent(&self) -> usize {
        self.unread_urgent.len()
    }

    /// The user opened this ticket.
    pub fn mark_read(&mut self, ticket_id: Id) {
        self.unread_urgent.remove(&ticket_id);
    }

    /// The user opened the app on the board.
    pub fn mark_all_read(&mut self) {
        self.unread_urgent.clear();
    }
}

fn requester_line(ticket: &Ticket) -> String {
    match &ticket.last_message {
        Some(m) if !m.trim().is_empty() => format!("{} — {}", ticket.requester.name, preview(m)),
        _ => ticket.requester.name.clone(),
    }
}

fn preview(text: &str) -> String {
    const MAX: usize = 140;
    let text = text.trim();
    if text.chars().count() <= MAX {
        text.to_string()
    } else {
        let cut: String = text.chars().take(MAX - 1).collect();
        format!("{cut}…")
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// What an OS notification says: for one ticket, its number before the title, and after the
/// alert's text a line with the requester, the lane and who made it urgent (an escalation's text
/// already says how long it has waited); a summary as it is.
pub fn notification_text(alert: &Alert) -> (String, String) {
    let Some(number) = alert.ticket_number.filter(|_| !alert.summary) else {
        return (alert.title.clone(), alert.body.clone());
    };
    let summary = format!("#{number} {}", alert.title);
    let mut facts: Vec<String> = Vec::new();
    if let Some(requester) = alert.requester.as_deref() {
        if alert.kind == AlertKind::Escalated || !alert.body.contains(requester) {
            facts.push(format!("From {requester}"));
        }
    }
    if let Some(lane) = alert.lane.as_deref() {
        facts.push(lane.to_string());
    }
    if let Some(by) = alert.made_urgent_by.as_deref() {
        facts.push(format!("made urgent by {by}"));
    }
    let mut body = alert.body.clone();
    if !facts.is_empty() {
        body.push('\n');
        body.push_str(&facts.join(" · "));
    }
    (summary, body)
}

fn summarize(alerts: &[Alert]) -> Alert {
    let urgent = alerts.iter().filter(|a| a.kind.is_urgent()).count();
    let others = alerts.len() - urgent;
    let title = match (urgent, others) {
        (0, n) => plural(n, "ticket update", "ticket updates"),
        (u, 0) => plural(u, "urgent ticket", "urgent tickets"),
        (u, n) => format!(
            "{}, {}",
            plural(u, "urgent ticket", "urgent tickets"),
            plural(n, "other update", "other updates")
        ),
    };
    let mut ticket_ids: Vec<Id> = Vec::new();
    for id in alerts.iter().flat_map(|a| a.ticket_ids.iter().copied()) {
        if !ticket_ids.contains(&id) {
            ticket_ids.push(id);
        }
    }
    let mut lines: Vec<String> = alerts
        .iter()
        .take(SUMMARY_LINES)
        .map(|a| match a.kind {
            AlertKind::Urgent => format!("• {}", a.title),
            _ => format!("• {} ({})", a.title, a.body),
        })
        .collect();
    if alerts.len() > SUMMARY_LINES {
        lines.push(format!("and {} more", alerts.len() - SUMMARY_LINES));
    }
    let kind = if alerts.iter().any(|a| a.kind == AlertKind::Escalated) {
        AlertKind::Escalated
    } else if urgent > 0 {
        AlertKind::Urgent
    } else {
        alerts[0].kind
    };
    Alert {
        summary: true,
        reminder: alerts.iter().all(|a| a.reminder),
        sound: alerts.iter().any(|a| a.sound),
        ..Alert::simple(kind, ticket_ids, title, lines.join("\n"))
    }
}

// ------------------------------------------------------------------ notifiers

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    /// No notification service could be reached.
    #[error("notifications are unavailable: {0}")]
    Unavailable(String),
    /// The service refused or failed to show the notification.
    #[error("the notification could not be shown: {0}")]
    Failed(String),
}

impl NotifyError {
    /// A stable, machine-readable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            NotifyError::Unavailable(_) => ClientErrorCode::NotificationsUnavailable.into(),
            NotifyError::Failed(_) => ClientErrorCode::NotificationFailed.into(),
        }
    }
}

/// What the user chose on a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub enum NotificationAction {
    /// Clicked the notification or "Open": open the app on the ticket(s).
    Open,
    /// "Acknowledge": the core acknowledges the ticket on the server.
    Acknowledge,
    /// "Assign to me": the core assigns the ticket to the signed-in user.
    AssignToMe,
}

impl NotificationAction {
    /// The action key as notifications carry it (`default` is the body click).
    pub fn from_key(key: &str) -> Option<NotificationAction> {
        match key {
            "default" | "open" => Some(NotificationAction::Open),
            "acknowledge" => Some(NotificationAction::Acknowledge),
            "assign" => Some(NotificationAction::AssignToMe),
            _ => None,
        }
    }
}

/// The actions a notification offers, as (key, label). `default` is what a click on the body
/// invokes (servers do not show it as a button).
pub fn actions_for(alert: &Alert) -> Vec<(&'static str, &'static str)> {
    let mut actions = vec![("default", "Open"), OPEN_ACTION];
    if !alert.summary && alert.kind.is_urgent() {
        actions.push(("acknowledge", "Acknowledge"));
        actions.push(("assign", "Assign to me"));
    }
    actions
}

/// What comes back from shown notifications.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum NotifierEvent {
    /// The user chose an action on a notification about `ticket_ids` (a summary: several).
    #[serde(rename_all = "camelCase")]
    Action {
        ticket_ids: Vec<Id>,
        action: NotificationAction,
    },
    /// Showing a notification failed after `notify` returned (it is shown off the caller's
    /// thread).
    #[serde(rename_all = "camelCase")]
    Failed { ticket_ids: Vec<Id>, error: String },
}

/// Shows alerts. Implementations must not block the caller (it may be an async task).
pub trait Notifier: Send + Sync {
    fn notify(&self, alert: &Alert) -> Result<(), NotifyError>;
    /// Closes what is shown about this ticket (it was acknowledged, de-escalated, closed,
    /// deleted or snoozed). Nothing shown: nothing to do.
    fn withdraw(&self, ticket_id: Id);
}

/// A fake notifier for tests: records alerts and withdrawals; can be told to fail.
#[derive(Debug, Default)]
pub struct RecordingNotifier {
    alerts: Mutex<Vec<Alert>>,
    withdrawn: Mutex<Vec<Id>>,
    fail_with: Mutex<Option<NotifyError>>,
}

impl RecordingNotifier {
    pub fn new() -> Self {
        RecordingNotifier::default()
    }

    /// Alerts shown so far.
    pub fn alerts(&self) -> Vec<Alert> {
        self.alerts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Alerts shown so far, forgetting them.
    pub fn take(&self) -> Vec<Alert> {
        std::mem::take(&mut *self.alerts.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Tickets withdrawn so far, in order.
    pub fn withdrawals(&self) -> Vec<Id> {
        self.withdrawn
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Makes every following `notify` fail with `error` (`None`: succeed again).
    pub fn fail_with(&self, error: Option<NotifyError>) {
        *self.fail_with.lock().unwrap_or_else(|e| e.into_inner()) = error;
    }
}

impl Notifier for RecordingNotifier {
    fn notify(&self, alert: &Alert) -> Result<(), NotifyError> {
        if let Some(e) = self
            .fail_with
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            return Err(e);
        }
        self.alerts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(alert.clone());
        Ok(())
    }

    fn withdraw(&self, ticket_id: Id) {
        self.withdrawn
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(ticket_id);
    }
}

/// The "Open" button every notification offers.
pub const OPEN_ACTION: (&str, &str) = ("open", "Open");

/// Application name notifications are sent under.
pub const APP_NAME: &str = "Deskbell";

/// The app icon shown with notifications (written to the cache directory once).
const ICON_PNG: &[u8] = include_bytes!("../assets/icon.png");

/// Real OS notifications through `notify-rust` (on Linux: `org.freedesktop.Notifications` on
/// the session bus; urgent and escalated alerts with urgency critical, the actions of
/// [`actions_for`], the app icon and, when the alert asks for sound, the `sound-file` hint).
///
/// Each notification is shown on a blocking thread (tokio's blocking pool when called inside
/// a runtime), which then waits for the user's action and reports it on the channel: `notify`
/// itself never blocks. A failure to show is reported as [`NotifierEvent::Failed`].
///
/// Sound: when the notification server does not advertise the `sound` capability
/// (`GetCapabilities`, asked once), the chime is played by the app ([`crate::sound`]).
///
/// A wait lasts until the user acts on the notification or it is closed, and desktops keep
/// critical notifications until the user dismisses them: so that a busy day cannot pile up
/// waiting threads (and, past the blocking pool's size, stop new notifications from showing),
/// at most [`DesktopNotifier::MAX_OPEN`] are kept open; showing one more closes the oldest
/// (`CloseNotification`), which ends its wait. [`Notifier::withdraw`] closes the ones showing
/// a ticket the same way.
#[derive(Clone)]
pub struct DesktopNotifier {
    events: tokio::sync::mpsc::Sender<NotifierEvent>,
    open: Arc<OpenNotifications>,
    sound: Arc<dyn crate::sound::SoundPlayer>,
    /// Whether the notification server plays sounds itself (asked once).
    server_sound: Arc<std::sync::OnceLock<bool>>,
}

impl std::fmt::Debug for DesktopNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DesktopNotifier")
            .field("open", &self.open)
            .finish_non_exhaustive()
    }
}

/// The notifications being waited on, oldest first, with the tickets each shows.
#[derive(Debug)]
struct OpenNotifications {
    limit: usize,
    state: Mutex<OpenState>,
}

#[derive(Debug, Default)]
struct OpenState {
    /// Shown and waited on, oldest first: (notification id, the tickets it still stands for).
    shown: std::collections::VecDeque<(u32, Vec<Id>)>,
    /// Handed to the notification server, not yet answered with an id: their tickets, by a
    /// token. A withdrawal in that gap is remembered here, so that the notification is closed
    /// as soon as it has an id instead of staying on screen.
    showing: HashMap<u64, Vec<Id>>,
    next_token: u64,
}

/// What to do once a notification has its id.
#[derive(Debug, PartialEq, Eq)]
struct Shown {
    /// The oldest notification, to close to stay within the limit.
    evict: Option<u32>,
    /// Its tickets were all withdrawn while it was being shown: close it now.
    withdrawn: bool,
}

impl OpenNotifications {
    fn lock(&self) -> std::sync::MutexGuard<'_, OpenState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Notes a notification about to be shown; answers its token for [`Self::shown`].
    fn showing(&self, tickets: Vec<Id>) -> u64 {
        let mut state = self.lock();
        state.next_token += 1;
        let token = state.next_token;
        state.showing.insert(token, tickets);
        token
    }

    /// Notes that the notification of `token` is shown as `id`.
    fn shown(&self, token: u64, id: u32) -> Shown {
        let mut state = self.lock();
        let tickets = state.showing.remove(&token).unwrap_or_default();
        if tickets.is_empty() {
            return Shown {
                evict: None,
                withdrawn: true,
            };
        }
        state.shown.push_back((id, tickets));
        let evict = (state.shown.len() > self.limit)
            .then(|| state.shown.pop_front().map(|(id, _)| id))
            .flatten();
        Shown {
            evict,
            withdrawn: false,
        }
    }

    /// Forgets the notification of `token`, which could not be shown.
    fn failed(&self, token: u64) {
        self.lock().showing.remove(&token);
    }

    fn ended(&self, id: u32) {
        self.lock().shown.retain(|(open, _)| *open != id);
    }

    /// The notifications to close when `ticket_id` is withdrawn: those showing only it. A
    /// summary stays while it still names other tickets (the withdrawn one is dropped from it).
    /// Notifications still being shown drop it too, and close once shown if nothing is left.
    fn withdraw(&self, ticket_id: Id) -> Vec<u32> {
        let mut state = self.lock();
        for tickets in state.showing.values_mut() {
            tickets.retain(|&t| t != ticket_id);
        }
        let mut close = Vec::new();
        for (id, tickets) in state.shown.iter_mut() {
            if tickets.contains(&ticket_id) {
                tickets.retain(|&t| t != ticket_id);
                if tickets.is_empty() {
                    close.push(*id);
                }
            }
        }
        close
    }

    fn count(&self) -> usize {
        self.lock().shown.len()
    }
}

impl DesktopNotifier {
    /// Notifications kept open (and waited on) at most.
    pub const MAX_OPEN: usize = 32;

    pub fn new(events: tokio::sync::mpsc::Sender<NotifierEvent>) -> Self {
        Self::with_max_open(events, Self::MAX_OPEN)
    }

    /// As [`DesktopNotifier::new`], keeping at most `max_open` notifications open (at least 1).
    pub fn with_max_open(
        events: tokio::sync::mpsc::Sender<NotifierEvent>,
        max_open: usize,
    ) -> Self {
        DesktopNotifier {
            events,
            open: Arc::new(OpenNotifications {
                limit: max_open.max(1),
                state: Mutex::new(Default::default()),
            }),
            sound: Arc::new(crate::sound::SystemSoundPlayer::new()),
            server_sound: Arc::new(std::sync::OnceLock::new()),
        }
    }

    /// Plays sounds through `player` when the notification server does not.
    pub fn with_sound_player(mut self, player: Arc<dyn crate::sound::SoundPlayer>) -> Self {
        self.sound = player;
        self
    }

    /// How many shown notifications are still open and waited on.
    pub fn open_count(&self) -> usize {
        self.open.count()
    }

    fn notification(alert: &Alert) -> notify_rust::Notification {
        let mut n = notify_rust::Notification::new();
        let (summary, body) = notification_text(alert);
        n.appname(APP_NAME).summary(&summary).body(&body);
        for (key, label) in actions_for(alert) {
            n.action(key, label);
        }
        if let Some(icon) = cached_asset("deskbell-icon.png", ICON_PNG) {
            n.icon(&icon.to_string_lossy());
        }
        if alert.sound {
            #[cfg(all(unix, not(target_os = "macos")))]
            match cached_asset("urgent.wav", crate::sound::URGENT_WAV) {
                Some(path) => {
                    n.hint(notify_rust::Hint::SoundFile(
                        path.to_string_lossy().into_owned(),
                    ));
                }
                None => {
                    n.hint(notify_rust::Hint::SoundName("message-new-instant".into()));
                }
            }
            // macOS and Windows play their own named sounds with the notification.
            #[cfg(target_os = "macos")]
            n.sound_name("Glass");
            #[cfg(target_os = "windows")]
            n.sound_name("IM");
        }
        #[cfg(all(unix, not(target_os = "macos")))]
        n.urgency(if alert.kind.is_urgent() {
            notify_rust::Urgency::Critical
        } else {
            notify_rust::Urgency::Normal
        });
        n
    }

    /// Whether the notification server plays sounds (the `sound` capability). Asked once;
    /// on macOS and Windows the system plays the notification's sound.
    fn server_plays_sound(&self) -> bool {
        *self.server_sound.get_or_init(|| {
            #[cfg(all(unix, not(target_os = "macos")))]
            {
                match notify_rust::get_capabilities() {
                    Ok(caps) => caps.iter().any(|c| c == "sound"),
                    Err(e) => {
                        tracing::debug!(error = %e, "notification capabilities unknown");
                        false
                    }
                }
            }
            #[cfg(not(all(unix, not(target_os = "macos"))))]
            {
                true
            }
        })
    }
}

/// Writes an embedded asset to the cache directory once (per process) and answers its path;
/// `None` when it cannot be written (notifications then go without it).
pub(crate) fn cached_asset(name: &str, bytes: &[u8]) -> Option<std::path::PathBuf> {
    static WRITTEN: Mutex<Option<HashMap<String, Option<std::path::PathBuf>>>> = Mutex::new(None);
    let mut written = WRITTEN.lock().unwrap_or_else(|e| e.into_inner());
    let written = written.get_or_insert_with(HashMap::new);
    if let Some(path) = written.get(name) {
        return path.clone();
    }
    let dir = dirs::cache_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("deskbell");
    let path = dir.join(name);
    let result = std::fs::create_dir_all(&dir).and_then(|()| {
        // Rewritten only when different, so a newer build's asset replaces an older one.
        match std::fs::read(&path) {
            Ok(existing) if existing == bytes => Ok(()),
            _ => std::fs::write(&path, bytes),
        }
    });
    let path = match result {
        Ok(()) => Some(path),
        Err(e) => {
            tracing::warn!(name, error = %e, "could not write a notification asset");
            None
        }
    };
    written.insert(name.to_string(), path.clone());
    path
}

impl Notifier for DesktopNotifier {
    fn notify(&self, alert: &Alert) -> Result<(), NotifyError> {
        let notification = Self::notification(alert);
        let events = self.events.clone();
        let ticket_ids = alert.ticket_ids.clone();
        let open = self.open.clone();
        let token = open.showing(ticket_ids.clone());
        let play = alert.sound.then(|| (self.clone(), self.sound.clone()));
        let job = move || {
            if let Some((me, player)) = play {
                if !me.server_plays_sound() {
                    player.play_urgent();
                }
            }
            show_and_wait(notification, ticket_ids, token, events, &open)
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn_blocking(job);
            }
            Err(_) => {
                std::thread::Builder::new()
                    .name("deskbell-notification".into())
                    .spawn(job)
                    .map_err(|e| NotifyError::Unavailable(e.to_string()))?;
            }
        }
        Ok(())
    }

    fn withdraw(&self, ticket_id: Id) {
        let ids = self.open.withdraw(ticket_id);
        if ids.is_empty() {
            return;
        }
        let job = move || {
            for id in ids {
                close_notification(id);
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn_blocking(job);
            }
            Err(_) => job(),
        }
    }
}

/// A plain notice from the app (not about a ticket: no actions, normal urgency, no sound),
/// e.g. that it keeps running in the tray. Blocks while the notification server answers.
pub fn show_notice(summary: &str, body: &str) -> Result<(), NotifyError> {
    let mut n = notify_rust::Notification::new();
    n.appname(APP_NAME).summary(summary).body(body);
    if let Some(icon) = cached_asset("deskbell-icon.png", ICON_PNG) {
        n.icon(&icon.to_string_lossy());
    }
    n.show()
        .map(|_| ())
        .map_err(|e| NotifyError::Unavailable(e.to_string()))
}

/// Runs on a blocking thread: shows, then waits for the action or the close.
fn show_and_wait(
    notification: notify_rust::Notification,
    ticket_ids: Vec<Id>,
    token: u64,
    events: tokio::sync::mpsc::Sender<NotifierEvent>,
    open: &OpenNotifications,
) {
    let shown = notification.show();
    match shown {
        Err(e) => {
            open.failed(token);
            tracing::warn!(error = %e, "could not show a notification");
            let _ = events.blocking_send(NotifierEvent::Failed {
                ticket_ids,
                error: e.to_string(),
            });
        }
        Ok(handle) => {
            if ticket_ids.is_empty() {
                open.failed(token);
                return;
            }
            #[cfg(all(unix, not(target_os = "macos")))]
            let id = {
                let id = handle.id();
                let shown = open.shown(token, id);
                if let Some(oldest) = shown.evict {
                    close_notification(oldest);
                }
                if shown.withdrawn {
                    // Withdrawn while the server was still showing it: close it now, and do
                    // not wait for it (the server's NotificationClosed may come before a wait
                    // would listen for it).
                    close_notification(id);
                    return;
                }
                id
            };
            #[cfg(not(all(unix, not(target_os = "macos"))))]
            open.failed(token);
            let waited =
                handle.wait_for_response(|response: &notify_rust::NotificationResponse| {
                    let key = match response {
                        notify_rust::NotificationResponse::Default => "default",
                        notify_rust::NotificationResponse::Action(key) => key.as_str(),
                        _ => return,
                    };
                    if let Some(action) = NotificationAction::from_key(key) {
                        let _ = events.blocking_send(NotifierEvent::Action {
                            ticket_ids: ticket_ids.clone(),
                            action,
                        });
                    }
                });
            if let Err(e) = waited {
                tracing::debug!(error = %e, "stopped waiting for a notification's action");
            }
            #[cfg(all(unix, not(target_os = "macos")))]
            open.ended(id);
            #[cfg(not(all(unix, not(target_os = "macos"))))]
            let _ = open;
        }
    }
}

/// Asks the notification server to close notification `id` (its waiting thread then ends).
#[cfg(target_os = "linux")]
fn close_notification(id: u32) {
    let closed = zbus::blocking::Connection::session().and_then(|bus| {
        bus.call_method(
            Some("org.freedesktop.Notifications"),
            "/org/freedesktop/Notifications",
            Some("org.freedesktop.Notifications"),
            "CloseNotification",
            &(id,),
        )
        .map(|_| ())
    });
    match closed {
        Ok(()) => tracing::debug!(id, "closed a notification"),
        Err(e) => tracing::warn!(id, error = %e, "could not close a notification"),
    }
}

#[cfg(not(target_os = "linux"))]
fn close_notification(id: u32) {
    // macOS and Windows notifications are not tracked by id here (notify-rust keeps no closing
    // call there that this could use from another thread): they stay until dismissed.
    tracing::debug!(id, "closing notifications is not supported here");
}

#[cfg(test)]
#[path = "alerts/tests.rs"]
mod tests;
