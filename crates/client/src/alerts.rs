//! Which events become OS notifications ([`AlertPolicy`]), and how they are shown
//! ([`Notifier`]: [`DesktopNotifier`] for real, [`RecordingNotifier`] in tests).
//!
//! The policy is pure: it is fed each event the board applied, with the ticket as it was
//! before, and the current time as a [`Duration`] since any fixed start (it never reads a
//! clock). Alerts are coalesced per window and come out of [`AlertPolicy::poll`].
//!
//! Rules (spec "Alerts"):
//! - alert when a visible ticket is created urgent, escalated to urgent (any change that makes
//!   it urgent), or appears on my board already urgent (e.g. assigned to me), by someone else;
//! - never for my own actions; one alert per ticket per escalation (urgent → high → urgent is
//!   two escalations; a replayed event is the same one: versions already seen are ignored);
//! - level [`AlertLevel::AlsoAssignedToMe`] adds "assigned to you" (by someone else);
//!   [`AlertLevel::AlsoCommentsOnMine`] adds that and comments by others on tickets assigned to me;
//! - alerts raised within one window (default 2 s from the first) are delivered together when
//!   it closes: one alert as is, several as one summary ("3 urgent tickets");
//! - do-not-disturb delivers nothing but still counts: [`AlertPolicy::unread_urgent`] is the
//!   tray's count of urgent tickets alerted and not yet opened (or de-escalated, or gone).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deskbell_protocol::{EventAction, EventEnvelope, Id, Priority, Resource, Ticket, User};
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

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase", default)]
pub struct AlertPreferences {
    pub level: AlertLevel,
    pub do_not_disturb: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub enum AlertKind {
    /// Created, escalated to or appeared as urgent.
    Urgent,
    /// Assigned to me by someone else.
    AssignedToMe,
    /// Someone else commented on a ticket assigned to me.
    Comment,
}

/// One notification to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// For a summary: [`AlertKind::Urgent`] if any of its alerts is urgent.
    pub kind: AlertKind,
    /// The ticket(s) concerned, most important first (urgent ones, then in arrival order).
    #[ts(type = "Array<number>")]
    pub ticket_ids: Vec<Id>,
    /// The notification's summary line.
    pub title: String,
    pub body: String,
    /// Whether this stands for several coalesced alerts.
    pub summary: bool,
}

impl Alert {
    /// The ticket to open when the notification is activated.
    pub fn ticket_id(&self) -> Option<Id> {
        self.ticket_ids.first().copied()
    }
}

/// How long the first alert of a burst waits for others to coalesce with.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(2);

/// Lines of ticket titles a summary's body lists before "and N more".
const SUMMARY_LINES: usize = 5;

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
    unread_urgent: BTreeSet<Id>,
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
            unread_urgent: BTreeSet::new(),
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

    /// Switching do-not-disturb on also drops the alerts waiting for their window.
    pub fn set_preferences(&mut self, prefs: AlertPreferences) {
        if prefs.do_not_disturb {
            self.pending.clear();
            self.window_ends = None;
        }
        self.prefs = prefs;
    }

    /// Convenience for the usual wiring: feeds what [`crate::board::Board::apply`] returned
    /// (events that changed no ticket are ignored).
    pub fn observe_applied(
        &mut self,
        resource: Resource,
        event: &EventEnvelope,
        applied: &Applied,
        now: Duration,
    ) {
        if let Some(change) = &applied.ticket {
            self.observe(resource, event, change.before.as_ref(), now);
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
                self.unread_urgent.remove(&id);
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
        let id = ticket.id;
        match self.seen.get(&id) {
            Some(&v) if v >= ticket.version => return, // a replay: already judged
            _ => {
                self.seen.insert(id, ticket.version);
            }
        }
        if ticket.priority != Priority::Urgent {
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
            Some(Alert {
                kind: AlertKind::Urgent,
                ticket_ids: vec![id],
                title: ticket.title.clone(),
                body,
                summary: false,
            })
        } else if resource == Resource::Ticket
            && self.prefs.level >= AlertLevel::AlsoAssignedToMe
            && mine
            && before.is_none_or(|b| b.assignee_id != Some(self.me.id))
        {
            Some(Alert {
                kind: AlertKind::AssignedToMe,
                ticket_ids: vec![id],
                title: ticket.title.clone(),
                body: format!("Assigned to you: {}", requester_line(ticket)),
                summary: false,
            })
        } else if resource == Resource::Comment
            && event.action == EventAction::Create
            && self.prefs.level >= AlertLevel::AlsoCommentsOnMine
            && mine
        {
            event
                .comment
                .as_ref()
                .filter(|c| c.author_id != self.me.id && self.comments_seen.insert(c.id))
                .map(|c| Alert {
                    kind: AlertKind::Comment,
                    ticket_ids: vec![id],
                    title: format!("New comment on {}", ticket.title),
                    body: preview(&c.body),
                    summary: false,
                })
        } else {
            None
        };
        if let Some(alert) = alert {
            if self.prefs.do_not_disturb {
                return;
            }
            if self.pending.is_empty() {
                self.window_ends = Some(now + self.window);
            }
            self.pending.push(alert);
        }
    }

    /// When the current window closes (when to call [`AlertPolicy::poll`] next), if any.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.window_ends
    }

    /// The alerts to show now: nothing until the window that collected them has closed.
    pub fn poll(&mut self, now: Duration) -> Vec<Alert> {
        match self.window_ends {
            Some(end) if now >= end => {}
            _ => return Vec::new(),
        }
        self.window_ends = None;
        let mut alerts = std::mem::take(&mut self.pending);
        if self.prefs.do_not_disturb || alerts.is_empty() {
            return Vec::new();
        }
        if alerts.len() == 1 {
            return alerts;
        }
        // Urgent first, arrival order otherwise.
        alerts.sort_by_key(|a| a.kind != AlertKind::Urgent);
        vec![summarize(&alerts)]
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

fn summarize(alerts: &[Alert]) -> Alert {
    let urgent = alerts
        .iter()
        .filter(|a| a.kind == AlertKind::Urgent)
        .count();
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
    Alert {
        kind: if urgent > 0 {
            AlertKind::Urgent
        } else {
            alerts[0].kind
        },
        ticket_ids,
        title,
        body: lines.join("\n"),
        summary: true,
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

/// What comes back from shown notifications.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum NotifierEvent {
    /// The user chose "Open ticket" (or clicked the notification): open the app on it.
    #[serde(rename_all = "camelCase")]
    ActionActivated { ticket_id: Id },
    /// Showing a notification failed after `notify` returned (it is shown off the caller's
    /// thread).
    #[serde(rename_all = "camelCase")]
    Failed { ticket_ids: Vec<Id>, error: String },
}

/// Shows alerts. Implementations must not block the caller (it may be an async task).
pub trait Notifier: Send + Sync {
    fn notify(&self, alert: &Alert) -> Result<(), NotifyError>;
}

/// A fake notifier for tests: records alerts; can be told to fail.
#[derive(Debug, Default)]
pub struct RecordingNotifier {
    alerts: Mutex<Vec<Alert>>,
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
}

/// The action every notification offers.
pub const OPEN_ACTION: (&str, &str) = ("open", "Open ticket");

/// Application name notifications are sent under.
pub const APP_NAME: &str = "Deskbell";

/// Real OS notifications through `notify-rust` (on Linux: `org.freedesktop.Notifications` on
/// the session bus, urgency critical, action "Open ticket").
///
/// Each notification is shown on a blocking thread (tokio's blocking pool when called inside
/// a runtime), which then waits for the user's action and reports it on the channel: `notify`
/// itself never blocks. A failure to show is reported as [`NotifierEvent::Failed`].
///
/// A wait lasts until the user acts on the notification or it is closed, and desktops keep
/// critical notifications until the user dismisses them: so that a busy day cannot pile up
/// waiting threads (and, past the blocking pool's size, stop new notifications from showing),
/// at most [`DesktopNotifier::MAX_OPEN`] are kept open; showing one more closes the oldest
/// (`CloseNotification`), which ends its wait.
#[derive(Debug, Clone)]
pub struct DesktopNotifier {
    events: tokio::sync::mpsc::Sender<NotifierEvent>,
    open: Arc<OpenNotifications>,
}

/// The ids of the notifications being waited on, oldest first.
#[derive(Debug)]
struct OpenNotifications {
    limit: usize,
    ids: Mutex<std::collections::VecDeque<u32>>,
}

impl OpenNotifications {
    /// Notes a shown notification; answers the one to close to stay within the limit.
    fn shown(&self, id: u32) -> Option<u32> {
        let mut ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        ids.push_back(id);
        (ids.len() > self.limit).then(|| ids.pop_front()).flatten()
    }

    fn ended(&self, id: u32) {
        self.ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|&open| open != id);
    }

    fn count(&self) -> usize {
        self.ids.lock().unwrap_or_else(|e| e.into_inner()).len()
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
                ids: Mutex::new(Default::default()),
            }),
        }
    }

    /// How many shown notifications are still open and waited on.
    pub fn open_count(&self) -> usize {
        self.open.count()
    }

    fn notification(alert: &Alert) -> notify_rust::Notification {
        let mut n = notify_rust::Notification::new();
        n.appname(APP_NAME)
            .summary(&alert.title)
            .body(&alert.body)
            .action(OPEN_ACTION.0, OPEN_ACTION.1);
        #[cfg(any(all(unix, not(target_os = "macos")), target_os = "windows"))]
        n.urgency(if alert.kind == AlertKind::Urgent {
            notify_rust::Urgency::Critical
        } else {
            notify_rust::Urgency::Normal
        });
        n
    }
}

impl Notifier for DesktopNotifier {
    fn notify(&self, alert: &Alert) -> Result<(), NotifyError> {
        let notification = Self::notification(alert);
        let events = self.events.clone();
        let ticket_ids = alert.ticket_ids.clone();
        let open = self.open.clone();
        let job = move || show_and_wait(notification, ticket_ids, events, &open);
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
}

/// Runs on a blocking thread: shows, then (Linux/BSD) waits for the action or the close.
fn show_and_wait(
    notification: notify_rust::Notification,
    ticket_ids: Vec<Id>,
    events: tokio::sync::mpsc::Sender<NotifierEvent>,
    open: &OpenNotifications,
) {
    let shown = notification.show();
    match shown {
        Err(e) => {
            tracing::warn!(error = %e, "could not show a notification");
            let _ = events.blocking_send(NotifierEvent::Failed {
                ticket_ids,
                error: e.to_string(),
            });
        }
        #[cfg(all(unix, not(target_os = "macos")))]
        Ok(handle) => {
            let Some(ticket_id) = ticket_ids.first().copied() else {
                return;
            };
            let id = handle.id();
            if let Some(oldest) = open.shown(id) {
                close_notification(oldest);
            }
            handle.wait_for_action(|action| {
                if action == OPEN_ACTION.0 || action == "default" {
                    let _ = events.blocking_send(NotifierEvent::ActionActivated { ticket_id });
                }
            });
            open.ended(id);
        }
        #[cfg(not(all(unix, not(target_os = "macos"))))]
        Ok(_) => {
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
        Ok(()) => tracing::debug!(id, "closed the oldest open notification"),
        Err(e) => tracing::warn!(id, error = %e, "could not close an old notification"),
    }
}

#[cfg(all(unix, not(target_os = "macos"), not(target_os = "linux")))]
fn close_notification(id: u32) {
    tracing::debug!(id, "closing old notifications is not supported here");
}

#[cfg(test)]
#[path = "alerts/tests.rs"]
mod tests;
