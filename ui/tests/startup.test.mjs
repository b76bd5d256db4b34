// Start-up: the shell keeps the window hidden until the UI's first view is in the page, so the UI
// must say so — once, whether it opens on the sign-in form or on the board — with that view's
// skeleton (drawn by the shell until the page paints), then say when the page has painted.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { FakeShell, tid, until, useApp } from './support.mjs';

const withApp = useApp({ before, after });

describe('start-up', () => {
  /** @type {{ what: string, shell: () => FakeShell, ready: string }[]} */
  const cases = [
    { what: 'the sign-in form', shell: () => new FakeShell({ session: null }), ready: 'login' },
    { what: 'the board', shell: () => new FakeShell(), ready: 'card-101' },
  ];
  for (const { what, shell, ready } of cases) {
    test(`the UI tells the shell it is ready (${what})`, async (t) => {
      const s = shell();
      await withApp(t, s, async (page) => {
        await page.locator(tid(ready)).waitFor();
        await until(() => s.callsOf('window_ready').length === 1, 'window_ready called');
        // Once only: later renders do not call it again.
        await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
        assert.equal(s.callsOf('window_ready').length, 1);

        // The skeleton: the page's background and its main boxes where the page has them.
        const { skeleton } = s.callsOf('window_ready')[0].args;
        const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
        assert.equal(`rgb(${skeleton.background.r}, ${skeleton.background.g}, ${skeleton.background.b})`, bg);
        const want = await page.evaluate(() => [...document.querySelectorAll('[data-skeleton]')].map((el) => {
          const r = el.getBoundingClientRect();
          return { x: r.x, y: r.y, width: r.width, height: r.height, color: getComputedStyle(el).backgroundColor };
        }));
        assert.ok(skeleton.boxes.length > 0, 'boxes in the skeleton');
        assert.deepEqual(
          skeleton.boxes.map((b) => ({ x: b.x, y: b.y, width: b.width, height: b.height, color: `rgb(${b.color.r}, ${b.color.g}, ${b.color.b})` })),
          want.slice(0, skeleton.boxes.length),
        );
        assert.notDeepEqual(skeleton.boxes[0].color, skeleton.background, 'a box stands out from the background');
        await until(() => s.callsOf('window_painted').length === 1, 'window_painted called');
      });
    });
  }
});
