// What the end-to-end specs share about the app's window: the UI's contract (data-testid
// selectors, ui/README.md), numbered steps with screenshots, and reading the board, the pill and
// the tray. Each spec opens its own app session and hands it over with setBrowser().

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { DEMO_PASSWORD, Tray, until } from './support.mjs';

// --- the UI's contract (data-testid attributes, ui/README.md) ---------------------------------
export const tid = (id) => `[data-testid="${id}"]`;
export const SEL = {
  login: tid('login'),
  loginServer: tid('login-server'),
  loginEmail: tid('login-email'),
  loginPassword: tid('login-password'),
  loginSubmit: tid('login-submit'),
  loginError: tid('login-error'),
  loginReason: tid('login-reason'),
  board: tid('board'),
  // lane-{id|none}, with data-lane-id ("none" for "No lane"); its header count is lane-count.
  lane: '[data-testid^="lane-"][data-lane-id]',
  laneById: (id) => tid(`lane-${id ?? 'none'}`),
  laneCount: tid('lane-count'),
  laneScroller: '.scroller',
  // card-{id}, with data-ticket-id (card-menu-{id} and card-move are not cards).
  card: '[data-testid^="card-"][data-ticket-id]',
  cardById: (id) => tid(`card-${id}`),
  cardPriority: tid('card-priority'),
  pill: tid('connection-pill'), // data-state: live | syncing | connecting | reconnecting | …
  drawer: tid('ticket-drawer'), // data-ticket-id
  drawerTitle: tid('drawer-title'),
  drawerClose: tid('drawer-close'),
  lanePicker: tid('lane-picker'),
  pickLane: '[data-testid^="pick-lane-"]',
  pickLaneById: (id) => tid(`pick-lane-${id ?? 'none'}`),
  userMenu: tid('user-menu'),
  signOut: tid('sign-out'),
  filterAll: tid('filter-all'),
  filterClear: tid('filter-clear'),
};

export const TIMEOUT = { ui: 20_000, live: 60_000, notify: 20_000 };

/** @type {WebdriverIO.Browser} */
let browser;
/** The app session the helpers below act on. */
export function setBrowser(b) {
  browser = b;
}

let trayHost;
const tray = () => (trayHost ??= new Tray());

/** The steps of one scenario (one app session): `step(slug, name, fn)` is a numbered test whose
 *  screenshot goes to `shots`/`prefix`NN-slug.png after it, pass or fail (and its page source to
 *  logs/ when it failed); once a step fails the later ones are skipped (they share the session).
 *  `noShot()` says when there is no window to shoot (the app has quit). */
/** How long a step waits for its screenshot. */
const SHOT_PATIENCE = 5_000;

export function steps({ shots, prefix = '', noShot = () => false }) {
  let stepNo = 0;
  let broken = null;
  return function step(slug, name, fn, timeout = 120_000) {
    const no = `${prefix}${String(++stepNo).padStart(2, '0')}`;
    test(`${no} ${name}`, { timeout }, async (t) => {
      if (broken) {
        t.skip(`an earlier step failed (${broken})`);
        return;
      }
      try {
        await fn(t);
      } catch (e) {
        broken = `${no} ${name}`;
        if (browser) {
          try {
            writeFileSync(join(shots, 'logs', `${no}-${slug}.html`), await browser.getPageSource());
          } catch { /* the session may be gone */ }
        }
        throw e;
      } finally {
        // No window to shoot once the app has quit.
        if (browser && !noShot()) {
          // WebKit takes a screenshot with its next frame, and an idle page may render none
          // for a while: the step does not wait for it longer than SHOT_PATIENCE (the shot is
          // still written when the frame comes).
          const shot = browser.saveScreenshot(join(shots, `${no}-${slug}.png`));
          let timer;
          try {
            await Promise.race([
              shot,
              new Promise((_, reject) => {
                timer = setTimeout(() => reject(new Error(`no frame in ${SHOT_PATIENCE / 1000} s`)), SHOT_PATIENCE);
              }),
            ]);
          } catch (e) {
            shot.catch(() => {});
            console.error(`screenshot ${no} not taken (yet): ${e.message}`);
          } finally {
            clearTimeout(timer);
          }
        }
      }
    });
  };
}

/** Waits in the browser for `fn` to hold, with a deadline and a message. */
export function waitFor(fn, timeout, timeoutMsg) {
  return browser.waitUntil(fn, { timeout, interval: 100, timeoutMsg });
}

export async function text(selector) {
  const el = await browser.$(selector);
  return (await el.isExisting()) ? (await el.getText()).trim() : null;
}

/** The board as the UI shows it: lanes in order, each with its header count and card ids.
 *  Lanes may render only the cards in view: each lane is scrolled through to collect them all
 *  (and scrolled back). */
export async function uiBoard() {
  return browser.executeAsync((laneSel, cardSel, countSel, scrollerSel, done) => {
    const frame = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    // A lane renders the window of cards the core sent; after a scroll, the next window comes a
    // round trip later: wait (a bounded number of frames) until the lane says it has it.
    const settled = async (lane) => {
      for (let i = 0; i < 120; i++) {
        const list = lane.querySelector('ul[data-window-settled]');
        if (!list || list.getAttribute('data-window-settled') === 'true') return;
        await frame();
      }
    };
    (async () => {
      const out = [];
      for (const lane of document.querySelectorAll(laneSel)) {
        const raw = lane.getAttribute('data-lane-id');
        const count = lane.querySelector(countSel);
        const ids = new Set();
        const texts = {};
        const collect = () => lane.querySelectorAll(cardSel).forEach((c) => {
          const id = Number(c.getAttribute('data-ticket-id'));
          ids.add(id);
          texts[id] = (c.textContent || '').replace(/\s+/g, ' ').trim();
        });
        await settled(lane);
        collect();
        const scroller = lane.querySelector(scrollerSel);
        if (scroller && scroller.scrollHeight > scroller.clientHeight) {
          const before = scroller.scrollTop;
          const stepPx = Math.max(50, scroller.clientHeight / 2);
          for (let top = 0; top <= scroller.scrollHeight; top += stepPx) {
            scroller.scrollTop = top;
            scroller.dispatchEvent(new Event('scroll'));
            await frame();
            await settled(lane);
            collect();
          }
          scroller.scrollTop = before;
          scroller.dispatchEvent(new Event('scroll'));
        }
        out.push({
          laneId: raw === null || raw === '' || raw === 'none' ? null : Number(raw),
          count: count ? Number((count.textContent || '').replace(/[^0-9]/g, '')) : null,
          cards: [...ids],
          texts,
        });
      }
      return out;
    })().then(done, (e) => done({ error: String(e) }));
  }, SEL.lane, SEL.card, SEL.laneCount, SEL.laneScroller).then((r) => {
    if (r && r.error) throw new Error(`reading the board: ${r.error}`);
    return r;
  });
}

/** Where the UI shows ticket `id`: { laneId, text } or null. */
export async function uiCard(id) {
  for (const lane of await uiBoard()) {
    if (lane.cards.includes(id)) return { laneId: lane.laneId, text: lane.texts[id] ?? '' };
  }
  return null;
}

/** Differences between the UI's board and the server's (`snapshot`, GET /api/board as the
 *  signed-in user); [] when equal. The UI hides closed tickets by default ("View" menu, "Hide
 *  closed"; its lane counts count what it shows): they are left out of the comparison. */
export function boardDiff(ui, snapshot) {
  const diffs = [];
  snapshot = { ...snapshot, tickets: snapshot.tickets.filter((t) => t.status !== 'closed') };
  const wantLanes = [null, ...[...snapshot.lanes].sort((a, b) => a.position - b.position).map((l) => l.id)];
  const gotLanes = ui.map((l) => l.laneId);
  if (JSON.stringify(gotLanes) !== JSON.stringify(wantLanes)) {
    diffs.push(`lanes: UI ${JSON.stringify(gotLanes)} vs server ${JSON.stringify(wantLanes)}`);
  }
  const want = new Map(snapshot.tickets.map((t) => [t.id, t.laneId ?? null]));
  const got = new Map();
  for (const lane of ui) {
    for (const id of lane.cards) {
      if (got.has(id)) diffs.push(`ticket ${id} shown twice`);
      got.set(id, lane.laneId);
    }
    const n = snapshot.tickets.filter((t) => (t.laneId ?? null) === lane.laneId).length;
    if (lane.count !== null && lane.count !== n) {
      diffs.push(`lane ${lane.laneId} header count ${lane.count}, server has ${n}`);
    }
  }
  for (const [id, laneId] of want) {
    if (!got.has(id)) diffs.push(`ticket ${id} missing from the UI`);
    else if (got.get(id) !== laneId) diffs.push(`ticket ${id} in lane ${got.get(id)} in the UI, ${laneId} on the server`);
  }
  for (const id of got.keys()) {
    if (!want.has(id)) diffs.push(`ticket ${id} shown but not on the server's board`);
  }
  return diffs;
}

/** For failure messages only: what a shell command returns now (to tell a UI bug from a core
 *  bug), summarized by `show`. */
export async function shellCall(cmd, show, args = {}) {
  try {
    return await browser.executeAsync((name, args, done) => {
      const invoke = window.__TAURI_INTERNALS__?.invoke;
      if (!invoke) return done({ error: 'no __TAURI_INTERNALS__' });
      invoke(name, args).then((value) => done({ value }), (e) => done({ error: JSON.stringify(e) }));
    }, cmd, args).then((r) => (r.error ? `an error: ${r.error}` : show(r.value)));
  } catch (e) {
    return `(could not ask: ${e.message})`;
  }
}

export function coreBoardSummary() {
  // Every field of the query has a default: all tickets, closed ones included.
  return shellCall('board_view', (v) => `${v.lanes.length} lanes, ${v.ticketCount} tickets, seq ${v.seq}`, { query: {} });
}

/** Waits until the UI's board equals the server's board as `api` (signed in as the app's user)
 *  reads it. */
export async function waitBoardEqualsServer(api, timeout, why) {
  let last = [];
  await waitFor(async () => {
    const snapshot = await api.board();
    last = boardDiff(await uiBoard(), snapshot);
    return last.length === 0;
  }, timeout, `${why}: the UI's board never equalled the server's: ${last.slice(0, 8).join('; ')}`)
    .catch(async (e) => {
      throw new Error(`${why}: the UI's board differs from the server's: ${last.slice(0, 8).join('; ')}`
        + ` — the shell's board() has ${await coreBoardSummary()} (${e.message})`);
    });
}

/** Waits until the tray's status line (the menu's disabled entry after Open) matches `re`. */
/** The tray item as the tray host sees it now (null: not registered). */
export function trayItem() {
  return tray().item();
}

export async function waitTrayStatus(re, timeout, why) {
  let last = null;
  await until(async () => {
    last = await tray().item();
    return last?.menu.some((e) => !e.enabled && re.test(e.label));
  }, { timeout, interval: 200, message: `${why}: a tray status line matching ${re}` }).catch((e) => {
    throw new Error(`${e.message}; the tray shows ${JSON.stringify(last)}`);
  });
  return last;
}

/** The pill's state (data-state) and label, e.g. "live Live" or "reconnecting Reconnecting in 3 s".
 *  The whole label is read from the DOM: a narrow top bar shows a shorter one in its place. */
export async function pill() {
  const el = await browser.$(SEL.pill);
  if (!(await el.isExisting())) return { state: null, label: '' };
  // A property, not a script: scripts wait for a frame, which an app in the background is slow
  // to give.
  const long = await el.$('.long');
  const label = String((await long.isExisting()) ? await long.getProperty('textContent') : await el.getText());
  return { state: await el.getAttribute('data-state'), label: label.replace(/\s+/g, ' ').trim() };
}

export async function waitPill(state, labelRe, timeout) {
  let last = {};
  await waitFor(async () => {
    last = await pill();
    return last.state === state && labelRe.test(last.label);
  }, timeout, `the pill never showed ${state} (${labelRe})`).catch(async (e) => {
    throw new Error(`${e.message}; it shows ${JSON.stringify(last)}; the shell's connection_state() is `
      + `${await shellCall('connection_state', (s) => JSON.stringify(s))}`);
  });
}

/** Fills the sign-in form (`serverUrl`, `email`, the demo password), submits it, and waits
 * for the board and the Live pill. */
export async function signInThroughUi(serverUrl, email) {
  const server = await browser.$(SEL.loginServer);
  await server.clearValue();
  await server.setValue(serverUrl);
  const emailField = await browser.$(SEL.loginEmail);
  await emailField.clearValue();
  await emailField.setValue(email);
  await (await browser.$(SEL.loginPassword)).setValue(DEMO_PASSWORD);
  await (await browser.$(SEL.loginSubmit)).click();
  await waitFor(async () => (await browser.$(SEL.board)).isDisplayed(), TIMEOUT.ui,
    'the board never showed after signing in').catch(async (e) => {
    throw new Error(`${e.message} (sign-in error shown: ${await text(SEL.loginError)})`);
  });
  await waitPill('live', /^Live$/, TIMEOUT.live);
}
