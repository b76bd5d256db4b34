// The "New ticket" form: what it sends to `create_ticket`, what it refuses before sending, what
// it says when the core refuses, and that the new ticket's drawer opens once the ticket is on the
// board (it arrives through the core's events, like any other).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { AGENT, FakeShell, commandError, ticket, tid, until, untilText, useApp } from './support.mjs';

const withApp = useApp({ before, after });

describe('new ticket', () => {
  test('sends what was typed; the drawer opens when the ticket reaches the board', async (t) => {
    const shell = new FakeShell();
    shell.handle('create_ticket', ({ ticket: t }) => ticket(501, { ...t, assigneeId: t.assigneeId ?? null, laneId: t.laneId ?? null }));
    await withApp(t, shell, async (page) => {
      await page.locator(tid('card-101')).waitFor();
      await page.locator(tid('new-ticket')).click();
      const form = page.locator(tid('new-ticket-form'));
      await form.waitFor();

      // Nothing is sent without a title and a requester.
      await page.locator(tid('new-ticket-submit')).click();
      await untilText(page.locator(tid('new-ticket-error')), /needs a title/, 'the missing title');
      await page.locator(tid('new-ticket-title')).fill('  Printer jams on tray 2  ');
      await page.locator(tid('new-ticket-submit')).click();
      await untilText(page.locator(tid('new-ticket-error')), /requester needs a name/, 'the missing requester');
      assert.equal(shell.callsOf('create_ticket').length, 0);

      await page.locator(tid('new-ticket-requester')).fill('Paula Printer');
      await page.locator(tid('new-ticket-contact')).fill('+33 1 23 45 67 89');
      await page.locator(tid('new-ticket-priority')).selectOption('high');
      await page.locator(tid('new-ticket-lane')).selectOption('12');
      await page.locator(tid('new-ticket-assignee')).selectOption(String(AGENT.id));
      await page.locator(tid('new-ticket-message')).fill('It jams every third page.');
      await page.locator(tid('new-ticket-submit')).click();
      await until(() => shell.callsOf('create_ticket').length === 1, 'create_ticket called');
      assert.deepEqual(shell.callsOf('create_ticket')[0].args, {
        ticket: {
          title: 'Printer jams on tray 2',
          requester: { name: 'Paula Printer', contact: '+33 1 23 45 67 89' },
          priority: 'high',
          laneId: 12,
          assigneeId: AGENT.id,
          message: 'It jams every third page.',
        },
      });
      await until(async () => !(await form.evaluate((d) => d.open)), 'the form closed');
      await untilText(page.locator(tid('toast')).last(), /Ticket #501 created/, 'the confirmation');
      const drawer = page.locator(`${tid('ticket-drawer')}[data-ticket-id="501"]`);
      assert.equal(await drawer.count(), 0, 'no drawer before the ticket is on the board');

      await shell.deltas({ kind: 'ticketUpserted', ...ticket(501, { title: 'Printer jams on tray 2', laneId: 12, assigneeId: AGENT.id, priority: 'high' }) });
      await drawer.waitFor();
      await untilText(page.locator(tid('drawer-title')), /Printer jams on tray 2/, 'the new ticket in the drawer');
    });
  });

  test('a refusal is shown in the form, which keeps what was typed', async (t) => {
    const shell = new FakeShell();
    shell.handle('create_ticket', () => {
      throw commandError('validation', 'title: at most 200 characters');
    });
    await withApp(t, shell, async (page) => {
      await page.locator(tid('card-101')).waitFor();
      await page.locator(tid('new-ticket')).click();
      await page.locator(tid('new-ticket-form')).waitFor();
      await page.locator(tid('new-ticket-title')).fill('Too long, says the server');
      await page.locator(tid('new-ticket-requester')).fill('Rita');
      await page.locator(tid('new-ticket-submit')).click();
      await untilText(page.locator(tid('new-ticket-error')), /Title: at most 200 characters/, 'the refusal');
      assert.equal(await page.locator(tid('new-ticket-form')).evaluate((d) => d.open), true, 'the form stays open');
      assert.equal(await page.locator(tid('new-ticket-title')).inputValue(), 'Too long, says the server');
      // Cancel closes it; it comes back empty.
      await page.getByRole('button', { name: 'Cancel' }).click();
      await until(async () => !(await page.locator(tid('new-ticket-form')).evaluate((d) => d.open)), 'closed');
      await page.locator(tid('new-ticket')).click();
      await until(async () => (await page.locator(tid('new-ticket-form')).evaluate((d) => d.open)), 'open again');
      assert.equal(await page.locator(tid('new-ticket-title')).inputValue(), '');
    });
  });
});
