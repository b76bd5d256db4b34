// Urgent tickets get handled (issue 18): the acknowledgement on cards, the "Unacknowledged
// urgent" and "these tickets" filters, Acknowledge / Assign to me / Snooze in the drawer (with
// refusals in place), the drawer flashing on an alert in place, the inbox behind the bell, Do not
// disturb / quiet hours in the window, the alert preferences and the admins' escalation delay.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import {
  ADMIN, FakeShell, commandError, defaultSettings, inboxEntry, minutesAgo, sampleBoard, session, ticket, tid, until,
  untilText, useApp,
} from './support.mjs';

const withApp = useApp({ before, after }, { ready: 'card-101' });

const drawer = (page, id) => page.locator(`${tid('ticket-drawer')}[data-ticket-id="${id}"]`);

/** All card ids shown, sorted. */
function shown(page) {
  return page.$$eval('[data-testid^="card-"][data-ticket-id]', (els) =>
    els.map((e) => Number(e.getAttribute('data-ticket-id'))).sort((a, b) => a - b),
  );
}

async function untilShown(page, ids, what) {
  let last;
  await until(async () => {
    last = await shown(page);
    return JSON.stringify(last) === JSON.stringify(ids);
  }, `${what}: cards ${JSON.stringify(ids)}`).catch((e) => {
    throw new Error(`${e.message} (shown: ${JSON.stringify(last)})`);
  });
}

/**
 * The sample board plus urgent tickets in every acknowledgement state: 101 awaits one (from the
 * sample), 107 was acknowledged by Sam 2 minutes ago, 108 is urgent but closed, 109 was
 * acknowledged by someone `members()` does not know.
 */
function urgentBoard() {
  const board = sampleBoard();
  board.tickets[0] = { ...board.tickets[0], urgentSince: minutesAgo(6), urgentBy: 3 };
  board.tickets.push(
    ticket(107, { title: 'Server room too hot', priority: 'urgent', laneId: 12, assigneeId: 2, urgentSince: minutesAgo(10), urgentBy: 1, acknowledgedBy: 3, acknowledgedAt: minutesAgo(2.2) }),
    ticket(108, { title: 'Old outage', priority: 'urgent', status: 'closed', laneId: 14, assigneeId: 2, urgentSince: minutesAgo(100), urgentBy: 1 }),
    ticket(109, { title: 'Door badge broken', priority: 'urgent', laneId: 13, urgentSince: minutesAgo(30), urgentBy: 1, acknowledgedBy: 99, acknowledgedAt: minutesAgo(20) }),
  );
  return board;
}

/** How many rows the top bar's items take: items whose boxes overlap vertically share a row. */
function topbarRows(page) {
  return page.evaluate(() => {
    const bar = document.querySelector('.topbar');
    if (!bar) return 0;
    const boxes = [...bar.children].map((el) => el.getBoundingClientRect()).filter((r) => r.width > 0).sort((a, b) => a.top - b.top);
    let rows = 0;
    let bottom = -Infinity;
    for (const r of boxes) {
      if (r.top >= bottom - 1) {
        rows++;
        bottom = r.bottom;
      } else {
        bottom = Math.max(bottom, r.bottom);
      }
    }
    return rows;
  });
}

describe('urgent tickets on the board', () => {
  test('an urgent ticket awaiting acknowledgement shows the "Unacknowledged" marker (text, not colour only)', async (t) => {
    const shell = new FakeShell({ board: urgentBoard() });
    await withApp(t, shell, async (page) => {
      const marker = page.locator(`${tid('card-101')} ${tid('card-unacknowledged')}`);
      await untilText(marker, /Unacknowledged/, 'the marker on #101');
      assert.match(await page.locator(tid('card-101')).getAttribute('aria-label') ?? '', /Urgent priority, unacknowledged/);
      // Not urgent, closed, or acknowledged: no marker.
      for (const id of [102, 107, 108]) {
        assert.equal(await page.locator(`${tid(`card-${id}`)} ${tid('card-unacknowledged')}`).count(), 0, `no marker on #${id}`);
      }
      // The last message is still there, after the marker.
      assert.match(await page.locator(tid('card-101')).textContent() ?? '', /It is smoking now, please hurry/);

      // Someone acknowledges it: the marker gives way to who did.
      const acked = { ...shell.findTicket(101), acknowledgedBy: 3, acknowledgedAt: new Date().toISOString(), version: 2 };
      await shell.deltas({ kind: 'ticketUpserted', ...acked });
      await untilText(page.locator(`${tid('card-101')} ${tid('card-acknowledged')}`), /Acknowledged by Sam Support · just now/, 'the acknowledged line');
      assert.equal(await marker.count(), 0, 'the marker is gone');
    });
  });

  test('an acknowledged urgent ticket says who and how long ago (names from members; else "a colleague")', async (t) => {
    const shell = new FakeShell({ board: urgentBoard() });
    await withApp(t, shell, async (page) => {
      await untilText(page.locator(`${tid('card-107')} ${tid('card-acknowledged')}`), /^\s*Acknowledged by Sam Support · 2 min\s*$/, 'the line on #107');
      assert.match(await page.locator(tid('card-107')).getAttribute('aria-label') ?? '', /acknowledged by Sam Support 2 minutes ago/);
      await untilText(page.locator(`${tid('card-109')} ${tid('card-acknowledged')}`), /Acknowledged by a colleague · 20 min/, 'an unknown member');
      assert.equal(shell.callsOf('members').length, 1, 'members() loaded once');
      assert.equal(shell.callsOf('users').length, 0, 'agents still do not list users');

      // A member who joined since acknowledges: "a colleague" until the core has reloaded the
      // members (it does when someone it does not know acts), then their name.
      await shell.deltas({ kind: 'ticketUpserted', ...shell.findTicket(101), acknowledgedBy: 4, acknowledgedAt: minutesAgo(0), version: 2 });
      const line = page.locator(`${tid('card-101')} ${tid('card-acknowledged')}`);
      await untilText(line, /Acknowledged by a colleague · just now/, 'not known yet');
      await shell.desk({ kind: 'members', members: [...shell.members, { id: 4, name: 'Nina New', role: 'agent', active: true }] });
      await untilText(line, /Acknowledged by Nina New · just now/, 'the new member\'s name');
      assert.equal(shell.callsOf('members').length, 1, 'from the event, not asked again');
    });
  });

  test('the "Unacknowledged urgent" filter shows only urgent tickets awaiting acknowledgement', async (t) => {
    const shell = new FakeShell({ board: urgentBoard() });
    await withApp(t, shell, async (page) => {
      const options = await page.locator(`${tid('filter-priority')} option`).allTextContents();
      assert.ok(options.includes('Unacknowledged urgent'), JSON.stringify(options));
      await page.locator(tid('filter-priority')).selectOption('unacknowledged');
      await untilShown(page, [101], 'only #101 awaits acknowledgement');
      // A new urgent ticket arrives: it joins; once acknowledged it leaves.
      await shell.deltas({ kind: 'ticketUpserted', ...ticket(110, { priority: 'urgent', urgentSince: minutesAgo(0), urgentBy: 1 }) });
      await untilShown(page, [101, 110], 'the new urgent ticket');
      await shell.deltas({ kind: 'ticketUpserted', ...ticket(110, { priority: 'urgent', acknowledgedBy: 1, acknowledgedAt: minutesAgo(0), version: 2 }) });
      await untilShown(page, [101], 'acknowledged: out of the filter');
      await page.locator(tid('filter-clear')).click();
      // #108 is closed: hidden by default ("Hide closed", tests/view.test.mjs).
      await untilShown(page, [101, 102, 103, 104, 105, 106, 107, 109, 110], 'cleared');
    });
  });

  test('deskbell://open-tickets filters the board to those tickets until cleared', async (t) => {
    const shell = new FakeShell({ board: urgentBoard() });
    await withApp(t, shell, async (page) => {
      await shell.emit('deskbell://open-tickets', [102, 107]);
      await untilShown(page, [102, 107], 'the two alerted tickets');
      await untilText(page.locator(tid('filter-only')), /These 2 tickets/, 'the filter says so');
      assert.equal(await page.locator(tid('ticket-drawer')).isVisible(), false, 'several tickets: no drawer');
      await page.locator(tid('filter-only-clear')).click();
      // #108 is closed: hidden by default ("Hide closed", tests/view.test.mjs).
      await untilShown(page, [101, 102, 103, 104, 105, 106, 107, 109], 'every ticket again');
      assert.equal(await page.locator(tid('filter-only')).count(), 0);

      // The general "Clear" clears it too.
      await shell.emit('deskbell://open-tickets', [104]);
      await untilShown(page, [104], 'one ticket');
      await drawer(page, 104).waitFor();
      await page.locator(tid('drawer-close')).click();
      await page.locator(tid('filter-clear')).click();
      await untilShown(page, [101, 102, 103, 104, 105, 106, 107, 109], 'cleared');
    });
  });
});

describe('handling an urgent ticket in the drawer', () => {
  test('Acknowledge: the ticket shows who acknowledged; a refusal is shown in place', async (t) => {
    const shell = new FakeShell({ board: urgentBoard() });
    await withApp(t, shell, async (page) => {
      await page.locator(tid('card-101')).click();
      await drawer(page, 101).waitFor();
      await untilText(page.locator(tid('drawer-unacknowledged')), /not acknowledged yet · urgent for 6 min/, 'the drawer says it awaits');
      await page.locator(tid('drawer-acknowledge')).click();
      await until(() => shell.callsOf('acknowledge').length === 1, 'acknowledge called');
      assert.deepEqual(shell.callsOf('acknowledge')[0].args, { ticketId: 101 });
      await untilText(page.locator(tid('drawer-acknowledged')), /Acknowledged by you · just now/, 'acknowledged by you');
      assert.equal(await page.locator(tid('drawer-acknowledge')).count(), 0, 'nothing left to acknowledge');
      await untilText(page.locator(`${tid('card-101')} ${tid('card-acknowledged')}`), /Acknowledged by you/, 'the card follows');
      await page.locator(tid('drawer-close')).click();

      // Meanwhile someone closed #102's urgent episode: the server refuses with the ticket.
      const urgent102 = { ...shell.findTicket(102), priority: /** @type {const} */ ('urgent'), version: shell.findTicket(102).version + 1 };
      Object.assign(shell.findTicket(102), urgent102);
      await shell.deltas({ kind: 'ticketUpserted', ...urgent102 });
      shell.handle('acknowledge', async (args, s) => {
        const current = { ...s.findTicket(args.ticketId), status: /** @type {const} */ ('closed'), version: 7 };
        throw commandError('conflict', 'the ticket is closed', current);
      });
      await page.locator(tid('card-102')).click();
      await drawer(page, 102).waitFor();
      await page.locator(tid('drawer-acknowledge')).click();
      const error = page.locator(tid('drawer-action-error'));
      await untilText(error, /This ticket is closed: there is nothing to acknowledge/, 'the refusal, in the drawer');
      assert.equal(await error.getAttribute('role'), 'alert');
      // The drawer shows the server's ticket (closed: no Acknowledge any more).
      await until(async () => (await page.locator(tid('drawer-status')).inputValue()) === 'closed', 'the server\'s status');
      assert.equal(await page.locator(tid('drawer-acknowledge')).count(), 0);

      // Not visible any more: said as such.
      shell.handle('assign_to_me', () => {
        throw commandError('not_found', 'no such ticket');
      });
      await page.locator(tid('drawer-assign-me')).click();
      await untilText(error, /You can no longer see this ticket/, 'not found, in place');
    });
  });

  test('Assign to me takes the ticket (and acknowledges it)', async (t) => {
    const shell = new FakeShell({ board: urgentBoard() });
    await withApp(t, shell, async (page) => {
      await page.locator(tid('card-109')).click();
      await drawer(page, 109).waitFor();
      await page.locator(tid('drawer-assign-me')).click();
      await until(() => shell.callsOf('assign_to_me').length === 1, 'assign_to_me called');
      assert.deepEqual(shell.callsOf('assign_to_me')[0].args, { ticketId: 109 });
      await until(async () => (await page.locator(tid('drawer-assignee')).inputValue()) === '2', 'assigned to me');
      assert.equal(await page.locator(tid('drawer-assign-me')).count(), 0, 'no "Assign to me" on my own ticket');
      await untilText(page.locator(`${tid('card-109')} ${tid('card-assignee')}`), /me/, 'the card follows');
    });
  });

  test('Snooze: the menu offers 15 min, 1 h and until tomorrow; the choice goes to the core', async (t) => {
    const shell = new FakeShell({ board: urgentBoard() });
    await withApp(t, shell, async (page) => {
      await page.locator(tid('card-101')).click();
      await drawer(page, 101).waitFor();
      const button = page.locator(tid('drawer-snooze'));
      await button.click();
      assert.equal(await button.getAttribute('aria-expanded'), 'true');
      const items = await page.locator('[role="menu"][aria-label="Snooze reminders"] [role="menuitem"]').allTextContents();
      assert.deepEqual(items, ['For 15 minutes', 'For 1 hour', 'Until tomorrow']);
      // Keyboard: the first item has the focus; Escape closes the menu, not the drawer.
      await until(() => page.evaluate(() => document.activeElement?.getAttribute('data-testid') === 'snooze-minutes15'), 'first item focused');
      await page.keyboard.press('Escape');
      await until(async () => (await button.getAttribute('aria-expanded')) === 'false', 'menu closed');
      assert.equal(await drawer(page, 101).isVisible(), true, 'the drawer stays open');

      await button.click();
      await page.locator(tid('snooze-hour')).click();
      await until(() => shell.callsOf('snooze').length === 1, 'snooze called');
      assert.deepEqual(shell.callsOf('snooze')[0].args, { ticketId: 101, snooze: 'hour' });
      await untilText(page.locator(tid('toast')).last(), /Reminders for #101 snoozed for 1 hour/, 'confirmed');

      shell.handle('snooze', () => {
        throw commandError('unknown_ticket', 'no such ticket');
      });
      await button.click();
      await page.locator(tid('snooze-untilTomorrow')).click();
      await untilText(page.locator(tid('drawer-action-error')), /Not snoozed: You can no longer see this ticket/, 'the refusal, in place');
      assert.deepEqual(shell.callsOf('snooze')[1].args, { ticketId: 101, snooze: 'untilTomorrow' });
    });
  });

  test('a notification\'s Acknowledge that the server refused says why in the window', async (t) => {
    const shell = new FakeShell({ board: urgentBoard() });
    await withApp(t, shell, async (page) => {
      await shell.desk({ kind: 'alertActionFailed', ticketIds: [101], action: 'acknowledge', code: 'conflict', message: 'not urgent' });
      await untilText(page.locator(tid('toast')).last(), /Could not acknowledge #101/, 'the refusal');
      assert.equal(await page.locator(tid('toast')).last().getAttribute('role'), 'alert');
      await shell.desk({ kind: 'alertActionFailed', ticketIds: [102], action: 'assignToMe', code: 'network', message: 'connection refused' });
      await untilText(page.locator(tid('toast')).last(), /Could not assign #102 to you: Could not reach the server/, 'unreachable');
    });
  });

  test('the shell learns which ticket the drawer shows; an alert in place flashes that drawer', async (t) => {
    const shell = new FakeShell({ board: urgentBoard() });
    await withApp(t, shell, async (page) => {
      await until(() => shell.callsOf('set_open_ticket').some((c) => c.args.ticketId === null), 'nothing open at start');
      await page.locator(tid('card-101')).click();
      await drawer(page, 101).waitFor();
      await until(() => shell.callsOf('set_open_ticket').at(-1)?.args.ticketId === 101, 'set_open_ticket(101)');

      // An alert for another ticket: no flash.
      await shell.emit('deskbell://alert-in-place', 107);
      await shell.emit('deskbell://alert-in-place', 101);
      await page.locator(tid('drawer-flash')).waitFor();
      assert.equal(await drawer(page, 101).getAttribute('data-flashing'), 'true');
      await untilText(page.locator(tid('announcer')), /alerted again/, 'said to screen readers');
      // It is a moment, not a state.
      await page.locator(tid('drawer-flash')).waitFor({ state: 'detached', timeout: 5000 });

      await page.locator(tid('drawer-close')).click();
      await until(() => shell.callsOf('set_open_ticket').at(-1)?.args.ticketId === null, 'set_open_ticket(null)');
    });
  });
});

describe('top bar: inbox and muted state', () => {
  test('the bell counts unread alerts; the inbox lists unacknowledged first, opening reads it, a click opens the ticket', async (t) => {
    const shell = new FakeShell({ board: urgentBoard() });
    shell.inbox = [
      inboxEntry(1, 107, { title: 'Urgent: Server room too hot', at: minutesAgo(1), read: true }),
      inboxEntry(2, 101, { title: 'Urgent: Printer on fire', at: minutesAgo(6), awaitingAck: true }),
      inboxEntry(3, 104, { kind: 'assignedToMe', title: 'Assigned to you: Password reset', at: minutesAgo(3) }),
      // Awaiting, says the entry, but the board knows it was acknowledged since.
      inboxEntry(4, 109, { title: 'Urgent: Door badge broken', at: minutesAgo(30), awaitingAck: true, read: true }),
    ];
    await withApp(t, shell, async (page) => {
      const bell = page.locator(tid('inbox-button'));
      await untilText(page.locator(tid('inbox-unread')), /^2$/, 'two unread');
      assert.equal(await bell.getAttribute('aria-label'), 'Alerts, 2 unread');

      await bell.click();
      await page.locator(tid('inbox')).waitFor();
      const order = await page.$$eval('[data-testid="inbox-entry"]', (els) => els.map((e) => [Number(e.getAttribute('data-ticket-id')), e.getAttribute('data-awaiting')]));
      assert.deepEqual(order, [[101, 'true'], [107, 'false'], [104, 'false'], [109, 'false']], 'unacknowledged first, then newest first');
      assert.match(await page.locator(tid('inbox-entry')).first().textContent() ?? '', /Unacknowledged[\s\S]*Printer on fire/);
      await until(() => shell.callsOf('mark_inbox_read').length === 1, 'opening reads the inbox');
      // Keyboard: the first alert has the focus, ↓ goes to the next.
      const focusedTicket = () => page.evaluate(() => document.activeElement?.getAttribute('data-ticket-id'));
      await until(async () => (await focusedTicket()) === '101', 'the first alert focused');
      await page.keyboard.press('ArrowDown');
      await until(async () => (await focusedTicket()) === '107', 'the second alert focused');
      await until(async () => (await page.locator(tid('inbox-unread')).count()) === 0, 'no unread count');
      assert.equal(await bell.getAttribute('aria-label'), 'Alerts');

      await page.locator(`${tid('inbox-entry')}[data-ticket-id="104"]`).click();
      await drawer(page, 104).waitFor();
      assert.equal(await page.locator(tid('inbox')).count(), 0, 'the inbox closes');
      await page.locator(tid('drawer-close')).click();

      // A new alert arrives (the core sends the whole inbox).
      await shell.emit('deskbell://inbox', [inboxEntry(5, 102, { title: 'Urgent: VPN drops every hour', awaitingAck: true }), ...shell.inbox]);
      await untilText(page.locator(tid('inbox-unread')), /^1$/, 'one unread again');
      // A second opening with nothing unread does not call the shell again for nothing.
      await bell.click();
      await until(() => shell.callsOf('mark_inbox_read').length === 2, 'read again');
      await page.keyboard.press('Escape');
      await page.locator(tid('inbox')).waitFor({ state: 'detached' });
      await bell.click();
      await page.locator(tid('inbox')).waitFor();
      assert.equal(shell.callsOf('mark_inbox_read').length, 2, 'nothing to mark read');
    });
  });

  test('Do not disturb is shown in the window and a click turns it off; quiet hours are shown', async (t) => {
    const settings = defaultSettings();
    settings.alerts.doNotDisturb = true;
    const shell = new FakeShell({ settings });
    await withApp(t, shell, async (page) => {
      const dnd = page.locator(tid('dnd-state'));
      await untilText(dnd, /Do not disturb/, 'the DND state');
      assert.match(await dnd.getAttribute('aria-label') ?? '', /Turn it off/);
      await dnd.click();
      await until(() => shell.callsOf('set_settings').length === 1, 'set_settings called');
      assert.equal(shell.callsOf('set_settings')[0].args.settings.alerts.doNotDisturb, false);
      assert.deepEqual(shell.callsOf('set_settings')[0].args.settings.alerts.quietHours, settings.alerts.quietHours, 'the rest unchanged');
      await dnd.waitFor({ state: 'detached' });

      // The tray turns it on: shown again.
      await shell.emit('deskbell://settings', { ...shell.settings, alerts: { ...shell.settings.alerts, doNotDisturb: true } });
      await dnd.waitFor();

      // Quiet hours around now (in the page's local time).
      const nowMinute = await page.evaluate(() => new Date().getHours() * 60 + new Date().getMinutes());
      const quietHours = { enabled: true, startMinute: (nowMinute + 1380) % 1440, endMinute: (nowMinute + 60) % 1440 };
      await shell.emit('deskbell://settings', { ...shell.settings, alerts: { ...shell.settings.alerts, doNotDisturb: false, quietHours } });
      const quiet = page.locator(tid('quiet-state'));
      await untilText(quiet, /Quiet hours/, 'quiet hours shown');
      const end = `${String(Math.floor(quietHours.endMinute / 60)).padStart(2, '0')}:${String(quietHours.endMinute % 60).padStart(2, '0')}`;
      assert.match(await quiet.getAttribute('title') ?? '', new RegExp(`until ${end}`));
      assert.equal(await dnd.count(), 0);
    });
  });

  test('at 1200 px the top bar stays one row, with the bell, DND and the ticket filter', async (t) => {
    const settings = defaultSettings();
    settings.alerts.doNotDisturb = true;
    const shell = new FakeShell({ session: session(ADMIN), board: urgentBoard(), settings });
    shell.inbox = Array.from({ length: 12 }, (_, i) => inboxEntry(i + 1, 101, { awaitingAck: true }));
    await withApp(t, shell, async (page) => {
      await page.locator(tid('dnd-state')).waitFor();
      await untilText(page.locator(tid('inbox-unread')), /12/, 'the count');
      await shell.emit('deskbell://open-tickets', [101, 107]);
      await page.locator(tid('filter-only')).waitFor();
      await page.locator(tid('filter-priority')).selectOption('unacknowledged');
      await page.locator(tid('search')).fill('something');
      // It used to wrap to two rows here; it no longer wraps (tests/layout.test.mjs).
      await until(async () => (await topbarRows(page)) === 1, 'one row', 2000).catch(async (e) => {
        throw new Error(`${e.message}: ${await topbarRows(page)} rows`);
      });
    }, { viewport: { width: 1200, height: 800 } });
  });
});

describe('alert preferences', () => {
  test('reminders, sound, quiet hours and urgent-through-DND are saved', async (t) => {
    const shell = new FakeShell();
    await withApp(t, shell, async (page) => {
      await page.locator(tid('user-menu')).click();
      await page.locator(tid('open-preferences')).click();
      await page.locator(tid('preferences')).waitFor();
      assert.equal(await page.locator(tid('pref-company')).count(), 0, 'agents have no company settings');
      const last = () => shell.callsOf('set_settings').at(-1)?.args.settings.alerts;
      const saves = () => shell.callsOf('set_settings').length;

      const reminder = page.locator(tid('pref-reminder'));
      assert.equal(await reminder.inputValue(), '2');
      assert.deepEqual(await reminder.locator('option').allTextContents(), ['Off', 'Every minute', 'Every 2 minutes', 'Every 5 minutes', 'Every 10 minutes']);
      await reminder.selectOption('5');
      await until(() => last()?.reminderMinutes === 5, 'reminder every 5 minutes');
      await reminder.selectOption('0');
      await until(() => last()?.reminderMinutes === 0, 'reminders off');

      await page.locator(tid('pref-sound-reminders')).uncheck();
      await until(() => last()?.soundWithReminders === false, 'no sound with reminders');
      await page.locator(tid('pref-sound')).uncheck();
      await until(() => last()?.sound === false, 'sound off');
      assert.equal(await page.locator(tid('pref-sound-reminders')).isDisabled(), true, 'no sound: nothing to repeat');

      assert.equal(await page.locator(tid('pref-quiet-start')).isDisabled(), true);
      await page.locator(tid('pref-quiet')).check();
      await until(() => last()?.quietHours.enabled === true, 'quiet hours on');
      assert.equal(await page.locator(tid('pref-quiet-start')).inputValue(), '22:00');
      let before = saves();
      await page.locator(tid('pref-quiet-start')).fill('21:30');
      await until(() => saves() > before && last()?.quietHours.startMinute === 21 * 60 + 30, 'from 21:30');
      before = saves();
      await page.locator(tid('pref-quiet-end')).fill('06:45');
      await until(() => saves() > before && last()?.quietHours.endMinute === 6 * 60 + 45, 'to 06:45');

      await page.locator(tid('pref-urgent-breaks-dnd')).check();
      await until(() => last()?.urgentBreaksDnd === true, 'urgent breaks through');
      assert.deepEqual(last(), {
        level: 'urgentOnly', doNotDisturb: false, reminderMinutes: 0, sound: false, soundWithReminders: false,
        quietHours: { enabled: true, startMinute: 1290, endMinute: 405 }, urgentBreaksDnd: true,
      });
    });
  });

  test('admins: "Escalate to admins after N minutes" is the company\'s; a refusal is shown in place', async (t) => {
    const shell = new FakeShell({ session: session(ADMIN) });
    await withApp(t, shell, async (page) => {
      await page.locator(tid('user-menu')).click();
      await page.locator(tid('open-preferences')).click();
      const field = page.locator(tid('pref-escalate'));
      await until(async () => (await field.inputValue()) === '5' && !(await field.isDisabled()), 'the company\'s 5 minutes');
      assert.equal(shell.callsOf('company').length, 1);
      const save = page.locator(tid('pref-escalate-save'));
      assert.equal(await save.isDisabled(), true, 'nothing changed yet');

      await field.fill('0');
      await save.click();
      const error = page.locator(tid('pref-escalate-error'));
      await untilText(error, /between 1 and 1440/, 'the server\'s refusal, next to the field');
      assert.equal(await error.getAttribute('role'), 'alert');
      assert.equal(await field.getAttribute('aria-invalid'), 'true');
      assert.deepEqual(shell.callsOf('update_company')[0].args, { patch: { escalateAfterMinutes: 0 } });
      assert.equal(shell.company.escalateAfterMinutes, 5, 'nothing changed');
      assert.equal(await page.locator(tid('preferences')).isVisible(), true, 'the dialog stays open');

      await field.fill('15');
      await field.press('Enter');
      await until(() => shell.callsOf('update_company').length === 2, 'saved with Enter');
      assert.deepEqual(shell.callsOf('update_company')[1].args, { patch: { escalateAfterMinutes: 15 } });
      await error.waitFor({ state: 'detached' });
      assert.equal(await page.locator(tid('preferences')).isVisible(), true, 'Enter did not close the dialog');
      assert.equal(shell.company.escalateAfterMinutes, 15);
    });
  });
});
