// Moving cards: drag and drop, the keyboard (Alt+←/→, "m" + lane picker, the card menu),
// refused moves (conflict / network) with the core's rollback.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import {
  FakeShell, commandError, laneCards, tid, until, untilText, useApp,
} from './support.mjs';

const withApp = useApp({ before, after }, { ready: 'card-101' });

/** What the core does when the server refuses a move: card moved at once, then back. */
function refuseMoves(shell, error) {
  shell.handle('move_ticket', async (args, s) => {
    const t = s.findTicket(args.ticketId);
    await s.deltas({ kind: 'ticketUpserted', ...t, laneId: args.laneId });
    // The rollback (and, on a conflict, the server's current state) as deltas, then the error.
    const current = error.code === 'conflict' ? { ...t, version: t.version + 1, title: `${t.title} (changed)` } : t;
    Object.assign(t, current);
    await s.deltas({ kind: 'ticketUpserted', ...current });
    throw { ...error, current: error.code === 'conflict' ? current : null };
  });
}

function focused(page) {
  return page.evaluate(() => document.activeElement?.getAttribute('data-ticket-id') ?? null);
}

describe('moving cards', () => {
  test('drag and drop to another lane calls move_ticket and the card is there', async (t) => {
    const shell = new FakeShell();
    await withApp(t, shell, async (page) => {
      await page.locator(tid('card-102')).dragTo(page.locator(`${tid('lane-13')} .scroller`));
      await until(() => shell.callsOf('move_ticket').length === 1, 'move_ticket called');
      assert.deepEqual(shell.callsOf('move_ticket')[0].args, { ticketId: 102, laneId: 13 });
      await until(async () => (await laneCards(page, 13)).includes(102), 'card 102 in lane 13');
      assert.deepEqual(await laneCards(page, 11), [101]);
      await untilText(page.locator(tid('announcer')), /Moved “VPN drops every hour” to Waiting/, 'the move announced');
    });
  });

  test('drag and drop to "No lane" moves with laneId null', async (t) => {
    const shell = new FakeShell();
    await withApp(t, shell, async (page) => {
      await page.locator(tid('card-103')).dragTo(page.locator(tid('lane-none')));
      await until(() => shell.callsOf('move_ticket').length === 1, 'move_ticket called');
      assert.deepEqual(shell.callsOf('move_ticket')[0].args, { ticketId: 103, laneId: null });
      await until(async () => (await laneCards(page, null)).includes(103), 'card 103 in No lane');
    });
  });

  test('a refused move (conflict): clear message, card back where the server has it', async (t) => {
    const shell = new FakeShell();
    refuseMoves(shell, commandError('conflict', 'version mismatch'));
    await withApp(t, shell, async (page) => {
      await page.locator(tid('card-102')).dragTo(page.locator(`${tid('lane-14')} .scroller`));
      await until(() => shell.callsOf('move_ticket').length === 1, 'move_ticket called');
      const toast = page.locator(tid('toast'));
      await untilText(toast, /Someone changed this ticket meanwhile; it is back where the server has it/, 'the conflict message');
      assert.equal(await toast.getAttribute('role'), 'alert');
      await until(async () => (await laneCards(page, 11)).includes(102), 'card 102 back in lane 11');
      assert.deepEqual(await laneCards(page, 14), []);
      assert.match(await page.locator(tid('card-102')).textContent(), /\(changed\)/, 'the server\'s version is shown');
    });
  });

  test('a move that cannot reach the server says so; other errors show their message', async (t) => {
    const shell = new FakeShell();
    refuseMoves(shell, commandError('network', 'connection refused'));
    await withApp(t, shell, async (page) => {
      await page.locator(tid('card-106')).dragTo(page.locator(`${tid('lane-14')} .scroller`));
      await untilText(page.locator(tid('toast')).last(), /Could not reach the server/, 'the network message');
      await until(async () => (await laneCards(page, 13)).includes(106), 'card 106 back in lane 13');

      refuseMoves(shell, commandError('forbidden', 'you may not move this ticket'));
      await page.locator(tid('card-106')).dragTo(page.locator(`${tid('lane-14')} .scroller`));
      await untilText(page.locator(tid('toast')).last(), /You may not move this ticket/, 'the error\'s own message');
    });
  });

  test('keyboard: Alt+→ / Alt+← move to the neighbour lane, focus follows the card', async (t) => {
    const shell = new FakeShell();
    await withApp(t, shell, async (page) => {
      await page.locator(tid('card-102')).focus();
      await page.keyboard.press('Alt+ArrowRight');
      await until(() => shell.callsOf('move_ticket').length === 1, 'move_ticket called');
      assert.deepEqual(shell.callsOf('move_ticket')[0].args, { ticketId: 102, laneId: 12 });
      await until(async () => (await laneCards(page, 12)).includes(102), 'card 102 in lane 12');
      await until(async () => (await focused(page)) === '102', 'the moved card keeps the focus');

      await page.keyboard.press('Alt+ArrowLeft');
      await until(() => shell.callsOf('move_ticket').length === 2, 'second move_ticket');
      assert.deepEqual(shell.callsOf('move_ticket')[1].args, { ticketId: 102, laneId: 11 });
      await page.keyboard.press('Alt+ArrowLeft');
      await until(() => shell.callsOf('move_ticket').length === 3, 'third move_ticket');
      assert.deepEqual(shell.callsOf('move_ticket')[2].args, { ticketId: 102, laneId: null });
      // Already in the first column: nothing to do, and it is said.
      await until(async () => (await focused(page)) === '102' && (await laneCards(page, null)).includes(102), 'card 102 focused in No lane');
      await page.keyboard.press('Alt+ArrowLeft');
      await untilText(page.locator(tid('announcer')), /Already in the first lane/, 'the announcement');
      assert.equal(shell.callsOf('move_ticket').length, 3);
    });
  });

  test('keyboard: "m" opens the lane picker; choosing a lane moves the card', async (t) => {
    const shell = new FakeShell();
    await withApp(t, shell, async (page) => {
      await page.locator(tid('card-105')).focus();
      await page.keyboard.press('m');
      const picker = page.locator(tid('lane-picker'));
      await picker.waitFor();
      assert.match(await picker.textContent(), /Move “Invoice PDF is blank” to…/);
      // The lane after the current one has the focus; arrows move through the lanes.
      await until(async () => (await page.evaluate(() => document.activeElement?.getAttribute('data-lane'))) === '11', 'Triage focused');
      await page.keyboard.press('ArrowDown');
      await page.keyboard.press('ArrowDown');
      await page.keyboard.press('Enter');
      await until(() => shell.callsOf('move_ticket').length === 1, 'move_ticket called');
      assert.deepEqual(shell.callsOf('move_ticket')[0].args, { ticketId: 105, laneId: 13 });
      await picker.waitFor({ state: 'hidden' });
      await until(async () => (await laneCards(page, 13)).includes(105), 'card 105 in Waiting');
      await until(async () => (await focused(page)) === '105', 'focus on the moved card');

      // Number keys pick the n-th lane; Escape cancels and gives the focus back.
      await page.keyboard.press('m');
      await picker.waitFor();
      await page.keyboard.press('Escape');
      await picker.waitFor({ state: 'hidden' });
      await until(async () => (await focused(page)) === '105', 'focus back on the card');
      await page.keyboard.press('m');
      await picker.waitFor();
      await page.keyboard.press('5');
      await until(() => shell.callsOf('move_ticket').length === 2, 'second move_ticket');
      assert.deepEqual(shell.callsOf('move_ticket')[1].args, { ticketId: 105, laneId: 14 });
    });
  });

  test('the card menu: "Move to…" opens the picker', async (t) => {
    const shell = new FakeShell();
    await withApp(t, shell, async (page) => {
      await page.locator(tid('card-104')).hover();
      await page.locator(tid('card-menu-104')).click();
      await page.locator(tid('card-move')).click();
      await page.locator(tid('pick-lane-14')).click();
      await until(() => shell.callsOf('move_ticket').length === 1, 'move_ticket called');
      assert.deepEqual(shell.callsOf('move_ticket')[0].args, { ticketId: 104, laneId: 14 });
    });
  });
});
