// Limits as a real client meets them, with the official npm `socket.io-client`: a websocket
// message over the 1 MB payload limit is never handled (the connection closes); one member
// flooding socket emits spends only their share of the company's write budget, so an admin's
// REST writes still go through. The server runs with the default 1000 writes/min per company.
//
//   DESKBELL_URL=http://127.0.0.1:8099 DESKBELL_JWT_SECRET=... node --test limits.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  TEST_MS,
  api,
  login,
  openSockets,
  connect,
  close,
  createTicket,
  title,
  nextSync,
  withTimeout,
} from './support.mjs';

let admin;
let agent; // emits once in the payload test
let flooder; // writes nothing before the flood
let ACME;

before(async () => {
  admin = await login('admin@acme.test');
  agent = await login('agent1@acme.test');
  flooder = await login('agent2@acme.test');
  ACME = admin.company.id;
});

after(() => {
  for (const s of openSockets) s.disconnect();
  openSockets.clear();
});

async function live(session) {
  const s = await connect(`/workspace-${ACME}`, { transports: ['websocket'], auth: { token: session.accessToken } });
  await nextSync(s.rec, ACME);
  return s;
}

/** Emits with an ack; resolves with the ack's argument, or 'disconnected' if the socket goes first. */
function emitWithAck(socket, name, payload) {
  return new Promise((resolve) => {
    const gone = () => resolve('disconnected');
    socket.once('disconnect', gone);
    socket.emit(name, payload, (answer) => {
      socket.off('disconnect', gone);
      resolve(answer);
    });
  });
}

test('a websocket message over 1 MB closes the connection without being handled', { timeout: TEST_MS }, async () => {
  const s = await live(agent);
  // Control: a small emit is handled (and refused as unsupported, with an ack).
  const small = await withTimeout(emitWithAck(s.socket, 'anything', { x: 1 }), 'the ack of a small emit');
  assert.equal(small?.error?.code, 'unsupported_event', JSON.stringify(small));
  const big = await withTimeout(
    emitWithAck(s.socket, 'anything', { blob: 'x'.repeat(1_100_000) }),
    'the answer to a 1.1 MB emit',
  );
  assert.equal(big, 'disconnected', `a 1.1 MB message was handled: ${JSON.stringify(big)?.slice(0, 200)}`);
  assert.match(s.rec.disconnectReason, /transport (close|error)/);
  close(s.socket);
});

test('one member flooding emits spends only their share; an admin still writes', { timeout: TEST_MS }, async () => {
  const s = await live(flooder);
  const answers = [];
  for (let i = 0; i < 1200; i += 1) answers.push(emitWithAck(s.socket, 'flood', { i }));
  const all = await withTimeout(Promise.all(answers), '1200 acks');
  const codes = all.map((a) => a?.error?.code ?? String(a));
  const limited = codes.filter((c) => c === 'rate_limited').length;
  const counted = codes.filter((c) => c === 'unsupported_event').length;
  assert.equal(limited + counted, 1200, `unexpected answers: ${[...new Set(codes)]}`);
  assert.equal(counted, 500, 'the member gets half of the 1000 writes per minute');
  const refusal = all.find((a) => a?.error?.code === 'rate_limited');
  assert.match(refusal.error.message, /your share/);
  // The company still has room for everyone else.
  for (let i = 0; i < 5; i += 1) {
    const t = await createTicket(admin.accessToken, { title: title(`admin write ${i} during a flood`) });
    assert.ok(t.id > 0);
  }
  // The flooding member's own REST writes are refused too, with Retry-After.
  const own = await api('POST', '/api/tickets', {
    token: flooder.accessToken,
    body: { title: title('agent during their flood'), requester: { name: 'R' } },
  });
  assert.equal(own.status, 429, own.text);
  assert.ok(Number(own.headers.get('retry-after')) >= 1);
  close(s.socket);
});
