// The desktop app through the load balancer of a several-node cluster: two deskbell-server nodes
// on one PostgreSQL database and one Redis behind nginx (scripts/cluster.sh, started by
// tests/e2e/run.sh for this spec and stopped by its trap). The app signs in to the balancer's URL
// through the UI and is Live again, with nothing missed, each time the node it is on is killed.
//
// Nobody can ask a node which sockets it holds, so both nodes are killed in turn: node-1
// (SIGKILL), node-1 started again, node-2 (SIGKILL). A ticket written through the balancer right
// after a kill can only reach the app through the node still alive, so once the app shows it and
// is Live, the app is on that node: on node-2 after the first kill, on node-1 after the second.
// Whichever node it started on, it lost the one it was on at least once (at the second kill at
// the latest, which the pill must show).
//
// Steps share one app session and are skipped once one fails; each leaves
// ci-artifacts/e2e/cluster-NN-step.png (cluster logs: ci-artifacts/e2e/cluster/). Every wait is a
// condition with a deadline.

import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { ADMIN, AGENT, Api, env, openApp, until } from './support.mjs';
import {
  SEL, TIMEOUT, setBrowser, signInThroughUi, steps, uiCard, waitBoardEqualsServer, waitFor,
  waitPill,
} from './ui.mjs';

const execFileP = promisify(execFile);

const LB = env('E2E_CLUSTER_URL');
const clusterState = env('E2E_CLUSTER_STATE');
const clusterScript = env('E2E_CLUSTER_SCRIPT');
const shots = env('E2E_SHOTS');
mkdirSync(join(shots, 'logs'), { recursive: true });

/** @type {WebdriverIO.Browser} */
let browser;
const admin = new Api(LB);
const agent = new Api(LB);
const step = steps({ shots, prefix: 'cluster-' });

// --- the cluster (scripts/cluster.sh's state file) ----------------------------------------------

/** A variable of STATE/cluster.env (written with printf %q: a list has its spaces escaped). */
function clusterVar(name) {
  const text = readFileSync(join(clusterState, 'cluster.env'), 'utf8');
  const m = text.match(new RegExp(`^${name}=(.*)$`, 'm'));
  if (!m) throw new Error(`${name} is not in ${clusterState}/cluster.env`);
  return m[1].replace(/\\ /g, ' ').replace(/^'|'$/g, '');
}
const list = (name) => clusterVar(name).split(/\s+/).filter(Boolean);
/** Node K (1-based) as it is now: --start-node rewrites its pid in the state file. */
const node = (k) => ({
  name: `node-${k}`,
  url: list('CLUSTER_NODE_URLS')[k - 1],
  pid: Number(list('CLUSTER_NODE_PIDS')[k - 1]),
});

/** SIGKILL of node K: its sockets die with it. Waits until its port refuses connections (its pid
 *  may linger as a zombie: the node is no child of this process). */
async function killNode(k) {
  const { name, url, pid } = node(k);
  process.kill(pid, 'SIGKILL');
  const api = new Api(url);
  await until(async () => !(await api.healthy()), { timeout: 10_000, message: `${name} (pid ${pid}) to stop answering` });
}

/** Node K started again (scripts/cluster.sh --start-node returns once its /health answers), and
 *  nginx sending requests to it again: a node that refused a connection is skipped for 5 s
 *  (max_fails=1 fail_timeout=5s), and with both nodes skipped nginx would answer 502. */
async function startNode(k) {
  await execFileP('bash', [clusterScript, '--state-dir', clusterState, '--start-node', String(k)],
    { timeout: 90_000 });
  const name = `node-${k}`;
  let last;
  await until(async () => {
    const res = await fetch(`${LB}/health`, { signal: AbortSignal.timeout(2_000) });
    last = await res.json();
    return last.node === name;
  }, { timeout: 30_000, interval: 250, message: `the balancer to send a request to ${name} again` })
    .catch((e) => {
      throw new Error(`${e.message}; last /health through the balancer: ${JSON.stringify(last)}`);
    });
}

// --- what the pill went through (recorded in the page, so no state between two polls is missed) -

async function recordPill() {
  await browser.execute((sel) => {
    const rec = { states: [], last: undefined };
    window.__deskbellPill = rec;
    const look = () => {
      const s = document.querySelector(sel)?.getAttribute('data-state') ?? null;
      if (s !== rec.last) {
        rec.last = s;
        rec.states.push(s);
      }
    };
    look();
    new MutationObserver(look).observe(document.body, {
      subtree: true, childList: true, attributes: true, attributeFilter: ['data-state'],
    });
  }, SEL.pill);
}

/** Every state the pill has shown since the recorder started (fails if the page was reloaded). */
async function pillStates() {
  const states = await browser.execute(() => window.__deskbellPill?.states ?? null);
  assert.ok(states, 'the pill recorder is gone: the page was reloaded');
  return states;
}

async function newTicket(api, what) {
  // Right after a kill nginx may still pick the dead node for a POST (it retries only
  // idempotent requests) and answer 502 with its own HTML page: a client tries again.
  let last = null;
  const created = await until(async () => {
    last = await api.request('POST', '/api/tickets', {
      body: {
        title: `E2E cluster ${what} ${Date.now()}`,
        requester: { name: 'Nora Node', contact: 'nora@example.test' },
        priority: 'normal',
      },
      ok: false,
      raw: true,
    });
    if ([502, 503, 504].includes(last.status)) return null;
    if (last.status !== 201 && last.status !== 200) throw new Error(`POST /api/tickets → ${last.status}: ${last.text}`);
    return JSON.parse(last.text);
  }, { timeout: TIMEOUT.ui, message: `writing a ticket through the balancer (${what})` });
  return created;
}

/** Waits until ticket `id` is on the app's board and the pill is Live; the card is scrolled
 *  into view for the step's screenshot. */
async function waitShownAndLive(id, why) {
  await waitFor(async () => (await uiCard(id)) !== null, TIMEOUT.live,
    `${why}: ticket ${id} never appeared on the board`);
  await waitPill('live', /^Live$/, TIMEOUT.live);
  await (await browser.$(SEL.cardById(id))).scrollIntoView({ block: 'center' }).catch(() => {});
}

const state = {};

describe('Deskbell desktop app through the balancer of a two-node cluster', { concurrency: false }, () => {
  before(async () => {
    assert.equal(list('CLUSTER_NODE_URLS').length, 2, 'run.sh starts two nodes');
    browser = await openApp();
    setBrowser(browser);
    await admin.login(ADMIN);
    await agent.login(AGENT);
  });

  after(async () => {
    if (browser) await browser.deleteSession().catch(() => {});
  });

  step('signed-in-via-balancer', "signing in through the UI to the balancer's URL shows the board, Live, fed by both nodes", async () => {
    await waitFor(async () => (await browser.$(SEL.loginEmail)).isDisplayed(), TIMEOUT.ui,
      'the sign-in form never showed');
    await signInThroughUi(LB, AGENT);
    const filterAll = await browser.$(SEL.filterAll);
    if (await filterAll.isExisting()) await filterAll.click();
    await waitBoardEqualsServer(agent, TIMEOUT.ui, 'signed in through the balancer');
    await recordPill();
    // Whichever node holds the app's socket, a write on the other one reaches it (Redis).
    for (const k of [1, 2]) {
      const direct = new Api(node(k).url);
      direct.token = admin.token; // the nodes share the signing key
      const t = await newTicket(direct, `on node-${k}`);
      await waitFor(async () => (await uiCard(t.id)) !== null, TIMEOUT.ui,
        `ticket ${t.id}, written on node-${k} directly, never appeared on the board`);
    }
  });

  step('node-1-killed', 'kill -9 of node-1: the app is Live through the balancer with what was written meanwhile', async () => {
    const from = (await pillStates()).length;
    await killNode(1);
    // Right away, while the app may still be reconnecting: only node-2 can take it.
    const t1 = await newTicket(admin, 'after node-1 was killed');
    await waitShownAndLive(t1.id, 'after node-1 was killed');
    await waitBoardEqualsServer(agent, TIMEOUT.ui, 'after node-1 was killed');
    const seen = (await pillStates()).slice(from);
    // Only for the log: which node the app was on.
    state.startedOn = seen.some((s) => s !== 'live') ? 'node-1' : 'node-2';
    console.log(`kill -9 of node-1: the pill went through ${JSON.stringify(seen)} (the app was on ${state.startedOn})`);
  }, 180_000);

  step('node-2-killed', 'node-1 back, kill -9 of node-2 (the node the app is on now): the pill leaves Live and comes back, nothing missed', async () => {
    await startNode(1);
    const from = (await pillStates()).length;
    await killNode(2);
    const t2 = await newTicket(admin, 'after node-2 was killed');
    await waitShownAndLive(t2.id, 'after node-2 was killed');
    await waitBoardEqualsServer(agent, TIMEOUT.ui, 'after node-2 was killed');
    const seen = (await pillStates()).slice(from);
    console.log(`kill -9 of node-2: the pill went through ${JSON.stringify(seen)}`);
    // The app was on node-2 (it had received the previous step's ticket with node-1 dead).
    assert.ok(seen.some((s) => s !== 'live'), `the app noticed that node-2 went away (pill states: ${JSON.stringify(seen)})`);
    assert.equal(seen.at(-1), 'live', 'and is Live again');
  }, 180_000);

  step('written-after-kills', 'a ticket written through the balancer after the kills appears live; the board equals the server\'s', async () => {
    const from = (await pillStates()).length;
    const t3 = await newTicket(admin, 'after both kills');
    await waitShownAndLive(t3.id, 'after both kills');
    const card = await uiCard(t3.id);
    assert.ok(card.text.includes(t3.title), `the card shows the title (${card.text})`);
    await waitBoardEqualsServer(agent, TIMEOUT.ui, 'after both kills');
    assert.deepEqual((await pillStates()).slice(from), [], 'the pill stayed Live');
  });
});
