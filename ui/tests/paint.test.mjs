// No white flash before the first paint: index.html paints the theme's background itself.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

import {
  FakeShell, useApp,
} from './support.mjs';

const withApp = useApp({ before, after });

describe('first paint', () => {
  test('index.html paints the theme\'s background before any script (light and dark)', async (t) => {
    const html = await readFile(fileURLToPath(new URL('../index.html', import.meta.url)), 'utf8');
    // Without its scripts: what the window shows before they load.
    const bare = html.replace(/<script[\s\S]*?<\/script>/g, '');
    for (const [colorScheme, want] of [['light', 'rgb(243, 244, 247)'], ['dark', 'rgb(20, 23, 29)']]) {
      await withApp(t, new FakeShell(), async (page) => {
        await page.emulateMedia({ colorScheme: /** @type {'light' | 'dark'} */ (colorScheme) });
        await page.setContent(bare);
        const bg = await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
        assert.equal(bg, want, `${colorScheme} background`);
      });
    }
  });
});
