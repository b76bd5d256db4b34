// Start-up: the shell keeps the window hidden until the UI's first view is in the page, so the UI
// must say so — once, whether it opens on the sign-in form or on the board.

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
      });
    });
  }
});
