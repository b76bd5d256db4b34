// Wires the shell's events to the stores and runs the flows that span several of them
// (start, sign-in, sign-out, moves, opening a ticket).

import type { Comment, Attachment, Lane, Ticket } from '../generated/protocol';
import type { BoardQuery, BoardView, CommandError, DeskEvent, SessionInfo, Settings } from '../generated/client';
import {
  ipc, onAlertInPlace, onDeskEvent, onInbox, onOpenTicket, onOpenTickets, onSession, onSettings, toCommandError,
} from './ipc';
import { alerts } from './stores/alerts.svelte';
import { board, VIRTUALIZE_OVER } from './stores/board.svelte';
import { connection } from './stores/connection.svelte';
import { session, settings, urgent } from './stores/session.svelte';
import { threads } from './stores/threads.svelte';
import { ui } from './stores/ui.svelte';
import { view } from './stores/view.svelte';
import { errorMessage, moveErrorMessage, urgentActionErrorMessage } from './errors';

/** Live comment / attachment events, for whoever shows a ticket's thread. */
export type TicketActivity =
  | { kind: 'comment'; action: string; comment: Comment }
  | { kind: 'attachment'; action: string; attachment: Attachment };

const activityListeners = new Set<(a: TicketActivity) => void>();

export function onTicketActivity(fn: (a: TicketActivity) => void): () => void {
  activityListeners.add(fn);
  return () => activityListeners.delete(fn);
}

// The board view (lib/stores/board.svelte.ts) is asked for again whenever what it shows may
// have changed: the core says the board changed, a filter or sort changed, a lane scrolled past
// the cards it has, a pinned ticket came or went. Asking is throttled to about once per frame,
// and one question is in flight at a time: the first after a quiet spell goes at once (next
// task), whatever comes while one is out or within the frame waits, so a burst (a replay after
// a reconnect, a busy desk) costs one view per frame, not one per event. A change signalled
// while a question is out is asked about once it is answered, so nothing is missed. Timers, not
// animation frames: a window not shown yet (at start) or hidden gets no frames.
const FRAME_MS = 16;
/** The window each lane renders, by lane; a lane not measured yet is asked `VIRTUALIZE_OVER`
 *  cards from the first. */
const laneWindows = new Map<string, { start: number; count: number }>();
let viewWanted = false;
let viewInFlight = false;
let viewTimer: ReturnType<typeof setTimeout> | null = null;
let lastViewAt = -Infinity;
/** Bumped per session: an answer for another session's board is dropped. */
let viewGeneration = 0;
let viewsAsked = 0;
let viewsShown = 0;

/** Asks for the board view again (throttled). */
export function refreshBoard(): void {
  if (!session.info) return;
  viewWanted = true;
  if (viewInFlight || viewTimer !== null) return;
  scheduleView();
}

function scheduleView(): void {
  const wait = Math.max(0, FRAME_MS - (performance.now() - lastViewAt));
  viewTimer = setTimeout(() => void askView(), wait);
}

/**
 * The window of cards a lane renders (index of its first card, how many). Asked for at once
 * only when the lane lacks some of them (`covered`: the cards it has hold the window);
 * otherwise the next view brings exactly this window.
 */
export function setLaneWindow(laneId: number | null, start: number, count: number, covered: boolean): void {
  const key = laneId === null ? 'none' : String(laneId);
  const have = laneWindows.get(key);
  if (have && have.start === start && have.count === count) return;
  laneWindows.set(key, { start, count });
  if (!covered) refreshBoard();
}

/** Tickets the UI shows outside the lanes (at most a thousand: the core's limit). */
export function pinnedTickets(): number[] {
  const ids = new Set<number>();
  for (const id of [ui.openTicketId, ui.movingTicketId, ui.followTicketId, ui.menuTicketId]) if (id !== null) ids.add(id);
  for (const id of board.watched) ids.add(id);
  for (const e of alerts.entries) ids.add(e.ticketId);
  return [...ids].slice(0, 1000);
}

/** The question for the core: the filters, each lane's sort and window, the pinned tickets. */
export function boardQuery(): BoardQuery {
  const lanes: (number | null)[] = [null, ...board.lanes.map((l) => l.id)];
  return {
    scope: ui.scope,
    priority: ui.priority,
    onlyIds: ui.onlyIds ? [...ui.onlyIds] : null,
    hideClosed: view.hideClosed,
    search: ui.search,
    windows: lanes.map((laneId) => {
      const w = laneWindows.get(laneId === null ? 'none' : String(laneId));
      return { laneId, sort: view.sortOf(laneId), start: w?.start ?? 0, count: w?.count ?? VIRTUALIZE_OVER };
    }),
    pinned: pinnedTickets(),
  };
}

async function askView(): Promise<void> {
  if (viewTimer !== null) clearTimeout(viewTimer);
  viewTimer = null;
  viewWanted = false;
  viewInFlight = true;
  lastViewAt = performance.now();
  try {
    await loadView();
  } finally {
    viewInFlight = false;
    if (viewWanted) scheduleView();
  }
}

/** Asks for the view now and shows the answer (unless a later one was shown already). */
async function loadView(): Promise<void> {
  if (!session.info) return;
  const generation = viewGeneration;
  const asked = ++viewsAsked;
  const query = boardQuery();
  try {
    const answer = await ipc.boardView(query);
    if (generation !== viewGeneration || asked < viewsShown) return;
    viewsShown = asked;
    board.show(answer, query.pinned);
  } catch (e) {
    if (generation !== viewGeneration || board.loaded) return;
    // The first view failed: an empty board, and why (the next change asks again).
    board.show(EMPTY_VIEW, []);
    ui.toast(`Could not load the board: ${errorMessage(toCommandError(e))}`);
  }
}

const EMPTY_VIEW: BoardView = { seq: 0, lanes: [], columns: [], ticketCount: 0, closedHidden: 0, pinned: [] };

/** A new board (another session, signed out): nothing of the old one is shown or asked. */
function resetBoard(): void {
  viewGeneration++;
  laneWindows.clear();
  movesUnderWay.clear();
  board.clear();
}

let started = false;
/** Signed in during this run, and not signed out by the user since. */
let hadSession = false;
/** The user's own sign-out is under way (its state changes are not "you were signed out"). */
let signingOut = false;
/** Identifies the session whose board is loaded (or loading). */
let loadedFor: string | null = null;

function sessionKey(info: SessionInfo): string {
  return `${info.server}|${info.company.id}|${info.user.id}`;
}

function handleDeskEvent(ev: DeskEvent): void {
  switch (ev.kind) {
    case 'state':
      connection.set(ev.state);
      // Signed out while signed in (token refused, session revoked): say why on the form. The
      // shell sends `deskbell://session` null just before this state.
      if (ev.state.state === 'needs-login') {
        if (hadSession && !signingOut) session.signedOutReason = ev.state.reason;
        // Signing in again starts a new core: its board is loaded anew.
        loadedFor = null;
      }
      break;
    case 'board':
      refreshBoard();
      break;
    case 'event': {
      const e = ev.event;
      if (ev.resource === 'comment' && e.comment) {
        for (const fn of activityListeners) fn({ kind: 'comment', action: e.action, comment: e.comment });
      } else if (ev.resource === 'attachment' && e.attachment) {
        for (const fn of activityListeners) fn({ kind: 'attachment', action: e.action, attachment: e.attachment });
      }
      break;
    }
    case 'urgentCount':
      urgent.count = ev.count;
      break;
    case 'user':
      // An admin changed this user's role: what the app offers follows it (the core reloads
      // the board for the new role by itself).
      if (session.info && session.info.user.id === ev.user.id) {
        session.info = { ...session.info, user: ev.user };
        void loadUsers(session.info);
      }
      break;
    case 'openTicket':
      openTicket(ev.ticketId);
      break;
    case 'notificationFailed':
      ui.toast(`A notification could not be shown: ${ev.error}`, 'info');
      break;
    case 'members':
      // The core reloads them when someone it does not know acts (a new member acknowledges).
      session.members = new Map(ev.members.map((m) => [m.id, m]));
      break;
    case 'company':
      if (session.info) session.info = { ...session.info, company: ev.company };
      break;
    case 'alertActionFailed': {
      // A notification's Acknowledge / Assign to me was refused: the window says why.
      const which = ev.ticketIds.map((id) => `#${id}`).join(', ');
      const what =
        ev.action === 'acknowledge' ? `acknowledge ${which}` : ev.action === 'assignToMe' ? `assign ${which} to you` : `open ${which}`;
      ui.toast(`Could not ${what}: ${urgentActionErrorMessage({ code: ev.code, message: ev.message, current: null })}`);
      break;
    }
    case 'inbox':
    case 'openTickets':
    case 'alertInPlace':
      // The shell sends these on their own channels (deskbell://inbox, …).
      break;
    case 'synced':
    case 'alert':
    case 'wake':
    case 'unknown':
      break;
  }
}

/** Subscribes to the shell's events, then loads settings and the current session. */
export async function start(): Promise<void> {
  if (started) return;
  started = true;
  await Promise.all([
    onDeskEvent(handleDeskEvent),
    onSession((info) => {
      if (info) void enterSession(info);
      else leaveSession();
    }),
    onOpenTicket((id) => openTicket(id)),
    onSettings((s) => (settings.value = s)),
    onInbox((entries) => {
      if (session.info) alerts.set(entries);
    }),
    onOpenTickets((ids) => showTickets(ids)),
    onAlertInPlace((id) => {
      if (ui.openTicketId === id) {
        alerts.flash(id);
        ui.announce('This ticket was alerted again');
      }
    }),
  ]);
  const [loadedSettings, current] = await Promise.all([
    ipc.settings().catch(() => null),
    ipc.sessionStatus().catch(() => null),
  ]);
  if (loadedSettings) settings.value = loadedSettings;
  if (current) await enterSession(current);
  else if (session.info === undefined) session.info = null;
}

/**
 * Shows the board of a session: connection state, urgent count, the board (once per sign-in),
 * and the team's users for admins. Called by the sign-in flows and on `deskbell://session`
 * (which the shell also sends for a sign-in made from the UI): the second call is a no-op.
 */
export async function enterSession(info: SessionInfo): Promise<void> {
  const key = sessionKey(info);
  const previous = session.info;
  session.info = info;
  session.signedOutReason = null;
  hadSession = true;
  if (loadedFor === key) return;
  if (!previous || sessionKey(previous) !== key) {
    session.warningDismissed = false;
    session.users = new Map();
    session.members = new Map();
    threads.clear();
    alerts.clear();
    // Another account: the search and "these tickets" were for the previous one; the view
    // (filters, density…) is this computer's user's and stays (lib/stores/view.svelte.ts).
    ui.clearMoment();
    ui.openTicketId = null;
  }
  loadedFor = key;
  // The needs-login of the previous core is over (a new one reports its own states).
  if (connection.state?.state === 'needs-login') connection.reset();
  resetBoard();
  const boardP = loadView();
  const stateP = ipc.connectionState().then(
    (s) => {
      // An event may already have told us something newer. A needs-login here is the previous
      // core's (the shell sends `deskbell://session` null with a real one).
      if (connection.state === null && s.state !== 'needs-login') connection.set(s);
    },
    () => {},
  );
  const urgentP = ipc.urgentCount().then(
    (n) => (urgent.count = n),
    () => {},
  );
  const usersP = loadUsers(info);
  const membersP = loadMembers(info);
  const inboxP = ipc.inbox().then(
    (entries) => {
      if (loadedFor === key) alerts.set(entries);
    },
    () => {},
  );
  await Promise.all([boardP, stateP, urgentP, usersP, membersP, inboxP]);
}

/** Every member's name (everyone may list them): who acknowledged, who commented. */
function loadMembers(info: SessionInfo): Promise<void> {
  return ipc.members().then(
    (members) => {
      // The core's `members` event may have come first (it loads them once in sync): that
      // list is as fresh, so this answer only fills in when nothing came yet.
      if (session.info && sessionKey(session.info) === sessionKey(info) && session.members.size === 0) {
        session.members = new Map(members.map((m) => [m.id, m]));
      }
    },
    () => {},
  );
}

/** The team's users, for admins (assignees); nobody else gets them. */
function loadUsers(info: SessionInfo): Promise<void> {
  if (info.user.role !== 'admin') {
    session.users = new Map();
    return Promise.resolve();
  }
  return ipc.users().then(
    (users) => {
      if (session.info && sessionKey(session.info) === sessionKey(info)) {
        session.users = new Map(users.map((u) => [u.id, u]));
      }
    },
    () => {},
  );
}

/** Back to the sign-in form (the reason, if any, comes with the needs-login state). */
function leaveSession(): void {
  loadedFor = null;
  session.info = null;
  session.users = new Map();
  session.members = new Map();
  threads.clear();
  alerts.clear();
  resetBoard();
  connection.reset();
  urgent.count = 0;
  ui.openTicketId = null;
  ui.newTicketOpen = false;
  ui.movingTicketId = null;
  ui.preferencesOpen = false;
  ui.shortcutsOpen = false;
  ui.switcherOpen = false;
}

export async function signIn(server: string, email: string, password: string): Promise<void> {
  const info = await ipc.login(server, email, password);
  await enterSession(info);
  // The shell remembers them; keep our copy in step for the next sign-in form.
  settings.value = { ...settings.value, lastServer: server, lastEmail: email };
}

export async function startDemo(): Promise<void> {
  const info = await ipc.startDemo();
  await enterSession(info);
}

export async function signOut(): Promise<void> {
  signingOut = true;
  try {
    await ipc.logout();
  } catch (e) {
    ui.toast(`Signing out failed: ${errorMessage(toCommandError(e))}`);
    return;
  } finally {
    signingOut = false;
  }
  hadSession = false;
  leaveSession();
  session.signedOutReason = null;
}

export async function saveSettings(next: Settings): Promise<boolean> {
  try {
    settings.value = await ipc.setSettings(next);
    return true;
  } catch (e) {
    ui.toast(`Could not save the preferences: ${errorMessage(toCommandError(e))}`);
    return false;
  }
}

export async function reconnectNow(): Promise<void> {
  try {
    await ipc.reconnectNow();
    ui.announce('Reconnecting now');
  } catch (e) {
    ui.toast(errorMessage(toCommandError(e)));
  }
}

export function laneName(laneId: number | null): string {
  return laneId === null ? 'No lane' : (board.lane(laneId)?.name ?? 'No lane');
}

/** The lanes as shown, "No lane" first. */
export function columns(): (Lane | null)[] {
  return [null, ...board.lanes];
}

/**
 * Moves a card (the core moves it at once and rolls back as deltas on failure); announces the
 * move and explains a refusal.
 */
export async function moveTicket(ticketId: number, laneId: number | null, keepFocus = false): Promise<void> {
  const ticket = board.get(ticketId);
  if (!ticket) return;
  if (shownLaneId(ticket) === laneId) return;
  const title = ticket.title;
  const to = laneName(laneId);
  // The card is re-created in its new lane (and maybe back again): keep the keyboard on it.
  if (keepFocus) ui.followTicketId = ticketId;
  const move = { laneId };
  movesUnderWay.set(ticketId, move);
  try {
    await ipc.moveTicket(ticketId, laneId);
    ui.announce(`Moved “${title}” to ${to}`);
  } catch (e) {
    const err: CommandError = toCommandError(e);
    const text = moveErrorMessage(err);
    ui.toast(text);
    ui.announce(`Moving “${title}” to ${to} failed. ${text}`);
  } finally {
    // The view that shows the outcome (moved, or rolled back) replaces the intention.
    await loadView();
    if (movesUnderWay.get(ticketId) === move) movesUnderWay.delete(ticketId);
  }
}

/**
 * Moves asked for and not yet shown by a view: the next move of the same card (Alt+→ twice
 * quickly) starts from where the user sent it, not from where the last view had it.
 */
const movesUnderWay = new Map<number, { laneId: number | null }>();

/** The column a ticket is shown in ("No lane" when its lane is unknown), or is being moved to. */
export function shownLaneId(ticket: Ticket): number | null {
  const moving = movesUnderWay.get(ticket.id);
  if (moving) return moving.laneId;
  return ticket.laneId !== null && board.lane(ticket.laneId) ? ticket.laneId : null;
}

/** Moves a card to the lane left (-1) or right (+1) of its own. */
export function moveToNeighbour(ticket: Ticket, dir: -1 | 1): void {
  const cols = columns();
  const i = cols.findIndex((l) => (l?.id ?? null) === shownLaneId(ticket));
  const target = cols[(i < 0 ? 0 : i) + dir];
  if (target === undefined) {
    ui.announce(dir < 0 ? 'Already in the first lane' : 'Already in the last lane');
    return;
  }
  void moveTicket(ticket.id, target?.id ?? null, true);
}

/**
 * Shows only these tickets (a notification for several): the "these tickets" filter, until the
 * user clears it. One ticket opens its drawer as well.
 */
export function showTickets(ids: number[]): void {
  if (ids.length === 0) return;
  ui.onlyIds = new Set(ids);
  ui.menuTicketId = null;
  ui.movingTicketId = null;
  if (ids.length === 1) openTicket(ids[0]!);
  else ui.openTicketId = null;
  ui.announce(ids.length === 1 ? 'Showing the alerted ticket' : `Showing the ${ids.length} alerted tickets`);
}

/** Opens the inbox: everything in it is read now. */
export async function readInbox(): Promise<void> {
  if (alerts.unread === 0 && alerts.entries.every((e) => e.read)) return;
  alerts.markAllRead();
  await ipc.markInboxRead().catch(() => {});
}

/** Opens a ticket's drawer (notification action, card click). */
export function openTicket(id: number): void {
  ui.movingTicketId = null;
  ui.openTicketId = id;
  void ipc.markRead(id).catch(() => {});
}
