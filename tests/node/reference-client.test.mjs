// Drives the official npm `socket.io-client` (v4) against a running Deskbell server.
//
//   DESKBELL_URL=http://127.0.0.1:8099 DESKBELL_JWT_SECRET=... \
//     node --test tests/node/reference-client.test.mjs
//
// Env:
//   DESKBELL_URL                 base URL of a server seeded with the demo data (required)
//   DESKBELL_JWT_SECRET          HS256 secret the server signs access tokens with (required)
//   DESKBELL_TEST_TIMEOUT_MS     deadline for each single wait (default 10000)
//   DESKBELL_BACKGROUND_TRAFFIC  set to 1 if something else writes to the server while this runs
//                                (e.g. the demo traffic simulator): "exactly these events" checks
//                                then become "these events, and no leaked ones".
//
// Every wait is on a condition with a deadline; every socket is closed at the end.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import {
  BASE,
  SECRET,
  WAIT_MS,
  STRICT,
  TEST_MS,
  PASSWORD,
  RUN,
  withTimeout,
  api,
  apiOk,
  sessions,
  login,
  b64url,
  signJwt,
  jwtClaims,
  nowSecs,
  createTicket,
  title,
  isInt,
  isDate,
  summary,
  openSockets,
  Recorder,
  makeSocket,
  close,
  connect,
  connectError,
  syncName,
  ticketName,
  nextSync,
  ticketEvent,
  mentions,
  assertEnvelope,
  assertTicketShape,
} from './support.mjs';

// ---------------------------------------------------------------------------------------------

let acme; // admin@acme.test session
let globex; // admin@globex.test session
let ACME; // company ids as reported by login
let GLOBEX;

before(async () => {
  assert.ok(BASE, 'DESKBELL_URL must be set (e.g. http://127.0.0.1:8099)');
  assert.ok(SECRET, 'DESKBELL_JWT_SECRET must be set (the server keeps it in <data-dir>/jwt-secret)');
  acme = await login('admin@acme.test');
  globex = await login('admin@globex.test');
  ACME = acme.company.id;
  GLOBEX = globex.company.id;
});

after(() => {
  for (const s of openSockets) s.disconnect();
  openSockets.clear();
});

test('login contract: demo users, companies, token claims, bad password', { timeout: TEST_MS }, async () => {
  assert.equal(acme.company.id, 1);
  assert.equal(acme.company.name, 'Acme Support');
  assert.equal(globex.company.id, 2);
  assert.equal(globex.company.name, 'Globex');
  assert.equal(acme.user.role, 'admin');
  assert.equal(acme.user.email, 'admin@acme.test');
  assert.equal(acme.user.companyId, 1);
  assert.ok(isInt(acme.expiresIn) && acme.expiresIn > 0, 'expiresIn');
  assert.equal(typeof acme.refreshToken, 'string');

  const c = jwtClaims(acme.accessToken);
  assert.equal(c.sub, String(acme.user.id), 'claims.sub is the user id as a string');
  assert.equal(c.cid, 1, 'claims.cid');
  assert.equal(c.role, 'admin', 'claims.role');
  assert.equal(typeof c.sid, 'string', 'claims.sid');
  assert.ok(isInt(c.iat) && isInt(c.exp) && c.exp > c.iat, 'claims.iat/exp');
  // the secret we were given is the one the server signs with
  const [h, p, s] = acme.accessToken.split('.');
  assert.equal(
    crypto.createHmac('sha256', SECRET).update(`${h}.${p}`).digest('base64url'),
    s,
    'DESKBELL_JWT_SECRET verifies the server-issued access token',
  );

  const bad = await api('POST', '/api/auth/login', { body: { email: 'admin@acme.test', password: 'wrong' } });
  assert.equal(bad.status, 401, bad.text);
  assert.equal(bad.json?.error?.code, 'invalid_credentials', bad.text);
  assert.equal(typeof bad.json?.error?.message, 'string', bad.text);
});

test('websocket-only: sync reset, then a REST-created ticket arrives as a create event', { timeout: TEST_MS }, async () => {
  const { socket, rec } = await connect(`/workspace-${ACME}`, {
    auth: { token: acme.accessToken },
    transports: ['websocket'],
  });
  try {
    assert.equal(socket.io.engine.transport.name, 'websocket', 'transport is websocket');
    const sync = await nextSync(rec, ACME);
    assert.equal(sync.data.mode, 'reset', `no lastSeq → reset: ${summary(sync)}`);
    const head = sync.data.head;

    const created = await createTicket(acme.accessToken, { title: title('ws create'), priority: 'high' });
    assertTicketShape(created, ACME);
    assert.equal(created.title, title('ws create'));
    assert.equal(created.priority, 'high');
    assert.equal(created.creatorId, acme.user.id);

    const ev = await rec.next(ticketEvent(ACME, 'create', created.id), 'create event for the new ticket');
    assertEnvelope(ev, { cid: ACME, action: 'create', actorId: acme.user.id });
    assert.ok(ev.data.seq > head, `seq ${ev.data.seq} > sync.head ${head}`);
    assertTicketShape(ev.data.ticket, ACME);
    assert.equal(ev.data.ticket.title, title('ws create'));
    assert.equal(ev.data.ticket.version, created.version);
    assert.deepEqual(ev.data.ticket, created, 'event carries the same full ticket the REST call returned');
    if (STRICT) {
      assert.deepEqual(ev.skipped.map(summary), [], 'no other event before the create');
    }
    assert.equal(rec.count(syncName(ACME)), 1, 'exactly one sync message');
  } finally {
    close(socket);
  }
});

test('default transports (polling, then upgrade): priority-change event', { timeout: TEST_MS }, async () => {
  const created = await createTicket(acme.accessToken, { title: title('polling priority'), priority: 'low' });
  assertTicketShape(created, ACME);

  const { socket, rec } = makeSocket(`/workspace-${ACME}`, { auth: { token: acme.accessToken } });
  try {
    const engine = socket.io.engine;
    assert.equal(engine.transport.name, 'polling', 'default transports start with polling');
    const upgraded = withTimeout(
      new Promise((resolve) => {
        if (engine.transport.name === 'websocket') return resolve();
        engine.once('upgrade', resolve);
      }),
      'transport upgrade to websocket',
    );
    await withTimeout(
      new Promise((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('connect_error', (err) => reject(new Error(`connect_error "${err.message}"`)));
      }),
      'connect over polling',
    );
    const sync = await nextSync(rec, ACME);
    assert.equal(sync.data.mode, 'reset');

    const patched = await apiOk(
      'PATCH',
      `/api/tickets/${created.id}`,
      { token: acme.accessToken, headers: { 'if-match': String(created.version) }, body: { priority: 'urgent' } },
      200,
    );
    assert.equal(patched.priority, 'urgent');
    assert.equal(patched.version, created.version + 1, 'PATCH bumps the version by one');

    const ev = await rec.next(ticketEvent(ACME, 'priority-change', created.id), 'priority-change event');
    assertEnvelope(ev, { cid: ACME, action: 'priority-change', actorId: acme.user.id });
    assert.ok(ev.data.seq > sync.data.head, 'seq > head');
    assert.equal(ev.data.to, 'urgent', `to: ${summary(ev)}`);
    assert.equal(ev.data.from, 'low', `from: ${summary(ev)}`);
    assertTicketShape(ev.data.ticket, ACME);
    assert.equal(ev.data.ticket.id, created.id);
    assert.equal(ev.data.ticket.priority, 'urgent');
    assert.equal(ev.data.ticket.version, created.version + 1, 'event ticket.version = previous + 1');
    if (STRICT) assert.deepEqual(ev.skipped.map(summary), [], 'no other event before the priority-change');

    await upgraded;
    assert.equal(socket.io.engine.transport.name, 'websocket', 'upgraded to websocket');
  } finally {
    close(socket);
  }
});

test('lastSeq equal to head: sync replay with nothing to replay', { timeout: TEST_MS }, async () => {
  const first = await connect(`/workspace-${ACME}`, { auth: { token: acme.accessToken }, transports: ['websocket'] });
  let head;
  try {
    head = (await nextSync(first.rec, ACME)).data.head;
  } finally {
    close(first.socket);
  }
  const { socket, rec } = await connect(`/workspace-${ACME}`, {
    auth: { token: acme.accessToken, lastSeq: head },
    transports: ['websocket'],
  });
  try {
    const sync = await nextSync(rec, ACME);
    assert.equal(sync.data.mode, 'replay', summary(sync));
    if (STRICT) {
      assert.equal(sync.data.head, head, 'head unchanged');
      assert.deepEqual(sync.skipped.map(summary), [], 'nothing replayed');
    }
  } finally {
    close(socket);
  }
});

test('replay: events missed while disconnected arrive in order before sync {mode: replay}', { timeout: TEST_MS }, async () => {
  const first = await connect(`/workspace-${ACME}`, { auth: { token: acme.accessToken }, transports: ['websocket'] });
  let head;
  try {
    const sync = await nextSync(first.rec, ACME);
    assert.equal(sync.data.mode, 'reset');
    head = sync.data.head;
  } finally {
    close(first.socket);
  }

  const missed = [];
  for (let i = 1; i <= 3; i++) {
    missed.push(await createTicket(acme.accessToken, { title: title(`replay ${i}`) }));
  }
  const board = await apiOk('GET', '/api/board', { token: acme.accessToken }, 200);
  assert.ok(Array.isArray(board.lanes) && Array.isArray(board.tickets), 'board has lanes and tickets');
  assert.ok(isInt(board.seq), 'board.seq is an integer');
  for (const t of missed) {
    assert.ok(board.tickets.some((x) => x.id === t.id), `board lists ticket ${t.id}`);
  }

  const { socket, rec } = await connect(`/workspace-${ACME}`, {
    auth: { token: acme.accessToken, lastSeq: head },
    transports: ['websocket'],
  });
  try {
    const sync = await nextSync(rec, ACME);
    assert.equal(sync.data.mode, 'replay', summary(sync));
    const before = sync.skipped; // everything received before the sync message
    for (const e of before) {
      assert.ok(e.name.startsWith(`company-${ACME}-`), `replayed events are company-${ACME}-*: ${summary(e)}`);
      if (STRICT) assert.equal(e.name, ticketName(ACME), `only ticket events replayed here: ${summary(e)}`);
      assert.ok(isInt(e.data?.seq) && e.data.seq > head, `replayed seq > lastSeq ${head}: ${summary(e)}`);
    }
    const seqs = before.map((e) => e.data.seq);
    for (let i = 1; i < seqs.length; i++) {
      assert.ok(seqs[i] > seqs[i - 1], `replayed seqs strictly increasing: ${seqs}`);
    }
    const ours = missed.map((t) => {
      const e = before.find((x) => ticketEvent(ACME, 'create', t.id)(x));
      assert.ok(e, `create of ticket ${t.id} replayed before sync; got: ${before.map(summary)}`);
      assertEnvelope(e, { cid: ACME, action: 'create', actorId: acme.user.id });
      assert.equal(e.data.ticket.title, t.title);
      assert.deepEqual(e.data.ticket, t, 'replayed ticket equals the REST result');
      return e.data.seq;
    });
    for (let i = 1; i < ours.length; i++) {
      assert.ok(ours[i] > ours[i - 1], `creates replayed in creation order: ${ours}`);
    }
    if (STRICT) assert.equal(before.length, 3, `exactly the 3 missed events replayed: ${before.map(summary)}`);
    assert.ok(sync.data.head >= Math.max(...seqs), `sync.head ${sync.data.head} >= last replayed seq ${seqs}`);
    assert.ok(board.seq >= Math.max(...ours), `board.seq ${board.seq} covers the tickets it lists (${ours})`);

    // live events continue after the replay, with no gap or duplicate
    const live = await createTicket(acme.accessToken, { title: title('after replay') });
    const ev = await rec.next(ticketEvent(ACME, 'create', live.id), 'live create after replay');
    assert.ok(ev.data.seq > sync.data.head, `live seq ${ev.data.seq} > sync.head ${sync.data.head}`);
    if (STRICT) assert.deepEqual(ev.skipped.map(summary), [], 'nothing between sync and the live event');
    for (const t of missed) {
      assert.equal(
        rec.events.filter((x) => ticketEvent(ACME, 'create', t.id)(x)).length,
        1,
        `create of ${t.id} delivered once`,
      );
    }
    assert.equal(rec.count(syncName(ACME)), 1, 'exactly one sync message');
  } finally {
    close(socket);
  }
});

// --- connect errors ----------------------------------------------------------------------------

test('connect error: no auth → unauthorized', { timeout: TEST_MS }, async () => {
  const err = await connectError(`/workspace-${ACME}`, { transports: ['websocket'] });
  assert.equal(err.message, 'unauthorized');
});

test('connect error: garbage token → unauthorized', { timeout: TEST_MS }, async () => {
  const err = await connectError(`/workspace-${ACME}`, { auth: { token: 'not-a-jwt' }, transports: ['websocket'] });
  assert.equal(err.message, 'unauthorized');
});

test('connect error: token signed with another secret → unauthorized', { timeout: TEST_MS }, async () => {
  const claims = { ...jwtClaims(acme.accessToken), iat: nowSecs(), exp: nowSecs() + 600 };
  const token = signJwt(claims, `${SECRET}-but-not-really`);
  const err = await connectError(`/workspace-${ACME}`, { auth: { token }, transports: ['websocket'] });
  assert.equal(err.message, 'unauthorized');
});

test('control: a fresh token forged with the real secret is accepted', { timeout: TEST_MS }, async () => {
  const claims = { ...jwtClaims(acme.accessToken), iat: nowSecs(), exp: nowSecs() + 600 };
  const { socket, rec } = await connect(`/workspace-${ACME}`, {
    auth: { token: signJwt(claims, SECRET) },
    transports: ['websocket'],
  });
  try {
    await nextSync(rec, ACME);
  } finally {
    close(socket);
  }
});

test('connect error: expired token with a valid signature → token_expired', { timeout: TEST_MS }, async () => {
  const claims = { ...jwtClaims(acme.accessToken), iat: nowSecs() - 7200, exp: nowSecs() - 3600 };
  const token = signJwt(claims, SECRET);
  const err = await connectError(`/workspace-${ACME}`, { auth: { token }, transports: ['websocket'] });
  assert.equal(err.message, 'token_expired');
});

test('connect error: Acme token on the Globex namespace → forbidden', { timeout: TEST_MS }, async () => {
  const err = await connectError(`/workspace-${GLOBEX}`, { auth: { token: acme.accessToken }, transports: ['websocket'] });
  assert.equal(err.message, 'forbidden');
});

test('connect error: Acme token on the Globex namespace over polling → forbidden', { timeout: TEST_MS }, async () => {
  const err = await connectError(`/workspace-${GLOBEX}`, { auth: { token: acme.accessToken } });
  assert.equal(err.message, 'forbidden');
});

test('connect error: /workspace-abc → invalid_namespace', { timeout: TEST_MS }, async () => {
  const err = await connectError('/workspace-abc', { auth: { token: acme.accessToken }, transports: ['websocket'] });
  assert.equal(err.message, 'invalid_namespace');
});

test('connect error: /nope → invalid_namespace', { timeout: TEST_MS }, async () => {
  const err = await connectError('/nope', { auth: { token: acme.accessToken }, transports: ['websocket'] });
  assert.equal(err.message, 'invalid_namespace');
});

// --- visibility ------------------------------------------------------------------------------

test('tenant isolation: Globex sees nothing of an Acme ticket', { timeout: TEST_MS }, async () => {
  const a = await connect(`/workspace-${ACME}`, { auth: { token: acme.accessToken }, transports: ['websocket'] });
  const g = await connect(`/workspace-${GLOBEX}`, { auth: { token: globex.accessToken }, transports: ['websocket'] });
  try {
    await nextSync(a.rec, ACME);
    await nextSync(g.rec, GLOBEX);

    const acmeTicket = await createTicket(acme.accessToken, { title: title('tenant acme secret') });
    await a.rec.next(ticketEvent(ACME, 'create', acmeTicket.id), 'Acme admin gets the Acme create');

    const sentinel = await createTicket(globex.accessToken, { title: title('tenant globex sentinel') });
    assert.equal(sentinel.companyId, GLOBEX);
    const ev = await g.rec.next(
      (e) => e.name.startsWith(`company-${ACME}-`) || mentions(e, acmeTicket) || ticketEvent(GLOBEX, 'create', sentinel.id)(e),
      'Globex create (sentinel) on the Globex socket',
    );
    assert.ok(!ev.name.startsWith(`company-${ACME}-`), `LEAK: Globex socket received ${summary(ev)}`);
    assert.ok(!mentions(ev, acmeTicket), `LEAK: Globex socket received the Acme ticket: ${summary(ev)}`);
    assertEnvelope(ev, { cid: GLOBEX, action: 'create', actorId: globex.user.id });
    assert.equal(ev.data.ticket.title, sentinel.title);
    if (STRICT) assert.deepEqual(ev.skipped.map(summary), [], "the Globex socket's next event is the Globex ticket");
    for (const e of g.rec.events) {
      assert.ok(e.name.startsWith(`company-${GLOBEX}-`), `Globex socket only gets company-${GLOBEX}-* events: ${summary(e)}`);
      assert.ok(!mentions(e, acmeTicket), `LEAK: ${summary(e)}`);
    }
  } finally {
    close(a.socket);
    close(g.socket);
  }
});

test('agent visibility: agent2 does not get a ticket assigned to agent1', { timeout: TEST_MS }, async () => {
  const agent1 = await login('agent1@acme.test');
  const agent2 = await login('agent2@acme.test');
  assert.equal(agent1.user.role, 'agent');
  assert.equal(agent2.user.role, 'agent');
  const s1 = await connect(`/workspace-${ACME}`, { auth: { token: agent1.accessToken }, transports: ['websocket'] });
  const s2 = await connect(`/workspace-${ACME}`, { auth: { token: agent2.accessToken }, transports: ['websocket'] });
  try {
    await nextSync(s1.rec, ACME);
    await nextSync(s2.rec, ACME);

    const assigned = await createTicket(acme.accessToken, {
      title: title('assigned to agent1'),
      assigneeId: agent1.user.id,
    });
    assert.equal(assigned.assigneeId, agent1.user.id);
    // positive control: the assignee gets it
    const got = await s1.rec.next(ticketEvent(ACME, 'create', assigned.id), 'agent1 gets the ticket assigned to them');
    assertEnvelope(got, { cid: ACME, action: 'create', actorId: acme.user.id });

    const sentinel = await createTicket(acme.accessToken, { title: title('unassigned sentinel') });
    assert.equal(sentinel.assigneeId ?? null, null, 'sentinel is unassigned');
    const ev = await s2.rec.next(
      (e) => mentions(e, assigned) || ticketEvent(ACME, 'create', sentinel.id)(e),
      "agent2's create event for the unassigned sentinel",
    );
    assert.ok(!mentions(ev, assigned), `LEAK: agent2 received agent1's ticket: ${summary(ev)}`);
    assertEnvelope(ev, { cid: ACME, action: 'create', actorId: acme.user.id });
    if (STRICT) {
      const tickets = ev.skipped.filter((e) => e.name === ticketName(ACME));
      assert.deepEqual(tickets.map(summary), [], "agent2's next ticket event is the unassigned sentinel");
    }
    // agent1 sees unassigned tickets too
    await s1.rec.next(ticketEvent(ACME, 'create', sentinel.id), 'agent1 gets the unassigned sentinel');
    for (const e of s2.rec.events) assert.ok(!mentions(e, assigned), `LEAK: ${summary(e)}`);
  } finally {
    close(s1.socket);
    close(s2.socket);
  }
});
