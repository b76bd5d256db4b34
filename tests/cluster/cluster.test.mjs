// Several Deskbell nodes on one PostgreSQL database and one Redis, behind nginx, as
// scripts/cluster.sh runs them: what a company sees must not depend on which node it talks to,
// and no fault of a node or of Redis may lose or double an event.
//
//   bash tests/cluster/run.sh          (starts the topology, runs this, stops it)
//
// Env (set by run.sh from the cluster's state file): CLUSTER_URL (the balancer),
// CLUSTER_NODE_URLS (each node's own port), CLUSTER_REDIS_*, CLUSTER_STATE_DIR (a node's exit
// status is in STATE/node-K.exit), CLUSTER_LOG_DIR (node-K.log), CLUSTER_SCRIPT,
// CLUSTER_REDIS_SCRIPT; CLUSTER_DRAIN_MS bounds a node's exit after SIGTERM (20 s). Every wait is on a condition with a deadline; the 10 s SIGSTOP of Redis
// is the fault itself, not a wait for something.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import {
  CLUSTER,
  RUN,
  WAIT_MS,
  PASSWORD,
  Recorder,
  summary,
  withTimeout,
  io,
  until,
  apiAt,
  okAt,
  loginAt,
  nodePids,
  nodeExit,
  redisPid,
  startRedis,
  stopRedis,
  startNode,
  BoardClient,
  WriteStream,
  allCaughtUp,
  assertConsistent,
} from './harness.mjs';

const TEST_MS = 180000;
/** How long a node may take to exit after SIGTERM: it gives in-flight requests 10 s, then closes
 *  its database pool; longer is a hang. */
const DRAIN_MS = Number(process.env.CLUSTER_DRAIN_MS || 20000);
const [A, B, C] = CLUSTER.nodeUrls;
const LB = CLUSTER.url;

let admin; // admin@acme.test, signed in through the balancer
let agent1;
let agent2;
let ACME;
const clients = new Set();
let redisHealthy; // what /health says of Redis while it is up (learnt from the first check)

/** What a node's /health says of Redis while Redis is up (so the fault tests stand alone). */
async function learnRedisHealthy() {
  if (redisHealthy === undefined) {
    const h = await health(A);
    assert.equal(h.status, 200, `${A}/health → ${h.status}: ${h.text}`);
    assert.ok(typeof h.json?.redis === 'string' && h.json.redis.length > 0, `${A}/health reports redis: ${h.text}`);
    redisHealthy = h.json.redis;
  }
  return redisHealthy;
}

before(async () => {
  assert.ok(CLUSTER.nodeUrls.length >= 3, `the tests need 3 nodes, have ${CLUSTER.nodeUrls.length}`);
  admin = await loginAt(LB, 'admin@acme.test');
  agent1 = await loginAt(LB, 'agent1@acme.test');
  agent2 = await loginAt(LB, 'agent2@acme.test');
  ACME = admin.company.id;
});

after(() => {
  for (const c of clients) c.close();
  try {
    process.kill(redisPid(), 'SIGCONT'); // never leave Redis frozen behind a failed test
  } catch {
    /* not running */
  }
});

async function client(name, session, base) {
  const c = new BoardClient(name, session, base);
  clients.add(c);
  await c.start();
  return c;
}
function closeAll(list) {
  for (const c of list) {
    c.close();
    clients.delete(c);
  }
}

async function health(base) {
  return apiAt(base, 'GET', '/health', { timeout: 4000 });
}

/** Every node's /health answers and reports Redis as `pred` wants it. */
function everyNodeSaysRedis(what, pred, ms) {
  return until(
    `every node's /health to report Redis ${what}`,
    async () => {
      const all = await Promise.all(CLUSTER.nodeUrls.map(health));
      return all.every((h) => h.status !== 0 && h.json && pred(h.json.redis, h));
    },
    {
      ms,
      every: 200,
      detail: async () =>
        (await Promise.all(CLUSTER.nodeUrls.map(async (u) => `${u} → ${(await health(u)).text}`))).join('; '),
    },
  );
}

/** Redis down as /health says it: `redis` says so, the node is degraded yet serves (200). */
const isDown = (r, h) => r !== redisHealthy && r === 'down' && h.status === 200 && h.json.status === 'degraded';

/** A member of Acme of its own (password PASSWORD), so that ending its sessions ends no other. */
async function newAgent(what) {
  const email = `cluster-${RUN}-${what}@acme.test`;
  return okAt(LB, 'POST', '/api/users', {
    token: admin.accessToken,
    body: { name: `Cluster ${what}`, email, password: PASSWORD, role: 'agent' },
  }, 201);
}

/** A ticket write held in flight on one node: sent with `Expect: 100-continue`, so the node's
 *  handler is already reading it when this resolves (the node asked for the body), and the body
 *  goes only on `send()`, which resolves to {status, json, text}. */
function heldWrite(base, token, what) {
  const body = Buffer.from(JSON.stringify({
    title: `cluster ${RUN} ${what}`,
    requester: { name: 'Cluster Test' },
    priority: 'normal',
    message: 'held in flight by tests/cluster',
  }));
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}/api/tickets`, {
      method: 'POST',
      timeout: 30000,
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        'content-length': body.length,
        expect: '100-continue',
      },
    });
    const answered = new Promise((done, fail) => {
      req.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => {
          let json;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          done({ status: res.statusCode, json, text });
        });
      });
      req.on('error', fail);
      req.on('timeout', () => req.destroy(new Error(`${what}: no answer within 30 s`)));
    });
    answered.catch(reject); // an answer (or error) before 100 Continue: the write was not held
    req.on('continue', () => resolve({ send: () => (req.end(body), answered) }));
    req.flushHeaders();
  });
}

// ---------------------------------------------------------------------------------------------



/** Waits for the clients that were on `node` to lose their socket, then for every client to be
 * connected and synced again (through the balancer); returns the ones that lost it. */
async function clientsMovedOff(node, list) {
  const dropped = await until(`a client to lose its socket on ${node}`, () => {
    const d = list.filter((c) => c.disconnects.length > 0);
    return d.length > 0 && d;
  });
  await until(
    'every client connected and synced again through the balancer',
    () => list.every((c) => c.synced),
    { ms: WAIT_MS * 2, detail: () => list.filter((c) => !c.synced).map((c) => `${c.name} [${c.connectErrors.slice(-3)}]`).join('; ') },
  );
  return dropped;
}

/**
 * After node `victim` went away (`how`: killed or drained) during a stream of writes: every
 * client caught up with every acknowledged write exactly once and in order, its board equals
 * the server's, the clients that were on the node reconnected (through the balancer, the node
 * being down), and the node is started again.
 */
async function everyoneRecoveredFromLosing(victim, how, list, acked, dropped) {
  await allCaughtUp(list, acked, `after node-${victim} was ${how}`);
  await assertConsistent(list, acked);
  for (const c of dropped) {
    assert.ok(c.connects >= 2, `${c.name} reconnected (connects: ${c.connects})`);
  }
  // The node is gone, so every live socket is on another one.
  assert.equal((await apiAt(CLUSTER.nodeUrls[victim - 1], 'GET', '/health', { timeout: 2000 })).status, 0, `node-${victim} is down`);
  closeAll(list);
  await startNode(victim);
  const h = await okAt(CLUSTER.nodeUrls[victim - 1], 'GET', '/health', {}, 200);
  assert.equal(h.node, `node-${victim}`, `the ${how} node is back`);
}

test('every node answers /health with its name and the state of Redis; so does the balancer', { timeout: TEST_MS }, async () => {
  for (const [i, url] of CLUSTER.nodeUrls.entries()) {
    const h = await health(url);
    assert.equal(h.status, 200, `${url}/health → ${h.status}: ${h.text}`);
    assert.equal(h.json.status, 'ok', `${url}/health status: ${h.text}`);
    assert.equal(h.json.db, 'postgres', `${url}/health db: ${h.text}`);
    assert.equal(h.json.node, `node-${i + 1}`, `${url}/health names its node (--node-name): ${h.text}`);
    assert.ok(typeof h.json.redis === 'string' && h.json.redis.length > 0, `${url}/health reports redis: ${h.text}`);
    assert.equal(h.json.redis, 'up', `${url}/health says the Redis link is up: ${h.text}`);
    if (redisHealthy === undefined) redisHealthy = h.json.redis;
    assert.equal(h.json.redis, redisHealthy, `every node reports Redis alike while it is up: ${h.text}`);
  }
  const lb = await health(LB);
  assert.equal(lb.status, 200, `${LB}/health through nginx → ${lb.status}: ${lb.text}`);
  assert.ok(/^node-\d+$/.test(lb.json.node ?? ''), `the balancer's answer comes from a node: ${lb.text}`);
});

test('a write through node A reaches clients connected to nodes B and C, and back', { timeout: TEST_MS }, async () => {
  const onB = await client('admin on B', admin, B);
  const agentOnC = await client('agent1 on C', agent1, C);
  const onA = await client('agent2 on A', agent2, A);
  const viaA = await okAt(A, 'POST', '/api/tickets', {
    token: admin.accessToken,
    body: { title: `cluster ${RUN} via A`, requester: { name: 'Cluster Test' }, priority: 'normal', message: 'through node A' },
  }, 201);
  const viaB = await okAt(B, 'POST', '/api/tickets', {
    token: agent1.accessToken,
    body: { title: `cluster ${RUN} via B`, requester: { name: 'Cluster Test' }, priority: 'normal', message: 'through node B' },
  }, 201);
  const all = [onB, agentOnC, onA];
  await allCaughtUp(all, [viaA.id, viaB.id], 'written through nodes A and B', WAIT_MS);
  await assertConsistent(all, [viaA.id, viaB.id]);
  closeAll(all);
});

test("a token from node A works on node B; logout on A refuses it on B and ends B's socket of that session", { timeout: TEST_MS }, async () => {
  const member = await newAgent('logout');
  const session = await loginAt(A, member.email);
  const other = await loginAt(A, member.email); // a second session of the same member: untouched
  assert.equal((await apiAt(B, 'GET', '/api/me', { token: session.accessToken })).status, 200, "node A's access token works on node B");

  const nsp = `${B}/workspace-${ACME}`;
  const open = (s) => {
    const socket = io(nsp, { transports: ['websocket'], reconnection: false, forceNew: true, auth: { token: s.accessToken } });
    return { socket, rec: new Recorder(socket) };
  };
  const ended = open(session);
  const kept = open(other);
  try {
    for (const s of [ended, kept]) {
      await s.rec.next((e) => e.name === `company-${ACME}-sync`, `sync on node B with a token from node A`);
    }
    const out = await apiAt(A, 'POST', '/api/auth/logout', { token: session.accessToken });
    assert.equal(out.status, 204, `logout on A: ${out.text}`);

    // Pushed to node B's socket: the session message, then the server's disconnect.
    const e = await ended.rec.next((x) => x.name === `company-${ACME}-session`, `company-${ACME}-session on node B after logout on node A`);
    assert.equal(e.data?.reason, 'signed-out', `reason: ${summary(e)}`);
    await withTimeout(
      new Promise((resolve) => (ended.rec.disconnectReason !== null ? resolve() : ended.socket.once('disconnect', resolve))),
      "node B's disconnect after the session message",
    );
    assert.equal(ended.rec.disconnectReason, 'io server disconnect', 'node B disconnected the socket itself');
    assert.deepEqual(ended.rec.events.slice(e.index + 1).map(summary), [], 'nothing after the session message');

    const me = await apiAt(B, 'GET', '/api/me', { token: session.accessToken });
    assert.equal(me.status, 401, `node B refuses the signed-out access token: ${me.text}`);
    const refresh = await apiAt(B, 'POST', '/api/auth/refresh', { body: { refreshToken: session.refreshToken } });
    assert.equal(refresh.status, 401, `node B refuses the signed-out refresh token: ${refresh.text}`);
    const again = io(nsp, { transports: ['websocket'], reconnection: false, forceNew: true, auth: { token: session.accessToken } });
    const err = await withTimeout(
      new Promise((resolve, reject) => {
        again.once('connect_error', resolve);
        again.once('connect', () => reject(new Error('node B let the signed-out token connect')));
      }),
      'connect_error on node B for the signed-out token',
    ).finally(() => again.disconnect());
    assert.equal(err.message, 'unauthorized');

    // The member's other session lives on, on node B too.
    assert.equal((await apiAt(B, 'GET', '/api/me', { token: other.accessToken })).status, 200, 'the other session goes on');
    assert.equal(kept.rec.count(`company-${ACME}-session`), 0, "the other session's socket got no session message");
    assert.equal(kept.rec.disconnectReason, null, "the other session's socket is still connected");
  } finally {
    ended.socket.disconnect();
    kept.socket.disconnect();
  }
});

test('the client address is the one nginx names: X-Forwarded-For from the balancer only, and nginx replaces what a client claims', { timeout: TEST_MS }, async () => {
  const badLogin = (base, i, forwardedFor) =>
    apiAt(base, 'POST', '/api/auth/login', {
      body: { email: `nobody-${RUN}-${i}@acme.test`, password: 'not the password' },
      headers: { 'x-forwarded-for': forwardedFor },
    });
  // Straight to node A, whose peer 127.0.0.1 is the trusted proxy: the forwarded address is the
  // client, so its failed sign-ins are throttled under that address, and only that one.
  const spoofed = '198.51.100.23';
  let throttled;
  for (let i = 0; i < 60 && !throttled; i += 1) {
    const r = await badLogin(A, i, spoofed);
    if (r.status === 429) throttled = r;
    else assert.equal(r.status, 401, `failed sign-in ${i} as ${spoofed}: ${r.text}`);
  }
  assert.ok(throttled, `node A throttled the failed sign-ins of ${spoofed} (the forwarded address)`);
  const other = await badLogin(A, 'other', '198.51.100.24');
  assert.equal(other.status, 401, `another forwarded address is not throttled: ${other.text}`);
  // Through nginx, a client claiming that address gets its own (nginx sets X-Forwarded-For to
  // the peer it saw instead of appending to the claim): no node refuses it as throttled.
  for (let i = 0; i < 2 * CLUSTER.nodeUrls.length; i += 1) {
    const r = await badLogin(LB, `lb-${i}`, spoofed);
    assert.equal(r.status, 401, `a client claiming ${spoofed} through nginx is not taken for it: ${r.text}`);
  }
});

/** Clients on every node's own port (live events cross nodes through Redis) and on the balancer. */
async function spreadClients(tag) {
  const list = [];
  for (const [i, url] of CLUSTER.nodeUrls.entries()) {
    list.push(await client(`${tag} admin on node-${i + 1}`, admin, url));
    list.push(await client(`${tag} agent1 on node-${i + 1}`, agent1, url));
  }
  list.push(await client(`${tag} agent2 via nginx`, agent2, LB));
  return list;
}

test('Redis frozen with SIGSTOP for 10 s during a stream of writes: nothing lost, nothing doubled, /health says so', { timeout: TEST_MS }, async () => {
  await learnRedisHealthy();
  const list = await spreadClients('sigstop');
  const stream = new WriteStream('sigstop', LB, [admin, agent1, agent2]);
  let seenDown;
  const pid = redisPid();
  try {
    await stream.more(10, 'before the fault');
    process.kill(pid, 'SIGSTOP');
    const frozenAt = Date.now();
    // While it is frozen, every node must say Redis is not fine (within the 10 s).
    const watch = everyNodeSaysRedis('down (status degraded, still 200) while it is frozen', isDown, 9000).then(
      () => (seenDown = Date.now() - frozenAt),
      (err) => (seenDown = err),
    );
    await new Promise((r) => setTimeout(r, 10000)); // the fault: Redis frozen for 10 s
    process.kill(pid, 'SIGCONT');
    await watch;
    await stream.more(10, 'after SIGCONT');
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  const acked = await stream.stop();
  console.log(`sigstop: ${stream.report()}; /health said Redis was down after ${seenDown instanceof Error ? 'never' : `${seenDown} ms`}`);
  await allCaughtUp(list, acked, 'after Redis was frozen');
  await assertConsistent(list, acked);
  await everyNodeSaysRedis('healthy again', (r) => r === redisHealthy, WAIT_MS * 2);
  closeAll(list);
  if (seenDown instanceof Error) throw seenDown;
});

test('Redis restarted during a stream of writes: nothing lost, nothing doubled, /health follows it', { timeout: TEST_MS }, async () => {
  await learnRedisHealthy();
  const list = await spreadClients('restart');
  const stream = new WriteStream('redis-restart', LB, [admin, agent1, agent2]);
  try {
    await stream.more(10, 'before the restart');
    await stopRedis();
    await everyNodeSaysRedis('down (status degraded, still 200) while it is stopped', isDown, WAIT_MS * 2);
  } finally {
    await startRedis();
  }
  await everyNodeSaysRedis('healthy again after the restart', (r) => r === redisHealthy, WAIT_MS * 3);
  await stream.more(10, 'after Redis is back');
  const acked = await stream.stop();
  console.log(`redis restart: ${stream.report()}`);
  await allCaughtUp(list, acked, 'after Redis was restarted');
  await assertConsistent(list, acked);
  closeAll(list);
});

test('kill -9 of a node during a stream of writes through the balancer: its clients are back on another node with every write exactly once', { timeout: TEST_MS }, async () => {
  // Six sockets through nginx (least_conn): two per node.
  const list = [];
  for (const [name, s] of [['admin', admin], ['agent1', agent1], ['agent2', agent2]]) {
    for (const n of [1, 2]) list.push(await client(`kill ${name} #${n} via nginx`, s, LB));
  }
  const victim = 2;
  const pid = nodePids()[victim - 1];
  const stream = new WriteStream('kill', LB, [admin, agent1, agent2]);
  let restarted = false;
  try {
    await stream.more(10, 'before the kill');
    process.kill(pid, 'SIGKILL');
    const dropped = await clientsMovedOff(`node-${victim} (pid ${pid})`, list);
    await stream.more(20, 'after every client is back');
    const acked = await stream.stop();
    console.log(`kill -9: ${stream.report()}; ${dropped.length} client(s) were on node-${victim}`);
    await everyoneRecoveredFromLosing(victim, 'killed', list, acked, dropped);
    restarted = true;
  } finally {
    await stream.stop();
    if (!restarted) await startNode(victim).catch((err) => console.error(`restarting node-${victim}: ${err.message}`));
  }
});

test('SIGTERM of a node during a stream of writes through the balancer: it drains and exits 0, its clients replay on another node, every write exactly once', { timeout: TEST_MS }, async () => {
  // Six sockets through nginx (least_conn): two per node.
  const list = [];
  for (const [name, s] of [['admin', admin], ['agent1', agent1], ['agent2', agent2]]) {
    for (const n of [1, 2]) list.push(await client(`drain ${name} #${n} via nginx`, s, LB));
  }
  const victim = 3;
  const pid = nodePids()[victim - 1];
  const logFile = `${CLUSTER.logDir}/node-${victim}.log`;
  const logFrom = statSync(logFile).size;
  const stream = new WriteStream('drain', LB, [admin, agent1, agent2]);
  let restarted = false;
  try {
    await stream.more(10, 'before the drain');
    // A write the node is in the middle of when SIGTERM comes (its handler waits for the body,
    // sent once the node has stopped accepting): the drain must finish it, and its commit must
    // reach every client like any other.
    const held = await heldWrite(CLUSTER.nodeUrls[victim - 1], admin.accessToken, 'held across the drain');
    const termAt = Date.now();
    process.kill(pid, 'SIGTERM');
    await until(`node-${victim} to stop accepting connections`, async () =>
      (await apiAt(CLUSTER.nodeUrls[victim - 1], 'GET', '/health', { timeout: 1000 })).status === 0);
    const heldAnswer = await held.send();
    assert.equal(heldAnswer.status, 201, `the write in flight on node-${victim} when it was told to stop is finished: ${heldAnswer.status} ${heldAnswer.text}`);
    const { status } = await until(`node-${victim} (pid ${pid}) to exit after SIGTERM`, () => {
      const s = nodeExit(victim);
      return s !== null && { status: s };
    }, { ms: DRAIN_MS, detail: () => `end of its log: ${readFileSync(logFile, 'utf8').slice(logFrom).slice(-2000)}` });
    const drainMs = Date.now() - termAt;
    const log = readFileSync(logFile, 'utf8').slice(logFrom);
    assert.equal(status, 0, `node-${victim} exited with status 0 after SIGTERM; its log since: ${log.slice(-2000)}`);
    assert.match(log, /shutting down/, `node-${victim}'s log says it is shutting down`);
    assert.match(log, /deskbell server stopped/, `node-${victim}'s log says it stopped`);
    assert.doesNotMatch(log, /panicked|in-flight requests did not finish/, `node-${victim} stopped cleanly: ${log.slice(-2000)}`);

    // It closed its sockets before exiting; their clients are back through nginx on another node.
    const dropped = await clientsMovedOff(`node-${victim}`, list);
    await stream.more(20, 'after every client is back');
    const acked = [...(await stream.stop()), heldAnswer.json.id];
    const reasons = dropped.map((c) => c.disconnects[0].reason);
    console.log(`drain: ${stream.report()}; node-${victim} exited ${drainMs} ms after SIGTERM; ${dropped.length} client(s) were on it (disconnect reasons: ${JSON.stringify(reasons)})`);
    await everyoneRecoveredFromLosing(victim, 'drained', list, acked, dropped);
    restarted = true;
  } finally {
    await stream.stop();
    if (!restarted) await startNode(victim).catch((err) => console.error(`restarting node-${victim}: ${err.message}`));
  }
});
