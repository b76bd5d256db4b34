// Shared helpers of the Node tests that drive the official npm `socket.io-client` (v4) against a
// running Deskbell server: REST calls, JWTs, a recorder of every socket event in arrival order, and
// connect helpers. Every wait is on a condition with a deadline; every socket made here is tracked
// so the test files can close them all in after().
//
// Env (read here, shared by every test file):
//   DESKBELL_URL                 base URL of a server seeded with the demo data (required)
//   DESKBELL_JWT_SECRET          HS256 secret the server signs access tokens with (required)
//   DESKBELL_TEST_TIMEOUT_MS     deadline for each single wait (default 10000)
//   DESKBELL_BACKGROUND_TRAFFIC  set to 1 if something else writes to the server while the tests run
//                                ("exactly these events" checks then become "no leaked ones")
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { io } from 'socket.io-client';

export const BASE = (process.env.DESKBELL_URL || '').replace(/\/+$/, '');
export const SECRET = (process.env.DESKBELL_JWT_SECRET || '').trim(); // the server trims its secret file too
export const WAIT_MS = Number(process.env.DESKBELL_TEST_TIMEOUT_MS || 10000);
export const STRICT = process.env.DESKBELL_BACKGROUND_TRAFFIC !== '1';
export const TEST_MS = WAIT_MS * 6; // backstop per test; single waits fail much earlier
export const PASSWORD = 'deskbell-demo';
export const RUN = crypto.randomBytes(4).toString('hex'); // makes titles unique per run

// ---------------------------------------------------------------------------------------------
// small helpers

export function withTimeout(promise, what, ms = WAIT_MS) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export async function api(method, path, { token, body, headers = {} } = {}) {
  const h = { accept: 'application/json', ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  if (body !== undefined) h['content-type'] = 'application/json';
  const res = await fetch(BASE + path, {
    method,
    headers: h,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(WAIT_MS),
  });
  const text = await res.text();
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text, headers: res.headers };
}

export async function apiOk(method, path, opts, expectStatus) {
  const r = await api(method, path, opts);
  assert.equal(r.status, expectStatus, `${method} ${path} → ${r.status}: ${r.text}`);
  return r.json;
}

export const sessions = new Map();
export async function login(email) {
  if (!sessions.has(email)) {
    const body = await apiOk('POST', '/api/auth/login', { body: { email, password: PASSWORD } }, 200);
    assert.equal(typeof body.accessToken, 'string', 'login: accessToken');
    assert.ok(body.user && body.company, 'login: user and company present');
    sessions.set(email, body);
  }
  return sessions.get(email);
}

export const b64url = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
export function signJwt(claims, secret) {
  const head = b64url({ alg: 'HS256', typ: 'JWT' });
  const payload = b64url(claims);
  const sig = crypto.createHmac('sha256', secret).update(`${head}.${payload}`).digest('base64url');
  return `${head}.${payload}.${sig}`;
}
export function jwtClaims(token) {
  const parts = token.split('.');
  assert.equal(parts.length, 3, 'access token is a JWT');
  return JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
}
export const nowSecs = () => Math.floor(Date.now() / 1000);

export function createTicket(token, fields) {
  return apiOk(
    'POST',
    '/api/tickets',
    {
      token,
      body: {
        requester: { name: 'Node Reference Client', contact: 'node-ref@example.test' },
        priority: 'normal',
        message: 'created by the Node socket.io-client tests (tests/node)',
        ...fields,
      },
    },
    201,
  );
}
export const title = (what) => `node-ref ${RUN} ${what}`;

export const isInt = (v) => typeof v === 'number' && Number.isInteger(v);
export const isDate = (v) => typeof v === 'string' && !Number.isNaN(Date.parse(v));
export const summary = (e) =>
  `${e.name}${e.data && typeof e.data === 'object' ? ` ${JSON.stringify(e.data).slice(0, 300)}` : ''}`;

// ---------------------------------------------------------------------------------------------
// sockets: every socket is tracked and closed in after(); every event is recorded in arrival order

export const openSockets = new Set();

export class Recorder {
  constructor(socket) {
    this.socket = socket;
    this.events = []; // every event ever received: {name, data, index}
    this.cursor = 0; // next() consumes from here
    this.waiters = new Set();
    this.disconnectReason = null;
    socket.onAny((name, data) => {
      this.events.push({ name, data, index: this.events.length });
      this.#wake();
    });
    socket.on('disconnect', (reason) => {
      this.disconnectReason = reason;
      this.#wake();
    });
  }

  #wake() {
    for (const w of [...this.waiters]) w();
  }

  // Resolve with the first event at or after the cursor that matches `pred`; the cursor moves past
  // it. The non-matching events passed over are returned in `skipped` so callers can assert on them.
  next(pred = () => true, what = 'an event') {
    const start = this.cursor;
    let done = false;
    let check;
    const found = new Promise((resolve, reject) => {
      check = () => {
        if (done) return;
        while (this.cursor < this.events.length) {
          const e = this.events[this.cursor];
          this.cursor += 1;
          if (pred(e)) {
            done = true;
            resolve({ ...e, skipped: this.events.slice(start, this.cursor - 1) });
            return;
          }
        }
        if (this.disconnectReason !== null) {
          done = true;
          reject(new Error(`socket disconnected (${this.disconnectReason}) while waiting for ${what}`));
        }
      };
    });
    this.waiters.add(check);
    check();
    return withTimeout(found, what)
      .catch((err) => {
        const seen = this.events.slice(start).map(summary);
        throw new Error(`${err.message}; events received meanwhile: ${seen.length ? seen.join(' | ') : 'none'}`);
      })
      .finally(() => {
        done = true;
        this.waiters.delete(check);
      });
  }

  count(name) {
    return this.events.filter((e) => e.name === name).length;
  }
}

export function makeSocket(nsp, opts = {}) {
  const socket = io(BASE + nsp, {
    reconnection: false,
    forceNew: true,
    timeout: WAIT_MS,
    ...opts,
  });
  openSockets.add(socket);
  const rec = new Recorder(socket);
  return { socket, rec };
}

export function close(socket) {
  socket.disconnect();
  openSockets.delete(socket);
}

// Connect and resolve once connected (rejects on connect_error with its message).
export async function connect(nsp, opts) {
  const { socket, rec } = makeSocket(nsp, opts);
  await withTimeout(
    new Promise((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', (err) =>
        reject(new Error(`connect to ${nsp} failed: connect_error "${err.message}"`)),
      );
    }),
    `connect to ${nsp}`,
  );
  return { socket, rec };
}

// Connect expecting a connect_error; resolves with the error. Fails if the connection succeeds.
export async function connectError(nsp, opts) {
  const { socket, rec } = makeSocket(nsp, opts);
  try {
    return await withTimeout(
      new Promise((resolve, reject) => {
        socket.once('connect_error', resolve);
        socket.once('connect', () =>
          reject(new Error(`connect to ${nsp} unexpectedly succeeded (events so far: ${rec.events.map(summary)})`)),
        );
      }),
      `connect_error on ${nsp}`,
    );
  } finally {
    close(socket);
  }
}

export const syncName = (cid) => `company-${cid}-sync`;
export const ticketName = (cid) => `company-${cid}-ticket`;

export async function nextSync(rec, cid) {
  const e = await rec.next((x) => x.name === syncName(cid), `${syncName(cid)}`);
  assert.ok(e.data && typeof e.data === 'object', `sync payload is an object: ${summary(e)}`);
  assert.ok(['replay', 'reset'].includes(e.data.mode), `sync.mode: ${summary(e)}`);
  assert.ok(isInt(e.data.head) && e.data.head >= 0, `sync.head is a non-negative integer: ${summary(e)}`);
  return e;
}

export const ticketEvent = (cid, action, ticketId) => (e) =>
  e.name === ticketName(cid) &&
  e.data?.action === action &&
  (e.data?.ticket?.id === ticketId || e.data?.ticketId === ticketId);

// true when the event mentions the ticket (by id in the same company, or by its unique title)
export function mentions(e, ticket) {
  const s = JSON.stringify(e.data ?? null);
  return s.includes(ticket.title) || e.data?.ticket?.id === ticket.id || e.data?.ticketId === ticket.id;
}

export function assertEnvelope(e, { cid, action, actorId }) {
  const d = e.data;
  assert.equal(d.action, action, `action: ${summary(e)}`);
  assert.ok(isInt(d.seq) && d.seq > 0, `seq is a positive integer: ${summary(e)}`);
  assert.equal(d.companyId, cid, `companyId: ${summary(e)}`);
  if (actorId !== undefined) assert.equal(d.userId, actorId, `userId (actor): ${summary(e)}`);
  assert.ok(isDate(d.timestamp), `timestamp is RFC 3339: ${summary(e)}`);
}

export function assertTicketShape(t, cid) {
  const where = JSON.stringify(t);
  assert.ok(t && typeof t === 'object', 'ticket present');
  assert.ok(t.id !== undefined && t.id !== null, `ticket.id: ${where}`);
  assert.equal(t.companyId, cid, `ticket.companyId: ${where}`);
  assert.equal(typeof t.title, 'string', `ticket.title: ${where}`);
  assert.equal(typeof t.requester?.name, 'string', `ticket.requester.name: ${where}`);
  assert.ok(['open', 'pending', 'closed'].includes(t.status), `ticket.status: ${where}`);
  assert.ok(['low', 'normal', 'high', 'urgent'].includes(t.priority), `ticket.priority: ${where}`);
  assert.ok('assigneeId' in t, `ticket.assigneeId present: ${where}`);
  assert.ok('laneId' in t, `ticket.laneId present: ${where}`);
  assert.ok('creatorId' in t, `ticket.creatorId present: ${where}`);
  assert.ok('lastMessage' in t, `ticket.lastMessage present: ${where}`);
  assert.ok(isInt(t.commentCount), `ticket.commentCount: ${where}`);
  assert.ok(isDate(t.createdAt), `ticket.createdAt: ${where}`);
  assert.ok(isDate(t.updatedAt), `ticket.updatedAt: ${where}`);
  assert.ok(isInt(t.version) && t.version >= 1, `ticket.version: ${where}`);
}

