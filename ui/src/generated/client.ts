// Generated from crates/client by `UPDATE_TS_BINDINGS=1 cargo test -p deskbell-client --test ts_bindings`.
// Do not edit by hand.

import type { ApiErrorCode, Company, EventEnvelope, Lane, Member, SyncMessage, Ticket, User } from "./protocol";

export type ConnectionState = { "state": "needs-login", reason: string, } | { "state": "connecting", attempt: number, retryAt: string | null, } | { "state": "syncing" } | { "state": "live" } | { "state": "offline", reason: string, };

export type BoardDelta = { "kind": "reset", lanes: Array<Lane>, tickets: Array<Ticket>, seq: number, } | { "kind": "laneUpserted" } & Lane | { "kind": "laneRemoved", id: number, } | { "kind": "ticketUpserted" } & Ticket | { "kind": "ticketRemoved", id: number, };

export type Scope = "all" | "mine" | "queue";

export type PriorityFilter = "any" | "unacknowledged" | "urgent" | "high" | "normal" | "low";

export type LaneSort = "default" | "priority" | "updated" | "age";

export type LaneWindow = { 
/**
 * The lane (`null`: "No lane").
 */
laneId: number | null, sort: LaneSort, 
/**
 * The index of the first card wanted in the lane's filtered, sorted list.
 */
start: number, 
/**
 * How many cards from there (at most 500).
 */
count: number, };

export type BoardQuery = { scope: Scope, priority: PriorityFilter, 
/**
 * "These tickets": only these ids are listed (`null`: no such filter).
 */
onlyIds: Array<number> | null, hideClosed: boolean, search: string, 
/**
 * Lanes not listed: the default sort, cards `0..40`.
 */
windows: Array<LaneWindow>, 
/**
 * Tickets the UI shows outside the lanes (the open drawer, the inbox, the lane picker, the
 * card the keyboard follows).
 */
pinned: Array<number>, };

export type Column = { 
/**
 * The lane (`null`: "No lane").
 */
laneId: number | null, 
/**
 * Every ticket in this column, closed included, whatever the filters.
 */
count: number, 
/**
 * Before the filters; closed tickets left out under `hideClosed`.
 */
total: number, 
/**
 * Closed tickets left out by `hideClosed` (0 without it).
 */
closedHidden: number, 
/**
 * After every filter: the length of the list the window is cut from.
 */
shown: number, 
/**
 * The window's start, clamped to `shown`: the index of `tickets[0]`.
 */
start: number, 
/**
 * The window's cards, in order.
 */
tickets: Array<Ticket>, };

export type PinnedTicket = { 
/**
 * As shown (its pending move applied; never in a lane the board lacks).
 */
ticket: Ticket, 
/**
 * Its index in its column's filtered, sorted list; `null` when the filters leave it out.
 */
index: number | null, };

export type BoardView = { 
/**
 * The board's last seq when this view was made.
 */
seq: number, 
/**
 * Lanes by position.
 */
lanes: Array<Lane>, 
/**
 * "No lane" first, then every lane by position.
 */
columns: Array<Column>, 
/**
 * Every ticket on the board.
 */
ticketCount: number, 
/**
 * Closed tickets left out by `hideClosed`, on the whole board.
 */
closedHidden: number, 
/**
 * The pinned tickets on the board, in the order asked, once each.
 */
pinned: Array<PinnedTicket>, };

export type AlertLevel = "urgentOnly" | "alsoAssignedToMe" | "alsoCommentsOnMine";

export type QuietHours = { enabled: boolean, 
/**
 * Minutes since local midnight (0..1440); the range may cross midnight (22:00–07:00).
 */
startMinute: number, 
/**
 * Exclusive. Equal to `start_minute`: an empty range.
 */
endMinute: number, };

export type AlertPreferences = { level: AlertLevel, doNotDisturb: boolean, 
/**
 * Minutes between reminders of an unacknowledged urgent ticket (0: no reminders).
 */
reminderMinutes: number, 
/**
 * Urgent and escalated alerts ask for a sound.
 */
sound: boolean, 
/**
 * Reminders ask for a sound too (when `sound` is on).
 */
soundWithReminders: boolean, quietHours: QuietHours, 
/**
 * Urgent and escalated alerts are shown even under do-not-disturb and in quiet hours.
 */
urgentBreaksDnd: boolean, };

export type AlertKind = "urgent" | "assignedToMe" | "comment" | "escalated";

export type Alert = { 
/**
 * For a summary: [`AlertKind::Escalated`] if any of its alerts is, else
 * [`AlertKind::Urgent`] if any is urgent.
 */
kind: AlertKind, 
/**
 * The ticket(s) concerned, most important first (escalated and urgent ones, then in
 * arrival order). A summary keeps every one.
 */
ticketIds: Array<number>, 
/**
 * The notification's summary line.
 */
title: string, body: string, 
/**
 * Whether this stands for several coalesced alerts.
 */
summary: boolean, 
/**
 * A repeat for a ticket still awaiting acknowledgement (a summary: all of them are).
 */
reminder: boolean, 
/**
 * Single-ticket alerts: the ticket's number (`#12`).
 */
ticketNumber: number | null, 
/**
 * Single-ticket alerts: the requester's name.
 */
requester: string | null, 
/**
 * Single-ticket alerts: the lane's name, or "No lane".
 */
lane: string | null, 
/**
 * Urgent alerts: who made the ticket urgent (their name, when known).
 */
madeUrgentBy: string | null, 
/**
 * Escalations: minutes the ticket has waited since it became urgent.
 */
waitedMinutes: number | null, 
/**
 * Whether this alert asks for a sound.
 */
sound: boolean, };

export type Snooze = "minutes15" | "hour" | "untilTomorrow";

export type InboxEntry = { id: number, ticketId: number, kind: AlertKind, title: string, body: string, at: string, read: boolean, 
/**
 * The ticket is urgent and nobody has acknowledged it yet.
 */
awaitingAck: boolean, };

export type NotificationAction = "open" | "acknowledge" | "assignToMe";

export type DeskEvent = { "kind": "state", state: ConnectionState, } | { "kind": "event", resource: "ticket" | "comment" | "attachment" | "lane", event: EventEnvelope, } | { "kind": "board", } | { "kind": "synced", sync: SyncMessage, } | { "kind": "alert", alert: Alert, shown: boolean, } | { "kind": "urgentCount", count: number, } | { "kind": "openTicket", ticketId: number, } | { "kind": "openTickets", ticketIds: Array<number>, } | { "kind": "alertInPlace", ticketId: number, } | { "kind": "inbox", entries: Array<InboxEntry>, unread: number, } | { "kind": "alertActionFailed", ticketIds: Array<number>, action: NotificationAction, code: ErrorCode, message: string, } | { "kind": "members", members: Array<Member>, } | { "kind": "company", company: Company, } | { "kind": "notificationFailed", ticketIds: Array<number>, error: string, } | { "kind": "wake", reason: string, } | { "kind": "unknown", name: string, } | { "kind": "user", user: User, };

export type SessionInfo = { server: string, user: User, company: Company, 
/**
 * Where the session is kept, in words ("Secret Service", "memory only", …).
 */
store: string, 
/**
 * Set when the session will not survive a restart (no secure store).
 */
storeWarning: string | null, 
/**
 * Signed in to the embedded demo server.
 */
demo: boolean, };

export type ClientErrorCode = "network" | "timeout" | "protocol" | "not_deskbell" | "tls" | "not_signed_in" | "invalid_url" | "no_saved_session" | "session_ended" | "stopped" | "store_unavailable" | "store_access_denied" | "store_corrupt" | "store_ambiguous" | "invalid_account" | "invalid_token" | "unknown_ticket" | "unknown_lane" | "unknown_move" | "move_ticket_mismatch" | "invalid_query" | "notifications_unavailable" | "notification_failed" | "save_failed" | "demo_failed" | "settings_not_saved" | "autostart_failed";

export type ErrorCode = ApiErrorCode | ClientErrorCode;

export type CommandError = { code: ErrorCode, message: string, 
/**
 * On `conflict`: the ticket as the server has it now.
 */
current: Ticket | null, };

export type Theme = "system" | "light" | "dark";

export type Settings = { alerts: AlertPreferences, 
/**
 * Start Deskbell (hidden, in the tray) when the user logs in. Off by default.
 */
launchAtLogin: boolean, 
/**
 * Closing the window keeps Deskbell running in the tray.
 */
closeToTray: boolean, theme: Theme, 
/**
 * Pre-filled on the login form; the session itself is in the keychain.
 */
lastServer: string | null, lastEmail: string | null, 
/**
 * The first close to the tray said that Deskbell keeps running there (said once).
 */
closeToTrayExplained: boolean, };

export type Rgb = { r: number, g: number, b: number, };

export type SkeletonBox = { x: number, y: number, width: number, height: number, color: Rgb, };

export type WindowSkeleton = { 
/**
 * The page's background.
 */
background: Rgb, 
/**
 * Its main boxes (the top bar, the lanes, the sign-in card), in CSS pixels from the page's
 * top left, in the order they are drawn.
 */
boxes: Array<SkeletonBox>, };
