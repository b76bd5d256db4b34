// Around the board: search by contact, the urgent badge as a filter, keyboard (lanes, the
// shortcut sheet, the quick switcher).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import {
  FakeShell, laneCards, tid, until, untilText, useApp,
} from './support.mjs';

const withApp = useApp({ before, after });

const drawer = (page, id) => page.locator(`${tid('ticket-drawer')}[data-ticket-id="${id}"]`);
const focused = (page) => page.evaluate(() => document.activeElement?.getAttribute('data-testid') ?? document.activeElement?.tagName ?? null);

describe('board helpers', () => {
  test('search matches the requester\'s contact too', async (t) => {
    const shell = new FakeShell();
    await withApp(t, shell, async (page) => {
      await page.locator(tid('card-101')).waitFor();
      await page.locator(tid('search')).fill('VICTOR@example');
      await until(async () => JSON.stringify(await page.$$eval('[data-ticket-id][data-testid^="card-"]', (els) => els.map((e) => e.getAttribute('data-ticket-id')))) === '["102"]', 'only #102 (victor@example.test)');
    });
  });

  test('the urgent badge applies the "Unacknowledged urgent" filter, and a second click removes it', async (t) => {
    const shell = new FakeShell();
    shell.urgent = 1;
    await withApp(t, shell, async (page) => {
      const badge = page.locator(tid('urgent-count'));
      await badge.waitFor();
      assert.equal(await badge.evaluate((e) => e.tagName), 'BUTTON');
      assert.equal(await badge.getAttribute('aria-pressed'), 'false');
      await badge.click();
      await until(async () => (await page.locator(tid('filter-priority')).inputValue()) === 'unacknowledged', 'the filter applied');
      await until(async () => (await page.locator('[data-ticket-id][data-testid^="card-"]').count()) === 1, 'only #101');
      assert.equal(await badge.getAttribute('aria-pressed'), 'true');
      await badge.click();
      await until(async () => (await page.locator(tid('filter-priority')).inputValue()) === 'any', 'back to any priority');
    });
  });
});

describe('keyboard', () => {
  test('Ctrl+←/→ and [ / ] go from lane to lane; Alt+→ still moves the card', async (t) => {
    const shell = new FakeShell();
    await withApp(t, shell, async (page) => {
      await page.locator(tid('card-101')).focus();
      await page.keyboard.press(']');
      await until(async () => (await focused(page)) === 'card-104', 'the first card of In progress');
      await page.keyboard.press('Control+ArrowRight');
      await until(async () => (await focused(page)) === 'card-106', 'Waiting');
      await page.keyboard.press('Control+ArrowRight');
      // Done is empty: its collapse button.
      await until(() => page.evaluate(() => document.activeElement?.closest('[data-lane-id]')?.getAttribute('data-lane-id') === '14' && document.activeElement?.getAttribute('data-testid') === 'lane-collapse'), 'the empty lane\'s button');
      await page.keyboard.press('[');
      await until(async () => (await focused(page)) === 'card-106', 'back to Waiting');
      await page.keyboard.press('Control+ArrowLeft');
      await page.keyboard.press('Control+ArrowLeft');
      await page.keyboard.press('Control+ArrowLeft');
      await until(async () => (await focused(page)) === 'card-105', 'No lane');
      await page.keyboard.press('Control+ArrowLeft');
      await untilText(page.locator(tid('announcer')), /Already in the first lane/, 'the first lane');

      // The card's own keys are unchanged.
      await page.locator(tid('card-101')).focus();
      await page.keyboard.press('Alt+ArrowRight');
      await until(() => shell.callsOf('move_ticket').length === 1, 'moved');
      assert.deepEqual(shell.callsOf('move_ticket')[0].args, { ticketId: 101, laneId: 12 });
      await until(async () => (await laneCards(page, 12)).includes(101), 'in In progress');
    });
  });

  test('"?" opens the sheet of every shortcut', async (t) => {
    const shell = new FakeShell();
    await withApp(t, shell, async (page) => {
      await page.locator(tid('card-101')).focus();
      await page.keyboard.press('?');
      const sheet = page.locator(tid('shortcuts'));
      await until(() => sheet.evaluate((d) => d.open), 'the sheet open');
      const rows = (await sheet.locator(tid('shortcut')).allTextContents()).map((r) => r.replace(/\s+/g, ' ').trim());
      for (const want of [/^\?/, /Ctrl\+K/, /^\//, /Ctrl\+F/, /Enter/, /M Move/, /Alt\+←/, /Alt\+→/, /Ctrl\+←/, /Ctrl\+→/, /\[/, /\]/, /Shift\+F10/, /1 – 9/]) {
        assert.ok(rows.some((r) => want.test(r)), `${want} listed in ${JSON.stringify(rows)}`);
      }
      await page.keyboard.press('Escape');
      await until(async () => !(await sheet.evaluate((d) => d.open)), 'closed');
      // Not while typing.
      await page.locator(tid('search')).focus();
      await page.keyboard.press('?');
      assert.equal(await page.locator(tid('search')).inputValue(), '?');
      assert.equal(await sheet.evaluate((d) => d.open), false);
    });
  });

  test('Ctrl+K jumps to a ticket by number or title and opens it like a click', async (t) => {
    const shell = new FakeShell();
    await withApp(t, shell, async (page) => {
      await page.locator(tid('card-101')).waitFor();
      await page.keyboard.press('Control+k');
      const input = page.locator(tid('quick-switcher-input'));
      await until(async () => (await focused(page)) === 'quick-switcher-input', 'the switcher focused');
      await input.fill('monitor');
      await until(async () => JSON.stringify(await page.locator(tid('quick-switcher-result')).evaluateAll((els) => els.map((e) => e.getAttribute('data-ticket-id')))) === '["106"]', '#106 by title');
      await page.keyboard.press('Enter');
      await drawer(page, 106).waitFor();
      assert.ok(shell.callsOf('mark_read').some((c) => c.args.ticketId === 106), 'opened as a click opens (read)');
      await page.locator(tid('drawer-close')).click();
      await until(async () => (await focused(page)) === 'card-106', 'closing the drawer returns to the card');

      await page.keyboard.press('Control+k');
      await input.fill('#104');
      await until(async () => (await page.locator(tid('quick-switcher-result')).first().getAttribute('data-ticket-id')) === '104', '#104 first');
      await page.keyboard.press('Enter');
      await drawer(page, 104).waitFor();
      await page.locator(tid('drawer-close')).click();

      await page.keyboard.press('Control+k');
      await input.fill('nothing like this');
      await untilText(page.locator(`${tid('quick-switcher')} [role="status"]`), /No ticket matches/, 'no match');
      await page.keyboard.press('Escape');
      await until(async () => !(await page.locator(tid('quick-switcher')).evaluate((d) => d.open)), 'closed');
    });
  });
});
