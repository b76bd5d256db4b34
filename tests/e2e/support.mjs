// What the end-to-end test uses besides the app: the demo server's REST API (as another user),
// the demo server process itself (SIGKILL and restart), the capturing notification server and
// the keychain (libsecret's secret-tool, a different Secret Service client than the app's).
// Everything comes from tests/e2e/run.sh through E2E_* variables.

import { spawn, execFile } from 'node:child_process';
import { openSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this test through tests/e2e/run.sh`);
  return value;
}

export const DEMO_PASSWORD = 'deskbell-demo';
export const AGENT = 'agent1@acme.test';
export const AGENT2 = 'agent2@acme.test';
export const ADMIN = 'admin@acme.test';

/** Polls `probe` until it returns a truthy value; throws `message` (with the last value or
 *  error) after `timeout` ms. For waits outside the browser (REST, files, processes). */
export async function until(probe, { timeout = 15_000, interval = 200, message = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
      last = value;
    } catch (e) {
      last = e;
    }
    if (Date.now() >= deadline) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out after ${timeout} ms waiting for ${message} (last: ${detail})`);
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

// --- the app -----------------------------------------------------------------------------------

/** A WebDriver session on the app (tauri-driver launches it with `args`; closing the session
 *  ends it). */
export async function openApp(application = env('E2E_APP'), { driverPort = env('E2E_DRIVER_PORT'), args = [] } = {}) {
  // Imported here so that scripts outside tests/e2e (bench/app) find tests/e2e's webdriverio.
  const { remote } = await import('webdriverio');
  return remote({
    hostname: '127.0.0.1',
    port: Number(driverPort),
    logLevel: 'warn',
    connectionRetryTimeout: 120_000,
    connectionRetryCount: 0,
    capabilities: {
      'wdio:enforceWebDriverClassic': true,
      'tauri:options': { application, args },
    },
  });
}

// --- REST ---------------------------------------------------------------------------------------

export class Api {
  constructor(base) {
    this.base = base.replace(/\/+$/, '');
    this.token = null;
  }

  /** `raw`: answers `{status, text}` without parsing (a proxy's error page is HTML). */
  async request(method, path, { body, headers = {}, token = this.token, ok = true, raw = false } = {}) {
    const res = await fetch(this.base + path, {
      method,
      headers: {
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...headers,
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    if (raw) return { status: res.status, text };
    const json = text ? JSON.parse(text) : null;
    if (ok && !res.ok) {
      throw new Error(`${method} ${path} → ${res.status}: ${text}`);
    }
    return { status: res.status, body: json };
  }

  async login(email, password = DEMO_PASSWORD) {
    const { body } = await this.request('POST', '/api/auth/login', {
      body: { email, password },
      token: null,
    });
    this.token = body.accessToken;
    this.user = body.user;
    this.company = body.company;
    return body;
  }

  async board() {
    return (await this.request('GET', '/api/board')).body;
  }

  async ticket(id) {
    return (await this.request('GET', `/api/tickets/${id}`)).body;
  }

  async createTicket(ticket) {
    return (await this.request('POST', '/api/tickets', { body: ticket })).body;
  }

  async patchTicket(ticket, patch) {
    return (
      await this.request('PATCH', `/api/tickets/${ticket.id}`, {
        body: patch,
        headers: { 'if-match': String(ticket.version) },
      })
    ).body;
  }

  async moveTicket(ticket, laneId) {
    return (
      await this.request('POST', `/api/tickets/${ticket.id}/move`, {
        body: { laneId },
        headers: { 'if-match': String(ticket.version) },
      })
    ).body;
  }

  /** Changes a user (admin only): `{active}`, `{role}`, `{password}`, `{name}`. */
  async patchUser(id, patch) {
    return (await this.request('PATCH', `/api/users/${id}`, { body: patch })).body;
  }

  /** Uploads `bytes` as attachment `name` of ticket `id` (multipart, field "file"). */
  async uploadAttachment(id, name, bytes, contentType = 'application/octet-stream') {
    const form = new FormData();
    form.append('file', new Blob([bytes], { type: contentType }), name);
    const res = await fetch(`${this.base}/api/tickets/${id}/attachments`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.token}` },
      body: form,
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`POST /api/tickets/${id}/attachments → ${res.status}: ${text}`);
    return JSON.parse(text);
  }

  async healthy() {
    try {
      const res = await fetch(`${this.base}/health`, { signal: AbortSignal.timeout(2_000) });
      return res.ok;
    } catch {
      return false;
    }
  }
}

// --- the demo server process --------------------------------------------------------------------

export class DemoServer {
  constructor() {
    this.url = env('E2E_SERVER_URL');
    this.bin = env('E2E_SERVER_BIN');
    this.dataDir = env('E2E_SERVER_DATA');
    this.pidfile = env('E2E_SERVER_PIDFILE');
    this.logFile = env('E2E_SERVER_LOG');
  }

  pid() {
    return Number(readFileSync(this.pidfile, 'utf8').trim());
  }

  alive() {
    try {
      process.kill(this.pid(), 0);
      return true;
    } catch {
      return false;
    }
  }

  /** SIGKILL: no graceful shutdown, sockets die with the process. */
  async kill() {
    const pid = this.pid();
    process.kill(pid, 'SIGKILL');
    await until(() => !this.alive(), { timeout: 10_000, message: `server pid ${pid} to die` });
    const api = new Api(this.url);
    await until(async () => !(await api.healthy()), { timeout: 10_000, message: 'the port to close' });
  }

  /** Starts it again on the same address and data dir (run.sh's trap stops it via the pidfile). */
  async restart() {
    const bind = new URL(this.url).host;
    const out = openSync(this.logFile, 'a');
    const child = spawn(this.bin, ['demo', '--bind', bind, '--data-dir', this.dataDir], {
      stdio: ['ignore', out, out],
    });
    child.unref();
    writeFileSync(this.pidfile, `${child.pid}\n`);
    const api = new Api(this.url);
    await until(() => api.healthy(), { timeout: 60_000, message: `the restarted server at ${this.url}` });
    return child.pid;
  }
}

// --- the capturing notification server (tests/notify-capture) ---------------------------------

export class Notifications {
  constructor() {
    this.url = env('E2E_NOTIFY_URL');
    this.record = env('E2E_NOTIFY_RECORD');
  }

  /** Every line of the record file so far (one JSON object per line). */
  entries() {
    if (!existsSync(this.record)) return [];
    return readFileSync(this.record, 'utf8')
      .split('\n')
      .filter((line) => line.trim())
      .map((line) => JSON.parse(line));
  }

  /** Every Notify call so far: { id, sender, appName, summary, body, actions, urgency, hints, … }. */
  calls() {
    return this.entries().filter((e) => e.closed === undefined);
  }

  /** Every CloseNotification call so far: { closed: id, sender, receivedAtMs }. */
  closes() {
    return this.entries().filter((e) => e.closed !== undefined);
  }

  /** Emits ActionInvoked(id, action), as a desktop does when the user clicks the action. */
  async invoke(id, action) {
    const res = await fetch(`${this.url}/invoke/${id}/${encodeURIComponent(action)}`, {
      method: 'POST',
      signal: AbortSignal.timeout(5_000),
    });
    if (!res.ok) throw new Error(`invoke ${id}/${action} → ${res.status}: ${await res.text()}`);
  }
}

// --- the tray host (notify-capture --tray-host) -------------------------------------------------

/** The app's tray icon as the private session's tray host sees it (tests/notify-capture). */
export class Tray {
  constructor() {
    this.url = env('E2E_NOTIFY_URL');
  }

  /** The app's item ({title, status, label, menu: [{id, label, kind, enabled, visible, checked}]})
   *  or null when none is registered (or it left the bus). */
  async item() {
    const res = await fetch(`${this.url}/tray`, { signal: AbortSignal.timeout(5_000) });
    if (!res.ok) throw new Error(`GET /tray → ${res.status}: ${await res.text()}`);
    const items = await res.json();
    // The newest: an app an earlier scenario closed may still be in the tray (closing the
    // window keeps Deskbell running there), registered before the app under test.
    return items.filter((i) => i.menu.some((e) => e.label === 'Open Deskbell')).at(-1) ?? null;
  }

  /** The menu entry whose label matches `re` (a RegExp), or null. */
  async entry(re) {
    return (await this.item())?.menu.find((e) => re.test(e.label)) ?? null;
  }

  /** Quits the app from its tray menu, as a user ends it, and waits until its icon has left the
   *  tray (the app has exited). */
  async quitApp(timeout = 20_000) {
    await this.click(/^Quit Deskbell$/);
    await until(async () => (await this.item()) === null, {
      timeout, message: 'the app (its tray icon) to leave the bus',
    });
  }

  /** Clicks the menu entry whose label matches `re`, as a user would from the tray. */
  async click(re) {
    const entry = await this.entry(re);
    if (!entry) throw new Error(`no tray menu entry matching ${re}`);
    const res = await fetch(`${this.url}/tray/click/${entry.id}`, {
      method: 'POST',
      signal: AbortSignal.timeout(5_000),
    });
    if (!res.ok) throw new Error(`clicking tray entry ${entry.label} → ${res.status}: ${await res.text()}`);
  }
}

// --- the keychain (gnome-keyring through libsecret's secret-tool) ------------------------------

export const KEYCHAIN_SERVICE = 'deskbell';

/** `Account::keychain_user` in crates/client/src/token_store.rs. */
export function keychainUser(email, server) {
  return `${email.trim().toLowerCase()}@${server.trim().replace(/\/+$/, '')}`;
}

/** The secret stored for (service, username), or null when there is none. */
export async function secretLookup(username) {
  try {
    const { stdout } = await execFileP('secret-tool', [
      'lookup', 'service', KEYCHAIN_SERVICE, 'username', username,
    ]);
    return stdout.length > 0 ? stdout : null;
  } catch {
    return null; // secret-tool exits 1 when nothing matches
  }
}

/** Removes every `deskbell` entry from the keyring (a scenario's clean-up when it could not
 *  sign out through the app). */
export async function keychainClear() {
  try {
    await execFileP('secret-tool', ['clear', 'service', KEYCHAIN_SERVICE]);
  } catch {
    // Nothing to clear.
  }
}

/** The usernames of every `deskbell` entry in the keyring. */
export async function keychainUsers() {
  let out = '';
  try {
    const { stdout, stderr } = await execFileP('secret-tool', [
      'search', '--all', 'service', KEYCHAIN_SERVICE,
    ]);
    // Attributes go to stderr on some libsecret versions, stdout on others.
    out = `${stdout}\n${stderr}`;
  } catch (e) {
    out = `${e.stdout ?? ''}\n${e.stderr ?? ''}`;
  }
  return [...out.matchAll(/^attribute\.username = (.*)$/gm)].map((m) => m[1].trim());
}
