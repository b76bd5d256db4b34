// What the cluster tests share: the topology from scripts/cluster.sh's state (env set by
// tests/cluster/run.sh), REST against one chosen base URL (a node's own port or the balancer),
// a board-keeping client that reconnects and replays like the protocol asks, a paced stream of
// writes, and waits on conditions with deadlines.
//
// The npm socket.io-client is the one installed for tests/node (no second copy to install);
// withTimeout, Recorder and summary come from tests/node/support.mjs.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { withTimeout, Recorder, summary, PASSWORD } from '../node/support.mjs';

export { withTimeout, Recorder, summary, PASSWORD };

const require = createRequire(new URL('../node/package.json', import.meta.url));
export const { io } = require('socket.io-client');

function env(name) {
  const v = process.env[name];
  assert.ok(v, `${name} is not set: run these tests through tests/cluster/run.sh`);
  return v;
}

export const CLUSTER = {
  url: env('CLUSTER_URL'),
  nodeUrls: env('CLUSTER_NODE_URLS').split(/\s+/).filter(Boolean),
  redisUrl: env('CLUSTER_REDIS_URL'),
  redisPort: env('CLUSTER_REDIS_PORT'),
  redisDir: env('CLUSTER_REDIS_DIR'),
  redisPidfile: env('CLUSTER_REDIS_PIDFILE'),
  stateDir: env('CLUSTER_STATE_DIR'),
  logDir: env('CLUSTER_LOG_DIR'),
  script: env('CLUSTER_SCRIPT'),
  redisScript: env('CLUSTER_REDIS_SCRIPT'),
};
/** Pids of the nodes as they are now (--start-node rewrites them in the state file). */
export function nodePids() {
  const text = readFileSync(`${CLUSTER.stateDir}/cluster.env`, 'utf8');
  const m = text.match(/^CLUSTER_NODE_PIDS=(.*)$/m);
  assert.ok(m, 'CLUSTER_NODE_PIDS in the state file');
  return m[1].replace(/\\ /g, ' ').replace(/^'|'$/g, '').split(/\s+/).filter(Boolean).map(Number);
}
/** Node K's exit status once it has exited (scripts/cluster.sh's watcher writes it; 128+N for
 *  signal N), null while it runs. */
export function nodeExit(k) {
  try {
    return Number(readFileSync(`${CLUSTER.stateDir}/node-${k}.exit`, 'utf8').trim());
  } catch {
    return null;
  }
}
export const redisPid = () => Number(readFileSync(CLUSTER.redisPidfile, 'utf8').trim());

export const WAIT_MS = Number(process.env.DESKBELL_TEST_TIMEOUT_MS || 10000);
/** How long every client may take to see every acknowledged write once a fault is over. */
export const CATCH_UP_MS = Number(process.env.CLUSTER_CATCH_UP_MS || 30000);
export const RUN = crypto.randomBytes(3).toString('hex');

export function run(cmd, args, extraEnv = {}) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { env: { ...process.env, ...extraEnv }, timeout: 120000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else resolve(stdout.trim());
    });
  });
}
export const startRedis = () =>
  run('bash', [CLUSTER.redisScript], { DESKBELL_REDIS_PORT: CLUSTER.redisPort, DESKBELL_REDIS_DIR: CLUSTER.redisDir });
export const stopRedis = () =>
  run('bash', [CLUSTER.redisScript, '--stop'], { DESKBELL_REDIS_PORT: CLUSTER.redisPort, DESKBELL_REDIS_DIR: CLUSTER.redisDir });
export const startNode = (k) => run('bash', [CLUSTER.script, '--state-dir', CLUSTER.stateDir, '--start-node', String(k)]);

// ---------------------------------------------------------------------------------------------
// waiting

/** Resolves once `cond()` is truthy (polled), or fails naming `what` and what `detail()` says. */
export async function until(what, cond, { ms = WAIT_MS, every = 50, detail } = {}) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${ms} ms waiting for ${what}${detail ? `: ${await detail()}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, every));
  }
}

// ---------------------------------------------------------------------------------------------
// REST against one base URL

export async function apiAt(base, method, path, { token, body, headers = {}, timeout = WAIT_MS } = {}) {
  const h = { accept: 'application/json', ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  if (body !== undefined) h['content-type'] = 'application/json';
  let res;
  try {
    res = await fetch(base + path, {
      method,
      headers: h,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeout),
    });
  } catch (err) {
    return { status: 0, json: undefined, text: `${err.name}: ${err.message}` };
  }
  const text = await res.text();
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

export async function okAt(base, method, path, opts, expect) {
  const r = await apiAt(base, method, path, opts);
  assert.equal(r.status, expect, `${method} ${base}${path} → ${r.status}: ${r.text}`);
  return r.json;
}

export const loginAt = (base, email) =>
  okAt(base, 'POST', '/api/auth/login', { body: { email, password: PASSWORD } }, 200);

// ---------------------------------------------------------------------------------------------
// A client that keeps a board like the Deskbell client does: snapshot over REST, then events
// applied by version; it tracks the highest seq it has seen and reconnects with it as lastSeq
// (the auth callback is asked again on every connect), so a replay fills what it missed.
// Everything that must not happen is recorded, not thrown, and checked by the test afterwards.

const DATA = ['ticket', 'comment', 'attachment', 'lane'];

export class BoardClient {
  constructor(name, session, base) {
    this.name = name;
    this.session = session;
    this.base = base;
    this.cid = session.company.id;
    this.tickets = new Map();
    this.highest = 0;
    this.snapshotSeq = 0;
    this.streams = new Map(); // stream → last seq received in it
    this.seen = new Set(); // every seq received
    this.creates = new Map(); // ticket id → create events received
    this.problems = []; // duplicates, out-of-order, gaps, resets, unexpected session ends
    this.connects = 0;
    this.disconnects = [];
    this.connectErrors = [];
    this.connected = false;
    this.synced = false;
    this.closed = false;
  }

  async loadSnapshot() {
    const board = await okAt(this.base, 'GET', '/api/board', { token: this.session.accessToken }, 200);
    this.tickets = new Map(board.tickets.map((t) => [t.id, t]));
    this.snapshotSeq = board.seq;
    this.highest = Math.max(this.highest, board.seq);
    return board;
  }

  async start() {
    await this.loadSnapshot();
    const cid = this.cid;
    this.socket = io(`${this.base}/workspace-${cid}`, {
      transports: ['websocket'], // the Deskbell client's only transport; the balancer is not sticky
      forceNew: true,
      reconnection: true,
      reconnectionDelay: 100,
      reconnectionDelayMax: 1000,
      timeout: 5000,
      auth: (cb) => cb({ token: this.session.accessToken, lastSeq: this.highest }),
    });
    this.socket.on('connect', () => {
      this.connects += 1;
      this.connected = true;
      this.synced = false;
    });
    this.socket.on('disconnect', (reason) => {
      this.connected = false;
      this.synced = false;
      this.disconnects.push({ reason, at: Date.now() });
      // The server ended the socket (a node draining): socket.io-client leaves that to us.
      if (reason === 'io server disconnect' && !this.closed && !this.ended) this.retry();
    });
    this.socket.on('connect_error', (err) => {
      this.connectErrors.push(err.message);
      // A refusal by the server (e.g. `unavailable` while a node cannot check the token) is
      // not retried by socket.io-client itself; the protocol says to retry it.
      if (!this.socket.active && !this.closed) this.retry();
    });
    this.socket.onAny((name, data) => this.#onEvent(name, data));
    await until(`${this.name} connected and synced`, () => this.synced, {
      detail: () => `connect errors: ${this.connectErrors.join(', ') || 'none'}`,
    });
  }

  retry() {
    setTimeout(() => {
      if (!this.closed && !this.socket.connected) this.socket.connect();
    }, 200);
  }

  #onEvent(name, data) {
    const cid = this.cid;
    if (name === `company-${cid}-sync`) {
      if (data?.mode !== 'replay') {
        // A reset means the server could not replay from our lastSeq: nothing in this test
        // (no retention, fresh log) should need one. Reload so the checks after stay meaningful.
        this.problems.push(`sync ${JSON.stringify(data)} after lastSeq ${this.highest} (expected replay)`);
        this.loadSnapshot().then(() => (this.synced = true));
        return;
      }
      this.synced = true;
      return;
    }
    if (name === `company-${cid}-session`) {
      this.ended = data;
      this.problems.push(`session ended: ${JSON.stringify(data)}`);
      return;
    }
    if (!DATA.some((r) => name === `company-${cid}-${r}`)) {
      this.problems.push(`unexpected event ${summary({ name, data })}`);
      return;
    }
    const { seq } = data;
    const what = `${data.action} of ticket ${data.ticket?.id ?? data.ticketId}`;
    if (this.seen.has(seq)) {
      this.problems.push(`seq ${seq} (${what}) received twice`);
      return;
    }
    this.seen.add(seq);
    if (!(Number.isInteger(seq) && seq > this.highest)) {
      this.problems.push(`seq ${seq} (${what}) after seq ${this.highest}: out of order`);
      return;
    }
    if (data.stream !== undefined && data.prevSeq !== undefined) {
      const last = this.streams.get(data.stream);
      if (data.prevSeq > this.snapshotSeq && data.prevSeq !== last) {
        this.problems.push(`gap in stream ${data.stream}: seq ${seq} follows ${data.prevSeq}, last received ${last ?? 'none'} (snapshot ${this.snapshotSeq})`);
      }
      this.streams.set(data.stream, seq);
    }
    this.highest = seq;
    if (name === `company-${cid}-ticket`) {
      const id = data.ticket?.id ?? data.ticketId;
      if (data.action === 'create') this.creates.set(id, (this.creates.get(id) || 0) + 1);
      if (data.action === 'delete') {
        this.tickets.delete(id);
      } else if (data.ticket) {
        const have = this.tickets.get(id);
        if (!have || data.ticket.version > have.version) this.tickets.set(id, data.ticket);
      }
    }
  }

  /** Every id in `ids` received as exactly one create. */
  missing(ids) {
    return ids.filter((id) => !this.creates.has(id));
  }

  close() {
    this.closed = true;
    this.socket?.disconnect();
  }
}

/** Waits until every client is connected and synced and has seen a create for every id. */
export async function allCaughtUp(clients, ids, what, ms = CATCH_UP_MS) {
  await until(
    `every client to receive all ${ids.length} acknowledged writes ${what}`,
    () => clients.every((c) => c.synced && c.missing(ids).length === 0),
    {
      ms,
      detail: () =>
        clients
          .map((c) => `${c.name}: ${c.connected ? (c.synced ? 'live' : 'syncing') : 'disconnected'}, missing ${c.missing(ids).length} (e.g. ${c.missing(ids).slice(0, 5).join(',')}), connect errors [${c.connectErrors.slice(-3).join(', ')}]`)
          .join('; '),
    },
  );
}

/** The checks after a fault: exactly once, in order, no gap, state == GET /api/board. */
export async function assertConsistent(clients, ids) {
  for (const c of clients) {
    assert.deepEqual(c.problems, [], `${c.name}: nothing doubled, out of order, missing or reset`);
    const twice = ids.filter((id) => c.creates.get(id) !== 1);
    assert.deepEqual(twice.map((id) => [id, c.creates.get(id)]), [], `${c.name}: each acknowledged write exactly once`);
    // The board is read, then the client must have reached its seq (something else may still
    // write, e.g. an escalation timer: then read again).
    await until(`${c.name}'s board to equal GET /api/board`, async () => {
      const board = await okAt(CLUSTER.url, 'GET', '/api/board', { token: c.session.accessToken }, 200);
      await until(`${c.name} to reach seq ${board.seq}`, () => c.highest >= board.seq);
      const want = new Map(board.tickets.map((t) => [t.id, t]));
      const diff = [];
      for (const [id, t] of want) {
        const have = c.tickets.get(id);
        if (!have) diff.push(`ticket ${id} missing`);
        else if (JSON.stringify(have) !== JSON.stringify(t)) diff.push(`ticket ${id}: have ${JSON.stringify(have)}, server ${JSON.stringify(t)}`);
      }
      for (const id of c.tickets.keys()) if (!want.has(id)) diff.push(`ticket ${id} not on the server's board`);
      if (diff.length === 0) return true;
      if (c.highest > board.seq) return false; // moved on meanwhile: compare again
      throw new Error(`${c.name}'s board differs from GET /api/board at seq ${board.seq}: ${diff.slice(0, 5).join('; ')}`);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// A stream of writes: one ticket created every `everyMs` (not waiting for the previous one, so a
// write stuck behind a fault does not stop the stream), by the given sessions in turn, through
// `base`. Acknowledged (201) ids are kept; everything else is counted by status.

export class WriteStream {
  constructor(what, base, sessions, everyMs = 100) {
    this.what = what;
    this.base = base;
    this.sessions = sessions;
    this.everyMs = everyMs;
    this.acked = [];
    this.refused = new Map(); // status → count
    this.sent = 0;
    this.inFlight = new Set();
    this.timer = setInterval(() => this.#one(), everyMs);
  }

  #one() {
    const n = this.sent++;
    const session = this.sessions[n % this.sessions.length];
    const p = apiAt(this.base, 'POST', '/api/tickets', {
      token: session.accessToken,
      timeout: 20000,
      body: {
        title: `cluster ${RUN} ${this.what} #${n}`,
        requester: { name: 'Cluster Test', contact: 'cluster@example.test' },
        priority: 'normal',
        message: 'written by tests/cluster',
      },
    }).then((r) => {
      if (r.status === 201) this.acked.push(r.json.id);
      else {
        // 502 from nginx: the write was in flight on a node that died (never sent to another).
        const key = `${r.status} ${r.json?.error?.code ?? (r.status === 0 ? r.text : 'not JSON')}`;
        this.refused.set(key, (this.refused.get(key) || 0) + 1);
      }
    });
    this.inFlight.add(p);
    p.finally(() => this.inFlight.delete(p));
  }

  /** Resolves once `n` more writes than now are acknowledged. */
  more(n, what, ms = WAIT_MS * 3) {
    const target = this.acked.length + n;
    return until(`${n} more acknowledged writes ${what}`, () => this.acked.length >= target, {
      ms,
      detail: () => `acknowledged ${this.acked.length}, refused ${JSON.stringify([...this.refused])}`,
    });
  }

  async stop() {
    clearInterval(this.timer);
    await Promise.all([...this.inFlight]);
    return this.acked.slice();
  }

  report() {
    return `${this.sent} sent, ${this.acked.length} acknowledged, refused: ${JSON.stringify(Object.fromEntries(this.refused))}`;
  }
}
