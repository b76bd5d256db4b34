// The board: rendering from `board()`, deltas applied incrementally (no refetch), 10 000 tickets.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import {
  ADMIN, FakeShell, boardView, hoursAgo, session, lane, laneCards, sampleBoard, ticket, tid, until, untilText, useApp,
} from './support.mjs';

const withApp = useApp({ before, after });

/** Lane ids as shown, left to right ("none" for No lane). */
function laneOrder(page) {
  return page.$$eval('[data-lane-id]', (els) => els.filter((e) => e.tagName === 'SECTION').map((e) => e.getAttribute('data-lane-id')));
}

function laneCount(page, laneId) {
  return page.locator(`${tid(`lane-${laneId}`)} ${tid('lane-count')}`).textContent();
}

describe('board', () => {
  test('renders lanes ("No lane" first, by position), colored headers, counts and cards', async (t) => {
    const shell = new FakeShell();
    await withApp(t, shell, async (page) => {
      await page.locator(tid('card-101')).waitFor();
      assert.deepEqual(await laneOrder(page), ['none', '11', '12', '13', '14']);
      assert.equal((await laneCount(page, 'none')).trim(), '1');
      assert.equal((await laneCount(page, 11)).trim(), '2');
      assert.equal((await laneCount(page, 12)).trim(), '2');
      assert.equal((await laneCount(page, 14)).trim(), '0');
      assert.match(await page.locator(tid('lane-11')).locator('h2').textContent(), /Triage/);

      // The lane's color is its header's.
      const color = await page.locator(`${tid('lane-11')} header`).evaluate((h) => getComputedStyle(h).borderTopColor);
      assert.equal(color, 'rgb(224, 49, 49)'); // #e03131

      assert.deepEqual(await laneCards(page, 11), [101, 102], 'urgent first');
      assert.deepEqual(await laneCards(page, null), [105]);

      const card = page.locator(tid('card-101'));
      const text = await card.textContent();
      assert.match(text, /Printer on fire/);
      assert.match(text, /Erin Example/);
      assert.match(text, /It is smoking now, please hurry/);
      assert.match(text, /\b3 h\b/, 'age');
      assert.match(text, /\bme\b/, 'assigned to me');
      assert.match(await card.locator('.comments').textContent(), /4/);
      const badge = card.locator(tid('card-priority'));
      assert.equal((await badge.textContent()).trim(), 'Urgent');
      assert.equal(await card.evaluate((e) => e.classList.contains('urgent')), true, 'urgent stands out');
      assert.match(await page.locator(tid('card-102')).textContent(), /unassigned/);
      // The last message stays on one line.
      const last = await card.locator('.last').evaluate((e) => getComputedStyle(e).whiteSpace + '/' + getComputedStyle(e).textOverflow);
      assert.equal(last, 'nowrap/ellipsis');

      assert.equal(shell.callsOf('users').length, 0, 'agents do not list users');
    });
  });

  test('admins see assignee names from users()', async (t) => {
    const shell = new FakeShell({ session: session(ADMIN) });
    await withApp(t, shell, async (page) => {
      await untilText(page.locator(tid('card-104')), /Sam Support/, 'the assignee name of #104');
      assert.match(await page.locator(tid('card-101')).textContent(), /Alex Agent/);
      assert.equal(shell.callsOf('users').length, 1);
    });
  });

  test('the core\'s changes show: upsert, move, remove, lanes, reset', async (t) => {
    const shell = new FakeShell();
    await withApp(t, shell, async (page) => {
      await page.locator(tid('card-101')).waitFor();

      // A new ticket.
      await shell.deltas({ kind: 'ticketUpserted', ...ticket(201, { title: 'Brand new one', laneId: 12, priority: 'urgent' }) });
      await until(async () => (await laneCards(page, 12))[0] === 201, 'ticket 201 first in lane 12');
      assert.equal((await laneCount(page, 12)).trim(), '3');

      // Changed (a new version of) an existing ticket, and moved.
      const moved = { ...sampleBoard().tickets[1], title: 'VPN drops every hour (moved)', laneId: 13, version: 2 };
      await shell.deltas({ kind: 'ticketUpserted', ...moved });
      await until(async () => (await laneCards(page, 13)).includes(102), 'ticket 102 in lane 13');
      assert.deepEqual(await laneCards(page, 11), [101]);
      assert.match(await page.locator(tid('card-102')).textContent(), /\(moved\)/);
      assert.equal((await laneCount(page, 11)).trim(), '1');

      // Removed.
      await shell.deltas({ kind: 'ticketRemoved', id: 101 });
      await until(async () => (await page.locator(tid('card-101')).count()) === 0, 'ticket 101 gone');
      assert.equal((await laneCount(page, 11)).trim(), '0');

      // Lanes: a new one between Triage and In progress; one removed (its cards show in No lane).
      await shell.deltas({ kind: 'laneUpserted', ...lane(15, 'Escalated', '#9c36b5', 0.5) }, { kind: 'laneRemoved', id: 13 });
      await until(async () => JSON.stringify(await laneOrder(page)) === JSON.stringify(['none', '11', '15', '12', '14']), 'lanes none,11,15,12,14');
      assert.deepEqual((await laneCards(page, null)).sort(), [102, 105, 106]);

      // Several deltas in one event are all applied.
      await shell.deltas(
        { kind: 'ticketUpserted', ...ticket(202, { laneId: 15 }) },
        { kind: 'ticketUpserted', ...ticket(203, { laneId: 15 }) },
      );
      await until(async () => (await laneCards(page, 15)).length === 2, 'two cards in lane 15');

      // Several events in one batch (as the shell sends a burst) are all applied, in order: the
      // last version of a ticket wins, and other kinds of events in the batch are not lost.
      await shell.desk(
        { kind: 'board', deltas: [{ kind: 'ticketUpserted', ...ticket(204, { laneId: 11, title: 'First' }) }] },
        { kind: 'urgentCount', count: 7 },
        { kind: 'board', deltas: [{ kind: 'ticketUpserted', ...ticket(204, { laneId: 12, title: 'Then moved', version: 2 }) }] },
        { kind: 'board', deltas: [{ kind: 'ticketUpserted', ...ticket(205, { laneId: 11 }) }] },
      );
      await until(async () => (await laneCards(page, 11)).includes(205), 'ticket 205 (last in the batch) in lane 11');
      assert.ok((await laneCards(page, 12)).includes(204), 'ticket 204 where its last version puts it');
      assert.ok(!(await laneCards(page, 11)).includes(204), 'and not where its first version was');
      assert.match(await page.locator(tid('card-204')).textContent(), /Then moved/);
      assert.match(await page.locator(tid('urgent-count')).textContent(), /7/);

      // A reset replaces everything.
      await shell.deltas({ kind: 'reset', lanes: [lane(21, 'Only lane', '#000000', 0)], tickets: [ticket(301, { laneId: 21 })], seq: 99 });
      await until(async () => JSON.stringify(await laneOrder(page)) === '["none","21"]', 'the reset lanes');
      assert.deepEqual(await laneCards(page, 21), [301]);
      assert.equal(await page.locator('[data-testid^="card-"][data-ticket-id]').count(), 1);

    });
  });

  test('a change while the view is being answered is not lost: the view is asked for again', async (t) => {
    const shell = new FakeShell();
    let release;
    const gate = new Promise((r) => (release = r));
    let changed = false;
    shell.handle('board_view', async (args, s) => {
      // Views asked before the change answer the board as it was then, held back until released.
      const answer = boardView(s.board, s.session?.user.id ?? -1, args.query);
      if (!changed) await gate;
      return answer;
    });
    await withApp(t, shell, async (page) => {
      // Both questions of the start (the sign-in's and the board's own) are out and held.
      await until(() => shell.callsOf('board_view').length >= 2, 'board_view asked twice');
      changed = true;
      await shell.deltas({ kind: 'ticketUpserted', ...ticket(401, { title: 'Arrived early', laneId: 14 }) });
      release();
      await page.locator(tid('card-401')).waitFor();
      assert.deepEqual(await laneCards(page, 14), [401]);
      assert.equal(await page.locator(tid('card-101')).count(), 1);
      assert.ok(shell.callsOf('board_view').length >= 2, 'asked again after the change');
    });
  });

  test('10 000 tickets: every count right, only a bounded number of cards in the DOM', async (t) => {
    const lanes = [lane(1, 'Inbox', '#1971c2', 0), lane(2, 'Doing', '#2f9e44', 1), lane(3, 'Done', '#868e96', 2)];
    const tickets = [];
    const now = Date.now();
    for (let i = 1; i <= 10_000; i++) {
      tickets.push(ticket(i, {
        laneId: i % 4 === 0 ? null : (i % 4),
        title: `Generated ticket ${i}`,
        createdAt: hoursAgo(i / 100, now),
        priority: i === 9_999 ? 'urgent' : 'normal',
      }));
    }
    const shell = new FakeShell({ board: { lanes, tickets, seq: 10_000 } });
    await withApp(t, shell, async (page) => {
      await page.locator(tid('card-9999')).waitFor({ timeout: 15_000 });
      for (const [id, n] of [['none', 2500], [1, 2500], [2, 2500], [3, 2500]]) {
        assert.equal((await laneCount(page, id)).trim(), String(n), `count of lane ${id}`);
      }
      const rendered = await page.locator('[data-testid^="card-"][data-ticket-id]').count();
      assert.ok(rendered > 0 && rendered <= 4 * 40, `only the visible cards are rendered (${rendered})`);

      // Scrolling a lane renders the cards it reaches; the scroll height stands for them all.
      const scroller = page.locator(`${tid('lane-1')} .scroller`);
      const { scrollHeight } = await scroller.evaluate((e) => ({ scrollHeight: e.scrollHeight }));
      assert.ok(scrollHeight > 2500 * 100, `scroll height for 2500 cards (${scrollHeight})`);
      // Lane 1 holds i % 4 == 1, oldest first: 9997 on top, 1 at the bottom.
      assert.equal((await laneCards(page, 1))[0], 9997);
      assert.equal(await page.locator(tid('card-1')).count(), 0, 'the bottom card is not rendered yet');
      await scroller.evaluate((e) => (e.scrollTop = e.scrollHeight));
      await page.locator(`${tid('lane-1')} ${tid('card-1')}`).waitFor();
      assert.equal(await page.locator(tid('card-9997')).count(), 0, 'the top card is no longer rendered');
      const after = await page.locator('[data-testid^="card-"][data-ticket-id]').count();
      assert.ok(after <= 4 * 40, `still bounded after scrolling (${after})`);

      // A change on a 10 000-ticket board shows.
      await shell.deltas({ kind: 'ticketRemoved', id: 9999 });
      await untilText(page.locator(`${tid('lane-3')} ${tid('lane-count')}`), /^\s*2499\s*$/, 'lane 3 count after removal');
      // The page never held the board: each answer carried only the cards the lanes render.
      assert.ok(shell.mostTicketsInAView > 0 && shell.mostTicketsInAView <= 4 * 60, `tickets in one view answer: ${shell.mostTicketsInAView}`);
    });
  });
});
