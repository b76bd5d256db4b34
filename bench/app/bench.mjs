// The desktop app's own costs, measured on the real app (bench/app/README.md): memory and CPU of
// the running app idle with N tickets on the board, time from "Sign in" (and from a cold start
// that resumes the session from the keychain) to the full board painted, and time to apply a
// burst of events. Run through bench/app/run.sh, which runs this inside tests/e2e/run.sh's
// session (Xvfb, tauri-driver + WebKitWebDriver, private D-Bus, gnome-keyring, demo server).
//
// Times that end "painted" are taken in the page: a frame loop notes the wall clock of the frame
// after the one where the lane header counts first equal what the server has (the same clock as
// this script's, both read on this machine). The app talks to the server through a small TCP
// proxy here that can hold the server's bytes back: that is how a burst arrives all at once.

import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, readlinkSync, realpathSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';

import { ADMIN, Api, DEMO_PASSWORD, env, keychainUsers, openApp, until } from '../../tests/e2e/support.mjs';

/** WebKit's compositing as the app runs it (src-tauri/src/rendering.rs decides when not told). */
function compositingMode() {
  if (process.env.WEBKIT_DISABLE_COMPOSITING_MODE === '1') return 'off (WEBKIT_DISABLE_COMPOSITING_MODE=1): WebKit paints on the CPU';
  if (process.env.DESKBELL_COMPOSITING === 'on') return "on (DESKBELL_COMPOSITING=on): OpenGL through Mesa's llvmpipe, Xvfb has no GPU";
  let gpu = false;
  try {
    gpu = readdirSync('/dev/dri').some((n) => n.startsWith('renderD'));
  } catch {
    gpu = false;
  }
  return gpu
    ? "on (the app's choice: a GPU render node is there)"
    : "off (the app's choice: no GPU render node, so WebKit paints on the CPU)";
}

// --- configuration --------------------------------------------------------------------------------

function positiveInts(name, fallback) {
  const raw = process.env[name] ?? fallback;
  const values = raw.split(',').map((s) => s.trim());
  for (const v of values) {
    if (!/^[1-9][0-9]*$/.test(v)) throw new Error(`${name}=${raw}: expected positive integers, comma-separated`);
  }
  return values.map(Number);
}

const config = {
  sizes: positiveInts('BENCH_APP_SIZES', '1000,10000'),
  burst: positiveInts('BENCH_APP_BURST', '1000')[0],
  idleSeconds: positiveInts('BENCH_APP_IDLE_SECONDS', '20')[0],
  settleSeconds: positiveInts('BENCH_APP_SETTLE_SECONDS', '5')[0],
  writers: positiveInts('BENCH_APP_WRITERS', '8')[0],
  rounds: positiveInts('BENCH_APP_ROUNDS', '3')[0],
  out: process.env.BENCH_APP_OUT || env('E2E_SHOTS'),
  profile: process.env.BENCH_APP_PROFILE || 'debug',
};
if (config.burst > Math.min(...config.sizes)) {
  throw new Error(`BENCH_APP_BURST=${config.burst} is larger than the smallest board `
    + `(${Math.min(...config.sizes)}): each event of a burst changes a different ticket`);
}
const TIMEOUT = { ui: 60_000, board: 300_000 };
const app = env('E2E_APP');
const serverUrl = env('E2E_SERVER_URL');
mkdirSync(config.out, { recursive: true });

const log = (msg) => console.log(`bench/app: ${msg}`);

// --- a TCP proxy that can hold back what the server sends ----------------------------------------

class HoldingProxy {
  constructor(target) {
    this.target = new URL(target);
    this.holding = false;
    this.links = new Set();
  }

  async start() {
    this.server = net.createServer((client) => {
      const link = { client, upstream: net.connect(Number(this.target.port), this.target.hostname), held: [] };
      this.links.add(link);
      client.setNoDelay(true);
      link.upstream.setNoDelay(true);
      client.on('data', (chunk) => link.upstream.write(chunk));
      link.upstream.on('data', (chunk) => {
        if (this.holding) link.held.push(chunk);
        else client.write(chunk);
      });
      const close = () => {
        this.links.delete(link);
        client.destroy();
        link.upstream.destroy();
      };
      for (const s of [client, link.upstream]) {
        s.on('close', close);
        s.on('error', close);
      }
    });
    await new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${this.server.address().port}`;
  }

  hold() {
    this.holding = true;
  }

  /** Sends everything held, one write per connection; returns the number of bytes released. */
  release() {
    this.holding = false;
    let bytes = 0;
    for (const link of this.links) {
      if (link.held.length === 0) continue;
      const all = Buffer.concat(link.held);
      link.held = [];
      bytes += all.length;
      link.client.write(all);
    }
    return bytes;
  }

  close() {
    for (const link of this.links) {
      link.client.destroy();
      link.upstream.destroy();
    }
    this.server.close();
  }
}

// --- the app's processes: the shell and the WebKit processes it starts ---------------------------

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
const PAGE_KB = Number(execFileSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).trim()) / 1024;

function procStat(pid) {
  const raw = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which may contain spaces: field k is rest[k - 3].
  const rest = raw.slice(raw.lastIndexOf(')') + 2).split(' ');
  return {
    ppid: Number(rest[1]),
    ticks: Number(rest[11]) + Number(rest[12]),
    startTicks: Number(rest[19]),
    rssKb: Number(rest[21]) * PAGE_KB,
  };
}

function procKb(pid, file, field) {
  const m = readFileSync(`/proc/${pid}/${file}`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
  return m ? Number(m[1]) : 0;
}

function kind(pid) {
  const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  if (comm.startsWith('WebKitWebProces')) return 'web';
  if (comm.startsWith('WebKitNetworkPr')) return 'network';
  return comm;
}

/** The app's main process and every descendant, as [{pid, kind}] (main first). */
function appProcesses() {
  const exe = realpathSync(app);
  const parents = new Map();
  let main = null;
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    const pid = Number(entry);
    try {
      parents.set(pid, procStat(pid).ppid);
      if (main === null && readlinkSync(`/proc/${pid}/exe`) === exe) main = pid;
    } catch { /* gone, or not ours to read */ }
  }
  if (main === null) throw new Error(`no running process of ${exe}`);
  const tree = [{ pid: main, kind: 'main' }];
  for (let i = 0; i < tree.length; i++) {
    for (const [pid, ppid] of parents) {
      if (ppid === tree[i].pid) tree.push({ pid, kind: kind(pid) });
    }
  }
  return tree;
}

/** Memory of the app's processes now: RSS and PSS (shared pages split between the processes
 *  that map them, so the sum does not count the shared libraries once per process). */
function memory(tree) {
  const by = {};
  let rssKb = 0;
  let pssKb = 0;
  for (const { pid, kind: k } of tree) {
    try {
      const rss = procKb(pid, 'status', 'VmRSS');
      const pss = procKb(pid, 'smaps_rollup', 'Pss');
      rssKb += rss;
      pssKb += pss;
      by[k] = { rssMb: mb((by[k]?.rssMb ?? 0) * 1024 + rss), pssMb: mb((by[k]?.pssMb ?? 0) * 1024 + pss) };
    } catch { /* exited */ }
  }
  return { rssMb: mb(rssKb), pssMb: mb(pssKb), by };
}

const mb = (kb) => Math.round((kb / 1024) * 10) / 10;

function cpuTicks(tree) {
  const by = {};
  for (const { pid, kind: k } of tree) {
    try {
      by[k] = (by[k] ?? 0) + procStat(pid).ticks;
    } catch { /* exited */ }
  }
  return by;
}

/** CPU ticks of the web process's threads, by thread name ("llvmpipe-1" counts as "llvmpipe"):
 *  tells script and layout (the main thread) from painting (the compositor, llvmpipe). */
function webThreadTicks(tree) {
  const by = {};
  for (const { pid, kind: k } of tree) {
    if (k !== 'web') continue;
    try {
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        try {
          const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim().replace(/-?[0-9]+$/, '');
          by[name] = (by[name] ?? 0) + procStat(`${pid}/task/${tid}`).ticks;
        } catch { /* thread gone */ }
      }
    } catch { /* exited */ }
  }
  return by;
}

/** CPU of the app's processes over `seconds`, in % of one core, total and by process kind. */
async function cpuOver(tree, seconds) {
  const before = cpuTicks(tree);
  const t0 = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, seconds * 1000)); // the measurement window itself
  const after = cpuTicks(tree);
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const pct = (ticks) => Math.round((ticks / CLK_TCK / wall) * 1000) / 10;
  const by = {};
  let total = 0;
  for (const k of Object.keys(after)) {
    const d = after[k] - (before[k] ?? 0);
    by[k] = pct(d);
    total += d;
  }
  return { seconds: Math.round(wall * 10) / 10, pct: pct(total), by };
}

/** When the process started, in ms since the epoch (to the clock tick). */
function startedAtMs(pid) {
  const uptimeS = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  const bootMs = Date.now() - uptimeS * 1000;
  return bootMs + (procStat(pid).startTicks / CLK_TCK) * 1000;
}

// --- in the page: "the board shows these counts", noted on the frame it is painted ---------------

const SEL = {
  lane: '[data-testid^="lane-"][data-lane-id]',
  laneCount: '[data-testid="lane-count"]',
  card: '[data-testid^="card-"][data-ticket-id]',
};

/** Starts a frame loop in the page that records in `window.__deskbellBench[key].paintedAt` the
 *  wall clock of the first frame after the lanes' header counts equal `want` ({laneKey: count},
 *  laneKey = lane id or "none") and a card is on screen. */
async function watchBoard(browser, key, want) {
  return browser.execute((key, want, sel) => {
    const bench = (window.__deskbellBench ??= {});
    const counts = () => {
      const got = {};
      for (const lane of document.querySelectorAll(sel.lane)) {
        const count = lane.querySelector(sel.laneCount);
        // "total", or "shown/total" while a filter is on.
        if (count) got[lane.getAttribute('data-lane-id')] = Number((count.textContent || '').split('/').pop().replace(/[^0-9]/g, ''));
      }
      return got;
    };
    const holds = () => {
      const got = counts();
      const keys = Object.keys(want);
      return Object.keys(got).length === keys.length && keys.every((k) => got[k] === want[k])
        && document.querySelector(sel.card) !== null;
    };
    const initial = JSON.stringify(counts());
    const entry = { paintedAt: null, firstChangeAt: null, already: holds(), frames: 0, counts };
    bench[key] = entry;
    const frame = () => {
      entry.frames += 1;
      if (entry.firstChangeAt === null && JSON.stringify(counts()) !== initial) entry.firstChangeAt = Date.now();
      if (holds()) {
        requestAnimationFrame(() => { entry.paintedAt = Date.now(); });
      } else {
        requestAnimationFrame(frame);
      }
    };
    requestAnimationFrame(frame);
    return entry.already;
  }, key, want, SEL);
}

/** Waits for `watchBoard(key)` to have seen its board painted; returns {paintedAt,
 *  firstChangeAt} (wall clock, ms; firstChangeAt: the first frame whose counts had changed). */
async function painted(browser, key, timeout) {
  let last = null;
  try {
    return await until(async () => {
      last = await browser.execute((k) => {
        const e = window.__deskbellBench?.[k];
        return e ? { paintedAt: e.paintedAt, firstChangeAt: e.firstChangeAt, frames: e.frames, counts: e.counts() } : null;
      }, key);
      return last?.paintedAt ? last : null;
    }, { timeout, interval: 100, message: `the board "${key}" painted` });
  } catch (e) {
    throw new Error(`${e.message}; the page shows lane counts ${JSON.stringify(last?.counts)} after ${last?.frames} frames`);
  }
}

// --- the server side -------------------------------------------------------------------------------

const admin = new Api(serverUrl);

/** Lane counts as the UI shows them by default ("none" for no lane), for a board snapshot:
 *  closed tickets are hidden unless the user shows them, and the counts count what is shown. */
function laneCounts(board) {
  const counts = { none: 0 };
  for (const lane of board.lanes) counts[String(lane.id)] = 0;
  for (const t of board.tickets) {
    if (t.status !== 'closed') counts[t.laneId == null ? 'none' : String(t.laneId)] += 1;
  }
  return counts;
}

/** Runs `jobs` (functions returning promises) on `width` concurrent writers; `progress(done)`
 *  is told every so often. */
async function runJobs(jobs, width, progress) {
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const job = jobs[next++];
      await job();
      done += 1;
      if (progress && done % 1000 === 0) progress(done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, jobs.length) }, worker));
}

const FIRST = ['Ana', 'Ben', 'Chloé', 'Dmitri', 'Eve', 'Farid', 'Grace', 'Hiro', 'Ines', 'Jon', 'Kemal', 'Lena'];
const LAST = ['Novak', 'Okafor', 'Petit', 'Quinn', 'Rossi', 'Sato', 'Tanaka', 'Ueda', 'Vargas', 'Weber'];
const ASKS = [
  'Cannot sign in after password reset', 'Invoice shows the wrong VAT rate', 'Export to CSV times out',
  'Two-factor codes arrive late', 'Refund not received', 'Mobile app crashes on upload',
  'Webhook deliveries failing with 502', 'Need more seats on our plan', 'Dark mode unreadable in reports',
  'Calendar sync duplicates events', 'API rate limit too low for our import', 'Cannot delete old project',
];
const PRIORITIES = ['low', 'normal', 'normal', 'normal', 'high'];

/** Creates tickets until admin sees `size` of them (lanes and assignees spread like a real desk). */
async function seedTo(size) {
  const board = await admin.board();
  const have = board.tickets.length;
  if (have > size) {
    throw new Error(`the board already has ${have} tickets, more than ${size}: list BENCH_APP_SIZES in increasing order, each at least the demo's own tickets`);
  }
  const users = (await admin.request('GET', '/api/users')).body;
  const lanes = [null, ...board.lanes.map((l) => l.id)];
  const assignees = [null, ...users.filter((u) => u.active !== false).map((u) => u.id)];
  const started = Date.now();
  const jobs = Array.from({ length: size - have }, (_, i) => () => {
    const n = have + i;
    const name = `${FIRST[n % FIRST.length]} ${LAST[(n * 7) % LAST.length]}`;
    return admin.createTicket({
      title: `${ASKS[n % ASKS.length]} (#${n})`,
      requester: { name, contact: `${name.split(' ')[0].toLowerCase()}.${n}@example.test` },
      priority: PRIORITIES[n % PRIORITIES.length],
      laneId: lanes[n % lanes.length],
      assigneeId: assignees[(n * 3) % assignees.length],
      message: `Hello, ${ASKS[(n + 3) % ASKS.length].toLowerCase()} since this morning. Can you help?`,
    });
  });
  await runJobs(jobs, config.writers, (done) => log(`  seeding: ${have + done} / ${size}`));
  const now = (await admin.board()).tickets.length;
  if (now !== size) throw new Error(`seeding ended with ${now} tickets on the board, not ${size}`);
  log(`board has ${size} tickets (${size - have} created in ${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

/** A burst: `count` writes on distinct tickets, 70 % moves to another lane and 30 % priority
 *  changes, each one ticket event. Returns the jobs and the lane counts once all are applied. */
function planBurst(board, count, round) {
  const lanes = [null, ...[...board.lanes].sort((a, b) => a.position - b.position).map((l) => l.id)];
  const tickets = [...board.tickets].sort((a, b) => a.id - b.id);
  const after = new Map(tickets.map((t) => [t.id, t.laneId ?? null]));
  const status = new Map(tickets.map((t) => [t.id, t.status]));
  const jobs = [];
  for (let i = 0; i < count; i++) {
    const t = tickets[(i + round * 97) % tickets.length];
    if (i % 10 < 7) {
      const at = lanes.indexOf(t.laneId ?? null);
      const to = lanes[(at + 1 + (i % (lanes.length - 1))) % lanes.length];
      after.set(t.id, to);
      jobs.push(() => admin.moveTicket(t, to));
    } else {
      const priority = t.priority === 'low' ? 'normal' : 'low';
      jobs.push(() => admin.patchTicket(t, { priority }));
    }
  }
  const want = laneCounts({
    lanes: board.lanes,
    tickets: [...after].map(([id, laneId]) => ({ laneId, status: status.get(id) })),
  });
  return { jobs, want };
}

async function checkServerCounts(want, what) {
  const got = laneCounts(await admin.board());
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    throw new Error(`${what}: the server's lane counts ${JSON.stringify(got)} are not the planned ${JSON.stringify(want)} (someone else writing?)`);
  }
}

// --- the scenario ----------------------------------------------------------------------------------

async function waitDisplayed(browser, selector, what) {
  await browser.waitUntil(async () => (await browser.$(selector)).isDisplayed(), {
    timeout: TIMEOUT.ui, interval: 100, timeoutMsg: `${what} never showed`,
  });
}

async function shot(browser, name) {
  try {
    await browser.saveScreenshot(join(env("E2E_SHOTS"), `${name}.png`));
  } catch (e) {
    log(`screenshot ${name} failed: ${e.message}`);
  }
}

async function signIn(browser, proxyUrl, size) {
  await waitDisplayed(browser, '[data-testid="login-email"]', 'the sign-in form');
  const serverField = await browser.$('[data-testid="login-server"]');
  await serverField.clearValue();
  await serverField.setValue(proxyUrl);
  await (await browser.$('[data-testid="login-email"]')).setValue(ADMIN);
  await (await browser.$('[data-testid="login-password"]')).setValue(DEMO_PASSWORD);
  const want = laneCounts(await admin.board());
  if (await watchBoard(browser, 'signin', want)) throw new Error('the board showed before signing in');
  const clickedAt = await browser.execute(() => {
    const at = Date.now();
    document.querySelector('[data-testid="login-submit"]').click();
    return at;
  });
  const at = (await painted(browser, 'signin', TIMEOUT.board)).paintedAt;
  log(`  sign in → ${size} tickets painted: ${at - clickedAt} ms`);
  return at - clickedAt;
}

async function signOut(browser) {
  await (await browser.$('[data-testid="user-menu"]')).click();
  await waitDisplayed(browser, '[data-testid="sign-out"]', 'Sign out');
  await (await browser.$('[data-testid="sign-out"]')).click();
  await until(async () => (await keychainUsers()).length === 0, {
    timeout: TIMEOUT.ui, message: 'the keychain entry to go after signing out',
  });
}

/** CPU time (ms) each kind of app process used between two `cpuTicks` readings. */
function cpuMsBetween(before, after) {
  const out = {};
  for (const k of Object.keys(after)) out[k] = Math.round(((after[k] - (before[k] ?? 0)) * 1000) / CLK_TCK);
  return out;
}

/** For the log: only what used any CPU. */
const busy = (cpuMs) => JSON.stringify(Object.fromEntries(Object.entries(cpuMs).filter(([, ms]) => ms > 0)));

async function burst(browser, proxy, tree, round, held) {
  const board = await admin.board();
  const { jobs, want } = planBurst(board, config.burst, round);
  const key = `burst-${round}`;
  const seqBefore = board.seq;
  let result;
  if (held) {
    proxy.hold();
    const writesStarted = Date.now();
    try {
      await runJobs(jobs, config.writers);
    } catch (e) {
      proxy.release();
      throw e;
    }
    const writesMs = Date.now() - writesStarted;
    await checkServerCounts(want, 'held burst');
    if (await watchBoard(browser, key, want)) {
      proxy.release();
      throw new Error('the board showed the burst while the proxy held it back');
    }
    const ticks = cpuTicks(tree);
    const threads = webThreadTicks(tree);
    const releasedAt = Date.now();
    const bytes = proxy.release();
    const { paintedAt: at, firstChangeAt } = await painted(browser, key, TIMEOUT.board);
    result = {
      events: (await admin.board()).seq - seqBefore,
      bytes,
      writesMs,
      appliedMs: at - releasedAt,
      firstChangeMs: firstChangeAt - releasedAt,
      cpuMs: cpuMsBetween(ticks, cpuTicks(tree)),
      webThreadsCpuMs: cpuMsBetween(threads, webThreadTicks(tree)),
    };
    log(`  burst of ${result.events} events held back (${(bytes / 1024).toFixed(0)} KiB), then released: first change painted after ${result.firstChangeMs} ms, all after ${result.appliedMs} ms; CPU ms ${busy(result.cpuMs)}, web threads ${busy(result.webThreadsCpuMs)}`);
  } else {
    if (await watchBoard(browser, key, want)) throw new Error('the board showed the burst before it was written');
    const ticks = cpuTicks(tree);
    const threads = webThreadTicks(tree);
    const writesStarted = Date.now();
    await runJobs(jobs, config.writers);
    const lastAck = Date.now();
    await checkServerCounts(want, 'live burst');
    const at = (await painted(browser, key, TIMEOUT.board)).paintedAt;
    result = {
      events: (await admin.board()).seq - seqBefore,
      writesMs: lastAck - writesStarted,
      appliedMs: at - writesStarted,
      lagAfterLastWriteMs: at - lastAck,
      cpuMs: cpuMsBetween(ticks, cpuTicks(tree)),
      webThreadsCpuMs: cpuMsBetween(threads, webThreadTicks(tree)),
    };
    log(`  burst of ${result.events} events written live in ${result.writesMs} ms: painted ${result.lagAfterLastWriteMs} ms after the last write; CPU ms ${busy(result.cpuMs)}, web threads ${busy(result.webThreadsCpuMs)}`);
  }
  return result;
}

const appGone = () => until(() => { try { appProcesses(); return false; } catch { return true; } }, {
  timeout: TIMEOUT.ui, message: 'the app to exit',
});

/** One round on a board of `size`: launch signed out and sign in, (the first round: idle
 *  CPU and memory), a held and a live burst, quit; cold start with the saved session, sign out. */
async function round(proxy, size, no, out) {
  const r = {};
  let browser = await openApp();
  try {
    r.signInMs = await signIn(browser, proxy.url, size);
    const tree = appProcesses();
    if (no === 1) {
      await shot(browser, `board-${size}`);
      log(`  app processes: ${tree.map((p) => `${p.kind}:${p.pid}`).join(' ')}`);
      await new Promise((res) => setTimeout(res, config.settleSeconds * 1000)); // start-up work ends
      out.idle = { cpu: await cpuOver(tree, config.idleSeconds), memory: memory(tree) };
      log(`  idle: CPU ${out.idle.cpu.pct} % over ${out.idle.cpu.seconds} s, PSS ${out.idle.memory.pssMb} MB, RSS ${out.idle.memory.rssMb} MB`);
    }
    r.burstHeld = await burst(browser, proxy, tree, no * 2 - 1, true);
    r.burstLive = await burst(browser, proxy, tree, no * 2, false);
    if (no === 1) {
      out.afterBursts = { memory: memory(tree) };
      await shot(browser, `after-bursts-${size}`);
    }
  } finally {
    // Ends the app without signing out: the session stays in the keychain.
    await browser.deleteSession().catch(() => {});
  }
  await appGone();

  // Cold start: the session resumes from the keychain and the board loads.
  const want = laneCounts(await admin.board());
  const asked = Date.now();
  browser = await openApp();
  try {
    const sessionAt = Date.now();
    const startedAt = startedAtMs(appProcesses()[0].pid);
    const already = await watchBoard(browser, 'resume', want);
    const at = already ? Date.now() : (await painted(browser, 'resume', TIMEOUT.board)).paintedAt;
    r.coldStart = {
      processStartToPaintedMs: Math.round(at - startedAt),
      webdriverSessionMs: sessionAt - asked,
      paintedBeforeSessionReady: already,
    };
    log(`  cold start (session from the keychain) → board painted: ${r.coldStart.processStartToPaintedMs} ms after the process started${already ? ' (at most: painted before WebDriver was ready)' : ''}`);
    await signOut(browser);
  } finally {
    await browser.deleteSession().catch(() => {});
  }
  await appGone();
  return r;
}

function median(values) {
  const v = [...values].sort((a, b) => a - b);
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : Math.round((v[mid - 1] + v[mid]) / 2);
}

async function measureSize(proxy, size) {
  log(`--- ${size} tickets`);
  await seedTo(size);
  const out = { tickets: size, rounds: [] };
  for (let no = 1; no <= config.rounds; no++) {
    log(` round ${no} / ${config.rounds}`);
    out.rounds.push(await round(proxy, size, no, out));
  }
  const of = (f) => median(out.rounds.map(f));
  out.median = {
    signInMs: of((r) => r.signInMs),
    coldStartMs: of((r) => r.coldStart.processStartToPaintedMs),
    coldStartAtMost: out.rounds.some((r) => r.coldStart.paintedBeforeSessionReady),
    heldFirstChangeMs: of((r) => r.burstHeld.firstChangeMs),
    heldAppliedMs: of((r) => r.burstHeld.appliedMs),
    heldEvents: of((r) => r.burstHeld.events),
    heldKiB: Math.round(of((r) => r.burstHeld.bytes) / 1024),
    liveWritesMs: of((r) => r.burstLive.writesMs),
    liveLagMs: of((r) => r.burstLive.lagAfterLastWriteMs),
  };
  for (const [name, pick] of [['held', (r) => r.burstHeld], ['live', (r) => r.burstLive]]) {
    const split = (r) => {
      const b = pick(r);
      const t = b.webThreadsCpuMs;
      const painting = Object.entries(t)
        .filter(([k]) => /llvmpipe|Skia|Compositor|eadedCompositor/.test(k))
        .reduce((a, [, v]) => a + v, 0);
      const script = t.WebKitWebProces ?? 0;
      return { main: b.cpuMs.main ?? 0, script, painting, otherWeb: (b.cpuMs.web ?? 0) - script - painting };
    };
    out.median[`${name}Cpu`] = Object.fromEntries(['main', 'script', 'painting', 'otherWeb'].map((k) => [k, of((r) => split(r)[k])]));
  }
  return out;
}

// --- the report ------------------------------------------------------------------------------------

function sh(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

function machine() {
  const cpu = os.cpus();
  const dirty = sh('git', ['status', '--porcelain', '--', 'crates', 'src-tauri', 'ui/src']) !== '';
  return {
    cpu: `${cpu.length} × ${cpu[0]?.model ?? 'unknown'}`,
    memoryMb: Math.round(os.totalmem() / 1024 / 1024),
    kernel: os.release(),
    webkitgtk: sh('dpkg-query', ['-W', '-f', '${Version}', 'libwebkit2gtk-4.1-0']),
    commit: sh('git', ['rev-parse', '--short', 'HEAD']) + (dirty ? ' (+ uncommitted changes)' : ''),
    profile: config.profile,
    rustc: sh('rustc', ['--version']),
    display: 'Xvfb 1400×900×24, window 1200×800',
    compositing: compositingMode(),
  };
}

const fmt = (n) => (typeof n === 'number' ? n.toLocaleString('en-US').replace(/,/g, ' ') : String(n));

function report(results, seconds) {
  const m = results.machine;
  const rows = (f) => results.sizes.map(f).join('\n');
  const kinds = [...new Set(results.sizes.flatMap((s) => Object.keys(s.idle.memory.by)))];
  return `# Desktop app benchmark

Generated by \`bench/app/run.sh\` on ${results.generated} in ${seconds} s. Raw numbers: [\`results.json\`](results.json).
This is a report, not a timed test: the numbers move with the machine and with whatever else runs on it.

## What is measured

The real app (\`${m.profile}\` build) under Xvfb, driven over WebDriver (tauri-driver +
WebKitWebDriver), signed in as \`admin@acme.test\` (who sees every ticket of the company) to a
demo server seeded to N tickets, on loopback, with a private D-Bus session, gnome-keyring and a
capturing notification server. "The app" is its main process and the processes it starts
(WebKitGTK's web and network processes).

- **Sign in → painted**: from the click on "Sign in" to the frame after the one where every lane
  header shows the server's count (login, token to the keychain, board snapshot over REST, socket
  connected, lanes rendered). Read in the page.
- **Cold start → painted**: from the app process's start (its \`/proc\` start time) to the same
  frame, with the session resumed from the keychain.
- **Idle**: CPU over ${config.idleSeconds} s, ${config.settleSeconds} s after the board showed, connected and Live, nothing
  happening. PSS shares each shared page between the processes mapping it (the honest sum); RSS
  counts shared libraries once per process.
- **Burst, held back**: ${config.burst} ticket events (70 % moves to another lane, 30 % priority
  changes, each on a different ticket) written while a proxy between app and server holds the
  server's bytes back, then released in one write: time from the release to the board painted with
  every move applied (and to the first frame showing any of it). This is the "laptop back on the
  network" case.
- **Burst, live**: the same kind of burst written as fast as ${config.writers} concurrent writers can,
  with the app connected: time from the last write's response to the board painted (how far the
  app lags behind the server).

## Machine

| | |
|---|---|
| CPU | ${m.cpu} (the app, WebKit, the server and the writers share them) |
| Memory | ${m.memoryMb} MB |
| Kernel | Linux ${m.kernel} |
| WebKitGTK | ${m.webkitgtk} |
| Deskbell | commit ${m.commit}, ${m.profile} build, ${m.rustc} |
| Display | ${m.display} |
| WebKit accelerated compositing | ${m.compositing} |

## Results

Each cell is the **median of ${config.rounds} rounds** (a round: launch signed out, sign in, a held
burst, a live burst, quit, cold start, sign out), except idle and memory, taken once in the first
round. Every round's numbers are in the spread table and in \`results.json\`.

| tickets | sign in → painted ms | cold start → painted ms | idle CPU % (of one core) | idle PSS MB | idle RSS MB | burst held: events (bytes) | burst held: first change / all painted, ms after release | burst live: writes ms | burst live: painted, ms after the last write | PSS after bursts MB |
|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
${rows((s) => `| ${fmt(s.tickets)} | ${fmt(s.median.signInMs)} | ${fmt(s.median.coldStartMs)}${s.median.coldStartAtMost ? ' (at most)' : ''} | ${s.idle.cpu.pct} | ${s.idle.memory.pssMb} | ${s.idle.memory.rssMb} | ${fmt(s.median.heldEvents)} (${fmt(s.median.heldKiB)} KiB) | ${fmt(s.median.heldFirstChangeMs)} / ${fmt(s.median.heldAppliedMs)} | ${fmt(s.median.liveWritesMs)} | ${fmt(s.median.liveLagMs)} | ${s.afterBursts.memory.pssMb} |`)}

### Where a burst's CPU goes

CPU time used during the burst (from the release, or the first write, to the board painted) by
the app's main process (the core and the shell: socket, reducer, alert policy, IPC to the
webview), and by the web process's main thread (script, style, layout) versus its painting
threads (llvmpipe — Xvfb has no GPU, so WebKit paints with Mesa's software OpenGL — Skia
workers, the compositor). Medians, ms.

| tickets | burst | main process | web: script + layout | web: painting | web: other |
|---:|---|---:|---:|---:|---:|
${results.sizes.flatMap((s) => [['held', s.median.heldCpu], ['live', s.median.liveCpu]].map(([n, c]) => `| ${fmt(s.tickets)} | ${n} | ${fmt(c.main)} | ${fmt(c.script)} | ${fmt(c.painting)} | ${fmt(c.otherWeb)} |`)).join('\n')}

### By process (idle)

| tickets | ${kinds.map((k) => `${k}: CPU % / PSS MB / RSS MB`).join(' | ')} |
|---:|${kinds.map(() => '---:').join('|')}|
${rows((s) => `| ${fmt(s.tickets)} | ${kinds.map((k) => `${s.idle.cpu.by[k] ?? '–'} / ${s.idle.memory.by[k]?.pssMb ?? '–'} / ${s.idle.memory.by[k]?.rssMb ?? '–'}`).join(' | ')} |`)}

### Spread over the rounds

Round 1 / round 2 / …

| tickets | sign in → painted ms | cold start → painted ms | burst held: all painted ms | burst live: painted after last write ms |
|---:|---|---|---|---|
${rows((s) => `| ${fmt(s.tickets)} | ${s.rounds.map((r) => fmt(r.signInMs)).join(' / ')} | ${s.rounds.map((r) => fmt(r.coldStart.processStartToPaintedMs)).join(' / ')} | ${s.rounds.map((r) => fmt(r.burstHeld.appliedMs)).join(' / ')} | ${s.rounds.map((r) => fmt(r.burstLive.lagAfterLastWriteMs)).join(' / ')} |`)}
`;
}

// --- main ------------------------------------------------------------------------------------------

const started = Date.now();
const proxy = new HoldingProxy(serverUrl);
await proxy.start();
log(`server ${serverUrl}, app reaches it through ${proxy.url}; sizes ${config.sizes.join(', ')}, bursts of ${config.burst}`);
await admin.login(ADMIN);
const results = { generated: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC', config, machine: machine(), sizes: [] };
try {
  for (const size of [...config.sizes].sort((a, b) => a - b)) {
    results.sizes.push(await measureSize(proxy, size));
    writeFileSync(join(config.out, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  }
} finally {
  proxy.close();
}
const seconds = Math.round((Date.now() - started) / 1000);
writeFileSync(join(config.out, 'REPORT.md'), report(results, seconds));
log(`done in ${seconds} s: ${join(config.out, 'REPORT.md')}`);
