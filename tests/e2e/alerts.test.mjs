// Urgent tickets get handled, through two real apps at once: agent1's and agent2's, each its own
// Deskbell process (its own profile, tauri-driver and WebKit) on one private D-Bus session, one
// notification capture and one demo server. Run by tests/e2e/run.sh (which starts the second
// driver when this file is among E2E_TESTS); screenshots go to ci-artifacts/e2e/alerts-NN-*.png.
//
// What it proves (issue 18): an urgent ticket raises a notification in both apps with the actions
// Open (also the body click: `default`), Acknowledge and Assign to me, an icon and a sound request;
// Acknowledge invoked on one app's notification acknowledges the ticket on the server, and the
// other app withdraws its notification (CloseNotification) and marks the card "Acknowledged by …";
// the body click opens the ticket; Assign to me assigns it. Every wait is a condition with a
// deadline.

import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

import {
  ADMIN, AGENT, AGENT2, Api, Notifications, Tray, env, keychainClear, openApp, until,
} from './support.mjs';
import * as ui from './ui.mjs';
import { SEL, TIMEOUT, setBrowser, tid, waitFor } from './ui.mjs';

const serverUrl = env('E2E_SERVER_URL');
const shots = env('E2E_SHOTS');
mkdirSync(join(shots, 'logs'), { recursive: true });

const notifications = new Notifications();
const admin = new Api(serverUrl);
const apis = { [AGENT]: new Api(serverUrl), [AGENT2]: new Api(serverUrl) };
/** email → { browser, user } */
const apps = {};
const step = ui.steps({ shots, prefix: 'alerts-' });
const state = {};

/** Makes `email`'s app the one the ui.mjs helpers (and the step's screenshot) act on. */
function use(email) {
  setBrowser(apps[email].browser);
  return apps[email].browser;
}

/** The notifications captured for `title` since `from`. */
function shownFor(title, from = 0) {
  return notifications.calls().slice(from).filter((c) => c.summary.includes(title) || c.body.includes(title));
}

function actionsOf(call) {
  const pairs = {};
  for (let i = 0; i + 1 < call.actions.length; i += 2) pairs[call.actions[i]] = call.actions[i + 1];
  return pairs;
}

/** Waits until both apps showed a notification for `title` (each app shows one per urgent
 *  ticket; reminders come minutes later); answers the two calls. */
async function waitBothNotified(title, from) {
  return until(() => {
    const shown = shownFor(title, from);
    return shown.length >= 2 ? shown.slice(0, 2) : null;
  }, { timeout: TIMEOUT.notify, message: `a notification for "${title}" in both apps` }).catch((e) => {
    throw new Error(`${e.message}; captured: ${JSON.stringify(notifications.calls().slice(from))}`);
  });
}

async function urgentTicket(title) {
  return admin.createTicket({
    title,
    requester: { name: 'Dana Requester', contact: 'dana@example.test' },
    priority: 'urgent',
    message: 'The whole floor is offline.',
  });
}

describe('urgent tickets handled from notifications, two apps', { concurrency: false }, () => {
  before(async () => {
    await admin.login(ADMIN);
    for (const email of [AGENT, AGENT2]) await apis[email].login(email);
    const members = (await admin.request('GET', '/api/members')).body;
    state.names = Object.fromEntries(members.map((m) => [m.id, m.name]));
    apps[AGENT] = { browser: await openApp() };
    apps[AGENT2] = { browser: await openApp(env('E2E_APP'), { driverPort: env('E2E_DRIVER2_PORT') }) };
    // Side by side, neither covering the other (run.sh's screen is wide enough): WebKit renders
    // nothing for a window that is fully covered, and WebDriver then waits for a frame.
    await apps[AGENT].browser.setWindowRect(0, 0, 1200, 800);
    await apps[AGENT2].browser.setWindowRect(1300, 0, 1200, 800);
    for (const email of [AGENT, AGENT2]) apps[email].user = apis[email].user;
  });

  after(async () => {
    for (const app of Object.values(apps)) await app.browser?.deleteSession().catch(() => {});
    // Closing a window keeps Deskbell running in the tray: quit both from their tray menus, so
    // that the next scenario's tray is its own app's alone.
    const tray = new Tray();
    const running = async () => (await (await fetch(`${env('E2E_NOTIFY_URL')}/tray`)).json())
      .filter((i) => i.menu.some((e) => e.label === 'Open Deskbell')).length;
    try {
      for (let n = await running(); n > 0; n = await running()) {
        await tray.click(/^Quit Deskbell$/);
        await until(async () => (await running()) < n, { timeout: TIMEOUT.ui, message: 'an app of this scenario quitting' });
      }
    } finally {
      // The next scenario starts from the sign-in form with an empty keychain, whatever happened.
      await keychainClear();
    }
  });

  step('both-signed-in', 'agent1 and agent2 sign in, each in their own app, both Live', async () => {
    for (const email of [AGENT, AGENT2]) {
      use(email);
      await waitFor(async () => (await apps[email].browser.$(SEL.loginEmail)).isDisplayed(), TIMEOUT.ui,
        `${email}: the sign-in form never showed`);
      await ui.signInThroughUi(serverUrl, email);
    }
  });

  step('urgent-in-both', 'an urgent ticket notifies both apps, with actions, icon and sound', async () => {
    const from = notifications.calls().length;
    const ticket = await urgentTicket(`E2E server room flooded ${Date.now()}`);
    state.ticket = ticket;
    const calls = await waitBothNotified(ticket.title, from);
    assert.equal(calls.length, 2, 'one notification per app');
    for (const call of calls) {
      assert.equal(call.appName, 'Deskbell');
      assert.equal(call.urgency, 2, 'urgency hint: critical');
      const actions = actionsOf(call);
      assert.ok('default' in actions, `the body click is advertised (actions ${JSON.stringify(call.actions)})`);
      assert.ok('acknowledge' in actions, `an Acknowledge action (actions ${JSON.stringify(call.actions)})`);
      assert.ok('assign' in actions, `an Assign to me action (actions ${JSON.stringify(call.actions)})`);
      assert.ok('open' in actions, `an Open action (actions ${JSON.stringify(call.actions)})`);
      assert.ok(call.hints['sound-file'] || call.hints['sound-name'],
        `a sound is asked for (hints ${JSON.stringify(call.hints)})`);
      assert.ok(call.appIcon || call.hints['image-path'] || call.hints['image-data'],
        `an icon (appIcon ${JSON.stringify(call.appIcon)}, hints ${JSON.stringify(Object.keys(call.hints))})`);
      assert.ok(`${call.summary} ${call.body}`.includes(`#${ticket.id}`), `the ticket number (${call.summary} / ${call.body})`);
      assert.ok(call.body.includes('Dana Requester'), `the requester (${call.body})`);
    }
    state.calls = calls;
    // Both boards mark the card as waiting for someone.
    for (const email of [AGENT, AGENT2]) {
      use(email);
      await waitFor(async () => (await apps[email].browser.$(`${SEL.cardById(ticket.id)} ${tid('card-unacknowledged')}`)).isExisting(),
        TIMEOUT.ui, `${email}: the card never showed it is unacknowledged`);
    }
  });

  step('acknowledged-from-notification', 'Acknowledge on one app\'s notification acknowledges on the server; the other app withdraws its notification and marks the card', async () => {
    const [acted, other] = state.calls;
    const closesBefore = notifications.closes().length;
    await notifications.invoke(acted.id, 'acknowledge');
    const ticket = await until(async () => {
      const t = await admin.ticket(state.ticket.id);
      return t.acknowledgedBy ? t : null;
    }, { timeout: TIMEOUT.ui, message: 'the ticket acknowledged on the server' });
    const actor = [AGENT, AGENT2].find((e) => apps[e].user.id === ticket.acknowledgedBy);
    assert.ok(actor, `acknowledged by one of the two agents (acknowledgedBy ${ticket.acknowledgedBy})`);
    const otherEmail = actor === AGENT ? AGENT2 : AGENT;
    // The other app closes its notification for the ticket (by id: the close may come over a
    // bus connection of its own, so its sender says nothing).
    await until(() => notifications.closes().slice(closesBefore).some((c) => c.closed === other.id), {
      timeout: TIMEOUT.notify,
      message: `${otherEmail}'s app closing notification ${other.id}`,
    }).catch((e) => {
      throw new Error(`${e.message}; closes: ${JSON.stringify(notifications.closes().slice(closesBefore))}`);
    });
    // …and marks the card with who acknowledged it.
    const name = state.names[ticket.acknowledgedBy];
    use(otherEmail);
    const marked = `${SEL.cardById(ticket.id)} ${tid('card-acknowledged')}`;
    await waitFor(async () => {
      const el = await apps[otherEmail].browser.$(marked);
      return (await el.isExisting()) && (await el.getText()).includes(`Acknowledged by ${name}`);
    }, TIMEOUT.ui, `${otherEmail}: the card never said "Acknowledged by ${name}"`);
    assert.equal(await apps[otherEmail].browser.$(`${SEL.cardById(ticket.id)} ${tid('card-unacknowledged')}`).isExisting(),
      false, 'the unacknowledged marker is gone');
    // No new notification for that ticket after the acknowledgement in either app.
    const after = shownFor(state.ticket.title).filter((c) => c.id !== acted.id && c.id !== other.id);
    assert.deepEqual(after, [], 'no further notification once acknowledged');
  });

  // notify-rust may send each notification over a bus connection of its own, so a call's sender
  // does not say which app showed it: the steps below find the app by its effect.
  step('body-click-opens', 'a click on the notification body (default) opens that ticket', async () => {
    const from = notifications.calls().length;
    const ticket = await urgentTicket(`E2E badge readers down ${Date.now()}`);
    const calls = await waitBothNotified(ticket.title, from);
    await notifications.invoke(calls[0].id, 'default');
    const drawerOn = async (email) => {
      const drawer = await apps[email].browser.$(SEL.drawer);
      return (await drawer.isExisting()) && (await drawer.getAttribute('data-ticket-id')) === String(ticket.id);
    };
    const opened = await until(async () => {
      for (const email of [AGENT, AGENT2]) if (await drawerOn(email)) return email;
      return null;
    }, { timeout: TIMEOUT.ui, message: `a drawer opened on ticket ${ticket.id}` });
    const other = opened === AGENT ? AGENT2 : AGENT;
    assert.equal(await drawerOn(other), false, 'only the app whose notification was clicked opens it');
    use(opened);
    state.second = { ticket, calls, opened };
  });

  step('assign-to-me', 'Assign to me on the notification assigns the ticket to that agent', async () => {
    const { ticket, calls, opened } = state.second;
    // The other app's notification: the one not clicked.
    await notifications.invoke(calls[1].id, 'assign');
    const assigned = await until(async () => {
      const t = await admin.ticket(ticket.id);
      return t.assigneeId ? t : null;
    }, { timeout: TIMEOUT.ui, message: 'the ticket assigned on the server' });
    const email = [AGENT, AGENT2].find((e) => apps[e].user.id === assigned.assigneeId);
    assert.ok(email, `assigned to one of the two agents (assigneeId ${assigned.assigneeId})`);
    assert.notEqual(email, opened, 'assigned by the app whose notification it was, not the one that opened it');
    assert.equal(assigned.acknowledgedBy, apps[email].user.id, 'taking it counts as acknowledging it');
    use(email);
  });

  // Issue 19: who wrote what, handing a ticket to a colleague, and lanes changed by an admin,
  // seen live in the agents' apps.
  step('comment-authors', "a colleague's comment shows their name and role in the other app; the requester's message theirs", async () => {
    const ticket = await admin.createTicket({
      title: `E2E who wrote this ${Date.now()}`,
      requester: { name: 'Rosa Requester', contact: 'rosa@example.test' },
      priority: 'normal',
      message: 'My screen went dark.',
    });
    state.third = ticket;
    const b = use(AGENT);
    // A drawer left open by an earlier step would cover the board.
    const open = await b.$(SEL.drawer);
    if (await open.isDisplayed()) {
      await (await b.$(SEL.drawerClose)).click();
      await waitFor(async () => !(await open.isDisplayed()), TIMEOUT.ui, 'the earlier drawer closed');
    }
    await waitFor(async () => (await b.$(SEL.cardById(ticket.id))).isExisting(), TIMEOUT.ui, 'the new card in agent1\'s app');
    const card = await b.$(SEL.cardById(ticket.id));
    await card.scrollIntoView({ block: 'center', inline: 'center' });
    await card.click();
    await waitFor(async () => (await (await b.$(SEL.drawer)).getAttribute('data-ticket-id')) === String(ticket.id),
      TIMEOUT.ui, 'the drawer on the ticket');
    // agent2 answers (from its own session); agent1's open drawer shows it, named.
    await apis[AGENT2].request('POST', `/api/tickets/${ticket.id}/comments`, { body: { body: 'Try another cable, please.' } });
    const colleague = state.names[apps[AGENT2].user.id];
    // Element reads, not scripts: scripts wait for a frame, which an app in the background is
    // slow to give.
    const authors = async () => {
      const out = [];
      for (const c of await b.$$(tid('comment'))) {
        const badge = await c.$(tid('comment-badge'));
        out.push([
          (await (await c.$(tid('comment-author'))).getText()).trim(),
          (await badge.isExisting()) ? (await badge.getText()).trim() : '',
        ]);
      }
      return out;
    };
    await waitFor(async () => (await authors()).length === 2, TIMEOUT.ui, 'two comments in agent1\'s drawer');
    assert.deepEqual(await authors(), [['Rosa Requester', 'Requester'], [colleague, 'Agent']]);
  });

  step('assign-to-colleague', 'an agent hands the open ticket to a colleague; it moves to their board', async () => {
    const ticket = state.third;
    const b = use(AGENT);
    const colleague = apps[AGENT2].user.id;
    const select = await b.$(tid('drawer-assignee'));
    await select.selectByAttribute('value', String(colleague));
    await until(async () => (await admin.ticket(ticket.id)).assigneeId === colleague,
      { timeout: TIMEOUT.ui, message: 'assigned to agent2 on the server' });
    use(AGENT2);
    await waitFor(async () => (await apps[AGENT2].browser.$(SEL.cardById(ticket.id))).isExisting(), TIMEOUT.ui,
      'the card on agent2\'s board');
    use(AGENT);
    await (await b.$(SEL.drawerClose)).click().catch(() => {});
  });

  step('lanes-live', "an admin's new lane and its new place show on the agents' boards at once", async () => {
    const name = `E2E lane ${Date.now()}`;
    const created = (await admin.request('POST', '/api/lanes', { body: { name, color: '#2b8a3e' } })).body;
    const laneIds = async (email) => {
      const ids = [];
      for (const lane of await apps[email].browser.$$(SEL.lane)) ids.push(await lane.getAttribute('data-lane-id'));
      return ids;
    };
    for (const email of [AGENT, AGENT2]) {
      use(email);
      await waitFor(async () => (await laneIds(email)).includes(String(created.id)), TIMEOUT.ui,
        `${email}: the new lane shown`);
    }
    // Moved first, as the app's team settings reorder: every lane gets its new index.
    const byPosition = (a, b) => a.position - b.position || a.id - b.id;
    const before = (await admin.request('GET', '/api/lanes')).body.sort(byPosition);
    const wanted = [created, ...before.filter((l) => l.id !== created.id)];
    for (const [i, lane] of wanted.entries()) {
      const current = before.find((l) => l.id === lane.id);
      if (current.position !== i) await admin.request('PATCH', `/api/lanes/${lane.id}`, { body: { position: i } });
    }
    const lanes = (await admin.request('GET', '/api/lanes')).body;
    const first = [...lanes].sort(byPosition)[0].id;
    for (const email of [AGENT, AGENT2]) {
      use(email);
      await waitFor(async () => (await laneIds(email)).filter((id) => id !== 'none')[0] === String(first), TIMEOUT.ui,
        `${email}: the lanes in the server's order`);
    }
    assert.equal(first, created.id, 'the moved lane is first');
    await admin.request('DELETE', `/api/lanes/${created.id}`);
    for (const email of [AGENT, AGENT2]) {
      await waitFor(async () => !(await laneIds(email)).includes(String(created.id)), TIMEOUT.ui,
        `${email}: the deleted lane gone`);
    }
  });
});
