// The board's view: hide closed (on by default), compact cards, collapsed lanes, per-lane sort,
// all remembered across restarts (localStorage, one versioned key; junk ignored).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import {
  FakeShell, SHELL_EVENTS, hoursAgo, laneCards, sampleBoard, ticket, tid, until, untilText, useApp,
} from './support.mjs';

const withApp = useApp({ before, after }, { ready: 'card-101' });

/** The sample board, with two closed tickets in Triage and one in Done. */
function boardWithClosed() {
  const board = sampleBoard();
  board.tickets.push(
    ticket(120, { title: 'Closed long ago', status: 'closed', laneId: 11 }),
    ticket(121, { title: 'Also closed', status: 'closed', laneId: 11 }),
    ticket(122, { title: 'Done and closed', status: 'closed', laneId: 14 }),
  );
  return board;
}

function count(page, laneId) {
  return page.locator(`${tid(`lane-${laneId}`)} ${tid('lane-count')}`).textContent().then((t) => (t ?? '').replace(/\s/g, ''));
}

/** Reloads the page (same browser context: same localStorage, same fake shell). */
async function reload(page) {
  await page.reload();
  await until(
    () => page.evaluate((names) => names.every((n) => (window.__deskbellHarness?.listening() ?? []).includes(n)), SHELL_EVENTS),
    'the app listening again',
  );
  await page.locator(`${tid('board')}[aria-busy="false"]`).waitFor();
}

async function openView(page) {
  const button = page.locator(tid('view-menu'));
  if ((await button.getAttribute('aria-expanded')) !== 'true') await button.click();
  await page.locator(tid('view-hide-closed')).waitFor();
}

describe('view', () => {
  test('closed tickets are hidden by default; counts say what is shown; the hint and the menu turn them back on', async (t) => {
    const shell = new FakeShell({ board: boardWithClosed() });
    await withApp(t, shell, async (page) => {
      assert.deepEqual(await laneCards(page, 11), [101, 102]);
      assert.equal(await count(page, 11), '2');
      assert.match(await page.locator(`${tid('lane-11')} ${tid('lane-count')}`).getAttribute('aria-label') ?? '', /2 tickets \(2 closed hidden\)/);
      await untilText(page.locator(`${tid('lane-11')} ${tid('lane-closed-hidden')}`), /2 closed hidden/, 'the lane says so');
      await untilText(page.locator(`${tid('lane-14')} ${tid('lane-closed-hidden')}`), /1 closed hidden/, 'the Done lane too');

      await openView(page);
      const hide = page.locator(tid('view-hide-closed'));
      assert.equal(await hide.getAttribute('aria-checked'), 'true');
      assert.match(await hide.textContent(), /3 hidden/);
      await hide.click();
      await until(async () => (await laneCards(page, 11)).length === 4, 'closed tickets shown');
      assert.equal(await count(page, 11), '4');
      assert.equal(await page.locator(tid('lane-closed-hidden')).count(), 0);

      // Back on, then off again from a lane's hint.
      await openView(page);
      await page.locator(tid('view-hide-closed')).click();
      await until(async () => (await laneCards(page, 11)).length === 2, 'hidden again');
      await page.keyboard.press('Escape');
      await page.locator(`${tid('lane-14')} ${tid('lane-closed-hidden')} button`).click();
      await until(async () => (await laneCards(page, 14)).includes(122), 'shown from the hint');
    });
  });

  test('compact cards: two short lines (number, title, priority, initials)', async (t) => {
    const shell = new FakeShell();
    await withApp(t, shell, async (page) => {
      const card = page.locator(tid('card-101'));
      const tall = (await card.boundingBox())?.height ?? 0;
      await openView(page);
      await page.locator(tid('view-density-compact')).click();
      await until(async () => ((await card.boundingBox())?.height ?? 999) < tall / 1.8, 'a much shorter card');
      assert.equal(await page.locator(tid('view-density-compact')).getAttribute('aria-checked'), 'true');
      const text = (await card.textContent()) ?? '';
      assert.match(text, /#101/);
      assert.match(text, /Printer on fire/);
      assert.match(text, /Urgent/);
      assert.equal((await card.locator(tid('card-assignee')).textContent())?.trim(), 'M', 'initials ("Me")');
      assert.doesNotMatch(text, /It is smoking now/, 'no last message');
      await page.locator(tid('view-density-comfortable')).click();
      await until(async () => Math.abs(((await card.boundingBox())?.height ?? 0) - tall) < 1, 'comfortable again');
    });
  });

  test('a lane collapses to a strip with its name and count, and expands again (keyboard too)', async (t) => {
    const shell = new FakeShell();
    await withApp(t, shell, async (page) => {
      const laneEl = page.locator(tid('lane-11'));
      const button = laneEl.locator(tid('lane-collapse'));
      assert.equal(await button.getAttribute('aria-expanded'), 'true');
      const wide = (await laneEl.boundingBox())?.width ?? 0;
      await button.click();
      await until(async () => (await button.getAttribute('aria-expanded')) === 'false', 'collapsed');
      const narrow = (await laneEl.boundingBox())?.width ?? 999;
      assert.ok(narrow < 60 && narrow < wide / 4, `a narrow strip (${narrow} px)`);
      assert.equal(await laneEl.locator('[data-ticket-id]').count(), 0, 'no cards in the strip');
      assert.match(await laneEl.locator('.strip').textContent() ?? '', /Triage/);
      assert.equal(await laneEl.locator('.strip').evaluate((e) => getComputedStyle(e).writingMode), 'vertical-rl');
      assert.equal(await count(page, 11), '2');
      assert.match(await button.getAttribute('aria-label') ?? '', /Expand Triage/);
      // Keyboard: the button is a button (Enter / Space).
      await button.focus();
      await page.keyboard.press('Enter');
      await until(async () => (await button.getAttribute('aria-expanded')) === 'true', 'expanded');
      await page.locator(`${tid('lane-11')} ${tid('card-101')}`).waitFor();
    });
  });

  test('each lane sorts by priority, last update or age', async (t) => {
    const board = sampleBoard();
    board.tickets.push(
      ticket(130, { laneId: 13, priority: 'low', createdAt: hoursAgo(50), updatedAt: hoursAgo(0.1) }),
      ticket(131, { laneId: 13, priority: 'urgent', createdAt: hoursAgo(2), updatedAt: hoursAgo(5) }),
      ticket(132, { laneId: 13, priority: 'urgent', createdAt: hoursAgo(1), updatedAt: hoursAgo(0.5) }),
    );
    const shell = new FakeShell({ board });
    await withApp(t, shell, async (page) => {
      // 106: high, 1 h old, updated 1 h ago.
      assert.deepEqual(await laneCards(page, 13), [131, 132, 106, 130], 'default: urgent first, then oldest');
      const sortBy = async (what) => {
        await page.locator(`${tid('lane-13')} ${tid('lane-sort')}`).click();
        await page.locator(`${tid('lane-13')} ${tid(`lane-sort-${what}`)}`).click();
      };
      await sortBy('priority');
      await until(async () => JSON.stringify(await laneCards(page, 13)) === '[132,131,106,130]', 'priority, then newest update');
      await sortBy('updated');
      await until(async () => JSON.stringify(await laneCards(page, 13)) === '[130,132,106,131]', 'newest update first');
      await sortBy('age');
      await until(async () => JSON.stringify(await laneCards(page, 13)) === '[130,131,106,132]', 'oldest first');
      assert.deepEqual(await laneCards(page, 11), [101, 102], 'other lanes keep their order');
      // The menu by keyboard: it opens on the current choice; Escape gives the focus back.
      await page.locator(`${tid('lane-13')} ${tid('lane-sort')}`).click();
      await until(() => page.evaluate(() => document.activeElement?.getAttribute('data-testid') === 'lane-sort-age'), 'the current choice focused');
      await page.keyboard.press('ArrowDown');
      await page.keyboard.press('Escape');
      await until(() => page.evaluate(() => document.activeElement?.getAttribute('data-testid') === 'lane-sort'), 'focus back on the button');
    });
  });

  test('the view is remembered across restarts; junk in storage is ignored', async (t) => {
    const shell = new FakeShell({ board: boardWithClosed() });
    await withApp(t, shell, async (page) => {
      await page.locator(tid('filter-mine')).click();
      await page.locator(tid('filter-priority')).selectOption('urgent');
      await openView(page);
      await page.locator(tid('view-hide-closed')).click();
      await openView(page);
      await page.locator(tid('view-density-compact')).click();
      await page.locator(`${tid('lane-12')} ${tid('lane-collapse')}`).click();
      await page.locator(`${tid('lane-13')} ${tid('lane-sort')}`).click();
      await page.locator(`${tid('lane-13')} ${tid('lane-sort-age')}`).click();
      await until(() => page.evaluate(() => JSON.parse(localStorage.getItem('deskbell.view.v1') ?? '{}').sorts?.['13'] === 'age'), 'saved');

      await reload(page);
      assert.equal(await page.locator(tid('filter-mine')).getAttribute('aria-checked'), 'true', 'scope');
      assert.equal(await page.locator(tid('filter-priority')).inputValue(), 'urgent', 'priority');
      await openView(page);
      assert.equal(await page.locator(tid('view-hide-closed')).getAttribute('aria-checked'), 'false', 'hide closed');
      assert.equal(await page.locator(tid('view-density-compact')).getAttribute('aria-checked'), 'true', 'density');
      await page.keyboard.press('Escape');
      assert.equal(await page.locator(`${tid('lane-12')} ${tid('lane-collapse')}`).getAttribute('aria-expanded'), 'false', 'collapsed lane');
      assert.match(await page.locator(`${tid('lane-13')} ${tid('lane-sort')}`).getAttribute('title') ?? '', /Age/, 'lane sort');
      assert.equal(await page.locator(tid('search')).inputValue(), '', 'the search is not part of the view');

      // Junk: defaults, and the app works.
      for (const junk of ['{not json', '"a string"', '[1,2]', JSON.stringify({ version: 99, scope: 'mine' }),
        JSON.stringify({ version: 1, scope: 'everything', priority: 7, hideClosed: 'yes', density: 'tiny', collapsed: 'all', sorts: { 11: 'random', x: 'age' } })]) {
        await page.evaluate((j) => localStorage.setItem('deskbell.view.v1', j), junk);
        await reload(page);
        assert.equal(await page.locator(tid('filter-all')).getAttribute('aria-checked'), 'true', `default scope with ${junk}`);
        assert.equal(await page.locator(tid('filter-priority')).inputValue(), 'any');
        assert.equal(await page.locator(tid('card-120')).count(), 0, 'closed hidden (default)');
        assert.equal(await page.locator(`${tid('lane-12')} ${tid('lane-collapse')}`).getAttribute('aria-expanded'), 'true');
        assert.deepEqual(await laneCards(page, 11), [101, 102]);
      }
      // A partly good view keeps what is good.
      await page.evaluate(() => localStorage.setItem('deskbell.view.v1', JSON.stringify({ version: 1, scope: 'queue', density: 'huge', collapsed: ['14', 7] })));
      await reload(page);
      assert.equal(await page.locator(tid('filter-queue')).getAttribute('aria-checked'), 'true');
      assert.equal(await page.locator(`${tid('lane-14')} ${tid('lane-collapse')}`).getAttribute('aria-expanded'), 'false');
    });
  });
});
