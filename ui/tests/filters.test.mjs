// Filters (mine / queue / all, priority) and search.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import {
  ADMIN, FakeShell, session, tid, until, useApp,
} from './support.mjs';

const withApp = useApp({ before, after }, { ready: 'card-101' });

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

describe('filters and search', () => {
  test('agent: Mine + queue / Mine / Queue (no company-wide "All")', async (t) => {
    const shell = new FakeShell();
    await withApp(t, shell, async (page) => {
      const scopes = await page.locator('[role="radiogroup"] [role="radio"]').allTextContents();
      assert.deepEqual(scopes.map((s) => s.trim()), ['Mine + queue', 'Mine', 'Queue']);
      await untilShown(page, [101, 102, 103, 104, 105, 106], 'everything visible');

      await page.locator(tid('filter-mine')).click();
      await untilShown(page, [101, 103, 106], 'mine');
      assert.equal(await page.locator(tid('filter-mine')).getAttribute('aria-checked'), 'true');
      // Filtered counts say "shown / total".
      assert.equal((await page.locator(`${tid('lane-11')} ${tid('lane-count')}`).textContent()).replace(/\s/g, ''), '1/2');

      await page.locator(tid('filter-queue')).click();
      await untilShown(page, [102, 105], 'queue');

      // Arrow keys move within the radio group.
      await page.locator(tid('filter-queue')).focus();
      await page.keyboard.press('ArrowLeft');
      await untilShown(page, [101, 103, 106], 'mine again (keyboard)');

      await page.locator(tid('filter-all')).click();
      await untilShown(page, [101, 102, 103, 104, 105, 106], 'all again');
    });
  });

  test('admin: All / Mine / Queue', async (t) => {
    const shell = new FakeShell({ session: session(ADMIN) });
    await withApp(t, shell, async (page) => {
      const scopes = await page.locator('[role="radiogroup"] [role="radio"]').allTextContents();
      assert.deepEqual(scopes.map((s) => s.trim()), ['All', 'Mine', 'Queue']);
      await page.locator(tid('filter-mine')).click();
      await untilShown(page, [], 'nothing is assigned to the admin');
      await page.locator(tid('filter-queue')).click();
      await untilShown(page, [102, 105], 'queue');
    });
  });

  test('priority filter and search (title, requester, last message, #id), combined', async (t) => {
    const shell = new FakeShell();
    await withApp(t, shell, async (page) => {
      await page.locator(tid('filter-priority')).selectOption('high');
      await untilShown(page, [102, 106], 'high priority');
      await page.locator(tid('filter-priority')).selectOption('any');
      await untilShown(page, [101, 102, 103, 104, 105, 106], 'any priority');

      const search = page.locator(tid('search'));
      await search.fill('printer');
      await untilShown(page, [101], 'title match');
      await search.fill('KOWALSKI');
      await untilShown(page, [103], 'requester match (case-insensitive)');
      await search.fill('locked out');
      await untilShown(page, [104], 'last message match');
      await search.fill('#105');
      await untilShown(page, [105], 'ticket number');
      await search.fill('flicker');
      await page.locator(tid('filter-priority')).selectOption('low');
      await untilShown(page, [], 'search + priority');
      assert.match(await page.locator(tid('lane-13')).textContent(), /No matching tickets/);

      await page.locator(tid('filter-clear')).click();
      await untilShown(page, [101, 102, 103, 104, 105, 106], 'cleared');
      assert.equal(await search.inputValue(), '');

      // "/" focuses the search box.
      await page.locator('body').click({ position: { x: 5, y: 880 } });
      await page.keyboard.press('/');
      await until(() => page.evaluate(() => document.activeElement?.getAttribute('data-testid') === 'search'), 'search focused');
    });
  });
});
