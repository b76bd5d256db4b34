// Shared test support: a static server for dist-test/, headless Chromium (playwright-core), and
// a fake Tauri shell answering the app's commands (through tests/harness/harness.ts).
//
// Every wait is a condition polled until a deadline (`until`, playwright's auto-waiting), never
// a bare sleep.

import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { existsSync, mkdirSync } from 'node:fs';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

/**
 * @typedef {import('../src/generated/protocol').Board} Board
 * @typedef {import('../src/generated/protocol').Ticket} Ticket
 * @typedef {import('../src/generated/protocol').Lane} Lane
 * @typedef {import('../src/generated/protocol').User} User
 * @typedef {import('../src/generated/protocol').Comment} Comment
 * @typedef {import('../src/generated/protocol').Attachment} Attachment
 * @typedef {import('../src/generated/protocol').Member} Member
 * @typedef {import('../src/generated/protocol').Company} Company
 * @typedef {import('../src/generated/client').InboxEntry} InboxEntry
 * @typedef {import('../src/generated/client').SessionInfo} SessionInfo
 * @typedef {import('../src/generated/client').Settings} Settings
 * @typedef {import('../src/generated/client').ConnectionState} ConnectionState
 * @typedef {import('../src/generated/client').CommandError} CommandError
 * @typedef {import('../src/generated/client').DeskEvent} DeskEvent
 * @typedef {import('../src/generated/client').BoardDelta} BoardDelta
 * @typedef {import('../src/generated/client').BoardQuery} BoardQuery
 * @typedef {import('../src/generated/client').BoardView} BoardView
 * @typedef {import('../src/generated/client').LaneSort} LaneSort
 * @typedef {import('../src/generated/contract').Commands} Commands
 * @typedef {import('../src/generated/contract').CommandName} CommandName
 * @typedef {import('../src/generated/contract').EventPayloads} EventPayloads
 * @typedef {import('playwright-core').Page} Page
 * @typedef {import('playwright-core').Browser} Browser
 * @typedef {import('playwright-core').Locator} Locator
 */

const here = fileURLToPath(new URL('.', import.meta.url));
export const DIST = join(here, '..', 'dist-test');
export const ARTIFACTS = join(here, '..', 'test-artifacts');

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/** Serves `root` on 127.0.0.1 (a free port). */
export async function serveStatic(root = DIST) {
  if (!existsSync(join(root, 'index.html'))) {
    throw new Error(`${root}/index.html is missing: run \`npm run build:test\` first`);
  }
  const server = createServer(async (req, res) => {
    try {
      const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      let file = normalize(join(root, path));
      if (!file.startsWith(root + sep) && file !== root) {
        res.writeHead(403).end();
        return;
      }
      if ((await stat(file).catch(() => null))?.isDirectory()) file = join(file, 'index.html');
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
      res.end(body);
    } catch {
      res.writeHead(404).end('not found');
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
  const addr = server.address();
  if (!addr || typeof addr === 'string') throw new Error('no address');
  return {
    url: `http://127.0.0.1:${addr.port}/`,
    close: () => new Promise((resolve) => server.close(() => resolve(undefined))),
  };
}

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
    headless: true,
  });
}

/**
 * Polls `fn` until it returns a truthy value (returned), or fails after `timeout` ms with
 * `message` and the last value / error seen.
 * @template T
 * @param {() => T | Promise<T>} fn
 * @param {string} message
 * @param {number} [timeout]
 * @returns {Promise<NonNullable<T>>}
 */
export async function until(fn, message, timeout = 5000) {
  const deadline = Date.now() + timeout;
  let last;
  let lastError;
  for (;;) {
    try {
      last = await fn();
      lastError = undefined;
      if (last) return /** @type {NonNullable<T>} */ (last);
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > deadline) {
      const why = lastError ? `; last error: ${lastError instanceof Error ? lastError.message : String(lastError)}` : `; last value: ${JSON.stringify(last)}`;
      throw new Error(`timed out after ${timeout} ms waiting for ${message}${why}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Polls until `locator`'s text matches `re`; returns the text.
 * @param {Locator} locator @param {RegExp} re @param {string} message @param {number} [timeout]
 */
export function untilText(locator, re, message, timeout = 5000) {
  return until(async () => {
    const t = (await locator.textContent({ timeout: 500 }).catch(() => null)) ?? '';
    return re.test(t) ? t : null;
  }, `${message} (text ${re})`, timeout);
}

// --- fixtures ------------------------------------------------------------------------------

export const COMPANY = { id: 1, name: 'Acme Support', escalateAfterMinutes: 5 };
/** @type {User} */
export const AGENT = { id: 2, companyId: 1, name: 'Alex Agent', email: 'alex@acme.test', role: 'agent', active: true };
/** @type {User} */
export const ADMIN = { id: 1, companyId: 1, name: 'Ada Admin', email: 'ada@acme.test', role: 'admin', active: true };
/** @type {User} */
export const OTHER = { id: 3, companyId: 1, name: 'Sam Support', email: 'sam@acme.test', role: 'agent', active: true };

/** Every member as `members()` lists them (names for everyone, no e-mail). @returns {Member[]} */
export function membersOf(users = [ADMIN, AGENT, OTHER]) {
  return users.map(({ id, name, role, active }) => ({ id, name, role, active }));
}

/** Minutes ago, as the server writes timestamps. */
export function minutesAgo(m, now = Date.now()) {
  return new Date(now - m * 60_000).toISOString();
}

/**
 * An inbox entry as the core keeps it.
 * @param {number} id @param {number} ticketId @param {Partial<InboxEntry>} [fields]
 * @returns {InboxEntry}
 */
export function inboxEntry(id, ticketId, fields = {}) {
  return {
    id,
    ticketId,
    kind: 'urgent',
    title: `Urgent: Ticket ${ticketId}`,
    body: `Requester ${ticketId}`,
    at: minutesAgo(id),
    read: false,
    awaitingAck: false,
    ...fields,
  };
}

/** Hours ago, as the server writes timestamps. */
export function hoursAgo(h, now = Date.now()) {
  return new Date(now - h * 3600_000).toISOString();
}

/**
 * @param {number} id @param {string} name @param {string} color @param {number} position
 * @returns {Lane}
 */
export function lane(id, name, color, position) {
  return { id, companyId: 1, name, color, position };
}

/**
 * @param {number} id
 * @param {Partial<Ticket>} [fields]
 * @returns {Ticket}
 */
export function ticket(id, fields = {}) {
  return {
    id,
    companyId: 1,
    title: `Ticket ${id}`,
    requester: { name: `Requester ${id}`, contact: `r${id}@example.test` },
    status: 'open',
    priority: 'normal',
    assigneeId: null,
    creatorId: 1,
    laneId: null,
    lastMessage: `Message of ticket ${id}`,
    commentCount: 0,
    createdAt: hoursAgo(1),
    updatedAt: hoursAgo(1),
    version: 1,
    ...fields,
  };
}

/** @returns {Board} */
export function sampleBoard() {
  return {
    // Out of order on purpose: the UI sorts by position.
    lanes: [
      lane(12, 'In progress', '#1971c2', 1),
      lane(11, 'Triage', '#e03131', 0),
      lane(13, 'Waiting', '#f08c00', 2),
      lane(14, 'Done', '#2f9e44', 3),
    ],
    tickets: [
      ticket(101, { title: 'Printer on fire', requester: { name: 'Erin Example', contact: null }, priority: 'urgent', assigneeId: 2, laneId: 11, createdAt: hoursAgo(3.2), lastMessage: 'It is smoking now, please hurry', commentCount: 4 }),
      ticket(102, { title: 'VPN drops every hour', requester: { name: 'Victor Vance', contact: 'victor@example.test' }, priority: 'high', assigneeId: null, laneId: 11, lastMessage: 'Happens on Wi-Fi only' }),
      ticket(103, { title: 'New laptop for Kim', requester: { name: 'Kim Kowalski', contact: null }, priority: 'low', assigneeId: 2, laneId: 12, commentCount: 1 }),
      ticket(104, { title: 'Password reset', requester: { name: 'Pat Post', contact: null }, priority: 'normal', assigneeId: 3, laneId: 12, lastMessage: 'Locked out since Monday' }),
      ticket(105, { title: 'Invoice PDF is blank', requester: { name: 'Olga Owens', contact: null }, priority: 'normal', assigneeId: null, laneId: null }),
      ticket(106, { title: 'Monitor flickers', requester: { name: 'Mo Miller', contact: null }, priority: 'high', assigneeId: 2, laneId: 13, lastMessage: 'Replaced the cable, still flickers' }),
    ],
    seq: 42,
  };
}

/**
 * @param {User} [user]
 * @param {Partial<SessionInfo>} [extra]
 * @returns {SessionInfo}
 */
export function session(user = AGENT, extra = {}) {
  return { server: 'https://desk.acme.test', user, company: COMPANY, store: 'Secret Service', storeWarning: null, demo: false, ...extra };
}

/** @returns {Settings} */
export function defaultSettings() {
  return {
    alerts: {
      level: 'urgentOnly',
      doNotDisturb: false,
      reminderMinutes: 2,
      sound: true,
      soundWithReminders: true,
      quietHours: { enabled: false, startMinute: 22 * 60, endMinute: 7 * 60 },
      urgentBreaksDnd: false,
    },
    launchAtLogin: false,
    closeToTray: true,
    theme: 'system',
    lastServer: 'https://desk.acme.test',
    lastEmail: 'alex@acme.test',
    closeToTrayExplained: false,
  };
}

/**
 * A CommandError as the shell rejects with.
 * @param {import("../src/generated/client").ErrorCode} code @param {string} [message] @param {Ticket | null} [current]
 * @returns {CommandError}
 */
export function commandError(code, message = code, current = null) {
  return { code, message, current };
}

// --- the fake shell ------------------------------------------------------------------------

/**
 * How the fake shell answers command `C`: like the shell's declaration in
 * src-tauri/src/commands.rs, typed by the same generated contract.
 * @template {CommandName} C
 * @typedef {(args: Commands[C]['args'], shell: FakeShell) => Commands[C]['answer'] | Promise<Commands[C]['answer']>} Handler
 */

/** @typedef {{ [C in CommandName]?: Handler<C> }} Handlers */

// --- the core's board, as a fake -------------------------------------------------------------
// What `board_view` and `find_tickets` answer in crates/client/src/board_view.rs, for the UI's
// tests (the real one is tested there and through the real app in tests/e2e).

const PRIORITY_RANK = { urgent: 0, high: 1, normal: 2, low: 3 };
/** @param {string} iso */
const ms = (iso) => {
  const v = Date.parse(iso);
  return Number.isNaN(v) ? 0 : v;
};

/** @param {LaneSort} sort @returns {(a: Ticket, b: Ticket) => number} */
function comparatorOf(sort) {
  switch (sort) {
    case 'priority':
      return (a, b) => PRIORITY_RANK[a.priority] - PRIORITY_RANK[b.priority] || ms(b.updatedAt) - ms(a.updatedAt) || a.id - b.id;
    case 'updated':
      return (a, b) => ms(b.updatedAt) - ms(a.updatedAt) || a.id - b.id;
    case 'age':
      return (a, b) => ms(a.createdAt) - ms(b.createdAt) || a.id - b.id;
    default:
      return (a, b) => PRIORITY_RANK[a.priority] - PRIORITY_RANK[b.priority] || ms(a.createdAt) - ms(b.createdAt) || a.id - b.id;
  }
}

/** @param {Ticket} t */
const awaitsAck = (t) => t.priority === 'urgent' && t.status !== 'closed' && t.acknowledgedBy == null;

/**
 * The view of `board` for `query`, as the core answers it.
 * @param {Board} board @param {number} me @param {BoardQuery} query @returns {BoardView}
 */
export function boardView(board, me, query) {
  const lanes = [...board.lanes].sort((a, b) => a.position - b.position || a.id - b.id);
  const known = new Set(lanes.map((l) => l.id));
  /** @param {Ticket} t */
  const shownLane = (t) => (t.laneId !== null && known.has(t.laneId) ? t.laneId : null);
  const q = query.search.trim().toLowerCase();
  const qId = /^#?\d+$/.test(q) ? Number(q.replace('#', '')) : null;
  const only = query.onlyIds ? new Set(query.onlyIds) : null;
  const cols = [null, ...lanes.map((l) => l.id)].map((laneId) => ({ laneId, count: 0, total: 0, closedHidden: 0, list: /** @type {Ticket[]} */ ([]) }));
  const byLane = new Map(cols.map((c) => [c.laneId, c]));
  let closedHidden = 0;
  for (const raw of board.tickets) {
    const t = { ...raw, laneId: shownLane(raw) };
    const col = /** @type {typeof cols[number]} */ (byLane.get(t.laneId));
    col.count++;
    if (query.hideClosed && t.status === 'closed') {
      col.closedHidden++;
      closedHidden++;
      continue;
    }
    col.total++;
    if (query.scope === 'mine' && t.assigneeId !== me) continue;
    if (query.scope === 'queue' && t.assigneeId !== null) continue;
    if (only && !only.has(t.id)) continue;
    if (query.priority === 'unacknowledged') {
      if (!awaitsAck(t)) continue;
    } else if (query.priority !== 'any' && t.priority !== query.priority) continue;
    if (q && t.id !== qId && ![t.title, t.requester.name, t.requester.contact ?? '', t.lastMessage ?? ''].some((f) => f.toLowerCase().includes(q))) continue;
    col.list.push(t);
  }
  const windows = new Map(query.windows.map((w) => [w.laneId, w]));
  const columns = cols.map((c) => {
    const w = windows.get(c.laneId) ?? { sort: 'default', start: 0, count: 40 };
    c.list.sort(comparatorOf(w.sort));
    const start = Math.min(w.start, c.list.length);
    return { laneId: c.laneId, count: c.count, total: c.total, closedHidden: c.closedHidden, shown: c.list.length, start, tickets: c.list.slice(start, start + w.count) };
  });
  /** @type {BoardView['pinned']} */
  const pinned = [];
  for (const id of new Set(query.pinned)) {
    const raw = board.tickets.find((t) => t.id === id);
    if (!raw) continue;
    const t = { ...raw, laneId: shownLane(raw) };
    const i = cols.find((c) => c.laneId === t.laneId)?.list.findIndex((x) => x.id === id) ?? -1;
    pinned.push({ ticket: t, index: i < 0 ? null : i });
  }
  return { seq: board.seq, lanes, columns, ticketCount: board.tickets.length, closedHidden, pinned };
}

/** The quick switcher's search, as the core answers it. @param {Board} board @param {string} text @param {number} limit */
export function findTickets(board, text, limit) {
  const q = text.trim().toLowerCase();
  if (!q) return [];
  const num = /^#?\d+$/.test(q) ? Number(q.replace('#', '')) : null;
  const words = q.replace(/^#/, '').split(/\s+/).filter(Boolean);
  const scored = [];
  for (const t of board.tickets) {
    const title = t.title.toLowerCase();
    let score;
    if (num !== null && t.id === num) score = 0;
    else if (num !== null && String(t.id).startsWith(String(num))) score = 1;
    else if (words.every((w) => title.includes(w))) score = title.startsWith(words[0]) ? 2 : 3;
    else continue;
    scored.push({ t, score });
  }
  scored.sort((a, b) => a.score - b.score || ms(b.t.updatedAt) - ms(a.t.updatedAt) || a.t.id - b.t.id);
  return scored.slice(0, limit).map((x) => x.t);
}

/** Applies deltas to the fake core's board, as the reducer would have. @param {Board} board @param {BoardDelta[]} deltas */
function applyDeltas(board, deltas) {
  for (const d of deltas) {
    const { kind, ...rest } = d;
    if (kind === 'reset') {
      const r = /** @type {Board} */ (rest);
      board.lanes = r.lanes;
      board.tickets = r.tickets;
      board.seq = r.seq;
    } else if (kind === 'laneUpserted') {
      const l = /** @type {Lane} */ (rest);
      board.lanes = [...board.lanes.filter((x) => x.id !== l.id), l];
    } else if (kind === 'laneRemoved') {
      const { id } = /** @type {{ id: number }} */ (rest);
      board.lanes = board.lanes.filter((x) => x.id !== id);
    } else if (kind === 'ticketUpserted') {
      const t = /** @type {Ticket} */ (rest);
      const i = board.tickets.findIndex((x) => x.id === t.id);
      if (i < 0) board.tickets.push(t);
      else board.tickets[i] = t;
    } else if (kind === 'ticketRemoved') {
      const { id } = /** @type {{ id: number }} */ (rest);
      board.tickets = board.tickets.filter((x) => x.id !== id);
    }
  }
}

/**
 * What the fake shell answers when a test did not say otherwise.
 * @type {Handlers}
 */
const DEFAULTS = {
  session_status: (_a, shell) => shell.session,
  settings: (_a, shell) => shell.settings,
  set_settings: (args, shell) => {
    shell.settings = args.settings;
    return shell.settings;
  },
  // Like the shell: the session event goes out before the command answers.
  login: async (args, shell) => {
    const s = session(AGENT, { server: args.server });
    shell.session = s;
    await shell.emit('deskbell://session', s);
    return s;
  },
  start_demo: async (_a, shell) => {
    const s = session(AGENT, { server: 'http://127.0.0.1:47000', demo: true });
    shell.session = s;
    await shell.emit('deskbell://session', s);
    return s;
  },
  logout: async (_a, shell) => {
    shell.session = null;
    await shell.emit('deskbell://session', null);
    return null;
  },
  board_view: (args, shell) => {
    const v = boardView(shell.board, shell.session?.user.id ?? -1, args.query);
    const carried = v.columns.reduce((n, c) => n + c.tickets.length, 0) + v.pinned.length;
    shell.mostTicketsInAView = Math.max(shell.mostTicketsInAView, carried);
    return v;
  },
  find_tickets: (args, shell) => findTickets(shell.board, args.text, args.limit),
  connection_state: (_a, shell) => shell.connection,
  reconnect_now: () => null,
  urgent_count: (_a, shell) => shell.urgent,
  mark_read: () => null,
  users: (_a, shell) => {
    if (shell.session?.user.role !== 'admin') throw commandError('forbidden', 'only admins may list users');
    return shell.users;
  },
  // Like the core: move the card at once (a delta), then answer with the new version.
  move_ticket: async (args, shell) => {
    const t = shell.findTicket(args.ticketId);
    await shell.deltas({ kind: 'ticketUpserted', ...t, laneId: args.laneId });
    const moved = { ...t, laneId: args.laneId, version: t.version + 1 };
    Object.assign(t, moved);
    await shell.deltas({ kind: 'ticketUpserted', ...moved });
    return moved;
  },
  patch_ticket: async (args, shell) => {
    const t = shell.findTicket(args.ticketId);
    if (args.expectedVersion !== null && args.expectedVersion !== t.version) {
      throw commandError('conflict', 'the ticket changed', { ...t });
    }
    Object.assign(t, args.patch, { version: t.version + 1 });
    await shell.deltas({ kind: 'ticketUpserted', ...t });
    return { ...t };
  },
  comments: (args, shell) => shell.commentsByTicket.get(args.ticketId) ?? [],
  add_comment: (args, shell) => {
    /** @type {Comment} */
    const c = { id: shell.nextId++, ticketId: args.ticketId, authorId: shell.session?.user.id ?? 0, body: args.comment.body, createdAt: new Date().toISOString(), fromRequester: args.comment.fromRequester ?? false };
    shell.commentsByTicket.set(args.ticketId, [...(shell.commentsByTicket.get(args.ticketId) ?? []), c]);
    return c;
  },
  attachments: (args, shell) => shell.attachmentsByTicket.get(args.ticketId) ?? [],
  upload_attachment: (args, shell) => {
    /** @type {Attachment} */
    const a = { id: shell.nextId++, ticketId: args.ticketId, name: args.fileName, size: args.bytes.length, contentType: args.contentType, uploadedBy: shell.session?.user.id ?? 0, createdAt: new Date().toISOString() };
    shell.attachmentsByTicket.set(args.ticketId, [...(shell.attachmentsByTicket.get(args.ticketId) ?? []), a]);
    return a;
  },
  save_attachment: (args) => `/home/agent/Downloads/${args.fileName}`,
  members: (_a, shell) => shell.members,
  // Like the server: an urgent, open ticket gets the acknowledgement (once; idempotent after).
  acknowledge: async (args, shell) => {
    const t = shell.findTicket(args.ticketId);
    if (t.priority !== 'urgent' || t.status === 'closed') throw commandError('conflict', 'not urgent', { ...t });
    if (t.acknowledgedBy != null) return { ...t };
    Object.assign(t, { acknowledgedBy: shell.session?.user.id ?? 0, acknowledgedAt: new Date().toISOString(), version: t.version + 1 });
    await shell.deltas({ kind: 'ticketUpserted', ...t });
    return { ...t };
  },
  assign_to_me: async (args, shell) => {
    const t = shell.findTicket(args.ticketId);
    const me = shell.session?.user.id ?? 0;
    /** @type {Partial<Ticket>} */
    const ack = t.priority === 'urgent' && t.acknowledgedBy == null ? { acknowledgedBy: me, acknowledgedAt: new Date().toISOString() } : {};
    Object.assign(t, { assigneeId: me, ...ack, version: t.version + 1 });
    await shell.deltas({ kind: 'ticketUpserted', ...t });
    return { ...t };
  },
  snooze: () => null,
  window_ready: () => null,
  window_painted: () => null,
  take_desk_events: (_a, shell) => shell.deskEvents.splice(0),
  open_link: () => null,
  set_open_ticket: () => null,
  inbox: (_a, shell) => shell.inbox,
  mark_inbox_read: async (_a, shell) => {
    shell.inbox = shell.inbox.map((e) => ({ ...e, read: true }));
    return null;
  },
  // Administration, like the server (admins only) and the core (lane events become deltas).
  create_lane: async (args, shell) => {
    shell.requireAdmin();
    const lanes = shell.board.lanes;
    const position = args.lane.position ?? Math.max(-1, ...lanes.map((l) => l.position)) + 1;
    /** @type {Lane} */
    const created = { id: shell.nextId++, companyId: 1, name: args.lane.name, color: args.lane.color, position };
    lanes.push(created);
    await shell.deltas({ kind: 'laneUpserted', ...created });
    return created;
  },
  update_lane: async (args, shell) => {
    shell.requireAdmin();
    const l = shell.board.lanes.find((x) => x.id === args.laneId);
    if (!l) throw commandError('not_found', 'lane not found');
    Object.assign(l, args.patch);
    await shell.deltas({ kind: 'laneUpserted', ...l });
    return { ...l };
  },
  delete_lane: async (args, shell) => {
    shell.requireAdmin();
    shell.board.lanes = shell.board.lanes.filter((x) => x.id !== args.laneId);
    await shell.deltas({ kind: 'laneRemoved', id: args.laneId });
    return null;
  },
  create_user: (args, shell) => {
    shell.requireAdmin();
    if (shell.users.some((u) => u.email === args.user.email)) throw commandError('conflict', 'a user with this email already exists');
    /** @type {User} */
    const u = { id: shell.nextId++, companyId: 1, name: args.user.name, email: args.user.email, role: args.user.role, active: true };
    shell.users.push(u);
    return u;
  },
  update_user: (args, shell) => {
    shell.requireAdmin();
    const u = shell.users.find((x) => x.id === args.userId);
    if (!u) throw commandError('not_found', 'user not found');
    const { password: _password, ...rest } = args.patch;
    void _password;
    Object.assign(u, rest);
    return { ...u };
  },
  company: (_a, shell) => shell.company,
  update_company: (args, shell) => {
    if (shell.session?.user.role !== 'admin') throw commandError('forbidden', 'only admins may change the company');
    const m = args.patch.escalateAfterMinutes;
    if (m !== undefined && (m < 1 || m > 1440)) {
      throw commandError('validation', 'escalateAfterMinutes must be between 1 and 1440');
    }
    shell.company = { ...shell.company, ...args.patch };
    return shell.company;
  },
};

/**
 * Answers the app's commands like the Tauri shell would, records every call, and emits events
 * into the page. Override a command with `shell.handle(name, async (args, shell) => answer)`;
 * throw `{ code, message, current }` (see `commandError`) to reject. Handlers and events are
 * typed by the generated contract (src/generated/contract.ts).
 */
export class FakeShell {
  /**
   * @param {{ session?: SessionInfo | null, board?: Board, settings?: Settings, users?: User[], state?: ConnectionState }} [options]
   */
  constructor({ session: s = session(), board = sampleBoard(), settings = defaultSettings(), users = [ADMIN, AGENT, OTHER], state = { state: 'live' } } = {}) {
    /** @type {SessionInfo | null} */
    this.session = s;
    /** @type {Board} */
    this.board = board;
    /** @type {Settings} */
    this.settings = settings;
    /** @type {User[]} */
    this.users = users;
    /** @type {ConnectionState} */
    this.connection = state;
    this.urgent = 0;
    /** @type {Map<number, Comment[]>} */
    this.commentsByTicket = new Map();
    /** @type {Map<number, Attachment[]>} */
    this.attachmentsByTicket = new Map();
    /** @type {{cmd: string, args: any}[]} */
    this.calls = [];
    /** @type {Handlers} */
    this.handlers = {};
    /** @type {import('playwright-core').Page | null} */
    this.page = null;
    this.nextId = 1000;
    /** @type {Member[]} */
    this.members = membersOf(users);
    /** @type {InboxEntry[]} */
    this.inbox = [];
    /** The shell's mailbox: DeskEvents until the app takes them. @type {DeskEvent[]} */
    this.deskEvents = [];
    /** The most tickets one `board_view` answer carried to the page. */
    this.mostTicketsInAView = 0;
    /** @type {Company} */
    this.company = { ...COMPANY };
  }

  /**
   * @template {CommandName} C
   * @param {C} cmd @param {Handler<C>} fn
   */
  handle(cmd, fn) {
    /** @type {Handlers} */ (this.handlers)[cmd] = /** @type {any} */ (fn);
    return this;
  }

  /** Like the server: only admins may administer. */
  requireAdmin() {
    if (this.session?.user.role !== 'admin') throw commandError('forbidden', 'only admins may do this');
  }

  /** @param {CommandName} cmd */
  callsOf(cmd) {
    return this.calls.filter((c) => c.cmd === cmd);
  }

  /**
   * Emits a Tauri event into the page.
   * @template {keyof EventPayloads} E
   * @param {E} event @param {EventPayloads[E]} payload
   */
  async emit(event, payload) {
    if (!this.page) throw new Error('no page');
    /** @type {[string, unknown]} */
    const arg = [event, payload];
    await this.page.evaluate(([e, p]) => window.__deskbellHarness.emit(e, p), arg);
  }

  /** Puts DeskEvents in the shell's mailbox and says so, as the shell does: the app takes them
   *  with `take_desk_events`. A `board` event with deltas (`{ kind: 'board', deltas }`) changes
   *  the fake core's board first, and reaches the app as the core's does: "the board changed".
   *  @param {...(DeskEvent | { kind: 'board', deltas: BoardDelta[] })} events */
  desk(...events) {
    for (const e of events) {
      if (e.kind === 'board' && 'deltas' in e) {
        applyDeltas(this.board, e.deltas);
        this.deskEvents.push({ kind: 'board' });
      } else {
        this.deskEvents.push(/** @type {DeskEvent} */ (e));
      }
    }
    return this.emit('deskbell://events-waiting', null);
  }

  /** The core's board changes by these deltas (and says so). @param {BoardDelta[]} deltas */
  deltas(...deltas) {
    return this.desk({ kind: 'board', deltas });
  }

  /** @param {ConnectionState} state */
  state(state) {
    return this.desk({ kind: 'state', state });
  }

  /** @param {number} id @returns {Ticket} */
  findTicket(id) {
    const t = this.board.tickets.find((x) => x.id === id);
    if (!t) throw commandError('not_found', `no ticket ${id}`);
    return t;
  }

  /** @param {string} cmd @param {any} args */
  async invoke(cmd, args) {
    this.calls.push({ cmd, args });
    try {
      const name = /** @type {CommandName} */ (cmd);
      /** @type {((args: any, shell: FakeShell) => unknown) | undefined} */
      const fn = this.handlers[name] ?? DEFAULTS[name];
      if (!fn) throw commandError('internal', `the fake shell has no command ${cmd}`);
      const ok = await fn(args, this);
      return { ok: ok === undefined ? null : ok };
    } catch (err) {
      if (err && typeof err === 'object' && 'code' in err) return { err };
      return { err: commandError('internal', err instanceof Error ? err.message : String(err)) };
    }
  }
}

// --- the app in a page ---------------------------------------------------------------------

/**
 * Every channel of the shell (src/generated/contract.ts `EVENTS`): the app listens to all of
 * them before it is ready.
 * @type {(keyof EventPayloads)[]}
 */
export const SHELL_EVENTS = [
  'deskbell://events-waiting',
  'deskbell://session',
  'deskbell://open-ticket',
  'deskbell://settings',
  'deskbell://inbox',
  'deskbell://open-tickets',
  'deskbell://alert-in-place',
];

/**
 * Opens the app (test build) in a fresh browser context wired to `shell`; waits until it has
 * subscribed to the shell's events. Returns the page.
 */
/**
 * @param {Browser} browser @param {string} baseUrl @param {FakeShell} shell
 * @param {{ colorScheme?: 'light' | 'dark', viewport?: { width: number, height: number } }} [options]
 * @returns {Promise<Page>}
 */
export async function openApp(browser, baseUrl, shell, { colorScheme = 'light', viewport = { width: 1400, height: 900 } } = {}) {
  const context = await browser.newContext({ viewport, colorScheme, reducedMotion: 'reduce' });
  const page = await context.newPage();
  shell.page = page;
  await page.exposeFunction('__deskbellInvoke', (cmd, args) => shell.invoke(cmd, args));
  await page.goto(baseUrl);
  await until(
    () => page.evaluate((names) => {
      const listening = window.__deskbellHarness?.listening() ?? [];
      return names.every((n) => listening.includes(n));
    }, SHELL_EVENTS),
    `the app to listen to the shell's events (${SHELL_EVENTS.join(', ')})`,
  );
  return page;
}

/**
 * Saves a screenshot of a failed test (test-artifacts/NAME.png).
 * @param {Page} page @param {string} name
 */
export async function screenshot(page, name) {
  if (!page || page.isClosed()) return;
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name.replace(/[^a-z0-9]+/gi, '-').slice(0, 80)}.png`) }).catch(() => {});
}

/** @param {string} id */
export const tid = (id) => `[data-testid="${id}"]`;

/**
 * Ticket ids of the cards rendered in a lane, in order.
 * @param {Page} page @param {number | null} laneId
 */
export function laneCards(page, laneId) {
  return page.$$eval(`${tid(`lane-${laneId ?? 'none'}`)} [data-ticket-id]`, (els) =>
    els.map((e) => Number(e.getAttribute('data-ticket-id'))),
  );
}

/**
 * Registers the file's `before`/`after` hooks (one static server and one browser per file) and
 * returns `withApp(t, shell, fn, options)`: runs `fn` on a fresh app page (after `ready`, a
 * test id to wait for, if given), with a screenshot on failure.
 * @param {{ before: Function, after: Function }} hooks `node:test`'s hooks
 * @param {{ ready?: string }} [options]
 */
export function useApp({ before, after }, { ready } = {}) {
  let server;
  let browser;
  before(async () => {
    server = await serveStatic();
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });
  return async function withApp(t, shell, fn, options) {
    const page = await openApp(browser, server.url, shell, options);
    try {
      if (ready) await page.locator(tid(ready)).waitFor();
      await fn(page);
    } catch (e) {
      await screenshot(page, t.name);
      throw e;
    } finally {
      await page.context().close();
    }
  };
}
