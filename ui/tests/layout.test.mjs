// A board that fits: the top bar stays one row of fixed height whatever it shows, and every
// lane can be reached on a narrow window.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import {
  FakeShell, inboxEntry, lane, sampleBoard, ticket, tid, until, useApp,
} from './support.mjs';

const withApp = useApp({ before, after }, { ready: 'card-101' });

/** The top bar's height, the board's top, and what sticks out of the bar (should be nothing). */
function measure(page) {
  return page.evaluate(() => {
    const bar = /** @type {HTMLElement} */ (document.querySelector('.topbar'));
    const board = /** @type {HTMLElement} */ (document.querySelector('[data-testid="board"]'));
    const b = bar.getBoundingClientRect();
    const out = [];
    for (const el of bar.querySelectorAll('*')) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) continue;
      // Popups are not part of the bar's row (none is open here anyway).
      if (el.closest('[role="menu"], [role="dialog"]')) continue;
      if (r.left < b.left - 0.5 || r.right > b.right + 0.5 || r.top < b.top - 0.5 || r.bottom > b.bottom + 0.5) {
        out.push(`${el.tagName.toLowerCase()}.${[...el.classList].join('.')} [${Math.round(r.left)}..${Math.round(r.right)} x ${Math.round(r.top)}..${Math.round(r.bottom)}]`);
      }
    }
    // Siblings that overlap each other horizontally (squeezed into one another).
    const kids = [...bar.querySelectorAll(':scope > *, :scope > .right > *, :scope > .filters > *')]
      .filter((el) => el.getBoundingClientRect().width > 1 && !el.classList.contains('right') && !el.classList.contains('filters') && !el.classList.contains('visually-hidden'));
    const boxes = kids.map((el) => ({ el: el.className || el.tagName, r: el.getBoundingClientRect() })).sort((x, y) => x.r.left - y.r.left);
    for (let i = 1; i < boxes.length; i++) {
      if (boxes[i].r.left < boxes[i - 1].r.right - 0.5) out.push(`overlap: ${boxes[i - 1].el} / ${boxes[i].el}`);
    }
    return { height: b.height, boardTop: Math.round(board.getBoundingClientRect().top), out, overflow: bar.scrollWidth > bar.clientWidth };
  });
}

for (const viewport of [{ width: 1024, height: 700 }, { width: 1440, height: 900 }]) {
  describe(`top bar at ${viewport.width} x ${viewport.height}`, () => {
    test('one row of the same height in every state; the board never moves', async (t) => {
      const shell = new FakeShell();
      await withApp(t, shell, async (page) => {
        await until(async () => (await page.locator(tid('connection-pill')).getAttribute('data-state')) === 'live', 'live');
        const plain = await measure(page);
        assert.deepEqual(plain.out, [], 'nothing sticks out in the plain state');

        // Everything at once: urgent badge, "these tickets", a filter and a search (Clear), the
        // reconnect countdown with Retry now, Do not disturb, unread alerts.
        await shell.desk({ kind: 'urgentCount', count: 12 });
        await shell.emit('deskbell://open-tickets', [101, 102]);
        await page.locator(tid('filter-priority')).selectOption('unacknowledged');
        await page.locator(tid('search')).fill('printer on fire');
        await shell.state({ state: 'connecting', attempt: 3, retryAt: new Date(Date.now() + 60_000).toISOString() });
        await shell.emit('deskbell://settings', { ...shell.settings, alerts: { ...shell.settings.alerts, doNotDisturb: true } });
        await shell.emit('deskbell://inbox', Array.from({ length: 12 }, (_, i) => inboxEntry(i + 1, 101, { awaitingAck: true })));
        for (const id of ['urgent-count', 'filter-only', 'filter-clear', 'retry-now', 'dnd-state', 'inbox-unread']) {
          await page.locator(tid(id)).waitFor();
        }
        let full = await measure(page);
        assert.deepEqual(full.out, [], 'nothing sticks out or overlaps with everything shown');
        assert.equal(full.overflow, false, 'no overflow');
        assert.equal(full.height, plain.height, 'same height');
        assert.equal(full.boardTop, plain.boardTop, 'the board did not move');

        // Quiet hours instead of Do not disturb (they never show together).
        const d = new Date();
        const nowMinute = d.getHours() * 60 + d.getMinutes();
        const quietHours = { enabled: true, startMinute: (nowMinute + 1380) % 1440, endMinute: (nowMinute + 60) % 1440 };
        await shell.emit('deskbell://settings', { ...shell.settings, alerts: { ...shell.settings.alerts, doNotDisturb: false, quietHours } });
        await page.locator(tid('quiet-state')).waitFor();
        full = await measure(page);
        assert.deepEqual(full.out, [], 'nothing sticks out with quiet hours');
        assert.equal(full.height, plain.height, 'same height with quiet hours');
        assert.equal(full.boardTop, plain.boardTop, 'the board did not move with quiet hours');
      }, { viewport });
    });
  });
}

describe('lanes on a narrow window', () => {
  test('at 1024 x 700 with 6 lanes the scroll buttons bring the last lane into view', async (t) => {
    const board = sampleBoard();
    board.lanes.push(lane(15, 'Escalated', '#9c36b5', 4), lane(16, 'Archive', '#868e96', 5));
    board.tickets.push(ticket(150, { title: 'In the last lane', laneId: 16 }));
    const shell = new FakeShell({ board });
    await withApp(t, shell, async (page) => {
      const last = page.locator(tid('lane-16'));
      const inView = () => last.evaluate((el) => {
        const r = el.getBoundingClientRect();
        const b = /** @type {HTMLElement} */ (document.querySelector('[data-testid="board"]')).getBoundingClientRect();
        return r.left >= b.left - 1 && r.right <= b.right + 1;
      });
      assert.equal(await inView(), false, 'the last lane starts out of view');
      assert.equal(await page.locator(tid('board-scroll-left')).count(), 0, 'nothing to the left yet');
      const right = page.locator(tid('board-scroll-right'));
      await right.waitFor();
      assert.equal(await right.getAttribute('aria-label'), 'Scroll to the next lanes');
      // Click until there is nothing more to the right (the button goes).
      await until(async () => {
        if ((await right.count()) === 0) return true;
        await right.click({ timeout: 1000 }).catch(() => {});
        return false;
      }, 'no more to the right: the button goes');
      await until(inView, 'the last lane in view');
      // And back: the left button goes when the first lane is in view again. (The styled
      // scrollbar cannot be checked here: headless Chromium hides scrollbars.)
      const left = page.locator(tid('board-scroll-left'));
      await until(async () => {
        if ((await left.count()) === 0) return true;
        await left.click({ timeout: 1000 }).catch(() => {});
        return false;
      }, 'back at the start: the left button goes');
      assert.equal(await page.locator(tid('board')).evaluate((el) => el.scrollLeft), 0);
    }, { viewport: { width: 1024, height: 700 } });
  });
});
