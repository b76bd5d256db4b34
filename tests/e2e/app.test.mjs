// The Deskbell desktop app end to end, through WebDriver (tauri-driver + WebKitWebDriver) under
// Xvfb, against a demo server process, a capturing notification server and gnome-keyring, all
// on a private D-Bus session. Run it with `bash tests/e2e/run.sh` (it sets the E2E_* variables).
//
// The steps run in order and share one app session; once a step fails, the later ones are
// skipped (they would only fail for the same reason). Every step leaves a screenshot in
// ci-artifacts/e2e/NN-step.png (and, when it failed, its page source in logs/NN-step.html).
// Every wait is a condition with a deadline; none is a bare sleep.

import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

import {
  ADMIN, AGENT, AGENT2, Api, DemoServer, Notifications, env, keychainUser, keychainUsers, Tray,
  openApp, secretLookup, until,
} from './support.mjs';
import * as ui from './ui.mjs';
import {
  SEL, TIMEOUT, boardDiff, coreBoardSummary, setBrowser, shellCall, text, tid, trayItem, uiBoard, uiCard,
  waitFor, waitPill,
} from './ui.mjs';

const serverUrl = env('E2E_SERVER_URL');
const shots = env('E2E_SHOTS');
mkdirSync(join(shots, 'logs'), { recursive: true });

/** @type {WebdriverIO.Browser} */
let browser;
const server = new DemoServer();
const notifications = new Notifications();
const tray = new Tray();
const admin = new Api(serverUrl);
const agent = new Api(serverUrl);

// Shared between the steps.
const state = {};

const step = ui.steps({ shots, noShot: () => state.appQuit });
/** Waits until the UI's board equals the server's board for agent1. */
const waitBoardEqualsServer = (timeout, why) => ui.waitBoardEqualsServer(agent, timeout, why);
const waitTrayStatus = ui.waitTrayStatus;
/** Signs in through the UI to the demo server. */
const signInThroughUi = (email) => ui.signInThroughUi(serverUrl, email);

/** A notification shows a ticket as "#12 Title". */
const showsTicket = (call, ticket) => call.summary === `#${ticket.id} ${ticket.title}`;

/** The alerts raised for `ticket`, not counting the reminders every 2 min while it waits. */
function notificationsFor(ticket) {
  return notifications.calls()
    .filter((c) => showsTicket(c, ticket) && !c.body.startsWith('Still unacknowledged'));
}

describe('Deskbell desktop app, end to end', { concurrency: false }, () => {
  before(async () => {
    browser = await openApp();
    setBrowser(browser);
    await admin.login(ADMIN);
    await agent.login(AGENT);
  });

  after(async () => {
    if (browser) await browser.deleteSession().catch(() => {});
  });

  step('sign-in-form', 'the app opens on the sign-in form', async () => {
    await waitFor(async () => (await browser.$(SEL.loginEmail)).isDisplayed(), TIMEOUT.ui,
      'the sign-in form never showed');
    assert.equal(await secretLookup(keychainUser(AGENT, serverUrl)), null,
      'a fresh HOME has no session in the keychain');
  });

  step('signed-in-live', 'signing in through the UI shows the board, Live', async () => {
    await signInThroughUi(AGENT);
  });

  step('tray-live', 'the tray icon is on the tray host: Live, with its whole menu', async () => {
    const item = await waitTrayStatus(/^Live\b/, TIMEOUT.ui, 'signed in');
    const labels = item.menu.filter((e) => e.kind !== 'separator').map((e) => e.label);
    assert.deepEqual(labels.filter((l) => !/^Live\b/.test(l)),
      ['Open Deskbell', 'Do not disturb', 'Reconnect now', 'Sign out', 'Quit Deskbell']);
    const entry = (label) => item.menu.find((e) => e.label === label);
    assert.equal(entry('Do not disturb').checked, false, 'Do not disturb starts off');
    assert.equal(entry('Reconnect now').enabled, false, 'nothing to reconnect while Live');
    assert.equal(entry('Sign out').enabled, true, 'Sign out offered with a session');
    assert.equal(item.title, 'Deskbell', 'the tray names the app as it is written');
  });

  step('board-equals-server', 'the board has the lanes and cards of the server', async () => {
    const filterAll = await browser.$(SEL.filterAll);
    if (await filterAll.isExisting()) await filterAll.click();
    const snapshot = await agent.board();
    assert.ok(snapshot.lanes.length >= 4, 'the demo has lanes');
    assert.ok(snapshot.tickets.length > 0, 'the demo has tickets agent1 sees');
    await waitBoardEqualsServer(TIMEOUT.ui, 'after sign-in');
    const laneHeaders = await browser.execute(
      (sel) => [...document.querySelectorAll(sel)].map((l) => l.textContent || ''), SEL.lane);
    for (const lane of snapshot.lanes) {
      assert.ok(laneHeaders.some((h) => h.includes(lane.name)), `lane "${lane.name}" is shown`);
    }
    // Closed tickets are hidden by default (the UI's "View" menu).
    for (const t of snapshot.tickets.filter((x) => x.status !== 'closed').slice(0, 5)) {
      const card = await uiCard(t.id);
      assert.ok(card.text.includes(t.title), `card ${t.id} shows its title (${card.text})`);
      assert.ok(card.text.includes(t.requester.name), `card ${t.id} shows its requester`);
    }
  });

  step('fits-1024', 'at 1024×700 the top bar is one row and the last lane can be scrolled into view', async () => {
    await browser.setWindowSize(1024, 700);
    await waitFor(async () => (await browser.execute(() => window.innerWidth)) <= 1024, TIMEOUT.ui,
      'the window never became 1024 px wide');
    const bar = await browser.execute(() => {
      const top = document.querySelector('.topbar');
      const r = top?.getBoundingClientRect();
      // Every part's middle inside the bar's one row: a wrapped part would sit below it.
      const below = [...(top?.children ?? [])].filter((c) => {
        const b = c.getBoundingClientRect();
        return b.height > 0 && (b.top + b.bottom) / 2 > (r?.bottom ?? 0);
      }).length;
      return { height: r?.height ?? 0, width: r?.width ?? 0, below, scrollWidth: top?.scrollWidth ?? 0 };
    });
    assert.ok(bar.height > 0 && bar.height <= 60, `one row high (${JSON.stringify(bar)})`);
    assert.equal(bar.below, 0, `no part wrapped below (${JSON.stringify(bar)})`);
    assert.ok(bar.scrollWidth <= bar.width + 1, `nothing overflows (${JSON.stringify(bar)})`);
    const last = await browser.execute((sel) => {
      const lanes = [...document.querySelectorAll(sel)];
      const lane = lanes[lanes.length - 1];
      lane?.scrollIntoView({ inline: 'end', block: 'nearest' });
      const r = lane?.getBoundingClientRect();
      return r ? { left: r.left, right: r.right, width: window.innerWidth } : null;
    }, SEL.lane);
    assert.ok(last && last.right <= last.width + 1 && last.left >= 0, `the last lane in view (${JSON.stringify(last)})`);
    await browser.saveScreenshot(join(shots, 'board-1024x700.png'));
    await browser.setWindowSize(1200, 800);
  });

  step('keychain-entry', 'the refresh token is in the keychain (gnome-keyring)', async () => {
    const user = keychainUser(AGENT, serverUrl);
    const secret = await until(() => secretLookup(user), {
      timeout: 10_000,
      message: `a keychain entry service=deskbell username=${user}`,
    }).catch(async (e) => {
      throw new Error(`${e.message}; deskbell entries: ${JSON.stringify(await keychainUsers())}`);
    });
    assert.ok(secret.trim().length > 10, 'a refresh token is stored');
    state.keychainUser = user;
  });

  step('rest-ticket-appears', 'a ticket created over REST by the admin appears without a reload', async () => {
    // A reload would lose this marker.
    await browser.execute(() => { window.__deskbellE2E = 'no-reload'; });
    const title = `E2E printer on fire ${Date.now()}`;
    const ticket = await admin.createTicket({
      title,
      requester: { name: 'Erin End-to-End', contact: 'erin@example.test' },
      priority: 'normal',
    });
    state.ticket = ticket;
    let card = null;
    await waitFor(async () => (card = await uiCard(ticket.id)) !== null, TIMEOUT.ui,
      `ticket ${ticket.id} never appeared on the board`);
    assert.ok(card.text.includes(title), `the card shows the title (${card.text})`);
    assert.equal(card.laneId, null, 'a ticket without a lane is in "No lane"');
    assert.equal(await browser.execute(() => window.__deskbellE2E), 'no-reload', 'the page was not reloaded');
  });

  step('urgent-notification', 'an escalation to urgent by the admin raises a critical notification', async () => {
    const before = notifications.calls().length;
    const escalated = await admin.patchTicket(state.ticket, { priority: 'urgent' });
    assert.equal(escalated.priority, 'urgent');
    state.ticket = escalated;
    const shown = await until(
      () => notifications.calls().slice(before).find((c) => showsTicket(c, escalated)),
      { timeout: TIMEOUT.notify, message: `a notification titled "#${escalated.id} ${escalated.title}"` },
    ).catch((e) => {
      throw new Error(`${e.message}; captured: ${JSON.stringify(notifications.calls().slice(before))}`);
    });
    assert.equal(shown.urgency, 2, 'urgency hint: critical');
    assert.equal(shown.appName, 'Deskbell');
    const pairs = [];
    for (let i = 0; i + 1 < shown.actions.length; i += 2) pairs.push([shown.actions[i], shown.actions[i + 1]]);
    const open = pairs.find(([key]) => key === 'open');
    assert.ok(open, `an "Open" action (actions: ${JSON.stringify(shown.actions)})`);
    assert.equal(open[1], 'Open');
    assert.ok(pairs.some(([key]) => key === 'default'), 'the body click is advertised (default)');
    state.notification = shown;
    state.openAction = open[0];
    // The card shows the new priority too.
    await waitFor(async () => /urgent/i.test((await uiCard(escalated.id))?.text ?? ''),
      TIMEOUT.ui, 'the card never showed the urgent priority');
    // The tray counts the unread urgent tickets as the UI does: in its status line and its label.
    await waitFor(async () => (await text(tid('urgent-count'))) !== null, TIMEOUT.ui,
      'the UI never showed an urgent count');
    // Read together until they agree: another urgent ticket may be counted meanwhile (one an
    // earlier scenario left unacknowledged is alerted at sign-in), and each follows on its own.
    let count = 0;
    let item = null;
    await waitFor(async () => {
      count = Number(((await text(tid('urgent-count'))) ?? '').replace(/[^0-9]/g, '') || 0);
      item = await trayItem();
      return count >= 1 && item?.label === String(count)
        && item.menu.some((e) => !e.enabled && e.label === `Live · ${count} urgent`);
    }, TIMEOUT.ui, 'the tray never showed the UI\'s urgent count').catch(async (e) => {
      const core = await shellCall('urgent_count', (n) => JSON.stringify(n));
      const inbox = await shellCall('inbox', (x) => JSON.stringify(x));
      throw new Error(`${e.message} (UI ${count}; core ${core}; tray label ${item?.label}; inbox ${inbox})`);
    });
    assert.ok(count >= 1, `the UI counts the escalated ticket as unread urgent (shows ${count})`);
  });

  step('tray-do-not-disturb', "the tray's Do not disturb turns the setting on and off", async () => {
    const dnd = async () => (await shellCall('settings', (s) => JSON.stringify(s.alerts.doNotDisturb)));
    await tray.click(/^Do not disturb$/);
    await until(async () => (await tray.entry(/^Do not disturb$/))?.checked === true && (await dnd()) === 'true',
      { timeout: TIMEOUT.ui, message: 'Do not disturb checked in the tray and on in the settings' });
    await tray.click(/^Do not disturb$/);
    await until(async () => (await tray.entry(/^Do not disturb$/))?.checked === false && (await dnd()) === 'false',
      { timeout: TIMEOUT.ui, message: 'Do not disturb unchecked in the tray and off in the settings' });
  });

  step('notification-opens-drawer', 'the notification\'s "Open ticket" action opens that ticket\'s drawer', async () => {
    const drawerFor = `${SEL.drawer}[data-ticket-id="${state.ticket.id}"]`;
    assert.equal(await (await browser.$(drawerFor)).isExisting(), false, 'no drawer open yet');
    // The app subscribes to ActionInvoked after Notify returns: emit until it has acted (a
    // desktop emits once, but much later than a test could).
    await waitFor(async () => {
      if (await (await browser.$(drawerFor)).isDisplayed()) return true;
      await notifications.invoke(state.notification.id, state.openAction);
      return (await browser.$(drawerFor)).isDisplayed();
    }, TIMEOUT.notify, `the drawer of ticket ${state.ticket.id} never opened`);
    const title = await (await browser.$(`${drawerFor} ${SEL.drawerTitle}`)).getText();
    assert.equal(title.trim(), state.ticket.title, 'the drawer shows the ticket');
    assert.equal(notificationsFor(state.ticket).length, 1, 'one notification per escalation');
  });

  step('attachment-saved', 'an attachment the admin uploads shows in the open drawer; Save puts it in ~/Downloads', async () => {
    const bytes = Buffer.from(`Deskbell e2e attachment ${Date.now()}\n`.repeat(50));
    const name = `e2e-log-${Date.now()}.txt`;
    await admin.uploadAttachment(state.ticket.id, name, bytes, 'text/plain');
    const drawerFor = `${SEL.drawer}[data-ticket-id="${state.ticket.id}"]`;
    let item;
    await waitFor(async () => {
      for (const el of await browser.$$(`${drawerFor} ${tid('attachment')}`)) {
        if ((await el.getText()).includes(name)) {
          item = el;
          return true;
        }
      }
      return false;
    }, TIMEOUT.ui, `the attachment ${name} never showed in the open drawer (live, without a reload)`);
    await (await item.$(tid('attachment-save'))).click();
    const saved = join(homedir(), 'Downloads', name);
    await until(() => existsSync(saved) && readFileSync(saved).equals(bytes), {
      timeout: TIMEOUT.ui, message: `${saved} with the uploaded bytes`,
    });
    await waitFor(async () => {
      for (const toast of await browser.$$(tid('toast'))) {
        if ((await toast.getText()).includes(saved)) return true;
      }
      return false;
    }, TIMEOUT.ui, 'no message said where the file was saved');
  });

  step('new-ticket-form', 'a ticket made with the New ticket form is on the server and opens in the drawer', async () => {
    const drawer = await browser.$(SEL.drawer);
    if (await drawer.isDisplayed()) {
      await (await browser.$(SEL.drawerClose)).click();
      await waitFor(async () => !(await drawer.isDisplayed()), TIMEOUT.ui, 'the drawer never closed');
    }
    const title = `E2E made in the app ${Date.now()}`;
    await (await browser.$(tid('new-ticket'))).click();
    await waitFor(async () => (await browser.$(tid('new-ticket-title'))).isDisplayed(), TIMEOUT.ui,
      'the New ticket form never showed');
    await (await browser.$(tid('new-ticket-title'))).setValue(title);
    await (await browser.$(tid('new-ticket-requester'))).setValue('Walk-in Wanda');
    await (await browser.$(tid('new-ticket-priority'))).selectByAttribute('value', 'high');
    await (await browser.$(tid('new-ticket-message'))).setValue('Came to the desk in person.');
    await (await browser.$(tid('new-ticket-submit'))).click();
    const created = await until(async () => (await agent.board()).tickets.find((t) => t.title === title), {
      timeout: TIMEOUT.ui, message: `a ticket titled "${title}" on the server`,
    });
    assert.equal(created.priority, 'high');
    assert.equal(created.requester.name, 'Walk-in Wanda');
    assert.equal(created.lastMessage, 'Came to the desk in person.');
    assert.equal(created.creatorId, agent.user.id, 'created as the signed-in agent');
    await waitFor(async () => (await browser.$(`${SEL.drawer}[data-ticket-id="${created.id}"]`)).isDisplayed(),
      TIMEOUT.ui, 'the new ticket\'s drawer never opened');
  });

  step('keyboard-move', 'moving a card with the keyboard moves it on the server', async () => {
    // Close the drawer the previous step opened.
    const drawer = await browser.$(SEL.drawer);
    if (await drawer.isDisplayed()) {
      await (await browser.$(SEL.drawerClose)).click();
      await waitFor(async () => !(await drawer.isDisplayed()), TIMEOUT.ui, 'the drawer never closed');
    }
    const snapshot = await agent.board();
    const lanes = [...snapshot.lanes].sort((a, b) => a.position - b.position);
    const ticket = await agent.ticket(state.ticket.id);
    const target = lanes[0];
    assert.notEqual(ticket.laneId, target.id, 'the ticket starts elsewhere');
    await moveCardWithKeyboard(ticket, target);
    const moved = await until(async () => {
      const t = await agent.ticket(ticket.id);
      return t.laneId === target.id ? t : null;
    }, { timeout: TIMEOUT.ui, message: `ticket ${ticket.id} in lane ${target.id} on the server` });
    assert.ok(moved.version > ticket.version, 'the move is a new version');
    await waitFor(async () => (await uiBoard()).find((l) => l.laneId === target.id)?.cards.includes(ticket.id),
      TIMEOUT.ui, 'the card is not in the target lane in the UI');
    state.ticket = moved;
  });

  step('server-killed-reconnecting', 'killing the server (SIGKILL) turns the pill to Reconnecting', async () => {
    // The ticket stays open through the outage: the next step checks that its thread recovers.
    await (await browser.$(SEL.cardById(state.ticket.id))).click();
    await waitFor(async () => (await (await browser.$(SEL.drawer)).getAttribute('data-ticket-id')) === String(state.ticket.id),
      TIMEOUT.ui, 'the drawer on the ticket');
    await waitFor(async () => (await browser.$(tid('comments')).isExisting())
      && !(await (await browser.$(SEL.drawer)).getText()).includes('Loading comments'), TIMEOUT.ui, 'its comments loaded');
    state.commentsBefore = (await browser.$$(tid('comment'))).length;
    await server.kill();
    await waitPill('reconnecting', /^Reconnecting/, TIMEOUT.live);
    // "Retry now" is offered while reconnecting, in the window and in the tray.
    assert.ok(await (await browser.$(tid('retry-now'))).isDisplayed(), 'a Retry now button');
    const item = await waitTrayStatus(/^(Reconnecting|Connecting)/, TIMEOUT.live, 'with the server down');
    assert.equal(item.menu.find((e) => e.label === 'Reconnect now')?.enabled, true, 'Reconnect now offered');
  });

  step('server-back-live', 'restarted on the same port and data, the app is Live again with the whole board', async () => {
    await server.restart();
    // Changes made while the app is (most likely) still waiting to reconnect: it must catch up
    // by replay (or a reset), not only show what it had.
    await admin.login(ADMIN);
    await agent.login(AGENT);
    const missed = `Written while the app was offline ${Date.now()}`;
    await admin.request('POST', `/api/tickets/${state.ticket.id}/comments`, { body: { body: missed } });
    const during = await admin.createTicket({
      title: `E2E created while the app reconnects ${Date.now()}`,
      requester: { name: 'Rita Replay' },
      priority: 'high',
    });
    const lanes = [...(await admin.board()).lanes].sort((a, b) => a.position - b.position);
    await admin.moveTicket(await admin.ticket(state.ticket.id), lanes[1].id);
    // The tray's Reconnect now is what a user in a hurry clicks.
    await tray.click(/^Reconnect now$/);
    await waitPill('live', /^Live$/, TIMEOUT.live);
    await waitTrayStatus(/^Live\b/, TIMEOUT.ui, 'after the restart');
    await waitBoardEqualsServer(TIMEOUT.ui, 'after the server restart');
    assert.ok(await uiCard(during.id), 'the ticket made meanwhile is shown');
    // The open drawer recovered: the comment written during the outage is in its thread.
    await waitFor(async () => (await browser.$(tid('comments')).getText()).includes(missed), TIMEOUT.ui,
      'the open drawer never showed the comment written during the outage');
    assert.equal(await browser.$(tid('comments-failed')).isExisting(), false, 'no "could not be loaded" left');
    assert.ok((await browser.$$(tid('comment'))).length > state.commentsBefore, 'the thread grew');
    await (await browser.$(SEL.drawerClose)).click();
    await waitFor(async () => !(await (await browser.$(SEL.drawer)).isDisplayed()), TIMEOUT.ui, 'the drawer never closed');
    // Catching up replays no old escalation as a new alert.
    assert.equal(notificationsFor(state.ticket).length, 1, 'no second notification after the restart');
  }, 180_000);

  step('signed-out', 'signing out removes the session from the keychain', async () => {
    const user = state.keychainUser;
    assert.ok(await secretLookup(user), `the keychain entry ${user} is there before signing out`);
    await (await browser.$(SEL.userMenu)).click();
    const signOut = await browser.$(SEL.signOut);
    await waitFor(() => signOut.isDisplayed(), TIMEOUT.ui, 'the account menu never showed Sign out');
    await signOut.click();
    await waitFor(async () => (await browser.$(SEL.loginEmail)).isDisplayed(), TIMEOUT.ui,
      'the sign-in form never came back');
    await until(async () => (await secretLookup(user)) === null, {
      timeout: 10_000,
      message: `the keychain entry ${user} to be deleted`,
    });
    assert.deepEqual(await keychainUsers(), [], 'no deskbell entry is left in the keychain');
    const item = await waitTrayStatus(/^Signed out$/, TIMEOUT.ui, 'after signing out');
    assert.equal(item.menu.find((e) => e.label === 'Sign out')?.enabled, false, 'no Sign out without a session');
  });

  // Runs on its own too (E2E_TEST_NAME_PATTERN=deactivating): it starts from the sign-in form.
  step('session-ended', 'an admin deactivating the signed-in agent returns the app to sign-in with the reason', async () => {
    const user = keychainUser(AGENT2, serverUrl);
    await admin.login(ADMIN);
    const agent2 = new Api(serverUrl);
    const { user: agent2User } = await agent2.login(AGENT2);
    await waitFor(async () => (await browser.$(SEL.loginEmail)).isDisplayed(), TIMEOUT.ui,
      'the sign-in form is not shown');
    await signInThroughUi(AGENT2);
    await waitTrayStatus(/^Live\b/, TIMEOUT.ui, `signed in as ${AGENT2}`);
    await until(() => secretLookup(user), { timeout: 10_000, message: `the keychain entry ${user}` });

    // The admin deactivates the agent; the server ends the agent's session.
    try {
      await admin.patchUser(agent2User.id, { active: false });
      await waitFor(async () => (await browser.$(SEL.loginEmail)).isDisplayed(), TIMEOUT.ui,
        'the sign-in form never came back after the deactivation').catch(async (e) => {
        throw new Error(`${e.message}; the shell's connection_state() is `
          + `${await shellCall('connection_state', (s) => JSON.stringify(s))}`);
      });
      let reason = null;
      await waitFor(async () => (reason = await text(SEL.loginReason)) !== null, TIMEOUT.ui,
        'the sign-in form says nothing about why');
      assert.equal(reason, 'Your account was deactivated by an administrator.');
      await waitPill('signed-out', /^Signed out$/, TIMEOUT.ui);
      const item = await waitTrayStatus(/^Signed out$/, TIMEOUT.ui, 'after the deactivation');
      assert.equal(item.menu.find((e) => e.label === 'Sign out')?.enabled, false,
        'nothing left to sign out of');
      await until(async () => (await secretLookup(user)) === null, {
        timeout: 10_000,
        message: `the keychain entry ${user} to be removed`,
      });
    } finally {
      // The demo data stays usable for whatever runs next.
      await admin.patchUser(agent2User.id, { active: true }).catch(() => {});
    }
  });

  step('tray-quit', "the tray's Quit ends the app", async () => {
    state.appQuit = true;
    await tray.quitApp(TIMEOUT.ui);
  });
});

/** Moves a card to `target` the keyboard way (ui/README.md, "Keyboard"): a click focuses the
 *  card and opens its drawer, Escape closes the drawer and leaves the focus on the card, M opens
 *  the "Move to…" lane picker, the lane's digit picks it. */
async function moveCardWithKeyboard(ticket, target) {
  const card = await browser.$(SEL.cardById(ticket.id));
  await card.scrollIntoView({ block: 'center' });
  await card.click();
  const drawer = await browser.$(`${SEL.drawer}[data-ticket-id="${ticket.id}"]`);
  await waitFor(() => drawer.isDisplayed(), TIMEOUT.ui, 'clicking the card never opened its drawer');
  await browser.keys('Escape');
  await waitFor(async () => !(await (await browser.$(SEL.drawer)).isDisplayed()), TIMEOUT.ui,
    'Escape never closed the drawer');
  await waitFor(() => browser.execute((el) => document.activeElement === el, card), TIMEOUT.ui,
    'the focus did not come back to the card after the drawer closed');
  await browser.keys('m');
  const picker = await browser.$(SEL.lanePicker);
  await waitFor(() => picker.isDisplayed(), TIMEOUT.ui, 'M on a card never opened the lane picker');
  const options = await browser.execute(
    (sel) => [...document.querySelectorAll(sel)].map((b) => b.getAttribute('data-testid')), SEL.pickLane);
  const index = options.indexOf(`pick-lane-${target.id}`);
  assert.ok(index >= 0 && index < 9, `lane ${target.id} is offered with a digit (${JSON.stringify(options)})`);
  await browser.keys(String(index + 1));
  await waitFor(async () => !(await picker.isDisplayed()), TIMEOUT.ui, 'the lane picker never closed');
}
