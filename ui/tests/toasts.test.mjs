// Messages (toasts) show above dialogs and their backdrop.

import { after, before, describe, test } from 'node:test';
import { inflateSync } from 'node:zlib';

import {
  FakeShell, tid, until, useApp,
} from './support.mjs';

const withApp = useApp({ before, after });

const drawer = (page, id) => page.locator(`${tid('ticket-drawer')}[data-ticket-id="${id}"]`);

/**
 * The colour painted at one point of the page, [r, g, b] (a 1x1 screenshot, decoded: with a
 * single pixel every PNG filter leaves the bytes as they are).
 * @param {import('playwright-core').Page} page @param {number} x @param {number} y
 */
async function pixel(page, x, y) {
  const png = await page.screenshot({ clip: { x, y, width: 1, height: 1 } });
  const chunks = [];
  let colorType = 6;
  for (let i = 8; i < png.length;) {
    const len = png.readUInt32BE(i);
    const type = png.toString('ascii', i + 4, i + 8);
    if (type === 'IHDR') colorType = png[i + 8 + 9];
    if (type === 'IDAT') chunks.push(png.subarray(i + 8, i + 8 + len));
    i += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(chunks));
  void colorType;
  return [raw[1], raw[2], raw[3]];
}

/**
 * Whether the first toast is painted above everything (a dialog's backdrop dims what is under
 * it): the colour just inside its left edge is its own background. (Hit-testing cannot tell: a
 * modal dialog makes the rest of the page inert.)
 */
async function toastOnTop(page) {
  const toast = page.locator(tid('toast')).first();
  const box = await toast.boundingBox({ timeout: 500 });
  if (!box) return false;
  const want = (await toast.evaluate((e) => getComputedStyle(e).backgroundColor)).match(/\d+/g)?.map(Number) ?? [];
  const got = await pixel(page, Math.round(box.x + 5), Math.round(box.y + box.height / 2));
  return got.every((v, i) => Math.abs(v - (want[i] ?? -99)) <= 3);
}

describe('messages and dialogs', () => {
  test('a toast shows above the open drawer and its backdrop, whichever came first', async (t) => {
    const shell = new FakeShell();
    await withApp(t, shell, async (page) => {
      await page.locator(tid('card-101')).click();
      await drawer(page, 101).waitFor();
      // An error toast (it stays 8 s).
      await shell.desk({ kind: 'alertActionFailed', ticketIds: [101], action: 'acknowledge', code: 'network', message: 'offline' });
      await page.locator(tid('toast')).waitFor();
      await until(() => toastOnTop(page), 'the toast above the drawer\'s backdrop');

      // A toast first, then a dialog: the toast is raised again.
      await page.locator(tid('drawer-close')).click();
      await until(async () => (await page.locator('dialog[open]').count()) === 0, 'drawer closed');
      await page.locator(tid('card-102')).click();
      await drawer(page, 102).waitFor();
      await until(() => toastOnTop(page), 'still above a dialog opened after it');
    });
  });
});
