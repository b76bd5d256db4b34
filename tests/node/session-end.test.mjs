// A session that ends, ends at once on its live sockets: the official npm `socket.io-client`
// holds sockets while sessions are ended over REST (logout, refresh-token reuse, deactivation,
// a new password, a role change) and must see `company-{id}-session {reason}`, then the
// server's disconnect, and nothing after it. Replay never shows what the user cannot see now.
//
//   DESKBELL_URL=http://127.0.0.1:8099 DESKBELL_JWT_SECRET=... \
//     node --test tests/node/session-end.test.mjs
//
// Env: see support.mjs. Each test creates its own members, so the tests are independent of
// each other and of the demo data beyond the Acme admin and agent1.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  PASSWORD,
  RUN,
  TEST_MS,
  api,
  apiOk,
  login,
  openSockets,
  connect,
  connectError,
  close,
  createTicket,
  title,
  nextSync,
  ticketEvent,
  mentions,
  summary,
  withTimeout,
} from './support.mjs';

let admin; // admin@acme.test
let agent1; // agent1@acme.test
let ACME;
let members = 0;

before(async () => {
  admin = await login('admin@acme.test');
  agent1 = await login('agent1@acme.test');
  ACME = admin.company.id;
});

after(() => {
  for (const s of openSockets) s.disconnect();
  openSockets.clear();
});

const sessionName = (cid) => `company-${cid}-session`;
const NSP = () => `/workspace-${ACME}`;

/** A new member of Acme (password PASSWORD). */
async function newMember(role) {
  members += 1;
  const email = `session-end-${RUN}-${members}@acme.test`;
  return apiOk(
    'POST',
    '/api/users',
    { token: admin.accessToken, body: { name: `Session End ${members}`, email, password: PASSWORD, role } },
    201,
  );
}

/** A new session (refresh-token family) of `email`; every call signs in again. */
async function signIn(email) {
  return apiOk('POST', '/api/auth/login', { body: { email, password: PASSWORD } }, 200);
}

/** A websocket-only socket of `session`, connected and synced. */
async function live(session, lastSeq) {
  const auth = lastSeq === undefined ? { token: session.accessToken } : { token: session.accessToken, lastSeq };
  const s = await connect(NSP(), { transports: ['websocket'], auth });
  const sync = await nextSync(s.rec, ACME);
  return { ...s, sync };
}

/** The session-ended message, then the server's disconnect; nothing else after the message. */
async function endedWith(s, reason) {
  const e = await s.rec.next((x) => x.name === sessionName(ACME), `${sessionName(ACME)} (${reason})`);
  assert.equal(e.data?.reason, reason, `reason: ${summary(e)}`);
  assert.equal(typeof e.data?.message, 'string', `message: ${summary(e)}`);
  assert.ok(e.data.message.length > 0, 'message is not empty');
  await withTimeout(
    new Promise((resolve) => {
      if (s.rec.disconnectReason !== null) return resolve();
      s.socket.once('disconnect', resolve);
    }),
    `the server's disconnect after ${reason}`,
  );
  assert.equal(s.rec.disconnectReason, 'io server disconnect', 'the server disconnected the socket');
  const after = s.rec.events.slice(e.index + 1);
  assert.deepEqual(after.map(summary), [], 'nothing after the session-ended message');
  close(s.socket);
  return e;
}

/** An unassigned ticket by the admin that every live member's socket must get. */
async function sentinel(what, ...sockets) {
  const t = await createTicket(admin.accessToken, { title: title(what) });
  for (const s of sockets) await s.rec.next(ticketEvent(ACME, 'create', t.id), `${what} on a socket that stays live`);
  return t;
}

test('logout ends that session\'s socket (signed-out) and no other session of the user', { timeout: TEST_MS }, async () => {
  const member = await newMember('agent');
  const one = await signIn(member.email);
  const two = await signIn(member.email);
  const s1 = await live(one);
  const s2 = await live(two);
  assert.equal((await api('POST', '/api/auth/logout', { token: one.accessToken })).status, 204);
  await endedWith(s1, 'signed-out');
  assert.equal((await api('GET', '/api/me', { token: one.accessToken })).status, 401, 'REST refuses the ended session');
  await sentinel('after logout', s2);
  assert.equal((await api('GET', '/api/me', { token: two.accessToken })).status, 200, 'the other session goes on');
  close(s2.socket);
});

test('reuse of an old refresh token revokes its session and cuts its socket (revoked)', { timeout: TEST_MS }, async () => {
  const member = await newMember('agent');
  const first = await signIn(member.email);
  const rotated = await apiOk('POST', '/api/auth/refresh', { body: { refreshToken: first.refreshToken } }, 200);
  const s = await live(rotated);
  const reuse = await api('POST', '/api/auth/refresh', { body: { refreshToken: first.refreshToken } });
  assert.equal(reuse.status, 401, `reuse refused: ${reuse.text}`);
  assert.equal(reuse.json?.error?.code, 'refresh_reused');
  await endedWith(s, 'revoked');
  const again = await connectError(NSP(), { transports: ['websocket'], auth: { token: rotated.accessToken } });
  assert.equal(again.message, 'unauthorized', 'the revoked session cannot connect again');
});

test('deactivation ends every session of the member at once (deactivated)', { timeout: TEST_MS }, async () => {
  const member = await newMember('agent');
  const one = await signIn(member.email);
  const two = await signIn(member.email);
  const s1 = await live(one);
  const s2 = await live(two);
  const watcher = await live(agent1);
  await apiOk('PATCH', `/api/users/${member.id}`, { token: admin.accessToken, body: { active: false } }, 200);
  await endedWith(s1, 'deactivated');
  await endedWith(s2, 'deactivated');
  // Another member's socket is untouched and keeps receiving.
  await sentinel('after deactivation', watcher);
  assert.equal(watcher.rec.count(sessionName(ACME)), 0, "another member's socket got no session message");
  close(watcher.socket);
  const refused = await connectError(NSP(), { transports: ['websocket'], auth: { token: one.accessToken } });
  assert.equal(refused.message, 'unauthorized');
});

test('a new password set by an admin ends the member\'s sessions (password-changed)', { timeout: TEST_MS }, async () => {
  const member = await newMember('agent');
  const session = await signIn(member.email);
  const s = await live(session);
  await apiOk(
    'PATCH',
    `/api/users/${member.id}`,
    { token: admin.accessToken, body: { password: 'a brand new password' } },
    200,
  );
  await endedWith(s, 'password-changed');
  assert.equal((await api('GET', '/api/me', { token: session.accessToken })).status, 401);
});

test('an admin demoted to agent is cut (role-changed) and reconnects with the agent\'s visibility', { timeout: TEST_MS }, async () => {
  const member = await newMember('admin');
  const session = await signIn(member.email);
  const s = await live(session);
  // As an admin the member sees a ticket assigned to agent1.
  const theirs = await createTicket(admin.accessToken, { title: title('assigned to agent1'), assigneeId: agent1.user.id });
  const seen = await s.rec.next(ticketEvent(ACME, 'create', theirs.id), 'the admin member sees agent1\'s ticket');
  await apiOk('PATCH', `/api/users/${member.id}`, { token: admin.accessToken, body: { role: 'agent' } }, 200);
  await endedWith(s, 'role-changed');
  // The same token goes on: the role is read from the database. Asking to replay from before
  // the change gets a reset (a fresh snapshot), not the events of the admin's time.
  const again = await live(session, seen.data.seq);
  assert.equal(again.sync.data.mode, 'reset', `sync after a role change: ${summary(again.sync)}`);
  const other = await createTicket(admin.accessToken, { title: title('also agent1'), assigneeId: agent1.user.id });
  const t = await sentinel('after demotion', again);
  for (const e of again.rec.events) {
    assert.ok(!mentions(e, other) && !mentions(e, theirs), `LEAK after demotion: ${summary(e)}`);
  }
  assert.ok(t.id > other.id);
  assert.equal((await api('GET', `/api/tickets/${theirs.id}`, { token: session.accessToken })).status, 404);
  close(again.socket);
});

test('replay never shows a member created later a ticket they cannot see now', { timeout: TEST_MS }, async () => {
  const watcher = await live(admin);
  // Unassigned at first (everyone's), then assigned to agent1: a later agent may not see it.
  const t = await createTicket(admin.accessToken, { title: title('was everyone\'s') });
  await apiOk('PATCH', `/api/tickets/${t.id}`, { token: admin.accessToken, body: { assigneeId: agent1.user.id } }, 200);
  await watcher.rec.next(ticketEvent(ACME, 'assign', t.id), 'the assignment is logged');
  close(watcher.socket);
  const member = await newMember('agent');
  const session = await signIn(member.email);
  const fromZero = await live(session, 0);
  assert.equal(fromZero.sync.data.mode, 'reset', `a replay from before the member existed: ${summary(fromZero.sync)}`);
  for (const e of fromZero.rec.events) assert.ok(!mentions(e, t), `LEAK in replay: ${summary(e)}`);
  close(fromZero.socket);
  // Control: from the head it was given, the member replays normally.
  const fromHead = await live(session, fromZero.sync.data.head);
  assert.equal(fromHead.sync.data.mode, 'replay', `a replay from the member's own head: ${summary(fromHead.sync)}`);
  close(fromHead.socket);
});
