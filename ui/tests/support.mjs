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
 * @typedef {import('../src/generated/client').SessionInfo} SessionInfo
 * @typedef {import('../src/generated/client').Settings} Settings
 * @typedef {import('../src/generated/client').ConnectionState} ConnectionState
 * @typedef {import('../src/generated/client').CommandError} CommandError
 * @typedef {import('../src/generated/client').DeskEvent} DeskEvent
 * @typedef {import('../src/generated/client').BoardDelta} BoardDelta
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

export const COMPANY = { id: 1, name: 'Acme Support' };
/** @type {User} */
export const AGENT = { id: 2, companyId: 1, name: 'Alex Agent', email: 'alex@acme.test', role: 'agent', active: true };
/** @type {User} */
export const ADMIN = { id: 1, companyId: 1, name: 'Ada Admin', email: 'ada@acme.test', role: 'admin', active: true };
/** @type {User} */
export const OTHER = { id: 3, companyId: 1, name: 'Sam Support', email: 'sam@acme.test', role: 'agent', active: true };

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
    alerts: { level: 'urgentOnly', doNotDisturb: false },
    launchAtLogin: false,
    closeToTray: true,
    theme: 'system',
    lastServer: 'https://desk.acme.test',
    lastEmail: 'alex@acme.test',
  };
}

/**
 * A CommandError as the shell rejects with.
 * @param {string} code @param {string} [message] @param {Ticket | null} [current]
 * @returns {CommandError}
 */
export function commandError(code, message = code, current = null) {
  return { code, message, current };
}

// --- the fake shell ------------------------------------------------------------------------

/**
 * Answers the app's commands like the Tauri shell would, records every call, and emits events
 * into the page. Override a command with `shell.handle(name, async (args, shell) => value)`;
 * throw `{ code, message, current }` (see `commandError`) to reject.
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
    /** @type {Map<string, (args: any, shell: FakeShell) => any>} */
    this.handlers = new Map();
    /** @type {import('playwright-core').Page | null} */
    this.page = null;
    this.nextId = 1000;
  }

  /** @param {string} cmd @param {(args: any, shell: FakeShell) => any} fn */
  handle(cmd, fn) {
    this.handlers.set(cmd, fn);
    return this;
  }

  callsOf(cmd) {
    return this.calls.filter((c) => c.cmd === cmd);
  }

  /** Emits a Tauri event into the page. @param {string} event @param {unknown} payload */
  async emit(event, payload) {
    if (!this.page) throw new Error('no page');
    /** @type {[string, unknown]} */
    const arg = [event, payload];
    await this.page.evaluate(([e, p]) => window.__deskbellHarness.emit(e, p), arg);
  }

  /** Emits DeskEvents, as one `deskbell://events` batch. @param {...DeskEvent} events */
  desk(...events) {
    return this.emit('deskbell://events', events);
  }

  /** Emits board deltas. @param {BoardDelta[]} deltas */
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

  async invoke(cmd, args) {
    this.calls.push({ cmd, args });
    try {
      const fn = this.handlers.get(cmd) ?? ((a) => this.default(cmd, a));
      const ok = await fn(args, this);
      return { ok: ok === undefined ? null : ok };
    } catch (err) {
      if (err && typeof err === 'object' && 'code' in err) return { err };
      return { err: commandError('internal', err instanceof Error ? err.message : String(err)) };
    }
  }

  async default(cmd, args) {
    switch (cmd) {
      case 'session_status':
        return this.session;
      case 'settings':
        return this.settings;
      case 'set_settings':
        this.settings = args.settings;
        return this.settings;
      // Like the shell: the session event goes out before the command answers.
      case 'login':
        this.session = session(AGENT, { server: args.server });
        await this.emit('deskbell://session', this.session);
        return this.session;
      case 'start_demo':
        this.session = session(AGENT, { server: 'http://127.0.0.1:47000', demo: true });
        await this.emit('deskbell://session', this.session);
        return this.session;
      case 'logout':
        this.session = null;
        await this.emit('deskbell://session', null);
        return null;
      case 'board':
        return this.board;
      case 'connection_state':
        return this.connection;
      case 'reconnect_now':
        return null;
      case 'urgent_count':
        return this.urgent;
      case 'mark_read':
        return null;
      case 'users':
        if (this.session?.user.role !== 'admin') throw commandError('forbidden', 'only admins may list users');
        return this.users;
      case 'move_ticket': {
        // Like the core: move the card at once (a delta), then answer with the new version.
        const t = this.findTicket(args.ticketId);
        await this.deltas({ kind: 'ticketUpserted', ...t, laneId: args.laneId });
        const moved = { ...t, laneId: args.laneId, version: t.version + 1 };
        Object.assign(t, moved);
        await this.deltas({ kind: 'ticketUpserted', ...moved });
        return moved;
      }
      case 'patch_ticket': {
        const t = this.findTicket(args.ticketId);
        if (args.expectedVersion !== null && args.expectedVersion !== t.version) {
          throw commandError('conflict', 'the ticket changed', { ...t });
        }
        Object.assign(t, args.patch, { version: t.version + 1 });
        await this.deltas({ kind: 'ticketUpserted', ...t });
        return { ...t };
      }
      case 'comments':
        return this.commentsByTicket.get(args.ticketId) ?? [];
      case 'add_comment': {
        const c = { id: this.nextId++, ticketId: args.ticketId, authorId: this.session?.user.id ?? 0, body: args.body, createdAt: new Date().toISOString() };
        this.commentsByTicket.set(args.ticketId, [...(this.commentsByTicket.get(args.ticketId) ?? []), c]);
        return c;
      }
      case 'attachments':
        return this.attachmentsByTicket.get(args.ticketId) ?? [];
      case 'upload_attachment': {
        const a = { id: this.nextId++, ticketId: args.ticketId, name: args.fileName, size: args.bytes.length, contentType: args.contentType, uploadedBy: this.session?.user.id ?? 0, createdAt: new Date().toISOString() };
        this.attachmentsByTicket.set(args.ticketId, [...(this.attachmentsByTicket.get(args.ticketId) ?? []), a]);
        return a;
      }
      case 'save_attachment':
        return `/home/agent/Downloads/${args.fileName}`;
      default:
        throw commandError('internal', `the fake shell has no command ${cmd}`);
    }
  }
}

// --- the app in a page ---------------------------------------------------------------------

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
    () => page.evaluate(() => window.__deskbellHarness?.listening().length === 4),
    'the app to listen to the 4 shell events',
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
